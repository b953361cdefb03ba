// azid/credentials/managed_identity/workload_identity.hpp: mi::WorkloadIdentity, a
// ManagedIdentityCredential source policy that hands the request to WorkloadIdentityCredential
// when the pod runs with AKS workload identity.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "azid/config.hpp"
#include "azid/credentials/managed_identity/options.hpp"
#include "azid/detail/managed_identity.hpp"
#include "azid/detail/names.hpp"

AZID_BEGIN
namespace mi {

/// AKS workload identity (managed-identity.md §2, row 6): the webhook's AZURE_FEDERATED_TOKEN_FILE
/// and AZURE_TENANT_ID are set (AZURE_AUTHORITY_HOST is not needed: without it the inner
/// credential uses the default authority host, as WorkloadIdentityCredential does standalone).
/// The credential then exchanges the
/// projected service account token at Microsoft Entra exactly as WorkloadIdentityCredential does
/// (it is one, inside). The identity is the user-assigned client id if one was given, else
/// AZURE_CLIENT_ID; an object or resource id cannot name a federated identity.
/// DefaultAzureCredential turns this source off (`allow_workload_identity`) when its own
/// WorkloadIdentityCredential is excluded, at compile time or by AZURE_TOKEN_CREDENTIALS.
class WorkloadIdentity {
 public:
  static constexpr ManagedIdentitySource kind = ManagedIdentitySource::workload_identity;
  static constexpr int detection_rank = 5;
  static constexpr std::string_view requirement =
      "workload identity: AZURE_FEDERATED_TOKEN_FILE with AZURE_TENANT_ID (and AZURE_CLIENT_ID)";

  template <class P>
  [[nodiscard]] static std::optional<WorkloadIdentity> detect(
      const P& platform, const ManagedIdentityCredentialOptions& options) {
    if (!options.allow_workload_identity) return std::nullopt;
    const auto& env = platform.environment();
    auto file = env.get(names::azure_federated_token_file);
    auto tenant = env.get(names::azure_tenant_id);
    if (!file || !tenant) return std::nullopt;
    return WorkloadIdentity(std::move(*file), std::move(*tenant),
                            env.get(names::azure_client_id).has_value());
  }

  [[nodiscard]] std::string unsupported_identity(const ManagedIdentityId& id) const {
    using Kind = ManagedIdentityId::Kind;
    if (id.kind() == Kind::object_id || id.kind() == Kind::resource_id)
      return std::string(detail::msi::credential_name) +
             ": workload identity names its identity by client id only; pass the user-assigned "
             "client id (or "
             "set AZURE_CLIENT_ID) instead of an object or resource id.";
    if (id.kind() == Kind::system_assigned && !have_client_id_)
      return std::string(detail::msi::credential_name) +
             ": workload identity is configured (AZURE_FEDERATED_TOKEN_FILE) but no client id is: "
             "set "
             "AZURE_CLIENT_ID or pass the user-assigned client id.";
    return {};
  }

  [[nodiscard]] std::string describe() const {
    return "federated token file " + token_file_ + ", tenant " + tenant_;
  }

 private:
  WorkloadIdentity(std::string token_file, std::string tenant, bool have_client_id)
      : token_file_(std::move(token_file)),
        tenant_(std::move(tenant)),
        have_client_id_(have_client_id) {}
  std::string token_file_;
  std::string tenant_;
  bool have_client_id_ = false;
};

}  // namespace mi
AZID_END
