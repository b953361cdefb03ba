// azid/impl/url.ipp: definitions for azid/detail/url.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "azid/detail/url.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN
namespace detail {
namespace url_impl {

constexpr char to_lower_ascii(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
constexpr bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr bool is_unreserved(char c) noexcept {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
// Bytes that may never appear in a URL we send: they would corrupt the request line
// (space, CR, LF) or are not valid in a URI at all (other controls, DEL, non-ASCII).
constexpr bool is_forbidden_byte(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u >= 0x7f;
}
// reg-name characters we accept in a host: unreserved plus the sub-delims that DNS names
// never use are left out on purpose, so "host;x" or "host%00" fail early.
constexpr bool is_host_char(char c) noexcept { return is_unreserved(c); }

// A name a resolver could look up: dot-separated labels of 1 to 63 characters, 253 in all, one
// trailing dot allowed ("host." is fully qualified). Rejects ".", "..", ".a", "a..b".
inline bool dns_shaped(std::string_view host) noexcept {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > 253) return false;
  std::size_t label = 0;
  for (char c : host) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (++label > 63) {
      return false;
    }
  }
  return label != 0;
}

}  // namespace url_impl

AZID_DECL std::error_code parse_url(std::string_view text, Url& out) noexcept {
  using namespace url_impl;
  const std::error_code bad = make_error_code(errc::invalid_url);
  try {
    if (std::any_of(text.begin(), text.end(), is_forbidden_byte)) return bad;

    const std::size_t colon = text.find("://");
    if (colon == std::string_view::npos || colon == 0) return bad;
    std::string scheme;
    for (char c : text.substr(0, colon)) scheme.push_back(to_lower_ascii(c));
    if (scheme != "http" && scheme != "https") return bad;

    std::string_view rest = text.substr(colon + 3);
    const std::size_t auth_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, auth_end);
    std::string_view tail =
        auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
    if (authority.find('@') != std::string_view::npos) return bad;

    std::string host;
    std::string_view port_text;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') {
      const std::size_t close = authority.find(']');
      if (close == std::string_view::npos) return bad;
      const std::string_view literal = authority.substr(1, close - 1);
      // Only hex digits, colons and an embedded dotted quad; zone ids ("%25eth0") are refused
      // because they mean nothing to a remote token endpoint.
      // Every IPv6 text form has at least two colons ("::" is the shortest); with one, the
      // literal is no address, and a NO_PROXY entry spelled the same would read as host:port.
      if (std::count(literal.begin(), literal.end(), ':') < 2) return bad;
      for (char c : literal) {
        if (!(is_hex(c) || c == ':' || c == '.')) return bad;
        host.push_back(to_lower_ascii(c));
      }
      std::string_view after = authority.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':') return bad;
        has_port = true;
        port_text = after.substr(1);
      }
    } else {
      const std::size_t port_colon = authority.find(':');
      const std::string_view name = authority.substr(0, port_colon);
      if (port_colon != std::string_view::npos) {
        has_port = true;
        port_text = authority.substr(port_colon + 1);
      }
      for (char c : name) {
        if (!is_host_char(c)) return bad;
        host.push_back(to_lower_ascii(c));
      }
      if (!dns_shaped(host)) return bad;
      // "host." is the same host, fully qualified; certificates, SNI (RFC 6066 §3 forbids the
      // dot) and NO_PROXY lists all name it without the root's dot, so it goes.
      if (host.back() == '.') host.pop_back();
    }
    if (host.empty()) return bad;

    std::uint32_t port = scheme == "https" ? 443 : 80;
    if (has_port) {
      if (port_text.empty() || port_text.size() > 5) return bad;
      std::uint32_t value = 0;
      for (char c : port_text) {
        if (!is_digit(c)) return bad;
        value = value * 10 + static_cast<std::uint32_t>(c - '0');
      }
      if (value == 0 || value > 65535) return bad;
      port = value;
    }

    const std::size_t hash = tail.find('#');
    if (hash != std::string_view::npos) tail = tail.substr(0, hash);
    std::string target;
    if (tail.empty() || tail.front() == '?') target.push_back('/');
    target.append(tail);

    out.scheme = std::move(scheme);
    out.host = std::move(host);
    out.port = static_cast<std::uint16_t>(port);
    out.target = std::move(target);
    return {};
  } catch (...) {
    // Only allocation can throw here; report it as a URL we could not take rather than
    // breaking the noexcept promise.
    return bad;
  }
}

AZID_DECL std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() + text.size() / 2);
  for (char c : text) {
    if (url_impl::is_unreserved(c)) {
      out.push_back(c);
    } else {
      const auto u = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 0x0f]);
    }
  }
  return out;
}

