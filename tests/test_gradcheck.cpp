// Finite-difference checks (double, central differences) of every layer's backward pass: the
// input gradient and every parameter gradient, on several shapes each.
#include <catch2/catch.hpp>

#include <tuple>

#include "support/gradcheck.hpp"
#include "support/instruction_sets.hpp"

using namespace glia;
using glia::testing::check_gradients;
using glia::testing::GradCheckOptions;

namespace {

constexpr double kTol = 1e-6;
// Absolute error accepted only where both gradients are ~0: central differences of an O(1)
// loss in double carry ~1e-16/1e-5 = 1e-11 of rounding noise.
constexpr double kZeroGradTol = 1e-9;

Tensor<double> random_input(const Shape& s, std::uint64_t seed, double away_from_zero = 0.0) {
  Rng rng(seed);
  Tensor<double> x(s);
  for (double& v : x) {
    v = rng.uniform(-1.0, 1.0);
    if (away_from_zero > 0 && std::abs(v) < away_from_zero) v += v < 0 ? -away_from_zero : away_from_zero;
  }
  return x;
}

// Distinct values spaced well apart (so max-pool has no near ties for the finite differences).
Tensor<double> spaced_input(const Shape& s, std::uint64_t seed) {
  Tensor<double> x(s);
  std::vector<Index> perm(static_cast<std::size_t>(x.size()));
  for (Index i = 0; i < x.size(); ++i) perm[static_cast<std::size_t>(i)] = i;
  Rng rng(seed);
  for (Index i = x.size() - 1; i > 0; --i)
    std::swap(perm[static_cast<std::size_t>(i)], perm[static_cast<std::size_t>(rng.below(static_cast<std::uint32_t>(i + 1)))]);
  for (Index i = 0; i < x.size(); ++i) x[i] = 0.01 * static_cast<double>(perm[static_cast<std::size_t>(i)]) - 0.3;
  return x;
}

void require_close(Module<double>& m, const Tensor<double>& x, const GradCheckOptions& o = {}) {
  for (const auto& r : check_gradients(m, x, o)) {
    INFO(m.name() << " input " << x.shape() << " tensor " << r.tensor << " (" << r.checked
                  << " elements): relative error " << r.rel_error << ", max abs error " << r.max_abs_error);
    CHECK(r.checked > 0);
    CHECK((r.rel_error < kTol || r.max_abs_error < kZeroGradTol));
  }
}

void randomize(Module<double>& m, std::uint64_t seed) {
  Rng rng(seed);
  m.reset_parameters(rng);
  for (auto& p : parameters(m)) p.param->value.uniform_(rng, -1.0, 1.0);
}

}  // namespace

TEST_CASE("Conv2d backward matches finite differences", "[gradcheck][conv]") {
  struct Case {
    Index n, cin, h, w, cout, k, s, p;
    bool bias;
  };
  const Case cases[] = {
      {1, 3, 7, 5, 5, 3, 1, 1, true},   // batch 1, odd H/W, pad 1
      {3, 4, 7, 5, 6, 3, 2, 0, true},   // batch 3, stride 2, pad 0
      {2, 5, 6, 6, 3, 1, 1, 0, true},   // 1x1 stride 1: the im2col-free path
      {2, 3, 5, 7, 4, 1, 2, 1, false},  // 1x1 with stride and padding, no bias
      {3, 2, 6, 5, 3, 2, 2, 1, true},   // even kernel
      {1, 3, 8, 8, 2, 5, 1, 2, true},   // 5x5, pad 2
  };
  for (const Case& c : cases) {
    Conv2d<double> conv(c.cin, c.cout, c.k, c.s, c.p, c.bias);
    randomize(conv, 1);
    require_close(conv, random_input(Shape{c.n, c.cin, c.h, c.w}, 2));
  }
}

