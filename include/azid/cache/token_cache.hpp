// azid/cache/token_cache.hpp: TokenCache, one per credential instance: freshness rules, proactive
// refresh, the 30 s retry throttle and single-flight refresh (caching-and-tenants.md §1-§2), with a
// hit path that takes no lock, makes no allocation and no system call.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/result.hpp"
#include "azid/detail/call_context.hpp"

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

namespace detail {

struct TokenCacheHitPath;

/// Per-thread view of recently read cache entries. Each slot keeps its own shared_ptr control
/// block pointing at the cached token (an aliasing shared_ptr), so handing out a token on a hit
/// bumps a reference count on a cache line no other thread writes: hits scale across cores
/// instead of fighting over the token's shared control block.
struct ReaderSlot {
  std::uint64_t cache_uid = 0;
  std::size_t key_hash = 0;
  const void* entry = nullptr;
  std::shared_ptr<const void> entry_owner;  // keeps `entry` alive after the cache evicts it
  std::uint64_t version = 0;
  /// The token is fresh strictly before this instant (refresh offset and refresh_on applied).
  std::chrono::system_clock::time_point fresh_until{};
  std::shared_ptr<const AccessToken> token;  // control block private to this thread
};
/// A thread's slots: eight scanned on every hit, and, once a thread has read more live keys than
/// that, a spill table of 64 sets of 4 slots looked up when the eight miss. A key may sit in either
/// of two sets chosen by its hash (two-choice hashing), so keys rarely crowd one set out: a
/// service reading a few dozen keys round-robin on one thread hits without a lock or an
/// allocation, and with hundreds most reads still do. The spill table (18 KB) is allocated once,
/// by the first read that would push a live key out of the eight.
struct ReaderSlots {
  static constexpr std::size_t spill_sets = 64, spill_ways = 4;
  std::array<ReaderSlot, 8> slots{};
  unsigned next = 0;
  unsigned spill_next = 0;
  std::unique_ptr<ReaderSlot[]> spill;  // spill_sets * spill_ways, or null

  /// The first way of each of the two sets a key hashed `h` may occupy.
  [[nodiscard]] ReaderSlot* spill_set(std::size_t h, int which) const noexcept {
    const auto mixed = static_cast<std::uint64_t>(h) * 0x9E3779B97F4A7C15ULL;
    const std::size_t set = which == 0 ? h % spill_sets : static_cast<std::size_t>(mixed >> 58);
    return &spill[set * spill_ways];
  }
};
static_assert(ReaderSlots::spill_sets == 64, "spill_set takes the top 6 bits");
/// Set once this thread's slots are destroyed (thread exit). Trivially destructible, so it can
/// still be read by the destructors of thread-locals built before the slots, and of statics, which
/// run later and may ask for tokens: those callers take the locked path.
inline thread_local bool reader_slots_gone = false;
struct ReaderSlotsOwner {
  ReaderSlots slots;
  ~ReaderSlotsOwner() { reader_slots_gone = true; }
};
/// This thread's slots, or nullptr once the thread has destroyed them.
inline ReaderSlots* reader_slots() noexcept {
  if (reader_slots_gone) [[unlikely]]
    return nullptr;
  thread_local ReaderSlotsOwner owner;
  return &owner.slots;
}
inline std::uint64_t next_cache_uid() noexcept {
  static std::atomic<std::uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

/// A clock's cheapest reading of wall time: `coarse_now()` when it has one (vDSO, no syscall),
/// else `now()`. Freshness is judged with minutes of margin, so millisecond precision is moot.
template <class Clock>
[[nodiscard]] std::chrono::system_clock::time_point cheap_now(const Clock& c) {
  if constexpr (requires {
                  { c.coarse_now() } -> std::same_as<std::chrono::system_clock::time_point>;
                })
    return c.coarse_now();
  else
    return c.now();
}

/// An asynchronous caller queued behind a fetch in flight (TokenCache::async_begin, used by
/// azid/async). The cache calls wake() once, with the entry's lock held, when that fetch ends:
/// wake() may only schedule work (post to an executor), never call back into the cache.
struct CacheWaiter {
  virtual void wake() noexcept = 0;

  // The cache's bookkeeping, guarded by the entry's mutex; callers leave it alone.
  std::shared_ptr<void> entry_;  // the entry this waiter works on, kept alive while it does
  CacheWaiter* next_ = nullptr;
  std::uint64_t generation_ = 0;
  bool queued_ = false;

 protected:
  ~CacheWaiter() = default;
};

}  // namespace detail

/// Thread-safe cache of access tokens keyed by (scope set, tenant, CAE flag).
///
/// Hit path: this thread's slot for the key (any key, however many the cache holds) checks the
/// entry's version and returns the token sharing a per-thread control block; no mutex, no
/// allocation, no system call. The first read of a token on a thread finds the entry in a hash
/// index under a shared lock and fills the slot. Misses and refreshes take the entry's mutex:
/// concurrent callers of a key share one fetch. When no valid token exists they wait for it (and
/// share its failure); when a still-valid token is being refreshed ahead of time they get the
/// cached token without waiting. A request with claims skips the lookup and overwrites the entry
/// on success, so a token the resource rejected is not handed out again. Entries whose token has
/// expired are evicted whenever the index would otherwise grow, so memory follows the number of
/// live tokens, not the number of keys ever seen.
class TokenCache {
  friend struct detail::TokenCacheHitPath;

