// azid/credentials/environment.hpp: EnvironmentCredential, a service principal (secret or
// certificate) configured by AZURE_* environment variables (models Credential).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/result.hpp"
#include "azid/detail/client_auth.hpp"
#include "azid/detail/confidential_client.hpp"
#include "azid/detail/entra.hpp"
#include "azid/detail/names.hpp"
#include "azid/platform/default_platform.hpp"

AZID_BEGIN

/// `authority_host` overrides AZURE_AUTHORITY_HOST; a non-empty `additionally_allowed_tenants`
/// overrides AZURE_ADDITIONALLY_ALLOWED_TENANTS (`;`-separated).
using EnvironmentCredentialOptions = EntraCredentialOptions;

/// Authenticates a service principal configured in the environment (token-endpoint.md §7):
///   1. AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET: a client secret;
///   2. else AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_CERTIFICATE_PATH: a certificate, with
///      AZURE_CLIENT_CERTIFICATE_PASSWORD and AZURE_CLIENT_SEND_CERTIFICATE_CHAIN (`1`/`true`).
/// Set-but-empty variables count as unset. The variables are read once, at construction; when
/// they are incomplete get_token reports the credential unavailable and names what is missing.
/// Errors name EnvironmentCredential (the inner flow is an implementation detail).
///
/// Thread safety: get_token and try_get_token may be called concurrently on a const object.
template <Platform P = DefaultPlatform>
class EnvironmentCredential {
 public:
  static constexpr std::string_view name = "EnvironmentCredential";

  /// The flow the environment selected.
  enum class Mode { none, client_secret, certificate };

  /// Never throws for missing or malformed environment values (they surface at get_token);
  /// @throws std::invalid_argument for an `options.authority_host` that is not https.
  explicit EnvironmentCredential(EnvironmentCredentialOptions options = {}, P platform = P{}) {
    if (!options.authority_host.empty())
      (void)detail::checked_authority(name, options.authority_host);
    const auto& env = platform.environment();
    const auto tenant = env.get(names::azure_tenant_id);
    const auto client = env.get(names::azure_client_id);
    auto secret = env.get(names::azure_client_secret);
    auto cert_path = env.get(names::azure_client_certificate_path);
    if (!tenant || !client || (!secret && !cert_path)) {
      unavailable_ = unconfigured_message(!tenant, !client, !secret && !cert_path,
                                          env.get(names::azure_username).has_value());
      return;
    }
    if (options.additionally_allowed_tenants.empty())
      if (auto list = env.get(names::azure_additionally_allowed_tenants))
        options.additionally_allowed_tenants = detail::split_tenant_list(*list);
    // Everything `env` is needed for is read now: it may be a part of `platform`, which is
    // moved into the client next.
    auto cert_password = secret ? std::nullopt : env.get(names::azure_client_certificate_password);
    const bool send_chain =
        !secret && detail::env_flag(env.get(names::azure_client_send_certificate_chain));
    try {
      client_.emplace(name, std::move(platform), *tenant, *client, options);
    } catch (const std::invalid_argument& e) {
      // A malformed AZURE_TENANT_ID or AZURE_AUTHORITY_HOST is reported when a token is asked
      // for, so constructing the credential (e.g. inside a chain) never throws for the environment.
      // Named after the variable: the request may be fine, the environment is not.
      invalid_ = detail::valid_tenant_id(*tenant)
                     ? std::string(e.what())  // already names the credential
                     : std::string(name) + ": " + std::string(names::azure_tenant_id) +
                           " is not a valid tenant ID. " + e.what();
      return;
    }
    if (secret) {
      mode_ = Mode::client_secret;
      secret_ = std::move(*secret);
      client_->redact_in_failures(secret_);  // as ClientSecretCredential: never in a failure
    } else {
      mode_ = Mode::certificate;
      detail::CertificateSource src;
      src.path = std::move(*cert_path);
      src.password = std::move(cert_password).value_or("");
      src.send_certificate_chain = send_chain;
      certificate_.emplace(std::move(src));
    }
  }

  /// A token, or the reason there is none (no exceptions for authentication failures).
  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const {
    if (!invalid_.empty()) return TokenResult::invalid_argument(name, invalid_);
    if (!client_) return TokenResult::unavailable(name, unavailable_);
    if (mode_ == Mode::client_secret) {
      return client_->get(name, ctx, [this](std::string_view, std::string& fields) {
        detail::append_form(fields, "client_secret", secret_);
        return TokenResult{};
      });
    }
    return client_->get(name, ctx, [this](std::string_view endpoint, std::string& fields) {
      return certificate_->append(name, client_->platform(), endpoint, client_->client_id(),
                                  fields);
    });
  }

  /// @throws CredentialUnavailableError when the variables are incomplete,
  /// ClientAuthenticationError when the token endpoint refuses or the certificate is unusable,
  /// std::invalid_argument for a malformed tenant id or authority (or a bad request).
  [[nodiscard]] AccessToken get_token(const TokenRequestContext& ctx) const {
    return try_get_token(ctx).value();
  }

  [[nodiscard]] Mode mode() const noexcept { return mode_; }

 private:
  static std::string unconfigured_message(bool no_tenant, bool no_client, bool no_secret_or_cert,
                                          bool username_set) {
    std::string missing;
    auto add = [&](std::string_view what) {
      if (!missing.empty()) missing += ", ";
      missing += what;
    };
    if (no_tenant) add(names::azure_tenant_id);
    if (no_client) add(names::azure_client_id);
    if (no_secret_or_cert)
      add(std::string(names::azure_client_secret) + " or " +
          std::string(names::azure_client_certificate_path));
    // Both phrasings on purpose: the first is what other Azure SDKs print, the second is the
    // troubleshooting guide's, so a search for either finds this message.
    std::string msg =
        "EnvironmentCredential authentication unavailable. Environment variables are not fully "
        "configured. Missing: " +
        missing +
        ". Environment variables aren't fully configured. Set AZURE_TENANT_ID, AZURE_CLIENT_ID "
        "and either AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH (with "
        "AZURE_CLIENT_CERTIFICATE_PASSWORD for a protected certificate) before the application "
        "starts.";
    if (username_set)
      msg += " AZURE_USERNAME and AZURE_PASSWORD (username/password) are not supported.";
    return msg;
  }

  std::optional<detail::ConfidentialClient<P>> client_;
  Mode mode_ = Mode::none;
  std::string secret_;
  std::optional<detail::CertificateAuth> certificate_;
  std::string unavailable_;
  std::string invalid_;
};

AZID_END
