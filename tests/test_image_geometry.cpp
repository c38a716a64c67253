// Data of any geometry: bilinear resize (against PyTorch golden values and by hand), channel
// rules of image folders (gray, RGBA, gray + alpha, mixed), sizes kept or resized, the seeded
// stratified validation split, MNIST folders through load_dataset, prediction decoding, the
// normalisation measured on the data and its text form, and make_batch on 1-channel images.
// Every image file is written by the test into its own temporary folder.
#include <catch2/catch.hpp>

#include <glia/data/augment.hpp>
#include <glia/data/cifar10.hpp>
#include <glia/data/dataset.hpp>
#include <glia/data/image_folder.hpp>
#include <glia/data/normalization_stats.hpp>
#include <glia/data/resize.hpp>

#include "support/fixture.hpp"
#include "support/temp_dir.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#define STB_IMAGE_WRITE_STATIC  // this file's own copy; test_data.cpp has the program's
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <stdlib.h>

using namespace glia;
using glia::testing::TempDir;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Bytes = std::vector<std::uint8_t>;

namespace {


void write_png(const std::string& path, int h, int w, int comp, const Bytes& hwc) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(hwc.size() == static_cast<std::size_t>(h * w * comp));
  REQUIRE(stbi_write_png(path.c_str(), w, h, comp, hwc.data(), w * comp) != 0);
}
void write_bmp(const std::string& path, int h, int w, const Bytes& hwc) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(stbi_write_bmp(path.c_str(), w, h, 3, hwc.data()) != 0);
}
void write_bytes(const std::string& path, const Bytes& b) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(out.good());
}

// h x w x comp interleaved bytes, byte i = seed + 7 i (mod 256).
Bytes pattern(int h, int w, int comp, int seed) {
  Bytes b(static_cast<std::size_t>(h * w * comp));
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(seed + 7 * i);
  return b;
}

// Interleaved -> CHW with the first `keep` channels of comp.
Bytes planes(const Bytes& hwc, int h, int w, int comp, int keep) {
  Bytes out(static_cast<std::size_t>(h * w * keep));
  for (int c = 0; c < keep; ++c)
    for (int p = 0; p < h * w; ++p)
      out[static_cast<std::size_t>(c * h * w + p)] = hwc[static_cast<std::size_t>(p * comp + c)];
  return out;
}

// A baseline JPEG with one component (gray) of h x w pixels all equal to value: quantisation
// table all 1s, a DC table with 2-bit codes for categories 0 and that of the first block, an AC
// table holding only end-of-block. (stb_image_write always writes 3-component JPEGs.)
Bytes gray_jpeg(int h, int w, int value) {
  const int dc = 8 * (value - 128);  // the DC coefficient of a flat 8x8 block
  int cat = 0;
  while ((1 << cat) <= std::abs(dc)) ++cat;
  Bytes b{0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00};
  b.insert(b.end(), 64, 1);
  const Bytes sof{0xFF, 0xC0, 0x00, 0x0B, 0x08, static_cast<std::uint8_t>(h >> 8), static_cast<std::uint8_t>(h),
                  static_cast<std::uint8_t>(w >> 8), static_cast<std::uint8_t>(w), 0x01, 0x01, 0x11, 0x00};
  b.insert(b.end(), sof.begin(), sof.end());
  Bytes dht{0xFF, 0xC4, 0x00, 0x2A, 0x00, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            static_cast<std::uint8_t>(cat), 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00};
  // DC: "00" = category 0, "01" = category cat; AC: "00" = end of block. Length 2+17+2+17+1 = 39.
  dht[3] = static_cast<std::uint8_t>(dht.size() - 2);
  b.insert(b.end(), dht.begin(), dht.end());
  const Bytes sos{0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00};
  b.insert(b.end(), sos.begin(), sos.end());
  std::vector<int> bits;
  auto put = [&](unsigned v, int n) {
    for (int i = n - 1; i >= 0; --i) bits.push_back((v >> i) & 1);
  };
  const int blocks = ((h + 7) / 8) * ((w + 7) / 8);
  for (int k = 0; k < blocks; ++k) {
    if (k == 0 && cat > 0) {
      put(1, 2);
      put(static_cast<unsigned>(dc < 0 ? dc + (1 << cat) - 1 : dc), cat);
    } else {
      put(0, 2);
    }
    put(0, 2);  // end of block
  }
  while (bits.size() % 8) bits.push_back(1);
  for (std::size_t i = 0; i < bits.size(); i += 8) {
    int byte = 0;
    for (int j = 0; j < 8; ++j) byte = byte << 1 | bits[i + static_cast<std::size_t>(j)];
    b.push_back(static_cast<std::uint8_t>(byte));
    if (byte == 0xFF) b.push_back(0x00);
  }
  b.push_back(0xFF);
  b.push_back(0xD9);
  return b;
}

