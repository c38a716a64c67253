// libFuzzer harness: decode_image_file(path, 32, 32) (include/glia/data/image_folder.hpp), the
// header checks and stb_image's PNG, JPEG and BMP decoders behind them.
//
// Input layout: byte 0 picks the file name's extension (value % 3: .png, .jpg, .bmp); the rest
// is the file, written into a per-process temporary folder reused across iterations. (The
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
    const std::vector<std::uint8_t> chw = glia::decode_image_file(path, 32, 32);
    if (chw.size() != 3 * 32 * 32) {
      std::fprintf(stderr, "fuzz_image: decoded %zu bytes, expected 3072\n", chw.size());
      std::abort();
    }
  } catch (const glia::Error&) {
    // expected for malformed input
  }
  std::remove(path.c_str());
  return 0;
}
