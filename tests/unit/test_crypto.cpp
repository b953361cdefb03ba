// Certificate loading (PEM, encrypted PEM, PKCS#12), thumbprints and client assertion JWTs.
#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <chrono>
#include <string>

#include "../emulator/test_certs.hpp"
#include "azid/detail/base64.hpp"
#include "azid/detail/crypto.hpp"
#include "azid/detail/token_json.hpp"

using namespace azid;
using namespace azid::detail;

namespace {

std::string sha(const EVP_MD* md, const std::string& data) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), buf, &len, md, nullptr);
  return std::string(reinterpret_cast<const char*>(buf), len);
}

// Verifies a JWS signature with the public key of a PEM certificate.
bool verify(const std::string& cert_pem, bool pss, std::string_view input, const std::string& sig) {
  BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EVP_PKEY* key = X509_get_pubkey(cert);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, key) == 1;
  if (pss)
    ok = ok && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                              reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  X509_free(cert);
  ERR_clear_error();
  return ok;
}

std::string load_error(const std::string& data, const std::string& password = {}) {
  CertificateMaterial m;
  std::string error;
  if (load_certificate(data, password, m, error)) return "loaded";
  CHECK(m.empty());
  return error;
}

}  // namespace

TEST_SUITE("crypto") {
  TEST_CASE("every supported encoding loads the same certificate with its thumbprints") {
    const auto& c = azid_test::registered_cert();
    struct Case {
      const char* what;
      std::string data;
      std::string password;
    };
    const Case cases[] = {{"PEM", c.pem, ""},
                          {"PEM with certificate before key", c.cert_pem + c.key_pem, ""},
                          {"PEM after some text", "subject=CN = azid\n" + c.pem, ""},
                          {"encrypted PEM", c.encrypted_pem, c.password},
                          {"PKCS#12 with password", c.pkcs12, c.password},
                          {"PKCS#12 without password", c.pkcs12_no_password, ""}};
    for (const auto& k : cases) {
      CAPTURE(k.what);
      CertificateMaterial m;
      std::string error;
      REQUIRE_MESSAGE(load_certificate(k.data, k.password, m, error), error);
      CHECK(m.thumbprint_sha1() == sha(EVP_sha1(), c.der));
      CHECK(m.thumbprint_sha256() == sha(EVP_sha256(), c.der));
      REQUIRE(m.chain_der().size() == 1);
      CHECK(m.chain_der()[0] == c.der);
    }
  }

  TEST_CASE("unusable certificate data gets a clear reason and never the password") {
    const auto& c = azid_test::registered_cert();
    CHECK(load_error(c.encrypted_pem, "wrong password").find("does not decrypt (wrong password?)") != std::string::npos);
    CHECK(load_error(c.encrypted_pem).find("no password was given") != std::string::npos);
    CHECK(load_error(c.pkcs12, "wrong password").find("wrong password?") != std::string::npos);
    CHECK(load_error(c.pkcs12).find("no password was given") != std::string::npos);
    CHECK(load_error(c.cert_pem).find("contains no private key") != std::string::npos);
    CHECK(load_error(c.key_pem).find("PEM file does not contain certificate.") != std::string::npos);
    CHECK(load_error(c.pkcs12_no_key, c.password).find("Your PFX file shall contain both private key and cert") !=
          std::string::npos);
    CHECK(load_error(azid_test::ec_pem()).find("ECDSA private keys are not supported") != std::string::npos);
    CHECK(load_error("this is not a certificate").find("Failed to deserialize certificate in PEM or PKCS12 format") !=
          std::string::npos);
    CHECK(load_error(c.pkcs12.substr(0, c.pkcs12.size() / 2), c.password).find("PKCS") != std::string::npos);
    CHECK(load_error("").find("is empty") != std::string::npos);
    CHECK(load_error(std::string(max_certificate_bytes + 1, 'A')).find("larger than") != std::string::npos);
    CHECK(load_error(azid_test::unregistered_cert().key_pem + c.cert_pem).find("belongs to none") != std::string::npos);
    CHECK(load_error(c.pkcs12, "Sup3r$ecret").find("Sup3r$ecret") == std::string::npos);
  }

  TEST_CASE("an RS256 assertion names the certificate by x5t and carries the spec's claims") {
    const auto& c = azid_test::registered_cert();
    CertificateMaterial m;
    std::string error;
    REQUIRE(load_certificate(c.pem, "", m, error));
    AssertionParams p;
    p.client_id = "client-1";
    p.audience = "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token";
    p.now = std::chrono::system_clock::time_point{std::chrono::seconds{1'700'000'000}};
    const std::string jwt = make_client_assertion(m, p, error);
    REQUIRE(!jwt.empty());
    const auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
    const std::string header = *base64_decode(jwt.substr(0, d1));
    const std::string payload = *jwt_payload(jwt);
    CHECK(json_string_member(header, "alg") == "RS256");
    CHECK(json_string_member(header, "typ") == "JWT");
    CHECK(json_string_member(header, "x5t") == base64_encode(sha(EVP_sha1(), c.der), true));
    CHECK(header.find("x5t#S256") == std::string::npos);
    CHECK(header.find("x5c") == std::string::npos);
    CHECK(json_string_member(payload, "aud") == std::string(p.audience));
    CHECK(json_string_member(payload, "iss") == "client-1");
    CHECK(json_string_member(payload, "sub") == "client-1");
    CHECK(json_string_member(payload, "jti")->size() == 36);
    CHECK(payload.find("\"nbf\":1700000000") != std::string::npos);
    CHECK(payload.find("\"iat\":1700000000") != std::string::npos);
    CHECK(payload.find("\"exp\":1700000600") != std::string::npos);
    CHECK(verify(c.cert_pem, false, std::string_view(jwt).substr(0, d2), *base64_decode(jwt.substr(d2 + 1))));
    CHECK_FALSE(verify(azid_test::unregistered_cert().cert_pem, false, std::string_view(jwt).substr(0, d2),
                       *base64_decode(jwt.substr(d2 + 1))));
  }

  TEST_CASE("PS256 uses x5t#S256 and a PSS signature; x5c carries the chain in standard base64") {
    const auto& c = azid_test::registered_cert();
    CertificateMaterial m;
    std::string error;
    REQUIRE(load_certificate(c.pkcs12, c.password, m, error));
    AssertionParams p;
    p.client_id = "client-1";
    p.audience = "https://aud";
    p.now = std::chrono::system_clock::now();
    p.alg = JwsAlgorithm::ps256;
    p.send_certificate_chain = true;
    const std::string jwt = make_client_assertion(m, p, error);
    const auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
    const std::string header = *base64_decode(jwt.substr(0, d1));
    CHECK(json_string_member(header, "alg") == "PS256");
    CHECK(json_string_member(header, "x5t#S256") == base64_encode(sha(EVP_sha256(), c.der), true));
    CHECK(header.find("\"x5t\"") == std::string::npos);
    CHECK(header.find("\"x5c\":[" + json_quote(base64_encode(c.der, false)) + "]") != std::string::npos);
    const std::string sig = *base64_decode(jwt.substr(d2 + 1));
    CHECK(verify(c.cert_pem, true, std::string_view(jwt).substr(0, d2), sig));
    CHECK_FALSE(verify(c.cert_pem, false, std::string_view(jwt).substr(0, d2), sig));
  }
}
