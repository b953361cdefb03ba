// A log sink may itself ask credentials for tokens. It must get those credentials' own answers,
// and the call being logged must keep its own: azid/async asks a credential what it would do under
// a per-thread plan, and a sink running inside that window must not fill the plan in.

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "azid/async/get_token.hpp"
#include "azid/chain.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/detail/caller.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/platform/clock.hpp"
#include "azid/platform/file_reader.hpp"
#include "azid/testing/platform.hpp"
#include "azid/async/https_transport.hpp"
#include "async_emu_platform.hpp"
#include "confidential_fixture.hpp"
#include "emulator.hpp"

using namespace azid;
using namespace std::chrono;

namespace {
const std::string tenant = azid_test::emu_tenant;
const std::string client_a = "a1a1a1a1-0000-4000-8000-000000000001";
const std::string client_b = "b2b2b2b2-0000-4000-8000-000000000002";
const std::string secret_a = "sink-test-secret-A";
const std::string secret_b = "sink-test-secret-B";

using azid_test::AsyncEmuPlatform;

/// The app a token was issued to (empty when the token does not verify).
std::string appid_of(const azid_emulator::Emulator& emu, const std::string& token) {
  std::string payload;
  if (!azid_emulator::verify_token(emu, token, payload)) return {};
  return detail::json_string_member(payload, "appid").value_or("");
}

template <class O>
O emu_options(const azid_emulator::Emulator& emu) {
  O o;
  o.authority_host = emu.authority_host();
  o.retry.max_retries = 0;
  o.timeout = milliseconds(1500);
  o.connect_timeout = milliseconds(1000);
  return o;
}

TokenRequestContext scope(const std::string& s) {
  TokenRequestContext c;
  c.scopes = {s};
  return c;
}

/// Credential A (async platform) logs to a sink that asks credential B (blocking) for a token
/// for a scope B has not seen yet, so each sink call is a miss of B's.
struct SinkFixture {
  azid_emulator::Emulator emu;
  asio::io_context io;
  AsyncEmuPlatform platform;
  azid_test::EmuPlatform b_platform;
  std::optional<ClientSecretCredential<azid_test::EmuPlatform>> b;
  std::vector<TokenResult> sink_results;

  explicit SinkFixture(LogLevel level)
      : platform(io.get_executor(), azid_test::ConfidentialFixture::transport_options(emu)),
        b_platform(azid_test::ConfidentialFixture::transport_options(emu)) {
    emu.register_app({tenant, client_a, secret_a, false, {}});
    emu.register_app({tenant, client_b, secret_b, false, {}});
    b.emplace(tenant, client_b, secret_b, emu_options<ClientSecretCredentialOptions>(emu),
              b_platform);
    platform.logger().set_level(level);
    platform.logger().set_sink([this](LogLevel, std::string_view) {
      sink_results.push_back(b->try_get_token(
          scope("https://sink" + std::to_string(sink_results.size()) + ".example/.default")));
    });
  }
  ClientSecretCredential<AsyncEmuPlatform> make_a(ClientSecretCredentialOptions o) {
    return ClientSecretCredential<AsyncEmuPlatform>(tenant, client_a, secret_a, std::move(o),
                                                    platform);
  }
  TokenResult async_call(const ClientSecretCredential<AsyncEmuPlatform>& a,
                         const TokenRequestContext& ctx) {
    std::optional<TokenResult> out;
    async_try_get_token(a, ctx, [&](TokenResult r) { out = std::move(r); });
    io.restart();
    io.run_for(seconds(30));
    REQUIRE(out);
    return std::move(*out);
  }
  /// Every token the sink got is B's own.
  void check_sink_tokens() const {
    REQUIRE_FALSE(sink_results.empty());
    for (const auto& r : sink_results) {
      REQUIRE_MESSAGE(r.ok(), r.error_info().message);
      CHECK(appid_of(emu, r.token().token) == client_b);
    }
  }
};
}  // namespace