Bytes image_of(const ImageDataset& d, Index i) { return Bytes(d.image(i), d.image(i) + d.image_bytes()); }

ImageFolderOptions options(Index h, Index w, Index c) {
  ImageFolderOptions o;
  o.height = h;
  o.width = w;
  o.channels = c;
  return o;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Resize and channel conversion

TEST_CASE("resize_bilinear: values by hand (align_corners=False, edge repeated, ties to even)", "[data][geometry]") {
  const float row[2] = {0, 100};
  float up[4];
  resize_bilinear(row, 1, 1, 2, up, 1, 4);  // sources -0.25 -> 0, 0.25, 0.75, 1.25 -> (1, 1)
  CHECK(up[0] == 0.0f);
  CHECK(up[1] == 25.0f);
  CHECK(up[2] == 75.0f);
  CHECK(up[3] == 100.0f);
  const std::uint8_t two[2] = {0, 2};
  std::uint8_t four[4];
  resize_bilinear(two, 1, 1, 2, four, 1, 4);  // 0, 0.5, 1.5, 2: halves go to the even neighbour
  CHECK(Bytes(four, four + 4) == Bytes{0, 0, 2, 2});
  // 2x2 -> 1x1 samples the centre: (0 + 10 + 20 + 30) / 4.
  const float sq[4] = {0, 10, 20, 30};
  float one = -1;
  resize_bilinear(sq, 1, 2, 2, &one, 1, 1);
  CHECK(one == 15.0f);
  // Shrinking 4 -> 2 without antialiasing reads between pixels 0,1 and 2,3.
  const float line[4] = {0, 40, 80, 120};
  float half[2];
  resize_bilinear(line, 1, 1, 4, half, 1, 2);
  CHECK(half[0] == 20.0f);
  CHECK(half[1] == 100.0f);
  CHECK_THROWS_AS(resize_bilinear(line, 1, 1, 4, half, 0, 2), ValueError);
}

TEST_CASE("resize_bilinear: PyTorch's interpolate and torchvision's uint8 rounding (golden)", "[data][geometry]") {
  const auto f = glia::testing::load_fixture(std::string(GLIA_TEST_FIXTURES) + "/resize_bilinear.glfix");
  int cases = 0;
  Index total_near_ties = 0;
  for (int k = 0; f.has("case" + std::to_string(k) + ".input"); ++k, ++cases) {
    const std::string name = "case" + std::to_string(k);
    const Tensor<double>& in = f.raw(name + ".input");
    const Tensor<double>& want = f.raw(name + ".float");
    const Tensor<double>& want8 = f.raw(name + ".uint8");
    const Index C = in.dim(1), H = in.dim(2), W = in.dim(3), OH = want.dim(2), OW = want.dim(3);
    std::vector<float> src(in.begin(), in.end()), out(static_cast<std::size_t>(C * OH * OW));
    Bytes src8(in.begin(), in.end()), out8(out.size());
    resize_bilinear(src.data(), C, H, W, out.data(), OH, OW);
    resize_bilinear(src8.data(), C, H, W, out8.data(), OH, OW);
    double worst = 0;
    Index off = 0, near_ties = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      worst = std::max(worst, std::abs(out[i] - want.data()[i]));
      // PyTorch's vectorised loops add in another order (about 1 float ulp apart): where its
      // own value is within 2^-10 of a half, the rounding may go either way.
      const double w = want.data()[i];
      const bool near_tie = std::abs(w - std::floor(w) - 0.5) < 1.0 / 1024;
      near_ties += near_tie;
      const int diff = std::abs(int(out8[i]) - int(want8.data()[i]));
      off += near_tie ? diff > 1 : diff != 0;
    }
    INFO(name << ": " << C << "x" << H << "x" << W << " -> " << OH << "x" << OW);
    CHECK(worst <= 1e-4);  // float32 rounding of values up to 255 (found: at most 2 ulps)
    CHECK(off == 0);       // uint8: the same bytes as torchvision
    total_near_ties += near_ties;
  }
  CHECK(cases == 8);
  CHECK(total_near_ties < 100);  // the exemption stays rare (78 of 3,295 values as generated)
}

