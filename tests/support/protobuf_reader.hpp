// tests/support/protobuf_reader.hpp: a small protocol-buffers wire-format reader, for the tests
// of the ONNX exporter (tests/test_onnx_export.cpp); the writer is model_io/protobuf_writer.hpp.
//
// Contract: ProtoMessage(bytes) parses one message into its fields, in order, without a schema
// (field number, wire type, and the varint, the fixed 32/64-bit value or the LEN bytes). Wire
// types 0, 1, 2 and 5 are read; a truncated varint or LEN field, a varint of more than 10 bytes,
// field number 0, or another wire type throws std::runtime_error naming the byte offset.
// Accessors take a field number: one() requires it exactly once; int64s() reads a repeated
// integer written packed or unpacked; message()/messages() parse LEN fields as messages.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace glia_test {

struct ProtoField {
  std::uint32_t number = 0;
  std::uint32_t wire = 0;
  std::uint64_t value = 0;  // VARINT, or the bits of I32/I64
  std::string bytes;        // LEN
};

class ProtoMessage {
 public:
  explicit ProtoMessage(const std::string& bytes) {
    std::size_t pos = 0;
    while (pos < bytes.size()) {
      const std::size_t at = pos;
      const std::uint64_t key = varint(bytes, pos);
      ProtoField f;
      f.number = static_cast<std::uint32_t>(key >> 3);
      f.wire = static_cast<std::uint32_t>(key & 7);
      if (f.number == 0) fail("field number 0", at);
      if (f.wire == 0) {
        f.value = varint(bytes, pos);
      } else if (f.wire == 1 || f.wire == 5) {
        const std::size_t n = f.wire == 1 ? 8 : 4;
        if (bytes.size() - pos < n) fail("truncated fixed-size field", at);
        std::memcpy(&f.value, bytes.data() + pos, n);
        pos += n;
      } else if (f.wire == 2) {
        const std::uint64_t n = varint(bytes, pos);
        if (n > bytes.size() - pos) fail("LEN field past the end", at);
        f.bytes = bytes.substr(pos, static_cast<std::size_t>(n));
        pos += static_cast<std::size_t>(n);
      } else {
        fail("unsupported wire type " + std::to_string(f.wire), at);
      }
      fields_.push_back(std::move(f));
    }
  }

  const std::vector<ProtoField>& fields() const { return fields_; }
  std::vector<const ProtoField*> all(std::uint32_t number) const {
    std::vector<const ProtoField*> out;
    for (const ProtoField& f : fields_)
      if (f.number == number) out.push_back(&f);
    return out;
  }
  bool has(std::uint32_t number) const { return !all(number).empty(); }
  const ProtoField& one(std::uint32_t number) const {
    const auto v = all(number);
    if (v.size() != 1) throw std::runtime_error("field " + std::to_string(number) + " occurs " + std::to_string(v.size()) + " times");
    return *v[0];
  }
  std::int64_t int64(std::uint32_t number) const { return static_cast<std::int64_t>(expect(one(number), 0).value); }
  float float32(std::uint32_t number) const {
    const auto bits = static_cast<std::uint32_t>(expect(one(number), 5).value);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
  std::string string(std::uint32_t number) const { return expect(one(number), 2).bytes; }
  std::vector<std::string> strings(std::uint32_t number) const {
    std::vector<std::string> out;
    for (const ProtoField* f : all(number)) out.push_back(expect(*f, 2).bytes);
    return out;
  }
  ProtoMessage message(std::uint32_t number) const { return ProtoMessage(string(number)); }
  std::vector<ProtoMessage> messages(std::uint32_t number) const {
    std::vector<ProtoMessage> out;
    for (const std::string& s : strings(number)) out.emplace_back(s);
    return out;
  }
  std::vector<std::int64_t> int64s(std::uint32_t number) const {
    std::vector<std::int64_t> out;
    for (const ProtoField* f : all(number)) {
      if (f->wire == 0) {
        out.push_back(static_cast<std::int64_t>(f->value));
        continue;
      }
      std::size_t pos = 0;
      while (pos < expect(*f, 2).bytes.size()) out.push_back(static_cast<std::int64_t>(varint(f->bytes, pos)));
    }
    return out;
  }

 private:
  [[noreturn]] static void fail(const std::string& what, std::size_t offset) {
    throw std::runtime_error("protobuf: " + what + " at byte offset " + std::to_string(offset));
  }
  static const ProtoField& expect(const ProtoField& f, std::uint32_t wire) {
    if (f.wire != wire)
      throw std::runtime_error("field " + std::to_string(f.number) + " has wire type " + std::to_string(f.wire) + ", expected " +
                               std::to_string(wire));
    return f;
  }
  static std::uint64_t varint(const std::string& b, std::size_t& pos) {
    const std::size_t start = pos;
    std::uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos >= b.size()) fail("truncated varint", start);
      const auto byte = static_cast<unsigned char>(b[pos++]);
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
    fail("varint longer than 10 bytes", start);
  }

  std::vector<ProtoField> fields_;
};

}  // namespace glia_test
