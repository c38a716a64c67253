// apps/glia/model_source.hpp: where the glia program's models and data come from, and the checks
// that they fit each other.
//
// Contract:
// - read_spec(path): a model spec file (read through core/input_file.hpp, at most 16 MiB), its
//   JSON and input shape [C, H, W]; FormatError naming the file and the byte offset of bad JSON.
//   build_spec_net(spec, seed) builds its network, initialised as PyTorch does from seed.
// - load_net(options, need_normalization): a model file (*.safetensors written by save_model:
//   spec, weights, classes, normalisation) or a spec (*.json, weights from --weights); --weights
//   loads tensors by name into either; --mean/--std give (or replace) the normalisation, one
//   value per input channel. Without class names the classes are named "0", "1", ... With
//   need_normalization and none known: UsageError saying to give --mean and --std.
// - output_count(model, input): the number of scores the network gives for one input (its
//   output must be [1, K] or [1, K, 1, 1]); FormatError otherwise.
// - check_data_fits(data, input, classes, dir): the images are the model's C x H x W and the
//   data has no more classes than the model scores; FormatError naming both, and --resize when
//   only the size differs.
// - load_train_test / load_test_for read a data folder (CIFAR-10 binary, MNIST IDX or image
//   folder, detected by its contents) with --resize and --val-fraction applied.
// - decode_image_for(path, input): one image file as the model's C x H x W bytes (resized).
// - outputs_fingerprint(model, data, normalization, batch): FNV-1a 64 of the network's scores for
//   every image of data in eval mode, in batches of `batch`: equal in two processes exactly when
//   the two models give the same bits.
#pragma once

#include <glia/core/input_file.hpp>
#include <glia/data/image_folder.hpp>
#include <glia/model_io/model_file.hpp>
#include <glia/model_io/model_metadata.hpp>
#include <glia/model_io/model_spec.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "command_line.hpp"

namespace glia_program {

using glia::Index;
using glia::Shape;

struct SpecNet {
  std::string text;  // the file's JSON, compact (what a run records)
  nlohmann::json json;
  Shape input;  // [C, H, W]
};

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline SpecNet read_spec(const std::string& path) {
  const std::string text = glia::read_input_file(path, "model spec", std::uint64_t{16} << 20);
  SpecNet s;
  try {
    s.json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw glia::FormatError(glia::detail::cat(path, ": not JSON at byte ", e.byte, ": ", e.what()));
  }
  s.text = s.json.dump();
  s.input = glia::spec_input_shape(s.json);
  return s;
}

inline std::unique_ptr<glia::Sequential<float>> build_spec_net(const SpecNet& spec, std::uint64_t seed) {
  glia::Rng rng(seed);
  return glia::model_from_json<float>(spec.json, rng);
}

inline Index output_count(glia::Module<float>& model, const Shape& input) {
  glia::Tensor<float> x(Shape{1, input[0], input[1], input[2]});
  x.fill(0.0f);
  const glia::Tensor<float>& y = model.forward(x, glia::Mode::Eval);
  // [1, K], or [1, K, 1, 1] (a 1x1 convolution head, as the reference networks have), as the
  // Trainer and evaluate take them.
  const bool scores = y.rank() >= 2 && y.dim(0) == 1 && y.size() == y.dim(1);
  if (!scores)
    throw glia::FormatError(glia::detail::cat("the network's output for one input is ", y.shape(),
                                              ", not [1, K] class scores: end it with Flatten and Linear, or "
                                              "GlobalAvgPool2d and Flatten"));
  return y.dim(1);
}

// "0.5,0.25,1" -> {0.5, 0.25, 1}, each finite.
inline std::vector<float> parse_float_list(const std::string& text, const std::string& flag) {
  std::vector<float> v;
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    v.push_back(static_cast<float>(glia::parse_real(text.substr(start, comma - start), -1e6, 1e6,
                                                    glia::detail::cat(flag, " value ", v.size() + 1))));
    start = comma + 1;
  }
  return v;
}

inline glia::Normalization normalization_flags(const ModelOptions& m, Index channels) {
  if (!m.mean || !m.std) throw UsageError("--mean and --std go together: give both or neither");
  const std::vector<float> mean = parse_float_list(*m.mean, "--mean"), stdev = parse_float_list(*m.std, "--std");
  if (mean.size() != static_cast<std::size_t>(channels) || stdev.size() != static_cast<std::size_t>(channels))
    throw UsageError(glia::detail::cat("--mean and --std need ", channels, " values each (one per input channel of the model), got ",
                                       mean.size(), " and ", stdev.size()));
  glia::Normalization n;
  n.channels = channels;
  for (std::size_t c = 0; c < mean.size(); ++c) {
    if (!(stdev[c] > 0)) throw UsageError(glia::detail::cat("--std value ", c + 1, " is ", stdev[c], ": it must be > 0"));
    n.mean[c] = mean[c];
    n.std[c] = stdev[c];
  }
  return n;
}

