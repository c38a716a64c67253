// ONNX export (model_io/onnx_export.hpp): the written bytes decoded with a protobuf reader
// (tests/support/protobuf_reader.hpp) and checked field by field: the graph's inputs and
// outputs, every op and its attributes, the initializers' shapes and values, the metadata; and
// the refusal of a layer with no ONNX form. ONNX Runtime itself runs in scripts/check-onnx.
#include <catch2/catch.hpp>

#include <glia/model_io/onnx_export.hpp>
#include <glia/models/reference_net.hpp>
#include <glia/nn/loss.hpp>

#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "support/protobuf_reader.hpp"
#include "support/run_support.hpp"

using namespace glia;
using glia_test::ProtoMessage;

namespace {

struct OnnxNode {
  std::string op, name;
  std::vector<std::string> inputs, outputs;
  std::map<std::string, ProtoMessage> attrs;
  std::int64_t i(const std::string& a) const { return attrs.at(a).int64(3); }
  float f(const std::string& a) const { return attrs.at(a).float32(2); }
  std::string s(const std::string& a) const { return attrs.at(a).string(4); }
  std::vector<std::int64_t> ints(const std::string& a) const { return attrs.at(a).int64s(8); }
};

struct OnnxInit {
  std::vector<std::int64_t> dims;
  std::int64_t type = 0;
  std::string raw;
  std::vector<float> floats() const {
    std::vector<float> v(raw.size() / 4);
    if (!v.empty()) std::memcpy(v.data(), raw.data(), raw.size());
    return v;
  }
  std::vector<std::int64_t> int64s() const {
    std::vector<std::int64_t> v(raw.size() / 8);
    if (!v.empty()) std::memcpy(v.data(), raw.data(), raw.size());
    return v;
  }
};

// A ValueInfoProto's name, element type and dimensions ("N" for a dim_param N).
std::string value_info(const ProtoMessage& v) {
  const ProtoMessage tensor = v.message(2).message(1);
  std::string s = v.string(1) + ":" + std::to_string(tensor.int64(1)) + "[";
  for (const ProtoMessage& d : tensor.message(2).messages(1))
    s += (s.back() == '[' ? "" : ",") + (d.has(2) ? d.string(2) : std::to_string(d.int64(1)));
  return s + "]";
}

// The decoded model: the fields the exporter writes, by ONNX's field numbers.
struct OnnxModel {
  explicit OnnxModel(const std::string& bytes) : proto(bytes) {
    const ProtoMessage graph = proto.message(7);
    for (const ProtoMessage& n : graph.messages(1)) {
      OnnxNode node{n.string(4), n.string(3), n.strings(1), n.strings(2), {}};
      for (const ProtoMessage& a : n.messages(5)) node.attrs.emplace(a.string(1), a);
      nodes.push_back(std::move(node));
    }
    for (const ProtoMessage& t : graph.messages(5)) inits[t.string(8)] = OnnxInit{t.int64s(1), t.int64(2), t.string(9)};
    for (const ProtoMessage& v : graph.messages(11)) inputs.push_back(value_info(v));
    for (const ProtoMessage& v : graph.messages(12)) outputs.push_back(value_info(v));
    for (const ProtoMessage& e : proto.messages(14)) metadata[e.string(1)] = e.string(2);
  }
  std::vector<std::string> ops() const {
    std::vector<std::string> v;
    for (const OnnxNode& n : nodes) v.push_back(n.op);
    return v;
  }
  const OnnxNode& node(const std::string& name) const {
    for (const OnnxNode& n : nodes)
      if (n.name == name) return n;
    throw std::runtime_error("no node " + name);
  }
  std::size_t count(const std::string& op) const {
    std::size_t c = 0;
    for (const OnnxNode& n : nodes) c += n.op == op;
    return c;
  }
  ProtoMessage proto;
  std::vector<OnnxNode> nodes;
  std::map<std::string, OnnxInit> inits;
  std::vector<std::string> inputs, outputs;
  std::map<std::string, std::string> metadata;
};

// Every node input is the graph input, an initializer, "" (an omitted optional input) or an
// earlier node's output; every output is new; the last node writes "logits".
void check_topology(const OnnxModel& m) {
  std::set<std::string> known{"input", ""};
  for (const auto& i : m.inits) known.insert(i.first);
  for (const OnnxNode& n : m.nodes) {
    for (const std::string& in : n.inputs) {
      INFO(n.name << " reads " << in);
      CHECK(known.count(in) == 1);
    }
    for (const std::string& out : n.outputs) CHECK(known.insert(out).second);
  }
  REQUIRE(!m.nodes.empty());
  CHECK(m.nodes.back().outputs == std::vector<std::string>{"logits"});
}

template <typename M>
void randomize(M& model, std::uint64_t seed) {
  Rng rng(seed);
  model.reset_parameters(rng);
  for (auto& p : parameters(model))
    for (float& v : p.param->value) v = static_cast<float>(rng.uniform(-1, 1));
  for (auto& b : buffers(model))
    for (float& v : *b.tensor) v = static_cast<float>(rng.uniform(0.5, 1.5));
}

bool same_values(const OnnxInit& init, const Tensor<float>& t) {
  const std::vector<float> v = init.floats();
  return init.type == 1 && static_cast<Index>(v.size()) == t.size() &&
         std::memcmp(v.data(), t.data(), v.size() * sizeof(float)) == 0;
}

std::unique_ptr<Sequential<float>> spec_model(const std::string& text) {
  Rng rng(3);
  auto m = model_from_json_text<float>(text, "test spec", rng);
  randomize(*m, 4);
  return m;
}

}  // namespace

