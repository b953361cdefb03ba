// threads: a service that needs tokens on many threads shares ONE credential.
//
// get_token/try_get_token are const and thread-safe. The credential's cache lets exactly one
// caller fetch a missing or expiring token while the others wait for that result, and serves
// cached tokens without locks or allocation. So: create the credential once (at start-up, or as a
// member of your service), hand out `const&`, and call get_token before every request. Do not
// create a credential per request or per thread: each would have its own cache and go to Entra ID.
//
// Runs offline against azid's local Entra ID emulator; it prints how many token requests the
// emulator saw (1) for the calls served.
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include <azid/credentials/client_secret.hpp>
#include <azid/platform/default_platform.hpp>

#include "emulator.hpp"

namespace {

constexpr int thread_count = 8;
constexpr int calls_per_thread = 10'000;

// What a request handler does: get a token (usually a cache hit) and attach it to its call.
// try_get_token returns the shared, immutable cached token: reading it copies nothing.
bool handle_one_request(const azid::ClientSecretCredential<>& credential,
                        const azid::TokenRequestContext& ctx, std::string& authorization) {
  const azid::TokenResult r = credential.try_get_token(ctx);
  if (!r.ok()) return false;
  authorization.assign("Bearer ").append(r.token().token);  // reuses the buffer's capacity
  return true;
}

}  // namespace

int main() {
  try {
    // The stand-in for Entra ID (see examples/quickstart for what changes against real Azure).
    azid_emulator::Emulator entra;
    const std::string tenant_id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    const std::string client_id = "11111111-2222-4333-8444-555555555555";
    entra.register_app({tenant_id, client_id, "threads-secret", false, {}});
    azid::DefaultPlatformOptions popts;
    popts.transport.extra_ca_file = entra.ca_file();
    popts.transport.use_system_trust = false;
    popts.proxy_from_environment = false;
    azid::ClientSecretCredentialOptions options;
    options.authority_host = entra.authority_host();

    // One credential for the whole process, const from here on.
    const azid::ClientSecretCredential<> credential(tenant_id, client_id, "threads-secret", options,
                                                    azid::DefaultPlatform(popts));
    azid::TokenRequestContext ctx;
    ctx.scopes = {"https://storage.azure.com/.default"};

    std::atomic<long> served{0}, failed{0};
    // All threads start together, so the very first calls race for the empty cache: the cache
    // still sends a single token request and hands its result to every waiting thread.
    std::latch start(thread_count);
    std::vector<std::jthread> workers;
    for (int t = 0; t < thread_count; ++t) {
      workers.emplace_back([&] {
        std::string authorization;
        start.arrive_and_wait();
        for (int i = 0; i < calls_per_thread; ++i) {
          if (handle_one_request(credential, ctx, authorization))
            served.fetch_add(1, std::memory_order_relaxed);
          else
            failed.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    workers.clear();  // joins

    const std::size_t token_requests = entra.request_count("/" + tenant_id + "/oauth2");
    std::printf("%d threads x %d calls: %ld served, %ld failed\n", thread_count, calls_per_thread,
                served.load(), failed.load());
    std::printf("token requests the emulator saw: %zu\n", token_requests);
    const bool ok =
        served == long{thread_count} * calls_per_thread && failed == 0 && token_requests == 1;
    if (!ok) std::fprintf(stderr, "expected every call served from one token request\n");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "threads example failed: %s\n", e.what());
    return 1;
  }
}
