// glia/nn/sequential.hpp: modules applied one after another.
//
// Contract: forward feeds each module's output to the next and returns the last output (stretches
// of modules that run sample by sample run as one loop over the samples, nn/module.hpp);
// backward runs the modules in reverse. Children are named by their index unless add() is given
// a name. An empty Sequential is the identity. set_needs_input_grad applies to the first child
// (the others always need theirs).
#pragma once

#include "glia/nn/module.hpp"

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
  // Each stretch of two or more consecutive modules that run sample by sample in this mode runs
  // as one loop over the samples (nn/module.hpp); the other modules run on their own.
  const Tensor<T>& forward(const Tensor<T>& x, Mode mode) override {
    const Tensor<T>* cur = &x;
    const std::size_t count = modules_.size();
    for (std::size_t i = 0; i < count;) {
      std::size_t end = i;
      while (end < count && modules_[end].second->samplewise(mode)) ++end;
      if (end - i < 2) {
        cur = &modules_[i++].second->forward(*cur, mode);
        continue;
      }
      const Tensor<T>& in = *cur;
      for (std::size_t k = i; k < end; ++k) cur = &modules_[k].second->begin_forward(*cur, mode);  // checks shapes
      parallel_for(in.dim(0), [&](Index n) {
        for (std::size_t k = i; k < end; ++k) modules_[k].second->forward_sample(n);
      });
      i = end;
    }
    return *cur;
  }
  bool samplewise(Mode mode) const override {
    for (auto& m : modules_)
      if (!m.second->samplewise(mode)) return false;
    return !modules_.empty();
  }
  const Tensor<T>& begin_forward(const Tensor<T>& x, Mode mode) override {
    if (!samplewise(mode)) return Module<T>::begin_forward(x, mode);  // throws
    const Tensor<T>* cur = &x;
    for (auto& m : modules_) cur = &m.second->begin_forward(*cur, mode);
    return *cur;
  }
  void forward_sample(Index n) override {
    for (auto& m : modules_) m.second->forward_sample(n);
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    const Tensor<T>* cur = &dy;
    for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) cur = &it->second->backward(*cur);
    return *cur;
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
};

}  // namespace glia
