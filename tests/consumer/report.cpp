// Writes a run record as metrics.json through glia::report and reads it back.
#include <glia/report.hpp>

#include <cstdio>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) return 2;  // the scratch folder to write into
  glia::RunRecord run;
  run.name = "consumer";
  run.seed = 7;
  run.class_names = {"a", "b"};
  run.confusion = {{3, 1}, {0, 4}};
  glia::EpochRecord e;
  e.epoch = 1;
  e.test_accuracy = 87.5;
  run.epochs.push_back(e);
  const std::string dir = argv[1];
  glia::save_metrics_json(dir, run);
  const glia::RunRecord back = glia::load_run_record(dir);
  std::filesystem::remove_all(dir);
  std::printf("glia %s: metrics.json round trip of run '%s'\n", glia::version_string, back.name.c_str());
  return back.name == run.name && back.seed == 7 && back.confusion == run.confusion && back.epochs.size() == 1 &&
                 back.epochs[0].test_accuracy == 87.5
             ? 0
             : 1;
}
