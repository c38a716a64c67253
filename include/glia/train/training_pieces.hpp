// glia/train/training_pieces.hpp: what the training loop can do besides its plain steps, as
// pieces plugged into it (Trainer::add), so that the loop itself stays one readable function.
//
// Contract:
// - TrainingPiece<T>: hooks the trainer calls, each at one place of the loop, in the order the
//   pieces were added (all do nothing by default):
//     check_fit(model, train, test)        before any work: throw to refuse the run;
//     begin_epoch(epoch, params)           before the epoch's first step;
//     after_step(epoch, params)            after each optimiser step;
//     epoch_trained(epoch, params)         after the epoch's last step, before its evaluation
//                                          (its time counts as training time);
//     finish_run(model, test, normalization, eval_batch, record)  after the last epoch;
//     save_state(checkpoint)               into each checkpoint the trainer writes;
//     check_state(checkpoint, epoch, params) then load_state(...): on resume, first every
//                                          piece checks (throwing leaves everything as it
//                                          was), then every piece loads.
// - BatchLoss<T>: what a step minimises: forward(scores, input, labels) and backward() (the
//   gradient of the mean loss with respect to the scores). CrossEntropyBatchLoss is the default;
//   DistillationBatchLoss mixes in a teacher's scores (nn/loss.hpp's DistillationLoss; the
//   teacher runs in eval mode on the same batch, its parameters never change).
// - WeightAveraging: an exponential moving average of the weights (optim/weight_average.hpp)
//   from the start of epoch `from` on, updated after every step; after the last epoch's last
//   step the weights are replaced by it; checkpoints carry it as "average/weights" (a
//   checkpoint of an epoch >= from without it is refused on resume, naming the file).
// - FinalTestTimeAugmentation: after the last epoch, evaluates the final model once more with
//   a test-time augmentation (RunRecord::final_test_accuracy_tta); refuses in check_fit an
//   augmentation the test images cannot take (check_tta_fits).
#pragma once

#include <string>
#include <vector>

#include "glia/data/augment.hpp"
#include "glia/data/dataset.hpp"
#include "glia/nn/flat_parameters.hpp"
#include "glia/nn/loss.hpp"
#include "glia/optim/weight_average.hpp"
#include "glia/train/checkpoint.hpp"
#include "glia/train/evaluate.hpp"
#include "glia/train/run_record.hpp"

namespace glia {

template <typename T>
class TrainingPiece {
 public:
  virtual ~TrainingPiece() = default;
  virtual void check_fit(Module<T>& /*model*/, const ImageDataset& /*train*/, const ImageDataset& /*test*/) {}
  virtual void begin_epoch(int /*epoch*/, FlatParameters<T>& /*params*/) {}
  virtual void after_step(int /*epoch*/, FlatParameters<T>& /*params*/) {}
  virtual void epoch_trained(int /*epoch*/, FlatParameters<T>& /*params*/) {}
  virtual void finish_run(Module<T>& /*model*/, const ImageDataset& /*test*/, const Normalization& /*n*/, Index /*eval_batch*/,
                          RunRecord& /*record*/) {}
  virtual void save_state(Checkpoint& /*c*/) const {}
  virtual void check_state(const Checkpoint& /*c*/, int /*epoch*/, const FlatParameters<T>& /*params*/) const {}
  virtual void load_state(const Checkpoint& /*c*/, int /*epoch*/, const FlatParameters<T>& /*params*/) {}
};

template <typename T>
class BatchLoss {
 public:
  virtual ~BatchLoss() = default;
  virtual T forward(const Tensor<T>& scores, const Tensor<T>& input, const std::vector<std::int32_t>& labels) = 0;
  virtual const Tensor<T>& backward() = 0;
  // The count the next means divide by (0: the batch's own): data-parallel training gives each
  // rank's share the global batch's count. A loss that cannot says so.
  virtual void set_mean_over(Index n) {
    if (n) throw ValueError("this loss cannot be the mean over a global batch (data-parallel training)");
  }
};

template <typename T>
class CrossEntropyBatchLoss : public BatchLoss<T> {
 public:
  explicit CrossEntropyBatchLoss(double label_smoothing) : loss_(label_smoothing) {}
  T forward(const Tensor<T>& scores, const Tensor<T>&, const std::vector<std::int32_t>& labels) override {
    return loss_.forward(scores, labels);
  }
  const Tensor<T>& backward() override { return loss_.backward(); }
  void set_mean_over(Index n) override { loss_.set_mean_over(n); }

