// ThreadSanitizer check of glia's OpenMP code (scripts/tsan builds and runs it; see
// docs/reliability.md, "Data races").
//
// Built with clang++ -fsanitize=thread -fopenmp=libomp and run with LLVM's Archer OMPT tool
// (OMP_TOOL_LIBRARIES=libarcher.so), which tells TSan about OpenMP's fork, join and barrier
// synchronisation, so that only real races between glia's loop bodies are reported. With 2
// threads it runs:
//   - a few training-mode forward/backward passes (and an eval forward) of every layer kind:
//     Conv2d (3x3 pad 1, 3x3 stride 2 without bias, 5x5 stride 2 pad 2, 1x1 pointwise), Linear,
//     ReLU and Dropout (on tensors of several 16384-element blocks), BatchNorm2d, GroupNorm,
//     GroupNorm(1), MaxPool2d (2x2 and 3x3 stride 2), GlobalAvgPool2d, Residual, Sequential,
//     LogSoftmax + NLLLoss, CrossEntropyLoss;
//   - two full training steps of the reference net with bn, gn and ln (make_batch with the
//     reference augmentation plus crop, flip and cutout; FlatParameters; SGD with Nesterov
//     momentum and weight decay; CrossEntropyLoss with label smoothing), an Adam and an AdamW
//     step, an eval-mode batch without augmentation;
//   - Trainer::fit for one epoch (training and evaluation), and load_image_folder, which decodes
//     images in parallel (good and corrupt files, so the error path runs on both threads).
// It first checks that a parallel loop really runs on 2 threads. TSan makes the process exit
// with status 66 when it reported anything; a failed check exits 1.
// `tsan_kernels --planted-race` instead runs one parallel_for whose iterations all add to the same
// int: scripts/tsan runs it first and requires a TSan report, which shows that the set-up does
// see a race inside a parallel_for body (so that "no report" from the real run means something).
#include <glia/glia.hpp>
#include <glia/io.hpp>
#include <glia/report.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace glia;
namespace fs = std::filesystem;

namespace {

int g_failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "tsan_kernels: FAILED: %s\n", what.c_str());
    ++g_failures;
  }
}

Tensor<float> random_tensor(const Shape& s, Rng& rng) {
  Tensor<float> t(s);
  for (Index i = 0; i < t.size(); ++i) t[i] = static_cast<float>(rng.uniform(-1.0, 1.0));
  return t;
}

// Training-mode forward + backward `passes` times (gradients accumulate), then an eval forward.
void exercise(const char* what, Module<float>& m, const Shape& in, int passes = 3) {
  Rng rng(11);
  m.reset_parameters(rng);
  const Tensor<float> x = random_tensor(in, rng);
  zero_grad(m);
  for (int p = 0; p < passes; ++p) {
    const Tensor<float>& y = m.forward(x, Mode::Train);
    const Tensor<float> dy = random_tensor(y.shape(), rng);
    m.backward(dy);
  }
  const Tensor<float>& y = m.forward(x, Mode::Eval);
  check(y.shape() == m.output_shape(in), std::string(what) + ": output shape");
  std::printf("  %-44s ok\n", what);
}

