// The MNIST IDX reader (data/idx.hpp): files made here (the test needs no download), every
// refusal of the contract with the file and offset it names, and limits.
#include <catch2/catch.hpp>

#include <glia/data/idx.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "support/run_support.hpp"

using namespace glia;

namespace {

std::string big_endian(std::uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string image_file(std::uint32_t count, std::uint32_t rows, std::uint32_t cols) {
  std::string s = std::string("\0\0\x08\x03", 4) + big_endian(count) + big_endian(rows) + big_endian(cols);
  for (std::uint32_t i = 0; i < count * rows * cols; ++i) s += static_cast<char>(i * 7 % 256);
  return s;
}

std::string label_file(const std::vector<int>& labels) {
  std::string s = std::string("\0\0\x08\x01", 4) + big_endian(static_cast<std::uint32_t>(labels.size()));
  for (int l : labels) s += static_cast<char>(l);
  return s;
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("IDX: MNIST-style files load as 1-channel images with their labels", "[data][idx]") {
  glia_test::TempDir dir;
  write(dir.path + "/train-images-idx3-ubyte", image_file(3, 4, 5));
  write(dir.path + "/train-labels-idx1-ubyte", label_file({7, 0, 3}));
  REQUIRE(is_mnist_dir(dir.path));
  const ImageDataset d = load_mnist(dir.path, MnistSplit::Train);
  CHECK(d.size() == 3);
  CHECK(d.channels == 1);
  CHECK(d.height == 4);
  CHECK(d.width == 5);
  CHECK(d.labels == std::vector<std::int32_t>{7, 0, 3});
  CHECK(d.class_names.size() == 10);
  CHECK(d.class_names[7] == "7");
  CHECK(int(d.image(1)[0]) == (20 * 7) % 256);  // image 1 starts at byte 20 of the data
  CHECK(load_mnist(dir.path, MnistSplit::Train, 2).size() == 2);
  CHECK_THROWS_AS(load_mnist(dir.path, MnistSplit::Train, -1), ValueError);
  CHECK_FALSE(is_mnist_dir(dir.path + "/nowhere"));
}

TEST_CASE("IDX: every malformed file is refused with the file and what is wrong", "[data][idx]") {
  glia_test::TempDir dir;
  const std::string images = dir.path + "/i", labels = dir.path + "/l";
  auto refused = [&](const std::string& image_bytes, const std::string& label_bytes) {
    write(images, image_bytes);
    write(labels, label_bytes);
    try {
      load_idx(images, labels);
    } catch (const FormatError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const std::string good_images = image_file(2, 3, 3), good_labels = label_file({1, 2});
  CHECK(refused(good_images, good_labels) == "accepted");
  CHECK_THAT(refused(std::string("\0\0", 2), good_labels), Catch::Contains("'" + images + "'") && Catch::Contains("shorter than the 4-byte magic"));
  CHECK_THAT(refused(good_labels, good_labels), Catch::Contains("magic number 0 0 8 1") && Catch::Contains("expected 0 0 8 3"));
  CHECK_THAT(refused(good_images, good_images), Catch::Contains("'" + labels + "'") && Catch::Contains("expected 0 0 8 1"));
  CHECK_THAT(refused(good_images.substr(0, 10), good_labels), Catch::Contains("shorter than its 16-byte header"));
  CHECK_THAT(refused(good_images + "x", good_labels), Catch::Contains("needs 16 + 18 bytes, the file has 35"));
  CHECK_THAT(refused(good_images.substr(0, 30), good_labels), Catch::Contains("the file has 30"));
  CHECK_THAT(refused(image_file(2, 0, 3), good_labels), Catch::Contains("dimension 1 (byte offset 8) is 0"));
  std::string huge = std::string("\0\0\x08\x03", 4) + big_endian(0xFFFFFFFFu) + big_endian(0xFFFFFFFFu) + big_endian(0xFFFFFFFFu);
  CHECK_THAT(refused(huge, good_labels), Catch::Contains("more than 2^62 bytes"));
  CHECK_THAT(refused(good_images, label_file({1, 2, 3})), Catch::Contains("holds 2 images but") && Catch::Contains("3 labels"));
  CHECK_THAT(refused(good_images, label_file({1, 255})), Catch::Contains("label 1 (byte offset 9) is 255"));
}

TEST_CASE("IDX: a gzipped file is named, a directory refused", "[data][idx]") {
  glia_test::TempDir dir;
  write(dir.path + "/t10k-images-idx3-ubyte.gz", "gz");
  write(dir.path + "/t10k-labels-idx1-ubyte", label_file({1}));
  CHECK_THROWS_WITH(load_mnist(dir.path, MnistSplit::Test), Catch::Contains("gunzip it first"));
  std::filesystem::create_directory(dir.path + "/t10k-images-idx3-ubyte");
  CHECK_THROWS_WITH(load_mnist(dir.path, MnistSplit::Test), Catch::Contains("a directory"));
  // Labels above 9 widen the class list.
  write(dir.path + "/train-images-idx3-ubyte", image_file(2, 2, 2));
  write(dir.path + "/train-labels-idx1-ubyte", label_file({12, 0}));
  CHECK(load_mnist(dir.path, MnistSplit::Train).class_names.size() == 13);
}
