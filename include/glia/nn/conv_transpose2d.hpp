// glia/nn/conv_transpose2d.hpp: the ConvTranspose2d layer (torch.nn.ConvTranspose2d).
//
// Contract: ConvTranspose2d(in, out, kernel, stride = 1, padding = 0, output_padding = 0,
// groups = 1, bias = true, dilation = 1), PyTorch's argument order and defaults.
//   input [N, Cin, H, W] -> output [N, Cout, Ho, Wo],  Ho = (H-1)*s - 2p + d*(k-1) + op + 1
// Parameters: "weight" [Cin, Cout/G, k, k] (decay), "bias" [Cout] (no decay; only if bias), as
// PyTorch names and shapes them; reset_parameters draws PyTorch's default (fan_in = Cout/G*k*k).
// The maths (kernels/conv_transpose2d.hpp): the layer is the adjoint of the convolution A from
// the output's space to the input's (A: Cout -> Cin channels, the same kernel, stride, padding,
// dilation, groups and weight), so each direction runs one of A's kernels (kernels/conv2d.hpp)
// with A's automatically chosen algorithms (conv2d_algorithm.hpp; set_algorithms and
// GLIA_CONV_ALGO name A's directions):
//   forward      y_n  = A.input_grad(dY := x_n) + b          per sample, any thread
//   input grad   dx   = A.forward(dy) without bias
//   weight grad  dW  += A.weight_grad(dY := x, input := dy)   db += sum_{n,h,w} dy
// Caches the input (shared storage) for backward; owns its output, input-gradient and
// workspace buffers, which grow on the first step and are reused. Results do not depend on the
// thread count (A's kernels reduce per chunk in a fixed order; db is summed per channel by the
// gradient chunks' tree, kernels/batch_chunks.hpp). Throws ValueError for a size, stride, dilation or group count < 1, a negative
// padding or output padding, output_padding >= stride (glia's limit), channels not divisible by
// groups, or a forced algorithm that does not apply; ShapeError for an input of the wrong channel
// count, an output size below 1, or a dy of the wrong shape.
#pragma once

#include <optional>

#include "glia/kernels/conv2d.hpp"
#include "glia/kernels/conv_transpose2d.hpp"
#include "glia/nn/init.hpp"
#include "glia/nn/module.hpp"

namespace glia {

template <typename T>
class ConvTranspose2d : public Module<T> {
 public:
  ConvTranspose2d(Index in_channels, Index out_channels, Index kernel, Index stride = 1, Index padding = 0,
                  Index output_padding = 0, Index groups = 1, bool bias = true, Index dilation = 1)
      : c_{in_channels, out_channels, kernel, stride, padding, output_padding, groups, dilation},
        weight_(Shape{in_channels, groups > 0 ? out_channels / groups : 0, kernel, kernel}),
        bias_(Shape{bias ? out_channels : 0}, false), has_bias_(bias) {
    if (in_channels <= 0 || out_channels <= 0 || kernel <= 0 || stride <= 0 || padding < 0 || output_padding < 0 ||
        groups <= 0 || dilation <= 0)
      throw ValueError(detail::cat("ConvTranspose2d: invalid configuration in=", in_channels, " out=", out_channels,
                                   " kernel=", kernel, " stride=", stride, " padding=", padding, " output_padding=",
                                   output_padding, " groups=", groups, " dilation=", dilation));
    if (in_channels % groups != 0 || out_channels % groups != 0)
      throw ValueError(detail::cat("ConvTranspose2d: in_channels (", in_channels, ") and out_channels (", out_channels,
                                   ") must be divisible by groups (", groups, ")"));
    if (output_padding >= stride)
      throw ValueError(detail::cat("ConvTranspose2d: output_padding (", output_padding, ") must be smaller than stride (",
                                   stride, ") in glia"));
  }

  Parameter<T>& weight() { return weight_; }
  Parameter<T>& bias() { return bias_; }
  bool has_bias() const { return has_bias_; }
  const ConvTranspose2dConfig& config() const { return c_; }
  Index in_channels() const { return c_.in_channels; }
  Index out_channels() const { return c_.out_channels; }
  Index kernel_size() const { return c_.kernel; }
  Index stride() const { return c_.stride; }
  Index padding() const { return c_.padding; }
  Index output_padding() const { return c_.output_padding; }
  Index groups() const { return c_.groups; }
  Index dilation() const { return c_.dilation; }
  // Forces algorithms of the adjoint convolution A (see above); checked at the next forward.
  void set_algorithms(const ConvAlgorithmRequest& request) {
    request_ = request;
    chosen_for_.reset();
  }
  // A's algorithms for an input of shape `in`: this layer's forward runs A's input_grad, its
  // input gradient A's forward, its weight gradient A's weight_grad.
  ConvAlgorithmChoice algorithms_for(const Shape& in) const {
    output_shape(in);
    return resolve_conv_algorithms(adjoint(in), conv3x3_packet_size<T>(), request_, name());
  }
  bool needs_input_grad() const { return this->needs_input_grad_; }

