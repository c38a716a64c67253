// glia/nn/plan.hpp: the schedule of a model's forward and backward, made once per mode.
//
// Contract: ExecutionPlan(model, mode) lists the model's operations (Module::describe,
// nn/plan_builder.hpp) and groups them into steps.
// Forward, in order:
//   - a stretch: consecutive operations that have a per-sample kernel in this mode
//     (Module::samplewise, nn/module.hpp) run as ONE parallel loop over the samples, each sample
//     passing through all of them while it is in its thread's cache: one parallel region and
//     one pass over memory instead of one per layer;
//   - a layer without a per-sample kernel runs its own forward(x, mode) between stretches;
//   - a layer that gathers batch statistics (BatchNorm2d in training mode) splits a stretch: its
//     gather_sample(n) ends the stretch that makes its input (sample n is still in cache), its
//     end_gather() runs between the loops, and its forward_sample(n) opens the next stretch.
// Backward, in reverse: each layer's backward(dy); a merge (Residual's sum) passes its dy to
// both of its inputs; a value read by two operations (a residual block's input) gets the sum of
// their gradients. A layer with a per-sample backward (Module::samplewise_backward: the norms)
// whose input is the output of the layer before it, read by nothing else, is paired with that
// layer: its backward_sample(n) runs inside the other's backward_with_producer (a convolution
// makes sample n of its dy, then reads it while it is in cache).
// forward(x) and backward(dy) give, bit for bit, what running each module's forward in turn
// and each one's backward in reverse gives, for any thread count: every per-sample kernel
// computes sample n from sample n alone, statistics are combined in a fixed order, and a sum
// of two gradients does not depend on their order. Neither allocates once the layers' buffers
// (and the plan's gradient sums) have grown. Shapes are checked by each layer, as without a
// plan. backward follows this plan's forward. The plan points into the model: it is valid
// while the model lives, and stale() once any container's children changed
// (structure_generation()).
// str() shows the forward steps, e.g. "[C1.conv C1.norm:gather] [C1.norm C2.conv ...] fc";
// backward_str() the backward ones, e.g. "c10 GAP R2 [R2.body.C9.norm R2.body.C9.conv] ...".
// Sequential::forward and backward run their model through a plan kept per mode
// (nn/sequential.hpp); so a layer never needs to know about stretches or pairs, and containers
// only describe their structure.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "glia/kernels/elementwise.hpp"
#include "glia/nn/module.hpp"

namespace glia {

template <typename T>
class ExecutionPlan {
 public:
  ExecutionPlan(Module<T>& model, Mode mode) : mode_(mode), generation_(structure_generation().load()) {
    PlanBuilder<T> builder;
    model.describe(builder, "");
    ops_ = builder.ops();
    output_ = builder.current();
    values_.assign(static_cast<std::size_t>(builder.value_count()), nullptr);
    grads_.assign(values_.size(), nullptr);
    grad_sums_.resize(values_.size());
    schedule();
    schedule_backward();
  }

  Mode mode() const { return mode_; }
  bool stale() const { return generation_ != structure_generation().load(); }

  const Tensor<T>& forward(const Tensor<T>& x) {
    values_[0] = &x;
    for (const Step& step : steps_) {
      if (step.whole_batch) {
        const PlanOp<T>& op = ops_[step.op];
        value(op.output) = &op.module->forward(*value(op.input), mode_);
        continue;
      }
      run_stretch(step);
    }
    return *value(output_);
  }

  std::string str() const {
    std::string s;
    for (const Step& step : steps_) {
      if (!s.empty()) s += " ";
      if (step.whole_batch) {
        s += ops_[step.op].path;
        continue;
      }
      s += "[";
      for (std::size_t i = 0; i < step.per_sample.size(); ++i) {
        const Item& item = step.per_sample[i];
        s += (i ? " " : "") + ops_[item.op].path + (item.phase == Phase::Gather ? ":gather" : "");
      }
      s += "]";
    }
    return s;
  }

  // The gradient w.r.t. the model's input (an empty tensor where the first layer was told it
  // needs none), from dy w.r.t. the output of this plan's last forward.
  const Tensor<T>& backward(const Tensor<T>& dy) {
    if (!values_[0]) throw ValueError("backward before any forward of this plan");
    std::fill(grads_.begin(), grads_.end(), nullptr);
    grads_[static_cast<std::size_t>(output_)] = &dy;
    for (const BackwardStep& step : backward_steps_) run_backward_step(step);
    const Tensor<T>* dx = grads_[0];
    return dx ? *dx : no_grad_;
  }

  std::string backward_str() const {
    std::string s;
    for (const BackwardStep& step : backward_steps_) {
      if (!s.empty()) s += " ";
      const std::string& path = ops_[step.op].path;
      s += step.producer == kNone ? path : "[" + ops_[step.producer].path + " " + path + "]";
    }
    return s;
  }

 private:
  enum class Phase { Forward, Gather };
  struct Item {
    std::size_t op;
    Phase phase;
  };
  // A stretch (begins, the loop body per_sample, end_gathers), or one layer's own forward.
  struct Step {
    std::vector<std::size_t> begins;       // begin_forward / begin_merge, in order, before the loop
    std::vector<Item> per_sample;          // the loop body, in order
    std::vector<std::size_t> end_gathers;  // after the loop
    bool whole_batch = false;              // or: op's own forward
    std::size_t op = 0;
  };

