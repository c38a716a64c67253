// Optimisers and learning-rate schedules against PyTorch's (tools/golden/optim_golden.py).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include <glia/optim/lr_schedule.hpp>
#include <glia/optim/optimizer.hpp>
#include <glia/optim/weight_average.hpp>
#include <glia/nn/linear.hpp>

#include "support/instruction_sets.hpp"

using namespace glia;

namespace {

const std::vector<double> kW0{0.5, -1.5, 2.0, 0.0, -0.25};
const std::vector<std::vector<double>> kGrads{
    {0.1, -0.2, 0.3, 0.4, -0.5}, {-0.3, 0.1, 0.0, 0.2, 0.6}, {0.05, 0.5, -0.4, -0.1, 0.2}};

std::vector<double> run(Optimizer<double>& opt, double lr) {
  Linear<double> holder(5, 1, false);  // one weight of 5 values, subject to decay
  FlatParameters<double> flat(holder);
  std::copy(kW0.begin(), kW0.end(), flat.values().begin());
  for (const auto& g : kGrads) {
    std::copy(g.begin(), g.end(), flat.grads().begin());
    opt.step(flat, lr);
  }
  return std::vector<double>(flat.values().begin(), flat.values().end());
}

void require_equal(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(1e-12).margin(1e-15));
}

}  // namespace

TEST_CASE("SGD matches PyTorch (momentum, Nesterov, weight decay)", "[optim]") {
  OptimizerOptions o;
  o.momentum = 0.9;
  Sgd<double> sgd(o);
  require_equal(run(sgd, 0.1), {0.5249, -1.5148, 1.9587, -0.13640000000000002, -0.2485});
  o.nesterov = true;
  o.weight_decay = 0.01;
  Sgd<double> nesterov(o);
  require_equal(run(nesterov, 0.1),
                {0.5333870619804999, -1.5414370745315, 1.9570685365120002, -0.17227615436000002, -0.27693918233525});
  CHECK(sgd.steps() == 3);
}

TEST_CASE("Adam and AdamW match PyTorch", "[optim]") {
  OptimizerOptions o;
  o.weight_decay = 0.1;
  Adam<double> adam(o);
  require_equal(run(adam, 0.01), {0.4930581090990538, -1.482641720271437, 1.9767705478962778, -0.02491167677968982,
                                  -0.24314114452716837});
  AdamW<double> adamw(o);
  require_equal(run(adamw, 0.01), {0.49623342849911967, -1.4878563319453468, 1.9793387034657064,
                                   -0.024929097600006243, -0.2433548899509757});
}

TEST_CASE("Biases and norm parameters can be exempt from weight decay; L1 adds sign(w)", "[optim]") {
  Linear<double> fc(2, 1, true);  // weight decays, bias does not
  FlatParameters<double> flat(fc);
  flat.values().fill(1.0);
  flat.grads().zero();
  OptimizerOptions o;
  o.weight_decay = 0.5;
  o.l1 = 0.25;
  Sgd<double> sgd(o);
  sgd.step(flat, 0.1);
  CHECK(flat.values()[0] == Approx(1.0 - 0.1 * (0.5 + 0.25)));
  CHECK(flat.values()[2] == 1.0);  // the bias is untouched
  o.exempt_no_decay = false;
  Sgd<double> all(o);
  flat.values().fill(-1.0);
  all.step(flat, 0.1);
  CHECK(flat.values()[2] == Approx(-1.0 + 0.1 * (0.5 + 0.25)));
}

namespace {

// 20,200 values: two elementwise blocks and a tail, so the vectorised loop body, its remainder
// and the block split all run; some weights are exactly 0 (sign 0 for L1).
struct ManyParameters {
  Linear<float> fc{100, 200, true};
  FlatParameters<float> flat{fc};
  std::vector<float> w0, g1, g2, mask;

  ManyParameters() {
    REQUIRE(flat.size() == 20200);
    Rng rng(3);
    for (Index i = 0; i < flat.size(); ++i) {
      w0.push_back(i % 97 == 0 ? 0.0f : static_cast<float>(rng.uniform(-1, 1)));
      g1.push_back(static_cast<float>(rng.uniform(-1, 1)));
      g2.push_back(static_cast<float>(rng.uniform(-1, 1)));
    }
    mask.assign(flat.decay_mask().begin(), flat.decay_mask().end());
  }
  // Two steps of opt from w0 with g1, g2; formula(w, g, i, step) does element i of the
  // contract's step in double. Returns the worst relative difference.
  template <typename F>
  double worst_difference(Optimizer<float>& opt, double lr, F&& formula) {
    std::copy(w0.begin(), w0.end(), flat.values().begin());
    std::vector<double> w(w0.begin(), w0.end());
    int step = 0;
    for (const auto* g : {&g1, &g2}) {
      std::copy(g->begin(), g->end(), flat.grads().begin());
      opt.step(flat, lr);
      ++step;
      for (std::size_t i = 0; i < w.size(); ++i) formula(w[i], (*g)[i], i, step);
    }
    double worst = 0;
    for (std::size_t i = 0; i < w.size(); ++i)
      worst = std::max(worst, std::abs(static_cast<double>(flat.values()[static_cast<Index>(i)]) - w[i]) / (1 + std::abs(w[i])));
    return worst;
  }
};

double sign_of(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }

}  // namespace

