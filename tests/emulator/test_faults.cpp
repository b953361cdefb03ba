// Fault injection against real credentials (issue #8): ClientSecretCredential over TLS and
// ManagedIdentityCredential (IMDS, App Service) over plain HTTP, against the emulator's scripted
// faults or the misbehaving test server. Every case checks the error kind, a message that says what
// happened, a generous bound on the time taken (small timeouts are configured; no tight timing),
// the number of requests, and that no connection or socket outlives the credential.
// tests/emulator/FAULTS.md maps each fault of the issue to its tests.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "azid/credentials/azure_pipelines.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/credentials/workload_identity.hpp"
#include "confidential_fixture.hpp"
#include "emulator.hpp"
#include "transport_test_server.hpp"

using namespace azid;
using namespace std::chrono;
namespace emu = azid_emulator;
using azid_test::emu_client;
using azid_test::emu_tenant;
using azid_test::EmuPlatform;
using Kind = emu::Fault::Kind;

namespace {

constexpr const char* fault_secret = "Fault~Injection.Secret-0042";
constexpr const char* identity_header = "fault-identity-header-7731";
constexpr const char* imds_path = "/metadata/identity/oauth2/token";
constexpr auto bound = seconds(10);  // generous: each case configures timeouts of about a second

// Sockets this process holds open; a credential or emulator that leaks one shows up here.
std::size_t open_sockets() {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code rec;
    const auto target = std::filesystem::read_symlink(e.path(), rec);
    if (!rec && target.string().rfind("socket:", 0) == 0) ++n;
  }
  return n;
}

// Peak resident set size so far, in MiB.
long peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

struct Outcome {
  TokenResult result;
  milliseconds took{};
  std::size_t requests = 0;          // requests the endpoint saw
  std::size_t connections_left = 0;  // server-side connections still open after the credential went
};

std::string message(const Outcome& o) {
  return o.result.ok() ? std::string("<token>") : o.result.error_info().message;
}
bool has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TokenRequestContext vault() {
  TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}

// Waits (boundedly) for the emulator to notice that the client went away.
std::size_t settle(const emu::Emulator& e) {
  for (int i = 0; i < 100 && e.open_connections() > 0; ++i)
    std::this_thread::sleep_for(milliseconds(20));
  return e.open_connections();
}

template <class F>
Outcome timed(F&& run) {
  Outcome o;
  const auto start = steady_clock::now();
  o.result = run();
  o.took = duration_cast<milliseconds>(steady_clock::now() - start);
  return o;
}

ClientSecretCredentialOptions cs_options(const std::string& authority, int retries) {
  ClientSecretCredentialOptions o;
  o.authority_host = authority;
  o.retry.max_retries = retries;
  o.retry.base_delay = milliseconds(5);
  o.timeout = milliseconds(1500);
  o.connect_timeout = milliseconds(1000);
  return o;
}

EmuPlatform trusting(const std::string& ca_file) {
  TransportOptions t;
  t.extra_ca_file = ca_file;
  t.use_system_trust = false;
  return EmuPlatform(t);
}

// ClientSecretCredential against a TLS emulator with `fault` queued `copies` times.
Outcome client_secret_against(const emu::Fault& fault, int copies = 1, int retries = 0,
                              emu::Options eo = {}) {
  emu::Emulator e(std::move(eo));
  e.register_app({emu_tenant, emu_client, fault_secret, false, {}});
  for (int i = 0; i < copies; ++i) e.push_fault("/" + emu_tenant, fault);
  Outcome o;
  {
    ClientSecretCredential<EmuPlatform> cred(emu_tenant, emu_client, fault_secret,
                                             cs_options(e.authority_host(), retries),
                                             trusting(e.ca_file()));
    o = timed([&] { return cred.try_get_token(vault()); });
  }
  o.requests = e.request_count("/" + emu_tenant);
  o.connections_left = settle(e);
  return o;
}

