// azid/credentials/managed_identity.hpp: ManagedIdentityCredential, the identity Azure gives the
// resource the code runs on (models Credential).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "azid/cache/token_cache.hpp"
#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/log.hpp"
#include "azid/core/result.hpp"
#include "azid/credentials/managed_identity/app_service.hpp"
#include "azid/credentials/managed_identity/arc.hpp"
#include "azid/credentials/managed_identity/azure_ml.hpp"
#include "azid/credentials/managed_identity/cloud_shell.hpp"
#include "azid/credentials/managed_identity/imds.hpp"
#include "azid/credentials/managed_identity/options.hpp"
#include "azid/credentials/managed_identity/service_fabric.hpp"
#include "azid/credentials/managed_identity/workload_identity.hpp"
#include "azid/credentials/workload_identity.hpp"
#include "azid/detail/caller.hpp"
#include "azid/detail/managed_identity.hpp"
#include "azid/detail/url.hpp"
#include "azid/platform/default_platform.hpp"

AZID_BEGIN

namespace detail {
/// azid/async's native IMDS path (async/get_token.hpp).
struct ManagedIdentityAsync;
}  // namespace detail

namespace detail::msi {
template <class... S>
struct source_variant {
  using type = std::variant<NoSource, S...>;
};
// No sources named: all seven (the order here is irrelevant; detection follows detection_rank).
template <>
struct source_variant<> {
  using type = std::variant<NoSource, mi::ServiceFabric, mi::AppService, mi::AzureMl, mi::AzureArc,
                            mi::CloudShell, mi::WorkloadIdentity, mi::Imds>;
};

/// The WorkloadIdentityCredential that mi::WorkloadIdentity hands requests to; nothing at all
/// when that source was not compiled in.
template <class P, bool Compiled>
struct WorkloadIdentityDelegate {};
template <class P>
struct WorkloadIdentityDelegate<P, true> {
  std::optional<WorkloadIdentityCredential<P>> credential;
};
template <class... S>
inline constexpr bool distinct_sources = true;
template <class H, class... T>
inline constexpr bool distinct_sources<H, T...> =
    (!std::is_same_v<H, T> && ...) && distinct_sources<T...>;
}  // namespace detail::msi

/// Gets tokens for the managed identity of the Azure resource the program runs on.
///
/// The source is chosen once, at construction, from the environment, in the order of
/// managed-identity.md §2 (first match wins): Service Fabric (IDENTITY_ENDPOINT + IDENTITY_HEADER
/// + IDENTITY_SERVER_THUMBPRINT), App Service and Functions (IDENTITY_ENDPOINT + IDENTITY_HEADER),
/// Azure Machine Learning (MSI_ENDPOINT + MSI_SECRET), Azure Arc (IDENTITY_ENDPOINT +
/// IMDS_ENDPOINT, or the Arc agent installed), Cloud Shell (MSI_ENDPOINT), AKS workload identity
/// (AZURE_FEDERATED_TOKEN_FILE + AZURE_TENANT_ID, client id from AZURE_CLIENT_ID or the options:
/// the federated token is exchanged by an inner WorkloadIdentityCredential, at AZURE_AUTHORITY_HOST
/// or the default authority host), else IMDS (VMs, scale sets, AKS pod identity
/// through AZURE_POD_IDENTITY_AUTHORITY_HOST). `Sources...` narrows the candidates at compile
/// time, e.g. `ManagedIdentityCredential<DefaultPlatform, mi::Imds>` on a VM fleet; the sources
/// left out are not compiled. None named: all seven.
///
/// Exactly one scope per request (it becomes the `resource`); a requested tenant is ignored.
/// The constructor does no network I/O: it reads the environment (and, for Arc, whether the agent
/// is installed) and logs the chosen source at INFO.
///
/// Errors (see the README's Troubleshooting): CredentialUnavailableError when no source is
/// configured, when IMDS says the identity is not assigned (400; remembered, later calls fail
/// at once), when the probe finds no endpoint, or when pod identity keeps answering 404;
/// ClientAuthenticationError for the rest (gateway errors, "Multiple attempts failed", no
/// response, bad responses, IMDS refusing the resource (400 invalid_resource / AADSTS500011; not
/// remembered), a malformed endpoint variable, Arc key file problems, a Service Fabric
/// certificate that does not match its pin); std::invalid_argument when more than one
/// user-assigned id is set, when the source does not support the kind of id given, or for a
/// request without exactly one scope or with an empty or blank one.
/// No message or log line contains IDENTITY_HEADER, MSI_SECRET, the Arc key or a token.
///
/// Thread safety: get_token and try_get_token may be called concurrently on a const object.
/// Tokens are cached per scope; concurrent callers of one scope share one fetch.
template <Platform P = DefaultPlatform, class... Sources>
class ManagedIdentityCredential {
  static_assert(detail::msi::distinct_sources<Sources...>,
                "a managed identity source is listed twice");
  using SourceVariant = typename detail::msi::source_variant<Sources...>::type;
  static constexpr bool has_workload_identity =
      sizeof...(Sources) == 0 || (std::is_same_v<Sources, mi::WorkloadIdentity> || ...);

