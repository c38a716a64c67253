// glia/data/augment.hpp: turning dataset images into a normalised, augmented float batch.
//
// Contract:
// - make_batch(x, y, d, indices, count, aug, seed, step, first_sample = 0) resizes x to
//   [count, C, H, W] and y to count, and fills sample i from image d.image(indices[i]) with
//   label d.labels[indices[i]]. first_sample: the place of sample 0 in its global batch, when
//   this batch is a rank's share of one (data-parallel training): the random numbers follow the
//   place in the global batch, so that every split gives the same augmentations.
//   x.resize reuses x's storage, and the per-thread scratch images are thread_local vectors
//   that only grow, so after the first call of a given batch shape nothing is allocated.
//   Samples are filled in parallel; sample i draws its random numbers from
//   Rng::stream(seed, step, first_sample + i) alone, so the batch is bitwise the same for any thread count, and
//   a different step gives different augmentations.
// - aug == nullptr: no augmentation, only normalisation with the CIFAR-10 mean and std (as
//   normalize_image does); use an all-off AugmentConfig for another mean/std.
// - The pixel pipeline works on floats in [0,1] (byte / 255), in this order:
//     1. shift-scale-rotate with probability ssr_p (albumentations' ShiftScaleRotate):
//        angle ~ U[-rotate_deg, rotate_deg] degrees, scale ~ U[1-scale, 1+scale],
//        dx, dy ~ U[-shift, shift] (fractions of width, height); see shift_scale_rotate;
//     2. brightness/contrast with probability bc_p: alpha = 1 + U[-contrast, contrast],
//        beta = U[-brightness, brightness], x = clamp(alpha x + beta, 0, 1);
//     3. crop_pad > 0: pad crop_pad zeros on every side, crop H x W at a uniform offset;
//     4. hflip: mirror left-right with probability 1/2;
//     5. normalisation per channel: (x - mean[c]) / std[c];
//     6. cutout > 0: zero a cutout x cutout square (clipped at the borders, all channels)
//        centred on a uniform pixel; after normalisation, so the hole is the mean colour.
//   The reference() config is ssr_p = 0.5 and bc_p = 0.5 with the default ranges.
//   Sample i draws, in this order and each only when its stage is enabled: ssr: u < ssr_p, then
//   angle, scale, dx, dy; bc: u < bc_p, then alpha, beta; crop: oy, ox in [0, 2 crop_pad];
//   hflip: u < 0.5; cutout: centre row, then column. The order is part of the contract: a
//   (seed, step, i) gives the same augmentation in every build.
// - shift_scale_rotate(src, dst, C, H, W, angle, scale, dx, dy) is step 1 with given parameters,
//   like cv2.warpAffine(img, cv2.getRotationMatrix2D(((W-1)/2, (H-1)/2), angle, scale) with
//   dx*W, dy*H added to its translation, INTER_LINEAR, BORDER_REFLECT_101): each output pixel
//   maps back through the inverse affine map and is sampled bilinearly; a neighbour outside
//   the image is reflected without repeating the edge pixel (-1 -> 1, W -> W-2). A positive
//   angle turns the picture counter-clockwise. Unlike OpenCV we do not round source
//   coordinates to 1/32 pixel, so results can differ from cv2 by that much interpolation.
// - normalize_image(out, chw, C, H, W, mean, std) writes (byte/255 - mean[c]) / std[c], for
//   evaluation and prediction; it matches make_batch without augmentation bit for bit. The
//   overload taking a Normalization checks its channel count against C (ValueError).
// - Any geometry: every stage works on C = 1..3 planes of any H x W (H, W >= 1; the crop and
//   cutout offsets are drawn in [0, H) and [0, W), a flip mirrors each of the C planes); only the
//   first C entries of mean and std are used. With aug->channels (Normalization::channels)
//   other than 0, make_batch refuses images of another channel count (ValueError).
// - flip_horizontal(x) mirrors every image of a [N,C,H,W] batch left-right in place, for
//   test-time augmentation; throws ShapeError for another rank.
// - translate_reflect(src, dst, dy, dx) writes into dst (resized to src's [N,C,H,W]) every
//   image moved dy rows down and dx columns right, the uncovered border filled by reflection
//   without repeating the edge pixel: dst[y][x] = src[reflect101(y - dy)][reflect101(x - dx)]
//   (PyTorch's F.pad(..., 'reflect') followed by a crop). ShapeError for another rank,
//   ValueError for |dy| >= H or |dx| >= W (the reflection would leave the image).
// - TestTimeAugmentation names the views that evaluation averages (flip, shifts); parse_tta
//   reads its name ("none", "flip", "shift1", "flip+shift1").
// - Throws ValueError (before any work) for count < 1, an index outside the data set, a data
//   set whose pixels do not match its size or with other than 1..3 channels, and an AugmentConfig
//   with a probability outside [0,1], a negative or non-finite range, scale >= 1, std <= 0,
//   channels outside 0..3 or other than the data set's.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/data/dataset.hpp"
#include "glia/kernels/parallel.hpp"
#include "glia/tensor/random.hpp"
#include "glia/tensor/tensor.hpp"

