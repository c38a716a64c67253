// glia/kernels/conv2d_grouped.hpp: one sample of a grouped or dilated convolution.
//
// The general algorithms for groups != 1 or dilation != 1 (conv2d_algorithm.hpp), called by
// kernels/conv2d.hpp sample by sample. Shapes, with G groups, Cg = Cin/G, Og = Cout/G,
// Kg = Cg*kh*kw, P = Ho*Wo, d the dilation (Ho as in im2col.hpp):
//   x_n [Cin, H, W]     w [Cout, Cg, kh, kw] == row-major [Cout, Kg]     y_n, dY_n [Cout, P]
//   y[o, oh, ow] = b[o] + sum_{c<Cg, i, j} w[o, c, i, j] x[(o/Og)*Cg + c, oh*s - pad + i*d, ow*s - pad + j*d]
// GroupedIm2colGemm / GroupedCol2imGemm: one im2col of x_n (all Cin channels, with the
// dilation) is [Cin*kh*kw, P]; its rows of group g are the contiguous block [g*Kg, (g+1)*Kg),
// and the filters of group g are rows [g*Og, (g+1)*Og) of W [Cout, Kg]. So, per group g,
//   Y_g = W_g col_g        dW_g += dY_g col_g^T        dcol_g = W_g^T dY_g,  dx_n = col2im(dcol)
// With G = 1 and d = 1 this is the dense im2col + GEMM (which the fast algorithms compute).
// DepthwiseDirect (G == Cin, Og = Cout/Cin filters per input channel, Kg = kh*kw): direct loops
// over each filter's taps; for tap (i, j) the output columns that read inside the image are
// valid_range's, so the inner loops have no bounds tests.
//   y[o] = b[o] + sum_{i,j} w[o,i,j] * shift_{i,j}(x[o/Og])    dW[o,i,j] += <dY[o], shift_{i,j}(x[o/Og])>
//   dx[c] = sum_{o/Og = c} sum_{i,j} w[o,i,j] * shift_{i,j}^T(dY[o])
// Each function handles one sample and writes only its outputs (y_n, dx_n overwritten; pw, pb
// accumulated): the caller (conv2d.hpp) splits the batch over threads and reduces the
// per-chunk partials in a fixed order. Scratch: col (and dcol) of Cin*kh*kw*P elements per
// thread, owned by the caller. No allocation.
#pragma once

#include <algorithm>

#include "glia/kernels/conv2d_algorithm.hpp"
#include "glia/kernels/im2col.hpp"
#include "glia/kernels/conv_gemm.hpp"
#include "glia/tensor/tensor.hpp"

