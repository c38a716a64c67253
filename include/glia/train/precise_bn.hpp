// glia/train/precise_bn.hpp: precise BatchNorm statistics from a training set.
//
// recompute_batchnorm_statistics(model, train, batch, augment, seed) runs one pass over the
// training set, in floor(size / batch) full batches (at least one: a set smaller than a batch is
// one batch of all its images) in the order shuffled_indices(size, seed, 0) (epoch 0, which
// training never uses), each built by make_batch with the given augmentation seeded by
// (seed, kPreciseBnStep + k), and sets every BatchNorm2d's running statistics to the average
// over those batches (the procedure below). The same arguments give bitwise the same
// statistics for any thread count. Returns the number of BatchNorm2d layers (0: nothing ran).
// Errors as make_batch's (ValueError for batch < 1).
// PreciseBatchNorm<T>(train, batch, augment, seed, last_epoch) is the same as a training piece
// (train/training_pieces.hpp, Trainer::add): after the last epoch's steps (and after weight
// averaging swapped the weights in), before the final evaluation. train and augment must
// outlive the fit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "glia/data/augment.hpp"
#include "glia/data/dataset.hpp"
#include "glia/data/loader.hpp"
#include "glia/nn/normalization.hpp"
#include "glia/train/training_pieces.hpp"

namespace glia {

// Precise BatchNorm statistics (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021). The
// running mean and variance kept with momentum 0.1 describe the last few dozen training batches,
// taken while the weights still moved; evaluation is better served by their plain average over
// many batches of the final model. This runs `batches` training-mode forward passes,
// next_batch(k) giving the input of pass k (k = 0, 1, ...), and leaves every BatchNorm2d's
// running_mean / running_var equal to the average of its batch means / unbiased variances over
// those passes (momentum 1/(k+1) at pass k; the momenta are restored afterwards). Other layers
// run in training mode too (dropout draws masks). Parameters are not touched. Returns the number
// of BatchNorm2d layers found; with none, nothing is run.
template <typename T, typename NextBatch>
Index recompute_batchnorm_statistics(Module<T>& model, Index batches, NextBatch&& next_batch) {
  if (batches < 1) throw ValueError(detail::cat("recompute_batchnorm_statistics: batches must be >= 1, got ", batches));
  std::vector<std::pair<BatchNorm2d<T>*, double>> norms;  // and their momenta
  visit(model, [&](const std::string&, Module<T>& m) {
    if (auto* bn = dynamic_cast<BatchNorm2d<T>*>(&m)) norms.emplace_back(bn, bn->momentum());
  });
  if (norms.empty()) return 0;
  auto restore = [&] {
    for (auto& n : norms) n.first->set_momentum(n.second);
  };
  try {
    for (Index k = 0; k < batches; ++k) {
      for (auto& n : norms) n.first->set_momentum(1.0 / static_cast<double>(k + 1));
      const Tensor<T>& x = next_batch(k);
      model.forward(x, Mode::Train);
    }
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return static_cast<Index>(norms.size());
}

// Augmentation steps of the recalibration batches: far above any training step.
constexpr std::uint64_t kPreciseBnStep = std::uint64_t(1) << 48;

template <typename T>
Index recompute_batchnorm_statistics(Module<T>& model, const ImageDataset& train, Index batch,
                                     const AugmentConfig* augment, std::uint64_t seed) {
  if (batch < 1) throw ValueError(detail::cat("recompute_batchnorm_statistics: batch must be >= 1, got ", batch));
  if (train.size() == 0) throw ValueError("recompute_batchnorm_statistics: the training set is empty");
  const Index n = std::min(batch, train.size());
  const std::vector<Index> order = shuffled_indices(train.size(), seed, 0);
  Tensor<T> x;
  std::vector<std::int32_t> y;
  return recompute_batchnorm_statistics(model, train.size() / n, [&](Index k) -> const Tensor<T>& {
    make_batch(x, y, train, order.data() + k * n, n, augment, seed, kPreciseBnStep + static_cast<std::uint64_t>(k));
    return x;
  });
}

template <typename T>
class PreciseBatchNorm : public TrainingPiece<T> {
 public:
  PreciseBatchNorm(Module<T>& model, const ImageDataset& train, Index batch, const AugmentConfig* augment, std::uint64_t seed,
                   int last_epoch)
      : model_(model), train_(train), batch_(batch), augment_(augment), seed_(seed), last_(last_epoch) {}
  void epoch_trained(int epoch, FlatParameters<T>&) override {
    if (epoch == last_) recompute_batchnorm_statistics(model_, train_, batch_, augment_, seed_);
  }

 private:
  Module<T>& model_;
  const ImageDataset& train_;
  Index batch_;
  const AugmentConfig* augment_;
  std::uint64_t seed_;
  int last_;
};

}  // namespace glia
