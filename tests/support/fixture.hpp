// tests/support/fixture.hpp: reads the golden fixtures of tests/fixtures/ (GLIAFIX1 files).
//
// The format (all little-endian; tests/fixtures/README.md is the full description):
//   "GLIAFIX1"  uint32 count,  then count records of
//     uint32 name_length, name (UTF-8, no terminator), uint32 dtype, uint32 rank (0..4),
//     int64 dims[rank], data:
//       dtype 1: prod(dims) float32      dtype 2: prod(dims) float64
//       dtype 3 (generated): uint64 seed, float64 offset, float64 scale; element i (row-major)
//         is float(offset + scale * u_i), u_i = (2 k_i + 1 - 2^24) / 2^24 with k_i the top 24
//         bits of the (i+1)-th output of splitmix64 seeded with seed (generated_uniform below).
//   Nothing may follow the last record.
// load_fixture(path) returns every tensor by name, held in double (float32 and generated values
// are exact in double); Fixture::get<T>(name) hands out a glia::Tensor<T> copy. A missing file
// throws glia::IoError naming it; any malformed content (bad magic, truncation, unknown dtype,
// rank > 4, negative or huge dims, duplicate names, trailing bytes) throws glia::FormatError
// naming the file, the record index, the tensor name when known, and the byte offset; asking
// for a tensor that is not there throws glia::FormatError naming the file and the tensor.
#pragma once

#include <glia/glia.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace glia::testing {

inline std::uint64_t splitmix64_next(std::uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The values of a "generated" record: n float32-exact values, returned in double. With a
// power-of-two scale, offset + scale * u is exact in double, so the result does not depend on
// the compiler (FMA contraction or not) and matches tools/golden/make_golden.py bit for bit.
inline std::vector<double> generated_uniform(std::uint64_t seed, Index n, double offset, double scale) {
  std::vector<double> v(static_cast<std::size_t>(n));
  std::uint64_t state = seed;
  for (auto& x : v) {
    const double k = static_cast<double>(splitmix64_next(state) >> 40);
    const double u = (2.0 * k + 1.0 - 16777216.0) / 16777216.0;
    x = static_cast<double>(static_cast<float>(offset + scale * u));
  }
  return v;
}

class Fixture {
 public:
  Fixture() = default;
  Fixture(std::string path, std::map<std::string, Tensor<double>> tensors)
      : path_(std::move(path)), tensors_(std::move(tensors)) {}

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const std::map<std::string, Tensor<double>>& tensors() const { return tensors_; }

  // The stored tensor (double), or FormatError naming the file and the tensor.
  const Tensor<double>& raw(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end())
      throw FormatError(detail::cat("fixture ", path_, ": no tensor '", name, "'"));
    return it->second;
  }
  // A fresh copy as Tensor<T>.
  template <typename T>
  Tensor<T> get(const std::string& name) const {
    const Tensor<double>& d = raw(name);
    Tensor<T> t(d.shape());
    for (Index i = 0; i < d.size(); ++i) t[i] = static_cast<T>(d[i]);
    return t;
  }
  // A tensor of exactly one element (any rank), e.g. a loss.
  double scalar(const std::string& name) const {
    const Tensor<double>& d = raw(name);
    if (d.size() != 1)
      throw FormatError(detail::cat("fixture ", path_, ": tensor '", name, "' has shape ", d.shape(),
                                    ", expected one value"));
    return d[0];
  }
  // Integer values (class targets, configuration), checked to be whole numbers.
  std::vector<std::int32_t> ints(const std::string& name) const {
    const Tensor<double>& d = raw(name);
    std::vector<std::int32_t> v;
    for (Index i = 0; i < d.size(); ++i) {
      if (d[i] != std::floor(d[i]) || std::fabs(d[i]) > 2147483647.0)
        throw FormatError(detail::cat("fixture ", path_, ": tensor '", name, "' element ", i, " = ", d[i],
                                      " is not an int32"));
      v.push_back(static_cast<std::int32_t>(d[i]));
    }
    return v;
  }

 private:
  std::string path_;
  std::map<std::string, Tensor<double>> tensors_;
};

namespace detail_fixture {

class Reader {
 public:
  Reader(std::string path, std::vector<unsigned char> bytes) : path_(std::move(path)), b_(std::move(bytes)) {}

  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return b_.size() - pos_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(detail::cat("fixture ", path_, ": ", context_, what, " (at byte offset ", pos_, " of ",
                                  b_.size(), ")"));
  }
  void set_context(const std::string& c) { context_ = c; }

