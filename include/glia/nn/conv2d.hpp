// glia/nn/conv2d.hpp: the Conv2d layer (see kernels/conv2d.hpp for the maths).
//
// Contract: input [N, Cin, H, W] -> output [N, Cout, Ho, Wo], Ho = (H + 2p - d(k-1) - 1)/s + 1
// with dilation d (1: adjacent taps). With groups G (Cin and Cout divisible by G; G = Cin is a
// depthwise convolution) output channel o sees only the Cin/G input channels of its group.
// Parameters: "weight" [Cout, Cin/G, k, k], "bias" [Cout] (if bias), as torch.nn.Conv2d.
// Constructors: (in, out, kernel, stride, padding, bias) and, in PyTorch's argument order,
// (in, out, kernel, stride, padding, dilation, groups, bias); ValueError for a size, stride,
// dilation or group count < 1, a negative padding, or channels not divisible by groups. Caches the input (shared
// storage) for backward; owns its output, input-gradient and im2col workspaces, which grow on
// the first step and are reused. Throws ShapeError for an input of the wrong channel count, an
// input smaller than the kernel's extent d(k-1)+1, or a dy of the wrong shape. Runs sample by sample in every
// mode (nn/module.hpp); backward_with_producer makes each sample of dy in its own loop
// (the plan fuses the norm after a convolution this way, nn/plan.hpp).
// Algorithms (kernels/conv2d_algorithm.hpp): chosen once per input geometry at the start of a
// forward pass, by resolve_conv_algorithms (automatic, GLIA_CONV_ALGO, set_algorithms);
// ValueError there, naming the layer and the geometry, if a forced algorithm does not apply.
#pragma once

#include <optional>

#include "glia/kernels/conv2d.hpp"
#include "glia/nn/init.hpp"
#include "glia/nn/module.hpp"

namespace glia {

template <typename T>
class Conv2d : public Module<T> {
 public:
  Conv2d(Index in_channels, Index out_channels, Index kernel, Index stride = 1, Index padding = 0,
         bool bias = true)
      : Conv2d(in_channels, out_channels, kernel, stride, padding, 1, 1, bias) {}
  // (in, out, kernel, stride, padding, dilation) would silently read the dilation as `bias`: say
  // the groups too, in PyTorch's order (in, out, kernel, stride, padding, dilation, groups).
  Conv2d(Index, Index, Index, Index, Index, Index) = delete;
  Conv2d(Index in_channels, Index out_channels, Index kernel, Index stride, Index padding, Index dilation, Index groups,
         bool bias = true)
      : cin_(in_channels), cout_(out_channels), k_(kernel), stride_(stride), pad_(padding), dilation_(dilation),
        groups_(groups), weight_(Shape{out_channels, groups > 0 ? in_channels / groups : 0, kernel, kernel}),
        bias_(Shape{bias ? out_channels : 0}, false), has_bias_(bias) {
    if (in_channels <= 0 || out_channels <= 0 || kernel <= 0 || stride <= 0 || padding < 0 || dilation <= 0 ||
        groups <= 0)
      throw ValueError(detail::cat("Conv2d: invalid configuration in=", in_channels, " out=", out_channels,
                                   " kernel=", kernel, " stride=", stride, " padding=", padding, " dilation=", dilation,
                                   " groups=", groups));
    if (in_channels % groups != 0 || out_channels % groups != 0)
      throw ValueError(detail::cat("Conv2d: in_channels (", in_channels, ") and out_channels (", out_channels,
                                   ") must be divisible by groups (", groups, ")"));
  }

  Parameter<T>& weight() { return weight_; }
  Parameter<T>& bias() { return bias_; }
  bool has_bias() const { return has_bias_; }
  Index in_channels() const { return cin_; }
  Index out_channels() const { return cout_; }
  Index kernel_size() const { return k_; }
  Index stride() const { return stride_; }
  Index padding() const { return pad_; }
  Index dilation() const { return dilation_; }
  Index groups() const { return groups_; }
  // Forces algorithms; a direction left empty is chosen automatically. Checked at the next forward.
  void set_algorithms(const ConvAlgorithmRequest& request) {
    request_ = request;
    chosen_for_.reset();
  }
  const ConvAlgorithmRequest& requested_algorithms() const { return request_; }
  // The algorithms this layer runs for an input of shape `in` (ShapeError, ValueError as forward).
  ConvAlgorithmChoice algorithms_for(const Shape& in) const {
    output_shape(in);
    return resolve_conv_algorithms(Conv2dGeometry{in[0], patch(in), cout_, groups_}, conv3x3_packet_size<T>(), request_,
                                   name());
  }
  bool needs_input_grad() const { return this->needs_input_grad_; }

