// azid/impl/default_platform.ipp: DefaultPlatform's out-of-line parts (see azid/src.hpp).
#pragma once

#include <memory>
#include <utility>

#include "azid/platform/default_platform.hpp"

AZID_BEGIN

AZID_DECL DefaultPlatform::DefaultPlatform(DefaultPlatformOptions options)
    : state_(std::make_shared<State>(std::move(options))) {}

AZID_END
