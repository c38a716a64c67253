// Shared by the trainer and run-safety tests: a small synthetic data set and a temporary folder.
#pragma once

#include <glia/glia.hpp>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>

#include <stdlib.h>

namespace glia_test {

using namespace glia;

// A small synthetic data set: each class is a distinct colour pattern plus noise, so a few
// steps of training can learn something.
inline ImageDataset synthetic(Index n, std::uint64_t seed) {
  ImageDataset d;
  d.source = "synthetic";
  for (int c = 0; c < 10; ++c) d.class_names.push_back("class" + std::to_string(c));
  Rng rng(seed);
  d.pixels.resize(static_cast<std::size_t>(n * 3 * 32 * 32));
  for (Index i = 0; i < n; ++i) {
    const auto label = static_cast<std::int32_t>(rng.below(10));
    d.labels.push_back(label);
    for (Index ch = 0; ch < 3; ++ch)
      for (Index p = 0; p < 1024; ++p) {
        const double base = 40.0 + 20.0 * ((label + ch * 3) % 10) + ((p / 32 + label) % 4) * 10.0;
        d.pixels[static_cast<std::size_t>((i * 3 + ch) * 1024 + p)] =
            static_cast<std::uint8_t>(std::min(255.0, base + rng.uniform(0, 30)));
      }
  }
  return d;
}

// The reference net with the given norm and dropout, initialised from Rng(seed).
inline std::unique_ptr<Sequential<float>> seeded_reference_net(NormKind norm, double dropout, std::uint64_t seed) {
  ReferenceNetConfig cfg;
  cfg.norm = norm;
  cfg.dropout = dropout;
  auto net = make_reference_net<float>(cfg);
  Rng rng(seed);
  net->reset_parameters(rng);
  return net;
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/glia-trainer-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    path = made ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace glia_test
