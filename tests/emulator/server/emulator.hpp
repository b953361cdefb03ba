// azid_emulator: a local stand-in for Microsoft Entra ID (and a small protected resource) used by
// the azid tests and the demo. It listens on 127.0.0.1 only, speaks HTTP/1.1 over TLS (or plain
// HTTP), issues RS256 access tokens and can be scripted to misbehave (Fault).
//
// Built-in routes:
//   * /{tenant}/oauth2/v2.0/token   client_credentials + client_secret. Checks, in order: POST
//     only (AADSTS900561), tenant syntax (GUID, domain name or common/organizations/consumers,
//     else AADSTS900023), tenant exists (= some app registered in it, else AADSTS90002),
//     grant_type (AADSTS900144 / 70003), client_id (AADSTS900144 / 700016), scope (one resource
//     with "/.default", else AADSTS1002012 / 28000), then the client secret (AADSTS7000215 /
//     7000222; none at all: AADSTS7000218). A client_assertion is verified for real
//     (emulator_assertion.cpp): a certificate's JWT against the app's registered certificates
//     (signature, x5t / x5t#S256, aud, iss = sub = client id, exp), or a federated token from a
//     registered issuer (signature, aud api://AzureADTokenExchange, subject).
//   POST /{org}/{project}/_apis/distributedtask/hubs/build/plans/{plan}/jobs/{job}/oidctoken
//     Azure Pipelines' OIDC token endpoint (emulator_pipelines.cpp).
//   Managed identity sources (emulator_managed_identity.cpp): IMDS, App Service, Arc, Service
//     Fabric, Cloud Shell and Azure ML token endpoints.
//   GET /{tenant}/discovery/v2.0/keys  JWKS with the token signing key.
//   GET /secrets/{name}    Key Vault-shaped resource; needs a valid, unexpired token from this
//     emulator whose aud is "https://vault.azure.net" or base_url() (and, in claims-challenge
//     mode, the required `acrs` value: require_resource_claims).
//
// This header is deliberately std-only: Asio and OpenSSL live behind a pimpl so that test files
// including it do not inherit the emulator's build settings.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace azid_emulator {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// An application registration: a confidential client with one client secret.
struct App {
  std::string tenant;
  std::string client_id;
  std::string client_secret;
  bool secret_expired = false;
  std::string object_id;  // the service principal's object id; generated when empty
};

/// One scripted response, consumed by the next request whose path starts with the prefix it was
/// pushed with. `delay` applies to every kind before anything is written.
struct Fault {
  enum class Kind {
    respond,               // status + headers + body (body sent as-is, may be malformed JSON)
    drop_before_response,  // close the connection without writing anything
    drop_mid_headers,      // write part of the status line/headers, then close
    drop_mid_body,         // full headers with Content-Length, half the body, then close
    silent,                // never answer; keep the socket open until the peer or the emulator goes
    slow_body,             // headers, then one body byte per byte_interval
    huge_body,          // claim Content-Length: 1073741824 and stream zeros until the peer leaves
    truncated_body,     // declare a Content-Length larger than the body, send the body, close
    raw,                // write `body` verbatim as the whole response (status line too), then close
    huge_chunked_body,  // Transfer-Encoding: chunked, 64 KiB chunks of zeros up to 1 GiB, no length
  };
  Kind kind = Kind::respond;
  int status = 200;
  Headers headers;  // e.g. {"Retry-After", "1"}
  std::string body;
  std::chrono::milliseconds delay{0};
  std::chrono::milliseconds byte_interval{1000};

  /// Shorthands that avoid partial aggregate initialisation (which -Wextra flags).
  static Fault of(Kind kind) {
    Fault f;
    f.kind = kind;
    return f;
  }
  static Fault respond_with(int status, std::string body = {}, Headers headers = {}) {
    Fault f;
    f.status = status;
    f.body = std::move(body);
    f.headers = std::move(headers);
    return f;
  }
};

/// A request exactly as the emulator parsed it (chunked bodies are already de-chunked).
struct RecordedRequest {
  std::string method;
  std::string target;  // path plus query, as sent
  std::string body;
  Headers headers;
  bool tls = false;

  /// First header with this name (case-insensitive), or "" when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  /// `target` without the query string.
  std::string path() const;
  /// Percent-decoded query parameter, or nullopt when absent.
  std::optional<std::string> query_param(std::string_view name) const;
  /// Percent-decoded application/x-www-form-urlencoded body field, or nullopt when absent.
  std::optional<std::string> form_param(std::string_view name) const;
};

