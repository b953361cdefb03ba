// The cached-token path: no heap allocation on a hit, and concurrent readers across refreshes.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "../emulator/fake_tools/fake_tools.hpp"
#include "azid/cache/token_cache.hpp"
#include "azid/credentials/azure_cli.hpp"
#include "azid/credentials/azure_developer_cli.hpp"
#include "azid/credentials/azure_powershell.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/default_azure_credential.hpp"
#include "azid/testing/platform.hpp"

// This file replaces the global allocation functions with malloc/free on purpose; GCC 12 at -O2
// then sees new-expressions inlined next to free() and warns about a mismatch that is not one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<long> g_allocations{0};
// When non-zero, the next allocation of exactly this many bytes throws (then it resets).
std::atomic<std::size_t> g_fail_size{0};
}  // namespace

// Counts every allocation of the test binary; only deltas around hit loops are asserted.
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (std::size_t f = n;
      g_fail_size.load(std::memory_order_relaxed) == n && g_fail_size.compare_exchange_strong(f, 0))
    throw std::bad_alloc();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
  return ::operator new(n, t);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace azid;
using namespace std::chrono;

namespace {
using Cred = ClientSecretCredential<testing::Platform>;
constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* client = "11111111-2222-3333-4444-555555555555";

// A token for a bare TokenCache, valid for `life` from the clock's now.
TokenResult token_for(const testing::ManualClock& clock, seconds life) {
  auto t = std::make_shared<AccessToken>();
  t->token = "tok";
  t->expires_on = clock.now() + life;
  return TokenResult(std::shared_ptr<const AccessToken>(std::move(t)));
}

std::string token_body(int n, int expires_in = 3600) {
  return R"({"token_type":"Bearer","expires_in":)" + std::to_string(expires_in) +
         R"(,"access_token":"tok)" + std::to_string(n) + R"("})";
}
}  // namespace

