// glia/kernels/pool.hpp: max pooling and global average pooling.
//
// Max pooling, window k x k, stride s, no padding, floor mode (as PyTorch's default):
//   x [N, C, H, W] -> y [N, C, Ho, Wo],  Ho = (H - k) / s + 1,  Wo = (W - k) / s + 1
//   y[n,c,oh,ow] = max_{i,j < k} x[n,c,oh*s+i,ow*s+j];  argmax (int32, index into the H*W plane)
//   keeps the first maximum in row-major window order (PyTorch's rule); a NaN wins, so NaN
//   propagates. Backward: dx = 0, then dx[n,c,argmax] += dy[n,c,oh,ow] (overlapping windows
//   add up).
// Global average pooling: y[n,c] = (1/HW) sum_hw x[n,c,hw];  dx[n,c,hw] = dy[n,c] / HW.
// Average pooling (PyTorch's avg_pool2d, floor mode), window k x k, stride s, zero padding p
// (p <= k/2): Ho = (H + 2p - k) / s + 1; y = (1/D) sum of the window's values inside the image,
// D = k*k (count_include_pad, the padding counted as zeros) or the number of values inside;
// dx[i] = sum over the windows w holding i of dy[w] / D_w.
// Adaptive average pooling to Ho x Wo: output row i averages input rows
// [floor(i H / Ho), ceil((i + 1) H / Ho)) (columns alike); backward spreads dy / count.
// Nearest upsampling by 2: y[2h + a, 2w + b] = x[h, w] (a, b in {0, 1});
// dx[h, w] = the sum of those four dy.
// Parallel over the N*C planes, which are disjoint: no reduction across threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "glia/kernels/parallel.hpp"
#include "glia/simd/level.hpp"

#define GLIA_SIMD_KERNELS "glia/kernels/maxpool2x2.inc"
#include "glia/simd/foreach_level.inc"

