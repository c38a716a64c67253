// glia/models/summary.hpp: a Keras/torchsummary-style table of a model.
//
// summary(model, input_shape) lists every layer (leaves of Sequential and Residual
// containers, indented by depth) with its path, description, output shape and parameter
// count, then "Total params: 48,178", then a table of the algorithms each Conv2d runs for this
// input per direction (kernels/conv2d_algorithm.hpp: chosen from the geometry and this build's
// packet size, or overridden by Conv2d::set_algorithms or GLIA_CONV_ALGO). A ConvTranspose2d's
// line names, per direction of the layer, the kernel of its adjoint convolution that runs it
// (its forward is the adjoint's input gradient, e.g. col2im_gemm; nn/conv_transpose2d.hpp). Shapes come from
// output_shape, so nothing is run. The last line says which instruction set glia was compiled
// for, which the CPU has and which the dispatched kernels run (simd/level.hpp). ShapeError if the input shape does not fit the model;
// ValueError if an algorithm forced on a layer does not apply to its input.
#pragma once

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "glia/simd/level.hpp"
#include "glia/nn/conv2d.hpp"
#include "glia/nn/conv_transpose2d.hpp"
#include "glia/nn/residual.hpp"
#include "glia/nn/sequential.hpp"

namespace glia {

// 48178 -> "48,178"
inline std::string thousands(long long n) {
  std::string s = std::to_string(n < 0 ? -n : n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return n < 0 ? "-" + s : s;
}

namespace detail {
// One line of the algorithm table: the layer's path, then its algorithms per direction.
template <typename T>
std::string summary_conv_line(const Conv2d<T>& conv, const std::string& path, const Shape& in) {
  const ConvAlgorithms a = conv.algorithms_for(in).algorithms;
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %-19s %-20s %s\n", path.c_str(), conv_algorithm_name(a.forward),
                conv.needs_input_grad() ? conv_algorithm_name(a.input_grad) : "(not needed)",
                conv_algorithm_name(a.weight_grad));
  return line;
}
// A ConvTranspose2d's line: its forward runs the adjoint convolution's input-gradient kernel,
// its input gradient the adjoint's forward kernel.
template <typename T>
std::string summary_conv_line(const ConvTranspose2d<T>& conv, const std::string& path, const Shape& in) {
  const ConvAlgorithms a = conv.algorithms_for(in).algorithms;
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %-19s %-20s %s\n", path.c_str(), conv_algorithm_name(a.input_grad),
                conv.needs_input_grad() ? conv_algorithm_name(a.forward) : "(not needed)",
                conv_algorithm_name(a.weight_grad));
  return line;
}

// The table's rows for m and its descendants; convs collects the algorithm table's lines.
template <typename T>
void summary_rows(std::ostringstream& out, Module<T>& m, const std::string& path, const Shape& in, int depth,
                  std::vector<std::string>& convs) {
  auto row = [&](const std::string& p, const std::string& what, const Shape& s, Index params) {
    char line[256];
    std::snprintf(line, sizeof line, "%-28s %-30s %-18s %10s\n", (std::string(static_cast<std::size_t>(2 * depth), ' ') + p).c_str(),
                  what.c_str(), s.str().c_str(), params ? thousands(params).c_str() : "");
    out << line;
  };
  if (auto* seq = dynamic_cast<Sequential<T>*>(&m)) {
    if (!path.empty()) row(path, "Sequential", seq->output_shape(in), parameter_count(m));
    Shape s = in;
    for (auto& c : seq->children()) {
      summary_rows(out, *c.second, join_name(path, c.first), s, path.empty() ? depth : depth + 1, convs);
      s = c.second->output_shape(s);
    }
  } else if (auto* res = dynamic_cast<Residual<T>*>(&m)) {
    row(path, res->name(), res->output_shape(in), parameter_count(m));
    for (auto& c : res->children()) summary_rows(out, *c.second, join_name(path, c.first), in, depth + 1, convs);
  } else {
    row(path, m.name(), m.output_shape(in), parameter_count(m));
    if (auto* conv = dynamic_cast<Conv2d<T>*>(&m)) convs.push_back(summary_conv_line(*conv, path, in));
    if (auto* tconv = dynamic_cast<ConvTranspose2d<T>*>(&m)) convs.push_back(summary_conv_line(*tconv, path, in));
  }
}

// The algorithm table from its lines (empty if there are none).
template <typename T>
std::string conv_algorithm_table(const std::vector<std::string>& lines) {
  if (lines.empty()) return "";
  std::ostringstream out;
  out << "Convolution algorithms (" << (sizeof(T) == 4 ? "float" : "double") << ", packets of "
      << conv3x3_packet_size<T>() << "; Conv2d::set_algorithms or GLIA_CONV_ALGO override them):\n";
  char head[128];
  std::snprintf(head, sizeof head, "%-28s %-19s %-20s %s\n", "layer", "forward", "input grad", "weight grad");
  out << head << std::string(89, '-') << "\n";
  for (const std::string& line : lines) out << line;
  return out.str();
}
}  // namespace detail

// Only the table of convolution algorithms of summary(model, input) (for benchmarks' logs).
template <typename T>
std::string conv_algorithm_table(Module<T>& model, const Shape& input) {
  std::ostringstream ignored;
  std::vector<std::string> convs;
  detail::summary_rows(ignored, model, "", input, 0, convs);
  return detail::conv_algorithm_table<T>(convs);
}

template <typename T>
std::string summary(Module<T>& model, const Shape& input) {
  std::ostringstream out;
  char head[256];
  std::snprintf(head, sizeof head, "%-28s %-30s %-18s %10s\n", "layer", "type", "output shape", "params");
  out << head << std::string(89, '-') << "\n";
  std::snprintf(head, sizeof head, "%-28s %-30s %-18s\n", "input", "", input.str().c_str());
  out << head;
  std::vector<std::string> convs;
  detail::summary_rows(out, model, "", input, 0, convs);
  out << std::string(89, '-') << "\n" << "Total params: " << thousands(parameter_count(model)) << "\n";
  if (!convs.empty()) out << "\n" << detail::conv_algorithm_table<T>(convs);
  out << instruction_set_line() << "\n";
  return out.str();
}

}  // namespace glia
