// WorkloadIdentityCredential on testing::Platform: configuration from options and environment,
// the federated token on the wire, and re-reading the rotated token file.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "../emulator/test_certs.hpp"
#include "azid/credentials/workload_identity.hpp"
#include "azid/platform/file_reader.hpp"
#include "azid/testing/platform.hpp"
#include "form_fields.hpp"

using namespace azid;
using namespace std::chrono;

namespace {
constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* client = "11111111-2222-3333-4444-555555555555";
constexpr const char* token_file = "/var/run/secrets/azure/tokens/azure-identity-token";
const std::string ok_body =
    R"({"token_type":"Bearer","expires_in":3599,"access_token":"header.payload.sig"})";

TokenRequestContext scope(std::string s = "https://vault.azure.net/.default") {
  TokenRequestContext c;
  c.scopes = {std::move(s)};
  return c;
}
using Cred = WorkloadIdentityCredential<testing::Platform>;
static_assert(Credential<Cred>);

testing::Platform webhook_env() {
  testing::Platform p;
  p.environment().set("AZURE_TENANT_ID", tenant);
  p.environment().set("AZURE_CLIENT_ID", client);
  p.environment().set("AZURE_FEDERATED_TOKEN_FILE", token_file);
  p.environment().set("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/");
  p.files().set(token_file, "federated.token.one\n");
  return p;
}
std::string assertion_of(const HttpRequest& r) {
  return azid_test::form_value(r.body, "client_assertion").value_or("");
}

// A testing platform whose files are real ones (PosixFileReader), for the rotation test.
class DiskPlatform : public testing::Platform {
 public:
  [[nodiscard]] const PosixFileReader& files() const noexcept { return files_; }

 private:
  PosixFileReader files_;
};
}  // namespace

