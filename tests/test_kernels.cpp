// Kernel-level properties: im2col/col2im adjointness, fast convolution = naive convolution,
// the element-wise kernels against their definition.
#include <catch2/catch.hpp>

#include <glia/glia.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "support/instruction_sets.hpp"
#include "support/tensor_compare.hpp"

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

namespace {

using glia::testing::max_rel_diff;

// Inputs of one convolution and its naive results, for comparing an algorithm with them.
template <typename T>
struct ConvCase {
  Conv2dGeometry g;
  Tensor<T> x, w, b, dy, y_ref, dx_ref, dw_ref, db_ref;
  explicit ConvCase(const Conv2dGeometry& geometry) : g(geometry) {
    const PatchGeometry& p = g.patch;
    x = Tensor<T>(Shape{g.batch, p.channels, p.height, p.width});
    w = Tensor<T>(Shape{g.out_channels, p.channels / g.groups, p.kernel_h, p.kernel_w});
    b = Tensor<T>(Shape{g.out_channels});
    dy = Tensor<T>(Shape{g.batch, g.out_channels, p.out_h(), p.out_w()});
    Rng rng(11);
    for (Tensor<T>* t : {&x, &w, &b, &dy}) t->uniform_(rng, -1, 1);
    y_ref = Tensor<T>(dy.shape());
    conv2d_forward_naive(y_ref.data(), x.data(), w.data(), b.data(), g);
    dx_ref = Tensor<T>(x.shape());
    dw_ref = Tensor<T>(w.shape());
    db_ref = Tensor<T>(b.shape());
    dw_ref.fill(T(0.25));  // dW and db accumulate
    db_ref.fill(T(0.25));
    conv2d_backward_naive(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(), w.data(), g);
  }
  // Forward with and without bias; y starts as garbage (every element must be written).
  double forward_error(const ConvAlgorithms& a, Conv2dWorkspace<T>& ws) const {
    Tensor<T> y(dy.shape()), y_nobias(dy.shape()), ref_nobias(dy.shape());
    y.fill(T(7));
    conv2d_forward(y.data(), x.data(), w.data(), b.data(), g, a, ws);
    conv2d_forward(y_nobias.data(), x.data(), w.data(), static_cast<const T*>(nullptr), g, a, ws);
    conv2d_forward_naive(ref_nobias.data(), x.data(), w.data(), static_cast<const T*>(nullptr), g);
    return std::max(max_rel_diff(y, y_ref), max_rel_diff(y_nobias, ref_nobias));
  }
  // Backward with dx (garbage before: overwritten) and without (the first layer): the worst of
  // dx, dW and db.
  double backward_error(const ConvAlgorithms& a, Conv2dWorkspace<T>& ws) const {
    Tensor<T> dx(x.shape()), dw(w.shape()), db(b.shape());
    dx.fill(T(7));
    dw.fill(T(0.25));
    db.fill(T(0.25));
    conv2d_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), g, a, ws);
    double e = std::max({max_rel_diff(dx, dx_ref), max_rel_diff(dw, dw_ref), max_rel_diff(db, db_ref)});
    dw.fill(T(0.25));
    db.fill(T(0.25));
    conv2d_backward(static_cast<T*>(nullptr), dw.data(), db.data(), dy.data(), x.data(), w.data(), g, a, ws);
    return std::max({e, max_rel_diff(dw, dw_ref), max_rel_diff(db, db_ref)});
  }
};

