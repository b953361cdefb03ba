// azid.hpp: everything azid offers, for users who prefer one include.
#pragma once

#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/errors.hpp"
#include "azid/core/log.hpp"
#include "azid/core/result.hpp"
#include "azid/credentials/azure_cli.hpp"
#include "azid/credentials/azure_developer_cli.hpp"
#include "azid/credentials/azure_powershell.hpp"
#include "azid/credentials/azure_pipelines.hpp"
#include "azid/credentials/certificate.hpp"
#include "azid/credentials/client_assertion.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/credentials/environment.hpp"
#include "azid/credentials/workload_identity.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/platform/default_platform.hpp"
