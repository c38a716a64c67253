// glia/kernels/parallel.hpp: how glia uses threads.
//
// Contract:
// - glia parallelises its own loops with OpenMP (when compiled with it). Its big products run
//   inside those loops; the CMake target defines EIGEN_DONT_PARALLELIZE so that no Eigen
//   product ever threads on its own (small ones, as in Linear, run on the calling thread).
// - Work is split into a number of chunks that depends only on the problem size, never on the
//   thread count; reductions sum per-chunk partial results in a fixed order (over a batch: the
//   chunk tree of kernels/batch_chunks.hpp). So every result is bitwise identical whatever the
//   number of threads.
// - Functions passed to parallel_for must not throw. parallel_for makes the instruction-set
//   level be chosen (simd/level.hpp; GLIA_ISA, which may be refused) before any thread runs, so
//   that the dispatched kernels it calls never throw.
#pragma once

#include <algorithm>

#include "glia/simd/level.hpp"
#include "glia/tensor/shape.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace glia {

// Threads glia's parallel loops use (OpenMP's current setting; 1 without OpenMP).
inline int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Sets the thread count for glia's (and the process's other OpenMP) parallel loops.
inline void set_num_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(std::max(1, n));
#else
  (void)n;
#endif
}

// Index of the calling thread inside a parallel_for, nested ones included (0 outside).
inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Runs f(i) for i in [0, n), statically scheduled over the threads. A single item runs on
// the calling thread: a parallel region costs a wake-up of every thread, which is slow when
// the machine is busy. So does a parallel_for called inside another one (a layer's per-sample
// work inside a loop over samples, nn/module.hpp): the outer loop already has every thread,
// and thread_index() keeps naming the calling thread's scratch.
template <typename F>
void parallel_for(Index n, F&& f) {
  selected_instruction_set();  // ValueError for a bad GLIA_ISA here, not inside a thread
#ifdef _OPENMP
  if (n > 1 && omp_get_level() == 0) {
#pragma omp parallel for schedule(static)
    for (Index i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  for (Index i = 0; i < n; ++i) f(i);
}

}  // namespace glia
