// benchmarks/bench_kernels.cpp: Google Benchmark micro-benchmarks of glia's kernels, at every
// distinct layer shape of the 48,178-parameter reference network (batch 32; conv forward also at
// batch 1 and 128), each with 1 and 2 threads (glia::set_num_threads; the "threads" argument,
// not Google Benchmark's own ->Threads()). All are timed in wall-clock time (UseRealTime), since
// the work runs on OpenMP threads.
//
// Counters:
//   GFLOP/s    compute-bound kernels (conv = GEMM): FLOPs = 2 * multiply-adds, counted as in
//              ../shared/reference/torch_ref.py: forward 2*MACs; backward with the input gradient
//              4*MACs (weight + data), weight gradient only (dx = nullptr) 2*MACs. Bias terms,
//              im2col and col2im inside a convolution are not counted.
//   GB/s       memory-bound kernels: the compulsory traffic, every input read once and every
//              output written once (a kernel that makes several passes shows a lower GB/s).
//   peak_frac  the fraction of this machine's peak measured IN THIS RUN at the same thread count:
//              BM_peak_fma (FP32 FMA throughput, independent accumulator chains, AVX-512 or
//              AVX2 intrinsics, else Eigen packets) for GFLOP/s; BM_peak_bandwidth (a STREAM
//              triad at working sets of 24 KiB .. 96 MiB) for GB/s, at the smallest triad working
//              set that holds the benchmark's own (peak_ws_KiB says which): bandwidth depends on
//              the cache level the data lives in. The peaks are registered first, so they run
//              first (for at least 0.2 s each), and keep the best value seen; a peak that a
//              filter left out is measured once, briefly, when a benchmark first needs it.
//              A kernel whose access pattern is kinder than the triad's (fewer streams, part of
//              the data still in a nearer cache) can exceed 1.
//   items_per_second  images (samples) per second where a batch is involved.
// GFLOP/s, GB/s and peak_frac are computed from the wall-clock time of the timed loop
// (a Stopwatch around `for (auto _ : state)`), plain counters rather than Google Benchmark rate
// counters, so that a fraction prints as a fraction.
//
// Layer names follow torch_ref.py's CONV_SHAPES (c1..c8, t1, t2, head); glia's reference_net
// calls them C1, C2, c3, C3, C4/C5, c6, C7, C8/C9, c10. The convolutions run the algorithms a
// Conv2d layer would (kernels/conv2d_algorithm.hpp), printed as each benchmark's label; the
// environment variable GLIA_CONV_ALGO forces others where they apply, e.g.
//   GLIA_CONV_ALGO=forward=im2col_gemm,input_grad=col2im_gemm,weight_grad=im2col_gemm
//     glia_bench_kernels --benchmark_filter='BM_conv'   (one command line)
//
// Examples:
//   glia_bench_kernels --benchmark_filter='BM_peak|BM_conv_fwd/c4' --benchmark_min_time=0.2
//   glia_bench_kernels --benchmark_out=k.json --benchmark_out_format=json
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include <glia/kernels/conv2d.hpp>
#include <glia/kernels/elementwise.hpp>
#include <glia/kernels/im2col.hpp>
#include <glia/kernels/batchnorm.hpp>
#include <glia/kernels/groupnorm.hpp>
#include <glia/kernels/parallel.hpp>
#include <glia/kernels/pool.hpp>
#include <glia/kernels/softmax.hpp>
#include <glia/models/reference_net.hpp>
#include <glia/nn/activation.hpp>
#include <glia/nn/flat_parameters.hpp>
#include <glia/optim/optimizer.hpp>

using glia::Index;
using glia::Shape;
using glia::Tensor;

