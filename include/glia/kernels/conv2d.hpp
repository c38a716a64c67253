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
// Threads: the batch is split over threads; each thread has its own col scratch in the
// workspace. dW and db are summed into one partial per chunk of the batch (chunk boundaries
// depend on N only) and the partials are added in chunk order, so results do not depend on the
// thread count. The workspace grows on first use and is reused: no allocation after that.
#pragma once

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
};

template <typename T>
struct Conv2dWorkspace {
  Tensor<T> col;        // [threads, K*P] im2col scratch
  Tensor<T> dcol;       // [threads, K*P] W^T dY scratch
  Tensor<T> partial_w;  // [chunks, Cout*K]
  Tensor<T> partial_b;  // [chunks, Cout]
};

// Chunks of the batch for the weight-gradient reduction.
constexpr Index kConvReduceChunks = 16;

template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const Conv2dGeometry& g,
                    Conv2dWorkspace<T>& ws) {
  const Index K = g.k(), P = g.p(), Cout = g.out_channels;
  const bool direct = g.is_pointwise();
  if (!direct) ws.col.resize(Shape{num_threads(), K * P});
  ConstMatrixMap<T> W(w, Cout, K);
  parallel_for(g.batch, [&](Index n) {
    const T* col = x + n * g.in_size();
    if (!direct) {
      T* scratch = ws.col.data() + thread_index() * K * P;
      im2col(scratch, col, g.patch);
      col = scratch;
    }
    MatrixMap<T> Y(y + n * g.out_size(), Cout, P);
    Y.noalias() = W * ConstMatrixMap<T>(col, K, P);
    if (b) Y.colwise() += Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(b, Cout);
  });
}

// dx may be null (no input gradient wanted, e.g. the first layer); db may be null (no bias).
template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                     const Conv2dGeometry& g, Conv2dWorkspace<T>& ws) {
  const Index K = g.k(), P = g.p(), Cout = g.out_channels;
  const bool direct = g.is_pointwise();
  const Chunks chunks(g.batch, kConvReduceChunks);
  if (!direct) ws.col.resize(Shape{num_threads(), K * P});
  if (!direct && dx) ws.dcol.resize(Shape{num_threads(), K * P});
  ws.partial_w.resize(Shape{chunks.count(), Cout * K});
  ws.partial_b.resize(Shape{chunks.count(), Cout});
  ConstMatrixMap<T> W(w, Cout, K);
  parallel_for(chunks.count(), [&](Index c) {
    MatrixMap<T> PW(ws.partial_w.data() + c * Cout * K, Cout, K);
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> PB(ws.partial_b.data() + c * Cout, Cout);
    PW.setZero();
    PB.setZero();
    for (Index n = chunks.begin(c); n < chunks.end(c); ++n) {
      const T* col = x + n * g.in_size();
      if (!direct) {
        T* scratch = ws.col.data() + thread_index() * K * P;
        im2col(scratch, col, g.patch);
        col = scratch;
      }
      ConstMatrixMap<T> DY(dy + n * g.out_size(), Cout, P);
      PW.noalias() += DY * ConstMatrixMap<T>(col, K, P).transpose();
      PB += DY.rowwise().sum();
      if (!dx) continue;
      T* dxn = dx + n * g.in_size();
      if (direct) {
        MatrixMap<T>(dxn, K, P).noalias() = W.transpose() * DY;
      } else {
        T* dcol = ws.dcol.data() + thread_index() * K * P;
        MatrixMap<T>(dcol, K, P).noalias() = W.transpose() * DY;
        std::fill(dxn, dxn + g.in_size(), T(0));
        col2im(dxn, dcol, g.patch);
      }
    }
  });
  // Fixed-order reduction of the partials.
  const Index nw = Cout * K, nc = chunks.count();
  const T* pw = ws.partial_w.data();
  parallel_for(Cout, [&](Index o) {
    for (Index i = o * K; i < (o + 1) * K; ++i) {
      T s = pw[i];
      for (Index c = 1; c < nc; ++c) s += pw[c * nw + i];
      dw[i] += s;
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

}  // namespace glia
