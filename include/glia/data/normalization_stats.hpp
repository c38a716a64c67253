// glia/data/normalization_stats.hpp: the normalisation of a data set measured on its pixels, and
// its text form for a model file's metadata.
//
// Contract:
// - compute_normalization(d) returns the per-channel mean and standard deviation of d's pixels
//   scaled to [0, 1] (byte / 255, as torchvision's ToTensor gives them), over every pixel of
//   every image: mean_c = S1 / (255 n), std_c = sqrt(sum_v h_c(v) (v - S1/n)^2 / n) / 255 (the
//   population deviation, numpy's default ddof = 0; torch.std's default would divide by n - 1),
//   with h_c(v) the number of pixels of channel c equal to v and n the pixels per channel. The
//   counts are integers (per-chunk histograms over a fixed number of image chunks, added in
//   order), the rest is computed in double from them in a fixed order and rounded to float
//   once: the result is exact to double rounding and bitwise the same for any thread count.
//   Normalization::channels = d.channels; entries past it repeat the last channel's. A constant
//   channel (std 0) gets std 1, so that it is only shifted. ValueError for an empty data set,
//   channels outside 1..3, or pixels that do not match the images' size.
// - normalization_to_json(n) writes {"mean":[m0,...],"std":[s0,...]} with max(n.channels, 1..3:
//   3 when channels is 0) numbers each, every float in its shortest form that reads back to the
//   same float (std::to_chars): parse_normalization_json(to_json(n)) gives n back (channels 0,
//   CIFAR-10's default, comes back as 3).
// - parse_normalization_json(text, where) reads that form back: one object with exactly the keys
//   "mean" and "std" (either order, JSON white space anywhere), each an array of 1 to 3 finite
//   numbers, both of the same length (the channel count); std > 0. Anything else (other keys,
//   duplicates, trailing text, a string, a NaN) throws FormatError "<where>: ..." naming the key
//   or the byte offset at fault.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/core/utf8.hpp"
#include "glia/data/augment.hpp"
#include "glia/data/dataset.hpp"
#include "glia/kernels/parallel.hpp"

