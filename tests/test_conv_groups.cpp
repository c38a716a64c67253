// Conv2d with groups and dilation (issue 17): the layer against its reference twin
// (conv2d_forward_naive / conv2d_backward_naive) in float and double, finite differences in
// double on several shapes (groups 1, 2 and depthwise with channel multipliers, dilation 1 and
// 2, strides, padding), PyTorch's golden values (tools/golden/make_golden.py), the explicit
// algorithm choice (grouped_im2col_gemm, depthwise_direct) and the refusal of the fast
// algorithms, bitwise results for any thread count, and the model spec's keys.
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

// {batch, Cin, H, W, Cout, k, stride, pad, dilation, groups}
struct ConvConfig {
  Index n, cin, h, w, cout, k, s, p, d, g;
};
const ConvConfig kConfigs[] = {
    {2, 4, 7, 6, 6, 3, 1, 1, 1, 2},  // groups 2
    {3, 6, 8, 7, 6, 3, 1, 1, 1, 6},  // depthwise
    {2, 4, 9, 8, 8, 3, 2, 1, 1, 4},  // depthwise, multiplier 2, stride 2
    {2, 3, 9, 8, 4, 3, 1, 2, 2, 1},  // dilation 2, "same" size
    {2, 4, 10, 9, 4, 3, 2, 1, 2, 2}, // groups 2, dilation 2, stride 2
    {2, 6, 9, 9, 6, 5, 1, 4, 2, 6},  // depthwise 5x5, dilation 2
    {1, 8, 6, 5, 4, 1, 1, 0, 1, 4},  // 1x1 grouped
    {2, 3, 7, 7, 6, 3, 3, 0, 3, 3},  // depthwise, dilation 3, stride 3, no padding
};

using glia::testing::max_rel_diff;

template <typename T>
void check_against_twin(const ConvConfig& c, double tol) {
  Conv2d<T> conv(c.cin, c.cout, c.k, c.s, c.p, c.d, c.g);
  Rng rng(7);
  conv.reset_parameters(rng);
  Tensor<T> x(Shape{c.n, c.cin, c.h, c.w});
  x.uniform_(rng, -1, 1);
  const Tensor<T> y = conv.forward(x, Mode::Train).clone();
  Tensor<T> dy(y.shape());
  dy.uniform_(rng, -1, 1);
  zero_grad(conv);
  const Tensor<T> dx = conv.backward(dy).clone();
  const Conv2dGeometry g{c.n, PatchGeometry{c.cin, c.h, c.w, c.k, c.k, c.s, c.p, c.d}, c.cout, c.g};
  REQUIRE(y.shape() == Shape{c.n, c.cout, g.patch.out_h(), g.patch.out_w()});
  Tensor<T> y_ref(y.shape()), dx_ref(x.shape()), dw_ref(conv.weight().value.shape()), db_ref(Shape{c.cout});
  dw_ref.zero();
  db_ref.zero();
  conv2d_forward_naive(y_ref.data(), x.data(), conv.weight().value.data(), conv.bias().value.data(), g);
  conv2d_backward_naive(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(), conv.weight().value.data(), g);
  INFO(conv.name() << " on " << x.shape() << ": " << g.str());
  CHECK(max_rel_diff(y, y_ref) < tol);
  CHECK(max_rel_diff(dx, dx_ref) < tol);
  CHECK(max_rel_diff(conv.weight().grad, dw_ref) < tol);
  CHECK(max_rel_diff(conv.bias().grad, db_ref) < tol);
}


testing::Fixture fixture(const std::string& name) {
  return testing::load_fixture(std::string(GLIA_TEST_FIXTURES) + "/" + name + ".glfix");
}

}  // namespace

TEST_CASE("Grouped and dilated Conv2d match the reference twin, float and double", "[conv][groups]") {
  for (const ConvConfig& c : kConfigs) {
    check_against_twin<float>(c, 2e-5);
    check_against_twin<double>(c, 1e-13);
  }
}

TEST_CASE("Grouped and dilated Conv2d backward matches finite differences", "[gradcheck][conv][groups]") {
  for (const ConvConfig& c : kConfigs) {
    for (bool bias : {true, false}) {
      Conv2d<double> conv(c.cin, c.cout, c.k, c.s, c.p, c.d, c.g, bias);
      Rng rng(3);
      conv.reset_parameters(rng);
      for (auto& p : parameters(conv)) p.param->value.uniform_(rng, -1.0, 1.0);
      Tensor<double> x(Shape{c.n, c.cin, c.h, c.w});
      x.uniform_(rng, -1, 1);
      for (const auto& r : testing::check_gradients(conv, x)) {
        INFO(conv.name() << " input " << x.shape() << " tensor " << r.tensor << ": relative error " << r.rel_error);
        CHECK(r.checked > 0);
        CHECK(r.rel_error < 1e-6);
      }
    }
  }
}

