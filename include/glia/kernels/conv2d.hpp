// glia/kernels/conv2d.hpp: 2-D convolution (cross-correlation, as in PyTorch) by im2col + GEMM.
//
// Shapes (all row-major, NCHW):
//   x  [N, Cin, H, W]        w  [Cout, Cin, kh, kw] == row-major matrix [Cout, K], K = Cin*kh*kw
//   b  [Cout] (optional)     y  [N, Cout, Ho, Wo]  (Ho, Wo as in im2col.hpp; P = Ho*Wo)
// Forward, per sample n:      Y_n[Cout, P] = W[Cout, K] * col(x_n)[K, P] + b 1^T
// Backward, given dY:         dW += sum_n dY_n * col(x_n)^T       db += sum_n dY_n 1
//                             dx_n = col2im(W^T * dY_n)            (overwritten, not accumulated)
// A 1x1, stride-1, unpadded convolution skips im2col: x_n already is col(x_n) (K = Cin, P = HW),
// and its products run kernels/conv_gemm.hpp's kernels, dispatched per instruction set.
// With groups G (and / or a dilation, im2col.hpp), w is [Cout, Cin/G, kh, kw] and each group of
// Cout/G output channels sees only its Cin/G input channels: kernels/conv2d_grouped.hpp has the
// maths and the per-sample functions of those algorithms (GroupedIm2colGemm, DepthwiseDirect).
//
// Each direction has several algorithms (conv2d_algorithm.hpp); the caller passes the ones
// to run as ConvAlgorithms (the layer: from resolve_conv_algorithms, once per geometry), and
// the overloads without them take select_conv_algorithms' automatic choice. Every algorithm is
// tested against conv2d_forward_naive / conv2d_backward_naive (tests/test_kernels.cpp).
//
// FlippedKernelGemm: the input gradient of a stride-1 square kernel (pad <= k-1) is itself a
// stride-1 convolution, computed like the forward pass instead of with col2im:
//   dx[c, h, w] = sum_{o,i,j} W[o, c, i, j] dY[o, h + pad - i, w + pad - j]
//               = sum_{o,i,j} Wf[c, o, i, j] dY[o, h - pad' + i, w - pad' + j]
// with the flipped, transposed kernel Wf[c, o, i, j] = W[o, c, k-1-i, k-1-j] and pad' = k-1-pad:
//   dx_n[Cin, HW] = Wf[Cin, Cout*k*k] * col'(dY_n)[Cout*k*k, HW],  col' = im2col of dY_n with pad'.
// Its GEMM has depth Cout*k*k (288 for 32 channels) instead of Cout (32), which Eigen's kernel
// runs near its peak, and there is no scatter-add.
//
// Rows3x3 and ChannelLanes3x3 (3x3, stride 1, padding 1) skip im2col: the row kernel
// (conv3x3_direct.hpp) and the channels-in-lanes kernels (conv3x3_lanes.hpp), on x_n for the
// forward pass and on dY_n with Wf for the input gradient. The lanes weight gradient's
// per-chunk partials are dW^T [K, Cout], transposed in the final reduction.
//
// Sample by sample: conv2d_forward is conv2d_forward_begin, then conv2d_forward_sample(n) for
// each n, and conv2d_backward calls before_sample(n) before it reads sample n of dy, on the
// thread that works on that sample; a layer fused with the convolution (the plan, nn/plan.hpp;
// Conv2d::backward_with_producer) does its per-sample work right after (forward) or before
// (backward), on data still in cache.
//
// Threads: the batch is split over threads; each thread has its own col scratch in the
// workspace. dW and db are summed into one partial per chunk of the batch, the chunks of
// kernels/batch_chunks.hpp (boundaries that depend on the global batch only), and the partials
// are added by its pairwise tree, so results do not depend on the thread count, nor on how the
// batch is divided between processes. The workspace grows on first use and is reused: no
// allocation after that.
#pragma once

