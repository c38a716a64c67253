// glia/train/run_metadata.hpp: a run record inside a checkpoint's metadata, as flat text keys.
//
// Checkpoint metadata is a map of strings (train/checkpoint.hpp). A RunRecord is stored in it
// without any JSON, one value per key (docs/checkpoint-format.md lists them):
//   format                 kTrainingCheckpointFormat, the version of this layout
//   run.<field>            each for_each_summary_field field ("run.seed" = "1", "run.norm" = "bn")
//   run.final_tta, run.final_test_accuracy_tta   only when the TTA accuracy was measured
//   run_id                 RunRecord::run_id
//   run.ranks, run.batch_per_rank   data-parallel training's (optional: older checkpoints lack them)
//   config.<key>           each RunRecord::config entry (glia-cifar10 rebuilds a model from these)
//   run.class_names.count, run.class_names.<i>   and the same for run.changes
//   run.train_class_counts "5000,5000,..." (comma-separated integers; "" when there are none)
//   run.confusion.count, run.confusion.<i>       row i, comma-separated; the matrix is square
//   last_epoch.<field>     the last EpochRecord, each for_each_field field, when there is one
// The record's history (epochs) is not stored: it is in the run folder's log.csv, so a
// checkpoint's size does not grow with the epochs; history_beside(c, epoch) reads it back for a
// resume, and setting_changes compares a resumed session's settings with the run's.
//
// Contract: put_run_record(c, run) writes those keys. read_run_record(c) first checks "format":
// a checkpoint of an older glia (its run record was JSON, format "glia training checkpoint")
// or of another program is refused with FormatError naming the file and the format it has;
// its tensors still load (get_module), only its record cannot be read. It then reads the keys back
// exactly (doubles round-trip bit for bit; "nan" and "inf" are read as such) with epochs
// empty; read_last_epoch(c, &e) fills e and returns true when the checkpoint has one. Every
// value is parsed whole and strictly (train/epoch_log.hpp parse_field, core/parse.hpp for the
// counts): a missing key or a bad value throws FormatError naming the file (Checkpoint::source),
// the key and the value, e.g. "runs/bn/last.ckpt: metadata 'run.seed': not an integer 'x'".
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/core/parse.hpp"
#include "glia/train/checkpoint.hpp"
#include "glia/train/epoch_log.hpp"
#include "glia/train/run_record.hpp"