TEST_CASE("MaxPool2d backward matches finite differences", "[gradcheck][pool]") {
  MaxPool2d<double> p2(2);
  require_close(p2, spaced_input(Shape{1, 3, 7, 5}, 3));  // floor mode drops the last row/column
  require_close(p2, spaced_input(Shape{3, 2, 8, 6}, 4));
  MaxPool2d<double> p3(3, 2);  // overlapping windows
  require_close(p3, spaced_input(Shape{2, 3, 7, 7}, 5));
}

TEST_CASE("GlobalAvgPool2d backward matches finite differences", "[gradcheck][pool]") {
  GlobalAvgPool2d<double> gap;
  require_close(gap, random_input(Shape{1, 3, 7, 5}, 6));
  require_close(gap, random_input(Shape{3, 5, 4, 4}, 7));
}

TEST_CASE("BatchNorm2d backward matches finite differences, at every instruction-set level", "[gradcheck][norm][isa]") {
  for (InstructionSet level : glia::testing::runnable_instruction_sets()) {
    INFO("instruction set " << instruction_set_name(level));
    ScopedInstructionSet use(level);
    for (Shape s : {Shape{3, 5, 7, 5}, Shape{1, 3, 4, 3}, Shape{4, 7, 1, 1}}) {
      BatchNorm2d<double> bn(s[1]);
      randomize(bn, 8);
      require_close(bn, random_input(s, 9));  // train mode: batch statistics
      GradCheckOptions eval;
      eval.mode = Mode::Eval;  // running statistics (as left by the train-mode checks)
      require_close(bn, random_input(s, 10), eval);
    }
  }
}

TEST_CASE("BatchNorm1d backward matches finite differences on [N, C] and [N, C, L]", "[gradcheck][norm]") {
  for (Shape s : {Shape{6, 4}, Shape{3, 5, 7}, Shape{2, 3, 1}}) {
    BatchNorm1d<double> bn(s[1]);
    randomize(bn, 8);
    require_close(bn, random_input(s, 9));
    GradCheckOptions eval;
    eval.mode = Mode::Eval;
    require_close(bn, random_input(s, 10), eval);
  }
  BatchNorm1d<double> bn(4);
  CHECK(bn.name() == "BatchNorm1d(4)");
  CHECK_THROWS_WITH(bn.output_shape(Shape{2, 5}), Catch::Contains("expected input [N, 4] or [N, 4, L]"));
  CHECK_THROWS_AS(bn.output_shape(Shape{2, 4, 3, 3}), ShapeError);
}

TEST_CASE("LayerNorm (PyTorch's, over the last dimensions) backward matches finite differences", "[gradcheck][norm]") {
  LayerNorm<double> last({7});
  randomize(last, 3);
  require_close(last, random_input(Shape{4, 7}, 4));
  require_close(last, random_input(Shape{2, 3, 7}, 5));
  LayerNorm<double> last2({3, 4});
  randomize(last2, 6);
  require_close(last2, random_input(Shape{2, 5, 3, 4}, 7));
  LayerNorm<double> plain({5}, 1e-5, false);
  require_close(plain, random_input(Shape{3, 5}, 8));
  CHECK(parameters(plain).empty());
  CHECK(last2.name() == "LayerNorm([3, 4])");
  CHECK_THROWS_WITH(last2.output_shape(Shape{2, 4, 3}), Catch::Contains("expected an input [N, ..., normalized_shape]"));
  CHECK_THROWS_AS(LayerNorm<double>(std::vector<Index>{}), ValueError);
  CHECK_THROWS_AS(LayerNorm<double>({3, 0}), ValueError);
}

TEST_CASE("GroupNorm (and GroupNorm(1), the reference net's ln) backward match finite differences, at every instruction-set level", "[gradcheck][norm][isa]") {
  for (InstructionSet level : glia::testing::runnable_instruction_sets()) {
    INFO("instruction set " << instruction_set_name(level));
    ScopedInstructionSet use(level);
    struct Case {
      Index groups, channels;
      Shape in;
    };
    const Case cases[] = {{1, 4, Shape{2, 4, 5, 3}}, {2, 6, Shape{3, 6, 7, 5}}, {4, 4, Shape{1, 4, 3, 3}},
                          {3, 6, Shape{2, 6, 4, 5}}, {2, 10, Shape{2, 10, 1, 3}}};
    for (const Case& c : cases) {
      GroupNorm<double> gn(c.groups, c.channels);
      randomize(gn, 11);
      require_close(gn, random_input(c.in, 12));
    }
    GroupNorm<double> ln(1, 5);
    randomize(ln, 13);
    require_close(ln, random_input(Shape{3, 5, 7, 5}, 14));
  }
}

