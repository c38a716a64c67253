// JSON model specs (model_io/model_spec.hpp): a spec with the new layers builds, names its
// parameters as nn.Sequential would, chains its shapes and trains a step; the reference
// network written as a spec has 48,178 parameters; every kind of wrong spec is refused with the
// layer, the key and what was expected.
#include <catch2/catch.hpp>

#include <glia/nn/loss.hpp>
#include <glia/model_io/model_spec.hpp>
#include <glia/models/reference_net.hpp>

#include <cmath>
#include <cstring>
#include <string>

using namespace glia;

namespace {

std::unique_ptr<Sequential<float>> build(const std::string& text) {
  Rng rng(1);
  return model_from_json_text<float>(text, "test.json", rng);
}

std::string refusal(const std::string& text) {
  try {
    build(text);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "accepted";
}

const char* kDigits = R"({
  "input": [1, 28, 28],
  "layers": [
    {"type": "Conv2d", "in_channels": 1, "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "BatchNorm2d", "num_features": 8},
    {"type": "ReLU"},
    {"type": "Residual", "name": "res", "body": [
      {"type": "Conv2d", "in_channels": 8, "out_channels": 8, "kernel_size": [3, 3], "padding": 1, "bias": false},
      {"type": "GroupNorm", "num_groups": 2, "num_channels": 8},
      {"type": "GELU", "approximate": "tanh"}]},
    {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "AvgPool2d", "kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": false},
    {"type": "Flatten"},
    {"type": "Linear", "in_features": 392, "out_features": 32, "name": "fc"},
    {"type": "BatchNorm1d", "num_features": 32},
    {"type": "LeakyReLU", "negative_slope": 0.1},
    {"type": "Dropout", "p": 0.2},
    {"type": "Linear", "in_features": 32, "out_features": 10}
  ]
})";

}  // namespace

TEST_CASE("A JSON model spec builds its network, named as nn.Sequential names it", "[spec]") {
  auto net = build(kDigits);
  CHECK(net->output_shape(Shape{5, 1, 28, 28}) == Shape{5, 10});
  std::vector<std::string> names;
  for (auto& p : parameters(*net)) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "res.body.0.weight",
                                          "res.body.1.weight", "res.body.1.bias", "fc.weight", "fc.bias", "8.weight",
                                          "8.bias", "11.weight", "11.bias"});
  CHECK(parameter_count(*net) == 8 * 9 + 8 + 16 + 8 * 8 * 9 + 16 + 392 * 32 + 32 + 64 + 32 * 10 + 10);
  // It trains: a forward and backward pass of a batch gives finite gradients.
  Tensor<float> x(Shape{4, 1, 28, 28});
  Rng rng(2);
  x.normal_(rng, 0, 1);
  CrossEntropyLoss<float> loss;
  const float l = loss.forward(net->forward(x, Mode::Train), {1, 2, 3, 4});
  net->backward(loss.backward());
  CHECK(std::isfinite(l));
  CHECK(parameters(*net)[0].param->grad.vector().norm() > 0);
}

TEST_CASE("The reference network as a spec has 48,178 parameters", "[spec]") {
  std::string cbr_layers;
  auto cbr = [](int cin, int cout) {
    return detail::cat(R"({"type": "Sequential", "layers": [{"type": "Conv2d", "in_channels": )", cin, R"(, "out_channels": )",
                       cout, R"(, "kernel_size": 3, "padding": 1}, {"type": "BatchNorm2d", "num_features": )", cout,
                       R"(}, {"type": "ReLU"}]})");
  };
  const std::string spec = detail::cat(R"({"input": [3, 32, 32], "layers": [)", cbr(3, 16), ",", cbr(16, 16),
                                       R"(, {"type": "Conv2d", "in_channels": 16, "out_channels": 8, "kernel_size": 1},
      {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Dropout", "p": 0.01},)",
                                       cbr(8, 32), R"(, {"type": "Residual", "body": [)", cbr(32, 32), ",", cbr(32, 32),
                                       R"(]}, {"type": "Conv2d", "in_channels": 32, "out_channels": 16, "kernel_size": 1},
      {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Dropout", "p": 0.01},)",
                                       cbr(16, 32), R"(, {"type": "Residual", "body": [)", cbr(32, 32), ",", cbr(32, 32),
                                       R"(]}, {"type": "AdaptiveAvgPool2d", "output_size": 1},
      {"type": "Conv2d", "in_channels": 32, "out_channels": 10, "kernel_size": 1}, {"type": "Flatten"}]})");
  auto net = build(spec);
  CHECK(parameter_count(*net) == 48178);
  CHECK(net->output_shape(Shape{2, 3, 32, 32}) == Shape{2, 10});
}

