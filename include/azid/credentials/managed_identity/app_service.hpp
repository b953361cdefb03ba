// azid/credentials/managed_identity/app_service.hpp: mi::AppService, App Service and Azure
// Functions (2019-08-01 API), a ManagedIdentityCredential source policy.
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

AZID_BEGIN
namespace mi {

/// App Service / Functions (managed-identity.md §5): `GET {IDENTITY_ENDPOINT}?api-version=
/// 2019-08-01&resource=R` with `X-IDENTITY-HEADER: {IDENTITY_HEADER}` (a secret: never logged)
/// and `Metadata: true`. User-assigned ids go as client_id, principal_id or mi_res_id.
class AppService {
 public:
  static constexpr ManagedIdentitySource kind = ManagedIdentitySource::app_service;
  static constexpr int detection_rank = 1;
  static constexpr std::string_view requirement =
      "App Service and Functions: IDENTITY_ENDPOINT and IDENTITY_HEADER, set by the host";

  template <class P>
  [[nodiscard]] static std::optional<AppService> detect(const P& platform,
                                                        const ManagedIdentityCredentialOptions&) {
    auto endpoint = platform.environment().get(names::identity_endpoint);
    auto header = platform.environment().get(names::identity_header);
    if (!endpoint || !header) return std::nullopt;
    AppService s(std::move(*endpoint), std::move(*header));
    s.config_error_ = detail::msi::invalid_endpoint(kind, names::identity_endpoint, s.endpoint_);
    return s;
  }

  [[nodiscard]] static std::string unsupported_identity(const ManagedIdentityId&) { return {}; }

  [[nodiscard]] std::string describe() const { return "App Service at " + endpoint_; }

  /// The request of a fetch; `fetch` and azid/async share it.
  [[nodiscard]] HttpRequest request(const detail::msi::Call& c) const {
    HttpRequest req;
    req.url = endpoint_;
    req.bypass_proxy = detail::msi::on_this_host(endpoint_);
    detail::msi::append_query(req.url, "api-version", names::app_service_api_version);
    detail::msi::append_query(req.url, "resource", c.resource);
    switch (c.id.kind()) {
      case ManagedIdentityId::Kind::client_id:
        detail::msi::append_query(req.url, "client_id", c.id.value());
        break;
      // App Service names the object id principal_id (managed-identity.md §5).
      case ManagedIdentityId::Kind::object_id:
        detail::msi::append_query(req.url, "principal_id", c.id.value());
        break;
      case ManagedIdentityId::Kind::resource_id:
        detail::msi::append_query(req.url, "mi_res_id", c.id.value());
        break;
      case ManagedIdentityId::Kind::system_assigned:
        break;
    }
    req.headers.set(names::header_identity, header_);
    req.headers.set(names::header_metadata, "true");
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

  /// A configuration error (a malformed endpoint) that fails every fetch before any I/O, or an
  /// empty result.
  [[nodiscard]] TokenResult precheck() const { return detail::msi::config_failure(config_error_); }

  template <class P>
  [[nodiscard]] TokenResult fetch(const P& platform, const detail::msi::Call& c,
                                  detail::msi::State&) const {
    return detail::msi::fetch_single(platform, *this, c);
  }

 private:
  AppService(std::string endpoint, std::string header)
      : endpoint_(std::move(endpoint)), header_(std::move(header)) {}
  std::string endpoint_;
  std::string header_;
  std::string config_error_;
};

}  // namespace mi
AZID_END
