// tests/test_golden.cpp: glia against PyTorch golden values ([golden]).
//
// Each fixture in tests/fixtures/ (written by tools/golden/make_golden.py, format in
// tests/fixtures/README.md) holds the inputs and parameters of a layer or of the whole reference
// network and what PyTorch computed from them in float64: outputs and, for L = sum(y * r) with
// a stored random r (or for the loss), the input gradient and every parameter gradient. glia
// recomputes everything in float and every tensor must match by both
//   norm:        ||a - b|| <= 1e-4 * max(||b||, floor)
//   elementwise: |a_i - b_i| <= 1e-4 * max(|b_i|, min(1, max_j |b_j|), floor)   for every i
// with floor = 0 for single layers and 1e-2 * (norm of the whole network gradient) for the
// network, whose conv biases before a BatchNorm have a gradient that is zero in exact arithmetic
// (float rounding leaves ~1e-7 of noise there, which no relative test can judge).
// No Python is needed at run time.
#include <catch2/catch.hpp>

#include <glia/glia.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support/fixture.hpp"

namespace {

using glia::Index;
using glia::Mode;
using glia::Tensor;
using glia::testing::Fixture;

constexpr double kRtol = 1e-4;

Fixture load(const std::string& name) { return glia::testing::load_fixture(std::string(GLIA_TEST_FIXTURES) + "/" + name + ".glfix"); }

// The two-part closeness check described at the top of the file. Reports the worst element.
template <typename T>
void check_close(const std::string& what, const Tensor<T>& got, const Tensor<double>& want, double floor = 0.0) {
  INFO(what << ": glia shape " << got.shape() << ", PyTorch shape " << want.shape());
  CHECK(got.shape() == want.shape());
  if (got.shape() != want.shape()) return;
  double d2 = 0, w2 = 0, wmax = 0;
  for (Index i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    d2 += d * d;
    w2 += want[i] * want[i];
    wmax = std::max(wmax, std::fabs(want[i]));
  }
  const double norm_err = std::sqrt(d2), norm_want = std::sqrt(w2);
  const double s = std::max(std::min(1.0, wmax), floor);
  Index bad = 0, worst = -1;
  double worst_ratio = 0;
  for (Index i = 0; i < want.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double tol = kRtol * std::max(std::fabs(want[i]), s);
    const double ratio = tol > 0 ? err / tol : (err > 0 ? INFINITY : 0.0);
    if (!(err <= tol)) ++bad;  // NaN counts as bad
    if (!(ratio <= worst_ratio)) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  const double norm_rel = norm_err / std::max({norm_want, floor, 1e-300});
  std::ostringstream detail;
  detail << what << ": ||glia - torch|| / max(||torch||, floor) = " << norm_rel << " (||torch|| = " << norm_want
         << ", floor = " << floor << "); " << bad << " of " << want.size() << " elements outside tolerance";
  if (worst >= 0)
    detail << "; worst element " << worst << ": glia " << got[worst] << ", torch " << want[worst] << " ("
           << worst_ratio << " x tolerance)";
  INFO(detail.str());
  CHECK(norm_rel <= kRtol);
  CHECK(bad == 0);
}

void check_scalar(const std::string& what, double got, double want) {
  INFO(what << ": glia " << got << ", torch " << want);
  CHECK(std::fabs(got - want) <= kRtol * std::max(std::fabs(want), 1.0));
  CHECK(std::fabs(got - want) <= kRtol * std::fabs(want));
}

// ---- Layers --------------------------------------------------------------------------------------

void conv_case(const std::string& name) {
  INFO("fixture " << name);
  const Fixture f = load(name);
  const auto c = f.ints("config");  // cin, cout, k, stride, pad, bias
  REQUIRE(c.size() == 6);
  const bool bias = c[5] != 0;
  glia::Conv2d<float> conv(c[0], c[1], c[2], c[3], c[4], bias);
  conv.weight().value.copy_from(f.get<float>("weight"));
  if (bias) conv.bias().value.copy_from(f.get<float>("bias"));
  CHECK(f.has("dbias") == bias);
  glia::zero_grad(conv);
  const Tensor<float> x = f.get<float>("x"), r = f.get<float>("r");
  check_close(name + " y", conv.forward(x, Mode::Train), f.raw("y"));
  check_close(name + " dx", conv.backward(r), f.raw("dx"));
  check_close(name + " dweight", conv.weight().grad, f.raw("dweight"));
  if (bias) check_close(name + " dbias", conv.bias().grad, f.raw("dbias"));
}

// A parameterless layer: y = m(x), dx = backward(r).
void simple_case(const std::string& name, glia::Module<float>& m) {
  INFO("fixture " << name);
  const Fixture f = load(name);
  const Tensor<float> x = f.get<float>("x"), r = f.get<float>("r");
  check_close(name + " y", m.forward(x, Mode::Train), f.raw("y"));
  check_close(name + " dx", m.backward(r), f.raw("dx"));
}

template <typename Norm>
void affine_norm_case(const std::string& name, Norm& norm, const Fixture& f) {
  norm.weight().value.copy_from(f.get<float>("weight"));
  norm.bias().value.copy_from(f.get<float>("bias"));
  glia::zero_grad(norm);
  const Tensor<float> x = f.get<float>("x"), r = f.get<float>("r");
  check_close(name + " y", norm.forward(x, Mode::Train), f.raw("y"));
  check_close(name + " dx", norm.backward(r), f.raw("dx"));
  check_close(name + " dweight", norm.weight().grad, f.raw("dweight"));
  check_close(name + " dbias", norm.bias().grad, f.raw("dbias"));
}

}  // namespace

TEST_CASE("golden: Conv2d matches PyTorch (3x3 pad 1, 3x3 stride 2, 1x1, no bias)", "[golden]") {
  for (const char* name : {"conv2d_3x3_p1", "conv2d_3x3_s2_p0", "conv2d_1x1", "conv2d_nobias"}) conv_case(name);
}

TEST_CASE("golden: MaxPool2d matches PyTorch (2x2 s2 on 7x5, 3x3 s2)", "[golden]") {
  for (const char* name : {"maxpool_2x2_s2", "maxpool_3x3_s2"}) {
    const auto c = load(name).ints("config");  // kernel, stride
    glia::MaxPool2d<float> pool(c.at(0), c.at(1));
    simple_case(name, pool);
  }
}

TEST_CASE("golden: GlobalAvgPool2d matches PyTorch", "[golden]") {
  glia::GlobalAvgPool2d<float> gap;
  simple_case("global_avgpool", gap);
}

TEST_CASE("golden: ReLU matches PyTorch", "[golden]") {
  glia::ReLU<float> relu;
  simple_case("relu", relu);
}

TEST_CASE("golden: the element-wise activations match PyTorch", "[golden][pointwise]") {
  glia::LeakyReLU<float> leaky(0.2);
  simple_case("leaky_relu", leaky);
  glia::Sigmoid<float> sigmoid;
  simple_case("sigmoid", sigmoid);
  glia::Tanh<float> tanh_layer;
  simple_case("tanh", tanh_layer);
  glia::GELU<float> gelu;
  simple_case("gelu", gelu);
  glia::GELU<float> gelu_tanh("tanh");
  simple_case("gelu_tanh", gelu_tanh);
  glia::SiLU<float> silu;
  simple_case("silu", silu);
  glia::Hardswish<float> hardswish;
  simple_case("hardswish", hardswish);
}

TEST_CASE("golden: AvgPool2d, AdaptiveAvgPool2d and Upsample match PyTorch", "[golden][pool]") {
  for (const std::string name : {"avgpool_3x3_s2_p1", "avgpool_3x3_s2_p1_exclude"}) {
    const auto c = load(name).ints("config");  // k, stride, padding, count_include_pad
    glia::AvgPool2d<float> pool(c.at(0), c.at(1), c.at(2), c.at(3) != 0);
    simple_case(name, pool);
  }
  glia::AdaptiveAvgPool2d<float> adaptive(3, 2);
  simple_case("adaptive_avgpool_3x2", adaptive);
  glia::Upsample<float> upsample;
  simple_case("upsample_nearest2", upsample);
}

namespace {

// A BatchNorm fixture (tools/golden/make_golden.py, batchnorm_fixture): one training step, then
// evaluation with the updated running statistics.
template <typename BatchNorm>
void batchnorm_case(const std::string& name) {
  const Fixture f = load(name);
  const Tensor<double>& cfg = f.raw("config");  // channels, momentum, eps
  BatchNorm bn(static_cast<Index>(cfg[0]), cfg[2], cfg[1]);
  bn.running_mean().copy_from(f.get<float>("running_mean_before"));
  bn.running_var().copy_from(f.get<float>("running_var_before"));
  affine_norm_case(name, bn, f);
  check_close(name + " running_mean after one step", bn.running_mean(), f.raw("running_mean_after"));
  check_close(name + " running_var after one step", bn.running_var(), f.raw("running_var_after"));

  glia::zero_grad(bn);
  const Tensor<float> x = f.get<float>("x"), r = f.get<float>("eval_r");
  check_close(name + " eval y", bn.forward(x, Mode::Eval), f.raw("eval_y"));
  check_close(name + " eval dx", bn.backward(r), f.raw("eval_dx"));
  check_close(name + " eval dweight", bn.weight().grad, f.raw("eval_dweight"));
  check_close(name + " eval dbias", bn.bias().grad, f.raw("eval_dbias"));
  // Eval mode leaves the running statistics alone.
  check_close(name + " running_mean after eval", bn.running_mean(), f.raw("running_mean_after"));
}

}  // namespace

TEST_CASE("golden: BatchNorm2d matches PyTorch in train and eval mode", "[golden]") {
  batchnorm_case<glia::BatchNorm2d<float>>("batchnorm2d");
}

TEST_CASE("golden: BatchNorm1d matches PyTorch on [N, C] and [N, C, L]", "[golden]") {
  batchnorm_case<glia::BatchNorm1d<float>>("batchnorm1d");
  batchnorm_case<glia::BatchNorm1d<float>>("batchnorm1d_l5");
}

TEST_CASE("golden: GroupNorm(2) matches PyTorch", "[golden]") {
  const Fixture f = load("groupnorm_g2");
  const Tensor<double>& cfg = f.raw("config");  // groups, channels, eps
  REQUIRE(cfg[0] == 2);
  glia::GroupNorm<float> gn(2, static_cast<Index>(cfg[1]), cfg[2]);
  affine_norm_case("groupnorm_g2", gn, f);
}

TEST_CASE("golden: GroupNorm(1), the reference net's ln, matches PyTorch's GroupNorm(1)", "[golden]") {
  const Fixture f = load("layernorm");
  const Tensor<double>& cfg = f.raw("config");  // groups (1), channels, eps
  REQUIRE(cfg[0] == 1);
  glia::GroupNorm<float> ln(1, static_cast<Index>(cfg[1]), cfg[2]);
  affine_norm_case("layernorm", ln, f);
}

TEST_CASE("golden: LayerNorm matches PyTorch's LayerNorm over the last one and two dimensions", "[golden]") {
  const Fixture one = load("layer_norm_last1");
  const Tensor<double>& c1 = one.raw("config");  // normalized_shape..., eps
  REQUIRE(c1.size() == 2);
  glia::LayerNorm<float> ln1({static_cast<Index>(c1[0])}, c1[1]);
  affine_norm_case("layer_norm_last1", ln1, one);
  const Fixture two = load("layer_norm_last2");
  const Tensor<double>& c2 = two.raw("config");
  REQUIRE(c2.size() == 3);
  glia::LayerNorm<float> ln2({static_cast<Index>(c2[0]), static_cast<Index>(c2[1])}, c2[2]);
  affine_norm_case("layer_norm_last2", ln2, two);
}

TEST_CASE("golden: Linear matches PyTorch", "[golden]") {
  const Fixture f = load("linear");
  const auto c = f.ints("config");  // in, out
  glia::Linear<float> fc(c.at(0), c.at(1));
  fc.weight().value.copy_from(f.get<float>("weight"));
  fc.bias().value.copy_from(f.get<float>("bias"));
  glia::zero_grad(fc);
  const Tensor<float> x = f.get<float>("x"), r = f.get<float>("r");
  check_close("linear y", fc.forward(x, Mode::Train), f.raw("y"));
  check_close("linear dx", fc.backward(r), f.raw("dx"));
  check_close("linear dweight", fc.weight().grad, f.raw("dweight"));
  check_close("linear dbias", fc.bias().grad, f.raw("dbias"));
}

TEST_CASE("golden: LogSoftmax and NLLLoss match PyTorch", "[golden]") {
  const Fixture f = load("logsoftmax_nll");
  const Tensor<float> x = f.get<float>("x"), r = f.get<float>("r");
  const auto targets = f.ints("targets");
  glia::LogSoftmax<float> ls;
  glia::NLLLoss<float> nll;
  const Tensor<float>& logp = ls.forward(x, Mode::Train);
  check_close("log_softmax", logp, f.raw("logp"));
  check_scalar("nll loss", nll.forward(logp, targets), f.scalar("loss"));
  check_close("nll dlogp", nll.backward(), f.raw("dlogp"));
  check_close("nll(log_softmax) dx", ls.backward(nll.backward()), f.raw("dx"));

  glia::LogSoftmax<float> ls2;  // L = sum(log_softmax(x) * r)
  ls2.forward(x, Mode::Train);
  check_close("log_softmax dx for dy = r", ls2.backward(r), f.raw("r_dx"));
}

TEST_CASE("golden: CrossEntropyLoss matches PyTorch, with and without label smoothing", "[golden]") {
  const Fixture f = load("cross_entropy");
  const Tensor<float> x = f.get<float>("x");
  const auto targets = f.ints("targets");
  int cases = 0;
  for (int i = 0; f.has("case" + std::to_string(i) + ".loss"); ++i, ++cases) {
    const std::string k = "case" + std::to_string(i);
    const double smoothing = f.scalar(k + ".label_smoothing");
    INFO("label_smoothing " << smoothing);
    glia::CrossEntropyLoss<float> ce(smoothing);
    check_scalar(k + " loss", ce.forward(x, targets), f.scalar(k + ".loss"));
    check_close(k + " dx", ce.backward(), f.raw(k + ".dx"));
    check_close(k + " log_probs", ce.log_probs(), f.raw("logp"));
  }
  CHECK(cases == 2);
}

TEST_CASE("golden: CrossEntropyLoss with class weights matches PyTorch", "[golden][loss]") {
  const Fixture f = load("weighted_cross_entropy");
  const Tensor<float> x = f.get<float>("x");
  const auto targets = f.ints("targets");
  const Tensor<double> w = f.get<double>("weight");
  const std::vector<double> weight(w.begin(), w.end());
  int cases = 0;
  for (int i = 0; f.has("case" + std::to_string(i) + ".loss"); ++i, ++cases) {
    const std::string k = "case" + std::to_string(i);
    const double smoothing = f.scalar(k + ".label_smoothing");
    INFO("label_smoothing " << smoothing);
    glia::CrossEntropyLoss<float> ce(smoothing, weight);
    check_scalar(k + " loss", ce.forward(x, targets), f.scalar(k + ".loss"));
    check_close(k + " dx", ce.backward(), f.raw(k + ".dx"));
  }
  CHECK(cases == 2);
}

template <typename Loss>
void regression_loss_case(const std::string& name, Loss& loss) {
  INFO("fixture " << name);
  const Fixture f = load(name);
  check_scalar(name + " loss", loss.forward(f.get<float>("x"), f.get<float>("target")), f.scalar("loss"));
  check_close(name + " dx", loss.backward(), f.raw("dx"));
}

TEST_CASE("golden: MSELoss, L1Loss and BCEWithLogitsLoss match PyTorch", "[golden][loss]") {
  glia::MSELoss<float> mse;
  regression_loss_case("mse_loss", mse);
  glia::L1Loss<float> l1;
  regression_loss_case("l1_loss", l1);
  glia::BCEWithLogitsLoss<float> bce;
  regression_loss_case("bce_with_logits", bce);
}

TEST_CASE("golden: DistillationLoss matches PyTorch's cross-entropy + tau^2 kl_div", "[golden]") {
  const Fixture f = load("distillation");
  const Tensor<float> x = f.get<float>("x");
  const Tensor<float> teacher = f.get<float>("teacher");
  const auto targets = f.ints("targets");
  int cases = 0;
  for (int i = 0; f.has("case" + std::to_string(i) + ".loss"); ++i, ++cases) {
    const std::string k = "case" + std::to_string(i);
    const double weight = f.scalar(k + ".weight"), temperature = f.scalar(k + ".temperature");
    const double smoothing = f.scalar(k + ".label_smoothing");
    INFO("weight " << weight << ", temperature " << temperature << ", label smoothing " << smoothing);
    glia::DistillationLoss<float> kd(weight, temperature, smoothing);
    check_scalar(k + " loss", kd.forward(x, teacher, targets), f.scalar(k + ".loss"));
    check_close(k + " dx", kd.backward(), f.raw(k + ".dx"));
  }
  CHECK(cases == 3);
}

// ---- The reference network -------------------------------------------------------------------------

namespace {

void reference_net_case(const std::string& kind) {
  INFO("reference network, norm " << kind);
  const Fixture data = load("refnet_data");
  const Fixture f = load("refnet_" + kind);

  glia::ReferenceNetConfig cfg;
  cfg.norm = glia::parse_norm_kind(kind);
  cfg.dropout = 0;
  auto net = glia::make_reference_net<float>(cfg);
  auto params = glia::parameters(*net);
  auto bufs = glia::buffers(*net);

  // The fixture names exactly glia's parameters and buffers.
  Index fixture_params = 0, fixture_buffers = 0;
  for (const auto& t : f.tensors()) {
    fixture_params += t.first.rfind("param/", 0) == 0;
    fixture_buffers += t.first.rfind("buffer/", 0) == 0;
  }
  CHECK(fixture_params == static_cast<Index>(params.size()));
  CHECK(fixture_buffers == static_cast<Index>(bufs.size()));
  for (auto& p : params) {
    INFO("parameter " << p.name);
    p.param->value.copy_from(f.get<float>("param/" + p.name));
  }
  glia::zero_grad(*net);

  const Tensor<float> x = data.get<float>("input");
  const auto targets = data.ints("targets");
  glia::LogSoftmax<float> log_softmax;
  glia::NLLLoss<float> nll;
  const Tensor<float>& logits = net->forward(x, Mode::Train);
  const Tensor<float>& logp = log_softmax.forward(logits, Mode::Train);
  const float loss = nll.forward(logp, targets);
  net->backward(log_softmax.backward(nll.backward()));

  check_close(kind + " log-probabilities", logp, f.raw("output/logp"));
  check_scalar(kind + " loss", loss, f.scalar("output/loss"));

  // The norm of the whole PyTorch gradient (partially stored tensors contribute their norm).
  double g2 = 0;
  for (auto& p : params) {
    if (f.has("grad/" + p.name)) {
      for (double v : f.raw("grad/" + p.name)) g2 += v * v;
    } else {
      const double n = f.scalar("grad_norm/" + p.name);
      g2 += n * n;
    }
  }
  const double floor = 1e-2 * std::sqrt(g2);
  REQUIRE(floor > 0);

  Index full = 0, partial = 0;
  for (auto& p : params) {
    const std::string what = kind + " grad " + p.name;
    const Tensor<float>& g = p.param->grad;
    if (f.has("grad/" + p.name)) {
      check_close(what, g, f.raw("grad/" + p.name), floor);
      ++full;
    } else {
      // Stored in part (size budget): the first rows exactly, the whole tensor by its norm.
      const Tensor<double>& rows = f.raw("grad_rows/" + p.name);
      REQUIRE(rows.rank() >= 1);
      REQUIRE(rows.dim(0) <= g.dim(0));
      check_close(what + " (first " + std::to_string(rows.dim(0)) + " rows)", g.slice(0, rows.dim(0)), rows, floor);
      double n2 = 0;
      for (float v : g) n2 += static_cast<double>(v) * v;
      const double want = f.scalar("grad_norm/" + p.name);
      INFO(what << " norm: glia " << std::sqrt(n2) << ", torch " << want);
      CHECK(std::fabs(std::sqrt(n2) - want) <= kRtol * std::max(want, floor));
      ++partial;
    }
  }
  INFO(full << " gradients compared in full, " << partial << " in part");
  CHECK(full + partial == static_cast<Index>(params.size()));
  if (kind == "bn") CHECK(partial == 0);

  for (auto& b : bufs) check_close(kind + " buffer " + b.name, *b.tensor, f.raw("buffer/" + b.name));
}

}  // namespace

TEST_CASE("golden: reference network with BatchNorm matches PyTorch (one training step)", "[golden]") {
  reference_net_case("bn");
}

TEST_CASE("golden: reference network with GroupNorm matches PyTorch (one training step)", "[golden]") {
  reference_net_case("gn");
}

TEST_CASE("golden: reference network with LayerNorm matches PyTorch (one training step)", "[golden]") {
  reference_net_case("ln");
}

// ---- The fixture reader ----------------------------------------------------------------------------

namespace {

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string write_temp(const std::string& tag, const std::vector<char>& bytes) {
  static const std::string unique = std::to_string(std::random_device{}());  // concurrent runs
  const auto path = std::filesystem::temp_directory_path() / ("glia_golden_" + unique + "_" + tag + ".glfix");
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path.string();
}

}  // namespace

TEST_CASE("golden: the fixture reader reports bad files by file and tensor", "[golden]") {
  using Catch::Matchers::Contains;
  const std::string good = std::string(GLIA_TEST_FIXTURES) + "/linear.glfix";
  const std::vector<char> bytes = read_bytes(good);
  REQUIRE(bytes.size() > 64);

  const Fixture f = glia::testing::load_fixture(good);
  CHECK(f.has("x"));
  CHECK_THROWS_WITH(f.raw("no_such_tensor"), Contains("linear.glfix") && Contains("no_such_tensor"));
  CHECK_THROWS_AS(glia::testing::load_fixture(good + ".missing"), glia::IoError);

  std::vector<char> bad_magic = bytes;
  bad_magic[0] = 'X';
  const std::string p1 = write_temp("bad_magic", bad_magic);
  CHECK_THROWS_WITH(glia::testing::load_fixture(p1), Contains(p1) && Contains("magic"));

  // Cut inside the data of the last tensor ("dbias"): the message names the file and tensor.
  std::vector<char> truncated(bytes.begin(), bytes.end() - 3);
  const std::string p2 = write_temp("truncated", truncated);
  CHECK_THROWS_AS(glia::testing::load_fixture(p2), glia::FormatError);
  CHECK_THROWS_WITH(glia::testing::load_fixture(p2), Contains(p2) && Contains("dbias") && Contains("truncated"));

  std::vector<char> trailing = bytes;
  trailing.push_back('\0');
  const std::string p3 = write_temp("trailing", trailing);
  CHECK_THROWS_WITH(glia::testing::load_fixture(p3), Contains("trailing"));

  // First record: 8 magic + 4 count + 4 name length + name ("config", 6) + 4 dtype.
  std::vector<char> bad_dtype = bytes;
  bad_dtype[8 + 4 + 4 + 6] = 9;
  const std::string p4 = write_temp("bad_dtype", bad_dtype);
  CHECK_THROWS_WITH(glia::testing::load_fixture(p4), Contains("config") && Contains("dtype"));

  for (const auto& p : {p1, p2, p3, p4}) std::remove(p.c_str());
}
