// examples/cifar10/command_line.hpp: glia-cifar10's command line, declared with CLI11.
//
// Every flag is declared once, below: its name, help, type, default and check; CLI11 builds the
// usage and --help from those declarations and parses argv into one options struct per command
// (SummaryOptions, TrainOptions, EvalOptions, PredictOptions, ReportOptions in CommandLine).
// - Numbers are read by core/parse.hpp (whole decimal text, finite, within the flag's range),
//   not by CLI11, whose conversion reads "010" as octal 8 and lets "nan" through range checks.
// - Names are checked against the library's own lists and parsers (recipe.hpp's *_names,
//   parse_norm_kind, parse_tta), so the command line accepts what the library does.
// - Refused with CLI::ParseError (main.cpp: exit 2, with the command's usage): an unknown flag,
//   any flag given twice (switches too), a flag without its value, an operand a command does not
//   take, a missing required flag or operand, a value out of range, two flags that exclude each
//   other. The message names the flag.
// - The train flags write straight into TrainOptions::recipe: CLI11 runs the options' callbacks
//   in the order they are declared, so --recipe (declared first, and always run) sets the whole
//   recipe before any other flag changes a field of it, and --no-augment (declared after
//   --crop-pad, --cutout and --hflip) turns them all off whatever their order on the line.
// finish_train_options then applies what depends on several flags (UsageError).
#pragma once

#include <CLI/CLI.hpp>

#include <glia/core/parse.hpp>
#include <glia/models/reference_net.hpp>
#include <glia/train/recipe.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace glia_cifar10 {

using glia::Index;

// A mistake in the use of the command line found after CLI11's parse (exit 2, as CLI's own).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// --data's default: $GLIA_DATA, else $CIFAR10_DIR, else data/cifar-10-batches-bin.
inline std::string default_data_dir() {
  for (const char* env : {"GLIA_DATA", "CIFAR10_DIR"})
    if (const char* v = std::getenv(env); v && *v) return v;
  return "data/cifar-10-batches-bin";
}

// What train and eval read: the data folder, the test images, the threads.
struct DataOptions {
  std::string dir = default_data_dir();
  Index test_limit = 0;  // 0: every test image
  int threads = 0;       // 0: not given, OpenMP's default
};

struct SummaryOptions {
  glia::NormKind norm = glia::NormKind::Batch;
};

struct TrainOptions {
  glia::Recipe recipe = glia::reference_recipe();  // with every hyperparameter flag applied
  glia::NormKind norm = glia::NormKind::Batch;
  DataOptions data;
  Index train_limit = 0;
  double width = 1.0;
  std::optional<std::string> out, resume, teacher;
  bool overwrite = false;
};

struct EvalOptions {
  std::string checkpoint;
  DataOptions data;
  Index eval_batch = 100;
  glia::TestTimeAugmentation tta;
  bool precise_bn = false;
};

struct PredictOptions {
  std::string checkpoint;
  std::vector<std::string> images;
};

struct ReportOptions {
  std::vector<std::string> run_dirs;
  std::string out;
};

// A flag whose text `read` converts (a core/parse.hpp number, a library name): a FormatError
// names the flag already (the flag is its `where`), a ValueError is prefixed with it.
template <typename T, typename Read>
CLI::Option* add_read(CLI::App& cmd, const std::string& flag, T& target, Read read, const std::string& type,
                      const std::string& help) {
  auto set = [&target, read, flag](const std::string& text) {
    try {
      target = read(text);
    } catch (const glia::FormatError& e) {
      throw CLI::ValidationError(e.what());
    } catch (const glia::ValueError& e) {
      throw CLI::ValidationError(flag, e.what());
    }
  };
  return cmd.add_option_function<std::string>(flag, set, help)->type_name(type);
}

template <typename T>
CLI::Option* add_integer(CLI::App& cmd, const std::string& flag, T& target, std::int64_t lo, std::int64_t hi,
                         const std::string& help) {
  auto read = [flag, lo, hi](const std::string& text) { return static_cast<T>(glia::parse_integer(text, lo, hi, flag)); };
  return add_read(cmd, flag, target, read, "INT", glia::detail::cat(help, " (", lo, " to ", hi, ")"))
      ->default_str(glia::detail::cat(target));
}

inline CLI::Option* add_real(CLI::App& cmd, const std::string& flag, double& target, double lo, double hi,
                             const std::string& help) {
  auto read = [flag, lo, hi](const std::string& text) { return glia::parse_real(text, lo, hi, flag); };
  return add_read(cmd, flag, target, read, "X", glia::detail::cat(help, " (", lo, " to ", hi, ")"))
      ->default_str(glia::detail::cat(target));
}

