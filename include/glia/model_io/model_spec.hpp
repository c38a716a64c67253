// glia/model_io/model_spec.hpp: networks defined at run time by a JSON model spec (docs/model-spec.md).
//
// Contract:
// - model_from_json<T>(spec) builds the network of a spec {"input": [C, H, W], "layers": [...]}
//   as a Sequential, every layer initialised with PyTorch's defaults from rng (reset_parameters).
//   A layer is {"type": PyTorch class name, "name": optional, constructor arguments...}: keys
//   and defaults are PyTorch's (`stride`, `padding`, `bias`, `eps`, `momentum`, `p`,
//   `negative_slope`, `num_groups`, ...), plus glia's "Residual" (`body` and optional
//   `shortcut`, each a list of layers or one layer; y = shortcut(x) + body(x), the shortcut the
//   identity without one), "GlobalAvgPool2d", and the key "activation": "ReLU" on BatchNorm2d
//   and GroupNorm (a fused ReLU). "Sequential" takes `layers`. A layer's `name` names its parameters
//   ("fc.weight"), else its position does ("6.weight"), as in nn.Sequential.
// - Every refusal is a FormatError "model spec: layers[i] (Type 'name'): ..." naming the layer
//   (its path for nested ones, e.g. layers[3].body[1]), the key and what was expected: an
//   unknown type, a missing, misspelt or unknown key, a value of the wrong JSON type or range,
//   an argument glia does not implement (e.g. `padding_mode` "reflect"), and a shape that does not
//   chain from `input` (the layer's own shape error, e.g. a Linear's in_features against what
//   Flatten gives).
// - model_from_json_text(text, source) parses the text first (FormatError naming source and the
//   parser's byte offset).
// - spec_input_shape(spec) is [C, H, W] from "input".
// - model_to_json(model, input) writes the spec of a model made of glia's layers (and
//   Sequential and Residual containers), every layer with its "name", so that
//   model_from_json builds a network with the same parameter names and the same values for the
//   same parameters. A norm with a fused ReLU carries glia's key "activation": "ReLU". ValueError names a layer it cannot write.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "glia/nn/activation.hpp"
#include "glia/nn/conv2d.hpp"
#include "glia/nn/conv_transpose2d.hpp"
#include "glia/nn/layer_norm.hpp"
#include "glia/nn/linear.hpp"
#include "glia/nn/normalization.hpp"
#include "glia/nn/pointwise.hpp"
#include "glia/nn/pooling.hpp"
#include "glia/nn/residual.hpp"
#include "glia/nn/sequential.hpp"

namespace glia {

namespace spec_detail {

using Json = nlohmann::json;

// One layer object being read: its place for messages, and the keys it has used.
class LayerReader {
 public:
  LayerReader(const Json& j, std::string where) : j_(j), where_(std::move(where)) {
    if (!j.is_object()) throw FormatError(detail::cat("model spec: ", where_, " must be an object, got ", j.dump()));
    if (!j.contains("type") || !j["type"].is_string())
      throw FormatError(detail::cat("model spec: ", where_, ": key 'type' (a PyTorch class name) is missing"));
    type_ = j["type"].get<std::string>();
    if (j.contains("name") && (!j["name"].is_string() || j["name"].get<std::string>().empty()))
      throw FormatError(detail::cat(context(), ": key 'name' must be a non-empty string"));
    used_ = {"type", "name"};
  }

  const std::string& type() const { return type_; }
  std::string name() const { return j_.contains("name") ? j_["name"].get<std::string>() : ""; }
  std::string context() const {
    return detail::cat("model spec: ", where_, " (", type_, j_.contains("name") ? " '" + name() + "'" : "", ")");
  }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw FormatError(detail::cat(context(), ": key '", key, "' ", what));
  }

