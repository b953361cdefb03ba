// azid/detail/confidential_client.hpp: what every Entra token-endpoint credential shares: authority
// and tenant rules, the cache, the request, retries and logging. Credentials add their client
// authentication (secret, certificate assertion, federated assertion).
#pragma once

#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "azid/cache/token_cache.hpp"
#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/log.hpp"
#include "azid/core/result.hpp"
#include "azid/detail/call_context.hpp"
#include "azid/detail/caller.hpp"
#include "azid/detail/entra.hpp"
#include "azid/detail/http_driver.hpp"
#include "azid/detail/names.hpp"
#include "azid/detail/redact.hpp"
#include "azid/detail/url.hpp"
#include "azid/detail/validate.hpp"

AZID_BEGIN

/// Options shared by the credentials that call the Microsoft Entra token endpoint.
struct EntraCredentialOptions {
  /// Authority host, e.g. AuthorityHosts::azure_china. Empty: AZURE_AUTHORITY_HOST, then the
  /// public cloud. Must be https.
  std::string authority_host;
  /// Tenants, besides the configured one, that get_token may be asked for; "*" allows any.
  std::vector<std::string> additionally_allowed_tenants;
  /// Accepted for parity with other SDKs; azid never performs instance discovery.
  bool disable_instance_discovery = false;
  RetryOptions retry;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds timeout{30'000};
  CachePolicy cache;
};

namespace detail {

/// `host` as the authority of `credential`'s token requests (spec README R3): normalised, and a
/// URL the transport can use. A value that passes normalize_authority's character rules but is no
/// URL (`https:/host`, a port that is not a number, an unclosed IPv6 bracket) is refused here,
/// at construction, not at the first request, where it would look like a failed authentication
/// and stop a chain.
/// @throws std::invalid_argument naming the credential, the value quoted without secrets.
[[nodiscard]] inline std::string checked_authority(std::string_view credential,
                                                   std::string_view host) {
  std::string why;
  auto normalized = normalize_authority(host, why);
  if (!normalized) throw std::invalid_argument(std::string(credential) + ": " + why);
  if (Url parsed; parse_url(*normalized + "/tenant/oauth2/v2.0/token", parsed))
    throw std::invalid_argument(std::string(credential) + ": " + invalid_authority_message(host));
  return std::move(*normalized);
}

/// What ConfidentialClient::get records, instead of fetching, while a PlanScope is active on the
/// calling thread. azid/async calls a credential's try_get_token under a PlanScope to learn the
/// tenant and the client authentication it would use (validation and tenant rules run as usual;
/// a cache hit returns the token), then performs the same exchange asynchronously.
struct ConfidentialPlan {
  const void* platform = nullptr;     ///< the client's P
  const TokenCache* cache = nullptr;  ///< the client's cache
  std::string tenant;                 ///< resolved
  std::string endpoint;               ///< token endpoint of that tenant
  std::string client_id;
  std::function<TokenResult(std::string_view, std::string&)>
      auth;                             ///< the credential's client authentication
  const std::string* secret = nullptr;  ///< redact_secrets() these from failures (may be empty)
  const std::string* secret_encoded = nullptr;
  Failure sts_failure = Failure::failed;
  RetryOptions retry;
  std::chrono::milliseconds connect_timeout{};
  std::chrono::milliseconds timeout{};
  std::string tenant_note;  ///< resolve_tenant's decision, logged at INFO when the fetch runs
  bool captured = false;
};
inline ConfidentialPlan*& active_plan() noexcept { return call_context().plan; }
/// Makes `plan` the calling thread's plan for its lifetime.
class PlanScope {
 public:
  explicit PlanScope(ConfidentialPlan& plan) noexcept
      : previous_(std::exchange(active_plan(), &plan)) {}
  ~PlanScope() { active_plan() = previous_; }
  PlanScope(const PlanScope&) = delete;
  PlanScope& operator=(const PlanScope&) = delete;

