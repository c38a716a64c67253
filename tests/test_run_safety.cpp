// Nothing a user types loses a run: run-folder ownership (lock, another run, --overwrite, inputs
// that are outputs), every file argument checked before it is read (FIFO, directory, device,
// size), metadata parsed strictly, settings changed on resume, options checked before training,
// and a per-epoch cost that does not grow with the epoch count.
#include <catch2/catch.hpp>

#include <glia/glia.hpp>
#include <glia/io.hpp>
#include <glia/report/metrics_json.hpp>

#include "support/run_support.hpp"

#include <fstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

using namespace glia;
namespace fs = std::filesystem;
using glia_test::synthetic;
using glia_test::TempDir;

namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A small training set-up: the reference net on synthetic data, 16 images a batch.
struct SmallRun {
  ImageDataset train_set = synthetic(32, 1), test_set = synthetic(16, 2);
  Recipe recipe = reference_recipe();
  std::unique_ptr<Sequential<float>> model;
  std::unique_ptr<Optimizer<float>> opt;
  std::unique_ptr<LrSchedule> sched;
  std::unique_ptr<Trainer<float>> trainer;
  MetricsJsonWriter metrics;  // metrics.json, as glia-cifar10 writes it

  SmallRun(const std::string& out, int epochs, const std::function<void(TrainerConfig&)>& edit = nullptr) : metrics(out) {
    model = make_reference_net<float>();
    Rng rng(3);
    init_model(*model, recipe.init, rng);
    opt = make_optimizer<float>(recipe);
    sched = make_schedule(recipe, 2);
    TrainerConfig tc;
    tc.epochs = epochs;
    tc.batch = 16;
    tc.seed = 5;
    tc.out_dir = out;
    if (edit) edit(tc);
    trainer = std::make_unique<Trainer<float>>(*model, *opt, *sched, tc);
    trainer->observe(metrics);
  }
  RunRecord fit() { return trainer->fit(train_set, test_set, &recipe.augment); }
};

// The checkpoint at path with one metadata value replaced (and a valid hash).
std::string with_meta(const std::string& path, const std::string& key, const std::string& value, const std::string& out) {
  Checkpoint c = load_checkpoint(path);
  c.meta[key] = value;
  save_checkpoint(out, c);
  return out;
}

}  // namespace

TEST_CASE("A run folder holding another run is refused, kept byte for byte, and replaced only with overwrite", "[run_safety][run_folder]") {
  TempDir dir;
  const RunRecord first = SmallRun(dir.path, 1).fit();
  const std::string before = file_bytes(dir.path + "/last.ckpt");
  CHECK_THROWS_WITH(SmallRun(dir.path, 1).fit(), Catch::Contains("holds another run") && Catch::Contains("--overwrite") &&
                                                     Catch::Contains("--resume"));
  CHECK(file_bytes(dir.path + "/last.ckpt") == before);
  CHECK(load_run_record(dir.path).run_id == first.run_id);
  // --overwrite: the old run's files go (only those), the new run is alone in the folder.
  write_bytes(dir.path + "/notes.txt", "mine");
  fs::create_directories(dir.path + "/report");
  write_bytes(dir.path + "/report/index.html", "the old run's page");
  write_bytes(dir.path + "/report/mine.txt", "mine too");
  const RunRecord second = SmallRun(dir.path, 2, [](TrainerConfig& c) { c.overwrite = true; }).fit();
  CHECK(second.run_id != first.run_id);
  CHECK(load_run_record(dir.path).run_id == second.run_id);
  CHECK(read_log_csv(dir.path + "/log.csv").size() == 2);
  CHECK(file_bytes(dir.path + "/notes.txt") == "mine");
  CHECK(file_bytes(dir.path + "/report/mine.txt") == "mine too");
  CHECK(!fs::exists(dir.path + "/report/index.html"));
  // A folder with only someone's own report/ holds no run.
  TempDir other;
  fs::create_directories(other.path + "/report");
  write_bytes(other.path + "/report/mine.txt", "mine");
  CHECK(SmallRun(other.path, 1).fit().epochs.size() == 1);
  CHECK(file_bytes(other.path + "/report/mine.txt") == "mine");
}

