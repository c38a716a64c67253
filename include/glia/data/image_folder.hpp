// glia/data/image_folder.hpp: data sets stored as image files, one folder per class, of any
// size and 1 or 3 channels; the reader picker load_dataset / load_train_test.
//
// Contract:
// - Layout: ROOT/<split>/<class>/<file> for files ending in .png, .jpg, .jpeg or .bmp (any
//   case). Classes are the sub-folders of ROOT/<split> sorted by name in byte order (label i =
//   i-th name; each name must be a valid class name, see class_names.hpp: 1..128 bytes of
//   UTF-8 without control characters), files are sorted by name in byte order within a class,
//   and the images come out class by class in that order. Other files and names starting with
//   '.' are ignored. Images are decoded in parallel; when several fail, the first in order is
//   reported.
// - Geometry (ImageFolderOptions, image_options.hpp): channels 0 follows the files: all gray
//   (gray or gray + alpha) -> 1 channel, any colour file (RGB, RGBA, palette) -> 3 channels with
//   gray files replicated into R, G, B; alpha is dropped (not composited); channels 1 or 3
//   converts every image (colour -> gray is PIL's luma, data/resize.hpp). height = width = 0
//   keeps the files' size, which must then be the same for every image (FormatError naming two
//   files that differ); height x width > 0 resizes every image of another size with
//   resize_bilinear (torchvision's Resize on a tensor, antialias=False, align_corners=False,
//   rounded to uint8 half to even). The rules apply to all files one call loads together:
//   train/ and test/ (or both parts of a split train/) for load_train_test and load_dataset,
//   the one split for load_image_folder), whatever the limit: limit > 0 keeps the first limit
//   images of each part (the first classes, not a balanced sample) but does not change the
//   geometry, so two calls with other limits agree. When channels or the size follow the files,
//   every file's header is read (and checked) before any is decoded.
// - load_image_folder(root, split, options) reads one split (options.val_fraction must be 0).
//   load_image_folder(root, split, height = 32, width = 32, limit = 0) is the old interface:
//   every image exactly height x width RGB, nothing converted or resized (FormatError else).
// - decode_image(path, options) decodes one file for prediction: any size and channels in,
//   converted to options.channels and resized to options.height x options.width (0: the
//   file's own, channels by the rule above), as a DecodedImage; decode_image_file(path,
//   options) gives its pixels. decode_image_file(path, height = 32, width = 32) is the old
//   interface (exactly height x width RGB).
// - load_train_test(dir, options) returns the training and evaluation sets of a data folder,
//   detected by its contents, in this order: a CIFAR-10 binary folder (dir itself or
//   dir/cifar-10-batches-bin, cifar10.hpp), an MNIST IDX folder (idx.hpp's is_mnist_dir), an
//   image folder (dir/train or dir/test exists). The evaluation set is test/ (the test batch,
//   the t10k files), or with options.val_fraction > 0 a stratified seeded part of the training
//   set (dataset.hpp's stratified_split; test_is_validation = true, source ends in
//   "(validation part)"; test/ is then not read). An image folder without test/ needs a
//   val_fraction (IoError). CIFAR-10 and MNIST images are converted by convert_dataset when
//   the options ask for another geometry. The class folders of train/ and test/ must be the
//   same (FormatError). load_dataset(dir, train, options) returns one of the two parts exactly
//   as load_train_test would (same geometry, same split) but decodes only that part.
//   load_dataset(dir, train, limit = 0) is the old interface: CIFAR-10, MNIST IDX files (as
//   they are), or an image folder of 32 x 32 RGB files. Note: load_dataset(dir, train, {}) calls the old interface (limit 0);
//   write ImageFolderOptions{} for the new one.
// - A file is checked before it is decoded: its size (at most 64 MiB), its magic number, its
//   declared dimensions and channels (stbi_info, and the PNG header directly, so a header that
//   declares 100000 x 100000 pixels is refused without decoding; at most 65535 rows and
//   columns and 2^26 pixels), and that it is complete (PNG chunks up to IEND, a JPEG's
//   end-of-image marker, a BMP's pixel array). A BMP may be stored bottom-up (positive height
//   field) or top-down (negative height field); both decode with row 0 the top row.
// - Errors, each naming the file or folder: IoError for a missing root, split or file, a
//   folder that is not one, an unreadable file, an image folder without test/ and without
//   val_fraction; FormatError for a split without class folders, a class folder whose name is
//   not a valid class name (the message shows the folder path with control bytes as \xNN), a
//   class folder without images, a file that is not a PNG/JPEG/BMP image, a too large image
//   or data set (one whose pixels cannot be allocated: the message gives the bytes needed),
//   images of different sizes without a size to resize to, a wrong size or channel count (old
//   interface), a truncated or corrupt image, a val_fraction that leaves no validation image;
//   ValueError for bad options (image_options.hpp's check_options) or a negative limit.
// - File names are byte strings (std::filesystem on POSIX): spaces and UTF-8 names work.
//
// stb_image: glia is header-only, so this header compiles stb_image's implementation itself,
// with STB_IMAGE_STATIC: every function gets internal linkage, so any number of translation
// units can include this header without duplicate symbols. Only the PNG, JPEG and BMP decoders
// are compiled (STBI_ONLY_*), which also keeps stb from guessing that an arbitrary file is a TGA.
// A program that already builds stb_image itself (one .cpp with STB_IMAGE_IMPLEMENTATION) can
// define GLIA_NO_STB_IMAGE_IMPLEMENTATION, or include <stb/stb_image.h> before this header:
// then only the declarations are used. Either way include stb_image.h (if at all) before this
// header in a translation unit, never after it with STB_IMAGE_IMPLEMENTATION.
// The header is <stb/stb_image.h> (Debian libstb-dev) or, failing that, <stb_image.h>.
#pragma once

