// glia/nn/pooling.hpp: MaxPool2d and GlobalAvgPool2d (see kernels/pool.hpp for the maths).
//
// MaxPool2d(k, s = k): [N, C, H, W] -> [N, C, (H-k)/s+1, (W-k)/s+1] (floor mode, no padding).
//   Caches the int32 argmax of every window, and the input (shared storage), for backward.
//   ShapeError if H or W < k.
// GlobalAvgPool2d: [N, C, H, W] -> [N, C, 1, 1]. Caches the input (shared storage).
// AvgPool2d(k, s = k, p = 0, count_include_pad = true): [N, C, H, W] -> [N, C, (H+2p-k)/s+1,
//   (W+2p-k)/s+1], PyTorch's avg_pool2d (floor mode). ValueError unless k, s > 0 and 0 <= p <= k/2;
//   ShapeError if H + 2p or W + 2p < k.
// AdaptiveAvgPool2d(Ho, Wo): [N, C, H, W] -> [N, C, Ho, Wo], PyTorch's adaptive_avg_pool2d.
// Upsample(scale_factor = 2, mode = "nearest"): [N, C, H, W] -> [N, C, 2H, 2W]; only that
//   scale and mode (ValueError otherwise).
// The last three cache the input (shared storage); their maths is in kernels/pool.hpp.
// Both have per-sample kernels (nn/module.hpp); backward is parallel over the N*C planes.
#pragma once

#include <cstdint>
#include <string>
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
  Index kernel() const { return k_; }
  Index stride() const { return s_; }
  std::string name() const override { return detail::cat("MaxPool2d(k", k_, ", s", s_, ")"); }
  Shape output_shape(const Shape& in) const override {
    if (in.rank() != 4 || in[2] < k_ || in[3] < k_)
      throw ShapeError(detail::cat(name(), ": expected input [N,C,H,W] with H,W >= ", k_, ", got ", in));
    const PoolGeometry g = geometry(in);
    return Shape{in[0], in[1], g.out_h(), g.out_w()};
  }
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override { return forward_by_sample(*this, x, mode); }
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
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override { return forward_by_sample(*this, x, mode); }
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

// The shared part of the layers whose output plane (n, c) depends on input plane (n, c) alone:
// the per-sample kernel, the caches and the shape check of dy. A layer gives output_shape and
// the kernels over a run of planes of its input's geometry.
template <typename T>
class PlanewiseLayer : public Module<T> {
 public:
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override { return forward_by_sample(*this, x, mode); }
  bool samplewise(Mode) const override { return true; }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode) override {
    y_.resize(this->output_shape(x.shape()));
    x_ = x;
    return y_;
  }
  void forward_sample(Index n) override {
    const Index in = x_.size() / x_.dim(0), out = y_.size() / y_.dim(0);
    planes_forward(y_.data() + n * out, x_.data() + n * in, x_.dim(1));
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), y_.shape());
    dx_.resize(x_.shape());
    planes_backward(dx_.data(), dy.data(), x_.dim(0) * x_.dim(1));
    return dx_;
  }

 protected:
  // The kernels over `planes` planes of x_'s height and width.
  virtual void planes_forward(T* y, const T* x, Index planes) const = 0;
  virtual void planes_backward(T* dx, const T* dy, Index planes) const = 0;
  void check_rank4(const Shape& in) const {
    if (in.rank() != 4 || in[2] <= 0 || in[3] <= 0)
      throw ShapeError(detail::cat(this->name(), ": expected input [N,C,H,W] with H,W > 0, got ", in));
  }
  Tensor<T> x_, y_, dx_;
};

