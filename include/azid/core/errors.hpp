// azid/core/errors.hpp: ClientAuthenticationError, CredentialUnavailableError, AuthenticationRequiredError.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "azid/config.hpp"

AZID_BEGIN

/// The fields of a Microsoft Entra STS error response (RFC 6749 error JSON plus Entra's extras).
struct StsError {
  std::string error;                   ///< OAuth error, e.g. `invalid_client`
  std::string error_description;       ///< starts with `AADSTSnnnn:`
  std::vector<long long> error_codes;  ///< e.g. {7000215}
  std::string correlation_id;
  std::string trace_id;
  std::string timestamp;
  std::string suberror;
  std::string claims;  ///< a claims challenge (JSON) the STS asks the next request to carry

  /// The first AADSTS code, or 0 when there is none.
  [[nodiscard]] long long code() const noexcept {
    return error_codes.empty() ? 0 : error_codes.front();
  }
  [[nodiscard]] bool has_code(long long c) const noexcept {
    for (auto e : error_codes)
      if (e == c) return true;
    return false;
  }
};

/// One credential's outcome inside a chain's failure.
struct CredentialAttempt {
  std::string credential;
  std::string message;
  bool unavailable = false;
};

/// What went wrong, as a value (TokenResult carries it; the exceptions below wrap it).
/// Every member has a default, so it can be built with only the members that matter
/// (`ErrorInfo{.credential = ..., .message = ...}`).
struct ErrorInfo {
  std::string credential{};  ///< e.g. "ClientSecretCredential"
  std::string message{};     ///< complete, human-readable; never contains a secret
  int http_status = 0;       ///< status of the failing HTTP exchange, 0 when none
  std::optional<StsError> sts{};
  std::vector<CredentialAttempt> attempts{};  ///< filled by chains
  /// For AuthenticationRequiredError: the scopes that were requested, and the claims challenge
  /// the STS returned (JSON, empty when it sent none), to pass as TokenRequestContext::claims.
  std::vector<std::string> scopes{};
  std::string claims{};
};

/// Authentication was attempted and failed. Chains stop on it.
class ClientAuthenticationError : public std::runtime_error {
 public:
  explicit ClientAuthenticationError(ErrorInfo info)
      : std::runtime_error(info.message), info_(std::move(info)) {}

  /// Name of the credential that failed (the chain's name for an aggregated failure).
  [[nodiscard]] const std::string& credential() const noexcept { return info_.credential; }
  [[nodiscard]] int http_status() const noexcept { return info_.http_status; }
  [[nodiscard]] const std::optional<StsError>& sts() const noexcept { return info_.sts; }
  [[nodiscard]] const std::vector<CredentialAttempt>& attempts() const noexcept {
    return info_.attempts;
  }
  [[nodiscard]] const ErrorInfo& info() const noexcept { return info_; }

 private:
  ErrorInfo info_;
};

/// The credential cannot run in this environment (configuration, endpoint or tool missing).
/// Chains move on to their next member.
class CredentialUnavailableError : public ClientAuthenticationError {
 public:
  using ClientAuthenticationError::ClientAuthenticationError;
};

/// User interaction or a change of configuration is needed before a token can be had.
class AuthenticationRequiredError : public ClientAuthenticationError {
 public:
  using ClientAuthenticationError::ClientAuthenticationError;

  /// The scopes of the request that needs the interaction.
  [[nodiscard]] const std::vector<std::string>& scopes() const noexcept { return info().scopes; }
  /// The claims challenge from the STS (JSON), empty when there was none: a retry with
  /// `TokenRequestContext::claims` set to it asks for a token that satisfies the challenge.
  [[nodiscard]] const std::string& claims() const noexcept { return info().claims; }
};

AZID_END