#include <algorithm>
#include <cerrno>
#include <functional>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/core/input_file.hpp"
#include "glia/data/cifar10.hpp"
#include "glia/data/class_names.hpp"
#include "glia/data/dataset.hpp"
#include "glia/data/idx.hpp"
#include "glia/data/image_checks.hpp"
#include "glia/data/image_options.hpp"
#include "glia/data/loader.hpp"
#include "glia/data/resize.hpp"
#include "glia/kernels/parallel.hpp"

#if __has_include(<stb/stb_image.h>)
#define GLIA_STB_IMAGE_HEADER <stb/stb_image.h>
#else
#define GLIA_STB_IMAGE_HEADER <stb_image.h>
#endif

#ifndef STBI_INCLUDE_STB_IMAGE_H  // already included: use what the program set up
#ifdef GLIA_NO_STB_IMAGE_IMPLEMENTATION
#include GLIA_STB_IMAGE_HEADER
#else
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
// stb_image asserts internal consistency while decoding (e.g. a Huffman code that a corrupt
// JPEG makes wrong); its own error paths then handle the bad file. A failed assert would abort
// the whole program in a build without NDEBUG, for a bad user file: glia compiles stb as in a
// release build in every configuration (fuzz/fuzz_image found such a file).
#ifndef STBI_ASSERT
#define STBI_ASSERT(x) ((void)0)
#endif
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// GCC warns inside stb's PNG code once it is inlined into ours; the code is stb's, not glia's.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include GLIA_STB_IMAGE_HEADER
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#undef STB_IMAGE_IMPLEMENTATION
#undef STBI_ONLY_PNG
#undef STBI_ONLY_JPEG
#undef STBI_ONLY_BMP
#endif
#endif