#include "glia/kernels/batch_chunks.hpp"
#include "glia/kernels/conv2d_algorithm.hpp"
#include "glia/kernels/conv2d_grouped.hpp"
#include "glia/kernels/conv3x3_direct.hpp"
#include "glia/kernels/conv3x3_lanes.hpp"
#include "glia/kernels/im2col.hpp"
#include "glia/kernels/parallel.hpp"
#include "glia/kernels/conv_gemm.hpp"
#include "glia/tensor/tensor.hpp"

namespace glia {

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

// The backward hook that does nothing.
struct NoSampleHook {
  void operator()(Index) const {}
};

// The forward pass in two steps, for a caller that runs it sample by sample (nn/conv2d.hpp):
// conv2d_forward_begin once per batch (checks the algorithms, sizes the workspace, packs the
// weights), then conv2d_forward_sample for each sample n, on any thread, each writing only
// sample n of y with algos.forward. ValueError if an algorithm of algos does not apply to g.
template <typename T>
void conv2d_forward_begin(const T* w, const Conv2dGeometry& g, const ConvAlgorithms& algos, Conv2dWorkspace<T>& ws) {
  check_conv_algorithms(g, algos, conv3x3_packet_size<T>(), "conv2d_forward");
  const Index K = g.k(), P = g.p(), Cout = g.out_channels, Cin = g.patch.channels;
  switch (algos.forward) {
    case ConvForwardAlgorithm::Rows3x3:
      ws.padded.resize(Shape{num_threads(), conv3x3_padded_size(Cin, g.patch.height, g.patch.width)});
      ws.w_packed.resize(Shape{conv3x3_packed_weights_size(Cout, Cin)});
      conv3x3_pack_weights(ws.w_packed.data(), w, Cout, Cin);
      break;
    case ConvForwardAlgorithm::ChannelLanes3x3:
      ws.padded.resize(Shape{num_threads(), conv3x3_padded_size(Cin, g.patch.height, g.patch.width)});
      ws.w_packed.resize(Shape{conv3x3_packed_weights_size(Cout, Cin)});
      conv3x3_pack_lanes(ws.w_packed.data(), w, Cout, Cin, false);
      ws.transposed.resize(Shape{num_threads(), P * Cout});
      break;
    case ConvForwardAlgorithm::Im2colGemm:
    case ConvForwardAlgorithm::GroupedIm2colGemm: ws.col.resize(Shape{num_threads(), K * P}); break;
    case ConvForwardAlgorithm::Pointwise1x1Gemm:
    case ConvForwardAlgorithm::DepthwiseDirect: break;
  }
}

template <typename T>
void conv2d_forward_sample(Index n, T* y, const T* x, const T* w, const T* b, const Conv2dGeometry& g,
                           const ConvAlgorithms& algos, Conv2dWorkspace<T>& ws) {
  const Index K = g.k(), P = g.p(), Cout = g.out_channels;
  const ConvForwardAlgorithm a = algos.forward;
  T* yn = y + n * g.out_size();
  const T* xn = x + n * g.in_size();
  if (a == ConvForwardAlgorithm::GroupedIm2colGemm) {
    detail::conv2d_grouped_forward_sample(yn, xn, w, b, g, ws.col.data() + thread_index() * K * P);
    return;
  }
  if (a == ConvForwardAlgorithm::DepthwiseDirect) {
    detail::conv2d_depthwise_forward_sample(yn, xn, w, b, g);
    return;
  }
  if (a == ConvForwardAlgorithm::Rows3x3 || a == ConvForwardAlgorithm::ChannelLanes3x3) {
    const Index Cin = g.patch.channels, H = g.patch.height, W = g.patch.width, np = conv3x3_padded_size(Cin, H, W);
    T* xp = ws.padded.data() + thread_index() * np;
    conv3x3_pad(xp, xn, Cin, H, W);
    if (a == ConvForwardAlgorithm::Rows3x3) {
      conv3x3_direct(yn, xp, ws.w_packed.data(), b, Cin, Cout, H, W);
    } else {
      T* yt = ws.transposed.data() + thread_index() * P * Cout;
      conv3x3_lanes_forward(yt, xp, ws.w_packed.data(), b, Cin, Cout, H, W);
      conv3x3_transpose(yn, yt, P, Cout);
    }
    return;
  }
  if (a == ConvForwardAlgorithm::Pointwise1x1Gemm) {
    gemm_product(yn, w, false, xn, b, Cout, K, P);
    return;
  }
  T* col = ws.col.data() + thread_index() * K * P;
  im2col(col, xn, g.patch);
  gemm_product(yn, w, false, col, b, Cout, K, P);
}

template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const Conv2dGeometry& g, const ConvAlgorithms& algos,
                    Conv2dWorkspace<T>& ws) {
  conv2d_forward_begin(w, g, algos, ws);
  parallel_for(g.batch, [&](Index n) { conv2d_forward_sample(n, y, x, w, b, g, algos, ws); });
}