void layers() {
  std::printf("layers (forward/backward x3, eval forward):\n");
  const Index N = 8;
  {
    Conv2d<float> c(3, 8, 3, 1, 1);
    exercise("Conv2d 3->8 k3 s1 p1", c, Shape{N, 3, 16, 16});
  }
  {
    Conv2d<float> c(3, 8, 3, 2, 0, false);
    exercise("Conv2d 3->8 k3 s2 p0, no bias", c, Shape{N, 3, 17, 17});
  }
  {
    Conv2d<float> c(4, 6, 5, 2, 2);
    exercise("Conv2d 4->6 k5 s2 p2", c, Shape{N, 4, 12, 12});
  }
  {
    Conv2d<float> c(8, 4, 1);
    exercise("Conv2d 8->4 1x1 (pointwise, no im2col)", c, Shape{N, 8, 10, 10});
  }
  {
    Conv2d<float> c(3, 4, 3, 1, 1);
    c.set_needs_input_grad(false);
    exercise("Conv2d without input gradient", c, Shape{N, 3, 8, 8});
  }
  {
    Linear<float> l(48, 10);
    exercise("Linear 48->10", l, Shape{N, 48});
  }
  {
    ReLU<float> r;
    exercise("ReLU (8 blocks of 16384)", r, Shape{N, 16, 32, 32});
  }
  {
    Dropout<float> d(0.3, 5);
    exercise("Dropout 0.3 (8 blocks of 16384)", d, Shape{N, 16, 32, 32});
  }
  {
    BatchNorm2d<float> b(4);
    exercise("BatchNorm2d(4)", b, Shape{N, 4, 8, 8});
  }
  {
    GroupNorm<float> g(2, 4);
    exercise("GroupNorm(2, 4)", g, Shape{N, 4, 8, 8});
  }
  {
    GroupNorm<float> l(1, 4);
    exercise("GroupNorm(1, 4)", l, Shape{N, 4, 8, 8});
  }
  {
    MaxPool2d<float> p(2);
    exercise("MaxPool2d 2x2", p, Shape{N, 4, 8, 8});
  }
  {
    MaxPool2d<float> p(3, 2);
    exercise("MaxPool2d 3x3 s2", p, Shape{N, 4, 9, 9});
  }
  {
    GlobalAvgPool2d<float> g;
    exercise("GlobalAvgPool2d", g, Shape{N, 4, 8, 8});
  }
  {
    auto body = std::make_unique<Sequential<float>>();
    body->emplace<Conv2d<float>>(16, 16, 3, 1, 1);
    body->emplace<BatchNorm2d<float>>(16);
    body->emplace<ReLU<float>>();
    Residual<float> r(std::move(body));
    exercise("Residual(Conv, BN, ReLU) (add: 8 blocks)", r, Shape{N, 16, 32, 32}, 2);
  }
  {
    LogSoftmax<float> ls;
    exercise("LogSoftmax", ls, Shape{N, 10, 1, 1});
  }
  {
    Rng rng(3);
    const Tensor<float> logits = random_tensor(Shape{N, 10}, rng);
    std::vector<std::int32_t> y;
    for (Index i = 0; i < N; ++i) y.push_back(static_cast<std::int32_t>(i % 10));
    LogSoftmax<float> ls;
    NLLLoss<float> nll;
    for (int p = 0; p < 3; ++p) {
      nll.forward(ls.forward(logits, Mode::Train), y);
      ls.backward(nll.backward());
    }
    CrossEntropyLoss<float> ce(0.1);
    for (int p = 0; p < 3; ++p) ce.forward(logits, y);
    std::printf("  %-44s ok\n", "LogSoftmax + NLLLoss, CrossEntropyLoss");
  }
}

ImageDataset synthetic_data(Index n, std::uint64_t seed) {
  ImageDataset d;
  d.source = "synthetic";
  d.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  Rng rng(seed);
  d.pixels.resize(static_cast<std::size_t>(n * d.image_bytes()));
  for (auto& p : d.pixels) p = static_cast<std::uint8_t>(rng.below(256));
  for (Index i = 0; i < n; ++i) d.labels.push_back(static_cast<std::int32_t>(i % 10));
  return d;
}

void reference_net_steps(const ImageDataset& d) {
  std::printf("reference net, full training steps:\n");
  AugmentConfig aug = AugmentConfig::reference();
  aug.crop_pad = 4;
  aug.hflip = true;
  aug.cutout = 8;
  std::vector<Index> order(static_cast<std::size_t>(d.size()));
  for (Index i = 0; i < d.size(); ++i) order[static_cast<std::size_t>(i)] = (i * 7) % d.size();
  for (const char* norm : {"bn", "gn", "ln"}) {
    ReferenceNetConfig cfg;
    cfg.norm = parse_norm_kind(norm);
    cfg.dropout = 0.1;
    auto net = make_reference_net<float>(cfg);
    Rng rng(42);
    net->reset_parameters(rng);
    FlatParameters<float> flat(*net);
    OptimizerOptions o;
    o.momentum = 0.9;
    o.nesterov = true;
    o.weight_decay = 5e-4;
    Sgd<float> sgd(o);
    CrossEntropyLoss<float> loss(0.1);
    Tensor<float> x;
    std::vector<std::int32_t> y;
    const Index batch = 8;
    for (int step = 0; step < 2; ++step) {
      make_batch(x, y, d, order.data() + step * batch, batch, &aug, 7, static_cast<std::uint64_t>(step));
      flat.zero_grad();
      const Tensor<float>& out = net->forward(x, Mode::Train);
      const float l = loss.forward(out, y);
      net->backward(loss.backward());
      sgd.step(flat, 0.05);
      check(std::isfinite(l), std::string(norm) + ": finite loss");
    }
    if (cfg.norm == NormKind::Batch) {  // the other optimisers, once each
      Adam<float> adam(o);
      AdamW<float> adamw(o);
      for (Optimizer<float>* opt : {static_cast<Optimizer<float>*>(&adam), static_cast<Optimizer<float>*>(&adamw)}) {
        make_batch(x, y, d, order.data(), batch, &aug, 7, 9);
        flat.zero_grad();
        loss.forward(net->forward(x, Mode::Train), y);
        net->backward(loss.backward());
        opt->step(flat, 1e-3);
      }
    }
    make_batch(x, y, d, order.data(), batch, nullptr, 0, 0);  // evaluation batch: normalisation only
    const Tensor<float>& out = net->forward(x, Mode::Eval);
    check(out.dim(0) == batch, std::string(norm) + ": eval output");
    std::printf("  %-44s ok\n", (std::string("reference net (") + norm + "): 2 SGD steps, eval").c_str());
  }
}

