// glia/report/run_record.hpp: the records of one training run, as plain data, and their files.
//
// Contract:
//   EpochRecord / RunRecord  plain structs filled by the trainer; the report never sees layers,
//                   tensors or the trainer. Accuracies are PERCENT, in [0, 100] (as the
//                   trainer records them); times are seconds; lr is the rate used in that epoch.
//   to_json(r, with_epochs) / from_json(v, r, source)  convert to and from json::Value. Every
//                   key written by to_json is required by from_json (unknown keys are ignored)
//                   except "run_id", "changes" and "epochs" (absent: a record written during a
//                   run, whose history is in log.csv, or a file from before they existed); a missing key
//                   or a wrong type throws FormatError naming `source` and the key path, e.g.
//                   "runs/bn/metrics.json: missing key 'epochs[2].test_loss'". Non-finite
//                   doubles (a NaN loss) are written as null and read back as NaN. The confusion
//                   matrix must be square; it may have more classes than class_names (the
//                   report then labels those by number).
//   save_metrics_json(dir, run)  writes dir/metrics.json atomically (write_file_atomic),
//                   creating dir if needed; returns the path. IoError on failure.
//   load_run_record(dir)  reads dir/metrics.json (read_input_file: a regular file of at most
//                   256 MiB) and, when it has no "epochs", the history from dir/log.csv: IoError if
//                   unreadable, FormatError naming the file (and offset or key) if it is not a
//                   valid record.
//   append_log_csv(dir, e)  appends one line for epoch e to dir/log.csv with glia::append_line
//                   (one write + fsync), preceded by the header line in the same write when the
//                   file is new or empty; creates dir if needed. A killed run leaves whole lines.
//   read_log_csv(path)  reads such a file. Columns are found by header name (all 12 required,
//                   extra columns ignored). A last line without its newline that does not
//                   parse is taken as an interrupted write and skipped; any other bad line
//                   throws FormatError naming the file, the line number and the column.
//   update_run_summary(run)  recomputes best_test_accuracy / best_epoch (first epoch with the
//                   highest finite test accuracy) and final_test_accuracy /
//                   final_train_accuracy (last epoch) from run.epochs; leaves the rest alone.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "glia/core/atomic_file.hpp"
#include "glia/core/error.hpp"
#include "glia/report/json.hpp"

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

struct RunRecord {
  std::string name;  // e.g. "bn"
  std::string recipe, norm;
  std::uint64_t seed = 0;
  int threads = 0;
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

// The "schema" key of metrics.json; from_json rejects another value (absent is accepted).
inline constexpr const char* kRunRecordSchema = "glia.run_record/1";

namespace detail {
namespace report {

inline std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

inline void make_directories(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError(cat("cannot create directory '", dir, "': ", ec.message()));
}

inline bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

// Shortest text that reads back to the same double; "nan", "inf", "-inf" for the others.
// textfmt::shortest (report/text_format.hpp, included by json.hpp) is the report layer's one
// checked std::to_chars call, so log.csv and metrics.json write every double the same way.
inline std::string format_double(double v) { return textfmt::shortest(v); }

// Reads typed members of a JSON record; every error names the source and the key path.
class RecordReader {
 public:
  explicit RecordReader(const std::string& source) : source_(source) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw FormatError(cat(source_, ": key '", path, "': ", what));
  }
  const json::Value& member(const json::Value& obj, const std::string& key, const std::string& path) const {
    const std::string full = path.empty() ? key : path + "." + key;
    if (!obj.is_object()) fail(path.empty() ? "<top>" : path, cat("expected an object, got ", json::type_name(obj.type())));
    const json::Value* v = obj.find(key);
    if (v == nullptr) throw FormatError(cat(source_, ": missing key '", full, "'"));
    return *v;
  }
  template <typename F>
  auto convert(const json::Value& v, const std::string& path, F f) const -> decltype(f(v)) {
    try {
      return f(v);
    } catch (const FormatError& e) {
      fail(path, e.what());
    }
  }
  double real(const json::Value& v, const std::string& path) const {
    if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
    return convert(v, path, [](const json::Value& x) { return x.as_double(); });
  }
  std::int64_t int64(const json::Value& v, const std::string& path) const {
    return convert(v, path, [](const json::Value& x) { return x.as_int64(); });
  }
  int int32(const json::Value& v, const std::string& path) const {
    const std::int64_t i = int64(v, path);
    if (i < std::numeric_limits<int>::min() || i > std::numeric_limits<int>::max()) fail(path, "out of range for int");
    return static_cast<int>(i);
  }
  std::uint64_t uint64(const json::Value& v, const std::string& path) const {
    return convert(v, path, [](const json::Value& x) { return x.as_uint64(); });
  }
  std::string string(const json::Value& v, const std::string& path) const {
    return convert(v, path, [](const json::Value& x) { return x.as_string(); });
  }
  const json::Array& array(const json::Value& v, const std::string& path) const {
    return convert(v, path, [](const json::Value& x) -> const json::Array& { return x.as_array(); });
  }
  const json::Object& object(const json::Value& v, const std::string& path) const {
    return convert(v, path, [](const json::Value& x) -> const json::Object& { return x.as_object(); });
  }

