// Internal: just enough JSON for the emulator. Writing is done by hand (we control the shapes);
// reading untrusted JSON (token headers and payloads presented back to us) goes through simdjson.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace azid_emulator::detail {

/// `s` as a quoted JSON string literal.
std::string json_quote(std::string_view s);

/// Builds one flat JSON object, members in insertion order.
class JsonObject {
 public:
  JsonObject& str(std::string_view key, std::string_view value);
  JsonObject& num(std::string_view key, long long value);
  JsonObject& boolean(std::string_view key, bool value);
  JsonObject& raw(std::string_view key, std::string_view json);  // already-serialised value
  std::string done() const { return body_ + "}"; }

 private:
  void key(std::string_view k);
  std::string body_ = "{";
};

/// Reads a top-level member of a JSON object. nullopt when the text is not a JSON object, the
/// member is absent, or it has another type.
std::optional<std::string> json_string_member(std::string_view json, std::string_view key);
std::optional<long long> json_int_member(std::string_view json, std::string_view key);
/// A string member, or each string of an array member ("aud" may be either in JWTs).
std::optional<std::vector<std::string>> json_strings_member(std::string_view json,
                                                            std::string_view key);
bool json_is_object(std::string_view json);

}  // namespace azid_emulator::detail
