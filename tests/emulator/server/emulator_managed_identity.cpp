// The managed identity endpoints of an Azure host, each with its own wire shape
// (azid spec managed-identity.md §4-§9):
//   IMDS            GET /metadata/identity/oauth2/token  api-version=2018-02-01, Metadata: true,
//                   client_id | object_id | msi_res_id; every token field a string.
//   App Service     GET /msi/token  api-version=2019-08-01, X-IDENTITY-HEADER, client_id |
//                   principal_id | mi_res_id; errors {"statusCode":..,"message":..}.
//   Azure Arc       GET /metadata/identity/oauth2/token (MetadataHost::arc) api-version=2020-06-01,
//                   Metadata: true; without Authorization: 401 + WWW-Authenticate: Basic
//                   realm=<key file> (the file is written with a fresh key); with
//                   Authorization: Basic <key>: the token.
//   Service Fabric  GET /metadata/identity/oauth2/token (MetadataHost::service_fabric, over the
//                   instance's TLS certificate)  api-version=2019-07-01-preview, Secret;
//                   expires_on a number; errors {"error":{"code":..,"message":..}}.
//   Cloud Shell     POST /oauth2/token  Metadata: true, form body resource=R.
//   Azure ML        GET /MSI/auth  api-version=2017-09-01, secret, clientid; expires_on as the
//                   2017 API's "MM/DD/YYYY HH:MM:SS +00:00".
// Faults (status sequences, Retry-After, silence, slow bodies) come from push_fault on these
// paths; request_count(path) counts the attempts.
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <algorithm>
#include <initializer_list>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <system_error>

#include "emulator_http.hpp"
#include "emulator_impl.hpp"
#include "emulator_json.hpp"

namespace azid_emulator {
namespace detail {

/// Managed identity state of one emulator instance.
struct ManagedIdentityState {
  mutable std::mutex mu;
  std::optional<ManagedIdentity> system_identity;
  std::vector<ManagedIdentity> user_identities;
  std::string identity_header = "emulator-identity-header";
  std::string arc_key_dir;  // fixed after construction
  bool own_arc_dir = false;
  std::set<std::string> arc_keys;  // keys handed out in challenges

