// glia/model_io/onnx_export.hpp: ONNX export of glia models (inference graphs), written with
// model_io/protobuf_writer.hpp (no libprotobuf). docs/interop.md shows the checks.
//
// Contract:
// - export_onnx(path, model, input, metadata, options) writes (atomically) an ONNX ModelProto,
//   opset 17 and IR version 8 by default (ONNX 1.12-era readers), of model's eval-mode forward:
//     graph input "input": float [N, C, H, W] (input = [C, H, W]; "N" a dynamic dimension), the
//       normalised tensor the first layer sees; graph output "logits": float, model's output
//       shape with the batch dimension "N";
//     every parameter and BatchNorm buffer an initializer (float32) under its glia name
//       ("C1.conv.weight", "C1.norm.running_mean"), the same names as save_model's;
//     metadata, written as it is, as metadata_props: e.g. "classes" and "normalization" (the
//       input's x = (pixel / 255 - mean[c]) / std[c], JSON {"mean": [...], "std": [...]}).
//   Layers: Conv2d -> Conv (group and dilation from the layer when it has them), ConvTranspose2d
//   -> ConvTranspose (when glia has nn/conv_transpose2d.hpp), Linear -> Gemm
//   (after a Flatten when its input is not 2-d), BatchNorm2d/1d -> BatchNormalization, GroupNorm
//   -> Reshape [N, G, -1], ReduceMean, Sub, Mul, ReduceMean, Add eps, Sqrt, Div, Reshape back,
//   per-channel Mul and Add, LayerNorm -> LayerNormalization, a norm's fused ReLU -> Relu, ReLU,
//   LeakyReLU, Sigmoid, Tanh, HardSwish as themselves, GELU -> Erf (or Tanh) arithmetic, SiLU ->
//   x * Sigmoid(x), Identity and Dropout -> nothing, MaxPool2d -> MaxPool, AvgPool2d ->
//   AveragePool, GlobalAvgPool2d -> GlobalAveragePool, AdaptiveAvgPool2d -> GlobalAveragePool,
//   AveragePool (when the windows tile the input) or a MatMul by its pooling matrix, Flatten ->
//   Flatten, Upsample -> Resize (nearest, asymmetric, floor), Residual -> Add of its branches,
//   Sequential -> its children in order. Nodes are named by the layer's path
//   ("R1.body.C4.conv"), a layer's helper nodes "<path>/<op>".
// - Throws ValueError for a layer with no ONNX form here, naming its path and name(); for an
//   input that is not [C, H, W] or options outside opset 17..21; ShapeError (the layer's own)
//   when the model does not take that input; IoError when the file cannot be written.
// - onnx_model_bytes(...) is the same without the file. export_model_file_onnx(model, onnx)
//   exports a model file (model_io/model_file.hpp: spec, weights, metadata) for `glia export`.
// Nothing is cached between calls; the model is only read.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "glia/core/atomic_file.hpp"
#include "glia/model_io/model_file.hpp"
#include "glia/model_io/protobuf_writer.hpp"
#include "glia/version.hpp"
#if __has_include("glia/nn/conv_transpose2d.hpp")
#include "glia/nn/conv_transpose2d.hpp"
#define GLIA_ONNX_HAS_CONV_TRANSPOSE 1
#endif

