// glia/tensor/tensor.hpp: glia::Tensor<T>, a dense row-major array of up to 4 dimensions.
//
// Contract:
// - T is float or double. Layout is contiguous row-major; a 4-D tensor is NCHW.
// - Storage is 64-byte aligned and reference counted. Copying a Tensor is cheap and SHARES the
//   storage (like a PyTorch tensor); clone() makes a deep copy. view() (reshape) and slice()
//   (a range along dimension 0, e.g. a batch slice) share storage too.
// - resize(shape) keeps the storage when it is large enough and reallocates (contents
//   unspecified) only when it must grow: layers call it on their output buffers every step, so
//   after the first step no memory is allocated.
// - at(n,c,h,w)/at(i,...) check bounds when NDEBUG is not defined (debug builds) or when
//   GLIA_BOUNDS_CHECK is defined, and throw ShapeError on an index out of range.
// - matrix(rows, cols) maps the storage as a row-major Eigen matrix without copying.
// - Mismatched shapes throw ShapeError naming the operation and both shapes.
#pragma once

// Eigen is configured on the compiler's command line, never here: a #define in a header takes
// effect only when the header comes before Eigen's, so two translation units including them in
// different orders would compile different Eigen code into one program (an ODR violation).
// The glia::glia CMake target defines both; a build without it must pass them itself:
//   EIGEN_DONT_PARALLELIZE     glia threads its own loops and calls Eigen's products inside
//                              them; Eigen threading on its own would make results depend on
//                              the thread count.
//   EIGEN_STACK_ALLOCATION_LIMIT=524288 (or more)  Eigen's products take their packing buffers
//                              from the stack up to this size; glia's convolution products need
//                              up to ~300 KB, so the default 128 KB would allocate in every step.
#if !defined(EIGEN_DONT_PARALLELIZE)
#error "glia needs EIGEN_DONT_PARALLELIZE: link the glia::glia target, or compile with -DEIGEN_DONT_PARALLELIZE -DEIGEN_STACK_ALLOCATION_LIMIT=524288"
#endif
#if !defined(EIGEN_STACK_ALLOCATION_LIMIT) || EIGEN_STACK_ALLOCATION_LIMIT < 524288
#error "glia needs EIGEN_STACK_ALLOCATION_LIMIT >= 524288: link the glia::glia target, or compile with -DEIGEN_DONT_PARALLELIZE -DEIGEN_STACK_ALLOCATION_LIMIT=524288"
#endif
#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/tensor/random.hpp"
#include "glia/tensor/shape.hpp"

namespace glia {

#if !defined(NDEBUG) || defined(GLIA_BOUNDS_CHECK)
#define GLIA_CHECK_BOUNDS 1
#else
#define GLIA_CHECK_BOUNDS 0
#endif

template <typename T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using MatrixMap = Eigen::Map<RowMatrix<T>>;
template <typename T>
using ConstMatrixMap = Eigen::Map<const RowMatrix<T>>;

// Throws ShapeError("op: expected E, got G") unless got == expected.
inline void check_shape(const char* op, const Shape& got, const Shape& expected) {
  if (got != expected) throw ShapeError(detail::cat(op, ": expected ", expected, ", got ", got));
}

template <typename T>
class Tensor {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                "glia::Tensor is for float and double");

 public:
  static constexpr std::size_t kAlignment = 64;

  Tensor() = default;
  // A zero-filled tensor of the given shape.
  explicit Tensor(const Shape& shape) {
    resize(shape);
    zero();
  }
  Tensor(const Shape& shape, const std::vector<T>& values) : Tensor(shape) {
    if (static_cast<Index>(values.size()) != shape.numel())
      throw ShapeError(detail::cat("Tensor: ", values.size(), " values for shape ", shape));
    std::copy(values.begin(), values.end(), data_);
  }
  static Tensor full(const Shape& shape, T value) {
    Tensor t;
    t.resize(shape);
    t.fill(value);
    return t;
  }

  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  Index dim(int i) const { return shape_[i]; }
  Index size() const { return shape_.numel(); }
  bool empty() const { return data_ == nullptr; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T* begin() { return data_; }
  T* end() { return data_ + size(); }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size(); }

