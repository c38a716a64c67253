// tests/support/prelude.hpp: the test executable's precompiled header (tests/CMakeLists.txt).
// Why: every test file includes Catch2 and glia, which take ~10 s to parse, and instantiates the
// same layers, whose code generation (~30% of a test file's compile time under the sanitizers)
// was repeated in every file. The header is parsed once per build, and the `extern template`
// lines below make the test files use the one copy of each layer that layer_instances.cpp
// compiles. A layer missing from the list is simply compiled where it is used.
#pragma once

#include <catch2/catch.hpp>
#include <glia/glia.hpp>
#include <nlohmann/json.hpp>

#include "support/layer_instances.inc"

#define GLIA_LAYER_INSTANCE(Class, T) extern template class glia::Class<T>;
GLIA_LAYER_INSTANCES
#undef GLIA_LAYER_INSTANCE
