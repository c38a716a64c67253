// glia/core/instruction_set.hpp: which vector instructions glia's kernels were compiled for, and
// which the CPU running them has.
//
// glia is header-only: its code (and Eigen's matrix products) uses the instructions the compiler
// was allowed where the user's program includes it. A program built with CMake's plain Release
// flags gets x86-64's baseline (SSE2), except for the kernels dispatched at run time
// (simd/level.hpp, which also has instruction_set_line, the line summaries print).
// - compiled_instruction_set(): what this translation unit was compiled for, from the
//   compiler's macros: Avx512 (AVX-512F), Avx2 (AVX2 and FMA), Baseline (any other x86-64), or
//   Other (not x86).
// - cpu_instruction_set(): the best of those the CPU running the program has (GCC's and Clang's
//   __builtin_cpu_supports; Other elsewhere).
#pragma once

namespace glia {

enum class InstructionSet { Other, Baseline, Avx2, Avx512 };

inline const char* instruction_set_name(InstructionSet s) {
  switch (s) {
    case InstructionSet::Baseline: return "baseline";
    case InstructionSet::Avx2: return "avx2";
    case InstructionSet::Avx512: return "avx512";
    case InstructionSet::Other: break;
  }
  return "other";
}

constexpr InstructionSet compiled_instruction_set() {
#if defined(__AVX512F__)
  return InstructionSet::Avx512;
#elif defined(__AVX2__) && defined(__FMA__)
  return InstructionSet::Avx2;
#elif defined(__x86_64__) || defined(_M_X64)
  return InstructionSet::Baseline;
#else
  return InstructionSet::Other;
#endif
}

inline InstructionSet cpu_instruction_set() {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return InstructionSet::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return InstructionSet::Avx2;
  return InstructionSet::Baseline;
#else
  return InstructionSet::Other;
#endif
}

}  // namespace glia
