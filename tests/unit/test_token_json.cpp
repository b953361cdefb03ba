// Token response and STS error JSON, expiry formats, scrubbing.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "azid/detail/http_driver.hpp"
#include "azid/detail/redact.hpp"
#include "azid/detail/token_json.hpp"

using namespace azid;
using namespace std::chrono;

namespace {
const system_clock::time_point t0{seconds{1'700'000'000}};
}

TEST_SUITE("token_json") {
  TEST_CASE("a token endpoint response yields the token and expires_on from expires_in") {
    detail::ParsedToken p;
    REQUIRE_FALSE(detail::parse_token_json(
        R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"abc.def.ghi"})",
        p));
    CHECK(p.access_token == "abc.def.ghi");
    AccessToken t;
    REQUIRE_FALSE(detail::make_access_token(std::move(p), t0, t));
    CHECK(t.token == "abc.def.ghi");
    CHECK(t.token_type == "Bearer");
    CHECK(t.expires_on_unix() == 1'700'000'000 + 3599);
    CHECK_FALSE(t.refresh_on.has_value());
  }

  TEST_CASE("expires_in and expires_on accept numbers and numeric strings") {
    SUBCASE("string expires_in") {
      detail::ParsedToken p;
      REQUIRE_FALSE(detail::parse_token_json(R"({"access_token":"x","expires_in":"3600"})", p));
      CHECK(*p.expires_in == 3600);
    }
    SUBCASE("string expires_on wins over expires_in") {
      detail::ParsedToken p;
      REQUIRE_FALSE(detail::parse_token_json(
          R"({"access_token":"x","expires_in":"60","expires_on":"1700003600"})", p));
      AccessToken t;
      REQUIRE_FALSE(detail::make_access_token(std::move(p), t0, t));
      CHECK(t.expires_on_unix() == 1'700'003'600);
    }
    SUBCASE("numeric expires_on") {
      detail::ParsedToken p;
      REQUIRE_FALSE(detail::parse_token_json(R"({"access_token":"x","expires_on":1700003600})", p));
      CHECK(*p.expires_on == 1'700'003'600);
    }
    SUBCASE("App Service 2017 date string") {
      detail::ParsedToken p;
      REQUIRE_FALSE(detail::parse_token_json(
          R"({"access_token":"x","expires_on":"11/14/2023 23:13:20 +00:00"})", p));
      CHECK(*p.expires_on == 1'700'003'600);
    }
  }

  TEST_CASE("refresh_on comes from refresh_in, else half of a lifetime of two hours or more") {
    SUBCASE("refresh_in") {
      detail::ParsedToken p;
      REQUIRE_FALSE(detail::parse_token_json(
          R"({"access_token":"x","expires_in":86399,"refresh_in":43199})", p));
      AccessToken t;
      REQUIRE_FALSE(detail::make_access_token(std::move(p), t0, t));
      REQUIRE(t.refresh_on);
      CHECK(duration_cast<seconds>(*t.refresh_on - t0).count() == 43199);
    }
    SUBCASE("a refresh_in of 0 (integer or 0e308) is ignored: the half life applies") {
      for (const char* body : {R"({"access_token":"x","expires_in":86398,"refresh_in":0})",
                               R"({"access_token":"x","expires_in":"86398","refresh_in":0e308})"}) {
        detail::ParsedToken p;
        REQUIRE_FALSE(detail::parse_token_json(body, p));
        AccessToken t;
        REQUIRE_FALSE(detail::make_access_token(std::move(p), t0, t));
        REQUIRE(t.refresh_on);
        CHECK(duration_cast<seconds>(*t.refresh_on - t0).count() == 43199);
      }
    }
    SUBCASE(
        "an unusable refresh_in or refresh_on is dropped, the token kept: the half life applies") {
      for (const char* body : {R"({"access_token":"x","expires_in":86398,"refresh_in":"soon"})",
                               R"({"access_token":"x","expires_in":86398,"refresh_in":-5})",
                               R"({"access_token":"x","expires_in":86398,"refresh_in":{"a":1}})",
                               R"({"access_token":"x","expires_in":86398,"refresh_on":"tomorrow"})",
                               R"({"access_token":"x","expires_in":86398,"refresh_on":1e400})"}) {
        CAPTURE(body);
        detail::ParsedToken p;
        REQUIRE_FALSE(detail::parse_token_json(body, p));
        AccessToken t;
        REQUIRE_FALSE(detail::make_access_token(std::move(p), t0, t));
        REQUIRE(t.refresh_on);
        CHECK(duration_cast<seconds>(*t.refresh_on - t0).count() == 43199);
      }
    }
    SUBCASE("half life at 2 h") {
      detail::ParsedToken p;
      REQUIRE_FALSE(detail::parse_token_json(R"({"access_token":"x","expires_in":7200})", p));
      AccessToken t;
      REQUIRE_FALSE(detail::make_access_token(std::move(p), t0, t));
      REQUIRE(t.refresh_on);
      CHECK(duration_cast<seconds>(*t.refresh_on - t0).count() == 3600);
    }
    SUBCASE("none below 2 h") {
      detail::ParsedToken p;
      REQUIRE_FALSE(detail::parse_token_json(R"({"access_token":"x","expires_in":7199})", p));
      AccessToken t;
      REQUIRE_FALSE(detail::make_access_token(std::move(p), t0, t));
      CHECK_FALSE(t.refresh_on);
    }
  }

  TEST_CASE("bad bodies give a clear error code, never a crash") {
    const char* cases[] = {"",
                           "not json",
                           "[1,2,3]",
                           R"({"access_token":)",
                           R"({"access_token":"x","expires_in":3600)",
                           R"({"access_token":"x","expires_in":3600} trailing)",
                           R"({"access_token":123,"expires_in":3600})",
                           "{\"access_token\":\"x\0\"}"};
    for (const char* c : cases) {
      CAPTURE(c);
      detail::ParsedToken p;
      CHECK(detail::parse_token_json(c, p));
    }
    detail::ParsedToken p;
    CHECK(detail::parse_token_json(R"({"expires_in":3600})", p) ==
          make_error_code(errc::missing_field));
    CHECK(detail::parse_token_json(R"({"access_token":"x","expires_in":-5})", p) ==
          make_error_code(errc::invalid_expiry));
    CHECK(detail::parse_token_json(R"({"access_token":"x","expires_in":"12abc"})", p) ==
          make_error_code(errc::invalid_expiry));
    CHECK(detail::parse_token_json(R"({"access_token":"x","expires_on":99999999999999})", p) ==
          make_error_code(errc::invalid_expiry));
    CHECK(detail::parse_token_json(R"({"access_token":"x","expires_in":1e300})", p) ==
          make_error_code(errc::invalid_expiry));
  }

  TEST_CASE("a token without expiry, or already expired, is refused") {
    detail::ParsedToken p;
    REQUIRE_FALSE(detail::parse_token_json(R"({"access_token":"x"})", p));
    AccessToken t;
    CHECK(detail::make_access_token(std::move(p), t0, t) == make_error_code(errc::invalid_expiry));
    detail::ParsedToken q;
    REQUIRE_FALSE(detail::parse_token_json(R"({"access_token":"x","expires_on":1600000000})", q));
    CHECK(detail::make_access_token(std::move(q), t0, t) == make_error_code(errc::invalid_expiry));
  }

  TEST_CASE("a token or token type a header cannot carry is refused") {
    auto make = [](std::string_view body) {
      detail::ParsedToken p;
      if (auto ec = detail::parse_token_json(body, p)) return ec;
      AccessToken t;
      return detail::make_access_token(std::move(p), t0, t);
    };
    const char* bad[] = {
        R"({"access_token":"tokA\r\nX-Injected: yes","expires_in":3600})",
        R"({"access_token":"tokA\nX","expires_in":3600})",
        R"({"access_token":"tok A","expires_in":3600})",
        R"({"access_token":"tok\tA","expires_in":3600})",
        R"({"access_token":"tok\u007fA","expires_in":3600})",
        R"({"access_token":"tok\u00e9","expires_in":3600})",
        R"({"access_token":"tokA","token_type":"Bearer\r\nX: y","expires_in":3600})",
        R"({"access_token":"tokA","token_type":"Be arer","expires_in":3600})",
    };
    for (const char* b : bad) {
      CAPTURE(b);
      CHECK(make(b) == make_error_code(errc::invalid_token));
    }
    CHECK(make("{\"access_token\":\"tok\xc3\xa9\",\"expires_in\":3600}") ==
          make_error_code(errc::invalid_token));
    CHECK_FALSE(make(R"({"access_token":"eyJ0eXAi.eyJzdWIi.c2ln-_~","expires_in":3600})"));
    CHECK_FALSE(make(R"({"access_token":"EwB+a/b==","token_type":"pop","expires_in":3600})"));
    CHECK(header_safe_token("a!~"));
    CHECK_FALSE(header_safe_token(""));
    CHECK_FALSE(header_safe_token(std::string_view("a\0b", 3)));
    CHECK_FALSE(header_safe_token("\x80"));
  }

  TEST_CASE("expiry text formats of every managed identity source") {
    CHECK(detail::parse_expiry_text("1700003600") == 1'700'003'600);
    CHECK(detail::parse_expiry_text("11/14/2023 23:13:20 +00:00") == 1'700'003'600);
    CHECK(detail::parse_expiry_text("11/14/2023 11:13:20 PM +00:00") == 1'700'003'600);
    CHECK(detail::parse_expiry_text("1/16/2020 5:24:12 AM +00:00") == 1'579'152'252);
    CHECK(detail::parse_expiry_text("1/16/2020 12:24:12 AM +00:00") == 1'579'134'252);
    CHECK(detail::parse_expiry_text("2023-11-14T23:13:20Z") == 1'700'003'600);
    CHECK(detail::parse_expiry_text("2023-11-15T00:13:20+01:00") == 1'700'003'600);
    CHECK(detail::parse_expiry_text("2023-11-14T23:13:20.1234567Z") == 1'700'003'600);
    CHECK(detail::parse_expiry_text("Tue, 14 Nov 2023 23:13:20 GMT") == 1'700'003'600);
    CHECK_FALSE(detail::parse_expiry_text("2023-02-30T00:00:00Z"));
    CHECK_FALSE(detail::parse_expiry_text("13/14/2023 23:13:20 +00:00"));
    CHECK_FALSE(detail::parse_expiry_text("11/14/2023 23:13:20"));
    CHECK_FALSE(detail::parse_expiry_text("tomorrow"));
    CHECK_FALSE(detail::parse_expiry_text(""));
    CHECK_FALSE(detail::parse_expiry_text("99999999999999999"));
  }

  // Found by fuzz_token_json and fuzz_dev_tool: a date past 2262 overflowed the nanosecond
  // system_clock::time_point it was turned into (undefined behaviour, a garbage expiry).
  TEST_CASE("an expiry the system clock cannot hold is refused, not overflowed") {
    const long long clock_max = duration_cast<seconds>(system_clock::duration::max()).count();
    CHECK(detail::max_epoch_seconds <= clock_max);
    CHECK_FALSE(detail::parse_expiry_text("8791-01-01T00:00:00.1234567+01:00"));
    CHECK_FALSE(detail::parse_expiry_text("Fri, 31 Dec 9999 23:59:59 GMT"));
    CHECK(detail::parse_expiry_text("2200-01-01T00:00:00Z") == 7'258'118'400);
    detail::ParsedToken p;
    CHECK(detail::parse_token_json(R"({"access_token":"x","expires_on":"9997-01-01T10:00:00Z"})",
                                   p) == make_error_code(errc::invalid_expiry));
    detail::ParsedToken q;
    q.access_token = "x";
    q.expires_on = 253'402'300'799;  // 9999-12-31T23:59:59Z, straight from a caller
    AccessToken t;
    CHECK(detail::make_access_token(std::move(q), t0, t) == make_error_code(errc::invalid_expiry));
    HttpHeaders h;
    h.add("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT");
    CHECK(detail::retry_after(h, t0) < milliseconds(0));
  }

  TEST_CASE("STS error JSON is parsed with all its fields") {
    StsError e;
    REQUIRE(detail::parse_sts_error(
        R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Trace ID: t Correlation ID: c Timestamp: 2024-01-01 00:00:00Z","error_codes":[7000215],"timestamp":"2024-01-01 00:00:00Z","trace_id":"t-1","correlation_id":"c-1","error_uri":"https://x/error?code=7000215"})",
        e));
    CHECK(e.error == "invalid_client");
    CHECK(e.code() == 7000215);
    CHECK(e.trace_id == "t-1");
    CHECK(e.correlation_id == "c-1");
    CHECK(e.timestamp == "2024-01-01 00:00:00Z");
    CHECK(e.error_description.rfind("AADSTS7000215:", 0) == 0);
    CHECK_FALSE(detail::parse_sts_error("<html>bad gateway</html>", e));
    CHECK_FALSE(detail::parse_sts_error(R"({"message":"nope"})", e));
  }

  TEST_CASE("echoed bodies never carry tokens") {
    const std::string s = detail::scrub_body(
        R"({"access_token":"SECRET1","refresh_token" : "SECRET2","id_token":"S3","x":1})");
    CHECK(s.find("SECRET") == std::string::npos);
    CHECK(s.find("S3") == std::string::npos);
    CHECK(s.find("\"x\":1") != std::string::npos);
    const std::string big(5000, 'a');
    CHECK(detail::scrub_body(big).size() < 1100);
    // Names are compared unescaped; a broken escape in a name leaves it as it is.
    const std::string escaped = detail::scrub_body(
        R"({"access\u005ftoken":"OPAQUE1","\u0074oken" : "OPAQUE2","x\q":"kept","n":"\u005f"})");
    CHECK(escaped.find("OPAQUE") == std::string::npos);
    CHECK(escaped.find(R"("access_token":"***")") != std::string::npos);
    CHECK(escaped.find(R"("x\q":"kept")") != std::string::npos);
  }

  TEST_CASE("numeric expiry strings are plain digits that round-trip") {
    for (const char* bad : {R"("01700003600")", R"(" 1700003600 ")", R"(" 1700003600")",
                            R"("+1700003600")", R"("")"}) {
      CAPTURE(bad);
      detail::ParsedToken p;
      CHECK(detail::parse_token_json(
                std::string(R"({"access_token":"x","expires_on":)") + bad + "}", p) ==
            errc::invalid_expiry);
    }
    detail::ParsedToken p;
    REQUIRE_FALSE(detail::parse_token_json(R"({"access_token":"x","expires_in":"0"})", p));
    CHECK(*p.expires_in == 0);
  }

  TEST_CASE("echoed bodies never carry a client's secret, an assertion or a bearer credential") {
    const std::string jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl";
    const std::string body =
        R"({"error":"invalid_request","error_description":"rejected )" + jwt +
        R"(","request":{"client_assertion":"opaque-ASSERT-1","client_secret":"S3CRET-2",)"
        R"("password":"PW-3"}} form: client_secret=S3CRET-4&grant_type=x Authorization: )"
        R"(Bearer TOKEN-5-abcdefghijklmnop and assertion=ASSERT-6)";
    const std::string s = detail::scrub_body(body);
    for (const char* leak :
         {"eyJ", "ASSERT-1", "S3CRET-2", "PW-3", "S3CRET-4", "TOKEN-5", "ASSERT-6"})
      CHECK_MESSAGE(s.find(leak) == std::string::npos, leak << " in " << s);
    CHECK(s.find("grant_type=x") != std::string::npos);  // the rest is still there to read
    CHECK(s.find("invalid_request") != std::string::npos);
    const std::string t =
        detail::redact_echoed_secrets("AADSTS50027: " + jwt + " client_secret=abc");
    CHECK(t == "AADSTS50027: *** client_secret=REDACTED");
    // A JSON-escaped or percent-encoded '&' still separates a field; Bearer in any case and
    // spacing; but prose and grant names are left alone.
    CHECK(detail::redact_echoed_secrets(R"(grant_type=x\u0026client_secret=S3CRET-7\u0026z=1)") ==
          R"(grant_type=x\u0026client_secret=REDACTED\u0026z=1)");
    CHECK(detail::redact_echoed_secrets("a=1%26client_secret=S3CRET-8") ==
          "a=1%26client_secret=REDACTED");
    CHECK(detail::redact_echoed_secrets("BEARER   Zm9vYmFyYmF6cXV4MTIzNDU2") ==
          "BEARER   REDACTED");
    const std::string prose =
        "send a bearer token; grant urn:ietf:params:oauth:client-assertion-type:jwt-bearer here";
    CHECK(detail::redact_echoed_secrets(prose) == prose);
  }

  TEST_CASE("CAE capability is merged into a claims challenge") {
    CHECK(*detail::merge_cae_capability("{}") ==
          R"({"access_token":{"xms_cc":{"values":["CP1"]}}})");
    CHECK(*detail::merge_cae_capability(
              R"({"access_token":{"nbf":{"essential":true,"value":"1"}}})") ==
          R"({"access_token":{"nbf":{"essential":true,"value":"1"},"xms_cc":{"values":["CP1"]}}})");
    CHECK(*detail::merge_cae_capability(R"({"id_token":{"a":1}})") ==
          R"({"id_token":{"a":1},"access_token":{"xms_cc":{"values":["CP1"]}}})");
    CHECK_FALSE(detail::merge_cae_capability("not json"));
  }

  TEST_CASE("json_quote: escapes, valid UTF-8 kept, any other byte as U+FFFD") {
    CHECK(detail::json_quote("a\"b\\c\n\x01") == R"("a\"b\\c\n\u0001")");
    CHECK(detail::json_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91") ==
          "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\"");
    CHECK(detail::json_quote("a\xff"
                             "b") == R"("a\ufffdb")");                       // Latin-1 byte
    CHECK(detail::json_quote("\xc0\xaf") == R"("\ufffd\ufffd")");            // overlong '/'
    CHECK(detail::json_quote("\xed\xa0\x80") == R"("\ufffd\ufffd\ufffd")");  // a surrogate
    CHECK(detail::json_quote("\xe2\x82") == R"("\ufffd\ufffd")");            // cut short
    CHECK(detail::json_quote("\xf4\x90\x80\x80") == R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  }

  TEST_CASE("redact_all: long secrets everywhere, short ones only where they stand alone") {
    auto redacted = [](std::string text, std::string_view secret) {
      detail::redact_all(text, secret);
      return text;
    };
    CHECK(redacted("got Xy7~long-secret.value (Xy7~long-secret.value)", "Xy7~long-secret.value") ==
          "got REDACTED (REDACTED)");
    CHECK(redacted("keyXy7~long-secret.valueEnd", "Xy7~long-secret.value") == "keyREDACTEDEnd");
    // A one-letter secret: words keep their letters, the secret alone is still blanked.
    CHECK(redacted("ClientSecretCredential: secret 'S' refused", "S") ==
          "ClientSecretCredential: secret 'REDACTED' refused");
    CHECK(redacted("abc", "") == "abc");
    CHECK(redacted("aaaa", "aa") == "aaaa");  // inside a word: kept
    CHECK(redacted("x=aa&y=aa", "aa") == "x=REDACTED&y=REDACTED");
    // A secret read with a trailing newline is also blanked as it went on the wire, trimmed.
    CHECK(redacted("bad key Xy7~long-secret.value.", "Xy7~long-secret.value\n") ==
          "bad key REDACTED.");
  }

  TEST_CASE("quoted values show no character that reorders or breaks what a terminal shows") {
    // Bidirectional overrides, isolates and marks, and the Unicode line and paragraph separators:
    // one '?' each (the whole sequence), while their neighbours in the same block stay as they are.
    CHECK(detail::printable("admin\xE2\x80\xAEtxt.exe") == "admin?txt.exe");  // U+202E
    CHECK(detail::printable("a\xE2\x80\xAA"
                            "b\xE2\x80\xAD"
                            "c") == "a?b?c");  // U+202A, U+202D
    CHECK(detail::printable("a\xE2\x81\xA6"
                            "b\xE2\x81\xA9"
                            "c") == "a?b?c");  // U+2066, U+2069
    CHECK(detail::printable("a\xE2\x80\x8E"
                            "b\xE2\x80\x8F"
                            "c") == "a?b?c");  // U+200E, U+200F
    CHECK(detail::printable("a\xD8\x9C"
                            "b") == "a?b");  // U+061C
    CHECK(detail::printable("line\xE2\x80\xA8"
                            "forged\xE2\x80\xA9") == "line?forged?");
    CHECK(detail::printable("\xE2\x80\xA7\xE2\x80\xB0\xE2\x81\xA5\xE2\x81\xAA") ==
          "\xE2\x80\xA7\xE2\x80\xB0\xE2\x81\xA5\xE2\x81\xAA");  // U+2027 U+2030 U+2065 U+206A
    CHECK(detail::printable("\xD8\x9B caf\xC3\xA9") == "\xD8\x9B caf\xC3\xA9");  // U+061B
    // A cut still falls before a sequence, and a '?' counts one byte.
    CHECK(detail::printable("ab\xE2\x80\xAE", 3) == "ab?");
    CHECK(detail::printable("ab\xE2\x80\xB0", 3) == "ab");
  }
}
