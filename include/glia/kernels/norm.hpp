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
// (shifting by a value of the set keeps the cancellation small whatever the mean).
// Fused ReLU: where mask is not null (or relu is set, for the *_sample kernels), the forward
// kernels apply ReLU after the affine,
//   y = max(gamma * xhat + beta, 0)  (a NaN stays NaN, as in ReLU),  mask = [y > 0]  (uint8),
// and the backward kernels take dy through the ReLU first (dy <- mask ? dy : 0), so the pair
// costs two passes over memory less in each direction than the norm followed by a ReLU module.
// BatchNorm is parallel over channels, GroupNorm over samples; the per-sample GroupNorm
// contributions to dgamma/dbeta are reduced in sample order, so results do not depend on the
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

// Batch statistics per channel: mean[c], var[c] (biased), in one pass.
template <typename T>
void batchnorm_stats(double* mean, double* var, const T* x, Index n, Index c, Index hw) {
  parallel_for(c, [&](Index ch) {
    detail::LaneSum s, q;
    const double shift = x[ch * hw];
    for (Index i = 0; i < n; ++i) detail::add_shifted_sums(s, q, x + (i * c + ch) * hw, hw, shift);
    detail::shifted_moments(mean[ch], var[ch], s, q, shift, static_cast<double>(n * hw));
  });
}

// y = gamma * (x - mean) * rstd + beta per channel, for given mean and rstd; then ReLU and its
// mask where mask is not null.
template <typename T>
void batchnorm_apply(T* y, std::uint8_t* mask, const T* x, const double* mean, const double* rstd, const T* gamma,
                     const T* beta, Index n, Index c, Index hw) {
  parallel_for(c, [&](Index ch) {
    T scale, shift;
    detail::affine_coefficients(scale, shift, gamma[ch], beta[ch], mean[ch], rstd[ch]);
    for (Index i = 0; i < n; ++i) {
      const Index o = (i * c + ch) * hw;
      detail::affine_run(y + o, mask != nullptr, mask ? mask + o : nullptr, x + o, scale, shift, hw);
    }
  });
}

// The same for sample i alone, with the coefficients of detail::affine_coefficients per
// channel (scale[c], shift[c]): the values of batchnorm_apply, bit for bit. The fused ReLU if
// relu, its mask written where mask is not null.
template <typename T>
void batchnorm_apply_sample(Index i, T* y, bool relu, std::uint8_t* mask, const T* x, const T* scale, const T* shift,
                            Index c, Index hw) {
  for (Index ch = 0; ch < c; ++ch) {
    const Index o = (i * c + ch) * hw;
    detail::affine_run(y + o, relu, mask ? mask + o : nullptr, x + o, scale[ch], shift[ch], hw);
  }
}

// Backward of batch-statistics normalisation (training mode); mask: the fused ReLU's, or null.
template <typename T>
void batchnorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const std::uint8_t* mask, const T* x, const double* mean,
                        const double* rstd, const T* gamma, Index n, Index c, Index hw) {
  const double m = static_cast<double>(n * hw);
  parallel_for(c, [&](Index ch) {
    detail::LaneSum lsdy, lsdyx;
    for (Index i = 0; i < n; ++i) {
      const Index o = (i * c + ch) * hw;
      detail::add_dy_sums(lsdy, lsdyx, dy + o, mask ? mask + o : nullptr, x + o, hw, mean[ch], rstd[ch]);
    }
    const double sdy = lsdy.total(), sdyx = lsdyx.total();
    dbeta[ch] += static_cast<T>(sdy);
    dgamma[ch] += static_cast<T>(sdyx);
    const double a = gamma[ch] * rstd[ch];
    const double mg = sdy / m, mgx = sdyx / m;  // mean of dy, mean of dy*xhat
    for (Index i = 0; i < n; ++i) {
      const Index o = (i * c + ch) * hw;
      detail::with_dy(dy + o, mask ? mask + o : nullptr, [&](auto dyk) {
        for (Index k = 0; k < hw; ++k) {
          const double xhat = (x[o + k] - mean[ch]) * rstd[ch];
          dx[o + k] = static_cast<T>(a * (dyk(k) - mg - xhat * mgx));
        }
      });
    }
  });
}

// Backward of normalisation with fixed statistics (evaluation mode); mask as above.
template <typename T>
void batchnorm_backward_fixed(T* dx, T* dgamma, T* dbeta, const T* dy, const std::uint8_t* mask, const T* x,
                              const double* mean, const double* rstd, const T* gamma, Index n,
                              Index c, Index hw) {
  parallel_for(c, [&](Index ch) {
    detail::LaneSum sdy, sdyx;
    const double a = gamma[ch] * rstd[ch];
    for (Index i = 0; i < n; ++i) {
      const Index o = (i * c + ch) * hw;
      const std::uint8_t* mo = mask ? mask + o : nullptr;
      detail::add_dy_sums(sdy, sdyx, dy + o, mo, x + o, hw, mean[ch], rstd[ch]);
      detail::with_dy(dy + o, mo, [&](auto dyk) {
        for (Index k = 0; k < hw; ++k) dx[o + k] = static_cast<T>(a * dyk(k));
      });
    }
    dbeta[ch] += static_cast<T>(sdy.total());
    dgamma[ch] += static_cast<T>(sdyx.total());
  });
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
// groupnorm_reduce_partials adds up. mask: the fused ReLU's, or null.
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

// dgamma / dbeta += the per-sample partials of groupnorm_backward_sample, added in sample order
// (so the result does not depend on which thread ran which sample).
template <typename T>
void groupnorm_reduce_partials(T* dgamma, T* dbeta, const double* partial, Index n, Index c) {
  const double* pg = partial;
  const double* pb = partial + n * c;
  for (Index ch = 0; ch < c; ++ch) {
    double sg = 0, sb = 0;
    for (Index i = 0; i < n; ++i) {
      sg += pg[i * c + ch];
      sb += pb[i * c + ch];
    }
    dgamma[ch] += static_cast<T>(sg);
    dbeta[ch] += static_cast<T>(sb);
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
  groupnorm_reduce_partials(dgamma, dbeta, partial, n, c);
}

}  // namespace glia
