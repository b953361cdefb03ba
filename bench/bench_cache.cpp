// Cache hit cost, 1 and 2 threads, beside its physical floor measured in the same run.
#include <benchmark/benchmark.h>

#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "azid/credentials/azure_cli.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/testing/platform.hpp"

namespace {

struct SystemClockPlatform {
  // testing::Platform with the real clock (the manual clock takes a mutex, which is not what a
  // service pays): fakes for the rest, the transport never called after the first token.
  azid::testing::Platform fake;
  azid::SystemClock clock_;
  azid::testing::ScriptedTransport& transport() const { return fake.transport(); }
  const azid::SystemClock& clock() const { return clock_; }
  azid::testing::MapEnvironment& environment() const { return fake.environment(); }
  azid::testing::MapFiles& files() const { return fake.files(); }
  azid::Logger& logger() const { return fake.logger(); }
};
static_assert(azid::Platform<SystemClockPlatform>);

using Cred = azid::ClientSecretCredential<SystemClockPlatform>;

Cred& credential() {
  static Cred* c = [] {
    SystemClockPlatform p;
    p.transport().push(200, R"({"token_type":"Bearer","expires_in":86399,"access_token":")" +
                                std::string(1100, 'x') + R"("})");
    auto* cred = new Cred("72f988bf-86f1-41af-91ab-2d7cd011db47",
                          "11111111-2222-3333-4444-555555555555", "secret", {}, p);
    azid::TokenRequestContext ctx;
    ctx.scopes = {"https://vault.azure.net/.default"};
    if (!cred->try_get_token(ctx).ok()) std::abort();
    return cred;
  }();
  return *c;
}

// testing::Platform's real process runner with the real clock, for the developer tools.
struct ToolPlatform : SystemClockPlatform {
  const azid::PosixProcessRunner& process_runner() const { return fake.process_runner(); }
};

using CliCred = azid::AzureCliCredential<ToolPlatform>;

// An AzureCliCredential whose one miss ran a stand-in `az` (a script in a temporary directory
// on the platform's PATH) printing a token valid for a day.
CliCred& cli_credential() {
  static CliCred* c = [] {
    char dir[] = "/tmp/azid-bench-az-XXXXXX";
    if (::mkdtemp(dir) == nullptr) std::abort();
    const std::string az = std::string(dir) + "/az";
    const long long expires = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count() +
                              86400;
    std::ofstream(az) << "#!/bin/sh\nprintf '%s' '{\"accessToken\": \"" << std::string(1100, 'x')
                      << "\", \"expires_on\": " << expires << ", \"tokenType\": \"Bearer\"}'\n";
    ::chmod(az.c_str(), 0755);
    ToolPlatform p;
    p.environment().set("PATH", dir);
    p.environment().set("HOME", dir);
    auto* cred = new CliCred(azid::AzureCliCredentialOptions{}, p);
    azid::TokenRequestContext ctx;
    ctx.scopes = {"https://vault.azure.net/.default"};
    const bool ok = cred->try_get_token(ctx).ok();
    std::remove(az.c_str());
    ::rmdir(dir);
    if (!ok) std::abort();
    return cred;
  }();
  return *c;
}

const azid::TokenRequestContext& vault() {
  static const azid::TokenRequestContext ctx = [] {
    azid::TokenRequestContext c;
    c.scopes = {"https://vault.azure.net/.default"};
    return c;
  }();
  return ctx;
}

// Floor: what handing out a shared, immutable token costs at the least — copying a shared_ptr
// whose control block only this thread touches, and reading the expiry.
void BM_CacheHit_Floor(benchmark::State& state) {
  thread_local auto local = std::make_shared<const azid::AccessToken>();
  for (auto _ : state) {
    std::shared_ptr<const azid::AccessToken> copy = local;
    benchmark::DoNotOptimize(copy->expires_on);
  }
  state.SetItemsProcessed(state.iterations());
}

// A cached token through the public API: try_get_token on a const credential.
void BM_CacheHit_TryGetToken(benchmark::State& state) {
  const Cred& cred = credential();
  const auto& ctx = vault();
  for (auto _ : state) {
    azid::TokenResult r = cred.try_get_token(ctx);
    benchmark::DoNotOptimize(r.token().token.data());
  }
  state.SetItemsProcessed(state.iterations());
}

// The same through AzureCliCredential: a hit is looked up before the scope check and the tenant
// rules (only a request that passed them stored a token), so it should cost what
// BM_CacheHit_TryGetToken costs.
void BM_CacheHit_AzureCli(benchmark::State& state) {
  const CliCred& cred = cli_credential();
  const auto& ctx = vault();
  for (auto _ : state) {
    azid::TokenResult r = cred.try_get_token(ctx);
    benchmark::DoNotOptimize(r.token().token.data());
  }
  state.SetItemsProcessed(state.iterations());
}

// The throwing convenience API copies the token string (an allocation): shown for contrast.
void BM_CacheHit_GetTokenCopy(benchmark::State& state) {
  const Cred& cred = credential();
  const auto& ctx = vault();
  for (auto _ : state) {
    azid::AccessToken t = cred.get_token(ctx);
    benchmark::DoNotOptimize(t.token.data());
  }
  state.SetItemsProcessed(state.iterations());
}

// A multi-tenant service: one cache holding `range(0)` keys (one scope, one tenant each), read
// round-robin on one thread. Keys fitting this thread's slots hit like the single-key row; beyond
// them each read finds its entry in the cache's index. Ratio against the 1-key row of this family.
void BM_CacheHit_ManyKeys(benchmark::State& state) {
  const auto keys = static_cast<std::size_t>(state.range(0));
  azid::SystemClock clock;
  azid::TokenCache cache;
  auto token = std::make_shared<azid::AccessToken>();
  token->token = std::string(1100, 'x');
  token->expires_on = clock.now() + std::chrono::hours(24);
  const azid::TokenResult ready{std::shared_ptr<const azid::AccessToken>(token)};
  long fetches = 0;
  auto fetch = [&] { return ++fetches, ready; };
  std::vector<std::string> tenants;
  for (std::size_t i = 0; i < keys; ++i)
    tenants.push_back("72f988bf-86f1-41af-91ab-" + std::to_string(100000000000 + i));
  const auto& ctx = vault();
  for (const auto& t : tenants) (void)cache.get_or_fetch(ctx, t, clock, fetch);
  std::size_t i = 0;
  for (auto _ : state) {
    azid::TokenResult r = cache.get_or_fetch(ctx, tenants[i], clock, fetch);
    benchmark::DoNotOptimize(r.token().token.data());
    if (++i == keys) i = 0;
  }
  if (fetches != static_cast<long>(keys)) state.SkipWithError("a read fetched");
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_CacheHit_Floor)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_CacheHit_TryGetToken)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_CacheHit_AzureCli)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_CacheHit_GetTokenCopy)->Threads(1)->UseRealTime();
BENCHMARK(BM_CacheHit_ManyKeys)
    ->Arg(1)
    ->Arg(8)
    ->Arg(64)
    ->Arg(256)
    ->Arg(1024)
    ->Arg(16384)
    ->UseRealTime();