namespace {

// ---------------------------------------------------------------------------------------------
// Machine peaks, measured in this run.
// ---------------------------------------------------------------------------------------------

constexpr int kChains = 12;  // independent FMA chains: > latency (4) x FMA pipes (2)

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
constexpr const char* kIsa = "avx512";
inline Vec vset(float v) { return _mm512_set1_ps(v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline float vsum(Vec v) {  // not _mm512_reduce_add_ps: GCC 12 warns inside it (bug 105593)
  alignas(64) float f[16];
  _mm512_store_ps(f, v);
  float s = 0;
  for (float x : f) s += x;
  return s;
}
#elif defined(__AVX2__) && defined(__FMA__)
using Vec = __m256;
constexpr int kLanes = 8;
constexpr const char* kIsa = "avx2+fma";
inline Vec vset(float v) { return _mm256_set1_ps(v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline float vsum(Vec v) {
  alignas(32) float f[8];
  _mm256_store_ps(f, v);
  float s = 0;
  for (float x : f) s += x;
  return s;
}
#else
// Portable fallback: Eigen's packet of the compiled-for ISA (SSE, NEON, ...). pmadd is a fused
// multiply-add where the ISA has one, else a multiply and an add (2 FLOPs either way).
using Vec = Eigen::internal::packet_traits<float>::type;
constexpr int kLanes = Eigen::internal::packet_traits<float>::size;
constexpr const char* kIsa = "eigen-packet";
inline Vec vset(float v) { return Eigen::internal::pset1<Vec>(v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return Eigen::internal::pmadd(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return Eigen::internal::padd(a, b); }
inline float vsum(Vec v) { return Eigen::internal::predux(v); }
#endif

constexpr double kFlopsPerFmaIter = 2.0 * kChains * kLanes;

// kChains independent chains acc = acc * a + b, iters times. The values converge (|a| < 1), so
// they stay finite and normal; seed keeps the compiler from folding anything.
__attribute__((noinline)) float fma_chains(std::int64_t iters, float seed) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = vset(seed + 0.001f * static_cast<float>(c));
  const Vec a = vset(0.999f), b = vset(seed * 1e-3f);
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = vfma(acc[c], a, b);
  }
  Vec s = acc[0];
  for (int c = 1; c < kChains; ++c) s = vadd(s, acc[c]);
  return vsum(s);
}

// Runs fma_chains on `threads` threads at once; returns the FLOPs done.
double fma_all_threads(int threads, std::int64_t iters) {
  float sink = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  sink += fma_chains(iters, 1.0f + 0.01f * static_cast<float>(omp_get_thread_num()));
#else
  threads = 1;
  sink = fma_chains(iters, 1.0f);
#endif
  benchmark::DoNotOptimize(sink);
  return kFlopsPerFmaIter * static_cast<double>(iters) * threads;
}

// STREAM triad a = b + s*c over [0, n), `reps` times, on `threads` threads (each its own
// contiguous part, as schedule(static) would split it). The repetitions run inside one parallel
// region, so that small working sets measure the cache and not the region's start-up; the
// memory clobber between them keeps the compiler from merging them.
void triad(float* a, const float* b, const float* c, float s, Index n, int threads, int reps) {
  auto part = [&](Index lo, Index hi) {
    for (int r = 0; r < reps; ++r) {
      for (Index i = lo; i < hi; ++i) a[i] = b[i] + s * c[i];
      benchmark::ClobberMemory();
    }
  };
#ifdef _OPENMP
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    {
      const Index t = omp_get_thread_num(), nt = omp_get_num_threads();
      part(n * t / nt, n * (t + 1) / nt);
    }
    return;
  }
#endif
  (void)threads;
  part(0, n);
}

// Bandwidth depends on where the working set lives, so the triad is measured at several working
// sets (3 arrays in all), and a memory-bound benchmark is compared with the smallest one that
// holds its own working set. On this machine (48 KiB L1d, 1 MiB L2 per core, 32 MiB L3) they sit
// in L1, L2, L3 and DRAM.
constexpr Index kTriadKiB[] = {24, 480, 6144, 98304};

struct TriadBuffers {
  Index n;
  std::vector<float> a, b, c;
  explicit TriadBuffers(Index total_kib)
      : n(total_kib * 1024 / 3 / static_cast<Index>(sizeof(float))), a(static_cast<std::size_t>(n), 0.f),
        b(static_cast<std::size_t>(n), 1.f), c(static_cast<std::size_t>(n), 2.f) {}
  // Repetitions per run(): about 1 MB of traffic.
  int reps() const { return static_cast<int>(std::max(1.0, 1e6 / (3.0 * sizeof(float) * static_cast<double>(n)))); }
  double bytes() const { return 3.0 * sizeof(float) * static_cast<double>(n) * reps(); }  // per run()
  void run(int threads) {
    triad(a.data(), b.data(), c.data(), 3.f, n, threads, reps());
    benchmark::ClobberMemory();
  }
};

std::map<int, double> g_peak_flops;                  // FLOP/s by thread count (best seen in this run)
std::map<std::pair<int, Index>, double> g_peak_bytes;  // bytes/s by (threads, triad KiB)

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Wall-clock time of a benchmark's timed loop: start it right before `for (auto _ : state)`.
// (Google Benchmark's own timer is not readable from the benchmark; the two differ by the loop
// entry and exit only.)
class Stopwatch {
 public:
  double seconds() const { return seconds_since(t0_); }

 private:
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

template <typename K>
void note_peak(std::map<K, double>& m, const K& key, double rate) {
  double& v = m[key];
  v = std::max(v, rate);
}

// Measured once, briefly (5 x ~10-20 ms), when a benchmark needs a peak that BM_peak_* did not
// measure in this run (e.g. filtered out).
double peak_flops(int threads) {
  auto it = g_peak_flops.find(threads);
  if (it != g_peak_flops.end() && it->second > 0) return it->second;
  fma_all_threads(threads, 1 << 16);  // wake the threads
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    const double f = fma_all_threads(threads, 1 << 19);
    note_peak(g_peak_flops, threads, f / seconds_since(t0));
  }
  return g_peak_flops[threads];
}

Index triad_level(double working_set_bytes) {
  for (Index kib : kTriadKiB)
    if (working_set_bytes <= static_cast<double>(kib) * 1024.0) return kib;
  return kTriadKiB[std::size(kTriadKiB) - 1];
}

double peak_bytes(int threads, Index kib) {
  const auto key = std::make_pair(threads, kib);
  auto it = g_peak_bytes.find(key);
  if (it != g_peak_bytes.end() && it->second > 0) return it->second;
  TriadBuffers t(kib);
  t.run(threads);
  const int reps = static_cast<int>(std::max<double>(1.0, 20e6 / t.bytes()));  // ~20 MB per measurement
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < reps; ++k) t.run(threads);
    note_peak(g_peak_bytes, key, reps * t.bytes() / seconds_since(t0));
  }
  benchmark::DoNotOptimize(t.a.data());
  return g_peak_bytes[key];
}

// Args: threads.
void BM_peak_fma(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  constexpr std::int64_t kIters = 1 << 18;
  fma_all_threads(threads, 1 << 14);
  const double per_iter = kFlopsPerFmaIter * static_cast<double>(kIters) * threads;
  const Stopwatch sw;
  for (auto _ : state) fma_all_threads(threads, kIters);
  const double dt = sw.seconds(), rate = per_iter * static_cast<double>(state.iterations()) / dt;
  if (dt > 0.005) note_peak(g_peak_flops, threads, rate);
  state.counters["GFLOP/s"] = rate * 1e-9;
  state.counters["GFLOP/s/thread"] = rate * 1e-9 / threads;
  state.SetLabel(kIsa);
}

// Args: threads, working set in KiB (the three arrays together).
void BM_peak_bandwidth(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const Index kib = state.range(1);
  TriadBuffers t(kib);
  t.run(threads);
  benchmark::DoNotOptimize(t.a.data());
  const Stopwatch sw;
  for (auto _ : state) t.run(threads);
  const double dt = sw.seconds(), rate = t.bytes() * static_cast<double>(state.iterations()) / dt;
  if (dt > 0.005) note_peak(g_peak_bytes, std::make_pair(threads, kib), rate);
  state.counters["GB/s"] = rate * 1e-9;
  state.SetLabel("triad");
}

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

int setup_threads(benchmark::State& s, int arg_index) {
  const int threads = static_cast<int>(s.range(arg_index));
  glia::set_num_threads(threads);
  return threads;
}

// GFLOP/s and its fraction of the FMA peak at the same thread count.
void report_flops(benchmark::State& s, double flops_per_iter, int threads, const Stopwatch& sw) {
  const double rate = flops_per_iter * static_cast<double>(s.iterations()) / sw.seconds();
  s.counters["GFLOP/s"] = rate * 1e-9;
  s.counters["peak_frac"] = rate / peak_flops(threads);
}

// GB/s and its fraction of the triad bandwidth at the same thread count, for the smallest triad
// working set that holds this benchmark's working set (by default: the bytes it moves).
void report_bytes(benchmark::State& s, double bytes_per_iter, int threads, const Stopwatch& sw,
                  double working_set = 0) {
  const double rate = bytes_per_iter * static_cast<double>(s.iterations()) / sw.seconds();
  const Index kib = triad_level(working_set > 0 ? working_set : bytes_per_iter);
  s.counters["GB/s"] = rate * 1e-9;
  s.counters["peak_frac"] = rate / peak_bytes(threads, kib);
  s.counters["peak_ws_KiB"] = static_cast<double>(kib);
}

Tensor<float> random_tensor(const Shape& shape, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor<float> t(shape);
  glia::Rng rng(seed);
  t.uniform_(rng, lo, hi);
  return t;
}

constexpr double kF = sizeof(float);

// ---------------------------------------------------------------------------------------------
// Convolution (im2col + GEMM), im2col, col2im.
// ---------------------------------------------------------------------------------------------

struct ConvShape {
  const char* name;
  Index cin, cout, k, hw;
};
// torch_ref.py CONV_SHAPES.
const ConvShape kConvShapes[] = {
    {"c1_3-16_3x3@32", 3, 16, 3, 32},   {"c2_16-16_3x3@32", 16, 16, 3, 32}, {"t1_16-8_1x1@32", 16, 8, 1, 32},
    {"c3_8-32_3x3@16", 8, 32, 3, 16},   {"c4c5_32-32_3x3@16", 32, 32, 3, 16}, {"t2_32-16_1x1@16", 32, 16, 1, 16},
    {"c6_16-32_3x3@8", 16, 32, 3, 8},   {"c7c8_32-32_3x3@8", 32, 32, 3, 8},   {"head_32-10_1x1@1", 32, 10, 1, 1},
};

glia::Conv2dGeometry geometry(const ConvShape& c, Index batch) {
  return glia::Conv2dGeometry{batch, glia::PatchGeometry{c.cin, c.hw, c.hw, c.k, c.k, 1, c.k / 2}, c.cout};
}
double conv_macs(const glia::Conv2dGeometry& g) {
  return static_cast<double>(g.batch) * static_cast<double>(g.out_channels) * static_cast<double>(g.k()) *
         static_cast<double>(g.p());
}

// The algorithms a Conv2d layer would run (the automatic choice, or GLIA_CONV_ALGO's where it
// applies), which the benchmarks run and print as their label.
glia::ConvAlgorithms conv_algorithms(const glia::Conv2dGeometry& g, const ConvShape& c) {
  return glia::resolve_conv_algorithms(g, glia::conv3x3_packet_size<float>(), {}, c.name).algorithms;
}

// Args: batch, threads.
void BM_conv_fwd(benchmark::State& s, ConvShape c) {
  const Index batch = s.range(0);
  const int threads = setup_threads(s, 1);
  const glia::Conv2dGeometry g = geometry(c, batch);
  const glia::ConvAlgorithms a = conv_algorithms(g, c);
  s.SetLabel(std::string("forward=") + glia::conv_algorithm_name(a.forward));
  Tensor<float> x = random_tensor(Shape{batch, c.cin, c.hw, c.hw}, 1);
  Tensor<float> w = random_tensor(Shape{c.cout, c.cin, c.k, c.k}, 2, -0.1, 0.1);
  Tensor<float> b = random_tensor(Shape{c.cout}, 3);
  Tensor<float> y(Shape{batch, c.cout, g.patch.out_h(), g.patch.out_w()});
  glia::Conv2dWorkspace<float> ws;
  glia::conv2d_forward(y.data(), x.data(), w.data(), b.data(), g, a, ws);  // sizes the workspace
  benchmark::DoNotOptimize(y.data());
  const Stopwatch sw;
  for (auto _ : s) {
    glia::conv2d_forward(y.data(), x.data(), w.data(), b.data(), g, a, ws);
    benchmark::ClobberMemory();
  }
  report_flops(s, 2.0 * conv_macs(g), threads, sw);
  s.SetItemsProcessed(s.iterations() * batch);
}

// Args: batch, threads. with_dx = false passes dx = nullptr: the weight (and bias) gradient only.
void BM_conv_bwd(benchmark::State& s, ConvShape c, bool with_dx) {
  const Index batch = s.range(0);
  const int threads = setup_threads(s, 1);
  const glia::Conv2dGeometry g = geometry(c, batch);
  const glia::ConvAlgorithms a = conv_algorithms(g, c);
  s.SetLabel(std::string("input_grad=") + (with_dx ? glia::conv_algorithm_name(a.input_grad) : "none") +
             " weight_grad=" + glia::conv_algorithm_name(a.weight_grad));
  Tensor<float> x = random_tensor(Shape{batch, c.cin, c.hw, c.hw}, 1);
  Tensor<float> w = random_tensor(Shape{c.cout, c.cin, c.k, c.k}, 2, -0.1, 0.1);
  Tensor<float> dy = random_tensor(Shape{batch, c.cout, g.patch.out_h(), g.patch.out_w()}, 4, -1e-3, 1e-3);
  Tensor<float> dx(x.shape()), dw(w.shape()), db(Shape{c.cout});
  glia::Conv2dWorkspace<float> ws;
  float* dxp = with_dx ? dx.data() : nullptr;
  glia::conv2d_backward(dxp, dw.data(), db.data(), dy.data(), x.data(), w.data(), g, a, ws);
  benchmark::DoNotOptimize(dx.data());
  benchmark::DoNotOptimize(dw.data());
  benchmark::DoNotOptimize(db.data());
  const Stopwatch sw;
  for (auto _ : s) {
    glia::conv2d_backward(dxp, dw.data(), db.data(), dy.data(), x.data(), w.data(), g, a, ws);
    benchmark::ClobberMemory();
  }
  report_flops(s, (with_dx ? 4.0 : 2.0) * conv_macs(g), threads, sw);
  s.SetItemsProcessed(s.iterations() * batch);
}

// im2col of every sample of the batch into a per-thread scratch, as conv2d_forward does.
// Args: batch, threads. Traffic: image read + columns written.
void BM_im2col(benchmark::State& s, ConvShape c) {
  const Index batch = s.range(0);
  const int threads = setup_threads(s, 1);
  const glia::Conv2dGeometry g = geometry(c, batch);
  const Index kp = g.k() * g.p(), in = g.in_size();
  Tensor<float> x = random_tensor(Shape{batch, c.cin, c.hw, c.hw}, 1);
  Tensor<float> col(Shape{glia::num_threads(), kp});
  benchmark::DoNotOptimize(col.data());
  const Stopwatch sw;
  for (auto _ : s) {
    glia::parallel_for(batch, [&](Index n) {
      glia::im2col(col.data() + glia::thread_index() * kp, x.data() + n * in, g.patch);
    });
    benchmark::ClobberMemory();
  }
  report_bytes(s, kF * static_cast<double>(batch) * static_cast<double>(in + kp), threads, sw,
               kF * static_cast<double>(batch * in + glia::num_threads() * kp));
  s.SetItemsProcessed(s.iterations() * batch);
}

// Zeroing dx_n and col2im of a per-thread column buffer into it, as conv2d_backward does.
// Args: batch, threads. Traffic: columns read + image written.
void BM_col2im(benchmark::State& s, ConvShape c) {
  const Index batch = s.range(0);
  const int threads = setup_threads(s, 1);
  const glia::Conv2dGeometry g = geometry(c, batch);
  const Index kp = g.k() * g.p(), in = g.in_size();
  Tensor<float> dcol = random_tensor(Shape{glia::num_threads(), kp}, 5);
  Tensor<float> dx(Shape{batch, c.cin, c.hw, c.hw});
  benchmark::DoNotOptimize(dx.data());
  const Stopwatch sw;
  for (auto _ : s) {
    glia::parallel_for(batch, [&](Index n) {
      float* dxn = dx.data() + n * in;
      std::fill(dxn, dxn + in, 0.f);
      glia::col2im(dxn, dcol.data() + glia::thread_index() * kp, g.patch);
    });
    benchmark::ClobberMemory();
  }
  report_bytes(s, kF * static_cast<double>(batch) * static_cast<double>(in + kp), threads, sw,
               kF * static_cast<double>(batch * in + glia::num_threads() * kp));
  s.SetItemsProcessed(s.iterations() * batch);
}

// ---------------------------------------------------------------------------------------------
// Pooling.
// ---------------------------------------------------------------------------------------------

struct Act {  // an activation [batch, C, H, W] at batch 32
  const char* name;
  Index c, h, w;
  Index numel(Index batch) const { return batch * c * h * w; }
};
constexpr Index kBatch = 32;

// Args: threads. The reference net's max-pools: P1 on [32,8,32,32], P2 on [32,16,16,16], 2x2 s2.
void BM_maxpool_fwd(benchmark::State& s, Act a) {
  const int threads = setup_threads(s, 0);
  const glia::PoolGeometry g{kBatch * a.c, a.h, a.w, 2, 2};
  const Index out = g.planes * g.out_h() * g.out_w();
  Tensor<float> x = random_tensor(Shape{kBatch, a.c, a.h, a.w}, 1);
  Tensor<float> y(Shape{out});
  std::vector<std::int32_t> argmax(static_cast<std::size_t>(out));
  benchmark::DoNotOptimize(y.data());
  benchmark::DoNotOptimize(argmax.data());
  const Stopwatch sw;
  for (auto _ : s) {
    glia::maxpool2d_forward(y.data(), argmax.data(), x.data(), g);
    benchmark::ClobberMemory();
  }
  report_bytes(s, kF * static_cast<double>(a.numel(kBatch)) + 8.0 * static_cast<double>(out), threads, sw);
  s.SetItemsProcessed(s.iterations() * kBatch);
}

void BM_maxpool_bwd(benchmark::State& s, Act a) {
  const int threads = setup_threads(s, 0);
  const glia::PoolGeometry g{kBatch * a.c, a.h, a.w, 2, 2};
  const Index out = g.planes * g.out_h() * g.out_w();
  Tensor<float> x = random_tensor(Shape{kBatch, a.c, a.h, a.w}, 1);
  Tensor<float> y(Shape{out}), dy = random_tensor(Shape{out}, 2), dx(x.shape());
  std::vector<std::int32_t> argmax(static_cast<std::size_t>(out));
  glia::maxpool2d_forward(y.data(), argmax.data(), x.data(), g);
  benchmark::DoNotOptimize(dx.data());
  const Stopwatch sw;
  for (auto _ : s) {
    glia::maxpool2d_backward(dx.data(), dy.data(), argmax.data(), g);
    benchmark::ClobberMemory();
  }
  report_bytes(s, 8.0 * static_cast<double>(out) + kF * static_cast<double>(a.numel(kBatch)), threads, sw);
  s.SetItemsProcessed(s.iterations() * kBatch);
}

// Args: threads. Global average pooling of [32,32,8,8] (GAP before the head).
void BM_global_avgpool_fwd(benchmark::State& s, Act a) {
  const int threads = setup_threads(s, 0);
  const Index planes = kBatch * a.c, hw = a.h * a.w;
  Tensor<float> x = random_tensor(Shape{kBatch, a.c, a.h, a.w}, 1), y(Shape{planes});
  benchmark::DoNotOptimize(y.data());
  const Stopwatch sw;
  for (auto _ : s) {
    glia::global_avgpool_forward(y.data(), x.data(), planes, hw);
    benchmark::ClobberMemory();
  }
  report_bytes(s, kF * static_cast<double>(planes * hw + planes), threads, sw);
  s.SetItemsProcessed(s.iterations() * kBatch);
}

void BM_global_avgpool_bwd(benchmark::State& s, Act a) {
  const int threads = setup_threads(s, 0);
  const Index planes = kBatch * a.c, hw = a.h * a.w;
  Tensor<float> dy = random_tensor(Shape{planes}, 1), dx(Shape{kBatch, a.c, a.h, a.w});
  benchmark::DoNotOptimize(dx.data());
  const Stopwatch sw;
  for (auto _ : s) {
    glia::global_avgpool_backward(dx.data(), dy.data(), planes, hw);
    benchmark::ClobberMemory();
  }
  report_bytes(s, kF * static_cast<double>(planes * hw + planes), threads, sw);
  s.SetItemsProcessed(s.iterations() * kBatch);
}

// ---------------------------------------------------------------------------------------------
// Normalisation: BatchNorm (train-mode statistics), GroupNorm(2), LayerNorm (= GroupNorm(1)),
// each alone and with the fused ReLU ("_relu": the uint8 mask written forward, read backward).
// Traffic: forward x read + y written; backward dy, x read + dx written; plus the mask.
// ---------------------------------------------------------------------------------------------

enum class Norm { BN, GN, LN };

struct NormBuffers {
  Index n, c, hw;
  Tensor<float> x, y, dy, dx, gamma, beta, dgamma, dbeta;
  std::vector<double> mean, var, rstd, sample_a, sample_b, mean_dyxhat, mean_dy;  // sample_a/b: [N, C] partials
  Tensor<float> scale, shift;  // BatchNorm's affine coefficients
  std::vector<std::uint8_t> mask_storage;
  std::uint8_t* mask = nullptr;  // the fused ReLU's, or null
  NormBuffers(Act a, Index groups, bool relu)
      : n(kBatch), c(a.c), hw(a.h * a.w), x(random_tensor(Shape{kBatch, a.c, a.h, a.w}, 1)), y(x.shape()),
        dy(random_tensor(x.shape(), 2, -1e-3, 1e-3)), dx(x.shape()), gamma(random_tensor(Shape{a.c}, 3, 0.5, 1.5)),
        beta(random_tensor(Shape{a.c}, 4)), dgamma(Shape{a.c}), dbeta(Shape{a.c}),
        mean(static_cast<std::size_t>(std::max(a.c, kBatch * groups))),
        var(mean.size()), rstd(mean.size()), sample_a(static_cast<std::size_t>(kBatch * a.c)), sample_b(sample_a.size()),
        mean_dyxhat(static_cast<std::size_t>(a.c)), mean_dy(mean_dyxhat.size()),
        scale(Shape{a.c}), shift(Shape{a.c}) {
    if (relu) {
      mask_storage.resize(static_cast<std::size_t>(x.size()));
      mask = mask_storage.data();
    }
  }
};

constexpr double kEps = 1e-5;

// BatchNorm2d's training forward as the layer runs it (nn/normalization.hpp): each sample's
// moments, the batch statistics and the affine coefficients, then each sample normalised.
void batchnorm_forward(NormBuffers& b) {
  glia::parallel_for(b.n, [&](Index i) { glia::batchnorm_sample_moments(i, b.sample_a.data(), b.sample_b.data(), b.x.data(), b.c, b.hw); });
  glia::batchnorm_combine_moments(b.mean.data(), b.var.data(), b.sample_a.data(), b.sample_b.data(), b.n, b.c, b.hw);
  for (Index ch = 0; ch < b.c; ++ch) {
    const auto i = static_cast<std::size_t>(ch);
    b.rstd[i] = 1.0 / std::sqrt(b.var[i] + kEps);
    glia::detail::affine_coefficients(b.scale[ch], b.shift[ch], b.gamma[ch], b.beta[ch], b.mean[i], b.rstd[i]);
  }
  glia::parallel_for(b.n, [&](Index i) {
    glia::batchnorm_apply_sample(i, b.y.data(), b.mask != nullptr, b.mask, b.x.data(), b.scale.data(), b.shift.data(), b.c, b.hw);
  });
}

Index groups_of(Norm k) { return k == Norm::GN ? 2 : 1; }

void norm_forward(NormBuffers& b, Norm k) {
  if (k == Norm::BN) {
    batchnorm_forward(b);
    return;
  }
  glia::parallel_for(b.n, [&](Index i) {
    glia::groupnorm_forward_sample(i, b.y.data(), b.mask != nullptr, b.mask, b.mean.data(), b.rstd.data(), b.x.data(),
                                   b.gamma.data(), b.beta.data(), b.c, b.hw, groups_of(k), kEps);
  });
}

// The training-mode backward as the layer runs it, sample by sample.
void norm_backward(NormBuffers& b, Norm k) {
  if (k == Norm::BN) {
    glia::parallel_for(b.n, [&](Index i) {
      glia::batchnorm_backward_sums_sample(i, b.sample_a.data(), b.sample_b.data(), b.dy.data(), b.mask, b.x.data(), b.mean.data(),
                                           b.rstd.data(), b.c, b.hw);
    });
    glia::batchnorm_backward_means(b.mean_dyxhat.data(), b.mean_dy.data(), b.sample_a.data(), b.sample_b.data(), b.n, b.c,
                                   b.hw);
    glia::add_sample_partials(b.dgamma.data(), b.dbeta.data(), b.sample_a.data(), b.sample_b.data(), b.c,
                              glia::batch_chunks(nullptr, b.n));
    glia::parallel_for(b.n, [&](Index i) {
      glia::batchnorm_backward_sample(i, b.dx.data(), b.dy.data(), b.mask, b.x.data(), b.mean.data(), b.rstd.data(), b.gamma.data(),
                                      b.mean_dyxhat.data(), b.mean_dy.data(), b.c, b.hw);
    });
    return;
  }
  glia::parallel_for(b.n, [&](Index i) {
    glia::groupnorm_backward_sample(i, b.dx.data(), b.sample_a.data(), b.sample_b.data(), b.dy.data(), b.mask, b.x.data(),
                                    b.mean.data(), b.rstd.data(), b.gamma.data(), b.c, b.hw, groups_of(k));
  });
  glia::add_sample_partials(b.dgamma.data(), b.dbeta.data(), b.sample_a.data(), b.sample_b.data(), b.c,
                            glia::batch_chunks(nullptr, b.n));
}

// Args: threads.
void BM_norm_fwd(benchmark::State& s, Norm k, Act a, bool relu) {
  const int threads = setup_threads(s, 0);
  NormBuffers b(a, groups_of(k), relu);
  norm_forward(b, k);
  benchmark::DoNotOptimize(b.y.data());
  const Stopwatch sw;
  for (auto _ : s) {
    norm_forward(b, k);
    benchmark::ClobberMemory();
  }
  report_bytes(s, (2.0 * kF + (relu ? 1 : 0)) * static_cast<double>(a.numel(kBatch)), threads, sw);
  s.SetItemsProcessed(s.iterations() * kBatch);
}

void BM_norm_bwd(benchmark::State& s, Norm k, Act a, bool relu) {
  const int threads = setup_threads(s, 0);
  NormBuffers b(a, groups_of(k), relu);
  norm_forward(b, k);  // mean and rstd for backward
  benchmark::DoNotOptimize(b.dx.data());
  benchmark::DoNotOptimize(b.dgamma.data());
  const Stopwatch sw;
  for (auto _ : s) {
    norm_backward(b, k);
    benchmark::ClobberMemory();
  }
  report_bytes(s, (3.0 * kF + (relu ? 1 : 0)) * static_cast<double>(a.numel(kBatch)), threads, sw);
  s.SetItemsProcessed(s.iterations() * kBatch);
}

// ---------------------------------------------------------------------------------------------
// Element-wise: ReLU, dropout, residual add.
// ---------------------------------------------------------------------------------------------

void BM_relu_fwd(benchmark::State& s, Act a) {
  const int threads = setup_threads(s, 0);
  const Index n = a.numel(kBatch);
  Tensor<float> x = random_tensor(Shape{n}, 1), y(Shape{n});
  benchmark::DoNotOptimize(y.data());
  const Stopwatch sw;
  for (auto _ : s) {
    glia::relu_forward(y.data(), x.data(), n);
    benchmark::ClobberMemory();
  }
  report_bytes(s, 2.0 * kF * static_cast<double>(n), threads, sw);
  s.SetItemsProcessed(s.iterations() * kBatch);
}

void BM_relu_bwd(benchmark::State& s, Act a) {
  const int threads = setup_threads(s, 0);
  const Index n = a.numel(kBatch);
  Tensor<float> x = random_tensor(Shape{n}, 1), dy = random_tensor(Shape{n}, 2), dx(Shape{n});
  benchmark::DoNotOptimize(dx.data());
  const Stopwatch sw;
  for (auto _ : s) {
    glia::relu_backward(dx.data(), dy.data(), x.data(), n);
    benchmark::ClobberMemory();
  }
  report_bytes(s, 3.0 * kF * static_cast<double>(n), threads, sw);
  s.SetItemsProcessed(s.iterations() * kBatch);
}

// The dropout kernel (forward and backward are both dropout_apply): x and the uint8 mask read,
// y written.
void BM_dropout_apply(benchmark::State& s, Act a) {
  const int threads = setup_threads(s, 0);
  const Index n = a.numel(kBatch);
  Tensor<float> x = random_tensor(Shape{n}, 1), y(Shape{n});
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(n));
  glia::Rng rng(7);
  for (auto& m : mask) m = rng.uniform() < 0.99;
  benchmark::DoNotOptimize(y.data());
  const Stopwatch sw;
  for (auto _ : s) {
    glia::dropout_apply(y.data(), x.data(), mask.data(), 1.0f / 0.99f, n);
    benchmark::ClobberMemory();
  }
  report_bytes(s, (2.0 * kF + 1.0) * static_cast<double>(n), threads, sw);
  s.SetItemsProcessed(s.iterations() * kBatch);
}

// The Dropout(0.01) layer's training forward: mask drawn from per-sample Rng streams, then
// applied. Traffic: x read, mask written and read, y written.
void BM_dropout_layer_fwd(benchmark::State& s, Act a) {
  const int threads = setup_threads(s, 0);
  const Index n = a.numel(kBatch);
  Tensor<float> x = random_tensor(Shape{kBatch, a.c, a.h, a.w}, 1);
  glia::Dropout<float> drop(0.01, 42);
  benchmark::DoNotOptimize(&drop.forward(x, glia::Mode::Train));
  const Stopwatch sw;
  for (auto _ : s) {
    benchmark::DoNotOptimize(&drop.forward(x, glia::Mode::Train));
    benchmark::ClobberMemory();
  }
  report_bytes(s, (2.0 * kF + 2.0) * static_cast<double>(n), threads, sw);
  s.SetItemsProcessed(s.iterations() * kBatch);
}

// The residual connections' y = a + b (and dx = dbody + dshortcut in backward).
void BM_residual_add(benchmark::State& s, Act a) {
  const int threads = setup_threads(s, 0);
  const Index n = a.numel(kBatch);
  Tensor<float> x = random_tensor(Shape{n}, 1), z = random_tensor(Shape{n}, 2), y(Shape{n});
  benchmark::DoNotOptimize(y.data());
  const Stopwatch sw;
  for (auto _ : s) {
    glia::add(y.data(), x.data(), z.data(), n);
    benchmark::ClobberMemory();
  }
  report_bytes(s, 3.0 * kF * static_cast<double>(n), threads, sw);
  s.SetItemsProcessed(s.iterations() * kBatch);
}

// ---------------------------------------------------------------------------------------------
// Loss and optimiser.
// ---------------------------------------------------------------------------------------------

// Cross-entropy on [32, 10] logits: log-softmax, loss and its gradient in one call. Traffic:
// logits and targets read, log-probabilities and gradient written.
void BM_cross_entropy(benchmark::State& s) {
  const int threads = setup_threads(s, 0);
  constexpr Index kClasses = 10;
  Tensor<float> x = random_tensor(Shape{kBatch, kClasses}, 1, -3, 3), logp(x.shape()), dx(x.shape());
  std::vector<std::int32_t> t(static_cast<std::size_t>(kBatch));
  for (Index i = 0; i < kBatch; ++i) t[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 7) % kClasses);
  benchmark::DoNotOptimize(dx.data());
  const Stopwatch sw;
  for (auto _ : s) {
    benchmark::DoNotOptimize(glia::cross_entropy_loss(dx.data(), logp.data(), x.data(), t.data(), kBatch, kClasses, 0.0));
    benchmark::ClobberMemory();
  }
  report_bytes(s, kF * static_cast<double>(3 * kBatch * kClasses + kBatch), threads, sw);
  s.SetItemsProcessed(s.iterations() * kBatch);
}

