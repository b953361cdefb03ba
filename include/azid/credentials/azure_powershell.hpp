// azid/credentials/azure_powershell.hpp: AzurePowerShellCredential, the account signed in to Azure
// PowerShell (`Get-AzAccessToken` through pwsh) (models Credential).
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
#include "azid/detail/redact.hpp"
#include "azid/platform/default_platform.hpp"

AZID_BEGIN

using AzurePowerShellCredentialOptions = DeveloperToolOptions;

/// Gets tokens from Azure PowerShell: runs `pwsh -NoProfile -NonInteractive -EncodedCommand ...`
/// (no shell; the script is passed base64-encoded) which loads Az.Accounts 2.2.0 or later and
/// prints `azsdk%<token>%<expiry>` from Get-AzAccessToken. pwsh is found on the PATH of the
/// platform's environment.
///
/// Errors: PowerShell missing, Az.Accounts missing or older than 2.2.0, no account connected,
/// execution policy, a failing script or a timeout are CredentialUnavailableError; output without
/// a token is ClientAuthenticationError (CredentialUnavailableError with within_default_chain).
/// Messages carry pwsh's stderr (trimmed, scrubbed), never its stdout.
///
/// Thread safety: get_token and try_get_token may be called concurrently on a const object.
template <detail::ToolPlatform P = DefaultPlatform>
class AzurePowerShellCredential {
 public:
  static constexpr std::string_view name = "AzurePowerShellCredential";

  /// @throws std::invalid_argument for an invalid tenant id or a non-positive timeout.
  explicit AzurePowerShellCredential(AzurePowerShellCredentialOptions options = {},
                                     P platform = P{})
      : tool_(name, std::move(platform),
              {std::move(options.tenant_id), std::move(options.additionally_allowed_tenants),
               options.process_timeout, options.within_default_chain, options.cache}) {}
  explicit AzurePowerShellCredential(P platform)
      : AzurePowerShellCredential(AzurePowerShellCredentialOptions{}, std::move(platform)) {}

  /// A token, or the reason there is none. The scope and tenant are checked before pwsh starts.
  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const {
    if (const auto* hit = tool_.cached(ctx)) return TokenResult(*hit);
    if (auto r = detail::check_single_scope(name, ctx); r.failure() != Failure::none) return r;
    const std::string_view resource = detail::scope_to_resource(ctx.scopes.front());
    return tool_.get(
        name, ctx, {}, {"PSModulePath"},
        [&](std::string_view) -> TokenResult {
          if (!ctx.claims.empty())
            return TokenResult::unavailable(name,
                                            std::string(name) +
                                                ": Failed to get token. Run Connect-AzAccount "
                                                "--ClaimsChallenge " +
                                                detail::printable(ctx.claims, ctx.claims.size()));
          return {};
        },
        [&](std::string_view tenant) { return detail::pwsh_argv(resource, tenant); },
        [&](const ProcessResult& r, const std::error_code& ec,
            std::chrono::system_clock::time_point now) {
          return detail::pwsh_result(name, r, ec, tool_.process_timeout(), now);
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
