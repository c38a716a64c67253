// glia-cifar10: train, evaluate and use the 48,178-parameter CIFAR-10 reference network.
//
//   glia-cifar10 summary | train | eval | predict | report  [flags]   (--help for each command)
// The command line is declared in command_line.hpp (CLI11); each command here receives its
// options parsed and checked. Everything here is a thin layer over the library.
#include <glia/data/cifar10.hpp>
#include <glia/glia.hpp>
#include <glia/io.hpp>
#include <glia/model_io/state_dict.hpp>
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
#include <optional>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "ranks.hpp"
#include "run_support.hpp"

#ifdef GLIA_HAVE_GIT_COMMIT
#include "git_commit.hpp"
#endif

using namespace glia;
using namespace glia_cifar10;

namespace {

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

// The run folder: --out, else the folder of the --resume checkpoint, else runs/<norm>; the
// teacher is an input, never one of its outputs.
std::unique_ptr<RunFolder> open_run_folder(const TrainOptions& o, const Checkpoint* resume) {
  std::vector<RunInput> inputs;
  if (o.teacher) inputs.push_back({*o.teacher, "--teacher"});
  return glia_cli::open_run_folder(o.out, std::string("runs/") + norm_kind_name(o.norm), resume, o.overwrite, inputs);
}

// What the run records as its settings; on resume each must equal the run's (or be accepted).
std::map<std::string, std::string> run_config(const Recipe& r, NormKind norm, const ReferenceNetConfig& net, std::uint64_t seed,
                                              const std::string& teacher_desc, const ImageDataset& train,
                                              const ImageDataset& test, const std::string& data) {
  std::map<std::string, std::string> c = glia_cli::recipe_settings(r);
  c.insert({{"norm", norm_kind_name(norm)}, {"widths", net.widths()}, {"classes", std::to_string(net.classes)},
            {"dropout", detail::cat(r.dropout)}, {"precise_bn", r.precise_bn ? "on" : "off"},
            {"average", r.average_decay > 0 ? detail::cat("decay=", r.average_decay, " from_epoch=", r.average_from) : "off"},
            {"distill", r.distill_weight > 0 ? detail::cat("weight=", r.distill_weight, " temperature=", r.distill_temperature,
                                                           " teacher=", teacher_desc)
                                                : "off"},
            {"train_images", std::to_string(train.size())}, {"test_images", std::to_string(test.size())}, {"data", data}});
  c["seed"] = std::to_string(seed);
  return c;
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
                            glia_cli::weights_fingerprint(*teacher), ")");
  return teacher;
}

