// The safetensors reader and writer (model_io/safetensors.hpp): a round trip, the dtypes glia
// reads (hand-made bytes: IEEE half, bfloat16, ...), and every refusal.
#include <catch2/catch.hpp>

#include <glia/model_io/safetensors.hpp>

#include <cmath>
#include <string>

using namespace glia;

namespace {

std::string with_header(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(header.size() >> (8 * i) & 0xFF);
  return out + header + data;
}

std::string refusal(const std::string& bytes) {
  try {
    parse_safetensors(bytes, "m.safetensors");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("safetensors: what glia writes reads back, with its metadata", "[safetensors]") {
  SafeTensorOut w{"conv.weight", {2, 3}, {1, -2, 3.5f, 4, 5, 6}, {}, false};
  SafeTensorOut steps{"bn.num_batches_tracked", {}, {}, {7}, true};
  SafeTensorOut b{"conv.bias", {2}, {0.25f, -0.5f}, {}, false};
  const std::string bytes = serialize_safetensors({w, steps, b}, {{"spec", "{\"input\": [1, 2, 2]}"}, {"classes", "a,b"}});
  const SafetensorsFile f = parse_safetensors(bytes, "mem");
  REQUIRE(f.tensors.size() == 3);
  CHECK(f.tensors[0].name == "conv.weight");  // in data order
  CHECK(f.tensors[1].dtype == "I64");
  CHECK(f.tensors[1].shape.empty());
  CHECK(f.tensors[1].to_doubles() == std::vector<double>{7});
  CHECK(f.find("conv.bias")->to_doubles() == std::vector<double>{0.25, -0.5});
  CHECK(f.find("conv.weight")->to_doubles()[2] == 3.5);
  CHECK(f.metadata.at("classes") == "a,b");
  CHECK(f.find("nothing") == nullptr);
  // The data starts 8-byte aligned.
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  CHECK(n % 8 == 0);
}

TEST_CASE("safetensors: F16, BF16, F64, I32 and U8 values convert to double", "[safetensors]") {
  // F16 1.0 = 0x3C00, -2.5 = 0xC100, 2^-24 (smallest subnormal) = 0x0001, inf = 0x7C00;
  // BF16 1.0 = 0x3F80, -0.15625 = 0xBE20.
  const std::string f16("\x00\x3C\x00\xC1\x01\x00\x00\x7C", 8), bf16("\x80\x3F\x20\xBE", 4);
  double d = -0.125;
  std::string f64(reinterpret_cast<const char*>(&d), 8);
  const std::string i32("\xFE\xFF\xFF\xFF", 4), u8("\xFF", 1);
  const std::string header =
      R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},)"
      R"("c":{"dtype":"F64","shape":[1],"data_offsets":[12,20]},"d":{"dtype":"I32","shape":[1],"data_offsets":[20,24]},)"
      R"("e":{"dtype":"U8","shape":[1,1],"data_offsets":[24,25]}})";
  const SafetensorsFile f = parse_safetensors(with_header(header, f16 + bf16 + f64 + i32 + u8), "mem");
  const auto a = f.find("a")->to_doubles();
  CHECK(a[0] == 1.0);
  CHECK(a[1] == -2.5);
  CHECK(a[2] == std::ldexp(1.0, -24));
  CHECK(std::isinf(a[3]));
  CHECK(f.find("b")->to_doubles() == std::vector<double>{1.0, -0.15625});
  CHECK(f.find("c")->to_doubles() == std::vector<double>{-0.125});
  CHECK(f.find("d")->to_doubles() == std::vector<double>{-2});
  CHECK(f.find("e")->to_doubles() == std::vector<double>{255});
}

TEST_CASE("safetensors: every malformed file is refused, naming the file and the tensor", "[safetensors]") {
  const std::string t = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string data8(8, '\0');
  CHECK(refusal(with_header("{" + t + "}", data8)) == "accepted");
  CHECK_THAT(refusal("short"), Catch::Contains("'m.safetensors'") && Catch::Contains("shorter than the 8-byte header length"));
  CHECK_THAT(refusal(std::string("\xFF\xFF\xFF\xFF\x00\x00\x00\x00", 8)), Catch::Contains("above the limit"));
  CHECK_THAT(refusal(std::string("\x40\x00\x00\x00\x00\x00\x00\x00{}", 10)), Catch::Contains("runs past the end"));
  CHECK_THAT(refusal(with_header("[1]", "")), Catch::Contains("not a JSON object"));
  CHECK_THAT(refusal(with_header("{\"w\":", "")), Catch::Contains("not JSON"));
  CHECK_THAT(refusal(with_header("{" + t + "," + t + "}", data8)), Catch::Contains("key 'w' appears twice"));
  CHECK_THAT(refusal(with_header(R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", data8)),
             Catch::Contains("tensor 'w': unknown dtype \"F33\""));
  CHECK_THAT(refusal(with_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8)),
             Catch::Contains("hold 8 bytes, but F32 [3] needs 12"));
  CHECK_THAT(refusal(with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data8)),
             Catch::Contains("run backwards"));
  CHECK_THAT(refusal(with_header(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8)),
             Catch::Contains("shape must hold integers"));
  CHECK_THAT(refusal(with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", data8)),
             Catch::Contains("expected {\"dtype\", \"shape\", \"data_offsets\"}"));
  CHECK_THAT(refusal(with_header(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data8)),
             Catch::Contains("tensor 'w' starts at data offset 4 after a gap"));
  CHECK_THAT(refusal(with_header(R"({"v":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data8)),
             Catch::Contains("tensor 'w' starts at data offset 4 inside tensor 'v'"));
  CHECK_THAT(refusal(with_header("{" + t + "}", data8 + "xx")), Catch::Contains("cover 8 bytes of data, the file holds 10"));
  CHECK_THAT(refusal(with_header(R"({"__metadata__":{"a":1}})", "")), Catch::Contains("__metadata__ 'a' is not a string"));
  CHECK_THAT(refusal(with_header(R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data8)),
             Catch::Contains("an empty name"));
  CHECK_THAT(refusal(with_header(R"({"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]}})", data8)),
             Catch::Contains("more than 2^40 elements"));
  CHECK_THROWS_WITH(parse_safetensors(with_header(R"({"w":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}})", data8), "m")
                        .tensors[0]
                        .to_doubles(),
                    Catch::Contains("tensor 'w' has dtype U64, which glia does not read"));
}
