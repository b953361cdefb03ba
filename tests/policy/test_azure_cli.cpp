// AzureCliCredential against real child processes: stand-in `az` scripts on a PATH the test
// controls (and Debian's real azure-cli when installed), covering every row of the guide.
#include <doctest/doctest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../emulator/fake_tools/fake_tools.hpp"
#include "azid/credentials/azure_cli.hpp"
#include "azid/detail/base64.hpp"
#include "azid/platform/environment.hpp"
#include "azid/testing/platform.hpp"
#include "azid/testing/scripted_process.hpp"

using namespace azid;
using namespace std::chrono;
using azid_test::platform_for;
using azid_test::sh_quote;
using azid_test::ToolDir;

namespace {
using Cred = AzureCliCredential<testing::Platform>;
static_assert(Credential<Cred>);

constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr long long now_s = 1'700'000'000;  // testing::ManualClock's start
constexpr const char* secret_token = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl";

TokenRequestContext vault() {
  TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}

// `az` that records its call and prints `json` (single-quoted for sh).
void az_prints(const ToolDir& d, const std::string& json) {
  d.script("az", d.record() + "printf '%s' " + sh_quote(json));
}

std::string az_json(long long expires_on) {
  return std::string(R"({"accessToken": ")") + secret_token +
         R"(", "expiresOn": "2023-11-14 23:13:20.000000", )" + R"("expires_on": )" +
         std::to_string(expires_on) +
         R"(, "subscription": "00000000-0000-0000-0000-000000000000", "tenant": ")" + tenant +
         R"(", "tokenType": "Bearer"})";
}

std::string local_clock_text(long long epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S.000000", &tm);
  return buf;
}

// GCC 12 warns about fields a designated initializer leaves out, so options are built by a lambda.
template <class F>
AzureCliCredentialOptions opt(F f) {
  AzureCliCredentialOptions o;
  f(o);
  return o;
}
bool mentions(const TokenResult& r, const std::string& s) {
  return r.error_info().message.find(s) != std::string::npos;
}

// A platform whose process runner is scripted, to inspect the exact ProcessSpec.
struct ScriptedPlatform : testing::Platform {
  std::shared_ptr<testing::ScriptedProcessRunner> runner =
      std::make_shared<testing::ScriptedProcessRunner>();
  [[nodiscard]] const testing::ScriptedProcessRunner& process_runner() const noexcept {
    return *runner;
  }
};
static_assert(Credential<AzureCliCredential<ScriptedPlatform>>);
}  // namespace