  bool has(const std::string& key) {
    used_.insert(key);
    return j_.contains(key);
  }
  const Json& at(const std::string& key) {
    if (!has(key)) fail(key, "is missing");
    return j_[key];
  }
  Index integer(const std::string& key, Index min) { return check_integer(key, at(key), min); }
  Index integer(const std::string& key, Index min, Index fallback) { return has(key) ? integer(key, min) : fallback; }
  // An int, or a list of two equal ints (PyTorch's kernel_size=(3, 3)); glia's layers are square.
  Index square(const std::string& key, Index min) {
    const Json& v = at(key);
    if (v.is_array()) {
      if (v.size() != 2 || v[0] != v[1]) fail(key, detail::cat("must be an integer or two equal integers, got ", v.dump()));
      return check_integer(key, v[0], min);
    }
    return check_integer(key, v, min);
  }
  double real(const std::string& key, double fallback) {
    if (!has(key)) return fallback;
    const Json& v = j_[key];
    if (!v.is_number()) fail(key, detail::cat("must be a number, got ", v.dump()));
    return v.get<double>();
  }
  bool boolean(const std::string& key, bool fallback) {
    if (!has(key)) return fallback;
    if (!j_[key].is_boolean()) fail(key, detail::cat("must be true or false, got ", j_[key].dump()));
    return j_[key].get<bool>();
  }
  std::string text(const std::string& key, const std::string& fallback) {
    if (!has(key)) return fallback;
    if (!j_[key].is_string()) fail(key, detail::cat("must be a string, got ", j_[key].dump()));
    return j_[key].get<std::string>();
  }
  // A key glia accepts only at one value (PyTorch's default): refuses any other.
  template <typename V>
  void only(const std::string& key, const V& supported) {
    if (has(key) && j_[key] != Json(supported))
      fail(key, detail::cat("is ", j_[key].dump(), ": glia implements only ", Json(supported).dump()));
  }
  // After the layer is built: a key it never asked for is misspelt or unknown.
  void check_all_used() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!used_.count(it.key())) fail(it.key(), detail::cat("is not an argument of ", type_));
  }
  const std::string& where() const { return where_; }

 private:
  Index check_integer(const std::string& key, const Json& v, Index min) const {
    if (!v.is_number_integer() || v.get<long long>() < min)
      fail(key, detail::cat("must be an integer >= ", min, ", got ", v.dump()));
    return static_cast<Index>(v.get<long long>());
  }

  const Json& j_;
  std::string where_, type_;
  std::set<std::string> used_;
};

template <typename T>
std::unique_ptr<Sequential<T>> build_layers(const Json& list, const std::string& where);
template <typename T>
std::unique_ptr<Module<T>> build_layer(const Json& j, const std::string& where);

// A Residual's branch: a list of layers (a Sequential), or one layer.
template <typename T>
std::unique_ptr<Module<T>> build_branch(const Json& j, const std::string& where) {
  if (j.is_object()) return build_layer<T>(j, where);
  return build_layers<T>(j, where);
}

// Conv2d and ConvTranspose2d: PyTorch's keys and defaults (groups 1, dilation 1, ...).
template <typename T>
std::unique_ptr<Module<T>> build_conv(LayerReader& r) {
  r.only("padding_mode", "zeros");
  const Index cin = r.integer("in_channels", 1), cout = r.integer("out_channels", 1), k = r.square("kernel_size", 1);
  const Index stride = r.has("stride") ? r.square("stride", 1) : 1, pad = r.has("padding") ? r.square("padding", 0) : 0;
  const Index dilation = r.has("dilation") ? r.square("dilation", 1) : 1, groups = r.integer("groups", 1, 1);
  if (cin % groups != 0 || cout % groups != 0)
    r.fail("groups", detail::cat("is ", groups, ": it must divide in_channels (", cin, ") and out_channels (", cout, ")"));
  if (r.type() == "ConvTranspose2d") {
    const Index out_pad = r.has("output_padding") ? r.square("output_padding", 0) : 0;
    if (out_pad >= stride)
      r.fail("output_padding", detail::cat("is ", out_pad, ": glia implements only output_padding < stride (", stride, ")"));
    return std::make_unique<ConvTranspose2d<T>>(cin, cout, k, stride, pad, out_pad, groups, r.boolean("bias", true),
                                                dilation);
  }
  return std::make_unique<Conv2d<T>>(cin, cout, k, stride, pad, dilation, groups, r.boolean("bias", true));
}

// glia's key "activation": "ReLU" on BatchNorm2d and GroupNorm: the ReLU fused into the norm.
inline Activation fused_activation(LayerReader& r) {
  const std::string a = r.text("activation", "none");
  if (a != "none" && a != "ReLU") r.fail("activation", detail::cat("must be \"none\" or \"ReLU\", got \"", a, "\""));
  return a == "ReLU" ? Activation::ReLU : Activation::Identity;
}

