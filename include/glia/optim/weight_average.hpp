// glia/optim/weight_average.hpp: an exponential moving average of a model's parameters.
//
// Contract: WeightAverage<T>(decay) keeps avg, one value per parameter (FlatParameters order).
//   start(values):   avg = values (the average begins at the current weights)
//   update(values):  avg = decay * avg + (1 - decay) * values   (elementwise, after a step)
//   copy_to(values): values = avg
// With an update after every optimiser step, the weights of k steps ago weigh (1 - decay)
// decay^k: an average over about 1 / (1 - decay) steps (decay 0.999: the last ~1,000 steps).
// The average smooths the noise of the last steps of SGD (Polyak averaging, as in PyTorch's
// torch.optim.swa_utils.AveragedModel with an EMA). It averages parameters only: BatchNorm
// running statistics collected for the live weights do not fit the averaged ones, so recompute
// them after copy_to (train/precise_bn.hpp), as PyTorch's swa_utils.update_bn does.
// Elementwise, no reduction: the same for any thread count. average() is the state a checkpoint
// needs (its shape [n] once started). ValueError for a decay outside [0, 1), ShapeError when
// values does not have the size the average was started with.
#pragma once

#include "glia/core/error.hpp"
#include "glia/tensor/tensor.hpp"

namespace glia {

template <typename T>
class WeightAverage {
 public:
  explicit WeightAverage(double decay) : decay_(decay) {
    if (!(decay >= 0.0 && decay < 1.0)) throw ValueError(detail::cat("WeightAverage: decay must be in [0, 1), got ", decay));
  }

  double decay() const { return decay_; }
  bool started() const { return !avg_.empty(); }
  Tensor<T>& average() { return avg_; }
  const Tensor<T>& average() const { return avg_; }

  void start(const Tensor<T>& values) {
    avg_ = Tensor<T>(Shape{values.size()});
    avg_.vector() = values.vector();
  }
  void update(const Tensor<T>& values) {
    check(values, "update");
    const T d = static_cast<T>(decay_);
    avg_.vector() = d * avg_.vector() + (T(1) - d) * values.vector();
  }
  void copy_to(Tensor<T>& values) const {
    check(values, "copy_to");
    values.vector() = avg_.vector();
  }

 private:
  void check(const Tensor<T>& values, const char* what) const {
    if (!started()) throw ValueError(detail::cat("WeightAverage::", what, ": the average was not started"));
    if (values.size() != avg_.size())
      throw ShapeError(detail::cat("WeightAverage::", what, ": ", values.size(), " values, the average has ", avg_.size()));
  }

  double decay_;
  Tensor<T> avg_;
};

}  // namespace glia
