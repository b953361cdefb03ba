// azid/detail/crypto.hpp: certificate loading (PEM, PKCS#12), thumbprints and JWS signing for
// client assertions (light; OpenSSL only in impl/crypto.ipp).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "azid/config.hpp"

AZID_BEGIN
namespace detail {

/// Largest certificate file (PEM or PKCS#12) accepted. A chain of a few certificates is a few
/// KiB; anything near this is not a certificate.
inline constexpr std::size_t max_certificate_bytes = 1024 * 1024;

/// Signature algorithms of a client assertion (token-endpoint.md §3.2).
enum class JwsAlgorithm {
  rs256,  ///< RSASSA-PKCS1-v1_5 with SHA-256; header carries `x5t` (SHA-1 thumbprint)
  ps256,  ///< RSASSA-PSS with SHA-256 (salt = 32 bytes); header carries `x5t#S256`
};

/// An RSA private key and its certificate chain, loaded once and then only read.
///
/// The key lives behind an opaque shared handle, so this header needs no OpenSSL and copies are
/// cheap. Thread safety: const member functions may be called concurrently.
class CertificateMaterial {
 public:
  /// What a loaded certificate consists of (filled by load_certificate).
  struct Parts {
    std::shared_ptr<void> key;  ///< EVP_PKEY, freed by its deleter
    std::string sha1;
    std::string sha256;
    std::vector<std::string> chain;
  };

  CertificateMaterial() = default;
  explicit CertificateMaterial(Parts parts) noexcept : parts_(std::move(parts)) {}

  [[nodiscard]] bool empty() const noexcept { return parts_.key == nullptr; }
  /// SHA-1 of the signing certificate's DER (20 raw bytes).
  [[nodiscard]] const std::string& thumbprint_sha1() const noexcept { return parts_.sha1; }
  /// SHA-256 of the signing certificate's DER (32 raw bytes).
  [[nodiscard]] const std::string& thumbprint_sha256() const noexcept { return parts_.sha256; }
  /// DER of every certificate in the source, the signing certificate first.
  [[nodiscard]] const std::vector<std::string>& chain_der() const noexcept { return parts_.chain; }

  /// Signs `data` (a JWS signing input). Returns an empty string and sets `error` on failure.
  [[nodiscard]] AZID_DECL std::string sign(JwsAlgorithm alg, std::string_view data,
                                           std::string& error) const;

 private:
  Parts parts_;
};

/// Loads a certificate and its private key (token-endpoint.md §3.1). Data containing
/// `-----BEGIN` anywhere is PEM (one private key block, possibly encrypted with `password`, and
/// one or more certificates); anything else is PKCS#12, decrypted with `password` (which may be
/// empty). The signing certificate is the one matching the key. Only RSA keys are accepted.
///
/// On failure returns false and sets `error` to a sentence that says what is wrong with the
/// data (wrong password, no key, no certificate, EC key, not a certificate at all). The
/// password never appears in it.
AZID_DECL bool load_certificate(std::string_view data, std::string_view password,
                                CertificateMaterial& out, std::string& error);

/// What goes into a certificate's client assertion.
struct AssertionParams {
  std::string_view client_id;  ///< `iss` and `sub`
  std::string_view audience;   ///< `aud`: the token endpoint URL
  std::chrono::system_clock::time_point now;
  std::chrono::seconds lifetime{600};
  JwsAlgorithm alg = JwsAlgorithm::rs256;
  bool send_certificate_chain = false;  ///< adds `x5c`
};

/// The signed JWT client assertion (token-endpoint.md §3.2): header `alg`, `typ`, `x5t` (RS256)
/// or `x5t#S256` (PS256), optionally `x5c`; claims `aud`, `iss`, `sub`, `jti`, `nbf`, `iat`,
/// `exp`. Returns an empty string and sets `error` when signing fails.
AZID_DECL std::string make_client_assertion(const CertificateMaterial& cert,
                                            const AssertionParams& params, std::string& error);

}  // namespace detail
AZID_END

#if defined(AZID_HEADER_ONLY)
#include "azid/impl/crypto.ipp"
#endif