  std::string name() const override {
    return detail::cat("Conv2d(", cin_, "->", cout_, ", k", k_, ", s", stride_, ", p", pad_,
                       dilation_ != 1 ? detail::cat(", d", dilation_) : std::string(),
                       groups_ != 1 ? detail::cat(", g", groups_) : std::string(), has_bias_ ? "" : ", no bias", ")");
  }
  Shape output_shape(const Shape& in) const override {
    const Index extent = dilation_ * (k_ - 1) + 1;
    if (in.rank() != 4 || in[1] != cin_ || in[2] + 2 * pad_ < extent || in[3] + 2 * pad_ < extent)
      throw ShapeError(detail::cat(name(), ": expected input [N,", cin_, ",H,W] with H,W >= ", extent - 2 * pad_,
                                   ", got ", in));
    const PatchGeometry p = patch(in);
    return Shape{in[0], cout_, p.out_h(), p.out_w()};
  }
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override { return forward_by_sample(*this, x, mode); }
  const Tensor<T>& backward(const Tensor<T>& dy) override { return backward_impl(dy, NoSampleHook{}); }
  // make_dy_sample(n) runs in the convolution's own loop over the samples, on the thread that
  // then reads sample n of dy (kernels/conv2d.hpp).
  const Tensor<T>& backward_with_producer(const Tensor<T>& dy, SampleHook make_dy_sample) override {
    return backward_impl(dy, make_dy_sample);
  }

  // Sample by sample (nn/module.hpp): every mode.
  bool samplewise(Mode) const override { return true; }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode) override {
    y_.resize(output_shape(x.shape()));
    x_ = x;
    geom_ = Conv2dGeometry{x.dim(0), patch(x.shape()), cout_, groups_};
    const Conv2dGeometry any_batch{0, geom_.patch, cout_, groups_};  // the choice does not depend on N
    const Index packet = conv3x3_packet_size<T>();  // changes with the instruction-set level
    if (!chosen_for_ || !(*chosen_for_ == any_batch) || chosen_packet_ != packet) {
      algorithms_ = resolve_conv_algorithms(geom_, packet, request_, name()).algorithms;
      chosen_for_ = any_batch;
      chosen_packet_ = packet;
    }
    conv2d_forward_begin(weight_.value.data(), geom_, algorithms_, ws_);
    return y_;
  }
  void forward_sample(Index n) override {
    conv2d_forward_sample(n, y_.data(), x_.data(), weight_.value.data(), has_bias_ ? bias_.value.data() : nullptr, geom_,
                          algorithms_, ws_);
  }
  void collect(const std::string& prefix, std::vector<NamedParameter<T>>& params,
               std::vector<NamedBuffer<T>>&) override {
    collect_weight_and_bias(prefix, params, weight_, has_bias_ ? &bias_ : nullptr);
  }
  void reset_parameters(Rng& rng) override { init::torch_default(weight_.value, bias_.value, rng); }

 private:
  template <typename BeforeSample>
  const Tensor<T>& backward_impl(const Tensor<T>& dy, BeforeSample before_sample) {
    this->check_grad_shape(dy.shape(), y_.shape());
    T* dx = nullptr;
    if (this->needs_input_grad_) {
      dx_.resize(x_.shape());
      dx = dx_.data();
    }
    conv2d_backward(dx, weight_.grad.data(), has_bias_ ? bias_.grad.data() : nullptr, dy.data(), x_.data(),
                    weight_.value.data(), geom_, algorithms_, ws_, this->gradient_chunks(x_.dim(0)), before_sample);
    return dx_;
  }
  PatchGeometry patch(const Shape& in) const {
    return PatchGeometry{cin_, in[2], in[3], k_, k_, stride_, pad_, dilation_};
  }

  Index cin_, cout_, k_, stride_, pad_, dilation_, groups_;
  Parameter<T> weight_, bias_;
  bool has_bias_;
  Conv2dGeometry geom_{};
  ConvAlgorithmRequest request_;
  ConvAlgorithms algorithms_;
  std::optional<Conv2dGeometry> chosen_for_;  // the geometry (batch 0) algorithms_ were chosen for
  Index chosen_packet_ = 0;  // and the vector width they were chosen for
  Conv2dWorkspace<T> ws_;
  Tensor<T> x_, y_, dx_;
};

}  // namespace glia
