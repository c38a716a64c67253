// benchmarks/reference_step.hpp: what the end-to-end benchmarks share: the reference network's
// convolution FLOPs (counted as torch_ref.py counts them), memory readings, and one training
// step (forward, cross-entropy, backward, SGD momentum 0.95) on a fixed random batch.
#pragma once

#include <glia/models/reference_net.hpp>
#include <glia/nn/flat_parameters.hpp>
#include <glia/nn/loss.hpp>
#include <glia/optim/optimizer.hpp>

#include <cstdio>
#include <memory>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

namespace glia::bench {

// torch_ref.py CONV_SHAPES: (cin, cout, k, H=W, count in the model).
struct ConvCount {
  double cin, cout, k, hw, count;
};
constexpr ConvCount kConvs[] = {{3, 16, 3, 32, 1}, {16, 16, 3, 32, 1}, {16, 8, 1, 32, 1},
                                {8, 32, 3, 16, 1}, {32, 32, 3, 16, 2}, {32, 16, 1, 16, 1},
                                {16, 32, 3, 8, 1}, {32, 32, 3, 8, 2},  {32, 10, 1, 1, 1}};

inline double forward_flops_per_image() {
  double macs = 0;
  for (const ConvCount& c : kConvs) macs += c.cin * c.cout * c.k * c.k * c.hw * c.hw * c.count;
  return 2 * macs;
}
// Forward + weight gradient + input gradient, without the first layer's input gradient.
inline double train_flops_per_image() { return 3 * forward_flops_per_image() - 2.0 * 3 * 16 * 9 * 32 * 32; }

// Peak resident memory of the process so far (MiB).
inline double maxrss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

// Resident memory now (MiB).
inline double rss_mib() {
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

// The model, its flat parameters, optimiser, loss and a fixed random batch.
struct ReferenceStep {
  std::unique_ptr<Sequential<float>> net;
  std::unique_ptr<FlatParameters<float>> flat;
  std::unique_ptr<Sgd<float>> sgd;
  CrossEntropyLoss<float> loss;
  Tensor<float> x;
  std::vector<std::int32_t> y;

  ReferenceStep(NormKind norm, Index batch, std::uint64_t seed = 2024) {
    ReferenceNetConfig cfg;
    cfg.norm = norm;
    net = make_reference_net<float>(cfg);
    Rng rng(seed);
    net->reset_parameters(rng);
    flat = std::make_unique<FlatParameters<float>>(*net);
    OptimizerOptions o;
    o.momentum = 0.95;
    sgd = std::make_unique<Sgd<float>>(o);
    x = Tensor<float>(Shape{batch, 3, 32, 32});
    x.normal_(rng, 0.0, 1.0);
    for (Index i = 0; i < batch; ++i) y.push_back(static_cast<std::int32_t>(rng.below(10)));
  }
  float train_step() {
    flat->zero_grad();
    const Tensor<float>& out = net->forward(x, Mode::Train);
    const float l = loss.forward(out, y);
    net->backward(loss.backward());
    sgd->step(*flat, 0.01);
    return l;
  }
  const Tensor<float>& infer() { return net->forward(x, Mode::Eval); }
};

}  // namespace glia::bench
