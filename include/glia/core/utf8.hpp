// glia/core/utf8.hpp: the one UTF-8 check, shared by the readers (class names) and the report
// writers (JSON strings, SVG/HTML text).
//
// Contract:
//   utf8_sequence_length(s, i)  length (1..4) of the valid UTF-8 sequence starting at s[i], or
//                    0 when there is none there (a stray continuation byte, an overlong form, a
//                    UTF-16 surrogate, a code point above U+10FFFF, a sequence cut off by the
//                    end of s). i must be < s.size().
//   is_valid_utf8(s) every byte of s belongs to a valid sequence.
//   printable_name(s, max_bytes)  s safe to print inside quotes in a message: control bytes
//                    (C0, DEL, C1) and bytes that are not valid UTF-8 become \xNN, and after
//                    max_bytes of s the rest is left out ("...", and the total size). Every
//                    message that shows a value read from a file (a class name, a metadata
//                    value) shows it this way, so that it cannot rewrite a terminal.
#pragma once

#include <cstddef>
#include <string>

#include "glia/core/error.hpp"

namespace glia {

inline std::size_t utf8_sequence_length(const std::string& s, std::size_t i) {
  auto at = [&](std::size_t k) -> unsigned { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
  const unsigned c = at(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  for (std::size_t k = 1; k < n; ++k) {
    const unsigned d = at(i + k);
    if (d < (k == 1 ? lo : 0x80u) || d > (k == 1 ? hi : 0xBFu)) return 0;
  }
  return n;
}

inline bool is_valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

namespace detail {

// True when the valid sequence of length len at s[i] is a C0 control, DEL or a C1 control.
inline bool is_control_sequence(const std::string& s, std::size_t i, std::size_t len) {
  const unsigned c = static_cast<unsigned char>(s[i]);
  if (len == 1) return c < 0x20 || c == 0x7F;
  return len == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0;  // U+0080..U+009F
}

inline std::string hex_byte(unsigned char c) {
  static const char* const digits = "0123456789ABCDEF";
  return std::string("\\x") + digits[c >> 4] + digits[c & 15];
}

}  // namespace detail

inline std::string printable_name(const std::string& s, std::size_t max_bytes = 64) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size() && i < max_bytes) {
    const std::size_t len = utf8_sequence_length(s, i);
    if (len == 0 || detail::is_control_sequence(s, i, len)) {
      const std::size_t bad = len == 0 ? 1 : len;
      for (std::size_t k = 0; k < bad; ++k) out += detail::hex_byte(static_cast<unsigned char>(s[i + k]));
      i += bad;
    } else {
      out.append(s, i, len);
      i += len;
    }
  }
  if (i < s.size()) out += detail::cat("... (", s.size(), " bytes)");
  return out;
}

}  // namespace glia
