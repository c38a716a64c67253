// glia/nn/activation.hpp: ReLU and Dropout (element-wise; kernels/elementwise.hpp).
//
// ReLU: any shape [N, ...]; y = max(x, 0). Caches the input; dx = dy where x > 0, else 0.
// Dropout(p): any shape [N, ...] (ShapeError for a scalar). Train: each element is kept with probability 1-p and scaled
//   by 1/(1-p) (inverted dropout), so eval is the identity (forward returns its input and
//   backward its dy, without copying). The uint8 mask of sample n in the k-th training forward comes from
//   Rng::stream(seed, k, n), n the sample's place in the global batch when the batch is a rank's
//   share of one (nn/module.hpp's set_batch_split): reproducible, and independent of the thread
//   count and of how the batch is divided between processes. The seed is set
//   by the constructor or drawn by reset_parameters; calls() counts training forwards and can
//   be restored (set_calls) when resuming. ValueError unless 0 <= p < 1.
// Both have per-sample kernels (nn/module.hpp) in every mode.
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
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override { return forward_by_sample(*this, x, mode); }
  bool samplewise(Mode) const override { return true; }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode) override {
    if (x.rank() == 0) throw ShapeError(detail::cat(name(), ": expected an input [N, ...] to run by sample, got a scalar"));
    x_ = x;
    y_.resize(x.shape());
    return y_;
  }
  void forward_sample(Index n) override {
    const Index per = x_.size() / x_.dim(0);
    relu_forward(y_.data() + n * per, x_.data() + n * per, per);
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
    if (x.rank() == 0) throw ShapeError(detail::cat(name(), ": expected an input [N, ...], got a scalar"));
    return forward_by_sample(*this, x, mode);
  }
  bool samplewise(Mode) const override { return true; }
  // Eval (or p = 0): the identity, returning x itself. Train: one more call, its masks drawn
  // sample by sample.
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode mode) override {
    train_ = mode == Mode::Train && p_ > 0;
    shape_ = x.shape();
    if (!train_) return x;
    x_ = x;
    mask_.resize(static_cast<std::size_t>(x.size()));
    call_ = calls_++;
    y_.resize(x.shape());
    return y_;
  }
  void forward_sample(Index n) override {
    if (!train_) return;
    const Index per = x_.size() / x_.dim(0), begin = n * per;
    const double keep = 1.0 - p_;
    std::uint8_t* mask = mask_.data() + begin;
    Rng rng = Rng::stream(seed_, call_, static_cast<std::uint64_t>(this->global_sample(n)));
    for (Index k = 0; k < per; ++k) mask[k] = rng.uniform() < keep;
    dropout_apply(y_.data() + begin, x_.data() + begin, mask, static_cast<T>(1.0 / keep), per);
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
  std::uint64_t seed_, calls_ = 0, call_ = 0;
  bool train_ = false;
  Shape shape_;
  std::vector<std::uint8_t> mask_;
  Tensor<T> x_, y_, dx_;
};

}  // namespace glia
