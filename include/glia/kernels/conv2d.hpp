// glia/kernels/conv2d.hpp: 2-D convolution (cross-correlation, as in PyTorch) by im2col + GEMM.
//
// Shapes (all row-major, NCHW):
//   x  [N, Cin, H, W]        w  [Cout, Cin, kh, kw] == row-major matrix [Cout, K], K = Cin*kh*kw
//   b  [Cout] (optional)     y  [N, Cout, Ho, Wo]  (Ho, Wo as in im2col.hpp; P = Ho*Wo)
// Forward, per sample n:      Y_n[Cout, P] = W[Cout, K] * col(x_n)[K, P] + b 1^T
// Backward, given dY:         dW += sum_n dY_n * col(x_n)^T       db += sum_n dY_n 1
//                             dx_n = col2im(W^T * dY_n)            (overwritten, not accumulated)
// A 1x1, stride-1, unpadded convolution skips im2col: x_n already is col(x_n) (K = Cin, P = HW).
//
// The input gradient of a stride-1 square kernel (pad <= k-1) is itself a stride-1 convolution,
// so for layers wide and large enough (input_grad_by_flipped_kernel) it is computed like the
// forward pass instead of with col2im:
//   dx[c, h, w] = sum_{o,i,j} W[o, c, i, j] dY[o, h + pad - i, w + pad - j]
//               = sum_{o,i,j} Wf[c, o, i, j] dY[o, h - pad' + i, w - pad' + j]
// with the flipped, transposed kernel Wf[c, o, i, j] = W[o, c, k-1-i, k-1-j] and pad' = k-1-pad:
//   dx_n[Cin, HW] = Wf[Cin, Cout*k*k] * col'(dY_n)[Cout*k*k, HW],  col' = im2col of dY_n with pad'.
// Its GEMM has depth Cout*k*k (288 for 32 channels) instead of Cout (32), which Eigen's kernel
// runs near its peak, and there is no scatter-add.
//
// 3x3, stride-1, padding-1 layers (every 3x3 layer of the reference network) skip im2col where
// a direct kernel applies; the im2col + GEMM path stays the general one, and tests compare
// every path with conv2d_forward_naive / conv2d_backward_naive:
//   forward and input gradient: the row kernel (conv3x3_direct.hpp) when W is a multiple of the
//     packet size, else the channels-in-lanes kernel (conv3x3_lanes.hpp) when Cout (forward)
//     or Cin (input gradient) is;
//   weight gradient: the channels-in-lanes kernel when Cout is a multiple of the packet size;
//     its per-chunk partials are then dW^T [K, Cout], transposed in the final reduction.
//
// Sample by sample: conv2d_forward is conv2d_forward_begin, then conv2d_forward_sample(n) for
// each n, and conv2d_backward calls before_sample(n) before it reads sample n of dy, on the
// thread that works on that sample; a layer fused with the convolution (nn/conv_norm.hpp) does
// its per-sample work right after (forward) or before (backward), on data still in cache.
//
// Threads: the batch is split over threads; each thread has its own col scratch in the
// workspace. dW and db are summed into one partial per chunk of the batch (chunk boundaries
// depend on N only) and the partials are added in chunk order, so results do not depend on the
// thread count. The workspace grows on first use and is reused: no allocation after that.
#pragma once

#include "glia/kernels/conv3x3_direct.hpp"
#include "glia/kernels/conv3x3_lanes.hpp"
#include "glia/kernels/im2col.hpp"
#include "glia/kernels/parallel.hpp"
#include "glia/tensor/tensor.hpp"