  // Shorthands: obj[key] as a type, path = parent path.
  double real(const json::Value& o, const std::string& key, const std::string& p) const { return real(member(o, key, p), sub(p, key)); }
  std::int64_t int64(const json::Value& o, const std::string& key, const std::string& p) const { return int64(member(o, key, p), sub(p, key)); }
  int int32(const json::Value& o, const std::string& key, const std::string& p) const { return int32(member(o, key, p), sub(p, key)); }
  std::string string(const json::Value& o, const std::string& key, const std::string& p) const { return string(member(o, key, p), sub(p, key)); }

  static std::string sub(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }
  static std::string index(const std::string& path, std::size_t i) { return cat(path, "[", i, "]"); }

 private:
  const std::string& source_;
};

inline void read_epoch(const RecordReader& r, const json::Value& v, const std::string& p, EpochRecord& e) {
  e.epoch = r.int32(v, "epoch", p);
  e.lr = r.real(v, "lr", p);
  e.seconds = r.real(v, "seconds", p);
  e.train_loss = r.real(v, "train_loss", p);
  e.train_correct = r.int64(v, "train_correct", p);
  e.train_total = r.int64(v, "train_total", p);
  e.train_accuracy = r.real(v, "train_accuracy", p);
  e.test_loss = r.real(v, "test_loss", p);
  e.test_correct = r.int64(v, "test_correct", p);
  e.test_total = r.int64(v, "test_total", p);
  e.test_accuracy = r.real(v, "test_accuracy", p);
  e.images_per_second = r.real(v, "images_per_second", p);
}

}  // namespace report
}  // namespace detail

inline json::Value to_json(const EpochRecord& e) {
  json::Value v = json::Value::object();
  v.set("epoch", e.epoch);
  v.set("lr", e.lr);
  v.set("seconds", e.seconds);
  v.set("train_loss", e.train_loss);
  v.set("train_correct", e.train_correct);
  v.set("train_total", e.train_total);
  v.set("train_accuracy", e.train_accuracy);
  v.set("test_loss", e.test_loss);
  v.set("test_correct", e.test_correct);
  v.set("test_total", e.test_total);
  v.set("test_accuracy", e.test_accuracy);
  v.set("images_per_second", e.images_per_second);
  return v;
}

