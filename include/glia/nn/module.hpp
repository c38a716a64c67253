// glia/nn/module.hpp: the interface every layer and container implements.
//
// Contract of Module<T>:
// - forward(x, mode) returns the output, held in a buffer the module owns and reuses: the
//   reference stays valid until the next forward of the same module. The module keeps a
//   (storage-sharing) reference to x for backward, so the caller must not overwrite x before
//   backward.
// - backward(dy) takes the gradient of the loss w.r.t. the last forward's output and returns the
//   gradient w.r.t. its input (again a module-owned buffer). It ADDS the parameter gradients
//   into each Parameter::grad (accumulation lets shared inputs and skip connections sum
//   naturally); the optimiser step zeroes them once per step. backward must follow a forward.
// - If set_needs_input_grad(false) was called, backward may skip computing dx and return an
//   empty tensor (used for the first layer, whose input is data).
// - output_shape(s) says what forward would return for an input of shape s, or throws
//   ShapeError naming the module and the shapes; forward and backward check shapes the same way.
// - collect() lists parameters (learnable) and buffers (state such as running statistics) with
//   dotted names ("3.body.0.weight"), for optimisers and checkpoints.
// - reset_parameters(rng) draws the module's default initialisation (PyTorch's defaults) and
//   any per-module seeds (dropout) from rng; containers recurse in order.
// - A per-sample kernel (optional): where samplewise(mode) holds, forward(x, mode) equals
//   begin_forward(x, mode), which checks x, keeps it and returns the output tensor sized but not
//   yet written, then forward_sample(n) for every sample n, in any order, on any thread.
//   forward_sample(n) reads only sample n of x and writes only sample n of the output, with the
//   same values bit for bit. A layer that needs statistics of the whole batch first (BatchNorm
//   in training mode) also says gathers_statistics(mode): then gather_sample(n) for every n and
//   end_gather() come between begin_forward and the forward_sample calls. forward_by_sample
//   (below) runs this protocol; a layer with a per-sample kernel implements forward with it.
// - describe(builder, path) lists the module's operations for the forward plan
//   (nn/plan_builder.hpp): a layer lists itself; containers list their children. The plan
//   (nn/plan.hpp), not the containers, decides which operations run sample by sample together.
// - begin_merge(a, b) / merge_sample(n): the per-sample kernel of a container that merges two
//   branches (Residual's sum), listed by PlanBuilder::merge.
// - A per-sample backward (optional): where samplewise_backward() holds, backward(dy) equals
//   begin_backward(dy), which checks and keeps dy and returns dx sized but not yet written, then
//   backward_sample(n) for every n (any order, any thread; it writes only sample n of dx), then
//   end_backward() (e.g. adding per-sample parameter-gradient parts by the chunk tree).
//   backward_by_sample (below) runs this protocol.
// - backward_with_producer(dy, make_dy_sample): backward(dy) for a dy whose sample n is written
//   only by make_dy_sample(n), which the module calls before it reads that sample. The default
//   makes every sample first, in a loop of its own; a layer that reads dy sample by sample
//   (Conv2d) calls it inside its own loop, on data that is then still in cache. The plan
//   (nn/plan.hpp) pairs a layer with the per-sample backward that follows it this way.
// - Parameter gradients are summed over the batch by the chunk tree of kernels/batch_chunks.hpp.
//   set_batch_split (below, for a module and all below it) says which share of a global batch
//   the batches it sees are (data-parallel training); null, the default: the whole batch.
//   The split is read at each backward, so its owner may change global_batch between steps.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "glia/dist/collective.hpp"
#include "glia/kernels/batch_chunks.hpp"
#include "glia/kernels/parallel.hpp"
#include "glia/nn/plan_builder.hpp"
#include "glia/tensor/tensor.hpp"

namespace glia {

enum class Mode { Train, Eval };

template <typename T>
struct Parameter {
  Tensor<T> value;
  Tensor<T> grad;
  bool decay = true;  // false for biases and norm parameters: optimisers may exempt them from decay

  explicit Parameter(const Shape& shape, bool decays = true) : value(shape), grad(shape), decay(decays) {}
};

template <typename T>
struct NamedParameter {
  std::string name;
  Parameter<T>* param;
};

template <typename T>
struct NamedBuffer {
  std::string name;
  Tensor<T>* tensor;
};

inline std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

template <typename T>
class Module {
 public:
  virtual ~Module() = default;

