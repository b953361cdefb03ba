// azid/detail/managed_identity.hpp: what the managed identity sources share: request context,
// per-credential state, the IMDS probe and retry loop, and the pure request/response helpers
// (managed-identity.md). Light: the non-template parts live in impl/managed_identity.ipp.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/error_code.hpp"
#include "azid/core/log.hpp"
#include "azid/core/result.hpp"
#include "azid/credentials/managed_identity/options.hpp"
#include "azid/detail/http_driver.hpp"
#include "azid/detail/names.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN
namespace detail::msi {

inline constexpr std::string_view credential_name = "ManagedIdentityCredential";
/// Largest Arc challenge key file (managed-identity.md §6).
inline constexpr std::size_t arc_key_max_bytes = 4096;

/// What one token fetch needs, whatever the source.
struct Call {
  std::string_view resource;
  const ManagedIdentityId& id;
  bool within_chain;
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds timeout;
  const RetryOptions& retry;
  const ImdsOptions& imds;
  /// Lower-case hex SHA-256 of the cached token a claims request replaces, or empty. Service
  /// Fabric sends it as `token_sha256_to_refresh` (caching-and-tenants.md §3), so its local token
  /// service fetches a new token instead of answering with the one the resource refused.
  std::string_view refresh_sha256;
};

/// Lower-case hex SHA-256 of `data`.
AZID_DECL std::string sha256_hex(std::string_view data);

/// Per-credential memory shared by all threads: the IMDS probe's verdict and failures that
/// later calls repeat without I/O (managed-identity.md §4.2, §4.3: a failed probe and a 400 that
/// says the identity is not assigned). `mu` guards the fields only: no I/O, log write or wait
/// for the network happens while it is held.
struct State {
  std::mutex mu;
  bool probed = false;
  TokenResult remembered;
  bool remembered_probe = false;  // `remembered` is a failed probe's verdict
  /// A blocking probe is in flight (run by `prober`): other blocking callers wait on
  /// `probe_done` for its verdict instead of sending a probe of their own.
  bool probing = false;
  std::thread::id prober;
  std::condition_variable probe_done;
};

/// The alternative a credential holds when none of its compiled-in sources is configured.
struct NoSource {
  std::string message;
};

/// One failed IMDS attempt, kept for the "Multiple attempts failed" message.
struct Attempt {
  int status = 0;      ///< 0: no response
  std::string detail;  ///< the transport error, or a scrubbed excerpt of the body
};

// --- requests -------------------------------------------------------------------------------

/// The resource for a single scope: the scope without a trailing "/.default" (spec README R2).
AZID_DECL std::string resource_from_scope(std::string_view scope);
/// Folds the three user-assigned options into `out`; returns the MSAL argument error text when
/// more than one is set (managed-identity.md §1), else "".
AZID_DECL std::string resolve_identity(const ManagedIdentityCredentialOptions& o,
                                       ManagedIdentityId& out);
/// Appends `&key=value` (or `?key=value` to a URL without a query), value percent-encoded.
/// A URL with a fragment ('#') is refused, since the parameter would land inside the fragment,
/// which is never sent: `url` is cleared (so no request can go out) and false returned. The
/// sources validate their endpoints when detected (invalid_endpoint), so they never get here.
AZID_DECL bool append_query(std::string& url, std::string_view key, std::string_view value);
/// Whether a scope names no resource: empty or blank, or nothing but "/.default". Refused as an
/// argument error before any I/O (IMDS would answer 400 "Required audience parameter").
[[nodiscard]] AZID_DECL bool blank_resource(std::string_view scope) noexcept;
/// The argument error for a scope blank_resource refuses.
AZID_DECL std::string blank_scope_message();
/// Why `endpoint` (the value of `variable`, e.g. IDENTITY_ENDPOINT) cannot be `source`'s
/// endpoint, or "" when it can: it must be an absolute http(s) URL with a host, without user
/// information and without a fragment, that parse_url accepts. The text quotes the URL without
/// user information, query or fragment (quoted_url): `'<url>' is not a valid <source> endpoint`.
AZID_DECL std::string invalid_endpoint(ManagedIdentitySource source, std::string_view variable,
                                       std::string_view endpoint);
/// A source's configuration error (invalid_endpoint, a bad thumbprint, ...) as the failure that
/// ends every fetch before any I/O (ClientAuthenticationError, in a chain too), or an empty
/// result when `why` is empty.
AZID_DECL TokenResult config_failure(std::string_view why);
/// Whether `url` names this host (localhost, 127.0.0.0/8 as a dotted quad, ::1) or its link
/// (169.254.0.0/16, fe80::/10: App Service on Linux serves its endpoint on a link-local address),
/// as the App Service, Arc, Cloud Shell, Azure ML and most Service Fabric endpoints do. Such a
/// request never goes through a proxy: a remote proxy cannot reach this host's loopback or link,
/// and the request carries the endpoint's secret (X-IDENTITY-HEADER, Arc's key, ...) in the clear.
AZID_DECL bool on_this_host(std::string_view url) noexcept;
/// `{authority}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R[&client_id=..|
/// &object_id=..|&msi_res_id=..]` (managed-identity.md §4.1).
AZID_DECL std::string imds_url(std::string_view authority, std::string_view resource,
                               const ManagedIdentityId& id);
/// Strips a trailing '/' from an authority and checks it is an absolute http(s) URL; sets `why`.
AZID_DECL std::optional<std::string> normalize_imds_authority(std::string_view authority,
                                                              std::string& why);
/// IDENTITY_SERVER_THUMBPRINT without spaces, tabs, newlines and ':', lower case; nullopt unless
/// 40 hex digits remain (managed-identity.md §7).
AZID_DECL std::optional<std::string> normalize_thumbprint(std::string_view thumbprint);

// --- responses ------------------------------------------------------------------------------

/// A 200 response's token, or "Unexpected response" with a scrubbed body (managed-identity.md §3).
AZID_DECL TokenResult token_from_response(const HttpResponse& res,
                                          std::chrono::system_clock::time_point request_time);
/// A request that got no HTTP response (transport error `ec`) from `source`'s `endpoint`.
/// ClientAuthenticationError, or CredentialUnavailableError within a chain; a certificate pin
/// mismatch is always a failure.
AZID_DECL TokenResult no_response(ManagedIdentitySource source, std::string_view endpoint,
                                  const std::error_code& ec, bool within_chain);
/// The transport failures that mean an answer came but could not be read (malformed, headers or
/// body over the limits): no_response reports them as such, and IMDS does not retry them.
[[nodiscard]] AZID_DECL bool unreadable_response(const std::error_code& ec) noexcept;
/// A non-200 answer that is not retried: ClientAuthenticationError with status and detail.
AZID_DECL TokenResult endpoint_failed(ManagedIdentitySource source, const HttpResponse& res);
/// The common outcome of one (retried) exchange with a non-IMDS source.
AZID_DECL TokenResult source_result(ManagedIdentitySource source, std::string_view endpoint,
                                    const HttpResponse& res, const std::error_code& ec,
                                    std::chrono::system_clock::time_point request_time,
                                    bool within_chain);
/// `r`, with every occurrence of `secret` in its message replaced by REDACTED. The sources that
/// send a secret (App Service's identity header, Service Fabric's and Azure ML's secret, the Arc
/// key) pass their results through this, so an endpoint or proxy that echoes the secret back in
/// an error body cannot put it in a message or a log line.
AZID_DECL TokenResult redact_secret(TokenResult r, std::string_view secret);
/// source_result for a source that sent `secret`, then redact_secret. A failure whose body holds
/// the secret (plainly or JSON-escaped) quotes no part of that body: an escaped or cut copy of
/// the secret would get past a text search of the message.
AZID_DECL TokenResult secret_free_result(ManagedIdentitySource source, std::string_view endpoint,
                                         const HttpResponse& res, const std::error_code& ec,
                                         std::chrono::system_clock::time_point request_time,
                                         bool within_chain, std::string_view secret);
/// A body excerpt safe for messages and logs: tokens scrubbed, at most `max_bytes`.
AZID_DECL std::string excerpt(std::string_view body, std::size_t max_bytes = 300);
/// The readable part of an error body: IMDS's `error_description`, App Service's `message`, else
/// the excerpt of the body itself.
AZID_DECL std::string body_detail(std::string_view body);

// --- IMDS -----------------------------------------------------------------------------------

/// 404, 408, 410, 429 and 5xx except 501 and 505 (managed-identity.md §4.3).
[[nodiscard]] constexpr bool imds_retriable_status(int s) noexcept {
  return s == 404 || s == 408 || s == 410 || s == 429 ||
         (s >= 500 && s <= 599 && s != 501 && s != 505);
}
/// Failures that mean "nothing listens there": not retried, since a host without IMDS refuses
/// or drops the connect and waiting would only delay the answer (azure-sdk-for-cpp#4952).
[[nodiscard]] AZID_DECL bool connect_error(const std::error_code& ec) noexcept;
/// Docker Desktop answers for 169.254.169.254 with 403 "... unreachable network/host".
[[nodiscard]] AZID_DECL bool docker_unreachable(const HttpResponse& res);
/// Delay before retry `n` (1-based): base * 2^(n-1), capped, times `jitter_factor`
/// (retry_jitter_factor, the token requests' own generator).
[[nodiscard]] AZID_DECL std::chrono::milliseconds imds_backoff(const ImdsOptions& o, int n,
                                                               double jitter_factor);
AZID_DECL TokenResult imds_not_assigned(const HttpResponse& res, const ManagedIdentityId& id);
/// Whether an IMDS 400 is about the resource, not the identity: `invalid_resource`, AADSTS500011
/// (no such resource principal in the tenant), or a missing audience ("Required audience
/// parameter not specified"). Another resource may well work, so it is not remembered.
[[nodiscard]] AZID_DECL bool imds_resource_refused(const HttpResponse& res);
/// The failure for imds_resource_refused: ClientAuthenticationError naming the resource.
AZID_DECL TokenResult imds_bad_resource(const HttpResponse& res, std::string_view resource);
AZID_DECL TokenResult imds_unreachable_network(const HttpResponse& res);
AZID_DECL TokenResult imds_probe_failed(std::string_view url, const std::error_code& ec);
/// After the retries ran out: gateway error, no endpoint (404 from AKS pod identity's NMI: its
/// identity is not ready), no response, or the generic "Multiple attempts failed" (a 404 from
/// IMDS itself included), each with the attempts made.
AZID_DECL TokenResult imds_exhausted(const std::vector<Attempt>& attempts,
                                     std::chrono::milliseconds elapsed, bool within_chain,
                                     bool pod_identity);

// --- Arc ------------------------------------------------------------------------------------

/// The OS's Arc key folder (Linux /var/opt/azcmagent/tokens; Windows under %ProgramData%), or ""
/// on other systems.
AZID_DECL std::string arc_default_key_directory(const std::optional<std::string>& program_data);
/// Where the Arc agent binary lives on this OS ("" where Arc does not run).
AZID_DECL std::string arc_default_himds_path(const std::optional<std::string>& program_files);
/// Validates the 401 challenge of Arc step 1 and the key file it names (managed-identity.md §6):
/// exactly one '=' in `WWW-Authenticate`, the file in `key_directory`, a `.key` extension, not a
/// symbolic link, a regular file of at most 4096 bytes (checked before reading). On success
/// sets `path` to the file to read and returns an empty result.
AZID_DECL TokenResult arc_key_file(const HttpResponse& challenge, std::string_view key_directory,
                                   std::string& path);

// --- drivers (templates) --------------------------------------------------------------------

/// A repeated failure recorded earlier, or an empty result.
inline TokenResult remembered(State& st) {
  std::lock_guard lk(st.mu);
  return st.remembered;
}

inline void log_line(const Logger& log, LogLevel level, std::string_view text) {
  if (log.enabled(level)) log.write(level, std::string(credential_name) + ": " + std::string(text));
}

/// One exchange through send_with_retry with the call's timeouts.
template <class P>
HttpResponse send_source(const P& p, HttpRequest& req, const Call& c, std::error_code& ec) {
  req.connect_timeout = c.connect_timeout;
  req.timeout = c.timeout;
  return send_with_retry(p, req, c.retry, ec);
}

/// A single-request source's fetch (App Service, Azure ML, Cloud Shell, Service Fabric): its
/// configuration check when it has one, its request, one exchange, its judgement of the answer.
/// azid/async awaits the same steps (source_fetch_async).
template <class P, class S>
TokenResult fetch_single(const P& p, const S& source, const Call& c) {
  if constexpr (requires { source.precheck(); }) {
    if (auto r = source.precheck(); r.failure() != Failure::none) return r;
  }
  HttpRequest req = source.request(c);
  const auto request_time = p.clock().now();
  std::error_code ec;
  HttpResponse res = send_source(p, req, c, ec);
  return source.result(req, res, ec, request_time, c);
}

/// A probe's verdict: a connect failure or silence (unavailable), Docker Desktop's 403
/// (unavailable), else any answer at all means IMDS is there (an empty result).
inline TokenResult probe_verdict(const std::string& url, const HttpResponse& res,
                                 const std::error_code& ec) {
  if (ec) return imds_probe_failed(url, ec);
  if (docker_unreachable(res)) return imds_unreachable_network(res);
  return {};
}

/// Records a probe's verdict (blocking and async probes alike), and ends the blocking claim on
/// the probe when `claimed`, waking its waiters. Probes for two scopes may run at once, in either
/// order: a probe that finds IMDS forgets a failed probe's verdict, and a failure arriving after
/// a success is not remembered, so a transient timeout cannot fail every later call. (A 400 from
/// IMDS is not a probe's verdict and stays.)
inline void record_probe(State& st, const TokenResult& verdict, bool claimed) {
  {
    std::lock_guard lk(st.mu);
    if (verdict.failure() == Failure::none) {
      st.probed = true;
      if (st.remembered_probe) {
        st.remembered = TokenResult{};
        st.remembered_probe = false;
      }
    } else if (!st.probed) {
      st.remembered = verdict;
      st.remembered_probe = true;
    }
    if (claimed) {
      st.probing = false;
      st.prober = std::thread::id();
    }
  }
  if (claimed) st.probe_done.notify_all();
}

/// A blocking probe's claim, given up however the probe ends (a transport or log sink that
/// throws included), so that no caller waits for a probe that is gone.
class ProbeClaim {
 public:
  ProbeClaim(State& st, bool claimed) noexcept : st_(st), claimed_(claimed) {}
  ProbeClaim(const ProbeClaim&) = delete;
  ProbeClaim& operator=(const ProbeClaim&) = delete;
  ~ProbeClaim() {
    if (!claimed_) return;
    {
      std::lock_guard lk(st_.mu);
      st_.probing = false;
      st_.prober = std::thread::id();
    }
    st_.probe_done.notify_all();
  }
  void record(const TokenResult& verdict) {
    record_probe(st_, verdict, claimed_);
    claimed_ = false;
  }

