// glia/kernels/pool.hpp: max pooling and global average pooling.
//
// Max pooling, window k x k, stride s, no padding, floor mode (as PyTorch's default):
//   x [N, C, H, W] -> y [N, C, Ho, Wo],  Ho = (H - k) / s + 1,  Wo = (W - k) / s + 1
//   y[n,c,oh,ow] = max_{i,j < k} x[n,c,oh*s+i,ow*s+j];  argmax (int32, index into the H*W plane)
//   keeps the first maximum in row-major window order (PyTorch's rule); a NaN wins, so NaN
//   propagates. Backward: dx = 0, then dx[n,c,argmax] += dy[n,c,oh,ow] (overlapping windows
//   add up).
// Global average pooling: y[n,c] = (1/HW) sum_hw x[n,c,hw];  dx[n,c,hw] = dy[n,c] / HW.
// Parallel over the N*C planes, which are disjoint: no reduction across threads.
#pragma once

#include <cmath>
#include <cstdint>

#include "glia/kernels/parallel.hpp"

namespace glia {

struct PoolGeometry {
  Index planes, height, width, kernel, stride;  // planes = N*C
  Index out_h() const { return (height - kernel) / stride + 1; }
  Index out_w() const { return (width - kernel) / stride + 1; }
};

template <typename T>
void maxpool2d_forward(T* y, std::int32_t* argmax, const T* x, const PoolGeometry& g) {
  const Index ho = g.out_h(), wo = g.out_w(), hw = g.height * g.width;
  if (g.kernel == 2 && g.stride == 2) {  // the common case, without the window loops
    parallel_for(g.planes, [&](Index p) {
      const T* xp = x + p * hw;
      for (Index oh = 0; oh < ho; ++oh)
        for (Index ow = 0; ow < wo; ++ow) {
          const Index i0 = 2 * oh * g.width + 2 * ow, i1 = i0 + 1, i2 = i0 + g.width, i3 = i2 + 1;
          Index best = i0;
          if (xp[i1] > xp[best] || (std::isnan(xp[i1]) && !std::isnan(xp[best]))) best = i1;
          if (xp[i2] > xp[best] || (std::isnan(xp[i2]) && !std::isnan(xp[best]))) best = i2;
          if (xp[i3] > xp[best] || (std::isnan(xp[i3]) && !std::isnan(xp[best]))) best = i3;
          const Index o = p * ho * wo + oh * wo + ow;
          y[o] = xp[best];
          argmax[o] = static_cast<std::int32_t>(best);
        }
    });
    return;
  }
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

}  // namespace glia
