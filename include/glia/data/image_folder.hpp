// glia/data/image_folder.hpp: data sets stored as image files, one folder per class.
//
// Contract:
// - load_image_folder(root, split, height, width, limit) reads ROOT/<split>/<class>/<file> for
//   files ending in .png, .jpg, .jpeg or .bmp (any case). Classes are the sub-folders of
//   ROOT/<split> sorted by name in byte order (label i = i-th name; each name must be a valid
//   class name, see class_names.hpp: 1..128 bytes of UTF-8 without control characters), files
//   are sorted by name in byte order within a class, and the images come out class by class in
//   that order. Other files and names starting with '.' are ignored. limit > 0 decodes only
//   the first limit images of that order (the first classes, not a balanced sample). Every
//   image must be exactly height x width with 3 channels (RGB); nothing is resized. Images are
//   decoded in parallel; when several fail, the first in order is reported.
// - decode_image_file(path, height, width) decodes one such image to 3*height*width CHW bytes
//   (for predicting on a single file).
// - load_dataset(dir, train, limit) picks the reader: a CIFAR-10 binary folder (dir itself or
//   dir/cifar-10-batches-bin, see cifar10.hpp) or an image folder root with train/ and test/
//   (32 x 32 images).
// - A file is checked before it is decoded: its size (at most 64 MiB), its magic number, its
//   declared dimensions and channels (stbi_info, and the PNG header directly, so a header that
//   declares 100000 x 100000 pixels is refused without decoding), and that it is complete (PNG
//   chunks up to IEND, a JPEG's end-of-image marker, a BMP's pixel array). A BMP may be stored
//   bottom-up (positive height field) or top-down (negative height field); both decode with
//   row 0 the top row.
// - Errors, each naming the file or folder: IoError for a missing root, split or file, a
//   folder that is not one, an unreadable file; FormatError for a split without class
//   folders, a class folder whose name is not a valid class name (the message shows the folder
//   path with control bytes as \xNN), a class folder without images, a file that is not a
//   PNG/JPEG/BMP image, a wrong size or channel count, a truncated or corrupt image;
//   ValueError for a height or width outside 1..65535 or a negative limit.
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

constexpr std::uintmax_t kMaxImageFileBytes = std::uintmax_t(64) << 20;

inline bool has_image_extension(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  for (char& c : ext) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

inline bool is_hidden(const std::filesystem::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

// Throws IoError unless path is an existing folder; what says which folder it should be.
inline void require_directory(const std::filesystem::path& path, const char* what) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (st.type() == std::filesystem::file_type::not_found)
    throw IoError(cat(what, " '", path.string(), "' does not exist"));
  if (ec) throw IoError(cat("cannot access ", what, " '", path.string(), "': ", ec.message()));
  if (st.type() != std::filesystem::file_type::directory)
    throw IoError(cat(what, " '", path.string(), "' is not a folder"));
}

// Through read_input_file (core/input_file.hpp), like every file a user names: a FIFO never
// blocks, a directory or device is named as such, the size is bounded before reading.
inline std::vector<unsigned char> read_image_bytes(const std::string& path) {
  const std::string bytes = read_input_file(path, "image file", kMaxImageFileBytes);
  return std::vector<unsigned char>(bytes.begin(), bytes.end());
}

inline std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}
inline std::uint32_t le32(const unsigned char* p) {
  return (std::uint32_t(p[3]) << 24) | (std::uint32_t(p[2]) << 16) | (std::uint32_t(p[1]) << 8) | p[0];
}

