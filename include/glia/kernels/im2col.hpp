// glia/kernels/im2col.hpp: unfolding image patches into columns, and its adjoint.
//
// One image x of shape [C, H, W] (row-major) and a kh x kw kernel whose taps are `dilation`
// pixels apart (1: adjacent), moved with `stride` over the image padded by `pad` zeros, give
// Ho x Wo output positions,
//   Ho = (H + 2*pad - dilation*(kh-1) - 1) / stride + 1   (Wo likewise with W, kw).
// im2col writes col of shape [C*kh*kw, Ho*Wo] (row-major):
//   col[(c*kh + i)*kw + j][oh*Wo + ow] = x[c][oh*stride - pad + i*dilation][ow*stride - pad + j*dilation]
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
  Index dilation = 1;  // the distance between two taps of the kernel
  Index extent_h() const { return dilation * (kernel_h - 1) + 1; }  // the rows one output reads
  Index extent_w() const { return dilation * (kernel_w - 1) + 1; }
  Index out_h() const { return (height + 2 * pad - extent_h()) / stride + 1; }
  Index out_w() const { return (width + 2 * pad - extent_w()) / stride + 1; }
  Index col_rows() const { return channels * kernel_h * kernel_w; }
  Index col_cols() const { return out_h() * out_w(); }
};

// The output columns [ow_begin, ow_end) whose input column ow*stride - pad + j*dilation lies in [0, W).
inline void valid_range(Index j, const PatchGeometry& g, Index& ow_begin, Index& ow_end) {
  const Index wo = g.out_w(), jd = j * g.dilation;
  // ow*stride >= pad - jd  and  ow*stride < W + pad - jd
  const Index lo = g.pad - jd;
  ow_begin = lo <= 0 ? 0 : (lo + g.stride - 1) / g.stride;
  const Index hi = g.width + g.pad - jd;  // exclusive bound on ow*stride
  ow_end = hi <= 0 ? 0 : std::min(wo, (hi + g.stride - 1) / g.stride);
  if (ow_end < ow_begin) ow_end = ow_begin;
}

// Stride 1 with Wo == W ("same" width, 2*pad == dilation*(kw-1)): output position q = oh*W + ow
// of row (c,i,j) reads pixel q + (i*dilation-pad)*W + (j*dilation-pad) of channel c, an offset that does not depend on
// q. So each row is one contiguous copy, after which the columns whose pixel lies across the
// left or right border (wrapped into the neighbouring image row) are zeroed. This is the common
// case (every 3x3 pad-1 layer) and avoids a call per image row, which dominates for 8 or 16
// pixels a row.
template <typename T>
void im2col_same_width(T* col, const T* x, const PatchGeometry& g) {
  const Index H = g.height, W = g.width, ho = g.out_h(), n = ho * W;
  for (Index c = 0; c < g.channels; ++c) {
    const T* xc = x + c * H * W;
    for (Index i = 0; i < g.kernel_h; ++i) {
      const Index dy = i * g.dilation - g.pad;
      const Index oh0 = std::max<Index>(0, -dy), oh1 = std::max(oh0, std::min(ho, H - dy));  // rows inside
      for (Index j = 0; j < g.kernel_w; ++j) {
        const Index dx = j * g.dilation - g.pad, off = dy * W + dx;
        T* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * n;
        // Copy q in [q0, q1): inside the valid rows and reading inside the channel.
        const Index q0 = std::min(std::max(oh0 * W, -off), oh1 * W);
        const Index q1 = std::max(q0, std::min(oh1 * W, H * W - off));
        std::fill(row, row + q0, T(0));
        std::memcpy(row + q0, xc + q0 + off, static_cast<std::size_t>(q1 - q0) * sizeof(T));
        std::fill(row + q1, row + n, T(0));
        // Columns ow < -dx and ow >= W - dx read across the border.
        const Index left = std::min(W, std::max<Index>(0, -dx)), right = std::min(W, std::max<Index>(0, dx));
        if (left == 0 && right == 0) continue;
        for (Index oh = oh0; oh < oh1; ++oh) {
          T* r = row + oh * W;
          for (Index ow = 0; ow < left; ++ow) r[ow] = T(0);
          for (Index ow = W - right; ow < W; ++ow) r[ow] = T(0);
        }
      }
    }
  }
}

template <typename T>
void im2col(T* col, const T* x, const PatchGeometry& g) {
  const Index ho = g.out_h(), wo = g.out_w();
  if (g.stride == 1 && wo == g.width) {
    im2col_same_width(col, x, g);
    return;
  }
  for (Index c = 0; c < g.channels; ++c) {
    const T* xc = x + c * g.height * g.width;
    for (Index i = 0; i < g.kernel_h; ++i) {
      for (Index j = 0; j < g.kernel_w; ++j) {
        T* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * ho * wo;
        Index ow0, ow1;
        valid_range(j, g, ow0, ow1);
        for (Index oh = 0; oh < ho; ++oh) {
          T* dst = row + oh * wo;
          const Index ih = oh * g.stride - g.pad + i * g.dilation;
          if (ih < 0 || ih >= g.height) {
            std::fill(dst, dst + wo, T(0));
            continue;
          }
          const Index base = ih * g.width - g.pad + j * g.dilation;  // xc[base + ow*stride] is the pixel of ow
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
          const Index ih = oh * g.stride - g.pad + i * g.dilation;
          if (ih < 0 || ih >= g.height) continue;
          const T* src = row + oh * wo;
          const Index base = ih * g.width - g.pad + j * g.dilation;
          if (g.stride == 1) {  // a unit-stride loop the compiler vectorises
            T* dst = xc + base;
            for (Index ow = ow0; ow < ow1; ++ow) dst[ow] += src[ow];
          } else {
            for (Index ow = ow0; ow < ow1; ++ow) xc[base + ow * g.stride] += src[ow];
          }
        }
      }
    }
  }
}

}  // namespace glia
