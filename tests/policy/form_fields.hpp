// Test helper: read a field of an application/x-www-form-urlencoded body, and decode JWT parts.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "azid/detail/base64.hpp"

namespace azid_test {

/// The percent-decoded value of `key` in a form body, or nullopt when absent.
inline std::optional<std::string> form_value(std::string_view body, std::string_view key) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      std::string out;
      const std::string_view v =
          eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '%' && i + 2 < v.size() && hex(v[i + 1]) >= 0 && hex(v[i + 2]) >= 0) {
          out.push_back(static_cast<char>(hex(v[i + 1]) * 16 + hex(v[i + 2])));
          i += 2;
        } else {
          out.push_back(v[i] == '+' ? ' ' : v[i]);
        }
      }
      return out;
    }
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

/// The decoded header (first part) of a JWT, or "" when it is not one.
inline std::string jwt_header(std::string_view jwt) {
  const auto dot = jwt.find('.');
  if (dot == std::string_view::npos) return {};
  return azid::detail::base64_decode(jwt.substr(0, dot)).value_or("");
}

}  // namespace azid_test
