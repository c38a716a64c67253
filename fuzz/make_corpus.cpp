// glia_make_corpus OUT: writes the fuzzers' seed corpora, valid inputs made by code:
//   OUT/cifar10/     CIFAR-10 batches of a few records, with and without batches.meta.txt (LF,
//                    CRLF, UTF-8 names after a byte-order mark), in fuzz_cifar10's input layout
//                    (a flags byte, the optional meta file, the batch)
//   OUT/idx/         MNIST IDX image and label files in fuzz_idx's layout (the image file's
//                    length, the image file, the label file): 2 images of 3 x 3, one of 28 x 28,
//                    labels above 9
//   OUT/safetensors/ safetensors files from serialize_safetensors (F32 and I64 tensors, metadata)
//                    and hand-made ones with F16, BF16 and F64 tensors
//   OUT/image/       32 x 32 RGB images in fuzz_image's layout (a byte picking the extension,
//                    then the file): PNGs from stb_image_write and hand-made ones (every filter
//                    type, Adam7 interlacing, 16-bit samples, 8/4/1-bit palettes), JPEGs from
//                    stb_image_write (4:2:0 and 4:4:4), BMPs (24-bit from stb_image_write,
//                    8- and 4-bit palettes, 16- and 32-bit BI_BITFIELDS, and top-down 24-bit,
//                    8-bit palette and 32-bit BI_BITFIELDS); each is checked to decode (32 x 32)
//   OUT/checkpoint/  checkpoints from serialize_checkpoint: the small model of fuzz_checkpoint
//                    with put_module, the same with float64/uint64 tensors and metadata, an
//                    empty one
//   OUT/report/      run folders in fuzz_report's layout (metrics.json, a NUL, log.csv) from
//                    metrics_json and log_csv_line: a finished 3-epoch run with and without its
//                    log, a record without "epochs" beside its log, a log alone (CRLF, torn
//                    last line), nulls (NaN losses) with an unnamed class and test-time
//                    augmentation, and extreme and impossible numbers (1e62, 1e300, -1e308,
//                    5e-324, accuracy 250 %, epoch -3, negative counts)
// Not instrumented (stb_image_write's JPEG encoder shifts negative ints, which the sanitizers
// would stop on). The corpora go into the build folder; nothing here is committed.
#include "checkpoint_model.hpp"
#include "report_check.hpp"
#include <glia/data/image_folder.hpp>
#include <glia/model_io/safetensors.hpp>
#include <glia/report/metrics_json.hpp>
#include <glia/train/checkpoint.hpp>
#include <glia/train/epoch_log.hpp>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

namespace {

int g_files = 0;

void write(const fs::path& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!out) {
    std::cerr << "glia_make_corpus: cannot write " << path << "\n";
    std::exit(1);
  }
  ++g_files;
}

void put16le(Bytes& b, std::uint32_t v) {
  b.push_back(static_cast<std::uint8_t>(v));
  b.push_back(static_cast<std::uint8_t>(v >> 8));
}
void put32le(Bytes& b, std::uint32_t v) {
  put16le(b, v & 0xFFFF);
  put16le(b, v >> 16);
}
void put32be(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

// --- CIFAR-10 ----------------------------------------------------------------------------------

Bytes cifar_records(int count, int label0) {
  Bytes b;
  for (int r = 0; r < count; ++r) {
    b.push_back(static_cast<std::uint8_t>((label0 + r) % 10));
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 1024; ++k) b.push_back(static_cast<std::uint8_t>(r * 31 + c * 85 + k * 7));
  }
  return b;
}

// fuzz_cifar10's layout: flags, [meta length + meta], batch.
Bytes cifar_input(std::uint8_t flags, const std::string& meta, const Bytes& batch) {
  Bytes b{flags};
  if (flags & 4) {
    put16le(b, static_cast<std::uint32_t>(meta.size()));
    b.insert(b.end(), meta.begin(), meta.end());
  }
  b.insert(b.end(), batch.begin(), batch.end());
  return b;
}

