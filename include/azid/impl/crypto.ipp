// azid/impl/crypto.ipp: certificate loading, thumbprints and JWS signing with OpenSSL 3. Included
// only by detail/crypto.hpp (header-only) or src.hpp.
#pragma once

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "azid/detail/base64.hpp"
#include "azid/detail/crypto.hpp"
#include "azid/detail/entra.hpp"
#include "azid/detail/redact.hpp"
#include "azid/detail/token_json.hpp"

AZID_BEGIN
namespace detail {
namespace crypto_impl {

struct BioFree {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct P12Free {
  void operator()(PKCS12* p) const noexcept { PKCS12_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using P12Ptr = std::unique_ptr<PKCS12, P12Free>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// OpenSSL reports failures on a per-thread queue; a failed parse must not leave entries behind
// that a later, unrelated TLS error message would pick up. Only what was queued after entry goes:
// errors the caller had pending are theirs.
struct ClearErrorsOnExit {
  ClearErrorsOnExit() noexcept { ERR_set_mark(); }
  ~ClearErrorsOnExit() { ERR_pop_to_mark(); }
  ClearErrorsOnExit(const ClearErrorsOnExit&) = delete;
  ClearErrorsOnExit& operator=(const ClearErrorsOnExit&) = delete;
};

inline BioPtr memory_bio(std::string_view data) {
  if (data.size() > static_cast<std::size_t>(INT_MAX)) return nullptr;
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// Hands the password to PEM_read_bio_PrivateKey. A null password (none given) answers 0 bytes,
// which makes decryption of an encrypted key fail instead of prompting on a terminal.
inline int pem_password(char* buf, int size, int, void* user) {
  const auto* pw = static_cast<const std::string_view*>(user);
  if (pw == nullptr || pw->empty() || size <= 0) return 0;
  const int n = static_cast<int>(
      pw->size() < static_cast<std::size_t>(size) ? pw->size() : static_cast<std::size_t>(size));
  std::memcpy(buf, pw->data(), static_cast<std::size_t>(n));
  return n;
}

inline std::string der_of(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) return {};
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

inline std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (EVP_Digest(data.data(), data.size(), buf, &len, md, nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(buf), len);
}

// Key checks shared by both formats: RSA only (Entra certificate credentials sign with RSA).
inline bool check_key_type(EVP_PKEY* key, std::string& error) {
  const int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) return true;
  if (id == EVP_PKEY_EC)
    error =
        "has an EC private key. ECDSA private keys are not supported. The certificate must have an "
        "RSA private key because RS256 is used for signing";
  else
    error =
        "has an unsupported private key type. The certificate must have an RSA private key "
        "because RS256 is used for signing";
  return false;
}

// An RS256 or PS256 signature of `data` with `key`; empty when OpenSSL refuses.
inline std::string sign_with(EVP_PKEY* key, JwsAlgorithm alg, std::string_view data) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  std::size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  bool ok = ctx && EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) == 1;
  if (ok && alg == JwsAlgorithm::ps256) {
    // JWA (RFC 7518 §3.5): PSS with MGF1-SHA-256 and a salt as long as the hash.
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
  }
  ok = ok && EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) == 1;
  std::string sig(ok ? len : 0, '\0');
  ok = ok && EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                            data.size()) == 1;
  if (!ok) return {};
  sig.resize(len);
  return sig;
}

// Whether `sig` is a valid RS256 signature of `data` under the certificate's public key.
inline bool verify_rs256(X509* cert, std::string_view data, std::string_view sig) {
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  return pub != nullptr && ctx &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pub) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

// A key that parses and matches its certificate's public half can still be unusable: damaged
// private parts (a corrupted or mis-decrypted file), an RSA-PSS-only key that cannot do RS256, or
// a modulus too short for PS256. One trial signature at load, checked against the certificate,
// turns each of those into an error now instead of a refusal from Entra ID on every request.
inline bool check_key_signs(EVP_PKEY* key, X509* cert, std::string& error) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA_PSS) {
    error =
        "has an RSA-PSS-restricted private key, which cannot sign RS256 client assertions; "
        "re-create it as an "
        "ordinary RSA key (rsaEncryption)";
    return false;
  }
  if (EVP_PKEY_get_bits(key) < 1024) {
    error =
        "has an RSA key shorter than 1024 bits, too short to sign a client assertion (Entra ID "
        "expects 2048 or more)";
    return false;
  }
  constexpr std::string_view probe = "azid certificate load check";
  const std::string sig = sign_with(key, JwsAlgorithm::rs256, probe);
  if (sig.empty() || !verify_rs256(cert, probe, sig)) {
    error =
        "has a private key that cannot sign for its certificate (the key is damaged, or its "
        "private parts do not "
        "belong to the certificate); export the certificate and its key again";
    return false;
  }
  return true;
}

