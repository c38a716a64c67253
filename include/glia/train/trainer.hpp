// glia/train/trainer.hpp: the training loop.
//
// Trainer<T>(model, optimizer, schedule, config) trains a classifier whose output is class
// scores (logits [N, K] or [N, K, 1, 1]) with cross-entropy (= log-softmax + NLL; optional label
// smoothing). fit(train, test, augment) runs config.epochs epochs; each epoch:
//   - shuffles the training set with (seed, epoch) (data/loader.hpp) and walks it in batches of
//     config.batch, keeping the last partial batch;
//   - per step: builds the batch (augmentation seeded by (seed, step), data/augment.hpp),
//     zeroes gradients, forward (train mode), loss, backward, optimiser step at schedule.lr(step);
//   - with a teacher (distill_from) and config.distill_weight > 0, the loss is DistillationLoss
//     (nn/loss.hpp): the teacher scores the same augmented batch in eval mode, and the student
//     learns from (1 - a) cross-entropy + a tau^2 KL(teacher || student) at temperature tau; the
//     teacher's parameters are never changed, and the epoch's train loss is this mixed loss;
//   - with config.average_decay > 0, from epoch config.average_from on, updates an exponential
//     moving average of the weights after every step (optim/weight_average.hpp); after the
//     last epoch's last step the model's weights are replaced by that average;
//   - evaluates on the test set (eval mode) and records an EpochRecord;
//   - if config.out_dir is set: saves last.ckpt (and best.ckpt when the test accuracy
//     improved), then rewrites log.csv and metrics.json, each atomically (temp file + rename).
// The model's output dimension 1 must cover the data's classes, and the training and test
// sets must have the same class names (ValueError/ShapeError before anything is trained).
// Everything random derives from config.seed and the step/epoch numbers, so a run is bitwise
// reproducible for any thread count, and resume(checkpoint) continues a run so that the result
// equals an uninterrupted one. A non-finite loss stops training with NumericError naming the
// epoch and step; metrics.json then says "stopped: ..." and the last good checkpoint is kept.
// The trainer never prints: progress goes to the on_batch / on_epoch callbacks
// (train/progress.hpp has a console printer); on_epoch_trained runs between an epoch's training
// (and the swap to the averaged weights) and its evaluation. It knows no particular layer, so
// the running statistics of norm layers are not averaged: recompute them in on_epoch_trained.
#pragma once

#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <filesystem>
#include <unistd.h>
#include <vector>

#include "glia/data/augment.hpp"
#include "glia/data/dataset.hpp"
#include "glia/data/loader.hpp"
#include "glia/nn/flat_parameters.hpp"
#include "glia/nn/loss.hpp"
#include "glia/optim/lr_schedule.hpp"
#include "glia/optim/optimizer.hpp"
#include "glia/optim/weight_average.hpp"
#include "glia/report/run_record.hpp"
#include "glia/train/checkpoint.hpp"
#include "glia/train/metrics.hpp"

