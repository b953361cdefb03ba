// DefaultAzureCredential on testing::Platform: the compile-time member list and Exclude<>,
// AZURE_TOKEN_CREDENTIALS, options reaching the members, stickiness, logs and the aggregated
// failure. Transport is scripted (no socket is opened); developer tools are real child processes
// on a PATH the test controls (none, unless a test writes a script).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "../emulator/fake_tools/fake_tools.hpp"
#include "azid/default_azure_credential.hpp"
#include "azid/detail/type_list.hpp"
#include "azid/testing/platform.hpp"
#include "form_fields.hpp"

using namespace azid;
using namespace std::chrono;

namespace {

// --- compile-time checks ------------------------------------------------------------------------

namespace tl = azid::detail;
struct A {};
struct B {};
struct C {};
static_assert(tl::size_v<tl::list<A, B, C>> == 3);
static_assert(tl::contains_v<tl::list<A, B>, B> && !tl::contains_v<tl::list<A, B>, C>);
static_assert(tl::index_of_v<tl::list<A, B, C>, C> == 2 && tl::index_of_v<tl::list<A, B>, C> == 2);
static_assert(std::is_same_v<tl::remove_all_t<tl::list<A, B, C, A>, tl::list<A>>, tl::list<B, C>>);
static_assert(std::is_same_v<tl::remove_all_t<tl::list<A, B>, tl::list<>>, tl::list<A, B>>);
static_assert(std::is_same_v<tl::rename_t<tl::list<A, B>, std::tuple>, std::tuple<A, B>>);

using Dac = DefaultAzureCredential<Exclude<>, testing::Platform>;
using Cloud =
    DefaultAzureCredential<Exclude<cred::AzureCli, cred::AzurePowerShell, cred::AzureDeveloperCli>,
                           testing::Platform>;
using NoCli = DefaultAzureCredential<Exclude<cred::AzureCli>, testing::Platform>;
static_assert(Credential<Dac> && Credential<Cloud> && Credential<DefaultAzureCredential<>>);
static_assert(Dac::compiled_count == 6 && Cloud::compiled_count == 3 && NoCli::compiled_count == 5);
static_assert(Dac::compiled_names[0] == "EnvironmentCredential" &&
              Dac::compiled_names[1] == "WorkloadIdentityCredential" &&
              Dac::compiled_names[2] == "ManagedIdentityCredential" &&
              Dac::compiled_names[3] == "AzureCliCredential" &&
              Dac::compiled_names[4] == "AzurePowerShellCredential" &&
              Dac::compiled_names[5] == "AzureDeveloperCliCredential");
static_assert(NoCli::compiled_names[3] == "AzurePowerShellCredential");
static_assert(Cloud::compiled_mask == 0x07 && NoCli::compiled_mask == 0x37);
// Exclusion order does not matter, nor does listing a tag twice.
static_assert(
    std::is_same_v<decltype(DefaultAzureCredential<Exclude<cred::AzureDeveloperCli, cred::AzureCli,
                                                           cred::AzureCli, cred::AzurePowerShell>,
                                                   testing::Platform>::compiled_names),
                   decltype(Cloud::compiled_names)>);
// The options have no tenant_id (upstream refuses it in DefaultAzureCredential).
template <class O>
concept has_tenant_id = requires(O o) {
  o.tenant_id;
};
template <class O>
concept has_workload_tenant_id = requires(O o) {
  o.workload_identity_tenant_id;
};
static_assert(!has_tenant_id<DefaultAzureCredentialOptions> &&
              has_workload_tenant_id<DefaultAzureCredentialOptions>);

// --- fixtures -----------------------------------------------------------------------------------

constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* client = "11111111-2222-3333-4444-555555555555";
const std::string entra_ok =
    R"({"token_type":"Bearer","expires_in":3599,"access_token":"header.payload.sig"})";
const std::string imds_ok =
    R"({"access_token":"mi.token","expires_on":"1700003600","resource":"r","token_type":"Bearer"})";

TokenRequestContext scope(std::string s = "https://vault.azure.net/.default") {
  TokenRequestContext c;
  c.scopes = {std::move(s)};
  return c;
}

struct Log {
  std::shared_ptr<std::mutex> mu = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::pair<LogLevel, std::string>>> lines =
      std::make_shared<std::vector<std::pair<LogLevel, std::string>>>();
  void attach(testing::Platform& p) const {
    p.logger().set_level(LogLevel::debug);
    p.logger().set_sink([mu = mu, lines = lines](LogLevel l, std::string_view m) {
      std::lock_guard lk(*mu);
      lines->emplace_back(l, std::string(m));
    });
  }
  [[nodiscard]] bool has(LogLevel level, std::string_view s) const {
    std::lock_guard lk(*mu);
    return std::any_of(lines->begin(), lines->end(), [&](const auto& l) {
      return l.first == level && l.second.find(s) != std::string::npos;
    });
  }
  [[nodiscard]] std::size_t count(std::string_view s) const {
    std::lock_guard lk(*mu);
    return static_cast<std::size_t>(std::count_if(lines->begin(), lines->end(), [&](const auto& l) {
      return l.second.find(s) != std::string::npos;
    }));
  }
};

/// No PATH (no tools), no Arc agent, IMDS answered by the scripted transport.
testing::Platform bare(const Log* log = nullptr) {
  testing::Platform p;
  if (log != nullptr) log->attach(p);
  return p;
}
DefaultAzureCredentialOptions quiet() {
  DefaultAzureCredentialOptions o;
  o.managed_identity.arc_himds_path = "";
  o.managed_identity.imds.jitter = 0;
  o.retry.max_retries = 0;
  return o;
}
void service_principal(testing::Platform& p) {
  p.environment().set("AZURE_TENANT_ID", tenant);
  p.environment().set("AZURE_CLIENT_ID", client);
  p.environment().set("AZURE_CLIENT_SECRET", "s3cr3t-value");
}
std::string message(const TokenResult& r) {
  return r.ok() ? std::string() : r.error_info().message;
}
bool has(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}
std::size_t pos(std::string_view s, std::string_view part) { return s.find(part); }
bool is_probe(const HttpRequest& r) { return r.headers.get("Metadata").empty(); }

}  // namespace

