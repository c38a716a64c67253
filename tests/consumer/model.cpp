// consumer_model save FILE | load FILE: a model file written by one program and used by another
// that knows nothing of how it was built (glia::model_io through find_package/add_subdirectory).
// Both print the FNV-1a 64 of the network's scores for the same input; run.cmake compares them.
#include <glia/glia.hpp>
#include <glia/model_io/model_file.hpp>
#include <glia/model_io/model_spec.hpp>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

const char* kSpec = R"({"input": [1, 10, 12], "layers": [
  {"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1},
  {"type": "BatchNorm2d", "num_features": 4}, {"type": "GELU"},
  {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"},
  {"type": "Linear", "name": "fc", "in_features": 120, "out_features": 3}]})";

std::string scores_hash(glia::Module<float>& model) {
  glia::Tensor<float> x(glia::Shape{2, 1, 10, 12});
  for (glia::Index i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 23) / 11.0f - 1.0f;
  const glia::Tensor<float>& y = model.forward(x, glia::Mode::Eval);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(glia::fnv1a64(reinterpret_cast<const char*>(y.data()), y.size() * sizeof(float))));
  return hex;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  if (std::strcmp(argv[1], "save") == 0) {
    glia::Rng rng(7);
    auto model = glia::model_from_json_text<float>(kSpec, "consumer spec", rng);
    glia::save_model(argv[2], *model, glia::Shape{1, 10, 12}, {{"classes", R"(["a","b","c"])"}});
    std::printf("%s\n", scores_hash(*model).c_str());
    return 0;
  }
  glia::LoadedModel<float> loaded = glia::load_model<float>(argv[2]);
  std::printf("%s\n", scores_hash(*loaded.model).c_str());
  return 0;
}
