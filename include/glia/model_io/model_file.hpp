// glia/model_io/model_file.hpp: self-describing model files (safetensors + the model spec).
//
// Contract:
// - save_model(path, model, input, metadata) writes one safetensors file (written atomically):
//   every parameter and buffer of the model as F32 under its dotted name ("0.weight",
//   "res.body.0.bias", "1.running_mean"), an I64 scalar "<norm>.num_batches_tracked" beside each
//   BatchNorm's buffers (PyTorch's state_dict has it; glia does not count batches, so it is 0),
//   and in __metadata__: "format" = "glia-model-1", "spec" = the model's spec
//   (model_to_json(model, input), model_io/model_spec.hpp) and the caller's entries (e.g.
//   "classes", "normalization"; the keys "format" and "spec" are refused there).
// - load_model<T>(path) reads such a file and returns the network, built from the spec and
//   holding the file's values, ready for forward(x, Mode::Eval), with its input shape [C, H, W]
//   and the metadata. F32, F64, F16 and BF16 tensors are read. Refused (FormatError naming the
//   file, and the tensor or key): a file that is not safetensors (safetensors.hpp's checks), no
//   or another "format", a spec that does not build (model_spec.hpp's messages), a parameter or
//   buffer missing from the file, a tensor of another shape (both shapes given), a tensor the
//   model does not have (num_batches_tracked beside a BatchNorm excepted).
// - load_weights(path, model) loads the tensors of any safetensors file (PyTorch's
//   save_file(model.state_dict()) too) into an existing model, by name, with the same checks.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "glia/model_io/model_spec.hpp"
#include "glia/model_io/safetensors.hpp"

namespace glia {

constexpr const char* kModelFileFormat = "glia-model-1";

template <typename T>
struct LoadedModel {
  std::unique_ptr<Sequential<T>> model;
  Shape input;                                  // [C, H, W]
  std::map<std::string, std::string> metadata;  // all of __metadata__, "spec" and "format" included
};

namespace model_file_detail {

// The model's tensors by name: parameters, then buffers.
template <typename T>
std::vector<std::pair<std::string, Tensor<T>*>> named_tensors(Module<T>& model) {
  std::vector<std::pair<std::string, Tensor<T>*>> out;
  for (auto& p : parameters(model)) out.emplace_back(p.name, &p.param->value);
  for (auto& b : buffers(model)) out.emplace_back(b.name, b.tensor);
  return out;
}

inline bool is_batch_count(const std::string& name, const std::set<std::string>& model_names) {
  const std::string suffix = "num_batches_tracked";
  if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  return model_names.count(name.substr(0, name.size() - suffix.size()) + "running_mean") != 0;
}

}  // namespace model_file_detail

template <typename T>
void save_model(const std::string& path, Module<T>& model, const Shape& input,
                const std::map<std::string, std::string>& metadata = {}) {
  std::map<std::string, std::string> meta = metadata;
  for (const char* reserved : {"format", "spec"})
    if (meta.count(reserved)) throw ValueError(detail::cat("save_model: metadata key '", reserved, "' is glia's own"));
  meta["format"] = kModelFileFormat;
  meta["spec"] = model_to_json(model, input).dump();
  std::vector<SafeTensorOut> out;
  for (auto& [name, tensor] : model_file_detail::named_tensors(model)) {
    SafeTensorOut t{name, {}, std::vector<float>(tensor->begin(), tensor->end()), {}, false};
    for (Index d = 0; d < tensor->rank(); ++d) t.shape.push_back(tensor->dim(d));
    out.push_back(std::move(t));
    const std::string stem = name.size() > 12 ? name.substr(0, name.size() - 12) : "";
    if (name.size() > 12 && name.compare(name.size() - 12, 12, "running_mean") == 0)
      out.push_back({stem + "num_batches_tracked", {}, {}, {0}, true});
  }
  write_safetensors(path, out, meta);
}

// Copies the file's tensors into the model by name (see the contract above).
template <typename T>
void load_weights(const SafetensorsFile& f, const std::string& path, Module<T>& model) {
  std::set<std::string> model_names;
  for (auto& [name, tensor] : model_file_detail::named_tensors(model)) {
    model_names.insert(name);
    const SafeTensor* t = f.find(name);
    if (!t) throw FormatError(detail::cat("model file '", path, "': no tensor '", name, "', which the model has"));
    Shape want = tensor->shape();
    bool same = static_cast<Index>(t->shape.size()) == want.rank();
    for (Index d = 0; same && d < want.rank(); ++d) same = t->shape[static_cast<std::size_t>(d)] == want[d];
    if (!same) {
      std::string got = "[";
      for (std::size_t d = 0; d < t->shape.size(); ++d) got += (d ? "," : "") + std::to_string(t->shape[d]);
      throw FormatError(detail::cat("model file '", path, "': tensor '", name, "' has shape ", got, "], the model's is ", want));
    }
    const std::vector<double> v = t->to_doubles();
    for (Index i = 0; i < tensor->size(); ++i) (*tensor)[i] = static_cast<T>(v[static_cast<std::size_t>(i)]);
  }
  for (const SafeTensor& t : f.tensors)
    if (!model_names.count(t.name) && !model_file_detail::is_batch_count(t.name, model_names))
      throw FormatError(detail::cat("model file '", path, "': tensor '", t.name, "' is not in the model"));
}

template <typename T>
void load_weights(const std::string& path, Module<T>& model) {
  load_weights(read_safetensors(path), path, model);
}

template <typename T>
LoadedModel<T> load_model(const std::string& path) {
  const SafetensorsFile f = read_safetensors(path);
  auto format = f.metadata.find("format");
  if (format == f.metadata.end() || format->second != kModelFileFormat)
    throw FormatError(detail::cat("model file '", path, "': __metadata__ 'format' is ",
                                  format == f.metadata.end() ? "missing" : "'" + format->second + "'", ", expected '",
                                  kModelFileFormat, "' (a weights-only file loads with load_weights into a model you build)"));
  auto spec_text = f.metadata.find("spec");
  if (spec_text == f.metadata.end()) throw FormatError(detail::cat("model file '", path, "': __metadata__ has no 'spec'"));
  LoadedModel<T> loaded;
  Rng rng(0);  // every value is overwritten by the file's
  loaded.model = model_from_json_text<T>(spec_text->second, path + " (metadata 'spec')", rng);
  loaded.input = spec_input_shape(nlohmann::json::parse(spec_text->second));
  load_weights(f, path, *loaded.model);
  loaded.metadata = f.metadata;
  return loaded;
}

}  // namespace glia
