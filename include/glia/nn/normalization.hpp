// glia/nn/normalization.hpp: BatchNorm2d, GroupNorm and LayerNorm (kernels/norm.hpp has the maths).
//
// All take [N, C, H, W] (H = W = 1 allowed) and return the same shape, with a learnable
// per-channel scale "weight" (gamma, init 1) and shift "bias" (beta, init 0), eps = 1e-5 by
// default; both parameters are exempt from weight decay.
//
// BatchNorm2d(C, eps, momentum = 0.1), PyTorch semantics:
//   Train: normalise with the batch mean and BIASED batch variance over (N, H, W); update the
//     buffers running_mean <- (1-m) running_mean + m mean and running_var <- (1-m) running_var
//     + m * var * M/(M-1) (the UNBIASED variance), M = N*H*W. Throws ShapeError if M == 1
//     (no variance to estimate), as PyTorch does.
//   Eval: normalise with running_mean / running_var.
//   Caches the input, and mean and rstd per channel, for backward.
// GroupNorm(G, C, eps): statistics per sample over the C/G channels of each group and H, W;
//   same in train and eval. ValueError unless G divides C. Caches input, mean and rstd per (n, g).
// LayerNorm(C, eps): the reference network's "layer norm": normalise each sample over all of
//   (C, H, W), then a per-channel affine. It is exactly GroupNorm with one group.
// Fused ReLU: constructed with Activation::ReLU, each norm returns relu(norm(x)) and its backward
//   takes dy through the ReLU (dy where the output is > 0, else 0), with the results of a norm
//   followed by a ReLU module bit for bit, in two passes over memory less each way. It caches a
//   uint8 mask [N, C, H, W] of where the output is positive. name() says "+ ReLU".
// recompute_batchnorm_statistics(model, batches, next_batch): "precise BN" (below).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "glia/kernels/norm.hpp"
#include "glia/nn/module.hpp"

namespace glia {

// What a norm applies after its affine: nothing, or a fused ReLU.
enum class Activation { Identity, ReLU };

// The shared part of the norms: the affine parameters, the fused activation and the shape check.
template <typename T>
class AffineNorm : public Module<T> {
 public:
  AffineNorm(Index channels, double eps, Activation act)
      : c_(channels), eps_(eps), act_(act), weight_(Shape{channels}, false), bias_(Shape{channels}, false) {
    if (channels <= 0) throw ValueError(detail::cat("norm: channels must be positive, got ", channels));
    weight_.value.fill(T(1));
  }
  Parameter<T>& weight() { return weight_; }
  Parameter<T>& bias() { return bias_; }
  Activation activation() const { return act_; }
  Shape output_shape(const Shape& in) const override {
    if (in.rank() != 4 || in[1] != c_)
      throw ShapeError(detail::cat(this->name(), ": expected input [N,", c_, ",H,W], got ", in));
    return in;
  }
  void collect(const std::string& prefix, std::vector<NamedParameter<T>>& params,
               std::vector<NamedBuffer<T>>&) override {
    params.push_back({join_name(prefix, "weight"), &weight_});
    params.push_back({join_name(prefix, "bias"), &bias_});
  }
  void reset_parameters(Rng&) override {
    weight_.value.fill(T(1));
    bias_.value.zero();
  }

 protected:
  // " + ReLU" when fused, for name().
  std::string activation_suffix() const { return act_ == Activation::ReLU ? " + ReLU" : ""; }
  // The fused ReLU's mask for the forward pass of x (sized here), or null.
  std::uint8_t* forward_mask(const Tensor<T>& x) {
    if (act_ != Activation::ReLU) return nullptr;
    mask_.resize(static_cast<std::size_t>(x.size()));
    return mask_.data();
  }
  const std::uint8_t* backward_mask() const { return act_ == Activation::ReLU ? mask_.data() : nullptr; }

