// azid/detail/http_driver.hpp: sends a request through the platform's Transport with logging and
// retries (spec README R4). The one place where credentials do network I/O.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "azid/config.hpp"
#include "azid/core/error_code.hpp"
#include "azid/core/log.hpp"
#include "azid/core/retry.hpp"
#include "azid/detail/redact.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/detail/url.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN

namespace detail {

/// A factor in [1 - jitter, 1 + jitter] (jitter clamped to [0, 1]; 1 when it is 0), from a
/// per-thread splitmix64 sequence: enough to keep clients refused together from retrying in
/// step, with no <random> and no lock.
[[nodiscard]] inline double retry_jitter_factor(double jitter) noexcept {
  if (!(jitter > 0)) return 1.0;
  jitter = std::min(jitter, 1.0);
  thread_local std::uint64_t state =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&state));
  state += 0x9E3779B97F4A7C15ull;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  const double unit = static_cast<double>(z >> 11) * 0x1.0p-53;  // [0, 1)
  return 1.0 - jitter + 2.0 * jitter * unit;
}

/// The wait before retry `attempt` + 1: the server's Retry-After when it gave one (`asked`, else
/// negative), otherwise base_delay doubled per attempt times `factor` (retry_jitter_factor);
/// never below zero nor above max_delay, whatever the options (a large max_retries or base_delay
/// must not overflow into no wait).
[[nodiscard]] inline std::chrono::milliseconds retry_delay(const RetryOptions& opts, int attempt,
                                                           std::chrono::milliseconds asked,
                                                           double factor = 1.0) noexcept {
  const auto cap = std::max(opts.max_delay, std::chrono::milliseconds::zero());
  if (asked.count() >= 0) return std::min(asked, cap);
  const auto base = std::clamp(opts.base_delay, std::chrono::milliseconds::zero(), cap);
  const int doublings = std::clamp(attempt, 0, 40);
  // base << doublings, stopping at the cap (base <= cap, so no step can overflow).
  auto d = base;
  for (int i = 0; i < doublings && d < cap; ++i) d = d > cap / 2 ? cap : d * 2;
  d = std::min(d, cap);
  if (factor == 1.0 || !(factor >= 0)) return d;
  const double scaled = static_cast<double>(d.count()) * factor;
  if (scaled >= static_cast<double>(cap.count())) return cap;
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(scaled + 0.5));
}

/// Query parameters whose values may appear in logs (errors-and-logging.md §4); all others read REDACTED.
inline constexpr std::array<std::string_view, 8> loggable_query_names = {
    "api-version", "resource",  "client_id",    "object_id",
    "msi_res_id",  "mi_res_id", "principal_id", "serviceConnectionId"};

/// Response headers an HTTP log line may show (errors-and-logging.md §4): ids to quote to
/// support, and the server's wishes. WWW-Authenticate shows its scheme only.
inline constexpr std::array<std::string_view, 6> loggable_response_headers = {
    "x-ms-request-id", "client-request-id", "x-ms-correlation-request-id",
    "x-vss-e2eid",     "x-msedge-ref",      "Retry-After"};

/// The INFO line of one exchange: method, URL with query values redacted but for the allow-list,
/// status (or the error), the allow-listed response headers, and the time it took. Each header
/// value is cut at 128 bytes and any control character shown as '?'.
[[nodiscard]] inline std::string http_log_line(const HttpRequest& req, const HttpResponse& res,
                                               const std::error_code& ec, long long ms) {
  // The URL may come from the environment (a managed identity endpoint): printable, so a control
  // character in it cannot forge a log line.
  std::string line = "HTTP " + printable(req.method, 16) + " " +
                     printable(redact_url_query(req.url, loggable_query_names), 2048) + " -> ";
  if (ec) {
    line += "error: " + ec.message();
  } else {
    line += std::to_string(res.status);
    auto add = [&](std::string_view name, std::string_view value) {
      if (value.empty()) return;
      line += ' ';
      line += name;
      line += '=';
      line += printable(value, 128);
    };
    for (std::string_view h : loggable_response_headers) add(h, res.headers.get(h));
    const std::string_view challenge = res.headers.get("WWW-Authenticate");
    add("WWW-Authenticate", challenge.substr(0, challenge.find(' ')));
  }
  line += " (" + std::to_string(ms) + " ms)";
  return line;
}

