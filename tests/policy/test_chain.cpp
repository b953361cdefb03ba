// Chain<Cs...>: order, unavailable vs failed, the aggregated message, stickiness.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "azid/chain.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/testing/platform.hpp"

using namespace azid;

namespace {

// A credential whose next outcomes are scripted; copies share the script.
struct FakeBase {
  struct State {
    Failure next = Failure::none;
    std::string message;
    std::atomic<int> calls{0};
  };
  std::shared_ptr<State> s = std::make_shared<State>();
  std::string_view my_name;

  TokenResult try_get_token(const TokenRequestContext&) const {
    s->calls++;
    if (s->next == Failure::none) {
      auto t = std::make_shared<AccessToken>();
      t->token = std::string(my_name) + "-token";
      t->expires_on = std::chrono::system_clock::now() + std::chrono::hours(1);
      return TokenResult(std::shared_ptr<const AccessToken>(std::move(t)));
    }
    return TokenResult::error(s->next,
                              ErrorInfo{.credential = std::string(my_name),
                                        .message = std::string(my_name) + ": " + s->message});
  }
  AccessToken get_token(const TokenRequestContext& c) const { return try_get_token(c).value(); }
};
struct FakeA : FakeBase {
  static constexpr std::string_view name = "FakeA";
  FakeA() { my_name = name; }
};
struct FakeB : FakeBase {
  static constexpr std::string_view name = "FakeB";
  FakeB() { my_name = name; }
};
struct FakeC : FakeBase {
  static constexpr std::string_view name = "FakeC";
  FakeC() { my_name = name; }
};
static_assert(Credential<FakeA>);
static_assert(Credential<Chain<FakeA, FakeB>>);

TokenRequestContext ctx() {
  TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}

}  // namespace

