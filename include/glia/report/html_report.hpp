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
//       say so instead of failing. The image grids and report_images.json: html_grids.hpp.
//       The page opens from the file system with no network: inline CSS, inline SVG, images by
//       relative path, no scripts. While run.status is "running" it reloads itself every 60 s.
//   write_comparison(out_dir, runs, links)  writes out_dir/comparison.html and returns its path:
//       the test-accuracy curves of all runs on one chart (plus the train-loss curves), and a
//       summary table with one row per run; links[i], when given, is a relative link to run
//       i's report (e.g. "bn/index.html").
//   Any RunRecord gives a page: values no run can produce (an accuracy of 250 %, epoch -3, a
//   negative count, correct > total, an infinite time, ...; the rules are in html_values.hpp)
//   are shown as <span class="invalid">invalid (250)</span>, left out of the charts, and counted
//   in a note at the top of the page. Every number is written by core/text_format.hpp, so
//   the same record gives the same bytes, and the page is valid UTF-8.
//   Every file is written with write_file_atomic. Throws IoError naming a file that cannot be
//   written, FormatError naming a report_images.json that cannot be read, ValueError for
//   ReportImages whose sizes disagree (e.g. misclassified.size() != K * 3 * height * width with
//   K = mis_true.size()) or for a confusion matrix that is not square.
//   Accuracies in RunRecord are percent (0..100), as the trainer records them. Class labels
//   without a name in run.class_names are shown as their number.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "glia/core/atomic_file.hpp"
#include "glia/core/error.hpp"
#include "glia/report/html_grids.hpp"
#include "glia/report/html_values.hpp"
#include "glia/train/run_record.hpp"
#include "glia/report/svg.hpp"