// with_epochs = false leaves out the per-epoch history ("epochs"): a record written every epoch
// then costs the same at epoch 3,000 as at epoch 1 (the history is in log.csv meanwhile).
inline json::Value to_json(const RunRecord& run, bool with_epochs = true) {
  json::Value v = json::Value::object();
  v.set("schema", kRunRecordSchema);
  if (!run.run_id.empty()) v.set("run_id", run.run_id);
  v.set("name", run.name);
  v.set("recipe", run.recipe);
  v.set("norm", run.norm);
  v.set("status", run.status);
  v.set("seed", run.seed);
  v.set("threads", run.threads);
  v.set("parameters", run.parameters);
  v.set("best_test_accuracy", run.best_test_accuracy);
  v.set("best_epoch", run.best_epoch);
  v.set("final_test_accuracy", run.final_test_accuracy);
  v.set("final_train_accuracy", run.final_train_accuracy);
  if (run.final_test_accuracy_tta >= 0) {
    v.set("final_test_accuracy_tta", run.final_test_accuracy_tta);
    v.set("final_tta", run.final_tta);
  }
  v.set("seconds", run.seconds);
  v.set("train_images_per_second", run.train_images_per_second);
  v.set("command", run.command);
  v.set("commit", run.commit);
  json::Value config = json::Value::object();
  for (const auto& kv : run.config) config.set(kv.first, kv.second);
  v.set("config", std::move(config));
  json::Value names = json::Value::array();
  for (const auto& n : run.class_names) names.push_back(n);
  v.set("class_names", std::move(names));
  json::Value counts = json::Value::array();
  for (auto c : run.train_class_counts) counts.push_back(c);
  v.set("train_class_counts", std::move(counts));
  json::Value confusion = json::Value::array();
  for (const auto& row : run.confusion) {
    json::Value r = json::Value::array();
    for (auto c : row) r.push_back(c);
    confusion.push_back(std::move(r));
  }
  v.set("confusion", std::move(confusion));
  if (!run.changes.empty()) {
    json::Value changes = json::Value::array();
    for (const auto& c : run.changes) changes.push_back(c);
    v.set("changes", std::move(changes));
  }
  if (!with_epochs) return v;
  json::Value epochs = json::Value::array();
  for (const auto& e : run.epochs) epochs.push_back(to_json(e));
  v.set("epochs", std::move(epochs));
  return v;
}

inline void from_json(const json::Value& v, EpochRecord& out, const std::string& source = "<json>") {
  const detail::report::RecordReader r(source);
  EpochRecord e;
  detail::report::read_epoch(r, v, "", e);
  out = e;
}

