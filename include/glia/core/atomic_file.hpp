// glia/core/atomic_file.hpp: writing files so that a crash never leaves a half-written one.
//
// Contract: write_file_atomic(path, bytes) writes bytes to "<path>.tmp-<pid>" in the same
// folder, flushes it to disk (fsync), then renames it over path (atomic on POSIX file systems)
// and syncs the folder. A reader therefore sees either the old file or the complete new one.
// On any failure the temporary file is removed, path is untouched, and IoError names the file
// and the system's reason. append_line(path, line) appends one line with a single write() and
// fsync, for logs that a killed process must leave readable.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "glia/core/error.hpp"

namespace glia {

namespace detail {
inline std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}
inline void write_all(int fd, const char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(cat("cannot write '", path, "': ", std::strerror(errno)));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}
}  // namespace detail

inline void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(detail::cat("cannot create '", tmp, "' (to write '", path, "'): ", std::strerror(errno)));
  try {
    detail::write_all(fd, bytes.data(), bytes.size(), tmp);
    if (::fsync(fd) != 0) throw IoError(detail::cat("cannot flush '", tmp, "': ", std::strerror(errno)));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IoError(detail::cat("cannot rename '", tmp, "' to '", path, "': ", std::strerror(err)));
  }
  const int dir = ::open(detail::parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

inline void append_line(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(detail::cat("cannot open '", path, "' for appending: ", std::strerror(errno)));
  const std::string text = line + "\n";
  try {
    detail::write_all(fd, text.data(), text.size(), path);
    ::fsync(fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

}  // namespace glia