/// What a route handler answers. Content-Length, Date and Connection are added by the server.
struct Reply {
  int status = 200;
  Headers headers;
  std::string body;
  /// Closes the connection after this reply even if the client asked for keep-alive.
  bool close = false;
};

/// The `{name}` segments a route pattern captured, percent-decoded.
struct RouteMatch {
  std::vector<std::pair<std::string, std::string>> params;
  std::string param(std::string_view name) const;
};

/// Route handlers run on the emulator's pool threads; they must be thread-safe and must not block.
using Handler = std::function<Reply(const RecordedRequest&, const RouteMatch&)>;

/// A managed identity of the emulated Azure resource (emulator_managed_identity.cpp).
struct ManagedIdentity {
  std::string client_id;
  std::string object_id;    // principal id
  std::string resource_id;  // /subscriptions/.../userAssignedIdentities/<name>
};

/// What GET /metadata/identity/oauth2/token is on this instance: the three sources share that
/// path, so an Arc or Service Fabric endpoint is a second emulator instance.
enum class MetadataHost { imds, arc, service_fabric };

struct Options {
  bool tls = true;
  std::uint16_t port = 0;  // 0 picks a free port
  std::string cert_dir;  // where ca.pem is written; empty: a fresh temp dir removed at destruction
  std::vector<std::string> server_names = {"127.0.0.1",
                                           "localhost"};  // SANs (IP literals as IP SANs)
  bool expired_server_cert = false;
  std::chrono::seconds token_lifetime{3600};
  std::optional<std::chrono::seconds> refresh_in;  // adds "refresh_in" to token responses
  int threads = 2;
  /// Entra separates "Trace ID:", "Correlation ID:" and "Timestamp:" in error_description with
  /// "\r\n"; by default the emulator uses single spaces (the spec's wording). Set to mimic the
  /// wire.
  bool crlf_in_error_description = false;
  /// Tenant named in the protected resource's WWW-Authenticate challenge; empty: the tenant of the
  /// first registered app, or "organizations" when none is registered.
  std::string resource_tenant;
  /// Managed identity: which source /metadata/identity/oauth2/token emulates, and where the Arc
  /// challenge writes its key files (empty: a temp dir removed at destruction).
  MetadataHost metadata_host = MetadataHost::imds;
  std::string arc_key_dir;
};

class Emulator {
 public:
  /// Generates the CA, server certificate and token signing key, binds 127.0.0.1 and starts the
  /// thread pool. Throws std::runtime_error / std::system_error on failure.
  explicit Emulator(Options options = {});
  /// Stops serving (open connections are dropped), joins the pool and removes the temp dir.
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  std::uint16_t port() const;
  /// "https://127.0.0.1:<port>" (or "http://..." when Options::tls is false).
  std::string base_url() const;
  /// What a credential uses as its authority host; same as base_url().
  std::string authority_host() const;
  /// Path of the PEM file holding the CA that signed the server certificate ("" without TLS).
  const std::string& ca_file() const;
  /// PEM (SubjectPublicKeyInfo) of the RSA key that signs access tokens.
  std::string issuer_public_key_pem() const;
  /// The "kid" placed in issued token headers.
  std::string signing_key_id() const;
  const Options& options() const;

  /// Registers (or replaces, matched on tenant + client id) an application. Returns it with the
  /// object id filled in.
  App register_app(App app);
  void remove_app(std::string_view tenant, std::string_view client_id);

  /// Queues a fault. Faults are consumed in push order: a request takes the earliest queued fault
  /// whose prefix its path starts with ("" matches every request).
  void push_fault(std::string path_prefix, Fault fault);
  void clear_faults();
  std::size_t pending_faults() const;

