// azid/credentials/azure_cli.hpp: AzureCliCredential, the account signed in to the Azure CLI
// (`az account get-access-token`) (models Credential).
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "azid/cache/token_cache.hpp"
#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/result.hpp"
#include "azid/detail/dev_tool.hpp"
#include "azid/platform/default_platform.hpp"

AZID_BEGIN

struct AzureCliCredentialOptions {
  /// Tenant to ask the CLI for (`--tenant`); empty: the CLI's current one, or the request's.
  std::string tenant_id;
  /// Tenants, besides `tenant_id`, that get_token may be asked for; "*" allows any.
  std::vector<std::string> additionally_allowed_tenants;
  /// Subscription name or id (`--subscription`): letters, digits, '_', '-', '.' and spaces only.
  std::string subscription;
  /// `az` is killed (with everything it started) when it takes longer.
  std::chrono::milliseconds process_timeout{10'000};
  /// Set by DefaultAzureCredential: every failure becomes CredentialUnavailableError.
  bool within_default_chain = false;
  CachePolicy cache;
};

/// Gets tokens from the Azure CLI: runs `az account get-access-token --output json --resource R
/// [--tenant T] [--subscription S]` directly (no shell), from /bin, with a timeout that kills it.
/// The CLI is found on the PATH of the platform's environment.
///
/// Errors (see README, Troubleshooting): `az` missing, or no account logged in, is
/// CredentialUnavailableError; `az` failing otherwise, or printing something that is not a
/// token, is ClientAuthenticationError (CredentialUnavailableError with within_default_chain);
/// a timeout is CredentialUnavailableError. Messages carry the CLI's stderr (trimmed, scrubbed),
/// never its stdout. A request with claims is refused with the `az login` command that satisfies it.
///
/// Thread safety: get_token and try_get_token may be called concurrently on a const object.
/// Tokens are cached per (scope, tenant); concurrent callers of one key share one `az` run.
template <detail::ToolPlatform P = DefaultPlatform>
class AzureCliCredential {
 public:
  static constexpr std::string_view name = "AzureCliCredential";

  /// @throws std::invalid_argument for an invalid tenant id, a subscription with characters that
  /// are unsafe on a command line (the troubleshooting guide's message), or a non-positive timeout.
  /// Nothing is run until the first get_token.
  explicit AzureCliCredential(AzureCliCredentialOptions options = {}, P platform = P{})
      : tool_(name, std::move(platform),
              {std::move(options.tenant_id), std::move(options.additionally_allowed_tenants),
               options.process_timeout, options.within_default_chain, options.cache}),
        subscription_(std::move(options.subscription)) {
    if (!subscription_.empty() && !detail::valid_subscription(subscription_))
      throw std::invalid_argument(detail::invalid_subscription_message(name, subscription_));
  }
  explicit AzureCliCredential(P platform)
      : AzureCliCredential(AzureCliCredentialOptions{}, std::move(platform)) {}

  /// A token, or the reason there is none (no exceptions for authentication failures). The scope
  /// and tenant are checked before `az` is started.
  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const {
    if (const auto* hit = tool_.cached(ctx)) return TokenResult(*hit);
    if (auto r = detail::check_single_scope(name, ctx); r.failure() != Failure::none) return r;
    const std::string_view resource = detail::scope_to_resource(ctx.scopes.front());
    return tool_.get(
        name, ctx, {{"AZURE_CORE_NO_COLOR", "true"}}, {"AZURE_CONFIG_DIR"},
        [&](std::string_view tenant) -> TokenResult {
          // The CLI cannot answer a claims challenge; say which login would.
          if (!ctx.claims.empty())
            return detail::az_claims_result(name, ctx.claims, ctx.scopes.front(), tenant);
          return {};
        },
        [&](std::string_view tenant) { return detail::az_argv(resource, tenant, subscription_); },
        [&](const ProcessResult& r, const std::error_code& ec,
            std::chrono::system_clock::time_point now) {
          return detail::az_result(name, r, ec, tool_.process_timeout(), now);
        });
  }

  /// @throws CredentialUnavailableError (CLI missing, not logged in, timed out, claims),
  /// ClientAuthenticationError (the CLI failed or printed garbage), std::invalid_argument (no
  /// scope, several scopes, an invalid scope or tenant).
  [[nodiscard]] AccessToken get_token(const TokenRequestContext& ctx) const {
    return try_get_token(ctx).value();
  }

  [[nodiscard]] const P& platform() const noexcept { return tool_.platform(); }
  [[nodiscard]] const std::string& subscription() const noexcept { return subscription_; }

 private:
  detail::DevTool<P> tool_;
  std::string subscription_;
};

AZID_END
