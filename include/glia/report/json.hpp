// glia/report/json.hpp: a minimal JSON value, writer and strict parser.
//
// Contract:
//   json::Value     null, bool, number, string, array or object. Objects keep their keys in
//                   insertion order (a std::vector of pairs; lookups are linear, which is fine
//                   for records of a few dozen keys). Numbers remember whether they were an
//                   integer (int64/uint64, kept exactly: seeds, counts) or a double.
//   json::dump(v)   pretty text (indent 2; arrays of scalars on one line) or, with indent 0, one
//                   line. Doubles are written with the shortest digits that read back to the
//                   same double (textfmt::shortest); NaN and +-Inf are written as null. Strings are
//                   written as UTF-8 with ", \ and control characters escaped; a byte that is
//                   not valid UTF-8 is written as U+FFFD (so the output is always valid JSON).
//   json::parse(t)  strict RFC 8259: one value, optional surrounding whitespace, no comments,
//                   no trailing commas, no leading zeros, no NaN, valid UTF-8 only, no
//                   duplicate keys, nesting at most 256 deep. Throws FormatError naming the
//                   source, the byte offset, and the line and column of the fault.
//   json::parse_file(path)  reads and parses a file: IoError if it cannot be read, FormatError
//                   naming the file otherwise.
//   Accessors (as_bool, as_string, at, ...) throw FormatError when the value has another type
//   or a key is missing; callers that know the file name wrap them (see run_record.hpp).
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/report/text_format.hpp"
#include "glia/core/input_file.hpp"

namespace glia {
namespace json {

enum class Type { Null, Bool, Number, String, Array, Object };

inline const char* type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "bool";
    case Type::Number: return "number";
    case Type::String: return "string";
    case Type::Array: return "array";
    case Type::Object: return "object";
  }
  return "?";
}

class Value {
 public:
  using Array = std::vector<Value>;
  using Object = std::vector<std::pair<std::string, Value>>;

  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : type_(Type::Bool), bool_(b) {}
  Value(double d) : type_(Type::Number), kind_(Kind::Double), double_(d) {}
  Value(float f) : Value(static_cast<double>(f)) {}
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Value(T v) : type_(Type::Number) {
    if constexpr (std::is_signed_v<T>) {
      kind_ = Kind::Int;
      int_ = static_cast<std::int64_t>(v);
    } else if (static_cast<std::uint64_t>(v) <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      kind_ = Kind::Int;
      int_ = static_cast<std::int64_t>(v);
    } else {
      kind_ = Kind::UInt;
      uint_ = static_cast<std::uint64_t>(v);
    }
  }
  Value(const char* s) : type_(Type::String), string_(s) {}
  Value(std::string s) : type_(Type::String), string_(std::move(s)) {}
  Value(Array a) : type_(Type::Array), array_(std::move(a)) {}
  Value(Object o) : type_(Type::Object), object_(std::move(o)) {}