namespace glia {

inline Normalization compute_normalization(const ImageDataset& d) {
  const Index C = d.channels, n = d.size();
  if (C < 1 || C > 3) throw ValueError(detail::cat("compute_normalization: '", d.source, "' has ", C, " channels"));
  if (n < 1) throw ValueError(detail::cat("compute_normalization: '", d.source, "' has no images"));
  if (d.pixels.size() != static_cast<std::size_t>(n * d.image_bytes()))
    throw ValueError(detail::cat("compute_normalization: '", d.source, "' has ", d.pixels.size(), " pixel bytes for ",
                                 n, " images of ", d.image_bytes()));
  const Index per_chunk = 64, chunks = (n + per_chunk - 1) / per_chunk, plane = d.height * d.width;
  std::vector<std::uint64_t> hist(static_cast<std::size_t>(chunks * C * 256), 0);
  parallel_for(chunks, [&](Index k) {
    std::uint64_t* h = hist.data() + k * C * 256;
    for (Index i = k * per_chunk; i < std::min(n, (k + 1) * per_chunk); ++i)
      for (Index c = 0; c < C; ++c) {
        const std::uint8_t* p = d.pixels.data() + i * d.image_bytes() + c * plane;
        std::uint64_t* hc = h + c * 256;
        for (Index q = 0; q < plane; ++q) ++hc[p[q]];
      }
  });
  Normalization out;
  out.channels = C;
  for (Index c = 0; c < C; ++c) {
    std::array<std::uint64_t, 256> count{};
    for (Index k = 0; k < chunks; ++k)
      for (int v = 0; v < 256; ++v)
        count[static_cast<std::size_t>(v)] += hist[static_cast<std::size_t>((k * C + c) * 256 + v)];
    std::uint64_t pixels = 0, sum = 0;
    for (int v = 0; v < 256; ++v) {
      pixels += count[static_cast<std::size_t>(v)];
      sum += count[static_cast<std::size_t>(v)] * static_cast<std::uint64_t>(v);
    }
    const double mean = static_cast<double>(sum) / static_cast<double>(pixels);
    double squares = 0;
    for (int v = 0; v < 256; ++v)
      squares += static_cast<double>(count[static_cast<std::size_t>(v)]) * (v - mean) * (v - mean);
    const double sd = std::sqrt(squares / static_cast<double>(pixels)) / 255.0;
    out.mean[static_cast<std::size_t>(c)] = static_cast<float>(mean / 255.0);
    out.std[static_cast<std::size_t>(c)] = sd > 0 ? static_cast<float>(sd) : 1.0f;
  }
  for (Index c = C; c < 3; ++c) {
    out.mean[static_cast<std::size_t>(c)] = out.mean[static_cast<std::size_t>(C - 1)];
    out.std[static_cast<std::size_t>(c)] = out.std[static_cast<std::size_t>(C - 1)];
  }
  return out;
}

namespace detail {

inline std::string shortest_float(float v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  if (r.ec != std::errc()) throw Error("shortest_float: std::to_chars failed");
  return std::string(buf, r.ptr);
}

// A minimal reader for the one JSON shape parse_normalization_json accepts.
struct NormJsonReader {
  const std::string& s;
  const std::string& where;
  std::size_t at = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(cat(where, ": ", what, " at byte offset ", at, " of the normalisation text"));
  }
  void space() {
    while (at < s.size() && (s[at] == ' ' || s[at] == '\t' || s[at] == '\n' || s[at] == '\r')) ++at;
  }
  void expect(char c) {
    space();
    if (at >= s.size() || s[at] != c) fail(cat("expected '", c, "'"));
    ++at;
  }
  bool next_is(char c) {
    space();
    return at < s.size() && s[at] == c;
  }
  std::string key() {
    expect('"');
    const std::size_t end = s.find('"', at);
    if (end == std::string::npos) fail("unterminated key");
    std::string k = s.substr(at, end - at);
    at = end + 1;
    return k;
  }
  std::vector<float> numbers(const std::string& name) {
    expect('[');
    std::vector<float> v;
    while (!(v.empty() && next_is(']'))) {
      space();
      float x = 0;
      const auto r = std::from_chars(s.data() + at, s.data() + s.size(), x);
      if (r.ec != std::errc() || !std::isfinite(x) || (at < s.size() && s[at] == '+'))
        fail(cat("'", name, "' needs finite numbers"));
      at = static_cast<std::size_t>(r.ptr - s.data());
      v.push_back(x);
      if (!next_is(',')) break;
      ++at;
    }
    expect(']');
    if (v.empty() || v.size() > 3)
      fail(cat("'", name, "' has ", v.size(), " numbers; expected 1 to 3 (one per channel)"));
    return v;
  }
};

}  // namespace detail

inline std::string normalization_to_json(const Normalization& n) {
  const Index C = n.channels > 0 ? n.channels : 3;
  std::string mean, sd;
  for (Index c = 0; c < C; ++c) {
    mean += (c ? "," : "") + detail::shortest_float(n.mean[static_cast<std::size_t>(c)]);
    sd += (c ? "," : "") + detail::shortest_float(n.std[static_cast<std::size_t>(c)]);
  }
  return "{\"mean\":[" + mean + "],\"std\":[" + sd + "]}";
}

inline Normalization parse_normalization_json(const std::string& text, const std::string& where) {
  detail::NormJsonReader r{text, where};
  std::vector<float> mean, sd;
  bool have_mean = false, have_std = false;
  r.expect('{');
  for (int k = 0; k < 2; ++k) {
    if (k) r.expect(',');
    const std::string key = r.key();
    r.expect(':');
    if (key == "mean" && !have_mean) {
      mean = r.numbers("mean");
      have_mean = true;
    } else if (key == "std" && !have_std) {
      sd = r.numbers("std");
      have_std = true;
    } else {
      const bool repeated = key == "mean" || key == "std";
      r.fail(detail::cat("key '", printable_name(key, 40), "'", repeated ? " repeated" : " unknown",
                         "; expected \"mean\" and \"std\""));
    }
  }
  r.expect('}');
  r.space();
  if (r.at != text.size()) r.fail("text after the object");
  if (mean.size() != sd.size())
    throw FormatError(detail::cat(where, ": 'mean' has ", mean.size(), " numbers but 'std' ", sd.size()));
  Normalization n;
  n.channels = static_cast<Index>(mean.size());
  for (std::size_t c = 0; c < 3; ++c) {
    const std::size_t from = std::min(c, mean.size() - 1);
    n.mean[c] = mean[from];
    n.std[c] = sd[from];
    if (!(sd[from] > 0))
      throw FormatError(detail::cat(where, ": 'std' of channel ", from, " is ", sd[from], "; it must be > 0"));
  }
  return n;
}

}  // namespace glia
