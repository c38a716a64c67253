// glia/kernels/norm_sums.hpp: the sums the normalisation kernels share (kernels/batchnorm.hpp,
// kernels/groupnorm.hpp).
//
// Sums are accumulated in double whatever T is, in kSumLanes independent partial sums that are
// added in a fixed order at the end (detail::LaneSum): one running sum would be a chain of
// dependent additions, four cycles each, that the compiler may not reorder; the lanes let it
// vectorise, and the result still depends on the data alone.
// Statistics take one pass: the sums of d = x - s and d^2 with s the set's first value, then
//   mu = s + mean(d),  var = mean(d^2) - mean(d)^2
// (shifting by a value of the set keeps the cancellation small whatever the mean).
// The fused ReLU: forward kernels take `relu` (apply max(., 0) after the affine) and a
// `relu_mask` they write where it is not null ([y > 0], uint8, training only); backward kernels
// take the `relu_mask` and send dy through it first (dy <- mask ? dy : 0), null meaning no ReLU.
// dgamma and dbeta come from per-sample partial sums ([N, C] of dy * xhat and of dy) added by
// the gradient chunks' tree (add_sample_partials), so they do not depend on which thread ran
// which sample, nor on how the batch is divided between processes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "glia/kernels/batch_chunks.hpp"
#include "glia/kernels/parallel.hpp"
#include "glia/simd/level.hpp"

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

}  // namespace detail
}  // namespace glia

#define GLIA_SIMD_KERNELS "glia/kernels/norm_sums.inc"
#include "glia/simd/foreach_level.inc"

namespace glia {
namespace detail {

// The loops of norm_sums.inc at kernel_instruction_set()'s level:
// - add_shifted_sums(s, q, x, len, shift): sum d and sum d^2 over one run of len values,
//   d = x - shift, added to the lanes of s and q (element k to lane k % kSumLanes);
// - add_dy_sums(sdy, sdyx, dy, mask, x, len, mu, r): sum d and sum d * (x - mu) * r, d = dy
//   through the fused ReLU's mask (if not null), added to sdy and sdyx;
// - affine_run(y, relu, mask, x, scale, shift, len): y = x * scale + shift, then the fused ReLU
//   if relu, writing its mask where mask is not null;
// - norm_dx_run(dx, dy, mask, x, len, outer, dy_scale, mg, mgx, mu, r):
//   dx = outer * (dy_scale * dy - mg - (x - mu) * r * mgx), dy through the mask;
// - scaled_dy_run(dx, dy, mask, len, a): dx = a * dy, dy through the mask.
template <typename T>
void add_shifted_sums(LaneSum& s, LaneSum& q, const T* x, Index len, double shift) {
  GLIA_SIMD_DISPATCH(add_shifted_sums, s, q, x, len, shift)
}
template <typename T>
void add_dy_sums(LaneSum& sdy, LaneSum& sdyx, const T* dy, const std::uint8_t* mask, const T* x, Index len, double mu,
                 double r) {
  GLIA_SIMD_DISPATCH(add_dy_sums, sdy, sdyx, dy, mask, x, len, mu, r)
}
template <typename T>
void affine_run(T* y, bool relu, std::uint8_t* mask, const T* x, T scale, T shift, Index len) {
  GLIA_SIMD_DISPATCH(affine_run, y, relu, mask, x, scale, shift, len)
}
template <typename T>
void norm_dx_run(T* dx, const T* dy, const std::uint8_t* mask, const T* x, Index len, double outer, double dy_scale,
                 double mg, double mgx, double mu, double r) {
  GLIA_SIMD_DISPATCH(norm_dx_run, dx, dy, mask, x, len, outer, dy_scale, mg, mgx, mu, r)
}
template <typename T>
void scaled_dy_run(T* dx, const T* dy, const std::uint8_t* mask, Index len, double a) {
  GLIA_SIMD_DISPATCH(scaled_dy_run, dx, dy, mask, len, a)
}

// mean and biased variance from the shifted sums of m values.
inline void shifted_moments(double& mean, double& var, const LaneSum& s, const LaneSum& q, double shift, double m) {
  const double md = s.total() / m;
  mean = shift + md;
  var = std::max(0.0, q.total() / m - md * md);
}

// The per-channel affine of normalised values as one multiply-add on x:
//   gamma * (x - mu) * r + beta = x * scale + shift.
template <typename T>
inline void affine_coefficients(T& scale, T& shift, T gamma, T beta, double mu, double r) {
  scale = static_cast<T>(gamma * r);
  shift = static_cast<T>(beta - gamma * mu * r);
}

}  // namespace detail

// f(ch, sum_dyxhat, sum_dy) for every channel, with the per-sample partial sums ([n, c] each,
// as batchnorm_backward_sums_sample and groupnorm_backward_sample write them) added in sample
// order, so the sums do not depend on which thread ran which sample.
template <typename F>
void for_each_channel_sum(const double* sample_dyxhat, const double* sample_dy, Index n, Index c, F&& f) {
  for (Index ch = 0; ch < c; ++ch) {
    double sg = 0, sb = 0;
    for (Index i = 0; i < n; ++i) {
      sg += sample_dyxhat[i * c + ch];
      sb += sample_dy[i * c + ch];
    }
    f(ch, sg, sb);
  }
}

// dgamma[c] += sum dy * xhat, dbeta[c] += sum dy from the per-sample partial sums ([n, c] each),
// by the tree of the batch's gradient chunks (kernels/batch_chunks.hpp): sample order inside a
// chunk, so the sums depend neither on which thread ran which sample nor on how the batch is
// divided between processes.
template <typename T>
void add_sample_partials(T* dgamma, T* dbeta, const double* sample_dyxhat, const double* sample_dy, Index c,
                         const BatchChunks& chunks) {
  add_chunked_sample_sums(dgamma, sample_dyxhat, c, chunks);
  add_chunked_sample_sums(dbeta, sample_dy, c, chunks);
}

}  // namespace glia