 private:
  State& st_;
  bool claimed_;
};

/// The IMDS probe (managed-identity.md §4.2): the token GET without `Metadata`, which a real
/// IMDS refuses at once. Only the TCP connect has the short timeout; once connected the probe
/// gets the full read timeout, so a busy IMDS is not taken for an absent one. Runs once per
/// credential; its verdict is remembered. The state's lock is held only to read and record the
/// verdict, never across the exchange or its log lines (azid/async's probe does the same):
/// concurrent blocking callers wait for the one probe in flight on a condition variable, and
/// the thread running it, back here through a log sink that calls the credential, does not
/// wait for itself (it sends a probe of its own, as concurrent async probes do).
template <class P>
TokenResult imds_probe(const P& p, const std::string& url, const Call& c, State& st) {
  const std::thread::id self = std::this_thread::get_id();
  bool claimed = false;
  {
    std::unique_lock lk(st.mu);
    st.probe_done.wait(lk, [&] { return !st.probing || st.prober == self; });
    if (st.probed) return {};
    if (st.remembered.failure() != Failure::none) return st.remembered;
    if (!st.probing) {
      st.probing = true;
      st.prober = self;
      claimed = true;
    }
  }
  ProbeClaim claim(st, claimed);
  HttpRequest req;
  req.url = url;
  req.bypass_proxy = true;  // IMDS refuses proxied calls
  req.connect_timeout = c.imds.probe_connect_timeout;
  req.timeout = c.timeout;
  std::error_code ec;
  HttpResponse res = send_logged(p, req, ec);
  TokenResult verdict = probe_verdict(url, res, ec);
  claim.record(verdict);
  if (verdict.failure() == Failure::none)
    log_line(p.logger(), LogLevel::debug, "the IMDS probe got a response; IMDS is available");
  return verdict;
}

/// What an IMDS 400 comes to (blocking and async alike): a refused resource fails this call
/// only; an identity that is not assigned is remembered, so later calls fail without I/O.
inline TokenResult imds_refused(const HttpResponse& res, const Call& c, State& st) {
  if (imds_resource_refused(res)) return imds_bad_resource(res, c.resource);
  TokenResult r = imds_not_assigned(res, c.id);
  std::lock_guard lk(st.mu);
  st.remembered = r;
  st.remembered_probe = false;
  return r;
}

/// IMDS token request with the spec's retries (managed-identity.md §4.3-§4.4). Waits go through
/// the platform clock; no attempt or wait runs past `imds.max_total` from the first attempt.
/// `pod_identity`: the authority is AKS pod identity's NMI (AZURE_POD_IDENTITY_AUTHORITY_HOST).
template <class P>
TokenResult imds_fetch(const P& p, std::string_view authority, bool probe, bool pod_identity,
                       const Call& c, State& st) {
  if (auto r = remembered(st); r.failure() != Failure::none) return r;
  const std::string url = imds_url(authority, c.resource, c.id);
  if (probe) {
    if (auto r = imds_probe(p, url, c, st); r.failure() != Failure::none) return r;
  }
  const ImdsOptions& o = c.imds;
  HttpRequest req;
  req.url = url;
  req.bypass_proxy = true;  // IMDS refuses proxied calls
  req.headers.set(names::header_metadata, "true");
  req.connect_timeout = c.connect_timeout;
  const auto start = p.clock().steady_now();
  std::vector<Attempt> attempts;
  std::chrono::milliseconds elapsed{0};
  for (int n = 0;; ++n) {
    const auto left = o.max_total - elapsed;
    req.timeout = std::max(std::chrono::milliseconds(1), std::min(c.timeout, left));
    const auto request_time = p.clock().now();
    std::error_code ec;
    HttpResponse res = send_logged(p, req, ec);
    if (ec) {
      if (connect_error(ec) || unreadable_response(ec))
        return no_response(ManagedIdentitySource::imds, url, ec, c.within_chain);
      attempts.push_back({0, ec.message()});
    } else if (res.status == 200) {
      return token_from_response(res, request_time);
    } else if (res.status == 400) {
      return imds_refused(res, c, st);
    } else if (res.status == 403 && docker_unreachable(res)) {
      return imds_unreachable_network(res);
    } else if (!imds_retriable_status(res.status)) {
      return endpoint_failed(ManagedIdentitySource::imds, res);
    } else {
      attempts.push_back({res.status, body_detail(res.body)});
    }
    elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(p.clock().steady_now() - start);
    // 410: IMDS is being upgraded and promises to be back within 70 s, so keep asking for
    // that long even past the retry count.
    const bool gone = !ec && res.status == 410;
    if (n >= o.max_retries && !(gone && elapsed < o.gone_window)) break;
    auto delay = imds_backoff(o, n + 1, retry_jitter_factor(o.jitter));
    if (gone) delay = std::max(delay, o.gone_interval);
    if (!ec) delay = std::max(delay, retry_after(res.headers, p.clock().now()));
    if (elapsed + delay >= o.max_total) break;
    if (p.logger().enabled(LogLevel::info))
      log_line(p.logger(), LogLevel::info,
               "IMDS attempt " + std::to_string(n + 1) + " failed (" +
                   (ec ? ec.message() : std::to_string(res.status)) + "); retrying in " +
                   std::to_string(delay.count()) + " ms");
    p.clock().sleep_for(delay);
    elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(p.clock().steady_now() - start);
  }
  return imds_exhausted(attempts, elapsed, c.within_chain, pod_identity);
}

}  // namespace detail::msi
AZID_END

#if defined(AZID_HEADER_ONLY)
#include "azid/impl/managed_identity.ipp"
#endif