// fuzz_idx's layout: the image file's length (16-bit little-endian), the image file, the labels.
Bytes idx_input(std::uint32_t count, std::uint32_t rows, std::uint32_t cols, const Bytes& labels) {
  Bytes image{0, 0, 8, 3};
  put32be(image, count);
  put32be(image, rows);
  put32be(image, cols);
  for (std::uint32_t i = 0; i < count * rows * cols; ++i) image.push_back(static_cast<std::uint8_t>(i * 7));
  Bytes b;
  put16le(b, static_cast<std::uint32_t>(image.size()));
  b.insert(b.end(), image.begin(), image.end());
  const Bytes header{0, 0, 8, 1};
  b.insert(b.end(), header.begin(), header.end());
  put32be(b, static_cast<std::uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

void idx_corpus(const fs::path& dir) {
  write(dir / "two-3x3", idx_input(2, 3, 3, {1, 2}));
  write(dir / "one-28x28", idx_input(1, 28, 28, {9}));
  write(dir / "labels-above-9", idx_input(3, 2, 2, {12, 0, 4}));
}

void safetensors_corpus(const fs::path& dir) {
  const std::string a = glia::serialize_safetensors(
      {{"conv.weight", {2, 1, 1, 1}, {1.0f, -2.0f}, {}, false}, {"bn.num_batches_tracked", {}, {}, {3}, true}},
      {{"spec", "{\"input\": [1, 2, 2]}"}});
  write(dir / "f32-i64-metadata", Bytes(a.begin(), a.end()));
  const std::string header =
      R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},)"
      R"("d":{"dtype":"F64","shape":[1],"data_offsets":[6,14]}})";
  Bytes b;
  put32le(b, static_cast<std::uint32_t>(header.size()));
  put32le(b, 0);
  b.insert(b.end(), header.begin(), header.end());
  const Bytes data{0x00, 0x3C, 0x00, 0xC1, 0x80, 0x3F, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F};
  b.insert(b.end(), data.begin(), data.end());
  write(dir / "f16-bf16-f64", b);
}

void cifar_corpus(const fs::path& dir) {
  const std::string names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
  const std::string names_crlf = "a\r\nb \r\n\r\nc\r\nd\r\ne\r\nf\r\ng\r\nh\r\ni\r\nj";
  write(dir / "plain-3-records", cifar_input(0, "", cifar_records(3, 0)));
  write(dir / "meta-2-records", cifar_input(4, names, cifar_records(2, 5)));
  write(dir / "meta-crlf-limit-2", cifar_input(4 | 2, names_crlf, cifar_records(3, 8)));
  write(dir / "limit-1", cifar_input(1, "", cifar_records(2, 9)));
  // A UTF-8 byte-order mark, then UTF-8 names (the class-name checks: class_names.hpp).
  const std::string names_utf8 =
      "\xEF\xBB\xBF" "chat noir\n\xC3\xBC" "ber\n\xE7\x8C\xAB\nd\ne\nf\ng\nh\ni\n" + std::string(128, 'j') + "\n";
  write(dir / "meta-utf8-bom", cifar_input(4, names_utf8, cifar_records(1, 0)));
}

// --- Images ------------------------------------------------------------------------------------

constexpr int kSize = 32;

// A 32 x 32 RGB picture with edges and gradients (HWC).
Bytes picture() {
  Bytes b(kSize * kSize * 3);
  for (int y = 0; y < kSize; ++y)
    for (int x = 0; x < kSize; ++x) {
      std::uint8_t* p = &b[static_cast<std::size_t>((y * kSize + x) * 3)];
      p[0] = static_cast<std::uint8_t>(x * 8);
      p[1] = static_cast<std::uint8_t>(y * 8);
      p[2] = static_cast<std::uint8_t>(((x / 8 + y / 8) % 2) ? 230 : 20);
    }
  return b;
}

void to_vector(void* ctx, void* data, int size) {
  auto* b = static_cast<Bytes*>(ctx);
  b->insert(b->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
}

// fuzz_image's layout: the extension byte (0 .png, 1 .jpg, 2 .bmp), then the file.
Bytes image_input(int ext, const Bytes& file) {
  Bytes b{static_cast<std::uint8_t>(ext)};
  b.insert(b.end(), file.begin(), file.end());
  return b;
}

std::uint32_t crc32(const std::uint8_t* p, std::size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return c ^ 0xFFFFFFFFu;
}

void png_chunk(Bytes& png, const char* type, const Bytes& data) {
  put32be(png, static_cast<std::uint32_t>(data.size()));
  const std::size_t start = png.size();
  png.insert(png.end(), type, type + 4);
  png.insert(png.end(), data.begin(), data.end());
  put32be(png, crc32(&png[start], png.size() - start));
}

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return (pa <= pb && pa <= pc) ? a : pb <= pc ? b : c;
}

