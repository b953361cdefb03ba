// azid/detail/client_auth.hpp: the client-assertion halves of the confidential-client credentials:
// a certificate's signed JWT (loaded lazily, reused until close to expiry) and a federated token
// read from a file (workload identity). Light: crypto is behind detail/crypto.hpp.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "azid/config.hpp"
#include "azid/core/error_code.hpp"
#include "azid/core/result.hpp"
#include "azid/detail/crypto.hpp"
#include "azid/detail/entra.hpp"
#include "azid/detail/names.hpp"
#include "azid/detail/redact.hpp"

AZID_BEGIN
namespace detail {

/// Appends `client_assertion_type` (jwt-bearer) and `client_assertion` to a token request form.
inline void append_client_assertion(std::string& fields, std::string_view assertion) {
  append_form(fields, "client_assertion_type", names::assertion_type_jwt_bearer);
  append_form(fields, "client_assertion", assertion);
}

/// Where a certificate comes from and how to use it.
struct CertificateSource {
  std::string path;      ///< read through the platform's FileReader when set
  std::string data;      ///< the file's bytes, when given directly
  std::string password;  ///< PEM key or PKCS#12 password; may be empty
  bool send_certificate_chain = false;
  bool use_pss = false;
};

/// A certificate's client assertions. The certificate is read and parsed on first use (no I/O
/// at construction) and kept once it loads; a failed load is retried on the next request, so a
/// fixed file is picked up without a restart. A signed assertion is reused for the same
/// audience until 60 s before its `exp` (token-endpoint.md §3.2), so a burst of cache misses for
/// different scopes signs once.
///
/// Thread safety: `append` may be called concurrently; a mutex guards the state, and it is only
/// reached on a token-cache miss.
class CertificateAuth {
 public:
  static constexpr std::chrono::seconds assertion_lifetime{600};
  static constexpr std::chrono::seconds reuse_margin{60};

  explicit CertificateAuth(CertificateSource source) : source_(std::move(source)) {}

  /// Appends the assertion fields for `endpoint`, or returns why it cannot (a load failure,
  /// named after `credential` and the file, never the password).
  template <class P>
  TokenResult append(std::string_view credential, const P& platform, std::string_view endpoint,
                     std::string_view client_id, std::string& fields) const {
    std::lock_guard lk(mu_);
    if (material_.empty()) {
      std::string bytes;
      const WipeOnExit wipe_file(bytes);  // the file may hold an unencrypted private key
      if (!source_.path.empty()) {
        std::error_code ec;
        bytes = platform.files().read(source_.path, max_certificate_bytes, ec);
        if (ec) {
          std::string why = ec == make_error_code(errc::file_too_large)
                                ? "is larger than the " +
                                      std::to_string(max_certificate_bytes / 1024) +
                                      " KiB allowed for a certificate"
                                : "could not be read: " + ec.message();
          return TokenResult::failed(credential, describe(credential) + " " + why + ".");
        }
      }
      std::string error;
      CertificateMaterial loaded;
      if (!load_certificate(
              source_.path.empty() ? std::string_view(source_.data) : std::string_view(bytes),
              source_.password, loaded, error))
        return TokenResult::failed(credential, describe(credential) + " " + error + ".");
      material_ = std::move(loaded);
      // Loaded for good: the password and the certificate bytes are not needed again.
      wipe_secret(source_.password);
      wipe_secret(source_.data);
      source_.data.shrink_to_fit();
    }
    const auto now = platform.clock().now();
    for (const auto& a : assertions_) {
      // Reused only while `now` lies inside its validity: an assertion signed before the clock
      // was stepped back is not yet valid (nbf) and would be refused (AADSTS700024).
      if (a.audience == endpoint && a.issued_at <= now && now + reuse_margin < a.expires_on) {
        append_client_assertion(fields, a.jwt);
        return {};
      }
    }
    AssertionParams params;
    params.client_id = client_id;
    params.audience = endpoint;
    params.now = now;
    params.lifetime = assertion_lifetime;
    // AD FS takes RS256 + x5t only (token-endpoint.md: PS256 where the authority is not AD FS).
    params.alg =
        source_.use_pss && !adfs_endpoint(endpoint) ? JwsAlgorithm::ps256 : JwsAlgorithm::rs256;
    params.send_certificate_chain = source_.send_certificate_chain;
    std::string error;
    std::string jwt = make_client_assertion(material_, params, error);
    if (jwt.empty())
      return TokenResult::failed(credential, std::string(credential) + ": " + error + ".");
    append_client_assertion(fields, jwt);
    remember(std::string(endpoint), std::move(jwt), now, now + assertion_lifetime);
    return {};
  }

