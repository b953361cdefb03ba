// Secret hygiene across every credential (issue #8): with a capturing Logger at DEBUG, drive error
// paths of each credential against the emulator (or stand-in developer tools), including servers
// and tools that echo secrets back, and check that no planted secret appears in a log line, an
// error message, an STS field or an exception's what(); then run the `azid` tool with secrets in
// its environment and check its stdout and stderr. It adds to confidential_secrets_emulator (the
// confidential-client paths): managed identity sources, developer tools, echoing servers, the CLI.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "azid/credentials/azure_cli.hpp"
#include "azid/credentials/azure_developer_cli.hpp"
#include "azid/credentials/azure_pipelines.hpp"
#include "azid/credentials/azure_powershell.hpp"
#include "azid/credentials/certificate.hpp"
#include "azid/credentials/client_assertion.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/credentials/environment.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/credentials/workload_identity.hpp"
#include "azid/detail/url.hpp"
#include "azid/platform/process_runner.hpp"
#include "confidential_fixture.hpp"
#include "emulator.hpp"
#include "fake_tools/fake_tools.hpp"
#include "test_certs.hpp"

using namespace azid;
using namespace std::chrono;
namespace emu = azid_emulator;
using azid_test::emu_client;
using azid_test::emu_tenant;
using azid_test::EmuPlatform;

namespace {

// Planted secrets: each at least 12 characters and unlike anything else a message could hold.
const std::string client_secret = "Hyg~Client.Secret-7f3a9b";
const std::string registered_secret = "Hyg~Registered.Secret-91c2d4";
const std::string cert_password = "Hyg-Wr0ng-Passw0rd-55e1";
const std::string assertion = "HYG-ASSERTION-not-a-jwt-5521";
const std::string system_token = "HYG-SYSTEM-ACCESS-TOKEN-0987";
const std::string identity_header = "hyg-identity-header-4455aa";
const std::string fabric_secret = "hyg-fabric-secret-6677bb";
const std::string ml_secret = "hyg-ml-secret-8899cc";
const std::string arc_key = "hyg-arc-key-value-3141592653";
const std::string opaque_token = "hyg-opaque-access-token-2718";
constexpr const char* mi_path = "/metadata/identity/oauth2/token";

TokenRequestContext vault() {
  TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}

// Every line any platform logged, and every message, STS field and what() seen.
struct Evidence {
  std::mutex mu;
  std::vector<std::string> logs;
  std::vector<std::string> texts;  // messages, STS fields, what()
  int failures = 0;

  void attach(Logger& l) {
    l.set_level(LogLevel::debug);
    l.set_sink([this](LogLevel, std::string_view m) {
      std::lock_guard lk(mu);
      logs.emplace_back(m);
    });
  }

