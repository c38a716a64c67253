// glia/nn/loss.hpp: LogSoftmax (a module), NLLLoss and CrossEntropyLoss (kernels/softmax.hpp).
//
// LogSoftmax: input [N, C] or [N, C, 1, 1] (a 1x1-conv head) -> output [N, C], log-probabilities
//   over C. Caches its output (the backward needs softmax = exp(output)). dx has x's shape.
// NLLLoss::forward(logp [N, C], targets) -> mean over N of -logp[n, t_n]; backward() returns
//   dL/dlogp. CrossEntropyLoss does log-softmax and NLL in one step on logits ([N, C] or
//   [N, C, 1, 1]), with optional label smoothing and class weights (PyTorch's definitions:
//   weighted, the mean is over the weights of the targets; ValueError for a negative or
//   non-finite weight, ShapeError for a weight count other than C, ValueError when the
//   targets' weights sum to 0).
// MSELoss, L1Loss, BCEWithLogitsLoss::forward(prediction, target of the same shape) -> the mean
//   over all elements (kernels/regression_loss.hpp); backward() returns dL/dprediction.
//   ShapeError if the shapes differ.
// DistillationLoss(weight a, temperature tau, label smoothing s)::forward(student logits,
//   teacher logits, targets) -> (1 - a) CrossEntropy_s(student) + a tau^2 KL(softmax(teacher/tau)
//   || softmax(student/tau)) (kernels/softmax.hpp); backward() returns dL/d(student logits).
//   The teacher's logits must have the student's shape (ShapeError); a outside [0, 1], tau <= 0
//   or s outside [0, 1] is a ValueError at construction.
// Targets are int32 class indices; ShapeError if there are not N of them, ValueError if one is
// outside [0, C). Both are reduced with mean, so the gradient is already divided by N (or by
// set_mean_over's count: a rank's share of a global batch divides by the global count).
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "glia/kernels/regression_loss.hpp"
#include "glia/kernels/softmax.hpp"
#include "glia/nn/module.hpp"

namespace glia {

// [N, C] view of class scores given as [N, C] or [N, C, 1, 1].
inline Shape class_scores_shape(const char* op, const Shape& in) {
  if (in.rank() == 2) return in;
  if (in.rank() == 4 && in[2] == 1 && in[3] == 1) return Shape{in[0], in[1]};
  throw ShapeError(detail::cat(op, ": expected class scores [N,C] or [N,C,1,1], got ", in));
}

inline void check_targets(const char* op, const Shape& scores, const std::vector<std::int32_t>& targets) {
  if (static_cast<Index>(targets.size()) != scores[0])
    throw ShapeError(detail::cat(op, ": ", targets.size(), " targets for scores ", scores));
  for (std::size_t i = 0; i < targets.size(); ++i)
    if (targets[i] < 0 || targets[i] >= scores[1])
      throw ValueError(detail::cat(op, ": target ", targets[i], " of sample ", i, " is outside [0,", scores[1], ")"));
}

template <typename T>
class LogSoftmax : public Module<T> {
 public:
  std::string name() const override { return "LogSoftmax"; }
  Shape output_shape(const Shape& in) const override { return class_scores_shape("LogSoftmax", in); }
  const Tensor<T>& forward(const Tensor<T>& x, Mode) override {
    const Shape s = output_shape(x.shape());
    in_shape_ = x.shape();
    y_.resize(s);
    log_softmax_forward(y_.data(), x.data(), s[0], s[1]);
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), y_.shape());
    dx_.resize(in_shape_);
    log_softmax_backward(dx_.data(), dy.data(), y_.data(), y_.dim(0), y_.dim(1));
    return dx_;
  }

 private:
  Shape in_shape_;
  Tensor<T> y_, dx_;
};

template <typename T>
class NLLLoss {
 public:
  T forward(const Tensor<T>& logp, const std::vector<std::int32_t>& targets) {
    const Shape s = class_scores_shape("NLLLoss", logp.shape());
    check_targets("NLLLoss", s, targets);
    grad_.resize(logp.shape());
    return nll_loss(grad_.data(), logp.data(), targets.data(), s[0], s[1]);
  }
  const Tensor<T>& backward() const { return grad_; }

 private:
  Tensor<T> grad_;
};

