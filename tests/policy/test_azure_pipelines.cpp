// AzurePipelinesCredential on testing::Platform: the OIDC request, the exchange, and each row of
// the guide's table.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "azid/credentials/azure_pipelines.hpp"
#include "azid/testing/platform.hpp"
#include "form_fields.hpp"

using namespace azid;

namespace {
constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* client = "11111111-2222-3333-4444-555555555555";
constexpr const char* connection = "5f1d9a7e-0000-4000-8000-00000000c0de";
constexpr const char* system_token = "SyStEm.AcCeSs.ToKeN";
constexpr const char* oidc_uri =
    "https://dev.azure.com/org/proj/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken/";
const std::string ok_body =
    R"({"token_type":"Bearer","expires_in":3599,"access_token":"header.payload.sig"})";

TokenRequestContext scope() {
  TokenRequestContext c;
  c.scopes = {"https://management.azure.com/.default"};
  return c;
}
using Cred = AzurePipelinesCredential<testing::Platform>;
static_assert(Credential<Cred>);

testing::Platform in_pipeline() {
  testing::Platform p;
  p.environment().set("SYSTEM_OIDCREQUESTURI", oidc_uri);
  return p;
}
AzurePipelinesCredentialOptions no_retry() {
  AzurePipelinesCredentialOptions o;
  o.retry.max_retries = 0;
  return o;
}
}  // namespace