TEST_CASE("channel conversion: PIL's luma, gray replicated, alpha dropped", "[data][geometry]") {
  CHECK(luma(255, 0, 0) == 76);  // PIL: Image.new("RGB", (1, 1), (255, 0, 0)).convert("L") -> 76
  CHECK(luma(0, 255, 0) == 150);
  CHECK(luma(0, 0, 255) == 29);
  CHECK(luma(255, 255, 255) == 255);
  CHECK(luma(10, 20, 30) == 18);  // 0.299*10 + 0.587*20 + 0.114*30 = 18.15
  const Bytes rgba{10, 20, 30, 0, 255, 0, 0, 9};  // two RGBA pixels
  Bytes rgb(6), gray(2);
  interleaved_to_planes(rgba.data(), 4, 1, 2, rgb.data(), 3);
  CHECK(rgb == Bytes{10, 255, 20, 0, 30, 0});
  interleaved_to_planes(rgba.data(), 4, 1, 2, gray.data(), 1);
  CHECK(gray == Bytes{18, 76});
  const Bytes ga{7, 200, 9, 0};  // gray + alpha
  interleaved_to_planes(ga.data(), 2, 1, 2, gray.data(), 1);
  CHECK(gray == Bytes{7, 9});
  interleaved_to_planes(ga.data(), 2, 1, 2, rgb.data(), 3);
  CHECK(rgb == Bytes{7, 9, 7, 9, 7, 9});
  CHECK_THROWS_AS(interleaved_to_planes(ga.data(), 5, 1, 2, rgb.data(), 3), ValueError);
  // A loaded 3-channel set to gray (planes R, G, B of two pixels), then to 2 x 4.
  ImageDataset d;
  d.channels = 3;
  d.height = 1;
  d.width = 2;
  d.pixels = {255, 10, 0, 20, 0, 30};
  d.labels = {0};
  const ImageDataset g = convert_dataset(d, 1, 0, 0);
  CHECK(g.channels == 1);
  CHECK(g.pixels == Bytes{76, 18});
  const ImageDataset g2 = convert_dataset(g, 3, 2, 4);
  CHECK(g2.channels == 3);
  CHECK(g2.height == 2);
  CHECK(g2.width == 4);
  // Columns from sources -0.25 -> 0, 0.25, 0.75, 1.25 -> 1: 76, 61.5 -> 62 (to even), 32.5 -> 32, 18.
  CHECK(Bytes(g2.pixels.begin(), g2.pixels.begin() + 8) == Bytes{76, 62, 32, 18, 76, 62, 32, 18});
  CHECK(Bytes(g2.pixels.begin() + 16, g2.pixels.end()) == Bytes(g2.pixels.begin(), g2.pixels.begin() + 8));
  CHECK_THROWS_AS(convert_dataset(d, 2, 0, 0), ValueError);
  CHECK_THROWS_AS(convert_planes(rgb.data(), 3, 1, 2, gray.data(), 2), ValueError);
}

// ---------------------------------------------------------------------------------------------
// Image folders of any geometry

TEST_CASE("image folder: grayscale files give 1 channel at their own size (20 x 28)", "[data][geometry]") {
  TempDir dir;
  const Bytes g0 = pattern(20, 28, 1, 1), g1 = pattern(20, 28, 1, 2), g2 = pattern(20, 28, 1, 3);
  write_png(dir / "train/a/0.png", 20, 28, 1, g0);
  write_png(dir / "train/b/0.png", 20, 28, 1, g1);
  write_png(dir / "test/a/0.png", 20, 28, 1, g2);
  write_png(dir / "test/b/0.png", 20, 28, 1, g0);
  const TrainTestData data = load_train_test(dir.path.string(), ImageFolderOptions{});
  CHECK_FALSE(data.test_is_validation);
  for (const ImageDataset* d : {&data.train, &data.test}) {
    CHECK(d->channels == 1);
    CHECK(d->height == 20);
    CHECK(d->width == 28);
    CHECK(d->class_names == std::vector<std::string>{"a", "b"});
  }
  CHECK(image_of(data.train, 0) == g0);
  CHECK(image_of(data.train, 1) == g1);
  CHECK(image_of(data.test, 0) == g2);
  CHECK(data.train.labels == std::vector<std::int32_t>{0, 1});
  // load_dataset gives the same parts one at a time.
  CHECK(load_dataset(dir.path.string(), false, ImageFolderOptions{}).pixels == data.test.pixels);
  CHECK(load_image_folder(dir.path.string(), "train", ImageFolderOptions{}).pixels == data.train.pixels);
  // Asked for 3 channels, gray is replicated; for a size, resized.
  const ImageDataset rgb = load_dataset(dir.path.string(), true, options(0, 0, 3));
  REQUIRE(rgb.channels == 3);
  const Bytes i0 = image_of(rgb, 0);
  for (int c = 0; c < 3; ++c) CHECK(Bytes(i0.begin() + c * 560, i0.begin() + (c + 1) * 560) == g0);
  const ImageDataset small = load_dataset(dir.path.string(), true, options(10, 14, 0));
  Bytes want(140);
  resize_bilinear(g0.data(), 1, 20, 28, want.data(), 10, 14);
  CHECK(small.channels == 1);
  CHECK(image_of(small, 0) == want);
}

