// glia/report/json_io.hpp: the report's JSON files through nlohmann-json (Debian's
// nlohmann-json3-dev), with errors that name the file and the key.
//
// Contract:
//   Json            nlohmann::ordered_json: objects keep their keys in the order written.
//   parse_json(text, source)  one JSON value (nlohmann's strict RFC 8259 parser: no comments, no
//                   trailing commas, valid UTF-8 only, no key twice in an object);
//                   FormatError "<source>: invalid JSON at offset N: parse error
//                   at line L, column C: <what>" (N counts bytes from 0; a number beyond a
//                   double's range has no offset).
//   read_json_file(path, what)  reads path through read_input_file (a regular file of at most
//                   256 MiB, else IoError/FormatError naming it and `what` it is for), then
//                   parse_json.
//   dump_json(v)    pretty text (indent 2). A NaN or infinite double is written as null; bytes
//                   that are not valid UTF-8 are written as U+FFFD, so the text is always JSON.
//   JsonReader(source)  typed reading of members: get(v, path, out) for std::string, double (null
//                   reads as NaN), int, std::int64_t and std::uint64_t (integers only, range
//                   checked); member(obj, key, path) finds a key. Every error is a FormatError
//                   naming the source and the key path: "runs/bn/metrics.json: missing key
//                   'epochs[2].test_loss'", "...: key 'threads': expected an integer, got string".
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "glia/core/error.hpp"
#include "glia/core/input_file.hpp"
#include "glia/core/parse.hpp"
#include "glia/core/utf8.hpp"

namespace glia {

using Json = nlohmann::ordered_json;

namespace detail {
// nlohmann's message without its "[json.exception.parse_error.101] " tag, and printable: it
// quotes the bytes it last read, which may be control characters or not UTF-8.
inline std::string json_message(const Json::exception& e) {
  std::string what = e.what();
  const std::size_t tag_end = what.find("] ");
  if (what.rfind("[json.exception", 0) == 0 && tag_end != std::string::npos) what.erase(0, tag_end + 2);
  return printable_name(what, 400);
}
}  // namespace detail

inline Json parse_json(const std::string& text, const std::string& source) {
  // A key twice in one object would silently keep one value: refused, as a strict reader must.
  std::vector<std::set<std::string>> open_objects;
  const Json::parser_callback_t no_duplicate_keys = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == Json::parse_event_t::object_end) open_objects.pop_back();
    if (event == Json::parse_event_t::key && !open_objects.back().insert(parsed.get<std::string>()).second)
      throw FormatError(detail::cat(source, ": invalid JSON: duplicate key ", quoted(parsed.get<std::string>())));
    return true;
  };
  try {
    return Json::parse(text, no_duplicate_keys);
  } catch (const Json::parse_error& e) {
    throw FormatError(detail::cat(source, ": invalid JSON at offset ", e.byte > 0 ? e.byte - 1 : 0, ": ", detail::json_message(e)));
  } catch (const Json::exception& e) {  // e.g. out_of_range 406: a number beyond a double's range
    throw FormatError(detail::cat(source, ": invalid JSON: ", detail::json_message(e)));
  }
}

inline Json read_json_file(const std::string& path, const char* what) {
  return parse_json(read_input_file(path, what, std::uint64_t{1} << 28), path);
}

inline std::string dump_json(const Json& v) { return v.dump(2, ' ', false, Json::error_handler_t::replace); }

class JsonReader {
 public:
  explicit JsonReader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw FormatError(detail::cat(source_, ": key '", path.empty() ? "<top>" : path, "': ", what));
  }
  const Json& member(const Json& obj, const std::string& key, const std::string& path) const {
    if (!obj.is_object()) fail(path, detail::cat("expected an object, got ", obj.type_name()));
    const auto it = obj.find(key);
    if (it == obj.end()) throw FormatError(detail::cat(source_, ": missing key '", sub(path, key), "'"));
    return *it;
  }
  const Json& array(const Json& v, const std::string& path) const {
    if (!v.is_array()) fail(path, detail::cat("expected an array, got ", v.type_name()));
    return v;
  }
  const Json& object(const Json& v, const std::string& path) const {
    if (!v.is_object()) fail(path, detail::cat("expected an object, got ", v.type_name()));
    return v;
  }

  void get(const Json& v, const std::string& path, std::string& out) const {
    if (!v.is_string()) fail(path, detail::cat("expected a string, got ", v.type_name()));
    out = v.get_ref<const std::string&>();
  }
  void get(const Json& v, const std::string& path, double& out) const {
    if (v.is_null()) {
      out = std::numeric_limits<double>::quiet_NaN();  // how dump_json writes NaN and +-Inf
      return;
    }
    if (!v.is_number()) fail(path, detail::cat("expected a number, got ", v.type_name()));
    out = v.get<double>();
  }
  template <typename I, std::enable_if_t<std::is_integral_v<I>, int> = 0>
  void get(const Json& v, const std::string& path, I& out) const {
    if (!v.is_number_integer()) fail(path, detail::cat("expected an integer, got ", v.is_number() ? "a fraction" : v.type_name()));
    constexpr auto lo = static_cast<std::int64_t>(std::numeric_limits<I>::min());
    constexpr auto hi = static_cast<std::uint64_t>(std::numeric_limits<I>::max());
    if (v.is_number_unsigned()) {  // nlohmann reads every non-negative integer as unsigned
      const auto u = v.get<std::uint64_t>();
      if (u > hi) fail(path, detail::cat("out of range: ", v.dump()));
      out = static_cast<I>(u);
      return;
    }
    const auto i = v.get<std::int64_t>();
    if (i < lo || (i > 0 && static_cast<std::uint64_t>(i) > hi)) fail(path, detail::cat("out of range: ", v.dump()));
    out = static_cast<I>(i);
  }
  // obj[key] into out, the key path being path.key.
  template <typename V>
  void field(const Json& obj, const std::string& key, const std::string& path, V& out) const {
    get(member(obj, key, path), sub(path, key), out);
  }

  static std::string sub(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }
  static std::string index(const std::string& path, std::size_t i) { return detail::cat(path, "[", i, "]"); }

 private:
  std::string source_;
};

}  // namespace glia
