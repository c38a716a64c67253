// ConvTranspose2d (issue 17): the layer against its reference twin
// (conv_transpose2d_forward_naive / _backward_naive: the definition as loops) in float and
// double, finite differences in double on several shapes (strides, padding, output padding,
// groups 1, 2 and depthwise, dilation 1 and 2), PyTorch's golden values
// (tools/golden/make_golden.py), bitwise results for any thread count, the shape and argument
// errors, the algorithm table, and the model spec's type ConvTranspose2d.
#include <catch2/catch.hpp>

#include <glia/glia.hpp>
#include <glia/model_io/model_spec.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "support/fixture.hpp"
#include "support/gradcheck.hpp"
#include "support/spec_refusal.hpp"
#include "support/tensor_compare.hpp"
#include "support/torch_compare.hpp"

using namespace glia;

namespace {

// {batch, Cin, H, W, Cout, k, stride, pad, output_padding, groups, dilation}
struct TConfig {
  Index n, cin, h, w, cout, k, s, p, op, g, d;
  ConvTranspose2dConfig config() const { return ConvTranspose2dConfig{cin, cout, k, s, p, op, g, d}; }
};
const TConfig kConfigs[] = {
    {2, 3, 4, 5, 4, 3, 2, 1, 1, 1, 1},   // stride 2, output padding 1
    {2, 4, 5, 4, 3, 4, 2, 1, 0, 1, 1},   // the usual 2x upsampling: k4 s2 p1
    {2, 16, 8, 8, 16, 3, 1, 1, 0, 1, 1}, // 3x3 s1 p1: the adjoint runs the 3x3 kernels
    {3, 8, 6, 6, 4, 1, 1, 0, 0, 1, 1},   // 1x1
    {2, 4, 4, 4, 6, 3, 1, 1, 0, 2, 2},   // groups 2, dilation 2
    {2, 3, 5, 5, 3, 3, 1, 1, 0, 3, 1},   // depthwise
    {2, 4, 3, 4, 8, 3, 3, 2, 2, 4, 2},   // depthwise with multiplier 2, stride 3, dilation 2, op 2
    {1, 2, 3, 3, 2, 5, 2, 3, 0, 1, 1},   // padding larger than needed: output cropped
};

using glia::testing::max_rel_diff;

template <typename T>
void check_against_twin(const TConfig& c, bool bias, double tol) {
  ConvTranspose2d<T> layer(c.cin, c.cout, c.k, c.s, c.p, c.op, c.g, bias, c.d);
  Rng rng(5);
  layer.reset_parameters(rng);
  Tensor<T> x(Shape{c.n, c.cin, c.h, c.w});
  x.uniform_(rng, -1, 1);
  const Tensor<T> y = layer.forward(x, Mode::Train).clone();
  const ConvTranspose2dConfig cfg = c.config();
  REQUIRE(y.shape() == Shape{c.n, c.cout, cfg.out_size(c.h), cfg.out_size(c.w)});
  Tensor<T> dy(y.shape());
  dy.uniform_(rng, -1, 1);
  zero_grad(layer);
  const Tensor<T> dx = layer.backward(dy).clone();
  Tensor<T> y_ref(y.shape()), dx_ref(x.shape()), dw_ref(layer.weight().value.shape()), db_ref(Shape{c.cout});
  dw_ref.zero();
  db_ref.zero();
  const T* b = bias ? layer.bias().value.data() : nullptr;
  conv_transpose2d_forward_naive(y_ref.data(), x.data(), layer.weight().value.data(), b, cfg, c.n, c.h, c.w);
  conv_transpose2d_backward_naive(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(),
                                  layer.weight().value.data(), cfg, c.n, c.h, c.w);
  INFO(layer.name() << " on " << x.shape());
  CHECK(max_rel_diff(y, y_ref) < tol);
  CHECK(max_rel_diff(dx, dx_ref) < tol);
  CHECK(max_rel_diff(layer.weight().grad, dw_ref) < tol);
  if (bias) CHECK(max_rel_diff(layer.bias().grad, db_ref) < tol);
}


}  // namespace

TEST_CASE("ConvTranspose2d matches its reference twin, float and double", "[conv][transpose]") {
  for (const TConfig& c : kConfigs)
    for (bool bias : {true, false}) {
      check_against_twin<float>(c, bias, 2e-5);
      check_against_twin<double>(c, bias, 1e-13);
    }
}

TEST_CASE("ConvTranspose2d backward matches finite differences", "[gradcheck][conv][transpose]") {
  for (const TConfig& c : kConfigs) {
    ConvTranspose2d<double> layer(c.cin, c.cout, c.k, c.s, c.p, c.op, c.g, true, c.d);
    Rng rng(8);
    for (auto& p : parameters(layer)) p.param->value.uniform_(rng, -1.0, 1.0);
    Tensor<double> x(Shape{c.n, c.cin, c.h, c.w});
    x.uniform_(rng, -1, 1);
    const auto results = testing::check_gradients(layer, x);
    CHECK(results.size() == 3);  // input, weight, bias
    for (const auto& r : results) {
      INFO(layer.name() << " input " << x.shape() << " tensor " << r.tensor << ": relative error " << r.rel_error);
      CHECK(r.checked > 0);
      CHECK(r.rel_error < 1e-6);
    }
  }
}

