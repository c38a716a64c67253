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
//   uint8 mask [N, C, H, W] of where the output is positive, in training mode only: after an
//   eval-mode forward, backward derives it from the output (y > 0 is the same set). name() says
//   "+ ReLU".
// Sample by sample: forward(x, mode) is begin_forward(x, mode); then, where
// gathers_statistics(mode) holds (BatchNorm2d in training mode, which needs the statistics of
// the whole batch first), gather_sample(n) for every sample n and end_gather(); then
// forward_sample(n) for every n. Where it does not, that is Module's samplewise protocol
// (nn/module.hpp). backward(dy) is begin_backward(dy), backward_sample(n) for every
// n, then end_backward(). The per-sample calls may run on any thread in any order.
// nn/conv_norm.hpp uses this to run a norm on each sample of a convolution's output while it is
// still in cache (and on the thread that made it); the values are the same bit for bit.
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

  // The sample-by-sample protocol (see the top of this file). output() is forward's result and
  // input_grad() backward's; begin_backward sizes input_grad() to dy's shape.
  virtual bool gathers_statistics(Mode) const { return false; }
  bool samplewise(Mode mode) const override { return !gathers_statistics(mode); }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode mode) override = 0;  // returns output()
  virtual void gather_sample(Index) {}
  virtual void end_gather() {}
  void forward_sample(Index n) override = 0;
  virtual void begin_backward(const Tensor<T>& dy) = 0;
  virtual void backward_sample(Index n) = 0;
  virtual void end_backward() {}
  const Tensor<T>& output() const { return y_; }
  const Tensor<T>& input_grad() const { return dx_; }

  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override {
    begin_forward(x, mode);
    if (gathers_statistics(mode)) {
      parallel_for(x.dim(0), [&](Index n) { gather_sample(n); });
      end_gather();
    }
    parallel_for(x.dim(0), [&](Index n) { forward_sample(n); });
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    begin_backward(dy);
    parallel_for(x_.dim(0), [&](Index n) { backward_sample(n); });
    end_backward();
    return dx_;
  }
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
  bool relu() const { return act_ == Activation::ReLU; }
  // " + ReLU" when fused, for name().
  std::string activation_suffix() const { return act_ == Activation::ReLU ? " + ReLU" : ""; }
  // The common start of a forward pass: checks x, keeps it for backward, sizes the output.
  void begin(const Tensor<T>& x, Mode mode) {
    y_.resize(this->output_shape(x.shape()));
    x_ = x;
    mask_written_ = act_ == Activation::ReLU && mode == Mode::Train;
    if (mask_written_) mask_.resize(static_cast<std::size_t>(x.size()));
  }
  // The common start of a backward pass: checks dy, keeps it, sizes dx, gets the mask.
  void begin_grad(const Tensor<T>& dy) {
    this->check_grad_shape(dy.shape(), y_.shape());
    dy_ = dy.data();
    dx_.resize(x_.shape());
    dy_mask_ = backward_mask();
  }
  // Where the forward kernels write the fused ReLU's mask: training mode only, since inference
  // has no use for it (null otherwise).
  std::uint8_t* forward_mask() { return mask_written_ ? mask_.data() : nullptr; }
  // The fused ReLU's mask for backward, or null without a ReLU. After an eval-mode forward it
  // is derived here from the output: y = max(v, 0) > 0 exactly where v > 0 (and not for NaN).
  const std::uint8_t* backward_mask() {
    if (act_ != Activation::ReLU) return nullptr;
    if (!mask_written_) {
      mask_.resize(static_cast<std::size_t>(y_.size()));
      const T* y = y_.data();
      for (Index k = 0; k < y_.size(); ++k) mask_[static_cast<std::size_t>(k)] = y[k] > T(0);
      mask_written_ = true;
    }
    return mask_.data();
  }

  Index c_;
  double eps_;
  Activation act_;
  Parameter<T> weight_, bias_;
  Tensor<T> x_, y_, dx_;
  std::vector<double> mean_, rstd_;
  std::vector<std::uint8_t> mask_;
  bool mask_written_ = false;
  const T* dy_ = nullptr;                   // dy, during a backward pass
  const std::uint8_t* dy_mask_ = nullptr;  // the fused ReLU's mask, during a backward pass
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
  // Training mode needs the statistics of the whole batch before it can normalise a sample.
  bool gathers_statistics(Mode mode) const override { return mode == Mode::Train; }
  // Train: sizes the per-sample moments that gather_sample fills. Eval: the affine
  // coefficients of the running statistics.
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode mode) override {
    this->begin(x, mode);
    train_ = mode == Mode::Train;
    const Index n = x.dim(0), c = this->c_;
    const auto cs = static_cast<std::size_t>(c);
    this->mean_.resize(cs);
    this->rstd_.resize(cs);
    scale_.resize(cs);
    shift_.resize(cs);
    if (train_) {
      if (n * x.dim(2) * x.dim(3) < 2)
        throw ShapeError(detail::cat(name(), ": training needs more than one value per channel, got input ", x.shape()));
      moments_.resize(static_cast<std::size_t>(2 * n * c));
      return this->y_;
    }
    for (Index ch = 0; ch < c; ++ch) {
      const auto i = static_cast<std::size_t>(ch);
      this->mean_[i] = running_mean_[ch];
      this->rstd_[i] = 1.0 / std::sqrt(static_cast<double>(running_var_[ch]) + this->eps_);
      detail::affine_coefficients(scale_[i], shift_[i], this->weight_.value[ch], this->bias_.value[ch], this->mean_[i],
                                  this->rstd_[i]);
    }
    return this->y_;
  }
  void gather_sample(Index n) override {
    const Tensor<T>& x = this->x_;
    batchnorm_sample_moments(n, moments_.data(), moments_.data() + x.dim(0) * this->c_, x.data(), this->c_,
                             x.dim(2) * x.dim(3));
  }
  // The batch statistics, the running-statistics update and the affine coefficients.
  void end_gather() override {
    const Tensor<T>& x = this->x_;
    const Index n = x.dim(0), c = this->c_, hw = x.dim(2) * x.dim(3), m = n * hw;
    var_.resize(static_cast<std::size_t>(c));
    batchnorm_combine_moments(this->mean_.data(), var_.data(), moments_.data(), moments_.data() + n * c, n, c, hw);
    for (Index ch = 0; ch < c; ++ch) {
      const auto i = static_cast<std::size_t>(ch);
      this->rstd_[i] = 1.0 / std::sqrt(var_[i] + this->eps_);
      const double unbiased = var_[i] * static_cast<double>(m) / static_cast<double>(m - 1);
      running_mean_[ch] = static_cast<T>((1 - momentum_) * running_mean_[ch] + momentum_ * this->mean_[i]);
      running_var_[ch] = static_cast<T>((1 - momentum_) * running_var_[ch] + momentum_ * unbiased);
      detail::affine_coefficients(scale_[i], shift_[i], this->weight_.value[ch], this->bias_.value[ch], this->mean_[i],
                                  this->rstd_[i]);
    }
  }
  void forward_sample(Index n) override {
    const Tensor<T>& x = this->x_;
    batchnorm_apply_sample(n, this->y_.data(), this->relu(), this->forward_mask(), x.data(), scale_.data(), shift_.data(), this->c_,
                           x.dim(2) * x.dim(3));
  }

  // Train: the sums over the batch that every sample's dx needs (one pass, parallel over
  // samples), which also give dgamma and dbeta. Eval: nothing yet (dx needs no sums).
  void begin_backward(const Tensor<T>& dy) override {
    this->begin_grad(dy);
    const Tensor<T>& x = this->x_;
    const Index n = x.dim(0), c = this->c_, hw = x.dim(2) * x.dim(3);
    partial_.resize(static_cast<std::size_t>(2 * n * c + 2 * c));
    if (train_)
      batchnorm_backward_sums(partial_.data(), this->weight_.grad.data(), this->bias_.grad.data(), this->dy_, this->dy_mask_,
                              x.data(), this->mean_.data(), this->rstd_.data(), n, c, hw);
  }
  // Sample n's dx; in eval mode also its part of dgamma and dbeta, added up by end_backward.
  void backward_sample(Index n) override {
    const Tensor<T>& x = this->x_;
    const Index N = x.dim(0), c = this->c_, hw = x.dim(2) * x.dim(3);
    if (train_) {
      batchnorm_backward_sample(n, this->dx_.data(), this->dy_, this->dy_mask_, x.data(), this->mean_.data(), this->rstd_.data(),
                                this->weight_.value.data(), partial_.data() + 2 * N * c, c, hw);
      return;
    }
    batchnorm_backward_sums_sample(n, partial_.data(), this->dy_, this->dy_mask_, x.data(), this->mean_.data(), this->rstd_.data(), N,
                                   c, hw);
    batchnorm_backward_fixed_sample(n, this->dx_.data(), this->dy_, this->dy_mask_, this->rstd_.data(), this->weight_.value.data(), c,
                                    hw);
  }
  void end_backward() override {
    if (!train_) add_sample_partials(this->weight_.grad.data(), this->bias_.grad.data(), partial_.data(), this->x_.dim(0), this->c_);
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
  std::vector<double> moments_;   // training forward: [N, C] means, then [N, C] sums of squared deviations
  std::vector<double> partial_;   // backward: [N, C] sums of dy * xhat and [N, C] of dy, then [C] means of each
  std::vector<T> scale_, shift_;  // the affine coefficients per channel (batch or running statistics)
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
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode mode) override {
    this->begin(x, mode);
    const auto ng = static_cast<std::size_t>(x.dim(0) * groups_);
    this->mean_.resize(ng);
    this->rstd_.resize(ng);
    return this->y_;
  }
  void forward_sample(Index n) override {
    const Tensor<T>& x = this->x_;
    groupnorm_forward_sample(n, this->y_.data(), this->relu(), this->forward_mask(), this->mean_.data(), this->rstd_.data(), x.data(),
                             this->weight_.value.data(), this->bias_.value.data(), this->c_, x.dim(2) * x.dim(3), groups_,
                             this->eps_);
  }

  void begin_backward(const Tensor<T>& dy) override {
    this->begin_grad(dy);
    partial_.resize(static_cast<std::size_t>(2 * this->x_.dim(0) * this->c_));
  }
  void backward_sample(Index n) override {
    const Tensor<T>& x = this->x_;
    groupnorm_backward_sample(n, this->dx_.data(), partial_.data(), this->dy_, this->dy_mask_, x.data(), this->mean_.data(),
                              this->rstd_.data(), this->weight_.value.data(), x.dim(0), this->c_, x.dim(2) * x.dim(3),
                              groups_);
  }
  void end_backward() override {
    add_sample_partials(this->weight_.grad.data(), this->bias_.grad.data(), partial_.data(), this->x_.dim(0), this->c_);
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
