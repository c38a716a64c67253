// glia/train/epoch_log.hpp: log.csv, the run folder's per-epoch history, and the text form of
// one record field (shared with the checkpoint metadata, train/run_metadata.hpp).
//
// Contract:
//   field_text(v) / parse_field(text, v, where)  one field as text: integers in decimal, doubles
//                   with the shortest digits that read back to the same double
//                   (textfmt::shortest; "nan", "inf", "-inf" for the others, since a diverged
//                   epoch's loss is one), strings as they are. parse_field takes the whole text
//                   or throws FormatError "<where>: not an integer|not a number|out of range '<text>'".
//   log_csv_header() / log_csv_line(e)  the header and one line (no newline), columns in
//                   for_each_field order (train/run_record.hpp).
//   append_log_csv(dir, e)  appends one line to dir/log.csv with append_line (one write + fsync),
//                   preceded by the header in the same write when the file is new or empty;
//                   creates dir if needed; returns the path. A killed run leaves whole lines.
//   write_log_csv(dir, epochs)  replaces dir/log.csv atomically with these epochs.
//   read_log_csv(path)  reads such a file (read_input_file: a regular file of at most 256 MiB).
//                   Columns are found by header name (all 12 required, extra columns ignored).
//                   A last line without its newline that does not parse is taken as an
//                   interrupted write and skipped; any other bad line throws FormatError naming
//                   the file, the line number and the column ("log.csv:3: column 'seconds': not
//                   a number 'x'"). IoError if unreadable.
#pragma once

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "glia/core/atomic_file.hpp"
#include "glia/core/error.hpp"
#include "glia/core/input_file.hpp"
#include "glia/core/parse.hpp"
#include "glia/core/text_format.hpp"
#include "glia/train/run_record.hpp"

namespace glia {

inline std::string field_text(const std::string& v) { return v; }
inline std::string field_text(double v) { return textfmt::shortest(v); }
template <typename I, std::enable_if_t<std::is_integral_v<I>, int> = 0>
std::string field_text(I v) {
  return std::to_string(v);
}

inline void parse_field(const std::string& text, std::string& v, const std::string&) { v = text; }
inline void parse_field(const std::string& text, double& v, const std::string& where) {
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v, std::chars_format::general);
  if (text.empty() || r.ec != std::errc() || r.ptr != end) throw FormatError(detail::cat(where, ": not a number ", quoted(text)));
}
template <typename I, std::enable_if_t<std::is_integral_v<I>, int> = 0>
void parse_field(const std::string& text, I& v, const std::string& where) {
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v);
  if (r.ec == std::errc::result_out_of_range) throw FormatError(detail::cat(where, ": out of range ", quoted(text)));
  if (text.empty() || r.ec != std::errc() || r.ptr != end) throw FormatError(detail::cat(where, ": not an integer ", quoted(text)));
}

inline std::string log_csv_header() {
  std::string h;
  const EpochRecord names_only;
  for_each_field(names_only, [&](const char* name, const auto&) { h += (h.empty() ? "" : ",") + std::string(name); });
  return h;
}

inline std::string log_csv_line(const EpochRecord& e) {
  std::string line;
  for_each_field(e, [&](const char*, const auto& v) { line += (line.empty() ? "" : ",") + field_text(v); });
  return line;
}

namespace detail {
inline std::string log_csv_path(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir.empty() ? "." : dir, ec);
  if (ec) throw IoError(cat("cannot create directory '", dir, "': ", ec.message()));
  return (std::filesystem::path(dir) / "log.csv").string();
}

inline std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> fields;
  for (std::size_t start = 0;;) {
    const std::size_t comma = line.find(',', start);
    fields.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return fields;
    start = comma + 1;
  }
}

// The file's lines without their "\n" (or "\r\n"); *last_complete: the last one had its newline.
inline std::vector<std::string> text_lines(const std::string& text, bool* last_complete) {
  std::vector<std::string> lines;
  *last_complete = true;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    *last_complete = end != std::string::npos;
    if (!*last_complete) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

// Position of each of the 12 columns in the file's header.
inline std::vector<std::size_t> log_columns(const std::vector<std::string>& header, const std::string& path) {
  std::vector<std::size_t> col;
  const EpochRecord names_only;
  for_each_field(names_only, [&](const char* name, const auto&) {
    std::size_t k = 0;
    while (k < header.size() && header[k] != name) ++k;
    if (k == header.size()) throw FormatError(cat(path, ":1: missing column '", name, "' in the header"));
    col.push_back(k);
  });
  return col;
}

inline EpochRecord parse_log_line(const std::vector<std::string>& f, const std::vector<std::size_t>& col, std::size_t header_size,
                                  const std::string& where) {
  if (f.size() != header_size) throw FormatError(cat(where, ": expected ", header_size, " fields, got ", f.size()));
  EpochRecord e;
  std::size_t c = 0;
  for_each_field(e, [&](const char* name, auto& v) { parse_field(f[col[c++]], v, cat(where, ": column '", name, "'")); });
  return e;
}
}  // namespace detail

inline std::string append_log_csv(const std::string& dir, const EpochRecord& e) {
  const std::string path = detail::log_csv_path(dir);
  std::error_code ec;
  const bool is_new = !std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0;
  append_line(path, is_new ? log_csv_header() + "\n" + log_csv_line(e) : log_csv_line(e));
  return path;
}

inline std::string write_log_csv(const std::string& dir, const std::vector<EpochRecord>& epochs) {
  const std::string path = detail::log_csv_path(dir);
  std::string log = log_csv_header() + "\n";
  for (const EpochRecord& e : epochs) log += log_csv_line(e) + "\n";
  write_file_atomic(path, log);
  return path;
}

inline std::vector<EpochRecord> read_log_csv(const std::string& path) {
  bool last_complete = true;
  const std::vector<std::string> lines =
      detail::text_lines(read_input_file(path, "epoch log", std::uint64_t{1} << 28), &last_complete);
  if (lines.empty()) throw FormatError(detail::cat(path, ": empty file, expected the header line"));
  const std::vector<std::string> header = detail::split_csv(lines[0]);
  const std::vector<std::size_t> col = detail::log_columns(header, path);
  std::vector<EpochRecord> out;
  for (std::size_t li = 1; li < lines.size(); ++li) {
    if (lines[li].empty()) continue;
    try {
      out.push_back(detail::parse_log_line(detail::split_csv(lines[li]), col, header.size(), detail::cat(path, ":", li + 1)));
    } catch (const FormatError&) {
      if (li + 1 == lines.size() && !last_complete) break;  // the interrupted last write of a killed run
      throw;
    }
  }
  return out;
}

}  // namespace glia