template <typename T>
std::unique_ptr<Module<T>> build_norm(LayerReader& r) {
  const std::string& t = r.type();
  if (t == "BatchNorm2d" || t == "BatchNorm1d") {
    r.only("affine", true);
    r.only("track_running_stats", true);
    const Index c = r.integer("num_features", 1);
    const double eps = r.real("eps", 1e-5), momentum = r.real("momentum", 0.1);
    if (t == "BatchNorm2d") return std::make_unique<BatchNorm2d<T>>(c, eps, momentum, fused_activation(r));
    return std::make_unique<BatchNorm1d<T>>(c, eps, momentum);
  }
  if (t == "GroupNorm") {
    r.only("affine", true);
    const Index groups = r.integer("num_groups", 1), channels = r.integer("num_channels", 1);
    return std::make_unique<GroupNorm<T>>(groups, channels, r.real("eps", 1e-5), fused_activation(r));
  }
  // LayerNorm: normalized_shape is an int or a list of ints.
  const Json& shape = r.at("normalized_shape");
  std::vector<Index> dims;
  for (const Json& d : shape.is_array() ? shape : Json::array({shape})) {
    if (!d.is_number_integer() || d.get<long long>() < 1)
      r.fail("normalized_shape", detail::cat("must be a positive integer or a list of them, got ", shape.dump()));
    dims.push_back(static_cast<Index>(d.get<long long>()));
  }
  return std::make_unique<LayerNorm<T>>(dims, r.real("eps", 1e-5), r.boolean("elementwise_affine", true));
}

template <typename T>
std::unique_ptr<Module<T>> build_pool(LayerReader& r) {
  const std::string& t = r.type();
  if (t == "GlobalAvgPool2d") return std::make_unique<GlobalAvgPool2d<T>>();
  if (t == "AdaptiveAvgPool2d") {
    const Json& v = r.at("output_size");
    if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer() && v[0] > 0 && v[1] > 0)
      return std::make_unique<AdaptiveAvgPool2d<T>>(v[0].get<Index>(), v[1].get<Index>());
    const Index s = r.integer("output_size", 1);
    return std::make_unique<AdaptiveAvgPool2d<T>>(s, s);
  }
  r.only("ceil_mode", false);
  const Index k = r.square("kernel_size", 1);
  const Index stride = r.has("stride") && !r.at("stride").is_null() ? r.square("stride", 1) : k;
  if (t == "MaxPool2d") {
    r.only("padding", 0);
    r.only("dilation", 1);
    r.only("return_indices", false);
    return std::make_unique<MaxPool2d<T>>(k, stride);
  }
  const Index pad = r.has("padding") ? r.square("padding", 0) : 0;
  r.only("divisor_override", nullptr);
  return std::make_unique<AvgPool2d<T>>(k, stride, pad, r.boolean("count_include_pad", true));
}

template <typename T>
std::unique_ptr<Module<T>> build_activation(LayerReader& r) {
  const std::string& t = r.type();
  static const std::set<std::string> inplace = {"ReLU", "LeakyReLU", "SiLU", "Hardswish", "Dropout"};
  if (inplace.count(t)) r.boolean("inplace", false);  // PyTorch's memory option: no effect on the values
  if (t == "ReLU") return std::make_unique<ReLU<T>>();
  if (t == "LeakyReLU") return std::make_unique<LeakyReLU<T>>(r.real("negative_slope", 0.01));
  if (t == "Sigmoid") return std::make_unique<Sigmoid<T>>();
  if (t == "Tanh") return std::make_unique<Tanh<T>>();
  if (t == "GELU") return std::make_unique<GELU<T>>(r.text("approximate", "none"));
  if (t == "SiLU") return std::make_unique<SiLU<T>>();
  if (t == "Hardswish") return std::make_unique<Hardswish<T>>();
  if (t == "Identity") return std::make_unique<Identity<T>>();
  if (t == "Flatten") {
    r.only("start_dim", 1);
    r.only("end_dim", -1);
    return std::make_unique<Flatten<T>>();
  }
  if (t == "Upsample") {
    r.only("size", nullptr);
    return std::make_unique<Upsample<T>>(r.real("scale_factor", 2), r.text("mode", "nearest"));
  }
  return std::make_unique<Dropout<T>>(r.real("p", 0.5));
}