AZID_DECL std::string redact_url_query(std::string_view url,
                                       std::span<const std::string_view> allowed_names) {
  const std::size_t hash = url.find('#');
  std::string_view before_fragment = url.substr(0, hash);

  std::string out;
  out.reserve(url.size() + 16);
  // userinfo (`user:password@`) in the authority is a credential too.
  // (Only a "://" ahead of any '/' or '?' ends a scheme: one inside the query does not.)
  if (const std::size_t scheme = before_fragment.find("://");
      scheme != std::string_view::npos && scheme < before_fragment.find_first_of("/?")) {
    const std::size_t host = scheme + 3;
    const std::size_t auth_end = before_fragment.find_first_of("/?", host);
    const std::string_view authority = before_fragment.substr(
        host, auth_end == std::string_view::npos ? std::string_view::npos : auth_end - host);
    if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
      out.append(before_fragment.substr(0, host));
      out.append("REDACTED@");
      before_fragment.remove_prefix(host + at + 1);
    }
  }
  const std::size_t question_at = before_fragment.find('?');
  if (question_at == std::string_view::npos) {
    out.append(before_fragment);
  } else {
    const std::size_t question = question_at;
    out.append(before_fragment.substr(0, question + 1));
    std::string_view query = before_fragment.substr(question + 1);
    bool first = true;
    while (true) {
      const std::size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      if (!first) out.push_back('&');
      first = false;
      const std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos) {
        // A bare name carries no value to hide.
        out.append(pair);
      } else {
        const std::string_view name = pair.substr(0, eq);
        const bool allowed = std::any_of(allowed_names.begin(), allowed_names.end(),
                                         [&](std::string_view a) { return iequals(a, name); });
        out.append(name);
        out.push_back('=');
        out.append(allowed ? pair.substr(eq + 1) : std::string_view{"REDACTED"});
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  // Fragments are never sent, but a URL copied from a browser may carry a token there.
  if (hash != std::string_view::npos) out.append(hash + 1 < url.size() ? "#REDACTED" : "#");
  return out;
}

namespace url_impl {
// Whether the address `host` lies in `network`/`bits` (both IPv4 or both IPv6, strict forms).
inline bool in_cidr(std::string_view host, std::string_view network,
                    std::string_view bits) noexcept {
  if (host.size() >= INET6_ADDRSTRLEN || network.size() >= INET6_ADDRSTRLEN || bits.empty() ||
      bits.size() > 3)
    return false;
  int prefix = 0;
  for (char c : bits) {
    if (c < '0' || c > '9') return false;
    prefix = prefix * 10 + (c - '0');
  }
  char h[INET6_ADDRSTRLEN] = {}, n[INET6_ADDRSTRLEN] = {};
  std::copy(host.begin(), host.end(), h);
  std::copy(network.begin(), network.end(), n);
  unsigned char a[16], b[16];
  std::size_t len = 4;
  if (::inet_pton(AF_INET, h, a) == 1 && ::inet_pton(AF_INET, n, b) == 1) {
    if (prefix > 32) return false;
  } else if (::inet_pton(AF_INET6, h, a) == 1 && ::inet_pton(AF_INET6, n, b) == 1) {
    len = 16;
    if (prefix > 128) return false;
  } else {
    return false;
  }
  for (std::size_t i = 0; i < len && prefix > 0; ++i, prefix -= 8) {
    const unsigned mask = prefix >= 8 ? 0xFFu : (0xFFu << (8 - prefix)) & 0xFFu;
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

/// Both IPv6 literals naming the same address ("::1" and "0:0:0:0:0:0:0:1"); false for names.
inline bool same_ipv6(std::string_view a, std::string_view b) noexcept {
  if (a.size() >= INET6_ADDRSTRLEN || b.size() >= INET6_ADDRSTRLEN) return false;
  if (a.find(':') == std::string_view::npos || b.find(':') == std::string_view::npos) return false;
  char x[INET6_ADDRSTRLEN] = {}, y[INET6_ADDRSTRLEN] = {};
  std::copy(a.begin(), a.end(), x);
  std::copy(b.begin(), b.end(), y);
  unsigned char p[16], q[16];
  return ::inet_pton(AF_INET6, x, p) == 1 && ::inet_pton(AF_INET6, y, q) == 1 &&
         std::equal(p, p + 16, q);
}
}  // namespace url_impl

AZID_DECL bool bypasses_proxy(std::string_view no_proxy, std::string_view host) noexcept {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  if (!host.empty() && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  // Fully qualified names compare without the root's dot, on either side.
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty()) return false;

  while (!no_proxy.empty()) {
    const std::size_t comma = no_proxy.find(',');
    std::string_view entry = trim(no_proxy.substr(0, comma));
    no_proxy = comma == std::string_view::npos ? std::string_view{} : no_proxy.substr(comma + 1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    // CIDR ("10.0.0.0/16", "fd00::/8" or "[fd00::]/8", as AKS writes them): matches an address
    // in the range.
    if (const std::size_t slash = entry.find('/'); slash != std::string_view::npos) {
      std::string_view network = entry.substr(0, slash);
      if (network.size() >= 2 && network.front() == '[' && network.back() == ']')
        network = network.substr(1, network.size() - 2);
      if (url_impl::in_cidr(host, network, entry.substr(slash + 1))) return true;
      continue;
    }
    // "*.example.com" (as Go and .NET read it): the same as ".example.com".
    if (entry.size() > 2 && entry[0] == '*' && entry[1] == '.') entry.remove_prefix(1);

    // Drop ":port": after a closing bracket for IPv6, otherwise only when the entry has a
    // single colon (a bare IPv6 address has several and no port).
    if (entry.front() == '[') {
      const std::size_t close = entry.find(']');
      if (close == std::string_view::npos) continue;
      entry = entry.substr(1, close - 1);
    } else if (const std::size_t c = entry.find(':');
               c != std::string_view::npos && entry.find(':', c + 1) == std::string_view::npos) {
      entry = entry.substr(0, c);
    }
    if (!entry.empty() && entry.front() == '.') entry.remove_prefix(1);
    if (!entry.empty() && entry.back() == '.') entry.remove_suffix(1);
    if (entry.empty()) continue;

    if (iequals(entry, host) || url_impl::same_ipv6(entry, host)) return true;
    // Suffix match on a label boundary: "example.com" covers "a.example.com", never "badexample.com".
    if (host.size() > entry.size() && host[host.size() - entry.size() - 1] == '.' &&
        iequals(host.substr(host.size() - entry.size()), entry))
      return true;
  }
  return false;
}

}  // namespace detail
AZID_END
