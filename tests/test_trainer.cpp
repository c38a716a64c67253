// The trainer: reproducibility across thread counts, bitwise resume, NaN stop, run files, and
// the CI smoke test on real CIFAR-10 (2,000 images, 1 epoch).
#include <catch2/catch.hpp>

#include <glia/glia.hpp>
#include <glia/report/metrics_json.hpp>

#include "support/run_support.hpp"
#include "support/tensor_compare.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <tuple>

using namespace glia;
using glia::testing::same_bits;
namespace fs = std::filesystem;
using glia_test::synthetic;
using glia_test::TempDir;

namespace {

struct Run {
  std::vector<float> weights;
  RunRecord record;
};

// Trains the reference net with the reference recipe on synthetic data.
Run train(NormKind norm, int threads, int epochs, const std::string& out = "", const std::string& resume = "",
          double lr = 0.01, Index n = 192) {
  set_num_threads(threads);
  const ImageDataset train_set = synthetic(n, 1), test_set = synthetic(64, 2);
  Recipe r = reference_recipe();
  r.epochs = epochs;
  r.lr = lr;
  ReferenceNetConfig cfg;
  cfg.norm = norm;
  cfg.dropout = 0.1;  // exercise the dropout streams too
  auto model = make_reference_net<float>(cfg);
  Rng rng(7);
  init_model(*model, r.init, rng);
  auto opt = make_optimizer<float>(r);
  auto sched = make_schedule(r, (n + 15) / 16);
  TrainerConfig tc;
  tc.epochs = epochs;
  tc.batch = 16;
  tc.seed = 7;
  tc.out_dir = out;
  Trainer<float> t(*model, *opt, *sched, tc);
  MetricsJsonWriter metrics(out);  // metrics.json, as glia-cifar10 writes it
  if (!out.empty()) t.observe(metrics);
  if (!resume.empty()) t.resume(load_checkpoint(resume));
  Run result;
  result.record = t.fit(train_set, test_set, &r.augment);
  result.weights.assign(t.parameters().values().begin(), t.parameters().values().end());
  for (auto& b : buffers(*model)) result.weights.insert(result.weights.end(), b.tensor->begin(), b.tensor->end());
  set_num_threads(2);
  return result;
}

}  // namespace

TEST_CASE("Training gives bitwise-identical weights for 1 and 2 threads, for every norm", "[trainer][determinism]") {
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    INFO("norm " << norm_kind_name(k));
    // 96 images: 6 steps an epoch, two epochs (the shuffle and the schedule cross an epoch).
    const Run one = train(k, 1, 2, "", "", 0.01, 96), two = train(k, 2, 2, "", "", 0.01, 96);
    CHECK(same_bits(one.weights, two.weights));
    CHECK(one.record.epochs.back().train_loss == two.record.epochs.back().train_loss);
  }
}

TEST_CASE("Resuming from a checkpoint finishes bitwise identical to an uninterrupted run", "[trainer][checkpoint]") {
  TempDir full, part;
  const Run uninterrupted = train(NormKind::Batch, 2, 3, full.path);
  train(NormKind::Batch, 2, 1, part.path);  // "killed" after epoch 1: only its checkpoint survives
  const Run resumed = train(NormKind::Batch, 2, 3, part.path, part.path + "/last.ckpt");
  CHECK(same_bits(uninterrupted.weights, resumed.weights));
  REQUIRE(resumed.record.epochs.size() == 3);
  // Resuming a run that already finished trains nothing and changes nothing.
  const Run again = train(NormKind::Batch, 2, 3, part.path, part.path + "/last.ckpt");
  CHECK(same_bits(uninterrupted.weights, again.weights));
  CHECK(again.record.epochs.size() == 3);
  CHECK(resumed.record.epochs[2].test_accuracy == uninterrupted.record.epochs[2].test_accuracy);
  // The run folder holds everything, readable.
  for (const char* f : {"log.csv", "metrics.json", "last.ckpt", "best.ckpt"}) CHECK(fs::exists(full.path + "/" + f));
  CHECK(read_log_csv(full.path + "/log.csv").size() == 3);
  const RunRecord saved = load_run_record(full.path);
  CHECK(saved.status == "finished");
  CHECK(saved.epochs.size() == 3);
  CHECK(saved.seed == 7);
}

