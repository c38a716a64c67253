// Regression inputs for the fuzz targets (fuzz/, scripts/fuzz, docs/reliability.md).
// Each file in tests/fuzz-regressions/ is named <target>-<short-name> (target: cifar10, image,
// checkpoint or report) and holds one input in that fuzz target's layout; it is fed to the same code path
// as the harness (fuzz/fuzz_<target>.cpp) and must give success or a glia::Error: anything else
// (another exception, a crash, a sanitizer report under scripts/test asan) fails.
// Findings not fixed yet are listed in kOpen: their test is hidden ([.]) so that the suite stays
// green; run it with `glia_tests "[fuzz-open]"` in the asan build to check a fix, then move the
// name out of kOpen.
#include <catch2/catch.hpp>

#include "checkpoint_model.hpp"  // fuzz/: the harness's model and invariant
#include "report_check.hpp"      // fuzz/: fuzz_report's checks

#include <glia/data/cifar10.hpp>
#include <glia/data/class_names.hpp>
#include <glia/data/image_folder.hpp>
#include <glia/train/checkpoint.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include "support/temp_dir.hpp"

using namespace glia;
namespace fs = std::filesystem;

namespace {

using glia::testing::TempDir;

const fs::path kRegressions = fs::path(GLIA_TEST_FIXTURES).parent_path() / "fuzz-regressions";

// Open findings, in Debian's stb_image 2.27 (libstb-dev 0.0~git20220908), which glia compiles
// into image_folder.hpp (docs/reliability.md). The oversized-Huffman-table write is closed by
// glia's own check (image_folder.hpp, jpeg_oversized_dht_at); the shift below only trips
// UndefinedBehaviorSanitizer (garbage bits, then a decode error; AddressSanitizer sees no
// memory error), so it stays hidden in sanitizer builds.
const std::set<std::string> kOpen = {
    "image-jpeg-bit-reader-underflow",  // stbi__grow_buffer_unsafe: shift by more than 31 bits
    "image-jpeg-stb-huffman-assert",    // the same run-dry bit reader, then stb's Huffman assert
};

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}


void write_bytes(const fs::path& p, const char* data, std::size_t n) {
  std::ofstream out(p, std::ios::binary);
  out.write(data, static_cast<std::streamsize>(n));
  REQUIRE(out.good());
}

// fuzz/fuzz_cifar10.cpp: flags byte (limit, meta file), [meta length, meta], batch file.
void run_cifar10(const std::string& in) {
  TempDir dir;
  const std::size_t size = in.size();
  const std::uint8_t flags = size ? static_cast<std::uint8_t>(in[0]) : 0;
  std::size_t at = size ? 1 : 0;
  if (flags & 4) {
    std::size_t len = 0;
    if (at + 2 <= size) len = static_cast<std::uint8_t>(in[at]) | (std::size_t(static_cast<std::uint8_t>(in[at + 1])) << 8);
    at = std::min(at + 2, size);
    len = std::min(len, size - at);
    write_bytes(dir.path / "batches.meta.txt", in.data() + at, len);
    at += len;
  }
  write_bytes(dir.path / "test_batch.bin", in.data() + at, size - at);
  const ImageDataset ds = load_cifar10(dir.path.string(), CifarSplit::Test, flags & 3);
  // As the harness checks: a load that succeeds has ten valid, distinct class names.
  REQUIRE(ds.class_names.size() == 10);
  REQUIRE_NOTHROW(validate_class_names(ds.class_names, std::vector<std::string>(10, "name"), "fuzz"));
}

// fuzz/fuzz_image.cpp: byte 0 picks the extension, the rest is the file.
void run_image(const std::string& in) {
  if (in.empty()) return;
  TempDir dir;
  static const char* const kExt[3] = {".png", ".jpg", ".bmp"};
  const fs::path file = dir.path / (std::string("image") + kExt[static_cast<std::uint8_t>(in[0]) % 3]);
  write_bytes(file, in.data() + 1, in.size() - 1);
  const std::vector<std::uint8_t> chw = decode_image_file(file.string(), 32, 32);
  CHECK(chw.size() == 3 * 32 * 32);
}