TEST_SUITE("azure_cli") {
  TEST_CASE("az is run directly with get-access-token --output json --resource, from /bin") {
    ToolDir d;
    az_prints(d, az_json(now_s + 3600));
    Cred cred({}, platform_for(d));
    auto tok = cred.get_token(vault());
    CHECK(tok.token == secret_token);
    CHECK(tok.expires_on_unix() == now_s + 3600);
    CHECK(d.lines("args") == std::vector<std::string>{"account", "get-access-token", "--output",
                                                      "json", "--resource",
                                                      "https://vault.azure.net"});
    CHECK(d.ran_in("/bin"));
  }

  TEST_CASE("the child's environment: PATH and HOME from the platform, colours off") {
    ScriptedPlatform p;
    p.environment().set("PATH", "/opt/az/bin");
    p.environment().set("AZURE_CONFIG_DIR", "/tmp/cfg");
    p.runner->push(0, az_json(now_s + 3600));
    AzureCliCredential<ScriptedPlatform> cred(opt([](auto& o) { o.process_timeout = seconds{7}; }),
                                              p);
    REQUIRE(cred.try_get_token(vault()).ok());
    const auto spec = p.runner->specs().at(0);
    CHECK(spec.argv.front() == "az");
    CHECK(spec.cwd == "/bin");
    CHECK(spec.timeout == seconds{7});
    auto has = [&](const std::string& k, const std::string& v) {
      for (const auto& [name, value] : spec.env)
        if (name == k && value == v) return true;
      return false;
    };
    CHECK(has("PATH", "/opt/az/bin"));
    CHECK(has("AZURE_CONFIG_DIR", "/tmp/cfg"));
    CHECK(has("AZURE_CORE_NO_COLOR", "true"));
  }

  TEST_CASE(
      "tenant and subscription options become --tenant and --subscription, each one argument") {
    ToolDir d;
    az_prints(d, az_json(now_s + 3600));
    Cred cred(opt([](auto& o) {
                o.tenant_id = tenant;
                o.subscription = "My Sub_1.prod";
              }),
              platform_for(d));
    REQUIRE(cred.try_get_token(vault()).ok());
    CHECK(d.lines("args") == std::vector<std::string>{"account", "get-access-token", "--output",
                                                      "json", "--resource",
                                                      "https://vault.azure.net", "--tenant", tenant,
                                                      "--subscription", "My Sub_1.prod"});
  }

  TEST_CASE("a requested tenant is passed on when allowed and refused otherwise, before az runs") {
    ToolDir d;
    az_prints(d, az_json(now_s + 3600));
    auto ctx = vault();
    ctx.tenant_id = "contoso.onmicrosoft.com";
    SUBCASE("no configured tenant: the request's tenant is used") {
      Cred cred({}, platform_for(d));
      REQUIRE(cred.try_get_token(ctx).ok());
      CHECK(d.lines("args").at(6) == "--tenant");
      CHECK(d.lines("args").at(7) == "contoso.onmicrosoft.com");
    }
    SUBCASE("another configured tenant without additionally_allowed_tenants") {
      Cred cred(opt([](auto& o) { o.tenant_id = tenant; }), platform_for(d));
      auto r = cred.try_get_token(ctx);
      CHECK(r.failure() == Failure::failed);
      CHECK(mentions(r, "not configured to acquire tokens for tenant contoso.onmicrosoft.com"));
      // The guide's mitigation: name the tenant, or "*", in additionally_allowed_tenants.
      CHECK(mentions(r, "add it to the additionally_allowed_tenants"));
      CHECK(mentions(r, "add \"*\" to additionally_allowed_tenants"));
      CHECK(d.runs() == 0);
    }
    SUBCASE("allowed by '*'") {
      Cred cred(opt([](auto& o) {
                  o.tenant_id = tenant;
                  o.additionally_allowed_tenants = {"*"};
                }),
                platform_for(d));
      REQUIRE(cred.try_get_token(ctx).ok());
      CHECK(d.lines("args").at(7) == "contoso.onmicrosoft.com");
    }
  }

  TEST_CASE("scope, tenant and subscription are validated before any process starts") {
    ToolDir d;
    az_prints(d, az_json(now_s + 3600));
    Cred cred({}, platform_for(d));
    SUBCASE("unsafe scope") {
      auto ctx = vault();
      ctx.scopes = {"https://vault.azure.net/.default\"; rm -rf ~"};
      auto r = cred.try_get_token(ctx);
      CHECK(r.failure() == Failure::invalid_argument);
      CHECK(mentions(r, "An invalid scope was provided"));
      CHECK_THROWS_AS((void)cred.get_token(ctx), std::invalid_argument);
    }
    SUBCASE("a scope, tenant or subscription az would read as an option of its own") {
      auto ctx = vault();
      ctx.scopes = {"-h"};
      const TokenResult bad_scope = cred.try_get_token(ctx);
      REQUIRE(bad_scope.failure() == Failure::invalid_argument);
      CHECK(mentions(bad_scope, "An invalid scope was provided"));
      ctx = vault();
      ctx.tenant_id = "--help";
      const TokenResult bad_tenant = cred.try_get_token(ctx);
      REQUIRE(bad_tenant.failure() == Failure::invalid_argument);
      CHECK(mentions(bad_tenant, "Invalid tenant ID provided"));
      CHECK_THROWS_AS(Cred(opt([](auto& o) { o.tenant_id = "-h"; }), platform_for(d)),
                      std::invalid_argument);
      CHECK_THROWS_WITH_AS(Cred(opt([](auto& o) { o.subscription = "-h"; }), platform_for(d)),
                           doctest::Contains("contains invalid characters"), std::invalid_argument);
    }
    SUBCASE("two scopes") {
      auto ctx = vault();
      ctx.scopes.push_back("https://storage.azure.com/.default");
      auto r = cred.try_get_token(ctx);
      CHECK(r.failure() == Failure::invalid_argument);
      CHECK(mentions(r, "exactly one scope"));
    }
    SUBCASE("no scope") {
      auto r = cred.try_get_token(TokenRequestContext{});
      CHECK(r.failure() == Failure::invalid_argument);
      CHECK(mentions(r, "requires at least one scope"));
    }
    SUBCASE("unsafe requested tenant") {
      auto ctx = vault();
      ctx.tenant_id = "tenant;whoami";
      auto r = cred.try_get_token(ctx);
      CHECK(r.failure() == Failure::invalid_argument);
      CHECK(mentions(r, "Invalid tenant ID provided"));
    }
    SUBCASE("unsafe configured tenant") {
      CHECK_THROWS_WITH_AS(Cred(opt([](auto& o) { o.tenant_id = "a b"; }), platform_for(d)),
                           doctest::Contains("Invalid tenant ID provided"), std::invalid_argument);
    }
    SUBCASE("a subscription name with unsafe characters gets the guide's message") {
      CHECK_THROWS_WITH_AS(
          Cred(opt([](auto& o) { o.subscription = "Dev & Test's (1)"; }), platform_for(d)),
          "AzureCliCredential: Subscription \"Dev & Test's (1)\" contains invalid characters. If "
          "this is the name of a "
          "subscription, use its ID instead. You can locate your subscription by following the "
          "instructions listed "
          "here: https://learn.microsoft.com/azure/azure-portal/get-subscription-tenant-id",
          std::invalid_argument);
    }
    CHECK(d.runs() == 0);
  }

  TEST_CASE(
      "Azure CLI not installed: az missing, exit 127 or a shell's 'not found' is unavailable") {
    ToolDir d;
    SUBCASE("not on PATH") {}
    SUBCASE("exit 127") { d.script("az", "exit 127"); }
    SUBCASE("a wrapper whose shell cannot find az") {
      d.script("az", "echo '/bin/sh: 1: az: not found' >&2; exit 2");
    }
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "AzureCliCredential: Azure CLI not installed"));
    CHECK(mentions(r, "Azure CLI not found on path"));
    CHECK_THROWS_AS((void)cred.get_token(vault()), CredentialUnavailableError);
  }

  TEST_CASE("not logged in: 'Please run az login to set up account' is unavailable") {
    ToolDir d;
    SUBCASE("az login") {
      d.script("az", "echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1");
    }
    SUBCASE("az account set") {
      d.script("az",
               "echo \"ERROR: No subscription found. Run 'az account set' to select a "
               "subscription.\" >&2; exit 1");
    }
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "Please run 'az login' to set up account"));
  }

  TEST_CASE(
      "other CLI failures pass az's stderr on, trimmed; unavailable only inside the default "
      "chain") {
    ToolDir d;
    d.script("az",
             "printf '\\n  \\033[31mERROR: AADSTS50076: Due to a configuration change you must use "
             "MFA.\\033[0m\\n\\n' >&2; "
             "exit 1");
    SUBCASE("standalone: ClientAuthenticationError") {
      Cred cred({}, platform_for(d));
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::failed);
      CHECK(mentions(
          r,
          "Azure CLI failed: ERROR: AADSTS50076: Due to a configuration change you must use MFA."));
      CHECK_FALSE(mentions(r, "\033"));
      CHECK_THROWS_AS((void)cred.get_token(vault()), ClientAuthenticationError);
    }
    SUBCASE("within DefaultAzureCredential: CredentialUnavailableError") {
      Cred cred(opt([](auto& o) { o.within_default_chain = true; }), platform_for(d));
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::unavailable);
      CHECK(mentions(r, "AADSTS50076"));
    }
  }

  TEST_CASE("a run that printed a token and exited 0 succeeds, whatever stderr says") {
    ToolDir d;
    // A warning naming something that was not found is not the shell failing to find az.
    d.script("az",
             "echo \"WARNING: az: extension 'foo' not found, ignoring\" >&2; "
             "echo \"'az' is not recognized as a name\" >&2; printf '%s' " +
                 sh_quote(az_json(now_s + 3600)));
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    REQUIRE(r);
    CHECK(r.token().token == secret_token);
  }

  TEST_CASE("an application that ignores SIGCHLD still gets az's token, or its failure") {
    ToolDir d;
    enum { token, login, silent } want = token;
    SUBCASE("a token") { az_prints(d, az_json(now_s + 3600)); }
    SUBCASE("not logged in") {
      want = login;
      d.script("az", "echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1");
    }
    SUBCASE("nothing at all") {
      want = silent;
      d.script("az", "exit 1");
    }
    struct sigaction old {};
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    REQUIRE(::sigaction(SIGCHLD, &ign, &old) == 0);
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    ::sigaction(SIGCHLD, &old, nullptr);
    if (want == token) {
      REQUIRE(r);
      CHECK(r.token().token == secret_token);
    } else if (want == login) {
      CHECK(r.failure() == Failure::unavailable);
      CHECK(mentions(r, "Please run 'az login' to set up account"));
    } else {
      CHECK(r.failure() == Failure::failed);
      CHECK(mentions(r, "az printed no token, and its exit status was lost"));
    }
  }

  TEST_CASE("output beyond the limit is an authentication failure, unavailable in the chain") {
    ToolDir d;
    d.script("az", "/usr/bin/head -c 3000000 /dev/zero");
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(mentions(r, "Azure CLI failed: process output too large"));
    Cred in_chain(opt([](auto& o) { o.within_default_chain = true; }), platform_for(d));
    CHECK(in_chain.try_get_token(vault()).failure() == Failure::unavailable);
  }

  TEST_CASE("'az login --scope' in stderr is a step-up request, not a missing login") {
    ToolDir d;
    d.script("az",
             "echo \"ERROR: Run 'az login --scope https://vault.azure.net/.default' to refresh.\" "
             ">&2; exit 1");
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK_FALSE(mentions(r, "Please run 'az login' to set up account"));
  }

  TEST_CASE("a token in az's stderr never reaches the message") {
    ToolDir d;
    d.script("az", std::string("echo '{\"accessToken\": \"") + secret_token + "\"} and bare " +
                       secret_token + "' >&2; exit 1");
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK_FALSE(mentions(r, secret_token));
    CHECK_FALSE(mentions(r, "eyJ0eXAi"));
    CHECK(mentions(r, "***"));
  }

  TEST_CASE("garbage on stdout is an authentication failure that does not quote the output") {
    ToolDir d;
    SUBCASE("not JSON") { az_prints(d, std::string("Here is your token: ") + secret_token); }
    SUBCASE("truncated JSON") { az_prints(d, std::string(R"({"accessToken": ")") + secret_token); }
    SUBCASE("no token") { az_prints(d, R"({"expires_on": 1700003600})"); }
    SUBCASE("no usable expiry") {
      az_prints(d,
                std::string(R"({"accessToken": ")") + secret_token + R"(", "expiresOn": "soon"})");
    }
    SUBCASE("expired") { az_prints(d, az_json(now_s - 10)); }
    SUBCASE("a token with CR/LF, which would add a header to the caller's request") {
      az_prints(d, std::string(R"({"accessToken": ")") + secret_token +
                       R"(\r\nX-Injected: yes", "expires_on": 1700003600})");
    }
    SUBCASE("empty") { az_prints(d, ""); }
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(mentions(r, "Unexpected output from Azure CLI"));
    CHECK_FALSE(mentions(r, secret_token));
    Cred in_chain(opt([](auto& o) { o.within_default_chain = true; }), platform_for(d));
    CHECK(in_chain.try_get_token(vault()).failure() == Failure::unavailable);
  }

  TEST_CASE("expiry: epoch expires_on is preferred, expiresOn is read as local time otherwise") {
    ToolDir d;
    SUBCASE("expires_on wins over a different expiresOn") {
      az_prints(d, az_json(now_s + 1234));
      Cred cred({}, platform_for(d));
      CHECK(cred.get_token(vault()).expires_on_unix() == now_s + 1234);
    }
    SUBCASE("expires_on as a digit string") {
      az_prints(d, std::string(R"({"accessToken":"t","expires_on":")") +
                       std::to_string(now_s + 99) + "\"}");
      Cred cred({}, platform_for(d));
      CHECK(cred.get_token(vault()).expires_on_unix() == now_s + 99);
    }
    SUBCASE("only expiresOn (older CLI): local time") {
      az_prints(d, R"({"accessToken": "t", "expiresOn": ")" + local_clock_text(now_s + 3000) +
                       R"(", "tokenType": "Bearer"})");
      Cred cred({}, platform_for(d));
      CHECK(cred.get_token(vault()).expires_on_unix() == now_s + 3000);
    }
    SUBCASE("a malformed expires_on falls back to expiresOn") {
      az_prints(d, R"({"accessToken": "t", "expires_on": "x", "expiresOn": ")" +
                       local_clock_text(now_s + 600) + "\"}");
      Cred cred({}, platform_for(d));
      CHECK(cred.get_token(vault()).expires_on_unix() == now_s + 600);
    }
  }

  TEST_CASE("tokens are cached per scope and tenant: the second call runs nothing") {
    ToolDir d;
    az_prints(d, az_json(now_s + 3600));
    Cred cred({}, platform_for(d));
    (void)cred.get_token(vault());
    (void)cred.get_token(vault());
    CHECK(d.runs() == 1);
    auto other = vault();
    other.tenant_id = tenant;
    (void)cred.get_token(other);
    CHECK(d.runs() == 2);
  }

  TEST_CASE(
      "logging: success at INFO, failure at WARNING (DEBUG inside the chain), never the token") {
    ToolDir d;
    auto p = platform_for(d);
    std::vector<std::pair<LogLevel, std::string>> lines;
    p.logger().set_level(LogLevel::debug);
    p.logger().set_sink(
        [&](LogLevel l, std::string_view m) { lines.emplace_back(l, std::string(m)); });
    SUBCASE("standalone") {
      az_prints(d, az_json(now_s + 3600));
      Cred cred({}, p);
      (void)cred.get_token(vault());
      d.script("az", "echo 'ERROR: boom' >&2; exit 1");
      auto other = vault();
      other.tenant_id = tenant;
      (void)cred.try_get_token(other);
      REQUIRE(lines.size() == 2);
      CHECK(lines[0] == std::pair<LogLevel, std::string>{LogLevel::info,
                                                         "AzureCliCredential.get_token succeeded"});
      CHECK(lines[1].first == LogLevel::warning);
      CHECK(lines[1].second.find("AzureCliCredential.get_token failed: AzureCliCredential: Azure "
                                 "CLI failed: ERROR: boom") == 0);
    }
    SUBCASE("within the default chain") {
      d.script("az", "echo 'ERROR: boom' >&2; exit 1");
      Cred cred(opt([](auto& o) { o.within_default_chain = true; }), p);
      (void)cred.try_get_token(vault());
      REQUIRE(lines.size() == 1);
      CHECK(lines[0].first == LogLevel::debug);
    }
    for (const auto& [level, text] : lines) CHECK(text.find(secret_token) == std::string::npos);
  }

  TEST_CASE("concurrent callers of one scope share a single az run") {
    ToolDir d;
    d.script("az", d.record() + "/bin/sleep 0.3\nprintf '%s' " + sh_quote(az_json(now_s + 3600)));
    Cred cred({}, platform_for(d));
    std::vector<std::thread> threads;
    std::atomic<int> good{0};
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&] {
        if (auto r = cred.try_get_token(vault()); r.ok() && r.token().token == secret_token) ++good;
      });
    for (auto& t : threads) t.join();
    CHECK(good == 4);
    CHECK(d.runs() == 1);
  }

  TEST_CASE("a hanging az is killed at process_timeout and the credential is unavailable") {
    ToolDir d;
    d.script("az", "/bin/sleep 30");
    Cred cred(opt([](auto& o) { o.process_timeout = milliseconds{300}; }), platform_for(d));
    const auto t0 = steady_clock::now();
    auto r = cred.try_get_token(vault());
    CHECK(steady_clock::now() - t0 < seconds{3});
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "did not finish within 300 ms"));
  }

  // A hit is looked up before the checks; what the checks refuse must still be refused while a
  // token for the same scope sits in the cache (claims and a foreign tenant: requests whose scope
  // matches the cached token's; the two-scope request is a different key, checked for contrast).
  TEST_CASE("a cached token does not answer requests the checks refuse") {
    ToolDir d;
    az_prints(d, az_json(now_s + 3600));
    Cred cred(opt([](auto& o) { o.tenant_id = tenant; }), platform_for(d));
    REQUIRE(cred.try_get_token(vault()).ok());
    REQUIRE(cred.try_get_token(vault()).ok());  // a hit
    auto claims = vault();
    claims.claims = R"({"access_token":{"acrs":{"essential":true,"value":"p1"}}})";
    CHECK(cred.try_get_token(claims).failure() == Failure::unavailable);
    auto foreign = vault();
    foreign.tenant_id = "11111111-1111-1111-1111-111111111111";
    CHECK(cred.try_get_token(foreign).failure() == Failure::failed);
    auto two = vault();
    two.scopes.push_back("https://storage.azure.com/.default");
    CHECK(cred.try_get_token(two).failure() == Failure::invalid_argument);
    auto same_tenant = vault();
    same_tenant.tenant_id = tenant;
    CHECK(cred.try_get_token(same_tenant).ok());
    CHECK(d.runs() == 1);
  }

  TEST_CASE("a claims challenge is refused with the az login command that satisfies it") {
    ToolDir d;
    az_prints(d, az_json(now_s + 3600));
    Cred cred(opt([](auto& o) { o.tenant_id = tenant; }), platform_for(d));
    auto ctx = vault();
    ctx.claims = R"({"access_token":{"acrs":{"essential":true,"value":"p1"}}})";
    auto r = cred.try_get_token(ctx);
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "doesn't support claims challenges"));
    CHECK(mentions(r, "az login --claims-challenge " + detail::base64_encode(ctx.claims, false) +
                          " --scope https://vault.azure.net/.default --tenant " + tenant));
    CHECK(d.runs() == 0);
  }

  TEST_CASE(
      "Debian's real azure-cli, signed out, is classified as 'Please run az login' without "
      "network") {
    const auto real_path = ProcessEnvironment{}.get("PATH").value_or("/usr/bin:/bin");
    if (!detail::find_program("az", real_path)) {
      MESSAGE(
          "skipped: the real Azure CLI ('az') is not installed; apt-get install azure-cli to run "
          "this test");
      return;
    }
    ToolDir home;
    // An empty HOME and AZURE_CONFIG_DIR: no real login can be used. Telemetry off, and a
    // version-check record present, so az makes no network call of its own (both checked with strace).
    std::filesystem::create_directories(home.file(".azure"));
    home.write(".azure/config", "[core]\ncollect_telemetry = no\n");
    home.write(
        ".azure/versionCheck.json",
        R"({"versions": {"azure-cli": {"local": "0"}, "core": {"local": "0"}, "telemetry": {"local": "0"}}, "update_time": ""})");
    testing::Platform p;
    p.environment().set("PATH", real_path);
    p.environment().set("HOME", home.path());
    p.environment().set("AZURE_CONFIG_DIR", home.file(".azure"));
    Cred cred(opt([](auto& o) { o.process_timeout = seconds{60}; }), p);
    auto r = cred.try_get_token(vault());
    INFO(r.error_info().message);
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "Please run 'az login' to set up account"));
  }
}

