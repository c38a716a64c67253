// glia/nn/pooling.hpp: MaxPool2d and GlobalAvgPool2d (see kernels/pool.hpp for the maths).
//
// MaxPool2d(k, s = k): [N, C, H, W] -> [N, C, (H-k)/s+1, (W-k)/s+1] (floor mode, no padding).
//   Caches the int32 argmax of every window for backward. ShapeError if H or W < k.
// GlobalAvgPool2d: [N, C, H, W] -> [N, C, 1, 1]. Caches only the input shape.
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
  const Tensor<T>& forward(const Tensor<T>& x, Mode) override {
    y_.resize(output_shape(x.shape()));
    in_shape_ = x.shape();
    argmax_.resize(static_cast<std::size_t>(y_.size()));
    maxpool2d_forward(y_.data(), argmax_.data(), x.data(), geometry(in_shape_));
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), y_.shape());
    dx_.resize(in_shape_);
    maxpool2d_backward(dx_.data(), dy.data(), argmax_.data(), geometry(in_shape_));
    return dx_;
  }

 private:
  PoolGeometry geometry(const Shape& in) const { return PoolGeometry{in[0] * in[1], in[2], in[3], k_, s_}; }
  Index k_, s_;
  Shape in_shape_;
  std::vector<std::int32_t> argmax_;
  Tensor<T> y_, dx_;
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
  const Tensor<T>& forward(const Tensor<T>& x, Mode) override {
    y_.resize(output_shape(x.shape()));
    in_shape_ = x.shape();
    global_avgpool_forward(y_.data(), x.data(), x.dim(0) * x.dim(1), x.dim(2) * x.dim(3));
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), y_.shape());
    dx_.resize(in_shape_);
    global_avgpool_backward(dx_.data(), dy.data(), in_shape_[0] * in_shape_[1], in_shape_[2] * in_shape_[3]);
    return dx_;
  }

 private:
  Shape in_shape_;
  Tensor<T> y_, dx_;
};

}  // namespace glia