// A PNG of `samples` (row-major, channels samples per pixel, each < 2^depth), colour type
// `type` (2 RGB, 3 palette), bit depth `depth`, Adam7 when interlaced. Rows use the five
// filter types in turn.
Bytes make_png(int type, int depth, bool interlaced, int channels, const std::vector<int>& samples,
               const Bytes& palette = {}) {
  struct Pass {
    int x0, y0, dx, dy;
  };
  const std::vector<Pass> passes = interlaced ? std::vector<Pass>{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                                                  {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
                                              : std::vector<Pass>{{0, 0, 1, 1}};
  const int bits = channels * depth;
  const int bpp = std::max(1, bits / 8);
  Bytes raw;  // filtered scanlines of every pass
  int row_counter = 0;
  for (const Pass& p : passes) {
    const int w = (kSize - p.x0 + p.dx - 1) / p.dx, h = (kSize - p.y0 + p.dy - 1) / p.dy;
    if (w == 0 || h == 0) continue;
    const int row_bytes = (w * bits + 7) / 8;
    Bytes prev(static_cast<std::size_t>(row_bytes), 0);
    for (int j = 0; j < h; ++j) {
      Bytes row(static_cast<std::size_t>(row_bytes), 0);
      int bit = 0;
      for (int i = 0; i < w; ++i) {
        const int x = p.x0 + i * p.dx, y = p.y0 + j * p.dy;
        for (int c = 0; c < channels; ++c) {
          const int v = samples[static_cast<std::size_t>((y * kSize + x) * channels + c)];
          if (depth == 16) {
            row[static_cast<std::size_t>(bit / 8)] = static_cast<std::uint8_t>(v >> 8);
            row[static_cast<std::size_t>(bit / 8 + 1)] = static_cast<std::uint8_t>(v);
          } else if (depth == 8) {
            row[static_cast<std::size_t>(bit / 8)] = static_cast<std::uint8_t>(v);
          } else {
            row[static_cast<std::size_t>(bit / 8)] |= static_cast<std::uint8_t>(v << (8 - depth - bit % 8));
          }
          bit += depth;
        }
      }
      const int filter = row_counter++ % 5;
      raw.push_back(static_cast<std::uint8_t>(filter));
      for (int i = 0; i < row_bytes; ++i) {
        const int x = row[static_cast<std::size_t>(i)];
        const int a = i >= bpp ? row[static_cast<std::size_t>(i - bpp)] : 0;
        const int b = prev[static_cast<std::size_t>(i)];
        const int c = i >= bpp ? prev[static_cast<std::size_t>(i - bpp)] : 0;
        const int pred = filter == 0 ? 0 : filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2 : paeth(a, b, c);
        raw.push_back(static_cast<std::uint8_t>(x - pred));
      }
      prev = row;
    }
  }
  int zlen = 0;
  unsigned char* z = stbi_zlib_compress(raw.data(), static_cast<int>(raw.size()), &zlen, 8);
  const Bytes idat(z, z + zlen);
  std::free(z);

  Bytes png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes ihdr;
  put32be(ihdr, kSize);
  put32be(ihdr, kSize);
  ihdr.push_back(static_cast<std::uint8_t>(depth));
  ihdr.push_back(static_cast<std::uint8_t>(type));
  ihdr.push_back(0);  // deflate
  ihdr.push_back(0);  // adaptive filtering
  ihdr.push_back(interlaced ? 1 : 0);
  png_chunk(png, "IHDR", ihdr);
  if (!palette.empty()) png_chunk(png, "PLTE", palette);
  // Split the image data over two IDAT chunks (stb must join them).
  const std::size_t half = idat.size() / 2;
  png_chunk(png, "IDAT", Bytes(idat.begin(), idat.begin() + static_cast<std::ptrdiff_t>(half)));
  png_chunk(png, "IDAT", Bytes(idat.begin() + static_cast<std::ptrdiff_t>(half), idat.end()));
  png_chunk(png, "IEND", {});
  return png;
}

std::vector<int> rgb_samples(int depth) {
  const Bytes pic = picture();
  std::vector<int> s(pic.size());
  for (std::size_t i = 0; i < pic.size(); ++i) s[i] = depth == 16 ? pic[i] * 257 + static_cast<int>(i % 7) : pic[i];
  return s;
}

// Palette indices (one sample per pixel) below 2^depth, and a palette of that many colours.
std::vector<int> index_samples(int depth) {
  std::vector<int> s(kSize * kSize);
  for (int y = 0; y < kSize; ++y)
    for (int x = 0; x < kSize; ++x) s[static_cast<std::size_t>(y * kSize + x)] = ((x / 4) ^ (y / 3)) % (1 << depth);
  return s;
}
Bytes make_palette(int colours) {
  Bytes p;
  for (int i = 0; i < colours; ++i) {
    p.push_back(static_cast<std::uint8_t>(i * 37));
    p.push_back(static_cast<std::uint8_t>(255 - i * 11));
    p.push_back(static_cast<std::uint8_t>(i * 91));
  }
  return p;
}

// A BMP with a BITMAPINFOHEADER: bpp 4/8 (palette), 16/32 (BI_BITFIELDS, no alpha mask) or
// 24; bottom-up unless top_down.
Bytes make_bmp(int bpp, bool top_down) {
  const Bytes pic = picture();
  const int row_bytes = (bpp * kSize + 31) / 32 * 4;
  const bool paletted = bpp <= 8;
  const int colours = paletted ? (1 << bpp) : 0;
  const bool bitfields = bpp == 16 || bpp == 32;
  const std::uint32_t offset = 14 + 40 + (bitfields ? 12 : 0) + 4 * static_cast<std::uint32_t>(colours);
  const std::uint32_t image = static_cast<std::uint32_t>(row_bytes * kSize);
  Bytes b{'B', 'M'};
  put32le(b, offset + image);
  put32le(b, 0);
  put32le(b, offset);
  put32le(b, 40);
  put32le(b, kSize);
  put32le(b, static_cast<std::uint32_t>(top_down ? -kSize : kSize));
  put16le(b, 1);
  put16le(b, static_cast<std::uint32_t>(bpp));
  put32le(b, bitfields ? 3 : 0);
  put32le(b, image);
  put32le(b, 2835);
  put32le(b, 2835);
  put32le(b, static_cast<std::uint32_t>(colours));
  put32le(b, 0);
  if (bpp == 16) {  // 5-6-5
    put32le(b, 0xF800);
    put32le(b, 0x07E0);
    put32le(b, 0x001F);
  } else if (bpp == 32) {
    put32le(b, 0x00FF0000);
    put32le(b, 0x0000FF00);
    put32le(b, 0x000000FF);
  }
  const Bytes pal = make_palette(colours);
  for (int i = 0; i < colours; ++i) {  // B, G, R, 0
    b.push_back(pal[static_cast<std::size_t>(i * 3 + 2)]);
    b.push_back(pal[static_cast<std::size_t>(i * 3 + 1)]);
    b.push_back(pal[static_cast<std::size_t>(i * 3)]);
    b.push_back(0);
  }
  const std::vector<int> idx = index_samples(paletted ? bpp : 1);
  for (int r = 0; r < kSize; ++r) {
    const int y = top_down ? r : kSize - 1 - r;
    Bytes row(static_cast<std::size_t>(row_bytes), 0);
    for (int x = 0; x < kSize; ++x) {
      const std::uint8_t* p = &pic[static_cast<std::size_t>((y * kSize + x) * 3)];
      if (paletted) {
        const int v = idx[static_cast<std::size_t>(y * kSize + x)];
        const int bit = x * bpp;
        row[static_cast<std::size_t>(bit / 8)] |= static_cast<std::uint8_t>(v << (8 - bpp - bit % 8));
      } else if (bpp == 16) {
        const std::uint32_t v = (std::uint32_t(p[0] >> 3) << 11) | (std::uint32_t(p[1] >> 2) << 5) | (p[2] >> 3);
        row[static_cast<std::size_t>(x * 2)] = static_cast<std::uint8_t>(v);
        row[static_cast<std::size_t>(x * 2 + 1)] = static_cast<std::uint8_t>(v >> 8);
      } else {  // 24 or 32: B, G, R (, 0)
        const int at = x * (bpp / 8);
        row[static_cast<std::size_t>(at)] = p[2];
        row[static_cast<std::size_t>(at + 1)] = p[1];
        row[static_cast<std::size_t>(at + 2)] = p[0];
      }
    }
    b.insert(b.end(), row.begin(), row.end());
  }
  return b;
}

void image_corpus(const fs::path& dir) {
  const Bytes pic = picture();
  Bytes png, jpg90, jpg95, bmp;
  stbi_write_png_to_func(to_vector, &png, kSize, kSize, 3, pic.data(), kSize * 3);
  stbi_write_jpg_to_func(to_vector, &jpg90, kSize, kSize, 3, pic.data(), 90);  // 4:2:0
  stbi_write_jpg_to_func(to_vector, &jpg95, kSize, kSize, 3, pic.data(), 95);  // 4:4:4
  stbi_write_bmp_to_func(to_vector, &bmp, kSize, kSize, 3, pic.data());
  write(dir / "stb-rgb.png", image_input(0, png));
  write(dir / "stb-q90.jpg", image_input(1, jpg90));
  write(dir / "stb-q95.jpg", image_input(1, jpg95));
  write(dir / "stb-24bit.bmp", image_input(2, bmp));

  write(dir / "rgb8-filters.png", image_input(0, make_png(2, 8, false, 3, rgb_samples(8))));
  write(dir / "rgb8-adam7.png", image_input(0, make_png(2, 8, true, 3, rgb_samples(8))));
  write(dir / "rgb16.png", image_input(0, make_png(2, 16, false, 3, rgb_samples(16))));
  write(dir / "palette8.png", image_input(0, make_png(3, 8, false, 1, index_samples(8), make_palette(256))));
  write(dir / "palette4-adam7.png", image_input(0, make_png(3, 4, true, 1, index_samples(4), make_palette(16))));
  write(dir / "palette1.png", image_input(0, make_png(3, 1, false, 1, index_samples(1), make_palette(2))));

  write(dir / "top-down-24bit.bmp", image_input(2, make_bmp(24, true)));
  write(dir / "top-down-palette8.bmp", image_input(2, make_bmp(8, true)));
  write(dir / "top-down-bitfields32.bmp", image_input(2, make_bmp(32, true)));
  write(dir / "palette8.bmp", image_input(2, make_bmp(8, false)));
  write(dir / "palette4.bmp", image_input(2, make_bmp(4, false)));
  write(dir / "bitfields565.bmp", image_input(2, make_bmp(16, false)));
  write(dir / "bitfields32.bmp", image_input(2, make_bmp(32, false)));
}

// Every image seed must be one the reader accepts (decode_image_file, 32 x 32), else it only
// leads the fuzzer to a refusal: the top-down BMP seed was refused (its height read as -32)
// until image_folder.hpp compared the height's magnitude.
void require_image_seeds_decode(const fs::path& dir) {
  static const char* const kExt[3] = {".png", ".jpg", ".bmp"};
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const Bytes seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const fs::path file = dir.parent_path() / (std::string(".decode-check") + kExt[seed.at(0) % 3]);
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(seed.data() + 1),
                                                static_cast<std::streamsize>(seed.size() - 1));
    try {
      glia::decode_image_file(file.string(), kSize, kSize);
    } catch (const glia::Error& e) {
      std::cerr << "glia_make_corpus: seed " << entry.path().string() << " is refused: " << e.what() << "\n";
      std::exit(1);
    }
    fs::remove(file);
  }
}

