// onnx_export_check: writes glia models as ONNX with inputs and glia's outputs, for ONNX Runtime
// (tools/interop/onnx_check.mjs) and the ONNX checker (tools/interop/onnx_check.py) to compare.
//
//   onnx_export_check OUT_DIR [--cifar DATA_DIR --checkpoint FILE [--checkpoint FILE2 ...] [--count 256]]
//
// Writes to OUT_DIR, for every model: NAME.onnx, NAME.input.bin (float32 [N, C, H, W]) and
// NAME.output.bin (glia's float32 eval-mode output), and manifest.json listing them with their
// shapes. The models: the reference network with BatchNorm, GroupNorm and "layer norm" (every
// parameter and buffer drawn at random), and spec-built models (model_io/model_spec.hpp) that
// together use every layer type of glia. With --cifar and --checkpoint (a glia-cifar10
// checkpoint; several allowed), also "cifar10_<norm>" for each: the checkpoint's network on the
// first --count CIFAR-10 test images, normalised as in training, with their labels
// (NAME.labels.bin, int32).
// Exit status 0 on success, 1 with a message on any error.
#include <glia/data/cifar10.hpp>
#include <glia/glia.hpp>
#include <glia/model_io/onnx_export.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace glia;
using Json = nlohmann::json;

namespace {

void write_bytes(const std::string& path, const void* data, std::size_t n) {
  write_file_atomic(path, std::string(static_cast<const char*>(data), n));
}

std::vector<Index> dims(const Shape& s) {
  std::vector<Index> d;
  for (int i = 0; i < s.rank(); ++i) d.push_back(s[i]);
  return d;
}

// Exports a model, runs it on x in eval mode and records both in the manifest.
Json write_case(const std::string& dir, const std::string& name, Module<float>& model, const Tensor<float>& x,
                const std::map<std::string, std::string>& metadata = {}) {
  const Shape in = x.shape();
  const OnnxExportSummary s = export_onnx(dir + "/" + name + ".onnx", model, Shape{in[1], in[2], in[3]}, metadata);
  const Tensor<float>& y = model.forward(x, Mode::Eval);
  write_bytes(dir + "/" + name + ".input.bin", x.data(), static_cast<std::size_t>(x.size()) * sizeof(float));
  write_bytes(dir + "/" + name + ".output.bin", y.data(), static_cast<std::size_t>(y.size()) * sizeof(float));
  std::printf("%-14s %7zu bytes, %3zu nodes, %3zu initializers, output %s\n", name.c_str(), s.bytes, s.nodes, s.initializers,
              detail::cat(y.shape()).c_str());
  return {{"name", name}, {"input_shape", dims(in)}, {"output_shape", dims(y.shape())}};
}

// Every parameter and buffer at random (variances positive), so that no norm is the identity.
void randomize(Module<float>& model, Rng& rng) {
  for (auto& p : parameters(model))
    for (float& v : p.param->value) v = static_cast<float>(rng.uniform(-0.5, 0.5));
  for (auto& b : buffers(model)) {
    const bool var = b.name.find("running_var") != std::string::npos;
    for (float& v : *b.tensor) v = static_cast<float>(var ? rng.uniform(0.5, 1.5) : rng.uniform(-0.2, 0.2));
  }
}

Tensor<float> random_input(const Shape& s, Rng& rng) {
  Tensor<float> x(s);
  for (float& v : x) v = static_cast<float>(rng.normal());
  return x;
}

// Spec-built models that together use every layer type (docs/model-spec.md).
std::vector<std::pair<std::string, std::string>> spec_cases() {
  return {
      {"convs", R"({"input": [3, 12, 12], "layers": [
        {"type": "Conv2d", "in_channels": 3, "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "BatchNorm2d", "num_features": 8, "activation": "ReLU"},
        {"type": "Conv2d", "in_channels": 8, "out_channels": 8, "kernel_size": 3, "padding": 1, "bias": false},
        {"type": "GroupNorm", "num_groups": 4, "num_channels": 8},
        {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
        {"type": "Conv2d", "in_channels": 8, "out_channels": 6, "kernel_size": 1},
        {"type": "GroupNorm", "num_groups": 2, "num_channels": 6, "activation": "ReLU", "eps": 0.001},
        {"type": "AvgPool2d", "kernel_size": 3, "stride": 1, "padding": 1, "count_include_pad": false},
        {"type": "AvgPool2d", "kernel_size": 2, "padding": 1},
        {"type": "Flatten"}, {"type": "Linear", "in_features": 24, "out_features": 10}]})"},
      {"activations", R"({"input": [4, 6, 6], "layers": [
        {"type": "LeakyReLU", "negative_slope": 0.2}, {"type": "Sigmoid"},
        {"type": "Conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 1}, {"type": "Tanh"},
        {"type": "Conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 1}, {"type": "GELU"},
        {"type": "Conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 1}, {"type": "GELU", "approximate": "tanh"},
        {"type": "Conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 1}, {"type": "SiLU"},
        {"type": "Conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 1}, {"type": "Hardswish"},
        {"type": "Identity"}, {"type": "Dropout", "p": 0.3}, {"type": "GlobalAvgPool2d"},
        {"type": "Linear", "in_features": 4, "out_features": 3}]})"},
      {"pools", R"({"input": [2, 7, 10], "layers": [
        {"type": "Upsample", "scale_factor": 2, "mode": "nearest"},
        {"type": "AdaptiveAvgPool2d", "output_size": [5, 3]},
        {"type": "Conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 1},
        {"type": "AdaptiveAvgPool2d", "output_size": [5, 1]},
        {"type": "AdaptiveAvgPool2d", "output_size": 1}, {"type": "Flatten"}]})"},
      {"residual_mlp", R"({"input": [3, 4, 4], "layers": [
        {"type": "Residual", "name": "res",
         "body": [{"type": "Conv2d", "in_channels": 3, "out_channels": 5, "kernel_size": 3, "padding": 1},
                  {"type": "LayerNorm", "normalized_shape": [5, 4, 4]}],
         "shortcut": {"type": "Conv2d", "in_channels": 3, "out_channels": 5, "kernel_size": 1, "bias": false}},
        {"type": "Residual", "body": {"type": "Sequential", "layers": [{"type": "ReLU"},
          {"type": "LayerNorm", "normalized_shape": 4, "elementwise_affine": false}]}},
        {"type": "Linear", "in_features": 80, "out_features": 16},
        {"type": "BatchNorm1d", "num_features": 16}, {"type": "ReLU"},
        {"type": "Linear", "in_features": 16, "out_features": 4, "bias": false}]})"},
      {"grouped_conv", R"({"input": [4, 9, 9], "layers": [
        {"type": "Conv2d", "in_channels": 4, "out_channels": 8, "kernel_size": 3, "groups": 2, "dilation": 2},
        {"type": "Conv2d", "in_channels": 8, "out_channels": 8, "kernel_size": 3, "groups": 8, "padding": 1}]})"},
      {"conv_transpose", R"({"input": [4, 5, 5], "layers": [
        {"type": "ConvTranspose2d", "in_channels": 4, "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1,
         "output_padding": 1, "groups": 2},
        {"type": "ConvTranspose2d", "in_channels": 6, "out_channels": 3, "kernel_size": 2, "stride": 2, "dilation": 2,
         "bias": false}]})"},
  };
}

