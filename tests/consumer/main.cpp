// Builds the reference network through the single include and checks its parameter count; says
// which instruction set it was compiled for (run.cmake checks that a build with the compiler's
// default flags says so: glia chooses nothing at run time yet).
#include <glia/glia.hpp>

#include <cstdio>

int main() {
  auto net = glia::make_reference_net<float>();
  const auto n = glia::parameter_count(*net);
  std::printf("glia %s: reference net has %ld parameters\n%s\n", glia::version_string, static_cast<long>(n),
              glia::instruction_set_line().c_str());
  return n == 48178 ? 0 : 1;
}
