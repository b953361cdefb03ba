// azid/platform/environment.hpp: ProcessEnvironment, the real Environment (getenv).
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "azid/config.hpp"

AZID_BEGIN

/// Reads the process environment (models Environment). Set-but-empty reads as unset.
/// Credentials read their configuration once, at construction, never on the token path.
struct ProcessEnvironment {
  [[nodiscard]] std::optional<std::string> get(std::string_view name) const {
    const std::string key(name);
    const char* v = std::getenv(key.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  }
};

AZID_END
