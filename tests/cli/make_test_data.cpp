// glia_test_data OUT: small data sets in the formats the glia program reads, made for its tests
// (tests/cli/glia_program.sh), learnable in a few epochs and the same on every machine.
//   OUT/idx/     MNIST IDX files: 10 classes of 12 x 12 gray images (a bright horizontal line at
//                row k + 1 of class k, on noise), 600 training and 200 test images;
//   OUT/idx28/   the same kind of IDX files at MNIST's 28 x 28 (a line at row 2k + 4), 300 + 100;
//   OUT/folder/  an image folder without test/: train/<class>/NNN.png, 3 classes ("left",
//                "middle", "right": a bright vertical band), 20 x 24 grayscale PNGs, 40 per class;
//   OUT/rgb/     an image folder of 3 classes of 16 x 16 RGB PNGs (a red, green or blue square),
//                train/ (20 per class) and test/ (6 per class);
//   OUT/big.png  one 40 x 48 RGB image of the "middle" class, for predict (resized, made gray).
#include <glia/core/atomic_file.hpp>
#include <glia/report/png.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::uint32_t next(std::uint32_t& s) {  // xorshift32: the same noise everywhere
  s ^= s << 13;
  s ^= s >> 17;
  s ^= s << 5;
  return s;
}

void put_be32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// Class k: row k + 1 (12 x 12) or 2k + 4 (28 x 28) bright, the rest noise in [0, 96).
void write_idx(const std::string& dir, const char* images, const char* labels, int count, std::uint32_t seed, int size = 12) {
  std::string img, lab;
  put_be32(img, 0x00000803);
  put_be32(img, static_cast<std::uint32_t>(count));
  put_be32(img, static_cast<std::uint32_t>(size));
  put_be32(img, static_cast<std::uint32_t>(size));
  put_be32(lab, 0x00000801);
  put_be32(lab, static_cast<std::uint32_t>(count));
  for (int i = 0; i < count; ++i) {
    const int k = static_cast<int>(next(seed) % 10);
    lab.push_back(static_cast<char>(k));
    const int line = size == 12 ? k + 1 : 2 * k + 4;
    for (int y = 0; y < size; ++y)
      for (int x = 0; x < size; ++x)
        img.push_back(static_cast<char>(y == line ? 160 + next(seed) % 96 : next(seed) % 96));
  }
  glia::write_file_atomic(dir + "/" + images, img);
  glia::write_file_atomic(dir + "/" + labels, lab);
}

void write_gray_png(const std::string& path, const std::vector<std::uint8_t>& pixels, int height, int width) {
  std::vector<std::uint8_t> out;
  const int ok = glia::detail::stbiw::stbi_write_png_to_func(&glia::detail::report::append_png_bytes, &out, width, height, 1,
                                                            pixels.data(), width);
  if (!ok) throw std::runtime_error("cannot encode " + path);
  glia::write_file_atomic(path, std::string(out.begin(), out.end()));
}

// A vertical band at columns [8k, 8k + 8) of a 20 x 24 image, on noise.
std::vector<std::uint8_t> band_image(int k, int height, int width, std::uint32_t& seed) {
  std::vector<std::uint8_t> p(static_cast<std::size_t>(height * width));
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      p[static_cast<std::size_t>(y * width + x)] =
          static_cast<std::uint8_t>(x * 3 / width == k ? 170 + next(seed) % 80 : next(seed) % 90);
  return p;
}

void write_folder(const std::string& root, std::uint32_t seed) {
  const char* names[] = {"left", "middle", "right"};
  for (int k = 0; k < 3; ++k) {
    const std::string dir = root + "/train/" + names[k];
    std::filesystem::create_directories(dir);
    for (int i = 0; i < 40; ++i) {
      char file[16];
      std::snprintf(file, sizeof file, "/%03d.png", i);
      write_gray_png(dir + file, band_image(k, 20, 24, seed), 20, 24);
    }
  }
}

// A 16 x 16 RGB image: a bright square of colour k (R, G or B) at a random place, on dark noise.
glia::RgbImage colour_square(int k, std::uint32_t& seed) {
  glia::RgbImage im(16, 16);
  const int y0 = static_cast<int>(next(seed) % 8), x0 = static_cast<int>(next(seed) % 8);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x)
      for (int c = 0; c < 3; ++c) {
        const bool on = c == k && y >= y0 && y < y0 + 8 && x >= x0 && x < x0 + 8;
        im.at(y, x)[c] = static_cast<std::uint8_t>(on ? 200 + next(seed) % 56 : next(seed) % 60);
      }
  return im;
}

void write_rgb_folder(const std::string& root, std::uint32_t seed) {
  const char* names[] = {"blue", "green", "red"};  // sorted: the labels are 0, 1, 2 in this order
  const int channel[] = {2, 1, 0};
  for (const char* split : {"train", "test"})
    for (int k = 0; k < 3; ++k) {
      const std::string dir = root + "/" + split + "/" + names[k];
      std::filesystem::create_directories(dir);
      for (int i = 0; i < (split[1] == 'r' ? 20 : 6); ++i) {
        char file[16];
        std::snprintf(file, sizeof file, "/%03d.png", i);
        glia::write_png(dir + file, colour_square(channel[k], seed));
      }
    }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: glia_test_data OUT_DIR\n");
    return 2;
  }
  const std::string out = argv[1];
  std::filesystem::create_directories(out + "/idx");
  write_idx(out + "/idx", "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 600, 12345);
  write_idx(out + "/idx", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 200, 777);
  std::filesystem::create_directories(out + "/idx28");
  write_idx(out + "/idx28", "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 300, 2468, 28);
  write_idx(out + "/idx28", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 100, 1357, 28);
  write_folder(out + "/folder", 4242);
  write_rgb_folder(out + "/rgb", 99);
  std::uint32_t seed = 5;
  glia::RgbImage big(40, 48);
  const std::vector<std::uint8_t> band = band_image(1, 40, 48, seed);
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 48; ++x)
      for (int c = 0; c < 3; ++c) big.at(y, x)[c] = band[static_cast<std::size_t>(y * 48 + x)];
  glia::write_png(out + "/big.png", big);
  std::printf("wrote %s/{idx,idx28,folder,rgb,big.png}\n", out.c_str());
  return 0;
}