TEST_CASE("Norms with a fused ReLU match finite differences, at every instruction-set level", "[gradcheck][norm][isa][activation]") {
  for (InstructionSet level : glia::testing::runnable_instruction_sets()) {
    INFO("instruction set " << instruction_set_name(level));
    ScopedInstructionSet use(level);
    // Small shapes: few pre-activations near the kink, where central differences straddle it.
    for (Shape s : {Shape{3, 5, 7, 5}, Shape{2, 4, 3, 3}}) {
      BatchNorm2d<double> bn(s[1], 1e-5, 0.1, Activation::ReLU);
      randomize(bn, 15);
      require_close(bn, random_input(s, 16));
      GradCheckOptions eval;
      eval.mode = Mode::Eval;
      require_close(bn, random_input(s, 17), eval);
    }
    GroupNorm<double> gn(2, 6, 1e-5, Activation::ReLU);
    randomize(gn, 18);
    require_close(gn, random_input(Shape{3, 6, 5, 4}, 19));
    GroupNorm<double> ln(1, 5, 1e-5, Activation::ReLU);
    randomize(ln, 20);
    require_close(ln, random_input(Shape{2, 5, 4, 5}, 21));
  }
}

TEST_CASE("ReLU backward matches finite differences", "[gradcheck][activation]") {
  ReLU<double> relu;
  require_close(relu, random_input(Shape{3, 4, 7, 5}, 15, 1e-3));
  require_close(relu, random_input(Shape{2, 9}, 16, 1e-3));
}

TEST_CASE("Dropout backward matches finite differences", "[gradcheck][activation]") {
  Dropout<double> drop(0.3, 77);
  GradCheckOptions o;
  o.before_forward = [&] { drop.set_calls(5); };  // the same mask on every forward
  require_close(drop, random_input(Shape{3, 4, 7, 5}, 17), o);
  GradCheckOptions eval;
  eval.mode = Mode::Eval;
  require_close(drop, random_input(Shape{2, 3, 4, 4}, 18), eval);
}

TEST_CASE("Residual and Sequential backward match finite differences", "[gradcheck][residual]") {
  SECTION("identity shortcut around conv-norm-relu") {
    auto body = std::make_unique<Sequential<double>>();
    body->emplace<Conv2d<double>>(4, 4, 3, 1, 1);
    body->emplace<GroupNorm<double>>(2, 4);
    body->emplace<Conv2d<double>>(4, 4, 1);
    Residual<double> res(std::move(body));
    randomize(res, 19);
    require_close(res, random_input(Shape{2, 4, 5, 7}, 20));
  }
  SECTION("projection shortcut") {
    Residual<double> res(std::make_unique<Conv2d<double>>(3, 5, 3, 2, 1), std::make_unique<Conv2d<double>>(3, 5, 1, 2, 0));
    randomize(res, 21);
    require_close(res, random_input(Shape{3, 3, 7, 5}, 22));
  }
}

TEST_CASE("Linear backward matches finite differences", "[gradcheck][linear]") {
  Linear<double> fc(7, 5);
  randomize(fc, 23);
  require_close(fc, random_input(Shape{3, 7}, 24));
  Linear<double> head(6, 4, false);
  randomize(head, 25);
  require_close(head, random_input(Shape{2, 6, 1, 1}, 26));  // [N,C,1,1] input, no bias
}

