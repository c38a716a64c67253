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
// Sums are accumulated in double whatever T is. mean and rstd are cached per set for backward.
// BatchNorm is parallel over channels, GroupNorm over samples; the per-sample GroupNorm
// contributions to dgamma/dbeta are reduced in sample order, so results do not depend on the
// thread count.
#pragma once

#include <cmath>

#include "glia/kernels/parallel.hpp"

namespace glia {

// Batch statistics per channel: mean[c], var[c] (biased).
template <typename T>
void batchnorm_stats(double* mean, double* var, const T* x, Index n, Index c, Index hw) {
  parallel_for(c, [&](Index ch) {
    double s = 0;
    for (Index i = 0; i < n; ++i)
      for (Index k = 0; k < hw; ++k) s += x[(i * c + ch) * hw + k];
    const double m = s / static_cast<double>(n * hw);
    double q = 0;
    for (Index i = 0; i < n; ++i)
      for (Index k = 0; k < hw; ++k) {
        const double d = x[(i * c + ch) * hw + k] - m;
        q += d * d;
      }
    mean[ch] = m;
    var[ch] = q / static_cast<double>(n * hw);
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
    double sdy = 0, sdyx = 0;
    for (Index i = 0; i < n; ++i) {
      const Index o = (i * c + ch) * hw;
      for (Index k = 0; k < hw; ++k) {
        const double xhat = (x[o + k] - mean[ch]) * rstd[ch];
        sdy += dy[o + k];
        sdyx += dy[o + k] * xhat;
      }
    }
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
    double sdy = 0, sdyx = 0;
    const double a = gamma[ch] * rstd[ch];
    for (Index i = 0; i < n; ++i) {
      const Index o = (i * c + ch) * hw;
      for (Index k = 0; k < hw; ++k) {
        sdy += dy[o + k];
        sdyx += dy[o + k] * (x[o + k] - mean[ch]) * rstd[ch];
        dx[o + k] = static_cast<T>(a * dy[o + k]);
      }
    }
    dbeta[ch] += static_cast<T>(sdy);
    dgamma[ch] += static_cast<T>(sdyx);
  });
}

// GroupNorm forward. mean/rstd: [N*G].
template <typename T>
void groupnorm_forward(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta,
                       Index n, Index c, Index hw, Index groups, double eps) {
  const Index cg = c / groups, len = cg * hw;
  parallel_for(n, [&](Index i) {
    for (Index g = 0; g < groups; ++g) {
      const Index o = (i * c + g * cg) * hw;
      double s = 0;
      for (Index k = 0; k < len; ++k) s += x[o + k];
      const double mu = s / static_cast<double>(len);
      double q = 0;
      for (Index k = 0; k < len; ++k) q += (x[o + k] - mu) * (x[o + k] - mu);
      const double r = 1.0 / std::sqrt(q / static_cast<double>(len) + eps);
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
        double sdy = 0, sdyx = 0;
        for (Index k = 0; k < hw; ++k) {
          sdy += dy[o + k];
          sdyx += dy[o + k] * (x[o + k] - mu) * r;
        }
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
