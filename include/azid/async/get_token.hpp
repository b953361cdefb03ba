// azid/async/get_token.hpp: azid::async_get_token and azid::async_try_get_token, asynchronous token
// acquisition for every credential and for chains, following Asio's completion-token conventions.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/execution_context.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/query.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "azid/async/https_transport.hpp"
#include "azid/async/platform.hpp"
#include "azid/cache/token_cache.hpp"
#include "azid/chain.hpp"
#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/log.hpp"
#include "azid/core/result.hpp"
#include "azid/credentials/azure_pipelines.hpp"
#include "azid/credentials/certificate.hpp"
#include "azid/credentials/client_assertion.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/credentials/environment.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/credentials/workload_identity.hpp"
#include "azid/detail/call_context.hpp"
#include "azid/detail/confidential_client.hpp"
#include "azid/detail/dev_tool.hpp"
#include "azid/detail/entra.hpp"
#include "azid/detail/http_driver.hpp"
#include "azid/detail/managed_identity.hpp"
#include "azid/detail/url.hpp"

// Asio enables its coroutine support (asio::awaitable, co_spawn) only where it detects it; clang
// with libstdc++ and older Asio releases (Debian 12's 1.22) miss it. Say so plainly rather than
// with a page of errors about a missing asio::awaitable.
#if !defined(ASIO_HAS_CO_AWAIT)
#error \
    "azid/async needs Asio's C++20 coroutine support (ASIO_HAS_CO_AWAIT). With clang and libstdc++, define ASIO_HAS_CO_AWAIT=1 (or use -stdlib=libc++)."
#endif

AZID_BEGIN

// ---------------------------------------------------------------------------------------------
// Error codes

/// How async_get_token reports a TokenResult's failure (category "azid.token"). The detailed
/// message, identical to the synchronous one, comes with async_try_get_token's TokenResult.
enum class token_errc {
  credential_unavailable = 1,  ///< CredentialUnavailableError: a chain would move on
  authentication_failed,       ///< ClientAuthenticationError
  authentication_required,     ///< AuthenticationRequiredError
  invalid_argument,            ///< the request or configuration is wrong (std::invalid_argument)
};

namespace detail {
class token_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "azid.token"; }
  std::string message(int ev) const override {
    switch (static_cast<token_errc>(ev)) {
      case token_errc::credential_unavailable:
        return "credential unavailable";
      case token_errc::authentication_failed:
        return "authentication failed";
      case token_errc::authentication_required:
        return "authentication required";
      case token_errc::invalid_argument:
        return "invalid argument";
    }
    return "unknown azid.token error";
  }
};
}  // namespace detail

[[nodiscard]] inline const std::error_category& token_category() noexcept {
  static const detail::token_category_impl cat;
  return cat;
}
[[nodiscard]] inline std::error_code make_error_code(token_errc e) noexcept {
  return {static_cast<int>(e), token_category()};
}

/// The error code of a result: none on success, else its Failure as token_errc.
[[nodiscard]] inline std::error_code to_error_code(const TokenResult& r) noexcept {
  if (r.ok()) return {};
  switch (r.failure()) {
    case Failure::unavailable:
      return make_error_code(token_errc::credential_unavailable);
    case Failure::auth_required:
      return make_error_code(token_errc::authentication_required);
    case Failure::invalid_argument:
      return make_error_code(token_errc::invalid_argument);
    default:
      return make_error_code(token_errc::authentication_failed);
  }
}

AZID_END

template <>
struct std::is_error_code_enum<azid::token_errc> : std::true_type {};

AZID_BEGIN
namespace detail {

inline constexpr auto use_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

/// Whether the calling coroutine has been asked to stop.
inline asio::awaitable<bool> cancelled() {
  asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  co_return cs.cancelled() != asio::cancellation_type::none;
}

/// Waits `d` on an Asio timer (retry backoff); returns early when cancelled.
inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  const asio::any_io_executor ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex, d);
  auto [ec] = co_await timer.async_wait(use_tuple_awaitable);
  (void)ec;
}

// ---------------------------------------------------------------------------------------------
// HTTP: one exchange, logged, with retries (http_driver.hpp's rules, waits on timers)

template <class T>
asio::awaitable<Outcome<HttpResponse>> send_async(T& transport, HttpRequest req) {
  if constexpr (requires {
                  {
                    transport.exchange(std::move(req))
                    } -> std::same_as<asio::awaitable<Outcome<HttpResponse>>>;
                }) {
    co_return co_await transport.exchange(std::move(req));  // already a coroutine: no second spawn
  } else {
    auto [ec, res] = co_await transport.async_send(std::move(req), use_tuple_awaitable);
    co_return Outcome<HttpResponse>{ec, std::move(res)};
  }
}

/// send_logged, awaited: the same INFO line (`HTTP <method> <url, query redacted> -> ...`).
template <class P>
asio::awaitable<Outcome<HttpResponse>> send_logged_async(const P& platform,
                                                         const HttpRequest& req) {
  const auto start = platform.clock().steady_now();
  Outcome<HttpResponse> out = co_await send_async(platform.transport(), req);
  const Logger& log = platform.logger();
  if (log.enabled(LogLevel::info)) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(platform.clock().steady_now() - start)
            .count();
    log.write(LogLevel::info, http_log_line(req, out.value, out.ec, ms));
  }
  co_return out;
}

/// send_with_retry, awaited: the same retry rules and delays, on an Asio timer. Stops retrying
/// once cancelled.
template <class P>
asio::awaitable<Outcome<HttpResponse>> send_with_retry_async(const P& platform,
                                                             const HttpRequest& req,
                                                             const RetryOptions& opts) {
  for (int attempt = 0;; ++attempt) {
    Outcome<HttpResponse> out = co_await send_logged_async(platform, req);
    const bool retry = out.ec ? retriable_error(out.ec) : retriable_status(out.value.status);
    if (!retry || attempt >= opts.max_retries || co_await cancelled()) co_return out;
    std::chrono::milliseconds delay = out.ec
                                          ? std::chrono::milliseconds(-1)
                                          : retry_after(out.value.headers, platform.clock().now());
    delay = retry_delay(opts, attempt, delay, retry_jitter_factor(opts.jitter));
    if (platform.logger().enabled(LogLevel::info))
      platform.logger().write(LogLevel::info, "Retrying in " + std::to_string(delay.count()) +
                                                  " ms (attempt " + std::to_string(attempt + 2) +
                                                  " of " + std::to_string(opts.max_retries + 1) +
                                                  ")");
    co_await sleep_for(delay);
    if (co_await cancelled()) co_return out;
  }
}

// ---------------------------------------------------------------------------------------------
// The cache's single flight, awaited