  // A short description, e.g. "Conv2d(3->16, k3, s1, p1)".
  virtual std::string name() const = 0;
  virtual Shape output_shape(const Shape& input) const = 0;
  virtual const Tensor<T>& forward(const Tensor<T>& x, Mode mode) = 0;
  virtual const Tensor<T>& backward(const Tensor<T>& dy) = 0;

  virtual void collect(const std::string& prefix, std::vector<NamedParameter<T>>& params,
                       std::vector<NamedBuffer<T>>& buffers) {
    (void)prefix;
    (void)params;
    (void)buffers;
  }
  // Direct sub-modules with their local names (empty for a leaf layer).
  virtual std::vector<std::pair<std::string, Module<T>*>> children() { return {}; }
  virtual void reset_parameters(Rng& rng) { (void)rng; }
  // Integer state of this module itself (not its children), e.g. dropout's call counter, so
  // that a checkpoint can restore a run exactly. Names are local ("calls").
  virtual std::vector<std::pair<std::string, std::uint64_t*>> local_counters() { return {}; }
  virtual void set_needs_input_grad(bool needed) { needs_input_grad_ = needed; }

  // The per-sample kernel (above). Not every module has it: begin_forward throws ValueError
  // where samplewise(mode) is false.
  virtual bool samplewise(Mode) const { return false; }
  virtual bool gathers_statistics(Mode) const { return false; }
  virtual const Tensor<T>& begin_forward(const Tensor<T>& x, Mode) {
    throw ValueError(detail::cat(name(), " does not run sample by sample (input ", x.shape(), ")"));
  }
  virtual void gather_sample(Index) {}
  virtual void end_gather() {}
  virtual void forward_sample(Index) {}
  virtual const Tensor<T>& begin_merge(const Tensor<T>& a, const Tensor<T>& b) {
    throw ValueError(detail::cat(name(), " merges no branches (inputs ", a.shape(), " and ", b.shape(), ")"));
  }
  virtual void merge_sample(Index) {}

  // The per-sample backward (above): begin_backward throws ValueError where
  // samplewise_backward() is false.
  virtual bool samplewise_backward() const { return false; }
  virtual const Tensor<T>& begin_backward(const Tensor<T>& dy) {
    throw ValueError(detail::cat(name(), " has no per-sample backward (dy ", dy.shape(), ")"));
  }
  virtual void backward_sample(Index) {}
  virtual void end_backward() {}
  virtual const Tensor<T>& backward_with_producer(const Tensor<T>& dy, SampleHook make_dy_sample) {
    if (dy.rank() > 0) parallel_for(dy.dim(0), [&](Index n) { make_dy_sample(n); });
    return backward(dy);
  }

  // The module's operations for the forward plan (nn/plan_builder.hpp): a layer is one.
  virtual void describe(PlanBuilder<T>& builder, const std::string& path) { builder.layer(*this, path); }

  // This module's share of the global batch (not its children's: set_batch_split(m, split)); a
  // layer that wraps another (not as a child) passes it on.
  virtual void set_local_batch_split(const BatchSplit* split) { batch_split_ = split; }

 protected:
  // The gradient chunks of a batch of n samples seen by this module.
  BatchChunks gradient_chunks(Index n) const { return batch_chunks(batch_split_, n); }
  // Sample n's place in the global batch.
  Index global_sample(Index n) const { return batch_split_ ? batch_split_->first_sample() + n : n; }
  // The rows of per-sample values ([n, per], this share's) of the whole global batch, rank after
  // rank, into all; or local itself when the batch is not split. A collective call: every rank's
  // layer makes it at the same point.
  const std::vector<double>& gather_samples(const std::vector<double>& local, Index per, std::vector<double>& all) const {
    const BatchSplit* s = batch_split_;
    if (!s || s->ranks == 1) return local;
    if (!s->collective) throw ValueError(detail::cat(name(), ": a batch split across ranks without a collective"));
    thread_local std::vector<Index> counts;  // kept: no allocation per step after the first
    counts.clear();
    for (Index r = 0; r < s->ranks; ++r) counts.push_back(s->samples_of(r) * per);
    all.resize(static_cast<std::size_t>(s->global_batch * per));
    if (static_cast<Index>(local.size()) != counts[static_cast<std::size_t>(s->rank)])
      throw ValueError(detail::cat(name(), ": ", local.size() / static_cast<std::size_t>(per), " samples for rank ", s->rank,
                                   "'s share of a global batch of ", s->global_batch));
    all_gather(*s->collective, local.data(), static_cast<Index>(local.size()), all.data(), counts);
    return all;
  }