 private:
  CrossEntropyLoss<T> loss_;
};

template <typename T>
class DistillationBatchLoss : public BatchLoss<T> {
 public:
  DistillationBatchLoss(Module<T>& teacher, double weight, double temperature, double label_smoothing)
      : teacher_(teacher), loss_(weight, temperature, label_smoothing) {}
  T forward(const Tensor<T>& scores, const Tensor<T>& input, const std::vector<std::int32_t>& labels) override {
    return loss_.forward(scores, teacher_.forward(input, Mode::Eval), labels);
  }
  const Tensor<T>& backward() override { return loss_.backward(); }
  void set_mean_over(Index n) override { loss_.set_mean_over(n); }
  Module<T>& teacher() { return teacher_; }

 private:
  Module<T>& teacher_;
  DistillationLoss<T> loss_;
};

template <typename T>
class WeightAveraging : public TrainingPiece<T> {
 public:
  WeightAveraging(double decay, int from, int last_epoch) : average_(decay), decay_(decay), from_(from), last_(last_epoch) {
    if (from < 1 || from > last_epoch)
      throw ValueError(detail::cat("Trainer: weight averaging must start in an epoch from 1 to ", last_epoch, ", got ", from));
  }
  void begin_epoch(int epoch, FlatParameters<T>& p) override {
    if (epoch >= from_ && !average_.started()) average_.start(p.values());
  }
  void after_step(int epoch, FlatParameters<T>& p) override {
    if (epoch >= from_) average_.update(p.values());
  }
  // Before any other piece's epoch_trained: they see the averaged weights (e.g. precise BN).
  void epoch_trained(int epoch, FlatParameters<T>& p) override {
    if (epoch >= from_ && epoch == last_) average_.copy_to(p.values());
  }
  void save_state(Checkpoint& c) const override {
    if (average_.started()) c.put("average/weights", average_.average());
  }
  void check_state(const Checkpoint& c, int epoch, const FlatParameters<T>& p) const override {
    if (epoch < from_) return;
    if (!c.has("average/weights"))
      throw ValueError(detail::cat(c.source, ": this run averages the weights from epoch ", from_, ", but the checkpoint of epoch ",
                                   epoch, " has no average ('average/weights')"));
    Tensor<T> probe(Shape{p.size()});
    c.get("average/weights", probe);
  }
  void load_state(const Checkpoint& c, int epoch, const FlatParameters<T>& p) override {
    average_ = WeightAverage<T>(decay_);
    if (epoch < from_) return;
    Tensor<T> average(Shape{p.size()});
    c.get("average/weights", average);
    average_.start(average);
  }

 private:
  WeightAverage<T> average_;
  double decay_;
  int from_, last_;
};

template <typename T>
class FinalTestTimeAugmentation : public TrainingPiece<T> {
 public:
  explicit FinalTestTimeAugmentation(TestTimeAugmentation tta) : tta_(std::move(tta)) {}
  void check_fit(Module<T>&, const ImageDataset&, const ImageDataset& test) override { check_tta_fits(tta_, test); }
  void finish_run(Module<T>& model, const ImageDataset& test, const Normalization& n, Index eval_batch, RunRecord& record) override {
    record.final_tta = tta_.name();
    record.final_test_accuracy_tta = 100.0 * evaluate(model, test, eval_batch, n, tta_).accuracy();
  }

 private:
  TestTimeAugmentation tta_;
};

}  // namespace glia