namespace glia::detail {

// y_n = W * im2col(x_n) group by group, + b. col: this thread's [Cin*kh*kw, P] scratch.
template <typename T>
void conv2d_grouped_forward_sample(T* yn, const T* xn, const T* w, const T* b, const Conv2dGeometry& g, T* col) {
  const Index P = g.p(), Kg = g.weight_k(), Og = g.out_channels / g.groups;
  im2col(col, xn, g.patch);
  for (Index gi = 0; gi < g.groups; ++gi)
    gemm_product(yn + gi * Og * P, w + gi * Og * Kg, false, col + gi * Kg * P, b ? b + gi * Og : b, Og, Kg, P);
}

// pw [Cout, Kg] += dY_n * im2col(x_n)^T group by group; pb [Cout] += dY_n 1.
template <typename T>
void conv2d_grouped_weight_grad_sample(T* pw, T* pb, const T* dyn, const T* xn, const Conv2dGeometry& g, T* col) {
  const Index P = g.p(), Kg = g.weight_k(), Og = g.out_channels / g.groups;
  im2col(col, xn, g.patch);
  for (Index gi = 0; gi < g.groups; ++gi)
    gemm_weight_grad(pw + gi * Og * Kg, dyn + gi * Og * P, col + gi * Kg * P, Og, Kg, P);
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>(pb, g.out_channels) += ConstMatrixMap<T>(dyn, g.out_channels, P).rowwise().sum();
}

// dx_n = col2im(W^T dY_n) group by group (overwritten). dcol: this thread's [Cin*kh*kw, P] scratch.
template <typename T>
void conv2d_grouped_input_grad_sample(T* dxn, const T* dyn, const T* w, const Conv2dGeometry& g, T* dcol) {
  const Index P = g.p(), Kg = g.weight_k(), Og = g.out_channels / g.groups;
  for (Index gi = 0; gi < g.groups; ++gi)
    gemm_product(dcol + gi * Kg * P, w + gi * Og * Kg, true, dyn + gi * Og * P, Kg, Og, P);
  std::fill(dxn, dxn + g.in_size(), T(0));
  col2im(dxn, dcol, g.patch);
}

// Calls f(out_row, in_row, count) for every output row oh of tap (i, j) of a depthwise filter and
// the run of count outputs [ow0, ow0+count) reading inside the image: out_row = oh*Wo + ow0 and
// in_row = the input index of output ow0 (the next outputs read every stride-th pixel after it).
template <typename F>
void depthwise_tap_rows(const PatchGeometry& p, Index i, Index j, F&& f) {
  Index ow0, ow1;
  valid_range(j, p, ow0, ow1);
  if (ow1 <= ow0) return;
  const Index ho = p.out_h(), wo = p.out_w();
  for (Index oh = 0; oh < ho; ++oh) {
    const Index ih = oh * p.stride - p.pad + i * p.dilation;
    if (ih < 0 || ih >= p.height) continue;
    f(oh * wo + ow0, ih * p.width + ow0 * p.stride - p.pad + j * p.dilation, ow1 - ow0);
  }
}

template <typename T>
void conv2d_depthwise_forward_sample(T* yn, const T* xn, const T* w, const T* b, const Conv2dGeometry& g) {
  const PatchGeometry& p = g.patch;
  const Index P = g.p(), HW = p.height * p.width, kk = p.kernel_h * p.kernel_w, mult = g.out_channels / p.channels;
  const Index s = p.stride;
  for (Index o = 0; o < g.out_channels; ++o) {
    T* y = yn + o * P;
    const T* x = xn + (o / mult) * HW;
    std::fill(y, y + P, b ? b[o] : T(0));
    for (Index i = 0; i < p.kernel_h; ++i)
      for (Index j = 0; j < p.kernel_w; ++j) {
        const T wv = w[o * kk + i * p.kernel_w + j];
        depthwise_tap_rows(p, i, j, [&](Index out, Index in, Index count) {
          for (Index t = 0; t < count; ++t) y[out + t] += wv * x[in + t * s];
        });
      }
  }
}

template <typename T>
void conv2d_depthwise_weight_grad_sample(T* pw, T* pb, const T* dyn, const T* xn, const Conv2dGeometry& g) {
  const PatchGeometry& p = g.patch;
  const Index P = g.p(), HW = p.height * p.width, kk = p.kernel_h * p.kernel_w, mult = g.out_channels / p.channels;
  const Index s = p.stride;
  for (Index o = 0; o < g.out_channels; ++o) {
    const T* dy = dyn + o * P;
    const T* x = xn + (o / mult) * HW;
    for (Index i = 0; i < p.kernel_h; ++i)
      for (Index j = 0; j < p.kernel_w; ++j) {
        T acc = T(0);
        depthwise_tap_rows(p, i, j, [&](Index out, Index in, Index count) {
          for (Index t = 0; t < count; ++t) acc += dy[out + t] * x[in + t * s];
        });
        pw[o * kk + i * p.kernel_w + j] += acc;
      }
    T sb = T(0);
    for (Index q = 0; q < P; ++q) sb += dy[q];
    pb[o] += sb;
  }
}

template <typename T>
void conv2d_depthwise_input_grad_sample(T* dxn, const T* dyn, const T* w, const Conv2dGeometry& g) {
  const PatchGeometry& p = g.patch;
  const Index P = g.p(), HW = p.height * p.width, kk = p.kernel_h * p.kernel_w, mult = g.out_channels / p.channels;
  const Index s = p.stride;
  std::fill(dxn, dxn + g.in_size(), T(0));
  for (Index o = 0; o < g.out_channels; ++o) {
    const T* dy = dyn + o * P;
    T* dx = dxn + (o / mult) * HW;
    for (Index i = 0; i < p.kernel_h; ++i)
      for (Index j = 0; j < p.kernel_w; ++j) {
        const T wv = w[o * kk + i * p.kernel_w + j];
        depthwise_tap_rows(p, i, j, [&](Index out, Index in, Index count) {
          for (Index t = 0; t < count; ++t) dx[in + t * s] += wv * dy[out + t];
        });
      }
  }
}

}  // namespace glia::detail