TEST_CASE("golden: grouped, depthwise and dilated Conv2d match PyTorch", "[golden][conv][groups]") {
  for (const char* name : {"conv2d_groups2", "conv2d_depthwise_s2", "conv2d_dilation2", "conv2d_groups2_dilation2_s2"}) {
    INFO("fixture " << name);
    const testing::Fixture f = fixture(name);
    const auto c = f.ints("config");  // cin, cout, k, stride, pad, dilation, groups, bias
    REQUIRE(c.size() == 8);
    const bool bias = c[7] != 0;
    Conv2d<float> conv(c[0], c[1], c[2], c[3], c[4], c[5], c[6], bias);
    conv.weight().value.copy_from(f.get<float>("weight"));
    if (bias) conv.bias().value.copy_from(f.get<float>("bias"));
    zero_grad(conv);
    const Tensor<float> x = f.get<float>("x"), r = f.get<float>("r");
    testing::check_torch(std::string(name) + " y", conv.forward(x, Mode::Train), f.raw("y"));
    testing::check_torch(std::string(name) + " dx", conv.backward(r), f.raw("dx"));
    testing::check_torch(std::string(name) + " dweight", conv.weight().grad, f.raw("dweight"));
    if (bias) testing::check_torch(std::string(name) + " dbias", conv.bias().grad, f.raw("dbias"));
  }
}

TEST_CASE("Groups and dilation choose their own algorithms; the fast ones refuse them", "[conv][groups]") {
  using F = ConvForwardAlgorithm;
  using D = ConvInputGradAlgorithm;
  using G = ConvWeightGradAlgorithm;
  for (Index packet : {1, 4, 8, 16}) {
    const Conv2dGeometry depthwise{2, PatchGeometry{16, 16, 16, 3, 3, 1, 1}, 32, 16};
    const ConvAlgorithms a = select_conv_algorithms(depthwise, packet).algorithms;
    CHECK((a.forward == F::DepthwiseDirect && a.input_grad == D::DepthwiseDirect && a.weight_grad == G::DepthwiseDirect));
    const Conv2dGeometry grouped{2, PatchGeometry{16, 16, 16, 3, 3, 1, 1}, 32, 2};
    const Conv2dGeometry dilated{2, PatchGeometry{16, 16, 16, 3, 3, 1, 2, 2}, 32};
    for (const Conv2dGeometry& g : {grouped, dilated}) {
      const ConvAlgorithms b = select_conv_algorithms(g, packet).algorithms;
      CHECK((b.forward == F::GroupedIm2colGemm && b.input_grad == D::GroupedCol2imGemm &&
             b.weight_grad == G::GroupedIm2colGemm));
      for (F f : {F::Im2colGemm, F::Pointwise1x1Gemm, F::Rows3x3, F::ChannelLanes3x3})
        CHECK_THAT(conv_algorithm_unfit(g, f, packet), Catch::Contains("needs groups 1 and dilation 1"));
      for (D d : {D::Col2imGemm, D::FlippedKernelGemm, D::Pointwise1x1Gemm, D::Rows3x3, D::ChannelLanes3x3})
        CHECK_FALSE(conv_algorithm_applies(g, d, packet));
      for (G w : {G::Im2colGemm, G::Pointwise1x1Gemm, G::ChannelLanes3x3}) CHECK_FALSE(conv_algorithm_applies(g, w, packet));
      CHECK_THAT(conv_algorithm_unfit(g, F::DepthwiseDirect, packet), Catch::Contains("groups == in_channels"));
    }
    // groups 1, dilation 1: the choice of before (the reference network's layers).
    const Conv2dGeometry dense{2, PatchGeometry{16, 32, 32, 3, 3, 1, 1}, 16};
    CHECK(select_conv_algorithms(dense, packet).algorithms.forward != F::GroupedIm2colGemm);
    CHECK(select_conv_algorithms(dense, packet).algorithms.weight_grad != G::GroupedIm2colGemm);
  }
  // A layer refuses a forced fast algorithm with the layer, the geometry and the reason.
  Conv2d<float> conv(16, 16, 3, 1, 1, 1, 4);
  CHECK(conv.name() == "Conv2d(16->16, k3, s1, p1, g4)");
  conv.set_algorithms(ConvAlgorithmRequest{F::Rows3x3, std::nullopt, std::nullopt});
  CHECK_THROWS_WITH(conv.algorithms_for(Shape{2, 16, 16, 16}),
                    Catch::Contains("Conv2d(16->16, k3, s1, p1, g4)") && Catch::Contains("rows_3x3") &&
                        Catch::Contains("groups 4") && Catch::Contains("needs groups 1 and dilation 1"));
  Tensor<float> x(Shape{2, 16, 16, 16});
  x.fill(1.0f);
  CHECK_THROWS_AS(conv.forward(x, Mode::Train), ValueError);
  conv.set_algorithms(ConvAlgorithmRequest{F::GroupedIm2colGemm, D::GroupedCol2imGemm, G::GroupedIm2colGemm});
  CHECK(conv.forward(x, Mode::Train).shape() == Shape{2, 16, 16, 16});
  // The summary's algorithm table names them.
  Sequential<float> net;
  net.add(std::make_unique<Conv2d<float>>(8, 8, 3, 1, 1, 1, 8), "dw");
  net.add(std::make_unique<Conv2d<float>>(8, 16, 3, 1, 2, 2, 2), "dil");
  const std::string table = conv_algorithm_table(net, Shape{1, 8, 12, 12});
  CHECK_THAT(table, Catch::Contains("dw") && Catch::Contains("depthwise_direct") && Catch::Contains("grouped_im2col_gemm") &&
                        Catch::Contains("grouped_col2im_gemm"));
}

