// glia: train, evaluate, use and export your own networks, defined by a model spec (JSON).
//
//   glia summary | train | eval | predict | report | export  [flags]   (--help for each command)
// The command line is declared in command_line.hpp; the model and data plumbing is in
// model_source.hpp; everything is a thin layer over the library. Exit codes: 0 done, 1 an error
// in a file or the data (the message names it), 2 a usage error.
#include <glia/glia.hpp>
#include <glia/io.hpp>
#include <glia/model_io/model_metadata.hpp>
#include <glia/model_io/onnx_export.hpp>
#include <glia/models/summary.hpp>
#include <glia/report.hpp>
#include <glia/train/progress.hpp>
#include <glia/train/recipe.hpp>
#include <glia/train/trainer.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "model_source.hpp"
#include "ranks.hpp"
#include "run_support.hpp"

using namespace glia;
using namespace glia_program;

namespace {

constexpr const char* kProgram = "glia";

void set_threads(const DataOptions& d) {
  if (d.threads > 0) set_num_threads(d.threads);
}

int cmd_summary(const SummaryOptions& o) {
  ModelOptions m;
  m.model = o.model;
  const Net net = load_net(m, /*need_normalization=*/false);
  std::printf("%s", summary(*net.model, Shape{1, net.input[0], net.input[1], net.input[2]}).c_str());
  std::printf("input %ld x %ld x %ld, %zu classes\n", static_cast<long>(net.input[0]), static_cast<long>(net.input[1]),
              static_cast<long>(net.input[2]), net.classes.size());
  return 0;
}

// The settings a run records (and compares on resume): the recipe's, the spec's, the data's.
std::map<std::string, std::string> train_config(const Recipe& r, const TrainOptions& o, const std::string& spec_text,
                                                const ImageDataset& train, const ImageDataset& test) {
  std::map<std::string, std::string> c = recipe_settings(r);
  c["model"] = spec_text;
  c["data"] = o.data.dir;
  c["train_images"] = std::to_string(train.size());
  c["test_images"] = std::to_string(test.size());
  c["geometry"] = detail::cat(train.channels, "x", train.height, "x", train.width);
  c["val_fraction"] = detail::cat(o.geometry.val_fraction);
  c["init_from"] = o.init_from ? *o.init_from : "none";
  return c;
}

void print_train_header(const Recipe& r, const TrainOptions& o, Module<float>& model, const Normalization& n, Index channels,
                        const RunFolder& folder) {
  std::printf("model: %s, %s parameters; %d epochs, batch %ld, %s, lr %g (%s), %d threads, seed %llu\n", o.spec.c_str(),
              thousands(parameter_count(model)).c_str(), r.epochs, static_cast<long>(r.batch), r.optimizer.c_str(), r.lr,
              r.schedule.c_str(), num_threads(), static_cast<unsigned long long>(r.seed));
  std::printf("normalisation from the training images:");
  for (Index c = 0; c < channels; ++c)
    std::printf(" channel %ld mean %.4f std %.4f", static_cast<long>(c), n.mean[static_cast<std::size_t>(c)],
                n.std[static_cast<std::size_t>(c)]);
  std::printf("\n");
  if (!folder.notice().empty()) std::printf("run folder: %s\n", folder.notice().c_str());
  std::printf("run folder: %s\n", folder.dir().c_str());
  std::fflush(stdout);
}

int cmd_train(const TrainOptions& o, const std::string& command, const glia_cli::Ranks& ranks) {
  set_threads(o.data);
  Recipe r = o.recipe;
  const SpecNet spec = read_spec(o.spec);  // the spec's errors first: they should not wait for the data
  auto make_model = [&spec, &r] { return build_spec_net(spec, r.seed); };
  std::unique_ptr<Sequential<float>> model = make_model();
  std::unique_ptr<Checkpoint> resume;
  if (o.resume) resume = std::make_unique<Checkpoint>(load_checkpoint(*o.resume, "--resume checkpoint"));
  std::vector<RunInput> inputs;
  if (o.init_from) inputs.push_back({*o.init_from, "--init-from"});
  const std::string default_out = "runs/" + std::filesystem::path(o.spec).stem().string();
  const std::unique_ptr<RunFolder> folder =
      ranks.leader() ? glia_cli::open_run_folder(o.out, default_out, resume.get(), o.overwrite, inputs) : nullptr;
  std::printf("%s %s: loading %s\n", kProgram, version_string, o.data.dir.c_str());
  const TrainTestData data = glia_program::load_train_test(o.data, o.geometry, o.train_limit, r.seed);
  check_data_fits(data.train, spec.input, output_count(*model, spec.input), o.data.dir);
  const Normalization norm = compute_normalization(data.train);
  r.augment.mean = norm.mean;
  r.augment.std = norm.std;
  r.augment.channels = norm.channels;
  Rng rng(r.seed);
  init_model(*model, r.init, rng);
  if (o.init_from) load_state_dict(*o.init_from, *model);
  auto optimizer = make_optimizer<float>(r);
  auto schedule = make_schedule(r, (data.train.size() + r.batch - 1) / r.batch);
  r.out_dir = folder ? folder->dir() : "";  // rank 0 alone writes
  Trainer<float> trainer(*model, *optimizer, *schedule, r);
  if (folder) trainer.use_run_folder(*folder);
  glia_cli::distribute(trainer, ranks, r.batch);
  RunRecord& rec = trainer.record();
  rec.name = rec.recipe = std::filesystem::path(o.spec).stem().string();
  rec.norm = "spec";
  rec.threads = num_threads();
  rec.command = command;
  rec.config = train_config(r, o, spec.text, data.train, data.test);
  if (resume) glia_cli::resume_run(trainer, *resume, r.epochs);
  if (folder) print_train_header(r, o, *model, norm, spec.input[0], *folder);
  ConsoleProgress progress;
  progress.attach(trainer);
  std::optional<MetricsJsonWriter> metrics;
  if (folder) trainer.observe(metrics.emplace(folder->dir()));
  const std::uint64_t steps_before = optimizer->steps();  // this session's steps, for print_traffic
  const RunRecord result = trainer.fit(data.train, data.test, &r.augment);
  glia_cli::print_traffic(ranks, optimizer->steps() - steps_before);
  if (!folder) return 0;  // another rank than 0: rank 0 writes the report and model files
  const ReportImages images = glia_cli::report_images(data.train, data.test, trainer.last_eval().predictions);
  write_report(folder->dir() + "/report", result, &images);
  glia_cli::write_model_files(*folder, *model, spec.input, model_data_metadata(data.train.class_names, norm, spec.input[0]),
                              make_model);
  glia_cli::print_run_result(result, *folder);
  std::printf("test outputs fnv1a64 %s (batch %ld)\n", outputs_fingerprint(*model, data.test, norm, r.eval_batch).c_str(),
              static_cast<long>(r.eval_batch));
  return 0;
}

int cmd_eval(const EvalOptions& o) {
  set_threads(o.data);
  const Net net = load_net(o.model, /*need_normalization=*/true);
  const ImageDataset test = load_test_for(o.data, o.geometry, o.seed);
  check_data_fits(test, net.input, static_cast<Index>(net.classes.size()), o.data.dir);
  const EvalResult r = evaluate(*net.model, test, o.eval_batch, *net.normalization, o.tta);
  std::printf("test loss %.4f, accuracy %.2f%% (%lld/%lld), test-time augmentation %s\n", r.loss, 100.0 * r.accuracy(),
              static_cast<long long>(r.correct), static_cast<long long>(r.total), o.tta.name().c_str());
  std::printf("weights fnv1a64 %s\n", glia_cli::weights_fingerprint(*net.model).c_str());
  std::printf("test outputs fnv1a64 %s (batch %ld)\n",
              outputs_fingerprint(*net.model, test, *net.normalization, o.eval_batch).c_str(), static_cast<long>(o.eval_batch));
  std::printf("%-16s %8s\n", "class", "accuracy");
  for (Index c = 0; c < r.confusion.classes(); ++c)
    std::printf("%-16s %7.2f%%\n", net.classes[static_cast<std::size_t>(c)].c_str(), 100.0 * r.confusion.class_accuracy(c));
  return 0;
}

int cmd_predict(const PredictOptions& o) {
  const Net net = load_net(o.model, /*need_normalization=*/true);
  const Index c = net.input[0], h = net.input[1], w = net.input[2];
  LogSoftmax<float> logsoftmax;
  Tensor<float> x(Shape{1, c, h, w});
  for (const std::string& path : o.images) {
    const std::vector<std::uint8_t> chw = decode_image_for(path, net.input);
    normalize_image(x.data(), chw.data(), c, h, w, net.normalization->mean, net.normalization->std);
    const Tensor<float>& logp = logsoftmax.forward(net.model->forward(x, Mode::Eval), Mode::Eval);
    const std::int32_t k = argmax_row(logp.data(), logp.dim(1));
    std::printf("%s: %s (%.1f%%)\n", path.c_str(), net.classes[static_cast<std::size_t>(k)].c_str(),
                100.0 * std::exp(static_cast<double>(logp[k])));
  }
  return 0;
}

int cmd_export(const ExportOptions& o) {
  const Net net = load_net(o.model, /*need_normalization=*/false);
  std::map<std::string, std::string> meta;
  if (net.normalization) meta = model_data_metadata(net.classes, *net.normalization, net.input[0]);
  export_onnx(o.onnx, *net.model, net.input, meta);
  std::printf("wrote %s (opset 17; input \"input\" [N, %ld, %ld, %ld], output \"logits\" [N, %zu])\n", o.onnx.c_str(),
              static_cast<long>(net.input[0]), static_cast<long>(net.input[1]), static_cast<long>(net.input[2]),
              net.classes.size());
  return 0;
}

int run_command(CommandLine& cli, const CLI::App& cmd, const std::string& command, const glia_cli::Ranks& ranks) {
  const std::string& name = cmd.get_name();
  if (name == "summary") return cmd_summary(cli.summary);
  if (name == "train") return cmd_train(cli.train, command, ranks);
  if (name == "eval") return cmd_eval(cli.eval);
  if (name == "predict") return cmd_predict(cli.predict);
  if (name == "export") return cmd_export(cli.export_);
  return glia_cli::write_report_command(cli.report.run_dirs, cli.report.out);
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine cli;
  const glia_cli::Ranks ranks(argc, argv);  // under mpirun: this process's rank (data-parallel training)
  return ranks.finish(glia_cli::run_program(kProgram, cli, argc, argv, [&](const CLI::App& cmd, const std::string& command) {
    return run_command(cli, cmd, command, ranks);
  }));
}
