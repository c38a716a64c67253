// glia/kernels/conv3x3_lanes.hpp: direct 3x3 convolution kernels (stride 1, padding 1) for
// one sample with the output channels in the vector lanes; no im2col.
//
//   conv3x3_lanes_forward:  yt[h*W + w, o] = b[o] + sum_{c,i,j} x[c, h+i-1, w+j-1] * W[o, c, i, j]
//   conv3x3_weight_grad:    dW[o, c, i, j] += sum_{h,w} dY[o, h, w] * x[c, h+i-1, w+j-1]
//   (x = 0 outside the image)
//
// Layout (row-major): xp [Cin, H+2, W+2] = x with a zero border (conv3x3_pad); yt and dyt
// [H*W, Cout] = an output (gradient) transposed, pixels x channels (conv3x3_transpose);
// wt [Cin, 9, Cout] = weights or their gradient transposed, taps x channels
// (conv3x3_pack_lanes packs W into it; the weight gradient accumulates into it).
// Why: im2col + GEMM writes a column matrix 9x the input, which the GEMM packs again, and
// uses each of its elements for only Cout (16-32) multiply-adds: 33-49% of peak for the weight
// gradient. The row kernel of conv3x3_direct.hpp needs the image width to be a multiple of the
// packet (16 floats at AVX-512), which the 8x8 layers are not. With the channels in the lanes every
// product is a full-width fused multiply-add into a register whatever the image size, with no
// lane reductions; the price is a transpose of Cout*H*W elements.
// How: a block of NP packets of output channels, and
//   forward: PB pixels x NP packets of yt in registers; per input channel and tap, NP packet
//            loads of wt and one broadcast of xp per pixel;
//   weight gradient: NC input channels x 9 taps x NP packets of wt in registers, while every
//            pixel is visited: NP packet loads of dyt, then per tap one broadcast of xp.
// Applies when Cout is a multiple of the packet size (conv3x3_lanes_apply). The algorithm
// ChannelLanes3x3 of kernels/conv2d_algorithm.hpp, in all three directions. Every output is
// summed by one call in a fixed order (forward: bias, then c, i, j; weight gradient: pixels in
// row-major order on top of what wt holds), so results do not depend on the thread count.
// Dispatch: the kernels themselves (conv3x3_lanes.inc) are compiled once per instruction-set
// level, and conv3x3_lanes_forward / conv3x3_weight_grad call those of kernel_instruction_set()
// (simd/level.hpp).
#pragma once

#include <algorithm>

#include "glia/kernels/conv3x3_direct.hpp"

namespace glia {

inline bool conv3x3_lanes_apply(Index cout, Index packet) { return cout % packet == 0; }

// t [cols, rows] = m [rows, cols] transposed, in 16 x 16 tiles that stay in L1. (Not Eigen's
// transpose: with AVX-512 it trips GCC 12's false -Wuninitialized, GCC bug 105593.)
template <typename T>
void conv3x3_transpose(T* t, const T* m, Index rows, Index cols) {
  constexpr Index B = 16;
  for (Index r0 = 0; r0 < rows; r0 += B)
    for (Index c0 = 0; c0 < cols; c0 += B) {
      const Index r1 = std::min(rows, r0 + B), c1 = std::min(cols, c0 + B);
      for (Index c = c0; c < c1; ++c)
        for (Index r = r0; r < r1; ++r) t[c * rows + r] = m[r * cols + c];
    }
}

// wt [cin, 9, cout] from w [cout, cin, 3, 3]; flipped: from the flipped, transposed kernel of the
// input gradient instead, w being [cin, cout, 3, 3] of the forward layer (cin := its Cout):
// wt[o, t, c] = w[c, o, 8 - t].
template <typename T>
void conv3x3_pack_lanes(T* wt, const T* w, Index cout, Index cin, bool flipped) {
  for (Index c = 0; c < cin; ++c)
    for (Index t = 0; t < 9; ++t)
      for (Index o = 0; o < cout; ++o) wt[(c * 9 + t) * cout + o] = flipped ? w[(c * cout + o) * 9 + 8 - t] : w[(o * cin + c) * 9 + t];
}

}  // namespace glia

#define GLIA_SIMD_KERNELS "glia/kernels/conv3x3_lanes.inc"
#include "glia/simd/foreach_level.inc"

namespace glia {

// yt = conv(x) + b for one sample, transposed [H*W, Cout], from its padded input xp
// (conv3x3_pad) and weights packed by conv3x3_pack_lanes, at kernel_instruction_set()'s level.
// b may be null. Requires conv3x3_lanes_apply(cout, conv3x3_packet_size<T>()).
template <typename T>
void conv3x3_lanes_forward(T* yt, const T* xp, const T* wt, const T* b, Index cin, Index cout, Index h, Index w) {
  GLIA_SIMD_DISPATCH(conv3x3_lanes_forward, yt, xp, wt, b, cin, cout, h, w)
}

// wt += the weight gradient of one sample, from its transposed output gradient dyt
// (conv3x3_transpose) and padded input xp (conv3x3_pad), at kernel_instruction_set()'s level.
// Requires conv3x3_lanes_apply(cout, conv3x3_packet_size<T>()).
template <typename T>
void conv3x3_weight_grad(T* wt, const T* dyt, const T* xp, Index cin, Index cout, Index h, Index w) {
  GLIA_SIMD_DISPATCH(conv3x3_weight_grad, wt, dyt, xp, cin, cout, h, w)
}

}  // namespace glia
