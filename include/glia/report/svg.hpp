// glia/report/svg.hpp: small SVG charts as strings, for inlining in an HTML page.
//
// Contract: each builder returns one complete <svg> element (with xmlns, width, height and a
// viewBox) and throws only ValueError, for inconsistent input (series whose x and y differ in
// length, labels and values of different sizes, a confusion matrix that is not square). Output is deterministic: the same input gives the same bytes
// (numbers are formatted with std::to_chars, independent of the locale). The SVG uses the
// generic "sans-serif" font family and no scripts, external fonts, images or links, so it
// renders offline. All text is XML-escaped.
//   line_chart(series, options)  one polyline per named series over x (1, 2, ... when x is
//                   empty: epochs), with axes, "nice" ticks (1-2-5 steps; integer ticks on an
//                   integer x axis), axis labels, a legend (one entry per series, in order) and
//                   a title. Non-finite y values leave a gap. Each series is a
//                   <g class="series" data-name="NAME"> holding a <title>NAME</title>.
//   bar_chart(labels, values, options)  one bar per label with its value written above it.
//   confusion_matrix(class_names, counts, options)  counts[true][pred] as a heatmap: cell
//                   shade = count / row total, the count written in each cell, true classes
//                   down the left, predicted classes along the bottom. Classes without a name
//                   in class_names (fewer names than rows) are labelled by their number.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "glia/core/error.hpp"

namespace glia {
namespace svg {

struct Series {
  Series() = default;
  Series(std::string name_, std::vector<double> y_, std::string color_ = "", bool dashed_ = false)
      : name(std::move(name_)), y(std::move(y_)), color(std::move(color_)), dashed(dashed_) {}

  std::string name;
  std::vector<double> y;
  std::vector<double> x;  // empty: 1, 2, ..., y.size()
  std::string color;      // empty: the palette colour for the series' position
  bool dashed = false;
};

struct LineChartOptions {
  std::string title, x_label = "epoch", y_label;
  int width = 640, height = 360;
  double y_min = std::numeric_limits<double>::quiet_NaN();  // NaN: from the data
  double y_max = std::numeric_limits<double>::quiet_NaN();
};

struct BarChartOptions {
  std::string title, x_label, y_label;
  int width = 640, height = 320;
  std::string color = "#1f77b4";
};

struct HeatmapOptions {
  std::string title = "Confusion matrix";
  std::string x_label = "predicted", y_label = "true";
  int cell = 40;  // pixels per cell
};

// The tab10 palette.
inline const std::string& palette(std::size_t i) {
  static const std::vector<std::string> colors = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return colors[i % colors.size()];
}

inline std::string escape_xml(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// v with `decimals` digits after the point, locale-independent; never "-0".
inline std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "nan";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  std::string s(buf, r.ptr);
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

namespace detail {

inline std::string px(double v) { return fixed(v, 1); }

// Rough width in pixels of text in a sans-serif font of the given size (for layout only).
inline double text_width(const std::string& s, double font_size) {
  std::size_t chars = 0;
  for (const char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0u) != 0x80u) ++chars;  // count UTF-8 code points
  return static_cast<double>(chars) * font_size * 0.6;
}

inline double nice_number(double x, bool round) {
  const double e = std::floor(std::log10(x));
  const double f = x / std::pow(10.0, e);
  double n;
  if (round) n = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  else n = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return n * std::pow(10.0, e);
}

struct Axis {
  double lo = 0, hi = 1, step = 0.2;
  int decimals = 1;
  std::vector<double> ticks;
};

// Ticks covering [lo, hi] with about `target` steps of 1, 2 or 5 x 10^k (at least 1 if integer).
inline Axis nice_axis(double lo, double hi, int target, bool integer) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  Axis a;
  a.step = nice_number(nice_number(hi - lo, false) / std::max(1, target), true);
  if (integer) a.step = std::max(1.0, std::round(a.step));
  a.lo = std::floor(lo / a.step + 1e-9) * a.step;
  a.hi = std::ceil(hi / a.step - 1e-9) * a.step;
  a.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(a.step) + 1e-9)));
  const int n = static_cast<int>(std::round((a.hi - a.lo) / a.step));
  for (int i = 0; i <= n; ++i) a.ticks.push_back(a.lo + i * a.step);
  return a;
}

