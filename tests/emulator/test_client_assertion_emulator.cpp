// ClientAssertionCredential end to end: assertions the caller builds, right and wrong, judged by
// the emulator's token endpoint (the guide's AADSTS700021, 700023 and 50027 rows).
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "azid/credentials/client_assertion.hpp"
#include "azid/detail/base64.hpp"
#include "azid/detail/crypto.hpp"
#include "confidential_fixture.hpp"
#include "test_certs.hpp"

using namespace azid;
using azid_test::emu_client;
using azid_test::emu_tenant;
using azid_test::vault_scope;

namespace {
using Cred = ClientAssertionCredential<azid_test::EmuPlatform>;

struct Fixture : azid_test::ConfidentialFixture {
  detail::CertificateMaterial cert;
  Fixture() {
    emu.register_certificate(emu_tenant, emu_client, azid_test::registered_cert().cert_pem);
    std::string error;
    REQUIRE(detail::load_certificate(azid_test::registered_cert().pem, "", cert, error));
  }
  std::string endpoint() const {
    return emu.authority_host() + "/" + emu_tenant + "/oauth2/v2.0/token";
  }
  /// A certificate assertion with the given claims.
  std::string assertion(std::string iss_sub, std::string aud, std::chrono::seconds age = {}) const {
    detail::AssertionParams p;
    p.client_id = iss_sub;
    p.audience = aud;
    p.now = std::chrono::system_clock::now() - age;
    std::string error;
    return detail::make_client_assertion(cert, p, error);
  }
  TokenResult run(std::string jwt) {
    return Cred(
               emu_tenant, emu_client, [jwt] { return jwt; },
               options<ClientAssertionCredentialOptions>(), platform)
        .try_get_token(vault_scope());
  }
};

void check_row(const TokenResult& r, long long code, const char* phrase) {
  REQUIRE(r.failure() == Failure::failed);
  REQUIRE(r.error_info().sts);
  CHECK(r.error_info().sts->has_code(code));
  const std::string& m = r.error_info().message;
  CAPTURE(m);
  CHECK(m.rfind("ClientAssertionCredential authentication failed: ", 0) == 0);
  CHECK(m.find("AADSTS" + std::to_string(code) + ": ") != std::string::npos);
  CHECK(m.find(phrase) != std::string::npos);
}
}  // namespace

TEST_SUITE("client_assertion_emulator") {
  TEST_CASE("a well-formed assertion for the token endpoint (or the tenant's v2 audience) works") {
    Fixture f;
    CHECK(f.run(f.assertion(emu_client, f.endpoint())).ok());
    CHECK(f.run(f.assertion(emu_client, f.emu.authority_host() + "/" + emu_tenant + "/v2")).ok());
  }

  TEST_CASE("AADSTS700021: iss and sub are not the client id") {
    Fixture f;
    check_row(f.run(f.assertion("someone-else", f.endpoint())), 700021,
              "Client assertion application identifier doesn't match 'client_id' parameter.");
  }

  TEST_CASE("AADSTS700023: the audience is not this tenant's endpoint") {
    Fixture f;
    check_row(f.run(f.assertion(
                  emu_client, "https://login.microsoftonline.com/other-tenant/oauth2/v2.0/token")),
              700023, "Client assertion audience claim does not match Realm issuer.");
  }

  TEST_CASE("AADSTS50027: not a JWT") {
    Fixture f;
    check_row(f.run("not-a-jwt"), 50027, "JWT token is invalid or malformed.");
    check_row(f.run("a.b.c"), 50027, "JWT token is invalid or malformed.");
  }

  TEST_CASE("AADSTS700027: a tampered signature") {
    Fixture f;
    std::string jwt = f.assertion(emu_client, f.endpoint());
    const auto dot = jwt.rfind('.');
    std::string sig = *detail::base64_decode(jwt.substr(dot + 1));
    sig[10] = static_cast<char>(sig[10] ^ 0x01);
    jwt = jwt.substr(0, dot + 1) + detail::base64_encode(sig, true);
    check_row(f.run(jwt), 700027, "Client assertion contains an invalid signature.");
  }

  TEST_CASE("an expired assertion is refused (AADSTS700024)") {
    Fixture f;
    auto r = f.run(f.assertion(emu_client, f.endpoint(), std::chrono::minutes(20)));
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().sts->has_code(700024));
  }

  TEST_CASE("a federated token from a trusted issuer is accepted") {
    Fixture f;
    f.emu.register_federated_credential(emu_tenant, emu_client, f.emu.oidc_issuer(),
                                        "system:serviceaccount:ns:app");
    CHECK(f.run(f.emu.issue_federated_token("system:serviceaccount:ns:app")).ok());
    auto r = f.run(f.emu.issue_federated_token("system:serviceaccount:ns:intruder"));
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().sts->has_code(70021));
  }
}