inline CLI::Option* add_name(CLI::App& cmd, const std::string& flag, std::string& target,
                             const std::vector<std::string>& names, const std::string& help) {
  return cmd.add_option(flag, target, help)->check(CLI::IsMember(names))->capture_default_str();
}

inline CLI::Option* add_text(CLI::App& cmd, const std::string& flag, std::optional<std::string>& target,
                             const std::string& type, const std::string& help) {
  return cmd.add_option_function<std::string>(flag, [&target](const std::string& text) { target = text; }, help)
      ->type_name(type);
}

// A switch: given once at most, and without a value (CLI11 would read --hflip=0 as "off", a
// meaning the flag does not have).
inline CLI::Option* add_switch(CLI::App& cmd, const std::string& flag, bool& target, const std::string& help) {
  return cmd.add_flag(flag, target, help)->multi_option_policy(CLI::MultiOptionPolicy::Throw)->disable_flag_override();
}

inline bool read_on_off(const std::string& text) {
  if (text != "on" && text != "off") throw glia::ValueError("expected on or off, got " + glia::quoted(text));
  return text == "on";
}

inline CLI::Option* add_norm(CLI::App& cmd, glia::NormKind& norm) {
  return add_read(cmd, "--norm", norm, glia::parse_norm_kind, "bn|gn|ln", "BatchNorm, GroupNorm (2 groups) or LayerNorm")
      ->default_str("bn");
}

inline void add_data_flags(CLI::App& cmd, DataOptions& d) {
  cmd.add_option("--data", d.dir,
                 "a CIFAR-10 binary folder (data_batch_1.bin ... test_batch.bin) or an image-folder root "
                 "(ROOT/train/<class>/*.png, ROOT/test/<class>/*.png); default $GLIA_DATA, else $CIFAR10_DIR, "
                 "else data/cifar-10-batches-bin")
      ->type_name("DIR");
  add_integer(cmd, "--test-limit", d.test_limit, 0, Index{1} << 30, "the first N test images, 0 = all");
  const std::int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  add_integer(cmd, "--threads", d.threads, 1, cores, "threads; default OpenMP's (OMP_NUM_THREADS or all cores)")
      ->default_str("");
}

inline void add_eval_batch(CLI::App& cmd, Index& eval_batch) {
  add_integer(cmd, "--eval-batch", eval_batch, 1, Index{1} << 20,
              "test batch size (every layer keeps buffers for the largest batch it saw)");
}

// --tta and its older spelling --tta-flip (= --tta flip), one or the other.
inline void add_tta_flags(CLI::App& cmd, glia::TestTimeAugmentation& tta, const std::string& help) {
  CLI::Option* named = add_read(cmd, "--tta", tta, glia::parse_tta, "none|flip|shiftN|flip+shiftN", help)
                           ->default_str(tta.name());
  cmd.add_flag_callback("--tta-flip", [&tta] { tta = glia::parse_tta("flip"); }, "the same as --tta flip")
      ->multi_option_policy(CLI::MultiOptionPolicy::Throw)
      ->disable_flag_override()
      ->excludes(named);
}

// The run: data, model shape, folder, length. --recipe first (see the top of this file).
inline void add_run_flags(CLI::App& cmd, TrainOptions& o) {
  glia::Recipe& r = o.recipe;
  cmd.add_option_function<std::string>("--recipe", [&r](const std::string& name) { r = glia::recipe_by_name(name); },
                                        "the starting point that the other flags change; their defaults below are "
                                        "the reference recipe's")
      ->check(CLI::IsMember(glia::recipe_names()))
      ->default_str("reference")
      ->force_callback();
  add_data_flags(cmd, o.data);
  add_norm(cmd, o.norm);
  add_integer(cmd, "--epochs", r.epochs, 1, 100000, "epochs to train");
  add_integer(cmd, "--batch", r.batch, 1, Index{1} << 20, "training batch size");
  add_integer(cmd, "--seed", r.seed, 0, std::int64_t{1} << 53, "initialisation, shuffling and augmentation");
  add_integer(cmd, "--train-limit", o.train_limit, 0, Index{1} << 30, "the first N training images, 0 = all");
  add_real(cmd, "--width", o.width, 0.01, 64.0, "every channel width multiplied by M and rounded")->type_name("M");
  add_text(cmd, "--out", o.out, "RUN_DIR",
           "the run folder, default runs/<norm> (with --resume: the checkpoint's folder); a folder holding "
           "another run needs --resume or --overwrite");
  CLI::Option* overwrite = add_switch(cmd, "--overwrite", o.overwrite, "replace the run in --out");
  add_text(cmd, "--resume", o.resume, "CHECKPOINT",
           "continue the run of this checkpoint (last.ckpt) in its folder; with --overwrite that run would be "
           "replaced, so the two exclude each other")
      ->excludes(overwrite);
  add_switch(cmd, "--accept-changes", r.accept_changed_settings,
             "with --resume: accept settings that differ from the run's; each is recorded in metrics.json");
  add_eval_batch(cmd, r.eval_batch);
}