TEST_CASE("SGD over many parameters follows the formula element by element, in every variant, at every level",
          "[optim][isa]") {
  ManyParameters p;
  struct Variant {
    double momentum, dampening;
    bool nesterov, exempt;
    double l1;
  };
  for (InstructionSet level : glia::testing::runnable_instruction_sets())
    for (const Variant v : {Variant{0, 0, false, true, 0}, Variant{0.9, 0, false, true, 0.01}, Variant{0.9, 0, true, true, 0},
                            Variant{0.95, 0.1, false, false, 0.02}, Variant{0.5, 0, true, false, 0}}) {
      ScopedInstructionSet use(level);
      INFO("momentum " << v.momentum << ", dampening " << v.dampening << ", nesterov " << v.nesterov << ", exempt "
                       << v.exempt << ", l1 " << v.l1 << ", instruction set " << instruction_set_name(level));
      OptimizerOptions o;
      o.momentum = v.momentum;
      o.dampening = v.dampening;
      o.nesterov = v.nesterov;
      o.exempt_no_decay = v.exempt;
      o.weight_decay = 0.05;
      o.l1 = v.l1;
      Sgd<float> sgd(o);
      std::vector<double> buf(p.w0.size());
      const double worst = p.worst_difference(sgd, 0.1, [&](double& w, double g, std::size_t i, int step) {
        const double m = v.exempt ? p.mask[i] : 1.0;
        double d = g + m * (0.05 * w + v.l1 * sign_of(w));
        if (v.momentum != 0) {
          buf[i] = step == 1 ? d : v.momentum * buf[i] + (1 - v.dampening) * d;
          d = v.nesterov ? d + v.momentum * buf[i] : buf[i];
        }
        w -= 0.1 * d;
      });
      CHECK(worst < 1e-6);  // float rounding of a few operations on values of order 1
    }
}

TEST_CASE("Adam and AdamW over many parameters follow the formula element by element, at every level",
          "[optim][isa]") {
  ManyParameters p;
  for (InstructionSet level : glia::testing::runnable_instruction_sets())
    for (const bool decoupled : {false, true})
      for (const double l1 : {0.0, 0.01}) {
        ScopedInstructionSet use(level);
        INFO((decoupled ? "AdamW" : "Adam") << ", l1 " << l1 << ", instruction set " << instruction_set_name(level));
        OptimizerOptions o;
        o.weight_decay = 0.05;
        o.l1 = l1;
        Adam<float> adam(o, decoupled);
        const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        std::vector<double> m(p.w0.size()), v(p.w0.size());
        const double worst = p.worst_difference(adam, lr, [&](double& w, double g, std::size_t i, int step) {
          const double k = p.mask[i];
          double d = g;
          if (decoupled) {
            w -= lr * 0.05 * k * w;
            d += k * l1 * sign_of(w);
          } else {
            d += k * (0.05 * w + l1 * sign_of(w));
          }
          m[i] = b1 * m[i] + (1 - b1) * d;
          v[i] = b2 * v[i] + (1 - b2) * d * d;
          w -= lr * (m[i] / (1 - std::pow(b1, step))) / (std::sqrt(v[i] / (1 - std::pow(b2, step))) + eps);
        });
        CHECK(worst < 1e-6);
      }
}

TEST_CASE("Optimisers refuse invalid settings", "[optim][errors]") {
  OptimizerOptions o;
  o.momentum = -1;
  CHECK_THROWS_AS(Sgd<float>(o), ValueError);
  OptimizerOptions n;
  n.nesterov = true;
  CHECK_THROWS_WITH(Sgd<float>(n), Catch::Contains("Nesterov"));
  Linear<float> fc(2, 1);
  FlatParameters<float> flat(fc);
  Sgd<float> sgd;
  CHECK_THROWS_WITH(sgd.step(flat, std::nan("")), Catch::Contains("learning rate"));
  CHECK_THROWS_WITH(sgd.step(flat, -0.1), Catch::Contains("learning rate"));
  CHECK_THROWS_AS(ConstantLr(-1.0), ValueError);
}

