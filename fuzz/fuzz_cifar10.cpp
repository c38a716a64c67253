// libFuzzer harness: load_cifar10 (include/glia/data/cifar10.hpp) on files made of the input.
//
// The reader has no in-memory entry point (it stats and reads files by name), so every input is
// written into a per-process temporary folder, reused across iterations, and the test split is
// loaded from it. Input layout (so that the class-name file and the limit are fuzzed too):
//   byte 0        flags: bits 0-1 pick the limit (0, 1, 2 or 3 records; 0 = all);
//                 bit 2: the folder gets a batches.meta.txt (else it has none)
//   if bit 2:     bytes 1-2 = L (little-endian, capped at what is left), then L bytes of
//                 batches.meta.txt
//   the rest      test_batch.bin
// An empty input writes an empty test_batch.bin. Expected failures are glia::Error; anything
// else (a crash, a sanitizer report, another exception, a huge allocation) is a finding.
// The loaded data set is checked against the bytes: right size, labels 0..9, pixels copied, ten
// class names that are valid (1..128 bytes of UTF-8 without control characters) and distinct.
#include "scratch_dir.hpp"
#include <glia/data/cifar10.hpp>
#include <glia/data/class_names.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

const std::string& dir() { return glia::fuzz::scratch_dir("cifar10"); }

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_cifar10: invariant broken: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& d = dir();
  const std::uint8_t flags = size ? data[0] : 0;
  std::size_t at = size ? 1 : 0;
  const glia::Index limit = flags & 3;
  const std::string meta = d + "/batches.meta.txt";
  std::remove(meta.c_str());
  if (flags & 4) {
    std::size_t len = 0;
    if (at + 2 <= size) len = data[at] | (std::size_t(data[at + 1]) << 8);
    at = std::min(at + 2, size);
    len = std::min(len, size - at);
    glia::fuzz::write_file(meta, data + at, len);
    at += len;
  }
  const std::uint8_t* batch = data + at;
  const std::size_t batch_size = size - at;
  glia::fuzz::write_file(d + "/test_batch.bin", batch, batch_size);

  try {
    const glia::ImageDataset ds = glia::load_cifar10(d, glia::CifarSplit::Test, limit);
    // It loaded: the file must have been whole records with labels 0..9, copied as they are.
    const std::size_t rec = 3073;
    if (batch_size == 0 || batch_size % rec != 0) fail("loaded a file that is not whole records");
    std::size_t records = batch_size / rec;
    if (limit > 0 && records > static_cast<std::size_t>(limit)) records = static_cast<std::size_t>(limit);
    if (ds.labels.size() != records || ds.pixels.size() != records * 3072) fail("wrong number of records");
    if (ds.class_names.size() != 10) fail("not ten class names");
    for (std::size_t i = 0; i < 10; ++i) {  // each valid (class_names.hpp) and unlike the others
      if (!glia::class_name_problem(ds.class_names[i]).empty()) fail("an invalid class name");
      for (std::size_t j = 0; j < i; ++j)
        if (ds.class_names[i] == ds.class_names[j]) fail("a class name twice");
    }
    for (std::size_t r = 0; r < records; ++r) {
      if (ds.labels[r] != batch[r * rec] || ds.labels[r] > 9) fail("label differs from the file");
      if (std::memcmp(ds.pixels.data() + r * 3072, batch + r * rec + 1, 3072) != 0) fail("pixels differ");
    }
  } catch (const glia::Error&) {
    // expected for malformed input
  }
  return 0;
}