  void schedule() {
    Step stretch;
    auto close = [&] {
      if (!stretch.per_sample.empty()) steps_.push_back(stretch);
      stretch = Step{};
    };
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      const PlanOp<T>& op = ops_[i];
      if (!op.is_merge() && !op.module->samplewise(mode_)) {
        close();
        steps_.push_back(Step{});
        steps_.back().whole_batch = true;
        steps_.back().op = i;
        continue;
      }
      stretch.begins.push_back(i);
      if (!op.is_merge() && op.module->gathers_statistics(mode_)) {
        stretch.per_sample.push_back({i, Phase::Gather});
        stretch.end_gathers.push_back(i);
        close();
      }
      stretch.per_sample.push_back({i, Phase::Forward});
    }
    close();
  }

  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  // One operation's backward; producer: the paired per-sample backward that makes its dy.
  struct BackwardStep {
    std::size_t op;
    std::size_t producer = kNone;
  };

  void schedule_backward() {
    std::vector<int> readers(values_.size(), 0);
    for (const PlanOp<T>& op : ops_) {
      ++readers[static_cast<std::size_t>(op.input)];
      if (op.is_merge()) ++readers[static_cast<std::size_t>(op.second_input)];
    }
    for (std::size_t i = ops_.size(); i-- > 0;) {
      const PlanOp<T>& op = ops_[i];
      const bool pairs = i > 0 && !op.is_merge() && !ops_[i - 1].is_merge() && op.module->samplewise_backward() &&
                         op.input == ops_[i - 1].output && readers[static_cast<std::size_t>(op.input)] == 1;
      if (pairs) {
        backward_steps_.push_back({i - 1, i});
        --i;
      } else {
        backward_steps_.push_back({i, kNone});
      }
    }
  }

  void run_backward_step(const BackwardStep& step) {
    const PlanOp<T>& op = ops_[step.op];
    if (op.is_merge()) {
      const Tensor<T>& dy = grad(op.output, op.path);
      if (dy.shape() != value(op.output)->shape())
        throw ShapeError(detail::cat(op.path, ": expected dy ", value(op.output)->shape(), ", got ", dy.shape()));
      add_grad(op.input, dy);
      add_grad(op.second_input, dy);
      return;
    }
    if (step.producer == kNone) {
      add_grad(op.input, op.module->backward(grad(op.output, op.path)));
      return;
    }
    const PlanOp<T>& producer = ops_[step.producer];
    Module<T>& p = *producer.module;
    const Tensor<T>& dy = p.begin_backward(grad(producer.output, producer.path));
    auto make_dy_sample = [&p](Index n) { p.backward_sample(n); };
    add_grad(op.input, op.module->backward_with_producer(dy, SampleHook(make_dy_sample)));
    p.end_backward();
  }

  const Tensor<T>& grad(int v, const std::string& path) const {
    const Tensor<T>* g = grads_[static_cast<std::size_t>(v)];
    if (!g) throw ValueError(detail::cat(path, ": no gradient reaches its output"));
    return *g;
  }
  // Adds g to the gradient of value v: the first one is kept by reference, a second is summed
  // into the plan's buffer for v. An empty g (no input gradient wanted) adds nothing.
  void add_grad(int v, const Tensor<T>& g) {
    const Tensor<T>*& slot = grads_[static_cast<std::size_t>(v)];
    if (!slot || slot->rank() == 0) {
      slot = &g;
      return;
    }
    if (g.rank() == 0) return;
    if (g.shape() != slot->shape())
      throw ShapeError(detail::cat("gradients of one value differ in shape: ", slot->shape(), " and ", g.shape()));
    Tensor<T>& sum = grad_sums_[static_cast<std::size_t>(v)];
    if (slot != &sum) sum.resize(g.shape());
    add(sum.data(), slot->data(), g.data(), g.size());
    slot = &sum;
  }

  void run_stretch(const Step& step) {
    for (std::size_t i : step.begins) {
      const PlanOp<T>& op = ops_[i];
      value(op.output) = op.is_merge() ? &op.module->begin_merge(*value(op.input), *value(op.second_input))
                                       : &op.module->begin_forward(*value(op.input), mode_);
    }
    const Tensor<T>& first_input = *value(ops_[step.per_sample.front().op].input);
    if (first_input.rank() == 0)
      throw ShapeError(detail::cat(ops_[step.per_sample.front().op].path, ": expected an input [N, ...], got a scalar"));
    parallel_for(first_input.dim(0), [&](Index n) {
      for (const Item& item : step.per_sample) {
        Module<T>& m = *ops_[item.op].module;
        if (item.phase == Phase::Gather) {
          m.gather_sample(n);
        } else if (ops_[item.op].is_merge()) {
          m.merge_sample(n);
        } else {
          m.forward_sample(n);
        }
      }
    });
    for (std::size_t i : step.end_gathers) ops_[i].module->end_gather();
  }

  const Tensor<T>*& value(int v) { return values_[static_cast<std::size_t>(v)]; }

  Mode mode_;
  std::uint64_t generation_;
  std::vector<PlanOp<T>> ops_;
  std::vector<Step> steps_;
  std::vector<const Tensor<T>*> values_;
  std::vector<BackwardStep> backward_steps_;
  std::vector<const Tensor<T>*> grads_;  // backward: the gradient of each value, once known
  std::vector<Tensor<T>> grad_sums_;     // backward: where two gradients of a value are summed
  Tensor<T> no_grad_;
  int output_ = 0;
};

}  // namespace glia