template <typename T>
class CrossEntropyLoss {
 public:
  explicit CrossEntropyLoss(double label_smoothing = 0.0, std::vector<double> weight = {})
      : smoothing_(label_smoothing), weight_(std::move(weight)) {
    if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
      throw ValueError(detail::cat("CrossEntropyLoss: label smoothing must be in [0, 1], got ", label_smoothing));
    for (std::size_t k = 0; k < weight_.size(); ++k)
      if (!(weight_[k] >= 0.0 && std::isfinite(weight_[k])))
        throw ValueError(detail::cat("CrossEntropyLoss: weight of class ", k, " must be finite and >= 0, got ", weight_[k]));
  }
  T forward(const Tensor<T>& logits, const std::vector<std::int32_t>& targets) {
    const Shape s = class_scores_shape("CrossEntropyLoss", logits.shape());
    check_targets("CrossEntropyLoss", s, targets);
    grad_.resize(logits.shape());
    logp_.resize(s);
    if (weight_.empty())
      return cross_entropy_loss(grad_.data(), logp_.data(), logits.data(), targets.data(), s[0], s[1], smoothing_,
                                mean_over_);
    if (mean_over_) throw ValueError("CrossEntropyLoss: class weights with set_mean_over (a share of a batch)");
    check_weights(s, targets);
    return weighted_cross_entropy_loss(grad_.data(), logp_.data(), logits.data(), targets.data(), weight_.data(), s[0], s[1],
                                       smoothing_);
  }
  const Tensor<T>& backward() const { return grad_; }
  // The count the mean divides by from now on (0: the batch's); for a rank's share of a global batch.
  void set_mean_over(Index n) { mean_over_ = n; }
  // Log-probabilities of the last forward, [N, C].
  const Tensor<T>& log_probs() const { return logp_; }

 private:
  void check_weights(const Shape& s, const std::vector<std::int32_t>& targets) const {
    if (static_cast<Index>(weight_.size()) != s[1])
      throw ShapeError(detail::cat("CrossEntropyLoss: ", weight_.size(), " class weights for scores ", s));
    double total = 0;
    for (std::int32_t t : targets) total += weight_[static_cast<std::size_t>(t)];
    if (!(total > 0)) throw ValueError("CrossEntropyLoss: the targets' class weights sum to 0 (the mean is undefined)");
  }

  double smoothing_;
  std::vector<double> weight_;
  Index mean_over_ = 0;
  Tensor<T> grad_, logp_;
};

// The losses between a prediction and a target of the same shape (kernels/regression_loss.hpp).
template <typename T, T (*Kernel)(T*, const T*, const T*, Index)>
class ElementwiseLoss {
 public:
  explicit ElementwiseLoss(const char* name) : name_(name) {}
  T forward(const Tensor<T>& prediction, const Tensor<T>& target) {
    if (prediction.shape() != target.shape())
      throw ShapeError(detail::cat(name_, ": prediction ", prediction.shape(), " and target ", target.shape(), " differ"));
    if (prediction.size() == 0) throw ShapeError(detail::cat(name_, ": empty prediction ", prediction.shape()));
    grad_.resize(prediction.shape());
    return Kernel(grad_.data(), prediction.data(), target.data(), prediction.size());
  }
  const Tensor<T>& backward() const { return grad_; }

 private:
  const char* name_;
  Tensor<T> grad_;
};

template <typename T>
struct MSELoss : ElementwiseLoss<T, mse_loss<T>> {
  MSELoss() : ElementwiseLoss<T, mse_loss<T>>("MSELoss") {}
};
template <typename T>
struct L1Loss : ElementwiseLoss<T, l1_loss<T>> {
  L1Loss() : ElementwiseLoss<T, l1_loss<T>>("L1Loss") {}
};
template <typename T>
struct BCEWithLogitsLoss : ElementwiseLoss<T, bce_with_logits_loss<T>> {
  BCEWithLogitsLoss() : ElementwiseLoss<T, bce_with_logits_loss<T>>("BCEWithLogitsLoss") {}
};

template <typename T>
class DistillationLoss {
 public:
  DistillationLoss(double weight, double temperature, double label_smoothing = 0.0)
      : weight_(weight), temperature_(temperature), smoothing_(label_smoothing) {
    if (!(weight >= 0.0 && weight <= 1.0))
      throw ValueError(detail::cat("DistillationLoss: the weight of the teacher's term must be in [0, 1], got ", weight));
    if (!(temperature > 0.0 && std::isfinite(temperature)))
      throw ValueError(detail::cat("DistillationLoss: temperature must be > 0 and finite, got ", temperature));
    if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
      throw ValueError(detail::cat("DistillationLoss: label smoothing must be in [0, 1], got ", label_smoothing));
  }
  T forward(const Tensor<T>& logits, const Tensor<T>& teacher_logits, const std::vector<std::int32_t>& targets) {
    const Shape s = class_scores_shape("DistillationLoss", logits.shape());
    const Shape st = class_scores_shape("DistillationLoss (teacher)", teacher_logits.shape());
    if (st != s)
      throw ShapeError(detail::cat("DistillationLoss: teacher scores ", teacher_logits.shape(), " do not match the student's ",
                                   logits.shape()));
    check_targets("DistillationLoss", s, targets);
    grad_.resize(logits.shape());
    logp_.resize(s);
    return distillation_loss(grad_.data(), logp_.data(), logits.data(), teacher_logits.data(), targets.data(), s[0], s[1],
                             smoothing_, weight_, temperature_, mean_over_);
  }
  const Tensor<T>& backward() const { return grad_; }
  void set_mean_over(Index n) { mean_over_ = n; }

 private:
  double weight_, temperature_, smoothing_;
  Index mean_over_ = 0;
  Tensor<T> grad_, logp_;
};

}  // namespace glia
