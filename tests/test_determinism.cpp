// The same seed gives bitwise-identical outputs and gradients, for 1 and 2 threads alike.
#include <catch2/catch.hpp>

#include <glia/glia.hpp>

#include <deque>

#include "support/tensor_compare.hpp"

using namespace glia;

namespace {

using glia::testing::same_bits;

struct StepResult {
  std::vector<float> output, grads;
};

// The reference net with dropout 0.1, initialised from rng (which moves on).
std::unique_ptr<Sequential<float>> seeded_net(NormKind norm, Rng& rng) {
  ReferenceNetConfig cfg;
  cfg.norm = norm;
  cfg.dropout = 0.1;
  auto net = make_reference_net<float>(cfg);
  net->reset_parameters(rng);
  return net;
}
std::unique_ptr<Sequential<float>> seeded_net(NormKind norm) {
  Rng rng(7);
  return seeded_net(norm, rng);
}

// One forward + backward of the reference net (with dropout) on a fixed batch.
StepResult run_step(NormKind norm, int threads, Index batch) {
  set_num_threads(threads);
  Rng rng(2024);
  auto net = seeded_net(norm, rng);
  FlatParameters<float> flat(*net);
  Tensor<float> x(Shape{batch, 3, 32, 32});
  x.normal_(rng, 0, 1);
  std::vector<std::int32_t> t;
  for (Index i = 0; i < batch; ++i) t.push_back(static_cast<std::int32_t>(i % 10));
  CrossEntropyLoss<float> loss;
  StepResult r;
  for (int step = 0; step < 2; ++step) {  // two steps: running stats and dropout streams advance
    flat.zero_grad();
    const Tensor<float>& y = net->forward(x, Mode::Train);
    loss.forward(y, t);
    net->backward(loss.backward());
    r.output.assign(y.begin(), y.end());
  }
  r.grads.assign(flat.grads().begin(), flat.grads().end());
  set_num_threads(2);
  return r;
}

}  // namespace

TEST_CASE("Training steps are bitwise reproducible across runs and thread counts", "[determinism]") {
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    INFO("norm " << norm_kind_name(k));
    const StepResult one = run_step(k, 1, 19);
    const StepResult two = run_step(k, 2, 19);
    const StepResult again = run_step(k, 2, 19);
    CHECK(same_bits(two.output, again.output));
    CHECK(same_bits(two.grads, again.grads));
    CHECK(same_bits(one.output, two.output));
    CHECK(same_bits(one.grads, two.grads));
    // And the gradient is not trivially zero.
    double norm = 0;
    for (float g : two.grads) norm += double(g) * g;
    CHECK(norm > 0);
  }
}

namespace {

// A leaf layer's per-sample kernel run on this thread, the samples in reverse order.
const Tensor<float>& by_sample_reversed(Module<float>& m, const Tensor<float>& x, Mode mode) {
  const Tensor<float>& y = m.begin_forward(x, mode);
  if (m.gathers_statistics(mode)) {
    for (Index n = x.dim(0) - 1; n >= 0; --n) m.gather_sample(n);
    m.end_gather();
  }
  for (Index n = x.dim(0) - 1; n >= 0; --n) m.forward_sample(n);
  return y;
}

// The reference net's forward pass module by module, each layer over the whole batch before the
// next one starts, without a forward plan (nn/plan.hpp); with `reversed`, every layer that has
// a per-sample kernel runs it on this thread over the samples in reverse order.
const Tensor<float>& layer_by_layer(Module<float>& m, const Tensor<float>& x, Mode mode, std::deque<Tensor<float>>& keep,
                                    bool reversed = false) {
  if (auto* seq = dynamic_cast<Sequential<float>*>(&m)) {
    const Tensor<float>* cur = &x;
    for (Index i = 0; i < seq->size(); ++i) cur = &layer_by_layer((*seq)[i], *cur, mode, keep, reversed);
    return *cur;
  }
  if (auto* res = dynamic_cast<Residual<float>*>(&m)) {
    const Tensor<float>& b = layer_by_layer(res->body(), x, mode, keep, reversed);
    keep.emplace_back(b.shape());
    add(keep.back().data(), b.data(), x.data(), b.size());
    return keep.back();
  }
  if (reversed && m.samplewise(mode)) return by_sample_reversed(m, x, mode);
  return m.forward(x, mode);
}

// The backward of a net run by layer_by_layer, module by module in reverse, each over the whole
// batch: a residual block's input gradient is its body's plus dy (the identity shortcut).
const Tensor<float>& backward_layer_by_layer(Module<float>& m, const Tensor<float>& dy, std::deque<Tensor<float>>& keep) {
  if (auto* seq = dynamic_cast<Sequential<float>*>(&m)) {
    const Tensor<float>* cur = &dy;
    for (Index i = seq->size() - 1; i >= 0; --i) cur = &backward_layer_by_layer((*seq)[i], *cur, keep);
    return *cur;
  }
  if (auto* res = dynamic_cast<Residual<float>*>(&m)) {
    const Tensor<float>& db = backward_layer_by_layer(res->body(), dy, keep);
    keep.emplace_back(db.shape());
    add(keep.back().data(), db.data(), dy.data(), db.size());
    return keep.back();
  }
  return m.backward(dy);
}


}  // namespace