// Geometries on which every algorithm applies at least twice whatever the packet size up to 16
// (AVX-512 float): 3x3 same layers with widths multiple of 16 (one and two packets a row) and
// channels multiple of 16 (one and several lanes blocks), plus output-channel tails for the row
// kernel, odd Cin for the lanes weight gradient's two-channel blocks, one-row images, 1x1,
// 5x5, unpadded and strided geometries; then grouped, depthwise (with channel multipliers) and
// dilated ones, for the algorithms of groups and dilation. {batch, Cin, H, W, Cout, k, stride,
// pad, groups, dilation}
struct GeometryCase {
  Index n, cin, h, w, cout, k, s, p, groups = 1, dilation = 1;
  Conv2dGeometry geometry() const { return Conv2dGeometry{n, PatchGeometry{cin, h, w, k, k, s, p, dilation}, cout, groups}; }
};
const GeometryCase kAlgorithmGeometries[] = {
    {2, 16, 8, 16, 32, 3, 1, 1}, {3, 16, 5, 32, 16, 3, 1, 1}, {2, 32, 4, 48, 48, 3, 1, 1}, {2, 5, 6, 16, 16, 3, 1, 1},
    {1, 16, 1, 16, 9, 3, 1, 1},  {2, 7, 3, 16, 17, 3, 1, 1},  {3, 32, 8, 8, 32, 3, 1, 1},  {2, 16, 5, 12, 16, 3, 1, 1},
    {2, 32, 8, 8, 16, 1, 1, 0},  {3, 5, 4, 7, 3, 1, 1, 0},    {2, 16, 9, 7, 6, 5, 1, 2},   {2, 3, 7, 6, 4, 3, 1, 0},
    {3, 4, 9, 7, 5, 3, 2, 1},    {2, 3, 6, 5, 3, 1, 1, 1},    {17, 4, 6, 6, 3, 3, 1, 1},
    {2, 8, 9, 10, 6, 3, 2, 1, 2, 2}, {2, 6, 8, 8, 9, 3, 1, 2, 3, 2}, {2, 4, 7, 6, 8, 3, 1, 1, 2, 1},
    {3, 6, 7, 9, 12, 3, 1, 1, 6, 1}, {2, 4, 9, 8, 4, 3, 2, 2, 4, 2}, {2, 5, 6, 7, 5, 5, 1, 2, 5, 1},
    {2, 3, 9, 9, 6, 3, 1, 0, 1, 3}};

// Runs every applicable algorithm of every direction on every geometry; returns how many
// geometries each algorithm ran on, by name and direction.
template <typename T>
std::map<std::string, int> check_every_algorithm(double tolerance) {
  const Index packet = conv3x3_packet_size<T>();
  std::map<std::string, int> runs;
  for (const GeometryCase& gc : kAlgorithmGeometries) {
    const ConvCase<T> c(gc.geometry());
    const ConvAlgorithms automatic = select_conv_algorithms(c.g, packet).algorithms;
    // The general algorithms, paired with each one under test: im2col's, or those of groups and dilation.
    const ConvAlgorithms general = c.g.is_dense() ? ConvAlgorithms{}
                                                  : ConvAlgorithms{ConvForwardAlgorithm::GroupedIm2colGemm,
                                                                   ConvInputGradAlgorithm::GroupedCol2imGemm,
                                                                   ConvWeightGradAlgorithm::GroupedIm2colGemm};
    Conv2dWorkspace<T> ws;  // one workspace for every algorithm, as a layer whose choice changes
    INFO(c.g.str() << ", packet " << packet);
    CHECK(c.forward_error(automatic, ws) < tolerance);
    CHECK(c.backward_error(automatic, ws) < tolerance);
    for (ConvForwardAlgorithm f : kConvForwardAlgorithms) {
      if (!conv_algorithm_applies(c.g, f, packet)) continue;
      INFO("forward " << conv_algorithm_name(f));
      CHECK(c.forward_error(ConvAlgorithms{f, automatic.input_grad, automatic.weight_grad}, ws) < tolerance);
      ++runs[std::string("forward ") + conv_algorithm_name(f)];
    }
    for (ConvInputGradAlgorithm d : kConvInputGradAlgorithms) {
      if (!conv_algorithm_applies(c.g, d, packet)) continue;
      INFO("input grad " << conv_algorithm_name(d));
      CHECK(c.backward_error(ConvAlgorithms{automatic.forward, d, automatic.weight_grad}, ws) < tolerance);
      CHECK(c.backward_error(ConvAlgorithms{automatic.forward, d, general.weight_grad}, ws) < tolerance);
      ++runs[std::string("input_grad ") + conv_algorithm_name(d)];
    }
    for (ConvWeightGradAlgorithm wg : kConvWeightGradAlgorithms) {
      if (!conv_algorithm_applies(c.g, wg, packet)) continue;
      INFO("weight grad " << conv_algorithm_name(wg));
      CHECK(c.backward_error(ConvAlgorithms{automatic.forward, automatic.input_grad, wg}, ws) < tolerance);
      CHECK(c.backward_error(ConvAlgorithms{automatic.forward, general.input_grad, wg}, ws) < tolerance);
      ++runs[std::string("weight_grad ") + conv_algorithm_name(wg)];
    }
  }
  return runs;
}

