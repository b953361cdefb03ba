// azid::async_get_token against the emulator over real TLS: every completion style, single flight
// as queued handlers on one io_context thread, chains, errors, timeouts and cancellation.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include "azid/async/get_token.hpp"
#include "azid/chain.hpp"
#include "azid/credentials/azure_cli.hpp"
#include "azid/credentials/azure_pipelines.hpp"
#include "azid/credentials/certificate.hpp"
#include "azid/credentials/client_assertion.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/credentials/environment.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/credentials/workload_identity.hpp"
#include "azid/default_azure_credential.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/platform/clock.hpp"
#include "azid/platform/file_reader.hpp"
#include "azid/testing/platform.hpp"
#include "async_emu_platform.hpp"
#include "confidential_fixture.hpp"
#include "emulator.hpp"
#include "fake_tools/fake_tools.hpp"
#include "test_certs.hpp"
#include "transport_test_server.hpp"

using namespace azid;
using namespace std::chrono;

namespace {
const std::string tenant = azid_test::emu_tenant;
const std::string client = azid_test::emu_client;
const std::string secret = "As~ync-s3cret.value";

using azid_test::AsyncEmuPlatform;

using Secret = ClientSecretCredential<AsyncEmuPlatform>;

TransportOptions trust(const azid_emulator::Emulator& e) {
  TransportOptions t;
  t.extra_ca_file = e.ca_file();
  t.use_system_trust = false;
  return t;
}

struct Fixture {
  azid_emulator::Emulator emu;
  asio::io_context io;
  AsyncEmuPlatform platform;

  Fixture() : platform(io.get_executor(), trust(emu)) {
    emu.register_app({tenant, client, secret, false, {}});
  }

  template <class O = ClientSecretCredentialOptions>
  O options(std::string authority = {}) const {
    O o;
    o.authority_host = authority.empty() ? emu.authority_host() : std::move(authority);
    o.retry.max_retries = 0;
    o.timeout = milliseconds(1500);
    o.connect_timeout = milliseconds(1000);
    return o;
  }
  Secret make(std::string s = secret, std::string authority = {}) {
    return Secret(tenant, client, std::move(s), options(std::move(authority)), platform);
  }
  std::size_t token_requests() const { return emu.request_count("/" + tenant); }
  /// Runs the io_context until it has no more work, bounded.
  void run() {
    io.restart();
    io.run_for(seconds(30));
  }
};

TokenRequestContext vault() { return azid_test::vault_scope(); }

bool valid(const azid_emulator::Emulator& emu, const AccessToken& t) {
  std::string payload;
  return azid_emulator::verify_token(emu, t.token, payload) &&
         detail::json_string_member(payload, "appid") == client;
}

TransportOptions no_trust() {
  TransportOptions t;
  t.use_system_trust = false;
  return t;
}

/// A credential that is never available (no native path: it exercises the blocking fallback).
struct Unavailable {
  static constexpr std::string_view name = "UnavailableCredential";
  std::string why = "UnavailableCredential authentication unavailable. Nothing is configured.";
  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext&) const {
    return TokenResult::unavailable(name, why);
  }
  [[nodiscard]] AccessToken get_token(const TokenRequestContext& c) const {
    return try_get_token(c).value();
  }
};
static_assert(Credential<Unavailable>);

/// A credential of the caller's own with a blocking call that takes `delay`, and says when the
/// call has returned (to tell whether an operation completed while the call still ran).
struct SlowBlocking {
  static constexpr std::string_view name = "SlowBlockingCredential";
  std::chrono::milliseconds delay{300};
  std::shared_ptr<std::atomic<bool>> returned = std::make_shared<std::atomic<bool>>(false);
  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext&) const {
    std::this_thread::sleep_for(delay);
    returned->store(true);
    return TokenResult::unavailable(name, "SlowBlockingCredential: nothing here.");
  }
  [[nodiscard]] AccessToken get_token(const TokenRequestContext& c) const {
    return try_get_token(c).value();
  }
};
static_assert(Credential<SlowBlocking>);

/// Threads of this process (Linux), to tell queued handlers from blocked threads.
int thread_count() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

/// An https URL on 127.0.0.1 where nothing listens (the port was just released).
std::string closed_authority() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = a.local_endpoint().port();
  a.close();
  return "https://127.0.0.1:" + std::to_string(port);
}
}  // namespace

