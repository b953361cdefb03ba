// azid/default_azure_credential.hpp: DefaultAzureCredential<Exclude<...>>, the usual credential chain
// resolved at compile time (models Credential).
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "azid/chain.hpp"
#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/log.hpp"
#include "azid/core/result.hpp"
#include "azid/credentials/azure_cli.hpp"
#include "azid/credentials/azure_developer_cli.hpp"
#include "azid/credentials/azure_powershell.hpp"
#include "azid/credentials/environment.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/credentials/workload_identity.hpp"
#include "azid/detail/dev_tool.hpp"
#include "azid/detail/names.hpp"
#include "azid/detail/redact.hpp"
#include "azid/detail/type_list.hpp"
#include "azid/platform/default_platform.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN

/// Tags naming DefaultAzureCredential's members, for `Exclude<...>`. Each is a quoted
/// metafunction (`Tag::fn<P>` is the credential on platform P) with the credential's class name.
namespace cred {
struct Environment {
  static constexpr std::string_view name = "EnvironmentCredential";
  static constexpr bool developer_tool = false;
  template <class P>
  using fn = EnvironmentCredential<P>;
};
struct WorkloadIdentity {
  static constexpr std::string_view name = "WorkloadIdentityCredential";
  static constexpr bool developer_tool = false;
  template <class P>
  using fn = WorkloadIdentityCredential<P>;
};
struct ManagedIdentity {
  static constexpr std::string_view name = "ManagedIdentityCredential";
  static constexpr bool developer_tool = false;
  template <class P>
  using fn = ManagedIdentityCredential<P>;
};
struct AzureCli {
  static constexpr std::string_view name = "AzureCliCredential";
  static constexpr bool developer_tool = true;
  template <class P>
  using fn = AzureCliCredential<P>;
};
struct AzurePowerShell {
  static constexpr std::string_view name = "AzurePowerShellCredential";
  static constexpr bool developer_tool = true;
  template <class P>
  using fn = AzurePowerShellCredential<P>;
};
struct AzureDeveloperCli {
  static constexpr std::string_view name = "AzureDeveloperCliCredential";
  static constexpr bool developer_tool = true;
  template <class P>
  using fn = AzureDeveloperCliCredential<P>;
};
}  // namespace cred

/// The credentials DefaultAzureCredential leaves out at compile time:
/// `DefaultAzureCredential<Exclude<cred::AzureCli, cred::AzurePowerShell>>`. Their code is
/// never instantiated.
template <class... Tags>
struct Exclude {};

