// glia/report/png.hpp: RGB images to PNG (via stb_image_write), and tiling images into a grid.
//
// Contract:
//   RgbImage        height x width x 3 bytes, row-major HWC (R, G, B per pixel).
//   encode_png(img) PNG file bytes in memory. ValueError for an empty or inconsistent image or
//                   one larger than stb can take; Error if stb fails (out of memory).
//   write_png(path, img)  encodes and writes path atomically (write_file_atomic); IoError
//                   naming the file.
//   image_grid(chw, count, h, w, rows, cols, scale, margin, background)  tiles `count` CHW
//                   images (C = 3, uint8, stored one after the other) into a rows x cols grid,
//                   row-major: image k goes to grid row k / cols, column k % cols, its top-left
//                   pixel at (margin + row * (h * scale + margin), margin + col * (w * scale +
//                   margin)). Each pixel becomes a scale x scale block (nearest neighbour); the
//                   margins and empty cells are `background`. The result is
//                   (rows * (h * scale + margin) + margin) x (cols * (w * scale + margin) + margin).
//                   ValueError if count > rows * cols or a size is not positive.
//
// How stb_image_write is compiled (header-only, several TUs, maybe the user's own copy):
//   glia includes <stb/stb_image_write.h> with STB_IMAGE_WRITE_STATIC and
//   STB_IMAGE_WRITE_IMPLEMENTATION *inside namespace glia::detail::stbiw*. Every stb function
//   and variable therefore has internal linkage in each TU that includes this header: no
//   duplicate symbols at link time however many TUs include it, and no clash with a user who
//   includes stb_image_write.h (declarations or implementation, static or not, before or after
//   this header, in the same TU or another): the user's copy lives in the global namespace
//   with extern "C" names, glia's copy in its own namespace. To make the second inclusion in a
//   TU possible, the macros stb looks at (its include guard, STBIWDEF, the STATIC/IMPLEMENTATION
//   switches, STBIW_ASSERT/MALLOC/...) are saved with #pragma push_macro, set for glia's copy and
//   restored afterwards with #pragma pop_macro (GCC, Clang and MSVC support both). The C headers
//   stb includes are included first at global scope, so their include guards keep them out of
//   the namespace. stb's own private macros (stbiw__*, STBIW_UCHAR) stay defined, with the same
//   text stb itself would give them. Needs Debian's libstb-dev (header only; nothing to link).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

// C headers that stb_image_write's implementation includes: at global scope first, so that
// the inclusion inside the namespace below finds them already included.
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glia/core/atomic_file.hpp"
#include "glia/core/error.hpp"

#if defined(__has_include)
#if !__has_include(<stb/stb_image_write.h>)
#error "glia/report/png.hpp needs <stb/stb_image_write.h> (Debian/Ubuntu: apt-get install libstb-dev)"
#endif
#endif

#pragma push_macro("INCLUDE_STB_IMAGE_WRITE_H")
#pragma push_macro("STBIWDEF")
#pragma push_macro("STB_IMAGE_WRITE_STATIC")
#pragma push_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma push_macro("STBI_WRITE_NO_STDIO")
#pragma push_macro("STBIW_ASSERT")
#pragma push_macro("STBIW_MALLOC")
#pragma push_macro("STBIW_REALLOC")
#pragma push_macro("STBIW_REALLOC_SIZED")
#pragma push_macro("STBIW_FREE")
#pragma push_macro("STBIW_MEMMOVE")
#pragma push_macro("STBIW_ZLIB_COMPRESS")
#pragma push_macro("STBIW_CRC32")
#undef INCLUDE_STB_IMAGE_WRITE_H
#undef STBIWDEF
#undef STBIW_ASSERT
#undef STBIW_MALLOC
#undef STBIW_REALLOC
#undef STBIW_REALLOC_SIZED
#undef STBIW_FREE
#undef STBIW_MEMMOVE
#undef STBIW_ZLIB_COMPRESS
#undef STBIW_CRC32
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#define STBIW_ASSERT(x) assert(x)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#endif
namespace glia {
namespace detail {
namespace stbiw {
#include <stb/stb_image_write.h>
}  // namespace stbiw
}  // namespace detail
}  // namespace glia
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#undef INCLUDE_STB_IMAGE_WRITE_H
#undef STBIWDEF
#undef STB_IMAGE_WRITE_STATIC
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#undef STBI_WRITE_NO_STDIO
#undef STBIW_ASSERT
#undef STBIW_MALLOC
#undef STBIW_REALLOC
#undef STBIW_REALLOC_SIZED
#undef STBIW_FREE
#undef STBIW_MEMMOVE
#pragma pop_macro("INCLUDE_STB_IMAGE_WRITE_H")
#pragma pop_macro("STBIWDEF")
#pragma pop_macro("STB_IMAGE_WRITE_STATIC")
#pragma pop_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma pop_macro("STBI_WRITE_NO_STDIO")
#pragma pop_macro("STBIW_ASSERT")
#pragma pop_macro("STBIW_MALLOC")
#pragma pop_macro("STBIW_REALLOC")
#pragma pop_macro("STBIW_REALLOC_SIZED")
#pragma pop_macro("STBIW_FREE")
#pragma pop_macro("STBIW_MEMMOVE")
#pragma pop_macro("STBIW_ZLIB_COMPRESS")
#pragma pop_macro("STBIW_CRC32")

