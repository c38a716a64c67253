// glia/data/idx.hpp: reading the IDX files of MNIST and Fashion-MNIST.
//
// Contract:
// - load_idx(images_path, labels_path, limit) reads an image file (magic 00 00 08 03: unsigned
//   bytes, 3 dimensions [count, rows, cols], each a big-endian uint32) and a label file (magic
//   00 00 08 01, [count]) into an ImageDataset of count 1 x rows x cols uint8 images (the pixel
//   bytes are already row-major planes). limit > 0 keeps the first `limit` images. Class names
//   are "0", "1", ... up to the largest label (at least ten: MNIST's digits; Fashion-MNIST's
//   labels are the same indices).
// - load_mnist(dir, split, limit): dir/train-images-idx3-ubyte and dir/train-labels-idx1-ubyte
//   (Train), dir/t10k-images-idx3-ubyte and dir/t10k-labels-idx1-ubyte (Test), the names under
//   which MNIST and Fashion-MNIST are published (gunzipped). is_mnist_dir(dir) is true when dir
//   holds either image file; it never throws.
// - Both files go through read_input_file (core/input_file.hpp: no FIFO, directory or device,
//   at most 1 GiB of images and 64 MiB of labels), and are checked before a pixel is copied:
//     IoError     a missing or unreadable file (a .gz beside it: the message says to gunzip it);
//     FormatError a file shorter than its header, a wrong magic number (with the bytes found
//                 and what they would mean), a wrong dimension count, a zero row or column
//                 count, a size that does not match the header (the expected and actual sizes),
//                 image and label counts that differ, a label above 254 (file, index, offset);
//     ValueError  a negative limit.
//   Every message names the file at fault and, where it applies, the byte offset.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/core/input_file.hpp"
#include "glia/data/dataset.hpp"

namespace glia {

enum class MnistSplit { Train, Test };

namespace detail {

constexpr std::uint64_t kIdxMaxImageBytes = std::uint64_t(1) << 30;
constexpr std::uint64_t kIdxMaxLabelBytes = std::uint64_t(64) << 20;

// An IDX file's header: its dimensions, and where the data starts.
struct IdxHeader {
  std::vector<std::uint64_t> dims;
  std::size_t data_offset = 0;
};

inline std::uint32_t idx_big_endian(const std::string& b, std::size_t at) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(b[at])) << 24 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 1])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 2])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 3]));
}

// Checks magic, type and dimension count, reads the dimensions and checks the file's size.
inline IdxHeader parse_idx_header(const std::string& bytes, const std::string& path, unsigned want_dims) {
  if (bytes.size() < 4)
    throw FormatError(detail::cat("IDX: '", path, "' has ", bytes.size(), " bytes, shorter than the 4-byte magic number"));
  const auto b = [&](std::size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[i])); };
  if (b(0) != 0 || b(1) != 0 || b(2) != 0x08 || b(3) != want_dims)
    throw FormatError(detail::cat("IDX: '", path, "': magic number ", b(0), " ", b(1), " ", b(2), " ", b(3),
                                  " at byte offset 0, expected 0 0 8 ", want_dims, " (unsigned bytes, ", want_dims,
                                  want_dims == 1 ? " dimension: a label file)" : " dimensions: an image file)"));
  IdxHeader h;
  h.data_offset = 4 + 4 * std::size_t{want_dims};
  if (bytes.size() < h.data_offset)
    throw FormatError(detail::cat("IDX: '", path, "' has ", bytes.size(), " bytes, shorter than its ", h.data_offset,
                                  "-byte header"));
  std::uint64_t count = 1;
  for (unsigned d = 0; d < want_dims; ++d) {
    h.dims.push_back(idx_big_endian(bytes, 4 + 4 * std::size_t{d}));
    if (d > 0 && h.dims.back() == 0)
      throw FormatError(detail::cat("IDX: '", path, "': dimension ", d, " (byte offset ", 4 + 4 * d, ") is 0"));
    if (h.dims.back() != 0 && count > (std::uint64_t(1) << 62) / h.dims.back())
      throw FormatError(detail::cat("IDX: '", path, "': the header's dimensions (byte offsets 4..", h.data_offset - 1,
                                    ") describe more than 2^62 bytes"));
    count *= h.dims.back();
  }
  const std::uint64_t have = bytes.size() - h.data_offset;
  if (h.dims[0] > have || count != have)
    throw FormatError(detail::cat("IDX: '", path, "': the header (", h.dims[0], want_dims == 3 ? " images of " : " labels",
                                  want_dims == 3 ? detail::cat(h.dims[1], "x", h.dims[2], ")") : std::string(")"),
                                  " needs ", h.data_offset, " + ", count, " bytes, the file has ", bytes.size()));
  return h;
}