[[nodiscard]] constexpr bool retriable_status(int status) noexcept {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

[[nodiscard]] inline bool retriable_error(const std::error_code& ec) noexcept {
  if (ec.category() != error_category()) return false;
  switch (static_cast<errc>(ec.value())) {
    case errc::resolve_temporary_failure:
    case errc::connect_failed:
    case errc::connect_timeout:
    case errc::proxy_temporary_failure:
    case errc::timeout:
    case errc::connection_closed:
    case errc::io_error:
      return true;
    default:
      return false;
  }
}

/// The delay a response asks for: `retry-after-ms`, `x-ms-retry-after-ms` (milliseconds) or
/// `Retry-After` (seconds, or an HTTP-date measured from `now`, RFC 9110 §10.2.3); negative when
/// it asks for none or the value is unreadable.
[[nodiscard]] inline std::chrono::milliseconds retry_after(
    const HttpHeaders& h, std::chrono::system_clock::time_point now) {
  auto parse = [](std::string_view v, long long& out) {
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    if (v.empty() || v.size() > 12) return false;
    long long x = 0;
    for (char c : v) {
      if (c < '0' || c > '9') return false;
      x = x * 10 + (c - '0');
    }
    out = x;
    return true;
  };
  long long v = 0;
  if (parse(h.get("retry-after-ms"), v) || parse(h.get("x-ms-retry-after-ms"), v))
    return std::chrono::milliseconds(v);
  const std::string_view ra = h.get("Retry-After");
  if (parse(ra, v)) return std::chrono::milliseconds(v * 1000);
  if (!ra.empty()) {
    if (auto at = parse_expiry_text(ra)) {
      const auto until = std::chrono::system_clock::time_point(std::chrono::seconds(*at));
      if (until <= now) return std::chrono::milliseconds(0);
      return std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
    }
  }
  return std::chrono::milliseconds(-1);
}

/// One exchange, logged at INFO as `HTTP <method> <url, query redacted> -> <status> (<ms> ms)`.
template <class P>
HttpResponse send_logged(const P& platform, const HttpRequest& req, std::error_code& ec) {
  const auto start = platform.clock().steady_now();
  HttpResponse res = platform.transport().send(req, ec);
  const Logger& log = platform.logger();
  if (log.enabled(LogLevel::info)) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(platform.clock().steady_now() - start)
            .count();
    log.write(LogLevel::info, http_log_line(req, res, ec, ms));
  }
  return res;
}

/// Sends with retries per `opts`. Waits go through the platform's clock.
template <class P>
HttpResponse send_with_retry(const P& platform, const HttpRequest& req, const RetryOptions& opts,
                             std::error_code& ec) {
  for (int attempt = 0;; ++attempt) {
    HttpResponse res = send_logged(platform, req, ec);
    const bool retry = ec ? retriable_error(ec) : retriable_status(res.status);
    if (!retry || attempt >= opts.max_retries) return res;
    std::chrono::milliseconds delay =
        ec ? std::chrono::milliseconds(-1) : retry_after(res.headers, platform.clock().now());
    delay = retry_delay(opts, attempt, delay, retry_jitter_factor(opts.jitter));
    if (platform.logger().enabled(LogLevel::info))
      platform.logger().write(LogLevel::info, "Retrying in " + std::to_string(delay.count()) +
                                                  " ms (attempt " + std::to_string(attempt + 2) +
                                                  " of " + std::to_string(opts.max_retries + 1) +
                                                  ")");
    platform.clock().sleep_for(delay);
  }
}

}  // namespace detail
AZID_END
