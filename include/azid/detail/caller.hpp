// azid/detail/caller.hpp: whether a credential is being called on its own or by a chain, and the
// logging that depends on it (light).
#pragma once

#include <string>
#include <string_view>

#include "azid/config.hpp"
#include "azid/detail/call_context.hpp"
#include "azid/core/log.hpp"
#include "azid/core/result.hpp"

AZID_BEGIN
namespace detail {

/// This thread's caller, as set by the innermost ChainScope. Blocking calls only: an
/// asynchronous walk hands the same facts to its members explicitly (azid/async).
inline Caller& current_caller() noexcept { return call_context().caller; }

/// Marks the calls made on this thread during its lifetime as a chain's. Nested chains inherit
/// "inside DefaultAzureCredential" from their enclosing one; `settled` is as given.
class ChainScope {
 public:
  explicit ChainScope(Caller c) noexcept : previous_(current_caller()) {
    c.in_default_chain = c.in_default_chain || previous_.in_default_chain;
    current_caller() = c;
  }
  ~ChainScope() { current_caller() = previous_; }
  ChainScope(const ChainScope&) = delete;
  ChainScope& operator=(const ChainScope&) = delete;

 private:
  Caller previous_;
};

/// The line every credential writes about its own outcome: success at INFO on its own and at
/// DEBUG inside a chain; failure at WARNING on its own and at DEBUG inside a chain (the chain
/// reports the failure that matters once, in its own message).
inline void log_outcome(const Logger& log, std::string_view credential, const TokenResult& r,
                        bool in_chain) {
  if (r.ok()) {
    const LogLevel level = in_chain ? LogLevel::debug : LogLevel::info;
    if (log.enabled(level)) log.write(level, std::string(credential) + ".get_token succeeded");
    return;
  }
  const LogLevel level = in_chain ? LogLevel::debug : LogLevel::warning;
  if (log.enabled(level))
    log.write(level, std::string(credential) + ".get_token failed: " + r.error_info().message);
}

}  // namespace detail
AZID_END
