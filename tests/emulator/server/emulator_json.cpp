#include "emulator_json.hpp"

#include <simdjson.h>

#include <cstdio>

namespace azid_emulator::detail {
namespace {

// Parses `json` into the calling thread's parser (simdjson parsers are not thread-safe, and the
// pool may verify tokens on several threads at once).
bool parse_object(std::string_view json, simdjson::dom::object& out) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS) return false;
  return doc.get_object().get(out) == simdjson::SUCCESS;
}

}  // namespace

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (const char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x",
                        static_cast<unsigned>(static_cast<unsigned char>(ch)));
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

void JsonObject::key(std::string_view k) {
  if (body_.size() > 1) body_ += ',';
  body_ += json_quote(k);
  body_ += ':';
}

JsonObject& JsonObject::str(std::string_view k, std::string_view value) {
  key(k);
  body_ += json_quote(value);
  return *this;
}

JsonObject& JsonObject::num(std::string_view k, long long value) {
  key(k);
  body_ += std::to_string(value);
  return *this;
}

JsonObject& JsonObject::boolean(std::string_view k, bool value) {
  key(k);
  body_ += value ? "true" : "false";
  return *this;
}

JsonObject& JsonObject::raw(std::string_view k, std::string_view json) {
  key(k);
  body_ += json;
  return *this;
}

std::optional<std::string> json_string_member(std::string_view json, std::string_view key) {
  simdjson::dom::object obj;
  std::string_view value;
  if (!parse_object(json, obj) || obj.at_key(key).get_string().get(value) != simdjson::SUCCESS)
    return std::nullopt;
  return std::string(value);
}

std::optional<long long> json_int_member(std::string_view json, std::string_view key) {
  simdjson::dom::object obj;
  if (!parse_object(json, obj)) return std::nullopt;
  simdjson::dom::element element;
  if (obj.at_key(key).get(element) != simdjson::SUCCESS) return std::nullopt;
  int64_t i = 0;
  if (element.get_int64().get(i) == simdjson::SUCCESS) return i;
  // NumericDate may legally be a non-integer number; truncate.
  double d = 0;
  if (element.get_double().get(d) == simdjson::SUCCESS && d > -9.2e18 && d < 9.2e18)
    return static_cast<long long>(d);
  return std::nullopt;
}

std::optional<std::vector<std::string>> json_strings_member(std::string_view json,
                                                            std::string_view key) {
  simdjson::dom::object obj;
  if (!parse_object(json, obj)) return std::nullopt;
  simdjson::dom::element element;
  if (obj.at_key(key).get(element) != simdjson::SUCCESS) return std::nullopt;
  std::string_view s;
  if (element.get_string().get(s) == simdjson::SUCCESS)
    return std::vector<std::string>{std::string(s)};
  simdjson::dom::array array;
  if (element.get_array().get(array) != simdjson::SUCCESS) return std::nullopt;
  std::vector<std::string> out;
  for (simdjson::dom::element item : array) {
    if (item.get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
    out.emplace_back(s);
  }
  return out;
}

bool json_is_object(std::string_view json) {
  simdjson::dom::object obj;
  return parse_object(json, obj);
}

}  // namespace azid_emulator::detail
