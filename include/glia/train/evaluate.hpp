// glia/train/evaluate.hpp: scoring a classifier on a data set, with optional test-time
// augmentation.
//
// Contract:
//   evaluate(model, d, batch, normalization, tta)  runs model (eval mode) over d in batches of
//       `batch` and returns the mean cross-entropy, the correct count, the confusion matrix and
//       every prediction (EvalResult). Images are normalised with normalization's mean/std (its
//       augmentations are ignored), by default the CIFAR-10 ones. With tta, each image is scored
//       by the weighted mean of the model's outputs (logits) over its views, one forward pass
//       per view. ValueError for a batch < 1 or a shift that does not fit the images.
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

// Evaluates model (eval mode) on d in batches: mean cross-entropy, accuracy, confusion matrix.
// Images are normalised with normalization's mean/std (its augmentations are ignored), by
// default the CIFAR-10 ones. tta: test-time augmentation, scoring each image by the weighted
// mean of the model's outputs (logits) for its views (TestTimeAugmentation); one forward pass
// per view. ValueError for a shift that does not fit the images.
template <typename T>
EvalResult evaluate(Module<T>& model, const ImageDataset& d, Index batch = 100,
                    const AugmentConfig* normalization = nullptr, const TestTimeAugmentation& tta = {}) {
  if (batch < 1) throw ValueError(detail::cat("evaluate: batch size must be >= 1, got ", batch));
  check_tta_fits(tta, d);
  AugmentConfig plain;
  plain.ssr_p = plain.bc_p = 0;
  plain.crop_pad = plain.cutout = 0;
  plain.hflip = false;
  if (normalization) {
    plain.mean = normalization->mean;
    plain.std = normalization->std;
  }
  const Index classes = model_classes(model, d);
  EvalResult r;
  r.confusion = ConfusionMatrix(classes);
  r.predictions.reserve(static_cast<std::size_t>(d.size()));
  Tensor<T> x, view, mean_out;
  std::vector<std::int32_t> y, pred;
  std::vector<Index> idx;
  CrossEntropyLoss<T> loss;
  // mean_out = the sum over the views v of weight(v) * logits(v); with tta.flip each view's
  // mirror image (made in place) shares its weight.
  bool first_view = true;
  auto add_logits = [&](Tensor<T>& v, T weight) {
    const Tensor<T>& o = model.forward(v, Mode::Eval);
    if (first_view) {
      mean_out.resize(o.shape());
      mean_out.vector() = weight * o.vector();
      first_view = false;
    } else {
      mean_out.vector() += weight * o.vector();
    }
  };
  auto add_view = [&](Tensor<T>& v, T weight) {
    if (!tta.flip) return add_logits(v, weight);
    add_logits(v, weight / 2);
    flip_horizontal(v);
    add_logits(v, weight / 2);
  };
  double sum = 0;
  for (Index b = 0; b < d.size(); b += batch) {
    const Index n = std::min(batch, d.size() - b);
    idx.resize(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) idx[static_cast<std::size_t>(i)] = b + i;
    make_batch(x, y, d, idx.data(), n, &plain, 0, 0);
    const Tensor<T>* scored = &mean_out;
    if (!tta.enabled()) {
      scored = &model.forward(x, Mode::Eval);
    } else {
      first_view = true;
      if (tta.shift > 0) {
        for (const Index s : {tta.shift, -tta.shift}) {
          translate_reflect(x, view, s, s);
          add_view(view, T(0.25));
        }
      }
      add_view(x, T(tta.shift > 0 ? 0.5 : 1.0));
    }
    const Tensor<T>& out = *scored;
    sum += static_cast<double>(loss.forward(out, y)) * static_cast<double>(n);
    r.correct += r.confusion.add(out, y, &pred);
    r.predictions.insert(r.predictions.end(), pred.begin(), pred.end());
  }
  r.total = d.size();
  r.loss = d.size() ? sum / static_cast<double>(d.size()) : 0.0;
  return r;
}

}  // namespace glia
