// azid/credentials/managed_identity/imds.hpp: mi::Imds, the Azure Instance Metadata Service source
// (VMs, scale sets, AKS with pod identity), a ManagedIdentityCredential source policy.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "azid/config.hpp"
#include "azid/core/result.hpp"
#include "azid/credentials/managed_identity/options.hpp"
#include "azid/detail/managed_identity.hpp"
#include "azid/detail/names.hpp"

AZID_BEGIN
namespace mi {

/// IMDS (managed-identity.md §4): `GET {authority}/metadata/identity/oauth2/token` with
/// `Metadata: true`, where the authority is http://169.254.169.254 or, for AKS pod identity,
/// AZURE_POD_IDENTITY_AUTHORITY_HOST. Always detected: it is the fallback of the source order.
/// Supports every kind of user-assigned id (client_id, object_id, msi_res_id).
class Imds {
 public:
  static constexpr ManagedIdentitySource kind = ManagedIdentitySource::imds;
  static constexpr int detection_rank = 6;
  static constexpr std::string_view requirement = "IMDS: reachable at 169.254.169.254 on Azure VMs";

  template <class P>
  [[nodiscard]] static std::optional<Imds> detect(const P& platform,
                                                  const ManagedIdentityCredentialOptions& o) {
    Imds s;
    std::string authority = o.imds_authority;
    if (authority.empty()) {
      if (auto pod = platform.environment().get(names::azure_pod_identity_authority_host)) {
        authority = *pod;
        s.pod_identity_ = true;
      }
    }
    if (authority.empty()) authority = std::string(names::imds_authority);
    std::string why;
    if (auto a = detail::msi::normalize_imds_authority(authority, why))
      s.authority_ = std::move(*a);
    else
      s.config_error_ = std::move(why);
    return s;
  }

  [[nodiscard]] static std::string unsupported_identity(const ManagedIdentityId&) { return {}; }

  [[nodiscard]] std::string describe() const {
    return "IMDS at " + authority_ +
           (pod_identity_ ? " (AKS pod identity, from AZURE_POD_IDENTITY_AUTHORITY_HOST)" : "");
  }

  template <class P>
  [[nodiscard]] TokenResult fetch(const P& platform, const detail::msi::Call& c,
                                  detail::msi::State& st) const {
    if (!config_error_.empty())
      return TokenResult::failed(
          detail::msi::credential_name,
          std::string(detail::msi::credential_name) + " authentication failed. " + config_error_);
    // The probe runs only inside a chain, and never for pod identity, whose NMI endpoint is
    // known to be there (managed-identity.md §4.2).
    return detail::msi::imds_fetch(platform, authority_, c.within_chain && !pod_identity_,
                                   pod_identity_, c, st);
  }

  [[nodiscard]] const std::string& authority() const noexcept { return authority_; }
  [[nodiscard]] bool pod_identity() const noexcept { return pod_identity_; }

 private:
  std::string authority_;
  std::string config_error_;
  bool pod_identity_ = false;
};

}  // namespace mi
AZID_END
