// CertificateCredential on testing::Platform: the assertion request, assertion reuse, every
// certificate shape and the bad-file matrix, tenants and clouds.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "../emulator/test_certs.hpp"
#include "azid/credentials/certificate.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/testing/platform.hpp"
#include "form_fields.hpp"

using namespace azid;
using namespace std::chrono;

namespace {
constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* client = "11111111-2222-3333-4444-555555555555";
constexpr const char* path = "/etc/azid/app.pem";
const std::string ok_body =
    R"({"token_type":"Bearer","expires_in":3599,"access_token":"header.payload.sig"})";

TokenRequestContext scope(std::string s = "https://vault.azure.net/.default") {
  TokenRequestContext c;
  c.scopes = {std::move(s)};
  return c;
}
using Cred = CertificateCredential<testing::Platform>;
static_assert(Credential<Cred>);

std::string assertion_of(const HttpRequest& r) {
  return azid_test::form_value(r.body, "client_assertion").value_or("");
}
}  // namespace

TEST_SUITE("certificate") {
  TEST_CASE("the token request carries a signed assertion instead of a secret") {
    testing::Platform p;
    p.files().set(path, azid_test::registered_cert().pem);
    p.transport().push(200, ok_body);
    Cred cred(tenant, client, path, {}, p);
    CHECK(cred.get_token(scope()).token == "header.payload.sig");
    const auto r = p.transport().requests().at(0);
    const std::string endpoint =
        std::string("https://login.microsoftonline.com/") + tenant + "/oauth2/v2.0/token";
    CHECK(r.url == endpoint);
    CHECK(azid_test::form_value(r.body, "client_assertion_type") ==
          "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    CHECK_FALSE(azid_test::form_value(r.body, "client_secret"));
    CHECK(azid_test::form_value(r.body, "grant_type") == "client_credentials");
    const std::string jwt = assertion_of(r);
    const std::string header = azid_test::jwt_header(jwt);
    CHECK(detail::json_string_member(header, "alg") == "RS256");
    CHECK(detail::json_string_member(header, "x5t"));
    const std::string payload = *detail::jwt_payload(jwt);
    CHECK(detail::json_string_member(payload, "aud") == endpoint);
    CHECK(detail::json_string_member(payload, "iss") == client);
    CHECK(detail::json_string_member(payload, "sub") == client);
    CHECK(payload.find("\"exp\":1700000600") != std::string::npos);
  }

  TEST_CASE("an assertion is reused until 60 s before it expires, then signed again") {
    testing::Platform p;
    p.files().set(path, azid_test::registered_cert().pem);
    for (int i = 0; i < 4; ++i) p.transport().push(200, ok_body);
    Cred cred(tenant, client, path, {}, p);
    (void)cred.get_token(scope("https://a/.default"));
    p.clock().advance(seconds(539));
    (void)cred.get_token(scope("https://b/.default"));
    CHECK(cred.assertions_signed() == 1);
    p.clock().advance(seconds(2));  // 541 s: less than 60 s left
    (void)cred.get_token(scope("https://c/.default"));
    CHECK(cred.assertions_signed() == 2);
    const auto reqs = p.transport().requests();
    CHECK(assertion_of(reqs[0]) == assertion_of(reqs[1]));
    CHECK(assertion_of(reqs[1]) != assertion_of(reqs[2]));
  }

  TEST_CASE("an assertion signed before the clock was stepped back is not reused") {
    // Signed while the wall clock ran an hour fast, its nbf lies in the future once NTP steps
    // the clock back: Entra ID refuses it (AADSTS700024), so a fresh one is signed.
    testing::Platform p;
    p.files().set(path, azid_test::registered_cert().pem);
    for (int i = 0; i < 2; ++i) p.transport().push(200, ok_body);
    Cred cred(tenant, client, path, {}, p);
    const auto start = p.clock().now();
    p.clock().set_wall(start + hours(1));
    (void)cred.get_token(scope("https://a/.default"));
    p.clock().set_wall(start);
    (void)cred.get_token(scope("https://b/.default"));
    CHECK(cred.assertions_signed() == 2);
    const auto reqs = p.transport().requests();
    REQUIRE(reqs.size() == 2);
    const std::string payload = *detail::jwt_payload(assertion_of(reqs[1]));
    CHECK(payload.find("\"nbf\":1700000000") != std::string::npos);
  }

  TEST_CASE("concurrent cache misses sign one assertion and all send it") {
    testing::Platform p;
    p.files().set(path, azid_test::registered_cert().pem);
    constexpr int n = 8;
    for (int i = 0; i < n; ++i) p.transport().push(200, ok_body);
    Cred cred(tenant, client, path, {}, p);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        CHECK(cred.try_get_token(scope("https://r" + std::to_string(i) + "/.default")).ok());
      });
    for (auto& t : threads) t.join();
    CHECK(cred.assertions_signed() == 1);
    const auto reqs = p.transport().requests();
    REQUIRE(reqs.size() == n);
    for (const auto& r : reqs) CHECK(assertion_of(r) == assertion_of(reqs[0]));
  }

  TEST_CASE("each tenant's endpoint gets its own assertion audience") {
    testing::Platform p;
    p.files().set(path, azid_test::registered_cert().pem);
    p.transport().push(200, ok_body);
    p.transport().push(200, ok_body);
    CertificateCredentialOptions o;
    o.additionally_allowed_tenants = {"*"};
    Cred cred(tenant, client, path, o, p);
    (void)cred.get_token(scope());
    auto ctx = scope();
    ctx.tenant_id = "contoso.onmicrosoft.com";
    (void)cred.get_token(ctx);
    const auto reqs = p.transport().requests();
    CHECK(detail::json_string_member(*detail::jwt_payload(assertion_of(reqs[1])), "aud") ==
          "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    CHECK(cred.assertions_signed() == 2);
  }

  TEST_CASE("every supported certificate shape authenticates, from a path or from bytes") {
    const auto& c = azid_test::registered_cert();
    struct Case {
      const char* what;
      std::string data;
      std::string password;
    };
    for (const Case& k :
         {Case{"PEM", c.pem, ""}, Case{"encrypted PEM", c.encrypted_pem, c.password},
          Case{"PKCS#12", c.pkcs12, c.password},
          Case{"PKCS#12, no password", c.pkcs12_no_password, ""}}) {
      CAPTURE(k.what);
      testing::Platform p;
      p.files().set(path, k.data);
      p.transport().push(200, ok_body);
      p.transport().push(200, ok_body);
      CertificateCredentialOptions o;
      o.password = k.password;
      CHECK(Cred(tenant, client, path, o, p).try_get_token(scope()).ok());
      o.certificate_data = k.data;
      CHECK(Cred(tenant, client, "", o, p).try_get_token(scope()).ok());
    }
  }

  TEST_CASE("PS256 and the certificate chain are options") {
    testing::Platform p;
    p.files().set(path, azid_test::registered_cert().pem);
    p.transport().push(200, ok_body);
    CertificateCredentialOptions o;
    o.use_pss = true;
    o.send_certificate_chain = true;
    Cred cred(tenant, client, path, o, p);
    (void)cred.get_token(scope());
    const std::string header = azid_test::jwt_header(assertion_of(p.transport().requests().at(0)));
    CHECK(detail::json_string_member(header, "alg") == "PS256");
    CHECK(detail::json_string_member(header, "x5t#S256"));
    CHECK(header.find("\"x5c\":[\"MII") != std::string::npos);
    // AD FS takes RS256 + x5t only: use_pss gives way there, and the audience is the v1 endpoint.
    p.transport().push(200, ok_body);
    o.authority_host = "https://adfs.contoso.test";
    Cred adfs("adfs", client, path, o, p);
    (void)adfs.get_token(scope());
    const auto reqs = p.transport().requests();  // a copy
    REQUIRE(reqs.size() == 2);
    const auto& req = reqs[1];
    CHECK(req.url == "https://adfs.contoso.test/adfs/oauth2/token");
    const std::string adfs_header = azid_test::jwt_header(assertion_of(req));
    CHECK(detail::json_string_member(adfs_header, "alg") == "RS256");
    CHECK(detail::json_string_member(adfs_header, "x5t"));
    CHECK_FALSE(detail::json_string_member(adfs_header, "x5t#S256"));
    const std::string payload = detail::jwt_payload(assertion_of(req)).value_or("");
    CHECK(detail::json_string_member(payload, "aud") ==
          "https://adfs.contoso.test/adfs/oauth2/token");
  }

  TEST_CASE("bad certificate files fail clearly, name the file, and never show the password") {
    const auto& c = azid_test::registered_cert();
    struct Case {
      const char* what;
      std::optional<std::string> data;  // nullopt: the file does not exist
      std::string password;
      const char* expect;
    };
    const std::string secret_pw = "N0t-Th1s-0ne!";
    const Case cases[] = {
        {"wrong password (PEM)", c.encrypted_pem, secret_pw, "does not decrypt (wrong password?)"},
        {"wrong password (PKCS#12)", c.pkcs12, secret_pw, "does not open (wrong password?)"},
        {"missing password", c.encrypted_pem, "", "no password was given"},
        {"missing key", c.cert_pem, "", "contains no private key"},
        {"EC key", azid_test::ec_pem(), "",
         "ECDSA private keys are not supported. The certificate must have an RSA private key "
         "because RS256 is used for signing"},
        {"corrupt file", std::string("\x30\x82\x01\x00garbage", 12), "", "neither PEM nor PKCS#12"},
        {"empty file", std::string(), "", "is empty"},
        {"huge file", std::string(2 * 1024 * 1024, 'x'), "", "larger than the 1024 KiB"},
        {"missing file", std::nullopt, "", "could not be read: file not found"},
        {"PEM with key but no certificate", c.key_pem, "",
         "PEM file does not contain certificate."},
        {"PKCS#12 without key", c.pkcs12_no_key, secret_pw, "wrong password?"},
        {"PKCS#12 without key (right password)", c.pkcs12_no_key, c.password,
         "Your PFX file shall contain both"},
    };
    for (const auto& k : cases) {
      CAPTURE(k.what);
      testing::Platform p;
      if (k.data) p.files().set(path, *k.data);
      CertificateCredentialOptions o;
      o.password = k.password;
      Cred cred(tenant, client, path, o, p);
      auto r = cred.try_get_token(scope());
      REQUIRE(r.failure() == Failure::failed);
      const std::string& m = r.error_info().message;
      CAPTURE(m);
      CHECK(m.rfind(std::string("CertificateCredential: the certificate file '") + path + "'", 0) ==
            0);
      CHECK(m.find(k.expect) != std::string::npos);
      CHECK(m.find(secret_pw) == std::string::npos);
      if (!k.password.empty()) CHECK(m.find(k.password) == std::string::npos);
      CHECK(p.transport().request_count() == 0);
      CHECK_THROWS_AS((void)cred.get_token(scope()), ClientAuthenticationError);
    }
  }

  TEST_CASE("a file asking for millions of key-derivation iterations is refused before any") {
    // Such a file would hold get_token (and the credential's lock) for minutes of PBKDF2.
    using azid_test::certs_detail::check;
    const auto& c = azid_test::registered_cert();
    auto bio_of = [](const std::string& s) {
      return azid_test::certs_detail::BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
    };
    auto der_of = [](PKCS12* p12) {
      azid_test::certs_detail::BioPtr out(BIO_new(BIO_s_mem()));
      check(out && i2d_PKCS12_bio(out.get(), p12) == 1, "i2d_PKCS12_bio");
      return azid_test::certs_detail::drain(out.get());
    };
    azid_test::certs_detail::PkeyPtr key(
        PEM_read_bio_PrivateKey(bio_of(c.key_pem).get(), nullptr, nullptr, nullptr));
    azid_test::certs_detail::X509Ptr cert(
        PEM_read_bio_X509(bio_of(c.cert_pem).get(), nullptr, nullptr, nullptr));
    REQUIRE(key);
    REQUIRE(cert);
    constexpr int too_many = 2'500'000;  // just over the cap: building these costs a moment
    std::string mac_file, bag_file;
    {  // The MAC's count rewritten (the MAC no longer matches: it must never be computed).
      const unsigned char* p = reinterpret_cast<const unsigned char*>(c.pkcs12.data());
      std::unique_ptr<PKCS12, decltype(&PKCS12_free)> p12(
          d2i_PKCS12(nullptr, &p, static_cast<long>(c.pkcs12.size())), &PKCS12_free);
      REQUIRE(p12);
      const ASN1_INTEGER* iter = nullptr;
      PKCS12_get0_mac(nullptr, nullptr, nullptr, &iter, p12.get());
      REQUIRE(iter != nullptr);
      check(ASN1_INTEGER_set(const_cast<ASN1_INTEGER*>(iter), 2'000'000'000) == 1, "set");
      mac_file = der_of(p12.get());
    }
    {  // Key and certificate bags encrypted with that many iterations, an ordinary MAC.
      std::unique_ptr<PKCS12, decltype(&PKCS12_free)> p12(
          PKCS12_create(c.password.c_str(), "azid", key.get(), cert.get(), nullptr, 0, 0, too_many,
                        1, 0),
          &PKCS12_free);
      REQUIRE(p12);
      bag_file = der_of(p12.get());
    }
    // ENCRYPTED PRIVATE KEY blocks (PBES2) encrypted with ordinary parameters, then given others:
    // nothing may derive them before the check refuses the file.
    auto pkcs8_block = [&](X509_ALGOR* pbe, auto&& rewrite) {
      PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(key.get());
      REQUIRE(p8 != nullptr);
      X509_SIG* sig =
          PKCS8_set0_pbe(c.password.c_str(), static_cast<int>(c.password.size()), p8, pbe);
      PKCS8_PRIV_KEY_INFO_free(p8);
      REQUIRE(sig != nullptr);
      const X509_ALGOR* alg = nullptr;
      X509_SIG_get0(sig, &alg, nullptr);
      const ASN1_OBJECT* obj = nullptr;
      int ptype = 0;
      const void* pval = nullptr;
      X509_ALGOR_get0(&obj, &ptype, &pval, alg);
      REQUIRE(ptype == V_ASN1_SEQUENCE);
      auto* pbe2 = static_cast<PBE2PARAM*>(
          ASN1_item_unpack(static_cast<const ASN1_STRING*>(pval), ASN1_ITEM_rptr(PBE2PARAM)));
      REQUIRE(pbe2 != nullptr);
      rewrite(pbe2->keyfunc->parameter);
      ASN1_STRING* packed = ASN1_item_pack(pbe2, ASN1_ITEM_rptr(PBE2PARAM), nullptr);
      PBE2PARAM_free(pbe2);
      REQUIRE(packed != nullptr);
      check(X509_ALGOR_set0(const_cast<X509_ALGOR*>(alg), OBJ_nid2obj(NID_pbes2), V_ASN1_SEQUENCE,
                            packed) == 1,
            "X509_ALGOR_set0");
      azid_test::certs_detail::BioPtr out(BIO_new(BIO_s_mem()));
      check(out && PEM_write_bio_PKCS8(out.get(), sig) == 1, "PEM_write_bio_PKCS8");
      X509_SIG_free(sig);
      return azid_test::certs_detail::drain(out.get());
    };
    auto pbkdf2_block = [&](long iterations) {
      return pkcs8_block(
          PKCS5_pbe2_set(EVP_aes_256_cbc(), 2048, nullptr, 0), [&](ASN1_TYPE*& param) {
            auto* k = static_cast<PBKDF2PARAM*>(
                ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), param));
            REQUIRE(k != nullptr);
            check(ASN1_INTEGER_set(k->iter, iterations) == 1, "set");
            check(ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), k, &param) != nullptr,
                  "pack");
            PBKDF2PARAM_free(k);
          });
    };
    const std::string pem_file = pbkdf2_block(too_many) + c.cert_pem;
    // Five keys under the cap each, each derived up to three times (a failed decryption is tried
    // again): 28.5 million in all.
    const std::string pem_total = pbkdf2_block(1'900'000) + pbkdf2_block(1'900'000) +
                                  pbkdf2_block(1'900'000) + pbkdf2_block(1'900'000) +
                                  pbkdf2_block(1'900'000) + c.cert_pem;
    // scrypt's work is N * r * p: 16384 * 8 * 4096 here.
    const std::string pem_scrypt =
        pkcs8_block(
            PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), nullptr, 0, nullptr, 16384, 8, 1),
            [&](ASN1_TYPE*& param) {
              auto* k = static_cast<SCRYPT_PARAMS*>(
                  ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(SCRYPT_PARAMS), param));
              REQUIRE(k != nullptr);
              check(ASN1_INTEGER_set(k->parallelizationParameter, 4096) == 1, "set");
              check(ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(SCRYPT_PARAMS), k, &param) != nullptr,
                    "pack");
              SCRYPT_PARAMS_free(k);
            }) +
        c.cert_pem;
    for (const auto& [what, data, count] :
         {std::tuple{"PKCS#12 MAC", mac_file, std::string("2000000000")},
          std::tuple{"PKCS#12 bags", bag_file, std::to_string(too_many)},
          std::tuple{"PEM key", pem_file, std::to_string(too_many)},
          std::tuple{"PEM keys together", pem_total, std::string("28500000")},
          std::tuple{"PEM key, scrypt", pem_scrypt, std::to_string(16384LL * 8 * 4096)}}) {
      CAPTURE(what);
      testing::Platform p;
      p.files().set(path, data);
      CertificateCredentialOptions o;
      o.password = c.password;
      Cred cred(tenant, client, path, o, p);
      auto r = cred.try_get_token(scope());
      REQUIRE(r.failure() == Failure::failed);
      const std::string& m = r.error_info().message;
      CAPTURE(m);
      CHECK(m.find("asks for " + count + " key-derivation iterations") != std::string::npos);
      CHECK(m.find(c.password) == std::string::npos);
      CHECK(p.transport().request_count() == 0);
    }
  }

  TEST_CASE("a file fixed after a failed load is picked up") {
    testing::Platform p;
    p.files().set(path, "");
    p.transport().push(200, ok_body);
    CertificateCredentialOptions o;
    o.cache.retry_delay = seconds(0);
    Cred cred(tenant, client, path, o, p);
    CHECK(cred.try_get_token(scope()).failure() == Failure::failed);
    p.files().set(path, azid_test::registered_cert().pem);
    CHECK(cred.try_get_token(scope()).ok());
  }

  TEST_CASE("path and data: exactly one is required") {
    testing::Platform p;
    CHECK_THROWS_WITH_AS(Cred(tenant, client, "", {}, p),
                         "CertificateCredential requires a value for either \"certificate_path\" "
                         "or \"certificate_data\"",
                         std::invalid_argument);
    CertificateCredentialOptions o;
    o.certificate_data = "x";
    CHECK_THROWS_WITH_AS(
        Cred(tenant, client, path, o, p),
        "Please specify either \"certificate_path\" or \"certificate_data\", not both",
        std::invalid_argument);
    CHECK_THROWS_AS(Cred("bad tenant", client, path, {}, p), std::invalid_argument);
    CHECK_THROWS_AS(Cred(tenant, "", path, {}, p), std::invalid_argument);
  }

  TEST_CASE("multi-tenant: a tenant that is not allowed is refused with the guide's message") {
    testing::Platform p;
    p.files().set(path, azid_test::registered_cert().pem);
    Cred cred(tenant, client, path, {}, p);
    auto ctx = scope();
    ctx.tenant_id = "fabrikam.onmicrosoft.com";
    auto r = cred.try_get_token(ctx);
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().message.find("The current credential is not configured to acquire tokens "
                                      "for tenant fabrikam.onmicrosoft.com") != std::string::npos);
    CHECK(p.transport().request_count() == 0);
    p.transport().push(200, ok_body);
    CertificateCredentialOptions o;
    o.additionally_allowed_tenants = {"fabrikam.onmicrosoft.com"};
    CHECK(Cred(tenant, client, path, o, p).try_get_token(ctx).ok());
  }

  TEST_CASE("sovereign clouds: the named authority hosts address their token endpoints") {
    struct Cloud {
      std::string_view host;
      const char* url;
    };
    for (const Cloud& c :
         {Cloud{AuthorityHosts::azure_public_cloud, "https://login.microsoftonline.com/"},
          Cloud{AuthorityHosts::azure_china, "https://login.chinacloudapi.cn/"},
          Cloud{AuthorityHosts::azure_government, "https://login.microsoftonline.us/"}}) {
      CAPTURE(c.url);
      testing::Platform p;
      p.files().set(path, azid_test::registered_cert().pem);
      p.transport().push(200, ok_body);
      CertificateCredentialOptions o;
      o.authority_host = std::string(c.host);
      Cred cred(tenant, client, path, o, p);
      CHECK(cred.authority() + "/" == c.url);
      (void)cred.get_token(scope());
      const auto r = p.transport().requests().at(0);
      const std::string endpoint = std::string(c.url) + tenant + "/oauth2/v2.0/token";
      CHECK(r.url == endpoint);
      CHECK(detail::json_string_member(*detail::jwt_payload(assertion_of(r)), "aud") == endpoint);
    }
  }
}
