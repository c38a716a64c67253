// Kernel-level properties: im2col/col2im adjointness, fast convolution = naive convolution,
// the element-wise kernels against their definition.
#include <catch2/catch.hpp>

#include <glia/glia.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

using namespace glia;

TEST_CASE("col2im is the adjoint of im2col", "[kernels][im2col]") {
  const PatchGeometry geoms[] = {
      {3, 7, 5, 3, 3, 1, 1}, {2, 8, 6, 3, 3, 2, 0}, {4, 5, 5, 1, 1, 2, 1}, {1, 9, 4, 2, 3, 3, 2}, {2, 6, 6, 5, 5, 1, 2}};
  for (const PatchGeometry& g : geoms) {
    Rng rng(1);
    Tensor<double> x(Shape{g.channels, g.height, g.width}), c(Shape{g.col_rows(), g.col_cols()});
    x.uniform_(rng, -1, 1);
    c.uniform_(rng, -1, 1);
    Tensor<double> colx(c.shape()), xc(x.shape());
    im2col(colx.data(), x.data(), g);
    col2im(xc.data(), c.data(), g);
    double lhs = 0, rhs = 0;
    for (Index i = 0; i < c.size(); ++i) lhs += colx[i] * c[i];
    for (Index i = 0; i < x.size(); ++i) rhs += x[i] * xc[i];
    INFO("C=" << g.channels << " H=" << g.height << " W=" << g.width << " k=" << g.kernel_h << "x" << g.kernel_w
              << " s=" << g.stride << " p=" << g.pad);
    CHECK(lhs == Approx(rhs).epsilon(1e-12));
  }
}

TEST_CASE("im2col matches its definition, on the same-width fast path and the general one", "[kernels][im2col]") {
  // Stride 1 with 2*pad == kw-1 takes im2col_same_width (one copy per row, border columns
  // zeroed); the others the row-by-row path. Includes images narrower or shorter than the kernel.
  const PatchGeometry geoms[] = {{3, 7, 5, 3, 3, 1, 1}, {2, 8, 8, 3, 3, 1, 1}, {2, 6, 6, 5, 5, 1, 2}, {1, 2, 2, 5, 5, 1, 2},
                                 {2, 1, 1, 3, 3, 1, 1}, {1, 9, 4, 5, 3, 1, 1}, {3, 4, 7, 1, 1, 1, 0}, {2, 5, 1, 3, 1, 1, 0},
                                 {2, 8, 6, 3, 3, 2, 0}, {1, 9, 4, 2, 3, 3, 2}, {2, 6, 7, 3, 3, 1, 0}, {2, 6, 7, 3, 3, 1, 2}};
  for (const PatchGeometry& g : geoms) {
    INFO("C=" << g.channels << " H=" << g.height << " W=" << g.width << " k=" << g.kernel_h << "x" << g.kernel_w
              << " s=" << g.stride << " p=" << g.pad);
    Rng rng(4);
    Tensor<float> x(Shape{g.channels, g.height, g.width});
    x.uniform_(rng, 1, 2);  // never 0, so a missing copy shows
    Tensor<float> col(Shape{g.col_rows(), g.col_cols()});
    col.fill(-7.0f);  // every entry must be written
    im2col(col.data(), x.data(), g);
    const Index wo = g.out_w();
    Index wrong = 0;
    for (Index c = 0; c < g.channels; ++c)
      for (Index i = 0; i < g.kernel_h; ++i)
        for (Index j = 0; j < g.kernel_w; ++j)
          for (Index p = 0; p < g.col_cols(); ++p) {
            const Index ih = (p / wo) * g.stride - g.pad + i, iw = (p % wo) * g.stride - g.pad + j;
            const float expected = (ih >= 0 && ih < g.height && iw >= 0 && iw < g.width) ? x.at(c, ih, iw) : 0.0f;
            wrong += col.at((c * g.kernel_h + i) * g.kernel_w + j, p) != expected;
          }
    CHECK(wrong == 0);
  }
}