 public:
  static constexpr std::string_view name = "ManagedIdentityCredential";

  explicit ManagedIdentityCredential(ManagedIdentityCredentialOptions options = {},
                                     P platform = P{});
  explicit ManagedIdentityCredential(P platform)
      : ManagedIdentityCredential(ManagedIdentityCredentialOptions{}, std::move(platform)) {}

  /// A token, or the reason there is none (no exceptions for authentication failures).
  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const;

  /// @throws CredentialUnavailableError, ClientAuthenticationError or std::invalid_argument (see above).
  [[nodiscard]] AccessToken get_token(const TokenRequestContext& ctx) const;

  /// The source chosen at construction (ManagedIdentitySource::none when none is configured).
  [[nodiscard]] ManagedIdentitySource source() const noexcept {
    return std::visit(
        [](const auto& s) {
          if constexpr (std::is_same_v<std::decay_t<decltype(s)>, detail::msi::NoSource>)
            return ManagedIdentitySource::none;
          else
            return std::decay_t<decltype(s)>::kind;
        },
        source_);
  }
  [[nodiscard]] const ManagedIdentityId& identity() const noexcept { return id_; }
  [[nodiscard]] const P& platform() const noexcept { return platform_; }

 private:
  template <std::size_t... I>
  void detect(std::index_sequence<I...>) {
    // The spec's order (managed-identity.md §2), whatever order Sources... were listed in.
    for (int rank = 0; rank < 7 && source_.index() == 0; ++rank)
      (void)(try_detect<I + 1>(rank) || ...);
  }
  template <std::size_t I>
  bool try_detect(int rank) {
    using S = std::variant_alternative_t<I, SourceVariant>;
    if (S::detection_rank != rank) return false;
    auto s = S::detect(platform_, options_);
    if (!s) return false;
    source_.template emplace<I>(std::move(*s));
    return true;
  }

  std::string no_source_message() const {
    // The guide's row for App Service without its variables, generalised to the sources this
    // credential was compiled with.
    std::string msg =
        std::string(name) +
        " authentication unavailable. The environment variables configured by the host weren't "
        "present; this credential looks for ";
    append_requirements(msg, std::make_index_sequence<std::variant_size_v<SourceVariant> - 1>{});
    msg +=
        ". Check that managed identity is enabled on the resource and that the host sets these "
        "variables.";
    return msg;
  }
  template <std::size_t... I>
  static void append_requirements(std::string& msg, std::index_sequence<I...>) {
    bool first = true;
    ((msg += (first ? "" : "; "),
      msg += std::variant_alternative_t<I + 1, SourceVariant>::requirement, first = false),
     ...);
  }

  /// Chain behaviour (IMDS probed first; a silent endpoint is unavailable, so the chain moves
  /// on): when DefaultAzureCredential asked for it through within_default_chain (it does not when
  /// the operator chose managed identity alone), or inside any other chain. Not once a sticky
  /// chain has settled on it: then its failures are its own, as where the chain was called.
  [[nodiscard]] bool within_chain(const detail::Caller& c) const noexcept {
    if (c.settled) return c.in_chain && !c.in_default_chain;
    return options_.within_default_chain || (c.in_chain && !c.in_default_chain);
  }
  /// Whether its own outcome line goes to DEBUG, as a chain member's (detail::log_outcome).
  [[nodiscard]] bool logs_as_member(const detail::Caller& c) const noexcept {
    return c.in_chain || (options_.within_default_chain && !c.settled);
  }

  /// For a claims request to Service Fabric: the SHA-256 of the cached token it replaces
  /// (detail::msi::Call::refresh_sha256). Empty otherwise.
  std::string refresh_hint(const TokenRequestContext& ctx) const {
    if (ctx.claims.empty()) return {};
    const bool service_fabric = std::visit(
        [](const auto& s) { return std::is_same_v<std::decay_t<decltype(s)>, mi::ServiceFabric>; },
        source_);
    if (!service_fabric) return {};
    const auto replaced = cache_.current(ctx, std::string_view{}, platform_.clock().now());
    return replaced ? detail::msi::sha256_hex(replaced->token) : std::string();
  }

  TokenResult fetch(const TokenRequestContext& ctx, std::string_view refresh_sha256) const {
    const std::string resource = detail::msi::resource_from_scope(ctx.scopes.front());
    const detail::msi::Call call{resource,
                                 id_,
                                 within_chain(detail::current_caller()),
                                 options_.connect_timeout,
                                 options_.timeout,
                                 options_.retry,
                                 options_.imds,
                                 refresh_sha256};
    return std::visit(
        [&](const auto& s) -> TokenResult {
          using S = std::decay_t<decltype(s)>;
          if constexpr (std::is_same_v<S, detail::msi::NoSource>)
            return TokenResult::unavailable(name, s.message);
          else if constexpr (std::is_same_v<S, mi::WorkloadIdentity>)
            return workload_identity_.credential->try_get_token(workload_identity_request(ctx));
          else
            return s.fetch(platform_, call, state_);
        },
        source_);
  }

