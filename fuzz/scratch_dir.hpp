// fuzz/scratch_dir.hpp: the per-process scratch folder of the file-based fuzz harnesses.
//
// scratch_dir("cifar10") is glia-fuzz-cifar10-<pid> in /dev/shm (else the temporary folder),
// created on first use and removed at exit. A process that crashes cannot remove its folder, so
// folders of processes that no longer exist (minimising a crash starts hundreds) are removed
// when the next one starts.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <signal.h>
#include <unistd.h>

namespace glia::fuzz {

inline std::string& scratch_path() {
  static std::string path;
  return path;
}

inline void remove_scratch_dir() {
  std::error_code ec;
  if (!scratch_path().empty()) std::filesystem::remove_all(scratch_path(), ec);
}

inline const std::string& scratch_dir(const std::string& target) {
  namespace fs = std::filesystem;
  std::string& path = scratch_path();
  if (!path.empty()) return path;
  std::error_code ec;
  const fs::path base =
      fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0 ? fs::path("/dev/shm") : fs::temp_directory_path();
  const std::string prefix = "glia-fuzz-" + target + "-";
  std::vector<fs::path> stale;
  for (fs::directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && (pid == ::getpid() || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)))
      stale.push_back(it->path());
  }
  for (const fs::path& p : stale) fs::remove_all(p, ec);
  ec.clear();
  const fs::path d = base / (prefix + std::to_string(::getpid()));
  if (!fs::create_directory(d, ec)) {
    std::fprintf(stderr, "fuzz_%s: cannot create %s: %s\n", target.c_str(), d.c_str(), ec.message().c_str());
    std::abort();
  }
  path = d.string();
  std::atexit(remove_scratch_dir);
  return path;
}

// Writes a file of the scratch folder; a harness that cannot write its input aborts (not a
// finding of the code under test, but nothing can go on).
inline void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(("fuzz: cannot write " + path).c_str());
    std::abort();
  }
}

}  // namespace glia::fuzz