  // Drives one error path twice: try_get_token (message and STS fields) and get_token (what()).
  template <class C>
  void drive(const char* what, const C& cred, const TokenRequestContext& ctx = vault()) {
    CAPTURE(what);
    const TokenResult r = cred.try_get_token(ctx);
    CHECK_FALSE(r.ok());
    if (r.ok()) return;
    ++failures;
    const ErrorInfo& e = r.error_info();
    CHECK_FALSE(e.message.empty());
    texts.push_back(e.message);
    if (e.sts) {
      texts.push_back(e.sts->error);
      texts.push_back(e.sts->error_description);
    }
    try {
      (void)cred.get_token(ctx);
      FAIL_CHECK("get_token returned a token on an error path");
    } catch (const std::exception& ex) {
      texts.emplace_back(ex.what());
    }
  }
};

EmuPlatform trusting(const emu::Emulator& e) {
  TransportOptions t;
  t.extra_ca_file = e.ca_file();
  t.use_system_trust = false;
  return EmuPlatform(t);
}

EmuPlatform untrusting() {
  TransportOptions t;
  t.use_system_trust = false;
  return EmuPlatform(t);
}

template <class O>
O quick(const emu::Emulator& e, O o = {}) {
  o.authority_host = e.authority_host();
  o.retry.max_retries = 0;
  o.timeout = milliseconds(1500);
  o.connect_timeout = milliseconds(1000);
  return o;
}

ManagedIdentityCredentialOptions mi_quick() {
  ManagedIdentityCredentialOptions o;
  o.imds.max_retries = 0;
  o.imds.jitter = 0;
  o.retry.max_retries = 0;
  o.timeout = milliseconds(1500);
  o.connect_timeout = milliseconds(1000);
  o.arc_himds_path = "";
  return o;
}

emu::Options plain(emu::MetadataHost host = emu::MetadataHost::imds) {
  emu::Options o;
  o.tls = false;
  o.metadata_host = host;
  return o;
}

// Queues `f` twice: Evidence::drive makes two calls, and both must meet the fault.
void twice(emu::Emulator& e, const std::string& prefix, const emu::Fault& f) {
  e.push_fault(prefix, f);
  e.push_fault(prefix, f);
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

// The azid tool, when this build has it.
#if defined(AZID_CLI_PATH)
struct CliRun {
  int exit_code = -1;
  std::string out, err;
};
CliRun run_cli(std::vector<std::string> args,
               std::vector<std::pair<std::string, std::string>> env) {
  ProcessSpec spec;
  spec.argv = {AZID_CLI_PATH};
  for (auto& a : args) spec.argv.push_back(std::move(a));
  // Nothing from the test process's own environment may steer the tool: blank the variables
  // it reads (an empty value counts as unset), then set this run's.
  for (const char* v : {"AZURE_TENANT_ID",
                        "AZURE_CLIENT_ID",
                        "AZURE_CLIENT_SECRET",
                        "AZURE_AUTHORITY_HOST",
                        "AZURE_CLIENT_CERTIFICATE_PATH",
                        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
                        "AZURE_FEDERATED_TOKEN_FILE",
                        "AZURE_ADDITIONALLY_ALLOWED_TENANTS",
                        "IDENTITY_ENDPOINT",
                        "IDENTITY_HEADER",
                        "IDENTITY_SERVER_THUMBPRINT",
                        "IMDS_ENDPOINT",
                        "MSI_ENDPOINT",
                        "MSI_SECRET",
                        "SYSTEM_OIDCREQUESTURI",
                        "SYSTEM_ACCESSTOKEN",
                        "HTTPS_PROXY",
                        "https_proxy",
                        "HTTP_PROXY",
                        "http_proxy",
                        "NO_PROXY",
                        "no_proxy",
                        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                        "SSL_CERT_DIR"})
    spec.env.emplace_back(v, "");
  for (auto& kv : env) spec.env.push_back(std::move(kv));
  spec.timeout = seconds(20);
  std::error_code ec;
  ProcessResult r = PosixProcessRunner{}.run(spec, ec);
  REQUIRE_FALSE(ec);
  return {r.exit_code, r.out, r.err};
}
#endif

}  // namespace

TEST_SUITE("secret_hygiene") {
  TEST_CASE(
      "no planted secret reaches a log line, a message, an STS field, what() or azid's output") {
    Evidence ev;
    std::vector<std::string> secrets = {client_secret, registered_secret, cert_password, assertion,
                                        system_token,  identity_header,   fabric_secret, ml_secret,
                                        arc_key,       opaque_token};
    azid_test::TempDir dir;

    // --- Confidential clients over TLS -------------------------------------------------------
    emu::Emulator sts;
    sts.register_app({emu_tenant, emu_client, registered_secret, false, {}});
    const auto& cert = azid_test::registered_cert();
    sts.register_certificate(emu_tenant, emu_client, cert.cert_pem);
    sts.register_federated_credential(emu_tenant, emu_client, sts.oidc_issuer(),
                                      "system:serviceaccount:ns:good");
    sts.set_pipelines_service_connection("hyg-conn", system_token, emu_tenant, emu_client);
    const std::string issued =
        sts.issue_token(emu_tenant, emu_client, "https://vault.azure.net", hours(1));
    secrets.push_back(issued);
    const std::string federated = sts.issue_federated_token("system:serviceaccount:ns:bad");
    secrets.push_back(federated);
    EmuPlatform p = trusting(sts);
    ev.attach(p.logger());
    using CS = ClientSecretCredential<EmuPlatform>;
    const auto cs_opts = quick<ClientSecretCredentialOptions>(sts);
    ev.drive("client secret: wrong secret", CS(emu_tenant, emu_client, client_secret, cs_opts, p));
    ev.drive("client secret: tenant unknown to Entra",
             CS("0d0d0d0d-1111-4222-8333-944455556666", emu_client, registered_secret, cs_opts, p));
    ev.drive("client secret: app unknown",
             CS(emu_tenant, "99999999-0000-4000-8000-000000000000", registered_secret, cs_opts, p));
    {
      auto other = vault();
      other.tenant_id = "contoso.onmicrosoft.com";
      ev.drive("client secret: tenant not allowed",
               CS(emu_tenant, emu_client, registered_secret, cs_opts, p), other);
    }
    // A token response whose expiry is unusable: the token must not be echoed.
    twice(sts, "/" + emu_tenant,
          emu::Fault::respond_with(200,
                                   R"({"access_token":")" + issued + R"(","expires_in":"never"})"));
    ev.drive("client secret: token with unusable expiry",
             CS(emu_tenant, emu_client, registered_secret, cs_opts, p));
    twice(sts, "/" + emu_tenant,
          emu::Fault::respond_with(200, R"({"accessToken":")" + opaque_token + R"("})"));
    ev.drive("client secret: token under the wrong name",
             CS(emu_tenant, emu_client, registered_secret, cs_opts, p));
    // A proxy or WAF in the way that echoes the request it refused, form body and all.
    sts.add_route("POST", "/echo-tenant/oauth2/v2.0/token",
                  [](const emu::RecordedRequest& r, const emu::RouteMatch&) {
                    emu::Reply reply;
                    reply.status = 400;
                    reply.headers = {{"Content-Type", "text/plain"}};
                    reply.body = "Request rejected by policy: " + r.body;
                    return reply;
                  });
    ev.drive("client secret: a proxy echoes the form body",
             CS("echo-tenant", emu_client, client_secret, cs_opts, p));
    sts.add_route(
        "POST", "/echo-json/oauth2/v2.0/token",
        [](const emu::RecordedRequest& r, const emu::RouteMatch&) {
          emu::Reply reply;
          reply.status = 400;
          reply.body =
              R"({"error":"invalid_request","error_description":"AADSTS900144: bad request body: )" +
              r.body + R"(","error_codes":[900144]})";
          return reply;
        });
    ev.drive("client secret: an STS error that echoes the form body",
             CS("echo-json", emu_client, client_secret, cs_opts, p));
    // The secret alone, inside the JSON error (not in name=value form), raw and URL-encoded.
    sts.add_route(
        "POST", "/echo-raw/oauth2/v2.0/token",
        [](const emu::RecordedRequest&, const emu::RouteMatch&) {
          emu::Reply reply;
          reply.status = 401;
          reply.body =
              R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: )" +
              client_secret + " (" + detail::url_encode(client_secret) +
              R"x()","error_codes":[7000215]})x";
          return reply;
        });
    ev.drive("client secret: an STS error that echoes the secret itself",
             CS("echo-raw", emu_client, client_secret, cs_opts, p));
    {
      // The same secret through AZURE_CLIENT_SECRET: EnvironmentCredential redacts it too.
      EmuPlatform ep = trusting(sts);
      ev.attach(ep.logger());
      ep.environment().set("AZURE_TENANT_ID", "echo-raw");
      ep.environment().set("AZURE_CLIENT_ID", emu_client);
      ep.environment().set("AZURE_CLIENT_SECRET", client_secret);
      ev.drive("environment: an STS error that echoes the secret itself",
               EnvironmentCredential<EmuPlatform>(quick<EnvironmentCredentialOptions>(sts), ep));
    }
    {
      CertificateCredentialOptions o = quick<CertificateCredentialOptions>(sts);
      o.password = cert_password;
      ev.drive("certificate: wrong password",
               CertificateCredential<EmuPlatform>(emu_tenant, emu_client,
                                                  dir.write("c.pfx", cert.pkcs12), o, p));
      o.password = cert.password;
      ev.drive("certificate: proxy echoes the assertion",
               CertificateCredential<EmuPlatform>("echo-tenant", emu_client,
                                                  dir.write("c.pem", cert.encrypted_pem), o, p));
    }
    ev.drive("client assertion: rejected", ClientAssertionCredential<EmuPlatform>(
                                               emu_tenant, emu_client, [] { return assertion; },
                                               quick<ClientAssertionCredentialOptions>(sts), p));
    ev.drive("client assertion: echoed by a proxy",
             ClientAssertionCredential<EmuPlatform>(
                 "echo-tenant", emu_client, [] { return assertion; },
                 quick<ClientAssertionCredentialOptions>(sts), p));
    {
      auto o = quick<WorkloadIdentityCredentialOptions>(sts);
      o.tenant_id = emu_tenant;
      o.client_id = emu_client;
      o.token_file_path = dir.write("federated", federated);
      ev.drive("workload identity: subject not federated",
               WorkloadIdentityCredential<EmuPlatform>(o, p));
    }
    // An STS or gateway that quotes the assertion as a JSON value and in its own words, not as
    // name=value: a signed JWT (or federated token) is valid for minutes and could be replayed.
    auto quoted = std::make_shared<std::vector<std::string>>();
    sts.add_route("POST", "/echo-assertion/oauth2/v2.0/token",
                  [quoted](const emu::RecordedRequest& r, const emu::RouteMatch&) {
                    const std::string a = r.form_param("client_assertion").value_or("");
                    quoted->push_back(a);
                    emu::Reply reply;
                    reply.status = 400;
                    reply.body =
                        R"({"error":"invalid_request","error_description":"AADSTS50027: JWT )" + a +
                        R"( is invalid.","request":{"client_assertion":")" + a +
                        R"("},"error_codes":[50027]})";
                    return reply;
                  });
    {
      CertificateCredentialOptions o = quick<CertificateCredentialOptions>(sts);
      o.password = cert.password;
      ev.drive("certificate: an STS error that quotes the signed assertion",
               CertificateCredential<EmuPlatform>("echo-assertion", emu_client,
                                                  dir.write("q.pem", cert.encrypted_pem), o, p));
      auto w = quick<WorkloadIdentityCredentialOptions>(sts);
      w.tenant_id = "echo-assertion";
      w.client_id = emu_client;
      w.token_file_path = dir.write("federated-q", federated);
      ev.drive("workload identity: an STS error that quotes the federated token",
               WorkloadIdentityCredential<EmuPlatform>(w, p));
      REQUIRE(quoted->size() >= 3);  // the route saw them: the check below is not vacuous
      for (const auto& a : *quoted) {
        REQUIRE(a.rfind("eyJ", 0) == 0);
        secrets.push_back(a);
      }
      // An opaque assertion (not JWT-shaped) with characters the form encodes: the server
      // echoes it decoded, and only the exact-value redaction can catch it.
      const std::string opaque = "HYG+Opaque/Assertion=value-77";
      ev.drive("client assertion: an STS error that quotes an opaque assertion",
               ClientAssertionCredential<EmuPlatform>(
                   "echo-assertion", emu_client, [opaque] { return opaque; },
                   quick<ClientAssertionCredentialOptions>(sts), p));
      REQUIRE(quoted->back() == opaque);
      secrets.push_back(opaque);
    }
    p.environment().set("SYSTEM_OIDCREQUESTURI", sts.pipelines_oidc_request_uri());
    ev.drive("pipelines: bad system token",
             AzurePipelinesCredential<EmuPlatform>(emu_tenant, emu_client, "hyg-conn",
                                                   "bad-" + system_token,
                                                   quick<AzurePipelinesCredentialOptions>(sts), p));
    twice(sts, "/azid-org/", emu::Fault::respond_with(401, "Unauthorized: token " + system_token));
    ev.drive("pipelines: OIDC endpoint echoes the system token",
             AzurePipelinesCredential<EmuPlatform>(emu_tenant, emu_client, "hyg-conn", system_token,
                                                   quick<AzurePipelinesCredentialOptions>(sts), p));

    // --- Managed identity ------------------------------------------------------------------
    using MI = ManagedIdentityCredential<EmuPlatform>;
    {
      emu::Emulator imds(plain());
      EmuPlatform mp = untrusting();
      ev.attach(mp.logger());
      auto o = mi_quick();
      o.imds_authority = imds.base_url();
      twice(imds, mi_path,
            emu::Fault::respond_with(200,
                                     R"({"access_token":")" + issued + R"(","expires_on":"x"})"));
      ev.drive("IMDS: token with unusable expiry", MI(o, mp));
      o.client_id = "not-assigned-client";
      ev.drive("IMDS: identity not assigned", MI(o, mp));
    }
    {
      emu::Emulator app(plain());
      app.set_identity_header(identity_header);
      EmuPlatform mp = untrusting();
      ev.attach(mp.logger());
      mp.environment().set("IDENTITY_ENDPOINT", app.base_url() + "/msi/token");
      mp.environment().set("IDENTITY_HEADER", "wrong-" + identity_header);
      ev.drive("App Service: wrong identity header", MI(mi_quick(), mp));
      mp.environment().set("IDENTITY_HEADER", identity_header);
      twice(app, "/msi/token",
            emu::Fault::respond_with(
                500, R"({"message":"header )" + identity_header + R"( is not accepted here"})"));
      ev.drive("App Service: endpoint echoes the identity header", MI(mi_quick(), mp));
      twice(app, "/msi/token",
            emu::Fault::respond_with(400, "X-IDENTITY-HEADER: " + identity_header));
      ev.drive("App Service: plain-text echo", MI(mi_quick(), mp));
    }
    {
      emu::Emulator arc(plain(emu::MetadataHost::arc));
      EmuPlatform mp = untrusting();
      ev.attach(mp.logger());
      mp.environment().set("IDENTITY_ENDPOINT", arc.base_url() + mi_path);
      mp.environment().set("IMDS_ENDPOINT", arc.base_url());
      const std::string key_file =
          (std::filesystem::path(arc.arc_key_dir()) / "hygiene.key").string();
      std::ofstream(key_file) << arc_key;
      auto o = mi_quick();
      o.arc_key_directory = arc.arc_key_dir();
      // The challenge names our key file; the keyed request is then refused with the key echoed.
      const auto challenge =
          emu::Fault::respond_with(401, "", {{"WWW-Authenticate", "Basic realm=" + key_file}});
      for (int i = 0; i < 2; ++i) {
        arc.push_fault(mi_path, challenge);
        arc.push_fault(mi_path, emu::Fault::respond_with(
                                    400, R"({"error":"bad key","error_description":"Basic )" +
                                             arc_key + R"( rejected"})"));
      }
      ev.drive("Arc: keyed request refused, key echoed", MI(o, mp));
      for (int i = 0; i < 2; ++i) {
        arc.push_fault(mi_path, challenge);
        arc.push_fault(mi_path, emu::Fault::respond_with(401, "Authorization: Basic " + arc_key));
      }
      ev.drive("Arc: second challenge, key echoed in plain text", MI(o, mp));
    }
    {
      emu::Options so;
      so.metadata_host = emu::MetadataHost::service_fabric;
      emu::Emulator fabric(so);
      fabric.set_identity_header(fabric_secret);
      EmuPlatform mp = untrusting();
      ev.attach(mp.logger());
      mp.environment().set("IDENTITY_ENDPOINT", fabric.base_url() + mi_path);
      mp.environment().set("IDENTITY_HEADER", "wrong-" + fabric_secret);
      mp.environment().set("IDENTITY_SERVER_THUMBPRINT", fabric.server_certificate_thumbprint());
      ev.drive("Service Fabric: wrong secret", MI(mi_quick(), mp));
      mp.environment().set("IDENTITY_HEADER", fabric_secret);
      twice(fabric, mi_path,
            emu::Fault::respond_with(400, R"({"error":{"code":"x","message":"Secret )" +
                                              fabric_secret + R"( unknown"}})"));
      ev.drive("Service Fabric: endpoint echoes the secret", MI(mi_quick(), mp));
    }
    {
      emu::Emulator ml(plain());
      ml.set_identity_header(ml_secret);
      EmuPlatform mp = untrusting();
      ev.attach(mp.logger());
      mp.environment().set("MSI_ENDPOINT", ml.base_url() + "/MSI/auth");
      mp.environment().set("MSI_SECRET", "wrong-" + ml_secret);
      ev.drive("Azure ML: wrong secret", MI(mi_quick(), mp));
      mp.environment().set("MSI_SECRET", ml_secret);
      twice(ml, "/MSI/auth",
            emu::Fault::respond_with(400, "secret header " + ml_secret + " expired"));
      ev.drive("Azure ML: endpoint echoes the secret", MI(mi_quick(), mp));
    }

    // --- Developer tools that print secrets where they should not -----------------------------
    {
      azid_test::ToolDir tools;
      EmuPlatform tp = untrusting();
      ev.attach(tp.logger());
      tp.environment().set("PATH", tools.path());
      tp.environment().set("HOME", tools.path());
      using azid_test::sh_quote;
      const std::string leak_json =
          R"({"accessToken": ")" + opaque_token + R"(", "token": ")" + opaque_token + R"("})";
      tools.script("az", "echo " +
                             sh_quote("ERROR: AADSTS70043: refresh token expired; cached " +
                                      leak_json + " jwt " + issued) +
                             " >&2\nexit 1");
      ev.drive("az: stderr echoes tokens",
               AzureCliCredential<EmuPlatform>(AzureCliCredentialOptions{}, tp));
      tools.script("az", "printf '%s' " +
                             sh_quote(R"({"accessToken": ")" + issued +
                                      R"(", "expiresOn": "whenever", "tokenType": "Bearer"})") +
                             "\necho 'ERROR: something odd' >&2\nexit 1");
      ev.drive("az: token on stdout, then a failure",
               AzureCliCredential<EmuPlatform>(AzureCliCredentialOptions{}, tp));
      tools.script("az", "printf '%s' " + sh_quote(R"({"accessToken": ")" + issued +
                                                   R"(", "expiresOn": "soon"})"));
      ev.drive("az: token with unusable expiry",
               AzureCliCredential<EmuPlatform>(AzureCliCredentialOptions{}, tp));
      tools.script("azd", "echo " + sh_quote("ERROR: fetching token: " + leak_json + " " + issued) +
                              " >&2\nexit 1");
      ev.drive("azd: stderr echoes tokens",
               AzureDeveloperCliCredential<EmuPlatform>(DeveloperToolOptions{}, tp));
      tools.script("azd", "printf '%s' " +
                              sh_quote(R"({"token": ")" + issued + R"(", "expiresOn": "never"})"));
      ev.drive("azd: token with unusable expiry",
               AzureDeveloperCliCredential<EmuPlatform>(DeveloperToolOptions{}, tp));
      tools.script("pwsh", "echo " + sh_quote("azsdk%" + issued + "%notanumber") + "\necho " +
                               sh_quote("Get-AzAccessToken: failed after " + issued) +
                               " >&2\nexit 1");
      ev.drive("pwsh: token line then failure",
               AzurePowerShellCredential<EmuPlatform>(DeveloperToolOptions{}, tp));
      tools.script("pwsh", "echo " + sh_quote("azsdk%" + issued + "%notanumber"));
      ev.drive("pwsh: token line with unusable expiry",
               AzurePowerShellCredential<EmuPlatform>(DeveloperToolOptions{}, tp));
    }

    // Whatever client assertions went out (signed by the certificate credential) count as secrets.
    for (const auto& r : sts.requests())
      if (auto a = r.form_param("client_assertion")) secrets.push_back(*a);
    CHECK(ev.failures >= 30);
    CHECK(ev.logs.size() >= 30);
    for (const auto& s : secrets) {
      REQUIRE(s.size() >= 12);
      for (const auto& t : ev.texts) {
        CAPTURE(t);
        CHECK_MESSAGE(!contains(t, s), "secret leaked into a message: " << s.substr(0, 6) << "...");
      }
      for (const auto& l : ev.logs) {
        CAPTURE(l);
        CHECK_MESSAGE(!contains(l, s),
                      "secret leaked into a log line: " << s.substr(0, 6) << "...");
      }
    }

