// azid/detail/dev_tool.hpp: what the developer-tool credentials (Azure CLI, Azure Developer CLI,
// Azure PowerShell) share: input rules, the tools' command lines and output formats, error
// texts, and DevTool<P>, which validates, resolves the tenant, caches and runs the tool.
#pragma once

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "azid/cache/token_cache.hpp"
#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/log.hpp"
#include "azid/core/result.hpp"
#include "azid/detail/call_context.hpp"
#include "azid/detail/caller.hpp"
#include "azid/detail/entra.hpp"
#include "azid/detail/names.hpp"
#include "azid/detail/validate.hpp"
#include "azid/platform/process_runner.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN

/// Options of AzureDeveloperCliCredential and AzurePowerShellCredential (AzureCliCredentialOptions
/// has the same fields plus `subscription`).
struct DeveloperToolOptions {
  /// Tenant to ask the tool for; empty: the tool's default (or the request's tenant_id).
  std::string tenant_id;
  /// Tenants, besides `tenant_id`, that get_token may be asked for; "*" allows any. Unused when
  /// `tenant_id` is empty (then any requested tenant is passed to the tool).
  std::vector<std::string> additionally_allowed_tenants;
  /// The tool is killed (with everything it started) when it takes longer.
  std::chrono::milliseconds process_timeout{10'000};
  /// Set by DefaultAzureCredential: every failure becomes CredentialUnavailableError so the chain
  /// goes on to its next member.
  bool within_default_chain = false;
  CachePolicy cache;
};

namespace detail {

/// POSIX working directory of the tools, so a program planted in the application's directory is
/// never picked up (developer-tools.md, common rules).
inline constexpr std::string_view tool_working_directory = "/bin";
/// Each of the tool's stdout and stderr; token output is a few KiB.
inline constexpr std::size_t tool_max_output_bytes = 1024 * 1024;
inline constexpr std::string_view one_scope_message =
    "This credential requires exactly one scope per token request.";
inline constexpr std::string_view azd_missing_scope_message = "Missing scope in request.";
inline constexpr std::string_view subscription_help_url =
    "https://learn.microsoft.com/azure/azure-portal/get-subscription-tenant-id";

/// Subscription names and ids: letters, digits, '_', '-', '.' and space (spec README R5).
[[nodiscard]] constexpr bool valid_subscription(std::string_view s) noexcept {
  if (s.empty() || s.front() == '-') return false;  // `-h` would be an option of az's own
  for (char c : s)
    if (!is_alnum(c) && c != '_' && c != '-' && c != '.' && c != ' ') return false;
  return true;
}

/// The troubleshooting guide's text for a subscription the command line must not carry.
AZID_DECL std::string invalid_subscription_message(std::string_view credential,
                                                   std::string_view subscription);

/// The resource a v1-style tool takes for `scope`: the scope without a trailing `/.default`. A
/// view into `scope` (the cache-hit path of az and pwsh builds no string).
constexpr std::string_view scope_to_resource(std::string_view scope) noexcept {
  constexpr std::string_view suffix = "/.default";
  if (scope.size() >= suffix.size() && scope.substr(scope.size() - suffix.size()) == suffix)
    scope.remove_suffix(suffix.size());
  return scope;
}

/// A tool's stderr made fit for an error message: colour escapes and control characters gone,
/// token-like values (`"accessToken": "..."`, JWTs) replaced by `***`, whitespace trimmed,
/// at most `max_bytes`.
AZID_DECL std::string tool_stderr_text(std::string_view err, std::size_t max_bytes = 1024);

/// `10 s`, `1.5 s` or `300 ms`.
AZID_DECL std::string format_timeout(std::chrono::milliseconds d);

/// Parses `az account get-access-token --output json`: `accessToken`, then the epoch
/// `expires_on` when present, else `expiresOn` as a local time (`%Y-%m-%d %H:%M:%S[.%f]`).
/// Errors: errc::malformed_json, errc::missing_field, errc::invalid_expiry.
AZID_DECL std::error_code parse_az_token(std::string_view out,
                                         std::chrono::system_clock::time_point now,
                                         AccessToken& token);

/// Parses `azd auth token --output json`: `token` and the RFC 3339 `expiresOn`.
AZID_DECL std::error_code parse_azd_token(std::string_view out,
                                          std::chrono::system_clock::time_point now,
                                          AccessToken& token);

/// Parses the PowerShell script's output: the first whitespace-separated word starting with
/// `azsdk%` is `azsdk%<token>%<epoch seconds>`.
AZID_DECL std::error_code parse_pwsh_token(std::string_view out,
                                           std::chrono::system_clock::time_point now,
                                           AccessToken& token);

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` in the local time zone, as Unix seconds.
AZID_DECL std::optional<long long> parse_local_time(std::string_view text);

/// argv of `az account get-access-token`.
AZID_DECL std::vector<std::string> az_argv(std::string_view resource, std::string_view tenant,
                                           std::string_view subscription);
/// argv of `azd auth token`; `claims` (JSON) goes base64-encoded in `--claims`.
AZID_DECL std::vector<std::string> azd_argv(const std::vector<std::string>& scopes,
                                            std::string_view tenant, std::string_view claims);
/// The PowerShell script that prints `azsdk%<token>%<expiry>` (or NO_AZ_ACCOUNT_MODULE).
AZID_DECL std::string pwsh_script(std::string_view resource, std::string_view tenant);
/// argv of `pwsh -NoProfile -NonInteractive -EncodedCommand <base64 UTF-16LE script>`.
AZID_DECL std::vector<std::string> pwsh_argv(std::string_view resource, std::string_view tenant);

/// What a finished (or failed) tool run means, as the credential's TokenResult: `ec` is the
/// runner's error, `timeout` goes into the timeout message, `now` checks the expiry. azd's
/// `scopes` go into its multi-factor login hint. Never quotes the tool's stdout.
AZID_DECL TokenResult az_result(std::string_view credential, const ProcessResult& r,
                                const std::error_code& ec, std::chrono::milliseconds timeout,
                                std::chrono::system_clock::time_point now);
AZID_DECL TokenResult azd_result(std::string_view credential,
                                 const std::vector<std::string>& scopes, const ProcessResult& r,
                                 const std::error_code& ec, std::chrono::milliseconds timeout,
                                 std::chrono::system_clock::time_point now);
AZID_DECL TokenResult pwsh_result(std::string_view credential, const ProcessResult& r,
                                  const std::error_code& ec, std::chrono::milliseconds timeout,
                                  std::chrono::system_clock::time_point now);

/// The CredentialUnavailableError for a claims challenge the Azure CLI cannot satisfy.
AZID_DECL TokenResult az_claims_result(std::string_view credential, std::string_view claims,
                                       std::string_view scope, std::string_view tenant);

/// Checks a request for a resource-based tool (exactly one valid scope). Empty result when fine.
AZID_DECL TokenResult check_single_scope(std::string_view credential,
                                         const TokenRequestContext& ctx);

template <class P>
concept ToolPlatform = Platform<P> && requires(const P& p) {
  requires ProcessRunner<std::remove_cvref_t<decltype(p.process_runner())>>;
};

/// What DevTool::get does while a DevToolPlanScope is active on the calling thread (azid/async):
/// `capture` records the cache and the resolved tenant instead of running the tool (requests
/// refused before any process still get their answer); `direct` runs the tool without the cache,
/// whose single flight the asynchronous caller already holds.
struct DevToolPlan {
  enum class Mode { capture, direct };
  Mode mode = Mode::capture;
  const TokenCache* cache = nullptr;
  std::string tenant;
  bool captured = false;
};
inline DevToolPlan*& active_dev_tool_plan() noexcept { return call_context().tool_plan; }
/// Makes `plan` the calling thread's plan for its lifetime.
class DevToolPlanScope {
 public:
  explicit DevToolPlanScope(DevToolPlan& plan) noexcept
      : previous_(std::exchange(active_dev_tool_plan(), &plan)) {}
  ~DevToolPlanScope() { active_dev_tool_plan() = previous_; }
  DevToolPlanScope(const DevToolPlanScope&) = delete;
  DevToolPlanScope& operator=(const DevToolPlanScope&) = delete;

 private:
  DevToolPlan* previous_;
};

/// The part of the three developer-tool credentials that is the same: tenant rules, the cache,
/// the child's environment and working directory, logging, and the DefaultAzureCredential mode.
template <class P>
class DevTool {
 public:
  struct Config {
    std::string tenant_id;
    std::vector<std::string> additionally_allowed_tenants;
    std::chrono::milliseconds process_timeout;
    bool within_default_chain;
    CachePolicy cache;
  };

  /// @throws std::invalid_argument for an invalid tenant id or a timeout that is not positive.
  DevTool(std::string_view credential, P platform, Config config)
      : platform_(std::move(platform)),
        tenant_(std::move(config.tenant_id)),
        allowed_(std::move(config.additionally_allowed_tenants)),
        timeout_(config.process_timeout),
        within_chain_(config.within_default_chain),
        cache_(config.cache) {
    if (!tenant_.empty() && !valid_tenant_id(tenant_))
      throw std::invalid_argument(std::string(credential) + ": " +
                                  std::string(invalid_tenant_message));
    if (timeout_ <= std::chrono::milliseconds::zero())
      throw std::invalid_argument(std::string(credential) + ": 'process_timeout' must be positive");
    const auto flag = platform_.environment().get(names::azure_identity_disable_multitenantauth);
    multitenant_disabled_ = flag && (*flag == "1" || iequals(*flag, "true"));
  }

  /// `check(tenant)` returns an empty result or the error that stops the request before any
  /// process starts; `argv(tenant)` the command line; `interpret(result, ec, now)` the outcome.
  /// `tool_env` is set in the child; `forward` names variables copied from the platform's
  /// environment (PATH and HOME always are).
  template <class Check, class Argv, class Interpret>
  TokenResult get(std::string_view credential, const TokenRequestContext& ctx,
                  std::initializer_list<std::pair<std::string_view, std::string_view>> tool_env,
                  std::initializer_list<std::string_view> forward, Check&& check, Argv&& argv,
                  Interpret&& interpret) const {
    TokenResult result = get_impl(credential, ctx, tool_env, forward, check, argv, interpret);
    if (const DevToolPlan* plan = active_dev_tool_plan();
        plan != nullptr && plan->mode == DevToolPlan::Mode::capture && plan->captured) [[unlikely]]
      return result;  // planned, not run: nothing to convert or log
    // Inside DefaultAzureCredential a developer tool that ran and failed must not stop the chain
    // (developer-tools.md: `within_dac`). Argument errors stay what they are.
    const Caller& caller = current_caller();
    if ((within_chain_ || caller.in_default_chain) &&
        (result.failure() == Failure::failed || result.failure() == Failure::auth_required))
      result = TokenResult::error(Failure::unavailable, result.error_info());
    log_outcome(platform_.logger(), credential, result, within_chain_ || caller.in_chain);
    return result;
  }

  /// The hit path, tried before the request is checked: a fresh cached token for the credential's
  /// own tenant, found without a lock or an allocation, or nullptr. Only a request that passed the
  /// checks ever put a token under its key, so a hit needs none of them. Requests naming a tenant or
  /// claims, an active plan (azid/async) and a logger at INFO (the hit is logged) take the long way.
  [[nodiscard]] const std::shared_ptr<const AccessToken>* cached(
      const TokenRequestContext& ctx) const noexcept {
    if (ctx.scopes.empty() || !ctx.tenant_id.empty() || !ctx.claims.empty()) return nullptr;
    if (active_dev_tool_plan() != nullptr || platform_.logger().enabled(LogLevel::info))
      return nullptr;
    return TokenCacheHitPath::find(cache_, ctx, tenant_, platform_.clock());
  }

  [[nodiscard]] const P& platform() const noexcept { return platform_; }
  [[nodiscard]] const std::string& tenant_id() const noexcept { return tenant_; }
  [[nodiscard]] std::chrono::milliseconds process_timeout() const noexcept { return timeout_; }
  [[nodiscard]] bool within_default_chain() const noexcept { return within_chain_; }

 private:
  template <class Check, class Argv, class Interpret>
  TokenResult get_impl(
      std::string_view credential, const TokenRequestContext& ctx,
      std::initializer_list<std::pair<std::string_view, std::string_view>> tool_env,
      std::initializer_list<std::string_view> forward, Check& check, Argv& argv,
      Interpret& interpret) const {
    std::string_view tenant;
    TenantDecision decision = TenantDecision::none;  // logged when the tool runs
    if (auto r = resolve_tenant(credential, tenant_, ctx.tenant_id, allowed_, multitenant_disabled_,
                                tenant, &decision);
        r.failure() != Failure::none)
      return r;
    if (auto r = check(tenant); r.failure() != Failure::none) return r;
    auto fetch = [&]() -> TokenResult {
      log_tenant_decision(platform_.logger(), credential, decision, tenant_, ctx.tenant_id);
      ProcessSpec spec;
      spec.argv = argv(tenant);
      for (std::string_view name : {std::string_view("PATH"), std::string_view("HOME")})
        forward_var(spec, name);
      for (std::string_view name : forward) forward_var(spec, name);
      for (const auto& [k, v] : tool_env) spec.env.emplace_back(k, v);
      spec.cwd = tool_working_directory;
      spec.timeout = timeout_;
      spec.max_output_bytes = tool_max_output_bytes;
      std::error_code ec;
      ProcessResult r = platform_.process_runner().run(spec, ec);
      const auto now = platform_.clock().now();
      if (!ec && r.status_unknown) {
        // The exit status was lost (the application ignores SIGCHLD): judged as a success first,
        // and when its output holds no token, as a failed run, by what it wrote on stderr.
        if (TokenResult ok = interpret(r, ec, now)) return ok;
        r.exit_code = -1;
      }
      return interpret(r, ec, now);
    };
    if (DevToolPlan* plan = active_dev_tool_plan(); plan != nullptr) [[unlikely]] {
      if (plan->mode == DevToolPlan::Mode::direct) return fetch();
      plan->cache = &cache_;
      plan->tenant.assign(tenant);
      plan->captured = true;
      return TokenResult::failed(credential, std::string(credential) + ": planned, not run");
    }
    return cache_.get_or_fetch(ctx, tenant, platform_.clock(), fetch);
  }

  // The platform's view of the environment decides what the tool sees (tests point PATH at a
  // directory of stand-in scripts without touching the test process's own environment).
  void forward_var(ProcessSpec& spec, std::string_view name) const {
    if (auto v = platform_.environment().get(name))
      spec.env.emplace_back(std::string(name), std::move(*v));
  }

  P platform_;
  std::string tenant_;
  std::vector<std::string> allowed_;
  std::chrono::milliseconds timeout_;
  bool within_chain_;
  bool multitenant_disabled_ = false;
  TokenCache cache_;
};

}  // namespace detail
AZID_END

#if defined(AZID_HEADER_ONLY)
#include "azid/impl/dev_tool.ipp"
#endif
