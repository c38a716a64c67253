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
// packet (16 floats), which the 8x8 layers are not. With the channels in the lanes every
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
#pragma once

#include <algorithm>

#include <Eigen/Core>

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

namespace detail {

template <typename T>
using LanesPacket = typename Eigen::internal::packet_traits<T>::type;

// Pixels p0 .. p0+PB-1 (row-major over the image), output channels o0 .. o0 + NP*packet - 1.
template <typename T, int PB, int NP>
void conv3x3_lanes_forward_block(T* yt, const T* xp, const T* wt, const T* b, Index cin, Index cout, Index h, Index w,
                                 Index p0, Index o0) {
  using Packet = LanesPacket<T>;
  using Eigen::internal::pmadd;
  using Eigen::internal::pset1;
  constexpr Index PS = conv3x3_packet_size<T>();
  const Index wpad = w + 2, plane = (h + 2) * wpad;
  Index at[PB];  // tap (0, 0) of each pixel in a padded plane
  for (int k = 0; k < PB; ++k) at[k] = (p0 + k) / w * wpad + (p0 + k) % w;
  Packet acc[PB][NP];
  for (int v = 0; v < NP; ++v) {
    const Packet bv = b ? Eigen::internal::ploadu<Packet>(b + o0 + v * PS) : pset1<Packet>(T(0));
    for (int k = 0; k < PB; ++k) acc[k][v] = bv;
  }
  for (Index c = 0; c < cin; ++c) {
    const T* xc = xp + c * plane;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        Packet wv[NP];
        for (int v = 0; v < NP; ++v) wv[v] = Eigen::internal::ploadu<Packet>(wt + (c * 9 + i * 3 + j) * cout + o0 + v * PS);
        for (int k = 0; k < PB; ++k) {
          const Packet xv = pset1<Packet>(xc[at[k] + i * wpad + j]);
          for (int v = 0; v < NP; ++v) acc[k][v] = pmadd(xv, wv[v], acc[k][v]);
        }
      }
  }
  for (int k = 0; k < PB; ++k)
    for (int v = 0; v < NP; ++v) Eigen::internal::pstoreu(yt + (p0 + k) * cout + o0 + v * PS, acc[k][v]);
}

// Input channels c0 .. c0+NC-1, output channels o0 .. o0 + NP*packet - 1.
template <typename T, int NC, int NP>
void conv3x3_weight_grad_block(T* wt, const T* dyt, const T* xp, Index cout, Index h, Index w, Index c0, Index o0) {
  using Packet = LanesPacket<T>;
  using Eigen::internal::pmadd;
  using Eigen::internal::pset1;
  constexpr Index PS = conv3x3_packet_size<T>();
  const Index wpad = w + 2, plane = (h + 2) * wpad;
  Packet acc[NC][9][NP];
  for (int c = 0; c < NC; ++c)
    for (int t = 0; t < 9; ++t)
      for (int v = 0; v < NP; ++v) acc[c][t][v] = Eigen::internal::ploadu<Packet>(wt + ((c0 + c) * 9 + t) * cout + o0 + v * PS);
  for (Index r = 0; r < h; ++r)
    for (Index x = 0; x < w; ++x) {
      Packet d[NP];
      for (int v = 0; v < NP; ++v) d[v] = Eigen::internal::ploadu<Packet>(dyt + (r * w + x) * cout + o0 + v * PS);
      for (int c = 0; c < NC; ++c) {
        const T* xr = xp + (c0 + c) * plane + r * wpad + x;  // tap (0, 0) of pixel (r, x)
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 3; ++j) {
            const Packet xv = pset1<Packet>(xr[i * wpad + j]);
            for (int v = 0; v < NP; ++v) acc[c][i * 3 + j][v] = pmadd(xv, d[v], acc[c][i * 3 + j][v]);
          }
      }
    }
  for (int c = 0; c < NC; ++c)
    for (int t = 0; t < 9; ++t)
      for (int v = 0; v < NP; ++v) Eigen::internal::pstoreu(wt + ((c0 + c) * 9 + t) * cout + o0 + v * PS, acc[c][t][v]);
}

// Blocks of two packets of output channels need 16-18 accumulators: only AVX-512 has the 32
// registers for them.
#ifdef EIGEN_VECTORIZE_AVX512
constexpr bool kLanesWide = true;
#else
constexpr bool kLanesWide = false;
#endif

template <typename T, int NP>
void conv3x3_lanes_forward_channels(T* yt, const T* xp, const T* wt, const T* b, Index cin, Index cout, Index h, Index w,
                                    Index o0) {
  constexpr int PB = (kLanesWide ? 16 : 8) / NP;  // accumulators PB * NP
  const Index P = h * w;
  Index p = 0;
  for (; p + PB <= P; p += PB) conv3x3_lanes_forward_block<T, PB, NP>(yt, xp, wt, b, cin, cout, h, w, p, o0);
  for (; p < P; ++p) conv3x3_lanes_forward_block<T, 1, NP>(yt, xp, wt, b, cin, cout, h, w, p, o0);
}

}  // namespace detail

// yt = conv(x) + b for one sample, transposed [H*W, Cout], from its padded input xp
// (conv3x3_pad) and weights packed by conv3x3_pack_lanes. b may be null. Requires
// conv3x3_lanes_apply(cout, conv3x3_packet_size<T>()).
template <typename T>
void conv3x3_lanes_forward(T* yt, const T* xp, const T* wt, const T* b, Index cin, Index cout, Index h, Index w) {
  constexpr Index PS = conv3x3_packet_size<T>();
  Index o0 = 0;
  if (detail::kLanesWide)
    for (; o0 + 2 * PS <= cout; o0 += 2 * PS) detail::conv3x3_lanes_forward_channels<T, 2>(yt, xp, wt, b, cin, cout, h, w, o0);
  for (; o0 < cout; o0 += PS) detail::conv3x3_lanes_forward_channels<T, 1>(yt, xp, wt, b, cin, cout, h, w, o0);
}

// wt += the weight gradient of one sample, from its transposed output gradient dyt
// (conv3x3_transpose) and padded input xp (conv3x3_pad). Requires
// conv3x3_lanes_apply(cout, conv3x3_packet_size<T>()).
template <typename T>
void conv3x3_weight_grad(T* wt, const T* dyt, const T* xp, Index cin, Index cout, Index h, Index w) {
  constexpr Index PS = conv3x3_packet_size<T>();
  Index o0 = 0;
  if (detail::kLanesWide)
    for (; o0 + 2 * PS <= cout; o0 += 2 * PS)
      for (Index c = 0; c < cin; ++c) detail::conv3x3_weight_grad_block<T, 1, 2>(wt, dyt, xp, cout, h, w, c, o0);
  for (; o0 < cout; o0 += PS) {
    Index c = 0;
    if (detail::kLanesWide)
      for (; c + 2 <= cin; c += 2) detail::conv3x3_weight_grad_block<T, 2, 1>(wt, dyt, xp, cout, h, w, c, o0);
    for (; c < cin; ++c) detail::conv3x3_weight_grad_block<T, 1, 1>(wt, dyt, xp, cout, h, w, c, o0);
  }
}

}  // namespace glia