namespace glia {

struct OnnxExportOptions {
  std::int64_t opset = 17;       // the default ("") domain's opset, 17..21
  std::int64_t ir_version = 8;   // 8 for opset 17-18, 9 for 19-20, 10 for 21
  std::string producer = "glia";
  std::string graph_name = "glia";
};

// What was written, for a command line to report.
struct OnnxExportSummary {
  std::size_t bytes = 0, nodes = 0, initializers = 0;
  std::map<std::string, std::size_t> ops;  // node count per op type
};

namespace onnx_detail {

// Field numbers of onnx/onnx.proto.
enum : std::uint32_t {
  kModelIrVersion = 1, kModelProducerName = 2, kModelProducerVersion = 3, kModelGraph = 7, kModelOpset = 8,
  kModelMetadata = 14, kOpsetDomain = 1, kOpsetVersion = 2, kEntryKey = 1, kEntryValue = 2,
  kGraphNode = 1, kGraphName = 2, kGraphInitializer = 5, kGraphInput = 11, kGraphOutput = 12,
  kNodeInput = 1, kNodeOutput = 2, kNodeName = 3, kNodeOpType = 4, kNodeAttribute = 5,
  kAttrName = 1, kAttrF = 2, kAttrI = 3, kAttrS = 4, kAttrInts = 8, kAttrType = 20,
  kTensorDims = 1, kTensorDataType = 2, kTensorName = 8, kTensorRawData = 9,
  kValueName = 1, kValueType = 2, kTypeTensor = 1, kTensorElemType = 1, kTensorShape = 2,
  kShapeDim = 1, kDimValue = 1, kDimParam = 2
};
enum : std::int64_t { kAttrFloat = 1, kAttrInt = 2, kAttrString = 3, kAttrIntList = 7 };
enum : std::int64_t { kFloat = 1, kInt64 = 7 };

inline ProtoWriter attr(const std::string& name, std::int64_t type) {
  ProtoWriter a;
  a.string(kAttrName, name).int64(kAttrType, type);
  return a;
}
inline ProtoWriter attr_i(const std::string& name, std::int64_t v) { return std::move(attr(name, kAttrInt).int64(kAttrI, v)); }
inline ProtoWriter attr_f(const std::string& name, double v) {
  return std::move(attr(name, kAttrFloat).float32(kAttrF, static_cast<float>(v)));
}
inline ProtoWriter attr_s(const std::string& name, const std::string& v) { return std::move(attr(name, kAttrString).string(kAttrS, v)); }
inline ProtoWriter attr_ints(const std::string& name, const std::vector<std::int64_t>& v) {
  return std::move(attr(name, kAttrIntList).repeated_int64(kAttrInts, v));
}

// A TensorProto with raw little-endian data.
inline ProtoWriter tensor_proto(const std::string& name, const std::vector<std::int64_t>& dims, std::int64_t type, const void* data,
                                std::size_t bytes) {
  ProtoWriter t;
  t.repeated_int64(kTensorDims, dims).int64(kTensorDataType, type).string(kTensorName, name).bytes(kTensorRawData, data, bytes);
  return t;
}

// A ValueInfoProto of a float tensor whose first dimension is the dynamic batch "N".
inline ProtoWriter batch_value_info(const std::string& name, const Shape& shape) {
  ProtoWriter dims;
  for (int d = 0; d < shape.rank(); ++d) {
    ProtoWriter dim;
    if (d == 0)
      dim.string(kDimParam, "N");
    else
      dim.int64(kDimValue, shape[d]);
    dims.message(kShapeDim, dim);
  }
  ProtoWriter tensor, type, info;
  tensor.int64(kTensorElemType, kFloat).message(kTensorShape, dims);
  type.message(kTypeTensor, tensor);
  info.string(kValueName, name).message(kValueType, type);
  return info;
}

struct Node {
  std::string op, name;
  std::vector<std::string> inputs, outputs;
  std::vector<ProtoWriter> attrs;
};

// The graph being built: nodes in topological order, initializers, unique value names.
class Graph {
 public:
  explicit Graph(std::int64_t opset) : opset_(opset) { used_ = {"input", "logits", ""}; }
  std::int64_t opset() const { return opset_; }

