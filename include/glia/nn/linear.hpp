// glia/nn/linear.hpp: the fully connected layer.
//
// Contract: input [N, ...] with F = numel/N features per sample (so [N, C, 1, 1] works
// directly) -> output [N, out].  y = x W^T + b,  W [out, F] (PyTorch's layout), b [out].
// Backward: dW += dy^T x,  db += sum_n dy_n,  dx = dy W (reshaped to the input's shape).
// Caches the input. ShapeError if F != in_features.
// The products run kernels/conv_gemm.hpp's kernels, dispatched per instruction set (not Eigen's,
// which run at the compiled level); each output is summed in a fixed order, so results do not
// depend on the thread count. The weight gradient is one product per gradient chunk of the
// batch (kernels/batch_chunks.hpp) into dW_chunks [16, out, F], kept between calls (no
// allocation after the first step), added to dW by the chunk tree.
#pragma once

#include <algorithm>

#include "glia/kernels/conv_gemm.hpp"
#include "glia/nn/init.hpp"
#include "glia/nn/module.hpp"

namespace glia {

template <typename T>
class Linear : public Module<T> {
 public:
  Linear(Index in_features, Index out_features, bool bias = true)
      : in_(in_features), out_(out_features), weight_(Shape{out_features, in_features}),
        bias_(Shape{bias ? out_features : 0}, false), has_bias_(bias) {
    if (in_features <= 0 || out_features <= 0)
      throw ValueError(detail::cat("Linear: invalid sizes ", in_features, " -> ", out_features));
  }
  bool has_bias() const { return has_bias_; }
  Index in_features() const { return in_; }
  Index out_features() const { return out_; }
  Parameter<T>& weight() { return weight_; }
  Parameter<T>& bias() { return bias_; }

  std::string name() const override { return detail::cat("Linear(", in_, "->", out_, has_bias_ ? "" : ", no bias", ")"); }
  Shape output_shape(const Shape& in) const override {
    if (in.rank() < 2 || in[0] == 0 || in.numel() / in[0] != in_)
      throw ShapeError(detail::cat(name(), ": expected input [N,", in_, "] (or [N,...] with ", in_,
                                   " features per sample), got ", in));
    return Shape{in[0], out_};
  }
  // y[n, o] = b[o] + sum_f x[n, f] W[o, f]: rows of x against rows of W (gemm_weight_grad's
  // form, which adds to y: y starts at the bias).
  const Tensor<T>& forward(const Tensor<T>& x, Mode) override {
    y_.resize(output_shape(x.shape()));
    x_ = x;
    const Index n = x.dim(0);
    T* y = y_.data();
    for (Index i = 0; i < n; ++i)
      for (Index o = 0; o < out_; ++o) y[i * out_ + o] = has_bias_ ? bias_.value.data()[o] : T(0);
    gemm_weight_grad(y, x.data(), weight_.value.data(), n, out_, in_);
    return y_;
  }
  // dW[o, f] += sum_n dy[n, o] x[n, f] (dy read transposed), one product per gradient chunk
  // (kernels/batch_chunks.hpp) into dW_chunks [chunks, out, F], added by the chunk tree;
  // db likewise;  dx[n, f] = sum_o dy[n, o] W[o, f].
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), y_.shape());
    const Index n = x_.dim(0), nw = out_ * in_;
    const BatchChunks chunks = this->gradient_chunks(n);
    dw_chunks_.resize(Shape{chunks.count, nw});
    parallel_for(chunks.count, [&](Index c) {
      const Index b = chunks.begin(c), m = chunks.end(c) - b;
      T* dwc = dw_chunks_.data() + c * nw;
      if (m == 0) std::fill(dwc, dwc + nw, T(0));
      else gemm_product(dwc, dy.data() + b * out_, true, x_.data() + b * in_, out_, m, in_);
    });
    T* dw = weight_.grad.data();
    parallel_for(out_, [&](Index o) {
      for (Index f = 0; f < in_; ++f) dw[o * in_ + f] += chunk_tree_sum(dw_chunks_.data() + o * in_ + f, chunks.count, nw);
      if (!has_bias_) return;
      bias_.grad.data()[o] += chunk_tree<T>(chunks, [&](Index b, Index e) {
        T s = T(0);
        for (Index i = b; i < e; ++i) s += dy.data()[i * out_ + o];
        return s;
      });
    });
    if (!this->needs_input_grad_) return dx_;
    dx_.resize(x_.shape());
    gemm_product(dx_.data(), dy.data(), false, weight_.value.data(), n, out_, in_);
    return dx_;
  }
  void collect(const std::string& prefix, std::vector<NamedParameter<T>>& params,
               std::vector<NamedBuffer<T>>&) override {
    collect_weight_and_bias(prefix, params, weight_, has_bias_ ? &bias_ : nullptr);
  }
  void reset_parameters(Rng& rng) override { init::torch_default(weight_.value, bias_.value, rng); }

 private:
  Index in_, out_;
  Parameter<T> weight_, bias_;
  bool has_bias_;
  Tensor<T> x_, y_, dx_, dw_chunks_;
};

}  // namespace glia