TEST_CASE("Grouped and depthwise Conv2d give the same bits for any thread count", "[conv][groups][determinism]") {
  const int threads = num_threads();
  for (Index groups : {Index(2), Index(8)}) {
    Tensor<float> x(Shape{19, 8, 9, 9}), dy(Shape{19, 8, 5, 5});
    Rng rng(9);
    x.uniform_(rng, -1, 1);
    dy.uniform_(rng, -1, 1);
    Tensor<float> out[2], dx[2], dw[2];
    for (int t = 0; t < 2; ++t) {
      set_num_threads(t == 0 ? 1 : 3);
      Conv2d<float> conv(8, 8, 3, 2, 2, 2, groups);
      Rng init(4);
      conv.reset_parameters(init);
      zero_grad(conv);
      out[t] = conv.forward(x, Mode::Train).clone();
      dx[t] = conv.backward(dy).clone();
      dw[t] = conv.weight().grad.clone();
    }
    set_num_threads(threads);
    for (Tensor<float>* v : {out, dx, dw})
      CHECK(std::memcmp(v[0].data(), v[1].data(), static_cast<std::size_t>(v[0].size()) * sizeof(float)) == 0);
  }
}

TEST_CASE("Conv2d refuses a group count that does not divide the channels, and inputs too small", "[conv][groups]") {
  CHECK_THROWS_WITH(Conv2d<float>(6, 4, 3, 1, 1, 1, 4), Catch::Contains("must be divisible by groups (4)"));
  CHECK_THROWS_AS(Conv2d<float>(4, 4, 3, 1, 1, 0, 1), ValueError);
  CHECK_THROWS_AS(Conv2d<float>(4, 4, 3, 1, 1, 1, 0), ValueError);
  Conv2d<float> dilated(2, 2, 3, 1, 0, 3, 1);  // extent 7
  CHECK(dilated.output_shape(Shape{1, 2, 7, 7}) == Shape{1, 2, 1, 1});
  CHECK_THROWS_WITH(dilated.output_shape(Shape{1, 2, 6, 7}), Catch::Contains("H,W >= 7"));
  CHECK(Conv2d<float>(4, 8, 3, 1, 1, 1, 4).weight().value.shape() == Shape{8, 1, 3, 3});
}

TEST_CASE("Model spec: Conv2d's groups and dilation, written back by model_to_json", "[spec][conv][groups]") {
  const char* text = R"({"input": [4, 12, 12], "layers": [
    {"type": "Conv2d", "in_channels": 4, "out_channels": 8, "kernel_size": 3, "padding": 2, "dilation": 2, "groups": 2},
    {"type": "Conv2d", "in_channels": 8, "out_channels": 8, "kernel_size": 3, "padding": 1, "groups": 8, "bias": false},
    {"type": "Conv2d", "in_channels": 8, "out_channels": 4, "kernel_size": 1, "dilation": [2, 2]}]})";
  Rng rng(1);
  auto net = model_from_json_text<float>(text, "t.json", rng);
  auto* c0 = dynamic_cast<Conv2d<float>*>(&(*net)[0]);
  auto* c1 = dynamic_cast<Conv2d<float>*>(&(*net)[1]);
  REQUIRE((c0 && c1));
  CHECK((c0->groups() == 2 && c0->dilation() == 2 && c1->groups() == 8 && c1->dilation() == 1));
  CHECK(c0->weight().value.shape() == Shape{8, 2, 3, 3});
  CHECK(net->output_shape(Shape{1, 4, 12, 12}) == Shape{1, 4, 12, 12});
  const nlohmann::json spec = model_to_json(*net, Shape{4, 12, 12});
  CHECK(spec["layers"][0]["groups"] == 2);
  CHECK(spec["layers"][0]["dilation"] == 2);
  auto again = model_from_json<float>(spec, rng);
  CHECK(model_to_json(*again, Shape{4, 12, 12}) == spec);
  auto refusal = [](const std::string& layer) { return testing::spec_refusal("[4, 8, 8]", layer); };
  CHECK_THAT(refusal(R"({"type": "Conv2d", "in_channels": 4, "out_channels": 6, "kernel_size": 3, "groups": 4})"),
             Catch::Contains("layers[0] (Conv2d): key 'groups' is 4: it must divide in_channels (4) and out_channels (6)"));
  CHECK_THAT(refusal(R"({"type": "Conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 3, "groups": 0})"),
             Catch::Contains("key 'groups' must be an integer >= 1"));
  CHECK_THAT(refusal(R"({"type": "Conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 3, "dilation": 5})"),
             Catch::Contains("layers[0] (Conv2d)") && Catch::Contains("H,W >= 11"));
}
