// MSELoss, L1Loss, BCEWithLogitsLoss and CrossEntropyLoss with class weights: dL/dx against
// central differences in double, the unweighted special case, and the errors. Values against
// PyTorch: tests/test_golden.cpp.
#include <catch2/catch.hpp>

#include <glia/nn/loss.hpp>

#include <cmath>
#include <vector>

using namespace glia;

namespace {

Tensor<double> uniform_tensor(const Shape& s, std::uint64_t seed, double lo, double hi) {
  Tensor<double> t(s);
  Rng rng(seed);
  t.uniform_(rng, lo, hi);
  return t;
}

// max |analytic - numeric| / (1 + |numeric|) over the elements of x, for loss(x) -> double.
template <typename LossOf>
double worst_gradient_error(Tensor<double> x, const Tensor<double>& analytic, LossOf loss_of) {
  double worst = 0;
  const double h = 1e-6;
  for (Index i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = loss_of(x);
    x[i] = keep - h;
    const double down = loss_of(x);
    x[i] = keep;
    const double numeric = (up - down) / (2 * h);
    worst = std::max(worst, std::abs(analytic[i] - numeric) / (1 + std::abs(numeric)));
  }
  return worst;
}

template <typename Loss>
void check_regression_loss(Loss& loss, const Tensor<double>& x, const Tensor<double>& target) {
  loss.forward(x, target);
  const Tensor<double> analytic = loss.backward();
  Loss probe;
  CHECK(worst_gradient_error(x, analytic, [&](const Tensor<double>& v) { return probe.forward(v, target); }) < 1e-8);
}

}  // namespace

TEST_CASE("MSELoss, L1Loss and BCEWithLogitsLoss: dL/dx matches finite differences", "[loss][gradcheck]") {
  const Tensor<double> x = uniform_tensor(Shape{3, 4, 5}, 1, -6, 6);
  const Tensor<double> target = uniform_tensor(Shape{3, 4, 5}, 2, -1, 1);
  const Tensor<double> probability = uniform_tensor(Shape{3, 4, 5}, 3, 0, 1);
  MSELoss<double> mse;
  check_regression_loss(mse, x, target);
  L1Loss<double> l1;  // uniform draws: no x - t within 1e-6 of the kink at 0
  check_regression_loss(l1, x, target);
  BCEWithLogitsLoss<double> bce;
  check_regression_loss(bce, x, probability);
  // Values by hand: x = 2, t = 1 -> MSE 1, L1 1, BCE log(1 + e^-2).
  Tensor<double> two = Tensor<double>::full(Shape{1}, 2.0), one = Tensor<double>::full(Shape{1}, 1.0);
  CHECK(mse.forward(two, one) == 1.0);
  CHECK(l1.forward(two, one) == 1.0);
  CHECK(bce.forward(two, one) == Approx(std::log1p(std::exp(-2.0))));
  // No overflow for large logits.
  Tensor<double> big = Tensor<double>::full(Shape{1}, -800.0);
  CHECK(bce.forward(big, one) == Approx(800.0));
  CHECK(bce.backward()[0] == Approx(-1.0));
}

TEST_CASE("MSELoss and friends refuse different shapes and empty predictions", "[loss]") {
  MSELoss<float> mse;
  Tensor<float> a(Shape{2, 3}), b(Shape{3, 2}), empty(Shape{0, 3});
  CHECK_THROWS_WITH(mse.forward(a, b), Catch::Contains("MSELoss") && Catch::Contains("differ"));
  CHECK_THROWS_AS(mse.forward(empty, empty), ShapeError);
}

TEST_CASE("CrossEntropyLoss with class weights: dL/dx matches finite differences", "[loss][gradcheck]") {
  const Tensor<double> x = uniform_tensor(Shape{6, 4}, 5, -3, 3);
  const std::vector<std::int32_t> targets = {0, 3, 1, 1, 2, 3};
  const std::vector<double> weight = {0.5, 2.0, 0.0, 1.25};
  for (double smoothing : {0.0, 0.2}) {
    INFO("label smoothing " << smoothing);
    CrossEntropyLoss<double> ce(smoothing, weight);
    ce.forward(x, targets);
    const Tensor<double> analytic = ce.backward();
    CrossEntropyLoss<double> probe(smoothing, weight);
    CHECK(worst_gradient_error(x, analytic, [&](const Tensor<double>& v) { return probe.forward(v, targets); }) < 1e-8);
    // All weights equal: the unweighted loss.
    CrossEntropyLoss<double> equal(smoothing, {3.0, 3.0, 3.0, 3.0}), plain(smoothing);
    CHECK(equal.forward(x, targets) == Approx(plain.forward(x, targets)).epsilon(1e-13));
    for (Index i = 0; i < x.size(); ++i) CHECK(equal.backward()[i] == Approx(plain.backward()[i]).margin(1e-15));
  }
}

TEST_CASE("CrossEntropyLoss refuses bad class weights", "[loss]") {
  CHECK_THROWS_AS(CrossEntropyLoss<float>(0.0, {1.0, -1.0}), ValueError);
  CHECK_THROWS_AS(CrossEntropyLoss<float>(0.0, {1.0, std::nan("")}), ValueError);
  Tensor<float> x(Shape{2, 3});
  CrossEntropyLoss<float> wrong_count(0.0, {1.0, 1.0});
  CHECK_THROWS_WITH(wrong_count.forward(x, {0, 1}), Catch::Contains("2 class weights"));
  CrossEntropyLoss<float> zero(0.0, {0.0, 1.0, 1.0});
  CHECK_THROWS_WITH(zero.forward(x, {0, 0}), Catch::Contains("sum to 0"));
}
