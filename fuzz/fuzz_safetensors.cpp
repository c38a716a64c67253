// libFuzzer harness: parse_safetensors (include/glia/model_io/safetensors.hpp) on the input as a
// whole file, then every tensor converted to double where glia reads its dtype.
// Expected failures are glia::Error; anything else (a crash, a sanitizer report, another
// exception, a huge allocation) is a finding. An accepted file is checked: tensors in data order,
// contiguous from the end of the header to the end of the file, each of dtype size x elements
// bytes, and a second serialisation of its F32 tensors parses back to the same values.
#include <glia/model_io/safetensors.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_safetensors: invariant broken: %s\n", what);
  std::abort();
}

void check(const glia::SafetensorsFile& f) {
  const unsigned char* end = reinterpret_cast<const unsigned char*>(f.bytes.data()) + f.bytes.size();
  const unsigned char* expected = f.tensors.empty() ? end : f.tensors.front().data;
  std::vector<glia::SafeTensorOut> again;
  for (const glia::SafeTensor& t : f.tensors) {
    if (t.data != expected) fail("tensors are contiguous, in data order");
    expected += t.bytes;
    if (t.bytes != static_cast<std::size_t>(t.numel()) * glia::safetensors_detail::dtype_size(t.dtype)) fail("byte count");
    if (t.dtype != "F32") continue;
    const std::vector<double> v = t.to_doubles();
    again.push_back({t.name, t.shape, std::vector<float>(v.begin(), v.end()), {}, false});
  }
  if (expected != end) fail("the tensors end at the end of the file");
  const glia::SafetensorsFile g = glia::parse_safetensors(glia::serialize_safetensors(again, f.metadata), "again");
  if (g.tensors.size() != again.size() || g.metadata != f.metadata) fail("a second serialisation reads back");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const glia::SafetensorsFile f = glia::parse_safetensors(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    for (const glia::SafeTensor& t : f.tensors) {
      try {
        t.to_doubles();
      } catch (const glia::FormatError&) {  // a dtype glia does not read
      }
    }
    check(f);
  } catch (const glia::Error&) {
  }
  return 0;
}
