// glia/core/input_file.hpp: reading a file that a user named, checked before it is read.
//
// Contract: read_input_file(path, what, max_bytes) returns the whole file's bytes, or throws
// before reading anything when the path is not something to read:
//   - IoError "<what> '<path>' does not exist" / "... is not readable: <reason>";
//   - IoError "<what> '<path>' is a directory|FIFO|socket|character device|block device, not a
//     regular file": a FIFO never blocks (it is opened non-blocking and refused by fstat on the
//     opened descriptor, so a path swapped between a check and the open cannot slip through);
//   - FormatError "<what> '<path>' has N bytes, more than the limit of M bytes";
//   - IoError if the file gets shorter while being read (it changed under us).
// `what` says what the file is for ("checkpoint", "metrics file", "teacher checkpoint"), so
// that a refusal names both the path and its role. Every reader of a file given on a command
// line or in a config goes through here (checkpoints, run records, model files, specs).
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "glia/core/error.hpp"

namespace glia {

namespace detail {

inline const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

// Closes a descriptor on every path out of a function.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

inline void read_fully(int fd, std::string& buf, const std::string& path, const char* what) {
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, &buf[got], buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoError(cat("cannot read ", what, " '", path, "' at byte offset ", got, ": ", std::strerror(errno)));
    if (n == 0)
      throw IoError(cat(what, " '", path, "' ended at byte offset ", got, " of ", buf.size(),
                        " (it got shorter while being read)"));
    got += static_cast<std::size_t>(n);
  }
}

}  // namespace detail

inline std::string read_input_file(const std::string& path, const char* what, std::uint64_t max_bytes) {
  using detail::cat;
  if (path.empty()) throw IoError(cat(what, ": the path is empty"));
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) throw IoError(cat(what, " '", path, "' does not exist"));
    throw IoError(cat(what, " '", path, "' is not readable: ", std::strerror(errno)));
  }
  const detail::FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw IoError(cat("cannot examine ", what, " '", path, "': ", std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) throw IoError(cat(what, " '", path, "' is ", detail::file_kind(st.st_mode), ", not a regular file"));
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_bytes)
    throw FormatError(cat(what, " '", path, "' has ", size, " bytes, more than the limit of ", max_bytes, " bytes"));
  std::string buf(static_cast<std::size_t>(size), '\0');
  detail::read_fully(fd, buf, path, what);
  return buf;
}

}  // namespace glia
