// No secret of the confidential-client credentials (client secret, certificate password, private
// key, assertion, federated token, system access token) reaches an error message or a log line,
// on any error path, with DEBUG logging on.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "azid/credentials/azure_pipelines.hpp"
#include "azid/credentials/certificate.hpp"
#include "azid/credentials/client_assertion.hpp"
#include "azid/credentials/environment.hpp"
#include "azid/credentials/workload_identity.hpp"
#include "confidential_fixture.hpp"
#include "test_certs.hpp"

using namespace azid;
using azid_test::emu_client;
using azid_test::emu_tenant;
using azid_test::vault_scope;

TEST_SUITE("confidential_secrets_emulator") {
  TEST_CASE("every error path of the five credentials keeps secrets out of messages and logs") {
    azid_test::ConfidentialFixture f;
    azid_test::TempDir dir;
    using Platform = azid_test::EmuPlatform;
    const auto& c = azid_test::registered_cert();
    const std::string wrong_pw = "Wr0ng-Pa55word!";
    const std::string secret = "Env~Secret.Value-123";
    const std::string system_token = "SYS-ACCESS-TOKEN-abcdef123456";
    const std::string odd_assertion = "ASSERTION-SECRET-not-a-jwt";
    const std::string subject = "system:serviceaccount:ns:sa";
    f.emu.register_certificate(emu_tenant, emu_client, c.cert_pem);
    f.emu.register_federated_credential(emu_tenant, emu_client, f.emu.oidc_issuer(),
                                        "system:serviceaccount:ns:other");
    f.emu.set_pipelines_service_connection("conn-1", system_token, emu_tenant,
                                           "99999999-0000-4000-8000-000000000000");
    const std::string federated = f.emu.issue_federated_token(subject);
    const std::string expired_federated =
        f.emu.issue_federated_token(subject, std::chrono::seconds(-600));

    std::vector<std::string> messages;
    auto record = [&](const TokenResult& r) {
      CHECK_FALSE(r.ok());
      if (!r.ok()) messages.push_back(r.error_info().message);
    };
    auto ctx = vault_scope();
    auto other_tenant = vault_scope();
    other_tenant.tenant_id = "contoso.onmicrosoft.com";

    // CertificateCredential: wrong password (PEM and PKCS#12), unknown certificate, unknown app,
    // a tenant that is not allowed.
    for (const auto& data : {c.encrypted_pem, c.pkcs12}) {
      CertificateCredentialOptions o;
      o.password = wrong_pw;
      record(CertificateCredential<Platform>(emu_tenant, emu_client, dir.write("c.bin", data),
                                             f.options(o), f.platform)
                 .try_get_token(ctx));
    }
    record(CertificateCredential<Platform>(emu_tenant, emu_client,
                                           dir.write("u.pem", azid_test::unregistered_cert().pem),
                                           f.options<CertificateCredentialOptions>(), f.platform)
               .try_get_token(ctx));
    {
      CertificateCredentialOptions o;
      o.password = c.password;
      CertificateCredential<Platform> cred("0b0b0b0b-1111-4222-8333-944455556666", emu_client,
                                           dir.write("e.pem", c.encrypted_pem), f.options(o),
                                           f.platform);
      record(cred.try_get_token(ctx));
      record(cred.try_get_token(other_tenant));
    }
    // ClientAssertionCredential: malformed assertion, valid JWT for another client.
    record(ClientAssertionCredential<Platform>(
               emu_tenant, emu_client, [&] { return odd_assertion; },
               f.options<ClientAssertionCredentialOptions>(), f.platform)
               .try_get_token(ctx));
    record(ClientAssertionCredential<Platform>(
               emu_tenant, emu_client, [&] { return federated; },
               f.options<ClientAssertionCredentialOptions>(), f.platform)
               .try_get_token(ctx));
    // EnvironmentCredential: wrong secret, certificate with a wrong password, unconfigured.
    f.platform.environment().set("AZURE_TENANT_ID", emu_tenant);
    f.platform.environment().set("AZURE_CLIENT_ID", emu_client);
    f.platform.environment().set("AZURE_CLIENT_SECRET", secret);
    record(EnvironmentCredential<Platform>(f.options<EnvironmentCredentialOptions>(), f.platform)
               .try_get_token(ctx));
    f.platform.environment().unset("AZURE_CLIENT_SECRET");
    f.platform.environment().set("AZURE_CLIENT_CERTIFICATE_PATH", dir.write("env.pfx", c.pkcs12));
    f.platform.environment().set("AZURE_CLIENT_CERTIFICATE_PASSWORD", wrong_pw);
    record(EnvironmentCredential<Platform>(f.options<EnvironmentCredentialOptions>(), f.platform)
               .try_get_token(ctx));
    // WorkloadIdentityCredential: expired token, wrong subject, unreadable file.
    for (const auto& token : {expired_federated, federated}) {
      WorkloadIdentityCredentialOptions o = f.options<WorkloadIdentityCredentialOptions>();
      o.token_file_path = dir.write("token", token);
      record(WorkloadIdentityCredential<Platform>(o, f.platform).try_get_token(ctx));
    }
    {
      WorkloadIdentityCredentialOptions o = f.options<WorkloadIdentityCredentialOptions>();
      o.token_file_path = dir.path("absent");
      record(WorkloadIdentityCredential<Platform>(o, f.platform).try_get_token(ctx));
    }
    // AzurePipelinesCredential: wrong system token, unknown connection, STS refusal, no oidcToken.
    f.platform.environment().set("SYSTEM_OIDCREQUESTURI", f.emu.pipelines_oidc_request_uri());
    auto pipelines = [&](const std::string& client, const std::string& conn,
                         const std::string& token) {
      return AzurePipelinesCredential<Platform>(emu_tenant, client, conn, token,
                                                f.options<AzurePipelinesCredentialOptions>(),
                                                f.platform)
          .try_get_token(ctx);
    };
    record(pipelines(emu_client, "conn-1", "wrong-" + system_token));
    record(pipelines(emu_client, "conn-unknown", system_token));
    record(pipelines("99999999-0000-4000-8000-000000000000", "conn-1", system_token));
    f.emu.push_fault("/azid-org/",
                     azid_emulator::Fault::respond_with(200, R"({"message":"nope"})"));
    record(pipelines(emu_client, "conn-1", system_token));

    std::vector<std::string> forbidden = {wrong_pw,      c.password, secret,           system_token,
                                          odd_assertion, federated,  expired_federated};
    forbidden.push_back(
        c.key_pem.substr(c.key_pem.find('\n') + 1, 40));  // a piece of the private key
    for (const auto& a : f.assertions_sent()) forbidden.push_back(a);
    for (const auto& r : f.emu.requests())
      if (r.path().find("oidctoken") == std::string::npos && r.form_param("client_assertion"))
        forbidden.push_back(*r.form_param("client_assertion"));
    CHECK(messages.size() == 16);
    const auto logs = f.logs();
    CHECK(logs.size() >= messages.size());
    for (const auto& s : forbidden) {
      REQUIRE(s.size() >= 8);
      for (const auto& m : messages) {
        CAPTURE(m);
        CHECK(m.find(s) == std::string::npos);
      }
      for (const auto& l : logs) {
        CAPTURE(l);
        CHECK(l.find(s) == std::string::npos);
      }
    }
  }
}
