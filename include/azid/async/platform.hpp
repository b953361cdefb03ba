// azid/async/platform.hpp: AsyncPlatform, DefaultPlatform's seams with AsyncHttpsTransport on the
// caller's executor (models Platform; its transport also models AsyncTransport).
#pragma once

#include <memory>
#include <string>
#include <utility>

#include <asio/any_io_executor.hpp>

#include "azid/async/https_transport.hpp"
#include "azid/config.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/log.hpp"
#include "azid/platform/clock.hpp"
#include "azid/platform/default_platform.hpp"
#include "azid/platform/environment.hpp"
#include "azid/platform/file_reader.hpp"
#include "azid/platform/process_runner.hpp"

// Asio enables its coroutine support (asio::awaitable, co_spawn) only where it detects it; clang
// with libstdc++ and older Asio releases (Debian 12's 1.22) miss it. Say so plainly rather than
// with a page of errors about a missing asio::awaitable.
#if !defined(ASIO_HAS_CO_AWAIT)
#error \
    "azid/async needs Asio's C++20 coroutine support (ASIO_HAS_CO_AWAIT). With clang and libstdc++, define ASIO_HAS_CO_AWAIT=1 (or use -stdlib=libc++)."
#endif

AZID_BEGIN

/// The production platform for asynchronous use: like DefaultPlatform (system clock, process
/// environment, files, process runner, logger, proxy settings from the environment unless told
/// otherwise) but its transport runs on `executor`. Credentials built on it offer both get_token
/// and azid::async_get_token. A cheap handle: copies share one transport (and its pools).
class AsyncPlatform {
 public:
  explicit AsyncPlatform(asio::any_io_executor executor, DefaultPlatformOptions options = {})
      : state_(std::make_shared<State>(std::move(executor), std::move(options))) {}

  [[nodiscard]] AsyncHttpsTransport& transport() const noexcept { return state_->transport; }
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
    State(asio::any_io_executor ex, DefaultPlatformOptions o)
        : transport(std::move(ex),
                    detail::with_proxy_env(std::move(o.transport), o.proxy_from_environment,
                                           ProcessEnvironment{})),
          logger(std::move(o.logger)) {}
    AsyncHttpsTransport transport;
    SystemClock clock;
    ProcessEnvironment environment;
    PosixFileReader files;
    PosixProcessRunner process_runner;
    mutable Logger logger;
  };
  std::shared_ptr<State> state_;
};

static_assert(Platform<AsyncPlatform>);
static_assert(Transport<AsyncHttpsTransport>);

AZID_END