TEST_CASE("A run folder is locked while a run holds it; a stale lock is taken over and reported", "[run_safety][run_folder]") {
  TempDir dir;
  {
    RunFolder holder(dir.path, RunFolderMode::NewRun);
    CHECK(holder.notice().empty());
    CHECK_THROWS_WITH(RunFolder(dir.path, RunFolderMode::NewRun),
                      Catch::Contains("in use by another run") && Catch::Contains("pid " + std::to_string(::getpid())));
    CHECK_THROWS_AS(SmallRun(dir.path, 1).fit(), IoError);  // the trainer takes the same lock
    CHECK(!fs::exists(dir.path + "/last.ckpt"));
  }
  CHECK(file_bytes(dir.path + "/run.lock").empty());  // released: emptied, not removed
  // A lock file naming a holder, yet unlocked: its process died without releasing it.
  write_bytes(dir.path + "/run.lock", "pid 999999\nhost elsewhere\nsince 2026-01-01T00:00:00Z\n");
  RunFolder taker(dir.path, RunFolderMode::NewRun);
  CHECK_THAT(taker.notice(), Catch::Contains("pid 999999") && Catch::Contains("no longer running"));
  CHECK_THAT(file_bytes(dir.path + "/run.lock"), Catch::Contains("pid " + std::to_string(::getpid())));
}

TEST_CASE("An input of a run is never one of its outputs, and an empty folder path is refused", "[run_safety][run_folder]") {
  TempDir dir;
  SmallRun(dir.path, 1).fit();
  const std::string teacher = dir.path + "/last.ckpt", before = file_bytes(teacher);
  for (const std::string& path : {teacher, dir.path + "/./last.ckpt", dir.path + "/report/index.html"})
    CHECK_THROWS_WITH(RunFolder(dir.path, RunFolderMode::Overwrite, {{path, "--teacher"}}),
                      Catch::Contains("--teacher") && Catch::Contains("the run's own output"));
  CHECK(file_bytes(teacher) == before);  // refused before anything was removed
  // A hard link to an output is the same file.
  TempDir other;
  fs::create_hard_link(teacher, other.path + "/teacher.ckpt");
  CHECK_THROWS_AS(RunFolder(dir.path, RunFolderMode::Overwrite, {{other.path + "/teacher.ckpt", "--teacher"}}), ValueError);
  CHECK_THROWS_WITH(RunFolder("", RunFolderMode::NewRun), Catch::Contains("empty path"));
}

TEST_CASE("Resume continues only its own run; the written list names only existing files", "[run_safety][run_folder]") {
  TempDir a, b, elsewhere;
  SmallRun(a.path, 1).fit();
  SmallRun(b.path, 1).fit();
  SmallRun into_b(b.path, 2);
  into_b.trainer->resume(load_checkpoint(a.path + "/last.ckpt"));
  CHECK_THROWS_WITH(into_b.fit(), Catch::Contains("holds another run") && Catch::Contains("run id"));
  // The run's checkpoint copied elsewhere continues it: its run id is the folder's.
  fs::copy_file(a.path + "/last.ckpt", elsewhere.path + "/copy.ckpt");
  SmallRun into_a(a.path, 2);
  into_a.trainer->resume(load_checkpoint(elsewhere.path + "/copy.ckpt"));
  CHECK(into_a.fit().epochs.size() == 2);
  RunFolder empty_folder(elsewhere.path + "/new", RunFolderMode::NewRun);
  CHECK(empty_folder.written().empty());
}

TEST_CASE("A run that diverges before its first checkpoint does not name one", "[run_safety][trainer]") {
  TempDir dir;
  SmallRun run(dir.path, 2);
  run.trainer = nullptr;
  run.sched = std::make_unique<ConstantLr>(1e30);
  TrainerConfig tc;
  tc.epochs = 2;
  tc.batch = 16;
  tc.out_dir = dir.path;
  run.trainer = std::make_unique<Trainer<float>>(*run.model, *run.opt, *run.sched, tc);
  CHECK_THROWS_WITH(run.fit(), Catch::Contains("non-finite loss") && Catch::Contains("no epoch was completed") &&
                                   !Catch::Contains("last.ckpt"));
  CHECK(!fs::exists(dir.path + "/last.ckpt"));
}

