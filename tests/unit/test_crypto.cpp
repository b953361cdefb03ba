// Certificate loading (PEM, encrypted PEM, PKCS#12), thumbprints and client assertion JWTs.
#include <doctest/doctest.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <openssl/pkcs12.h>
#include <openssl/provider.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "../emulator/test_certs.hpp"
#include "azid/detail/base64.hpp"
#include "azid/detail/crypto.hpp"
#include "azid/detail/entra.hpp"
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
  ok = ok &&
       EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
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

namespace cd = azid_test::certs_detail;

cd::PkeyPtr key_of(const azid_test::TestCert& c) {
  cd::BioPtr bio(BIO_new_mem_buf(c.key_pem.data(), static_cast<int>(c.key_pem.size())));
  return cd::PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}
cd::X509Ptr cert_of(const azid_test::TestCert& c) {
  cd::BioPtr bio(BIO_new_mem_buf(c.cert_pem.data(), static_cast<int>(c.cert_pem.size())));
  return cd::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// A library context with OpenSSL's legacy provider, for writing what only it encrypts.
OSSL_LIB_CTX* test_legacy_context() {
  static OSSL_LIB_CTX* const legacy = [] {
    OSSL_LIB_CTX* c = OSSL_LIB_CTX_new();
    cd::check(c != nullptr && OSSL_PROVIDER_load(c, "default") != nullptr &&
                  OSSL_PROVIDER_load(c, "legacy") != nullptr,
              "loading OpenSSL's legacy provider");
    return c;
  }();
  return legacy;
}

// The key written with a cipher only OpenSSL's legacy provider has: `traditional` as
// `openssl rsa -des` does (DEK-Info: DES-CBC), otherwise PKCS#8 under PBES1 RC2-40.
std::string legacy_key_pem(EVP_PKEY* key, const std::string& password, bool traditional) {
  OSSL_LIB_CTX* const legacy = test_legacy_context();
  OSSL_LIB_CTX* previous = OSSL_LIB_CTX_set0_default(legacy);
  cd::BioPtr bio(BIO_new(BIO_s_mem()));
  auto* pw = reinterpret_cast<unsigned char*>(const_cast<char*>(password.data()));
  const int n = static_cast<int>(password.size());
  EVP_CIPHER* des = traditional ? EVP_CIPHER_fetch(legacy, "DES-CBC", nullptr) : nullptr;
  const bool ok =
      traditional
          ? des != nullptr && PEM_write_bio_PrivateKey_traditional(bio.get(), key, des, pw, n,
                                                                   nullptr, nullptr) == 1
          : PEM_write_bio_PKCS8PrivateKey_nid(bio.get(), key, NID_pbe_WithSHA1And40BitRC2_CBC,
                                              password.c_str(), n, nullptr, nullptr) == 1;
  EVP_CIPHER_free(des);
  OSSL_LIB_CTX_set0_default(previous);
  cd::check(ok, "writing a legacy-encrypted key");
  return cd::drain(bio.get());
}

// PKCS#12 with no integrity MAC (openssl pkcs12 -export -nomac); bags encrypted under
// `password`, or not at all when it is null.
std::string pkcs12_without_mac(EVP_PKEY* key, X509* cert, const char* password) {
  const int nid = password ? 0 : -1;  // 0: the default (AES-256), -1: no encryption
  std::unique_ptr<PKCS12, cd::P12Free> p12(
      PKCS12_create(password, "azid nomac", key, cert, nullptr, nid, nid, 0, -1, 0));
  cd::check(p12 != nullptr && PKCS12_mac_present(p12.get()) == 0, "PKCS12_create without MAC");
  cd::BioPtr bio(BIO_new(BIO_s_mem()));
  cd::check(bio && i2d_PKCS12_bio(bio.get(), p12.get()) == 1, "i2d_PKCS12_bio");
  return cd::drain(bio.get());
}

std::string der_of(PKCS12* p12) {
  cd::BioPtr bio(BIO_new(BIO_s_mem()));
  cd::check(bio && i2d_PKCS12_bio(bio.get(), p12) == 1, "i2d_PKCS12_bio");
  return cd::drain(bio.get());
}

// Gives an encrypted key (PBES2 with PBKDF2) another iteration count without deriving anything:
// the key still opens only with the old count, so a reader that derives it fails, slowly.
void set_pbkdf2_iterations(const X509_SIG* sig, long iterations) {
  const X509_ALGOR* alg = nullptr;
  X509_SIG_get0(sig, &alg, nullptr);
  const ASN1_OBJECT* obj = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&obj, &ptype, &pval, alg);
  cd::check(OBJ_obj2nid(obj) == NID_pbes2 && ptype == V_ASN1_SEQUENCE, "a PBES2 key");
  auto* pbe2 = static_cast<PBE2PARAM*>(
      ASN1_item_unpack(static_cast<const ASN1_STRING*>(pval), ASN1_ITEM_rptr(PBE2PARAM)));
  cd::check(pbe2 != nullptr, "PBE2PARAM");
  auto* k = static_cast<PBKDF2PARAM*>(
      ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter));
  const bool ok =
      k != nullptr && ASN1_INTEGER_set(k->iter, iterations) == 1 &&
      ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), k, &pbe2->keyfunc->parameter) != nullptr;
  PBKDF2PARAM_free(k);
  ASN1_STRING* packed = ok ? ASN1_item_pack(pbe2, ASN1_ITEM_rptr(PBE2PARAM), nullptr) : nullptr;
  PBE2PARAM_free(pbe2);
  cd::check(
      packed != nullptr && X509_ALGOR_set0(const_cast<X509_ALGOR*>(alg), OBJ_nid2obj(NID_pbes2),
                                           V_ASN1_SEQUENCE, packed) == 1,
      "setting the iteration count");
}

