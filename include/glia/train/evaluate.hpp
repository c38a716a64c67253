// glia/train/evaluate.hpp: scoring a classifier on a data set, with optional test-time
// augmentation.
//
// Contract:
//   evaluate(model, d, batch, normalization, tta)  runs model (eval mode) over d in batches of
//       `batch` and returns the mean cross-entropy, the correct count, the confusion matrix and
//       every prediction (EvalResult). Images are normalised with `normalization` (by default
//       CIFAR-10's mean and std). With tta, each image is scored by the weighted mean of the
//       model's outputs (logits) over its views (TtaScorer), one forward pass per view.
//       ValueError for a batch < 1 or a shift that does not fit the images.
//   check_tta_fits(tta, d)  that ValueError alone, so a trainer can check before training.
//   model_classes(model, d)  the number of classes the model scores for d's images.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "glia/data/augment.hpp"
#include "glia/data/dataset.hpp"
#include "glia/data/loader.hpp"
#include "glia/nn/loss.hpp"
#include "glia/nn/module.hpp"
#include "glia/train/metrics.hpp"

namespace glia {

struct EvalResult {
  double loss = 0;
  std::int64_t correct = 0, total = 0;
  ConfusionMatrix confusion;
  std::vector<std::int32_t> predictions;
  double accuracy() const { return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

// The number of classes a model scores for images of d's size (its output's dimension 1).
template <typename T>
Index model_classes(Module<T>& model, const ImageDataset& d) {
  return model.output_shape(Shape{1, d.channels, d.height, d.width})[1];
}

// ValueError unless test-time augmentation tta's shift fits d's images (fit() checks its final
// TTA before training, so that a bad one does not wait for the last epoch).
inline void check_tta_fits(const TestTimeAugmentation& tta, const ImageDataset& d) {
  if (tta.shift < 0 || (tta.shift > 0 && (tta.shift >= d.height || tta.shift >= d.width)))
    throw ValueError(detail::cat("test-time augmentation ", tta.name(), ": a shift of ", tta.shift,
                                 " pixels does not fit images of ", d.height, "x", d.width));
}

// The logits of a batch under test-time augmentation: the sum over the views v of weight(v) *
// logits(v); with tta.flip each view's mirror image (made in place) shares its weight. Without
// augmentation, the model's output itself.
template <typename T>
class TtaScorer {
 public:
  TtaScorer(Module<T>& model, const TestTimeAugmentation& tta) : model_(model), tta_(tta) {}

  const Tensor<T>& score(Tensor<T>& x) {
    if (!tta_.enabled()) return model_.forward(x, Mode::Eval);
    first_view_ = true;
    if (tta_.shift > 0) {
      for (const Index s : {tta_.shift, -tta_.shift}) {
        translate_reflect(x, view_, s, s);
        add_view(view_, T(0.25));
      }
    }
    add_view(x, T(tta_.shift > 0 ? 0.5 : 1.0));
    return sum_;
  }

 private:
  void add_view(Tensor<T>& v, T weight) {
    if (!tta_.flip) return add_logits(v, weight);
    add_logits(v, weight / 2);
    flip_horizontal(v);
    add_logits(v, weight / 2);
  }
  void add_logits(Tensor<T>& v, T weight) {
    const Tensor<T>& o = model_.forward(v, Mode::Eval);
    if (first_view_) {
      sum_.resize(o.shape());
      sum_.vector() = weight * o.vector();
      first_view_ = false;
    } else {
      sum_.vector() += weight * o.vector();
    }
  }

  Module<T>& model_;
  const TestTimeAugmentation& tta_;
  Tensor<T> view_, sum_;
  bool first_view_ = true;
};

// What evaluating a run of batches gives: each batch's loss times its image count, and each
// image's prediction, in order. evaluate() adds them up in eval_result; so does data-parallel
// evaluation (train/data_parallel.hpp) after gathering every rank's parts, with the same bits.
struct EvalParts {
  std::vector<double> batch_loss;
  std::vector<std::int32_t> predictions;
};

// Batches [first, last) of d (batch b: images [b*batch, min((b+1)*batch, size))), eval mode.
template <typename T>
EvalParts evaluate_batches(Module<T>& model, const ImageDataset& d, Index batch, const Normalization& normalization,
                           const TestTimeAugmentation& tta, Index first, Index last) {
  check_tta_fits(tta, d);
  const AugmentConfig plain = AugmentConfig::normalize_only(normalization);
  EvalParts parts;
  Tensor<T> x;
  std::vector<std::int32_t> y;
  std::vector<Index> idx;
  CrossEntropyLoss<T> loss;
  TtaScorer<T> scorer(model, tta);
  for (Index b = first * batch; b < std::min(d.size(), last * batch); b += batch) {
    const Index n = std::min(batch, d.size() - b);
    idx.resize(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) idx[static_cast<std::size_t>(i)] = b + i;
    make_batch(x, y, d, idx.data(), n, &plain, 0, 0);
    const Tensor<T>& out = scorer.score(x);
    parts.batch_loss.push_back(static_cast<double>(loss.forward(out, y)) * static_cast<double>(n));
    const Index k = out.size() / n;
    for (Index i = 0; i < n; ++i) parts.predictions.push_back(argmax_row(out.data() + i * k, k));
  }
  return parts;
}

// The EvalResult of the parts of every batch of d: the mean loss (batch losses added in batch
// order), the confusion matrix and correct count from d's labels.
inline EvalResult eval_result(EvalParts parts, const ImageDataset& d, Index classes) {
  EvalResult r;
  r.confusion = ConfusionMatrix(classes);
  double sum = 0;
  for (double l : parts.batch_loss) sum += l;
  for (Index i = 0; i < d.size(); ++i) {
    const std::int32_t t = d.labels[static_cast<std::size_t>(i)], p = parts.predictions[static_cast<std::size_t>(i)];
    if (t < 0 || t >= classes || p < 0 || p >= classes)
      throw ValueError(detail::cat("evaluate: image ", i, " of '", d.source, "' has class ", t, " and prediction ", p,
                                   ", outside the model's ", classes, " classes"));
    r.confusion.add_one(t, p);
    r.correct += p == t;
  }
  r.predictions = std::move(parts.predictions);
  r.total = d.size();
  r.loss = d.size() ? sum / static_cast<double>(d.size()) : 0.0;
  return r;
}

// Evaluates model (eval mode) on d in batches: mean cross-entropy, accuracy, confusion matrix,
// predictions (see the contract above).
template <typename T>
EvalResult evaluate(Module<T>& model, const ImageDataset& d, Index batch = 100, const Normalization& normalization = {},
                    const TestTimeAugmentation& tta = {}) {
  if (batch < 1) throw ValueError(detail::cat("evaluate: batch size must be >= 1, got ", batch));
  const Index batches = (d.size() + batch - 1) / batch;
  return eval_result(evaluate_batches(model, d, batch, normalization, tta, 0, batches), d, model_classes(model, d));
}

}  // namespace glia