TEST_CASE("A wrong spec is refused naming the layer, the key and what was expected", "[spec]") {
  auto spec = [](const std::string& layers) { return R"({"input": [1, 8, 8], "layers": [)" + layers + "]}"; };
  CHECK_THAT(refusal("{"), Catch::Contains("'test.json': not JSON, at byte offset 2"));
  CHECK_THAT(refusal(R"({"layers": []})"), Catch::Contains("'input' must be [channels, height, width]"));
  CHECK_THAT(refusal(R"({"input": [1, 8, 8], "layers": [], "extra": 1})"), Catch::Contains("key 'extra'"));
  CHECK_THAT(refusal(spec(R"({"type": "Conv3d"})")), Catch::Contains("layers[0] (Conv3d): unknown type 'Conv3d'"));
  CHECK_THAT(refusal(spec(R"({"type": "ConvTranspose2d"})")), Catch::Contains("layers[0] (ConvTranspose2d): key 'in_channels' is missing"));
  CHECK_THAT(refusal(spec(R"({"type": "Conv2d", "in_channels": 1, "out_channels": 4})")),
             Catch::Contains("layers[0] (Conv2d): key 'kernel_size' is missing"));
  CHECK_THAT(refusal(spec(R"({"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "stide": 2})")),
             Catch::Contains("key 'stide' is not an argument of Conv2d"));
  CHECK_THAT(refusal(spec(R"({"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": "3"})")),
             Catch::Contains("key 'kernel_size' must be an integer >= 1, got \"3\""));
  CHECK_THAT(refusal(spec(R"({"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "groups": 2})")),
             Catch::Contains("key 'groups' is 2: it must divide in_channels (1) and out_channels (4)"));
  CHECK_THAT(refusal(spec(R"({"type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3})")),
             Catch::Contains("layers[0] (Conv2d): key 'in_channels' is 3, expected 1 (the input is [1,1,8,8]): Conv2d(3->4"));
  CHECK_THAT(refusal(spec(R"({"type": "Flatten"}, {"type": "Linear", "name": "fc", "in_features": 60, "out_features": 2})")),
             Catch::Contains("layers[1] (Linear 'fc'): key 'in_features' is 60, expected 64 (the input is [1,64])"));
  CHECK_THAT(refusal(spec(R"({"type": "Residual", "body": [{"type": "ReLU", "inplace": 1}]})")),
             Catch::Contains("layers[0].body[0] (ReLU): key 'inplace' must be true or false"));
  CHECK_THAT(refusal(spec(R"({"type": "Dropout", "p": 1.5})")), Catch::Contains("layers[0] (Dropout): Dropout: p must be in [0, 1)"));
  CHECK_THAT(refusal(spec(R"({"type": "ReLU", "name": "a"}, {"type": "ReLU", "name": "a"})")),
             Catch::Contains("name 'a' is used twice"));
  CHECK_THAT(refusal(spec(R"({"type": "GroupNorm", "num_groups": 3, "num_channels": 1})")),
             Catch::Contains("layers[0] (GroupNorm)"));
  CHECK_THAT(refusal(spec(R"(3)")), Catch::Contains("layers[0] must be an object"));
}

TEST_CASE("model_to_json writes a C++ model's spec, which builds the same network", "[spec]") {
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    INFO("norm " << norm_kind_name(k));
    ReferenceNetConfig cfg;
    cfg.norm = k;
    auto ref = make_reference_net<float>(cfg);
    Rng rng(3);
    ref->reset_parameters(rng);
    const nlohmann::json spec = model_to_json(*ref, Shape{3, 32, 32});
    CHECK(spec["layers"][0]["name"] == "C1");
    CHECK(spec["layers"][0]["layers"][1]["activation"] == "ReLU");
    Rng other(4);
    auto rebuilt = model_from_json<float>(nlohmann::json::parse(spec.dump()), other);
    auto a = parameters(*ref), b = parameters(*rebuilt);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].name == b[i].name);
      b[i].param->value.copy_from(a[i].param->value);
    }
    auto ba = buffers(*ref), bb = buffers(*rebuilt);
    REQUIRE(ba.size() == bb.size());
    for (std::size_t i = 0; i < ba.size(); ++i) CHECK(ba[i].name == bb[i].name);
    Tensor<float> x(Shape{3, 3, 32, 32});
    x.normal_(rng, 0, 1);
    const Tensor<float> want = ref->forward(x, Mode::Eval);
    const Tensor<float>& got = rebuilt->forward(x, Mode::Eval);
    REQUIRE(got.size() == want.size());
    CHECK(std::memcmp(got.data(), want.data(), static_cast<std::size_t>(want.size()) * sizeof(float)) == 0);
    // And once more: the rebuilt network writes the same spec.
    CHECK(model_to_json(*rebuilt, Shape{3, 32, 32}) == spec);
  }
}

TEST_CASE("model_to_json covers the layers of a spec", "[spec]") {
  Rng rng(5);
  auto net = build(kDigits);
  const nlohmann::json spec = model_to_json(*net, Shape{1, 28, 28});
  auto again = model_from_json<float>(spec, rng);
  CHECK(model_to_json(*again, Shape{1, 28, 28}) == spec);
  CHECK(spec["layers"][3]["body"][2]["approximate"] == "tanh");
  CHECK(spec["layers"][5]["count_include_pad"] == false);
}
