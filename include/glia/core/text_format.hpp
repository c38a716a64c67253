// glia/core/text_format.hpp: the one place glia turns doubles into text (log.csv, checkpoint
// metadata, the report pages), and its UTF-8 check.
//
// Contract: every function here is total. It gives correct, deterministic text for every
// double (huge, tiny, denormal, +-0, NaN, +-Inf) and never returns bytes std::to_chars did not
// write: each to_chars call has a buffer sized for its worst case and its error code is
// checked (an error would be a bug in this file and throws glia::Error rather than leak the
// buffer). Output is plain ASCII and independent of the locale.
//   shortest(v)      the shortest text that std::from_chars reads back to the same double:
//                    "0.1", "1e+62", "5e-324", "-0"; "nan", "inf", "-inf" for the others.
//   fixed(v, d)      v rounded to d digits after the point, d clamped to 0..kMaxDecimals:
//                    "1234.50". A value that rounds to zero has no sign ("0.00", never "-0.00").
//                    When |v| >= 1e21 it is written in scientific notation with d digits after
//                    the point ("1.00e+62"), so that no cell or label runs to 300 digits.
//                    "nan", "inf", "-inf" for the others.
//   scientific(v, d) d digits after the point, clamped like fixed: "1.50e-07"; zero is "0".
//   general(v, p)    p significant digits (clamped to 1..17), printf's %g: "0.1", "1e-05",
//                    "1.235e+300"; zero is "0" whatever its sign.
//   utf8_sequence_length, is_valid_utf8  core/utf8.hpp's, under this namespace too.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

#include "glia/core/error.hpp"
#include "glia/core/utf8.hpp"

namespace glia {
namespace textfmt {

// Enough decimals to reach the first significant digit of the smallest denormal (5e-324).
inline constexpr int kMaxDecimals = 340;

namespace detail {

// Worst cases: a fixed-notation value below 1e21 has at most 21 integer digits; the sign, the
// point and an exponent ("e-308") add at most 7 more. 32 characters cover both plus slack.
inline constexpr std::size_t kBufferSize = 32 + static_cast<std::size_t>(kMaxDecimals);

template <typename... Format>
std::string checked_to_chars(double v, Format... format) {
  std::array<char, kBufferSize> buf;
  const std::to_chars_result r = std::to_chars(buf.data(), buf.data() + buf.size(), v, format...);
  if (r.ec != std::errc()) throw Error(glia::detail::cat("textfmt: std::to_chars failed for ", v, " (buffer too small)"));
  return std::string(buf.data(), r.ptr);
}

inline std::string non_finite(double v) {
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}

// True when fixed-notation text is a rounded zero ("-0.00", "0"): only a sign, zeros and the point.
inline bool is_zero_text(const std::string& s) { return s.find_first_not_of("-0.") == std::string::npos; }

}  // namespace detail

inline std::string shortest(double v) {
  if (!std::isfinite(v)) return detail::non_finite(v);
  return detail::checked_to_chars(v);
}

inline std::string scientific(double v, int decimals) {
  if (!std::isfinite(v)) return detail::non_finite(v);
  if (v == 0) return "0";
  return detail::checked_to_chars(v, std::chars_format::scientific, std::clamp(decimals, 0, kMaxDecimals));
}

inline std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return detail::non_finite(v);
  const int d = std::clamp(decimals, 0, kMaxDecimals);
  if (std::fabs(v) >= 1e21) return detail::checked_to_chars(v, std::chars_format::scientific, d);
  std::string s = detail::checked_to_chars(v, std::chars_format::fixed, d);
  if (s[0] == '-' && detail::is_zero_text(s)) s.erase(0, 1);
  return s;
}

inline std::string general(double v, int precision) {
  if (!std::isfinite(v)) return detail::non_finite(v);
  if (v == 0) return "0";
  return detail::checked_to_chars(v, std::chars_format::general, std::clamp(precision, 1, 17));
}

// The UTF-8 check lives in core/utf8.hpp, shared with the data readers.
using glia::is_valid_utf8;
using glia::utf8_sequence_length;

}  // namespace textfmt
}  // namespace glia