/// Options of DefaultAzureCredential. Everything is optional; empty values fall back to the
/// standard environment variables, read through the platform. There is deliberately no
/// `tenant_id` (as upstream: "'tenant_id' is not supported in DefaultAzureCredential"); use
/// `workload_identity_tenant_id`, or the request's tenant with `additionally_allowed_tenants`.
struct DefaultAzureCredentialOptions {
  /// User-assigned managed identity. Empty: AZURE_CLIENT_ID (unset: system-assigned). Ignored
  /// when `managed_identity` names an identity itself.
  std::string managed_identity_client_id;
  /// Empty: `managed_identity_client_id`, then AZURE_CLIENT_ID.
  std::string workload_identity_client_id;
  /// Empty: AZURE_TENANT_ID.
  std::string workload_identity_tenant_id;
  /// Authority of EnvironmentCredential and WorkloadIdentityCredential. Empty:
  /// AZURE_AUTHORITY_HOST, then the public cloud. Must be https.
  std::string authority_host;
  /// How long az, pwsh and azd may run.
  std::chrono::milliseconds process_timeout{10'000};
  /// Forwarded to every member. Empty: AZURE_ADDITIONALLY_ALLOWED_TENANTS for the members that
  /// read it (Environment, WorkloadIdentity).
  std::vector<std::string> additionally_allowed_tenants;
  /// Fail unless AZURE_TOKEN_CREDENTIALS is set (default-and-chain.md §2.3, "require" mode).
  bool require_token_credentials_env = false;

  /// Advanced: retries of the Entra token requests (EnvironmentCredential, WorkloadIdentityCredential).
  RetryOptions retry;
  /// Advanced: ManagedIdentityCredential's tuning (timeouts, IMDS retries, endpoints for tests).
  /// `within_default_chain` is set by DefaultAzureCredential; the identity comes from
  /// `managed_identity_client_id` unless one of client_id / object_id / resource_id is set here.
  ManagedIdentityCredentialOptions managed_identity;
};

/// What AZURE_TOKEN_CREDENTIALS selects. Bit i of `mask` is the i-th credential of the default
/// order (Environment, WorkloadIdentity, ManagedIdentity, AzureCli, AzurePowerShell,
/// AzureDeveloperCli). `ok` is false (and `error` says why) for a value that is not understood.
struct TokenCredentialsSelection {
  bool ok = true;
  std::uint32_t mask = 0x3F;
  std::string error;
};

namespace detail::dac {

using default_order = list<cred::Environment, cred::WorkloadIdentity, cred::ManagedIdentity,
                           cred::AzureCli, cred::AzurePowerShell, cred::AzureDeveloperCli>;

inline constexpr std::array<std::string_view, 6> all_names = {
    cred::Environment::name, cred::WorkloadIdentity::name, cred::ManagedIdentity::name,
    cred::AzureCli::name,    cred::AzurePowerShell::name,  cred::AzureDeveloperCli::name};
inline constexpr std::uint32_t all_mask = 0x3F;
inline constexpr std::uint32_t prod_mask = 0x07;  // Environment, WorkloadIdentity, ManagedIdentity
inline constexpr std::uint32_t dev_mask = 0x38;   // AzureCli, AzurePowerShell, AzureDeveloperCli
inline constexpr std::uint32_t workload_identity_bit = 1u << 1;
inline constexpr std::uint32_t managed_identity_bit = 1u << 2;

template <class T>
struct exclusions {
  static constexpr bool is_exclude = false;
  using type = list<>;
};
template <class... T>
struct exclusions<Exclude<T...>> {
  static constexpr bool is_exclude = true;
  using type = list<T...>;
};

template <class T>
inline constexpr bool known_tag = contains_v<default_order, T>;

template <class... T>
constexpr bool all_known(list<T...>) noexcept {
  return (known_tag<T> && ...);
}

template <class P>
struct chain_of {
  template <class... Tags>
  using fn = Chain<typename Tags::template fn<P>...>;
};

template <class... Tags>
constexpr auto names_of(list<Tags...>) noexcept {
  return std::array<std::string_view, sizeof...(Tags)>{Tags::name...};
}
template <class... Tags>
constexpr std::uint32_t mask_of(list<Tags...>) noexcept {
  return ((1u << index_of_v<default_order, Tags>) | ... | 0u);
}
template <class... Tags>
constexpr bool any_developer_tool(list<Tags...>) noexcept {
  return (Tags::developer_tool || ... || false);
}

[[nodiscard]] constexpr std::string_view trim(std::string_view s) noexcept {
  constexpr std::string_view ws = " \t\r\n\f\v";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

/// "A, B and C".
inline std::string join_names(std::uint32_t mask) {
  std::string out;
  const int n = std::popcount(mask);
  int seen = 0;
  for (std::size_t i = 0; i < all_names.size(); ++i) {
    if (((mask >> i) & 1u) == 0) continue;
    if (seen > 0) out += (seen == n - 1) ? " and " : ", ";
    out += all_names[i];
    ++seen;
  }
  return out;
}

}  // namespace detail::dac

/// Parses an AZURE_TOKEN_CREDENTIALS value (default-and-chain.md §2.3): trimmed and
/// case-insensitive; empty selects all six, `dev` the developer tools (AzureCli,
/// AzurePowerShell, AzureDeveloperCli), `prod` Environment, WorkloadIdentity and
/// ManagedIdentity, a credential class name (e.g. `AzureCliCredential`) that one alone.
[[nodiscard]] inline TokenCredentialsSelection parse_azure_token_credentials(
    std::string_view value) {
  const std::string_view v = detail::dac::trim(value);
  TokenCredentialsSelection s;
  if (v.empty()) return s;
  if (iequals(v, "dev")) {
    s.mask = detail::dac::dev_mask;
    return s;
  }
  if (iequals(v, "prod")) {
    s.mask = detail::dac::prod_mask;
    return s;
  }
  for (std::size_t i = 0; i < detail::dac::all_names.size(); ++i) {
    if (iequals(v, detail::dac::all_names[i])) {
      s.mask = 1u << i;
      return s;
    }
  }
  s.ok = false;
  s.mask = 0;
  const std::string shown = detail::printable(v);  // no CR/LF to forge a log line
  s.error = "DefaultAzureCredential: Invalid value '" + shown + "' for the '" +
            std::string(names::azure_token_credentials) +
            "' environment variable. Valid values are 'dev', 'prod'";
  for (auto n : detail::dac::all_names) s.error += ", '" + std::string(n) + "'";
  s.error += " (case insensitive), or leave the variable unset to try every credential.";
  return s;
}

/// The credential most applications want: it tries, in order, EnvironmentCredential,
/// WorkloadIdentityCredential, ManagedIdentityCredential, AzureCliCredential,
/// AzurePowerShellCredential and AzureDeveloperCliCredential, and keeps using the first that
/// produces a token (sticky; later failures of that credential are returned as they are).
///
/// The order is a compile-time list. `Excl = Exclude<cred::...>` removes members at compile time
/// (their code is never instantiated); naming something that is not one of the six tags, or
/// excluding all six, does not compile. At construction AZURE_TOKEN_CREDENTIALS (read through
/// the platform) can narrow the compiled set further: `dev`, `prod` or one credential's class
/// name. Naming only ManagedIdentityCredential turns off the short IMDS probe (full retries).
///
/// While the chain walks them, members know they are DefaultAzureCredential's (detail::ChainScope):
/// developer-tool failures become CredentialUnavailableError and IMDS is probed with a short
/// connect timeout, so the chain moves on quickly. An unavailable member moves on; any other
/// failure stops the chain. Once the chain has settled on a member (sticky), that member's
/// failures are its own.
///
/// Errors. Options the caller got wrong (a non-https `authority_host`, an invalid
/// `workload_identity_tenant_id`, a bad `process_timeout`) throw std::invalid_argument from the
/// constructor, like the members. Environment problems never throw from the constructor (like
/// EnvironmentCredential's): an invalid AZURE_TOKEN_CREDENTIALS, one that names a credential
/// compiled out, or an empty one in require mode is logged at ERROR and returned by every
/// try_get_token as Failure::invalid_argument (get_token throws std::invalid_argument);
/// configuration_error() says it up front. When every member was unavailable the error is
/// CredentialUnavailableError "DefaultAzureCredential failed to retrieve a token from the
/// included credentials." with every attempt listed; otherwise the failure that stopped the chain.
///
/// Construction logs (INFO) which credentials are tried and why the others are not; the first
/// success logs "DefaultAzureCredential acquired a token from <Credential>".
///
/// Thread safety: get_token and try_get_token may be called concurrently on a const object.
/// Not movable when ManagedIdentityCredential is compiled in (it holds a mutex); build it where
/// it lives, or behind a std::unique_ptr / AnyCredential.
namespace detail {
struct DefaultAzureCredentialAsync;  // azid/async's walk of the chain (async/get_token.hpp)
}  // namespace detail

template <class Excl = Exclude<>, Platform P = DefaultPlatform>
class DefaultAzureCredential {
  static_assert(detail::dac::exclusions<Excl>::is_exclude,
                "DefaultAzureCredential's first template argument must be Exclude<...>, e.g. "
                "DefaultAzureCredential<Exclude<cred::AzureCli>>");
  using excluded = typename detail::dac::exclusions<Excl>::type;
  static_assert(
      detail::dac::all_known(excluded{}),
      "Exclude<...> may only name DefaultAzureCredential members: cred::Environment, "
      "cred::WorkloadIdentity, cred::ManagedIdentity, cred::AzureCli, cred::AzurePowerShell, "
      "cred::AzureDeveloperCli");
  using kept = detail::remove_all_t<detail::dac::default_order, excluded>;
  static_assert(
      detail::size_v<kept> > 0,
      "Exclude<...> removes every DefaultAzureCredential member; keep at least one (or use that "
      "credential directly)");
  static_assert(!detail::dac::any_developer_tool(kept{}) || detail::ToolPlatform<P>,
                "the developer-tool credentials need a platform with process_runner(); exclude "
                "cred::AzureCli, "
                "cred::AzurePowerShell and cred::AzureDeveloperCli, or use such a platform");
  // With an invalid Excl the static_asserts above have already failed; keep the rest quiet.
  using members =
      std::conditional_t<detail::size_v<kept> == 0, detail::list<cred::Environment>, kept>;
  using chain_type = detail::rename_t<members, detail::dac::chain_of<P>::template fn>;