struct Net {
  std::unique_ptr<glia::Sequential<float>> model;
  Shape input;  // [C, H, W]
  std::vector<std::string> classes;
  std::optional<glia::Normalization> normalization;
};

inline Net load_net(const ModelOptions& m, bool need_normalization) {
  Net net;
  if (ends_with(m.model, ".json")) {
    const SpecNet spec = read_spec(m.model);
    net.model = build_spec_net(spec, 0);
    net.input = spec.input;
  } else {
    glia::LoadedModel<float> loaded = glia::load_model<float>(m.model);
    net.model = std::move(loaded.model);
    net.input = loaded.input;
    net.classes = glia::read_model_classes(loaded.metadata, m.model);
    net.normalization = glia::read_model_normalization(loaded.metadata, m.model, net.input[0]);
  }
  if (m.weights) glia::load_state_dict(*m.weights, *net.model);
  if (m.mean || m.std) net.normalization = normalization_flags(m, net.input[0]);
  if (need_normalization && !net.normalization)
    throw UsageError(glia::detail::cat(m.model, " has no normalisation: give the one the network was trained with, --mean "
                                       "M1,M2,M3 --std S1,S2,S3 (values of pixel/255; CIFAR-10's: --mean 0.4914,0.4822,0.4465 "
                                       "--std 0.247,0.243,0.261)"));
  const Index k = output_count(*net.model, net.input);
  if (!net.classes.empty() && static_cast<Index>(net.classes.size()) != k)
    throw glia::FormatError(glia::detail::cat(m.model, ": metadata 'classes' names ", net.classes.size(),
                                              " classes but the network gives ", k, " scores"));
  for (Index c = static_cast<Index>(net.classes.size()); c < k; ++c) net.classes.push_back(std::to_string(c));
  return net;
}

inline void check_data_fits(const glia::ImageDataset& d, const Shape& input, Index classes, const std::string& dir) {
  using glia::detail::cat;
  if (d.channels != input[0])
    throw glia::FormatError(cat(dir, ": the images have ", d.channels, " channel(s) but the model takes ", input[0]));
  if (d.height != input[1] || d.width != input[2])
    throw glia::FormatError(cat(dir, ": the images are ", d.height, " x ", d.width, " but the model takes ", input[1], " x ",
                                input[2], ": give --resize ", input[1], " ", input[2]));
  if (static_cast<Index>(d.class_names.size()) > classes)
    throw glia::FormatError(cat(dir, ": the data has ", d.class_names.size(), " classes but the model scores ", classes,
                                ": the last layer needs ", d.class_names.size(), " outputs"));
}

inline glia::ImageFolderOptions folder_options(const GeometryOptions& g, Index limit, std::uint64_t seed) {
  glia::ImageFolderOptions f;
  if (!g.resize.empty()) {
    f.height = g.resize[0];
    f.width = g.resize[1];
  }
  f.limit = limit;
  f.val_fraction = g.val_fraction;
  f.seed = seed;
  return f;
}

// The training and evaluation sets; each part's own limit (--train-limit, --test-limit).
inline glia::TrainTestData load_train_test(const DataOptions& d, const GeometryOptions& g, Index train_limit, std::uint64_t seed) {
  glia::TrainTestData data;
  data.train = glia::load_dataset(d.dir, true, folder_options(g, train_limit, seed));
  data.test = glia::load_dataset(d.dir, false, folder_options(g, d.test_limit, seed));
  data.test_is_validation = g.val_fraction > 0;
  return data;
}

inline glia::ImageDataset load_test_for(const DataOptions& d, const GeometryOptions& g, std::uint64_t seed) {
  return glia::load_dataset(d.dir, false, folder_options(g, d.test_limit, seed));
}

inline std::vector<std::uint8_t> decode_image_for(const std::string& path, const Shape& input) {
  glia::ImageFolderOptions f;
  f.channels = input[0];
  f.height = input[1];
  f.width = input[2];
  return glia::decode_image_file(path, f);
}


inline std::string outputs_fingerprint(glia::Module<float>& model, const glia::ImageDataset& d, const glia::Normalization& n,
                                       Index batch) {
  const glia::AugmentConfig normalize = glia::AugmentConfig::normalize_only(n);
  std::vector<Index> order(static_cast<std::size_t>(d.size()));
  for (Index i = 0; i < d.size(); ++i) order[static_cast<std::size_t>(i)] = i;
  glia::Tensor<float> x;
  std::vector<std::int32_t> y;
  std::uint64_t hash = glia::fnv1a64("", 0);
  for (Index b = 0; b < glia::num_batches(d.size(), batch); ++b) {
    const glia::BatchRange r = glia::batch_range(d.size(), batch, b);
    glia::make_batch(x, y, d, order.data() + r.begin, r.count, &normalize, 0, 0);
    const glia::Tensor<float>& out = model.forward(x, glia::Mode::Eval);
    hash = glia::fnv1a64_continue(hash, reinterpret_cast<const char*>(out.data()), out.size() * sizeof(float));
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

}  // namespace glia_program
