// glia/kernels/norm.hpp: the normalisation kernels (BatchNorm and GroupNorm).
//
// Both normalise a set S of M values of x [N, C, HW] and then apply a per-channel affine:
//   mu = (1/M) sum_S x,  var = (1/M) sum_S (x - mu)^2,  rstd = 1 / sqrt(var + eps)
//   xhat = (x - mu) * rstd,   y = gamma[c] * xhat + beta[c]
// BatchNorm: one set per channel c, S = {(n, c, hw)}, M = N*HW.
// GroupNorm: one set per (n, g), S = {(n, c, hw): c in group g}, M = (C/G)*HW.
// Backward (the derivation is in docs/layers/normalization.md): with g = dy * gamma[c],
//   dbeta[c] += sum dy,   dgamma[c] += sum dy * xhat    (sums over n and hw)
//   dx = rstd * (g - mean_S(g) - xhat * mean_S(g * xhat))
// Sums are accumulated in double whatever T is, in kSumLanes independent partial sums that are
// added in a fixed order at the end (detail::LaneSum): one running sum would be a chain of
// dependent additions, four cycles each, that the compiler may not reorder; the lanes let it
// vectorise, and the result still depends on the data alone. mean and rstd (and the fused
// ReLU's mask) are cached for backward.
// Statistics take one pass: the sums of d = x - s and d^2 with s the set's first value, then
//   mu = s + mean(d),  var = mean(d^2) - mean(d)^2
// (shifting by a value of the set keeps the cancellation small whatever the mean). BatchNorm's
// sets span the batch: each sample's moments are taken this way and then combined.
// Fused ReLU: where mask is not null (or relu is set, for the *_sample kernels), the forward
// kernels apply ReLU after the affine,
//   y = max(gamma * xhat + beta, 0)  (a NaN stays NaN, as in ReLU),  mask = [y > 0]  (uint8),
// and the backward kernels take dy through the ReLU first (dy <- mask ? dy : 0), so the pair
// costs two passes over memory less in each direction than the norm followed by a ReLU module.
// Both are parallel over samples: the per-sample contributions to the batch statistics
// (BatchNorm) and to dgamma/dbeta are reduced in sample order, so results do not depend on the
// thread count. The *_sample kernels do one sample's part of the work, for a caller that
// already runs over samples (nn/conv_norm.hpp fuses them into the convolution that produces
// their input): the batch kernels are those applied to every sample, so the values are the same.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "glia/kernels/parallel.hpp"

namespace glia {
namespace detail {

// A double-precision sum kept in kSumLanes partial sums: element k of a run goes to lane
// k % kSumLanes (add_shifted_sums, add_dy_sums), and total() adds the lanes pairwise in a fixed
// order. 32 lanes are four AVX-512 (eight AVX2) registers per sum: enough independent chains to
// hide the latency of the additions, also when the fused ReLU's mask adds work to each term
// (8 lanes ran the masked backward at half the speed of the unmasked one).
constexpr Index kSumLanes = 32;

struct LaneSum {
  double lane[kSumLanes] = {};