TEST_CASE("Every file argument is checked before it is read: FIFO, directory, device, size", "[run_safety][files]") {
  TempDir dir;
  const std::string fifo = dir.path + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // A FIFO with no writer would block an open() or read() for ever; it is refused at once.
  CHECK_THROWS_WITH(load_checkpoint(fifo, "--teacher checkpoint"),
                    Catch::Contains("--teacher checkpoint '" + fifo + "' is a FIFO") && Catch::Contains("not a regular file"));
  CHECK_THROWS_WITH(read_json_file(fifo, "metrics file"), Catch::Contains("is a FIFO"));
  CHECK_THROWS_WITH(decode_image_file(fifo, 32, 32), Catch::Contains("image file '" + fifo + "' is a FIFO"));
  CHECK_THROWS_WITH(load_checkpoint(dir.path), Catch::Contains("is a directory"));
  CHECK_THROWS_WITH(load_checkpoint("/dev/zero"), Catch::Contains("is a character device"));
  CHECK_THROWS_WITH(load_checkpoint(dir.path + "/none.ckpt"), Catch::Contains("does not exist"));
  // A 20 GiB sparse file: refused by its size, never read.
  const std::string big = dir.path + "/big.ckpt";
  { std::ofstream(big, std::ios::binary); }
  fs::resize_file(big, std::uintmax_t{20} << 30);
  CHECK_THROWS_WITH(load_checkpoint(big), Catch::Contains("more than the limit") && Catch::Contains(big));
  // A run record whose metrics.json is a FIFO.
  const std::string run = dir.path + "/run";
  fs::create_directories(run);
  REQUIRE(::mkfifo((run + "/metrics.json").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(load_run_record(run), Catch::Contains("metrics file") && Catch::Contains("is a FIFO"));
}

TEST_CASE("Checkpoint metadata is parsed strictly: a refusal names the file, the key and the value", "[run_safety][metadata]") {
  TempDir dir, crafted;
  SmallRun(dir.path, 1).fit();
  const std::string good = dir.path + "/last.ckpt";
  struct Case {
    const char* key;
    const char* value;
    const char* says;
  };
  for (const Case& k : {Case{"epoch", "1e300", "not an integer"}, Case{"epoch", "3000000000", "not an integer"},
                        Case{"epoch", "-1", "not an integer"}, Case{"epoch", "2 ", "not an integer"},
                        Case{"train_images", "-5", "not an integer"}, Case{"train_images", "abc", "not an integer"},
                        Case{"train_seconds", "nan", "not a finite number"}, Case{"train_seconds", "-3", "not a finite number"},
                        Case{"batch", "abc", "trained with batch 'abc'"}}) {
    INFO(k.key << " = " << k.value);
    const std::string path = with_meta(good, k.key, k.value, crafted.path + "/bad.ckpt");
    SmallRun run(crafted.path + "/out", 3);
    const std::string before = file_bytes(path);
    CHECK_THROWS_WITH(run.trainer->resume(load_checkpoint(path)),
                      Catch::Contains(path) && Catch::Contains(k.key) && Catch::Contains(k.value) && Catch::Contains(k.says));
    CHECK(run.trainer->epochs_done() == 0);  // nothing changed
  }
  // An epoch past the run's last is refused rather than "finishing" a run it never trained.
  SmallRun short_run(crafted.path + "/out2", 1);
  const std::string later = with_meta(good, "epoch", "2", crafted.path + "/later.ckpt");
  CHECK_THROWS_WITH(short_run.trainer->resume(load_checkpoint(later)), Catch::Contains("past this run's last epoch 1"));
  CHECK(parse_integer("12", 0, 20, "x") == 12);
  CHECK_THROWS_WITH(parse_integer("12x", 0, 20, "f.ckpt: metadata 'k'"), "f.ckpt: metadata 'k' is '12x', not an integer in [0, 20]");
  CHECK_THROWS_WITH(parse_real(std::string("1\x1b[31m", 6), 0, 2, "k"), Catch::Contains("'1\\x1B[31m'"));
  CHECK(parse_real("1e-3", 0, 1, "k") == 1e-3);
}

TEST_CASE("A setting changed on resume is refused, or accepted and recorded from that epoch", "[run_safety][metadata]") {
  TempDir dir;
  {
    SmallRun first(dir.path, 1);
    first.trainer->record().config = {{"lr", "0.01"}, {"threads", "2"}};
    first.fit();
  }
  SmallRun refused(dir.path, 2);
  refused.trainer->record().config = {{"lr", "0.2"}, {"threads", "1"}};
  CHECK_THROWS_WITH(refused.trainer->resume(load_checkpoint(dir.path + "/last.ckpt")),
                    Catch::Contains("from epoch 2: lr '0.01' -> '0.2'") && !Catch::Contains("threads"));
  SmallRun accepted(dir.path, 2, [](TrainerConfig& c) { c.accept_changed_settings = true; });
  accepted.trainer->record().config = {{"lr", "0.2"}, {"threads", "1"}};
  accepted.trainer->resume(load_checkpoint(dir.path + "/last.ckpt"));
  const RunRecord r = accepted.fit();
  REQUIRE(r.changes.size() == 1);
  CHECK(r.changes[0] == "from epoch 2: lr '0.01' -> '0.2'");
  CHECK(load_run_record(dir.path).changes == r.changes);
  CHECK(load_run_record(dir.path).config.at("lr") == "0.2");
}

TEST_CASE("A final test-time augmentation that does not fit the images is refused before training", "[run_safety][options]") {
  TempDir dir;
  SmallRun run(dir.path, 1, [](TrainerConfig& c) { c.final_tta = parse_tta("shift50"); });
  int epochs = 0;
  run.trainer->on_epoch = [&](const EpochRecord&) { ++epochs; };
  CHECK_THROWS_WITH(run.fit(), Catch::Contains("shift of 50 pixels does not fit images of 32x32"));
  CHECK(epochs == 0);
  CHECK(!fs::exists(dir.path + "/last.ckpt"));
}

TEST_CASE("The per-epoch cost does not grow: checkpoint and metrics keep their size, the log is appended", "[run_safety][scale]") {
  TempDir dir;
  SmallRun run(dir.path, 24);
  std::vector<std::uintmax_t> ckpt, metrics;
  RunRecord mid;
  run.trainer->on_epoch = [&](const EpochRecord& e) {
    ckpt.push_back(fs::file_size(dir.path + "/last.ckpt"));
    metrics.push_back(fs::file_size(dir.path + "/metrics.json"));
    if (e.epoch == 12) mid = load_run_record(dir.path);
  };
  const RunRecord r = run.fit();
  REQUIRE(ckpt.size() == 24);
  // The old files grew by the epoch's JSON (~300 bytes) every epoch: 6.6 KB over these 22.
  CHECK(ckpt.back() < ckpt[1] + 200);
  CHECK(metrics.back() < metrics[1] + 200);
  // Mid-run, the record's history comes from log.csv; at the end metrics.json holds it all.
  CHECK(mid.status == "running");
  CHECK(mid.epochs.size() == 12);
  CHECK(load_run_record(dir.path).epochs.size() == 24);
  CHECK(r.seconds == Approx([&] {
          double s = 0;
          for (const auto& e : r.epochs) s += e.seconds;
          return s;
        }()));
}

// Trains 2 epochs into dir, lets `edit` change the log as a kill would have left it, resumes to
// 3 epochs and returns the log's epochs.
std::vector<EpochRecord> killed_and_resumed(const std::string& dir, const std::function<std::string(std::string)>& edit) {
  SmallRun(dir, 2).fit();
  write_bytes(dir + "/log.csv", edit(file_bytes(dir + "/log.csv")));
  SmallRun resumed(dir, 3);
  resumed.trainer->resume(load_checkpoint(dir + "/last.ckpt"));
  resumed.fit();
  return read_log_csv(dir + "/log.csv");
}

TEST_CASE("A kill between an epoch's checkpoint and its log line, or after the line, lists each epoch once", "[run_safety][scale]") {
  TempDir whole, cut, ahead;
  const RunRecord three = SmallRun(whole.path, 3).fit();
  const auto last_line = [](const std::string& log) { return log.rfind('\n', log.size() - 2) + 1; };
  // Killed after epoch 2's checkpoint, before its log line: the checkpoint carries the line.
  for (const auto& lines : {killed_and_resumed(cut.path, [&](std::string log) { return log.erase(last_line(log)); }),
                            // Killed after a (fake) epoch 3's line, before its checkpoint: cut there.
                            killed_and_resumed(ahead.path, [&](const std::string& log) {
                              return log + "3" + log.substr(log.find(',', last_line(log)));
                            })}) {
    REQUIRE(lines.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(lines[i].epoch == static_cast<int>(i) + 1);
      CHECK(lines[i].train_loss == three.epochs[i].train_loss);
    }
  }
}
