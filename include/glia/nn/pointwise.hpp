// glia/nn/pointwise.hpp: element-wise activations with PyTorch's semantics, Identity and Flatten.
//
// Pointwise<T, F>: any shape [N, ...] (ShapeError for a scalar) -> the same shape,
//   y[k] = F::value(x[k]),   dx[k] = dy[k] * F::derivative(x[k], y[k]).
// Caches the input (shared storage) and its output, for backward. Has a per-sample kernel in
// every mode (nn/module.hpp), so the forward plan runs it inside its neighbours' loop. Values are
// computed in T, as PyTorch does; the derivatives follow PyTorch's backward formulas, also at
// the kinks (LeakyReLU at 0: slope; Hardswish at -3: 0, at 3: 1.5).
//   layer                      y                                        dy/dx
//   LeakyReLU(slope = 0.01)    x > 0 ? x : slope * x                    x > 0 ? 1 : slope
//   Sigmoid                    s = 1 / (1 + exp(-x))                    y * (1 - y)
//   Tanh                       tanh(x)                                  1 - y^2
//   GELU("none")               x/2 * (1 + erf(x / sqrt 2))              Phi(x) + x * phi(x)
//   GELU("tanh")               x/2 * (1 + tanh(u)),                     1/2 (1 + t) + x/2 (1 - t^2) u'
//                              u = sqrt(2/pi) (x + 0.044715 x^3)        (t = tanh u)
//   SiLU                       x * s(x)                                 s (1 + x (1 - s))
//   Hardswish                  x * min(max(x + 3, 0), 6) / 6            0 (x < -3), x/3 + 1/2 (x <= 3), 1
// Identity: y is x itself (no copy), dx is dy itself.
// Flatten: [N, d1, d2, ...] -> [N, d1*d2*...] (torch.nn.Flatten's default start_dim = 1), a view
//   of the input (no copy); dx is dy viewed in the input's shape. ShapeError for a scalar.
// ValueError: LeakyReLU's slope not finite; GELU's approximate not "none" or "tanh".
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include "glia/nn/module.hpp"

namespace glia {

template <typename T, typename F>
class Pointwise : public Module<T> {
 public:
  explicit Pointwise(F f = {}) : f_(f) {}
  const F& function() const { return f_; }

  std::string name() const override { return f_.name(); }
  Shape output_shape(const Shape& in) const override { return in; }
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override { return forward_by_sample(*this, x, mode); }
  bool samplewise(Mode) const override { return true; }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode) override {
    if (x.rank() == 0) throw ShapeError(detail::cat(name(), ": expected an input [N, ...], got a scalar"));
    x_ = x;
    y_.resize(x.shape());
    return y_;
  }
  void forward_sample(Index n) override {
    const Index per = x_.size() / x_.dim(0);
    const T* x = x_.data() + n * per;
    T* y = y_.data() + n * per;
    for (Index k = 0; k < per; ++k) y[k] = f_.value(x[k]);
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), x_.shape());
    dx_.resize(x_.shape());
    const Index per = x_.size() / x_.dim(0);
    parallel_for(x_.dim(0), [&](Index n) {
      for (Index k = n * per; k < (n + 1) * per; ++k) dx_[k] = dy[k] * f_.derivative(x_[k], y_[k]);
    });
    return dx_;
  }

 private:
  F f_;
  Tensor<T> x_, y_, dx_;
};

// --- The functions ---------------------------------------------------------------------------

struct LeakyReLUFunction {
  double slope = 0.01;
  std::string name() const { return detail::cat("LeakyReLU(", slope, ")"); }
  template <typename T>
  T value(T x) const { return x > T(0) ? x : static_cast<T>(slope) * x; }
  template <typename T>
  T derivative(T x, T) const { return x > T(0) ? T(1) : static_cast<T>(slope); }
};

struct SigmoidFunction {
  std::string name() const { return "Sigmoid"; }
  template <typename T>
  T value(T x) const { return T(1) / (T(1) + std::exp(-x)); }
  template <typename T>
  T derivative(T, T y) const { return y * (T(1) - y); }
};

struct TanhFunction {
  std::string name() const { return "Tanh"; }
  template <typename T>
  T value(T x) const { return std::tanh(x); }
  template <typename T>
  T derivative(T, T y) const { return T(1) - y * y; }
};

