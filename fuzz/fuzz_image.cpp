// libFuzzer harness: the image decoders of include/glia/data/image_folder.hpp (the header
// checks and stb_image's PNG, JPEG and BMP decoders behind them), and the channel conversion and
// bilinear resize (data/resize.hpp) of decode_image.
//
// Input layout: byte 0 picks the file name's extension (value % 3: .png, .jpg, .bmp) and the
// call (value / 3 % 4): 0 decode_image_file(path, 32, 32), the exact 32 x 32 RGB interface;
// 1 decode_image keeping the file's size and channels; 2 and 3 decode_image converting to 1 or
// 3 channels and resizing to a small size that byte 0 also picks. The rest is the file, written into a per-process temporary folder reused across iterations. (The
// reader picks the decoder by magic number, not by extension, so the extension only matters
// to make the call look like a real one.) Expected failures are glia::Error; anything else (a
// crash, a sanitizer report, another exception, a huge allocation, a hang) is a finding.
//
// Findings so far are in docs/reliability.md: an oversized JPEG Huffman table (now refused by
// image_folder.hpp before stb_image reads it) and an over-wide shift in stb_image's JPEG bit
// reader (undefined behaviour only; fuzz/ubsan-ignore.txt names it).
#include "scratch_dir.hpp"
#include <glia/data/image_folder.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

const std::string& dir() { return glia::fuzz::scratch_dir("image"); }

[[noreturn]] void finding(const char* what, std::size_t got, std::size_t expected) {
  std::fprintf(stderr, "fuzz_image: %s: %zu, expected %zu\n", what, got, expected);
  std::abort();
}

void decode(const std::string& path, int call) {
  if (call % 4 == 0) {
    const std::vector<std::uint8_t> chw = glia::decode_image_file(path, 32, 32);
    if (chw.size() != 3 * 32 * 32) finding("decoded bytes", chw.size(), 3 * 32 * 32);
    return;
  }
  glia::ImageFolderOptions o;
  if (call % 4 >= 2) {
    o.channels = call % 4 == 2 ? 1 : 3;
    o.height = 1 + call / 4 % 5;
    o.width = 1 + call / 20 * 7;
  }
  const glia::DecodedImage img = glia::decode_image(path, o);
  const std::size_t want = static_cast<std::size_t>(img.channels * img.height * img.width);
  if (img.pixels.size() != want) finding("decoded bytes", img.pixels.size(), want);
  if (img.channels != 1 && img.channels != 3) finding("channels", static_cast<std::size_t>(img.channels), 3);
  if (o.height && (img.height != o.height || img.width != o.width))
    finding("rows x columns", static_cast<std::size_t>(img.height * img.width), static_cast<std::size_t>(o.height * o.width));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const char* const kExt[3] = {".png", ".jpg", ".bmp"};
  const std::string path = dir() + "/image" + kExt[data[0] % 3];
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size > 1 && std::fwrite(data + 1, 1, size - 1, f) != size - 1) || std::fclose(f) != 0) {
    std::perror(("fuzz_image: cannot write " + path).c_str());
    std::abort();
  }
  try {
    decode(path, data[0] / 3);
  } catch (const glia::Error&) {
    // expected for malformed input
  }
  std::remove(path.c_str());
  return 0;
}
