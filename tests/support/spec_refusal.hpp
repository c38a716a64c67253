// tests/support/spec_refusal.hpp: what model_from_json_text says of a one-layer spec.
// spec_refusal(input, layer) builds {"input": input, "layers": [layer]} and returns the
// FormatError's message, or "accepted" when the spec builds.
#pragma once

#include <glia/model_io/model_spec.hpp>

#include <string>

namespace glia::testing {

inline std::string spec_refusal(const std::string& input, const std::string& layer) {
  Rng r(1);
  try {
    model_from_json_text<float>(R"({"input": )" + input + R"(, "layers": [)" + layer + "]}", "t.json", r);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace glia::testing
