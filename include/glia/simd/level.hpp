// glia/simd/level.hpp: which instruction-set level glia's dispatched kernels run at, chosen at
// run time; and the machinery that compiles a kernel once per level.
//
// Why: glia is header-only, so its kernels are compiled with the flags of the program that
// includes it. CMake's plain Release flags give x86-64's baseline (SSE2): a third of the speed
// an AVX2 or AVX-512 CPU gives the same code built with -march=native, and a -march=native
// binary does not run on an older CPU. So the hot kernels (kernels/conv3x3_direct.hpp,
// kernels/conv3x3_lanes.hpp, kernels/conv_gemm.hpp, the norms' loops of
// kernels/norm_sums.hpp) are compiled for every level at or above the one the translation unit
// targets, each in its own namespace (simd_sse2, simd_avx2, simd_avx512, or simd_scalar off x86)
// under that level's target attribute (simd/foreach_level.inc), and a dispatcher calls the
// level chosen here. Eigen's matrix products cannot be dispatched this way (Eigen chooses its
// packets by macros, once per translation unit); they run at the compiled level.
//
// The level:
//   selected_instruction_set()   set_instruction_set's level, else GLIA_ISA's (read once:
//                                baseline, avx2 or avx512), else the CPU's best.
//                                ValueError for an unknown GLIA_ISA or a level the CPU lacks.
//   set_instruction_set(s)       selects s for the whole process, returns the previous one;
//                                ValueError if the CPU lacks s. Not while kernels run.
//   ScopedInstructionSet         sets a level for a scope (tests run every level with it).
//   kernel_instruction_set()     the level this translation unit's kernels run at: the selected
//                                one, raised to the level the unit was compiled for (no lower
//                                level is compiled there: its code would not run on a CPU below
//                                the unit's own flags anyway).
//   simd_lanes<T>(s)             elements of T in one vector at level s (1 off x86).
//   instruction_set_line()       one line for summaries and benchmark logs, e.g. "Instruction
//                                set: dispatched kernels run avx2 (this CPU has avx2), the rest
//                                was compiled for baseline (-march=native would raise it)".
//                                summary() (models/summary.hpp) and glia_train_throughput print it.
// Results are bitwise identical for any thread count at one level; across levels they may
// differ in the last bits (Sse2 rounds a product before adding it, AVX2 and AVX-512 fuse).
// A program should compile all its translation units with the same -m flags: a dispatcher is an
// inline function, and the linker keeps one of its copies.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "glia/core/error.hpp"
#include "glia/core/instruction_set.hpp"
#include "glia/simd/vector.hpp"

// The levels this translation unit compiles kernels for: its own and every level above.
#if GLIA_SIMD_X86
#define GLIA_SIMD_HAS_AVX512 1
#if defined(__AVX512F__)
#define GLIA_SIMD_HAS_AVX2 0
#define GLIA_SIMD_HAS_SSE2 0
#elif defined(__AVX2__) && defined(__FMA__)
#define GLIA_SIMD_HAS_AVX2 1
#define GLIA_SIMD_HAS_SSE2 0
#else
#define GLIA_SIMD_HAS_AVX2 1
#define GLIA_SIMD_HAS_SSE2 1
#endif
#define GLIA_SIMD_HAS_SCALAR 0
#else
#define GLIA_SIMD_HAS_AVX512 0
#define GLIA_SIMD_HAS_AVX2 0
#define GLIA_SIMD_HAS_SSE2 0
#define GLIA_SIMD_HAS_SCALAR 1
#endif

