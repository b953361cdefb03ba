// TokenCache freshness, proactive refresh, throttle and single flight, on a manual clock.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <new>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "azid/cache/token_cache.hpp"
#include "azid/testing/platform.hpp"

using namespace azid;
using namespace std::chrono;

namespace {
TokenResult make_token(const testing::ManualClock& clock, seconds lifetime,
                       std::string value = "tok",
                       std::optional<seconds> refresh_in = std::nullopt) {
  auto t = std::make_shared<AccessToken>();
  t->token = std::move(value);
  t->expires_on = clock.now() + lifetime;
  if (refresh_in) t->refresh_on = clock.now() + *refresh_in;
  return TokenResult(std::shared_ptr<const AccessToken>(std::move(t)));
}
TokenRequestContext ctx_for(std::vector<std::string> scopes) {
  TokenRequestContext c;
  c.scopes = std::move(scopes);
  return c;
}
}  // namespace

TEST_SUITE("token_cache") {
  TEST_CASE("a fresh token is served from the cache without fetching") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    auto fetch = [&] {
      ++fetches;
      return make_token(clock, hours(1));
    };
    auto ctx = ctx_for({"https://vault.azure.net/.default"});
    CHECK(cache.get_or_fetch(ctx, "t", clock, fetch).ok());
    clock.advance(minutes(50));
    CHECK(cache.get_or_fetch(ctx, "t", clock, fetch).ok());
    CHECK(fetches == 1);
  }

  TEST_CASE("keys: scope order does not matter, tenant and CAE do") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    auto fetch = [&] {
      ++fetches;
      return make_token(clock, hours(1));
    };
    auto a = ctx_for({"s1", "s2"});
    auto b = ctx_for({"s2", "s1"});
    (void)cache.get_or_fetch(a, "t", clock, fetch);
    (void)cache.get_or_fetch(b, "t", clock, fetch);
    CHECK(fetches == 1);
    (void)cache.get_or_fetch(a, "other", clock, fetch);
    CHECK(fetches == 2);
    auto c = a;
    c.enable_cae = true;
    (void)cache.get_or_fetch(c, "t", clock, fetch);
    CHECK(fetches == 3);
    auto dup = ctx_for({"s1", "s1"});
    (void)cache.get_or_fetch(dup, "t", clock, fetch);
    (void)cache.get_or_fetch(dup, "t", clock, fetch);
    CHECK(fetches == 4);
  }

  TEST_CASE("keys: a request with many scopes matches in any order") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    auto fetch = [&] {
      ++fetches;
      return make_token(clock, hours(1));
    };
    std::vector<std::string> reversed, permuted, other;
    for (int i = 0; i < 1000; ++i) reversed.push_back("scope" + std::to_string(999 - i));
    for (int i = 0; i < 1000; ++i) permuted.push_back("scope" + std::to_string((i * 7) % 1000));
    other = permuted;
    other[500] = "scope-x";
    TokenRequestContext a, b, c;
    a.scopes = reversed;
    b.scopes = permuted;
    c.scopes = other;
    (void)cache.get_or_fetch(a, "t", clock, fetch);
    (void)cache.get_or_fetch(b, "t", clock, fetch);
    CHECK(fetches == 1);
    (void)cache.get_or_fetch(c, "t", clock, fetch);
    CHECK(fetches == 2);
  }

  TEST_CASE("a token within 5 minutes of expiry is refreshed") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    auto fetch = [&] {
      ++fetches;
      return make_token(clock, hours(1), "tok" + std::to_string(fetches));
    };
    auto ctx = ctx_for({"s"});
    (void)cache.get_or_fetch(ctx, "t", clock, fetch);
    clock.advance(minutes(55) + seconds(1));
    auto r = cache.get_or_fetch(ctx, "t", clock, fetch);
    CHECK(fetches == 2);
    CHECK(r.token().token == "tok2");
  }

  TEST_CASE("refresh_on triggers a proactive refresh") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    auto fetch = [&] {
      ++fetches;
      return make_token(clock, hours(24), "tok" + std::to_string(fetches), hours(12));
    };
    auto ctx = ctx_for({"s"});
    (void)cache.get_or_fetch(ctx, "t", clock, fetch);
    clock.advance(hours(11));
    (void)cache.get_or_fetch(ctx, "t", clock, fetch);
    CHECK(fetches == 1);
    clock.advance(hours(1));
    CHECK(cache.get_or_fetch(ctx, "t", clock, fetch).token().token == "tok2");
  }

  TEST_CASE(
      "a failed proactive refresh hands out the cached token and waits 30 s before retrying") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    bool fail = false;
    auto fetch = [&] {
      ++fetches;
      if (fail) return TokenResult::failed("X", "sts down");
      return make_token(clock, hours(1), "tok" + std::to_string(fetches));
    };
    auto ctx = ctx_for({"s"});
    (void)cache.get_or_fetch(ctx, "t", clock, fetch);
    fail = true;
    clock.advance(minutes(56));
    auto r = cache.get_or_fetch(ctx, "t", clock, fetch);
    REQUIRE(r.ok());
    CHECK(r.token().token == "tok1");
    CHECK(fetches == 2);
    clock.advance(seconds(10));
    CHECK(cache.get_or_fetch(ctx, "t", clock, fetch).token().token == "tok1");
    CHECK(fetches == 2);  // throttled
    clock.advance(seconds(21));
    (void)cache.get_or_fetch(ctx, "t", clock, fetch);
    CHECK(fetches == 3);
    fail = false;
    clock.advance(seconds(31));
    CHECK(cache.get_or_fetch(ctx, "t", clock, fetch).token().token == "tok4");
  }

  TEST_CASE("an expired token is never handed out, and its refresh failure propagates") {
    testing::ManualClock clock;
    TokenCache cache;
    bool fail = false;
    auto fetch = [&] {
      if (fail) return TokenResult::failed("X", "sts down");
      return make_token(clock, minutes(10));
    };
    auto ctx = ctx_for({"s"});
    (void)cache.get_or_fetch(ctx, "t", clock, fetch);
    fail = true;
    clock.advance(minutes(11));
    auto r = cache.get_or_fetch(ctx, "t", clock, fetch);
    CHECK_FALSE(r.ok());
    CHECK(r.failure() == Failure::failed);
  }

  TEST_CASE("min_validity: a cached token that expires sooner is not returned") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    bool fail = false;
    auto fetch = [&] {
      if (fail) return TokenResult::failed("X", "sts down");
      ++fetches;
      return make_token(clock, hours(1), "tok" + std::to_string(fetches));
    };
    auto plain = ctx_for({"s"});
    auto demanding = plain;
    REQUIRE(cache.get_or_fetch(plain, "t", clock, fetch).token().token == "tok1");
    clock.advance(minutes(30));
    demanding.min_validity = minutes(20);  // 30 min left: enough, from this thread's slot
    CHECK(cache.get_or_fetch(demanding, "t", clock, fetch).token().token == "tok1");
    CHECK(fetches == 1);
    demanding.min_validity = minutes(45);  // not enough: fetched, then shared with everyone
    CHECK(cache.get_or_fetch(demanding, "t", clock, fetch).token().token == "tok2");
    CHECK(cache.get_or_fetch(plain, "t", clock, fetch).token().token == "tok2");
    CHECK(fetches == 2);
    // From another thread (its slot is empty: the refill path) the same rule holds.
    std::thread([&] {
      demanding.min_validity = minutes(59);
      CHECK(cache.get_or_fetch(demanding, "t", clock, fetch).token().token == "tok2");
      demanding.min_validity = minutes(61);
      CHECK(cache.get_or_fetch(demanding, "t", clock, fetch).token().token == "tok3");
    }).join();
    // 4 minutes left and the STS down: the plain caller keeps the valid token (proactive refresh
    // failed); a caller that needs 10 minutes gets the failure, throttle or not.
    clock.advance(minutes(56));
    fail = true;
    auto kept = cache.get_or_fetch(plain, "t", clock, fetch);
    REQUIRE(kept.ok());
    CHECK(kept.token().token == "tok3");
    demanding.min_validity = minutes(10);
    auto refused = cache.get_or_fetch(demanding, "t", clock, fetch);
    CHECK_FALSE(refused.ok());
    CHECK(refused.failure() == Failure::failed);
    // The asynchronous steps apply it too.
    struct Waiter final : detail::CacheWaiter {
      void wake() noexcept override {}
    };
    Waiter w;
    TokenResult out;
    CHECK(cache.async_begin(plain, "t", clock, w, out) == TokenCache::AsyncStep::done);
    Waiter w2;
    CHECK(cache.async_begin(demanding, "t", clock, w2, out) == TokenCache::AsyncStep::fetch);
    cache.async_abandon(w2);
  }

  TEST_CASE("claims bypass the cached token and replace it") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    auto fetch = [&] {
      ++fetches;
      return make_token(clock, hours(1), "tok" + std::to_string(fetches));
    };
    auto ctx = ctx_for({"s"});
    (void)cache.get_or_fetch(ctx, "t", clock, fetch);
    auto challenged = ctx;
    challenged.claims = R"({"access_token":{"nbf":{"essential":true,"value":"1"}}})";
    CHECK(cache.get_or_fetch(challenged, "t", clock, fetch).token().token == "tok2");
    CHECK(cache.get_or_fetch(ctx, "t", clock, fetch).token().token == "tok2");
    CHECK(fetches == 2);
  }

  TEST_CASE("a plain caller waiting on a claims request's failed fetch fetches for itself") {
    testing::ManualClock clock;
    TokenCache cache;
    std::atomic<bool> claims_fetch_started{false};
    std::atomic<int> plain_fetches{0};
    auto ctx = ctx_for({"s"});
    auto challenged = ctx;
    challenged.claims = R"({"access_token":{"acrs":{"essential":true,"value":"c1"}}})";
    std::thread claims_caller([&] {
      auto r = cache.get_or_fetch(challenged, "t", clock, [&] {
        claims_fetch_started = true;
        std::this_thread::sleep_for(milliseconds(150));
        return TokenResult::error(
            Failure::auth_required,
            ErrorInfo{.credential = "X", .message = "interaction_required (claims request)"});
      });
      CHECK(r.failure() == Failure::auth_required);
    });
    while (!claims_fetch_started.load()) std::this_thread::yield();
    // Cold, no claims: waits for the fetch in flight, then must not take its failure.
    auto r = cache.get_or_fetch(ctx, "t", clock, [&] {
      plain_fetches.fetch_add(1);
      return make_token(clock, hours(1), "plain");
    });
    claims_caller.join();
    REQUIRE(r.ok());
    CHECK(r.token().token == "plain");
    CHECK(plain_fetches.load() == 1);
  }

  TEST_CASE("a negative min_validity never lets an expired token out") {
    testing::ManualClock clock;
    TokenCache cache;
    bool fail = false;
    auto fetch = [&] {
      return fail ? TokenResult::failed("X", "sts down") : make_token(clock, hours(1), "tok");
    };
    auto ctx = ctx_for({"s"});
    REQUIRE(cache.get_or_fetch(ctx, "t", clock, fetch).ok());
    clock.advance(hours(1) + seconds(30));  // expired 30 s ago
    fail = true;
    ctx.min_validity = seconds(-60);
    CHECK_FALSE(cache.get_or_fetch(ctx, "t", clock, fetch).ok());
  }

  TEST_CASE("any key a thread reads is served from its slot, not only the first few") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    auto fetch = [&] { return ++fetches, make_token(clock, hours(1)); };
    auto ctx = ctx_for({"s"});
    for (int i = 0; i < 40; ++i)
      (void)cache.get_or_fetch(ctx, "t" + std::to_string(i), clock, fetch);
    CHECK(fetches == 40);
    CHECK(cache.size() == 40);
    // The 40th key: its first hit fills this thread's slot, after which the hit path alone (no
    // index, no lock) finds it.
    CHECK(detail::TokenCacheHitPath::find(cache, ctx, "t39", clock) == nullptr);
    CHECK(cache.get_or_fetch(ctx, "t39", clock, fetch).ok());
    CHECK(detail::TokenCacheHitPath::find(cache, ctx, "t39", clock) != nullptr);
    CHECK(fetches == 40);
  }

  TEST_CASE("expired entries are evicted as new keys arrive; held entries stay safe") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    auto fetch = [&] {
      return ++fetches, make_token(clock, hours(1), "tok" + std::to_string(fetches));
    };
    auto ctx = ctx_for({"s"});
    for (int i = 0; i < 100; ++i)
      (void)cache.get_or_fetch(ctx, "old" + std::to_string(i), clock, fetch);
    // This thread's slots hold some of these entries.
    for (int i = 92; i < 100; ++i)
      (void)cache.get_or_fetch(ctx, "old" + std::to_string(i), clock, fetch);
    CHECK(cache.size() == 100);
    clock.advance(hours(2));  // every old token has expired
    for (int i = 0; i < 200; ++i)
      (void)cache.get_or_fetch(ctx, "new" + std::to_string(i), clock, fetch);
    CHECK(cache.size() == 200);  // the old keys are gone, the live ones all kept
    CHECK(fetches == 300);
    // An evicted key (its entry still referenced by this thread's slot) is fetched afresh.
    const auto again = cache.get_or_fetch(ctx, "old99", clock, fetch);
    REQUIRE(again.ok());
    CHECK(again.token().token == "tok301");
    CHECK(again.token().expires_on > clock.now());
    CHECK(cache.get_or_fetch(ctx, "new0", clock, fetch).token().token == "tok101");
    CHECK(fetches == 301);
    // Its next read refills the slot that held the evicted entry, and hits come from it again.
    CHECK(cache.get_or_fetch(ctx, "old99", clock, fetch).token().token == "tok301");
    CHECK(detail::TokenCacheHitPath::find(cache, ctx, "old99", clock) != nullptr);
    CHECK(fetches == 301);
  }

  TEST_CASE("keys whose fetches fail or whose tokens expire do not pile up in the index") {
    testing::ManualClock clock;
    TokenCache cache;
    auto ctx = ctx_for({"s"});
    auto fail = [] { return TokenResult::failed("X", "sts down"); };
    for (int i = 0; i < 5000; ++i)
      (void)cache.get_or_fetch(ctx, "f" + std::to_string(i), clock, fail);
    CHECK(cache.size() < 64);
    auto short_lived = [&] { return make_token(clock, seconds(1)); };
    for (int i = 0; i < 5000; ++i) {
      (void)cache.get_or_fetch(ctx, "e" + std::to_string(i), clock, short_lived);
      clock.advance(seconds(2));
    }
    CHECK(cache.size() < 64);
  }

  TEST_CASE("an asynchronous caller whose entry was evicted while it was away uses the live one") {
    testing::ManualClock clock;
    TokenCache cache;
    struct Waiter final : detail::CacheWaiter {
      int woken = 0;
      void wake() noexcept override { ++woken; }
    };
    auto ctx = ctx_for({"s"});
    Waiter fetcher, queued;
    TokenResult out;
    REQUIRE(cache.async_begin(ctx, "t", clock, fetcher, out) == TokenCache::AsyncStep::fetch);
    REQUIRE(cache.async_begin(ctx, "t", clock, queued, out) == TokenCache::AsyncStep::queued);
    cache.async_abandon(fetcher);  // cancelled: the queued caller is woken to fetch instead
    CHECK(queued.woken == 1);
    // Before it runs again, new keys sweep the index: the entry (no token, nobody fetching) goes.
    int fetches = 0;
    auto fetch = [&] { return ++fetches, make_token(clock, hours(1)); };
    for (int i = 0; i < 40; ++i)
      (void)cache.get_or_fetch(ctx, "o" + std::to_string(i), clock, fetch);
    CHECK(cache.size() == 40);
    REQUIRE(cache.async_begin(ctx, "t", clock, queued, out) == TokenCache::AsyncStep::fetch);
    CHECK(cache.async_finish(queued, ctx, clock, make_token(clock, hours(1), "async")).ok());
    // The token went to the live entry: a plain caller gets it without fetching.
    CHECK(cache.get_or_fetch(ctx, "t", clock, fetch).token().token == "async");
    CHECK(fetches == 40);
    CHECK(cache.size() == 41);
  }

  TEST_CASE("a negative refresh offset never lets a thread's slot serve an expired token") {
    testing::ManualClock clock;
    TokenCache cache(CachePolicy{.refresh_offset = seconds(-120), .retry_delay = seconds(30)});
    int fetches = 0;
    auto fetch = [&] {
      return ++fetches, make_token(clock, hours(1), "tok" + std::to_string(fetches));
    };
    auto ctx = ctx_for({"s"});
    std::thread([&] {
      (void)cache.get_or_fetch(ctx, "t", clock, fetch);
      (void)cache.get_or_fetch(ctx, "t", clock, fetch);  // fills this thread's slot
      clock.advance(minutes(61));
      const auto r = cache.get_or_fetch(ctx, "t", clock, fetch);
      REQUIRE(r.ok());
      CHECK(r.token().token == "tok2");
      CHECK(r.token().expires_on > clock.now());
    }).join();
  }

  TEST_CASE("many concurrent callers on a miss cause exactly one fetch") {
    testing::ManualClock clock;
    TokenCache cache;
    std::atomic<int> fetches{0};
    std::atomic<bool> go{false};
    auto fetch = [&] {
      fetches.fetch_add(1);
      std::this_thread::sleep_for(milliseconds(50));
      return make_token(clock, hours(1));
    };
    auto ctx = ctx_for({"s"});
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 16; ++i)
      threads.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        if (cache.get_or_fetch(ctx, "t", clock, fetch).ok()) ok.fetch_add(1);
      });
    go = true;
    for (auto& t : threads) t.join();
    CHECK(fetches.load() == 1);
    CHECK(ok.load() == 16);
  }

  TEST_CASE("concurrent callers share one failure instead of each retrying") {
    testing::ManualClock clock;
    TokenCache cache;
    std::atomic<int> fetches{0};
    std::atomic<bool> go{false};
    auto fetch = [&] {
      fetches.fetch_add(1);
      std::this_thread::sleep_for(milliseconds(50));
      return TokenResult::failed("X", "sts down");
    };
    auto ctx = ctx_for({"s"});
    std::vector<std::thread> threads;
    std::atomic<int> failed{0};
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        if (cache.get_or_fetch(ctx, "t", clock, fetch).failure() == Failure::failed)
          failed.fetch_add(1);
      });
    go = true;
    for (auto& t : threads) t.join();
    CHECK(failed.load() == 8);
    CHECK(fetches.load() <= 2);  // callers arriving after the failure may start one more
  }

  // A callback of the fetch (a log sink, say) asking for the same token on the same thread would
  // otherwise wait for its own fetch forever, and with it every later caller of the key.
  TEST_CASE("a request for the token being fetched, made from inside that fetch, fails at once") {
    testing::ManualClock clock;
    TokenCache cache;
    auto ctx = ctx_for({"s"});
    std::optional<TokenResult> inner;
    auto outer = cache.get_or_fetch(ctx, "t", clock, [&] {
      inner = cache.get_or_fetch(ctx, "t", clock, [&] { return make_token(clock, hours(1), "x"); });
      return make_token(clock, hours(1));
    });
    REQUIRE(outer.ok());
    CHECK(outer.token().token == "tok");
    REQUIRE(inner);
    CHECK(inner->failure() == Failure::failed);
    CHECK(inner->error_info().message.find("from inside the fetch of the same token") !=
          std::string::npos);
    // The key is not stuck: a later caller gets the cached token.
    CHECK(cache.get_or_fetch(ctx, "t", clock, [&] { return make_token(clock, hours(1), "y"); })
              .token()
              .token == "tok");
  }

  // The exception belongs to the caller whose fetch threw; a waiter fetches for itself. Ending the
  // fetch that way allocates nothing, so it holds when the exception is bad_alloc.
  TEST_CASE("a fetch that throws hands the key to a waiter, which fetches for itself") {
    testing::ManualClock clock;
    TokenCache cache;
    auto ctx = ctx_for({"s"});
    std::atomic<bool> fetching{false};
    std::atomic<bool> release{false};
    std::thread first([&] {
      CHECK_THROWS_AS((void)cache.get_or_fetch(ctx, "t", clock,
                                               [&]() -> TokenResult {
                                                 fetching = true;
                                                 while (!release.load()) std::this_thread::yield();
                                                 throw std::bad_alloc();
                                               }),
                      std::bad_alloc);
    });
    while (!fetching.load()) std::this_thread::yield();
    std::atomic<int> second_fetches{0};
    std::thread second([&] {
      TokenResult r = cache.get_or_fetch(ctx, "t", clock, [&] {
        second_fetches.fetch_add(1);
        return make_token(clock, hours(1), "second");
      });
      CHECK(r.ok());
      if (r.ok()) CHECK(r.token().token == "second");
    });
    std::this_thread::sleep_for(milliseconds(50));  // let the second caller queue (not required)
    release = true;
    first.join();
    second.join();
    CHECK(second_fetches.load() == 1);
  }

  TEST_CASE("a min_validity longer than the clock can count is never met by a cached token") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    auto fetch = [&] {
      ++fetches;
      return make_token(clock, hours(1));
    };
    auto ctx = ctx_for({"s"});
    REQUIRE(cache.get_or_fetch(ctx, "t", clock, fetch).ok());
    for (const seconds v : {seconds::max(), seconds(10'000'000'000)}) {
      auto demanding = ctx;
      demanding.min_validity = v;
      (void)cache.get_or_fetch(demanding, "t", clock, fetch);
    }
    CHECK(fetches == 3);
  }

  // Destructors of thread-locals built before the cache's per-thread slots, and of statics, run
  // after the slots are gone, and may still ask for tokens (a last telemetry flush).
  TEST_CASE("a thread-local destroyed after the thread's slots still gets a token") {
    testing::ManualClock clock;
    TokenCache cache;
    auto ctx = ctx_for({"s"});
    std::atomic<int> fetches{0};
    auto fetch = [&] {
      fetches.fetch_add(1);
      return make_token(clock, hours(1));
    };
    struct AtExit {
      std::function<void()> run;
      ~AtExit() {
        if (run) run();
      }
    };
    std::string at_exit_token;
    std::thread([&] {
      thread_local AtExit at_exit;  // built before the slots: destroyed after them
      at_exit.run = [&] {
        at_exit_token = cache.get_or_fetch(ctx, "t", clock, fetch).token().token;
      };
      for (int i = 0; i < 3; ++i) REQUIRE(cache.get_or_fetch(ctx, "t", clock, fetch).ok());
    }).join();
    CHECK(at_exit_token == "tok");
    CHECK(fetches.load() == 1);
  }
}
