// glia/optim/lr_schedule.hpp: learning-rate schedules as pure functions of the step.
//
// Contract: lr(step) for step = 0, 1, ... (the number of optimiser steps taken before this one)
// depends on nothing else, so resuming a run at step s continues the same schedule. Schedules
// that think in epochs take steps_per_epoch. ValueError for invalid settings.
//   ConstantLr(lr)
//   StepLr(lr, step_size, gamma):   lr * gamma^floor(step / step_size)
//   CosineLr(lr, total, warmup, min_lr): linear warm-up lr*(step+1)/warmup over the first
//       `warmup` steps, then cosine
//       from lr down to min_lr at step `total`
//   OneCycleLr(max_lr, total, pct_start=0.3, anneal=Cos|Linear, div_factor=25,
//       final_div_factor=1e4, three_phase=false): PyTorch's OneCycleLR: from max_lr/div_factor
//       up to max_lr at step pct_start*total - 1, then down to initial/final_div_factor at step
//       total - 1 (three_phase: back to initial at 2*pct_start*total - 2, then down to the minimum)
//   PiecewiseLinearLr({(epoch, lr)...}, steps_per_epoch): linear interpolation through the
//       points by epoch index, held constant within an epoch (numpy.interp semantics: constant
//       beyond the ends): the reference recipe's schedule.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "glia/core/error.hpp"

namespace glia {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double lr(std::int64_t step) const = 0;
  virtual std::string name() const = 0;
};

class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(double lr) : lr_(lr) { check_rate("ConstantLr", lr); }
  double lr(std::int64_t) const override { return lr_; }
  std::string name() const override { return detail::cat("constant(", lr_, ")"); }
  static void check_rate(const char* who, double lr) {
    if (!(lr >= 0) || !std::isfinite(lr)) throw ValueError(detail::cat(who, ": learning rate must be finite and >= 0, got ", lr));
  }

 private:
  double lr_;
};

class StepLr : public LrSchedule {
 public:
  StepLr(double lr, std::int64_t step_size, double gamma) : lr_(lr), size_(step_size), gamma_(gamma) {
    ConstantLr::check_rate("StepLr", lr);
    if (step_size <= 0 || !(gamma > 0)) throw ValueError(detail::cat("StepLr: invalid step size ", step_size, " or gamma ", gamma));
  }
  double lr(std::int64_t step) const override { return lr_ * std::pow(gamma_, static_cast<double>(step / size_)); }
  std::string name() const override { return detail::cat("step(", lr_, ", every ", size_, ", x", gamma_, ")"); }

 private:
  double lr_;
  std::int64_t size_;
  double gamma_;
};

inline double cosine_anneal(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(3.14159265358979323846 * pct) + 1.0);
}
inline double linear_anneal(double start, double end, double pct) { return (end - start) * pct + start; }

class CosineLr : public LrSchedule {
 public:
  CosineLr(double lr, std::int64_t total, std::int64_t warmup = 0, double min_lr = 0.0)
      : lr_(lr), total_(total), warmup_(warmup), min_(min_lr) {
    ConstantLr::check_rate("CosineLr", lr);
    if (total <= 0 || warmup < 0 || warmup >= total) throw ValueError(detail::cat("CosineLr: invalid total ", total, " / warmup ", warmup));
  }
  double lr(std::int64_t step) const override {
    if (step < warmup_) return lr_ * static_cast<double>(step + 1) / static_cast<double>(warmup_);
    const double pct = std::min(1.0, static_cast<double>(step - warmup_) / static_cast<double>(total_ - warmup_));
    return cosine_anneal(lr_, min_, pct);
  }
  std::string name() const override { return detail::cat("cosine(", lr_, ", warmup ", warmup_, ")"); }

 private:
  double lr_;
  std::int64_t total_, warmup_;
  double min_;
};

class OneCycleLr : public LrSchedule {
 public:
  enum class Anneal { Cos, Linear };
  OneCycleLr(double max_lr, std::int64_t total, double pct_start = 0.3, Anneal anneal = Anneal::Cos,
             double div_factor = 25.0, double final_div_factor = 1e4, bool three_phase = false)
      : max_(max_lr), anneal_(anneal) {
    ConstantLr::check_rate("OneCycleLr", max_lr);
    if (total <= 0 || !(pct_start > 0 && pct_start < 1) || !(div_factor > 0) || !(final_div_factor > 0))
      throw ValueError(detail::cat("OneCycleLr: invalid total ", total, ", pct_start ", pct_start));
    initial_ = max_lr / div_factor;
    min_ = initial_ / final_div_factor;
    const double up = pct_start * static_cast<double>(total) - 1;
    if (three_phase) {
      phases_ = {{up, initial_, max_}, {2 * pct_start * static_cast<double>(total) - 2, max_, initial_},
                 {static_cast<double>(total) - 1, initial_, min_}};
    } else {
      phases_ = {{up, initial_, max_}, {static_cast<double>(total) - 1, max_, min_}};
    }
  }
  double lr(std::int64_t step_index) const override {
    const double step = static_cast<double>(step_index);
    double start_step = 0;
    for (std::size_t i = 0; i < phases_.size(); ++i) {
      const Phase& p = phases_[i];
      if (step <= p.end_step || i + 1 == phases_.size()) {
        const double pct = std::min(1.0, (step - start_step) / (p.end_step - start_step));
        return anneal_ == Anneal::Cos ? cosine_anneal(p.start_lr, p.end_lr, pct) : linear_anneal(p.start_lr, p.end_lr, pct);
      }
      start_step = p.end_step;
    }
    return min_;
  }
  std::string name() const override { return detail::cat("onecycle(max ", max_, ")"); }

 private:
  struct Phase {
    double end_step, start_lr, end_lr;
  };
  double max_, initial_ = 0, min_ = 0;
  Anneal anneal_;
  std::vector<Phase> phases_;
};

class PiecewiseLinearLr : public LrSchedule {
 public:
  PiecewiseLinearLr(std::vector<std::pair<double, double>> points, std::int64_t steps_per_epoch)
      : points_(std::move(points)), steps_per_epoch_(steps_per_epoch) {
    if (points_.empty() || steps_per_epoch <= 0) throw ValueError("PiecewiseLinearLr: needs points and steps_per_epoch > 0");
    for (std::size_t i = 0; i < points_.size(); ++i) {
      ConstantLr::check_rate("PiecewiseLinearLr", points_[i].second);
      if (i && !(points_[i].first > points_[i - 1].first))
        throw ValueError("PiecewiseLinearLr: epochs of the points must increase");
    }
  }
  double lr(std::int64_t step) const override { return at_epoch(static_cast<double>(step / steps_per_epoch_)); }
  double at_epoch(double e) const {
    if (e <= points_.front().first) return points_.front().second;
    for (std::size_t i = 1; i < points_.size(); ++i)
      if (e <= points_[i].first) {
        const auto& a = points_[i - 1];
        const auto& b = points_[i];
        return a.second + (b.second - a.second) * (e - a.first) / (b.first - a.first);
      }
    return points_.back().second;
  }
  std::string name() const override { return "piecewise-linear"; }

 private:
  std::vector<std::pair<double, double>> points_;
  std::int64_t steps_per_epoch_;
};

}  // namespace glia
