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
    const Tensor<T>& b = body_->forward(x, mode);
    const Tensor<T>& s = shortcut_ ? shortcut_->forward(x, mode) : x;
    begin_merge(b, s);
    add(y_.data(), b.data(), s.data(), y_.size());
    return y_;
  }
  // For the forward plan (nn/plan_builder.hpp): the body from the input, the shortcut from the
  // same input (or the input itself), then this module's sum, sample by sample.
  void describe(PlanBuilder<T>& builder, const std::string& path) override {
    const int input = builder.current();
    body_->describe(builder, join_name(path, "body"));
    const int body_out = builder.current();
    if (shortcut_) {
      builder.set_current(input);
      shortcut_->describe(builder, join_name(path, "shortcut"));
    }
    builder.merge(*this, path, body_out, shortcut_ ? builder.current() : input);
  }
  const Tensor<T>& begin_merge(const Tensor<T>& body_out, const Tensor<T>& shortcut_out) override {
    if (body_out.shape() != shortcut_out.shape())
      throw ShapeError(detail::cat(name(), ": body gives ", body_out.shape(), " but shortcut gives ", shortcut_out.shape()));
    body_out_ = &body_out;
    shortcut_out_ = &shortcut_out;
    y_.resize(body_out.shape());
    return y_;
  }
  void merge_sample(Index n) override {
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
  Tensor<T> y_, dx_;
  const Tensor<T>* body_out_ = nullptr;  // the branches' outputs, kept by begin_merge
  const Tensor<T>* shortcut_out_ = nullptr;
};

}  // namespace glia
