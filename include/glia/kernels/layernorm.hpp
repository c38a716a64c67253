// glia/kernels/layernorm.hpp: the maths of PyTorch's LayerNorm (nn/layer_norm.hpp), row by row.
//
// A row is M consecutive values (the normalised trailing dimensions); weight w and bias b [M]
// (null: no affine, w = 1, b = 0). For each row:
//   mean = (1/M) sum x,  var = (1/M) sum (x - mean)^2 (biased),  rstd = 1 / sqrt(var + eps)
//   xhat = (x - mean) * rstd,   y[k] = w[k] * xhat[k] + b[k]
// Backward, with g[k] = dy[k] * w[k]:
//   db[k] += sum_rows dy[k],   dw[k] += sum_rows dy[k] * xhat[k]
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
// The kernels take `rows` rows at a time (one sample's): the statistics in double, two passes
// (mean, then squared deviations); the parameter gradients as that sample's partial sums
// (sample_dw, sample_db [M], written, not added), which the caller adds up by the gradient
// chunks' tree (kernels/batch_chunks.hpp).
#pragma once

#include <cmath>

#include "glia/kernels/parallel.hpp"

namespace glia {

template <typename T>
void layernorm_forward_rows(T* y, double* mean, double* rstd, const T* x, const T* w, const T* b, Index rows, Index m,
                            double eps) {
  for (Index r = 0; r < rows; ++r) {
    const T* xr = x + r * m;
    double s = 0, q = 0;
    for (Index k = 0; k < m; ++k) s += xr[k];
    const double mu = s / static_cast<double>(m);
    for (Index k = 0; k < m; ++k) q += (xr[k] - mu) * (xr[k] - mu);
    const double rs = 1.0 / std::sqrt(q / static_cast<double>(m) + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (Index k = 0; k < m; ++k) {
      const double xhat = (xr[k] - mu) * rs;
      y[r * m + k] = static_cast<T>(w ? w[k] * xhat + b[k] : xhat);
    }
  }
}

template <typename T>
void layernorm_backward_rows(T* dx, double* sample_dw, double* sample_db, const T* dy, const T* x, const double* mean,
                             const double* rstd, const T* w, Index rows, Index m) {
  for (Index k = 0; k < m && sample_dw; ++k) sample_dw[k] = sample_db[k] = 0;
  for (Index r = 0; r < rows; ++r) {
    const T* xr = x + r * m;
    const T* dyr = dy + r * m;
    double sg = 0, sgx = 0;
    for (Index k = 0; k < m; ++k) {
      const double xhat = (xr[k] - mean[r]) * rstd[r], g = w ? dyr[k] * static_cast<double>(w[k]) : dyr[k];
      sg += g;
      sgx += g * xhat;
      if (sample_dw) {
        sample_dw[k] += dyr[k] * xhat;
        sample_db[k] += dyr[k];
      }
    }
    const double mg = sg / static_cast<double>(m), mgx = sgx / static_cast<double>(m);
    for (Index k = 0; k < m; ++k) {
      const double xhat = (xr[k] - mean[r]) * rstd[r], g = w ? dyr[k] * static_cast<double>(w[k]) : dyr[k];
      dx[r * m + k] = static_cast<T>(rstd[r] * (g - mg - xhat * mgx));
    }
  }
}

}  // namespace glia