TEST_CASE("The plan gives the layer-by-layer forward and backward bit for bit", "[determinism][plan]") {
  Tensor<float> x(Shape{13, 3, 32, 32}), dy(Shape{13, 10, 1, 1});
  Rng rng(99);
  x.normal_(rng, 0, 1);
  dy.normal_(rng, 0, 1);
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer})
    for (Mode mode : {Mode::Train, Mode::Eval})
      for (int threads : {1, 2}) {
        INFO("norm " << norm_kind_name(k) << ", " << (mode == Mode::Train ? "train" : "eval") << ", " << threads << " threads");
        set_num_threads(threads);
        auto planned = seeded_net(k), plain = seeded_net(k);
        planned->set_needs_input_grad(true);  // so that the input gradients are compared too
        plain->set_needs_input_grad(true);
        std::deque<Tensor<float>> keep;  // the residual blocks' sums; a deque keeps references valid
        // The second pass: new dropout masks, moved running statistics, gradients added to the first.
        for (int pass = 0; pass < 2; ++pass) {
          CHECK(same_bits(planned->forward(x, mode), layer_by_layer(*plain, x, mode, keep)));
          const Tensor<float>& dx = planned->backward(dy);
          CHECK(dx.shape() == x.shape());
          CHECK(same_bits(dx, backward_layer_by_layer(*plain, dy, keep)));
        }
        const auto fb = buffers(*planned), pb = buffers(*plain);
        REQUIRE(fb.size() == pb.size());
        for (std::size_t i = 0; i < fb.size(); ++i) CHECK(same_bits(*fb[i].tensor, *pb[i].tensor));
        const auto fp = parameters(*planned), pp = parameters(*plain);
        REQUIRE(fp.size() == pp.size());
        for (std::size_t i = 0; i < fp.size(); ++i) {
          INFO(fp[i].name);
          CHECK(same_bits(fp[i].param->grad, pp[i].param->grad));
        }
      }
  set_num_threads(2);
}

TEST_CASE("The forward plan of the reference net: one loop over the samples, split only by batch statistics",
          "[plan]") {
  auto bn = seeded_net(NormKind::Batch), gn = seeded_net(NormKind::Group);
  const std::string eval_plan =
      "[C1.conv C1.norm C2.conv C2.norm c3 P1 D1 C3.conv C3.norm R1.body.C4.conv R1.body.C4.norm R1.body.C5.conv "
      "R1.body.C5.norm R1 c6 P2 D2 C7.conv C7.norm R2.body.C8.conv R2.body.C8.norm R2.body.C9.conv R2.body.C9.norm R2 "
      "GAP c10]";
  CHECK(ExecutionPlan<float>(*bn, Mode::Eval).str() == eval_plan);
  CHECK(ExecutionPlan<float>(*gn, Mode::Train).str() == eval_plan);
  // BatchNorm in training mode: each norm gathers the batch's statistics at the end of one loop
  // and normalises at the start of the next.
  CHECK(ExecutionPlan<float>(*bn, Mode::Train).str() ==
        "[C1.conv C1.norm:gather] [C1.norm C2.conv C2.norm:gather] [C2.norm c3 P1 D1 C3.conv C3.norm:gather] "
        "[C3.norm R1.body.C4.conv R1.body.C4.norm:gather] [R1.body.C4.norm R1.body.C5.conv R1.body.C5.norm:gather] "
        "[R1.body.C5.norm R1 c6 P2 D2 C7.conv C7.norm:gather] [C7.norm R2.body.C8.conv R2.body.C8.norm:gather] "
        "[R2.body.C8.norm R2.body.C9.conv R2.body.C9.norm:gather] [R2.body.C9.norm R2 GAP c10]");
  // A layer without a per-sample kernel runs on the whole batch between the loops.
  Sequential<float> mixed;
  mixed.add(std::make_unique<ReLU<float>>(), "a");
  mixed.add(std::make_unique<Linear<float>>(4, 3), "fc");
  mixed.add(std::make_unique<ReLU<float>>(), "b");
  CHECK(ExecutionPlan<float>(mixed, Mode::Train).str() == "[a] fc [b]");
  // A plan is made again when the structure changed.
  Tensor<float> x(Shape{2, 4});
  x.fill(1.0f);
  CHECK(mixed.forward(x, Mode::Eval).shape() == Shape{2, 3});
  mixed.add(std::make_unique<Linear<float>>(3, 5), "fc2");
  CHECK(mixed.forward(x, Mode::Eval).shape() == Shape{2, 5});
}

