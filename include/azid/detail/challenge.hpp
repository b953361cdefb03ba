// azid/detail/challenge.hpp: a WWW-Authenticate parser (RFC 9110 §11.6.1) and the claims
// challenge (CAE, Conditional Access) it carries (light: std only).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "azid/config.hpp"
#include "azid/detail/base64.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN
namespace detail {

/// One challenge: `scheme` followed by either a token68 or a list of `name=value` parameters.
struct AuthChallenge {
  std::string scheme;
  std::string token68;
  std::vector<std::pair<std::string, std::string>> params;

  /// The value of the first parameter called `name` (case-insensitive), or nullopt.
  [[nodiscard]] std::optional<std::string_view> param(std::string_view name) const noexcept {
    for (const auto& p : params)
      if (iequals(p.first, name)) return std::string_view(p.second);
    return std::nullopt;
  }
};

namespace challenge_detail {

[[nodiscard]] constexpr bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  for (char t : std::string_view("!#$%&'*+-.^_`|~"))
    if (c == t) return true;
  return false;
}
[[nodiscard]] constexpr bool is_token68_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}
constexpr void skip_ows(std::string_view s, std::size_t& i) noexcept {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}
[[nodiscard]] constexpr std::string_view read_token(std::string_view s, std::size_t& i) noexcept {
  const std::size_t b = i;
  while (i < s.size() && is_tchar(s[i])) ++i;
  return s.substr(b, i - b);
}
/// After `name` and BWS: is the next character '=' that starts a parameter value (rather than
/// the padding of a token68)?
[[nodiscard]] constexpr bool param_follows(std::string_view s, std::size_t i) noexcept {
  skip_ows(s, i);
  if (i >= s.size() || s[i] != '=') return false;
  // `name=` followed by more '=' and then the end or a comma is a token68 with padding.
  std::size_t j = i;
  while (j < s.size() && s[j] == '=') ++j;
  const std::size_t equals = j - i;
  skip_ows(s, j);
  return !(equals > 1 || j >= s.size() || s[j] == ',');
}

}  // namespace challenge_detail

/// Parses a WWW-Authenticate field value into its challenges, in order. Accepts several
/// challenges in one value (`Basic realm="x", Bearer error="..."`), quoted strings with escapes
/// and commas inside them, empty list elements, and (leniently) unquoted values holding `:`, `/`
/// and the like, as some services send URLs unquoted. nullopt when the value is malformed: an
/// unterminated quoted string, a parameter without a value, or stray characters.
[[nodiscard]] inline std::optional<std::vector<AuthChallenge>> parse_www_authenticate(
    std::string_view s) {
  using namespace challenge_detail;
  std::vector<AuthChallenge> out;
  std::size_t i = 0;
  // Skips OWS and empty list elements; returns whether a comma was crossed.
  auto skip_list_separators = [&] {
    bool comma = false;
    for (;;) {
      skip_ows(s, i);
      if (i < s.size() && s[i] == ',') {
        ++i;
        comma = true;
        continue;
      }
      return comma;
    }
  };
  skip_list_separators();
  while (i < s.size()) {
    AuthChallenge ch;
    const std::string_view scheme = read_token(s, i);
    if (scheme.empty()) return std::nullopt;
    ch.scheme.assign(scheme);
    const std::size_t after_scheme = i;
    skip_ows(s, i);
    if (i == after_scheme && i < s.size() && s[i] != ',') return std::nullopt;  // `Bearer"x"`
    // token68 (`Negotiate abc==`): a run of token68 characters and padding, then the end or ','.
    if (i < s.size() && s[i] != ',') {
      std::size_t j = i;
      while (j < s.size() && is_token68_char(s[j])) ++j;
      std::size_t k = j;
      while (k < s.size() && s[k] == '=') ++k;
      std::size_t end = k;
      skip_ows(s, end);
      if (j > i && (end >= s.size() || s[end] == ',') && !param_follows(s, j)) {
        ch.token68.assign(s.substr(i, k - i));
        i = end;
        out.push_back(std::move(ch));
        skip_list_separators();
        continue;
      }
    }
    // auth-params: name BWS "=" BWS (token / quoted-string), separated by commas. After a comma,
    // a list element that is not `name=` starts the next challenge.
    for (;;) {
      const bool comma = skip_list_separators();
      if (i >= s.size()) break;
      std::size_t j = i;
      const std::string_view name = read_token(s, j);
      if (name.empty()) return std::nullopt;
      if (!param_follows(s, j)) {
        if (!comma) return std::nullopt;  // `Bearer x y`: neither a parameter nor a new challenge
        break;                            // the next challenge's scheme
      }
      i = j;
      skip_ows(s, i);
      ++i;  // '='
      skip_ows(s, i);
      std::string value;
      if (i < s.size() && s[i] == '"') {
        ++i;
        bool closed = false;
        while (i < s.size()) {
          const char c = s[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= s.size()) return std::nullopt;
            value.push_back(s[i++]);
          } else {
            value.push_back(c);
          }
        }
        if (!closed) return std::nullopt;
      } else {
        const std::size_t b = i;
        while (i < s.size() && s[i] != ',' && s[i] != ' ' && s[i] != '\t' && s[i] != '"') ++i;
        if (i == b) return std::nullopt;  // `error=` with nothing after it
        value.assign(s.substr(b, i - b));
      }
      ch.params.emplace_back(std::string(name), std::move(value));
      skip_ows(s, i);
      if (i < s.size() && s[i] != ',') return std::nullopt;  // `a="b" c="d"`: missing comma
    }
    out.push_back(std::move(ch));
  }
  return out;
}

/// The claims a resource asks for in a claims challenge (Continuous Access Evaluation, or a
/// Conditional Access authentication context): the first `Bearer` challenge whose `error` is
/// `insufficient_claims` and whose `claims` parameter is base64 or base64url (padding optional)
/// of a JSON object. Returns the decoded JSON; nullopt for every other header, including a
/// malformed one (no retry is better than a retry built on a guess).
[[nodiscard]] inline std::optional<std::string> claims_from_challenge(
    std::string_view www_authenticate) {
  const auto challenges = parse_www_authenticate(www_authenticate);
  if (!challenges) return std::nullopt;
  for (const AuthChallenge& ch : *challenges) {
    if (!iequals(ch.scheme, "Bearer")) continue;
    const auto error = ch.param("error");
    const auto claims = ch.param("claims");
    if (!error || !claims || !iequals(*error, "insufficient_claims") || claims->empty()) continue;
    auto json = base64_decode(*claims);
    if (!json) continue;
    // A JSON object, judged by its first and last non-space characters; the STS validates the rest.
    std::string_view v(*json);
    while (!v.empty() &&
           (v.front() == ' ' || v.front() == '\n' || v.front() == '\r' || v.front() == '\t'))
      v.remove_prefix(1);
    while (!v.empty() &&
           (v.back() == ' ' || v.back() == '\n' || v.back() == '\r' || v.back() == '\t'))
      v.remove_suffix(1);
    if (v.size() < 2 || v.front() != '{' || v.back() != '}') continue;
    // The claims end up in requests, messages and log lines: control characters are refused, and
    // line breaks and tabs (insignificant between JSON tokens, invalid inside strings) become
    // spaces, so a hostile header cannot forge a log line or drive a terminal.
    std::string out(v);
    bool clean = true;
    for (char& c : out) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '\n' || c == '\r' || c == '\t')
        c = ' ';
      else if (u < 0x20 || u == 0x7F)
        clean = false;
    }
    if (!clean) continue;
    return out;
  }
  return std::nullopt;
}

}  // namespace detail
AZID_END
