// Tensor, Shape, Rng and error messages.
#include <catch2/catch.hpp>

#include <glia/glia.hpp>

#include <cstdint>

using namespace glia;

TEST_CASE("Tensor storage is aligned, zeroed and shared by views", "[tensor]") {
  Tensor<float> t(Shape{2, 3, 4, 5});
  CHECK(t.size() == 120);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  for (float v : t) CHECK(v == 0.0f);
  t.at(1, 2, 3, 4) = 7.0f;
  CHECK(t[119] == 7.0f);

  Tensor<float> v = t.view(Shape{6, 20});
  CHECK(v.data() == t.data());
  CHECK(v.at(5, 19) == 7.0f);
  Tensor<float> s = t.slice(1, 2);
  CHECK(s.shape() == Shape{1, 3, 4, 5});
  CHECK(s.data() == t.data() + 60);
  s.at(0, 0, 0, 0) = 3.0f;
  CHECK(t.at(1, 0, 0, 0) == 3.0f);

  Tensor<float> c = t.clone();
  c.fill(1.0f);
  CHECK(t.at(1, 0, 0, 0) == 3.0f);
  Tensor<float> shallow = t;
  CHECK(shallow.data() == t.data());
}

TEST_CASE("Tensor::resize reuses storage that is large enough", "[tensor]") {
  Tensor<double> t(Shape{4, 8});
  const double* p = t.data();
  t.resize(Shape{2, 8});
  CHECK(t.data() == p);
  t.resize(Shape{4, 8});
  CHECK(t.data() == p);
  t.resize(Shape{5, 8});
  CHECK(t.size() == 40);
}

TEST_CASE("Tensor maps to a row-major Eigen matrix without copying", "[tensor]") {
  Tensor<float> t(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  auto m = t.matrix(2, 3);
  CHECK(m(1, 0) == 4.0f);
  m(0, 2) = 9.0f;
  CHECK(t[2] == 9.0f);
  CHECK_THROWS_AS(t.matrix(3, 3), ShapeError);
}

TEST_CASE("Shape errors name the operation and both shapes", "[tensor][errors]") {
  Tensor<float> t(Shape{2, 3});
  CHECK_THROWS_WITH(t.view(Shape{4, 2}), Catch::Contains("[2,3]") && Catch::Contains("[4,2]"));
  Tensor<float> u(Shape{3, 2});
  CHECK_THROWS_WITH(t.copy_from(u), Catch::Contains("copy_from") && Catch::Contains("[3,2]") && Catch::Contains("[2,3]"));
  CHECK_THROWS_AS(Shape({1, 2, 3, 4, 5}), ShapeError);
  CHECK_THROWS_AS(t.slice(1, 3), ShapeError);

  Conv2d<float> conv(8, 32, 3, 1, 1);
  Tensor<float> x(Shape{32, 16, 16, 16});
  CHECK_THROWS_WITH(conv.forward(x, Mode::Train),
                    Catch::Contains("Conv2d(8->32") && Catch::Contains("[N,8,H,W]") && Catch::Contains("[32,16,16,16]"));
}

#if GLIA_CHECK_BOUNDS
TEST_CASE("Element access is bounds-checked in debug builds", "[tensor][errors]") {
  Tensor<float> t(Shape{2, 3});
  CHECK_THROWS_WITH(t.at(2, 0), Catch::Contains("out of range") && Catch::Contains("[2,3]"));
  CHECK_THROWS_AS(t.at(0), ShapeError);
}
#endif

TEST_CASE("Rng is xoshiro256** seeded by splitmix64 and reproducible", "[tensor][random]") {
  // First outputs of xoshiro256** after seeding with splitmix64(0): fixed forever, so a seed
  // gives the same numbers on every machine and compiler.
  Rng a(0), b(0), c(1);
  const std::uint64_t first = a.next();
  CHECK(first == b.next());
  CHECK(first != c.next());
  CHECK(first == UINT64_C(0x99EC5F36CB75F2B4));
  Rng u(42);
  for (int i = 0; i < 1000; ++i) {
    const double v = u.uniform();
    REQUIRE(v >= 0.0);
    REQUIRE(v < 1.0);
    REQUIRE(u.below(10) < 10u);
  }
  // Streams differ by their indices and are reproducible.
  CHECK(Rng::stream(7, 1, 2).next() == Rng::stream(7, 1, 2).next());
  CHECK(Rng::stream(7, 1, 2).next() != Rng::stream(7, 2, 1).next());
  // Mean and variance of the normal generator are right.
  Rng g(3);
  double s = 0, q = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double z = g.normal();
    s += z;
    q += z * z;
  }
  CHECK(std::abs(s / n) < 0.02);
  CHECK(std::abs(q / n - 1.0) < 0.02);
}
