// libFuzzer harness: load_idx (include/glia/data/idx.hpp) on an image file and a label file
// made of the input.
//
// The reader works on files by name, so both are written into a per-process scratch folder.
// Input layout: bytes 0-1 = K (little-endian, capped at what is left), then K bytes of the image
// file, then the label file (the rest). An empty input writes two empty files. Expected failures are glia::Error;
// anything else (a crash, a sanitizer report, another exception, a huge allocation) is a
// finding. A loaded data set is checked against the bytes: 1 channel, rows x cols from the
// header, as many labels as images, pixels and labels copied, class names 0..max(9, largest).
#include "scratch_dir.hpp"
#include <glia/data/idx.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

const std::string& dir() { return glia::fuzz::scratch_dir("idx"); }

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_idx: invariant broken: %s\n", what);
  std::abort();
}

std::uint32_t big_endian(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | std::uint32_t(p[3]);
}

void check(const glia::ImageDataset& d, const std::uint8_t* images, std::size_t image_size, const std::uint8_t* labels) {
  if (image_size < 16 || d.channels != 1) fail("an accepted image file has a header and one channel");
  if (d.height != big_endian(images + 8) || d.width != big_endian(images + 12)) fail("rows and columns are the header's");
  if (d.size() != static_cast<glia::Index>(big_endian(images + 4))) fail("every image is loaded");
  if (d.pixels.size() != static_cast<std::size_t>(d.size() * d.image_bytes())) fail("pixel count");
  if (d.size() && std::memcmp(d.pixels.data(), images + 16, d.pixels.size()) != 0) fail("pixels copied");
  int largest = 9;
  for (glia::Index i = 0; i < d.size(); ++i) {
    if (d.labels[static_cast<std::size_t>(i)] != labels[8 + i]) fail("labels copied");
    largest = std::max(largest, int(labels[8 + i]));
  }
  if (d.class_names.size() != static_cast<std::size_t>(largest + 1)) fail("class names 0..largest");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& d = dir();
  std::size_t k = size >= 2 ? data[0] | (std::size_t(data[1]) << 8) : 0;
  const std::size_t at = std::min<std::size_t>(2, size);
  k = std::min(k, size - at);
  const std::uint8_t* images = data + at;
  const std::uint8_t* labels = images + k;
  const std::size_t label_size = size - at - k;
  glia::fuzz::write_file(d + "/images", images, k);
  glia::fuzz::write_file(d + "/labels", labels, label_size);
  try {
    check(glia::load_idx(d + "/images", d + "/labels"), images, k, labels);
  } catch (const glia::Error&) {
  }
  return 0;
}
