// glia/report/svg.hpp: small SVG charts as strings, for inlining in an HTML page.
//
// Contract: each builder returns one complete <svg> element (with xmlns, width, height and a
// viewBox) and throws only ValueError, for inconsistent input (series whose x and y differ in
// length, labels and values of different sizes, a confusion matrix that is not square). Output is deterministic: the same input gives the same bytes
// (numbers are formatted by core/text_format.hpp, independent of the locale). The SVG uses the
// generic "sans-serif" font family and no scripts, external fonts, images or links, so it
// renders offline. All text is XML-escaped, and is valid UTF-8 without control characters
// (escape_xml writes U+FFFD for those and for bytes that are not UTF-8), so the SVG is
// well-formed XML whatever the strings hold.
// Any double is accepted: values that are not finite, or whose magnitude exceeds kMaxDrawable
// (1e100), are not drawn and do not scale the axes (a line leaves a gap, a bar is left out and
// labelled with its value, or "n/a"), so every coordinate written is a finite number. Axes
// whose ticks would need more than 12 decimals or reach 1e15 are labelled in scientific
// notation.
//   line_chart(series, options)  one polyline per named series over x (1, 2, ... when x is
//                   empty: epochs), with axes, "nice" ticks (1-2-5 steps; integer ticks on an
//                   integer x axis), axis labels, a legend (one entry per series, in order) and
//                   a title. Non-drawable values leave a gap. Each series is a
//                   <g class="series" data-name="NAME"> holding a <title>NAME</title>.
//   bar_chart(labels, values, options)  one bar per label with its value written above it.
//   confusion_matrix(class_names, counts, options)  counts[true][pred] as a heatmap: cell
//                   shade = count / row total, the count written in each cell, true classes
//                   down the left, predicted classes along the bottom. Classes without a name
//                   in class_names (fewer names than rows) are labelled by their number. A
//                   negative count (impossible) is drawn as a grey cell of class "cell invalid"
//                   and left out of its row total.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/core/text_format.hpp"

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

// XML text: & < > " ' escaped; a control character other than tab, LF and CR (which XML 1.0
// forbids) or a byte that is not UTF-8 becomes U+FFFD, so the result is always valid UTF-8.
inline std::string escape_xml(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const std::size_t n = textfmt::utf8_sequence_length(s, i);
      out += n ? s.substr(i, n) : "\xEF\xBF\xBD";
      i += n ? n : 1;
      continue;
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if ((u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7F) out += "\xEF\xBF\xBD";
        else out += c;
    }
    ++i;
  }
  return out;
}

// v with `decimals` digits after the point, locale-independent; never "-0"; scientific
// notation from 1e21 on; "nan", "inf", "-inf" (textfmt::fixed).
inline std::string fixed(double v, int decimals) { return textfmt::fixed(v, decimals); }

namespace detail {

inline std::string px(double v) { return fixed(v, 1); }

// Rough width in pixels of text in a sans-serif font of the given size (for layout only).
inline double text_width(const std::string& s, double font_size) {
  std::size_t chars = 0;
  for (const char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0u) != 0x80u) ++chars;  // count UTF-8 code points
  return static_cast<double>(chars) * font_size * 0.6;
}

// Values beyond this magnitude are not drawn: axis arithmetic (hi - lo, ticks, pixel
// positions) then stays far from overflow, and no real chart of losses or rates needs them.
inline constexpr double kMaxDrawable = 1e100;
// The narrowest axis span: a flatter range is padded, so a tick step is never denormal or zero.
inline constexpr double kMinSpan = 1e-100;

inline bool drawable(double v) { return std::isfinite(v) && std::fabs(v) <= kMaxDrawable; }

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
// lo and hi are drawable (or replaced by 0 and 1); a range flatter than a billionth of its
// magnitude, or than kMinSpan, is widened by 10% of its magnitude (1 when that is below kMinSpan).
inline Axis nice_axis(double lo, double hi, int target, bool integer) {
  if (!drawable(lo) || !drawable(hi)) lo = 0, hi = 1;
  if (hi < lo) std::swap(lo, hi);
  const double magnitude = std::max(std::fabs(lo), std::fabs(hi));
  if (hi - lo <= magnitude * 1e-9 || hi - lo < kMinSpan) {
    const double mid = lo / 2 + hi / 2, pad = std::fabs(mid) * 0.1 >= kMinSpan ? std::fabs(mid) * 0.1 : 1.0;
    lo = mid - pad;
    hi = mid + pad;
  }
  Axis a;
  a.step = nice_number(nice_number(hi - lo, false) / std::max(1, target), true);
  if (integer) a.step = std::max(1.0, std::round(a.step));
  a.lo = std::floor(lo / a.step + 1e-9) * a.step;
  a.hi = std::ceil(hi / a.step - 1e-9) * a.step;
  a.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(a.step) + 1e-9)));
  const double steps = std::round((a.hi - a.lo) / a.step);  // about target; bounded by the checks above
  const int n = steps >= 0 && steps <= 1000 ? static_cast<int>(steps) : 1;
  for (int i = 0; i <= n; ++i) a.ticks.push_back(a.lo + i * a.step);
  return a;
}