namespace glia {

using Index = std::ptrdiff_t;  // the same alias as glia/tensor/shape.hpp (a legal redeclaration)

struct RgbImage {
  Index height = 0, width = 0;
  std::vector<std::uint8_t> pixels;  // HWC, height * width * 3

  RgbImage() = default;
  RgbImage(Index h, Index w, std::array<std::uint8_t, 3> fill = {0, 0, 0})
      : height(h), width(w), pixels(static_cast<std::size_t>(h > 0 && w > 0 ? h * w * 3 : 0)) {
    for (std::size_t i = 0; i < pixels.size(); i += 3) {
      pixels[i] = fill[0];
      pixels[i + 1] = fill[1];
      pixels[i + 2] = fill[2];
    }
  }
  std::uint8_t* at(Index y, Index x) { return pixels.data() + (y * width + x) * 3; }
  const std::uint8_t* at(Index y, Index x) const { return pixels.data() + (y * width + x) * 3; }
};

namespace detail {
namespace report {
inline void append_png_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(context);
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  out->insert(out->end(), bytes, bytes + size);
}
}  // namespace report
}  // namespace detail

// PNG bytes of an HWC RGB image given as a pointer to height * width * 3 bytes.
inline std::vector<std::uint8_t> encode_png(const std::uint8_t* hwc, Index height, Index width) {
  if (height <= 0 || width <= 0) throw ValueError(detail::cat("encode_png: image must be non-empty, got ", height, "x", width));
  if (hwc == nullptr) throw ValueError("encode_png: null pixel pointer");
  if (width > std::numeric_limits<int>::max() / 3 || height > std::numeric_limits<int>::max() / (width * 3))
    throw ValueError(detail::cat("encode_png: image ", height, "x", width, " is too large"));
  std::vector<std::uint8_t> out;
  const int ok = detail::stbiw::stbi_write_png_to_func(&detail::report::append_png_bytes, &out, static_cast<int>(width),
                                                       static_cast<int>(height), 3, hwc, static_cast<int>(width * 3));
  if (ok == 0) throw Error(detail::cat("encode_png: stb_image_write failed on a ", height, "x", width, " image"));
  return out;
}

inline std::vector<std::uint8_t> encode_png(const RgbImage& image) {
  if (image.height > 0 && image.width > 0 && image.pixels.size() != static_cast<std::size_t>(image.height * image.width * 3))
    throw ValueError(detail::cat("encode_png: ", image.height, "x", image.width, " image has ", image.pixels.size(),
                                 " bytes, expected ", image.height * image.width * 3));
  return encode_png(image.pixels.data(), image.height, image.width);
}

inline void write_png(const std::string& path, const RgbImage& image) {
  std::vector<std::uint8_t> bytes;
  try {
    bytes = encode_png(image);
  } catch (const Error& e) {
    throw IoError(detail::cat("cannot write '", path, "': ", e.what()));
  }
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

// Tiles count CHW images (3 x height x width bytes each, consecutive) into a grid; see the top.
inline RgbImage image_grid(const std::uint8_t* chw, Index count, Index height, Index width, Index rows, Index cols,
                           Index scale = 1, Index margin = 0, std::array<std::uint8_t, 3> background = {255, 255, 255}) {
  if (height <= 0 || width <= 0 || rows <= 0 || cols <= 0 || scale <= 0 || margin < 0 || count < 0)
    throw ValueError(detail::cat("image_grid: bad sizes: count ", count, ", image ", height, "x", width, ", grid ", rows, "x",
                                 cols, ", scale ", scale, ", margin ", margin));
  if (count > rows * cols)
    throw ValueError(detail::cat("image_grid: ", count, " images do not fit a ", rows, "x", cols, " grid"));
  if (count > 0 && chw == nullptr) throw ValueError("image_grid: null pixel pointer");
  const Index cell_h = height * scale, cell_w = width * scale;
  RgbImage grid(rows * (cell_h + margin) + margin, cols * (cell_w + margin) + margin, background);
  const Index plane = height * width;
  for (Index k = 0; k < count; ++k) {
    const std::uint8_t* img = chw + k * 3 * plane;
    const Index y0 = margin + (k / cols) * (cell_h + margin);
    const Index x0 = margin + (k % cols) * (cell_w + margin);
    for (Index y = 0; y < cell_h; ++y) {
      const Index sy = y / scale;
      std::uint8_t* row = grid.at(y0 + y, x0);
      for (Index x = 0; x < cell_w; ++x) {
        const Index s = sy * width + x / scale;
        row[3 * x + 0] = img[s];
        row[3 * x + 1] = img[plane + s];
        row[3 * x + 2] = img[2 * plane + s];
      }
    }
  }
  return grid;
}

// The same for a vector holding count = chw.size() / (3 * height * width) images.
inline RgbImage image_grid(const std::vector<std::uint8_t>& chw, Index height, Index width, Index rows, Index cols,
                           Index scale = 1, Index margin = 0, std::array<std::uint8_t, 3> background = {255, 255, 255}) {
  if (height <= 0 || width <= 0 || chw.size() % static_cast<std::size_t>(3 * height * width) != 0)
    throw ValueError(detail::cat("image_grid: ", chw.size(), " bytes is not a whole number of 3x", height, "x", width, " images"));
  const Index count = static_cast<Index>(chw.size()) / (3 * height * width);
  return image_grid(chw.data(), count, height, width, rows, cols, scale, margin, background);
}

}  // namespace glia
