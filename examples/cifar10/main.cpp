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

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

  // positional: what the command's operands are ("IMAGE", "RUN_DIR"), or nullptr when it takes
  // none. An option given twice and an operand a command does not take are refused: silently
  // keeping one of two --checkpoint values would evaluate a model the user did not mean.
  Args(int argc, char** argv, int first, const std::set<std::string>& valued, const std::set<std::string>& switches,
       const char* operands = nullptr) {
    for (int i = first; i < argc; ++i) {
      const std::string a = argv[i];
      if (a.rfind("--", 0) != 0) {
        if (!operands) throw UsageError(detail::cat("unexpected argument ", quoted(a), ": ", argv[1], " takes only options"));
        positional.push_back(a);
        continue;
      }
      if (!switches.count(a) && !valued.count(a)) throw UsageError("unknown option " + a);
      if (opts.count(a)) throw UsageError(a + " is given twice");
      if (switches.count(a)) {
        opts[a] = "1";
        continue;
      }
      if (i + 1 >= argc) throw UsageError(a + " needs a value");
      opts[a] = argv[++i];
    }
  }
  bool has(const std::string& k) const { return opts.count(k) != 0; }
  std::string str(const std::string& k, const std::string& fallback) const { return has(k) ? opts.at(k) : fallback; }
  long long integer(const std::string& k, long long fallback, long long lo, long long hi) const {
    if (!has(k)) return fallback;
    try {
      return parse_integer(opts.at(k), lo, hi, k);
    } catch (const FormatError&) {
      throw UsageError(detail::cat(k, " must be an integer in [", lo, ", ", hi, "], got ", quoted(opts.at(k))));
    }
  }
  double real(const std::string& k, double fallback, double lo, double hi) const {
    if (!has(k)) return fallback;
    try {
      return parse_real(opts.at(k), lo, hi, k);
    } catch (const FormatError&) {
      throw UsageError(detail::cat(k, " must be a number in [", lo, ", ", hi, "], got ", quoted(opts.at(k))));
    }
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
  if (it->second != "bn" && it->second != "gn" && it->second != "ln")
    throw FormatError(detail::cat(path, ": metadata 'config.norm' is ", quoted(it->second), ", not bn, gn or ln"));
  ReferenceNetConfig cfg = net_config(parse_norm_kind(it->second), 0.0);
  auto w = c.meta.find("config.widths");
  if (auto k = c.meta.find("config.classes"); k != c.meta.end())  // absent before 2026-12-07: 10
    cfg.classes = parse_integer(k->second, 1, 1 << 20, path + ": metadata 'config.classes'");
  if (w == c.meta.end()) return cfg;
  const std::string where = path + ": metadata 'config.widths'";
  std::vector<Index> v;
  for (std::size_t start = 0; start <= w->second.size() && v.size() < 5;) {
    std::size_t comma = w->second.find(',', start);
    if (comma == std::string::npos) comma = w->second.size();
    v.push_back(parse_integer(w->second.substr(start, comma - start), 1, 4096, detail::cat(where, " (", quoted(w->second), ") part ", v.size() + 1)));
    start = comma + 1;
  }
  if (v.size() != 4) throw FormatError(detail::cat(where, " is ", quoted(w->second), ", not four channel counts"));
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
std::unique_ptr<Sequential<float>> load_model(const std::string& path, std::vector<std::string>* class_names,
                                              const char* role = "checkpoint") {
  const Checkpoint c = load_checkpoint(path, role);
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
  Args a(argc, argv, 2, {"--norm"}, {}, nullptr);
  auto model = make_reference_net<float>(net_config(parse_norm_kind(a.str("--norm", "bn")), 0.01));
  std::printf("%s", summary(*model, Shape{1, 3, 32, 32}).c_str());
  return 0;
}

const std::set<std::string> kTrainValued = {
    "--data", "--norm", "--recipe", "--epochs", "--batch", "--threads", "--seed", "--out", "--train-limit", "--test-limit",
    "--resume", "--optimizer", "--lr", "--momentum", "--weight-decay", "--l1", "--schedule", "--dropout",
    "--label-smoothing", "--init", "--crop-pad", "--cutout", "--eval-batch", "--tta", "--precise-bn", "--average-decay",
    "--average-from", "--width", "--teacher", "--distill-weight", "--distill-temperature"};
const std::set<std::string> kTrainSwitches = {"--hflip", "--no-augment", "--tta-flip", "--overwrite", "--accept-changes"};

// The recipe named by --recipe with every hyperparameter flag applied.
Recipe recipe_from_flags(const Args& a) {
  Recipe r = recipe_by_name(a.str("--recipe", "reference"));
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
  if (a.has("--tta-flip") && a.has("--tta")) throw UsageError("--tta-flip and --tta are the same setting: give one");
  r.final_tta = parse_tta(a.str("--tta", a.has("--tta-flip") ? "flip" : r.final_tta.name()));
  r.precise_bn = a.on_off("--precise-bn", r.precise_bn);
  r.average_decay = a.real("--average-decay", r.average_decay, 0.0, 0.999999);
  r.average_from = static_cast<int>(a.integer("--average-from", std::min(r.average_from, r.epochs), 1, r.epochs));
  r.distill_weight = a.real("--distill-weight", r.distill_weight, 0.0, 1.0);
  r.distill_temperature = a.real("--distill-temperature", r.distill_temperature, 0.01, 1000.0);
  if (a.has("--teacher") && !a.has("--distill-weight") && r.distill_weight == 0) r.distill_weight = 0.5;
  if (r.distill_weight > 0 && !a.has("--teacher"))
    throw UsageError("distillation (--distill-weight " + detail::cat(r.distill_weight) +
                     ") needs --teacher CHECKPOINT, e.g. a wider network trained with --width 2");
  if (a.has("--no-augment")) {
    r.augment.ssr_p = r.augment.bc_p = 0;
    r.augment.crop_pad = r.augment.cutout = 0;
    r.augment.hflip = false;
  }
  return r;
}

// The run folder: --out, else the folder of the --resume checkpoint, else runs/<norm>. Locked
// for the whole command; a folder holding another run needs --resume or --overwrite, and an
// input (the teacher) is never one of its outputs (train/run_folder.hpp).
std::unique_ptr<RunFolder> open_run_folder(const Args& a, NormKind norm, const Checkpoint* resume) {
  if (resume && a.has("--overwrite")) throw UsageError("--resume continues the run in its folder; --overwrite replaces it: give one");
  std::string out = std::string("runs/") + norm_kind_name(norm);
  if (a.has("--out")) {
    out = a.str("--out", "");
  } else if (resume) {
    const std::string parent = std::filesystem::path(resume->source).parent_path().string();
    out = parent.empty() ? "." : parent;
  }
  std::vector<RunInput> inputs;
  if (a.has("--teacher")) inputs.push_back({a.str("--teacher", ""), "--teacher"});
  const RunFolderMode mode = resume ? RunFolderMode::Continue : a.has("--overwrite") ? RunFolderMode::Overwrite : RunFolderMode::NewRun;
  auto it = resume ? resume->meta.find("run_id") : std::map<std::string, std::string>::const_iterator();
  const std::string run_id = resume && it != resume->meta.end() ? it->second : "";
  return std::make_unique<RunFolder>(out, mode, inputs, resume ? resume->source : "", run_id);
}

// What the run records as its settings; on resume each must equal the run's (or be accepted).
std::map<std::string, std::string> run_config(const Recipe& r, NormKind norm, const ReferenceNetConfig& net, std::uint64_t seed,
                                              const std::string& teacher_desc, const ImageDataset& train,
                                              const ImageDataset& test, const std::string& data) {
  return {{"norm", norm_kind_name(norm)}, {"recipe", r.name}, {"epochs", std::to_string(r.epochs)},
          {"widths", net.widths()}, {"classes", std::to_string(net.classes)}, {"batch", std::to_string(r.batch)}, {"optimizer", r.optimizer}, {"lr", detail::cat(r.lr)},
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
          {"train_images", std::to_string(train.size())}, {"test_images", std::to_string(test.size())}, {"data", data}};
}

// The report's images: the first misclassified test images and the first training images.
ReportImages report_images(const ImageDataset& train, const ImageDataset& test, const std::vector<std::int32_t>& pred) {
  ReportImages images;
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
  return images;
}

void print_run_header(const Recipe& r, NormKind norm, const ReferenceNetConfig& net_cfg, Module<float>& model,
                      std::uint64_t seed, const std::string& teacher_desc, const RunFolder& folder) {
  std::printf("model: reference net, norm %s, widths %s, %s parameters; recipe %s, %d epochs, batch %ld, %d threads, seed %llu\n",
              norm_kind_name(norm), net_cfg.widths().c_str(), thousands(parameter_count(model)).c_str(), r.name.c_str(), r.epochs,
              static_cast<long>(r.batch), num_threads(), static_cast<unsigned long long>(seed));
  if (r.average_decay > 0)
    std::printf("final weights: average of the weights from epoch %d on (decay %g)%s\n", r.average_from, r.average_decay,
                r.precise_bn ? ", BatchNorm statistics recomputed for them" : "");
  if (r.distill_weight > 0)
    std::printf("distillation from %s: weight %g, temperature %g\n", teacher_desc.c_str(), r.distill_weight, r.distill_temperature);
  if (!folder.notice().empty()) std::printf("run folder: %s\n", folder.notice().c_str());
  std::printf("run folder: %s\n", folder.dir().c_str());
  std::fflush(stdout);  // the header reaches a log file before training starts
}

void print_run_result(const RunRecord& result, const RunFolder& folder) {
  std::printf("final test accuracy %.2f%% (best %.2f%% at epoch %d), train accuracy %.2f%%, %.0f s, %.0f img/s\n",
              result.final_test_accuracy, result.best_test_accuracy, result.best_epoch, result.final_train_accuracy,
              result.seconds, result.train_images_per_second);
  if (result.final_test_accuracy_tta >= 0)
    std::printf("final test accuracy with test-time augmentation %s %.2f%%\n", result.final_tta.c_str(), result.final_test_accuracy_tta);
  std::string files;
  for (const std::string& f : folder.written())
    if (f.rfind("report/", 0) != 0 || f == "report/index.html") files += (files.empty() ? "" : ",") + f;
  std::printf("wrote %s/{%s}\n", folder.dir().c_str(), files.c_str());
}

// The trainer's settings from the recipe (the parts of a Recipe that the training loop uses).
TrainerConfig trainer_config(const Recipe& r, std::uint64_t seed) {
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
  return tc;
}

std::string command_line(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  return command;
}

// Restores the run; says which settings changed (accepted with --accept-changes) and when the
// run has no epoch left to train.
void resume_run(Trainer<float>& trainer, const Checkpoint& c, int epochs) {
  trainer.resume(c);
  std::printf("resumed from %s after epoch %d\n", c.source.c_str(), trainer.epochs_done());
  const std::string now = detail::cat("from epoch ", trainer.epochs_done() + 1, ":");
  for (const std::string& change : trainer.record().changes)
    if (change.rfind(now, 0) == 0) std::printf("setting changed (--accept-changes), recorded in the run: %s\n", change.c_str());
  if (trainer.epochs_done() == epochs)
    std::printf("the run has already trained its %d epochs: nothing left to train; the final model is evaluated again\n", epochs);
}

// What the run record says of this session (the settings go in run_config).
void describe_run(RunRecord& rec, const Recipe& r, NormKind norm, const std::string& command) {
  rec.name = rec.norm = norm_kind_name(norm);
  rec.recipe = r.name;
  rec.threads = num_threads();
  rec.command = command;
#ifdef GLIA_HAVE_GIT_COMMIT
  rec.commit = GLIA_GIT_COMMIT;  // as of the build (examples/cifar10/CMakeLists.txt)
#endif
}

int cmd_train(int argc, char** argv) {
  Args a(argc, argv, 2, kTrainValued, kTrainSwitches);
  set_threads(a);
  Recipe r = recipe_from_flags(a);
  const NormKind norm = parse_norm_kind(a.str("--norm", "bn"));
  const std::uint64_t seed = static_cast<std::uint64_t>(a.integer("--seed", 1, 0, (1LL << 53)));
  const std::string dir = data_dir(a);

  // The model's shape, the checkpoints and the run folder first: their errors should not wait
  // for the data.
  ReferenceNetConfig net_cfg = net_config(norm, r.dropout, a.real("--width", 1.0, 0.01, 64.0));
  std::unique_ptr<Sequential<float>> teacher;
  std::string teacher_desc = "none";
  if (r.distill_weight > 0) {
    teacher = load_model(a.str("--teacher", ""), nullptr, "--teacher checkpoint");
    teacher_desc = detail::cat(a.str("--teacher", ""), " (", thousands(parameter_count(*teacher)), " parameters, weights fnv1a64 ",
                               weights_fingerprint(*teacher), ")");
  }
  std::unique_ptr<Checkpoint> resume;
  if (a.has("--resume")) resume = std::make_unique<Checkpoint>(load_checkpoint(a.str("--resume", ""), "--resume checkpoint"));
  const std::unique_ptr<RunFolder> folder = open_run_folder(a, norm, resume.get());
  std::printf("glia %s: loading %s\n", version_string, dir.c_str());
  const ImageDataset train = load_dataset(dir, true, a.integer("--train-limit", 0, 0, 1 << 30));
  const ImageDataset test = load_dataset(dir, false, a.integer("--test-limit", 0, 0, 1 << 30));
  std::printf("train: %ld images, test: %ld images, %zu classes\n", static_cast<long>(train.size()),
              static_cast<long>(test.size()), train.class_names.size());
  net_cfg.classes = static_cast<Index>(train.class_names.size());  // the model scores the data's classes, no more

  auto model = make_reference_net<float>(net_cfg);
  Rng rng(seed);
  init_model(*model, r.init, rng);
  auto optimizer = make_optimizer<float>(r);
  auto schedule = make_schedule(r, (train.size() + r.batch - 1) / r.batch);
  TrainerConfig tc = trainer_config(r, seed);
  tc.eval_batch = a.integer("--eval-batch", 100, 1, 1 << 20);
  tc.out_dir = folder->dir();
  tc.accept_changed_settings = a.has("--accept-changes");
  Trainer<float> trainer(*model, *optimizer, *schedule, tc);
  trainer.use_run_folder(*folder);
  if (teacher) trainer.distill_from(*teacher);
  if (r.precise_bn)
    trainer.on_epoch_trained = [&](int epoch) {
      if (epoch == r.epochs) recompute_batchnorm_statistics(*model, train, r.batch, &r.augment, seed);
    };
  describe_run(trainer.record(), r, norm, command_line(argc, argv));
  trainer.record().config = run_config(r, norm, net_cfg, seed, teacher_desc, train, test, dir);
  if (resume) resume_run(trainer, *resume, r.epochs);
  print_run_header(r, norm, net_cfg, *model, seed, teacher_desc, *folder);
  ConsoleProgress progress;
  progress.attach(trainer);
  const RunRecord result = trainer.fit(train, test, &r.augment);
  const ReportImages images = report_images(train, test, trainer.last_eval().predictions);
  write_report(folder->dir() + "/report", result, &images);
  print_run_result(result, *folder);
  return 0;
}

int cmd_eval(int argc, char** argv) {
  Args a(argc, argv, 2, {"--data", "--checkpoint", "--test-limit", "--threads", "--eval-batch", "--tta"}, {"--tta-flip", "--precise-bn"},
         nullptr);
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
    const Index batch = parse_integer(c.meta_at("batch"), 1, 1 << 20, ck + ": metadata 'batch'");
    const auto seed = static_cast<std::uint64_t>(parse_integer(c.meta_at("seed"), 0, INT64_MAX, ck + ": metadata 'seed'"));
    const ImageDataset train = load_dataset(data_dir(a), true, 0);
    AugmentConfig flips = improved_recipe().augment;
    const Index layers = recompute_batchnorm_statistics(*model, train, batch, &flips, seed);
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
  Args a(argc, argv, 2, {"--checkpoint"}, {}, "IMAGE");
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
  Args a(argc, argv, 2, {"--out"}, {}, "RUN_DIR");
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


int run_command(int argc, char** argv) {
  const std::string cmd = argv[1];
  if (cmd == "summary") return cmd_summary(argc, argv);
  if (cmd == "train") return cmd_train(argc, argv);
  if (cmd == "eval") return cmd_eval(argc, argv);
  if (cmd == "predict") return cmd_predict(argc, argv);
  if (cmd == "report") return cmd_report(argc, argv);
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  throw UsageError("unknown command " + quoted(cmd));
}

// Results go to standard output: a write that failed there (a full disk, `> /dev/full`, a
// closed pipe) is an error, not a success.
int finish_output(int code) {
  if (std::fflush(stdout) == 0 && !std::ferror(stdout)) return code;
  std::fprintf(stderr, "glia-cifar10: error: cannot write the results to standard output: %s\n", std::strerror(errno));
  return code == 0 ? 1 : code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kUsageError;
  }
  try {
    return finish_output(run_command(argc, argv));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "glia-cifar10: %s\n\n%s", e.what(), kUsage);
    return finish_output(kUsageError);
  } catch (const ValueError& e) {
    std::fprintf(stderr, "glia-cifar10: %s\n", e.what());
    return finish_output(kUsageError);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glia-cifar10: error: %s\n", e.what());
    return finish_output(1);
  }
}
