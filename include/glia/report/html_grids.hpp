// glia/report/html_grids.hpp: the image grids of a run's HTML report (misclassified test
// images, sample training images): their PNGs, their layout file and their HTML.
//
// Contract (the image part of write_report, html_report.hpp):
//   ReportImages   the pictures and labels the caller passes to write_report.
//   report_grids(out_dir, run, images)  with images != nullptr, writes misclassified.png (the
//                  first 10 images, 5 columns x 2 rows) and samples.png (the first 50, 10 per
//                  row), 3x upscaled, plus report_images.json recording their layout and
//                  captions (class names from run.class_names, else the label's number). With
//                  images == nullptr, reuses what is in out_dir: the PNGs with their captions
//                  when report_images.json is there, as plain pictures when only a PNG is.
//                  Returns the two layouts. ValueError for ReportImages whose sizes disagree;
//                  FormatError naming a report_images.json that cannot be read or whose layout
//                  is inconsistent or out of bounds (a grid of more than 1000 columns, images
//                  larger than 10000 pixels, a scale above 100 or a margin above 1000).
//   grid_html(g, empty_note)  the grid as HTML: one cropped <img> per tile with its caption.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "glia/core/atomic_file.hpp"
#include "glia/core/error.hpp"
#include "glia/report/html_values.hpp"
#include "glia/report/json_io.hpp"
#include "glia/report/png.hpp"
#include "glia/train/run_record.hpp"

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

// One image grid as laid out in a PNG: which file, its geometry and each tile's caption.
struct GridLayout {
  std::string file;
  Index count = 0, cols = 1, height = 32, width = 32, scale = kGridScale, margin = kGridMargin;
  std::vector<std::string> captions, tooltips;
  bool known = false;  // false: only the PNG is known (show it whole)
};

inline Json grid_to_json(const GridLayout& g) {
  Json v = Json::object();
  v["file"] = g.file;
  v["count"] = g.count;
  v["cols"] = g.cols;
  v["height"] = g.height;
  v["width"] = g.width;
  v["scale"] = g.scale;
  v["margin"] = g.margin;
  v["captions"] = g.captions;
  v["tooltips"] = g.tooltips;
  return v;
}

inline GridLayout grid_from_json(const Json& v, const std::string& key, const std::string& source) {
  const JsonReader r(source);
  GridLayout g;
  r.field(v, "file", key, g.file);
  r.field(v, "count", key, g.count);
  r.field(v, "cols", key, g.cols);
  r.field(v, "height", key, g.height);
  r.field(v, "width", key, g.width);
  r.field(v, "scale", key, g.scale);
  r.field(v, "margin", key, g.margin);
  const auto strings = [&](const char* list, std::vector<std::string>& out) {
    const std::string path = JsonReader::sub(key, list);
    const Json& items = r.array(r.member(v, list, key), path);
    out.resize(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) r.get(items[i], JsonReader::index(path, i), out[i]);
  };
  strings("captions", g.captions);
  strings("tooltips", g.tooltips);
  // Bounded so that the tile offsets grid_html computes cannot overflow (and no real grid is
  // near these sizes).
  if (g.count < 0 || g.cols <= 0 || g.cols > 1000 || g.height <= 0 || g.height > 10000 || g.width <= 0 ||
      g.width > 10000 || g.scale <= 0 || g.scale > 100 || g.margin < 0 || g.margin > 1000 ||
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

// The two grids (misclassified, samples): written now, or found from an earlier call.
inline std::pair<GridLayout, GridLayout> report_grids(const std::string& out_dir, const RunRecord& run,
                                                      const ReportImages* images) {
  const std::string sidecar = join_path(out_dir, "report_images.json");
  std::pair<GridLayout, GridLayout> g;
  if (images != nullptr) {
    check_images(*images);
    const auto& im = *images;
    std::vector<std::string> captions, tooltips;
    for (std::size_t k = 0; k < im.mis_true.size(); ++k) {
      const std::string t = class_name(run.class_names, im.mis_true[k]), p = class_name(run.class_names, im.mis_pred[k]);
      captions.push_back(t + "/" + p);
      tooltips.push_back("true: " + t + ", predicted: " + p);
    }
    g.first = write_grid(out_dir, "misclassified.png", im.misclassified, static_cast<Index>(im.mis_true.size()), im.height,
                         im.width, kMisclassifiedCols, kMisclassifiedRows, captions, tooltips);
    captions.clear();
    for (auto label : im.sample_labels) captions.push_back(class_name(run.class_names, label));
    g.second = write_grid(out_dir, "samples.png", im.samples, static_cast<Index>(im.sample_labels.size()), im.height,
                          im.width, kSampleCols, kMaxSamples / kSampleCols, captions, captions);
    Json v = Json::object();
    v["misclassified"] = grid_to_json(g.first);
    v["samples"] = grid_to_json(g.second);
    write_file_atomic(sidecar, dump_json(v) + "\n");
  } else {
    const bool have_sidecar = file_exists(sidecar);
    Json v;
    if (have_sidecar) v = read_json_file(sidecar, "report layout file");
    const auto find = [&](const std::string& key, const std::string& file) {
      GridLayout f;
      if (have_sidecar) f = grid_from_json(JsonReader(sidecar).member(v, key, ""), key, sidecar);
      if (f.known && (f.count == 0 || file_exists(join_path(out_dir, f.file)))) return f;
      f = GridLayout{};
      f.file = file;
      f.count = file_exists(join_path(out_dir, file)) ? -1 : 0;  // -1: a PNG without layout
      f.known = f.count == 0;
      return f;
    };
    g.first = find("misclassified", "misclassified.png");
    g.second = find("samples", "samples.png");
  }
  return g;
}

}  // namespace report
}  // namespace detail
}  // namespace glia
