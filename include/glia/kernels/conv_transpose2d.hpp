// glia/kernels/conv_transpose2d.hpp: the geometry of a transposed convolution, and its
// reference twin.
//
// A transposed convolution (torch.nn.ConvTranspose2d) with Cin input and Cout output channels,
// kernel k, stride s, padding p, output padding op, dilation d and G groups maps
//   x [N, Cin, H, W]  ->  y [N, Cout, Ho, Wo],   Ho = (H-1)*s - 2p + d*(k-1) + op + 1  (Wo likewise)
// with weight w [Cin, Cout/G, k, k] and bias b [Cout]:
//   y[n, g*Og + o, ih*s - p + i*d, iw*s - p + j*d] += w[c, o, i, j] * x[n, c, ih, iw]
// for every c in group g (c / (Cin/G) == g), o < Og = Cout/G, i, j < k (positions outside
// [0, Ho) x [0, Wo) dropped), then y += b. It is the adjoint (transpose) of the convolution A
// from y's space to x's: A has Cout input channels of Ho x Wo, Cin output channels, the same
// kernel, stride, padding, dilation and groups, and weight w read as A's [Cin, Cout/G, k, k].
// So (nn/conv_transpose2d.hpp)
//   forward      y_n  = A's input gradient for dY = x_n           (col2im(W^T x_n), ...)
//   input grad   dx_n = A's forward of dy_n without bias           (W im2col(dy_n), ...)
//   weight grad  dW  += A's weight gradient, dY = x_n, input = dy_n
//   bias grad    db  += sum over n, h, w of dy
// conv_transpose2d_adjoint gives A's geometry; A's output is H x W exactly when op < s, which
// is why glia requires output_padding < stride (PyTorch also accepts op < dilation with
// op >= stride). The naive functions are the definition above as loops, for tests.
#pragma once

#include <algorithm>

#include "glia/kernels/conv2d_algorithm.hpp"

namespace glia {

struct ConvTranspose2dConfig {
  Index in_channels, out_channels, kernel, stride, padding, output_padding, groups, dilation;
  Index out_size(Index in) const { return (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1; }
};

// The convolution A whose input gradient is the transposed convolution of input [N, Cin, H, W].
inline Conv2dGeometry conv_transpose2d_adjoint(const ConvTranspose2dConfig& c, Index batch, Index h, Index w) {
  return Conv2dGeometry{batch,
                        PatchGeometry{c.out_channels, c.out_size(h), c.out_size(w), c.kernel, c.kernel, c.stride,
                                      c.padding, c.dilation},
                        c.in_channels, c.groups};
}

// Calls f(x_index, y_index, w_index) for every term of the definition above, for sample n.
template <typename F>
void conv_transpose2d_terms(const ConvTranspose2dConfig& c, Index n, Index h, Index w, F&& f) {
  const Index ho = c.out_size(h), wo = c.out_size(w), cg = c.in_channels / c.groups, og = c.out_channels / c.groups;
  const Index k = c.kernel;
  for (Index ci = 0; ci < c.in_channels; ++ci)
    for (Index ih = 0; ih < h; ++ih)
      for (Index iw = 0; iw < w; ++iw)
        for (Index o = 0; o < og; ++o)
          for (Index i = 0; i < k; ++i)
            for (Index j = 0; j < k; ++j) {
              const Index yh = ih * c.stride - c.padding + i * c.dilation, yw = iw * c.stride - c.padding + j * c.dilation;
              if (yh < 0 || yh >= ho || yw < 0 || yw >= wo) continue;
              const Index oc = (ci / cg) * og + o;
              f(((n * c.in_channels + ci) * h + ih) * w + iw, ((n * c.out_channels + oc) * ho + yh) * wo + yw,
                ((ci * og + o) * k + i) * k + j);
            }
}

// Reference twin of the forward pass: y [N, Cout, Ho, Wo] (overwritten); b may be null.
template <typename T>
void conv_transpose2d_forward_naive(T* y, const T* x, const T* w, const T* b, const ConvTranspose2dConfig& c, Index batch,
                                    Index h, Index wd) {
  const Index plane = c.out_size(h) * c.out_size(wd);
  for (Index n = 0; n < batch; ++n)
    for (Index o = 0; o < c.out_channels; ++o)
      std::fill(y + (n * c.out_channels + o) * plane, y + (n * c.out_channels + o + 1) * plane, b ? b[o] : T(0));
  for (Index n = 0; n < batch; ++n)
    conv_transpose2d_terms(c, n, h, wd, [&](Index xi, Index yi, Index wi) { y[yi] += w[wi] * x[xi]; });
}

// Reference twin of the backward pass: dx overwritten (or null), dw and db (or null) accumulate.
template <typename T>
void conv_transpose2d_backward_naive(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                                     const ConvTranspose2dConfig& c, Index batch, Index h, Index wd) {
  const Index plane = c.out_size(h) * c.out_size(wd);
  if (dx) std::fill(dx, dx + batch * c.in_channels * h * wd, T(0));
  for (Index n = 0; n < batch; ++n) {
    conv_transpose2d_terms(c, n, h, wd, [&](Index xi, Index yi, Index wi) {
      dw[wi] += dy[yi] * x[xi];
      if (dx) dx[xi] += dy[yi] * w[wi];
    });
    if (db)
      for (Index o = 0; o < c.out_channels; ++o)
        for (Index q = 0; q < plane; ++q) db[o] += dy[(n * c.out_channels + o) * plane + q];
  }
}

}  // namespace glia
