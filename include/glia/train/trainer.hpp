// glia/train/trainer.hpp: the training loop.
//
// Trainer<T>(model, optimizer, schedule, config) trains a classifier whose output is class
// scores (logits [N, K] or [N, K, 1, 1]) with cross-entropy (= log-softmax + NLL; optional label
// smoothing). fit(train, test, augment) runs config.epochs epochs; each epoch:
//   - shuffles the training set with (seed, epoch) (data/loader.hpp) and walks it in batches of
//     config.batch, keeping the last partial batch;
//   - per step: builds the batch (augmentation seeded by (seed, step), data/augment.hpp),
//     zeroes gradients, forward (train mode), loss, backward, optimiser step at schedule.lr(step);
//   - with a teacher (distill_from) and config.distill_weight > 0, the loss is
//     DistillationBatchLoss: (1 - a) cross-entropy + a tau^2 KL(teacher || student) at
//     temperature tau, the teacher scoring the same augmented batch in eval mode; the epoch's
//     train loss is this mixed loss;
//   - the pieces (train/training_pieces.hpp) run at their places of the loop: those the
//     configuration adds (WeightAveraging with config.average_decay > 0, from epoch
//     config.average_from; FinalTestTimeAugmentation with config.final_tta) and those added
//     with add() (e.g. train/precise_bn.hpp's PreciseBatchNorm), in that order;
//   - evaluates on the test set (eval mode) and records an EpochRecord;
//   - if config.out_dir is set: saves last.ckpt (and best.ckpt when the test accuracy
//     improved; the run record in their metadata, train/run_metadata.hpp), then appends the
//     epoch's line to log.csv (train/epoch_log.hpp), each atomically: an epoch costs the same at
//     epoch 3,000 as at epoch 1;
//   - tells each RunObserver (observe(); train/run_record.hpp) on_epoch_end, then calls on_epoch.
// When the run finished or stopped, each observer gets on_run_end with the whole record. The
// trainer writes no metrics.json itself: report/metrics_json.hpp's MetricsJsonWriter is the
// observer that does (each epoch's without the history, the final one with it).
// Run folder (train/run_folder.hpp): fit() holds config.out_dir for its duration (locked; a
// folder holding another run is refused unless this is that run resumed, or
// config.overwrite), unless the caller holds it already (use_run_folder).
// Before any step, fit() checks the data against the model and every setting against the
// data (batch size, classes, teacher, the final test-time augmentation's shift).
// The model's output dimension 1 must cover the data's classes, and the training and test
// sets must have the same class names (ValueError/ShapeError before anything is trained).
// Everything random derives from config.seed and the step/epoch numbers, so a run is bitwise
// reproducible for any thread count, and resume(checkpoint) continues a run so that the result
// equals an uninterrupted one. distribute(collective) makes the trainer one rank of
// data-parallel training (train/data_parallel.hpp): bitwise the same result for any rank count. A non-finite loss stops training with NumericError naming the
// epoch and step; the record (on_run_end) then says "stopped: ..." and the last good
// checkpoint is kept (the message names it only when this run wrote or resumed one).
// The trainer never prints: progress goes to the on_batch / on_epoch callbacks
// (train/progress.hpp has a console printer); on_epoch_trained runs between an epoch's training
// (and the swap to the averaged weights) and its evaluation. It knows no particular layer, so
// the running statistics of norm layers are not averaged: recompute them in on_epoch_trained.
#pragma once

#include <chrono>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <filesystem>
#include <vector>