TEST_CASE("A diverging loss stops training with a clear message and keeps the last good checkpoint", "[trainer][errors]") {
  TempDir dir;
  train(NormKind::Batch, 2, 1, dir.path);
  const std::string before = [&] {
    std::ifstream in(dir.path + "/last.ckpt", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  // Resume with an absurd learning rate: the loss becomes non-finite during epoch 2.
  std::string message;
  try {
    train(NormKind::Batch, 2, 3, dir.path, dir.path + "/last.ckpt", 1e12);
  } catch (const NumericError& e) {
    message = e.what();
  }
  CHECK_THAT(message, Catch::Contains("non-finite loss") && Catch::Contains("epoch 2") && Catch::Contains("last.ckpt"));
  std::ifstream in(dir.path + "/last.ckpt", std::ios::binary);
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == before);
  CHECK(load_run_record(dir.path).status.rfind("stopped: non-finite loss", 0) == 0);
}

TEST_CASE("NaN in an input batch makes the loss non-finite, which the trainer stops on", "[trainer][errors]") {
  auto model = make_reference_net<float>();
  Rng rng(1);
  model->reset_parameters(rng);
  Tensor<float> x(Shape{4, 3, 32, 32});
  x.normal_(rng, 0, 1);
  x[17] = std::numeric_limits<float>::quiet_NaN();
  CrossEntropyLoss<float> loss;
  const float l = loss.forward(model->forward(x, Mode::Train), {0, 1, 2, 3});
  CHECK_FALSE(std::isfinite(l));  // the trainer turns exactly this into NumericError (above)
}

TEST_CASE("Trainer refuses invalid settings", "[trainer][errors]") {
  auto model = make_reference_net<float>();
  Sgd<float> sgd;
  ConstantLr lr(0.01);
  TrainerConfig c;
  c.batch = 0;
  CHECK_THROWS_WITH((Trainer<float>(*model, sgd, lr, c)), Catch::Contains("batch size"));
  c.batch = 32;
  c.epochs = 0;
  CHECK_THROWS_WITH((Trainer<float>(*model, sgd, lr, c)), Catch::Contains("epochs"));
  c.epochs = 1;
  c.batch = 100;
  Trainer<float> t(*model, sgd, lr, c);
  CHECK_THROWS_WITH(t.fit(synthetic(50, 1), synthetic(10, 2), nullptr), Catch::Contains("larger than the training set"));
  TrainerConfig bad_dir;
  bad_dir.out_dir = "/proc/glia-cannot-write-here";
  bad_dir.batch = 10;
  Trainer<float> t2(*model, sgd, lr, bad_dir);
  CHECK_THROWS_AS(t2.fit(synthetic(50, 1), synthetic(10, 2), nullptr), IoError);
}

TEST_CASE("Smoke: 2,000 real CIFAR-10 images, 1 epoch: loss falls, accuracy clearly above chance", "[trainer][smoke]") {
  const std::string dir = std::string(GLIA_SHARED_DATA) + "/cifar-10-batches-bin";
  if (!is_cifar10_dir(dir)) {
    WARN("CIFAR-10 not found at " << dir << ": smoke test skipped");
    return;
  }
  const ImageDataset train_set = load_cifar10(dir, CifarSplit::Train, 2000);
  const ImageDataset test_set = load_cifar10(dir, CifarSplit::Test, 1000);  // any prefix is class-balanced
  Recipe r = reference_recipe();
  r.epochs = 1;
  auto model = make_reference_net<float>();
  Rng rng(1);
  init_model(*model, r.init, rng);
  auto opt = make_optimizer<float>(r);
  auto sched = make_schedule(r, 63);
  TrainerConfig tc;
  tc.epochs = 1;
  tc.batch = 32;
  Trainer<float> t(*model, *opt, *sched, tc);
  std::vector<double> losses;
  t.on_batch = [&](const BatchEvent& e) { losses.push_back(e.loss); };
  const RunRecord rec = t.fit(train_set, test_set, &r.augment);
  REQUIRE(losses.size() == 63);
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) {
    first += losses[static_cast<std::size_t>(i)] / 10;
    last += losses[losses.size() - 1 - static_cast<std::size_t>(i)] / 10;
  }
  INFO("mean loss of the first 10 batches " << first << ", of the last 10 " << last << "; test accuracy "
                                            << rec.final_test_accuracy << "%");
  CHECK(last < first - 0.2);
  CHECK(rec.final_test_accuracy > 20.0);  // chance is 10%; 1,000 test images: 20% is 10 sigma above
}

