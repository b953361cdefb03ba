// azid.hpp: everything azid offers, for users who prefer one include.
#pragma once

#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/errors.hpp"
#include "azid/core/log.hpp"
#include "azid/core/result.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/platform/default_platform.hpp"