void require_every_algorithm_ran(const std::map<std::string, int>& runs) {
  std::vector<std::string> names;
  for (auto f : kConvForwardAlgorithms) names.push_back(std::string("forward ") + conv_algorithm_name(f));
  for (auto d : kConvInputGradAlgorithms) names.push_back(std::string("input_grad ") + conv_algorithm_name(d));
  for (auto w : kConvWeightGradAlgorithms) names.push_back(std::string("weight_grad ") + conv_algorithm_name(w));
  for (const std::string& name : names) {
    INFO(name);
    CHECK((runs.count(name) ? runs.at(name) : 0) >= 2);
  }
}

}  // namespace

TEST_CASE("Every convolution algorithm of every direction, forced, matches the naive convolution, at every level",
          "[kernels][conv][isa]") {
  // The same algorithms run on every build and level: the geometries fit packets of 1 to 16 elements.
  for (InstructionSet level : glia::testing::runnable_instruction_sets()) {
    INFO("instruction set " << instruction_set_name(level));
    ScopedInstructionSet use(level);
    require_every_algorithm_ran(check_every_algorithm<float>(2e-5));
    require_every_algorithm_ran(check_every_algorithm<double>(1e-13));
  }
}

TEST_CASE("Convolution algorithms: applicability, and a forced one that does not apply is a ValueError",
          "[kernels][conv]") {
  using F = ConvForwardAlgorithm;
  using D = ConvInputGradAlgorithm;
  using G = ConvWeightGradAlgorithm;
  const Conv2dGeometry g3{2, PatchGeometry{12, 5, 12, 3, 3, 1, 1}, 24};  // 3x3 same, W = 12, Cin 12, Cout 24
  CHECK(conv_algorithm_applies(g3, F::Rows3x3, 4));
  CHECK_FALSE(conv_algorithm_applies(g3, F::Rows3x3, 8));  // a row of 12 is not whole packets of 8
  CHECK(conv_algorithm_applies(g3, F::Rows3x3, 1));        // without vectorisation any width
  CHECK(conv_algorithm_applies(g3, F::ChannelLanes3x3, 8));
  CHECK_FALSE(conv_algorithm_applies(g3, F::ChannelLanes3x3, 16));
  CHECK_FALSE(conv_algorithm_applies(g3, D::ChannelLanes3x3, 8));  // the input gradient's lanes are Cin
  CHECK(conv_algorithm_applies(g3, D::ChannelLanes3x3, 4));
  CHECK(conv_algorithm_applies(g3, G::ChannelLanes3x3, 8));
  CHECK_FALSE(conv_algorithm_applies(g3, F::Pointwise1x1Gemm, 1));
  CHECK(conv_algorithm_applies(g3, D::FlippedKernelGemm, 16));
  const Conv2dGeometry strided{2, PatchGeometry{16, 16, 16, 3, 3, 2, 1}, 16}, padded{2, PatchGeometry{16, 16, 16, 3, 3, 1, 3}, 16};
  for (const Conv2dGeometry& g : {strided, padded}) {
    CHECK_FALSE(conv_algorithm_applies(g, F::Rows3x3, 1));
    CHECK_FALSE(conv_algorithm_applies(g, D::ChannelLanes3x3, 1));
    CHECK_FALSE(conv_algorithm_applies(g, G::ChannelLanes3x3, 1));
    CHECK_FALSE(conv_algorithm_applies(g, D::FlippedKernelGemm, 1));
    CHECK(conv_algorithm_applies(g, F::Im2colGemm, 16));  // the general algorithms apply everywhere
    CHECK(conv_algorithm_applies(g, D::Col2imGemm, 16));
    CHECK(conv_algorithm_applies(g, G::Im2colGemm, 16));
  }
  // Forced where it does not apply: a ValueError that names the caller, the geometry and why,
  // from the kernels and from the layer, never a crash.
  const Conv2dGeometry g1{1, PatchGeometry{4, 6, 6, 1, 1, 1, 0}, 4};
  Tensor<float> x(Shape{1, 4, 6, 6}), w(Shape{4, 4, 1, 1}), y(Shape{1, 4, 6, 6});
  x.fill(1.0f);
  w.fill(1.0f);
  Conv2dWorkspace<float> ws;
  CHECK_THROWS_WITH(conv2d_forward(y.data(), x.data(), w.data(), static_cast<const float*>(nullptr), g1,
                                   ConvAlgorithms{F::Rows3x3, D::Col2imGemm, G::Im2colGemm}, ws),
                    Catch::Contains("conv2d_forward") && Catch::Contains("rows_3x3") &&
                        Catch::Contains("input [1,4,6,6], kernel 1x1") && Catch::Contains("needs a 3x3 kernel"));
  Conv2d<float> conv(4, 4, 1);
  conv.set_algorithms(ConvAlgorithmRequest{std::nullopt, D::ChannelLanes3x3, std::nullopt});
  CHECK_THROWS_AS(conv.forward(x, Mode::Train), ValueError);
  CHECK_THROWS_WITH(conv.algorithms_for(x.shape()), Catch::Contains("Conv2d(4->4, k1") &&
                                                        Catch::Contains("input-gradient algorithm channel_lanes_3x3"));
  conv.set_algorithms({});  // back to automatic
  CHECK(conv.forward(x, Mode::Train).shape() == Shape{1, 4, 6, 6});
  // (resolve_conv_algorithms, not select_: the test holds with GLIA_CONV_ALGO set, too.)
  CHECK(conv.algorithms_for(x.shape()).algorithms.input_grad ==
        resolve_conv_algorithms(g1, conv3x3_packet_size<float>(), {}, "test").algorithms.input_grad);
}