namespace glia {

namespace detail {

struct ImageHeader {
  std::string format;  // "PNG", "JPEG" or "BMP"
  long long height = 0, width = 0;
  int channels = 0;  // as stored: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA
};

// The size the old interface (decode_image_file(path, h, w), load_image_folder(root, split, h,
// w)) demands: exactly height x width, 3 channels, nothing converted.
struct ExactSize {
  Index height = 0, width = 0;
};

inline std::string image_format(const std::vector<unsigned char>& b) {
  auto magic = [&](const char* m, std::size_t len) { return b.size() >= len && std::memcmp(b.data(), m, len) == 0; };
  return magic("\x89PNG\r\n\x1a\n", 8) ? "PNG" : magic("\xFF\xD8\xFF", 3) ? "JPEG" : magic("BM", 2) ? "BMP" : "";
}

inline void check_image_extent(const std::string& path, const std::string& format, long long h, long long w) {
  if (h < 1 || w < 1 || h > 65535 || w > 65535 || h * w > kMaxImagePixels)
    throw FormatError(cat("'", path, "': ", format, " image has height ", h, " and width ", w,
                          "; glia reads images of 1..65535 rows and columns and at most ", kMaxImagePixels, " pixels"));
}

// Every check made before stb decodes the pixels (image_checks.hpp); exact: the old rule.
inline ImageHeader check_image(const std::string& path, const std::vector<unsigned char>& b, const ExactSize* exact) {
  const long long n = static_cast<long long>(b.size());
  ImageHeader hd;
  hd.format = image_format(b);
  const std::string& format = hd.format;
  if (format.empty()) throw FormatError(cat("'", path, "' is not a PNG, JPEG or BMP image"));
  auto size_error = [&](long long h, long long w, int c) {
    return FormatError(cat("'", path, "': ", format, " image has height ", h, ", width ", w, " and ", c,
                           " channels; expected height ", exact->height, ", width ", exact->width,
                           " and 3 channels (RGB)"));
  };
  // A PNG's size is in its first chunk: refuse a wrong one before stb looks at it, so a header
  // declaring 100000 x 100000 pixels is reported as such, not as an undecodable image.
  if (format == "PNG" && n >= 24 && std::memcmp(&b[12], "IHDR", 4) == 0) {
    if (exact && (be32(&b[16]) != static_cast<std::uint32_t>(exact->width) ||
                  be32(&b[20]) != static_cast<std::uint32_t>(exact->height)))
      throw size_error(be32(&b[20]), be32(&b[16]), n > 25 ? png_channels(b[25]) : 0);
    if (!exact) check_image_extent(path, format, be32(&b[20]), be32(&b[16]));
  }
  if (format == "JPEG")
    if (const long long at = jpeg_oversized_dht_at(b.data(), n); at >= 0)
      throw FormatError(cat("'", path, "': corrupt JPEG: the Huffman table segment at byte offset ", at,
                            " declares more than 256 codes"));
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(b.data(), static_cast<int>(n), &w, &h, &c))
    throw FormatError(cat("'", path, "': corrupt ", format, " header (stb_image: ", stbi_failure_reason(), ")"));
  // A BMP stored top row first has a negative height field; stb_image 2.27's stbi_info returns
  // that field as it is (its decoder reads such a file correctly), so compare its magnitude.
  hd.height = (format == "BMP" && h < 0) ? -static_cast<long long>(h) : h;
  hd.width = w;
  hd.channels = c;
  if (exact && (hd.height != exact->height || w != exact->width || c != 3)) throw size_error(hd.height, w, c);
  check_image_extent(path, format, hd.height, hd.width);
  if (c < 1 || c > 4) throw FormatError(cat("'", path, "': ", format, " image with ", c, " channels"));
  const long long cut = truncated_at(b, format);
  if (cut >= 0)
    throw FormatError(cat("'", path, "': truncated ", format, " file: data missing at byte offset ", cut, " (file has ",
                          n, " bytes)"));
  return hd;
}

// Decodes checked bytes to C planes (1 or 3) of height x width (resized when the file's size
// differs) into chw. exact: stb converts to RGB itself, as the old interface always did.
inline void decode_bytes(const std::string& path, const std::vector<unsigned char>& b, const ImageHeader& hd, Index C,
                         Index height, Index width, std::uint8_t* chw, bool exact) {
  int w = 0, h = 0, c = 0;
  const int want = exact ? 3 : 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(
      stbi_load_from_memory(b.data(), static_cast<int>(b.size()), &w, &h, &c, want), &stbi_image_free);
  if (!px)
    throw FormatError(cat("'", path, "': corrupt ", hd.format, " data (stb_image: ", stbi_failure_reason(), ")"));
  const int comp = want ? want : c;
  if (w != hd.width || h != hd.height || comp < 1 || comp > 4)
    throw FormatError(cat("'", path, "': ", hd.format, " data decodes to ", h, " x ", w, " x ", comp,
                          " but its header declares ", hd.height, " x ", hd.width));
  // stb gives interleaved rows (HWC); glia stores planes (CHW).
  if (h == height && w == width) return interleaved_to_planes(px.get(), comp, h, w, chw, C);
  std::vector<std::uint8_t> planes(static_cast<std::size_t>(C * h * w));
  interleaved_to_planes(px.get(), comp, h, w, planes.data(), C);
  resize_bilinear(planes.data(), C, h, w, chw, height, width);
}

// Decodes an image file of exactly height x width x 3 into chw (3*height*width bytes).
inline void decode_image_into(const std::string& path, Index height, Index width, std::uint8_t* chw) {
  const std::vector<unsigned char> b = read_image_bytes(path);
  const ExactSize exact{height, width};
  decode_bytes(path, b, check_image(path, b, &exact), 3, height, width, chw, true);
}

}  // namespace detail

