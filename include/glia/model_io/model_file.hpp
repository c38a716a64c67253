// glia/model_io/model_file.hpp: self-describing model files (safetensors + the model spec).
//
// Contract:
// - save_model(path, model, input, metadata, names) writes one safetensors file (written
//   atomically) holding the model's state_dict (model_io/state_dict.hpp: every parameter and
//   buffer as F32, an I64 scalar "<norm>.num_batches_tracked" = 0 beside each BatchNorm's
//   buffers), each tensor under its name in `names` (a StateDictNames, glia name -> file name;
//   empty: glia's names, "0.weight", "res.body.0.bias", which for a spec-built model are its
//   PyTorch twin's), and in __metadata__: "format" = "glia-model-1", "spec" = the model's spec
//   (model_to_json(model, input), model_io/model_spec.hpp), "state_dict_names" (only when
//   `names` renames a tensor: a JSON object, glia name -> file name) and the caller's entries
//   (e.g. "classes", "normalization"; the keys "format", "spec" and "state_dict_names" are
//   refused there). The reference network saved with reference_net_state_dict_names carries
//   torch_ref.py's names, so PyTorch loads the file with no renaming.
// - load_model<T>(path) reads such a file and returns the network, built from the spec and
//   holding the file's values (renamed back by "state_dict_names" when present), ready for
//   forward(x, Mode::Eval), with its input shape [C, H, W] and the metadata. F32, F64, F16 and
//   BF16 tensors are read. Refused (FormatError naming the file, and the tensor or key): a file
//   that is not safetensors (safetensors.hpp's checks), no or another "format", a spec that
//   does not build (model_spec.hpp's messages), a "state_dict_names" that is not an object of
//   strings, and load_state_dict's refusals (a tensor missing, of another shape or dtype, or
//   not in the model).
// - A weights-only file (PyTorch's save_file(model.state_dict()) too) loads into a model you
//   build with load_state_dict (state_dict.hpp).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "glia/model_io/model_spec.hpp"
#include "glia/model_io/safetensors.hpp"
#include "glia/model_io/state_dict.hpp"

namespace glia {

constexpr const char* kModelFileFormat = "glia-model-1";

template <typename T>
struct LoadedModel {
  std::unique_ptr<Sequential<T>> model;
  Shape input;                                  // [C, H, W]
  std::map<std::string, std::string> metadata;  // all of __metadata__, "spec" and "format" included
};

template <typename T>
void save_model(const std::string& path, Module<T>& model, const Shape& input,
                const std::map<std::string, std::string>& metadata = {}, const StateDictNames& names = {}) {
  std::map<std::string, std::string> meta = metadata;
  for (const char* reserved : {"format", "spec", "state_dict_names"})
    if (meta.count(reserved)) throw ValueError(detail::cat("save_model: metadata key '", reserved, "' is glia's own"));
  meta["format"] = kModelFileFormat;
  meta["spec"] = model_to_json(model, input).dump();
  nlohmann::json renamed = nlohmann::json::object();
  for (auto& [glia_name, file_name] : names)
    if (glia_name != file_name) renamed[glia_name] = file_name;
  if (!renamed.empty()) meta["state_dict_names"] = renamed.dump();
  save_state_dict(path, model, names, meta);
}

namespace model_file_detail {

// The file's "state_dict_names" (empty when it has none).
inline StateDictNames saved_names(const SafetensorsFile& f, const std::string& path) {
  StateDictNames names;
  auto it = f.metadata.find("state_dict_names");
  if (it == f.metadata.end()) return names;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError(detail::cat("model file '", path, "': __metadata__ 'state_dict_names' is not JSON: ", e.what()));
  }
  if (!j.is_object()) throw FormatError(detail::cat("model file '", path, "': __metadata__ 'state_dict_names' is not a JSON object"));
  for (auto n = j.begin(); n != j.end(); ++n) {
    if (!n.value().is_string())
      throw FormatError(detail::cat("model file '", path, "': __metadata__ 'state_dict_names' entry '", n.key(), "' is not a string"));
    names[n.key()] = n.value().get<std::string>();
  }
  return names;
}

}  // namespace model_file_detail

template <typename T>
LoadedModel<T> load_model(const std::string& path) {
  const SafetensorsFile f = read_safetensors(path);
  auto format = f.metadata.find("format");
  if (format == f.metadata.end() || format->second != kModelFileFormat)
    throw FormatError(detail::cat("model file '", path, "': __metadata__ 'format' is ",
                                  format == f.metadata.end() ? "missing" : "'" + format->second + "'", ", expected '",
                                  kModelFileFormat, "' (a weights-only file loads with load_state_dict into a model you build)"));
  auto spec_text = f.metadata.find("spec");
  if (spec_text == f.metadata.end()) throw FormatError(detail::cat("model file '", path, "': __metadata__ has no 'spec'"));
  LoadedModel<T> loaded;
  Rng rng(0);  // every value is overwritten by the file's
  loaded.model = model_from_json_text<T>(spec_text->second, path + " (metadata 'spec')", rng);
  loaded.input = spec_input_shape(nlohmann::json::parse(spec_text->second));
  load_state_dict(f, path, *loaded.model, model_file_detail::saved_names(f, path));
  loaded.metadata = f.metadata;
  return loaded;
}

}  // namespace glia
