// DefaultAzureCredential end to end: which member it picks in each setting, against the emulator
// over real TLS (Entra) and plain HTTP (IMDS / pod identity), with real child processes for the
// developer tools. The environment is a map; the test process's own environment is untouched.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "azid/default_azure_credential.hpp"
#include "azid/detail/token_json.hpp"
#include "confidential_fixture.hpp"
#include "fake_tools/fake_tools.hpp"
#include "test_certs.hpp"

using namespace azid;
using namespace std::chrono;
using azid_test::emu_client;
using azid_test::emu_tenant;
using azid_test::vault_scope;
namespace emu = azid_emulator;

namespace {
using Dac = DefaultAzureCredential<Exclude<>, azid_test::EmuPlatform>;
using Cloud =
    DefaultAzureCredential<Exclude<cred::AzureCli, cred::AzurePowerShell, cred::AzureDeveloperCli>,
                           azid_test::EmuPlatform>;
constexpr const char* subject = "system:serviceaccount:payments:api";

emu::Options plain() {
  emu::Options o;
  o.tls = false;
  o.metadata_host = emu::MetadataHost::imds;
  return o;
}
// A port nothing listens on: an emulator's, after it has gone.
std::string closed_url() {
  emu::Emulator e(plain());
  return e.base_url();
}

struct Fixture : azid_test::ConfidentialFixture {
  azid_test::TempDir dir;
  azid_test::ToolDir tools;  // empty: no az, pwsh or azd
  Fixture() {
    platform.environment().set("PATH", tools.path());
    platform.environment().set("HOME", tools.path());
    platform.environment().set("AZURE_AUTHORITY_HOST", emu.authority_host());
  }
  DefaultAzureCredentialOptions opts() const {
    DefaultAzureCredentialOptions o;
    o.retry.max_retries = 0;
    o.managed_identity.arc_himds_path = "";
    o.managed_identity.connect_timeout = milliseconds(1000);
    o.managed_identity.timeout = milliseconds(1500);
    o.process_timeout = milliseconds(5000);
    return o;
  }
  /// Managed identity through AKS pod identity at `url` (never the real IMDS address).
  void pod_identity(const std::string& url) {
    platform.environment().set("AZURE_POD_IDENTITY_AUTHORITY_HOST", url);
  }
  std::string appid(const AccessToken& t) const {
    std::string payload;
    REQUIRE(emu::verify_token(emu, t.token, payload));
    return detail::json_string_member(payload, "appid").value_or("");
  }
  bool logged(std::string_view s) {
    for (const auto& l : logs())
      if (l.find(s) != std::string::npos) return true;
    return false;
  }
};
bool has(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}
}  // namespace