  // A unique name from hint ("x", "x_2", "x_3", ...).
  std::string fresh(const std::string& hint) {
    std::string name = hint.empty() ? "value" : hint;
    for (int k = 2; used_.count(name); ++k) name = detail::cat(hint, "_", k);
    used_.insert(name);
    return name;
  }
  // Adds a node with one output named after `name` and returns that output's name.
  std::string node(const std::string& op, std::vector<std::string> inputs, const std::string& name,
                   std::vector<ProtoWriter> attrs = {}) {
    const std::string out = fresh(name.empty() ? op : name);
    nodes_.push_back(Node{op, out, std::move(inputs), {out}, std::move(attrs)});
    return out;
  }
  template <typename T>
  std::string initializer(const std::string& name, const Tensor<T>& t, std::vector<std::int64_t> dims = {}) {
    if (dims.empty())
      for (int d = 0; d < t.rank(); ++d) dims.push_back(t.dim(d));
    const std::vector<float> v(t.begin(), t.end());
    return add_initializer(name, dims, kFloat, v.data(), v.size() * sizeof(float));
  }
  std::string floats(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& v) {
    return add_initializer(name, dims, kFloat, v.data(), v.size() * sizeof(float));
  }
  std::string int64s(const std::string& name, const std::vector<std::int64_t>& v) {
    return add_initializer(name, {static_cast<std::int64_t>(v.size())}, kInt64, v.data(), v.size() * sizeof(std::int64_t));
  }
  // A float scalar (rank 0), one initializer per value.
  std::string scalar(double value) {
    const float f = static_cast<float>(value);
    auto it = scalars_.find(f);
    if (it != scalars_.end()) return it->second;
    return scalars_[f] = add_initializer(detail::cat("const_", f), {}, kFloat, &f, sizeof f);
  }
  // Names the graph's result "logits": renames the node output `value`, or adds an Identity.
  void name_output(const std::string& value) {
    for (Node& n : nodes_)
      if (n.outputs[0] == value) {
        n.outputs[0] = n.name = "logits";
        return;
      }
    nodes_.push_back(Node{"Identity", "logits", {value}, {"logits"}, {}});
  }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::size_t initializer_count() const { return initializer_count_; }
  const ProtoWriter& initializers() const { return initializers_; }

 private:
  std::string add_initializer(const std::string& name, const std::vector<std::int64_t>& dims, std::int64_t type, const void* data,
                              std::size_t bytes) {
    const std::string n = fresh(name);
    initializers_.message(kGraphInitializer, tensor_proto(n, dims, type, data, bytes));
    ++initializer_count_;
    return n;
  }
  std::int64_t opset_;
  std::set<std::string> used_;
  std::vector<Node> nodes_;
  ProtoWriter initializers_;  // GraphProto.initializer fields
  std::size_t initializer_count_ = 0;
  std::map<float, std::string> scalars_;
};

// Conv2d's groups and dilation, when the layer has them (else 1).
template <typename C, typename = void>
struct HasGroups : std::false_type {};
template <typename C>
struct HasGroups<C, std::void_t<decltype(std::declval<const C&>().groups())>> : std::true_type {};
template <typename C, typename = void>
struct HasDilation : std::false_type {};
template <typename C>
struct HasDilation<C, std::void_t<decltype(std::declval<const C&>().dilation())>> : std::true_type {};
template <typename C>
std::int64_t conv_groups(const C& c) {
  if constexpr (HasGroups<C>::value) return static_cast<std::int64_t>(c.groups());
  return 1;
}
template <typename C>
std::int64_t conv_dilation(const C& c) {
  if constexpr (HasDilation<C>::value) return static_cast<std::int64_t>(c.dilation());
  return 1;
}

inline std::string sub(const std::string& path, const std::string& op) { return path.empty() ? op : path + "/" + op; }

// Walks a model and adds its layers to a Graph. Every emit_* returns the layer's output value,
// or "" when the module is not of its kinds; `shape` (batch 1) follows the values.
template <typename T>
class Emitter {
 public:
  explicit Emitter(Graph& g) : g_(g) {}

  std::string emit(Module<T>& m, const std::string& path, const std::string& x, Shape& shape) {
    std::string y = emit_container(m, path, x, shape);
    if (y.empty()) y = emit_weighted(m, path, x, shape);
    if (y.empty()) y = emit_norm(m, path, x, shape);
    if (y.empty()) y = emit_pool(m, path, x, shape);
    if (y.empty()) y = emit_pointwise(m, path, x);
    if (y.empty())
      throw ValueError(detail::cat("export_onnx: layer '", path.empty() ? "(the model)" : path, "' (", m.name(),
                                   ") has no ONNX form in glia's exporter"));
    shape = m.output_shape(shape);
    return y;
  }

