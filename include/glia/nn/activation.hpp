// glia/nn/activation.hpp: ReLU and Dropout (element-wise; kernels/elementwise.hpp).
//
// ReLU: any shape; y = max(x, 0). Caches the input; dx = dy where x > 0, else 0.
// Dropout(p): any shape [N, ...]. Train: each element is kept with probability 1-p and scaled
//   by 1/(1-p) (inverted dropout), so eval is the identity (forward returns its input and
//   backward its dy, without copying). The uint8 mask of sample n in the k-th training forward comes from
//   Rng::stream(seed, k, n): reproducible, and independent of the thread count. The seed is set
//   by the constructor or drawn by reset_parameters; calls() counts training forwards and can
//   be restored (set_calls) when resuming. ValueError unless 0 <= p < 1.
#pragma once

#include <cstdint>
#include <vector>

#include "glia/kernels/elementwise.hpp"
#include "glia/nn/module.hpp"

namespace glia {

template <typename T>
class ReLU : public Module<T> {
 public:
  std::string name() const override { return "ReLU"; }
  Shape output_shape(const Shape& in) const override { return in; }
  const Tensor<T>& forward(const Tensor<T>& x, Mode) override {
    x_ = x;
    y_.resize(x.shape());
    relu_forward(y_.data(), x.data(), x.size());
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), x_.shape());
    dx_.resize(x_.shape());
    relu_backward(dx_.data(), dy.data(), x_.data(), dy.size());
    return dx_;
  }

 private:
  Tensor<T> x_, y_, dx_;
};

template <typename T>
class Dropout : public Module<T> {
 public:
  explicit Dropout(double p, std::uint64_t seed = 0) : p_(p), seed_(seed) {
    if (!(p >= 0.0 && p < 1.0)) throw ValueError(detail::cat("Dropout: p must be in [0, 1), got ", p));
  }
  double p() const { return p_; }
  std::uint64_t calls() const { return calls_; }
  void set_calls(std::uint64_t k) { calls_ = k; }
  std::uint64_t seed() const { return seed_; }

  std::string name() const override { return detail::cat("Dropout(", p_, ")"); }
  Shape output_shape(const Shape& in) const override { return in; }
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override {
    train_ = mode == Mode::Train && p_ > 0;
    shape_ = x.shape();
    if (!train_) return x;
    const Index n = x.rank() ? x.dim(0) : 1, per = n ? x.size() / n : 0;
    mask_.resize(static_cast<std::size_t>(x.size()));
    const std::uint64_t call = calls_++;
    const double keep = 1.0 - p_;
    parallel_for(n, [&](Index i) {
      Rng rng = Rng::stream(seed_, call, static_cast<std::uint64_t>(i));
      for (Index k = i * per; k < (i + 1) * per; ++k) mask_[static_cast<std::size_t>(k)] = rng.uniform() < keep;
    });
    y_.resize(x.shape());
    dropout_apply(y_.data(), x.data(), mask_.data(), static_cast<T>(1.0 / keep), x.size());
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), shape_);
    if (!train_) return dy;
    dx_.resize(dy.shape());
    dropout_apply(dx_.data(), dy.data(), mask_.data(), static_cast<T>(1.0 / (1.0 - p_)), dy.size());
    return dx_;
  }
  void reset_parameters(Rng& rng) override { seed_ = rng.next(); }
  std::vector<std::pair<std::string, std::uint64_t*>> local_counters() override {
    return {{"seed", &seed_}, {"calls", &calls_}};
  }

 private:
  double p_;
  std::uint64_t seed_, calls_ = 0;
  bool train_ = false;
  Shape shape_;
  std::vector<std::uint8_t> mask_;
  Tensor<T> y_, dx_;
};

}  // namespace glia