inline void from_json(const json::Value& v, RunRecord& out, const std::string& source = "<json>") {
  using detail::report::RecordReader;
  const RecordReader r(source);
  if (!v.is_object()) throw FormatError(detail::cat(source, ": expected a JSON object, got ", json::type_name(v.type())));
  if (const json::Value* schema = v.find("schema")) {
    if (r.string(*schema, "schema") != kRunRecordSchema)
      r.fail("schema", detail::cat("expected \"", kRunRecordSchema, "\", got \"", schema->as_string(), "\""));
  }
  RunRecord run;
  run.name = r.string(v, "name", "");
  run.recipe = r.string(v, "recipe", "");
  run.norm = r.string(v, "norm", "");
  run.status = r.string(v, "status", "");
  run.seed = r.uint64(r.member(v, "seed", ""), "seed");
  run.threads = r.int32(v, "threads", "");
  run.parameters = r.int64(v, "parameters", "");
  run.best_test_accuracy = r.real(v, "best_test_accuracy", "");
  run.best_epoch = r.int32(v, "best_epoch", "");
  run.final_test_accuracy = r.real(v, "final_test_accuracy", "");
  run.final_train_accuracy = r.real(v, "final_train_accuracy", "");
  run.final_test_accuracy_tta = v.contains("final_test_accuracy_tta") ? r.real(v, "final_test_accuracy_tta", "") : -1;
  if (run.final_test_accuracy_tta >= 0) run.final_tta = v.contains("final_tta") ? r.string(v, "final_tta", "") : "flip";
  run.seconds = r.real(v, "seconds", "");
  run.train_images_per_second = r.real(v, "train_images_per_second", "");
  run.command = r.string(v, "command", "");
  run.commit = r.string(v, "commit", "");
  for (const auto& kv : r.object(r.member(v, "config", ""), "config"))
    run.config[kv.first] = r.string(kv.second, RecordReader::sub("config", kv.first));
  const auto& names = r.array(r.member(v, "class_names", ""), "class_names");
  for (std::size_t i = 0; i < names.size(); ++i) run.class_names.push_back(r.string(names[i], RecordReader::index("class_names", i)));
  const auto& counts = r.array(r.member(v, "train_class_counts", ""), "train_class_counts");
  for (std::size_t i = 0; i < counts.size(); ++i)
    run.train_class_counts.push_back(r.int64(counts[i], RecordReader::index("train_class_counts", i)));
  const auto& confusion = r.array(r.member(v, "confusion", ""), "confusion");
  for (std::size_t i = 0; i < confusion.size(); ++i) {
    const std::string p = RecordReader::index("confusion", i);
    const auto& row = r.array(confusion[i], p);
    if (row.size() != confusion.size()) r.fail(p, detail::cat("confusion matrix must be square: row has ", row.size(), " entries, matrix has ", confusion.size(), " rows"));
    std::vector<std::int64_t> values;
    for (std::size_t j = 0; j < row.size(); ++j) values.push_back(r.int64(row[j], RecordReader::index(p, j)));
    run.confusion.push_back(std::move(values));
  }
  if (v.contains("run_id")) run.run_id = r.string(v, "run_id", "");
  if (v.contains("changes")) {
    const auto& changes = r.array(r.member(v, "changes", ""), "changes");
    for (std::size_t i = 0; i < changes.size(); ++i) run.changes.push_back(r.string(changes[i], RecordReader::index("changes", i)));
  }
  if (!v.contains("epochs")) {  // a record written during a run: the history is in log.csv
    out = std::move(run);
    return;
  }
  const auto& epochs = r.array(r.member(v, "epochs", ""), "epochs");
  for (std::size_t i = 0; i < epochs.size(); ++i) {
    EpochRecord e;
    detail::report::read_epoch(r, epochs[i], RecordReader::index("epochs", i), e);
    run.epochs.push_back(e);
  }
  out = std::move(run);
}

inline std::string save_metrics_json(const std::string& dir, const RunRecord& run, bool with_epochs = true) {
  detail::report::make_directories(dir);
  const std::string path = detail::report::join_path(dir, "metrics.json");
  write_file_atomic(path, json::dump(to_json(run, with_epochs)) + "\n");
  return path;
}

std::vector<EpochRecord> read_log_csv(const std::string& path);

inline RunRecord load_run_record(const std::string& dir) {
  const std::string path = detail::report::join_path(dir, "metrics.json");
  RunRecord run;
  const json::Value v = json::parse(json::read_text_file(path, "metrics file"), path);
  from_json(v, run, path);
  // A run still training writes its history to log.csv only (to_json's with_epochs).
  if (v.is_object() && !v.contains("epochs") && detail::report::file_exists(detail::report::join_path(dir, "log.csv")))
    run.epochs = read_log_csv(detail::report::join_path(dir, "log.csv"));
  return run;
}

inline void update_run_summary(RunRecord& run) {
  run.best_test_accuracy = 0;
  run.best_epoch = 0;
  bool found = false;
  for (const auto& e : run.epochs) {
    if (std::isfinite(e.test_accuracy) && (!found || e.test_accuracy > run.best_test_accuracy)) {
      run.best_test_accuracy = e.test_accuracy;
      run.best_epoch = e.epoch;
      found = true;
    }
  }
  if (!run.epochs.empty()) {
    run.final_test_accuracy = run.epochs.back().test_accuracy;
    run.final_train_accuracy = run.epochs.back().train_accuracy;
  }
}

// ---- log.csv ---------------------------------------------------------------------------------

inline const std::vector<std::string>& log_csv_columns() {
  static const std::vector<std::string> columns = {
      "epoch",     "lr",        "seconds",     "train_loss",    "train_correct",     "train_total",
      "train_accuracy", "test_loss", "test_correct", "test_total", "test_accuracy", "images_per_second"};
  return columns;
}

