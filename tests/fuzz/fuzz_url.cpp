// Fuzz target: URLs and the values that end up in them: absolute http(s) URL parsing (with a
// round trip), authority hosts, the IMDS authority, tenant ids and tenant lists, NO_PROXY
// matching, percent-encoding and log redaction of query strings.
//
// Input: up to three lines, a\nb\nc (a: a URL or authority or tenant; b: a requested tenant or a
// NO_PROXY list; c: an allowed-tenant list, or text to percent-encode).
#include <array>
#include <string>
#include <vector>

#include "azid/detail/entra.hpp"
#include "azid/detail/managed_identity.hpp"
#include "azid/detail/url.hpp"
#include "azid/detail/validate.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace azid;
using namespace azid::detail;

std::string rebuild(const Url& u) {
  std::string s = u.scheme + "://";
  s += is_ipv6_host(u) ? "[" + u.host + "]" : u.host;
  s += ":" + std::to_string(u.port) + u.target;
  return s;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void check_url(std::string_view a) {
  Url u;
  if (parse_url(a, u)) return;
  FUZZ_CHECK(u.scheme == "http" || u.scheme == "https");
  FUZZ_CHECK(!u.host.empty() && u.port != 0);
  FUZZ_CHECK(!u.target.empty() && u.target.front() == '/');
  FUZZ_CHECK(u.target.find('#') == std::string::npos);
  for (char c : u.host) FUZZ_CHECK(!(c >= 'A' && c <= 'Z') && c != '/' && c != '@' && c != '[');
  Url again;
  FUZZ_CHECK(!parse_url(rebuild(u), again));
  FUZZ_CHECK(again.scheme == u.scheme && again.host == u.host && again.port == u.port &&
             again.target == u.target);
  // A host always bypasses a NO_PROXY list naming it (a host of dots only names nothing), and "*".
  if (u.host.find_first_not_of('.') != std::string::npos)
    FUZZ_CHECK(bypasses_proxy(u.host, u.host));
  FUZZ_CHECK(bypasses_proxy("*", u.host));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::as_view(data, size);
  const auto [a, bc] = fuzz::split_once(in, '\n');
  const auto [b, c] = fuzz::split_once(bc, '\n');

  check_url(a);

  std::string why;
  if (auto auth = normalize_authority(a, why)) {
    FUZZ_CHECK(auth->rfind("https://", 0) == 0 && auth->size() > 8);
    FUZZ_CHECK(auth->back() != '/');
    std::string why2;
    const auto twice = normalize_authority(*auth, why2);
    FUZZ_CHECK(twice && *twice == *auth);
  } else {
    FUZZ_CHECK(!why.empty());
  }

  why.clear();
  if (auto imds = msi::normalize_imds_authority(a, why)) {
    Url u;
    FUZZ_CHECK(!parse_url(*imds, u));
    FUZZ_CHECK(u.target == "/");
  }

  if (auto tp = msi::normalize_thumbprint(a)) {
    FUZZ_CHECK(tp->size() == 40);
    for (char ch : *tp) FUZZ_CHECK((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'));
  }

  if (valid_tenant_id(a)) {
    // It goes into a URL path and a command line as it is: nothing there needs escaping.
    FUZZ_CHECK(url_encode(a) == a);
    for (char ch : a) FUZZ_CHECK(is_alnum(ch) || ch == '-' || ch == '.');
    // No empty label: nothing like `.` or `..` that would walk the authority's path.
    FUZZ_CHECK(a.front() != '.' && a.back() != '.' && a.find("..") == std::string_view::npos);
  }
  const std::vector<std::string> allowed = split_tenant_list(c);
  for (const auto& t : allowed) {
    FUZZ_CHECK(!t.empty() && t.find(';') == std::string::npos);
    FUZZ_CHECK(t.front() != ' ' && t.back() != ' ');
  }
  std::string_view tenant;
  const TokenResult tr = resolve_tenant("FuzzCredential", a, b, allowed, false, tenant);
  if (tr.failure() == Failure::none) {
    FUZZ_CHECK(tenant.data() == a.data() || tenant.data() == b.data());
    if (tenant.data() == b.data() && !b.empty() && !iequals(a, b)) FUZZ_CHECK(valid_tenant_id(b));
  }

  (void)bypasses_proxy(b, a);
  (void)bypasses_proxy(a, b);

  // Percent-encoding: only unreserved characters and %XX, and it decodes back.
  const std::string enc = url_encode(c);
  std::string dec;
  for (std::size_t i = 0; i < enc.size(); ++i) {
    const char ch = enc[i];
    if (ch == '%') {
      FUZZ_CHECK(i + 2 < enc.size() && hex(enc[i + 1]) >= 0 && hex(enc[i + 2]) >= 0);
      dec.push_back(static_cast<char>(hex(enc[i + 1]) * 16 + hex(enc[i + 2])));
      i += 2;
    } else {
      FUZZ_CHECK(is_alnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~');
      dec.push_back(ch);
    }
  }
  FUZZ_CHECK(dec == c);
  FUZZ_CHECK(percent_decode(enc) == c && percent_decode(enc, true) == c);

  // Redaction keeps only allowed values, and redacting twice changes nothing.
  constexpr std::array<std::string_view, 2> names{"api-version", "resource"};
  const std::string red = redact_url_query(a, names);
  FUZZ_CHECK(redact_url_query(red, names) == red);
  if (a.find_first_of("?#@") == std::string_view::npos) FUZZ_CHECK(red == a);
  // userinfo never survives: whatever stood before the authority's last '@' is REDACTED.
  if (const auto scheme = red.find("://");
      scheme != std::string::npos && scheme < red.find_first_of("/?#")) {
    const auto host = scheme + 3;
    const auto authority = red.substr(host, red.find_first_of("/?#", host) - host);
    if (const auto at = authority.rfind('@'); at != std::string::npos)
      FUZZ_CHECK(authority.substr(0, at) == "REDACTED");
  }
  const auto hash = red.find('#');
  if (hash != std::string::npos)
    FUZZ_CHECK(red.substr(hash) == "#REDACTED" || red.substr(hash) == "#");
  return 0;
}
