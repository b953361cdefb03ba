// EnvironmentCredential on testing::Platform: which variables select which flow, what is
// reported when they are incomplete, tenants and authority from the environment.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "../emulator/test_certs.hpp"
#include "azid/credentials/environment.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/testing/platform.hpp"
#include "form_fields.hpp"

using namespace azid;

namespace {
constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* client = "11111111-2222-3333-4444-555555555555";
const std::string ok_body =
    R"({"token_type":"Bearer","expires_in":3599,"access_token":"header.payload.sig"})";

TokenRequestContext scope() {
  TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}
using Cred = EnvironmentCredential<testing::Platform>;
static_assert(Credential<Cred>);

testing::Platform with_secret() {
  testing::Platform p;
  p.environment().set("AZURE_TENANT_ID", tenant);
  p.environment().set("AZURE_CLIENT_ID", client);
  p.environment().set("AZURE_CLIENT_SECRET", "env-s3cret");
  return p;
}
// A platform that owns its environment by value (the Platform concept allows it): moving it
// into the credential leaves nothing behind to read.
struct OwnEnvPlatform {
  testing::Platform base;
  testing::MapEnvironment env;
  [[nodiscard]] auto& transport() const noexcept { return base.transport(); }
  [[nodiscard]] auto& clock() const noexcept { return base.clock(); }
  [[nodiscard]] auto& files() const noexcept { return base.files(); }
  [[nodiscard]] auto& logger() const noexcept { return base.logger(); }
  [[nodiscard]] const testing::MapEnvironment& environment() const noexcept { return env; }
};
static_assert(Platform<OwnEnvPlatform>);
}  // namespace

