// glia-cifar10: train, evaluate and use the 48,178-parameter CIFAR-10 reference network.
//
//   glia-cifar10 summary | train | eval | predict | report  [flags]   (--help for each command)
// The command line is declared in command_line.hpp (CLI11); each command here receives its
// options parsed and checked. Everything here is a thin layer over the library.
#include <glia/data/cifar10.hpp>
#include <glia/glia.hpp>
#include <glia/io.hpp>
#include <glia/models/summary.hpp>
#include <glia/report.hpp>
#include <glia/train/progress.hpp>
#include <glia/train/recipe.hpp>
#include <glia/train/trainer.hpp>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "command_line.hpp"

#ifdef GLIA_HAVE_GIT_COMMIT
#include "git_commit.hpp"
#endif

using namespace glia;
using namespace glia_cifar10;

namespace {

constexpr int kUsageError = 2;

void set_threads(const DataOptions& d) {
  if (d.threads > 0) set_num_threads(d.threads);
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
  if (class_names) *class_names = read_run_record(c).class_names;
  return model;
}

int cmd_summary(const SummaryOptions& o) {
  auto model = make_reference_net<float>(net_config(o.norm, 0.01));
  std::printf("%s", summary(*model, Shape{1, 3, 32, 32}).c_str());
  return 0;
}

// The run folder: --out, else the folder of the --resume checkpoint, else runs/<norm>. Locked
// for the whole command; a folder holding another run needs --resume or --overwrite, and an
// input (the teacher) is never one of its outputs (train/run_folder.hpp).
std::unique_ptr<RunFolder> open_run_folder(const TrainOptions& o, const Checkpoint* resume) {
  std::string out = std::string("runs/") + norm_kind_name(o.norm);
  if (o.out) {
    out = *o.out;
  } else if (resume) {
    const std::string parent = std::filesystem::path(resume->source).parent_path().string();
    out = parent.empty() ? "." : parent;
  }
  std::vector<RunInput> inputs;
  if (o.teacher) inputs.push_back({*o.teacher, "--teacher"});
  const RunFolderMode mode = resume ? RunFolderMode::Continue : o.overwrite ? RunFolderMode::Overwrite : RunFolderMode::NewRun;
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
          {"momentum", detail::cat(r.momentum)}, {"weight_decay", detail::cat(r.weight_decay)},
          {"l1", detail::cat(r.l1)}, {"schedule", r.schedule}, {"dropout", detail::cat(r.dropout)},
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

// The teacher of distillation (none without it) and what the run records of it.
std::unique_ptr<Sequential<float>> load_teacher(const TrainOptions& o, std::string& description) {
  description = "none";
  if (o.recipe.distill_weight <= 0) return nullptr;  // finish_train_options: a weight needs --teacher
  auto teacher = load_model(*o.teacher, nullptr, "--teacher checkpoint");
  description = detail::cat(*o.teacher, " (", thousands(parameter_count(*teacher)), " parameters, weights fnv1a64 ",
                            weights_fingerprint(*teacher), ")");
  return teacher;
}

int cmd_train(const TrainOptions& o, const std::string& command) {
  set_threads(o.data);
  Recipe r = o.recipe;  // the trainer's configuration too (out_dir below)
  const NormKind norm = o.norm;
  const std::uint64_t seed = r.seed;
  const std::string& dir = o.data.dir;

  // The model's shape, the checkpoints and the run folder first: their errors should not wait
  // for the data.
  ReferenceNetConfig net_cfg = net_config(norm, r.dropout, o.width);
  std::string teacher_desc;
  const std::unique_ptr<Sequential<float>> teacher = load_teacher(o, teacher_desc);
  std::unique_ptr<Checkpoint> resume;
  if (o.resume) resume = std::make_unique<Checkpoint>(load_checkpoint(*o.resume, "--resume checkpoint"));
  const std::unique_ptr<RunFolder> folder = open_run_folder(o, resume.get());
  std::printf("glia %s: loading %s\n", version_string, dir.c_str());
  const ImageDataset train = load_dataset(dir, true, o.train_limit);
  const ImageDataset test = load_dataset(dir, false, o.data.test_limit);
  std::printf("train: %ld images, test: %ld images, %zu classes\n", static_cast<long>(train.size()),
              static_cast<long>(test.size()), train.class_names.size());
  net_cfg.classes = static_cast<Index>(train.class_names.size());  // the model scores the data's classes, no more

  auto model = make_reference_net<float>(net_cfg);
  Rng rng(seed);
  init_model(*model, r.init, rng);
  auto optimizer = make_optimizer<float>(r);
  auto schedule = make_schedule(r, (train.size() + r.batch - 1) / r.batch);
  r.out_dir = folder->dir();
  Trainer<float> trainer(*model, *optimizer, *schedule, r);
  trainer.use_run_folder(*folder);
  if (teacher) trainer.distill_from(*teacher);
  if (r.precise_bn)
    trainer.on_epoch_trained = [&](int epoch) {
      if (epoch == r.epochs) recompute_batchnorm_statistics(*model, train, r.batch, &r.augment, seed);
    };
  describe_run(trainer.record(), r, norm, command);
  trainer.record().config = run_config(r, norm, net_cfg, seed, teacher_desc, train, test, dir);
  if (resume) resume_run(trainer, *resume, r.epochs);
  print_run_header(r, norm, net_cfg, *model, seed, teacher_desc, *folder);
  ConsoleProgress progress;
  progress.attach(trainer);
  MetricsJsonWriter metrics(folder->dir());
  trainer.observe(metrics);
  const RunRecord result = trainer.fit(train, test, &r.augment);
  const ReportImages images = report_images(train, test, trainer.last_eval().predictions);
  write_report(folder->dir() + "/report", result, &images);
  print_run_result(result, *folder);
  return 0;
}

// eval --precise-bn: as training with --precise-bn on does after its last epoch, with the run's
// seed and batch size (the checkpoint's metadata, read strictly) and the improved recipe's
// augmentation (horizontal flips).
void recompute_checkpoint_batchnorm(Module<float>& model, const std::string& ck, const std::string& data) {
  const Checkpoint c = load_checkpoint(ck);
  const Index batch = parse_integer(c.meta_at("batch"), 1, 1 << 20, ck + ": metadata 'batch'");
  const auto seed = static_cast<std::uint64_t>(parse_integer(c.meta_at("seed"), 0, INT64_MAX, ck + ": metadata 'seed'"));
  const ImageDataset train = load_dataset(data, true, 0);
  AugmentConfig flips = improved_recipe().augment;
  const Index layers = recompute_batchnorm_statistics(model, train, batch, &flips, seed);
  std::printf("recomputed the statistics of %ld BatchNorm layers over the %ld training images\n", static_cast<long>(layers),
              static_cast<long>(train.size()));
}

int cmd_eval(const EvalOptions& o) {
  set_threads(o.data);
  std::vector<std::string> names;
  auto model = load_model(o.checkpoint, &names);
  const ImageDataset test = load_dataset(o.data.dir, false, o.data.test_limit);
  if (o.precise_bn) recompute_checkpoint_batchnorm(*model, o.checkpoint, o.data.dir);
  const TestTimeAugmentation& tta = o.tta;
  const EvalResult r = evaluate(*model, test, o.eval_batch, {}, tta);
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

int cmd_predict(const PredictOptions& o) {
  std::vector<std::string> names;
  auto model = load_model(o.checkpoint, &names);
  LogSoftmax<float> logsoftmax;
  Tensor<float> x(Shape{1, 3, 32, 32});
  for (const std::string& path : o.images) {
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

int cmd_report(const ReportOptions& o) {
  std::vector<RunRecord> runs;
  for (const std::string& d : o.run_dirs) runs.push_back(load_run_record(d));
  namespace fs = std::filesystem;
  const std::string& out = o.out;
  fs::create_directories(out);
  std::string page;
  if (runs.size() == 1) {
    // Rebuilding elsewhere: bring the run's image grids along (write_report reuses them).
    const fs::path from = fs::path(o.run_dirs.front()) / "report";
    for (const char* f : {"misclassified.png", "samples.png", "report_images.json"})
      if (fs::exists(from / f) && !fs::exists(fs::path(out) / f)) fs::copy_file(from / f, fs::path(out) / f);
    page = write_report(out, runs.front(), nullptr);
  } else {
    std::vector<std::string> links;  // each run's own report, relative to the comparison page
    for (const std::string& d : o.run_dirs) {
      const fs::path report = fs::path(d) / "report" / "index.html";
      links.push_back(fs::exists(report) ? fs::relative(report, out).string() : std::string());
    }
    page = write_comparison(out, runs, links);
  }
  std::printf("wrote %s\n", page.c_str());
  return 0;
}


std::string command_line(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  return command;
}

int run_command(const CommandLine& cli, const CLI::App& cmd, const std::string& command) {
  const std::string& name = cmd.get_name();
  if (name == "summary") return cmd_summary(cli.summary);
  if (name == "train") return cmd_train(cli.train, command);
  if (name == "eval") return cmd_eval(cli.eval);
  if (name == "predict") return cmd_predict(cli.predict);
  return cmd_report(cli.report);
}

// Results go to standard output: a write that failed there (a full disk, `> /dev/full`, a
// closed pipe) is an error, not a success.
int finish_output(int code) {
  if (std::fflush(stdout) == 0 && !std::ferror(stdout)) return code;
  std::fprintf(stderr, "glia-cifar10: error: cannot write the results to standard output: %s\n", std::strerror(errno));
  return code == 0 ? 1 : code;
}

// A usage error: the message, the command's usage line and where its flags are listed.
int usage_error(const CommandLine& cli, const std::string& message) {
  const CLI::App& app = cli.app;
  const auto& given = app.get_subcommands();
  const CLI::App& cmd = given.empty() ? app : *given.front();
  const std::string name = given.empty() ? "glia-cifar10" : "glia-cifar10 " + cmd.get_name();
  // No command: the list of commands; a command: its usage line (its flags are many).
  std::string usage = given.empty() ? app.help() : cli.formatter->make_usage(&cmd, name);
  while (!usage.empty() && usage.back() == '\n') usage.pop_back();
  std::fprintf(stderr, "glia-cifar10: %s\n%s\nRun '%s --help' for %s.\n", message.c_str(), usage.c_str(), name.c_str(),
               given.empty() ? "the commands" : "every flag");
  return finish_output(kUsageError);
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine cli;
  try {
    const CLI::App& cmd = cli.parse(argc, argv);
    return finish_output(run_command(cli, cmd, command_line(argc, argv)));
  } catch (const CLI::CallForHelp& e) {
    return finish_output(cli.app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    return finish_output(cli.app.exit(e));
  } catch (const CLI::ParseError& e) {
    return usage_error(cli, e.what());
  } catch (const UsageError& e) {
    return usage_error(cli, e.what());
  } catch (const ValueError& e) {
    std::fprintf(stderr, "glia-cifar10: %s\n", e.what());
    return finish_output(kUsageError);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glia-cifar10: error: %s\n", e.what());
    return finish_output(1);
  }
}
