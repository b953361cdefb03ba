// coroutines: get tokens from C++20 coroutines on an Asio io_context, without blocking a thread.
//
// azid::async_get_token follows Asio's completion-token rules, so `co_await` it with
// asio::use_awaitable (or pass a callback, asio::use_future, asio::deferred). On an AsyncPlatform
// the whole token request (TLS, retries, backoff) runs on your executor: no thread of its own,
// and callers waiting for a token that is being fetched are queued, not blocked. Cancellation
// works as everywhere in Asio; below, a token request racing a timer gives up after 300 ms.
//
// Runs offline against azid's local Entra ID emulator, on one thread.
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <azid/async/get_token.hpp>
#include <azid/async/platform.hpp>
#include <azid/credentials/client_secret.hpp>

#include "emulator.hpp"

namespace {

using Credential = azid::ClientSecretCredential<azid::AsyncPlatform>;
// On an AsyncPlatform this credential's requests run on the executor itself (other credentials,
// e.g. the developer-tool ones, run their blocking call on a helper thread instead).
static_assert(azid::is_native_async_v<Credential>);
constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr int concurrent_callers = 100;

asio::awaitable<int> run(const Credential& credential, const Credential& wrong,
                         azid_emulator::Emulator& entra, const std::string& tenant_id) {
  const auto ex = co_await asio::this_coro::executor;
  const std::string token_path = "/" + tenant_id + "/oauth2";

  // 1. Await a token, then call the resource with it (the transport is asynchronous too).
  azid::TokenRequestContext vault;
  vault.scopes = {"https://vault.azure.net/.default"};
  // as_tuple: failures come back as an error code instead of an exception.
  auto [ec, token] = co_await azid::async_get_token(credential, vault, as_tuple);
  if (ec) {
    std::fprintf(stderr, "async_get_token failed: %s\n", ec.message().c_str());
    co_return 1;
  }
  azid::HttpRequest req;
  req.url = entra.base_url() + "/secrets/greeting";
  req.headers.set("Authorization", "Bearer " + token.token);
  auto [send_ec, res] =
      co_await credential.platform().transport().async_send(std::move(req), as_tuple);
  const bool resource_ok = !send_ec && res.status == 200;
  std::printf(
      "GET /secrets/greeting -> %s\n",
      send_ec ? send_ec.message().c_str() : (std::to_string(res.status) + " " + res.body).c_str());

  // 2. Many callers at once on this one thread, for a token nobody has yet: one request goes
  //    out, the other callers are queued on the executor until it completes.
  azid::TokenRequestContext storage;
  storage.scopes = {"https://storage.azure.com/.default"};
  const std::size_t before = entra.request_count(token_path);
  int done = 0, succeeded = 0;
  asio::steady_timer all_done(ex, asio::steady_timer::time_point::max());  // a latch, Asio-style
  for (int i = 0; i < concurrent_callers; ++i) {
    asio::co_spawn(ex, azid::async_get_token(credential, storage, as_tuple),
                   [&](std::exception_ptr e, std::tuple<std::error_code, azid::AccessToken> r) {
                     if (!e && !std::get<0>(r)) ++succeeded;
                     if (++done == concurrent_callers) all_done.cancel();
                   });
  }
  // The callers start once this coroutine suspends here; the last one to finish wakes it.
  (void)co_await all_done.async_wait(as_tuple);
  const std::size_t token_requests = entra.request_count(token_path) - before;
  std::printf("%d concurrent coroutines got a token; token requests sent for them: %zu\n",
              succeeded, token_requests);

  // 3. Failures: async_try_get_token completes with a TokenResult carrying the full message.
  const azid::TokenResult refused =
      co_await azid::async_try_get_token(wrong, vault, asio::use_awaitable);
  std::printf("\nwrong secret -> %s\n",
              refused.ok() ? "a token?!" : refused.error_info().message.c_str());

  // 4. Timeouts: Entra ID stops answering; racing the request against a timer cancels it.
  entra.push_fault(token_path, azid_emulator::Fault::of(azid_emulator::Fault::Kind::silent));
  azid::TokenRequestContext arm;  // not cached yet: needs the network
  arm.scopes = {"https://management.azure.com/.default"};
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer deadline(ex, std::chrono::milliseconds(300));
  const auto t0 = std::chrono::steady_clock::now();
  auto winner = co_await (azid::async_get_token(credential, arm, as_tuple) ||
                          deadline.async_wait(asio::use_awaitable));
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  const bool timed_out = winner.index() == 1;
  std::printf(
      "\nsilent Entra ID: %s after %lld ms (the request was cancelled, no thread left behind)\n",
      timed_out ? "gave up" : "answered?!", static_cast<long long>(ms.count()));

  const bool ok = resource_ok && succeeded == concurrent_callers && token_requests == 1 &&
                  !refused.ok() && timed_out;
  co_return ok ? 0 : 1;
}

}  // namespace

int main() {
  try {
    // The stand-in for Entra ID (see examples/quickstart for what changes against real Azure).
    azid_emulator::Emulator entra;
    const std::string tenant_id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    const std::string client_id = "11111111-2222-4333-8444-555555555555";
    entra.register_app({tenant_id, client_id, "coroutine-secret", false, {}});
    entra.set_secret("greeting", "hello, coroutine");

    asio::io_context io;  // run by this thread only: everything below is single-threaded
    azid::DefaultPlatformOptions popts;
    popts.transport.extra_ca_file = entra.ca_file();
    popts.transport.use_system_trust = false;
    popts.proxy_from_environment = false;
    const azid::AsyncPlatform platform(io.get_executor(), popts);
    azid::ClientSecretCredentialOptions options;
    options.authority_host = entra.authority_host();
    const Credential credential(tenant_id, client_id, "coroutine-secret", options, platform);
    const Credential wrong(tenant_id, client_id, "not-the-secret", options, platform);

    int rc = 1;
    asio::co_spawn(io, run(credential, wrong, entra, tenant_id), [&](std::exception_ptr e, int r) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          std::fprintf(stderr, "coroutine failed: %s\n", ex.what());
        }
      } else {
        rc = r;
      }
    });
    io.run();
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "coroutines example failed: %s\n", e.what());
    return 1;
  }
}
