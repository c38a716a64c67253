// glia/nn/conv_norm.hpp: ConvNorm, a convolution followed by a norm whose backward runs inside
// the convolution's backward.
//
// Contract: the same as Sequential{conv, norm}, values bit for bit (it is the same kernels on the
// same data), parameter and buffer names "conv.*" and "norm.*", children "conv" and "norm".
// Input [N, Cin, H, W] -> output of the norm, [N, Cout, Ho, Wo]; shapes are checked and
// reported by the two layers. The conv keeps its input and output for backward, the norm its
// statistics (and its fused ReLU's mask).
// Forward: the two layers' forwards; inside a model, the forward plan (nn/plan.hpp) runs the
// norm on each sample as soon as the convolution has written it, as it does for any layers with
// per-sample kernels. Backward: the norm's input gradient of sample n is computed (its
// backward_sample, nn/normalization.hpp) just before the convolution's backward reads it, in
// the convolution's own loop over the samples, instead of in a pass of its own.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "glia/nn/conv2d.hpp"
#include "glia/nn/normalization.hpp"

namespace glia {

template <typename T>
class ConvNorm : public Module<T> {
 public:
  ConvNorm(std::unique_ptr<Conv2d<T>> conv, std::unique_ptr<AffineNorm<T>> norm)
      : conv_(std::move(conv)), norm_(std::move(norm)) {
    if (!conv_ || !norm_) throw ValueError("ConvNorm: needs a convolution and a norm");
  }

  Conv2d<T>& conv() { return *conv_; }
  AffineNorm<T>& norm() { return *norm_; }

  std::string name() const override { return conv_->name() + " + " + norm_->name(); }
  Shape output_shape(const Shape& in) const override { return norm_->output_shape(conv_->output_shape(in)); }

  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override { return norm_->forward(conv_->forward(x, mode), mode); }
  // For the forward plan (nn/plan.hpp), which runs the norm on each sample of the
  // convolution's output in the same loop.
  void describe(PlanBuilder<T>& builder, const std::string& path) override {
    conv_->describe(builder, join_name(path, "conv"));
    norm_->describe(builder, join_name(path, "norm"));
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    norm_->begin_backward(dy);
    const Tensor<T>& dx = conv_->backward(norm_->input_grad(), [this](Index n) { norm_->backward_sample(n); });
    norm_->end_backward();
    return dx;
  }

  void collect(const std::string& prefix, std::vector<NamedParameter<T>>& params,
               std::vector<NamedBuffer<T>>& buffers) override {
    conv_->collect(join_name(prefix, "conv"), params, buffers);
    norm_->collect(join_name(prefix, "norm"), params, buffers);
  }
  std::vector<std::pair<std::string, Module<T>*>> children() override {
    return {{"conv", conv_.get()}, {"norm", norm_.get()}};
  }
  void reset_parameters(Rng& rng) override {
    conv_->reset_parameters(rng);
    norm_->reset_parameters(rng);
  }
  void set_needs_input_grad(bool needed) override {
    this->needs_input_grad_ = needed;
    conv_->set_needs_input_grad(needed);
  }

 private:
  std::unique_ptr<Conv2d<T>> conv_;
  std::unique_ptr<AffineNorm<T>> norm_;
};

}  // namespace glia
