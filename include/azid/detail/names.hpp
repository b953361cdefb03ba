// azid/detail/names.hpp: wire and environment names, written once.
#pragma once

#include <string_view>

#include "azid/config.hpp"

AZID_BEGIN
namespace names {

// Environment variables (spec README, token-endpoint.md §5-§7, managed-identity.md §1).
inline constexpr std::string_view azure_tenant_id = "AZURE_TENANT_ID";
inline constexpr std::string_view azure_client_id = "AZURE_CLIENT_ID";
inline constexpr std::string_view azure_client_secret = "AZURE_CLIENT_SECRET";
inline constexpr std::string_view azure_client_certificate_path = "AZURE_CLIENT_CERTIFICATE_PATH";
inline constexpr std::string_view azure_client_certificate_password =
    "AZURE_CLIENT_CERTIFICATE_PASSWORD";
inline constexpr std::string_view azure_client_send_certificate_chain =
    "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN";
inline constexpr std::string_view azure_authority_host = "AZURE_AUTHORITY_HOST";
inline constexpr std::string_view azure_federated_token_file = "AZURE_FEDERATED_TOKEN_FILE";
inline constexpr std::string_view azure_additionally_allowed_tenants =
    "AZURE_ADDITIONALLY_ALLOWED_TENANTS";
inline constexpr std::string_view azure_token_credentials = "AZURE_TOKEN_CREDENTIALS";
inline constexpr std::string_view azure_identity_disable_multitenantauth =
    "AZURE_IDENTITY_DISABLE_MULTITENANTAUTH";
inline constexpr std::string_view azure_username = "AZURE_USERNAME";
inline constexpr std::string_view azure_password = "AZURE_PASSWORD";
// Azure Pipelines (token-endpoint.md §6): set by the agent in every job.
inline constexpr std::string_view system_oidcrequesturi = "SYSTEM_OIDCREQUESTURI";
inline constexpr std::string_view system_accesstoken = "SYSTEM_ACCESSTOKEN";

// Managed identity sources (managed-identity.md §1).
inline constexpr std::string_view identity_endpoint = "IDENTITY_ENDPOINT";
inline constexpr std::string_view identity_header = "IDENTITY_HEADER";
inline constexpr std::string_view identity_server_thumbprint = "IDENTITY_SERVER_THUMBPRINT";
inline constexpr std::string_view imds_endpoint = "IMDS_ENDPOINT";
inline constexpr std::string_view msi_endpoint = "MSI_ENDPOINT";
inline constexpr std::string_view msi_secret = "MSI_SECRET";
inline constexpr std::string_view azure_pod_identity_authority_host =
    "AZURE_POD_IDENTITY_AUTHORITY_HOST";
inline constexpr std::string_view default_identity_client_id = "DEFAULT_IDENTITY_CLIENT_ID";

// Managed identity wire names (managed-identity.md §4-§9).
inline constexpr std::string_view imds_authority = "http://169.254.169.254";
inline constexpr std::string_view imds_token_path = "/metadata/identity/oauth2/token";
inline constexpr std::string_view imds_api_version = "2018-02-01";
inline constexpr std::string_view app_service_api_version = "2019-08-01";
inline constexpr std::string_view arc_api_version = "2020-06-01";
inline constexpr std::string_view service_fabric_api_version = "2019-07-01-preview";
inline constexpr std::string_view azure_ml_api_version = "2017-09-01";
inline constexpr std::string_view arc_default_endpoint =
    "http://localhost:40342/metadata/identity/oauth2/token";
inline constexpr std::string_view header_metadata = "Metadata";
inline constexpr std::string_view header_identity = "X-IDENTITY-HEADER";

// Authority hosts (spec README R3).
inline constexpr std::string_view authority_public = "https://login.microsoftonline.com";
inline constexpr std::string_view authority_china = "https://login.chinacloudapi.cn";
inline constexpr std::string_view authority_us_government = "https://login.microsoftonline.us";

// Token endpoint form fields and values (token-endpoint.md §1).
inline constexpr std::string_view grant_client_credentials = "client_credentials";
inline constexpr std::string_view assertion_type_jwt_bearer =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Audience of federated tokens exchanged for Entra tokens (workload identity, pipelines).
inline constexpr std::string_view federated_token_audience = "api://AzureADTokenExchange";
/// API version of the Azure DevOps OIDC token request.
inline constexpr std::string_view pipelines_oidc_api_version = "7.1";

// Client identification headers sent to the token endpoint (spec README R4).
inline constexpr std::string_view client_sku = "azid.cpp";

}  // namespace names

/// Named authority hosts of the sovereign clouds.
struct AuthorityHosts {
  static constexpr std::string_view azure_public_cloud = names::authority_public;
  static constexpr std::string_view azure_china = names::authority_china;
  static constexpr std::string_view azure_government = names::authority_us_government;
};

AZID_END