TEST_CASE("A Conv2d layer runs the algorithms set on it, with the automatic one's results", "[kernels][conv]") {
  Rng rng(5);
  Tensor<double> x(Shape{3, 16, 8, 16}), dy(Shape{3, 32, 8, 16});
  x.uniform_(rng, -1, 1);
  dy.uniform_(rng, -1, 1);
  Conv2d<double> automatic(16, 32, 3, 1, 1), forced(16, 32, 3, 1, 1);
  automatic.reset_parameters(rng);
  forced.weight().value = automatic.weight().value.clone();
  forced.bias().value = automatic.bias().value.clone();
  forced.set_algorithms(ConvAlgorithmRequest{ConvForwardAlgorithm::Im2colGemm, ConvInputGradAlgorithm::FlippedKernelGemm,
                                             ConvWeightGradAlgorithm::Im2colGemm});
  const ConvAlgorithmChoice c = forced.algorithms_for(x.shape());
  CHECK(c.algorithms.forward == ConvForwardAlgorithm::Im2colGemm);
  CHECK(c.algorithms.input_grad == ConvInputGradAlgorithm::FlippedKernelGemm);
  CHECK(c.algorithms.weight_grad == ConvWeightGradAlgorithm::Im2colGemm);
  CHECK(std::string(c.forward_why).find("set_algorithms") != std::string::npos);
  CHECK(max_rel_diff(forced.forward(x, Mode::Train), automatic.forward(x, Mode::Train)) < 1e-13);
  CHECK(max_rel_diff(forced.backward(dy), automatic.backward(dy)) < 1e-13);
  CHECK(max_rel_diff(forced.weight().grad, automatic.weight().grad) < 1e-13);
}

TEST_CASE("GLIA_CONV_ALGO's syntax: direction=algorithm pairs, unknown names refused", "[kernels][conv]") {
  const ConvAlgorithmRequest r = parse_conv_algorithm_request("forward=rows_3x3,weight_grad=im2col_gemm", "test");
  CHECK(r.forward == ConvForwardAlgorithm::Rows3x3);
  CHECK_FALSE(r.input_grad.has_value());
  CHECK(r.weight_grad == ConvWeightGradAlgorithm::Im2colGemm);
  const ConvAlgorithmRequest d = parse_conv_algorithm_request("input_grad=flipped_kernel_gemm", "test");
  CHECK(d.input_grad == ConvInputGradAlgorithm::FlippedKernelGemm);
  const ConvAlgorithmRequest none = parse_conv_algorithm_request("", "test");
  CHECK_FALSE((none.forward || none.input_grad || none.weight_grad));
  CHECK_THROWS_WITH(parse_conv_algorithm_request("forward=col2im_gemm", "GLIA_CONV_ALGO"),
                    Catch::Contains("GLIA_CONV_ALGO") && Catch::Contains("unknown algorithm 'col2im_gemm'") &&
                        Catch::Contains("im2col_gemm, pointwise_1x1_gemm, rows_3x3, channel_lanes_3x3"));
  CHECK_THROWS_WITH(parse_conv_algorithm_request("backward=im2col_gemm", "x"), Catch::Contains("unknown direction 'backward'"));
  CHECK_THROWS_AS(parse_conv_algorithm_request("rows_3x3", "x"), ValueError);
}

