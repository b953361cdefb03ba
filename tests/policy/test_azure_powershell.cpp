// AzurePowerShellCredential against real child processes: a stand-in `pwsh` script on a PATH the
// test controls, covering every row of the guide plus the script, timeouts and garbage.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "../emulator/fake_tools/fake_tools.hpp"
#include "azid/credentials/azure_powershell.hpp"
#include "azid/detail/base64.hpp"
#include "azid/testing/platform.hpp"

using namespace azid;
using namespace std::chrono;
using azid_test::platform_for;
using azid_test::sh_quote;
using azid_test::ToolDir;

namespace {
using Cred = AzurePowerShellCredential<testing::Platform>;
static_assert(Credential<Cred>);

constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* secret_token = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJwd3NoIn0.c2lnbmF0dXJl";
constexpr long long now_s = 1'700'000'000;

TokenRequestContext vault() {
  TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}

void pwsh_prints(const ToolDir& d, const std::string& out) {
  d.script("pwsh", d.record() + "printf '%s' " + sh_quote(out));
}
std::string token_line(long long expires) {
  return "WARNING: Upcoming breaking changes in the cmdlet 'Get-AzAccessToken'\n\nazsdk%" +
         std::string(secret_token) + "%" + std::to_string(expires) + "\n\n";
}
// GCC 12 warns about fields a designated initializer leaves out, so options are built by a lambda.
template <class F>
AzurePowerShellCredentialOptions opt(F f) {
  AzurePowerShellCredentialOptions o;
  f(o);
  return o;
}
bool mentions(const TokenResult& r, const std::string& s) {
  return r.error_info().message.find(s) != std::string::npos;
}

// The script pwsh was given, decoded from -EncodedCommand (base64 of UTF-16LE).
std::string decoded_script(const std::vector<std::string>& args) {
  REQUIRE(args.size() == 4);
  auto bytes = detail::base64_decode(args[3]);
  REQUIRE(bytes.has_value());
  REQUIRE(bytes->size() % 2 == 0);
  std::string ascii;
  for (std::size_t i = 0; i < bytes->size(); i += 2) {
    CHECK((*bytes)[i + 1] == '\0');
    ascii.push_back((*bytes)[i]);
  }
  return ascii;
}
}  // namespace