TEST_SUITE("hit_path") {
  TEST_CASE("a cache hit allocates nothing") {
    testing::Platform p;
    p.transport().push(200, token_body(1));
    Cred cred(tenant, client, "secret", {}, p);
    TokenRequestContext ctx;
    ctx.scopes = {"https://vault.azure.net/.default"};
    REQUIRE(cred.try_get_token(ctx).ok());  // miss
    REQUIRE(cred.try_get_token(ctx).ok());  // first hit on this thread fills its slot
    const long before = g_allocations.load();
    std::size_t total = 0;
    for (int i = 0; i < 1000; ++i) {
      TokenResult r = cred.try_get_token(ctx);
      total += r.token().token.size();
    }
    CHECK(g_allocations.load() - before == 0);
    CHECK(total == 4000);
    CHECK(p.transport().request_count() == 1);
  }

  // The developer tools run a real child (a stand-in script) on the miss; the hits after it must
  // cost no more than a confidential client's: no allocation.
  TEST_CASE_TEMPLATE("a developer tool's cache hit allocates nothing", Cred,
                     AzureCliCredential<testing::Platform>,
                     AzureDeveloperCliCredential<testing::Platform>,
                     AzurePowerShellCredential<testing::Platform>) {
    azid_test::ToolDir d;
    const std::string expires = "1700003600";  // ManualClock's start + 1 h
    d.script("az", d.record() + "printf '%s' " +
                       azid_test::sh_quote(R"({"accessToken": "tok1", "expires_on": )" + expires +
                                           R"(, "tokenType": "Bearer"})"));
    d.script("azd",
             d.record() + "printf '%s' " +
                 azid_test::sh_quote(R"({"token": "tok1", "expiresOn": "2023-11-14T23:13:20Z"})"));
    d.script("pwsh",
             d.record() + "printf '%s' " + azid_test::sh_quote("azsdk%tok1%" + expires + "\n"));
    testing::Platform p = azid_test::platform_for(d);
    Cred cred({}, p);
    TokenRequestContext ctx;
    ctx.scopes = {"https://vault.azure.net/.default"};
    TokenResult first = cred.try_get_token(ctx);  // miss: the tool runs
    REQUIRE_MESSAGE(first.ok(), first.error_info().message);
    REQUIRE(cred.try_get_token(ctx).ok());  // first hit on this thread fills its slot
    const long before = g_allocations.load();
    std::size_t total = 0;
    for (int i = 0; i < 1000; ++i) {
      TokenResult r = cred.try_get_token(ctx);
      total += r.token().token.size();
    }
    CHECK(g_allocations.load() - before == 0);
    CHECK(total == 4000);
    CHECK(d.runs() == 1);
  }

  // Managed identity, and the chains: DefaultAzureCredential after it settled on a member, and a
  // hand-made Chain, whose hits go through the member's cache.
  TEST_CASE("managed identity and chain hits allocate nothing") {
    testing::Platform p;
    const std::string imds_body =
        R"({"access_token":"tok1","expires_in":"3599","expires_on":"1700003599",)"
        R"("resource":"https://vault.azure.net","token_type":"Bearer"})";
    TokenRequestContext ctx;
    ctx.scopes = {"https://vault.azure.net/.default"};
    const auto hits_allocate = [&](const auto& cred) {
      REQUIRE(cred.try_get_token(ctx).ok());  // miss
      REQUIRE(cred.try_get_token(ctx).ok());  // first hit on this thread fills its slot
      const long before = g_allocations.load();
      std::size_t total = 0;
      for (int i = 0; i < 1000; ++i) total += cred.try_get_token(ctx).token().token.size();
      CHECK(total == 4000);
      return g_allocations.load() - before;
    };
    SUBCASE("ManagedIdentityCredential (IMDS)") {
      ManagedIdentityCredentialOptions o;
      o.imds.jitter = 0;
      o.imds_authority = "http://127.0.0.1:9";  // the transport is scripted
      p.transport().push(200, imds_body);
      CHECK(hits_allocate(ManagedIdentityCredential<testing::Platform>(o, p)) == 0);
      CHECK(p.transport().request_count() == 1);
    }
    SUBCASE("DefaultAzureCredential settled on EnvironmentCredential") {
      p.environment().set("AZURE_TENANT_ID", tenant);
      p.environment().set("AZURE_CLIENT_ID", client);
      p.environment().set("AZURE_CLIENT_SECRET", "secret");
      p.transport().push(200, token_body(1));
      DefaultAzureCredentialOptions o;
      o.managed_identity.arc_himds_path = "";
      CHECK(hits_allocate(DefaultAzureCredential<Exclude<>, testing::Platform>(o, p)) == 0);
      CHECK(p.transport().request_count() == 1);
    }
    SUBCASE("a sticky Chain<EnvironmentCredential, ManagedIdentityCredential>") {
      ManagedIdentityCredentialOptions o;
      o.imds.jitter = 0;
      o.imds_authority = "http://127.0.0.1:9";
      // In a chain, managed identity first probes IMDS (any answer means it is there).
      p.transport().push(400, R"({"error":"invalid_request"})");
      p.transport().push(200, imds_body);
      ChainOptions sticky;
      sticky.sticky = true;
      const Chain<EnvironmentCredential<testing::Platform>,
                  ManagedIdentityCredential<testing::Platform>>
          chain(
              std::in_place, sticky,
              [&] { return EnvironmentCredential<testing::Platform>({}, p); },
              [&] { return ManagedIdentityCredential<testing::Platform>(o, p); });
      CHECK(hits_allocate(chain) == 0);
      CHECK(p.transport().request_count() == 2);
    }
  }

  TEST_CASE("hits on 100 keys read round-robin on one thread allocate nothing") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    auto fetch = [&] { return ++fetches, token_for(clock, hours(1)); };
    TokenRequestContext ctx;
    ctx.scopes = {"https://vault.azure.net/.default"};
    std::vector<std::string> tenants;
    for (int i = 0; i < 100; ++i) tenants.push_back("tenant-" + std::to_string(i));
    for (int round = 0; round < 2; ++round)  // fetch, then fill this thread's slots
      for (const auto& t : tenants) REQUIRE(cache.get_or_fetch(ctx, t, clock, fetch).ok());
    const long before = g_allocations.load();
    int ok = 0;
    for (int round = 0; round < 10; ++round)
      for (const auto& t : tenants) ok += cache.get_or_fetch(ctx, t, clock, fetch).ok() ? 1 : 0;
    CHECK(g_allocations.load() - before == 0);
    CHECK(ok == 1000);
    CHECK(fetches == 100);
  }

  TEST_CASE("a credential serving many tenants hits without allocating") {
    testing::Platform p;
    for (int i = 0; i < 30; ++i) p.transport().push(200, token_body(i));
    EntraCredentialOptions opts;
    opts.additionally_allowed_tenants = {"*"};
    Cred cred(tenant, client, "secret", opts, p);
    std::vector<TokenRequestContext> requests(30);
    for (int i = 0; i < 30; ++i) {
      requests[i].scopes = {"https://vault.azure.net/.default"};
      requests[i].tenant_id = "tenant-" + std::to_string(i);
    }
    std::thread([&] {  // a thread of its own: its slots hold nothing yet
      for (int round = 0; round < 2; ++round)
        for (const auto& r : requests) REQUIRE(cred.try_get_token(r).ok());
      const long before = g_allocations.load();
      int ok = 0;
      for (int round = 0; round < 10; ++round)
        for (const auto& r : requests) ok += cred.try_get_token(r).ok() ? 1 : 0;
      CHECK(g_allocations.load() - before == 0);
      CHECK(ok == 300);
    })
        .join();
    CHECK(p.transport().request_count() == 30);
  }

  TEST_CASE("running out of memory while the cache's index grows loses nothing") {
    testing::ManualClock clock;
    TokenCache cache;
    int fetches = 0;
    auto long_lived = [&] { return ++fetches, token_for(clock, hours(5)); };
    TokenRequestContext ctx;
    ctx.scopes = {"s"};
    REQUIRE(
        cache
            .get_or_fetch(ctx, "x", clock, [&] { return ++fetches, token_for(clock, minutes(10)); })
            .ok());
    for (int i = 0; i < 7; ++i)
      REQUIRE(cache.get_or_fetch(ctx, "v" + std::to_string(i), clock, long_lived).ok());
    clock.advance(minutes(20));  // x has expired: the next new key's rebuild would drop it
    REQUIRE(cache.size() == 8);
    // That rebuild allocates a table of 32 shared_ptrs (7 kept, four slots each; new[] adds the
    // Itanium ABI's size_t cookie): make that allocation fail.
    g_fail_size = 32 * sizeof(std::shared_ptr<void>) + sizeof(std::size_t);
    CHECK_THROWS_AS((void)cache.get_or_fetch(ctx, "n", clock, long_lived), std::bad_alloc);
    CHECK(g_fail_size.exchange(0) == 0);  // the table's allocation was the one that failed
    CHECK(cache.size() == 8);
    CHECK(cache.current(ctx, "v0", clock.now()) != nullptr);
    // x is still indexed, not marked evicted: asking for it fetches once and returns.
    CHECK(cache.get_or_fetch(ctx, "x", clock, long_lived).ok());
    CHECK(cache.get_or_fetch(ctx, "n", clock, long_lived).ok());
    CHECK(fetches == 10);
    CHECK(cache.size() == 9);  // the next rebuild went through (x has a fresh token now)
  }

  TEST_CASE("readers on many threads keep getting valid tokens across refreshes") {
    testing::Platform p;
    for (int i = 1; i <= 8; ++i) p.transport().push(200, token_body(i));
    Cred cred(tenant, client, "secret", {}, p);
    TokenRequestContext ctx;
    ctx.scopes = {"https://vault.azure.net/.default"};
    REQUIRE(cred.try_get_token(ctx).ok());
    std::atomic<bool> stop{false};
    std::atomic<long> bad{0}, calls{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t)
      readers.emplace_back([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          const auto asked_at = p.clock().now();  // the clock only moves forward
          TokenResult r = cred.try_get_token(ctx);
          if (!r.ok() || r.token().token.rfind("tok", 0) != 0 || r.token().expires_on <= asked_at)
            bad++;
          calls++;
        }
      });
    // Move time past the refresh point a few times while the readers run.
    for (int i = 0; i < 4; ++i) {
      std::this_thread::sleep_for(milliseconds(20));
      p.clock().advance(minutes(56));
    }
    std::this_thread::sleep_for(milliseconds(20));
    stop = true;
    for (auto& t : readers) t.join();
    CHECK(bad.load() == 0);
    CHECK(calls.load() > 0);
    CHECK(p.transport().request_count() == 5);  // the first token and one refresh per advance
  }
}