 public:
  static constexpr std::string_view name = "DefaultAzureCredential";
  /// How many credentials were compiled in (after Exclude).
  static constexpr std::size_t compiled_count = detail::size_v<members>;
  /// Their class names, in the order they are tried.
  static constexpr std::array<std::string_view, compiled_count> compiled_names =
      detail::dac::names_of(members{});
  /// Bit i: the i-th credential of the default order (see TokenCredentialsSelection) is compiled in.
  static constexpr std::uint32_t compiled_mask = detail::dac::mask_of(members{});

  /// @throws std::invalid_argument for invalid options (see the class comment); never for the
  /// environment. Does no network I/O and runs no tool.
  explicit DefaultAzureCredential(DefaultAzureCredentialOptions options = {}, P platform = P{});

  /// A token, or the reason there is none (no exceptions for authentication failures).
  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const;

  /// @throws CredentialUnavailableError (every credential unavailable), ClientAuthenticationError
  /// (a credential failed), std::invalid_argument (bad request or AZURE_TOKEN_CREDENTIALS).
  [[nodiscard]] AccessToken get_token(const TokenRequestContext& ctx) const;

  /// True when the credential of that class name (e.g. "AzureCliCredential", case-insensitive)
  /// is compiled in and selected by AZURE_TOKEN_CREDENTIALS (false for all when the variable is invalid).
  [[nodiscard]] bool enabled(std::string_view credential_name) const noexcept {
    for (std::size_t i = 0; i < compiled_count; ++i)
      if (iequals(compiled_names[i], credential_name)) return ((config_.chain_mask >> i) & 1u) != 0;
    return false;
  }
  /// The member the credential settled on after its first success, or "".
  [[nodiscard]] std::string_view selected() const noexcept {
    const int s = chain_.selected();
    return s >= 0 ? compiled_names[static_cast<std::size_t>(s)] : std::string_view{};
  }
  /// Why no token will ever come (invalid AZURE_TOKEN_CREDENTIALS, ...), or "".
  [[nodiscard]] std::string_view configuration_error() const noexcept { return config_.error; }
  /// The AZURE_TOKEN_CREDENTIALS value read at construction (trimmed), or "" when unset.
  [[nodiscard]] std::string_view token_credentials() const noexcept { return config_.variable; }

