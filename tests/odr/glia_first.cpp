// glia first, then Eigen: the same Eigen configuration as eigen_first.cpp (tests/odr/main.cpp).
#include <glia/glia.hpp>
#include <Eigen/Core>

#include "odr_probe.hpp"

long glia_first_stack_limit() { return EIGEN_STACK_ALLOCATION_LIMIT; }
bool glia_first_parallelizes() { return EIGEN_ODR_PARALLELIZES; }
std::vector<float> glia_first_linear() { return odr_probe_linear(); }
