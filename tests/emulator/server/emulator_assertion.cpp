// Client assertions at the token endpoint: a certificate's signed JWT (checked against the
// certificates registered for the app) or a federated token from a trusted issuer (workload
// identity, Azure Pipelines). Also registration of both, and minting federated tokens.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <stdexcept>

#include "emulator_http.hpp"
#include "emulator_impl.hpp"
#include "emulator_json.hpp"

namespace azid_emulator {
namespace detail {
namespace {

constexpr std::string_view federated_audience = "api://AzureADTokenExchange";
constexpr std::string_view assertion_docs =
    " Review the documentation at "
    "https://learn.microsoft.com/entra/identity-platform/certificate-credentials.";
// Entra refuses assertions valid for longer than this; ours allow some clock skew on top.
constexpr long long max_assertion_lifetime = 24 * 3600;
constexpr long long clock_skew = 300;

AssertionRejection malformed() {
  return {400, "invalid_request", 50027, "JWT token is invalid or malformed."};
}

std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (EVP_Digest(data.data(), data.size(), buf, &len, md, nullptr) != 1)
    throw_openssl("EVP_Digest");
  return std::string(reinterpret_cast<const char*>(buf), len);
}

// Standard base64 (x5c uses it, not the url alphabet), padding required by RFC 7515 but
// tolerated when absent.
bool base64_std_decode(std::string_view text, std::string& out) {
  std::string url(text);
  for (char& c : url) {
    if (c == '+')
      c = '-';
    else if (c == '/')
      c = '_';
    else if (c == '-' || c == '_')
      return false;
  }
  return base64url_decode(url, out);
}

bool verify_rsa(EVP_PKEY* key, bool pss, std::string_view data, std::string_view signature) {
  struct CtxFree {
    void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) == 1;
  if (ok && pss) {
    // RFC 7518 §3.5: MGF1 with SHA-256 and a 32-byte salt; anything else is not PS256.
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                              signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                              data.size()) == 1;
  ERR_clear_error();
  return ok;
}

struct Jwt {
  std::string header;
  std::string payload;
  std::string signature;
  std::string_view signing_input;
};

bool split_jwt(std::string_view jwt, Jwt& out) {
  const auto dot1 = jwt.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || jwt.find('.', dot2 + 1) != std::string_view::npos)
    return false;
  if (!base64url_decode(jwt.substr(0, dot1), out.header) ||
      !base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1), out.payload) ||
      !base64url_decode(jwt.substr(dot2 + 1), out.signature))
    return false;
  out.signing_input = jwt.substr(0, dot2);
  return json_is_object(out.header) && json_is_object(out.payload) && !out.signature.empty();
}

bool audience_matches(const std::vector<std::string>& audiences, std::string_view wanted) {
  return std::any_of(audiences.begin(), audiences.end(),
                     [&](const std::string& a) { return iequals(a, wanted); });
}

// exp must be in the future and the validity window sane; nbf (when present) must have passed.
std::optional<AssertionRejection> check_times(const std::string& payload) {
  const auto exp = json_int_member(payload, "exp");
  if (!exp) return malformed();
  const long long now = unix_now();
  const auto nbf = json_int_member(payload, "nbf");
  const long long start = nbf ? *nbf : json_int_member(payload, "iat").value_or(now);
  if (*exp <= now - clock_skew || start > now + clock_skew ||
      *exp - start > max_assertion_lifetime) {
    return AssertionRejection{
        400, "invalid_client", 700024,
        "Client assertion is not within its valid time range. Current time: " +
            std::to_string(now) + ", assertion valid from " + std::to_string(start) +
            ", expiry time of assertion " + std::to_string(*exp) + "."};
  }
  return std::nullopt;
}

std::optional<AssertionRejection> verify_federated(const Emulator::Impl& impl, const App& app,
                                                   std::string_view tenant, std::string_view jwt,
                                                   const std::string& issuer) {
  std::string payload;
  if (!impl.verify_signature(jwt, payload)) {
    return AssertionRejection{400, "invalid_client", 700027,
                              "Client assertion contains an invalid signature. The federated "
                              "token is not signed by a key of issuer '" +
                                  issuer + "'."};
  }
  if (auto times = check_times(payload)) return times;
  const auto audiences = json_strings_member(payload, "aud").value_or(std::vector<std::string>{});
  if (!audience_matches(audiences, federated_audience)) {
    return AssertionRejection{
        400, "invalid_client", 700212,
        "No matching federated identity record found for presented assertion audience '" +
            (audiences.empty() ? std::string() : audiences.front()) + "'."};
  }
  const std::string subject = json_string_member(payload, "sub").value_or("");
  std::lock_guard lock(impl.mutex);
  for (const auto& f : impl.federated_credentials) {
    if (iequals(f.tenant, tenant) && iequals(f.client_id, app.client_id) && f.issuer == issuer &&
        f.subject == subject)
      return std::nullopt;
  }
  return AssertionRejection{400, "invalid_client", 70021,
                            "No matching federated identity record found for presented "
                            "assertion. Assertion Issuer: '" +
                                issuer + "'. Assertion Subject: '" + subject +
                                "'. Assertion Audience: '" + std::string(federated_audience) +
                                "'."};
}

