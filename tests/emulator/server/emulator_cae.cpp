// Claims challenges: the protected resource's Conditional Access authentication-context mode
// (401 + `error="insufficient_claims", claims=...` until the token carries the required `acrs`
// value), and the token endpoint's side of it (claims asked for in a token request's `claims`
// parameter end up in the token, as Entra does once the conditions are met).
#include <simdjson.h>

#include <algorithm>
#include <mutex>

#include "emulator_crypto.hpp"
#include "emulator_impl.hpp"
#include "emulator_json.hpp"

namespace azid_emulator {
namespace detail {
namespace {

// The strings of `v`: a string, or an array of strings (anything else is ignored).
std::vector<std::string> strings_of(simdjson::dom::element v) {
  std::vector<std::string> out;
  std::string_view s;
  if (v.get_string().get(s) == simdjson::SUCCESS) {
    out.emplace_back(s);
    return out;
  }
  simdjson::dom::array a;
  if (v.get_array().get(a) != simdjson::SUCCESS) return out;
  for (simdjson::dom::element e : a)
    if (e.get_string().get(s) == simdjson::SUCCESS) out.emplace_back(s);
  return out;
}

std::string json_array(const std::vector<std::string>& values) {
  std::string out = "[";
  for (const auto& v : values) {
    if (out.size() > 1) out += ',';
    out += json_quote(v);
  }
  return out + "]";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> requested_token_claims(
    std::string_view claims_json) {
  std::vector<std::pair<std::string, std::string>> out;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object access_token;
  if (parser.parse(claims_json.data(), claims_json.size()).get(doc) != simdjson::SUCCESS ||
      doc["access_token"].get_object().get(access_token) != simdjson::SUCCESS)
    return out;
  // acrs: {"essential":true,"value":"c1"} or {"values":["c1","c2"]}
  simdjson::dom::object acrs;
  if (access_token["acrs"].get_object().get(acrs) == simdjson::SUCCESS) {
    std::vector<std::string> values;
    for (const char* key : {"value", "values"}) {
      simdjson::dom::element v;
      if (acrs[key].get(v) == simdjson::SUCCESS) {
        auto more = strings_of(v);
        values.insert(values.end(), more.begin(), more.end());
      }
    }
    if (!values.empty()) out.emplace_back("acrs", json_array(values));
  }
  // xms_cc: {"values":["CP1"]}, the client capabilities (CAE).
  simdjson::dom::element cc;
  if (access_token["xms_cc"]["values"].get(cc) == simdjson::SUCCESS) {
    auto values = strings_of(cc);
    if (!values.empty()) out.emplace_back("xms_cc", json_array(values));
  }
  return out;
}

std::optional<Reply> resource_claims_challenge(const Emulator::Impl& impl,
                                               std::string_view payload_json) {
  std::string required;
  {
    std::lock_guard lk(impl.mutex);
    required = impl.resource_required_acrs;
  }
  if (required.empty()) return std::nullopt;
  const auto acrs = json_strings_member(payload_json, "acrs");
  if (acrs && std::find(acrs->begin(), acrs->end(), required) != acrs->end()) return std::nullopt;
  const std::string claims =
      "{\"access_token\":{\"acrs\":{\"essential\":true,\"value\":" + json_quote(required) + "}}}";
  // Graph's and Key Vault's shape: realm and authorization_uri first, then the error and the
  // claims; the claims value is base64url here (resources also send standard base64).
  Reply reply = json_reply(
      401,
      "{\"error\":{\"code\":\"Unauthorized\",\"message\":\"AKV10000: The token does not "
      "satisfy the authentication context this resource requires (insufficient claims).\"}}");
  reply.headers.emplace_back(
      "WWW-Authenticate", "Bearer realm=\"\", authorization_uri=\"" + impl.base_url + "/" +
                              impl.resource_tenant() +
                              "/oauth2/v2.0/authorize\", error=\"insufficient_claims\", claims=\"" +
                              base64url_encode(claims) + "\"");
  return reply;
}

}  // namespace detail

void Emulator::require_resource_claims(std::string auth_context) {
  std::lock_guard lk(impl_->mutex);
  impl_->resource_required_acrs = std::move(auth_context);
}

}  // namespace azid_emulator
