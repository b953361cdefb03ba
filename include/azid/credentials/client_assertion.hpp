// azid/credentials/client_assertion.hpp: ClientAssertionCredential, a service principal whose
// client assertion comes from the caller (models Credential).
#pragma once

#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/result.hpp"
#include "azid/detail/client_auth.hpp"
#include "azid/detail/confidential_client.hpp"
#include "azid/platform/default_platform.hpp"

AZID_BEGIN

using ClientAssertionCredentialOptions = EntraCredentialOptions;

/// Authenticates a service principal with a JWT assertion that the caller produces, e.g. a token
/// from another identity provider trusted through a federated identity credential
/// (token-endpoint.md §4).
///
/// `assertion` is called for every token request that reaches the network (never on a cache
/// hit), possibly from several threads at once; it returns the signed JWT, or throws (the
/// exception's what() becomes part of the error, so it must not carry secrets).
///
/// Thread safety: get_token and try_get_token may be called concurrently on a const object.
template <Platform P = DefaultPlatform>
class ClientAssertionCredential {
 public:
  static constexpr std::string_view name = "ClientAssertionCredential";
  using AssertionFunction = std::function<std::string()>;

  /// @throws std::invalid_argument for an invalid tenant id, an empty client id, an empty
  /// function, or an authority host that is not https.
  ClientAssertionCredential(std::string tenant_id, std::string client_id,
                            AssertionFunction assertion,
                            ClientAssertionCredentialOptions options = {}, P platform = P{})
      : client_(name, std::move(platform), std::move(tenant_id), std::move(client_id), options),
        assertion_(std::move(assertion)) {
    if (!assertion_)
      throw std::invalid_argument(
          "ClientAssertionCredential: 'func' is required and must not be empty");
  }

  /// A token, or the reason there is none (no exceptions for authentication failures).
  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const {
    return client_.get(name, ctx, [this](std::string_view, std::string& fields) -> TokenResult {
      std::string jwt;
      try {
        jwt = assertion_();
      } catch (const std::exception& e) {
        return TokenResult::failed(
            name, std::string(name) + ": the assertion function failed: " + e.what());
      } catch (...) {
        return TokenResult::failed(name, std::string(name) + ": the assertion function failed.");
      }
      if (jwt.empty())
        return TokenResult::failed(
            name, std::string(name) + ": the assertion function returned nothing.");
      detail::append_client_assertion(fields, jwt);
      return {};
    });
  }

  /// @throws ClientAuthenticationError when the token endpoint refuses the assertion
  /// (AADSTS700021 wrong iss/sub, AADSTS700023 wrong aud, AADSTS50027 malformed JWT),
  /// std::invalid_argument for a bad request.
  [[nodiscard]] AccessToken get_token(const TokenRequestContext& ctx) const {
    return try_get_token(ctx).value();
  }

  [[nodiscard]] const P& platform() const noexcept { return client_.platform(); }
  [[nodiscard]] const std::string& authority() const noexcept { return client_.authority(); }

 private:
  detail::ConfidentialClient<P> client_;
  AssertionFunction assertion_;
};

AZID_END