/// A coroutine queued behind a fetch in flight: wake() (called by the cache, under its lock, from
/// whichever thread ends the fetch) posts a cancel of the timer the coroutine waits on to the
/// coroutine's own executor, so no thread blocks and the timer is touched on one strand only.
class QueuedWaiter final : public CacheWaiter, public std::enable_shared_from_this<QueuedWaiter> {
 public:
  explicit QueuedWaiter(const asio::any_io_executor& ex) : timer_(ex) {}

  void wake() noexcept override {
    try {
      asio::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
    } catch (...) {
      // Out of memory: the waiter's own cancellation (or its caller's timeout) still ends it.
    }
  }
  /// Suspends until wake() or cancellation.
  asio::awaitable<void> wait() {
    timer_.expires_at(asio::steady_timer::time_point::max());
    auto [ec] = co_await timer_.async_wait(use_tuple_awaitable);
    (void)ec;
  }

 private:
  asio::steady_timer timer_;
};

/// Ends a fetch the cache handed to this coroutine: finish() stores the outcome and wakes every
/// waiter; a coroutine that stops without an outcome (cancelled, destroyed) abandons it so a
/// waiter fetches instead.
struct FetchGuard {
  const TokenCache& cache;
  CacheWaiter& waiter;
  bool open = true;
  template <class Clock>
  TokenResult finish(const TokenRequestContext& ctx, const Clock& clock, TokenResult fetched) {
    open = false;
    return cache.async_finish(waiter, ctx, clock, std::move(fetched));
  }
  ~FetchGuard() {
    if (open) cache.async_abandon(waiter);
  }
  FetchGuard(const TokenCache& c, CacheWaiter& w) : cache(c), waiter(w) {}
  FetchGuard(const FetchGuard&) = delete;
  FetchGuard& operator=(const FetchGuard&) = delete;
};

/// Takes a coroutine's waiter off the cache's queue when the coroutine ends for any reason.
struct QueueGuard {
  const TokenCache& cache;
  CacheWaiter& waiter;
  ~QueueGuard() { cache.async_unqueue(waiter); }
};

inline TokenResult cancelled_result(std::string_view credential) {
  return TokenResult::failed(credential,
                             std::string(credential) + ": the token request was cancelled.");
}

/// Gets a token for `ctx` from `cache`, fetching with `fetch()` (a coroutine returning
/// TokenResult) when this caller is the one to; concurrent callers of one key, synchronous or
/// not, share that fetch.
template <class Clock, class Fetch>
asio::awaitable<TokenResult> cached_async(std::string_view credential, const TokenCache& cache,
                                          const TokenRequestContext& ctx, std::string_view tenant,
                                          const Clock& clock, Fetch fetch) {
  const asio::any_io_executor ex = co_await asio::this_coro::executor;
  auto waiter = std::make_shared<QueuedWaiter>(ex);
  QueueGuard queue_guard{cache, *waiter};
  for (;;) {
    TokenResult out;
    switch (cache.async_begin(ctx, tenant, clock, *waiter, out)) {
      case TokenCache::AsyncStep::done:
        co_return out;
      case TokenCache::AsyncStep::queued:
        co_await waiter->wait();
        if (co_await cancelled()) co_return cancelled_result(credential);
        continue;
      case TokenCache::AsyncStep::fetch:
        break;
    }
    FetchGuard guard(cache, *waiter);
    TokenResult fetched = co_await fetch();
    if (co_await cancelled()) {
      // A token that arrived all the same is kept for the waiters; anything else is abandoned
      // (the guard), and a waiter fetches instead of sharing a failure that was not its own.
      if (fetched.ok()) (void)guard.finish(ctx, clock, std::move(fetched));
      co_return cancelled_result(credential);
    }
    co_return guard.finish(ctx, clock, std::move(fetched));
  }
}

// ---------------------------------------------------------------------------------------------
// Credentials

/// The platform type of the credentials that fetch through ConfidentialClient.
template <class C>
struct confidential_platform {};
template <class P>
struct confidential_platform<ClientSecretCredential<P>> {
  using type = P;
};
template <class P>
struct confidential_platform<CertificateCredential<P>> {
  using type = P;
};
template <class P>
struct confidential_platform<ClientAssertionCredential<P>> {
  using type = P;
};
template <class P>
struct confidential_platform<WorkloadIdentityCredential<P>> {
  using type = P;
};
template <class P>
struct confidential_platform<EnvironmentCredential<P>> {
  using type = P;
};
template <class P>
struct confidential_platform<AzurePipelinesCredential<P>> {
  using type = P;
};

template <class P>
concept AsyncCapablePlatform = requires(const P& p) {
  requires AsyncTransport<std::remove_cvref_t<decltype(p.transport())>>;
};

/// Credentials with a native asynchronous path: the confidential family on a platform whose
/// transport is asynchronous.
template <class C>
concept NativeConfidential = requires {
  typename confidential_platform<C>::type;
}
&&AsyncCapablePlatform<typename confidential_platform<C>::type>;

// ---------------------------------------------------------------------------------------------
// Managed identity, natively: IMDS (managed_identity.hpp's imds_probe and imds_fetch, awaited), then
// the other sources through their request/result steps

/// imds_probe, awaited. The verdict is read and recorded under the state's lock (record_probe,
/// shared with the blocking probe), but the probe and its log lines run without it (no lock is
/// held across a suspension or a log write); a cancelled probe records nothing. It does not wait
/// for a blocking probe in flight (that would block an executor thread): concurrent probes are
/// reconciled by record_probe.
template <class P>
asio::awaitable<TokenResult> imds_probe_async(const P& p, const std::string& url,
                                              const msi::Call& c, msi::State& st) {
  {
    std::lock_guard lk(st.mu);
    if (st.probed) co_return TokenResult{};
    if (st.remembered.failure() != Failure::none) co_return st.remembered;
  }
  HttpRequest req;
  req.url = url;
  req.bypass_proxy = true;  // IMDS refuses proxied calls
  req.connect_timeout = c.imds.probe_connect_timeout;
  req.timeout = c.timeout;
  Outcome<HttpResponse> r = co_await send_logged_async(p, req);
  if (co_await cancelled()) co_return cancelled_result(msi::credential_name);
  TokenResult verdict = msi::probe_verdict(url, r.value, r.ec);
  msi::record_probe(st, verdict, false);
  if (verdict.failure() == Failure::none)
    msi::log_line(p.logger(), LogLevel::debug, "the IMDS probe got a response; IMDS is available");
  co_return verdict;
}

