// The same seed gives bitwise-identical outputs and gradients, for 1 and 2 threads alike.
#include <catch2/catch.hpp>

#include <glia/glia.hpp>

#include <cstring>

using namespace glia;

namespace {

struct StepResult {
  std::vector<float> output, grads;
};

// One forward + backward of the reference net (with dropout) on a fixed batch.
StepResult run_step(NormKind norm, int threads, Index batch) {
  set_num_threads(threads);
  ReferenceNetConfig cfg;
  cfg.norm = norm;
  cfg.dropout = 0.1;
  auto net = make_reference_net<float>(cfg);
  Rng rng(2024);
  net->reset_parameters(rng);
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

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("Training steps are bitwise reproducible across runs and thread counts", "[determinism]") {
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    INFO("norm " << norm_kind_name(k));
    const StepResult one = run_step(k, 1, 19);
    const StepResult two = run_step(k, 2, 19);
    const StepResult again = run_step(k, 2, 19);
    CHECK(bitwise_equal(two.output, again.output));
    CHECK(bitwise_equal(two.grads, again.grads));
    CHECK(bitwise_equal(one.output, two.output));
    CHECK(bitwise_equal(one.grads, two.grads));
    // And the gradient is not trivially zero.
    double norm = 0;
    for (float g : two.grads) norm += double(g) * g;
    CHECK(norm > 0);
  }
}