#include "glia/data/augment.hpp"
#include "glia/data/dataset.hpp"
#include "glia/core/parse.hpp"
#include "glia/data/loader.hpp"
#include "glia/nn/flat_parameters.hpp"
#include "glia/nn/loss.hpp"
#include "glia/optim/lr_schedule.hpp"
#include "glia/optim/optimizer.hpp"
#include "glia/train/checkpoint.hpp"
#include "glia/train/data_parallel.hpp"
#include "glia/train/epoch_log.hpp"
#include "glia/train/evaluate.hpp"
#include "glia/train/metrics.hpp"
#include "glia/train/run_folder.hpp"
#include "glia/train/run_metadata.hpp"
#include "glia/train/run_record.hpp"
#include "glia/train/training_pieces.hpp"

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
  // When fit() opens out_dir itself (no use_run_folder): replace a run found there instead of
  // refusing (train/run_folder.hpp).
  bool overwrite = false;
  // On resume, a setting of record().config that differs from the checkpoint's run is refused
  // (ValueError listing each), unless accept_changed_settings: then each is recorded in
  // RunRecord::changes as a change from the next epoch on. free_settings may differ freely
  // (they do not change the results: training is bitwise the same for any thread count).
  bool accept_changed_settings = false;
  std::set<std::string> free_settings{"threads"};
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