TEST_CASE("The automatic convolution algorithms of the reference network's layers, per packet size", "[kernels][conv]") {
  // select_conv_algorithms depends on the machine only through the packet size: 16 floats with
  // AVX-512, 8 with AVX2 (and 8 doubles with AVX-512), 4 with SSE, 1 without vectorisation.
  // Every 3x3 layer's width is a multiple of 8 except with 16-float packets at 8x8.
  struct Layer {
    const char* name;
    Index cin, cout, k, hw;
    const char *forward, *input_grad, *weight_grad;  // with packets of 1, 4 and 8
    const char *forward16, *input_grad16;            // with packets of 16 (the weight gradient as above)
  };
  const Layer layers[] = {
      {"C1", 3, 16, 3, 32, "rows_3x3", "rows_3x3", "channel_lanes_3x3", "rows_3x3", "rows_3x3"},
      {"C2", 16, 16, 3, 32, "rows_3x3", "rows_3x3", "channel_lanes_3x3", "rows_3x3", "rows_3x3"},
      {"c3", 16, 8, 1, 32, "pointwise_1x1_gemm", "pointwise_1x1_gemm", "pointwise_1x1_gemm", "pointwise_1x1_gemm",
       "pointwise_1x1_gemm"},
      {"C3", 8, 32, 3, 16, "rows_3x3", "rows_3x3", "channel_lanes_3x3", "rows_3x3", "rows_3x3"},
      {"C4", 32, 32, 3, 16, "rows_3x3", "rows_3x3", "channel_lanes_3x3", "rows_3x3", "rows_3x3"},
      {"c6", 32, 16, 1, 16, "pointwise_1x1_gemm", "pointwise_1x1_gemm", "pointwise_1x1_gemm", "pointwise_1x1_gemm",
       "pointwise_1x1_gemm"},
      {"C7", 16, 32, 3, 8, "rows_3x3", "rows_3x3", "channel_lanes_3x3", "channel_lanes_3x3", "channel_lanes_3x3"},
      {"C8", 32, 32, 3, 8, "rows_3x3", "rows_3x3", "channel_lanes_3x3", "channel_lanes_3x3", "channel_lanes_3x3"},
      {"c10", 32, 10, 1, 1, "pointwise_1x1_gemm", "pointwise_1x1_gemm", "pointwise_1x1_gemm", "pointwise_1x1_gemm",
       "pointwise_1x1_gemm"}};
  for (const Layer& l : layers)
    for (Index packet : {1, 4, 8, 16}) {
      INFO(l.name << " with packets of " << packet);
      const Conv2dGeometry g{32, PatchGeometry{l.cin, l.hw, l.hw, l.k, l.k, 1, l.k / 2}, l.cout};
      const ConvAlgorithms a = select_conv_algorithms(g, packet).algorithms;
      CHECK(std::string(conv_algorithm_name(a.forward)) == (packet == 16 ? l.forward16 : l.forward));
      CHECK(std::string(conv_algorithm_name(a.input_grad)) == (packet == 16 ? l.input_grad16 : l.input_grad));
      CHECK(std::string(conv_algorithm_name(a.weight_grad)) == l.weight_grad);
    }
  // The general geometries: the flipped-kernel input gradient from Cin >= 16 and H*W >= 256.
  using D = ConvInputGradAlgorithm;
  CHECK(select_conv_algorithms(Conv2dGeometry{2, PatchGeometry{16, 16, 16, 5, 5, 1, 2}, 8}, 8).algorithms.input_grad ==
        D::FlippedKernelGemm);
  CHECK(select_conv_algorithms(Conv2dGeometry{2, PatchGeometry{15, 16, 16, 5, 5, 1, 2}, 8}, 8).algorithms.input_grad ==
        D::Col2imGemm);
  CHECK(select_conv_algorithms(Conv2dGeometry{2, PatchGeometry{16, 15, 16, 5, 5, 1, 2}, 8}, 8).algorithms.input_grad ==
        D::Col2imGemm);
  CHECK(select_conv_algorithms(Conv2dGeometry{2, PatchGeometry{16, 16, 16, 3, 3, 2, 1}, 8}, 8).algorithms.forward ==
        ConvForwardAlgorithm::Im2colGemm);
  // 3x3 same off the packet: the lanes kernels where the channels fit, else the GEMMs.
  const ConvAlgorithms off = select_conv_algorithms(Conv2dGeometry{2, PatchGeometry{12, 5, 12, 3, 3, 1, 1}, 24}, 8).algorithms;
  CHECK(off.forward == ConvForwardAlgorithm::ChannelLanes3x3);
  CHECK(off.input_grad == D::Col2imGemm);
  CHECK(off.weight_grad == ConvWeightGradAlgorithm::ChannelLanes3x3);
}

