// glia/report/html_report.hpp: a training run's HTML report, and a page comparing runs.
//
// Contract:
//   write_report(out_dir, run, images)  writes out_dir/index.html (creating out_dir if needed)
//       and returns its path. The page shows the run's summary (status, recipe, norm, seed,
//       threads, parameters, best/final accuracy, time, throughput, command, commit), SVG charts
//       of the learning rate, the train/test loss and the train/test accuracy per epoch, the
//       per-epoch table (epoch, LR, time, train loss, train correct, train accuracy, test loss,
//       test correct, test accuracy), the confusion matrix with per-class accuracy, a 5x2 grid
//       of misclassified test images each captioned "true/predicted" (class names), a grid of
//       sample training images with their labels, a bar chart of training images per class,
//       and the config table. Sections without data (no epochs yet, no confusion matrix, ...)
//       say so instead of failing.
//       With images != nullptr, the image grids are written beside the page as
//       misclassified.png (the first 10 images, 5 columns x 2 rows) and samples.png (the first 50,
//       10 per row), 3x upscaled, plus report_images.json recording their layout and labels.
//       With images == nullptr, the PNGs already in out_dir are reused: with their labels when
//       report_images.json is there, as plain pictures when only the PNG is.
//       The page opens from the file system with no network: inline CSS, inline SVG, images by
//       relative path, no scripts. While run.status is "running" it reloads itself every 60 s.
//   write_comparison(out_dir, runs, links)  writes out_dir/comparison.html and returns its path:
//       the test-accuracy curves of all runs on one chart (plus the train-loss curves), and a
//       summary table with one row per run; links[i], when given, is a relative link to run
//       i's report (e.g. "bn/index.html").
//   Every file is written with write_file_atomic. Throws IoError naming a file that cannot be
//   written, FormatError naming a report_images.json that cannot be read, ValueError for
//   ReportImages whose sizes disagree (e.g. misclassified.size() != K * 3 * height * width with
//   K = mis_true.size()) or for a confusion matrix that is not square.
//   Accuracies in RunRecord are percent (0..100), as the trainer records them. Class labels
//   without a name in run.class_names are shown as their number.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "glia/core/atomic_file.hpp"
#include "glia/core/error.hpp"
#include "glia/report/json.hpp"
#include "glia/report/png.hpp"
#include "glia/report/run_record.hpp"
#include "glia/report/svg.hpp"