TEST_CASE("im2col places the right pixel and zero padding", "[kernels][im2col]") {
  // One channel 3x3 image 1..9, 3x3 kernel, pad 1: the centre row of col is the image itself.
  Tensor<float> x(Shape{1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  PatchGeometry g{1, 3, 3, 3, 3, 1, 1};
  Tensor<float> col(Shape{9, 9});
  im2col(col.data(), x.data(), g);
  for (Index p = 0; p < 9; ++p) CHECK(col.at(4, p) == x[p]);
  // Row 0 (kernel offset -1,-1): output (0,0) reads padding, output (1,1) reads pixel (0,0).
  CHECK(col.at(0, 0) == 0.0f);
  CHECK(col.at(0, 4) == 1.0f);
  CHECK(col.at(8, 8) == 0.0f);
  CHECK(col.at(8, 4) == 9.0f);
}

TEST_CASE("Fast convolution matches the naive direct convolution", "[kernels][conv]") {
  struct Case {
    Index n, cin, h, w, cout, k, s, p;
  };
  const Case cases[] = {{2, 3, 32, 32, 16, 3, 1, 1}, {3, 8, 16, 16, 32, 3, 1, 1}, {2, 32, 8, 8, 10, 1, 1, 0},
                        {1, 5, 7, 5, 4, 3, 2, 0},     {4, 3, 9, 7, 6, 5, 2, 2},     {17, 4, 6, 6, 3, 3, 1, 1}};
  for (const Case& c : cases) {
    Conv2dGeometry g{c.n, PatchGeometry{c.cin, c.h, c.w, c.k, c.k, c.s, c.p}, c.cout};
    Rng rng(2);
    Tensor<float> x(Shape{c.n, c.cin, c.h, c.w}), w(Shape{c.cout, c.cin, c.k, c.k}), b(Shape{c.cout});
    x.uniform_(rng, -1, 1);
    w.uniform_(rng, -1, 1);
    b.uniform_(rng, -1, 1);
    const Shape ys{c.n, c.cout, g.patch.out_h(), g.patch.out_w()};
    Tensor<float> fast(ys), naive(ys);
    Conv2dWorkspace<float> ws;
    conv2d_forward(fast.data(), x.data(), w.data(), b.data(), g, ws);
    conv2d_forward_naive(naive.data(), x.data(), w.data(), b.data(), g);
    double worst = 0;
    for (Index i = 0; i < fast.size(); ++i) worst = std::max(worst, double(std::abs(fast[i] - naive[i])));
    INFO("case cin=" << c.cin << " cout=" << c.cout << " k=" << c.k << " s=" << c.s << " p=" << c.p);
    CHECK(worst < 1e-4);
  }
}

TEST_CASE("Direct 3x3 convolution matches the naive one, forward and both gradients, in float and double", "[kernels][conv]") {
  // Widths that are multiples of 16 take the direct kernel for every packet size up to 16 floats;
  // they cover one and two packets a row, output-channel tails (Cout % 8), one input channel and
  // one-row images. The weight gradient takes the channels-in-lanes kernel where Cout is a
  // multiple of the packet size (16, 32, 48, 64 in float with AVX-512; also 8 in double), with
  // odd Cin for the two-channel blocks' tail.
  struct Case {
    Index n, cin, h, w, cout;
  };
  const Case cases[] = {{3, 3, 32, 32, 16}, {2, 16, 16, 16, 8}, {2, 8, 16, 16, 32}, {1, 1, 5, 48, 10},
                        {2, 5, 1, 16, 3},   {3, 32, 16, 64, 9}, {1, 7, 3, 16, 17}, {2, 5, 16, 16, 48},
                        {3, 3, 2, 16, 64},  {2, 32, 8, 16, 32}, {2, 16, 4, 16, 32}};
  auto run = [&](auto zero, double tolerance) {
    using T = decltype(zero);
    for (const Case& c : cases) {
      INFO("case n=" << c.n << " cin=" << c.cin << " " << c.h << "x" << c.w << " cout=" << c.cout << " T=" << sizeof(T));
      Conv2dGeometry g{c.n, PatchGeometry{c.cin, c.h, c.w, 3, 3, 1, 1}, c.cout};
      REQUIRE(g.template direct_3x3<T>());
      Rng rng(11);
      Tensor<T> x(Shape{c.n, c.cin, c.h, c.w}), w(Shape{c.cout, c.cin, 3, 3}), b(Shape{c.cout}), dy(Shape{c.n, c.cout, c.h, c.w});
      x.uniform_(rng, -1, 1);
      w.uniform_(rng, -1, 1);
      b.uniform_(rng, -1, 1);
      dy.uniform_(rng, -1, 1);
      auto worst = [](const Tensor<T>& a, const Tensor<T>& r) {
        double m = 0;
        for (Index i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - double(r[i])));
        return m;
      };
      Tensor<T> y(dy.shape()), y_ref(dy.shape());
      Conv2dWorkspace<T> ws;
      y.fill(T(7));
      conv2d_forward(y.data(), x.data(), w.data(), b.data(), g, ws);
      conv2d_forward_naive(y_ref.data(), x.data(), w.data(), b.data(), g);
      CHECK(worst(y, y_ref) < tolerance);
      conv2d_forward(y.data(), x.data(), w.data(), static_cast<const T*>(nullptr), g, ws);  // no bias
      conv2d_forward_naive(y_ref.data(), x.data(), w.data(), static_cast<const T*>(nullptr), g);
      CHECK(worst(y, y_ref) < tolerance);
      Tensor<T> dx(x.shape()), dx_ref(x.shape()), dw(w.shape()), dw_ref(w.shape()), db(b.shape()), db_ref(b.shape());
      dx.fill(T(7));
      for (Tensor<T>* t : {&dw, &dw_ref, &db, &db_ref}) t->fill(T(0.25));  // both accumulate
      conv2d_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), g, ws);
      conv2d_backward_naive(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(), w.data(), g);
      CHECK(worst(dx, dx_ref) < tolerance);
      CHECK(worst(dw, dw_ref) < tolerance * c.h * c.w);  // sums of n*h*w products
      CHECK(worst(db, db_ref) < tolerance * c.h * c.w);
      // A 5x12 image, which the row kernel does not take with 8- or 16-lane packets (as it does
      // not take the 8xs layers in float): the channels-in-lanes kernels where Cout (forward,
      // weight gradient) or Cin (input gradient) is a multiple of the packet size.
      Conv2dGeometry gs{c.n, PatchGeometry{c.cin, 5, 12, 3, 3, 1, 1}, c.cout};
      const Index ps = conv3x3_packet_size<T>();
      CHECK(gs.template lanes_3x3_forward<T>() == (12 % ps != 0 && c.cout % ps == 0));
      CHECK(gs.template lanes_3x3_input_grad<T>() == (12 % ps != 0 && c.cin % ps == 0));
      CHECK(gs.template lanes_3x3_weight_grad<T>() == (c.cout % ps == 0));
      Tensor<T> xs(Shape{c.n, c.cin, 5, 12}), dys(Shape{c.n, c.cout, 5, 12}), ys(dys.shape()), ys_ref(dys.shape());
      xs.uniform_(rng, -1, 1);
      dys.uniform_(rng, -1, 1);
      conv2d_forward(ys.data(), xs.data(), w.data(), b.data(), gs, ws);
      conv2d_forward_naive(ys_ref.data(), xs.data(), w.data(), b.data(), gs);
      CHECK(worst(ys, ys_ref) < tolerance);
      Tensor<T> dxs(xs.shape()), dxs_ref(xs.shape());
      for (Tensor<T>* t : {&dw, &dw_ref, &db, &db_ref}) t->fill(T(0));
      conv2d_backward(dxs.data(), dw.data(), db.data(), dys.data(), xs.data(), w.data(), gs, ws);
      conv2d_backward_naive(dxs_ref.data(), dw_ref.data(), db_ref.data(), dys.data(), xs.data(), w.data(), gs);
      CHECK(worst(dxs, dxs_ref) < tolerance);
      CHECK(worst(dw, dw_ref) < tolerance * 60);
      // The weight gradient alone (first layer: no dx).
      for (Tensor<T>* t : {&dw, &dw_ref, &db, &db_ref}) t->fill(T(0));
      conv2d_backward(static_cast<T*>(nullptr), dw.data(), db.data(), dys.data(), xs.data(), w.data(), gs, ws);
      conv2d_backward_naive(static_cast<T*>(nullptr), dw_ref.data(), db_ref.data(), dys.data(), xs.data(), w.data(), gs);
      CHECK(worst(dw, dw_ref) < tolerance * 60);
      CHECK(worst(db, db_ref) < tolerance * 60);
    }
  };
  run(0.0f, 1e-4);
  run(0.0, 1e-12);
  // Not direct: another kernel size, stride or padding, or a width off the packet size.
  CHECK_FALSE((Conv2dGeometry{1, PatchGeometry{4, 16, 16, 3, 3, 2, 1}, 4}.direct_3x3<float>()));
  CHECK_FALSE((Conv2dGeometry{1, PatchGeometry{4, 16, 16, 3, 3, 1, 0}, 4}.direct_3x3<float>()));
  CHECK_FALSE((Conv2dGeometry{1, PatchGeometry{4, 16, 16, 5, 5, 1, 1}, 4}.direct_3x3<float>()));
  if (conv3x3_packet_size<float>() > 1) CHECK_FALSE((Conv2dGeometry{1, PatchGeometry{4, 16, 17, 3, 3, 1, 1}, 4}.direct_3x3<float>()));
}

