// azid/credentials/workload_identity.hpp: WorkloadIdentityCredential, Kubernetes workload identity:
// a projected service account token exchanged for an Entra token (models Credential).
#pragma once

#include <optional>
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
#include "azid/detail/entra.hpp"
#include "azid/detail/names.hpp"
#include "azid/detail/validate.hpp"
#include "azid/platform/default_platform.hpp"

AZID_BEGIN

struct WorkloadIdentityCredentialOptions : EntraCredentialOptions {
  /// Empty: AZURE_TENANT_ID.
  std::string tenant_id;
  /// Empty: AZURE_CLIENT_ID.
  std::string client_id;
  /// File holding the federated token. Empty: AZURE_FEDERATED_TOKEN_FILE.
  std::string token_file_path;
};

/// Authenticates as an Entra app or user-assigned identity that trusts a Kubernetes service
/// account, by presenting the service account token the workload identity webhook projects into
/// the pod (token-endpoint.md §5). The webhook sets AZURE_CLIENT_ID, AZURE_TENANT_ID,
/// AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST; options override them.
///
/// The token file is read on the first token request and again once the copy is 10 minutes old
/// (Kubernetes rotates it), or after the STS refused it. A missing setting makes the credential
/// unavailable (not an exception at construction), so it can sit in a chain.
///
/// Thread safety: get_token and try_get_token may be called concurrently on a const object.
namespace detail {
struct WorkloadIdentityAsync;  // azid/async's hook after a refusal (async/get_token.hpp)
}  // namespace detail

template <Platform P = DefaultPlatform>
class WorkloadIdentityCredential {
 public:
  static constexpr std::string_view name = "WorkloadIdentityCredential";

  /// Never throws for missing or malformed environment values (they surface at get_token).
  /// @throws std::invalid_argument for an invalid `options.tenant_id` or an
  /// `options.authority_host` that is not https.
  explicit WorkloadIdentityCredential(WorkloadIdentityCredentialOptions options = {},
                                      P platform = P{})
      : platform_(std::move(platform)) {
    if (!options.tenant_id.empty() && !detail::valid_tenant_id(options.tenant_id))
      throw std::invalid_argument(std::string(detail::invalid_tenant_message));
    if (!options.authority_host.empty())
      (void)detail::checked_authority(name, options.authority_host);
    const auto& env = platform_.environment();
    auto pick = [&](std::string& value, std::string_view var) {
      if (value.empty()) value = env.get(var).value_or("");
    };
    pick(options.tenant_id, names::azure_tenant_id);
    pick(options.client_id, names::azure_client_id);
    pick(options.token_file_path, names::azure_federated_token_file);
    if (options.tenant_id.empty() || options.client_id.empty() || options.token_file_path.empty()) {
      unavailable_ = unconfigured_message(options);
      return;
    }
    if (options.additionally_allowed_tenants.empty())
      if (auto list = env.get(names::azure_additionally_allowed_tenants))
        options.additionally_allowed_tenants = detail::split_tenant_list(*list);
    try {
      client_.emplace(name, platform_, options.tenant_id, options.client_id, options);
    } catch (const std::invalid_argument& e) {
      // AZURE_TENANT_ID (or tenant_id) or AZURE_AUTHORITY_HOST is malformed: say which.
      invalid_ = detail::valid_tenant_id(options.tenant_id)
                     ? std::string(e.what())  // already names the credential
                     : std::string(name) + ": the tenant ID (tenant_id or " +
                           std::string(names::azure_tenant_id) + ") is not valid. " + e.what();
      return;
    }
    token_file_.emplace(std::move(options.token_file_path));
  }

  /// A token, or the reason there is none (no exceptions for authentication failures).
  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const {
    if (!invalid_.empty()) return TokenResult::invalid_argument(name, invalid_);
    if (!client_) return TokenResult::unavailable(name, unavailable_);
    TokenResult r = client_->get(name, ctx, [this](std::string_view, std::string& fields) {
      std::string assertion;
      if (auto e = token_file_->read(name, client_->platform(), assertion);
          e.failure() != Failure::none)
        return e;
      detail::append_client_assertion(fields, assertion);
      return TokenResult{};
    });
    // A refused token may have been rotated since it was read: read the file afresh next time.
    if (!r.ok() && r.error_info().sts) token_file_->forget();
    return r;
  }

  /// @throws CredentialUnavailableError when client id, tenant id or token file is not
  /// configured, ClientAuthenticationError when the file cannot be read or the STS refuses.
  [[nodiscard]] AccessToken get_token(const TokenRequestContext& ctx) const {
    return try_get_token(ctx).value();
  }

  /// The platform (a handle: the client inside shares it), configured or not.
  [[nodiscard]] const P& platform() const noexcept { return platform_; }

 private:
  static std::string unconfigured_message(const WorkloadIdentityCredentialOptions& o) {
    std::string missing;
    auto add = [&](std::string_view option, std::string_view var) {
      if (!missing.empty()) missing += "; ";
      missing += std::string(option) + " or " + std::string(var);
    };
    if (o.tenant_id.empty()) add("tenant_id", names::azure_tenant_id);
    if (o.client_id.empty()) add("client_id", names::azure_client_id);
    if (o.token_file_path.empty()) add("token_file_path", names::azure_federated_token_file);
    // The guide's sentence and the troubleshooting link as upstream words them, then what is missing.
    return "WorkloadIdentityCredential authentication unavailable. The workload options are not "
           "fully configured. See the troubleshooting guide for more information: "
           "https://aka.ms/azsdk/python/identity/workloadidentitycredential/troubleshoot (not "
           "set: " +
           missing + ").";
  }

  P platform_;
  std::optional<detail::ConfidentialClient<P>> client_;
  std::optional<detail::TokenFile> token_file_;
  std::string unavailable_;
  std::string invalid_;

  friend struct detail::WorkloadIdentityAsync;
};

AZID_END
