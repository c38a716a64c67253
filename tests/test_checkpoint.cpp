// Checkpoints: round trip, and every corruption is caught and explained.
#include <catch2/catch.hpp>

#include <glia/models/reference_net.hpp>
#include <glia/train/checkpoint.hpp>

#include <cstdio>
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