  ManagedIdentityState() = default;
  ManagedIdentityState(const ManagedIdentityState&) = delete;
  ManagedIdentityState& operator=(const ManagedIdentityState&) = delete;
  ~ManagedIdentityState() {
    if (own_arc_dir && !arc_key_dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(arc_key_dir, ignored);
    }
  }
};

namespace {

// The tenant the emulated identities live in.
constexpr std::string_view mi_tenant = "4d1d2c1e-0000-4000-8000-00000000a11d";
constexpr std::string_view token_path = "/metadata/identity/oauth2/token";

ManagedIdentity generated_identity(std::string_view name) {
  return ManagedIdentity{make_uuid(), make_uuid(),
                         "/subscriptions/" + make_uuid() +
                             "/resourceGroups/emulator/providers/Microsoft.ManagedIdentity/"
                             "userAssignedIdentities/" +
                             std::string(name)};
}

enum class IdKind { system, client_id, object_id, resource_id };

// Which identity a request names, by the parameter names of its source.
struct Wanted {
  IdKind kind = IdKind::system;
  std::string value;
};

std::optional<ManagedIdentity> find_identity(const ManagedIdentityState& st, const Wanted& w) {
  std::lock_guard lock(st.mu);
  if (w.kind == IdKind::system) return st.system_identity;
  auto matches = [&](const ManagedIdentity& id) {
    switch (w.kind) {
      case IdKind::client_id:
        return iequals(id.client_id, w.value);
      case IdKind::object_id:
        return iequals(id.object_id, w.value);
      case IdKind::resource_id:
        return iequals(id.resource_id, w.value);
      case IdKind::system:
        break;
    }
    return false;
  };
  for (const auto& id : st.user_identities)
    if (matches(id)) return id;
  // The system-assigned identity may also be named explicitly (Azure ML does, by client id).
  if (st.system_identity && matches(*st.system_identity)) return st.system_identity;
  return std::nullopt;
}

// Wanted identity from query parameters `names` = {client id, object id, resource id}; more
// than one is an error (nullopt).
std::optional<Wanted> wanted_from(const RecordedRequest& r, std::string_view client,
                                  std::string_view object, std::string_view resource) {
  Wanted w;
  int n = 0;
  if (auto v = r.query_param(client)) w = {IdKind::client_id, *v}, ++n;
  if (auto v = r.query_param(object)) w = {IdKind::object_id, *v}, ++n;
  if (auto v = r.query_param(resource)) w = {IdKind::resource_id, *v}, ++n;
  if (n > 1) return std::nullopt;
  return w;
}

std::string header_secret(const ManagedIdentityState& st) {
  std::lock_guard lock(st.mu);
  return st.identity_header;
}

std::string mint(const Emulator::Impl& impl, const ManagedIdentity& id, std::string_view resource) {
  return impl.issue_token(mi_tenant, id.client_id, resource, impl.options.token_lifetime,
                          std::chrono::seconds{-300});
}

std::string lifetime_string(const Emulator::Impl& impl) {
  return std::to_string(impl.options.token_lifetime.count());
}

Reply with_request_id(Reply r) {
  r.headers.emplace_back("x-ms-request-id", make_uuid());
  return r;
}

// ----- IMDS --------------------------------------------------------------------------------

Reply imds_error(int status, std::string_view error, std::string_view description) {
  return with_request_id(json_reply(
      status, JsonObject().str("error", error).str("error_description", description).done()));
}

Reply imds(const Emulator::Impl& impl, const RecordedRequest& r) {
  const auto& st = *impl.managed_identity;
  if (!iequals(r.header("Metadata"), "true"))
    return imds_error(400, "invalid_request", "Required metadata header not specified");
  if (r.query_param("api-version") != std::optional<std::string>("2018-02-01"))
    return imds_error(400, "invalid_request", "Incorrect API version. Use 2018-02-01.");
  const auto resource = r.query_param("resource");
  if (!resource || resource->empty())
    return imds_error(400, "invalid_request", "Required audience parameter not specified");
  const auto wanted = wanted_from(r, "client_id", "object_id", "msi_res_id");
  if (!wanted)
    return imds_error(400, "invalid_request",
                      "Only one of client_id, object_id, msi_res_id allowed");
  const auto id = find_identity(st, *wanted);
  if (!id) return imds_error(400, "invalid_request", "Identity not found");
  const long long now = unix_now();
  const std::string life = lifetime_string(impl);
  return with_request_id(json_reply(
      200, JsonObject()
               .str("access_token", mint(impl, *id, *resource))
               .str("client_id", id->client_id)
               .str("expires_in", life)
               .str("expires_on", std::to_string(now + impl.options.token_lifetime.count()))
               .str("ext_expires_in", life)
               .str("not_before", std::to_string(now))
               .str("resource", *resource)
               .str("token_type", "Bearer")
               .done()));
}

// ----- App Service -------------------------------------------------------------------------

Reply app_service_error(int status, std::string_view message) {
  return with_request_id(
      json_reply(status, JsonObject().num("statusCode", status).str("message", message).done()));
}

// Whether the request names an identity with a parameter this source does not read (another
// source's name for it). A real endpoint may ignore such a parameter and answer with the
// system-assigned identity; the emulator refuses it, so a client that sends the wrong name fails
// its tests instead of passing with the wrong identity.
bool foreign_identity_parameter(const RecordedRequest& r,
                                std::initializer_list<std::string_view> accepted) {
  for (std::string_view name :
       {"client_id", "clientid", "object_id", "principal_id", "msi_res_id", "mi_res_id"}) {
    if (std::find(accepted.begin(), accepted.end(), name) != accepted.end()) continue;
    if (r.query_param(name)) return true;
  }
  return false;
}

Reply app_service(const Emulator::Impl& impl, const RecordedRequest& r) {
  const auto& st = *impl.managed_identity;
  if (!r.has_header("X-IDENTITY-HEADER") || r.header("X-IDENTITY-HEADER") != header_secret(st))
    return app_service_error(401, "Unauthorized: missing or invalid X-IDENTITY-HEADER.");
  if (r.query_param("api-version") != std::optional<std::string>("2019-08-01"))
    return app_service_error(400, "Unsupported api-version; use 2019-08-01.");
  const auto resource = r.query_param("resource");
  if (!resource || resource->empty())
    return app_service_error(400, "The 'resource' query parameter is required.");
  if (foreign_identity_parameter(r, {"client_id", "principal_id", "mi_res_id"}))
    return app_service_error(400,
                             "Unknown identity parameter; use client_id, principal_id or "
                             "mi_res_id.");
  const auto wanted = wanted_from(r, "client_id", "principal_id", "mi_res_id");
  if (!wanted) return app_service_error(400, "Specify at most one identity.");
  const auto id = find_identity(st, *wanted);
  if (!id)
    return app_service_error(
        400, "No managed identity found for the specified ClientId/ResourceId/PrincipalId.");
  const long long exp = unix_now() + impl.options.token_lifetime.count();
  return with_request_id(json_reply(200, JsonObject()
                                             .str("access_token", mint(impl, *id, *resource))
                                             .str("expires_on", std::to_string(exp))
                                             .str("resource", *resource)
                                             .str("token_type", "Bearer")
                                             .str("client_id", id->client_id)
                                             .done()));
}

// ----- Azure Arc ---------------------------------------------------------------------------

Reply arc(const Emulator::Impl& impl, const RecordedRequest& r) {
  auto& st = *impl.managed_identity;
  if (!iequals(r.header("Metadata"), "true"))
    return imds_error(400, "invalid_request", "Required metadata header not specified");
  if (r.query_param("api-version") != std::optional<std::string>("2020-06-01"))
    return imds_error(400, "invalid_request", "Incorrect API version. Use 2020-06-01.");
  const auto resource = r.query_param("resource");
  if (!resource || resource->empty())
    return imds_error(400, "invalid_request", "Required audience parameter not specified");
  if (r.query_param("client_id") || r.query_param("object_id") || r.query_param("msi_res_id"))
    return imds_error(400, "invalid_request", "User-assigned identities are not supported");
  const std::string authorization = r.header("Authorization");
  if (authorization.empty()) {
    // Step 1: the challenge. The agent writes a fresh key that only local administrators (and
    // the himds group) may read; whoever can read it may have a token.
    const std::string key = base64url_encode(random_bytes(32));
    const std::string file = st.arc_key_dir + "/" + make_uuid() + ".key";
    {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out << key;
      if (!out.flush()) throw std::runtime_error("cannot write the Arc key file");
    }
    ::chmod(file.c_str(), 0600);
    {
      std::lock_guard lock(st.mu);
      st.arc_keys.insert(key);
    }
    Reply reply = imds_error(401, "unauthorized", "Use the key in the challenge file.");
    reply.headers.emplace_back("WWW-Authenticate", "Basic realm=" + file);
    return reply;
  }
  if (!istarts_with(authorization, "Basic "))
    return imds_error(401, "unauthorized", "Unsupported authorization scheme");
  const std::string presented = authorization.substr(6);
  {
    std::lock_guard lock(st.mu);
    if (st.arc_keys.count(presented) == 0)
      return imds_error(401, "unauthorized", "The key presented is not a key this agent issued");
  }
  const auto id = find_identity(st, Wanted{});
  if (!id) return imds_error(400, "invalid_request", "Identity not found");
  const long long exp = unix_now() + impl.options.token_lifetime.count();
  return with_request_id(json_reply(200, JsonObject()
                                             .str("access_token", mint(impl, *id, *resource))
                                             .str("expires_in", lifetime_string(impl))
                                             .str("expires_on", std::to_string(exp))
                                             .str("token_type", "Bearer")
                                             .str("resource", *resource)
                                             .done()));
}

// ----- Service Fabric ----------------------------------------------------------------------

Reply fabric_error(int status, std::string_view code, std::string_view message) {
  const std::string inner = JsonObject().str("code", code).str("message", message).done();
  return with_request_id(json_reply(status, "{\"error\":" + inner + "}"));
}

Reply service_fabric(const Emulator::Impl& impl, const RecordedRequest& r) {
  const auto& st = *impl.managed_identity;
  if (!r.has_header("Secret"))
    return fabric_error(401, "SecretHeaderNotFound", "Secret is not found in the request headers.");
  if (r.header("Secret") != header_secret(st))
    return fabric_error(401, "SecretHeaderNotFound", "The secret presented is not valid.");
  if (r.query_param("api-version") != std::optional<std::string>("2019-07-01-preview"))
    return fabric_error(400, "ArgumentNullOrEmpty", "api-version must be 2019-07-01-preview.");
  const auto resource = r.query_param("resource");
  if (!resource || resource->empty())
    return fabric_error(400, "ArgumentNullOrEmpty", "resource is null or empty.");
  const auto id = find_identity(st, Wanted{});
  if (!id)
    return fabric_error(404, "ManagedIdentityNotFound",
                        "No managed identity is configured for this application.");
  const long long exp = unix_now() + impl.options.token_lifetime.count();
  return with_request_id(json_reply(200, JsonObject()
                                             .str("token_type", "Bearer")
                                             .str("access_token", mint(impl, *id, *resource))
                                             .num("expires_on", exp)
                                             .str("resource", *resource)
                                             .done()));
}

// ----- Cloud Shell -------------------------------------------------------------------------

Reply cloud_shell(const Emulator::Impl& impl, const RecordedRequest& r) {
  const auto& st = *impl.managed_identity;
  if (!iequals(r.header("Metadata"), "true"))
    return imds_error(400, "invalid_request", "Required metadata header not specified");
  // The resource travels as a form: a body the endpoint cannot read as one is refused.
  if (!istarts_with(r.header("Content-Type"), "application/x-www-form-urlencoded"))
    return imds_error(400, "invalid_request",
                      "Content-Type must be application/x-www-form-urlencoded");
  const auto resource = r.form_param("resource");
  if (!resource || resource->empty())
    return imds_error(400, "invalid_request", "Required resource parameter not specified");
  // The signed-in user's token; the emulator stands the system identity in for the user.
  const auto id = find_identity(st, Wanted{});
  if (!id) return imds_error(400, "invalid_request", "No user is signed in");
  const long long now = unix_now();
  return with_request_id(json_reply(
      200, JsonObject()
               .str("access_token", mint(impl, *id, *resource))
               .str("refresh_token", "")
               .str("expires_in", lifetime_string(impl))
               .str("expires_on", std::to_string(now + impl.options.token_lifetime.count()))
               .str("not_before", std::to_string(now))
               .str("resource", *resource)
               .str("token_type", "Bearer")
               .done()));
}

// ----- Azure Machine Learning --------------------------------------------------------------

// "MM/DD/YYYY HH:MM:SS +00:00", the 2017-09-01 API's expiry on Linux hosts.
std::string date_2017(long long epoch) {
  const std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%m/%d/%Y %H:%M:%S +00:00", &tm);
  return buf;
}

Reply azure_ml(const Emulator::Impl& impl, const RecordedRequest& r) {
  const auto& st = *impl.managed_identity;
  if (!r.has_header("secret") || r.header("secret") != header_secret(st))
    return with_request_id(json_reply(
        401, JsonObject().str("error", "unauthorized").str("message", "invalid secret").done()));
  if (r.query_param("api-version") != std::optional<std::string>("2017-09-01"))
    return imds_error(400, "invalid_request", "api-version must be 2017-09-01");
  const auto resource = r.query_param("resource");
  if (!resource || resource->empty())
    return imds_error(400, "invalid_request", "resource is required");
  if (foreign_identity_parameter(r, {"clientid"}))
    return imds_error(400, "invalid_request", "Unknown identity parameter; use clientid.");
  Wanted w;
  if (auto c = r.query_param("clientid")) w = {IdKind::client_id, *c};
  const auto id = find_identity(st, w);
  if (!id) return imds_error(400, "invalid_request", "Identity not found");
  const long long exp = unix_now() + impl.options.token_lifetime.count();
  return with_request_id(json_reply(200, JsonObject()
                                             .str("access_token", mint(impl, *id, *resource))
                                             .str("expires_on", date_2017(exp))
                                             .str("resource", *resource)
                                             .str("token_type", "Bearer")
                                             .str("client_id", id->client_id)
                                             .done()));
}

}  // namespace

std::string certificate_sha1_hex(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha1(), digest, &len) != 1) throw_openssl("certificate thumbprint");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0x0f]);
  }
  return out;
}

