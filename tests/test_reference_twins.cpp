// Fast paths against the reference twins beside them: the norm layers (per-sample kernels,
// fused ReLU, sums in lanes) against the reference maths of kernels/batchnorm.hpp and
// kernels/groupnorm.hpp (forward, input gradient and parameter gradients, in training and
// evaluation mode, with and without the fused ReLU), and MaxPool2d's 2x2 path against the
// window scan of kernels/pool.hpp, at every instruction-set level the CPU has. (The convolutions' paths: tests/test_kernels.cpp.)
#include <catch2/catch.hpp>

#include <glia/kernels/pool.hpp>
#include <glia/nn/normalization.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "support/instruction_sets.hpp"

using namespace glia;

namespace {

template <typename T>
Tensor<T> random_tensor(const Shape& s, std::uint64_t seed, double mean = 0, double stddev = 1) {
  Tensor<T> t(s);
  Rng rng(seed);
  t.normal_(rng, mean, stddev);
  return t;
}

template <typename T>
void check_close(const Tensor<T>& got, const std::vector<T>& want, double tolerance, const char* what) {
  REQUIRE(static_cast<std::size_t>(got.size()) == want.size());
  double worst = 0;
  for (Index i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(double(got[i]) - double(want[static_cast<std::size_t>(i)])) /
                                (1.0 + std::abs(double(want[static_cast<std::size_t>(i)]))));
  INFO(what << ": worst relative difference " << worst);
  CHECK(worst <= tolerance);
}

// The layer's forward and backward on x and dy, with random affine parameters.
template <typename T>
struct LayerResult {
  Tensor<T> y, dx, dgamma, dbeta;
};

template <typename T>
LayerResult<T> run_layer(AffineNorm<T>& norm, const Tensor<T>& x, const Tensor<T>& dy, Mode mode) {
  LayerResult<T> r;
  r.y = norm.forward(x, mode);
  r.dx = norm.backward(dy);
  r.dgamma = norm.weight().grad;
  r.dbeta = norm.bias().grad;
  return r;
}

template <typename T>
void randomise_affine(AffineNorm<T>& norm, std::uint64_t seed) {
  norm.weight().value = random_tensor<T>(norm.weight().value.shape(), seed, 1.0, 0.3);
  norm.bias().value = random_tensor<T>(norm.bias().value.shape(), seed + 1, 0.0, 0.3);
}

template <typename T>
void check_batchnorm(const Shape& s, Mode mode, bool relu, double tolerance) {
  const Index n = s[0], c = s[1], hw = s[2] * s[3];
  BatchNorm2d<T> bn(c, 1e-5, 0.1, relu ? Activation::ReLU : Activation::Identity);
  randomise_affine(bn, 3);
  bn.running_mean() = random_tensor<T>(Shape{c}, 5, 0.5, 0.2);
  for (Index ch = 0; ch < c; ++ch) bn.running_var()[ch] = static_cast<T>(0.5 + 0.1 * double(ch));
  const Tensor<T> x = random_tensor<T>(s, 7, 0.3, 2.0), dy = random_tensor<T>(s, 9);
  std::vector<double> mean(static_cast<std::size_t>(c)), var(mean.size()), rstd(mean.size());
  if (mode == Mode::Train) {
    batchnorm_statistics_reference(mean.data(), var.data(), x.data(), n, c, hw);
  } else {
    for (Index ch = 0; ch < c; ++ch) mean[std::size_t(ch)] = bn.running_mean()[ch], var[std::size_t(ch)] = bn.running_var()[ch];
  }
  for (std::size_t ch = 0; ch < rstd.size(); ++ch) rstd[ch] = 1.0 / std::sqrt(var[ch] + 1e-5);
  const Tensor<T> gamma = bn.weight().value, beta = bn.bias().value;
  const LayerResult<T> got = run_layer<T>(bn, x, dy, mode);
  std::vector<T> y(std::size_t(x.size())), dx(y.size()), dgamma(static_cast<std::size_t>(c)), dbeta(static_cast<std::size_t>(c));
  batchnorm_forward_reference(y.data(), x.data(), mean.data(), rstd.data(), gamma.data(), beta.data(), n, c, hw, relu);
  batchnorm_backward_reference(dx.data(), dgamma.data(), dbeta.data(), dy.data(), y.data(), x.data(), mean.data(), rstd.data(),
                               gamma.data(), n, c, hw, relu, mode == Mode::Train);
  check_close(got.y, y, tolerance, "y");
  check_close(got.dx, dx, tolerance, "dx");
  check_close(got.dgamma, dgamma, tolerance, "dgamma");
  check_close(got.dbeta, dbeta, tolerance, "dbeta");
}

template <typename T>
void check_groupnorm(AffineNorm<T>& norm, Index groups, const Shape& s, Mode mode, bool relu, double tolerance) {
  const Index n = s[0], c = s[1], hw = s[2] * s[3];
  randomise_affine(norm, 11);
  const Tensor<T> x = random_tensor<T>(s, 13, -0.4, 1.5), dy = random_tensor<T>(s, 17);
  const Tensor<T> gamma = norm.weight().value, beta = norm.bias().value;
  const LayerResult<T> got = run_layer<T>(norm, x, dy, mode);
  std::vector<double> mean(std::size_t(n * groups)), rstd(mean.size());
  std::vector<T> y(std::size_t(x.size())), dx(y.size()), dgamma(static_cast<std::size_t>(c)), dbeta(static_cast<std::size_t>(c));
  groupnorm_forward_reference(y.data(), mean.data(), rstd.data(), x.data(), gamma.data(), beta.data(), n, c, hw, groups, 1e-5, relu);
  groupnorm_backward_reference(dx.data(), dgamma.data(), dbeta.data(), dy.data(), y.data(), x.data(), mean.data(), rstd.data(),
                               gamma.data(), n, c, hw, groups, relu);
  check_close(got.y, y, tolerance, "y");
  check_close(got.dx, dx, tolerance, "dx");
  check_close(got.dgamma, dgamma, tolerance, "dgamma");
  check_close(got.dbeta, dbeta, tolerance, "dbeta");
}

}  // namespace

