// Internal: key generation, certificates and JWS for the emulator (OpenSSL 3).
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace azid_emulator::detail {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct X509Deleter {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

/// Throws std::runtime_error carrying OpenSSL's queued error text.
[[noreturn]] void throw_openssl(std::string_view what);

std::string random_bytes(std::size_t n);
/// RFC 4122 version-4 UUID in lowercase 8-4-4-4-12 form.
std::string make_uuid();

std::string base64url_encode(std::string_view data);
/// Accepts base64url without padding (and tolerates '=' padding); false on invalid input.
bool base64url_decode(std::string_view text, std::string& out);

PkeyPtr generate_ec_p256();
PkeyPtr generate_rsa(int bits);

/// PEM text of a public key (SubjectPublicKeyInfo) or certificate.
std::string public_key_pem(EVP_PKEY* key);
std::string certificate_pem(X509* cert);

struct Validity {
  std::chrono::seconds not_before_offset;  // relative to now
  std::chrono::seconds not_after_offset;
};

/// A self-signed CA certificate for `key`.
X509Ptr make_ca_certificate(EVP_PKEY* key, std::string_view common_name, Validity validity);

/// A server (leaf) certificate for `key`, signed by the CA, with IP SANs for IP literals in
/// `names` and DNS SANs for the rest.
X509Ptr make_server_certificate(EVP_PKEY* key, X509* ca_cert, EVP_PKEY* ca_key,
                                const std::vector<std::string>& names, Validity validity);

/// RSASSA-PKCS1-v1_5 with SHA-256 (JWS "RS256").
std::string rs256_sign(EVP_PKEY* key, std::string_view data);
bool rs256_verify(EVP_PKEY* key, std::string_view data, std::string_view signature);

/// Big-endian modulus and exponent of an RSA key (for a JWKS document).
void rsa_public_numbers(EVP_PKEY* key, std::string& n, std::string& e);

/// A short stable identifier of the public key: base64url of the first 15 bytes of
/// SHA-256(SubjectPublicKeyInfo DER).
std::string key_id(EVP_PKEY* key);

}  // namespace azid_emulator::detail