TEST_CASE("Convolution backward matches the naive adjoint, on both input-gradient paths", "[kernels][conv]") {
  struct Case {
    Index n, cin, h, w, cout, k, s, p;
    bool flipped;  // expected input_grad_by_flipped_kernel()
  };
  const Case cases[] = {{2, 16, 16, 16, 8, 3, 1, 1, true},  {3, 16, 17, 16, 4, 3, 1, 0, true},
                        {2, 17, 16, 16, 3, 5, 1, 2, true},  {1, 16, 18, 16, 5, 5, 1, 1, true},
                        {3, 8, 16, 16, 32, 3, 1, 1, false}, {2, 32, 8, 8, 10, 1, 1, 0, false},
                        {1, 5, 7, 5, 4, 3, 2, 0, false},    {4, 3, 9, 7, 6, 5, 2, 2, false},
                        {17, 4, 6, 6, 3, 3, 1, 1, false},   {2, 16, 16, 16, 4, 3, 1, 3, false},
                        {3, 16, 16, 16, 3, 3, 2, 1, false}, {3, 2, 6, 5, 3, 1, 1, 1, false}};
  for (const Case& c : cases) {
    INFO("case n=" << c.n << " cin=" << c.cin << " " << c.h << "x" << c.w << " cout=" << c.cout << " k=" << c.k
                   << " s=" << c.s << " p=" << c.p);
    Conv2dGeometry g{c.n, PatchGeometry{c.cin, c.h, c.w, c.k, c.k, c.s, c.p}, c.cout};
    CHECK(g.input_grad_by_flipped_kernel() == c.flipped);  // the direct 3x3 kernel, where it applies, comes first
    Rng rng(3);
    Tensor<double> x(Shape{c.n, c.cin, c.h, c.w}), w(Shape{c.cout, c.cin, c.k, c.k});
    Tensor<double> dy(Shape{c.n, c.cout, g.patch.out_h(), g.patch.out_w()});
    x.uniform_(rng, -1, 1);
    w.uniform_(rng, -1, 1);
    dy.uniform_(rng, -1, 1);
    Tensor<double> dx(x.shape()), dx_ref(x.shape()), dw(w.shape()), dw_ref(w.shape()), db(Shape{c.cout}), db_ref(Shape{c.cout});
    for (Tensor<double>* t : {&dw, &dw_ref, &db, &db_ref}) t->fill(0.25);  // both accumulate
    dx.fill(7.0);                                                          // both overwrite
    Conv2dWorkspace<double> ws;
    conv2d_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), g, ws);
    conv2d_backward_naive(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(), w.data(), g);
    auto worst = [](const Tensor<double>& a, const Tensor<double>& b) {
      double m = 0;
      for (Index i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
      return m;
    };
    CHECK(worst(dx, dx_ref) < 1e-12);
    CHECK(worst(dw, dw_ref) < 1e-12);
    CHECK(worst(db, db_ref) < 1e-12);
  }
}

