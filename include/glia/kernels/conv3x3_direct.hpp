// glia/kernels/conv3x3_direct.hpp: direct 3x3 convolution (stride 1, padding 1) of one sample,
// vectorised along the image rows; no im2col.
//
//   y[o, h, w] = b[o] + sum_{c, i, j} wt[o, c, i, j] * x[c, h + i - 1, w + j - 1]   (x = 0 outside)
//
// Layout (row-major): x [Cin, H, W], wt [Cout, Cin, 3, 3], b [Cout] or null, y [Cout, H, W].
// Why: with im2col + GEMM every element of the column matrix (9x the input) is written, packed
// by the GEMM and used for only Cout multiply-adds, which for 16-32 channels leaves the GEMM
// far below peak. Here one loaded input packet serves CB output channels at once, and the
// input is read from cache nine times instead of being copied nine times.
//
// How:
//   conv3x3_pad copies x into xp [Cin, H+2, W+2] with a zero border, so that every tap is an
//   unaligned packet load without bounds checks; conv3x3_pack_weights reorders wt into
//   wp [Cout/CB blocks][Cin][9][CB] (then the Cout % CB remaining channels one by one), so
//   that the CB weights of a tap sit side by side;
//   conv3x3_direct then holds, for each output row and each run of NV packets along it, a
//   block of CB output channels in CB x NV packet registers, accumulates them over c, i, j
//   (one broadcast weight, NV loads and CB * NV fused multiply-adds per tap) and stores them.
// Applies when W is a multiple of the packet size (conv3x3_packet_size: 16 floats or 8 doubles
// at AVX-512, 8 or 4 at AVX2, 4 or 2 at SSE2, any W without vectorisation):
// conv3x3_direct_applies. The algorithm Rows3x3 of kernels/conv2d_algorithm.hpp, for the
// forward pass and the input gradient. Each output is summed by one thread in a fixed order
// (bias, then c, i, j), so results do not depend on the thread count.
// Dispatch: the kernel itself (conv3x3_direct.inc) is compiled once per instruction-set level
// and conv3x3_direct calls the one of kernel_instruction_set() (simd/level.hpp).
#pragma once

#include <algorithm>

#include "glia/simd/level.hpp"
#include "glia/tensor/shape.hpp"

namespace glia {

// The vector width in elements of T of the level the kernels run at (simd/level.hpp).
template <typename T>
Index conv3x3_packet_size() {
  return simd_lanes<T>(kernel_instruction_set());
}

// Output channels per register block.
constexpr Index kConv3x3Block = 8;

inline bool conv3x3_direct_applies(Index width, Index packet) { return width % packet == 0; }

// Size in elements of conv3x3_pad's output and of conv3x3_pack_weights' output.
inline Index conv3x3_padded_size(Index cin, Index h, Index w) { return cin * (h + 2) * (w + 2); }
inline Index conv3x3_packed_weights_size(Index cout, Index cin) { return cout * cin * 9; }

template <typename T>
void conv3x3_pad(T* xp, const T* x, Index cin, Index h, Index w) {
  const Index wp = w + 2;
  for (Index c = 0; c < cin; ++c) {
    T* plane = xp + c * (h + 2) * wp;
    std::fill(plane, plane + wp, T(0));
    for (Index r = 0; r < h; ++r) {
      T* row = plane + (r + 1) * wp;
      row[0] = T(0);
      std::copy(x + (c * h + r) * w, x + (c * h + r + 1) * w, row + 1);
      row[w + 1] = T(0);
    }
    std::fill(plane + (h + 1) * wp, plane + (h + 2) * wp, T(0));
  }
}

template <typename T>
void conv3x3_pack_weights(T* wp, const T* wt, Index cout, Index cin) {
  const Index full = cout / kConv3x3Block * kConv3x3Block;
  for (Index o0 = 0; o0 < full; o0 += kConv3x3Block)
    for (Index c = 0; c < cin; ++c)
      for (Index t = 0; t < 9; ++t)
        for (Index o = 0; o < kConv3x3Block; ++o) *wp++ = wt[((o0 + o) * cin + c) * 9 + t];
  for (Index o = full; o < cout; ++o)
    for (Index c = 0; c < cin; ++c)
      for (Index t = 0; t < 9; ++t) *wp++ = wt[(o * cin + c) * 9 + t];
}

}  // namespace glia

#define GLIA_SIMD_KERNELS "glia/kernels/conv3x3_direct.inc"
#include "glia/simd/foreach_level.inc"

namespace glia {

// y = conv(x) + b for one sample, from its padded input xp (conv3x3_pad) and packed weights wp
// (conv3x3_pack_weights), at kernel_instruction_set()'s level. Requires
// conv3x3_direct_applies(w, conv3x3_packet_size<T>()).
template <typename T>
void conv3x3_direct(T* y, const T* xp, const T* wp, const T* b, Index cin, Index cout, Index h, Index w) {
  GLIA_SIMD_DISPATCH(conv3x3_direct, y, xp, wp, b, cin, cout, h, w)
}

}  // namespace glia