TEST_CASE("LogSoftmax backward matches finite differences", "[gradcheck][loss]") {
  LogSoftmax<double> ls;
  require_close(ls, random_input(Shape{3, 10}, 27));
  require_close(ls, random_input(Shape{2, 7, 1, 1}, 28));
}

namespace {
// Central differences of a scalar loss with respect to its input scores.
template <typename Loss>
double loss_gradient_error(Loss& loss, Tensor<double> x, const std::vector<std::int32_t>& t) {
  loss.forward(x, t);
  const Tensor<double> g = loss.backward().clone();
  std::vector<double> a, n;
  for (Index i = 0; i < x.size(); ++i) {
    const double keep = x[i], h = 1e-5;
    x[i] = keep + h;
    const double lp = loss.forward(x, t);
    x[i] = keep - h;
    const double lm = loss.forward(x, t);
    x[i] = keep;
    n.push_back((lp - lm) / (2 * h));
    a.push_back(g[i]);
  }
  return glia::testing::relative_error(a, n);
}
}  // namespace

TEST_CASE("NLLLoss and CrossEntropyLoss gradients match finite differences", "[gradcheck][loss]") {
  const std::vector<std::int32_t> t{3, 0, 9, 5};
  Tensor<double> logits = random_input(Shape{4, 10}, 29);
  NLLLoss<double> nll;
  CHECK(loss_gradient_error(nll, logits, t) < kTol);
  CrossEntropyLoss<double> ce;
  CHECK(loss_gradient_error(ce, logits, t) < kTol);
  CrossEntropyLoss<double> smooth(0.1);
  CHECK(loss_gradient_error(smooth, random_input(Shape{4, 10, 1, 1}, 30), t) < kTol);
}

namespace {
// DistillationLoss with its teacher's scores fixed, shaped like the losses above.
struct WithTeacher {
  DistillationLoss<double> loss;
  Tensor<double> teacher;
  double forward(const Tensor<double>& x, const std::vector<std::int32_t>& t) { return loss.forward(x, teacher, t); }
  const Tensor<double>& backward() const { return loss.backward(); }
};
}  // namespace

TEST_CASE("DistillationLoss gradients match finite differences", "[gradcheck][loss]") {
  const std::vector<std::int32_t> t{3, 0, 9, 5};
  Tensor<double> teacher = random_input(Shape{4, 10}, 33);
  teacher.vector() *= 3.0;  // confident teachers put most of the mass on one class
  for (const auto& [weight, temperature, smoothing] :
       {std::tuple{0.9, 4.0, 0.1}, std::tuple{0.5, 1.0, 0.0}, std::tuple{1.0, 0.5, 0.0}, std::tuple{0.0, 3.0, 0.2}}) {
    INFO("weight " << weight << ", temperature " << temperature << ", label smoothing " << smoothing);
    WithTeacher kd{DistillationLoss<double>(weight, temperature, smoothing), teacher.clone()};
    CHECK(loss_gradient_error(kd, random_input(Shape{4, 10}, 34), t) < kTol);
  }
  // [N,C,1,1] scores from a 1x1-conv head, the teacher's in the same shape.
  WithTeacher head{DistillationLoss<double>(0.7, 2.0), teacher.view(Shape{4, 10, 1, 1}).clone()};
  CHECK(loss_gradient_error(head, random_input(Shape{4, 10, 1, 1}, 35), t) < kTol);
}

TEST_CASE("The whole reference network backward matches finite differences", "[gradcheck][model]") {
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    ReferenceNetConfig cfg;
    cfg.norm = k;
    cfg.dropout = 0.0;
    auto net = make_reference_net<double>(cfg);
    Rng rng(31);
    net->reset_parameters(rng);
    GradCheckOptions o;
    o.max_checks = 12;  // a random subset of every parameter tensor: the full net is 48,178 values
    INFO("norm " << norm_kind_name(k));
    // 8x8 images (the net accepts any size divisible by 4): few enough ReLU and max-pool inputs
    // that no finite-difference step crosses one of their kinks.
    require_close(*net, random_input(Shape{2, 3, 8, 8}, 32), o);
  }
}
