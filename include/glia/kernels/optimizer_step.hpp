// glia/kernels/optimizer_step.hpp: the element loops of the optimisers (optim/optimizer.hpp has
// the formulas and the contract), over one block [b, e) of the flat parameters, compiled once
// per instruction-set level (optimizer_step.inc, simd/level.hpp) and dispatched at run time: a
// program built with default flags runs them with the CPU's vectors, not SSE2's.
//
//   sgd_update(s, b, e):   SGD with the choices of s.variant (momentum, first step, Nesterov)
//   adam_update(s, b, e):  Adam, or AdamW when s.decoupled
//
// Every pointer and factor is in a plain struct (SgdStep, AdamStep), copied into locals by the
// loop, so that the compiler sees no aliasing through `this` and the loops are branch-free:
// they vectorise at every level. Element i depends on element i alone, so results do not depend
// on the thread count; levels with FMA may contract a*b + c and differ in the last bits.
#pragma once

#include <cmath>

#include "glia/simd/level.hpp"
#include "glia/tensor/shape.hpp"

namespace glia::detail {

enum class SgdVariant { Plain, MomentumFirst, MomentumFirstNesterov, Momentum, MomentumNesterov };

// What every optimiser reads and writes: the flat values, gradients and decay mask, and the
// penalties (exempt: 1 when the decay mask applies, else 0).
template <typename T>
struct ParameterArrays {
  T* w;
  const T* g;
  const T* mask;
  T l1, exempt;
};

template <typename T>
struct SgdStep {
  ParameterArrays<T> p;
  T* buf;
  T rate, mom, damp, wd;
  SgdVariant variant;
};

template <typename T>
struct AdamStep {
  ParameterArrays<T> p;
  T* m;
  T* v;
  T rate, b1, b2, eps, c1, c2;  // c1, c2: the bias corrections 1 / (1 - beta^t)
  T decay;                      // Adam: weight_decay; AdamW: lr * weight_decay
  bool decoupled;
};

}  // namespace glia::detail

#define GLIA_SIMD_KERNELS "glia/kernels/optimizer_step.inc"
#include "glia/simd/foreach_level.inc"

namespace glia::detail {

template <typename T>
void sgd_update(const SgdStep<T>& s, Index b, Index e) {
  GLIA_SIMD_DISPATCH(sgd_update, s, b, e)
}

template <typename T>
void adam_update(const AdamStep<T>& s, Index b, Index e) {
  GLIA_SIMD_DISPATCH(adam_update, s, b, e)
}

}  // namespace glia::detail