std::optional<AssertionRejection> verify_certificate_assertion(const Emulator::Impl& impl,
                                                               const App& app,
                                                               std::string_view tenant,
                                                               const Jwt& jwt) {
  const std::string alg = json_string_member(jwt.header, "alg").value_or("");
  // AD FS verifies RS256 assertions only.
  const bool adfs = iequals(tenant, "adfs");
  if (alg != "RS256" && (alg != "PS256" || adfs)) return malformed();
  // Audience: the token endpoint the assertion was presented to, or the tenant's v2 issuer.
  const auto audiences = json_strings_member(jwt.payload, "aud");
  if (!audiences) return malformed();
  const std::string base = impl.base_url + "/" + std::string(tenant);
  if (!audience_matches(*audiences, base + (adfs ? "/oauth2/token" : "/oauth2/v2.0/token")) &&
      !audience_matches(*audiences, base + "/v2") &&
      !audience_matches(*audiences, base + "/v2.0")) {
    return AssertionRejection{401, "invalid_client", 700023,
                              "Client assertion audience claim does not match Realm issuer." +
                                  std::string(assertion_docs)};
  }
  if (auto times = check_times(jwt.payload)) return times;

  // The certificate: x5t#S256 (SHA-256) when present, else x5t (SHA-1).
  std::string thumbprint;
  bool sha256 = false;
  if (auto t = json_string_member(jwt.header, "x5t#S256")) {
    sha256 = true;
    if (!base64url_decode(*t, thumbprint)) return malformed();
  } else if (auto t1 = json_string_member(jwt.header, "x5t")) {
    if (!base64url_decode(*t1, thumbprint)) return malformed();
  } else {
    return AssertionRejection{400, "invalid_request", 5002723,
                              "Invalid JWT token. No certificate thumbprint specified in token "
                              "header."};
  }
  // The thumbprint goes with the algorithm: x5t#S256 for PS256, x5t for RS256 (token-endpoint.md
  // §3.2), so a client that signs one way and names the certificate the other way is caught.
  if ((alg == "PS256") != sha256) return malformed();
  std::shared_ptr<EVP_PKEY> key;
  std::string der;
  bool needs_x5c = false;
  {
    std::lock_guard lock(impl.mutex);
    for (const auto& c : impl.certificates) {
      if (iequals(c.tenant, tenant) && iequals(c.client_id, app.client_id) &&
          (sha256 ? c.sha256 : c.sha1) == thumbprint) {
        key = c.public_key;
        der = c.der;
        needs_x5c = c.subject_name_issuer;
        break;
      }
    }
  }
  if (!key) {
    return AssertionRejection{
        401, "invalid_client", 700027,
        "Client assertion contains an invalid signature. [Reason - The key was not found., "
        "Thumbprint of key used by client: '" +
            base64url_encode(thumbprint) +
            "', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see "
            "configured keys for app Id '" +
            app.client_id + "'.]"};
  }
  if (!verify_rsa(key.get(), alg == "PS256", jwt.signing_input, jwt.signature)) {
    return AssertionRejection{401, "invalid_client", 700027,
                              "Client assertion contains an invalid signature. [Reason - The "
                              "provided signature value did not match the expected signature "
                              "value.]"};
  }
  // x5c (subject name / issuer authentication): the first certificate must be the signer.
  const auto chain = json_strings_member(jwt.header, "x5c");
  if (needs_x5c && !chain) {
    return AssertionRejection{401, "invalid_client", 700027,
                              "Client assertion contains an invalid signature. [Reason - The "
                              "app trusts this certificate by subject name and issuer, which "
                              "requires the x5c chain.]"};
  }
  if (chain) {
    std::string first;
    if (chain->empty() || !base64_std_decode(chain->front(), first) || first != der) {
      return AssertionRejection{401, "invalid_client", 700027,
                                "Client assertion contains an invalid signature. [Reason - The "
                                "x5c chain does not start with the signing certificate.]"};
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<AssertionRejection> verify_client_assertion(const Emulator::Impl& impl,
                                                          const App& app, std::string_view tenant,
                                                          std::string_view assertion) {
  Jwt jwt;
  if (!split_jwt(assertion, jwt)) return malformed();
  const std::string iss = json_string_member(jwt.payload, "iss").value_or("");
  const std::string sub = json_string_member(jwt.payload, "sub").value_or("");
  // A federated token names its issuer; an app's own assertion names the app (iss = sub = id).
  bool trusted_issuer = false;
  {
    std::lock_guard lock(impl.mutex);
    trusted_issuer =
        std::any_of(impl.federated_credentials.begin(), impl.federated_credentials.end(),
                    [&](const Emulator::Impl::FederatedCredential& f) { return f.issuer == iss; });
  }
  if (trusted_issuer) return verify_federated(impl, app, tenant, assertion, iss);
  if (istarts_with(iss, "https://") && iss != sub) {
    return AssertionRejection{400, "invalid_client", 700211,
                              "No matching federated identity record found for presented "
                              "assertion issuer '" +
                                  iss + "'."};
  }
  if (!iequals(iss, app.client_id) || !iequals(sub, app.client_id)) {
    return AssertionRejection{
        401, "invalid_client", 700021,
        "Client assertion application identifier doesn't match 'client_id' parameter." +
            std::string(assertion_docs)};
  }
  return verify_certificate_assertion(impl, app, tenant, jwt);
}

std::string pipelines_issuer(const Emulator::Impl& impl) {
  // Azure DevOps issues from https://vstoken.dev.azure.com/<organization id>; ours is served by
  // the emulator itself.
  return impl.base_url + "/vstoken/00000000-0000-4000-8000-00000000a21d";
}

}  // namespace detail

std::string Emulator::Impl::issue_federated_token(std::string_view issuer, std::string_view subject,
                                                  std::string_view audience,
                                                  std::chrono::seconds lifetime) const {
  using namespace detail;
  const long long now = unix_now();
  const std::string header =
      JsonObject().str("typ", "JWT").str("alg", "RS256").str("kid", signing_kid).done();
  const std::string payload = JsonObject()
                                  .str("iss", issuer)
                                  .str("sub", subject)
                                  .str("aud", audience)
                                  .num("iat", now)
                                  .num("nbf", now - 60)
                                  .num("exp", now + lifetime.count())
                                  .str("jti", make_uuid())
                                  .done();
  const std::string signing_input = base64url_encode(header) + "." + base64url_encode(payload);
  return signing_input + "." + base64url_encode(rs256_sign(signing_key.get(), signing_input));
}

void Emulator::register_certificate(std::string_view tenant, std::string_view client_id,
                                    std::string_view certificate_pem, bool subject_name_issuer) {
  using namespace detail;
  struct BioFree {
    void operator()(BIO* p) const noexcept { BIO_free(p); }
  };
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(certificate_pem.data(), static_cast<int>(certificate_pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) throw_openssl("register_certificate: no certificate in the PEM");
  unsigned char* der_buf = nullptr;
  const int len = i2d_X509(cert.get(), &der_buf);
  if (len <= 0) throw_openssl("i2d_X509");
  std::string der(reinterpret_cast<const char*>(der_buf), static_cast<std::size_t>(len));
  OPENSSL_free(der_buf);
  EVP_PKEY* pub = X509_get_pubkey(cert.get());
  if (pub == nullptr) throw_openssl("X509_get_pubkey");
  Impl::RegisteredCertificate entry{
      std::string(tenant),     std::string(client_id),
      digest(EVP_sha1(), der), digest(EVP_sha256(), der),
      std::move(der),          std::shared_ptr<EVP_PKEY>(pub, EVP_PKEY_free),
      subject_name_issuer};
  std::lock_guard lock(impl_->mutex);
  impl_->certificates.push_back(std::move(entry));
}

void Emulator::register_federated_credential(std::string_view tenant, std::string_view client_id,
                                             std::string issuer, std::string subject) {
  std::lock_guard lock(impl_->mutex);
  impl_->federated_credentials.push_back(
      {std::string(tenant), std::string(client_id), std::move(issuer), std::move(subject)});
}

std::string Emulator::oidc_issuer() const { return impl_->base_url + "/oidc"; }

std::string Emulator::issue_federated_token(std::string_view subject, std::chrono::seconds lifetime,
                                            std::string_view audience,
                                            std::string_view issuer) const {
  const std::string iss = issuer.empty() ? oidc_issuer() : std::string(issuer);
  return impl_->issue_federated_token(iss, subject, audience, lifetime);
}

}  // namespace azid_emulator