// Fills `out` from a key and its certificates: the signing certificate is the one the key
// belongs to, and goes first.
inline bool finish(PkeyPtr key, std::vector<X509Ptr> certs, CertificateMaterial::Parts& out,
                   std::string& error) {
  if (!check_key_type(key.get(), error)) return false;
  std::size_t signer = certs.size();
  for (std::size_t i = 0; i < certs.size(); ++i) {
    if (X509_check_private_key(certs[i].get(), key.get()) == 1) {
      signer = i;
      break;
    }
  }
  if (signer == certs.size()) {
    error = "has a private key that belongs to none of its certificates";
    return false;
  }
  if (!check_key_signs(key.get(), certs[signer].get(), error)) return false;
  std::vector<std::string> chain;
  chain.push_back(der_of(certs[signer].get()));
  for (std::size_t i = 0; i < certs.size(); ++i)
    if (i != signer) chain.push_back(der_of(certs[i].get()));
  for (const auto& d : chain) {
    if (d.empty()) {
      error = "has a certificate that could not be encoded";
      return false;
    }
  }
  out.sha1 = digest(EVP_sha1(), chain.front());
  out.sha256 = digest(EVP_sha256(), chain.front());
  out.chain = std::move(chain);
  out.key = std::shared_ptr<void>(key.release(),
                                  [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
  return true;
}

inline OSSL_LIB_CTX* legacy_context() noexcept;
inline PkeyPtr read_legacy_pem_key(std::string_view data, std::string_view password);

// Decodes every certificate block of a PEM file, in order. A certificate block that does not
// decode is an error rather than the end of the list: stopping there would drop the certificates
// after it from `x5c`, or miss the signing certificate altogether.
inline bool read_pem_certificates(std::string_view data, std::vector<X509Ptr>& certs,
                                  std::string& error) {
  BioPtr bio = memory_bio(data);
  if (!bio) {
    error = "could not be read";
    return false;
  }
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* der = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &der, &len) != 1) {
      const unsigned long e = ERR_peek_last_error();
      if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
        return true;  // no further block
      error = "has a PEM block that could not be read (damaged base64, or a missing END line)";
      return false;
    }
    const std::string_view type(name);
    const bool trusted = type == PEM_STRING_X509_TRUSTED;
    const bool is_cert = trusted || type == PEM_STRING_X509 || type == PEM_STRING_X509_OLD;
    X509* cert = nullptr;
    if (is_cert) {
      const unsigned char* p = der;
      cert = trusted ? d2i_X509_AUX(nullptr, &p, len) : d2i_X509(nullptr, &p, len);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(der, len > 0 ? static_cast<std::size_t>(len) : 0);  // may be a key block
    if (is_cert && cert == nullptr) {
      error = "has a certificate block that could not be read (Failed to read X509 section.)";
      return false;
    }
    X509Ptr owned(cert);  // owned before the vector may throw
    if (owned) certs.push_back(std::move(owned));
  }
}

// ---------------------------------------------------------------------------------------------
// Key-derivation work a file may ask for. A password-protected key or PKCS#12 file names its own
// iteration counts (or scrypt costs); one made to stall its reader asks for billions: minutes of
// PBKDF2 inside get_token, under the credential's lock. Exports use 2,048 (OpenSSL) to 10,000
// (Windows, Java) iterations; 600,000 is the most any current guidance asks for. Each derivation
// may ask for max_kdf_iterations, and all those a file names together for max_kdf_total, each
// counted as often as the reading below may run it (a failed attempt is retried another way).
// Everything is counted before it is derived: the key bags inside an encrypted PKCS#12 safe as
// soon as the password is settled, since a file without a password opens to anyone. The total
// is what the repeats allowed before they were counted (4 million, read up to six times): every
// file that loaded then still loads (a PKCS#12 file at 2 million everywhere just fits), and the
// worst file costs about 6 s of PBKDF2 on a 2-core test machine.

inline constexpr long long max_kdf_iterations = 2'000'000;
inline constexpr long long max_kdf_total = 24'000'000;

// A count from a KDF's parameters, saturated at 2^40; -1 when unreadable.
inline long long kdf_count(const ASN1_INTEGER* i) {
  std::uint64_t v = 0;
  if (i == nullptr || ASN1_INTEGER_get_uint64(&v, i) != 1) return -1;
  return v > (std::uint64_t{1} << 40) ? (1LL << 40) : static_cast<long long>(v);
}

// The work one algorithm identifier asks for: PBKDF2's iteration count (PBES2), scrypt's
// N * r * p, PKCS#5 v1 / PKCS#12 PBE's count. 0 for anything else (nothing to derive, or an
// algorithm OpenSSL will refuse), -1 when its parameters are unreadable.
inline long long kdf_work(const X509_ALGOR* alg) {
  const ASN1_OBJECT* obj = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&obj, &ptype, &pval, alg);
  if (ptype != V_ASN1_SEQUENCE || pval == nullptr) return 0;
  const auto* seq = static_cast<const ASN1_STRING*>(pval);
  const unsigned char* p = ASN1_STRING_get0_data(seq);
  const long len = ASN1_STRING_length(seq);
  if (OBJ_obj2nid(obj) == NID_pbes2) {
    PBE2PARAM* pbe2 = d2i_PBE2PARAM(nullptr, &p, len);
    if (pbe2 == nullptr) return -1;
    long long work = 0;
    const int kdf = pbe2->keyfunc != nullptr ? OBJ_obj2nid(pbe2->keyfunc->algorithm) : NID_undef;
    const ASN1_TYPE* kp = pbe2->keyfunc != nullptr ? pbe2->keyfunc->parameter : nullptr;
    if (kdf == NID_id_pbkdf2 || kdf == NID_id_scrypt) {
      work = -1;
      if (kp != nullptr && kp->type == V_ASN1_SEQUENCE) {
        const unsigned char* q = ASN1_STRING_get0_data(kp->value.sequence);
        const long qlen = ASN1_STRING_length(kp->value.sequence);
        if (kdf == NID_id_pbkdf2) {
          PBKDF2PARAM* k = d2i_PBKDF2PARAM(nullptr, &q, qlen);
          if (k != nullptr) work = kdf_count(k->iter);
          PBKDF2PARAM_free(k);
        } else {
          SCRYPT_PARAMS* k = d2i_SCRYPT_PARAMS(nullptr, &q, qlen);
          if (k != nullptr) {
            const long long n = kdf_count(k->costParameter), r = kdf_count(k->blockSize),
                            par = kdf_count(k->parallelizationParameter);
            // Each factor is at most 2^40: saturate rather than overflow.
            if (n >= 0 && r >= 0 && par >= 0)
              work = (n != 0 && r > (1LL << 40) / n)               ? (1LL << 40)
                     : (n * r != 0 && par > (1LL << 40) / (n * r)) ? (1LL << 40)
                                                                   : n * r * par;
          }
          SCRYPT_PARAMS_free(k);
        }
      }
    }
    PBE2PARAM_free(pbe2);
    return work;
  }
  PBEPARAM* pbe = d2i_PBEPARAM(nullptr, &p, len);
  if (pbe == nullptr) return 0;  // not a PBE algorithm's parameters
  const long long work = kdf_count(pbe->iter);
  PBEPARAM_free(pbe);
  return work;
}