namespace glia {

struct TrainerConfig {
  int epochs = 20;
  Index batch = 32;
  Index eval_batch = 100;  // modules keep their buffers at the largest batch seen: keep it small
  std::uint64_t seed = 1;
  double label_smoothing = 0.0;
  // If enabled, evaluate the final model once more with this test-time augmentation and
  // record it as RunRecord::final_test_accuracy_tta (and final_tta, its name); the per-epoch
  // figures, the best checkpoint and last_eval() stay plain.
  TestTimeAugmentation final_tta;
  // If > 0: the final weights are an exponential moving average with this decay, updated after
  // every step from the start of epoch average_from (1-based) on; the epochs before the last
  // are evaluated with the live weights.
  double average_decay = 0.0;
  int average_from = 1;
  // Knowledge distillation (needs a teacher, Trainer::distill_from): the weight a of the
  // teacher's term and the temperature tau. 0: plain cross-entropy, no teacher is run.
  double distill_weight = 0.0;
  double distill_temperature = 4.0;
  std::string out_dir;  // empty: write nothing
};

struct BatchEvent {
  int epoch;                 // 1-based
  Index batch, batches;      // 1-based index in the epoch, and the count
  std::int64_t step;         // optimiser steps before this one
  double lr, loss;           // this batch
  double epoch_loss;         // mean over the epoch so far
  double epoch_accuracy;     // fraction correct so far in the epoch
  Index images;              // seen in the epoch so far
  double seconds;            // since the epoch began
};

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

// Evaluates model (eval mode) on d in batches: mean cross-entropy, accuracy, confusion matrix.
// Images are normalised with normalization's mean/std (its augmentations are ignored), by
// default the CIFAR-10 ones. tta: test-time augmentation, scoring each image by the weighted
// mean of the model's outputs (logits) for its views (TestTimeAugmentation); one forward pass
// per view. ValueError for a shift that does not fit the images.
template <typename T>
EvalResult evaluate(Module<T>& model, const ImageDataset& d, Index batch = 100,
                    const AugmentConfig* normalization = nullptr, const TestTimeAugmentation& tta = {}) {
  if (batch < 1) throw ValueError(detail::cat("evaluate: batch size must be >= 1, got ", batch));
  if (tta.shift < 0 || (tta.shift > 0 && (tta.shift >= d.height || tta.shift >= d.width)))
    throw ValueError(detail::cat("evaluate: test-time shift ", tta.shift, " does not fit images of ", d.height, "x", d.width));
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

template <typename T>
class Trainer {
 public:
  Trainer(Module<T>& model, Optimizer<T>& optimizer, const LrSchedule& schedule, TrainerConfig config)
      : model_(model), opt_(optimizer), schedule_(schedule), cfg_(std::move(config)), flat_(model),
        loss_(cfg_.label_smoothing), distill_(cfg_.distill_weight, cfg_.distill_temperature, cfg_.label_smoothing),
        average_(cfg_.average_decay) {
    if (cfg_.epochs < 1) throw ValueError(detail::cat("Trainer: epochs must be >= 1, got ", cfg_.epochs));
    if (cfg_.batch < 1) throw ValueError(detail::cat("Trainer: batch size must be >= 1, got ", cfg_.batch));
    if (cfg_.eval_batch < 1) throw ValueError(detail::cat("Trainer: eval batch size must be >= 1, got ", cfg_.eval_batch));
    if (averaging() && (cfg_.average_from < 1 || cfg_.average_from > cfg_.epochs))
      throw ValueError(detail::cat("Trainer: weight averaging must start in an epoch from 1 to ", cfg_.epochs, ", got ",
                                   cfg_.average_from));
    opt_.resize_state(flat_.size());
  }

  std::function<void(const BatchEvent&)> on_batch;
  std::function<void(const EpochRecord&)> on_epoch;
  // Called with the epoch number after the epoch's last optimiser step, before its evaluation
  // and checkpoint: a place to change the model's state for evaluation, e.g. to recompute
  // BatchNorm statistics after the last epoch (train/precise_bn.hpp). Its time counts as
  // training time.
  std::function<void(int)> on_epoch_trained;

  // The teacher whose outputs the student learns from when config.distill_weight > 0. It must
  // outlive fit() and score as many classes as the student (ShapeError from fit); it is
  // run in eval mode only, so its weights and running statistics stay as they are. Resuming a
  // distilled run needs the same teacher for a bitwise-identical result.
  void distill_from(Module<T>& teacher) { teacher_ = &teacher; }

  // The run's record (filled by fit; set name/recipe/config before fit to have them saved).
  RunRecord& record() { return record_; }
  FlatParameters<T>& parameters() { return flat_; }
  const EvalResult& last_eval() const { return last_eval_; }
  int epochs_done() const { return epochs_done_; }

  RunRecord fit(const ImageDataset& train, const ImageDataset& test, const AugmentConfig* augment) {
    if (train.size() == 0) throw ValueError("Trainer::fit: the training set is empty");
    if (cfg_.batch > train.size())
      throw ValueError(detail::cat("Trainer: batch size ", cfg_.batch, " is larger than the training set (", train.size(), " images)"));
    if (train.class_names != test.class_names)
      throw ValueError(detail::cat("Trainer::fit: the training set '", train.source, "' and the test set '", test.source,
                                   "' have different classes (", train.class_names.size(), " vs ", test.class_names.size(),
                                   "): their labels would not mean the same"));
    const Index classes = model_classes(model_, train);
    if (classes < static_cast<Index>(train.class_names.size()))
      throw ShapeError(detail::cat("Trainer::fit: the model scores ", classes, " classes, the data has ",
                                   train.class_names.size()));
    if (distilling() && !teacher_)
      throw ValueError(detail::cat("Trainer::fit: distill_weight is ", cfg_.distill_weight,
                                   " but no teacher was given (Trainer::distill_from)"));
    if (distilling() && model_classes(*teacher_, train) != classes)
      throw ShapeError(detail::cat("Trainer::fit: the teacher scores ", model_classes(*teacher_, train),
                                   " classes, the student ", classes));
    if (!cfg_.out_dir.empty()) ensure_dir(cfg_.out_dir);
    record_.seed = cfg_.seed;
    record_.parameters = flat_.size();
    record_.class_names = train.class_names;
    record_.train_class_counts.clear();
    for (Index c : class_counts(train)) record_.train_class_counts.push_back(c);
    record_.status = "running";
    const Index steps_per_epoch = (train.size() + cfg_.batch - 1) / cfg_.batch;
    for (int epoch = epochs_done_ + 1; epoch <= cfg_.epochs; ++epoch) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::vector<Index> order = shuffled_indices(train.size(), cfg_.seed, static_cast<std::uint64_t>(epoch));
      double loss_sum = 0;
      std::int64_t correct = 0, seen = 0;
      double lr = 0;
      const bool average = averaging() && epoch >= cfg_.average_from;
      if (average && !average_.started()) average_.start(flat_.values());
      for (Index b = 0; b < steps_per_epoch; ++b) {
        const Index begin = b * cfg_.batch, n = std::min(cfg_.batch, train.size() - begin);
        const std::int64_t step = static_cast<std::int64_t>(opt_.steps());
        make_batch(x_, y_, train, order.data() + begin, n, augment, cfg_.seed, static_cast<std::uint64_t>(step));
        flat_.zero_grad();
        const Tensor<T>* teacher_out = distilling() ? &teacher_->forward(x_, Mode::Eval) : nullptr;
        const Tensor<T>& out = model_.forward(x_, Mode::Train);
        const double loss = static_cast<double>(teacher_out ? distill_.forward(out, *teacher_out, y_) : loss_.forward(out, y_));
        if (!std::isfinite(loss)) stop(detail::cat("non-finite loss (", loss, ") at epoch ", epoch, ", batch ", b + 1, ", step ", step));
        correct += count_correct(out, y_);
        model_.backward(teacher_out ? distill_.backward() : loss_.backward());
        lr = schedule_.lr(step);
        opt_.step(flat_, lr);
        if (average) average_.update(flat_.values());
        loss_sum += loss * static_cast<double>(n);
        seen += n;
        if (on_batch) {
          const double secs = seconds_since(t0);
          on_batch(BatchEvent{epoch, b + 1, steps_per_epoch, step, lr, loss, loss_sum / static_cast<double>(seen),
                              static_cast<double>(correct) / static_cast<double>(seen), static_cast<Index>(seen), secs});
        }
      }
      if (average && epoch == cfg_.epochs) average_.copy_to(flat_.values());
      if (on_epoch_trained) on_epoch_trained(epoch);
      const double train_secs = seconds_since(t0);
      train_seconds_ += train_secs;
      train_images_ += seen;
      last_eval_ = evaluate(model_, test, cfg_.eval_batch, augment);
      EpochRecord e{};
      e.epoch = epoch;
      e.lr = lr;
      e.seconds = seconds_since(t0);
      e.train_loss = loss_sum / static_cast<double>(seen);
      e.train_correct = correct;
      e.train_total = seen;
      e.train_accuracy = 100.0 * static_cast<double>(correct) / static_cast<double>(seen);
      e.test_loss = last_eval_.loss;
      e.test_correct = last_eval_.correct;
      e.test_total = last_eval_.total;
      e.test_accuracy = 100.0 * static_cast<double>(last_eval_.correct) / static_cast<double>(std::max<std::int64_t>(1, last_eval_.total));
      e.images_per_second = static_cast<double>(seen) / train_secs;
      epochs_done_ = epoch;
      finish_epoch(e);
    }
    // Resuming a run that had already finished trains nothing: evaluate once, so last_eval()
    // describes the final model all the same.
    if (last_eval_.total != test.size()) last_eval_ = evaluate(model_, test, cfg_.eval_batch, augment);
    if (cfg_.final_tta.enabled()) {
      record_.final_tta = cfg_.final_tta.name();
      record_.final_test_accuracy_tta = 100.0 * evaluate(model_, test, cfg_.eval_batch, augment, cfg_.final_tta).accuracy();
    }
    record_.status = "finished";
    if (!cfg_.out_dir.empty()) save_metrics_json(cfg_.out_dir, record_);
    return record_;
  }

  // Checkpoint of everything a resume needs: model, optimiser, progress and the run record.
  Checkpoint checkpoint() {
    Checkpoint c;
    put_module(c, model_);
    for (auto& s : opt_.state()) c.put("optim/" + s.first, *s.second);
    c.put_u64("optim/steps", opt_.steps_counter(), 1);
    if (average_.started()) c.put("average/weights", average_.average());
    c.meta["format"] = "glia training checkpoint";
    c.meta["optimizer"] = opt_.name();
    c.meta["epoch"] = std::to_string(epochs_done_);
    c.meta["seed"] = std::to_string(cfg_.seed);
    c.meta["batch"] = std::to_string(cfg_.batch);
    c.meta["train_seconds"] = detail::cat(train_seconds_);
    c.meta["train_images"] = std::to_string(train_images_);
    c.meta["run"] = json::dump(to_json(record_));
    for (const auto& kv : record_.config) c.meta["config." + kv.first] = kv.second;
    return c;
  }
  // Restores a checkpoint written by checkpoint(): training continues after its epoch.
  // Everything is checked before anything changes: a refused checkpoint leaves the trainer as
  // it was. The seed, batch size and optimiser must be the ones the checkpoint was made with.
  void resume(const Checkpoint& c) {
    auto require_same = [&](const char* key, const std::string& ours) {
      const std::string& theirs = c.meta_at(key);
      if (theirs != ours)
        throw ValueError(detail::cat(c.source, ": the checkpoint was trained with ", key, " ", theirs, ", this run has ", ours));
    };
    require_same("seed", std::to_string(cfg_.seed));
    require_same("batch", std::to_string(cfg_.batch));
    require_same("optimizer", opt_.name());
    auto number = [&](const char* key) {  // a metadata value that must be a number
      const std::string& v = c.meta_at(key);
      char* end = nullptr;
      const double x = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !std::isfinite(x) || x < 0)
        throw FormatError(detail::cat(c.source, ": metadata '", key, "' is '", v, "', not a number"));
      return x;
    };
    const int epoch = static_cast<int>(number("epoch"));
    const double train_seconds = number("train_seconds");
    const auto train_images = static_cast<std::int64_t>(number("train_images"));
    RunRecord record;
    from_json(json::parse(c.meta_at("run"), c.source), record, c.source);
    for (auto& s : opt_.state()) {
      Tensor<T> probe(s.second->shape());
      c.get("optim/" + s.first, probe);
    }
    // The average exists from the start of epoch average_from: a checkpoint of a later epoch
    // must carry it (one from a run without averaging cannot continue with it).
    const bool has_average = averaging() && epoch >= cfg_.average_from;
    Tensor<T> average(Shape{flat_.size()});
    if (has_average) {
      if (!c.has("average/weights"))
        throw ValueError(detail::cat(c.source, ": this run averages the weights from epoch ", cfg_.average_from,
                                     ", but the checkpoint of epoch ", epoch, " has no average ('average/weights')"));
      c.get("average/weights", average);
    }
    get_module(c, model_);  // checks all, then copies
    for (auto& s : opt_.state()) c.get("optim/" + s.first, *s.second);
    if (has_average) {
      average_.start(average);
    } else {
      average_ = WeightAverage<T>(cfg_.average_decay);
    }
    c.get_u64("optim/steps", opt_.steps_counter(), 1);
    epochs_done_ = epoch;
    train_seconds_ = train_seconds;
    train_images_ = train_images;
    const std::string keep_name = record_.name, keep_command = record_.command;
    const int keep_threads = record_.threads;
    record_ = record;
    if (!keep_command.empty()) record_.command = keep_command;  // this session's, not the first one's
    if (keep_threads) record_.threads = keep_threads;
    if (!keep_name.empty()) record_.name = keep_name;
  }

