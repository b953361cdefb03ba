// Unit tests for azid/detail/url.hpp: URL parsing, percent-encoding, proxy bypass, query redaction.
#include <doctest/doctest.h>

#include <array>
#include <string>
#include <string_view>

#include "azid/detail/url.hpp"

using azid::errc;
using azid::detail::Url;

namespace {
Url parse_ok(std::string_view text) {
  Url u;
  const std::error_code ec = azid::detail::parse_url(text, u);
  REQUIRE_MESSAGE(!ec, text);
  return u;
}
bool rejected(std::string_view text) {
  Url u;
  return azid::detail::parse_url(text, u) == errc::invalid_url;
}
}  // namespace

TEST_SUITE("url") {
  TEST_CASE("parse_url splits an absolute URL into scheme, host, port and target") {
    SUBCASE("https with path and query takes port 443") {
      const Url u = parse_ok("https://login.microsoftonline.com/tenant/oauth2/v2.0/token?x=1");
      CHECK(u.scheme == "https");
      CHECK(u.host == "login.microsoftonline.com");
      CHECK(u.port == 443);
      CHECK(u.target == "/tenant/oauth2/v2.0/token?x=1");
    }
    SUBCASE("http takes port 80 and an empty path becomes /") {
      const Url u = parse_ok("http://169.254.169.254");
      CHECK(u.scheme == "http");
      CHECK(u.port == 80);
      CHECK(u.target == "/");
    }
    SUBCASE("a query without a path gets a leading slash") {
      CHECK(parse_ok("http://h?api-version=1").target == "/?api-version=1");
    }
    SUBCASE("scheme and host are lower-cased, the path is not") {
      const Url u = parse_ok("HTTPS://Login.Example.COM:8443/Path/To?Q=V");
      CHECK(u.scheme == "https");
      CHECK(u.host == "login.example.com");
      CHECK(u.port == 8443);
      CHECK(u.target == "/Path/To?Q=V");
    }
    SUBCASE("a fragment is dropped") {
      CHECK(parse_ok("https://h/p?q=1#frag").target == "/p?q=1");
      CHECK(parse_ok("https://h#frag").target == "/");
    }
    SUBCASE("a bracketed IPv6 literal is stored without brackets") {
      const Url u = parse_ok("http://[::1]:8080/x");
      CHECK(u.host == "::1");
      CHECK(u.port == 8080);
      CHECK(azid::detail::is_ipv6_host(u));
      CHECK(parse_ok("https://[FE80::1]").host == "fe80::1");
    }
    SUBCASE("a fully qualified name's trailing dot is dropped") {
      const Url u = parse_ok("https://Login.Example.com.:8443/x");
      CHECK(u.host == "login.example.com");
      CHECK(u.port == 8443);
      CHECK(parse_ok("http://localhost./").host == "localhost");
    }
    SUBCASE("ports at the edges of the range") {
      CHECK(parse_ok("http://h:1/").port == 1);
      CHECK(parse_ok("http://h:65535/").port == 65535);
    }
  }

  TEST_CASE("parse_url rejects what a token client must never send") {
    SUBCASE("schemes other than http and https") {
      CHECK(rejected("ftp://h/"));
      CHECK(rejected("file:///etc/passwd"));
      CHECK(rejected("h/path"));
      CHECK(rejected("://h/"));
      CHECK(rejected("httpx://h/"));
    }
    SUBCASE("userinfo") {
      CHECK(rejected("https://user:pass@h/"));
      CHECK(rejected("https://login.microsoftonline.com@evil.example/"));
    }
    SUBCASE("an empty host") {
      CHECK(rejected("https:///path"));
      CHECK(rejected("https://:443/"));
      CHECK(rejected("http://[]/"));
    }
    SUBCASE("bad ports") {
      CHECK(rejected("http://h:/"));
      CHECK(rejected("http://h:0/"));
      CHECK(rejected("http://h:65536/"));
      CHECK(rejected("http://h:123456/"));
      CHECK(rejected("http://h:8a/"));
      CHECK(rejected("http://h:-1/"));
      CHECK(rejected("http://[::1]x/"));
    }
    SUBCASE("spaces, control bytes and non-ASCII anywhere") {
      CHECK(rejected("http://h/a b"));
      CHECK(rejected("http://h/a\r\nHost: evil"));
      CHECK(rejected(std::string_view("http://h/\0", 10)));
      CHECK(rejected("http://h/\x7f"));
      CHECK(rejected("http://h\xc3\xa9.com/"));
      CHECK(rejected(" http://h/"));
    }
    SUBCASE("odd host characters and broken IPv6 literals") {
      CHECK(rejected("http://h;x/"));
      CHECK(rejected("http://h%41/"));
      CHECK(rejected("http://[::1/"));
      CHECK(rejected("http://[::1%25eth0]/"));
      CHECK(rejected("http://[127.0.0.1]/"));
      // Found by fuzz_url: one colon makes no IPv6 address (and NO_PROXY reads it as host:port).
      CHECK(rejected("http://[7:1]/"));
      CHECK(rejected("https://[a:b]:443/"));
      CHECK(parse_ok("http://[::]/").host == "::");
    }
    SUBCASE("host names no resolver could look up") {
      CHECK(rejected("https://./"));
      CHECK(rejected("https://../"));
      CHECK(rejected("https://.../token"));
      CHECK(rejected("https://.login.example/"));
      CHECK(rejected("https://login..example/"));
      CHECK(rejected("https://" + std::string(64, 'a') + ".example/"));
      CHECK(rejected("https://" + std::string(250, 'a') + ".example/"));
      CHECK(parse_ok("https://login.example./").host == "login.example");
      CHECK(parse_ok("https://" + std::string(63, 'a') + ".example/").port == 443);
    }
  }

  TEST_CASE("url_encode keeps unreserved characters and percent-encodes the rest in upper case") {
    CHECK(azid::detail::url_encode("") == "");
    CHECK(azid::detail::url_encode("AZaz09-._~") == "AZaz09-._~");
    CHECK(azid::detail::url_encode("a b+c/d?e=f&g") == "a%20b%2Bc%2Fd%3Fe%3Df%26g");
    CHECK(azid::detail::url_encode("https://management.azure.com/.default") ==
          "https%3A%2F%2Fmanagement.azure.com%2F.default");
    CHECK(azid::detail::url_encode("\xc3\xa9\x01") == "%C3%A9%01");
  }

  TEST_CASE("redact_url_query keeps allow-listed values and hides all others") {
    constexpr std::array<std::string_view, 2> allowed{"api-version", "resource"};
    using azid::detail::redact_url_query;
    SUBCASE("names compare case-insensitively") {
      CHECK(redact_url_query("http://h/msi/token?API-Version=2019&client_secret=s3cr3t&resource=x",
                             allowed) ==
            "http://h/msi/token?API-Version=2019&client_secret=REDACTED&resource=x");
    }
    SUBCASE("no query leaves the URL alone") {
      CHECK(redact_url_query("https://h/path", allowed) == "https://h/path");
    }
    SUBCASE("bare names and empty values") {
      CHECK(redact_url_query("https://h/?flag&sig=&resource=", allowed) ==
            "https://h/?flag&sig=REDACTED&resource=");
    }
    SUBCASE("a fragment is hidden too") {
      CHECK(redact_url_query("https://h/?a=1#access_token=x", allowed) ==
            "https://h/?a=REDACTED#REDACTED");
    }
    SUBCASE("userinfo in the authority is hidden") {
      CHECK(redact_url_query("http://user:PassW0rd@127.0.0.1:8080/ok?code=x", {}) ==
            "http://REDACTED@127.0.0.1:8080/ok?code=REDACTED");
      CHECK(redact_url_query("http://127.0.0.1/a@b", {}) == "http://127.0.0.1/a@b");
    }
    SUBCASE("an empty allow-list hides every value") {
      CHECK(redact_url_query("https://h/?sv=1&sig=abc", {}) ==
            "https://h/?sv=REDACTED&sig=REDACTED");
    }
  }

  TEST_CASE("bypasses_proxy follows NO_PROXY conventions") {
    using azid::detail::bypasses_proxy;
    SUBCASE("empty list bypasses nothing") { CHECK_FALSE(bypasses_proxy("", "example.com")); }
    SUBCASE("CIDR ranges match addresses in them (as AKS writes NO_PROXY)") {
      const char* list = "localhost, 10.0.0.0/16,192.168.1.7/32, fd00::/8, 172.16.0.0/12";
      CHECK(bypasses_proxy(list, "10.0.255.1"));
      CHECK_FALSE(bypasses_proxy(list, "10.1.0.1"));
      CHECK(bypasses_proxy(list, "192.168.1.7"));
      CHECK_FALSE(bypasses_proxy(list, "192.168.1.8"));
      CHECK(bypasses_proxy(list, "172.31.9.9"));
      CHECK_FALSE(bypasses_proxy(list, "172.32.0.1"));
      CHECK(bypasses_proxy(list, "[fd12::1]"));
      CHECK_FALSE(bypasses_proxy(list, "fe80::1"));
      CHECK(bypasses_proxy("[fd00::]/8", "fd00::1"));  // a bracketed network
      CHECK_FALSE(bypasses_proxy("[fd00::]/8", "fe00::1"));
      CHECK_FALSE(bypasses_proxy(list, "10.0.example.com"));  // a name is not in a range
      CHECK_FALSE(bypasses_proxy("10.0.0.0/33,10.0.0.0/x,/8", "10.0.0.1"));  // malformed: ignored
      CHECK(bypasses_proxy("0.0.0.0/0", "8.8.8.8"));
    }
    SUBCASE("star bypasses everything") { CHECK(bypasses_proxy("foo, *", "example.com")); }
    SUBCASE("exact and domain-suffix matches, with or without a leading dot") {
      CHECK(bypasses_proxy("example.com", "example.com"));
      CHECK(bypasses_proxy("example.com", "login.example.com"));
      CHECK(bypasses_proxy(".example.com", "login.example.com"));
      CHECK(bypasses_proxy(".example.com", "example.com"));
      CHECK_FALSE(bypasses_proxy("example.com", "badexample.com"));
      CHECK_FALSE(bypasses_proxy("login.example.com", "example.com"));
      // Fully qualified on either side: the root's dot does not count.
      CHECK(bypasses_proxy(".corp.example.", "login.corp.example"));
      CHECK(bypasses_proxy("login.corp.example.", "login.corp.example"));
      CHECK(bypasses_proxy("corp.example", "login.corp.example."));
    }
    SUBCASE("a leading '*.' is a domain suffix, as Go and .NET read it") {
      CHECK(bypasses_proxy("*.corp.example", "login.corp.example"));
      CHECK(bypasses_proxy("*.corp.example", "a.b.corp.example"));
      CHECK(bypasses_proxy("*.corp.example", "corp.example"));
      CHECK_FALSE(bypasses_proxy("*.corp.example", "badcorp.example"));
      CHECK_FALSE(bypasses_proxy("*corp.example", "login.corp.example"));  // only "*." counts
    }
    SUBCASE("case, spaces and ports are ignored") {
      CHECK(bypasses_proxy(" other.net , Example.COM:8443 ", "api.example.com"));
      CHECK(bypasses_proxy("127.0.0.1:8080", "127.0.0.1"));
    }
    SUBCASE("IPv6 entries, bracketed or not") {
      CHECK(bypasses_proxy("[::1]:80", "::1"));
      CHECK(bypasses_proxy("::1", "::1"));
      CHECK(bypasses_proxy("::1", "[::1]"));
      // Compared as addresses, not as text.
      CHECK(bypasses_proxy("0:0:0:0:0:0:0:1", "::1"));
      CHECK(bypasses_proxy("[FD00:0::1]:443", "fd00::1"));
      CHECK_FALSE(bypasses_proxy("::2", "::1"));
    }
  }
}
