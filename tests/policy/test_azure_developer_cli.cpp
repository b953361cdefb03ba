// AzureDeveloperCliCredential against real child processes: stand-in `azd` scripts on a PATH the
// test controls, covering every row of the guide plus timeouts, garbage and claims.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "../emulator/fake_tools/fake_tools.hpp"
#include "azid/credentials/azure_developer_cli.hpp"
#include "azid/detail/base64.hpp"
#include "azid/testing/platform.hpp"

using namespace azid;
using namespace std::chrono;
using azid_test::platform_for;
using azid_test::sh_quote;
using azid_test::ToolDir;

namespace {
using Cred = AzureDeveloperCliCredential<testing::Platform>;
static_assert(Credential<Cred>);

constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* secret_token = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhemQifQ.c2lnbmF0dXJl";
// testing::ManualClock starts at 1'700'000'000, 2023-11-14T22:13:20Z.
constexpr long long now_s = 1'700'000'000;

TokenRequestContext vault() {
  TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}

void azd_prints(const ToolDir& d, const std::string& json) {
  d.script("azd", d.record() + "echo \"$NO_COLOR\" > " + d.file("no_color") + "\nprintf '%s' " +
                      sh_quote(json));
}
std::string azd_json(const std::string& expires) {
  return std::string(R"({"token": ")") + secret_token + R"(", "expiresOn": ")" + expires + "\"}";
}
// GCC 12 warns about fields a designated initializer leaves out, so options are built by a lambda.
template <class F>
AzureDeveloperCliCredentialOptions opt(F f) {
  AzureDeveloperCliCredentialOptions o;
  f(o);
  return o;
}
bool mentions(const TokenResult& r, const std::string& s) {
  return r.error_info().message.find(s) != std::string::npos;
}
}  // namespace

