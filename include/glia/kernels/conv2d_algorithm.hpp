// glia/kernels/conv2d_algorithm.hpp: which algorithm computes each direction of a convolution.
//
// A convolution has three directions: the forward pass, the input gradient (dx) and the weight
// gradient (dW, with db). Each has its own set of algorithms (docs/layers/convolution.md):
//   forward      Im2colGemm        W * im2col(x_n); any geometry
//                Pointwise1x1Gemm  W * x_n; 1x1, stride 1, no padding
//                Rows3x3           conv3x3_direct.hpp; 3x3, stride 1, pad 1, W % packet == 0
//                ChannelLanes3x3   conv3x3_lanes.hpp; 3x3, stride 1, pad 1, Cout % packet == 0
//   input grad   Col2imGemm        col2im(W^T dY_n); any geometry
//                FlippedKernelGemm Wf * im2col'(dY_n); stride 1, square kernel, pad <= k-1
//                Pointwise1x1Gemm  W^T dY_n; 1x1, stride 1, no padding
//                Rows3x3           the row kernel on dY_n with Wf; 3x3 s1 p1, W % packet == 0
//                ChannelLanes3x3   the lanes kernel on dY_n with Wf; 3x3 s1 p1, Cin % packet == 0
//   weight grad  Im2colGemm        dY_n * im2col(x_n)^T; any geometry
//                Pointwise1x1Gemm  dY_n * x_n^T; 1x1, stride 1, no padding
//                ChannelLanes3x3   conv3x3_lanes.hpp; 3x3 s1 p1, Cout % packet == 0
// The algorithms above need groups 1 and dilation 1 ("any geometry": any kernel, stride and
// padding). Grouped and dilated convolutions (kernels/conv2d_grouped.hpp) have their own, in
// every direction:
//                GroupedIm2colGemm  im2col with dilation, one GEMM per group; any geometry
//                (GroupedCol2imGemm for the input gradient)
//                DepthwiseDirect    direct loops; groups == in_channels (any channel multiplier)
// "packet" is the SIMD width in elements of T (conv3x3_packet_size<T>(): 16 floats with
// AVX-512, 8 with AVX2, 1 without vectorisation), the only property of the machine used.
//
// select_conv_algorithms(g, packet) is the one place that chooses, from the geometry and the
// packet size; its thresholds were measured on the reference network's layers (see there).
// resolve_conv_algorithms adds the overrides: a request set on the layer (Conv2d::set_algorithms)
// is strict, ValueError naming the layer and the geometry where the algorithm does not apply;
// the environment variable GLIA_CONV_ALGO (read once, e.g.
// "forward=im2col_gemm,input_grad=col2im_gemm,weight_grad=im2col_gemm", any subset) applies
// wherever its algorithm applies and leaves the automatic choice elsewhere, so that it can be
// set for a whole network. ValueError for an unknown direction or algorithm name. Nothing here
// allocates except parsing a request; the reasons are static strings.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <optional>
#include <string>

#include "glia/core/error.hpp"
#include "glia/kernels/conv3x3_direct.hpp"
#include "glia/kernels/conv3x3_lanes.hpp"
#include "glia/kernels/im2col.hpp"