/// imds_fetch, awaited: the same retry rules (404/408/410/429/5xx, 410 for 70 s, Retry-After, the
/// overall limit), the waits on Asio timers.
template <class P>
asio::awaitable<TokenResult> imds_fetch_async(const P& p, std::string_view authority, bool probe,
                                              bool pod_identity, const msi::Call& c,
                                              msi::State& st) {
  if (auto r = msi::remembered(st); r.failure() != Failure::none) co_return r;
  const std::string url = msi::imds_url(authority, c.resource, c.id);
  if (probe) {
    if (auto r = co_await imds_probe_async(p, url, c, st); r.failure() != Failure::none)
      co_return r;
  }
  const ImdsOptions& o = c.imds;
  HttpRequest req;
  req.url = url;
  req.bypass_proxy = true;  // IMDS refuses proxied calls
  req.headers.set(names::header_metadata, "true");
  req.connect_timeout = c.connect_timeout;
  const auto start = p.clock().steady_now();
  std::vector<msi::Attempt> attempts;
  std::chrono::milliseconds elapsed{0};
  for (int n = 0;; ++n) {
    const auto left = o.max_total - elapsed;
    req.timeout = std::max(std::chrono::milliseconds(1), std::min(c.timeout, left));
    const auto request_time = p.clock().now();
    Outcome<HttpResponse> sent = co_await send_logged_async(p, req);
    if (co_await cancelled()) co_return cancelled_result(msi::credential_name);
    const std::error_code& ec = sent.ec;
    const HttpResponse& res = sent.value;
    if (ec) {
      if (msi::connect_error(ec) || msi::unreadable_response(ec))
        co_return msi::no_response(ManagedIdentitySource::imds, url, ec, c.within_chain);
      attempts.push_back({0, ec.message()});
    } else if (res.status == 200) {
      co_return msi::token_from_response(res, request_time);
    } else if (res.status == 400) {
      co_return msi::imds_refused(res, c, st);
    } else if (res.status == 403 && msi::docker_unreachable(res)) {
      co_return msi::imds_unreachable_network(res);
    } else if (!msi::imds_retriable_status(res.status)) {
      co_return msi::endpoint_failed(ManagedIdentitySource::imds, res);
    } else {
      attempts.push_back({res.status, msi::body_detail(res.body)});
    }
    elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(p.clock().steady_now() - start);
    const bool gone = !ec && res.status == 410;
    if (n >= o.max_retries && !(gone && elapsed < o.gone_window)) break;
    auto delay = msi::imds_backoff(o, n + 1, retry_jitter_factor(o.jitter));
    if (gone) delay = std::max(delay, o.gone_interval);
    if (!ec) delay = std::max(delay, retry_after(res.headers, p.clock().now()));
    if (elapsed + delay >= o.max_total) break;
    if (p.logger().enabled(LogLevel::info))
      msi::log_line(p.logger(), LogLevel::info,
                    "IMDS attempt " + std::to_string(n + 1) + " failed (" +
                        (ec ? ec.message() : std::to_string(res.status)) + "); retrying in " +
                        std::to_string(delay.count()) + " ms");
    co_await sleep_for(delay);
    if (co_await cancelled()) co_return cancelled_result(msi::credential_name);
    elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(p.clock().steady_now() - start);
  }
  co_return msi::imds_exhausted(attempts, elapsed, c.within_chain, pod_identity);
}

/// One of the single-request sources (App Service, Azure ML, Cloud Shell, Service Fabric),
/// awaited: the source builds the request and judges the response exactly as its blocking fetch.
template <class P, class S>
asio::awaitable<TokenResult> source_fetch_async(const P& p, const S& source, const msi::Call& c) {
  if constexpr (requires { source.precheck(); }) {
    if (auto r = source.precheck(); r.failure() != Failure::none) co_return r;
  }
  HttpRequest req = source.request(c);
  req.connect_timeout = c.connect_timeout;
  req.timeout = c.timeout;
  const auto request_time = p.clock().now();
  Outcome<HttpResponse> out = co_await send_with_retry_async(p, req, c.retry);
  co_return source.result(req, out.value, out.ec, request_time, c);
}

/// Azure Arc, awaited: the challenge, the key file check and read, the keyed request.
template <class P>
asio::awaitable<TokenResult> arc_fetch_async(const P& p, const mi::AzureArc& arc,
                                             const msi::Call& c) {
  if (auto r = arc.precheck(); r.failure() != Failure::none) co_return r;
  HttpRequest req = arc.request(c);
  req.connect_timeout = c.connect_timeout;
  req.timeout = c.timeout;
  Outcome<HttpResponse> challenge = co_await send_with_retry_async(p, req, c.retry);
  std::string key;
  if (auto r = arc.answer_challenge(p, req, challenge.value, challenge.ec, c, key);
      r.failure() != Failure::none)
    co_return r;
  if (co_await cancelled()) {
    key.assign(key.size(), '\0');
    co_return TokenResult::failed(msi::credential_name, std::string(msi::credential_name) +
                                                            ": the token request was cancelled.");
  }
  const auto request_time = p.clock().now();
  Outcome<HttpResponse> out = co_await send_with_retry_async(p, req, c.retry);
  co_return arc.result(req, out.value, out.ec, request_time, c, key);
}

template <class T, class V>
struct variant_holds : std::false_type {};
template <class T, class... A>
struct variant_holds<T, std::variant<A...>> : std::bool_constant<(std::is_same_v<A, T> || ...)> {};

/// The source of type T if the credential detected it (nullptr also when T is not a candidate).
template <class T, class V>
const T* source_if(const V& v) noexcept {
  if constexpr (variant_holds<T, V>::value)
    return std::get_if<T>(&v);
  else
    return nullptr;
}

template <class C>
asio::awaitable<TokenResult> blocking_async(const C& cred, TokenRequestContext ctx, Caller via);
template <class C>
asio::awaitable<TokenResult> try_get_token_async(const C& cred, TokenRequestContext ctx,
                                                 Caller via = {});
template <class C>
std::optional<TokenResult> cached_hit(const C& cred, const TokenRequestContext& ctx);

/// ManagedIdentityCredential, natively for every source: IMDS (VMs, scale sets, AKS pod
/// identity), App Service and Functions, Azure Arc, Service Fabric, Cloud Shell, Azure ML, and
/// AKS workload identity (through the inner WorkloadIdentityCredential's own path).
struct ManagedIdentityAsync {
  template <class P, class... S>
  static constexpr bool may_be_native = AsyncCapablePlatform<P>;

