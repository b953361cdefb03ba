// azid/credentials/azure_developer_cli.hpp: AzureDeveloperCliCredential, the account signed in to
// the Azure Developer CLI (`azd auth token`) (models Credential).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/result.hpp"
#include "azid/detail/dev_tool.hpp"
#include "azid/platform/default_platform.hpp"

AZID_BEGIN

using AzureDeveloperCliCredentialOptions = DeveloperToolOptions;

/// Gets tokens from the Azure Developer CLI: runs `azd auth token --output json --no-prompt
/// --scope S... [--tenant-id T] [--claims B64]` directly (no shell), from /bin, with a timeout
/// that kills it. azd is found on the PATH of the platform's environment. Unlike the Azure CLI,
/// azd takes several scopes and can answer a claims challenge (base64 in `--claims`).
///
/// Errors: azd missing, not logged in, needing multi-factor sign-in, or timing out is
/// CredentialUnavailableError; azd failing otherwise or printing garbage is
/// ClientAuthenticationError (CredentialUnavailableError with within_default_chain). Messages
/// carry azd's stderr (trimmed, scrubbed), never its stdout.
///
/// Thread safety: get_token and try_get_token may be called concurrently on a const object.
template <detail::ToolPlatform P = DefaultPlatform>
class AzureDeveloperCliCredential {
 public:
  static constexpr std::string_view name = "AzureDeveloperCliCredential";

  /// @throws std::invalid_argument for an invalid tenant id or a non-positive timeout.
  explicit AzureDeveloperCliCredential(AzureDeveloperCliCredentialOptions options = {},
                                       P platform = P{})
      : tool_(name, std::move(platform),
              {std::move(options.tenant_id), std::move(options.additionally_allowed_tenants),
               options.process_timeout, options.within_default_chain, options.cache}) {}
  explicit AzureDeveloperCliCredential(P platform)
      : AzureDeveloperCliCredential(AzureDeveloperCliCredentialOptions{}, std::move(platform)) {}

  /// A token, or the reason there is none. Scopes and tenant are checked before azd is started.
  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const {
    if (const auto* hit = tool_.cached(ctx)) return TokenResult(*hit);
    // Messages are built only on failure: this runs on every cache hit.
    const auto refuse = [](std::string_view problem) {
      return TokenResult::invalid_argument(name, std::string(name) + ": " + std::string(problem));
    };
    if (ctx.scopes.empty()) return refuse(detail::azd_missing_scope_message);
    for (const auto& s : ctx.scopes)
      if (!detail::valid_scope(s)) return refuse(detail::invalid_scope_message);
    return tool_.get(
        name, ctx, {{"NO_COLOR", "true"}}, {"AZD_CONFIG_DIR"},
        [](std::string_view) { return TokenResult{}; },
        [&](std::string_view tenant) { return detail::azd_argv(ctx.scopes, tenant, ctx.claims); },
        [&](const ProcessResult& r, const std::error_code& ec,
            std::chrono::system_clock::time_point now) {
          return detail::azd_result(name, ctx.scopes, r, ec, tool_.process_timeout(), now);
        });
  }

  /// @throws CredentialUnavailableError, ClientAuthenticationError, std::invalid_argument (see
  /// try_get_token and the class comment).
  [[nodiscard]] AccessToken get_token(const TokenRequestContext& ctx) const {
    return try_get_token(ctx).value();
  }

  [[nodiscard]] const P& platform() const noexcept { return tool_.platform(); }

 private:
  detail::DevTool<P> tool_;
};

AZID_END
