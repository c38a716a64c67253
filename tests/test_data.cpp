// The data folder: the CIFAR-10 reader, image folders, epoch order and batch augmentation.
// Files are written into a fresh temporary folder per test; the real CIFAR-10 files are used
// when they are present (GLIA_SHARED_DATA), else that test only warns.
#include <catch2/catch.hpp>

#include <glia/data/augment.hpp>
#include <glia/data/cifar10.hpp>
#include <glia/data/class_names.hpp>
#include <glia/data/dataset.hpp>
#include <glia/data/image_folder.hpp>
#include <glia/data/loader.hpp>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/temp_dir.hpp"

using namespace glia;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Bytes = std::vector<std::uint8_t>;

namespace {

using glia::testing::TempDir;


void write_file(const std::string& path, const Bytes& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Byte k of plane c of synthetic record r: distinct per record, plane and position.
std::uint8_t cifar_pixel(Index r, Index c, Index k) { return static_cast<std::uint8_t>(r * 31 + c * 85 + k * 7); }

// count CIFAR-10 records whose labels are label0, label0+1, ... (mod 10).
Bytes cifar_records(Index count, Index first_record = 0, int label0 = 0) {
  Bytes b;
  for (Index r = 0; r < count; ++r) {
    b.push_back(static_cast<std::uint8_t>((label0 + r) % 10));
    for (Index c = 0; c < 3; ++c)
      for (Index k = 0; k < 1024; ++k) b.push_back(cifar_pixel(first_record + r, c, k));
  }
  return b;
}

// Sets the effective user to "nobody" for a scope (root can read any file otherwise).
struct Unprivileged {
  bool ok;
  Unprivileged() : ok(::geteuid() != 0 || ::seteuid(65534) == 0) {}
  ~Unprivileged() {
    if (::geteuid() != ::getuid() && ::seteuid(::getuid()) != 0) std::abort();  // must not go on as nobody
  }
};

void write_png(const std::string& path, int h, int w, int comp, const Bytes& hwc) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(stbi_write_png(path.c_str(), w, h, comp, hwc.data(), w * comp) != 0);
}
void write_bmp(const std::string& path, int h, int w, const Bytes& hwc) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(stbi_write_bmp(path.c_str(), w, h, 3, hwc.data()) != 0);
}
// An h x w RGB image (HWC) whose bytes are seed + 3 * index.
Bytes rgb_image(int h, int w, int seed) {
  Bytes b(static_cast<std::size_t>(h * w * 3));
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(seed + 3 * i);
  return b;
}
// HWC -> CHW, glia's layout.
Bytes to_chw(const Bytes& hwc, int h, int w) {
  Bytes out(hwc.size());
  for (int p = 0; p < h * w; ++p)
    for (int c = 0; c < 3; ++c) out[static_cast<std::size_t>(c * h * w + p)] = hwc[static_cast<std::size_t>(p * 3 + c)];
  return out;
}
Bytes image_bytes(const ImageDataset& d, Index i) { return Bytes(d.image(i), d.image(i) + d.image_bytes()); }

// A 16 x 16 baseline JPEG (quality 90) of the gradient R = 8 + 15 x, G = 8 + 15 y, B = 128,
// written once by stbi_write_jpg. It is embedded because stb_image_write's JPEG encoder shifts
// signed ints past their range, which the sanitizer build (scripts/test asan) stops on.
const Bytes kGradientJpeg = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
    0x00, 0xff, 0xdb, 0x00, 0x84, 0x00, 0x03, 0x02, 0x02, 0x03, 0x02, 0x02, 0x03, 0x03, 0x03, 0x03, 0x04, 0x03, 0x03,
    0x04, 0x05, 0x08, 0x05, 0x05, 0x04, 0x04, 0x05, 0x0a, 0x07, 0x07, 0x06, 0x08, 0x0c, 0x0a, 0x0c, 0x0c, 0x0b, 0x0a,
    0x0b, 0x0b, 0x0d, 0x0e, 0x12, 0x10, 0x0d, 0x0e, 0x11, 0x0e, 0x0b, 0x0b, 0x10, 0x16, 0x10, 0x11, 0x13, 0x14, 0x15,
    0x15, 0x15, 0x0c, 0x0f, 0x17, 0x18, 0x16, 0x14, 0x18, 0x12, 0x14, 0x15, 0x14, 0x01, 0x03, 0x04, 0x04, 0x05, 0x04,
    0x05, 0x09, 0x05, 0x05, 0x09, 0x14, 0x0d, 0x0b, 0x0d, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x10, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03,
    0x11, 0x01, 0xff, 0xc4, 0x01, 0xa2, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x10, 0x00, 0x02,
    0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7d, 0x01, 0x02, 0x03, 0x00, 0x04,
    0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08,
    0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19,
    0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47,
    0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
    0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94,
    0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5,
    0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6,
    0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5,
    0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0x01, 0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x11, 0x00, 0x02, 0x01,
    0x02, 0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01, 0x02, 0x77, 0x00, 0x01, 0x02, 0x03, 0x11, 0x04,
    0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1,
    0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17,
    0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47,
    0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
    0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93,
    0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
    0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5,
    0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6,
    0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0xf9,
    0x83, 0xc2, 0xdf, 0x0b, 0xfe, 0xe7, 0xee, 0x7f, 0x4a, 0xf5, 0xff, 0x00, 0x0b, 0x7c, 0x2f, 0xfb, 0x9f, 0xb9, 0xfd,
    0x2b, 0xd7, 0x3c, 0x2d, 0xf0, 0xbf, 0xee, 0x7e, 0xe7, 0xf4, 0xaf, 0x60, 0xf0, 0xb7, 0xc2, 0xff, 0x00, 0xb9, 0xfb,
    0x9f, 0xd2, 0xba, 0xb3, 0x7e, 0x2d, 0xdf, 0xde, 0x27, 0xc3, 0xbe, 0x39, 0xf8, 0x3d, 0xf3, 0xff, 0xd9};