TEST_SUITE("azure_pipelines") {
  TEST_CASE("the OIDC token is requested with the system access token, then exchanged") {
    auto p = in_pipeline();
    p.transport().push(200, R"({"oidcToken":"oidc.jwt.value"})");
    p.transport().push(200, ok_body);
    Cred cred(tenant, client, connection, system_token, {}, p);
    CHECK(cred.get_token(scope()).token == "header.payload.sig");
    const auto reqs = p.transport().requests();
    REQUIRE(reqs.size() == 2);
    const auto& oidc = reqs[0];
    CHECK(oidc.method == "POST");
    CHECK(oidc.url ==
          std::string(
              "https://dev.azure.com/org/proj/_apis/distributedtask/hubs/build/plans/p/jobs/j/"
              "oidctoken?api-version=7.1&serviceConnectionId=") +
              connection);
    CHECK(oidc.headers.get("Authorization") == std::string("Bearer ") + system_token);
    CHECK(oidc.headers.get("X-TFS-FedAuthRedirect") == "Suppress");
    CHECK(oidc.headers.get("Content-Type") == "application/json");
    CHECK(oidc.body.empty());
    CHECK(reqs[1].url ==
          std::string("https://login.microsoftonline.com/") + tenant + "/oauth2/v2.0/token");
    CHECK(azid_test::form_value(reqs[1].body, "client_assertion") == "oidc.jwt.value");
    CHECK(azid_test::form_value(reqs[1].body, "client_assertion_type") ==
          "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  }

  TEST_CASE("a fragment in SYSTEM_OIDCREQUESTURI does not swallow the query") {
    testing::Platform p;
    p.environment().set("SYSTEM_OIDCREQUESTURI", "https://dev.azure.com/org/_apis/oidc#frag");
    p.transport().push(200, R"({"oidcToken":"oidc.jwt.value"})");
    p.transport().push(200, ok_body);
    Cred cred(tenant, client, connection, system_token, {}, p);
    CHECK(cred.try_get_token(scope()).ok());
    CHECK(p.transport().requests().at(0).url ==
          std::string("https://dev.azure.com/org/_apis/oidc?api-version=7.1&serviceConnectionId=") +
              connection);
  }

  TEST_CASE("outside Azure Pipelines it is unavailable") {
    testing::Platform p;
    Cred cred(tenant, client, connection, system_token, {}, p);
    auto r = cred.try_get_token(scope());
    REQUIRE(r.failure() == Failure::unavailable);
    CHECK(r.error_info().message.rfind(
              "Missing value for the SYSTEM_OIDCREQUESTURI environment variable.", 0) == 0);
    CHECK_THROWS_AS((void)cred.get_token(scope()), CredentialUnavailableError);
    CHECK(p.transport().request_count() == 0);
  }

  TEST_CASE("all four arguments are required") {
    testing::Platform p;
    CHECK_THROWS_WITH_AS(Cred(tenant, client, "", system_token, {}, p),
                         doctest::Contains("'tenant_id', 'client_id', 'service_connection_id', and "
                                           "'system_access_token' must be passed in"),
                         std::invalid_argument);
    CHECK_THROWS_AS(Cred(tenant, client, connection, "", {}, p), std::invalid_argument);
    CHECK_THROWS_AS(Cred("", client, connection, system_token, {}, p), std::invalid_argument);
    CHECK_THROWS_AS(Cred(tenant, "", connection, system_token, {}, p), std::invalid_argument);
  }

  TEST_CASE(
      "401 from the OIDC endpoint: the guide's text, the request ids, never the system token") {
    auto p = in_pipeline();
    p.transport().push(
        401,
        std::string(R"({"message":"TF400813: token )") + system_token + R"( is not authorized."})",
        {{"x-vss-e2eid", "e2e-1234"}, {"x-msedge-ref", "Ref A: 42"}});
    Cred cred(tenant, client, connection, system_token, no_retry(), p);
    auto r = cred.try_get_token(scope());
    REQUIRE(r.failure() == Failure::failed);
    const std::string& m = r.error_info().message;
    CAPTURE(m);
    CHECK(m.rfind("AzurePipelinesCredential: 401 (Unauthorized) response from OIDC endpoint.", 0) ==
          0);
    CHECK(m.find("x-vss-e2eid: e2e-1234") != std::string::npos);
    CHECK(m.find("x-msedge-ref: Ref A: 42") != std::string::npos);
    CHECK(m.find("TF400813") != std::string::npos);
    // The guide's mitigation for this row: the system access token is the one to check.
    CHECK(m.find("System.AccessToken") != std::string::npos);
    CHECK(m.find(system_token) == std::string::npos);
    CHECK(r.error_info().http_status == 401);
  }

  TEST_CASE("an unknown service connection shows Azure DevOps' message") {
    auto p = in_pipeline();
    p.transport().push(
        404, std::string(R"({"$id":"1","message":"No service connection found with identifier )") +
                 connection + R"(."})");
    auto r = Cred(tenant, client, connection, system_token, no_retry(), p).try_get_token(scope());
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().message.find(std::string("No service connection found with identifier ") +
                                      connection + ".") != std::string::npos);
    // Not the system token's fault: no advice about it.
    CHECK(r.error_info().message.find("System.AccessToken") == std::string::npos);
  }

  TEST_CASE("200 without oidcToken: OIDC token not found in response, with the response") {
    auto p = in_pipeline();
    p.transport().push(
        200,
        R"({"$id":"1","innerException":null,"message":"preview version required","typeKey":"VssInvalidPreviewVersionException","errorCode":0})");
    auto r = Cred(tenant, client, connection, system_token, no_retry(), p).try_get_token(scope());
    REQUIRE(r.failure() == Failure::failed);
    const std::string& m = r.error_info().message;
    CHECK(m.rfind("AzurePipelinesCredential: OIDC token not found in response. Response = {", 0) ==
          0);
    CHECK(m.find("preview version required") != std::string::npos);
  }

  TEST_CASE("Entra's refusal is AuthenticationRequiredError (AADSTS700016, AADSTS900023)") {
    struct Row {
      const char* body;
      const char* expect;
    };
    for (
        const Row& row :
        {Row{R"({"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier 'x' was not found in the directory 'Microsoft'.","error_codes":[700016]})",
             "unauthorized_client: 700016 - AADSTS700016: Application with identifier"},
         Row{R"({"error":"invalid_request","error_description":"AADSTS900023: Specified tenant identifier 'x' is neither a valid DNS name, nor a valid external domain.","error_codes":[900023]})",
             "invalid_request: 900023 - AADSTS900023: Specified tenant identifier"}}) {
      auto p = in_pipeline();
      p.transport().push(200, R"({"oidcToken":"oidc.jwt.value"})");
      p.transport().push(400, row.body);
      Cred cred(tenant, client, connection, system_token, no_retry(), p);
      auto r = cred.try_get_token(scope());
      REQUIRE(r.failure() == Failure::auth_required);
      CHECK(r.error_info().message.find(row.expect) != std::string::npos);
      p.transport().push(200, R"({"oidcToken":"oidc.jwt.value"})");
      p.transport().push(400, row.body);
      p.clock().advance(std::chrono::minutes(1));
      CHECK_THROWS_AS((void)cred.get_token(scope()), AuthenticationRequiredError);
    }
  }

  TEST_CASE("multi-tenant: other tenants need additionally_allowed_tenants") {
    auto p = in_pipeline();
    auto ctx = scope();
    ctx.tenant_id = "contoso.onmicrosoft.com";
    auto refused = Cred(tenant, client, connection, system_token, {}, p).try_get_token(ctx);
    REQUIRE(refused.failure() == Failure::failed);
    CHECK(refused.error_info().message.find("The current credential is not configured to acquire "
                                            "tokens for tenant contoso.onmicrosoft.com") !=
          std::string::npos);
    CHECK(p.transport().request_count() == 0);
    p.transport().push(200, R"({"oidcToken":"oidc.jwt.value"})");
    p.transport().push(200, ok_body);
    AzurePipelinesCredentialOptions o;
    o.additionally_allowed_tenants = {"*"};
    CHECK(Cred(tenant, client, connection, system_token, o, p).try_get_token(ctx).ok());
    CHECK(p.transport().requests().at(1).url.find("/contoso.onmicrosoft.com/oauth2/v2.0/token") !=
          std::string::npos);
  }

  TEST_CASE("an http SYSTEM_OIDCREQUESTURI is refused before the token leaves the process") {
    testing::Platform p;
    p.environment().set("SYSTEM_OIDCREQUESTURI", "http://dev.azure.com/org/oidctoken");
    auto r = Cred(tenant, client, connection, system_token, {}, p).try_get_token(scope());
    CHECK(r.failure() == Failure::failed);
    CHECK(p.transport().request_count() == 0);
  }
}