TEST_SUITE("azure_developer_cli") {
  TEST_CASE(
      "azd auth token --output json --no-prompt gets one --scope per scope, NO_COLOR set, from "
      "/bin") {
    ToolDir d;
    azd_prints(d, azd_json("2023-11-14T23:13:20Z"));
    Cred cred({}, platform_for(d));
    auto ctx = vault();
    ctx.scopes.push_back("https://storage.azure.com/.default");
    auto tok = cred.get_token(ctx);
    CHECK(tok.token == secret_token);
    CHECK(tok.expires_on_unix() == now_s + 3600);
    CHECK(d.lines("args") == std::vector<std::string>{"auth", "token", "--output", "json",
                                                      "--no-prompt", "--scope",
                                                      "https://vault.azure.net/.default", "--scope",
                                                      "https://storage.azure.com/.default"});
    CHECK(d.read("no_color") == "true\n");
    CHECK(d.ran_in("/bin"));
  }

  TEST_CASE("the tenant (configured or requested) goes in --tenant-id") {
    ToolDir d;
    azd_prints(d, azd_json("2023-11-14T23:13:20Z"));
    SUBCASE("configured") {
      Cred cred(opt([](auto& o) { o.tenant_id = tenant; }), platform_for(d));
      REQUIRE(cred.try_get_token(vault()).ok());
    }
    SUBCASE("requested") {
      Cred cred({}, platform_for(d));
      auto ctx = vault();
      ctx.tenant_id = tenant;
      REQUIRE(cred.try_get_token(ctx).ok());
    }
    const auto args = d.lines("args");
    REQUIRE(args.size() == 9);
    CHECK(args[7] == "--tenant-id");
    CHECK(args[8] == tenant);
  }

  TEST_CASE("expiresOn: RFC 3339 with fractions and offsets") {
    ToolDir d;
    SUBCASE("fractional seconds") { azd_prints(d, azd_json("2023-11-14T23:13:20.1234567Z")); }
    SUBCASE("offset") { azd_prints(d, azd_json("2023-11-15T00:13:20+01:00")); }
    Cred cred({}, platform_for(d));
    CHECK(cred.get_token(vault()).expires_on_unix() == now_s + 3600);
  }

  TEST_CASE("scopes and tenant are validated before azd runs") {
    ToolDir d;
    azd_prints(d, azd_json("2023-11-14T23:13:20Z"));
    Cred cred({}, platform_for(d));
    SUBCASE("no scope") {
      auto r = cred.try_get_token(TokenRequestContext{});
      CHECK(r.failure() == Failure::invalid_argument);
      CHECK(mentions(r, "Missing scope in request."));
    }
    SUBCASE("one unsafe scope among several") {
      auto ctx = vault();
      ctx.scopes.push_back("https://x/.default --tenant-id evil");
      auto r = cred.try_get_token(ctx);
      CHECK(r.failure() == Failure::invalid_argument);
      CHECK(mentions(r, "An invalid scope was provided"));
    }
    SUBCASE("unsafe tenant") {
      auto ctx = vault();
      ctx.tenant_id = "$(id)";
      CHECK(cred.try_get_token(ctx).failure() == Failure::invalid_argument);
      CHECK_THROWS_AS(Cred(opt([](auto& o) { o.tenant_id = "$(id)"; }), platform_for(d)),
                      std::invalid_argument);
    }
    CHECK(d.runs() == 0);
  }

  TEST_CASE("Azure Developer CLI could not be found: missing azd or exit 127") {
    ToolDir d;
    SUBCASE("not on PATH") {}
    SUBCASE("exit 127") { d.script("azd", "exit 127"); }
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "AzureDeveloperCliCredential: Azure Developer CLI could not be found"));
    CHECK(mentions(r, "and then, once installed,"));
    CHECK(mentions(r, "make sure its directory is on the PATH this program sees"));
    CHECK_THROWS_AS((void)cred.get_token(vault()), CredentialUnavailableError);
  }

  TEST_CASE("not logged in: 'Please run azd auth login to set up account' is unavailable") {
    ToolDir d;
    d.script(
        "azd",
        "echo 'ERROR: fetching token: not logged in, run `azd auth login` to login' >&2; exit 1");
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "Please run 'azd auth login' to set up account"));
    CHECK(mentions(r, "check that 'azd auth token --output json --scope <scope>' prints a token"));
  }

  TEST_CASE(
      "azd asking for multi-factor sign-in is unavailable, with the login command for the scopes") {
    // developer-tools.md §2: either phrase in azd's stderr means a fresh sign-in is needed.
    for (const char* said : {"AADSTS50076: you must use multi-factor authentication to access this",
                             "reauthentication required, run azd auth login"}) {
      CAPTURE(said);
      ToolDir d;
      d.script("azd", std::string("echo 'ERROR: ") + said + "' >&2; exit 1");
      Cred cred({}, platform_for(d));
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::unavailable);
      CHECK(mentions(r,
                     "please run the following command: azd auth login --scope "
                     "https://vault.azure.net/.default"));
    }
  }

  TEST_CASE("claims are forwarded to azd as standard base64 in --claims, bypassing the cache") {
    ToolDir d;
    azd_prints(d, azd_json("2023-11-14T23:13:20Z"));
    Cred cred({}, platform_for(d));
    (void)cred.get_token(vault());
    auto ctx = vault();
    ctx.claims = R"({"access_token":{"nbf":{"essential":true,"value":"1700000000"}}})";
    (void)cred.get_token(ctx);
    CHECK(d.runs() == 2);
    const auto args = d.lines("args");
    REQUIRE(args.size() == 9);
    CHECK(args[7] == "--claims");
    CHECK(args[8] == detail::base64_encode(ctx.claims, false));
  }

  TEST_CASE(
      "other azd failures pass stderr on: ClientAuthenticationError, unavailable inside the "
      "default chain") {
    ToolDir d;
    d.script("azd",
             "echo '  ERROR: fetching token: AADSTS700082: The refresh token has expired.  ' >&2; "
             "exit 1");
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(mentions(r,
                   "Azure Developer CLI failed: ERROR: fetching token: AADSTS700082: The refresh "
                   "token has expired. Check"));
    CHECK_THROWS_AS((void)cred.get_token(vault()), ClientAuthenticationError);
    Cred in_chain(opt([](auto& o) { o.within_default_chain = true; }), platform_for(d));
    CHECK(in_chain.try_get_token(vault()).failure() == Failure::unavailable);
  }

  TEST_CASE("garbage on stdout is an authentication failure that does not quote the output") {
    ToolDir d;
    SUBCASE("not JSON") { azd_prints(d, std::string("token=") + secret_token); }
    SUBCASE("no expiry") { azd_prints(d, std::string(R"({"token": ")") + secret_token + "\"}"); }
    SUBCASE("expiry in the past") { azd_prints(d, azd_json("2020-01-01T00:00:00Z")); }
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(mentions(r, "Unexpected output from Azure Developer CLI"));
    CHECK_FALSE(mentions(r, secret_token));
  }

  TEST_CASE("a hanging azd, and what it started, is killed at process_timeout") {
    ToolDir d;
    d.script("azd", "/bin/sleep 30 & echo $! > " + d.file("started") + "; /bin/sleep 30");
    Cred cred(opt([](auto& o) { o.process_timeout = milliseconds{300}; }), platform_for(d));
    const auto t0 = steady_clock::now();
    auto r = cred.try_get_token(vault());
    CHECK(steady_clock::now() - t0 < seconds{3});
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "did not finish within 300 ms"));
    const auto started = d.lines("started");  // the background sleep azd started
    REQUIRE(started.size() == 1);
    CHECK(azid_test::becomes_dead(static_cast<pid_t>(std::stol(started[0])), seconds{2}));
  }
}