TEST_CASE("Test-time augmentation scores each image by the weighted mean of its views' logits", "[trainer][eval]") {
  set_num_threads(2);
  const ImageDataset d = synthetic(37, 3);  // 37: the last batch of 10 is partial
  ReferenceNetConfig cfg;
  auto model = make_reference_net<float>(cfg);
  Rng rng(5);
  init_model(*model, "kaiming_normal", rng);

  std::vector<Index> all(static_cast<std::size_t>(d.size()));
  for (Index i = 0; i < d.size(); ++i) all[static_cast<std::size_t>(i)] = i;
  Tensor<float> x;
  std::vector<std::int32_t> y;
  make_batch(x, y, d, all.data(), d.size(), nullptr, 0, 0);
  // By hand: the view of x moved by (s, s) with a reflect-101 border, mirrored if asked.
  auto reflect = [](Index p) { return p < 0 ? -p : p > 31 ? 62 - p : p; };
  auto view = [&](Index s, bool mirrored) {
    Tensor<float> v(x.shape());
    for (Index i = 0; i < x.dim(0); ++i)
      for (Index c = 0; c < 3; ++c)
        for (Index r = 0; r < 32; ++r)
          for (Index w = 0; w < 32; ++w) v.at(i, c, r, w) = x.at(i, c, reflect(r - s), reflect((mirrored ? 31 - w : w) - s));
    return v;
  };
  // The expected scores: sum of weight * logits over (shift, mirrored, weight) views.
  auto expected = [&](const std::vector<std::tuple<Index, bool, float>>& views) {
    Tensor<float> mean(Shape{d.size(), 10, 1, 1});  // the net ends in a 1x1 convolution
    for (const auto& [s, mirrored, weight] : views) {
      const Tensor<float>& out = model->forward(view(s, mirrored), Mode::Eval);
      for (Index k = 0; k < mean.size(); ++k) mean.data()[k] += weight * out.data()[k];
    }
    return mean;
  };
  auto check_scores = [&](const EvalResult& r, const Tensor<float>& mean) {
    CrossEntropyLoss<float> loss;
    std::int64_t correct = 0;
    std::vector<std::int32_t> pred;
    for (Index i = 0; i < d.size(); ++i) {
      pred.push_back(argmax_row(mean.data() + i * 10, 10));
      correct += pred.back() == y[static_cast<std::size_t>(i)];
    }
    CHECK(r.predictions == pred);
    CHECK(r.correct == correct);
    CHECK(r.loss == Approx(static_cast<double>(loss.forward(mean, y))).epsilon(1e-5));
  };
  const Tensor<float> flip = expected({{0, false, 0.5f}, {0, true, 0.5f}});
  check_scores(evaluate(*model, d, 10, {}, parse_tta("flip")), flip);
  check_scores(evaluate(*model, d, 10, {}, parse_tta("shift1")), expected({{0, false, 0.5f}, {1, false, 0.25f}, {-1, false, 0.25f}}));
  check_scores(evaluate(*model, d, 10, {}, parse_tta("flip+shift2")),
               expected({{0, false, 0.25f}, {0, true, 0.25f}, {2, false, 0.125f}, {2, true, 0.125f}, {-2, false, 0.125f}, {-2, true, 0.125f}}));
  // Without TTA the scores are the plain logits, which differ for this untrained model.
  const EvalResult no_tta = evaluate(*model, d, 10);
  check_scores(no_tta, expected({{0, false, 1.0f}}));
  CHECK(no_tta.loss != Approx(evaluate(*model, d, 10, {}, parse_tta("flip")).loss).epsilon(1e-5));
  CHECK_THROWS_AS(evaluate(*model, d, 10, {}, parse_tta("shift32")), ValueError);  // leaves a 32x32 image

  // translate_reflect by hand, including a shift of more than half the image.
  Tensor<float> moved;
  for (const Index s : {1, -1, 3, 20}) {
    translate_reflect(x, moved, s, s);
    const Tensor<float> v = view(s, false);
    CHECK(std::memcmp(moved.data(), v.data(), sizeof(float) * static_cast<std::size_t>(x.size())) == 0);
  }
  translate_reflect(x, moved, 2, -1);
  CHECK(moved.at(3, 1, 0, 0) == x.at(3, 1, 2, 1));
  CHECK(moved.at(3, 1, 5, 31) == x.at(3, 1, 3, 30));
  CHECK_THROWS_AS(translate_reflect(x, moved, 0, 32), ValueError);
  Tensor<float> matrix(Shape{4, 10});
  CHECK_THROWS_AS(translate_reflect(matrix, moved, 1, 1), ShapeError);
  // Names round-trip; anything else is refused.
  for (const char* name : {"none", "flip", "shift1", "flip+shift1", "flip+shift12"}) CHECK(parse_tta(name).name() == name);
  for (const char* bad : {"", "flip+", "shift", "shift0", "flip+shift0", "flipshift1", "shift1+flip", "FLIP", "shift-1", "shift123"})
    CHECK_THROWS_AS(parse_tta(bad), ValueError);

  const Tensor<float> mirror = view(0, true);
  // flip_horizontal mirrors in place: twice is the identity.
  Tensor<float> twice(x.shape());
  twice.copy_from(x);
  flip_horizontal(twice);
  CHECK(std::memcmp(twice.data(), mirror.data(), sizeof(float) * static_cast<std::size_t>(x.size())) == 0);
  flip_horizontal(twice);
  CHECK(std::memcmp(twice.data(), x.data(), sizeof(float) * static_cast<std::size_t>(x.size())) == 0);
  CHECK_THROWS_AS(flip_horizontal(matrix), ShapeError);
}

