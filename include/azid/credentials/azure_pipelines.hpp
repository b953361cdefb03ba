// azid/credentials/azure_pipelines.hpp: AzurePipelinesCredential, an Azure Pipelines service
// connection's OIDC token exchanged for an Entra token (models Credential).
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/result.hpp"
#include "azid/detail/client_auth.hpp"
#include "azid/detail/confidential_client.hpp"
#include "azid/detail/http_driver.hpp"
#include "azid/detail/names.hpp"
#include "azid/detail/redact.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/detail/url.hpp"
#include "azid/platform/default_platform.hpp"

AZID_BEGIN

using AzurePipelinesCredentialOptions = EntraCredentialOptions;

/// Authenticates as the app or managed identity behind an Azure Pipelines service connection
/// with workload identity federation (token-endpoint.md §6): asks the job's OIDC endpoint
/// (SYSTEM_OIDCREQUESTURI) for a token with the job's System.AccessToken, then exchanges it.
///
/// Errors: outside a pipeline (no SYSTEM_OIDCREQUESTURI) the credential is unavailable; a
/// refusal by the OIDC endpoint is a ClientAuthenticationError carrying the endpoint's answer
/// and its `x-vss-e2eid`/`x-msedge-ref` ids; a refusal by Entra is an
/// AuthenticationRequiredError. The system access token never appears in a message or log.
///
/// Thread safety: get_token and try_get_token may be called concurrently on a const object.
namespace detail {
struct AzurePipelinesAsync;  // azid/async's OIDC exchange (async/get_token.hpp)
}  // namespace detail

template <Platform P = DefaultPlatform>
class AzurePipelinesCredential {
 public:
  static constexpr std::string_view name = "AzurePipelinesCredential";

  /// @throws std::invalid_argument when any of the four is empty, for an invalid tenant id, or
  /// an authority host that is not https.
  AzurePipelinesCredential(const std::string& tenant_id, const std::string& client_id,
                           std::string service_connection_id, std::string system_access_token,
                           AzurePipelinesCredentialOptions options = {}, P platform = P{})
      : client_(name, std::move(platform),
                require_all(tenant_id, client_id, service_connection_id, system_access_token),
                client_id, options),
        service_connection_id_(std::move(service_connection_id)),
        system_access_token_(std::move(system_access_token)),
        retry_(options.retry),
        connect_timeout_(options.connect_timeout),
        timeout_(options.timeout) {}

  [[nodiscard]] const P& platform() const noexcept { return client_.platform(); }

  /// A token, or the reason there is none (no exceptions for authentication failures).
  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const {
    return client_.get(
        name, ctx,
        [this](std::string_view, std::string& fields) {
          std::string oidc;
          if (auto r = oidc_token(oidc); r.failure() != Failure::none) return r;
          detail::append_client_assertion(fields, oidc);
          return TokenResult{};
        },
        Failure::auth_required);
  }

  /// @throws CredentialUnavailableError outside Azure Pipelines, ClientAuthenticationError when
  /// the OIDC endpoint refuses, AuthenticationRequiredError when Microsoft Entra refuses.
  [[nodiscard]] AccessToken get_token(const TokenRequestContext& ctx) const {
    return try_get_token(ctx).value();
  }

 private:
  static const std::string& require_all(const std::string& tenant, const std::string& client,
                                        const std::string& connection, const std::string& token) {
    if (tenant.empty() || client.empty() || connection.empty() || token.empty())
      throw std::invalid_argument(
          "'tenant_id', 'client_id', 'service_connection_id', and 'system_access_token' must be "
          "passed in as "
          "keyword arguments. Please refer to the troubleshooting guide at "
          "https://aka.ms/azsdk/python/identity/azurepipelinescredential/troubleshoot.");
    return tenant;
  }

  static std::string_view reason_for(int status) {
    switch (status) {
      case 400:
        return "Bad Request";
      case 401:
        return "Unauthorized";
      case 403:
        return "Forbidden";
      case 404:
        return "Not Found";
      case 429:
        return "Too Many Requests";
      case 500:
        return "Internal Server Error";
      case 503:
        return "Service Unavailable";
      default:
        return "Unexpected status";
    }
  }

  // A body fit for an error message: token-like members scrubbed and, should the endpoint ever
  // echo it, the system access token blanked.
  std::string safe_body(std::string_view body) const {
    std::string out = detail::scrub_body(body);
    detail::redact_all(out, system_access_token_);
    return out;
  }