template <typename T>
std::unique_ptr<Module<T>> build_layer(const Json& j, const std::string& where) {
  LayerReader r(j, where);
  const std::string& t = r.type();
  static const std::set<std::string> activations = {"ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "SiLU", "Hardswish",
                                                    "Identity", "Flatten", "Upsample", "Dropout"};
  static const std::set<std::string> pools = {"MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "GlobalAvgPool2d"};
  static const std::set<std::string> norms = {"BatchNorm2d", "BatchNorm1d", "GroupNorm", "LayerNorm"};
  std::unique_ptr<Module<T>> m;
  try {
    if (t == "Conv2d" || t == "ConvTranspose2d") {
      m = build_conv<T>(r);
    } else if (t == "Linear") {
      m = std::make_unique<Linear<T>>(r.integer("in_features", 1), r.integer("out_features", 1), r.boolean("bias", true));
    } else if (norms.count(t)) {
      m = build_norm<T>(r);
    } else if (pools.count(t)) {
      m = build_pool<T>(r);
    } else if (activations.count(t)) {
      m = build_activation<T>(r);
    } else if (t == "Sequential") {
      m = build_layers<T>(r.at("layers"), where + ".layers");
    } else if (t == "Residual") {
      auto body = build_branch<T>(r.at("body"), where + ".body");
      m = std::make_unique<Residual<T>>(std::move(body), r.has("shortcut") ? build_branch<T>(r.at("shortcut"), where + ".shortcut")
                                                                           : nullptr);
    } else {
      throw FormatError(detail::cat(r.context(), ": unknown type '", t, "' (docs/model-spec.md lists the types)"));
    }
  } catch (const ValueError& e) {  // a layer's own check of its arguments
    throw FormatError(detail::cat(r.context(), ": ", e.what()));
  }
  r.check_all_used();
  return m;
}

template <typename T>
std::unique_ptr<Sequential<T>> build_layers(const Json& list, const std::string& where) {
  if (!list.is_array()) throw FormatError(detail::cat("model spec: ", where, " must be a list of layers, got ", list.dump()));
  auto seq = std::make_unique<Sequential<T>>();
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = detail::cat(where, "[", i, "]");
    const Json& j = list[i];
    std::unique_ptr<Module<T>> layer = build_layer<T>(j, at);
    const std::string name = j.contains("name") ? j["name"].get<std::string>() : std::to_string(i);
    if (!names.insert(name).second)
      throw FormatError(detail::cat("model spec: ", at, ": name '", name, "' is used twice in ", where));
    seq->add(std::move(layer), name);
  }
  return seq;
}

// The key of a layer that says what input it takes, and the value the input `s` asks for
// ("key 'in_features' is 500, expected 400 (the input is [1,400]): "); "" when none is wrong.
inline std::string chain_hint(const Json& j, const Shape& s) {
  static const std::vector<std::pair<const char*, const char*>> keys = {
      {"Linear", "in_features"},       {"Conv2d", "in_channels"},       {"ConvTranspose2d", "in_channels"},
      {"BatchNorm2d", "num_features"}, {"BatchNorm1d", "num_features"}, {"GroupNorm", "num_channels"}};
  if (s.rank() < 2) return "";
  for (const auto& tk : keys) {
    if (j["type"] != tk.first || !j.contains(tk.second) || !j[tk.second].is_number_integer()) continue;
    Index want = s[1];
    if (j["type"] == "Linear")
      for (Index d = 2; d < s.rank(); ++d) want *= s[d];
    if (j[tk.second].get<Index>() == want) return "";
    return detail::cat("key '", tk.second, "' is ", j[tk.second].get<Index>(), ", expected ", want, " (the input is ", s, "): ");
  }
  return "";
}

// Checks that the layers chain from `in`, naming the first layer whose input does not fit.
template <typename T>
Shape check_chain(Module<T>& m, const Json& list, const Shape& in, const std::string& where) {
  auto* seq = dynamic_cast<Sequential<T>*>(&m);
  Shape s = in;
  for (Index i = 0; seq && i < seq->size(); ++i) {
    const Json& j = list[static_cast<std::size_t>(i)];
    const std::string at = detail::cat(where, "[", i, "]");
    Module<T>& layer = (*seq)[i];
    if (j["type"] == "Sequential") {
      s = check_chain(layer, j["layers"], s, at + ".layers");
      continue;
    }
    if (auto* res = dynamic_cast<Residual<T>*>(&layer); res && j["body"].is_array())
      check_chain(res->body(), j["body"], s, at + ".body");
    try {
      s = layer.output_shape(s);
    } catch (const ShapeError& e) {
      throw FormatError(detail::cat("model spec: ", at, " (", j["type"].get<std::string>(),
                                    j.contains("name") ? " '" + j["name"].get<std::string>() + "'" : "", "): ", chain_hint(j, s),
                                    e.what()));
    }
  }
  return s;
}