int cmd_train(const TrainOptions& o, const std::string& command, const glia_cli::Ranks& ranks) {
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
  const std::unique_ptr<RunFolder> folder = ranks.leader() ? open_run_folder(o, resume.get()) : nullptr;
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
  r.out_dir = folder ? folder->dir() : "";  // rank 0 alone writes
  Trainer<float> trainer(*model, *optimizer, *schedule, r);
  if (folder) trainer.use_run_folder(*folder);
  glia_cli::distribute(trainer, ranks, r.batch);
  if (teacher) trainer.distill_from(*teacher);
  PreciseBatchNorm<float> precise_bn(*model, train, r.batch, &r.augment, seed, r.epochs);
  if (r.precise_bn) trainer.add(precise_bn);
  describe_run(trainer.record(), r, norm, command);
  trainer.record().config = run_config(r, norm, net_cfg, seed, teacher_desc, train, test, dir);
  if (resume) glia_cli::resume_run(trainer, *resume, r.epochs);
  if (folder) print_run_header(r, norm, net_cfg, *model, seed, teacher_desc, *folder);
  ConsoleProgress progress;
  progress.attach(trainer);
  std::optional<MetricsJsonWriter> metrics;
  if (folder) trainer.observe(metrics.emplace(folder->dir()));
  const std::uint64_t steps_before = optimizer->steps();  // this session's steps, for print_traffic
  const RunRecord result = trainer.fit(train, test, &r.augment);
  glia_cli::print_traffic(ranks, optimizer->steps() - steps_before);
  if (!folder) return 0;  // another rank than 0: rank 0 writes the report and model files
  const ReportImages images = glia_cli::report_images(train, test, trainer.last_eval().predictions);
  write_report(folder->dir() + "/report", result, &images);
  // The final and best models as model files, under torch_ref.py's state_dict names.
  glia_cli::write_model_files(*folder, *model, Shape{3, 32, 32},
                              model_data_metadata(train.class_names, r.augment.normalization(), 3),
                              [&net_cfg] { return make_reference_net<float>(net_cfg); }, reference_net_state_dict_names(*model));
  glia_cli::print_run_result(result, *folder);
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

bool is_safetensors(const std::string& path) {
  const std::string ext = ".safetensors";
  return path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
}

// The network of eval's --checkpoint: a .ckpt rebuilds its own; a .safetensors is a PyTorch
// state_dict of torch_ref.py's Net(--norm), loaded by name (model_io/state_dict.hpp), which
// refuses a missing, extra or mis-shaped tensor.
std::unique_ptr<Sequential<float>> load_eval_model(const EvalOptions& o, std::vector<std::string>* class_names) {
  if (!is_safetensors(o.checkpoint)) {
    if (o.norm) throw UsageError("--norm is for a .safetensors --checkpoint: " + quoted(o.checkpoint) + " records its own");
    return load_model(o.checkpoint, class_names);
  }
  if (o.precise_bn) throw UsageError("--precise-bn needs a .ckpt checkpoint (its seed and batch size), not " + quoted(o.checkpoint));
  auto model = make_reference_net<float>(net_config(o.norm.value_or(NormKind::Batch), 0.0));
  load_state_dict(o.checkpoint, *model, reference_net_state_dict_names(*model));
  *class_names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return model;
}

// eval --save-logits: the model's outputs [N, classes] for the test images (normalised as in
// evaluate, no test-time augmentation) and their labels, as a safetensors file.
void save_logits(Module<float>& model, const ImageDataset& test, Index batch, const std::string& path) {
  const AugmentConfig plain = AugmentConfig::normalize_only({});
  const Index classes = model_classes(model, test);
  SafeTensorOut logits{"logits", {test.size(), classes}, {}, {}, false}, labels{"labels", {test.size()}, {}, {}, true};
  logits.f32.reserve(static_cast<std::size_t>(test.size() * classes));
  Tensor<float> x;
  std::vector<std::int32_t> y;
  std::vector<Index> idx;
  for (Index b = 0; b < test.size(); b += batch) {
    const Index n = std::min(batch, test.size() - b);
    idx.resize(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) idx[static_cast<std::size_t>(i)] = b + i;
    make_batch(x, y, test, idx.data(), n, &plain, 0, 0);
    const Tensor<float>& out = model.forward(x, Mode::Eval);
    logits.f32.insert(logits.f32.end(), out.begin(), out.end());
    labels.i64.insert(labels.i64.end(), y.begin(), y.end());
  }
  write_safetensors(path, {logits, labels}, {});
}

int cmd_eval(const EvalOptions& o) {
  set_threads(o.data);
  std::vector<std::string> names;
  auto model = load_eval_model(o, &names);
  const ImageDataset test = load_dataset(o.data.dir, false, o.data.test_limit);
  if (o.precise_bn) recompute_checkpoint_batchnorm(*model, o.checkpoint, o.data.dir);
  if (o.save_weights) {
    save_state_dict(*o.save_weights, *model, reference_net_state_dict_names(*model));
    std::printf("wrote the weights as a PyTorch state_dict to %s\n", o.save_weights->c_str());
  }
  if (o.save_logits) {
    save_logits(*model, test, o.eval_batch, *o.save_logits);
    std::printf("wrote the logits of %ld test images to %s\n", static_cast<long>(test.size()), o.save_logits->c_str());
  }
  const TestTimeAugmentation& tta = o.tta;
  const EvalResult r = evaluate(*model, test, o.eval_batch, {}, tta);
  std::printf("test loss %.4f, accuracy %.2f%% (%lld/%lld), test-time augmentation %s\n", r.loss, 100.0 * r.accuracy(),
              static_cast<long long>(r.correct), static_cast<long long>(r.total), tta.name().c_str());
  std::printf("weights fnv1a64 %s\n", glia_cli::weights_fingerprint(*model).c_str());
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

int run_command(const CommandLine& cli, const CLI::App& cmd, const std::string& command, const glia_cli::Ranks& ranks) {
  const std::string& name = cmd.get_name();
  if (name == "summary") return cmd_summary(cli.summary);
  if (name == "train") return cmd_train(cli.train, command, ranks);
  if (name == "eval") return cmd_eval(cli.eval);
  if (name == "predict") return cmd_predict(cli.predict);
  return glia_cli::write_report_command(cli.report.run_dirs, cli.report.out);
}

constexpr const char* kProgram = "glia-cifar10";

}  // namespace

int main(int argc, char** argv) {
  CommandLine cli;
  const glia_cli::Ranks ranks(argc, argv);  // under mpirun: this process's rank (data-parallel training)
  return ranks.finish(glia_cli::run_program(kProgram, cli, argc, argv, [&](const CLI::App& cmd, const std::string& command) {
    return run_command(cli, cmd, command, ranks);
  }));
}