namespace glia {

struct ReportImages {
  std::vector<std::uint8_t> misclassified;  // K images, CHW 3 x height x width each
  std::vector<std::int32_t> mis_true, mis_pred;
  std::vector<std::uint8_t> samples;  // S training images, CHW
  std::vector<std::int32_t> sample_labels;
  Index height = 32, width = 32;
};

namespace detail {
namespace report {

constexpr Index kMisclassifiedCols = 5, kMisclassifiedRows = 2;
constexpr Index kSampleCols = 10, kMaxSamples = 50;
constexpr Index kGridScale = 3, kGridMargin = 4;

inline std::string html(const std::string& s) { return svg::escape_xml(s); }

inline std::string percent(double value) { return std::isfinite(value) ? svg::fixed(value, 2) + "&nbsp;%" : "&ndash;"; }
inline std::string number(double v, int decimals) { return std::isfinite(v) ? svg::fixed(v, decimals) : "&ndash;"; }
// Four significant digits: learning rates such as 0.1, 0.0005, 1e-05.
inline std::string sig4(double v) {
  if (!std::isfinite(v)) return "&ndash;";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 4);
  return std::string(buf, r.ptr);
}
inline std::string duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "&ndash;";
  if (seconds < 60) return svg::fixed(seconds, 1) + "&nbsp;s";
  const auto total = static_cast<long long>(std::llround(seconds));
  const long long h = total / 3600, m = (total / 60) % 60, s = total % 60;
  const auto two = [](long long v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  return h > 0 ? std::to_string(h) + "&nbsp;h&nbsp;" + two(m) + "&nbsp;min" : std::to_string(m) + "&nbsp;min&nbsp;" + two(s) + "&nbsp;s";
}
inline std::string class_name(const std::vector<std::string>& names, std::int64_t label) {
  if (label >= 0 && static_cast<std::size_t>(label) < names.size()) return names[static_cast<std::size_t>(label)];
  return std::to_string(label);
}

inline const char* page_css() {
  return "body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}"
         "h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px}"
         "th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}"
         "table.kv th{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:16px}"
         ".status{display:inline-block;padding:2px 8px;border-radius:4px;background:#eee;font-size:14px}"
         ".status.finished{background:#d4f4d4}.status.running{background:#fff3c4}.status.stopped{background:#f8d4d4}"
         ".grid{display:grid;gap:8px;justify-content:start}figure{margin:0;text-align:center;font-size:12px}"
         ".crop{overflow:hidden;border:1px solid #ccc}.crop img{display:block;image-rendering:pixelated}"
         "code{background:#f4f4f4;padding:1px 4px;word-break:break-all}.note{color:#777}";
}

inline std::string status_class(const std::string& status) {
  if (status == "finished" || status == "running") return status;
  if (status.rfind("stopped", 0) == 0) return "stopped";
  return "";
}

inline std::string page_head(const std::string& title, bool refresh) {
  return std::string("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n") +
         (refresh ? "<meta http-equiv=\"refresh\" content=\"60\">\n" : "") + "<title>" + html(title) + "</title>\n<style>" +
         page_css() + "</style>\n</head>\n<body>\n";
}

// One image grid as laid out in a PNG: which file, its geometry and each tile's caption.
struct GridLayout {
  std::string file;
  Index count = 0, cols = 1, height = 32, width = 32, scale = kGridScale, margin = kGridMargin;
  std::vector<std::string> captions, tooltips;
  bool known = false;  // false: only the PNG is known (show it whole)
};

inline json::Value grid_to_json(const GridLayout& g) {
  json::Value v = json::Value::object();
  v.set("file", g.file);
  v.set("count", g.count);
  v.set("cols", g.cols);
  v.set("height", g.height);
  v.set("width", g.width);
  v.set("scale", g.scale);
  v.set("margin", g.margin);
  json::Value captions = json::Value::array(), tooltips = json::Value::array();
  for (const auto& c : g.captions) captions.push_back(c);
  for (const auto& t : g.tooltips) tooltips.push_back(t);
  v.set("captions", std::move(captions));
  v.set("tooltips", std::move(tooltips));
  return v;
}

inline GridLayout grid_from_json(const json::Value& v, const std::string& key, const std::string& source) {
  const RecordReader r(source);
  GridLayout g;
  g.file = r.string(v, "file", key);
  g.count = r.int64(v, "count", key);
  g.cols = r.int64(v, "cols", key);
  g.height = r.int64(v, "height", key);
  g.width = r.int64(v, "width", key);
  g.scale = r.int64(v, "scale", key);
  g.margin = r.int64(v, "margin", key);
  const auto& captions = r.array(r.member(v, "captions", key), key + ".captions");
  const auto& tooltips = r.array(r.member(v, "tooltips", key), key + ".tooltips");
  for (std::size_t i = 0; i < captions.size(); ++i) g.captions.push_back(r.string(captions[i], RecordReader::index(key + ".captions", i)));
  for (std::size_t i = 0; i < tooltips.size(); ++i) g.tooltips.push_back(r.string(tooltips[i], RecordReader::index(key + ".tooltips", i)));
  if (g.count < 0 || g.cols <= 0 || g.height <= 0 || g.width <= 0 || g.scale <= 0 || g.margin < 0 ||
      g.captions.size() != static_cast<std::size_t>(g.count) || g.tooltips.size() != g.captions.size())
    r.fail(key, "inconsistent image grid layout");
  if (g.file.empty() || g.file.find('/') != std::string::npos || g.file.find('"') != std::string::npos)
    r.fail(key + ".file", "must be a plain file name");
  g.known = true;
  return g;
}

// Writes one grid PNG (when count > 0) and returns its layout.
inline GridLayout write_grid(const std::string& dir, const std::string& file, const std::vector<std::uint8_t>& chw, Index count,
                             Index height, Index width, Index cols, Index max_rows, std::vector<std::string> captions,
                             std::vector<std::string> tooltips) {
  GridLayout g;
  g.file = file;
  g.cols = cols;
  g.height = height;
  g.width = width;
  g.count = std::min(count, cols * max_rows);
  g.captions.assign(captions.begin(), captions.begin() + g.count);
  g.tooltips.assign(tooltips.begin(), tooltips.begin() + g.count);
  g.known = true;
  if (g.count > 0) {
    const Index rows = (g.count + cols - 1) / cols;
    write_png(join_path(dir, file), image_grid(chw.data(), g.count, height, width, rows, cols, g.scale, g.margin));
  }
  return g;
}

inline std::string grid_html(const GridLayout& g, const std::string& empty_note) {
  if (!g.known) {
    return "<p><img src=\"" + html(g.file) + "\" alt=\"" + html(g.file) + "\" style=\"image-rendering:pixelated\"></p>\n";
  }
  if (g.count == 0) return "<p class=\"note\">" + html(empty_note) + "</p>\n";
  const Index th = g.height * g.scale, tw = g.width * g.scale;
  std::string out = "<div class=\"grid\" style=\"grid-template-columns:repeat(" + std::to_string(g.cols) + "," +
                    std::to_string(tw + 2) + "px)\">\n";
  for (Index k = 0; k < g.count; ++k) {
    const Index y = g.margin + (k / g.cols) * (th + g.margin), x = g.margin + (k % g.cols) * (tw + g.margin);
    const auto i = static_cast<std::size_t>(k);
    out += "<figure title=\"" + html(g.tooltips[i]) + "\"><div class=\"crop\" style=\"width:" + std::to_string(tw) +
           "px;height:" + std::to_string(th) + "px\"><img src=\"" + html(g.file) + "\" alt=\"" + html(g.captions[i]) +
           "\" style=\"margin:-" + std::to_string(y) + "px 0 0 -" + std::to_string(x) + "px\"></div><figcaption>" +
           html(g.captions[i]) + "</figcaption></figure>\n";
  }
  return out + "</div>\n";
}

inline void check_images(const ReportImages& im) {
  if (im.height <= 0 || im.width <= 0)
    throw ValueError(cat("write_report: image size must be positive, got ", im.height, "x", im.width));
  const auto bytes = static_cast<std::size_t>(3 * im.height * im.width);
  if (im.mis_true.size() != im.mis_pred.size() || im.misclassified.size() != im.mis_true.size() * bytes)
    throw ValueError(cat("write_report: ", im.misclassified.size(), " bytes of misclassified images, ", im.mis_true.size(),
                         " true and ", im.mis_pred.size(), " predicted labels (expected ", bytes, " bytes per label)"));
  if (im.samples.size() != im.sample_labels.size() * bytes)
    throw ValueError(cat("write_report: ", im.samples.size(), " bytes of sample images for ", im.sample_labels.size(),
                         " labels (expected ", bytes, " bytes per label)"));
}

inline std::string kv_row(const std::string& key, const std::string& value_html) {
  return "<tr><th>" + html(key) + "</th><td>" + value_html + "</td></tr>\n";
}

inline std::vector<double> column(const std::vector<EpochRecord>& epochs, double EpochRecord::*field, double factor = 1.0) {
  std::vector<double> v;
  for (const auto& e : epochs) v.push_back(e.*field * factor);
  return v;
}
inline std::vector<double> epoch_numbers(const std::vector<EpochRecord>& epochs) {
  std::vector<double> v;
  for (const auto& e : epochs) v.push_back(e.epoch);
  return v;
}

}  // namespace report
}  // namespace detail

