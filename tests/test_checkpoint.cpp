// Checkpoints: round trip, and every corruption is caught and explained.
#include <catch2/catch.hpp>

#include <glia/models/reference_net.hpp>
#include <glia/train/checkpoint.hpp>
#include <glia/train/run_metadata.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <unistd.h>

using namespace glia;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/glia-ckpt-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  return d;
}

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A small model: conv + batchnorm + dropout (parameters, buffers and counters).
std::unique_ptr<Sequential<float>> small_model(Index channels = 4) {
  auto m = std::make_unique<Sequential<float>>();
  m->emplace<Conv2d<float>>(3, channels, 3, 1, 1);
  m->emplace<BatchNorm2d<float>>(channels);
  m->emplace<Dropout<float>>(0.1);
  Rng rng(9);
  m->reset_parameters(rng);
  return m;
}

}  // namespace

TEST_CASE("A checkpoint round-trips parameters, buffers, counters and metadata", "[checkpoint]") {
  auto a = small_model();
  auto* bn = dynamic_cast<BatchNorm2d<float>*>(&(*a)[1]);
  bn->running_mean().fill(0.25f);
  auto* drop = dynamic_cast<Dropout<float>*>(&(*a)[2]);
  drop->set_calls(1234);
  Checkpoint c;
  put_module(c, *a);
  c.meta["epoch"] = "7";
  const std::string dir = temp_dir(), path = dir + "/model.ckpt";
  save_checkpoint(path, c);

  auto b = small_model();
  Rng other(99);
  b->reset_parameters(other);
  const Checkpoint loaded = load_checkpoint(path);
  get_module(loaded, *b);
  CHECK(loaded.meta_at("epoch") == "7");
  auto pa = parameters(*a), pb = parameters(*b);
  for (std::size_t i = 0; i < pa.size(); ++i)
    for (Index k = 0; k < pa[i].param->value.size(); ++k) REQUIRE(pa[i].param->value[k] == pb[i].param->value[k]);
  CHECK(dynamic_cast<BatchNorm2d<float>*>(&(*b)[1])->running_mean()[0] == 0.25f);
  CHECK(dynamic_cast<Dropout<float>*>(&(*b)[2])->calls() == 1234);
  std::remove(path.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("A checkpoint truncated at any byte offset is rejected cleanly", "[checkpoint][errors]") {
  auto m = small_model(2);
  Checkpoint c;
  put_module(c, *m);
  const std::string bytes = serialize_checkpoint(c);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("truncated to " << n << " of " << bytes.size() << " bytes");
    REQUIRE_THROWS_AS(parse_checkpoint(bytes.substr(0, n), "small.ckpt"), FormatError);
  }
  CHECK_THROWS_WITH(parse_checkpoint(bytes.substr(0, 100), "small.ckpt"),
                    Catch::Contains("small.ckpt") && Catch::Contains("truncated"));
}

TEST_CASE("A flipped bit anywhere in a checkpoint is caught", "[checkpoint][errors]") {
  auto m = small_model(2);
  Checkpoint c;
  put_module(c, *m);
  const std::string bytes = serialize_checkpoint(c);
  for (std::size_t i = 0; i < bytes.size(); ++i)
    for (int bit = 0; bit < 8; bit += 3) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      INFO("byte " << i << " bit " << bit);
      REQUIRE_THROWS_AS(parse_checkpoint(bad, "flip.ckpt"), FormatError);
    }
  std::string bad = bytes;
  bad[bytes.size() / 2] ^= 1;
  CHECK_THROWS_WITH(parse_checkpoint(bad, "flip.ckpt"), Catch::Contains("flip.ckpt") && Catch::Contains("hash"));
}