TEST_CASE("image folder: RGBA drops alpha, gray + alpha drops alpha, mixed gray and colour is RGB",
          "[data][geometry]") {
  TempDir dir;
  const Bytes rgba = pattern(6, 5, 4, 11), ga = pattern(6, 5, 2, 12), gray = pattern(6, 5, 1, 13);
  const Bytes rgb = pattern(6, 5, 3, 14);
  write_png(dir / "only-rgba/train/x/1.png", 6, 5, 4, rgba);
  write_png(dir / "only-ga/train/x/1.png", 6, 5, 2, ga);
  write_png(dir / "mixed/train/x/1.png", 6, 5, 1, gray);
  write_bmp(dir / "mixed/train/x/2.bmp", 6, 5, rgb);
  write_png(dir / "mixed/train/y/3.png", 6, 5, 2, ga);

  const ImageDataset a = load_image_folder(dir / "only-rgba", "train", ImageFolderOptions{});
  CHECK(a.channels == 3);
  CHECK(image_of(a, 0) == planes(rgba, 6, 5, 4, 3));
  const ImageDataset b = load_image_folder(dir / "only-ga", "train", ImageFolderOptions{});
  CHECK(b.channels == 1);
  CHECK(image_of(b, 0) == planes(ga, 6, 5, 2, 1));
  const ImageDataset m = load_image_folder(dir / "mixed", "train", ImageFolderOptions{});
  REQUIRE(m.channels == 3);
  REQUIRE(m.size() == 3);
  const Bytes g3 = planes(gray, 6, 5, 1, 1), ga3 = planes(ga, 6, 5, 2, 1);
  Bytes rep, rep_ga;
  for (int c = 0; c < 3; ++c) {
    rep.insert(rep.end(), g3.begin(), g3.end());
    rep_ga.insert(rep_ga.end(), ga3.begin(), ga3.end());
  }
  CHECK(image_of(m, 0) == rep);
  CHECK(image_of(m, 1) == planes(rgb, 6, 5, 3, 3));
  CHECK(image_of(m, 2) == rep_ga);
  // The rule looks at every file, whatever the limit: the first image alone is gray.
  ImageFolderOptions first;
  first.limit = 1;
  const ImageDataset m0 = load_image_folder(dir / "mixed", "train", first);
  CHECK(m0.size() == 1);
  CHECK(m0.channels == 3);
  // Forced to 1 channel, colour becomes PIL's luma.
  const ImageDataset m1 = load_image_folder(dir / "mixed", "train", options(0, 0, 1));
  REQUIRE(m1.channels == 1);
  CHECK(m1.image(1)[0] == luma(rgb[0], rgb[1], rgb[2]));
  CHECK(m1.image(1)[29] == luma(rgb[87], rgb[88], rgb[89]));
  CHECK(image_of(m1, 0) == g3);
  // The old interface still wants exactly 3-channel files of its size.
  CHECK_THROWS_WITH(load_image_folder(dir / "only-rgba", "train", 6, 5), Contains("4 channels"));
}

TEST_CASE("image folder: mixed sizes are refused without a size and resized with one", "[data][geometry]") {
  TempDir dir;
  const Bytes big = pattern(20, 28, 3, 1), small = pattern(10, 14, 3, 2);
  write_png(dir / "train/a/big.png", 20, 28, 3, big);
  write_png(dir / "train/b/small.png", 10, 14, 3, small);
  write_png(dir / "test/a/t.png", 20, 28, 3, big);
  write_png(dir / "test/b/t.png", 20, 28, 3, big);
  const std::string root = dir.path.string();
  CHECK_THROWS_AS(load_train_test(root, ImageFolderOptions{}), FormatError);
  CHECK_THROWS_WITH(load_train_test(root, ImageFolderOptions{}),
                    Contains(dir / "train/b/small.png") && Contains("10 x 14") && Contains(dir / "train/a/big.png") &&
                        Contains("resize"));
  const TrainTestData r = load_train_test(root, options(20, 28, 0));
  CHECK(r.train.channels == 3);
  CHECK(image_of(r.train, 0) == planes(big, 20, 28, 3, 3));  // the same size: unchanged
  Bytes want(3 * 20 * 28);
  resize_bilinear(planes(small, 10, 14, 3, 3).data(), 3, 10, 14, want.data(), 20, 28);
  CHECK(image_of(r.train, 1) == want);
  // A 1-pixel resize of a constant colour keeps it (weights sum to 1).
  write_png(dir / "flat/train/a/1.png", 3, 3, 3, Bytes(27, 200));
  CHECK(image_of(load_image_folder(dir / "flat", "train", options(1, 1, 0)), 0) == Bytes{200, 200, 200});
  CHECK_THROWS_AS(load_train_test(root, options(20, 0, 0)), ValueError);
  CHECK_THROWS_AS(load_train_test(root, options(20, 28, 2)), ValueError);
}