namespace glia {

struct Conv2dGeometry {
  Index batch;
  PatchGeometry patch;  // input channels, H, W, kernel, stride, pad, dilation
  Index out_channels;
  Index groups = 1;  // channels split into groups convolved separately (Cin and Cout divisible)
  Index k() const { return patch.col_rows(); }  // rows of im2col: Cin*kh*kw
  // Elements of one output channel's filter: (Cin/groups)*kh*kw (== k() with one group).
  Index weight_k() const { return patch.col_rows() / groups; }
  bool is_dense() const { return groups == 1 && patch.dilation == 1; }  // what the fast algorithms need
  bool is_depthwise() const { return groups == patch.channels; }
  Index p() const { return patch.col_cols(); }
  Index in_size() const { return patch.channels * patch.height * patch.width; }
  Index out_size() const { return out_channels * p(); }
  bool is_pointwise() const {
    return is_dense() && patch.kernel_h == 1 && patch.kernel_w == 1 && patch.stride == 1 && patch.pad == 0;
  }
  bool is_3x3_same() const {
    return is_dense() && patch.kernel_h == 3 && patch.kernel_w == 3 && patch.stride == 1 && patch.pad == 1;
  }
  // The input gradient is a stride-1 convolution of dY with the flipped kernel (kernels/conv2d.hpp).
  bool has_flipped_input_grad() const {
    return is_dense() && patch.stride == 1 && patch.kernel_h == patch.kernel_w && patch.pad <= patch.kernel_h - 1;
  }
  // The geometry of that convolution: dY_n as an image [Cout, Ho, Wo], padded by k-1-pad.
  PatchGeometry flipped_patch() const {
    return PatchGeometry{out_channels, patch.out_h(), patch.out_w(), patch.kernel_h, patch.kernel_w, 1,
                         patch.kernel_h - 1 - patch.pad};
  }
  // "input [32,16,8,8], kernel 3x3, stride 1, pad 1, 32 output channels" (then ", dilation 2",
  // ", groups 4" where not 1), for messages.
  std::string str() const {
    return detail::cat("input [", batch, ",", patch.channels, ",", patch.height, ",", patch.width, "], kernel ",
                       patch.kernel_h, "x", patch.kernel_w, ", stride ", patch.stride, ", pad ", patch.pad, ", ",
                       out_channels, " output channels",
                       patch.dilation != 1 ? detail::cat(", dilation ", patch.dilation) : std::string(),
                       groups != 1 ? detail::cat(", groups ", groups) : std::string());
  }
};

inline bool operator==(const Conv2dGeometry& a, const Conv2dGeometry& b) {
  const PatchGeometry &p = a.patch, &q = b.patch;
  return a.batch == b.batch && a.out_channels == b.out_channels && p.channels == q.channels && p.height == q.height &&
         p.width == q.width && p.kernel_h == q.kernel_h && p.kernel_w == q.kernel_w && p.stride == q.stride &&
         p.pad == q.pad && p.dilation == q.dilation && a.groups == b.groups;
}

enum class ConvForwardAlgorithm { Im2colGemm, Pointwise1x1Gemm, Rows3x3, ChannelLanes3x3, GroupedIm2colGemm, DepthwiseDirect };
enum class ConvInputGradAlgorithm {
  Col2imGemm, FlippedKernelGemm, Pointwise1x1Gemm, Rows3x3, ChannelLanes3x3, GroupedCol2imGemm, DepthwiseDirect
};
enum class ConvWeightGradAlgorithm { Im2colGemm, Pointwise1x1Gemm, ChannelLanes3x3, GroupedIm2colGemm, DepthwiseDirect };

struct ConvAlgorithms {
  ConvForwardAlgorithm forward = ConvForwardAlgorithm::Im2colGemm;
  ConvInputGradAlgorithm input_grad = ConvInputGradAlgorithm::Col2imGemm;
  ConvWeightGradAlgorithm weight_grad = ConvWeightGradAlgorithm::Im2colGemm;
};

// The algorithms and, per direction, why each was chosen.
struct ConvAlgorithmChoice {
  ConvAlgorithms algorithms;
  const char* forward_why = "";
  const char* input_grad_why = "";
  const char* weight_grad_why = "";
};

// Forced algorithms; a direction left empty is chosen automatically.
struct ConvAlgorithmRequest {
  std::optional<ConvForwardAlgorithm> forward;
  std::optional<ConvInputGradAlgorithm> input_grad;
  std::optional<ConvWeightGradAlgorithm> weight_grad;
};

// Every algorithm of each direction, for loops in tests and benchmarks.
constexpr ConvForwardAlgorithm kConvForwardAlgorithms[] = {
    ConvForwardAlgorithm::Im2colGemm, ConvForwardAlgorithm::Pointwise1x1Gemm, ConvForwardAlgorithm::Rows3x3,
    ConvForwardAlgorithm::ChannelLanes3x3, ConvForwardAlgorithm::GroupedIm2colGemm, ConvForwardAlgorithm::DepthwiseDirect};
constexpr ConvInputGradAlgorithm kConvInputGradAlgorithms[] = {
    ConvInputGradAlgorithm::Col2imGemm, ConvInputGradAlgorithm::FlippedKernelGemm,
    ConvInputGradAlgorithm::Pointwise1x1Gemm, ConvInputGradAlgorithm::Rows3x3, ConvInputGradAlgorithm::ChannelLanes3x3,
    ConvInputGradAlgorithm::GroupedCol2imGemm, ConvInputGradAlgorithm::DepthwiseDirect};
constexpr ConvWeightGradAlgorithm kConvWeightGradAlgorithms[] = {
    ConvWeightGradAlgorithm::Im2colGemm, ConvWeightGradAlgorithm::Pointwise1x1Gemm,
    ConvWeightGradAlgorithm::ChannelLanes3x3, ConvWeightGradAlgorithm::GroupedIm2colGemm,
    ConvWeightGradAlgorithm::DepthwiseDirect};

// The names used by GLIA_CONV_ALGO, summary and the benchmarks.
inline const char* conv_algorithm_name(ConvForwardAlgorithm a) {
  switch (a) {
    case ConvForwardAlgorithm::Im2colGemm: return "im2col_gemm";
    case ConvForwardAlgorithm::Pointwise1x1Gemm: return "pointwise_1x1_gemm";
    case ConvForwardAlgorithm::Rows3x3: return "rows_3x3";
    case ConvForwardAlgorithm::ChannelLanes3x3: return "channel_lanes_3x3";
    case ConvForwardAlgorithm::GroupedIm2colGemm: return "grouped_im2col_gemm";
    case ConvForwardAlgorithm::DepthwiseDirect: return "depthwise_direct";
  }
  return "?";
}
inline const char* conv_algorithm_name(ConvInputGradAlgorithm a) {
  switch (a) {
    case ConvInputGradAlgorithm::Col2imGemm: return "col2im_gemm";
    case ConvInputGradAlgorithm::FlippedKernelGemm: return "flipped_kernel_gemm";
    case ConvInputGradAlgorithm::Pointwise1x1Gemm: return "pointwise_1x1_gemm";
    case ConvInputGradAlgorithm::Rows3x3: return "rows_3x3";
    case ConvInputGradAlgorithm::ChannelLanes3x3: return "channel_lanes_3x3";
    case ConvInputGradAlgorithm::GroupedCol2imGemm: return "grouped_col2im_gemm";
    case ConvInputGradAlgorithm::DepthwiseDirect: return "depthwise_direct";
  }
  return "?";
}
inline const char* conv_algorithm_name(ConvWeightGradAlgorithm a) {
  switch (a) {
    case ConvWeightGradAlgorithm::Im2colGemm: return "im2col_gemm";
    case ConvWeightGradAlgorithm::Pointwise1x1Gemm: return "pointwise_1x1_gemm";
    case ConvWeightGradAlgorithm::ChannelLanes3x3: return "channel_lanes_3x3";
    case ConvWeightGradAlgorithm::GroupedIm2colGemm: return "grouped_im2col_gemm";
    case ConvWeightGradAlgorithm::DepthwiseDirect: return "depthwise_direct";
  }
  return "?";
}

namespace detail {
constexpr const char* kNeeds1x1 = "needs a 1x1 kernel with stride 1 and no padding";
constexpr const char* kNeeds3x3 = "needs a 3x3 kernel with stride 1 and padding 1";
constexpr const char* kNeedsWidth = "needs the image width to be a multiple of the packet size";
constexpr const char* kNeedsCout = "needs the output channels to be a multiple of the packet size";
constexpr const char* kNeedsCin = "needs the input channels to be a multiple of the packet size";
constexpr const char* kNeedsFlip = "needs stride 1, a square kernel and pad <= kernel - 1";
constexpr const char* kNeedsDense =
    "needs groups 1 and dilation 1 (grouped_im2col_gemm, grouped_col2im_gemm and depthwise_direct do groups and dilation)";
constexpr const char* kNeedsDepthwise = "needs groups == in_channels (a depthwise convolution)";
}  // namespace detail

// Why algorithm a cannot compute geometry g with packets of `packet` elements, or nullptr if it
// can. The row kernel stores whole packets along an image row and the lanes kernels along the
// channels, so those extents must be multiples of the packet (any extent when packet is 1).
inline const char* conv_algorithm_unfit(const Conv2dGeometry& g, ConvForwardAlgorithm a, Index packet) {
  switch (a) {
    case ConvForwardAlgorithm::GroupedIm2colGemm: return nullptr;
    case ConvForwardAlgorithm::DepthwiseDirect: return g.is_depthwise() ? nullptr : detail::kNeedsDepthwise;
    default: break;
  }
  if (!g.is_dense()) return detail::kNeedsDense;
  switch (a) {
    case ConvForwardAlgorithm::GroupedIm2colGemm:
    case ConvForwardAlgorithm::DepthwiseDirect:
    case ConvForwardAlgorithm::Im2colGemm: return nullptr;
    case ConvForwardAlgorithm::Pointwise1x1Gemm: return g.is_pointwise() ? nullptr : detail::kNeeds1x1;
    case ConvForwardAlgorithm::Rows3x3:
      if (!g.is_3x3_same()) return detail::kNeeds3x3;
      return conv3x3_direct_applies(g.patch.width, packet) ? nullptr : detail::kNeedsWidth;
    case ConvForwardAlgorithm::ChannelLanes3x3:
      if (!g.is_3x3_same()) return detail::kNeeds3x3;
      return conv3x3_lanes_apply(g.out_channels, packet) ? nullptr : detail::kNeedsCout;
  }
  return "unknown algorithm";
}
inline const char* conv_algorithm_unfit(const Conv2dGeometry& g, ConvInputGradAlgorithm a, Index packet) {
  switch (a) {
    case ConvInputGradAlgorithm::GroupedCol2imGemm: return nullptr;
    case ConvInputGradAlgorithm::DepthwiseDirect: return g.is_depthwise() ? nullptr : detail::kNeedsDepthwise;
    default: break;
  }
  if (!g.is_dense()) return detail::kNeedsDense;
  switch (a) {
    case ConvInputGradAlgorithm::GroupedCol2imGemm:
    case ConvInputGradAlgorithm::DepthwiseDirect:
    case ConvInputGradAlgorithm::Col2imGemm: return nullptr;
    case ConvInputGradAlgorithm::FlippedKernelGemm: return g.has_flipped_input_grad() ? nullptr : detail::kNeedsFlip;
    case ConvInputGradAlgorithm::Pointwise1x1Gemm: return g.is_pointwise() ? nullptr : detail::kNeeds1x1;
    case ConvInputGradAlgorithm::Rows3x3:
      if (!g.is_3x3_same()) return detail::kNeeds3x3;
      return conv3x3_direct_applies(g.patch.width, packet) ? nullptr : detail::kNeedsWidth;
    case ConvInputGradAlgorithm::ChannelLanes3x3:
      if (!g.is_3x3_same()) return detail::kNeeds3x3;
      return conv3x3_lanes_apply(g.patch.channels, packet) ? nullptr : detail::kNeedsCin;
  }
  return "unknown algorithm";
}
inline const char* conv_algorithm_unfit(const Conv2dGeometry& g, ConvWeightGradAlgorithm a, Index packet) {
  switch (a) {
    case ConvWeightGradAlgorithm::GroupedIm2colGemm: return nullptr;
    case ConvWeightGradAlgorithm::DepthwiseDirect: return g.is_depthwise() ? nullptr : detail::kNeedsDepthwise;
    default: break;
  }
  if (!g.is_dense()) return detail::kNeedsDense;
  switch (a) {
    case ConvWeightGradAlgorithm::GroupedIm2colGemm:
    case ConvWeightGradAlgorithm::DepthwiseDirect:
    case ConvWeightGradAlgorithm::Im2colGemm: return nullptr;
    case ConvWeightGradAlgorithm::Pointwise1x1Gemm: return g.is_pointwise() ? nullptr : detail::kNeeds1x1;
    case ConvWeightGradAlgorithm::ChannelLanes3x3:
      if (!g.is_3x3_same()) return detail::kNeeds3x3;
      return conv3x3_lanes_apply(g.out_channels, packet) ? nullptr : detail::kNeedsCout;
  }
  return "unknown algorithm";
}
template <typename Algorithm>
bool conv_algorithm_applies(const Conv2dGeometry& g, Algorithm a, Index packet) {
  return conv_algorithm_unfit(g, a, packet) == nullptr;
}

// The automatic choice. Measured at batch 32 on the reference net's layers (bench_kernels,
// old and new code alternating in one run):
// - 3x3 same layers skip im2col: the row kernel where the width is a multiple of the packet (it
//   reads each input packet once for 8 output channels), else the channels-in-lanes kernel;
//   the weight gradient takes the lanes kernel for any width (GEMM: 33-49% of peak there).
// - The flipped-kernel input gradient has a product of only Cin rows and HW columns: 16->16 at
//   32x32 took 17% less time than W^T dY + col2im, 32->32 at 16x16 3% less, but 8->32 at 16x16
//   and 32->32 at 8x8 took 50% and 15% more; hence Cin >= 16 and H*W >= 256.
// - Groups other than 1 or a dilation other than 1 (none of the above applies): depthwise
//   convolutions (groups == Cin) run direct loops, whose per-group GEMMs would have one input
//   channel; any other runs one im2col with the dilation and one GEMM per group.
inline ConvAlgorithmChoice select_conv_algorithms(const Conv2dGeometry& g, Index packet) {
  using F = ConvForwardAlgorithm;
  using D = ConvInputGradAlgorithm;
  using G = ConvWeightGradAlgorithm;
  ConvAlgorithmChoice c;
  if (!g.is_dense()) {
    if (g.is_depthwise() && g.groups > 1) {
      c.algorithms = {F::DepthwiseDirect, D::DepthwiseDirect, G::DepthwiseDirect};
      c.forward_why = c.input_grad_why = c.weight_grad_why = "depthwise (groups = in_channels): direct loops";
    } else {
      c.algorithms = {F::GroupedIm2colGemm, D::GroupedCol2imGemm, G::GroupedIm2colGemm};
      c.forward_why = c.input_grad_why = c.weight_grad_why = "groups or dilation: im2col, one GEMM per group";
    }
    return c;
  }
  if (g.is_pointwise()) {
    c.algorithms = {F::Pointwise1x1Gemm, D::Pointwise1x1Gemm, G::Pointwise1x1Gemm};
    c.forward_why = c.input_grad_why = c.weight_grad_why = "1x1 kernel, stride 1, no padding: no im2col";
    return c;
  }
  if (conv_algorithm_applies(g, F::Rows3x3, packet)) {
    c.algorithms.forward = F::Rows3x3;
    c.forward_why = "3x3 same, width a multiple of the packet";
  } else if (conv_algorithm_applies(g, F::ChannelLanes3x3, packet)) {
    c.algorithms.forward = F::ChannelLanes3x3;
    c.forward_why = "3x3 same, Cout a multiple of the packet";
  } else {
    c.algorithms.forward = F::Im2colGemm;
    c.forward_why = "general geometry";
  }
  const bool flipped_pays = g.has_flipped_input_grad() && g.patch.channels >= 16 && g.patch.height * g.patch.width >= 256;
  if (conv_algorithm_applies(g, D::Rows3x3, packet)) {
    c.algorithms.input_grad = D::Rows3x3;
    c.input_grad_why = "3x3 same, width a multiple of the packet";
  } else if (conv_algorithm_applies(g, D::ChannelLanes3x3, packet)) {
    c.algorithms.input_grad = D::ChannelLanes3x3;
    c.input_grad_why = "3x3 same, Cin a multiple of the packet";
  } else {
    c.algorithms.input_grad = flipped_pays ? D::FlippedKernelGemm : D::Col2imGemm;
    c.input_grad_why = flipped_pays ? "stride 1, Cin >= 16, H*W >= 256" : "general geometry or a small product";
  }
  const bool lanes_w = conv_algorithm_applies(g, G::ChannelLanes3x3, packet);
  c.algorithms.weight_grad = lanes_w ? G::ChannelLanes3x3 : G::Im2colGemm;
  c.weight_grad_why = lanes_w ? "3x3 same, Cout a multiple of the packet" : "general geometry";
  return c;
}

// Throws ValueError, naming `who` and the geometry, unless every algorithm of a applies to g.
// (who is a C string: the kernels call this on every batch, and it must not allocate.)
inline void check_conv_algorithms(const Conv2dGeometry& g, const ConvAlgorithms& a, Index packet, const char* who) {
  auto check = [&](const char* direction, const char* name, const char* unfit) {
    if (unfit)
      throw ValueError(detail::cat(who, ": the ", direction, " algorithm ", name, " does not apply to ", g.str(),
                                   " (packet size ", packet, "): it ", unfit));
  };
  check("forward", conv_algorithm_name(a.forward), conv_algorithm_unfit(g, a.forward, packet));
  check("input-gradient", conv_algorithm_name(a.input_grad), conv_algorithm_unfit(g, a.input_grad, packet));
  check("weight-gradient", conv_algorithm_name(a.weight_grad), conv_algorithm_unfit(g, a.weight_grad, packet));
}

namespace detail {
template <typename Algorithm, std::size_t N>
Algorithm conv_algorithm_from_name(const std::string& name, const Algorithm (&all)[N], const std::string& where) {
  for (Algorithm a : all)
    if (name == conv_algorithm_name(a)) return a;
  std::string known;
  for (Algorithm a : all) known += std::string(known.empty() ? "" : ", ") + conv_algorithm_name(a);
  throw ValueError(cat(where, ": unknown algorithm '", name, "' (known: ", known, ")"));
}
}  // namespace detail

// "forward=rows_3x3,weight_grad=im2col_gemm" (any subset of forward, input_grad, weight_grad;
// empty: nothing forced). ValueError naming `where` for anything else.
inline ConvAlgorithmRequest parse_conv_algorithm_request(const std::string& spec, const std::string& where) {
  ConvAlgorithmRequest r;
  std::size_t at = 0;
  while (at < spec.size()) {
    const std::size_t end = std::min(spec.find(',', at), spec.size()), eq = spec.find('=', at);
    if (eq >= end) throw ValueError(detail::cat(where, ": expected direction=algorithm, got '", spec.substr(at, end - at), "'"));
    const std::string dir = spec.substr(at, eq - at), name = spec.substr(eq + 1, end - eq - 1);
    if (dir == "forward")
      r.forward = detail::conv_algorithm_from_name(name, kConvForwardAlgorithms, where);
    else if (dir == "input_grad")
      r.input_grad = detail::conv_algorithm_from_name(name, kConvInputGradAlgorithms, where);
    else if (dir == "weight_grad")
      r.weight_grad = detail::conv_algorithm_from_name(name, kConvWeightGradAlgorithms, where);
    else
      throw ValueError(detail::cat(where, ": unknown direction '", dir, "' (known: forward, input_grad, weight_grad)"));
    at = end + 1;
  }
  return r;
}

// GLIA_CONV_ALGO, parsed on the first call (ValueError, and again on the next call, if invalid).
inline const ConvAlgorithmRequest& conv_algorithm_env() {
  static const ConvAlgorithmRequest request = [] {
    const char* spec = std::getenv("GLIA_CONV_ALGO");
    return parse_conv_algorithm_request(spec ? spec : "", "GLIA_CONV_ALGO");
  }();
  return request;
}

namespace detail {
// Applies one direction's overrides: the layer's request (strict) or else the environment's
// (where it applies).
template <typename Algorithm>
void override_conv_algorithm(Algorithm& chosen, const char*& why, const std::optional<Algorithm>& forced,
                             const std::optional<Algorithm>& from_env, const Conv2dGeometry& g, Index packet) {
  if (forced) {
    chosen = *forced;  // checked by the caller
    why = "set on the layer (Conv2d::set_algorithms)";
  } else if (from_env && conv_algorithm_applies(g, *from_env, packet)) {
    chosen = *from_env;
    why = "set by GLIA_CONV_ALGO";
  } else if (from_env) {
    why = "automatic: GLIA_CONV_ALGO's algorithm does not apply here";
  }
}
}  // namespace detail

// The algorithms a layer runs: the automatic choice, overridden by `forced` (ValueError naming
// `who` and the geometry where a forced algorithm does not apply) and by GLIA_CONV_ALGO.
inline ConvAlgorithmChoice resolve_conv_algorithms(const Conv2dGeometry& g, Index packet, const ConvAlgorithmRequest& forced,
                                                   const std::string& who) {
  ConvAlgorithmChoice c = select_conv_algorithms(g, packet);
  const ConvAlgorithmRequest& env = conv_algorithm_env();
  detail::override_conv_algorithm(c.algorithms.forward, c.forward_why, forced.forward, env.forward, g, packet);
  detail::override_conv_algorithm(c.algorithms.input_grad, c.input_grad_why, forced.input_grad, env.input_grad, g, packet);
  detail::override_conv_algorithm(c.algorithms.weight_grad, c.weight_grad_why, forced.weight_grad, env.weight_grad, g,
                                  packet);
  check_conv_algorithms(g, c.algorithms, packet, who.c_str());
  return c;
}

}  // namespace glia