// A PKCS#12 file with one safe, encrypted with `safe_nid` under `password` (2,048 iterations),
// holding the certificate and the key; the key asks for `key_iterations` (set_pbkdf2_iterations).
// A MAC under `password` unless `mac` is false.
std::string pkcs12_sealed(EVP_PKEY* key, X509* cert, const char* password, long key_iterations,
                          int safe_nid, bool mac) {
  STACK_OF(PKCS12_SAFEBAG)* bags = nullptr;
  cd::check(PKCS12_add_cert(&bags, cert) != nullptr, "PKCS12_add_cert");
  PKCS12_SAFEBAG* key_bag = PKCS12_add_key(&bags, key, 0, 2048, NID_aes_256_cbc, password);
  cd::check(key_bag != nullptr, "PKCS12_add_key");
  set_pbkdf2_iterations(PKCS12_SAFEBAG_get0_pkcs8(key_bag), key_iterations);
  STACK_OF(PKCS7)* safes = nullptr;
  const bool added = PKCS12_add_safe_ex(&safes, bags, safe_nid, 2048, password,
                                        test_legacy_context(), nullptr) == 1;
  sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
  std::unique_ptr<PKCS12, cd::P12Free> p12(added ? PKCS12_add_safes(safes, 0) : nullptr);
  sk_PKCS7_pop_free(safes, PKCS7_free);
  cd::check(p12 != nullptr, "PKCS12_add_safes");
  if (mac)
    cd::check(PKCS12_set_mac(p12.get(), password, -1, nullptr, 0, 2048, nullptr) == 1,
              "PKCS12_set_mac");
  return der_of(p12.get());
}