// With the automatic choice, select_conv_algorithms.
template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const Conv2dGeometry& g, Conv2dWorkspace<T>& ws) {
  conv2d_forward(y, x, w, b, g, select_conv_algorithms(g, conv3x3_packet_size<T>()).algorithms, ws);
}

namespace detail {

// Per-thread scratch of conv2d_backward's 3x3 kernels, in elements: x_n and / or dY_n padded,
// dY_n and / or dx_n transposed (0: none).
struct ConvBackwardScratch {
  Index padded, transposed;
};

// wf [Cin, Cout*k*k]: Wf[c, (o*k + i)*k + j] = W[o, c, k-1-i, k-1-j], the flipped kernel.
template <typename T>
void conv2d_flip_weights(T* wf, const T* w, const Conv2dGeometry& g) {
  const Index Cin = g.patch.channels, Cout = g.out_channels, kk = g.patch.kernel_h * g.patch.kernel_w, KF = Cout * kk;
  for (Index c = 0; c < Cin; ++c)
    for (Index o = 0; o < Cout; ++o)
      for (Index t = 0; t < kk; ++t) wf[c * KF + o * kk + t] = w[(o * Cin + c) * kk + (kk - 1 - t)];
}

// Sizes conv2d_backward's workspace and prepares the weights its input-gradient algorithm reads.
template <typename T>
ConvBackwardScratch conv2d_backward_begin(bool with_dx, const T* w, const Conv2dGeometry& g, const ConvAlgorithms& a,
                                          Index chunk_count, Conv2dWorkspace<T>& ws) {
  using D = ConvInputGradAlgorithm;
  const Index K = g.k(), P = g.p(), Cout = g.out_channels, Cin = g.patch.channels;
  const Index H = g.patch.height, W = g.patch.width, HW = H * W;
  const bool lanes_wgrad = a.weight_grad == ConvWeightGradAlgorithm::ChannelLanes3x3;
  const bool row_dx = with_dx && a.input_grad == D::Rows3x3, lanes_dx = with_dx && a.input_grad == D::ChannelLanes3x3;
  const bool flipped = with_dx && a.input_grad == D::FlippedKernelGemm;
  const ConvBackwardScratch s{std::max(lanes_wgrad ? conv3x3_padded_size(Cin, H, W) : 0,
                                       row_dx || lanes_dx ? conv3x3_padded_size(Cout, H, W) : 0),
                              std::max(lanes_wgrad ? P * Cout : 0, lanes_dx ? HW * Cin : 0)};
  if (a.weight_grad == ConvWeightGradAlgorithm::Im2colGemm || a.weight_grad == ConvWeightGradAlgorithm::GroupedIm2colGemm)
    ws.col.resize(Shape{num_threads(), K * P});
  if (s.padded) ws.padded.resize(Shape{num_threads(), s.padded});
  if (s.transposed) ws.transposed.resize(Shape{num_threads(), s.transposed});
  if (row_dx || lanes_dx) {
    ws.w_packed.resize(Shape{conv3x3_packed_weights_size(Cin, Cout)});
    if (lanes_dx) conv3x3_pack_lanes(ws.w_packed.data(), w, Cin, Cout, true);
  }
  if (row_dx || flipped) {
    const Index KF = g.flipped_patch().col_rows();
    ws.w_flipped.resize(Shape{Cin, KF});
    conv2d_flip_weights(ws.w_flipped.data(), w, g);
    if (row_dx) conv3x3_pack_weights(ws.w_packed.data(), ws.w_flipped.data(), Cin, Cout);
    if (flipped) ws.dcol.resize(Shape{num_threads(), KF * HW});
  } else if (with_dx && (a.input_grad == D::Col2imGemm || a.input_grad == D::GroupedCol2imGemm)) {
    ws.dcol.resize(Shape{num_threads(), K * P});
  }
  ws.partial_w.resize(Shape{chunk_count, Cout * g.weight_k()});
  ws.partial_b.resize(Shape{chunk_count, Cout});
  return s;
}

// pw += sample n's weight gradient, pb += its bias gradient, from dY_n and x_n. pw is dW [Cout, K],
// or dW^T [K, Cout] for the channels-in-lanes kernel; pad and tr are this thread's 3x3 scratch.
template <typename T>
void conv2d_weight_grad_sample(T* pw, T* pb, const T* dyn, const T* xn, const Conv2dGeometry& g,
                               ConvWeightGradAlgorithm a, Conv2dWorkspace<T>& ws, T* pad, T* tr) {
  const Index K = g.k(), P = g.p(), Cout = g.out_channels;
  if (a == ConvWeightGradAlgorithm::GroupedIm2colGemm) {
    conv2d_grouped_weight_grad_sample(pw, pb, dyn, xn, g, ws.col.data() + thread_index() * K * P);
    return;
  }
  if (a == ConvWeightGradAlgorithm::DepthwiseDirect) {
    conv2d_depthwise_weight_grad_sample(pw, pb, dyn, xn, g);
    return;
  }
  ConstMatrixMap<T> DY(dyn, Cout, P);
  if (a == ConvWeightGradAlgorithm::ChannelLanes3x3) {
    const Index Cin = g.patch.channels, H = g.patch.height, W = g.patch.width;
    conv3x3_pad(pad, xn, Cin, H, W);
    conv3x3_transpose(tr, dyn, Cout, P);
    conv3x3_weight_grad(pw, tr, pad, Cin, Cout, H, W);
  } else if (a == ConvWeightGradAlgorithm::Pointwise1x1Gemm) {
    gemm_weight_grad(pw, dyn, xn, Cout, K, P);
  } else {
    T* col = ws.col.data() + thread_index() * K * P;
    im2col(col, xn, g.patch);
    gemm_weight_grad(pw, dyn, col, Cout, K, P);
  }
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>(pb, Cout) += DY.rowwise().sum();
}

// dx_n (overwritten) from dY_n, by algorithm a; pad and tr are this thread's 3x3 scratch.
template <typename T>
void conv2d_input_grad_sample(T* dxn, const T* dyn, const T* w, const Conv2dGeometry& g, ConvInputGradAlgorithm a,
                              Conv2dWorkspace<T>& ws, T* pad, T* tr) {
  const Index K = g.k(), P = g.p(), Cout = g.out_channels, Cin = g.patch.channels;
  const Index H = g.patch.height, W = g.patch.width, HW = H * W;
  switch (a) {
    case ConvInputGradAlgorithm::GroupedCol2imGemm:
      conv2d_grouped_input_grad_sample(dxn, dyn, w, g, ws.dcol.data() + thread_index() * K * P);
      break;
    case ConvInputGradAlgorithm::DepthwiseDirect: conv2d_depthwise_input_grad_sample(dxn, dyn, w, g); break;
    case ConvInputGradAlgorithm::Pointwise1x1Gemm:
      gemm_product(dxn, w, true, dyn, K, Cout, P);
      break;
    case ConvInputGradAlgorithm::Rows3x3:
      conv3x3_pad(pad, dyn, Cout, H, W);
      conv3x3_direct(dxn, pad, ws.w_packed.data(), static_cast<const T*>(nullptr), Cout, Cin, H, W);
      break;
    case ConvInputGradAlgorithm::ChannelLanes3x3:
      conv3x3_pad(pad, dyn, Cout, H, W);
      conv3x3_lanes_forward(tr, pad, ws.w_packed.data(), static_cast<const T*>(nullptr), Cout, Cin, H, W);
      conv3x3_transpose(dxn, tr, HW, Cin);
      break;
    case ConvInputGradAlgorithm::FlippedKernelGemm: {
      const PatchGeometry fp = g.flipped_patch();
      const Index KF = fp.col_rows();
      T* dcol = ws.dcol.data() + thread_index() * KF * HW;
      im2col(dcol, dyn, fp);
      gemm_product(dxn, ws.w_flipped.data(), false, dcol, Cin, KF, HW);
      break;
    }
    case ConvInputGradAlgorithm::Col2imGemm: {
      T* dcol = ws.dcol.data() + thread_index() * K * P;
      gemm_product(dcol, w, true, dyn, K, Cout, P);
      std::fill(dxn, dxn + g.in_size(), T(0));
      col2im(dxn, dcol, g.patch);
      break;
    }
  }
}

// dw += the partials of the nc chunks, db likewise, summed by the chunk tree (chunk_tree_sum);
// transposed: the partials are dW^T [K, Cout] (channels-in-lanes weight gradient).
template <typename T>
void conv2d_reduce_partials(T* dw, T* db, const Conv2dGeometry& g, bool transposed, const Conv2dWorkspace<T>& ws, Index nc) {
  const Index Cout = g.out_channels, K = g.weight_k(), nw = Cout * K;
  const T* pw = ws.partial_w.data();
  const T* pb = ws.partial_b.data();
  parallel_for(Cout, [&](Index o) {
    for (Index k = 0; k < K; ++k) {
      const Index i = transposed ? k * Cout + o : o * K + k;
      dw[o * K + k] += chunk_tree_sum(pw + i, nc, nw);
    }
    if (db) db[o] += chunk_tree_sum(pb + o, nc, Cout);
  });
}

}  // namespace detail

