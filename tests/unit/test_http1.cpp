// Unit tests for azid/detail/http1.hpp: the sans-I/O HTTP/1.1 request serializer and response parser.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <system_error>

#include "azid/detail/http1.hpp"

using azid::errc;
using azid::detail::ResponseParser;

namespace {

struct Parsed {
  std::error_code ec;
  bool done = false;
  bool keep_alive = false;
  std::size_t consumed = 0;
  azid::HttpResponse response;
  std::size_t body_capacity = 0;
};

struct Limits {
  std::size_t header = 8 * 1024;
  std::size_t body = 1024 * 1024;
  bool head = false;
  bool eof = false;  // call put_eof after the bytes
};

// Feeds `wire` in pieces of `step` bytes (0 = all at once), stopping at the first error or at
// completion, as a transport's read loop would.
Parsed feed(std::string_view wire, std::size_t step, Limits limits = {}) {
  ResponseParser p(limits.header, limits.body, limits.head);
  Parsed out;
  std::size_t pos = 0;
  while (pos < wire.size() && !p.done()) {
    const std::size_t n = step == 0 ? wire.size() - pos : std::min(step, wire.size() - pos);
    const std::size_t used = p.put(wire.substr(pos, n), out.ec);
    pos += used;
    if (out.ec) break;
    if (used < n) break;  // response complete, the rest is not ours
  }
  if (!out.ec && limits.eof) p.put_eof(out.ec);
  out.done = p.done();
  out.keep_alive = p.keep_alive();
  out.consumed = pos;
  out.body_capacity = p.response().body.capacity();
  out.response = std::move(p.response());
  return out;
}

// Runs the same bytes whole and one byte at a time; both must agree.
Parsed parse(std::string_view wire, Limits limits = {}) {
  Parsed whole = feed(wire, 0, limits);
  Parsed bytewise = feed(wire, 1, limits);
  CHECK(whole.ec == bytewise.ec);
  CHECK(whole.done == bytewise.done);
  // After an error, how far each feeding got depends on where the pieces were cut.
  if (!whole.ec) {
    CHECK(whole.consumed == bytewise.consumed);
    CHECK(whole.response.status == bytewise.response.status);
    CHECK(whole.response.body == bytewise.response.body);
    CHECK(whole.keep_alive == bytewise.keep_alive);
  }
  return whole;
}

std::error_code parse_error(std::string_view wire, Limits limits = {}) {
  return parse(wire, limits).ec;
}

}  // namespace

