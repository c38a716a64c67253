// glia/train/checkpoint.hpp: versioned binary checkpoints of named tensors.
//
// File layout (little-endian; docs/checkpoint-format.md has the full description):
//   offset 0   8 bytes  magic "GLIACKPT"
//          8   u32      format version (kCheckpointVersion)
//         12   u32      reserved, 0
//         16   u64      payload size P
//         24   P bytes  payload
//       24+P   u64      FNV-1a 64 hash of the payload
// payload:  u32 M, then M metadata entries (string key, string value);
//           u32 K, then K tensors: string name, u8 dtype (0 f32, 1 f64, 2 u64), u32 rank,
//           rank x i64 dims, then the values
// (string = u32 length + bytes). FNV-1a steps are bijective, so any change to one byte of the
// payload changes the hash: a flipped bit is always caught.
//
// Contract: save_checkpoint writes atomically (core/atomic_file.hpp): an existing file is either
// kept whole or replaced whole. load_checkpoint(path, what) reads the file through
// read_input_file (core/input_file.hpp: a regular file of at most kMaxCheckpointBytes, or an
// error naming the path, `what` it is for and what it is instead; a FIFO never blocks), then
// checks the magic, the version (a newer version is refused by number), the payload size against the
// file size, the hash, and every length while parsing; each failure is a FormatError (IoError
// if unreadable) naming the file and the byte offset. Checkpoint::get(name, tensor) checks
// that the tensor exists and has the tensor's shape and type, and says which does not.
// Model helpers: put_module / get_module store "param/<name>", "buffer/<name>" and
// "counter/<name>" for every parameter, buffer and counter of a module; get_module refuses a
// checkpoint whose tensors do not match the module one for one, naming the first mismatch.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "glia/core/atomic_file.hpp"
#include "glia/core/input_file.hpp"
#include "glia/nn/module.hpp"

namespace glia {

constexpr std::uint32_t kCheckpointVersion = 1;
constexpr char kCheckpointMagic[8] = {'G', 'L', 'I', 'A', 'C', 'K', 'P', 'T'};

// FNV-1a 64 of n bytes; fnv1a64_continue(h, ...) goes on from the hash h of earlier bytes, so
// hashing a sequence piece by piece gives the hash of the whole.
inline std::uint64_t fnv1a64_continue(std::uint64_t h, const char* data, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 0x100000001b3ull;
  }
  return h;
}
inline std::uint64_t fnv1a64(const char* data, std::size_t n) { return fnv1a64_continue(0xcbf29ce484222325ull, data, n); }

enum class DType : std::uint8_t { F32 = 0, F64 = 1, U64 = 2 };
inline std::size_t dtype_size(DType d) { return d == DType::F32 ? 4 : 8; }
inline const char* dtype_name(DType d) { return d == DType::F32 ? "float32" : d == DType::F64 ? "float64" : "uint64"; }
template <typename T>
constexpr DType dtype_of() {
  return std::is_same<T, float>::value ? DType::F32 : std::is_same<T, double>::value ? DType::F64 : DType::U64;
}

class Checkpoint {
 public:
  struct Entry {
    DType dtype;
    Shape shape;
    std::string bytes;
  };

  std::map<std::string, std::string> meta;
  std::string source = "checkpoint";  // file name, for error messages

  template <typename T>
  void put(const std::string& name, const Tensor<T>& t) {
    put_raw(name, dtype_of<T>(), t.shape(), t.data(), static_cast<std::size_t>(t.size()));
  }
  void put_u64(const std::string& name, const std::uint64_t* v, std::size_t n) {
    put_raw(name, DType::U64, Shape{static_cast<Index>(n)}, v, n);
  }
  void put_raw_entry(const std::string& name, DType d, const Shape& s, std::string bytes) {
    tensors_[name] = Entry{d, s, std::move(bytes)};
  }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const std::map<std::string, Entry>& tensors() const { return tensors_; }

  template <typename T>
  void get(const std::string& name, Tensor<T>& t) const {
    const Entry& e = entry(name);
    if (e.dtype != dtype_of<T>())
      throw FormatError(detail::cat(source, ": tensor '", name, "' is ", dtype_name(e.dtype), ", expected ", dtype_name(dtype_of<T>())));
    if (e.shape != t.shape())
      throw ShapeError(detail::cat(source, ": tensor '", name, "' has shape ", e.shape, ", the model expects ", t.shape()));
    std::memcpy(t.data(), e.bytes.data(), e.bytes.size());
  }
  void get_u64(const std::string& name, std::uint64_t* v, std::size_t n) const {
    const Entry& e = entry(name);
    if (e.dtype != DType::U64 || e.shape != Shape{static_cast<Index>(n)})
      throw FormatError(detail::cat(source, ": '", name, "' is ", dtype_name(e.dtype), " ", e.shape, ", expected uint64 [", n, "]"));
    std::memcpy(v, e.bytes.data(), e.bytes.size());
  }
  const std::string& meta_at(const std::string& key) const {
    auto it = meta.find(key);
    if (it == meta.end()) throw FormatError(detail::cat(source, ": no metadata '", key, "'"));
    return it->second;
  }

