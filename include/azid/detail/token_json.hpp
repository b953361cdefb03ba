// azid/detail/token_json.hpp: token responses and STS errors from JSON, and expiry formats (light;
// simdjson only in impl/json.ipp).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/error_code.hpp"
#include "azid/core/errors.hpp"

AZID_BEGIN
namespace detail {

/// Largest epoch accepted, in seconds: 9999-12-31T23:59:59Z, or the last second that
/// std::chrono::system_clock can hold when that comes first (2262-04-11 with libstdc++'s
/// nanosecond clock), since every expiry becomes a system_clock::time_point. Largest duration.
inline constexpr long long max_epoch_seconds = [] {
  constexpr long long calendar_max = 253402300799LL;
  constexpr long long clock_max =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max())
          .count();
  return clock_max < calendar_max ? clock_max : calendar_max;
}();
inline constexpr long long max_duration_seconds = 2147483647LL;

/// The fields of a token response that azid uses. Every expiry field is optional here;
/// `make_access_token` decides which one wins.
struct ParsedToken {
  std::string access_token;
  std::string token_type;
  std::optional<long long> expires_on;  ///< Unix seconds
  std::optional<long long> expires_in;  ///< seconds
  std::optional<long long> refresh_in;  ///< seconds
  std::optional<long long> refresh_on;  ///< Unix seconds (some managed identity sources)
};

/// Parses a token response (token endpoint, managed identity, developer tools' JSON).
/// `expires_on` may be a number, a numeric string or a date string (see parse_expiry_text);
/// `expires_in` and `refresh_in` a number or a numeric string.
/// Errors: errc::malformed_json, errc::missing_field (no access_token), errc::invalid_expiry.
AZID_DECL std::error_code parse_token_json(std::string_view body, ParsedToken& out);

/// Parses Entra's error JSON (`error`, `error_description`, `error_codes`, `timestamp`,
/// `trace_id`, `correlation_id`, `suberror`). False when the body is not such an object.
AZID_DECL bool parse_sts_error(std::string_view body, StsError& out);

/// Reads one string member of a top-level JSON object; nullopt if absent, not a string, or the
/// body is not a JSON object.
AZID_DECL std::optional<std::string> json_string_member(std::string_view body,
                                                        std::string_view name);

/// An expiry written as text: plain decimal digits (Unix seconds), App Service 2017's
/// `MM/DD/YYYY HH:MM:SS +00:00` and `M/D/YYYY h:MM:SS AM +00:00`, RFC 3339 and RFC 1123.
/// Returns Unix seconds, or nullopt when the text is none of these or out of range.
AZID_DECL std::optional<long long> parse_expiry_text(std::string_view text);

/// Turns a parsed response into an AccessToken (token-endpoint.md §9, managed-identity.md §3):
/// expires_on from `expires_on`, else `request_time + expires_in`; refresh_on from
/// `refresh_on`/`refresh_in`, else half the lifetime when it is two hours or more.
/// Errors: errc::invalid_expiry (no usable expiry, or one already in the past),
/// errc::invalid_token (a token or token type that header_safe_token refuses).
AZID_DECL std::error_code make_access_token(ParsedToken&& parsed,
                                            std::chrono::system_clock::time_point request_time,
                                            AccessToken& out);

/// A claims challenge (a JSON object) with the CAE client capability added:
/// `access_token.xms_cc = {"values":["CP1"]}`, other members kept. nullopt when `claims` is not
/// a JSON object.
AZID_DECL std::optional<std::string> merge_cae_capability(std::string_view claims);

/// `s` as a JSON string literal, quotes included.
AZID_DECL std::string json_quote(std::string_view s);

/// A body safe to echo in an error: the string values of token and secret members
/// (access_token, refresh_token, id_token, client_secret, client_assertion, password, ...) and
/// every JWT-shaped word replaced by `***`, secret form values and Bearer credentials by
/// REDACTED (redact_echoed_secrets), control characters by '?', at most `max_bytes` long.
AZID_DECL std::string scrub_body(std::string_view body, std::size_t max_bytes = 1024);
/// `text` read as the characters of one JSON string: escapes decoded (\uXXXX below 0x80 to its
/// byte, any other as '?'; a broken escape kept as it is), other bytes as they are. For finding a
/// name or a secret however an encoder escaped it, not for parsing.
AZID_DECL std::string json_unescape_loosely(std::string_view text);

/// `text` with every JWT-shaped word (`eyJ...` with two dots) replaced by `***`, and the values
/// of `client_secret=`, `client_assertion=`, `assertion=`, `password=` and of a `Bearer`
/// credential by REDACTED: for text from elsewhere that may quote a request (an STS's
/// error_description, a proxy's page).
AZID_DECL std::string redact_echoed_secrets(std::string_view text);

}  // namespace detail
AZID_END

#if defined(AZID_HEADER_ONLY)
#include "azid/impl/json.ipp"
#endif