// What a file may still spend on key derivation.
struct KdfBudget {
  long long left = max_kdf_total;
  long long spent = 0;
};

// Charges a derivation of `work` that may run `runs` times.
inline bool kdf_allowed(long long work, int runs, KdfBudget& budget, std::string& error) {
  if (work < 0) return true;  // unreadable parameters: OpenSSL refuses them, at no cost
  budget.spent += work * runs;
  budget.left -= work * runs;
  if (work <= max_kdf_iterations && budget.left >= 0) return true;
  error =
      "asks for " + std::to_string(work > max_kdf_iterations ? work : budget.spent) +
      " key-derivation iterations" +
      (work > max_kdf_iterations ? "" : " in all (counting retries after a failed decryption)") +
      ", more than the " +
      std::to_string(work > max_kdf_iterations ? max_kdf_iterations : max_kdf_total) +
      " azid allows (a file made to stall whoever opens it?). Re-export it with a usual count, "
      "e.g. openssl pkcs12 -export -iter 2048 -maciter, or openssl pkcs8 -topk8 -v2 "
      "aes-256-cbc -iter 100000";
  return false;
}

// Every ENCRYPTED PRIVATE KEY block of a PEM text, checked before any is decrypted; `runs` is how
// often load_pem may derive one. A block whose count cannot be read here is refused: one with
// Proc-Type/DEK-Info headers has its PKCS#8 structure encrypted once more, and OpenSSL's
// decoder takes both layers off with the same password.
inline bool pem_kdf_allowed(std::string_view data, int runs, std::string& error) {
  BioPtr bio = memory_bio(data);
  if (!bio) return true;
  KdfBudget budget;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* der = nullptr;
    long len = 0;
    // At the end of the text PEM_read_bio queues an error; load_certificate's mark drops it.
    if (PEM_read_bio(bio.get(), &name, &header, &der, &len) != 1) return true;
    bool ok = true;
    if (std::string_view(name) == PEM_STRING_PKCS8) {
      const unsigned char* p = der;
      X509_SIG* sig = header[0] == '\0' ? d2i_X509_SIG(nullptr, &p, len) : nullptr;
      if (sig != nullptr) {
        const X509_ALGOR* alg = nullptr;
        X509_SIG_get0(sig, &alg, nullptr);
        ok = kdf_allowed(kdf_work(alg), runs, budget, error);
      } else {
        ok = false;
        error =
            header[0] != '\0'
                ? "has an ENCRYPTED PRIVATE KEY block with Proc-Type/DEK-Info headers (a PKCS#8 "
                  "key encrypted twice), which azid does not read; write the key again as "
                  "plain encrypted PKCS#8: openssl pkcs8 -topk8 -v2 aes-256-cbc"
                : "has an ENCRYPTED PRIVATE KEY block that is not a PKCS#8 encrypted key "
                  "(damaged?)";
      }
      X509_SIG_free(sig);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(der, len > 0 ? static_cast<std::size_t>(len) : 0);  // may be a plain key
    if (!ok) return false;
  }
}

// The bags of one safe: shrouded keys' work counted, safe-contents bags walked (bounded depth).
inline bool pkcs12_bags_allowed(const STACK_OF(PKCS12_SAFEBAG) * bags, int depth, int runs,
                                KdfBudget& budget, std::string& error) {
  for (int b = 0; bags != nullptr && b < sk_PKCS12_SAFEBAG_num(bags); ++b) {
    const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags, b);
    const int nid = PKCS12_SAFEBAG_get_nid(bag);
    if (nid == NID_pkcs8ShroudedKeyBag) {
      const X509_ALGOR* alg = nullptr;
      X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, nullptr);
      if (!kdf_allowed(kdf_work(alg), runs, budget, error)) return false;
    } else if (nid == NID_safeContentsBag) {
      if (depth >= 8) {
        error = "nests its safe contents more than 8 deep";
        return false;
      }
      if (!pkcs12_bags_allowed(PKCS12_SAFEBAG_get0_safes(bag), depth + 1, runs, budget, error))
        return false;
    }
  }
  return true;
}