  /// The blocking hit path's lookup: the same key (managed identity ignores a requested tenant).
  template <class P, class... S>
  static std::optional<TokenResult> cached(const ManagedIdentityCredential<P, S...>& cred,
                                           const TokenRequestContext& ctx) {
    if (ctx.scopes.size() != 1 || !cred.identity_error_.empty()) return std::nullopt;
    if (const auto* token = TokenCacheHitPath::find_or_refill(cred.cache_, ctx, std::string_view{},
                                                              cred.platform_.clock()))
      return TokenResult(*token);
    return std::nullopt;
  }

  template <class P, class... S>
  static asio::awaitable<TokenResult> get(const ManagedIdentityCredential<P, S...>& cred,
                                          TokenRequestContext ctx, Caller via) {
    using Cred = ManagedIdentityCredential<P, S...>;
    const auto& sources = cred.source_;
    const mi::Imds* imds = source_if<mi::Imds>(sources);
    // Refused before any I/O (no source, scope count, a blank scope, identity options, a
    // malformed IMDS authority): the blocking path answers without blocking.
    if (std::holds_alternative<msi::NoSource>(sources) || ctx.scopes.size() != 1 ||
        msi::blank_resource(ctx.scopes.front()) || !cred.identity_error_.empty() ||
        (imds != nullptr && imds->authority().empty())) {
      const ChainScope scope(via);
      co_return cred.try_get_token(ctx);
    }
    const ManagedIdentityCredentialOptions& o = cred.options_;
    const bool within_chain = cred.within_chain(via);
    const std::string resource = msi::resource_from_scope(ctx.scopes.front());
    const std::string refresh_sha256 = cred.refresh_hint(ctx);
    const msi::Call call{resource,  cred.id_, within_chain, o.connect_timeout,
                         o.timeout, o.retry,  o.imds,       refresh_sha256};
    const P& platform = cred.platform_;
    TokenResult result = co_await cached_async(
        Cred::name, cred.cache_, ctx, std::string_view{}, platform.clock(),
        [&]() -> asio::awaitable<TokenResult> {
          if constexpr (Cred::has_workload_identity) {
            // AKS workload identity: the inner WorkloadIdentityCredential's own asynchronous exchange.
            if (source_if<mi::WorkloadIdentity>(sources) != nullptr)
              co_return co_await try_get_token_async(*cred.workload_identity_.credential,
                                                     Cred::workload_identity_request(ctx), via);
          }
          if (imds !=
              nullptr)  // the probe runs only inside a chain, never for pod identity (as mi::Imds::fetch)
            co_return co_await imds_fetch_async(platform, imds->authority(),
                                                within_chain && !imds->pod_identity(),
                                                imds->pod_identity(), call, cred.state_);
          if (const auto* arc = source_if<mi::AzureArc>(sources))
            co_return co_await arc_fetch_async(platform, *arc, call);
          if (const auto* s = source_if<mi::AppService>(sources))
            co_return co_await source_fetch_async(platform, *s, call);
          if (const auto* s = source_if<mi::ServiceFabric>(sources))
            co_return co_await source_fetch_async(platform, *s, call);
          if (const auto* s = source_if<mi::AzureMl>(sources))
            co_return co_await source_fetch_async(platform, *s, call);
          if (const auto* s = source_if<mi::CloudShell>(sources))
            co_return co_await source_fetch_async(platform, *s, call);
          co_return TokenResult::failed(Cred::name,
                                        std::string(Cred::name) + ": no managed identity source.");
        });
    log_outcome(platform.logger(), Cred::name, result, cred.logs_as_member(via));
    co_return result;
  }
};

}  // namespace detail

// Declared here, defined in the developer-tool headers (included by those who use them).
template <detail::ToolPlatform P>
class AzureCliCredential;
template <detail::ToolPlatform P>
class AzureDeveloperCliCredential;
template <detail::ToolPlatform P>
class AzurePowerShellCredential;