inline std::string log_csv_header() {
  std::string h;
  for (const auto& c : log_csv_columns()) h += (h.empty() ? "" : ",") + c;
  return h;
}

inline std::string log_csv_line(const EpochRecord& e) {
  using detail::report::format_double;
  return detail::cat(e.epoch, ',', format_double(e.lr), ',', format_double(e.seconds), ',', format_double(e.train_loss), ',',
                     e.train_correct, ',', e.train_total, ',', format_double(e.train_accuracy), ',',
                     format_double(e.test_loss), ',', e.test_correct, ',', e.test_total, ',',
                     format_double(e.test_accuracy), ',', format_double(e.images_per_second));
}

inline std::string append_log_csv(const std::string& dir, const EpochRecord& e) {
  detail::report::make_directories(dir);
  const std::string path = detail::report::join_path(dir, "log.csv");
  std::error_code ec;
  const bool is_new = !std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0;
  append_line(path, is_new ? log_csv_header() + "\n" + log_csv_line(e) : log_csv_line(e));
  return path;
}

inline std::vector<EpochRecord> read_log_csv(const std::string& path) {
  const std::string text = json::read_text_file(path, "epoch log");
  std::vector<std::string> lines;
  bool last_complete = true;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    last_complete = end != std::string::npos;
    if (!last_complete) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
    start = end + 1;
  }
  const auto split = [](const std::string& line) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (;;) {
      const std::size_t comma = line.find(',', start);
      fields.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) return fields;
      start = comma + 1;
    }
  };
  if (lines.empty()) throw FormatError(detail::cat(path, ": empty file, expected the header line"));
  const std::vector<std::string> header = split(lines[0]);
  std::vector<std::size_t> col;  // position of each required column in the file
  for (const auto& name : log_csv_columns()) {
    std::size_t k = 0;
    while (k < header.size() && header[k] != name) ++k;
    if (k == header.size()) throw FormatError(detail::cat(path, ":1: missing column '", name, "' in the header"));
    col.push_back(k);
  }

  std::vector<EpochRecord> out;
  for (std::size_t li = 1; li < lines.size(); ++li) {
    const std::string& line = lines[li];
    if (line.empty()) continue;
    const bool may_be_torn = li + 1 == lines.size() && !last_complete;
    try {
      const std::vector<std::string> f = split(line);
      if (f.size() != header.size())
        throw FormatError(detail::cat(path, ":", li + 1, ": expected ", header.size(), " fields, got ", f.size()));
      std::size_t c = 0;
      const auto field = [&](std::size_t i) -> const std::string& {
        c = i;
        return f[col[i]];
      };
      const auto bad = [&](const char* what) {
        return FormatError(detail::cat(path, ":", li + 1, ": column '", log_csv_columns()[c], "': ", what, " '", f[col[c]], "'"));
      };
      const auto real = [&](std::size_t i) {
        const std::string& s = field(i);
        double v = 0;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) throw bad("not a number");
        return v;
      };
      const auto integer = [&](std::size_t i) {
        const std::string& s = field(i);
        std::int64_t v = 0;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) throw bad("not an integer");
        return v;
      };
      EpochRecord e;
      const std::int64_t epoch = integer(0);
      if (epoch < std::numeric_limits<int>::min() || epoch > std::numeric_limits<int>::max()) throw bad("out of range");
      e.epoch = static_cast<int>(epoch);
      e.lr = real(1);
      e.seconds = real(2);
      e.train_loss = real(3);
      e.train_correct = integer(4);
      e.train_total = integer(5);
      e.train_accuracy = real(6);
      e.test_loss = real(7);
      e.test_correct = integer(8);
      e.test_total = integer(9);
      e.test_accuracy = real(10);
      e.images_per_second = real(11);
      out.push_back(e);
    } catch (const FormatError&) {
      if (may_be_torn) break;  // the interrupted last write of a killed run
      throw;
    }
  }
  return out;
}

}  // namespace glia
