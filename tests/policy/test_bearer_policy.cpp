// BearerTokenAuthorizer on testing::Platform: refresh ahead of expiry through the credential's
// cache (ManualClock), and the exact exchanges send_with_bearer makes.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <system_error>

#include "azid/bearer.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/detail/base64.hpp"
#include "azid/testing/platform.hpp"

using namespace azid;
using namespace std::chrono;

namespace {
constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* client = "11111111-2222-3333-4444-555555555555";
using Cred = ClientSecretCredential<testing::Platform>;

std::string token_body(const std::string& token, int expires_in = 3600) {
  return R"({"token_type":"Bearer","expires_in":)" + std::to_string(expires_in) +
         R"(,"access_token":")" + token + "\"}";
}
HttpRequest resource_request() {
  HttpRequest r;
  r.url = "https://resource.example/items/1";
  return r;
}
std::string form_claims(const HttpRequest& token_request) {
  // The claims field is form-encoded; the test only needs to know whether it is there.
  const auto p = token_request.body.find("claims=");
  return p == std::string::npos ? std::string() : token_request.body.substr(p + 7);
}
// A custom credential whose token would inject a header.
struct Custom {
  static constexpr std::string_view name = "Custom";
  TokenResult try_get_token(const TokenRequestContext&) const {
    auto t = std::make_shared<AccessToken>();
    t->token = "tok\r\nX-Injected: yes";
    t->expires_on = system_clock::now() + hours(1);
    return TokenResult(std::shared_ptr<const AccessToken>(std::move(t)));
  }
  AccessToken get_token(const TokenRequestContext& c) const { return try_get_token(c).value(); }
};
static_assert(Credential<Custom>);
}  // namespace

