// glia/kernels/im2col.hpp: unfolding image patches into columns, and its adjoint.
//
// One image x of shape [C, H, W] (row-major) and a kh x kw kernel moved with `stride` over the
// image padded by `pad` zeros give Ho x Wo output positions,
//   Ho = (H + 2*pad - kh) / stride + 1,   Wo = (W + 2*pad - kw) / stride + 1.
// im2col writes col of shape [C*kh*kw, Ho*Wo] (row-major):
//   col[(c*kh + i)*kw + j][oh*Wo + ow] = x[c][oh*stride - pad + i][ow*stride - pad + j]
// (0 where that index falls into the padding). A convolution is then the GEMM W * col.
// col2im is the adjoint (transpose) of im2col: it ADDS every col entry back to the pixel it was
// read from, so <im2col(x), c> == <x, col2im(c)>. Callers zero x before col2im.
#pragma once

#include <algorithm>
#include <cstring>

#include "glia/tensor/shape.hpp"

namespace glia {

struct PatchGeometry {
  Index channels, height, width;  // input image [C, H, W]
  Index kernel_h, kernel_w, stride, pad;
  Index out_h() const { return (height + 2 * pad - kernel_h) / stride + 1; }
  Index out_w() const { return (width + 2 * pad - kernel_w) / stride + 1; }
  Index col_rows() const { return channels * kernel_h * kernel_w; }
  Index col_cols() const { return out_h() * out_w(); }
};

// The output columns [ow_begin, ow_end) whose input column ow*stride - pad + j lies in [0, W).
inline void valid_range(Index j, const PatchGeometry& g, Index& ow_begin, Index& ow_end) {
  const Index wo = g.out_w();
  // ow*stride >= pad - j  and  ow*stride < W + pad - j
  const Index lo = g.pad - j;
  ow_begin = lo <= 0 ? 0 : (lo + g.stride - 1) / g.stride;
  const Index hi = g.width + g.pad - j;  // exclusive bound on ow*stride
  ow_end = hi <= 0 ? 0 : std::min(wo, (hi + g.stride - 1) / g.stride);
  if (ow_end < ow_begin) ow_end = ow_begin;
}

template <typename T>
void im2col(T* col, const T* x, const PatchGeometry& g) {
  const Index ho = g.out_h(), wo = g.out_w();
  for (Index c = 0; c < g.channels; ++c) {
    const T* xc = x + c * g.height * g.width;
    for (Index i = 0; i < g.kernel_h; ++i) {
      for (Index j = 0; j < g.kernel_w; ++j) {
        T* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * ho * wo;
        Index ow0, ow1;
        valid_range(j, g, ow0, ow1);
        for (Index oh = 0; oh < ho; ++oh) {
          T* dst = row + oh * wo;
          const Index ih = oh * g.stride - g.pad + i;
          if (ih < 0 || ih >= g.height) {
            std::fill(dst, dst + wo, T(0));
            continue;
          }
          const Index base = ih * g.width - g.pad + j;  // xc[base + ow*stride] is the pixel of ow
          std::fill(dst, dst + ow0, T(0));
          if (g.stride == 1) {
            if (ow1 > ow0) std::memcpy(dst + ow0, xc + base + ow0, static_cast<std::size_t>(ow1 - ow0) * sizeof(T));
          } else {
            for (Index ow = ow0; ow < ow1; ++ow) dst[ow] = xc[base + ow * g.stride];
          }
          std::fill(dst + ow1, dst + wo, T(0));
        }
      }
    }
  }
}

template <typename T>
void col2im(T* x, const T* col, const PatchGeometry& g) {
  const Index ho = g.out_h(), wo = g.out_w();
  for (Index c = 0; c < g.channels; ++c) {
    T* xc = x + c * g.height * g.width;
    for (Index i = 0; i < g.kernel_h; ++i) {
      for (Index j = 0; j < g.kernel_w; ++j) {
        const T* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * ho * wo;
        Index ow0, ow1;
        valid_range(j, g, ow0, ow1);
        for (Index oh = 0; oh < ho; ++oh) {
          const Index ih = oh * g.stride - g.pad + i;
          if (ih < 0 || ih >= g.height) continue;
          const T* src = row + oh * wo;
          const Index base = ih * g.width - g.pad + j;
          for (Index ow = ow0; ow < ow1; ++ow) xc[base + ow * g.stride] += src[ow];
        }
      }
    }
  }
}

}  // namespace glia