TEST_CASE("The instruction-set line names the dispatched level, the CPU's and the compiled one", "[kernels][isa]") {
  using S = InstructionSet;
  CHECK(instruction_set_line(S::Avx512, S::Avx512, S::Baseline) ==
        "Instruction set: dispatched kernels run avx512 (this CPU has avx512), the rest was compiled for baseline "
        "(-march=native would raise it)");
  CHECK(instruction_set_line(S::Baseline, S::Avx2, S::Baseline) ==
        "Instruction set: dispatched kernels run baseline (this CPU has avx2), the rest was compiled for baseline "
        "(-march=native would raise it)");
  CHECK(instruction_set_line(S::Avx2, S::Avx2, S::Avx2) ==
        "Instruction set: dispatched kernels run avx2 (this CPU has avx2), the rest was compiled for avx2");
  CHECK(instruction_set_line(S::Other, S::Other, S::Other) ==
        "Instruction set: dispatched kernels run other (this CPU has other), the rest was compiled for other");
  // This build: the CPU running it has the compiled level; Eigen's packets are that level's.
  const S compiled = compiled_instruction_set();
  CHECK(cpu_instruction_set() >= compiled);
  CHECK(Eigen::internal::packet_traits<float>::size == simd_lanes<float>(compiled));
}

TEST_CASE("GLIA_ISA and set_instruction_set select a level the CPU has, and the kernels run it", "[kernels][isa]") {
  using S = InstructionSet;
  CHECK(detail::parse_instruction_set(nullptr, S::Avx2) == S::Avx2);
  CHECK(detail::parse_instruction_set("", S::Avx512) == S::Avx512);
  CHECK(detail::parse_instruction_set("baseline", S::Avx2) == S::Baseline);
  CHECK(detail::parse_instruction_set("avx2", S::Avx512) == S::Avx2);
  CHECK_THROWS_WITH(detail::parse_instruction_set("avx512", S::Avx2), "GLIA_ISA=avx512: this CPU has avx2 at best");
  CHECK_THROWS_WITH(detail::parse_instruction_set("sse4", S::Avx2),
                    "GLIA_ISA=sse4: unknown level (known: baseline, avx2, avx512)");
  const S cpu = cpu_instruction_set();
  if (cpu != S::Other && cpu < S::Avx512)
    CHECK_THROWS_WITH(set_instruction_set(S::Avx512), Catch::Contains("this CPU has") && Catch::Contains("at best"));
  for (S level : glia::testing::runnable_instruction_sets()) {
    ScopedInstructionSet use(level);
    CHECK(selected_instruction_set() == level);
    CHECK(kernel_instruction_set() == level);
    CHECK(conv3x3_packet_size<float>() == simd_lanes<float>(level));
    CHECK(conv3x3_packet_size<double>() == simd_lanes<double>(level));
    CHECK(instruction_set_line().find(std::string("kernels run ") + instruction_set_name(level)) != std::string::npos);
  }
}