// How often load_pkcs12 may run one derivation of a file made to fail as late as it can. It reads
// the file up to three times: PKCS12_parse (or the MAC-less reader) with the password, again with
// no password (a file without a MAC, and an empty password), and again under the legacy context.
struct Pkcs12Runs {
  int mac;   // load_pkcs12's check, then each PKCS12_parse's; for "" each tries "" and none
  int safe;  // each reading, and pkcs12_sealed_bags_allowed's opening (per password, per context)
  int bag;   // each reading
};
inline Pkcs12Runs pkcs12_runs(bool no_mac, bool empty_password) {
  const bool or_none = no_mac && empty_password;
  const int readings = or_none ? 3 : 2;
  const int passwords = or_none ? 2 : 1;
  return {(empty_password ? 2 : 1) * (1 + readings), readings + 2 * passwords, readings};
}

// The work of a PBMAC1 MAC (RFC 9579): OpenSSL 3.4 and later derive its key with the PBKDF2
// parameters inside the algorithm and ignore MacData's count; older releases cannot check it.
// Parameters that cannot be read here are refused rather than guessed at.
inline bool pbmac1_allowed(const X509_ALGOR* alg, int runs, KdfBudget& budget, std::string& error) {
  const ASN1_OBJECT* obj = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&obj, &ptype, &pval, alg);
  long long work = -1;
  long long key_length = 0;
  if (ptype == V_ASN1_SEQUENCE && pval != nullptr) {
    // PBMAC1-params is SEQUENCE { keyDerivationFunc, messageAuthScheme }: two algorithm
    // identifiers, read here as a sequence of them.
    const auto* seq = static_cast<const ASN1_STRING*>(pval);
    const unsigned char* p = ASN1_STRING_get0_data(seq);
    X509_ALGORS* algs = d2i_X509_ALGORS(nullptr, &p, ASN1_STRING_length(seq));
    const X509_ALGOR* kdf = sk_X509_ALGOR_num(algs) == 2 ? sk_X509_ALGOR_value(algs, 0) : nullptr;
    if (kdf != nullptr && OBJ_obj2nid(kdf->algorithm) == NID_id_pbkdf2 &&
        kdf->parameter != nullptr && kdf->parameter->type == V_ASN1_SEQUENCE) {
      const ASN1_STRING* kp = kdf->parameter->value.sequence;
      const unsigned char* q = ASN1_STRING_get0_data(kp);
      PBKDF2PARAM* k = d2i_PBKDF2PARAM(nullptr, &q, ASN1_STRING_length(kp));
      if (k != nullptr) {
        work = kdf_count(k->iter);
        if (k->keylength != nullptr) key_length = kdf_count(k->keylength);
      }
      PBKDF2PARAM_free(k);
    }
    sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
  }
  if (work < 0 || key_length < 0 || key_length > EVP_MAX_MD_SIZE) {
    // OpenSSL 3.4 writes the derived key into a buffer of EVP_MAX_MD_SIZE bytes.
    error =
        "has a PBMAC1 integrity MAC whose parameters azid does not read (no PBKDF2 count, or "
        "a key longer than any HMAC's); re-export it with a usual MAC: openssl pkcs12 -export "
        "-macalg sha256";
    return false;
  }
  if (!kdf_allowed(work, runs, budget, error)) return false;
  if (OpenSSL_version_num() < 0x30400000L) {
    error =
        "has a PBMAC1 integrity MAC (RFC 9579), which needs OpenSSL 3.4 or later to check; "
        "upgrade OpenSSL, or re-export the file with a usual MAC: openssl pkcs12 -export "
        "-macalg sha256";
    return false;
  }
  return true;
}

// The PKCS#12 MAC's work, the encrypted safes', and the shrouded key bags' of the plain safes,
// before anything is derived. Nothing is decrypted here; pkcs12_sealed_bags_allowed counts what
// is inside the encrypted safes once the password is settled.
inline bool pkcs12_kdf_allowed(PKCS12* p12, const Pkcs12Runs& runs, KdfBudget& budget,
                               std::string& error) {
  if (PKCS12_mac_present(p12) == 1) {
    const X509_ALGOR* mac_alg = nullptr;
    const ASN1_INTEGER* mac_iter = nullptr;
    PKCS12_get0_mac(nullptr, &mac_alg, nullptr, &mac_iter, p12);
    const ASN1_OBJECT* mac_obj = nullptr;
    if (mac_alg != nullptr) X509_ALGOR_get0(&mac_obj, nullptr, nullptr, mac_alg);
    if (OBJ_obj2nid(mac_obj) == NID_pbmac1) {
      if (!pbmac1_allowed(mac_alg, runs.mac, budget, error)) return false;
    } else {
      // An absent count means 1 (RFC 7292); an unreadable one is charged the most (refused).
      const long long count = mac_iter != nullptr ? kdf_count(mac_iter) : 1;
      if (!kdf_allowed(count < 0 ? (1LL << 40) : count, runs.mac, budget, error)) return false;
    }
  }
  STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(p12);
  if (safes == nullptr) return true;  // PKCS12_parse reports what is wrong with it
  bool ok = true;
  for (int i = 0; ok && i < sk_PKCS7_num(safes); ++i) {
    PKCS7* p7 = sk_PKCS7_value(safes, i);
    if (PKCS7_type_is_data(p7)) {
      STACK_OF(PKCS12_SAFEBAG)* bags = PKCS12_unpack_p7data(p7);
      ok = pkcs12_bags_allowed(bags, 0, runs.bag, budget, error);
      sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
    } else if (PKCS7_type_is_encrypted(p7) && p7->d.encrypted != nullptr &&
               p7->d.encrypted->enc_data != nullptr) {
      ok = kdf_allowed(kdf_work(p7->d.encrypted->enc_data->algorithm), runs.safe, budget, error);
    }
  }
  sk_PKCS7_pop_free(safes, PKCS7_free);
  return ok;
}

