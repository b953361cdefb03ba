// azid/credentials/managed_identity/service_fabric.hpp: mi::ServiceFabric, Service Fabric
// applications (endpoint certificate pinned by thumbprint), a ManagedIdentityCredential source policy.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "azid/config.hpp"
#include "azid/core/result.hpp"
#include "azid/credentials/managed_identity/options.hpp"
#include "azid/detail/managed_identity.hpp"
#include "azid/detail/names.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN
namespace mi {

/// Service Fabric (managed-identity.md §7): `GET {IDENTITY_ENDPOINT}?api-version=2019-07-01-preview
/// &resource=R` with `Secret: {IDENTITY_HEADER}` over https. The endpoint's certificate is not
/// chained to a public root; it is accepted iff its SHA-1 thumbprint equals
/// IDENTITY_SERVER_THUMBPRINT (MSAL Python's pinning), never trusted blindly, and the secret is
/// sent only after that check. User-assigned identities are configured in the cluster, so
/// naming one here is an error.
class ServiceFabric {
 public:
  static constexpr ManagedIdentitySource kind = ManagedIdentitySource::service_fabric;
  static constexpr int detection_rank = 0;
  static constexpr std::string_view requirement =
      "Service Fabric: IDENTITY_ENDPOINT, IDENTITY_HEADER and IDENTITY_SERVER_THUMBPRINT";

  template <class P>
  [[nodiscard]] static std::optional<ServiceFabric> detect(
      const P& platform, const ManagedIdentityCredentialOptions&) {
    const auto& env = platform.environment();
    auto endpoint = env.get(names::identity_endpoint);
    auto header = env.get(names::identity_header);
    auto thumbprint = env.get(names::identity_server_thumbprint);
    if (!endpoint || !header || !thumbprint) return std::nullopt;
    ServiceFabric s;
    s.endpoint_ = std::move(*endpoint);
    s.header_ = std::move(*header);
    if (auto t = detail::msi::normalize_thumbprint(*thumbprint))
      s.thumbprint_ = std::move(*t);
    else
      s.config_error_ = "IDENTITY_SERVER_THUMBPRINT must be a SHA-1 certificate thumbprint.";
    if (!(s.endpoint_.size() > 8 &&
          iequals(std::string_view(s.endpoint_).substr(0, 8), "https://")))
      s.config_error_ = "Service Fabric managed identity endpoint must use HTTPS.";
    if (auto why = detail::msi::invalid_endpoint(kind, names::identity_endpoint, s.endpoint_);
        !why.empty())
      s.config_error_ = std::move(why);
    return s;
  }

  [[nodiscard]] static std::string unsupported_identity(const ManagedIdentityId& id) {
    if (!id.user_assigned()) return {};
    // [PY]'s wording (managed-identity.md §7).
    return std::string(detail::msi::credential_name) +
           ": Specifying a client_id or identity_config is not supported by the Service Fabric "
           "managed identity "
           "environment. The managed identity configuration is determined by the Service Fabric "
           "cluster resource "
           "configuration. See https://aka.ms/servicefabricmi for more information.";
  }

  [[nodiscard]] std::string describe() const {
    return "Service Fabric at " + endpoint_ + " (certificate pinned)";
  }

  /// The request of a fetch; `fetch` and azid/async share it.
  [[nodiscard]] HttpRequest request(const detail::msi::Call& c) const {
    HttpRequest req;
    req.url = endpoint_;
    // Never through a forwarding proxy, wherever the endpoint is (MSAL's pinning refuses them,
    // managed-identity.md §7): the certificate is pinned end to end and `Secret` must reach only
    // the cluster's token service.
    req.bypass_proxy = true;
    detail::msi::append_query(req.url, "api-version", names::service_fabric_api_version);
    detail::msi::append_query(req.url, "resource", c.resource);
    if (!c.refresh_sha256.empty())
      detail::msi::append_query(req.url, "token_sha256_to_refresh", c.refresh_sha256);
    req.headers.set("Secret", header_);
    req.pinned_thumbprint = thumbprint_;
    return req;
  }

  /// What the exchange comes to (the source's secret never in it); shared as `request` is.
  [[nodiscard]] TokenResult result(const HttpRequest& req, const HttpResponse& res,
                                   const std::error_code& ec,
                                   std::chrono::system_clock::time_point request_time,
                                   const detail::msi::Call& c) const {
    return detail::msi::secret_free_result(kind, req.url, res, ec, request_time, c.within_chain,
                                           header_);
  }

  /// A configuration error that fails every fetch before any I/O, or an empty result.
  [[nodiscard]] TokenResult precheck() const { return detail::msi::config_failure(config_error_); }

  template <class P>
  [[nodiscard]] TokenResult fetch(const P& platform, const detail::msi::Call& c,
                                  detail::msi::State&) const {
    return detail::msi::fetch_single(platform, *this, c);
  }

 private:
  ServiceFabric() = default;
  std::string endpoint_;
  std::string header_;
  std::string thumbprint_;
  std::string config_error_;
};

}  // namespace mi
AZID_END
