// glia/model_io/safetensors.hpp: reading and writing the safetensors format.
//
// The format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length N,
// N bytes of a JSON object (UTF-8, may end in spaces), then the data buffer. Each key of the
// object but "__metadata__" is a tensor: {"dtype": "F32", "shape": [...], "data_offsets":
// [begin, end]}, the offsets relative to the buffer's start; "__metadata__" maps strings to
// strings. Data is little-endian, row-major.
//
// Contract:
// - parse_safetensors(bytes, source) checks what the reference implementation checks, and a
//   little more, before it hands out a tensor; every refusal is a FormatError naming source,
//   and the tensor or key at fault:
//     a file shorter than 8 bytes or than 8 + N; N above 100,000,000 (the reference limit); a
//     header that is not a JSON object (with the parser's byte offset); a duplicate key; a
//     tensor without a string dtype, an integer shape or two integer offsets, or with extra
//     keys; an unknown dtype; begin > end; a byte count that is not dtype size x elements
//     (with both numbers, overflow checked); offsets that are not contiguous from 0 (a gap or
//     an overlap, naming both tensors) or do not end at the buffer's end; metadata values that
//     are not strings; an empty tensor name.
//   Tensors are listed in the order of their data (which is the order of their offsets).
// - SafeTensor::to_doubles() converts F64, F32, F16, BF16, I64, I32, I16, I8, U8 and BOOL values
//   to double (FormatError for other dtypes, naming the tensor).
// - read_safetensors(path) reads a file through read_input_file (at most 16 GiB).
// - serialize_safetensors(tensors, metadata) writes F32 and I64 tensors, their data in the order
//   given, the header padded with spaces so that the data starts 8-byte aligned (as the
//   reference writer does); write_safetensors writes it atomically (core/atomic_file.hpp).
// glia runs on little-endian machines only, so values are copied as they are.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "glia/core/atomic_file.hpp"
#include "glia/core/error.hpp"
#include "glia/core/input_file.hpp"
#include "glia/tensor/shape.hpp"

namespace glia {

struct SafeTensor {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
  const unsigned char* data = nullptr;  // into SafetensorsFile::bytes
  std::uint64_t offset = 0;              // from the start of the data buffer
  std::size_t bytes = 0;
  std::string source;  // for messages

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    return n;
  }
  std::vector<double> to_doubles() const;
};

struct SafetensorsFile {
  std::string bytes;  // the whole file; tensors point into it
  std::map<std::string, std::string> metadata;
  std::vector<SafeTensor> tensors;  // in the order of their data