namespace glia {

struct Conv2dGeometry {
  Index batch;
  PatchGeometry patch;  // input channels, H, W, kernel, stride, pad
  Index out_channels;
  Index k() const { return patch.col_rows(); }
  Index p() const { return patch.col_cols(); }
  Index in_size() const { return patch.channels * patch.height * patch.width; }
  Index out_size() const { return out_channels * p(); }
  bool is_pointwise() const {
    return patch.kernel_h == 1 && patch.kernel_w == 1 && patch.stride == 1 && patch.pad == 0;
  }
  // Whether the input gradient is computed as a flipped-kernel convolution (see above). Its
  // product has only Cin rows and HW columns, so it pays only when both are not small: measured
  // at batch 32 (bench_kernels BM_conv_bwd, old vs new in one run), 16->16 at 32x32 took 17%
  // less time, 32->32 at 16x16 3% less, but 8->32 at 16x16 and 32->32 at 8x8 took 50% and 15%
  // more than W^T dY + col2im.
  bool input_grad_by_flipped_kernel() const {
    return !is_pointwise() && patch.stride == 1 && patch.kernel_h == patch.kernel_w && patch.pad <= patch.kernel_h - 1 &&
           patch.channels >= 16 && patch.height * patch.width >= 256;
  }
  bool is_3x3_same() const {
    return patch.kernel_h == 3 && patch.kernel_w == 3 && patch.stride == 1 && patch.pad == 1;
  }
  // Whether a 3x3, stride-1, padding-1 convolution runs on the row kernel
  // (kernels/conv3x3_direct.hpp, image width a multiple of the packet size) instead of im2col +
  // GEMM: its forward pass, and its input gradient, which is then the direct convolution of dY
  // with the flipped kernel.
  template <typename T>
  bool direct_3x3() const {
    return is_3x3_same() && conv3x3_direct_applies(patch.width, conv3x3_packet_size<T>());
  }
  // Where the row kernel does not apply (the 8x8 layers), the channels-in-lanes kernel of
  // kernels/conv3x3_lanes.hpp takes the forward pass when Cout, and the input gradient when
  // Cin, is a multiple of the packet size.
  template <typename T>
  bool lanes_3x3_forward() const {
    return is_3x3_same() && !direct_3x3<T>() && conv3x3_lanes_apply(out_channels, conv3x3_packet_size<T>());
  }
  template <typename T>
  bool lanes_3x3_input_grad() const {
    return is_3x3_same() && !direct_3x3<T>() && conv3x3_lanes_apply(patch.channels, conv3x3_packet_size<T>());
  }
  // The weight gradient takes the channels-in-lanes kernel for any image size when Cout is a
  // multiple of the packet size.
  template <typename T>
  bool lanes_3x3_weight_grad() const {
    return is_3x3_same() && conv3x3_lanes_apply(out_channels, conv3x3_packet_size<T>());
  }
  // The geometry of that convolution: dY_n as an image [Cout, Ho, Wo], padded by k-1-pad.
  PatchGeometry flipped_patch() const {
    return PatchGeometry{out_channels, patch.out_h(), patch.out_w(), patch.kernel_h, patch.kernel_w, 1,
                         patch.kernel_h - 1 - patch.pad};
  }
};

template <typename T>
struct Conv2dWorkspace {
  Tensor<T> col;        // [threads, K*P] im2col scratch
  Tensor<T> dcol;       // [threads, K*P] W^T dY scratch, or [threads, Cout*k*k*H*W] col'(dY)
  Tensor<T> w_flipped;  // [Cin, Cout*k*k]: Wf of the flipped-kernel input gradient
  Tensor<T> padded;      // [threads, C*(H+2)*(W+2)]: x_n or dY_n with a zero border (direct 3x3)
  Tensor<T> w_packed;    // W, or Wf in backward, packed for the direct 3x3 kernels
  Tensor<T> transposed;  // [threads, H*W*C]: y_n, dY_n or dx_n transposed (channels-in-lanes 3x3)
  Tensor<T> partial_w;   // [chunks, Cout*K], or [chunks, K*Cout] (transposed) for the lanes weight gradient
  Tensor<T> partial_b;  // [chunks, Cout]
};

// Chunks of the batch for the weight-gradient reduction.
constexpr Index kConvReduceChunks = 16;

// The backward hook that does nothing.
struct NoSampleHook {
  void operator()(Index) const {}
};

// The forward pass in two steps, for a caller that runs it sample by sample (nn/conv2d.hpp):
// conv2d_forward_begin once per batch (sizes the workspace, packs the weights), then
// conv2d_forward_sample for each sample n, on any thread, each writing only sample n of y.
template <typename T>
void conv2d_forward_begin(const T* w, const Conv2dGeometry& g, Conv2dWorkspace<T>& ws) {
  const Index K = g.k(), P = g.p(), Cout = g.out_channels;
  const bool row = g.template direct_3x3<T>(), lanes = g.template lanes_3x3_forward<T>();
  if (row || lanes) {
    const Index Cin = g.patch.channels;
    ws.padded.resize(Shape{num_threads(), conv3x3_padded_size(Cin, g.patch.height, g.patch.width)});
    ws.w_packed.resize(Shape{conv3x3_packed_weights_size(Cout, Cin)});
    if (row) {
      conv3x3_pack_weights(ws.w_packed.data(), w, Cout, Cin);
    } else {
      conv3x3_pack_lanes(ws.w_packed.data(), w, Cout, Cin, false);
      ws.transposed.resize(Shape{num_threads(), P * Cout});
    }
  } else if (!g.is_pointwise()) {
    ws.col.resize(Shape{num_threads(), K * P});
  }
}

template <typename T>
void conv2d_forward_sample(Index n, T* y, const T* x, const T* w, const T* b, const Conv2dGeometry& g,
                           Conv2dWorkspace<T>& ws) {
  const Index K = g.k(), P = g.p(), Cout = g.out_channels;
  const bool row = g.template direct_3x3<T>(), lanes = g.template lanes_3x3_forward<T>();
  T* yn = y + n * g.out_size();
  const T* xn = x + n * g.in_size();
  if (row || lanes) {
    const Index Cin = g.patch.channels, H = g.patch.height, W = g.patch.width, np = conv3x3_padded_size(Cin, H, W);
    T* xp = ws.padded.data() + thread_index() * np;
    conv3x3_pad(xp, xn, Cin, H, W);
    if (row) {
      conv3x3_direct(yn, xp, ws.w_packed.data(), b, Cin, Cout, H, W);
    } else {
      T* yt = ws.transposed.data() + thread_index() * P * Cout;
      conv3x3_lanes_forward(yt, xp, ws.w_packed.data(), b, Cin, Cout, H, W);
      conv3x3_transpose(yn, yt, P, Cout);
    }
    return;
  }
  const T* col = xn;
  if (!g.is_pointwise()) {
    T* scratch = ws.col.data() + thread_index() * K * P;
    im2col(scratch, xn, g.patch);
    col = scratch;
  }
  MatrixMap<T> Y(yn, Cout, P);
  Y.noalias() = ConstMatrixMap<T>(w, Cout, K) * ConstMatrixMap<T>(col, K, P);
  if (b) Y.colwise() += Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(b, Cout);
}

template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const Conv2dGeometry& g, Conv2dWorkspace<T>& ws) {
  conv2d_forward_begin(w, g, ws);
  parallel_for(g.batch, [&](Index n) { conv2d_forward_sample(n, y, x, w, b, g, ws); });
}

