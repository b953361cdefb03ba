// azid/platform/default_platform.hpp: DefaultPlatform, the real seams bundled (models Platform).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "azid/config.hpp"
#include "azid/core/log.hpp"
#include "azid/platform/clock.hpp"
#include "azid/platform/environment.hpp"
#include "azid/platform/file_reader.hpp"
#include "azid/platform/process_runner.hpp"
#include "azid/transport/https.hpp"

AZID_BEGIN

namespace detail {
/// Fills the proxy fields the options leave empty from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (or
/// their lower-case forms), when `from_env` asks for it. Shared by every platform that owns a
/// transport.
inline TransportOptions with_proxy_env(TransportOptions t, bool from_env,
                                       const ProcessEnvironment& env) {
  if (!from_env) return t;
  auto pick = [&](std::string& field, const char* upper, const char* lower) {
    if (!field.empty()) return;
    if (auto v = env.get(upper))
      field = *v;
    else if (auto w = env.get(lower))
      field = *w;
  };
  pick(t.https_proxy, "HTTPS_PROXY", "https_proxy");
  pick(t.http_proxy, "HTTP_PROXY", "http_proxy");
  pick(t.no_proxy, "NO_PROXY", "no_proxy");
  return t;
}
}  // namespace detail

struct DefaultPlatformOptions {
  TransportOptions transport;
  /// Fill the transport's proxy settings from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case)
  /// when they are not set in `transport`.
  bool proxy_from_environment = true;
  Logger logger;
};

/// The production platform: HttpsTransport, SystemClock, ProcessEnvironment, PosixFileReader,
/// PosixProcessRunner and a Logger. A cheap handle: copies share one transport (and so its
/// connection pool) and one logger, so credentials built from one platform reuse connections.
class DefaultPlatform {
 public:
  DefaultPlatform() : DefaultPlatform(DefaultPlatformOptions{}) {}
  // Out of line in separate compilation: building the shared state (transport, proxy variables)
  // is compiled once, not in every consumer.
  AZID_DECL explicit DefaultPlatform(DefaultPlatformOptions options);

  [[nodiscard]] HttpsTransport& transport() const noexcept { return state_->transport; }
  [[nodiscard]] const SystemClock& clock() const noexcept { return state_->clock; }
  [[nodiscard]] const ProcessEnvironment& environment() const noexcept {
    return state_->environment;
  }
  [[nodiscard]] const PosixFileReader& files() const noexcept { return state_->files; }
  [[nodiscard]] const PosixProcessRunner& process_runner() const noexcept {
    return state_->process_runner;
  }
  [[nodiscard]] Logger& logger() const noexcept { return state_->logger; }

 private:
  struct State {
    explicit State(DefaultPlatformOptions o)
        : transport(detail::with_proxy_env(std::move(o.transport), o.proxy_from_environment,
                                           ProcessEnvironment{})),
          logger(std::move(o.logger)) {}
    HttpsTransport transport;
    SystemClock clock;
    ProcessEnvironment environment;
    PosixFileReader files;
    PosixProcessRunner process_runner;
    mutable Logger logger;
  };
  std::shared_ptr<State> state_;
};

AZID_END

#if defined(AZID_HEADER_ONLY)
#include "azid/impl/default_platform.ipp"
#endif