TEST_SUITE("log_sink_calls") {
  TEST_CASE("a refusal logged to a sink that calls another credential stays a refusal") {
    SinkFixture f(LogLevel::warning);
    auto a = f.make_a(emu_options<ClientSecretCredentialOptions>(f.emu));
    TokenRequestContext foreign = scope("https://vault.azure.net/.default");
    foreign.tenant_id = "0f0f0f0f-0000-4000-8000-00000000000f";  // not allowed for A
    for (int i = 0; i < 3; ++i) {
      TokenResult r = f.async_call(a, foreign);
      CHECK(r.failure() == Failure::failed);
      CHECK(r.error_info().message.find("not configured to acquire tokens for tenant") !=
            std::string::npos);
    }
    CHECK(a.try_get_token(foreign).failure() == Failure::failed);  // blocking: the same answer
    f.check_sink_tokens();
  }

  TEST_CASE(
      "hits and fetches logged at INFO to such a sink hand out the logging credential's token") {
    SinkFixture f(LogLevel::info);
    auto a = f.make_a(emu_options<ClientSecretCredentialOptions>(f.emu));
    const TokenRequestContext vault = scope("https://vault.azure.net/.default");
    for (int i = 0; i < 4; ++i) {  // a fetch, then hits, each logged
      TokenResult r = f.async_call(a, vault);
      REQUIRE_MESSAGE(r.ok(), r.error_info().message);
      CHECK(appid_of(f.emu, r.token().token) == client_a);
    }
    TokenResult blocking = a.try_get_token(vault);
    REQUIRE(blocking.ok());
    CHECK(appid_of(f.emu, blocking.token().token) == client_a);
    f.check_sink_tokens();
  }

  TEST_CASE("a sink called during a chain's walk runs as no chain's member") {
    azid_test::ConfidentialFixture f;
    std::vector<detail::Caller> seen;
    f.platform.logger().set_level(LogLevel::debug);
    f.platform.logger().set_sink(
        [&](LogLevel, std::string_view) { seen.push_back(detail::current_caller()); });
    ClientSecretCredential<azid_test::EmuPlatform> bad(
        azid_test::emu_tenant, azid_test::emu_client, "wrong-secret",
        emu_options<ClientSecretCredentialOptions>(f.emu), f.platform);
    Chain<ClientSecretCredential<azid_test::EmuPlatform>> chain(std::move(bad));
    CHECK_FALSE(chain.try_get_token(scope("https://vault.azure.net/.default")).ok());
    REQUIRE_FALSE(seen.empty());
    for (const auto& c : seen) {
      CHECK_FALSE(c.in_chain);
      CHECK_FALSE(c.in_default_chain);
    }
  }

  // At INFO every success is logged, the sink's own included: without dropping what the sink's
  // calls log, this would recurse until the stack ran out.
  TEST_CASE(
      "a sink asking its own credential for the token being logged neither recurses nor "
      "waits for itself") {
    azid_test::ConfidentialFixture f;
    std::vector<TokenResult> from_sink;
    std::optional<ClientSecretCredential<azid_test::EmuPlatform>> cred;
    f.emu.register_app({tenant, client_a, secret_a, false, {}});
    f.platform.logger().set_level(LogLevel::info);
    f.platform.logger().set_sink([&](LogLevel, std::string_view) {
      from_sink.push_back(cred->try_get_token(scope("https://vault.azure.net/.default")));
    });
    cred.emplace(tenant, client_a, secret_a, emu_options<ClientSecretCredentialOptions>(f.emu),
                 f.platform);
    TokenResult r = cred->try_get_token(scope("https://vault.azure.net/.default"));
    REQUIRE_MESSAGE(r.ok(), r.error_info().message);
    // The HTTP line (during the fetch: the sink's request fails at once) and the success line
    // (a hit); nothing the sink's own requests logged.
    REQUIRE(from_sink.size() == 2);
    CHECK(from_sink[0].failure() == Failure::failed);
    CHECK(from_sink[0].error_info().message.find("from inside the fetch of the same token") !=
          std::string::npos);
    REQUIRE(from_sink[1].ok());
    CHECK(from_sink[1].token().token == r.token().token);
  }

  TEST_CASE(
      "a sink asking for the token an asynchronous fetch is logging gets a failure, and the "
      "fetch completes") {
    azid_emulator::Emulator emu;
    asio::io_context io;
    AsyncEmuPlatform platform(io.get_executor(),
                              azid_test::ConfidentialFixture::transport_options(emu));
    emu.register_app({tenant, client_a, secret_a, false, {}});
    std::optional<ClientSecretCredential<AsyncEmuPlatform>> cred;
    std::vector<TokenResult> from_sink;
    platform.logger().set_level(LogLevel::info);
    platform.logger().set_sink([&](LogLevel, std::string_view) {
      from_sink.push_back(cred->try_get_token(scope("https://vault.azure.net/.default")));
    });
    cred.emplace(tenant, client_a, secret_a, emu_options<ClientSecretCredentialOptions>(emu),
                 platform);
    std::optional<TokenResult> out;
    async_try_get_token(*cred, scope("https://vault.azure.net/.default"),
                        [&](TokenResult r) { out = std::move(r); });
    io.run_for(seconds(30));
    REQUIRE(out);
    REQUIRE_MESSAGE(out->ok(), out->error_info().message);
    CHECK(appid_of(emu, out->token().token) == client_a);
    REQUIRE_FALSE(from_sink.empty());
    CHECK(from_sink.front().failure() == Failure::failed);  // asked during the fetch
    CHECK(from_sink.back().ok());                           // asked once it was done
  }
}
