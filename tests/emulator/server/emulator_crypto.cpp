#include "emulator_crypto.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <array>
#include <stdexcept>

namespace azid_emulator::detail {
namespace {

struct BioDeleter {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct BnDeleter {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct ExtDeleter {
  void operator()(X509_EXTENSION* p) const noexcept { X509_EXTENSION_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, ExtDeleter>;

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) throw_openssl("X509 extension " + value);
}

// Common skeleton of both certificates: version 3, a random positive serial, validity window,
// subject CN and public key. The issuer is set by the caller.
X509Ptr new_certificate(EVP_PKEY* key, std::string_view common_name, Validity validity) {
  X509Ptr cert(X509_new());
  if (!cert) throw_openssl("X509_new");
  X509_set_version(cert.get(), 2);
  std::string serial = random_bytes(16);
  serial[0] = static_cast<char>(serial[0] & 0x7f);  // keep the serial positive
  BnPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()),
                     static_cast<int>(serial.size()), nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())))
    throw_openssl("certificate serial");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()),
                  static_cast<long>(validity.not_before_offset.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                  static_cast<long>(validity.not_after_offset.count()));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("azid emulator"), -1, -1, 0);
  const std::string cn(common_name);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  if (X509_set_pubkey(cert.get(), key) != 1) throw_openssl("X509_set_pubkey");
  return cert;
}

}  // namespace

void throw_openssl(std::string_view what) {
  std::string message(what);
  message += ": ";
  bool any = false;
  while (const unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (any) message += "; ";
    message += buf;
    any = true;
  }
  if (!any) message += "unknown OpenSSL error";
  throw std::runtime_error(message);
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (n != 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw_openssl("RAND_bytes");
  return out;
}

std::string make_uuid() {
  std::string b = random_bytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    const auto byte = static_cast<unsigned char>(b[i]);
    out += hex[byte >> 4];
    out += hex[byte & 0x0f];
  }
  return out;
}

std::string base64url_encode(std::string_view data) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  const std::size_t rest = data.size() - i;
  if (rest == 1) {
    const unsigned v = static_cast<unsigned char>(data[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    const unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return false;
  unsigned acc = 0;
  int bits = 0;
  for (const char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    else
      return false;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return true;
}

PkeyPtr generate_ec_p256() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw_openssl("EC P-256 key generation");
  return key;
}

PkeyPtr generate_rsa(int bits) {
  PkeyPtr key(EVP_RSA_gen(static_cast<unsigned>(bits)));
  if (!key) throw_openssl("RSA key generation");
  return key;
}

std::string public_key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) throw_openssl("PEM_write_bio_PUBKEY");
  return bio_contents(bio.get());
}

std::string certificate_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) throw_openssl("PEM_write_bio_X509");
  return bio_contents(bio.get());
}

X509Ptr make_ca_certificate(EVP_PKEY* key, std::string_view common_name, Validity validity) {
  X509Ptr cert = new_certificate(key, common_name, validity);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  if (X509_sign(cert.get(), key, EVP_sha256()) == 0) throw_openssl("X509_sign (CA)");
  return cert;
}

X509Ptr make_server_certificate(EVP_PKEY* key, X509* ca_cert, EVP_PKEY* ca_key,
                                const std::vector<std::string>& names, Validity validity) {
  X509Ptr cert = new_certificate(key, names.empty() ? "127.0.0.1" : names.front(), validity);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert));
  add_extension(cert.get(), ca_cert, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), ca_cert, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_extension(cert.get(), ca_cert, NID_ext_key_usage, "serverAuth");
  add_extension(cert.get(), ca_cert, NID_subject_key_identifier, "hash");
  add_extension(cert.get(), ca_cert, NID_authority_key_identifier, "keyid:always");
  if (!names.empty()) {
    std::string san;
    for (const auto& name : names) {
      if (!san.empty()) san += ',';
      san += (is_ip_literal(name) ? "IP:" : "DNS:") + name;
    }
    add_extension(cert.get(), ca_cert, NID_subject_alt_name, san);
  }
  if (X509_sign(cert.get(), ca_key, EVP_sha256()) == 0) throw_openssl("X509_sign (server)");
  return cert;
}

std::string rs256_sign(EVP_PKEY* key, std::string_view data) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1)
    throw_openssl("RS256 sign");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    throw_openssl("RS256 sign");
  sig.resize(len);
  return sig;
}

bool rs256_verify(EVP_PKEY* key, std::string_view data, std::string_view signature) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                             data.size()) == 1;
  // A failed verification leaves entries on this thread's error queue; drop them so they do not
  // surface in an unrelated later error message.
  ERR_clear_error();
  return ok;
}

void rsa_public_numbers(EVP_PKEY* key, std::string& n, std::string& e) {
  BIGNUM* bn_n = nullptr;
  BIGNUM* bn_e = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &bn_n) != 1 ||
      EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &bn_e) != 1) {
    BN_free(bn_n);
    BN_free(bn_e);
    throw_openssl("RSA public numbers");
  }
  BnPtr hold_n(bn_n), hold_e(bn_e);
  n.assign(static_cast<std::size_t>(BN_num_bytes(bn_n)), '\0');
  e.assign(static_cast<std::size_t>(BN_num_bytes(bn_e)), '\0');
  BN_bn2bin(bn_n, reinterpret_cast<unsigned char*>(n.data()));
  BN_bn2bin(bn_e, reinterpret_cast<unsigned char*>(e.data()));
}

std::string key_id(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) throw_openssl("i2d_PUBKEY");
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned digest_len = 0;
  const int ok = EVP_Digest(der, static_cast<std::size_t>(len), digest.data(), &digest_len,
                            EVP_sha256(), nullptr);
  OPENSSL_free(der);
  if (ok != 1) throw_openssl("EVP_Digest");
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), 15));
}

}  // namespace azid_emulator::detail
