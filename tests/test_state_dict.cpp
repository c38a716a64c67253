// PyTorch state_dicts both ways (model_io/state_dict.hpp): files written by PyTorch
// (tools/interop/torch_fixtures.py, tests/fixtures/interop/) load into glia by name with the
// values bit for bit and the same outputs; glia writes torch_ref.py's names for the reference
// network; a missing, extra, mis-shaped or mis-typed tensor is refused by name.
#include <catch2/catch.hpp>

#include <glia/model_io/model_file.hpp>
#include <glia/model_io/state_dict.hpp>
#include <glia/models/reference_net.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "support/run_support.hpp"
#include "support/tensor_compare.hpp"

using namespace glia;

namespace {

using glia::testing::same_bits;
using glia::testing::to_float_tensor;

const std::string kDir = std::string(GLIA_TEST_FIXTURES) + "/interop/";

std::unique_ptr<Sequential<float>> tiny_net() {
  std::ifstream in(kDir + "tiny_spec.json");
  std::stringstream text;
  text << in.rdbuf();
  Rng rng(3);
  return model_from_json_text<float>(text.str(), "tiny_spec.json", rng);
}



// The F32 fixture's tensors, to be edited into bad files.
std::vector<SafeTensorOut> tiny_tensors() {
  const SafetensorsFile f = read_safetensors(kDir + "tiny_f32.safetensors");
  std::vector<SafeTensorOut> out;
  for (const SafeTensor& t : f.tensors) {
    const std::vector<double> v = t.to_doubles();
    SafeTensorOut o{t.name, t.shape, {}, {}, t.dtype == "I64"};
    for (double d : v) {
      if (o.is_i64) o.i64.push_back(static_cast<std::int64_t>(d));
      else o.f32.push_back(static_cast<float>(d));
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace

TEST_CASE("State dicts written by PyTorch in F32, F64, F16 and BF16 load bit for bit and give PyTorch's outputs",
          "[state_dict]") {
  const SafetensorsFile expected = read_safetensors(kDir + "tiny_expected.safetensors");
  const Tensor<float> x = to_float_tensor(*expected.find("input"));
  for (const char* tag : {"f32", "f64", "f16", "bf16"}) {
    INFO("dtype " << tag);
    const SafetensorsFile file = read_safetensors(kDir + "tiny_" + tag + ".safetensors");
    REQUIRE(file.find("bn.num_batches_tracked") != nullptr);
    CHECK(file.find("bn.num_batches_tracked")->dtype == "I64");
    CHECK(file.find("bn.num_batches_tracked")->to_doubles() == std::vector<double>{3});
    auto net = tiny_net();
    load_state_dict(kDir + "tiny_" + tag + ".safetensors", *net);
    // Every tensor of the model is in the file under the same name, with PyTorch's float32 value.
    Index compared = 0;
    for (auto& p : parameters(*net)) {
      INFO("parameter " << p.name);
      REQUIRE(expected.find(std::string(tag) + "/" + p.name) != nullptr);
      CHECK(same_bits(p.param->value, to_float_tensor(*expected.find(std::string(tag) + "/" + p.name))));
      ++compared;
    }
    for (auto& b : buffers(*net)) {
      INFO("buffer " << b.name);
      REQUIRE(expected.find(std::string(tag) + "/" + b.name) != nullptr);
      CHECK(same_bits(*b.tensor, to_float_tensor(*expected.find(std::string(tag) + "/" + b.name))));
      ++compared;
    }
    CHECK(compared == 11);  // conv.{weight,bias} bn.{weight,bias,running_mean,running_var} res.body.0.weight res.body.1.{weight,bias} fc.{weight,bias}
    const Tensor<float>& y = net->forward(x, Mode::Eval);
    const Tensor<float> want = to_float_tensor(*expected.find(std::string(tag) + "/output"));
    REQUIRE(y.shape() == want.shape());
    for (Index i = 0; i < y.size(); ++i) CHECK(std::fabs(y[i] - want[i]) <= 1e-5f);
  }
}

TEST_CASE("A glia state dict has PyTorch's names, shapes and dtypes and reads back bit for bit", "[state_dict]") {
  glia_test::TempDir dir;
  auto net = tiny_net();
  load_state_dict(kDir + "tiny_f32.safetensors", *net);
  const std::string path = dir.path + "/tiny.safetensors";
  save_state_dict(path, *net);
  const SafetensorsFile mine = read_safetensors(path), torch = read_safetensors(kDir + "tiny_f32.safetensors");
  REQUIRE(mine.tensors.size() == torch.tensors.size());
  for (const SafeTensor& t : torch.tensors) {
    INFO("tensor " << t.name);
    const SafeTensor* m = mine.find(t.name);
    REQUIRE(m != nullptr);
    CHECK(m->dtype == t.dtype);
    CHECK(m->shape == t.shape);
    if (t.dtype == "F32") CHECK(std::memcmp(m->data, t.data, t.bytes) == 0);
  }
  CHECK(mine.find("bn.num_batches_tracked")->to_doubles() == std::vector<double>{0});  // glia does not count batches
  CHECK(mine.metadata.empty());
}

TEST_CASE("State dicts: a missing, extra, mis-shaped or mis-typed tensor is refused by name", "[state_dict]") {
  glia_test::TempDir dir;
  const std::string path = dir.path + "/bad.safetensors";
  const auto good = tiny_tensors();
  auto find = [](std::vector<SafeTensorOut>& v, const std::string& name) -> SafeTensorOut& {
    for (auto& t : v)
      if (t.name == name) return t;
    FAIL("no tensor " << name);
    return v.front();
  };
  auto refused = [&](const std::vector<SafeTensorOut>& tensors) {
    write_safetensors(path, tensors, {});
    auto net = tiny_net();
    const float before = parameters(*net)[0].param->value[0];
    std::string message;
    try {
      load_state_dict(path, *net);
    } catch (const FormatError& e) {
      message = e.what();
    }
    CHECK(parameters(*net)[0].param->value[0] == before);  // nothing copied
    CHECK(message.find(path) != std::string::npos);
    return message;
  };
  auto missing = good;
  missing.erase(missing.begin() + 1);
  const std::string gone = good[1].name;
  CHECK_THAT(refused(missing), Catch::Contains("no tensor '" + gone + "', which the model has"));

  auto extra = good;
  extra.push_back({"res.body.2.weight", {4}, {1, 2, 3, 4}, {}, false});
  CHECK_THAT(refused(extra), Catch::Contains("tensor 'res.body.2.weight' is not in the model"));

  auto reshaped = good;
  find(reshaped, "fc.weight").shape = {4, 3};
  CHECK_THAT(refused(reshaped), Catch::Contains("tensor 'fc.weight' has shape [4,3], the model's is [3,4]"));

  auto integer = good;
  SafeTensorOut& w = find(integer, "res.body.1.bias");
  w.is_i64 = true;
  w.i64.assign(w.f32.size(), 1);
  CHECK_THAT(refused(integer), Catch::Contains("tensor 'res.body.1.bias' has dtype I64"));

  auto count = good;
  SafeTensorOut& c = find(count, "bn.num_batches_tracked");
  c.is_i64 = false;
  c.f32 = {3.0f};
  CHECK_THAT(refused(count), Catch::Contains("'bn.num_batches_tracked' is F32"));

  auto stray = good;  // a batch count with no BatchNorm beside it
  stray.push_back({"fc.num_batches_tracked", {}, {}, {1}, true});
  CHECK_THAT(refused(stray), Catch::Contains("tensor 'fc.num_batches_tracked' is not in the model"));

  auto uncounted = good;  // PyTorch before 0.4.1 had no num_batches_tracked: accepted
  uncounted.erase(uncounted.begin() + static_cast<std::ptrdiff_t>(&find(uncounted, "bn.num_batches_tracked") - uncounted.data()));
  write_safetensors(path, uncounted, {});
  auto net = tiny_net();
  CHECK_NOTHROW(load_state_dict(path, *net));
}

TEST_CASE("The reference network's state dict carries torch_ref.py's names, shapes and dtypes", "[state_dict][model]") {
  std::ifstream in(kDir + "refnet_names.json");
  const nlohmann::json torch_names = nlohmann::json::parse(in);
  glia_test::TempDir dir;
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    INFO("norm " << norm_kind_name(k));
    ReferenceNetConfig cfg;
    cfg.norm = k;
    auto net = make_reference_net<float>(cfg);
    Rng rng(5);
    net->reset_parameters(rng);
    const std::string path = dir.path + "/ref.safetensors";
    const StateDictNames names = reference_net_state_dict_names(*net);
    save_state_dict(path, *net, names);
    const SafetensorsFile f = read_safetensors(path);
    const nlohmann::json& want = torch_names.at(norm_kind_name(k));
    CHECK(f.tensors.size() == want.size());
    for (const auto& entry : want) {
      const std::string name = entry[0].get<std::string>();
      INFO("torch tensor " << name);
      const SafeTensor* t = f.find(name);
      REQUIRE(t != nullptr);
      CHECK(t->dtype == (entry[1] == "int64" ? "I64" : "F32"));
      CHECK(t->shape == entry[2].get<std::vector<std::int64_t>>());
    }
    // Read back into another network: the same tensors bit for bit.
    auto other = make_reference_net<float>(cfg);
    load_state_dict(path, *other, names);
    auto a = parameters(*net), b = parameters(*other);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(same_bits(a[i].param->value, b[i].param->value));
    // Without the names, glia's own are expected, and the first is reported with both names.
    CHECK_THROWS_WITH(load_state_dict(path, *other), Catch::Contains("no tensor 'C1.conv.weight'"));
    StateDictNames shuffled = names;
    shuffled["C1.conv.bias"] = "c1.0.weight";
    CHECK_THROWS_WITH(load_state_dict(path, *other, shuffled), Catch::Contains("two tensors of the model are named 'c1.0.weight'"));
  }
  CHECK(reference_net_torch_name("R2.body.C9.norm.running_var") == "c8.1.running_var");
  CHECK(reference_net_torch_name("c10.bias") == "head.bias");
  CHECK(reference_net_torch_name("c3.weight") == "t1.weight");
  CHECK_THROWS_WITH(reference_net_torch_name("R3.body.C4.conv.weight"), Catch::Contains("'R3.body.C4.conv.weight' is not a tensor"));
}

TEST_CASE("save_model with the reference net's PyTorch names loads back as the same network", "[state_dict][model_file]") {
  glia_test::TempDir dir;
  ReferenceNetConfig cfg;
  auto net = make_reference_net<float>(cfg);
  Rng rng(9);
  net->reset_parameters(rng);
  Tensor<float> x(Shape{4, 3, 32, 32});
  x.normal_(rng, 0, 1);
  net->forward(x, Mode::Train);  // running statistics off 0 and 1
  const std::string path = dir.path + "/model.safetensors";
  save_model(path, *net, Shape{3, 32, 32}, {}, reference_net_state_dict_names(*net));
  const SafetensorsFile f = read_safetensors(path);
  CHECK(f.find("c4.1.running_mean") != nullptr);
  CHECK(f.find("c4.1.num_batches_tracked") != nullptr);
  CHECK(f.find("head.bias") != nullptr);
  CHECK(f.find("c10.bias") == nullptr);
  CHECK(f.metadata.count("state_dict_names") == 1);
  LoadedModel<float> loaded = load_model<float>(path);
  const Tensor<float> want = net->forward(x, Mode::Eval);
  CHECK(same_bits(loaded.model->forward(x, Mode::Eval), want));
  CHECK_THROWS_WITH(save_model(path, *net, Shape{3, 32, 32}, {{"state_dict_names", "{}"}}), Catch::Contains("is glia's own"));
  // A name map that is not an object of strings is refused, naming the key.
  std::map<std::string, std::string> meta = f.metadata;
  meta["state_dict_names"] = "[1]";
  write_safetensors(path, state_dict_tensors(*net, reference_net_state_dict_names(*net)), meta);
  CHECK_THROWS_WITH(load_model<float>(path), Catch::Contains("'state_dict_names' is not a JSON object"));
  meta["state_dict_names"] = R"({"C1.conv.weight": 1})";
  write_safetensors(path, state_dict_tensors(*net, reference_net_state_dict_names(*net)), meta);
  CHECK_THROWS_WITH(load_model<float>(path), Catch::Contains("entry 'C1.conv.weight' is not a string"));
}

TEST_CASE("State dicts: a malformed file is refused by the reader before anything is loaded", "[state_dict][safetensors]") {
  glia_test::TempDir dir;
  const std::string path = dir.path + "/broken.safetensors";
  auto write = [&](const std::string& header, const std::string& data) {
    std::string n(8, '\0');
    for (int i = 0; i < 8; ++i) n[static_cast<std::size_t>(i)] = static_cast<char>(header.size() >> (8 * i) & 0xFF);
    std::ofstream(path, std::ios::binary) << n << header << data;
  };
  auto net = tiny_net();
  // A key that is not UTF-8: the JSON parser's error, with where it stopped.
  write("{\"fc.w\xFF\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", std::string(4, '\0'));
  CHECK_THROWS_WITH(load_state_dict(path, *net), Catch::Contains(path) && Catch::Contains("not JSON") && Catch::Contains("UTF-8"));
  // Out-of-file offsets: more data promised than the file holds.
  write("{\"fc.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", std::string(4, '\0'));
  CHECK_THROWS_WITH(load_state_dict(path, *net), Catch::Contains("cover 12 bytes of data, the file holds 4"));
  // A byte count that does not match dtype and shape, naming the tensor.
  write("{\"fc.bias\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,4]}}", std::string(4, '\0'));
  CHECK_THROWS_WITH(load_state_dict(path, *net), Catch::Contains("tensor 'fc.bias'") && Catch::Contains("F16 [3] needs 6"));
}