TEST_CASE("Precise BN sets running statistics to the average of the batch statistics", "[trainer][precise-bn]") {
  // Two BatchNorms in a row: the second sees the first's training-mode output.
  Sequential<double> net;
  auto& bn1 = net.add(std::make_unique<BatchNorm2d<double>>(2), "bn1");
  net.add(std::make_unique<ReLU<double>>(), "relu");
  auto& bn2 = net.add(std::make_unique<BatchNorm2d<double>>(2), "bn2");
  bn1.weight().value.at(1) = 2.0;  // so that bn2's input is not already normalised
  bn1.bias().value.at(0) = 0.5;
  std::vector<Tensor<double>> batches;
  Rng rng(3);
  for (int k = 0; k < 3; ++k) {
    Tensor<double> x(Shape{4, 2, 3, 3});
    for (Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform(-1, 1) + 3.0 * k;
    batches.push_back(x);
  }
  // By hand: per batch and channel, the mean and unbiased variance of bn1's input and of bn2's
  // input (relu(bn1(x)) with batch statistics), then their plain averages over the batches.
  auto stats = [](const Tensor<double>& x, Index c, double& mean, double& var) {
    double s = 0, q = 0;
    const Index m = x.dim(0) * x.dim(2) * x.dim(3);
    for (Index n = 0; n < x.dim(0); ++n)
      for (Index p = 0; p < 9; ++p) s += x.at(n, c, p / 3, p % 3);
    mean = s / m;
    for (Index n = 0; n < x.dim(0); ++n)
      for (Index p = 0; p < 9; ++p) q += (x.at(n, c, p / 3, p % 3) - mean) * (x.at(n, c, p / 3, p % 3) - mean);
    var = q / (m - 1);
  };
  double want_mean[2][2] = {}, want_var[2][2] = {};
  for (const auto& x : batches) {
    Tensor<double> h(x.shape());
    for (Index c = 0; c < 2; ++c) {
      double mu, var;
      stats(x, c, mu, var);
      want_mean[0][c] += mu / 3;
      want_var[0][c] += var / 3;
      const double biased = var * 35 / 36, g = bn1.weight().value.at(c), b = bn1.bias().value.at(c);
      for (Index n = 0; n < 4; ++n)
        for (Index p = 0; p < 9; ++p)
          h.at(n, c, p / 3, p % 3) = std::max(0.0, g * (x.at(n, c, p / 3, p % 3) - mu) / std::sqrt(biased + 1e-5) + b);
    }
    for (Index c = 0; c < 2; ++c) {
      double mu, var;
      stats(h, c, mu, var);
      want_mean[1][c] += mu / 3;
      want_var[1][c] += var / 3;
    }
  }
  const std::vector<double> weights_before(bn1.weight().value.data(), bn1.weight().value.data() + 2);
  bn1.set_momentum(0.25);
  std::vector<Index> calls;
  const Index found = recompute_batchnorm_statistics(net, 3, [&](Index k) -> const Tensor<double>& {
    calls.push_back(k);
    return batches[static_cast<std::size_t>(k)];
  });
  CHECK(found == 2);
  CHECK(calls == std::vector<Index>{0, 1, 2});
  for (Index c = 0; c < 2; ++c) {
    CHECK(bn1.running_mean().at(c) == Approx(want_mean[0][c]).epsilon(1e-12));
    CHECK(bn1.running_var().at(c) == Approx(want_var[0][c]).epsilon(1e-12));
    CHECK(bn2.running_mean().at(c) == Approx(want_mean[1][c]).epsilon(1e-12));
    CHECK(bn2.running_var().at(c) == Approx(want_var[1][c]).epsilon(1e-12));
  }
  CHECK(bn1.momentum() == 0.25);  // restored
  CHECK(bn2.momentum() == 0.1);
  CHECK(bn1.weight().value.at(0) == weights_before[0]);
  CHECK(bn1.weight().value.at(1) == weights_before[1]);
  CHECK_THROWS_AS(recompute_batchnorm_statistics(net, 0, [&](Index) -> const Tensor<double>& { return batches[0]; }), ValueError);
  CHECK_THROWS_AS(bn1.set_momentum(1.5), ValueError);
  // A model without BatchNorm: nothing to do, no forward pass.
  Sequential<double> plain;
  plain.add(std::make_unique<ReLU<double>>(), "relu");
  calls.clear();
  CHECK(recompute_batchnorm_statistics(plain, 3, [&](Index k) -> const Tensor<double>& {
          calls.push_back(k);
          return batches[0];
        }) == 0);
  CHECK(calls.empty());
  // A failing batch source leaves the momenta as they were.
  CHECK_THROWS_AS(recompute_batchnorm_statistics(net, 2, [&](Index k) -> const Tensor<double>& {
                    if (k == 1) throw ValueError("no batch");
                    return batches[0];
                  }),
                  ValueError);
  CHECK(bn1.momentum() == 0.25);
}

TEST_CASE("Precise BN over a training set is the same for any thread count, and runs between training and evaluation", "[trainer][precise-bn]") {
  const ImageDataset d = synthetic(100, 4);
  AugmentConfig flips = improved_recipe().augment;
  std::vector<float> stats[2];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    auto model = make_reference_net<float>(ReferenceNetConfig{});
    Rng rng(5);
    init_model(*model, "kaiming_normal", rng);
    CHECK(recompute_batchnorm_statistics(*model, d, 32, &flips, 9) == 8);  // 3 batches of 32
    for (auto& b : buffers(*model)) stats[threads - 1].insert(stats[threads - 1].end(), b.tensor->data(), b.tensor->data() + b.tensor->size());
  }
  CHECK(stats[0] == stats[1]);
  CHECK(stats[0].size() == 2 * (16 + 16 + 32 * 6));
  set_num_threads(2);
  auto gn = make_reference_net<float>(ReferenceNetConfig{NormKind::Group});
  CHECK(recompute_batchnorm_statistics(*gn, d, 32, &flips, 9) == 0);
  auto model = make_reference_net<float>(ReferenceNetConfig{});
  CHECK_THROWS_AS(recompute_batchnorm_statistics(*model, d, 0, &flips, 9), ValueError);

  // The trainer calls on_epoch_trained after each epoch's steps, before its evaluation: a model
  // change made there shows in that epoch's test figures.
  Rng rng(5);
  init_model(*model, "kaiming_normal", rng);
  Recipe r = improved_recipe();
  r.epochs = 2;
  auto opt = make_optimizer<float>(r);
  auto schedule = make_schedule(r, 4);
  TrainerConfig tc;
  tc.epochs = 2;
  tc.batch = 25;
  Trainer<float> trainer(*model, *opt, *schedule, tc);
  std::vector<std::string> events;
  trainer.on_epoch_trained = [&](int epoch) {
    events.push_back("trained " + std::to_string(epoch));
    if (epoch == 2)
      for (auto& p : parameters(*model)) p.param->value.zero();  // every class scores 0: loss ln 10
  };
  trainer.on_epoch = [&](const EpochRecord& e) { events.push_back("epoch " + std::to_string(e.epoch)); };
  const RunRecord rec = trainer.fit(d, synthetic(20, 6), &r.augment);
  CHECK(events == std::vector<std::string>{"trained 1", "epoch 1", "trained 2", "epoch 2"});
  CHECK(rec.epochs[1].test_loss == Approx(std::log(10.0)).epsilon(1e-6));
  CHECK(rec.epochs[0].test_loss != Approx(std::log(10.0)).epsilon(1e-6));
}