// dx may be null (no input gradient wanted, e.g. the first layer); db may be null (no bias).
// chunks: the batch's gradient chunks (kernels/batch_chunks.hpp). ValueError if an algorithm
// of algos does not apply to g.
template <typename T, typename BeforeSample>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const Conv2dGeometry& g,
                     const ConvAlgorithms& algos, Conv2dWorkspace<T>& ws, const BatchChunks& chunks,
                     BeforeSample before_sample) {
  check_conv_algorithms(g, algos, conv3x3_packet_size<T>(), "conv2d_backward");
  const detail::ConvBackwardScratch s = detail::conv2d_backward_begin(dx != nullptr, w, g, algos, chunks.count, ws);
  const Index nw = g.out_channels * g.weight_k(), nb = g.out_channels;
  parallel_for(chunks.count, [&](Index c) {
    T* pw = ws.partial_w.data() + c * nw;
    T* pb = ws.partial_b.data() + c * nb;
    std::fill(pw, pw + nw, T(0));
    std::fill(pb, pb + nb, T(0));
    T* pad = s.padded ? ws.padded.data() + thread_index() * s.padded : nullptr;
    T* tr = s.transposed ? ws.transposed.data() + thread_index() * s.transposed : nullptr;
    for (Index n = chunks.begin(c); n < chunks.end(c); ++n) {
      before_sample(n);
      const T* dyn = dy + n * g.out_size();
      detail::conv2d_weight_grad_sample(pw, pb, dyn, x + n * g.in_size(), g, algos.weight_grad, ws, pad, tr);
      if (dx) detail::conv2d_input_grad_sample(dx + n * g.in_size(), dyn, w, g, algos.input_grad, ws, pad, tr);
    }
  });
  detail::conv2d_reduce_partials(dw, db, g, algos.weight_grad == ConvWeightGradAlgorithm::ChannelLanes3x3, ws,
                                 chunks.count);
}