  static Value array() { return Value(Array{}); }
  static Value object() { return Value(Object{}); }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_integer() const { return type_ == Type::Number && kind_ != Kind::Double; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  bool as_bool() const {
    expect(Type::Bool);
    return bool_;
  }
  double as_double() const {
    expect(Type::Number);
    switch (kind_) {
      case Kind::Int: return static_cast<double>(int_);
      case Kind::UInt: return static_cast<double>(uint_);
      case Kind::Double: break;
    }
    return double_;
  }
  // Exact integers only: 3 and 3.0 are fine, 3.5 and 1e300 throw.
  std::int64_t as_int64() const {
    expect(Type::Number);
    if (kind_ == Kind::Int) return int_;
    if (kind_ == Kind::Double && std::floor(double_) == double_ && double_ >= -9.2233720368547758e18 &&
        double_ < 9.2233720368547758e18)
      return static_cast<std::int64_t>(double_);
    throw FormatError(glia::detail::cat("JSON: expected an integer that fits int64, got ", describe()));
  }
  std::uint64_t as_uint64() const {
    expect(Type::Number);
    if (kind_ == Kind::UInt) return uint_;
    if (kind_ == Kind::Int && int_ >= 0) return static_cast<std::uint64_t>(int_);
    if (kind_ == Kind::Double && std::floor(double_) == double_ && double_ >= 0 && double_ < 1.8446744073709552e19)
      return static_cast<std::uint64_t>(double_);
    throw FormatError(glia::detail::cat("JSON: expected an integer that fits uint64, got ", describe()));
  }
  const std::string& as_string() const {
    expect(Type::String);
    return string_;
  }
  const Array& as_array() const {
    expect(Type::Array);
    return array_;
  }
  Array& as_array() {
    expect(Type::Array);
    return array_;
  }
  const Object& as_object() const {
    expect(Type::Object);
    return object_;
  }
  Object& as_object() {
    expect(Type::Object);
    return object_;
  }

  // Elements of an array, or members of an object.
  std::size_t size() const {
    if (type_ == Type::Array) return array_.size();
    if (type_ == Type::Object) return object_.size();
    throw FormatError(glia::detail::cat("JSON: size() of a ", type_name(type_)));
  }
  const Value& operator[](std::size_t i) const {
    const Array& a = as_array();
    if (i >= a.size()) throw FormatError(glia::detail::cat("JSON: index ", i, " out of range (size ", a.size(), ")"));
    return a[i];
  }
  void push_back(Value v) {
    if (type_ == Type::Null) type_ = Type::Array;
    as_array().push_back(std::move(v));
  }

  // Object members. find() returns nullptr for a missing key; at() throws; set() replaces the
  // value of an existing key in place or appends a new key (a null becomes an object).
  const Value* find(const std::string& key) const {
    for (const auto& kv : as_object())
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  bool contains(const std::string& key) const { return find(key) != nullptr; }
  const Value& at(const std::string& key) const {
    if (const Value* v = find(key)) return *v;
    throw FormatError(glia::detail::cat("JSON: missing key '", key, "'"));
  }
  Value& set(const std::string& key, Value v) {
    if (type_ == Type::Null) type_ = Type::Object;
    for (auto& kv : as_object())
      if (kv.first == key) return kv.second = std::move(v);
    object_.emplace_back(key, std::move(v));
    return object_.back().second;
  }

  // Structural equality; numbers compare by value (3 == 3.0), NaN != NaN, key order matters.
  friend bool operator==(const Value& a, const Value& b) {
    if (a.type_ != b.type_) return false;
    switch (a.type_) {
      case Type::Null: return true;
      case Type::Bool: return a.bool_ == b.bool_;
      case Type::Number:
        if (a.kind_ != Kind::Double && b.kind_ != Kind::Double) {
          if (a.kind_ != b.kind_) return false;  // an Int is never > int64 max, a UInt always is
          return a.kind_ == Kind::Int ? a.int_ == b.int_ : a.uint_ == b.uint_;
        }
        return a.as_double() == b.as_double();
      case Type::String: return a.string_ == b.string_;
      case Type::Array: return a.array_ == b.array_;
      case Type::Object: return a.object_ == b.object_;
    }
    return false;
  }
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

  // The number's text for dump(): exact integers, shortest round-trip doubles
  // (textfmt::shortest, which checks std::to_chars' result), null for NaN/Inf.
  std::string number_text() const {
    expect(Type::Number);
    if (kind_ == Kind::Int) return std::to_string(int_);
    if (kind_ == Kind::UInt) return std::to_string(uint_);
    if (!std::isfinite(double_)) return "null";
    return textfmt::shortest(double_);
  }

 private:
  enum class Kind : std::uint8_t { Int, UInt, Double };

  void expect(Type t) const {
    if (type_ != t) throw FormatError(glia::detail::cat("JSON: expected ", type_name(t), ", got ", describe()));
  }
  std::string describe() const {
    if (type_ == Type::Number) return "number " + number_text();
    if (type_ == Type::String) return "string \"" + (string_.size() > 40 ? string_.substr(0, 40) + "..." : string_) + "\"";
    return type_name(type_);
  }

  Type type_ = Type::Null;
  Kind kind_ = Kind::Int;
  bool bool_ = false;
  std::int64_t int_ = 0;
  std::uint64_t uint_ = 0;
  double double_ = 0.0;
  std::string string_;
  Array array_;
  Object object_;
};

using Array = Value::Array;
using Object = Value::Object;

namespace detail {

// Length of the valid UTF-8 sequence starting at s[i] (1..4), or 0 if it is not valid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
using textfmt::utf8_sequence_length;

inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

inline void write_string(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else if (c < 0x80) {
          out += static_cast<char>(c);
        } else if (const std::size_t n = utf8_sequence_length(s, i)) {
          out.append(s, i, n);
          i += n;
          continue;
        } else {
          out += "\xEF\xBF\xBD";  // U+FFFD for a byte that is not UTF-8
        }
    }
    ++i;
  }
  out += '"';
}

inline bool is_scalar(const Value& v) { return !v.is_array() && !v.is_object(); }

inline void write_value(std::string& out, const Value& v, int indent, int depth) {
  const auto newline = [&](int d) {
    if (indent <= 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(d), ' ');
  };
  switch (v.type()) {
    case Type::Null: out += "null"; return;
    case Type::Bool: out += v.as_bool() ? "true" : "false"; return;
    case Type::Number: out += v.number_text(); return;
    case Type::String: write_string(out, v.as_string()); return;
    case Type::Array: {
      const auto& a = v.as_array();
      if (a.empty()) {
        out += "[]";
        return;
      }
      bool flat = true;  // arrays of scalars stay on one line even when pretty
      for (const auto& e : a) flat = flat && is_scalar(e);
      out += '[';
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i > 0) out += (flat && indent > 0) ? ", " : ",";
        if (!flat) newline(depth + 1);
        write_value(out, a[i], indent, depth + 1);
      }
      if (!flat) newline(depth);
      out += ']';
      return;
    }
    case Type::Object: {
      const auto& o = v.as_object();
      if (o.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      for (std::size_t i = 0; i < o.size(); ++i) {
        if (i > 0) out += ',';
        newline(depth + 1);
        write_string(out, o[i].first);
        out += indent > 0 ? ": " : ":";
        write_value(out, o[i].second, indent, depth + 1);
      }
      newline(depth);
      out += '}';
      return;
    }
  }
}