  // The OIDC token for the service connection from the job's OIDC endpoint, in two steps that
  // azid/async shares: the request (or why there is none), then what the answer comes to.
  TokenResult oidc_request(HttpRequest& req) const {
    const P& platform = client_.platform();
    auto uri = platform.environment().get(names::system_oidcrequesturi);
    if (!uri)
      return TokenResult::unavailable(
          name,
          "Missing value for the SYSTEM_OIDCREQUESTURI environment variable. "
          "AzurePipelinesCredential is intended "
          "for use in Azure Pipelines where the SYSTEM_OIDCREQUESTURI environment variable is set. "
          "Please refer to "
          "the troubleshooting guide at "
          "https://aka.ms/azsdk/python/identity/azurepipelinescredential/troubleshoot.");
    std::string url = std::move(*uri);
    // A fragment is never sent; the query below must not end up inside one.
    if (const auto hash = url.find('#'); hash != std::string::npos) url.erase(hash);
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (url.size() < 9 || !iequals(std::string_view(url).substr(0, 8), "https://"))
      return TokenResult::failed(
          name, std::string(name) +
                    ": SYSTEM_OIDCREQUESTURI must be an https URL; the system access token "
                    "is not sent anywhere else.");
    url += url.find('?') == std::string::npos ? '?' : '&';
    url += "api-version=" + std::string(names::pipelines_oidc_api_version) +
           "&serviceConnectionId=" + detail::url_encode(service_connection_id_);
    req.method = "POST";
    req.url = std::move(url);
    req.headers.set("Content-Type", "application/json");
    req.headers.set("Authorization", "Bearer " + system_access_token_);
    // Without it Azure DevOps answers an expired or bad token with a sign-in redirect page.
    req.headers.set("X-TFS-FedAuthRedirect", "Suppress");
    req.connect_timeout = connect_timeout_;
    req.timeout = timeout_;
    return {};
  }

  TokenResult oidc_result(const HttpResponse& res, const std::error_code& ec,
                          std::string& out) const {
    if (ec)
      return TokenResult::failed(
          name, std::string(name) +
                    ": could not get a response from the OIDC endpoint: " + ec.message() + ".");
    if (res.status != 200) {
      std::string msg =
          std::string(name) + ": " + std::to_string(res.status) + " (" +
          (res.reason.empty() ? std::string(reason_for(res.status)) : res.reason) +
          ") response from OIDC endpoint. Check service connection ID and Pipeline configuration.";
      if (res.status == 401 || res.status == 403)
        msg +=
            " The system access token seems malformed or invalid: pass the pipeline's predefined "
            "System.AccessToken variable ($(System.AccessToken)) unchanged, and allow the job to "
            "use it.";
      if (auto e2e = res.headers.get("x-vss-e2eid"); !e2e.empty())
        msg += " x-vss-e2eid: " + std::string(e2e) + ".";
      if (auto ref = res.headers.get("x-msedge-ref"); !ref.empty())
        msg += " x-msedge-ref: " + std::string(ref) + ".";
      if (!res.body.empty()) msg += " Response: " + safe_body(res.body);
      ErrorInfo info{
          .credential = std::string(name), .message = std::move(msg), .http_status = res.status};
      return TokenResult::error(Failure::failed, std::move(info));
    }
    auto token = detail::json_string_member(res.body, "oidcToken");
    if (!token || token->empty()) {
      ErrorInfo info{
          .credential = std::string(name),
          .message = std::string(name) +
                     ": OIDC token not found in response. Response = " + safe_body(res.body),
          .http_status = res.status};
      return TokenResult::error(Failure::failed, std::move(info));
    }
    out = std::move(*token);
    return {};
  }

  TokenResult oidc_token(std::string& out) const {
    HttpRequest req;
    if (auto r = oidc_request(req); r.failure() != Failure::none) return r;
    std::error_code ec;
    HttpResponse res = detail::send_with_retry(client_.platform(), req, retry_, ec);
    return oidc_result(res, ec, out);
  }

  detail::ConfidentialClient<P> client_;
  std::string service_connection_id_;
  std::string system_access_token_;
  RetryOptions retry_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds timeout_;

  friend struct detail::AzurePipelinesAsync;
};

AZID_END