 public:
  explicit TokenCache(CachePolicy policy = {}) : policy_(policy), s_(std::make_unique<Shared>()) {}
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;
  /// Moves keep the entries (and so every thread's slots) valid; a moved-from cache must not be used.
  TokenCache(TokenCache&&) noexcept = default;
  TokenCache& operator=(TokenCache&&) noexcept = default;

  /// Returns a fresh cached token for `ctx` (with `tenant` already resolved), or calls
  /// `fetch()` (a callable returning TokenResult) to get one. `clock` models Clock.
  template <class Clock, class Fetch>
  TokenResult get_or_fetch(const TokenRequestContext& ctx, std::string_view tenant,
                           const Clock& clock, Fetch&& fetch) const {
    if (ctx.claims.empty()) {
      if (const auto* token = cached(ctx, tenant, detail::cheap_now(clock)))
        return TokenResult(*token);
    }
    return miss(ctx, tenant, clock, std::forward<Fetch>(fetch));
  }

  /// The unexpired token cached under `ctx`'s key (its claims aside), or null: what a claims
  /// request is about to replace. Takes the entry's lock; not for the hit path.
  [[nodiscard]] std::shared_ptr<const AccessToken> current(
      const TokenRequestContext& ctx, std::string_view tenant,
      std::chrono::system_clock::time_point now) const {
    const auto e = find(ctx, tenant);
    if (e == nullptr) return nullptr;
    std::lock_guard lk(e->mu);
    return e->token && e->token->expires_on > now ? e->token : nullptr;
  }

  /// Drops every cached token.
  void clear() const {
    std::unique_lock lk(s_->map_mu);
    for (std::size_t i = 0; i <= s_->mask && s_->table != nullptr; ++i) {
      Entry* e = s_->table[i].get();
      if (e == nullptr) continue;
      std::lock_guard g(e->mu);
      e->token.reset();
      e->attempted = false;
      e->version.fetch_add(1, std::memory_order_release);
    }
  }

  /// How many keys the cache holds (evicted entries excluded). Takes the index's lock.
  [[nodiscard]] std::size_t size() const {
    std::shared_lock lk(s_->map_mu);
    return s_->count;
  }

  /// Asynchronous callers (azid/async) walk the slow path in steps that never block a thread;
  /// they share single flight with synchronous callers of the same entry.
  enum class AsyncStep {
    done,    ///< `out` holds the outcome (a cached token, or the shared failure of a fetch)
    fetch,   ///< this caller fetches, then calls async_finish (or async_abandon) with `w`
    queued,  ///< a fetch is in flight: `w.wake()` is called when it ends; then call again
  };

  /// One non-blocking step for `ctx` (with `tenant` resolved). Call again with the same waiter
  /// after wake(); `w` must stay alive while queued (async_unqueue takes it back).
  template <class Clock>
  AsyncStep async_begin(const TokenRequestContext& ctx, std::string_view tenant, const Clock& clock,
                        detail::CacheWaiter& w, TokenResult& out) const {
    if (w.entry_ == nullptr) w.entry_ = entry_for(ctx, tenant, key_hash(ctx, tenant), clock.now());
    std::unique_lock lk(entry_of(w).mu);
    const bool bypass = !ctx.claims.empty();
    if (w.queued_) {  // woken: share the outcome of the fetch we waited for, as slow_path does
      w.queued_ = false;
      const Entry& e = entry_of(w);
      if (e.generation != w.generation_ && !bypass) {
        if (e.token && lasts(*e.token, clock.now(), ctx))
          return out = TokenResult(e.token), AsyncStep::done;
        if (e.last_error.failure() != Failure::none && !e.error_for_claims)
          return out = e.last_error, AsyncStep::done;
      }
    }
    while (entry_of(w).evicted) {  // swept while this caller was away: work on the live entry
      lk.unlock();
      w.entry_ = entry_for(ctx, tenant, key_hash(ctx, tenant), clock.now());
      lk = std::unique_lock(entry_of(w).mu);
    }
    Entry& e = entry_of(w);
    const auto now = clock.now();
    const bool usable = e.token && lasts(*e.token, now, ctx);
    if (usable && !bypass) {
      if (!should_refresh(e, now, clock.steady_now()) || e.refreshing)
        return out = TokenResult(e.token), AsyncStep::done;
    } else if (e.refreshing) {
      w.generation_ = e.generation;
      w.queued_ = true;
      w.next_ = e.waiters;
      e.waiters = &w;
      return AsyncStep::queued;
    }
    e.refreshing = true;
    e.last_attempt = clock.steady_now();
    e.attempted = true;
    return AsyncStep::fetch;
  }

