// WWW-Authenticate parsing and claims-challenge extraction (detail/challenge.hpp).
#include <doctest/doctest.h>

#include <string>

#include "azid/detail/base64.hpp"
#include "azid/detail/challenge.hpp"

using namespace azid;
using azid::detail::claims_from_challenge;
using azid::detail::parse_www_authenticate;

namespace {
const std::string claims_json =
    R"({"access_token":{"nbf":{"essential":true,"value":"1604106651"}}})";
std::string b64(const std::string& s) { return detail::base64_encode(s, false); }
std::string b64url(const std::string& s) { return detail::base64_encode(s, true); }
}  // namespace

TEST_SUITE("challenge") {
  TEST_CASE("a Bearer challenge's parameters are read, quoted or not") {
    auto r = parse_www_authenticate(
        R"(Bearer realm="", authorization_uri="https://login.example/common/oauth2/authorize", error=insufficient_claims)");
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    const auto& c = r->front();
    CHECK(c.scheme == "Bearer");
    REQUIRE(c.params.size() == 3);
    CHECK(c.param("realm") == "");
    CHECK(c.param("AUTHORIZATION_URI") == "https://login.example/common/oauth2/authorize");
    CHECK(c.param("error") == "insufficient_claims");
    CHECK_FALSE(c.param("claims"));
  }

  TEST_CASE("commas and escaped quotes inside quoted strings stay in the value") {
    auto r = parse_www_authenticate(R"(Bearer error_description="a, b, \"c\"", x=y)");
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    CHECK(r->front().param("error_description") == R"(a, b, "c")");
    CHECK(r->front().param("x") == "y");
  }

  TEST_CASE("several challenges in one value are split at the scheme after a comma") {
    auto r = parse_www_authenticate(
        R"(Basic realm="simple", Newauth realm="apps", type=1, title="Login to \"apps\"", Bearer error="invalid_token", PoP, Negotiate abc+/==)");
    REQUIRE(r);
    REQUIRE(r->size() == 5);
    CHECK((*r)[0].scheme == "Basic");
    CHECK((*r)[0].param("realm") == "simple");
    CHECK((*r)[1].scheme == "Newauth");
    CHECK((*r)[1].params.size() == 3);
    CHECK((*r)[1].param("title") == R"(Login to "apps")");
    CHECK((*r)[2].scheme == "Bearer");
    CHECK((*r)[2].param("error") == "invalid_token");
    CHECK((*r)[3].scheme == "PoP");
    CHECK((*r)[3].params.empty());
    CHECK((*r)[4].scheme == "Negotiate");
    CHECK((*r)[4].token68 == "abc+/==");
  }

  TEST_CASE("empty list elements and extra spaces are tolerated") {
    auto r = parse_www_authenticate(" ,  Bearer   a = \"1\" ,, b=2 ,");
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    CHECK(r->front().param("a") == "1");
    CHECK(r->front().param("b") == "2");
    auto empty = parse_www_authenticate("");
    REQUIRE(empty);
    CHECK(empty->empty());
  }

  TEST_CASE("a trailing '=' run after a lone token is token68 padding, not an empty parameter") {
    auto r = parse_www_authenticate("Bearer error=");
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    CHECK(r->front().token68 == "error=");
    CHECK(r->front().params.empty());
  }

  TEST_CASE("malformed values are rejected as a whole") {
    for (const char* bad :
         {R"(Bearer error="unterminated)", R"(Bearer a=1, b=)", R"(Bearer a="1" b="2")",
          R"(Bearer x y)", R"(="x")", R"(Bearer"x")", R"(Bearer a="1\)", R"(Bearer a=b"c")"}) {
      CAPTURE(bad);
      CHECK_FALSE(parse_www_authenticate(bad));
    }
  }

  TEST_CASE(
      "the claims of an insufficient_claims challenge are decoded, either base64 alphabet, padding "
      "optional") {
    SUBCASE("base64 with padding") {
      const std::string h =
          R"(Bearer realm="", authorization_uri="https://login.example/common/oauth2/authorize", error="insufficient_claims", claims=")" +
          b64(claims_json) + "\"";
      CHECK(claims_from_challenge(h) == claims_json);
    }
    SUBCASE("base64url without padding") {
      const std::string h =
          R"(Bearer error="insufficient_claims", claims=")" + b64url(claims_json) + "\"";
      CHECK(claims_from_challenge(h) == claims_json);
    }
    SUBCASE("after another scheme's challenge, scheme and names in any case") {
      const std::string h = R"(Basic realm="a, b", bearer ERROR="Insufficient_Claims", Claims=)" +
                            b64url(claims_json);
      CHECK(claims_from_challenge(h) == claims_json);
    }
  }

  TEST_CASE("challenges that are not claims challenges yield nothing") {
    const std::string c = b64(claims_json);
    for (
        const std::string& h : {
            std::string(
                R"(Bearer authorization="https://login.example/t", resource="https://vault.azure.net")"),
            R"(Bearer error="invalid_token", claims=")" + c + "\"",              // another error
            R"(Bearer claims=")" + c + "\"",                                     // no error at all
            R"(Basic error="insufficient_claims", claims=")" + c + "\"",         // not Bearer
            std::string(R"(Bearer error="insufficient_claims", claims="")"),     // empty
            std::string(R"(Bearer error="insufficient_claims", claims="***")"),  // not base64
            R"(Bearer error="insufficient_claims", claims=")" + b64("[1,2]") +
                "\"",                                                    // not an object
            R"(Bearer error="insufficient_claims", claims=")" + c + "",  // unterminated: malformed
            std::string(""),
        }) {
      CAPTURE(h);
      CHECK_FALSE(claims_from_challenge(h));
    }
  }

  TEST_CASE("claims with control characters are refused; line breaks and tabs become spaces") {
    const auto with = [](std::string json) {
      return R"(Bearer error="insufficient_claims", claims=")" + b64(json) + "\"";
    };
    CHECK_FALSE(claims_from_challenge(with("{\"a\":1,\"x\":\"\x1b[2J\"}")));
    CHECK_FALSE(claims_from_challenge(with(std::string("{\"a\":\"\0\"}", 9))));
    CHECK_FALSE(claims_from_challenge(with("{\"a\":\"\x7f\"}")));
    const auto spaced = claims_from_challenge(with("{\n\t\"access_token\":{}\r\n}"));
    REQUIRE(spaced);
    CHECK(*spaced == "{  \"access_token\":{}  }");
  }
}