inline std::string read_idx_file(const std::string& path, const char* what, std::uint64_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && std::filesystem::exists(path + ".gz", ec))
    throw IoError(detail::cat("IDX: '", path, "' does not exist, but '", path, ".gz' does: gunzip it first"));
  return read_input_file(path, what, max_bytes);
}

}  // namespace detail

inline ImageDataset load_idx(const std::string& images_path, const std::string& labels_path, Index limit = 0) {
  if (limit < 0) throw ValueError(detail::cat("load_idx: negative limit ", limit));
  const std::string images = detail::read_idx_file(images_path, "IDX image file", detail::kIdxMaxImageBytes);
  const std::string labels = detail::read_idx_file(labels_path, "IDX label file", detail::kIdxMaxLabelBytes);
  const detail::IdxHeader hi = detail::parse_idx_header(images, images_path, 3);
  const detail::IdxHeader hl = detail::parse_idx_header(labels, labels_path, 1);
  if (hi.dims[0] != hl.dims[0])
    throw FormatError(detail::cat("IDX: '", images_path, "' holds ", hi.dims[0], " images but '", labels_path, "' ",
                                  hl.dims[0], " labels"));
  const auto count = static_cast<Index>(limit > 0 ? std::min<std::uint64_t>(hi.dims[0], static_cast<std::uint64_t>(limit))
                                                  : hi.dims[0]);
  ImageDataset d;
  d.source = images_path;
  d.channels = 1;
  d.height = static_cast<Index>(hi.dims[1]);
  d.width = static_cast<Index>(hi.dims[2]);
  d.labels.reserve(static_cast<std::size_t>(count));
  std::int32_t largest = 9;
  for (Index i = 0; i < count; ++i) {
    const auto label = static_cast<unsigned char>(labels[hl.data_offset + static_cast<std::size_t>(i)]);
    if (label == 255)
      throw FormatError(detail::cat("IDX: '", labels_path, "': label ", i, " (byte offset ",
                                    hl.data_offset + static_cast<std::size_t>(i), ") is 255, above the limit of 254"));
    d.labels.push_back(label);
    largest = std::max<std::int32_t>(largest, label);
  }
  const auto first = images.begin() + static_cast<std::ptrdiff_t>(hi.data_offset);
  d.pixels.assign(first, first + static_cast<std::ptrdiff_t>(count * d.image_bytes()));
  for (std::int32_t c = 0; c <= largest; ++c) d.class_names.push_back(std::to_string(c));
  return d;
}

inline std::string mnist_file(const std::string& dir, MnistSplit split, bool images) {
  const char* prefix = split == MnistSplit::Train ? "train" : "t10k";
  return (std::filesystem::path(dir) / detail::cat(prefix, images ? "-images-idx3-ubyte" : "-labels-idx1-ubyte")).string();
}

inline ImageDataset load_mnist(const std::string& dir, MnistSplit split, Index limit = 0) {
  ImageDataset d = load_idx(mnist_file(dir, split, true), mnist_file(dir, split, false), limit);
  d.source = dir;
  return d;
}

inline bool is_mnist_dir(const std::string& dir) {
  std::error_code ec;
  for (MnistSplit s : {MnistSplit::Train, MnistSplit::Test})
    if (std::filesystem::is_regular_file(mnist_file(dir, s, true), ec)) return true;
  return false;
}

}  // namespace glia