  /// Ends the fetch async_begin handed to `w`: stores a token, wakes every waiter (synchronous and
  /// asynchronous) and returns what this caller gets, as slow_path would.
  template <class Clock>
  TokenResult async_finish(detail::CacheWaiter& w, const TokenRequestContext& ctx,
                           const Clock& clock, TokenResult fetched) const {
    Entry& e = entry_of(w);
    std::lock_guard lk(e.mu);
    if (fetched.ok()) {
      e.token = fetched.shared_token();
      e.version.fetch_add(1, std::memory_order_release);
      finish(e, TokenResult{});
      return fetched;
    }
    const bool still_valid = e.token && lasts(*e.token, clock.now(), ctx);
    finish(e, fetched, !ctx.claims.empty());
    if (still_valid && ctx.claims.empty()) return TokenResult(e.token);
    return fetched;
  }

  /// Gives up the fetch handed to `w` without an outcome (cancelled): waiters wake and one of
  /// them fetches instead of sharing an error that was not theirs.
  void async_abandon(detail::CacheWaiter& w) const {
    Entry& e = entry_of(w);
    std::lock_guard lk(e.mu);
    finish(e, TokenResult{});
  }

  /// Takes a queued waiter back (its caller was cancelled); harmless when already woken.
  void async_unqueue(detail::CacheWaiter& w) const {
    if (w.entry_ == nullptr) return;
    Entry& e = entry_of(w);
    std::lock_guard lk(e.mu);
    for (detail::CacheWaiter** p = &e.waiters; *p != nullptr; p = &(*p)->next_)
      if (*p == &w) {
        *p = w.next_;
        break;
      }
    w.queued_ = false;
  }

 private:
  struct Entry {
    // Key: immutable once the entry is published.
    std::vector<std::string> scopes;  // sorted
    std::string tenant;
    bool cae = false;
    std::size_t hash = 0;
    std::uint64_t born = 0;  // the index's rebuild count when the entry was inserted

    // Bumped (release) whenever `token` changes or the entry is evicted; readers compare it with
    // their slot's copy.
    std::atomic<std::uint64_t> version{0};

    std::mutex mu;  // guards everything below
    std::condition_variable cv;
    std::shared_ptr<const AccessToken> token;
    std::chrono::steady_clock::time_point last_attempt{};
    bool attempted = false;
    bool refreshing = false;
    std::thread::id fetcher;  // the thread running a blocking fetch (none for an asynchronous one)
    // Out of the index (callers holding it move to the live entry). Written only by rebuild() and
    // ~Shared, under map_mu and this lock; read under this lock.
    bool evicted = false;
    std::uint64_t generation = 0;
    TokenResult last_error;
    bool error_for_claims = false;           // last_error came from a claims request's fetch
    detail::CacheWaiter* waiters = nullptr;  // asynchronous callers queued behind the fetch
  };
  using EntryPtr = std::shared_ptr<Entry>;

  static Entry& entry_of(const detail::CacheWaiter& w) noexcept {
    return *static_cast<Entry*>(w.entry_.get());
  }

  // Whether `t` may be handed out for `ctx` at `now`: unexpired, and valid for the request's
  // min_validity beyond now.
  [[nodiscard]] static bool lasts(const AccessToken& t, std::chrono::system_clock::time_point now,
                                  const TokenRequestContext& ctx) noexcept {
    // A negative min_validity asks for nothing beyond "not expired"; one longer than the clock can
    // count (converting it would overflow) is never met.
    constexpr auto longest = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::duration::max());
    if (ctx.min_validity >= longest) return false;
    return t.expires_on - now > std::max(ctx.min_validity, std::chrono::seconds::zero());
  }
  [[nodiscard]] bool fresh(const AccessToken& t,
                           std::chrono::system_clock::time_point now) const noexcept {
    return now < fresh_until(t);
  }
  // fresh(t, now) == (now < fresh_until(t)): before the refresh offset and before refresh_on.
  [[nodiscard]] std::chrono::system_clock::time_point fresh_until(
      const AccessToken& t) const noexcept {
    // Never past expiry, whatever the policy's offset (a negative one would otherwise let slots
    // serve an expired token).
    const auto until = std::min(t.expires_on, t.expires_on - policy_.refresh_offset);
    return t.refresh_on && *t.refresh_on < until ? *t.refresh_on : until;
  }

