// azid/detail/entra.hpp: the Microsoft Entra token endpoint request and response, shared by every
// confidential-client credential (secret, certificate, assertion, workload identity, pipelines).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/log.hpp"
#include "azid/core/result.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN
namespace detail {

/// A random (version 4) UUID, lowercase, for `client-request-id` and JWT ids.
AZID_DECL std::string new_uuid();

/// `{authority}/{tenant}/oauth2/v2.0/token`, or for an AD FS tenant (`adfs`, any case, as on
/// Azure Stack Hub) its v1 endpoint `{authority}/adfs/oauth2/token` (spec README R2).
AZID_DECL std::string token_endpoint(std::string_view authority, std::string_view tenant);

/// Whether `endpoint` (from token_endpoint) is the AD FS v1 one.
[[nodiscard]] inline bool adfs_endpoint(std::string_view endpoint) noexcept {
  return endpoint.ends_with("/oauth2/token");
}

/// The `claims` form value: the challenge claims, merged with the CAE client capability
/// (`{"access_token":{"xms_cc":{"values":["CP1"]}}}`) when `enable_cae`. Empty when neither.
AZID_DECL std::string request_claims(std::string_view claims, bool enable_cae);

/// A client-credentials POST to `endpoint`: grant_type, client_id, scope (space-joined; for AD FS
/// the resource form, a single scope without its `/.default`), claims when needed, then `auth_fields` (already form-encoded, e.g. `client_secret=...`), with the
/// client identification headers of spec README R4.
AZID_DECL HttpRequest make_client_credentials_request(std::string_view endpoint,
                                                      std::string_view client_id,
                                                      const TokenRequestContext& ctx,
                                                      std::string_view auth_fields);

/// `key=value` form-encoded (both parts percent-encoded), prefixed with '&' when `out` is not empty.
AZID_DECL void append_form(std::string& out, std::string_view key, std::string_view value);

/// Interprets a token endpoint exchange: a token on 200 with a usable body; otherwise the
/// failure, named after `credential`, with the STS fields and the guide's advice for known
/// AADSTS codes. STS errors fail with `sts_failure` (Failure::failed, or auth_required for the
/// federated pipelines flow). Never includes the request body or a token.
AZID_DECL TokenResult token_result(std::string_view credential, std::string_view endpoint,
                                   const HttpResponse& res, const std::error_code& ec,
                                   std::chrono::system_clock::time_point request_time,
                                   Failure sts_failure = Failure::failed);

/// What the multi-tenant rules decided, for the INFO line of a fetch (steps 2 and 4 of
/// caching-and-tenants.md §5; the others need no line).
enum class TenantDecision : unsigned char {
  none,
  kept_multitenant_disabled,  ///< the configured tenant, AZURE_IDENTITY_DISABLE_MULTITENANTAUTH
  kept_adfs,                  ///< the configured tenant, an ADFS authority
  allowed_by_name,            ///< the requested tenant, listed in additionally_allowed_tenants
  allowed_any,                ///< the requested tenant, additionally_allowed_tenants has "*"
};

/// Multi-tenant rules (caching-and-tenants.md §5). On success sets `out` to the tenant to use
/// and returns an empty result; otherwise returns the error to hand back. `*decision` (when not
/// null) tells what was decided, without allocating: cross-tenant cache hits pass here too. The
/// caller logs tenant_decision_line at INFO when it fetches a token (once per fetch, not per
/// planning pass or hit).
AZID_DECL TokenResult resolve_tenant(std::string_view credential, std::string_view configured,
                                     std::string_view requested,
                                     const std::vector<std::string>& allowed,
                                     bool multitenant_disabled, std::string_view& out,
                                     TenantDecision* decision = nullptr);
/// The INFO line for `decision`; empty for TenantDecision::none.
AZID_DECL std::string tenant_decision_line(std::string_view credential, TenantDecision decision,
                                           std::string_view configured, std::string_view requested);
/// Writes tenant_decision_line to `log` at INFO; nothing for TenantDecision::none or with INFO off
/// (the line is then not even built).
inline void log_tenant_decision(const Logger& log, std::string_view credential,
                                TenantDecision decision, std::string_view configured,
                                std::string_view requested) {
  if (decision != TenantDecision::none && log.enabled(LogLevel::info))
    log.write(LogLevel::info, tenant_decision_line(credential, decision, configured, requested));
}

/// Splits `AZURE_ADDITIONALLY_ALLOWED_TENANTS` on ';', dropping empty items.
AZID_DECL std::vector<std::string> split_tenant_list(std::string_view value);

}  // namespace detail
AZID_END

#if defined(AZID_HEADER_ONLY)
#include "azid/impl/entra.ipp"
#endif