  [[nodiscard]] const P& platform() const noexcept { return platform_; }

 private:
  struct Config {
    std::string variable;          // AZURE_TOKEN_CREDENTIALS, trimmed
    std::uint32_t selection = 0;   // over the six, from the variable (all when unset)
    std::uint32_t chain_mask = 0;  // over the compiled members
    bool managed_identity_alone = false;
    std::string error;
  };

  static Config configure(const P& platform, const DefaultAzureCredentialOptions& o) {
    Config c;
    const auto value = platform.environment().get(names::azure_token_credentials);
    c.variable = std::string(detail::dac::trim(value.value_or("")));
    if (o.require_token_credentials_env && c.variable.empty()) {
      c.error = "DefaultAzureCredential: '" + std::string(names::azure_token_credentials) +
                "' environment variable is empty. It is required (require_token_credentials_env): "
                "set it to 'dev', "
                "'prod' or one credential's class name.";
      return c;
    }
    TokenCredentialsSelection sel = parse_azure_token_credentials(c.variable);
    if (!sel.ok) {
      c.error = std::move(sel.error);
      return c;
    }
    c.selection = sel.mask;
    if (!c.variable.empty() && (sel.mask & compiled_mask) == 0) {
      c.error = "DefaultAzureCredential: the '" + std::string(names::azure_token_credentials) +
                "' environment variable ('" + c.variable + "') selects " +
                detail::dac::join_names(sel.mask) +
                ", which this DefaultAzureCredential was compiled without (Exclude<...>). It was "
                "compiled with " +
                detail::dac::join_names(compiled_mask) + ".";
      return c;
    }
    c.managed_identity_alone = sel.mask == detail::dac::managed_identity_bit;
    for (std::size_t i = 0; i < compiled_count; ++i)
      if (((sel.mask >> order_index(i)) & 1u) != 0) c.chain_mask |= 1u << i;
    return c;
  }
  /// Position in the default order of compiled member i.
  static constexpr std::size_t order_index(std::size_t i) noexcept {
    constexpr auto idx = [] {
      std::array<std::size_t, compiled_count> a{};
      std::size_t k = 0;
      for (std::size_t b = 0; b < detail::dac::all_names.size(); ++b)
        if (((compiled_mask >> b) & 1u) != 0) a[k++] = b;
      return a;
    }();
    return idx[i];
  }

