// tests/alloc/test_alloc.cpp: once warmed up, a training step of the reference network (also as
// one of 2 ranks of data-parallel training) and an inference forward allocate nothing.
//
// This is its own executable (glia_alloc_tests) because it replaces the global operator new and
// delete -- every standard overload: plain, array, aligned, nothrow, sized -- with counting
// versions, which must not affect the other tests. Counting is off except while the steps under
// test run (alloc_count::enabled). The model (bn, gn, ln; 1 and 2 threads) is built with
// FlatParameters, SGD (momentum 0.95) and CrossEntropyLoss, runs 2 warm-up steps (zero_grad,
// forward, loss, backward, step) on a fixed batch, then 3 more steps are counted: operator new
// and delete must be called 0 times. If not, the step is re-run module by module (Sequential
// children one at a time, Residual bodies separately) and the allocations per module, loss and
// optimiser are printed with the failure.
//
// With glibc (and no sanitizer) the C allocator is counted too (malloc, calloc, realloc,
// posix_memalign, aligned_alloc, memalign are interposed and forwarded to glibc's __libc_*),
// which sees allocations operator new does not: Eigen's GEMM packing buffers and the OpenMP
// runtime. That count is reported per module by the "[malloc]" test, which is informational
// ([!mayfail]): those allocations come from Eigen and libgomp, not from glia's own buffers.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include <glia/models/reference_net.hpp>
#include <glia/nn/flat_parameters.hpp>
#include <glia/nn/loss.hpp>
#include <glia/optim/optimizer.hpp>

#include <thread>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(__SANITIZE_MEMORY__)
#define GLIA_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define GLIA_SANITIZED 1
#endif
#endif
// The C allocator can be interposed safely only with glibc (which exports __libc_malloc & co.)
// and without a sanitizer (which interposes it itself).
#if defined(__GLIBC__) && !defined(GLIA_SANITIZED)
#define GLIA_COUNT_MALLOC 1
#else
#define GLIA_COUNT_MALLOC 0
#endif

// ---------------------------------------------------------------------------------------------
// Counting allocation functions.
// ---------------------------------------------------------------------------------------------

namespace alloc_count {

std::atomic<bool> enabled{false};

struct Counts {
  long news = 0, deletes = 0, mallocs = 0;  // operator new; operator delete; C allocations
  long long new_bytes = 0, malloc_bytes = 0;
  Counts operator-(const Counts& o) const {
    return {news - o.news, deletes - o.deletes, mallocs - o.mallocs, new_bytes - o.new_bytes,
            malloc_bytes - o.malloc_bytes};
  }
  Counts& operator+=(const Counts& o) {
    news += o.news;
    deletes += o.deletes;
    mallocs += o.mallocs;
    new_bytes += o.new_bytes;
    malloc_bytes += o.malloc_bytes;
    return *this;
  }
};

std::atomic<long> news{0}, deletes{0}, mallocs{0};
std::atomic<long long> new_bytes{0}, malloc_bytes{0};

Counts snapshot() {
  return {news.load(), deletes.load(), mallocs.load(), new_bytes.load(), malloc_bytes.load()};
}

inline bool on() { return enabled.load(std::memory_order_relaxed); }

inline void count_new(std::size_t n) {
  if (!on()) return;
  news.fetch_add(1, std::memory_order_relaxed);
  new_bytes.fetch_add(static_cast<long long>(n), std::memory_order_relaxed);
}
inline void count_delete(void* p) {
  if (p && on()) deletes.fetch_add(1, std::memory_order_relaxed);
}

#if GLIA_COUNT_MALLOC
// Set while operator new calls the C allocator, so that one allocation counts once.
thread_local bool in_operator_new = false;
inline void count_malloc(std::size_t n) {
  if (!on() || in_operator_new) return;
  mallocs.fetch_add(1, std::memory_order_relaxed);
  malloc_bytes.fetch_add(static_cast<long long>(n), std::memory_order_relaxed);
}
struct InOperatorNew {
  InOperatorNew() { in_operator_new = true; }
  ~InOperatorNew() { in_operator_new = false; }
};
#else
struct InOperatorNew {};
#endif

void* raw_alloc(std::size_t n, std::size_t align) {
  [[maybe_unused]] const InOperatorNew guard;
  if (n == 0) n = 1;
  if (align <= alignof(std::max_align_t)) return std::malloc(n);
  void* p = nullptr;
  return posix_memalign(&p, align, n) == 0 ? p : nullptr;
}

// operator new's contract: retry through the new-handler, then throw std::bad_alloc.
void* throwing_alloc(std::size_t n, std::size_t align) {
  count_new(n);
  for (;;) {
    if (void* p = raw_alloc(n, align)) return p;
    std::new_handler h = std::get_new_handler();
    if (!h) throw std::bad_alloc();
    h();
  }
}

void* nothrow_alloc(std::size_t n, std::size_t align) noexcept {
  try {
    return throwing_alloc(n, align);
  } catch (...) {
    return nullptr;
  }
}

void release(void* p) noexcept {
  count_delete(p);
  std::free(p);
}

}  // namespace alloc_count

