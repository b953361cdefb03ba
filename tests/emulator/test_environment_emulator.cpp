// EnvironmentCredential end to end: a client secret or a certificate from AZURE_* variables.
#include <doctest/doctest.h>

#include <string>

#include "azid/credentials/environment.hpp"
#include "azid/detail/token_json.hpp"
#include "confidential_fixture.hpp"
#include "test_certs.hpp"

using namespace azid;
using azid_test::emu_client;
using azid_test::emu_tenant;
using azid_test::vault_scope;

namespace {
using Cred = EnvironmentCredential<azid_test::EmuPlatform>;

struct Fixture : azid_test::ConfidentialFixture {
  azid_test::TempDir dir;
  Fixture() {
    platform.environment().set("AZURE_TENANT_ID", emu_tenant);
    platform.environment().set("AZURE_CLIENT_ID", emu_client);
    platform.environment().set("AZURE_AUTHORITY_HOST", emu.authority_host());
  }
  EnvironmentCredentialOptions opts() const {
    auto o = options<EnvironmentCredentialOptions>();
    o.authority_host.clear();
    return o;
  }
};
}  // namespace

TEST_SUITE("environment_emulator") {
  TEST_CASE("AZURE_CLIENT_SECRET authenticates with the secret") {
    Fixture f;
    f.platform.environment().set("AZURE_CLIENT_SECRET", "unused-secret");
    AccessToken t = Cred(f.opts(), f.platform).get_token(vault_scope());
    std::string payload;
    REQUIRE(azid_emulator::verify_token(f.emu, t.token, payload));
    CHECK(f.emu.requests().at(0).form_param("client_secret") == "unused-secret");
  }

  TEST_CASE(
      "AZURE_CLIENT_CERTIFICATE_PATH (+ password, + chain) authenticates with the certificate") {
    Fixture f;
    const auto& c = azid_test::registered_cert();
    // Trusted by subject name and issuer: the emulator accepts the assertion only with its x5c
    // chain, so the password (to open the file) and the chain flag must both have arrived.
    f.emu.register_certificate(emu_tenant, emu_client, c.cert_pem, /*subject_name_issuer=*/true);
    f.platform.environment().set("AZURE_CLIENT_CERTIFICATE_PATH", f.dir.write("app.pfx", c.pkcs12));
    f.platform.environment().set("AZURE_CLIENT_CERTIFICATE_PASSWORD", c.password);
    f.platform.environment().set("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "1");
    Cred cred(f.opts(), f.platform);
    CHECK(cred.mode() == Cred::Mode::certificate);
    const TokenResult r = cred.try_get_token(vault_scope());
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error_info().message));
    CHECK(f.emu.requests().at(0).form_param("client_assertion"));
    // The control: without the chain the same app refuses the assertion.
    f.platform.environment().set("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "0");
    Cred no_chain(f.opts(), f.platform);
    CHECK(no_chain.try_get_token(vault_scope()).failure() == Failure::failed);
  }

  TEST_CASE("a certificate the app does not have: AADSTS700027 through EnvironmentCredential") {
    Fixture f;
    f.platform.environment().set("AZURE_CLIENT_CERTIFICATE_PATH",
                                 f.dir.write("app.pem", azid_test::unregistered_cert().pem));
    auto r = Cred(f.opts(), f.platform).try_get_token(vault_scope());
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().credential == "EnvironmentCredential");
    CHECK(r.error_info().sts->has_code(700027));
  }

  TEST_CASE("incomplete variables: unavailable, nothing sent") {
    Fixture f;
    auto r = Cred(f.opts(), f.platform).try_get_token(vault_scope());
    REQUIRE(r.failure() == Failure::unavailable);
    CHECK(r.error_info().message.find("Environment variables are not fully configured.") !=
          std::string::npos);
    CHECK(r.error_info().message.find("Environment variables aren't fully configured.") !=
          std::string::npos);
    CHECK(r.error_info().message.find(
              "Missing: AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH.") !=
          std::string::npos);
    CHECK(f.emu.request_count() == 0);
  }
}
