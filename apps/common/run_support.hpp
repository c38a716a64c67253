// apps/common/run_support.hpp: what glia's programs (glia, glia-cifar10) do around a training
// run and on their command line, written once.
//
// Contract:
// - weights_fingerprint(model): FNV-1a 64 of every parameter's and buffer's bytes, in hex, to
//   compare models bit for bit.
// - open_run_folder(out, default_out, resume, overwrite, inputs): the run folder: --out, else the
//   folder of the --resume checkpoint, else default_out; locked for the whole command; a folder
//   holding another run needs --resume or --overwrite (train/run_folder.hpp).
// - recipe_settings(recipe): the recipe's settings as a run records them (RunRecord::config), the
//   same keys for every program; a program adds its model's and data's.
// - resume_run(trainer, checkpoint, epochs) restores a run and says what changed.
// - report_images(train, test, predictions): the report's grids (the first misclassified test
//   images and the first training images).
// - write_model_files(folder, model, input, metadata, make_model, names): model.safetensors (the
//   final model) and, when the run wrote best.ckpt, best.safetensors (that epoch's model, loaded
//   into make_model()'s network): self-describing model files (model_io/model_file.hpp), with
//   the tensors under `names` (e.g. PyTorch's) when given.
// - print_run_result(result, folder): the final line and the files written.
// - write_report_command(run_dirs, out): `report`: one run's page again, or a comparison.
// - finish_output(program, code): exit code 1 when standard output could not be written.
// - usage_error(program, app, formatter, message): the message, the command's usage, exit 2.
// - run_program(program, cli, argc, argv, run): a program's main: parses the command line
//   (cli.parse, which throws CLI::ParseError or UsageError), calls run(command) and turns every
//   outcome into an exit code: 0 done, 1 an error (the message names what is at fault), 2 a
//   usage error or a ValueError (a value the program was given).
#pragma once

#include <CLI/CLI.hpp>

#include <glia/glia.hpp>
#include <glia/model_io/model_file.hpp>
#include <glia/model_io/model_metadata.hpp>
#include <glia/report.hpp>
#include <glia/train/recipe.hpp>
#include <glia/train/trainer.hpp>

#include "cli_flags.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace glia_cli {

inline std::string weights_fingerprint(glia::Module<float>& model) {
  std::string bytes;
  for (auto& p : glia::parameters(model))
    bytes.append(reinterpret_cast<const char*>(p.param->value.data()), p.param->value.size() * sizeof(float));
  for (auto& b : glia::buffers(model)) bytes.append(reinterpret_cast<const char*>(b.tensor->data()), b.tensor->size() * sizeof(float));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(glia::fnv1a64(bytes.data(), bytes.size())));
  return hex;
}

inline std::unique_ptr<glia::RunFolder> open_run_folder(const std::optional<std::string>& out, const std::string& default_out,
                                                        const glia::Checkpoint* resume, bool overwrite,
                                                        const std::vector<glia::RunInput>& inputs) {
  std::string dir = default_out;
  if (out) {
    dir = *out;
  } else if (resume) {
    const std::string parent = std::filesystem::path(resume->source).parent_path().string();
    dir = parent.empty() ? "." : parent;
  }
  using glia::RunFolderMode;
  const RunFolderMode mode = resume ? RunFolderMode::Continue : overwrite ? RunFolderMode::Overwrite : RunFolderMode::NewRun;
  auto it = resume ? resume->meta.find("run_id") : std::map<std::string, std::string>::const_iterator();
  const std::string run_id = resume && it != resume->meta.end() ? it->second : "";
  return std::make_unique<glia::RunFolder>(dir, mode, inputs, resume ? resume->source : "", run_id);
}

inline std::map<std::string, std::string> recipe_settings(const glia::Recipe& r) {
  using glia::detail::cat;
  const glia::AugmentConfig& a = r.augment;
  return {{"recipe", r.name}, {"epochs", std::to_string(r.epochs)}, {"batch", std::to_string(r.batch)},
          {"optimizer", r.optimizer}, {"lr", cat(r.lr)}, {"momentum", cat(r.momentum)}, {"weight_decay", cat(r.weight_decay)},
          {"l1", cat(r.l1)}, {"schedule", r.schedule}, {"label_smoothing", cat(r.label_smoothing)}, {"init", r.init},
          {"final_tta", r.final_tta.name()}, {"seed", std::to_string(r.seed)}, {"threads", std::to_string(glia::num_threads())},
          {"augment", cat("ssr_p=", a.ssr_p, " bc_p=", a.bc_p, " crop_pad=", a.crop_pad, " hflip=", a.hflip, " cutout=", a.cutout)}};
}

// Restores the run; says which settings changed (accepted with --accept-changes) and when the
// run has no epoch left to train.
inline void resume_run(glia::Trainer<float>& trainer, const glia::Checkpoint& c, int epochs) {
  trainer.resume(c);
  std::printf("resumed from %s after epoch %d\n", c.source.c_str(), trainer.epochs_done());
  const std::string now = glia::detail::cat("from epoch ", trainer.epochs_done() + 1, ":");
  for (const std::string& change : trainer.record().changes)
    if (change.rfind(now, 0) == 0) std::printf("setting changed (--accept-changes), recorded in the run: %s\n", change.c_str());
  if (trainer.epochs_done() == epochs)
    std::printf("the run has already trained its %d epochs: nothing left to train; the final model is evaluated again\n", epochs);
}

