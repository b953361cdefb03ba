// ClientSecretCredential on testing::Platform: request shape, validation, tenants, retries, errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <set>
#include <string>
#include <vector>

#include "azid/credentials/client_secret.hpp"
#include "azid/testing/platform.hpp"

using namespace azid;
using namespace std::chrono;

namespace {
constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* client = "11111111-2222-3333-4444-555555555555";
constexpr const char* secret = "s3cr3t~value+with/specials=";
const std::string ok_body =
    R"({"token_type":"Bearer","expires_in":3599,"access_token":"header.payload.sig"})";

TokenRequestContext vault() {
  TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}
using Cred = ClientSecretCredential<testing::Platform>;
static_assert(Credential<Cred>);
}  // namespace

TEST_SUITE("client_secret") {
  TEST_CASE("every STS code the guide lists gets the guide's phrase and what to do") {
    // The STS's own description here says nothing useful, so both halves must come from azid.
    struct Row {
      long long code;
      const char* phrase;
      const char* advice;
    };
    const Row rows[] = {
        {7000215, "An invalid client secret was provided.", "secret's value (not its ID)"},
        {7000222, "An expired client secret was provided.", "Create a new client secret"},
        {700016, "The specified application wasn't found in the specified tenant.",
         "added to the tenant you authenticate in"},
        {900023,
         "Specified tenant identifier is neither a valid DNS name, nor a valid external "
         "domain.",
         "directory (tenant) ID or a verified domain"},
        {700027, "Client assertion contains an invalid signature.",
         "uploaded to the app registration"},
        {700021, "Client assertion application identifier doesn't match 'client_id' parameter.",
         "'iss' and 'sub' claims must both equal the client ID"},
        {700023, "Client assertion audience claim does not match Realm issuer.",
         "'aud' claim must be the token endpoint"},
        {50027, "JWT token is invalid or malformed.", "not a well-formed JWT"},
        {700024, "Client assertion is not within its valid time range.", "check the clock"},
        {70021, "No matching federated identity record found for presented assertion.",
         "api://AzureADTokenExchange"},
    };
    for (const Row& row : rows) {
      CAPTURE(row.code);
      testing::Platform p;
      p.transport().push(400, R"({"error":"invalid_client","error_description":"AADSTS)" +
                                  std::to_string(row.code) + R"(: x","error_codes":[)" +
                                  std::to_string(row.code) + "]}");
      Cred cred(tenant, client, secret, {}, p);
      const TokenResult r = cred.try_get_token(vault());
      REQUIRE_FALSE(r.ok());
      const std::string& m = r.error_info().message;
      CHECK(m.find(row.phrase) != std::string::npos);
      CHECK(m.find(std::string("To fix: ")) != std::string::npos);
      CHECK(m.find(row.advice) != std::string::npos);
    }
  }

  TEST_CASE(
      "interaction_required, login_required and consent_required are AuthenticationRequired") {
    // errors-and-logging.md §2: a refusal that needs a user or an administrator is not a plain
    // authentication failure; a caller may prompt, and the chain stops with it.
    for (const char* error : {"interaction_required", "login_required", "consent_required"}) {
      CAPTURE(error);
      testing::Platform p;
      p.transport().push(
          400,
          std::string(R"({"error":")") + error +
              R"(","error_description":"AADSTS50076: Due to a configuration change made by your administrator, you must use multi-factor authentication.","error_codes":[50076]})");
      Cred cred(tenant, client, secret, {}, p);
      const TokenResult r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::auth_required);
      CHECK_THROWS_AS((void)r.value(), AuthenticationRequiredError);
      // errors-and-logging.md §2: the error carries the request's scopes and the STS's claims.
      CHECK(r.error_info().scopes == std::vector<std::string>{"https://vault.azure.net/.default"});
      CHECK(r.error_info().claims.empty());  // this answer carried no challenge
    }
    SUBCASE("the claims challenge an STS sends with interaction_required reaches the caller") {
      testing::Platform p;
      p.transport().push(
          400,
          R"({"error":"interaction_required","error_description":"AADSTS50079: x","error_codes":[50079],"claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"c1\"]}}}"})");
      Cred cred(tenant, client, secret, {}, p);
      const TokenResult r = cred.try_get_token(vault());
      CAPTURE(r.error_info().message);
      REQUIRE(r.failure() == Failure::auth_required);
      const std::string expected =
          R"({"access_token":{"capolids":{"essential":true,"values":["c1"]}}})";
      CHECK(r.error_info().claims == expected);
      try {
        (void)r.value();
        FAIL("no exception");
      } catch (const AuthenticationRequiredError& e) {
        CHECK(e.claims() == expected);
        CHECK(e.scopes() == std::vector<std::string>{"https://vault.azure.net/.default"});
      }
    }
    testing::Platform p;  // the control: another error is a plain failure
    p.transport().push(
        400,
        R"({"error":"invalid_grant","error_description":"AADSTS50076: x","error_codes":[50076]})");
    Cred cred(tenant, client, secret, {}, p);
    CHECK(cred.try_get_token(vault()).failure() == Failure::failed);
  }

  TEST_CASE("the token request is a client-credentials POST to the v2 endpoint") {
    testing::Platform p;
    p.transport().push(200, ok_body);
    Cred cred(tenant, client, secret, {}, p);
    auto tok = cred.get_token(vault());
    CHECK(tok.token == "header.payload.sig");
    CHECK(tok.expires_on_unix() == 1'700'000'000 + 3599);
    auto reqs = p.transport().requests();
    REQUIRE(reqs.size() == 1);
    const auto& r = reqs[0];
    CHECK(r.method == "POST");
    CHECK(r.url ==
          std::string("https://login.microsoftonline.com/") + tenant + "/oauth2/v2.0/token");
    CHECK(r.headers.get("Content-Type") == "application/x-www-form-urlencoded");
    CHECK(r.headers.get("x-client-sku") == "azid.cpp");
    CHECK(r.headers.get("client-request-id").size() == 36);
    // The rest of spec R4's headers: the library and platform, and what the client can handle.
    CHECK(r.headers.get("x-ms-lib-capability") == "retry-after, h429");
    CHECK(r.headers.get("return-client-request-id") == "true");
    CHECK(r.headers.get("x-client-ver") == AZID_VERSION_STRING);
    CHECK(r.headers.get("x-client-os") == "linux");
    CHECK(r.headers.get("User-Agent").rfind("azid/" AZID_VERSION_STRING, 0) == 0);
    CHECK(r.body.find("grant_type=client_credentials") != std::string::npos);
    CHECK(r.body.find(std::string("client_id=") + client) != std::string::npos);
    CHECK(r.body.find("scope=https%3A%2F%2Fvault.azure.net%2F.default") != std::string::npos);
    CHECK(r.body.find("client_secret=s3cr3t~value%2Bwith%2Fspecials%3D") != std::string::npos);
    CHECK(r.body.find("claims=") == std::string::npos);
  }

  TEST_CASE("AD FS (tenant 'adfs'): the v1 endpoint, and one scope sent as its resource") {
    testing::Platform p;
    p.transport().push(200, ok_body);
    p.transport().push(200, ok_body);
    ClientSecretCredentialOptions o;
    o.authority_host = "https://adfs.contoso.test";  // scripted transport: nothing is sent
    Cred cred("ADFS", client, secret, o, p);
    TokenRequestContext arm;
    arm.scopes = {"https://management.adfs.contoso.test/.default"};
    CHECK(cred.try_get_token(arm).ok());
    TokenRequestContext two;
    two.scopes = {"https://a.test/.default", "https://b.test/x"};
    CHECK(cred.try_get_token(two).ok());
    auto reqs = p.transport().requests();
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[0].url == "https://adfs.contoso.test/ADFS/oauth2/token");
    CHECK(reqs[0].body.find("scope=https%3A%2F%2Fmanagement.adfs.contoso.test&") !=
          std::string::npos);
    CHECK(reqs[0].body.find(".default") == std::string::npos);
    // Several scopes are not one resource: sent as they are, space-joined.
    CHECK(reqs[1].body.find("scope=https%3A%2F%2Fa.test%2F.default%20https%3A%2F%2Fb.test%2Fx") !=
          std::string::npos);
    // Any other tenant keeps the v2 endpoint, even one whose name contains "adfs".
    p.transport().push(200, ok_body);
    Cred other("adfs-like.example.com", client, secret, o, p);
    CHECK(other.try_get_token(arm).ok());
    CHECK(p.transport().requests().back().url ==
          "https://adfs.contoso.test/adfs-like.example.com/oauth2/v2.0/token");
  }

  TEST_CASE("a second call is served from the cache") {
    testing::Platform p;
    p.transport().push(200, ok_body);
    Cred cred(tenant, client, secret, {}, p);
    (void)cred.get_token(vault());
    (void)cred.get_token(vault());
    CHECK(p.transport().request_count() == 1);
  }

  TEST_CASE("CAE adds the cp1 capability to the claims field") {
    testing::Platform p;
    p.transport().push(200, ok_body);
    Cred cred(tenant, client, secret, {}, p);
    auto ctx = vault();
    ctx.enable_cae = true;
    (void)cred.get_token(ctx);
    CHECK(p.transport().requests()[0].body.find("claims=%7B%22access_token%22%3A%7B%22xms_cc%22") !=
          std::string::npos);
  }

  TEST_CASE("authority: option, then AZURE_AUTHORITY_HOST, then public cloud; https only") {
    SUBCASE("environment") {
      testing::Platform p;
      p.environment().set("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/");
      Cred cred(tenant, client, secret, {}, p);
      CHECK(cred.authority() == "https://login.microsoftonline.us");
    }
    SUBCASE("option wins and a bare host gets https") {
      testing::Platform p;
      p.environment().set("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us");
      ClientSecretCredentialOptions o;
      o.authority_host = "login.chinacloudapi.cn";
      Cred cred(tenant, client, secret, o, p);
      CHECK(cred.authority() == "https://login.chinacloudapi.cn");
    }
    SUBCASE("http is refused") {
      testing::Platform p;
      ClientSecretCredentialOptions o;
      o.authority_host = "http://login.microsoftonline.com";
      CHECK_THROWS_WITH_AS(Cred(tenant, client, secret, o, p),
                           doctest::Contains("TLS protected (https)"), std::invalid_argument);
    }
    SUBCASE("a value that is no URL is refused at construction, not at the first request") {
      for (const char* bad : {"https:/login.microsoftonline.com", "https://login.example:abc",
                              "https://[::1", "https://login.example:99999"}) {
        CAPTURE(bad);
        testing::Platform p;
        ClientSecretCredentialOptions o;
        o.authority_host = bad;
        CHECK_THROWS_WITH_AS(Cred(tenant, client, secret, o, p),
                             doctest::Contains("is an invalid authority"), std::invalid_argument);
      }
    }
    SUBCASE("a refused authority is quoted without user information, query or control bytes") {
      for (const char* bad :
           {"https:/user:s3cretPW@host", "//user:s3cretPW@host", "https://user:s3cretPW/slash@host",
            "https://admin:s3cretPW#x@host", "https://admin:s3cretPW?x@host",
            "user:s3cretPW@host://x", "https://user:s3cretPW@login.example:abc/x?sig=SECRETSIG",
            "ftp://u:s3cretPW@h/?sig=SECRETSIG", "https://login.example/?sig=SECRETSIG",
            "https://evil\nWARNING forged"}) {
        CAPTURE(bad);
        testing::Platform p;
        ClientSecretCredentialOptions o;
        o.authority_host = bad;
        try {
          Cred c(tenant, client, secret, o, p);
          FAIL("expected std::invalid_argument");
        } catch (const std::invalid_argument& e) {
          const std::string m = e.what();
          CHECK(m.find("is an invalid authority") != std::string::npos);
          CHECK(m.find("s3cretPW") == std::string::npos);
          CHECK(m.find("SECRETSIG") == std::string::npos);
          CHECK(m.find('\n') == std::string::npos);
        }
      }
    }
  }

  TEST_CASE("an STS's error_description is quoted on one line, printable and at most 4 KiB") {
    testing::Platform p;
    const std::string huge(200'000, 'x');
    p.transport().push(400, R"({"error":"invalid_client","error_description":"AADSTS7000215: )" +
                                huge + R"(","error_codes":[7000215]})");
    p.transport().push(
        400,
        R"({"error":"invalid_client","error_description":"AADSTS7000215: bad\r\nTrace ID: t\u001b[31m","error_codes":[7000215]})");
    RetryOptions no_retry;
    no_retry.max_retries = 0;
    ClientSecretCredentialOptions o;
    o.retry = no_retry;
    Cred cred(tenant, client, secret, o, p);
    const std::string m1 = cred.try_get_token(vault()).error_info().message;
    CHECK(m1.size() < 6000);
    CHECK(m1.find("xxx...") != std::string::npos);
    CHECK(m1.find("An invalid client secret was provided.") != std::string::npos);  // advice
    TokenRequestContext other = vault();
    other.scopes = {"https://storage.azure.com/.default"};
    const std::string m2 = cred.try_get_token(other).error_info().message;
    CHECK(m2.find("AADSTS7000215: bad Trace ID: t?[31m") != std::string::npos);
    CHECK(m2.find('\x1b') == std::string::npos);
    // At the cut: no half of a UTF-8 character shown as '?', and a cut at a line break is still
    // marked as one.
    const std::string prefix = "AADSTS7000215: ";
    for (const std::string& tail : {std::string(4096 - prefix.size() - 1, 'x') + "\u20ac and more",
                                    std::string(4096 - prefix.size(), 'x') + "\nmore"}) {
      testing::Platform q;
      q.transport().push(400, R"({"error":"invalid_client","error_description":")" + prefix + tail +
                                  R"(","error_codes":[7000215]})");
      Cred c(tenant, client, secret, o, q);
      const std::string m = c.try_get_token(vault()).error_info().message;
      CAPTURE(m.substr(0, 200));
      CHECK(m.find("xx...") != std::string::npos);
      CHECK(m.find("x?") == std::string::npos);
    }
  }

  TEST_CASE("arguments are validated before any request") {
    testing::Platform p;
    CHECK_THROWS_WITH_AS(Cred("bad tenant/../x", client, secret, {}, p),
                         doctest::Contains("Invalid tenant ID"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(Cred("", client, secret, {}, p),
                         "ClientSecretCredential: 'tenant_id' is required and must not be empty",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(Cred(tenant, "", secret, {}, p), doctest::Contains("'client_id'"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(Cred(tenant, client, "", {}, p), doctest::Contains("'client_secret'"),
                         std::invalid_argument);
    Cred cred(tenant, client, secret, {}, p);
    CHECK_THROWS_WITH_AS((void)cred.get_token(TokenRequestContext{}),
                         doctest::Contains("requires at least one scope"), std::invalid_argument);
    auto ctx = vault();
    ctx.tenant_id = "evil/../../tenant";
    CHECK_THROWS_AS((void)cred.get_token(ctx), std::invalid_argument);
    // Dots alone pass the character rule but name no tenant: each would be a path segment
    // that walks the authority's path (`/../oauth2/v2.0/token`).
    for (const char* bad : {".", "..", "a..b", ".contoso.com", "contoso.com."}) {
      CAPTURE(bad);
      CHECK_THROWS_WITH_AS(Cred(bad, client, secret, {}, p), doctest::Contains("Invalid tenant ID"),
                           std::invalid_argument);
      ctx.tenant_id = bad;
      CHECK(cred.try_get_token(ctx).failure() == Failure::invalid_argument);
    }
    CHECK(p.transport().request_count() == 0);
  }

  TEST_CASE("multi-tenant: another tenant needs additionally_allowed_tenants") {
    testing::Platform p;
    auto ctx = vault();
    ctx.tenant_id = "contoso.onmicrosoft.com";
    SUBCASE("refused with the guide's message") {
      Cred cred(tenant, client, secret, {}, p);
      auto r = cred.try_get_token(ctx);
      CHECK(r.failure() == Failure::failed);
      CHECK(r.error_info().message.find("The current credential is not configured to acquire "
                                        "tokens for tenant contoso.onmicrosoft.com") !=
            std::string::npos);
      CHECK(p.transport().request_count() == 0);
    }
    SUBCASE("allowed by name") {
      p.transport().push(200, ok_body);
      ClientSecretCredentialOptions o;
      o.additionally_allowed_tenants = {"contoso.onmicrosoft.com"};
      Cred cred(tenant, client, secret, o, p);
      CHECK(cred.try_get_token(ctx).ok());
      CHECK(p.transport().requests()[0].url.find("/contoso.onmicrosoft.com/oauth2") !=
            std::string::npos);
    }
    SUBCASE("allowed by *, and the decision logged at INFO") {
      std::vector<std::string> info;
      p.logger().set_level(LogLevel::info);
      p.logger().set_sink([&](LogLevel l, std::string_view m) {
        if (l == LogLevel::info) info.emplace_back(m);
      });
      p.transport().push(200, ok_body);
      ClientSecretCredentialOptions o;
      o.additionally_allowed_tenants = {"*"};
      Cred cred(tenant, client, secret, o, p);
      CHECK(cred.try_get_token(ctx).ok());
      CHECK(std::count(info.begin(), info.end(),
                       "ClientSecretCredential: getting a token for tenant contoso.onmicrosoft.com "
                       "(not the configured one), which additionally_allowed_tenants allows "
                       "(\"*\")") == 1);
    }
    SUBCASE("AZURE_IDENTITY_DISABLE_MULTITENANTAUTH keeps the configured tenant, and says so") {
      std::vector<std::string> info;
      p.logger().set_level(LogLevel::info);
      p.logger().set_sink([&](LogLevel l, std::string_view m) {
        if (l == LogLevel::info) info.emplace_back(m);
      });
      p.transport().push(200, ok_body);
      p.environment().set("AZURE_IDENTITY_DISABLE_MULTITENANTAUTH", "true");
      Cred cred(tenant, client, secret, {}, p);
      CHECK(cred.try_get_token(ctx).ok());
      CHECK(p.transport().requests()[0].url.find(tenant) != std::string::npos);
      CHECK(std::count(info.begin(), info.end(),
                       std::string("ClientSecretCredential: a token was requested for tenant "
                                   "contoso.onmicrosoft.com; the configured tenant ") +
                           tenant +
                           " is used instead, because AZURE_IDENTITY_DISABLE_MULTITENANTAUTH is "
                           "set") == 1);
    }
  }

  TEST_CASE("429 and 5xx are retried with backoff, honouring Retry-After") {
    testing::Platform p;
    p.transport().push(429, "{}", {{"Retry-After", "7"}});
    p.transport().push(503, "");
    p.transport().push(200, ok_body);
    ClientSecretCredentialOptions exact;
    exact.retry.jitter = 0;
    Cred cred(tenant, client, secret, exact, p);
    CHECK(cred.try_get_token(vault()).ok());
    CHECK(p.transport().request_count() == 3);
    auto sleeps = p.clock().sleeps();
    REQUIRE(sleeps.size() == 2);
    CHECK(sleeps[0] == seconds(7));
    CHECK(sleeps[1] == milliseconds(1600));
  }

  TEST_CASE("computed waits are jittered by default; a server's Retry-After is not") {
    testing::Platform p;
    constexpr int retries = 40;
    p.transport().push(429, "{}", {{"Retry-After", "7"}});
    for (int i = 1; i < retries; ++i) p.transport().push(503, "");
    p.transport().push(200, ok_body);
    ClientSecretCredentialOptions o;
    o.retry.max_retries = retries;
    o.retry.base_delay = milliseconds(1000);
    Cred cred(tenant, client, secret, o, p);
    CHECK(cred.try_get_token(vault()).ok());
    const auto sleeps = p.clock().sleeps();
    REQUIRE(sleeps.size() == retries);
    CHECK(sleeps[0] == seconds(7));
    std::set<long long> distinct;
    for (std::size_t i = 1; i < sleeps.size(); ++i) {
      // Wait i (attempt i; wait 0 was the server's) is 1 s doubled i times (at most 120 s), times [0.8, 1.2], at most 120 s.
      const double nominal = std::min(1000.0 * std::pow(2.0, static_cast<double>(i)), 120000.0);
      CHECK(static_cast<double>(sleeps[i].count()) >= 0.8 * nominal - 1);
      CHECK(static_cast<double>(sleeps[i].count()) <= std::min(1.2 * nominal + 1, 120000.0));
      if (nominal == 120000.0) distinct.insert(sleeps[i].count());
    }
    CHECK(distinct.size() > 5);  // 32 draws at the cap: not one value over and over
    // The factor itself: within [1 - j, 1 + j]; 0 and negative jitter mean exact waits.
    for (int i = 0; i < 1000; ++i) {
      const double f = detail::retry_jitter_factor(0.2);
      CHECK((f >= 0.8 && f <= 1.2));
    }
    CHECK(detail::retry_jitter_factor(0) == 1.0);
    CHECK(detail::retry_jitter_factor(-3) == 1.0);
    const double wild = detail::retry_jitter_factor(7);  // clamped to 1: [0, 2]
    CHECK((wild >= 0 && wild <= 2));
    CHECK(detail::retry_delay(RetryOptions{}, 1, milliseconds(-1), 1.1) == milliseconds(1760));
    CHECK(detail::retry_delay(RetryOptions{}, 1, seconds(3), 1.1) == seconds(3));
    CHECK(detail::retry_delay(RetryOptions{}, 9, milliseconds(-1), 1.2) == seconds(120));
  }

  TEST_CASE("a long Retry-After is honoured up to azure-core's 120 s cap") {
    testing::Platform p;
    p.transport().push(503, "", {{"Retry-After", "100"}});
    p.transport().push(429, "", {{"Retry-After", "3600"}});
    p.transport().push(200, ok_body);
    Cred cred(tenant, client, secret, {}, p);
    CHECK(cred.try_get_token(vault()).ok());
    CHECK(p.clock().sleeps() == std::vector<milliseconds>{seconds(100), seconds(120)});
  }

  TEST_CASE("a large max_retries keeps every wait between 0 and max_delay (no overflow)") {
    testing::Platform p;
    constexpr int retries = 70;  // past the 63 doublings a 64-bit count holds
    for (int i = 0; i < retries; ++i) p.transport().push(503, "");
    p.transport().push(200, ok_body);
    ClientSecretCredentialOptions o;
    o.retry.max_retries = retries;
    o.retry.jitter = 0;
    Cred cred(tenant, client, secret, o, p);
    CHECK(cred.try_get_token(vault()).ok());
    const auto sleeps = p.clock().sleeps();
    REQUIRE(sleeps.size() == retries);
    CHECK(sleeps[0] == milliseconds(800));
    CHECK(sleeps[7] == milliseconds(102'400));
    for (std::size_t i = 8; i < sleeps.size(); ++i) CHECK(sleeps[i] == seconds(120));
    // The same rule directly, with options that would overflow a plain shift and multiply.
    RetryOptions huge;
    huge.base_delay = std::chrono::hours(24 * 365 * 100);
    huge.max_delay = std::chrono::milliseconds::max();
    CHECK(detail::retry_delay(huge, 80, milliseconds(-1)) == std::chrono::milliseconds::max());
    RetryOptions negative;
    negative.base_delay = milliseconds(-5);
    CHECK(detail::retry_delay(negative, 3, milliseconds(-1)) == milliseconds(0));
    CHECK(detail::retry_delay(RetryOptions{}, 2, seconds(500)) == seconds(120));
  }

  TEST_CASE("retries stop after max_retries and the last status is reported") {
    testing::Platform p;
    for (int i = 0; i < 4; ++i)
      p.transport().push(
          500,
          R"({"error":"server_error","error_description":"AADSTS90033: busy","error_codes":[90033]})");
    Cred cred(tenant, client, secret, {}, p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(p.transport().request_count() == 4);
    CHECK(r.error_info().http_status == 500);
  }

  TEST_CASE("STS errors name the credential, the code, and the guide's advice") {
    testing::Platform p;
    p.transport().push(
        401,
        R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Trace ID: 0a Correlation ID: 0b Timestamp: 2024-01-01 00:00:00Z","error_codes":[7000215],"timestamp":"2024-01-01 00:00:00Z","trace_id":"0a","correlation_id":"0b"})");
    Cred cred(tenant, client, secret, {}, p);
    try {
      (void)cred.get_token(vault());
      FAIL("expected an exception");
    } catch (const CredentialUnavailableError&) {
      FAIL("an STS refusal is not 'unavailable'");
    } catch (const ClientAuthenticationError& e) {
      const std::string m = e.what();
      CHECK(m.rfind("ClientSecretCredential authentication failed: invalid_client: 7000215 - "
                    "AADSTS7000215:",
                    0) == 0);
      CHECK(m.find("An invalid client secret was provided.") != std::string::npos);
      CHECK(e.credential() == "ClientSecretCredential");
      CHECK(e.http_status() == 401);
      REQUIRE(e.sts());
      CHECK(e.sts()->correlation_id == "0b");
      CHECK(e.sts()->trace_id == "0a");
      CHECK(m.find(secret) == std::string::npos);
    }
  }

  TEST_CASE("transport failures and garbage bodies are clear errors") {
    testing::Platform p;
    RetryOptions no_retry;
    no_retry.max_retries = 0;
    ClientSecretCredentialOptions o;
    o.retry = no_retry;
    Cred cred(tenant, client, secret, o, p);
    SUBCASE("connection refused") {
      p.transport().push_error(make_error_code(errc::connect_failed));
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::failed);
      CHECK(r.error_info().message.find("connection refused") != std::string::npos);
    }
    SUBCASE("200 with garbage") {
      p.transport().push(200, "<html>hello</html>");
      auto r = cred.try_get_token(vault());
      CHECK(r.error_info().message.find("Unexpected response from Microsoft Entra ID") !=
            std::string::npos);
    }
    SUBCASE("200 with a form-encoded token response never leaks its tokens") {
      p.transport().push(200,
                         "access_token=OPAQUE_access_0123456789&token_type=bearer&refresh_token="
                         "OPAQUE_refresh_987654&id_token=OPAQUE_id_555");
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::failed);
      CHECK(r.error_info().message.find("Unexpected response from Microsoft Entra ID") !=
            std::string::npos);
      CHECK(r.error_info().message.find("OPAQUE") == std::string::npos);
    }
    SUBCASE("200 whose token has no expiry never leaks the token") {
      p.transport().push(200, R"({"access_token":"LEAKME"})");
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::failed);
      CHECK(r.error_info().message.find("LEAKME") == std::string::npos);
    }
    SUBCASE("an HTML error page") {
      p.transport().push(502, "<html>Bad Gateway</html>");
      auto r = cred.try_get_token(vault());
      CHECK(r.error_info().message.find("502") != std::string::npos);
    }
  }

  TEST_CASE("logs carry one line per exchange and never the secret or the token") {
    testing::Platform p;
    std::vector<std::string> lines;
    p.logger().set_sink([&](LogLevel, std::string_view m) { lines.emplace_back(m); });
    p.logger().set_level(LogLevel::debug);
    p.transport().push(
        401,
        R"({"error":"invalid_client","error_description":"AADSTS7000215: bad","error_codes":[7000215]})");
    p.transport().push(200, ok_body);
    Cred cred(tenant, client, secret, {}, p);
    (void)cred.try_get_token(vault());
    auto ctx = vault();
    ctx.scopes = {"https://storage.azure.com/.default"};
    (void)cred.try_get_token(ctx);
    REQUIRE(lines.size() >= 3);
    bool saw_http = false;
    for (const auto& l : lines) {
      CAPTURE(l);
      CHECK(l.find(secret) == std::string::npos);
      CHECK(l.find("header.payload.sig") == std::string::npos);
      if (l.rfind("HTTP POST https://login.microsoftonline.com/", 0) == 0) saw_http = true;
    }
    CHECK(saw_http);
  }

  TEST_CASE("the HTTP line shows the allow-listed response headers, and no other") {
    testing::Platform p;
    std::vector<std::string> lines;
    p.logger().set_sink([&](LogLevel, std::string_view m) { lines.emplace_back(m); });
    p.logger().set_level(LogLevel::info);
    p.transport().push(
        429, R"({"error":"temporarily_unavailable"})",
        {{"x-ms-request-id", "5e3c8f2a-req"},
         {"Retry-After", "0"},
         {"WWW-Authenticate", R"(Bearer authorization_uri="https://x", error="invalid_token")"},
         {"Set-Cookie", "fpc=SESSIONCOOKIE"}});
    p.transport().push(200, ok_body, {{"client-request-id", "abc-123\r\nInjected: 1"}});
    Cred cred(tenant, client, secret, {}, p);
    REQUIRE(cred.try_get_token(vault()).ok());
    std::vector<std::string> http;
    for (const auto& l : lines)
      if (l.rfind("HTTP POST ", 0) == 0) http.push_back(l);
    REQUIRE(http.size() == 2);
    CHECK(http[0].find(
              " -> 429 x-ms-request-id=5e3c8f2a-req Retry-After=0 WWW-Authenticate=Bearer (") !=
          std::string::npos);
    CHECK(http[0].find("SESSIONCOOKIE") == std::string::npos);
    CHECK(http[0].find("authorization_uri") == std::string::npos);
    CHECK(http[1].find("client-request-id=abc-123??Injected: 1") != std::string::npos);
  }
}
