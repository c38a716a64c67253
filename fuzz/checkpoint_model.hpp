// fuzz/checkpoint_model.hpp: the small model fuzz_checkpoint loads checkpoints into, and whose
// checkpoints glia_make_corpus writes as seeds: parameters of rank 1, 2 and 4, buffers and a
// counter (Conv2d, BatchNorm2d, ReLU, Dropout, Linear).
#pragma once

#include <glia/nn/activation.hpp>
#include <glia/nn/conv2d.hpp>
#include <glia/nn/linear.hpp>
#include <glia/nn/normalization.hpp>
#include <glia/nn/sequential.hpp>

#include <memory>

namespace glia::fuzz {

inline std::unique_ptr<Sequential<float>> checkpoint_model(std::uint64_t seed) {
  auto s = std::make_unique<Sequential<float>>();
  s->emplace<Conv2d<float>>(3, 4, 3, 1, 1);
  s->emplace<BatchNorm2d<float>>(4);
  s->emplace<ReLU<float>>();
  s->emplace<Dropout<float>>(0.1);
  s->emplace<Linear<float>>(4, 2);
  Rng rng(seed);
  s->reset_parameters(rng);
  return s;
}

}  // namespace glia::fuzz