TEST_CASE("ReLU backward and dropout take the right element, over block boundaries and tails", "[kernels][elementwise]") {
  // Lengths below, at and across kElementwiseBlock, with odd tails, so that the vectorised body,
  // its remainder and the per-block split are all exercised against the definition.
  const Index lengths[] = {1, 7, 33, kElementwiseBlock, kElementwiseBlock + 5, 3 * kElementwiseBlock - 1};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto same = [](float a, float b) { return a == b || (std::isnan(a) && std::isnan(b)); };
  for (Index n : lengths) {
    Rng rng(static_cast<std::uint64_t>(n));
    std::vector<float> x(n), dy(n), dx(n), y(n);
    std::vector<std::uint8_t> mask(n);
    for (Index i = 0; i < n; ++i) {
      x[i] = static_cast<float>(rng.uniform() * 2 - 1);
      dy[i] = static_cast<float>(rng.uniform() * 2 - 1);
      mask[i] = rng.uniform() < 0.7;
    }
    x[0] = 0.0f;  // the kink: [x > 0] is 0 there, as in PyTorch
    if (n > 3) {
      x[1] = nan;   // a NaN input passes no gradient
      dy[2] = nan;  // a NaN gradient where x <= 0 gives 0, where x > 0 stays NaN
      x[2] = -0.5f;
      dy[3] = nan;
      x[3] = 0.25f;
    }
    relu_backward(dx.data(), dy.data(), x.data(), n);
    Index wrong = 0;
    for (Index i = 0; i < n; ++i) wrong += !same(dx[i], x[i] > 0.0f ? dy[i] : 0.0f);
    INFO("n=" << n);
    CHECK(wrong == 0);
    if (n > 3) CHECK(std::isnan(dx[3]));

    dropout_apply(y.data(), x.data(), mask.data(), 2.5f, n);
    wrong = 0;
    for (Index i = 0; i < n; ++i) wrong += !same(y[i], x[i] * (mask[i] ? 2.5f : 0.0f));
    CHECK(wrong == 0);
  }
}