  Index c_;
  double eps_;
  Activation act_;
  Parameter<T> weight_, bias_;
  Tensor<T> x_, y_, dx_;
  std::vector<double> mean_, rstd_;
  std::vector<std::uint8_t> mask_;
};

template <typename T>
class BatchNorm2d : public AffineNorm<T> {
 public:
  explicit BatchNorm2d(Index channels, double eps = 1e-5, double momentum = 0.1, Activation act = Activation::Identity)
      : AffineNorm<T>(channels, eps, act), momentum_(momentum), running_mean_(Shape{channels}),
        running_var_(Tensor<T>::full(Shape{channels}, T(1))) {}

  Tensor<T>& running_mean() { return running_mean_; }
  Tensor<T>& running_var() { return running_var_; }
  double momentum() const { return momentum_; }
  void set_momentum(double m) {
    if (!(m >= 0 && m <= 1)) throw ValueError(detail::cat(name(), ": momentum must be in [0, 1], got ", m));
    momentum_ = m;
  }

  std::string name() const override { return detail::cat("BatchNorm2d(", this->c_, ")", this->activation_suffix()); }
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override {
    this->y_.resize(this->output_shape(x.shape()));
    this->x_ = x;
    train_ = mode == Mode::Train;
    const Index n = x.dim(0), c = this->c_, hw = x.dim(2) * x.dim(3);
    this->mean_.resize(static_cast<std::size_t>(c));
    this->rstd_.resize(static_cast<std::size_t>(c));
    if (train_) {
      const Index m = n * hw;
      if (m < 2) throw ShapeError(detail::cat(name(), ": training needs more than one value per channel, got input ", x.shape()));
      var_.resize(static_cast<std::size_t>(c));
      batchnorm_stats(this->mean_.data(), var_.data(), x.data(), n, c, hw);
      for (Index ch = 0; ch < c; ++ch) {
        const auto i = static_cast<std::size_t>(ch);
        this->rstd_[i] = 1.0 / std::sqrt(var_[i] + this->eps_);
        const double unbiased = var_[i] * static_cast<double>(m) / static_cast<double>(m - 1);
        running_mean_[ch] = static_cast<T>((1 - momentum_) * running_mean_[ch] + momentum_ * this->mean_[i]);
        running_var_[ch] = static_cast<T>((1 - momentum_) * running_var_[ch] + momentum_ * unbiased);
      }
    } else {
      for (Index ch = 0; ch < c; ++ch) {
        const auto i = static_cast<std::size_t>(ch);
        this->mean_[i] = running_mean_[ch];
        this->rstd_[i] = 1.0 / std::sqrt(static_cast<double>(running_var_[ch]) + this->eps_);
      }
    }
    batchnorm_apply(this->y_.data(), this->forward_mask(x), x.data(), this->mean_.data(), this->rstd_.data(), this->weight_.value.data(),
                    this->bias_.value.data(), n, c, hw);
    return this->y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), this->y_.shape());
    const Tensor<T>& x = this->x_;
    this->dx_.resize(x.shape());
    const Index n = x.dim(0), c = this->c_, hw = x.dim(2) * x.dim(3);
    auto kernel = train_ ? batchnorm_backward<T> : batchnorm_backward_fixed<T>;
    kernel(this->dx_.data(), this->weight_.grad.data(), this->bias_.grad.data(), dy.data(), this->backward_mask(), x.data(),
           this->mean_.data(), this->rstd_.data(), this->weight_.value.data(), n, c, hw);
    return this->dx_;
  }
  void collect(const std::string& prefix, std::vector<NamedParameter<T>>& params,
               std::vector<NamedBuffer<T>>& buffers) override {
    AffineNorm<T>::collect(prefix, params, buffers);
    buffers.push_back({join_name(prefix, "running_mean"), &running_mean_});
    buffers.push_back({join_name(prefix, "running_var"), &running_var_});
  }
  void reset_parameters(Rng& rng) override {
    AffineNorm<T>::reset_parameters(rng);
    running_mean_.zero();
    running_var_.fill(T(1));
  }

 private:
  double momentum_;
  Tensor<T> running_mean_, running_var_;
  std::vector<double> var_;
  bool train_ = true;
};