template <typename T>
class Trainer {
 public:
  Trainer(Module<T>& model, Optimizer<T>& optimizer, const LrSchedule& schedule, TrainerConfig config)
      : model_(model), opt_(optimizer), schedule_(schedule), cfg_(std::move(config)), flat_(model),
        cross_entropy_(cfg_.label_smoothing) {
    if (cfg_.epochs < 1) throw ValueError(detail::cat("Trainer: epochs must be >= 1, got ", cfg_.epochs));
    if (cfg_.batch < 1) throw ValueError(detail::cat("Trainer: batch size must be >= 1, got ", cfg_.batch));
    if (cfg_.eval_batch < 1) throw ValueError(detail::cat("Trainer: eval batch size must be >= 1, got ", cfg_.eval_batch));
    DistillationLoss<T>(cfg_.distill_weight, cfg_.distill_temperature, cfg_.label_smoothing);  // its checks, now
    if (cfg_.average_decay > 0)
      own(std::make_unique<WeightAveraging<T>>(cfg_.average_decay, cfg_.average_from, cfg_.epochs));
    if (cfg_.final_tta.enabled()) own(std::make_unique<FinalTestTimeAugmentation<T>>(cfg_.final_tta));
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
  void distill_from(Module<T>& teacher) {
    distillation_ = std::make_unique<DistillationBatchLoss<T>>(teacher, cfg_.distill_weight, cfg_.distill_temperature,
                                                                cfg_.label_smoothing);
  }

  // Adds a piece of training (train/training_pieces.hpp, e.g. precise_bn.hpp's
  // PreciseBatchNorm); it must outlive fit(). Pieces run in the order they were added, after
  // the ones the configuration adds (weight averaging, the final test-time augmentation).
  void add(TrainingPiece<T>& piece) { pieces_.push_back(&piece); }

  // Trains as one rank of c.size() (train/data_parallel.hpp): each global batch of
  // config.batch is split between the ranks, the result bitwise that of one process. Every rank
  // calls fit() with the same data and settings; rank 0 alone writes the run folder (the others
  // forget config.out_dir). c must outlive fit().
  void distribute(Collective& c) {
    parallel_ = std::make_unique<DataParallel<T>>(c);
    if (c.rank() != 0) cfg_.out_dir.clear();
  }

  // Adds an observer of the run record (e.g. report/metrics_json.hpp's MetricsJsonWriter); it
  // must outlive fit(). Observers are told in the order they were added.
  void observe(RunObserver& observer) { observers_.push_back(&observer); }

  // The run's record (filled by fit; set name/recipe/config before fit to have them saved).
  RunRecord& record() { return record_; }
  FlatParameters<T>& parameters() { return flat_; }
  const EvalResult& last_eval() const { return last_eval_; }
  int epochs_done() const { return epochs_done_; }

  // Attaches a run folder that the caller opened and holds (e.g. until its report is written);
  // it must be config.out_dir. Without one, fit() opens out_dir itself for its duration.
  void use_run_folder(RunFolder& folder) {
    if (folder.dir() != cfg_.out_dir)
      throw ValueError(detail::cat("Trainer: the run folder '", folder.dir(), "' is not config.out_dir '", cfg_.out_dir, "'"));
    folder_ = &folder;
  }

  RunRecord fit(const ImageDataset& train, const ImageDataset& test, const AugmentConfig* augment) {
    check_fit(train, test);
    std::unique_ptr<RunFolder> own;
    if (!cfg_.out_dir.empty() && !folder_) {
      own = std::make_unique<RunFolder>(cfg_.out_dir, resumed_ ? RunFolderMode::Continue
                                                              : cfg_.overwrite ? RunFolderMode::Overwrite : RunFolderMode::NewRun,
                                        std::vector<RunInput>{}, resumed_from_, record_.run_id);
      folder_ = own.get();
    }
    struct Release {  // fit() lets go of a folder it opened, however it ends
      RunFolder*& folder;
      bool owned;
      ~Release() {
        if (owned) folder = nullptr;
      }
    } release{folder_, own != nullptr};
    begin_run(train);
    const Index steps_per_epoch = (train.size() + cfg_.batch - 1) / cfg_.batch;
    for (int epoch = epochs_done_ + 1; epoch <= cfg_.epochs; ++epoch) {
      const auto t0 = std::chrono::steady_clock::now();
      EpochRecord e = train_epoch(epoch, steps_per_epoch, train, augment);
      if (parallel_) parallel_->detach(model_);  // the pieces see whole batches, the same on every rank
      for (TrainingPiece<T>* p : pieces_) p->epoch_trained(epoch, flat_);
      if (on_epoch_trained) on_epoch_trained(epoch);
      const double train_secs = seconds_since(t0);
      train_seconds_ += train_secs;
      train_images_ += e.train_total;
      e.images_per_second = static_cast<double>(e.train_total) / train_secs;
      last_eval_ = evaluate_model(test, augment);
      e.seconds = seconds_since(t0);
      record_test(e, last_eval_);
      epochs_done_ = epoch;
      finish_epoch(e);
    }
    finish_run(test, augment);
    return record_;
  }

  // Checkpoint of everything a resume needs: model, optimiser, progress and the run record (its
  // summary and the last epoch's line; the earlier epochs are in the run folder's log.csv, so
  // the checkpoint's size does not grow with the epochs).
  Checkpoint checkpoint() {
    Checkpoint c;
    put_module(c, model_);
    for (auto& s : opt_.state()) c.put("optim/" + s.first, *s.second);
    c.put_u64("optim/steps", opt_.steps_counter(), 1);
    for (const TrainingPiece<T>* p : pieces_) p->save_state(c);
    c.meta["optimizer"] = opt_.name();
    c.meta["epoch"] = std::to_string(epochs_done_);
    c.meta["seed"] = std::to_string(cfg_.seed);
    c.meta["batch"] = std::to_string(cfg_.batch);
    c.meta["train_seconds"] = detail::cat(train_seconds_);
    c.meta["train_images"] = std::to_string(train_images_);
    put_run_record(c, record_);  // the summary and the last epoch, not the history
    return c;
  }
  // Restores a checkpoint written by checkpoint(): training continues after its epoch.
  // Everything is checked before anything changes: a refused checkpoint leaves the trainer as
  // it was. The seed, batch size and optimiser must be the ones the checkpoint was made with;
  // every metadata value is parsed strictly (core/parse.hpp), a refusal names the file, the key
  // and the value. The settings in record().config (set them before resume) are compared with
  // the run's (TrainerConfig::accept_changed_settings). The epoch history comes from log.csv
  // beside the checkpoint, cut at the checkpoint's epoch, and the checkpoint's last epoch.
  void resume(const Checkpoint& c) {
    auto require_same = [&](const char* key, const std::string& ours) {
      const std::string& theirs = c.meta_at(key);
      if (theirs != ours)
        throw ValueError(detail::cat(c.source, ": the checkpoint was trained with ", key, " ", quoted(theirs), ", this run has ", ours));
    };
    require_same("seed", std::to_string(cfg_.seed));
    require_same("batch", std::to_string(cfg_.batch));
    require_same("optimizer", opt_.name());
    const auto where = [&](const char* key) { return detail::cat(c.source, ": metadata '", key, "'"); };
    const int epoch = static_cast<int>(parse_integer(c.meta_at("epoch"), 0, 1 << 24, where("epoch")));
    if (epoch > cfg_.epochs)
      throw ValueError(detail::cat(c.source, ": the checkpoint is after epoch ", epoch, ", past this run's last epoch ", cfg_.epochs,
                                   ": give at least ", epoch, " epochs to continue it"));
    const double train_seconds = parse_real(c.meta_at("train_seconds"), 0, 1e12, where("train_seconds"));
    const std::int64_t train_images = parse_integer(c.meta_at("train_images"), 0, std::int64_t{1} << 53, where("train_images"));
    RunRecord record = read_run_record(c);
    const std::vector<std::string> changes =
        setting_changes(c, record.config, record_.config, cfg_.free_settings, cfg_.accept_changed_settings, epoch);
    record.epochs = history_beside(c, epoch);
    restore_state(c, epoch);
    epochs_done_ = epoch;
    train_seconds_ = train_seconds;
    train_images_ = train_images;
    adopt_record(std::move(record), changes);
    resumed_ = true;
    resumed_from_ = c.source;
  }

 private:
  bool distilling() const { return cfg_.distill_weight > 0; }
  void own(std::unique_ptr<TrainingPiece<T>> piece) {
    pieces_.push_back(piece.get());
    owned_.push_back(std::move(piece));
  }
  BatchLoss<T>& batch_loss() {
    if (distilling()) return *distillation_;
    return cross_entropy_;
  }
  static double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  // Every check of the data against the model and the configuration, before any work.
  void check_fit(const ImageDataset& train, const ImageDataset& test) {
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
    if (distilling() && !distillation_)
      throw ValueError(detail::cat("Trainer::fit: distill_weight is ", cfg_.distill_weight,
                                   " but no teacher was given (Trainer::distill_from)"));
    if (distilling() && model_classes(distillation_->teacher(), train) != classes)
      throw ShapeError(detail::cat("Trainer::fit: the teacher scores ", model_classes(distillation_->teacher(), train),
                                   " classes, the student ", classes));
    for (TrainingPiece<T>* p : pieces_) p->check_fit(model_, train, test);
    if (parallel_) parallel_->check_batches(train.size(), cfg_.batch);
  }
  EvalResult evaluate_model(const ImageDataset& test, const AugmentConfig* augment) {
    if (parallel_) return parallel_->evaluate(model_, test, cfg_.eval_batch, normalization_of(augment));
    return evaluate(model_, test, cfg_.eval_batch, normalization_of(augment));
  }

  void begin_run(const ImageDataset& train) {
    if (record_.run_id.empty()) record_.run_id = new_run_id();
    record_.seed = cfg_.seed;
    record_.ranks = parallel_ ? parallel_->ranks() : 1;
    record_.batch_per_rank = (cfg_.batch + record_.ranks - 1) / record_.ranks;
    record_.parameters = flat_.size();
    record_.class_names = train.class_names;
    record_.train_class_counts.clear();
    for (Index c : class_counts(train)) record_.train_class_counts.push_back(c);
    record_.status = "running";
    if (parallel_) parallel_->broadcast_state(model_, opt_);
    if (cfg_.out_dir.empty() || record_.epochs.empty()) return;
    // A resumed run's log is its history up to the checkpoint: a later epoch that a killed
    // session logged after that checkpoint is trained again, and listed once.
    write_log_csv(cfg_.out_dir, record_.epochs);
  }

  // One epoch's optimiser steps; returns its record with the training figures filled in.
  EpochRecord train_epoch(int epoch, Index steps_per_epoch, const ImageDataset& train, const AugmentConfig* augment) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<Index> order = shuffled_indices(train.size(), cfg_.seed, static_cast<std::uint64_t>(epoch));
    double loss_sum = 0, lr = 0;
    std::int64_t correct = 0, seen = 0;
    for (TrainingPiece<T>* p : pieces_) p->begin_epoch(epoch, flat_);
    BatchLoss<T>& batch_loss = this->batch_loss();
    if (parallel_) parallel_->attach(model_);
    for (Index b = 0; b < steps_per_epoch; ++b) {
      const Index begin = b * cfg_.batch, n = std::min(cfg_.batch, train.size() - begin);
      const std::int64_t step = static_cast<std::int64_t>(opt_.steps());
      const auto share = parallel_ ? parallel_->share(n) : std::pair<Index, Index>{0, n};  // first, count
      make_batch(x_, y_, train, order.data() + begin + share.first, share.second, augment, cfg_.seed,
                 static_cast<std::uint64_t>(step), share.first);
      flat_.zero_grad();
      const Tensor<T>& out = model_.forward(x_, Mode::Train);
      batch_loss.set_mean_over(parallel_ ? n : 0);
      double loss = static_cast<double>(batch_loss.forward(out, x_, y_));
      std::int64_t step_correct = count_correct(out, y_);
      if (parallel_) parallel_->sum_step(loss, step_correct);
      if (!std::isfinite(loss)) stop(detail::cat("non-finite loss (", loss, ") at epoch ", epoch, ", batch ", b + 1, ", step ", step));
      correct += step_correct;
      model_.backward(batch_loss.backward());
      if (parallel_) parallel_->reduce_gradients(flat_.grads());
      lr = schedule_.lr(step);
      opt_.step(flat_, lr);
      for (TrainingPiece<T>* p : pieces_) p->after_step(epoch, flat_);
      loss_sum += loss * static_cast<double>(n);
      seen += n;
      if (on_batch)
        on_batch(BatchEvent{epoch, b + 1, steps_per_epoch, step, lr, loss, loss_sum / static_cast<double>(seen),
                            static_cast<double>(correct) / static_cast<double>(seen), static_cast<Index>(seen), seconds_since(t0)});
    }
    EpochRecord e{};
    e.epoch = epoch;
    e.lr = lr;
    e.train_loss = loss_sum / static_cast<double>(seen);
    e.train_correct = correct;
    e.train_total = seen;
    e.train_accuracy = 100.0 * static_cast<double>(correct) / static_cast<double>(seen);
    return e;
  }

