// libFuzzer harness: the report writer (include/glia/report/html_report.hpp) on a run folder
// made of the input, as `glia-cifar10 report RUN_DIR --out DIR` reads it.
//
// Input layout (fuzz/report_check.hpp): the bytes before the first NUL are metrics.json; the
// bytes after it, when there is one, are log.csv. Both are written into a per-process temporary
// folder (in /dev/shm when possible), reused across inputs. What loads is round-tripped and the
// pages (write_report for the record and for the log's epochs alone, write_comparison of both)
// are written twice; the two copies must be byte-identical, valid UTF-8 without control
// characters, and hold no non-finite coordinate. Expected failures are glia::Error from the
// readers; anything else (a crash, a sanitizer report, another exception, a glia::Error from the
// writer for a record that loaded, a broken check) is a finding.
#include "report_check.hpp"
#include "scratch_dir.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& dir = glia::fuzz::scratch_dir("report");
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string problem = glia::fuzz::report_violation(input, dir);
  if (!problem.empty()) {
    std::fprintf(stderr, "fuzz_report: invariant broken: %s\n", problem.c_str());
    std::abort();
  }
  return 0;
}
