// glia-cifar10: train, evaluate and use the 48,178-parameter CIFAR-10 reference network.
//
//   glia-cifar10 summary [--norm bn|gn|ln]
//   glia-cifar10 train   [--data DIR] [--norm bn|gn|ln] [--recipe reference|improved] [--epochs N]
//                        [--batch N] [--threads N] [--seed S] [--out RUN_DIR] [--train-limit N]
//                        [--test-limit N] [--resume FILE] [hyperparameter flags, see usage()]
//   glia-cifar10 eval    --checkpoint FILE [--data DIR] [--test-limit N]
//   glia-cifar10 predict --checkpoint FILE IMAGE...
//   glia-cifar10 report  RUN_DIR... --out DIR
// The data folder comes from --data, else $GLIA_DATA, else $CIFAR10_DIR, else
// data/cifar-10-batches-bin. Everything here is a thin layer over the library.
#include <glia/data/cifar10.hpp>
#include <glia/data/image_folder.hpp>
#include <glia/glia.hpp>
#include <glia/models/summary.hpp>
#include <glia/report/html_report.hpp>
#include <glia/train/progress.hpp>
#include <glia/train/recipe.hpp>
#include <glia/train/trainer.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#ifdef GLIA_HAVE_GIT_COMMIT
#include "git_commit.hpp"
#endif

using namespace glia;

