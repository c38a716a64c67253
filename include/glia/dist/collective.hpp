// glia/dist/collective.hpp: what data-parallel training needs from the processes it runs on, and
// an in-process implementation (threads) for tests.
//
// Contract of Collective (every rank makes the same calls in the same order):
// - rank() in [0, size()).
// - all_gather_bytes(send, bytes, recv, counts): every rank's `bytes` bytes, rank after rank,
//   into recv; counts[r] is rank r's byte count (so recv holds their sum). Blocks until every
//   rank has called it.
// - broadcast_bytes(data, bytes, root): root's bytes into every rank's data.
// - A rank that is gone makes the others throw DistributedError (or, under MPI, the launcher
//   stops the job): never a hang (dist/mpi_collective.hpp).
// - traffic(): what this rank has exchanged so far (calls, bytes sent and received, seconds
//   inside the calls), counted by the base class around each implementation's send_* call.
// The typed helpers below build on these two:
// - all_gather(c, send, n, recv, counts): T values (counts per rank in elements);
// - broadcast(c, data, n, root);
// - sum_over_ranks(c, values, n, scratch): every rank's n values added element by element by
//   the chunk tree over the ranks (kernels/batch_chunks.hpp), the same bits on every rank and
//   the bits one process gets from the whole batch. One all-gather of n values per rank: what
//   training exchanges per step (n = the parameter count).
// ThreadGroup(R) and ThreadCollective(group, rank): R ranks as R threads of one process,
// exchanging through shared memory; for tests and for trying a split without MPI. A thread
// that stops calls group.leave(rank), so that the others throw rather than wait.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/kernels/batch_chunks.hpp"

namespace glia {

class DistributedError : public Error {
 public:
  using Error::Error;
};

struct Traffic {
  std::uint64_t calls = 0, bytes_sent = 0, bytes_received = 0;
  double seconds = 0;
};

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // What the transport is, for summaries ("threads", "MPI (Open MPI 4.1.4)").
  virtual std::string transport() const = 0;

  void all_gather_bytes(const void* send, std::size_t bytes, void* recv, const std::vector<std::size_t>& counts) {
    if (counts.size() != static_cast<std::size_t>(size()) || counts[static_cast<std::size_t>(rank())] != bytes)
      throw ValueError(detail::cat("all_gather: rank ", rank(), " sends ", bytes, " bytes; the counts list ", counts.size(),
                                   " ranks"));
    const auto t0 = std::chrono::steady_clock::now();
    send_all_gather(send, bytes, recv, counts);
    std::size_t received = 0;
    for (std::size_t c : counts) received += c;
    count(t0, bytes * (counts.size() - 1), received - bytes);
  }
  void broadcast_bytes(void* data, std::size_t bytes, int root) {
    const auto t0 = std::chrono::steady_clock::now();
    send_broadcast(data, bytes, root);
    const bool from_me = root == rank();
    count(t0, from_me ? bytes * static_cast<std::size_t>(size() - 1) : 0, from_me ? 0 : bytes);
  }
  const Traffic& traffic() const { return traffic_; }

 protected:
  // The transport's calls; counts are checked (one per rank, this rank's equal to bytes).
  virtual void send_all_gather(const void* send, std::size_t bytes, void* recv, const std::vector<std::size_t>& counts) = 0;
  virtual void send_broadcast(void* data, std::size_t bytes, int root) = 0;