void install_managed_identity_routes(Emulator::Impl& impl) {
  auto st = std::make_shared<ManagedIdentityState>();
  st->system_identity = generated_identity("system");
  if (impl.options.metadata_host == MetadataHost::arc) {
    if (impl.options.arc_key_dir.empty()) {
      std::string tmpl =
          (std::filesystem::temp_directory_path() / "azid-emulator-arc-XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr)
        throw std::system_error(errno, std::generic_category(), "mkdtemp");
      st->arc_key_dir = tmpl;
      st->own_arc_dir = true;
    } else {
      st->arc_key_dir = impl.options.arc_key_dir;
      std::filesystem::create_directories(st->arc_key_dir);
    }
  }
  impl.managed_identity = st;

  impl.router.add("GET", std::string(token_path),
                  [&impl](const RecordedRequest& r, const RouteMatch&) {
                    switch (impl.options.metadata_host) {
                      case MetadataHost::arc:
                        return arc(impl, r);
                      case MetadataHost::service_fabric:
                        return service_fabric(impl, r);
                      case MetadataHost::imds:
                        break;
                    }
                    return imds(impl, r);
                  });
  impl.router.add("GET", "/msi/token", [&impl](const RecordedRequest& r, const RouteMatch&) {
    return app_service(impl, r);
  });
  impl.router.add("POST", "/oauth2/token", [&impl](const RecordedRequest& r, const RouteMatch&) {
    return cloud_shell(impl, r);
  });
  impl.router.add("GET", "/MSI/auth", [&impl](const RecordedRequest& r, const RouteMatch&) {
    return azure_ml(impl, r);
  });
}

}  // namespace detail

void Emulator::set_system_identity(std::optional<ManagedIdentity> identity) {
  auto& st = *impl_->managed_identity;
  std::lock_guard lock(st.mu);
  st.system_identity = std::move(identity);
}

std::optional<ManagedIdentity> Emulator::system_identity() const {
  auto& st = *impl_->managed_identity;
  std::lock_guard lock(st.mu);
  return st.system_identity;
}

void Emulator::assign_identity(ManagedIdentity identity) {
  auto& st = *impl_->managed_identity;
  std::lock_guard lock(st.mu);
  st.user_identities.push_back(std::move(identity));
}

void Emulator::set_identity_header(std::string value) {
  auto& st = *impl_->managed_identity;
  std::lock_guard lock(st.mu);
  st.identity_header = std::move(value);
}

std::string Emulator::arc_key_dir() const { return impl_->managed_identity->arc_key_dir; }

std::string Emulator::server_certificate_thumbprint() const { return impl_->server_thumbprint; }

}  // namespace azid_emulator