// One image as the report's grids take it: 3 x H x W (a gray image's plane in R, G and B).
inline void append_rgb(std::vector<std::uint8_t>& out, const glia::ImageDataset& d, glia::Index i) {
  const std::uint8_t* p = d.image(i);
  const glia::Index plane = d.height * d.width;
  for (glia::Index c = 0; c < 3; ++c) {
    const std::uint8_t* src = p + (d.channels == 3 ? c * plane : 0);
    out.insert(out.end(), src, src + plane);
  }
}

inline glia::ReportImages report_images(const glia::ImageDataset& train, const glia::ImageDataset& test,
                                        const std::vector<std::int32_t>& pred) {
  glia::ReportImages images;
  images.height = test.height;
  images.width = test.width;
  if (train.height != test.height || train.width != test.width) return images;  // one geometry per report
  for (glia::Index i = 0; i < test.size() && images.mis_true.size() < 10; ++i)
    if (pred[static_cast<std::size_t>(i)] != test.labels[static_cast<std::size_t>(i)]) {
      append_rgb(images.misclassified, test, i);
      images.mis_true.push_back(test.labels[static_cast<std::size_t>(i)]);
      images.mis_pred.push_back(pred[static_cast<std::size_t>(i)]);
    }
  for (glia::Index i = 0; i < std::min<glia::Index>(20, train.size()); ++i) {
    append_rgb(images.samples, train, i);
    images.sample_labels.push_back(train.labels[static_cast<std::size_t>(i)]);
  }
  return images;
}

inline void write_model_files(glia::RunFolder& folder, glia::Module<float>& model, const glia::Shape& input,
                              const std::map<std::string, std::string>& metadata,
                              const std::function<std::unique_ptr<glia::Sequential<float>>()>& make_model,
                              const glia::StateDictNames& names = {}) {
  glia::save_model(folder.dir() + "/model.safetensors", model, input, metadata, names);
  const std::string best = folder.dir() + "/best.ckpt";
  if (!std::filesystem::exists(best)) return;
  std::unique_ptr<glia::Sequential<float>> best_model = make_model();
  glia::get_module(glia::load_checkpoint(best, "best checkpoint"), *best_model);
  glia::save_model(folder.dir() + "/best.safetensors", *best_model, input, metadata, names);
}

inline void print_run_result(const glia::RunRecord& result, const glia::RunFolder& folder) {
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

inline int write_report_command(const std::vector<std::string>& run_dirs, const std::string& out) {
  namespace fs = std::filesystem;
  std::vector<glia::RunRecord> runs;
  for (const std::string& d : run_dirs) runs.push_back(glia::load_run_record(d));
  fs::create_directories(out);
  std::string page;
  if (runs.size() == 1) {
    // Rebuilding elsewhere: bring the run's image grids along (write_report reuses them).
    const fs::path from = fs::path(run_dirs.front()) / "report";
    for (const char* f : {"misclassified.png", "samples.png", "report_images.json"})
      if (fs::exists(from / f) && !fs::exists(fs::path(out) / f)) fs::copy_file(from / f, fs::path(out) / f);
    page = glia::write_report(out, runs.front(), nullptr);
  } else {
    std::vector<std::string> links;  // each run's own report, relative to the comparison page
    for (const std::string& d : run_dirs) {
      const fs::path report = fs::path(d) / "report" / "index.html";
      links.push_back(fs::exists(report) ? fs::relative(report, out).string() : std::string());
    }
    page = glia::write_comparison(out, runs, links);
  }
  std::printf("wrote %s\n", page.c_str());
  return 0;
}

inline std::string command_line_text(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  return command;
}

// Results go to standard output: a write that failed there (a full disk, `> /dev/full`, a
// closed pipe) is an error, not a success.
inline int finish_output(const char* program, int code) {
  if (std::fflush(stdout) == 0 && !std::ferror(stdout)) return code;
  std::fprintf(stderr, "%s: error: cannot write the results to standard output: %s\n", program, std::strerror(errno));
  return code == 0 ? 1 : code;
}

constexpr int kUsageError = 2;

// A usage error: the message, the command's usage line and where its flags are listed.
inline int usage_error(const char* program, const CLI::App& app, const CLI::Formatter& formatter, const std::string& message) {
  const auto& given = app.get_subcommands();
  const CLI::App& cmd = given.empty() ? app : *given.front();
  const std::string name = given.empty() ? std::string(program) : std::string(program) + " " + cmd.get_name();
  // No command: the list of commands; a command: its usage line (its flags are many).
  std::string usage = given.empty() ? app.help() : formatter.make_usage(&cmd, name);
  while (!usage.empty() && usage.back() == '\n') usage.pop_back();
  std::fprintf(stderr, "%s: %s\n%s\nRun '%s --help' for %s.\n", program, message.c_str(), usage.c_str(), name.c_str(),
               given.empty() ? "the commands" : "every flag");
  return finish_output(program, kUsageError);
}

template <typename CommandLine, typename Run>
int run_program(const char* program, CommandLine& cli, int argc, char** argv, Run&& run) {
  try {
    const CLI::App& cmd = cli.parse(argc, argv);
    return finish_output(program, run(cmd, command_line_text(argc, argv)));
  } catch (const CLI::CallForHelp& e) {
    return finish_output(program, cli.app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    return finish_output(program, cli.app.exit(e));
  } catch (const CLI::ParseError& e) {
    return usage_error(program, cli.app, *cli.formatter, e.what());
  } catch (const UsageError& e) {
    return usage_error(program, cli.app, *cli.formatter, e.what());
  } catch (const glia::ValueError& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return finish_output(program, kUsageError);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return finish_output(program, 1);
  }
}

}  // namespace glia_cli