TEST_CASE("Checkpoint errors name the culprit", "[checkpoint][errors]") {
  auto bn = make_reference_net<float>();
  Checkpoint c;
  put_module(c, *bn);
  c.source = "bn.ckpt";

  SECTION("another norm type: the missing tensor is named") {
    ReferenceNetConfig cfg;
    cfg.norm = NormKind::Group;
    auto gn = make_reference_net<float>(cfg);
    // GroupNorm has the same parameters but no running statistics: the extra tensor is named.
    CHECK_THROWS_WITH(get_module(c, *gn), Catch::Contains("bn.ckpt") && Catch::Contains("running_mean"));
  }
  SECTION("another architecture: the mismatching shape is named") {
    ReferenceNetConfig cfg;
    cfg.width1 = 24;
    auto wide = make_reference_net<float>(cfg);
    CHECK_THROWS_WITH(get_module(c, *wide), Catch::Contains("param/C1.conv.weight") && Catch::Contains("[16,3,3,3]") &&
                                                 Catch::Contains("[24,3,3,3]"));
  }
  SECTION("a future format version") {
    std::string bytes = serialize_checkpoint(c);
    bytes[8] = 2;  // version field
    CHECK_THROWS_WITH(parse_checkpoint(bytes, "new.ckpt"), Catch::Contains("version 2") && Catch::Contains("newer"));
  }
  SECTION("not a checkpoint") {
    CHECK_THROWS_WITH(parse_checkpoint(std::string(100, 'x'), "notes.txt"), Catch::Contains("notes.txt") && Catch::Contains("not a glia checkpoint"));
    CHECK_THROWS_AS(load_checkpoint("/nonexistent/dir/x.ckpt"), IoError);
    CHECK_THROWS_AS(load_checkpoint("/tmp"), Error);
  }
}

TEST_CASE("Saving a checkpoint over an existing one is atomic", "[checkpoint]") {
  const std::string dir = temp_dir(), path = dir + "/last.ckpt";
  auto m = small_model();
  Checkpoint c;
  put_module(c, *m);
  save_checkpoint(path, c);
  const std::string before = read_file(path);
  // Writing into a folder that does not exist fails without touching anything.
  CHECK_THROWS_AS(save_checkpoint(dir + "/missing/last.ckpt", c), IoError);
  // A second save replaces the file whole; no temporary file is left behind.
  c.meta["epoch"] = "2";
  save_checkpoint(path, c);
  CHECK(read_file(path) != before);
  CHECK(load_checkpoint(path).meta_at("epoch") == "2");
  CHECK(::access((path + ".tmp-" + std::to_string(::getpid())).c_str(), F_OK) != 0);
  std::remove(path.c_str());
  ::rmdir(dir.c_str());
}