// SGD with momentum 0.95 (the reference recipe) over the reference net's 48,178 flat parameters.
// Traffic: values, grads, decay mask and momentum buffer read; values and buffer written.
void BM_sgd_step(benchmark::State& s) {
  const int threads = setup_threads(s, 0);
  auto net = glia::make_reference_net<float>();
  glia::Rng rng(1);
  net->reset_parameters(rng);
  glia::FlatParameters<float> flat(*net);
  flat.grads().uniform_(rng, -1e-3, 1e-3);
  glia::OptimizerOptions o;
  o.momentum = 0.95;
  glia::Sgd<float> sgd(o);
  sgd.step(flat, 1e-3);  // sizes the momentum buffer
  benchmark::DoNotOptimize(flat.values().data());
  const Stopwatch sw;
  for (auto _ : s) {
    sgd.step(flat, 1e-3);
    benchmark::ClobberMemory();
  }
  const double n = static_cast<double>(flat.size());
  report_bytes(s, 6.0 * kF * n, threads, sw);
  s.counters["params"] = n;
}

// ---------------------------------------------------------------------------------------------
// Registration, in run order: the peaks first.
// ---------------------------------------------------------------------------------------------

const int kThreads[] = {1, 2};

template <typename F>
benchmark::internal::Benchmark* reg(const std::string& name, F&& f, const std::vector<std::vector<std::int64_t>>& args,
                                    const std::vector<std::string>& names) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), std::forward<F>(f));
  return b->ArgNames(names)->ArgsProduct(args)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