inline void add_optimiser_flags(CLI::App& cmd, glia::Recipe& r) {
  add_name(cmd, "--optimizer", r.optimizer, glia::optimizer_names(), "the optimiser");
  add_real(cmd, "--lr", r.lr, 0.0, 1e3, "peak or base learning rate (piecewise: scales the points)");
  add_real(cmd, "--momentum", r.momentum, 0.0, 1.0, "SGD momentum");
  add_real(cmd, "--weight-decay", r.weight_decay, 0.0, 1.0, "weight decay (not on biases or norm parameters)");
  add_real(cmd, "--l1", r.l1, 0.0, 1.0, "L1 penalty (not on biases or norm parameters)");
  add_name(cmd, "--schedule", r.schedule, glia::schedule_names(), "the learning-rate schedule");
  add_name(cmd, "--init", r.init, glia::init_names(), "the initialiser of Conv2d and Linear weights");
}

inline void add_regularisation_flags(CLI::App& cmd, glia::Recipe& r) {
  add_real(cmd, "--dropout", r.dropout, 0.0, 0.99, "dropout before the classifier");
  add_real(cmd, "--label-smoothing", r.label_smoothing, 0.0, 1.0, "label smoothing");
  add_integer(cmd, "--crop-pad", r.augment.crop_pad, 0, 16, "random crops from the image padded by N pixels");
  add_integer(cmd, "--cutout", r.augment.cutout, 0, 32, "cut out a random N x N square");
  add_switch(cmd, "--hflip", r.augment.hflip, "add horizontal flips");
  cmd.add_flag_callback("--no-augment", [&r] {
       r.augment.ssr_p = r.augment.bc_p = 0;
       r.augment.crop_pad = r.augment.cutout = 0;
       r.augment.hflip = false;
     }, "turn every augmentation off (overrides --crop-pad, --cutout and --hflip)")
      ->multi_option_policy(CLI::MultiOptionPolicy::Throw)
      ->disable_flag_override();
}

// What happens after the last epoch, and distillation.
inline void add_final_model_flags(CLI::App& cmd, TrainOptions& o) {
  glia::Recipe& r = o.recipe;
  add_tta_flags(cmd, r.final_tta, "after the last epoch, also evaluate with test-time augmentation");
  add_read(cmd, "--precise-bn", r.precise_bn, read_on_off, "on|off",
           "after the last epoch, recompute the BatchNorm statistics over one pass of the training set")
      ->default_str("off");
  add_real(cmd, "--average-decay", r.average_decay, 0.0, 0.999999,
           "0 (off) or the decay of an exponential moving average of the weights, the final weights");
  const std::string from_flag = "--average-from";
  auto first_epoch = [&r, from_flag](const std::string& text) {  // --epochs' callback has run: declared before
    return static_cast<int>(glia::parse_integer(text, 1, r.epochs, from_flag));
  };
  add_read(cmd, from_flag, r.average_from, first_epoch, "EPOCH",
           "the epoch whose first step starts the average (1 to --epochs)");
  add_text(cmd, "--teacher", o.teacher, "CHECKPOINT", "distil from the model of this checkpoint (any --width)");
  add_real(cmd, "--distill-weight", r.distill_weight, 0.0, 1.0, "the weight of the teacher's term; 0.5 with --teacher");
  add_real(cmd, "--distill-temperature", r.distill_temperature, 0.01, 1000.0,
           "both scores are divided by T before their softmax")
      ->type_name("T");
}

// Declares flags under a heading of the help, from here to the next heading.
inline void help_group(CLI::App& cmd, std::size_t first_option, const std::string& heading) {
  const std::vector<CLI::Option*> options = cmd.get_options([](CLI::Option*) { return true; });
  for (std::size_t i = first_option; i < options.size(); ++i) options[i]->group(heading);
}