ManagedIdentityCredentialOptions mi_options(int imds_retries) {
  ManagedIdentityCredentialOptions o;
  o.imds.max_retries = imds_retries;
  o.imds.base_delay = milliseconds(5);
  o.imds.jitter = 0;
  o.retry.max_retries = imds_retries;
  o.retry.base_delay = milliseconds(5);
  o.connect_timeout = milliseconds(1000);
  o.timeout = milliseconds(1500);
  o.arc_himds_path = "";  // never look at the machine's Arc agent
  return o;
}

emu::Options plain_emulator() {
  emu::Options o;
  o.tls = false;
  return o;
}

// ManagedIdentityCredential on IMDS (plain HTTP emulator) with `fault` queued `copies` times.
Outcome imds_against(const emu::Fault& fault, int copies = 1, int retries = 0) {
  emu::Emulator e(plain_emulator());
  for (int i = 0; i < copies; ++i) e.push_fault(imds_path, fault);
  Outcome o;
  {
    auto opts = mi_options(retries);
    opts.imds_authority = e.base_url();
    ManagedIdentityCredential<EmuPlatform> cred(opts, EmuPlatform(TransportOptions{}));
    REQUIRE(cred.source() == ManagedIdentitySource::imds);
    o = timed([&] { return cred.try_get_token(vault()); });
  }
  o.requests = e.request_count(imds_path);
  o.connections_left = settle(e);
  return o;
}

// ManagedIdentityCredential on App Service (IDENTITY_ENDPOINT + IDENTITY_HEADER) with `fault` queued.
Outcome app_service_against(const emu::Fault& fault, int copies = 1, int retries = 0) {
  emu::Emulator e(plain_emulator());
  e.set_identity_header(identity_header);
  for (int i = 0; i < copies; ++i) e.push_fault("/msi/token", fault);
  Outcome o;
  {
    EmuPlatform p{TransportOptions{}};
    p.environment().set("IDENTITY_ENDPOINT", e.base_url() + "/msi/token");
    p.environment().set("IDENTITY_HEADER", identity_header);
    ManagedIdentityCredential<EmuPlatform> cred(mi_options(retries), p);
    REQUIRE(cred.source() == ManagedIdentitySource::app_service);
    o = timed([&] { return cred.try_get_token(vault()); });
  }
  o.requests = e.request_count("/msi/token");
  o.connections_left = settle(e);
  return o;
}

// The common verdict: failed (not a token), in time, with the expected words, no more requests than
// the retry policy allows, and nothing left open.
void check_fails(const Outcome& o, std::string_view expect, std::size_t max_requests,
                 Failure kind = Failure::failed) {
  const std::string m = message(o);
  CAPTURE(m);
  CHECK(o.result.failure() == kind);
  CHECK(has(m, expect));
  CHECK(o.took < bound);
  CHECK(o.requests >= 1);
  CHECK(o.requests <= max_requests);
  CHECK(o.connections_left == 0);
  CHECK_FALSE(has(m, fault_secret));
  CHECK_FALSE(has(m, identity_header));
}

const azid_test::TestPki& pki() {
  static const azid_test::TestPki instance;
  return instance;
}

// ClientSecretCredential against the misbehaving test server (over TLS unless `o.tls` is false).
Outcome client_secret_against(azid_test::ServerOptions so, int retries = 0) {
  azid_test::TestServer server(pki(), so);
  Outcome o;
  {
    ClientSecretCredential<EmuPlatform> cred(
        emu_tenant, emu_client, fault_secret,
        cs_options("https://127.0.0.1:" + std::to_string(server.port()), retries),
        trusting(pki().ca_file()));
    o = timed([&] { return cred.try_get_token(vault()); });
  }
  o.requests = server.requests();
  server.stop();
  return o;
}

// A raw response written verbatim by the emulator, then the connection is closed.
emu::Fault raw(std::string bytes) {
  emu::Fault f = emu::Fault::of(Kind::raw);
  f.body = std::move(bytes);
  return f;
}

}  // namespace

