// The reference network: parameter count and per-layer output shapes of the reference table.
#include <catch2/catch.hpp>

#include <glia/glia.hpp>

#include <cmath>
#include <map>

using namespace glia;

TEST_CASE("The reference network has 48,178 parameters for every norm", "[model]") {
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    ReferenceNetConfig cfg;
    cfg.norm = k;
    auto net = make_reference_net<float>(cfg);
    INFO(norm_kind_name(k));
    CHECK(parameter_count(*net) == 48178);
  }
}

TEST_CASE("Widened reference networks scale every width, and refuse a width of no channels", "[model]") {
  // Counted by hand from the layer table with the widths scaled: 2x is 32,64,16,32 channels.
  const ReferenceNetConfig twice = ReferenceNetConfig{}.widened(2.0);
  CHECK(twice.widths() == "32,64,16,32");
  CHECK(parameter_count(*make_reference_net<float>(twice)) == 189786);
  const ReferenceNetConfig half = ReferenceNetConfig{}.widened(0.5);
  CHECK(half.widths() == "8,16,4,8");
  CHECK(parameter_count(*make_reference_net<float>(half)) == 12414);
  CHECK(ReferenceNetConfig{}.widened(1.0).widths() == "16,32,8,16");
  CHECK(ReferenceNetConfig{}.widened(1.5).widths() == "24,48,12,24");
  CHECK_THROWS_WITH(ReferenceNetConfig{}.widened(0.05), Catch::Contains("leaves a layer without channels"));
  CHECK_THROWS_AS(ReferenceNetConfig{}.widened(std::nan("")), ValueError);
  CHECK_THROWS_AS(ReferenceNetConfig{}.widened(-1.0), ValueError);
  // The output is still [N, 10, 1, 1] class scores.
  auto net = make_reference_net<float>(twice);
  CHECK(net->output_shape(Shape{2, 3, 32, 32}) == Shape{2, 10, 1, 1});
}

TEST_CASE("The reference network's per-layer parameters and shapes match the reference table", "[model]") {
  auto net = make_reference_net<float>();
  std::map<std::string, Index> per_layer;
  for (auto& p : parameters(*net)) {
    const std::string layer = p.name.substr(0, p.name.rfind('.'));  // drop ".weight" / ".bias"
    per_layer[layer] += p.param->value.size();
  }
  CHECK(per_layer["C1.conv"] == 448);
  CHECK(per_layer["C2.conv"] == 2320);
  CHECK(per_layer["c3"] == 136);
  CHECK(per_layer["C3.conv"] == 2336);
  CHECK(per_layer["R1.body.C4.conv"] == 9248);
  CHECK(per_layer["R1.body.C5.conv"] == 9248);
  CHECK(per_layer["c6"] == 528);
  CHECK(per_layer["C7.conv"] == 4640);
  CHECK(per_layer["R2.body.C8.conv"] == 9248);
  CHECK(per_layer["R2.body.C9.conv"] == 9248);
  CHECK(per_layer["c10"] == 330);
  CHECK(per_layer["C1.norm"] == 32);
  CHECK(per_layer["R2.body.C9.norm"] == 64);

  // Output shapes after each top-level block, for a batch of 4.
  const std::map<std::string, Shape> expected{
      {"C1", Shape{4, 16, 32, 32}}, {"C2", Shape{4, 16, 32, 32}}, {"c3", Shape{4, 8, 32, 32}},
      {"P1", Shape{4, 8, 16, 16}},  {"D1", Shape{4, 8, 16, 16}},  {"C3", Shape{4, 32, 16, 16}},
      {"R1", Shape{4, 32, 16, 16}}, {"c6", Shape{4, 16, 16, 16}}, {"P2", Shape{4, 16, 8, 8}},
      {"D2", Shape{4, 16, 8, 8}},   {"C7", Shape{4, 32, 8, 8}},   {"R2", Shape{4, 32, 8, 8}},
      {"GAP", Shape{4, 32, 1, 1}},  {"c10", Shape{4, 10, 1, 1}}};
  Shape s{4, 3, 32, 32};
  Tensor<float> x(s);
  const Tensor<float>* cur = &x;
  for (auto& child : net->children()) {
    s = child.second->output_shape(s);
    cur = &child.second->forward(*cur, Mode::Train);
    INFO(child.first);
    CHECK(s == expected.at(child.first));
    CHECK(cur->shape() == s);
  }
  CHECK(net->output_shape(Shape{4, 3, 32, 32}) == Shape{4, 10, 1, 1});
}

TEST_CASE("FlatParameters puts every parameter into one buffer", "[model]") {
  auto net = make_reference_net<float>();
  Rng rng(5);
  net->reset_parameters(rng);
  const float w0 = parameters(*net).front().param->value[0];
  FlatParameters<float> flat(*net);
  CHECK(flat.size() == 48178);
  auto params = parameters(*net);
  CHECK(params.front().param->value.data() == flat.values().data());
  CHECK(params.front().param->value[0] == w0);
  CHECK(params.back().param->grad.data() + params.back().param->grad.size() == flat.grads().data() + flat.size());
  // Biases and norm parameters are exempt from decay, conv weights are not.
  Index decayed = 0;
  for (float m : flat.decay_mask()) decayed += m == 1.0f;
  CHECK(decayed == 432 + 2304 + 128 + 2304 + 9216 * 2 + 512 + 4608 + 9216 * 2 + 320);
}