// The whole batch (no split), no hook.
template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const Conv2dGeometry& g,
                     const ConvAlgorithms& algos, Conv2dWorkspace<T>& ws) {
  conv2d_backward(dx, dw, db, dy, x, w, g, algos, ws, batch_chunks(nullptr, g.batch), NoSampleHook{});
}

// With the automatic choice, select_conv_algorithms.
template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const Conv2dGeometry& g,
                     Conv2dWorkspace<T>& ws) {
  conv2d_backward(dx, dw, db, dy, x, w, g, select_conv_algorithms(g, conv3x3_packet_size<T>()).algorithms, ws);
}

// Reference twin: the convolution by its definition, one output at a time (with groups:
// output channel o reads the Cin/G input channels of its group, from c0 = (o / (Cout/G))*Cin/G).
// For tests.
template <typename T>
void conv2d_forward_naive(T* y, const T* x, const T* w, const T* b, const Conv2dGeometry& g) {
  const PatchGeometry& p = g.patch;
  const Index ho = p.out_h(), wo = p.out_w(), cg = p.channels / g.groups, og = g.out_channels / g.groups, d = p.dilation;
  for (Index n = 0; n < g.batch; ++n)
    for (Index o = 0; o < g.out_channels; ++o)
      for (Index oh = 0; oh < ho; ++oh)
        for (Index ow = 0; ow < wo; ++ow) {
          T s = b ? b[o] : T(0);
          for (Index c = 0; c < cg; ++c)
            for (Index i = 0; i < p.kernel_h; ++i)
              for (Index j = 0; j < p.kernel_w; ++j) {
                const Index ih = oh * p.stride - p.pad + i * d, iw = ow * p.stride - p.pad + j * d;
                if (ih < 0 || ih >= p.height || iw < 0 || iw >= p.width) continue;
                s += w[((o * cg + c) * p.kernel_h + i) * p.kernel_w + j] *
                     x[((n * p.channels + (o / og) * cg + c) * p.height + ih) * p.width + iw];
              }
          y[((n * g.out_channels + o) * ho + oh) * wo + ow] = s;
        }
}