inline std::string write_report(const std::string& out_dir, const RunRecord& run, const ReportImages* images) {
  using namespace detail::report;
  for (const auto& row : run.confusion)
    if (row.size() != run.confusion.size()) throw ValueError("write_report: the confusion matrix is not square");
  make_directories(out_dir);
  const std::string sidecar = join_path(out_dir, "report_images.json");

  // The image grids: written now, or found from an earlier call.
  GridLayout mis, samples;
  if (images != nullptr) {
    check_images(*images);
    const auto& im = *images;
    std::vector<std::string> captions, tooltips;
    for (std::size_t k = 0; k < im.mis_true.size(); ++k) {
      const std::string t = class_name(run.class_names, im.mis_true[k]), p = class_name(run.class_names, im.mis_pred[k]);
      captions.push_back(t + "/" + p);
      tooltips.push_back("true: " + t + ", predicted: " + p);
    }
    mis = write_grid(out_dir, "misclassified.png", im.misclassified, static_cast<Index>(im.mis_true.size()), im.height,
                     im.width, kMisclassifiedCols, kMisclassifiedRows, captions, tooltips);
    captions.clear();
    for (auto label : im.sample_labels) captions.push_back(class_name(run.class_names, label));
    samples = write_grid(out_dir, "samples.png", im.samples, static_cast<Index>(im.sample_labels.size()), im.height, im.width,
                         kSampleCols, kMaxSamples / kSampleCols, captions, captions);
    json::Value v = json::Value::object();
    v.set("misclassified", grid_to_json(mis));
    v.set("samples", grid_to_json(samples));
    write_file_atomic(sidecar, json::dump(v) + "\n");
  } else {
    const bool have_sidecar = file_exists(sidecar);
    json::Value v;
    if (have_sidecar) v = json::parse_file(sidecar);
    const auto find = [&](const std::string& key, const std::string& file) {
      GridLayout g;
      if (have_sidecar) g = grid_from_json(RecordReader(sidecar).member(v, key, ""), key, sidecar);
      if (g.known && (g.count == 0 || file_exists(join_path(out_dir, g.file)))) return g;
      g = GridLayout{};
      g.file = file;
      g.count = file_exists(join_path(out_dir, file)) ? -1 : 0;  // -1: a PNG without layout
      g.known = g.count == 0;
      return g;
    };
    mis = find("misclassified", "misclassified.png");
    samples = find("samples", "samples.png");
  }

  const bool running = run.status == "running";
  std::string page = page_head("glia run " + run.name, running);
  page += "<h1>Run " + html(run.name) + " <span class=\"status " + status_class(run.status) + "\">" + html(run.status) +
          "</span></h1>\n";
  page += "<p class=\"note\">recipe " + html(run.recipe) + ", normalization " + html(run.norm) + ", " +
          std::to_string(run.epochs.size()) + " epoch(s) recorded.</p>\n";

  page += "<h2>Summary</h2>\n<table class=\"kv\">\n";
  page += kv_row("status", html(run.status));
  page += kv_row("recipe", html(run.recipe));
  page += kv_row("normalization", html(run.norm));
  page += kv_row("seed", std::to_string(run.seed));
  page += kv_row("threads", std::to_string(run.threads));
  page += kv_row("parameters", std::to_string(run.parameters));
  page += kv_row("epochs", std::to_string(run.epochs.size()));
  page += kv_row("best test accuracy", percent(run.best_test_accuracy) + " (epoch " + std::to_string(run.best_epoch) + ")");
  page += kv_row("final test accuracy", percent(run.final_test_accuracy));
  if (run.final_test_accuracy_tta >= 0)
    page += kv_row("final test accuracy, test-time augmentation " + run.final_tta, percent(run.final_test_accuracy_tta));
  page += kv_row("final train accuracy", percent(run.final_train_accuracy));
  page += kv_row("time", duration(run.seconds));
  page += kv_row("train images / s", number(run.train_images_per_second, 1));
  page += kv_row("command", "<code>" + html(run.command) + "</code>");
  page += kv_row("commit", "<code>" + html(run.commit) + "</code>");
  page += "</table>\n";

  page += "<h2>Training curves</h2>\n";
  if (run.epochs.empty()) {
    page += "<p class=\"note\">No epoch finished yet.</p>\n";
  } else {
    const std::vector<double> x = epoch_numbers(run.epochs);
    svg::Series lr("learning rate", column(run.epochs, &EpochRecord::lr));
    svg::Series train_loss("train loss", column(run.epochs, &EpochRecord::train_loss));
    svg::Series test_loss("test loss", column(run.epochs, &EpochRecord::test_loss), "", true);
    svg::Series train_acc("train accuracy", column(run.epochs, &EpochRecord::train_accuracy));
    svg::Series test_acc("test accuracy", column(run.epochs, &EpochRecord::test_accuracy), "", true);
    for (svg::Series* s : {&lr, &train_loss, &test_loss, &train_acc, &test_acc}) s->x = x;
    svg::LineChartOptions o;
    o.width = 440;
    o.height = 300;
    page += "<div class=\"charts\">\n";
    o.title = "Learning rate";
    o.y_label = "learning rate";
    o.y_min = 0;
    page += svg::line_chart({lr}, o);
    o.title = "Loss";
    o.y_label = "cross-entropy loss";
    page += svg::line_chart({train_loss, test_loss}, o);
    o.title = "Accuracy";
    o.y_label = "accuracy (%)";
    o.y_min = std::numeric_limits<double>::quiet_NaN();
    page += svg::line_chart({train_acc, test_acc}, o);
    page += "</div>\n";
  }

  page += "<h2>Epochs</h2>\n";
  page += "<table class=\"epochs\">\n<tr><th>epoch</th><th>LR</th><th>time</th><th>train loss</th><th>train correct</th>"
          "<th>train accuracy</th><th>test loss</th><th>test correct</th><th>test accuracy</th></tr>\n";
  for (const auto& e : run.epochs) {
    page += "<tr><td class=\"num\">" + std::to_string(e.epoch) + "</td><td class=\"num\">" + sig4(e.lr) +
            "</td><td class=\"num\">" + duration(e.seconds) + "</td><td class=\"num\">" + number(e.train_loss, 4) +
            "</td><td class=\"num\">" + std::to_string(e.train_correct) + " / " + std::to_string(e.train_total) +
            "</td><td class=\"num\">" + percent(e.train_accuracy) + "</td><td class=\"num\">" + number(e.test_loss, 4) +
            "</td><td class=\"num\">" + std::to_string(e.test_correct) + " / " + std::to_string(e.test_total) +
            "</td><td class=\"num\">" + percent(e.test_accuracy) + "</td></tr>\n";
  }
  page += "</table>\n";

  page += "<h2>Confusion matrix (final test evaluation)</h2>\n";
  if (run.confusion.empty()) {
    page += "<p class=\"note\">No test evaluation recorded yet.</p>\n";
  } else {
    page += "<div class=\"charts\">\n" + svg::confusion_matrix(run.class_names, run.confusion) + "<table>\n";
    page += "<tr><th>class</th><th>test images</th><th>correct</th><th>accuracy</th></tr>\n";
    for (std::size_t t = 0; t < run.confusion.size(); ++t) {
      std::int64_t total = 0;
      for (auto v : run.confusion[t]) total += v;
      const double acc = total > 0 ? 100.0 * static_cast<double>(run.confusion[t][t]) / static_cast<double>(total) : std::nan("");
      page += "<tr><td>" + html(class_name(run.class_names, static_cast<std::int64_t>(t))) + "</td><td class=\"num\">" +
              std::to_string(total) + "</td><td class=\"num\">" + std::to_string(run.confusion[t][t]) +
              "</td><td class=\"num\">" + percent(acc) + "</td></tr>\n";
    }
    page += "</table>\n</div>\n";
  }

  page += "<h2>Misclassified test images (true/predicted)</h2>\n";
  page += grid_html(mis, "No misclassified images recorded.");
  page += "<h2>Sample training images</h2>\n";
  page += grid_html(samples, "No sample images recorded.");

  page += "<h2>Training images per class</h2>\n";
  if (run.train_class_counts.empty()) {
    page += "<p class=\"note\">No class counts recorded.</p>\n";
  } else {
    std::vector<std::string> labels;
    std::vector<double> values;
    for (std::size_t i = 0; i < run.train_class_counts.size(); ++i) {
      labels.push_back(class_name(run.class_names, static_cast<std::int64_t>(i)));
      values.push_back(static_cast<double>(run.train_class_counts[i]));
    }
    svg::BarChartOptions o;
    o.title = "Training images per class";
    o.y_label = "images";
    page += svg::bar_chart(labels, values, o);
  }

  page += "<h2>Configuration</h2>\n<table class=\"kv\">\n";
  page += kv_row("seed", std::to_string(run.seed));
  page += kv_row("threads", std::to_string(run.threads));
  for (const auto& kv : run.config) page += kv_row(kv.first, html(kv.second));
  page += "</table>\n";
  page += "<p class=\"note\">Written by glia; data in metrics.json and log.csv beside this page.</p>\n</body>\n</html>\n";

  const std::string path = join_path(out_dir, "index.html");
  write_file_atomic(path, page);
  return path;
}