TEST_CASE("image folder: gray JPEG, a folder with only test/, limit, and train/test class mismatch",
          "[data][geometry]") {
  TempDir dir;
  Bytes flat(12 * 10, 90);
  write_bytes(dir / "eval/test/a/1.jpg", gray_jpeg(12, 10, 90));
  write_png(dir / "eval/test/b/2.png", 12, 10, 1, pattern(12, 10, 1, 4));
  // Only test/: the evaluation part loads alone; a gray JPEG is 1 channel (a flat one exactly).
  const ImageDataset t = load_dataset(dir / "eval", false, ImageFolderOptions{});
  CHECK(t.channels == 1);
  CHECK(t.height == 12);
  CHECK(t.width == 10);
  CHECK(image_of(t, 0) == flat);
  CHECK_THROWS_WITH(load_dataset(dir / "eval", true, ImageFolderOptions{}),
                    Contains(dir / "eval/train") && Contains("does not exist"));
  ImageFolderOptions one;
  one.limit = 1;
  CHECK(load_dataset(dir / "eval", false, one).size() == 1);
  // train/ with other classes than test/ is refused, naming both.
  write_png(dir / "eval/train/a/1.png", 12, 10, 1, pattern(12, 10, 1, 5));
  write_png(dir / "eval/train/c/1.png", 12, 10, 1, pattern(12, 10, 1, 6));
  CHECK_THROWS_AS(load_train_test(dir / "eval", ImageFolderOptions{}), FormatError);
  CHECK_THROWS_WITH(load_train_test(dir / "eval", ImageFolderOptions{}),
                    Contains(dir / "eval/test") && Contains(dir / "eval/train") && Contains("same class folders"));
}

TEST_CASE("image folder without test/: a seeded, stratified val_fraction split", "[data][geometry]") {
  TempDir dir;
  // Class a: 10 images, b: 5, c: 1 (kept whole for training); pixel value = image number.
  int number = 0;
  for (const auto& [cls, count] : std::vector<std::pair<std::string, int>>{{"a", 10}, {"b", 5}, {"c", 1}})
    for (int i = 0; i < count; ++i, ++number)
      write_png(dir / ("train/" + cls + "/" + std::to_string(i) + ".png"), 2, 3, 1,
                Bytes(6, static_cast<std::uint8_t>(number)));
  const std::string root = dir.path.string();
  CHECK_THROWS_AS(load_train_test(root, ImageFolderOptions{}), IoError);
  CHECK_THROWS_WITH(load_train_test(root, ImageFolderOptions{}), Contains("no test/") && Contains("val_fraction"));
  ImageFolderOptions o;
  o.val_fraction = 0.2;
  o.seed = 7;
  const TrainTestData s = load_train_test(root, o);
  CHECK(s.test_is_validation);
  CHECK(s.test.source == dir / "train" + " (validation part)");
  REQUIRE(s.test.size() == 3);  // round(0.2 * 10) = 2 of a, round(0.2 * 5) = 1 of b, none of c
  REQUIRE(s.train.size() == 13);
  CHECK(s.test.labels == std::vector<std::int32_t>{0, 0, 1});
  std::set<int> seen;
  for (const ImageDataset* d : {&s.train, &s.test})
    for (Index i = 0; i < d->size(); ++i) {
      const int v = d->image(i)[0];
      CHECK(seen.insert(v).second);  // disjoint
      CHECK(d->labels[static_cast<std::size_t>(i)] == (v < 10 ? 0 : v < 15 ? 1 : 2));
    }
  CHECK(seen.size() == 16);
  // Deterministic: the same seed, the same split, also through load_dataset one part at a time.
  CHECK(load_train_test(root, o).test.pixels == s.test.pixels);
  CHECK(load_dataset(root, false, o).pixels == s.test.pixels);
  CHECK(load_dataset(root, true, o).pixels == s.train.pixels);
  // The split itself, by its contract: per class, the first v_k of a Fisher-Yates shuffle.
  const std::vector<std::int32_t> labels{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2};
  const SplitIndices idx = stratified_split(labels, 0.2, 7);
  CHECK(idx.val.size() == 3);
  for (std::size_t k = 0; k < idx.val.size(); ++k) CHECK(s.test.image(static_cast<Index>(k))[0] == idx.val[k]);
  bool differs = false;
  for (std::uint64_t seed = 8; seed < 12 && !differs; ++seed) {
    o.seed = seed;
    differs = load_train_test(root, o).test.pixels != s.test.pixels;
  }
  CHECK(differs);
  CHECK_THROWS_AS(stratified_split({0, 1}, 0.3, 1), FormatError);  // every class keeps its only image
  CHECK_THROWS_AS(stratified_split({0, 0}, 1.0, 1), ValueError);
}

