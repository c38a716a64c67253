// Builds the reference network through the single include and checks its parameter count.
#include <glia/glia.hpp>

#include <cstdio>

int main() {
  auto net = glia::make_reference_net<float>();
  const auto n = glia::parameter_count(*net);
  std::printf("glia %s: reference net has %ld parameters\n", glia::version_string, static_cast<long>(n));
  return n == 48178 ? 0 : 1;
}