TEST_SUITE("environment") {
  TEST_CASE("tenant, client and secret select a client secret") {
    auto p = with_secret();
    p.environment().set("AZURE_CLIENT_CERTIFICATE_PATH", "/ignored.pem");  // the secret wins
    p.transport().push(200, ok_body);
    Cred cred({}, p);
    CHECK(cred.mode() == Cred::Mode::client_secret);
    CHECK(cred.get_token(scope()).token == "header.payload.sig");
    const auto r = p.transport().requests().at(0);
    CHECK(azid_test::form_value(r.body, "client_secret") == "env-s3cret");
    CHECK(r.url ==
          std::string("https://login.microsoftonline.com/") + tenant + "/oauth2/v2.0/token");
  }

  TEST_CASE("tenant, client and certificate path select a certificate, with password and chain") {
    const auto& c = azid_test::registered_cert();
    testing::Platform p;
    p.environment().set("AZURE_TENANT_ID", tenant);
    p.environment().set("AZURE_CLIENT_ID", client);
    p.environment().set("AZURE_CLIENT_CERTIFICATE_PATH", "/certs/app.pfx");
    p.environment().set("AZURE_CLIENT_CERTIFICATE_PASSWORD", c.password);
    p.files().set("/certs/app.pfx", c.pkcs12);
    SUBCASE("no chain") {
      p.transport().push(200, ok_body);
      Cred cred({}, p);
      CHECK(cred.mode() == Cred::Mode::certificate);
      CHECK(cred.try_get_token(scope()).ok());
      const std::string jwt =
          *azid_test::form_value(p.transport().requests().at(0).body, "client_assertion");
      CHECK(azid_test::jwt_header(jwt).find("x5c") == std::string::npos);
    }
    SUBCASE("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN=true") {
      p.environment().set("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "TRUE");
      p.transport().push(200, ok_body);
      Cred cred({}, p);
      CHECK(cred.try_get_token(scope()).ok());
      const std::string jwt =
          *azid_test::form_value(p.transport().requests().at(0).body, "client_assertion");
      CHECK(azid_test::jwt_header(jwt).find("\"x5c\":[") != std::string::npos);
    }
    SUBCASE("a wrong password is reported by EnvironmentCredential, without the password") {
      p.environment().set("AZURE_CLIENT_CERTIFICATE_PASSWORD", "Wr0ng-pa55");
      Cred cred({}, p);
      auto r = cred.try_get_token(scope());
      REQUIRE(r.failure() == Failure::failed);
      CHECK(r.error_info().message.rfind(
                "EnvironmentCredential: the certificate file '/certs/app.pfx'", 0) == 0);
      CHECK(r.error_info().message.find("Wr0ng-pa55") == std::string::npos);
    }
  }

  TEST_CASE("an authority_host option that is no URL is refused at construction") {
    EnvironmentCredentialOptions o;
    o.authority_host = "https://login.example:abc";
    CHECK_THROWS_WITH_AS(Cred(o, with_secret()), doctest::Contains("is an invalid authority"),
                         std::invalid_argument);
  }

  TEST_CASE(
      "the certificate's password and chain flag survive a platform that owns its environment") {
    const auto& c = azid_test::registered_cert();
    OwnEnvPlatform p;
    p.env.set("AZURE_TENANT_ID", tenant);
    p.env.set("AZURE_CLIENT_ID", client);
    p.env.set("AZURE_CLIENT_CERTIFICATE_PATH", "/certs/app.pfx");
    p.env.set("AZURE_CLIENT_CERTIFICATE_PASSWORD", c.password);
    p.env.set("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true");
    p.base.files().set("/certs/app.pfx", c.pkcs12);
    p.base.transport().push(200, ok_body);
    EnvironmentCredential<OwnEnvPlatform> cred({}, p);
    auto r = cred.try_get_token(scope());
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error_info().message));
    const std::string jwt =
        *azid_test::form_value(p.base.transport().requests().at(0).body, "client_assertion");
    CHECK(azid_test::jwt_header(jwt).find("\"x5c\":[") != std::string::npos);
  }

  TEST_CASE("incomplete variables: unavailable, in the guide's words, naming what is missing") {
    testing::Platform p;
    std::string missing;
    SUBCASE("nothing set") {
      missing =
          "Missing: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or "
          "AZURE_CLIENT_CERTIFICATE_PATH.";
    }
    SUBCASE("secret without tenant") {
      p.environment().set("AZURE_CLIENT_ID", client);
      p.environment().set("AZURE_CLIENT_SECRET", "x");
      missing = "Missing: AZURE_TENANT_ID.";
    }
    SUBCASE("tenant and client only; set-but-empty counts as unset") {
      p.environment().set("AZURE_TENANT_ID", tenant);
      p.environment().set("AZURE_CLIENT_ID", client);
      p.environment().set("AZURE_CLIENT_SECRET", "");
      missing = "Missing: AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH.";
    }
    SUBCASE("username and password are not a configuration") {
      p.environment().set("AZURE_TENANT_ID", tenant);
      p.environment().set("AZURE_CLIENT_ID", client);
      p.environment().set("AZURE_USERNAME", "user@contoso.com");
      p.environment().set("AZURE_PASSWORD", "pw");
      missing = "AZURE_USERNAME and AZURE_PASSWORD (username/password) are not supported.";
    }
    Cred cred({}, p);
    CHECK(cred.mode() == Cred::Mode::none);
    auto r = cred.try_get_token(scope());
    REQUIRE(r.failure() == Failure::unavailable);
    const std::string& m = r.error_info().message;
    CAPTURE(m);
    CHECK(m.rfind("EnvironmentCredential authentication unavailable. Environment variables are not "
                  "fully configured.",
                  0) == 0);
    CHECK(m.find("Environment variables aren't fully configured.") != std::string::npos);
    CHECK(m.find(missing) != std::string::npos);
    CHECK(m.find("pw") == std::string::npos);
    CHECK_THROWS_AS((void)cred.get_token(scope()), CredentialUnavailableError);
    CHECK(p.transport().request_count() == 0);
  }

  TEST_CASE("a malformed AZURE_TENANT_ID does not throw at construction; get_token reports it") {
    auto p = with_secret();
    p.environment().set("AZURE_TENANT_ID", "not a tenant/..");
    Cred cred({}, p);
    CHECK_THROWS_WITH_AS((void)cred.get_token(scope()), doctest::Contains("Invalid tenant ID"),
                         std::invalid_argument);
    // The variable is named, not just the rule: the request itself may be fine.
    CHECK_THROWS_WITH_AS(
        (void)cred.get_token(scope()),
        doctest::Contains("EnvironmentCredential: AZURE_TENANT_ID is not a valid tenant ID."),
        std::invalid_argument);
  }

  TEST_CASE("AZURE_AUTHORITY_HOST picks the cloud; the option overrides it") {
    auto p = with_secret();
    p.environment().set("AZURE_AUTHORITY_HOST", std::string(AuthorityHosts::azure_china));
    p.transport().push(200, ok_body);
    p.transport().push(200, ok_body);
    (void)Cred({}, p).get_token(scope());
    CHECK(p.transport().requests().at(0).url.rfind("https://login.chinacloudapi.cn/", 0) == 0);
    EnvironmentCredentialOptions o;
    o.authority_host = std::string(AuthorityHosts::azure_government);
    (void)Cred(o, p).get_token(scope());
    CHECK(p.transport().requests().at(1).url.rfind("https://login.microsoftonline.us/", 0) == 0);
  }

  TEST_CASE("AZURE_ADDITIONALLY_ALLOWED_TENANTS allows tenants unless the option lists some") {
    auto ctx = scope();
    ctx.tenant_id = "contoso.onmicrosoft.com";
    SUBCASE("not set: refused") {
      auto p = with_secret();
      auto r = Cred({}, p).try_get_token(ctx);
      REQUIRE(r.failure() == Failure::failed);
      CHECK(r.error_info().message.find(
                "not configured to acquire tokens for tenant contoso.onmicrosoft.com") !=
            std::string::npos);
    }
    SUBCASE("listed") {
      auto p = with_secret();
      p.environment().set("AZURE_ADDITIONALLY_ALLOWED_TENANTS",
                          "fabrikam.com; contoso.onmicrosoft.com;");
      p.transport().push(200, ok_body);
      CHECK(Cred({}, p).try_get_token(ctx).ok());
    }
    SUBCASE("*") {
      auto p = with_secret();
      p.environment().set("AZURE_ADDITIONALLY_ALLOWED_TENANTS", "*");
      p.transport().push(200, ok_body);
      CHECK(Cred({}, p).try_get_token(ctx).ok());
    }
    SUBCASE("the option wins over the variable") {
      auto p = with_secret();
      p.environment().set("AZURE_ADDITIONALLY_ALLOWED_TENANTS", "*");
      EnvironmentCredentialOptions o;
      o.additionally_allowed_tenants = {"fabrikam.com"};
      CHECK(Cred(o, p).try_get_token(ctx).failure() == Failure::failed);
    }
  }

  TEST_CASE("STS errors name EnvironmentCredential") {
    auto p = with_secret();
    p.transport().push(
        401,
        R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]})");
    auto r = Cred({}, p).try_get_token(scope());
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().credential == "EnvironmentCredential");
    CHECK(r.error_info().message.rfind(
              "EnvironmentCredential authentication failed: invalid_client: 7000215", 0) == 0);
    CHECK(r.error_info().message.find("env-s3cret") == std::string::npos);
  }
}
