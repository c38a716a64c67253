// The element-wise layers of nn/pointwise.hpp: backward against finite differences (double,
// several shapes, inputs spread over [-4, 4] so that every branch is taken, kept off the kinks),
// values and derivatives at the kinks and at -3, 3, -40, 40 as PyTorch computes them in double, errors, Flatten and Identity, and a layer of
// them inside the forward plan. Values against PyTorch: tests/test_golden.cpp.
#include <catch2/catch.hpp>

#include <glia/nn/conv2d.hpp>
#include <glia/nn/plan.hpp>
#include <glia/nn/pointwise.hpp>
#include <glia/nn/sequential.hpp>

#include <cmath>
#include <cstring>
#include <memory>

#include "support/gradcheck.hpp"

using namespace glia;
using glia::testing::check_gradients;

namespace {

// Uniform in [-4, 4], at least 0.05 away from the kinks at -3, 0 and 3.
Tensor<double> spread_input(const Shape& s, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<double> x(s);
  for (double& v : x) {
    v = rng.uniform(-4.0, 4.0);
    for (double kink : {-3.0, 0.0, 3.0})
      if (std::abs(v - kink) < 0.05) v = kink + (v < kink ? -0.05 : 0.05);
  }
  return x;
}

void require_gradients(Module<double>& m) {
  for (const Shape& s : {Shape{2, 3, 5, 4}, Shape{7, 11}, Shape{1, 2, 1, 3}}) {
    for (const auto& r : check_gradients(m, spread_input(s, 3))) {
      INFO(m.name() << " " << s << " " << r.tensor << ": relative error " << r.rel_error);
      CHECK(r.rel_error < 1e-7);
    }
  }
}

}  // namespace

TEST_CASE("Element-wise activations: backward matches finite differences", "[gradcheck][activation][pointwise]") {
  LeakyReLU<double> leaky(0.2);
  Sigmoid<double> sigmoid;
  Tanh<double> tanh_layer;
  GELU<double> gelu;
  GELU<double> gelu_tanh("tanh");
  SiLU<double> silu;
  Hardswish<double> hardswish;
  for (Module<double>* m : std::initializer_list<Module<double>*>{&leaky, &sigmoid, &tanh_layer, &gelu, &gelu_tanh, &silu, &hardswish})
    require_gradients(*m);
}

TEST_CASE("Element-wise activations: values and derivatives at the kinks are PyTorch's", "[activation][pointwise]") {
  Tensor<double> x(Shape{1, 5});
  const double at[] = {-3.0, 0.0, 3.0, -40.0, 40.0};
  for (Index k = 0; k < 5; ++k) x[k] = at[k];
  Tensor<double> ones = Tensor<double>::full(x.shape(), 1.0);
  auto run = [&](Module<double>& m) {
    const Tensor<double> y = m.forward(x, Mode::Train);
    const Tensor<double> dx = m.backward(ones);
    return std::make_pair(y, dx);
  };
  LeakyReLU<double> leaky(0.1);
  auto l = run(leaky);
  CHECK(l.first[0] == Approx(-0.3));
  CHECK(l.second[1] == 0.1);  // at 0: the slope (x > 0 is false)
  Hardswish<double> hs;
  auto h = run(hs);
  CHECK(h.first[0] == 0.0);
  CHECK(h.first[2] == 3.0);
  CHECK(h.second[0] == Approx(-0.5));  // at -3: x/3 + 1/2 (x < -3 is false)
  CHECK(h.second[2] == Approx(1.5));   // at 3: x/3 + 1/2
  CHECK(h.second[3] == 0.0);
  CHECK(h.second[4] == 1.0);
  Sigmoid<double> sg;
  auto s = run(sg);
  CHECK(s.first[1] == 0.5);
  CHECK(s.first[3] == Approx(4.248354255291589e-18));
  CHECK(s.second[1] == 0.25);
  GELU<double> gelu;
  auto g = run(gelu);
  CHECK(g.first[0] == Approx(-0.00404969409489031).epsilon(1e-12));  // -3 Phi(-3), as torch computes it in double
  CHECK(g.second[0] == Approx(-0.01194564720418392).epsilon(1e-12));
  CHECK(g.second[1] == 0.5);
  GELU<double> gelu_t("tanh");
  auto gt = run(gelu_t);
  CHECK(gt.first[2] == Approx(2.996362607918227).epsilon(1e-12));
  CHECK(gt.second[0] == Approx(-0.011584166630969648).epsilon(1e-12));
  SiLU<double> silu;
  auto si = run(silu);
  CHECK(si.first[0] == Approx(-0.14227761953270035).epsilon(1e-12));
  CHECK(si.second[0] == Approx(-0.08810410601516962).epsilon(1e-12));
  CHECK(si.first[4] == 40.0);
  Tanh<double> th;
  auto t = run(th);
  CHECK(t.second[1] == 1.0);
  CHECK(t.second[0] == Approx(0.009866037165440166).epsilon(1e-12));
}

