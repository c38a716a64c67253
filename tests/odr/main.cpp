// Two translation units include glia and Eigen in opposite orders (eigen_first.cpp,
// glia_first.cpp) into one program: both must compile the same Eigen (the configuration comes
// from the glia::glia target's command line, not from a header whose #define depends on the
// include order) and compute the same bits. Exit 0 when they agree.
#include <cstdio>
#include <cstring>
#include <vector>

long eigen_first_stack_limit();
long glia_first_stack_limit();
bool eigen_first_parallelizes();
bool glia_first_parallelizes();
std::vector<float> eigen_first_linear();
std::vector<float> glia_first_linear();

int main() {
  int failures = 0;
  auto check = [&](bool ok, const char* what) {
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    failures += !ok;
  };
  check(eigen_first_stack_limit() == glia_first_stack_limit(), "both units have the same EIGEN_STACK_ALLOCATION_LIMIT");
  check(glia_first_stack_limit() >= 524288, "the limit is glia's (>= 524288)");
  check(!eigen_first_parallelizes() && !glia_first_parallelizes(), "Eigen threads in neither unit");
  const std::vector<float> a = eigen_first_linear(), b = glia_first_linear();
  check(a.size() == b.size() && !a.empty() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0,
        "a Linear layer gives the same bits in both units");
  std::printf("%d passed, %d failed\n", 4 - failures, failures);
  return failures == 0 ? 0 : 1;
}
