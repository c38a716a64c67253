// glia/nn/plan_builder.hpp: what a model says about its own structure, for the forward plan.
//
// Contract: Module::describe(builder, path) appends the module's operations, in the order its
// forward runs them, to a PlanBuilder. A layer appends itself (layer); a container describes its
// children in order (Sequential), or its branches and then its own merging kernel (Residual:
// merge). Every operation reads values made by earlier operations and makes one new value;
// value 0 is the model's input, and current() is the value that the next operation reads.
// Nothing here runs anything or knows about threads: nn/plan.hpp turns the list into a schedule.
// structure_generation() counts changes to any container's children, so that a plan made before
// a change is made again.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace glia {

template <typename T>
class Module;

// One operation of a model's forward: a layer's forward of value `input` (second_input < 0), or
// a container's merge of values `input` and `second_input` (Residual's sum). Makes value `output`.
template <typename T>
struct PlanOp {
  Module<T>* module;
  std::string path;  // e.g. "R1.body.C4.conv"
  int input, second_input, output;

  bool is_merge() const { return second_input >= 0; }
};

template <typename T>
class PlanBuilder {
 public:
  int current() const { return current_; }
  void set_current(int value) { current_ = value; }

  void layer(Module<T>& m, std::string path) { append(m, std::move(path), current_, -1); }
  void merge(Module<T>& m, std::string path, int a, int b) { append(m, std::move(path), a, b); }

  const std::vector<PlanOp<T>>& ops() const { return ops_; }
  int value_count() const { return next_value_; }

 private:
  void append(Module<T>& m, std::string path, int a, int b) {
    ops_.push_back({&m, std::move(path), a, b, next_value_});
    current_ = next_value_++;
  }

  std::vector<PlanOp<T>> ops_;
  int current_ = 0, next_value_ = 1;
};

// A call made for each sample n, by reference to a callable that outlives it: what
// Module::backward_with_producer takes (no allocation, unlike std::function).
class SampleHook {
 public:
  template <typename F>
  explicit SampleHook(F& f) : object_(&f), call_([](void* o, std::ptrdiff_t n) { (*static_cast<F*>(o))(n); }) {}
  void operator()(std::ptrdiff_t n) const { call_(object_, n); }

 private:
  void* object_;
  void (*call_)(void*, std::ptrdiff_t);
};

// Incremented whenever a container gains a child (Sequential::add): plans remember the value
// they were made at.
inline std::atomic<std::uint64_t>& structure_generation() {
  static std::atomic<std::uint64_t> generation{0};
  return generation;
}

}  // namespace glia
