// glia/core/parse.hpp: one checked conversion from text to a number, for every value glia reads
// from a file's metadata or a command line.
//
// Contract:
//   parse_integer(text, lo, hi, where)  the whole text is a decimal integer (optional '-', no
//                   spaces, no '+', no exponent, no trailing characters) within [lo, hi];
//   parse_real(text, lo, hi, where)     the whole text is a finite decimal number within [lo, hi]
//                   ("1e-3" and "0.5" yes; "nan", "inf", "0x1p3", "1,5" no);
// otherwise FormatError "<where> is '<text>', not an integer in [lo, hi]" (or "not a finite
// number in ..."). `where` names the file and the key, e.g. "runs/bn/last.ckpt: metadata 'epoch'",
// so a refusal says which file, which key and which value. The text is quoted with control
// characters and invalid UTF-8 escaped and cut after 60 bytes (core/utf8.hpp printable_name),
// so a hostile value cannot garble a terminal. quoted(text) is that quoting, for other messages.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <system_error>

#include "glia/core/error.hpp"
#include "glia/core/utf8.hpp"

namespace glia {

inline std::string quoted(const std::string& text, std::size_t max_bytes = 60) {
  return "'" + printable_name(text, max_bytes) + "'";
}

inline std::int64_t parse_integer(const std::string& text, std::int64_t lo, std::int64_t hi, const std::string& where) {
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v);
  if (text.empty() || r.ec != std::errc() || r.ptr != end || v < lo || v > hi)
    throw FormatError(detail::cat(where, " is ", quoted(text), ", not an integer in [", lo, ", ", hi, "]"));
  return v;
}

inline double parse_real(const std::string& text, double lo, double hi, const std::string& where) {
  double v = 0;
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v, std::chars_format::general);
  if (text.empty() || r.ec != std::errc() || r.ptr != end || !std::isfinite(v) || v < lo || v > hi)
    throw FormatError(detail::cat(where, " is ", quoted(text), ", not a finite number in [", lo, ", ", hi, "]"));
  return v;
}

}  // namespace glia
