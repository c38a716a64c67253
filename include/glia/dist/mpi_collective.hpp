// glia/dist/mpi_collective.hpp: the Collective of data-parallel training over MPI (Open MPI from
// Debian), for ranks in several processes, on one machine or many. It needs <mpi.h> and MPI's
// library: link the glia::mpi target (CMake option GLIA_WITH_MPI), which defines
// GLIA_WITH_MPI; the rest of glia never includes this header.
//
// Contract:
// - MpiSession(argc, argv): MPI_Init_thread (MPI_THREAD_FUNNELED: only the thread that made the
//   session calls MPI; glia's OpenMP threads never do) unless MPI is initialised already, and
//   MPI_Finalize in its destructor if it initialised. A program started without mpirun is one
//   rank (MPI's singleton start).
// - MpiCollective(comm = MPI_COMM_WORLD): rank() and size() of comm; all_gather_bytes is
//   MPI_Allgatherv of bytes, broadcast_bytes is MPI_Bcast (in pieces of at most 1 GiB, MPI's
//   counts being int). The communicator returns errors (MPI_ERRORS_RETURN): a failed call
//   throws DistributedError with MPI's message. A rank that dies (SIGKILL, a crash) is noticed by
//   mpirun, which stops the others and says which rank died: no rank waits forever.
#pragma once

#include <mpi.h>

#include <climits>
#include <string>
#include <vector>

#include "glia/dist/collective.hpp"

namespace glia {

namespace detail {
inline void mpi_check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  throw DistributedError(detail::cat(what, " failed: ", std::string(text, static_cast<std::size_t>(len))));
}
}  // namespace detail

class MpiSession {
 public:
  MpiSession(int& argc, char**& argv) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised) return;
    int provided = 0;
    detail::mpi_check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    owner_ = true;
  }
  ~MpiSession() {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (owner_ && !finalised) MPI_Finalize();
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

 private:
  bool owner_ = false;
};

class MpiCollective : public Collective {
 public:
  explicit MpiCollective(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
    detail::mpi_check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    detail::mpi_check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    detail::mpi_check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string transport() const override {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    std::string v(version, static_cast<std::size_t>(len));
    return "MPI (" + v.substr(0, v.find(',')) + ")";
  }


 protected:
  void send_all_gather(const void* send, std::size_t bytes, void* recv, const std::vector<std::size_t>& counts) override {
    counts_.assign(counts.size(), 0);
    offsets_.assign(counts.size(), 0);
    std::size_t offset = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      if (counts[r] > static_cast<std::size_t>(INT_MAX) || offset > static_cast<std::size_t>(INT_MAX))
        throw ValueError(detail::cat("all_gather: ", offset + counts[r], " bytes, more than MPI's int counts reach"));
      counts_[r] = static_cast<int>(counts[r]);
      offsets_[r] = static_cast<int>(offset);
      offset += counts[r];
    }
    detail::mpi_check(MPI_Allgatherv(send, static_cast<int>(bytes), MPI_BYTE, recv, counts_.data(), offsets_.data(), MPI_BYTE,
                                     comm_),
                      "MPI_Allgatherv");
  }

  void send_broadcast(void* data, std::size_t bytes, int root) override {
    constexpr std::size_t kPiece = std::size_t(1) << 30;
    auto* p = static_cast<unsigned char*>(data);
    for (std::size_t done = 0; done < bytes; done += kPiece) {
      const std::size_t n = bytes - done < kPiece ? bytes - done : kPiece;
      detail::mpi_check(MPI_Bcast(p + done, static_cast<int>(n), MPI_BYTE, root, comm_), "MPI_Bcast");
    }
  }

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  std::vector<int> counts_, offsets_;  // kept: no allocation per step after the first
};

}  // namespace glia
