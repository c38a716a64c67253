// glia/data/dataset.hpp: ImageDataset, a labelled set of small 8-bit images held in memory.
//
// Contract:
// - pixels holds size() images back to back, each channels x height x width bytes in CHW order
//   (plane by plane, each plane row-major), so image(i) is the first byte of image i. Pixels
//   stay uint8 (CIFAR-10 is 150 MB as bytes, 600 MB as floats); make_batch (augment.hpp)
//   converts one batch at a time.
// - labels[i] is image i's class, an index into class_names. size() is labels.size().
// - source says where the images came from (a folder), for messages and reports.
// - image(i) throws ValueError when i is not in [0, size()).
// - class_counts(d) counts the images of each class: a vector of max(class_names.size(),
//   largest label + 1) counts. A negative label throws ValueError naming the record.
// - subset(d, indices) copies the images and labels at indices (in that order) into a new data
//   set with d's geometry, class names and source; ValueError for an index outside d.
// - stratified_split(labels, val_fraction, seed) splits positions 0..n-1 into a training and a
//   validation part, class by class: the n_k positions of class k are shuffled by a
//   Fisher-Yates pass driven by Rng::stream(seed, kSplitStream, k) (loader.hpp's shuffle), and
//   the first v_k = min(round(val_fraction * n_k), n_k - 1) go to validation (round: halves
//   away from zero), so every class keeps a training image and the class mix is the same in
//   both parts. Both parts come out sorted (class by class, file order). The same labels,
//   fraction and seed give the same split on every machine. ValueError for a fraction outside
//   (0, 1) or a negative label; FormatError when no class gets a validation image.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/tensor/random.hpp"
#include "glia/tensor/shape.hpp"

namespace glia {

struct ImageDataset {
  Index channels = 3, height = 32, width = 32;
  std::vector<std::uint8_t> pixels;  // size() * channels * height * width bytes, CHW per image
  std::vector<std::int32_t> labels;
  std::vector<std::string> class_names;
  std::string source;

  Index size() const { return static_cast<Index>(labels.size()); }
  Index image_bytes() const { return channels * height * width; }
  const std::uint8_t* image(Index i) const {
    if (i < 0 || i >= size())
      throw ValueError(
          detail::cat("ImageDataset::image: index ", i, " out of range [0, ", size(), ") in '", source, "'"));
    return pixels.data() + i * image_bytes();
  }
};

inline std::vector<Index> class_counts(const ImageDataset& d) {
  std::vector<Index> counts(d.class_names.size(), 0);
  for (Index i = 0; i < d.size(); ++i) {
    const std::int32_t label = d.labels[static_cast<std::size_t>(i)];
    if (label < 0) throw ValueError(detail::cat("class_counts: record ", i, " of '", d.source, "' has label ", label));
    if (static_cast<std::size_t>(label) >= counts.size()) counts.resize(static_cast<std::size_t>(label) + 1, 0);
    ++counts[static_cast<std::size_t>(label)];
  }
  return counts;
}

inline ImageDataset subset(const ImageDataset& d, const std::vector<Index>& indices) {
  ImageDataset out;
  out.channels = d.channels;
  out.height = d.height;
  out.width = d.width;
  out.class_names = d.class_names;
  out.source = d.source;
  const Index n = d.image_bytes();
  out.pixels.resize(indices.size() * static_cast<std::size_t>(n));
  out.labels.reserve(indices.size());
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::uint8_t* img = d.image(indices[k]);  // throws for an index outside d
    std::copy(img, img + n, out.pixels.data() + k * static_cast<std::size_t>(n));
    out.labels.push_back(d.labels[static_cast<std::size_t>(indices[k])]);
  }
  return out;
}

// The second index of the split's Rng::stream (the class is the third), apart from the shuffle's
// and augmentation's streams.
constexpr std::uint64_t kSplitStream = 0x5B117F4AC7105ull;

struct SplitIndices {
  std::vector<Index> train, val;
};

inline SplitIndices stratified_split(const std::vector<std::int32_t>& labels, double val_fraction, std::uint64_t seed) {
  if (!(val_fraction > 0 && val_fraction < 1))
    throw ValueError(detail::cat("stratified_split: val_fraction ", val_fraction, " is not in (0, 1)"));
  std::vector<std::vector<Index>> by_class;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) throw ValueError(detail::cat("stratified_split: record ", i, " has label ", labels[i]));
    const auto k = static_cast<std::size_t>(labels[i]);
    if (k >= by_class.size()) by_class.resize(k + 1);
    by_class[k].push_back(static_cast<Index>(i));
  }
  SplitIndices s;
  for (std::size_t k = 0; k < by_class.size(); ++k) {
    std::vector<Index>& members = by_class[k];
    const Index n = static_cast<Index>(members.size());
    Rng rng = Rng::stream(seed, kSplitStream, k);
    for (Index i = n - 1; i > 0; --i)
      std::swap(members[static_cast<std::size_t>(i)], members[rng.below(static_cast<std::uint32_t>(i + 1))]);
    const Index v = std::max<Index>(0, std::min<Index>(std::llround(val_fraction * static_cast<double>(n)), n - 1));
    s.val.insert(s.val.end(), members.begin(), members.begin() + v);
    s.train.insert(s.train.end(), members.begin() + v, members.end());
  }
  if (s.val.empty())
    throw FormatError(detail::cat("val_fraction ", val_fraction, " of ", labels.size(),
                                  " images leaves no validation image (each class keeps at least one training image)"));
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.val.begin(), s.val.end());
  return s;
}

}  // namespace glia
