// glia/kernels/softmax.hpp: log-softmax, negative log-likelihood and cross-entropy over rows.
//
// x, y: [N, C] row-major; targets: N class indices in [0, C).
//   log_softmax:  y[n,c] = x[n,c] - m_n - log sum_k exp(x[n,k] - m_n),  m_n = max_k x[n,k]
//                 (subtracting the max keeps exp from overflowing)
//                 dx[n,c] = dy[n,c] - exp(y[n,c]) * sum_k dy[n,k]
//   nll (mean):   L = -(1/N) sum_n logp[n, t_n]        dlogp[n,c] = -[c == t_n] / N
//   cross-entropy with label smoothing s on logits (PyTorch's definition):
//                 q[n,c] = (1 - s) [c == t_n] + s / C,   L = -(1/N) sum_{n,c} q[n,c] logp[n,c]
//                 dx[n,c] = (softmax(x)[n,c] - q[n,c]) / N
//   with class weights w[C] (PyTorch's weight=, mean reduction over the weights of the targets):
//                 a[n,c] = ((1 - s) w[t_n] [c == t_n] + (s / C) w[c]) / W,   W = sum_n w[t_n]
//                 L = -sum_{n,c} a[n,c] logp[n,c]     dx[n,c] = softmax(x)[n,c] sum_k a[n,k] - a[n,c]
//   distillation (Hinton et al. 2015) of student logits x towards teacher logits z at
//   temperature tau, mixed with the cross-entropy above by a weight a:
//                 p = softmax(z / tau),  r = log_softmax(x / tau)
//                 KD = (tau^2 / N) sum_{n,c} p[n,c] (log p[n,c] - r[n,c])   (KL(p || softmax(x/tau)),
//                      PyTorch's kl_div(r, p, reduction='batchmean') * tau^2; 0 log 0 = 0)
//                 L = (1 - a) CE(x) + a KD
//                 dx[n,c] = (1 - a) (softmax(x)[n,c] - q[n,c]) / N + a tau (softmax(x/tau)[n,c] - p[n,c]) / N
//                 (tau^2 keeps the soft part's gradient the size of the hard part's as tau grows)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "glia/kernels/parallel.hpp"

namespace glia {

template <typename T>
void log_softmax_forward(T* y, const T* x, Index n, Index c) {
  parallel_for(n, [&](Index i) {
    const T* xr = x + i * c;
    T m = xr[0];
    for (Index k = 1; k < c; ++k) m = xr[k] > m ? xr[k] : m;
    double s = 0;
    for (Index k = 0; k < c; ++k) s += std::exp(static_cast<double>(xr[k] - m));
    const T lse = m + static_cast<T>(std::log(s));
    for (Index k = 0; k < c; ++k) y[i * c + k] = xr[k] - lse;
  });
}

template <typename T>
void log_softmax_backward(T* dx, const T* dy, const T* y, Index n, Index c) {
  parallel_for(n, [&](Index i) {
    double s = 0;
    for (Index k = 0; k < c; ++k) s += dy[i * c + k];
    for (Index k = 0; k < c; ++k)
      dx[i * c + k] = static_cast<T>(dy[i * c + k] - std::exp(static_cast<double>(y[i * c + k])) * s);
  });
}

// Returns the mean loss; writes dlogp.
template <typename T>
T nll_loss(T* dlogp, const T* logp, const std::int32_t* targets, Index n, Index c) {
  double loss = 0;
  for (Index i = 0; i < n; ++i) {
    loss -= logp[i * c + targets[i]];
    for (Index k = 0; k < c; ++k) dlogp[i * c + k] = k == targets[i] ? T(-1) / static_cast<T>(n) : T(0);
  }
  return static_cast<T>(loss / static_cast<double>(n));
}

// Returns the mean loss; writes logp (scratch [N, C]) and dx. mean_over: the count the mean
// divides by, 0 for n (a rank's share of a global batch divides by the global batch's count).
template <typename T>
T cross_entropy_loss(T* dx, T* logp, const T* x, const std::int32_t* targets, Index n, Index c,
                     double smoothing, Index mean_over = 0) {
  log_softmax_forward(logp, x, n, c);
  const double m = static_cast<double>(mean_over ? mean_over : n);
  double loss = 0;
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < c; ++k) {
      const double q = (k == targets[i] ? 1.0 - smoothing : 0.0) + smoothing / static_cast<double>(c);
      loss -= q * logp[i * c + k];
      dx[i * c + k] = static_cast<T>((std::exp(static_cast<double>(logp[i * c + k])) - q) / m);
    }
  return static_cast<T>(loss / m);
}