// dx may be null (no input gradient wanted, e.g. the first layer); db may be null (no bias).
template <typename T, typename BeforeSample = NoSampleHook>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                     const Conv2dGeometry& g, Conv2dWorkspace<T>& ws, BeforeSample before_sample = {}) {
  const Index K = g.k(), P = g.p(), Cout = g.out_channels, Cin = g.patch.channels;
  const Index H = g.patch.height, W = g.patch.width;
  const bool direct = g.is_pointwise();
  const bool lanes_wgrad = g.template lanes_3x3_weight_grad<T>();
  const bool row_dx = dx && g.template direct_3x3<T>();
  const bool lanes_dx = dx && g.template lanes_3x3_input_grad<T>();
  const bool flipped = dx && !row_dx && !lanes_dx && g.input_grad_by_flipped_kernel();
  const PatchGeometry fp = g.flipped_patch();
  const Index KF = fp.col_rows(), HW = H * W;  // col'(dY_n) is [KF, HW]
  // Per-thread scratch of the 3x3 kernels: x_n and / or dY_n padded, dY_n and / or dx_n transposed.
  const Index npad = std::max(lanes_wgrad ? conv3x3_padded_size(Cin, H, W) : 0,
                              row_dx || lanes_dx ? conv3x3_padded_size(Cout, H, W) : 0);
  const Index ntr = std::max(lanes_wgrad ? P * Cout : 0, lanes_dx ? HW * Cin : 0);
  const Chunks chunks(g.batch, kConvReduceChunks);
  if (!direct && !lanes_wgrad) ws.col.resize(Shape{num_threads(), K * P});
  if (npad) ws.padded.resize(Shape{num_threads(), npad});
  if (ntr) ws.transposed.resize(Shape{num_threads(), ntr});
  if (row_dx || lanes_dx) {
    ws.w_packed.resize(Shape{conv3x3_packed_weights_size(Cin, Cout)});
    if (lanes_dx) conv3x3_pack_lanes(ws.w_packed.data(), w, Cin, Cout, true);
  }
  if (row_dx || flipped) {
    // Wf[c, (o*k + i)*k + j] = W[o, c, k-1-i, k-1-j]
    ws.w_flipped.resize(Shape{Cin, KF});
    const Index kk = g.patch.kernel_h * g.patch.kernel_w;
    for (Index c = 0; c < Cin; ++c)
      for (Index o = 0; o < Cout; ++o)
        for (Index t = 0; t < kk; ++t) ws.w_flipped.data()[c * KF + o * kk + t] = w[(o * Cin + c) * kk + (kk - 1 - t)];
    if (row_dx) conv3x3_pack_weights(ws.w_packed.data(), ws.w_flipped.data(), Cin, Cout);
    if (flipped) ws.dcol.resize(Shape{num_threads(), KF * HW});
  } else if (!direct && dx && !lanes_dx) {
    ws.dcol.resize(Shape{num_threads(), K * P});
  }
  ws.partial_w.resize(Shape{chunks.count(), Cout * K});
  ws.partial_b.resize(Shape{chunks.count(), Cout});
  ConstMatrixMap<T> Wm(w, Cout, K);
  parallel_for(chunks.count(), [&](Index c) {
    MatrixMap<T> PW(ws.partial_w.data() + c * Cout * K, Cout, K);
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> PB(ws.partial_b.data() + c * Cout, Cout);
    PW.setZero();
    PB.setZero();
    T* pad = npad ? ws.padded.data() + thread_index() * npad : nullptr;
    T* tr = ntr ? ws.transposed.data() + thread_index() * ntr : nullptr;
    for (Index n = chunks.begin(c); n < chunks.end(c); ++n) {
      before_sample(n);
      const T* dyn = dy + n * g.out_size();
      ConstMatrixMap<T> DY(dyn, Cout, P);
      if (lanes_wgrad) {  // PW holds dW^T [K, Cout]
        conv3x3_pad(pad, x + n * g.in_size(), Cin, H, W);
        conv3x3_transpose(tr, dyn, Cout, P);
        conv3x3_weight_grad(PW.data(), tr, pad, Cin, Cout, H, W);
      } else {
        const T* col = x + n * g.in_size();
        if (!direct) {
          T* scratch = ws.col.data() + thread_index() * K * P;
          im2col(scratch, col, g.patch);
          col = scratch;
        }
        PW.noalias() += DY * ConstMatrixMap<T>(col, K, P).transpose();
      }
      PB += DY.rowwise().sum();
      if (!dx) continue;
      T* dxn = dx + n * g.in_size();
      if (direct) {
        MatrixMap<T>(dxn, K, P).noalias() = Wm.transpose() * DY;
      } else if (row_dx || lanes_dx) {
        conv3x3_pad(pad, dyn, Cout, H, W);
        if (row_dx) {
          conv3x3_direct(dxn, pad, ws.w_packed.data(), static_cast<const T*>(nullptr), Cout, Cin, H, W);
        } else {
          conv3x3_lanes_forward(tr, pad, ws.w_packed.data(), static_cast<const T*>(nullptr), Cout, Cin, H, W);
          conv3x3_transpose(dxn, tr, HW, Cin);
        }
      } else if (flipped) {
        T* dcol = ws.dcol.data() + thread_index() * KF * HW;
        im2col(dcol, dyn, fp);
        MatrixMap<T>(dxn, Cin, HW).noalias() = ConstMatrixMap<T>(ws.w_flipped.data(), Cin, KF) * ConstMatrixMap<T>(dcol, KF, HW);
      } else {
        T* dcol = ws.dcol.data() + thread_index() * K * P;
        MatrixMap<T>(dcol, K, P).noalias() = Wm.transpose() * DY;
        std::fill(dxn, dxn + g.in_size(), T(0));
        col2im(dxn, dcol, g.patch);
      }
    }
  });
  // Fixed-order reduction of the partials.
  const Index nw = Cout * K, nc = chunks.count();
  const T* pw = ws.partial_w.data();
  parallel_for(Cout, [&](Index o) {
    for (Index k = 0; k < K; ++k) {
      const Index i = lanes_wgrad ? k * Cout + o : o * K + k;
      T s = pw[i];
      for (Index c = 1; c < nc; ++c) s += pw[c * nw + i];
      dw[o * K + k] += s;
    }
    if (db) {
      T s = ws.partial_b[o];
      for (Index c = 1; c < nc; ++c) s += ws.partial_b[c * Cout + o];
      db[o] += s;
    }
  });
}