  /// What the inner WorkloadIdentityCredential is asked: the same scope and CAE settings, in its
  /// own tenant (managed identity ignores a requested tenant).
  static TokenRequestContext workload_identity_request(const TokenRequestContext& ctx) {
    TokenRequestContext inner = ctx;
    inner.tenant_id.clear();
    return inner;
  }

  P platform_;
  ManagedIdentityCredentialOptions options_;
  ManagedIdentityId id_;
  std::string identity_error_;
  SourceVariant source_;
  mutable detail::msi::State state_;
  mutable TokenCache cache_;
  [[no_unique_address]] detail::msi::WorkloadIdentityDelegate<P, has_workload_identity>
      workload_identity_;

  friend struct detail::ManagedIdentityAsync;
};

static_assert(Credential<ManagedIdentityCredential<DefaultPlatform>>);
static_assert(Credential<ManagedIdentityCredential<DefaultPlatform, mi::Imds>>);

// Out of class so that separate compilation builds the default instantiation once (azid/src.hpp).
template <Platform P, class... Sources>
ManagedIdentityCredential<P, Sources...>::ManagedIdentityCredential(
    ManagedIdentityCredentialOptions options, P platform)
    : platform_(std::move(platform)), options_(std::move(options)), cache_(options_.cache) {
  identity_error_ = detail::msi::resolve_identity(options_, id_);
  detect(std::make_index_sequence<std::variant_size_v<SourceVariant> - 1>{});
  if (source_.index() == 0) source_.template emplace<0>(detail::msi::NoSource{no_source_message()});
  if constexpr (has_workload_identity) {
    if (std::holds_alternative<mi::WorkloadIdentity>(source_)) {
      // Tenant, token file and authority come from the environment the source was detected in;
      // only a user-assigned client id given here overrides AZURE_CLIENT_ID.
      WorkloadIdentityCredentialOptions w;
      if (id_.kind() == ManagedIdentityId::Kind::client_id) w.client_id = id_.value();
      w.cache = options_.cache;
      workload_identity_.credential.emplace(std::move(w), platform_);
    }
  }
  if (identity_error_.empty()) {
    identity_error_ = std::visit(
        [&](const auto& s) -> std::string {
          if constexpr (std::is_same_v<std::decay_t<decltype(s)>, detail::msi::NoSource>)
            return {};
          else
            return s.unsupported_identity(id_);
        },
        source_);
  }
  const Logger& log = platform_.logger();
  if (log.enabled(LogLevel::info)) {
    std::string line = std::string(name);
    std::visit(
        [&](const auto& s) {
          if constexpr (std::is_same_v<std::decay_t<decltype(s)>, detail::msi::NoSource>)
            line += ": no managed identity source is configured";
          else
            line += " will use the " + std::string(to_string(s.kind)) + " source: " +
                    detail::printable(detail::redact_url_query(s.describe(), {}), 512);
        },
        source_);
    log.write(LogLevel::info, line);
  }
}

template <Platform P, class... Sources>
TokenResult ManagedIdentityCredential<P, Sources...>::try_get_token(
    const TokenRequestContext& ctx) const {
  if (ctx.scopes.size() != 1) {
    // spec README R1/R2.
    return TokenResult::invalid_argument(
        name, ctx.scopes.empty()
                  ? std::string(name) + ": \"get_token\" requires at least one scope"
                  : std::string(name) +
                        ": This credential requires exactly one scope per token request.");
  }
  if (detail::msi::blank_resource(ctx.scopes.front()))
    return TokenResult::invalid_argument(name, detail::msi::blank_scope_message());
  if (!identity_error_.empty()) return TokenResult::invalid_argument(name, identity_error_);
  // Managed identity lives in one tenant: a requested tenant is ignored (caching-and-tenants.md §5).
  const std::string refresh_sha256 = refresh_hint(ctx);
  TokenResult result = cache_.get_or_fetch(ctx, std::string_view{}, platform_.clock(),
                                           [&] { return fetch(ctx, refresh_sha256); });
  detail::log_outcome(platform_.logger(), name, result, logs_as_member(detail::current_caller()));
  return result;
}

template <Platform P, class... Sources>
AccessToken ManagedIdentityCredential<P, Sources...>::get_token(
    const TokenRequestContext& ctx) const {
  return try_get_token(ctx).value();
}

#if defined(AZID_SEPARATE_COMPILATION)
extern template class ManagedIdentityCredential<DefaultPlatform>;
#endif

AZID_END