namespace detail {

template <class C>
struct is_dev_tool : std::false_type {};
template <class P>
struct is_dev_tool<AzureCliCredential<P>> : std::true_type {};
template <class P>
struct is_dev_tool<AzureDeveloperCliCredential<P>> : std::true_type {};
template <class P>
struct is_dev_tool<AzurePowerShellCredential<P>> : std::true_type {};

template <class C>
struct is_managed_identity : std::false_type {};
template <class P, class... S>
struct is_managed_identity<ManagedIdentityCredential<P, S...>>
    : std::bool_constant<ManagedIdentityAsync::may_be_native<P, S...>> {};

template <class C>
struct is_chain : std::false_type {};
template <class... Cs>
struct is_chain<Chain<Cs...>> : std::true_type {};

/// Grants the asynchronous walk the chain's sticky selection.
struct ChainAsync {
  template <class Ch>
  static void select(const Ch& chain, int index) noexcept {
    chain.selected_.store(index, std::memory_order_release);
  }
};

/// The confidential family: the credential's own try_get_token, under a PlanScope, validates the
/// request, resolves the tenant, answers from the cache on a hit, and otherwise says what it would
/// send; that exchange then runs here, asynchronously, through the same cache.
/// AzurePipelinesCredential's client authentication, awaited: the job's OIDC endpoint is asked
/// for the service connection's token (same request, same judgement of the answer as blocking).
struct AzurePipelinesAsync {
  template <class P>
  static asio::awaitable<TokenResult> auth(const AzurePipelinesCredential<P>& cred,
                                           std::string& fields) {
    HttpRequest req;
    if (auto r = cred.oidc_request(req); r.failure() != Failure::none) co_return r;
    Outcome<HttpResponse> sent =
        co_await send_with_retry_async(cred.client_.platform(), req, cred.retry_);
    std::string oidc;
    if (auto r = cred.oidc_result(sent.value, sent.ec, oidc); r.failure() != Failure::none)
      co_return r;
    append_client_assertion(fields, oidc);
    co_return TokenResult{};
  }
};

/// WorkloadIdentityCredential after a result: a refused token may have been rotated since it was
/// read, so the file is read afresh next time (as the blocking try_get_token does).
struct WorkloadIdentityAsync {
  template <class P>
  static void after(const WorkloadIdentityCredential<P>& cred, const TokenResult& r) {
    if (!r.ok() && r.error_info().sts && cred.token_file_) cred.token_file_->forget();
  }
};

template <class C>
struct is_pipelines : std::false_type {};
template <class P>
struct is_pipelines<AzurePipelinesCredential<P>> : std::true_type {};
template <class C>
struct is_workload_identity : std::false_type {};
template <class P>
struct is_workload_identity<WorkloadIdentityCredential<P>> : std::true_type {};

template <class C>
asio::awaitable<TokenResult> confidential_async(const C& cred, TokenRequestContext ctx,
                                                Caller via) {
  using P = typename confidential_platform<C>::type;
  ConfidentialPlan plan;
  TokenResult early;
  {
    PlanScope scope(plan);
    const ChainScope chain_scope(via);
    early = cred.try_get_token(ctx);
  }
  if (!plan.captured) co_return early;  // a cache hit, or a failure found before any I/O
  const P& platform = *static_cast<const P*>(plan.platform);
  const std::string_view name = C::name;
  TokenResult result = co_await cached_async(
      name, *plan.cache, ctx, plan.tenant, platform.clock(), [&]() -> asio::awaitable<TokenResult> {
        if (!plan.tenant_note.empty()) platform.logger().write(LogLevel::info, plan.tenant_note);
        std::string fields;
        if constexpr (is_pipelines<C>::value) {
          if (auto r = co_await AzurePipelinesAsync::auth(cred, fields);
              r.failure() != Failure::none)
            co_return r;
        } else {
          if (auto r = plan.auth(plan.endpoint, fields); r.failure() != Failure::none) co_return r;
        }
        HttpRequest req =
            make_client_credentials_request(plan.endpoint, plan.client_id, ctx, fields);
        req.connect_timeout = plan.connect_timeout;
        req.timeout = plan.timeout;
        const auto request_time = platform.clock().now();
        Outcome<HttpResponse> sent = co_await send_with_retry_async(platform, req, plan.retry);
        const std::string_view assertion = form_field(fields, "client_assertion");
        co_return with_request_scopes(
            redact_secrets(token_result(name, plan.endpoint, sent.value, sent.ec, request_time,
                                        plan.sts_failure),
                           {assertion, percent_decode(assertion, true)}),
            ctx);
      });
  if (!result.ok() && plan.secret != nullptr && !plan.secret->empty())
    result = redact_secrets(std::move(result), {*plan.secret, *plan.secret_encoded});
  if constexpr (is_workload_identity<C>::value) WorkloadIdentityAsync::after(cred, result);
  log_outcome(platform.logger(), name, result, via.in_chain);
  co_return result;
}

/// Credentials without a native path (developer tools, managed identity, Azure Pipelines, or any
/// credential on a platform without an asynchronous transport): the blocking try_get_token runs
/// on a thread of its own, and the result is posted back to the caller's executor, which is
/// never blocked (and is kept from running out of work meanwhile). The call itself cannot be
/// interrupted: a cancelled caller completes with operation_aborted when it returns (never
/// before, since the call is still using the credential).
/// Where the thread of blocking_async leaves its result: a timer on the caller's strand that the
/// thread cancels (through a post to that strand) once the result is in.
struct BlockingBridge {
  explicit BlockingBridge(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  TokenResult result;
};

/// What a blocking_call_async thread may touch of the caller's execution context, under `mu`:
/// the work guard and the bridge (a timer), until the context shuts down. An application may
/// stop and destroy its io_context with such a call still running; the context's shutdown then
/// drops both (BlockingCalls below) and the thread, when its call returns, touches nothing of
/// the context. It is still inside the credential's blocking call until then, so the credential
/// must outlive it (README: at most the tool's process_timeout); the shutdown does not wait for
/// it, since the call may itself wait for a fetch that only the context's destruction releases.
struct BlockingHandoff {
  std::mutex mu;
  bool gone = false;
  std::optional<asio::any_io_executor> work;  // outstanding_work.tracked
  std::shared_ptr<BlockingBridge> bridge;
};

/// A service of the caller's execution context that knows the hand-offs still in flight, so
/// that the context's shutdown (the first step of its destruction, while it still exists) can
/// cut them off from it.
class BlockingCalls final : public asio::execution_context::service {
 public:
  inline static asio::execution_context::id id;
  explicit BlockingCalls(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

  void add(const std::shared_ptr<BlockingHandoff>& h) {
    std::lock_guard lk(mu_);
    std::erase_if(live_, [](const std::weak_ptr<BlockingHandoff>& w) { return w.expired(); });
    live_.push_back(h);
  }

 private:
  void shutdown() override {
    std::vector<std::weak_ptr<BlockingHandoff>> live;
    {
      std::lock_guard lk(mu_);
      live.swap(live_);
    }
    for (const auto& w : live) {
      if (auto h = w.lock()) {
        std::lock_guard lk(h->mu);
        h->gone = true;
        h->work.reset();  // the context is still there to count the work as finished
        h->bridge.reset();
      }
    }
  }

  std::mutex mu_;
  std::vector<std::weak_ptr<BlockingHandoff>> live_;
};

/// Runs `call()` (a blocking call returning TokenResult) on a thread of its own and completes on
/// the calling coroutine's executor with its result.
template <class F>
asio::awaitable<TokenResult> blocking_call_async(std::string_view name, F call) {
  // Everything named outside the co_await expression: GCC 12 may destroy temporaries of such an
  // expression twice (seen under TSan as a strand executor's reference count underflowing).
  const asio::any_io_executor ex = co_await asio::this_coro::executor;
  auto bridge = std::make_shared<BlockingBridge>(ex);
  bridge->timer.expires_at(asio::steady_timer::time_point::max());
  auto handoff = std::make_shared<BlockingHandoff>();
  handoff->bridge = bridge;
  // The context waits for the thread (run() does not return while the call is running).
  handoff->work.emplace(asio::prefer(ex, asio::execution::outstanding_work.tracked));
  asio::use_service<BlockingCalls>(asio::query(ex, asio::execution::context)).add(handoff);
  std::thread([name, call = std::move(call), handoff]() mutable {
    TokenResult r;
    try {
      r = call();
    } catch (const std::invalid_argument& e) {  // as the blocking call reports it
      r = TokenResult::invalid_argument(name, std::string(name) + ": " + e.what());
    } catch (const std::exception& e) {
      r = TokenResult::failed(name, std::string(name) + ": " + e.what());
    } catch (...) {  // a thread must not end in std::terminate
      r = TokenResult::failed(name, std::string(name) + ": unexpected failure.");
    }
    std::lock_guard lk(handoff->mu);
    if (handoff->gone) return;  // the context shut down meanwhile: nothing of it is left to us
    // The bridge (a timer) moves into the handler, to be destroyed on its executor, never here;
    // the work guard is let go while the context is known to exist (shutdown waits for `mu`).
    asio::post(*handoff->work, [b = std::move(handoff->bridge), r = std::move(r)]() mutable {
      b->result = std::move(r);
      b->timer.cancel();
    });
    handoff->work.reset();
  }).detach();
  // The wait is not cancellable: the thread is still using the credential (and whatever the
  // call captured), which the caller may destroy as soon as the operation completes. A
  // cancellation therefore takes effect when the blocking call returns, its result dropped.
  auto [ec] = co_await bridge->timer.async_wait(
      asio::bind_cancellation_slot(asio::cancellation_slot(), use_tuple_awaitable));
  (void)ec;
  // Returned even when the caller has been cancelled meanwhile: the callers above map the
  // cancellation, and a token the call produced can still serve the waiters of its key.
  co_return std::move(bridge->result);
}

template <class C>
asio::awaitable<TokenResult> blocking_async(const C& cred, TokenRequestContext ctx, Caller via) {
  {
    const ChainScope scope(via);
    if (std::optional<TokenResult> hit = cached_hit(cred, ctx))
      co_return std::move(*hit);  // no thread
  }
  // The callable is named, not a temporary of the co_await expression (see blocking_call_async).
  auto call = [&cred, c = std::move(ctx), via] {
    const ChainScope scope(via);  // the thread's caller is the chain's, if any
    return cred.try_get_token(c);
  };
  TokenResult r = co_await blocking_call_async(C::name, std::move(call));
  co_return r;
}

/// The developer tools: the tool still runs on a thread of its own (one per fetch), but through
/// the cache's asynchronous single flight, so concurrent callers wait as queued handlers and a
/// hit never leaves the executor.
template <class C>
asio::awaitable<TokenResult> dev_tool_async(const C& cred, TokenRequestContext ctx, Caller via) {
  DevToolPlan plan;
  TokenResult early;
  {
    DevToolPlanScope scope(plan);
    const ChainScope chain_scope(via);
    early = cred.try_get_token(ctx);
  }
  if (!plan.captured) co_return early;  // refused before any process (scopes, tenant, claims)
  co_return co_await cached_async(C::name, *plan.cache, ctx, plan.tenant, cred.platform().clock(),
                                  [&]() -> asio::awaitable<TokenResult> {
                                    auto run = [&cred, c = ctx, via] {
                                      DevToolPlan direct;
                                      direct.mode = DevToolPlan::Mode::direct;
                                      DevToolPlanScope scope(direct);
                                      const ChainScope chain_scope(via);
                                      return cred.try_get_token(c);
                                    };
                                    TokenResult r =
                                        co_await blocking_call_async(C::name, std::move(run));
                                    co_return r;
                                  });
}

template <std::size_t I, class... Cs>
asio::awaitable<TokenResult> chain_member_async(const Chain<Cs...>& chain, std::size_t index,
                                                const TokenRequestContext& ctx, Caller via) {
  if constexpr (I < sizeof...(Cs)) {
    if (index == I) co_return co_await try_get_token_async(chain.template member<I>(), ctx, via);
    co_return co_await chain_member_async<I + 1>(chain, index, ctx, via);
  } else {
    co_return TokenResult::failed(chain.options().display_name, "no such chain member");
  }
}

/// Logs as Chain::log does: the chain's own logger when it has one, else the member's platform's.
template <class M>
void chain_log(const ChainOptions& o, const M& member, LogLevel level, const std::string& text) {
  const Logger* l = o.logger != nullptr ? o.logger : logger_of(member);
  if (l != nullptr && l->enabled(level)) l->write(level, text);
}

/// Chain::walk, awaited member by member: unavailable moves on, anything else stops, the failure
/// lists every attempt, sticky chains remember the member that succeeded.
template <std::size_t I, class... Cs>
asio::awaitable<TokenResult> chain_walk_async(const Chain<Cs...>& chain,
                                              const TokenRequestContext& ctx,
                                              std::vector<CredentialAttempt> attempts, Caller via) {
  const ChainOptions& o = chain.options();
  if constexpr (I == sizeof...(Cs)) {
    ErrorInfo info;
    info.credential = std::string(o.display_name);
    info.message = chain_failure_message(o.display_name, attempts);
    info.attempts = std::move(attempts);
    chain_log(o, chain.template member<0>(), LogLevel::warning, info.message);
    co_return TokenResult::error(Failure::unavailable, std::move(info));
  } else {
    if (((o.enabled >> I) & 1u) == 0)  // narrowed out at run time (AZURE_TOKEN_CREDENTIALS)
      co_return co_await chain_walk_async<I + 1>(chain, ctx, std::move(attempts), via);
    const auto& m = chain.template member<I>();
    using M = std::remove_cvref_t<decltype(m)>;
    // As Chain::walk's ChainScope: the member is told it is in a chain (and whose).
    const Caller member_caller{true, o.default_chain || via.in_default_chain};
    TokenResult r = co_await try_get_token_async(m, ctx, member_caller);
    switch (r.failure()) {
      case Failure::none:
        if (!r.ok()) break;
        if (o.sticky) ChainAsync::select(chain, static_cast<int>(I));
        chain_log(o, m, LogLevel::info,
                  std::string(o.display_name) + " acquired a token from " + std::string(M::name));
        co_return r;
      case Failure::unavailable:
        attempts.push_back({std::string(M::name), r.error_info().message, true});
        break;
      case Failure::invalid_argument:
        co_return r;  // the caller's mistake: no other member would do better
      default: {
        attempts.push_back({std::string(M::name), r.error_info().message, false});
        ErrorInfo info = r.error_info();
        info.credential = std::string(o.display_name);
        info.message = chain_failure_message(o.display_name, attempts);
        info.attempts = std::move(attempts);
        chain_log(o, m, LogLevel::warning, info.message);
        co_return TokenResult::error(r.failure(), std::move(info));
      }
    }
    if (co_await cancelled()) co_return cancelled_result(o.display_name);
    co_return co_await chain_walk_async<I + 1>(chain, ctx, std::move(attempts), via);
  }
}

template <class... Cs>
asio::awaitable<TokenResult> chain_async(const Chain<Cs...>& chain, TokenRequestContext ctx,
                                         Caller via) {
  if (chain.options().sticky) {
    if (const int s = chain.selected(); s >= 0) {
      Caller settled = via;  // as Chain::try_get_token: the member answers as on its own
      settled.settled = true;
      co_return co_await chain_member_async<0>(chain, static_cast<std::size_t>(s), ctx, settled);
    }
  }
  co_return co_await chain_walk_async<0>(chain, ctx, {}, via);
}

}  // namespace detail

// Declared here, defined in azid/default_azure_credential.hpp (included by those who use it).
template <class Excl, Platform P>
class DefaultAzureCredential;

namespace detail {

template <class C>
struct is_default_azure_credential : std::false_type {};
template <class E, Platform P>
struct is_default_azure_credential<DefaultAzureCredential<E, P>> : std::true_type {};

/// DefaultAzureCredential: its configuration error, else its chain walked asynchronously (each
/// member native or not on its own; the AZURE_TOKEN_CREDENTIALS narrowing and stickiness apply).
template <class C>
struct is_native_async;

struct DefaultAzureCredentialAsync {
  template <class D>
  static constexpr bool native() noexcept {
    return is_native_async<typename D::chain_type>::value;
  }
  template <class D>
  static const auto& chain(const D& dac) noexcept {
    return dac.chain_;
  }
};

template <std::size_t I, class... Cs>
std::optional<TokenResult> chain_member_hit(const Chain<Cs...>& chain, std::size_t index,
                                            const TokenRequestContext& ctx) {
  if constexpr (I < sizeof...(Cs)) {
    if (index == I) return cached_hit(chain.template member<I>(), ctx);
    return chain_member_hit<I + 1>(chain, index, ctx);
  } else {
    return std::nullopt;
  }
}

/// What the blocking path answers without I/O: a fresh cached token for `ctx`, looked up as the
/// blocking hit path does (no lock), or a refusal found before any I/O (a tenant not allowed, a
/// scope a tool refuses: already logged by the call that found it); else nothing. Lets the
/// initiating function complete either without starting a coroutine, and the blocking fallback
/// answer it without a thread.
template <class C>
std::optional<TokenResult> cached_hit(const C& cred, const TokenRequestContext& ctx) {
  if constexpr (requires { typename confidential_platform<C>::type; }) {
    // The planning call returns the token on a hit and captures a plan (no I/O) otherwise, on
    // any platform: a blocking one too, whose misses alone need a thread.
    ConfidentialPlan plan;
    TokenResult r;
    {
      PlanScope scope(plan);
      r = cred.try_get_token(ctx);
    }
    // This thread's slot held it, or the request was refused (and logged) before any plan: asked
    // again, the credential would answer (and log) the same.
    if (!plan.captured) return r;
    // The token may still be cached, just not yet seen by this thread.
    using P = typename confidential_platform<C>::type;
    const P& platform = *static_cast<const P*>(plan.platform);
    if (const auto* t =
            TokenCacheHitPath::find_or_refill(*plan.cache, ctx, plan.tenant, platform.clock()))
      return TokenResult(*t);
    return std::nullopt;
  } else if constexpr (requires { ManagedIdentityAsync::cached(cred, ctx); }) {
    return ManagedIdentityAsync::cached(cred, ctx);
  } else if constexpr (is_dev_tool<C>::value) {
    DevToolPlan plan;
    TokenResult r;
    {
      DevToolPlanScope scope(plan);
      r = cred.try_get_token(ctx);
    }
    if (!plan.captured) return r;  // refused (and logged) before any process
    if (const auto* t = TokenCacheHitPath::find_or_refill(*plan.cache, ctx, plan.tenant,
                                                          cred.platform().clock()))
      return TokenResult(*t);
    return std::nullopt;
  } else if constexpr (is_chain<C>::value) {
    // A sticky chain that settled on a member answers from that member's cache, as
    // Chain::try_get_token does; otherwise the walk decides, so no shortcut.
    if (!cred.options().sticky) return std::nullopt;
    const int s = cred.selected();
    if (s < 0) return std::nullopt;
    return chain_member_hit<0>(cred, static_cast<std::size_t>(s), ctx);
  } else if constexpr (is_default_azure_credential<C>::value) {
    if (!cred.configuration_error().empty()) return std::nullopt;
    return cached_hit(DefaultAzureCredentialAsync::chain(cred), ctx);
  } else {
    (void)cred;
    (void)ctx;
    return std::nullopt;
  }
}

/// cached_hit for an initiating function, on the caller's thread: as a call on its own (the
/// coroutine would run with no caller either), whatever chain or sink that thread is inside.
template <class C>
std::optional<TokenResult> initiating_hit(const C& cred, const TokenRequestContext& ctx) {
  const CallContextPause pause;
  return cached_hit(cred, ctx);
}

/// The dispatch: native where the credential has a native path, else the blocking fallback.
template <class C>
asio::awaitable<TokenResult> try_get_token_async(const C& cred, TokenRequestContext ctx,
                                                 Caller via) {
  if constexpr (is_chain<C>::value)
    co_return co_await chain_async(cred, std::move(ctx), via);
  else if constexpr (is_default_azure_credential<C>::value) {
    if (!cred.configuration_error().empty())
      co_return TokenResult::invalid_argument(C::name, std::string(cred.configuration_error()));
    co_return co_await chain_async(DefaultAzureCredentialAsync::chain(cred), std::move(ctx), via);
  } else if constexpr (NativeConfidential<C>)
    co_return co_await confidential_async(cred, std::move(ctx), via);
  else if constexpr (is_managed_identity<C>::value)
    co_return co_await ManagedIdentityAsync::get(cred, std::move(ctx), via);
  else if constexpr (is_dev_tool<C>::value)
    co_return co_await dev_tool_async(cred, std::move(ctx), via);
  else
    co_return co_await blocking_async(cred, std::move(ctx), via);
}

/// Whether `C` gets a token without a thread of its own (a chain: when all its members do).
template <class C>
struct is_native_async
    : std::bool_constant<NativeConfidential<C> || is_managed_identity<C>::value> {};
template <class... Cs>
struct is_native_async<Chain<Cs...>> : std::bool_constant<(is_native_async<Cs>::value && ...)> {};
template <class E, Platform P>
struct is_native_async<DefaultAzureCredential<E, P>>
    : std::bool_constant<DefaultAzureCredentialAsync::native<DefaultAzureCredential<E, P>>()> {};

/// The executor a credential's asynchronous work defaults to: its transport's (for a chain, that
/// of the first member that has one).
template <class C>
concept HasAsyncExecutor = requires(const C& c) {
  { c.platform().transport().get_executor() } -> std::convertible_to<asio::any_io_executor>;
};

template <class C>
constexpr bool has_default_executor() {
  if constexpr (HasAsyncExecutor<C>)
    return true;
  else if constexpr (is_chain<C>::value)
    return []<class... Cs>(std::type_identity<Chain<Cs...>>) {
      return (has_default_executor<Cs>() || ...);
    }(std::type_identity<C>{});
  else
    return false;
}

template <class C>
asio::any_io_executor default_executor(const C& cred) {
  if constexpr (HasAsyncExecutor<C>) {
    return cred.platform().transport().get_executor();
  } else {
    return [&]<class... Cs>(const Chain<Cs...>& chain) {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        asio::any_io_executor ex;
        auto pick = [&](const auto& member) {
          if constexpr (has_default_executor<std::remove_cvref_t<decltype(member)>>()) {
            ex = default_executor(member);
            return true;
          } else {
            return false;
          }
        };
        (void)(pick(chain.template member<I>()) || ...);
        return ex;
      }
      (std::index_sequence_for<Cs...>{});
    }(cred);
  }
}

/// The top-level coroutine: the result, or operation_aborted when the caller cancelled.
template <class C>
asio::awaitable<Outcome<TokenResult>> top_async(const C& cred, TokenRequestContext ctx) {
  // Cancellation is observed where it matters (cancelled() below and in the steps), not thrown
  // from the next co_await: a fetch must get to release its cache entry.
  co_await asio::this_coro::throw_if_cancelled(false);
  Outcome<TokenResult> out;
  out.value = co_await try_get_token_async(cred, std::move(ctx));
  if (co_await cancelled()) out.ec = asio::error::operation_aborted;
  co_return out;
}

template <class C>
asio::awaitable<Outcome<AccessToken>> access_token_async(const C& cred, TokenRequestContext ctx) {
  Outcome<TokenResult> r = co_await top_async(cred, std::move(ctx));
  Outcome<AccessToken> out;
  out.ec = r.ec ? r.ec : to_error_code(r.value);
  if (!out.ec) out.value = r.value.token();
  co_return out;
}

}  // namespace detail

/// Whether `async_get_token` on a `C` runs without a thread of its own (see the functions below).
template <class C>
inline constexpr bool is_native_async_v = detail::is_native_async<C>::value;

/// Gets a token asynchronously; completes with `void(std::error_code, AccessToken)`.
///
/// `ec` is empty on success, otherwise a `token_errc` naming the kind of failure (the message
/// itself comes with async_try_get_token), or asio::error::operation_aborted when the operation
/// was cancelled through the completion handler's cancellation slot. Any Asio completion token
/// works: a callback, asio::use_future, asio::use_awaitable (C++20 coroutines), deferred.
///
/// Work runs on a strand of `ex`; the handler runs on its associated executor (default: that
/// strand); it is never invoked from inside this call. A cache hit completes without I/O, and so
/// does a request the credential refuses before any (a tenant it may not use, for instance).
/// Concurrent callers for one key share one request with each other and with synchronous callers:
/// asynchronous waiters are queued handlers, not blocked threads.
///
/// Native (no thread of its own, I/O on `ex`'s io_context, whichever the transport was made
/// with, for an AsyncHttpsTransport): ClientSecretCredential,
/// CertificateCredential, ClientAssertionCredential, WorkloadIdentityCredential,
/// EnvironmentCredential, AzurePipelinesCredential, ManagedIdentityCredential (every source), and chains and
/// DefaultAzureCredential made of them (AZURE_TOKEN_CREDENTIALS applies), on a platform
/// whose transport models AsyncTransport (AsyncPlatform), and chains of them. Every other credential runs its blocking try_get_token on a thread of its
/// own and completes on `ex` (is_native_async_v says which applies), on a miss only: a hit of an
/// azid credential on any platform, or of a sticky chain that settled on a member, is one post.
///
/// `cred` must outlive the operation; `ctx` is copied.
template <class C, class CompletionToken>
requires Credential<C>
auto async_get_token(asio::any_io_executor ex, const C& cred, const TokenRequestContext& ctx,
                     CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code, AccessToken)>(
      [](auto handler, asio::any_io_executor ex, const C* cred, TokenRequestContext ctx) {
        // A cache hit (or a refusal before any I/O) completes with one post: no strand, no
        // coroutine.
        if (std::optional<TokenResult> hit = detail::initiating_hit(*cred, ctx)) {
          auto handler_ex = asio::get_associated_executor(handler, ex);
          const std::error_code ec = to_error_code(*hit);
          AccessToken t = ec ? AccessToken{} : hit->token();
          asio::post(handler_ex, [h = std::move(handler), ec, t = std::move(t)]() mutable {
            std::move(h)(ec, std::move(t));
          });
          return;
        }
        // Not a coroutine lambda: a coroutine's captures would die with the closure.
        detail::launch_outcome<AccessToken>(
            std::move(ex), std::move(handler),
            [cred, ctx = std::move(ctx)] { return detail::access_token_async(*cred, ctx); });
      },
      token, std::move(ex), &cred, ctx);
}