TEST_SUITE("chain") {
  TEST_CASE("the first member that produces a token wins; later members are not called") {
    FakeA a;
    FakeB b;
    a.s->next = Failure::unavailable;
    a.s->message = "not configured";
    Chain<FakeA, FakeB, FakeC> chain(a, b, FakeC{});
    auto r = chain.try_get_token(ctx());
    REQUIRE(r.ok());
    CHECK(r.token().token == "FakeB-token");
    CHECK(a.s->calls == 1);
    CHECK(chain.member<2>().s->calls == 0);
  }

  TEST_CASE("all unavailable: CredentialUnavailableError listing every credential and why") {
    FakeA a;
    FakeB b;
    a.s->next = b.s->next = Failure::unavailable;
    a.s->message = "AZURE_TENANT_ID is not set.";  // FakeA says "FakeA: ...": not said twice
    b.s->message = "FakeB authentication unavailable.\nline two";  // kept whole
    Chain<FakeA, FakeB> chain(a, b);
    auto r = chain.try_get_token(ctx());
    REQUIRE(r.failure() == Failure::unavailable);
    const auto& m = r.error_info().message;
    CHECK(
        m.rfind("ChainedTokenCredential failed to retrieve a token from the included credentials.",
                0) == 0);
    CHECK(m.find("\n\tFakeA: AZURE_TENANT_ID is not set.") != std::string::npos);
    CHECK(m.find("\n\tFakeB: FakeB authentication unavailable.\n\t  line two") !=
          std::string::npos);
    // What to do comes last: act on the reason of the credential meant to be used.
    CHECK(m.find("\nTo fix this, act on the reason given for the credential you meant to use") !=
          std::string::npos);
    REQUIRE(r.error_info().attempts.size() == 2);
    CHECK(r.error_info().attempts[0].unavailable);
    CHECK_THROWS_AS((void)chain.get_token(ctx()), CredentialUnavailableError);
  }

  TEST_CASE("an authentication failure stops the chain and keeps its type") {
    FakeA a;
    FakeB b;
    a.s->next = Failure::failed;
    a.s->message = "AADSTS7000215: bad secret";
    Chain<FakeA, FakeB> chain(a, b);
    auto r = chain.try_get_token(ctx());
    REQUIRE(r.failure() == Failure::failed);
    CHECK(b.s->calls == 0);
    CHECK(r.error_info().message.find("FakeA: AADSTS7000215: bad secret") != std::string::npos);
    try {
      (void)chain.get_token(ctx());
      FAIL("expected an exception");
    } catch (const CredentialUnavailableError&) {
      FAIL("a hard failure must not look unavailable");
    } catch (const ClientAuthenticationError& e) {
      CHECK(e.credential() == "ChainedTokenCredential");
    }
    a.s->next = Failure::auth_required;
    CHECK_THROWS_AS((void)chain.get_token(ctx()), AuthenticationRequiredError);
  }

  TEST_CASE("a sticky chain keeps using the member that first succeeded") {
    FakeA a;
    FakeB b;
    a.s->next = Failure::unavailable;
    Chain<FakeA, FakeB> chain(ChainOptions{true, "DefaultAzureCredential"}, a, b);
    CHECK(chain.try_get_token(ctx()).ok());
    CHECK(chain.selected() == 1);
    a.s->next = Failure::none;  // A would work now, but B was chosen
    CHECK(chain.try_get_token(ctx()).token().token == "FakeB-token");
    b.s->next = Failure::failed;  // and B's failures propagate as they are
    auto r = chain.try_get_token(ctx());
    CHECK(r.failure() == Failure::failed);
    CHECK(r.error_info().credential == "FakeB");
    CHECK(a.s->calls == 1);
  }

  TEST_CASE("chains nest, and a nested all-unavailable chain lets the outer one move on") {
    FakeA a;
    FakeB b;
    a.s->next = b.s->next = Failure::unavailable;
    using Inner = Chain<FakeA, FakeB>;
    Chain<Inner, FakeC> outer(Inner(a, b), FakeC{});
    auto r = outer.try_get_token(ctx());
    REQUIRE(r.ok());
    CHECK(r.token().token == "FakeC-token");
  }

  TEST_CASE("real credentials compose, and the chain logs which one produced the token") {
    testing::Platform p;
    std::vector<std::string> lines;
    p.logger().set_level(LogLevel::info);
    p.logger().set_sink([&](LogLevel, std::string_view m) { lines.emplace_back(m); });
    p.transport().push(200, R"({"token_type":"Bearer","expires_in":3600,"access_token":"real"})");
    using Cs = ClientSecretCredential<testing::Platform>;
    Chain<Cs, FakeA> chain(Cs("72f988bf-86f1-41af-91ab-2d7cd011db47",
                              "11111111-2222-3333-4444-555555555555", "s", {}, p),
                           FakeA{});
    CHECK(chain.get_token(ctx()).token == "real");
    bool saw = false;
    for (const auto& l : lines)
      saw |= l == "ChainedTokenCredential acquired a token from ClientSecretCredential";
    CHECK(saw);
  }

  TEST_CASE("a plain chain tells its members: managed identity off Azure lets the next one run") {
    // Chain<ManagedIdentity, ...> on a laptop: IMDS does not answer. Inside the chain the probe
    // finds nothing and managed identity is unavailable, so the chain moves on (Python's
    // within_credential_chain); on its own the same silence is an authentication failure.
    using Mi = ManagedIdentityCredential<testing::Platform>;
    ManagedIdentityCredentialOptions o;
    o.arc_himds_path = "";
    o.imds.jitter = 0;
    o.imds.max_retries = 0;
    testing::Platform p;  // nothing scripted: every request finds no listener
    Chain<Mi, FakeA> chain(
        std::in_place, ChainOptions{}, [&] { return Mi(o, p); }, [] { return FakeA{}; });
    const TokenResult r = chain.try_get_token(ctx());
    REQUIRE(r.ok());
    CHECK(r.value().token == "FakeA-token");
    REQUIRE(p.transport().request_count() == 1);  // the probe, and nothing after it
    CHECK_FALSE(p.transport().requests()[0].headers.contains("Metadata"));

    testing::Platform alone_platform;
    const Mi alone(o, alone_platform);
    const TokenResult a = alone.try_get_token(ctx());
    CHECK(a.failure() == Failure::failed);
    REQUIRE(alone_platform.transport().request_count() == 1);
    CHECK(alone_platform.transport().requests()[0].headers.get("Metadata") == "true");
  }

  TEST_CASE("a member logs its outcome at INFO/WARNING on its own and at DEBUG inside a chain") {
    using Cs = ClientSecretCredential<testing::Platform>;
    const std::string ok = R"({"token_type":"Bearer","expires_in":3600,"access_token":"real"})";
    const std::string refused =
        R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."})";
    auto run = [&](bool in_chain, int status, const std::string& body, bool twice) {
      testing::Platform p;
      auto lines = std::make_shared<std::vector<std::pair<LogLevel, std::string>>>();
      p.logger().set_level(LogLevel::debug);
      p.logger().set_sink([lines](LogLevel l, std::string_view m) { lines->emplace_back(l, m); });
      p.transport().push(status, body);
      Cs cred("72f988bf-86f1-41af-91ab-2d7cd011db47", "11111111-2222-3333-4444-555555555555", "s",
              {}, p);
      if (in_chain) {
        Chain<Cs> chain(std::move(cred));
        (void)chain.try_get_token(ctx());
        if (twice) (void)chain.try_get_token(ctx());  // a cache hit
      } else {
        (void)cred.try_get_token(ctx());
        if (twice) (void)cred.try_get_token(ctx());
      }
      std::vector<std::pair<LogLevel, std::string>> own;
      for (const auto& l : *lines)
        if (l.second.rfind("ClientSecretCredential.get_token", 0) == 0) own.push_back(l);
      return own;
    };
    auto alone_ok = run(false, 200, ok, true);
    REQUIRE(alone_ok.size() == 2);  // the fetch and the cache hit
    for (const auto& l : alone_ok) {
      CHECK(l.first == LogLevel::info);
      CHECK(l.second == "ClientSecretCredential.get_token succeeded");
    }
    auto chained_ok = run(true, 200, ok, true);
    REQUIRE(chained_ok.size() == 2);
    for (const auto& l : chained_ok) CHECK(l.first == LogLevel::debug);
    auto alone_failed = run(false, 401, refused, false);
    REQUIRE(alone_failed.size() == 1);
    CHECK(alone_failed[0].first == LogLevel::warning);
    CHECK(alone_failed[0].second.find("get_token failed: ") != std::string::npos);
    auto chained_failed = run(true, 401, refused, false);
    REQUIRE(chained_failed.size() == 1);
    CHECK(chained_failed[0].first == LogLevel::debug);
  }
}
