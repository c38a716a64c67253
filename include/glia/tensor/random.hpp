// glia/tensor/random.hpp: the random number generator glia owns.
//
// Contract: Rng is xoshiro256** (Blackman & Vigna, 2018) seeded through splitmix64, so a seed
// gives the same stream of 64-bit integers on every machine and compiler. uniform() turns the
// top 53 bits into a double in [0,1) exactly, so uniform numbers are reproducible bit for bit
// too; normal() uses Box-Muller on top of them (std::log/std::cos, so it is exact
// wherever libm is correctly rounded, which glibc is for these in practice).
// We do not use <random>'s distributions: their output is implementation-defined.
// Rng::stream(seed, a, b) derives an independent generator for a (seed, a, b) triple, e.g.
// (seed, step, sample), so parallel work can draw numbers without depending on thread count.
#pragma once

#include <cmath>
#include <cstdint>

namespace glia {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

  static Rng stream(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0) {
    std::uint64_t x = seed;
    std::uint64_t s = splitmix64(x) ^ (a * 0x9E3779B97F4A7C15ull);
    s = splitmix64(s) ^ (b * 0xD1B54A32D192ED03ull);
    return Rng(splitmix64(s));
  }

  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& w : s_) w = splitmix64(x);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0,1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in [lo,hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0,n), 0 < n <= 2^32 (Lemire's multiply-shift on the top 32 bits; the
  // bias, below n / 2^32, is irrelevant at data-set sizes).
  std::uint32_t below(std::uint32_t n) {
    return static_cast<std::uint32_t>(((next() >> 32) * static_cast<std::uint64_t>(n)) >> 32);
  }
  // Standard normal (Box-Muller, one value per call).
  double normal() {
    double u1 = uniform();
    const double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
  }

  // The whole state, for checkpoints.
  const std::uint64_t* state() const { return s_; }
  void set_state(const std::uint64_t* s) {
    for (int i = 0; i < 4; ++i) s_[i] = s[i];
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t s_[4];
};

}  // namespace glia