 private:
  void count(std::chrono::steady_clock::time_point t0, std::size_t sent, std::size_t received) {
    ++traffic_.calls;
    traffic_.bytes_sent += sent;
    traffic_.bytes_received += received;
    traffic_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  Traffic traffic_;
};

template <typename T>
void all_gather(Collective& c, const T* send, Index n, T* recv, const std::vector<Index>& counts) {
  thread_local std::vector<std::size_t> bytes;  // kept: a training step allocates nothing after the first
  bytes.clear();
  for (Index k : counts) bytes.push_back(static_cast<std::size_t>(k) * sizeof(T));
  c.all_gather_bytes(send, static_cast<std::size_t>(n) * sizeof(T), recv, bytes);
}

template <typename T>
void broadcast(Collective& c, T* data, Index n, int root = 0) {
  c.broadcast_bytes(data, static_cast<std::size_t>(n) * sizeof(T), root);
}

// values[k] <- the chunk tree over the ranks of every rank's values[k]; scratch grows to
// size() * n (kept by the caller: no allocation after the first step).
template <typename T>
void sum_over_ranks(Collective& c, T* values, Index n, std::vector<T>& scratch) {
  const Index r = c.size();
  if (r == 1) return;
  scratch.resize(static_cast<std::size_t>(r * n));
  thread_local std::vector<Index> counts;
  counts.assign(static_cast<std::size_t>(r), n);
  all_gather(c, values, n, scratch.data(), counts);
  for (Index k = 0; k < n; ++k) values[k] = chunk_tree_sum(scratch.data() + k, r, n);
}

// The shared memory of R threads that act as R ranks: a rank posts its buffer, all wait, each
// copies the others', all wait again (so no buffer is reused before every rank has read it).
class ThreadGroup {
 public:
  explicit ThreadGroup(int ranks) : posted_(static_cast<std::size_t>(ranks)), size_(ranks) {
    if (ranks < 1) throw ValueError(detail::cat("ThreadGroup: ", ranks, " ranks"));
  }
  int size() const { return size_; }

  // A rank that stops (an exception) calls leave(): every wait, now and later, throws
  // DistributedError instead of waiting for it.
  void leave(int rank) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (left_ < 0) left_ = rank;
    all_arrived_.notify_all();
  }

  // Rank `rank`'s part of one exchange: post data, then run read(posted buffers) once all have.
  template <typename Read>
  void exchange(int rank, const void* data, Read&& read) {
    posted_[static_cast<std::size_t>(rank)] = data;
    wait();
    read(posted_);
    wait();
  }

 private:
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const std::size_t generation = generation_;
    if (left_ < 0 && ++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      all_arrived_.notify_all();
      return;
    }
    all_arrived_.wait(lock, [&] { return generation_ != generation || left_ >= 0; });
    if (generation_ == generation) throw DistributedError(detail::cat("rank ", left_, " of ", size_, " stopped"));
  }

  std::vector<const void*> posted_;
  int size_;
  int arrived_ = 0;
  int left_ = -1;  // the first rank that left, or -1
  std::size_t generation_ = 0;
  std::mutex mutex_;
  std::condition_variable all_arrived_;
};

class ThreadCollective : public Collective {
 public:
  ThreadCollective(ThreadGroup& group, int rank) : group_(group), rank_(rank) {
    if (rank < 0 || rank >= group.size()) throw ValueError(detail::cat("ThreadCollective: rank ", rank, " of ", group.size()));
  }
  int rank() const override { return rank_; }
  int size() const override { return group_.size(); }
  std::string transport() const override { return "threads"; }

 protected:
  void send_all_gather(const void* send, std::size_t bytes, void* recv, const std::vector<std::size_t>& counts) override {
    (void)bytes;
    group_.exchange(rank_, send, [&](const std::vector<const void*>& posted) {
      auto* out = static_cast<unsigned char*>(recv);
      for (std::size_t r = 0; r < posted.size(); ++r) {
        if (counts[r]) std::memcpy(out, posted[r], counts[r]);
        out += counts[r];
      }
    });
  }
  void send_broadcast(void* data, std::size_t bytes, int root) override {
    group_.exchange(rank_, data, [&](const std::vector<const void*>& posted) {
      if (rank_ != root && bytes) std::memcpy(data, posted[static_cast<std::size_t>(root)], bytes);
    });
  }

 private:
  ThreadGroup& group_;
  int rank_;
};

}  // namespace glia
