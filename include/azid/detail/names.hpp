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
inline constexpr std::string_view azure_client_certificate_password = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
inline constexpr std::string_view azure_client_send_certificate_chain = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN";
inline constexpr std::string_view azure_authority_host = "AZURE_AUTHORITY_HOST";
inline constexpr std::string_view azure_federated_token_file = "AZURE_FEDERATED_TOKEN_FILE";
inline constexpr std::string_view azure_additionally_allowed_tenants = "AZURE_ADDITIONALLY_ALLOWED_TENANTS";
inline constexpr std::string_view azure_token_credentials = "AZURE_TOKEN_CREDENTIALS";
inline constexpr std::string_view azure_identity_disable_multitenantauth = "AZURE_IDENTITY_DISABLE_MULTITENANTAUTH";

// Authority hosts (spec README R3).
inline constexpr std::string_view authority_public = "https://login.microsoftonline.com";
inline constexpr std::string_view authority_china = "https://login.chinacloudapi.cn";
inline constexpr std::string_view authority_us_government = "https://login.microsoftonline.us";

// Token endpoint form fields and values (token-endpoint.md §1).
inline constexpr std::string_view grant_client_credentials = "client_credentials";
inline constexpr std::string_view assertion_type_jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

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