// `p12` with its MAC algorithm made PBMAC1 (RFC 9579): PBKDF2-HMAC-SHA-256 with `iterations`
// and a `key_length`-byte key, then HMAC-SHA-256. MacData keeps its own count, which PBMAC1
// ignores. The MAC itself is computed (one derivation) only when `compute` is set.
std::string with_pbmac1(PKCS12* p12, const char* password, int iterations, int key_length,
                        bool compute) {
  unsigned char salt[16] = {'a', 'z', 'i', 'd', ' ', 'p', 'b', 'm',
                            'a', 'c', '1', ' ', 's', 'a', 'l', 't'};
  STACK_OF(X509_ALGOR)* params = sk_X509_ALGOR_new_null();
  X509_ALGOR* kdf = PKCS5_pbkdf2_set(iterations, salt, sizeof salt, NID_hmacWithSHA256, key_length);
  X509_ALGOR* hmac = X509_ALGOR_new();
  cd::check(params != nullptr && kdf != nullptr && hmac != nullptr &&
                X509_ALGOR_set0(hmac, OBJ_nid2obj(NID_hmacWithSHA256), V_ASN1_NULL, nullptr) == 1 &&
                sk_X509_ALGOR_push(params, kdf) > 0 && sk_X509_ALGOR_push(params, hmac) > 0,
            "PBMAC1 parameters");  // params owns both from here
  unsigned char* der = nullptr;
  const int der_len = i2d_X509_ALGORS(params, &der);
  sk_X509_ALGOR_pop_free(params, X509_ALGOR_free);
  ASN1_STRING* seq = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
  const bool packed = der_len > 0 && seq != nullptr && ASN1_STRING_set(seq, der, der_len) == 1;
  OPENSSL_free(der);
  const X509_ALGOR* mac_alg = nullptr;
  const ASN1_OCTET_STRING* mac = nullptr;
  PKCS12_get0_mac(&mac, &mac_alg, nullptr, nullptr, p12);
  cd::check(packed && mac_alg != nullptr &&
                X509_ALGOR_set0(const_cast<X509_ALGOR*>(mac_alg), OBJ_nid2obj(NID_pbmac1),
                                V_ASN1_SEQUENCE, seq) == 1,
            "setting PBMAC1");
  if (compute) {
    // The MAC covers the content of the authenticated safe, as encoded.
    STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(p12);
    unsigned char* content = nullptr;
    const int content_len = ASN1_item_i2d(reinterpret_cast<ASN1_VALUE*>(safes), &content,
                                          ASN1_ITEM_rptr(PKCS12_AUTHSAFES));
    sk_PKCS7_pop_free(safes, PKCS7_free);
    unsigned char key[32];
    unsigned char out[EVP_MAX_MD_SIZE];
    std::size_t out_len = 0;
    const bool ok =
        content_len > 0 && key_length == static_cast<int>(sizeof key) &&
        PKCS5_PBKDF2_HMAC(password, -1, salt, sizeof salt, iterations, EVP_sha256(), sizeof key,
                          key) == 1 &&
        EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key, sizeof key, content,
                  static_cast<std::size_t>(content_len), out, sizeof out, &out_len) != nullptr &&
        ASN1_OCTET_STRING_set(const_cast<ASN1_OCTET_STRING*>(mac), out,
                              static_cast<int>(out_len)) == 1;
    OPENSSL_free(content);
    cd::check(ok, "computing the PBMAC1 MAC");
  }
  return der_of(p12);
}

}  // namespace