TEST_CASE("Levels differ only in rounding: the baseline rounds each product, AVX2 and AVX-512 fuse alike",
          "[kernels][isa]") {
  // A 3x3 convolution by the row kernel at every level: within float rounding of the naive one
  // (the test above), bitwise equal where both levels fuse, and not equal to the baseline,
  // which shows that the dispatcher ran another level's code.
  const std::vector<InstructionSet> levels = glia::testing::runnable_instruction_sets();
  std::map<InstructionSet, Tensor<float>> outputs;
  for (InstructionSet level : levels) {
    ScopedInstructionSet use(level);
    Rng rng(9);
    Tensor<float> x(Shape{2, 16, 16, 16});
    x.uniform_(rng, -1, 1);
    Conv2d<float> conv(16, 16, 3, 1, 1);
    conv.reset_parameters(rng);
    outputs[level] = conv.forward(x, Mode::Eval).clone();
  }
  using glia::testing::same_bits;
  if (outputs.count(InstructionSet::Avx2) && outputs.count(InstructionSet::Avx512))
    CHECK(same_bits(outputs[InstructionSet::Avx2], outputs[InstructionSet::Avx512]));
  if (outputs.count(InstructionSet::Baseline) && outputs.count(InstructionSet::Avx2))
    CHECK_FALSE(same_bits(outputs[InstructionSet::Baseline], outputs[InstructionSet::Avx2]));
}

TEST_CASE("A Conv2d layer chooses its algorithms again when the level changes", "[kernels][isa][conv]") {
  // Width 12: the row kernel applies with packets of 4 (baseline), not of 8 or 16; a choice kept
  // from one level would be refused at the next.
  Rng rng(3);
  Tensor<double> x(Shape{2, 16, 6, 12});
  x.uniform_(rng, -1, 1);
  Conv2d<double> conv(16, 16, 3, 1, 1);
  conv.reset_parameters(rng);
  Tensor<double> want(Shape{2, 16, 6, 12});
  conv2d_forward_naive(want.data(), x.data(), conv.weight().value.data(), conv.bias().value.data(),
                       Conv2dGeometry{2, PatchGeometry{16, 6, 12, 3, 3, 1, 1}, 16});
  for (InstructionSet level : glia::testing::runnable_instruction_sets()) {
    INFO(instruction_set_name(level));
    ScopedInstructionSet use(level);
    CHECK(glia::testing::max_rel_diff(conv.forward(x, Mode::Eval), want) < 1e-12);
  }
}

