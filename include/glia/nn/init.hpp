// glia/nn/init.hpp: weight initialisation, seeded by a glia::Rng.
//
// fan_in / fan_out of a weight [out, in, kh, kw] (or [out, in]) are in*kh*kw / out*kh*kw.
//   xavier_uniform:  U(-a, a),  a = gain * sqrt(6 / (fan_in + fan_out))
//   xavier_normal:   N(0, s),   s = gain * sqrt(2 / (fan_in + fan_out))
//   kaiming_uniform: U(-b, b),  b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2))
//   kaiming_normal:  N(0, s),   s = gain / sqrt(fan_in)
// PyTorch's default for Conv2d and Linear is kaiming_uniform with a = sqrt(5) for the weight
// (bound 1/sqrt(fan_in)) and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias.
#pragma once

#include <cmath>

#include "glia/tensor/tensor.hpp"

namespace glia::init {

struct Fans {
  double in, out;
};

template <typename T>
Fans fans(const Tensor<T>& w) {
  if (w.rank() < 2) throw ShapeError(detail::cat("init: a weight needs at least 2 dimensions, got ", w.shape()));
  const double receptive = static_cast<double>(w.size() / (w.dim(0) * w.dim(1)));
  return {static_cast<double>(w.dim(1)) * receptive, static_cast<double>(w.dim(0)) * receptive};
}

template <typename T>
void xavier_uniform(Tensor<T>& w, Rng& rng, double gain = 1.0) {
  const Fans f = fans(w);
  const double a = gain * std::sqrt(6.0 / (f.in + f.out));
  w.uniform_(rng, -a, a);
}
template <typename T>
void xavier_normal(Tensor<T>& w, Rng& rng, double gain = 1.0) {
  const Fans f = fans(w);
  w.normal_(rng, 0.0, gain * std::sqrt(2.0 / (f.in + f.out)));
}
template <typename T>
void kaiming_uniform(Tensor<T>& w, Rng& rng, double a = 0.0) {
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double b = gain * std::sqrt(3.0 / fans(w).in);
  w.uniform_(rng, -b, b);
}
template <typename T>
void kaiming_normal(Tensor<T>& w, Rng& rng, double a = 0.0) {
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  w.normal_(rng, 0.0, gain / std::sqrt(fans(w).in));
}
// PyTorch's default for a layer with weight w and bias b (b may be empty).
template <typename T>
void torch_default(Tensor<T>& w, Tensor<T>& b, Rng& rng) {
  kaiming_uniform(w, rng, std::sqrt(5.0));
  const double bound = 1.0 / std::sqrt(fans(w).in);
  if (!b.empty()) b.uniform_(rng, -bound, bound);
}

}  // namespace glia::init