TEST_CASE("load_dataset: an MNIST IDX folder, converted to the options' geometry", "[data][geometry]") {
  TempDir dir;
  auto idx = [](std::vector<std::uint32_t> dims, std::uint8_t type_dims, const Bytes& data) {
    Bytes b{0, 0, 8, type_dims};
    for (std::uint32_t d : dims)
      for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(d >> s));
    b.insert(b.end(), data.begin(), data.end());
    return b;
  };
  const Bytes train_px = pattern(4 * 3, 5, 1, 3), test_px = pattern(2 * 3, 5, 1, 9);
  write_bytes(dir / "train-images-idx3-ubyte", idx({4, 3, 5}, 3, train_px));
  write_bytes(dir / "train-labels-idx1-ubyte", idx({4}, 1, Bytes{0, 1, 0, 1}));
  write_bytes(dir / "t10k-images-idx3-ubyte", idx({2, 3, 5}, 3, test_px));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx({2}, 1, Bytes{1, 0}));
  const std::string root = dir.path.string();
  const TrainTestData d = load_train_test(root, ImageFolderOptions{});
  CHECK(d.train.channels == 1);
  CHECK(d.train.height == 3);
  CHECK(d.train.width == 5);
  CHECK(d.train.pixels == train_px);
  CHECK(d.test.pixels == test_px);
  CHECK(d.test.labels == std::vector<std::int32_t>{1, 0});
  const ImageDataset big = load_dataset(root, true, options(6, 10, 3));
  CHECK(big.channels == 3);
  CHECK(big.height == 6);
  Bytes want(60);
  resize_bilinear(train_px.data(), 1, 3, 5, want.data(), 6, 10);
  CHECK(Bytes(big.image(0), big.image(0) + 60) == want);
  CHECK(Bytes(big.image(0) + 120, big.image(0) + 180) == want);  // gray replicated into B
  ImageFolderOptions o;
  o.val_fraction = 0.5;
  o.limit = 1;
  const TrainTestData v = load_train_test(root, o);
  CHECK(v.test_is_validation);
  CHECK(v.train.size() == 1);
  CHECK(v.test.size() == 1);
  CHECK_THROWS_WITH(load_train_test(dir / "nothing", ImageFolderOptions{}), Contains("does not exist"));
  fs::create_directories(dir / "empty");
  CHECK_THROWS_WITH(load_train_test(dir / "empty", ImageFolderOptions{}), Contains("MNIST IDX folder"));
}

TEST_CASE("decode_image: any file to the model's channels and size (prediction)", "[data][geometry]") {
  TempDir dir;
  const Bytes red(20 * 28 * 3, 0);
  Bytes r = red;
  for (std::size_t p = 0; p < r.size(); p += 3) r[p] = 255;
  write_png(dir / "red.png", 20, 28, 3, r);
  const DecodedImage own = decode_image(dir / "red.png");
  CHECK(own.channels == 3);
  CHECK(own.height == 20);
  CHECK(own.width == 28);
  const Bytes gray = decode_image_file(dir / "red.png", options(28, 28, 1));
  CHECK(gray == Bytes(28 * 28, 76));  // PIL's luma of pure red, the same after resizing
  const Bytes p = pattern(7, 9, 4, 5);
  write_png(dir / "rgba.png", 7, 9, 4, p);
  const DecodedImage d = decode_image(dir / "rgba.png", options(4, 4, 3));
  Bytes want(48);
  resize_bilinear(planes(p, 7, 9, 4, 3).data(), 3, 7, 9, want.data(), 4, 4);
  CHECK(d.pixels == want);
  // A header declaring 100000 x 100000 pixels is refused before decoding.
  write_png(dir / "huge.png", 1, 1, 1, Bytes{1});
  std::ifstream in(dir / "huge.png", std::ios::binary);
  Bytes png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (int at : {16, 20}) {
    png[static_cast<std::size_t>(at)] = 0x00;
    png[static_cast<std::size_t>(at) + 1] = 0x01;
    png[static_cast<std::size_t>(at) + 2] = 0x86;
    png[static_cast<std::size_t>(at) + 3] = 0xA0;
  }
  write_bytes(dir / "huge.png", png);
  CHECK_THROWS_WITH(decode_image(dir / "huge.png"), Contains(dir / "huge.png") && Contains("height 100000"));
}

// ---------------------------------------------------------------------------------------------
// Normalisation from the data