  std::string name() const override {
    return detail::cat("ConvTranspose2d(", c_.in_channels, "->", c_.out_channels, ", k", c_.kernel, ", s", c_.stride,
                       ", p", c_.padding, c_.output_padding ? detail::cat(", op", c_.output_padding) : std::string(),
                       c_.dilation != 1 ? detail::cat(", d", c_.dilation) : std::string(),
                       c_.groups != 1 ? detail::cat(", g", c_.groups) : std::string(), has_bias_ ? "" : ", no bias", ")");
  }
  Shape output_shape(const Shape& in) const override {
    if (in.rank() != 4 || in[1] != c_.in_channels || in[2] < 1 || in[3] < 1 || c_.out_size(in[2]) < 1 ||
        c_.out_size(in[3]) < 1)
      throw ShapeError(detail::cat(name(), ": expected input [N,", c_.in_channels,
                                   ",H,W] whose output (H-1)*stride - 2*padding + dilation*(kernel-1) + output_padding + 1 "
                                   "is at least 1, got ",
                                   in));
    return Shape{in[0], c_.out_channels, c_.out_size(in[2]), c_.out_size(in[3])};
  }
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override { return forward_by_sample(*this, x, mode); }

  // Forward, sample by sample (nn/module.hpp): y_n = A.input_grad(x_n) + b.
  bool samplewise(Mode) const override { return true; }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode) override {
    y_.resize(output_shape(x.shape()));
    x_ = x;
    geom_ = adjoint(x.shape());
    Conv2dGeometry any_batch = geom_;  // the choice does not depend on N
    any_batch.batch = 0;
    const Index packet = conv3x3_packet_size<T>();  // changes with the instruction-set level
    if (!chosen_for_ || !(*chosen_for_ == any_batch) || chosen_packet_ != packet) {
      algorithms_ = resolve_conv_algorithms(geom_, packet, request_, name()).algorithms;
      chosen_for_ = any_batch;
      chosen_packet_ = packet;
    }
    check_conv_algorithms(geom_, algorithms_, packet, "ConvTranspose2d");
    scratch_ = detail::conv2d_backward_begin(true, weight_.value.data(), geom_, algorithms_, kGradientChunks, ws_);
    return y_;
  }
  void forward_sample(Index n) override {
    const Index plane = y_.dim(2) * y_.dim(3), in_size = geom_.out_size();
    T* yn = y_.data() + n * geom_.in_size();
    T* pad = scratch_.padded ? ws_.padded.data() + thread_index() * scratch_.padded : nullptr;
    T* tr = scratch_.transposed ? ws_.transposed.data() + thread_index() * scratch_.transposed : nullptr;
    detail::conv2d_input_grad_sample(yn, x_.data() + n * in_size, weight_.value.data(), geom_, algorithms_.input_grad, ws_,
                                     pad, tr);
    if (!has_bias_) return;
    for (Index o = 0; o < c_.out_channels; ++o) {
      const T b = bias_.value[o];
      for (Index q = 0; q < plane; ++q) yn[o * plane + q] += b;
    }
  }

  // Backward: dx = A.forward(dy) (no bias); dW += A.weight_grad(dY := x, input := dy); db += sum dy.
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), y_.shape());
    if (this->needs_input_grad_) {
      dx_.resize(x_.shape());
      conv2d_forward(dx_.data(), dy.data(), weight_.value.data(), static_cast<const T*>(nullptr), geom_, algorithms_, ws_);
    } else {
      dx_ = Tensor<T>();  // no input gradient: an empty tensor (module.hpp)
    }
    const BatchChunks chunks = this->gradient_chunks(x_.dim(0));
    conv2d_backward(static_cast<T*>(nullptr), weight_.grad.data(), static_cast<T*>(nullptr), x_.data(), dy.data(),
                    weight_.value.data(), geom_, algorithms_, ws_, chunks, NoSampleHook{});
    if (has_bias_) {
      const Index C = c_.out_channels, plane = dy.dim(2) * dy.dim(3);
      const T* d = dy.data();
      T* db = bias_.grad.data();
      parallel_for(C, [&](Index o) {
        db[o] += chunk_tree<T>(chunks, [&](Index b, Index e) {
          T s = T(0);
          for (Index n = b; n < e; ++n)
            for (Index q = 0; q < plane; ++q) s += d[(n * C + o) * plane + q];
          return s;
        });
      });
    }
    return dx_;
  }
  void collect(const std::string& prefix, std::vector<NamedParameter<T>>& params,
               std::vector<NamedBuffer<T>>&) override {
    collect_weight_and_bias(prefix, params, weight_, has_bias_ ? &bias_ : nullptr);
  }
  void reset_parameters(Rng& rng) override { init::torch_default(weight_.value, bias_.value, rng); }

 private:
  Conv2dGeometry adjoint(const Shape& in) const { return conv_transpose2d_adjoint(c_, in[0], in[2], in[3]); }

  ConvTranspose2dConfig c_;
  Parameter<T> weight_, bias_;
  bool has_bias_;
  Conv2dGeometry geom_{};
  ConvAlgorithmRequest request_;
  ConvAlgorithms algorithms_;
  std::optional<Conv2dGeometry> chosen_for_;
  Index chosen_packet_ = 0;  // and the vector width they were chosen for
  detail::ConvBackwardScratch scratch_{0, 0};
  Conv2dWorkspace<T> ws_;
  Tensor<T> x_, y_, dx_;
};

}  // namespace glia
