// azid/platform/clock.hpp: SystemClock, the real Clock.
#pragma once

#include <chrono>
#include <thread>

#include "azid/config.hpp"

AZID_BEGIN

/// The real clock (models Clock). Wall time for expiry, steady time for timeouts and throttles.
struct SystemClock {
  [[nodiscard]] std::chrono::system_clock::time_point now() const noexcept {
    return std::chrono::system_clock::now();
  }
  [[nodiscard]] std::chrono::steady_clock::time_point steady_now() const noexcept {
    return std::chrono::steady_clock::now();
  }
  void sleep_for(std::chrono::milliseconds d) const { std::this_thread::sleep_for(d); }
};

AZID_END
