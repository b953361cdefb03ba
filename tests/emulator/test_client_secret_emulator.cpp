// ClientSecretCredential end to end: the real HttpsTransport against the local Entra ID
// emulator over TLS on 127.0.0.1.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "azid/credentials/client_secret.hpp"
#include "azid/detail/base64.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/platform/default_platform.hpp"
#include "azid/testing/platform.hpp"
#include "emulator.hpp"

using namespace azid;
using namespace std::chrono;

namespace {
const std::string tenant = "7a1e0f3c-1111-4222-8333-944455556666";
const std::string client = "c0ffee00-aaaa-4bbb-8ccc-ddddeeeeffff";
const std::string secret = "Em~ul4t0r-s3cret.value";

TokenRequestContext vault() {
  TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}

struct Fixture {
  azid_emulator::Emulator emu;
  std::vector<std::string> log_lines;
  std::mutex log_mu;
  DefaultPlatform platform;

  explicit Fixture(azid_emulator::Options o = {})
      : emu(std::move(o)), platform(make_options(emu, this)) {
    emu.register_app({tenant, client, secret, false, {}});
  }
  static DefaultPlatformOptions make_options(const azid_emulator::Emulator& e, Fixture* self) {
    DefaultPlatformOptions o;
    o.transport.extra_ca_file = e.ca_file();
    o.transport.use_system_trust = false;
    o.proxy_from_environment = false;
    o.logger.set_level(LogLevel::debug);
    o.logger.set_sink([self](LogLevel, std::string_view m) {
      std::lock_guard lk(self->log_mu);
      self->log_lines.emplace_back(m);
    });
    return o;
  }
  ClientSecretCredentialOptions options(int retries = 0) const {
    ClientSecretCredentialOptions o;
    o.authority_host = emu.authority_host();
    o.retry.max_retries = retries;
    o.retry.base_delay = milliseconds(1);
    o.timeout = milliseconds(1500);
    o.connect_timeout = milliseconds(1000);
    return o;
  }
  ClientSecretCredential<> make(std::string s = secret, int retries = 0) {
    return ClientSecretCredential<>(tenant, client, std::move(s), options(retries), platform);
  }
};

std::string failure_message(const TokenResult& r) {
  return r.ok() ? std::string() : r.error_info().message;
}
}  // namespace