 private:
  bool averaging() const { return cfg_.average_decay > 0; }
  bool distilling() const { return cfg_.distill_weight > 0; }
  static double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  // Creates the folder and its parents (runs/bn); IoError if that fails or it is not writable.
  static void ensure_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
      throw IoError(detail::cat("output folder '", dir, "' exists and is not a folder"));
    if (!fs::create_directories(dir, ec) && ec)
      throw IoError(detail::cat("cannot create output folder '", dir, "': ", ec.message()));
    if (::access(dir.c_str(), W_OK) != 0) throw IoError(detail::cat("output folder '", dir, "' is not writable"));
  }
  Index count_correct(const Tensor<T>& out, const std::vector<std::int32_t>& y) const {
    const Index k = out.size() / out.dim(0);
    Index c = 0;
    for (Index i = 0; i < out.dim(0); ++i) c += argmax_row(out.data() + i * k, k) == y[static_cast<std::size_t>(i)];
    return c;
  }
  void finish_epoch(const EpochRecord& e) {
    record_.epochs.push_back(e);
    record_.final_test_accuracy = e.test_accuracy;
    record_.final_train_accuracy = e.train_accuracy;
    record_.confusion = last_eval_.confusion.rows();
    const bool best = record_.best_epoch == 0 || e.test_accuracy > record_.best_test_accuracy;
    if (best) {
      record_.best_test_accuracy = e.test_accuracy;
      record_.best_epoch = e.epoch;
    }
    record_.seconds = 0;
    for (const EpochRecord& r : record_.epochs) record_.seconds += r.seconds;
    if (train_seconds_ > 0) record_.train_images_per_second = static_cast<double>(train_images_) / train_seconds_;
    if (!cfg_.out_dir.empty()) {
      // The checkpoint first: the log and metrics are then rewritten whole from the record, so
      // a run killed anywhere in between never lists an epoch twice after a resume.
      const Checkpoint c = checkpoint();
      save_checkpoint(cfg_.out_dir + "/last.ckpt", c);
      if (best) save_checkpoint(cfg_.out_dir + "/best.ckpt", c);
      std::string log = log_csv_header() + "\n";
      for (const EpochRecord& r : record_.epochs) log += log_csv_line(r) + "\n";
      write_file_atomic(cfg_.out_dir + "/log.csv", log);
      save_metrics_json(cfg_.out_dir, record_);
    }
    if (on_epoch) on_epoch(e);
  }
  [[noreturn]] void stop(const std::string& why) {
    record_.status = "stopped: " + why;
    if (!cfg_.out_dir.empty()) save_metrics_json(cfg_.out_dir, record_);
    throw NumericError(detail::cat("training stopped: ", why,
                                   cfg_.out_dir.empty() ? std::string() : "; the last good checkpoint is " + cfg_.out_dir + "/last.ckpt"));
  }

  Module<T>& model_;
  Optimizer<T>& opt_;
  const LrSchedule& schedule_;
  TrainerConfig cfg_;
  FlatParameters<T> flat_;
  CrossEntropyLoss<T> loss_;
  DistillationLoss<T> distill_;
  Module<T>* teacher_ = nullptr;
  WeightAverage<T> average_;
  RunRecord record_;
  EvalResult last_eval_;
  int epochs_done_ = 0;
  double train_seconds_ = 0;  // time spent in training steps, over all sessions of the run
  std::int64_t train_images_ = 0;
  Tensor<T> x_;
  std::vector<std::int32_t> y_;
};

}  // namespace glia