// The old interface: exactly height x width RGB, nothing converted or resized.
inline std::vector<std::uint8_t> decode_image_file(const std::string& path, Index height = 32, Index width = 32) {
  detail::check_image_size("decode_image_file", height, width);
  std::vector<std::uint8_t> chw(static_cast<std::size_t>(3 * height * width));
  detail::decode_image_into(path, height, width, chw.data());
  return chw;
}

// Any PNG/JPEG/BMP, converted to o.channels and resized to o.height x o.width (0: the file's).
inline DecodedImage decode_image(const std::string& path, const ImageFolderOptions& o = {}) {
  check_options(o, "decode_image");
  const std::vector<unsigned char> b = detail::read_image_bytes(path);
  const detail::ImageHeader hd = detail::check_image(path, b, nullptr);
  DecodedImage img;
  img.channels = o.channels ? o.channels : channels_for({hd.channels});
  img.height = o.height ? o.height : static_cast<Index>(hd.height);
  img.width = o.width ? o.width : static_cast<Index>(hd.width);
  img.pixels.resize(static_cast<std::size_t>(img.channels * img.height * img.width));
  detail::decode_bytes(path, b, hd, img.channels, img.height, img.width, img.pixels.data(), false);
  return img;
}

inline std::vector<std::uint8_t> decode_image_file(const std::string& path, const ImageFolderOptions& o) {
  return decode_image(path, o).pixels;
}

namespace detail {

// One part of a data set to load: a listing and the positions in it that belong to the part.
struct FolderPart {
  const FolderListing* listing = nullptr;
  std::vector<Index> positions;
};

struct Geometry {
  Index channels = 0, height = 0, width = 0;
};

// The options' geometry, what they leave at 0 taken from the headers of every file of parts.
inline Geometry resolve_geometry(const std::vector<const FolderPart*>& parts, const ImageFolderOptions& o) {
  Geometry g{o.channels, o.height, o.width};
  if (g.channels != 0 && g.height != 0) return g;
  std::vector<const std::filesystem::path*> files;
  for (const FolderPart* part : parts)
    for (Index at : part->positions) files.push_back(&part->listing->files[static_cast<std::size_t>(at)]);
  std::vector<ImageHeader> headers(files.size());
  parallel_for_first_error(static_cast<Index>(files.size()), [&](Index i) {
    const std::string path = files[static_cast<std::size_t>(i)]->string();
    headers[static_cast<std::size_t>(i)] = check_image(path, read_image_bytes(path), nullptr);
  });
  if (g.channels == 0) {
    std::vector<int> channels;
    for (const ImageHeader& h : headers) channels.push_back(h.channels);
    g.channels = channels_for(channels);
  }
  if (g.height == 0 && !headers.empty()) {
    for (std::size_t k = 1; k < headers.size(); ++k)
      if (headers[k].height != headers[0].height || headers[k].width != headers[0].width)
        throw FormatError(cat("'", files[k]->string(), "' is ", headers[k].height, " x ", headers[k].width,
                              " pixels (height x width) but '", files[0]->string(), "' is ", headers[0].height, " x ",
                              headers[0].width, ": the images of a data set must all have one size; give one to "
                              "resize them to (ImageFolderOptions height and width)"));
    g.height = static_cast<Index>(headers[0].height);
    g.width = static_cast<Index>(headers[0].width);
  }
  return g;
}

// Decodes a part into a data set of geometry g, images in parallel.
inline ImageDataset decode_part(const FolderPart& part, const std::string& source, Geometry g, const ExactSize* exact) {
  const FolderListing& l = *part.listing;
  ImageDataset d;
  d.channels = g.channels;
  d.height = g.height;
  d.width = g.width;
  d.source = source;
  d.class_names = l.class_names;
  for (Index at : part.positions) d.labels.push_back(l.labels[static_cast<std::size_t>(at)]);
  allocate_pixels(d);
  parallel_for_first_error(d.size(), [&](Index i) {
    const std::string path = l.files[static_cast<std::size_t>(part.positions[static_cast<std::size_t>(i)])].string();
    const std::vector<unsigned char> b = read_image_bytes(path);
    decode_bytes(path, b, check_image(path, b, exact), g.channels, g.height, g.width,
                 d.pixels.data() + i * d.image_bytes(), exact != nullptr);
  });
  return d;
}

inline FolderPart whole(const FolderListing& l, Index limit) {
  FolderPart p{&l, sequential_indices(static_cast<Index>(l.files.size()))};
  if (limit > 0 && limit < static_cast<Index>(p.positions.size())) p.positions.resize(static_cast<std::size_t>(limit));
  return p;
}

}  // namespace detail