 private:
  std::string emit_container(Module<T>& m, const std::string& path, const std::string& x, Shape& shape) {
    if (dynamic_cast<Sequential<T>*>(&m)) {
      std::string v = x;
      Shape s = shape;
      for (auto& [name, child] : m.children()) v = emit(*child, join_name(path, name), v, s);
      return v;
    }
    if (!dynamic_cast<Residual<T>*>(&m)) return "";
    std::string body, shortcut = x;
    for (auto& [name, child] : m.children()) {
      Shape s = shape;
      (name == "body" ? body : shortcut) = emit(*child, join_name(path, name), x, s);
    }
    return g_.node("Add", {body, shortcut}, path);
  }

  std::string emit_weighted(Module<T>& m, const std::string& path, const std::string& x, const Shape& shape) {
    if (auto* c = dynamic_cast<Conv2d<T>*>(&m)) {
      std::vector<std::string> in{x, g_.initializer(join_name(path, "weight"), c->weight().value)};
      if (c->has_bias()) in.push_back(g_.initializer(join_name(path, "bias"), c->bias().value));
      const std::int64_t k = c->kernel_size(), s = c->stride(), p = c->padding(), d = conv_dilation(*c);
      return g_.node("Conv", in, path,
                     attrs(attr_ints("dilations", {d, d}), attr_i("group", conv_groups(*c)), attr_ints("kernel_shape", {k, k}),
                           attr_ints("pads", {p, p, p, p}), attr_ints("strides", {s, s})));
    }
#ifdef GLIA_ONNX_HAS_CONV_TRANSPOSE
    if (auto* c = dynamic_cast<ConvTranspose2d<T>*>(&m)) {  // weight [Cin, Cout/G, k, k]: ONNX's layout too
      std::vector<std::string> in{x, g_.initializer(join_name(path, "weight"), c->weight().value)};
      if (c->has_bias()) in.push_back(g_.initializer(join_name(path, "bias"), c->bias().value));
      const std::int64_t k = c->kernel_size(), s = c->stride(), p = c->padding(), d = c->dilation(), op = c->output_padding();
      return g_.node("ConvTranspose", in, path,
                     attrs(attr_ints("dilations", {d, d}), attr_i("group", c->groups()), attr_ints("kernel_shape", {k, k}),
                           attr_ints("output_padding", {op, op}), attr_ints("pads", {p, p, p, p}), attr_ints("strides", {s, s})));
    }
#endif
    auto* l = dynamic_cast<Linear<T>*>(&m);
    if (!l) return "";
    const std::string flat = shape.rank() == 2 ? x : g_.node("Flatten", {x}, sub(path, "Flatten"), attrs(attr_i("axis", 1)));
    std::vector<std::string> in{flat, g_.initializer(join_name(path, "weight"), l->weight().value)};
    if (l->has_bias()) in.push_back(g_.initializer(join_name(path, "bias"), l->bias().value));
    return g_.node("Gemm", in, path, attrs(attr_i("transB", 1)));
  }

  std::string batchnorm(BatchNorm2d<T>& bn, const std::string& path, const std::string& x) {
    const std::string y = g_.node("BatchNormalization",
                                  {x, g_.initializer(join_name(path, "weight"), bn.weight().value),
                                   g_.initializer(join_name(path, "bias"), bn.bias().value),
                                   g_.initializer(join_name(path, "running_mean"), bn.running_mean()),
                                   g_.initializer(join_name(path, "running_var"), bn.running_var())},
                                  path, attrs(attr_f("epsilon", bn.eps())));
    return bn.activation() == Activation::ReLU ? g_.node("Relu", {y}, sub(path, "Relu")) : y;
  }

  std::string reduce_mean(const std::string& x, const std::string& name) {
    if (g_.opset() >= 18) return g_.node("ReduceMean", {x, g_.int64s(name + "_axes", {2})}, name, attrs(attr_i("keepdims", 1)));
    return g_.node("ReduceMean", {x}, name, attrs(attr_ints("axes", {2}), attr_i("keepdims", 1)));
  }