  // Gives the tensor this shape, reusing the storage when it is large enough.
  void resize(const Shape& shape) {
    const Index n = shape.numel();
    if (!storage_ || n > capacity_) {
      const std::size_t bytes =
          (static_cast<std::size_t>(std::max<Index>(n, 1)) * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
      T* p = static_cast<T*>(::operator new(bytes, std::align_val_t(kAlignment)));
      storage_.reset(p, [](T* q) { ::operator delete(q, std::align_val_t(kAlignment)); });
      data_ = p;
      capacity_ = static_cast<Index>(bytes / sizeof(T));
    }
    shape_ = shape;
  }

  // A tensor sharing this storage with another shape of the same number of elements.
  Tensor view(const Shape& shape) const {
    if (shape.numel() != size())
      throw ShapeError(detail::cat("Tensor::view: cannot view ", shape_, " as ", shape));
    Tensor t = *this;
    t.shape_ = shape;
    return t;
  }
  // Rows [begin, end) of dimension 0, sharing storage.
  Tensor slice(Index begin, Index end) const {
    if (rank() == 0 || begin < 0 || end < begin || end > dim(0))
      throw ShapeError(detail::cat("Tensor::slice: [", begin, ",", end, ") out of ", shape_));
    const Index stride = dim(0) ? size() / dim(0) : 0;
    Tensor t = *this;
    t.data_ = data_ + begin * stride;
    t.capacity_ = capacity_ - begin * stride;
    t.shape_ = shape_.with(0, end - begin);
    return t;
  }
  // shape.numel() elements starting at element `offset`, sharing storage.
  Tensor view_at(Index offset, const Shape& shape) const {
    if (offset < 0 || offset + shape.numel() > size())
      throw ShapeError(detail::cat("Tensor::view_at: ", shape, " at offset ", offset, " does not fit in ", shape_));
    Tensor t = *this;
    t.data_ = data_ + offset;
    t.capacity_ = capacity_ - offset;
    t.shape_ = shape;
    return t;
  }
  Tensor clone() const {
    Tensor t;
    t.resize(shape_);
    if (size()) std::memcpy(t.data_, data_, static_cast<std::size_t>(size()) * sizeof(T));
    return t;
  }
  // Copies values from a tensor of the same shape.
  void copy_from(const Tensor& other) {
    check_shape("Tensor::copy_from", other.shape_, shape_);
    if (size() && other.data_ != data_)
      std::memcpy(data_, other.data_, static_cast<std::size_t>(size()) * sizeof(T));
  }
  // Resizes to other's shape and copies its values.
  void assign(const Tensor& other) {
    resize(other.shape_);
    copy_from(other);
  }

  void fill(T value) { std::fill(begin(), end(), value); }
  void zero() { fill(T(0)); }
  void uniform_(Rng& rng, double lo, double hi) {
    for (T& v : *this) v = static_cast<T>(rng.uniform(lo, hi));
  }
  void normal_(Rng& rng, double mean, double stddev) {
    for (T& v : *this) v = static_cast<T>(mean + stddev * rng.normal());
  }

  T& operator[](Index i) { return data_[i]; }
  const T& operator[](Index i) const { return data_[i]; }

  // Element access by full index (rank must match); bounds-checked in debug builds.
  template <typename... I>
  T& at(I... idx) {
    return data_[offset(idx...)];
  }
  template <typename... I>
  const T& at(I... idx) const {
    return data_[offset(idx...)];
  }

  MatrixMap<T> matrix(Index rows, Index cols) {
    check_numel("Tensor::matrix", rows * cols);
    return MatrixMap<T>(data_, rows, cols);
  }
  ConstMatrixMap<T> matrix(Index rows, Index cols) const {
    check_numel("Tensor::matrix", rows * cols);
    return ConstMatrixMap<T>(data_, rows, cols);
  }
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> vector() {
    return Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>(data_, size());
  }
  Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>> vector() const {
    return Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(data_, size());
  }

 private:
  void check_numel(const char* op, Index n) const {
    if (n != size()) throw ShapeError(detail::cat(op, ": ", n, " elements requested of ", shape_));
  }
  template <typename... I>
  Index offset(I... idx) const {
    const Index ids[] = {static_cast<Index>(idx)...};
    constexpr int n = sizeof...(I);
#if GLIA_CHECK_BOUNDS
    if (n != rank()) throw ShapeError(detail::cat("Tensor::at: ", n, " indices for ", shape_));
    for (int i = 0; i < n; ++i)
      if (ids[i] < 0 || ids[i] >= shape_[i])
        throw ShapeError(detail::cat("Tensor::at: index ", ids[i], " out of range in dimension ", i,
                                     " of ", shape_));
#endif
    Index off = 0;
    for (int i = 0; i < n; ++i) off = off * shape_[i] + ids[i];
    return off;
  }

  std::shared_ptr<T> storage_;
  T* data_ = nullptr;
  Index capacity_ = 0;
  Shape shape_{0};  // a default tensor is empty: no storage, no elements
};

}  // namespace glia