TEST_SUITE("async") {
  TEST_CASE("callback: a token over TLS, never completed inside the initiating call") {
    Fixture f;
    auto cred = f.make();
    std::optional<std::error_code> got_ec;
    AccessToken got;
    async_get_token(cred, vault(), [&](std::error_code ec, AccessToken t) {
      got_ec = ec;
      got = std::move(t);
    });
    CHECK_FALSE(got_ec.has_value());
    f.run();
    REQUIRE(got_ec.has_value());
    CHECK_FALSE(*got_ec);
    CHECK(valid(f.emu, got));
    CHECK(f.token_requests() == 1);
    const auto reqs = f.emu.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].tls);
    CHECK(reqs[0].form_param("client_secret") == secret);
    CHECK(reqs[0].form_param("scope") == "https://vault.azure.net/.default");
  }

  TEST_CASE("a cache hit completes without I/O, and the sync API shares the cache") {
    Fixture f;
    auto cred = f.make();
    AccessToken first, second;
    async_get_token(cred, vault(), [&](std::error_code ec, AccessToken t) {
      CHECK_FALSE(ec);
      first = std::move(t);
    });
    f.run();
    bool called = false;
    async_get_token(cred, vault(), [&](std::error_code ec, AccessToken t) {
      CHECK_FALSE(ec);
      second = std::move(t);
      called = true;
    });
    CHECK_FALSE(called);  // never from inside the call
    f.io.restart();
    CHECK(f.io.poll() == 1);  // the hit is one posted completion: no strand hops, no coroutine
    CHECK(called);
    CHECK(second.token == first.token);
    CHECK(cred.get_token(vault()).token == first.token);  // the blocking API, same cache
    std::optional<TokenResult> third;
    async_try_get_token(cred, vault(), [&](TokenResult r) { third = std::move(r); });
    CHECK_FALSE(third);
    f.io.restart();
    CHECK(f.io.poll() == 1);
    REQUIRE(third);
    CHECK(third->token().token == first.token);
    CHECK(f.token_requests() == 1);
    CHECK(f.platform.transport().connections_opened() == 1);
  }

  TEST_CASE("use_future: a token, and a refusal as a system_error with token_errc") {
    Fixture f;
    auto cred = f.make();
    auto bad = f.make("wrong-secret");
    auto guard = asio::make_work_guard(f.io);
    std::thread runner([&] { f.io.run(); });
    std::future<AccessToken> ok = async_get_token(cred, vault(), asio::use_future);
    std::future<AccessToken> refused = async_get_token(bad, vault(), asio::use_future);
    CHECK(valid(f.emu, ok.get()));
    try {
      (void)refused.get();
      FAIL("a wrong secret must fail");
    } catch (const std::system_error& e) {
      CHECK(e.code() == token_errc::authentication_failed);
      CHECK(e.code().category().name() == std::string("azid.token"));
    }
    std::future<TokenResult> detailed = async_try_get_token(bad, vault(), asio::use_future);
    TokenResult r = detailed.get();
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().sts->has_code(7000215));
    CHECK(r.error_info().message.find("An invalid client secret was provided.") !=
          std::string::npos);
    CHECK(r.error_info().message.find("wrong-secret") == std::string::npos);
    guard.reset();
    runner.join();
  }

  TEST_CASE("use_awaitable: C++20 coroutines get tokens and results") {
    Fixture f;
    auto cred = f.make();
    auto bad = f.make("wrong-secret");
    bool finished = false;
    asio::co_spawn(
        f.io,
        [&]() -> asio::awaitable<void> {
          AccessToken t = co_await async_get_token(cred, vault(), asio::use_awaitable);
          CHECK(valid(f.emu, t));
          TokenResult again = co_await async_try_get_token(cred, vault(), asio::use_awaitable);
          REQUIRE(again.ok());
          CHECK(again.token().token == t.token);
          try {
            (void)co_await async_get_token(bad, vault(), asio::use_awaitable);
            FAIL("a wrong secret must fail");
          } catch (const std::system_error& e) {
            CHECK(e.code() == token_errc::authentication_failed);
          }
          finished = true;
        },
        asio::detached);
    f.run();
    CHECK(finished);
    CHECK(f.token_requests() == 2);
  }

  TEST_CASE("deferred: nothing is sent until the operation is launched") {
    Fixture f;
    auto cred = f.make();
    auto op = async_get_token(cred, vault(), asio::experimental::deferred);
    f.run();
    CHECK(f.token_requests() == 0);
    std::optional<AccessToken> got;
    std::move(op)([&](std::error_code ec, AccessToken t) {
      CHECK_FALSE(ec);
      got = std::move(t);
    });
    f.run();
    REQUIRE(got);
    CHECK(valid(f.emu, *got));
    CHECK(f.token_requests() == 1);
  }

  TEST_CASE("N concurrent async waiters on one io_context thread cause exactly one request") {
    Fixture f;
    auto cred = f.make();
    constexpr int n = 32;
    std::vector<std::string> tokens;
    for (int i = 0; i < n; ++i)
      async_get_token(cred, vault(), [&](std::error_code ec, AccessToken t) {
        CHECK_FALSE(ec);
        tokens.push_back(std::move(t.token));
      });
    f.run();  // a single thread: waiters are queued handlers, none can block
    REQUIRE(tokens.size() == n);
    for (const auto& t : tokens) CHECK(t == tokens.front());
    CHECK(f.token_requests() == 1);
  }

  TEST_CASE("waiters share the one request's failure, with the same message") {
    Fixture f;
    auto bad = f.make("wrong-secret");
    std::vector<TokenResult> results;
    for (int i = 0; i < 8; ++i)
      async_try_get_token(bad, vault(), [&](TokenResult r) { results.push_back(std::move(r)); });
    f.run();
    REQUIRE(results.size() == 8);
    for (const auto& r : results) {
      REQUIRE(r.failure() == Failure::failed);
      CHECK(r.error_info().message == results.front().error_info().message);
    }
    CHECK(f.token_requests() == 1);
  }

  TEST_CASE("async waiters and a blocking caller share one request") {
    Fixture f;
    auto cred = f.make();
    std::atomic<int> done{0};
    for (int i = 0; i < 4; ++i)
      async_get_token(cred, vault(), [&](std::error_code ec, AccessToken) {
        CHECK_FALSE(ec);
        ++done;
      });
    std::thread io_thread([&] { f.run(); });
    std::thread blocking([&] { CHECK(cred.try_get_token(vault()).ok()); });
    blocking.join();
    io_thread.join();
    CHECK(done == 4);
    CHECK(f.token_requests() == 1);
  }

  TEST_CASE("errors map to token_errc with the synchronous messages") {
    Fixture f;
    SUBCASE("no scope: invalid_argument") {
      auto cred = f.make();
      TokenRequestContext none;
      std::optional<std::error_code> ec;
      async_get_token(cred, none, [&](std::error_code e, AccessToken) { ec = e; });
      std::optional<TokenResult> r;
      async_try_get_token(cred, none, [&](TokenResult x) { r = std::move(x); });
      f.run();
      REQUIRE(ec);
      CHECK(*ec == token_errc::invalid_argument);
      REQUIRE(r);
      CHECK(r->failure() == Failure::invalid_argument);
      CHECK(r->error_info().message == cred.try_get_token(none).error_info().message);
    }
    SUBCASE("nothing listening: authentication_failed, the same text as get_token") {
      auto cred = f.make(secret, closed_authority());
      std::optional<TokenResult> r;
      async_try_get_token(cred, vault(), [&](TokenResult x) { r = std::move(x); });
      f.run();
      REQUIRE(r);
      CHECK(r->failure() == Failure::failed);
      CHECK(to_error_code(*r) == token_errc::authentication_failed);
      CHECK(r->error_info().message == cred.try_get_token(vault()).error_info().message);
      CHECK(r->error_info().message.find("could not get a response") != std::string::npos);
    }
    SUBCASE("EnvironmentCredential without its variables: credential_unavailable") {
      EnvironmentCredential<AsyncEmuPlatform> env(EnvironmentCredentialOptions{}, f.platform);
      std::optional<std::error_code> ec;
      std::optional<TokenResult> r;
      async_get_token(f.io.get_executor(), env, vault(),
                      [&](std::error_code e, AccessToken) { ec = e; });
      async_try_get_token(f.io.get_executor(), env, vault(),
                          [&](TokenResult x) { r = std::move(x); });
      f.run();
      REQUIRE(ec);
      CHECK(*ec == token_errc::credential_unavailable);
      REQUIRE(r);
      CHECK(r->error_info().message == env.try_get_token(vault()).error_info().message);
      CHECK(f.emu.requests().empty());
    }
  }

  TEST_CASE("a stalled token endpoint is cut off by the request timeout") {
    Fixture f;
    f.emu.push_fault("/" + tenant, azid_emulator::Fault::of(azid_emulator::Fault::Kind::silent));
    auto o = f.options();
    o.timeout = milliseconds(300);
    Secret cred(tenant, client, secret, o, f.platform);
    std::optional<TokenResult> r;
    const auto start = steady_clock::now();
    async_try_get_token(cred, vault(), [&](TokenResult x) { r = std::move(x); });
    f.run();
    REQUIRE(r);
    CHECK(r->failure() == Failure::failed);
    CHECK(r->error_info().message.find(make_error_code(errc::timeout).message()) !=
          std::string::npos);
    CHECK(steady_clock::now() - start < seconds(20));  // generous: bounded, not measured
    // The stalled fetch released the entry: the next call fetches and succeeds.
    std::optional<std::error_code> ec;
    async_get_token(cred, vault(), [&](std::error_code e, AccessToken) { ec = e; });
    f.run();
    REQUIRE(ec);
    CHECK_FALSE(*ec);
  }

  TEST_CASE("cancellation ends the operation with operation_aborted and frees the entry") {
    Fixture f;
    f.emu.push_fault("/" + tenant, azid_emulator::Fault::of(azid_emulator::Fault::Kind::silent));
    auto o = f.options();
    o.timeout = seconds(60);  // only the cancellation can end it in time
    Secret cred(tenant, client, secret, o, f.platform);
    asio::cancellation_signal fetcher_signal;
    std::optional<std::error_code> fetcher_ec, waiter_ec;
    async_get_token(
        cred, vault(),
        asio::bind_cancellation_slot(fetcher_signal.slot(),
                                     [&](std::error_code e, AccessToken) { fetcher_ec = e; }));
    async_get_token(cred, vault(), [&](std::error_code e, AccessToken t) {
      waiter_ec = e;
      if (!e) CHECK(valid(f.emu, t));
    });
    asio::steady_timer later(f.io, milliseconds(200));
    later.async_wait(
        [&](std::error_code) { fetcher_signal.emit(asio::cancellation_type::terminal); });
    const auto start = steady_clock::now();
    f.run();
    CHECK(steady_clock::now() - start < seconds(20));
    REQUIRE(fetcher_ec);
    CHECK(*fetcher_ec == asio::error::operation_aborted);
    // The queued waiter was not cancelled: it took over the fetch and got a token.
    REQUIRE(waiter_ec);
    CHECK_FALSE(*waiter_ec);
    CHECK(f.token_requests() == 2);
  }

  TEST_CASE("cancelled before it started, an operation still ends as aborted, not as a failure") {
    Fixture f;
    Secret cred(tenant, client, secret, f.options(), f.platform);
    asio::cancellation_signal a, b;
    std::optional<std::error_code> ec;
    std::optional<TokenResult> r;
    async_get_token(
        cred, vault(),
        asio::bind_cancellation_slot(a.slot(), [&](std::error_code e, AccessToken) { ec = e; }));
    async_try_get_token(cred, vault(), asio::bind_cancellation_slot(b.slot(), [&](TokenResult x) {
                          r = std::move(x);
                        }));
    a.emit(asio::cancellation_type::terminal);  // before io.run(): the coroutines never started
    b.emit(asio::cancellation_type::terminal);
    f.run();
    REQUIRE(ec);
    CHECK(*ec == asio::error::operation_aborted);
    REQUIRE(r);
    CHECK_FALSE(r->ok());
    CHECK(r->error_info().message.find("cancelled") != std::string::npos);
  }

  TEST_CASE("a cancelled blocking call completes only once the call has let go of the credential") {
    Fixture f;
    SlowBlocking cred;
    static_assert(!is_native_async_v<SlowBlocking>);
    asio::cancellation_signal sig;
    std::optional<std::error_code> ec;
    bool returned_at_completion = false;
    async_get_token(f.io.get_executor(), cred, vault(),
                    asio::bind_cancellation_slot(sig.slot(), [&](std::error_code e, AccessToken) {
                      ec = e;
                      returned_at_completion = cred.returned->load();
                    }));
    asio::steady_timer later(f.io, milliseconds(50));
    later.async_wait([&](std::error_code) { sig.emit(asio::cancellation_type::terminal); });
    f.run();
    REQUIRE(ec);
    CHECK(*ec == asio::error::operation_aborted);
    CHECK(returned_at_completion);  // the caller may now destroy `cred` safely
  }

  TEST_CASE("an io_context destroyed while a blocking call runs is not touched when it returns") {
    // An application leaving its event loop (stop, then destroy the context) with the fallback
    // thread still in its call: the thread must post nothing and free nothing of the context.
    // Under AddressSanitizer the old thread's post was a heap-use-after-free.
    static const SlowBlocking cred;  // outlives the thread
    const int threads_before = thread_count();
    auto io = std::make_unique<asio::io_context>();
    bool completed = false;
    async_get_token(io->get_executor(), cred, vault(),
                    [&](std::error_code, AccessToken) { completed = true; });
    io->run_for(milliseconds(50));
    REQUIRE_FALSE(cred.returned->load());  // the call is still running on its thread
    io->stop();
    io.reset();
    for (int i = 0; i < 200 && !cred.returned->load(); ++i)
      std::this_thread::sleep_for(milliseconds(10));
    REQUIRE(cred.returned->load());
    for (int i = 0; i < 200 && thread_count() > threads_before; ++i)
      std::this_thread::sleep_for(
          milliseconds(10));  // the thread has done whatever it does after the call
    CHECK(thread_count() <= threads_before);
    CHECK_FALSE(completed);  // the handler went with the context, never called
  }

  TEST_CASE("a cancelled waiter leaves the queue while the fetch it waited for goes on") {
    Fixture f;
    f.emu.push_fault("/" + tenant, azid_emulator::Fault::of(azid_emulator::Fault::Kind::silent));
    auto o = f.options();
    o.timeout = milliseconds(800);
    Secret cred(tenant, client, secret, o, f.platform);
    std::optional<TokenResult> fetcher;
    std::optional<std::error_code> waiter_ec;
    std::vector<std::string> order;
    async_try_get_token(cred, vault(), [&](TokenResult r) {
      fetcher = std::move(r);
      order.push_back("fetcher");
    });
    asio::cancellation_signal waiter_signal;
    async_get_token(
        cred, vault(),
        asio::bind_cancellation_slot(waiter_signal.slot(), [&](std::error_code e, AccessToken) {
          waiter_ec = e;
          order.push_back("waiter");
        }));
    asio::steady_timer later(f.io, milliseconds(100));
    later.async_wait(
        [&](std::error_code) { waiter_signal.emit(asio::cancellation_type::terminal); });
    f.run();
    REQUIRE(waiter_ec);
    CHECK(*waiter_ec == asio::error::operation_aborted);
    REQUIRE(fetcher);
    CHECK(fetcher->failure() == Failure::failed);  // the request timeout, shared with nobody
    CHECK(order == std::vector<std::string>{"waiter", "fetcher"});
    CHECK(f.token_requests() == 1);
  }

  TEST_CASE("ClientAssertionCredential and WorkloadIdentityCredential are native too") {
    Fixture f;
    const std::string subject = "system:serviceaccount:default:async";
    f.emu.register_federated_credential(tenant, client, f.emu.oidc_issuer(), subject);
    const std::string federated = f.emu.issue_federated_token(subject);
    ClientAssertionCredential<AsyncEmuPlatform> assertion(
        tenant, client, [&] { return federated; }, f.options<ClientAssertionCredentialOptions>(),
        f.platform);
    static_assert(is_native_async_v<ClientAssertionCredential<AsyncEmuPlatform>>);
    static_assert(is_native_async_v<WorkloadIdentityCredential<AsyncEmuPlatform>>);
    std::optional<AccessToken> got;
    async_get_token(assertion, vault(), [&](std::error_code ec, AccessToken t) {
      CHECK_FALSE(ec);
      got = std::move(t);
    });
    f.run();
    REQUIRE(got);
    CHECK(valid(f.emu, *got));
    const auto reqs = f.emu.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].form_param("client_assertion") == federated);
  }

  TEST_CASE(
      "a client secret echoed inside the STS's JSON error is redacted on the async path too") {
    Fixture f;
    auto cred = f.make();
    f.emu.push_fault(
        "/" + tenant,
        azid_emulator::Fault::respond_with(
            401, R"({"error":"invalid_client","error_description":"AADSTS7000215: got )" + secret +
                     R"(","error_codes":[7000215]})"));
    std::optional<TokenResult> r;
    async_try_get_token(cred, vault(), [&](TokenResult x) { r = std::move(x); });
    f.run();
    REQUIRE(r);
    REQUIRE_FALSE(r->ok());
    CHECK(r->error_info().message.find(secret) == std::string::npos);
    CHECK(r->error_info().message.find("REDACTED") != std::string::npos);
    REQUIRE(r->error_info().sts);
    CHECK(r->error_info().sts->error_description.find(secret) == std::string::npos);
  }

  TEST_CASE(
      "interaction_required on the async path: AuthenticationRequired with the scopes and the "
      "STS's claims challenge") {
    Fixture f;
    auto cred = f.make();
    f.emu.push_fault(
        "/" + tenant,
        azid_emulator::Fault::respond_with(
            400,
            R"({"error":"interaction_required","error_description":"AADSTS50079: x","error_codes":[50079],"claims":"{\"access_token\":{\"nbf\":{\"essential\":true}}}"})"));
    std::optional<TokenResult> r;
    async_try_get_token(cred, vault(), [&](TokenResult x) { r = std::move(x); });
    f.run();
    REQUIRE(r);
    REQUIRE(r->failure() == Failure::auth_required);
    CHECK(r->error_info().claims == R"({"access_token":{"nbf":{"essential":true}}})");
    CHECK(r->error_info().scopes == vault().scopes);
  }

  TEST_CASE(
      "ManagedIdentityCredential under AKS workload identity is native: eight waiters, one "
      "exchange") {
    Fixture f;
    const std::string subject = "system:serviceaccount:default:mi-wi";
    f.emu.register_federated_credential(tenant, client, f.emu.oidc_issuer(), subject);
    azid_test::TempDir dir;
    f.platform.environment().set("AZURE_FEDERATED_TOKEN_FILE",
                                 dir.write("token", f.emu.issue_federated_token(subject)));
    f.platform.environment().set("AZURE_TENANT_ID", tenant);
    f.platform.environment().set("AZURE_CLIENT_ID", client);
    f.platform.environment().set("AZURE_AUTHORITY_HOST", f.emu.authority_host());
    ManagedIdentityCredentialOptions o;
    o.imds_authority = "http://127.0.0.1:9";  // never asked
    o.arc_himds_path = "";
    ManagedIdentityCredential<AsyncEmuPlatform> mi(o, f.platform);
    static_assert(is_native_async_v<ManagedIdentityCredential<AsyncEmuPlatform>>);
    REQUIRE(mi.source() == ManagedIdentitySource::workload_identity);
    int ok = 0;
    for (int i = 0; i < 8; ++i)
      async_get_token(mi, vault(), [&](std::error_code ec, AccessToken t) {
        CHECK_FALSE(ec);
        if (!ec && valid(f.emu, t)) ++ok;
      });
    f.run();
    CHECK(ok == 8);
    CHECK(f.token_requests() == 1);
    REQUIRE(f.emu.requests().size() == 1);
    CHECK(f.emu.requests()[0].form_param("client_assertion"));
  }

  TEST_CASE(
      "WorkloadIdentityCredential: after a refused (expired) token, the rotated file is read "
      "again") {
    Fixture f;
    const std::string subject = "system:serviceaccount:default:rotating";
    f.emu.register_federated_credential(tenant, client, f.emu.oidc_issuer(), subject);
    azid_test::TempDir dir;
    const std::string file =
        dir.write("token", f.emu.issue_federated_token(subject, seconds(-3600)));
    auto o = f.options<WorkloadIdentityCredentialOptions>();
    o.tenant_id = tenant;
    o.client_id = client;
    o.token_file_path = file;
    o.cache.retry_delay = seconds(0);
    WorkloadIdentityCredential<AsyncEmuPlatform> cred(o, f.platform);
    static_assert(detail::HasAsyncExecutor<WorkloadIdentityCredential<AsyncEmuPlatform>>);
    static_assert(detail::HasAsyncExecutor<AzurePipelinesCredential<AsyncEmuPlatform>>);
    auto get = [&] {
      std::optional<TokenResult> r;
      async_try_get_token(cred, vault(),
                          [&](TokenResult x) { r = std::move(x); });  // the platform's executor
      f.run();
      REQUIRE(r);
      return std::move(*r);
    };
    const TokenResult refused = get();
    REQUIRE(refused.failure() == Failure::failed);
    CHECK(refused.error_info().sts->has_code(700024));
    dir.write("token", f.emu.issue_federated_token(subject));  // the kubelet rotates it
    CHECK(get().ok());
  }

  TEST_CASE(
      "AzurePipelinesCredential is native: the OIDC request and the exchange are both awaited") {
    Fixture f;
    const std::string connection = "5f1d9a7e-0000-4000-8000-00000000a5c0";
    const std::string system_token = "eyJ0eXAiOiJKV1Qi.async-system-access-token.sig";
    f.emu.set_pipelines_service_connection(connection, system_token, tenant, client);
    f.platform.environment().set("SYSTEM_OIDCREQUESTURI", f.emu.pipelines_oidc_request_uri());
    static_assert(is_native_async_v<AzurePipelinesCredential<AsyncEmuPlatform>>);
    auto get = [&](const AzurePipelinesCredential<AsyncEmuPlatform>& cred) {
      std::optional<TokenResult> r;
      async_try_get_token(cred, vault(),
                          [&](TokenResult x) { r = std::move(x); });  // the platform's executor
      f.run();
      REQUIRE(r);
      return std::move(*r);
    };
    SUBCASE("a token, eight waiters, one OIDC request and one exchange") {
      AzurePipelinesCredential<AsyncEmuPlatform> cred(tenant, client, connection, system_token,
                                                      f.options<AzurePipelinesCredentialOptions>(),
                                                      f.platform);
      std::vector<std::string> tokens;
      for (int i = 0; i < 8; ++i)
        async_get_token(f.io.get_executor(), cred, vault(), [&](std::error_code ec, AccessToken t) {
          CHECK_FALSE(ec);
          tokens.push_back(std::move(t.token));
        });
      f.run();
      REQUIRE(tokens.size() == 8);
      for (const auto& t : tokens) CHECK(t == tokens.front());
      AccessToken first;
      first.token = tokens.front();
      CHECK(valid(f.emu, first));
      const auto reqs = f.emu.requests();
      REQUIRE(reqs.size() == 2);
      CHECK(reqs[0].query_param("serviceConnectionId") == connection);
      CHECK(reqs[0].header("X-TFS-FedAuthRedirect") == "Suppress");
    }
    SUBCASE("the OIDC endpoint's refusal: the same message, never the system token") {
      AzurePipelinesCredential<AsyncEmuPlatform> cred(
          tenant, client, connection, "not-the-system-token",
          f.options<AzurePipelinesCredentialOptions>(), f.platform);
      const TokenResult r = get(cred);
      REQUIRE(r.failure() == Failure::failed);
      CHECK(r.error_info().message.rfind(
                "AzurePipelinesCredential: 401 (Unauthorized) response from OIDC endpoint.", 0) ==
            0);
      CHECK(r.error_info().message.find("not-the-system-token") == std::string::npos);
      CHECK(f.token_requests() == 0);
    }
    SUBCASE("outside a pipeline: unavailable, nothing sent") {
      f.platform.environment().unset("SYSTEM_OIDCREQUESTURI");
      AzurePipelinesCredential<AsyncEmuPlatform> cred(tenant, client, connection, system_token,
                                                      f.options<AzurePipelinesCredentialOptions>(),
                                                      f.platform);
      const TokenResult r = get(cred);
      CHECK(r.failure() == Failure::unavailable);
      CHECK(r.error_info().message.find(
                "Missing value for the SYSTEM_OIDCREQUESTURI environment variable.") !=
            std::string::npos);
      CHECK(f.emu.requests().empty());
    }
  }

  TEST_CASE("CertificateCredential is native: its signed assertion goes out asynchronously") {
    Fixture f;
    f.emu.register_certificate(tenant, client, azid_test::registered_cert().cert_pem);
    auto o = f.options<CertificateCredentialOptions>();
    o.certificate_data = azid_test::registered_cert().pem;
    CertificateCredential<AsyncEmuPlatform> cred(tenant, client, "", o, f.platform);
    static_assert(is_native_async_v<CertificateCredential<AsyncEmuPlatform>>);
    std::optional<AccessToken> got;
    async_get_token(cred, vault(), [&](std::error_code ec, AccessToken t) {
      CHECK_FALSE(ec);
      got = std::move(t);
    });
    f.run();
    REQUIRE(got);
    CHECK(valid(f.emu, *got));
    const auto reqs = f.emu.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].form_param("client_assertion").has_value());
    CHECK_FALSE(reqs[0].form_param("client_secret").has_value());
  }

  TEST_CASE("chains walk their members asynchronously") {
    Fixture f;
    SUBCASE("unavailable moves on; sticky remembers the member that worked") {
      ChainOptions sticky;
      sticky.sticky = true;
      Chain<Unavailable, Secret> chain(sticky, Unavailable{}, f.make());
      static_assert(!is_native_async_v<Chain<Unavailable, Secret>>);
      static_assert(is_native_async_v<Chain<Secret, Secret>>);
      std::optional<AccessToken> got;
      async_get_token(chain, vault(), [&](std::error_code ec, AccessToken t) {
        CHECK_FALSE(ec);
        got = std::move(t);
      });
      f.run();
      REQUIRE(got);
      CHECK(valid(f.emu, *got));
      CHECK(chain.selected() == 1);
    }
    SUBCASE("every member unavailable: credential_unavailable and the synchronous message") {
      Unavailable second;
      second.why = "SecondCredential: not here either.";
      Chain<Unavailable, Unavailable> chain(Unavailable{}, second);
      std::optional<TokenResult> r;
      async_try_get_token(f.io.get_executor(), chain, vault(),
                          [&](TokenResult x) { r = std::move(x); });
      f.run();
      REQUIRE(r);
      CHECK(r->failure() == Failure::unavailable);
      CHECK(r->error_info().attempts.size() == 2);
      CHECK(r->error_info().message == chain.try_get_token(vault()).error_info().message);
    }
    SUBCASE("any other failure stops the chain") {
      Chain<Secret, Secret> chain(f.make("wrong-secret"), f.make());
      std::optional<std::error_code> ec;
      std::optional<TokenResult> r;
      async_get_token(chain, vault(), [&](std::error_code e, AccessToken) { ec = e; });
      f.run();
      async_try_get_token(chain, vault(), [&](TokenResult x) { r = std::move(x); });
      f.run();
      REQUIRE(ec);
      CHECK(*ec == token_errc::authentication_failed);
      REQUIRE(r);
      CHECK(r->error_info().message.find("ChainedTokenCredential failed to retrieve a token") == 0);
      CHECK(r->error_info().message.find("An invalid client secret was provided.") !=
            std::string::npos);
      CHECK(f.token_requests() == 2);  // the second member was never asked
    }
  }

  TEST_CASE("credentials without a native path run on a thread of their own, not on the executor") {
    Fixture f;
    // The blocking transport: ClientSecretCredential on it has no native asynchronous path.
    azid_test::EmuPlatform sync_platform(trust(f.emu));
    ClientSecretCredential<azid_test::EmuPlatform> cred(tenant, client, secret, f.options(),
                                                        sync_platform);
    static_assert(!is_native_async_v<ClientSecretCredential<azid_test::EmuPlatform>>);
    f.emu.push_fault("/" + tenant, [] {
      auto fault = azid_emulator::Fault::of(azid_emulator::Fault::Kind::drop_before_response);
      fault.delay = milliseconds(500);
      return fault;
    }());
    std::vector<std::string> order;
    std::optional<TokenResult> r;
    async_try_get_token(f.io.get_executor(), cred, vault(), [&](TokenResult x) {
      r = std::move(x);
      order.push_back("token");
    });
    asio::steady_timer tick(f.io, milliseconds(50));
    tick.async_wait([&](std::error_code) { order.push_back("timer"); });
    f.run();
    REQUIRE(r);
    CHECK(r->failure() == Failure::failed);  // the dropped connection, no retries
    REQUIRE(order.size() == 2);
    CHECK(order.front() == "timer");  // the executor kept running while the call blocked
  }

  TEST_CASE("without a native path, a cache hit still completes with one post and no thread") {
    Fixture f;
    azid_test::EmuPlatform sync_platform(trust(f.emu));
    using SyncSecret = ClientSecretCredential<azid_test::EmuPlatform>;
    SyncSecret cred(tenant, client, secret, f.options(), sync_platform);
    const AccessToken first = cred.get_token(vault());  // cached by the blocking API
    auto one_post = [&](const auto& c) {
      std::optional<AccessToken> got;
      async_get_token(f.io.get_executor(), c, vault(), [&](std::error_code ec, AccessToken t) {
        CHECK_FALSE(ec);
        got = std::move(t);
      });
      CHECK_FALSE(got);
      f.io.restart();
      CHECK(f.io.poll() == 1);  // a thread would need the coroutine, its timer and a post back
      REQUIRE(got);
      CHECK(got->token == first.token);
    };
    one_post(cred);
    // A sticky chain that settled on that member answers from its cache the same way.
    ChainOptions sticky;
    sticky.sticky = true;
    Chain<Unavailable, SyncSecret> chain(
        sticky, Unavailable{}, SyncSecret(tenant, client, secret, f.options(), sync_platform));
    REQUIRE(chain.get_token(vault()).token != first.token);  // its own member, its own cache
    CHECK(chain.selected() == 1);
    std::optional<TokenResult> r;
    async_try_get_token(f.io.get_executor(), chain, vault(),
                        [&](TokenResult x) { r = std::move(x); });
    f.io.restart();
    CHECK(f.io.poll() == 1);
    REQUIRE(r);
    CHECK(r->ok());
    // Inside a walk (not sticky), the blocking member's hit is answered on the executor: one
    // poll() finishes it, with no thread to wait for.
    Chain<SyncSecret, Unavailable> walk(
        SyncSecret(tenant, client, secret, f.options(), sync_platform), Unavailable{});
    const AccessToken walked = walk.get_token(vault());
    std::optional<AccessToken> again;
    async_get_token(f.io.get_executor(), walk, vault(), [&](std::error_code ec, AccessToken t) {
      CHECK_FALSE(ec);
      again = std::move(t);
    });
    CHECK_FALSE(again);
    f.io.restart();
    f.io.poll();
    REQUIRE(again);
    CHECK(again->token == walked.token);
    CHECK(f.token_requests() ==
          3);  // one per credential instance, none from the asynchronous calls
  }
}