// A tick's label: fixed decimals for ordinary axes; scientific notation, with enough digits to
// tell neighbouring ticks apart, for axes reaching 1e15 or with steps below 1e-12.
inline std::string tick_label(double t, const Axis& a, bool integer) {
  if (std::fabs(t) < a.step * 1e-6) t = 0;  // rounding noise of lo + i * step at zero
  const double magnitude = std::max(std::fabs(a.lo), std::fabs(a.hi));
  if (magnitude < 1e15 && a.decimals <= 12) return fixed(t, integer ? 0 : a.decimals);
  const double digits = std::floor(std::log10(magnitude)) - std::floor(std::log10(a.step));
  return textfmt::scientific(t, digits >= 0 ? static_cast<int>(std::min(digits, 17.0)) : 0);  // NaN: 0
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

namespace detail {

// Each series' x values (1, 2, ... when x is empty), checked against its y values.
inline std::vector<std::vector<double>> series_x(const std::vector<Series>& series) {
  std::vector<std::vector<double>> xs;
  for (const auto& s : series) {
    std::vector<double> x = s.x;
    if (x.empty())
      for (std::size_t i = 0; i < s.y.size(); ++i) x.push_back(static_cast<double>(i + 1));
    if (x.size() != s.y.size())
      throw ValueError(glia::detail::cat("line_chart: series '", s.name, "' has ", x.size(), " x and ", s.y.size(), " y values"));
    xs.push_back(std::move(x));
  }
  return xs;
}

// The plot: its axes, the legend entries' positions and the plot area, in pixels.
struct LinePlot {
  Axis ax, ay;
  bool integer_x = true, has_data = false;
  double left = 64, right = 20, top = 0, bottom = 0, pw = 0, ph = 0;
  std::vector<std::pair<double, double>> legend_at;
  double sx(double x) const { return left + (x - ax.lo) / (ax.hi - ax.lo) * pw; }
  double sy(double y) const { return top + ph - (y - ay.lo) / (ay.hi - ay.lo) * ph; }
};

inline LinePlot line_plot(const std::vector<Series>& series, const std::vector<std::vector<double>>& xs,
                          const LineChartOptions& o) {
  LinePlot p;
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (std::size_t k = 0; k < series.size(); ++k)
    for (std::size_t i = 0; i < xs[k].size(); ++i) {
      const double x = xs[k][i], y = series[k].y[i];
      if (!drawable(x) || !drawable(y)) continue;
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, y);
      y_hi = std::max(y_hi, y);
      p.integer_x = p.integer_x && x == std::floor(x);
    }
  p.has_data = std::isfinite(x_lo);
  if (!p.has_data) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  if (drawable(o.y_min)) y_lo = o.y_min;
  if (drawable(o.y_max)) y_hi = o.y_max;
  p.ax = nice_axis(x_lo, x_hi, 8, p.integer_x);
  p.ay = nice_axis(y_lo, y_hi, 5, false);

  // Legend entries flow left to right under the title, wrapping to new rows.
  const double W = o.width, H = o.height, legend_top = o.title.empty() ? 12 : 34;
  double lx = p.left, ly = legend_top;
  for (const auto& s : series) {
    const double w = 28 + text_width(s.name, 12) + 18;
    if (lx + w > W - p.right && lx > p.left) {
      lx = p.left;
      ly += 18;
    }
    p.legend_at.emplace_back(lx, ly);
    lx += w;
  }
  p.top = (series.empty() ? legend_top : ly + 18) + 8;
  p.bottom = o.x_label.empty() ? 28 : 46;
  p.pw = std::max(10.0, W - p.left - p.right);
  p.ph = std::max(10.0, H - p.top - p.bottom);
  return p;
}

// Title, grid, ticks, tick labels, the frame and the axis labels.
inline std::string line_axes(const LinePlot& p, const LineChartOptions& o) {
  const double W = o.width, H = o.height, left = p.left, top = p.top, pw = p.pw, ph = p.ph;
  std::string out;
  if (!o.title.empty()) out += text(W / 2, 20, o.title, "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"");
  out += "<g class=\"axes\" stroke-width=\"1\">\n";
  for (double t : p.ay.ticks) {
    out += line(left, p.sy(t), left + pw, p.sy(t), "stroke=\"#e5e5e5\"");
    out += text(left - 6, p.sy(t) + 4, tick_label(t, p.ay, false), "text-anchor=\"end\" fill=\"#333\"");
  }
  for (double t : p.ax.ticks) {
    out += line(p.sx(t), top, p.sx(t), top + ph, "stroke=\"#f0f0f0\"");
    out += line(p.sx(t), top + ph, p.sx(t), top + ph + 4, "stroke=\"#333\"");
    out += text(p.sx(t), top + ph + 17, tick_label(t, p.ax, p.integer_x), "text-anchor=\"middle\" fill=\"#333\"");
  }
  out += "<rect x=\"" + px(left) + "\" y=\"" + px(top) + "\" width=\"" + px(pw) + "\" height=\"" + px(ph) +
         "\" fill=\"none\" stroke=\"#333\"/>\n</g>\n";
  if (!o.x_label.empty()) out += text(left + pw / 2, H - 8, o.x_label, "text-anchor=\"middle\"");
  if (!o.y_label.empty())
    out += "<text x=\"0\" y=\"0\" transform=\"translate(14," + px(top + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
           escape_xml(o.y_label) + "</text>\n";
  if (!p.has_data) out += text(left + pw / 2, top + ph / 2, "no data", "text-anchor=\"middle\" fill=\"#999\"");
  return out;
}

// The clip path's id must be unique in a page holding several charts: a hash of the layout.
inline std::string clip_id(const std::vector<Series>& series, const LinePlot& p, const LineChartOptions& o) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  const auto mix_in = [&](const std::string& t) {
    for (const char ch : t) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
    h = (h ^ 0xffu) * 1099511628211ull;
  };
  mix_in(o.title);
  mix_in(o.y_label);
  mix_in(px(p.left) + px(p.top) + px(p.pw) + px(p.ph));
  for (const auto& s : series) mix_in(s.name);
  std::array<char, 32> id;  // 16 hex digits at most
  const auto r = std::to_chars(id.data(), id.data() + id.size(), h, 16);
  if (r.ec != std::errc()) throw ValueError("line_chart: clip id does not fit");  // cannot happen: 2^64 has 16 hex digits
  return "clip-" + std::string(id.data(), r.ptr);
}

// One series: a path through its drawable points (a gap at each other one) and, when it has at
// most 60 points, a dot on each.
inline std::string series_svg(const Series& s, const std::vector<double>& x, const std::string& color, const LinePlot& p,
                              const std::string& clip) {
  std::string path, dots;
  std::size_t points = 0;
  bool pen_down = false;
  for (std::size_t i = 0; i < s.y.size(); ++i) {
    if (!drawable(x[i]) || !drawable(s.y[i])) {
      pen_down = false;
      continue;
    }
    ++points;
    const std::string cx = px(p.sx(x[i])), cy = px(p.sy(s.y[i]));
    path += (pen_down ? " L" : (path.empty() ? "M" : " M")) + cx + " " + cy;
    dots += "<circle cx=\"" + cx + "\" cy=\"" + cy + "\" r=\"2.5\"/>";
    pen_down = true;
  }
  std::string out = "<g class=\"series\" data-name=\"" + escape_xml(s.name) + "\" clip-path=\"url(#" + clip + ")\" fill=\"" +
                    color + "\" stroke=\"" + color + "\">\n<title>" + escape_xml(s.name) + "</title>\n";
  if (!path.empty())
    out += "<path d=\"" + path + "\" fill=\"none\" stroke-width=\"2\"" +
           (s.dashed ? std::string(" stroke-dasharray=\"6 4\"") : std::string()) + "/>\n";
  if (points <= 60 && !dots.empty()) out += dots + "\n";
  return out + "</g>\n";
}

}  // namespace detail

inline std::string line_chart(const std::vector<Series>& series, const LineChartOptions& o = {}) {
  using namespace detail;
  const std::vector<std::vector<double>> xs = series_x(series);
  const LinePlot p = line_plot(series, xs, o);
  std::string out = svg_open(o.width, o.height, o.title) + line_axes(p, o);
  // Series: clip to the plot area so a fixed y range cuts lines instead of spilling out.
  const std::string clip = clip_id(series, p, o);
  out += "<clipPath id=\"" + clip + "\"><rect x=\"" + px(p.left - 4) + "\" y=\"" + px(p.top - 4) + "\" width=\"" +
         px(p.pw + 8) + "\" height=\"" + px(p.ph + 8) + "\"/></clipPath>\n";
  for (std::size_t k = 0; k < series.size(); ++k)
    out += series_svg(series[k], xs[k], series[k].color.empty() ? palette(k) : series[k].color, p, clip);
  // Legend.
  for (std::size_t k = 0; k < series.size(); ++k) {
    const std::string color = series[k].color.empty() ? palette(k) : series[k].color;
    const double x = p.legend_at[k].first, y = p.legend_at[k].second;
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
    if (!drawable(v)) continue;
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
    out += text(left - 6, sy(t) + 4, tick_label(t, ay, integers), "text-anchor=\"end\" fill=\"#333\"");
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const double v = drawable(values[i]) ? values[i] : 0;  // a value that is not drawn: no bar, only its label
    const std::string value = std::isfinite(values[i]) ? fixed(values[i], integers ? 0 : 3) : "n/a";
    const double x = left + slot * static_cast<double>(i) + slot * 0.15, w = slot * 0.7;
    const double y0 = sy(std::max(0.0, v)), y1 = sy(std::min(0.0, v));
    out += "<g class=\"bar\" data-label=\"" + escape_xml(labels[i]) + "\"><title>" + escape_xml(labels[i]) + ": " +
           escape_xml(value) + "</title><rect x=\"" + px(x) + "\" y=\"" + px(y0) +
           "\" width=\"" + px(w) + "\" height=\"" + px(y1 - y0) + "\" fill=\"" + o.color + "\"/>" +
           text(x + w / 2, y0 - 4, value, "text-anchor=\"middle\" font-size=\"10\" fill=\"#333\"");
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

namespace detail {

// One heatmap cell at (x, y), c pixels wide: shade = v / row total; a negative v is impossible
// and drawn grey, marked "invalid".
inline std::string confusion_cell(std::int64_t v, double total, const std::string& true_name, const std::string& pred_name,
                                  bool diagonal, double x, double y, double c) {
  const bool valid = v >= 0;
  const double f = valid && total > 0 ? static_cast<double>(v) / total : 0.0;
  const auto mix = [&](int a, int b) { return std::to_string(static_cast<int>(std::lround(a + (b - a) * f))); };
  const std::string fill = valid ? "rgb(" + mix(255, 8) + "," + mix(255, 48) + "," + mix(255, 107) + ")" : "#d0d0d0";
  const std::string digits = std::to_string(v);
  const double fs = std::min(12.0, c * 0.9 / (0.6 * static_cast<double>(std::max<std::size_t>(2, digits.size()))));
  return std::string("<g class=\"cell") + (valid ? "" : " invalid") + "\"><title>true " + escape_xml(true_name) +
         ", predicted " + escape_xml(pred_name) + ": " + digits + (valid ? "" : " (invalid)") + "</title><rect x=\"" + px(x) +
         "\" y=\"" + px(y) + "\" width=\"" + px(c) + "\" height=\"" + px(c) + "\" fill=\"" + fill + "\"" +
         (diagonal ? " stroke=\"#333\"" : " stroke=\"#ffffff\"") + "/>" +
         text(x + c / 2, y + c / 2 + fs * 0.35, digits,
              "text-anchor=\"middle\" font-size=\"" + fixed(fs, 1) + "\" fill=\"" + (f > 0.5 ? "#ffffff" : "#222222") + "\"") +
         "</g>\n";
}

}  // namespace detail

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
    // In double: a sum of int64 counts can overflow int64, never double; negative counts are
    // impossible and stay out of the total.
    double total = 0;
    for (auto v : counts[t]) total += v > 0 ? static_cast<double>(v) : 0.0;
    for (std::size_t p = 0; p < n; ++p)
      out += confusion_cell(counts[t][p], total, names[t], names[p], t == p, left + c * static_cast<double>(p),
                            top + c * static_cast<double>(t), c);
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