  const SafeTensor* find(const std::string& name) const {
    for (const SafeTensor& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  }
};

namespace safetensors_detail {

constexpr std::uint64_t kMaxHeader = 100000000;  // the reference implementation's limit
constexpr std::uint64_t kMaxFile = std::uint64_t(16) << 30;

inline std::size_t dtype_size(const std::string& d) {
  static const std::map<std::string, std::size_t> sizes = {
      {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4}, {"F64", 8}, {"I64", 8}, {"U64", 8}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

inline std::uint64_t read_u64_le(const std::string& b) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(b[static_cast<std::size_t>(i)]);
  return v;
}

// Parses the header, refusing duplicate keys (which nlohmann would otherwise keep the last of).
inline nlohmann::json parse_header(const std::string& header, const std::string& source) {
  std::vector<std::set<std::string>> open;
  using Json = nlohmann::json;
  auto cb = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) open.emplace_back();
    if (event == Json::parse_event_t::object_end) open.pop_back();
    if (event == Json::parse_event_t::key && !open.back().insert(parsed.get<std::string>()).second)
      throw FormatError(detail::cat("safetensors '", source, "': key '", parsed.get<std::string>(), "' appears twice in the header",
                                    depth == 1 ? "" : " (inside an entry)"));
    return true;
  };
  return Json::parse(header, cb);
}

inline SafeTensor parse_entry(const std::string& name, const nlohmann::json& e, const std::string& source) {
  auto fail = [&](const std::string& what) {
    throw FormatError(detail::cat("safetensors '", source, "': tensor '", name, "': ", what));
  };
  if (name.empty()) fail("an empty name");
  if (!e.is_object() || e.size() != 3 || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
    fail(detail::cat("expected {\"dtype\", \"shape\", \"data_offsets\"}, got ", e.dump()));
  SafeTensor t;
  t.name = name;
  t.source = source;
  if (!e["dtype"].is_string() || dtype_size(e["dtype"].get<std::string>()) == 0) fail(detail::cat("unknown dtype ", e["dtype"].dump()));
  t.dtype = e["dtype"].get<std::string>();
  if (!e["shape"].is_array()) fail(detail::cat("shape must be a list, got ", e["shape"].dump()));
  std::uint64_t numel = 1;
  for (const auto& d : e["shape"]) {
    if (!d.is_number_unsigned() || d.get<std::uint64_t>() > (std::uint64_t(1) << 40))
      fail(detail::cat("shape must hold integers 0..2^40, got ", e["shape"].dump()));
    const std::uint64_t extent = d.get<std::uint64_t>();
    t.shape.push_back(static_cast<std::int64_t>(extent));
    if (extent != 0 && numel > (std::uint64_t(1) << 40) / extent)
      fail(detail::cat("shape ", e["shape"].dump(), " has more than 2^40 elements"));
    numel *= extent;
  }
  const auto& off = e["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    fail(detail::cat("data_offsets must be two non-negative integers, got ", off.dump()));
  const std::uint64_t begin = off[0].get<std::uint64_t>(), end = off[1].get<std::uint64_t>();
  if (begin > end) fail(detail::cat("data_offsets [", begin, ", ", end, "] run backwards"));
  if (end - begin != numel * dtype_size(t.dtype))
    fail(detail::cat("data_offsets [", begin, ", ", end, "] hold ", end - begin, " bytes, but ", t.dtype, " ",
                     e["shape"].dump(), " needs ", numel * dtype_size(t.dtype)));
  t.offset = begin;
  t.bytes = static_cast<std::size_t>(end - begin);
  return t;
}

// Orders the tensors by offset, checks that they tile the buffer exactly, and points them at it.
inline void place_tensors(SafetensorsFile& f, std::size_t data_start, const std::string& source) {
  auto offset = [](const SafeTensor& t) { return t.offset; };
  std::sort(f.tensors.begin(), f.tensors.end(), [&](const SafeTensor& a, const SafeTensor& b) {
    return offset(a) != offset(b) ? offset(a) < offset(b) : a.bytes < b.bytes;
  });
  std::uint64_t expected = 0;
  const SafeTensor* previous = nullptr;
  for (SafeTensor& t : f.tensors) {
    if (offset(t) != expected)
      throw FormatError(detail::cat("safetensors '", source, "': tensor '", t.name, "' starts at data offset ", offset(t),
                                    offset(t) < expected ? " inside" : " after a gap following",
                                    previous ? " tensor '" + previous->name + "'" : std::string(" the buffer's start"),
                                    ", expected ", expected));
    expected += t.bytes;
    previous = &t;
  }
  const std::uint64_t buffer = f.bytes.size() - data_start;
  if (expected != buffer)
    throw FormatError(detail::cat("safetensors '", source, "': the tensors cover ", expected, " bytes of data, the file holds ",
                                  buffer, " after the header"));
  for (SafeTensor& t : f.tensors)
    t.data = reinterpret_cast<const unsigned char*>(f.bytes.data()) + data_start + offset(t);
}

}  // namespace safetensors_detail

inline SafetensorsFile parse_safetensors(std::string bytes, const std::string& source) {
  using namespace safetensors_detail;
  SafetensorsFile f;
  f.bytes = std::move(bytes);
  if (f.bytes.size() < 8)
    throw FormatError(detail::cat("safetensors '", source, "': ", f.bytes.size(), " bytes, shorter than the 8-byte header length"));
  const std::uint64_t n = read_u64_le(f.bytes);
  if (n > kMaxHeader)
    throw FormatError(detail::cat("safetensors '", source, "': header length ", n, " is above the limit of ", kMaxHeader));
  if (n > f.bytes.size() - 8)
    throw FormatError(detail::cat("safetensors '", source, "': header length ", n, " runs past the end of the file (",
                                  f.bytes.size(), " bytes)"));
  const std::string header = f.bytes.substr(8, static_cast<std::size_t>(n));
  nlohmann::json j;
  try {
    j = parse_header(header, source);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(detail::cat("safetensors '", source, "': the header is not JSON: ", e.what()));
  }
  if (!j.is_object()) throw FormatError(detail::cat("safetensors '", source, "': the header is not a JSON object"));
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "__metadata__") {
      f.tensors.push_back(parse_entry(it.key(), it.value(), source));
      continue;
    }
    if (!it.value().is_object()) throw FormatError(detail::cat("safetensors '", source, "': __metadata__ is not an object"));
    for (auto m = it.value().begin(); m != it.value().end(); ++m) {
      if (!m.value().is_string())
        throw FormatError(detail::cat("safetensors '", source, "': __metadata__ '", m.key(), "' is not a string"));
      f.metadata[m.key()] = m.value().get<std::string>();
    }
  }
  place_tensors(f, 8 + static_cast<std::size_t>(n), source);
  return f;
}