  /// How many assertions have been signed (tests check reuse).
  [[nodiscard]] std::size_t signed_count() const {
    std::lock_guard lk(mu_);
    return signed_;
  }

 private:
  struct Cached {
    std::string audience;
    std::string jwt;
    std::chrono::system_clock::time_point issued_at;
    std::chrono::system_clock::time_point expires_on;
  };

  std::string describe(std::string_view credential) const {
    if (source_.path.empty()) return std::string(credential) + ": the certificate data";
    return std::string(credential) + ": the certificate file '" + source_.path + "'";
  }

  void remember(std::string audience, std::string jwt, std::chrono::system_clock::time_point iat,
                std::chrono::system_clock::time_point exp) const {
    ++signed_;
    for (auto& a : assertions_) {
      if (a.audience == audience) {
        a.jwt = std::move(jwt);
        a.issued_at = iat;
        a.expires_on = exp;
        return;
      }
    }
    // One entry per tenant's endpoint; a credential talks to a handful of tenants at most, so
    // the list stays tiny. Bound it anyway.
    if (assertions_.size() >= 16) assertions_.erase(assertions_.begin());
    assertions_.push_back({std::move(audience), std::move(jwt), iat, exp});
  }

  mutable CertificateSource source_;  // password and data wiped once loaded
  mutable std::mutex mu_;
  mutable CertificateMaterial material_;
  mutable std::vector<Cached> assertions_;
  mutable std::size_t signed_ = 0;
};

/// A federated token kept in a file that something else rotates (Kubernetes projects a new
/// service account token well before the old one expires).
///
/// Re-read policy: the cached copy is used while it is younger than 600 s (token-endpoint.md §5,
/// the Python SDK's rule), and dropped after the STS refuses a request, so the next attempt
/// re-reads. We go by age rather than the file's mtime/size because the FileReader seam offers
/// no stat; the kubelet refreshes the projected token at 80% of a lifetime of an hour or more, so
/// a copy ten minutes old is still valid. Reads are on the token-cache miss path only.
///
/// Thread safety: `read` and `forget` may be called concurrently.
class TokenFile {
 public:
  static constexpr std::chrono::seconds max_age{600};
  static constexpr std::size_t max_bytes = 64 * 1024;

  explicit TokenFile(std::string path) : path_(std::move(path)) {}

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  /// The token, or an error naming the file (never its content).
  template <class P>
  TokenResult read(std::string_view credential, const P& platform, std::string& out) const {
    std::lock_guard lk(mu_);
    const auto now = platform.clock().steady_now();
    if (!cached_ || now - read_at_ >= max_age) {
      std::error_code ec;
      std::string content = platform.files().read(path_, max_bytes, ec);
      if (ec)
        return TokenResult::failed(credential, std::string(credential) +
                                                   ": the federated token file '" + path_ +
                                                   "' could not be read: " + ec.message() + ".");
      // Only trailing whitespace goes: the file holds a JWT and a newline at most.
      while (!content.empty() && (content.back() == '\n' || content.back() == '\r' ||
                                  content.back() == ' ' || content.back() == '\t'))
        content.pop_back();
      if (content.empty())
        return TokenResult::failed(
            credential,
            std::string(credential) + ": the federated token file '" + path_ + "' is empty.");
      cached_ = std::move(content);
      read_at_ = now;
    }
    out = *cached_;
    return {};
  }

  void forget() const {
    std::lock_guard lk(mu_);
    cached_.reset();
  }

 private:
  std::string path_;
  mutable std::mutex mu_;
  mutable std::optional<std::string> cached_;
  mutable std::chrono::steady_clock::time_point read_at_{};
};

}  // namespace detail
AZID_END
