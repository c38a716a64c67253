// benchmarks/train_throughput.cpp: glia's training and inference throughput of the reference
// network, timed and printed exactly as ../shared/reference/torch_ref.py does for PyTorch, so a
// script (benchmarks/compare-pytorch) can alternate the two and compare like with like.
//
//   glia_train_throughput --norm bn --threads 2 --batch 32 128 --infer-batch 256
//
// Protocol (torch_ref.py's timed_runs): --warmup steps, then steps for ~0.3 s to calibrate the
// steps per run (at least 3, about --run-seconds each), then --runs timed runs; prints the min,
// median and max images/s over the runs. A training step is zero_grad, forward (train mode),
// CrossEntropyLoss (torch_ref uses log_softmax + nll_loss: the same maths), backward and an SGD
// step with momentum 0.95, on a fixed random batch (randn images, random labels). Inference is
// the eval-mode forward. Output lines:
//   GLIA TRAIN norm=bn threads=2 batch=32: img/s min X med Y max Z  (N steps/run)  ~G GFLOP/s
//   GLIA INFER norm=bn threads=2 batch=256: img/s min X med Y max Z  (N steps/run)  ~G GFLOP/s
//   GLIA MEM norm=bn threads=2: maxrss M MiB
// preceded by the table of the convolution algorithms each layer runs (models/summary.hpp;
// GLIA_CONV_ALGO overrides them, kernels/conv2d_algorithm.hpp).
// (GFLOP/s counts convolution FLOPs only, as torch_ref.py does.) --batch 0 or --infer-batch 0
// skips that part.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <glia/models/summary.hpp>

#include "reference_step.hpp"

using glia::Index;
using glia::NormKind;
using glia::Shape;
using glia::Tensor;

namespace {

using glia::bench::forward_flops_per_image;
using glia::bench::train_flops_per_image;

struct Options {
  std::string norm = "bn";
  int threads = 2;
  std::vector<Index> batch{32, 128};
  std::vector<Index> infer_batch{256};
  int runs = 7;
  double run_seconds = 1.5;
  int warmup = 10;
};

[[noreturn]] void usage(int code) {
  (code ? std::cerr : std::cout)
      << "usage: glia_train_throughput [--norm bn|gn|ln] [--threads T] [--batch B [B...]]\n"
         "                             [--infer-batch B [B...]] [--runs R] [--run-seconds S] [--warmup W]\n"
         "Times training steps and inference of the reference net like torch_ref.py (defaults as\n"
         "there: bn, 2 threads, batch 32 128, infer batch 256, 7 runs of 1.5 s, 10 warm-up steps).\n"
         "A batch of 0 skips that part.\n";
  std::exit(code);
}

Options parse(int argc, char** argv) {
  Options o;
  std::vector<std::string> a(argv + 1, argv + argc);
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::string flag = a[i], inline_value;
    bool has_inline = false;
    if (const auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_inline = true;
    }
    auto values = [&]() {  // one value (--flag=v) or every following non-flag argument
      std::vector<std::string> v;
      if (has_inline) {
        v.push_back(inline_value);
      } else {
        while (i + 1 < a.size() && a[i + 1].rfind("--", 0) != 0) v.push_back(a[++i]);
      }
      if (v.empty()) {
        std::cerr << "glia_train_throughput: " << flag << " needs a value\n";
        usage(2);
      }
      return v;
    };
    auto one = [&]() {
      auto v = values();
      if (v.size() != 1) {
        std::cerr << "glia_train_throughput: " << flag << " takes one value\n";
        usage(2);
      }
      return v[0];
    };
    auto batches = [&]() {
      std::vector<Index> b;
      for (const auto& s : values()) {
        const long long n = std::stoll(s);
        if (n < 0) usage(2);
        if (n > 0) b.push_back(static_cast<Index>(n));
      }
      return b;
    };
    try {
      if (flag == "--help" || flag == "-h") usage(0);
      else if (flag == "--norm") o.norm = one();
      else if (flag == "--threads") o.threads = std::stoi(one());
      else if (flag == "--batch") o.batch = batches();
      else if (flag == "--infer-batch") o.infer_batch = batches();
      else if (flag == "--runs") o.runs = std::stoi(one());
      else if (flag == "--run-seconds") o.run_seconds = std::stod(one());
      else if (flag == "--warmup") o.warmup = std::stoi(one());
      else {
        std::cerr << "glia_train_throughput: unknown argument '" << a[i] << "'\n";
        usage(2);
      }
    } catch (const std::logic_error&) {  // std::stoi and friends
      std::cerr << "glia_train_throughput: bad value for " << flag << "\n";
      usage(2);
    }
  }
  if (o.threads < 1 || o.runs < 1 || o.run_seconds <= 0 || o.warmup < 0) usage(2);
  return o;
}