inline bool load_pem(std::string_view data, std::string_view password,
                     CertificateMaterial::Parts& out, std::string& error) {
  const bool encrypted = data.find("ENCRYPTED PRIVATE KEY") != std::string_view::npos ||
                         data.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
  if (data.find("PRIVATE KEY-----") == std::string_view::npos) {
    error = "contains no private key (a PEM file must hold the private key and the certificate)";
    return false;
  }
  // Certificates first: they are independent of the password.
  std::vector<X509Ptr> certs;
  if (!read_pem_certificates(data, certs, error)) return false;
  // An encrypted key may be derived up to three times: by OpenSSL's decoder, by the older reader
  // PEM_read_bio_PrivateKey falls back to, and by read_legacy_pem_key (given a password).
  if (encrypted && !pem_kdf_allowed(data, password.empty() ? 2 : 3, error)) return false;
  PkeyPtr key;
  {
    BioPtr bio = memory_bio(data);
    std::string_view pw = password;
    if (bio) key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, pem_password, &pw));
  }
  // DES, RC2 and MD5-based encryption (`openssl rsa -des`, PKCS#8 PBES1) need OpenSSL's legacy
  // provider, which only the private context has (legacy_context below).
  if (!key && encrypted && !password.empty()) key = read_legacy_pem_key(data, password);
  if (!key) {
    if (encrypted && !password.empty() && legacy_context() == nullptr)
      error =
          "has an encrypted private key that the given password does not decrypt (wrong "
          "password? If the key was encrypted with a legacy cipher such as DES or RC2, install "
          "OpenSSL's legacy provider (legacy.so in the ossl-modules directory, or set "
          "OPENSSL_MODULES) or re-encrypt it with AES-256: openssl pkcs8 -topk8 -v2 aes-256-cbc)";
    else if (encrypted && password.empty())
      error = "has an encrypted private key and no password was given";
    else if (encrypted)
      error =
          "has an encrypted private key that the given password does not decrypt (wrong password?)";
    else
      error =
          "has a private key block that could not be read (Failed to read certificate private "
          "key.)";
    return false;
  }
  if (certs.empty()) {
    error = "contains no certificate (PEM file does not contain certificate.)";
    return false;
  }
  return finish(std::move(key), std::move(certs), out, error);
}

// OpenSSL 3 decrypts RC2 (what OpenSSL 1.x used for the certificate bag of every PKCS#12 file it
// exported, and what older Windows exports use) only with its legacy provider. Loading that into the
// application's default context would widen what the whole program accepts, so azid loads it once
// into a private library context used for nothing but decoding such a file. Null when the legacy
// provider is not installed (OPENSSL_MODULES, or the system's ossl-modules directory).
inline OSSL_LIB_CTX* legacy_context() noexcept {
  static OSSL_LIB_CTX* const ctx = []() -> OSSL_LIB_CTX* {
    OSSL_LIB_CTX* c = OSSL_LIB_CTX_new();
    if (c == nullptr) return nullptr;
    if (OSSL_PROVIDER_load(c, "default") == nullptr || OSSL_PROVIDER_load(c, "legacy") == nullptr) {
      OSSL_LIB_CTX_free(c);  // also unloads a provider that did load
      return nullptr;
    }
    return c;  // kept for the life of the process
  }();
  return ctx;
}

// Makes `ctx` this thread's default library context until destroyed (PKCS12_parse has no
// library-context argument; other threads are not affected).
class DefaultContextScope {
 public:
  explicit DefaultContextScope(OSSL_LIB_CTX* ctx) noexcept
      : previous_(OSSL_LIB_CTX_set0_default(ctx)) {}
  ~DefaultContextScope() {
    if (previous_ != nullptr) OSSL_LIB_CTX_set0_default(previous_);
  }
  DefaultContextScope(const DefaultContextScope&) = delete;
  DefaultContextScope& operator=(const DefaultContextScope&) = delete;
  [[nodiscard]] bool active() const noexcept { return previous_ != nullptr; }

 private:
  OSSL_LIB_CTX* previous_;
};

// A key or certificate decoded in the legacy context, read again in the default one, so nothing
// the credential keeps depends on the legacy context.
inline PkeyPtr reimport(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PrivateKey(key, &der);
  if (len <= 0) return nullptr;
  const unsigned char* p = der;
  PkeyPtr copy(d2i_AutoPrivateKey(nullptr, &p, len));
  OPENSSL_clear_free(der, static_cast<std::size_t>(len));
  return copy;
}
inline X509Ptr reimport(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) return nullptr;
  const unsigned char* p = der;
  X509Ptr copy(d2i_X509(nullptr, &p, len));
  OPENSSL_free(der);
  return copy;
}

