// What each translation unit of tests/odr reports about the Eigen it compiled: the stack
// allocation limit, whether Eigen may thread on its own, and a Linear layer's output (an Eigen
// product), so that main.cpp can check both units agree.
#pragma once

#include <glia/glia.hpp>

#include <vector>

#ifdef EIGEN_DONT_PARALLELIZE
#define EIGEN_ODR_PARALLELIZES false
#else
#define EIGEN_ODR_PARALLELIZES true
#endif

// static: each unit computes with its own instantiation of the code it compiled.
static inline std::vector<float> odr_probe_linear() {
  glia::Linear<float> layer(40, 24);
  glia::Rng rng(3);
  layer.reset_parameters(rng);
  glia::Tensor<float> x(glia::Shape{16, 40});
  x.normal_(rng, 0, 1);
  const glia::Tensor<float>& y = layer.forward(x, glia::Mode::Eval);
  return std::vector<float>(y.begin(), y.end());
}
