// Model files (model_io/model_file.hpp): a model saved and loaded gives the same outputs bit for
// bit; a weights-only file loads into a model by name; every mismatch is refused by name.
#include <catch2/catch.hpp>

#include <glia/model_io/model_file.hpp>
#include <glia/models/reference_net.hpp>

#include <cstring>
#include <fstream>

#include "support/run_support.hpp"
#include "support/tensor_compare.hpp"

using namespace glia;

namespace {

using glia::testing::same_bits;

std::unique_ptr<Sequential<float>> trained_reference(NormKind k) {
  ReferenceNetConfig cfg;
  cfg.norm = k;
  auto net = make_reference_net<float>(cfg);
  Rng rng(11);
  net->reset_parameters(rng);
  Tensor<float> x(Shape{8, 3, 32, 32});
  x.normal_(rng, 0, 1);
  net->forward(x, Mode::Train);  // moves the running statistics off 0 and 1
  return net;
}

}  // namespace

TEST_CASE("A saved model loads as a network that computes the same outputs, bit for bit", "[model_file]") {
  glia_test::TempDir dir;
  for (NormKind k : {NormKind::Batch, NormKind::Group}) {
    INFO("norm " << norm_kind_name(k));
    auto net = trained_reference(k);
    const std::string path = dir.path + "/model.safetensors";
    save_model(path, *net, Shape{3, 32, 32}, {{"classes", "airplane,automobile"}});
    LoadedModel<float> loaded = load_model<float>(path);
    CHECK(loaded.input == Shape{3, 32, 32});
    CHECK(loaded.metadata.at("classes") == "airplane,automobile");
    CHECK(loaded.metadata.at("format") == "glia-model-1");
    Tensor<float> x(Shape{5, 3, 32, 32});
    Rng rng(12);
    x.normal_(rng, 0, 1);
    const Tensor<float> want = net->forward(x, Mode::Eval);
    CHECK(same_bits(loaded.model->forward(x, Mode::Eval), want));
    const SafetensorsFile f = read_safetensors(path);
    if (k == NormKind::Batch) {
      REQUIRE(f.find("C1.norm.num_batches_tracked") != nullptr);
      CHECK(f.find("C1.norm.num_batches_tracked")->dtype == "I64");
      CHECK(f.find("C1.norm.running_var") != nullptr);
    }
    CHECK(f.find("R1.body.C4.conv.weight")->shape == std::vector<std::int64_t>{32, 32, 3, 3});
  }
}

TEST_CASE("Model files: what does not match is refused by name", "[model_file]") {
  glia_test::TempDir dir;
  auto net = trained_reference(NormKind::Group);
  const std::string path = dir.path + "/m.safetensors";
  CHECK_THROWS_WITH(save_model(path, *net, Shape{3, 32, 32}, {{"spec", "x"}}), Catch::Contains("'spec' is glia's own"));
  // A weights-only file (no spec): load_model refuses it and says what to do; load_state_dict reads it.
  std::vector<SafeTensorOut> tensors;
  for (auto& p : parameters(*net)) {
    SafeTensorOut t{p.name, {}, std::vector<float>(p.param->value.begin(), p.param->value.end()), {}, false};
    for (Index d = 0; d < p.param->value.rank(); ++d) t.shape.push_back(p.param->value.dim(d));
    tensors.push_back(t);
  }
  write_safetensors(path, tensors, {});
  CHECK_THROWS_WITH(load_model<float>(path), Catch::Contains("'format' is missing") && Catch::Contains("load_state_dict"));
  auto other = make_reference_net<float>(ReferenceNetConfig{NormKind::Group});
  load_state_dict(path, *other);
  CHECK(parameters(*other)[0].param->value[5] == parameters(*net)[0].param->value[5]);
  // A missing tensor, a wrong shape, an extra tensor.
  auto missing = tensors;
  missing.erase(missing.begin() + 3);
  write_safetensors(path, missing, {});
  CHECK_THROWS_WITH(load_state_dict(path, *other), Catch::Contains("no tensor 'C1.norm.bias', which the model has"));
  auto reshaped = tensors;
  reshaped[0].shape = {16, 3, 9};
  write_safetensors(path, reshaped, {});
  CHECK_THROWS_WITH(load_state_dict(path, *other), Catch::Contains("tensor 'C1.conv.weight' has shape [16,3,9], the model's is [16,3,3,3]"));
  auto extra = tensors;
  extra.push_back({"C1.conv.scale", {1}, {1.0f}, {}, false});
  write_safetensors(path, extra, {});
  CHECK_THROWS_WITH(load_state_dict(path, *other), Catch::Contains("tensor 'C1.conv.scale' is not in the model"));
  // A spec in the file that does not build.
  save_model(path, *net, Shape{3, 32, 32});
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto at = bytes.find("\\\"in_channels\\\":3");
  REQUIRE(at != std::string::npos);
  bytes.replace(at, 17, "\\\"in_channels\\\":4");
  std::ofstream(path, std::ios::binary) << bytes;
  CHECK_THROWS_WITH(load_model<float>(path), Catch::Contains("(metadata 'spec')") || Catch::Contains("layers[0]"));
}