// An encrypted PEM key decrypted under the legacy context, then re-read in the default one. The
// blocks are decrypted here rather than by PEM_read_bio_PrivateKey_ex: on that path OpenSSL 3.0
// leaks the UI method it wraps the password in (seen under LeakSanitizer).
inline PkeyPtr read_legacy_pem_key(std::string_view data, std::string_view password) {
  OSSL_LIB_CTX* legacy = legacy_context();
  BioPtr bio = memory_bio(data);
  if (legacy == nullptr || !bio || password.size() > static_cast<std::size_t>(INT_MAX))
    return nullptr;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* der = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &der, &len) != 1) return nullptr;
    struct Block {
      char* name;
      char* header;
      unsigned char*& der;
      long& len;
      ~Block() {
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(der, len > 0 ? static_cast<std::size_t>(len) : 0);
      }
    } block{name, header, der, len};
    const std::string_view type(name);
    PkeyPtr key;
    if (type == PEM_STRING_PKCS8) {  // ENCRYPTED PRIVATE KEY: PKCS#8, PBES1 or PBES2
      const unsigned char* p = der;
      X509_SIG* sig = d2i_X509_SIG(nullptr, &p, len);
      PKCS8_PRIV_KEY_INFO* p8 =
          sig != nullptr ? PKCS8_decrypt_ex(sig, password.data(), static_cast<int>(password.size()),
                                            legacy, nullptr)
                         : nullptr;
      if (p8 != nullptr) key.reset(EVP_PKCS82PKEY_ex(p8, legacy, nullptr));
      PKCS8_PRIV_KEY_INFO_free(p8);
      X509_SIG_free(sig);
    } else if (type.size() > 11 && type.substr(type.size() - 11) == "PRIVATE KEY" &&
               std::string_view(header).find("ENCRYPTED") != std::string_view::npos) {
      // Traditional (`openssl rsa -des`): Proc-Type/DEK-Info headers over the key's own DER.
      DefaultContextScope scope(legacy);  // PEM_do_header finds the cipher implicitly
      EVP_CIPHER_INFO cipher;
      std::string_view pw = password;
      if (scope.active() && PEM_get_EVP_CIPHER_INFO(header, &cipher) == 1 &&
          PEM_do_header(&cipher, der, &len, pem_password, &pw) == 1) {
        const unsigned char* p = der;
        key.reset(d2i_AutoPrivateKey_ex(nullptr, &p, len, legacy, nullptr));
      }
    } else {
      continue;  // a certificate, or a key that is not encrypted
    }
    return key ? reimport(key.get()) : nullptr;
  }
}

// PKCS12_parse insists on checking a MAC when given a password, so a file without one (`openssl
// pkcs12 -nomac`) is read bag by bag here instead: every key bag (the first key wins) and every
// X.509 certificate bag, certificates handed back in `ca`. Same contract as PKCS12_parse.
inline int parse_pkcs12_without_mac(PKCS12* p12, const char* pass, EVP_PKEY** pkey, X509** cert,
                                    STACK_OF(X509) * *ca) {
  *pkey = nullptr;
  *cert = nullptr;
  *ca = sk_X509_new_null();
  const int passlen = pass != nullptr ? -1 : 0;
  STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(p12);
  bool ok = safes != nullptr && *ca != nullptr;
  for (int i = 0; ok && i < sk_PKCS7_num(safes); ++i) {
    PKCS7* p7 = sk_PKCS7_value(safes, i);
    STACK_OF(PKCS12_SAFEBAG)* bags = nullptr;
    if (PKCS7_type_is_data(p7))
      bags = PKCS12_unpack_p7data(p7);
    else if (PKCS7_type_is_encrypted(p7))
      bags = PKCS12_unpack_p7encdata(p7, pass, passlen);
    else
      continue;
    ok = bags != nullptr;
    for (int j = 0; ok && j < sk_PKCS12_SAFEBAG_num(bags); ++j) {
      const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags, j);
      switch (PKCS12_SAFEBAG_get_nid(bag)) {
        case NID_keyBag:
          if (*pkey == nullptr) *pkey = EVP_PKCS82PKEY(PKCS12_SAFEBAG_get0_p8inf(bag));
          ok = *pkey != nullptr;
          break;
        case NID_pkcs8ShroudedKeyBag: {
          PKCS8_PRIV_KEY_INFO* p8 = PKCS12_decrypt_skey(bag, pass, passlen);
          if (p8 != nullptr && *pkey == nullptr) *pkey = EVP_PKCS82PKEY(p8);
          PKCS8_PRIV_KEY_INFO_free(p8);
          ok = *pkey != nullptr;
          break;
        }
        case NID_certBag:
          if (PKCS12_SAFEBAG_get_bag_nid(bag) == NID_x509Certificate) {
            X509* c = PKCS12_SAFEBAG_get1_cert(bag);
            ok = c != nullptr && sk_X509_push(*ca, c) > 0;
            if (!ok) X509_free(c);
          }
          break;
        default:
          break;
      }
    }
    sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
  }
  sk_PKCS7_pop_free(safes, PKCS7_free);
  if (!ok) {
    EVP_PKEY_free(*pkey);
    *pkey = nullptr;
    sk_X509_pop_free(*ca, X509_free);
    *ca = nullptr;
  }
  return ok ? 1 : 0;
}

// PKCS12_parse, or the bag-by-bag reading above for a file without a MAC.
inline int parse_pkcs12(PKCS12* p12, const char* pass, EVP_PKEY** pkey, X509** cert,
                        STACK_OF(X509) * *ca) {
  if (PKCS12_mac_present(p12) == 1) return PKCS12_parse(p12, pass, pkey, cert, ca);
  return parse_pkcs12_without_mac(p12, pass, pkey, cert, ca);
}