TEST_SUITE("async_managed_identity") {
  using Mi = ManagedIdentityCredential<AsyncEmuPlatform>;
  constexpr const char* token_path = "/metadata/identity/oauth2/token";

  azid_emulator::Options plain() {
    azid_emulator::Options o;
    o.tls = false;  // IMDS, App Service and friends speak plain HTTP on the host
    return o;
  }
  ManagedIdentityCredentialOptions quick(const azid_emulator::Emulator* imds = nullptr) {
    ManagedIdentityCredentialOptions o;
    if (imds != nullptr) o.imds_authority = imds->base_url();
    o.imds.jitter = 0;
    o.imds.base_delay = milliseconds(20);
    o.connect_timeout = milliseconds(500);
    o.timeout = milliseconds(1500);
    o.arc_himds_path = "";
    return o;
  }

  TEST_CASE("IMDS is native: retried statuses on timers, and one request for many waiters") {
    azid_emulator::Emulator e(plain());
    asio::io_context io;
    AsyncEmuPlatform p(io.get_executor(), TransportOptions{});
    e.push_fault(token_path, azid_emulator::Fault::respond_with(503, R"({"error":"busy"})"));
    e.push_fault(token_path, azid_emulator::Fault::respond_with(500, R"({"error":"busy"})"));
    Mi cred(quick(&e), p);
    static_assert(is_native_async_v<Mi>);
    REQUIRE(cred.source() == ManagedIdentitySource::imds);
    std::vector<std::string> tokens;
    for (int i = 0; i < 8; ++i)
      async_get_token(cred, vault(), [&](std::error_code ec, AccessToken t) {
        CHECK_FALSE(ec);
        tokens.push_back(std::move(t.token));
      });
    io.run_for(seconds(30));
    REQUIRE(tokens.size() == 8);
    for (const auto& t : tokens) CHECK(t == tokens.front());
    CHECK(e.request_count(token_path) == 3);  // two refusals, one token, shared by all eight
    const auto reqs = e.requests();
    CHECK(reqs.back().header("Metadata") == "true");
    CHECK(reqs.back().query_param("resource") == "https://vault.azure.net");
  }

  TEST_CASE("IMDS: an identity that isn't assigned is unavailable (same message), and remembered") {
    azid_emulator::Emulator e(plain());
    asio::io_context io;
    AsyncEmuPlatform p(io.get_executor(), TransportOptions{});
    auto o = quick(&e);
    o.client_id = "not-assigned";
    Mi cred(o, p);
    std::optional<std::error_code> ec;
    std::optional<TokenResult> r;
    async_get_token(cred, vault(), [&](std::error_code x, AccessToken) { ec = x; });
    io.run_for(seconds(30));
    async_try_get_token(cred, vault(), [&](TokenResult x) { r = std::move(x); });
    io.restart();
    io.run_for(seconds(30));
    REQUIRE(ec);
    CHECK(*ec == token_errc::credential_unavailable);
    REQUIRE(r);
    CHECK(r->error_info().message.find(
              "The requested identity hasn't been assigned to this resource.") !=
          std::string::npos);
    CHECK(r->error_info().message == cred.try_get_token(vault()).error_info().message);
    CHECK(e.request_count(token_path) == 1);
  }

  TEST_CASE("IMDS: a refused resource fails that resource only, natively as blocking") {
    azid_emulator::Emulator e(plain());
    asio::io_context io;
    AsyncEmuPlatform p(io.get_executor(), TransportOptions{});
    e.push_fault(
        token_path,
        azid_emulator::Fault::respond_with(
            400,
            R"({"error":"invalid_resource","error_description":"AADSTS500011: The resource principal named https://unknown.example was not found in the tenant."})"));
    Mi cred(quick(&e), p);
    TokenRequestContext unknown;
    unknown.scopes = {"https://unknown.example/.default"};
    std::optional<TokenResult> bad, good;
    async_try_get_token(cred, unknown, [&](TokenResult x) { bad = std::move(x); });
    io.run_for(seconds(30));
    async_try_get_token(cred, vault(), [&](TokenResult x) { good = std::move(x); });
    io.restart();
    io.run_for(seconds(30));
    REQUIRE(bad);
    CHECK(bad->failure() == Failure::failed);
    CHECK(bad->error_info().message.find("IMDS refused the resource 'https://unknown.example'") !=
          std::string::npos);
    CHECK(bad->error_info().message.find("hasn't been assigned") == std::string::npos);
    REQUIRE(good);
    CHECK(good->ok());
    CHECK(e.request_count(token_path) == 2);
  }

  TEST_CASE("a blank scope is an argument error before any I/O, natively as blocking") {
    azid_emulator::Emulator e(plain());
    asio::io_context io;
    AsyncEmuPlatform p(io.get_executor(), TransportOptions{});
    Mi cred(quick(&e), p);
    TokenRequestContext blank;
    blank.scopes = {"  "};
    std::optional<TokenResult> r;
    async_try_get_token(cred, blank, [&](TokenResult x) { r = std::move(x); });
    io.run_for(seconds(30));
    REQUIRE(r);
    REQUIRE(r->failure() == Failure::invalid_argument);
    CHECK(r->error_info().message == cred.try_get_token(blank).error_info().message);
    CHECK(e.request_count(token_path) == 0);
  }

  // Every source: eight waiters over a slow first answer (a 500 after 300 ms, retried) share one
  // exchange, and no thread is created for them while it is in flight.
  void check_native_source(azid_emulator::Emulator & e, AsyncEmuPlatform & p, asio::io_context & io,
                           ManagedIdentitySource expected, const std::string& path,
                           std::size_t requests_per_fetch, ManagedIdentityCredentialOptions o) {
    o.retry.base_delay = milliseconds(20);
    Mi cred(o, p);
    REQUIRE(cred.source() == expected);
    auto slow = azid_emulator::Fault::respond_with(500, R"({"error":"busy"})");
    slow.delay = milliseconds(300);
    e.push_fault(path, slow);
    const int before = thread_count();
    std::vector<std::string> tokens;
    for (int i = 0; i < 8; ++i)
      async_get_token(cred, vault(), [&](std::error_code ec, AccessToken t) {
        CHECK_FALSE(ec);
        tokens.push_back(std::move(t.token));
      });
    int during = -1;
    asio::steady_timer probe(io, milliseconds(150));
    probe.async_wait([&](std::error_code) { during = thread_count(); });
    io.run_for(seconds(30));
    REQUIRE(tokens.size() == 8);
    for (const auto& t : tokens) CHECK(t == tokens.front());
    CHECK_FALSE(tokens.front().empty());
    CHECK(e.request_count(path) == 1 + requests_per_fetch);  // the refused attempt, then one fetch
    // Asio may start its resolver thread on first use; eight blocked callers would be eight more.
    CHECK(during - before <= 1);
    CHECK(cred.try_get_token(vault()).token().token ==
          tokens.front());  // the blocking API, same cache
    bool hit = false;
    async_get_token(cred, vault(), [&](std::error_code ec, AccessToken t) {
      CHECK_FALSE(ec);
      CHECK(t.token == tokens.front());
      hit = true;
    });
    io.restart();
    CHECK(io.poll() == 1);  // a hit: one posted completion
    CHECK(hit);
    CHECK(e.request_count(path) == 1 + requests_per_fetch);
  }

  TEST_CASE(
      "App Service, Cloud Shell and Azure ML are native: queued waiters, one exchange, no "
      "threads") {
    static_assert(is_native_async_v<Mi>);
    SUBCASE("App Service") {
      azid_emulator::Emulator e(plain());
      e.set_identity_header("app-service-header-secret");
      asio::io_context io;
      AsyncEmuPlatform p(io.get_executor(), TransportOptions{});
      p.environment().set("IDENTITY_ENDPOINT", e.base_url() + "/msi/token");
      p.environment().set("IDENTITY_HEADER", "app-service-header-secret");
      check_native_source(e, p, io, ManagedIdentitySource::app_service, "/msi/token", 1, quick());
      CHECK(e.requests().back().header("X-IDENTITY-HEADER") == "app-service-header-secret");
    }
    SUBCASE("Cloud Shell") {
      azid_emulator::Emulator e(plain());
      asio::io_context io;
      AsyncEmuPlatform p(io.get_executor(), TransportOptions{});
      p.environment().set("MSI_ENDPOINT", e.base_url() + "/oauth2/token");
      check_native_source(e, p, io, ManagedIdentitySource::cloud_shell, "/oauth2/token", 1,
                          quick());
      CHECK(e.requests().back().form_param("resource") == "https://vault.azure.net");
    }
    SUBCASE("Azure ML") {
      azid_emulator::Emulator e(plain());
      e.set_identity_header("ml-secret-value");
      asio::io_context io;
      AsyncEmuPlatform p(io.get_executor(), TransportOptions{});
      p.environment().set("MSI_ENDPOINT", e.base_url() + "/MSI/auth");
      p.environment().set("MSI_SECRET", "ml-secret-value");
      p.environment().set("DEFAULT_IDENTITY_CLIENT_ID", e.system_identity()->client_id);
      check_native_source(e, p, io, ManagedIdentitySource::azure_ml, "/MSI/auth", 1, quick());
    }
  }

  TEST_CASE(
      "Azure Arc is native: challenge, key file and keyed request awaited; key file attacks "
      "refused") {
    azid_emulator::Options ao = plain();
    ao.metadata_host = azid_emulator::MetadataHost::arc;
    azid_emulator::Emulator e(ao);
    asio::io_context io;
    AsyncEmuPlatform p(io.get_executor(), TransportOptions{});
    p.environment().set("IDENTITY_ENDPOINT", e.base_url() + token_path);
    p.environment().set("IMDS_ENDPOINT", e.base_url());
    auto o = quick();
    o.arc_key_directory = e.arc_key_dir();
    check_native_source(e, p, io, ManagedIdentitySource::azure_arc, token_path, 2, o);
    const auto reqs = e.requests();
    REQUIRE(reqs.size() == 3);
    CHECK_FALSE(reqs[1].has_header("Authorization"));
    CHECK(reqs[2].header("Authorization").rfind("Basic ", 0) == 0);

    // A challenge naming a file outside the key folder: refused, and the keyed request never sent.
    Mi other(o, p);
    e.clear_requests();
    e.push_fault(token_path, azid_emulator::Fault::respond_with(
                                 401, "{}", {{"WWW-Authenticate", "Basic realm=/etc/passwd.key"}}));
    std::optional<TokenResult> r;
    async_try_get_token(other, vault(), [&](TokenResult x) { r = std::move(x); });
    io.restart();
    io.run_for(seconds(30));
    REQUIRE(r);
    CHECK(r->failure() == Failure::failed);
    CHECK(r->error_info().message.find("Unexpected file path from HIMDS service") !=
          std::string::npos);
    CHECK(e.request_count(token_path) == 1);
  }

  TEST_CASE(
      "Service Fabric is native: the pinned certificate accepted, a wrong pin refused before the "
      "secret") {
    azid_emulator::Options so;
    so.metadata_host = azid_emulator::MetadataHost::service_fabric;
    azid_emulator::Emulator e(so);
    e.set_identity_header("fabric-secret-value");
    asio::io_context io;
    AsyncEmuPlatform p(io.get_executor(), TransportOptions{});
    p.environment().set("IDENTITY_ENDPOINT", e.base_url() + token_path);
    p.environment().set("IDENTITY_HEADER", "fabric-secret-value");
    std::string pin = e.server_certificate_thumbprint();
    REQUIRE(pin.size() == 40);
    SUBCASE("right pin") {
      p.environment().set("IDENTITY_SERVER_THUMBPRINT", pin);
      check_native_source(e, p, io, ManagedIdentitySource::service_fabric, token_path, 1, quick());
      CHECK(e.requests().back().tls);
      CHECK(e.requests().back().header("Secret") == "fabric-secret-value");
      CHECK_FALSE(e.requests().back().query_param("token_sha256_to_refresh"));
      // A claims request names the cached token it replaces, as the blocking path does.
      Mi cred(quick(), p);
      std::optional<TokenResult> first, second;
      async_try_get_token(cred, vault(), [&](TokenResult x) { first = std::move(x); });
      io.restart();
      io.run_for(seconds(30));
      REQUIRE(first);
      REQUIRE(first->ok());
      TokenRequestContext challenged = vault();
      challenged.claims = R"({"access_token":{"nbf":{"essential":true,"value":"1700000000"}}})";
      async_try_get_token(cred, challenged, [&](TokenResult x) { second = std::move(x); });
      io.restart();
      io.run_for(seconds(30));
      REQUIRE(second);
      CHECK(second->ok());
      CHECK(e.requests().back().query_param("token_sha256_to_refresh") ==
            detail::msi::sha256_hex(first->token().token));
    }
    SUBCASE("wrong pin") {
      pin[0] = pin[0] == '0' ? '1' : '0';
      p.environment().set("IDENTITY_SERVER_THUMBPRINT", pin);
      Mi cred(quick(), p);
      std::optional<TokenResult> r;
      async_try_get_token(cred, vault(), [&](TokenResult x) { r = std::move(x); });
      io.run_for(seconds(30));
      REQUIRE(r);
      CHECK_FALSE(r->ok());
      CHECK(e.request_count(token_path) == 0);  // the secret never left
      CHECK(r->error_info().message.find("fabric-secret-value") == std::string::npos);
    }
    SUBCASE("a plain-http endpoint is a configuration error, answered without I/O") {
      p.environment().set("IDENTITY_ENDPOINT", "http://127.0.0.1:1/token");
      p.environment().set("IDENTITY_SERVER_THUMBPRINT", pin);
      Mi cred(quick(), p);
      std::optional<TokenResult> r;
      async_try_get_token(cred, vault(), [&](TokenResult x) { r = std::move(x); });
      io.run_for(seconds(30));
      REQUIRE(r);
      CHECK(r->error_info().message.find("must use HTTPS") != std::string::npos);
    }
  }
}

TEST_SUITE("async_dev_tools") {
  TEST_CASE(
      "developer tools: one real az process on one thread; other callers are queued, hits stay "
      "put") {
    azid_test::ToolDir d;
    const std::string token = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhc3luYyJ9.c2ln";
    const auto expires =
        duration_cast<seconds>((system_clock::now() + hours(1)).time_since_epoch()).count();
    const std::string json = R"({"accessToken": ")" + token + R"(", "expires_on": )" +
                             std::to_string(expires) +
                             R"(, "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47", )"
                             R"("tokenType": "Bearer"})";
    d.script("az", d.record() + "/bin/sleep 0.3\nprintf '%s' " + azid_test::sh_quote(json));
    AzureCliCredential<testing::Platform> cred({}, azid_test::platform_for(d));
    static_assert(
        !is_native_async_v<AzureCliCredential<testing::Platform>>);  // a thread runs the tool
    asio::io_context io;
    const int before = thread_count();
    std::vector<std::string> tokens;
    for (int i = 0; i < 8; ++i)
      async_get_token(io.get_executor(), cred, vault(), [&](std::error_code ec, AccessToken t) {
        CHECK_FALSE(ec);
        tokens.push_back(std::move(t.token));
      });
    int during = -1;
    asio::steady_timer probe(io, milliseconds(150));
    probe.async_wait([&](std::error_code) { during = thread_count(); });
    io.run_for(seconds(30));
    REQUIRE(tokens.size() == 8);
    for (const auto& t : tokens) CHECK(t == token);
    CHECK(d.runs() == 1);         // the eight callers shared one run through the cache
    CHECK(during - before <= 1);  // one thread for the one run, not one per caller

    bool hit = false;
    async_get_token(io.get_executor(), cred, vault(), [&](std::error_code ec, AccessToken t) {
      CHECK_FALSE(ec);
      CHECK(t.token == token);
      hit = true;
    });
    io.restart();
    CHECK(io.poll() == 1);  // a hit: one posted completion, no thread, no process
    CHECK(hit);
    CHECK(d.runs() == 1);
  }

  TEST_CASE("developer tools: a request refused before any process is answered without a thread") {
    azid_test::ToolDir d;
    d.script("az", d.record() + "exit 1");
    AzureCliCredential<testing::Platform> cred({}, azid_test::platform_for(d));
    asio::io_context io;
    TokenRequestContext two;
    two.scopes = {"https://vault.azure.net/.default", "https://storage.azure.com/.default"};
    std::optional<TokenResult> r;
    async_try_get_token(io.get_executor(), cred, two, [&](TokenResult x) { r = std::move(x); });
    io.run_for(seconds(30));
    REQUIRE(r);
    CHECK(r->failure() == Failure::invalid_argument);
    CHECK(r->error_info().message == cred.try_get_token(two).error_info().message);
    CHECK(d.runs() == 0);
  }

  TEST_CASE("a request refused before any I/O is logged once, asynchronously as blocking") {
    // The initiating call asks the credential (under a plan) whether it can answer at once; a
    // refusal it logged there is the answer, not asked for (and logged) a second time.
    const std::string other = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5";
    TokenRequestContext ctx = vault();
    ctx.tenant_id = other;  // not among the credential's allowed tenants
    std::vector<std::string> warnings;
    auto count_warnings = [&](LogLevel l, std::string_view m) {
      if (l == LogLevel::warning) warnings.emplace_back(m);
    };
    SUBCASE("a confidential credential") {
      Fixture f;
      f.platform.logger().set_level(LogLevel::debug);
      f.platform.logger().set_sink(count_warnings);
      auto cred = f.make();
      std::optional<TokenResult> r;
      async_try_get_token(cred, ctx, [&](TokenResult x) { r = std::move(x); });
      f.run();
      REQUIRE(r);
      CHECK(r->failure() != Failure::none);
      CHECK(warnings.size() == 1);
      std::optional<std::error_code> ec;
      async_get_token(cred, ctx, [&](std::error_code e, AccessToken) { ec = e; });
      f.run();
      REQUIRE(ec);
      CHECK(*ec == to_error_code(*r));
      CHECK(warnings.size() == 2);
      CHECK(cred.try_get_token(ctx).error_info().message == r->error_info().message);
      CHECK(warnings.size() == 3);  // the blocking call's one line
      CHECK(f.token_requests() == 0);
    }
    SUBCASE("a developer tool") {
      azid_test::ToolDir d;
      d.script("az", d.record() + "exit 1");
      AzureCliCredentialOptions o;
      o.tenant_id = tenant;
      AzureCliCredential<testing::Platform> cred(o, azid_test::platform_for(d));
      cred.platform().logger().set_level(LogLevel::debug);
      cred.platform().logger().set_sink(count_warnings);
      asio::io_context io;
      std::optional<TokenResult> r;
      async_try_get_token(io.get_executor(), cred, ctx, [&](TokenResult x) { r = std::move(x); });
      io.run_for(seconds(30));
      REQUIRE(r);
      CHECK(r->failure() != Failure::none);
      CHECK(warnings.size() == 1);
      CHECK(d.runs() == 0);
    }
  }
}

TEST_SUITE("async_transport") {
  TEST_CASE("kept-alive connections are reused") {
    Fixture f;
    HttpRequest req;
    req.url = f.emu.base_url() + "/secrets/none";
    int statuses = 0;
    auto& t = f.platform.transport();
    t.async_send(req, [&](std::error_code ec, HttpResponse res) {
      CHECK_FALSE(ec);
      CHECK(res.status == 401);
      ++statuses;
      t.async_send(req, [&](std::error_code ec2, HttpResponse res2) {
        CHECK_FALSE(ec2);
        CHECK(res2.status == 401);
        ++statuses;
      });
    });
    f.run();
    CHECK(statuses == 2);
    CHECK(t.connections_opened() == 1);
  }

  TEST_CASE("the TLS rules are the blocking transport's") {
    Fixture f;
    HttpRequest req;
    req.url = f.emu.base_url() + "/secrets/none";
    SUBCASE("an untrusted CA") {
      AsyncHttpsTransport t(f.io.get_executor(), no_trust());
      std::optional<std::error_code> ec;
      t.async_send(req, [&](std::error_code e, HttpResponse) { ec = e; });
      f.run();
      REQUIRE(ec);
      CHECK(*ec == errc::certificate_untrusted);
    }
    SUBCASE("a host name the certificate does not carry") {
      req.url = "https://127.0.0.2:" + std::to_string(f.emu.port()) + "/secrets/none";
      std::optional<std::error_code> ec;
      f.platform.transport().async_send(req, [&](std::error_code e, HttpResponse) { ec = e; });
      f.run();
      REQUIRE(ec);
      // 127.0.0.2 is loopback on Linux; the emulator listens on 127.0.0.1 only.
      CHECK((*ec == errc::certificate_host_mismatch || *ec == errc::connect_failed));
    }
    SUBCASE("a pin that does not match") {
      req.pinned_thumbprint = std::string(40, 'a');
      std::optional<std::error_code> ec;
      f.platform.transport().async_send(req, [&](std::error_code e, HttpResponse) { ec = e; });
      f.run();
      REQUIRE(ec);
      CHECK(*ec == errc::certificate_pin_mismatch);
    }
    SUBCASE("the right pin replaces chain verification") {
      req.pinned_thumbprint = f.emu.server_certificate_thumbprint();
      AsyncHttpsTransport t(f.io.get_executor(), no_trust());
      std::optional<int> status;
      t.async_send(req, [&](std::error_code e, HttpResponse res) {
        CHECK_FALSE(e);
        status = res.status;
      });
      f.run();
      REQUIRE(status);
      CHECK(*status == 401);
    }
  }

  TEST_CASE("an io_context destroyed before the transport closes the connections it parked") {
    // The io_context must outlive the operations, not the transport (README). A kept-alive
    // connection's socket belongs to the context, so the context's shutdown closes it; closed by
    // the transport afterwards (or by close_idle) it was a heap-use-after-free under ASan.
    azid_test::TestPki pki;
    azid_test::TestServer server(pki, {});
    auto io = std::make_unique<asio::io_context>();
    auto transport = std::make_unique<AsyncHttpsTransport>(io->get_executor());
    HttpRequest req;
    req.url = server.url("/kept");
    std::optional<std::error_code> ec;
    transport->async_send(req, [&](std::error_code e, HttpResponse) { ec = e; });
    io->run_for(seconds(30));
    REQUIRE(ec);
    REQUIRE_FALSE(*ec);
    CHECK(server.sessions_ended() == 0);  // parked in the pool, open
    io.reset();
    for (int i = 0; i < 500 && server.sessions_ended() == 0; ++i)
      std::this_thread::sleep_for(milliseconds(10));
    CHECK(server.sessions_ended() == 1);  // closed with the context, the transport still there
    transport->close_idle();              // nothing of the context is left to close
    transport.reset();
  }

  TEST_CASE("an executor on another io_context than the transport's does the I/O there") {
    // async_get_token(ex, ...) runs on ex's io_context alone, whichever the transport was made
    // with; a connection is pooled with the context it belongs to and reused there only.
    Fixture f;  // the transport is made with f.io
    auto cred = f.make();
    asio::io_context io2;
    std::optional<std::error_code> got;
    AccessToken token;
    async_get_token(io2.get_executor(), cred, vault(), [&](std::error_code ec, AccessToken t) {
      got = ec;
      token = std::move(t);
    });
    io2.run_for(seconds(20));  // f.io does not run
    REQUIRE(got);
    CHECK_FALSE(*got);
    CHECK(valid(f.emu, token));
    auto& t = f.platform.transport();
    CHECK(t.connections_opened() == 1);
    HttpRequest req;
    req.url = f.emu.base_url() + "/secrets/none";
    std::optional<int> status;
    t.async_send(req, [&](std::error_code e, HttpResponse res) {
      CHECK_FALSE(e);
      status = res.status;
    });
    f.run();
    REQUIRE(status);
    CHECK(*status == 401);
    CHECK(t.connections_opened() == 2);  // io2's connection is not f.io's to use
    std::optional<int> again;
    asio::co_spawn(
        asio::make_strand(io2),
        [&]() -> asio::awaitable<void> {
          auto out = co_await t.exchange(req);
          CHECK_FALSE(out.ec);
          again = out.value.status;
        },
        asio::detached);
    io2.restart();
    io2.run_for(seconds(20));
    REQUIRE(again);
    CHECK(*again == 401);
    CHECK(t.connections_opened() == 2);  // but io2's own, reused
  }

  TEST_CASE("exchange() in a coroutine of the caller's leaves its throw_if_cancelled as it was") {
    Fixture f;
    HttpRequest req;
    req.url = f.emu.base_url() + "/secrets/none";
    auto& t = f.platform.transport();
    asio::any_io_executor ex;
    SUBCASE("on a strand (the exchange runs inline)") { ex = asio::make_strand(f.io); }
    SUBCASE("on a plain executor (the exchange runs on a strand of its own)") {
      ex = f.io.get_executor();
    }
    std::optional<int> status;
    std::optional<bool> throwing;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto out = co_await t.exchange(req);
          status = out.value.status;
          throwing = co_await asio::this_coro::throw_if_cancelled();
        },
        asio::detached);
    f.run();
    REQUIRE(status);
    CHECK(*status == 401);
    REQUIRE(throwing);
    CHECK(*throwing);  // Asio's default, which the caller never changed
  }

  TEST_CASE("exchange() on a plain executor run by two threads: its timer and reads take turns") {
    // The watchdog's timer closes the socket the exchange is reading from. On an executor that is
    // not a strand, run by two threads, the expiry and the read's completion would run at once
    // (a data race under TSan): the exchange runs on a strand of its own there. A server trickling
    // its answer byte by byte keeps completions coming right up to the timeout.
    azid_test::TestPki pki;
    azid_test::ServerOptions o;
    o.behavior = azid_test::Behavior::trickle;
    o.trickle_interval = milliseconds(1);
    azid_test::TestServer server(pki, o);
    asio::io_context io;
    AsyncHttpsTransport t(io.get_executor());
    HttpRequest req;
    req.url = server.url("/slow");
    req.timeout = milliseconds(300);
    constexpr int n = 4;
    std::atomic<int> timed_out{0};
    std::atomic<int> done{0};
    for (int i = 0; i < n; ++i)
      asio::co_spawn(
          io.get_executor(),
          [&]() -> asio::awaitable<void> {
            auto out = co_await t.exchange(req);
            if (out.ec == errc::timeout) ++timed_out;
            ++done;
          },
          asio::detached);
    std::thread second([&] { io.run_for(seconds(30)); });
    io.run_for(seconds(30));
    second.join();
    CHECK(done == n);
    CHECK(timed_out == n);
  }

  TEST_CASE("exchange() on a plain executor still ends when its caller is cancelled") {
    // The caller's cancellation reaches the exchange's own strand (posted there).
    azid_test::TestPki pki;
    azid_test::ServerOptions o;
    o.behavior = azid_test::Behavior::silent;
    azid_test::TestServer server(pki, o);
    asio::io_context io;
    AsyncHttpsTransport t(io.get_executor());
    HttpRequest req;
    req.url = server.url("/never");
    req.timeout = seconds(60);
    asio::cancellation_signal cancel;
    std::optional<std::error_code> ec;
    asio::co_spawn(
        io.get_executor(),
        [&]() -> asio::awaitable<void> {
          auto out = co_await t.exchange(req);
          ec = out.ec;
        },
        asio::bind_cancellation_slot(cancel.slot(), asio::detached));
    asio::steady_timer later(io, milliseconds(200));
    later.async_wait([&](std::error_code) { cancel.emit(asio::cancellation_type::terminal); });
    const auto start = steady_clock::now();
    io.run_for(seconds(30));
    REQUIRE(ec);
    CHECK(*ec);
    CHECK(steady_clock::now() - start < seconds(20));  // not the request's own timeout
  }

  TEST_CASE("a closed port fails fast and a black-holed connect is cut off") {
    Fixture f;
    HttpRequest req;
    req.url = closed_authority() + "/x";
    std::optional<std::error_code> ec;
    f.platform.transport().async_send(req, [&](std::error_code e, HttpResponse) { ec = e; });
    f.run();
    REQUIRE(ec);
    CHECK(*ec == errc::connect_failed);
  }
}

