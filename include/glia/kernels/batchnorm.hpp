// glia/kernels/batchnorm.hpp: BatchNorm's maths, the reference pair first, then the per-sample
// kernels that the layer runs (nn/normalization.hpp) and that must equal it.
//
// x, y, dx, dy: [N, C, HW]; per channel c the set S_c = {(n, c, hw)}, M = N*HW values:
//   mean_c = (1/M) sum_S x,  var_c = (1/M) sum_S (x - mean_c)^2 (biased),  rstd = 1/sqrt(var + eps)
//   xhat = (x - mean_c) * rstd_c,   y = gamma_c * xhat + beta_c   (then max(y, 0) with a fused ReLU)
// Training normalises with the batch's mean and var; evaluation with the running statistics,
// which are then constants. Backward (derived in docs/layers/normalization.md), with dy taken
// through the fused ReLU first:
//   dbeta_c += sum_S dy,   dgamma_c += sum_S dy * xhat
//   training:   dx = gamma_c * rstd_c * (dy - mean_S(dy) - xhat * mean_S(dy * xhat))
//   evaluation: dx = gamma_c * rstd_c * dy
// The reference functions are that maths in plain double loops, whole batch, for tests. The
// per-sample kernels split the same work so that a loop over samples can carry it (the
// plan, nn/plan.hpp, forward and backward), the sums in kernels/norm_sums.hpp:
// - forward, training: batchnorm_sample_moments(i) per sample, batchnorm_combine_moments in
//   sample order (Chan, Golub & LeVeque's pairwise update), batchnorm_apply_sample(i);
// - backward, training: batchnorm_backward_sums_sample(i) per sample, batchnorm_backward_means
//   in sample order, add_sample_partials for dgamma, dbeta, batchnorm_backward_sample(i);
// - backward, evaluation: batchnorm_backward_sums_sample(i) and batchnorm_backward_fixed_sample(i)
//   per sample, add_sample_partials for dgamma, dbeta.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "glia/kernels/norm_sums.hpp"

namespace glia {

// --- Reference ----------------------------------------------------------------------------

// The batch statistics by their definition, two passes: mean[c], var[c] (biased).
template <typename T>
void batchnorm_statistics_reference(double* mean, double* var, const T* x, Index n, Index c, Index hw) {
  const double m = static_cast<double>(n * hw);
  for (Index ch = 0; ch < c; ++ch) {
    double s = 0, q = 0;
    for (Index i = 0; i < n; ++i)
      for (Index k = 0; k < hw; ++k) s += x[(i * c + ch) * hw + k];
    mean[ch] = s / m;
    for (Index i = 0; i < n; ++i)
      for (Index k = 0; k < hw; ++k) q += (x[(i * c + ch) * hw + k] - mean[ch]) * (x[(i * c + ch) * hw + k] - mean[ch]);
    var[ch] = q / m;
  }
}

// y = gamma * (x - mean) * rstd + beta, then ReLU if relu; mean, rstd: [C] (batch or running).
template <typename T>
void batchnorm_forward_reference(T* y, const T* x, const double* mean, const double* rstd, const T* gamma, const T* beta,
                                 Index n, Index c, Index hw, bool relu) {
  for (Index i = 0; i < n; ++i)
    for (Index ch = 0; ch < c; ++ch)
      for (Index k = 0; k < hw; ++k) {
        const Index o = (i * c + ch) * hw + k;
        const double v = gamma[ch] * ((x[o] - mean[ch]) * rstd[ch]) + beta[ch];
        y[o] = static_cast<T>(relu ? std::max(v, 0.0) : v);
      }
}

// dx, and dgamma / dbeta added to; y is the forward's output (read only with relu: dy passes
// where y > 0); batch_statistics: the training-mode dx, else the evaluation-mode one.
template <typename T>
void batchnorm_backward_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* y, const T* x, const double* mean,
                                  const double* rstd, const T* gamma, Index n, Index c, Index hw, bool relu,
                                  bool batch_statistics) {
  const double m = static_cast<double>(n * hw);
  auto grad = [&](Index o) { return relu && !(y[o] > T(0)) ? 0.0 : static_cast<double>(dy[o]); };
  for (Index ch = 0; ch < c; ++ch) {
    double sum_dy = 0, sum_dyxhat = 0;
    for (Index i = 0; i < n; ++i)
      for (Index k = 0; k < hw; ++k) {
        const Index o = (i * c + ch) * hw + k;
        sum_dy += grad(o);
        sum_dyxhat += grad(o) * (x[o] - mean[ch]) * rstd[ch];
      }
    dbeta[ch] += static_cast<T>(sum_dy);
    dgamma[ch] += static_cast<T>(sum_dyxhat);
    const double mean_dy = batch_statistics ? sum_dy / m : 0, mean_dyxhat = batch_statistics ? sum_dyxhat / m : 0;
    for (Index i = 0; i < n; ++i)
      for (Index k = 0; k < hw; ++k) {
        const Index o = (i * c + ch) * hw + k;
        const double xhat = (x[o] - mean[ch]) * rstd[ch];
        dx[o] = static_cast<T>(gamma[ch] * rstd[ch] * (grad(o) - mean_dy - xhat * mean_dyxhat));
      }
  }
}