namespace {

// Same size and, element by element, the same value or both NaN.
template <typename T>
bool same(const Tensor<T>& a, const Tensor<T>& b) {
  if (a.size() != b.size()) return false;
  for (Index i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}

// A norm with Activation::ReLU against the same norm followed by a ReLU module: outputs, input
// gradients and parameter gradients equal bit for bit (train and eval mode), for float.
template <typename Norm, typename... Args>
void check_fused_relu(const Shape& shape, Args... args) {
  Norm fused(args..., Activation::ReLU), plain(args..., Activation::Identity);
  ReLU<float> relu;
  Rng rng(31);
  Tensor<float> x(shape), dy(shape);
  for (const Mode mode : {Mode::Train, Mode::Eval, Mode::Train}) {
    x.normal_(rng, 0.5, 2.0);
    dy.normal_(rng, 0.0, 1.0);
    fused.weight().value.uniform_(rng, -1.5, 1.5);
    fused.bias().value.uniform_(rng, -1, 1);
    plain.weight().value = fused.weight().value.clone();
    plain.bias().value = fused.bias().value.clone();
    for (Norm* m : {&fused, &plain}) {
      m->weight().grad.zero();
      m->bias().grad.zero();
    }
    const Tensor<float>& yf = fused.forward(x, mode);
    const Tensor<float>& yp = relu.forward(plain.forward(x, mode), mode);
    // A NaN gradient where the output is 0 must not get through (as in ReLU's backward).
    for (Index i = 0; i < x.size(); i += 7)
      if (yf[i] == 0.0f) dy[i] = std::numeric_limits<float>::quiet_NaN();
    const Tensor<float>& dxf = fused.backward(dy);
    const Tensor<float>& dxp = plain.backward(relu.backward(dy));
    INFO(fused.name() << " " << shape << (mode == Mode::Train ? " train" : " eval"));
    Index zeros = 0;
    for (Index i = 0; i < yf.size(); ++i) zeros += yf[i] == 0.0f;
    CHECK(zeros > yf.size() / 10);  // the ReLU is active on both sides of the kink
    CHECK(same(yf, yp));
    CHECK(same(dxf, dxp));
    bool finite = true;
    for (Index i = 0; i < dxf.size(); ++i) finite = finite && std::isfinite(dxf[i]);
    CHECK(finite);
    CHECK(same(fused.weight().grad, plain.weight().grad));
    CHECK(same(fused.bias().grad, plain.bias().grad));
  }
}

}  // namespace

TEST_CASE("Norms with a fused ReLU equal the norm followed by ReLU, bit for bit", "[kernels][norm]") {
  check_fused_relu<BatchNorm2d<float>>(Shape{4, 6, 9, 7}, Index{6}, 1e-5, 0.1);
  check_fused_relu<BatchNorm2d<float>>(Shape{32, 16, 32, 32}, Index{16}, 1e-5, 0.1);  // several threads' channels
  check_fused_relu<GroupNorm<float>>(Shape{5, 6, 7, 3}, Index{2}, Index{6}, 1e-5);
  check_fused_relu<LayerNorm<float>>(Shape{3, 8, 8, 8}, Index{8}, 1e-5);
  // A NaN input stays NaN through the fused ReLU, as through the module (the trainer's NaN check relies on it).
  BatchNorm2d<float> bn(2, 1e-5, 0.1, Activation::ReLU);
  Tensor<float> x(Shape{2, 2, 2, 2});
  x.fill(1.0f);
  x[3] = 2.0f;
  const Tensor<float> y = bn.forward(x, Mode::Eval).clone();
  x[0] = std::numeric_limits<float>::quiet_NaN();
  const Tensor<float>& y2 = bn.forward(x, Mode::Eval);
  CHECK(std::isnan(y2[0]));
  CHECK(y[1] == y2[1]);
}

TEST_CASE("BatchNorm batch statistics match a two-pass sum, also far from zero and for one sample", "[kernels][norm]") {
  // The per-sample moments, combined in sample order, against the textbook two passes in long
  // double over the same float values: mean first, then the squared deviations from it.
  struct Case {
    Index n, c, hw;
    double offset, spread;
  };
  for (const Case k : {Case{5, 3, 37, 0.0, 1.0}, Case{32, 4, 64, 1e4, 0.5}, Case{1, 2, 9, -300.0, 1e-3}, Case{7, 1, 1, 2.0, 3.0}}) {
    Rng rng(31);
    Tensor<float> x(Shape{k.n, k.c, k.hw});
    x.normal_(rng, 0.0, k.spread);
    for (Index i = 0; i < x.size(); ++i) x[i] += static_cast<float>(k.offset + 0.01 * k.spread * static_cast<double>(i % k.c));
    std::vector<double> mean(static_cast<std::size_t>(k.c)), var(mean.size()), scratch(static_cast<std::size_t>(2 * k.n * k.c));
    batchnorm_stats(mean.data(), var.data(), scratch.data(), x.data(), k.n, k.c, k.hw);
    for (Index ch = 0; ch < k.c; ++ch) {
      long double s = 0, q = 0;
      const long double m = static_cast<long double>(k.n * k.hw);
      for (Index i = 0; i < k.n; ++i)
        for (Index j = 0; j < k.hw; ++j) s += x[(i * k.c + ch) * k.hw + j];
      const long double mu = s / m;
      for (Index i = 0; i < k.n; ++i)
        for (Index j = 0; j < k.hw; ++j) q += (x[(i * k.c + ch) * k.hw + j] - mu) * (x[(i * k.c + ch) * k.hw + j] - mu);
      INFO("n " << k.n << " c " << k.c << " hw " << k.hw << " offset " << k.offset << " channel " << ch);
      const auto i = static_cast<std::size_t>(ch);
      CHECK(mean[i] == Approx(static_cast<double>(mu)).epsilon(1e-14).margin(1e-12 * k.spread));
      CHECK(var[i] == Approx(static_cast<double>(q / m)).epsilon(1e-10).margin(1e-24));
    }
  }
}

namespace {

// ConvNorm (the norm run on each sample inside the convolution's loop) against a Conv2d and the
// norm as two modules with the same parameters: outputs, input gradients, every parameter
// gradient and the running statistics equal bit for bit, in training and eval mode, with one
// thread and with two. make_norm(act) builds the norm.
template <typename T, typename MakeNorm>
void check_conv_norm(const Shape& in, Index cout, Index k, MakeNorm make_norm) {
  const Index cin = in[1], pad = k / 2;
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Activation act : {Activation::ReLU, Activation::Identity}) {
      ConvNorm<T> fused(std::make_unique<Conv2d<T>>(cin, cout, k, 1, pad), make_norm(act));
      Sequential<T> plain;
      plain.add(std::make_unique<Conv2d<T>>(cin, cout, k, 1, pad));
      plain.add(make_norm(act));
      Rng rng(7);
      fused.reset_parameters(rng);
      auto pf = parameters(fused), pp = parameters(plain);
      auto bf = buffers(fused), bp = buffers(plain);
      REQUIRE(pf.size() == pp.size());
      REQUIRE(bf.size() == bp.size());
      for (auto& p : pf) p.param->value.uniform_(rng, -0.5, 0.5);
      for (std::size_t i = 0; i < pf.size(); ++i) pp[i].param->value = pf[i].param->value.clone();
      CHECK(pf[0].name == "conv.weight");
      Tensor<T> x(in);
      for (const Mode mode : {Mode::Train, Mode::Eval, Mode::Train}) {
        x.normal_(rng, 0.0, 1.0);
        for (auto* ps : {&pf, &pp})
          for (auto& p : *ps) p.param->grad.zero();
        const Tensor<T>& yf = fused.forward(x, mode);
        const Tensor<T>& yp = plain.forward(x, mode);
        Tensor<T> dy(yf.shape());
        dy.normal_(rng, 0.0, 1.0);
        const Tensor<T>& dxf = fused.backward(dy);
        const Tensor<T>& dxp = plain.backward(dy);
        INFO(fused.name() << " " << in << " threads " << threads << (mode == Mode::Train ? " train" : " eval"));
        CHECK(same(yf, yp));
        CHECK(same(dxf, dxp));
        for (std::size_t i = 0; i < pf.size(); ++i) {
          INFO(pf[i].name);
          CHECK(same(pf[i].param->grad, pp[i].param->grad));
        }
        for (std::size_t i = 0; i < bf.size(); ++i) {
          INFO(bf[i].name);
          CHECK(same(*bf[i].tensor, *bp[i].tensor));
        }
      }
    }
  }
  set_num_threads(2);
}

}  // namespace