inline std::string svg_open(int width, int height, const std::string& title) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
         std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
         "\" role=\"img\" aria-label=\"" + escape_xml(title) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
}

inline std::string text(double x, double y, const std::string& s, const std::string& attrs = "") {
  return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\"" + (attrs.empty() ? "" : " " + attrs) + ">" + escape_xml(s) + "</text>\n";
}

inline std::string line(double x1, double y1, double x2, double y2, const std::string& attrs) {
  return "<line x1=\"" + px(x1) + "\" y1=\"" + px(y1) + "\" x2=\"" + px(x2) + "\" y2=\"" + px(y2) + "\" " + attrs + "/>\n";
}

}  // namespace detail

inline std::string line_chart(const std::vector<Series>& series, const LineChartOptions& o = {}) {
  using namespace detail;
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  bool integer_x = true;
  std::vector<std::vector<double>> xs;
  for (const auto& s : series) {
    std::vector<double> x = s.x;
    if (x.empty())
      for (std::size_t i = 0; i < s.y.size(); ++i) x.push_back(static_cast<double>(i + 1));
    if (x.size() != s.y.size())
      throw ValueError(glia::detail::cat("line_chart: series '", s.name, "' has ", x.size(), " x and ", s.y.size(), " y values"));
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!std::isfinite(x[i]) || !std::isfinite(s.y[i])) continue;
      x_lo = std::min(x_lo, x[i]);
      x_hi = std::max(x_hi, x[i]);
      y_lo = std::min(y_lo, s.y[i]);
      y_hi = std::max(y_hi, s.y[i]);
      integer_x = integer_x && x[i] == std::floor(x[i]);
    }
    xs.push_back(std::move(x));
  }
  const bool has_data = std::isfinite(x_lo);
  if (!has_data) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  if (std::isfinite(o.y_min)) y_lo = o.y_min;
  if (std::isfinite(o.y_max)) y_hi = o.y_max;
  const Axis ax = nice_axis(x_lo, x_hi, 8, integer_x);
  const Axis ay = nice_axis(y_lo, y_hi, 5, false);

  // Legend entries flow left to right under the title, wrapping to new rows.
  const double W = o.width, H = o.height;
  const double left = 64, right = 20, legend_top = o.title.empty() ? 12 : 34;
  std::vector<std::pair<double, double>> legend_at;
  double lx = left, ly = legend_top;
  for (const auto& s : series) {
    const double w = 28 + text_width(s.name, 12) + 18;
    if (lx + w > W - right && lx > left) {
      lx = left;
      ly += 18;
    }
    legend_at.emplace_back(lx, ly);
    lx += w;
  }
  const double top = (series.empty() ? legend_top : ly + 18) + 8;
  const double bottom = o.x_label.empty() ? 28 : 46;
  const double pw = std::max(10.0, W - left - right), ph = std::max(10.0, H - top - bottom);
  const auto sx = [&](double x) { return left + (x - ax.lo) / (ax.hi - ax.lo) * pw; };
  const auto sy = [&](double y) { return top + ph - (y - ay.lo) / (ay.hi - ay.lo) * ph; };

  std::string out = svg_open(o.width, o.height, o.title);
  if (!o.title.empty()) out += text(W / 2, 20, o.title, "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"");
  // Grid, ticks and tick labels.
  out += "<g class=\"axes\" stroke-width=\"1\">\n";
  for (double t : ay.ticks) {
    out += line(left, sy(t), left + pw, sy(t), "stroke=\"#e5e5e5\"");
    out += text(left - 6, sy(t) + 4, fixed(t, ay.decimals), "text-anchor=\"end\" fill=\"#333\"");
  }
  for (double t : ax.ticks) {
    out += line(sx(t), top, sx(t), top + ph, "stroke=\"#f0f0f0\"");
    out += line(sx(t), top + ph, sx(t), top + ph + 4, "stroke=\"#333\"");
    out += text(sx(t), top + ph + 17, fixed(t, integer_x ? 0 : ax.decimals), "text-anchor=\"middle\" fill=\"#333\"");
  }
  out += "<rect x=\"" + px(left) + "\" y=\"" + px(top) + "\" width=\"" + px(pw) + "\" height=\"" + px(ph) +
         "\" fill=\"none\" stroke=\"#333\"/>\n</g>\n";
  if (!o.x_label.empty()) out += text(left + pw / 2, H - 8, o.x_label, "text-anchor=\"middle\"");
  if (!o.y_label.empty())
    out += "<text x=\"0\" y=\"0\" transform=\"translate(14," + px(top + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
           escape_xml(o.y_label) + "</text>\n";
  if (!has_data) out += text(left + pw / 2, top + ph / 2, "no data", "text-anchor=\"middle\" fill=\"#999\"");

  // Series: clip to the plot area so a fixed y range cuts lines instead of spilling out.
  // The clip path's id must be unique in a page holding several charts: a hash of the layout.
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  const auto mix_in = [&](const std::string& t) {
    for (const char ch : t) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
    h = (h ^ 0xffu) * 1099511628211ull;
  };
  mix_in(o.title);
  mix_in(o.y_label);
  mix_in(px(left) + px(top) + px(pw) + px(ph));
  for (const auto& s : series) mix_in(s.name);
  char id[32];
  const auto idr = std::to_chars(id, id + sizeof id, h, 16);
  const std::string clip = "clip-" + std::string(id, idr.ptr);
  out += "<clipPath id=\"" + clip + "\"><rect x=\"" + px(left - 4) + "\" y=\"" + px(top - 4) + "\" width=\"" + px(pw + 8) +
         "\" height=\"" + px(ph + 8) + "\"/></clipPath>\n";
  for (std::size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    const std::string color = s.color.empty() ? palette(k) : s.color;
    std::string path;
    std::string dots;
    std::size_t finite = 0;
    bool pen_down = false;
    for (std::size_t i = 0; i < s.y.size(); ++i) {
      if (!std::isfinite(xs[k][i]) || !std::isfinite(s.y[i])) {
        pen_down = false;
        continue;
      }
      ++finite;
      path += (pen_down ? " L" : (path.empty() ? "M" : " M")) + px(sx(xs[k][i])) + " " + px(sy(s.y[i]));
      dots += "<circle cx=\"" + px(sx(xs[k][i])) + "\" cy=\"" + px(sy(s.y[i])) + "\" r=\"2.5\"/>";
      pen_down = true;
    }
    out += "<g class=\"series\" data-name=\"" + escape_xml(s.name) + "\" clip-path=\"url(#" + clip + ")\" fill=\"" + color +
           "\" stroke=\"" + color + "\">\n<title>" + escape_xml(s.name) + "</title>\n";
    if (!path.empty())
      out += "<path d=\"" + path + "\" fill=\"none\" stroke-width=\"2\"" +
             (s.dashed ? std::string(" stroke-dasharray=\"6 4\"") : std::string()) + "/>\n";
    if (finite <= 60 && !dots.empty()) out += dots + "\n";
    out += "</g>\n";
  }
  // Legend.
  for (std::size_t k = 0; k < series.size(); ++k) {
    const std::string color = series[k].color.empty() ? palette(k) : series[k].color;
    const double x = legend_at[k].first, y = legend_at[k].second;
    out += "<g class=\"legend\">" +
           line(x, y, x + 22, y, "stroke=\"" + color + "\" stroke-width=\"3\"" +
                                     (series[k].dashed ? std::string(" stroke-dasharray=\"6 4\"") : std::string())) +
           text(x + 28, y + 4, series[k].name) + "</g>\n";
  }
  out += "</svg>\n";
  return out;
}

inline std::string bar_chart(const std::vector<std::string>& labels, const std::vector<double>& values, const BarChartOptions& o = {}) {
  using namespace detail;
  if (labels.size() != values.size())
    throw ValueError(glia::detail::cat("bar_chart: ", labels.size(), " labels but ", values.size(), " values"));
  double hi = 0, lo = 0;
  bool integers = true;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    hi = std::max(hi, v);
    lo = std::min(lo, v);
    integers = integers && v == std::floor(v);
  }
  const Axis ay = nice_axis(lo, hi > lo ? hi : lo + 1, 5, integers);
  const double W = o.width, H = o.height;
  const double left = 64, right = 16, top = o.title.empty() ? 24 : 52;  // room for the value labels
  const std::size_t n = std::max<std::size_t>(1, labels.size());
  const double pw = std::max(10.0, W - left - right), slot = pw / static_cast<double>(n);
  double longest = 0;
  for (const auto& l : labels) longest = std::max(longest, text_width(l, 12));
  const bool rotate = longest > slot - 4;
  const double label_h = rotate ? longest * 0.71 + 16 : 20;
  const double bottom = label_h + (o.x_label.empty() ? 6 : 26);
  const double ph = std::max(10.0, H - top - bottom);
  const auto sy = [&](double y) { return top + ph - (y - ay.lo) / (ay.hi - ay.lo) * ph; };

  std::string out = svg_open(o.width, o.height, o.title);
  if (!o.title.empty()) out += text(W / 2, 22, o.title, "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"");
  for (double t : ay.ticks) {
    out += line(left, sy(t), left + pw, sy(t), "stroke=\"#e5e5e5\"");
    out += text(left - 6, sy(t) + 4, fixed(t, integers ? 0 : ay.decimals), "text-anchor=\"end\" fill=\"#333\"");
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const double v = std::isfinite(values[i]) ? values[i] : 0;
    const double x = left + slot * static_cast<double>(i) + slot * 0.15, w = slot * 0.7;
    const double y0 = sy(std::max(0.0, v)), y1 = sy(std::min(0.0, v));
    out += "<g class=\"bar\" data-label=\"" + escape_xml(labels[i]) + "\"><title>" + escape_xml(labels[i]) + ": " +
           escape_xml(fixed(values[i], integers ? 0 : 3)) + "</title><rect x=\"" + px(x) + "\" y=\"" + px(y0) +
           "\" width=\"" + px(w) + "\" height=\"" + px(y1 - y0) + "\" fill=\"" + o.color + "\"/>" +
           text(x + w / 2, y0 - 4, fixed(values[i], integers ? 0 : 3), "text-anchor=\"middle\" font-size=\"10\" fill=\"#333\"");
    const double cx = left + slot * (static_cast<double>(i) + 0.5), ly = top + ph + 14;
    if (rotate)
      out += "<text x=\"0\" y=\"0\" transform=\"translate(" + px(cx + 4) + "," + px(ly - 4) +
             ") rotate(-45)\" text-anchor=\"end\">" + escape_xml(labels[i]) + "</text>";
    else
      out += text(cx, ly, labels[i], "text-anchor=\"middle\"");
    out += "</g>\n";
  }
  out += line(left, sy(0), left + pw, sy(0), "stroke=\"#333\"");
  out += line(left, top, left, top + ph, "stroke=\"#333\"");
  if (!o.x_label.empty()) out += text(left + pw / 2, H - 8, o.x_label, "text-anchor=\"middle\"");
  if (!o.y_label.empty())
    out += "<text x=\"0\" y=\"0\" transform=\"translate(14," + px(top + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
           escape_xml(o.y_label) + "</text>\n";
  out += "</svg>\n";
  return out;
}

inline std::string confusion_matrix(const std::vector<std::string>& class_names,
                                    const std::vector<std::vector<std::int64_t>>& counts, const HeatmapOptions& o = {}) {
  using namespace detail;
  const std::size_t n = counts.size();
  for (const auto& row : counts)
    if (row.size() != n) throw ValueError(glia::detail::cat("confusion_matrix: not square: ", n, " rows, a row of ", row.size()));
  std::vector<std::string> names(class_names.begin(), class_names.begin() + static_cast<std::ptrdiff_t>(std::min(n, class_names.size())));
  for (std::size_t i = names.size(); i < n; ++i) names.push_back(std::to_string(i));
  double longest = 0;
  for (const auto& s : names) longest = std::max(longest, text_width(s, 12));
  const double c = o.cell;
  const double left = longest + 34, top = o.title.empty() ? 12 : 40;
  const double grid = c * static_cast<double>(n);
  const double bottom = longest * 0.71 + 44;
  const int W = static_cast<int>(std::ceil(std::max(left + grid + 16, 2 * text_width(o.title, 15) + 20)));
  const int H = static_cast<int>(std::ceil(top + grid + bottom));

  std::string out = svg_open(W, H, o.title);
  if (!o.title.empty()) out += text(W / 2.0, 22, o.title, "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"");
  for (std::size_t t = 0; t < n; ++t) {
    std::int64_t total = 0;
    for (auto v : counts[t]) total += v;
    for (std::size_t p = 0; p < n; ++p) {
      const std::int64_t v = counts[t][p];
      const double f = total > 0 ? static_cast<double>(v) / static_cast<double>(total) : 0.0;
      const auto mix = [&](int a, int b) { return std::to_string(static_cast<int>(std::lround(a + (b - a) * f))); };
      const std::string fill = "rgb(" + mix(255, 8) + "," + mix(255, 48) + "," + mix(255, 107) + ")";
      const double x = left + c * static_cast<double>(p), y = top + c * static_cast<double>(t);
      const std::string digits = std::to_string(v);
      const double fs = std::min(12.0, c * 0.9 / (0.6 * static_cast<double>(std::max<std::size_t>(2, digits.size()))));
      out += "<g class=\"cell\"><title>true " + escape_xml(names[t]) + ", predicted " + escape_xml(names[p]) + ": " + digits +
             "</title><rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(c) + "\" height=\"" + px(c) +
             "\" fill=\"" + fill + "\"" + (t == p ? " stroke=\"#333\"" : " stroke=\"#ffffff\"") + "/>" +
             text(x + c / 2, y + c / 2 + fs * 0.35, digits,
                  "text-anchor=\"middle\" font-size=\"" + fixed(fs, 1) + "\" fill=\"" + (f > 0.5 ? "#ffffff" : "#222222") + "\"") +
             "</g>\n";
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const double mid = c * (static_cast<double>(i) + 0.5);
    out += text(left - 6, top + mid + 4, names[i], "class=\"true-label\" text-anchor=\"end\"");
    out += "<text class=\"pred-label\" x=\"0\" y=\"0\" transform=\"translate(" + px(left + mid + 4) + "," +
           px(top + grid + 10) + ") rotate(-45)\" text-anchor=\"end\">" + escape_xml(names[i]) + "</text>\n";
  }
  if (!o.y_label.empty())
    out += "<text x=\"0\" y=\"0\" transform=\"translate(14," + px(top + grid / 2) + ") rotate(-90)\" text-anchor=\"middle\" font-weight=\"bold\">" +
           escape_xml(o.y_label) + "</text>\n";
  if (!o.x_label.empty())
    out += text(left + grid / 2, H - 8, o.x_label, "text-anchor=\"middle\" font-weight=\"bold\"");
  out += "</svg>\n";
  return out;
}

}  // namespace svg
}  // namespace glia