TEST_SUITE("http1") {
  TEST_CASE("serialize_request writes origin-form with Host, Content-Length and keep-alive") {
    azid::detail::Url url;
    REQUIRE(!azid::detail::parse_url("https://login.example.com/t/oauth2/v2.0/token?x=1", url));
    azid::HttpRequest req;
    req.method = "POST";
    req.body = "grant_type=client_credentials";
    req.headers.set("Content-Type", "application/x-www-form-urlencoded");
    const std::string wire = azid::detail::serialize_request(req, url, false);
    CHECK(wire ==
          "POST /t/oauth2/v2.0/token?x=1 HTTP/1.1\r\n"
          "Host: login.example.com\r\n"
          "Content-Type: application/x-www-form-urlencoded\r\n"
          "Content-Length: 29\r\n"
          "Connection: keep-alive\r\n"
          "\r\n"
          "grant_type=client_credentials");
  }

  TEST_CASE("serialize_request handles ports, proxies and caller headers") {
    azid::detail::Url url;
    azid::HttpRequest req;
    SUBCASE("a non-default port and an IPv6 host appear in Host") {
      REQUIRE(!azid::detail::parse_url("http://[::1]:8080/metadata?api-version=1", url));
      const std::string wire = azid::detail::serialize_request(req, url, false);
      CHECK(wire.starts_with("GET /metadata?api-version=1 HTTP/1.1\r\nHost: [::1]:8080\r\n"));
      CHECK(wire.find("Content-Length") == std::string::npos);
    }
    SUBCASE("absolute form for a forward proxy") {
      REQUIRE(!azid::detail::parse_url("http://169.254.169.254/metadata", url));
      const std::string wire = azid::detail::serialize_request(req, url, true);
      CHECK(wire.starts_with(
          "GET http://169.254.169.254/metadata HTTP/1.1\r\nHost: 169.254.169.254\r\n"));
    }
    SUBCASE("a POST without a body still says Content-Length: 0") {
      REQUIRE(!azid::detail::parse_url("http://h/", url));
      req.method = "POST";
      CHECK(azid::detail::serialize_request(req, url, false).find("Content-Length: 0\r\n") !=
            std::string::npos);
    }
    SUBCASE("the caller's Host and Connection win, their Content-Length does not") {
      REQUIRE(!azid::detail::parse_url("http://h/", url));
      req.method = "PUT";
      req.body = "abc";
      req.headers.set("host", "other");
      req.headers.set("Connection", "close");
      req.headers.set("Content-Length", "99");
      req.headers.set("Metadata", "true");
      const std::string wire = azid::detail::serialize_request(req, url, false);
      CHECK(wire ==
            "PUT / HTTP/1.1\r\nhost: other\r\nConnection: close\r\nMetadata: true\r\n"
            "Content-Length: 3\r\n\r\nabc");
    }
    SUBCASE("CR and LF in a header value cannot start a new header") {
      REQUIRE(!azid::detail::parse_url("http://h/", url));
      req.headers.set("X-Id", "a\r\nEvil: 1");
      const std::string wire = azid::detail::serialize_request(req, url, false);
      CHECK(wire.find("X-Id: a  Evil: 1\r\n") != std::string::npos);
      CHECK(wire.find("\r\nEvil") == std::string::npos);
    }
  }

  TEST_CASE("a Content-Length response is parsed whole and byte by byte") {
    const std::string wire =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        "13\r\n\r\n{\"a\":\"bcdef\"}";
    const Parsed r = parse(wire);
    REQUIRE(!r.ec);
    CHECK(r.done);
    CHECK(r.consumed == wire.size());
    CHECK(r.response.status == 200);
    CHECK(r.response.reason == "OK");
    CHECK(r.response.headers.get("content-type") == "application/json");
    CHECK(r.response.body == "{\"a\":\"bcdef\"}");
    CHECK(r.keep_alive);
  }

  TEST_CASE("the body keeps at least 64 bytes of spare capacity for simdjson") {
    SUBCASE("content-length") {
      const Parsed r = parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
      CHECK(r.body_capacity >= 3 + ResponseParser::body_padding);
    }
    SUBCASE("chunked") {
      const Parsed r =
          parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
      CHECK(r.body_capacity >= 3 + ResponseParser::body_padding);
    }
    SUBCASE("read to close") {
      const Parsed r = parse("HTTP/1.1 200 OK\r\n\r\nabcdef", {.eof = true});
      CHECK(r.body_capacity >= 6 + ResponseParser::body_padding);
    }
  }

  TEST_CASE("bytes after the response are left unconsumed") {
    const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\n";
    const Parsed r = feed(wire, 0);
    REQUIRE(!r.ec);
    CHECK(r.done);
    CHECK(r.consumed == wire.find("hi") + 2);
  }

  TEST_CASE("chunked bodies are decoded") {
    SUBCASE("several chunks, extensions, upper and lower hex, trailers") {
      const Parsed r = parse(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5;name=value\r\nhello\r\n"
          "1 ; ext\r\n,\r\n"
          "A\r\n world....\r\n"
          "0\r\nX-Trailer: yes\r\n\r\n");
      REQUIRE(!r.ec);
      CHECK(r.done);
      CHECK(r.response.body == "hello, world....");
      CHECK(r.keep_alive);
    }
    SUBCASE("a coding list ending in chunked") {
      const Parsed r = parse(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity, Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
      REQUIRE(!r.ec);
      CHECK(r.response.body == "ok");
    }
    SUBCASE("bare LF line endings are tolerated") {
      const Parsed r = parse("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n");
      REQUIRE(!r.ec);
      CHECK(r.response.body == "ok");
    }
    SUBCASE("leading zeros in a size") {
      const Parsed r = parse(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
          "chunked\r\n\r\n00000000000000000000002\r\nok\r\n0\r\n\r\n");
      REQUIRE(!r.ec);
      CHECK(r.response.body == "ok");
    }
  }

  TEST_CASE("bad chunked framing is a malformed response") {
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    SUBCASE("non-hex size") { CHECK(parse_error(head + "zz\r\n") == errc::malformed_response); }
    SUBCASE("empty size line") { CHECK(parse_error(head + "\r\n") == errc::malformed_response); }
    SUBCASE("junk after the size") {
      CHECK(parse_error(head + "5 x\r\nhello\r\n") == errc::malformed_response);
    }
    SUBCASE("data longer than the size") {
      CHECK(parse_error(head + "2\r\nabc\r\n0\r\n\r\n") == errc::malformed_response);
    }
    SUBCASE("a size that overflows 64 bits") {
      CHECK(parse_error(head + "1FFFFFFFFFFFFFFFF\r\n") == errc::malformed_response);
    }
    SUBCASE("an endless size line") {
      CHECK(parse_error(head + std::string(5000, '0')) == errc::malformed_response);
    }
    SUBCASE("a control byte in an extension") {
      CHECK(parse_error(head + "2;a\x01\r\nok\r\n") == errc::malformed_response);
    }
    SUBCASE("a folded trailer") {
      CHECK(parse_error(head + "0\r\n continued\r\n\r\n") == errc::malformed_response);
    }
    SUBCASE("chunked that is not the final coding") {
      CHECK(parse_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") ==
            errc::malformed_response);
    }
    SUBCASE("the close before the last chunk") {
      CHECK(parse_error(head + "2\r\nok\r\n", {.eof = true}) == errc::connection_closed);
    }
  }

  TEST_CASE("a body with no length runs to the close and ends keep-alive") {
    SUBCASE("no framing headers") {
      const Parsed r = parse("HTTP/1.1 200 OK\r\n\r\nuntil the end", {.eof = true});
      REQUIRE(!r.ec);
      CHECK(r.done);
      CHECK(r.response.body == "until the end");
      CHECK_FALSE(r.keep_alive);
    }
    SUBCASE("a transfer coding other than chunked") {
      const Parsed r =
          parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz", {.eof = true});
      REQUIRE(!r.ec);
      CHECK(r.response.body == "xyz");
      CHECK_FALSE(r.keep_alive);
    }
    SUBCASE("not done until the close") {
      const Parsed r = parse("HTTP/1.1 200 OK\r\n\r\nsome");
      CHECK(!r.ec);
      CHECK_FALSE(r.done);
    }
  }

  TEST_CASE("responses that carry no body") {
    SUBCASE("204 and 304 ignore Content-Length") {
      const Parsed a = parse("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n");
      CHECK(a.done);
      CHECK(a.response.body.empty());
      const Parsed b = parse("HTTP/1.1 304 Not Modified\r\n\r\n");
      CHECK(b.done);
      CHECK(b.keep_alive);
    }
    SUBCASE("a response to HEAD or CONNECT") {
      const Parsed r = parse("HTTP/1.1 200 Connection established\r\nContent-Length: 100\r\n\r\n",
                             {.head = true});
      CHECK(r.done);
      CHECK(r.response.body.empty());
      CHECK(r.response.reason == "Connection established");
    }
    SUBCASE("Content-Length: 0") {
      const Parsed r = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      CHECK(r.done);
      CHECK(r.response.body.empty());
    }
  }

  TEST_CASE("interim 1xx responses are skipped") {
    const Parsed r = parse(
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    REQUIRE(!r.ec);
    CHECK(r.response.status == 201);
    CHECK(r.response.body == "ok");
    CHECK_FALSE(r.response.headers.contains("Link"));
    SUBCASE("but 101 is refused") {
      CHECK(parse_error("HTTP/1.1 101 Switching Protocols\r\n\r\n") == errc::malformed_response);
    }
  }

  TEST_CASE("keep-alive follows the version and the Connection header") {
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    CHECK_FALSE(
        parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive);
    CHECK_FALSE(parse("HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n")
                    .keep_alive);
    CHECK_FALSE(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    CHECK(
        parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").keep_alive);
  }

  TEST_CASE("Content-Length must be a single agreed number") {
    SUBCASE("repeated equal values are accepted") {
      const Parsed r =
          parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok");
      REQUIRE(!r.ec);
      CHECK(r.response.body == "ok");
    }
    SUBCASE("disagreeing values") {
      CHECK(parse_error("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok") ==
            errc::malformed_response);
      CHECK(parse_error("HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok") ==
            errc::malformed_response);
    }
    SUBCASE("not a number") {
      CHECK(parse_error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n") ==
            errc::malformed_response);
      CHECK(parse_error("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n") ==
            errc::malformed_response);
      CHECK(parse_error("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n") == errc::malformed_response);
      CHECK(parse_error("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n") ==
            errc::malformed_response);
    }
    SUBCASE("alongside Transfer-Encoding") {
      CHECK(parse_error(
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n") ==
            errc::malformed_response);
    }
    SUBCASE("the close before the announced length") {
      CHECK(parse_error("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", {.eof = true}) ==
            errc::connection_closed);
    }
  }

  TEST_CASE("malformed status lines and header fields are refused") {
    CHECK(parse_error("HTTP/2 200 OK\r\n\r\n") == errc::malformed_response);
    CHECK(parse_error("HTTP/1.1 20 OK\r\n\r\n") == errc::malformed_response);
    CHECK(parse_error("HTTP/1.1 2000 OK\r\n\r\n") == errc::malformed_response);
    CHECK(parse_error("HTTP/1.1 600 Nope\r\n\r\n") == errc::malformed_response);
    CHECK(parse_error("HTTP/1.1 099 Nope\r\n\r\n") == errc::malformed_response);
    CHECK(parse_error("ICY 200 OK\r\n\r\n") == errc::malformed_response);
    CHECK(parse_error("\r\nHTTP/1.1 200 OK\r\n\r\n") == errc::malformed_response);
    CHECK(parse_error("HTTP/1.1 200 O\x01K\r\n\r\n") == errc::malformed_response);
    SUBCASE("obs-fold") {
      CHECK(parse_error("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n") ==
            errc::malformed_response);
      CHECK(parse_error("HTTP/1.1 200 OK\r\nX-A: 1\r\n\tfolded\r\n\r\n") ==
            errc::malformed_response);
    }
    SUBCASE("space before the colon, no colon, empty name, bad bytes") {
      CHECK(parse_error("HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx") ==
            errc::malformed_response);
      CHECK(parse_error("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n") == errc::malformed_response);
      CHECK(parse_error("HTTP/1.1 200 OK\r\n: value\r\n\r\n") == errc::malformed_response);
      CHECK(parse_error("HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n") == errc::malformed_response);
      CHECK(parse_error("HTTP/1.1 200 OK\r\nX(A): a\r\n\r\n") == errc::malformed_response);
    }
    SUBCASE("a status line without a reason is fine") {
      const Parsed r = parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
      CHECK(r.done);
      CHECK(r.response.reason.empty());
    }
    SUBCASE("header values are trimmed") {
      const Parsed r =
          parse("HTTP/1.1 200 OK\r\nX-A: \t spaced out \t\r\nContent-Length: 0\r\n\r\n");
      CHECK(r.response.headers.get("x-a") == "spaced out");
    }
  }

  TEST_CASE("header and body limits are enforced early") {
    SUBCASE("a header block over the limit") {
      const std::string wire = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(200, 'a') + "\r\n\r\n";
      CHECK(parse_error(wire, {.header = 100}) == errc::headers_too_large);
    }
    SUBCASE("an endless header line is cut at the limit") {
      Limits l{.header = 100};
      ResponseParser p(l.header, l.body, false);
      std::error_code ec;
      const std::string chunk(64, 'a');
      std::size_t total = p.put("HTTP/1.1 200 OK\r\nX: ", ec);
      for (int i = 0; i < 10 && !ec; ++i) total += p.put(chunk, ec);
      CHECK(ec == errc::headers_too_large);
      CHECK(total <= 100);
    }
    SUBCASE("interim responses do not count against the final one") {
      const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
      std::string wire;
      for (int i = 0; i < 10; ++i) wire += interim;
      wire += "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
      CHECK(!parse_error(wire, {.header = 60}));
    }
    SUBCASE("a trailer over the limit") {
      const std::string wire =
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + std::string(200, 'a') +
          "\r\n\r\n";
      CHECK(parse_error(wire, {.header = 100}) == errc::headers_too_large);
    }
    SUBCASE("Content-Length over the body limit fails before any body byte") {
      ResponseParser p(8192, 1024, false);
      std::error_code ec;
      const std::string_view head = "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n";
      const std::size_t used = p.put(head, ec);
      CHECK(ec == errc::body_too_large);
      CHECK(used == head.size());
      CHECK(p.response().body.capacity() < 1024 * 1024);  // nothing reserved for it
      SUBCASE("and stays failed") {
        CHECK(p.put("more", ec) == 0);
        CHECK(ec == errc::body_too_large);
        p.put_eof(ec);
        CHECK(ec == errc::body_too_large);
      }
    }
    SUBCASE("a chunk size over the body limit") {
      CHECK(parse_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n",
                        {.body = 1000}) == errc::body_too_large);
    }
    SUBCASE("chunks that add up to more than the limit") {
      const std::string c = "200\r\n" + std::string(512, 'x') + "\r\n";
      CHECK(parse_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + c + c,
                        {.body = 1000}) == errc::body_too_large);
    }
    SUBCASE("a body read to the close over the limit") {
      CHECK(parse_error("HTTP/1.1 200 OK\r\n\r\n" + std::string(20, 'x'), {.body = 10}) ==
            errc::body_too_large);
    }
    SUBCASE("exactly at the limit is fine") {
      const Parsed r =
          parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", {.body = 10});
      CHECK(r.done);
    }
  }

  TEST_CASE("an early close is reported as connection_closed") {
    SUBCASE("before any byte") {
      ResponseParser p(8192, 1024, false);
      std::error_code ec;
      p.put_eof(ec);
      CHECK(ec == errc::connection_closed);
      CHECK_FALSE(p.started());
    }
    SUBCASE("mid-headers") {
      CHECK(parse_error("HTTP/1.1 200 OK\r\nContent-Le", {.eof = true}) == errc::connection_closed);
    }
    SUBCASE("after completion the close is harmless") {
      CHECK(!parse_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", {.eof = true}));
    }
  }
}
