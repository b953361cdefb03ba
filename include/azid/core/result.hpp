// azid/core/result.hpp: TokenResult, a token or the reason there is none, returned without throwing.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/errors.hpp"

AZID_BEGIN

/// Why a TokenResult holds no token.
enum class Failure {
  none,              ///< success
  unavailable,       ///< CredentialUnavailableError: try the next credential
  failed,            ///< ClientAuthenticationError: stop
  auth_required,     ///< AuthenticationRequiredError
  invalid_argument,  ///< the caller's request or configuration is wrong (std::invalid_argument)
};

/// The outcome of `try_get_token`. On success it shares the cached, immutable token.
class TokenResult {
 public:
  TokenResult() = default;
  explicit TokenResult(std::shared_ptr<const AccessToken> token) noexcept
      : token_(std::move(token)) {}

  [[nodiscard]] static TokenResult error(Failure kind, ErrorInfo info) {
    TokenResult r;
    r.kind_ = kind;
    r.error_ = std::make_shared<const ErrorInfo>(std::move(info));
    return r;
  }
  [[nodiscard]] static TokenResult unavailable(std::string_view credential, std::string message) {
    return error(Failure::unavailable,
                 ErrorInfo{.credential = std::string(credential), .message = std::move(message)});
  }
  [[nodiscard]] static TokenResult failed(std::string_view credential, std::string message) {
    return error(Failure::failed,
                 ErrorInfo{.credential = std::string(credential), .message = std::move(message)});
  }
  [[nodiscard]] static TokenResult invalid_argument(std::string_view credential,
                                                    std::string message) {
    return error(Failure::invalid_argument,
                 ErrorInfo{.credential = std::string(credential), .message = std::move(message)});
  }

  [[nodiscard]] bool ok() const noexcept { return kind_ == Failure::none && token_ != nullptr; }
  explicit operator bool() const noexcept { return ok(); }
  [[nodiscard]] Failure failure() const noexcept { return kind_; }

  /// The token; only when ok().
  [[nodiscard]] const AccessToken& token() const noexcept { return *token_; }
  [[nodiscard]] const std::shared_ptr<const AccessToken>& shared_token() const noexcept {
    return token_;
  }
  /// The error; only when !ok().
  [[nodiscard]] const ErrorInfo& error_info() const noexcept { return *error_; }

  /// Throws the exception matching failure(), or returns the token.
  const AccessToken& value() const {
    if (ok()) return *token_;
    throw_error();
  }

  [[noreturn]] void throw_error() const {
    if (!error_)
      throw ClientAuthenticationError(ErrorInfo{.message = "no token and no error recorded"});
    switch (kind_) {
      case Failure::unavailable:
        throw CredentialUnavailableError(*error_);
      case Failure::auth_required:
        throw AuthenticationRequiredError(*error_);
      case Failure::invalid_argument:
        throw std::invalid_argument(error_->message);
      default:
        throw ClientAuthenticationError(*error_);
    }
  }

 private:
  std::shared_ptr<const AccessToken> token_;
  Failure kind_ = Failure::none;
  std::shared_ptr<const ErrorInfo> error_;
};

AZID_END