template <typename T>
nlohmann::json layer_to_json(Module<T>& m);

template <typename T>
nlohmann::json list_to_json(Module<T>& container) {
  nlohmann::json list = nlohmann::json::array();
  for (auto& child : container.children()) {
    nlohmann::json j = layer_to_json(*child.second);
    j["name"] = child.first;
    list.push_back(std::move(j));
  }
  return list;
}

template <typename T>
nlohmann::json norm_to_json(Module<T>& m) {
  using Json = nlohmann::json;
  if (auto* bn = dynamic_cast<BatchNorm2d<T>*>(&m)) {
    Json j = {{"type", "BatchNorm2d"}, {"num_features", bn->channels()}, {"eps", bn->eps()}, {"momentum", bn->momentum()}};
    if (bn->activation() == Activation::ReLU) j["activation"] = "ReLU";
    return j;
  }
  if (auto* gn = dynamic_cast<GroupNorm<T>*>(&m)) {
    Json j = {{"type", "GroupNorm"}, {"num_groups", gn->groups()}, {"num_channels", gn->channels()}, {"eps", gn->eps()}};
    if (gn->activation() == Activation::ReLU) j["activation"] = "ReLU";
    return j;
  }
  if (auto* b1 = dynamic_cast<BatchNorm1d<T>*>(&m)) {
    BatchNorm2d<T>& bn = b1->as_2d();
    return {{"type", "BatchNorm1d"}, {"num_features", bn.channels()}, {"eps", bn.eps()}, {"momentum", bn.momentum()}};
  }
  if (auto* ln = dynamic_cast<LayerNorm<T>*>(&m))
    return {{"type", "LayerNorm"}, {"normalized_shape", ln->normalized_shape()}, {"eps", ln->eps()},
            {"elementwise_affine", ln->elementwise_affine()}};
  return nullptr;
}

template <typename T>
nlohmann::json pool_or_activation_to_json(Module<T>& m) {
  if (auto* p = dynamic_cast<MaxPool2d<T>*>(&m)) return {{"type", "MaxPool2d"}, {"kernel_size", p->kernel()}, {"stride", p->stride()}};
  if (auto* p = dynamic_cast<AvgPool2d<T>*>(&m))
    return {{"type", "AvgPool2d"}, {"kernel_size", p->kernel()}, {"stride", p->stride()}, {"padding", p->padding()},
            {"count_include_pad", p->count_include_pad()}};
  if (auto* p = dynamic_cast<AdaptiveAvgPool2d<T>*>(&m))
    return {{"type", "AdaptiveAvgPool2d"}, {"output_size", {p->out_h(), p->out_w()}}};
  if (dynamic_cast<GlobalAvgPool2d<T>*>(&m)) return {{"type", "GlobalAvgPool2d"}};
  if (dynamic_cast<Upsample<T>*>(&m)) return {{"type", "Upsample"}, {"scale_factor", 2}, {"mode", "nearest"}};
  if (auto* d = dynamic_cast<Dropout<T>*>(&m)) return {{"type", "Dropout"}, {"p", d->p()}};
  if (dynamic_cast<ReLU<T>*>(&m)) return {{"type", "ReLU"}};
  if (auto* l = dynamic_cast<LeakyReLU<T>*>(&m)) return {{"type", "LeakyReLU"}, {"negative_slope", l->function().slope}};
  if (auto* g = dynamic_cast<GELU<T>*>(&m)) return {{"type", "GELU"}, {"approximate", g->function().tanh_form ? "tanh" : "none"}};
  if (dynamic_cast<Sigmoid<T>*>(&m)) return {{"type", "Sigmoid"}};
  if (dynamic_cast<Tanh<T>*>(&m)) return {{"type", "Tanh"}};
  if (dynamic_cast<SiLU<T>*>(&m)) return {{"type", "SiLU"}};
  if (dynamic_cast<Hardswish<T>*>(&m)) return {{"type", "Hardswish"}};
  if (dynamic_cast<Identity<T>*>(&m)) return {{"type", "Identity"}};
  if (dynamic_cast<Flatten<T>*>(&m)) return {{"type", "Flatten"}};
  return nullptr;
}