// The old interface: exactly height x width RGB files, 32 x 32 by default.
inline ImageDataset load_image_folder(const std::string& root, const std::string& split, Index height = 32,
                                      Index width = 32, Index limit = 0) {
  detail::check_image_size("load_image_folder", height, width);
  if (limit < 0) throw ValueError(detail::cat("load_image_folder: negative limit ", limit));
  detail::require_directory(root, "image folder root");
  const std::string split_dir = (std::filesystem::path(root) / split).string();
  detail::require_directory(split_dir, "image folder split");
  const detail::FolderListing l = detail::list_image_folder(split_dir);
  const detail::ExactSize exact{height, width};
  return detail::decode_part(detail::whole(l, limit), split_dir, {3, height, width}, &exact);
}

// One split of any geometry (the options'; val_fraction must be 0: see load_train_test).
inline ImageDataset load_image_folder(const std::string& root, const std::string& split, const ImageFolderOptions& o) {
  check_options(o, "load_image_folder");
  if (o.val_fraction > 0)
    throw ValueError("load_image_folder: val_fraction splits a training folder; use load_train_test or load_dataset");
  detail::require_directory(root, "image folder root");
  const std::string split_dir = (std::filesystem::path(root) / split).string();
  detail::require_directory(split_dir, "image folder split");
  const detail::FolderListing l = detail::list_image_folder(split_dir);
  const detail::FolderPart all = detail::whole(l, 0);
  return detail::decode_part(detail::whole(l, o.limit), split_dir, detail::resolve_geometry({&all}, o), nullptr);
}

namespace detail {

// An image folder's training and evaluation parts (image folders: see load_train_test); only
// the wanted ones are decoded, but the geometry follows the files of both.
inline TrainTestData load_image_folder_parts(const std::string& root, const ImageFolderOptions& o, bool want_train,
                                             bool want_test) {
  namespace fs = std::filesystem;
  require_directory(root, "image folder root");
  const fs::path train_dir = fs::path(root) / "train", test_dir = fs::path(root) / "test";
  const bool split = o.val_fraction > 0;
  FolderListing train_list, test_list;
  FolderPart train, test;
  if (split || want_train || is_folder(train_dir)) {
    require_directory(train_dir, "image folder split");
    train_list = list_image_folder(train_dir.string());
    train = whole(train_list, 0);
  }
  if (split) {
    SplitIndices s = stratified_split(train_list.labels, o.val_fraction, o.seed);
    train.positions = std::move(s.train);
    test = {&train_list, std::move(s.val)};
  } else if (want_test || is_folder(test_dir)) {
    if (want_test && !is_folder(test_dir))
      throw IoError(cat("image folder '", root, "' has no test/ folder: give a val_fraction to evaluate on a part "
                        "of train/"));
    require_directory(test_dir, "image folder split");
    test_list = list_image_folder(test_dir.string());
    test = whole(test_list, 0);
    if (train.listing && test_list.class_names != train_list.class_names)
      throw FormatError(cat("'", test_dir.string(), "' has ", test_list.class_names.size(), " class folders and '",
                            train_dir.string(), "' ", train_list.class_names.size(),
                            " with other names: both splits must have the same class folders"));
  }
  std::vector<const FolderPart*> parts;  // the geometry follows every file, whatever the limit
  for (const FolderPart* p : {&train, &test})
    if (p->listing) parts.push_back(p);
  const Geometry g = resolve_geometry(parts, o);
  for (FolderPart* p : {&train, &test})
    if (o.limit > 0 && o.limit < static_cast<Index>(p->positions.size()))
      p->positions.resize(static_cast<std::size_t>(o.limit));
  TrainTestData out;
  out.test_is_validation = split;
  if (want_train) out.train = decode_part(train, train_dir.string(), g, nullptr);
  if (want_test)
    out.test = decode_part(test, split ? cat(train_dir.string(), " (validation part)") : test_dir.string(), g, nullptr);
  return out;
}

// The reader of a CIFAR-10 binary folder (dir or dir/cifar-10-batches-bin) or an MNIST IDX
// folder, or an empty function.
inline std::function<ImageDataset(bool, Index)> binary_reader(const std::string& dir) {
  const std::string nested = (std::filesystem::path(dir) / "cifar-10-batches-bin").string();
  for (const std::string& d : {dir, nested})
    if (is_cifar10_dir(d))
      return [d](bool train, Index limit) {
        return load_cifar10(d, train ? CifarSplit::Train : CifarSplit::Test, limit);
      };
  if (is_mnist_dir(dir))
    return [dir](bool train, Index limit) {
      return load_mnist(dir, train ? MnistSplit::Train : MnistSplit::Test, limit);
    };
  return {};
}

[[noreturn]] inline void no_data_folder(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec))
    throw IoError(cat("data folder '", dir, "' does not exist; ", kCifarDownloadHint));
  throw IoError(cat("'", dir, "' is neither a CIFAR-10 binary folder (data_batch_1.bin ... data_batch_5.bin, ",
                    "test_batch.bin), an MNIST IDX folder (train-images-idx3-ubyte, train-labels-idx1-ubyte, ",
                    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte) nor an image folder (train/<class>/<images>, ",
                    "test/<class>/<images>); ", kCifarDownloadHint));
}

