// A spec-built model and its PyTorch twin (tools/interop/spec_to_torch.py): the twin's
// state_dict (tests/fixtures/interop/twin_*, written by tools/proof/twin_fixture.py with
// PyTorch's init, moved norm parameters and BatchNorm statistics from three training batches)
// loads into model_from_json's network by name and gives the twin's eval-mode outputs within
// 1e-5; the file glia's save_model writes has exactly the twin's state_dict names, dtypes and
// shapes (so PyTorch's load_state_dict takes it with no renaming) and loads back bit for bit.
#include <catch2/catch.hpp>

#include <glia/model_io/model_file.hpp>
#include <glia/model_io/model_spec.hpp>
#include <glia/model_io/state_dict.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <tuple>

#include "support/run_support.hpp"
#include "support/tensor_compare.hpp"

using namespace glia;

namespace {

using glia::testing::same_bits;
using glia::testing::to_float_tensor;

const std::string kDir = std::string(GLIA_TEST_FIXTURES) + "/interop/";

nlohmann::json read_json(const std::string& file) {
  std::ifstream in(kDir + file);
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

std::unique_ptr<Sequential<float>> twin_net(std::uint64_t seed) {
  Rng rng(seed);
  return model_from_json<float>(read_json("twin_spec.json"), rng);
}


using Entry = std::tuple<std::string, std::string, std::vector<std::int64_t>>;  // name, dtype, shape

std::vector<Entry> sorted_entries(const SafetensorsFile& f) {
  std::vector<Entry> out;
  for (const SafeTensor& t : f.tensors) out.emplace_back(t.name, t.dtype, t.shape);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Entry> fixture_names() {
  std::vector<Entry> out;
  for (const auto& e : read_json("twin_names.json"))
    out.emplace_back(e[0].get<std::string>(), e[1].get<std::string>(), e[2].get<std::vector<std::int64_t>>());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("The PyTorch twin's state_dict loads into the spec-built model and gives the twin's outputs",
          "[state_dict][model_spec][twin]") {
  const SafetensorsFile expected = read_safetensors(kDir + "twin_expected.safetensors");
  const Tensor<float> x = to_float_tensor(*expected.find("input"));
  const Tensor<float> want = to_float_tensor(*expected.find("output"));
  REQUIRE(want.shape() == Shape({2, 5}));
  auto net = twin_net(5);
  const Tensor<float> before = net->forward(x, Mode::Eval).clone();  // forward returns a view of its buffer
  load_state_dict(kDir + "twin_f32.safetensors", *net);
  // Every parameter and buffer holds the file's value bit for bit.
  const SafetensorsFile file = read_safetensors(kDir + "twin_f32.safetensors");
  Index compared = 0;
  for (auto& p : parameters(*net)) {
    INFO("parameter " << p.name);
    REQUIRE(file.find(p.name) != nullptr);
    const Tensor<float> v = to_float_tensor(*file.find(p.name));
    REQUIRE(v.shape() == p.param->value.shape());
    CHECK(std::memcmp(v.data(), p.param->value.data(), static_cast<std::size_t>(v.size()) * sizeof(float)) == 0);
    ++compared;
  }
  for (auto& b : buffers(*net)) {
    INFO("buffer " << b.name);
    REQUIRE(file.find(b.name) != nullptr);
    const Tensor<float> v = to_float_tensor(*file.find(b.name));
    CHECK(std::memcmp(v.data(), b.tensor->data(), static_cast<std::size_t>(v.size()) * sizeof(float)) == 0);
    ++compared;
  }
  CHECK(compared == 30);  // twin_names.json: 32 entries, two of them num_batches_tracked
  const Tensor<float> got = net->forward(x, Mode::Eval).clone();
  REQUIRE(got.shape() == want.shape());
  double worst = 0, moved = 0;
  for (Index i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(got[i]) - want[i]));
    moved = std::max(moved, std::abs(static_cast<double>(before[i]) - want[i]));
  }
  INFO("max |glia - torch| = " << worst);
  CHECK(worst <= 1e-5);
  CHECK(moved > 1e-3);  // the loaded weights, not glia's own init, made the outputs
}

TEST_CASE("glia's save_model of a spec-built model carries exactly the twin's state_dict names", "[state_dict][model_spec][twin]") {
  glia_test::TempDir dir;
  auto net = twin_net(11);
  load_state_dict(kDir + "twin_f32.safetensors", *net);
  const std::string path = dir.path + "/model.safetensors";
  save_model(path, *net, Shape{3, 8, 8}, {{"classes", "[\"a\",\"b\",\"c\",\"d\",\"e\"]"}});
  const SafetensorsFile saved = read_safetensors(path);
  const std::vector<Entry> want = fixture_names();
  REQUIRE(want.size() == 32);
  const std::vector<Entry> got = sorted_entries(saved);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("tensor " << std::get<0>(want[i]));
    CHECK(std::get<0>(got[i]) == std::get<0>(want[i]));
    CHECK(std::get<1>(got[i]) == std::get<1>(want[i]));
    CHECK(std::get<2>(got[i]) == std::get<2>(want[i]));
  }
  // The float tensors are the twin's, bit for bit, and the file loads back as the same network.
  const SafetensorsFile twin = read_safetensors(kDir + "twin_f32.safetensors");
  for (const SafeTensor& t : twin.tensors) {
    if (t.dtype != "F32") continue;
    INFO("tensor " << t.name);
    REQUIRE(saved.find(t.name) != nullptr);
    CHECK(saved.find(t.name)->to_doubles() == t.to_doubles());
  }
  const SafetensorsFile expected = read_safetensors(kDir + "twin_expected.safetensors");
  const Tensor<float> x = to_float_tensor(*expected.find("input"));
  LoadedModel<float> loaded = load_model<float>(path);
  const Tensor<float> a = net->forward(x, Mode::Eval).clone();
  const Tensor<float> b = loaded.model->forward(x, Mode::Eval);
  REQUIRE(a.shape() == b.shape());
  CHECK(std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(float)) == 0);
}

TEST_CASE("A twin state_dict with a tensor renamed or missing is refused by name", "[state_dict][twin]") {
  glia_test::TempDir dir;
  const SafetensorsFile f = read_safetensors(kDir + "twin_f32.safetensors");
  auto write_without = [&](const std::string& drop, const std::string& rename_to) {
    std::vector<SafeTensorOut> out;
    for (const SafeTensor& t : f.tensors) {
      if (t.name == drop && rename_to.empty()) continue;
      SafeTensorOut o{t.name == drop ? rename_to : t.name, t.shape, {}, {}, t.dtype == "I64"};
      for (double d : t.to_doubles()) {
        if (o.is_i64) o.i64.push_back(static_cast<std::int64_t>(d));
        else o.f32.push_back(static_cast<float>(d));
      }
      out.push_back(std::move(o));
    }
    write_safetensors(dir.path + "/bad.safetensors", out, {});
    return dir.path + "/bad.safetensors";
  };
  auto net = twin_net(2);
  // The shortcut of a Residual is "shortcut", not PyTorch's common "downsample".
  CHECK_THROWS_WITH(load_state_dict(write_without("res.shortcut.weight", "res.downsample.weight"), *net),
                    Catch::Contains("res.shortcut.weight"));
  // A LayerNorm at position 19 is "19.*": a twin that numbered it otherwise is refused.
  CHECK_THROWS_WITH(load_state_dict(write_without("19.bias", ""), *net), Catch::Contains("19.bias"));
}
