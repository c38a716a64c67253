// glia/nn/residual.hpp: y = body(x) + shortcut(x), the residual connection.
//
// Contract: the shortcut is the identity when none is given. body(x) and shortcut(x) must have
// the same shape (ShapeError otherwise, naming both). Backward sends dy through both branches
// and returns the sum of the two input gradients: dx = dbody/dx^T dy + dshortcut/dx^T dy.
// Parameters are named "body.*" and "shortcut.*".
#pragma once

#include "glia/kernels/elementwise.hpp"
#include "glia/nn/module.hpp"

namespace glia {

template <typename T>
class Residual : public Module<T> {
 public:
  explicit Residual(std::unique_ptr<Module<T>> body, std::unique_ptr<Module<T>> shortcut = nullptr)
      : body_(std::move(body)), shortcut_(std::move(shortcut)) {}

  Module<T>& body() { return *body_; }

  std::string name() const override { return shortcut_ ? "Residual" : "Residual(identity)"; }
  Shape output_shape(const Shape& input) const override {
    const Shape b = body_->output_shape(input);
    const Shape s = shortcut_ ? shortcut_->output_shape(input) : input;
    if (b != s)
      throw ShapeError(detail::cat("Residual: body gives ", b, " but shortcut gives ", s, " for input ", input));
    return b;
  }
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override {
    if (samplewise(mode)) return forward_by_sample(*this, x, mode);
    output_shape(x.shape());
    const Tensor<T>& b = body_->forward(x, mode);
    const Tensor<T>& s = shortcut_ ? shortcut_->forward(x, mode) : x;
    y_.resize(b.shape());
    add(y_.data(), b.data(), s.data(), y_.size());
    return y_;
  }
  // Sample by sample (nn/module.hpp) when both branches are: sample n of the sum is added as
  // soon as both branches have computed it.
  bool samplewise(Mode mode) const override {
    return body_->samplewise(mode) && (!shortcut_ || shortcut_->samplewise(mode));
  }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode mode) override {
    output_shape(x.shape());
    x_ = x;
    body_out_ = &body_->begin_forward(x, mode);
    shortcut_out_ = shortcut_ ? &shortcut_->begin_forward(x, mode) : &x_;
    y_.resize(body_out_->shape());
    return y_;
  }
  void forward_sample(Index n) override {
    body_->forward_sample(n);
    if (shortcut_) shortcut_->forward_sample(n);
    const Index per = y_.size() / y_.dim(0);
    add(y_.data() + n * per, body_out_->data() + n * per, shortcut_out_->data() + n * per, per);
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_shape(dy.shape(), y_.shape());
    const Tensor<T>& db = body_->backward(dy);
    const Tensor<T>& ds = shortcut_ ? shortcut_->backward(dy) : dy;  // its parameters need it
    if (!this->needs_input_grad_) return dx_;
    dx_.resize(db.shape());
    add(dx_.data(), db.data(), ds.data(), dx_.size());
    return dx_;
  }
  void collect(const std::string& prefix, std::vector<NamedParameter<T>>& params,
               std::vector<NamedBuffer<T>>& buffers) override {
    body_->collect(join_name(prefix, "body"), params, buffers);
    if (shortcut_) shortcut_->collect(join_name(prefix, "shortcut"), params, buffers);
  }
  std::vector<std::pair<std::string, Module<T>*>> children() override {
    std::vector<std::pair<std::string, Module<T>*>> c{{"body", body_.get()}};
    if (shortcut_) c.emplace_back("shortcut", shortcut_.get());
    return c;
  }
  void reset_parameters(Rng& rng) override {
    body_->reset_parameters(rng);
    if (shortcut_) shortcut_->reset_parameters(rng);
  }

 private:
  std::unique_ptr<Module<T>> body_, shortcut_;
  Tensor<T> x_, y_, dx_;
  const Tensor<T>* body_out_ = nullptr;      // the branches' outputs, during a forward by sample
  const Tensor<T>* shortcut_out_ = nullptr;
};

}  // namespace glia
