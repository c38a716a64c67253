// tests/support/instruction_sets.hpp: the instruction-set levels the dispatched kernels can run
// at in this test binary, for tests that run every one (simd/level.hpp).
#pragma once

#include <vector>

#include "glia/simd/level.hpp"

namespace glia::testing {

// From the level the tests were compiled for up to the CPU's best: the release build
// (-march=native) runs the CPU's level, a build with default flags (the sanitizer build) every
// x86-64 level the CPU has. Off x86, the one scalar level.
inline std::vector<InstructionSet> runnable_instruction_sets() {
  std::vector<InstructionSet> levels;
  for (InstructionSet s : {InstructionSet::Other, InstructionSet::Baseline, InstructionSet::Avx2, InstructionSet::Avx512})
    if (s >= compiled_instruction_set() && s <= cpu_instruction_set()) levels.push_back(s);
  return levels;
}

}  // namespace glia::testing
