// ManagedIdentityCredential on testing::Platform: source detection, request shapes, identities,
// expiry formats, the IMDS probe and retry schedule (ManualClock, no sleeps), and every error row.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "azid/credentials/managed_identity.hpp"
#include "azid/testing/platform.hpp"

using namespace azid;
using namespace std::chrono;

namespace {
using Cred = ManagedIdentityCredential<testing::Platform>;
static_assert(Credential<Cred>);
static_assert(Credential<ManagedIdentityCredential<testing::Platform, mi::Imds>>);
static_assert(Credential<ManagedIdentityCredential<testing::Platform, mi::AppService, mi::Imds>>);

const std::string imds_ok =
    R"({"access_token":"mi.token.value","client_id":"c","expires_in":"3599","expires_on":"1700003599",)"
    R"("ext_expires_in":"3599","not_before":"1700000000","resource":"https://vault.azure.net","token_type":"Bearer"})";

TokenRequestContext vault() {
  TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}

ManagedIdentityCredentialOptions fast(ManagedIdentityCredentialOptions o = {}) {
  o.imds.jitter = 0;
  o.imds_authority = "http://127.0.0.1:9";  // never used for real: the transport is scripted
  return o;
}

struct LogCapture {
  std::vector<std::string> lines;
  std::mutex mu;
  explicit LogCapture(testing::Platform& p) {
    p.logger().set_level(LogLevel::debug);
    p.logger().set_sink([this](LogLevel, std::string_view m) {
      std::lock_guard lk(mu);
      lines.emplace_back(m);
    });
  }
  bool contains(std::string_view s) {
    std::lock_guard lk(mu);
    for (const auto& l : lines)
      if (l.find(s) != std::string::npos) return true;
    return false;
  }
};

std::string message(const TokenResult& r) {
  return r.ok() ? std::string() : r.error_info().message;
}
bool has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }
TokenRequestContext scope_of(std::string s) {
  TokenRequestContext c;
  c.scopes = {std::move(s)};
  return c;
}

// Holds every IMDS probe (the token GET without `Metadata`) until open() is called.
class GatedTransport {
 public:
  HttpResponse send(const HttpRequest& req, std::error_code& ec) {
    if (!req.headers.contains("Metadata")) {
      std::unique_lock lk(mu_);
      ++probes_;
      cv_.notify_all();
      cv_.wait(lk, [&] { return open_; });
    }
    return script.send(req, ec);
  }
  void wait_for_probe() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return probes_ > 0; });
  }
  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int probes() {
    std::lock_guard lk(mu_);
    return probes_;
  }
  testing::ScriptedTransport script;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int probes_ = 0;
};
using GatedPlatform = testing::BasicPlatform<GatedTransport>;

std::vector<long long> sleeps_ms(const testing::Platform& p) {
  std::vector<long long> out;
  for (auto d : p.clock().sleeps()) out.push_back(d.count());
  return out;
}
}  // namespace

