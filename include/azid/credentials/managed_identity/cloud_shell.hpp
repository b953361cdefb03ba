// azid/credentials/managed_identity/cloud_shell.hpp: mi::CloudShell, Azure Cloud Shell (the
// signed-in user's delegated token), a ManagedIdentityCredential source policy.
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
#include "azid/detail/url.hpp"

AZID_BEGIN
namespace mi {

/// Cloud Shell (managed-identity.md §8): MSI_ENDPOINT without MSI_SECRET; `POST {MSI_ENDPOINT}`
/// with `Metadata: true` and the form body `resource=R`. User-assigned identities are not supported.
class CloudShell {
 public:
  static constexpr ManagedIdentitySource kind = ManagedIdentitySource::cloud_shell;
  static constexpr int detection_rank = 4;
  static constexpr std::string_view requirement = "Cloud Shell: MSI_ENDPOINT without MSI_SECRET";

  template <class P>
  [[nodiscard]] static std::optional<CloudShell> detect(const P& platform,
                                                        const ManagedIdentityCredentialOptions&) {
    auto endpoint = platform.environment().get(names::msi_endpoint);
    if (!endpoint || platform.environment().get(names::msi_secret)) return std::nullopt;
    CloudShell s(std::move(*endpoint));
    s.config_error_ = detail::msi::invalid_endpoint(kind, names::msi_endpoint, s.endpoint_);
    return s;
  }

  [[nodiscard]] static std::string unsupported_identity(const ManagedIdentityId& id) {
    if (!id.user_assigned()) return {};
    return std::string(detail::msi::credential_name) +
           ": User-assigned managed identities are not supported in Cloud Shell environments. Omit "
           "the clientId, "
           "objectId, or resourceId when constructing the ManagedIdentityCredential.";
  }

  [[nodiscard]] std::string describe() const { return "Cloud Shell at " + endpoint_; }

  /// The request of a fetch; `fetch` and azid/async share it.
  [[nodiscard]] HttpRequest request(const detail::msi::Call& c) const {
    HttpRequest req;
    req.method = "POST";
    req.url = endpoint_;
    req.bypass_proxy = detail::msi::on_this_host(endpoint_);
    req.headers.set(names::header_metadata, "true");
    req.headers.set("Content-Type", "application/x-www-form-urlencoded");
    req.body = "resource=" + detail::url_encode(c.resource);
    return req;
  }

  /// What the exchange comes to (the source's secret never in it); shared as `request` is.
  [[nodiscard]] TokenResult result(const HttpRequest& req, const HttpResponse& res,
                                   const std::error_code& ec,
                                   std::chrono::system_clock::time_point request_time,
                                   const detail::msi::Call& c) const {
    return detail::msi::source_result(kind, req.url, res, ec, request_time, c.within_chain);
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
  explicit CloudShell(std::string endpoint) : endpoint_(std::move(endpoint)) {}
  std::string endpoint_;
  std::string config_error_;
};

}  // namespace mi
AZID_END