TEST_SUITE("workload_identity") {
  TEST_CASE("the webhook's variables configure it and the file's token is the assertion") {
    auto p = webhook_env();
    p.transport().push(200, ok_body);
    Cred cred({}, p);
    CHECK(cred.get_token(scope()).token == "header.payload.sig");
    const auto r = p.transport().requests().at(0);
    CHECK(r.url ==
          std::string("https://login.microsoftonline.com/") + tenant + "/oauth2/v2.0/token");
    CHECK(assertion_of(r) == "federated.token.one");  // trailing newline trimmed
    CHECK(azid_test::form_value(r.body, "client_assertion_type") ==
          "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    CHECK(azid_test::form_value(r.body, "client_id") == client);
  }

  TEST_CASE("an authority_host option that is no URL is refused at construction") {
    WorkloadIdentityCredentialOptions o;
    o.authority_host = "https:/login.example";
    CHECK_THROWS_WITH_AS(Cred(o, webhook_env()), doctest::Contains("is an invalid authority"),
                         std::invalid_argument);
  }

  TEST_CASE("options override the environment") {
    auto p = webhook_env();
    p.files().set("/other/token", "federated.token.other");
    p.transport().push(200, ok_body);
    WorkloadIdentityCredentialOptions o;
    o.tenant_id = "contoso.onmicrosoft.com";
    o.client_id = "99999999-2222-3333-4444-555555555555";
    o.token_file_path = "/other/token";
    o.authority_host = std::string(AuthorityHosts::azure_government);
    (void)Cred(o, p).get_token(scope());
    const auto r = p.transport().requests().at(0);
    CHECK(r.url == "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token");
    CHECK(assertion_of(r) == "federated.token.other");
    CHECK(azid_test::form_value(r.body, "client_id") == o.client_id);
  }

  TEST_CASE("unconfigured: unavailable with the guide's message, naming what is missing") {
    testing::Platform p;
    p.environment().set("AZURE_CLIENT_ID", client);
    Cred cred({}, p);
    auto r = cred.try_get_token(scope());
    REQUIRE(r.failure() == Failure::unavailable);
    const std::string& m = r.error_info().message;
    CHECK(m.rfind("WorkloadIdentityCredential authentication unavailable. The workload options are "
                  "not fully "
                  "configured",
                  0) == 0);
    CHECK(m.find("tenant_id or AZURE_TENANT_ID") != std::string::npos);
    CHECK(m.find("token_file_path or AZURE_FEDERATED_TOKEN_FILE") != std::string::npos);
    CHECK(m.find("client_id or AZURE_CLIENT_ID") == std::string::npos);
    CHECK(m.find("https://aka.ms/azsdk/python/identity/workloadidentitycredential/troubleshoot") !=
          std::string::npos);
    CHECK_THROWS_AS((void)cred.get_token(scope()), CredentialUnavailableError);
  }

  TEST_CASE("a missing or empty token file fails naming the file, not its content") {
    auto p = webhook_env();
    SUBCASE("missing") { p.environment().set("AZURE_FEDERATED_TOKEN_FILE", "/nope"); }
    SUBCASE("empty") { p.files().set(token_file, "\n"); }
    Cred cred({}, p);
    auto r = cred.try_get_token(scope());
    REQUIRE(r.failure() == Failure::failed);
    CHECK(r.error_info().message.rfind("WorkloadIdentityCredential: the federated token file '",
                                       0) == 0);
    CHECK(p.transport().request_count() == 0);
  }

  TEST_CASE("the token file is re-read once the copy is 10 minutes old (Kubernetes rotates it)") {
    auto p = webhook_env();
    for (int i = 0; i < 3; ++i) p.transport().push(200, ok_body);
    Cred cred({}, p);
    (void)cred.get_token(scope("https://a/.default"));
    p.files().set(token_file, "federated.token.two");
    p.clock().advance(seconds(599));
    (void)cred.get_token(scope("https://b/.default"));
    p.clock().advance(seconds(1));
    (void)cred.get_token(scope("https://c/.default"));
    const auto reqs = p.transport().requests();
    CHECK(assertion_of(reqs[0]) == "federated.token.one");
    CHECK(assertion_of(reqs[1]) == "federated.token.one");
    CHECK(assertion_of(reqs[2]) == "federated.token.two");
  }

  TEST_CASE("a refused token is re-read on the next attempt") {
    auto p = webhook_env();
    p.transport().push(
        400,
        R"({"error":"invalid_client","error_description":"AADSTS700024: Client assertion is not within its valid time range.","error_codes":[700024]})");
    p.transport().push(200, ok_body);
    WorkloadIdentityCredentialOptions o;
    o.cache.retry_delay = seconds(0);
    Cred cred(o, p);
    CHECK(cred.try_get_token(scope()).failure() == Failure::failed);
    p.files().set(token_file, "federated.token.rotated");
    CHECK(cred.try_get_token(scope()).ok());
    CHECK(assertion_of(p.transport().requests().at(1)) == "federated.token.rotated");
  }

  TEST_CASE("rotation of a real file on disk") {
    azid_test::TempDir dir;
    DiskPlatform p;
    const std::string file = dir.write("token", "disk.token.one");
    p.environment().set("AZURE_TENANT_ID", tenant);
    p.environment().set("AZURE_CLIENT_ID", client);
    p.environment().set("AZURE_FEDERATED_TOKEN_FILE", file);
    p.transport().push(200, ok_body);
    p.transport().push(200, ok_body);
    WorkloadIdentityCredential<DiskPlatform> cred({}, p);
    (void)cred.get_token(scope("https://a/.default"));
    dir.write("token", "disk.token.two\n");
    p.clock().advance(minutes(11));
    (void)cred.get_token(scope("https://b/.default"));
    const auto reqs = p.transport().requests();
    CHECK(assertion_of(reqs[0]) == "disk.token.one");
    CHECK(assertion_of(reqs[1]) == "disk.token.two");
  }

  TEST_CASE("multi-tenant: AZURE_ADDITIONALLY_ALLOWED_TENANTS or the option") {
    auto ctx = scope();
    ctx.tenant_id = "contoso.onmicrosoft.com";
    auto p = webhook_env();
    CHECK(Cred({}, p).try_get_token(ctx).error_info().message.find(
              "The current credential is not configured to acquire tokens for tenant "
              "contoso.onmicrosoft.com") != std::string::npos);
    p.environment().set("AZURE_ADDITIONALLY_ALLOWED_TENANTS", "contoso.onmicrosoft.com");
    p.transport().push(200, ok_body);
    CHECK(Cred({}, p).try_get_token(ctx).ok());
    CHECK(p.transport().requests().at(0).url.find("/contoso.onmicrosoft.com/") !=
          std::string::npos);
  }

  TEST_CASE("caller mistakes in options throw; environment mistakes surface at get_token") {
    testing::Platform p;
    WorkloadIdentityCredentialOptions o;
    o.tenant_id = "bad tenant";
    CHECK_THROWS_AS(Cred(o, p), std::invalid_argument);
    auto q = webhook_env();
    q.environment().set("AZURE_AUTHORITY_HOST", "http://insecure.example");
    Cred cred({}, q);
    CHECK_THROWS_WITH_AS((void)cred.get_token(scope()), doctest::Contains("https"),
                         std::invalid_argument);
    auto bad_env = webhook_env();
    bad_env.environment().set("AZURE_TENANT_ID", "bad tenant");
    Cred from_env({}, bad_env);
    CHECK_THROWS_WITH_AS(
        (void)from_env.get_token(scope()),
        doctest::Contains("WorkloadIdentityCredential: the tenant ID (tenant_id or "
                          "AZURE_TENANT_ID) is not valid. Invalid tenant ID"),
        std::invalid_argument);
  }
}
