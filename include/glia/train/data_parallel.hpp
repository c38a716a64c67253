// glia/train/data_parallel.hpp: data-parallel training, the trainer's side (Trainer::distribute).
//
// Every rank holds a replica of the model and takes a share of each global batch; the result is
// bitwise the weights one process gets from the whole batches, for any number of ranks that is
// a power of two up to 16 (docs/distributed.md says why it holds):
// - the batch's samples, augmentation and dropout are keyed by the sample's place in the
//   global batch, not in the rank's share (data/augment.hpp, nn/activation.hpp);
// - every parameter gradient is the chunk tree of kernels/batch_chunks.hpp: a rank sums its
//   chunks, reduce_gradients adds the ranks' sums by the same tree (one all-gather);
// - BatchNorm gathers the per-sample statistics of the global batch (SyncBatchNorm), forward
//   and backward (nn/normalization.hpp);
// - the loss is the mean over the global batch (BatchLoss::set_mean_over).
// Contract of DataParallel<T>(collective):
// - attach(model) / detach(model): the model's modules see their batches as this rank's share
//   (nn/module.hpp's set_batch_split) or as whole batches;
// - check_batches(n, batch): ValueError unless every batch of an epoch of n samples has a
//   sample for every rank (the last partial batch too);
// - share(n): this rank's [first, first + count) of the next global batch of n samples;
// - reduce_gradients(grads): the ranks' gradient sums added (sum_over_ranks);
// - sum_step(loss, correct): the ranks' values added in rank order (for the logs);
// - broadcast_state(model, optimizer): rank 0's parameters, buffers, counters and optimiser
//   state on every rank (at the start of a run and after a resume);
// - evaluate(...): evaluate() with the eval batches split between the ranks in contiguous runs
//   and gathered: every rank gets the EvalResult one process computes, bit for bit.
// Exchanged per training step: the flat gradient (4 bytes per parameter) from every rank to
// every rank, two doubles per rank for the logs, and per BatchNorm layer 2 x C doubles per
// sample forward and backward.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "glia/dist/collective.hpp"
#include "glia/optim/optimizer.hpp"
#include "glia/train/evaluate.hpp"

namespace glia {

template <typename T>
class DataParallel {
 public:
  explicit DataParallel(Collective& c) : c_(c) {
    split_.ranks = c.size();
    split_.rank = c.rank();
    split_.collective = &c;
    batch_chunks(&split_, 0);  // the rank count's check (ValueError), before anything runs
  }
  int rank() const { return c_.rank(); }
  int ranks() const { return c_.size(); }

  void attach(Module<T>& model) const { set_batch_split(model, &split_); }
  static void detach(Module<T>& model) { set_batch_split(model, nullptr); }

  void check_batches(Index n, Index batch) const {
    const Index last = n % batch == 0 ? batch : n % batch;
    if (std::min(batch, last) < ranks())
      throw ValueError(detail::cat("data-parallel training on ", ranks(), " ranks: ",
                                   last < batch ? detail::cat("the last batch of an epoch of ", n, " samples has ", last)
                                                : detail::cat("a batch has ", batch),
                                   " samples, fewer than the ranks; choose a batch size that leaves each rank a sample"));
  }

  std::pair<Index, Index> share(Index n) {
    split_.global_batch = n;
    return {split_.first_sample(), split_.local_batch()};
  }

  void reduce_gradients(Tensor<T>& grads) { sum_over_ranks(c_, grads.data(), grads.size(), scratch_); }

  void sum_step(double& loss, std::int64_t& correct) {
    const double mine[2] = {loss, static_cast<double>(correct)};
    step_.resize(static_cast<std::size_t>(2 * ranks()));
    step_counts_.assign(static_cast<std::size_t>(ranks()), 2);
    all_gather(c_, mine, 2, step_.data(), step_counts_);
    loss = 0;
    correct = 0;
    for (int r = 0; r < ranks(); ++r) {
      loss += step_[static_cast<std::size_t>(2 * r)];
      correct += static_cast<std::int64_t>(step_[static_cast<std::size_t>(2 * r + 1)]);
    }
  }

  void broadcast_state(Module<T>& model, Optimizer<T>& opt) {
    std::vector<NamedParameter<T>> params;
    std::vector<NamedBuffer<T>> buffers;
    model.collect("", params, buffers);
    for (auto& p : params) broadcast(c_, p.param->value.data(), p.param->value.size());
    for (auto& b : buffers) broadcast(c_, b.tensor->data(), b.tensor->size());
    for (auto& k : counters(model)) broadcast(c_, k.second, 1);
    for (auto& s : opt.state()) broadcast(c_, s.second->data(), s.second->size());
    broadcast(c_, opt.steps_counter(), 1);
  }

  EvalResult evaluate(Module<T>& model, const ImageDataset& d, Index batch, const Normalization& normalization = {},
                      const TestTimeAugmentation& tta = {}) {
    if (batch < 1) throw ValueError(detail::cat("evaluate: batch size must be >= 1, got ", batch));
    const Index batches = (d.size() + batch - 1) / batch;
    auto first_batch = [&](Index r) { return batches * r / ranks(); };
    EvalParts mine = evaluate_batches(model, d, batch, normalization, tta, first_batch(rank()), first_batch(rank() + 1));
    EvalParts all;
    all.batch_loss.resize(static_cast<std::size_t>(batches));
    all.predictions.resize(static_cast<std::size_t>(d.size()));
    std::vector<Index> loss_counts, image_counts;
    for (int r = 0; r < ranks(); ++r) {
      loss_counts.push_back(first_batch(r + 1) - first_batch(r));
      image_counts.push_back(std::min(d.size(), first_batch(r + 1) * batch) - std::min(d.size(), first_batch(r) * batch));
    }
    all_gather(c_, mine.batch_loss.data(), static_cast<Index>(mine.batch_loss.size()), all.batch_loss.data(), loss_counts);
    all_gather(c_, mine.predictions.data(), static_cast<Index>(mine.predictions.size()), all.predictions.data(), image_counts);
    return eval_result(std::move(all), d, model_classes(model, d));
  }

 private:
  Collective& c_;
  BatchSplit split_;
  std::vector<T> scratch_;
  std::vector<double> step_;
  std::vector<Index> step_counts_;
};

}  // namespace glia
