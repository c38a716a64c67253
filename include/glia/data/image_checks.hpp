// glia/data/image_checks.hpp: the byte-level checks glia makes on an image file before
// stb_image decodes it (image_folder.hpp runs them), and the folder helpers of the image reader.
//
// Contract (all in glia::detail, used by data/image_folder.hpp):
// - read_image_bytes(path): the whole file through read_input_file (core/input_file.hpp: no
//   FIFO, directory or device; at most kMaxImageFileBytes = 64 MiB); IoError naming the file.
// - truncated_at(bytes, format): for "PNG", "JPEG", "BMP", the byte offset where a complete
//   image's data would continue but the file ends, or -1 when it is complete.
// - jpeg_oversized_dht_at(bytes, n): the offset of the first Huffman table segment that
//   declares more than 256 codes (stb_image 2.27 writes past its table), or -1.
// - png_channels(colour_type): the channels of a PNG colour type (IHDR byte 25).
// - has_image_extension, is_hidden: the file names an image folder reads / ignores.
// - require_directory(path, what): IoError unless path is an existing folder, naming it.
// - check_image_size(op, h, w): ValueError unless both are in 1..65535.
// - list_image_folder(ROOT/<split>): its class folders (sorted by name in byte order, names
//   checked by class_names.hpp) and their image files (sorted likewise), class by class, each
//   with its label; FormatError for no class folder or a class folder without image files.
// - is_folder(p): p is a folder (never throws). parallel_for_first_error(n, f): parallel_for
//   whose body may throw; the failure of the smallest index is rethrown after all ran.
// - allocate_pixels(d): sizes d.pixels for its images; FormatError naming the data set and the
//   bytes needed instead of std::bad_alloc.
// Nothing here decodes pixels or depends on stb_image.
#pragma once

#include <algorithm>
#include <exception>
#include <new>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/core/input_file.hpp"
#include "glia/core/utf8.hpp"
#include "glia/data/class_names.hpp"
#include "glia/data/dataset.hpp"
#include "glia/kernels/parallel.hpp"
#include "glia/tensor/shape.hpp"

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

inline void check_image_size(const char* op, Index height, Index width) {
  if (height < 1 || width < 1 || height > 65535 || width > 65535)
    throw ValueError(cat(op, ": image size ", height, " x ", width, " is not in 1..65535"));
}

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

// One split of an image folder as listed: its class names (checked: class_names.hpp) and its
// image files in order, each with its label.
struct FolderListing {
  std::string source;  // ROOT/<split>
  std::vector<std::string> class_names;
  std::vector<std::filesystem::path> files;
  std::vector<std::int32_t> labels;
};

inline FolderListing list_image_folder(const std::string& source) {
  FolderListing d;
  d.source = source;
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
  for (std::size_t k = 0; k < class_dirs.size(); ++k) {
    const std::vector<fs::path> images = sorted_entries(class_dirs[k], false);
    if (images.empty())
      throw FormatError(cat("class folder '", class_dirs[k].string(), "' has no .png, .jpg, .jpeg or .bmp files"));
    d.files.insert(d.files.end(), images.begin(), images.end());
    d.labels.insert(d.labels.end(), images.size(), static_cast<std::int32_t>(k));
  }
  return d;
}

inline bool is_folder(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec);
}

// parallel_for bodies must not throw: f(i) runs for every i, each failure is kept, and the
// first in index order is rethrown.
template <typename F>
void parallel_for_first_error(Index n, F&& f) {
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
  parallel_for(n, [&](Index i) {
    try {
      f(i);
    } catch (...) {
      errors[static_cast<std::size_t>(i)] = std::current_exception();
    }
  });
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

// Sizes d.pixels for d.size() images of d's geometry; FormatError (not std::bad_alloc) naming
// the data set and the bytes it needs when the memory is not there.
inline void allocate_pixels(ImageDataset& d) {
  const double bytes = static_cast<double>(d.size()) * static_cast<double>(d.image_bytes());
  try {
    d.pixels.resize(static_cast<std::size_t>(d.size() * d.image_bytes()));
  } catch (const std::bad_alloc&) {
    throw FormatError(cat("'", d.source, "': ", d.size(), " images of ", d.channels, " x ", d.height, " x ", d.width,
                          " need ", bytes / 1e9, " GB of memory for their pixels, more than can be allocated; resize "
                          "them to a smaller size (ImageFolderOptions height and width) or use fewer"));
  }
}

}  // namespace detail

}  // namespace glia