TEST_CASE("compute_normalization: per-channel mean and std of pixel / 255 on known values", "[data][geometry]") {
  ImageDataset d;
  d.channels = 1;
  d.height = 2;
  d.width = 2;
  d.source = "known";
  d.pixels = {0, 255, 0, 255, 51, 51, 51, 51};  // 0, 1, 0, 1, 0.2, 0.2, 0.2, 0.2
  d.labels = {0, 0};
  const Normalization n = compute_normalization(d);
  CHECK(n.channels == 1);
  CHECK(n.mean[0] == static_cast<float>(0.35));  // 2.8 / 8
  CHECK(n.std[0] == static_cast<float>(std::sqrt(0.1475)));  // 0.27 - 0.35^2
  CHECK(n.mean[2] == n.mean[0]);

  // Three channels: R constant 255 (std 0 -> 1), G 0/255 alternating, B 0..3.
  ImageDataset c;
  c.channels = 3;
  c.height = 1;
  c.width = 4;
  c.pixels = {255, 255, 255, 255, 0, 255, 0, 255, 0, 1, 2, 3};
  c.labels = {0};
  const Normalization m = compute_normalization(c);
  CHECK(m.mean[0] == 1.0f);
  CHECK(m.std[0] == 1.0f);
  CHECK(m.mean[1] == 0.5f);
  CHECK(m.std[1] == 0.5f);
  CHECK(m.mean[2] == static_cast<float>(1.5 / 255));
  CHECK(m.std[2] == static_cast<float>(std::sqrt(1.25) / 255));

  // Bitwise the same for any thread count, on a data set of many chunks.
  ImageDataset big;
  big.channels = 3;
  big.height = 9;
  big.width = 7;
  big.pixels = pattern(1000, 9 * 7, 3, 17);
  big.labels.assign(1000, 0);
  set_num_threads(1);
  const Normalization one = compute_normalization(big);
  set_num_threads(2);
  const Normalization two = compute_normalization(big);
  for (int k = 0; k < 3; ++k) {
    CHECK(one.mean[k] == two.mean[k]);
    CHECK(one.std[k] == two.std[k]);
  }
  ImageDataset empty;
  CHECK_THROWS_AS(compute_normalization(empty), ValueError);
}

TEST_CASE("compute_normalization: the CIFAR-10 training set, against a plain two-pass sum", "[data][geometry]") {
#ifdef GLIA_SHARED_DATA
  const std::string dir = std::string(GLIA_SHARED_DATA) + "/cifar-10-batches-bin";
  if (!is_cifar10_dir(dir)) {
    WARN("CIFAR-10 not found in " << dir << ": skipped");
    return;
  }
  const ImageDataset d = load_cifar10(dir, CifarSplit::Train);
  const Normalization n = compute_normalization(d);
  CHECK(n.channels == 3);
  const Index plane = 1024;
  for (Index c = 0; c < 3; ++c) {
    long double sum = 0, squares = 0;
    for (Index i = 0; i < d.size(); ++i)
      for (Index k = 0; k < plane; ++k) sum += d.image(i)[c * plane + k] / 255.0L;
    const long double mean = sum / (d.size() * plane);
    for (Index i = 0; i < d.size(); ++i)
      for (Index k = 0; k < plane; ++k) {
        const long double e = d.image(i)[c * plane + k] / 255.0L - mean;
        squares += e * e;
      }
    CHECK(std::abs(n.mean[c] - static_cast<double>(mean)) < 1e-7);
    CHECK(std::abs(n.std[c] - static_cast<double>(std::sqrt(squares / (d.size() * plane)))) < 1e-7);
  }
  // numpy on the shared (JPEG-rebuilt) copy, x = pixels / 255: x.mean(axis=(0, 2)).
  CHECK(std::abs(n.mean[0] - 0.49154177) < 1e-7);
#else
  WARN("GLIA_SHARED_DATA not defined: skipped");
#endif
}