  static void record_test(EpochRecord& e, const EvalResult& r) {
    e.test_loss = r.loss;
    e.test_correct = r.correct;
    e.test_total = r.total;
    e.test_accuracy = 100.0 * static_cast<double>(r.correct) / static_cast<double>(std::max<std::int64_t>(1, r.total));
  }

  void finish_run(const ImageDataset& test, const AugmentConfig* augment) {
    // Resuming a run that had already finished trains nothing: evaluate once, so last_eval()
    // describes the final model all the same.
    if (last_eval_.total != test.size()) last_eval_ = evaluate_model(test, augment);
    for (TrainingPiece<T>* p : pieces_) p->finish_run(model_, test, normalization_of(augment), cfg_.eval_batch, record_);
    record_.status = "finished";
    for (RunObserver* o : observers_) o->on_run_end(record_);
  }

  // Checks, then copies, the model, optimiser and pieces' state of a checkpoint of `epoch`.
  void restore_state(const Checkpoint& c, int epoch) {
    for (auto& s : opt_.state()) {
      Tensor<T> probe(s.second->shape());
      c.get("optim/" + s.first, probe);
    }
    for (const TrainingPiece<T>* p : pieces_) p->check_state(c, epoch, flat_);
    get_module(c, model_);  // checks all, then copies
    for (auto& s : opt_.state()) c.get("optim/" + s.first, *s.second);
    for (TrainingPiece<T>* p : pieces_) p->load_state(c, epoch, flat_);
    c.get_u64("optim/steps", opt_.steps_counter(), 1);
  }

