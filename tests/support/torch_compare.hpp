// tests/support/torch_compare.hpp: a glia result against PyTorch's golden values (double).
// check_torch(what, got, want) requires the same shape, a relative L2 error <= 1e-4, and every
// element within 1e-4 of max(|want|, min(1, max |want|)) (so values near zero are compared on
// the tensor's scale, not their own).
#pragma once

#include <catch2/catch.hpp>

#include <glia/tensor/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace glia::testing {

template <typename T>
void check_torch(const std::string& what, const Tensor<T>& got, const Tensor<double>& want) {
  INFO(what << ": glia " << got.shape() << ", torch " << want.shape());
  REQUIRE(got.shape() == want.shape());
  double d2 = 0, w2 = 0, wmax = 0;
  for (Index i = 0; i < want.size(); ++i) {
    d2 += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    w2 += want[i] * want[i];
    wmax = std::max(wmax, std::abs(want[i]));
  }
  Index bad = 0;
  for (Index i = 0; i < want.size(); ++i)
    if (!(std::abs(double(got[i]) - want[i]) <= 1e-4 * std::max(std::abs(want[i]), std::min(1.0, wmax)))) ++bad;
  CHECK(std::sqrt(d2) <= 1e-4 * std::sqrt(w2));
  CHECK(bad == 0);
}

}  // namespace glia::testing
