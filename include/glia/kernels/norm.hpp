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
// vectorise, and the result still depends on the data alone. mean and rstd are cached per set
// for backward.
// BatchNorm is parallel over channels, GroupNorm over samples; the per-sample GroupNorm
// contributions to dgamma/dbeta are reduced in sample order, so results do not depend on the
// thread count.
#pragma once

#include <cmath>

#include "glia/kernels/parallel.hpp"

namespace glia {
namespace detail {

// A double-precision sum kept in kSumLanes partial sums: element k of a run goes to lane
// k % kSumLanes, and total() adds the lanes pairwise in a fixed order.
constexpr Index kSumLanes = 8;

struct LaneSum {
  double lane[kSumLanes] = {};

  // Adds term(k) for k = 0..len-1.
  template <typename F>
  void add(Index len, F&& term) {
    Index k = 0;
    for (; k + kSumLanes <= len; k += kSumLanes)
      for (Index j = 0; j < kSumLanes; ++j) lane[j] += term(k + j);
    for (Index j = 0; k < len; ++k, ++j) lane[j] += term(k);
  }
  double total() const {
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
  }
};

// sum dy and sum dy * (x - mu) * r over one run of len values, added to sdy and sdyx.
// One pass over both arrays, with LaneSum::add's lane assignment. The lanes are copied into
// locals: the compiler cannot know that sdy and sdyx are different objects, and would not
// vectorise otherwise.
template <typename T>
void add_dy_sums(LaneSum& sdy, LaneSum& sdyx, const T* dy, const T* x, Index len, double mu, double r) {
  double a[kSumLanes], b[kSumLanes];
  for (Index j = 0; j < kSumLanes; ++j) {
    a[j] = sdy.lane[j];
    b[j] = sdyx.lane[j];
  }
  Index k = 0;
  for (; k + kSumLanes <= len; k += kSumLanes)
    for (Index j = 0; j < kSumLanes; ++j) {
      const double d = dy[k + j];
      a[j] += d;
      b[j] += d * ((x[k + j] - mu) * r);
    }
  for (Index j = 0; k < len; ++k, ++j) {
    const double d = dy[k];
    a[j] += d;
    b[j] += d * ((x[k] - mu) * r);
  }
  for (Index j = 0; j < kSumLanes; ++j) {
    sdy.lane[j] = a[j];
    sdyx.lane[j] = b[j];
  }
}

}  // namespace detail

// Batch statistics per channel: mean[c], var[c] (biased).
template <typename T>
void batchnorm_stats(double* mean, double* var, const T* x, Index n, Index c, Index hw) {
  parallel_for(c, [&](Index ch) {
    detail::LaneSum s, q;
    for (Index i = 0; i < n; ++i) {
      const T* xi = x + (i * c + ch) * hw;
      s.add(hw, [&](Index k) { return static_cast<double>(xi[k]); });
    }
    const double m = s.total() / static_cast<double>(n * hw);
    for (Index i = 0; i < n; ++i) {
      const T* xi = x + (i * c + ch) * hw;
      q.add(hw, [&](Index k) {
        const double d = xi[k] - m;
        return d * d;
      });
    }
    mean[ch] = m;
    var[ch] = q.total() / static_cast<double>(n * hw);
  });
}

// y = gamma * (x - mean) * rstd + beta per channel, for given mean and rstd.
template <typename T>
void batchnorm_apply(T* y, const T* x, const double* mean, const double* rstd, const T* gamma,
                     const T* beta, Index n, Index c, Index hw) {
  parallel_for(c, [&](Index ch) {
    const T scale = static_cast<T>(gamma[ch] * rstd[ch]);
    const T shift = static_cast<T>(beta[ch] - gamma[ch] * mean[ch] * rstd[ch]);
    for (Index i = 0; i < n; ++i) {
      const Index o = (i * c + ch) * hw;
      for (Index k = 0; k < hw; ++k) y[o + k] = x[o + k] * scale + shift;
    }
  });
}

// Backward of batch-statistics normalisation (training mode).
template <typename T>
void batchnorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean,
                        const double* rstd, const T* gamma, Index n, Index c, Index hw) {
  const double m = static_cast<double>(n * hw);
  parallel_for(c, [&](Index ch) {
    detail::LaneSum lsdy, lsdyx;
    for (Index i = 0; i < n; ++i) {
      const Index o = (i * c + ch) * hw;
      detail::add_dy_sums(lsdy, lsdyx, dy + o, x + o, hw, mean[ch], rstd[ch]);
    }
    const double sdy = lsdy.total(), sdyx = lsdyx.total();
    dbeta[ch] += static_cast<T>(sdy);
    dgamma[ch] += static_cast<T>(sdyx);
    const double a = gamma[ch] * rstd[ch];
    const double mg = sdy / m, mgx = sdyx / m;  // mean of dy, mean of dy*xhat
    for (Index i = 0; i < n; ++i) {
      const Index o = (i * c + ch) * hw;
      for (Index k = 0; k < hw; ++k) {
        const double xhat = (x[o + k] - mean[ch]) * rstd[ch];
        dx[o + k] = static_cast<T>(a * (dy[o + k] - mg - xhat * mgx));
      }
    }
  });
}