TEST_CASE("Normalization: text form for a model file, read back exactly, bad text refused", "[data][geometry]") {
  Normalization n;
  n.channels = 1;
  n.mean = {0.1307f, 0.1307f, 0.1307f};
  n.std = {0.3081f, 0.3081f, 0.3081f};
  CHECK(normalization_to_json(n) == "{\"mean\":[0.1307],\"std\":[0.3081]}");
  const Normalization back = parse_normalization_json(normalization_to_json(n), "m.safetensors: 'normalization'");
  CHECK(back.channels == 1);
  CHECK(back.mean == n.mean);
  CHECK(back.std == n.std);
  Normalization cifar;  // channels 0: written with three entries
  const Normalization c3 = parse_normalization_json(normalization_to_json(cifar), "x");
  CHECK(c3.channels == 3);
  CHECK(c3.mean == kCifar10Mean);
  CHECK(c3.std == kCifar10Std);
  const Normalization spaced =
      parse_normalization_json(" { \"std\" : [ 0.5 , 0.25, 2e-1 ] ,\n\"mean\":[0,1,0.5] } ", "x");
  CHECK(spaced.channels == 3);
  CHECK(spaced.std[2] == 0.2f);
  CHECK(spaced.mean[1] == 1.0f);
  const std::string where = "model.safetensors: metadata 'normalization'";
  for (const std::string bad : {"", "{}", "{\"mean\":[0.1]}", "{\"mean\":[0.1],\"std\":[0.2,0.3]}",
                                "{\"mean\":[0.1],\"sd\":[0.2]}", "{\"mean\":[0.1],\"mean\":[0.2]}",
                                "{\"mean\":[nan],\"std\":[0.2]}", "{\"mean\":[0.1],\"std\":[0]}",
                                "{\"mean\":[0.1],\"std\":[0.2]} x", "{\"mean\":[],\"std\":[]}",
                                "{\"mean\":[1,2,3,4],\"std\":[1,2,3,4]}", "{\"mean\":[\"0.1\"],\"std\":[0.2]}"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_normalization_json(bad, where), FormatError);
    CHECK_THROWS_WITH(parse_normalization_json(bad, where), Contains(where));
  }
  CHECK_THROWS_WITH(parse_normalization_json("{\"mean\":[0.1],\"sd\":[0.2]}", where), Contains("'sd' unknown"));
}

// ---------------------------------------------------------------------------------------------
// Batches of any geometry

TEST_CASE("make_batch: 1-channel images of any size, augmented, thread-invariant", "[data][geometry]") {
  ImageDataset d;
  d.channels = 1;
  d.height = 5;
  d.width = 7;
  d.source = "gray";
  for (int i = 0; i < 6; ++i) {
    const Bytes img = pattern(5, 7, 1, 40 * i);
    d.pixels.insert(d.pixels.end(), img.begin(), img.end());
    d.labels.push_back(i % 2);
  }
  Normalization n;
  n.channels = 1;
  n.mean = {0.25f, 0.25f, 0.25f};
  n.std = {0.5f, 0.5f, 0.5f};
  const std::vector<Index> idx{5, 0, 3, 1};
  Tensor<float> x;
  std::vector<std::int32_t> y;
  const AugmentConfig plain = AugmentConfig::normalize_only(n);
  make_batch(x, y, d, idx.data(), 4, &plain, 1, 0);
  REQUIRE(x.shape() == Shape{4, 1, 5, 7});
  CHECK(y == std::vector<std::int32_t>{1, 0, 1, 1});
  for (Index k = 0; k < 35; ++k) CHECK(x.data()[k] == (d.image(5)[k] / 255.0f - 0.25f) / 0.5f);
  std::vector<float> single(35);
  normalize_image(single.data(), d.image(0), 1, 5, 7, n);
  for (Index k = 0; k < 35; ++k) CHECK(x.data()[35 + k] == single[static_cast<std::size_t>(k)]);

  // Only a flip: each sample is its image or its mirror image, row by row.
  AugmentConfig flip = plain;
  flip.hflip = true;
  make_batch(x, y, d, idx.data(), 4, &flip, 3, 0);
  for (Index i = 0; i < 4; ++i) {
    const float* s = x.data() + i * 35;
    normalize_image(single.data(), d.image(idx[static_cast<std::size_t>(i)]), 1, 5, 7, n);
    bool same = true, mirrored = true;
    for (Index r = 0; r < 5; ++r)
      for (Index c = 0; c < 7; ++c) {
        same = same && s[r * 7 + c] == single[static_cast<std::size_t>(r * 7 + c)];
        mirrored = mirrored && s[r * 7 + c] == single[static_cast<std::size_t>(r * 7 + 6 - c)];
      }
    CHECK((same || mirrored));
  }

  // Everything on: the same batch for 1 and 2 threads; the cutout leaves zeros.
  AugmentConfig all = AugmentConfig::reference();
  all.mean = n.mean;
  all.std = n.std;
  all.channels = 1;
  all.crop_pad = 2;
  all.hflip = true;
  all.cutout = 3;
  set_num_threads(1);
  make_batch(x, y, d, idx.data(), 4, &all, 9, 4);
  const std::vector<float> a(x.begin(), x.end());
  set_num_threads(2);
  make_batch(x, y, d, idx.data(), 4, &all, 9, 4);
  CHECK(std::vector<float>(x.begin(), x.end()) == a);
  for (float v : a) CHECK(std::isfinite(v));

  // A normalisation measured on 3 channels does not fit 1-channel images.
  AugmentConfig rgb = plain;
  rgb.channels = 3;
  CHECK_THROWS_AS(make_batch(x, y, d, idx.data(), 4, &rgb, 1, 0), ValueError);
  Normalization n3 = n;
  n3.channels = 3;
  CHECK_THROWS_WITH(normalize_image(single.data(), d.image(0), 1, 5, 7, n3), Contains("3 channels"));
}