  // The hit path: this thread's slots only (one short loop, no lock, no shared write, no
  // allocation); the key is checked before anything else is read. nullptr: take miss().
  [[nodiscard]] const std::shared_ptr<const AccessToken>* cached(
      const TokenRequestContext& ctx, std::string_view tenant,
      std::chrono::system_clock::time_point now) const noexcept {
    detail::ReaderSlots* rs = detail::reader_slots();
    if (rs == nullptr) [[unlikely]]
      return nullptr;
    const std::uint64_t uid = s_->uid;
    for (auto& s : rs->slots) {
      if (s.cache_uid != uid) continue;
      if (!matches(*static_cast<const Entry*>(s.entry), ctx, tenant)) continue;
      return serves(s, ctx, now) ? &s.token : nullptr;
    }
    return nullptr;
  }

  // Whether slot `s`, already found to hold `ctx`'s key, may hand its token out at `now`: still
  // fresh, the entry's token not replaced since, and valid for the request's min_validity.
  [[nodiscard]] static bool serves(const detail::ReaderSlot& s, const TokenRequestContext& ctx,
                                   std::chrono::system_clock::time_point now) noexcept {
    return now < s.fresh_until &&
           s.version ==
               static_cast<const Entry*>(s.entry)->version.load(std::memory_order_acquire) &&
           (ctx.min_validity.count() == 0 || lasts(*s.token, now, ctx));
  }

  // Everything but a hit on this thread's slot, kept out of line so the hit path stays small.
  template <class Clock, class Fetch>
  [[gnu::noinline]] TokenResult miss(const TokenRequestContext& ctx, std::string_view tenant,
                                     const Clock& clock, Fetch&& fetch) const {
    const std::size_t h = key_hash(ctx, tenant);
    if (ctx.claims.empty()) {
      if (const auto* slot = spilled(h, ctx, tenant, detail::cheap_now(clock)))
        return TokenResult(*slot);
    }
    EntryPtr e = entry_for(ctx, tenant, h, clock.now());
    if (ctx.claims.empty()) {
      const auto now = detail::cheap_now(clock);
      if (const auto* slot = refill_slot(e, now); slot != nullptr && lasts(*slot->token, now, ctx))
        return TokenResult(slot->token);
    }
    return slow_path(std::move(e), ctx, tenant, clock, std::forward<Fetch>(fetch));
  }

  // The fresh token this thread's spill table holds for the key hashed `h`, or nullptr. Like
  // cached(): no lock, no allocation, no system call.
  [[nodiscard]] const std::shared_ptr<const AccessToken>* spilled(
      std::size_t h, const TokenRequestContext& ctx, std::string_view tenant,
      std::chrono::system_clock::time_point now) const noexcept {
    const detail::ReaderSlots* slots = detail::reader_slots();
    if (slots == nullptr || slots->spill == nullptr) return nullptr;
    const detail::ReaderSlots& rs = *slots;
    for (int which = 0; which < 2; ++which) {
      const detail::ReaderSlot* set = rs.spill_set(h, which);
      for (std::size_t w = 0; w < rs.spill_ways; ++w) {
        const detail::ReaderSlot& s = set[w];
        if (s.cache_uid != s_->uid || s.key_hash != h) continue;
        if (!matches(*static_cast<const Entry*>(s.entry), ctx, tenant)) continue;
        return serves(s, ctx, now) ? &s.token : nullptr;  // a key holds one way at most
      }
    }
    return nullptr;
  }

  // spilled() for callers that have not hashed the key; out of line, off the eight slots' path.
  [[gnu::noinline]] const std::shared_ptr<const AccessToken>* find_spilled(
      const TokenRequestContext& ctx, std::string_view tenant,
      std::chrono::system_clock::time_point now) const noexcept {
    if (const auto* rs = detail::reader_slots(); rs == nullptr || rs->spill == nullptr)
      return nullptr;
    return spilled(key_hash(ctx, tenant), ctx, tenant, now);
  }