TEST_CASE("ConvNorm equals the convolution followed by the norm, bit for bit, train and eval", "[nn][conv_norm]") {
  // 32x32 and 16x16 take the row kernel of the 3x3 convolution, 8x8 the channels-in-lanes one,
  // 7x5 and the 1x1 convolution the im2col / GEMM path.
  auto bn = [](Index c) { return [c](Activation a) { return std::make_unique<BatchNorm2d<float>>(c, 1e-5, 0.1, a); }; };
  auto gn = [](Index c) { return [c](Activation a) { return std::make_unique<GroupNorm<float>>(2, c, 1e-5, a); }; };
  auto ln = [](Index c) { return [c](Activation a) { return std::make_unique<LayerNorm<float>>(c, 1e-5, a); }; };
  for (const Shape& in : {Shape{5, 3, 32, 32}, Shape{6, 8, 16, 16}, Shape{5, 16, 8, 8}, Shape{3, 4, 7, 5}}) {
    check_conv_norm<float>(in, 16, 3, bn(16));
    check_conv_norm<float>(in, 16, 3, gn(16));
    check_conv_norm<float>(in, 16, 3, ln(16));
  }
  check_conv_norm<float>(Shape{4, 16, 8, 8}, 8, 1, gn(8));
  check_conv_norm<double>(Shape{3, 8, 16, 16}, 8, 3, [](Activation a) {
    return std::make_unique<GroupNorm<double>>(4, 8, 1e-5, a);
  });
}
