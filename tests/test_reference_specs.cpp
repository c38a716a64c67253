// models/reference-{bn,gn,ln}.json: the reference networks as model specs. Each builds the
// network make_reference_net builds (48,178 parameters, the same names and shapes), gives the
// same outputs for the same weights, and is what model_to_json writes for it (so the files
// cannot drift from the code).
#include <catch2/catch.hpp>

#include <glia/core/input_file.hpp>
#include <glia/glia.hpp>
#include <glia/model_io/model_spec.hpp>

#include <string>

using namespace glia;

TEST_CASE("The shipped reference specs build the reference networks", "[model_spec]") {
  for (NormKind kind : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    const std::string path = std::string(GLIA_MODELS_DIR) + "/reference-" + norm_kind_name(kind) + ".json";
    INFO(path);
    const std::string text = read_input_file(path, "model spec", 1 << 20);
    ReferenceNetConfig cfg;
    cfg.norm = kind;
    auto reference = make_reference_net<float>(cfg);
    CHECK(nlohmann::json::parse(text) == model_to_json(*reference, Shape{3, 32, 32}));
    Rng rng(3);
    auto from_spec = model_from_json_text<float>(text, path, rng);
    CHECK(parameter_count(*from_spec) == 48178);
    const auto ps = parameters(*from_spec), pr = parameters(*reference);
    REQUIRE(ps.size() == pr.size());
    for (std::size_t i = 0; i < ps.size(); ++i) {
      CHECK(ps[i].name == pr[i].name);
      CHECK(ps[i].param->value.shape() == pr[i].param->value.shape());
      ps[i].param->value.copy_from(pr[i].param->value);
    }
    Tensor<float> x(Shape{2, 3, 32, 32});
    for (Index i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 211) / 105.0f - 1.0f;
    const Tensor<float> want = reference->forward(x, Mode::Eval);
    const Tensor<float>& got = from_spec->forward(x, Mode::Eval);
    REQUIRE(got.shape() == want.shape());
    for (Index i = 0; i < got.size(); ++i) CHECK(got[i] == want[i]);
  }
}