namespace ac = alloc_count;
constexpr std::size_t kDefaultAlign = alignof(std::max_align_t);

void* operator new(std::size_t n) { return ac::throwing_alloc(n, kDefaultAlign); }
void* operator new[](std::size_t n) { return ac::throwing_alloc(n, kDefaultAlign); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return ac::nothrow_alloc(n, kDefaultAlign); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return ac::nothrow_alloc(n, kDefaultAlign); }
void* operator new(std::size_t n, std::align_val_t a) { return ac::throwing_alloc(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return ac::throwing_alloc(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return ac::nothrow_alloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return ac::nothrow_alloc(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { ac::release(p); }
void operator delete[](void* p) noexcept { ac::release(p); }
void operator delete(void* p, std::size_t) noexcept { ac::release(p); }
void operator delete[](void* p, std::size_t) noexcept { ac::release(p); }
void operator delete(void* p, std::align_val_t) noexcept { ac::release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { ac::release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { ac::release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { ac::release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { ac::release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { ac::release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { ac::release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { ac::release(p); }

#if GLIA_COUNT_MALLOC
// glibc's allocator under its internal names; glibc supports replacing malloc this way.
extern "C" {
void* __libc_malloc(std::size_t) noexcept;
void* __libc_calloc(std::size_t, std::size_t) noexcept;
void* __libc_realloc(void*, std::size_t) noexcept;
void* __libc_memalign(std::size_t, std::size_t) noexcept;
void __libc_free(void*) noexcept;

void* malloc(std::size_t n) noexcept {
  ac::count_malloc(n);
  return __libc_malloc(n);
}
void* calloc(std::size_t k, std::size_t n) noexcept {
  ac::count_malloc(k * n);
  return __libc_calloc(k, n);
}
void* realloc(void* p, std::size_t n) noexcept {
  ac::count_malloc(n);
  return __libc_realloc(p, n);
}
void free(void* p) noexcept { __libc_free(p); }
int posix_memalign(void** out, std::size_t align, std::size_t n) noexcept {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return 22;  // EINVAL
  ac::count_malloc(n);
  void* p = __libc_memalign(align, n);
  if (!p) return 12;  // ENOMEM
  *out = p;
  return 0;
}
void* aligned_alloc(std::size_t align, std::size_t n) noexcept {
  ac::count_malloc(n);
  return __libc_memalign(align, n);
}
void* memalign(std::size_t align, std::size_t n) noexcept {
  ac::count_malloc(n);
  return __libc_memalign(align, n);
}
}
#endif

// ---------------------------------------------------------------------------------------------
// The training step, whole and module by module.
// ---------------------------------------------------------------------------------------------

using namespace glia;

namespace {

struct Rig {
  std::unique_ptr<Sequential<float>> net;
  std::unique_ptr<FlatParameters<float>> flat;
  Sgd<float> sgd;
  CrossEntropyLoss<float> loss;
  Tensor<float> x;
  std::vector<std::int32_t> y;

  static OptimizerOptions sgd_options() {
    OptimizerOptions o;
    o.momentum = 0.95;
    return o;
  }
  Rig(NormKind norm, Index batch) : sgd(sgd_options()) {
    ReferenceNetConfig cfg;
    cfg.norm = norm;
    net = make_reference_net<float>(cfg);
    Rng rng(7);
    net->reset_parameters(rng);
    flat = std::make_unique<FlatParameters<float>>(*net);
    x = Tensor<float>(Shape{batch, 3, 32, 32});
    x.normal_(rng, 0, 1);
    for (Index i = 0; i < batch; ++i) y.push_back(static_cast<std::int32_t>(i % 10));
  }
  // One step; after_backward() runs between backward and the optimiser (data-parallel training
  // adds the ranks' gradients there).
  template <typename F>
  void step(F&& after_backward) {
    flat->zero_grad();
    const Tensor<float>& out = net->forward(x, Mode::Train);
    loss.forward(out, y);
    net->backward(loss.backward());
    after_backward();
    sgd.step(*flat, 0.01);
  }
  void step() {
    step([] {});
  }
};

// Counts over f() (counting switched on only around it).
template <typename F>
ac::Counts count(F&& f) {
  const ac::Counts before = ac::snapshot();
  ac::enabled = true;
  f();
  ac::enabled = false;
  return ac::snapshot() - before;
}

// Allocations per module and phase, in the order they happened.
struct Profile {
  std::vector<std::pair<std::string, ac::Counts>> rows;
  void add(const std::string& what, const ac::Counts& c) {
    for (auto& r : rows)
      if (r.first == what) {
        r.second += c;
        return;
      }
    rows.emplace_back(what, c);
  }
  std::string table(bool with_malloc) const {
    std::ostringstream os;
    os << "allocations per module and phase (operator new / delete" << (with_malloc ? " / C allocator calls" : "")
       << "), non-zero rows only:\n";
    bool any = false;
    for (const auto& r : rows) {
      const ac::Counts& c = r.second;
      if (!c.news && !c.deletes && !(with_malloc && c.mallocs)) continue;
      any = true;
      os << "  " << r.first << ": new " << c.news << " (" << c.new_bytes << " B), delete " << c.deletes;
      if (with_malloc) os << ", C alloc " << c.mallocs << " (" << c.malloc_bytes << " B)";
      os << "\n";
    }
    if (!any) os << "  (none)\n";
    return os.str();
  }
};

// Sequential::forward, one child at a time; a Residual's body is counted on its own first and
// the residual's own part is the whole residual minus its body (the body runs twice: harmless
// for counting). Every other module is counted as a whole. Returns the subtree's total.
ac::Counts forward_by_module(Module<float>& m, const Tensor<float>& x, const std::string& path, Profile& p,
                             const Tensor<float>*& out) {
  if (auto* s = dynamic_cast<Sequential<float>*>(&m)) {
    ac::Counts total;
    const Tensor<float>* cur = &x;
    auto kids = s->children();
    for (auto& k : kids) total += forward_by_module(*k.second, *cur, join_name(path, k.first), p, cur);
    out = cur;
    return total;
  }
  if (auto* r = dynamic_cast<Residual<float>*>(&m)) {
    const Tensor<float>* body_out = nullptr;
    const ac::Counts body = forward_by_module(r->body(), x, join_name(path, "body"), p, body_out);
    const ac::Counts whole = count([&] { out = &r->forward(x, Mode::Train); });
    p.add(path + " (own) forward", whole - body);
    ac::Counts total = body;
    total += whole - body;
    return total;
  }
  const ac::Counts c = count([&] { out = &m.forward(x, Mode::Train); });
  p.add(path + " forward", c);
  return c;
}

ac::Counts backward_by_module(Module<float>& m, const Tensor<float>& dy, const std::string& path, Profile& p,
                              const Tensor<float>*& dx) {
  if (auto* s = dynamic_cast<Sequential<float>*>(&m)) {
    ac::Counts total;
    const Tensor<float>* cur = &dy;
    auto kids = s->children();
    for (auto it = kids.rbegin(); it != kids.rend(); ++it)
      total += backward_by_module(*it->second, *cur, join_name(path, it->first), p, cur);
    dx = cur;
    return total;
  }
  if (auto* r = dynamic_cast<Residual<float>*>(&m)) {
    const Tensor<float>* body_dx = nullptr;
    const ac::Counts body = backward_by_module(r->body(), dy, join_name(path, "body"), p, body_dx);
    const ac::Counts whole = count([&] { dx = &r->backward(dy); });
    p.add(path + " (own) backward", whole - body);
    ac::Counts total = body;
    total += whole - body;
    return total;
  }
  const ac::Counts c = count([&] { dx = &m.backward(dy); });
  p.add(path + " backward", c);
  return c;
}

// One training step, module by module, added to p.
void step_by_module(Rig& rig, Profile& p) {
  p.add("zero_grad", count([&] { rig.flat->zero_grad(); }));
  const Tensor<float>* out = nullptr;
  forward_by_module(*rig.net, rig.x, "", p, out);
  p.add("CrossEntropyLoss forward", count([&] { rig.loss.forward(*out, rig.y); }));
  const Tensor<float>* dx = nullptr;
  backward_by_module(*rig.net, rig.loss.backward(), "", p, dx);
  p.add("SGD step", count([&] { rig.sgd.step(*rig.flat, 0.01); }));
}

constexpr Index kBatch = 16;
constexpr int kWarmupSteps = 2, kCountedSteps = 3;

}  // namespace

// Hides p from the optimiser, which may otherwise elide a new/delete pair.
template <typename T>
T* escape(T* p) {
  asm volatile("" : : "g"(p) : "memory");
  return p;
}

TEST_CASE("The allocation counter sees the operator new overloads", "[alloc]") {
  struct alignas(128) Big {
    float v[32];
  };
  const ac::Counts c = count([] {
    delete escape(new int(1));                                    // plain, sized delete
    delete[] escape(new int[3]);                                  // array
    ::operator delete(escape(::operator new(8, std::nothrow)), std::nothrow);  // nothrow
    delete escape(new Big);                                       // aligned
    delete[] escape(new Big[2]);                                  // aligned array
    ::operator delete(escape(::operator new(64, std::align_val_t(256), std::nothrow)), std::align_val_t(256),
                      std::nothrow);                              // aligned nothrow
    std::vector<double> v(100);                                   // std::allocator
    escape(v.data());
  });
  CHECK(c.news == 7);
  CHECK(c.deletes == 7);
}

TEST_CASE("A training step of the reference net allocates nothing after warm-up", "[alloc]") {
  const NormKind norm = GENERATE(NormKind::Batch, NormKind::Group, NormKind::Layer);
  const int threads = GENERATE(1, 2);
  set_num_threads(threads);
  Rig rig(norm, kBatch);
  for (int i = 0; i < kWarmupSteps; ++i) rig.step();
  const ac::Counts c = count([&] {
    for (int i = 0; i < kCountedSteps; ++i) rig.step();
  });
  INFO("norm " << norm_kind_name(norm) << ", " << threads << " thread(s), batch " << kBatch << ", "
               << kCountedSteps << " steps");
  if (c.news != 0 || c.deletes != 0) {
    Profile p;
    step_by_module(rig, p);
    INFO(p.table(false));
    CHECK(c.news == 0);
    CHECK(c.deletes == 0);
  } else {
    SUCCEED("no operator new or delete in " << kCountedSteps << " steps");
  }
  set_num_threads(2);
}

// Two ranks of data-parallel training as two threads (ThreadCollective): each rank's step, its
// BatchNorm exchanges and the gradients' sum over the ranks allocate nothing once warm.
TEST_CASE("A data-parallel training step (2 ranks) allocates nothing after warm-up", "[alloc]") {
  const NormKind norm = GENERATE(NormKind::Batch, NormKind::Group);
  ThreadGroup group(2);
  ac::Counts before, counted;
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.emplace_back([&, r] {
      set_num_threads(1);
      ThreadCollective c(group, r);
      const BatchSplit split{2, r, kBatch, &c};
      Rig rig(norm, split.local_batch());
      set_batch_split(*rig.net, &split);
      rig.loss.set_mean_over(kBatch);
      std::vector<float> scratch;
      auto sum = [&] { sum_over_ranks(c, rig.flat->grads().data(), rig.flat->grads().size(), scratch); };
      for (int i = 0; i < kWarmupSteps; ++i) rig.step(sum);
      auto barrier = [&] { c.broadcast_bytes(nullptr, 0, 0); };
      barrier();
      if (r == 0) {
        before = ac::snapshot();
        ac::enabled = true;
      }
      barrier();
      for (int i = 0; i < kCountedSteps; ++i) rig.step(sum);
      barrier();
      if (r == 0) {
        ac::enabled = false;
        counted = ac::snapshot() - before;
      }
      barrier();  // rank 1 frees its rig only once counting is off
    });
  for (auto& t : ranks) t.join();
  INFO("norm " << norm_kind_name(norm) << ", 2 ranks of 1 thread, global batch " << kBatch << ", " << kCountedSteps
               << " steps");
  CHECK(counted.news == 0);
  CHECK(counted.deletes == 0);
  set_num_threads(2);
}

TEST_CASE("An inference forward of the reference net allocates nothing after warm-up", "[alloc]") {
  const NormKind norm = GENERATE(NormKind::Batch, NormKind::Group, NormKind::Layer);
  const int threads = GENERATE(1, 2);
  set_num_threads(threads);
  Rig rig(norm, kBatch);
  rig.step();
  for (int i = 0; i < kWarmupSteps; ++i) rig.net->forward(rig.x, Mode::Eval);
  const ac::Counts c = count([&] {
    for (int i = 0; i < kCountedSteps; ++i) rig.net->forward(rig.x, Mode::Eval);
  });
  INFO("norm " << norm_kind_name(norm) << ", " << threads << " thread(s)");
  CHECK(c.news == 0);
  CHECK(c.deletes == 0);
  set_num_threads(2);
}

TEST_CASE("C allocator calls in a warm training step, per module (informational)", "[alloc][malloc][!mayfail]") {
  if (!GLIA_COUNT_MALLOC) {
    WARN("the C allocator is not interposed in this build (not glibc, or a sanitizer build)");
    return;
  }
  const NormKind norm = GENERATE(NormKind::Batch, NormKind::Group, NormKind::Layer);
  const int threads = GENERATE(1, 2);
  set_num_threads(threads);
  Rig rig(norm, kBatch);
  for (int i = 0; i < kWarmupSteps; ++i) rig.step();
  const ac::Counts c = count([&] { rig.step(); });
  Profile p;
  step_by_module(rig, p);
  std::ostringstream os;
  os << "norm " << norm_kind_name(norm) << ", " << threads << " thread(s), batch " << kBatch
     << ": one warm training step makes " << c.mallocs << " C allocator calls (" << c.malloc_bytes << " bytes)\n"
     << p.table(true);
  WARN(os.str());
  CHECK(c.mallocs == 0);
  set_num_threads(2);
}