TEST_SUITE("dev_tool") {
  const auto now = system_clock::time_point{seconds{now_s}};

  TEST_CASE("az output: strict JSON, escapes decoded, nested values skipped") {
    AccessToken t;
    CHECK_FALSE(detail::parse_az_token(
        R"( {"accessToken":"a\u0041\/b\"c","expires_on":1700003600,"x":{"y":[1,2.5e3,true,null,{"z":"\ud83d\ude00"}]}} )",
        now, t));
    CHECK(t.token == "aA/b\"c");
    CHECK(t.expires_on_unix() == now_s + 3600);
    CHECK(t.token_type == "Bearer");
    for (const char* bad :
         {"", "{", "[]", R"({"accessToken":"t","expires_on":1700003600,})",
          R"({"accessToken":"t" "x":1})", R"({"accessToken":"t","expires_on":1700003600} x)",
          "{\"accessToken\":\"a\nb\",\"expires_on\":1}",
          R"({"accessToken":"\ud800","expires_on":1700003600})",
          R"({"accessToken":"t","expires_on":01})"}) {
      CAPTURE(bad);
      CHECK(detail::parse_az_token(bad, now, t) == errc::malformed_json);
    }
    CHECK(detail::parse_az_token(R"({"expires_on":1700003600})", now, t) == errc::missing_field);
    // Decoded, but no bearer token has a non-ASCII byte, a space or a control character.
    for (const char* bad : {R"({"accessToken":"a\u00e9","expires_on":1700003600})",
                            R"({"accessToken":"a\r\nX: y","expires_on":1700003600})",
                            R"({"accessToken":"a b","expires_on":1700003600})"}) {
      CAPTURE(bad);
      CHECK(detail::parse_az_token(bad, now, t) == errc::invalid_token);
    }
    CHECK(detail::parse_az_token(R"({"accessToken":"t","expires_on":-5})", now, t) ==
          errc::invalid_expiry);
    CHECK(detail::parse_az_token(R"({"accessToken":"t","expires_on":1.7e9})", now, t) ==
          errc::invalid_expiry);
  }

  TEST_CASE("local time text: with or without fractions, rejected when malformed") {
    std::tm tm{};
    tm.tm_year = 2030 - 1900;
    tm.tm_mon = 0;
    tm.tm_mday = 2;
    tm.tm_hour = 3;
    tm.tm_min = 4;
    tm.tm_sec = 5;
    tm.tm_isdst = -1;
    const long long expected = static_cast<long long>(std::mktime(&tm));
    CHECK(detail::parse_local_time("2030-01-02 03:04:05.123456") == expected);
    CHECK(detail::parse_local_time("2030-01-02 03:04:05") == expected);
    for (const char* bad :
         {"2030-01-02", "2030-13-02 03:04:05", "2030-02-30 03:04:05", "2030-01-02 03:04:05.",
          "2030-01-02 03:04:05Z", "soon", "1969-12-31 23:59:59"}) {
      CAPTURE(bad);
      CHECK_FALSE(detail::parse_local_time(bad).has_value());
    }
  }

  TEST_CASE("tool stderr: colours, carriage returns and tokens removed, trimmed, bounded") {
    CHECK(detail::tool_stderr_text("\r\n \x1b[1;31mERROR:\x1b[0m bad\r\n\n") == "ERROR: bad");
    CHECK(detail::tool_stderr_text(R"(got {"accessToken": "abc"} and eyJa.eyJb.c-d_e)") ==
          R"(got {"accessToken":"***"} and ***)");
    CHECK(detail::tool_stderr_text(std::string(5000, 'x')).size() < 1100);
  }

  TEST_CASE("small helpers: resource from scope, subscription rule, timeout text") {
    CHECK(detail::scope_to_resource("https://vault.azure.net/.default") ==
          "https://vault.azure.net");
    CHECK(detail::scope_to_resource("api://app/read") == "api://app/read");
    CHECK(detail::valid_subscription("My Sub_1.2-x"));
    CHECK_FALSE(detail::valid_subscription(""));
    CHECK_FALSE(detail::valid_subscription("a'b"));
    CHECK_FALSE(detail::valid_subscription("a\"b"));
    CHECK(detail::format_timeout(seconds{10}) == "10 s");
    CHECK(detail::format_timeout(milliseconds{1500}) == "1.5 s");
    CHECK(detail::format_timeout(milliseconds{300}) == "300 ms");
  }
}