struct GELUFunction {
  bool tanh_form = false;  // approximate = "tanh"
  std::string name() const { return tanh_form ? "GELU(tanh)" : "GELU"; }
  template <typename T>
  T value(T x) const {
    if (tanh_form) return T(0.5) * x * (T(1) + std::tanh(inner(x)));
    return T(0.5) * x * (T(1) + std::erf(x * static_cast<T>(kSqrtHalf)));
  }
  template <typename T>
  T derivative(T x, T) const {
    if (tanh_form) {
      const T t = std::tanh(inner(x));
      const T du = static_cast<T>(kBeta) * (T(1) + T(3) * static_cast<T>(kKappa) * x * x);
      return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du;
    }
    const T cdf = T(0.5) * (T(1) + std::erf(x * static_cast<T>(kSqrtHalf)));
    const T pdf = std::exp(T(-0.5) * x * x) * static_cast<T>(kInvSqrt2Pi);
    return cdf + x * pdf;
  }

 private:
  static constexpr double kBeta = 0.7978845608028654;  // sqrt(2 / pi)
  static constexpr double kSqrtHalf = 0.7071067811865476;
  static constexpr double kInvSqrt2Pi = 0.3989422804014327;
  static constexpr double kKappa = 0.044715;
  template <typename T>
  static T inner(T x) {
    return static_cast<T>(kBeta) * (x + static_cast<T>(kKappa) * x * x * x);
  }
};

struct SiLUFunction {
  std::string name() const { return "SiLU"; }
  template <typename T>
  T value(T x) const { return x / (T(1) + std::exp(-x)); }
  template <typename T>
  T derivative(T x, T) const {
    const T s = T(1) / (T(1) + std::exp(-x));
    return s * (T(1) + x * (T(1) - s));
  }
};

struct HardswishFunction {
  std::string name() const { return "Hardswish"; }
  template <typename T>
  T value(T x) const { return x * std::min(std::max(x + T(3), T(0)), T(6)) / T(6); }
  template <typename T>
  T derivative(T x, T) const {
    if (x < T(-3)) return T(0);
    if (x <= T(3)) return x / T(3) + T(0.5);
    return T(1);
  }
};

// --- The layers ------------------------------------------------------------------------------

template <typename T>
class LeakyReLU : public Pointwise<T, LeakyReLUFunction> {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : Pointwise<T, LeakyReLUFunction>(LeakyReLUFunction{checked(negative_slope)}) {}

 private:
  static double checked(double slope) {
    if (!std::isfinite(slope)) throw ValueError(detail::cat("LeakyReLU: negative_slope must be finite, got ", slope));
    return slope;
  }
};

template <typename T>
using Sigmoid = Pointwise<T, SigmoidFunction>;
template <typename T>
using Tanh = Pointwise<T, TanhFunction>;
template <typename T>
using SiLU = Pointwise<T, SiLUFunction>;
template <typename T>
using Hardswish = Pointwise<T, HardswishFunction>;

template <typename T>
class GELU : public Pointwise<T, GELUFunction> {
 public:
  explicit GELU(const std::string& approximate = "none") : Pointwise<T, GELUFunction>(GELUFunction{parse(approximate)}) {}

 private:
  static bool parse(const std::string& approximate) {
    if (approximate == "none") return false;
    if (approximate == "tanh") return true;
    throw ValueError(detail::cat("GELU: approximate must be 'none' or 'tanh', got '", approximate, "'"));
  }
};

template <typename T>
class Identity : public Module<T> {
 public:
  std::string name() const override { return "Identity"; }
  Shape output_shape(const Shape& in) const override { return in; }
  const Tensor<T>& forward(const Tensor<T>& x, Mode) override {
    shape_ = x.shape();
    return x;
  }
  bool samplewise(Mode) const override { return true; }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode mode) override { return forward(x, mode); }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), shape_);
    return dy;
  }

 private:
  Shape shape_;
};

template <typename T>
class Flatten : public Module<T> {
 public:
  std::string name() const override { return "Flatten"; }
  Shape output_shape(const Shape& in) const override {
    if (in.rank() == 0) throw ShapeError(detail::cat(name(), ": expected an input [N, ...], got a scalar"));
    return Shape{in[0], in[0] ? in.numel() / in[0] : 0};
  }
  const Tensor<T>& forward(const Tensor<T>& x, Mode) override {
    y_ = x.view(output_shape(x.shape()));
    in_shape_ = x.shape();
    return y_;
  }
  bool samplewise(Mode) const override { return true; }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode mode) override { return forward(x, mode); }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), y_.shape());
    dx_ = dy.view(in_shape_);
    return dx_;
  }

 private:
  Shape in_shape_;
  Tensor<T> y_, dx_;
};

}  // namespace glia