  // A slot that may be overwritten before any other: empty, past its freshness, or its entry's
  // token replaced or evicted since (entries of a destroyed cache are evicted).
  [[nodiscard]] static bool reusable(const detail::ReaderSlot& s,
                                     std::chrono::system_clock::time_point now) noexcept {
    return s.cache_uid == 0 || now >= s.fresh_until ||
           s.version != static_cast<const Entry*>(s.entry)->version.load(std::memory_order_acquire);
  }

  // Points this thread's slot for `e` at the entry's current token (rare: once per token per
  // thread), and its spill slot too once the thread has more keys than slots; nullptr when the
  // entry has no fresh token.
  const detail::ReaderSlot* refill_slot(const EntryPtr& e,
                                        std::chrono::system_clock::time_point now) const {
    std::shared_ptr<const AccessToken> master;
    std::uint64_t version;
    {
      std::lock_guard lk(e->mu);
      if (e->evicted) return nullptr;
      master = e->token;
      version = e->version.load(std::memory_order_relaxed);
    }
    if (!master || !fresh(*master, now)) return nullptr;
    detail::ReaderSlots* slots = detail::reader_slots();
    if (slots == nullptr) return nullptr;  // thread exit: the slow path serves without slots
    auto& rs = *slots;
    detail::ReaderSlot* slot = nullptr;
    // The slot already holding this key (perhaps for an entry since evicted): cached() stops at
    // the first slot whose key matches, so a key never occupies two. Else a reusable slot, else
    // the next in turn.
    for (auto& s : rs.slots)
      if (s.cache_uid == s_->uid && same_key(*static_cast<const Entry*>(s.entry), *e)) {
        slot = &s;
        break;
      }
    for (auto& s : rs.slots)
      if (slot == nullptr && reusable(s, now)) slot = &s;
    std::shared_ptr<std::shared_ptr<const AccessToken>> holder;
    try {
      if (slot == nullptr) {
        slot = &rs.slots[rs.next];
        rs.next = (rs.next + 1) % rs.slots.size();
        // Pushing a live key out of the eight: from now on every key read also goes to the spill
        // table, starting with the eight.
        if (rs.spill == nullptr) {
          rs.spill = std::make_unique<detail::ReaderSlot[]>(rs.spill_sets * rs.spill_ways);
          for (const auto& s : rs.slots) spill_put(rs, s, now);
        }
      }
      // The slot's own control block: hits on this thread bump a count no other thread writes.
      holder = std::make_shared<std::shared_ptr<const AccessToken>>(std::move(master));
    } catch (const std::bad_alloc&) {
      return nullptr;  // the caller takes the slow path, which needs no allocation for a hit
    }
    fill(*slot, e, version, std::shared_ptr<const AccessToken>(holder, holder->get()));
    if (rs.spill != nullptr) spill_put(rs, *slot, now);
    return slot;
  }

  // Copies `src` into one of its key's two sets in the spill table: over the way holding the same
  // key, else a reusable way, else the next way in turn.
  static void spill_put(detail::ReaderSlots& rs, const detail::ReaderSlot& src,
                        std::chrono::system_clock::time_point now) noexcept {
    if (src.cache_uid == 0) return;
    const auto& key = *static_cast<const Entry*>(src.entry);
    detail::ReaderSlot* way = nullptr;
    for (int which = 0; which < 2 && way == nullptr; ++which) {
      detail::ReaderSlot* set = rs.spill_set(src.key_hash, which);
      for (std::size_t w = 0; w < rs.spill_ways && way == nullptr; ++w)
        if (set[w].cache_uid == src.cache_uid &&
            same_key(*static_cast<const Entry*>(set[w].entry), key))
          way = &set[w];
    }
    for (int which = 0; which < 2 && way == nullptr; ++which) {
      detail::ReaderSlot* set = rs.spill_set(src.key_hash, which);
      for (std::size_t w = 0; w < rs.spill_ways && way == nullptr; ++w)
        if (reusable(set[w], now)) way = &set[w];
    }
    if (way == nullptr) {
      const unsigned turn = rs.spill_next++;
      way = rs.spill_set(src.key_hash, static_cast<int>(turn & 1u)) + (turn >> 1) % rs.spill_ways;
    }
    *way = src;
  }

  void fill(detail::ReaderSlot& slot, const EntryPtr& e, std::uint64_t version,
            std::shared_ptr<const AccessToken> token) const noexcept {
    slot.fresh_until = fresh_until(*token);
    slot.token = std::move(token);
    slot.cache_uid = s_->uid;
    slot.key_hash = e->hash;
    slot.entry = e.get();
    slot.entry_owner = e;
    slot.version = version;
  }