namespace glia {

// The "format" metadata of a checkpoint holding a run record in this layout.
inline constexpr const char* kTrainingCheckpointFormat = "glia training checkpoint/2";

namespace detail {

// The most entries a list or matrix row in the metadata may declare (far above any class count).
constexpr std::int64_t kMaxMetadataList = std::int64_t{1} << 20;

inline std::string meta_where(const Checkpoint& c, const std::string& key) { return cat(c.source, ": metadata '", key, "'"); }

template <typename V>
void read_meta(const Checkpoint& c, const std::string& key, V& v) {
  parse_field(c.meta_at(key), v, meta_where(c, key));
}

inline void put_string_list(Checkpoint& c, const std::string& key, const std::vector<std::string>& list) {
  c.meta[key + ".count"] = std::to_string(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) c.meta[cat(key, ".", i)] = list[i];
}

inline std::vector<std::string> read_string_list(const Checkpoint& c, const std::string& key) {
  const std::string count_key = key + ".count";
  const auto n = parse_integer(c.meta_at(count_key), 0, kMaxMetadataList, meta_where(c, count_key));
  std::vector<std::string> list;
  for (std::int64_t i = 0; i < n; ++i) list.push_back(c.meta_at(cat(key, ".", i)));
  return list;
}

inline std::string join_integers(const std::vector<std::int64_t>& values) {
  std::string s;
  for (std::size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + std::to_string(values[i]);
  return s;
}

inline std::vector<std::int64_t> read_integers(const Checkpoint& c, const std::string& key) {
  const std::string& text = c.meta_at(key);
  std::vector<std::int64_t> values;
  if (text.empty()) return values;
  for (const std::string& field : split_csv(text)) {
    if (static_cast<std::int64_t>(values.size()) >= kMaxMetadataList)
      throw FormatError(cat(meta_where(c, key), ": more than ", kMaxMetadataList, " values"));
    values.emplace_back();
    parse_field(field, values.back(), meta_where(c, key));
  }
  return values;
}

inline std::vector<std::vector<std::int64_t>> read_confusion(const Checkpoint& c) {
  const std::string count_key = "run.confusion.count";
  const auto n = parse_integer(c.meta_at(count_key), 0, kMaxMetadataList, meta_where(c, count_key));
  std::vector<std::vector<std::int64_t>> rows;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::string key = cat("run.confusion.", i);
    rows.push_back(read_integers(c, key));
    if (static_cast<std::int64_t>(rows.back().size()) != n)
      throw FormatError(cat(meta_where(c, key), ": the confusion matrix must be square: the row has ", rows.back().size(),
                            " entries, the matrix ", n, " rows"));
  }
  return rows;
}

inline void check_training_format(const Checkpoint& c) {
  const auto it = c.meta.find("format");
  const std::string format = it == c.meta.end() ? "" : it->second;
  if (format == kTrainingCheckpointFormat) return;
  throw FormatError(cat(c.source, ": metadata 'format' is ", format.empty() ? "missing" : quoted(format), ", expected '",
                        kTrainingCheckpointFormat, "'",
                        format == "glia training checkpoint"
                            ? ": the checkpoint was written by an older glia, whose run record this glia no longer reads (its "
                              "weights still load: eval, predict, --teacher); start a new run, or resume with that glia"
                            : ": not a training checkpoint of this glia"));
}

}  // namespace detail

inline void put_run_record(Checkpoint& c, const RunRecord& run) {
  c.meta["format"] = kTrainingCheckpointFormat;
  for_each_summary_field(run, [&](const char* name, const auto& v) { c.meta[std::string("run.") + name] = field_text(v); });
  if (run.final_test_accuracy_tta >= 0) {
    c.meta["run.final_test_accuracy_tta"] = field_text(run.final_test_accuracy_tta);
    c.meta["run.final_tta"] = run.final_tta;
  }
  c.meta["run_id"] = run.run_id;
  c.meta["run.ranks"] = field_text(run.ranks);
  c.meta["run.batch_per_rank"] = field_text(run.batch_per_rank);
  for (const auto& kv : run.config) c.meta["config." + kv.first] = kv.second;
  detail::put_string_list(c, "run.class_names", run.class_names);
  detail::put_string_list(c, "run.changes", run.changes);
  c.meta["run.train_class_counts"] = detail::join_integers(run.train_class_counts);
  c.meta["run.confusion.count"] = std::to_string(run.confusion.size());
  for (std::size_t i = 0; i < run.confusion.size(); ++i) c.meta[detail::cat("run.confusion.", i)] = detail::join_integers(run.confusion[i]);
  if (run.epochs.empty()) return;
  for_each_field(run.epochs.back(), [&](const char* name, const auto& v) { c.meta[std::string("last_epoch.") + name] = field_text(v); });
}

inline RunRecord read_run_record(const Checkpoint& c) {
  detail::check_training_format(c);
  RunRecord run;
  for_each_summary_field(run, [&](const char* name, auto& v) { detail::read_meta(c, std::string("run.") + name, v); });
  if (c.meta.count("run.final_test_accuracy_tta")) {
    detail::read_meta(c, "run.final_test_accuracy_tta", run.final_test_accuracy_tta);
    run.final_tta = c.meta_at("run.final_tta");
  }
  run.run_id = c.meta_at("run_id");
  if (c.meta.count("run.ranks")) detail::read_meta(c, "run.ranks", run.ranks);  // absent before data-parallel training
  if (c.meta.count("run.batch_per_rank")) detail::read_meta(c, "run.batch_per_rank", run.batch_per_rank);
  for (const auto& kv : c.meta)
    if (kv.first.rfind("config.", 0) == 0) run.config[kv.first.substr(7)] = kv.second;
  run.class_names = detail::read_string_list(c, "run.class_names");
  run.changes = detail::read_string_list(c, "run.changes");
  run.train_class_counts = detail::read_integers(c, "run.train_class_counts");
  run.confusion = detail::read_confusion(c);
  return run;
}

inline bool read_last_epoch(const Checkpoint& c, EpochRecord* e) {
  detail::check_training_format(c);
  if (!c.meta.count("last_epoch.epoch")) return false;
  EpochRecord r;
  for_each_field(r, [&](const char* name, auto& v) { detail::read_meta(c, std::string("last_epoch.") + name, v); });
  *e = r;
  return true;
}

// The settings of ours that differ from the checkpoint run's (theirs), as change notes "from
// epoch E: key 'old' -> 'new'"; ValueError listing them unless accept. Settings in free_settings
// are not compared, nor one the run did not record (a newer program's); nothing when ours is
// empty (the caller keeps no settings to compare).
inline std::vector<std::string> setting_changes(const Checkpoint& c, const std::map<std::string, std::string>& theirs,
                                                const std::map<std::string, std::string>& ours,
                                                const std::set<std::string>& free_settings, bool accept, int epoch) {
  std::vector<std::string> changes;
  if (ours.empty()) return changes;
  for (const auto& kv : theirs) {
    auto b = ours.find(kv.first);
    const std::string now = b == ours.end() ? "(unset)" : b->second;
    if (kv.second != now && !free_settings.count(kv.first))
      changes.push_back(detail::cat("from epoch ", epoch + 1, ": ", kv.first, " ", quoted(kv.second), " -> ", quoted(now)));
  }
  if (changes.empty() || accept) return changes;
  std::string list;
  for (const std::string& ch : changes) list += "\n  " + ch;
  throw ValueError(detail::cat(c.source, ": this session's settings differ from the run's:", list,
                               "\nresume with the run's settings, or accept the changes (TrainerConfig::accept_changed_settings;"
                               " glia-cifar10 --accept-changes) to have them recorded in the run"));
}

// The epochs before `epoch` from the log.csv beside checkpoint c, then c's own last epoch;
// nothing from a log that is missing or unreadable (a resumed log then starts at epoch + 1).
inline std::vector<EpochRecord> history_beside(const Checkpoint& c, int epoch) {
  std::vector<EpochRecord> history;
  const std::filesystem::path log = std::filesystem::path(c.source).parent_path() / "log.csv";
  try {
    std::error_code ec;
    if (std::filesystem::is_regular_file(log, ec))
      for (const EpochRecord& e : read_log_csv(log.string()))
        if (e.epoch < epoch && (history.empty() || e.epoch > history.back().epoch)) history.push_back(e);
  } catch (const Error&) {
    history.clear();  // a damaged log does not stop a resume; the run keeps its checkpointed state
  }
  EpochRecord last;
  if (read_last_epoch(c, &last) && last.epoch == epoch) history.push_back(last);
  return history;
}

}  // namespace glia
