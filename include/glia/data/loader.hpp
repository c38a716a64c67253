// glia/data/loader.hpp: the order in which an epoch visits a data set, and its batches.
//
// Contract:
// - shuffled_indices(n, seed, epoch) is a permutation of 0..n-1 made by Fisher-Yates with
//   Rng::stream(seed, epoch, kShuffleStream): the same (seed, epoch) gives the same order on every machine,
//   compiler and thread count; each epoch gets an independent order. n < 0 or n >= 2^32 throws
//   ValueError.
// - sequential_indices(n) is 0..n-1 (evaluation order).
// - An epoch of n samples has num_batches(n, batch) = ceil(n / batch) batches; batch b covers
//   positions [batch_range(n, batch, b).begin, + .count) of the order. The last batch is kept
//   even when it is partial (PyTorch's DataLoader default, drop_last=False), so every sample is
//   seen once per epoch. batch < 1 or b outside [0, num_batches) throws ValueError.
//   Typical loop:
//     auto order = shuffled_indices(d.size(), seed, epoch);
//     for (Index b = 0; b < num_batches(d.size(), B); ++b) {
//       BatchRange r = batch_range(d.size(), B, b);
//       make_batch(x, y, d, order.data() + r.begin, r.count, &aug, seed, step++);
//     }
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/tensor/random.hpp"
#include "glia/tensor/shape.hpp"

namespace glia {

// The third index of the shuffle's Rng::stream: augmentation uses (seed, step, sample < 2^32),
// so this value keeps the two kinds of stream apart.
constexpr std::uint64_t kShuffleStream = 0xF0F0F0F0F0F0F0F0ull;

inline std::vector<Index> sequential_indices(Index n) {
  if (n < 0) throw ValueError(detail::cat("sequential_indices: negative size ", n));
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index(0));
  return order;
}

inline std::vector<Index> shuffled_indices(Index n, std::uint64_t seed, std::uint64_t epoch) {
  if (n > Index(UINT32_MAX)) throw ValueError(detail::cat("shuffled_indices: size ", n, " not below 2^32"));
  std::vector<Index> order = sequential_indices(n);
  Rng rng = Rng::stream(seed, epoch, kShuffleStream);
  // Fisher-Yates from the back: position i takes a uniformly chosen element of [0, i].
  for (Index i = n - 1; i > 0; --i)
    std::swap(order[static_cast<std::size_t>(i)], order[rng.below(static_cast<std::uint32_t>(i + 1))]);
  return order;
}

struct BatchRange {
  Index begin = 0;  // first position in the epoch's order
  Index count = 0;  // samples in this batch: batch, or fewer for the last one
};

inline Index num_batches(Index n, Index batch) {
  if (batch < 1) throw ValueError(detail::cat("num_batches: batch size ", batch, " must be at least 1"));
  if (n < 0) throw ValueError(detail::cat("num_batches: negative size ", n));
  return (n + batch - 1) / batch;
}

inline BatchRange batch_range(Index n, Index batch, Index b) {
  const Index count = num_batches(n, batch);
  if (b < 0 || b >= count)
    throw ValueError(detail::cat("batch_range: batch ", b, " out of range [0, ", count, ") for ", n,
                                 " samples in batches of ", batch));
  const Index begin = b * batch;
  return {begin, std::min(batch, n - begin)};
}

}  // namespace glia
