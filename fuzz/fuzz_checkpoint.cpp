// libFuzzer harness: parse_checkpoint (include/glia/train/checkpoint.hpp), then get_module into
// a small model, which exercises the name, dtype and shape checks.
//
// Each input is parsed twice:
//   1. as it is: parse_checkpoint(std::string(data, size), "fuzz.ckpt"), the header, size and
//      hash checks;
//   2. when it starts with the magic and is at least 32 bytes, with the header's payload size
//      and the trailing FNV-1a hash recomputed, so that the fuzzer's mutations of the payload
//      get past the hash and reach the metadata and tensor parser (a random mutation almost
//      never keeps a 64-bit hash right).
// A checkpoint that parses is checked (checkpoint_invariant_violation: no product of a tensor's
// extents overflows, and it holds exactly numel x dtype size bytes), serialised and parsed
// again (must succeed and give the same bytes), and loaded into the model with get_module. Expected failures are glia::Error;
// anything else (a crash, a sanitizer report, another exception, a huge allocation, a hang, a
// broken invariant) is a finding.
#include "checkpoint_model.hpp"
#include <glia/train/checkpoint.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_checkpoint: invariant broken: %s\n", what.c_str());
  std::abort();
}

// The model checkpoints are loaded into (checkpoint_model.hpp; the seeds are made from it too).
glia::Sequential<float>& model() {
  static std::unique_ptr<glia::Sequential<float>> m = glia::fuzz::checkpoint_model(1);
  return *m;
}

void check_parsed(const glia::Checkpoint& c, const std::string& bytes) {
  const std::string problem = glia::fuzz::checkpoint_invariant_violation(c);
  if (!problem.empty()) fail(problem);
  // Serialising gives back the bytes when the input's keys are sorted and unique (they are
  // after one round trip), and always parses again.
  const std::string again = glia::serialize_checkpoint(c);
  glia::Checkpoint c2;
  try {
    c2 = glia::parse_checkpoint(again, "fuzz-reserialised.ckpt");
  } catch (const glia::Error& e) {
    fail(std::string("a re-serialised checkpoint does not parse: ") + e.what());
  }
  if (glia::serialize_checkpoint(c2) != again) fail("serialise(parse(serialise(c))) != serialise(c)");
  (void)bytes;
}

void run(const std::string& bytes) {
  glia::Checkpoint c;
  try {
    c = glia::parse_checkpoint(bytes, "fuzz.ckpt");
  } catch (const glia::Error&) {
    return;
  }
  check_parsed(c, bytes);
  try {
    glia::get_module(c, model());
  } catch (const glia::Error&) {
  }
  try {
    (void)c.meta_at("epoch");
  } catch (const glia::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  run(bytes);
  if (glia::fuzz::fix_up_size_and_hash(bytes)) run(bytes);
  return 0;
}