  // Takes the checkpoint's record, keeping this session's name, command, thread count and
  // (accepted) settings.
  void adopt_record(RunRecord record, const std::vector<std::string>& changes) {
    const std::string keep_name = record_.name, keep_command = record_.command;
    const int keep_threads = record_.threads;
    const auto keep_config = record_.config;
    record_ = std::move(record);
    if (!keep_command.empty()) record_.command = keep_command;  // this session's, not the first one's
    if (keep_threads) record_.threads = keep_threads;
    if (!keep_name.empty()) record_.name = keep_name;
    if (!keep_config.empty()) record_.config = keep_config;
    record_.changes.insert(record_.changes.end(), changes.begin(), changes.end());
    record_.seconds = 0;
    for (const EpochRecord& r : record_.epochs) record_.seconds += r.seconds;
  }
  Index count_correct(const Tensor<T>& out, const std::vector<std::int32_t>& y) const {
    const Index k = out.size() / out.dim(0);
    Index c = 0;
    for (Index i = 0; i < out.dim(0); ++i) c += argmax_row(out.data() + i * k, k) == y[static_cast<std::size_t>(i)];
    return c;
  }
  // Records the epoch; with a run folder: the checkpoint(s) first, then one appended line of
  // log.csv; then the observers (metrics.json). Each write costs the same at any epoch. A kill
  // between the checkpoint and the log leaves the epoch in the checkpoint ('last_epoch.*'),
  // where resume() finds it.
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
    record_.seconds += e.seconds;
    if (train_seconds_ > 0) record_.train_images_per_second = static_cast<double>(train_images_) / train_seconds_;
    if (!cfg_.out_dir.empty()) {
      const Checkpoint c = checkpoint();
      save_checkpoint(cfg_.out_dir + "/last.ckpt", c);
      if (best) save_checkpoint(cfg_.out_dir + "/best.ckpt", c);
      append_log_csv(cfg_.out_dir, e);
    }
    for (RunObserver* o : observers_) o->on_epoch_end(record_);
    if (on_epoch) on_epoch(e);
  }
  [[noreturn]] void stop(const std::string& why) {
    record_.status = "stopped: " + why;
    for (RunObserver* o : observers_) o->on_run_end(record_);
    std::string where;
    if (!cfg_.out_dir.empty()) {
      const std::string last = cfg_.out_dir + "/last.ckpt";
      std::error_code ec;
      where = epochs_done_ > 0 && std::filesystem::is_regular_file(last, ec)
                  ? "; the last good checkpoint is " + last + " (epoch " + std::to_string(epochs_done_) + ")"
                  : "; no epoch was completed, so there is no checkpoint to resume from";
    }
    throw NumericError(detail::cat("training stopped: ", why, where));
  }

  Module<T>& model_;
  Optimizer<T>& opt_;
  const LrSchedule& schedule_;
  TrainerConfig cfg_;
  FlatParameters<T> flat_;
  CrossEntropyBatchLoss<T> cross_entropy_;
  std::unique_ptr<DistillationBatchLoss<T>> distillation_;  // with a teacher (distill_from)
  std::unique_ptr<DataParallel<T>> parallel_;              // one rank of several (distribute)
  std::vector<TrainingPiece<T>*> pieces_;                   // in the order they run
  std::vector<std::unique_ptr<TrainingPiece<T>>> owned_;    // the ones the configuration adds
  RunRecord record_;
  std::vector<RunObserver*> observers_;
  RunFolder* folder_ = nullptr;  // held while fit() writes into out_dir
  bool resumed_ = false;
  std::string resumed_from_;      // the checkpoint resume() restored
  EvalResult last_eval_;
  int epochs_done_ = 0;
  double train_seconds_ = 0;  // time spent in training steps, over all sessions of the run
  std::int64_t train_images_ = 0;
  Tensor<T> x_;
  std::vector<std::int32_t> y_;
};

}  // namespace glia
