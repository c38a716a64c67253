// apps/common/cli_flags.hpp: the command-line flags that glia's programs share (glia, glia-cifar10).
//
// Contract:
// - Each add_* declares one flag on a CLI11 command, once: its name, help, type, default and
//   check. Numbers are read by core/parse.hpp (whole decimal text, finite, within the flag's
//   range), not by CLI11, whose conversion reads "010" as octal 8 and lets "nan" through range
//   checks; names are checked against the library's own lists (recipe.hpp's *_names).
// - A bad value is a CLI::ValidationError naming the flag (the programs exit 2 with the
//   command's usage); UsageError is a mistake found after the parse (also exit 2).
// - add_optimiser_flags / add_regularisation_flags write straight into a Recipe (train/recipe.hpp).
#pragma once

#include <CLI/CLI.hpp>

#include <glia/core/parse.hpp>
#include <glia/train/recipe.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace glia_cli {

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

// --recipe: the starting point that the other train flags change. Declared first and always
// run (force_callback): CLI11 runs callbacks in declaration order, so every later flag changes
// a field of the recipe chosen here.
inline void add_recipe_flag(CLI::App& cmd, glia::Recipe& r) {
  cmd.add_option_function<std::string>("--recipe", [&r](const std::string& name) { r = glia::recipe_by_name(name); },
                                        "the starting point that the other flags change; their defaults below are "
                                        "the reference recipe's")
      ->check(CLI::IsMember(glia::recipe_names()))
      ->default_str("reference")
      ->force_callback();
}

// How long a run is: epochs, batch, seed, and how many training images.
inline void add_run_length_flags(CLI::App& cmd, glia::Recipe& r, Index& train_limit) {
  add_integer(cmd, "--epochs", r.epochs, 1, 100000, "epochs to train");
  add_integer(cmd, "--batch", r.batch, 1, Index{1} << 20, "training batch size");
  add_integer(cmd, "--seed", r.seed, 0, std::int64_t{1} << 53, "initialisation, shuffling and augmentation");
  add_integer(cmd, "--train-limit", train_limit, 0, Index{1} << 30, "the first N training images, 0 = all");
}

// Where a run goes: --out (default_out when absent), --overwrite, --resume, --accept-changes.
inline void add_run_folder_flags(CLI::App& cmd, std::optional<std::string>& out, bool& overwrite, std::optional<std::string>& resume,
                                 bool& accept_changes, const std::string& default_out) {
  add_text(cmd, "--out", out, "RUN_DIR",
           "the run folder, default " + default_out + " (with --resume: the checkpoint's folder); a folder holding "
           "another run needs --resume or --overwrite");
  CLI::Option* overwrite_flag = add_switch(cmd, "--overwrite", overwrite, "replace the run in --out");
  add_text(cmd, "--resume", resume, "CHECKPOINT",
           "continue the run of this checkpoint (last.ckpt) in its folder; with --overwrite that run would be "
           "replaced, so the two exclude each other")
      ->excludes(overwrite_flag);
  add_switch(cmd, "--accept-changes", accept_changes,
             "with --resume: accept settings that differ from the run's; each is recorded in metrics.json");
}

// `report RUN_DIR... --out DIR`: a run's report again, or a comparison of several runs.
struct ReportOptions {
  std::vector<std::string> run_dirs;
  std::string out;
};

inline CLI::App* add_report_command(CLI::App& app, ReportOptions& o) {
  CLI::App* cmd = app.add_subcommand("report", "rebuild a run's report, or compare several runs (docs/report.md)");
  cmd->add_option("RUN_DIR", o.run_dirs, "run folders")->required();
  cmd->add_option("--out", o.out, "the report's folder")->required()->type_name("DIR");
  return cmd;
}

// Parses argv into the command it names (throws CLI::ParseError, and UsageError for a first word
// that is no command of `app`, listing the commands).
inline const CLI::App& parse_command(CLI::App& app, int argc, char** argv) {
  const std::string first = argc > 1 ? argv[1] : "";
  const bool help = first == "-h" || first == "--help" || first == "--help-all";
  if (argc > 1 && !help && app.get_subcommands([&](CLI::App* cmd) { return cmd->get_name() == first; }).empty()) {
    std::string names;
    const std::vector<CLI::App*> commands = app.get_subcommands([](CLI::App*) { return true; });
    for (std::size_t i = 0; i < commands.size(); ++i)
      names += (i == 0 ? "" : i + 1 == commands.size() ? " or " : ", ") + commands[i]->get_name();
    throw UsageError("unknown command " + glia::quoted(first) + ": expected " + names);
  }
  app.parse(argc, argv);
  return *app.get_subcommands().front();
}

// Declares flags under a heading of the help, from here to the next heading.
inline void help_group(CLI::App& cmd, std::size_t first_option, const std::string& heading) {
  const std::vector<CLI::Option*> options = cmd.get_options([](CLI::Option*) { return true; });
  for (std::size_t i = first_option; i < options.size(); ++i) options[i]->group(heading);
}

}  // namespace glia_cli
