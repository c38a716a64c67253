// glia/model_io/protobuf_writer.hpp: the protocol-buffers wire format, written directly (no
// libprotobuf), for the ONNX exporter (model_io/onnx_export.hpp).
//
// The format (https://protobuf.dev/programming-guides/encoding/): a message is a sequence of
// fields, each a key varint (field_number << 3 | wire_type) and a value:
//   wire type 0 (VARINT)  int32/int64/uint64/bool/enum as a base-128 varint, least significant
//                         group first; a negative int64 is its two's complement (10 bytes);
//   wire type 1 (I64)     8 little-endian bytes (double);
//   wire type 2 (LEN)     a varint byte count, then the bytes: strings, bytes, sub-messages and
//                         packed repeated scalars;
//   wire type 5 (I32)     4 little-endian bytes (float).
// Contract: ProtoWriter appends fields to a byte string in the order they are called (any order
// is valid protobuf; ONNX readers accept repeated fields in the order written). A sub-message is
// built in its own ProtoWriter and added with message(field, sub). Nothing is cached; nothing
// throws but std::bad_alloc. glia runs on little-endian machines only, so floats are copied as
// they are.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace glia {

class ProtoWriter {
 public:
  enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

  const std::string& bytes() const { return out_; }
  std::string take() { return std::move(out_); }
  bool empty() const { return out_.empty(); }

  // int32, int64, enum and bool fields (negative values as 10-byte two's complement).
  ProtoWriter& int64(std::uint32_t field, std::int64_t v) {
    key(field, kVarint);
    varint(static_cast<std::uint64_t>(v));
    return *this;
  }
  ProtoWriter& float32(std::uint32_t field, float v) {
    key(field, kFixed32);
    raw(&v, sizeof v);
    return *this;
  }
  ProtoWriter& string(std::uint32_t field, const std::string& s) {
    key(field, kLen);
    varint(s.size());
    out_ += s;
    return *this;
  }
  ProtoWriter& bytes(std::uint32_t field, const void* data, std::size_t n) {
    key(field, kLen);
    varint(n);
    raw(data, n);
    return *this;
  }
  ProtoWriter& message(std::uint32_t field, const ProtoWriter& sub) { return string(field, sub.bytes()); }
  // A repeated int64, one field per value (proto2's unpacked form, which every reader accepts).
  ProtoWriter& repeated_int64(std::uint32_t field, const std::vector<std::int64_t>& values) {
    for (std::int64_t v : values) int64(field, v);
    return *this;
  }
  // Fields already encoded (e.g. another writer's), appended as they are.
  ProtoWriter& append(const ProtoWriter& fields) {
    out_ += fields.bytes();
    return *this;
  }

  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }

 private:
  void key(std::uint32_t field, WireType type) { varint((static_cast<std::uint64_t>(field) << 3) | type); }
  void raw(const void* data, std::size_t n) {
    if (n) out_.append(static_cast<const char*>(data), n);
  }

  std::string out_;
};

}  // namespace glia
