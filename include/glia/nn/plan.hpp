// glia/nn/plan.hpp: the forward schedule of a model, made once per mode.
//
// Contract: ForwardPlan(model, mode) lists the model's operations (Module::describe,
// nn/plan_builder.hpp) and groups them into steps, in order:
//   - a stretch: consecutive operations that have a per-sample kernel in this mode
//     (Module::samplewise, nn/module.hpp) run as ONE parallel loop over the samples, each sample
//     passing through all of them while it is in its thread's cache: one parallel region and
//     one pass over memory instead of one per layer;
//   - a layer without a per-sample kernel runs its own forward(x, mode) between stretches;
//   - a layer that gathers batch statistics (BatchNorm2d in training mode) splits a stretch: its
//     gather_sample(n) ends the stretch that makes its input (sample n is still in cache), its
//     end_gather() runs between the loops, and its forward_sample(n) opens the next stretch.
// run(x) returns the model's output, equal bit for bit to running each module's forward in
// turn, for any thread count and schedule: every per-sample kernel computes sample n from
// sample n alone and statistics are combined in a fixed order. It allocates nothing once the
// layers' buffers have grown. Shapes are checked by each layer's begin_forward/forward, as
// without a plan. The plan points into the model: it is valid while the model lives, and
// stale() once any container's children changed (structure_generation()).
// str() shows the steps, e.g. "[C1.conv C1.norm:gather] [C1.norm C2.conv ...] fc".
// Sequential::forward runs its model through a plan kept per mode (nn/sequential.hpp); so a
// layer never needs to know about stretches, and containers only describe their structure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "glia/nn/module.hpp"

namespace glia {

template <typename T>
class ForwardPlan {
 public:
  ForwardPlan(Module<T>& model, Mode mode) : mode_(mode), generation_(structure_generation().load()) {
    PlanBuilder<T> builder;
    model.describe(builder, "");
    ops_ = builder.ops();
    output_ = builder.current();
    values_.assign(static_cast<std::size_t>(builder.value_count()), nullptr);
    schedule();
  }

  Mode mode() const { return mode_; }
  bool stale() const { return generation_ != structure_generation().load(); }

  const Tensor<T>& run(const Tensor<T>& x) {
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
  int output_ = 0;
};

}  // namespace glia