TEST_CASE("summary shows the algorithms of every Conv2d, per direction", "[kernels][conv][summary]") {
  auto net = make_reference_net<float>();
  const std::string text = summary(*net, Shape{1, 3, 32, 32});
  const Index packet = conv3x3_packet_size<float>();
  CHECK(text.find(detail::cat("Convolution algorithms (float, packets of ", packet)) != std::string::npos);
  CHECK(text.find(instruction_set_line()) != std::string::npos);
  const struct {
    const char* path;
    Index cin, cout, k, hw;
  } layers[] = {{"C1.conv", 3, 16, 3, 32}, {"C2.conv", 16, 16, 3, 32}, {"c3", 16, 8, 1, 32}, {"R2.body.C9.conv", 32, 32, 3, 8}};
  for (const auto& l : layers) {
    INFO(l.path);
    const Conv2dGeometry g{1, PatchGeometry{l.cin, l.hw, l.hw, l.k, l.k, 1, l.k / 2}, l.cout};
    const ConvAlgorithms a = resolve_conv_algorithms(g, packet, {}, "test").algorithms;  // GLIA_CONV_ALGO too
    char expected[256];
    std::snprintf(expected, sizeof expected, "\n%-28s %-19s %-20s %s\n", l.path, conv_algorithm_name(a.forward),
                  l.cin == 3 ? "(not needed)" : conv_algorithm_name(a.input_grad), conv_algorithm_name(a.weight_grad));
    CHECK(text.find(expected) != std::string::npos);
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

TEST_CASE("Norms with a fused ReLU equal the norm followed by ReLU, bit for bit, at every level", "[kernels][norm][isa]") {
  for (InstructionSet level : glia::testing::runnable_instruction_sets()) {
    INFO("instruction set " << instruction_set_name(level));
    ScopedInstructionSet use(level);
    check_fused_relu<BatchNorm2d<float>>(Shape{4, 6, 9, 7}, Index{6}, 1e-5, 0.1);
    check_fused_relu<BatchNorm2d<float>>(Shape{32, 16, 32, 32}, Index{16}, 1e-5, 0.1);  // several threads' channels
    check_fused_relu<GroupNorm<float>>(Shape{5, 6, 7, 3}, Index{2}, Index{6}, 1e-5);
    check_fused_relu<GroupNorm<float>>(Shape{3, 8, 8, 8}, Index{1}, Index{8}, 1e-5);  // the reference net's "ln"
  }
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
    std::vector<double> mean(static_cast<std::size_t>(k.c)), var(mean.size()), sample_mean(static_cast<std::size_t>(k.n * k.c)),
        sample_m2(sample_mean.size());
    for (Index i = 0; i < k.n; ++i) batchnorm_sample_moments(i, sample_mean.data(), sample_m2.data(), x.data(), k.c, k.hw);
    batchnorm_combine_moments(mean.data(), var.data(), sample_mean.data(), sample_m2.data(), k.n, k.c, k.hw);
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

// A convolution followed by a norm in a Sequential, whose plan runs the norm on each sample
// inside the convolution's loops (forward and backward), against the two layers run by hand,
// each over the whole batch: outputs, input gradients, every parameter gradient and the running
// statistics equal bit for bit, in training and eval mode, with one thread and with two.
// make_norm(act) builds the norm.
template <typename T, typename MakeNorm>
void check_conv_norm(const Shape& in, Index cout, Index k, MakeNorm make_norm) {
  const Index cin = in[1], pad = k / 2;
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Activation act : {Activation::ReLU, Activation::Identity}) {
      Sequential<T> fused;
      fused.add(std::make_unique<Conv2d<T>>(cin, cout, k, 1, pad), "conv");
      fused.add(make_norm(act), "norm");
      Conv2d<T> conv(cin, cout, k, 1, pad);
      auto norm = make_norm(act);
      Rng rng(7);
      auto pf = parameters(fused), pp = parameters<T>(conv), bf = buffers(fused), bp = buffers<T>(*norm);
      for (auto& p : parameters<T>(*norm)) pp.push_back(p);
      REQUIRE(pf.size() == pp.size());
      REQUIRE(bf.size() == bp.size());
      for (auto& p : pf) p.param->value.uniform_(rng, -0.5, 0.5);
      for (std::size_t i = 0; i < pf.size(); ++i) pp[i].param->value = pf[i].param->value.clone();
      CHECK(pf[0].name == "conv.weight");
      CHECK(ExecutionPlan<T>(fused, Mode::Train).backward_str() == "[norm conv]");
      Tensor<T> x(in);
      for (const Mode mode : {Mode::Train, Mode::Eval, Mode::Train}) {
        x.normal_(rng, 0.0, 1.0);
        for (auto* ps : {&pf, &pp})
          for (auto& p : *ps) p.param->grad.zero();
        const Tensor<T>& yf = fused.forward(x, mode);
        const Tensor<T>& yp = norm->forward(conv.forward(x, mode), mode);
        Tensor<T> dy(yf.shape());
        dy.normal_(rng, 0.0, 1.0);
        const Tensor<T>& dxf = fused.backward(dy);
        const Tensor<T>& dxp = conv.backward(norm->backward(dy));
        INFO(norm->name() << " " << in << " threads " << threads << (mode == Mode::Train ? " train" : " eval"));
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

TEST_CASE("A convolution and its norm, paired by the plan, equal the two layers run by hand, bit for bit", "[nn][plan]") {
  // 32x32 and 16x16 take the row kernel of the 3x3 convolution, 8x8 the channels-in-lanes one,
  // 7x5 and the 1x1 convolution the im2col / GEMM path.
  auto bn = [](Index c) { return [c](Activation a) { return std::make_unique<BatchNorm2d<float>>(c, 1e-5, 0.1, a); }; };
  auto gn = [](Index c) { return [c](Activation a) { return std::make_unique<GroupNorm<float>>(2, c, 1e-5, a); }; };
  auto ln = [](Index c) { return [c](Activation a) { return std::make_unique<GroupNorm<float>>(1, c, 1e-5, a); }; };
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