// fuzz/fuzz_checkpoint.cpp: parse as is and with the payload size and hash fixed up; load what
// parses into the harness's small model.
void run_checkpoint(const std::string& in) {
  const auto model = fuzz::checkpoint_model(1);
  auto one = [&](const std::string& bytes) {
    Checkpoint c;
    try {
      c = parse_checkpoint(bytes, "fuzz.ckpt");
    } catch (const Error&) {
      return;
    }
    REQUIRE(fuzz::checkpoint_invariant_violation(c) == "");
    REQUIRE_NOTHROW(parse_checkpoint(serialize_checkpoint(c), "again.ckpt"));
    try {
      get_module(c, *model);
    } catch (const Error&) {
    }
  };
  one(in);
  std::string fixed = in;
  if (fuzz::fix_up_size_and_hash(fixed)) one(fixed);
}

// fuzz/fuzz_report.cpp: metrics.json, then after a NUL log.csv; every check of the harness.
void run_report(const std::string& in) {
  TempDir dir;
  const std::string problem = fuzz::report_violation(in, dir.path.string());
  INFO("fuzz_report's checks: " << problem);
  CHECK(problem.empty());
}

// Runs one saved input; true when it gave success or a glia::Error.
bool run_saved(const fs::path& file) {
  const std::string name = file.filename().string();
  const std::string in = read_bytes(file);
  try {
    if (name.rfind("cifar10-", 0) == 0)
      run_cifar10(in);
    else if (name.rfind("image-", 0) == 0)
      run_image(in);
    else if (name.rfind("checkpoint-", 0) == 0)
      run_checkpoint(in);
    else if (name.rfind("report-", 0) == 0)
      run_report(in);
    else
      FAIL("tests/fuzz-regressions/" << name << ": the name must start with cifar10-, image-, checkpoint- or report-");
  } catch (const Error&) {
  }
  return true;
}

std::vector<fs::path> saved_inputs(bool open) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kRegressions))
    if (e.is_regular_file() && kOpen.count(e.path().filename().string()) == (open ? 1u : 0u)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("Fuzz regressions: every saved input gives success or a glia::Error", "[fuzz]") {
  const std::vector<fs::path> files = saved_inputs(false);
  REQUIRE_FALSE(files.empty());
  for (const fs::path& f : files) {
    INFO("input " << f.string());
    CHECK(run_saved(f));
  }
}

TEST_CASE("Fuzz regression: a tensor whose dimensions multiply past 2^64 is refused, not read as empty",
          "[fuzz][checkpoint][errors]") {
  // Four dimensions of 2^16: the element count 2^64 used to wrap to 0, so the tensor parsed
  // with no values (and Shape::numel() overflowed).
  const std::string bytes = read_bytes(kRegressions / "checkpoint-dims-product-wraps-to-zero");
  REQUIRE(bytes.size() == 95);
  REQUIRE_THROWS_MATCHES(parse_checkpoint(bytes, "wrap.ckpt"), FormatError,
                         Catch::Matchers::Message("wrap.ckpt: tensor 'param/0.weight' is impossibly large"));
}

TEST_CASE("Fuzz regression: an empty tensor whose other extents multiply past the limit is refused",
          "[fuzz][checkpoint][errors]") {
  // [2^39, 2^39, 3, 0] holds no values, so its element count is 0; but the product of its other
  // extents (3 * 2^78, the span the parser bounds) is beyond any real tensor, and with the zero
  // first ([0, 2^39, 2^39, 3]) the first stride itself overflows 64 bits.
  for (const Shape& s : {Shape{Index{1} << 39, Index{1} << 39, 3, 0}, Shape{0, Index{1} << 39, Index{1} << 39, 3}}) {
    INFO("shape " << s);
    Checkpoint c;
    c.put_raw_entry("param/0.weight", DType::F32, s, "");
    REQUIRE_THROWS_MATCHES(parse_checkpoint(serialize_checkpoint(c), "zero.ckpt"), FormatError,
                           Catch::Matchers::Message("zero.ckpt: tensor 'param/0.weight' is impossibly large"));
  }
  // An empty tensor of sane extents still round-trips.
  Checkpoint ok;
  ok.put_raw_entry("param/0.weight", DType::F32, Shape{4, 0, 3, 3}, "");
  const Checkpoint back = parse_checkpoint(serialize_checkpoint(ok), "ok.ckpt");
  REQUIRE(back.tensors().at("param/0.weight").shape == (Shape{4, 0, 3, 3}));
  // The fuzzer's own input (CI, scripts/fuzz ci) is among the saved ones; run it alone here too.
  CHECK(run_saved(kRegressions / "checkpoint-zero-extent-hides-overflowing-stride"));
}

TEST_CASE("Fuzz regression: a JPEG Huffman table of more than 256 codes is refused before stb_image reads it",
          "[fuzz][data][errors]") {
  TempDir d;
  const fs::path p = d.path / "dht.jpg";
  // The saved input has the harness's layout: byte 0 picks the extension, the rest is the file.
  std::ofstream(p, std::ios::binary) << read_bytes(kRegressions / "image-jpeg-dht-over-256-codes").substr(1);
  CHECK_THROWS_WITH(decode_image_file(p.string(), 32, 32),
                    Catch::Contains("dht.jpg") && Catch::Contains("Huffman table") && Catch::Contains("byte offset 2"));
}

TEST_CASE("Regression: class names in batches.meta.txt that used to be accepted are refused, naming the line",
          "[fuzz][data][errors]") {
  // Inputs from the issue "Nothing a user types loses a run" (saved in fuzz_cifar10's layout,
  // one record after the meta file); the 10 MB line itself is in tests/test_data.cpp.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cifar10-meta-line-of-4000-bytes", "line 3 (byte offset 20): the line is longer than 128 bytes"},
      {"cifar10-meta-nul-in-class-name", "line 3 (byte offset 20): class name 'bi\\x00rd' has control character 0x00"},
      {"cifar10-meta-escape-sequence-class-name",
       "line 4 (byte offset 25): class name '\\x1B[31mcat\\x1B[0m' has control character 0x1B at byte 0"},
      {"cifar10-meta-duplicate-class-name",
       "line 7 (byte offset 38): class name 'cat' is already the name of line 4 (byte offset 25)"},
  };
  for (const auto& [file, message] : cases) {
    INFO("input " << file);
    CHECK_THROWS_AS(run_cifar10(read_bytes(kRegressions / file)), FormatError);
    CHECK_THROWS_WITH(run_cifar10(read_bytes(kRegressions / file)),
                      Catch::Contains("batches.meta.txt") && Catch::Contains(message));
  }
}

