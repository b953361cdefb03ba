// WorkloadIdentityCredential end to end: a projected token file holding a federated token from
// the emulator's OIDC issuer, exchanged over TLS.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "azid/credentials/managed_identity.hpp"
#include "azid/credentials/workload_identity.hpp"
#include "azid/detail/token_json.hpp"
#include "confidential_fixture.hpp"
#include "test_certs.hpp"

using namespace azid;
using azid_test::emu_client;
using azid_test::emu_tenant;
using azid_test::vault_scope;

namespace {
using Cred = WorkloadIdentityCredential<azid_test::EmuPlatform>;
constexpr const char* subject = "system:serviceaccount:payments:api";

struct Fixture : azid_test::ConfidentialFixture {
  azid_test::TempDir dir;
  std::string token_file = dir.path("azure-identity-token");
  Fixture() {
    emu.register_federated_credential(emu_tenant, emu_client, emu.oidc_issuer(), subject);
    // What the workload identity webhook injects.
    platform.environment().set("AZURE_TENANT_ID", emu_tenant);
    platform.environment().set("AZURE_CLIENT_ID", emu_client);
    platform.environment().set("AZURE_FEDERATED_TOKEN_FILE", token_file);
    platform.environment().set("AZURE_AUTHORITY_HOST", emu.authority_host());
  }
  WorkloadIdentityCredentialOptions opts() const {
    auto o = options<WorkloadIdentityCredentialOptions>();
    o.authority_host.clear();  // from AZURE_AUTHORITY_HOST
    return o;
  }
};
}  // namespace

TEST_SUITE("workload_identity_emulator") {
  TEST_CASE("the projected token is exchanged for an access token") {
    Fixture f;
    f.dir.write("azure-identity-token", f.emu.issue_federated_token(subject) + "\n");
    Cred cred(f.opts(), f.platform);
    AccessToken t = cred.get_token(vault_scope());
    std::string payload;
    REQUIRE(azid_emulator::verify_token(f.emu, t.token, payload));
    CHECK(detail::json_string_member(payload, "appid") == emu_client);
  }

  TEST_CASE("a token for another service account, or audience, is refused") {
    Fixture f;
    SUBCASE("subject") {
      f.dir.write("azure-identity-token",
                  f.emu.issue_federated_token("system:serviceaccount:other:sa"));
      auto r = Cred(f.opts(), f.platform).try_get_token(vault_scope());
      REQUIRE(r.failure() == Failure::failed);
      CHECK(r.error_info().sts->has_code(70021));
      CHECK(r.error_info().message.find("No matching federated identity record found") !=
            std::string::npos);
    }
    SUBCASE("audience") {
      f.dir.write("azure-identity-token",
                  f.emu.issue_federated_token(subject, std::chrono::hours(1), "api://other"));
      auto r = Cred(f.opts(), f.platform).try_get_token(vault_scope());
      REQUIRE(r.failure() == Failure::failed);
      CHECK(r.error_info().sts->has_code(700212));
    }
  }

  TEST_CASE("after an expired token is refused, the rotated file is read again") {
    Fixture f;
    f.dir.write("azure-identity-token",
                f.emu.issue_federated_token(subject, std::chrono::seconds(-3600)));
    auto o = f.opts();
    o.cache.retry_delay = std::chrono::seconds(0);
    Cred cred(o, f.platform);
    auto r = cred.try_get_token(vault_scope());
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().sts->has_code(700024));
    f.dir.write("azure-identity-token",
                f.emu.issue_federated_token(subject));  // the kubelet rotates it
    CHECK(cred.try_get_token(vault_scope()).ok());
  }

  TEST_CASE("unconfigured: the guide's message, and nothing is sent") {
    Fixture f;
    f.platform.environment().unset("AZURE_FEDERATED_TOKEN_FILE");
    try {
      (void)Cred(f.opts(), f.platform).get_token(vault_scope());
      FAIL("expected CredentialUnavailableError");
    } catch (const CredentialUnavailableError& e) {
      CHECK(std::string(e.what()).find(
                "WorkloadIdentityCredential authentication unavailable. The workload options "
                "are not fully configured") == 0);
    }
    CHECK(f.emu.request_count() == 0);
  }

  TEST_CASE("ManagedIdentityCredential under AKS workload identity exchanges the projected token") {
    Fixture f;
    const std::string federated = f.emu.issue_federated_token(subject);
    f.dir.write("azure-identity-token", federated);
    ManagedIdentityCredentialOptions o;
    o.imds_authority = "http://127.0.0.1:9";  // never asked: the source is workload identity
    o.arc_himds_path = "";
    SUBCASE("client id from AZURE_CLIENT_ID") {}
    SUBCASE("client id from the user-assigned option") {
      f.platform.environment().unset("AZURE_CLIENT_ID");
      o.client_id = emu_client;
    }
    ManagedIdentityCredential<azid_test::EmuPlatform> mi(o, f.platform);
    REQUIRE(mi.source() == ManagedIdentitySource::workload_identity);
    TokenRequestContext ctx = vault_scope();
    ctx.tenant_id =
        "00000000-1111-4222-8333-444455556666";  // ignored, as managed identity ignores it
    const AccessToken t = mi.get_token(ctx);
    std::string payload;
    REQUIRE(azid_emulator::verify_token(f.emu, t.token, payload));
    CHECK(detail::json_string_member(payload, "appid") == emu_client);
    const auto reqs = f.emu.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].path().find("/" + emu_tenant + "/") == 0);
    CHECK(reqs[0].form_param("client_assertion") == federated);
    CHECK(reqs[0].form_param("client_id") == emu_client);
    (void)mi.get_token(ctx);  // cached
    CHECK(f.emu.requests().size() == 1);
  }

  TEST_CASE("ManagedIdentityCredential under workload identity passes the STS's refusal on") {
    Fixture f;
    f.dir.write("azure-identity-token",
                f.emu.issue_federated_token("system:serviceaccount:other:sa"));
    ManagedIdentityCredentialOptions o;
    o.imds_authority = "http://127.0.0.1:9";
    o.arc_himds_path = "";
    ManagedIdentityCredential<azid_test::EmuPlatform> mi(o, f.platform);
    const TokenResult r = mi.try_get_token(vault_scope());
    REQUIRE(r.failure() == Failure::failed);
    REQUIRE(r.error_info().sts);
    CHECK(r.error_info().sts->has_code(70021));
  }
}
