// glia/nn/conv_norm.hpp: ConvNorm, a convolution followed by a norm, the norm run on each sample
// of the convolution's output while that sample is still in cache.
//
// Contract: the same as Sequential{conv, norm}, values bit for bit (it is the same kernels on the
// same data), parameter and buffer names "conv.*" and "norm.*", children "conv" and "norm".
// Input [N, Cin, H, W] -> output of the norm, [N, Cout, Ho, Wo]; shapes are checked and
// reported by the two layers. The conv keeps its input and output for backward, the norm its
// statistics (and its fused ReLU's mask).
// The norm runs sample by sample (the protocol of nn/normalization.hpp) inside the
// convolution's loops: forward normalises sample n as soon as the convolution has written it,
// instead of reading the whole output back from memory, and backward computes the norm's input
// gradient of sample n just before the convolution's backward reads it. A norm that needs batch
// statistics (BatchNorm2d in training mode) gathers sample n's share of them there instead, and
// normalises every sample after the convolution, each sample on the thread that computed it
// where the schedule allows; otherwise ConvNorm itself runs sample by sample (nn/module.hpp).
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

  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override {
    if (samplewise(mode)) return forward_by_sample(*this, x, mode);
    begin_forward_both(x, mode);
    parallel_for(x.dim(0), [this](Index n) {
      conv_->forward_sample(n);
      norm_->gather_sample(n);
    });
    norm_->end_gather();
    parallel_for(x.dim(0), [this](Index n) { norm_->forward_sample(n); });
    return norm_->output();
  }
  // Sample by sample (nn/module.hpp) unless the norm needs the whole batch's statistics first.
  bool samplewise(Mode mode) const override { return !norm_->gathers_statistics(mode); }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode mode) override {
    if (!samplewise(mode)) return Module<T>::begin_forward(x, mode);  // throws
    return begin_forward_both(x, mode);
  }
  void forward_sample(Index n) override {
    conv_->forward_sample(n);
    norm_->forward_sample(n);
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
  const Tensor<T>& begin_forward_both(const Tensor<T>& x, Mode mode) {
    return norm_->begin_forward(conv_->begin_forward(x, mode), mode);
  }

  std::unique_ptr<Conv2d<T>> conv_;
  std::unique_ptr<AffineNorm<T>> norm_;
};

}  // namespace glia
