// fuzz/checkpoint_model.hpp: the small model fuzz_checkpoint loads checkpoints into, and whose
// checkpoints glia_make_corpus writes as seeds: parameters of rank 1, 2 and 4, buffers and a
// counter (Conv2d, BatchNorm2d, ReLU, Dropout, Linear); and the invariant every parsed
// checkpoint must hold, and the hash fix-up of the harness's second reading.
// tests/test_fuzz_regressions.cpp replays saved inputs through the same code.
#pragma once

#include <glia/nn/activation.hpp>
#include <glia/nn/conv2d.hpp>
#include <glia/nn/linear.hpp>
#include <glia/nn/normalization.hpp>
#include <glia/nn/sequential.hpp>
#include <glia/train/checkpoint.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

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

// The harness's second reading of an input: when it starts with the magic and is at least 32
// bytes, rewrites the header's payload size and the trailing FNV-1a hash to match the bytes, so
// that mutations of the payload reach the metadata and tensor parser, and returns true.
inline bool fix_up_size_and_hash(std::string& bytes) {
  if (bytes.size() < 32 || std::memcmp(bytes.data(), kCheckpointMagic, 8) != 0) return false;
  const std::uint64_t payload = bytes.size() - 32;
  std::memcpy(&bytes[16], &payload, 8);
  const std::uint64_t hash = fnv1a64(bytes.data() + 24, payload);
  std::memcpy(&bytes[bytes.size() - 8], &hash, 8);
  return true;
}

// What is wrong with a checkpoint that parse_checkpoint accepted, or "" when nothing is: every
// partial product of a tensor's extents (zeros counted as 1, as a stride would be) fits in 64
// bits, and the tensor holds exactly numel x dtype-size bytes.
inline std::string checkpoint_invariant_violation(const Checkpoint& c) {
  for (const auto& kv : c.tensors()) {
    const Checkpoint::Entry& e = kv.second;
    std::uint64_t span = 1;  // bytes, zero extents counted as 1
    bool overflow = __builtin_mul_overflow(span, dtype_size(e.dtype), &span);
    bool empty = false;
    for (int i = 0; i < e.shape.rank(); ++i) {
      if (e.shape[i] < 0) return "tensor '" + kv.first + "' has a negative dimension";
      empty = empty || e.shape[i] == 0;
      const auto u = e.shape[i] == 0 ? std::uint64_t{1} : static_cast<std::uint64_t>(e.shape[i]);
      overflow = overflow || __builtin_mul_overflow(span, u, &span);
    }
    if (overflow)
      return "tensor '" + kv.first + "' has shape " + e.shape.str() + ": a product of its extents overflows, yet it parsed";
    const std::uint64_t n = empty ? 0 : span;
    if (n != e.bytes.size())
      return "tensor '" + kv.first + "' has shape " + e.shape.str() + " (" + std::to_string(n) + " bytes) but holds " +
             std::to_string(e.bytes.size()) + " bytes";
  }
  return "";
}

}  // namespace glia::fuzz