namespace {

// Trains the reference net for 3 epochs with weight averaging from epoch 2 (decay 0.9),
// optionally resuming, or "killed" by an exception after epoch stop_after (its checkpoint is
// written by then); live holds the weights after every step, as on_batch sees them.
struct AveragedRun {
  std::vector<float> weights;
  std::vector<std::vector<float>> live;
};
struct Killed {};
AveragedRun train_averaged(const std::string& out, const std::string& resume = "", int stop_after = 0) {
  const ImageDataset train_set = synthetic(96, 1), test_set = synthetic(32, 2);
  Recipe r = improved_recipe();
  auto model = make_reference_net<float>(ReferenceNetConfig{});
  Rng rng(7);
  init_model(*model, r.init, rng);
  auto opt = make_optimizer<float>(r);
  auto sched = make_schedule(r, 6);
  TrainerConfig tc;
  tc.epochs = 3;
  tc.batch = 16;
  tc.seed = 3;
  tc.average_decay = 0.9;
  tc.average_from = 2;
  tc.out_dir = out;
  Trainer<float> t(*model, *opt, *sched, tc);
  if (!resume.empty()) t.resume(load_checkpoint(resume));
  AveragedRun run;
  t.on_batch = [&](const BatchEvent&) { run.live.emplace_back(t.parameters().values().begin(), t.parameters().values().end()); };
  t.on_epoch = [&](const EpochRecord& e) {
    if (e.epoch == stop_after) throw Killed{};
  };
  try {
    t.fit(train_set, test_set, &r.augment);
  } catch (const Killed&) {
  }
  run.weights.assign(t.parameters().values().begin(), t.parameters().values().end());
  return run;
}

}  // namespace