inline std::string write_comparison(const std::string& out_dir, const std::vector<RunRecord>& runs,
                                    const std::vector<std::string>& links = {}) {
  using namespace detail::report;
  if (!links.empty() && links.size() != runs.size())
    throw ValueError(detail::cat("write_comparison: ", runs.size(), " runs but ", links.size(), " links"));
  make_directories(out_dir);
  std::vector<svg::Series> acc, loss;
  for (const auto& run : runs) {
    svg::Series a(run.name, column(run.epochs, &EpochRecord::test_accuracy));
    svg::Series l(run.name, column(run.epochs, &EpochRecord::train_loss));
    a.x = l.x = epoch_numbers(run.epochs);
    acc.push_back(std::move(a));
    loss.push_back(std::move(l));
  }
  bool running = false;
  for (const auto& run : runs) running = running || run.status == "running";
  std::string page = page_head("glia run comparison", running);
  page += "<h1>Comparison of " + std::to_string(runs.size()) + " run(s)</h1>\n<div class=\"charts\">\n";
  svg::LineChartOptions o;
  o.width = 560;
  o.height = 340;
  o.title = "Test accuracy";
  o.y_label = "test accuracy (%)";
  page += svg::line_chart(acc, o);
  o.title = "Train loss";
  o.y_label = "train loss";
  page += svg::line_chart(loss, o);
  page += "</div>\n<h2>Summary</h2>\n<table class=\"runs\">\n<tr><th>run</th><th>recipe</th><th>norm</th><th>seed</th>"
          "<th>parameters</th><th>epochs</th><th>best test accuracy</th><th>best epoch</th><th>final test accuracy</th>"
          "<th>final train accuracy</th><th>time</th><th>train images / s</th><th>status</th></tr>\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunRecord& r = runs[i];
    const std::string name = links.empty() || links[i].empty() ? html(r.name)
                                                               : "<a href=\"" + html(links[i]) + "\">" + html(r.name) + "</a>";
    page += "<tr><td>" + name + "</td><td>" + html(r.recipe) + "</td><td>" + html(r.norm) + "</td><td class=\"num\">" +
            std::to_string(r.seed) + "</td><td class=\"num\">" + std::to_string(r.parameters) + "</td><td class=\"num\">" +
            std::to_string(r.epochs.size()) + "</td><td class=\"num\">" + percent(r.best_test_accuracy) +
            "</td><td class=\"num\">" + std::to_string(r.best_epoch) + "</td><td class=\"num\">" +
            percent(r.final_test_accuracy) + "</td><td class=\"num\">" + percent(r.final_train_accuracy) +
            "</td><td class=\"num\">" + duration(r.seconds) + "</td><td class=\"num\">" +
            number(r.train_images_per_second, 1) + "</td><td><span class=\"status " + status_class(r.status) + "\">" +
            html(r.status) + "</span></td></tr>\n";
  }
  page += "</table>\n<p class=\"note\">Written by glia.</p>\n</body>\n</html>\n";
  const std::string path = join_path(out_dir, "comparison.html");
  write_file_atomic(path, page);
  return path;
}

}  // namespace glia