 private:
  const Entry& entry(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw FormatError(detail::cat(source, ": no tensor '", name, "' in the checkpoint"));
    return it->second;
  }
  void put_raw(const std::string& name, DType d, const Shape& s, const void* data, std::size_t n) {
    tensors_[name] = Entry{d, s, std::string(static_cast<const char*>(data), n * dtype_size(d))};
  }
  std::map<std::string, Entry> tensors_;
};

namespace detail {
struct Writer {
  std::string out;
  template <typename U>
  void pod(U v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(U));
  }
  void str(const std::string& s) {
    pod(static_cast<std::uint32_t>(s.size()));
    out += s;
  }
};

// Bounds-checked reading of the payload; errors name the file and the absolute offset.
struct Reader {
  const std::string& buf;
  std::size_t pos;
  std::size_t end;
  const std::string& file;
  void need(std::size_t n, const char* what) const {
    if (n > end - pos)
      throw FormatError(cat(file, ": truncated or corrupt checkpoint: ", what, " at offset ", pos, " needs ", n,
                            " bytes, only ", end - pos, " remain"));
  }
  template <typename U>
  U pod(const char* what) {
    need(sizeof(U), what);
    U v;
    std::memcpy(&v, buf.data() + pos, sizeof(U));
    pos += sizeof(U);
    return v;
  }
  std::string str(const char* what) {
    const auto n = pod<std::uint32_t>(what);
    need(n, what);
    std::string s = buf.substr(pos, n);
    pos += n;
    return s;
  }
};
}  // namespace detail

inline std::string serialize_checkpoint(const Checkpoint& c) {
  detail::Writer p;
  p.pod(static_cast<std::uint32_t>(c.meta.size()));
  for (const auto& kv : c.meta) {
    p.str(kv.first);
    p.str(kv.second);
  }
  p.pod(static_cast<std::uint32_t>(c.tensors().size()));
  for (const auto& kv : c.tensors()) {
    p.str(kv.first);
    p.pod(static_cast<std::uint8_t>(kv.second.dtype));
    p.pod(static_cast<std::uint32_t>(kv.second.shape.rank()));
    for (int i = 0; i < kv.second.shape.rank(); ++i) p.pod(static_cast<std::int64_t>(kv.second.shape[i]));
    p.out += kv.second.bytes;
  }
  detail::Writer f;
  f.out.append(kCheckpointMagic, 8);
  f.pod(kCheckpointVersion);
  f.pod(std::uint32_t{0});
  f.pod(static_cast<std::uint64_t>(p.out.size()));
  f.out += p.out;
  f.pod(fnv1a64(p.out.data(), p.out.size()));
  return f.out;
}

inline void save_checkpoint(const std::string& path, const Checkpoint& c) { write_file_atomic(path, serialize_checkpoint(c)); }

namespace detail {
// One tensor entry of the payload at r.pos into c: name, dtype, rank, dims, values; every field
// checked, errors naming the file and the entry's offset.
inline void read_tensor_entry(Reader& r, Checkpoint& c) {
  const std::string& file = r.file;
  const std::size_t at = r.pos;
  const std::string name = r.str("tensor name");
  const auto dtype = r.pod<std::uint8_t>("tensor dtype");
  if (dtype > 2) throw FormatError(cat(file, ": tensor '", name, "' (offset ", at, ") has unknown dtype ", int(dtype)));
  const auto rank = r.pod<std::uint32_t>("tensor rank");
  if (rank > 4) throw FormatError(cat(file, ": tensor '", name, "' (offset ", at, ") has rank ", rank, " > 4"));
  Shape s;
  // span: the product of the extents with zeros counted as 1, saturating above 2^40. Bounding
  // it (not just the element count, which one zero makes 0) keeps every partial product of
  // the extents, such as a stride, far inside 64 bits: [2^39,2^39,3,0] holds nothing yet its
  // outer stride would overflow.
  constexpr std::uint64_t kLimit = std::uint64_t{1} << 40;
  std::uint64_t span = 1;
  bool empty = false;
  for (std::uint32_t d = 0; d < rank; ++d) {
    const auto dim = r.pod<std::int64_t>("tensor dims");
    if (dim < 0 || dim > static_cast<std::int64_t>(kLimit))
      throw FormatError(cat(file, ": tensor '", name, "' (offset ", at, ") has invalid dimension ", dim));
    s.push(static_cast<Index>(dim));
    const auto u = std::max<std::uint64_t>(static_cast<std::uint64_t>(dim), 1);
    empty = empty || dim == 0;
    span = span > kLimit / u ? kLimit + 1 : span * u;
  }
  if (span > kLimit) throw FormatError(cat(file, ": tensor '", name, "' is impossibly large"));
  const std::uint64_t count = empty ? 0 : span;
  const std::uint64_t bytes = count * dtype_size(static_cast<DType>(dtype));
  r.need(static_cast<std::size_t>(bytes), "tensor values");
  c.put_raw_entry(name, static_cast<DType>(dtype), s, r.buf.substr(r.pos, static_cast<std::size_t>(bytes)));
  r.pos += static_cast<std::size_t>(bytes);
}
}  // namespace detail