TEST_CASE("The backward plan of the reference net pairs every norm with the convolution before it", "[plan]") {
  const std::string plan =
      "c10 GAP R2 [R2.body.C9.norm R2.body.C9.conv] [R2.body.C8.norm R2.body.C8.conv] [C7.norm C7.conv] D2 P2 c6 R1 "
      "[R1.body.C5.norm R1.body.C5.conv] [R1.body.C4.norm R1.body.C4.conv] [C3.norm C3.conv] D1 P1 c3 [C2.norm C2.conv] "
      "[C1.norm C1.conv]";
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    auto net = seeded_net(k);
    CHECK(ExecutionPlan<float>(*net, Mode::Train).backward_str() == plan);
  }
  // A norm whose input is read twice (here: by the residual sum too) is not paired.
  Sequential<float> two_readers;
  two_readers.add(std::make_unique<Conv2d<float>>(2, 2, 3, 1, 1), "conv");
  auto body = std::make_unique<Sequential<float>>();
  body->add(std::make_unique<GroupNorm<float>>(1, 2), "norm");
  two_readers.add(std::make_unique<Residual<float>>(std::move(body)), "R");
  CHECK(ExecutionPlan<float>(two_readers, Mode::Train).backward_str() == "R R.body.norm conv");
  // Backward needs a forward first.
  Tensor<float> dy(Shape{1, 2, 4, 4});
  CHECK_THROWS_WITH(two_readers.backward(dy), Catch::Contains("no forward before it"));
}

TEST_CASE("A per-sample kernel gives the same output whatever the order of its samples", "[samplewise]") {
  Tensor<float> x(Shape{9, 3, 32, 32});
  Rng rng(5);
  x.normal_(rng, 0, 1);
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer})
    for (Mode mode : {Mode::Train, Mode::Eval}) {
      INFO("norm " << norm_kind_name(k) << ", " << (mode == Mode::Train ? "train" : "eval"));
      auto a = seeded_net(k), b = seeded_net(k);
      std::deque<Tensor<float>> keep;
      const Tensor<float> want = a->forward(x, mode);
      CHECK(same_bits(layer_by_layer(*b, x, mode, keep, true), want));
    }
  auto bn = seeded_net(NormKind::Batch);
  CHECK_THROWS_WITH(bn->begin_forward(x, Mode::Train), Catch::Contains("does not run sample by sample"));
}

TEST_CASE("Dropout's mask of sample n in training call k comes from Rng::stream(seed, k, n)", "[determinism][activation]") {
  const Index n = 6, per = 500;
  const double p = 0.3;
  Dropout<float> drop(p, 1234);
  Tensor<float> x = Tensor<float>::full(Shape{n, per}, 2.0f);
  Index kept = 0;
  for (std::uint64_t call = 0; call < 2; ++call) {
    const Tensor<float>& y = drop.forward(x, Mode::Train);
    for (Index i = 0; i < n; ++i) {
      Rng rng = Rng::stream(1234, call, static_cast<std::uint64_t>(i));
      for (Index j = 0; j < per; ++j) {
        const bool keep = rng.uniform() < 1.0 - p;
        kept += keep;
        REQUIRE(y[i * per + j] == (keep ? static_cast<float>(2.0f * static_cast<float>(1.0 / (1.0 - p))) : 0.0f));
      }
    }
  }
  CHECK(drop.calls() == 2);
  CHECK(static_cast<double>(kept) / static_cast<double>(2 * n * per) == Approx(0.7).margin(0.03));
  CHECK(&drop.forward(x, Mode::Eval) == &x);  // eval: the identity, without a copy
}
