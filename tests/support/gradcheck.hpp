// tests/support/gradcheck.hpp: finite-difference gradient checks for glia modules (in double).
//
// For a module m and input x, the scalar L(x, params) = sum_i r_i * m(x)_i with a fixed random
// r has dL/dy = r, so one backward(r) gives the analytic dL/dx and dL/dparams. Each is compared
// with central differences (L(v+h) - L(v-h)) / 2h, element by element (or on a seeded random
// subset of at most max_checks elements for large tensors), by the relative error
// ||analytic - numeric|| / max(||analytic||, ||numeric||). Where the true gradient is exactly
// zero (a bias followed by BatchNorm), the relative error is meaningless noise over noise, so
// the maximum absolute error is reported too.
#pragma once

#include <glia/glia.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace glia::testing {

struct GradCheck {
  std::string tensor;  // "input" or the parameter's name
  double rel_error;
  double max_abs_error;  // decides where the true gradient is 0 (e.g. a conv bias before BatchNorm)
  Index checked;
};

inline double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    d += (a[i] - b[i]) * (a[i] - b[i]);
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const double den = std::max({std::sqrt(na), std::sqrt(nb), 1e-300});
  return std::sqrt(d) / den;
}

struct GradCheckOptions {
  Mode mode = Mode::Train;
  double step = 1e-5;
  Index max_checks = 400;             // per tensor
  std::uint64_t seed = 12345;
  std::function<void()> before_forward;  // e.g. rewind a dropout mask counter
};

// Returns one entry for the input (unless the module skips input gradients) and one per
// parameter.
inline std::vector<GradCheck> check_gradients(Module<double>& m, Tensor<double> x, const GradCheckOptions& o = {}) {
  Rng rng(o.seed);
  auto run = [&]() -> const Tensor<double>& {
    if (o.before_forward) o.before_forward();
    return m.forward(x, o.mode);
  };
  const Shape out = run().shape();
  Tensor<double> r(out);
  r.uniform_(rng, -1.0, 1.0);
  auto loss = [&]() {
    const Tensor<double>& y = run();
    double s = 0;
    for (Index i = 0; i < y.size(); ++i) s += r[i] * y[i];
    return s;
  };

  zero_grad(m);
  run();
  const Tensor<double> dx = m.backward(r).clone();

  auto numeric = [&](Tensor<double>& v, const Tensor<double>& analytic, const std::string& name) {
    std::vector<Index> idx(static_cast<std::size_t>(v.size()));
    for (Index i = 0; i < v.size(); ++i) idx[static_cast<std::size_t>(i)] = i;
    if (v.size() > o.max_checks) {  // seeded partial Fisher-Yates: a random subset
      for (Index i = 0; i < o.max_checks; ++i)
        std::swap(idx[static_cast<std::size_t>(i)],
                  idx[static_cast<std::size_t>(i + static_cast<Index>(rng.below(static_cast<std::uint32_t>(v.size() - i))))]);
      idx.resize(static_cast<std::size_t>(o.max_checks));
    }
    std::vector<double> a, n;
    for (Index i : idx) {
      const double keep = v[i];
      v[i] = keep + o.step;
      const double lp = loss();
      v[i] = keep - o.step;
      const double lm = loss();
      v[i] = keep;
      n.push_back((lp - lm) / (2 * o.step));
      a.push_back(analytic[i]);
    }
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - n[i]));
    return GradCheck{name, relative_error(a, n), worst, static_cast<Index>(idx.size())};
  };

  std::vector<GradCheck> result;
  if (!dx.empty() && dx.size() == x.size()) result.push_back(numeric(x, dx, "input"));
  for (auto& p : parameters(m)) {
    const Tensor<double> g = p.param->grad.clone();
    result.push_back(numeric(p.param->value, g, p.name));
  }
  return result;
}

}  // namespace glia::testing
