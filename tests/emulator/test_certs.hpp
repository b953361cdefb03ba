// Test certificates generated in-process with OpenSSL: an RSA-2048 key with a self-signed
// certificate in every shape CertificateCredential reads (PEM, encrypted PEM, PKCS#12 with and
// without password) and the broken shapes it must refuse. Nothing is committed to the repo.
#pragma once

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace azid_test {

/// One identity: a key, its certificate, and encodings of both.
struct TestCert {
  std::string password = "p@ss w0rd!";
  std::string cert_pem;            ///< certificate only
  std::string key_pem;             ///< unencrypted PKCS#8 key only
  std::string pem;                 ///< key + certificate
  std::string encrypted_pem;       ///< key encrypted with `password` + certificate
  std::string pkcs12;              ///< key + certificate, protected by `password`
  std::string pkcs12_no_password;  ///< key + certificate, empty password
  std::string pkcs12_no_key;       ///< certificate only, protected by `password`
  /// key + certificate + one more (CA) certificate, as OpenSSL 1.x wrote PKCS#12: certificates
  /// under RC2-40 (OpenSSL 3 reads that only with its legacy provider), key under 3DES, SHA-1 MAC
  std::string pkcs12_legacy;
  std::string legacy_ca_der;  ///< the extra certificate in pkcs12_legacy, DER
  std::string der;            ///< the certificate's DER
};

namespace certs_detail {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct P12Free {
  void operator()(PKCS12* p) const noexcept { PKCS12_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

inline void check(bool ok, const char* what) {
  if (!ok) {
    ERR_clear_error();
    throw std::runtime_error(std::string("test certificate generation failed: ") + what);
  }
}

inline std::string drain(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

inline X509Ptr self_signed(EVP_PKEY* key, const char* cn) {
  X509Ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  static std::atomic<long> serial{1000};
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * 30);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  check(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");
  check(X509_sign(cert.get(), key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

inline std::string cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  return drain(bio.get());
}

inline std::string key_pem(EVP_PKEY* key, const std::string* password) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  const EVP_CIPHER* cipher = password ? EVP_aes_256_cbc() : nullptr;
  check(bio && PEM_write_bio_PKCS8PrivateKey(
                   bio.get(), key, cipher, password ? password->c_str() : nullptr,
                   password ? static_cast<int>(password->size()) : 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PKCS8PrivateKey");
  return drain(bio.get());
}

inline std::string pkcs12(EVP_PKEY* key, X509* cert, const char* password) {
  std::unique_ptr<PKCS12, P12Free> p12(
      PKCS12_create(password, "azid test", key, cert, nullptr, 0, 0, 0, 0, 0));
  check(p12 != nullptr, "PKCS12_create");
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && i2d_PKCS12_bio(bio.get(), p12.get()) == 1, "i2d_PKCS12_bio");
  return drain(bio.get());
}

inline std::string pkcs12_legacy(EVP_PKEY* key, X509* cert, X509* extra, const char* password) {
  // The writer needs RC2 too: a private library context with the legacy provider.
  static OSSL_LIB_CTX* const legacy = [] {
    OSSL_LIB_CTX* c = OSSL_LIB_CTX_new();
    check(c != nullptr && OSSL_PROVIDER_load(c, "default") != nullptr &&
              OSSL_PROVIDER_load(c, "legacy") != nullptr,
          "loading OpenSSL's legacy provider (libssl3's ossl-modules/legacy.so)");
    return c;
  }();
  STACK_OF(X509)* ca = sk_X509_new_null();
  check(ca != nullptr && sk_X509_push(ca, extra) > 0, "sk_X509_push");
  std::unique_ptr<PKCS12, P12Free> p12(PKCS12_create_ex(
      password, "azid legacy", key, cert, ca, NID_pbe_WithSHA1And3_Key_TripleDES_CBC,
      NID_pbe_WithSHA1And40BitRC2_CBC, 2048, 1, 0, legacy, nullptr));
  sk_X509_free(ca);
  check(p12 != nullptr, "PKCS12_create_ex (legacy)");
  check(PKCS12_set_mac(p12.get(), password, -1, nullptr, 0, 2048, EVP_sha1()) == 1,
        "PKCS12_set_mac");
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && i2d_PKCS12_bio(bio.get(), p12.get()) == 1, "i2d_PKCS12_bio");
  return drain(bio.get());
}

inline TestCert make_rsa(const char* cn) {
  PkeyPtr key(EVP_RSA_gen(2048));
  check(key != nullptr, "EVP_RSA_gen");
  X509Ptr cert = self_signed(key.get(), cn);
  TestCert t;
  t.cert_pem = cert_pem(cert.get());
  t.key_pem = key_pem(key.get(), nullptr);
  t.pem = t.key_pem + t.cert_pem;
  t.encrypted_pem = key_pem(key.get(), &t.password) + t.cert_pem;
  t.pkcs12 = pkcs12(key.get(), cert.get(), t.password.c_str());
  t.pkcs12_no_password = pkcs12(key.get(), cert.get(), "");
  t.pkcs12_no_key = pkcs12(nullptr, cert.get(), t.password.c_str());
  {
    PkeyPtr other_key(EVP_RSA_gen(2048));
    check(other_key != nullptr, "EVP_RSA_gen");
    X509Ptr other = self_signed(other_key.get(), "azid legacy CA");
    t.pkcs12_legacy = pkcs12_legacy(key.get(), cert.get(), other.get(), t.password.c_str());
    unsigned char* d = nullptr;
    const int n = i2d_X509(other.get(), &d);
    check(n > 0, "i2d_X509");
    t.legacy_ca_der.assign(reinterpret_cast<const char*>(d), static_cast<std::size_t>(n));
    OPENSSL_free(d);
  }
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert.get(), &der);
  check(len > 0, "i2d_X509");
  t.der.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return t;
}

}  // namespace certs_detail

/// The certificate an app registers (generated once per test run).
inline const TestCert& registered_cert() {
  static const TestCert c = certs_detail::make_rsa("azid registered");
  return c;
}
/// Another valid certificate that no app registers.
inline const TestCert& unregistered_cert() {
  static const TestCert c = certs_detail::make_rsa("azid stranger");
  return c;
}

/// An EC P-256 key with its certificate, as one PEM.
inline const std::string& ec_pem() {
  static const std::string pem = [] {
    certs_detail::PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    certs_detail::check(key != nullptr, "EC keygen");
    auto cert = certs_detail::self_signed(key.get(), "azid ec");
    return certs_detail::key_pem(key.get(), nullptr) + certs_detail::cert_pem(cert.get());
  }();
  return pem;
}

/// A fresh directory under the system temp dir, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("azid-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Writes `content` to `name` in this directory and returns its path.
  std::string write(const std::string& name, const std::string& content) const {
    const auto p = path_ / name;
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    return p.string();
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace azid_test