TEST_SUITE("default_azure_credential_emulator") {
  TEST_CASE("EnvironmentCredential: a client secret in the environment wins the chain") {
    Fixture f;
    emu::Emulator mi(plain());
    f.pod_identity(mi.base_url());
    f.platform.environment().set("AZURE_TENANT_ID", emu_tenant);
    f.platform.environment().set("AZURE_CLIENT_ID", emu_client);
    f.platform.environment().set("AZURE_CLIENT_SECRET", "unused-secret");
    Dac dac(f.opts(), f.platform);
    const AccessToken t = dac.get_token(vault_scope());
    CHECK(f.appid(t) == emu_client);
    CHECK(dac.selected() == "EnvironmentCredential");
    CHECK(f.logged("DefaultAzureCredential acquired a token from EnvironmentCredential"));
    CHECK(mi.requests().empty());
    // Sticky and cached: the second call needs nothing new.
    (void)dac.get_token(vault_scope());
    CHECK(f.emu.requests().size() == 1);
  }

  TEST_CASE("EnvironmentCredential with a wrong secret stops the chain with the STS error") {
    Fixture f;
    emu::Emulator mi(plain());
    f.pod_identity(mi.base_url());
    f.platform.environment().set("AZURE_TENANT_ID", emu_tenant);
    f.platform.environment().set("AZURE_CLIENT_ID", emu_client);
    f.platform.environment().set("AZURE_CLIENT_SECRET", "wrong-secret-value");
    Dac dac(f.opts(), f.platform);
    const TokenResult r = dac.try_get_token(vault_scope());
    REQUIRE(r.failure() == Failure::failed);
    CHECK(has(r.error_info().message,
              "DefaultAzureCredential failed to retrieve a token from the included credentials."));
    CHECK(has(r.error_info().message, "AADSTS7000215"));
    CHECK_FALSE(has(r.error_info().message, "wrong-secret-value"));
    CHECK(mi.requests().empty());  // no fallback after a real failure
    CHECK(dac.selected().empty());
  }

  TEST_CASE("WorkloadIdentityCredential: the projected token file is exchanged") {
    Fixture f;
    emu::Emulator mi(plain());
    f.pod_identity(mi.base_url());
    f.emu.register_federated_credential(emu_tenant, emu_client, f.emu.oidc_issuer(), subject);
    f.platform.environment().set("AZURE_TENANT_ID", emu_tenant);
    f.platform.environment().set("AZURE_CLIENT_ID", emu_client);
    f.platform.environment().set(
        "AZURE_FEDERATED_TOKEN_FILE",
        f.dir.write("azure-identity-token", f.emu.issue_federated_token(subject)));
    Dac dac(f.opts(), f.platform);
    const AccessToken t = dac.get_token(vault_scope());
    CHECK(f.appid(t) == emu_client);
    CHECK(dac.selected() == "WorkloadIdentityCredential");
    CHECK(f.emu.requests().at(0).form_param("client_assertion"));
    CHECK(mi.requests().empty());
  }

  TEST_CASE(
      "ManagedIdentityCredential: AKS pod identity through AZURE_POD_IDENTITY_AUTHORITY_HOST") {
    Fixture f;
    emu::Emulator mi(plain());
    f.pod_identity(mi.base_url());
    Cloud dac(f.opts(), f.platform);
    const AccessToken t = dac.get_token(vault_scope());
    std::string payload;
    REQUIRE(emu::verify_token(mi, t.token, payload));
    CHECK(detail::json_string_member(payload, "appid") == mi.system_identity()->client_id);
    CHECK(dac.selected() == "ManagedIdentityCredential");
    REQUIRE(mi.requests().size() == 1);  // pod identity is not probed
    CHECK(mi.requests()[0].header("Metadata") == "true");
  }

  TEST_CASE(
      "ManagedIdentityCredential: IMDS is probed first, then asked for the user-assigned "
      "identity") {
    Fixture f;
    emu::Emulator mi(plain());
    const emu::ManagedIdentity user{
        "0b7f5e4e-1111-4222-8333-444455556666", "9a8b7c6d-1111-4222-8333-444455556666",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
        "userAssignedIdentities/app"};
    mi.assign_identity(user);
    f.platform.environment().set("AZURE_CLIENT_ID",
                                 user.client_id);  // managed_identity_client_id's default
    auto o = f.opts();
    o.managed_identity.imds_authority = mi.base_url();
    Cloud dac(o, f.platform);
    const AccessToken t = dac.get_token(vault_scope());
    std::string payload;
    REQUIRE(emu::verify_token(mi, t.token, payload));
    CHECK(detail::json_string_member(payload, "appid") == user.client_id);
    const auto reqs = mi.requests();
    REQUIRE(reqs.size() == 2);
    CHECK_FALSE(reqs[0].has_header("Metadata"));  // the probe
    CHECK(reqs[1].query_param("client_id") == user.client_id);
  }

  // (That the chain then moves on to a later member is the next test's: here managed identity is
  // the last member.)
  TEST_CASE("ManagedIdentityCredential on a closed port: unavailable at once, and listed as such") {
    Fixture f;
    f.pod_identity(closed_url());
    Cloud dac(f.opts(), f.platform);
    const auto start = steady_clock::now();
    const TokenResult r = dac.try_get_token(vault_scope());
    CHECK(steady_clock::now() - start < seconds(20));  // generous: a refused connect is immediate
    REQUIRE(r.failure() == Failure::unavailable);
    CHECK(has(r.error_info().message, "\tManagedIdentityCredential:"));
    CHECK_THROWS_AS((void)dac.get_token(vault_scope()), CredentialUnavailableError);
  }

  TEST_CASE("AzureCliCredential: a signed-in az after every other member was unavailable") {
    Fixture f;
    f.pod_identity(closed_url());
    const std::string token = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJkZXYifQ.c2ln";
    const long long expires =
        duration_cast<seconds>(system_clock::now().time_since_epoch()).count() + 3600;
    f.tools.script("az",
                   f.tools.record() + "printf '%s' " +
                       azid_test::sh_quote(R"({"accessToken":")" + token + R"(","expires_on":)" +
                                           std::to_string(expires) + R"(,"tokenType":"Bearer"})"));
    Dac dac(f.opts(), f.platform);
    const AccessToken t = dac.get_token(vault_scope());
    CHECK(t.token == token);
    CHECK(dac.selected() == "AzureCliCredential");
    CHECK(f.logged("DefaultAzureCredential acquired a token from AzureCliCredential"));
    CHECK(f.tools.runs() == 1);
  }

  TEST_CASE("developer machine with nothing signed in: the aggregated CredentialUnavailableError") {
    Fixture f;
    f.pod_identity(closed_url());
    f.tools.script("az", "echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1");
    Dac dac(f.opts(), f.platform);
    const TokenResult r = dac.try_get_token(vault_scope());
    REQUIRE(r.failure() == Failure::unavailable);
    const std::string& m = r.error_info().message;
    CHECK(
        m.rfind("DefaultAzureCredential failed to retrieve a token from the included credentials.",
                0) == 0);
    for (auto n : Dac::compiled_names) CHECK(has(m, "\t" + std::string(n) + ":"));
    CHECK(has(m, "az login"));
  }

  TEST_CASE("WorkloadIdentityCredential excluded: managed identity does not bring it back") {
    // The webhook's variables are all set, so a bare ManagedIdentityCredential would exchange the
    // federated token (test_workload_identity_emulator); inside a chain that left WorkloadIdentity
    // out it must not, and falls to pod identity, here a closed port.
    Fixture f;
    f.pod_identity(closed_url());
    f.emu.register_federated_credential(emu_tenant, emu_client, f.emu.oidc_issuer(), subject);
    f.platform.environment().set("AZURE_TENANT_ID", emu_tenant);
    f.platform.environment().set("AZURE_CLIENT_ID", emu_client);
    f.platform.environment().set(
        "AZURE_FEDERATED_TOKEN_FILE",
        f.dir.write("azure-identity-token", f.emu.issue_federated_token(subject)));
    TokenResult r;
    SUBCASE("at compile time: Exclude<cred::WorkloadIdentity>") {
      DefaultAzureCredential<Exclude<cred::WorkloadIdentity, cred::AzureCli, cred::AzurePowerShell,
                                     cred::AzureDeveloperCli>,
                             azid_test::EmuPlatform>
          dac(f.opts(), f.platform);
      r = dac.try_get_token(vault_scope());
    }
    SUBCASE("at run time: AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential") {
      f.platform.environment().set("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential");
      Dac dac(f.opts(), f.platform);
      r = dac.try_get_token(vault_scope());
    }
    CHECK(f.emu.requests().empty());  // Entra never saw the federated token
    REQUIRE_FALSE(r.ok());
    CHECK(has(r.error_info().message, "ManagedIdentityCredential"));
  }

  TEST_CASE("AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential against the emulator") {
    Fixture f;
    emu::Emulator mi(plain());
    f.platform.environment().set("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential");
    f.platform.environment().set("AZURE_TENANT_ID",
                                 emu_tenant);  // Environment would be incomplete anyway
    auto o = f.opts();
    o.managed_identity.imds_authority = mi.base_url();
    Dac dac(o, f.platform);
    REQUIRE(dac.try_get_token(vault_scope()).ok());
    const auto reqs = mi.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].header("Metadata") == "true");  // no probe
  }
}