  // (x - mean) / sqrt(var + eps) over [N, G, C/G * H * W], then the per-channel affine.
  std::string groupnorm(GroupNorm<T>& gn, const std::string& path, const std::string& x) {
    const std::int64_t c = gn.channels();
    const std::string grouped =
        g_.node("Reshape", {x, g_.int64s(sub(path, "group_shape"), {0, gn.groups(), -1})}, sub(path, "Reshape"));
    const std::string mean = reduce_mean(grouped, sub(path, "mean"));
    const std::string centred = g_.node("Sub", {grouped, mean}, sub(path, "Sub"));
    const std::string var = reduce_mean(g_.node("Mul", {centred, centred}, sub(path, "square")), sub(path, "var"));
    const std::string stddev = g_.node("Sqrt", {g_.node("Add", {var, g_.scalar(gn.eps())}, sub(path, "var_eps"))}, sub(path, "Sqrt"));
    const std::string normed = g_.node("Div", {centred, stddev}, sub(path, "Div"));
    const std::string back = g_.node("Reshape", {normed, g_.node("Shape", {x}, sub(path, "Shape"))}, sub(path, "Reshape_back"));
    const std::string scaled =
        g_.node("Mul", {back, g_.initializer(join_name(path, "weight"), gn.weight().value, {c, 1, 1})}, sub(path, "scale"));
    const std::string y = g_.node("Add", {scaled, g_.initializer(join_name(path, "bias"), gn.bias().value, {c, 1, 1})}, path);
    return gn.activation() == Activation::ReLU ? g_.node("Relu", {y}, sub(path, "Relu")) : y;
  }

  std::string emit_norm(Module<T>& m, const std::string& path, const std::string& x, const Shape&) {
    if (auto* bn = dynamic_cast<BatchNorm2d<T>*>(&m)) return batchnorm(*bn, path, x);
    if (auto* b1 = dynamic_cast<BatchNorm1d<T>*>(&m)) return batchnorm(b1->as_2d(), path, x);
    if (auto* gn = dynamic_cast<GroupNorm<T>*>(&m)) return groupnorm(*gn, path, x);
    auto* ln = dynamic_cast<LayerNorm<T>*>(&m);
    if (!ln) return "";
    const auto d = static_cast<std::int64_t>(ln->normalized_shape().size());
    std::vector<std::string> in{x};
    if (ln->elementwise_affine()) {
      in.push_back(g_.initializer(join_name(path, "weight"), ln->weight().value));
      in.push_back(g_.initializer(join_name(path, "bias"), ln->bias().value));
    } else {
      std::vector<std::int64_t> dims(ln->normalized_shape().begin(), ln->normalized_shape().end());
      std::int64_t n = 1;
      for (std::int64_t v : dims) n *= v;
      in.push_back(g_.floats(sub(path, "ones"), dims, std::vector<float>(static_cast<std::size_t>(n), 1.0f)));
    }
    return g_.node("LayerNormalization", in, path, attrs(attr_i("axis", -d), attr_f("epsilon", ln->eps())));
  }

  // AdaptiveAvgPool2d: GlobalAveragePool, AveragePool when the windows tile the input, else a
  // MatMul of the [N, C, H*W] input by the [H*W, Ho*Wo] matrix of window weights.
  std::string adaptive(AdaptiveAvgPool2d<T>& p, const std::string& path, const std::string& x, const Shape& shape) {
    const Index h = shape[2], w = shape[3], ho = p.out_h(), wo = p.out_w();
    if (ho == 1 && wo == 1) return g_.node("GlobalAveragePool", {x}, path);
    if (h % ho == 0 && w % wo == 0)
      return g_.node("AveragePool", {x}, path, attrs(attr_ints("kernel_shape", {h / ho, w / wo}), attr_ints("strides", {h / ho, w / wo})));
    std::vector<float> m(static_cast<std::size_t>(h * w * ho * wo), 0.0f);
    for (Index i = 0; i < ho; ++i)
      for (Index j = 0; j < wo; ++j) {
        const Index h0 = adaptive_begin(i, ho, h), h1 = adaptive_end(i, ho, h), w0 = adaptive_begin(j, wo, w), w1 = adaptive_end(j, wo, w);
        for (Index a = h0; a < h1; ++a)
          for (Index b = w0; b < w1; ++b)
            m[static_cast<std::size_t>((a * w + b) * ho * wo + i * wo + j)] = 1.0f / static_cast<float>((h1 - h0) * (w1 - w0));
      }
    const std::string flat = g_.node("Reshape", {x, g_.int64s(sub(path, "flat_shape"), {0, 0, -1})}, sub(path, "Reshape"));
    const std::string pooled = g_.node("MatMul", {flat, g_.floats(sub(path, "pool_matrix"), {h * w, ho * wo}, m)}, sub(path, "MatMul"));
    return g_.node("Reshape", {pooled, g_.int64s(sub(path, "out_shape"), {0, 0, ho, wo})}, path);
  }

