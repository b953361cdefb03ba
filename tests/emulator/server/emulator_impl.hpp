// Internal: the state behind Emulator, shared by the HTTP server (emulator.cpp) and the endpoint
// handlers (emulator_entra.cpp, emulator_resource.cpp). Asio stays out of this header; the server
// lives behind `Server`, defined in emulator.cpp only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "emulator.hpp"
#include "emulator_crypto.hpp"
#include "emulator_router.hpp"

namespace azid_emulator {

namespace detail {
class Server;
struct ManagedIdentityState;
}  // namespace detail

struct Emulator::Impl {
  explicit Impl(Options opts);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Fixed after construction; read without locking.
  Options options;
  detail::PkeyPtr signing_key;
  std::string signing_kid;
  std::string signing_public_pem;
  std::string ca_file;
  std::string temp_dir;  // removed at destruction when we created it
  std::uint16_t port = 0;
  std::string base_url;

  // Mutable state, guarded by `mutex`.
  struct QueuedFault {
    std::string prefix;
    Fault fault;
  };
  mutable std::mutex mutex;
  mutable std::condition_variable requests_changed;
  std::vector<App> apps;
  std::deque<QueuedFault> faults;
  std::vector<RecordedRequest> records;
  std::map<std::string, std::string, std::less<>> secrets;
  std::string resource_required_acrs;  // claims-challenge mode (emulator_cae.cpp); "" = off
  // Client assertion credentials (emulator_assertion.cpp, emulator_pipelines.cpp).
  struct RegisteredCertificate {
    std::string tenant;
    std::string client_id;
    std::string sha1;  // thumbprints of the DER, raw bytes
    std::string sha256;
    std::string der;
    std::shared_ptr<EVP_PKEY> public_key;
    bool subject_name_issuer = false;  // x5c required
  };
  struct FederatedCredential {
    std::string tenant;
    std::string client_id;
    std::string issuer;
    std::string subject;
  };
  struct ServiceConnection {
    std::string id;
    std::string system_access_token;
    std::string subject;
  };
  std::vector<RegisteredCertificate> certificates;
  std::vector<FederatedCredential> federated_credentials;
  std::vector<ServiceConnection> service_connections;
  detail::Router router;
  // Managed identity endpoints (emulator_managed_identity.cpp); thread-safe on its own.
  std::shared_ptr<detail::ManagedIdentityState> managed_identity;
  std::string server_thumbprint;  // SHA-1 hex of the TLS server certificate

  std::atomic<std::size_t> open_connections{0};

  std::unique_ptr<detail::Server> server;

  // Called by the server for each parsed request, in this order.
  void record(const RecordedRequest& request);
  std::optional<Fault> take_fault(std::string_view path);
  /// Routes the request; never throws (handler exceptions become 500).
  Reply dispatch(const RecordedRequest& request);

  std::optional<App> find_app(std::string_view tenant, std::string_view client_id) const;
  bool has_tenant(std::string_view tenant) const;
  std::optional<std::string> find_secret(std::string_view name) const;
  std::string resource_tenant() const;

  /// `extra_claims`: more payload members, as (name, serialised JSON value).
  std::string issue_token(
      std::string_view tenant, std::string_view client_id, std::string_view resource,
      std::chrono::seconds lifetime, std::chrono::seconds not_before_offset,
      const std::vector<std::pair<std::string, std::string>>& extra_claims = {}) const;
  /// Checks format, alg, kid and signature; on success stores the payload JSON.
  bool verify_signature(std::string_view jwt, std::string& payload_json) const;
  /// An RS256 JWT with the signing key: issuer, subject and audience as given (federated tokens).
  std::string issue_federated_token(std::string_view issuer, std::string_view subject,
                                    std::string_view audience, std::chrono::seconds lifetime) const;
};

namespace detail {
/// Registers the token endpoint and the discovery keys endpoint (emulator_entra.cpp).
void install_entra_routes(Emulator::Impl& impl);
/// Registers the protected resource (emulator_resource.cpp).
void install_resource_routes(Emulator::Impl& impl);
/// Registers Azure Pipelines' OIDC token endpoint (emulator_pipelines.cpp).
void install_pipelines_routes(Emulator::Impl& impl);
/// Registers the managed identity endpoints (emulator_managed_identity.cpp).
void install_managed_identity_routes(Emulator::Impl& impl);
/// Lower-case hex SHA-1 of a certificate's DER (emulator_managed_identity.cpp).
std::string certificate_sha1_hex(X509* cert);

/// Why a client assertion was refused, as the token endpoint reports it.
struct AssertionRejection {
  int status;
  std::string error;
  int code;
  std::string message;
};
/// Verifies a client assertion presented for `app` at the token endpoint of `tenant`
/// (emulator_assertion.cpp). nullopt when it proves the app's identity.
std::optional<AssertionRejection> verify_client_assertion(const Emulator::Impl& impl,
                                                          const App& app, std::string_view tenant,
                                                          std::string_view assertion);
/// The issuer of the emulator's Azure Pipelines OIDC tokens.
std::string pipelines_issuer(const Emulator::Impl& impl);

/// Token claims asked for by a token request's `claims` JSON (emulator_cae.cpp): `acrs` from
/// access_token.acrs.value/values and `xms_cc` from access_token.xms_cc.values, as JSON arrays.
std::vector<std::pair<std::string, std::string>> requested_token_claims(
    std::string_view claims_json);
/// The protected resource's claims challenge for a valid token's payload, or nullopt when the
/// token satisfies the required authentication context (or the mode is off).
std::optional<Reply> resource_claims_challenge(const Emulator::Impl& impl,
                                               std::string_view payload_json);

/// Seconds since the Unix epoch.
long long unix_now();
/// "YYYY-MM-DD hh:mm:ssZ" (Entra's timestamp format), UTC.
std::string sts_timestamp();
/// A JSON reply with the usual content type.
Reply json_reply(int status, std::string body);
}  // namespace detail

}  // namespace azid_emulator
