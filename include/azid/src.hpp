// azid/src.hpp: compile this in exactly one TU (with AZID_SEPARATE_COMPILATION) to build azid's
// non-template parts once. CMake's azid::compiled target does it for you.
#pragma once

#if !defined(AZID_SEPARATE_COMPILATION)
#error "azid/src.hpp is for AZID_SEPARATE_COMPILATION builds; header-only builds need nothing"
#endif

#include "azid/impl/url.ipp"
#include "azid/impl/http1.ipp"
#include "azid/impl/json.ipp"
#include "azid/impl/entra.ipp"
#include "azid/impl/crypto.ipp"
#include "azid/impl/https.ipp"
#include "azid/impl/async_https.ipp"
#include "azid/impl/spawn_posix.ipp"
#include "azid/impl/dev_tool.ipp"
#include "azid/impl/managed_identity.ipp"
#include "azid/impl/default_platform.ipp"

// The default-platform instantiations that headers declare `extern template` in separate
// compilation, so consumers call them instead of compiling them again.
#include "azid/credentials/certificate.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/default_azure_credential.hpp"

AZID_BEGIN
template class CertificateCredential<DefaultPlatform>;
template class ClientSecretCredential<DefaultPlatform>;
template class ManagedIdentityCredential<DefaultPlatform>;
template class DefaultAzureCredential<Exclude<>, DefaultPlatform>;
AZID_END
