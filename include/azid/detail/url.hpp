// azid/detail/url.hpp: absolute http(s) URL parsing, percent-encoding, proxy bypass and query redaction (light).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "azid/config.hpp"
#include "azid/core/error_code.hpp"

AZID_BEGIN
namespace detail {

/// The parts of an absolute `http://` or `https://` URL that a client needs to open a
/// connection and write a request line.
struct Url {
  std::string scheme;      ///< "http" or "https", lower case
  std::string host;        ///< lower case; an IPv6 literal is stored without its brackets
  std::uint16_t port = 0;  ///< explicit port, or 80 / 443 by scheme
  std::string target;      ///< path and query, never empty ("/" at least); no fragment
};

/// True when `url.host` is an IPv6 literal (it must be bracketed in Host and request lines).
[[nodiscard]] constexpr bool is_ipv6_host(const Url& url) noexcept {
  return url.host.find(':') != std::string::npos;
}

/// Parses an absolute http(s) URL into `out`.
///
/// Lower-cases scheme and host, fills the default port, accepts a bracketed IPv6 literal and
/// drops a fragment. Fails with errc::invalid_url for: a scheme other than http/https, userinfo
/// (`user@host`, which credentials never need and which hides the real host from readers of a
/// log), an empty host, a port that is empty, non-numeric, 0 or above 65535, and any space,
/// control or non-ASCII byte anywhere in the text. `out` is unspecified after a failure.
AZID_DECL std::error_code parse_url(std::string_view text, Url& out) noexcept;

/// Percent-encodes everything except RFC 3986 unreserved characters (ALPHA DIGIT - . _ ~),
/// with upper-case hex digits. Suitable for query values and form bodies.
[[nodiscard]] AZID_DECL std::string url_encode(std::string_view text);

/// `text` with each %XX escape decoded (and each '+' as a space when `plus_is_space`, as in a
/// form body); a '%' not followed by two hex digits is kept as it is.
[[nodiscard]] inline std::string percent_decode(std::string_view text, bool plus_is_space = false) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(plus_is_space && text[i] == '+' ? ' ' : text[i]);
    }
  }
  return out;
}

/// Returns `url` with the value of every query parameter whose name is not in
/// `allowed_names` (compared case-insensitively) replaced by `REDACTED`, and a fragment
/// replaced by `#REDACTED`. Meant for log lines: a signed URL or a client secret in a query
/// must never be printed.
[[nodiscard]] AZID_DECL std::string redact_url_query(
    std::string_view url, std::span<const std::string_view> allowed_names);

/// True when `host` must bypass the proxy according to a NO_PROXY-style list: entries are
/// comma-separated (spaces ignored), `*` matches every host, an entry matches the host itself
/// or any subdomain of it (a leading dot is optional), and an entry's `:port` is ignored.
/// Comparison is case-insensitive; an IPv6 entry may be bracketed.
[[nodiscard]] AZID_DECL bool bypasses_proxy(std::string_view no_proxy,
                                            std::string_view host) noexcept;

}  // namespace detail
AZID_END

#if defined(AZID_HEADER_ONLY)
#include "azid/impl/url.ipp"
#endif