  template <class Clock, class Fetch>
  TokenResult slow_path(EntryPtr ep, const TokenRequestContext& ctx, std::string_view tenant,
                        const Clock& clock, Fetch&& fetch) const {
    std::unique_lock lk(ep->mu);
    const bool bypass = !ctx.claims.empty();
    for (;;) {
      if (ep->evicted) {  // swept between the lookup and this lock: use the live entry
        lk.unlock();
        ep = entry_for(ctx, tenant, key_hash(ctx, tenant), clock.now());
        lk = std::unique_lock(ep->mu);
        continue;
      }
      Entry& e = *ep;
      const auto now = clock.now();
      const bool usable = e.token && lasts(*e.token, now, ctx);
      if (usable && !bypass) {
        if (!should_refresh(e, now, clock.steady_now()) || e.refreshing)
          return TokenResult(e.token);
      } else if (e.refreshing) {
        // This thread's own fetch, called back into (from a callback of the fetch's), or a log sink
        // (which may be the fetch's, on this thread or on the executor an asynchronous fetch
        // needs): waiting could be waiting for itself, forever.
        if (e.fetcher == std::this_thread::get_id() || detail::call_context().in_log_sink)
            [[unlikely]]
          return TokenResult::failed(
              "TokenCache",
              "TokenCache: a token was requested from inside the fetch of the same token (a log "
              "sink or callback asking the credential again); the inner request fails instead of "
              "waiting for itself. Ask from another thread, or not from inside the fetch.");
        // No valid token (or a claims request): wait for the fetch in flight and share its outcome.
        const std::uint64_t gen = e.generation;
        e.cv.wait(lk, [&] { return !e.refreshing; });
        if (e.generation != gen && !bypass) {
          if (e.token && lasts(*e.token, clock.now(), ctx)) return TokenResult(e.token);
          // A claims request's failure is its own: a plain caller fetches for itself.
          if (e.last_error.failure() != Failure::none && !e.error_for_claims) return e.last_error;
        }
        continue;
      }
      // This caller refreshes.
      e.refreshing = true;
      e.fetcher = std::this_thread::get_id();
      e.last_attempt = clock.steady_now();
      e.attempted = true;
      lk.unlock();
      TokenResult fresh_result;
      try {
        fresh_result = fetch();
      } catch (...) {
        // The exception is this caller's. Waiters wake without an outcome and one of them fetches
        // (finishing with an empty result allocates nothing, so this holds under bad_alloc too).
        lk.lock();
        finish(e, TokenResult{});
        throw;
      }
      lk.lock();
      if (fresh_result.ok()) {
        e.token = fresh_result.shared_token();
        e.version.fetch_add(1, std::memory_order_release);
        finish(e, TokenResult{});
        return fresh_result;
      }
      // A proactive refresh failed while the cached token is still valid: keep using it.
      const bool still_valid = e.token && lasts(*e.token, clock.now(), ctx);
      finish(e, fresh_result, bypass);
      if (still_valid && !bypass) return TokenResult(e.token);
      return fresh_result;
    }
  }

  bool should_refresh(const Entry& e, std::chrono::system_clock::time_point now,
                      std::chrono::steady_clock::time_point steady) const {
    const bool due = (e.token->refresh_on && now >= *e.token->refresh_on) ||
                     e.token->expires_on - now <= policy_.refresh_offset;
    if (!due) return false;
    return !e.attempted || steady - e.last_attempt >= policy_.retry_delay;
  }

  static void finish(Entry& e, TokenResult error, bool for_claims = false) {
    e.refreshing = false;
    e.fetcher = std::thread::id();
    ++e.generation;
    e.last_error = std::move(error);
    e.error_for_claims = for_claims;
    e.cv.notify_all();
    for (detail::CacheWaiter* w = std::exchange(e.waiters, nullptr); w != nullptr;) {
      detail::CacheWaiter* next = w->next_;  // read first: wake() may let the waiter go
      w->wake();
      w = next;
    }
  }

