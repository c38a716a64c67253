// glia/train/run_folder.hpp: a run folder belongs to one run.
//
// A RunFolder is held by the run that writes into a folder, for as long as it writes there:
//   - the folder is created (with its parents) and must be writable; an empty path is refused;
//   - it is locked: `run.lock` is opened and flock()ed (exclusive, non-blocking), and holds the
//     holder's pid, host and start time. A second run on the same folder, in this process or
//     another, gets IoError naming that holder. The kernel drops the lock when its process dies,
//     so a lock file that still names a holder but is not locked was left by a process that
//     died: it is taken over and notice() says whose it was. On destruction the lock file is
//     emptied (not removed: removing it would let two runs lock two different files);
//   - a folder that already holds a run (any of run_files() exists) is refused for a new run
//     (ValueError naming the files and the two ways out), replaced with RunFolderMode::Overwrite
//     (only the files a run writes are removed: run_files() and report_files() inside report/,
//     which goes only if that leaves it empty; nothing else in the folder), and continued with
//     RunFolderMode::Continue only by the same run: the resumed checkpoint lies in the folder, or
//     its run id (RunRecord::run_id) is the one in the metadata of the folder's last.ckpt (or,
//     without one, best.ckpt);
//   - inputs: every file the run reads (a teacher, initial weights) is given with its role and
//     refused (ValueError) when it is, or is inside, one of the folder's outputs, before anything
//     is removed or written: an input is never an output.
// written() lists the outputs that exist, for an honest "wrote ..." line.
// Everything is checked before anything is removed: a refused RunFolder changes nothing but
// creating the (empty) folder and its lock file.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "glia/core/error.hpp"
#include "glia/train/checkpoint.hpp"

namespace glia {

enum class RunFolderMode { NewRun, Continue, Overwrite };

struct RunInput {
  std::string path;  // a file the run reads
  std::string role;  // what it is for: "--teacher", "--init-from"
};

namespace detail {

// The lock file's descriptor and the flock on it; emptied and closed on destruction.
class FolderLock {
 public:
  explicit FolderLock(const std::string& dir);
  ~FolderLock() {
    if (fd_ < 0) return;
    if (::ftruncate(fd_, 0) != 0) { /* the kernel drops the lock anyway */ }
    ::close(fd_);
  }
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  const std::string& previous_holder() const { return previous_; }

 private:
  int fd_ = -1;
  std::string previous_;  // what the lock file said before we took it ("" when nobody)
};

inline std::string read_fd_text(int fd) {
  std::string text(512, '\0');
  const ssize_t n = ::pread(fd, &text[0], text.size(), 0);
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  for (char& c : text)
    if (c == '\n') c = ',';
  return text;
}

inline std::string lock_holder_text() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "?");
  char when[32] = "?";
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  if (::gmtime_r(&now, &tm)) std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return cat("pid ", ::getpid(), "\nhost ", host, "\nsince ", when, "\n");
}

inline FolderLock::FolderLock(const std::string& dir) {
  const std::string path = dir + "/run.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError(cat("cannot open the lock file '", path, "': ", std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = read_fd_text(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw IoError(cat("run folder '", dir, "' is in use by another run (", holder.empty() ? "holder unknown" : holder,
                        "): wait for it to end, or choose another folder"));
    throw IoError(cat("cannot lock '", path, "': ", std::strerror(err)));
  }
  previous_ = read_fd_text(fd_);
  const std::string mine = lock_holder_text();
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, mine.data(), mine.size(), 0) != static_cast<ssize_t>(mine.size()))
    throw IoError(cat("cannot write the lock file '", path, "': ", std::strerror(errno)));
}

inline bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code ec;
  if (std::filesystem::equivalent(a, b, ec)) return true;
  const auto ca = std::filesystem::weakly_canonical(a, ec);
  const auto cb = std::filesystem::weakly_canonical(b, ec);
  return !ec && ca == cb;
}

// The run id in the metadata of a folder's last.ckpt, else its best.ckpt; "" if neither says.
// (A folder whose run stopped before its first checkpoint names no run: it cannot be resumed.)
inline std::string folder_run_id(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const char* name : {"last.ckpt", "best.ckpt"}) {
    if (!std::filesystem::is_regular_file(dir / name, ec)) continue;
    try {
      const Checkpoint c = load_checkpoint((dir / name).string());
      auto it = c.meta.find("run_id");
      return it == c.meta.end() ? std::string() : it->second;
    } catch (const Error&) {
      return "";  // an unreadable checkpoint identifies no run: the caller refuses to continue it
    }
  }
  return "";
}

}  // namespace detail

class RunFolder {
 public:
  // The files a run writes into its folder; a folder holding any of them holds a run.
  static const std::vector<std::string>& run_files() {
    static const std::vector<std::string> names = {"last.ckpt", "best.ckpt", "log.csv", "metrics.json", "model.safetensors",
                                                   "best.safetensors"};
    return names;
  }
  // The files a run's report writes into report/ (report/html_report.hpp, html_grids.hpp).
  static const std::vector<std::string>& report_files() {
    static const std::vector<std::string> names = {"index.html", "misclassified.png", "samples.png", "report_images.json"};
    return names;
  }
  // Everything a run writes, relative to the folder: run_files(), then "report/<file>".
  static std::vector<std::string> output_names() {
    std::vector<std::string> names = run_files();
    for (const std::string& f : report_files()) names.push_back("report/" + f);
    return names;
  }