TEST_CASE("golden: ConvTranspose2d matches PyTorch", "[golden][conv][transpose]") {
  for (const char* name : {"conv_transpose2d_s2_op1", "conv_transpose2d_k4s2p1", "conv_transpose2d_g2_d2",
                           "conv_transpose2d_depthwise"}) {
    INFO("fixture " << name);
    const testing::Fixture f = testing::load_fixture(std::string(GLIA_TEST_FIXTURES) + "/" + name + ".glfix");
    const auto c = f.ints("config");  // cin, cout, k, stride, pad, output_padding, groups, bias, dilation
    REQUIRE(c.size() == 9);
    const bool bias = c[7] != 0;
    ConvTranspose2d<float> layer(c[0], c[1], c[2], c[3], c[4], c[5], c[6], bias, c[8]);
    CHECK(layer.weight().value.shape() == f.raw("weight").shape());
    layer.weight().value.copy_from(f.get<float>("weight"));
    if (bias) layer.bias().value.copy_from(f.get<float>("bias"));
    CHECK(f.has("dbias") == bias);
    zero_grad(layer);
    const Tensor<float> x = f.get<float>("x"), r = f.get<float>("r");
    testing::check_torch(std::string(name) + " y", layer.forward(x, Mode::Train), f.raw("y"));
    testing::check_torch(std::string(name) + " dx", layer.backward(r), f.raw("dx"));
    testing::check_torch(std::string(name) + " dweight", layer.weight().grad, f.raw("dweight"));
    if (bias) testing::check_torch(std::string(name) + " dbias", layer.bias().grad, f.raw("dbias"));
  }
}

TEST_CASE("ConvTranspose2d gives the same bits for any thread count, and skips dx when not needed",
          "[conv][transpose][determinism]") {
  const int threads = num_threads();
  for (const TConfig& c : {kConfigs[1], kConfigs[2], kConfigs[6]}) {
    const Index n = 19;
    Tensor<float> x(Shape{n, c.cin, c.h, c.w});
    Rng rng(2);
    x.uniform_(rng, -1, 1);
    Tensor<float> out[2], dx[2], dw[2], db[2];
    for (int t = 0; t < 2; ++t) {
      set_num_threads(t == 0 ? 1 : 3);
      ConvTranspose2d<float> layer(c.cin, c.cout, c.k, c.s, c.p, c.op, c.g, true, c.d);
      Rng init(4);
      layer.reset_parameters(init);
      zero_grad(layer);
      out[t] = layer.forward(x, Mode::Train).clone();
      Tensor<float> dy(out[t].shape());
      Rng r(6);
      dy.uniform_(r, -1, 1);
      dx[t] = layer.backward(dy).clone();
      dw[t] = layer.weight().grad.clone();
      db[t] = layer.bias().grad.clone();
      if (t == 1) {  // without the input gradient: the same parameter gradients
        layer.set_needs_input_grad(false);
        zero_grad(layer);
        layer.forward(x, Mode::Train);
        CHECK(layer.backward(dy).empty());
        CHECK(std::memcmp(layer.weight().grad.data(), dw[1].data(), static_cast<std::size_t>(dw[1].size()) * sizeof(float)) == 0);
      }
    }
    set_num_threads(threads);
    for (Tensor<float>* v : {out, dx, dw, db})
      CHECK(std::memcmp(v[0].data(), v[1].data(), static_cast<std::size_t>(v[0].size()) * sizeof(float)) == 0);
  }
}