  // Multiset equality without allocating: request scope lists are short (usually one, compared
  // inline by matches()). Sizes already equal.
  static bool same_scopes(const std::vector<std::string>& sorted,
                          const std::vector<std::string>& req) noexcept {
    for (const auto& s : req) {
      const auto [lo, hi] = std::equal_range(sorted.begin(), sorted.end(), s);
      if (lo == hi) return false;
      if (std::count(req.begin(), req.end(), s) != hi - lo) return false;
    }
    return true;
  }
  // Shell sort: a request names a handful of scopes, and std::sort's introsort would add about
  // 4.6 KB of code (and its compile time) to every header-only consumer for this one call.
  static void sort_scopes(std::vector<std::string>& v) noexcept {
    static constexpr std::size_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
    for (const std::size_t gap : gaps) {
      for (std::size_t i = gap; i < v.size(); ++i) {
        for (std::size_t j = i; j >= gap && v[j] < v[j - gap]; j -= gap) v[j].swap(v[j - gap]);
      }
    }
  }
  // Cheapest tests first: flag and sizes, then the bytes.
  static bool matches(const Entry& e, const TokenRequestContext& ctx,
                      std::string_view tenant) noexcept {
    const std::size_t n = ctx.scopes.size();
    if (e.cae != ctx.enable_cae || e.scopes.size() != n || e.tenant.size() != tenant.size())
      return false;
    if (n == 1) {
      const std::string& a = e.scopes.front();
      const std::string& b = ctx.scopes.front();
      if (a.size() != b.size() ||
          std::char_traits<char>::compare(a.data(), b.data(), a.size()) != 0)
        return false;
    }
    if (std::char_traits<char>::compare(e.tenant.data(), tenant.data(), tenant.size()) != 0)
      return false;
    return n == 1 || same_scopes(e.scopes, ctx.scopes);
  }

  static bool same_key(const Entry& a, const Entry& b) noexcept {
    return a.hash == b.hash && a.cae == b.cae && a.tenant == b.tenant && a.scopes == b.scopes;
  }

  // The key's hash: independent of scope order (a sum over scopes), like matches().
  static std::size_t key_hash(const TokenRequestContext& ctx, std::string_view tenant) noexcept {
    std::size_t scopes = 0;
    for (const auto& s : ctx.scopes) scopes += std::hash<std::string_view>{}(s);
    const std::size_t h = std::hash<std::string_view>{}(tenant) ^ (scopes * 0x9E3779B97F4A7C15ULL);
    return ctx.enable_cae ? ~h : h;
  }

  // The index: open addressing with linear probing over a power-of-two table, under map_mu.
  // Entries leave it only when a sweep rebuilds the table, so there are no tombstones.
  [[nodiscard]] EntryPtr probe(std::size_t h, const TokenRequestContext& ctx,
                               std::string_view tenant) const noexcept {
    if (s_->table == nullptr) return nullptr;
    for (std::size_t i = h & s_->mask;; i = (i + 1) & s_->mask) {
      const EntryPtr& e = s_->table[i];
      if (e == nullptr || (e->hash == h && matches(*e, ctx, tenant))) return e;
    }
  }

  // The entry for `ctx`'s key, or null; never creates one.
  EntryPtr find(const TokenRequestContext& ctx, std::string_view tenant) const {
    const std::size_t h = key_hash(ctx, tenant);
    std::shared_lock lk(s_->map_mu);
    return probe(h, ctx, tenant);
  }

  // The entry for `ctx`'s key, created (and the index swept or grown) when there is none.
  EntryPtr entry_for(const TokenRequestContext& ctx, std::string_view tenant, std::size_t h,
                     std::chrono::system_clock::time_point now) const {
    {
      std::shared_lock lk(s_->map_mu);
      if (EntryPtr e = probe(h, ctx, tenant)) return e;
    }
    std::unique_lock lk(s_->map_mu);
    if (EntryPtr e = probe(h, ctx, tenant)) return e;
    auto e = std::make_shared<Entry>();
    e->scopes = ctx.scopes;
    sort_scopes(e->scopes);
    e->tenant.assign(tenant);
    e->cae = ctx.enable_cae;
    e->hash = h;
    if ((s_->count + 1) * 2 > s_->mask + 1) rebuild(now);
    e->born = s_->rebuilds;
    insert(e);
    return e;
  }

  void insert(EntryPtr e) const noexcept {
    std::size_t i = e->hash & s_->mask;
    while (s_->table[i] != nullptr) i = (i + 1) & s_->mask;
    s_->table[i] = std::move(e);
    ++s_->count;
  }