std::uint8_t gradient_jpeg_pixel(int c, int y, int x) {
  return static_cast<std::uint8_t>(c == 0 ? 8 + 15 * x : c == 1 ? 8 + 15 * y : 128);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CIFAR-10 binary reader

TEST_CASE("CIFAR-10 reader: labels, R/G/B planes in order, class names", "[data]") {
  TempDir dir;
  write_file(dir / "test_batch.bin", cifar_records(3, 0, 7));
  REQUIRE(is_cifar10_dir(dir.path.string()));
  ImageDataset d = load_cifar10(dir.path.string(), CifarSplit::Test);
  REQUIRE(d.size() == 3);
  CHECK(d.channels == 3);
  CHECK(d.height == 32);
  CHECK(d.width == 32);
  CHECK(d.source == dir.path.string());
  CHECK(d.labels == std::vector<std::int32_t>{7, 8, 9});
  for (Index r = 0; r < 3; ++r)
    for (Index c = 0; c < 3; ++c)
      for (Index k : {Index(0), Index(1), Index(33), Index(1023)})
        CHECK(d.image(r)[c * 1024 + k] == cifar_pixel(r, c, k));
  CHECK(d.class_names == std::vector<std::string>{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                  "horse", "ship", "truck"});
  CHECK(class_counts(d) == std::vector<Index>{0, 0, 0, 0, 0, 0, 0, 1, 1, 1});
  CHECK_THROWS_AS(d.image(3), ValueError);

  // batches.meta.txt: one name per line, CR LF and trailing blank lines tolerated.
  write_file(dir / "batches.meta.txt", Bytes{'a', '\r', '\n'});
  std::string meta;
  for (int i = 0; i < 10; ++i) meta += "class " + std::to_string(i) + "\r\n";
  meta += "\n\n";
  write_file(dir / "batches.meta.txt", Bytes(meta.begin(), meta.end()));
  d = load_cifar10(dir.path.string(), CifarSplit::Test);
  REQUIRE(d.class_names.size() == 10);
  CHECK(d.class_names[0] == "class 0");
  CHECK(d.class_names[9] == "class 9");

  // Nine names is a malformed meta file.
  write_file(dir / "batches.meta.txt", Bytes(meta.begin(), meta.begin() + 9 * 9));
  CHECK_THROWS_AS(load_cifar10(dir.path.string(), CifarSplit::Test), FormatError);
  CHECK_THROWS_WITH(load_cifar10(dir.path.string(), CifarSplit::Test),
                    Contains("batches.meta.txt") && Contains("9 class names"));
}

TEST_CASE("CIFAR-10 reader: the five training batches in order, limit", "[data]") {
  TempDir dir;
  for (int f = 1; f <= 5; ++f)
    write_file(dir / ("data_batch_" + std::to_string(f) + ".bin"), cifar_records(2, 2 * (f - 1), 2 * (f - 1)));
  ImageDataset d = load_cifar10(dir.path.string(), CifarSplit::Train);
  REQUIRE(d.size() == 10);
  CHECK(d.labels == std::vector<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(d.image(9)[2 * 1024 + 5] == cifar_pixel(9, 2, 5));
  CHECK(class_counts(d) == std::vector<Index>(10, 1));

  ImageDataset three = load_cifar10(dir.path.string(), CifarSplit::Train, 3);  // stops inside file 2
  REQUIRE(three.size() == 3);
  CHECK(three.pixels.size() == 3 * 3072u);
  CHECK(three.labels == std::vector<std::int32_t>{0, 1, 2});
  CHECK(image_bytes(three, 2) == image_bytes(d, 2));

  CHECK_THROWS_AS(load_cifar10(dir.path.string(), CifarSplit::Train, -1), ValueError);
  CHECK_FALSE(is_cifar10_dir((dir.path / "nowhere").string()));
}

TEST_CASE("CIFAR-10 reader: every malformed input is refused, naming the file and the place", "[data]") {
  TempDir dir;
  const std::string root = dir.path.string();
  const std::string test = dir / "test_batch.bin";

  SECTION("missing file: says where to download") {
    CHECK_THROWS_AS(load_cifar10(root, CifarSplit::Test), IoError);
    CHECK_THROWS_WITH(load_cifar10(root, CifarSplit::Test),
                      Contains(test) && Contains("missing") &&
                          Contains("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz") &&
                          Contains("scripts/download-cifar10"));
    for (int f : {1, 2, 4, 5}) write_file(dir / ("data_batch_" + std::to_string(f) + ".bin"), cifar_records(1));
    CHECK_THROWS_WITH(load_cifar10(root, CifarSplit::Train), Contains(dir / "data_batch_3.bin"));
    // Even with a limit the whole split is checked first.
    CHECK_THROWS_WITH(load_cifar10(root, CifarSplit::Train, 1), Contains("data_batch_3.bin"));
  }
  SECTION("a directory where the file should be") {
    fs::create_directory(test);
    CHECK_THROWS_AS(load_cifar10(root, CifarSplit::Test), IoError);
    CHECK_THROWS_WITH(load_cifar10(root, CifarSplit::Test), Contains(test) && Contains("is a directory"));
  }
  SECTION("a FIFO is refused without opening it (opening would block)") {
    REQUIRE(::mkfifo(test.c_str(), 0644) == 0);
    CHECK_THROWS_WITH(load_cifar10(root, CifarSplit::Test), Contains(test) && Contains("not a regular file"));
  }
  SECTION("unreadable file") {
    write_file(test, cifar_records(1));
    fs::permissions(test, fs::perms::none);
    Unprivileged nobody;
    if (!nobody.ok) {
      WARN("cannot drop root privileges: unreadable-file case not checked");
    } else {
      CHECK_THROWS_AS(load_cifar10(root, CifarSplit::Test), IoError);
      CHECK_THROWS_WITH(load_cifar10(root, CifarSplit::Test), Contains("cannot open '" + test + "'"));
    }
  }
  SECTION("empty file") {
    write_file(test, {});
    CHECK_THROWS_AS(load_cifar10(root, CifarSplit::Test), FormatError);
    CHECK_THROWS_WITH(load_cifar10(root, CifarSplit::Test), Contains(test) && Contains("is empty"));
  }
  SECTION("size not a multiple of 3073: names the size and the incomplete record's offset") {
    Bytes b = cifar_records(2);
    b.resize(b.size() + 100);  // 6246 bytes: record 2 starts at 6146 and has 100 bytes
    write_file(test, b);
    CHECK_THROWS_AS(load_cifar10(root, CifarSplit::Test), FormatError);
    CHECK_THROWS_WITH(load_cifar10(root, CifarSplit::Test), Contains(test) && Contains("6246 bytes") &&
                                                                Contains("record 2 at byte offset 6146") &&
                                                                Contains("100 of 3073"));
  }
  SECTION("a label above 9: file, record, byte offset and value") {
    Bytes b = cifar_records(4);
    b[2 * 3073] = 10;
    b[3 * 3073] = 255;
    write_file(test, b);
    CHECK_THROWS_AS(load_cifar10(root, CifarSplit::Test), FormatError);
    CHECK_THROWS_WITH(load_cifar10(root, CifarSplit::Test),
                      Contains(test) && Contains("record 2 (byte offset 6146) has label 10"));
    CHECK(load_cifar10(root, CifarSplit::Test, 2).size() == 2);  // the limit stops before the bad record
  }
  SECTION("a 10 GB sparse file is refused from its size alone, at once") {
    const int fd = ::open(test.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    const bool sized = ::ftruncate(fd, off_t(10) << 30) == 0;
    ::close(fd);
    REQUIRE(sized);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(load_cifar10(root, CifarSplit::Test), FormatError);
    CHECK_THROWS_WITH(load_cifar10(root, CifarSplit::Test),
                      Contains(test) && Contains("10737418240 bytes") && Contains("not a CIFAR-10 batch"));
    CHECK(seconds_since(t0) < 0.5);
  }
}

// ---------------------------------------------------------------------------------------------
// Class names (class_names.hpp), from batches.meta.txt and from class folders

namespace {

// The ten default names with line `line` (1-based) replaced by `name`, one per line.
std::string meta_with(int line, const std::string& name) {
  const char* const names[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                 "dog",      "frog",       "horse", "ship", "truck"};
  std::string meta;
  for (int i = 1; i <= 10; ++i) meta += (i == line ? name : std::string(names[i - 1])) + "\n";
  return meta;
}

// Writes batches.meta.txt (and a one-record test batch) and loads the test split.
ImageDataset load_with_meta(const TempDir& dir, const std::string& meta) {
  write_file(dir / "test_batch.bin", cifar_records(1));
  write_file(dir / "batches.meta.txt", Bytes(meta.begin(), meta.end()));
  return load_cifar10(dir.path.string(), CifarSplit::Test);
}

}  // namespace

TEST_CASE("CIFAR-10 class names: a huge line, control characters and duplicates are refused, naming the line",
          "[data][errors]") {
  TempDir dir;
  const std::string meta = dir / "batches.meta.txt";
  auto refused = [&](const std::string& text) {
    std::string what;
    try {
      load_with_meta(dir, text);
    } catch (const FormatError& e) {
      what = e.what();
    }
    INFO("message: " << what);
    CHECK_THAT(what, Contains(meta));
    CHECK(what.find('\x1b') == std::string::npos);  // never echoed raw to a terminal
    CHECK(what.find('\0') == std::string::npos);
    CHECK(what.size() < 600);
    return what;
  };

  SECTION("a 10 MB line: refused at its 129th byte, with its line number and offset") {
    // "airplane\nautomobile\n" is 20 bytes: line 3 starts at byte offset 20.
    const std::string huge = meta_with(3, std::string(10 << 20, 'x'));
    CHECK_THAT(refused(huge), Contains("line 3 (byte offset 20)") && Contains("longer than 128 bytes"));
    // Trailing blanks are not part of a name, so they do not count, however many there are.
    CHECK(load_with_meta(dir, meta_with(3, "bird" + std::string(1000, ' ') + "\t\r")).class_names[2] == "bird");
  }
  SECTION("at most 128 bytes") {
    CHECK(load_with_meta(dir, meta_with(10, std::string(128, 't'))).class_names[9] == std::string(128, 't'));
    CHECK_THAT(refused(meta_with(10, std::string(129, 't'))), Contains("line 10 (byte offset "));
  }
  SECTION("a NUL byte") {
    CHECK_THAT(refused(meta_with(3, std::string("bi\0rd", 5))),
               Contains("line 3 (byte offset 20)") && Contains("'bi\\x00rd'") &&
                   Contains("control character 0x00 at byte 2"));
  }
  SECTION("a terminal escape sequence, a tab, a CR inside a name") {
    CHECK_THAT(refused(meta_with(4, "\x1b[31mcat\x1b[0m")),
               Contains("line 4") && Contains("'\\x1B[31mcat\\x1B[0m'") && Contains("control character 0x1B"));
    CHECK_THAT(refused(meta_with(5, "de\ter")), Contains("line 5") && Contains("control character 0x09"));
    CHECK_THAT(refused(meta_with(6, "d\rog")), Contains("line 6") && Contains("control character 0x0D"));
    CHECK_THAT(refused(meta_with(6, "\xC2\x9B" "31mdog")), Contains("line 6") && Contains("control character U+009B"));
  }
  SECTION("the same name twice: both lines named") {
    CHECK_THAT(refused(meta_with(7, "cat")), Contains("line 7 (byte offset 38): class name 'cat' is already the "
                                                      "name of line 4 (byte offset 25)"));
  }
  SECTION("not UTF-8") {
    CHECK_THAT(refused(meta_with(1, "\xFC" "ber")),
               Contains("line 1 (byte offset 0)") && Contains("'\\xFCber'") && Contains("not valid UTF-8 at byte 0"));
  }
  SECTION("a file of blank lines is refused after 64 KiB") {
    CHECK_THAT(refused(std::string(1 << 20, '\n')), Contains("more than 65536 bytes"));
  }
  SECTION("UTF-8 names, spaces and a byte-order mark are fine") {
    const ImageDataset d = load_with_meta(dir, "\xEF\xBB\xBF" + meta_with(2, "chat noir") + "\n\n");
    CHECK(d.class_names[0] == "airplane");
    CHECK(d.class_names[1] == "chat noir");
    CHECK(load_with_meta(dir, meta_with(3, "\xC3\xBC" "ber")).class_names[2] == "\xC3\xBC" "ber");
    CHECK(load_with_meta(dir, meta_with(4, "\xE7\x8C\xAB")).class_names[3] == "\xE7\x8C\xAB");
    CHECK(load_with_meta(dir, meta_with(5, "  red deer")).class_names[4] == "  red deer");
  }
  SECTION("an 11th name names its line") {
    CHECK_THAT(refused(meta_with(0, "") + "\nextra\n"), Contains("more than 10 class names") && Contains("line 12"));
  }
}

TEST_CASE("Class names: the rule shared by batches.meta.txt and class folders", "[data][errors]") {
  const std::vector<std::string> good = {"a", "chat noir", "\xC3\xBC" "ber", "\xE7\x8C\xAB", "\xF0\x9F\x90\x88",
                                         "l'avion", std::string(kMaxClassNameBytes, 'x')};
  for (const std::string& name : good) {
    INFO("name '" << printable_name(name) << "'");
    CHECK(class_name_problem(name) == "");
  }
  CHECK(class_name_problem("") == "is empty");
  CHECK(class_name_problem(std::string(129, 'x')) == "has 129 bytes, more than 128");
  CHECK(class_name_problem(std::string("a\0", 2)) == "has control character 0x00 at byte 1");
  CHECK(class_name_problem("a\x7F") == "has control character 0x7F at byte 1");
  CHECK(class_name_problem("a\xC2\x85") == "has control character U+0085 at byte 1");
  // Overlong '/', overlong, a surrogate, above U+10FFFF, cut sequences, a lone continuation byte, 0xFF.
  const std::vector<std::string> bad = {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                                        "\xC3", "x\xE7\x8C", "\x80", "\xFF"};
  for (const std::string& name : bad) {
    INFO("name '" << printable_name(name) << "'");
    CHECK_THAT(class_name_problem(name), Contains("not valid UTF-8"));
  }

  CHECK_NOTHROW(validate_class_names({"cat", "Cat", "cat "}, {"a", "b", "c"}, "src"));
  CHECK_THROWS_MATCHES(validate_class_names({"cat", "dog", "cat"}, {"line 1", "line 2", "line 3"}, "f.txt"),
                       FormatError,
                       Catch::Matchers::Message("f.txt: line 3: class name 'cat' is already the name of line 1; "
                                                "every class needs its own name"));
  CHECK_THROWS_WITH(validate_class_name("\x1b]0;owned\x07", "where"),
                    Contains("where: class name '\\x1B]0;owned\\x07' has control character 0x1B at byte 0"));
  CHECK_THROWS_AS(validate_class_names({"a"}, {}, "src"), ValueError);
  // Long names are shown cut, with their size.
  CHECK(printable_name(std::string(100, 'y'), 8) == "yyyyyyyy... (100 bytes)");
  CHECK(printable_name("\xC3\xA9\xFF") == "\xC3\xA9\\xFF");
}

TEST_CASE("CIFAR-10 reader: the real files, if present", "[data]") {
  const std::string dir = GLIA_SHARED_DATA "/cifar-10-batches-bin";
  if (!is_cifar10_dir(dir)) {
    WARN("CIFAR-10 not found in " << dir << ": real-data test skipped");
    return;
  }
  for (CifarSplit split : {CifarSplit::Train, CifarSplit::Test}) {
    const std::string file = dir + (split == CifarSplit::Train ? "/data_batch_1.bin" : "/test_batch.bin");
    std::ifstream in(file, std::ios::binary);
    Bytes head(100 * 3073);
    in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
    REQUIRE(in.good());

    const ImageDataset d = load_cifar10(dir, split, 100);
    REQUIRE(d.size() == 100);
    for (Index r = 0; r < 100; ++r)
      REQUIRE(d.labels[static_cast<std::size_t>(r)] == head[static_cast<std::size_t>(r * 3073)]);
    CHECK(image_bytes(d, 99) == Bytes(head.begin() + 99 * 3073 + 1, head.begin() + 100 * 3073));
    CHECK(d.class_names.front() == "airplane");
    CHECK(d.class_names.back() == "truck");
  }
  // The official training order starts frog, truck, truck, deer, automobile.
  const ImageDataset train = load_dataset(GLIA_SHARED_DATA, true, 5);  // finds cifar-10-batches-bin inside
  CHECK(train.labels == std::vector<std::int32_t>{6, 9, 9, 4, 1});
}

// ---------------------------------------------------------------------------------------------
// Image folders

TEST_CASE("image folder: classes and files in byte order, PNG and BMP pixels in CHW", "[data]") {
  TempDir dir;
  const std::string train = dir / "train";
  // Byte order: "Zebra" < "cat" < "élan"; "a.bmp" < "b image ü.png" < "c.PNG".
  const Bytes i0 = rgb_image(4, 6, 1), i1 = rgb_image(4, 6, 2), i2 = rgb_image(4, 6, 3), i3 = rgb_image(4, 6, 4);
  write_png(train + "/cat/c.PNG", 4, 6, 3, i2);
  write_png(train + "/cat/b image \xC3\xBC.png", 4, 6, 3, i1);
  write_bmp(train + "/cat/a.bmp", 4, 6, i0);
  write_png(train + "/\xC3\xA9lan/x.png", 4, 6, 3, i3);
  write_png(train + "/Zebra/z 1.png", 4, 6, 3, i0);
  write_file(train + "/cat/notes.txt", Bytes{'h', 'i'});  // not an image name: ignored
  write_file(train + "/cat/.hidden.png", Bytes{'x'});     // hidden: ignored
  write_file(train + "/README", Bytes{'x'});              // a file beside the class folders: ignored

  const ImageDataset d = load_image_folder(dir.path.string(), "train", 4, 6);
  REQUIRE(d.size() == 5);
  CHECK(d.class_names == std::vector<std::string>{"Zebra", "cat", "\xC3\xA9lan"});
  CHECK(d.labels == std::vector<std::int32_t>{0, 1, 1, 1, 2});
  CHECK(d.channels == 3);
  CHECK(d.height == 4);
  CHECK(d.width == 6);
  CHECK(image_bytes(d, 0) == to_chw(i0, 4, 6));
  CHECK(image_bytes(d, 1) == to_chw(i0, 4, 6));  // the BMP
  CHECK(image_bytes(d, 2) == to_chw(i1, 4, 6));  // the name with a space and a non-ASCII letter
  CHECK(image_bytes(d, 3) == to_chw(i2, 4, 6));
  CHECK(image_bytes(d, 4) == to_chw(i3, 4, 6));
  CHECK(d.image(0)[1] == i0[3]);  // plane R, pixel 1 = the second pixel's red byte

  const ImageDataset two = load_image_folder(dir.path.string(), "train", 4, 6, 2);
  CHECK(two.size() == 2);
  CHECK(two.class_names.size() == 3);
  CHECK(image_bytes(two, 1) == image_bytes(d, 1));

  CHECK(decode_image_file(train + "/cat/b image \xC3\xBC.png", 4, 6) == to_chw(i1, 4, 6));

  // A JPEG decodes (lossily: chroma is subsampled) too.
  write_file(dir / "gradient.jpg", kGradientJpeg);
  const Bytes g = decode_image_file(dir / "gradient.jpg", 16, 16);
  for (int c = 0; c < 3; ++c)
    for (int yy = 0; yy < 16; ++yy)
      for (int xx = 0; xx < 16; ++xx)
        CHECK(std::abs(int(g[static_cast<std::size_t>((c * 16 + yy) * 16 + xx)]) -
                       int(gradient_jpeg_pixel(c, yy, xx))) <= 16);

  // load_dataset recognises an image-folder root (32 x 32 images).
  write_png(dir / "test/a/1.png", 32, 32, 3, rgb_image(32, 32, 9));
  const ImageDataset t = load_dataset(dir.path.string(), false);
  CHECK(t.size() == 1);
  CHECK(t.class_names == std::vector<std::string>{"a"});
}

TEST_CASE("image folder: bad folders and bad files are refused, naming them", "[data]") {
  TempDir dir;
  const std::string root = dir.path.string();
  const std::string cls = dir / "train/cat";

  SECTION("missing root, missing split, no classes, empty class") {
    CHECK_THROWS_AS(load_image_folder(root + "/nope", "train"), IoError);
    CHECK_THROWS_WITH(load_image_folder(root + "/nope", "train"),
                      Contains(root + "/nope") && Contains("does not exist"));
    CHECK_THROWS_WITH(load_image_folder(root, "train"), Contains(root + "/train") && Contains("does not exist"));
    fs::create_directories(root + "/train");
    CHECK_THROWS_AS(load_image_folder(root, "train"), FormatError);
    CHECK_THROWS_WITH(load_image_folder(root, "train"), Contains(root + "/train") && Contains("no class sub-folders"));
    fs::create_directories(cls);
    write_file(cls + "/readme.txt", Bytes{'x'});
    CHECK_THROWS_AS(load_image_folder(root, "train"), FormatError);
    CHECK_THROWS_WITH(load_image_folder(root, "train"), Contains(cls) && Contains("has no .png"));
    CHECK_THROWS_WITH(load_dataset(root + "/nope", true), Contains(root + "/nope") && Contains("does not exist"));
    CHECK_THROWS_WITH(load_dataset(cls, true), Contains(cls) && Contains("neither"));
  }
  SECTION("a file that is not an image") {
    write_file(cls + "/text file.png", Bytes{'h', 'e', 'l', 'l', 'o', '\n'});
    CHECK_THROWS_AS(load_image_folder(root, "train", 4, 4), FormatError);
    CHECK_THROWS_WITH(load_image_folder(root, "train", 4, 4),
                      Contains(cls + "/text file.png") && Contains("not a PNG, JPEG or BMP image"));
  }
  SECTION("a truncated PNG, a truncated JPEG, a truncated BMP") {
    write_png(cls + "/full.png", 8, 8, 3, rgb_image(8, 8, 5));
    Bytes png = read_file(cls + "/full.png");
    write_file(cls + "/cut.png", Bytes(png.begin(), png.end() - 12));  // IEND missing
    CHECK_THROWS_AS(decode_image_file(cls + "/cut.png", 8, 8), FormatError);
    CHECK_THROWS_WITH(decode_image_file(cls + "/cut.png", 8, 8),
                      Contains(cls + "/cut.png") && Contains("truncated PNG"));
    write_file(cls + "/cut.png", Bytes(png.begin(), png.begin() + 40));  // inside IDAT
    CHECK_THROWS_WITH(decode_image_file(cls + "/cut.png", 8, 8),
                      Contains(cls + "/cut.png") && Contains("truncated PNG"));
    // In a folder, the first bad file in order is the one reported.
    CHECK_THROWS_WITH(load_image_folder(root, "train", 8, 8), Contains(cls + "/cut.png"));

    const Bytes& jpg = kGradientJpeg;  // the scan starts at byte 593 of 663
    write_file(cls + "/cut.jpg", Bytes(jpg.begin(), jpg.end() - 10));
    CHECK_THROWS_AS(decode_image_file(cls + "/cut.jpg", 16, 16), FormatError);
    CHECK_THROWS_WITH(decode_image_file(cls + "/cut.jpg", 16, 16),
                      Contains(cls + "/cut.jpg") && Contains("truncated JPEG"));

    write_bmp(cls + "/full.bmp", 8, 8, rgb_image(8, 8, 5));
    const Bytes bmp = read_file(cls + "/full.bmp");
    write_file(cls + "/cut.bmp", Bytes(bmp.begin(), bmp.end() - 30));
    CHECK_THROWS_WITH(decode_image_file(cls + "/cut.bmp", 8, 8),
                      Contains(cls + "/cut.bmp") && Contains("truncated BMP"));
  }
  SECTION("wrong size, wrong channel count, and a 100000 x 100000 header in a tiny file") {
    write_png(cls + "/small.png", 8, 6, 3, rgb_image(8, 6, 0));
    CHECK_THROWS_AS(decode_image_file(cls + "/small.png", 8, 8), FormatError);
    CHECK_THROWS_WITH(decode_image_file(cls + "/small.png", 8, 8), Contains(cls + "/small.png") &&
                                                                       Contains("height 8, width 6 and 3 channels") &&
                                                                       Contains("expected height 8, width 8"));
    Bytes rgba(8 * 8 * 4, 7);
    write_png(cls + "/rgba.png", 8, 8, 4, rgba);
    CHECK_THROWS_WITH(decode_image_file(cls + "/rgba.png", 8, 8),
                      Contains(cls + "/rgba.png") && Contains("4 channels"));
    write_bmp(cls + "/small.bmp", 8, 6, rgb_image(8, 6, 0));
    CHECK_THROWS_WITH(decode_image_file(cls + "/small.bmp", 8, 8), Contains(cls + "/small.bmp") && Contains("width 6"));

    write_png(cls + "/huge.png", 1, 1, 3, Bytes{1, 2, 3});
    Bytes png = read_file(cls + "/huge.png");
    for (int at : {16, 20}) {  // IHDR width, height = 100000 (0x000186A0), big-endian
      png[at] = 0x00;
      png[at + 1] = 0x01;
      png[at + 2] = 0x86;
      png[at + 3] = 0xA0;
    }
    write_file(cls + "/huge.png", png);
    REQUIRE(png.size() < 100);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(decode_image_file(cls + "/huge.png", 32, 32), FormatError);
    CHECK_THROWS_WITH(decode_image_file(cls + "/huge.png", 32, 32),
                      Contains(cls + "/huge.png") && Contains("height 100000, width 100000"));
    CHECK(seconds_since(t0) < 0.5);
    CHECK_THROWS_AS(decode_image_file(cls + "/small.png", 0, 8), ValueError);
  }
}

TEST_CASE("image folder: class folder names with control characters, too long or not UTF-8 are refused",
          "[data][errors]") {
  TempDir dir;
  const std::string train = dir / "train";
  const Bytes pic = rgb_image(4, 4, 1);
  write_png(train + "/cat/1.png", 4, 4, 3, pic);
  auto refused = [&](const std::string& folder) {
    write_png(train + "/" + folder + "/1.png", 4, 4, 3, pic);
    std::string what;
    try {
      load_image_folder(dir.path.string(), "train", 4, 4);
    } catch (const FormatError& e) {
      what = e.what();
    }
    INFO("message: " << what);
    CHECK(what.find('\x1b') == std::string::npos);
    fs::remove_all(train + "/" + folder);
    return what;
  };
  CHECK_THAT(refused("\x1b[31mred"), Contains("class folder '" + train + "/\\x1B[31mred'") &&
                                          Contains("control character 0x1B at byte 0"));
  CHECK_THAT(refused("new\nline"), Contains(train + "/new\\x0Aline") && Contains("control character 0x0A"));
  CHECK_THAT(refused("\xE9lan"), Contains(train + "/\\xE9lan") && Contains("not valid UTF-8 at byte 0"));
  const std::string long_name(200, 'n');  // file systems allow 255 bytes
  CHECK_THAT(refused(long_name),
             Contains("class folder '" + train + "/" + long_name + "'") && Contains("200 bytes, more than 128"));
  // Valid UTF-8 names, with spaces, are classes like any other.
  write_png(train + "/chat noir/1.png", 4, 4, 3, pic);
  write_png(train + "/\xC3\xBC" "ber/1.png", 4, 4, 3, pic);
  write_png(train + "/" + std::string(128, 'k') + "/1.png", 4, 4, 3, pic);
  CHECK(load_image_folder(dir.path.string(), "train", 4, 4).class_names ==
        std::vector<std::string>{"cat", "chat noir", std::string(128, 'k'), "\xC3\xBC" "ber"});
}

namespace {

// A 32 x 32 picture whose rows all differ (G = 8 y + 3), HWC.
Bytes row_picture(int h, int w) {
  Bytes b(static_cast<std::size_t>(h * w * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = &b[static_cast<std::size_t>((y * w + x) * 3)];
      p[0] = static_cast<std::uint8_t>(x * 8);
      p[1] = static_cast<std::uint8_t>(y * 8 + 3);
      p[2] = static_cast<std::uint8_t>((x ^ y) * 5);
    }
  return b;
}

// A 24-bit BMP written by hand (BITMAPINFOHEADER, BI_RGB) of hwc (row 0 = the top row): rows
// stored top row first with a negative height field when top_down, else bottom row first.
// height_field replaces the stored height when not 0.
Bytes make_bmp24(int h, int w, const Bytes& hwc, bool top_down, std::int32_t height_field = 0) {
  const int row = (3 * w + 3) / 4 * 4;
  Bytes b{'B', 'M'};
  auto put = [&](std::uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  put(static_cast<std::uint32_t>(54 + row * h), 4);  // file size
  put(0, 4);
  put(54, 4);  // pixel array offset
  put(40, 4);  // BITMAPINFOHEADER
  put(static_cast<std::uint32_t>(w), 4);
  put(static_cast<std::uint32_t>(height_field ? height_field : top_down ? -h : h), 4);
  put(1, 2);   // planes
  put(24, 2);  // bits per pixel
  put(0, 4);   // BI_RGB
  put(static_cast<std::uint32_t>(row * h), 4);
  put(2835, 4);
  put(2835, 4);
  put(0, 4);
  put(0, 4);
  for (int r = 0; r < h; ++r) {
    const int y = top_down ? r : h - 1 - r;
    for (int x = 0; x < w; ++x)
      for (int c : {2, 1, 0}) b.push_back(hwc[static_cast<std::size_t>((y * w + x) * 3 + c)]);  // B, G, R
    for (int pad = 3 * w; pad < row; ++pad) b.push_back(0);
  }
  return b;
}

}  // namespace

TEST_CASE("image folder: a top-down BMP (negative height) decodes with row 0 on top", "[data]") {
  TempDir dir;
  const std::string cls = dir / "train/rows";
  const Bytes hwc = row_picture(32, 32);
  write_file(cls + "/top-down.bmp", make_bmp24(32, 32, hwc, true));
  write_file(cls + "/bottom-up.bmp", make_bmp24(32, 32, hwc, false));

  const Bytes chw = decode_image_file(cls + "/top-down.bmp", 32, 32);
  CHECK(chw == to_chw(hwc, 32, 32));
  CHECK(chw[1024 + 0] == 3);             // green plane, row 0: the top row
  CHECK(chw[1024 + 31 * 32] == 251);     // green plane, row 31
  CHECK(decode_image_file(cls + "/bottom-up.bmp", 32, 32) == chw);
  // 3 x 5: rows padded to 4 bytes.
  const Bytes odd = row_picture(3, 5);
  write_file(dir / "odd.bmp", make_bmp24(3, 5, odd, true));
  CHECK(decode_image_file(dir / "odd.bmp", 3, 5) == to_chw(odd, 3, 5));

  const ImageDataset d = load_image_folder(dir.path.string(), "train", 32, 32);
  REQUIRE(d.size() == 2);
  CHECK(image_bytes(d, 0) == chw);  // bottom-up.bmp
  CHECK(image_bytes(d, 1) == chw);  // top-down.bmp

  // The size and truncation checks still apply to top-down files.
  const Bytes full = read_file(cls + "/top-down.bmp");
  write_file(dir / "cut.bmp", Bytes(full.begin(), full.end() - 10));
  CHECK_THROWS_WITH(decode_image_file(dir / "cut.bmp", 32, 32),
                    Contains(dir / "cut.bmp") && Contains("truncated BMP") &&
                        Contains("data missing at byte offset 3116"));
  write_file(dir / "short.bmp", make_bmp24(16, 32, row_picture(16, 32), true));
  CHECK_THROWS_WITH(decode_image_file(dir / "short.bmp", 32, 32),
                    Contains(dir / "short.bmp") && Contains("height 16, width 32"));
  // A height field of -2^31: its magnitude does not fit an int; refused by its size.
  write_file(dir / "min.bmp", make_bmp24(32, 32, hwc, true, INT32_MIN));
  CHECK_THROWS_AS(decode_image_file(dir / "min.bmp", 32, 32), FormatError);
}

// ---------------------------------------------------------------------------------------------
// Epoch order and batches

TEST_CASE("loader: seeded Fisher-Yates order, batches keep the last partial one", "[data]") {
  const std::vector<Index> a = shuffled_indices(1000, 42, 3);
  CHECK(a == shuffled_indices(1000, 42, 3));
  CHECK(a != shuffled_indices(1000, 42, 4));
  CHECK(a != shuffled_indices(1000, 43, 3));
  std::vector<Index> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == sequential_indices(1000));
  // Pinned: the order depends only on xoshiro256** and splitmix64, so on no machine or library.
  CHECK(shuffled_indices(10, 1, 0) == std::vector<Index>{6, 3, 4, 2, 9, 0, 8, 7, 5, 1});
  CHECK(shuffled_indices(0, 1, 0).empty());
  CHECK(shuffled_indices(1, 1, 0) == std::vector<Index>{0});
  CHECK_THROWS_AS(shuffled_indices(-1, 1, 0), ValueError);

  CHECK(num_batches(10, 4) == 3);
  CHECK(num_batches(12, 4) == 3);
  CHECK(num_batches(0, 4) == 0);
  CHECK(batch_range(10, 4, 0).begin == 0);
  CHECK(batch_range(10, 4, 1).begin == 4);
  CHECK(batch_range(10, 4, 1).count == 4);
  CHECK(batch_range(10, 4, 2).begin == 8);
  CHECK(batch_range(10, 4, 2).count == 2);  // the partial last batch is kept
  CHECK_THROWS_AS(batch_range(10, 4, 3), ValueError);
  CHECK_THROWS_AS(num_batches(10, 0), ValueError);
}

// ---------------------------------------------------------------------------------------------
// Augmentation

namespace {

// n random C x H x W images, labels 0, 1, 2, ...
ImageDataset random_dataset(Index n, Index c, Index h, Index w, std::uint64_t seed) {
  ImageDataset d;
  d.channels = c;
  d.height = h;
  d.width = w;
  d.source = "synthetic";
  Rng rng(seed);
  for (Index i = 0; i < n * c * h * w; ++i) d.pixels.push_back(static_cast<std::uint8_t>(rng.below(256)));
  for (Index i = 0; i < n; ++i) d.labels.push_back(static_cast<std::int32_t>(i % 10));
  return d;
}

std::vector<float> normalised(const ImageDataset& d, Index i) {
  std::vector<float> out(static_cast<std::size_t>(d.image_bytes()));
  normalize_image(out.data(), d.image(i), d.channels, d.height, d.width);
  return out;
}

std::vector<float> sample(const Tensor<float>& x, Index i) {
  const Index n = x.size() / x.dim(0);
  return std::vector<float>(x.data() + i * n, x.data() + (i + 1) * n);
}

// A [0,1] float copy of image i.
std::vector<float> unit(const ImageDataset& d, Index i) {
  std::vector<float> out;
  for (Index k = 0; k < d.image_bytes(); ++k) out.push_back(static_cast<float>(d.image(i)[k]) / 255.0f);
  return out;
}

}  // namespace

TEST_CASE("augment: all off is exactly the normalised image", "[data]") {
  const ImageDataset d = random_dataset(5, 3, 6, 7, 1);
  const std::vector<Index> idx{4, 0, 2};
  Tensor<float> x, plain;
  std::vector<std::int32_t> y;
  const AugmentConfig off;
  make_batch(x, y, d, idx.data(), 3, &off, 1, 0);
  make_batch(plain, y, d, idx.data(), 3, nullptr, 1, 0);
  CHECK(x.shape() == Shape{3, 3, 6, 7});
  CHECK(y == std::vector<std::int32_t>{4, 0, 2});
  for (Index i = 0; i < 3; ++i) {
    CHECK(sample(x, i) == normalised(d, idx[static_cast<std::size_t>(i)]));
    CHECK(sample(plain, i) == sample(x, i));
  }
  // The formula, on one pixel of channel 1 (green).
  const float v = d.image(4)[42] / 255.0f;
  CHECK(x[42] == Approx((v - 0.4822f) / 0.243f));

  // Resizing reuses the storage: same pointer for a batch of the same or smaller size.
  const float* storage = x.data();
  make_batch(x, y, d, idx.data(), 2, &off, 1, 1);
  CHECK(x.data() == storage);
  CHECK(x.shape() == Shape{2, 3, 6, 7});

  Tensor<double> xd;
  make_batch(xd, y, d, idx.data(), 3, &off, 1, 0);
  CHECK(xd[100] == static_cast<double>(x[100]));
}

TEST_CASE("augment: shift-scale-rotate with exact parameters (OpenCV semantics, reflect-101)", "[data]") {
  const Index C = 2, H = 4, W = 5;
  std::vector<float> src(C * H * W), dst(C * H * W);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i) / 64.0f;
  auto at = [&](const std::vector<float>& im, Index c, Index y, Index x) {
    return im[static_cast<std::size_t>((c * H + y) * W + x)];
  };

  // Identity.
  shift_scale_rotate(src.data(), dst.data(), C, H, W, 0, 1, 0, 0);
  CHECK(dst == src);
  // One pixel right: column 0 takes column 1 (reflect-101 does not repeat the edge pixel).
  shift_scale_rotate(src.data(), dst.data(), C, H, W, 0, 1, 1.0 / W, 0);
  for (Index c = 0; c < C; ++c)
    for (Index y = 0; y < H; ++y) {
      CHECK(at(dst, c, y, 0) == at(src, c, y, 1));
      for (Index x = 1; x < W; ++x) CHECK(at(dst, c, y, x) == at(src, c, y, x - 1));
    }
  // One pixel up: the last row takes row H-2.
  shift_scale_rotate(src.data(), dst.data(), C, H, W, 0, 1, 0, -1.0 / H);
  for (Index c = 0; c < C; ++c)
    for (Index x = 0; x < W; ++x) {
      for (Index y = 0; y + 1 < H; ++y) CHECK(at(dst, c, y, x) == at(src, c, y + 1, x));
      CHECK(at(dst, c, H - 1, x) == at(src, c, H - 2, x));
    }
  // Half a pixel right: the average of neighbours.
  shift_scale_rotate(src.data(), dst.data(), C, H, W, 0, 1, 0.5 / W, 0);
  CHECK(at(dst, 1, 2, 3) == Approx((at(src, 1, 2, 2) + at(src, 1, 2, 3)) / 2));

  // +90 degrees about the centre of a square image turns it counter-clockwise, as cv2 does:
  // destination (y, x) comes from source (row x, column N-1-y).
  const Index N = 4;
  std::vector<float> sq(N * N), rot(N * N);
  for (std::size_t i = 0; i < sq.size(); ++i) sq[i] = static_cast<float>(i);
  shift_scale_rotate(sq.data(), rot.data(), 1, N, N, 90, 1, 0, 0);
  for (Index y = 0; y < N; ++y)
    for (Index x = 0; x < N; ++x)
      CHECK(rot[static_cast<std::size_t>(y * N + x)] ==
            Approx(sq[static_cast<std::size_t>(x * N + (N - 1 - y))]).margin(1e-4));

  // A general case against OpenCV's recipe written out independently: the forward matrix of
  // getRotationMatrix2D plus the shift, inverted the way cv2.invertAffineTransform does, then
  // bilinear sampling with each neighbour reflected.
  {
    const Index h = 7, w = 9;
    std::vector<float> im(h * w), out(h * w);
    for (std::size_t i = 0; i < im.size(); ++i) im[i] = static_cast<float>((i * 37) % 23) / 23.0f;
    const double angle = 30, s = 1.1, dx = 0.1, dy = -0.05, pi = 3.14159265358979323846;
    const double al = s * std::cos(angle * pi / 180), be = s * std::sin(angle * pi / 180);
    const double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    const double m[2][3] = {{al, be, (1 - al) * cx - be * cy + dx * w}, {-be, al, be * cx + (1 - al) * cy + dy * h}};
    const double det = 1 / (m[0][0] * m[1][1] - m[0][1] * m[1][0]);
    const double i00 = m[1][1] * det, i01 = -m[0][1] * det, i10 = -m[1][0] * det, i11 = m[0][0] * det;
    const double i02 = -i00 * m[0][2] - i01 * m[1][2], i12 = -i10 * m[0][2] - i11 * m[1][2];
    shift_scale_rotate(im.data(), out.data(), 1, h, w, angle, s, dx, dy);
    auto px = [&](Index yy, Index xx) {
      return im[static_cast<std::size_t>(detail::reflect101(yy, h) * w + detail::reflect101(xx, w))];
    };
    for (Index yy = 0; yy < h; ++yy)
      for (Index xx = 0; xx < w; ++xx) {
        const double sx = i00 * xx + i01 * yy + i02, sy = i10 * xx + i11 * yy + i12;
        const Index x0 = static_cast<Index>(std::floor(sx)), y0 = static_cast<Index>(std::floor(sy));
        const double fx = sx - x0, fy = sy - y0;
        const double expect = (1 - fy) * ((1 - fx) * px(y0, x0) + fx * px(y0, x0 + 1)) +
                              fy * ((1 - fx) * px(y0 + 1, x0) + fx * px(y0 + 1, x0 + 1));
        CHECK(out[static_cast<std::size_t>(yy * w + xx)] == Approx(expect).margin(1e-5));
      }
  }

  CHECK(detail::reflect101(-1, 5) == 1);
  CHECK(detail::reflect101(5, 5) == 3);
  CHECK(detail::reflect101(-4, 5) == 4);
  CHECK(detail::reflect101(9, 5) == 1);
  CHECK(detail::reflect101(3, 1) == 0);
}

TEST_CASE("augment: brightness/contrast, crop, flip and cutout do what they say", "[data]") {
  const ImageDataset d = random_dataset(1, 3, 5, 6, 2);
  const std::vector<Index> idx(64, 0);
  Tensor<float> x;
  std::vector<std::int32_t> y;

  SECTION("brightness/contrast formula") {
    std::vector<float> v{0.0f, 0.2f, 0.5f, 0.9f};
    brightness_contrast(v.data(), 4, 1.5, -0.1);
    CHECK(v[0] == 0.0f);  // clamped
    CHECK(v[1] == Approx(0.2f));
    CHECK(v[2] == Approx(0.65f));
    CHECK(v[3] == 1.0f);  // clamped

    // In a batch: alpha = 1 + U(-c, c), beta = U(-b, b) from the sample's stream, after the p draw.
    AugmentConfig a;
    a.bc_p = 1;
    a.brightness = 0.3;
    a.contrast = 0.4;
    make_batch(x, y, d, idx.data(), 4, &a, 9, 5);
    for (Index i = 0; i < 4; ++i) {
      Rng r = Rng::stream(9, 5, static_cast<std::uint64_t>(i));
      r.uniform();
      const double alpha = 1 + r.uniform(-0.4, 0.4), beta = r.uniform(-0.3, 0.3);
      std::vector<float> expect = unit(d, 0);
      brightness_contrast(expect.data(), d.image_bytes(), alpha, beta);
      for (Index k = 0; k < d.image_bytes(); ++k) {
        const Index c = k / 30;
        REQUIRE(x[i * d.image_bytes() + k] ==
                (expect[static_cast<std::size_t>(k)] - a.mean[static_cast<std::size_t>(c)]) /
                    a.std[static_cast<std::size_t>(c)]);
      }
    }
    // With zero ranges it is the identity.
    a.brightness = a.contrast = 0;
    make_batch(x, y, d, idx.data(), 2, &a, 9, 5);
    CHECK(sample(x, 1) == normalised(d, 0));
  }
  SECTION("horizontal flip: about half the samples, mirrored exactly") {
    AugmentConfig a;
    a.hflip = true;
    make_batch(x, y, d, idx.data(), 64, &a, 3, 0);
    const std::vector<float> plain = normalised(d, 0);
    std::vector<float> mirrored = plain;
    for (Index row = 0; row < 3 * 5; ++row) std::reverse(mirrored.begin() + row * 6, mirrored.begin() + (row + 1) * 6);
    int flipped = 0;
    for (Index i = 0; i < 64; ++i) {
      const std::vector<float> s = sample(x, i);
      REQUIRE((s == plain || s == mirrored));
      flipped += s == mirrored;
    }
    CHECK(flipped > 16);
    CHECK(flipped < 48);
  }
  SECTION("random crop with zero padding: a shift by at most crop_pad, zeros coming in") {
    AugmentConfig a;
    a.crop_pad = 1;
    make_batch(x, y, d, idx.data(), 32, &a, 4, 0);
    const std::vector<float> u = unit(d, 0);
    std::set<std::pair<int, int>> seen;
    for (Index i = 0; i < 32; ++i) {
      bool matched = false;
      for (int oy = -1; oy <= 1 && !matched; ++oy)
        for (int ox = -1; ox <= 1 && !matched; ++ox) {
          bool all = true;
          for (Index c = 0; c < 3 && all; ++c)
            for (Index yy = 0; yy < 5 && all; ++yy)
              for (Index xx = 0; xx < 6 && all; ++xx) {
                const Index sy = yy + oy, sx = xx + ox;
                const float v = (sy >= 0 && sy < 5 && sx >= 0 && sx < 6)
                                    ? u[static_cast<std::size_t>((c * 5 + sy) * 6 + sx)]
                                    : 0.0f;
                all = x[((i * 3 + c) * 5 + yy) * 6 + xx] ==
                      (v - a.mean[static_cast<std::size_t>(c)]) / a.std[static_cast<std::size_t>(c)];
              }
          if (all) {
            matched = true;
            seen.insert({oy, ox});
          }
        }
      REQUIRE(matched);
    }
    CHECK(seen.size() >= 5);
  }
  SECTION("cutout: a square of zeros (the mean), the rest untouched") {
    AugmentConfig a;
    a.cutout = 2;
    make_batch(x, y, d, idx.data(), 16, &a, 5, 0);
    const std::vector<float> plain = normalised(d, 0);
    for (Index i = 0; i < 16; ++i) {
      const std::vector<float> s = sample(x, i);
      int zeros = 0;
      for (std::size_t k = 0; k < s.size(); ++k) {
        if (s[k] != plain[k]) REQUIRE(s[k] == 0.0f);
        zeros += s[k] == 0.0f && plain[k] != 0.0f;
      }
      CHECK(zeros % 3 == 0);  // the same pixels in every channel
      CHECK(zeros >= 3);
      CHECK(zeros <= 12);
    }
  }
}

TEST_CASE("augment: a seed gives the same batch for 1 and 2 threads; another step, another batch", "[data]") {
  const ImageDataset d = random_dataset(40, 3, 32, 32, 3);
  const std::vector<Index> order = shuffled_indices(d.size(), 7, 0);
  AugmentConfig a = AugmentConfig::reference();
  CHECK(a.ssr_p == 0.5);
  CHECK(a.bc_p == 0.5);
  CHECK(a.crop_pad == 0);
  CHECK_FALSE(a.hflip);
  CHECK(a.cutout == 0);
  a.crop_pad = 2;
  a.hflip = true;
  a.cutout = 8;

  auto run = [&](int threads, std::uint64_t step) {
    set_num_threads(threads);
    Tensor<float> x;
    std::vector<std::int32_t> y;
    make_batch(x, y, d, order.data(), 33, &a, 11, step);
    make_batch(x, y, d, order.data(), 33, &a, 11, step);  // a second call reuses the scratch
    return sample(x.view(Shape{1, x.size()}), 0);
  };
  const std::vector<float> one = run(1, 3), two = run(2, 3), other = run(2, 4);
  set_num_threads(2);
  REQUIRE(one.size() == two.size());
  CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
  CHECK(one != other);

  // Errors are caught before any work.
  Tensor<float> x;
  std::vector<std::int32_t> y;
  const Index bad[] = {0, 40};
  CHECK_THROWS_AS(make_batch(x, y, d, order.data(), 0, &a, 1, 0), ValueError);
  CHECK_THROWS_WITH(make_batch(x, y, d, bad, 2, &a, 1, 0), Contains("sample 1 has index 40"));
  AugmentConfig wrong;
  wrong.ssr_p = 1.5;
  CHECK_THROWS_WITH(make_batch(x, y, d, order.data(), 2, &wrong, 1, 0), Contains("ssr_p"));
  wrong = AugmentConfig();
  wrong.std[1] = 0;
  CHECK_THROWS_AS(make_batch(x, y, d, order.data(), 2, &wrong, 1, 0), ValueError);
}
