// glia/models/summary.hpp: a Keras/torchsummary-style table of a model.
//
// summary(model, input_shape) lists every layer (leaves of Sequential, Residual and ConvNorm
// containers, indented by depth) with its path, description, output shape and parameter
// count, then "Total params: 48,178". Shapes come from output_shape, so nothing is run.
// ShapeError if the input shape does not fit the model.
#pragma once

#include <cstdio>
#include <sstream>
#include <string>

#include "glia/nn/conv_norm.hpp"
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
template <typename T>
void summary_rows(std::ostringstream& out, Module<T>& m, const std::string& path, const Shape& in, int depth) {
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
      summary_rows(out, *c.second, join_name(path, c.first), s, path.empty() ? depth : depth + 1);
      s = c.second->output_shape(s);
    }
  } else if (auto* cn = dynamic_cast<ConvNorm<T>*>(&m)) {
    row(path, "ConvNorm", cn->output_shape(in), parameter_count(m));
    summary_rows(out, cn->conv(), join_name(path, "conv"), in, depth + 1);
    summary_rows(out, cn->norm(), join_name(path, "norm"), cn->conv().output_shape(in), depth + 1);
  } else if (auto* res = dynamic_cast<Residual<T>*>(&m)) {
    row(path, res->name(), res->output_shape(in), parameter_count(m));
    for (auto& c : res->children()) summary_rows(out, *c.second, join_name(path, c.first), in, depth + 1);
  } else {
    row(path, m.name(), m.output_shape(in), parameter_count(m));
  }
}
}  // namespace detail

template <typename T>
std::string summary(Module<T>& model, const Shape& input) {
  std::ostringstream out;
  char head[256];
  std::snprintf(head, sizeof head, "%-28s %-30s %-18s %10s\n", "layer", "type", "output shape", "params");
  out << head << std::string(89, '-') << "\n";
  std::snprintf(head, sizeof head, "%-28s %-30s %-18s\n", "input", "", input.str().c_str());
  out << head;
  detail::summary_rows(out, model, "", input, 0);
  out << std::string(89, '-') << "\n" << "Total params: " << thousands(parameter_count(model)) << "\n";
  return out.str();
}

}  // namespace glia