TEST_CASE("Weight averaging: the final weights are the EMA of the weights after each step, and resume exactly", "[trainer][average]") {
  TempDir full, part, one;
  const AveragedRun run = train_averaged(full.path);
  REQUIRE(run.live.size() == 18);  // 6 steps in each of 3 epochs
  // By hand, in double: the average starts at the weights epoch 1 ended with (after step 6)
  // and takes in the weights after each of the 12 steps of epochs 2 and 3.
  std::vector<double> want(run.live[5].begin(), run.live[5].end());
  for (std::size_t s = 6; s < 18; ++s)
    for (std::size_t i = 0; i < want.size(); ++i) want[i] = 0.9 * want[i] + 0.1 * static_cast<double>(run.live[s][i]);
  REQUIRE(run.weights.size() == want.size());
  double worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, std::abs(static_cast<double>(run.weights[i]) - want[i]) / (1e-3 + std::abs(want[i])));
  CHECK(worst < 1e-5);
  CHECK(!same_bits(run.weights, run.live.back()));  // the model holds the average, not the last step

  // Killed after epoch 2 (the average under way, in the checkpoint), resumed: bitwise the same.
  train_averaged(part.path, "", 2);
  CHECK(load_checkpoint(part.path + "/last.ckpt").has("average/weights"));
  const AveragedRun resumed = train_averaged(part.path, part.path + "/last.ckpt");
  CHECK(resumed.live.size() == 6);
  CHECK(same_bits(run.weights, resumed.weights));
  // Killed after epoch 1: no average yet; the resumed run starts it as an uninterrupted one does.
  train_averaged(one.path, "", 1);
  CHECK(!load_checkpoint(one.path + "/last.ckpt").has("average/weights"));
  CHECK(same_bits(run.weights, train_averaged(one.path, one.path + "/last.ckpt").weights));
}
TEST_CASE("Weight averaging refuses a start outside the run and a checkpoint without the average", "[trainer][average][errors]") {
  auto model = make_reference_net<float>(ReferenceNetConfig{});
  Recipe r = improved_recipe();
  auto opt = make_optimizer<float>(r);
  auto sched = make_schedule(r, 6);
  TrainerConfig tc;
  tc.epochs = 3;
  tc.average_decay = 0.9;
  for (int from : {0, 4}) {
    tc.average_from = from;
    CHECK_THROWS_AS(Trainer<float>(*model, *opt, *sched, tc), ValueError);
  }
  // A run without averaging, 2 epochs; continuing it with averaging from epoch 2 needs the
  // average of epoch 2, which its checkpoint lacks: a clear error naming the file.
  TempDir dir;
  train(NormKind::Batch, 2, 2, dir.path);
  auto model2 = make_reference_net<float>(ReferenceNetConfig{});
  Recipe ref = reference_recipe();
  auto opt2 = make_optimizer<float>(ref);
  tc.average_from = 2;
  tc.batch = 16;
  tc.seed = 7;
  Trainer<float> t(*model2, *opt2, *sched, tc);
  try {
    t.resume(load_checkpoint(dir.path + "/last.ckpt"));
    FAIL("resume accepted a checkpoint without the average");
  } catch (const ValueError& e) {
    CHECK_THAT(e.what(), Catch::Matchers::Contains("last.ckpt") && Catch::Matchers::Contains("average/weights"));
  }
}