namespace glia {

constexpr std::array<float, 3> kCifar10Mean{0.4914f, 0.4822f, 0.4465f};
constexpr std::array<float, 3> kCifar10Std{0.247f, 0.243f, 0.261f};

// The per-channel normalisation of images, x = (pixel / 255 - mean[c]) / std[c]. channels says
// for how many channels mean and std were computed (normalization_stats.hpp): 0 = not tied to
// a channel count (CIFAR-10's constants, the default; images of C = 1..3 channels use the first
// C entries); 1..3 = only images of that many channels may use it (entries past it repeat the
// last channel's values).
struct Normalization {
  std::array<float, 3> mean = kCifar10Mean, std = kCifar10Std;
  Index channels = 0;
};

// Throws ValueError when n was computed for another channel count than the images' C.
inline void check_normalization_channels(const Normalization& n, Index C, const std::string& where) {
  if (n.channels != 0 && n.channels != C)
    throw ValueError(detail::cat(where, ": the normalisation has mean and std for ", n.channels,
                                 n.channels == 1 ? " channel" : " channels", " but the images have ", C));
}

struct AugmentConfig {
  double ssr_p = 0, shift = 0.09, scale = 0.09, rotate_deg = 7;
  double bc_p = 0, brightness = 0.2, contrast = 0.2;
  Index crop_pad = 0;
  bool hflip = false;
  Index cutout = 0;
  std::array<float, 3> mean = kCifar10Mean, std = kCifar10Std;
  Index channels = 0;  // Normalization::channels: 0 any, else make_batch wants images of that many

  Normalization normalization() const { return {mean, std, channels}; }
  // No augmentation, only normalisation: what evaluation applies.
  static AugmentConfig normalize_only(const Normalization& n) {
    AugmentConfig a;
    a.ssr_p = a.bc_p = 0;
    a.crop_pad = a.cutout = 0;
    a.hflip = false;
    a.mean = n.mean;
    a.std = n.std;
    a.channels = n.channels;
    return a;
  }

  // The augmentation the reference CIFAR-10 recipe trains with.
  static AugmentConfig reference() {
    AugmentConfig a;
    a.ssr_p = 0.5;
    a.bc_p = 0.5;
    return a;
  }

