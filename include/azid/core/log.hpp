// azid/core/log.hpp: log levels and the Logger value every platform hands out (light).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

#include "azid/config.hpp"
#include "azid/detail/call_context.hpp"

AZID_BEGIN

enum class LogLevel : int { debug = 0, info = 1, warning = 2, error = 3, off = 4 };

[[nodiscard]] constexpr std::string_view to_string(LogLevel l) noexcept {
  switch (l) {
    case LogLevel::debug:
      return "DEBUG";
    case LogLevel::info:
      return "INFO";
    case LogLevel::warning:
      return "WARNING";
    case LogLevel::error:
      return "ERROR";
    case LogLevel::off:
      return "OFF";
  }
  return "?";
}

/// A level threshold plus a sink. Disabled (LogLevel::off) by default, and then nothing is
/// formatted. Messages handed to the sink have been redacted already: azid never passes a
/// secret, assertion, token or identity header to it.
///
/// Thread safety: `enabled` and `write` may be called concurrently; set the sink before use.
class Logger {
 public:
  using Sink = std::function<void(LogLevel, std::string_view)>;

  Logger() = default;
  Logger(LogLevel level, Sink sink) : level_(static_cast<int>(level)), sink_(std::move(sink)) {}
  Logger(const Logger& o) : level_(o.level_.load(std::memory_order_relaxed)), sink_(o.sink_) {}
  Logger& operator=(const Logger& o) {
    level_.store(o.level_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    sink_ = o.sink_;
    return *this;
  }

  [[nodiscard]] bool enabled(LogLevel l) const noexcept {
    return static_cast<int>(l) >= level_.load(std::memory_order_relaxed) && l != LogLevel::off &&
           sink_;
  }
  /// Runs the sink with the thread's call in progress set aside (detail::CallContextPause): the
  /// sink may itself ask any credential for a token. What those requests log is dropped.
  void write(LogLevel l, std::string_view message) const {
    if (!enabled(l) || detail::call_context().in_log_sink) return;
    const detail::CallContextPause pause(true);
    sink_(l, message);
  }
  void set_level(LogLevel l) noexcept {
    level_.store(static_cast<int>(l), std::memory_order_relaxed);
  }
  void set_sink(Sink s) { sink_ = std::move(s); }
  [[nodiscard]] LogLevel level() const noexcept {
    return static_cast<LogLevel>(level_.load(std::memory_order_relaxed));
  }

 private:
  std::atomic<int> level_{static_cast<int>(LogLevel::off)};
  Sink sink_;
};

AZID_END