// Backward of normalisation with fixed statistics (evaluation mode).
template <typename T>
void batchnorm_backward_fixed(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                              const double* mean, const double* rstd, const T* gamma, Index n,
                              Index c, Index hw) {
  parallel_for(c, [&](Index ch) {
    detail::LaneSum sdy, sdyx;
    const double a = gamma[ch] * rstd[ch];
    for (Index i = 0; i < n; ++i) {
      const Index o = (i * c + ch) * hw;
      detail::add_dy_sums(sdy, sdyx, dy + o, x + o, hw, mean[ch], rstd[ch]);
      for (Index k = 0; k < hw; ++k) dx[o + k] = static_cast<T>(a * dy[o + k]);
    }
    dbeta[ch] += static_cast<T>(sdy.total());
    dgamma[ch] += static_cast<T>(sdyx.total());
  });
}

// GroupNorm forward. mean/rstd: [N*G].
template <typename T>
void groupnorm_forward(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta,
                       Index n, Index c, Index hw, Index groups, double eps) {
  const Index cg = c / groups, len = cg * hw;
  parallel_for(n, [&](Index i) {
    for (Index g = 0; g < groups; ++g) {
      const T* xg = x + (i * c + g * cg) * hw;
      detail::LaneSum s, q;
      s.add(len, [&](Index k) { return static_cast<double>(xg[k]); });
      const double mu = s.total() / static_cast<double>(len);
      q.add(len, [&](Index k) {
        const double d = xg[k] - mu;
        return d * d;
      });
      const double r = 1.0 / std::sqrt(q.total() / static_cast<double>(len) + eps);
      mean[i * groups + g] = mu;
      rstd[i * groups + g] = r;
      for (Index ch = g * cg; ch < (g + 1) * cg; ++ch) {
        const T scale = static_cast<T>(gamma[ch] * r);
        const T shift = static_cast<T>(beta[ch] - gamma[ch] * mu * r);
        const Index oc = (i * c + ch) * hw;
        for (Index k = 0; k < hw; ++k) y[oc + k] = x[oc + k] * scale + shift;
      }
    }
  });
}

// GroupNorm backward. partial: scratch of 2*N*C doubles for the per-sample dgamma/dbeta.
template <typename T>
void groupnorm_backward(T* dx, T* dgamma, T* dbeta, double* partial, const T* dy, const T* x,
                        const double* mean, const double* rstd, const T* gamma, Index n, Index c,
                        Index hw, Index groups) {
  const Index cg = c / groups;
  const double len = static_cast<double>(cg * hw);
  double* pg = partial;          // [N, C] sum dy * xhat
  double* pb = partial + n * c;  // [N, C] sum dy
  parallel_for(n, [&](Index i) {
    for (Index g = 0; g < groups; ++g) {
      const double mu = mean[i * groups + g], r = rstd[i * groups + g];
      double sg = 0, sgx = 0;  // sums of gamma*dy and gamma*dy*xhat over the group
      for (Index ch = g * cg; ch < (g + 1) * cg; ++ch) {
        const Index o = (i * c + ch) * hw;
        detail::LaneSum lsdy, lsdyx;
        detail::add_dy_sums(lsdy, lsdyx, dy + o, x + o, hw, mu, r);
        const double sdy = lsdy.total(), sdyx = lsdyx.total();
        pg[i * c + ch] = sdyx;
        pb[i * c + ch] = sdy;
        sg += gamma[ch] * sdy;
        sgx += gamma[ch] * sdyx;
      }
      const double mg = sg / len, mgx = sgx / len;
      for (Index ch = g * cg; ch < (g + 1) * cg; ++ch) {
        const Index o = (i * c + ch) * hw;
        for (Index k = 0; k < hw; ++k) {
          const double xhat = (x[o + k] - mu) * r;
          dx[o + k] = static_cast<T>(r * (gamma[ch] * dy[o + k] - mg - xhat * mgx));
        }
      }
    }
  });
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

}  // namespace glia
