// azid/detail/validate.hpp: argument checks shared by credentials (tenant, scope, authority).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "azid/config.hpp"
#include "azid/detail/redact.hpp"

AZID_BEGIN
namespace detail {

inline constexpr std::string_view invalid_tenant_message =
    "Invalid tenant ID provided. You can locate your tenant ID by following the instructions here: "
    "https://learn.microsoft.com/partner-center/find-ids-and-domain-names";
inline constexpr std::string_view invalid_scope_message =
    "An invalid scope was provided. Only alphanumeric characters, '.', '-', '_', ':', and '/' are "
    "allowed.";
inline constexpr std::string_view no_scope_message = "\"get_token\" requires at least one scope";

[[nodiscard]] constexpr bool is_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/// Tenant ids: letters, digits, '-' and '.' (spec README R5); they go into URLs and command lines.
/// A tenant is a GUID or a domain name, so no label is empty: `.`, `..`, `a..b` or a leading or
/// trailing dot would make a path segment that walks the authority's path. Nor does it start with
/// '-' (no GUID or DNS label does), which a developer tool would read as an option of its own.
[[nodiscard]] constexpr bool valid_tenant_id(std::string_view t) noexcept {
  if (t.empty() || t.front() == '-') return false;
  char previous = '.';  // no leading dot
  for (char c : t) {
    if (!is_alnum(c) && c != '-' && c != '.') return false;
    if (c == '.' && previous == '.') return false;
    previous = c;
  }
  return previous != '.';
}

/// Scopes: letters, digits and `_ - . : /` (spec README R5), not starting with '-' (a scope is a
/// URI or an app id; `-h` would reach `az` or `azd` as an option, not as the value of one).
/// One load per character: this check runs on every developer-tool cache hit.
inline constexpr struct ScopeChars {
  bool ok[256] = {};
  constexpr ScopeChars() {
    for (int c = 0; c < 256; ++c)
      ok[c] = is_alnum(static_cast<char>(c)) || c == '_' || c == '-' || c == '.' || c == ':' ||
              c == '/';
  }
} scope_chars{};

[[nodiscard]] constexpr bool valid_scope(std::string_view s) noexcept {
  if (s.empty() || s.front() == '-') return false;
  for (char c : s)
    if (!scope_chars.ok[static_cast<unsigned char>(c)]) return false;
  return true;
}

/// The message for an authority that is not acceptable. The value is quoted without what may be
/// secret in a URL (user information, query, fragment) and without control characters.
[[nodiscard]] inline std::string invalid_authority_message(std::string_view a) {
  return "'" + quoted_url(a) +
         "' is an invalid authority. The value must be a TLS protected (https) URL.";
}

/// Normalises an authority host (spec README R3): adds `https://` when there is no scheme,
/// strips trailing spaces and slashes, and refuses any scheme but https. Returns nullopt and sets
/// `why` when the value is not acceptable.
[[nodiscard]] inline std::optional<std::string> normalize_authority(std::string_view a,
                                                                    std::string& why) {
  while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.remove_prefix(1);
  while (!a.empty() && (a.back() == ' ' || a.back() == '/' || a.back() == '\t')) a.remove_suffix(1);
  if (a.empty()) {
    why = "The authority host is empty.";
    return std::nullopt;
  }
  std::string out;
  const auto sep = a.find("://");
  if (sep == std::string_view::npos) {
    out = "https://";
    out.append(a);
  } else {
    std::string scheme(a.substr(0, sep));
    for (auto& c : scheme)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (scheme != "https") {
      why = invalid_authority_message(a);
      return std::nullopt;
    }
    out = "https://";
    out.append(a.substr(sep + 3));
  }
  // Host part only (a path is allowed for Azure Stack style authorities); no spaces, no query.
  for (char c : std::string_view(out).substr(8)) {
    if (c == ' ' || c == '?' || c == '#' || c == '@' || static_cast<unsigned char>(c) < 0x21 ||
        static_cast<unsigned char>(c) > 0x7e) {
      why = invalid_authority_message(a);
      return std::nullopt;
    }
  }
  if (out.size() == 8) {
    why = invalid_authority_message(a);
    return std::nullopt;
  }
  return out;
}

}  // namespace detail
AZID_END
