// azid/detail/sts_advice.hpp: what the troubleshooting guide says about each STS error code, in our words.
#pragma once

#include <string_view>

#include "azid/config.hpp"

AZID_BEGIN
namespace detail {

/// The guide's description of an AADSTS code (quoted as the guide phrases it, so users can
/// search for it) and what to do about it.
struct StsAdvice {
  long long code;
  std::string_view issue;       ///< the guide's phrase
  std::string_view mitigation;  ///< our advice
};

inline constexpr StsAdvice sts_advice_table[] = {
    {7000215, "An invalid client secret was provided.",
     "Check that the configured client secret is the secret's value (not its ID) and that it "
     "belongs to this "
     "app registration. If unsure, create a new client secret for the app in the Azure portal "
     "(App registrations > Certificates & secrets)."},
    {7000222, "An expired client secret was provided.",
     "Create a new client secret for the app registration in the Azure portal (App registrations > "
     "Certificates & secrets) and update the configuration with it."},
    {700016, "The specified application wasn't found in the specified tenant.",
     "Check that the client ID and tenant ID are those of your app registration. A multi-tenant "
     "app must "
     "first be added to the tenant you authenticate in, by an administrator of that tenant."},
    {900023,
     "Specified tenant identifier is neither a valid DNS name, nor a valid external domain.",
     "Check the tenant ID: it must be the directory (tenant) ID or a verified domain of the tenant "
     "in "
     "which the app registration or managed identity lives."},
    {700027, "Client assertion contains an invalid signature.",
     "Make sure the certificate used to sign has been uploaded to the app registration in "
     "Microsoft Entra ID (App registrations > Certificates & secrets > Certificates) and has not "
     "expired there."},
    {700021, "Client assertion application identifier doesn't match 'client_id' parameter.",
     "The assertion's 'iss' and 'sub' claims must both equal the client ID the request is made "
     "for."},
    {700023, "Client assertion audience claim does not match Realm issuer.",
     "The assertion's 'aud' claim must be the token endpoint, "
     "https://login.microsoftonline.com/<tenant ID>/oauth2/v2.0/token (or .../<tenant ID>/v2)."},
    {50027, "JWT token is invalid or malformed.",
     "The client assertion is not a well-formed JWT: check how it is produced (header, payload and "
     "signature, base64url-encoded, separated by dots)."},
    {700024, "Client assertion is not within its valid time range.",
     "The assertion (or federated token) has expired or is not valid yet: check the clock of this "
     "machine, "
     "and for workload identity that the projected token file is being rotated."},
    {70021, "No matching federated identity record found for presented assertion.",
     "The app's federated identity credentials must name exactly the issuer, subject and audience "
     "(api://AzureADTokenExchange) of the presented token, e.g. the cluster's OIDC issuer and "
     "system:serviceaccount:<namespace>:<name>."},
};

[[nodiscard]] constexpr const StsAdvice* find_sts_advice(long long code) noexcept {
  for (const auto& a : sts_advice_table)
    if (a.code == code) return &a;
  return nullptr;
}

}  // namespace detail
AZID_END