// --- Per-sample kernels: forward -----------------------------------------------------------

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

// y = gamma * (x - mean) * rstd + beta for sample i, with the per-channel coefficients of
// detail::affine_coefficients (scale[c], shift[c]); the fused ReLU if relu, its mask written
// where relu_mask is not null.
template <typename T>
void batchnorm_apply_sample(Index i, T* y, bool relu, std::uint8_t* relu_mask, const T* x, const T* scale, const T* shift,
                            Index c, Index hw) {
  for (Index ch = 0; ch < c; ++ch) {
    const Index o = (i * c + ch) * hw;
    detail::affine_run(y + o, relu, relu_mask ? relu_mask + o : nullptr, x + o, scale[ch], shift[ch], hw);
  }
}

// --- Per-sample kernels: backward ----------------------------------------------------------

// Sample i's sums per channel: sample_dyxhat[i*c + ch] = sum dy * xhat and sample_dy[i*c + ch] =
// sum dy (dy through the fused ReLU's mask, if any).
template <typename T>
void batchnorm_backward_sums_sample(Index i, double* sample_dyxhat, double* sample_dy, const T* dy,
                                    const std::uint8_t* relu_mask, const T* x, const double* mean, const double* rstd,
                                    Index c, Index hw) {
  for (Index ch = 0; ch < c; ++ch) {
    const Index o = (i * c + ch) * hw;
    detail::LaneSum lsdy, lsdyx;
    detail::add_dy_sums(lsdy, lsdyx, dy + o, relu_mask ? relu_mask + o : nullptr, x + o, hw, mean[ch], rstd[ch]);
    sample_dyxhat[i * c + ch] = lsdyx.total();
    sample_dy[i * c + ch] = lsdy.total();
  }
}

// Training: the batch means mean_dyxhat[c], mean_dy[c] that dx needs, from the per-sample sums
// added in sample order (dgamma and dbeta: add_sample_partials).
inline void batchnorm_backward_means(double* mean_dyxhat, double* mean_dy, const double* sample_dyxhat,
                                     const double* sample_dy, Index n, Index c, Index hw) {
  const double m = static_cast<double>(n * hw);
  for_each_channel_sum(sample_dyxhat, sample_dy, n, c, [&](Index ch, double sum_dyx, double sum_dy) {
    mean_dyxhat[ch] = sum_dyx / m;
    mean_dy[ch] = sum_dy / m;
  });
}

// Training: dx of sample i, dx = gamma * rstd * (dy - mean_dy - xhat * mean_dyxhat).
template <typename T>
void batchnorm_backward_sample(Index i, T* dx, const T* dy, const std::uint8_t* relu_mask, const T* x, const double* mean,
                               const double* rstd, const T* gamma, const double* mean_dyxhat, const double* mean_dy, Index c,
                               Index hw) {
  for (Index ch = 0; ch < c; ++ch) {
    const Index o = (i * c + ch) * hw;
    detail::norm_dx_run(dx + o, dy + o, relu_mask ? relu_mask + o : nullptr, x + o, hw, gamma[ch] * rstd[ch], 1.0,
                        mean_dy[ch], mean_dyxhat[ch], mean[ch], rstd[ch]);
  }
}

// Evaluation: dx of sample i for fixed statistics, dx = gamma * rstd * dy.
template <typename T>
void batchnorm_backward_fixed_sample(Index i, T* dx, const T* dy, const std::uint8_t* relu_mask, const double* rstd,
                                     const T* gamma, Index c, Index hw) {
  for (Index ch = 0; ch < c; ++ch) {
    const Index o = (i * c + ch) * hw;
    detail::scaled_dy_run(dx + o, dy + o, relu_mask ? relu_mask + o : nullptr, hw, gamma[ch] * rstd[ch]);
  }
}

}  // namespace glia
