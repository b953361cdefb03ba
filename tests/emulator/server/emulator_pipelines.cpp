// Azure Pipelines' OIDC token endpoint: a job asks it, with its System.AccessToken, for a
// federated token of one of the project's service connections.
#include <algorithm>

#include "emulator_http.hpp"
#include "emulator_impl.hpp"
#include "emulator_json.hpp"

namespace azid_emulator {
namespace detail {
namespace {

constexpr std::string_view organization = "azid-org";
constexpr std::string_view project = "azid-project";

// Azure DevOps error bodies are serialised .NET exceptions.
std::string vss_error(std::string_view message, std::string_view type_key) {
  return JsonObject()
      .str("$id", "1")
      .raw("innerException", "null")
      .str("message", message)
      .str("typeName", "Microsoft.VisualStudio.Services.WebApi." + std::string(type_key) +
                           ", Microsoft.VisualStudio.Services.WebApi")
      .str("typeKey", type_key)
      .num("errorCode", 0)
      .num("eventId", 3000)
      .done();
}

Reply oidc_token(Emulator::Impl& impl, const RecordedRequest& request) {
  Headers headers{{"Content-Type", "application/json; charset=utf-8"},
                  {"x-vss-e2eid", make_uuid()},
                  {"x-msedge-ref", "Ref A: " + make_uuid() + " Ref B: AZID01 Ref C: emulator"}};
  const std::string auth = request.header("Authorization");
  const std::string presented = istarts_with(auth, "Bearer ") ? auth.substr(7) : std::string();
  std::optional<Emulator::Impl::ServiceConnection> connection;
  bool token_known = false;
  const std::string id = request.query_param("serviceConnectionId").value_or("");
  {
    std::lock_guard lock(impl.mutex);
    for (const auto& c : impl.service_connections) {
      if (!presented.empty() && c.system_access_token == presented) token_known = true;
      if (iequals(c.id, id)) connection = c;
    }
  }
  if (!token_known) {
    // Without X-TFS-FedAuthRedirect: Suppress, Azure DevOps answers with a sign-in page.
    if (!iequals(request.header("X-TFS-FedAuthRedirect"), "Suppress"))
      return Reply{203, {{"Content-Type", "text/html"}}, "<html>Sign in</html>"};
    return Reply{401, std::move(headers),
                 vss_error("TF400813: The user '' is not authorized to access this resource.",
                           "UnauthorizedRequestException")};
  }
  if (request.query_param("api-version").value_or("") != "7.1") {
    return Reply{400, std::move(headers),
                 vss_error("The requested REST API version is not supported by this endpoint.",
                           "VssInvalidPreviewVersionException")};
  }
  if (!connection) {
    return Reply{404, std::move(headers),
                 vss_error("No service connection found with identifier " + id + ".",
                           "ServiceEndpointNotFoundException")};
  }
  const std::string token =
      impl.issue_federated_token(pipelines_issuer(impl), connection->subject,
                                 "api://AzureADTokenExchange", std::chrono::seconds{600});
  return Reply{200, std::move(headers), JsonObject().str("oidcToken", token).done()};
}

}  // namespace

void install_pipelines_routes(Emulator::Impl& impl) {
  impl.router.add(
      "POST",
      "/{org}/{project}/_apis/distributedtask/hubs/build/plans/{plan}/jobs/{job}/"
      "oidctoken",
      [&impl](const RecordedRequest& r, const RouteMatch&) { return oidc_token(impl, r); });
}

}  // namespace detail

void Emulator::set_pipelines_service_connection(std::string connection_id,
                                                std::string system_access_token,
                                                std::string_view tenant,
                                                std::string_view client_id) {
  const std::string subject = "sc://" + std::string(detail::organization) + "/" +
                              std::string(detail::project) + "/" + connection_id;
  register_federated_credential(tenant, client_id, detail::pipelines_issuer(*impl_), subject);
  std::lock_guard lock(impl_->mutex);
  impl_->service_connections.push_back(
      {std::move(connection_id), std::move(system_access_token), subject});
}

std::string Emulator::pipelines_oidc_request_uri() const {
  return impl_->base_url + "/" + std::string(detail::organization) + "/" +
         std::string(detail::project) +
         "/_apis/distributedtask/hubs/build/plans/5b3a1c2d-0000-4000-8000-000000000001/jobs/"
         "7e6f5d4c-0000-4000-8000-000000000002/oidctoken";
}

}  // namespace azid_emulator
