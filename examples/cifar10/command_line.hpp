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

#include "cli_flags.hpp"

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

using namespace glia_cli;  // the flags glia's programs share (apps/common/cli_flags.hpp)

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
  std::string checkpoint;  // a .ckpt, or a weights-only .safetensors state_dict (PyTorch's names)
  std::optional<glia::NormKind> norm;  // the network of a .safetensors file (bn when not given)
  DataOptions data;
  Index eval_batch = 100;
  glia::TestTimeAugmentation tta;
  bool precise_bn = false;
  std::optional<std::string> save_weights, save_logits;
};

struct PredictOptions {
  std::string checkpoint;
  std::vector<std::string> images;
};

inline CLI::Option* add_norm(CLI::App& cmd, glia::NormKind& norm) {
  return add_read(cmd, "--norm", norm, glia::parse_norm_kind, "bn|gn|ln", "BatchNorm, GroupNorm (2 groups) or LayerNorm")
      ->default_str("bn");
}

// The run: data, model shape, folder, length. --recipe first (see the top of this file).
inline void add_run_flags(CLI::App& cmd, TrainOptions& o) {
  glia::Recipe& r = o.recipe;
  add_recipe_flag(cmd, r);
  add_data_flags(cmd, o.data);
  add_norm(cmd, o.norm);
  add_run_length_flags(cmd, r, o.train_limit);
  add_real(cmd, "--width", o.width, 0.01, 64.0, "every channel width multiplied by M and rounded")->type_name("M");
  add_run_folder_flags(cmd, o.out, o.overwrite, o.resume, r.accept_changed_settings, "runs/<norm>");
  add_eval_batch(cmd, r.eval_batch);
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
  cmd->add_option("--checkpoint", o.checkpoint,
                  "the checkpoint to evaluate; a FILE.safetensors is a PyTorch state_dict of torch_ref.py's Net (docs/interop.md)")
      ->required()
      ->type_name("FILE");
  add_read(*cmd, "--norm", o.norm, glia::parse_norm_kind, "bn|gn|ln",
           "the network of a .safetensors --checkpoint (default bn; a .ckpt records its own)");
  add_text(*cmd, "--save-weights", o.save_weights, "FILE.safetensors",
           "write the network's weights as a PyTorch state_dict (torch_ref.py's names)");
  add_text(*cmd, "--save-logits", o.save_logits, "FILE.safetensors",
           "write the logits [N, classes] (F32) and labels [N] (I64) of the test images, without test-time augmentation");
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
    const CLI::App& cmd = parse_command(app, argc, argv);
    if (cmd.get_name() == "train") finish_train_options(train, cmd);
    return cmd;
  }
};

}  // namespace glia_cifar10