TEST_SUITE("azure_powershell") {
  TEST_CASE(
      "pwsh -NoProfile -NonInteractive -EncodedCommand runs the Get-AzAccessToken script from "
      "/bin") {
    ToolDir d;
    pwsh_prints(d, token_line(now_s + 3600));
    Cred cred(opt([](auto& o) { o.tenant_id = tenant; }), platform_for(d));
    auto tok = cred.get_token(vault());
    CHECK(tok.token == secret_token);
    CHECK(tok.expires_on_unix() == now_s + 3600);
    const auto args = d.lines("args");
    REQUIRE(args.size() == 4);
    CHECK(args[0] == "-NoProfile");
    CHECK(args[1] == "-NonInteractive");
    CHECK(args[2] == "-EncodedCommand");
    const std::string script = decoded_script(args);
    CHECK(script.find("Import-Module Az.Accounts -MinimumVersion 2.2.0 -PassThru") !=
          std::string::npos);
    CHECK(script.find("Write-Output 'NO_AZ_ACCOUNT_MODULE'") != std::string::npos);
    CHECK(script.find("ResourceUrl = 'https://vault.azure.net'") != std::string::npos);
    CHECK(script.find(std::string("$tenant = '") + tenant + "'") != std::string::npos);
    CHECK(script.find("[version]'2.17.0'") != std::string::npos);
    CHECK(script.find("[version]'5.0.0'") != std::string::npos);
    CHECK(script.find("Get-AzAccessToken @params") != std::string::npos);
    CHECK(script.find("azsdk%") != std::string::npos);
    CHECK(d.ran_in("/bin"));
  }

  TEST_CASE("without a tenant the script passes none") {
    ToolDir d;
    pwsh_prints(d, token_line(now_s + 3600));
    Cred cred({}, platform_for(d));
    REQUIRE(cred.try_get_token(vault()).ok());
    CHECK(decoded_script(d.lines("args")).find("$tenant = ''") != std::string::npos);
  }

  TEST_CASE("scope and tenant are validated before pwsh runs") {
    ToolDir d;
    pwsh_prints(d, token_line(now_s + 3600));
    Cred cred({}, platform_for(d));
    SUBCASE("a quote that would end the script's string") {
      auto ctx = vault();
      ctx.scopes = {"https://vault.azure.net/'; Remove-Item -Recurse ~; '"};
      CHECK(cred.try_get_token(ctx).failure() == Failure::invalid_argument);
    }
    SUBCASE("two scopes") {
      auto ctx = vault();
      ctx.scopes.push_back("https://storage.azure.com/.default");
      CHECK(cred.try_get_token(ctx).failure() == Failure::invalid_argument);
    }
    SUBCASE("tenant") {
      auto ctx = vault();
      ctx.tenant_id = "x'y";
      CHECK(cred.try_get_token(ctx).failure() == Failure::invalid_argument);
    }
    CHECK(d.runs() == 0);
  }

  TEST_CASE("PowerShell isn't installed: no pwsh on PATH, or exit 127") {
    ToolDir d;
    SUBCASE("not on PATH") {}
    SUBCASE("exit 127") { d.script("pwsh", "exit 127"); }
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "AzurePowerShellCredential: PowerShell isn't installed."));
    CHECK(mentions(r, "installing-powershell"));
    CHECK_THROWS_AS((void)cred.get_token(vault()), CredentialUnavailableError);
  }

  TEST_CASE("a warning that something 'is not recognized' does not undo a token") {
    ToolDir d;
    d.script("pwsh",
             "echo \"Write-Error: The term 'Set-PSReadLineOption' is not recognized as "
             "a name of a cmdlet\" >&2; printf '%s' " +
                 azid_test::sh_quote(token_line(now_s + 3600)));
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    REQUIRE(r);
    CHECK(r.token().token == secret_token);
  }

  TEST_CASE("Az.Accounts missing or older than 2.2.0 is unavailable") {
    ToolDir d;
    pwsh_prints(d, "NO_AZ_ACCOUNT_MODULE\n");
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "Az.Account module >= 2.2.0 isn't installed."));
  }

  TEST_CASE("not connected: 'Please run Connect-AzAccount to set up account' is unavailable") {
    ToolDir d;
    d.script("pwsh", "echo 'Get-AzAccessToken: Run Connect-AzAccount to login.' >&2; exit 1");
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "Please run 'Connect-AzAccount' to set up account."));
    CHECK(mentions(r, "Then check that 'Get-AzAccessToken' returns a token."));
  }

  TEST_CASE("an execution policy refusal is unavailable") {
    ToolDir d;
    d.script("pwsh", "echo 'Import-Module: AuthorizationManager check failed.' >&2; exit 1");
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "Execution policy prevented invoking Azure PowerShell"));
  }

  TEST_CASE("other script failures are unavailable and carry pwsh's stderr, trimmed and scrubbed") {
    ToolDir d;
    d.script("pwsh", std::string("printf '\\n\\nGet-AzAccessToken: something broke near ") +
                         secret_token + "\\n\\n' >&2; exit 1");
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r,
                   "Failed to invoke PowerShell: Get-AzAccessToken: something broke near ***. "
                   "Enable debug logging"));
    CHECK_FALSE(mentions(r, secret_token));
  }

  TEST_CASE("output without an azsdk% line is an authentication failure that does not quote it") {
    ToolDir d;
    SUBCASE("no marker") { pwsh_prints(d, std::string("Token : ") + secret_token + "\n"); }
    SUBCASE("marker without expiry") {
      pwsh_prints(d, std::string("azsdk%") + secret_token + "\n");
    }
    SUBCASE("expiry not a number") {
      pwsh_prints(d, std::string("azsdk%") + secret_token + "%tomorrow\n");
    }
    SUBCASE("expired") { pwsh_prints(d, token_line(now_s - 1)); }
    Cred cred({}, platform_for(d));
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(mentions(r, "Unexpected output from Get-AzAccessToken"));
    CHECK_FALSE(mentions(r, secret_token));
    Cred in_chain(opt([](auto& o) { o.within_default_chain = true; }), platform_for(d));
    CHECK(in_chain.try_get_token(vault()).failure() == Failure::unavailable);
  }

  TEST_CASE("a claims challenge is refused with the Connect-AzAccount command, before pwsh runs") {
    ToolDir d;
    pwsh_prints(d, token_line(now_s + 3600));
    Cred cred({}, platform_for(d));
    auto ctx = vault();
    ctx.claims = R"({"access_token":{"acrs":{"essential":true,"value":"c1"}}})";
    auto r = cred.try_get_token(ctx);
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "Failed to get token. Run Connect-AzAccount --ClaimsChallenge "));
    CHECK(d.runs() == 0);
  }

  TEST_CASE("a hanging pwsh is killed at process_timeout and the credential is unavailable") {
    ToolDir d;
    d.script("pwsh", "/bin/sleep 30");
    Cred cred(opt([](auto& o) { o.process_timeout = milliseconds{300}; }), platform_for(d));
    const auto t0 = steady_clock::now();
    auto r = cred.try_get_token(vault());
    CHECK(steady_clock::now() - t0 < seconds{3});
    CHECK(r.failure() == Failure::unavailable);
    CHECK(mentions(r, "Failed to invoke PowerShell: it did not finish within 300 ms"));
    CHECK(mentions(r, "troubleshoot"));
  }

  TEST_CASE("tokens are cached: the second call runs nothing") {
    ToolDir d;
    pwsh_prints(d, token_line(now_s + 3600));
    Cred cred({}, platform_for(d));
    (void)cred.get_token(vault());
    (void)cred.get_token(vault());
    CHECK(d.runs() == 1);
  }
}