// A binary data set's parts: the reader's splits, or its training split cut by val_fraction;
// then the limit and the options' geometry.
inline TrainTestData binary_parts(const std::function<ImageDataset(bool, Index)>& read, const ImageFolderOptions& o,
                                  bool want_train, bool want_test) {
  TrainTestData out;
  auto finish = [&](ImageDataset d) { return convert_dataset(std::move(d), o.channels, o.height, o.width); };
  if (o.val_fraction > 0) {
    const ImageDataset all = read(true, 0);
    SplitIndices s = stratified_split(all.labels, o.val_fraction, o.seed);
    for (std::vector<Index>* part : {&s.train, &s.val})
      if (o.limit > 0 && o.limit < static_cast<Index>(part->size())) part->resize(static_cast<std::size_t>(o.limit));
    if (want_train) out.train = finish(subset(all, s.train));
    if (want_test) out.test = finish(subset(all, s.val));
    out.test.source = all.source + " (validation part)";
    out.test_is_validation = true;
    return out;
  }
  if (want_train) out.train = finish(read(true, o.limit));
  if (want_test) out.test = finish(read(false, o.limit));
  return out;
}

inline TrainTestData load_parts(const std::string& dir, const ImageFolderOptions& o, bool want_train, bool want_test,
                                const char* op) {
  check_options(o, op);
  if (const auto read = binary_reader(dir)) return binary_parts(read, o, want_train, want_test);
  if (is_folder(std::filesystem::path(dir) / "train") || is_folder(std::filesystem::path(dir) / "test"))
    return load_image_folder_parts(dir, o, want_train, want_test);
  no_data_folder(dir);
}

}  // namespace detail

// Both parts of a data folder (CIFAR-10 binary, MNIST IDX or image folder), in the options'
// geometry; see the contract.
inline TrainTestData load_train_test(const std::string& dir, const ImageFolderOptions& o = {}) {
  return detail::load_parts(dir, o, true, true, "load_train_test");
}

// One part of a data folder: train ? the training part : the evaluation part, exactly as
// load_train_test would return it.
inline ImageDataset load_dataset(const std::string& dir, bool train, const ImageFolderOptions& o) {
  TrainTestData parts = detail::load_parts(dir, o, train, !train, "load_dataset");
  return std::move(train ? parts.train : parts.test);
}

// The old interface: CIFAR-10, MNIST IDX files or an image folder of 32 x 32 RGB files.
inline ImageDataset load_dataset(const std::string& dir, bool train, Index limit = 0) {
  namespace fs = std::filesystem;
  const CifarSplit split = train ? CifarSplit::Train : CifarSplit::Test;
  if (is_cifar10_dir(dir)) return load_cifar10(dir, split, limit);
  const std::string nested = (fs::path(dir) / "cifar-10-batches-bin").string();
  if (is_cifar10_dir(nested)) return load_cifar10(nested, split, limit);
  if (is_mnist_dir(dir)) return load_mnist(dir, train ? MnistSplit::Train : MnistSplit::Test, limit);
  std::error_code ec;
  if (fs::is_directory(fs::path(dir) / "train", ec) || fs::is_directory(fs::path(dir) / "test", ec))
    return load_image_folder(dir, train ? "train" : "test", 32, 32, limit);
  detail::no_data_folder(dir);
}

}  // namespace glia
