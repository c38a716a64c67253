// Builds the reference network through the single include, checks its parameter count, runs a
// forward pass and says which instruction set its dispatched kernels ran (run.cmake checks that
// a build with the compiler's default flags runs the best level of the CPU).
#include <glia/glia.hpp>

#include <cmath>
#include <cstdio>

int main() {
  auto net = glia::make_reference_net<float>();
  const auto n = glia::parameter_count(*net);
  glia::Rng rng(1);
  net->reset_parameters(rng);
  glia::Tensor<float> x(glia::Shape{2, 3, 32, 32});
  x.uniform_(rng, -1, 1);
  const glia::Tensor<float>& y = net->forward(x, glia::Mode::Eval);
  for (float v : y)
    if (!std::isfinite(v)) return 1;
  std::printf("glia %s: reference net has %ld parameters\n%s\n", glia::version_string, static_cast<long>(n),
              glia::instruction_set_line().c_str());
  return n == 48178 ? 0 : 1;
}