TEST_SUITE("faults") {
  TEST_CASE(
      "connection reset mid-headers and mid-body: a clear error, retries bounded, nothing leaked") {
    const std::size_t sockets = open_sockets();
    for (Kind k : {Kind::drop_mid_headers, Kind::drop_mid_body, Kind::truncated_body}) {
      CAPTURE(static_cast<int>(k));
      const emu::Fault f = emu::Fault::of(k);
      // Each attempt meets the fault: 1 + retries requests, then the transport's error.
      check_fails(client_secret_against(f, 3, 2),
                  "connection closed before the response was complete", 3);
      check_fails(imds_against(f, 3, 2), "No response received from the managed identity endpoint",
                  3);
      check_fails(app_service_against(f, 3, 2),
                  "connection closed before the response was complete", 3);
    }
    CHECK(open_sockets() == sockets);
  }

  TEST_CASE("a TCP reset (RST) mid-body and a close mid-headers from the test server") {
    const std::size_t sockets = open_sockets();
    for (auto b : {azid_test::Behavior::close_mid_body, azid_test::Behavior::close_mid_headers}) {
      azid_test::ServerOptions so;
      so.behavior = b;
      so.tls = true;
      const Outcome o = client_secret_against(so, 1);
      check_fails(o, "connection closed before the response was complete", 2);
      CHECK(o.requests == 2);  // retried once, as configured
    }
    CHECK(open_sockets() == sockets);
  }

  TEST_CASE("a server that accepts and never answers: the request timeout ends it") {
    const std::size_t sockets = open_sockets();
    const emu::Fault silent = emu::Fault::of(Kind::silent);
    SUBCASE("ClientSecretCredential, after TLS") {
      const Outcome o = client_secret_against(silent, 2, 1);
      check_fails(o, "request timed out", 2);
      CHECK(o.requests == 2);  // the timeout is retried once, as configured, then given up
    }
    SUBCASE("ClientSecretCredential, no TLS handshake at all") {
      azid_test::ServerOptions so;
      so.behavior = azid_test::Behavior::silent;
      so.tls = true;
      const Outcome o = client_secret_against(so, 0);
      CHECK(o.result.failure() == Failure::failed);
      CHECK(has(message(o), "request timed out"));
      CHECK(o.took < bound);
      CHECK(o.requests == 0);  // the request (and its secret) was never sent
    }
    SUBCASE("ManagedIdentityCredential, IMDS") {
      check_fails(imds_against(silent, 2, 1),
                  "No response received from the managed identity endpoint", 2);
    }
    SUBCASE("ManagedIdentityCredential, App Service") {
      check_fails(app_service_against(silent, 2, 1), "request timed out", 2);
    }
    CHECK(open_sockets() == sockets);
  }

  TEST_CASE("one byte a second (slowloris) is cut off at the request timeout") {
    const std::size_t sockets = open_sockets();
    SUBCASE("a body trickled by the emulator") {
      emu::Fault slow = emu::Fault::of(Kind::slow_body);
      slow.byte_interval = milliseconds(1000);
      check_fails(client_secret_against(slow), "request timed out", 1);
      check_fails(imds_against(slow), "No response received from the managed identity endpoint", 1);
      check_fails(app_service_against(slow), "request timed out", 1);
    }
    SUBCASE("status line and headers trickled by the test server, over TLS") {
      azid_test::ServerOptions so;
      so.behavior = azid_test::Behavior::trickle;
      so.tls = true;
      so.trickle_interval = milliseconds(1000);
      const Outcome o = client_secret_against(so, 0);
      check_fails(o, "request timed out", 1);
    }
    CHECK(open_sockets() == sockets);
  }

  TEST_CASE("a 1 GiB body is refused by max_body_bytes without being buffered") {
    const std::size_t sockets = open_sockets();
    const long rss_before = peak_rss_mib();
    SUBCASE("announced by Content-Length") {
      const emu::Fault huge = emu::Fault::of(Kind::huge_body);
      check_fails(client_secret_against(huge), "HTTP response body too large", 1);
      check_fails(imds_against(huge), "HTTP response body too large", 1);
      check_fails(app_service_against(huge), "HTTP response body too large", 1);
    }
    SUBCASE("streamed in chunks, no length announced") {
      const emu::Fault huge = emu::Fault::of(Kind::huge_chunked_body);
      check_fails(client_secret_against(huge), "HTTP response body too large", 1);
      check_fails(imds_against(huge), "HTTP response body too large", 1);
      check_fails(app_service_against(huge), "HTTP response body too large", 1);
    }
    // The limit is 1 MiB; buffering the body would have grown the process by a gigabyte (the
    // margin leaves room for sanitizer quarantines and shadow memory).
    CHECK(peak_rss_mib() - rss_before < 512);
    CHECK(open_sockets() == sockets);
  }

  TEST_CASE("bad chunked framing is a malformed response, never a token") {
    const std::size_t sockets = open_sockets();
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string token = R"({"access_token":"chunk-smuggled-token","expires_in":3600})";
    struct Row {
      const char* what;
      std::string bytes;
      const char* expect;
    };
    const std::vector<Row> rows = {
        {"chunk size is not hex", head + "zz\r\n" + token + "\r\n0\r\n\r\n",
         "malformed HTTP response"},
        {"chunk longer than its size", head + "5\r\n" + token + "\r\n0\r\n\r\n",
         "malformed HTTP response"},
        {"chunk size overflows 64 bits",
         head + "1ffffffffffffffffffff\r\n" + token + "\r\n0\r\n\r\n", "HTTP response"},
        {"negative chunk size", head + "-10\r\n" + token + "\r\n0\r\n\r\n",
         "malformed HTTP response"},
        {"chunked not the final coding",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: " +
             std::to_string(token.size()) + "\r\n\r\n" + token,
         "malformed HTTP response"},
        {"closed before the last chunk", head + "10\r\n" + token.substr(0, 16) + "\r\n",
         "connection closed before the response was complete"},
    };
    for (const auto& row : rows) {
      CAPTURE(row.what);
      // Not retried when malformed; a close is retried, so two copies are queued for that row.
      const Outcome cs = client_secret_against(raw(row.bytes), 2, 1);
      check_fails(cs, row.expect, 2);
      CHECK_FALSE(has(message(cs), "chunk-smuggled-token"));
      const Outcome mi = app_service_against(raw(row.bytes), 2, 1);
      check_fails(mi, row.expect, 2);
      CHECK_FALSE(has(message(mi), "chunk-smuggled-token"));
    }
    CHECK(open_sockets() == sockets);
  }

  TEST_CASE(
      "TLS: expired, self-signed and wrong-host certificates are refused before the secret is "
      "sent") {
    const std::size_t sockets = open_sockets();
    SUBCASE("the emulator's certificate has expired") {
      emu::Options eo;
      eo.expired_server_cert = true;
      const Outcome o = client_secret_against(emu::Fault::respond_with(200), 0, 0, eo);
      CHECK(o.result.failure() == Failure::failed);
      CHECK(has(message(o), "server certificate has expired or is not valid yet"));
      CHECK(has(message(o), "check this machine's clock"));
      CHECK(o.requests == 0);
      CHECK(o.took < bound);
    }
    SUBCASE("the emulator's certificate names another host") {
      emu::Options eo;
      eo.server_names = {"login.example.invalid"};
      const Outcome o = client_secret_against(emu::Fault::respond_with(200), 0, 0, eo);
      CHECK(o.result.failure() == Failure::failed);
      CHECK(has(message(o), "does not match the host name"));
      CHECK(o.requests == 0);
    }
    for (auto leaf : {azid_test::LeafKind::self_signed, azid_test::LeafKind::expired,
                      azid_test::LeafKind::wrong_host}) {
      CAPTURE(static_cast<int>(leaf));
      azid_test::ServerOptions so;
      so.tls = true;
      so.leaf = leaf;
      const Outcome o = client_secret_against(so, 2);
      CHECK(o.result.failure() == Failure::failed);
      const char* expected =
          leaf == azid_test::LeafKind::wrong_host ? "does not match the host name"
          : leaf == azid_test::LeafKind::expired  ? "server certificate has expired"
                                                  : "server certificate is not trusted";
      CHECK(has(message(o), expected));
      CHECK(has(message(o), "TLS certificate was refused"));
      CHECK(o.requests == 0);  // no request, so no secret, ever reached the server
      CHECK(o.took < bound);
    }
    CHECK(open_sockets() == sockets);
  }

  TEST_CASE("a redirect is never followed, so credentials never reach the other host") {
    emu::Emulator elsewhere;  // the host a redirect points to; it must see nothing
    emu::Emulator elsewhere_plain(plain_emulator());
    const std::size_t sockets = open_sockets();
    for (int status : {301, 302, 307, 308}) {
      CAPTURE(status);
      const std::string to = "https://localhost:" + std::to_string(elsewhere.port()) + "/" +
                             emu_tenant + "/oauth2/v2.0/token";
      const Outcome cs =
          client_secret_against(emu::Fault::respond_with(status, "", {{"Location", to}}), 2, 1);
      check_fails(cs, "the token endpoint answered " + std::to_string(status), 1);
      const std::string to_plain = elsewhere_plain.base_url() + "/msi/token";
      const Outcome mi =
          app_service_against(emu::Fault::respond_with(status, "", {{"Location", to_plain}}), 2, 1);
      check_fails(mi, "answered " + std::to_string(status), 1);
      const Outcome imds =
          imds_against(emu::Fault::respond_with(
                           status, "", {{"Location", elsewhere_plain.base_url() + imds_path}}),
                       2, 1);
      CHECK(imds.result.failure() != Failure::none);
      CHECK(imds.took < bound);
    }
    CHECK(elsewhere.request_count() == 0);
    CHECK(elsewhere_plain.request_count() == 0);
    CHECK(open_sockets() == sockets);
  }

  TEST_CASE("HTTP where HTTPS is required is refused before anything is sent") {
    emu::Emulator plain(plain_emulator());
    plain.register_app({emu_tenant, emu_client, fault_secret, false, {}});
    const std::string http_authority = plain.base_url();  // http://127.0.0.1:<port>
    EmuPlatform p{TransportOptions{}};
    SUBCASE("ClientSecretCredential: an http authority is a caller mistake") {
      try {
        ClientSecretCredential<EmuPlatform> cred(emu_tenant, emu_client, fault_secret,
                                                 cs_options(http_authority, 0), p);
        FAIL("constructed with an http authority");
      } catch (const std::invalid_argument& e) {
        CHECK(has(e.what(), "The value must be a TLS protected (https) URL."));
        CHECK_FALSE(has(e.what(), fault_secret));
      }
    }
    SUBCASE("AZURE_AUTHORITY_HOST=http://... for WorkloadIdentityCredential") {
      p.environment().set("AZURE_AUTHORITY_HOST", http_authority);
      p.environment().set("AZURE_TENANT_ID", emu_tenant);
      p.environment().set("AZURE_CLIENT_ID", emu_client);
      p.environment().set("AZURE_FEDERATED_TOKEN_FILE", "/nonexistent/token");
      bool refused = false;
      try {
        WorkloadIdentityCredential<EmuPlatform> cred(WorkloadIdentityCredentialOptions{}, p);
        const auto r = cred.try_get_token(vault());
        refused = !r.ok() && has(r.error_info().message, "TLS protected (https)");
      } catch (const std::invalid_argument& e) {
        refused = has(e.what(), "TLS protected (https)");
      }
      CHECK(refused);
    }
    SUBCASE("AzurePipelinesCredential: an http SYSTEM_OIDCREQUESTURI never gets the system token") {
      p.environment().set("SYSTEM_OIDCREQUESTURI", plain.base_url() + "/org/proj/_apis/oidctoken");
      AzurePipelinesCredentialOptions o;
      o.authority_host = "https://127.0.0.1:1";
      o.retry.max_retries = 0;
      const auto r =
          AzurePipelinesCredential<EmuPlatform>(emu_tenant, emu_client, "conn", fault_secret, o, p)
              .try_get_token(vault());
      REQUIRE_FALSE(r.ok());
      CHECK(has(r.error_info().message, "must be an https URL"));
      CHECK_FALSE(has(r.error_info().message, fault_secret));
    }
    SUBCASE("Service Fabric: an http IDENTITY_ENDPOINT never gets the Secret header") {
      p.environment().set("IDENTITY_ENDPOINT", plain.base_url() + imds_path);
      p.environment().set("IDENTITY_HEADER", identity_header);
      p.environment().set("IDENTITY_SERVER_THUMBPRINT", std::string(40, 'a'));
      bool refused = false;
      std::string what;
      try {
        ManagedIdentityCredential<EmuPlatform> cred(mi_options(0), p);
        const auto r = cred.try_get_token(vault());
        refused = !r.ok();
        if (!r.ok()) what = r.error_info().message;
      } catch (const std::invalid_argument& e) {
        refused = true;
        what = e.what();
      }
      CAPTURE(what);
      CHECK(refused);
      CHECK((has(what, "https") || has(what, "HTTPS")));
      CHECK_FALSE(has(what, identity_header));
    }
    SUBCASE("an https authority that answers in plain HTTP fails the handshake") {
      EmuPlatform tp = trusting(pki().ca_file());
      ClientSecretCredential<EmuPlatform> cred(
          emu_tenant, emu_client, fault_secret,
          cs_options("https://127.0.0.1:" + std::to_string(plain.port()), 0), tp);
      const Outcome o = timed([&] { return cred.try_get_token(vault()); });
      CHECK(o.result.failure() == Failure::failed);
      CHECK(has(message(o), "could not get a response from the token endpoint"));
      CHECK(o.took < bound);
    }
    // Nothing reached the plain-HTTP server as a token request: at most the handshake attempt
    // of the last subcase, which the emulator answers with a 400 before any secret is sent.
    for (const auto& r : plain.requests()) {
      CHECK_FALSE(r.form_param("client_secret").has_value());
      CHECK_FALSE(r.has_header("Secret"));
      CHECK_FALSE(has(r.header("Authorization"), fault_secret));
    }
  }

  TEST_CASE(
      "token responses missing fields or with absurd expiry are refused, and never leak the "
      "token") {
    const std::size_t sockets = open_sockets();
    const std::string tok = "leaky-access-token-value-123456";
    struct Row {
      const char* what;
      std::string body;
      const char* expect;
    };
    const std::vector<Row> rows = {
        {"empty object", "{}", "required field missing"},
        {"no access_token", R"({"token_type":"Bearer","expires_in":3600})",
         "required field missing"},
        {"access_token not a string", R"({"access_token":12345,"expires_in":3600})",
         "Unexpected response"},
        {"no expiry at all", R"({"access_token":")" + tok + R"("})", "invalid token expiry"},
        {"expires_in negative", R"({"access_token":")" + tok + R"(","expires_in":-100})",
         "invalid token expiry"},
        {"expires_in zero", R"({"access_token":")" + tok + R"(","expires_in":0})",
         "invalid token expiry"},
        {"expires_in words", R"({"access_token":")" + tok + R"(","expires_in":"soon"})",
         "invalid token expiry"},
        {"expires_in 1e300", R"({"access_token":")" + tok + R"(","expires_in":1e300})",
         "invalid token expiry"},
        {"expires_on in 1970", R"({"access_token":")" + tok + R"(","expires_on":1})",
         "invalid token expiry"},
        {"expires_on past year 9999",
         R"({"access_token":")" + tok + R"(","expires_on":99999999999999})",
         "invalid token expiry"},
        {"not JSON", "<html>login</html>", "malformed JSON"},
    };
    for (const auto& row : rows) {
      CAPTURE(row.what);
      const emu::Fault f = emu::Fault::respond_with(200, row.body);
      const Outcome cs = client_secret_against(f, 1, 1);
      check_fails(cs, row.expect, 1);  // a 200 with a bad body is not retried
      CHECK(has(message(cs), "Unexpected response from Microsoft Entra ID"));
      CHECK_FALSE(has(message(cs), tok));
      for (const Outcome& mi : {imds_against(f, 1, 1), app_service_against(f, 1, 1)}) {
        check_fails(mi, row.expect, 1);
        CHECK_FALSE(has(message(mi), tok));
      }
    }
    CHECK(open_sockets() == sockets);
  }
}