// --- Checkpoints -------------------------------------------------------------------------------

Bytes to_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

void checkpoint_corpus(const fs::path& dir) {
  auto m = glia::fuzz::checkpoint_model(7);  // the model fuzz_checkpoint loads into
  glia::Checkpoint c;
  glia::put_module(c, *m);
  write(dir / "small-model.ckpt", to_bytes(glia::serialize_checkpoint(c)));

  c.meta["epoch"] = "3";
  c.meta["optimizer"] = "SGD";
  glia::Tensor<double> d(glia::Shape{2, 3});
  for (glia::Index i = 0; i < d.size(); ++i) d[i] = 0.5 * static_cast<double>(i);
  c.put("optim/momentum_buffer", d);
  const std::uint64_t steps = 42;
  c.put_u64("optim/steps", &steps, 1);
  write(dir / "small-model-meta-f64-u64.ckpt", to_bytes(glia::serialize_checkpoint(c)));

  write(dir / "empty.ckpt", to_bytes(glia::serialize_checkpoint(glia::Checkpoint{})));
}

// --- Report: metrics.json and log.csv ----------------------------------------------------------

glia::RunRecord report_run(int epochs) {
  glia::RunRecord r;
  r.name = "bn";
  r.recipe = "reference";
  r.norm = "bn";
  r.seed = 18446744073709551557ull;
  r.threads = 2;
  r.parameters = 48178;
  for (int i = 1; i <= epochs; ++i) {
    glia::EpochRecord e;
    e.epoch = i;
    e.lr = 0.1 / i;
    e.seconds = 12.25 + i;
    e.train_loss = 2.0 / 3.0 / i;
    e.train_correct = 300 + 10 * i;
    e.train_total = 500;
    e.train_accuracy = 100.0 * static_cast<double>(e.train_correct) / 500.0;
    e.test_loss = 0.7 + 0.01 * i;
    e.test_correct = 60 + 5 * i;
    e.test_total = 100;
    e.test_accuracy = static_cast<double>(e.test_correct);
    e.images_per_second = 4321.125;
    r.epochs.push_back(e);
  }
  r.class_names = {"cat", "dog", "ship"};
  r.confusion = {{30, 3, 1}, {5, 25, 3}, {1, 2, 30}};
  r.train_class_counts = {170, 160, 170};
  glia::fuzz::update_run_summary(r);
  r.seconds = 3723.5;
  r.train_images_per_second = 4000.5;
  r.status = "finished";
  r.command = "glia-cifar10 train --norm \"bn\" --epochs 3";
  r.commit = "0e0ee60";
  r.config = {{"batch_size", "128"}, {"lr", "0.1"}};
  return r;
}