template <typename T>
nlohmann::json layer_to_json(Module<T>& m) {
  using Json = nlohmann::json;
  if (auto* c = dynamic_cast<Conv2d<T>*>(&m))
    return {{"type", "Conv2d"}, {"in_channels", c->in_channels()}, {"out_channels", c->out_channels()},
            {"kernel_size", c->kernel_size()}, {"stride", c->stride()}, {"padding", c->padding()},
            {"dilation", c->dilation()}, {"groups", c->groups()}, {"bias", c->has_bias()}};
  if (auto* c = dynamic_cast<ConvTranspose2d<T>*>(&m))
    return {{"type", "ConvTranspose2d"}, {"in_channels", c->in_channels()}, {"out_channels", c->out_channels()},
            {"kernel_size", c->kernel_size()}, {"stride", c->stride()}, {"padding", c->padding()},
            {"output_padding", c->output_padding()}, {"groups", c->groups()}, {"bias", c->has_bias()},
            {"dilation", c->dilation()}};
  if (auto* l = dynamic_cast<Linear<T>*>(&m))
    return {{"type", "Linear"}, {"in_features", l->in_features()}, {"out_features", l->out_features()}, {"bias", l->has_bias()}};
  if (dynamic_cast<Sequential<T>*>(&m)) return {{"type", "Sequential"}, {"layers", list_to_json(m)}};
  if (dynamic_cast<Residual<T>*>(&m)) {
    Json j = {{"type", "Residual"}};
    for (auto& child : m.children())  // "body" and, if any, "shortcut": a list, or one layer
      j[child.first] = dynamic_cast<Sequential<T>*>(child.second) ? list_to_json(*child.second) : layer_to_json(*child.second);
    return j;
  }
  Json j = norm_to_json(m);
  if (j.is_null()) j = pool_or_activation_to_json(m);
  if (j.is_null()) throw ValueError(detail::cat("model_to_json: no spec type for layer ", m.name()));
  return j;
}

}  // namespace spec_detail

template <typename T>
nlohmann::json model_to_json(Module<T>& model, const Shape& input) {
  if (input.rank() != 3) throw ValueError(detail::cat("model_to_json: input must be [C, H, W], got ", input));
  nlohmann::json layers = dynamic_cast<Sequential<T>*>(&model)
                              ? spec_detail::list_to_json(model)
                              : nlohmann::json::array({spec_detail::layer_to_json(model)});
  return {{"input", {input[0], input[1], input[2]}}, {"layers", layers}};
}

inline Shape spec_input_shape(const nlohmann::json& spec) {
  const nlohmann::json* in = spec.is_object() && spec.contains("input") ? &spec["input"] : nullptr;
  if (!in || !in->is_array() || in->size() != 3)
    throw FormatError("model spec: key 'input' must be [channels, height, width]");
  for (const auto& d : *in)
    if (!d.is_number_integer() || d.get<long long>() < 1)
      throw FormatError(detail::cat("model spec: key 'input' must hold three positive integers, got ", in->dump()));
  return Shape{(*in)[0].get<Index>(), (*in)[1].get<Index>(), (*in)[2].get<Index>()};
}

template <typename T>
std::unique_ptr<Sequential<T>> model_from_json(const nlohmann::json& spec, Rng& rng) {
  const Shape in = spec_input_shape(spec);
  for (auto it = spec.begin(); it != spec.end(); ++it)
    if (it.key() != "input" && it.key() != "layers")
      throw FormatError(detail::cat("model spec: key '", it.key(), "' is not 'input' or 'layers'"));
  if (!spec.contains("layers")) throw FormatError("model spec: key 'layers' is missing");
  auto model = spec_detail::build_layers<T>(spec["layers"], "layers");
  spec_detail::check_chain<T>(*model, spec["layers"], Shape{1, in[0], in[1], in[2]}, "layers");
  model->reset_parameters(rng);
  return model;
}

template <typename T>
std::unique_ptr<Sequential<T>> model_from_json_text(const std::string& text, const std::string& source, Rng& rng) {
  nlohmann::json spec;
  try {
    spec = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError(detail::cat("model spec '", source, "': not JSON, at byte offset ", e.byte, ": ", e.what()));
  }
  return model_from_json<T>(spec, rng);
}

}  // namespace glia
