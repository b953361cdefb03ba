// examples/azid/default_chain.hpp: the default chain as the azid tool sees it at run time: its
// members in order, `--exclude KIND` as a mask over them, and each member on its own (for
// `azid doctor`) or all of them in order (for `azid token --credential default`).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "azid/core/access_token.hpp"
#include "azid/core/result.hpp"
#include "azid/platform/default_platform.hpp"
#include "cli.hpp"

namespace azid_cli {

/// One member of DefaultAzureCredential: its --exclude KIND, class name and README section.
struct MemberInfo {
  std::string_view kind;
  std::string_view name;
};

/// The default chain's order (default-and-chain.md §2.1); bit i of a mask is members[i].
inline constexpr std::array<MemberInfo, 6> default_members = {{
    {"environment", "EnvironmentCredential"},
    {"workload-identity", "WorkloadIdentityCredential"},
    {"managed-identity", "ManagedIdentityCredential"},
    {"azure-cli", "AzureCliCredential"},
    {"azure-powershell", "AzurePowerShellCredential"},
    {"azure-developer-cli", "AzureDeveloperCliCredential"},
}};
inline constexpr std::uint32_t all_members = (1u << default_members.size()) - 1;

/// `--exclude KIND...` as a mask of excluded members. @throws UsageError for an unknown KIND.
std::uint32_t parse_excludes(const std::vector<std::string>& kinds);

/// What AZURE_TOKEN_CREDENTIALS leaves in the chain (default-and-chain.md §2.3).
struct EnvSelection {
  std::string value;      ///< the variable as set ("" when unset)
  std::uint32_t enabled;  ///< members it keeps
  std::string error;      ///< non-empty when the value is invalid (the chain cannot be built)
};
EnvSelection token_credentials_from_env();

/// The options of the default chain taken from the command line (--managed-identity-client-id,
/// --authority-host, --additionally-allowed-tenant, --process-timeout).
struct ChainSettings {
  std::string managed_identity_client_id;
  std::string authority_host;
  std::vector<std::string> additionally_allowed_tenants;
  std::chrono::milliseconds process_timeout{10'000};
};
ChainSettings chain_settings(const Args& a);

/// --process-timeout SECONDS (at least 0.001, at most 3600), nullopt when not given; a bad value
/// is a UsageError. Bounds each developer tool's run.
std::optional<std::chrono::milliseconds> process_timeout_option(const Args& a);

/// A member's outcome when run on its own, as it runs within the default chain.
struct MemberRun {
  MemberInfo info;
  bool excluded = false;
  std::string excluded_by;  ///< "--exclude" or "AZURE_TOKEN_CREDENTIALS=<value>"
  azid::TokenResult result;
};

/// Runs every member that `excluded` does not name, each on its own and all at once (so the
/// whole run takes as long as the slowest member, bounded by the tools' process timeout and the
/// managed identity probe). Results are in chain order.
std::vector<MemberRun> run_members(const ChainSettings& s, const azid::DefaultPlatform& platform,
                                   const azid::TokenRequestContext& ctx,
                                   std::uint32_t excluded_by_option, const EnvSelection& env);

/// The default chain without the excluded members: the first member with a token wins, an
/// unavailable member passes to the next, any other failure stops. `credential` is the member
/// that produced the token.
azid::TokenResult default_chain_token(const ChainSettings& s, const azid::DefaultPlatform& platform,
                                      const azid::TokenRequestContext& ctx,
                                      std::uint32_t excluded_by_option, std::string& credential);

}  // namespace azid_cli