std::string log_text(const std::vector<glia::EpochRecord>& epochs, const char* eol = "\n") {
  std::string t = glia::log_csv_header() + eol;
  for (const auto& e : epochs) t += glia::log_csv_line(e) + eol;
  return t;
}

// fuzz_report's layout: metrics.json, then (when there is a log) a NUL and log.csv.
Bytes report_input(const std::string& metrics, const std::string* log) {
  Bytes b(metrics.begin(), metrics.end());
  if (log) {
    b.push_back(0);
    b.insert(b.end(), log->begin(), log->end());
  }
  return b;
}

void report_corpus(const fs::path& dir) {
  const glia::RunRecord run = report_run(3);
  const std::string metrics = glia::dump_json(glia::metrics_json(run)) + "\n", log = log_text(run.epochs);
  write(dir / "finished-with-log", report_input(metrics, &log));
  write(dir / "finished-metrics-only", report_input(metrics, nullptr));

  // A record written during a run, without "epochs": the history is in log.csv.
  write(dir / "running-epochs-in-log", report_input(glia::dump_json(glia::metrics_json(run, false)), &log));

  const std::string torn = log_text(run.epochs, "\r\n") + "4,0.05,1";
  write(dir / "log-only-crlf-torn", report_input("", &torn));

  glia::RunRecord nulls = report_run(2);
  nulls.epochs[1].test_loss = std::nan("");
  nulls.epochs[0].train_loss = std::nan("");
  nulls.confusion = {{5, 1, 0, 0}, {0, 6, 0, 1}, {1, 0, 7, 0}, {0, 0, 0, 3}};
  nulls.final_test_accuracy_tta = 71.5;
  nulls.final_tta = "flip+shift1";
  nulls.status = "stopped: non-finite loss";
  write(dir / "nulls-unnamed-class-tta", report_input(glia::dump_json(glia::metrics_json(nulls)), nullptr));

  glia::RunRecord extreme = report_run(3);
  extreme.final_test_accuracy = 1e62;
  extreme.train_images_per_second = 1e300;
  extreme.seconds = -1e308;
  extreme.epochs[0].lr = 5e-324;
  extreme.epochs[0].train_loss = 1e300;
  extreme.epochs[0].test_accuracy = 250;
  extreme.epochs[1].epoch = -3;
  extreme.epochs[1].seconds = 1e62;
  extreme.epochs[2].test_correct = 120;
  extreme.confusion[0][1] = -1;
  extreme.train_class_counts[2] = -5;
  const std::string extreme_log = log_text(extreme.epochs);
  write(dir / "extreme-and-impossible", report_input(glia::dump_json(glia::metrics_json(extreme)), &extreme_log));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: glia_make_corpus OUT_DIR\n";
    return 2;
  }
  const fs::path out = argv[1];
  for (const char* sub : {"cifar10", "idx", "safetensors", "image", "checkpoint", "report"})
    fs::create_directories(out / sub);
  cifar_corpus(out / "cifar10");
  idx_corpus(out / "idx");
  safetensors_corpus(out / "safetensors");
  image_corpus(out / "image");
  require_image_seeds_decode(out / "image");
  checkpoint_corpus(out / "checkpoint");
  report_corpus(out / "report");
  std::cout << "glia_make_corpus: " << g_files << " seed files in " << out.string() << "\n";
  return 0;
}
