// azid/credentials/client_secret.hpp: ClientSecretCredential, a service principal with a client
// secret (models Credential).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/result.hpp"
#include "azid/detail/confidential_client.hpp"
#include "azid/detail/entra.hpp"
#include "azid/platform/default_platform.hpp"

AZID_BEGIN

using ClientSecretCredentialOptions = EntraCredentialOptions;

/// Authenticates a service principal with a client secret against the Microsoft Entra token
/// endpoint (client credentials grant).
///
/// Thread safety: get_token and try_get_token may be called concurrently on a const object.
/// Tokens are cached per (scopes, tenant, CAE) and refreshed ahead of expiry.
template <Platform P = DefaultPlatform>
class ClientSecretCredential {
 public:
  static constexpr std::string_view name = "ClientSecretCredential";

  /// @throws std::invalid_argument for an invalid tenant id, an empty client id or secret, or an
  /// authority host that is not https. Nothing is sent until the first get_token.
  ClientSecretCredential(std::string tenant_id, std::string client_id, std::string client_secret,
                         ClientSecretCredentialOptions options = {}, P platform = P{});

  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const;

  [[nodiscard]] AccessToken get_token(const TokenRequestContext& ctx) const;

  [[nodiscard]] const P& platform() const noexcept { return client_.platform(); }
  [[nodiscard]] const std::string& authority() const noexcept { return client_.authority(); }

 private:
  detail::ConfidentialClient<P> client_;
  std::string secret_;
};

template <Platform P>
ClientSecretCredential<P>::ClientSecretCredential(std::string tenant_id, std::string client_id,
                                                  std::string client_secret,
                                                  ClientSecretCredentialOptions options, P platform)
    : client_(name, std::move(platform), std::move(tenant_id), std::move(client_id), options),
      secret_(std::move(client_secret)) {
  if (secret_.empty())
    throw std::invalid_argument(
        "ClientSecretCredential: 'client_secret' is required and must not be empty");
  client_.redact_in_failures(secret_);
}

template <Platform P>
TokenResult ClientSecretCredential<P>::try_get_token(const TokenRequestContext& ctx) const {
  return client_.get(name, ctx, [this](std::string_view, std::string& fields) {
    detail::append_form(fields, "client_secret", secret_);
    return TokenResult{};
  });
}

template <Platform P>
AccessToken ClientSecretCredential<P>::get_token(const TokenRequestContext& ctx) const {
  return try_get_token(ctx).value();
}

#if defined(AZID_SEPARATE_COMPILATION)
extern template class ClientSecretCredential<DefaultPlatform>;
#endif

AZID_END