  std::string emit_pool(Module<T>& m, const std::string& path, const std::string& x, const Shape& shape) {
    if (auto* p = dynamic_cast<MaxPool2d<T>*>(&m))
      return g_.node("MaxPool", {x}, path,
                     attrs(attr_ints("kernel_shape", {p->kernel(), p->kernel()}), attr_ints("strides", {p->stride(), p->stride()})));
    if (auto* p = dynamic_cast<AvgPool2d<T>*>(&m)) {
      const std::int64_t pad = p->padding();
      return g_.node("AveragePool", {x}, path,
                     attrs(attr_i("count_include_pad", p->count_include_pad() ? 1 : 0),
                           attr_ints("kernel_shape", {p->kernel(), p->kernel()}), attr_ints("pads", {pad, pad, pad, pad}),
                           attr_ints("strides", {p->stride(), p->stride()})));
    }
    if (auto* p = dynamic_cast<AdaptiveAvgPool2d<T>*>(&m)) return adaptive(*p, path, x, shape);
    if (dynamic_cast<GlobalAvgPool2d<T>*>(&m)) return g_.node("GlobalAveragePool", {x}, path);
    if (dynamic_cast<Upsample<T>*>(&m))
      return g_.node("Resize", {x, "", g_.floats(sub(path, "scales"), {4}, {1, 1, 2, 2})}, path,
                     attrs(attr_s("coordinate_transformation_mode", "asymmetric"), attr_s("mode", "nearest"),
                           attr_s("nearest_mode", "floor")));
    if (dynamic_cast<Flatten<T>*>(&m)) return g_.node("Flatten", {x}, path, attrs(attr_i("axis", 1)));
    return "";
  }

  // x/2 * (1 + erf(x / sqrt 2)), or x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
  std::string gelu(bool tanh_form, const std::string& path, const std::string& x) {
    std::string t;
    if (tanh_form) {
      const std::string cube = g_.node("Mul", {g_.node("Mul", {x, x}, sub(path, "square")), x}, sub(path, "cube"));
      const std::string inner = g_.node("Add", {x, g_.node("Mul", {cube, g_.scalar(0.044715)}, sub(path, "kappa"))}, sub(path, "inner"));
      t = g_.node("Tanh", {g_.node("Mul", {inner, g_.scalar(0.7978845608028654)}, sub(path, "beta"))}, sub(path, "Tanh"));
    } else {
      t = g_.node("Erf", {g_.node("Mul", {x, g_.scalar(0.7071067811865476)}, sub(path, "scaled"))}, sub(path, "Erf"));
    }
    const std::string one_plus = g_.node("Add", {t, g_.scalar(1.0)}, sub(path, "one_plus"));
    return g_.node("Mul", {g_.node("Mul", {x, g_.scalar(0.5)}, sub(path, "half")), one_plus}, path);
  }

  std::string emit_pointwise(Module<T>& m, const std::string& path, const std::string& x) {
    if (dynamic_cast<Identity<T>*>(&m) || dynamic_cast<Dropout<T>*>(&m)) return x;  // nothing at inference
    if (dynamic_cast<ReLU<T>*>(&m)) return g_.node("Relu", {x}, path);
    if (auto* l = dynamic_cast<LeakyReLU<T>*>(&m)) return g_.node("LeakyRelu", {x}, path, attrs(attr_f("alpha", l->function().slope)));
    if (dynamic_cast<Sigmoid<T>*>(&m)) return g_.node("Sigmoid", {x}, path);
    if (dynamic_cast<Tanh<T>*>(&m)) return g_.node("Tanh", {x}, path);
    if (dynamic_cast<Hardswish<T>*>(&m)) return g_.node("HardSwish", {x}, path);
    if (dynamic_cast<SiLU<T>*>(&m)) return g_.node("Mul", {x, g_.node("Sigmoid", {x}, sub(path, "Sigmoid"))}, path);
    if (auto* gl = dynamic_cast<GELU<T>*>(&m)) return gelu(gl->function().tanh_form, path, x);
    return "";
  }