// Where a complete image's data would end but the file ends first: the byte offset the
// decoder would run out at, or -1 when the file is complete. stb_image itself fills missing
// JPEG and BMP data with zeros, so without this check a cut-off file would decode "fine".
inline long long truncated_at(const std::vector<unsigned char>& b, const std::string& format) {
  const long long n = static_cast<long long>(b.size());
  if (format == "PNG") {  // chunks: 4-byte length, 4-byte type, data, 4-byte CRC; IEND ends
    for (long long at = 8; at + 8 <= n;) {
      const long long end = at + 12 + be32(&b[at]);
      if (end > n) return n;
      if (std::memcmp(&b[at + 4], "IEND", 4) == 0) return -1;
      at = end;
    }
    return n;
  }
  if (format == "JPEG") {  // segments up to the first scan, then an end-of-image marker
    long long at = 2;
    while (at + 4 <= n && b[at] == 0xFF) {
      const unsigned char marker = b[at + 1];
      if (marker == 0xDA) break;  // start of scan: entropy-coded data follows
      if (marker == 0xFF) {       // fill byte before a marker
        ++at;
        continue;
      }
      at += 2 + (b[at + 2] << 8 | b[at + 3]);
    }
    if (at + 4 > n || b[at] != 0xFF) return std::min(at, n);
    for (long long i = at; i + 1 < n; ++i)  // FF D9 cannot occur inside entropy-coded data
      if (b[i] == 0xFF && b[i + 1] == 0xD9) return -1;
    return n;
  }
  if (format == "BMP" && n >= 34) {  // uncompressed (BI_RGB, BI_BITFIELDS) pixel arrays only
    const std::uint32_t compression = le32(&b[30]);
    if (le32(&b[14]) < 40 || (compression != 0 && compression != 3)) return -1;  // old OS/2 header or RLE
    const long long width = static_cast<std::int32_t>(le32(&b[18]));
    const long long height = static_cast<std::int32_t>(le32(&b[22]));
    const long long bpp = b[28] | (b[29] << 8);
    const long long end = le32(&b[10]) + (bpp * std::abs(width) + 31) / 32 * 4 * std::abs(height);
    return end > n ? n : -1;
  }
  return -1;
}

// Channels of a PNG colour type (IHDR byte 25): grey, grey + alpha, RGBA, else RGB or palette.
inline int png_channels(unsigned char colour_type) {
  return colour_type == 0 ? 1 : colour_type == 4 ? 2 : colour_type == 6 ? 4 : 3;
}

// stb_image 2.27 (Debian's) builds a Huffman table without checking that it declares at most
// 256 codes, and then writes past the table (upstream stb issue 1289; found by fuzz/fuzz_image).
// glia refuses such a JPEG before stb sees it.
// Offset of the first DHT segment stb_image could read whose tables declare more than 256
// codes, or -1. Every marker stb_image acts on is an FF (fill FFs) xx pair outside the payload
// of the length-delimited segments before it; this walk visits all of them: it skips each
// segment by its length and scans anything else (padding, entropy-coded data) byte by byte.
// Tables are read the way stb reads them (bytes past the end count as 0, as stbi__get8 gives).
inline long long jpeg_oversized_dht_at(const std::uint8_t* b, long long n) {
  auto at0 = [&](long long i) -> int { return i < n ? b[i] : 0; };
  long long at = 2;  // after SOI
  while (at < n) {
    if (b[at] != 0xFF) {
      ++at;
      continue;
    }
    long long m = at + 1;
    while (m < n && b[m] == 0xFF) ++m;  // fill bytes
    if (m >= n) break;
    const int marker = b[m];
    if (marker == 0xD9) break;  // EOI
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {  // stuffing, TEM, RSTn, SOI
      at = m + 1;
      continue;
    }
    const long long len = (at0(m + 1) << 8) | at0(m + 2);
    if (marker == 0xC4) {
      long long left = len - 2, t = m + 3;
      while (left > 0) {
        const int q = at0(t);
        if ((q >> 4) > 1 || (q & 15) > 3) break;  // stb refuses the table
        long long codes = 0;
        for (int i = 0; i < 16; ++i) codes += at0(t + 1 + i);
        if (codes > 256) return at;
        left -= 17 + codes;
        t += 17 + codes;
      }
    }
    at = m + 1 + len;
  }
  return -1;
}


