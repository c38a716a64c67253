// glia/train/progress.hpp: console output for a Trainer (the library core never prints).
//
// ConsoleProgress(out, interactive) gives two callbacks:
//   batch(e)  on a terminal, redraws one line: a bar, images/s, ETA of the epoch, running loss
//             and accuracy; otherwise prints a plain line every `interval_seconds`.
//   epoch(r)  prints a row of the per-epoch table (epoch, LR, time, train loss, train correct,
//             train accuracy, test loss, test correct, test accuracy), with the header before
//             the first row.
// stdout_is_terminal() tells whether to use the interactive form.
#pragma once

#include <cstdio>
#include <string>
#include <unistd.h>

#include "glia/train/run_record.hpp"
#include "glia/train/trainer.hpp"

namespace glia {

inline bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

class ConsoleProgress {
 public:
  explicit ConsoleProgress(std::FILE* out = stdout, bool interactive = stdout_is_terminal(), double interval_seconds = 15.0)
      : out_(out), interactive_(interactive), interval_(interval_seconds), next_print_(interval_seconds) {}

  void batch(const BatchEvent& e) {
    const double rate = e.seconds > 0 ? static_cast<double>(e.images) / e.seconds : 0.0;
    const double eta = e.batch ? e.seconds * static_cast<double>(e.batches - e.batch) / static_cast<double>(e.batch) : 0.0;
    if (interactive_) {
      const int width = 24, filled = static_cast<int>(width * e.batch / std::max<Index>(1, e.batches));
      std::string bar(static_cast<std::size_t>(filled), '#');
      bar.resize(static_cast<std::size_t>(width), '.');
      std::fprintf(out_, "\r  epoch %2d [%s] %5ld/%ld  %6.0f img/s  ETA %4.0fs  loss %.4f  acc %5.2f%%   ", e.epoch,
                   bar.c_str(), static_cast<long>(e.batch), static_cast<long>(e.batches), rate, eta, e.epoch_loss,
                   100.0 * e.epoch_accuracy);
      std::fflush(out_);
    } else if (e.seconds >= next_print_ || e.batch == e.batches) {
      std::fprintf(out_, "  epoch %d batch %ld/%ld  %.0f img/s  ETA %.0fs  loss %.4f  acc %.2f%%\n", e.epoch,
                   static_cast<long>(e.batch), static_cast<long>(e.batches), rate, eta, e.epoch_loss, 100.0 * e.epoch_accuracy);
      std::fflush(out_);
      next_print_ = e.seconds + interval_;
    }
    if (e.batch == e.batches) next_print_ = interval_;
  }

  void epoch(const EpochRecord& r) {
    if (interactive_) std::fprintf(out_, "\r%120s\r", "");
    if (!header_done_) {
      std::fprintf(out_, "%5s %10s %7s %10s %13s %9s %9s %12s %9s\n", "epoch", "lr", "time", "train loss",
                   "train correct", "train acc", "test loss", "test correct", "test acc");
      header_done_ = true;
    }
    std::fprintf(out_, "%5d %10.6f %6.1fs %10.4f %6lld/%-6lld %8.2f%% %9.4f %5lld/%-6lld %8.2f%%\n", r.epoch, r.lr, r.seconds,
                 r.train_loss, static_cast<long long>(r.train_correct), static_cast<long long>(r.train_total),
                 r.train_accuracy, r.test_loss, static_cast<long long>(r.test_correct),
                 static_cast<long long>(r.test_total), r.test_accuracy);
    std::fflush(out_);
  }

  // Installs both callbacks on a trainer.
  template <typename T>
  void attach(Trainer<T>& t) {
    t.on_batch = [this](const BatchEvent& e) { batch(e); };
    t.on_epoch = [this](const EpochRecord& r) { epoch(r); };
  }

 private:
  std::FILE* out_;
  bool interactive_;
  double interval_, next_print_;
  bool header_done_ = false;
};

}  // namespace glia
