// The protected resource: a Key Vault-shaped GET /secrets/<name> that accepts only tokens this
// emulator issued. It lets end-to-end tests and the demo prove a token is actually usable.
#include <algorithm>

#include "emulator_http.hpp"
#include "emulator_impl.hpp"
#include "emulator_json.hpp"

namespace azid_emulator::detail {
namespace {

constexpr std::string_view vault_audience = "https://vault.azure.net";

Reply key_vault_error(int status, std::string_view code, std::string_view message) {
  const std::string inner = JsonObject().str("code", code).str("message", message).done();
  return json_reply(status, "{\"error\":" + inner + "}");
}

Reply unauthorized(const Emulator::Impl& impl, std::string_view message) {
  Reply reply = key_vault_error(401, "Unauthorized", message);
  // Key Vault's challenge: where to get a token and for which resource. Clients that implement
  // challenge-based auth parse these two parameters.
  reply.headers.emplace_back("WWW-Authenticate", "Bearer authorization=\"" + impl.base_url + "/" +
                                                     impl.resource_tenant() + "\", resource=\"" +
                                                     std::string(vault_audience) + "\"");
  return reply;
}

// Returns an empty string when the bearer token is acceptable, else the reason it is not.
std::string check_bearer(const Emulator::Impl& impl, const RecordedRequest& request,
                         std::string& payload) {
  const std::string authorization = request.header("Authorization");
  if (authorization.empty()) return "AKV10000: Request is missing a Bearer or PoP token.";
  if (!istarts_with(authorization, "Bearer ")) return "AKV10001: Unsupported authorization scheme.";
  std::string_view token = std::string_view(authorization).substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (!impl.verify_signature(token, payload))
    return "AKV10000: Invalid token: signature validation failed.";
  const long long now = unix_now();
  const auto exp = json_int_member(payload, "exp");
  const auto nbf = json_int_member(payload, "nbf");
  if (!exp || *exp <= now) return "AKV10000: Token expired.";
  if (!nbf || *nbf > now) return "AKV10000: Token is not valid yet (nbf is in the future).";
  const auto audiences = json_strings_member(payload, "aud");
  const bool audience_ok =
      audiences && std::any_of(audiences->begin(), audiences->end(), [&](const std::string& a) {
        return a == impl.base_url || a == vault_audience;
      });
  if (!audience_ok) {
    return "AKV10022: Invalid audience. Expected '" + std::string(vault_audience) + "' or '" +
           impl.base_url + "'.";
  }
  return {};
}

Reply get_secret(const Emulator::Impl& impl, const RecordedRequest& request,
                 const RouteMatch& match) {
  // Authentication comes first, as in Key Vault: an anonymous caller learns nothing about names.
  std::string payload;
  if (std::string why = check_bearer(impl, request, payload); !why.empty())
    return unauthorized(impl, why);
  if (auto challenge = resource_claims_challenge(impl, payload)) return std::move(*challenge);
  const std::string name = match.param("name");
  const std::optional<std::string> value = impl.find_secret(name);
  if (!value) {
    return key_vault_error(404, "SecretNotFound",
                           "A secret with (name/id) " + name + " was not found in this key vault.");
  }
  return json_reply(
      200, JsonObject().str("value", *value).str("id", impl.base_url + "/secrets/" + name).done());
}

}  // namespace

void install_resource_routes(Emulator::Impl& impl) {
  impl.router.add("GET", "/secrets/{name}", [&impl](const RecordedRequest& r, const RouteMatch& m) {
    return get_secret(impl, r, m);
  });
}

}  // namespace azid_emulator::detail