class Parser {
 public:
  Parser(const std::string& text, const std::string& source) : s_(text), source_(source) {}

  Value parse_document() {
    skip_ws();
    Value v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 256;

  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(std::size_t at, const std::string& what) const {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < at && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw FormatError(glia::detail::cat(source_, ": invalid JSON at offset ", at, " (line ", line, ", column ", col,
                                        "): ", what));
  }
  std::string found() const {
    if (pos_ >= s_.size()) return "end of input";
    const unsigned char c = static_cast<unsigned char>(s_[pos_]);
    if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
    return glia::detail::cat("byte 0x", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
  }

  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool consume(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect_word(const char* word) {
    const std::size_t n = std::strlen(word);
    if (s_.compare(pos_, n, word) != 0) fail(glia::detail::cat("expected '", word, "'"));
    pos_ += n;
  }

  Value parse_value(int depth) {
    if (pos_ >= s_.size()) fail("expected a value, found end of input");
    switch (s_[pos_]) {
      case '{': return parse_object(depth);
      case '[': return parse_array(depth);
      case '"': return Value(parse_string());
      case 't': expect_word("true"); return Value(true);
      case 'f': expect_word("false"); return Value(false);
      case 'n': expect_word("null"); return Value();
      default:
        if (s_[pos_] == '-' || (s_[pos_] >= '0' && s_[pos_] <= '9')) return parse_number();
        fail("expected a value, found " + found());
    }
  }

  Value parse_array(int depth) {
    if (depth >= kMaxDepth) fail("nesting deeper than 256");
    ++pos_;  // '['
    Value v = Value::array();
    skip_ws();
    if (consume(']')) return v;
    for (;;) {
      skip_ws();
      v.push_back(parse_value(depth + 1));
      skip_ws();
      if (consume(']')) return v;
      if (!consume(',')) fail("expected ',' or ']' in array, found " + found());
    }
  }

  Value parse_object(int depth) {
    if (depth >= kMaxDepth) fail("nesting deeper than 256");
    ++pos_;  // '{'
    Value v = Value::object();
    skip_ws();
    if (consume('}')) return v;
    for (;;) {
      skip_ws();
      const std::size_t key_at = pos_;
      if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a string key, found " + found());
      std::string key = parse_string();
      if (v.contains(key)) fail_at(key_at, "duplicate key \"" + key + "\"");
      skip_ws();
      if (!consume(':')) fail("expected ':' after key, found " + found());
      skip_ws();
      v.set(key, parse_value(depth + 1));
      skip_ws();
      if (consume('}')) return v;
      if (!consume(',')) fail("expected ',' or '}' in object, found " + found());
    }
  }

  unsigned parse_hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[pos_];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else fail("expected a hex digit in \\u escape, found " + found());
      ++pos_;
    }
    return v;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("control character in string (must be escaped)");
      if (c >= 0x80) {
        const std::size_t n = utf8_sequence_length(s_, pos_);
        if (n == 0) fail("invalid UTF-8 in string");
        out.append(s_, pos_, n);
        pos_ += n;
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      const std::size_t escape_at = pos_;
      ++pos_;
      if (pos_ >= s_.size()) fail("unterminated string");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = parse_hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at(escape_at, "lone low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s_.compare(pos_, 2, "\\u") != 0) fail_at(escape_at, "high surrogate not followed by a low surrogate");
            pos_ += 2;
            const std::uint32_t lo = parse_hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail_at(escape_at, "high surrogate not followed by a low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail_at(escape_at, std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  Value parse_number() {
    const std::size_t start = pos_;
    const auto digit = [&] { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; };
    consume('-');
    if (!digit()) fail("expected a digit");
    if (s_[pos_] == '0') {
      ++pos_;
      if (digit()) fail("leading zero in number");
    } else {
      while (digit()) ++pos_;
    }
    bool integer = true;
    if (consume('.')) {
      integer = false;
      if (!digit()) fail("expected a digit after '.'");
      while (digit()) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integer = false;
      ++pos_;
      if (!consume('+')) consume('-');
      if (!digit()) fail("expected a digit in exponent");
      while (digit()) ++pos_;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    const bool negative_zero = integer && last - first == 2 && first[0] == '-' && first[1] == '0';
    if (integer && !negative_zero) {
      std::int64_t i = 0;
      if (auto r = std::from_chars(first, last, i); r.ec == std::errc() && r.ptr == last) return Value(i);
      std::uint64_t u = 0;
      if (auto r = std::from_chars(first, last, u); r.ec == std::errc() && r.ptr == last) return Value(u);
      // too large for 64 bits: fall through to double
    }
    double d = 0;
    const auto r = std::from_chars(first, last, d);
    if (r.ec != std::errc() || r.ptr != last) fail_at(start, "number out of range for a double");
    return Value(d);
  }

  const std::string& s_;
  const std::string& source_;
  std::size_t pos_ = 0;
};

}  // namespace detail

// Writes v as JSON text. indent > 0: pretty, that many spaces per level; indent 0: one line.
inline std::string dump(const Value& v, int indent = 2) {
  std::string out;
  detail::write_value(out, v, indent, 0);
  return out;
}

// Parses exactly one JSON value; `source` names the text in error messages (a file name).
inline Value parse(const std::string& text, const std::string& source = "<json>") {
  return detail::Parser(text, source).parse_document();
}

// Reads a whole file through read_input_file (core/input_file.hpp): a regular file of at most
// 256 MiB, else an error naming the file and what it is instead (a FIFO never blocks).
inline std::string read_text_file(const std::string& path, const char* what = "file") {
  return read_input_file(path, what, std::uint64_t{1} << 28);
}

inline Value parse_file(const std::string& path) { return parse(read_text_file(path), path); }

}  // namespace json
}  // namespace glia
