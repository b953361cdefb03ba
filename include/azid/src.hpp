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
#include "azid/impl/asio_https.ipp"
#include "azid/impl/async_https.ipp"
#include "azid/impl/spawn_posix.ipp"
#include "azid/impl/dev_tool.ipp"
#include "azid/impl/managed_identity.ipp"
