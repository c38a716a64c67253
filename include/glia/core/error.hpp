// glia/core/error.hpp: the exceptions glia throws.
//
// Contract: every error glia reports is a glia::Error (derived from std::runtime_error), so a
// caller can catch one type. The subclasses say what went wrong:
//   ShapeError  a tensor shape does not fit an operation; the message names the operation and
//               both shapes.
//   ValueError  an argument is out of range (a negative rate, a zero batch, NaN, ...).
//   IoError     a file cannot be opened, read or written; the message names the file.
//   FormatError a file's contents are not what they must be; the message names the file and
//               the offset, record or tensor at fault.
//   NumericError a value that must be finite is not (a NaN loss).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace glia {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

class ShapeError : public Error {
 public:
  using Error::Error;
};
class ValueError : public Error {
 public:
  using Error::Error;
};
class IoError : public Error {
 public:
  using Error::Error;
};
class FormatError : public Error {
 public:
  using Error::Error;
};
class NumericError : public Error {
 public:
  using Error::Error;
};

namespace detail {
// Concatenates anything streamable: detail::cat("Conv2d(", c, "): ...").
template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream s;
  (s << ... << std::forward<Args>(args));
  return s.str();
}
}  // namespace detail

}  // namespace glia
