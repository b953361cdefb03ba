// BearerTokenAuthorizer and send_with_bearer end to end: ClientSecretCredential over real TLS to
// the emulator's token endpoint, then the emulator's protected resource (GET /secrets/{name}),
// including its claims-challenge mode.
#include <doctest/doctest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "azid/bearer.hpp"
#include "azid/core/errors.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/detail/base64.hpp"
#include "confidential_fixture.hpp"
#include "emulator.hpp"

using namespace azid;
using azid_test::emu_client;
using azid_test::emu_tenant;

namespace {
const std::string secret = "B3arer~s3cret.value";
const std::string vault_scope = "https://vault.azure.net/.default";

struct BearerFixture : azid_test::ConfidentialFixture {
  using Cred = ClientSecretCredential<azid_test::EmuPlatform>;
  Cred cred;

  BearerFixture() : cred(make_cred()) { emu.set_secret("db-password", "hunter2-from-the-vault"); }
  Cred make_cred() {
    emu.register_app({emu_tenant, emu_client, secret, false, {}});
    return Cred(emu_tenant, emu_client, secret, options<ClientSecretCredentialOptions>(), platform);
  }
  HttpRequest secret_request() const {
    HttpRequest r;
    r.method = "GET";
    r.url = emu.base_url() + "/secrets/db-password";
    r.timeout = std::chrono::milliseconds(5000);
    return r;
  }
  std::size_t token_requests() const {
    return emu.request_count("/" + emu_tenant + "/oauth2/v2.0/token");
  }
  std::size_t resource_requests() const { return emu.request_count("/secrets/"); }
  /// The `claims` form field of every token request, in order ("" when absent).
  std::vector<std::string> claims_sent() const {
    std::vector<std::string> out;
    for (const auto& r : emu.requests())
      if (r.path().find("/oauth2/v2.0/token") != std::string::npos)
        out.push_back(r.form_param("claims").value_or(""));
    return out;
  }
  /// The payload of the token the resource last received.
  std::string last_presented_payload() const {
    std::string payload;
    for (const auto& r : emu.requests())
      if (r.path().rfind("/secrets/", 0) == 0) {
        const std::string h = r.header("Authorization");
        payload.clear();
        if (h.rfind("Bearer ", 0) == 0) azid_emulator::verify_token(emu, h.substr(7), payload);
      }
    return payload;
  }
};

std::string claims_challenge_header(const std::string& claims_json) {
  return "Bearer realm=\"\", error=\"insufficient_claims\", claims=\"" +
         detail::base64_encode(claims_json, false) + "\"";
}
}  // namespace

