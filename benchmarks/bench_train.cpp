// benchmarks/bench_train.cpp: end-to-end benchmarks of the 48,178-parameter reference network.
//
//   BM_train_step/<norm>/batch:B/threads:T   one full training step on a fixed random batch:
//       zero_grad, forward (train mode), CrossEntropyLoss, backward, SGD step (momentum 0.95,
//       the reference recipe) on FlatParameters; norm bn, gn (2 groups), ln; B 32 and 128;
//       T 1 and 2 (glia::set_num_threads).
//   BM_infer/<norm>/batch:256/threads:T        the eval-mode forward.
// Counters (rates are per second of wall-clock time: every benchmark uses UseRealTime):
//   images            images per second (kIsRate; items_per_second is the same number)
//   conv_GFLOP        convolution GFLOP per second, counted as torch_ref.py does (forward
//                     2*MACs; training step 3x forward minus the first layer's input gradient),
//                     so the number compares with torch_ref.py's "~X GFLOP/s"
//   maxrss_MiB        the process's peak resident memory so far (getrusage ru_maxrss). It only
//                     grows during a run; for one configuration's peak, run it alone
//                     (--benchmark_filter) or use glia_train_throughput, which prints its own.
//   rss_MiB           resident memory right after this benchmark (/proc/self/statm)
// Two warm-up steps run before timing, so workspaces are sized and nothing is allocated in the
// timed loop. A non-finite loss stops the benchmark with an error.
#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "reference_step.hpp"

using glia::Index;
using glia::NormKind;
using glia::Shape;
using glia::Tensor;
using benchmark::Counter;

namespace {

using glia::bench::forward_flops_per_image;
using glia::bench::maxrss_mib;
using glia::bench::rss_mib;
using glia::bench::train_flops_per_image;
using Setup = glia::bench::ReferenceStep;

// "images": images per second (a rate counter over the items processed); "conv_GFLOP": the
// convolution FLOPs per second (both shown per second, in wall-clock time).
void report_rates(benchmark::State& s, Index batch, double flops_per_image) {
  const double images = static_cast<double>(s.iterations()) * static_cast<double>(batch);
  s.SetItemsProcessed(static_cast<std::int64_t>(images));
  s.counters["images"] = Counter(images, Counter::kIsRate);
  s.counters["conv_GFLOP"] = Counter(images * flops_per_image * 1e-9, Counter::kIsRate);
}

void report_memory(benchmark::State& s) {
  s.counters["maxrss_MiB"] = maxrss_mib();
  s.counters["rss_MiB"] = rss_mib();
}

// Args: batch, threads.
void BM_train_step(benchmark::State& s, NormKind norm) {
  const Index batch = s.range(0);
  glia::set_num_threads(static_cast<int>(s.range(1)));
  Setup m(norm, batch);
  for (int i = 0; i < 2; ++i) m.train_step();
  for (auto _ : s) {
    const float l = m.train_step();
    if (!std::isfinite(l)) {
      s.SkipWithError("non-finite loss");
      break;
    }
    benchmark::DoNotOptimize(l);
    benchmark::ClobberMemory();
  }
  report_rates(s, batch, train_flops_per_image());
  report_memory(s);
}

void BM_infer(benchmark::State& s, NormKind norm) {
  const Index batch = s.range(0);
  glia::set_num_threads(static_cast<int>(s.range(1)));
  Setup m(norm, batch);  // no training step: rss_MiB is then what inference alone needs
  for (int i = 0; i < 2; ++i) m.infer();
  for (auto _ : s) {
    benchmark::DoNotOptimize(m.infer().data());
    benchmark::ClobberMemory();
  }
  report_rates(s, batch, forward_flops_per_image());
  report_memory(s);
}

void register_all() {
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    const std::string n = glia::norm_kind_name(k);
    benchmark::RegisterBenchmark(("BM_train_step/" + n).c_str(), [k](benchmark::State& s) { BM_train_step(s, k); })
        ->ArgNames({"batch", "threads"})
        ->ArgsProduct({{32, 128}, {1, 2}})
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    const std::string n = glia::norm_kind_name(k);
    benchmark::RegisterBenchmark(("BM_infer/" + n).c_str(), [k](benchmark::State& s) { BM_infer(s, k); })
        ->ArgNames({"batch", "threads"})
        ->ArgsProduct({{256}, {1, 2}})
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  char flops[64];
  std::snprintf(flops, sizeof flops, "%.2f MFLOP forward, %.2f MFLOP training step", forward_flops_per_image() * 1e-6,
                train_flops_per_image() * 1e-6);
  benchmark::AddCustomContext("glia_conv_flops_per_image", flops);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
