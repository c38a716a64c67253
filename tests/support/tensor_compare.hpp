// tests/support/tensor_compare.hpp: comparing tensors in tests, and reading one from a
// safetensors file.
//   same_bits(a, b)     same shape and the same bytes (bitwise equality, NaNs included); also
//                       for two std::vector (the same length and bytes)
//   max_rel_diff(a, b)  max |a - b| over max(1, max |b|): the error on the reference's scale
//   to_float_tensor(t)  a safetensors tensor's values (any dtype) as a float tensor of its shape
#pragma once

#include <glia/model_io/safetensors.hpp>
#include <glia/tensor/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace glia::testing {

template <typename T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  if (a.shape() != b.shape()) return false;
  return a.size() == 0 || std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(T)) == 0;
}

// The same for flat copies (parameters, gradients).
template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <typename T>
double max_rel_diff(const Tensor<T>& a, const Tensor<T>& b) {
  double d = 0, s = 1;
  for (Index i = 0; i < a.size(); ++i) {
    d = std::max(d, std::abs(double(a[i]) - double(b[i])));
    s = std::max(s, std::abs(double(b[i])));
  }
  return d / s;
}

inline Tensor<float> to_float_tensor(const SafeTensor& t) {
  Shape s;
  for (std::int64_t d : t.shape) s.push(static_cast<Index>(d));
  Tensor<float> out(s);
  const std::vector<double> v = t.to_doubles();
  for (Index i = 0; i < out.size(); ++i) out[i] = static_cast<float>(v[static_cast<std::size_t>(i)]);
  return out;
}

}  // namespace glia::testing
