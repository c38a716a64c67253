// glia/models/reference_net.hpp: the 48,178-parameter CIFAR-10 network of the reference recipe.
//
//   C1 C2 c3 P1 D1 | C3 R1(C4 C5) c6 P2 D2 | C7 R2(C8 C9) | GAP c10
// C = 3x3 conv (pad 1, bias) + norm + ReLU; c = 1x1 conv (bias); P = 2x2 max-pool; D = dropout;
// R = residual with identity shortcut: x + body(x), where x is the output of C3 (resp. C7).
// Input [N, 3, 32, 32] -> output [N, 10, 1, 1] class scores (logits); apply LogSoftmax+NLLLoss
// or CrossEntropyLoss. With the default widths (16, 32, 8/16 transition channels) the parameter
// count is 48,178 for every norm kind. Module names follow the reference table ("C1", "c3", "R1",
// ...), each C block being a Sequential {"conv", "norm"} where "norm" is the norm with its ReLU
// fused (Activation::ReLU in nn/normalization.hpp: the same results as a separate ReLU module,
// in fewer passes over memory); the plan (nn/plan.hpp) runs the norm on each sample as the
// convolution produces it (forward) and just before the convolution reads it (backward).
//
// PyTorch names: reference_net_torch_name(glia_name) is a tensor's name in torch_ref.py's
// Net(kind).state_dict(), where C1, C2, C3 are c1, c2, c3, C4/C5 (in R1) are c4/c5, C7 is c6,
// C8/C9 (in R2) are c7/c8, each C block nn.Sequential(conv, norm, ReLU) so "conv" is "0" and
// "norm" is "1", c3 is t1, c6 is t2 and c10 is head ("R1.body.C4.norm.running_mean" ->
// "c4.1.running_mean"); ValueError for a name the reference network does not have.
// reference_net_state_dict_names(net) is that map for every parameter and buffer of net (any
// widths and norm), for save_state_dict / load_state_dict / save_model (model_io/).
// The glia names stay as they are (checkpoints, the golden fixtures and the forward plan use
// them); the PyTorch names are those of files meant for PyTorch.
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "glia/nn/activation.hpp"
#include "glia/nn/conv2d.hpp"
#include "glia/nn/normalization.hpp"
#include "glia/nn/pooling.hpp"
#include "glia/nn/residual.hpp"
#include "glia/nn/sequential.hpp"

namespace glia {

enum class NormKind { Batch, Group, Layer };

inline NormKind parse_norm_kind(const std::string& s) {
  if (s == "bn") return NormKind::Batch;
  if (s == "gn") return NormKind::Group;
  if (s == "ln") return NormKind::Layer;
  throw ValueError(detail::cat("unknown norm '", s, "': expected bn, gn or ln"));
}
inline const char* norm_kind_name(NormKind k) {
  return k == NormKind::Batch ? "bn" : k == NormKind::Group ? "gn" : "ln";
}

struct ReferenceNetConfig {
  NormKind norm = NormKind::Batch;
  Index groups = 2;         // GroupNorm groups (NormKind::Group)
  Index width1 = 16;        // channels of block 1 (C1, C2)
  Index width2 = 32;        // channels of blocks 2 and 3
  Index transition1 = 8;    // c3 output channels
  Index transition2 = 16;   // c6 output channels
  Index classes = 10;
  Index in_channels = 3;
  double dropout = 0.01;

