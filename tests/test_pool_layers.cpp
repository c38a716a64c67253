// AvgPool2d, AdaptiveAvgPool2d and Upsample (nn/pooling.hpp): backward against finite
// differences in double on several geometries (padding counted or not, windows that overlap or
// leave rows out, adaptive windows that overlap, outputs larger than inputs), output shapes and
// the errors. Values against PyTorch: tests/test_golden.cpp.
#include <catch2/catch.hpp>

#include <glia/nn/pooling.hpp>

#include "support/gradcheck.hpp"

using namespace glia;
using glia::testing::check_gradients;

namespace {

Tensor<double> uniform_input(const Shape& s, std::uint64_t seed) {
  Tensor<double> x(s);
  Rng rng(seed);
  x.uniform_(rng, -1.0, 1.0);
  return x;
}

void require_gradients(Module<double>& m, const Shape& s) {
  for (const auto& r : check_gradients(m, uniform_input(s, 7))) {
    INFO(m.name() << " on " << s << ": relative error " << r.rel_error);
    CHECK(r.checked > 0);
    CHECK(r.rel_error < 1e-8);
  }
}

}  // namespace

TEST_CASE("AvgPool2d backward matches finite differences", "[gradcheck][pool]") {
  AvgPool2d<double> plain(2);
  require_gradients(plain, Shape{2, 3, 6, 5});
  AvgPool2d<double> padded(3, 2, 1);
  require_gradients(padded, Shape{2, 2, 7, 6});
  AvgPool2d<double> exclude(3, 2, 1, false);
  require_gradients(exclude, Shape{1, 2, 5, 8});
  AvgPool2d<double> overlapping(3, 1);
  require_gradients(overlapping, Shape{2, 1, 5, 4});
}

TEST_CASE("AvgPool2d: shapes, divisors and errors as PyTorch", "[pool]") {
  Tensor<double> x = Tensor<double>::full(Shape{1, 1, 4, 4}, 1.0);
  AvgPool2d<double> include(3, 2, 1), exclude(3, 2, 1, false);
  const Tensor<double>& yi = include.forward(x, Mode::Eval);
  CHECK(yi.shape() == Shape{1, 1, 2, 2});
  CHECK(yi[0] == Approx(4.0 / 9.0));  // the corner window holds 4 image values and 5 zeros of padding
  CHECK(exclude.forward(x, Mode::Eval)[0] == 1.0);
  CHECK_THROWS_AS(AvgPool2d<float>(3, 1, 2), ValueError);  // padding over half the kernel
  CHECK_THROWS_AS(AvgPool2d<float>(0), ValueError);
  AvgPool2d<float> big(5);
  CHECK_THROWS_AS(big.output_shape(Shape{1, 1, 4, 4}), ShapeError);
}

TEST_CASE("AdaptiveAvgPool2d and Upsample backward match finite differences", "[gradcheck][pool]") {
  AdaptiveAvgPool2d<double> down(3, 2);
  require_gradients(down, Shape{2, 3, 7, 5});  // windows of 3 rows overlapping by 1 (7 -> 3)
  AdaptiveAvgPool2d<double> up(4, 6);
  require_gradients(up, Shape{1, 2, 3, 4});  // more outputs than inputs
  AdaptiveAvgPool2d<double> global(1, 1);
  require_gradients(global, Shape{2, 2, 3, 3});
  Upsample<double> upsample;
  require_gradients(upsample, Shape{2, 3, 3, 4});
}

TEST_CASE("AdaptiveAvgPool2d and Upsample: values, shapes and errors", "[pool]") {
  Tensor<double> x(Shape{1, 1, 2, 3});
  for (Index k = 0; k < 6; ++k) x[k] = static_cast<double>(k);  // [[0 1 2] [3 4 5]]
  AdaptiveAvgPool2d<double> cols(1, 2);  // columns [0, 2) and [1, 3)
  const Tensor<double>& y = cols.forward(x, Mode::Eval);
  CHECK(y[0] == Approx(2.0));  // (0 + 1 + 3 + 4) / 4
  CHECK(y[1] == Approx(3.0));  // (1 + 2 + 4 + 5) / 4
  Upsample<double> up;
  const Tensor<double>& u = up.forward(x, Mode::Eval);
  CHECK(u.shape() == Shape{1, 1, 4, 6});
  CHECK(u[6 + 3] == 1.0);   // row 1, column 3 -> x[0, 1]
  CHECK(u[18 + 5] == 5.0);  // row 3, column 5 -> x[1, 2]
  CHECK_THROWS_AS(Upsample<float>(3.0), ValueError);
  CHECK_THROWS_AS(Upsample<float>(2.0, "bilinear"), ValueError);
  CHECK_THROWS_AS(AdaptiveAvgPool2d<float>(0, 2), ValueError);
  CHECK_THROWS_AS(cols.output_shape(Shape{2, 3}), ShapeError);
}