TEST_CASE("ProtoWriter writes the wire format's documented encodings", "[onnx]") {
  ProtoWriter w;
  w.int64(1, 150).string(2, "testing").int64(3, -1).float32(4, 1.0f);
  const std::string expected = std::string("\x08\x96\x01", 3) + std::string("\x12\x07testing", 9) +
                               std::string("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11) + std::string("\x25\x00\x00\x80\x3f", 5);
  CHECK(w.bytes() == expected);
  const ProtoMessage m(w.bytes());
  CHECK(m.int64(1) == 150);
  CHECK(m.string(2) == "testing");
  CHECK(m.int64(3) == -1);
  CHECK(m.float32(4) == 1.0f);
  CHECK_THROWS_WITH(ProtoMessage(std::string("\x12\x09testing", 9)), Catch::Contains("byte offset 0"));
}

TEST_CASE("The BatchNorm reference network exports as Conv, BatchNormalization, Relu, MaxPool, Add", "[onnx]") {
  auto net = make_reference_net<float>();
  randomize(*net, 1);
  OnnxExportSummary summary;
  const OnnxModel m(onnx_model_bytes(*net, Shape{3, 32, 32}, {{"normalization", "{\"mean\":[0.5],\"std\":[0.25]}"}}, {}, &summary));
  CHECK(m.proto.int64(1) == 8);  // IR version
  CHECK(m.proto.string(2) == "glia");
  const ProtoMessage opset = m.proto.message(8);
  CHECK(opset.string(1).empty());
  CHECK(opset.int64(2) == 17);
  CHECK(m.inputs == std::vector<std::string>{"input:1[N,3,32,32]"});
  CHECK(m.outputs == std::vector<std::string>{"logits:1[N,10,1,1]"});
  CHECK(m.metadata.at("normalization") == "{\"mean\":[0.5],\"std\":[0.25]}");
  check_topology(m);

  const std::vector<std::string> block{"Conv", "BatchNormalization", "Relu"};
  std::vector<std::string> want;
  auto add = [&](std::initializer_list<std::string> ops) { want.insert(want.end(), ops); };
  for (int i = 0; i < 2; ++i) add({"Conv", "BatchNormalization", "Relu"});
  add({"Conv", "MaxPool", "Conv", "BatchNormalization", "Relu"});
  for (int i = 0; i < 2; ++i) add({"Conv", "BatchNormalization", "Relu"});
  add({"Add", "Conv", "MaxPool", "Conv", "BatchNormalization", "Relu"});
  for (int i = 0; i < 2; ++i) add({"Conv", "BatchNormalization", "Relu"});
  add({"Add", "GlobalAveragePool", "Conv"});
  CHECK(m.ops() == want);  // no Dropout: the identity at inference
  CHECK(summary.nodes == m.nodes.size());
  CHECK(summary.ops.at("Conv") == 11);

  const OnnxNode& c1 = m.node("C1.conv");
  CHECK(c1.inputs == std::vector<std::string>{"input", "C1.conv.weight", "C1.conv.bias"});
  CHECK(c1.ints("kernel_shape") == std::vector<std::int64_t>{3, 3});
  CHECK(c1.ints("pads") == std::vector<std::int64_t>{1, 1, 1, 1});
  CHECK(c1.ints("strides") == std::vector<std::int64_t>{1, 1});
  CHECK(c1.ints("dilations") == std::vector<std::int64_t>{1, 1});
  CHECK(c1.i("group") == 1);
  CHECK(m.node("c3").ints("pads") == std::vector<std::int64_t>{0, 0, 0, 0});
  CHECK(m.node("P1").ints("kernel_shape") == std::vector<std::int64_t>{2, 2});
  CHECK(m.node("P1").ints("strides") == std::vector<std::int64_t>{2, 2});
  const OnnxNode& bn = m.node("R1.body.C4.norm");
  CHECK(bn.inputs == std::vector<std::string>{"R1.body.C4.conv", "R1.body.C4.norm.weight", "R1.body.C4.norm.bias",
                                              "R1.body.C4.norm.running_mean", "R1.body.C4.norm.running_var"});
  CHECK(bn.f("epsilon") == 1e-5f);
  CHECK(m.node("R1").inputs == std::vector<std::string>{"R1.body.C5.norm/Relu", "C3.norm/Relu"});
  CHECK(m.nodes.back().inputs[0] == "GAP");

  // Every parameter and buffer, under its glia name, with its shape and bit-identical values.
  CHECK(m.inits.size() == parameters(*net).size() + buffers(*net).size());
  for (auto& p : parameters(*net)) {
    INFO(p.name);
    REQUIRE(m.inits.count(p.name) == 1);
    CHECK(same_values(m.inits.at(p.name), p.param->value));
  }
  for (auto& b : buffers(*net)) CHECK(same_values(m.inits.at(b.name), *b.tensor));
  CHECK(m.inits.at("C2.conv.weight").dims == std::vector<std::int64_t>{16, 16, 3, 3});
  CHECK(m.inits.at("c10.bias").dims == std::vector<std::int64_t>{10});
}

TEST_CASE("GroupNorm exports as its exact decomposition, per-channel affine and fused ReLU", "[onnx]") {
  for (NormKind k : {NormKind::Group, NormKind::Layer}) {
    ReferenceNetConfig cfg;
    cfg.norm = k;
    auto net = make_reference_net<float>(cfg);
    randomize(*net, 2);
    const OnnxModel m(onnx_model_bytes(*net, Shape{3, 32, 32}));
    check_topology(m);
    CHECK(m.count("GroupNormalization") == 0);
    CHECK(m.count("InstanceNormalization") == 0);
    std::vector<std::string> c1;
    for (const OnnxNode& n : m.nodes)
      if (n.name.rfind("C1.norm", 0) == 0) c1.push_back(n.op);
    CHECK(c1 == std::vector<std::string>{"Reshape", "ReduceMean", "Sub", "Mul", "ReduceMean", "Add", "Sqrt", "Div", "Shape",
                                         "Reshape", "Mul", "Add", "Relu"});
    const OnnxInit& shape = m.inits.at("C1.norm/group_shape");
    CHECK(shape.type == 7);
    CHECK(shape.int64s() == std::vector<std::int64_t>{0, k == NormKind::Group ? 2 : 1, -1});
    CHECK(m.node("C1.norm/mean").ints("axes") == std::vector<std::int64_t>{2});
    CHECK(m.node("C1.norm/mean").i("keepdims") == 1);
    const OnnxNode& eps = m.node("C1.norm/var_eps");
    CHECK(m.inits.at(eps.inputs[1]).dims.empty());
    CHECK(m.inits.at(eps.inputs[1]).floats() == std::vector<float>{1e-5f});
    const OnnxInit& gamma = m.inits.at("C1.norm.weight");
    CHECK(gamma.dims == std::vector<std::int64_t>{16, 1, 1});
    CHECK(same_values(gamma, dynamic_cast<AffineNorm<float>&>(dynamic_cast<Sequential<float>&>((*net)[0])[1]).weight().value));
    CHECK(m.node("C1.norm").inputs == std::vector<std::string>{"C1.norm/scale", "C1.norm.bias"});
  }
}

TEST_CASE("Opset 18 gives ReduceMean its axes as an input; other opsets and inputs are refused", "[onnx]") {
  ReferenceNetConfig cfg;
  cfg.norm = NormKind::Group;
  auto net = make_reference_net<float>(cfg);
  OnnxExportOptions o;
  o.opset = 18;
  const OnnxModel m(onnx_model_bytes(*net, Shape{3, 32, 32}, {}, o));
  CHECK(m.proto.message(8).int64(2) == 18);
  const OnnxNode& mean = m.node("C1.norm/mean");
  REQUIRE(mean.inputs.size() == 2);
  CHECK(m.inits.at(mean.inputs[1]).int64s() == std::vector<std::int64_t>{2});
  CHECK(mean.attrs.count("axes") == 0);
  o.opset = 16;
  CHECK_THROWS_WITH(onnx_model_bytes(*net, Shape{3, 32, 32}, {}, o), Catch::Contains("opset 16"));
  CHECK_THROWS_AS(onnx_model_bytes(*net, Shape{3, 32}), ValueError);
  CHECK_THROWS_AS(onnx_model_bytes(*net, Shape{4, 32, 32}), ShapeError);
}

TEST_CASE("Every other layer type exports with its attributes", "[onnx]") {
  auto net = spec_model(R"({"input": [2, 5, 6], "layers": [
    {"type": "Upsample", "scale_factor": 2, "name": "up"},
    {"type": "AdaptiveAvgPool2d", "output_size": [4, 3], "name": "adapt"},
    {"type": "AvgPool2d", "kernel_size": 2, "stride": 1, "padding": 1, "count_include_pad": false, "name": "avg"},
    {"type": "LeakyReLU", "negative_slope": 0.2, "name": "leaky"}, {"type": "Sigmoid", "name": "sig"},
    {"type": "Tanh", "name": "tanh"}, {"type": "GELU", "name": "gelu"}, {"type": "GELU", "approximate": "tanh", "name": "gelut"},
    {"type": "SiLU", "name": "silu"}, {"type": "Hardswish", "name": "hs"}, {"type": "Identity", "name": "id"},
    {"type": "Dropout", "p": 0.5, "name": "drop"},
    {"type": "LayerNorm", "normalized_shape": [5, 4], "eps": 0.001, "name": "ln"},
    {"type": "LayerNorm", "normalized_shape": 4, "elementwise_affine": false, "name": "ln0"},
    {"type": "Linear", "in_features": 40, "out_features": 6, "name": "fc"},
    {"type": "BatchNorm1d", "num_features": 6, "name": "bn1"},
    {"type": "Linear", "in_features": 6, "out_features": 3, "bias": false, "name": "head"}]})");
  const OnnxModel m(onnx_model_bytes(*net, Shape{2, 5, 6}, {{"classes", "[\"a\",\"b\",\"c\"]"}}));
  check_topology(m);
  CHECK(m.outputs == std::vector<std::string>{"logits:1[N,3]"});
  CHECK(m.metadata.at("classes") == "[\"a\",\"b\",\"c\"]");
  const OnnxNode& up = m.node("up");
  CHECK(up.op == "Resize");
  CHECK(up.inputs[1].empty());
  CHECK(m.inits.at(up.inputs[2]).floats() == std::vector<float>{1, 1, 2, 2});
  CHECK(up.s("mode") == "nearest");
  CHECK(up.s("coordinate_transformation_mode") == "asymmetric");
  CHECK(up.s("nearest_mode") == "floor");
  // 10 x 12 -> 4 x 3: rows 10/4 do not tile, so a MatMul by the window weights
  CHECK(m.node("adapt/MatMul").op == "MatMul");
  const OnnxInit& pool = m.inits.at("adapt/pool_matrix");
  CHECK(pool.dims == std::vector<std::int64_t>{120, 12});
  const std::vector<float> w = pool.floats();
  for (int j = 0; j < 12; ++j) {
    double sum = 0;
    for (int k = 0; k < 120; ++k) sum += w[static_cast<std::size_t>(k * 12 + j)];
    CHECK(sum == Approx(1.0));
  }
  CHECK(w[0] == 1.0f / 12);   // output (0, 0): rows 0..2, columns 0..3
  CHECK(w[static_cast<std::size_t>((2 * 12 + 3) * 12)] == 1.0f / 12);
  CHECK(w[static_cast<std::size_t>((3 * 12 + 0) * 12)] == 0.0f);
  CHECK(m.node("adapt").op == "Reshape");
  CHECK(m.inits.at("adapt/out_shape").int64s() == std::vector<std::int64_t>{0, 0, 4, 3});
  const OnnxNode& avg = m.node("avg");
  CHECK(avg.op == "AveragePool");
  CHECK(avg.i("count_include_pad") == 0);
  CHECK(avg.ints("pads") == std::vector<std::int64_t>{1, 1, 1, 1});
  CHECK(avg.ints("strides") == std::vector<std::int64_t>{1, 1});
  CHECK(m.node("leaky").f("alpha") == 0.2f);
  CHECK(m.node("sig").op == "Sigmoid");
  CHECK(m.node("tanh").op == "Tanh");
  CHECK(m.node("gelu/Erf").op == "Erf");
  CHECK(m.inits.at(m.node("gelu/scaled").inputs[1]).floats() == std::vector<float>{0.70710678f});
  CHECK(m.node("gelut/Tanh").op == "Tanh");
  CHECK(m.inits.at(m.node("gelut/kappa").inputs[1]).floats() == std::vector<float>{0.044715f});
  CHECK(m.node("gelut").op == "Mul");
  CHECK(m.node("silu").inputs == std::vector<std::string>{"gelut", "silu/Sigmoid"});
  CHECK(m.node("hs").op == "HardSwish");
  CHECK(m.node("ln").inputs == std::vector<std::string>{"hs", "ln.weight", "ln.bias"});  // id, drop: no nodes
  CHECK(m.node("ln").i("axis") == -2);
  CHECK(m.node("ln").f("epsilon") == 0.001f);
  CHECK(m.node("ln0").i("axis") == -1);
  CHECK(m.inits.at("ln0/ones").floats() == std::vector<float>(4, 1.0f));
  CHECK(m.node("fc/Flatten").i("axis") == 1);
  CHECK(m.node("fc").op == "Gemm");
  CHECK(m.node("fc").i("transB") == 1);
  CHECK(m.inits.at("fc.weight").dims == std::vector<std::int64_t>{6, 40});
  CHECK(m.node("bn1").op == "BatchNormalization");
  CHECK(m.node("bn1").inputs[0] == "fc");
  CHECK(m.node("logits").inputs == std::vector<std::string>{"bn1", "head.weight"});  // no bias
  CHECK(m.count("Identity") == 0);
  CHECK(m.count("Dropout") == 0);
}