 private:
  ConfidentialPlan* previous_;
};

/// The value of form field `name` in `fields` (as appended: URL-encoded), or empty.
[[nodiscard]] inline std::string_view form_field(std::string_view fields,
                                                 std::string_view name) noexcept {
  std::size_t at = 0;
  while (at < fields.size()) {
    std::size_t end = fields.find('&', at);
    if (end == std::string_view::npos) end = fields.size();
    const std::string_view item = fields.substr(at, end - at);
    if (item.size() > name.size() && item.compare(0, name.size(), name) == 0 &&
        item[name.size()] == '=')
      return item.substr(name.size() + 1);
    at = end + 1;
  }
  return {};
}

/// `r` with every occurrence of each non-empty secret replaced by REDACTED, in its message and in
/// the STS fields a caller might print. Only failures are touched; a success is returned as is.
[[nodiscard]] inline TokenResult redact_secrets(TokenResult r,
                                                std::initializer_list<std::string_view> secrets) {
  if (r.ok() || r.failure() == Failure::none) return r;
  auto found_in = [&](const std::string& text) {
    for (std::string_view s : secrets)
      if (!s.empty() && text.find(s) != std::string::npos) return true;
    return false;
  };
  const ErrorInfo& e = r.error_info();
  const bool in_sts = e.sts && (found_in(e.sts->error_description) || found_in(e.sts->error) ||
                                found_in(e.sts->suberror) || found_in(e.sts->claims));
  if (!found_in(e.message) && !in_sts && !found_in(e.claims)) return r;
  auto scrub = [&](std::string& text) {
    for (std::string_view s : secrets) redact_all(text, s);
  };
  ErrorInfo info = e;
  scrub(info.message);
  if (info.sts) {
    scrub(info.sts->error_description);
    scrub(info.sts->error);
    scrub(info.sts->suberror);
    scrub(info.sts->claims);
  }
  scrub(info.claims);
  return TokenResult::error(r.failure(), std::move(info));
}

/// An AuthenticationRequiredError names the scopes of the request that needs the interaction
/// (ErrorInfo::scopes); any other result is returned as is.
[[nodiscard]] inline TokenResult with_request_scopes(TokenResult r,
                                                     const TokenRequestContext& ctx) {
  if (r.failure() != Failure::auth_required) return r;
  ErrorInfo info = r.error_info();
  info.scopes = ctx.scopes;
  return TokenResult::error(Failure::auth_required, std::move(info));
}

[[nodiscard]] inline bool env_flag(const std::optional<std::string>& v) {
  return v && (*v == "1" || iequals(*v, "true"));
}

template <class P>
class ConfidentialClient {
 public:
  /// Throws std::invalid_argument for a caller mistake: an invalid tenant, an empty client id,
  /// an authority that is not https.
  ConfidentialClient(std::string_view credential, P platform, std::string tenant_id,
                     std::string client_id, const EntraCredentialOptions& opts)
      : platform_(std::move(platform)),
        tenant_(std::move(tenant_id)),
        client_id_(std::move(client_id)),
        allowed_(opts.additionally_allowed_tenants),
        retry_(opts.retry),
        connect_timeout_(opts.connect_timeout),
        timeout_(opts.timeout),
        cache_(opts.cache) {
    if (tenant_.empty())
      throw std::invalid_argument(std::string(credential) +
                                  ": 'tenant_id' is required and must not be empty");
    if (!valid_tenant_id(tenant_)) throw std::invalid_argument(std::string(invalid_tenant_message));
    if (client_id_.empty())
      throw std::invalid_argument(std::string(credential) +
                                  ": 'client_id' is required and must not be empty");
    std::string host = opts.authority_host;
    if (host.empty()) host = platform_.environment().get(names::azure_authority_host).value_or("");
    if (host.empty()) host = std::string(names::authority_public);
    authority_ = checked_authority(credential, host);
    multitenant_disabled_ =
        env_flag(platform_.environment().get(names::azure_identity_disable_multitenantauth));
  }

  /// Gets a token for `ctx`. `auth(endpoint, fields)` appends the client authentication form
  /// fields and returns an empty TokenResult, or returns the error that prevents the request.
  /// STS refusals fail with `sts_failure` (AzurePipelinesCredential reports auth_required).
  template <class Auth>
  TokenResult get(std::string_view credential, const TokenRequestContext& ctx, Auth&& auth,
                  Failure sts_failure = Failure::failed) const {
    // A cached token for the credential's own tenant: the hit path, kept apart from the rest.
    if (!ctx.scopes.empty() && ctx.tenant_id.empty() && ctx.claims.empty()) {
      if (const auto* token = TokenCacheHitPath::find(cache_, ctx, tenant_, platform_.clock())) {
        if (platform_.logger().enabled(LogLevel::info)) [[unlikely]]  // debug implies info
          return logged_hit(credential, *token);
        return TokenResult(*token);
      }
    }
    return get_uncached(credential, ctx, std::forward<Auth>(auth), sts_failure);
  }