TEST_CASE("Element-wise activations: names and configuration errors", "[activation][pointwise]") {
  CHECK(GELU<float>("tanh").name() == "GELU(tanh)");
  CHECK(LeakyReLU<float>(0.2).name() == "LeakyReLU(0.2)");
  CHECK_THROWS_WITH(GELU<float>("fast"), Catch::Contains("'none' or 'tanh'"));
  CHECK_THROWS_AS(LeakyReLU<float>(std::nan("")), ValueError);
  SiLU<float> silu;
  Tensor<float> scalar(Shape{});
  CHECK_THROWS_AS(silu.forward(scalar, Mode::Eval), ShapeError);
  Tensor<float> x(Shape{2, 3}), wrong(Shape{3, 2});
  silu.forward(x, Mode::Train);
  CHECK_THROWS_AS(silu.backward(wrong), ShapeError);
}

TEST_CASE("Flatten and Identity: views, no copies", "[pointwise]") {
  Tensor<float> x(Shape{2, 3, 2, 2});
  for (Index k = 0; k < x.size(); ++k) x[k] = static_cast<float>(k);
  Flatten<float> flat;
  const Tensor<float>& y = flat.forward(x, Mode::Train);
  CHECK(y.shape() == Shape{2, 12});
  CHECK(y.data() == x.data());
  Tensor<float> dy(Shape{2, 12});
  const Tensor<float>& dx = flat.backward(dy);
  CHECK(dx.shape() == x.shape());
  CHECK(dx.data() == dy.data());
  CHECK_THROWS_AS(flat.backward(x), ShapeError);
  Identity<float> id;
  CHECK(&id.forward(x, Mode::Eval) == &x);
  CHECK(&id.backward(x) == &x);
  CHECK_THROWS_AS(id.backward(dy), ShapeError);
}

TEST_CASE("An element-wise layer joins its neighbours' loop in the forward plan, bit for bit", "[pointwise][plan]") {
  auto make = [] {
    auto net = std::make_unique<Sequential<float>>();
    net->add(std::make_unique<Conv2d<float>>(3, 4, 3, 1, 1), "conv");
    net->add(std::make_unique<GELU<float>>(), "gelu");
    net->add(std::make_unique<Flatten<float>>(), "flat");
    net->add(std::make_unique<Hardswish<float>>(), "hs");
    Rng rng(4);
    net->reset_parameters(rng);
    return net;
  };
  auto planned = make(), plain = make();
  CHECK(ExecutionPlan<float>(*planned, Mode::Train).str() == "[conv gelu flat hs]");
  Tensor<float> x(Shape{5, 3, 6, 6});
  Rng rng(8);
  x.normal_(rng, 0, 1);
  const Tensor<float>& a = planned->forward(x, Mode::Train);
  const Tensor<float>* cur = &x;
  for (Index i = 0; i < plain->size(); ++i) cur = &(*plain)[i].forward(*cur, Mode::Train);
  REQUIRE(a.shape() == Shape{5, 144});
  CHECK(std::memcmp(a.data(), cur->data(), static_cast<std::size_t>(a.size()) * sizeof(float)) == 0);
}
