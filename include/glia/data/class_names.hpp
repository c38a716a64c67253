// glia/data/class_names.hpp: what a class name may be, checked the same way by every reader.
//
// Contract:
// - A class name is 1..kMaxClassNameBytes (128) bytes of valid UTF-8 (no overlong forms, no
//   surrogates, nothing above U+10FFFF) without control characters: no byte below 0x20 (NUL,
//   tab, CR, LF, ESC, ...), no DEL (0x7F) and no C1 control (U+0080..U+009F). Any other
//   character is accepted: spaces, punctuation, "chat noir", "über", "猫".
//   Names end up in terminal messages, CSV/JSON logs and HTML reports; the bound keeps a wrong
//   file (a 10 MB line) from becoming a class name, and the rest keeps a name from rewriting
//   the terminal or breaking a JSON string.
// - class_name_problem(name) is "" for a valid name, else why it is not one ("has 300 bytes, more
//   than 128", "has control character 0x1B at byte 0", "is not valid UTF-8 at byte 3"); it never
//   throws.
// - validate_class_name(name, where) throws FormatError "<where>: class name '<name>' <problem>"
//   unless the name is valid.
// - validate_class_names(names, places, source) checks every name and that no two are equal
//   (byte for byte): FormatError "<source>: <place>: ..." for a bad name, and
//   "<source>: <place j>: class name '<name>' is already the name of <place i>" for a repeat.
//   places[i] says where names[i] came from ("line 4", "class folder 'cat'"); places must be as
//   long as names (else ValueError).
// - Every message above shows a name with printable_name (core/utf8.hpp): control bytes and
//   bytes that are not valid UTF-8 as \xNN, cut after 64 bytes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/core/utf8.hpp"

namespace glia {

constexpr std::size_t kMaxClassNameBytes = 128;

inline std::string class_name_problem(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.size() > kMaxClassNameBytes)
    return detail::cat("has ", name.size(), " bytes, more than ", kMaxClassNameBytes);
  for (std::size_t i = 0; i < name.size();) {
    const std::size_t len = utf8_sequence_length(name, i);
    if (len == 0) return detail::cat("is not valid UTF-8 at byte ", i);
    if (detail::is_control_sequence(name, i, len)) {
      const std::string code = detail::hex_byte(static_cast<unsigned char>(name[i + len - 1])).substr(2);
      return detail::cat("has control character ", len == 1 ? "0x" : "U+00", code, " at byte ", i);
    }
    i += len;
  }
  return "";
}

inline void validate_class_name(const std::string& name, const std::string& where) {
  const std::string problem = class_name_problem(name);
  if (!problem.empty())
    throw FormatError(detail::cat(where, ": class name '", printable_name(name), "' ", problem, "; a class name is 1..",
                                  kMaxClassNameBytes, " bytes of UTF-8 without control characters"));
}

inline void validate_class_names(const std::vector<std::string>& names, const std::vector<std::string>& places,
                                 const std::string& source) {
  if (places.size() != names.size())
    throw ValueError(detail::cat("validate_class_names: ", names.size(), " names but ", places.size(), " places"));
  for (std::size_t j = 0; j < names.size(); ++j) {
    validate_class_name(names[j], detail::cat(source, ": ", places[j]));
    for (std::size_t i = 0; i < j; ++i)
      if (names[i] == names[j])
        throw FormatError(detail::cat(source, ": ", places[j], ": class name '", printable_name(names[j]),
                                      "' is already the name of ", places[i], "; every class needs its own name"));
  }
}

}  // namespace glia
