// apps/common/ranks.hpp: a program's ranks when it runs under mpirun (data-parallel training,
// docs/distributed.md).
//   Ranks ranks(argc, argv)  joins MPI when the program was built with glia::mpi (GLIA_WITH_MPI)
//                            and a launcher (mpirun) started it; otherwise it is one rank and
//                            MPI is never started.
//   size(), rank(), leader() rank 0 is the leader: it alone prints and writes the run folder;
//                            the others' standard output goes to /dev/null (errors stay on stderr).
//   collective()             what Trainer::distribute takes; null for one rank.
//   local_size()             the ranks on this machine: they share its cores, so each takes
//                            cores / local_size threads unless --threads says otherwise.
//   finish(code)             a rank that failed stops the whole job (MPI_Abort), so that the
//                            others do not wait for it; returns code otherwise.
//   distribute(trainer, ranks, batch)  with several ranks: Trainer::distribute, and a line that
//                            says how the batch is shared.
//   print_traffic(ranks, steps)  what this rank exchanged over the run's training steps (bytes
//                            and seconds per step, evaluation and start-up included).
#pragma once

#include <glia/kernels/parallel.hpp>
#include <glia/train/trainer.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#ifdef GLIA_WITH_MPI
#include <glia/dist/mpi_collective.hpp>
#endif

namespace glia_cli {

class Ranks {
 public:
  Ranks(int& argc, char**& argv) {
#ifdef GLIA_WITH_MPI
    if (launched_by_mpirun()) {  // else one rank, without starting MPI (its singleton start forks a daemon)
      session_ = std::make_unique<glia::MpiSession>(argc, argv);
      collective_ = std::make_unique<glia::MpiCollective>();
      rank_ = collective_->rank();
      size_ = collective_->size();
    }
#else
    (void)argc;
    (void)argv;
#endif
    if (!leader()) std::freopen("/dev/null", "w", stdout);
    if (local_size() > 1)
      glia::set_num_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / local_size()));
  }
  int size() const { return size_; }
  int rank() const { return rank_; }
  bool leader() const { return rank_ == 0; }
  glia::Collective* collective() const {
#ifdef GLIA_WITH_MPI
    if (size_ > 1) return collective_.get();
#endif
    return nullptr;
  }
  // Whether a launcher started this process as a rank: Open MPI's mpirun, or a PMI/PMIx one
  // (MPICH's, Slurm's srun).
  static bool launched_by_mpirun() {
    return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK");
  }
  static int local_size() {
    const char* s = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    const int n = s ? std::atoi(s) : 1;
    return n > 0 ? n : 1;
  }
  int finish(int code) const {
#ifdef GLIA_WITH_MPI
    if (code != 0 && size_ > 1) {
      std::fflush(stdout);
      std::fprintf(stderr, "rank %d of %d failed (exit code %d): stopping every rank\n", rank_, size_, code);
      MPI_Abort(MPI_COMM_WORLD, code);
    }
#endif
    return code;
  }

 private:
#ifdef GLIA_WITH_MPI
  std::unique_ptr<glia::MpiSession> session_;
  std::unique_ptr<glia::MpiCollective> collective_;
#endif
  int rank_ = 0, size_ = 1;
};

inline void distribute(glia::Trainer<float>& trainer, const Ranks& ranks, glia::Index batch) {
  if (!ranks.collective()) return;
  trainer.distribute(*ranks.collective());
  std::printf("data-parallel: %d ranks over %s, batch %ld = up to %ld per rank, %d threads per rank\n", ranks.size(),
              ranks.collective()->transport().c_str(), static_cast<long>(batch),
              static_cast<long>((batch + ranks.size() - 1) / ranks.size()), glia::num_threads());
}

inline void print_traffic(const Ranks& ranks, std::uint64_t steps) {
  const glia::Collective* c = ranks.collective();
  if (!c || steps == 0) return;
  const glia::Traffic& t = c->traffic();
  const double per = 1.0 / static_cast<double>(steps);
  std::printf("data-parallel: rank 0 exchanged %.1f KB sent, %.1f KB received, %.2f ms per step (%llu steps, %llu calls)\n",
              static_cast<double>(t.bytes_sent) * per / 1e3, static_cast<double>(t.bytes_received) * per / 1e3,
              t.seconds * per * 1e3, static_cast<unsigned long long>(steps), static_cast<unsigned long long>(t.calls));
}

}  // namespace glia_cli