TEST_SUITE("bearer_emulator") {
  TEST_CASE_FIXTURE(BearerFixture, "authorize puts a token the resource accepts on the request") {
    BearerTokenAuthorizer auth(cred, {vault_scope});
    HttpRequest req = secret_request();
    auth.authorize(req);
    CHECK(req.headers.get("Authorization").substr(0, 7) == "Bearer ");
    std::error_code ec;
    HttpResponse res = platform.transport().send(req, ec);
    REQUIRE_FALSE(ec);
    CHECK(res.status == 200);
    CHECK(res.body.find("hunter2-from-the-vault") != std::string::npos);
  }

  TEST_CASE_FIXTURE(BearerFixture, "every request reuses the credential's cached token") {
    BearerTokenAuthorizer auth(cred, {vault_scope});
    std::error_code ec;
    for (int i = 0; i < 3; ++i) {
      HttpResponse res = send_with_bearer(platform.transport(), secret_request(), auth, ec);
      REQUIRE_FALSE(ec);
      CHECK(res.status == 200);
    }
    CHECK(token_requests() == 1);
    CHECK(resource_requests() == 3);
    // The credential's own get_token sees the same cache entry: no second cache.
    (void)cred.get_token(azid_test::vault_scope());
    CHECK(token_requests() == 1);
  }

  TEST_CASE_FIXTURE(
      BearerFixture,
      "a claims challenge gets a token with those claims and the request is sent once more") {
    emu.require_resource_claims("c1");
    BearerTokenAuthorizer auth(cred, {vault_scope});
    std::error_code ec;
    HttpResponse res = send_with_bearer(platform.transport(), secret_request(), auth, ec);
    REQUIRE_FALSE(ec);
    CHECK(res.status == 200);
    CHECK(res.body.find("hunter2-from-the-vault") != std::string::npos);
    CHECK(resource_requests() == 2);
    const auto claims = claims_sent();
    REQUIRE(claims.size() == 2);
    CHECK(claims[0].empty());
    CHECK(claims[1] == R"({"access_token":{"acrs":{"essential":true,"value":"c1"}}})");
    CHECK(last_presented_payload().find(R"("acrs":["c1"])") != std::string::npos);

    SUBCASE("the token with the claims replaced the cached one") {
      res = send_with_bearer(platform.transport(), secret_request(), auth, ec);
      REQUIRE_FALSE(ec);
      CHECK(res.status == 200);
      CHECK(token_requests() == 2);
      CHECK(resource_requests() == 3);
    }
  }

  TEST_CASE_FIXTURE(BearerFixture,
                    "with CAE enabled the claims are merged with the CP1 capability") {
    emu.require_resource_claims("c7");
    BearerOptions o;
    o.scopes = {vault_scope};
    o.enable_cae = true;
    std::error_code ec;
    HttpResponse res = send_with_bearer(platform.transport(), secret_request(), cred, o, ec);
    REQUIRE_FALSE(ec);
    CHECK(res.status == 200);
    const auto claims = claims_sent();
    REQUIRE(claims.size() == 2);
    CHECK(claims[0] == R"({"access_token":{"xms_cc":{"values":["CP1"]}}})");
    CHECK(claims[1].find(R"("acrs":{"essential":true,"value":"c7"})") != std::string::npos);
    CHECK(claims[1].find(R"("xms_cc":{"values":["CP1"]})") != std::string::npos);
    const std::string payload = last_presented_payload();
    CHECK(payload.find(R"("acrs":["c7"])") != std::string::npos);
    CHECK(payload.find(R"("xms_cc":["CP1"])") != std::string::npos);
  }

  TEST_CASE_FIXTURE(BearerFixture,
                    "a second claims challenge goes back to the caller: one retry, no loop") {
    const std::string challenge =
        claims_challenge_header(R"({"access_token":{"acrs":{"essential":true,"value":"c9"}}})");
    for (int i = 0; i < 3; ++i)
      emu.push_fault("/secrets/", azid_emulator::Fault::respond_with(
                                      401, "{}", {{"WWW-Authenticate", challenge}}));
    BearerTokenAuthorizer auth(cred, {vault_scope});
    std::error_code ec;
    HttpResponse res = send_with_bearer(platform.transport(), secret_request(), auth, ec);
    REQUIRE_FALSE(ec);
    CHECK(res.status == 401);
    CHECK(resource_requests() == 2);
    CHECK(token_requests() == 2);
    CHECK(emu.pending_faults() == 1);
  }

  TEST_CASE_FIXTURE(BearerFixture, "a 401 without a claims challenge is not retried") {
    SUBCASE("the resource's own challenge for a token it does not accept") {
      // A token for another audience: the resource answers 401 with its discovery challenge.
      BearerTokenAuthorizer auth(cred, {"https://storage.azure.com/.default"});
      std::error_code ec;
      HttpResponse res = send_with_bearer(platform.transport(), secret_request(), auth, ec);
      REQUIRE_FALSE(ec);
      CHECK(res.status == 401);
      CHECK(res.headers.get("WWW-Authenticate").find("resource=") != std::string::npos);
    }
    SUBCASE("a malformed claims challenge") {
      emu.push_fault(
          "/secrets/",
          azid_emulator::Fault::respond_with(
              401, "{}",
              {{"WWW-Authenticate", R"(Bearer error="insufficient_claims", claims="eyJ)"}}));
      BearerTokenAuthorizer auth(cred, {vault_scope});
      std::error_code ec;
      HttpResponse res = send_with_bearer(platform.transport(), secret_request(), auth, ec);
      REQUIRE_FALSE(ec);
      CHECK(res.status == 401);
    }
    CHECK(resource_requests() == 1);
    CHECK(token_requests() == 1);
  }

  TEST_CASE_FIXTURE(BearerFixture, "any HTTP client can use the header-setter form") {
    emu.require_resource_claims("c2");
    BearerTokenAuthorizer auth(cred, {vault_scope});
    // Stands in for a user's client: its own header map, its own send.
    std::map<std::string, std::string> headers;
    auto set = [&](std::string_view n, std::string_view v) {
      headers[std::string(n)] = std::string(v);
    };
    auto send = [&] {
      HttpRequest r = secret_request();
      for (const auto& [n, v] : headers) r.headers.set(n, v);
      std::error_code ec;
      HttpResponse res = platform.transport().send(r, ec);
      REQUIRE_FALSE(ec);
      return res;
    };
    const std::string url = secret_request().url;
    auth.authorize(url, set);
    const std::string first = headers["Authorization"];
    HttpResponse res = send();
    REQUIRE(res.status == 401);
    REQUIRE(auth.on_challenge(url, res.status, res.headers.get("WWW-Authenticate"), set));
    CHECK(headers["Authorization"] != first);
    CHECK(send().status == 200);
  }

  TEST_CASE_FIXTURE(BearerFixture, "a credential failure while answering a challenge is thrown") {
    emu.push_fault(
        "/secrets/",
        azid_emulator::Fault::respond_with(
            401, "{}", {{"WWW-Authenticate", claims_challenge_header(R"({"access_token":{}})")}}));
    BearerTokenAuthorizer auth(cred, {vault_scope});
    HttpRequest req = secret_request();
    auth.authorize(req);  // token 1, fine
    // The app's secret is rotated away before the claims request reaches the STS.
    emu.register_app({emu_tenant, emu_client, "another-secret", false, {}});
    std::error_code ec;
    HttpResponse res = platform.transport().send(req, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(res.status == 401);
    try {
      (void)auth.on_challenge(req, res);
      FAIL("expected ClientAuthenticationError");
    } catch (const ClientAuthenticationError& e) {
      CHECK(std::string(e.what()).find("7000215") != std::string::npos);
      CHECK(std::string(e.what()).find(secret) == std::string::npos);
    }
  }

  TEST_CASE_FIXTURE(BearerFixture, "no token is put on a plain-http request") {
    BearerTokenAuthorizer auth(cred, {vault_scope});
    HttpRequest req;
    req.url = "http://127.0.0.1:9/secrets/x?sig=abc";
    try {
      auth.authorize(req);
      FAIL("expected std::invalid_argument");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("https://") != std::string::npos);
      CHECK(std::string(e.what()).find("sig=abc") == std::string::npos);
    }
    CHECK_FALSE(req.headers.contains("Authorization"));
    CHECK(token_requests() == 0);
    CHECK_THROWS_AS(BearerTokenAuthorizer(cred, std::vector<std::string>{}), std::invalid_argument);
  }
}