namespace glia {
namespace detail {
// One plane of maxpool2d_forward_2x2 at kernel_instruction_set()'s level: y and argmax [ho, wo],
// x [height, width] of the given width.
template <typename T>
void maxpool2x2_plane(T* y, std::int32_t* argmax, const T* x, Index ho, Index wo, Index width) {
  GLIA_SIMD_DISPATCH(maxpool2x2_plane, y, argmax, x, ho, wo, width)
}
}  // namespace detail

struct PoolGeometry {
  Index planes, height, width, kernel, stride;  // planes = N*C
  Index out_h() const { return (height - kernel) / stride + 1; }
  Index out_w() const { return (width - kernel) / stride + 1; }
};

// The reference: every window scanned in row-major order, parallel over planes.
template <typename T>
void maxpool2d_forward_reference(T* y, std::int32_t* argmax, const T* x, const PoolGeometry& g) {
  const Index ho = g.out_h(), wo = g.out_w(), hw = g.height * g.width;
  parallel_for(g.planes, [&](Index p) {
    const T* xp = x + p * hw;
    for (Index oh = 0; oh < ho; ++oh)
      for (Index ow = 0; ow < wo; ++ow) {
        Index best = oh * g.stride * g.width + ow * g.stride;
        T vbest = xp[best];
        for (Index i = 0; i < g.kernel; ++i)
          for (Index j = 0; j < g.kernel; ++j) {
            const Index idx = (oh * g.stride + i) * g.width + ow * g.stride + j;
            const T v = xp[idx];
            if (v > vbest || (std::isnan(v) && !std::isnan(vbest))) {
              vbest = v;
              best = idx;
            }
          }
        const Index o = p * ho * wo + oh * wo + ow;
        y[o] = vbest;
        argmax[o] = static_cast<std::int32_t>(best);
      }
  });
}

// The fast path of the common 2x2 window, stride 2, without the window loops
// (maxpool2x2.inc, per instruction-set level: compiled for SSE2 alone its comparisons stay
// branches, which mispredict on real data and ran 10x slower than the AVX2 build).
template <typename T>
void maxpool2d_forward_2x2(T* y, std::int32_t* argmax, const T* x, const PoolGeometry& g) {
  const Index ho = g.out_h(), wo = g.out_w(), hw = g.height * g.width;
  parallel_for(g.planes, [&](Index p) {
    detail::maxpool2x2_plane(y + p * ho * wo, argmax + p * ho * wo, x + p * hw, ho, wo, g.width);
  });
}

template <typename T>
void maxpool2d_forward(T* y, std::int32_t* argmax, const T* x, const PoolGeometry& g) {
  if (g.kernel == 2 && g.stride == 2)
    maxpool2d_forward_2x2(y, argmax, x, g);
  else
    maxpool2d_forward_reference(y, argmax, x, g);
}

template <typename T>
void maxpool2d_backward(T* dx, const T* dy, const std::int32_t* argmax, const PoolGeometry& g) {
  const Index out = g.out_h() * g.out_w(), hw = g.height * g.width;
  parallel_for(g.planes, [&](Index p) {
    T* dxp = dx + p * hw;
    std::fill(dxp, dxp + hw, T(0));
    for (Index o = p * out; o < (p + 1) * out; ++o) dxp[argmax[o]] += dy[o];
  });
}

template <typename T>
void global_avgpool_forward(T* y, const T* x, Index planes, Index hw) {
  parallel_for(planes, [&](Index p) {
    T s = 0;
    for (Index i = 0; i < hw; ++i) s += x[p * hw + i];
    y[p] = s / static_cast<T>(hw);
  });
}

template <typename T>
void global_avgpool_backward(T* dx, const T* dy, Index planes, Index hw) {
  parallel_for(planes, [&](Index p) {
    const T g = dy[p] / static_cast<T>(hw);
    std::fill(dx + p * hw, dx + (p + 1) * hw, g);
  });
}

struct AvgPoolGeometry {
  Index planes, height, width, kernel, stride, padding;
  bool count_include_pad;
  Index out_h() const { return (height + 2 * padding - kernel) / stride + 1; }
  Index out_w() const { return (width + 2 * padding - kernel) / stride + 1; }
};

// f(h0, h1, w0, w1, divisor, o) for every output o of plane p: the window clipped to the image.
template <typename F>
void for_each_avgpool_window(const AvgPoolGeometry& g, Index p, F&& f) {
  const Index ho = g.out_h(), wo = g.out_w();
  for (Index oh = 0; oh < ho; ++oh)
    for (Index ow = 0; ow < wo; ++ow) {
      const Index h0 = oh * g.stride - g.padding, w0 = ow * g.stride - g.padding;
      const Index h1 = std::min(h0 + g.kernel, g.height), w1 = std::min(w0 + g.kernel, g.width);
      const Index hs = std::max<Index>(h0, 0), ws = std::max<Index>(w0, 0);
      const Index divisor = g.count_include_pad ? g.kernel * g.kernel : (h1 - hs) * (w1 - ws);
      f(hs, h1, ws, w1, divisor, (p * ho + oh) * wo + ow);
    }
}

template <typename T>
void avgpool2d_forward(T* y, const T* x, const AvgPoolGeometry& g) {
  parallel_for(g.planes, [&](Index p) {
    const T* xp = x + p * g.height * g.width;
    for_each_avgpool_window(g, p, [&](Index h0, Index h1, Index w0, Index w1, Index divisor, Index o) {
      T s = 0;
      for (Index h = h0; h < h1; ++h)
        for (Index w = w0; w < w1; ++w) s += xp[h * g.width + w];
      y[o] = s / static_cast<T>(divisor);
    });
  });
}

template <typename T>
void avgpool2d_backward(T* dx, const T* dy, const AvgPoolGeometry& g) {
  const Index hw = g.height * g.width;
  parallel_for(g.planes, [&](Index p) {
    T* dxp = dx + p * hw;
    std::fill(dxp, dxp + hw, T(0));
    for_each_avgpool_window(g, p, [&](Index h0, Index h1, Index w0, Index w1, Index divisor, Index o) {
      const T share = dy[o] / static_cast<T>(divisor);
      for (Index h = h0; h < h1; ++h)
        for (Index w = w0; w < w1; ++w) dxp[h * g.width + w] += share;
    });
  });
}

// The rows [begin, end) that adaptive pooling averages for output row i of n from an extent of m.
inline Index adaptive_begin(Index i, Index n, Index m) { return (i * m) / n; }
inline Index adaptive_end(Index i, Index n, Index m) { return ((i + 1) * m + n - 1) / n; }

template <typename T>
void adaptive_avgpool2d_forward(T* y, const T* x, Index planes, Index h, Index w, Index ho, Index wo) {
  parallel_for(planes, [&](Index p) {
    for (Index i = 0; i < ho; ++i)
      for (Index j = 0; j < wo; ++j) {
        const Index h0 = adaptive_begin(i, ho, h), h1 = adaptive_end(i, ho, h);
        const Index w0 = adaptive_begin(j, wo, w), w1 = adaptive_end(j, wo, w);
        T s = 0;
        for (Index a = h0; a < h1; ++a)
          for (Index b = w0; b < w1; ++b) s += x[(p * h + a) * w + b];
        y[(p * ho + i) * wo + j] = s / static_cast<T>((h1 - h0) * (w1 - w0));
      }
  });
}

template <typename T>
void adaptive_avgpool2d_backward(T* dx, const T* dy, Index planes, Index h, Index w, Index ho, Index wo) {
  parallel_for(planes, [&](Index p) {
    std::fill(dx + p * h * w, dx + (p + 1) * h * w, T(0));
    for (Index i = 0; i < ho; ++i)
      for (Index j = 0; j < wo; ++j) {
        const Index h0 = adaptive_begin(i, ho, h), h1 = adaptive_end(i, ho, h);
        const Index w0 = adaptive_begin(j, wo, w), w1 = adaptive_end(j, wo, w);
        const T share = dy[(p * ho + i) * wo + j] / static_cast<T>((h1 - h0) * (w1 - w0));
        for (Index a = h0; a < h1; ++a)
          for (Index b = w0; b < w1; ++b) dx[(p * h + a) * w + b] += share;
      }
  });
}

template <typename T>
void upsample_nearest2x_forward(T* y, const T* x, Index planes, Index h, Index w) {
  parallel_for(planes, [&](Index p) {
    for (Index i = 0; i < 2 * h; ++i)
      for (Index j = 0; j < 2 * w; ++j) y[(p * 2 * h + i) * 2 * w + j] = x[(p * h + i / 2) * w + j / 2];
  });
}

template <typename T>
void upsample_nearest2x_backward(T* dx, const T* dy, Index planes, Index h, Index w) {
  parallel_for(planes, [&](Index p) {
    for (Index i = 0; i < h; ++i)
      for (Index j = 0; j < w; ++j) {
        const T* d = dy + (p * 2 * h + 2 * i) * 2 * w + 2 * j;
        dx[(p * h + i) * w + j] = (d[0] + d[1]) + (d[2 * w] + d[2 * w + 1]);
      }
  });
}

}  // namespace glia