TEST_CASE("BatchNorm2d equals its reference maths: forward, dx, dgamma, dbeta", "[nn][norm][reference]") {
  for (const Shape& s : {Shape{4, 3, 5, 7}, Shape{1, 2, 9, 9}, Shape{6, 4, 1, 1}, Shape{3, 5, 40, 3}})
    for (Mode mode : {Mode::Train, Mode::Eval})
      for (bool relu : {false, true}) {
        INFO("shape " << s << (mode == Mode::Train ? " train" : " eval") << (relu ? " + ReLU" : ""));
        check_batchnorm<double>(s, mode, relu, 1e-11);
        check_batchnorm<float>(s, mode, relu, 2e-5);
      }
}

TEST_CASE("GroupNorm and LayerNorm equal their reference maths: forward, dx, dgamma, dbeta", "[nn][norm][reference]") {
  for (const Shape& s : {Shape{4, 6, 5, 7}, Shape{1, 4, 9, 9}, Shape{3, 6, 1, 1}, Shape{2, 2, 33, 3}})
    for (Mode mode : {Mode::Train, Mode::Eval})
      for (bool relu : {false, true}) {
        INFO("shape " << s << (mode == Mode::Train ? " train" : " eval") << (relu ? " + ReLU" : ""));
        const Activation act = relu ? Activation::ReLU : Activation::Identity;
        GroupNorm<double> gn(2, s[1], 1e-5, act);
        check_groupnorm<double>(gn, 2, s, mode, relu, 1e-11);
        GroupNorm<double> ln(1, s[1], 1e-5, act);  // the reference net's "ln"
        check_groupnorm<double>(ln, 1, s, mode, relu, 1e-11);
        GroupNorm<float> gnf(2, s[1], 1e-5, act);
        check_groupnorm<float>(gnf, 2, s, mode, relu, 2e-5);
      }
}

TEST_CASE("MaxPool2d's 2x2 fast path equals the window scan, NaNs and ties included, at every level",
          "[kernels][pool][reference][isa]") {
  for (InstructionSet level : glia::testing::runnable_instruction_sets()) {
    ScopedInstructionSet use(level);
    for (const Index w : {2, 5, 8, 13}) {
      const PoolGeometry g{6, 7, w, 2, 2};
      Tensor<float> x = random_tensor<float>(Shape{g.planes, g.height, g.width}, 19);
      for (Index i = 0; i < x.size(); i += 7) x[i] = x[i + 1 < x.size() ? i + 1 : i];  // ties
      for (Index i = 3; i < x.size(); i += 11) x[i] = std::nanf("");
      const Index out = g.planes * g.out_h() * g.out_w();
      std::vector<float> y_fast(static_cast<std::size_t>(out)), y_ref(y_fast.size());
      std::vector<std::int32_t> a_fast(y_fast.size()), a_ref(y_fast.size());
      maxpool2d_forward_2x2(y_fast.data(), a_fast.data(), x.data(), g);
      maxpool2d_forward_reference(y_ref.data(), a_ref.data(), x.data(), g);
      INFO("width " << w << ", instruction set " << instruction_set_name(level));
      CHECK(a_fast == a_ref);
      CHECK(std::memcmp(y_fast.data(), y_ref.data(), y_fast.size() * sizeof(float)) == 0);
    }
  }
}