// Decodes an image file of exactly height x width x 3 into chw (3*height*width bytes).
inline void decode_image_into(const std::string& path, Index height, Index width, std::uint8_t* chw) {
  const std::vector<unsigned char> b = read_image_bytes(path);
  const long long n = static_cast<long long>(b.size());
  auto magic = [&](const char* m, long long len) { return n >= len && std::memcmp(b.data(), m, len) == 0; };
  const std::string format = magic("\x89PNG\r\n\x1a\n", 8) ? "PNG"
                             : magic("\xFF\xD8\xFF", 3)    ? "JPEG"
                             : magic("BM", 2)              ? "BMP"
                                                           : "";
  if (format.empty()) throw FormatError(cat("'", path, "' is not a PNG, JPEG or BMP image"));
  auto size_error = [&](long long h, long long w, int c) {
    return FormatError(cat("'", path, "': ", format, " image has height ", h, ", width ", w, " and ", c,
                           " channels; expected height ", height, ", width ", width, " and 3 channels (RGB)"));
  };
  // A PNG's size is in its first chunk: refuse a wrong one before stb looks at it, so a header
  // declaring 100000 x 100000 pixels is reported as such, not as an undecodable image.
  if (format == "PNG" && n >= 24 && std::memcmp(&b[12], "IHDR", 4) == 0 &&
      (be32(&b[16]) != static_cast<std::uint32_t>(width) || be32(&b[20]) != static_cast<std::uint32_t>(height)))
    throw size_error(be32(&b[20]), be32(&b[16]), n > 25 ? png_channels(b[25]) : 0);
  if (format == "JPEG")
    if (const long long at = jpeg_oversized_dht_at(b.data(), n); at >= 0)
      throw FormatError(cat("'", path, "': corrupt JPEG: the Huffman table segment at byte offset ", at,
                            " declares more than 256 codes"));
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(b.data(), static_cast<int>(n), &w, &h, &c))
    throw FormatError(cat("'", path, "': corrupt ", format, " header (stb_image: ", stbi_failure_reason(), ")"));
  // A BMP stored top row first has a negative height field; stb_image 2.27's stbi_info returns
  // that field as it is (its decoder reads such a file correctly), so compare its magnitude.
  const long long rows = (format == "BMP" && h < 0) ? -static_cast<long long>(h) : h;
  if (rows != height || w != width || c != 3) throw size_error(rows, w, c);
  const long long cut = truncated_at(b, format);
  if (cut >= 0)
    throw FormatError(cat("'", path, "': truncated ", format, " file: data missing at byte offset ", cut, " (file has ",
                          n, " bytes)"));
  std::unique_ptr<stbi_uc, void (*)(void*)> rgb(stbi_load_from_memory(b.data(), static_cast<int>(n), &w, &h, &c, 3),
                                                &stbi_image_free);
  if (!rgb) throw FormatError(cat("'", path, "': corrupt ", format, " data (stb_image: ", stbi_failure_reason(), ")"));
  // stb gives interleaved RGB rows (HWC); glia stores planes (CHW).
  const Index plane = height * width;
  for (Index p = 0; p < plane; ++p)
    for (Index ch = 0; ch < 3; ++ch) chw[ch * plane + p] = rgb.get()[p * 3 + ch];
}

inline void check_image_size(const char* op, Index height, Index width) {
  if (height < 1 || width < 1 || height > 65535 || width > 65535)
    throw ValueError(cat(op, ": image size ", height, " x ", width, " is not in 1..65535"));
}

}  // namespace detail

inline std::vector<std::uint8_t> decode_image_file(const std::string& path, Index height = 32, Index width = 32) {
  detail::check_image_size("decode_image_file", height, width);
  std::vector<std::uint8_t> chw(static_cast<std::size_t>(3 * height * width));
  detail::decode_image_into(path, height, width, chw.data());
  return chw;
}

namespace detail {

// The entries of dir that are folders (want_dirs) or image files, hidden names left out, sorted
// by name in byte order.
inline std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& dir, bool want_dirs) {
  namespace fs = std::filesystem;
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    std::error_code ec2;  // is_directory/is_regular_file follow symbolic links
    if (is_hidden(p)) continue;
    if (want_dirs ? fs::is_directory(p, ec2) : (fs::is_regular_file(p, ec2) && has_image_extension(p)))
      out.push_back(p);
  }
  if (ec) throw IoError(cat("cannot list folder '", dir.string(), "': ", ec.message()));
  // std::string compares as unsigned char: byte order, whatever the locale.
  std::sort(out.begin(), out.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
  return out;
}