  /// Number of requests seen whose path starts with `path_prefix`.
  std::size_t request_count(std::string_view path_prefix = "") const;
  /// Every request seen, in arrival order.
  std::vector<RecordedRequest> requests() const;
  void clear_requests();
  /// Blocks until request_count(path_prefix) >= n or the timeout passes; returns whether it did.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout,
                         std::string_view path_prefix = "") const;
  /// Number of client connections currently open.
  std::size_t open_connections() const;

  /// Contents of the protected resource GET /secrets/<name>.
  void set_secret(std::string name, std::string value);
  /// Claims-challenge mode of the protected resource (emulator_cae.cpp): while set, a valid
  /// token whose `acrs` claim lacks `auth_context` is answered 401 with `WWW-Authenticate: Bearer
  /// ..., error="insufficient_claims", claims="<base64url of {"access_token":{"acrs":{"essential":
  /// true,"value":"<auth_context>"}}}>"`. The token endpoint puts the `acrs` values (and `xms_cc`)
  /// of a request's `claims` parameter into the token it issues. Empty turns the mode off.
  void require_resource_claims(std::string auth_context);

  /// Adds a route. `pattern` is a path such as "/{tenant}/oauth2/v2.0/token" where `{x}` matches
  /// exactly one segment and a trailing `{*x}` matches the rest. `method` "*" matches any method.
  /// Routes added later take precedence over earlier ones (and over the built-in routes).
  void add_route(std::string method, std::string pattern, Handler handler);

  /// Registers a certificate (PEM) as a credential of the app, as uploading it to the app
  /// registration does. Client assertions naming it by x5t or x5t#S256 are checked against its
  /// public key. Throws std::runtime_error when the PEM holds no certificate.
  /// With `subject_name_issuer`, the app trusts the certificate by subject name and issuer (as
  /// first-party apps do): its assertions must carry the chain in `x5c`.
  void register_certificate(std::string_view tenant, std::string_view client_id,
                            std::string_view certificate_pem, bool subject_name_issuer = false);
  /// A federated identity credential of the app: tokens from `issuer` with subject `subject` and
  /// audience api://AzureADTokenExchange are accepted as its client assertion.
  void register_federated_credential(std::string_view tenant, std::string_view client_id,
                                     std::string issuer, std::string subject);
  /// The emulator's own OIDC issuer (stands in for a Kubernetes cluster's service account issuer).
  std::string oidc_issuer() const;
  /// A federated token signed by the emulator's key: `issuer` empty means oidc_issuer().
  std::string issue_federated_token(std::string_view subject,
                                    std::chrono::seconds lifetime = std::chrono::seconds{3600},
                                    std::string_view audience = "api://AzureADTokenExchange",
                                    std::string_view issuer = {}) const;

  /// An Azure Pipelines service connection using workload identity federation for the app:
  /// the OIDC endpoint hands a federated token for it to callers presenting
  /// `system_access_token`, and the app trusts that token.
  void set_pipelines_service_connection(std::string connection_id, std::string system_access_token,
                                        std::string_view tenant, std::string_view client_id);
  /// What Azure Pipelines puts in SYSTEM_OIDCREQUESTURI for a job on this emulator.
  std::string pipelines_oidc_request_uri() const;

  /// Managed identity endpoints (emulator_managed_identity.cpp): IMDS (and AKS pod identity),
  /// App Service GET /msi/token, Azure Arc, Service Fabric, Cloud Shell POST /oauth2/token and
  /// Azure ML GET /MSI/auth, each with its api-version, secret header and token shape.
  /// The system-assigned identity (enabled by default with generated ids; nullopt disables it).
  void set_system_identity(std::optional<ManagedIdentity> identity);
  std::optional<ManagedIdentity> system_identity() const;
  /// Assigns a user-assigned identity to the emulated resource.
  void assign_identity(ManagedIdentity identity);
  /// The secret App Service (X-IDENTITY-HEADER), Service Fabric (Secret) and Azure ML (secret)
  /// requests must carry.
  void set_identity_header(std::string value);
  /// Folder the Arc challenge writes key files to ("" unless metadata_host is arc).
  std::string arc_key_dir() const;
  /// SHA-1 thumbprint (hex, lower case) of the TLS server certificate ("" without TLS).
  std::string server_certificate_thumbprint() const;

  /// Mints a token as the token endpoint would, for tests that need unusual claims: `lifetime`
  /// may be negative (already expired) and `not_before_offset` shifts nbf relative to now.
  std::string issue_token(std::string_view tenant, std::string_view client_id,
                          std::string_view resource, std::chrono::seconds lifetime,
                          std::chrono::seconds not_before_offset = std::chrono::seconds{
                              -300}) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  friend bool verify_token(const Emulator&, std::string_view, std::string&);
};

/// Decoded payload of a token the emulator issued: returns false (and leaves payload_json empty)
/// when the format, algorithm or signature is invalid. Does not check exp/nbf/aud.
bool verify_token(const Emulator& emulator, std::string_view jwt, std::string& payload_json);

}  // namespace azid_emulator
