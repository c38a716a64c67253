// glia/kernels/regression_loss.hpp: losses between a prediction x and a target t of the same
// shape, M values, mean reduction (PyTorch's defaults). Each returns L and writes dx = dL/dx.
//   mse:                L = (1/M) sum (x - t)^2                      dx = 2 (x - t) / M
//   l1:                 L = (1/M) sum |x - t|                        dx = sign(x - t) / M  (0 at 0)
//   bce_with_logits:    L = (1/M) sum max(x, 0) - x t + log(1 + exp(-|x|))
//                                                                    dx = (sigmoid(x) - t) / M
//     (the log-sum-exp form of -t log s(x) - (1 - t) log(1 - s(x)): no overflow for any x)
// Sums in double, in index order (one thread: the losses are small next to the network).
#pragma once

#include <algorithm>
#include <cmath>

#include "glia/kernels/parallel.hpp"

namespace glia {

template <typename T>
T mse_loss(T* dx, const T* x, const T* t, Index m) {
  double loss = 0;
  for (Index i = 0; i < m; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(t[i]);
    loss += d * d;
    dx[i] = static_cast<T>(2.0 * d / static_cast<double>(m));
  }
  return static_cast<T>(loss / static_cast<double>(m));
}

template <typename T>
T l1_loss(T* dx, const T* x, const T* t, Index m) {
  double loss = 0;
  for (Index i = 0; i < m; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(t[i]);
    loss += std::abs(d);
    dx[i] = static_cast<T>((d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0) / static_cast<double>(m));
  }
  return static_cast<T>(loss / static_cast<double>(m));
}

template <typename T>
T bce_with_logits_loss(T* dx, const T* x, const T* t, Index m) {
  double loss = 0;
  for (Index i = 0; i < m; ++i) {
    const double v = x[i], target = t[i];
    loss += std::max(v, 0.0) - v * target + std::log1p(std::exp(-std::abs(v)));
    const double sigmoid = v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
    dx[i] = static_cast<T>((sigmoid - target) / static_cast<double>(m));
  }
  return static_cast<T>(loss / static_cast<double>(m));
}

}  // namespace glia