// Fills d.class_names (checked: class_names.hpp) and d.labels from the class folders of
// d.source, and returns the image files in order, one per label.
inline std::vector<std::filesystem::path> list_image_folder(ImageDataset& d) {
  namespace fs = std::filesystem;
  const std::vector<fs::path> class_dirs = sorted_entries(d.source, true);
  if (class_dirs.empty())
    throw FormatError(cat("image folder split '", d.source, "' has no class sub-folders (expected ", d.source,
                          "/<class>/<image files>)"));
  std::vector<std::string> places;
  for (const fs::path& class_dir : class_dirs) {
    d.class_names.push_back(class_dir.filename().string());
    places.push_back(cat("class folder '", d.source, "/", printable_name(d.class_names.back(), 255), "'"));
  }
  validate_class_names(d.class_names, places, "load_image_folder");
  std::vector<fs::path> files;
  for (std::size_t k = 0; k < class_dirs.size(); ++k) {
    const std::vector<fs::path> images = sorted_entries(class_dirs[k], false);
    if (images.empty())
      throw FormatError(cat("class folder '", class_dirs[k].string(), "' has no .png, .jpg, .jpeg or .bmp files"));
    files.insert(files.end(), images.begin(), images.end());
    d.labels.insert(d.labels.end(), images.size(), static_cast<std::int32_t>(k));
  }
  return files;
}

}  // namespace detail

inline ImageDataset load_image_folder(const std::string& root, const std::string& split, Index height = 32,
                                      Index width = 32, Index limit = 0) {
  namespace fs = std::filesystem;
  detail::check_image_size("load_image_folder", height, width);
  if (limit < 0) throw ValueError(detail::cat("load_image_folder: negative limit ", limit));
  detail::require_directory(root, "image folder root");
  const fs::path split_dir = fs::path(root) / split;
  detail::require_directory(split_dir, "image folder split");

  ImageDataset d;
  d.channels = 3;
  d.height = height;
  d.width = width;
  d.source = split_dir.string();
  std::vector<fs::path> files = detail::list_image_folder(d);
  if (limit > 0 && limit < d.size()) {
    files.resize(static_cast<std::size_t>(limit));
    d.labels.resize(static_cast<std::size_t>(limit));
  }

  // parallel_for bodies must not throw: keep each failure and rethrow the first in file order.
  d.pixels.resize(static_cast<std::size_t>(d.size() * d.image_bytes()));
  std::vector<std::exception_ptr> errors(files.size());
  parallel_for(d.size(), [&](Index i) {
    try {
      detail::decode_image_into(files[static_cast<std::size_t>(i)].string(), height, width,
                                d.pixels.data() + i * d.image_bytes());
    } catch (...) {
      errors[static_cast<std::size_t>(i)] = std::current_exception();
    }
  });
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  return d;
}

inline ImageDataset load_dataset(const std::string& dir, bool train, Index limit = 0) {
  namespace fs = std::filesystem;
  const CifarSplit split = train ? CifarSplit::Train : CifarSplit::Test;
  if (is_cifar10_dir(dir)) return load_cifar10(dir, split, limit);
  const std::string nested = (fs::path(dir) / "cifar-10-batches-bin").string();
  if (is_cifar10_dir(nested)) return load_cifar10(nested, split, limit);
  std::error_code ec;
  if (fs::is_directory(fs::path(dir) / "train", ec) || fs::is_directory(fs::path(dir) / "test", ec))
    return load_image_folder(dir, train ? "train" : "test", 32, 32, limit);
  if (!fs::exists(dir, ec))
    throw IoError(detail::cat("data folder '", dir, "' does not exist; ", detail::kCifarDownloadHint));
  throw IoError(detail::cat("'", dir, "' is neither a CIFAR-10 binary folder (data_batch_1.bin ... data_batch_5.bin, ",
                            "test_batch.bin) nor an image folder (train/<class>/<images>, test/<class>/<images>); ",
                            detail::kCifarDownloadHint));
}

}  // namespace glia
