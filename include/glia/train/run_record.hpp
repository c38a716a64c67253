// glia/train/run_record.hpp: the record of one training run, as plain data.
//
// Contract:
//   EpochRecord / RunRecord  plain structs filled by the trainer (train/trainer.hpp). Accuracies
//                   are PERCENT, in [0, 100]; times are seconds; lr is the rate used in that
//                   epoch. Nothing here reads or writes a file: log.csv is train/epoch_log.hpp,
//                   the checkpoint's copy train/run_metadata.hpp, metrics.json
//                   report/metrics_json.hpp.
//   for_each_field(epoch, f)       calls f(name, member) for the 12 fields of an EpochRecord, in
//                   log.csv's column order; the one list of them (the CSV header and rows, the
//                   JSON, the checkpoint metadata all use it). Works on a const or mutable record.
//   for_each_summary_field(run, f) the same for RunRecord's scalar fields (strings and numbers)
//                   that every run has; the optional TTA pair, the lists and the history are
//                   handled by each format on its own.
//   RunObserver     what the trainer tells about the record while it trains: on_epoch_end after
//                   each epoch's checkpoints and log line (run.epochs holds the history so far),
//                   on_run_end when the run finished or stopped (run.status says which). The
//                   report's metrics.json writer (report/metrics_json.hpp) is one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace glia {

struct EpochRecord {
  int epoch = 0;  // 1-based
  double lr = 0, seconds = 0, train_loss = 0;
  std::int64_t train_correct = 0, train_total = 0;
  double train_accuracy = 0, test_loss = 0;  // accuracies in percent
  std::int64_t test_correct = 0, test_total = 0;
  double test_accuracy = 0;
  double images_per_second = 0;  // training throughput of the epoch
};

// Record is EpochRecord or const EpochRecord; f(const char* name, member&) for each field.
template <typename Record, typename F>
void for_each_field(Record& e, F&& f) {
  f("epoch", e.epoch);
  f("lr", e.lr);
  f("seconds", e.seconds);
  f("train_loss", e.train_loss);
  f("train_correct", e.train_correct);
  f("train_total", e.train_total);
  f("train_accuracy", e.train_accuracy);
  f("test_loss", e.test_loss);
  f("test_correct", e.test_correct);
  f("test_total", e.test_total);
  f("test_accuracy", e.test_accuracy);
  f("images_per_second", e.images_per_second);
}

struct RunRecord {
  std::string name;  // e.g. "bn"
  std::string recipe, norm;
  std::uint64_t seed = 0;
  int threads = 0;
  // Data-parallel training (Trainer::distribute): the ranks and the largest share of a batch
  // that one rank takes; 1 and the batch for one process. Optional in files (older ones: 1, 0).
  int ranks = 1;
  std::int64_t batch_per_rank = 0;
  std::int64_t parameters = 0;
  std::vector<EpochRecord> epochs;
  std::vector<std::string> class_names;
  std::vector<std::vector<std::int64_t>> confusion;  // [true][pred] of the final test evaluation
  std::vector<std::int64_t> train_class_counts;
  double best_test_accuracy = 0;
  int best_epoch = 0;
  double final_test_accuracy = 0, final_train_accuracy = 0, seconds = 0, train_images_per_second = 0;
  // The final model's test accuracy with test-time augmentation final_tta ("flip",
  // "flip+shift1", ...; TrainerConfig::final_tta); negative when not measured, and then both
  // are absent from metrics.json. Files written before final_tta existed mean "flip".
  double final_test_accuracy_tta = -1;
  std::string final_tta;
  std::string status = "running";  // "running", "finished", "stopped: <reason>"
  std::string command, commit;     // free text
  std::map<std::string, std::string> config;  // hyperparameters
  // Names this run, across resumes (train/run_folder.hpp new_run_id); "" in older records.
  std::string run_id;
  // Settings changed when the run was resumed, as "from epoch E: key 'old' -> 'new'".
  std::vector<std::string> changes;
};

// Run is RunRecord or const RunRecord; f(const char* name, member&) for each scalar field.
template <typename Run, typename F>
void for_each_summary_field(Run& r, F&& f) {
  f("name", r.name);
  f("recipe", r.recipe);
  f("norm", r.norm);
  f("status", r.status);
  f("seed", r.seed);
  f("threads", r.threads);
  f("parameters", r.parameters);
  f("best_test_accuracy", r.best_test_accuracy);
  f("best_epoch", r.best_epoch);
  f("final_test_accuracy", r.final_test_accuracy);
  f("final_train_accuracy", r.final_train_accuracy);
  f("seconds", r.seconds);
  f("train_images_per_second", r.train_images_per_second);
  f("command", r.command);
  f("commit", r.commit);
}

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // After an epoch's checkpoints and log.csv line; run.epochs.back() is that epoch.
  virtual void on_epoch_end(const RunRecord& run) = 0;
  // Once, when the run finished (status "finished") or stopped ("stopped: <reason>").
  virtual void on_run_end(const RunRecord& run) = 0;
};

}  // namespace glia
