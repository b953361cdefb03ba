// azid/credentials/certificate.hpp: CertificateCredential, a service principal that proves its
// identity with a certificate's signed JWT (models Credential).
#pragma once

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

struct CertificateCredentialOptions : EntraCredentialOptions {
  /// Password of an encrypted PEM private key or of a PKCS#12 file; empty when there is none.
  std::string password;
  /// The certificate's bytes (PEM or PKCS#12) instead of a path. Give exactly one of the two.
  std::string certificate_data;
  /// Sends the chain in the assertion's `x5c` header, for apps that trust a certificate by
  /// subject name and issuer instead of by thumbprint.
  bool send_certificate_chain = false;
  /// Signs with PS256 and names the certificate by `x5t#S256` (SHA-256). Default: RS256 + `x5t`,
  /// which every cloud (ADFS included) accepts.
  bool use_pss = false;
};

/// Authenticates a service principal with a certificate (client credentials grant with a JWT
/// client assertion, token-endpoint.md §3).
///
/// The certificate is a PEM file (private key, possibly encrypted with `password`, plus the
/// certificate) or a PKCS#12 file (with or without a password), from a path or from bytes. It is
/// read on the first get_token, not at construction; a file that cannot be used fails get_token
/// with a message naming the file and what is wrong with it.
///
/// Thread safety: get_token and try_get_token may be called concurrently on a const object.
template <Platform P = DefaultPlatform>
class CertificateCredential {
 public:
  static constexpr std::string_view name = "CertificateCredential";

  /// `certificate_path` may be empty when `options.certificate_data` holds the certificate.
  /// @throws std::invalid_argument for an invalid tenant id, an empty client id, neither or
  /// both of path and data, or an authority host that is not https.
  CertificateCredential(std::string tenant_id, std::string client_id, std::string certificate_path,
                        CertificateCredentialOptions options = {}, P platform = P{});

  /// A token, or the reason there is none (no exceptions for authentication failures).
  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const;

  /// @throws ClientAuthenticationError when the certificate cannot be used or the token endpoint
  /// refuses (AADSTS700027: certificate not registered; AADSTS700016: unknown app),
  /// std::invalid_argument for a bad request.
  [[nodiscard]] AccessToken get_token(const TokenRequestContext& ctx) const;

  [[nodiscard]] const P& platform() const noexcept { return client_.platform(); }
  [[nodiscard]] const std::string& authority() const noexcept { return client_.authority(); }
  /// Number of assertions signed so far (each is reused until 60 s before it expires).
  [[nodiscard]] std::size_t assertions_signed() const { return auth_.signed_count(); }

 private:
  static detail::CertificateSource source(std::string path, CertificateCredentialOptions o) {
    if (path.empty() && o.certificate_data.empty())
      throw std::invalid_argument(
          "CertificateCredential requires a value for either \"certificate_path\" or "
          "\"certificate_data\"");
    if (!path.empty() && !o.certificate_data.empty())
      throw std::invalid_argument(
          "Please specify either \"certificate_path\" or \"certificate_data\", not both");
    return {std::move(path), std::move(o.certificate_data), std::move(o.password),
            o.send_certificate_chain, o.use_pss};
  }

  detail::ConfidentialClient<P> client_;
  detail::CertificateAuth auth_;
};

// Out of class so that separate compilation builds the default instantiation once (azid/src.hpp).
template <Platform P>
CertificateCredential<P>::CertificateCredential(std::string tenant_id, std::string client_id,
                                                std::string certificate_path,
                                                CertificateCredentialOptions options, P platform)
    : client_(name, std::move(platform), std::move(tenant_id), std::move(client_id), options),
      auth_(source(std::move(certificate_path), std::move(options))) {}

template <Platform P>
TokenResult CertificateCredential<P>::try_get_token(const TokenRequestContext& ctx) const {
  return client_.get(name, ctx, [this](std::string_view endpoint, std::string& fields) {
    return auth_.append(name, client_.platform(), endpoint, client_.client_id(), fields);
  });
}

template <Platform P>
AccessToken CertificateCredential<P>::get_token(const TokenRequestContext& ctx) const {
  return try_get_token(ctx).value();
}

#if defined(AZID_SEPARATE_COMPILATION)
extern template class CertificateCredential<DefaultPlatform>;
#endif

AZID_END