TEST_SUITE("bearer") {
  TEST_CASE("the token is refreshed ahead of expiry, by the credential's cache") {
    testing::Platform p;
    p.transport().push(200, token_body("tok-A"));
    p.transport().push(200, token_body("tok-B"));
    Cred cred(tenant, client, "s3cret", {}, p);
    BearerTokenAuthorizer auth(cred, {"https://resource.example/.default"});
    HttpRequest r = resource_request();
    auth.authorize(r);
    CHECK(r.headers.get("Authorization") == "Bearer tok-A");
    p.clock().advance(seconds(3600 - 301));  // 301 s left: still fresh
    auth.authorize(r);
    CHECK(r.headers.get("Authorization") == "Bearer tok-A");
    CHECK(p.transport().request_count() == 1);
    p.clock().advance(seconds(2));  // 299 s left: inside the 5-minute margin
    auth.authorize(r);
    CHECK(r.headers.get("Authorization") == "Bearer tok-B");
    CHECK(p.transport().request_count() == 2);
  }

  TEST_CASE("a token with CR/LF never reaches the Authorization header") {
    testing::Platform p;
    p.transport().push(200, token_body(R"(tok-A\r\nX-Injected: yes)"));
    Cred cred(tenant, client, "s3cret", {}, p);
    BearerTokenAuthorizer auth(cred, {"https://resource.example/.default"});
    HttpRequest r = resource_request();
    try {
      auth.authorize(r);
      FAIL("expected an exception");
    } catch (const ClientAuthenticationError& e) {
      CHECK(std::string(e.what()).find("Unexpected response from Microsoft Entra ID") !=
            std::string::npos);
      CHECK(std::string(e.what()).find("X-Injected") == std::string::npos);
    }
    CHECK(r.headers.get("Authorization").empty());
    // A custom credential's token is checked too, before any header is set.
    Custom custom;
    BearerTokenAuthorizer custom_auth(custom, {"https://resource.example/.default"});
    std::string set_value;
    CHECK_THROWS_WITH_AS(
        custom_auth.authorize("https://resource.example/items/1",
                              [&](std::string_view, std::string_view v) { set_value = v; }),
        doctest::Contains("not put on the request"), ClientAuthenticationError);
    CHECK(set_value.empty());
  }

  TEST_CASE("a token about to expire is not sent when its refreshes keep failing") {
    testing::Platform p;
    p.transport().push(200, token_body("tok-A"));
    for (int i = 0; i < 3; ++i)
      p.transport().push(400,
                         R"({"error":"invalid_client","error_description":"AADSTS7000215: x"})");
    Cred cred(tenant, client, "s3cret", {}, p);
    BearerTokenAuthorizer auth(cred, {"https://resource.example/.default"});
    HttpRequest r = resource_request();
    auth.authorize(r);
    p.clock().advance(seconds(3600 - 200));  // refresh fails; 200 s left: still handed out
    auth.authorize(r);
    CHECK(r.headers.get("Authorization") == "Bearer tok-A");
    p.clock().advance(seconds(175));  // 25 s left, below the 30 s minimum: the failure instead
    HttpRequest late = resource_request();
    CHECK_THROWS_AS(auth.authorize(late), ClientAuthenticationError);
    CHECK_FALSE(late.headers.contains("Authorization"));
  }

  TEST_CASE("send_with_bearer: challenge, claims token, one resend, in that order") {
    testing::Platform p;
    const std::string claims =
        R"({"access_token":{"nbf":{"essential":true,"value":"1700000000"}}})";
    p.transport().push(200, token_body("tok-A"));
    p.transport().push(
        401, "",
        {{"WWW-Authenticate", R"(Bearer realm="", error="insufficient_claims", claims=")" +
                                  detail::base64_encode(claims, false) + "\""}});
    p.transport().push(200, token_body("tok-C"));
    p.transport().push(200, "done");
    Cred cred(tenant, client, "s3cret", {}, p);
    std::error_code ec;
    BearerOptions o;
    o.scopes = {"https://resource.example/.default"};
    HttpResponse res = send_with_bearer(p.transport(), resource_request(), cred, o, ec);
    REQUIRE_FALSE(ec);
    CHECK(res.status == 200);
    CHECK(res.body == "done");
    const auto reqs = p.transport().requests();
    REQUIRE(reqs.size() == 4);
    CHECK(form_claims(reqs[0]).empty());
    CHECK(reqs[1].headers.get("Authorization") == "Bearer tok-A");
    CHECK(form_claims(reqs[2]).find("essential") != std::string::npos);
    CHECK(reqs[3].url == "https://resource.example/items/1");
    CHECK(reqs[3].headers.get("Authorization") == "Bearer tok-C");
  }

  TEST_CASE("send_with_bearer passes transport failures through without retrying") {
    testing::Platform p;
    p.transport().push(200, token_body("tok-A"));
    p.transport().push_error(make_error_code(errc::connect_failed));
    Cred cred(tenant, client, "s3cret", {}, p);
    BearerTokenAuthorizer auth(cred, {"https://resource.example/.default"});
    std::error_code ec;
    HttpResponse res = send_with_bearer(p.transport(), resource_request(), auth, ec);
    CHECK(ec == make_error_code(errc::connect_failed));
    CHECK(res.status == 0);
    CHECK(p.transport().request_count() == 2);
  }

  TEST_CASE("responses other than 401 are never treated as challenges") {
    testing::Platform p;
    p.transport().push(200, token_body("tok-A"));
    Cred cred(tenant, client, "s3cret", {}, p);
    BearerTokenAuthorizer auth(cred, {"https://resource.example/.default"});
    HttpRequest r = resource_request();
    auth.authorize(r);
    HttpResponse res;
    res.status = 403;
    res.headers.add("WWW-Authenticate", R"(Bearer error="insufficient_claims", claims="e30=")");
    CHECK_FALSE(auth.on_challenge(r, res));
    res.status = 401;
    res.headers.clear();
    res.headers.add("WWW-Authenticate", R"(Basic realm="x")");
    CHECK_FALSE(auth.on_challenge(r, res));
    CHECK(r.headers.get("Authorization") == "Bearer tok-A");
    CHECK(p.transport().request_count() == 1);
  }
}