  // Throws ShapeError unless dy has the output's shape; builds the message only on failure, so
  // the check costs nothing in the training loop.
  void check_grad_shape(const Shape& dy, const Shape& output) const {
    if (dy != output) throw ShapeError(detail::cat(name(), "::backward: expected dy ", output, ", got ", dy));
  }

  bool needs_input_grad_ = true;
  const BatchSplit* batch_split_ = nullptr;
};

// forward(x, mode) of a module for which samplewise(mode) holds: one parallel loop over the
// samples of x (dimension 0), after one gathering the batch's statistics where the module needs
// them.
template <typename T>
const Tensor<T>& forward_by_sample(Module<T>& m, const Tensor<T>& x, Mode mode) {
  const Tensor<T>& y = m.begin_forward(x, mode);
  if (m.gathers_statistics(mode)) {
    parallel_for(x.dim(0), [&](Index n) { m.gather_sample(n); });
    m.end_gather();
  }
  parallel_for(x.dim(0), [&](Index n) { m.forward_sample(n); });
  return y;
}

// The parameters of a layer with a weight and an optional bias (Conv2d, ConvTranspose2d, Linear):
// "<prefix>.weight" and, unless bias is null, "<prefix>.bias".
template <typename T>
void collect_weight_and_bias(const std::string& prefix, std::vector<NamedParameter<T>>& params, Parameter<T>& weight,
                             Parameter<T>* bias) {
  params.push_back({join_name(prefix, "weight"), &weight});
  if (bias) params.push_back({join_name(prefix, "bias"), bias});
}

// backward(dy) of a module for which samplewise_backward() holds: one parallel loop over the
// samples between begin_backward and end_backward.
template <typename T>
const Tensor<T>& backward_by_sample(Module<T>& m, const Tensor<T>& dy) {
  const Tensor<T>& dx = m.begin_backward(dy);
  parallel_for(dy.dim(0), [&](Index n) { m.backward_sample(n); });
  m.end_backward();
  return dx;
}

template <typename T>
std::vector<NamedParameter<T>> parameters(Module<T>& m) {
  std::vector<NamedParameter<T>> p;
  std::vector<NamedBuffer<T>> b;
  m.collect("", p, b);
  return p;
}

template <typename T>
std::vector<NamedBuffer<T>> buffers(Module<T>& m) {
  std::vector<NamedParameter<T>> p;
  std::vector<NamedBuffer<T>> b;
  m.collect("", p, b);
  return b;
}

template <typename T>
Index parameter_count(Module<T>& m) {
  Index n = 0;
  for (auto& p : parameters(m)) n += p.param->value.size();
  return n;
}

// Calls f(path, module) for m and every module below it, depth first, parents first.
template <typename T, typename F>
void visit(Module<T>& m, F&& f, const std::string& path = "") {
  f(path, m);
  for (auto& c : m.children()) visit(*c.second, f, join_name(path, c.first));
}

// Every counter of m and the modules below it, named by path ("D1.calls").
template <typename T>
std::vector<std::pair<std::string, std::uint64_t*>> counters(Module<T>& m) {
  std::vector<std::pair<std::string, std::uint64_t*>> out;
  visit(m, [&](const std::string& path, Module<T>& mod) {
    for (auto& c : mod.local_counters()) out.emplace_back(join_name(path, c.first), c.second);
  });
  return out;
}

// Makes m and every module below it see their batches as split's share of a global batch
// (null: whole batches). split must outlive them or be replaced.
template <typename T>
void set_batch_split(Module<T>& m, const BatchSplit* split) {
  visit(m, [&](const std::string&, Module<T>& mod) { mod.set_local_batch_split(split); });
}

// Zeroes every parameter gradient of m.
template <typename T>
void zero_grad(Module<T>& m) {
  for (auto& p : parameters(m)) p.param->grad.zero();
}

}  // namespace glia