inline SafetensorsFile read_safetensors(const std::string& path) {
  return parse_safetensors(read_input_file(path, "safetensors file", safetensors_detail::kMaxFile), path);
}

inline std::vector<double> SafeTensor::to_doubles() const {
  const auto n = static_cast<std::size_t>(numel());
  std::vector<double> out(n);
  auto load = [&](auto type_tag) {
    using V = decltype(type_tag);
    for (std::size_t i = 0; i < n; ++i) {
      V v;
      std::memcpy(&v, data + i * sizeof(V), sizeof(V));
      out[i] = static_cast<double>(v);
    }
  };
  auto half = [&](bool bf16) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t h = data[2 * i] | static_cast<std::uint32_t>(data[2 * i + 1]) << 8;
      if (bf16) {
        const std::uint32_t bits = h << 16;
        float v;
        std::memcpy(&v, &bits, 4);
        out[i] = v;
        continue;
      }
      const int e = static_cast<int>(h >> 10 & 31), m = static_cast<int>(h & 1023);
      const double sign = h & 0x8000 ? -1.0 : 1.0;
      out[i] = e == 31 ? (m ? std::nan("") : sign * HUGE_VAL)
                       : sign * std::ldexp(e ? 1024 + m : 2 * m, e ? e - 25 : -25);
    }
  };
  if (dtype == "F64") load(double{});
  else if (dtype == "F32") load(float{});
  else if (dtype == "I64") load(std::int64_t{});
  else if (dtype == "I32") load(std::int32_t{});
  else if (dtype == "I16") load(std::int16_t{});
  else if (dtype == "I8") load(std::int8_t{});
  else if (dtype == "U8" || dtype == "BOOL") load(std::uint8_t{});
  else if (dtype == "F16" || dtype == "BF16") half(dtype == "BF16");
  else throw FormatError(detail::cat("safetensors '", source, "': tensor '", name, "' has dtype ", dtype, ", which glia does not read"));
  return out;
}

// A tensor to write: F32 values (from float or double) or I64 values.
struct SafeTensorOut {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> f32;
  std::vector<std::int64_t> i64;  // used when dtype is I64
  bool is_i64 = false;
};

inline std::string serialize_safetensors(const std::vector<SafeTensorOut>& tensors,
                                         const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string data;
  for (const SafeTensorOut& t : tensors) {
    const std::size_t begin = data.size();
    if (t.is_i64)
      data.append(reinterpret_cast<const char*>(t.i64.data()), t.i64.size() * 8);
    else
      data.append(reinterpret_cast<const char*>(t.f32.data()), t.f32.size() * 4);
    if (header.contains(t.name)) throw ValueError(detail::cat("serialize_safetensors: tensor '", t.name, "' given twice"));
    header[t.name] = {{"dtype", t.is_i64 ? "I64" : "F32"}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned, as the reference writer does
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(text.size() >> (8 * i) & 0xFF);
  return out + text + data;
}

inline void write_safetensors(const std::string& path, const std::vector<SafeTensorOut>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

}  // namespace glia
