// azid/cache/token_cache.hpp: TokenCache, one per credential instance: freshness rules, proactive
// refresh, the 30 s retry throttle and single-flight refresh (caching-and-tenants.md §1-§2).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/result.hpp"

AZID_BEGIN

/// Cache tuning; the defaults are the Azure SDKs' (Python's DEFAULT_REFRESH_OFFSET and
/// DEFAULT_TOKEN_REFRESH_RETRY_DELAY).
struct CachePolicy {
  /// Refresh this long before expiry.
  std::chrono::seconds refresh_offset{300};
  /// After a refresh attempt, wait at least this long before the next one while the cached
  /// token is still valid.
  std::chrono::seconds retry_delay{30};
};

/// Thread-safe cache of access tokens keyed by (scope set, tenant, CAE flag).
///
/// A request with claims skips the lookup and overwrites the entry on success, so a token the
/// resource rejected is not handed out again. Concurrent callers of a key share one fetch:
/// when no valid token exists they wait for it (and share its failure); when a still-valid token
/// is being refreshed ahead of time they get the cached token without waiting.
class TokenCache {
 public:
  explicit TokenCache(CachePolicy policy = {}) : policy_(policy) {}
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  /// Returns a fresh cached token for `ctx` (with `tenant` already resolved), or calls
  /// `fetch()` (a callable returning TokenResult) to get one. `clock` models Clock.
  template <class Clock, class Fetch>
  TokenResult get_or_fetch(const TokenRequestContext& ctx, std::string_view tenant, const Clock& clock,
                           Fetch&& fetch) const {
    Entry& e = entry_for(ctx, tenant);
    std::unique_lock lk(e.mu);
    const bool bypass = !ctx.claims.empty();
    for (;;) {
      const auto now = clock.now();
      const bool usable = e.token && e.token->expires_on > now;
      if (usable && !bypass) {
        if (!should_refresh(e, now, clock.steady_now()) || e.refreshing) return TokenResult(e.token);
      } else if (e.refreshing) {
        // No valid token (or a claims request): wait for the fetch in flight and share its outcome.
        const std::uint64_t gen = e.generation;
        e.cv.wait(lk, [&] { return !e.refreshing; });
        if (e.generation != gen && !bypass) {
          if (e.token && e.token->expires_on > clock.now()) return TokenResult(e.token);
          if (!e.last_error.ok() && e.last_error.failure() != Failure::none) return e.last_error;
        }
        continue;
      }
      // This caller refreshes.
      e.refreshing = true;
      e.last_attempt = clock.steady_now();
      e.attempted = true;
      lk.unlock();
      TokenResult fresh;
      try {
        fresh = fetch();
      } catch (...) {
        lk.lock();
        finish(e, TokenResult::failed("TokenCache", "token fetch threw an exception"));
        throw;
      }
      lk.lock();
      if (fresh.ok()) {
        e.token = fresh.shared_token();
        finish(e, TokenResult{});
        return fresh;
      }
      // A proactive refresh failed while the cached token is still valid: keep using it.
      const bool still_valid = e.token && e.token->expires_on > clock.now();
      finish(e, fresh);
      if (still_valid && !bypass) return TokenResult(e.token);
      return fresh;
    }
  }

  /// Drops every cached token.
  void clear() const {
    std::unique_lock lk(map_mu_);
    for (auto& e : entries_) {
      std::lock_guard g(e->mu);
      e->token.reset();
      e->attempted = false;
    }
  }

 private:
  struct Entry {
    std::vector<std::string> scopes;  // sorted
    std::string tenant;
    bool cae = false;

    std::mutex mu;
    std::condition_variable cv;
    std::shared_ptr<const AccessToken> token;
    std::chrono::steady_clock::time_point last_attempt{};
    bool attempted = false;
    bool refreshing = false;
    std::uint64_t generation = 0;
    TokenResult last_error;
  };

  bool should_refresh(const Entry& e, std::chrono::system_clock::time_point now,
                      std::chrono::steady_clock::time_point steady) const {
    const bool due = (e.token->refresh_on && now >= *e.token->refresh_on) ||
                     e.token->expires_on - now <= policy_.refresh_offset;
    if (!due) return false;
    return !e.attempted || steady - e.last_attempt >= policy_.retry_delay;
  }

  static void finish(Entry& e, TokenResult error) {
    e.refreshing = false;
    ++e.generation;
    e.last_error = std::move(error);
    e.cv.notify_all();
  }

  // Multiset equality without allocating: request scope lists are short (usually one).
  static bool same_scopes(const std::vector<std::string>& sorted, const std::vector<std::string>& req) {
    if (sorted.size() != req.size()) return false;
    for (const auto& s : req) {
      const auto [lo, hi] = std::equal_range(sorted.begin(), sorted.end(), s);
      if (lo == hi) return false;
      if (std::count(req.begin(), req.end(), s) != hi - lo) return false;
    }
    return true;
  }

  Entry& entry_for(const TokenRequestContext& ctx, std::string_view tenant) const {
    {
      std::shared_lock lk(map_mu_);
      for (auto& e : entries_)
        if (e->cae == ctx.enable_cae && e->tenant == tenant && same_scopes(e->scopes, ctx.scopes)) return *e;
    }
    std::unique_lock lk(map_mu_);
    for (auto& e : entries_)
      if (e->cae == ctx.enable_cae && e->tenant == tenant && same_scopes(e->scopes, ctx.scopes)) return *e;
    auto e = std::make_unique<Entry>();
    e->scopes = ctx.scopes;
    std::sort(e->scopes.begin(), e->scopes.end());
    e->tenant.assign(tenant);
    e->cae = ctx.enable_cae;
    entries_.push_back(std::move(e));
    return *entries_.back();
  }

  CachePolicy policy_;
  mutable std::shared_mutex map_mu_;
  mutable std::vector<std::unique_ptr<Entry>> entries_;
};

AZID_END