namespace glia {
namespace detail {
namespace report {

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
         "code{background:#f4f4f4;padding:1px 4px;word-break:break-all}.note{color:#777}"
         ".invalid{color:#a00;background:#fde8e8;font-weight:bold}"
         ".invalid-note{border:1px solid #e0a0a0;background:#fdf0f0;padding:6px 10px}";
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

// Said at the top of a page that shows invalid values, so that nobody reads past them.
inline std::string invalid_note(int count) {
  if (count == 0) return "";
  return "<p class=\"invalid-note\">This record holds " + std::to_string(count) +
         " impossible value(s) (such as an accuracy outside 0-100&nbsp;%, an epoch below 1 or a negative count), shown as "
         "<span class=\"invalid\">invalid (value)</span> and left out of the charts.</p>\n";
}

inline std::string kv_row(const std::string& key, const std::string& value_html) {
  return "<tr><th>" + html(key) + "</th><td>" + value_html + "</td></tr>\n";
}

// A column of the epoch table as chart data: invalid values become NaN (a gap).
inline std::vector<double> column(const std::vector<EpochRecord>& epochs, double EpochRecord::*field, Kind kind) {
  std::vector<double> v;
  for (const auto& e : epochs) v.push_back(plottable(e.*field, kind));
  return v;
}
// The chart's x: the epoch number, NaN for an epoch below 1.
inline std::vector<double> epoch_numbers(const std::vector<EpochRecord>& epochs) {
  std::vector<double> v;
  for (const auto& e : epochs) v.push_back(e.epoch >= 1 ? e.epoch : std::numeric_limits<double>::quiet_NaN());
  return v;
}

inline std::string summary_section(const RunRecord& run, Cells& cells) {
  std::string page = "<h2>Summary</h2>\n<table class=\"kv\">\n";
  page += kv_row("status", html(run.status));
  page += kv_row("recipe", html(run.recipe));
  page += kv_row("normalization", html(run.norm));
  page += kv_row("seed", std::to_string(run.seed));
  page += kv_row("threads", cells.count(run.threads));
  page += kv_row("parameters", cells.count(run.parameters));
  page += kv_row("epochs", std::to_string(run.epochs.size()));
  page += kv_row("best test accuracy", cells.percent(run.best_test_accuracy) + " (epoch " + cells.count(run.best_epoch) + ")");
  page += kv_row("final test accuracy", cells.percent(run.final_test_accuracy));
  if (run.final_test_accuracy_tta >= 0)
    page += kv_row("final test accuracy, test-time augmentation " + run.final_tta, cells.percent(run.final_test_accuracy_tta));
  page += kv_row("final train accuracy", cells.percent(run.final_train_accuracy));
  page += kv_row("time", cells.duration(run.seconds));
  page += kv_row("train images / s", cells.number(run.train_images_per_second, 1));
  page += kv_row("command", "<code>" + html(run.command) + "</code>");
  page += kv_row("commit", "<code>" + html(run.commit) + "</code>");
  return page + "</table>\n";
}

inline std::string curves_section(const RunRecord& run) {
  std::string page = "<h2>Training curves</h2>\n";
  if (run.epochs.empty()) return page + "<p class=\"note\">No epoch finished yet.</p>\n";
  const std::vector<double> x = epoch_numbers(run.epochs);
  svg::Series lr("learning rate", column(run.epochs, &EpochRecord::lr, Kind::NonNegative));
  svg::Series train_loss("train loss", column(run.epochs, &EpochRecord::train_loss, Kind::Loss));
  svg::Series test_loss("test loss", column(run.epochs, &EpochRecord::test_loss, Kind::Loss), "", true);
  svg::Series train_acc("train accuracy", column(run.epochs, &EpochRecord::train_accuracy, Kind::Percent));
  svg::Series test_acc("test accuracy", column(run.epochs, &EpochRecord::test_accuracy, Kind::Percent), "", true);
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
  return page + "</div>\n";
}

inline std::string epochs_section(const RunRecord& run, Cells& cells) {
  std::string page = "<h2>Epochs</h2>\n";
  page += "<table class=\"epochs\">\n<tr><th>epoch</th><th>LR</th><th>time</th><th>train loss</th><th>train correct</th>"
          "<th>train accuracy</th><th>test loss</th><th>test correct</th><th>test accuracy</th></tr>\n";
  for (const auto& e : run.epochs) {
    page += "<tr><td class=\"num\">" + cells.epoch(e.epoch) + "</td><td class=\"num\">" + cells.rate(e.lr) +
            "</td><td class=\"num\">" + cells.duration(e.seconds) + "</td><td class=\"num\">" + cells.loss(e.train_loss) +
            "</td><td class=\"num\">" + cells.correct_of(e.train_correct, e.train_total) + "</td><td class=\"num\">" +
            cells.percent(e.train_accuracy) + "</td><td class=\"num\">" + cells.loss(e.test_loss) + "</td><td class=\"num\">" +
            cells.correct_of(e.test_correct, e.test_total) + "</td><td class=\"num\">" + cells.percent(e.test_accuracy) +
            "</td></tr>\n";
  }
  return page + "</table>\n";
}

inline std::string confusion_section(const RunRecord& run, Cells& cells) {
  std::string page = "<h2>Confusion matrix (final test evaluation)</h2>\n";
  if (run.confusion.empty()) return page + "<p class=\"note\">No test evaluation recorded yet.</p>\n";
  page += "<div class=\"charts\">\n" + svg::confusion_matrix(run.class_names, run.confusion) + "<table>\n";
  page += "<tr><th>class</th><th>test images</th><th>correct</th><th>accuracy</th></tr>\n";
  for (std::size_t t = 0; t < run.confusion.size(); ++t) {
    const auto& row = run.confusion[t];
    const auto [total, valid] = checked_sum(row);
    // A row with a negative entry, or whose sum overflows, has no meaningful total or accuracy.
    std::string total_html = std::to_string(total);
    if (!valid) {
      const auto negative = std::find_if(row.begin(), row.end(), [](std::int64_t v) { return v < 0; });
      total_html = cells.invalid_value(negative != row.end() ? "count " + std::to_string(*negative) : "sum above 2^63");
    }
    const double acc = valid && total > 0 && row[t] >= 0 ? 100.0 * static_cast<double>(row[t]) / static_cast<double>(total)
                                                         : std::numeric_limits<double>::quiet_NaN();
    page += "<tr><td>" + html(class_name(run.class_names, static_cast<std::int64_t>(t))) + "</td><td class=\"num\">" +
            total_html + "</td><td class=\"num\">" + cells.count(row[t]) + "</td><td class=\"num\">" + cells.percent(acc) +
            "</td></tr>\n";
  }
  return page + "</table>\n</div>\n";
}

inline std::string class_counts_section(const RunRecord& run, Cells& cells) {
  std::string page = "<h2>Training images per class</h2>\n";
  if (run.train_class_counts.empty()) return page + "<p class=\"note\">No class counts recorded.</p>\n";
  std::vector<std::string> labels;
  std::vector<double> values;
  std::string invalid;  // the impossible (negative) counts, listed under the chart
  for (std::size_t i = 0; i < run.train_class_counts.size(); ++i) {
    const std::int64_t n = run.train_class_counts[i];
    labels.push_back(class_name(run.class_names, static_cast<std::int64_t>(i)));
    values.push_back(n >= 0 ? static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN());
    if (n < 0) invalid += (invalid.empty() ? "" : ", ") + html(labels.back()) + ": " + cells.count(n);
  }
  svg::BarChartOptions o;
  o.title = "Training images per class";
  o.y_label = "images";
  page += svg::bar_chart(labels, values, o);
  if (!invalid.empty()) page += "<p>Class counts not drawn: " + invalid + "</p>\n";
  return page;
}

inline std::string config_section(const RunRecord& run) {
  std::string page = "<h2>Configuration</h2>\n<table class=\"kv\">\n";
  page += kv_row("seed", std::to_string(run.seed));
  page += kv_row("threads", std::to_string(run.threads));
  for (const auto& kv : run.config) page += kv_row(kv.first, html(kv.second));
  return page + "</table>\n";
}

}  // namespace report
}  // namespace detail

inline std::string write_report(const std::string& out_dir, const RunRecord& run, const ReportImages* images) {
  using namespace detail::report;
  for (const auto& row : run.confusion)
    if (row.size() != run.confusion.size()) throw ValueError("write_report: the confusion matrix is not square");
  make_directories(out_dir);
  const auto grids = report_grids(out_dir, run, images);

  // The sections first: the note on invalid values goes above them and needs their count.
  Cells cells;
  std::string body = summary_section(run, cells) + curves_section(run) + epochs_section(run, cells) +
                     confusion_section(run, cells);
  body += "<h2>Misclassified test images (true/predicted)</h2>\n" + grid_html(grids.first, "No misclassified images recorded.");
  body += "<h2>Sample training images</h2>\n" + grid_html(grids.second, "No sample images recorded.");
  body += class_counts_section(run, cells) + config_section(run);

  std::string page = page_head("glia run " + run.name, run.status == "running");
  page += "<h1>Run " + html(run.name) + " <span class=\"status " + status_class(run.status) + "\">" + html(run.status) +
          "</span></h1>\n";
  page += "<p class=\"note\">recipe " + html(run.recipe) + ", normalization " + html(run.norm) + ", " +
          std::to_string(run.epochs.size()) + " epoch(s) recorded.</p>\n";
  page += invalid_note(cells.invalid()) + body;
  page += "<p class=\"note\">Written by glia; data in metrics.json and log.csv beside this page.</p>\n</body>\n</html>\n";
  const std::string path = detail::report::join_path(out_dir, "index.html");
  write_file_atomic(path, page);
  return path;
}

namespace detail {
namespace report {

inline std::string comparison_row(const RunRecord& r, const std::string& link, Cells& cells) {
  const std::string name = link.empty() ? html(r.name) : "<a href=\"" + html(link) + "\">" + html(r.name) + "</a>";
  return "<tr><td>" + name + "</td><td>" + html(r.recipe) + "</td><td>" + html(r.norm) + "</td><td class=\"num\">" +
         std::to_string(r.seed) + "</td><td class=\"num\">" + cells.count(r.parameters) + "</td><td class=\"num\">" +
         std::to_string(r.epochs.size()) + "</td><td class=\"num\">" + cells.percent(r.best_test_accuracy) +
         "</td><td class=\"num\">" + cells.count(r.best_epoch) + "</td><td class=\"num\">" +
         cells.percent(r.final_test_accuracy) + "</td><td class=\"num\">" + cells.percent(r.final_train_accuracy) +
         "</td><td class=\"num\">" + cells.duration(r.seconds) + "</td><td class=\"num\">" +
         cells.number(r.train_images_per_second, 1) + "</td><td><span class=\"status " + status_class(r.status) + "\">" +
         html(r.status) + "</span></td></tr>\n";
}

}  // namespace report
}  // namespace detail

inline std::string write_comparison(const std::string& out_dir, const std::vector<RunRecord>& runs,
                                    const std::vector<std::string>& links = {}) {
  using namespace detail::report;
  if (!links.empty() && links.size() != runs.size())
    throw ValueError(detail::cat("write_comparison: ", runs.size(), " runs but ", links.size(), " links"));
  make_directories(out_dir);
  std::vector<svg::Series> acc, loss;
  bool running = false;
  for (const auto& run : runs) {
    svg::Series a(run.name, column(run.epochs, &EpochRecord::test_accuracy, Kind::Percent));
    svg::Series l(run.name, column(run.epochs, &EpochRecord::train_loss, Kind::Loss));
    a.x = l.x = epoch_numbers(run.epochs);
    acc.push_back(std::move(a));
    loss.push_back(std::move(l));
    running = running || run.status == "running";
  }
  svg::LineChartOptions o;
  o.width = 560;
  o.height = 340;
  o.title = "Test accuracy";
  o.y_label = "test accuracy (%)";
  std::string body = "<div class=\"charts\">\n" + svg::line_chart(acc, o);
  o.title = "Train loss";
  o.y_label = "train loss";
  body += svg::line_chart(loss, o);
  body += "</div>\n<h2>Summary</h2>\n<table class=\"runs\">\n<tr><th>run</th><th>recipe</th><th>norm</th><th>seed</th>"
          "<th>parameters</th><th>epochs</th><th>best test accuracy</th><th>best epoch</th><th>final test accuracy</th>"
          "<th>final train accuracy</th><th>time</th><th>train images / s</th><th>status</th></tr>\n";
  Cells cells;
  for (std::size_t i = 0; i < runs.size(); ++i) body += comparison_row(runs[i], links.empty() ? "" : links[i], cells);
  std::string page = page_head("glia run comparison", running);
  page += "<h1>Comparison of " + std::to_string(runs.size()) + " run(s)</h1>\n" + invalid_note(cells.invalid()) + body;
  page += "</table>\n<p class=\"note\">Written by glia.</p>\n</body>\n</html>\n";
  const std::string path = join_path(out_dir, "comparison.html");
  write_file_atomic(path, page);
  return path;
}

}  // namespace glia