// One epoch in batches of 8 (training and evaluation).
TrainerConfig one_epoch_of_8() {
  TrainerConfig cfg;
  cfg.epochs = 1;
  cfg.batch = 8;
  cfg.eval_batch = 8;
  return cfg;
}

void trainer_epoch(const ImageDataset& train, const ImageDataset& test) {
  std::printf("Trainer::fit, one epoch:\n");
  auto net = make_reference_net<float>();
  Rng rng(5);
  net->reset_parameters(rng);
  OptimizerOptions o;
  o.momentum = 0.9;
  Sgd<float> sgd(o);
  ConstantLr lr(0.05);
  Trainer<float> trainer(*net, sgd, lr, one_epoch_of_8());
  const AugmentConfig aug = AugmentConfig::reference();
  trainer.fit(train, test, &aug);
  check(trainer.epochs_done() == 1, "trainer: one epoch done");
  std::printf("  %-44s ok\n", "Trainer::fit (16 train, 8 test images)");
}

// Two ranks as two threads of this process (ThreadCollective), BatchNorm synchronised between
// them: the exchanges go through ThreadGroup's mutex and condition variable.
void data_parallel_epoch(const ImageDataset& train, const ImageDataset& test) {
  std::printf("Trainer::fit on 2 ranks (threads), one epoch:\n");
  ThreadGroup group(2);
  std::vector<std::vector<float>> weights(2);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.emplace_back([&, r] {
      set_num_threads(1);
      auto net = make_reference_net<float>();
      Rng rng(5);
      net->reset_parameters(rng);
      Sgd<float> sgd(OptimizerOptions{});
      ConstantLr lr(0.05);
      Trainer<float> trainer(*net, sgd, lr, one_epoch_of_8());
      ThreadCollective c(group, r);
      trainer.distribute(c);
      trainer.fit(train, test, nullptr);
      weights[static_cast<std::size_t>(r)].assign(trainer.parameters().values().begin(), trainer.parameters().values().end());
    });
  for (auto& t : ranks) t.join();
  check(weights[0] == weights[1], "data parallel: both ranks hold the same weights");
  std::printf("  %-44s ok\n", "2 ranks, BatchNorm synchronised (16 train, 8 test images)");
}

void image_folder() {
  std::printf("load_image_folder (parallel decoding):\n");
  std::string tmpl = (fs::temp_directory_path() / "glia-tsan-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    check(false, "mkdtemp");
    return;
  }
  const fs::path root = tmpl;
  auto write = [](const fs::path& p, const std::vector<std::uint8_t>& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  };
  std::vector<std::uint8_t> hwc(32 * 32 * 3);
  for (int k = 0; k < 8; ++k) {
    for (std::size_t i = 0; i < hwc.size(); ++i) hwc[i] = static_cast<std::uint8_t>(i * 3 + static_cast<std::size_t>(k) * 17);
    write(root / "train" / (k < 4 ? "cat" : "dog") / ("img" + std::to_string(k) + ".png"), encode_png(hwc.data(), 32, 32));
    // test split: every file corrupt (a PNG cut short), so every thread takes the error path
    std::vector<std::uint8_t> bad = encode_png(hwc.data(), 32, 32);
    bad.resize(bad.size() / 2);
    write(root / "test" / "cat" / ("bad" + std::to_string(k) + ".png"), bad);
  }
  const ImageDataset d = load_image_folder(root.string(), "train");
  check(d.size() == 8 && d.class_names.size() == 2, "image folder: 8 images in 2 classes");
  bool refused = false;
  try {
    load_image_folder(root.string(), "test");
  } catch (const FormatError&) {
    refused = true;
  }
  check(refused, "image folder: corrupt files refused with FormatError");
  std::error_code ec;
  fs::remove_all(root, ec);
  std::printf("  %-44s ok\n", "8 good PNGs; 8 truncated PNGs refused");
}

}  // namespace

int main(int argc, char** argv) {
  set_num_threads(2);
  if (argc > 1 && std::string(argv[1]) == "--planted-race") {
    long shared = 0;
    parallel_for(64, [&](Index i) { shared += i; });  // a data race, on purpose
    std::printf("tsan_kernels: planted race done (sum %ld)\n", shared);
    return 0;
  }
  // The check is only worth something if the loops really run on two threads.
  std::atomic<int> seen{0};
  parallel_for(64, [&](Index) { seen.fetch_or(1 << thread_index()); });
  std::printf("tsan_kernels: %d OpenMP threads, parallel_for ran on thread mask %d\n", num_threads(), seen.load());
  if (seen.load() != 3) {
    std::fprintf(stderr, "tsan_kernels: parallel_for did not use 2 threads (OpenMP missing?)\n");
    return 1;
  }
  layers();
  const ImageDataset train = synthetic_data(16, 1), test = synthetic_data(8, 2);
  reference_net_steps(train);
  trainer_epoch(train, test);
  data_parallel_epoch(train, test);
  image_folder();
  if (g_failures) return 1;
  std::printf("tsan_kernels: done\n");
  return 0;
}