namespace {

// A teacher that ignores its input and scores class `favourite` highest, by `margin`: global
// average pool, then a 1x1 convolution with zero weights and a one-hot bias.
std::unique_ptr<Sequential<float>> constant_teacher(Index classes, std::int32_t favourite, float margin) {
  auto t = std::make_unique<Sequential<float>>();
  t->add(std::make_unique<GlobalAvgPool2d<float>>(), "gap");
  auto head = std::make_unique<Conv2d<float>>(3, classes, 1);
  head->weight().value.zero();
  head->bias().value.zero();
  head->bias().value[favourite] = margin;
  t->add(std::move(head), "head");
  return t;
}

struct DistilledRun {
  std::vector<float> weights;
  EvalResult eval;
};

// The reference net on synthetic data for `epochs` epochs, with distillation weight `weight`
// from `teacher`, optionally resuming or "killed" after epoch stop_after.
DistilledRun train_distilled(Module<float>& teacher, double weight, int epochs, const std::string& out = "",
                             const std::string& resume = "", int stop_after = 0) {
  const ImageDataset train_set = synthetic(96, 1), test_set = synthetic(64, 2);
  Recipe r = improved_recipe();
  auto model = make_reference_net<float>(ReferenceNetConfig{});
  Rng rng(5);
  init_model(*model, r.init, rng);
  auto opt = make_optimizer<float>(r);
  ConstantLr lr(0.02);
  TrainerConfig tc;
  tc.epochs = epochs;
  tc.batch = 16;
  tc.seed = 5;
  tc.distill_weight = weight;
  tc.distill_temperature = 2.0;
  tc.out_dir = out;
  Trainer<float> t(*model, *opt, lr, tc);
  t.distill_from(teacher);
  if (!resume.empty()) t.resume(load_checkpoint(resume));
  t.on_epoch = [&](const EpochRecord& e) {
    if (e.epoch == stop_after) throw Killed{};
  };
  DistilledRun run;
  try {
    t.fit(train_set, test_set, &r.augment);
  } catch (const Killed&) {
  }
  run.weights.assign(t.parameters().values().begin(), t.parameters().values().end());
  run.eval = t.last_eval();
  return run;
}

}  // namespace