 private:
  // Copies the token before the sink runs (the sink may call into another cache on this thread).
  [[gnu::noinline]] TokenResult logged_hit(std::string_view credential,
                                           const std::shared_ptr<const AccessToken>& token) const {
    TokenResult result(token);
    log_outcome(platform_.logger(), credential, result, current_caller().in_chain);
    return result;
  }

  template <class Auth>
  [[gnu::noinline]] TokenResult get_uncached(std::string_view credential,
                                             const TokenRequestContext& ctx, Auth&& auth,
                                             Failure sts_failure) const {
    if (ctx.scopes.empty())
      return TokenResult::invalid_argument(credential, std::string(no_scope_message));
    std::string_view tenant = tenant_;
    TenantDecision decision = TenantDecision::none;  // logged when a token is fetched
    if (!ctx.tenant_id.empty()) {  // the common case (no tenant requested) stays inline
      if (auto r = resolve_tenant(credential, tenant_, ctx.tenant_id, allowed_,
                                  multitenant_disabled_, tenant, &decision);
          r.failure() != Failure::none) {
        log_outcome(platform_.logger(), credential, r, current_caller().in_chain);
        return r;
      }
    }
    if (ConfidentialPlan* plan = active_plan(); plan != nullptr) [[unlikely]] {
      plan->platform = &platform_;
      plan->cache = &cache_;
      plan->tenant.assign(tenant);
      plan->endpoint = token_endpoint(authority_, tenant);
      plan->client_id = client_id_;
      plan->auth = auth;
      plan->sts_failure = sts_failure;
      plan->retry = retry_;
      plan->connect_timeout = connect_timeout_;
      plan->timeout = timeout_;
      if (decision != TenantDecision::none && platform_.logger().enabled(LogLevel::info))
        plan->tenant_note = tenant_decision_line(credential, decision, tenant_, ctx.tenant_id);
      plan->secret = &secret_;
      plan->secret_encoded = &secret_encoded_;
      plan->captured = true;
      return TokenResult::failed(credential, std::string(credential) + ": planned, not fetched");
    }
    TokenResult result = cache_.get_or_fetch(ctx, tenant, platform_.clock(), [&]() -> TokenResult {
      log_tenant_decision(platform_.logger(), credential, decision, tenant_, ctx.tenant_id);
      const std::string endpoint = token_endpoint(authority_, tenant);
      std::string fields;
      if (auto r = auth(std::string_view(endpoint), fields); r.failure() != Failure::none) return r;
      HttpRequest req = make_client_credentials_request(endpoint, client_id_, ctx, fields);
      req.connect_timeout = connect_timeout_;
      req.timeout = timeout_;
      const auto request_time = platform_.clock().now();
      std::error_code ec;
      HttpResponse res = send_with_retry(platform_, req, retry_, ec);
      // A signed assertion (or federated token) echoed back by the STS or a proxy, in whatever
      // form, never reaches the message: it is valid for minutes and can be replayed.
      const std::string_view sent = form_field(fields, "client_assertion");
      return with_request_scopes(
          redact_secrets(token_result(credential, endpoint, res, ec, request_time, sts_failure),
                         {sent, percent_decode(sent, true)}),
          ctx);
    });
    if (!result.ok() && !secret_.empty())
      result = redact_secrets(std::move(result), {secret_, secret_encoded_});
    log_outcome(platform_.logger(), credential, result, current_caller().in_chain);
    return result;
  }

 public:
  /// A secret of the credential's (the client secret) that must never appear in a failure, even
  /// echoed inside an STS's JSON: failures carry REDACTED instead, raw and URL-encoded forms alike.
  void redact_in_failures(std::string_view secret) {
    secret_.assign(secret);
    secret_encoded_ = url_encode(secret);
  }
  [[nodiscard]] const P& platform() const noexcept { return platform_; }
  [[nodiscard]] const std::string& authority() const noexcept { return authority_; }
  [[nodiscard]] const std::string& tenant_id() const noexcept { return tenant_; }
  [[nodiscard]] const std::string& client_id() const noexcept { return client_id_; }

 private:
  P platform_;
  std::string tenant_;
  std::string client_id_;
  std::string authority_;
  std::vector<std::string> allowed_;
  RetryOptions retry_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds timeout_;
  bool multitenant_disabled_ = false;
  std::string secret_;
  std::string secret_encoded_;
  TokenCache cache_;
};

}  // namespace detail
AZID_END