// Reference twin of conv2d_backward: the adjoint of conv2d_forward_naive, term by term. dx is
// overwritten (or null: not wanted), dw and db accumulate. For tests.
template <typename T>
void conv2d_backward_naive(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const Conv2dGeometry& g) {
  const PatchGeometry& p = g.patch;
  const Index ho = p.out_h(), wo = p.out_w(), cg = p.channels / g.groups, og = g.out_channels / g.groups, dil = p.dilation;
  if (dx) std::fill(dx, dx + g.batch * g.in_size(), T(0));
  for (Index n = 0; n < g.batch; ++n)
    for (Index o = 0; o < g.out_channels; ++o)
      for (Index oh = 0; oh < ho; ++oh)
        for (Index ow = 0; ow < wo; ++ow) {
          const T d = dy[((n * g.out_channels + o) * ho + oh) * wo + ow];
          db[o] += d;
          for (Index c = 0; c < cg; ++c)
            for (Index i = 0; i < p.kernel_h; ++i)
              for (Index j = 0; j < p.kernel_w; ++j) {
                const Index ih = oh * p.stride - p.pad + i * dil, iw = ow * p.stride - p.pad + j * dil;
                if (ih < 0 || ih >= p.height || iw < 0 || iw >= p.width) continue;
                const Index wi = ((o * cg + c) * p.kernel_h + i) * p.kernel_w + j;
                const Index xi = ((n * p.channels + (o / og) * cg + c) * p.height + ih) * p.width + iw;
                dw[wi] += d * x[xi];
                if (dx) dx[xi] += d * w[wi];
              }
        }
}

}  // namespace glia
