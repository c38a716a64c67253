// glia/nn/pooling.hpp: MaxPool2d and GlobalAvgPool2d (see kernels/pool.hpp for the maths).
//
// MaxPool2d(k, s = k): [N, C, H, W] -> [N, C, (H-k)/s+1, (W-k)/s+1] (floor mode, no padding).
//   Caches the int32 argmax of every window, and the input (shared storage), for backward.
//   ShapeError if H or W < k.
// GlobalAvgPool2d: [N, C, H, W] -> [N, C, 1, 1]. Caches the input (shared storage).
// Both run sample by sample too (nn/module.hpp); forward alone splits the N*C planes instead.
#pragma once

#include <cstdint>
#include <vector>

#include "glia/kernels/pool.hpp"
#include "glia/nn/module.hpp"

namespace glia {

template <typename T>
class MaxPool2d : public Module<T> {
 public:
  explicit MaxPool2d(Index kernel, Index stride = 0) : k_(kernel), s_(stride ? stride : kernel) {
    if (kernel <= 0 || s_ <= 0) throw ValueError(detail::cat("MaxPool2d: invalid kernel ", kernel, " stride ", stride));
  }
  std::string name() const override { return detail::cat("MaxPool2d(k", k_, ", s", s_, ")"); }
  Shape output_shape(const Shape& in) const override {
    if (in.rank() != 4 || in[2] < k_ || in[3] < k_)
      throw ShapeError(detail::cat(name(), ": expected input [N,C,H,W] with H,W >= ", k_, ", got ", in));
    const PoolGeometry g = geometry(in);
    return Shape{in[0], in[1], g.out_h(), g.out_w()};
  }
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override {
    begin_forward(x, mode);
    maxpool2d_forward(y_.data(), argmax_.data(), x.data(), geometry(x_.shape()));  // parallel over N*C planes
    return y_;
  }
  bool samplewise(Mode) const override { return true; }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode) override {
    y_.resize(output_shape(x.shape()));
    x_ = x;
    argmax_.resize(static_cast<std::size_t>(y_.size()));
    return y_;
  }
  void forward_sample(Index n) override {
    const Index in = x_.size() / x_.dim(0), out = y_.size() / y_.dim(0);
    maxpool2d_forward(y_.data() + n * out, argmax_.data() + n * out, x_.data() + n * in,
                      PoolGeometry{x_.dim(1), x_.dim(2), x_.dim(3), k_, s_});
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), y_.shape());
    dx_.resize(x_.shape());
    maxpool2d_backward(dx_.data(), dy.data(), argmax_.data(), geometry(x_.shape()));
    return dx_;
  }

 private:
  PoolGeometry geometry(const Shape& in) const { return PoolGeometry{in[0] * in[1], in[2], in[3], k_, s_}; }
  Index k_, s_;
  std::vector<std::int32_t> argmax_;
  Tensor<T> x_, y_, dx_;
};

template <typename T>
class GlobalAvgPool2d : public Module<T> {
 public:
  std::string name() const override { return "GlobalAvgPool2d"; }
  Shape output_shape(const Shape& in) const override {
    if (in.rank() != 4 || in[2] * in[3] == 0)
      throw ShapeError(detail::cat(name(), ": expected input [N,C,H,W] with H,W > 0, got ", in));
    return Shape{in[0], in[1], 1, 1};
  }
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override {
    begin_forward(x, mode);
    global_avgpool_forward(y_.data(), x.data(), x.dim(0) * x.dim(1), x.dim(2) * x.dim(3));  // parallel over N*C planes
    return y_;
  }
  bool samplewise(Mode) const override { return true; }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode) override {
    y_.resize(output_shape(x.shape()));
    x_ = x;
    return y_;
  }
  void forward_sample(Index n) override {
    const Index c = x_.dim(1), hw = x_.dim(2) * x_.dim(3);
    global_avgpool_forward(y_.data() + n * c, x_.data() + n * c * hw, c, hw);
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), y_.shape());
    dx_.resize(x_.shape());
    global_avgpool_backward(dx_.data(), dy.data(), x_.dim(0) * x_.dim(1), x_.dim(2) * x_.dim(3));
    return dx_;
  }

 private:
  Tensor<T> x_, y_, dx_;
};

}  // namespace glia
