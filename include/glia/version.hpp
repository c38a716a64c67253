// glia/version.hpp: the library version (kept equal to the CMake project version).
#pragma once

#define GLIA_VERSION_MAJOR 0
#define GLIA_VERSION_MINOR 1
#define GLIA_VERSION_PATCH 0

namespace glia {
inline constexpr const char* version_string = "0.1.0";
}  // namespace glia