TEST_SUITE("client_secret_emulator") {
  TEST_CASE("a token is issued over TLS and carries the app's identity") {
    Fixture f;
    auto cred = f.make();
    AccessToken t = cred.get_token(vault());
    std::string payload;
    REQUIRE(azid_emulator::verify_token(f.emu, t.token, payload));
    CHECK(detail::json_string_member(payload, "aud") == "https://vault.azure.net");
    CHECK(detail::json_string_member(payload, "tid") == tenant);
    CHECK(detail::json_string_member(payload, "appid") == client);
    CHECK(t.expires_on > system_clock::now() + minutes(55));
    const auto reqs = f.emu.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].form_param("client_secret") == secret);
    CHECK(reqs[0].form_param("grant_type") == "client_credentials");
    CHECK(reqs[0].header("x-client-sku") == "azid.cpp");
  }

  TEST_CASE("AD FS (Azure Stack Hub): the v1 endpoint takes the resource, and issues a token") {
    Fixture f;
    f.emu.register_app({"adfs", client, secret, false, {}});
    ClientSecretCredential<> cred("adfs", client, secret, f.options(), f.platform);
    TokenRequestContext arm;
    arm.scopes = {"https://management.local.azurestack.test/.default"};
    AccessToken t = cred.get_token(arm);
    std::string payload;
    REQUIRE(azid_emulator::verify_token(f.emu, t.token, payload));
    CHECK(detail::json_string_member(payload, "aud") == "https://management.local.azurestack.test");
    const auto reqs = f.emu.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].path() == "/adfs/oauth2/token");
    CHECK(reqs[0].form_param("scope") == "https://management.local.azurestack.test");
  }

  TEST_CASE("the token opens the protected resource") {
    Fixture f;
    f.emu.set_secret("db-password", "hunter2");
    auto cred = f.make();
    AccessToken t = cred.get_token(vault());
    HttpRequest req;
    req.url = f.emu.base_url() + "/secrets/db-password";
    req.headers.set("Authorization", "Bearer " + t.token);
    std::error_code ec;
    auto res = f.platform.transport().send(req, ec);
    REQUIRE_FALSE(ec);
    CHECK(res.status == 200);
    CHECK(detail::json_string_member(res.body, "value") == "hunter2");
    req.headers.set("Authorization", "Bearer not-a-token");
    res = f.platform.transport().send(req, ec);
    CHECK(res.status == 401);
  }

  TEST_CASE("cached tokens cost no request; concurrent cold callers cause one") {
    Fixture f;
    auto cred = f.make();
    // The token endpoint answers slowly, and the callers start together, so they overlap: a
    // cache without single flight would send several requests here, not pass by luck.
    auto slow = azid_emulator::Fault::respond_with(
        200, R"({"token_type":"Bearer","expires_in":3599,"access_token":"slow.token.value"})");
    slow.delay = std::chrono::milliseconds(300);
    f.emu.push_fault("/", slow);
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < 16; ++i)
      threads.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        CHECK(cred.try_get_token(vault()).ok());
      });
    go = true;
    for (auto& t : threads) t.join();
    (void)cred.get_token(vault());
    CHECK(f.emu.request_count("/" + tenant) == 1);
  }

  TEST_CASE("AADSTS7000215: a wrong secret") {
    Fixture f;
    auto r = f.make("wrong-secret").try_get_token(vault());
    REQUIRE(r.failure() == Failure::failed);
    const auto& e = r.error_info();
    CHECK(e.credential == "ClientSecretCredential");
    CHECK(e.http_status == 401);
    REQUIRE(e.sts);
    CHECK(e.sts->has_code(7000215));
    CHECK_FALSE(e.sts->correlation_id.empty());
    CHECK_FALSE(e.sts->trace_id.empty());
    CHECK(e.message.find("invalid_client: 7000215 - AADSTS7000215:") != std::string::npos);
    CHECK(e.message.find("An invalid client secret was provided.") != std::string::npos);
    CHECK(e.message.find("wrong-secret") == std::string::npos);
  }

  TEST_CASE("AADSTS7000222: an expired secret") {
    Fixture f;
    f.emu.register_app({tenant, client, secret, true, {}});
    auto r = f.make().try_get_token(vault());
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().sts->has_code(7000222));
    CHECK(r.error_info().message.find("An expired client secret was provided.") !=
          std::string::npos);
  }

  TEST_CASE("AADSTS700016: an app unknown in the tenant") {
    Fixture f;
    ClientSecretCredential<> cred(tenant, "99999999-0000-4000-8000-000000000000", secret,
                                  f.options(), f.platform);
    auto r = cred.try_get_token(vault());
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().sts->has_code(700016));
    CHECK(r.error_info().message.find(
              "The specified application wasn't found in the specified tenant.") !=
          std::string::npos);
  }

  TEST_CASE("AADSTS900023: a tenant Entra does not know as a GUID or domain") {
    Fixture f;
    ClientSecretCredential<> cred("not-a-tenant", client, secret, f.options(), f.platform);
    auto r = cred.try_get_token(vault());
    REQUIRE(r.failure() == Failure::failed);
    REQUIRE(r.error_info().sts);
    CHECK(r.error_info().sts->has_code(900023));
  }

  TEST_CASE("an untrusted or wrong-host certificate is refused") {
    SUBCASE("CA not trusted") {
      azid_emulator::Emulator emu;
      emu.register_app({tenant, client, secret, false, {}});
      DefaultPlatformOptions o;
      o.transport.use_system_trust = true;  // the emulator's CA is not in the system store
      o.proxy_from_environment = false;
      ClientSecretCredentialOptions co;
      co.authority_host = emu.authority_host();
      co.retry.max_retries = 0;
      ClientSecretCredential<> cred(tenant, client, secret, co, DefaultPlatform(o));
      auto r = cred.try_get_token(vault());
      REQUIRE(r.failure() == Failure::failed);
      CHECK(r.error_info().message.find("not trusted") != std::string::npos);
      CHECK(emu.request_count() == 0);
    }
    SUBCASE("certificate for another host") {
      azid_emulator::Options eo;
      eo.server_names = {"login.example.invalid"};
      Fixture f(eo);
      auto r = f.make().try_get_token(vault());
      REQUIRE(r.failure() == Failure::failed);
      CHECK(r.error_info().message.find("does not match the host name") != std::string::npos);
      CHECK(f.emu.request_count() == 0);
    }
  }

  TEST_CASE("a silent token endpoint times out within the configured bound") {
    Fixture f;
    azid_emulator::Fault silent;
    silent.kind = azid_emulator::Fault::Kind::silent;
    f.emu.push_fault("/", silent);
    auto opts = f.options();
    opts.timeout = milliseconds(400);
    ClientSecretCredential<> cred(tenant, client, secret, opts, f.platform);
    const auto start = steady_clock::now();
    auto r = cred.try_get_token(vault());
    const auto took = steady_clock::now() - start;
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().message.find("timed out") != std::string::npos);
    CHECK(took < seconds(3));
  }

  TEST_CASE("malformed, truncated and oversized bodies are clear errors") {
    Fixture f;
    using K = azid_emulator::Fault::Kind;
    SUBCASE("malformed JSON") {
      f.emu.push_fault("/", {K::respond,
                             200,
                             {{"Content-Type", "application/json"}},
                             R"({"access_token": "abc)",
                             {},
                             {}});
      auto r = f.make().try_get_token(vault());
      CHECK(failure_message(r).find("Unexpected response from Microsoft Entra ID") !=
            std::string::npos);
    }
    SUBCASE("truncated body") {
      f.emu.push_fault(
          "/", {K::truncated_body, 200, {}, R"({"access_token":"abc","expires_in":3600})", {}, {}});
      auto r = f.make().try_get_token(vault());
      CHECK(failure_message(r).find("closed before the response was complete") !=
            std::string::npos);
    }
    SUBCASE("huge body") {
      f.emu.push_fault("/", {K::huge_body, 200, {}, "", {}, {}});
      const auto start = steady_clock::now();
      auto r = f.make().try_get_token(vault());
      CHECK(failure_message(r).find("too large") != std::string::npos);
      CHECK(steady_clock::now() - start < seconds(3));
    }
    SUBCASE("dropped connection, then success on retry") {
      f.emu.push_fault("/", {K::drop_before_response, 200, {}, "", {}, {}});
      auto r = f.make(secret, 2).try_get_token(vault());
      CHECK(r.ok());
      CHECK(f.emu.request_count() == 2);
    }
    SUBCASE("429 with Retry-After, then success") {
      f.emu.push_fault("/", {K::respond,
                             429,
                             {{"Retry-After", "0"}},
                             R"({"error":"temporarily_unavailable"})",
                             {},
                             {}});
      auto r = f.make(secret, 1).try_get_token(vault());
      CHECK(r.ok());
    }
  }

  TEST_CASE("no secret or token reaches a log line or an error message") {
    Fixture f;
    auto good = f.make();
    AccessToken t = good.get_token(vault());
    std::vector<std::string> messages;
    messages.push_back(failure_message(f.make("wrong-" + secret).try_get_token(vault())));
    f.emu.register_app({tenant, client, secret, true, {}});
    auto ctx = vault();
    ctx.scopes = {"https://storage.azure.com/.default"};
    messages.push_back(failure_message(f.make().try_get_token(ctx)));
    using K = azid_emulator::Fault::Kind;
    f.emu.push_fault("/",
                     {K::respond, 200, {}, R"({"access_token":")" + t.token + R"("})", {}, {}});
    ctx.scopes = {"https://management.azure.com/.default"};
    messages.push_back(failure_message(good.try_get_token(ctx)));
    for (const auto& m : messages) {
      CAPTURE(m);
      CHECK_FALSE(m.empty());
      CHECK(m.find(secret) == std::string::npos);
      CHECK(m.find(t.token) == std::string::npos);
    }
    std::lock_guard lk(f.log_mu);
    CHECK(f.log_lines.size() >= 4);
    for (const auto& l : f.log_lines) {
      CAPTURE(l);
      CHECK(l.find(secret) == std::string::npos);
      CHECK(l.find(t.token) == std::string::npos);
    }
  }
}