// PKCS12_parse under the legacy context; the results are re-read in the default context.
inline bool parse_pkcs12_legacy(std::string_view data, const char* password, PkeyPtr& key,
                                std::vector<X509Ptr>& certs) {
  OSSL_LIB_CTX* legacy = legacy_context();
  if (legacy == nullptr) return false;
  EVP_PKEY* raw_key = nullptr;
  X509* raw_cert = nullptr;
  STACK_OF(X509)* raw_ca = nullptr;
  {
    DefaultContextScope scope(legacy);
    if (!scope.active()) return false;
    BioPtr bio = memory_bio(data);
    P12Ptr p12(bio ? d2i_PKCS12_bio(bio.get(), nullptr) : nullptr);
    if (!p12 || parse_pkcs12(p12.get(), password, &raw_key, &raw_cert, &raw_ca) != 1) return false;
  }
  PkeyPtr legacy_key(raw_key);
  X509Ptr legacy_cert(raw_cert);
  bool ok = true;
  if (legacy_key) {
    key = reimport(legacy_key.get());
    ok = key != nullptr;
  }
  if (legacy_cert) {
    certs.push_back(reimport(legacy_cert.get()));
    ok = ok && certs.back() != nullptr;
  }
  if (raw_ca != nullptr) {
    while (X509* c = sk_X509_shift(raw_ca)) {
      X509Ptr legacy_ca(c);
      certs.push_back(reimport(c));
      ok = ok && certs.back() != nullptr;
    }
    sk_X509_free(raw_ca);
  }
  return ok;
}

// Opens an encrypted safe as the readers below would: in the default context, or failing that
// in the legacy one. Null when neither opens it.
inline STACK_OF(PKCS12_SAFEBAG) * open_safe(PKCS7* p7, const char* pass) {
  const int passlen = pass != nullptr ? -1 : 0;
  STACK_OF(PKCS12_SAFEBAG)* bags = PKCS12_unpack_p7encdata(p7, pass, passlen);
  if (bags == nullptr && legacy_context() != nullptr) {
    DefaultContextScope scope(legacy_context());
    if (scope.active()) bags = PKCS12_unpack_p7encdata(p7, pass, passlen);
  }
  return bags;
}

// The shrouded key bags inside the encrypted safes, counted once the password is settled (the
// safes' own derivation is counted already), before PKCS12_parse or the MAC-less reader derives
// any of them. `or_none`: the readers also try no password. A safe that does not open here does
// not open to the readers either, and nothing in it is derived.
inline bool pkcs12_sealed_bags_allowed(PKCS12* p12, const char* pass, bool or_none, int runs,
                                       KdfBudget& budget, std::string& error) {
  STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(p12);
  bool ok = true;
  for (int i = 0; ok && safes != nullptr && i < sk_PKCS7_num(safes); ++i) {
    PKCS7* p7 = sk_PKCS7_value(safes, i);
    if (!PKCS7_type_is_encrypted(p7)) continue;
    STACK_OF(PKCS12_SAFEBAG)* bags = open_safe(p7, pass);
    if (bags == nullptr && or_none) bags = open_safe(p7, nullptr);
    ok = pkcs12_bags_allowed(bags, 0, runs, budget, error);
    sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
  }
  sk_PKCS7_pop_free(safes, PKCS7_free);
  return ok;
}

inline bool load_pkcs12(std::string_view data, std::string_view password,
                        CertificateMaterial::Parts& out, std::string& error) {
  BioPtr bio = memory_bio(data);
  P12Ptr p12(bio ? d2i_PKCS12_bio(bio.get(), nullptr) : nullptr);
  if (!p12) {
    error =
        "is neither PEM nor PKCS#12 (Failed to deserialize certificate in PEM or PKCS12 format)";
    return false;
  }
  // An empty password may have been encoded as "" or as no password at all; try both.
  std::string pw(password);
  const WipeOnExit wipe_pw(pw);
  const char* candidates[2] = {pw.c_str(), nullptr};
  const char* chosen = nullptr;
  bool matched = false;
  const bool no_mac = PKCS12_mac_present(p12.get()) != 1;
  const Pkcs12Runs runs = pkcs12_runs(no_mac, pw.empty());
  KdfBudget budget;
  if (!pkcs12_kdf_allowed(p12.get(), runs, budget, error)) return false;
  if (no_mac) {
    // No integrity MAC (`openssl pkcs12 -nomac`, some Java and Go keystores): nothing to check
    // the password against here, so decoding the bags below decides.
    chosen = candidates[0];
    matched = true;
  }
  for (int i = 0; !matched && i < (pw.empty() ? 2 : 1); ++i) {
    if (PKCS12_verify_mac(p12.get(), candidates[i], candidates[i] ? -1 : 0) == 1) {
      chosen = candidates[i];
      matched = true;
      break;
    }
  }
  if (!matched) {
    error = password.empty()
                ? "is a password-protected PKCS#12 file and no password was given"
                : "is a PKCS#12 file that the given password does not open (wrong password?)";
    return false;
  }
  if (!pkcs12_sealed_bags_allowed(p12.get(), chosen, no_mac && pw.empty(), runs.bag, budget, error))
    return false;
  PkeyPtr key;
  std::vector<X509Ptr> certs;
  auto parse_with = [&](const char* pass) {
    EVP_PKEY* raw_key = nullptr;
    X509* raw_cert = nullptr;
    STACK_OF(X509)* raw_ca = nullptr;
    if (parse_pkcs12(p12.get(), pass, &raw_key, &raw_cert, &raw_ca) != 1) return false;
    key.reset(raw_key);
    if (raw_cert != nullptr) certs.emplace_back(raw_cert);
    if (raw_ca != nullptr) {
      while (X509* c = sk_X509_shift(raw_ca)) certs.emplace_back(c);
      sk_X509_free(raw_ca);
    }
    return true;
  };
  // Without a MAC there was no telling whether an empty password was encoded as "" or as none.
  if (!parse_with(chosen) && !(no_mac && pw.empty() && parse_with(nullptr))) {
    // Usually a bag encrypted with RC2 (legacy_context above).
    if (!parse_pkcs12_legacy(data, chosen, key, certs)) {
      if (no_mac) {
        error = password.empty()
                    ? "is a PKCS#12 file whose contents could not be decrypted without a password "
                      "(it has no integrity MAC to tell a wrong password from damage)"
                    : "is a PKCS#12 file whose contents the given password does not decrypt "
                      "(wrong password? it has no integrity MAC to tell a wrong password from "
                      "damage)";
        return false;
      }
      error = legacy_context() != nullptr
                  ? "is a PKCS#12 file that could not be decoded (Failed to deserialize "
                    "certificate in PEM or PKCS12 "
                    "format); re-export it with AES-256 (openssl pkcs12 -export -keypbe "
                    "AES-256-CBC -certpbe "
                    "AES-256-CBC) or as PEM"
                  : "is a PKCS#12 file that could not be decoded (Failed to deserialize "
                    "certificate in PEM or PKCS12 "
                    "format); if it was exported with legacy RC2 encryption, install OpenSSL's "
                    "legacy provider "
                    "(legacy.so in the ossl-modules directory, or set OPENSSL_MODULES), or "
                    "re-export it with AES-256 "
                    "(openssl pkcs12 -export -keypbe AES-256-CBC -certpbe AES-256-CBC) or as PEM";
      return false;
    }
  }
  if (!key || certs.empty()) {
    error = !key ? "is a PKCS#12 file without a private key (Your PFX file shall contain both "
                   "private key and cert)"
                 : "is a PKCS#12 file without a certificate (Your PFX file shall contain both "
                   "private key and cert)";
    return false;
  }
  return finish(std::move(key), std::move(certs), out, error);
}

}  // namespace crypto_impl