TEST_CASE("Regression: a top-down BMP (negative height) decodes, row 0 on top", "[fuzz][data]") {
  // 32 x 32, 24 bits, R = 8 x, G = 8 y + 3, B = 5 (x ^ y); stb_image 2.27's stbi_info reports
  // its height as -32, which glia used to refuse as the wrong size.
  const std::string in = read_bytes(kRegressions / "image-bmp-top-down-24bit");
  REQUIRE(in.size() == 1 + 54 + 32 * 32 * 3);
  TempDir d;
  write_bytes(d.path / "top.bmp", in.data() + 1, in.size() - 1);
  const std::vector<std::uint8_t> chw = decode_image_file((d.path / "top.bmp").string(), 32, 32);
  REQUIRE(chw.size() == 3 * 32 * 32);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) {
      INFO("pixel y " << y << ", x " << x);
      CHECK(chw[static_cast<std::size_t>(y * 32 + x)] == 8 * x);
      CHECK(chw[static_cast<std::size_t>(1024 + y * 32 + x)] == 8 * y + 3);
      CHECK(chw[static_cast<std::size_t>(2048 + y * 32 + x)] == 5 * (x ^ y));
    }
  CHECK(run_saved(kRegressions / "image-bmp-top-down-24bit"));
}

TEST_CASE("Fuzz regression: report inputs with huge, tiny and impossible numbers give identical, valid pages",
          "[fuzz][report]") {
  // The issue "Reports cannot leak memory": a number >= 1e62 made the fixed-point formatter copy
  // 64 bytes of uninitialised stack into index.html. Each input must pass every fuzz_report
  // check (two writes byte-identical, valid UTF-8, no control characters, finite coordinates).
  // report-log-train-loss-6e66 is fuzz_report's own finding on the code before the fix (a loss
  // in log.csv that the loss chart's tick labels and the epoch table wrote from stack memory).
  for (const char* file : {"report-number-1e62-overflows-fixed-buffer", "report-extreme-doubles", "report-impossible-values",
                           "report-log-train-loss-6e66"}) {
    INFO("input " << file);
    const std::string in = read_bytes(kRegressions / file);
    REQUIRE_FALSE(in.empty());
    run_report(in);
  }
}

TEST_CASE("Fuzz regressions: open findings in stb_image 2.27 (hidden until fixed)", "[.][fuzz][fuzz-open]") {
  const std::vector<fs::path> files = saved_inputs(true);
  REQUIRE(files.size() == kOpen.size());
  for (const fs::path& f : files) {
    INFO("input " << f.string());
    CHECK(run_saved(f));
  }
}