TEST_SUITE("default_azure_credential") {
  TEST_CASE("AZURE_TOKEN_CREDENTIALS parsing: trimmed, case-insensitive, dev / prod / one name") {
    CHECK(parse_azure_token_credentials("").mask == 0x3F);
    CHECK(parse_azure_token_credentials(" \t ").mask == 0x3F);
    CHECK(parse_azure_token_credentials("dev").mask == 0x38);
    CHECK(parse_azure_token_credentials("  DEV\n").mask == 0x38);
    CHECK(parse_azure_token_credentials("Prod").mask == 0x07);
    CHECK(parse_azure_token_credentials("EnvironmentCredential").mask == 0x01);
    CHECK(parse_azure_token_credentials("workloadidentitycredential").mask == 0x02);
    CHECK(parse_azure_token_credentials("MANAGEDIDENTITYCREDENTIAL").mask == 0x04);
    CHECK(parse_azure_token_credentials(" AzureCliCredential ").mask == 0x08);
    CHECK(parse_azure_token_credentials("AzurePowerShellCredential").mask == 0x10);
    CHECK(parse_azure_token_credentials("azuredeveloperclicredential").mask == 0x20);
    for (const char* ok : {"", "dev", "prod", "AzureCliCredential"})
      CHECK(parse_azure_token_credentials(ok).ok);

    for (const char* bad :
         {"developer", "dev,prod", "AzureCli", "VisualStudioCodeCredential", "*"}) {
      CAPTURE(bad);
      const auto s = parse_azure_token_credentials(bad);
      CHECK_FALSE(s.ok);
      CHECK(s.mask == 0);
      CHECK(has(s.error, std::string("Invalid value '") + bad + "'"));
      CHECK(has(s.error, "AZURE_TOKEN_CREDENTIALS"));
      CHECK(has(s.error,
                "'dev', 'prod', 'EnvironmentCredential', 'WorkloadIdentityCredential', "
                "'ManagedIdentityCredential', 'AzureCliCredential', 'AzurePowerShellCredential', "
                "'AzureDeveloperCliCredential'"));
    }
  }

  TEST_CASE("nothing configured: CredentialUnavailableError listing all six, in order") {
    Log log;
    auto p = bare(&log);
    Dac dac(quiet(), p);
    const TokenResult r = dac.try_get_token(scope());
    REQUIRE_FALSE(r.ok());
    CHECK(r.failure() == Failure::unavailable);
    const std::string m = message(r);
    CHECK(
        m.rfind("DefaultAzureCredential failed to retrieve a token from the included credentials.",
                0) == 0);
    CHECK(has(m, "Attempted credentials:"));
    std::size_t last = 0;
    for (auto n : Dac::compiled_names) {
      CAPTURE(n);
      const auto at = pos(m, std::string("\t") + std::string(n) + ":");
      REQUIRE(at != std::string::npos);
      CHECK(at > last);
      last = at;
    }
    CHECK(has(m, "Environment variables are not fully configured"));
    CHECK(has(m, "\tEnvironmentCredential: EnvironmentCredential authentication unavailable."));
    CHECK(has(m, "enable logging at INFO"));
    CHECK(has(
        m,
        "\tWorkloadIdentityCredential: WorkloadIdentityCredential authentication unavailable. The "
        "workload options are "
        "not fully configured"));
    CHECK(r.error_info().credential == "DefaultAzureCredential");
    CHECK(r.error_info().attempts.size() == 6);
    CHECK_THROWS_AS((void)dac.get_token(scope()), CredentialUnavailableError);
    CHECK(dac.selected().empty());
    CHECK(log.has(LogLevel::warning, "DefaultAzureCredential failed to retrieve a token"));
    // Managed identity was probed (no Metadata header, 1 s connect timeout), not retried.
    const auto reqs = p.transport().requests();
    REQUIRE_FALSE(reqs.empty());
    CHECK(is_probe(reqs.front()));
    CHECK(reqs.front().connect_timeout == milliseconds(1000));
    CHECK(p.clock().sleeps().empty());
  }

  TEST_CASE("Exclude<> removes members: they are neither tried nor listed") {
    auto p = bare();
    Cloud dac(quiet(), p);
    const std::string m = message(dac.try_get_token(scope()));
    CHECK(has(m, "ManagedIdentityCredential"));
    CHECK_FALSE(has(m, "AzureCliCredential"));
    CHECK_FALSE(has(m, "AzurePowerShellCredential"));
    CHECK_FALSE(has(m, "AzureDeveloperCliCredential"));
    CHECK(dac.enabled("EnvironmentCredential"));
    CHECK_FALSE(dac.enabled("AzureCliCredential"));
  }

  TEST_CASE("sticky: after the first success only that member is used, and the INFO log names it") {
    Log log;
    auto p = bare(&log);
    service_principal(p);
    p.transport().push(200, entra_ok);
    Dac dac(quiet(), p);
    CHECK(dac.selected().empty());
    REQUIRE(dac.try_get_token(scope()).ok());
    CHECK(dac.selected() == "EnvironmentCredential");
    CHECK(log.has(LogLevel::info,
                  "DefaultAzureCredential acquired a token from EnvironmentCredential"));
    CHECK(p.transport().request_count() == 1);

    // The same member fails next (another scope, not cached): its failure comes back as it is;
    // managed identity and the tools are not tried.
    p.transport().push(
        401,
        R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."})");
    const TokenResult r = dac.try_get_token(scope("https://storage.azure.com/.default"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.failure() == Failure::failed);
    CHECK(has(message(r), "AADSTS7000215"));
    CHECK_FALSE(has(message(r), "failed to retrieve a token from the included credentials"));
    CHECK(p.transport().request_count() == 2);
    for (const auto& q : p.transport().requests()) CHECK(has(q.url, "/oauth2/v2.0/token"));
    CHECK(dac.selected() == "EnvironmentCredential");
    CHECK(log.count("acquired a token from") == 1);
  }

  TEST_CASE("concurrent first calls: every caller gets the token, one request, one sticky member") {
    auto p = bare();
    service_principal(p);
    p.transport().push(200, entra_ok);
    const Dac dac(quiet(), p);
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&] {
        if (dac.try_get_token(scope()).ok()) ok.fetch_add(1);
      });
    for (auto& t : threads) t.join();
    CHECK(ok.load() == 8);
    CHECK(p.transport().request_count() == 1);
    CHECK(dac.selected() == "EnvironmentCredential");
  }

  TEST_CASE("once settled on a developer tool, its failures are its own, not unavailable") {
    // Inside the walk a tool that ran and failed is unavailable (Python's within_dac); after
    // the chain has settled on the tool, a failure propagates as the tool's own
    // ClientAuthenticationError and is logged as a standalone failure.
    azid_test::ToolDir d;
    d.script("az", "if [ -f " + d.file("once") + " ]; then echo 'ERROR: The refresh token has " +
                       "expired.' >&2; exit 1; fi\n: > " + d.file("once") +
                       "\necho '{\"accessToken\":\"cli-token\",\"expires_on\":1700003600}'");
    Log log;
    auto p = bare(&log);
    p.environment().set("PATH", d.path());
    p.environment().set("HOME", d.path());
    Dac dac(quiet(), p);
    const TokenResult first = dac.try_get_token(scope());
    REQUIRE_MESSAGE(first.ok(), message(first));
    CHECK(dac.selected() == "AzureCliCredential");
    const TokenResult second = dac.try_get_token(scope("https://storage.azure.com/.default"));
    CHECK(second.failure() == Failure::failed);
    CHECK(has(message(second), "The refresh token has expired."));
    CHECK(log.has(LogLevel::warning, "AzureCliCredential.get_token failed"));
  }

  TEST_CASE("a member that fails (not unavailable) stops the chain with the attempts so far") {
    auto p = bare();
    service_principal(p);
    p.transport().push(
        401,
        R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."})");
    Dac dac(quiet(), p);
    const TokenResult r = dac.try_get_token(scope());
    REQUIRE_FALSE(r.ok());
    CHECK(r.failure() == Failure::failed);
    CHECK(has(message(r),
              "DefaultAzureCredential failed to retrieve a token from the included credentials."));
    CHECK(has(message(r), "AADSTS7000215"));
    CHECK_FALSE(has(message(r), "ManagedIdentityCredential"));
    CHECK(p.transport().request_count() == 1);
    CHECK_THROWS_AS((void)dac.get_token(scope()), ClientAuthenticationError);
    // The secret never shows.
    CHECK_FALSE(has(message(r), "s3cr3t-value"));
  }

  TEST_CASE("construction logs what is included and excluded, and why") {
    SUBCASE("variable unset") {
      Log log;
      auto p = bare(&log);
      NoCli dac(quiet(), p);
      CHECK(log.has(LogLevel::info,
                    "DefaultAzureCredential: EnvironmentCredential is included "
                    "('AZURE_TOKEN_CREDENTIALS' environment "
                    "variable is not set)"));
      CHECK(log.has(LogLevel::info,
                    "DefaultAzureCredential: AzureCliCredential is excluded at compile time"));
      CHECK(log.has(LogLevel::info,
                    "DefaultAzureCredential: AzureDeveloperCliCredential is included"));
    }
    SUBCASE("variable set") {
      Log log;
      auto p = bare(&log);
      p.environment().set("AZURE_TOKEN_CREDENTIALS", "prod");
      NoCli dac(quiet(), p);
      CHECK(log.has(LogLevel::info,
                    "DefaultAzureCredential: ManagedIdentityCredential is included "
                    "('AZURE_TOKEN_CREDENTIALS' "
                    "environment variable is 'prod')"));
      CHECK(log.has(LogLevel::info,
                    "DefaultAzureCredential: AzurePowerShellCredential is excluded because the "
                    "'AZURE_TOKEN_CREDENTIALS' environment variable is 'prod'"));
    }
  }

  TEST_CASE("AZURE_TOKEN_CREDENTIALS=dev: only the developer tools are tried") {
    auto p = bare();
    service_principal(p);  // would succeed if tried
    p.transport().push(200, entra_ok);
    p.environment().set("AZURE_TOKEN_CREDENTIALS", " Dev ");
    Dac dac(quiet(), p);
    CHECK(dac.token_credentials() == "Dev");
    CHECK_FALSE(dac.enabled("EnvironmentCredential"));
    CHECK_FALSE(dac.enabled("ManagedIdentityCredential"));
    CHECK(dac.enabled("AzureCliCredential"));
    CHECK(dac.enabled("azureclicredential"));
    CHECK(dac.enabled("AzureDeveloperCliCredential"));
    CHECK_FALSE(dac.enabled("NoSuchCredential"));
    const TokenResult r = dac.try_get_token(scope());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(p.transport().request_count() == 0);
    const std::string m = message(r);
    CHECK_FALSE(has(m, "EnvironmentCredential"));
    CHECK(has(m, "\tAzureCliCredential:"));
    CHECK(has(m, "\tAzurePowerShellCredential:"));
    CHECK(has(m, "\tAzureDeveloperCliCredential:"));
  }

  TEST_CASE(
      "AZURE_TOKEN_CREDENTIALS=prod: Environment, WorkloadIdentity and ManagedIdentity only") {
    azid_test::ToolDir d;
    d.script("az", d.record() + "echo should-not-run >&2; exit 1");
    auto p = bare();
    p.environment().set("PATH", d.path());
    p.environment().set("AZURE_TOKEN_CREDENTIALS", "PROD");
    Dac dac(quiet(), p);
    const std::string m = message(dac.try_get_token(scope()));
    CHECK(has(m, "\tManagedIdentityCredential:"));
    CHECK_FALSE(has(m, "AzureCliCredential"));
    CHECK_FALSE(d.exists("runs"));
  }

  TEST_CASE("AZURE_TOKEN_CREDENTIALS names one credential: the chain is that credential") {
    auto p = bare();
    service_principal(p);
    p.environment().set("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential");
    Dac dac(quiet(), p);
    for (auto n : Dac::compiled_names) CHECK(dac.enabled(n) == (n == "AzureCliCredential"));
    const TokenResult r = dac.try_get_token(scope());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(r.error_info().attempts.size() == 1);
    CHECK(has(message(r), "\tAzureCliCredential:"));
    CHECK(p.transport().request_count() == 0);
  }

  TEST_CASE(
      "ManagedIdentityCredential alone through the variable: no probe, the full retry policy") {
    auto p = bare();
    p.environment().set("AZURE_TOKEN_CREDENTIALS", "managedidentitycredential");
    p.transport().push(503, "busy");
    p.transport().push(503, "busy");
    p.transport().push(200, imds_ok);
    Dac dac(quiet(), p);
    REQUIRE(dac.try_get_token(scope()).ok());
    CHECK(dac.selected() == "ManagedIdentityCredential");
    const auto reqs = p.transport().requests();
    REQUIRE(reqs.size() == 3);
    for (const auto& q : reqs) {
      CHECK_FALSE(is_probe(q));
      CHECK(q.connect_timeout == milliseconds(2000));
    }
    CHECK(p.clock().sleeps() == std::vector<milliseconds>{milliseconds(2000), milliseconds(4000)});
  }

  TEST_CASE(
      "in the full chain managed identity is probed first, then retried as usual once found") {
    auto p = bare();
    p.transport().push(
        400,
        R"({"error":"bad_request","error_description":"Required metadata header not specified"})");
    p.transport().push(503, "busy");
    p.transport().push(200, imds_ok);
    Dac dac(quiet(), p);
    REQUIRE(dac.try_get_token(scope()).ok());
    CHECK(dac.selected() == "ManagedIdentityCredential");
    const auto reqs = p.transport().requests();
    REQUIRE(reqs.size() == 3);
    CHECK(is_probe(reqs[0]));
    CHECK(reqs[0].connect_timeout == milliseconds(1000));
    CHECK_FALSE(is_probe(reqs[1]));
  }

  TEST_CASE("once settled on managed identity, its failures are its own, not unavailable") {
    // As for the developer tools: after the chain has settled, an IMDS outage is the
    // credential's own ClientAuthenticationError, logged at WARNING, not "unavailable" (which
    // would let an enclosing chain move on silently).
    Log log;
    auto p = bare(&log);
    p.transport().push(400, "{}");  // the probe's answer: IMDS is there
    p.transport().push(200, imds_ok);
    p.transport().push_error(make_error_code(errc::connect_failed));
    Dac dac(quiet(), p);
    REQUIRE(dac.try_get_token(scope()).ok());
    CHECK(dac.selected() == "ManagedIdentityCredential");
    const TokenResult second = dac.try_get_token(scope("https://storage.azure.com/.default"));
    CHECK(second.failure() == Failure::failed);
    CHECK(has(message(second), "ManagedIdentityCredential"));
    CHECK(log.has(LogLevel::warning, "ManagedIdentityCredential.get_token failed"));
    CHECK(p.transport().request_count() == 3);
  }

  TEST_CASE(
      "AZURE_TOKEN_CREDENTIALS invalid: no throw at construction, every call is an argument "
      "error") {
    Log log;
    auto p = bare(&log);
    service_principal(p);
    p.environment().set("AZURE_TOKEN_CREDENTIALS", "  Developer ");
    Dac dac(quiet(), p);  // does not throw
    CHECK(has(dac.configuration_error(),
              "Invalid value 'Developer' for the 'AZURE_TOKEN_CREDENTIALS' environment variable"));
    for (auto n : Dac::compiled_names) CHECK_FALSE(dac.enabled(n));
    const TokenResult r = dac.try_get_token(scope());
    CHECK(r.failure() == Failure::invalid_argument);
    CHECK(message(r) == dac.configuration_error());
    CHECK(r.error_info().credential == "DefaultAzureCredential");
    CHECK_THROWS_WITH_AS((void)dac.get_token(scope()),
                         doctest::Contains("Valid values are 'dev', 'prod'"),
                         std::invalid_argument);
    CHECK(p.transport().request_count() == 0);
    CHECK(log.has(LogLevel::error, "Invalid value 'Developer'"));
    // A value with a line break or a terminal escape cannot forge a log line or reach a terminal.
    auto q = bare();
    q.environment().set("AZURE_TOKEN_CREDENTIALS",
                        "dev\nINFO DefaultAzureCredential acquired a token\x1b[2J");
    Dac forged(quiet(), q);
    CHECK(has(forged.configuration_error(),
              "Invalid value 'dev?INFO DefaultAzureCredential acquired a token?[2J'"));
    // C1 controls written in UTF-8 (CSI is U+009B) and bytes that are not UTF-8 too.
    q.environment().set("AZURE_TOKEN_CREDENTIALS",
                        "dev\xc2\x9b"
                        "2J\x9b"
                        "caf\xc3\xa9");
    Dac c1(quiet(), q);
    CHECK(has(c1.configuration_error(), "Invalid value 'dev??2J?caf\xc3\xa9'"));
    // Cut at 128 bytes, before a UTF-8 sequence rather than inside it.
    q.environment().set("AZURE_TOKEN_CREDENTIALS", std::string(127, 'x') + "\xc3\xa9");
    Dac cut(quiet(), q);
    CHECK(has(cut.configuration_error(), "Invalid value '" + std::string(127, 'x') + "' for"));
  }

  TEST_CASE(
      "AZURE_TOKEN_CREDENTIALS names a credential that was compiled out: a clear argument error") {
    SUBCASE("one name") {
      auto p = bare();
      p.environment().set("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential");
      NoCli dac(quiet(), p);
      const std::string e(dac.configuration_error());
      CHECK(has(e,
                "('AzureCliCredential') selects AzureCliCredential, which this "
                "DefaultAzureCredential was compiled "
                "without (Exclude<...>)"));
      CHECK(dac.try_get_token(scope()).failure() == Failure::invalid_argument);
    }
    SUBCASE("dev with every tool excluded") {
      auto p = bare();
      p.environment().set("AZURE_TOKEN_CREDENTIALS", "dev");
      Cloud dac(quiet(), p);
      CHECK(has(
          dac.configuration_error(),
          "selects AzureCliCredential, AzurePowerShellCredential and AzureDeveloperCliCredential"));
      CHECK(has(dac.configuration_error(),
                "It was compiled with EnvironmentCredential, WorkloadIdentityCredential and "
                "ManagedIdentityCredential"));
      CHECK_THROWS_AS((void)dac.get_token(scope()), std::invalid_argument);
    }
    SUBCASE("dev with some tools left: narrowed, no error") {
      auto p = bare();
      p.environment().set("AZURE_TOKEN_CREDENTIALS", "dev");
      NoCli dac(quiet(), p);
      CHECK(dac.configuration_error().empty());
      CHECK(dac.enabled("AzurePowerShellCredential"));
    }
  }

  TEST_CASE("require mode: AZURE_TOKEN_CREDENTIALS must be set") {
    auto o = quiet();
    o.require_token_credentials_env = true;
    SUBCASE("unset") {
      auto p = bare();
      Dac dac(o, p);
      CHECK(has(dac.configuration_error(),
                "'AZURE_TOKEN_CREDENTIALS' environment variable is empty"));
      CHECK(dac.try_get_token(scope()).failure() == Failure::invalid_argument);
    }
    SUBCASE("blank") {
      auto p = bare();
      p.environment().set("AZURE_TOKEN_CREDENTIALS", "   ");
      Dac dac(o, p);
      CHECK(has(dac.configuration_error(), "is empty"));
    }
    SUBCASE("set") {
      auto p = bare();
      p.environment().set("AZURE_TOKEN_CREDENTIALS", "prod");
      Dac dac(o, p);
      CHECK(dac.configuration_error().empty());
      CHECK(dac.try_get_token(scope()).failure() == Failure::unavailable);
    }
  }

  TEST_CASE("options reach the members") {
    SUBCASE("authority_host and additionally_allowed_tenants reach EnvironmentCredential") {
      auto p = bare();
      service_principal(p);
      p.transport().push(200, entra_ok);
      auto o = quiet();
      o.authority_host = "https://login.example.test";
      o.additionally_allowed_tenants = {"0b2c8b7a-1111-4222-8333-444455556666"};
      Dac dac(o, p);
      auto ctx = scope();
      ctx.tenant_id = "0b2c8b7a-1111-4222-8333-444455556666";
      REQUIRE(dac.try_get_token(ctx).ok());
      CHECK(p.transport().requests().at(0).url ==
            "https://login.example.test/0b2c8b7a-1111-4222-8333-444455556666/oauth2/v2.0/token");
    }
    SUBCASE("without additionally_allowed_tenants another tenant is refused") {
      auto p = bare();
      service_principal(p);
      Dac dac(quiet(), p);
      auto ctx = scope();
      ctx.tenant_id = "0b2c8b7a-1111-4222-8333-444455556666";
      const TokenResult r = dac.try_get_token(ctx);
      CHECK_FALSE(r.ok());
      CHECK(p.transport().request_count() == 0);
    }
    SUBCASE(
        "workload identity: client and tenant ids from the options, token file from the "
        "environment") {
      auto p = bare();
      p.environment().set("AZURE_TENANT_ID", tenant);
      p.environment().set("AZURE_CLIENT_ID", client);
      p.environment().set("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/token");
      p.files().set("/var/run/secrets/token", "federated.jwt.value");
      p.transport().push(200, entra_ok);
      auto o = quiet();
      o.workload_identity_client_id = "99999999-2222-3333-4444-555555555555";
      o.workload_identity_tenant_id = "0b2c8b7a-1111-4222-8333-444455556666";
      Dac dac(o, p);
      REQUIRE(dac.try_get_token(scope()).ok());
      CHECK(dac.selected() == "WorkloadIdentityCredential");
      const auto q = p.transport().requests().at(0);
      CHECK(has(q.url, "/0b2c8b7a-1111-4222-8333-444455556666/oauth2/v2.0/token"));
      CHECK(azid_test::form_value(q.body, "client_id") == "99999999-2222-3333-4444-555555555555");
      CHECK(azid_test::form_value(q.body, "client_assertion") == "federated.jwt.value");
    }
    SUBCASE("workload identity client id falls back to managed_identity_client_id") {
      auto p = bare();
      p.environment().set("AZURE_TENANT_ID", tenant);
      p.environment().set("AZURE_FEDERATED_TOKEN_FILE", "/t");
      p.files().set("/t", "federated.jwt.value");
      p.transport().push(200, entra_ok);
      auto o = quiet();
      o.managed_identity_client_id = "88888888-2222-3333-4444-555555555555";
      Dac dac(o, p);
      REQUIRE(dac.try_get_token(scope()).ok());
      CHECK(azid_test::form_value(p.transport().requests().at(0).body, "client_id") ==
            "88888888-2222-3333-4444-555555555555");
    }
    SUBCASE("managed identity: AZURE_CLIENT_ID by default, managed_identity_client_id when given") {
      for (bool explicit_id : {false, true}) {
        CAPTURE(explicit_id);
        auto p = bare();
        p.environment().set("AZURE_CLIENT_ID", client);
        p.transport().push(400, "{}");  // the probe's answer: IMDS is there
        p.transport().push(200, imds_ok);
        auto o = quiet();
        if (explicit_id) o.managed_identity_client_id = "77777777-2222-3333-4444-555555555555";
        Dac dac(o, p);
        REQUIRE(dac.try_get_token(scope()).ok());
        const std::string url = p.transport().requests().at(1).url;
        CHECK(has(url, std::string("client_id=") +
                           (explicit_id ? "77777777-2222-3333-4444-555555555555" : client)));
      }
    }
    SUBCASE("managed identity options (a resource id) win over AZURE_CLIENT_ID") {
      auto p = bare();
      p.environment().set("AZURE_CLIENT_ID", client);
      p.transport().push(400, "{}");
      p.transport().push(200, imds_ok);
      auto o = quiet();
      o.managed_identity.resource_id =
          "/subscriptions/s/resourcegroups/g/providers/Microsoft.ManagedIdentity/"
          "userAssignedIdentities/u";
      Dac dac(o, p);
      REQUIRE(dac.try_get_token(scope()).ok());
      const std::string url = p.transport().requests().at(1).url;
      CHECK(has(url, "msi_res_id="));
      CHECK_FALSE(has(url, "client_id="));
    }
    SUBCASE("process_timeout reaches the tools, whose failures are unavailable") {
      azid_test::ToolDir d;
      d.script("az", "/bin/sleep 30");
      d.script("pwsh", "echo 'something odd' >&2; exit 3");
      auto p = bare();
      p.environment().set("PATH", d.path());
      p.environment().set("AZURE_TOKEN_CREDENTIALS", "dev");
      auto o = quiet();
      o.process_timeout = milliseconds(300);
      Dac dac(o, p);
      const auto start = steady_clock::now();
      const TokenResult r = dac.try_get_token(scope());
      // Well under the tools' own 10 s default, so the option must have reached them.
      CHECK(steady_clock::now() - start < seconds(6));
      CHECK(r.failure() == Failure::unavailable);
      CHECK(has(message(r),
                "AzureCliCredential: Failed to invoke the Azure CLI: it did not "
                "finish within 300 ms"));
      CHECK(has(message(r), "\tAzureDeveloperCliCredential:"));  // the chain went on past both
    }
    SUBCASE("an az that fails outright is unavailable inside the chain (standalone: failed)") {
      azid_test::ToolDir d;
      d.script("az", "echo 'ERROR: The command failed with an unexpected error.' >&2; exit 1");
      auto p = bare();
      p.environment().set("PATH", d.path());
      p.environment().set("HOME", d.path());
      p.environment().set("AZURE_TOKEN_CREDENTIALS", "dev");
      Dac dac(quiet(), p);
      const TokenResult r = dac.try_get_token(scope());
      CHECK(r.failure() == Failure::unavailable);
      CHECK(has(message(r), "The command failed with an unexpected error."));
      CHECK(has(message(r), "\tAzurePowerShellCredential:"));
      CHECK(AzureCliCredential<testing::Platform>({}, p).try_get_token(scope()).failure() ==
            Failure::failed);
    }
    SUBCASE("invalid options throw from the constructor, like the members") {
      auto p = bare();
      auto o = quiet();
      o.authority_host = "http://login.example.test";
      CHECK_THROWS_AS(Dac(o, p), std::invalid_argument);
      auto w = quiet();
      w.workload_identity_tenant_id = "not a tenant!";
      CHECK_THROWS_AS(Dac(w, p), std::invalid_argument);
    }
  }

  TEST_CASE(
      "an AZURE_CLIENT_ID-only environment: workload identity is unavailable with its construction "
      "message") {
    auto p = bare();
    p.environment().set("AZURE_CLIENT_ID", client);
    Cloud dac(quiet(), p);
    const std::string m = message(dac.try_get_token(scope()));
    // The member's own message, whole: the guide's phrase names the credential as its subject.
    CHECK(has(
        m,
        "\tWorkloadIdentityCredential: WorkloadIdentityCredential authentication unavailable. The "
        "workload options are "
        "not fully configured. See the troubleshooting guide for more information: "
        "https://aka.ms/azsdk/python/identity/workloadidentitycredential/troubleshoot (not "
        "set: tenant_id or AZURE_TENANT_ID; token_file_path or AZURE_FEDERATED_TOKEN_FILE)"));
  }
}