TEST_SUITE("async_default_azure_credential") {
  using CloudDac = DefaultAzureCredential<
      Exclude<cred::AzureCli, cred::AzurePowerShell, cred::AzureDeveloperCli>, AsyncEmuPlatform>;

  // A port nothing listens on (an emulator's, after it has gone): managed identity never reaches
  // a real IMDS from these tests.
  std::string closed_url() {
    azid_emulator::Options o;
    o.tls = false;
    azid_emulator::Emulator gone(o);
    return gone.base_url();
  }

  struct DacFixture : Fixture {
    DacFixture() {
      auto& env = platform.environment();
      env.set("AZURE_TENANT_ID", tenant);
      env.set("AZURE_CLIENT_ID", client);
      env.set("AZURE_CLIENT_SECRET", secret);
      env.set("AZURE_AUTHORITY_HOST", emu.authority_host());
      env.set("AZURE_POD_IDENTITY_AUTHORITY_HOST", closed_url());
    }
    DefaultAzureCredentialOptions opts() const {
      DefaultAzureCredentialOptions o;
      o.retry.max_retries = 0;
      o.managed_identity.arc_himds_path = "";
      o.managed_identity.connect_timeout = milliseconds(500);
      o.managed_identity.timeout = milliseconds(1000);
      return o;
    }
    TokenResult get(const CloudDac& cred) {
      std::optional<TokenResult> r;
      async_try_get_token(cred, vault(), [&](TokenResult x) { r = std::move(x); });
      run();
      REQUIRE(r);
      return std::move(*r);
    }
  };

  TEST_CASE("a multi-tenant decision is logged once per fetch, asynchronously as blocking") {
    // The asynchronous path plans with the blocking code (a cache probe, then the plan) before
    // it fetches: the INFO line about the tenant must come from the fetch alone.
    Fixture f;
    const std::string other = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5";
    f.emu.register_app({other, client, secret, false, {}});
    std::vector<std::string> info;
    f.platform.logger().set_level(LogLevel::info);
    f.platform.logger().set_sink([&](LogLevel l, std::string_view m) {
      if (l == LogLevel::info && m.find("additionally_allowed_tenants") != std::string_view::npos)
        info.emplace_back(m);
    });
    auto o = f.options();
    o.additionally_allowed_tenants = {"*"};
    Secret cred(tenant, client, secret, o, f.platform);
    TokenRequestContext ctx = vault();
    ctx.tenant_id = other;
    for (int i = 0; i < 2; ++i) {  // the second call is a cache hit: no fetch, no line
      std::optional<TokenResult> r;
      async_try_get_token(cred, ctx, [&](TokenResult x) { r = std::move(x); });
      f.run();
      REQUIRE(r);
      REQUIRE_MESSAGE(r->ok(), r->error_info().message);
    }
    CHECK(info.size() == 1);
    CHECK(f.emu.request_count("/" + other) == 1);
  }

  TEST_CASE("settled on managed identity, a sticky chain's asynchronous calls fail as its own") {
    // As the blocking test in policy/test_default_azure_credential.cpp: once the chain has
    // settled, an IMDS outage is managed identity's own failure (logged at WARNING), not
    // "unavailable", on the asynchronous path too (chain_async marks the call settled).
    Fixture f;
    std::vector<std::pair<LogLevel, std::string>> lines;
    f.platform.logger().set_level(LogLevel::debug);
    f.platform.logger().set_sink(
        [&](LogLevel l, std::string_view m) { lines.emplace_back(l, std::string(m)); });
    azid_emulator::Options plain;
    plain.tls = false;
    auto imds = std::make_unique<azid_emulator::Emulator>(plain);
    using Mi = ManagedIdentityCredential<AsyncEmuPlatform>;
    ManagedIdentityCredentialOptions o;
    o.imds_authority = imds->base_url();
    o.imds.jitter = 0;
    o.imds.max_retries = 0;
    o.arc_himds_path = "";
    o.within_default_chain = true;  // as DefaultAzureCredential builds it: probed, chain-aware
    ChainOptions sticky;
    sticky.sticky = true;
    Chain<Mi> chain(std::in_place, sticky, [&] { return Mi(o, f.platform); });
    static_assert(is_native_async_v<Chain<Mi>>);
    auto get = [&](std::string scope) {
      TokenRequestContext ctx;
      ctx.scopes = {std::move(scope)};
      std::optional<TokenResult> r;
      async_try_get_token(chain, ctx, [&](TokenResult x) { r = std::move(x); });
      f.run();
      REQUIRE(r);
      return std::move(*r);
    };
    const TokenResult first = get("https://vault.azure.net/.default");
    REQUIRE_MESSAGE(first.ok(), first.error_info().message);
    CHECK(chain.selected() == 0);
    imds.reset();  // IMDS goes away
    const TokenResult second = get("https://storage.azure.com/.default");
    CHECK(second.failure() == Failure::failed);
    CHECK(std::any_of(lines.begin(), lines.end(), [](const auto& l) {
      return l.first == LogLevel::warning &&
             l.second.find("ManagedIdentityCredential.get_token failed") != std::string::npos;
    }));
  }

  TEST_CASE(
      "walked asynchronously by a plain chain, managed identity off Azure lets the next run") {
    // As Chain::walk does for blocking calls: the asynchronous walk tells managed identity it is
    // in a chain, so it probes, finds no IMDS and is unavailable; the next member answers.
    Fixture f;
    using Mi = ManagedIdentityCredential<AsyncEmuPlatform>;
    ManagedIdentityCredentialOptions o;
    o.imds_authority = closed_url();
    o.imds.jitter = 0;
    o.imds.max_retries = 0;
    o.arc_himds_path = "";
    Chain<Mi, Secret> chain(
        std::in_place, ChainOptions{}, [&] { return Mi(o, f.platform); }, [&] { return f.make(); });
    static_assert(is_native_async_v<Chain<Mi, Secret>>);
    std::optional<TokenResult> r;
    async_try_get_token(chain, vault(), [&](TokenResult x) { r = std::move(x); });
    f.run();
    REQUIRE(r);
    REQUIRE_MESSAGE(r->ok(), r->error_info().message);
    CHECK(f.token_requests() == 1);
    // On its own, the same managed identity fails (a ClientAuthenticationError).
    Mi alone(o, f.platform);
    std::optional<TokenResult> a;
    async_try_get_token(alone, vault(), [&](TokenResult x) { a = std::move(x); });
    f.run();
    REQUIRE(a);
    CHECK(a->failure() == Failure::failed);
  }

  TEST_CASE("without the developer tools it is native; the environment member wins and sticks") {
    static_assert(is_native_async_v<CloudDac>);
    DacFixture f;
    CloudDac cred(f.opts(), f.platform);
    const TokenResult r = f.get(cred);
    REQUIRE(r.ok());
    CHECK(cred.selected() == "EnvironmentCredential");
    CHECK(f.token_requests() == 1);
    CHECK(f.get(cred).token().token == r.token().token);  // a hit, through the sticky member
    CHECK(f.token_requests() == 1);
  }

  TEST_CASE("AZURE_TOKEN_CREDENTIALS narrows the asynchronous walk as it does the blocking one") {
    DacFixture f;
    SUBCASE("one credential by name: the others are neither tried nor listed") {
      f.platform.environment().set("AZURE_TOKEN_CREDENTIALS", "WorkloadIdentityCredential");
      CloudDac cred(f.opts(), f.platform);
      const TokenResult r = f.get(cred);
      CHECK(r.failure() == Failure::unavailable);
      CHECK(r.error_info().message.find("WorkloadIdentityCredential") != std::string::npos);
      CHECK(r.error_info().message.find("EnvironmentCredential") == std::string::npos);
      CHECK(r.error_info().message.find("ManagedIdentityCredential") == std::string::npos);
      CHECK(r.error_info().message == cred.try_get_token(vault()).error_info().message);
      CHECK(f.token_requests() == 0);
    }
    SUBCASE("an invalid value fails every call with the configuration error") {
      f.platform.environment().set("AZURE_TOKEN_CREDENTIALS", "nonsense");
      CloudDac cred(f.opts(), f.platform);
      const TokenResult r = f.get(cred);
      CHECK(r.failure() == Failure::invalid_argument);
      CHECK(r.error_info().message == std::string(cred.configuration_error()));
      CHECK(f.token_requests() == 0);
    }
  }
}
