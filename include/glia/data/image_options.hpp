// glia/data/image_options.hpp: the geometry a data set is loaded with, and the rules that pick it.
//
// Contract:
// - ImageFolderOptions (used by image_folder.hpp's loaders and load_dataset):
//     height, width  both 0: keep the files' size, and every image of the data set must have
//                    it; both in 1..65535: every image is resized to height x width with
//                    resize_bilinear (data/resize.hpp: torchvision's Resize, antialias=False);
//     channels       0: follow the files (channels_for below); 1 or 3: convert every image;
//     limit          > 0: keep only the first `limit` images of each returned set (file order);
//     val_fraction   > 0 (and < 1): the evaluation set is a stratified, seeded part of the
//                    training set (dataset.hpp's stratified_split with `seed`), not test/;
//     seed           the split's seed.
//   check_options throws ValueError for a negative limit, one of height/width 0 and the other
//   not, a size outside 1..65535 or above 2^26 pixels, channels other than 0, 1 or 3, or a
//   fraction outside [0, 1).
// - channels_for(file_channels): the channel count of a data set whose files have these
//   channel counts (as decoded: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA): 3 when any file has
//   colour (3 or 4), else 1. Alpha is always dropped; gray files in a colour set are replicated
//   into R, G and B.
// - convert_dataset(d, channels, height, width) returns d with every image converted to that
//   channel count (convert_planes) and resized (resize_bilinear); 0 keeps d's value. Images in
//   parallel; the result does not depend on the thread count. ValueError as check_options.
// - TrainTestData: what load_train_test (image_folder.hpp) returns: the training set and the
//   evaluation set, which is test/ (or CIFAR-10's test batch, MNIST's t10k files), or, with
//   val_fraction > 0, the held-out part of the training files (test_is_validation = true).
// - DecodedImage: one image file as decoded for prediction (decode_image, image_folder.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/data/dataset.hpp"
#include "glia/data/resize.hpp"
#include "glia/kernels/parallel.hpp"

namespace glia {

namespace detail {

// The largest image glia decodes or resizes to: 2^26 pixels (e.g. 8192 x 8192), at most 65535
// rows and columns.
constexpr long long kMaxImagePixels = 1LL << 26;

}  // namespace detail

struct ImageFolderOptions {
  Index height = 0, width = 0;  // 0, 0: keep the files' size (all alike); else resize to it
  Index channels = 0;           // 0: follow the files; 1 or 3: convert to it
  Index limit = 0;              // > 0: the first `limit` images of each set
  double val_fraction = 0;      // > 0: evaluate on this fraction of the training files
  std::uint64_t seed = 0;       // seed of the validation split
};

struct TrainTestData {
  ImageDataset train, test;
  bool test_is_validation = false;  // test is the held-out part of the training files
};

struct DecodedImage {
  Index channels = 0, height = 0, width = 0;
  std::vector<std::uint8_t> pixels;  // channels x height x width bytes, CHW
};

inline void check_options(const ImageFolderOptions& o, const char* op) {
  if (o.limit < 0) throw ValueError(detail::cat(op, ": negative limit ", o.limit));
  if ((o.height == 0) != (o.width == 0))
    throw ValueError(detail::cat(op, ": size ", o.height, " x ", o.width,
                                 ": give both height and width (to resize to), or neither (to keep the files' size)"));
  if (o.height != 0 && (o.height < 1 || o.width < 1 || o.height > 65535 || o.width > 65535 ||
                        o.height * o.width > detail::kMaxImagePixels))
    throw ValueError(detail::cat(op, ": image size ", o.height, " x ", o.width, " is not in 1..65535 or has more than ",
                                 detail::kMaxImagePixels, " pixels"));
  if (o.channels != 0 && o.channels != 1 && o.channels != 3)
    throw ValueError(detail::cat(op, ": channels ", o.channels, " must be 0 (follow the files), 1 or 3"));
  if (!(o.val_fraction >= 0 && o.val_fraction < 1))
    throw ValueError(detail::cat(op, ": val_fraction ", o.val_fraction, " is not in [0, 1)"));
}

inline Index channels_for(const std::vector<int>& file_channels) {
  for (int c : file_channels)
    if (c >= 3) return 3;
  return 1;
}

inline ImageDataset convert_dataset(ImageDataset d, Index channels, Index height, Index width) {
  ImageFolderOptions o;
  o.channels = channels;
  o.height = height;
  o.width = width;
  check_options(o, "convert_dataset");
  if (d.pixels.size() != static_cast<std::size_t>(d.size() * d.image_bytes()))
    throw ValueError(detail::cat("convert_dataset: '", d.source, "' has ", d.pixels.size(), " pixel bytes for ",
                                 d.size(), " images of ", d.image_bytes()));
  const Index C = channels ? channels : d.channels, H = height ? height : d.height, W = width ? width : d.width;
  if (C == d.channels && H == d.height && W == d.width) return d;
  if (d.channels != 1 && d.channels != 3)
    throw ValueError(detail::cat("convert_dataset: '", d.source, "' has ", d.channels, " channels; expected 1 or 3"));
  ImageDataset out;
  out.channels = C;
  out.height = H;
  out.width = W;
  out.labels = d.labels;
  out.class_names = d.class_names;
  out.source = d.source;
  out.pixels.resize(static_cast<std::size_t>(out.size() * out.image_bytes()));
  const Index in_bytes = d.image_bytes(), out_bytes = out.image_bytes(), mid = C * d.height * d.width;
  parallel_for(d.size(), [&](Index i) {
    thread_local std::vector<std::uint8_t> converted;  // grows once per thread, then reused
    if (converted.size() < static_cast<std::size_t>(mid)) converted.resize(static_cast<std::size_t>(mid));
    convert_planes(d.pixels.data() + i * in_bytes, d.channels, d.height, d.width, converted.data(), C);
    resize_bilinear(converted.data(), C, d.height, d.width, out.pixels.data() + i * out_bytes, H, W);
  });
  return out;
}

}  // namespace glia
