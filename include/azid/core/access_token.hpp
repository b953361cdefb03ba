// azid/core/access_token.hpp: AccessToken and TokenRequestContext, the values every credential speaks.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "azid/config.hpp"

AZID_BEGIN

/// A bearer token and when it stops (and should stop) being used.
struct AccessToken {
  using time_point = std::chrono::system_clock::time_point;

  std::string token;
  time_point expires_on{};
  /// When to fetch a replacement ahead of expiry (from the STS's `refresh_in`, or half the
  /// lifetime of a token that lives two hours or more). Unset: refresh 5 minutes before expiry.
  std::optional<time_point> refresh_on;
  std::string token_type = "Bearer";

  /// Expiry as Unix seconds, the unit every Azure SDK exposes.
  [[nodiscard]] long long expires_on_unix() const noexcept {
    return std::chrono::duration_cast<std::chrono::seconds>(expires_on.time_since_epoch()).count();
  }
};

/// True when `s` is non-empty printable ASCII without spaces (0x21 to 0x7E): what a bearer token
/// and its type are, and what an Authorization header value can carry without a CR or LF
/// starting a header of its own. Every azid credential refuses a token that fails this.
[[nodiscard]] constexpr bool header_safe_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (c < 0x21 || c > 0x7E) return false;  // char may be signed: bytes >= 0x80 are < 0 then
  return true;
}

/// What a caller asks a credential for.
struct TokenRequestContext {
  /// At least one scope, e.g. `https://vault.azure.net/.default`.
  std::vector<std::string> scopes{};
  /// Tenant to get the token in; empty means the credential's own tenant.
  std::string tenant_id{};
  /// Claims challenge (JSON) from a service's 401; bypasses the cache.
  std::string claims{};
  /// Declare Continuous Access Evaluation support (client capability `cp1`).
  bool enable_cae = false;
  /// The token must stay valid at least this long after it is returned; 0 leaves it to the
  /// credential's CachePolicy (a token within its refresh offset, 5 minutes, is refreshed ahead
  /// of time but still handed out while that refresh runs or after it failed). With more, a
  /// cached token that expires sooner is never returned: the caller fetches (or waits for the
  /// fetch in flight) and gets its failure instead. The Azure SDK for C++'s MinimumExpiration.
  /// Asking for more than the token lifetime the STS grants makes every call fetch.
  std::chrono::seconds min_validity{0};
};

AZID_END
