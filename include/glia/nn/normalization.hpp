// glia/nn/normalization.hpp: BatchNorm2d, BatchNorm1d and GroupNorm (the maths and its reference
// twins: kernels/batchnorm.hpp, kernels/groupnorm.hpp).
//
// BatchNorm2d and GroupNorm take [N, C, H, W] (H = W = 1 allowed) and return the same shape, with a learnable
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
//   A batch that is a rank's share of a global batch (nn/module.hpp's set_batch_split): the
//   statistics are the global batch's, as PyTorch's SyncBatchNorm, and bit for bit those of one
//   process with the whole batch: the per-sample moments (forward) and gradient sums (backward),
//   2 x C doubles per sample, are gathered from every rank and combined in sample order.
// GroupNorm(G, C, eps): statistics per sample over the C/G channels of each group and H, W;
//   same in train and eval. ValueError unless G divides C. Caches input, mean and rstd per (n, g).
// BatchNorm1d(C, eps, momentum = 0.1): PyTorch's, for [N, C] (after a Linear) or [N, C, L]:
//   BatchNorm2d's maths on the input viewed as [N, C, L, 1] (L = 1 for [N, C]), the same
//   parameters and buffers; ShapeError for another rank or channel count.
// GroupNorm(1, C) is the reference network's "layer norm" (--norm ln, torch_ref.py's
//   nn.GroupNorm(1, c)): each sample normalised over all of (C, H, W), then a per-channel
//   affine. PyTorch's LayerNorm, over the last dimensions with an element-wise affine, is
//   nn/layer_norm.hpp.
// Fused ReLU: constructed with Activation::ReLU, each norm returns relu(norm(x)) and its backward
//   takes dy through the ReLU (dy where the output is > 0, else 0), with the results of a norm
//   followed by a ReLU module bit for bit, in two passes over memory less each way. It caches a
//   uint8 mask [N, C, H, W] of where the output is positive, in training mode only: after an
//   eval-mode forward, backward derives it from the output (y > 0 is the same set). name() says
//   "+ ReLU".
// Per-sample kernels: forward and backward are Module's protocols (nn/module.hpp), BatchNorm2d in
// training mode gathering the batch statistics first (forward) and their gradient sums in
// begin_backward. The plan (nn/plan.hpp) runs a norm's backward on each sample inside the loop
// of the convolution before it (Module::backward_with_producer); the values are the same bit
// for bit.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "glia/kernels/batchnorm.hpp"
#include "glia/kernels/groupnorm.hpp"
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
  Index channels() const { return c_; }
  double eps() const { return eps_; }

  // The per-sample kernels (see the top of this file). output() is forward's result;
  // begin_backward sizes the input gradient to dy's shape and returns it.
  bool samplewise(Mode) const override { return true; }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode mode) override = 0;  // returns output()
  void forward_sample(Index n) override = 0;
  bool samplewise_backward() const override { return true; }
  const Tensor<T>& begin_backward(const Tensor<T>& dy) override = 0;
  void backward_sample(Index n) override = 0;
  const Tensor<T>& output() const { return y_; }

  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override { return forward_by_sample(*this, x, mode); }
  const Tensor<T>& backward(const Tensor<T>& dy) override { return backward_by_sample(*this, dy); }
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
      sample_mean_.resize(static_cast<std::size_t>(n * c));
      sample_m2_.resize(static_cast<std::size_t>(n * c));
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
    batchnorm_sample_moments(n, sample_mean_.data(), sample_m2_.data(), x.data(), this->c_,
                             x.dim(2) * x.dim(3));
  }
  // The batch statistics, the running-statistics update and the affine coefficients.
  // With a batch split across ranks, the moments of every sample of the global batch first.
  void end_gather() override {
    const Tensor<T>& x = this->x_;
    const Index c = this->c_, hw = x.dim(2) * x.dim(3);
    const std::vector<double>& sample_mean = this->gather_samples(sample_mean_, c, global_a_);
    const std::vector<double>& sample_m2 = this->gather_samples(sample_m2_, c, global_b_);
    const Index n = static_cast<Index>(sample_mean.size()) / c, m = n * hw;
    var_.resize(static_cast<std::size_t>(c));
    batchnorm_combine_moments(this->mean_.data(), var_.data(), sample_mean.data(), sample_m2.data(), n, c, hw);
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
  const Tensor<T>& begin_backward(const Tensor<T>& dy) override {
    this->begin_grad(dy);
    const Tensor<T>& x = this->x_;
    const Index n = x.dim(0), c = this->c_, hw = x.dim(2) * x.dim(3);
    sample_dyxhat_.resize(static_cast<std::size_t>(n * c));
    sample_dy_.resize(static_cast<std::size_t>(n * c));
    if (!train_) return this->dx_;
    parallel_for(n, [&](Index i) {
      batchnorm_backward_sums_sample(i, sample_dyxhat_.data(), sample_dy_.data(), this->dy_, this->dy_mask_, x.data(),
                                     this->mean_.data(), this->rstd_.data(), c, hw);
    });
    mean_dyxhat_.resize(static_cast<std::size_t>(c));
    mean_dy_.resize(static_cast<std::size_t>(c));
    const std::vector<double>& all_dyxhat = this->gather_samples(sample_dyxhat_, c, global_a_);
    const std::vector<double>& all_dy = this->gather_samples(sample_dy_, c, global_b_);
    batchnorm_backward_means(mean_dyxhat_.data(), mean_dy_.data(), all_dyxhat.data(), all_dy.data(),
                             static_cast<Index>(all_dy.size()) / c, c, hw);
    add_sample_partials(this->weight_.grad.data(), this->bias_.grad.data(), sample_dyxhat_.data(), sample_dy_.data(), c,
                        this->gradient_chunks(n));
    return this->dx_;
  }
  // Sample n's dx; in eval mode also its part of dgamma and dbeta, added up by end_backward.
  void backward_sample(Index n) override {
    const Tensor<T>& x = this->x_;
    const Index c = this->c_, hw = x.dim(2) * x.dim(3);
    const T* gamma = this->weight_.value.data();
    if (train_) {
      batchnorm_backward_sample(n, this->dx_.data(), this->dy_, this->dy_mask_, x.data(), this->mean_.data(),
                                this->rstd_.data(), gamma, mean_dyxhat_.data(), mean_dy_.data(), c, hw);
      return;
    }
    batchnorm_backward_sums_sample(n, sample_dyxhat_.data(), sample_dy_.data(), this->dy_, this->dy_mask_, x.data(),
                                   this->mean_.data(), this->rstd_.data(), c, hw);
    batchnorm_backward_fixed_sample(n, this->dx_.data(), this->dy_, this->dy_mask_, this->rstd_.data(), gamma, c, hw);
  }
  void end_backward() override {
    if (!train_)
      add_sample_partials(this->weight_.grad.data(), this->bias_.grad.data(), sample_dyxhat_.data(), sample_dy_.data(),
                          this->c_, this->gradient_chunks(this->x_.dim(0)));
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
  std::vector<double> sample_mean_, sample_m2_;  // training forward: [N, C] means and sums of squared deviations
  std::vector<double> global_a_, global_b_;      // a split batch: the same of the global batch (gather_samples)
  std::vector<double> sample_dyxhat_, sample_dy_;  // backward: [N, C] sums of dy * xhat and of dy
  std::vector<double> mean_dyxhat_, mean_dy_;      // backward, training: [C] batch means of each
  std::vector<T> scale_, shift_;  // the affine coefficients per channel (batch or running statistics)
  bool train_ = true;
};

template <typename T>
class BatchNorm1d : public Module<T> {
 public:
  explicit BatchNorm1d(Index channels, double eps = 1e-5, double momentum = 0.1, Activation act = Activation::Identity)
      : c_(channels), bn_(channels, eps, momentum, act) {}
  BatchNorm2d<T>& as_2d() { return bn_; }
  Parameter<T>& weight() { return bn_.weight(); }
  Parameter<T>& bias() { return bn_.bias(); }
  Tensor<T>& running_mean() { return bn_.running_mean(); }
  Tensor<T>& running_var() { return bn_.running_var(); }
  void set_local_batch_split(const BatchSplit* split) override {
    Module<T>::set_local_batch_split(split);
    bn_.set_local_batch_split(split);
  }

  std::string name() const override {
    std::string n = bn_.name();
    return n.replace(n.find("2d"), 2, "1d");
  }
  Shape output_shape(const Shape& in) const override {
    bn_.output_shape(as_4d(in));
    return in;
  }
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override { return forward_by_sample(*this, x, mode); }
  bool samplewise(Mode mode) const override { return bn_.samplewise(mode); }
  bool gathers_statistics(Mode mode) const override { return bn_.gathers_statistics(mode); }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode mode) override {
    y_ = bn_.begin_forward(x.view(as_4d(x.shape())), mode).view(x.shape());
    return y_;
  }
  void gather_sample(Index n) override { bn_.gather_sample(n); }
  void end_gather() override { bn_.end_gather(); }
  void forward_sample(Index n) override { bn_.forward_sample(n); }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), y_.shape());
    dx_ = bn_.backward(dy.view(as_4d(dy.shape()))).view(dy.shape());
    return dx_;
  }
  void collect(const std::string& prefix, std::vector<NamedParameter<T>>& params,
               std::vector<NamedBuffer<T>>& buffers) override {
    bn_.collect(prefix, params, buffers);
  }
  void reset_parameters(Rng& rng) override { bn_.reset_parameters(rng); }

 private:
  Shape as_4d(const Shape& in) const {
    if (in.rank() == 2 && in[1] == c_) return Shape{in[0], in[1], 1, 1};
    if (in.rank() == 3 && in[1] == c_) return Shape{in[0], in[1], in[2], 1};
    throw ShapeError(detail::cat(name(), ": expected input [N, ", c_, "] or [N, ", c_, ", L], got ", in));
  }
  Index c_;
  BatchNorm2d<T> bn_;
  Tensor<T> y_, dx_;  // views of bn_'s, in the input's shape
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

  const Tensor<T>& begin_backward(const Tensor<T>& dy) override {
    this->begin_grad(dy);
    sample_dyxhat_.resize(static_cast<std::size_t>(this->x_.dim(0) * this->c_));
    sample_dy_.resize(sample_dyxhat_.size());
    return this->dx_;
  }
  void backward_sample(Index n) override {
    const Tensor<T>& x = this->x_;
    groupnorm_backward_sample(n, this->dx_.data(), sample_dyxhat_.data(), sample_dy_.data(), this->dy_, this->dy_mask_,
                              x.data(), this->mean_.data(), this->rstd_.data(), this->weight_.value.data(), this->c_,
                              x.dim(2) * x.dim(3), groups_);
  }
  void end_backward() override {
    add_sample_partials(this->weight_.grad.data(), this->bias_.grad.data(), sample_dyxhat_.data(), sample_dy_.data(),
                        this->c_, this->gradient_chunks(this->x_.dim(0)));
  }

 private:
  Index groups_;
  std::vector<double> sample_dyxhat_, sample_dy_;  // backward: [N, C] sums of dy * xhat and of dy
};


}  // namespace glia
