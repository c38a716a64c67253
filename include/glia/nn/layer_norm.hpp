// glia/nn/layer_norm.hpp: LayerNorm, PyTorch's: each sample normalised over its last dimensions.
//
// LayerNorm(normalized_shape, eps = 1e-5, elementwise_affine = true): input [N, ...,
// *normalized_shape] (rank <= 4) -> the same shape. Every row of M = prod(normalized_shape)
// trailing values is normalised on its own (kernels/layernorm.hpp); "weight" (init 1) and "bias"
// (init 0) have the shape normalized_shape and are exempt from weight decay (none without the
// affine). Caches the input, and mean and rstd per row, for backward. Has a per-sample kernel in
// every mode; dweight and dbias are added from per-sample partial sums by the gradient chunks'
// tree (kernels/batch_chunks.hpp), so the bits depend neither on the thread count nor on how
// the batch is divided between processes.
// Not the reference network's "ln", which is GroupNorm(1, C) (torch_ref.py's nn.GroupNorm(1, c):
// statistics over (C, H, W), a per-channel affine).
// ValueError for an empty normalized_shape, a dimension <= 0, or eps <= 0; ShapeError when the
// input's trailing dimensions are not normalized_shape.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "glia/kernels/layernorm.hpp"
#include "glia/nn/module.hpp"

namespace glia {

template <typename T>
class LayerNorm : public Module<T> {
 public:
  explicit LayerNorm(std::vector<Index> normalized_shape, double eps = 1e-5, bool elementwise_affine = true)
      : dims_(std::move(normalized_shape)), eps_(eps), affine_(elementwise_affine), weight_(param_shape(), false),
        bias_(param_shape(), false) {
    if (!(eps > 0)) throw ValueError(detail::cat("LayerNorm: eps must be > 0, got ", eps));
    weight_.value.fill(T(1));
  }

  const std::vector<Index>& normalized_shape() const { return dims_; }
  double eps() const { return eps_; }
  bool elementwise_affine() const { return affine_; }
  Parameter<T>& weight() { return weight_; }
  Parameter<T>& bias() { return bias_; }

  std::string name() const override {
    std::string s = "LayerNorm([";
    for (std::size_t i = 0; i < dims_.size(); ++i) s += (i ? ", " : "") + std::to_string(dims_[i]);
    return s + "]" + (affine_ ? "" : ", no affine") + ")";
  }
  Shape output_shape(const Shape& in) const override {
    const auto d = static_cast<Index>(dims_.size());
    bool fits = in.rank() > d;
    for (Index i = 0; fits && i < d; ++i) fits = in[in.rank() - d + i] == dims_[static_cast<std::size_t>(i)];
    if (!fits) throw ShapeError(detail::cat(name(), ": expected an input [N, ..., normalized_shape], got ", in));
    return in;
  }
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override { return forward_by_sample(*this, x, mode); }
  bool samplewise(Mode) const override { return true; }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode) override {
    y_.resize(output_shape(x.shape()));
    x_ = x;
    rows_ = x.size() / (x.dim(0) * row_size());
    mean_.resize(static_cast<std::size_t>(x.dim(0) * rows_));
    rstd_.resize(mean_.size());
    return y_;
  }
  void forward_sample(Index n) override {
    const Index m = row_size(), offset = n * rows_ * m;
    layernorm_forward_rows(y_.data() + offset, mean_.data() + n * rows_, rstd_.data() + n * rows_, x_.data() + offset,
                           affine_ ? weight_.value.data() : static_cast<const T*>(nullptr), bias_.value.data(), rows_, m,
                           eps_);
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), y_.shape());
    dx_.resize(x_.shape());
    const Index n = x_.dim(0), m = row_size();
    sample_dw_.resize(static_cast<std::size_t>(affine_ ? n * m : 0));
    sample_db_.resize(sample_dw_.size());
    parallel_for(n, [&](Index i) {
      const Index offset = i * rows_ * m;
      layernorm_backward_rows(dx_.data() + offset, affine_ ? sample_dw_.data() + i * m : nullptr,
                              affine_ ? sample_db_.data() + i * m : nullptr, dy.data() + offset, x_.data() + offset,
                              mean_.data() + i * rows_, rstd_.data() + i * rows_,
                              affine_ ? weight_.value.data() : static_cast<const T*>(nullptr), rows_, m);
    });
    if (affine_) add_parameter_grads(n, m);
    return dx_;
  }
  void collect(const std::string& prefix, std::vector<NamedParameter<T>>& params, std::vector<NamedBuffer<T>>&) override {
    if (!affine_) return;
    params.push_back({join_name(prefix, "weight"), &weight_});
    params.push_back({join_name(prefix, "bias"), &bias_});
  }
  void reset_parameters(Rng&) override {
    weight_.value.fill(T(1));
    bias_.value.zero();
  }

 private:
  Shape param_shape() const {
    if (dims_.empty() || dims_.size() > 3)
      throw ValueError(detail::cat("LayerNorm: normalized_shape must have 1 to 3 dimensions, got ", dims_.size()));
    Shape s;
    for (Index d : dims_) {
      if (d <= 0) throw ValueError(detail::cat("LayerNorm: normalized_shape has a dimension ", d));
      s = s.rank() == 0 ? Shape{d} : s.rank() == 1 ? Shape{s[0], d} : Shape{s[0], s[1], d};
    }
    return s;
  }
  Index row_size() const { return weight_.value.size(); }
  // dweight[k] += sum_n sample_dw[n, k] and dbias alike, by the gradient chunks' tree.
  void add_parameter_grads(Index n, Index m) {
    const BatchChunks chunks = this->gradient_chunks(n);
    add_chunked_sample_sums(weight_.grad.data(), sample_dw_.data(), m, chunks);
    add_chunked_sample_sums(bias_.grad.data(), sample_db_.data(), m, chunks);
  }

  std::vector<Index> dims_;
  double eps_;
  bool affine_;
  Parameter<T> weight_, bias_;
  Index rows_ = 0;  // rows per sample
  Tensor<T> x_, y_, dx_;
  std::vector<double> mean_, rstd_, sample_dw_, sample_db_;
};

}  // namespace glia