namespace {

constexpr int kUsageError = 2;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* kUsage = R"(usage:
  glia-cifar10 summary [--norm bn|gn|ln]
  glia-cifar10 train   [--data DIR] [--norm bn|gn|ln] [--recipe reference|improved] [--epochs N]
                       [--batch N] [--threads N] [--seed S] [--out RUN_DIR]
                       [--train-limit N] [--test-limit N] [--resume CHECKPOINT]
                       [--optimizer sgd|nesterov|adam|adamw] [--lr X] [--momentum X]
                       [--weight-decay X] [--l1 X] [--schedule piecewise|onecycle|cosine|step|constant]
                       [--dropout X] [--label-smoothing X] [--init xavier_uniform|kaiming_normal|torch|...]
                       [--crop-pad N] [--hflip] [--cutout N] [--no-augment] [--eval-batch N]
                       [--tta none|flip|shiftN|flip+shiftN] [--tta-flip (= --tta flip)] [--precise-bn on|off]
                       [--average-decay D] [--average-from EPOCH] [--width M (channel multiplier)]
                       [--teacher CHECKPOINT] [--distill-weight A (0.5 with --teacher)] [--distill-temperature T]
  glia-cifar10 eval    --checkpoint FILE [--data DIR] [--test-limit N] [--threads N] [--eval-batch N]
                       [--tta none|flip|shiftN|flip+shiftN] [--tta-flip] [--precise-bn]
  glia-cifar10 predict --checkpoint FILE IMAGE...
  glia-cifar10 report  RUN_DIR... --out DIR

The data folder is --data, else $GLIA_DATA, else $CIFAR10_DIR, else data/cifar-10-batches-bin:
a CIFAR-10 binary folder (data_batch_1.bin ... test_batch.bin) or an image-folder root
(ROOT/train/<class>/*.png, ROOT/test/<class>/*.png). Defaults are the reference recipe.
)";

// --flag value / --switch parsing with the set of flags each command accepts.
struct Args {
  std::map<std::string, std::string> opts;
  std::vector<std::string> positional;

  Args(int argc, char** argv, int first, const std::set<std::string>& valued, const std::set<std::string>& switches) {
    for (int i = first; i < argc; ++i) {
      const std::string a = argv[i];
      if (a.rfind("--", 0) == 0) {
        if (switches.count(a)) {
          opts[a] = "1";
        } else if (valued.count(a)) {
          if (i + 1 >= argc) throw UsageError(a + " needs a value");
          opts[a] = argv[++i];
        } else {
          throw UsageError("unknown option " + a);
        }
      } else {
        positional.push_back(a);
      }
    }
  }
  bool has(const std::string& k) const { return opts.count(k) != 0; }
  std::string str(const std::string& k, const std::string& fallback) const { return has(k) ? opts.at(k) : fallback; }
  long long integer(const std::string& k, long long fallback, long long lo, long long hi) const {
    if (!has(k)) return fallback;
    const std::string& v = opts.at(k);
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || errno || x < lo || x > hi)
      throw UsageError(k + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + v + "'");
    return x;
  }
  double real(const std::string& k, double fallback, double lo, double hi) const {
    if (!has(k)) return fallback;
    const std::string& v = opts.at(k);
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !std::isfinite(x) || x < lo || x > hi)
      throw UsageError(k + " must be a number in [" + detail::cat(lo) + ", " + detail::cat(hi) + "], got '" + v + "'");
    return x;
  }
  bool on_off(const std::string& k, bool fallback) const {
    if (!has(k)) return fallback;
    const std::string& v = opts.at(k);
    if (v != "on" && v != "off") throw UsageError(k + " must be on or off, got '" + v + "'");
    return v == "on";
  }
};

std::string data_dir(const Args& a) {
  if (a.has("--data")) return a.str("--data", "");
  for (const char* env : {"GLIA_DATA", "CIFAR10_DIR"})
    if (const char* v = std::getenv(env); v && *v) return v;
  return "data/cifar-10-batches-bin";
}

void set_threads(const Args& a) {
  const long long hw = std::max(1u, std::thread::hardware_concurrency());
  if (a.has("--threads")) set_num_threads(static_cast<int>(a.integer("--threads", 1, 1, hw)));
}

ReferenceNetConfig net_config(NormKind norm, double dropout, double width = 1.0) {
  ReferenceNetConfig c;
  c.norm = norm;
  c.dropout = dropout;
  return c.widened(width);
}

// The widths a checkpoint's network was built with (config.widths, "16,32,8,16"); checkpoints
// from before the flag existed are the reference widths.
ReferenceNetConfig checkpoint_net_config(const Checkpoint& c, const std::string& path) {
  auto it = c.meta.find("config.norm");
  if (it == c.meta.end()) throw FormatError(path + ": not a glia-cifar10 checkpoint (no config.norm)");
  ReferenceNetConfig cfg = net_config(parse_norm_kind(it->second), 0.0);
  auto w = c.meta.find("config.widths");
  if (w == c.meta.end()) return cfg;
  long v[4];
  char tail = 0;
  if (std::sscanf(w->second.c_str(), "%ld,%ld,%ld,%ld%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4 || v[0] < 1 ||
      v[1] < 1 || v[2] < 1 || v[3] < 1 || v[0] > 4096 || v[1] > 4096 || v[2] > 4096 || v[3] > 4096)
    throw FormatError(path + ": metadata 'config.widths' is '" + w->second + "', not four channel counts");
  cfg.width1 = v[0];
  cfg.width2 = v[1];
  cfg.transition1 = v[2];
  cfg.transition2 = v[3];
  return cfg;
}

// A fingerprint of every parameter and buffer, to compare runs bit for bit.
std::string weights_fingerprint(Module<float>& model) {
  std::string bytes;
  for (auto& p : parameters(model)) bytes.append(reinterpret_cast<const char*>(p.param->value.data()), p.param->value.size() * sizeof(float));
  for (auto& b : buffers(model)) bytes.append(reinterpret_cast<const char*>(b.tensor->data()), b.tensor->size() * sizeof(float));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(bytes.data(), bytes.size())));
  return hex;
}

// Rebuilds the model a checkpoint was trained with, from its metadata, and loads it.
std::unique_ptr<Sequential<float>> load_model(const std::string& path, std::vector<std::string>* class_names) {
  const Checkpoint c = load_checkpoint(path);
  auto model = make_reference_net<float>(checkpoint_net_config(c, path));
  get_module(c, *model);
  if (class_names) {
    RunRecord r;
    from_json(json::parse(c.meta_at("run"), path), r, path);
    *class_names = r.class_names;
  }
  return model;
}

int cmd_summary(int argc, char** argv) {
  Args a(argc, argv, 2, {"--norm"}, {});
  auto model = make_reference_net<float>(net_config(parse_norm_kind(a.str("--norm", "bn")), 0.01));
  std::printf("%s", summary(*model, Shape{1, 3, 32, 32}).c_str());
  return 0;
}

int cmd_train(int argc, char** argv) {
  Args a(argc, argv, 2,
         {"--data", "--norm", "--recipe", "--epochs", "--batch", "--threads", "--seed", "--out", "--train-limit",
          "--test-limit", "--resume", "--optimizer", "--lr", "--momentum", "--weight-decay", "--l1", "--schedule",
          "--dropout", "--label-smoothing", "--init", "--crop-pad", "--cutout", "--eval-batch", "--tta", "--precise-bn",
          "--average-decay", "--average-from", "--width", "--teacher", "--distill-weight",
          "--distill-temperature"},
         {"--hflip", "--no-augment", "--tta-flip"});
  set_threads(a);
  Recipe r = recipe_by_name(a.str("--recipe", "reference"));
  const NormKind norm = parse_norm_kind(a.str("--norm", "bn"));
  r.epochs = static_cast<int>(a.integer("--epochs", r.epochs, 1, 100000));
  r.batch = a.integer("--batch", r.batch, 1, 1 << 20);
  r.optimizer = a.str("--optimizer", r.optimizer);
  r.lr = a.real("--lr", r.lr, 0.0, 1e3);
  r.opt.momentum = a.real("--momentum", r.opt.momentum, 0.0, 1.0);
  r.opt.weight_decay = a.real("--weight-decay", r.opt.weight_decay, 0.0, 1.0);
  r.opt.l1 = a.real("--l1", r.opt.l1, 0.0, 1.0);
  r.schedule = a.str("--schedule", r.schedule);
  r.dropout = a.real("--dropout", r.dropout, 0.0, 0.99);
  r.label_smoothing = a.real("--label-smoothing", r.label_smoothing, 0.0, 1.0);
  r.init = a.str("--init", r.init);
  r.augment.crop_pad = a.integer("--crop-pad", r.augment.crop_pad, 0, 16);
  r.augment.cutout = a.integer("--cutout", r.augment.cutout, 0, 32);
  if (a.has("--hflip")) r.augment.hflip = true;
  if (a.has("--tta-flip")) r.final_tta = parse_tta("flip");
  r.final_tta = parse_tta(a.str("--tta", r.final_tta.name()));
  r.precise_bn = a.on_off("--precise-bn", r.precise_bn);
  r.average_decay = a.real("--average-decay", r.average_decay, 0.0, 0.999999);
  r.average_from = static_cast<int>(a.integer("--average-from", std::min(r.average_from, r.epochs), 1, r.epochs));
  r.distill_weight = a.real("--distill-weight", r.distill_weight, 0.0, 1.0);
  r.distill_temperature = a.real("--distill-temperature", r.distill_temperature, 0.01, 1000.0);
  const std::string teacher_path = a.str("--teacher", "");
  if (!teacher_path.empty() && !a.has("--distill-weight") && r.distill_weight == 0) r.distill_weight = 0.5;
  if (r.distill_weight > 0 && teacher_path.empty())
    throw UsageError("distillation (--distill-weight " + detail::cat(r.distill_weight) +
                     ") needs --teacher CHECKPOINT, e.g. a wider network trained with --width 2");
  if (a.has("--no-augment")) {
    r.augment.ssr_p = r.augment.bc_p = 0;
    r.augment.crop_pad = r.augment.cutout = 0;
    r.augment.hflip = false;
  }
  const std::uint64_t seed = static_cast<std::uint64_t>(a.integer("--seed", 1, 0, (1LL << 53)));
  const std::string out = a.str("--out", std::string("runs/") + norm_kind_name(norm));
  const std::string dir = data_dir(a);

  // The model's shape and the teacher first: their errors should not wait for the data.
  const ReferenceNetConfig net_cfg = net_config(norm, r.dropout, a.real("--width", 1.0, 0.01, 64.0));
  std::unique_ptr<Sequential<float>> teacher;
  std::string teacher_desc = "none";
  if (r.distill_weight > 0) {
    teacher = load_model(teacher_path, nullptr);
    teacher_desc = detail::cat(teacher_path, " (", thousands(parameter_count(*teacher)), " parameters, weights fnv1a64 ",
                               weights_fingerprint(*teacher), ")");
  }
  std::printf("glia %s: loading %s\n", version_string, dir.c_str());
  const ImageDataset train = load_dataset(dir, true, a.integer("--train-limit", 0, 0, 1 << 30));
  const ImageDataset test = load_dataset(dir, false, a.integer("--test-limit", 0, 0, 1 << 30));
  std::printf("train: %ld images, test: %ld images, %zu classes\n", static_cast<long>(train.size()),
              static_cast<long>(test.size()), train.class_names.size());

  auto model = make_reference_net<float>(net_cfg);
  Rng rng(seed);
  init_model(*model, r.init, rng);
  auto optimizer = make_optimizer<float>(r);
  const std::int64_t steps_per_epoch = (train.size() + r.batch - 1) / r.batch;
  auto schedule = make_schedule(r, steps_per_epoch);
  TrainerConfig tc;
  tc.epochs = r.epochs;
  tc.batch = r.batch;
  tc.seed = seed;
  tc.label_smoothing = r.label_smoothing;
  tc.final_tta = r.final_tta;
  tc.average_decay = r.average_decay;
  tc.average_from = r.average_from;
  tc.distill_weight = r.distill_weight;
  tc.distill_temperature = r.distill_temperature;
  tc.eval_batch = a.integer("--eval-batch", 100, 1, 1 << 20);
  tc.out_dir = out;
  Trainer<float> trainer(*model, *optimizer, *schedule, tc);
  if (teacher) trainer.distill_from(*teacher);
  if (r.precise_bn)
    trainer.on_epoch_trained = [&](int epoch) {
      if (epoch == r.epochs) recompute_batchnorm_statistics(*model, train, r.batch, &r.augment, seed);
    };
  if (a.has("--resume")) {
    const std::string ck = a.str("--resume", "");
    trainer.resume(load_checkpoint(ck));
    std::printf("resumed from %s after epoch %d\n", ck.c_str(), trainer.epochs_done());
  }
  RunRecord& rec = trainer.record();
  rec.name = norm_kind_name(norm);
  rec.norm = norm_kind_name(norm);
  rec.recipe = r.name;
  rec.threads = num_threads();
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  rec.command = command;
#ifdef GLIA_HAVE_GIT_COMMIT
  rec.commit = GLIA_GIT_COMMIT;  // as of the build (examples/cifar10/CMakeLists.txt)
#endif
  rec.config = {{"norm", norm_kind_name(norm)}, {"recipe", r.name}, {"epochs", std::to_string(r.epochs)},
                {"widths", net_cfg.widths()}, {"batch", std::to_string(r.batch)}, {"optimizer", r.optimizer}, {"lr", detail::cat(r.lr)},
                {"momentum", detail::cat(r.opt.momentum)}, {"weight_decay", detail::cat(r.opt.weight_decay)},
                {"l1", detail::cat(r.opt.l1)}, {"schedule", r.schedule}, {"dropout", detail::cat(r.dropout)},
                {"label_smoothing", detail::cat(r.label_smoothing)}, {"init", r.init},
                {"final_tta", r.final_tta.name()}, {"precise_bn", r.precise_bn ? "on" : "off"},
                {"average", r.average_decay > 0 ? detail::cat("decay=", r.average_decay, " from_epoch=", r.average_from) : "off"},
                {"augment", detail::cat("ssr_p=", r.augment.ssr_p, " bc_p=", r.augment.bc_p, " crop_pad=", r.augment.crop_pad,
                                        " hflip=", r.augment.hflip, " cutout=", r.augment.cutout)},
                {"distill", r.distill_weight > 0 ? detail::cat("weight=", r.distill_weight, " temperature=", r.distill_temperature,
                                                               " teacher=", teacher_desc)
                                                    : "off"},
                {"seed", std::to_string(seed)}, {"threads", std::to_string(num_threads())},
                {"train_images", std::to_string(train.size())}, {"test_images", std::to_string(test.size())},
                {"data", dir}};
  std::printf("model: reference net, norm %s, widths %s, %s parameters; recipe %s, %d epochs, batch %ld, %d threads, seed %llu\n",
              norm_kind_name(norm), net_cfg.widths().c_str(), thousands(parameter_count(*model)).c_str(), r.name.c_str(), r.epochs,
              static_cast<long>(r.batch), num_threads(), static_cast<unsigned long long>(seed));
  if (r.average_decay > 0)
    std::printf("final weights: average of the weights from epoch %d on (decay %g)%s\n", r.average_from, r.average_decay,
                r.precise_bn ? ", BatchNorm statistics recomputed for them" : "");
  if (teacher)
    std::printf("distillation from %s: weight %g, temperature %g\n", teacher_desc.c_str(), r.distill_weight,
                r.distill_temperature);
  std::printf("run folder: %s\n", out.c_str());
  std::fflush(stdout);  // the header reaches a log file before training starts
  ConsoleProgress progress;
  progress.attach(trainer);
  const RunRecord result = trainer.fit(train, test, &r.augment);

  // The report: misclassified test images and sample training images come from the data.
  ReportImages images;
  const auto& pred = trainer.last_eval().predictions;
  for (Index i = 0; i < test.size() && images.mis_true.size() < 10; ++i)
    if (pred[static_cast<std::size_t>(i)] != test.labels[static_cast<std::size_t>(i)]) {
      images.misclassified.insert(images.misclassified.end(), test.image(i), test.image(i) + test.image_bytes());
      images.mis_true.push_back(test.labels[static_cast<std::size_t>(i)]);
      images.mis_pred.push_back(pred[static_cast<std::size_t>(i)]);
    }
  for (Index i = 0; i < std::min<Index>(20, train.size()); ++i) {
    images.samples.insert(images.samples.end(), train.image(i), train.image(i) + train.image_bytes());
    images.sample_labels.push_back(train.labels[static_cast<std::size_t>(i)]);
  }
  write_report(out + "/report", result, &images);
  std::printf("final test accuracy %.2f%% (best %.2f%% at epoch %d), train accuracy %.2f%%, %.0f s, %.0f img/s\n",
              result.final_test_accuracy, result.best_test_accuracy, result.best_epoch, result.final_train_accuracy,
              result.seconds, result.train_images_per_second);
  if (result.final_test_accuracy_tta >= 0)
    std::printf("final test accuracy with test-time augmentation %s %.2f%%\n", result.final_tta.c_str(), result.final_test_accuracy_tta);
  std::printf("wrote %s/{log.csv,metrics.json,last.ckpt,best.ckpt,report/index.html}\n", out.c_str());
  return 0;
}

int cmd_eval(int argc, char** argv) {
  Args a(argc, argv, 2, {"--data", "--checkpoint", "--test-limit", "--threads", "--eval-batch", "--tta"}, {"--tta-flip", "--precise-bn"});
  set_threads(a);
  if (!a.has("--checkpoint")) throw UsageError("eval needs --checkpoint FILE");
  std::vector<std::string> names;
  const std::string ck = a.str("--checkpoint", "");
  auto model = load_model(ck, &names);
  const ImageDataset test = load_dataset(data_dir(a), false, a.integer("--test-limit", 0, 0, 1 << 30));
  if (a.has("--precise-bn")) {
    // As training with --precise-bn on does after its last epoch: the run's seed and batch size,
    // the improved recipe's augmentation (horizontal flips).
    const Checkpoint c = load_checkpoint(ck);
    const ImageDataset train = load_dataset(data_dir(a), true, 0);
    AugmentConfig flips = improved_recipe().augment;
    const Index layers = recompute_batchnorm_statistics(*model, train, std::stol(c.meta_at("batch")), &flips,
                                                        std::stoull(c.meta_at("seed")));
    std::printf("recomputed the statistics of %ld BatchNorm layers over the %ld training images\n", static_cast<long>(layers),
                static_cast<long>(train.size()));
  }
  const TestTimeAugmentation tta = parse_tta(a.str("--tta", a.has("--tta-flip") ? "flip" : "none"));
  const EvalResult r = evaluate(*model, test, a.integer("--eval-batch", 100, 1, 1 << 20), nullptr, tta);
  std::printf("test loss %.4f, accuracy %.2f%% (%lld/%lld), test-time augmentation %s\n", r.loss, 100.0 * r.accuracy(),
              static_cast<long long>(r.correct), static_cast<long long>(r.total), tta.name().c_str());
  std::printf("weights fnv1a64 %s\n", weights_fingerprint(*model).c_str());
  std::printf("%-12s %8s\n", "class", "accuracy");
  for (Index c = 0; c < r.confusion.classes(); ++c)
    std::printf("%-12s %7.2f%%\n", c < static_cast<Index>(names.size()) ? names[static_cast<std::size_t>(c)].c_str() : "?",
                100.0 * r.confusion.class_accuracy(c));
  std::printf("confusion matrix (rows: true class, columns: predicted)\n");
  for (Index t = 0; t < r.confusion.classes(); ++t) {
    for (Index p = 0; p < r.confusion.classes(); ++p) std::printf("%6lld", static_cast<long long>(r.confusion.count(t, p)));
    std::printf("\n");
  }
  return 0;
}

int cmd_predict(int argc, char** argv) {
  Args a(argc, argv, 2, {"--checkpoint"}, {});
  if (!a.has("--checkpoint") || a.positional.empty()) throw UsageError("predict needs --checkpoint FILE and at least one IMAGE");
  std::vector<std::string> names;
  auto model = load_model(a.str("--checkpoint", ""), &names);
  LogSoftmax<float> logsoftmax;
  Tensor<float> x(Shape{1, 3, 32, 32});
  for (const std::string& path : a.positional) {
    const std::vector<std::uint8_t> chw = decode_image_file(path, 32, 32);
    normalize_image(x.data(), chw.data(), 3, 32, 32);
    const Tensor<float>& logp = logsoftmax.forward(model->forward(x, Mode::Eval), Mode::Eval);
    const std::int32_t c = argmax_row(logp.data(), logp.dim(1));
    std::printf("%s: %s (%.1f%%)\n", path.c_str(),
                c < static_cast<std::int32_t>(names.size()) ? names[static_cast<std::size_t>(c)].c_str() : "?",
                100.0 * std::exp(static_cast<double>(logp[c])));
  }
  return 0;
}

int cmd_report(int argc, char** argv) {
  Args a(argc, argv, 2, {"--out"}, {});
  if (!a.has("--out") || a.positional.empty()) throw UsageError("report needs RUN_DIR... and --out DIR");
  std::vector<RunRecord> runs;
  for (const std::string& d : a.positional) runs.push_back(load_run_record(d));
  namespace fs = std::filesystem;
  const std::string out = a.str("--out", "");
  fs::create_directories(out);
  std::string page;
  if (runs.size() == 1) {
    // Rebuilding elsewhere: bring the run's image grids along (write_report reuses them).
    const fs::path from = fs::path(a.positional.front()) / "report";
    for (const char* f : {"misclassified.png", "samples.png", "report_images.json"})
      if (fs::exists(from / f) && !fs::exists(fs::path(out) / f)) fs::copy_file(from / f, fs::path(out) / f);
    page = write_report(out, runs.front(), nullptr);
  } else {
    std::vector<std::string> links;  // each run's own report, relative to the comparison page
    for (const std::string& d : a.positional) {
      const fs::path report = fs::path(d) / "report" / "index.html";
      links.push_back(fs::exists(report) ? fs::relative(report, out).string() : std::string());
    }
    page = write_comparison(out, runs, links);
  }
  std::printf("wrote %s\n", page.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kUsageError;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "summary") return cmd_summary(argc, argv);
    if (cmd == "train") return cmd_train(argc, argv);
    if (cmd == "eval") return cmd_eval(argc, argv);
    if (cmd == "predict") return cmd_predict(argc, argv);
    if (cmd == "report") return cmd_report(argc, argv);
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    throw UsageError("unknown command '" + cmd + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "glia-cifar10: %s\n\n%s", e.what(), kUsage);
    return kUsageError;
  } catch (const ValueError& e) {
    std::fprintf(stderr, "glia-cifar10: %s\n", e.what());
    return kUsageError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glia-cifar10: error: %s\n", e.what());
    return 1;
  }
}