AZID_DECL bool load_certificate(std::string_view data, std::string_view password,
                                CertificateMaterial& out, std::string& error) {
  crypto_impl::ClearErrorsOnExit clear;
  error.clear();
  if (data.empty()) {
    error = "is empty";
    return false;
  }
  if (data.size() > max_certificate_bytes) {
    error = "is larger than the " + std::to_string(max_certificate_bytes / 1024) +
            " KiB allowed for a certificate";
    return false;
  }
  CertificateMaterial::Parts parts;
  const bool ok = data.find("-----BEGIN") != std::string_view::npos
                      ? crypto_impl::load_pem(data, password, parts, error)
                      : crypto_impl::load_pkcs12(data, password, parts, error);
  if (!ok) return false;
  out = CertificateMaterial(std::move(parts));
  return true;
}

AZID_DECL std::string CertificateMaterial::sign(JwsAlgorithm alg, std::string_view data,
                                                std::string& error) const {
  crypto_impl::ClearErrorsOnExit clear;
  if (parts_.key == nullptr) {
    error = "no certificate is loaded";
    return {};
  }
  std::string sig = crypto_impl::sign_with(static_cast<EVP_PKEY*>(parts_.key.get()), alg, data);
  if (sig.empty()) error = "signing the client assertion failed";
  return sig;
}

AZID_DECL std::string make_client_assertion(const CertificateMaterial& cert,
                                            const AssertionParams& p, std::string& error) {
  std::string header = "{\"alg\":";
  header += p.alg == JwsAlgorithm::ps256 ? "\"PS256\"" : "\"RS256\"";
  header += ",\"typ\":\"JWT\"";
  if (p.alg == JwsAlgorithm::ps256)
    header += ",\"x5t#S256\":" + json_quote(base64_encode(cert.thumbprint_sha256(), true));
  else
    header += ",\"x5t\":" + json_quote(base64_encode(cert.thumbprint_sha1(), true));
  if (p.send_certificate_chain) {
    // Standard base64 (not url), one element per certificate, signing certificate first (RFC 7515 §4.1.6).
    header += ",\"x5c\":[";
    bool first = true;
    for (const auto& der : cert.chain_der()) {
      if (!first) header.push_back(',');
      first = false;
      header += json_quote(base64_encode(der, false));
    }
    header.push_back(']');
  }
  header.push_back('}');
  const long long now =
      std::chrono::duration_cast<std::chrono::seconds>(p.now.time_since_epoch()).count();
  std::string payload =
      "{\"aud\":" + json_quote(p.audience) + ",\"iss\":" + json_quote(p.client_id) +
      ",\"sub\":" + json_quote(p.client_id) + ",\"jti\":" + json_quote(new_uuid()) +
      ",\"nbf\":" + std::to_string(now) + ",\"iat\":" + std::to_string(now) +
      ",\"exp\":" + std::to_string(now + p.lifetime.count()) + "}";
  std::string jwt = base64_encode(header, true);
  jwt.push_back('.');
  jwt += base64_encode(payload, true);
  std::string sig = cert.sign(p.alg, jwt, error);
  if (sig.empty()) return {};
  jwt.push_back('.');
  jwt += base64_encode(sig, true);
  return jwt;
}

}  // namespace detail
AZID_END
