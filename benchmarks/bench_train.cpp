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

#include <glia/models/reference_net.hpp>
#include <glia/nn/flat_parameters.hpp>
#include <glia/nn/loss.hpp>
#include <glia/optim/optimizer.hpp>

using glia::Index;
using glia::NormKind;
using glia::Shape;
using glia::Tensor;
using benchmark::Counter;

namespace {

// torch_ref.py CONV_SHAPES: (cin, cout, k, H=W, count in the model).
struct ConvCount {
  double cin, cout, k, hw, count;
};
constexpr ConvCount kConvs[] = {{3, 16, 3, 32, 1}, {16, 16, 3, 32, 1}, {16, 8, 1, 32, 1},
                                {8, 32, 3, 16, 1}, {32, 32, 3, 16, 2}, {32, 16, 1, 16, 1},
                                {16, 32, 3, 8, 1}, {32, 32, 3, 8, 2},  {32, 10, 1, 1, 1}};

double forward_flops_per_image() {
  double macs = 0;
  for (const ConvCount& c : kConvs) macs += c.cin * c.cout * c.k * c.k * c.hw * c.hw * c.count;
  return 2 * macs;
}
// Forward + weight gradient + input gradient, without the first layer's input gradient.
double train_flops_per_image() { return 3 * forward_flops_per_image() - 2.0 * 3 * 16 * 9 * 32 * 32; }

double maxrss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

double rss_mib() {
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

glia::OptimizerOptions reference_sgd() {
  glia::OptimizerOptions o;
  o.momentum = 0.95;
  return o;
}

// The model, its flat parameters, optimiser, loss and a fixed random batch.
struct Setup {
  std::unique_ptr<glia::Sequential<float>> net;
  std::unique_ptr<glia::FlatParameters<float>> flat;
  glia::Sgd<float> sgd{reference_sgd()};
  glia::CrossEntropyLoss<float> loss;
  Tensor<float> x;
  std::vector<std::int32_t> y;

  Setup(NormKind norm, Index batch) {
    glia::ReferenceNetConfig cfg;
    cfg.norm = norm;
    net = glia::make_reference_net<float>(cfg);
    glia::Rng rng(2024);
    net->reset_parameters(rng);
    flat = std::make_unique<glia::FlatParameters<float>>(*net);
    x = Tensor<float>(Shape{batch, 3, 32, 32});
    x.normal_(rng, 0.0, 1.0);
    for (Index i = 0; i < batch; ++i) y.push_back(static_cast<std::int32_t>(rng.below(10)));
  }
  float train_step() {
    flat->zero_grad();
    const Tensor<float>& out = net->forward(x, glia::Mode::Train);
    const float l = loss.forward(out, y);
    net->backward(loss.backward());
    sgd.step(*flat, 0.01);
    return l;
  }
  const Tensor<float>& infer() { return net->forward(x, glia::Mode::Eval); }
};

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
