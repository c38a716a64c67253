// glia/report/metrics_json.hpp: a run record as metrics.json (nlohmann-json), and the trainer
// observer that writes it.
//
// Contract:
//   metrics_json(run, with_epochs) / epoch_json(e)  the record as JSON: "schema", "run_id" (when
//                   set), every for_each_summary_field field, "final_test_accuracy_tta" and
//                   "final_tta" (only when measured), "ranks", "batch_per_rank", "config", "class_names",
//                   "train_class_counts", "confusion", "changes" (when any) and, with_epochs,
//                   "epochs" (each for_each_field field). Non-finite doubles are written as null.
//   parse_run_record(v, source)  the reverse. Every key written is required (unknown keys are
//                   ignored) except "schema", "run_id", "ranks", "batch_per_rank", "changes", "epochs" and the TTA pair (a
//                   file without "final_tta" but with the accuracy means "flip"); null reads as
//                   NaN; the confusion matrix must be square; a missing key or a wrong type
//                   throws FormatError naming `source` and the key path (report/json_io.hpp).
//   save_metrics_json(dir, run, with_epochs)  writes dir/metrics.json atomically
//                   (write_file_atomic), creating dir if needed; returns the path.
//   load_run_record(dir)  reads dir/metrics.json (read_input_file, "metrics file") and, when it
//                   has no "epochs" (a run still training), the history from dir/log.csv
//                   (train/epoch_log.hpp): IoError if unreadable, FormatError naming the file.
//   MetricsJsonWriter(dir)  a RunObserver (train/run_record.hpp) for Trainer::observe: after
//                   each epoch it rewrites dir/metrics.json without the history (constant cost
//                   per epoch; the history is in log.csv meanwhile), at the end (finished or
//                   stopped) with the whole history.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "glia/core/atomic_file.hpp"
#include "glia/core/error.hpp"
#include "glia/report/json_io.hpp"
#include "glia/train/epoch_log.hpp"
#include "glia/train/run_record.hpp"

namespace glia {

// The "schema" key of metrics.json; a file with another value is refused (absent is accepted).
inline constexpr const char* kRunRecordSchema = "glia.run_record/1";

inline Json epoch_json(const EpochRecord& e) {
  Json v = Json::object();
  for_each_field(e, [&](const char* name, const auto& x) { v[name] = x; });
  return v;
}

// with_epochs = false leaves out the per-epoch history: a record written every epoch then costs
// the same at epoch 3,000 as at epoch 1.
inline Json metrics_json(const RunRecord& run, bool with_epochs = true) {
  Json v = Json::object();
  v["schema"] = kRunRecordSchema;
  if (!run.run_id.empty()) v["run_id"] = run.run_id;
  for_each_summary_field(run, [&](const char* name, const auto& x) { v[name] = x; });
  if (run.final_test_accuracy_tta >= 0) {
    v["final_test_accuracy_tta"] = run.final_test_accuracy_tta;
    v["final_tta"] = run.final_tta;
  }
  v["ranks"] = run.ranks;
  v["batch_per_rank"] = run.batch_per_rank;
  v["config"] = Json::object();
  for (const auto& kv : run.config) v["config"][kv.first] = kv.second;
  v["class_names"] = run.class_names;
  v["train_class_counts"] = run.train_class_counts;
  v["confusion"] = run.confusion;
  if (!run.changes.empty()) v["changes"] = run.changes;
  if (!with_epochs) return v;
  v["epochs"] = Json::array();
  for (const EpochRecord& e : run.epochs) v["epochs"].push_back(epoch_json(e));
  return v;
}

namespace detail {

inline EpochRecord read_epoch(const JsonReader& r, const Json& v, const std::string& path) {
  EpochRecord e;
  for_each_field(e, [&](const char* name, auto& x) { r.field(v, name, path, x); });
  return e;
}

template <typename V>
std::vector<V> read_list(const JsonReader& r, const Json& obj, const std::string& key) {
  const Json& list = r.array(r.member(obj, key, ""), key);
  std::vector<V> out(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) r.get(list[i], JsonReader::index(key, i), out[i]);
  return out;
}

inline std::vector<std::vector<std::int64_t>> read_confusion(const JsonReader& r, const Json& v) {
  const Json& rows = r.array(r.member(v, "confusion", ""), "confusion");
  std::vector<std::vector<std::int64_t>> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string p = JsonReader::index("confusion", i);
    const Json& row = r.array(rows[i], p);
    if (row.size() != rows.size())
      r.fail(p, cat("confusion matrix must be square: row has ", row.size(), " entries, matrix has ", rows.size(), " rows"));
    out.emplace_back(row.size());
    for (std::size_t j = 0; j < row.size(); ++j) r.get(row[j], JsonReader::index(p, j), out.back()[j]);
  }
  return out;
}

inline void read_optional_parts(const JsonReader& r, const Json& v, RunRecord& run) {
  if (v.contains("final_test_accuracy_tta")) {
    r.field(v, "final_test_accuracy_tta", "", run.final_test_accuracy_tta);
    run.final_tta = "flip";  // files from before final_tta existed
    if (v.contains("final_tta")) r.field(v, "final_tta", "", run.final_tta);
  }
  if (v.contains("run_id")) r.field(v, "run_id", "", run.run_id);
  if (v.contains("ranks")) r.field(v, "ranks", "", run.ranks);
  if (v.contains("batch_per_rank")) r.field(v, "batch_per_rank", "", run.batch_per_rank);
  if (v.contains("changes")) run.changes = read_list<std::string>(r, v, "changes");
  if (!v.contains("epochs")) return;  // a record written during a run: the history is in log.csv
  const Json& epochs = r.array(r.member(v, "epochs", ""), "epochs");
  for (std::size_t i = 0; i < epochs.size(); ++i) run.epochs.push_back(read_epoch(r, epochs[i], JsonReader::index("epochs", i)));
}

}  // namespace detail