inline CLI::App* add_train_command(CLI::App& app, TrainOptions& o) {
  CLI::App* cmd = app.add_subcommand("train", "train the reference network, writing a run folder");
  const auto count = [cmd] { return cmd->get_options().size(); };
  std::size_t first = count();
  add_run_flags(*cmd, o);
  help_group(*cmd, first, "The run");
  first = count();
  add_optimiser_flags(*cmd, o.recipe);
  help_group(*cmd, first, "Optimiser and schedule");
  first = count();
  add_regularisation_flags(*cmd, o.recipe);
  help_group(*cmd, first, "Regularisation and augmentation");
  first = count();
  add_final_model_flags(*cmd, o);
  help_group(*cmd, first, "The final model, distillation");
  return cmd;
}

// The rules between flags that no single declaration says (after the parse).
inline void finish_train_options(TrainOptions& o, const CLI::App& cmd) {
  glia::Recipe& r = o.recipe;
  if (cmd.count("--average-from") == 0) r.average_from = std::min(r.average_from, r.epochs);
  if (o.teacher && cmd.count("--distill-weight") == 0 && r.distill_weight == 0) r.distill_weight = 0.5;
  if (r.distill_weight > 0 && !o.teacher)
    throw UsageError(glia::detail::cat("distillation (--distill-weight ", r.distill_weight,
                                       ") needs --teacher CHECKPOINT, e.g. a wider network trained with --width 2"));
}

inline CLI::App* add_eval_command(CLI::App& app, EvalOptions& o) {
  CLI::App* cmd = app.add_subcommand("eval", "evaluate a checkpoint on the test set");
  cmd->add_option("--checkpoint", o.checkpoint, "the checkpoint to evaluate")->required()->type_name("FILE");
  add_data_flags(*cmd, o.data);
  add_eval_batch(*cmd, o.eval_batch);
  add_tta_flags(*cmd, o.tta, "evaluate with test-time augmentation");
  add_switch(*cmd, "--precise-bn", o.precise_bn,
             "first recompute the BatchNorm statistics (the run's seed and batch size, flips as in improved)");
  return cmd;
}

inline CLI::App* add_predict_command(CLI::App& app, PredictOptions& o) {
  CLI::App* cmd = app.add_subcommand("predict", "classify image files (PNG, JPEG, BMP)");
  cmd->add_option("--checkpoint", o.checkpoint, "the model")->required()->type_name("FILE");
  cmd->add_option("IMAGE", o.images, "image files")->required();
  return cmd;
}

inline CLI::App* add_report_command(CLI::App& app, ReportOptions& o) {
  CLI::App* cmd = app.add_subcommand("report", "rebuild a run's report, or compare several runs (docs/report.md)");
  cmd->add_option("RUN_DIR", o.run_dirs, "run folders")->required();
  cmd->add_option("--out", o.out, "the report's folder")->required()->type_name("DIR");
  return cmd;
}

// The program's commands and their options; parse() fills the options of the command given.
struct CommandLine {
  CLI::App app{"glia-cifar10: train, evaluate and use the CIFAR-10 reference network", "glia-cifar10"};
  std::shared_ptr<CLI::Formatter> formatter = std::make_shared<CLI::Formatter>();  // shared by the commands
  SummaryOptions summary;
  TrainOptions train;
  EvalOptions eval;
  PredictOptions predict;
  ReportOptions report;

  CommandLine() {
    app.require_subcommand(1);
    formatter->column_width(36);
    app.formatter(formatter);
    add_norm(*app.add_subcommand("summary", "print the network's layers and parameter count"), summary.norm);
    add_train_command(app, train);
    add_eval_command(app, eval);
    add_predict_command(app, predict);
    add_report_command(app, report);
    app.set_help_all_flag("--help-all", "print every command's flags");  // after the commands: not theirs
  }
  CommandLine(const CommandLine&) = delete;  // the declarations point into this object
  CommandLine& operator=(const CommandLine&) = delete;

  // The command given (throws CLI::ParseError, and UsageError for a word that is no command).
  const CLI::App& parse(int argc, char** argv) {
    const std::string first = argc > 1 ? argv[1] : "";
    const auto named = [&](CLI::App* cmd) { return cmd->get_name() == first; };
    const bool help = first == "-h" || first == "--help" || first == "--help-all";
    if (argc > 1 && !help && app.get_subcommands(named).empty())
      throw UsageError("unknown command " + glia::quoted(first) + ": expected summary, train, eval, predict or report");
    app.parse(argc, argv);
    const CLI::App& cmd = *app.get_subcommands().front();
    if (cmd.get_name() == "train") finish_train_options(train, cmd);
    return cmd;
  }
};

}  // namespace glia_cifar10
