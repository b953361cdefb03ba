// AzurePipelinesCredential end to end: the emulator's Azure DevOps OIDC endpoint and token
// endpoint, one test per row of the guide's table.
#include <doctest/doctest.h>

#include <string>

#include "azid/credentials/azure_pipelines.hpp"
#include "azid/detail/token_json.hpp"
#include "confidential_fixture.hpp"

using namespace azid;
using azid_test::emu_client;
using azid_test::emu_tenant;
using azid_test::vault_scope;

namespace {
using Cred = AzurePipelinesCredential<azid_test::EmuPlatform>;
const std::string connection = "5f1d9a7e-0000-4000-8000-00000000c0de";
const std::string system_token = "eyJ0eXAiOiJKV1Qi.system-access-token.sig";

struct Fixture : azid_test::ConfidentialFixture {
  Fixture() {
    emu.set_pipelines_service_connection(connection, system_token, emu_tenant, emu_client);
    platform.environment().set("SYSTEM_OIDCREQUESTURI", emu.pipelines_oidc_request_uri());
  }
  TokenResult run(const std::string& tenant = emu_tenant, const std::string& client = emu_client,
                  const std::string& conn = connection, const std::string& token = system_token) {
    return Cred(tenant, client, conn, token, options<AzurePipelinesCredentialOptions>(), platform)
        .try_get_token(vault_scope());
  }
};
}  // namespace

TEST_SUITE("azure_pipelines_emulator") {
  TEST_CASE("the service connection's OIDC token is exchanged for an access token") {
    Fixture f;
    Cred cred(emu_tenant, emu_client, connection, system_token,
              f.options<AzurePipelinesCredentialOptions>(), f.platform);
    AccessToken t = cred.get_token(vault_scope());
    std::string payload;
    REQUIRE(azid_emulator::verify_token(f.emu, t.token, payload));
    CHECK(detail::json_string_member(payload, "appid") == emu_client);
    const auto reqs = f.emu.requests();
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[0].query_param("api-version") == "7.1");
    CHECK(reqs[0].query_param("serviceConnectionId") == connection);
    CHECK(reqs[0].header("X-TFS-FedAuthRedirect") == "Suppress");
  }

  TEST_CASE("AADSTS900023: an invalid tenant is AuthenticationRequiredError") {
    Fixture f;
    auto r = f.run("not-a-tenant");
    REQUIRE(r.failure() == Failure::auth_required);
    CHECK(r.error_info().sts->has_code(900023));
    CHECK(r.error_info().message.find(
              "AADSTS900023: Specified tenant identifier 'not-a-tenant' is neither a valid "
              "DNS name, nor a valid external domain.") != std::string::npos);
  }

  TEST_CASE("No service connection found with identifier <GUID>.") {
    Fixture f;
    const std::string unknown = "00000000-0000-4000-8000-00000000dead";
    auto r = f.run(emu_tenant, emu_client, unknown);
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().message.find("No service connection found with identifier " + unknown +
                                      ".") != std::string::npos);
    CHECK(r.error_info().message.find("x-vss-e2eid: ") != std::string::npos);
  }

  TEST_CASE("401 (Unauthorized) response from OIDC endpoint.") {
    Fixture f;
    const std::string wrong = "not-the-system-token";
    auto r = f.run(emu_tenant, emu_client, connection, wrong);
    REQUIRE(r.failure() == Failure::failed);
    const std::string& m = r.error_info().message;
    CHECK(m.rfind("AzurePipelinesCredential: 401 (Unauthorized) response from OIDC endpoint.", 0) ==
          0);
    CHECK(m.find("x-vss-e2eid: ") != std::string::npos);
    CHECK(m.find("x-msedge-ref: Ref A: ") != std::string::npos);
    CHECK(m.find(wrong) == std::string::npos);
    CHECK_THROWS_AS((void)Cred(emu_tenant, emu_client, connection, wrong,
                               f.options<AzurePipelinesCredentialOptions>(), f.platform)
                        .get_token(vault_scope()),
                    ClientAuthenticationError);
  }

  TEST_CASE("OIDC token not found in response. Response = {...}") {
    Fixture f;
    f.emu.push_fault(
        "/azid-org/",
        azid_emulator::Fault::respond_with(
            200,
            R"({"$id":"1","innerException":null,"message":"Preview version required.",)"
            R"("typeName":"Microsoft.VisualStudio.Services.WebApi.VssInvalidPreviewVersionException, Microsoft.VisualStudio.Services.WebApi",)"
            R"("typeKey":"VssInvalidPreviewVersionException","errorCode":0})",
            {{"Content-Type", "application/json"}}));
    auto r = f.run();
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().message.find(
              "OIDC token not found in response. Response = {\"$id\":\"1\"") != std::string::npos);
    CHECK(r.error_info().message.find("Preview version required.") != std::string::npos);
  }

  TEST_CASE("Missing value for the SYSTEM_OIDCREQUESTURI environment variable.") {
    Fixture f;
    f.platform.environment().unset("SYSTEM_OIDCREQUESTURI");
    try {
      (void)Cred(emu_tenant, emu_client, connection, system_token,
                 f.options<AzurePipelinesCredentialOptions>(), f.platform)
          .get_token(vault_scope());
      FAIL("expected CredentialUnavailableError");
    } catch (const CredentialUnavailableError& e) {
      CHECK(std::string(e.what()).rfind(
                "Missing value for the SYSTEM_OIDCREQUESTURI environment variable.", 0) == 0);
    }
    CHECK(f.emu.request_count() == 0);
  }

  TEST_CASE("AuthenticationRequiredError: unauthorized_client: 700016 - AADSTS700016") {
    Fixture f;
    const std::string other_client = "99999999-0000-4000-8000-000000000000";
    f.emu.set_pipelines_service_connection(connection + "1", system_token, emu_tenant,
                                           other_client);
    try {
      (void)Cred(emu_tenant, other_client, connection + "1", system_token,
                 f.options<AzurePipelinesCredentialOptions>(), f.platform)
          .get_token(vault_scope());
      FAIL("expected AuthenticationRequiredError");
    } catch (const AuthenticationRequiredError& e) {
      const std::string m = e.what();
      CHECK(m.find("unauthorized_client: 700016 - AADSTS700016: Application with identifier '" +
                   other_client + "'") != std::string::npos);
    }
  }
}