  double total() const {
    double t[kSumLanes];
    for (Index j = 0; j < kSumLanes; ++j) t[j] = lane[j];
    for (Index w = kSumLanes / 2; w >= 1; w /= 2)
      for (Index j = 0; j < w; ++j) t[j] = t[j] + t[j + w];
    return t[0];
  }
};

// sum d and sum d^2 over one run of len values, d = x - shift, added to s and q (LaneSum
// lanes; locals for the reason given at add_dy_sums).
template <typename T>
void add_shifted_sums(LaneSum& s, LaneSum& q, const T* x, Index len, double shift) {
  double a[kSumLanes], b[kSumLanes];
  for (Index j = 0; j < kSumLanes; ++j) {
    a[j] = s.lane[j];
    b[j] = q.lane[j];
  }
  Index k = 0;
  for (; k + kSumLanes <= len; k += kSumLanes)
    for (Index j = 0; j < kSumLanes; ++j) {
      const double d = x[k + j] - shift;
      a[j] += d;
      b[j] += d * d;
    }
  for (Index j = 0; k < len; ++k, ++j) {
    const double d = x[k] - shift;
    a[j] += d;
    b[j] += d * d;
  }
  for (Index j = 0; j < kSumLanes; ++j) {
    s.lane[j] = a[j];
    q.lane[j] = b[j];
  }
}

// mean and biased variance from the shifted sums of m values.
inline void shifted_moments(double& mean, double& var, const LaneSum& s, const LaneSum& q, double shift, double m) {
  const double md = s.total() / m;
  mean = shift + md;
  var = std::max(0.0, q.total() / m - md * md);
}

// dy[k] through a fused ReLU: dy[k] where mask[k] is set, else +0 (also for a NaN dy[k], as in
// ReLU's backward). An AND of the bits with 0 or ~0 rather than a select: GCC does not
// vectorise a select that feeds a conversion to double, and does vectorise this.
template <typename T>
inline T masked(const T* dy, const std::uint8_t* mask, Index k) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  static_assert(sizeof(Bits) == sizeof(T), "masked: float or double");
  Bits b;
  std::memcpy(&b, dy + k, sizeof b);
  b &= Bits(0) - static_cast<Bits>(mask[k]);
  T v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

// Calls f(dyk) with dyk(k) = dy[k], or masked(dy, mask, k) when mask is not null: the test is
// outside the loop f runs, so each variant is a straight vector loop.
template <typename T, typename F>
void with_dy(const T* dy, const std::uint8_t* mask, F&& f) {
  if (mask)
    f([dy, mask](Index k) { return masked(dy, mask, k); });
  else
    f([dy](Index k) { return dy[k]; });
}

// sum d and sum d * (x - mu) * r over one run of len values, d = dy through the fused ReLU's
// mask (if any), added to sdy and sdyx. One pass over the arrays. The lanes are copied into
// locals: the compiler cannot know that sdy and sdyx are different objects, and would not
// vectorise otherwise.
template <typename T>
void add_dy_sums(LaneSum& sdy, LaneSum& sdyx, const T* dy, const std::uint8_t* mask, const T* x, Index len,
                 double mu, double r) {
  double a[kSumLanes], b[kSumLanes];
  for (Index j = 0; j < kSumLanes; ++j) {
    a[j] = sdy.lane[j];
    b[j] = sdyx.lane[j];
  }
  with_dy(dy, mask, [&](auto dyk) {
    Index k = 0;
    for (; k + kSumLanes <= len; k += kSumLanes)
      for (Index j = 0; j < kSumLanes; ++j) {
        const double d = dyk(k + j);
        a[j] += d;
        b[j] += d * ((x[k + j] - mu) * r);
      }
    for (Index j = 0; k < len; ++k, ++j) {
      const double d = dyk(k);
      a[j] += d;
      b[j] += d * ((x[k] - mu) * r);
    }
  });
  for (Index j = 0; j < kSumLanes; ++j) {
    sdy.lane[j] = a[j];
    sdyx.lane[j] = b[j];
  }
}

// y = x * scale + shift over len values, then the fused ReLU if relu, writing its mask where
// mask is not null (inference needs no mask).
template <typename T>
void affine_run(T* y, bool relu, std::uint8_t* mask, const T* x, T scale, T shift, Index len) {
  if (!relu) {
    for (Index k = 0; k < len; ++k) y[k] = x[k] * scale + shift;
  } else if (!mask) {
    for (Index k = 0; k < len; ++k) {
      const T v = x[k] * scale + shift;
      y[k] = v < T(0) ? T(0) : v;
    }
  } else {
    for (Index k = 0; k < len; ++k) {
      const T v = x[k] * scale + shift;
      y[k] = v < T(0) ? T(0) : v;
      mask[k] = v > T(0);
    }
  }
}

// The per-channel affine of normalised values as one multiply-add on x:
//   gamma * (x - mu) * r + beta = x * scale + shift.
template <typename T>
inline void affine_coefficients(T& scale, T& shift, T gamma, T beta, double mu, double r) {
  scale = static_cast<T>(gamma * r);
  shift = static_cast<T>(beta - gamma * mu * r);
}

}  // namespace detail

// BatchNorm works sample by sample too, so that a convolution's loop over samples can carry it
// (nn/conv_norm.hpp) and each sample stays on the thread, and in the cache, that made it:
// - forward: batchnorm_sample_moments(i) gives sample i's mean and sum of squared deviations
//   per channel; batchnorm_combine_moments adds them up in sample order (Chan, Golub & LeVeque's
//   pairwise update) into the batch mean and variance; batchnorm_apply_sample normalises
//   sample i with the resulting affine coefficients.
// - backward: batchnorm_backward_sums_sample(i) gives sample i's sums of dy and dy * xhat per
//   channel; batchnorm_backward_sums adds them up in sample order (for_each_channel_sum) into
//   dgamma, dbeta and the batch means of dy * xhat and dy; batchnorm_backward_sample(i) writes
//   sample i's dx from those means.
// The whole-batch kernels below are these run over the batch, so the values are the same.

// Sample i's moments per channel, from one pass of shifted sums (shift: the run's first value):
// mean[i*c + ch] and m2[i*c + ch] = sum (x - mean)^2 over the hw values of (i, ch).
template <typename T>
void batchnorm_sample_moments(Index i, double* mean, double* m2, const T* x, Index c, Index hw) {
  const double len = static_cast<double>(hw);
  for (Index ch = 0; ch < c; ++ch) {
    const T* xc = x + (i * c + ch) * hw;
    detail::LaneSum s, q;
    const double shift = xc[0];
    detail::add_shifted_sums(s, q, xc, hw, shift);
    const double sd = s.total();
    mean[i * c + ch] = shift + sd / len;
    m2[i * c + ch] = std::max(0.0, q.total() - sd * sd / len);
  }
}

// The batch mean[c] and biased variance var[c] from n samples' moments ([n, c] each, hw values
// per sample and channel), added in sample order: with counts na (so far) and nb (the next
// sample), delta = mean_b - mean_a,
//   mean <- mean_a + delta * nb / (na + nb),   m2 <- m2_a + m2_b + delta^2 * na * nb / (na + nb).
inline void batchnorm_combine_moments(double* mean, double* var, const double* sample_mean, const double* sample_m2, Index n,
                                      Index c, Index hw) {
  const double len = static_cast<double>(hw);
  for (Index ch = 0; ch < c; ++ch) {
    double mu = sample_mean[ch], m2 = sample_m2[ch], count = len;
    for (Index i = 1; i < n; ++i) {
      const double delta = sample_mean[i * c + ch] - mu, total = count + len;
      mu += delta * (len / total);
      m2 += sample_m2[i * c + ch] + delta * delta * (count * len / total);
      count = total;
    }
    mean[ch] = mu;
    var[ch] = m2 / count;
  }
}

// Batch statistics per channel: mean[c], var[c] (biased), parallel over samples. scratch: 2*n*c
// doubles (the per-sample moments).
template <typename T>
void batchnorm_stats(double* mean, double* var, double* scratch, const T* x, Index n, Index c, Index hw) {
  double* sample_mean = scratch;
  double* sample_m2 = scratch + n * c;
  parallel_for(n, [&](Index i) { batchnorm_sample_moments(i, sample_mean, sample_m2, x, c, hw); });
  batchnorm_combine_moments(mean, var, sample_mean, sample_m2, n, c, hw);
}

// y = gamma * (x - mean) * rstd + beta for sample i, with the per-channel coefficients of
// detail::affine_coefficients (scale[c], shift[c]). The fused ReLU if relu, its mask written
// where mask is not null.
template <typename T>
void batchnorm_apply_sample(Index i, T* y, bool relu, std::uint8_t* mask, const T* x, const T* scale, const T* shift,
                            Index c, Index hw) {
  for (Index ch = 0; ch < c; ++ch) {
    const Index o = (i * c + ch) * hw;
    detail::affine_run(y + o, relu, mask ? mask + o : nullptr, x + o, scale[ch], shift[ch], hw);
  }
}

// Sample i's contributions to the backward sums, per channel: partial[i*c + ch] = sum dy * xhat
// and partial[n*c + i*c + ch] = sum dy (dy through the fused ReLU's mask, if any).
template <typename T>
void batchnorm_backward_sums_sample(Index i, double* partial, const T* dy, const std::uint8_t* mask, const T* x,
                                    const double* mean, const double* rstd, Index n, Index c, Index hw) {
  for (Index ch = 0; ch < c; ++ch) {
    const Index o = (i * c + ch) * hw;
    detail::LaneSum lsdy, lsdyx;
    detail::add_dy_sums(lsdy, lsdyx, dy + o, mask ? mask + o : nullptr, x + o, hw, mean[ch], rstd[ch]);
    partial[i * c + ch] = lsdyx.total();
    partial[n * c + i * c + ch] = lsdy.total();
  }
}

// f(ch, sum_dyx, sum_dy) for every channel, with the per-sample partials (as
// batchnorm_backward_sums_sample and groupnorm_backward_sample write them) added in sample order,
// so the sums do not depend on which thread ran which sample.
template <typename F>
void for_each_channel_sum(const double* partial, Index n, Index c, F&& f) {
  for (Index ch = 0; ch < c; ++ch) {
    double sg = 0, sb = 0;
    for (Index i = 0; i < n; ++i) {
      sg += partial[i * c + ch];
      sb += partial[n * c + i * c + ch];
    }
    f(ch, sg, sb);
  }
}

// dgamma[c] += sum dy * xhat, dbeta[c] += sum dy from the per-sample partials.
template <typename T>
void add_sample_partials(T* dgamma, T* dbeta, const double* partial, Index n, Index c) {
  for_each_channel_sum(partial, n, c, [&](Index ch, double sum_dyx, double sum_dy) {
    dgamma[ch] += static_cast<T>(sum_dyx);
    dbeta[ch] += static_cast<T>(sum_dy);
  });
}

// dx of sample i for batch statistics (training mode), given the batch means of dy * xhat and
// of dy (means: [c] of each, in that order, as batchnorm_backward_sums leaves them):
//   dx = gamma * rstd * (dy - mean_dy - xhat * mean_dyx).
template <typename T>
void batchnorm_backward_sample(Index i, T* dx, const T* dy, const std::uint8_t* mask, const T* x, const double* mean,
                               const double* rstd, const T* gamma, const double* means, Index c, Index hw) {
  for (Index ch = 0; ch < c; ++ch) {
    const Index o = (i * c + ch) * hw;
    const double a = gamma[ch] * rstd[ch], mg = means[c + ch], mgx = means[ch], mu = mean[ch], r = rstd[ch];
    detail::with_dy(dy + o, mask ? mask + o : nullptr, [&](auto dyk) {
      for (Index k = 0; k < hw; ++k) {
        const double xhat = (x[o + k] - mu) * r;
        dx[o + k] = static_cast<T>(a * (dyk(k) - mg - xhat * mgx));
      }
    });
  }
}

// dx of sample i for fixed statistics (evaluation mode): dx = gamma * rstd * dy.
template <typename T>
void batchnorm_backward_fixed_sample(Index i, T* dx, const T* dy, const std::uint8_t* mask, const double* rstd,
                                     const T* gamma, Index c, Index hw) {
  for (Index ch = 0; ch < c; ++ch) {
    const Index o = (i * c + ch) * hw;
    const double a = gamma[ch] * rstd[ch];
    detail::with_dy(dy + o, mask ? mask + o : nullptr, [&](auto dyk) {
      for (Index k = 0; k < hw; ++k) dx[o + k] = static_cast<T>(a * dyk(k));
    });
  }
}

// The first half of the training-mode backward: the per-sample sums (parallel over samples),
// added up in sample order into dgamma[c] += sum dy * xhat and dbeta[c] += sum dy, and the batch
// means that batchnorm_backward_sample needs, at scratch + 2*n*c: mean_dyx [c], then mean_dy [c].
// scratch: 2*n*c + 2*c doubles; mask: the fused ReLU's, or null.
template <typename T>
void batchnorm_backward_sums(double* scratch, T* dgamma, T* dbeta, const T* dy, const std::uint8_t* mask, const T* x,
                             const double* mean, const double* rstd, Index n, Index c, Index hw) {
  double* mean_dyx = scratch + 2 * n * c;
  double* mean_dy = mean_dyx + c;
  parallel_for(n, [&](Index i) { batchnorm_backward_sums_sample(i, scratch, dy, mask, x, mean, rstd, n, c, hw); });
  const double m = static_cast<double>(n * hw);
  for_each_channel_sum(scratch, n, c, [&](Index ch, double sum_dyx, double sum_dy) {
    dgamma[ch] += static_cast<T>(sum_dyx);
    dbeta[ch] += static_cast<T>(sum_dy);
    mean_dyx[ch] = sum_dyx / m;
    mean_dy[ch] = sum_dy / m;
  });
}

// Backward of batch-statistics normalisation (training mode) over the whole batch; scratch and
// mask as for batchnorm_backward_sums.
template <typename T>
void batchnorm_backward(T* dx, T* dgamma, T* dbeta, double* scratch, const T* dy, const std::uint8_t* mask, const T* x,
                        const double* mean, const double* rstd, const T* gamma, Index n, Index c, Index hw) {
  batchnorm_backward_sums(scratch, dgamma, dbeta, dy, mask, x, mean, rstd, n, c, hw);
  const double* means = scratch + 2 * n * c;
  parallel_for(n, [&](Index i) { batchnorm_backward_sample(i, dx, dy, mask, x, mean, rstd, gamma, means, c, hw); });
}

// GroupNorm forward of sample i: its mean/rstd [G] entries and its y (and mask) values.
// mean/rstd: [N*G]; the fused ReLU if relu, its mask [N, C, HW] written where mask is not null.
template <typename T>
void groupnorm_forward_sample(Index i, T* y, bool relu, std::uint8_t* mask, double* mean, double* rstd, const T* x,
                              const T* gamma, const T* beta, Index c, Index hw, Index groups, double eps) {
  const Index cg = c / groups, len = cg * hw;
  for (Index g = 0; g < groups; ++g) {
    const T* xg = x + (i * c + g * cg) * hw;
    detail::LaneSum s, q;
    const double shift = xg[0];
    detail::add_shifted_sums(s, q, xg, len, shift);
    double mu, var;
    detail::shifted_moments(mu, var, s, q, shift, static_cast<double>(len));
    const double r = 1.0 / std::sqrt(var + eps);
    mean[i * groups + g] = mu;
    rstd[i * groups + g] = r;
    for (Index ch = g * cg; ch < (g + 1) * cg; ++ch) {
      T scale, offset;
      detail::affine_coefficients(scale, offset, gamma[ch], beta[ch], mu, r);
      const Index oc = (i * c + ch) * hw;
      detail::affine_run(y + oc, relu, mask ? mask + oc : nullptr, x + oc, scale, offset, hw);
    }
  }
}

// GroupNorm forward of the whole batch, parallel over samples; the fused ReLU and its mask where
// mask is not null.
template <typename T>
void groupnorm_forward(T* y, std::uint8_t* mask, double* mean, double* rstd, const T* x, const T* gamma, const T* beta,
                       Index n, Index c, Index hw, Index groups, double eps) {
  parallel_for(n, [&](Index i) {
    groupnorm_forward_sample(i, y, mask != nullptr, mask, mean, rstd, x, gamma, beta, c, hw, groups, eps);
  });
}

// GroupNorm backward of sample i: its dx values, and its contributions to dgamma / dbeta in
// partial (2*N*C doubles: [N, C] sums of dy * xhat, then [N, C] sums of dy), which
// add_sample_partials adds up. mask: the fused ReLU's, or null.
template <typename T>
void groupnorm_backward_sample(Index i, T* dx, double* partial, const T* dy, const std::uint8_t* mask, const T* x,
                               const double* mean, const double* rstd, const T* gamma, Index n, Index c, Index hw,
                               Index groups) {
  const Index cg = c / groups;
  const double len = static_cast<double>(cg * hw);
  double* pg = partial;          // [N, C] sum dy * xhat
  double* pb = partial + n * c;  // [N, C] sum dy
  for (Index g = 0; g < groups; ++g) {
    const double mu = mean[i * groups + g], r = rstd[i * groups + g];
    double sg = 0, sgx = 0;  // sums of gamma*dy and gamma*dy*xhat over the group
    for (Index ch = g * cg; ch < (g + 1) * cg; ++ch) {
      const Index o = (i * c + ch) * hw;
      detail::LaneSum lsdy, lsdyx;
      detail::add_dy_sums(lsdy, lsdyx, dy + o, mask ? mask + o : nullptr, x + o, hw, mu, r);
      const double sdy = lsdy.total(), sdyx = lsdyx.total();
      pg[i * c + ch] = sdyx;
      pb[i * c + ch] = sdy;
      sg += gamma[ch] * sdy;
      sgx += gamma[ch] * sdyx;
    }
    const double mg = sg / len, mgx = sgx / len;
    for (Index ch = g * cg; ch < (g + 1) * cg; ++ch) {
      const Index o = (i * c + ch) * hw;
      detail::with_dy(dy + o, mask ? mask + o : nullptr, [&](auto dyk) {
        for (Index k = 0; k < hw; ++k) {
          const double xhat = (x[o + k] - mu) * r;
          dx[o + k] = static_cast<T>(r * (gamma[ch] * dyk(k) - mg - xhat * mgx));
        }
      });
    }
  }
}

// GroupNorm backward of the whole batch. partial: scratch of 2*N*C doubles; mask: the fused
// ReLU's, or null.
template <typename T>
void groupnorm_backward(T* dx, T* dgamma, T* dbeta, double* partial, const T* dy, const std::uint8_t* mask, const T* x,
                        const double* mean, const double* rstd, const T* gamma, Index n, Index c,
                        Index hw, Index groups) {
  parallel_for(n, [&](Index i) {
    groupnorm_backward_sample(i, dx, partial, dy, mask, x, mean, rstd, gamma, n, c, hw, groups);
  });
  add_sample_partials(dgamma, dbeta, partial, n, c);
}

}  // namespace glia
