// glia/simd/vector.hpp: the vector registers of each instruction-set level, for the kernels that
// are compiled once per level and chosen at run time (simd/level.hpp, docs/performance.md
// "Run-time dispatch").
//
//   Vec          lanes  registers  multiply-add
//   Sse2<T>      16/sizeof(T)  16  mul then add (two roundings)   x86-64 baseline
//   Avx2<T>      32/sizeof(T)  16  fused (one rounding)           AVX2 + FMA
//   Avx512<T>    64/sizeof(T)  32  fused                          AVX-512F
//   Scalar<T>    1              -  fused if the compiler contracts  not x86
//
// Each is a struct of static functions (load/store unaligned, set1, madd(a, b, c) = a*b + c)
// on its register type, madd1 the same on one T, rounded as madd rounds (a tail of scalars
// then sums like the vector lanes), and `lanes` and `registers` (how many a kernel may keep live). Every
// function carries its level's target attribute, so the intrinsics compile whatever flags the
// including translation unit has; they are called only from kernels compiled for the same level
// (simd/targets.hpp), where they inline.
// Results: a kernel that sums each output in a fixed order gives the same bits at Avx2 and
// Avx512 (both fuse), but not at Sse2, which rounds the product first.
#pragma once

#include <cmath>

#include "glia/core/instruction_set.hpp"

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define GLIA_SIMD_X86 1
#include <immintrin.h>
#else
#define GLIA_SIMD_X86 0
#endif

#define GLIA_SIMD_INLINE inline __attribute__((always_inline))

namespace glia::simd {

template <typename T>
struct Scalar {
  using Reg = T;
  static constexpr int lanes = 1;
  static constexpr int registers = 16;
  static GLIA_SIMD_INLINE Reg load(const T* p) { return *p; }
  static GLIA_SIMD_INLINE void store(T* p, Reg v) { *p = v; }
  static GLIA_SIMD_INLINE Reg set1(T v) { return v; }
  static GLIA_SIMD_INLINE Reg madd(Reg a, Reg b, Reg c) { return a * b + c; }
  static GLIA_SIMD_INLINE T madd1(T a, T b, T c) { return a * b + c; }
};

#if GLIA_SIMD_X86
#define GLIA_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define GLIA_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))

// x86-64's baseline: Sse2<T> over register R of N lanes, intrinsics _mm_op_S; no fused
// multiply-add, so madd rounds the product first (and madd1 likewise).
#define GLIA_SIMD_SSE2_VEC(T, R, N, S)                                                          \
  template <>                                                                                 \
  struct Sse2<T> {                                                                            \
    using Reg = R;                                                                            \
    static constexpr int lanes = N;                                                           \
    static constexpr int registers = 16;                                                      \
    static GLIA_SIMD_INLINE Reg load(const T* p) { return _mm_loadu_##S(p); }                 \
    static GLIA_SIMD_INLINE void store(T* p, Reg v) { _mm_storeu_##S(p, v); }                 \
    static GLIA_SIMD_INLINE Reg set1(T v) { return _mm_set1_##S(v); }                         \
    static GLIA_SIMD_INLINE Reg madd(Reg a, Reg b, Reg c) { return _mm_add_##S(_mm_mul_##S(a, b), c); } \
    static GLIA_SIMD_INLINE T madd1(T a, T b, T c) { return a * b + c; }                      \
  };

template <typename T>
struct Sse2;
GLIA_SIMD_SSE2_VEC(float, __m128, 4, ps)
GLIA_SIMD_SSE2_VEC(double, __m128d, 2, pd)
#undef GLIA_SIMD_SSE2_VEC

// A level with fused multiply-add: Name<T> over register R of N lanes, intrinsics P_op_S
// (e.g. _mm256_loadu_ps), every function under TARGET.
#define GLIA_SIMD_FUSED_VEC(Name, T, R, N, REGS, TARGET, P, S)                                      \
  template <>                                                                                     \
  struct Name<T> {                                                                                \
    using Reg = R;                                                                                \
    static constexpr int lanes = N;                                                               \
    static constexpr int registers = REGS;                                                        \
    TARGET static GLIA_SIMD_INLINE Reg load(const T* p) { return P##_loadu_##S(p); }              \
    TARGET static GLIA_SIMD_INLINE void store(T* p, Reg v) { P##_storeu_##S(p, v); }              \
    TARGET static GLIA_SIMD_INLINE Reg set1(T v) { return P##_set1_##S(v); }                      \
    TARGET static GLIA_SIMD_INLINE Reg madd(Reg a, Reg b, Reg c) { return P##_fmadd_##S(a, b, c); } \
    TARGET static GLIA_SIMD_INLINE T madd1(T a, T b, T c) { return std::fma(a, b, c); }           \
  };

template <typename T>
struct Avx2;
GLIA_SIMD_FUSED_VEC(Avx2, float, __m256, 8, 16, GLIA_TARGET_AVX2, _mm256, ps)
GLIA_SIMD_FUSED_VEC(Avx2, double, __m256d, 4, 16, GLIA_TARGET_AVX2, _mm256, pd)

template <typename T>
struct Avx512;
GLIA_SIMD_FUSED_VEC(Avx512, float, __m512, 16, 32, GLIA_TARGET_AVX512, _mm512, ps)
GLIA_SIMD_FUSED_VEC(Avx512, double, __m512d, 8, 32, GLIA_TARGET_AVX512, _mm512, pd)
#undef GLIA_SIMD_FUSED_VEC
#endif  // GLIA_SIMD_X86

}  // namespace glia::simd
