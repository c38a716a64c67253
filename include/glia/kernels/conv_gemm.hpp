// glia/kernels/conv_gemm.hpp: the matrix products of the GEMM-based convolution algorithms
// (kernels/conv2d.hpp: the 1x1 products on x_n itself, and the products on im2col / col2im
// scratch of every other geometry; conv2d_grouped.hpp: the same per group), for one sample,
// compiled per instruction-set level (conv_gemm.inc, simd/level.hpp).
//
//   gemm_product:      y[m, p] = b[m] + sum_k a(m, k) * x[k, p]     (b null: 0)
//                      a(m, k) = a[m*K + k], or a[k*M + m] when a_transposed
//   gemm_weight_grad:  dw[m, k] += sum_p dy[m, p] * x[k, p]
//
// Layout (row-major): x [K, P], y and dy [M, P] (a sample's channels x pixels, or im2col's
// [Cin*kh*kw, P]), a and dw [M, K]. The forward pass is gemm_product(y, W, false, col(x), b) with
// W [Cout, K]; the input gradient gemm_product(dcol, W, true, dy, nullptr) (W^T dY, without
// transposing W); the weight gradient gemm_weight_grad(dW, dY, col(x)).
// Why not Eigen: Eigen's products run at the level the program was compiled for (SSE2 with
// default flags); these run at the CPU's. Eigen's blocked GEMM is kept out of the convolutions.
// How: the product holds a block of 4 rows of y x 2 vectors of pixels in registers and adds
// k = 0, 1, ... in order (one broadcast of a, two loads of x per k); pixels past the last whole
// vector go one by one in the same order. It walks the pixels in panels of kGemmPanelBytes of x,
// so that a panel is read from cache by every block of rows (the panel changes which pixels are
// computed together, not any sum's order). The weight gradient holds 2 x 4 dot products in
// vectors along p, then adds each one's lanes in lane order and the tail after them.
// Every output is summed in a fixed order by one call, so results do not depend on the thread
// count; they differ between levels in the last bits (fused or not, and the lane count decides
// where the weight gradient's partial sums split).
#pragma once

#include <algorithm>

#include "glia/simd/level.hpp"
#include "glia/tensor/shape.hpp"

namespace glia {
// The bytes of x one panel of gemm_product spans (all k rows): about half a 256 KiB L2.
inline constexpr Index kGemmPanelBytes = Index(128) * 1024;
}  // namespace glia

#define GLIA_SIMD_KERNELS "glia/kernels/conv_gemm.inc"
#include "glia/simd/foreach_level.inc"

namespace glia {

template <typename T>
void gemm_product(T* y, const T* a, bool a_transposed, const T* x, const T* b, Index m, Index k, Index p) {
  GLIA_SIMD_DISPATCH(gemm_product, y, a, a_transposed, x, b, m, k, p)
}

// Without a bias: y = A x.
template <typename T>
void gemm_product(T* y, const T* a, bool a_transposed, const T* x, Index m, Index k, Index p) {
  gemm_product(y, a, a_transposed, x, static_cast<const T*>(nullptr), m, k, p);
}

template <typename T>
void gemm_weight_grad(T* dw, const T* dy, const T* x, Index m, Index k, Index p) {
  GLIA_SIMD_DISPATCH(gemm_weight_grad, dw, dy, x, m, k, p)
}

}  // namespace glia
