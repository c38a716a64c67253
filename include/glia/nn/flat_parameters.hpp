// glia/nn/flat_parameters.hpp: all of a model's parameters in one contiguous buffer.
//
// Contract: FlatParameters(model) collects the model's parameters in collect() order, copies
// their values into one buffer values() and rebinds every Parameter::value to a view of it;
// likewise every Parameter::grad to a view of grads() (zeroed). After that, an optimiser step is
// one loop over values()/grads(), zero_grad() is one fill, and a checkpoint is a copy. The
// model must outlive this object and must not be restructured afterwards. Flattening a model
// again rebinds its parameters to the new buffers and DETACHES the earlier FlatParameters
// (updates through it no longer reach the model): keep one per model (a Trainer owns one). entries() gives each parameter's name, offset, shape
// and decay flag.
#pragma once

#include <string>
#include <vector>

#include "glia/nn/module.hpp"

namespace glia {

template <typename T>
class FlatParameters {
 public:
  struct Entry {
    std::string name;
    Parameter<T>* param;
    Index offset;
  };

  explicit FlatParameters(Module<T>& model) {
    Index total = 0;
    for (auto& np : parameters(model)) {
      entries_.push_back({np.name, np.param, total});
      total += np.param->value.size();
    }
    values_ = Tensor<T>(Shape{total});
    grads_ = Tensor<T>(Shape{total});
    decay_mask_ = Tensor<T>(Shape{total});
    for (auto& e : entries_) {
      const Shape s = e.param->value.shape();
      Tensor<T> v = values_.view_at(e.offset, s);
      v.copy_from(e.param->value);
      e.param->value = v;
      e.param->grad = grads_.view_at(e.offset, s);
      decay_mask_.view_at(e.offset, s).fill(e.param->decay ? T(1) : T(0));
    }
  }

  Tensor<T>& values() { return values_; }
  Tensor<T>& grads() { return grads_; }
  // 1 where weight decay applies, 0 where it does not (biases, norm parameters).
  const Tensor<T>& decay_mask() const { return decay_mask_; }
  const std::vector<Entry>& entries() const { return entries_; }
  Index size() const { return values_.size(); }
  void zero_grad() { grads_.zero(); }

 private:
  std::vector<Entry> entries_;
  Tensor<T> values_, grads_, decay_mask_;
};

}  // namespace glia
