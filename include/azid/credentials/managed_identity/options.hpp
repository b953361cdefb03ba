// azid/credentials/managed_identity/options.hpp: the values ManagedIdentityCredential is configured
// with: which identity (ManagedIdentityId), IMDS retry and probe settings, and the options struct.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "azid/cache/token_cache.hpp"
#include "azid/config.hpp"
#include "azid/core/retry.hpp"

AZID_BEGIN

/// The hosting environment a ManagedIdentityCredential talks to (managed-identity.md §2).
enum class ManagedIdentitySource {
  none,
  imds,
  app_service,
  azure_arc,
  service_fabric,
  cloud_shell,
  azure_ml,
  workload_identity
};

[[nodiscard]] constexpr std::string_view to_string(ManagedIdentitySource s) noexcept {
  switch (s) {
    case ManagedIdentitySource::none:
      return "none";
    case ManagedIdentitySource::imds:
      return "Azure Instance Metadata Service (IMDS)";
    case ManagedIdentitySource::app_service:
      return "App Service";
    case ManagedIdentitySource::azure_arc:
      return "Azure Arc";
    case ManagedIdentitySource::service_fabric:
      return "Service Fabric";
    case ManagedIdentitySource::cloud_shell:
      return "Cloud Shell";
    case ManagedIdentitySource::azure_ml:
      return "Azure Machine Learning";
    case ManagedIdentitySource::workload_identity:
      return "workload identity (AKS)";
  }
  return "?";
}

/// Which identity to ask for: the resource's system-assigned identity, or one user-assigned
/// identity named by its client id, object (principal) id or Azure resource id.
class ManagedIdentityId {
 public:
  enum class Kind { system_assigned, client_id, object_id, resource_id };

  ManagedIdentityId() = default;
  [[nodiscard]] static ManagedIdentityId system_assigned() { return {}; }
  [[nodiscard]] static ManagedIdentityId from_client_id(std::string id) {
    return {Kind::client_id, std::move(id)};
  }
  [[nodiscard]] static ManagedIdentityId from_object_id(std::string id) {
    return {Kind::object_id, std::move(id)};
  }
  /// `/subscriptions/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>`.
  [[nodiscard]] static ManagedIdentityId from_resource_id(std::string id) {
    return {Kind::resource_id, std::move(id)};
  }

  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] const std::string& value() const noexcept { return value_; }
  [[nodiscard]] bool user_assigned() const noexcept { return kind_ != Kind::system_assigned; }

 private:
  ManagedIdentityId(Kind k, std::string v) : kind_(k), value_(std::move(v)) {}
  Kind kind_ = Kind::system_assigned;
  std::string value_;
};

/// IMDS resilience (managed-identity.md §4.2 and §4.4). The defaults are the spec's; tests shrink them.
struct ImdsOptions {
  /// Retries after the first attempt, on 404, 408, 410, 429 and 5xx (but 501 and 505), and on a
  /// connection that was opened but did not produce a response.
  int max_retries = 5;
  /// Delay before retry n (1-based) is base_delay * 2^(n-1), at most max_delay, then jittered.
  std::chrono::milliseconds base_delay{2'000};
  std::chrono::milliseconds max_delay{60'000};
  /// Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter]; 0 disables it, and
  /// more than 1 counts as 1.
  double jitter = 0.2;
  /// While IMDS answers 410 (it is being upgraded, and promises to be back within 70 s), retry at
  /// least every `gone_interval` until `gone_window` has passed since the first attempt.
  std::chrono::milliseconds gone_window{70'000};
  std::chrono::milliseconds gone_interval{10'000};
  /// No retry starts (and no attempt runs) beyond this much time after the first attempt.
  std::chrono::milliseconds max_total{120'000};
  /// Connect timeout of the first request when probing (within_default_chain).
  std::chrono::milliseconds probe_connect_timeout{1'000};
};

/// Options of ManagedIdentityCredential.
struct ManagedIdentityCredentialOptions {
  /// A user-assigned identity, by at most one of these three; all empty: system-assigned.
  /// Setting more than one makes get_token fail with std::invalid_argument.
  std::string client_id;
  std::string object_id;
  std::string resource_id;

  /// Set by DefaultAzureCredential (and other chains): on IMDS, the first request is a probe
  /// whose only short timeout is the TCP connect (probe_connect_timeout), so a host that is not
  /// on Azure is given up on at once while a slow but present IMDS keeps the full `timeout`;
  /// and "no response" becomes CredentialUnavailableError so the chain moves on.
  bool within_default_chain = false;

  /// With AZURE_FEDERATED_TOKEN_FILE and AZURE_TENANT_ID set (AKS workload identity; the client id
  /// from AZURE_CLIENT_ID or `client_id`) and no other host source configured, exchange the federated token at Microsoft Entra
  /// as WorkloadIdentityCredential does (managed-identity.md §2, row 6). DefaultAzureCredential
  /// clears it when its own WorkloadIdentityCredential is excluded.
  bool allow_workload_identity = true;

  /// TCP connect timeout of every managed identity request; the endpoints are local or
  /// link-local, so a connect that takes longer means the endpoint is not there.
  std::chrono::milliseconds connect_timeout{2'000};
  /// Time allowed for one exchange once connected.
  std::chrono::milliseconds timeout{30'000};

  ImdsOptions imds;
  /// Retries of the other sources (App Service, Arc, Service Fabric, Cloud Shell, Azure ML):
  /// azure-core's default policy.
  RetryOptions retry;

  /// IMDS authority, e.g. "http://127.0.0.1:8080". Empty: AZURE_POD_IDENTITY_AUTHORITY_HOST,
  /// then http://169.254.169.254. Meant for tests and emulators.
  std::string imds_authority;
  /// Folder the Arc agent writes its challenge key files to. Empty: the OS's
  /// (`/var/opt/azcmagent/tokens` on Linux). Meant for tests and emulators.
  std::string arc_key_directory;
  /// The Arc agent binary whose presence means "Azure Arc" when IDENTITY_ENDPOINT and
  /// IMDS_ENDPOINT are unset. Unset ("default"): the OS's (`/opt/azcmagent/bin/himds`);
  /// empty: do not look.
  std::string arc_himds_path = "default";

  CachePolicy cache;
};

AZID_END
