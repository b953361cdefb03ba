// azid/platform/clock.hpp: SystemClock, the real Clock.
#pragma once

#include <chrono>
#include <thread>

#include <time.h>

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
  /// Wall time from the kernel's coarse clock: read from the vDSO without a system call, a few
  /// milliseconds behind. Token freshness uses it (its margins are minutes).
  [[nodiscard]] std::chrono::system_clock::time_point coarse_now() const noexcept {
#if defined(CLOCK_REALTIME_COARSE)
    timespec ts{};
    if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0)
      return std::chrono::system_clock::time_point{
          std::chrono::duration_cast<std::chrono::system_clock::duration>(
              std::chrono::seconds{ts.tv_sec} + std::chrono::nanoseconds{ts.tv_nsec})};
#endif
    return now();
  }
  void sleep_for(std::chrono::milliseconds d) const { std::this_thread::sleep_for(d); }
};

AZID_END
