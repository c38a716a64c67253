// fuzz/report_check.hpp: what fuzz_report does with one input, shared with
// tests/test_fuzz_regressions.cpp, which replays saved inputs through the same code.
//
// Input layout: the bytes before the first NUL (0x00) are metrics.json; when there is a NUL,
// the bytes after it are log.csv (without one, the run folder has no log.csv). A saved input
// without a NUL is therefore a plain metrics.json.
//
// report_violation(input, dir) writes the two files into dir/run/, then:
//   1. loads the record as `glia-cifar10 report` does (load_run_record(dir/run)) and reads the
//      log on its own (read_log_csv); a glia::Error from either is an expected refusal;
//   2. checks that what loaded round-trips: the record through metrics_json/dump_json/
//      parse_json/parse_run_record gives the same JSON text, the epochs through
//      log_csv_line/read_log_csv the same lines;
//   3. writes the pages twice, into dir/a/ and dir/b/: write_report for the record, and for a
//      record made of the log's epochs alone, and write_comparison of them. Before each of the
//      two writes a 64 KiB stretch of the stack is filled with a different byte (0xA5, then
//      0x5A), so text built from stack memory the writer never wrote comes out different, and
//      0xA5 alone is not UTF-8;
//   4. requires of every file written: the two copies byte-identical; valid UTF-8; no control
//      character but tab, LF and CR (so no NUL); as many <svg as </svg>; and no coordinate or
//      size attribute (x, y, cx, d, width, transform, ...) holding "nan" or "inf".
// It returns "" when all holds, else what broke. A glia::Error from the writer for a record
// that loaded is a violation too (any record that loads must give a page); other exceptions
// propagate (the harness lets libFuzzer report them).
// update_run_summary(run) fills a record's summary from its epochs (for a record made of a log
// alone; here, in the tests and in the seed corpus).
#pragma once

#include <glia/core/text_format.hpp>
#include <glia/report/html_report.hpp>
#include <glia/report/metrics_json.hpp>
#include <glia/train/epoch_log.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace glia::fuzz {

// best_test_accuracy / best_epoch (the first epoch with the highest finite test accuracy) and
// final_test_accuracy / final_train_accuracy (the last epoch) from run.epochs.
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

namespace report_detail {

namespace fs = std::filesystem;

inline void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("report_check: cannot write " + p.string());
}

inline std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every regular file under dir, by path relative to dir.
inline std::map<std::string, std::string> files_under(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = read_bytes(e.path());
  return out;
}

// Keeps the stack writes: the compiler may not drop stores to a volatile array.
[[gnu::noinline]] inline void scribble_stack(unsigned char byte) {
  volatile unsigned char buf[1 << 16];
  for (std::size_t i = 0; i < sizeof buf; ++i) buf[i] = byte;
}

// A numeric attribute holding a non-finite number: name="...nan..." for the attributes that
// carry coordinates and sizes.
inline std::string bad_number_attribute(const std::string& text) {
  static const std::set<std::string> numeric = {"x",  "y",      "x1",    "y1",        "x2",        "y2", "cx",
                                                "cy", "r",      "width", "height",    "d",         "transform",
                                                "font-size",    "viewBox"};
  for (std::size_t at = text.find("=\""); at != std::string::npos; at = text.find("=\"", at + 2)) {
    std::size_t start = at;
    while (start > 0 && (std::isalnum(static_cast<unsigned char>(text[start - 1])) || text[start - 1] == '-')) --start;
    if (!numeric.count(text.substr(start, at - start))) continue;
    const std::size_t end = text.find('"', at + 2);
    const std::string value = text.substr(at + 2, end == std::string::npos ? std::string::npos : end - at - 2);
    if (value.find("nan") != std::string::npos || value.find("inf") != std::string::npos)
      return text.substr(start, at - start) + "=\"" + value.substr(0, 80) + "\"";
  }
  return "";
}

