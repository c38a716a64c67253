// glia/train/metrics.hpp: classification metrics.
//
// ConfusionMatrix(k): counts[true][predicted] over k classes. add(scores [N, k] or [N,k,1,1],
// targets) takes the arg-max of each row (the first maximum on ties). accuracy() = trace / total;
// class_accuracy(c) = counts[c][c] / row c total (0 for an empty row). ShapeError/ValueError for
// scores that do not match the targets or class count.
#pragma once

#include <cstdint>
#include <vector>

#include "glia/nn/loss.hpp"

namespace glia {

template <typename T>
std::int32_t argmax_row(const T* row, Index k) {
  Index best = 0;
  for (Index c = 1; c < k; ++c)
    if (row[c] > row[best]) best = c;
  return static_cast<std::int32_t>(best);
}

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(Index classes = 10)
      : k_(classes), counts_(static_cast<std::size_t>(classes * classes), 0) {}

  template <typename T>
  Index add(const Tensor<T>& scores, const std::vector<std::int32_t>& targets, std::vector<std::int32_t>* predictions = nullptr) {
    const Shape s = class_scores_shape("ConfusionMatrix", scores.shape());
    if (s[1] != k_) throw ShapeError(detail::cat("ConfusionMatrix: scores ", scores.shape(), " for ", k_, " classes"));
    check_targets("ConfusionMatrix", s, targets);
    Index correct = 0;
    if (predictions) predictions->resize(static_cast<std::size_t>(s[0]));
    for (Index i = 0; i < s[0]; ++i) {
      const std::int32_t p = argmax_row(scores.data() + i * k_, k_);
      const std::int32_t t = targets[static_cast<std::size_t>(i)];
      ++counts_[static_cast<std::size_t>(t * k_ + p)];
      correct += p == t;
      if (predictions) (*predictions)[static_cast<std::size_t>(i)] = p;
    }
    return correct;
  }
  // One image of class truth predicted as `predicted` (both in [0, classes), checked by the caller).
  void add_one(std::int32_t truth, std::int32_t predicted) { ++counts_[static_cast<std::size_t>(truth * k_ + predicted)]; }
  Index classes() const { return k_; }
  std::int64_t count(Index truth, Index predicted) const { return counts_[static_cast<std::size_t>(truth * k_ + predicted)]; }
  std::int64_t total() const {
    std::int64_t n = 0;
    for (auto c : counts_) n += c;
    return n;
  }
  std::int64_t correct() const {
    std::int64_t n = 0;
    for (Index c = 0; c < k_; ++c) n += count(c, c);
    return n;
  }
  double accuracy() const { return total() ? static_cast<double>(correct()) / static_cast<double>(total()) : 0.0; }
  double class_accuracy(Index c) const {
    std::int64_t row = 0;
    for (Index p = 0; p < k_; ++p) row += count(c, p);
    return row ? static_cast<double>(count(c, c)) / static_cast<double>(row) : 0.0;
  }
  std::vector<std::vector<std::int64_t>> rows() const {
    std::vector<std::vector<std::int64_t>> r(static_cast<std::size_t>(k_));
    for (Index t = 0; t < k_; ++t)
      for (Index p = 0; p < k_; ++p) r[static_cast<std::size_t>(t)].push_back(count(t, p));
    return r;
  }

 private:
  Index k_;
  std::vector<std::int64_t> counts_;
};

}  // namespace glia