  template <class... Tags>
  static chain_type build(const DefaultAzureCredentialOptions& o, const P& p, Config& c,
                          detail::list<Tags...>) {
    ChainOptions co;
    co.sticky = true;
    co.display_name = name;
    co.enabled = c.chain_mask;
    co.logger = &static_cast<const Logger&>(p.logger());
    co.default_chain = true;  // members know they are DefaultAzureCredential's while it walks
    return chain_type(std::in_place, co,
                      [&] { return make(std::type_identity<Tags>{}, o, p, c); }...);
  }

  static auto make(std::type_identity<cred::Environment>, const DefaultAzureCredentialOptions& o,
                   const P& p, const Config&) {
    EnvironmentCredentialOptions e;
    e.authority_host = o.authority_host;
    e.additionally_allowed_tenants = o.additionally_allowed_tenants;
    e.retry = o.retry;
    return EnvironmentCredential<P>(std::move(e), p);
  }
  static auto make(std::type_identity<cred::WorkloadIdentity>,
                   const DefaultAzureCredentialOptions& o, const P& p, const Config&) {
    WorkloadIdentityCredentialOptions w;
    w.authority_host = o.authority_host;
    w.additionally_allowed_tenants = o.additionally_allowed_tenants;
    w.retry = o.retry;
    w.tenant_id = o.workload_identity_tenant_id;  // empty: AZURE_TENANT_ID
    w.client_id = !o.workload_identity_client_id.empty()
                      ? o.workload_identity_client_id
                      : o.managed_identity_client_id;  // empty: AZURE_CLIENT_ID
    return WorkloadIdentityCredential<P>(std::move(w), p);
  }
  static auto make(std::type_identity<cred::ManagedIdentity>,
                   const DefaultAzureCredentialOptions& o, const P& p, const Config& c) {
    ManagedIdentityCredentialOptions m = o.managed_identity;
    if (m.client_id.empty() && m.object_id.empty() && m.resource_id.empty())
      m.client_id = !o.managed_identity_client_id.empty()
                        ? o.managed_identity_client_id
                        : p.environment().get(names::azure_client_id).value_or("");
    // Chosen alone through AZURE_TOKEN_CREDENTIALS, managed identity is what the operator wants:
    // no short probe, the full retry policy ([CPP] 1.13.2).
    m.within_default_chain = !c.managed_identity_alone;
    // Excluded from the chain (Exclude<cred::WorkloadIdentity>, or AZURE_TOKEN_CREDENTIALS
    // naming something else), workload identity must not come back through managed identity.
    m.allow_workload_identity =
        m.allow_workload_identity &&
        (compiled_mask & c.selection & detail::dac::workload_identity_bit) != 0;
    return ManagedIdentityCredential<P>(std::move(m), p);
  }
  template <class Tool>
  static auto tool_options(const DefaultAzureCredentialOptions& o) {
    Tool t;
    t.additionally_allowed_tenants = o.additionally_allowed_tenants;
    t.process_timeout = o.process_timeout;
    // Not within_default_chain: the chain's walk tells the tool it is DefaultAzureCredential's,
    // and once the chain has settled on it (sticky) its failures propagate as they are.
    return t;
  }
  static auto make(std::type_identity<cred::AzureCli>, const DefaultAzureCredentialOptions& o,
                   const P& p, const Config&) {
    return AzureCliCredential<P>(tool_options<AzureCliCredentialOptions>(o), p);
  }
  static auto make(std::type_identity<cred::AzurePowerShell>,
                   const DefaultAzureCredentialOptions& o, const P& p, const Config&) {
    return AzurePowerShellCredential<P>(tool_options<AzurePowerShellCredentialOptions>(o), p);
  }
  static auto make(std::type_identity<cred::AzureDeveloperCli>,
                   const DefaultAzureCredentialOptions& o, const P& p, const Config&) {
    return AzureDeveloperCliCredential<P>(tool_options<AzureDeveloperCliCredentialOptions>(o), p);
  }