template <typename T>
class GroupNorm : public AffineNorm<T> {
 public:
  GroupNorm(Index groups, Index channels, double eps = 1e-5, Activation act = Activation::Identity)
      : AffineNorm<T>(channels, eps, act), groups_(groups) {
    if (groups <= 0 || channels % groups != 0)
      throw ValueError(detail::cat("GroupNorm: ", groups, " groups do not divide ", channels, " channels"));
  }
  Index groups() const { return groups_; }

  std::string name() const override { return detail::cat("GroupNorm(", groups_, " groups, ", this->c_, ")", this->activation_suffix()); }
  const Tensor<T>& forward(const Tensor<T>& x, Mode) override {
    this->y_.resize(this->output_shape(x.shape()));
    this->x_ = x;
    const Index n = x.dim(0), hw = x.dim(2) * x.dim(3);
    this->mean_.resize(static_cast<std::size_t>(n * groups_));
    this->rstd_.resize(static_cast<std::size_t>(n * groups_));
    groupnorm_forward(this->y_.data(), this->forward_mask(x), this->mean_.data(), this->rstd_.data(), x.data(), this->weight_.value.data(),
                      this->bias_.value.data(), n, this->c_, hw, groups_, this->eps_);
    return this->y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), this->y_.shape());
    const Tensor<T>& x = this->x_;
    this->dx_.resize(x.shape());
    const Index n = x.dim(0), hw = x.dim(2) * x.dim(3);
    partial_.resize(static_cast<std::size_t>(2 * n * this->c_));
    groupnorm_backward(this->dx_.data(), this->weight_.grad.data(), this->bias_.grad.data(), partial_.data(), dy.data(),
                       this->backward_mask(), x.data(), this->mean_.data(), this->rstd_.data(), this->weight_.value.data(), n, this->c_, hw,
                       groups_);
    return this->dx_;
  }

 private:
  Index groups_;
  std::vector<double> partial_;
};

template <typename T>
class LayerNorm : public GroupNorm<T> {
 public:
  explicit LayerNorm(Index channels, double eps = 1e-5, Activation act = Activation::Identity)
      : GroupNorm<T>(1, channels, eps, act) {}
  std::string name() const override { return detail::cat("LayerNorm(", this->c_, ")", this->activation_suffix()); }
};

// Precise BatchNorm statistics (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021). The
// running mean and variance kept with momentum 0.1 describe the last few dozen training batches,
// taken while the weights still moved; evaluation is better served by their plain average over
// many batches of the final model. This runs `batches` training-mode forward passes,
// next_batch(k) giving the input of pass k (k = 0, 1, ...), and leaves every BatchNorm2d's
// running_mean / running_var equal to the average of its batch means / unbiased variances over
// those passes (momentum 1/(k+1) at pass k; the momenta are restored afterwards). Other layers
// run in training mode too (dropout draws masks). Parameters are not touched. Returns the number
// of BatchNorm2d layers found; with none, nothing is run.
template <typename T, typename NextBatch>
Index recompute_batchnorm_statistics(Module<T>& model, Index batches, NextBatch&& next_batch) {
  if (batches < 1) throw ValueError(detail::cat("recompute_batchnorm_statistics: batches must be >= 1, got ", batches));
  std::vector<std::pair<BatchNorm2d<T>*, double>> norms;  // and their momenta
  visit(model, [&](const std::string&, Module<T>& m) {
    if (auto* bn = dynamic_cast<BatchNorm2d<T>*>(&m)) norms.emplace_back(bn, bn->momentum());
  });
  if (norms.empty()) return 0;
  auto restore = [&] {
    for (auto& n : norms) n.first->set_momentum(n.second);
  };
  try {
    for (Index k = 0; k < batches; ++k) {
      for (auto& n : norms) n.first->set_momentum(1.0 / static_cast<double>(k + 1));
      const Tensor<T>& x = next_batch(k);
      model.forward(x, Mode::Train);
    }
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return static_cast<Index>(norms.size());
}

}  // namespace glia