inline Checkpoint parse_checkpoint(const std::string& buf, const std::string& file) {
  using detail::cat;
  if (buf.size() < 32)
    throw FormatError(cat(file, ": not a glia checkpoint: ", buf.size(), " bytes, shorter than the 32-byte header and hash"));
  if (std::memcmp(buf.data(), kCheckpointMagic, 8) != 0)
    throw FormatError(cat(file, ": not a glia checkpoint (offset 0: magic is not \"GLIACKPT\")"));
  detail::Reader h{buf, 8, buf.size(), file};
  const auto version = h.pod<std::uint32_t>("version");
  if (version != kCheckpointVersion)
    throw FormatError(cat(file, ": checkpoint format version ", version, " (offset 8) is not supported; this glia reads version ",
                          kCheckpointVersion, version > kCheckpointVersion ? " (the file is from a newer glia)" : ""));
  if (h.pod<std::uint32_t>("reserved") != 0)
    throw FormatError(cat(file, ": corrupt checkpoint: the reserved header field (offset 12) is not 0"));
  const auto size = h.pod<std::uint64_t>("payload size");
  if (size != buf.size() - 32)
    throw FormatError(cat(file, ": truncated or corrupt checkpoint: the header (offset 16) promises a ", size,
                          "-byte payload, the file holds ", buf.size() - 32 < buf.size() ? buf.size() - 32 : 0, " bytes"));
  std::uint64_t stored;
  std::memcpy(&stored, buf.data() + 24 + size, 8);
  if (stored != fnv1a64(buf.data() + 24, size))
    throw FormatError(cat(file, ": corrupt checkpoint: the payload hash (offset ", 24 + size,
                          ") does not match its contents (bytes 24..", 24 + size, " were changed)"));
  Checkpoint c;
  c.source = file;
  detail::Reader r{buf, 24, 24 + size, file};
  const auto m = r.pod<std::uint32_t>("metadata count");
  for (std::uint32_t i = 0; i < m; ++i) {
    std::string k = r.str("metadata key");
    c.meta[k] = r.str("metadata value");
  }
  const auto k = r.pod<std::uint32_t>("tensor count");
  for (std::uint32_t i = 0; i < k; ++i) detail::read_tensor_entry(r, c);
  if (r.pos != r.end) throw FormatError(cat(file, ": corrupt checkpoint: ", r.end - r.pos, " unexpected bytes at offset ", r.pos));
  return c;
}

// The largest checkpoint load_checkpoint reads (16 GiB): far above any model glia trains on a
// CPU, low enough that a wrong path (a disk image, /dev/zero) is refused by its size.
constexpr std::uint64_t kMaxCheckpointBytes = std::uint64_t{1} << 34;

inline Checkpoint load_checkpoint(const std::string& path, const char* what = "checkpoint") {
  return parse_checkpoint(read_input_file(path, what, kMaxCheckpointBytes), path);
}

template <typename T>
void put_module(Checkpoint& c, Module<T>& m) {
  for (auto& p : parameters(m)) c.put("param/" + p.name, p.param->value);
  for (auto& b : buffers(m)) c.put("buffer/" + b.name, *b.tensor);
  for (auto& k : counters(m)) c.put_u64("counter/" + k.first, k.second, 1);
}

// Checks every tensor first and copies only when all of them match, so a failed load leaves
// the module untouched.
template <typename T>
void get_module(const Checkpoint& c, Module<T>& m) {
  std::vector<std::pair<std::string, Tensor<T>*>> tensors;
  for (auto& p : parameters(m)) tensors.emplace_back("param/" + p.name, &p.param->value);
  for (auto& b : buffers(m)) tensors.emplace_back("buffer/" + b.name, b.tensor);
  const auto ctrs = counters(m);
  std::set<std::string> known;
  for (auto& t : tensors) {
    Tensor<T> probe(t.second->shape());
    c.get(t.first, probe);  // throws, naming the tensor, on a missing name, shape or type
    known.insert(t.first);
  }
  for (auto& k : ctrs) {
    std::uint64_t v;
    c.get_u64("counter/" + k.first, &v, 1);
    known.insert("counter/" + k.first);
  }
  for (const auto& kv : c.tensors()) {
    const std::string& n = kv.first;
    const bool model_part = n.rfind("param/", 0) == 0 || n.rfind("buffer/", 0) == 0 || n.rfind("counter/", 0) == 0;
    if (model_part && !known.count(n))
      throw FormatError(detail::cat(c.source, ": tensor '", n, "' in the checkpoint is not part of this model"));
  }
  for (auto& t : tensors) c.get(t.first, *t.second);
  for (auto& k : ctrs) c.get_u64("counter/" + k.first, k.second, 1);
}

}  // namespace glia
