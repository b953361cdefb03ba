// CertificateCredential end to end: real certificate files, the TLS transport, and an emulator
// that verifies the assertion's signature against the registered certificate.
#include <doctest/doctest.h>

#include <string>

#include "azid/credentials/certificate.hpp"
#include "azid/detail/token_json.hpp"
#include "../policy/form_fields.hpp"
#include "confidential_fixture.hpp"
#include "emulator.hpp"
#include "test_certs.hpp"

using namespace azid;
using azid_test::emu_client;
using azid_test::emu_tenant;
using azid_test::vault_scope;

namespace {
using Cred = CertificateCredential<azid_test::EmuPlatform>;

struct Fixture : azid_test::ConfidentialFixture {
  azid_test::TempDir dir;
  Fixture() {
    emu.register_certificate(emu_tenant, emu_client, azid_test::registered_cert().cert_pem);
  }
  Cred make(const std::string& file, const std::string& content,
            CertificateCredentialOptions o = {}, const std::string& client = emu_client) {
    return Cred(emu_tenant, client, dir.write(file, content), options(std::move(o)), platform);
  }
};
}  // namespace

TEST_SUITE("certificate_emulator") {
  TEST_CASE("PEM, encrypted PEM and PKCS#12 files all authenticate") {
    Fixture f;
    const auto& c = azid_test::registered_cert();
    struct Case {
      const char* file;
      std::string content;
      std::string password;
    };
    for (const Case& k :
         {Case{"app.pem", c.pem, ""}, Case{"enc.pem", c.encrypted_pem, c.password},
          Case{"app.pfx", c.pkcs12, c.password}, Case{"open.pfx", c.pkcs12_no_password, ""},
          Case{"legacy.pfx", c.pkcs12_legacy, c.password}}) {
      CAPTURE(k.file);
      CertificateCredentialOptions o;
      o.password = k.password;
      AccessToken t = f.make(k.file, k.content, o).get_token(vault_scope());
      std::string payload;
      REQUIRE(azid_emulator::verify_token(f.emu, t.token, payload));
      CHECK(detail::json_string_member(payload, "appid") == emu_client);
    }
    for (const auto& r : f.emu.requests()) CHECK_FALSE(r.form_param("client_secret"));
  }

  TEST_CASE("PS256 with x5t#S256, and the x5c chain, are verified too") {
    // The emulator ties the thumbprint to the algorithm (x5t#S256 for PS256) and, for an app that
    // trusts its certificate by subject name and issuer, requires x5c: ignoring use_pss or
    // send_certificate_chain fails here.
    Fixture f;
    const std::string sni_client = "5e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
    f.emu.register_app({emu_tenant, sni_client, "unused-secret", false, {}});
    f.emu.register_certificate(emu_tenant, sni_client, azid_test::registered_cert().cert_pem, true);
    CertificateCredentialOptions o;
    o.use_pss = true;
    o.send_certificate_chain = true;
    CHECK(f.make("app.pem", azid_test::registered_cert().pem, o).try_get_token(vault_scope()).ok());
    CHECK(f.make("sni.pem", azid_test::registered_cert().pem, o, sni_client)
              .try_get_token(vault_scope())
              .ok());
    o.send_certificate_chain = false;
    const TokenResult r = f.make("sni2.pem", azid_test::registered_cert().pem, o, sni_client)
                              .try_get_token(vault_scope());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error_info().message.find("AADSTS700027") != std::string::npos);
    const auto reqs = f.emu.requests();
    REQUIRE(reqs.size() >= 3);
    const std::string jwt = reqs.front().form_param("client_assertion").value_or("");
    const std::string header = azid_test::jwt_header(jwt);
    CHECK(detail::json_string_member(header, "alg") == "PS256");
    CHECK(detail::json_string_member(header, "x5t#S256"));
    CHECK_FALSE(detail::json_string_member(header, "x5t"));
  }

  TEST_CASE("AD FS: an RS256 assertion for the v1 endpoint, even with use_pss") {
    Fixture f;
    f.emu.register_app({"adfs", emu_client, "unused", false, {}});
    f.emu.register_certificate("adfs", emu_client, azid_test::registered_cert().cert_pem);
    CertificateCredentialOptions o;
    o.use_pss = true;  // AD FS verifies RS256 only: azid signs RS256 there
    Cred cred("adfs", emu_client, f.dir.write("app.pem", azid_test::registered_cert().pem),
              f.options(o), f.platform);
    const TokenResult r = cred.try_get_token(vault_scope());
    REQUIRE(r.ok());
    const auto reqs = f.emu.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].path() == "/adfs/oauth2/token");
    CHECK(reqs[0].form_param("scope") == "https://vault.azure.net");
  }

  TEST_CASE("one assertion serves several token requests") {
    Fixture f;
    auto cred = f.make("app.pem", azid_test::registered_cert().pem);
    auto ctx = vault_scope();
    CHECK(cred.try_get_token(ctx).ok());
    ctx.scopes = {"https://storage.azure.com/.default"};
    CHECK(cred.try_get_token(ctx).ok());
    const auto sent = f.assertions_sent();
    REQUIRE(sent.size() == 2);
    CHECK(sent[0] == sent[1]);
    CHECK(cred.assertions_signed() == 1);
  }

  TEST_CASE("AADSTS700027: a certificate the app does not have") {
    Fixture f;
    auto r =
        f.make("stranger.pem", azid_test::unregistered_cert().pem).try_get_token(vault_scope());
    REQUIRE(r.failure() == Failure::failed);
    REQUIRE(r.error_info().sts);
    CHECK(r.error_info().sts->has_code(700027));
    CHECK(r.error_info().message.find("Client assertion contains an invalid signature.") !=
          std::string::npos);
    CHECK(r.error_info().message.find(
              "CertificateCredential authentication failed: invalid_client: 700027") == 0);
  }

  TEST_CASE("AADSTS700016: an app unknown in the tenant") {
    Fixture f;
    auto r = f.make("app.pem", azid_test::registered_cert().pem, {},
                    "99999999-0000-4000-8000-000000000000")
                 .try_get_token(vault_scope());
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().sts->has_code(700016));
    CHECK(r.error_info().message.find(
              "The specified application wasn't found in the specified tenant.") !=
          std::string::npos);
  }

  TEST_CASE("unusable certificate files fail before anything is sent") {
    Fixture f;
    const auto& c = azid_test::registered_cert();
    const std::string pw = "Wr0ng!pass";
    struct Case {
      const char* what;
      std::string content;
      std::string password;
      bool create;
      const char* expect;
    };
    const Case cases[] = {
        {"wrong password", c.pkcs12, pw, true, "wrong password?"},
        {"wrong PEM password", c.encrypted_pem, pw, true, "wrong password?"},
        {"missing key", c.cert_pem, "", true, "contains no private key"},
        {"EC key", azid_test::ec_pem(), "", true, "ECDSA private keys are not supported"},
        {"corrupt file", std::string(300, '\x7f'), "", true, "neither PEM nor PKCS#12"},
        {"empty file", "", "", true, "is empty"},
        {"huge file", std::string(1024 * 1024 + 1, '-'), "", true, "larger than"},
        {"missing file", "", "", false, "file not found"},
        {"PEM with key but no cert", c.key_pem, "", true, "PEM file does not contain certificate."},
        {"PKCS#12 without key", c.pkcs12_no_key, c.password, true,
         "Your PFX file shall contain both"},
    };
    int i = 0;
    for (const auto& k : cases) {
      CAPTURE(k.what);
      const std::string name = "bad" + std::to_string(i++);
      const std::string file = k.create ? f.dir.write(name, k.content) : f.dir.path(name);
      CertificateCredentialOptions o;
      o.password = k.password;
      Cred cred(emu_tenant, emu_client, file, f.options(o), f.platform);
      try {
        (void)cred.get_token(vault_scope());
        FAIL("expected an error");
      } catch (const CredentialUnavailableError&) {
        FAIL("a bad certificate is an authentication failure, not 'unavailable'");
      } catch (const ClientAuthenticationError& e) {
        const std::string m = e.what();
        CAPTURE(m);
        CHECK(m.find("'" + file + "'") != std::string::npos);
        CHECK(m.find(k.expect) != std::string::npos);
        CHECK(m.find(pw) == std::string::npos);
        CHECK(m.find(c.password) == std::string::npos);
      }
    }
    CHECK(f.emu.request_count() == 0);
  }

  TEST_CASE("multi-tenant: another tenant is reached only when allowed") {
    Fixture f;
    const std::string other = "0b0b0b0b-1111-4222-8333-944455556666";
    f.emu.register_app({other, emu_client, "unused", false, {}});
    f.emu.register_certificate(other, emu_client, azid_test::registered_cert().cert_pem);
    auto ctx = vault_scope();
    ctx.tenant_id = other;
    auto refused = f.make("app.pem", azid_test::registered_cert().pem).try_get_token(ctx);
    CHECK(refused.error_info().message.find("not configured to acquire tokens for tenant " +
                                            other) != std::string::npos);
    CertificateCredentialOptions o;
    o.additionally_allowed_tenants = {other};
    AccessToken t = f.make("app2.pem", azid_test::registered_cert().pem, o).get_token(ctx);
    std::string payload;
    REQUIRE(azid_emulator::verify_token(f.emu, t.token, payload));
    CHECK(detail::json_string_member(payload, "tid") == other);
  }
}