/// async_get_token on the credential's own executor: its transport's (AsyncPlatform), or for a
/// chain the first member's that has one.
template <class C, class CompletionToken>
requires Credential<C> &&
    (detail::has_default_executor<C>()) auto async_get_token(const C& cred,
                                                             const TokenRequestContext& ctx,
                                                             CompletionToken&& token) {
  return async_get_token(detail::default_executor(cred), cred, ctx,
                         std::forward<CompletionToken>(token));
}

/// Like async_get_token, but completes with `void(TokenResult)`: the token, or the failure with
/// the same kind and message try_get_token gives. Cancellation yields a failed result
/// ("<credential>: the token request was cancelled.").
template <class C, class CompletionToken>
requires Credential<C>
auto async_try_get_token(asio::any_io_executor ex, const C& cred, const TokenRequestContext& ctx,
                         CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(TokenResult)>(
      [](auto handler, asio::any_io_executor ex, const C* cred, TokenRequestContext ctx) {
        if (std::optional<TokenResult> hit = detail::initiating_hit(*cred, ctx)) {
          auto handler_ex = asio::get_associated_executor(handler, ex);
          asio::post(handler_ex, [h = std::move(handler), r = std::move(*hit)]() mutable {
            std::move(h)(std::move(r));
          });
          return;
        }
        auto strand = asio::make_strand(ex);
        auto handler_ex = asio::get_associated_executor(handler, strand);
        auto slot = asio::get_associated_cancellation_slot(handler);
        asio::co_spawn(
            strand, detail::top_async(*cred, std::move(ctx)),
            asio::bind_cancellation_slot(
                slot, asio::bind_executor(handler_ex, [h = std::move(handler)](
                                                          std::exception_ptr ep,
                                                          detail::Outcome<TokenResult> o) mutable {
                  if (ep)
                    o.value = detail::cancelled_before_start(ep)
                                  ? detail::cancelled_result(C::name)
                                  : TokenResult::failed(
                                        C::name, std::string(C::name) + ": unexpected failure.");
                  else if (o.ec && o.value.ok())
                    o.value = detail::cancelled_result(C::name);
                  std::move(h)(std::move(o.value));
                })));
      },
      token, std::move(ex), &cred, ctx);
}

template <class C, class CompletionToken>
requires Credential<C> &&
    (detail::has_default_executor<C>()) auto async_try_get_token(const C& cred,
                                                                 const TokenRequestContext& ctx,
                                                                 CompletionToken&& token) {
  return async_try_get_token(detail::default_executor(cred), cred, ctx,
                             std::forward<CompletionToken>(token));
}

AZID_END
