// glia/kernels/pointwise_gemm.hpp: the matrix products of a 1x1 convolution (stride 1, no
// padding: the algorithm Pointwise1x1Gemm of kernels/conv2d_algorithm.hpp) for one sample,
// compiled per instruction-set level (pointwise_gemm.inc, simd/level.hpp).
//
//   pointwise_product:      y[m, p] = b[m] + sum_k a(m, k) * x[k, p]     (b null: 0)
//                           a(m, k) = a[m*K + k], or a[k*M + m] when a_transposed
//   pointwise_weight_grad:  dw[m, k] += sum_p dy[m, p] * x[k, p]
//
// Layout (row-major): x [K, P], y and dy [M, P] (a sample's channels x pixels), a and dw [M, K].
// The forward pass is pointwise_product(y, W, false, x, b) with W [Cout, Cin]; the input
// gradient pointwise_product(dx, W, true, dy, nullptr) (W^T dY, without transposing W); the
// weight gradient pointwise_weight_grad(dW, dY, x).
// Why not Eigen: Eigen's products run at the level the program was compiled for (SSE2 with
// default flags); these run at the CPU's.
// How: the product holds a block of 4 rows of y x 2 vectors of pixels in registers and adds
// k = 0, 1, ... in order (one broadcast of a, two loads of x per k); pixels past the last whole
// vector go one by one in the same order. The weight gradient holds 2 x 4 dot products in
// vectors along p, then adds each one's lanes in lane order and the tail after them.
// Every output is summed in a fixed order by one call, so results do not depend on the thread
// count; they differ between levels in the last bits (fused or not, and the lane count decides
// where the weight gradient's partial sums split).
#pragma once

#include "glia/simd/level.hpp"
#include "glia/tensor/shape.hpp"

#define GLIA_SIMD_KERNELS "glia/kernels/pointwise_gemm.inc"
#include "glia/simd/foreach_level.inc"

namespace glia {

template <typename T>
void pointwise_product(T* y, const T* a, bool a_transposed, const T* x, const T* b, Index m, Index k, Index p) {
  GLIA_SIMD_DISPATCH(pointwise_product, y, a, a_transposed, x, b, m, k, p)
}

template <typename T>
void pointwise_weight_grad(T* dw, const T* dy, const T* x, Index m, Index k, Index p) {
  GLIA_SIMD_DISPATCH(pointwise_weight_grad, dw, dy, x, m, k, p)
}

}  // namespace glia