template <typename T>
class AvgPool2d : public PlanewiseLayer<T> {
 public:
  explicit AvgPool2d(Index kernel, Index stride = 0, Index padding = 0, bool count_include_pad = true)
      : k_(kernel), s_(stride ? stride : kernel), p_(padding), include_pad_(count_include_pad) {
    if (k_ <= 0 || s_ <= 0 || p_ < 0 || 2 * p_ > k_)
      throw ValueError(detail::cat("AvgPool2d: invalid kernel ", kernel, ", stride ", stride, ", padding ", padding,
                                   " (padding must be at most half the kernel)"));
  }
  Index kernel() const { return k_; }
  Index stride() const { return s_; }
  Index padding() const { return p_; }
  bool count_include_pad() const { return include_pad_; }
  std::string name() const override {
    return detail::cat("AvgPool2d(k", k_, ", s", s_, ", p", p_, include_pad_ ? "" : ", count_include_pad=false", ")");
  }
  Shape output_shape(const Shape& in) const override {
    this->check_rank4(in);
    if (in[2] + 2 * p_ < k_ || in[3] + 2 * p_ < k_)
      throw ShapeError(detail::cat(name(), ": input ", in, " is smaller than the kernel"));
    const AvgPoolGeometry g = geometry(in, in[0] * in[1]);
    return Shape{in[0], in[1], g.out_h(), g.out_w()};
  }

 private:
  AvgPoolGeometry geometry(const Shape& in, Index planes) const {
    return AvgPoolGeometry{planes, in[2], in[3], k_, s_, p_, include_pad_};
  }
  void planes_forward(T* y, const T* x, Index planes) const override {
    avgpool2d_forward(y, x, geometry(this->x_.shape(), planes));
  }
  void planes_backward(T* dx, const T* dy, Index planes) const override {
    avgpool2d_backward(dx, dy, geometry(this->x_.shape(), planes));
  }
  Index k_, s_, p_;
  bool include_pad_;
};

template <typename T>
class AdaptiveAvgPool2d : public PlanewiseLayer<T> {
 public:
  AdaptiveAvgPool2d(Index out_h, Index out_w) : ho_(out_h), wo_(out_w) {
    if (out_h <= 0 || out_w <= 0) throw ValueError(detail::cat("AdaptiveAvgPool2d: invalid output size ", out_h, "x", out_w));
  }
  Index out_h() const { return ho_; }
  Index out_w() const { return wo_; }
  std::string name() const override { return detail::cat("AdaptiveAvgPool2d(", ho_, "x", wo_, ")"); }
  Shape output_shape(const Shape& in) const override {
    this->check_rank4(in);
    return Shape{in[0], in[1], ho_, wo_};
  }

 private:
  void planes_forward(T* y, const T* x, Index planes) const override {
    adaptive_avgpool2d_forward(y, x, planes, this->x_.dim(2), this->x_.dim(3), ho_, wo_);
  }
  void planes_backward(T* dx, const T* dy, Index planes) const override {
    adaptive_avgpool2d_backward(dx, dy, planes, this->x_.dim(2), this->x_.dim(3), ho_, wo_);
  }
  Index ho_, wo_;
};

template <typename T>
class Upsample : public PlanewiseLayer<T> {
 public:
  explicit Upsample(double scale_factor = 2, const std::string& mode = "nearest") {
    if (scale_factor != 2 || mode != "nearest")
      throw ValueError(detail::cat("Upsample: only scale_factor 2 with mode 'nearest' is implemented, got ", scale_factor,
                                   " and '", mode, "'"));
  }
  std::string name() const override { return "Upsample(2, nearest)"; }
  Shape output_shape(const Shape& in) const override {
    this->check_rank4(in);
    return Shape{in[0], in[1], 2 * in[2], 2 * in[3]};
  }

 private:
  void planes_forward(T* y, const T* x, Index planes) const override {
    upsample_nearest2x_forward(y, x, planes, this->x_.dim(2), this->x_.dim(3));
  }
  void planes_backward(T* dx, const T* dy, Index planes) const override {
    upsample_nearest2x_backward(dx, dy, planes, this->x_.dim(2), this->x_.dim(3));
  }
};

}  // namespace glia
