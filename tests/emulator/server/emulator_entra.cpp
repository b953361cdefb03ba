// The Entra ID side of the emulator: the v2.0 token endpoint, the tenant's signing keys, and the
// access tokens themselves.
#include <algorithm>
#include <array>
#include <ctime>
#include <functional>

#include "emulator_http.hpp"
#include "emulator_impl.hpp"
#include "emulator_json.hpp"

namespace azid_emulator {
namespace detail {
namespace {

constexpr std::string_view jwt_bearer_assertion_type =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// Resources whose tokens Entra still issues in the v1 format (sts.windows.net issuer), because
// their app registrations declare accessTokenAcceptedVersion 1. Compared without trailing '/'.
constexpr std::array<std::string_view, 4> v1_resources = {
    "https://storage.azure.com", "https://management.core.windows.net",
    "https://management.azure.com", "https://vault.azure.net"};

bool is_v1_resource(std::string_view resource) {
  while (!resource.empty() && resource.back() == '/') resource.remove_suffix(1);
  return std::any_of(v1_resources.begin(), v1_resources.end(),
                     [&](std::string_view r) { return iequals(r, resource); });
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_guid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

// A DNS name with at least two labels (a verified domain such as contoso.onmicrosoft.com).
bool is_domain_name(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.find('.') == std::string_view::npos) return false;
  for (;;) {
    const auto dot = s.find('.');
    const std::string_view label = s.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    const bool label_ok = std::all_of(label.begin(), label.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    });
    if (!label_ok) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

// What Entra accepts in the tenant segment: a tenant GUID, a domain name, or one of the
// multi-tenant aliases. Anything else ("not-a-tenant", "bad_tenant") is AADSTS900023.
bool is_valid_tenant(std::string_view tenant) {
  return is_guid(tenant) || is_domain_name(tenant) || iequals(tenant, "common") ||
         iequals(tenant, "organizations") || iequals(tenant, "consumers");
}

bool is_tenant_alias(std::string_view tenant) {
  return iequals(tenant, "common") || iequals(tenant, "organizations") ||
         iequals(tenant, "consumers");
}

// Per-request identifiers that every STS response carries.
struct StsContext {
  const Emulator::Impl& impl;
  std::string trace_id = make_uuid();
  std::string correlation_id;  // the client's client-request-id when it sent one
  std::string client_request_id;

  StsContext(const Emulator::Impl& i, const RecordedRequest& request) : impl(i) {
    client_request_id = request.header("client-request-id");
    correlation_id = client_request_id.empty() ? make_uuid() : client_request_id;
  }

  Headers headers() const {
    Headers h{{"Content-Type", "application/json; charset=utf-8"},
              {"Cache-Control", "no-store, no-cache"},
              {"Pragma", "no-cache"},
              {"x-ms-request-id", trace_id},
              {"x-ms-ests-server", "azid-emulator"}};
    if (!client_request_id.empty()) h.emplace_back("client-request-id", client_request_id);
    return h;
  }
};

// An STS failure before it is rendered: the OAuth error, the AADSTS number and its message.
struct StsError {
  int status;
  std::string error;
  int code;
  std::string message;
};

Reply render_error(const StsContext& ctx, const StsError& e) {
  const std::string timestamp = sts_timestamp();
  const char* sep = ctx.impl.options.crlf_in_error_description ? "\r\n" : " ";
  const std::string description =
      "AADSTS" + std::to_string(e.code) + ": " + e.message + sep + "Trace ID: " + ctx.trace_id +
      sep + "Correlation ID: " + ctx.correlation_id + sep + "Timestamp: " + timestamp;
  // Not `"[" + std::to_string(...)`: GCC 12 at -O2 gives a false -Wrestrict warning there.
  std::string codes = std::to_string(e.code);
  codes.insert(codes.begin(), '[');
  codes += ']';
  std::string body =
      JsonObject()
          .str("error", e.error)
          .str("error_description", description)
          .raw("error_codes", codes)
          .str("timestamp", timestamp)
          .str("trace_id", ctx.trace_id)
          .str("correlation_id", ctx.correlation_id)
          .str("error_uri", ctx.impl.base_url + "/error?code=" + std::to_string(e.code))
          .done();
  return Reply{e.status, ctx.headers(), std::move(body)};
}

StsError missing_parameter(std::string_view name) {
  return {400, "invalid_request", 900144,
          "The request body must contain the following parameter: '" + std::string(name) + "'."};
}

using Form = std::vector<std::pair<std::string, std::string>>;

const std::string* form_field(const Form& form, std::string_view name) {
  // The first occurrence wins, as for most form parsers.
  for (const auto& [k, v] : form)
    if (k == name) return &v;
  return nullptr;
}

// Client authentication methods. Each one inspects the form for its own fields and returns an
// error, or nothing when the client proved its identity. Certificate/assertion verification slots
// in as another entry of this table.
using Authenticator = std::function<std::optional<StsError>(const App&, const Form&)>;

std::optional<StsError> authenticate_with_secret(const App& app, const Form& form) {
  const std::string* secret = form_field(form, "client_secret");
  // Entra reports an expired secret only when the presented value matches it; any other value is
  // simply wrong.
  if (*secret != app.client_secret || app.client_secret.empty()) {
    return StsError{
        401, "invalid_client", 7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value, not the client secret ID, for a secret added to app '" +
            app.client_id + "'."};
  }
  if (app.secret_expired) {
    return StsError{
        401, "invalid_client", 7000222,
        "The provided client secret keys for app '" + app.client_id +
            "' are expired. Visit the Azure portal to create new keys for your app: "
            "https://aka.ms/NewClientSecret, or consider using certificate credentials for "
            "added security: https://aka.ms/certCreds."};
  }
  return std::nullopt;
}

std::optional<StsError> authenticate_with_assertion(const Emulator::Impl& impl,
                                                    std::string_view tenant, const App& app,
                                                    const Form& form) {
  const std::string* type = form_field(form, "client_assertion_type");
  if (type == nullptr) return missing_parameter("client_assertion_type");
  if (*type != jwt_bearer_assertion_type) {
    return StsError{400, "invalid_request", 700024,
                    "Client assertion type '" + *type + "' is not supported. Use '" +
                        std::string(jwt_bearer_assertion_type) + "'."};
  }
  auto rejection =
      verify_client_assertion(impl, app, tenant, *form_field(form, "client_assertion"));
  if (!rejection) return std::nullopt;
  return StsError{rejection->status, std::move(rejection->error), rejection->code,
                  std::move(rejection->message)};
}

std::optional<StsError> authenticate_client(const Emulator::Impl& impl, std::string_view tenant,
                                            const App& app, const Form& form) {
  // The assertion check needs the endpoint it was presented to (its aud), so this table is
  // built per request.
  const std::array<std::pair<std::string_view, Authenticator>, 2> methods = {{
      {"client_secret", authenticate_with_secret},
      {"client_assertion",
       [&impl, tenant](const App& a, const Form& f) {
         return authenticate_with_assertion(impl, tenant, a, f);
       }},
  }};
  const Authenticator* chosen = nullptr;
  for (const auto& [field, authenticator] : methods) {
    if (form_field(form, field) == nullptr) continue;
    if (chosen != nullptr) {
      return StsError{400, "invalid_request", 9002313,
                      "Invalid request. Request is malformed or invalid. Send exactly one of "
                      "'client_secret' and 'client_assertion'."};
    }
    chosen = &authenticator;
  }
  if (chosen == nullptr) {
    return StsError{401, "invalid_client", 7000218,
                    "The request body must contain the following parameter: 'client_assertion' or "
                    "'client_secret'."};
  }
  return (*chosen)(app, form);
}

// Client credentials accept exactly one resource, requested as "<resource>/.default".
std::optional<StsError> resource_from_scope(const std::string* scope, std::string& resource) {
  if (scope == nullptr || scope->find_first_not_of(' ') == std::string::npos) {
    return StsError{
        400, "invalid_scope", 1002012,
        "The request body must contain a 'scope' parameter. Client credential flows must "
        "have a scope value with /.default suffixed to the resource identifier (application "
        "ID URI)."};
  }
  std::vector<std::string_view> scopes;
  std::string_view rest = *scope;
  while (!rest.empty()) {
    const auto sp = rest.find(' ');
    if (sp != 0) scopes.push_back(rest.substr(0, sp));
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  constexpr std::string_view suffix = "/.default";
  for (const auto s : scopes) {
    if (s.size() <= suffix.size() || s.substr(s.size() - suffix.size()) != suffix) {
      return StsError{
          400, "invalid_scope", 1002012,
          "The provided value for scope " + std::string(s) +
              " is not valid. Client credential flows must have a scope value with /.default "
              "suffixed to the resource identifier (application ID URI)."};
    }
    const std::string_view r = s.substr(0, s.size() - suffix.size());
    if (!resource.empty() && resource != r) {
      return StsError{
          400, "invalid_scope", 28000,
          "Provided value for the input parameter scope is not valid because it contains "
          "more than one resource. Scope " +
              *scope + " is not valid."};
    }
    resource.assign(r);
  }
  return std::nullopt;
}

// `adfs`: the v1 endpoint AD FS serves (`/adfs/oauth2/token`, as on Azure Stack Hub), where the
// `scope` field names the resource itself (no `/.default`), as `resource` may.
Reply token_endpoint(Emulator::Impl& impl, const RecordedRequest& request, const RouteMatch& match,
                     bool adfs = false) {
  const StsContext ctx(impl, request);
  const std::string tenant = match.param("tenant");
  if (adfs && !iequals(tenant, "adfs")) {
    return render_error(ctx, {404, "invalid_request", 90002,
                              "Tenant '" + tenant + "' has no v1 token endpoint here."});
  }
  if (!adfs && !is_valid_tenant(tenant)) {  // Entra has no tenant named "adfs"
    return render_error(ctx, {400, "invalid_request", 900023,
                              "Specified tenant identifier '" + tenant +
                                  "' is neither a valid DNS name, nor a valid external domain."});
  }
  // The emulator's directory holds exactly the tenants that have a registered app.
  if (!is_tenant_alias(tenant) && !impl.has_tenant(tenant)) {
    return render_error(
        ctx, {400, "invalid_request", 90002,
              "Tenant '" + tenant +
                  "' not found. Check to make sure you have the correct tenant ID and are signing "
                  "into the correct cloud. Check with your subscription administrator, this may "
                  "happen if there are no active subscriptions for the tenant."});
  }
  // A body that is not a form simply has none of the fields, which is what Entra reports too.
  const Form form =
      istarts_with(request.header("Content-Type"), "application/x-www-form-urlencoded")
          ? parse_form(request.body)
          : Form{};
  const std::string* grant_type = form_field(form, "grant_type");
  if (grant_type == nullptr) return render_error(ctx, missing_parameter("grant_type"));
  if (*grant_type != "client_credentials") {
    return render_error(ctx,
                        {400, "unsupported_grant_type", 70003,
                         "The app requested an unsupported grant type '" + *grant_type + "'."});
  }
  const std::string* client_id = form_field(form, "client_id");
  if (client_id == nullptr || client_id->empty())
    return render_error(ctx, missing_parameter("client_id"));
  const std::optional<App> app = impl.find_app(tenant, *client_id);
  if (!app) {
    return render_error(
        ctx,
        {400, "unauthorized_client", 700016,
         "Application with identifier '" + *client_id + "' was not found in the directory '" +
             tenant +
             "'. This can happen if the application has not been installed by the administrator of "
             "the tenant or consented to by any user in the tenant. You may have sent your "
             "authentication request to the wrong tenant."});
  }
  std::string resource;
  if (adfs) {
    const std::string* named = form_field(form, "scope");
    if (named == nullptr) named = form_field(form, "resource");
    if (named == nullptr || named->empty() || named->find(' ') != std::string::npos ||
        named->ends_with("/.default")) {
      return render_error(ctx, {400, "invalid_resource", 9001,
                                "AD FS takes one resource identifier, without '/.default'."});
    }
    resource = *named;
  } else if (auto error = resource_from_scope(form_field(form, "scope"), resource)) {
    return render_error(ctx, *error);
  }
  if (auto error = authenticate_client(impl, tenant, *app, form)) return render_error(ctx, *error);

  const long long lifetime = impl.options.token_lifetime.count();
  JsonObject body;
  body.str("token_type", "Bearer").num("expires_in", lifetime).num("ext_expires_in", lifetime);
  if (impl.options.refresh_in) body.num("refresh_in", impl.options.refresh_in->count());
  const std::string* claims = form_field(form, "claims");
  body.str("access_token",
           impl.issue_token(tenant, app->client_id, resource, impl.options.token_lifetime,
                            std::chrono::seconds{-300},
                            claims ? requested_token_claims(*claims)
                                   : std::vector<std::pair<std::string, std::string>>{}));
  return Reply{200, ctx.headers(), body.done()};
}

// The tenant's signing keys, so tests (or a client under test) can validate tokens the standard
// way.
Reply keys_endpoint(Emulator::Impl& impl, const RecordedRequest&, const RouteMatch&) {
  std::string n, e;
  rsa_public_numbers(impl.signing_key.get(), n, e);
  const std::string key = JsonObject()
                              .str("kty", "RSA")
                              .str("use", "sig")
                              .str("alg", "RS256")
                              .str("kid", impl.signing_kid)
                              .str("n", base64url_encode(n))
                              .str("e", base64url_encode(e))
                              .done();
  return json_reply(200, "{\"keys\":[" + key + "]}");
}

}  // namespace

long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sts_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

Reply json_reply(int status, std::string body) {
  return Reply{status, {{"Content-Type", "application/json; charset=utf-8"}}, std::move(body)};
}

void install_entra_routes(Emulator::Impl& impl) {
  // Any method: Entra answers non-POST requests to the token endpoint with an STS error rather
  // than a bare 405.
  impl.router.add(
      "*", "/{tenant}/oauth2/v2.0/token", [&impl](const RecordedRequest& r, const RouteMatch& m) {
        if (r.method == "POST") return token_endpoint(impl, r, m);
        return render_error(StsContext(impl, r),
                            {400, "invalid_request", 900561,
                             "The endpoint only accepts POST, OPTIONS requests. Received a " +
                                 r.method + " request."});
      });
  impl.router.add("POST", "/{tenant}/oauth2/token",
                  [&impl](const RecordedRequest& r, const RouteMatch& m) {
                    return token_endpoint(impl, r, m, /*adfs=*/true);
                  });
  impl.router.add(
      "GET", "/{tenant}/discovery/v2.0/keys",
      [&impl](const RecordedRequest& r, const RouteMatch& m) { return keys_endpoint(impl, r, m); });
}

}  // namespace detail

std::string Emulator::Impl::issue_token(
    std::string_view tenant, std::string_view client_id, std::string_view resource,
    std::chrono::seconds lifetime, std::chrono::seconds not_before_offset,
    const std::vector<std::pair<std::string, std::string>>& extra_claims) const {
  using namespace detail;
  const std::optional<App> app = find_app(tenant, client_id);
  // Tokens for unregistered apps (tests minting odd tokens) still need a stable-looking oid.
  const std::string oid = app ? app->object_id : make_uuid();
  const bool v1 = is_v1_resource(resource);
  const std::string issuer = v1 ? "https://sts.windows.net/" + std::string(tenant) + "/"
                                : base_url + "/" + std::string(tenant) + "/v2.0";
  const long long now = unix_now();
  const std::string uti = base64url_encode(random_bytes(16));

  const std::string header =
      JsonObject().str("typ", "JWT").str("alg", "RS256").str("kid", signing_kid).done();
  JsonObject claims_out = JsonObject()
                              .str("aud", resource)
                              .str("iss", issuer)
                              .num("iat", now)
                              .num("nbf", now + not_before_offset.count())
                              .num("exp", now + lifetime.count())
                              .str("appid", client_id)
                              .str("appidacr", "1")
                              .str("azp", client_id)
                              .str("azpacr", "1")
                              .str("idp", issuer)
                              .str("idtyp", "app")
                              .str("oid", oid)
                              .str("sub", oid)
                              .str("tid", tenant)
                              .str("uti", uti)
                              .str("jti", uti)
                              .str("ver", v1 ? "1.0" : "2.0");
  for (const auto& [name, value] : extra_claims) claims_out.raw(name, value);
  const std::string payload = claims_out.done();
  const std::string signing_input = base64url_encode(header) + "." + base64url_encode(payload);
  return signing_input + "." + base64url_encode(rs256_sign(signing_key.get(), signing_input));
}

bool Emulator::Impl::verify_signature(std::string_view jwt, std::string& payload_json) const {
  using namespace detail;
  payload_json.clear();
  const auto dot1 = jwt.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || jwt.find('.', dot2 + 1) != std::string_view::npos)
    return false;
  std::string header, payload, signature;
  if (!base64url_decode(jwt.substr(0, dot1), header) ||
      !base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1), payload) ||
      !base64url_decode(jwt.substr(dot2 + 1), signature))
    return false;
  // Only RS256 with our kid: refusing other algorithms closes the "alg: none" and HMAC-with-the-
  // public-key confusions a lenient verifier would fall for.
  if (json_string_member(header, "alg") != "RS256") return false;
  if (const auto kid = json_string_member(header, "kid"); kid && *kid != signing_kid) return false;
  if (!rs256_verify(signing_key.get(), jwt.substr(0, dot2), signature)) return false;
  if (!json_is_object(payload)) return false;
  payload_json = std::move(payload);
  return true;
}

}  // namespace azid_emulator
