// glia/data/resize.hpp: changing an image's size (bilinear) and channel count.
//
// Contract:
// - resize_bilinear(src, C, H, W, dst, OH, OW) resizes C planes of H x W (CHW, row-major) to
//   OH x OW into dst, like torch.nn.functional.interpolate(mode="bilinear",
//   align_corners=False, antialias=False), which is what torchvision's Resize([OH, OW],
//   antialias=False) does to a tensor: for an output row y the source row is
//   sy = max(0, (H / OH) * (y + 0.5) - 0.5) (the ratio H / OH a float, the rest in double, as
//   PyTorch's CPU kernel), rows floor(sy) and floor(sy) + 1 (the last row repeated at the
//   bottom edge) are mixed with weights 1 - f and f, f = sy - floor(sy), each rounded to float;
//   columns the same; out = wy0 (wx0 a + wx1 b) + wy1 (wx0 c + wx1 d) in float. PyTorch's
//   vectorised loops may sum in another order: results agree to about 1 float ulp (the tests
//   compare with golden values from tools/golden/make_resize_golden.py). Shrinking samples without low-pass filtering
//   (antialias=False): a 4x smaller image reads 4 of every 16 pixels.
//   The float overload takes and gives float planes; the uint8 overload computes the same
//   float values and rounds them to the nearest integer, ties to even (torch.round, which
//   torchvision applies before casting a resized uint8 tensor back). Same size: a copy.
//   ValueError for a size or channel count < 1. src and dst must not overlap. Nothing is
//   allocated but two small tables (OH + OW entries) per call.
// - interleaved_to_planes(src, comp, H, W, dst, C) turns an interleaved image of comp = 1..4
//   channels (what stb_image returns: gray, gray + alpha, RGB, RGBA) into C = 1 or 3 CHW planes:
//     comp 1 or 2 -> C 1: the gray value (alpha dropped);
//     comp 1 or 2 -> C 3: the gray value in all three planes (PIL's convert("RGB"));
//     comp 3 or 4 -> C 3: R, G, B (alpha dropped, not composited: PIL's convert("RGB"));
//     comp 3 or 4 -> C 1: the ITU-R 601-2 luma of PIL's convert("L") and torchvision's
//                         Grayscale, in integers: (19595 R + 38470 G + 7471 B + 32768) >> 16.
//   ValueError for another comp or C.
// - convert_planes(src, Cin, H, W, dst, Cout) does the same for CHW planes (Cin, Cout = 1 or 3;
//   gray replicated, or the luma of R, G, B; the same count is a copy).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/tensor/shape.hpp"