TEST_CASE("Distillation: the student learns the teacher's answers, the teacher is left as it was, and resume is bitwise", "[trainer][distill]") {
  // The teacher always answers class 3; the labels are spread over all ten classes. Learning
  // from the teacher alone (weight 1), the student answers 3 for nearly every test image;
  // learning from the labels alone (weight 0, the teacher is not even run), it does not.
  auto teacher = constant_teacher(10, 3, 6.0f);
  auto snapshot = [](Module<float>& m) {
    std::vector<float> v;
    for (auto& p : parameters(m)) v.insert(v.end(), p.param->value.begin(), p.param->value.end());
    for (auto& b : buffers(m)) v.insert(v.end(), b.tensor->begin(), b.tensor->end());
    return v;
  };
  const std::vector<float> teacher_before = snapshot(*teacher);
  const DistilledRun taught = train_distilled(*teacher, 1.0, 3);
  const DistilledRun labelled = train_distilled(*teacher, 0.0, 3);
  auto share_of_3 = [](const EvalResult& e) {
    std::int64_t n = 0;
    for (std::int32_t p : e.predictions) n += p == 3;
    return static_cast<double>(n) / static_cast<double>(e.predictions.size());
  };
  CHECK(share_of_3(taught.eval) > 0.9);
  CHECK(share_of_3(labelled.eval) < 0.5);
  CHECK(labelled.eval.accuracy() > taught.eval.accuracy());
  CHECK(same_bits(teacher_before, snapshot(*teacher)));

  // Killed after epoch 1 and resumed with the same teacher: the same weights as without a stop.
  TempDir full, part;
  const DistilledRun whole = train_distilled(*teacher, 0.5, 2, full.path);
  train_distilled(*teacher, 0.5, 2, part.path, "", 1);
  const DistilledRun resumed = train_distilled(*teacher, 0.5, 2, part.path, part.path + "/last.ckpt");
  CHECK(same_bits(whole.weights, resumed.weights));
  CHECK(!same_bits(whole.weights, labelled.weights));
}

TEST_CASE("Distillation refuses a missing teacher and a teacher of other classes", "[trainer][distill][errors]") {
  auto model = make_reference_net<float>(ReferenceNetConfig{});
  Sgd<float> sgd;
  ConstantLr lr(0.01);
  TrainerConfig tc;
  tc.epochs = 1;
  tc.batch = 16;
  tc.distill_weight = 0.9;
  Trainer<float> no_teacher(*model, sgd, lr, tc);
  CHECK_THROWS_WITH(no_teacher.fit(synthetic(32, 1), synthetic(16, 2), nullptr), Catch::Contains("no teacher"));
  auto seven = constant_teacher(7, 0, 1.0f);
  Trainer<float> wrong(*model, sgd, lr, tc);
  wrong.distill_from(*seven);
  CHECK_THROWS_AS(wrong.fit(synthetic(32, 1), synthetic(16, 2), nullptr), ShapeError);
  tc.distill_temperature = 0;
  CHECK_THROWS_WITH((Trainer<float>(*model, sgd, lr, tc)), Catch::Contains("temperature"));
  tc.distill_temperature = 4;
  tc.distill_weight = 1.5;
  CHECK_THROWS_WITH((Trainer<float>(*model, sgd, lr, tc)), Catch::Contains("weight"));
}