#if defined(AZID_CLI_PATH)
    // --- The azid tool, secrets in its environment (and one on its command line) ---------------
    std::vector<CliRun> runs;
    const std::vector<std::pair<std::string, std::string>> trust = {
        {"SSL_CERT_FILE", sts.ca_file()}};
    auto with = [&](std::vector<std::pair<std::string, std::string>> env) {
      env.insert(env.end(), trust.begin(), trust.end());
      return env;
    };
    const std::vector<std::string> token_debug = {"token",
                                                  "--scope",
                                                  "https://vault.azure.net/.default",
                                                  "--log-level",
                                                  "debug",
                                                  "--authority-host",
                                                  sts.authority_host()};
    auto args = [&](std::vector<std::string> more) {
      std::vector<std::string> a = token_debug;
      a.insert(a.end(), more.begin(), more.end());
      return a;
    };
    runs.push_back(run_cli(args({"--credential", "client-secret"}),
                           with({{"AZURE_TENANT_ID", emu_tenant},
                                 {"AZURE_CLIENT_ID", emu_client},
                                 {"AZURE_CLIENT_SECRET", client_secret}})));
    runs.push_back(run_cli(args({"--credential", "client-secret", "--tenant-id", "echo-tenant",
                                 "--client-id", emu_client, "--client-secret", client_secret}),
                           with({})));
    runs.push_back(
        run_cli(args({"--credential", "certificate"}),
                with({{"AZURE_TENANT_ID", emu_tenant},
                      {"AZURE_CLIENT_ID", emu_client},
                      {"AZURE_CLIENT_CERTIFICATE_PATH", dir.write("cli.pfx", cert.pkcs12)},
                      {"AZURE_CLIENT_CERTIFICATE_PASSWORD", cert_password}})));
    runs.push_back(run_cli(args({"--credential", "environment"}),
                           with({{"AZURE_TENANT_ID", emu_tenant},
                                 {"AZURE_CLIENT_ID", emu_client},
                                 {"AZURE_CLIENT_SECRET", client_secret}})));
    runs.push_back(
        run_cli(args({"--credential", "workload-identity"}),
                with({{"AZURE_TENANT_ID", emu_tenant},
                      {"AZURE_CLIENT_ID", emu_client},
                      {"AZURE_FEDERATED_TOKEN_FILE", dir.write("cli-federated", federated)}})));
    runs.push_back(
        run_cli(args({"--credential", "azure-pipelines", "--service-connection-id", "hyg-conn"}),
                with({{"AZURE_TENANT_ID", emu_tenant},
                      {"AZURE_CLIENT_ID", emu_client},
                      {"SYSTEM_OIDCREQUESTURI", sts.pipelines_oidc_request_uri()},
                      {"SYSTEM_ACCESSTOKEN", "bad-" + system_token}})));
    {
      emu::Emulator app(plain());
      app.set_identity_header(identity_header);
      runs.push_back(run_cli(args({"--credential", "managed-identity"}),
                             with({{"IDENTITY_ENDPOINT", app.base_url() + "/msi/token"},
                                   {"IDENTITY_HEADER", "wrong-" + identity_header}})));
      twice(app, "/msi/token",
            emu::Fault::respond_with(400, R"({"message":"header )" + identity_header + R"("})"));
      runs.push_back(run_cli(args({"--credential", "managed-identity"}),
                             with({{"IDENTITY_ENDPOINT", app.base_url() + "/msi/token"},
                                   {"IDENTITY_HEADER", identity_header}})));
    }
    {
      azid_test::ToolDir tools;
      tools.script("az", "echo " +
                             azid_test::sh_quote("ERROR: cached {\"accessToken\": \"" +
                                                 opaque_token + "\"} " + issued) +
                             " >&2\nexit 1");
      runs.push_back(run_cli(args({"--credential", "azure-cli"}), with({{"PATH", tools.path()}})));
    }
    // A usage error with the secret on the command line: the message names the problem, not the value.
    runs.push_back(run_cli(
        {"token", "--credential", "client-secret", "--client-secret", client_secret}, with({})));
    for (const auto& r : runs) {
      CAPTURE(r.err);
      CHECK(r.exit_code != 0);
      CHECK(r.out.empty());  // nothing on stdout without a token
      CHECK_FALSE(r.err.empty());
      for (const auto& s : secrets) {
        CHECK_MESSAGE(!contains(r.err, s),
                      "secret leaked on azid's stderr: " << s.substr(0, 6) << "...");
        CHECK_MESSAGE(!contains(r.out, s),
                      "secret leaked on azid's stdout: " << s.substr(0, 6) << "...");
      }
    }
    CHECK(runs.size() == 10);
    CHECK(contains(runs.front().err, "azid ["));  // DEBUG logging was on and wrote to stderr
#endif
  }
}
