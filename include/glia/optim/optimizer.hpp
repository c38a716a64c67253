// glia/optim/optimizer.hpp: SGD (momentum, Nesterov), Adam and AdamW over FlatParameters.
//
// Contract: step(params, lr) updates params.values() from params.grads() with learning rate lr
// (a schedule supplies it every step); it does not zero the gradients. Per element i, with
// g = grad[i] and decay d = weight_decay * mask[i] (mask = 0 for biases and norm parameters
// when exempt_no_decay, see FlatParameters::decay_mask), l1 = l1 * mask[i]:
//   SGD (PyTorch's):  g += d p + l1 sign(p);   buf = momentum buf + (1 - dampening) g
//                     (buf = g on the first step);  g = nesterov ? g + momentum buf : buf
//                     p -= lr g
//   Adam:             g += d p + l1 sign(p);   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//                     p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
//   AdamW:            as Adam without d in g, and p -= lr d p first (decoupled decay)
// The L1 term is the gradient of l1 * sum |p| added to the loss (the reference code has one).
// state() names the optimiser's tensors for checkpoints; they are sized on the first step (or
// by resize_state) and restoring them continues a run exactly. Elementwise and parallel in fixed
// blocks: results do not depend on the thread count. The loops are kernels/optimizer_step.hpp's,
// dispatched per instruction set. ValueError for invalid hyperparameters.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "glia/kernels/elementwise.hpp"
#include "glia/kernels/optimizer_step.hpp"
#include "glia/nn/flat_parameters.hpp"

namespace glia {

struct OptimizerOptions {
  double momentum = 0.0;       // SGD
  double dampening = 0.0;      // SGD
  bool nesterov = false;       // SGD
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam, AdamW
  double weight_decay = 0.0;
  double l1 = 0.0;
  bool exempt_no_decay = true;  // biases and norm parameters get no weight decay / L1
};

template <typename T>
class Optimizer {
 public:
  explicit Optimizer(const OptimizerOptions& o) : o_(o) {
    auto bad = [](double v) { return !(v >= 0.0) || !std::isfinite(v); };
    if (bad(o.momentum) || bad(o.dampening) || bad(o.weight_decay) || bad(o.l1) || bad(o.eps) ||
        !(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1))
      throw ValueError(detail::cat("optimizer: invalid hyperparameters (momentum ", o.momentum, ", weight decay ",
                                   o.weight_decay, ", l1 ", o.l1, ", betas ", o.beta1, "/", o.beta2, ", eps ", o.eps, ")"));
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
      throw ValueError("SGD: Nesterov momentum needs momentum > 0 and zero dampening");
  }
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;

  void step(FlatParameters<T>& p, double lr) {
    if (!std::isfinite(lr) || lr < 0) throw ValueError(detail::cat(name(), ": invalid learning rate ", lr));
    resize_state(p.size());
    ++steps_;
    update(p, lr);
  }
  std::uint64_t steps() const { return steps_; }
  std::uint64_t* steps_counter() { return &steps_; }
  const OptimizerOptions& options() const { return o_; }

  // Named state tensors (after resize_state or a first step).
  virtual std::vector<std::pair<std::string, Tensor<T>*>> state() = 0;
  virtual void resize_state(Index n) = 0;

 protected:
  virtual void update(FlatParameters<T>& p, double lr) = 0;
  // The arrays and penalties every step's loop reads (kernels/optimizer_step.hpp).
  detail::ParameterArrays<T> arrays(FlatParameters<T>& p) const {
    return {p.values().data(), p.grads().data(), p.decay_mask().data(), static_cast<T>(o_.l1),
            o_.exempt_no_decay ? T(1) : T(0)};
  }
  static void ensure(Tensor<T>& t, Index n) {
    if (t.size() != n || t.empty()) t = Tensor<T>(Shape{n});
  }

  OptimizerOptions o_;
  std::uint64_t steps_ = 0;
};

template <typename T>
class Sgd : public Optimizer<T> {
 public:
  explicit Sgd(const OptimizerOptions& o = {}) : Optimizer<T>(o) {}
  std::string name() const override { return this->o_.nesterov ? "SGD(nesterov)" : "SGD"; }
  std::vector<std::pair<std::string, Tensor<T>*>> state() override { return {{"momentum_buffer", &buf_}}; }
  void resize_state(Index n) override { this->ensure(buf_, n); }

 protected:
  void update(FlatParameters<T>& p, double lr) override {
    using V = detail::SgdVariant;
    const OptimizerOptions& o = this->o_;
    const bool first = this->steps_ == 1;
    const V variant = o.momentum == 0 ? V::Plain
                      : first         ? (o.nesterov ? V::MomentumFirstNesterov : V::MomentumFirst)
                                      : (o.nesterov ? V::MomentumNesterov : V::Momentum);
    const detail::SgdStep<T> s{this->arrays(p), buf_.data(), static_cast<T>(lr), static_cast<T>(o.momentum),
                               static_cast<T>(1.0 - o.dampening), static_cast<T>(o.weight_decay), variant};
    parallel_blocks(p.size(), [&](Index b, Index e) { detail::sgd_update(s, b, e); });
  }

 private:
  Tensor<T> buf_;
};

// Adam, and AdamW when decoupled (the weight decay is then applied to the weights directly).
template <typename T>
class Adam : public Optimizer<T> {
 public:
  explicit Adam(const OptimizerOptions& o = {}, bool decoupled = false) : Optimizer<T>(o), decoupled_(decoupled) {}
  std::string name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  std::vector<std::pair<std::string, Tensor<T>*>> state() override { return {{"exp_avg", &m_}, {"exp_avg_sq", &v_}}; }
  void resize_state(Index n) override {
    this->ensure(m_, n);
    this->ensure(v_, n);
  }

 protected:
  void update(FlatParameters<T>& p, double lr) override {
    const OptimizerOptions& o = this->o_;
    const double t = static_cast<double>(this->steps_);
    const detail::AdamStep<T> s{this->arrays(p), m_.data(), v_.data(), static_cast<T>(lr), static_cast<T>(o.beta1),
                                static_cast<T>(o.beta2), static_cast<T>(o.eps),
                                static_cast<T>(1.0 / (1.0 - std::pow(o.beta1, t))),
                                static_cast<T>(1.0 / (1.0 - std::pow(o.beta2, t))),
                                static_cast<T>(decoupled_ ? lr * o.weight_decay : o.weight_decay), decoupled_};
    parallel_blocks(p.size(), [&](Index b, Index e) { detail::adam_update(s, b, e); });
  }

 private:
  bool decoupled_;
  Tensor<T> m_, v_;
};

template <typename T>
class AdamW : public Adam<T> {
 public:
  explicit AdamW(const OptimizerOptions& o = {}) : Adam<T>(o, true) {}
};

}  // namespace glia