inline std::size_t count_of(const std::string& s, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

inline std::string text_violation(const std::string& name, const std::string& s) {
  if (!textfmt::is_valid_utf8(s)) return name + ": not valid UTF-8";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
      return name + ": control character " + std::to_string(c) + " at byte " + std::to_string(i);
  }
  if (count_of(s, "<svg ") != count_of(s, "</svg>")) return name + ": unbalanced <svg> elements";
  const std::string bad = bad_number_attribute(s);
  if (!bad.empty()) return name + ": non-finite number in " + bad;
  return "";
}

// Writes every page of the input into `out` (emptied first).
inline void write_pages(const fs::path& out, const std::vector<RunRecord>& reports) {
  std::error_code ec;
  fs::remove_all(out, ec);
  for (std::size_t k = 0; k < reports.size(); ++k) write_report((out / ("run" + std::to_string(k))).string(), reports[k], nullptr);
  write_comparison((out / "comparison").string(), reports);
}

inline std::string round_trip_violation(const RunRecord* run, const std::vector<EpochRecord>* log, const fs::path& dir) {
  try {
    if (run) {
      const std::string text = dump_json(metrics_json(*run));
      const RunRecord back = parse_run_record(parse_json(text, "round-trip"), "round-trip");
      if (dump_json(metrics_json(back)) != text) return "the record does not round-trip through metrics.json";
    }
    if (log) {
      std::string text = log_csv_header() + "\n";
      for (const auto& e : *log) text += log_csv_line(e) + "\n";
      write_bytes(dir / "again.csv", text);
      const std::vector<EpochRecord> back = read_log_csv((dir / "again.csv").string());
      std::string again = log_csv_header() + "\n";
      for (const auto& e : back) again += log_csv_line(e) + "\n";
      if (again != text) return "log.csv does not round-trip";
    }
  } catch (const Error& e) {
    return std::string("what was written does not read back: ") + e.what();
  }
  return "";
}

}  // namespace report_detail

inline std::string report_violation(const std::string& input, const std::string& dir_path) {
  using namespace report_detail;
  const fs::path dir = dir_path, run_dir = dir / "run";
  fs::create_directories(run_dir);
  const std::size_t nul = input.find('\0');
  write_bytes(run_dir / "metrics.json", input.substr(0, nul));
  std::error_code ec;
  fs::remove(run_dir / "log.csv", ec);
  if (nul != std::string::npos) write_bytes(run_dir / "log.csv", input.substr(nul + 1));

  std::vector<RunRecord> reports;
  bool have_run = false, have_log = false;
  std::vector<EpochRecord> log;
  try {
    reports.push_back(load_run_record(run_dir.string()));
    have_run = true;
  } catch (const Error&) {
  }
  if (nul != std::string::npos) {
    try {
      log = read_log_csv((run_dir / "log.csv").string());
      have_log = true;
    } catch (const Error&) {
    }
  }
  if (!have_run && !have_log) return "";
  if (std::string v = round_trip_violation(have_run ? &reports[0] : nullptr, have_log ? &log : nullptr, dir); !v.empty()) return v;
  if (have_log) {
    RunRecord from_log;
    from_log.name = "from log.csv";
    from_log.epochs = log;
    update_run_summary(from_log);
    reports.push_back(from_log);
  }

  try {
    scribble_stack(0xA5);
    write_pages(dir / "a", reports);
    scribble_stack(0x5A);
    write_pages(dir / "b", reports);
  } catch (const Error& e) {
    return std::string("the writer refused a record that loaded: ") + e.what();
  }
  const auto a = files_under(dir / "a"), b = files_under(dir / "b");
  if (a.size() != b.size()) return "the two writes made different files";
  for (const auto& [name, bytes] : a) {
    const auto other = b.find(name);
    if (other == b.end() || other->second != bytes) return name + ": the two writes differ";
    if (std::string v = text_violation(name, bytes); !v.empty()) return v;
  }
  return "";
}

}  // namespace glia::fuzz