TEST_CASE("ConvTranspose2d: PyTorch's parameter shapes and names, errors, algorithm table", "[conv][transpose]") {
  ConvTranspose2d<float> up(4, 6, 3, 2, 1, 1, 2);
  CHECK(up.weight().value.shape() == Shape{4, 3, 3, 3});
  CHECK(up.bias().value.shape() == Shape{6});
  auto params = parameters(up);
  REQUIRE(params.size() == 2);
  CHECK((params[0].name == "weight" && params[1].name == "bias"));
  CHECK(up.output_shape(Shape{2, 4, 5, 7}) == Shape{2, 6, 10, 14});
  CHECK(up.name() == "ConvTranspose2d(4->6, k3, s2, p1, op1, g2)");
  CHECK_THROWS_WITH(up.output_shape(Shape{2, 3, 5, 7}), Catch::Contains("ConvTranspose2d(4->6") && Catch::Contains("[N,4,H,W]"));
  Tensor<float> x(Shape{1, 4, 2, 2}), wrong(Shape{1, 6, 3, 3});
  x.fill(1.0f);
  up.forward(x, Mode::Train);
  CHECK_THROWS_AS(up.backward(wrong), ShapeError);
  CHECK_THROWS_WITH(ConvTranspose2d<float>(4, 6, 3, 2, 0, 2), Catch::Contains("output_padding (2) must be smaller than stride (2)"));
  CHECK_THROWS_WITH(ConvTranspose2d<float>(4, 6, 3, 1, 0, 0, 4), Catch::Contains("divisible by groups (4)"));
  CHECK_THROWS_AS(ConvTranspose2d<float>(4, 6, 3, 1, 0, 0, 1, true, 0), ValueError);
  // An output of size 0: k1 s1 p1 on a 1x1 input.
  CHECK_THROWS_AS(ConvTranspose2d<float>(1, 1, 1, 1, 1).output_shape(Shape{1, 1, 1, 1}), ShapeError);
  // PyTorch's default initialisation: fan_in = out/groups * k * k.
  ConvTranspose2d<double> big(2, 64, 3);
  Rng rng(1);
  big.reset_parameters(rng);
  const double bound = 1.0 / std::sqrt(64.0 * 9.0);
  double wmax = 0;
  for (double v : big.weight().value) wmax = std::max(wmax, std::abs(v));
  CHECK(wmax <= bound);
  CHECK(wmax > 0.9 * bound);
  // The algorithm table: the forward runs the adjoint's input-gradient kernel.
  Sequential<float> net;
  net.add(std::make_unique<ConvTranspose2d<float>>(4, 3, 4, 2, 1), "up");
  CHECK_THAT(conv_algorithm_table(net, Shape{1, 4, 5, 5}), Catch::Contains("up") && Catch::Contains("col2im_gemm"));
}

TEST_CASE("Model spec: ConvTranspose2d with PyTorch's keys and defaults, written back", "[spec][conv][transpose]") {
  const char* text = R"({"input": [4, 6, 6], "layers": [
    {"type": "ConvTranspose2d", "in_channels": 4, "out_channels": 8, "kernel_size": 4, "stride": 2, "padding": 1},
    {"type": "ConvTranspose2d", "name": "g", "in_channels": 8, "out_channels": 4, "kernel_size": [3, 3],
     "stride": 2, "padding": 1, "output_padding": 1, "groups": 2, "dilation": 1, "bias": false, "padding_mode": "zeros"}]})";
  Rng rng(1);
  auto net = model_from_json_text<float>(text, "t.json", rng);
  CHECK(net->output_shape(Shape{1, 4, 6, 6}) == Shape{1, 4, 24, 24});
  auto* t0 = dynamic_cast<ConvTranspose2d<float>*>(&(*net)[0]);
  REQUIRE(t0);
  CHECK((t0->stride() == 2 && t0->output_padding() == 0 && t0->groups() == 1 && t0->dilation() == 1 && t0->has_bias()));
  auto params = parameters(*net);
  REQUIRE(params.size() == 3);
  CHECK(params[0].name == "0.weight");
  CHECK(params[0].param->value.shape() == Shape{4, 8, 4, 4});
  CHECK(params[2].name == "g.weight");
  CHECK(params[2].param->value.shape() == Shape{8, 2, 3, 3});
  const nlohmann::json spec = model_to_json(*net, Shape{4, 6, 6});
  CHECK(spec["layers"][1]["type"] == "ConvTranspose2d");
  CHECK(spec["layers"][1]["output_padding"] == 1);
  CHECK(spec["layers"][1]["groups"] == 2);
  CHECK(spec["layers"][1]["bias"] == false);
  auto again = model_from_json<float>(spec, rng);
  CHECK(model_to_json(*again, Shape{4, 6, 6}) == spec);
  auto refusal = [](const std::string& layer) { return testing::spec_refusal("[4, 6, 6]", layer); };
  CHECK_THAT(refusal(R"({"type": "ConvTranspose2d", "in_channels": 4, "out_channels": 4, "kernel_size": 3, "output_padding": 1})"),
             Catch::Contains("layers[0] (ConvTranspose2d): key 'output_padding' is 1: glia implements only output_padding < stride (1)"));
  CHECK_THAT(refusal(R"({"type": "ConvTranspose2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3})"),
             Catch::Contains("layers[0] (ConvTranspose2d)") && Catch::Contains("[N,3,H,W]"));
  CHECK_THAT(refusal(R"({"type": "ConvTranspose2d", "in_channels": 4, "out_channels": 4, "kernel": 3})"),
             Catch::Contains("key 'kernel_size' is missing"));
  CHECK_THAT(refusal(R"({"type": "ConvTranspose2d", "in_channels": 4, "out_channels": 4, "kernel_size": 3, "strde": 2})"),
             Catch::Contains("key 'strde' is not an argument of ConvTranspose2d"));
}