// The network of a glia-cifar10 checkpoint (config.norm, config.widths, config.classes).
std::unique_ptr<Sequential<float>> load_cifar_model(const std::string& path, std::string& norm) {
  const Checkpoint c = load_checkpoint(path, "--checkpoint");
  ReferenceNetConfig cfg;
  auto meta = [&](const char* key) {
    auto it = c.meta.find(key);
    return it == c.meta.end() ? std::string() : it->second;
  };
  if (meta("config.norm").empty()) throw FormatError(path + ": not a glia-cifar10 checkpoint (no config.norm)");
  norm = meta("config.norm");
  cfg.norm = parse_norm_kind(norm);
  if (!meta("config.classes").empty()) cfg.classes = std::stoi(meta("config.classes"));
  if (!meta("config.widths").empty() && meta("config.widths") != cfg.widths())
    throw FormatError(detail::cat(path, ": widths ", meta("config.widths"), ": this check builds only ", cfg.widths()));
  auto model = make_reference_net<float>(cfg);
  get_module(c, *model);
  return model;
}

Json cifar_case(const std::string& dir, const std::string& data, const std::string& checkpoint, Index count) {
  std::string norm;
  auto model = load_cifar_model(checkpoint, norm);
  const std::string name = "cifar10_" + norm;
  const ImageDataset test = load_cifar10(data, CifarSplit::Test, count);
  Tensor<float> x(Shape{test.size(), 3, 32, 32});
  for (Index i = 0; i < test.size(); ++i) normalize_image(x.data() + i * 3 * 32 * 32, test.image(i), 3, 32, 32);
  const Json normalization = {{"mean", kCifar10Mean}, {"std", kCifar10Std}};
  Json entry = write_case(dir, name, *model, x, {{"normalization", normalization.dump()}, {"classes", Json(test.class_names).dump()}});
  write_bytes(dir + "/" + name + ".labels.bin", test.labels.data(), test.labels.size() * sizeof(std::int32_t));
  entry["labels"] = name + ".labels.bin";
  return entry;
}

int run(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]).rfind("--", 0) == 0) {
    std::fprintf(stderr, "usage: %s OUT_DIR [--cifar DATA_DIR --checkpoint FILE... [--count 256]]\n", argv[0]);
    return 1;
  }
  const std::string dir = argv[1];
  std::string data;
  std::vector<std::string> checkpoints;
  Index count = 256;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--cifar") data = argv[i + 1];
    else if (flag == "--checkpoint") checkpoints.push_back(argv[i + 1]);
    else if (flag == "--count") count = std::stoll(argv[i + 1]);
    else throw ValueError("unknown flag " + flag);
  }
  Json manifest = Json::array();
  Rng rng(2026);
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    ReferenceNetConfig cfg;
    cfg.norm = k;
    auto net = make_reference_net<float>(cfg);
    net->reset_parameters(rng);
    randomize(*net, rng);
    manifest.push_back(write_case(dir, std::string("reference_") + norm_kind_name(k), *net, random_input(Shape{8, 3, 32, 32}, rng)));
  }
  for (const auto& [name, text] : spec_cases()) {
    std::unique_ptr<Sequential<float>> model;
    try {
      model = model_from_json_text<float>(text, name, rng);
    } catch (const FormatError& e) {  // a layer option this glia does not have yet
      std::printf("%-14s skipped: %s\n", name.c_str(), e.what());
      continue;
    }
    randomize(*model, rng);
    const Json spec = Json::parse(text);
    const Shape in{5, spec["input"][0].get<Index>(), spec["input"][1].get<Index>(), spec["input"][2].get<Index>()};
    manifest.push_back(write_case(dir, name, *model, random_input(in, rng)));
  }
  if (data.empty() != checkpoints.empty()) throw ValueError("--cifar and --checkpoint go together");
  for (const std::string& checkpoint : checkpoints) manifest.push_back(cifar_case(dir, data, checkpoint, count));
  write_file_atomic(dir + "/manifest.json", manifest.dump(1) + "\n");
  std::printf("wrote %zu models to %s\n", manifest.size(), dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "onnx_export_check: %s\n", e.what());
    return 1;
  }
}
