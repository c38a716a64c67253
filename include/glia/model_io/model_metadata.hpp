// glia/model_io/model_metadata.hpp: what a model file says about its data, besides the spec.
//
// A model file (model_file.hpp) carries, in its safetensors __metadata__ (string values):
//   "classes":       a JSON array of the class names, index = the logit's index;
//   "normalization": a JSON object {"mean": [m_0, ...], "std": [s_0, ...]}, one value per input
//                    channel, the x = (pixel / 255 - mean[c]) / std[c] that the first layer saw
//                    in training (data/augment.hpp's Normalization).
// Contract:
// - model_data_metadata(classes, normalization, channels) writes both entries.
// - read_model_classes(meta, file) reads "classes"; absent: an empty list (a weights file from
//   elsewhere). read_model_normalization(meta, file, channels) reads "normalization"; absent:
//   nullopt (the caller decides; glia's programs refuse to guess). Both refuse (FormatError
//   naming the file and the key) text that is not the JSON described: another JSON type, a
//   name that is no valid class name (data/class_names.hpp), a normalisation that
//   parse_normalization_json (data/normalization_stats.hpp) refuses or whose channel count is
//   not `channels`. The normalisation read has channels = `channels`, so make_batch and
//   normalize_image refuse to apply it to images of another channel count.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "glia/core/error.hpp"
#include "glia/data/augment.hpp"
#include "glia/data/class_names.hpp"
#include "glia/data/normalization_stats.hpp"

namespace glia {

inline std::map<std::string, std::string> model_data_metadata(const std::vector<std::string>& classes,
                                                               const Normalization& n, Index channels) {
  if (channels < 1 || channels > 3) throw ValueError(detail::cat("model_data_metadata: ", channels, " channels, not 1 to 3"));
  Normalization per_input = n;
  per_input.channels = channels;
  return {{"classes", nlohmann::json(classes).dump()}, {"normalization", normalization_to_json(per_input)}};
}

namespace detail {

inline nlohmann::json parse_metadata_json(const std::string& text, const std::string& file, const char* key) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cat(file, ": metadata '", key, "' is not JSON: ", e.what()));
  }
}

}  // namespace detail

inline std::vector<std::string> read_model_classes(const std::map<std::string, std::string>& meta, const std::string& file) {
  auto it = meta.find("classes");
  if (it == meta.end()) return {};
  const nlohmann::json j = detail::parse_metadata_json(it->second, file, "classes");
  if (!j.is_array()) throw FormatError(detail::cat(file, ": metadata 'classes' must be a JSON array of names, got ", j.dump()));
  std::vector<std::string> names;
  for (const nlohmann::json& n : j) {
    if (!n.is_string()) throw FormatError(detail::cat(file, ": metadata 'classes' holds ", n.dump(), ", not a name"));
    names.push_back(n.get<std::string>());
  }
  std::vector<std::string> places;
  for (std::size_t i = 0; i < names.size(); ++i) places.push_back(detail::cat("class ", i));
  validate_class_names(names, places, file + ": metadata 'classes'");
  return names;
}

inline std::optional<Normalization> read_model_normalization(const std::map<std::string, std::string>& meta,
                                                             const std::string& file, Index channels) {
  auto it = meta.find("normalization");
  if (it == meta.end()) return std::nullopt;
  const std::string where = file + ": metadata 'normalization'";
  Normalization n = parse_normalization_json(it->second, where);
  if (n.channels != channels)
    throw FormatError(detail::cat(where, " has mean and std for ", n.channels, " channel(s), the model's input has ", channels));
  return n;
}

}  // namespace glia
