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
/// their lower-case forms) in `env` (an Environment), when `from_env` asks for it. In a CGI
/// program (REQUEST_METHOD set) HTTP_PROXY is passed over: there it is the client's `Proxy:`
/// request header ("httpoxy"), which would route our requests through a proxy of the client's
/// choosing; http_proxy, which no header can set, still counts. Shared by every platform that owns
/// a transport.
template <class Env>
TransportOptions with_proxy_env(TransportOptions t, bool from_env, const Env& env) {
  if (!from_env) return t;
  auto pick = [&](std::string& field, const char* upper, const char* lower) {
    if (!field.empty()) return;
    if (auto v = upper != nullptr ? env.get(upper) : std::nullopt)
      field = *v;
    else if (auto w = env.get(lower))
      field = *w;
  };
  const bool cgi = env.get("REQUEST_METHOD").has_value();
  pick(t.https_proxy, "HTTPS_PROXY", "https_proxy");
  pick(t.http_proxy, cgi ? nullptr : "HTTP_PROXY", "http_proxy");
  pick(t.no_proxy, "NO_PROXY", "no_proxy");
  return t;
}
}  // namespace detail

struct DefaultPlatformOptions {
  TransportOptions transport;
  /// Fill the transport's proxy settings from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case)
  /// when they are not set in `transport`; under CGI (REQUEST_METHOD set) only the lower-case
  /// http_proxy (see detail::with_proxy_env).
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