  void log_configuration() const {
    const Logger& log = platform_.logger();
    if (!config_.error.empty()) {
      log.write(LogLevel::error, config_.error);
      return;
    }
    if (!log.enabled(LogLevel::info)) return;
    const std::string why = config_.variable.empty()
                                ? "'" + std::string(names::azure_token_credentials) +
                                      "' environment variable is not set"
                                : "'" + std::string(names::azure_token_credentials) +
                                      "' environment variable is '" + config_.variable + "'";
    for (std::size_t b = 0; b < detail::dac::all_names.size(); ++b) {
      std::string line = "DefaultAzureCredential: ";
      line += detail::dac::all_names[b];
      if (((compiled_mask >> b) & 1u) == 0)
        line += " is excluded at compile time (Exclude<...>)";
      else if (((config_.selection >> b) & 1u) == 0)
        line += " is excluded because the " + why;
      else
        line += " is included (" + why + ")";
      if (b == 2 && config_.managed_identity_alone && ((compiled_mask >> b) & 1u) != 0)
        line += "; chosen alone, so IMDS is not probed and the full retry policy applies";
      log.write(LogLevel::info, line);
    }
  }

  P platform_;
  Config config_;
  chain_type chain_;

  friend struct detail::DefaultAzureCredentialAsync;
};

// Defined outside the class so that, in separate compilation, the default instantiation below is
// compiled once in azid/src.hpp and consumers only call it.
template <class Excl, Platform P>
DefaultAzureCredential<Excl, P>::DefaultAzureCredential(DefaultAzureCredentialOptions options,
                                                        P platform)
    : platform_(std::move(platform)),
      config_(configure(platform_, options)),
      chain_(build(options, platform_, config_, members{})) {
  log_configuration();
}

template <class Excl, Platform P>
TokenResult DefaultAzureCredential<Excl, P>::try_get_token(const TokenRequestContext& ctx) const {
  if (!config_.error.empty()) return TokenResult::invalid_argument(name, config_.error);
  return chain_.try_get_token(ctx);
}

template <class Excl, Platform P>
AccessToken DefaultAzureCredential<Excl, P>::get_token(const TokenRequestContext& ctx) const {
  return try_get_token(ctx).value();
}

#if defined(AZID_SEPARATE_COMPILATION)
extern template class DefaultAzureCredential<Exclude<>, DefaultPlatform>;
#endif

AZID_END