  void validate() const {
    auto prob = [](const char* name, double p) {
      if (!(p >= 0 && p <= 1)) throw ValueError(detail::cat("AugmentConfig: ", name, " = ", p, " is not in [0, 1]"));
    };
    auto range = [](const char* name, double v) {
      if (!(v >= 0 && std::isfinite(v)))
        throw ValueError(detail::cat("AugmentConfig: ", name, " = ", v, " must be finite and >= 0"));
    };
    prob("ssr_p", ssr_p);
    prob("bc_p", bc_p);
    range("shift", shift);
    range("scale", scale);
    range("rotate_deg", rotate_deg);
    range("brightness", brightness);
    range("contrast", contrast);
    range("crop_pad", static_cast<double>(crop_pad));
    range("cutout", static_cast<double>(cutout));
    if (scale >= 1) throw ValueError(detail::cat("AugmentConfig: scale = ", scale, " must be below 1"));
    if (channels < 0 || channels > 3)
      throw ValueError(detail::cat("AugmentConfig: channels = ", channels, " is not in 0..3"));
    for (int c = 0; c < 3; ++c)
      if (!(std[c] > 0 && std::isfinite(std[c]) && std::isfinite(mean[c])))
        throw ValueError(detail::cat("AugmentConfig: channel ", c, " has mean ", mean[c], " and std ", std[c],
                                     "; std must be > 0 and both finite"));
  }
};

// The normalisation of an optional augmentation (CIFAR-10's without one).
inline Normalization normalization_of(const AugmentConfig* augment) {
  return augment ? augment->normalization() : Normalization{};
}

namespace detail {

// cv2.BORDER_REFLECT_101: ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...
inline Index reflect101(Index p, Index n) {
  if (p >= 0 && p < n) return p;  // the common case, without a division
  if (n == 1) return 0;
  const Index period = 2 * n - 2;
  p %= period;
  if (p < 0) p += period;
  return p < n ? p : period - p;
}

inline float unit_pixel(std::uint8_t v) { return static_cast<float>(v) / 255.0f; }

}  // namespace detail

inline void shift_scale_rotate(const float* src, float* dst, Index channels, Index height, Index width,
                               double angle_deg, double scale, double dx, double dy) {
  // cv2.getRotationMatrix2D: M = [a b tx; -b a ty], a = s cos, b = s sin, about the centre.
  const double rad = angle_deg * 3.14159265358979323846 / 180.0;
  const double a = scale * std::cos(rad), b = scale * std::sin(rad);
  const double cx = (width - 1) * 0.5, cy = (height - 1) * 0.5;
  const double tx = (1 - a) * cx - b * cy + dx * width;
  const double ty = b * cx + (1 - a) * cy + dy * height;
  // Inverse map: source = M^-1 (destination - t), with M^-1 = [a -b; b a] / scale^2.
  const double det = a * a + b * b;
  const double i00 = a / det, i01 = -b / det, i10 = b / det, i11 = a / det;
  const Index plane = height * width;
  for (Index y = 0; y < height; ++y)
    for (Index x = 0; x < width; ++x) {
      const double u = x - tx, v = y - ty;
      const double sx = i00 * u + i01 * v, sy = i10 * u + i11 * v;
      const double fx0 = std::floor(sx), fy0 = std::floor(sy);
      const float fx = static_cast<float>(sx - fx0), fy = static_cast<float>(sy - fy0);
      const Index x0 = detail::reflect101(static_cast<Index>(fx0), width);
      const Index x1 = detail::reflect101(static_cast<Index>(fx0) + 1, width);
      const Index y0 = detail::reflect101(static_cast<Index>(fy0), height);
      const Index y1 = detail::reflect101(static_cast<Index>(fy0) + 1, height);
      for (Index c = 0; c < channels; ++c) {
        const float* p = src + c * plane;
        const float top = (1 - fx) * p[y0 * width + x0] + fx * p[y0 * width + x1];
        const float bottom = (1 - fx) * p[y1 * width + x0] + fx * p[y1 * width + x1];
        dst[c * plane + y * width + x] = (1 - fy) * top + fy * bottom;
      }
    }
}

inline void brightness_contrast(float* x, Index n, double alpha, double beta) {
  const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
  for (Index i = 0; i < n; ++i) x[i] = std::min(1.0f, std::max(0.0f, al * x[i] + be));
}

template <typename T>
void normalize_image(T* out, const std::uint8_t* chw, Index channels, Index height, Index width,
                     const std::array<float, 3>& mean = kCifar10Mean,
                     const std::array<float, 3>& stddev = kCifar10Std) {
  const Index plane = height * width;
  for (Index c = 0; c < channels; ++c)
    for (Index k = 0; k < plane; ++k)
      out[c * plane + k] = static_cast<T>((detail::unit_pixel(chw[c * plane + k]) - mean[c]) / stddev[c]);
}

// normalize_image with a Normalization; ValueError when it was computed for another channel count.
template <typename T>
void normalize_image(T* out, const std::uint8_t* chw, Index channels, Index height, Index width,
                     const Normalization& n) {
  check_normalization_channels(n, channels, "normalize_image");
  normalize_image(out, chw, channels, height, width, n.mean, n.std);
}

namespace detail {

// One sample through the pipeline of the contract; a and b are scratch images of C*H*W floats.
template <typename T>
void augment_sample(T* out, const std::uint8_t* chw, Index C, Index H, Index W, const AugmentConfig& g, Rng& r,
                    float* a, float* b) {
  const Index plane = H * W, n = C * plane;
  for (Index k = 0; k < n; ++k) a[k] = unit_pixel(chw[k]);
  if (g.ssr_p > 0 && r.uniform() < g.ssr_p) {
    const double angle = r.uniform(-g.rotate_deg, g.rotate_deg);
    const double scale = r.uniform(1 - g.scale, 1 + g.scale);
    const double dx = r.uniform(-g.shift, g.shift), dy = r.uniform(-g.shift, g.shift);
    shift_scale_rotate(a, b, C, H, W, angle, scale, dx, dy);
    std::swap(a, b);
  }
  if (g.bc_p > 0 && r.uniform() < g.bc_p) {
    const double alpha = 1 + r.uniform(-g.contrast, g.contrast);
    const double beta = r.uniform(-g.brightness, g.brightness);
    brightness_contrast(a, n, alpha, beta);
  }
  if (g.crop_pad > 0) {  // crop of the zero-padded image = shift by (oy, ox) filling zeros
    const Index span = 2 * g.crop_pad + 1;
    const Index oy = r.below(static_cast<std::uint32_t>(span)) - g.crop_pad;
    const Index ox = r.below(static_cast<std::uint32_t>(span)) - g.crop_pad;
    for (Index c = 0; c < C; ++c)
      for (Index y = 0; y < H; ++y)
        for (Index x = 0; x < W; ++x) {
          const Index sy = y + oy, sx = x + ox;
          b[c * plane + y * W + x] = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? a[c * plane + sy * W + sx] : 0.0f;
        }
    std::swap(a, b);
  }
  if (g.hflip && r.uniform() < 0.5)
    for (Index row = 0; row < C * H; ++row) std::reverse(a + row * W, a + (row + 1) * W);
  for (Index c = 0; c < C; ++c)
    for (Index k = 0; k < plane; ++k) out[c * plane + k] = static_cast<T>((a[c * plane + k] - g.mean[c]) / g.std[c]);
  if (g.cutout > 0) {
    const Index y0 = static_cast<Index>(r.below(static_cast<std::uint32_t>(H))) - g.cutout / 2;
    const Index x0 = static_cast<Index>(r.below(static_cast<std::uint32_t>(W))) - g.cutout / 2;
    for (Index c = 0; c < C; ++c)
      for (Index y = std::max<Index>(0, y0); y < std::min(H, y0 + g.cutout); ++y)
        for (Index x = std::max<Index>(0, x0); x < std::min(W, x0 + g.cutout); ++x) out[c * plane + y * W + x] = T(0);
  }
}

}  // namespace detail

template <typename T>
void make_batch(Tensor<T>& x, std::vector<std::int32_t>& y, const ImageDataset& d, const Index* indices, Index count,
                const AugmentConfig* aug, std::uint64_t seed, std::uint64_t step, Index first_sample = 0) {
  // Check everything here: parallel_for bodies must not throw.
  if (count < 1) throw ValueError(detail::cat("make_batch: batch of ", count, " samples"));
  if (d.channels < 1 || d.channels > 3 || d.height < 1 || d.width < 1)
    throw ValueError(detail::cat("make_batch: images of ", d.channels, "x", d.height, "x", d.width, " in '", d.source,
                                 "'; expected 1..3 channels"));
  if (d.pixels.size() != static_cast<std::size_t>(d.size() * d.image_bytes()))
    throw ValueError(detail::cat("make_batch: '", d.source, "' has ", d.pixels.size(), " pixel bytes for ", d.size(),
                                 " images of ", d.image_bytes()));
  for (Index i = 0; i < count; ++i)
    if (indices[i] < 0 || indices[i] >= d.size())
      throw ValueError(detail::cat("make_batch: sample ", i, " has index ", indices[i], ", outside [0, ", d.size(),
                                   ") of '", d.source, "'"));
  if (aug) {
    aug->validate();
    check_normalization_channels(aug->normalization(), d.channels, detail::cat("make_batch on '", d.source, "'"));
  }

  const Index C = d.channels, H = d.height, W = d.width, n = d.image_bytes();
  x.resize(Shape{count, C, H, W});
  y.resize(static_cast<std::size_t>(count));
  T* out = x.data();
  parallel_for(count, [&](Index i) {
    const std::uint8_t* img = d.pixels.data() + indices[i] * n;
    y[static_cast<std::size_t>(i)] = d.labels[static_cast<std::size_t>(indices[i])];
    if (!aug) {
      normalize_image(out + i * n, img, C, H, W);
      return;
    }
    thread_local std::vector<float> scratch;  // grows once per thread and image size, then reused
    if (scratch.size() < static_cast<std::size_t>(2 * n)) scratch.resize(static_cast<std::size_t>(2 * n));
    Rng r = Rng::stream(seed, step, static_cast<std::uint64_t>(first_sample + i));
    detail::augment_sample(out + i * n, img, C, H, W, *aug, r, scratch.data(), scratch.data() + n);
  });
}

// Test-time augmentation: the views of each test image whose logits evaluate() (train/trainer.hpp)
// averages.
//   flip:      the image and its mirror image, weight 1/2 each;
//   shift = s: the image (weight 1/2) and the image translated by (+s, +s) and by (-s, -s)
//              (rows, columns; reflect-101 border, translate_reflect), weight 1/4 each;
//   both:      every view above and its mirror image, each mirror pair sharing its view's weight
//              (airbench's "TTA level 2" for s = 1: 6 forward passes).
// name() is "none", "flip", "shift1" or "flip+shift1"; parse_tta() reads those back and throws
// ValueError for anything else.
struct TestTimeAugmentation {
  bool flip = false;
  Index shift = 0;
  bool enabled() const { return flip || shift > 0; }
  std::string name() const {
    if (!enabled()) return "none";
    std::string n = flip ? "flip" : "";
    if (shift > 0) n += detail::cat(flip ? "+" : "", "shift", shift);
    return n;
  }
};

inline TestTimeAugmentation parse_tta(const std::string& name) {
  TestTimeAugmentation t;
  if (name == "none") return t;
  t.flip = name == "flip" || name.rfind("flip+", 0) == 0;
  if (name == "flip") return t;
  const std::string shift = t.flip ? name.substr(5) : name;  // "shiftN", N = 1..99
  const bool ok = shift.size() >= 6 && shift.size() <= 7 && shift.rfind("shift", 0) == 0 &&
                  shift.find_first_not_of("0123456789", 5) == std::string::npos && shift[5] != '0';
  if (!ok) throw ValueError(detail::cat("unknown test-time augmentation '", name, "': expected none, flip, shiftN or flip+shiftN (N = 1..99)"));
  t.shift = std::stoi(shift.substr(5));
  return t;
}

// Mirrors every image of an [N,C,H,W] batch left-right in place (test-time augmentation).
template <typename T>
void flip_horizontal(Tensor<T>& x) {
  if (x.rank() != 4) throw ShapeError(detail::cat("flip_horizontal: expected [N,C,H,W], got ", x.shape()));
  const Index rows = x.dim(1) * x.dim(2), W = x.dim(3);
  T* p = x.data();
  parallel_for(x.dim(0), [&](Index i) {
    for (Index r = 0; r < rows; ++r) std::reverse(p + (i * rows + r) * W, p + (i * rows + r + 1) * W);
  });
}

// Moves every image of an [N,C,H,W] batch by (dy, dx) with a reflect-101 border (test-time
// augmentation); planes in parallel.
template <typename T>
void translate_reflect(const Tensor<T>& src, Tensor<T>& dst, Index dy, Index dx) {
  if (src.rank() != 4) throw ShapeError(detail::cat("translate_reflect: expected [N,C,H,W], got ", src.shape()));
  const Index planes = src.dim(0) * src.dim(1), H = src.dim(2), W = src.dim(3);
  if (dy <= -H || dy >= H || dx <= -W || dx >= W)
    throw ValueError(detail::cat("translate_reflect: shift (", dy, ", ", dx, ") does not fit images of ", H, "x", W));
  dst.resize(src.shape());
  const T* s = src.data();
  T* d = dst.data();
  parallel_for(planes, [&](Index p) {
    for (Index y = 0; y < H; ++y) {
      const T* row = s + (p * H + detail::reflect101(y - dy, H)) * W;
      T* out = d + (p * H + y) * W;
      for (Index x = 0; x < W; ++x) out[x] = row[detail::reflect101(x - dx, W)];
    }
  });
}

}  // namespace glia