void register_all() {
  // The peaks run for at least 0.2 s each whatever --benchmark_min_time says: every peak_frac
  // of the run depends on them.
  // Peaks per core, for the kernels' thread counts (1 and 2), and for all cores.
  std::vector<std::int64_t> peak_threads{1, 2};
  const auto cores = static_cast<std::int64_t>(std::thread::hardware_concurrency());
  if (cores > 2) peak_threads.push_back(cores);
  reg("BM_peak_fma", BM_peak_fma, {peak_threads}, {"threads"})->MinTime(0.2);
  reg("BM_peak_bandwidth", BM_peak_bandwidth,
      {peak_threads, std::vector<std::int64_t>(std::begin(kTriadKiB), std::end(kTriadKiB))}, {"threads", "KiB"})
      ->MinTime(0.2);

  const std::vector<std::int64_t> threads(std::begin(kThreads), std::end(kThreads));
  for (const ConvShape& c : kConvShapes) {
    const std::string n = c.name;
    reg("BM_conv_fwd/" + n, [c](benchmark::State& s) { BM_conv_fwd(s, c); }, {{1, 32, 128}, threads},
        {"batch", "threads"});
  }
  for (const ConvShape& c : kConvShapes) {
    const std::string n = c.name;
    reg("BM_conv_bwd/" + n, [c](benchmark::State& s) { BM_conv_bwd(s, c, true); }, {{32}, threads},
        {"batch", "threads"});
    reg("BM_conv_bwd_weight/" + n, [c](benchmark::State& s) { BM_conv_bwd(s, c, false); }, {{32}, threads},
        {"batch", "threads"});
  }
  for (const ConvShape& c : kConvShapes) {
    if (c.k == 1) continue;  // a 1x1 stride-1 convolution needs no im2col
    const std::string n = c.name;
    reg("BM_im2col/" + n, [c](benchmark::State& s) { BM_im2col(s, c); }, {{32}, threads}, {"batch", "threads"});
    reg("BM_col2im/" + n, [c](benchmark::State& s) { BM_col2im(s, c); }, {{32}, threads}, {"batch", "threads"});
  }

  const Act pools[] = {{"P1_8x32x32", 8, 32, 32}, {"P2_16x16x16", 16, 16, 16}};
  for (const Act& a : pools) {
    const std::string n = a.name;
    reg("BM_maxpool_fwd/" + n, [a](benchmark::State& s) { BM_maxpool_fwd(s, a); }, {threads}, {"threads"});
    reg("BM_maxpool_bwd/" + n, [a](benchmark::State& s) { BM_maxpool_bwd(s, a); }, {threads}, {"threads"});
  }
  const Act gap{"GAP_32x8x8", 32, 8, 8};
  reg(std::string("BM_global_avgpool_fwd/") + gap.name, [gap](benchmark::State& s) { BM_global_avgpool_fwd(s, gap); },
      {threads}, {"threads"});
  reg(std::string("BM_global_avgpool_bwd/") + gap.name, [gap](benchmark::State& s) { BM_global_avgpool_bwd(s, gap); },
      {threads}, {"threads"});

  // The normalised (and ReLU'd) activations: after C1/C2, C3..C5, C7..C9.
  const Act norms[] = {{"16x32x32", 16, 32, 32}, {"32x16x16", 32, 16, 16}, {"32x8x8", 32, 8, 8}};
  const std::pair<Norm, const char*> kinds[] = {{Norm::BN, "batchnorm"}, {Norm::GN, "groupnorm2"}, {Norm::LN, "layernorm"}};
  for (const auto& k : kinds)
    for (const bool relu : {false, true})
      for (const Act& a : norms) {
        const Norm kind = k.first;
        const std::string name = "BM_" + std::string(k.second) + (relu ? "_relu" : "");
        reg(name + "_fwd/" + a.name, [kind, a, relu](benchmark::State& s) { BM_norm_fwd(s, kind, a, relu); }, {threads},
            {"threads"});
        reg(name + "_bwd/" + a.name, [kind, a, relu](benchmark::State& s) { BM_norm_bwd(s, kind, a, relu); }, {threads},
            {"threads"});
      }
  for (const Act& a : norms) {
    const std::string n = a.name;
    reg("BM_relu_fwd/" + n, [a](benchmark::State& s) { BM_relu_fwd(s, a); }, {threads}, {"threads"});
    reg("BM_relu_bwd/" + n, [a](benchmark::State& s) { BM_relu_bwd(s, a); }, {threads}, {"threads"});
  }
  const Act drops[] = {{"D1_8x16x16", 8, 16, 16}, {"D2_16x8x8", 16, 8, 8}};
  for (const Act& a : drops) {
    const std::string n = a.name;
    reg("BM_dropout_apply/" + n, [a](benchmark::State& s) { BM_dropout_apply(s, a); }, {threads}, {"threads"});
    reg("BM_dropout_layer_fwd/" + n, [a](benchmark::State& s) { BM_dropout_layer_fwd(s, a); }, {threads}, {"threads"});
  }
  const Act residuals[] = {{"R1_32x16x16", 32, 16, 16}, {"R2_32x8x8", 32, 8, 8}};
  for (const Act& a : residuals) {
    const std::string n = a.name;
    reg("BM_residual_add/" + n, [a](benchmark::State& s) { BM_residual_add(s, a); }, {threads}, {"threads"});
  }
  reg("BM_cross_entropy/32x10", BM_cross_entropy, {threads}, {"threads"});
  reg("BM_sgd_step/48178", BM_sgd_step, {threads}, {"threads"});
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("glia_fma_isa", kIsa);
#ifdef _OPENMP
  benchmark::AddCustomContext("glia_openmp", "yes");
#else
  benchmark::AddCustomContext("glia_openmp", "no");
#endif
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // The peaks this run's peak_frac counters used.
  for (const auto& p : g_peak_flops)
    std::fprintf(stderr, "peak FP32 FMA, %d thread(s): %.1f GFLOP/s (%s)\n", p.first, p.second * 1e-9, kIsa);
  for (const auto& p : g_peak_bytes)
    std::fprintf(stderr, "peak triad bandwidth, %d thread(s), working set %lld KiB: %.1f GB/s\n", p.first.first,
                 static_cast<long long>(p.first.second), p.second * 1e-9);
  return 0;
}
