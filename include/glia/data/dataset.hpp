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
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "glia/core/error.hpp"
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

}  // namespace glia
