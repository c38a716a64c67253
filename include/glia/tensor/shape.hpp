// glia/tensor/shape.hpp: the shape of a tensor, up to 4 dimensions (NCHW).
//
// Contract: a Shape holds 0..4 non-negative extents; rank() is how many. numel() of rank 0 is 1
// (a scalar). Shapes print as [N,C,H,W]. Constructing one with more than 4 extents or a
// negative extent throws ShapeError.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>

#include "glia/core/error.hpp"

namespace glia {

using Index = std::ptrdiff_t;

class Shape {
 public:
  static constexpr int kMaxRank = 4;

  Shape() = default;
  Shape(std::initializer_list<Index> dims) {
    if (dims.size() > kMaxRank)
      throw ShapeError(detail::cat("Shape: at most ", kMaxRank, " dimensions, got ", dims.size()));
    for (Index d : dims) push(d);
  }

  int rank() const { return rank_; }
  Index operator[](int i) const { return dims_[static_cast<std::size_t>(i)]; }
  Index numel() const {
    Index n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }
  // Shape with dimension i replaced (used for batch slices).
  Shape with(int i, Index extent) const {
    Shape s = *this;
    s.dims_[static_cast<std::size_t>(i)] = extent;
    return s;
  }
  void push(Index d) {
    if (rank_ == kMaxRank) throw ShapeError(detail::cat("Shape: more than ", kMaxRank, " dimensions"));
    if (d < 0) throw ShapeError(detail::cat("Shape: negative extent ", d));
    dims_[static_cast<std::size_t>(rank_++)] = d;
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }
  friend std::ostream& operator<<(std::ostream& os, const Shape& s) {
    os << '[';
    for (int i = 0; i < s.rank_; ++i) os << (i ? "," : "") << s[i];
    return os << ']';
  }
  std::string str() const { return detail::cat(*this); }

 private:
  std::array<Index, kMaxRank> dims_{};
  int rank_ = 0;
};

}  // namespace glia
