// glia/kernels/groupnorm.hpp: GroupNorm's maths (LayerNorm of the reference net is one group),
// the reference pair first, then the per-sample kernels that the layer runs
// (nn/normalization.hpp) and that must equal it.
//
// x, y, dx, dy: [N, C, HW], G groups of C/G channels; per (n, g) the set S = {(n, c, hw): c in
// group g}, M = (C/G)*HW values; mean, rstd: [N, G]:
//   mean = (1/M) sum_S x,  var = (1/M) sum_S (x - mean)^2 (biased),  rstd = 1/sqrt(var + eps)
//   xhat = (x - mean) * rstd,   y = gamma_c * xhat + beta_c   (then max(y, 0) with a fused ReLU)
// The same in training and evaluation. Backward (docs/layers/normalization.md), with dy taken
// through the fused ReLU first and g = gamma_c * dy:
//   dbeta_c += sum_{n,hw} dy,   dgamma_c += sum_{n,hw} dy * xhat
//   dx = rstd * (g - mean_S(g) - xhat * mean_S(g * xhat))
// The reference functions are that maths in plain double loops, whole batch, for tests; the
// per-sample kernels (sums in kernels/norm_sums.hpp) do one sample's part each: the statistics
// of a sample need only that sample, and dgamma / dbeta come from per-sample partial sums added
// by the gradient chunks' tree (add_sample_partials).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "glia/kernels/norm_sums.hpp"

namespace glia {

// --- Reference ----------------------------------------------------------------------------

template <typename T>
void groupnorm_forward_reference(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta, Index n,
                                 Index c, Index hw, Index groups, double eps, bool relu) {
  const Index cg = c / groups, len = cg * hw;
  for (Index i = 0; i < n; ++i)
    for (Index g = 0; g < groups; ++g) {
      const T* xg = x + (i * c + g * cg) * hw;
      double s = 0, q = 0;
      for (Index k = 0; k < len; ++k) s += xg[k];
      const double mu = s / static_cast<double>(len);
      for (Index k = 0; k < len; ++k) q += (xg[k] - mu) * (xg[k] - mu);
      const double r = 1.0 / std::sqrt(q / static_cast<double>(len) + eps);
      mean[i * groups + g] = mu;
      rstd[i * groups + g] = r;
      for (Index k = 0; k < len; ++k) {
        const Index ch = g * cg + k / hw, o = (i * c + g * cg) * hw + k;
        const double v = gamma[ch] * ((x[o] - mu) * r) + beta[ch];
        y[o] = static_cast<T>(relu ? std::max(v, 0.0) : v);
      }
    }
}

// dx, and dgamma / dbeta added to; y is the forward's output (read only with relu: dy passes
// where y > 0).
template <typename T>
void groupnorm_backward_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* y, const T* x, const double* mean,
                                  const double* rstd, const T* gamma, Index n, Index c, Index hw, Index groups, bool relu) {
  const Index cg = c / groups, len = cg * hw;
  auto grad = [&](Index o) { return relu && !(y[o] > T(0)) ? 0.0 : static_cast<double>(dy[o]); };
  for (Index i = 0; i < n; ++i)
    for (Index g = 0; g < groups; ++g) {
      const double mu = mean[i * groups + g], r = rstd[i * groups + g];
      const Index base = (i * c + g * cg) * hw;
      double sum_g = 0, sum_gxhat = 0;
      for (Index k = 0; k < len; ++k) {
        const Index ch = g * cg + k / hw, o = base + k;
        const double xhat = (x[o] - mu) * r;
        sum_g += gamma[ch] * grad(o);
        sum_gxhat += gamma[ch] * grad(o) * xhat;
        dbeta[ch] += static_cast<T>(grad(o));
        dgamma[ch] += static_cast<T>(grad(o) * xhat);
      }
      const double mean_g = sum_g / static_cast<double>(len), mean_gxhat = sum_gxhat / static_cast<double>(len);
      for (Index k = 0; k < len; ++k) {
        const Index ch = g * cg + k / hw, o = base + k;
        const double xhat = (x[o] - mu) * r;
        dx[o] = static_cast<T>(r * (gamma[ch] * grad(o) - mean_g - xhat * mean_gxhat));
      }
    }
}

// --- Per-sample kernels --------------------------------------------------------------------

// Forward of sample i: its mean/rstd [G] entries and its y values; the fused ReLU if relu, its
// mask written where relu_mask is not null.
template <typename T>
void groupnorm_forward_sample(Index i, T* y, bool relu, std::uint8_t* relu_mask, double* mean, double* rstd, const T* x,
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
      detail::affine_run(y + oc, relu, relu_mask ? relu_mask + oc : nullptr, x + oc, scale, offset, hw);
    }
  }
}

// Backward of sample i: its dx values, and its partial sums for dgamma / dbeta,
// sample_dyxhat[i*c + ch] = sum dy * xhat and sample_dy[i*c + ch] = sum dy, which
// add_sample_partials adds up. relu_mask: the fused ReLU's, or null.
template <typename T>
void groupnorm_backward_sample(Index i, T* dx, double* sample_dyxhat, double* sample_dy, const T* dy,
                               const std::uint8_t* relu_mask, const T* x, const double* mean, const double* rstd,
                               const T* gamma, Index c, Index hw, Index groups) {
  const Index cg = c / groups;
  const double len = static_cast<double>(cg * hw);
  for (Index g = 0; g < groups; ++g) {
    const double mu = mean[i * groups + g], r = rstd[i * groups + g];
    double sg = 0, sgx = 0;  // sums of gamma*dy and gamma*dy*xhat over the group
    for (Index ch = g * cg; ch < (g + 1) * cg; ++ch) {
      const Index o = (i * c + ch) * hw;
      detail::LaneSum lsdy, lsdyx;
      detail::add_dy_sums(lsdy, lsdyx, dy + o, relu_mask ? relu_mask + o : nullptr, x + o, hw, mu, r);
      const double sdy = lsdy.total(), sdyx = lsdyx.total();
      sample_dyxhat[i * c + ch] = sdyx;
      sample_dy[i * c + ch] = sdy;
      sg += gamma[ch] * sdy;
      sgx += gamma[ch] * sdyx;
    }
    const double mg = sg / len, mgx = sgx / len;
    for (Index ch = g * cg; ch < (g + 1) * cg; ++ch) {
      const Index o = (i * c + ch) * hw;
      detail::norm_dx_run(dx + o, dy + o, relu_mask ? relu_mask + o : nullptr, x + o, hw, r,
                          static_cast<double>(gamma[ch]), mg, mgx, mu, r);
    }
  }
}

}  // namespace glia
