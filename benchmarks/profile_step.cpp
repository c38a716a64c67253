// glia_profile_step: where a training step of the reference network spends its time.
//
// Runs the chain of modules of the network by hand, a Sequential's children one after the
// other (recursively; a Residual is one entry, its body inside it), and times each module's
// forward and backward, the loss and the SGD step, over --steps steps after --warmup steps.
// Prints one line per module: milliseconds per step forward and backward and the share of the
// whole step. The sum of the parts equals a normal training step up to the timer calls.
// With --eval it times inference instead: eval-mode forward passes only (no loss, no backward).
//
//   glia_profile_step [--norm bn|gn|ln] [--threads T] [--batch B] [--steps S] [--warmup W] [--eval]
#include <glia/kernels/parallel.hpp>

#include "reference_step.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace glia;

namespace {

struct Entry {
  std::string name;
  Module<float>* module;
  double fwd = 0, bwd = 0;  // seconds over the timed steps
};

// The modules a Sequential chains, depth first; anything else is one entry.
void flatten(Module<float>& m, const std::string& path, std::vector<Entry>& out) {
  if (dynamic_cast<Sequential<float>*>(&m)) {
    for (auto& c : m.children()) flatten(*c.second, path.empty() ? c.first : path + "." + c.first, out);
    return;
  }
  out.push_back({path, &m});
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
  std::string norm = "bn";
  int threads = 2, steps = 50, warmup = 10;
  Index batch = 32;
  bool eval = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--eval") eval = true;
    else if (a == "--norm" && has_value) norm = argv[++i];
    else if (a == "--threads" && has_value) threads = std::atoi(argv[++i]);
    else if (a == "--batch" && has_value) batch = std::atol(argv[++i]);
    else if (a == "--steps" && has_value) steps = std::atoi(argv[++i]);
    else if (a == "--warmup" && has_value) warmup = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: glia_profile_step [--norm bn|gn|ln] [--threads T] [--batch B] [--steps S] [--warmup W] [--eval]\n");
      return 2;
    }
  }
  set_num_threads(threads);
  bench::ReferenceStep step(parse_norm_kind(norm), batch);
  std::vector<Entry> entries;
  flatten(*step.net, "", entries);
  double loss_s = 0, opt_s = 0;
  for (int s = 0; s < warmup + steps; ++s) {
    const bool timed = s >= warmup;
    step.flat->zero_grad();
    const Tensor<float>* cur = &step.x;
    for (Entry& e : entries) {
      const double t0 = now();
      cur = &e.module->forward(*cur, eval ? Mode::Eval : Mode::Train);
      if (timed) e.fwd += now() - t0;
    }
    if (eval) continue;
    double t0 = now();
    step.loss.forward(*cur, step.y);
    cur = &step.loss.backward();
    if (timed) loss_s += now() - t0;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      t0 = now();
      cur = &it->module->backward(*cur);
      if (timed) it->bwd += now() - t0;
    }
    t0 = now();
    step.sgd->step(*step.flat, 0.01);
    if (timed) opt_s += now() - t0;
  }
  double total = loss_s + opt_s;
  for (const Entry& e : entries) total += e.fwd + e.bwd;
  const double ms = 1e3 / steps;
  std::printf("profile %s norm=%s threads=%d batch=%ld steps=%d: %.2f ms/step, %.0f img/s\n", eval ? "inference" : "training", norm.c_str(), threads,
              static_cast<long>(batch), steps, total * ms, static_cast<double>(batch) * steps / total);
  std::printf("%-16s %-16s %9s %9s %7s\n", "module", "kind", "fwd ms", "bwd ms", "share");
  for (const Entry& e : entries)
    std::printf("%-16s %-16s %9.3f %9.3f %6.1f%%\n", e.name.c_str(), e.module->name().c_str(), e.fwd * ms, e.bwd * ms,
                100 * (e.fwd + e.bwd) / total);
  std::printf("%-16s %-16s %9.3f %9s %6.1f%%\n", "loss", "CrossEntropy", loss_s * ms, "", 100 * loss_s / total);
  std::printf("%-16s %-16s %9.3f %9s %6.1f%%\n", "sgd step", "Sgd", opt_s * ms, "", 100 * opt_s / total);
  return 0;
}
