// glia/kernels/batch_chunks.hpp: the order in which a batch's parameter gradients are summed,
// fixed so that the sum is the same bits however the batch is divided between processes
// (data-parallel training, docs/distributed.md).
//
// Contract:
// - The global batch of N samples is cut into kGradientChunks = 16 chunks: chunk c holds the
//   samples [N*c/16, N*(c+1)/16) (some are empty when N < 16). Every parameter gradient of a
//   batch is the pairwise tree of its chunks' partial gradients, each partial in T:
//     ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7)) + ...      (chunk_tree_sum)
//   A partial depends only on its chunk's samples (a layer sums them in an order of its own).
// - A BatchSplit says which part of the global batch this process holds: rank r of R ranks (R
//   a power of two dividing 16) holds the chunks [r*16/R, (r+1)*16/R), that is the samples
//   [N*r/R, N*(r+1)/R). Its layers sum only those chunks, which is one node of the tree; the
//   R ranks' sums added by the same tree (chunk_tree_sum over the ranks) are the root, the
//   bits one process gets from the whole batch.
// - Without a split (null) the batch a layer sees is the whole batch: its 16 chunks.
// - batch_chunks throws ValueError for a split that breaks these rules or a local batch that
//   is not the split's share.
#pragma once

#include "glia/core/error.hpp"
#include "glia/tensor/shape.hpp"

namespace glia {

inline constexpr Index kGradientChunks = 16;

class Collective;  // dist/collective.hpp

// Which share of the global batch this process holds (rank of ranks), for the current step, and
// the collective through which layers that need the whole batch's statistics (BatchNorm in
// training) exchange them.
struct BatchSplit {
  Index ranks = 1;
  Index rank = 0;
  Index global_batch = 0;
  Collective* collective = nullptr;

  Index first_sample() const { return global_batch * rank / ranks; }
  // Rank r's share of the global batch: samples [N*r/R, N*(r+1)/R).
  Index samples_of(Index r) const { return global_batch * (r + 1) / ranks - global_batch * r / ranks; }
  Index local_batch() const { return samples_of(rank); }
};

// The chunks of the local batch: chunk c (0 <= c < count) is the local samples [begin(c), end(c)).
struct BatchChunks {
  Index count = kGradientChunks;
  Index global_batch = 0;
  Index first_chunk = 0;
  Index first_sample = 0;

  Index begin(Index c) const { return global_batch * (first_chunk + c) / kGradientChunks - first_sample; }
  Index end(Index c) const { return begin(c + 1); }
};

// The chunks of a local batch of local_n samples under split (null: the whole batch).
inline BatchChunks batch_chunks(const BatchSplit* split, Index local_n) {
  if (!split) return BatchChunks{kGradientChunks, local_n, 0, 0};
  const Index r = split->ranks;
  if (r < 1 || r > kGradientChunks || (r & (r - 1)) != 0)
    throw ValueError(detail::cat("BatchSplit: ", r, " ranks; the gradient tree needs a power of two up to ",
                                 kGradientChunks));
  if (split->rank < 0 || split->rank >= r)
    throw ValueError(detail::cat("BatchSplit: rank ", split->rank, " of ", r, " ranks"));
  if (split->local_batch() != local_n)
    throw ValueError(detail::cat("BatchSplit: rank ", split->rank, " of ", r, " holds ", split->local_batch(),
                                 " samples of a global batch of ", split->global_batch, ", got ", local_n));
  const Index count = kGradientChunks / r;
  return BatchChunks{count, split->global_batch, split->rank * count, split->first_sample()};
}

// The pairwise tree over count values v[0], v[stride], ..., v[(count-1)*stride] (count at most
// kGradientChunks): neighbours first, then neighbouring pairs, and so on. For count a power of
// two every aligned run of 2^j values is one node, which is what makes ranks' sums combine.
template <typename T>
T chunk_tree_sum(const T* v, Index count, Index stride = 1) {
  T t[kGradientChunks];
  for (Index c = 0; c < count; ++c) t[c] = v[c * stride];
  for (Index s = 1; s < count; s *= 2)
    for (Index c = 0; c + s < count; c += 2 * s) t[c] = t[c] + t[c + s];
  return t[0];
}

// The tree over the chunks of chunk_partial(begin, end) (a T per chunk; local sample range).
template <typename T, typename F>
T chunk_tree(const BatchChunks& chunks, F&& chunk_partial) {
  T t[kGradientChunks];
  for (Index c = 0; c < chunks.count; ++c) t[c] = chunk_partial(chunks.begin(c), chunks.end(c));
  return chunk_tree_sum(t, chunks.count);
}

// grad[k] += the tree over the chunks of the per-sample partial sums a[n*len + k] (double,
// summed in sample order inside a chunk, then rounded to T), for k < len. For the norms'
// dgamma and dbeta, whose per-sample sums are [N, len].
template <typename T>
void add_chunked_sample_sums(T* grad, const double* a, Index len, const BatchChunks& chunks) {
  for (Index k = 0; k < len; ++k)
    grad[k] += chunk_tree<T>(chunks, [&](Index b, Index e) {
      double s = 0;
      for (Index n = b; n < e; ++n) s += a[n * len + k];
      return static_cast<T>(s);
    });
}

}  // namespace glia
