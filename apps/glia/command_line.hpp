// apps/glia/command_line.hpp: the glia program's command line, declared with CLI11.
//
//   glia summary | train | eval | predict | report | export  [flags]   (--help for each command)
// Every flag is declared once, here or in apps/common/cli_flags.hpp (the flags glia-cifar10
// shares); CLI11 builds the usage and --help, and parse() fills one options struct per command.
// Refused with CLI::ParseError (exit 2, with the command's usage): an unknown command or flag,
// a flag given twice, a missing value, operand or required flag, a value out of range.
// finish_train_options then applies the rules between flags (UsageError, exit 2).
#pragma once

#include <CLI/CLI.hpp>

#include <glia/core/parse.hpp>
#include <glia/train/recipe.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli_flags.hpp"

namespace glia_program {

using namespace glia_cli;

// Where a model comes from: a model file (.safetensors with its spec), or a spec (.json) with
// weights from a safetensors file (--weights, e.g. a PyTorch state_dict), and the normalisation
// when the file does not carry one (--mean/--std).
struct ModelOptions {
  std::string model;
  std::optional<std::string> weights, mean, std;
};

// How images are read for a model: resized to H x W, a validation split of a folder without test/.
struct GeometryOptions {
  std::vector<Index> resize;  // {} or {H, W}
  double val_fraction = 0;
};

struct SummaryOptions {
  std::string model;
};

struct TrainOptions {
  glia::Recipe recipe = glia::reference_recipe();
  std::string spec;
  DataOptions data;
  GeometryOptions geometry;
  Index train_limit = 0;
  std::optional<std::string> out, resume, init_from;
  bool overwrite = false;
};

struct EvalOptions {
  ModelOptions model;
  DataOptions data;
  GeometryOptions geometry;
  std::uint64_t seed = glia::reference_recipe().seed;  // of the --val-fraction split
  Index eval_batch = 100;
  glia::TestTimeAugmentation tta;
};

struct PredictOptions {
  ModelOptions model;
  std::vector<std::string> images;
};

struct ExportOptions {
  ModelOptions model;
  std::string onnx;
};

inline void add_model_flags(CLI::App& cmd, ModelOptions& m) {
  cmd.add_option("--model", m.model, "a model file (MODEL.safetensors, as glia train writes) or a spec (SPEC.json)")
      ->required()
      ->type_name("FILE");
  add_text(cmd, "--weights", m.weights, "FILE.safetensors",
           "load these weights by name (a glia model file or PyTorch's save_file(model.state_dict()))");
  add_text(cmd, "--mean", m.mean, "M1,M2,M3", "the normalisation's per-channel means, when the model file has none");
  add_text(cmd, "--std", m.std, "S1,S2,S3", "the normalisation's per-channel standard deviations, with --mean");
}

inline void add_data_dir_flags(CLI::App& cmd, DataOptions& d, GeometryOptions& g) {
  add_data_flags(cmd, d);
  cmd.get_option("--data")
      ->description("a CIFAR-10 binary folder, an MNIST IDX folder, or an image folder (ROOT/train/<class>/*, "
                    "ROOT/test/<class>/*), detected by its contents")
      ->required();
  cmd.add_option("--resize", g.resize, "resize every image to H x W (bilinear), e.g. --resize 28 28")
      ->expected(2)
      ->type_name("H W")
      ->check(CLI::Range(Index{1}, Index{4096}));
  add_real(cmd, "--val-fraction", g.val_fraction, 0.0, 0.9,
           "for an image folder without test/: this fraction of each class becomes the test set (seeded)");
}

inline CLI::App* add_train_command(CLI::App& app, TrainOptions& o) {
  CLI::App* cmd = app.add_subcommand("train", "train the network of a model spec on a data folder, writing a run folder");
  glia::Recipe& r = o.recipe;
  const auto count = [cmd] { return cmd->get_options().size(); };
  std::size_t first = count();
  add_recipe_flag(*cmd, r);
  cmd->add_option("--model", o.spec, "the network: a model spec (docs/model-spec.md)")->required()->type_name("SPEC.json");
  add_data_dir_flags(*cmd, o.data, o.geometry);
  add_run_length_flags(*cmd, r, o.train_limit);
  add_run_folder_flags(*cmd, o.out, o.overwrite, o.resume, r.accept_changed_settings, "runs/<spec file name>");
  add_text(*cmd, "--init-from", o.init_from, "FILE.safetensors", "start from these weights (fine-tuning), loaded by name");
  add_eval_batch(*cmd, r.eval_batch);
  help_group(*cmd, first, "The run");
  first = count();
  add_optimiser_flags(*cmd, r);
  help_group(*cmd, first, "Optimiser and schedule");
  first = count();
  add_regularisation_flags(*cmd, r);
  add_tta_flags(*cmd, r.final_tta, "after the last epoch, also evaluate with test-time augmentation");
  help_group(*cmd, first, "Regularisation and augmentation");
  return cmd;
}

// The rules between flags that no single declaration says (after the parse). The spec's
// layers are initialised as PyTorch does unless --init is given; the spec says the dropout;
// without --recipe and --schedule the schedule is one cycle.
inline void finish_train_options(TrainOptions& o, const CLI::App& cmd) {
  if (cmd.count("--init") == 0) o.recipe.init = "torch";
  // The reference recipe's piecewise schedule is drawn for its 20 epochs; one cycle fits any length.
  if (cmd.count("--schedule") == 0 && cmd.count("--recipe") == 0) o.recipe.schedule = "onecycle";
  if (cmd.count("--dropout") != 0)
    throw UsageError("--dropout: the model spec says where dropout goes and how much ({\"type\": \"Dropout\", \"p\": 0.1})");
}

inline CLI::App* add_eval_command(CLI::App& app, EvalOptions& o) {
  CLI::App* cmd = app.add_subcommand("eval", "evaluate a model on a data folder's test set");
  add_model_flags(*cmd, o.model);
  add_data_dir_flags(*cmd, o.data, o.geometry);
  add_integer(*cmd, "--seed", o.seed, 0, std::int64_t{1} << 53, "the seed of the --val-fraction split: the training run's --seed");
  add_eval_batch(*cmd, o.eval_batch);
  add_tta_flags(*cmd, o.tta, "evaluate with test-time augmentation");
  return cmd;
}

inline CLI::App* add_predict_command(CLI::App& app, PredictOptions& o) {
  CLI::App* cmd = app.add_subcommand("predict", "classify image files (PNG, JPEG, BMP; resized to the model's input)");
  add_model_flags(*cmd, o.model);
  cmd->add_option("IMAGE", o.images, "image files")->required();
  return cmd;
}

inline CLI::App* add_export_command(CLI::App& app, ExportOptions& o) {
  CLI::App* cmd = app.add_subcommand("export", "write a model as ONNX (opset 17) for ONNX Runtime and other tools");
  add_model_flags(*cmd, o.model);
  cmd->add_option("--onnx", o.onnx, "the ONNX file to write")->required()->type_name("OUT.onnx");
  return cmd;
}


struct CommandLine {
  CLI::App app{"glia: train, evaluate, use and export your own networks", "glia"};
  std::shared_ptr<CLI::Formatter> formatter = std::make_shared<CLI::Formatter>();
  SummaryOptions summary;
  TrainOptions train;
  EvalOptions eval;
  PredictOptions predict;
  ReportOptions report;
  ExportOptions export_;

  CommandLine() {
    app.require_subcommand(1);
    formatter->column_width(36);
    app.formatter(formatter);
    app.add_subcommand("summary", "print a model's layers and parameter count")
        ->add_option("--model", summary.model, "a model spec (SPEC.json) or a model file (MODEL.safetensors)")
        ->required()
        ->type_name("FILE");
    add_train_command(app, train);
    add_eval_command(app, eval);
    add_predict_command(app, predict);
    add_report_command(app, report);
    add_export_command(app, export_);
    app.set_help_all_flag("--help-all", "print every command's flags");
  }
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  const CLI::App& parse(int argc, char** argv) {
    const CLI::App& cmd = parse_command(app, argc, argv);
    if (cmd.get_name() == "train") finish_train_options(train, cmd);
    return cmd;
  }
};

}  // namespace glia_program