  // The same network with every width (block and transition channels) multiplied by m and
  // rounded, e.g. 1.5 -> 24, 48, 12, 24 (about 2.25x the parameters and FLOPs): a wider
  // teacher for distillation. ValueError unless every width stays >= 1.
  ReferenceNetConfig widened(double m) const {
    if (!(m > 0 && m < 1e6))
      throw ValueError(detail::cat("ReferenceNetConfig: width multiplier ", m, " must be a positive number below 1e6"));
    ReferenceNetConfig c = *this;
    auto scale = [m](Index w) { return static_cast<Index>(std::lround(static_cast<double>(w) * m)); };
    c.width1 = scale(width1);
    c.width2 = scale(width2);
    c.transition1 = scale(transition1);
    c.transition2 = scale(transition2);
    if (c.width1 < 1 || c.width2 < 1 || c.transition1 < 1 || c.transition2 < 1)
      throw ValueError(detail::cat("ReferenceNetConfig: width multiplier ", m, " leaves a layer without channels"));
    return c;
  }
  // "16,32,8,16": the four widths, as stored in a checkpoint's metadata (config.widths).
  std::string widths() const { return detail::cat(width1, ",", width2, ",", transition1, ",", transition2); }
};

template <typename T>
std::unique_ptr<AffineNorm<T>> make_norm(NormKind kind, Index channels, Index groups = 2,
                                     Activation act = Activation::Identity) {
  switch (kind) {
    case NormKind::Batch: return std::make_unique<BatchNorm2d<T>>(channels, 1e-5, 0.1, act);
    case NormKind::Group: return std::make_unique<GroupNorm<T>>(groups, channels, 1e-5, act);
    case NormKind::Layer: return std::make_unique<GroupNorm<T>>(1, channels, 1e-5, act);  // torch_ref.py's "ln"
  }
  throw ValueError("make_norm: unknown norm kind");
}

// 3x3 convolution (pad 1) + norm with its ReLU fused: {"conv", "norm"}.
template <typename T>
std::unique_ptr<Sequential<T>> conv_norm_relu(Index cin, Index cout, NormKind kind, Index groups) {
  auto block = std::make_unique<Sequential<T>>();
  block->add(std::make_unique<Conv2d<T>>(cin, cout, 3, 1, 1), "conv");
  block->add(make_norm<T>(kind, cout, groups, Activation::ReLU), "norm");
  return block;
}

template <typename T>
std::unique_ptr<Sequential<T>> make_reference_net(const ReferenceNetConfig& cfg = {}) {
  const NormKind k = cfg.norm;
  const Index g = cfg.groups;
  auto residual = [&](Index c, const char* a, const char* b) {
    auto body = std::make_unique<Sequential<T>>();
    body->add(conv_norm_relu<T>(c, c, k, g), a);
    body->add(conv_norm_relu<T>(c, c, k, g), b);
    return std::make_unique<Residual<T>>(std::move(body));
  };
  auto net = std::make_unique<Sequential<T>>();
  net->add(conv_norm_relu<T>(cfg.in_channels, cfg.width1, k, g), "C1");
  net->add(conv_norm_relu<T>(cfg.width1, cfg.width1, k, g), "C2");
  net->add(std::make_unique<Conv2d<T>>(cfg.width1, cfg.transition1, 1), "c3");
  net->add(std::make_unique<MaxPool2d<T>>(2), "P1");
  net->add(std::make_unique<Dropout<T>>(cfg.dropout), "D1");
  net->add(conv_norm_relu<T>(cfg.transition1, cfg.width2, k, g), "C3");
  net->add(residual(cfg.width2, "C4", "C5"), "R1");
  net->add(std::make_unique<Conv2d<T>>(cfg.width2, cfg.transition2, 1), "c6");
  net->add(std::make_unique<MaxPool2d<T>>(2), "P2");
  net->add(std::make_unique<Dropout<T>>(cfg.dropout), "D2");
  net->add(conv_norm_relu<T>(cfg.transition2, cfg.width2, k, g), "C7");
  net->add(residual(cfg.width2, "C8", "C9"), "R2");
  net->add(std::make_unique<GlobalAvgPool2d<T>>(), "GAP");
  net->add(std::make_unique<Conv2d<T>>(cfg.width2, cfg.classes, 1), "c10");
  net->set_needs_input_grad(false);  // the input is data
  return net;
}

// torch_ref.py's state_dict name of one of the reference network's tensors (above).
inline std::string reference_net_torch_name(const std::string& glia_name) {
  static const std::map<std::string, std::string> modules = {
      {"C1.conv", "c1.0"},         {"C1.norm", "c1.1"},         {"C2.conv", "c2.0"},         {"C2.norm", "c2.1"},
      {"c3", "t1"},                {"C3.conv", "c3.0"},         {"C3.norm", "c3.1"},         {"R1.body.C4.conv", "c4.0"},
      {"R1.body.C4.norm", "c4.1"}, {"R1.body.C5.conv", "c5.0"}, {"R1.body.C5.norm", "c5.1"}, {"c6", "t2"},
      {"C7.conv", "c6.0"},         {"C7.norm", "c6.1"},         {"R2.body.C8.conv", "c7.0"}, {"R2.body.C8.norm", "c7.1"},
      {"R2.body.C9.conv", "c8.0"}, {"R2.body.C9.norm", "c8.1"}, {"c10", "head"}};
  const std::size_t dot = glia_name.rfind('.');
  auto it = dot == std::string::npos ? modules.end() : modules.find(glia_name.substr(0, dot));
  if (it == modules.end())
    throw ValueError(detail::cat("reference_net_torch_name: '", glia_name, "' is not a tensor of the reference network"));
  return it->second + glia_name.substr(dot);
}

// glia name -> torch_ref.py name for every parameter and buffer of a reference network.
template <typename T>
std::map<std::string, std::string> reference_net_state_dict_names(Module<T>& net) {
  std::map<std::string, std::string> names;
  for (auto& p : parameters(net)) names[p.name] = reference_net_torch_name(p.name);
  for (auto& b : buffers(net)) names[b.name] = reference_net_torch_name(b.name);
  return names;
}

}  // namespace glia