TEST_CASE("OneCycleLr matches PyTorch's OneCycleLR", "[optim][schedule]") {
  const std::vector<double> cos{0.0040000000000000036, 0.013167184270002533, 0.037167184270002526, 0.06683281572999747,
                                0.09083281572999748,   0.1,                  0.09874640062350874,  0.09504846320134738,
                                0.089091617757105,     0.0811745653949763,   0.07169430017913009,  0.06112620219362893,
                                0.0500002,             0.03887419780637107,  0.028306099820869922, 0.0188258346050237,
                                0.010908782242895003,  0.004951936798652629, 0.0012539993764912555, 4e-07};
  const std::vector<double> lin{0.004, 0.023200000000000002, 0.04240000000000001, 0.0616, 0.08080000000000001, 0.1,
                                0.09285717142857143, 0.08571434285714286, 0.0785715142857143, 0.07142868571428572,
                                0.06428585714285714, 0.05714302857142858, 0.0500002, 0.042857371428571434,
                                0.03571454285714286, 0.028571714285714284, 0.02142888571428571, 0.014286057142857148,
                                0.007143228571428573, 3.999999999976245e-07};
  OneCycleLr c(0.1, 20);
  OneCycleLr l(0.1, 20, 0.3, OneCycleLr::Anneal::Linear);
  for (int s = 0; s < 20; ++s) {
    INFO("step " << s);
    CHECK(c.lr(s) == Approx(cos[static_cast<std::size_t>(s)]).epsilon(1e-12));
    CHECK(l.lr(s) == Approx(lin[static_cast<std::size_t>(s)]).epsilon(1e-9));
  }
}

TEST_CASE("The reference piecewise-linear schedule is numpy.interp by epoch", "[optim][schedule]") {
  PiecewiseLinearLr s({{0, 0.001}, {2, 0.01}, {8, 0.0002}, {12, 0.0001}, {20, 0}}, 100);
  CHECK(s.lr(0) == Approx(0.001));
  CHECK(s.lr(99) == Approx(0.001));        // constant within epoch 0
  CHECK(s.lr(100) == Approx(0.0055));      // epoch 1
  CHECK(s.lr(200) == Approx(0.01));        // epoch 2
  CHECK(s.lr(500) == Approx(0.0051));      // epoch 5: 0.01 + (0.0002 - 0.01) * 3/6
  CHECK(s.lr(1000) == Approx(0.00015));    // epoch 10: 0.0002 + (0.0001 - 0.0002) * 2/4
  CHECK(s.lr(1900) == Approx(0.0000125));  // epoch 19
  CHECK(s.lr(5000) == 0.0);
}

TEST_CASE("Step and cosine schedules", "[optim][schedule]") {
  StepLr st(0.1, 10, 0.5);
  CHECK(st.lr(9) == Approx(0.1));
  CHECK(st.lr(10) == Approx(0.05));
  CHECK(st.lr(25) == Approx(0.025));
  CosineLr co(0.1, 110, 10, 0.0);
  CHECK(co.lr(0) == Approx(0.01));
  CHECK(co.lr(9) == Approx(0.1));
  CHECK(co.lr(10) == Approx(0.1));
  CHECK(co.lr(60) == Approx(0.05));
  CHECK(co.lr(110) == Approx(0.0).margin(1e-15));
}

TEST_CASE("WeightAverage is an exponential moving average of the values", "[optim][average]") {
  WeightAverage<double> avg(0.75);
  Tensor<double> w(Shape{3});
  w.at(0) = 1;
  w.at(1) = -2;
  w.at(2) = 4;
  CHECK_THROWS_AS(avg.update(w), ValueError);  // not started
  avg.start(w);
  // avg = 0.75 avg + 0.25 w, twice, with w changed in between.
  w.at(0) = 5;
  avg.update(w);  // 0.75*1 + 0.25*5 = 2
  w.at(1) = 2;
  avg.update(w);  // element 1 was -2 at the first update, now 0.75*(-2) + 0.25*2 = -1
  CHECK(avg.average().at(0) == Approx(0.75 * 2 + 0.25 * 5).epsilon(1e-15));
  CHECK(avg.average().at(1) == Approx(-1).epsilon(1e-15));
  CHECK(avg.average().at(2) == Approx(4).epsilon(1e-15));
  Tensor<double> out(Shape{3});
  avg.copy_to(out);
  CHECK(out.at(0) == avg.average().at(0));
  Tensor<double> wrong(Shape{4});
  CHECK_THROWS_AS(avg.update(wrong), ShapeError);
  CHECK_THROWS_AS(avg.copy_to(wrong), ShapeError);
  CHECK_THROWS_AS(WeightAverage<double>(1.0), ValueError);
  CHECK_THROWS_AS(WeightAverage<double>(-0.1), ValueError);
  // Decay 0 follows the values exactly.
  WeightAverage<double> none(0.0);
  none.start(w);
  w.at(2) = 9;
  none.update(w);
  CHECK(none.average().at(2) == 9);
}
