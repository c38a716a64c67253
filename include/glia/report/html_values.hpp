// glia/report/html_values.hpp: which recorded values are possible, and how the report pages
// show each one.
//
// Contract: a RunRecord read from metrics.json or log.csv may hold anything its types allow.
// A value no training run can produce is "invalid", and the pages show it as invalid instead of
// as data:
//   accuracy (percent)             outside [0, 100], or +-Inf
//   epoch                          below 1 (epochs are 1-based); a best epoch below 0 (0: none)
//   counts, totals, threads,       negative
//   parameters, confusion entries
//   correct / total                either negative, or correct > total
//   time, learning rate, images/s  negative, or +-Inf
//   loss                           negative or -Inf (+Inf is a diverged evaluation: valid)
// NaN means "not recorded" (metrics.json writes it as null) and is valid everywhere.
//   possible(v, kind)   the rules above for a double of a given kind.
//   plottable(v, kind)  v when it is possible and finite, else NaN: what the charts get, so an
//                       invalid value never scales an axis nor becomes a coordinate.
//   Cells               formats values as HTML: a valid one as the pages always did (percent
//                       "62.00&nbsp;%", loss 4 decimals, learning rate 4 significant digits,
//                       duration "1&nbsp;h&nbsp;02&nbsp;min", counts), NaN as "&ndash;", an invalid
//                       one as <span class="invalid">invalid (250)</span> with its exact text
//                       (textfmt::shortest). invalid() counts the invalid values it has shown.
//   checked_sum(row)    the sum of non-negative counts and whether it is valid (no negative
//                       entry, no int64 overflow).
//   html(s)             s escaped for HTML text and attributes (svg::escape_xml).
//   class_name(names, label)  names[label], or the label's number when it has no name.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/core/text_format.hpp"
#include "glia/report/svg.hpp"
#include "glia/train/run_record.hpp"

namespace glia {
namespace detail {
namespace report {

// The report's files: dir/name, the folders it creates, whether an input is there.
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

inline std::string html(const std::string& s) { return svg::escape_xml(s); }

inline std::string class_name(const std::vector<std::string>& names, std::int64_t label) {
  if (label >= 0 && static_cast<std::size_t>(label) < names.size()) return names[static_cast<std::size_t>(label)];
  return std::to_string(label);
}

enum class Kind {
  Percent,      // accuracies: [0, 100]
  Loss,         // [0, +Inf]
  NonNegative,  // times, learning rates, throughput: [0, +Inf)
};

inline bool possible(double v, Kind kind) {
  if (std::isnan(v)) return true;  // not recorded
  switch (kind) {
    case Kind::Percent: return v >= 0 && v <= 100;
    case Kind::Loss: return v >= 0;
    case Kind::NonNegative: return v >= 0 && std::isfinite(v);
  }
  return false;
}

inline double plottable(double v, Kind kind) {
  return possible(v, kind) && std::isfinite(v) ? v : std::numeric_limits<double>::quiet_NaN();
}

// The sum of a row of counts; valid = false when an entry is negative or the sum overflows.
inline std::pair<std::int64_t, bool> checked_sum(const std::vector<std::int64_t>& row) {
  std::int64_t total = 0;
  for (const std::int64_t v : row) {
    if (v < 0 || v > std::numeric_limits<std::int64_t>::max() - total) return {total, false};
    total += v;
  }
  return {total, true};
}

class Cells {
 public:
  // The marker for an invalid value, `raw` being its exact text.
  std::string invalid_value(const std::string& raw) {
    ++invalid_;
    return "<span class=\"invalid\" title=\"impossible value\">invalid (" + html(raw) + ")</span>";
  }
  int invalid() const { return invalid_; }

  std::string percent(double v) {
    if (!possible(v, Kind::Percent)) return invalid_value(textfmt::shortest(v));
    return std::isnan(v) ? "&ndash;" : textfmt::fixed(v, 2) + "&nbsp;%";
  }
  std::string loss(double v) {
    if (!possible(v, Kind::Loss)) return invalid_value(textfmt::shortest(v));
    return std::isnan(v) ? "&ndash;" : textfmt::fixed(v, 4);  // +Inf: "inf"
  }
  // Four significant digits: learning rates such as 0.1, 0.0005, 1e-05.
  std::string rate(double v) {
    if (!possible(v, Kind::NonNegative)) return invalid_value(textfmt::shortest(v));
    return std::isnan(v) ? "&ndash;" : textfmt::general(v, 4);
  }
  std::string number(double v, int decimals) {
    if (!possible(v, Kind::NonNegative)) return invalid_value(textfmt::shortest(v));
    return std::isnan(v) ? "&ndash;" : textfmt::fixed(v, decimals);
  }
  std::string duration(double seconds);
  std::string count(std::int64_t n) { return n >= 0 ? std::to_string(n) : invalid_value(std::to_string(n)); }
  std::string epoch(std::int64_t e) { return e >= 1 ? std::to_string(e) : invalid_value(std::to_string(e)); }
  std::string correct_of(std::int64_t correct, std::int64_t total) {
    const std::string text = std::to_string(correct) + " / " + std::to_string(total);
    return correct >= 0 && total >= 0 && correct <= total ? text : invalid_value(text);
  }

 private:
  int invalid_ = 0;
};

inline std::string Cells::duration(double seconds) {
  if (!possible(seconds, Kind::NonNegative)) return invalid_value(textfmt::shortest(seconds));
  if (std::isnan(seconds)) return "&ndash;";
  if (seconds < 60) return textfmt::fixed(seconds, 1) + "&nbsp;s";
  // Hours and minutes while they fit a long long comfortably (3e7 years); plain seconds beyond.
  if (seconds >= 1e15) return textfmt::fixed(seconds, 0) + "&nbsp;s";
  const auto total = static_cast<long long>(std::llround(seconds));
  const long long h = total / 3600, m = (total / 60) % 60, s = total % 60;
  const auto two = [](long long v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  return h > 0 ? std::to_string(h) + "&nbsp;h&nbsp;" + two(m) + "&nbsp;min" : std::to_string(m) + "&nbsp;min&nbsp;" + two(s) + "&nbsp;s";
}

}  // namespace report
}  // namespace detail
}  // namespace glia
