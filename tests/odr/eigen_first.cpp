// Eigen first, then glia: the same Eigen configuration as glia_first.cpp (tests/odr/main.cpp).
#include <Eigen/Core>
#include <glia/glia.hpp>

#include "odr_probe.hpp"

long eigen_first_stack_limit() { return EIGEN_STACK_ALLOCATION_LIMIT; }
bool eigen_first_parallelizes() { return EIGEN_ODR_PARALLELIZES; }
std::vector<float> eigen_first_linear() { return odr_probe_linear(); }