TEST_CASE("Residual shortcuts, tiling adaptive pools and Flatten export as Add, AveragePool, Flatten", "[onnx]") {
  auto net = spec_model(R"({"input": [3, 8, 8], "layers": [
    {"type": "Residual", "name": "res",
     "body": [{"type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}],
     "shortcut": {"type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 1, "stride": 2, "bias": false}},
    {"type": "GroupNorm", "num_groups": 2, "num_channels": 4, "name": "gn"},
    {"type": "AdaptiveAvgPool2d", "output_size": 2, "name": "ap"},
    {"type": "AdaptiveAvgPool2d", "output_size": 1, "name": "gap"},
    {"type": "Flatten", "name": "flat"}, {"type": "Identity", "name": "last"}]})");
  const OnnxModel m(onnx_model_bytes(*net, Shape{3, 8, 8}));
  check_topology(m);
  CHECK(m.node("res").inputs == std::vector<std::string>{"res.body.0", "res.shortcut"});
  CHECK(m.node("res.body.0").ints("strides") == std::vector<std::int64_t>{2, 2});
  CHECK(m.node("res.shortcut").inputs == std::vector<std::string>{"input", "res.shortcut.weight"});
  CHECK(m.node("gn").inputs[0] == "gn/scale");
  CHECK(m.count("Relu") == 0);
  CHECK(m.node("ap").op == "AveragePool");
  CHECK(m.node("ap").ints("kernel_shape") == std::vector<std::int64_t>{2, 2});
  CHECK(m.node("gap").op == "GlobalAveragePool");
  CHECK(m.node("logits").op == "Flatten");  // the Identity adds nothing: Flatten writes the output
  CHECK(m.outputs == std::vector<std::string>{"logits:1[N,4]"});
}

namespace {

// A layer the exporter does not know.
class Doubler : public Module<float> {
 public:
  std::string name() const override { return "Doubler(x2)"; }
  Shape output_shape(const Shape& in) const override { return in; }
  const Tensor<float>& forward(const Tensor<float>& x, Mode) override { return x; }
  const Tensor<float>& backward(const Tensor<float>& dy) override { return dy; }
};

}  // namespace

TEST_CASE("A layer with no ONNX form is refused with its path and name", "[onnx]") {
  Sequential<float> net;
  net.emplace<Conv2d<float>>(3, 4, 3);
  auto body = std::make_unique<Sequential<float>>();
  body->add(std::make_unique<ReLU<float>>(), "act");
  body->add(std::make_unique<Doubler>(), "odd");
  net.add(std::make_unique<Residual<float>>(std::move(body)), "res");
  CHECK_THROWS_WITH(onnx_model_bytes(net, Shape{3, 8, 8}), Catch::Contains("'res.body.odd'") && Catch::Contains("Doubler(x2)"));
  Sequential<float> soft;
  soft.emplace<Linear<float>>(4, 2);
  soft.add(std::make_unique<LogSoftmax<float>>(), "logp");
  CHECK_THROWS_AS(onnx_model_bytes(soft, Shape{4, 1, 1}), ValueError);
  CHECK_THROWS_WITH(onnx_model_bytes(soft, Shape{4, 1, 1}), Catch::Contains("'logp'"));
  Doubler alone;
  CHECK_THROWS_WITH(onnx_model_bytes(alone, Shape{1, 2, 2}), Catch::Contains("(the model)"));
}

TEST_CASE("export_onnx writes the bytes; a model file exports with its metadata", "[onnx]") {
  glia_test::TempDir dir;
  auto net = make_reference_net<float>();
  randomize(*net, 5);
  const OnnxExportSummary s = export_onnx(dir.path + "/ref.onnx", *net, Shape{3, 32, 32});
  std::ifstream in(dir.path + "/ref.onnx", std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  CHECK(bytes.str() == onnx_model_bytes(*net, Shape{3, 32, 32}));
  CHECK(s.bytes == bytes.str().size());
  CHECK(s.initializers == 54);

  save_model(dir.path + "/ref.safetensors", *net, Shape{3, 32, 32}, {{"classes", "[\"a\"]"}});
  export_model_file_onnx(dir.path + "/ref.safetensors", dir.path + "/file.onnx");
  std::ifstream f(dir.path + "/file.onnx", std::ios::binary);
  std::stringstream fb;
  fb << f.rdbuf();
  const OnnxModel m(fb.str());
  CHECK(m.metadata.at("classes") == "[\"a\"]");
  CHECK(m.metadata.count("spec") == 1);
  CHECK(m.metadata.count("format") == 0);
  for (auto& p : parameters(*net)) CHECK(same_values(m.inits.at(p.name), p.param->value));
  CHECK_THROWS_AS(export_onnx(dir.path + "/no/such/dir/x.onnx", *net, Shape{3, 32, 32}), IoError);
}

namespace {

// Conv2d's groups and dilation, when this glia's Conv2d has them (nn/conv2d.hpp).
template <typename C>
void check_grouped_conv() {
  if constexpr (onnx_detail::HasGroups<C>::value && onnx_detail::HasDilation<C>::value) {
    Sequential<float> net;
    net.add(std::make_unique<C>(4, 8, 3, 2, 1, 2, 2, true), "g");
    net.add(std::make_unique<C>(8, 8, 3, 1, 1, 1, 8, false), "dw");
    randomize(net, 6);
    const OnnxModel m(onnx_model_bytes(net, Shape{4, 9, 9}));
    check_topology(m);
    CHECK(m.node("g").i("group") == 2);
    CHECK(m.node("g").ints("dilations") == std::vector<std::int64_t>{2, 2});
    CHECK(m.node("g").ints("strides") == std::vector<std::int64_t>{2, 2});
    CHECK(m.inits.at("g.weight").dims == std::vector<std::int64_t>{8, 2, 3, 3});
    CHECK(m.node("logits").i("group") == 8);
    CHECK(m.inits.at("dw.weight").dims == std::vector<std::int64_t>{8, 1, 3, 3});
  } else {
    WARN("this glia's Conv2d has no groups/dilation: exported as group 1, dilation 1");
    Sequential<float> net;
    net.add(std::make_unique<C>(4, 8, 3), "g");
    CHECK(OnnxModel(onnx_model_bytes(net, Shape{4, 9, 9})).node("logits").i("group") == 1);
  }
}

}  // namespace

TEST_CASE("Grouped and dilated convolutions export their group and dilations", "[onnx]") { check_grouped_conv<Conv2d<float>>(); }

#ifdef GLIA_ONNX_HAS_CONV_TRANSPOSE
TEST_CASE("ConvTranspose2d exports as ConvTranspose with PyTorch's weight layout", "[onnx]") {
  Sequential<float> net;
  net.add(std::make_unique<ConvTranspose2d<float>>(4, 6, 3, 2, 1, 1, 2, true, 1), "up");
  randomize(net, 7);
  const OnnxModel m(onnx_model_bytes(net, Shape{4, 5, 5}));
  check_topology(m);
  const OnnxNode& n = m.node("logits");
  CHECK(n.op == "ConvTranspose");
  CHECK(n.inputs == std::vector<std::string>{"input", "up.weight", "up.bias"});
  CHECK(n.i("group") == 2);
  CHECK(n.ints("output_padding") == std::vector<std::int64_t>{1, 1});
  CHECK(n.ints("pads") == std::vector<std::int64_t>{1, 1, 1, 1});
  CHECK(n.ints("strides") == std::vector<std::int64_t>{2, 2});
  CHECK(m.inits.at("up.weight").dims == std::vector<std::int64_t>{4, 3, 3, 3});
  CHECK(m.outputs == std::vector<std::string>{"logits:1[N,6,10,10]"});
}
#endif