// Reference twin: the convolution by its definition, one output at a time. For tests.
template <typename T>
void conv2d_forward_naive(T* y, const T* x, const T* w, const T* b, const Conv2dGeometry& g) {
  const PatchGeometry& p = g.patch;
  const Index ho = p.out_h(), wo = p.out_w();
  for (Index n = 0; n < g.batch; ++n)
    for (Index o = 0; o < g.out_channels; ++o)
      for (Index oh = 0; oh < ho; ++oh)
        for (Index ow = 0; ow < wo; ++ow) {
          T s = b ? b[o] : T(0);
          for (Index c = 0; c < p.channels; ++c)
            for (Index i = 0; i < p.kernel_h; ++i)
              for (Index j = 0; j < p.kernel_w; ++j) {
                const Index ih = oh * p.stride - p.pad + i, iw = ow * p.stride - p.pad + j;
                if (ih < 0 || ih >= p.height || iw < 0 || iw >= p.width) continue;
                s += w[((o * p.channels + c) * p.kernel_h + i) * p.kernel_w + j] *
                     x[((n * p.channels + c) * p.height + ih) * p.width + iw];
              }
          y[((n * g.out_channels + o) * ho + oh) * wo + ow] = s;
        }
}

// Reference twin of conv2d_backward: the adjoint of conv2d_forward_naive, term by term. dx is
// overwritten (or null: not wanted), dw and db accumulate. For tests.
template <typename T>
void conv2d_backward_naive(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const Conv2dGeometry& g) {
  const PatchGeometry& p = g.patch;
  const Index ho = p.out_h(), wo = p.out_w();
  if (dx) std::fill(dx, dx + g.batch * g.in_size(), T(0));
  for (Index n = 0; n < g.batch; ++n)
    for (Index o = 0; o < g.out_channels; ++o)
      for (Index oh = 0; oh < ho; ++oh)
        for (Index ow = 0; ow < wo; ++ow) {
          const T d = dy[((n * g.out_channels + o) * ho + oh) * wo + ow];
          db[o] += d;
          for (Index c = 0; c < p.channels; ++c)
            for (Index i = 0; i < p.kernel_h; ++i)
              for (Index j = 0; j < p.kernel_w; ++j) {
                const Index ih = oh * p.stride - p.pad + i, iw = ow * p.stride - p.pad + j;
                if (ih < 0 || ih >= p.height || iw < 0 || iw >= p.width) continue;
                const Index wi = ((o * p.channels + c) * p.kernel_h + i) * p.kernel_w + j;
                const Index xi = ((n * p.channels + c) * p.height + ih) * p.width + iw;
                dw[wi] += d * x[xi];
                if (dx) dx[xi] += d * w[wi];
              }
        }
}

}  // namespace glia