inline RunRecord parse_run_record(const Json& v, const std::string& source) {
  const JsonReader r(source);
  if (!v.is_object()) throw FormatError(detail::cat(source, ": expected a JSON object, got ", v.type_name()));
  if (v.contains("schema")) {
    std::string schema;
    r.field(v, "schema", "", schema);
    if (schema != kRunRecordSchema) r.fail("schema", detail::cat("expected \"", kRunRecordSchema, "\", got \"", schema, "\""));
  }
  RunRecord run;
  for_each_summary_field(run, [&](const char* name, auto& x) { r.field(v, name, "", x); });
  for (const auto& kv : r.object(r.member(v, "config", ""), "config").items())
    r.get(kv.value(), JsonReader::sub("config", kv.key()), run.config[kv.key()]);
  run.class_names = detail::read_list<std::string>(r, v, "class_names");
  run.train_class_counts = detail::read_list<std::int64_t>(r, v, "train_class_counts");
  run.confusion = detail::read_confusion(r, v);
  detail::read_optional_parts(r, v, run);
  return run;
}

inline std::string save_metrics_json(const std::string& dir, const RunRecord& run, bool with_epochs = true) {
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError(detail::cat("cannot create directory '", dir, "': ", ec.message()));
  const std::string path = (std::filesystem::path(dir) / "metrics.json").string();
  write_file_atomic(path, dump_json(metrics_json(run, with_epochs)) + "\n");
  return path;
}

inline RunRecord load_run_record(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "metrics.json").string();
  const Json v = read_json_file(path, "metrics file");
  RunRecord run = parse_run_record(v, path);
  // A run still training writes its history to log.csv only (metrics_json's with_epochs).
  const std::filesystem::path log = std::filesystem::path(dir) / "log.csv";
  std::error_code ec;
  if (!v.contains("epochs") && std::filesystem::is_regular_file(log, ec)) run.epochs = read_log_csv(log.string());
  return run;
}

class MetricsJsonWriter : public RunObserver {
 public:
  explicit MetricsJsonWriter(std::string dir) : dir_(std::move(dir)) {}
  void on_epoch_end(const RunRecord& run) override { save_metrics_json(dir_, run, false); }
  void on_run_end(const RunRecord& run) override { save_metrics_json(dir_, run, true); }

 private:
  std::string dir_;
};

}  // namespace glia
