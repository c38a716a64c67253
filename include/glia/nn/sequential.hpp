// glia/nn/sequential.hpp: modules applied one after another.
//
// Contract: forward feeds each module's output to the next and returns the last output;
// backward takes the gradient back through them in reverse. Both run through the model's
// execution plan (nn/plan.hpp), made at the first forward in each mode and again after the
// structure changed; backward uses the plan of the last forward, which it follows (ValueError
// before any forward). The values are those of the modules' own forward and backward bit for
// bit. Children are named by their index unless add() is given a name. An empty Sequential is
// the identity.
// set_needs_input_grad applies to the first child (the others always need theirs).
#pragma once

#include <array>
#include <memory>

#include "glia/nn/plan.hpp"

namespace glia {

template <typename T>
class Sequential : public Module<T> {
 public:
  Sequential() = default;

  // Appends a module and returns a reference to it (typed, for later access).
  template <typename M>
  M& add(std::unique_ptr<M> m, std::string name = "") {
    M& ref = *m;
    if (name.empty()) name = std::to_string(modules_.size());
    modules_.push_back({std::move(name), std::move(m)});
    ++structure_generation();
    if (modules_.size() == 1) modules_.front().second->set_needs_input_grad(this->needs_input_grad_);
    return ref;
  }
  template <typename M, typename... Args>
  M& emplace(Args&&... args) {
    return add(std::make_unique<M>(std::forward<Args>(args)...));
  }

  Index size() const { return static_cast<Index>(modules_.size()); }
  Module<T>& operator[](Index i) { return *modules_[static_cast<std::size_t>(i)].second; }

  std::string name() const override { return "Sequential"; }
  Shape output_shape(const Shape& input) const override {
    Shape s = input;
    for (auto& m : modules_) s = m.second->output_shape(s);
    return s;
  }
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override {
    std::unique_ptr<ExecutionPlan<T>>& plan = plans_[mode == Mode::Train ? 0 : 1];
    if (!plan || plan->stale()) plan = std::make_unique<ExecutionPlan<T>>(*this, mode);
    last_plan_ = plan.get();
    return plan->forward(x);
  }
  void describe(PlanBuilder<T>& builder, const std::string& path) override {
    for (auto& m : modules_) m.second->describe(builder, join_name(path, m.first));
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    if (!last_plan_) throw ValueError("Sequential::backward: no forward before it");
    return last_plan_->backward(dy);
  }
  void collect(const std::string& prefix, std::vector<NamedParameter<T>>& params,
               std::vector<NamedBuffer<T>>& buffers) override {
    for (auto& m : modules_) m.second->collect(join_name(prefix, m.first), params, buffers);
  }
  std::vector<std::pair<std::string, Module<T>*>> children() override {
    std::vector<std::pair<std::string, Module<T>*>> c;
    for (auto& m : modules_) c.emplace_back(m.first, m.second.get());
    return c;
  }
  void reset_parameters(Rng& rng) override {
    for (auto& m : modules_) m.second->reset_parameters(rng);
  }
  void set_needs_input_grad(bool needed) override {
    this->needs_input_grad_ = needed;
    if (!modules_.empty()) modules_.front().second->set_needs_input_grad(needed);
  }

 private:
  std::vector<std::pair<std::string, std::unique_ptr<Module<T>>>> modules_;
  std::array<std::unique_ptr<ExecutionPlan<T>>, 2> plans_;  // Train, Eval
  ExecutionPlan<T>* last_plan_ = nullptr;                    // the plan of the last forward
};

}  // namespace glia
