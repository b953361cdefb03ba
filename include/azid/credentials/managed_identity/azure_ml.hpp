// azid/credentials/managed_identity/azure_ml.hpp: mi::AzureMl, Azure Machine Learning compute
// (2017-09-01 API), a ManagedIdentityCredential source policy.
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

/// Azure Machine Learning (managed-identity.md §9): MSI_ENDPOINT + MSI_SECRET; `GET {MSI_ENDPOINT}
/// ?api-version=2017-09-01&resource=R[&clientid=ID]` with `secret: {MSI_SECRET}` (never logged).
/// Only client ids name a user-assigned identity; for the system-assigned one the host's
/// DEFAULT_IDENTITY_CLIENT_ID is sent when set (msal-node's behaviour).
class AzureMl {
 public:
  static constexpr ManagedIdentitySource kind = ManagedIdentitySource::azure_ml;
  static constexpr int detection_rank = 2;
  static constexpr std::string_view requirement =
      "Azure Machine Learning: MSI_ENDPOINT and MSI_SECRET";

  template <class P>
  [[nodiscard]] static std::optional<AzureMl> detect(const P& platform,
                                                     const ManagedIdentityCredentialOptions&) {
    const auto& env = platform.environment();
    auto endpoint = env.get(names::msi_endpoint);
    auto secret = env.get(names::msi_secret);
    if (!endpoint || !secret) return std::nullopt;
    AzureMl s(std::move(*endpoint), std::move(*secret),
              env.get(names::default_identity_client_id).value_or(""));
    s.config_error_ = detail::msi::invalid_endpoint(kind, names::msi_endpoint, s.endpoint_);
    return s;
  }

  [[nodiscard]] static std::string unsupported_identity(const ManagedIdentityId& id) {
    if (id.kind() != ManagedIdentityId::Kind::object_id &&
        id.kind() != ManagedIdentityId::Kind::resource_id)
      return {};
    return std::string(detail::msi::credential_name) +
           ": Only client id is supported for user-assigned managed identity in MachineLearning.";
  }

  [[nodiscard]] std::string describe() const { return "Azure Machine Learning at " + endpoint_; }

  /// The request of a fetch; `fetch` and azid/async share it.
  [[nodiscard]] HttpRequest request(const detail::msi::Call& c) const {
    HttpRequest req;
    req.url = endpoint_;
    req.bypass_proxy = detail::msi::on_this_host(endpoint_);
    detail::msi::append_query(req.url, "api-version", names::azure_ml_api_version);
    detail::msi::append_query(req.url, "resource", c.resource);
    // This API spells it `clientid`, without the underscore (managed-identity.md §9).
    if (c.id.kind() == ManagedIdentityId::Kind::client_id)
      detail::msi::append_query(req.url, "clientid", c.id.value());
    else if (!default_client_id_.empty())
      detail::msi::append_query(req.url, "clientid", default_client_id_);
    req.headers.set("secret", secret_);
    return req;
  }

  /// What the exchange comes to (the source's secret never in it); shared as `request` is.
  [[nodiscard]] TokenResult result(const HttpRequest& req, const HttpResponse& res,
                                   const std::error_code& ec,
                                   std::chrono::system_clock::time_point request_time,
                                   const detail::msi::Call& c) const {
    return detail::msi::secret_free_result(kind, req.url, res, ec, request_time, c.within_chain,
                                           secret_);
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
  AzureMl(std::string endpoint, std::string secret, std::string default_client_id)
      : endpoint_(std::move(endpoint)),
        secret_(std::move(secret)),
        default_client_id_(std::move(default_client_id)) {}
  std::string endpoint_;
  std::string secret_;
  std::string default_client_id_;
  std::string config_error_;
};

}  // namespace mi
AZID_END