struct Rates {
  double min, med, max;
  long steps;
};

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// torch_ref.py's timed_runs.
Rates timed_runs(const std::function<void()>& step, Index imgs_per_step, const Options& o) {
  for (int i = 0; i < o.warmup; ++i) step();
  double t0 = now_seconds();
  long n = 0;
  while (now_seconds() - t0 < 0.3) {
    step();
    ++n;
  }
  const double per = (now_seconds() - t0) / static_cast<double>(n);
  const long steps = std::max(3L, static_cast<long>(o.run_seconds / per));
  std::vector<double> rates;
  for (int r = 0; r < o.runs; ++r) {
    t0 = now_seconds();
    for (long k = 0; k < steps; ++k) step();
    const double dt = now_seconds() - t0;
    rates.push_back(static_cast<double>(steps * imgs_per_step) / dt);
  }
  std::sort(rates.begin(), rates.end());
  const std::size_t m = rates.size();
  const double med = m % 2 ? rates[m / 2] : 0.5 * (rates[m / 2 - 1] + rates[m / 2]);  // statistics.median
  return {rates.front(), med, rates.back(), steps};
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    glia::set_num_threads(o.threads);
    std::printf("glia norm=%s params=%lld threads=%d\n", o.norm.c_str(), static_cast<long long>(glia::bench::ReferenceStep(glia::parse_norm_kind(o.norm), 1).flat->size()),
                glia::num_threads());
    std::printf("conv FLOPs/image: forward %.2f MFLOP, training step %.2f MFLOP\n", forward_flops_per_image() / 1e6,
                train_flops_per_image() / 1e6);
    std::printf("%s", glia::conv_algorithm_table(*glia::bench::ReferenceStep(glia::parse_norm_kind(o.norm), 1).net,
                                                 glia::Shape{1, 3, 32, 32})
                          .c_str());
    std::printf("%s\n", glia::instruction_set_line().c_str());
    std::fflush(stdout);

    for (Index b : o.batch) {
      glia::bench::ReferenceStep m(glia::parse_norm_kind(o.norm), b, 0);
      bool finite = true;
      auto step = [&]() { finite = std::isfinite(m.train_step()) && finite; };
      const Rates r = timed_runs(step, b, o);
      std::printf("GLIA TRAIN norm=%s threads=%d batch=%lld: img/s min %.0f med %.0f max %.0f  (%ld steps/run)  "
                  "~%.1f GFLOP/s%s\n",
                  o.norm.c_str(), glia::num_threads(), static_cast<long long>(b), r.min, r.med, r.max, r.steps,
                  r.med * train_flops_per_image() / 1e9, finite ? "" : "  (WARNING: non-finite loss)");
      std::fflush(stdout);
    }
    for (Index b : o.infer_batch) {
      glia::bench::ReferenceStep m(glia::parse_norm_kind(o.norm), b, 0);
      auto infer = [&]() {
        volatile float sink = m.infer()[0];
        (void)sink;
      };
      const Rates r = timed_runs(infer, b, o);
      std::printf("GLIA INFER norm=%s threads=%d batch=%lld: img/s min %.0f med %.0f max %.0f  (%ld steps/run)  "
                  "~%.1f GFLOP/s\n",
                  o.norm.c_str(), glia::num_threads(), static_cast<long long>(b), r.min, r.med, r.max, r.steps,
                  r.med * forward_flops_per_image() / 1e9);
      std::fflush(stdout);
    }
    std::printf("GLIA MEM norm=%s threads=%d: maxrss %.1f MiB\n", o.norm.c_str(), glia::num_threads(),
                glia::bench::maxrss_mib());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glia_train_throughput: %s\n", e.what());
    return 1;
  }
  return 0;
}