namespace glia {

namespace detail {

// One axis of a bilinear resize: for each output position, the two source positions and the
// weight of the second (PyTorch's area_pixel_compute_source_index, align_corners = false).
struct LinearTap {
  Index i0 = 0, i1 = 0;
  float w0 = 1, w1 = 0;
};

inline void linear_taps(Index in, Index out, std::vector<LinearTap>& taps) {
  taps.resize(static_cast<std::size_t>(out));
  const float ratio = static_cast<float>(in) / static_cast<float>(out);
  for (Index o = 0; o < out; ++o) {
    LinearTap& t = taps[static_cast<std::size_t>(o)];
    if (in == out) {
      t = {o, o, 1.0f, 0.0f};
      continue;
    }
    // As PyTorch 1.13 on the CPU: the float ratio times (o + 0.5) in double, negatives to 0,
    // the fraction in double, each weight rounded to float once.
    const double src = std::max(0.0, static_cast<double>(ratio) * (static_cast<double>(o) + 0.5) - 0.5);
    t.i0 = std::min(static_cast<Index>(src), in - 1);
    t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
    const double frac = std::min(1.0, src - static_cast<double>(t.i0));
    t.w1 = static_cast<float>(frac);
    t.w0 = static_cast<float>(1.0 - frac);
  }
}

inline void check_resize(Index C, Index H, Index W, Index OH, Index OW) {
  if (C < 1 || H < 1 || W < 1 || OH < 1 || OW < 1)
    throw ValueError(cat("resize_bilinear: cannot resize ", C, " planes of ", H, "x", W, " to ", OH, "x", OW));
}

inline float store_as(float v, float*) { return v; }
inline std::uint8_t store_as(float v, std::uint8_t*) {
  return static_cast<std::uint8_t>(std::min(255.0f, std::max(0.0f, std::nearbyint(v))));  // ties to even
}

template <typename In, typename Out>
void resize_planes(const In* src, Index C, Index H, Index W, Out* dst, Index OH, Index OW) {
  check_resize(C, H, W, OH, OW);
  std::vector<LinearTap> rows, cols;
  linear_taps(H, OH, rows);
  linear_taps(W, OW, cols);
  for (Index c = 0; c < C; ++c) {
    const In* p = src + c * H * W;
    Out* q = dst + c * OH * OW;
    for (Index y = 0; y < OH; ++y) {
      const LinearTap& r = rows[static_cast<std::size_t>(y)];
      const In* top = p + r.i0 * W;
      const In* bottom = p + r.i1 * W;
      for (Index x = 0; x < OW; ++x) {
        const LinearTap& k = cols[static_cast<std::size_t>(x)];
        const float t = k.w0 * static_cast<float>(top[k.i0]) + k.w1 * static_cast<float>(top[k.i1]);
        const float b = k.w0 * static_cast<float>(bottom[k.i0]) + k.w1 * static_cast<float>(bottom[k.i1]);
        q[y * OW + x] = store_as(r.w0 * t + r.w1 * b, q);
      }
    }
  }
}

}  // namespace detail

inline void resize_bilinear(const float* src, Index C, Index H, Index W, float* dst, Index OH, Index OW) {
  detail::resize_planes(src, C, H, W, dst, OH, OW);
}

inline void resize_bilinear(const std::uint8_t* src, Index C, Index H, Index W, std::uint8_t* dst, Index OH,
                            Index OW) {
  if (H == OH && W == OW && C >= 1 && H >= 1 && W >= 1) {
    std::copy(src, src + C * H * W, dst);
    return;
  }
  detail::resize_planes(src, C, H, W, dst, OH, OW);
}

// PIL's convert("L") luma in integers (ITU-R 601-2: 0.299 R + 0.587 G + 0.114 B, rounded).
inline std::uint8_t luma(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  return static_cast<std::uint8_t>((19595u * r + 38470u * g + 7471u * b + 0x8000u) >> 16);
}

inline void interleaved_to_planes(const std::uint8_t* src, int comp, Index H, Index W, std::uint8_t* dst, Index C) {
  if (comp < 1 || comp > 4 || (C != 1 && C != 3))
    throw ValueError(detail::cat("interleaved_to_planes: cannot turn ", comp, " interleaved channels into ", C));
  const Index plane = H * W;
  const bool colour = comp >= 3;
  // One loop per case, the tests outside: an image may have 2^26 pixels.
  if (C == 1 && colour) {
    for (Index p = 0; p < plane; ++p) dst[p] = luma(src[p * comp], src[p * comp + 1], src[p * comp + 2]);
  } else if (C == 1) {
    for (Index p = 0; p < plane; ++p) dst[p] = src[p * comp];
  } else {
    for (Index ch = 0; ch < 3; ++ch) {
      const Index from = colour ? ch : 0;
      for (Index p = 0; p < plane; ++p) dst[ch * plane + p] = src[p * comp + from];
    }
  }
}

inline void convert_planes(const std::uint8_t* src, Index Cin, Index H, Index W, std::uint8_t* dst, Index Cout) {
  if ((Cin != 1 && Cin != 3) || (Cout != 1 && Cout != 3))
    throw ValueError(detail::cat("convert_planes: cannot turn ", Cin, " channels into ", Cout));
  const Index plane = H * W;
  if (Cin == Cout) {
    std::copy(src, src + Cin * plane, dst);
  } else if (Cout == 3) {
    for (Index ch = 0; ch < 3; ++ch) std::copy(src, src + plane, dst + ch * plane);
  } else {
    for (Index p = 0; p < plane; ++p) dst[p] = luma(src[p], src[plane + p], src[2 * plane + p]);
  }
}

}  // namespace glia