TEST_SUITE("managed_identity") {
  TEST_CASE("sources are detected in the spec's order, first match wins") {
    struct Row {
      std::vector<std::pair<std::string, std::string>> env;
      ManagedIdentitySource want;
    };
    const std::vector<Row> rows = {
        {{}, ManagedIdentitySource::imds},
        {{{"AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:2"}},
         ManagedIdentitySource::imds},
        {{{"IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token"}, {"IDENTITY_HEADER", "h"}},
         ManagedIdentitySource::app_service},
        {{{"IDENTITY_ENDPOINT", "https://127.0.0.1:1/"},
          {"IDENTITY_HEADER", "h"},
          {"IDENTITY_SERVER_THUMBPRINT", "t"}},
         ManagedIdentitySource::service_fabric},
        {{{"MSI_ENDPOINT", "http://127.0.0.1:1/MSI/auth"}, {"MSI_SECRET", "s"}},
         ManagedIdentitySource::azure_ml},
        {{{"IDENTITY_ENDPOINT", "http://127.0.0.1:1/"}, {"IMDS_ENDPOINT", "http://127.0.0.1:2"}},
         ManagedIdentitySource::azure_arc},
        {{{"MSI_ENDPOINT", "http://127.0.0.1:1/oauth2/token"}}, ManagedIdentitySource::cloud_shell},
        // App Service wins over Azure ML and Arc when all are present.
        {{{"IDENTITY_ENDPOINT", "http://127.0.0.1:1/"},
          {"IDENTITY_HEADER", "h"},
          {"IMDS_ENDPOINT", "x"},
          {"MSI_ENDPOINT", "m"},
          {"MSI_SECRET", "s"}},
         ManagedIdentitySource::app_service},
        // Azure ML wins over Arc.
        {{{"IDENTITY_ENDPOINT", "http://127.0.0.1:1/"},
          {"IMDS_ENDPOINT", "x"},
          {"MSI_ENDPOINT", "m"},
          {"MSI_SECRET", "s"}},
         ManagedIdentitySource::azure_ml},
        // AKS workload identity: the webhook's variables, after every host source.
        {{{"AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token"},
          {"AZURE_TENANT_ID", "7a1e0f3c-1111-4222-8333-944455556666"},
          {"AZURE_AUTHORITY_HOST", "https://127.0.0.1:1/"},
          {"AZURE_CLIENT_ID", "c0ffee00-aaaa-4bbb-8ccc-ddddeeeeffff"}},
         ManagedIdentitySource::workload_identity},
        {{{"AZURE_FEDERATED_TOKEN_FILE", "/t"},
          {"AZURE_TENANT_ID", "t"},
          {"AZURE_AUTHORITY_HOST", "https://a/"}},
         ManagedIdentitySource::workload_identity},
        // AZURE_AUTHORITY_HOST is not needed (the inner credential defaults it).
        {{{"AZURE_FEDERATED_TOKEN_FILE", "/t"}, {"AZURE_TENANT_ID", "t"}},
         ManagedIdentitySource::workload_identity},
        {{{"AZURE_FEDERATED_TOKEN_FILE", "/t"}, {"AZURE_AUTHORITY_HOST", "https://a/"}},
         ManagedIdentitySource::imds},
        {{{"AZURE_FEDERATED_TOKEN_FILE", "/t"},
          {"AZURE_TENANT_ID", "t"},
          {"AZURE_AUTHORITY_HOST", "https://a/"},
          {"MSI_ENDPOINT", "http://127.0.0.1:1/oauth2/token"}},
         ManagedIdentitySource::cloud_shell},
    };
    for (const auto& row : rows) {
      testing::Platform p;
      for (const auto& [k, v] : row.env) p.environment().set(k, v);
      ManagedIdentityCredentialOptions o;
      o.arc_himds_path = "";
      Cred cred(o, p);
      CHECK(cred.source() == row.want);
      CHECK(p.transport().request_count() == 0);  // the constructor never sends anything
    }
  }

  TEST_CASE("workload identity: off by option or compile-time set, and named by client id only") {
    testing::Platform p;
    p.environment().set("AZURE_FEDERATED_TOKEN_FILE",
                        "/var/run/secrets/azure/tokens/azure-identity-token");
    p.environment().set("AZURE_TENANT_ID", "7a1e0f3c-1111-4222-8333-944455556666");
    p.environment().set("AZURE_AUTHORITY_HOST", "https://127.0.0.1:1/");
    ManagedIdentityCredentialOptions o = fast();
    o.arc_himds_path = "";
    o.allow_workload_identity = false;
    CHECK(Cred(o, p).source() == ManagedIdentitySource::imds);
    o.allow_workload_identity = true;
    CHECK((ManagedIdentityCredential<testing::Platform, mi::Imds, mi::CloudShell>(o, p).source() ==
           ManagedIdentitySource::imds));
    CHECK((ManagedIdentityCredential<testing::Platform, mi::WorkloadIdentity>(o, p).source() ==
           ManagedIdentitySource::workload_identity));

    // No AZURE_CLIENT_ID and no user-assigned client id: nothing names the identity.
    const TokenResult none = Cred(o, p).try_get_token(vault());
    REQUIRE(none.failure() == Failure::invalid_argument);
    CHECK(none.error_info().message.find("no client id is: set AZURE_CLIENT_ID") !=
          std::string::npos);
    // An object or resource id cannot name a federated identity.
    o.object_id = "9a8b7c6d-1111-4222-8333-444455556666";
    const TokenResult by_object = Cred(o, p).try_get_token(vault());
    REQUIRE(by_object.failure() == Failure::invalid_argument);
    CHECK(by_object.error_info().message.find("client id only") != std::string::npos);
    CHECK(p.transport().request_count() == 0);
  }

  TEST_CASE("the chosen source is logged at INFO without the identity header") {
    testing::Platform p;
    LogCapture logs(p);
    p.environment().set("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token");
    p.environment().set("IDENTITY_HEADER", "very-secret-header");
    Cred cred(p);
    CHECK(logs.contains("ManagedIdentityCredential will use the App Service source"));
    CHECK_FALSE(logs.contains("very-secret-header"));
  }

  TEST_CASE("an endpoint variable cannot forge a log line or reach a terminal through a message") {
    testing::Platform p;
    LogCapture logs(p);
    p.environment().set("IDENTITY_ENDPOINT", "http://127.0.0.1:1/\x1b[2J\nFORGED line");
    p.environment().set("IDENTITY_HEADER", "h");
    p.transport().push_error(make_error_code(errc::connect_failed));
    Cred cred(p);
    const TokenResult r = cred.try_get_token(vault());
    REQUIRE_FALSE(r.ok());
    CHECK(has(message(r), "http://127.0.0.1:1/?[2J?FORGED line"));
    CHECK(message(r).find_first_of("\x1b\n") == std::string::npos);
    CHECK(logs.contains("App Service source"));
    for (const auto& l : logs.lines)
      CHECK_MESSAGE(l.find_first_of("\x1b\n") == std::string::npos, l);
  }

  TEST_CASE("the Arc agent binary alone selects Azure Arc with its default endpoint") {
    testing::Platform p;
    p.files().set("/fake/himds", "ELF");
    ManagedIdentityCredentialOptions o;
    o.arc_himds_path = "/fake/himds";
    Cred cred(o, p);
    CHECK(cred.source() == ManagedIdentitySource::azure_arc);
    o.arc_himds_path = "/fake/absent";
    Cred other(o, p);
    CHECK(other.source() == ManagedIdentitySource::imds);
  }

  TEST_CASE("a compile-time source set ignores the others") {
    testing::Platform p;
    p.environment().set("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token");
    p.environment().set("IDENTITY_HEADER", "h");
    ManagedIdentityCredential<testing::Platform, mi::Imds> imds_only(fast(), p);
    CHECK(imds_only.source() == ManagedIdentitySource::imds);
  }

  TEST_CASE(
      "App Service without its variables: 'ManagedIdentityCredential authentication "
      "unavailable.'") {
    testing::Platform p;
    ManagedIdentityCredential<testing::Platform, mi::AppService> cred(p);
    CHECK(cred.source() == ManagedIdentitySource::none);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(message(r).rfind("ManagedIdentityCredential authentication unavailable.", 0) == 0);
    CHECK(has(message(r), "IDENTITY_ENDPOINT and IDENTITY_HEADER"));
    CHECK(p.transport().request_count() == 0);
    CHECK_THROWS_AS(cred.get_token(vault()), CredentialUnavailableError);
  }

  TEST_CASE("more than one user-assigned id is an argument error with MSAL's text") {
    testing::Platform p;
    ManagedIdentityCredentialOptions o = fast();
    o.client_id = "a";
    o.object_id = "b";
    Cred cred(o, p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::invalid_argument);
    CHECK(has(message(r),
              "You shall specify one of the three parameters: client_id, resource_id, object_id"));
    CHECK_THROWS_AS(cred.get_token(vault()), std::invalid_argument);
  }

  TEST_CASE("exactly one scope; /.default becomes the resource; a tenant is ignored") {
    testing::Platform p;
    Cred cred(fast(), p);
    TokenRequestContext none;
    CHECK(cred.try_get_token(none).failure() == Failure::invalid_argument);
    TokenRequestContext two;
    two.scopes = {"a/.default", "b/.default"};
    CHECK(has(message(cred.try_get_token(two)), "exactly one scope"));
    p.transport().push(200, imds_ok);
    auto ctx = vault();
    ctx.tenant_id = "some-other-tenant";
    CHECK(cred.get_token(ctx).token == "mi.token.value");
    const auto reqs0 = p.transport().requests();
    const auto& req = reqs0.at(0);
    CHECK(req.url ==
          "http://127.0.0.1:9/metadata/identity/oauth2/"
          "token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net");
    CHECK(req.headers.get("Metadata") == "true");
    CHECK(req.connect_timeout == milliseconds(2000));
  }

  TEST_CASE("a second call is served from the cache") {
    testing::Platform p;
    p.transport().push(200, imds_ok);
    Cred cred(fast(), p);
    (void)cred.get_token(vault());
    (void)cred.get_token(vault());
    CHECK(p.transport().request_count() == 1);
  }

  TEST_CASE("IMDS names user-assigned identities client_id, object_id and msi_res_id") {
    struct Row {
      ManagedIdentityCredentialOptions o;
      std::string param;
    };
    ManagedIdentityCredentialOptions a = fast(), b = fast(), c = fast();
    a.client_id = "cid";
    b.object_id = "oid";
    c.resource_id = "/subscriptions/s/rg/x";
    for (const auto& row : {Row{a, "&client_id=cid"}, Row{b, "&object_id=oid"},
                            Row{c, "&msi_res_id=%2Fsubscriptions%2Fs%2Frg%2Fx"}}) {
      testing::Platform p;
      p.transport().push(200, imds_ok);
      Cred cred(row.o, p);
      (void)cred.get_token(vault());
      CHECK(has(p.transport().requests().at(0).url, row.param));
    }
  }

  TEST_CASE(
      "AZURE_POD_IDENTITY_AUTHORITY_HOST replaces the IMDS authority, trailing slash stripped") {
    testing::Platform p;
    p.environment().set("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:2579/");
    p.transport().push(200, imds_ok);
    Cred cred(p);
    (void)cred.get_token(vault());
    CHECK(p.transport().requests().at(0).url.rfind(
              "http://127.0.0.1:2579/metadata/identity/oauth2/token?", 0) == 0);
  }

  TEST_CASE("a refused IMDS authority is quoted without its password or signature") {
    testing::Platform p;
    p.environment().set("AZURE_POD_IDENTITY_AUTHORITY_HOST",
                        "http://user:s3cretPW@127.0.0.1:2579/x?sig=SECRETSIG\r\nforged");
    Cred cred(p);
    const TokenResult r = cred.try_get_token(vault());
    REQUIRE_FALSE(r.ok());
    CHECK(has(message(r), "'http://REDACTED@127.0.0.1:2579/x' is not a valid IMDS authority"));
    CHECK_FALSE(has(message(r), "s3cretPW"));
    CHECK_FALSE(has(message(r), "SECRETSIG"));
    CHECK(p.transport().request_count() == 0);
  }

  TEST_CASE("App Service request shape and parameter names") {
    ManagedIdentityCredentialOptions sys, oid, rid, cid;
    oid.object_id = "oid";
    rid.resource_id = "rid";
    cid.client_id = "cid";
    const std::vector<std::pair<ManagedIdentityCredentialOptions, std::string>> rows = {
        {sys, ""}, {cid, "&client_id=cid"}, {oid, "&principal_id=oid"}, {rid, "&mi_res_id=rid"}};
    for (const auto& [o, param] : rows) {
      testing::Platform p;
      p.environment().set("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token");
      p.environment().set("IDENTITY_HEADER", "hdr");
      p.transport().push(
          200,
          R"({"access_token":"t","expires_on":"1700003600","resource":"r","token_type":"Bearer"})");
      Cred cred(o, p);
      auto tok = cred.get_token(vault());
      CHECK(tok.expires_on_unix() == 1700003600);
      const auto reqs0 = p.transport().requests();
      const auto& r = reqs0.at(0);
      CHECK(r.url ==
            "http://127.0.0.1:41741/msi/"
            "token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net" +
                param);
      CHECK(r.headers.get("X-IDENTITY-HEADER") == "hdr");
      CHECK(r.headers.get("Metadata") == "true");
    }
  }

  TEST_CASE("App Service errors carry the endpoint's message") {
    testing::Platform p;
    p.environment().set("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token");
    p.environment().set("IDENTITY_HEADER", "hdr");
    p.transport().push(
        400,
        R"({"statusCode":400,"message":"No managed identity found for the specified ClientId."})");
    Cred cred(p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(r.error_info().http_status == 400);
    CHECK(has(message(r), "No managed identity found for the specified ClientId."));
  }

  TEST_CASE("Service Fabric: Secret header, pinned thumbprint, no user-assigned ids, https only") {
    testing::Platform p;
    p.environment().set("IDENTITY_ENDPOINT",
                        "https://127.0.0.1:2377/metadata/identity/oauth2/token");
    p.environment().set("IDENTITY_HEADER", "sf-secret");
    p.environment().set("IDENTITY_SERVER_THUMBPRINT",
                        "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01");
    p.transport().push(
        200,
        R"({"token_type":"Bearer","access_token":"t","expires_on":1700003600,"resource":"r"})");
    Cred cred(p);
    CHECK(cred.get_token(vault()).expires_on_unix() == 1700003600);
    const auto reqs0 = p.transport().requests();
    const auto& r = reqs0.at(0);
    CHECK(r.url ==
          "https://127.0.0.1:2377/metadata/identity/oauth2/"
          "token?api-version=2019-07-01-preview&resource="
          "https%3A%2F%2Fvault.azure.net");
    CHECK(r.headers.get("Secret") == "sf-secret");
    CHECK(r.pinned_thumbprint == "abcdef0123456789abcdef0123456789abcdef01");

    ManagedIdentityCredentialOptions o;
    o.client_id = "x";
    Cred user(o, p);
    auto u = user.try_get_token(vault());
    CHECK(u.failure() == Failure::invalid_argument);
    CHECK(has(message(u), "is not supported by the Service Fabric managed identity environment"));

    SUBCASE("a thumbprint that is not SHA-1 hex") {
      p.environment().set("IDENTITY_SERVER_THUMBPRINT", "not-hex");
      Cred bad(p);
      CHECK(has(message(bad.try_get_token(vault())),
                "IDENTITY_SERVER_THUMBPRINT must be a SHA-1 certificate thumbprint"));
    }
    SUBCASE("a plain http endpoint") {
      p.environment().set("IDENTITY_ENDPOINT", "http://127.0.0.1:2377/");
      Cred bad(p);
      CHECK(has(message(bad.try_get_token(vault())), "must use HTTPS"));
    }
    CHECK(p.transport().request_count() == 1);
  }

  TEST_CASE("Cloud Shell posts the resource as a form and refuses user-assigned ids") {
    testing::Platform p;
    p.environment().set("MSI_ENDPOINT", "http://127.0.0.1:50342/oauth2/token");
    p.transport().push(200, imds_ok);
    Cred cred(p);
    (void)cred.get_token(vault());
    const auto reqs0 = p.transport().requests();
    const auto& r = reqs0.at(0);
    CHECK(r.method == "POST");
    CHECK(r.url == "http://127.0.0.1:50342/oauth2/token");
    CHECK(r.body == "resource=https%3A%2F%2Fvault.azure.net");
    CHECK(r.headers.get("Metadata") == "true");
    CHECK(r.headers.get("Content-Type") == "application/x-www-form-urlencoded");
    ManagedIdentityCredentialOptions o;
    o.resource_id = "r";
    Cred user(o, p);
    CHECK(has(message(user.try_get_token(vault())),
              "User-assigned managed identities are not supported in Cloud Shell environments"));
  }

  TEST_CASE(
      "Azure ML: secret header, clientid parameter, DEFAULT_IDENTITY_CLIENT_ID, client ids only") {
    testing::Platform p;
    p.environment().set("MSI_ENDPOINT", "http://127.0.0.1:46808/MSI/auth");
    p.environment().set("MSI_SECRET", "ml-secret");
    p.transport().push(
        200,
        R"({"access_token":"t","expires_on":"11/14/2023 23:13:20 +00:00","token_type":"Bearer"})");
    p.transport().push(200,
                       R"({"access_token":"t","expires_on":"1700003600","token_type":"Bearer"})");
    SUBCASE("system-assigned without a default client id") {
      Cred cred(p);
      CHECK(cred.get_token(vault()).expires_on_unix() == 1700003600);
      const auto reqs0 = p.transport().requests();
      const auto& r = reqs0.at(0);
      CHECK(r.url ==
            "http://127.0.0.1:46808/MSI/"
            "auth?api-version=2017-09-01&resource=https%3A%2F%2Fvault.azure.net");
      CHECK(r.headers.get("secret") == "ml-secret");
    }
    SUBCASE("system-assigned with DEFAULT_IDENTITY_CLIENT_ID") {
      p.environment().set("DEFAULT_IDENTITY_CLIENT_ID", "def");
      Cred cred(p);
      (void)cred.get_token(vault());
      CHECK(has(p.transport().requests().at(0).url, "&clientid=def"));
    }
    SUBCASE("user-assigned by client id") {
      ManagedIdentityCredentialOptions o;
      o.client_id = "cid";
      Cred cred(o, p);
      (void)cred.get_token(vault());
      CHECK(has(p.transport().requests().at(0).url, "&clientid=cid"));
    }
    SUBCASE("object ids are refused") {
      ManagedIdentityCredentialOptions o;
      o.object_id = "oid";
      Cred cred(o, p);
      CHECK(has(message(cred.try_get_token(vault())), "Only client id is supported"));
      CHECK(p.transport().request_count() == 0);
    }
  }

  TEST_CASE("Azure Arc refuses user-assigned ids before sending anything") {
    testing::Platform p;
    p.environment().set("IDENTITY_ENDPOINT",
                        "http://127.0.0.1:40342/metadata/identity/oauth2/token");
    p.environment().set("IMDS_ENDPOINT", "http://127.0.0.1:40342");
    ManagedIdentityCredentialOptions o;
    o.client_id = "cid";
    Cred cred(o, p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::invalid_argument);
    CHECK(
        has(message(r),
            "User assigned identity is not supported by the Azure Arc Managed Identity Endpoint"));
    CHECK(p.transport().request_count() == 0);
  }

  TEST_CASE("every expiry format of every source") {
    const std::vector<std::pair<std::string, long long>> bodies = {
        {R"({"access_token":"t","expires_on":1700003600})", 1700003600},
        {R"({"access_token":"t","expires_on":"1700003600"})", 1700003600},
        {R"({"access_token":"t","expires_in":3600})", 1700003600},
        {R"({"access_token":"t","expires_in":"3600"})", 1700003600},
        {R"({"access_token":"t","expires_on":"11/14/2023 23:13:20 +00:00"})", 1700003600},
        {R"({"access_token":"t","expires_on":"11/14/2023 11:13:20 PM +00:00"})", 1700003600},
        {R"({"access_token":"t","expires_on":"2023-11-14T23:13:20Z"})", 1700003600},
        {R"({"access_token":"t","expires_on":"Tue, 14 Nov 2023 23:13:20 GMT"})", 1700003600},
    };
    for (const auto& [body, want] : bodies) {
      testing::Platform p;
      p.transport().push(200, body);
      Cred cred(fast(), p);
      auto r = cred.try_get_token(vault());
      REQUIRE_MESSAGE(r.ok(), body);
      CHECK(r.token().expires_on_unix() == want);
    }
  }

  TEST_CASE("an unexpected 200 body is a failure that does not echo a token") {
    std::string body;
    SUBCASE("an unreadable expiry") {
      body = R"({"access_token":"leaky-token","expires_on":"never"})";
    }
    SUBCASE("a token with CR/LF, which would add a header to the caller's request") {
      body = R"({"access_token":"leaky-token\r\nX-Injected: yes","expires_in":3600})";
    }
    testing::Platform p;
    p.transport().push(200, body);
    Cred cred(fast(), p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(has(message(r), "Unexpected response"));
    CHECK_FALSE(has(message(r), "leaky-token"));
  }

  TEST_CASE("IMDS retries transient statuses with exponential backoff") {
    testing::Platform p;
    for (int s : {503, 500, 404, 429, 408}) p.transport().push(s, "{}");
    p.transport().push(200, imds_ok);
    Cred cred(fast(), p);
    CHECK(cred.try_get_token(vault()).ok());
    CHECK(p.transport().request_count() == 6);
    CHECK(sleeps_ms(p) == std::vector<long long>{2000, 4000, 8000, 16000, 32000});
  }

  TEST_CASE("IMDS backoff is jittered by at most 20%") {
    testing::Platform p;
    for (int i = 0; i < 3; ++i) p.transport().push(503, "{}");
    p.transport().push(200, imds_ok);
    auto o = fast();
    o.imds.jitter = 0.2;
    Cred cred(o, p);
    CHECK(cred.try_get_token(vault()).ok());
    const auto s = sleeps_ms(p);
    REQUIRE(s.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      const double base = 2000.0 * double(1 << i);
      CHECK(double(s[i]) >= base * 0.8 - 1);
      CHECK(double(s[i]) <= base * 1.2 + 1);
    }
  }

  TEST_CASE("IMDS exhausting its retries: 'Multiple attempts failed' with the inner failures") {
    testing::Platform p;
    for (int i = 0; i < 6; ++i)
      p.transport().push(
          500, R"({"error":"server_error","error_description":"boom )" + std::to_string(i) + "\"}");
    Cred cred(fast(), p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(has(message(r),
              "Multiple attempts failed to obtain a token from the managed identity endpoint."));
    CHECK(has(message(r), "attempt 1: 500 boom 0"));
    CHECK(has(message(r), "attempt 6: 500 boom 5"));
    CHECK(p.transport().request_count() == 6);
    CHECK_THROWS_AS(cred.get_token(vault()), ClientAuthenticationError);
  }

  TEST_CASE("IMDS honours Retry-After when it asks for more than the backoff") {
    testing::Platform p;
    p.transport().push(429, "{}", {{"Retry-After", "7"}});
    p.transport().push(429, "{}", {{"Retry-After", "1"}});  // less than the 4 s backoff
    p.transport().push(503, "{}",
                       {{"Retry-After", "Tue, 14 Nov 2023 22:14:20 GMT"}});  // an HTTP-date
    p.transport().push(200, imds_ok);
    Cred cred(fast(), p);
    CHECK(cred.try_get_token(vault()).ok());
    // The date is 60 s after the clock's 2023-11-14T22:13:20Z start, minus the 11 s slept so far.
    CHECK(sleeps_ms(p) == std::vector<long long>{7000, 4000, 49000});
  }

  TEST_CASE("IMDS 410: retried every 10 s or more until 70 s have passed") {
    testing::Platform p;
    for (int i = 0; i < 20; ++i) p.transport().push(410, R"({"error":"upgrading"})");
    Cred cred(fast(), p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(sleeps_ms(p) == std::vector<long long>{10000, 10000, 10000, 16000, 32000});
    long long total = 0;
    for (auto s : sleeps_ms(p)) total += s;
    CHECK(total >= 70000);
    CHECK(p.transport().request_count() == 6);
  }

  TEST_CASE("IMDS 410 keeps going past the retry count while the 70 s window is open") {
    testing::Platform p;
    for (int i = 0; i < 20; ++i) p.transport().push(410, "{}");
    auto o = fast();
    o.imds.max_retries = 2;
    Cred cred(o, p);
    (void)cred.try_get_token(vault());
    // 10, 10 (count reached at 20 s), then 10, 16, 32 while under 70 s.
    CHECK(sleeps_ms(p) == std::vector<long long>{10000, 10000, 10000, 16000, 32000});
  }

  TEST_CASE("IMDS retries stop within the total time bound") {
    testing::Platform p;
    for (int i = 0; i < 10; ++i) p.transport().push(503, "{}");
    auto o = fast();
    o.imds.max_total = seconds(10);
    Cred cred(o, p);
    (void)cred.try_get_token(vault());
    CHECK(sleeps_ms(p) == std::vector<long long>{2000, 4000});  // the next 8 s would end past 10 s
    CHECK(p.transport().request_count() == 3);
  }

  TEST_CASE("a Retry-After beyond the total bound ends the retries at once") {
    testing::Platform p;
    p.transport().push(429, "{}", {{"Retry-After", "3600"}});
    Cred cred(fast(), p);
    CHECK(cred.try_get_token(vault()).failure() == Failure::failed);
    CHECK(p.clock().sleeps().empty());
  }

  TEST_CASE("IMDS 400: the requested identity hasn't been assigned; remembered") {
    for (bool user : {false, true}) {
      testing::Platform p;
      p.transport().push(400,
                         R"({"error":"invalid_request","error_description":"Identity not found"})");
      auto o = fast();
      if (user) o.client_id = "cid";
      Cred cred(o, p);
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::unavailable);
      CHECK(has(message(r), "The requested identity hasn't been assigned to this resource."));
      CHECK(has(message(r), "Identity not found"));
      CHECK(has(message(r), user ? "user-assigned identity's id is correct"
                                 : "Enable the system-assigned identity"));
      CHECK(has(message(r), "No identity has been assigned to this resource.") == !user);
      CHECK(cred.try_get_token(vault()).failure() == Failure::unavailable);
      CHECK(p.transport().request_count() == 1);
      CHECK_THROWS_AS(cred.get_token(vault()), CredentialUnavailableError);
    }
  }

  TEST_CASE("IMDS itself answering 404 to the end: the generic failure, which stops a chain") {
    testing::Platform p;
    for (int i = 0; i < 6; ++i) p.transport().push(404, "not found");
    Cred cred(fast(), p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);  // not unavailable: DefaultAzureCredential stops here
    CHECK(has(message(r),
              "Multiple attempts failed to obtain a token from the managed identity endpoint."));
    CHECK_FALSE(has(message(r), "No managed identity endpoint found"));
    CHECK_FALSE(has(message(r), "pod identity"));
    CHECK_THROWS_AS(cred.get_token(vault()), ClientAuthenticationError);
  }

  TEST_CASE("IMDS 502/504: a gateway error, with the advice about proxies") {
    testing::Platform p;
    for (int i = 0; i < 6; ++i) p.transport().push(i % 2 ? 504 : 502, "Bad Gateway");
    Cred cred(fast(), p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(has(message(r), "The request failed due to a gateway error."));
    CHECK(has(message(r), "Calls via proxy or gateway aren't supported by IMDS"));
    CHECK(has(message(r), "NO_PROXY"));
  }

  TEST_CASE(
      "pod identity before the identity is ready: 404s with Retry-After, then 'No managed identity "
      "endpoint found'") {
    testing::Platform p;
    p.environment().set("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:2579");
    for (int i = 0; i < 6; ++i)
      p.transport().push(404, "no identity found for pod", {{"Retry-After", "20"}});
    auto o = fast();
    o.imds_authority.clear();  // the option would win over AZURE_POD_IDENTITY_AUTHORITY_HOST
    Cred cred(o, p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(has(message(r), "No managed identity endpoint found"));
    CHECK(has(message(r), "Retry-After"));
    CHECK(sleeps_ms(p) == std::vector<long long>{20000, 20000, 20000, 20000, 32000});
  }

  TEST_CASE("pod identity that becomes ready during the retries succeeds") {
    testing::Platform p;
    p.environment().set("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:2579");
    p.transport().push(404, "not ready", {{"Retry-After", "5"}});
    p.transport().push(200, imds_ok);
    Cred cred(fast(), p);
    CHECK(cred.try_get_token(vault()).ok());
    CHECK(sleeps_ms(p) == std::vector<long long>{5000});
  }

  TEST_CASE("other 4xx statuses, 501 and 505 fail at once") {
    // managed-identity.md §4.3: 5xx is retried, but for 501 and 505 (no retry can fix them).
    for (int status : {403, 501, 505}) {
      CAPTURE(status);
      testing::Platform p;
      p.transport().push(status, R"({"error":"forbidden","error_description":"nope"})");
      Cred cred(fast(), p);
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::failed);
      CHECK(has(message(r), "answered " + std::to_string(status) + ": nope"));
      CHECK(p.transport().request_count() == 1);
      CHECK(p.clock().sleeps().empty());
    }
  }

  TEST_CASE("Docker Desktop's 403 'unreachable network' or 'host' means IMDS is unavailable") {
    for (const char* body : {"A socket operation was attempted to an unreachable network.",
                             "A socket operation was attempted to an unreachable host."}) {
      CAPTURE(body);
      testing::Platform p;
      p.transport().push(403, body);
      Cred cred(fast(), p);
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::unavailable);
      CHECK(has(message(r), body));
    }
  }

  TEST_CASE("no response: a refused connect is not retried") {
    for (bool chain : {false, true}) {
      testing::Platform p;
      p.transport().push_error(make_error_code(errc::connect_failed));
      auto o = fast();
      o.within_default_chain = chain;
      o.imds_authority = "http://127.0.0.1:9";
      Cred cred(o, p);
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == (chain ? Failure::unavailable : Failure::failed));
      CHECK(p.transport().request_count() == 1);
      CHECK(p.clock().sleeps().empty());
      if (!chain)
        CHECK(has(message(r), "No response received from the managed identity endpoint"));
      else
        CHECK(has(message(r), "no managed identity endpoint found"));
    }
  }

  TEST_CASE("no response: read timeouts are retried, then reported as no response") {
    testing::Platform p;
    for (int i = 0; i < 3; ++i) p.transport().push_error(make_error_code(errc::timeout));
    auto o = fast();
    o.imds.max_retries = 2;
    Cred cred(o, p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(has(message(r), "No response received from the managed identity endpoint."));
    CHECK(has(message(r), "Multiple attempts failed"));
    CHECK(p.transport().request_count() == 3);
  }

  TEST_CASE("within a chain, IMDS is probed once: connect timeout short, read timeout full") {
    testing::Platform p;
    p.transport().push(
        400,
        R"({"error":"invalid_request","error_description":"Required metadata header not specified"})");
    p.transport().push(200, imds_ok);
    auto o = fast();
    o.within_default_chain = true;
    o.timeout = seconds(25);
    Cred cred(o, p);
    CHECK(cred.try_get_token(vault()).ok());
    auto reqs = p.transport().requests();
    REQUIRE(reqs.size() == 2);
    CHECK_FALSE(reqs[0].headers.contains("Metadata"));
    CHECK(reqs[0].connect_timeout == milliseconds(1000));
    CHECK(reqs[0].timeout == seconds(25));
    CHECK(reqs[1].headers.get("Metadata") == "true");
    // Another scope: no second probe.
    p.transport().push(200, imds_ok);
    TokenRequestContext other;
    other.scopes = {"https://storage.azure.com/.default"};
    CHECK(cred.try_get_token(other).ok());
    CHECK(p.transport().request_count() == 3);
  }

  TEST_CASE("a failed probe is remembered: later calls do no I/O") {
    testing::Platform p;
    p.transport().push_error(make_error_code(errc::connect_timeout));
    auto o = fast();
    o.within_default_chain = true;
    Cred cred(o, p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(has(message(r), "no managed identity endpoint found"));
    CHECK(cred.try_get_token(vault()).failure() == Failure::unavailable);
    CHECK(p.transport().request_count() == 1);
  }

  TEST_CASE("a probe that connects but gets no answer is unavailable, not retried") {
    testing::Platform p;
    p.transport().push_error(make_error_code(errc::timeout));
    auto o = fast();
    o.within_default_chain = true;
    Cred cred(o, p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(has(message(r), "no response from the IMDS endpoint"));
    CHECK(p.transport().request_count() == 1);
  }

  TEST_CASE("no probe standalone or with pod identity") {
    testing::Platform p;
    p.environment().set("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:2579");
    p.transport().push(200, imds_ok);
    ManagedIdentityCredentialOptions o;
    o.within_default_chain = true;
    Cred cred(o, p);
    CHECK(cred.try_get_token(vault()).ok());
    CHECK(p.transport().request_count() == 1);
    CHECK(p.transport().requests()[0].headers.get("Metadata") == "true");
  }

  TEST_CASE("an escaped member name, a cut body or a trimmed secret leaks nothing either") {
    const std::string token = "OPAQUE-SECRET-TOKEN-123";
    SUBCASE("a 200 whose access_token name is escaped") {
      testing::Platform p;
      LogCapture logs(p);
      p.transport().push(200, R"({"access\u005ftoken":")" + token + R"(","expires_in":"soon"})");
      Cred cred(fast(), p);
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::failed);
      CHECK(has(message(r), "Unexpected response"));
      CHECK_FALSE(has(message(r), "OPAQUE"));
      CHECK_FALSE(logs.contains("OPAQUE"));
    }
    SUBCASE("App Service echoing its header where the excerpt is cut") {
      const std::string header = "SUPERSECRETHEADERVALUE0123456789";
      testing::Platform p;
      LogCapture logs(p);
      p.environment().set("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token");
      p.environment().set("IDENTITY_HEADER", header);
      // The 300-byte excerpt ends inside the header's value.
      p.transport().push(
          401, R"({"statusCode":401,"message":")" + std::string(290, 'm') + " " + header + R"("})");
      Cred cred(fast(), p);
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::failed);
      CHECK_FALSE(has(message(r), "SUPERSEC"));
      CHECK_FALSE(logs.contains("SUPERSEC"));
    }
    SUBCASE("a header echoed JSON-escaped ('\\/', '\\u002B'), cut or not") {
      const std::string header = "k3y/Q9zX7w+R2mN5pL8vT4sB6";
      const std::string escaped = "k3y\\/Q9zX7w\\u002BR2mN5pL8vT4sB6";
      for (std::size_t pad : {0, 280}) {  // 280: the 300-byte cut falls inside the secret
        CAPTURE(pad);
        testing::Platform p;
        LogCapture logs(p);
        p.environment().set("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token");
        p.environment().set("IDENTITY_HEADER", header);
        p.transport().push(401, R"({"statusCode":401,"message":")" + std::string(pad, 'm') +
                                    " bad header " + escaped + R"("})");
        Cred cred(fast(), p);
        auto r = cred.try_get_token(vault());
        CHECK(r.failure() == Failure::failed);
        CHECK(r.error_info().http_status == 401);
        CHECK(has(message(r), "not shown: the response repeats the secret"));
        for (const char* piece : {"k3y/Q9", "k3y\\/Q9", "pL8vT4"}) {
          CHECK_FALSE(has(message(r), piece));
          CHECK_FALSE(logs.contains(piece));
        }
      }
    }
    SUBCASE("a header or key ending in a newline, echoed as sent (trimmed)") {
      testing::Platform p;
      LogCapture logs(p);
      p.environment().set("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token");
      p.environment().set("IDENTITY_HEADER", "TRAILINGNEWLINESECRET42\n");
      p.transport().push(401,
                         R"({"statusCode":401,"message":"bad header TRAILINGNEWLINESECRET42."})");
      Cred cred(fast(), p);
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::failed);
      CHECK(has(message(r), "not shown: the response repeats the secret"));
      CHECK_FALSE(has(message(r), "TRAILINGNEWLINE"));
      CHECK_FALSE(logs.contains("TRAILINGNEWLINE"));
    }
  }

  TEST_CASE("an IMDS answer that cannot be read fails at once, without retries") {
    for (errc e : {errc::body_too_large, errc::malformed_response, errc::headers_too_large}) {
      CAPTURE(static_cast<int>(e));
      testing::Platform p;
      for (int i = 0; i < 4; ++i) p.transport().push_error(make_error_code(e));
      Cred cred(fast(), p);
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::failed);
      CHECK(has(message(r), "answered with a response that could not be read"));
      CHECK_FALSE(has(message(r), "No response received"));
      CHECK(p.transport().request_count() == 1);
      CHECK(p.clock().sleeps().empty());
    }
  }

  TEST_CASE("no error message or log line carries a secret or a token") {
    const std::string header = "IDENTITY-HEADER-VALUE-9f8e";
    const std::string ml_secret = "MSI-SECRET-VALUE-7d6c";
    const std::string token = "TOKEN-VALUE-5b4a";
    auto check_clean = [&](LogCapture& logs, const TokenResult& r) {
      for (const auto& s : {header, ml_secret, token}) {
        CHECK_FALSE(has(message(r), s));
        CHECK_FALSE(logs.contains(s));
      }
    };
    // "{S}" is the secret the source sends (IDENTITY_HEADER, MSI_SECRET), echoed back by the
    // endpoint or something in front of it; IMDS sends none, so its bodies hold no secret.
    const std::vector<std::pair<int, std::string>> answers = {
        {400, R"({"statusCode":400,"message":"bad header {S}"})"},
        {401, R"({"error":"x","error_description":"the secret {S} was refused"})"},
        {403, "secret: {S}"},
        {404, R"({"message":"no identity; got {S}"})"},
        {500, R"({"access_token":")" + token + R"(","message":"{S}"})"},
        {200, R"({"access_token":")" + token + R"(","expires_on":"bogus","echo":"{S}"})"},
        {502, "gateway saw X-IDENTITY-HEADER {S}"},
    };
    for (const auto& [status, body_template] : answers) {
      for (int source = 0; source < 3; ++source) {
        CAPTURE(status);
        CAPTURE(source);
        const std::string secret = source == 0 ? header : source == 1 ? ml_secret : "";
        std::string body = body_template;
        if (const auto at = body.find("{S}"); at != std::string::npos) body.replace(at, 3, secret);
        if (source < 2) REQUIRE(has(body, secret));
        testing::Platform p;
        LogCapture logs(p);
        if (source == 0) {
          p.environment().set("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token");
          p.environment().set("IDENTITY_HEADER", header);
        } else if (source == 1) {
          p.environment().set("MSI_ENDPOINT", "http://127.0.0.1:1/MSI/auth");
          p.environment().set("MSI_SECRET", ml_secret);
        }
        for (int i = 0; i < 8; ++i) p.transport().push(status, body);
        auto o = fast();
        o.retry.base_delay = milliseconds(1);
        Cred cred(o, p);
        auto r = cred.try_get_token(vault());
        CHECK_FALSE(r.ok());
        check_clean(logs, r);
      }
    }
  }

  TEST_CASE("IMDS 400 for a resource it does not know fails that resource only, not remembered") {
    const std::vector<std::pair<std::string, std::string>> rows = {
        {R"({"error":"invalid_resource","error_description":"AADSTS500011: The resource principal named https://unknown.example was not found in the tenant named contoso.","error_codes":[500011]})",
         "AADSTS500011"},
        {R"({"error":"invalid_request","error_description":"AADSTS500011: The resource principal named https://unknown.example was not found."})",
         "AADSTS500011"},
        {R"({"error":"invalid_request","error_description":"Required audience parameter not specified"})",
         "Required audience parameter not specified"},
    };
    for (bool chain : {false, true}) {
      for (const auto& [body, detail] : rows) {
        CAPTURE(chain);
        CAPTURE(body);
        testing::Platform p;
        auto o = fast();
        o.within_default_chain = chain;
        if (chain) p.transport().push(400, R"({"error":"invalid_request"})");  // the probe's answer
        p.transport().push(400, body);
        p.transport().push(200, imds_ok);
        p.transport().push(400, body);
        Cred cred(o, p);
        const TokenResult bad = cred.try_get_token(scope_of("https://unknown.example/.default"));
        CHECK(bad.failure() == Failure::failed);
        CHECK(bad.error_info().http_status == 400);
        CHECK(has(message(bad), "IMDS refused the resource 'https://unknown.example' (400)"));
        CHECK(has(message(bad), detail));
        CHECK_FALSE(has(message(bad), "hasn't been assigned"));
        // The identity is fine: another resource gets its token...
        CHECK(cred.try_get_token(vault()).ok());
        // ...and the refused one is asked again, not answered from memory.
        const std::size_t before = p.transport().request_count();
        CHECK(cred.try_get_token(scope_of("https://unknown.example/.default")).failure() ==
              Failure::failed);
        CHECK(p.transport().request_count() == before + 1);
      }
    }
  }

  TEST_CASE("an empty or blank scope is an argument error, before any I/O") {
    for (const char* scope : {"", " ", "\t \n", "/.default", "  /.default"}) {
      CAPTURE(scope);
      testing::Platform p;
      Cred cred(fast(), p);
      const TokenResult r = cred.try_get_token(scope_of(scope));
      CHECK(r.failure() == Failure::invalid_argument);
      CHECK(has(message(r), "An invalid scope was provided: the scope is empty or blank"));
      CHECK_THROWS_AS(cred.get_token(scope_of(scope)), std::invalid_argument);
      CHECK(p.transport().request_count() == 0);
    }
  }

  TEST_CASE("workload identity needs no AZURE_AUTHORITY_HOST: the default authority host") {
    testing::Platform p;
    const std::string tenant = "7a1e0f3c-1111-4222-8333-944455556666";
    p.environment().set("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/token");
    p.environment().set("AZURE_TENANT_ID", tenant);
    p.environment().set("AZURE_CLIENT_ID", "c0ffee00-aaaa-4bbb-8ccc-ddddeeeeffff");
    p.files().set("/var/run/secrets/azure/tokens/token", "federated.jwt.value");
    p.transport().push(200,
                       R"({"token_type":"Bearer","expires_in":3599,"access_token":"wi.token"})");
    ManagedIdentityCredentialOptions o = fast();
    o.arc_himds_path = "";
    Cred cred(o, p);
    REQUIRE(cred.source() == ManagedIdentitySource::workload_identity);
    const TokenResult r = cred.try_get_token(vault());
    REQUIRE_MESSAGE(r.ok(), message(r));
    CHECK(r.token().token == "wi.token");
    const auto reqs = p.transport().requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].url == "https://login.microsoftonline.com/" + tenant + "/oauth2/v2.0/token");
    CHECK(has(reqs[0].body, "client_assertion=federated.jwt.value"));
  }

  TEST_CASE("the blocking IMDS probe holds no lock while it sends and logs") {
    testing::Platform p;
    detail::msi::State st;
    std::optional<bool> lock_free;
    p.logger().set_level(LogLevel::debug);
    p.logger().set_sink([&](LogLevel, std::string_view) {
      if (lock_free) return;
      // The probe's own log line, written while it is in flight. Another thread tries the lock
      // (a thread may not try a mutex it holds itself), as an async caller or a remembered()
      // call would take it.
      lock_free = std::async(std::launch::async, [&] {
                    if (!st.mu.try_lock()) return false;
                    st.mu.unlock();
                    return true;
                  }).get();
    });
    p.transport().push(
        400,
        R"({"error":"invalid_request","error_description":"Required metadata header not specified"})");
    const ManagedIdentityCredentialOptions o = fast();
    const ManagedIdentityId id = ManagedIdentityId::system_assigned();
    const detail::msi::Call c{
        "https://vault.azure.net", id, true, o.connect_timeout, o.timeout, o.retry, o.imds, {}};
    const TokenResult r = detail::msi::imds_probe(
        p, detail::msi::imds_url("http://127.0.0.1:9", c.resource, id), c, st);
    CHECK(r.failure() == Failure::none);
    REQUIRE(lock_free.has_value());
    CHECK(*lock_free);
    CHECK(st.probed);
    CHECK_FALSE(st.probing);
  }

  TEST_CASE("a log sink that calls the credential during the IMDS probe does not deadlock") {
    testing::Platform p;
    auto o = fast();
    o.within_default_chain = true;
    Cred cred(o, p);
    std::optional<TokenResult> nested;
    p.logger().set_level(LogLevel::info);
    p.logger().set_sink([&](LogLevel, std::string_view) {
      // The first line is the probe's request line: ask for another scope from inside the sink.
      if (nested) return;
      nested = TokenResult{};
      nested = cred.try_get_token(scope_of("https://storage.azure.com/.default"));
    });
    const std::string probe_answer = R"({"error":"invalid_request"})";
    p.transport().push(400, probe_answer);  // the outer probe
    p.transport().push(400, probe_answer);  // the nested call's own probe
    p.transport().push(200, imds_ok);       // the nested token
    p.transport().push(200, imds_ok);       // the outer token
    CHECK(cred.try_get_token(vault()).ok());
    REQUIRE(nested.has_value());
    CHECK(nested->ok());
    CHECK(p.transport().request_count() == 4);
  }

  TEST_CASE("concurrent blocking callers share one IMDS probe") {
    GatedPlatform p;
    p.transport().script.push(400, R"({"error":"invalid_request"})");  // the probe's answer
    p.transport().script.push(200, imds_ok);
    p.transport().script.push(200, imds_ok);
    auto o = fast();
    o.within_default_chain = true;
    ManagedIdentityCredential<GatedPlatform> cred(o, p);
    auto first = std::async(std::launch::async, [&] { return cred.try_get_token(vault()); });
    p.transport().wait_for_probe();
    auto second = std::async(std::launch::async, [&] {
      return cred.try_get_token(scope_of("https://storage.azure.com/.default"));
    });
    std::this_thread::sleep_for(milliseconds(200));  // the second caller reaches the probe
    p.transport().open();
    CHECK(first.get().ok());
    CHECK(second.get().ok());
    CHECK(p.transport().probes() == 1);
    CHECK(p.transport().script.request_count() == 3);
  }

  TEST_CASE("a malformed endpoint variable fails clearly, before any I/O, without its secrets") {
    struct Row {
      std::vector<std::pair<std::string, std::string>> env;
      ManagedIdentitySource source;
      std::string want;
    };
    const std::string thumbprint = "abcdef0123456789abcdef0123456789abcdef01";
    const std::vector<Row> rows = {
        {{{"IDENTITY_ENDPOINT", "http://user:s3cretPW@127.0.0.1:1/x?sig=SECRETSIG"},
          {"IDENTITY_HEADER", "h"}},
         ManagedIdentitySource::app_service,
         "'http://REDACTED@127.0.0.1:1/x' is not a valid App Service endpoint (IDENTITY_ENDPOINT)"},
        {{{"IDENTITY_ENDPOINT", "http://127.0.0.1:1/x#SECRETSIG"}, {"IDENTITY_HEADER", "h"}},
         ManagedIdentitySource::app_service,
         "'http://127.0.0.1:1/x' is not a valid App Service endpoint (IDENTITY_ENDPOINT)"},
        {{{"MSI_ENDPOINT", "not a url"}, {"MSI_SECRET", "s"}},
         ManagedIdentitySource::azure_ml,
         "'not a url' is not a valid Azure Machine Learning endpoint (MSI_ENDPOINT)"},
        {{{"MSI_ENDPOINT", "http://u:s3cretPW@127.0.0.1:1/token"}},
         ManagedIdentitySource::cloud_shell,
         "'http://REDACTED@127.0.0.1:1/token' is not a valid Cloud Shell endpoint (MSI_ENDPOINT)"},
        {{{"IDENTITY_ENDPOINT", "http://127.0.0.1:1/token#SECRETSIG"},
          {"IMDS_ENDPOINT", "http://127.0.0.1:2"}},
         ManagedIdentitySource::azure_arc,
         "'http://127.0.0.1:1/token' is not a valid Azure Arc endpoint (IDENTITY_ENDPOINT)"},
        {{{"IDENTITY_ENDPOINT", "https://u:s3cretPW@127.0.0.1:1/token"},
          {"IDENTITY_HEADER", "h"},
          {"IDENTITY_SERVER_THUMBPRINT", thumbprint}},
         ManagedIdentitySource::service_fabric,
         "'https://REDACTED@127.0.0.1:1/token' is not a valid Service Fabric endpoint "
         "(IDENTITY_ENDPOINT)"},
    };
    for (bool chain : {false, true}) {
      for (const auto& row : rows) {
        CAPTURE(chain);
        CAPTURE(row.want);
        testing::Platform p;
        LogCapture logs(p);
        for (const auto& [k, v] : row.env) p.environment().set(k, v);
        auto o = fast();
        o.arc_himds_path = "";
        o.within_default_chain = chain;
        Cred cred(o, p);
        REQUIRE(cred.source() == row.source);
        const TokenResult r = cred.try_get_token(vault());
        CHECK(r.failure() == Failure::failed);  // not unavailable: a chain stops here
        CHECK(has(message(r), "ManagedIdentityCredential authentication failed. " + row.want));
        CHECK_FALSE(has(message(r), "No response received"));
        for (const char* secret : {"s3cretPW", "SECRETSIG"}) {
          CHECK_FALSE(has(message(r), secret));
          CHECK_FALSE(logs.contains(secret));
        }
        CHECK(p.transport().request_count() == 0);
      }
    }
  }

  TEST_CASE("no query parameter is ever put inside a fragment") {
    std::string url = "http://127.0.0.1:1/token";
    CHECK(detail::msi::append_query(url, "resource", "r"));
    CHECK(url == "http://127.0.0.1:1/token?resource=r");
    url = "http://127.0.0.1:1/token#frag";
    CHECK_FALSE(detail::msi::append_query(url, "resource", "r"));
    CHECK(url.empty());
    std::string why;
    CHECK_FALSE(detail::msi::normalize_imds_authority("http://127.0.0.1:9#frag", why));
    CHECK(has(why, "is not a valid IMDS authority"));
  }

  TEST_CASE("Service Fabric requests never go through a proxy") {
    testing::Platform p;
    p.environment().set("HTTPS_PROXY", "http://proxy.example:3128");
    p.environment().set("IDENTITY_ENDPOINT",
                        "https://10.0.0.4:2377/metadata/identity/oauth2/token");
    p.environment().set("IDENTITY_HEADER", "sf-secret");
    p.environment().set("IDENTITY_SERVER_THUMBPRINT", "abcdef0123456789abcdef0123456789abcdef01");
    p.transport().push(
        200,
        R"({"token_type":"Bearer","access_token":"t","expires_on":1700003600,"resource":"r"})");
    Cred cred(p);
    REQUIRE(cred.source() == ManagedIdentitySource::service_fabric);
    CHECK(cred.try_get_token(vault()).ok());
    REQUIRE(p.transport().request_count() == 1);
    CHECK(p.transport().requests()[0].bypass_proxy);
  }
}