  // resumed_from / run_id: the checkpoint a Continue resumes and the run id it carries.
  RunFolder(const std::string& dir, RunFolderMode mode, const std::vector<RunInput>& inputs = {},
            const std::string& resumed_from = "", const std::string& run_id = "")
      : dir_(dir) {
    if (dir.empty()) throw ValueError("the run folder is an empty path: give a folder to write the run into");
    create(dir);
    lock_ = std::make_unique<detail::FolderLock>(dir);
    if (!lock_->previous_holder().empty())
      notice_ = detail::cat("took over the lock of a run that ended without releasing it (",
                            lock_->previous_holder(), "; that process is no longer running)");
    for (const RunInput& in : inputs) refuse_if_output(in);
    const std::vector<std::string> existing = written();
    if (!holds_run(existing)) return;
    if (mode == RunFolderMode::NewRun) throw ValueError(holds_another_run(existing));
    if (mode == RunFolderMode::Continue) {
      check_same_run(resumed_from, run_id);
      return;
    }
    for (const std::string& f : existing) remove_output(f);
    std::error_code ec;
    std::filesystem::remove(std::filesystem::path(dir_) / "report", ec);  // only if now empty
    notice_ += detail::cat(notice_.empty() ? "" : "; ", "removed the previous run's ", join(existing), " (--overwrite)");
  }

  const std::string& dir() const { return dir_; }
  // What the folder's owner should be told: a stale lock taken over, an old run replaced.
  const std::string& notice() const { return notice_; }
  // The outputs that exist now, e.g. {"last.ckpt", "log.csv", "metrics.json", "report/index.html"}.
  std::vector<std::string> written() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const std::string& n : output_names())
      if (std::filesystem::exists(std::filesystem::path(dir_) / n, ec)) out.push_back(n);
    return out;
  }

 private:
  static void create(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
      throw IoError(detail::cat("run folder '", dir, "' exists and is not a folder"));
    if (!fs::create_directories(dir, ec) && ec)
      throw IoError(detail::cat("cannot create run folder '", dir, "': ", ec.message()));
    if (::access(dir.c_str(), W_OK) != 0) throw IoError(detail::cat("run folder '", dir, "' is not writable"));
  }
  static std::string join(const std::vector<std::string>& names) {
    std::string s;
    for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
  }
  std::string holds_another_run(const std::vector<std::string>& existing) const {
    return detail::cat("run folder '", dir_, "' holds another run (", join(existing), "): continue it with --resume ",
                       dir_, "/last.ckpt, replace it with --overwrite, or choose another folder");
  }
  static bool holds_run(const std::vector<std::string>& existing) {
    for (const std::string& f : existing)
      if (f.rfind("report/", 0) != 0) return true;
    return false;
  }
  void refuse_if_output(const RunInput& in) const {
    namespace fs = std::filesystem;
    for (const std::string& n : output_names()) {
      const fs::path out = fs::path(dir_) / n;
      if (detail::same_file(in.path, out))
        throw ValueError(detail::cat(in.role, " '", in.path, "' is the run's own output ", out.string(),
                                     ", which this run overwrites: copy it elsewhere, or choose another folder"));
    }
  }
  void check_same_run(const std::string& resumed_from, const std::string& run_id) const {
    namespace fs = std::filesystem;
    if (!resumed_from.empty()) {
      const fs::path parent = fs::path(resumed_from).parent_path();
      if (detail::same_file(parent.empty() ? fs::path(".") : parent, dir_)) return;
    }
    const std::string theirs = detail::folder_run_id(dir_);
    if (!run_id.empty() && theirs == run_id) return;
    throw ValueError(detail::cat("run folder '", dir_, "' holds another run (run id ", theirs.empty() ? "unknown" : theirs,
                                 ") than the checkpoint '", resumed_from, "' (run id ", run_id.empty() ? "unknown" : run_id,
                                 "): resume into that run's own folder, use --overwrite, or choose another folder"));
  }
  void remove_output(const std::string& name) const {
    std::error_code ec;
    std::filesystem::remove(std::filesystem::path(dir_) / name, ec);
    if (ec) throw IoError(detail::cat("cannot remove '", dir_, "/", name, "': ", ec.message()));
  }

  std::string dir_;
  std::unique_ptr<detail::FolderLock> lock_;
  std::string notice_;
};

// A new run's id: time, process and a random draw, in hex (unique enough to tell runs apart).
inline std::string new_run_id() {
  std::random_device rd;
  const auto t = static_cast<unsigned long long>(std::chrono::system_clock::now().time_since_epoch().count());
  char buf[40];
  std::snprintf(buf, sizeof buf, "%012llx-%08x", t & 0xffffffffffffull, rd() ^ static_cast<unsigned>(::getpid()));
  return buf;
}

}  // namespace glia