namespace glia {

namespace simd_scalar {
template <typename T>
using Vec = simd::Scalar<T>;
}
#if GLIA_SIMD_X86
namespace simd_sse2 {
template <typename T>
using Vec = simd::Sse2<T>;
}
namespace simd_avx2 {
template <typename T>
using Vec = simd::Avx2<T>;
}
namespace simd_avx512 {
template <typename T>
using Vec = simd::Avx512<T>;
}
#endif

namespace detail {
// The level GLIA_ISA's value s names (the CPU's best when s is null or empty).
inline InstructionSet parse_instruction_set(const char* s, InstructionSet cpu) {
  if (!s || !*s) return cpu;
  const std::string name = s;
  for (InstructionSet level : {InstructionSet::Baseline, InstructionSet::Avx2, InstructionSet::Avx512})
    if (name == instruction_set_name(level)) {
      if (level > cpu)
        throw ValueError(cat("GLIA_ISA=", name, ": this CPU has ", instruction_set_name(cpu), " at best"));
      return level;
    }
  throw ValueError(cat("GLIA_ISA=", name, ": unknown level (known: baseline, avx2, avx512)"));
}
inline std::atomic<InstructionSet>& selected_level_slot() {
  static std::atomic<InstructionSet> slot{parse_instruction_set(std::getenv("GLIA_ISA"), cpu_instruction_set())};
  return slot;
}
}  // namespace detail

inline InstructionSet selected_instruction_set() { return detail::selected_level_slot().load(std::memory_order_relaxed); }

inline InstructionSet set_instruction_set(InstructionSet s) {
  const InstructionSet cpu = cpu_instruction_set();
  if (s > cpu || (cpu != InstructionSet::Other && s == InstructionSet::Other))
    throw ValueError(detail::cat("set_instruction_set(", instruction_set_name(s), "): this CPU has ",
                                 instruction_set_name(cpu), " at best"));
  return detail::selected_level_slot().exchange(s);
}

class ScopedInstructionSet {
 public:
  explicit ScopedInstructionSet(InstructionSet s) : previous_(set_instruction_set(s)) {}
  ~ScopedInstructionSet() { set_instruction_set(previous_); }
  ScopedInstructionSet(const ScopedInstructionSet&) = delete;
  ScopedInstructionSet& operator=(const ScopedInstructionSet&) = delete;

 private:
  InstructionSet previous_;
};

inline InstructionSet kernel_instruction_set() { return std::max(selected_instruction_set(), compiled_instruction_set()); }

inline std::string instruction_set_line(InstructionSet kernels, InstructionSet cpu, InstructionSet compiled) {
  std::string line = std::string("Instruction set: dispatched kernels run ") + instruction_set_name(kernels) +
                     " (this CPU has " + instruction_set_name(cpu) + "), the rest was compiled for " +
                     instruction_set_name(compiled);
  if (compiled < cpu && compiled != InstructionSet::Other) line += " (-march=native would raise it)";
  return line;
}
inline std::string instruction_set_line() {
  return instruction_set_line(kernel_instruction_set(), cpu_instruction_set(), compiled_instruction_set());
}

template <typename T>
constexpr int simd_lanes(InstructionSet s) {
  switch (s) {
    case InstructionSet::Baseline: return static_cast<int>(16 / sizeof(T));
    case InstructionSet::Avx2: return static_cast<int>(32 / sizeof(T));
    case InstructionSet::Avx512: return static_cast<int>(64 / sizeof(T));
    case InstructionSet::Other: break;
  }
  return 1;
}

}  // namespace glia

// The lowest level compiled here: what a dispatcher calls when no higher level is selected.
#if GLIA_SIMD_HAS_SCALAR
#define GLIA_SIMD_FLOOR simd_scalar
#elif GLIA_SIMD_HAS_SSE2
#define GLIA_SIMD_FLOOR simd_sse2
#elif GLIA_SIMD_HAS_AVX2
#define GLIA_SIMD_FLOOR simd_avx2
#else
#define GLIA_SIMD_FLOOR simd_avx512
#endif
#if GLIA_SIMD_HAS_AVX512
#define GLIA_SIMD_IF_AVX512(...) __VA_ARGS__
#else
#define GLIA_SIMD_IF_AVX512(...)
#endif
#if GLIA_SIMD_HAS_AVX2
#define GLIA_SIMD_IF_AVX2(...) __VA_ARGS__
#else
#define GLIA_SIMD_IF_AVX2(...)
#endif

// `return simd_<level>::fn(args...)` for the level of kernel_instruction_set(): the body of a
// dispatcher. fn is a function compiled per level (simd/foreach_level.inc).
#define GLIA_SIMD_DISPATCH(fn, ...)                                                                       \
  switch (::glia::kernel_instruction_set()) {                                                            \
    GLIA_SIMD_IF_AVX512(case ::glia::InstructionSet::Avx512: return ::glia::simd_avx512::fn(__VA_ARGS__);) \
    GLIA_SIMD_IF_AVX2(case ::glia::InstructionSet::Avx2: return ::glia::simd_avx2::fn(__VA_ARGS__);)       \
    default: return ::glia::GLIA_SIMD_FLOOR::fn(__VA_ARGS__);                                             \
  }