TEST_SUITE("crypto") {
  TEST_CASE("a process forked after ids were drawn does not repeat its parent's ids") {
    (void)new_uuid();  // the parent has drawn before forking
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      const std::string u = new_uuid();
      const ssize_t w = ::write(fds[1], u.data(), u.size());
      ::_exit(w == static_cast<ssize_t>(u.size()) ? 0 : 1);
    }
    ::close(fds[1]);
    const std::string mine = new_uuid();
    char buf[64] = {};
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(n == 36);
    CHECK(std::string(buf, 36) != mine);
  }

  TEST_CASE("keys under legacy ciphers and PKCS#12 files without a MAC load with their password") {
    const auto& c = azid_test::registered_cert();
    auto key = key_of(c);
    auto cert = cert_of(c);
    REQUIRE(key != nullptr);
    REQUIRE(cert != nullptr);
    const std::string pw = "s3cret pass";
    struct Case {
      std::string what;
      std::string data;
      std::string password;
    };
    const Case cases[] = {
        {"PEM, DES-CBC (openssl rsa -des)", legacy_key_pem(key.get(), pw, true) + c.cert_pem, pw},
        {"PEM, PKCS#8 PBES1 RC2-40", legacy_key_pem(key.get(), pw, false) + c.cert_pem, pw},
        {"PKCS#12 without MAC, with password",
         pkcs12_without_mac(key.get(), cert.get(), pw.c_str()), pw},
        {"PKCS#12 without MAC or password", pkcs12_without_mac(key.get(), cert.get(), nullptr), ""},
    };
    for (const auto& k : cases) {
      CAPTURE(k.what);
      CertificateMaterial m;
      std::string error;
      REQUIRE_MESSAGE(load_certificate(k.data, k.password, m, error), error);
      CHECK(m.thumbprint_sha1() == sha(EVP_sha1(), c.der));
      std::string sign_error;
      CHECK_FALSE(m.sign(JwsAlgorithm::rs256, "header.payload", sign_error).empty());
    }
    // A wrong password is still called one.
    CHECK(load_error(cases[0].data, "not it").find("(wrong password?") != std::string::npos);
    CHECK(load_error(cases[2].data, "not it").find("(wrong password?") != std::string::npos);
    CHECK(load_error(cases[2].data, "not it").find("not it") == std::string::npos);
    ERR_clear_error();
  }

  TEST_CASE("a certificate block that does not decode is an error, not the end of the file") {
    const auto& c = azid_test::registered_cert();
    const auto& other = azid_test::unregistered_cert();
    const std::string broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    // Before the signing certificate (it used to report "no certificate"), and between two
    // good ones (it used to drop the third from x5c without a word).
    CHECK(load_error(c.key_pem + broken + c.cert_pem).find("Failed to read X509 section.") !=
          std::string::npos);
    CHECK(load_error(c.pem + broken + other.cert_pem).find("Failed to read X509 section.") !=
          std::string::npos);
    const std::string truncated = c.key_pem + "-----BEGIN CERTIFICATE-----\nMIIB\n";
    CHECK(load_error(truncated).find("could not be read") != std::string::npos);
    CertificateMaterial m;
    std::string error;
    REQUIRE(load_certificate(c.pem + other.cert_pem, "", m, error));
    CHECK(m.chain_der().size() == 2);
  }

  TEST_CASE("loading leaves errors the caller had queued with OpenSSL in place") {
    const auto& c = azid_test::registered_cert();
    ERR_clear_error();
    ERR_raise(ERR_LIB_USER, 42);
    const unsigned long mine = ERR_peek_last_error();
    REQUIRE(mine != 0);
    CHECK(load_error(c.pem) == "loaded");
    CHECK(ERR_peek_last_error() == mine);
    CHECK(load_error(c.encrypted_pem, "wrong") != "loaded");
    CHECK(ERR_peek_last_error() == mine);
    CHECK(ERR_peek_error() == mine);
    ERR_clear_error();
  }

  TEST_CASE("request ids and jti are version-4 UUIDs, distinct across calls and threads") {
    auto well_formed = [](const std::string& u) {
      if (u.size() != 36) return false;
      for (std::size_t i = 0; i < u.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash != (u[i] == '-')) return false;
        if (!dash && !((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f'))) return false;
      }
      return u[14] == '4' && (u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');
    };
    std::set<std::string> seen;
    for (int i = 0; i < 2000; ++i) {
      const std::string u = new_uuid();
      CHECK_MESSAGE(well_formed(u), u);
      seen.insert(u);
    }
    std::vector<std::string> other(2000);
    std::thread([&] {
      for (auto& u : other) u = new_uuid();
    }).join();
    for (const auto& u : other) seen.insert(u);
    CHECK(seen.size() == 4000);  // no repeat within a thread, and threads do not share a sequence
  }

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

  TEST_CASE(
      "PKCS#12 encrypted with RC2 (OpenSSL 1.x, older Windows exports) is read in a private "
      "context") {
    const auto& c = azid_test::registered_cert();
    CertificateMaterial m;
    std::string error;
    REQUIRE_MESSAGE(load_certificate(c.pkcs12_legacy, c.password, m, error), error);
    CHECK(m.thumbprint_sha1() == sha(EVP_sha1(), c.der));
    REQUIRE(m.chain_der().size() == 2);
    CHECK(m.chain_der()[0] == c.der);
    CHECK(m.chain_der()[1] == c.legacy_ca_der);
    std::string sign_error;
    CHECK_FALSE(m.sign(JwsAlgorithm::rs256, "header.payload", sign_error).empty());
    CHECK(sign_error.empty());
    // The application's default context was not widened: RC2 is still not available there.
    EVP_CIPHER* rc2 = EVP_CIPHER_fetch(nullptr, "RC2-40-CBC", nullptr);
    CHECK(rc2 == nullptr);
    EVP_CIPHER_free(rc2);
    ERR_clear_error();
    CHECK(load_error(c.pkcs12_legacy, "wrong password").find("wrong password?") !=
          std::string::npos);
  }

  TEST_CASE("unusable certificate data gets a clear reason and never the password") {
    const auto& c = azid_test::registered_cert();
    CHECK(
        load_error(c.encrypted_pem, "wrong password").find("does not decrypt (wrong password?)") !=
        std::string::npos);
    CHECK(load_error(c.encrypted_pem).find("no password was given") != std::string::npos);
    CHECK(load_error(c.pkcs12, "wrong password").find("wrong password?") != std::string::npos);
    CHECK(load_error(c.pkcs12).find("no password was given") != std::string::npos);
    CHECK(load_error(c.cert_pem).find("contains no private key") != std::string::npos);
    CHECK(load_error(c.key_pem).find("PEM file does not contain certificate.") !=
          std::string::npos);
    CHECK(load_error(c.pkcs12_no_key, c.password)
              .find("Your PFX file shall contain both private key and cert") != std::string::npos);
    // The spec's sentence, for an EC key and for any other kind.
    const std::string rsa_only =
        "The certificate must have an RSA private key because RS256 is used for signing";
    CHECK(
        load_error(azid_test::ec_pem()).find("ECDSA private keys are not supported. " + rsa_only) !=
        std::string::npos);
    cd::PkeyPtr ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    REQUIRE(ed != nullptr);
    CHECK(load_error(cd::key_pem(ed.get(), nullptr) + c.cert_pem)
              .find("has an unsupported private key type. " + rsa_only) != std::string::npos);
    CHECK(load_error("this is not a certificate")
              .find("Failed to deserialize certificate in PEM or PKCS12 format") !=
          std::string::npos);
    CHECK(load_error(c.pkcs12.substr(0, c.pkcs12.size() / 2), c.password).find("PKCS") !=
          std::string::npos);
    CHECK(load_error("").find("is empty") != std::string::npos);
    CHECK(load_error(std::string(max_certificate_bytes + 1, 'A')).find("larger than") !=
          std::string::npos);
    CHECK(load_error(azid_test::unregistered_cert().key_pem + c.cert_pem).find("belongs to none") !=
          std::string::npos);
    CHECK(load_error(c.pkcs12, "Sup3r$ecret").find("Sup3r$ecret") == std::string::npos);
  }

  TEST_CASE("a key inside an encrypted PKCS#12 safe is counted before it is derived") {
    // Whoever knows the password opens the safe, and for a file without one that is everyone.
    const auto& c = azid_test::registered_cert();
    auto key = key_of(c);
    auto cert = cert_of(c);
    REQUIRE(key != nullptr);
    REQUIRE(cert != nullptr);
    struct Case {
      std::string what;
      const char* password;
      int safe_nid;
      bool mac;
    };
    const Case cases[] = {
        {"AES-256 safe, empty password", "", NID_aes_256_cbc, true},
        {"RC2 safe (the legacy context opens it)", c.password.c_str(),
         NID_pbe_WithSHA1And40BitRC2_CBC, true},
        // PKCS#12's own derivation tells no password from "": the safe opens only to none.
        {"3DES safe, no password, no MAC", nullptr, NID_pbe_WithSHA1And3_Key_TripleDES_CBC, false},
    };
    for (const auto& k : cases) {
      CAPTURE(k.what);
      const std::string password = k.password != nullptr ? k.password : "";
      CHECK(
          load_error(pkcs12_sealed(key.get(), cert.get(), k.password, 2'500'000, k.safe_nid, k.mac),
                     password)
              .find("asks for 2500000 key-derivation iterations") != std::string::npos);
      // The same file with a usual count loads.
      CHECK(load_error(pkcs12_sealed(key.get(), cert.get(), k.password, 2048, k.safe_nid, k.mac),
                       password) == "loaded");
    }
    ERR_clear_error();
  }

  TEST_CASE("an ENCRYPTED PRIVATE KEY block whose count cannot be read is refused, not derived") {
    const auto& c = azid_test::registered_cert();
    auto key = key_of(c);
    REQUIRE(key != nullptr);
    // The PKCS#8 structure encrypted once more under Proc-Type/DEK-Info headers: OpenSSL's
    // decoder takes off both layers with the same password, and the count is hidden until then.
    for (const std::string& password : {std::string(), c.password}) {
      PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(key.get());
      REQUIRE(p8 != nullptr);
      X509_SIG* sig = PKCS8_encrypt(-1, EVP_aes_256_cbc(), password.c_str(),
                                    static_cast<int>(password.size()), nullptr, 0, 2048, p8);
      PKCS8_PRIV_KEY_INFO_free(p8);
      REQUIRE(sig != nullptr);
      set_pbkdf2_iterations(sig, 2'500'000);
      cd::BioPtr bio(BIO_new(BIO_s_mem()));
      auto* pw = reinterpret_cast<unsigned char*>(const_cast<char*>(password.c_str()));
      const int written = PEM_ASN1_write_bio(
          reinterpret_cast<i2d_of_void*>(i2d_X509_SIG), PEM_STRING_PKCS8, bio.get(), sig,
          EVP_aes_128_cbc(), pw, static_cast<int>(password.size()), nullptr, nullptr);
      X509_SIG_free(sig);
      REQUIRE(written == 1);
      const std::string pem = cd::drain(bio.get());
      REQUIRE(pem.find("DEK-Info: AES-128-CBC") != std::string::npos);
      CHECK(load_error(pem + c.cert_pem, password).find("with Proc-Type/DEK-Info headers") !=
            std::string::npos);
    }
    // Not a PKCS#8 encrypted key at all (SEQUENCE { INTEGER 1 }).
    const std::string odd =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAMCAQE=\n-----END ENCRYPTED PRIVATE KEY-----\n";
    CHECK(load_error(odd + c.cert_pem, c.password).find("is not a PKCS#8 encrypted key") !=
          std::string::npos);
    ERR_clear_error();
  }

  TEST_CASE("a PKCS#12 MAC under PBMAC1 is counted by its own PBKDF2 parameters") {
    // OpenSSL 3.4 and later derive a PBMAC1 key (RFC 9579) with the PBKDF2 count inside the
    // algorithm and ignore MacData's; older releases cannot check such a MAC at all.
    const auto& c = azid_test::registered_cert();
    auto key = key_of(c);
    auto cert = cert_of(c);
    REQUIRE(key != nullptr);
    REQUIRE(cert != nullptr);
    auto pbmac1_file = [&](int iterations, int key_length, bool compute) {
      std::unique_ptr<PKCS12, cd::P12Free> p12(PKCS12_create(
          c.password.c_str(), "azid pbmac1", key.get(), cert.get(), nullptr, 0, 0, 0, 0, 0));
      REQUIRE(p12 != nullptr);
      return with_pbmac1(p12.get(), c.password.c_str(), iterations, key_length, compute);
    };
    const std::string usual = load_error(pbmac1_file(2048, 32, true), c.password);
    if (OpenSSL_version_num() >= 0x30400000L) {
      CHECK(usual == "loaded");
    } else {
      CHECK(usual.find("has a PBMAC1 integrity MAC (RFC 9579), which needs OpenSSL 3.4 or later") !=
            std::string::npos);
    }
    CHECK(load_error(pbmac1_file(2'500'000, 32, false), c.password)
              .find("asks for 2500000 key-derivation iterations") != std::string::npos);
    // A MAC key longer than any HMAC's.
    CHECK(load_error(pbmac1_file(2048, 1 << 20, false), c.password)
              .find("PBMAC1 integrity MAC whose parameters azid does not read") !=
          std::string::npos);
    ERR_clear_error();
  }

  TEST_CASE("a derivation is counted as often as a failed read may run it") {
    const auto& c = azid_test::registered_cert();
    auto key = key_of(c);
    REQUIRE(key != nullptr);
    // PEM with a password: OpenSSL's decoder, its older reader, then the legacy context's.
    PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(key.get());
    REQUIRE(p8 != nullptr);
    X509_SIG* sig = PKCS8_encrypt(-1, EVP_aes_256_cbc(), c.password.c_str(),
                                  static_cast<int>(c.password.size()), nullptr, 0, 2048, p8);
    PKCS8_PRIV_KEY_INFO_free(p8);
    REQUIRE(sig != nullptr);
    set_pbkdf2_iterations(sig, 1'900'000);
    cd::BioPtr bio(BIO_new(BIO_s_mem()));
    const bool written = bio && PEM_write_bio_PKCS8(bio.get(), sig) == 1;
    X509_SIG_free(sig);
    REQUIRE(written);
    const std::string block = cd::drain(bio.get());
    // Each such key is 5.7 million in all: four fit in the total, a fifth makes 28.5 million.
    CHECK(load_error(block + block + block + block + block + c.cert_pem, c.password)
              .find("asks for 28500000 key-derivation iterations in all") != std::string::npos);
    ERR_clear_error();
  }

  TEST_CASE("a key that cannot sign for its certificate is refused at load") {
    // Found by fuzz_certificate: a mangled encrypted key that still decoded, matched the
    // certificate's public half and then failed every signature.
    namespace cd = azid_test::certs_detail;
    const auto& c = azid_test::registered_cert();
    cd::PkeyPtr good;
    {
      cd::BioPtr bio(BIO_new_mem_buf(c.key_pem.data(), static_cast<int>(c.key_pem.size())));
      good.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    }
    REQUIRE(good != nullptr);
    // Same public half (so the key "belongs" to the certificate), damaged private exponents: the
    // CRT result fails OpenSSL's own check and its fallback with d then signs wrongly.
    const char* names[] = {OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
                           OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
                           OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
                           OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    std::vector<BIGNUM*> bns;
    for (const char* name : names) {
      BIGNUM* bn = nullptr;
      REQUIRE(EVP_PKEY_get_bn_param(good.get(), name, &bn) == 1);
      if (name == std::string_view(OSSL_PKEY_PARAM_RSA_D) ||
          name == std::string_view(OSSL_PKEY_PARAM_RSA_EXPONENT1))
        REQUIRE(BN_add_word(bn, 2) == 1);
      OSSL_PARAM_BLD_push_BN(bld, name, bn);
      bns.push_back(bn);
    }
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
    EVP_PKEY* raw = nullptr;
    REQUIRE(EVP_PKEY_fromdata_init(ctx) == 1);
    REQUIRE(EVP_PKEY_fromdata(ctx, &raw, EVP_PKEY_KEYPAIR, params) == 1);
    cd::PkeyPtr damaged(raw);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    for (BIGNUM* bn : bns) BN_clear_free(bn);
    CHECK(load_error(cd::key_pem(damaged.get(), nullptr) + c.cert_pem)
              .find("cannot sign for its certificate") != std::string::npos);

    cd::PkeyPtr pss;
    {
      EVP_PKEY_CTX* g = EVP_PKEY_CTX_new_from_name(nullptr, "RSA-PSS", nullptr);
      EVP_PKEY* k = nullptr;
      REQUIRE((g != nullptr && EVP_PKEY_keygen_init(g) == 1 &&
               EVP_PKEY_CTX_set_rsa_keygen_bits(g, 2048) == 1 && EVP_PKEY_generate(g, &k) == 1));
      pss.reset(k);
      EVP_PKEY_CTX_free(g);
    }
    const auto pss_cert = cd::self_signed(pss.get(), "azid pss");
    CHECK(load_error(cd::key_pem(pss.get(), nullptr) + cd::cert_pem(pss_cert.get()))
              .find("RSA-PSS-restricted") != std::string::npos);

    cd::PkeyPtr tiny(EVP_RSA_gen(512));
    REQUIRE(tiny != nullptr);
    const auto tiny_cert = cd::self_signed(tiny.get(), "azid tiny");
    CHECK(load_error(cd::key_pem(tiny.get(), nullptr) + cd::cert_pem(tiny_cert.get()))
              .find("shorter than 1024 bits") != std::string::npos);
    ERR_clear_error();
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
    CHECK(verify(c.cert_pem, false, std::string_view(jwt).substr(0, d2),
                 *base64_decode(jwt.substr(d2 + 1))));
    CHECK_FALSE(verify(azid_test::unregistered_cert().cert_pem, false,
                       std::string_view(jwt).substr(0, d2), *base64_decode(jwt.substr(d2 + 1))));
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
    CHECK(header.find("\"x5c\":[" + json_quote(base64_encode(c.der, false)) + "]") !=
          std::string::npos);
    const std::string sig = *base64_decode(jwt.substr(d2 + 1));
    CHECK(verify(c.cert_pem, true, std::string_view(jwt).substr(0, d2), sig));
    CHECK_FALSE(verify(c.cert_pem, false, std::string_view(jwt).substr(0, d2), sig));
  }
}