  // Drops the entries that hold no token or an expired one and that nobody is fetching for (an
  // entry inserted since the previous rebuild is kept until someone has fetched for it, so its
  // creator gets to use it), then sizes the table at four slots per survivor: the table and the
  // entries follow the live tokens, and each sweep is paid for by the insertions since the last.
  // Entries whose lock is busy are kept. An entry judged stale is marked `evicted` at once, under
  // its lock, so nobody starts a fetch on it meanwhile: whoever locks it next goes back to the
  // index and waits for map_mu (held here). Locks are taken one at a time, never many at once
  // (ThreadSanitizer caps the locks a thread may hold). If the new table cannot be allocated, the
  // marks are undone and the index is as it was. Callers still holding a dropped entry see
  // `evicted`.
  void rebuild(std::chrono::system_clock::time_point now) const {
    std::size_t dropped = 0;
    for (std::size_t i = 0; s_->table != nullptr && i <= s_->mask; ++i) {
      Entry* e = s_->table[i].get();
      if (e == nullptr) continue;
      std::unique_lock g(e->mu, std::try_to_lock);
      if (g.owns_lock() && (e->attempted || e->born < s_->rebuilds) && !e->refreshing &&
          e->waiters == nullptr && (e->token == nullptr || e->token->expires_on <= now)) {
        e->evicted = true;  // tentative: whoever locks it next re-resolves through map_mu (ours)
        ++dropped;
      }
    }
    const std::size_t kept = s_->count - dropped;
    const std::size_t capacity = std::bit_ceil(std::max<std::size_t>(16, 4 * (kept + 1)));
    std::unique_ptr<EntryPtr[]> table;
    try {
      table = std::make_unique<EntryPtr[]>(capacity);
    } catch (...) {
      // Undo the marks: every entry in the index marked evicted was marked by this rebuild.
      for (std::size_t i = 0; s_->table != nullptr && i <= s_->mask; ++i) {
        Entry* e = s_->table[i].get();
        if (e == nullptr || !e->evicted) continue;
        std::lock_guard g(e->mu);
        e->evicted = false;
      }
      throw;
    }
    std::swap(table, s_->table);
    const std::size_t old_size = s_->mask + 1;
    s_->mask = capacity - 1;
    s_->count = 0;
    for (std::size_t i = 0; table != nullptr && i < old_size; ++i) {
      EntryPtr& e = table[i];
      if (e == nullptr) continue;
      if (e->evicted) {  // marked above (only rebuild writes `evicted`, under map_mu)
        std::lock_guard g(e->mu);
        e->token.reset();
        e->version.fetch_add(1, std::memory_order_release);
        continue;
      }
      insert(std::move(e));
    }
    ++s_->rebuilds;
  }

  // Behind a pointer so credentials (which own a cache) can be moved.
  struct Shared {
    Shared() = default;
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;
    // Threads' slots may outlive the cache: evicting every entry lets them drop its tokens first.
    ~Shared() {
      for (std::size_t i = 0; table != nullptr && i <= mask; ++i) {
        if (Entry* e = table[i].get()) {
          std::lock_guard g(e->mu);
          e->evicted = true;
          e->token.reset();
          e->version.fetch_add(1, std::memory_order_release);
        }
      }
    }
    std::uint64_t uid = detail::next_cache_uid();
    std::shared_mutex map_mu;
    std::unique_ptr<EntryPtr[]> table;  // null until the first entry
    std::size_t mask = 0;               // table size - 1
    std::size_t count = 0;
    std::uint64_t rebuilds = 0;
  };
  CachePolicy policy_;
  std::unique_ptr<Shared> s_;
};

namespace detail {

/// The hit path alone, for credentials that check it before building their fetch: the fresh
/// token this thread already holds for `ctx` (callers skip it for requests with claims), or
/// nullptr. The pointer is valid until this thread next calls into a TokenCache; copy it at once.
struct TokenCacheHitPath {
  template <class Clock>
  [[nodiscard]] static const std::shared_ptr<const AccessToken>* find(
      const TokenCache& cache, const TokenRequestContext& ctx, std::string_view tenant,
      const Clock& clock) noexcept {
    const auto now = cheap_now(clock);
    if (const auto* hit = cache.cached(ctx, tenant, now)) return hit;
    return cache.find_spilled(ctx, tenant, now);
  }

  /// `find`, and on a miss the entry's fresh token, which this thread's slot then
  /// holds (what a blocking hit does before it would fetch). Never fetches; nullptr for requests
  /// with claims, which always go to the network.
  template <class Clock>
  [[nodiscard]] static const std::shared_ptr<const AccessToken>* find_or_refill(
      const TokenCache& cache, const TokenRequestContext& ctx, std::string_view tenant,
      const Clock& clock) {
    if (!ctx.claims.empty()) return nullptr;
    if (const auto* hit = cache.cached(ctx, tenant, cheap_now(clock))) return hit;
    if (const auto* hit =
            cache.spilled(TokenCache::key_hash(ctx, tenant), ctx, tenant, cheap_now(clock)))
      return hit;
    if (const auto e = cache.find(ctx, tenant)) {
      const auto now = cheap_now(clock);
      if (const auto* slot = cache.refill_slot(e, now);
          slot != nullptr && TokenCache::lasts(*slot->token, now, ctx))
        return &slot->token;
    }
    return nullptr;
  }
};

}  // namespace detail

AZID_END
