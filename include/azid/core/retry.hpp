// azid/core/retry.hpp: RetryOptions, the retry policy of token requests (light: no I/O, no
// dependencies), so that options headers need not include the HTTP driver.
#pragma once

#include <chrono>

#include "azid/config.hpp"

AZID_BEGIN

/// Retries of token requests: azure-core's defaults (3 retries, exponential from 0.8 s, on 408,
/// 429 and 5xx gateway/availability statuses and on connection failures; Retry-After honoured;
/// no single wait longer than max_delay, 120 s as in azure-core, a longer Retry-After included).
struct RetryOptions {
  int max_retries = 3;
  std::chrono::milliseconds base_delay{800};
  std::chrono::milliseconds max_delay{120'000};
  /// A wait the backoff computes (not a server's Retry-After) is multiplied by a random factor
  /// in [1 - jitter, 1 + jitter], as azure-core does, so that many clients refused at the same
  /// moment (a throttled or restarting token service) do not all come back in step. 0: exact
  /// waits. At most 1.
  double jitter = 0.2;
};

AZID_END