// As cross_entropy_loss, with class weights w (C of them, >= 0, W > 0: checked by the caller).
template <typename T>
T weighted_cross_entropy_loss(T* dx, T* logp, const T* x, const std::int32_t* targets, const double* w, Index n,
                              Index c, double smoothing) {
  log_softmax_forward(logp, x, n, c);
  double total_weight = 0;
  for (Index i = 0; i < n; ++i) total_weight += w[targets[i]];
  double loss = 0;
  for (Index i = 0; i < n; ++i) {
    double row = 0;  // sum_k a[n,k]
    for (Index k = 0; k < c; ++k)
      row += ((k == targets[i] ? (1.0 - smoothing) * w[k] : 0.0) + smoothing / static_cast<double>(c) * w[k]) / total_weight;
    for (Index k = 0; k < c; ++k) {
      const double a =
          ((k == targets[i] ? (1.0 - smoothing) * w[k] : 0.0) + smoothing / static_cast<double>(c) * w[k]) / total_weight;
      loss -= a * logp[i * c + k];
      dx[i * c + k] = static_cast<T>(std::exp(static_cast<double>(logp[i * c + k])) * row - a);
    }
  }
  return static_cast<T>(loss);
}

namespace detail {
// The row's maximum m and log sum_k exp((row[k] - m) / tau), in double: log_softmax(row / tau)[k]
// is (row[k] - m) / tau - lse.
template <typename T>
void softened_log_sum_exp(const T* row, Index c, double tau, double& m, double& lse) {
  m = static_cast<double>(row[0]);
  for (Index k = 1; k < c; ++k) m = std::max(m, static_cast<double>(row[k]));
  double s = 0;
  for (Index k = 0; k < c; ++k) s += std::exp((static_cast<double>(row[k]) - m) / tau);
  lse = std::log(s);
}
}  // namespace detail

// Returns the mean loss L above; writes logp (scratch [N, C], log_softmax(x)) and dx. The
// teacher logits z are only read: no gradient flows to the teacher. mean_over as in
// cross_entropy_loss.
template <typename T>
T distillation_loss(T* dx, T* logp, const T* x, const T* z, const std::int32_t* targets, Index n, Index c,
                    double smoothing, double weight, double temperature, Index mean_over = 0) {
  const double hard = cross_entropy_loss(dx, logp, x, targets, n, c, smoothing, mean_over);
  const double m = static_cast<double>(mean_over ? mean_over : n);
  double soft = 0;
  for (Index i = 0; i < n; ++i) {
    const T* xr = x + i * c;
    const T* zr = z + i * c;
    double mx, lsx, mz, lsz;
    detail::softened_log_sum_exp(xr, c, temperature, mx, lsx);
    detail::softened_log_sum_exp(zr, c, temperature, mz, lsz);
    for (Index k = 0; k < c; ++k) {
      const double r = (static_cast<double>(xr[k]) - mx) / temperature - lsx;  // log softmax(x / tau)
      const double lp = (static_cast<double>(zr[k]) - mz) / temperature - lsz;  // log p
      const double p = std::exp(lp);
      if (p > 0) soft += p * (lp - r);
      const double g = (1 - weight) * static_cast<double>(dx[i * c + k]) +
                       weight * temperature * (std::exp(r) - p) / m;
      dx[i * c + k] = static_cast<T>(g);
    }
  }
  soft *= temperature * temperature / m;
  return static_cast<T>((1 - weight) * hard + weight * soft);
}

}  // namespace glia