  void need(std::size_t n, const char* what) const {
    if (remaining() < n)
      fail(detail::cat("truncated: ", what, " needs ", n, " bytes, ", remaining(), " left"));
  }
  // Little-endian unsigned integer of N bytes.
  template <typename U>
  U uint(const char* what) {
    need(sizeof(U), what);
    U v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(static_cast<U>(b_[pos_ + i]) << (8 * i));
    pos_ += sizeof(U);
    return v;
  }
  double f64(const char* what) {
    const std::uint64_t u = uint<std::uint64_t>(what);
    double d;
    std::memcpy(&d, &u, sizeof d);
    return d;
  }
  float f32(const char* what) {
    const std::uint32_t u = uint<std::uint32_t>(what);
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }
  std::string bytes(std::size_t n, const char* what) {
    need(n, what);
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  std::string path_;
  std::vector<unsigned char> b_;
  std::size_t pos_ = 0;
  std::string context_;
};

}  // namespace detail_fixture

inline constexpr char kFixtureMagic[] = "GLIAFIX1";
enum FixtureDtype : std::uint32_t { kFixtureF32 = 1, kFixtureF64 = 2, kFixtureGenerated = 3 };

inline Fixture load_fixture(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(detail::cat("fixture ", path, ": cannot open (regenerate with tools/golden/make_golden.py)"));
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError(detail::cat("fixture ", path, ": read error"));

  detail_fixture::Reader r(path, std::move(bytes));
  if (r.bytes(8, "magic") != std::string(kFixtureMagic, 8)) r.fail("bad magic: not a GLIAFIX1 file");
  const std::uint32_t count = r.uint<std::uint32_t>("tensor count");
  std::map<std::string, Tensor<double>> tensors;
  for (std::uint32_t rec = 0; rec < count; ++rec) {
    r.set_context(detail::cat("record ", rec, ": "));
    const std::uint32_t name_len = r.uint<std::uint32_t>("name length");
    if (name_len == 0 || name_len > 4096) r.fail(detail::cat("implausible name length ", name_len));
    const std::string name = r.bytes(name_len, "name");
    r.set_context(detail::cat("record ", rec, " ('", name, "'): "));
    if (tensors.count(name)) r.fail("duplicate tensor name");
    const std::uint32_t dtype = r.uint<std::uint32_t>("dtype");
    if (dtype != kFixtureF32 && dtype != kFixtureF64 && dtype != kFixtureGenerated)
      r.fail(detail::cat("unknown dtype ", dtype, " (1 = float32, 2 = float64, 3 = generated)"));
    const std::uint32_t rank = r.uint<std::uint32_t>("rank");
    if (rank > static_cast<std::uint32_t>(Shape::kMaxRank))
      r.fail(detail::cat("rank ", rank, " exceeds glia's maximum of ", Shape::kMaxRank));
    Shape shape;
    Index numel = 1;
    for (std::uint32_t d = 0; d < rank; ++d) {
      const auto dim = static_cast<std::int64_t>(r.uint<std::uint64_t>("dimension"));
      if (dim < 0 || dim > (std::int64_t{1} << 31)) r.fail(detail::cat("bad extent ", dim, " of dimension ", d));
      shape.push(static_cast<Index>(dim));
      numel *= static_cast<Index>(dim);
      if (numel > (Index{1} << 31)) r.fail("more than 2^31 elements");
    }
    Tensor<double> t(shape);
    if (dtype == kFixtureGenerated) {
      const std::uint64_t seed = r.uint<std::uint64_t>("generator seed");
      const double offset = r.f64("generator offset");
      const double scale = r.f64("generator scale");
      if (!std::isfinite(offset) || !std::isfinite(scale)) r.fail("non-finite generator offset or scale");
      const std::vector<double> v = generated_uniform(seed, numel, offset, scale);
      std::copy(v.begin(), v.end(), t.begin());
    } else {
      const std::size_t width = dtype == kFixtureF32 ? 4 : 8;
      r.need(static_cast<std::size_t>(numel) * width, "tensor data");
      for (Index i = 0; i < numel; ++i) t[i] = dtype == kFixtureF32 ? r.f32("data") : r.f64("data");
    }
    tensors.emplace(name, std::move(t));
  }
  r.set_context("");
  if (r.remaining() != 0) r.fail(detail::cat(r.remaining(), " trailing bytes after ", count, " records"));
  return Fixture(path, std::move(tensors));
}

}  // namespace glia::testing