namespace {

RunRecord metadata_run() {
  RunRecord r;
  r.name = "bn, with a comma";
  r.recipe = "reference";
  r.norm = "bn";
  r.status = "running";
  r.seed = 18446744073709551557ull;  // > int64 max
  r.threads = 2;
  r.parameters = 48178;
  r.best_test_accuracy = 1.0 / 3.0;
  r.best_epoch = 2;
  r.final_test_accuracy = 5e-324;
  r.final_train_accuracy = -0.0;
  r.seconds = 1e300;
  r.train_images_per_second = 4000.5;
  r.final_test_accuracy_tta = 71.25;
  r.final_tta = "flip+shift1";
  r.command = "glia-cifar10 train --out \"a,b\"\n";
  r.commit = "0e0ee60";
  r.config = {{"lr", "0.1"}, {"norm", "bn"}};
  r.run_id = "0123456789ab-cdef0123";
  r.class_names = {"cat", "dog,2", ""};
  r.changes = {"from epoch 2: lr '0.1' -> '0.2'"};
  r.train_class_counts = {5000, 4990, 5010};
  r.confusion = {{9, 1, 0}, {2, 7, 1}, {0, 0, 10}};
  EpochRecord e;
  e.epoch = 2;
  e.lr = 0.1 / 3;
  e.train_loss = std::nan("");
  e.test_loss = HUGE_VAL;
  e.train_correct = 31000;
  e.test_total = 10000;
  r.epochs = {EpochRecord{}, e};
  return r;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("A run record round-trips through checkpoint metadata, bit for bit, without JSON", "[checkpoint][metadata]") {
  const RunRecord run = metadata_run();
  Checkpoint c;
  put_run_record(c, run);
  CHECK(c.meta.at("format") == kTrainingCheckpointFormat);
  CHECK(c.meta.at("run.seed") == "18446744073709551557");
  CHECK(c.meta.at("config.lr") == "0.1");
  CHECK(c.meta.at("run.confusion.1") == "2,7,1");
  CHECK(c.meta.at("last_epoch.train_loss") == "nan");
  c.source = "r.ckpt";
  const Checkpoint back_ckpt = parse_checkpoint(serialize_checkpoint(c), "r.ckpt");
  const RunRecord back = read_run_record(back_ckpt);
  CHECK(back.epochs.empty());  // the history is log.csv's
  CHECK(back.name == run.name);
  CHECK(back.seed == run.seed);
  CHECK(same_bits(back.best_test_accuracy, run.best_test_accuracy));
  CHECK(same_bits(back.final_test_accuracy, run.final_test_accuracy));
  CHECK(same_bits(back.final_train_accuracy, run.final_train_accuracy));
  CHECK(back.seconds == run.seconds);
  CHECK(back.final_test_accuracy_tta == 71.25);
  CHECK(back.final_tta == run.final_tta);
  CHECK(back.command == run.command);
  CHECK(back.config == run.config);
  CHECK(back.run_id == run.run_id);
  CHECK(back.class_names == run.class_names);
  CHECK(back.changes == run.changes);
  CHECK(back.train_class_counts == run.train_class_counts);
  CHECK(back.confusion == run.confusion);
  EpochRecord last;
  REQUIRE(read_last_epoch(back_ckpt, &last));
  CHECK(last.epoch == 2);
  CHECK(same_bits(last.lr, run.epochs[1].lr));
  CHECK(std::isnan(last.train_loss));
  CHECK(last.test_loss == HUGE_VAL);
  CHECK(last.train_correct == 31000);
  // Without TTA and without epochs: neither is written, neither comes back.
  RunRecord plain = run;
  plain.final_test_accuracy_tta = -1;
  plain.epochs.clear();
  plain.train_class_counts.clear();
  Checkpoint p;
  put_run_record(p, plain);
  CHECK(p.meta.count("run.final_tta") == 0);
  CHECK(read_run_record(p).final_test_accuracy_tta == -1);
  CHECK(read_run_record(p).train_class_counts.empty());
  CHECK_FALSE(read_last_epoch(p, &last));
}

TEST_CASE("Checkpoint metadata of a run record is read strictly, naming the file, the key and the value", "[checkpoint][metadata]") {
  Checkpoint good;
  put_run_record(good, metadata_run());
  good.source = "runs/bn/last.ckpt";
  const auto refused = [&](const std::string& key, const std::string& value) {
    Checkpoint c = good;
    if (value == "<erase>") c.meta.erase(key);
    else c.meta[key] = value;
    try {
      read_run_record(c);
      EpochRecord e;
      read_last_epoch(c, &e);
    } catch (const FormatError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(refused("run.seed", "x") == "runs/bn/last.ckpt: metadata 'run.seed': not an integer 'x'");
  CHECK(refused("run.seed", "-1") == "runs/bn/last.ckpt: metadata 'run.seed': not an integer '-1'");
  CHECK(refused("run.threads", "3000000000") == "runs/bn/last.ckpt: metadata 'run.threads': out of range '3000000000'");
  CHECK(refused("run.best_test_accuracy", "1.5x") == "runs/bn/last.ckpt: metadata 'run.best_test_accuracy': not a number '1.5x'");
  CHECK(refused("last_epoch.epoch", " 2") == "runs/bn/last.ckpt: metadata 'last_epoch.epoch': not an integer ' 2'");
  CHECK(refused("run.norm", "<erase>") == "runs/bn/last.ckpt: no metadata 'run.norm'");
  CHECK(refused("run.class_names.count", "4") == "runs/bn/last.ckpt: no metadata 'run.class_names.3'");
  CHECK(refused("run.train_class_counts", "1,,2") == "runs/bn/last.ckpt: metadata 'run.train_class_counts': not an integer ''");
  CHECK_THAT(refused("run.confusion.1", "1,2"), Catch::Contains("'run.confusion.1'") && Catch::Contains("square"));
  CHECK_THAT(refused("run.confusion.count", "-1"), Catch::Contains("'run.confusion.count' is '-1', not an integer"));
  CHECK(refused("run.name", "anything, even \"quotes\"") == "accepted");
  // A checkpoint of an older glia (its run record was JSON) is refused by its format.
  CHECK_THAT(refused("format", "glia training checkpoint"),
             Catch::Contains("runs/bn/last.ckpt: metadata 'format' is 'glia training checkpoint'") && Catch::Contains("older glia"));
  CHECK_THAT(refused("format", "<erase>"), Catch::Contains("metadata 'format' is missing") && Catch::Contains("not a training checkpoint"));
}