  template <typename... A>
  static std::vector<ProtoWriter> attrs(A&&... a) {
    std::vector<ProtoWriter> v;
    (v.push_back(std::forward<A>(a)), ...);
    return v;
  }

  Graph& g_;
};

inline ProtoWriter encode_node(const Node& n) {
  ProtoWriter w;
  for (const std::string& i : n.inputs) w.string(kNodeInput, i);
  for (const std::string& o : n.outputs) w.string(kNodeOutput, o);
  w.string(kNodeName, n.name).string(kNodeOpType, n.op);
  for (const ProtoWriter& a : n.attrs) w.message(kNodeAttribute, a);
  return w;
}

inline ProtoWriter encode_model(const Graph& g, const ProtoWriter& graph_io, const std::map<std::string, std::string>& metadata,
                                const OnnxExportOptions& o) {
  ProtoWriter graph, opset, model;
  for (const Node& n : g.nodes()) graph.message(kGraphNode, encode_node(n));
  graph.string(kGraphName, o.graph_name).append(g.initializers()).append(graph_io);
  opset.string(kOpsetDomain, "").int64(kOpsetVersion, o.opset);
  model.int64(kModelIrVersion, o.ir_version).string(kModelProducerName, o.producer).string(kModelProducerVersion, version_string);
  model.message(kModelGraph, graph).message(kModelOpset, opset);
  for (const auto& [key, value] : metadata) {
    ProtoWriter entry;
    entry.string(kEntryKey, key).string(kEntryValue, value);
    model.message(kModelMetadata, entry);
  }
  return model;
}

}  // namespace onnx_detail

template <typename T>
std::string onnx_model_bytes(Module<T>& model, const Shape& input, const std::map<std::string, std::string>& metadata = {},
                             const OnnxExportOptions& options = {}, OnnxExportSummary* summary = nullptr) {
  using namespace onnx_detail;
  if (input.rank() != 3) throw ValueError(detail::cat("export_onnx: input must be [C, H, W], got ", input));
  if (options.opset < 17 || options.opset > 21)
    throw ValueError(detail::cat("export_onnx: opset ", options.opset, " is not supported (17 to 21)"));
  const Shape in{1, input[0], input[1], input[2]};
  const Shape out = model.output_shape(in);  // the layer's own ShapeError if the model does not take it
  Graph g(options.opset);
  Shape s = in;
  g.name_output(Emitter<T>(g).emit(model, "", "input", s));
  ProtoWriter io;
  io.message(kGraphInput, batch_value_info("input", in)).message(kGraphOutput, batch_value_info("logits", out));
  std::string bytes = encode_model(g, io, metadata, options).take();
  if (summary) {
    *summary = OnnxExportSummary{bytes.size(), g.nodes().size(), g.initializer_count(), {}};
    for (const Node& n : g.nodes()) ++summary->ops[n.op];
  }
  return bytes;
}

template <typename T>
OnnxExportSummary export_onnx(const std::string& path, Module<T>& model, const Shape& input,
                              const std::map<std::string, std::string>& metadata = {}, const OnnxExportOptions& options = {}) {
  OnnxExportSummary summary;
  write_file_atomic(path, onnx_model_bytes(model, input, metadata, options, &summary));
  return summary;
}

// `glia export --model MODEL.safetensors --onnx OUT.onnx`: the model file's network, input shape
// and metadata (all of __metadata__ but "format"; "spec" included) to ONNX.
inline OnnxExportSummary export_model_file_onnx(const std::string& model_path, const std::string& onnx_path,
                                                const OnnxExportOptions& options = {}) {
  LoadedModel<float> loaded = load_model<float>(model_path);
  std::map<std::string, std::string> meta = loaded.metadata;
  meta.erase("format");
  return export_onnx(onnx_path, *loaded.model, loaded.input, meta, options);
}

}  // namespace glia
