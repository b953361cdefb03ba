// ManagedIdentityCredential end to end: the real HttpsTransport against the emulator's managed
// identity endpoints on 127.0.0.1 (plain HTTP, and TLS with a pinned certificate for Service
// Fabric), with a manual clock so retries never sleep, and the real file system for Arc key files.
#include <doctest/doctest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "azid/credentials/managed_identity.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/platform/file_reader.hpp"
#include "azid/testing/platform.hpp"
#include "azid/transport/https.hpp"
#include "emulator.hpp"
#include "test_certs.hpp"

using namespace azid;
using namespace std::chrono;
namespace fs = std::filesystem;
namespace emu = azid_emulator;

namespace {

constexpr const char* token_path = "/metadata/identity/oauth2/token";

/// Real transport (trusting nothing but pins), manual clock, map environment, real files.
class MiPlatform {
 public:
  struct State {
    explicit State(TransportOptions o) : transport(std::move(o)) {}
    HttpsTransport transport;
    testing::ManualClock clock;
    testing::MapEnvironment environment;
    PosixFileReader files;
    Logger logger;
    std::mutex mu;
    std::vector<std::string> lines;
  };
  MiPlatform() : MiPlatform(no_trust()) {}
  explicit MiPlatform(TransportOptions o) : s_(std::make_shared<State>(std::move(o))) {
    s_->logger.set_level(LogLevel::debug);
    State* st = s_.get();
    s_->logger.set_sink([st](LogLevel, std::string_view m) {
      std::lock_guard lk(st->mu);
      st->lines.emplace_back(m);
    });
  }
  [[nodiscard]] HttpsTransport& transport() const noexcept { return s_->transport; }
  [[nodiscard]] testing::ManualClock& clock() const noexcept { return s_->clock; }
  [[nodiscard]] testing::MapEnvironment& environment() const noexcept { return s_->environment; }
  [[nodiscard]] const PosixFileReader& files() const noexcept { return s_->files; }
  [[nodiscard]] Logger& logger() const noexcept { return s_->logger; }

  [[nodiscard]] bool logged(std::string_view s) const {
    std::lock_guard lk(s_->mu);
    for (const auto& l : s_->lines)
      if (l.find(s) != std::string::npos) return true;
    return false;
  }

 private:
  static TransportOptions no_trust() {
    TransportOptions o;
    o.use_system_trust = false;  // only a pin can make a TLS endpoint acceptable
    return o;
  }
  std::shared_ptr<State> s_;
};
static_assert(Platform<MiPlatform>);

using Cred = ManagedIdentityCredential<MiPlatform>;

emu::Options plain(emu::MetadataHost host = emu::MetadataHost::imds) {
  emu::Options o;
  o.tls = false;
  o.metadata_host = host;
  return o;
}

ManagedIdentityCredentialOptions quick(const emu::Emulator* imds = nullptr) {
  ManagedIdentityCredentialOptions o;
  if (imds != nullptr) o.imds_authority = imds->base_url();
  o.imds.jitter = 0;
  o.connect_timeout = milliseconds(500);
  o.timeout = milliseconds(1500);
  o.retry.base_delay = milliseconds(1);
  o.arc_himds_path = "";
  return o;
}

TokenRequestContext vault() {
  TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}

std::string message(const TokenResult& r) {
  return r.ok() ? std::string() : r.error_info().message;
}
bool has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// The token's app id, after checking the emulator signed it.
std::string appid_of(const emu::Emulator& e, const TokenResult& r) {
  REQUIRE_MESSAGE(r.ok(), message(r));
  std::string payload;
  REQUIRE(emu::verify_token(e, r.token().token, payload));
  CHECK(detail::json_string_member(payload, "aud") == "https://vault.azure.net");
  return detail::json_string_member(payload, "appid").value_or("");
}

// A port nothing listens on: an emulator's, after it has gone.
std::uint16_t closed_port() {
  emu::Emulator e(plain());
  return e.port();
}

}  // namespace

TEST_SUITE("managed_identity_emulator") {
  TEST_CASE("IMDS: system-assigned and user-assigned by client, object and resource id") {
    emu::Emulator e(plain());
    const emu::ManagedIdentity user{
        "0b7f5e4e-1111-4222-8333-444455556666", "9a8b7c6d-1111-4222-8333-444455556666",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
        "userAssignedIdentities/app"};
    e.assign_identity(user);
    MiPlatform p;
    Cred sys(quick(&e), p);
    CHECK(sys.source() == ManagedIdentitySource::imds);
    CHECK(appid_of(e, sys.try_get_token(vault())) == e.system_identity()->client_id);
    auto reqs = e.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].header("Metadata") == "true");
    CHECK(reqs[0].query_param("api-version") == "2018-02-01");
    CHECK(reqs[0].query_param("resource") == "https://vault.azure.net");

    auto o = quick(&e);
    o.client_id = user.client_id;
    CHECK(appid_of(e, Cred(o, p).try_get_token(vault())) == user.client_id);
    o = quick(&e);
    o.object_id = user.object_id;
    CHECK(appid_of(e, Cred(o, p).try_get_token(vault())) == user.client_id);
    o = quick(&e);
    o.resource_id = user.resource_id;
    CHECK(appid_of(e, Cred(o, p).try_get_token(vault())) == user.client_id);
  }

  TEST_CASE("IMDS: an identity that isn't assigned is unavailable, and remembered") {
    emu::Emulator e(plain());
    MiPlatform p;
    auto o = quick(&e);
    o.client_id = "not-assigned";
    Cred cred(o, p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(has(message(r), "The requested identity hasn't been assigned to this resource."));
    CHECK(has(message(r), "Identity not found"));
    (void)cred.try_get_token(vault());
    CHECK(e.request_count(token_path) == 1);
  }

  TEST_CASE("IMDS: scripted statuses are retried on the manual clock, honouring Retry-After") {
    emu::Emulator e(plain());
    e.push_fault(token_path, emu::Fault::respond_with(503, R"({"error":"busy"})"));
    e.push_fault(token_path,
                 emu::Fault::respond_with(429, R"({"error":"throttled"})", {{"Retry-After", "9"}}));
    e.push_fault(token_path, emu::Fault::respond_with(410, R"({"error":"upgrading"})"));
    MiPlatform p;
    Cred cred(quick(&e), p);
    CHECK(cred.try_get_token(vault()).ok());
    CHECK(e.request_count(token_path) == 4);
    CHECK(p.clock().sleeps() ==
          std::vector<milliseconds>{milliseconds(2000), milliseconds(9000), milliseconds(10000)});
  }

  TEST_CASE("IMDS: 502s are a gateway error; exhausted 500s are 'Multiple attempts failed'") {
    emu::Emulator e(plain());
    MiPlatform p;
    for (int i = 0; i < 6; ++i)
      e.push_fault(token_path, emu::Fault::respond_with(502, "proxy says no"));
    Cred cred(quick(&e), p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(has(message(r), "The request failed due to a gateway error."));
    CHECK(e.request_count(token_path) == 6);
    for (int i = 0; i < 6; ++i)
      e.push_fault(token_path, emu::Fault::respond_with(500, R"({"error":"x"})"));
    TokenRequestContext other;
    other.scopes = {"https://storage.azure.com/.default"};
    auto m = cred.try_get_token(other);
    CHECK(has(message(m),
              "Multiple attempts failed to obtain a token from the managed identity endpoint."));
    CHECK(e.request_count(token_path) == 12);
  }

  TEST_CASE("AKS pod identity: 404 with Retry-After until ready, then a token") {
    emu::Emulator e(plain());
    MiPlatform p;
    p.environment().set("AZURE_POD_IDENTITY_AUTHORITY_HOST", e.base_url() + "/");
    for (int i = 0; i < 2; ++i)
      e.push_fault(token_path, emu::Fault::respond_with(404, "no AzureIdentity found for pod",
                                                        {{"Retry-After", "15"}}));
    auto o = quick();
    o.within_default_chain = true;  // pod identity is never probed
    Cred cred(o, p);
    CHECK(cred.try_get_token(vault()).ok());
    CHECK(p.clock().sleeps() ==
          std::vector<milliseconds>{milliseconds(15000), milliseconds(15000)});
    CHECK(e.request_count(token_path) == 3);
  }

  TEST_CASE("AKS pod identity never ready: 'No managed identity endpoint found'") {
    emu::Emulator e(plain());
    MiPlatform p;
    p.environment().set("AZURE_POD_IDENTITY_AUTHORITY_HOST", e.base_url());
    for (int i = 0; i < 6; ++i)
      e.push_fault(token_path, emu::Fault::respond_with(404, "no AzureIdentity found for pod",
                                                        {{"Retry-After", "1"}}));
    Cred cred(quick(), p);
    auto r = cred.try_get_token(vault());
    CHECK(r.failure() == Failure::unavailable);
    CHECK(has(message(r), "No managed identity endpoint found"));
    CHECK(e.request_count(token_path) == 6);
  }

  TEST_CASE(
      "IMDS: silence and slow bodies time out, are retried, and end as 'No response received'") {
    emu::Emulator e(plain());
    MiPlatform p;
    e.push_fault(token_path, emu::Fault::of(emu::Fault::Kind::silent));
    emu::Fault slow = emu::Fault::of(emu::Fault::Kind::slow_body);
    slow.byte_interval = milliseconds(100);
    e.push_fault(token_path, slow);
    auto o = quick(&e);
    o.timeout = milliseconds(300);
    o.imds.max_retries = 1;
    Cred cred(o, p);
    const auto start = steady_clock::now();
    auto r = cred.try_get_token(vault());
    CHECK(steady_clock::now() - start < milliseconds(1500));
    CHECK(r.failure() == Failure::failed);
    CHECK(has(message(r), "No response received from the managed identity endpoint."));
    CHECK(e.request_count(token_path) == 2);
  }

  TEST_CASE("probe: a host without IMDS is given up on at once, and remembered") {
    MiPlatform p;
    auto o = quick();
    o.imds_authority = "http://127.0.0.1:" + std::to_string(closed_port());
    o.within_default_chain = true;
    Cred cred(o, p);
    const auto start = steady_clock::now();
    auto r = cred.try_get_token(vault());
    CHECK(steady_clock::now() - start < milliseconds(500));
    CHECK(r.failure() == Failure::unavailable);
    CHECK(has(message(r), "no managed identity endpoint found"));
    CHECK(p.clock().sleeps().empty());
    // Now something listens on that port. A credential that probed again would connect to it;
    // one that remembered its verdict does no I/O and answers as before.
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    const int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(o.imds_authority.substr(17))));
    const bool listening =
        ::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
        ::listen(listener, 8) == 0;
    const TokenResult again = cred.try_get_token(vault());
    CHECK(again.failure() == Failure::unavailable);
    CHECK(message(again) == message(r));
    if (listening) {
      pollfd pending{listener, POLLIN, 0};
      CHECK(::poll(&pending, 1, 0) == 0);  // nobody connected
    } else {
      MESSAGE("the port was taken meanwhile; only the answer was checked");
    }
    ::close(listener);
  }

  TEST_CASE("probe: a slow but present IMDS is not misjudged") {
    emu::Emulator e(plain());
    // The probe's answer takes longer than the probe's connect timeout: only the connect is short.
    emu::Fault slow = emu::Fault::respond_with(400, R"({"error":"invalid_request"})");
    slow.delay = milliseconds(400);
    e.push_fault(token_path, slow);
    MiPlatform p;
    auto o = quick(&e);
    o.within_default_chain = true;
    o.imds.probe_connect_timeout = milliseconds(200);
    Cred cred(o, p);
    CHECK(cred.try_get_token(vault()).ok());
    auto reqs = e.requests();
    REQUIRE(reqs.size() == 2);
    CHECK_FALSE(reqs[0].has_header("Metadata"));
    CHECK(reqs[1].header("Metadata") == "true");
  }

  TEST_CASE("App Service: the identity header is sent, checked, and never shown") {
    emu::Emulator e(plain());
    e.set_identity_header("app-service-header-secret");
    const emu::ManagedIdentity user{"c1d2e3f4-0000-4000-8000-000000000001",
                                    "0a0b0c0d-0000-4000-8000-000000000002", "/r"};
    e.assign_identity(user);
    MiPlatform p;
    p.environment().set("IDENTITY_ENDPOINT", e.base_url() + "/msi/token");
    p.environment().set("IDENTITY_HEADER", "app-service-header-secret");
    Cred sys(quick(), p);
    CHECK(sys.source() == ManagedIdentitySource::app_service);
    CHECK(appid_of(e, sys.try_get_token(vault())) == e.system_identity()->client_id);
    auto o = quick();
    o.object_id = user.object_id;
    CHECK(appid_of(e, Cred(o, p).try_get_token(vault())) == user.client_id);
    CHECK(e.requests().back().query_param("principal_id") == user.object_id);

    p.environment().set("IDENTITY_HEADER", "wrong-header-secret");
    Cred wrong(quick(), p);
    auto r = wrong.try_get_token(vault());
    CHECK(r.failure() == Failure::failed);
    CHECK(r.error_info().http_status == 401);
    CHECK(has(message(r), "X-IDENTITY-HEADER"));
    for (const char* s : {"app-service-header-secret", "wrong-header-secret"}) {
      CHECK_FALSE(has(message(r), s));
      CHECK_FALSE(p.logged(s));
    }
  }

  TEST_CASE("endpoints on this host never go through a proxy (their secret would travel to it)") {
    emu::Emulator e(plain());
    e.set_identity_header("app-service-header-secret");
    TransportOptions o;
    o.use_system_trust = false;
    o.http_proxy = "http://127.0.0.1:9";  // a closed port: anything proxied fails
    o.https_proxy = o.http_proxy;
    MiPlatform p(o);
    p.environment().set("IDENTITY_ENDPOINT", e.base_url() + "/msi/token");
    p.environment().set("IDENTITY_HEADER", "app-service-header-secret");
    Cred cred(quick(), p);
    CHECK(appid_of(e, cred.try_get_token(vault())) == e.system_identity()->client_id);
    CHECK(e.request_count("/msi/token") == 1);
    for (const char* host : {"localhost", "LOCALHOST.", "127.0.0.1", "127.9.8.7", "[::1]",
                             "169.254.129.7", "[fe80::1]", "[FEBF::1]"})
      CHECK(detail::msi::on_this_host(std::string("http://") + host + ":40342/x"));
    for (const char* host : {"127.1", "10.0.0.1", "example.com", "localhost.example.com", "[::2]",
                             "169.255.0.1", "[fec0::1]"})
      CHECK_FALSE(detail::msi::on_this_host(std::string("http://") + host + ":40342/x"));
  }

  TEST_CASE("Azure Arc: challenge, key file, token") {
    emu::Emulator e(plain(emu::MetadataHost::arc));
    MiPlatform p;
    p.environment().set("IDENTITY_ENDPOINT", e.base_url() + token_path);
    p.environment().set("IMDS_ENDPOINT", e.base_url());
    auto o = quick();
    o.arc_key_directory = e.arc_key_dir();
    Cred cred(o, p);
    CHECK(cred.source() == ManagedIdentitySource::azure_arc);
    auto r = cred.try_get_token(vault());
    CHECK(appid_of(e, r) == e.system_identity()->client_id);
    auto reqs = e.requests();
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[0].query_param("api-version") == "2020-06-01");
    CHECK_FALSE(reqs[0].has_header("Authorization"));
    CHECK(reqs[1].header("Authorization").rfind("Basic ", 0) == 0);
    // The key itself never reaches a log line.
    for (const auto& entry : fs::directory_iterator(e.arc_key_dir())) {
      std::ifstream in(entry.path());
      std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      REQUIRE_FALSE(key.empty());
      CHECK_FALSE(p.logged(key));
    }
  }

  TEST_CASE("Azure Arc: key file attacks are refused before the key is sent") {
    emu::Emulator e(plain(emu::MetadataHost::arc));
    const fs::path dir = e.arc_key_dir();
    const fs::path outside =
        fs::path(e.arc_key_dir()).parent_path() / ("azid-arc-outside-" + std::to_string(e.port()));
    fs::create_directories(outside);
    {
      std::ofstream(outside / "stolen.key") << "secret-from-elsewhere";
      std::ofstream(dir / "huge.key") << std::string(5000, 'k');
      std::ofstream(dir / "plain.txt") << "k";
    }
    fs::create_symlink(outside / "stolen.key", dir / "link.key");
    struct Row {
      std::string realm_header;
      std::string expect;
    };
    const std::vector<Row> rows = {
        {"Basic realm=" + (outside / "stolen.key").string(),
         "Unexpected file path from HIMDS service"},
        {"Basic realm=" + (dir / ".." / fs::path(outside).filename() / "stolen.key").string(),
         "Unexpected file path from HIMDS service"},
        {"Basic realm=" + (dir / "link.key").string(), "symbolic link"},
        {"Basic realm=" + (dir / "huge.key").string(),
         "The file size must be less than or equal to 4096 bytes."},
        {"Basic realm=" + (dir / "plain.txt").string(),
         "The file path must have a '.key' extension."},
        {"Basic realm=" + (dir / "absent.key").string(), "does not exist"},
        {"Basic realm=a=b", "did not match the expected format"},
        {"", "Did not receive expected 'WWW-Authenticate' header"},
    };
    MiPlatform p;
    p.environment().set("IDENTITY_ENDPOINT", e.base_url() + token_path);
    p.environment().set("IMDS_ENDPOINT", e.base_url());
    auto o = quick();
    o.arc_key_directory = e.arc_key_dir();
    for (const auto& row : rows) {
      CAPTURE(row.realm_header);
      e.clear_requests();
      emu::Headers h;
      if (!row.realm_header.empty()) h.emplace_back("WWW-Authenticate", row.realm_header);
      e.push_fault(token_path, emu::Fault::respond_with(401, R"({"error":"unauthorized"})", h));
      Cred cred(o, p);
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::failed);
      CHECK(has(message(r), row.expect));
      CHECK(e.request_count(token_path) == 1);  // the second, keyed request never happens
      CHECK_FALSE(has(message(r), "secret-from-elsewhere"));
    }
    CHECK_FALSE(p.logged("secret-from-elsewhere"));
    CHECK_FALSE(p.logged(std::string(5000, 'k')));
    std::error_code ignored;
    fs::remove_all(outside, ignored);
  }

  TEST_CASE(
      "Azure Arc: the key is read with PosixFileReader::read_regular, which judges the file it "
      "opened") {
    // arc_key_file checks the path first; read_regular makes the same refusals on the descriptor it
    // reads from, so a link or FIFO swapped in after the check is still refused.
    azid_test::TempDir dir;
    const std::string good = dir.write("good.key", "k3y");
    const std::string big = dir.write("big.key", std::string(5000, 'k'));
    fs::create_symlink(good, dir.path("link.key"));
    fs::create_directory(dir.path("dir.key"));
    REQUIRE(::mkfifo(dir.path("fifo.key").c_str(), 0600) == 0);
    const PosixFileReader files;
    std::error_code ec;
    CHECK(files.read_regular(good, detail::msi::arc_key_max_bytes, ec) == "k3y");
    CHECK_FALSE(ec);
    CHECK(files.read_regular(dir.path("link.key"), detail::msi::arc_key_max_bytes, ec).empty());
    CHECK(ec == make_error_code(errc::file_not_regular));
    CHECK(files.read(dir.path("link.key"), detail::msi::arc_key_max_bytes, ec) ==
          "k3y");  // read() follows it
    CHECK(files.read_regular(dir.path("dir.key"), detail::msi::arc_key_max_bytes, ec).empty());
    CHECK(ec == make_error_code(errc::file_not_regular));
    // A FIFO with no writer: refused at once, not waited on.
    CHECK(files.read_regular(dir.path("fifo.key"), detail::msi::arc_key_max_bytes, ec).empty());
    CHECK(ec == make_error_code(errc::file_not_regular));
    CHECK(files.read_regular(big, detail::msi::arc_key_max_bytes, ec).empty());
    CHECK(ec == make_error_code(errc::file_too_large));
    CHECK(files.read_regular(dir.path("absent.key"), detail::msi::arc_key_max_bytes, ec).empty());
    CHECK(ec == make_error_code(errc::file_not_found));
  }

  TEST_CASE(
      "Azure Arc: a key path with a NUL or other control character is refused, not truncated") {
    // Found by fuzz_arc_challenge: "<dir>/good.key\0x.key" passed the checks as written while the
    // operating system opened "<dir>/good.key".
    azid_test::TempDir dir;
    dir.write("good.key", "k");
    for (const std::string& tail : {std::string("good.key\0x.key", 14),
                                    std::string("good.key\nx.key"), std::string("good\x7f.key")}) {
      CAPTURE(tail);
      HttpResponse res;
      res.status = 401;
      res.headers.add("WWW-Authenticate", "Basic realm=" + dir.path("") + tail);
      std::string path;
      const TokenResult r = azid::detail::msi::arc_key_file(res, dir.path(""), path);
      CHECK(r.failure() == Failure::failed);
      CHECK(has(message(r), "control character"));
      CHECK(path.empty());
    }
    HttpResponse ok;
    ok.status = 401;
    ok.headers.add("WWW-Authenticate", "Basic realm=" + dir.path("good.key"));
    std::string path;
    CHECK(azid::detail::msi::arc_key_file(ok, dir.path(""), path).failure() == Failure::none);
    CHECK(path == dir.path("good.key"));
  }

  TEST_CASE("Service Fabric: the pinned certificate is accepted, a wrong thumbprint refused") {
    emu::Options so;
    so.metadata_host = emu::MetadataHost::service_fabric;
    emu::Emulator e(so);
    e.set_identity_header("fabric-secret-value");
    MiPlatform p;
    p.environment().set("IDENTITY_ENDPOINT", e.base_url() + token_path);
    p.environment().set("IDENTITY_HEADER", "fabric-secret-value");
    std::string pin = e.server_certificate_thumbprint();
    REQUIRE(pin.size() == 40);
    std::string spaced;  // as Windows shows it: upper case, in pairs
    for (std::size_t i = 0; i < pin.size(); i += 2)
      spaced += (i ? ":" : "") + std::string(1, char(std::toupper(pin[i]))) +
                char(std::toupper(pin[i + 1]));

    SUBCASE("right pin") {
      p.environment().set("IDENTITY_SERVER_THUMBPRINT", spaced);
      Cred cred(quick(), p);
      CHECK(cred.source() == ManagedIdentitySource::service_fabric);
      auto r = cred.try_get_token(vault());
      CHECK(appid_of(e, r) == e.system_identity()->client_id);
      auto reqs = e.requests();
      REQUIRE(reqs.size() == 1);
      CHECK(reqs[0].tls);
      CHECK(reqs[0].header("Secret") == "fabric-secret-value");
      CHECK(reqs[0].query_param("api-version") == "2019-07-01-preview");
    }
    SUBCASE("wrong pin") {
      pin[0] = pin[0] == '0' ? '1' : '0';
      p.environment().set("IDENTITY_SERVER_THUMBPRINT", pin);
      Cred cred(quick(), p);
      auto r = cred.try_get_token(vault());
      CHECK(r.failure() == Failure::failed);
      CHECK(has(message(r), "IDENTITY_SERVER_THUMBPRINT"));
      CHECK(e.request_count() == 0);  // the secret was never sent
      CHECK_FALSE(has(message(r), "fabric-secret-value"));
      CHECK_FALSE(p.logged("fabric-secret-value"));
    }
  }

  TEST_CASE(
      "Service Fabric: a claims request names the token it replaces; other sources and requests do "
      "not") {
    emu::Options so;
    so.metadata_host = emu::MetadataHost::service_fabric;
    emu::Emulator e(so);
    e.set_identity_header("fabric-secret-value");
    MiPlatform p;
    p.environment().set("IDENTITY_ENDPOINT", e.base_url() + token_path);
    p.environment().set("IDENTITY_HEADER", "fabric-secret-value");
    p.environment().set("IDENTITY_SERVER_THUMBPRINT", e.server_certificate_thumbprint());
    Cred cred(quick(), p);
    TokenRequestContext challenged = vault();
    challenged.claims = R"({"access_token":{"nbf":{"essential":true,"value":"1700000000"}}})";

    // No cached token yet: nothing to name.
    const TokenResult first = cred.try_get_token(challenged);
    REQUIRE_MESSAGE(first.ok(), message(first));
    REQUIRE(e.requests().size() == 1);
    CHECK_FALSE(e.requests()[0].query_param("token_sha256_to_refresh"));
    // A plain request: the cached token, no request at all.
    CHECK(cred.try_get_token(vault()).token().token == first.token().token);
    CHECK(e.requests().size() == 1);
    // A claims request while that token is cached: its SHA-256, lower-case hex, computed here
    // independently with OpenSSL.
    e.clear_requests();
    REQUIRE(cred.try_get_token(challenged).ok());
    unsigned char md[32];
    unsigned int n = 0;
    const std::string& t = first.token().token;
    REQUIRE(EVP_Digest(t.data(), t.size(), md, &n, EVP_sha256(), nullptr) == 1);
    std::string expected;
    for (unsigned int i = 0; i < n; ++i) {
      char b[3];
      std::snprintf(b, sizeof b, "%02x", md[i]);
      expected += b;
    }
    REQUIRE(e.requests().size() == 1);
    CHECK(e.requests()[0].query_param("token_sha256_to_refresh") == expected);
    CHECK(e.requests()[0].query_param("api-version") == "2019-07-01-preview");
    // The token's hash is all that travels, never the token.
    CHECK_FALSE(has(e.requests()[0].target, t));

    // IMDS with a cached token and a claims request: no such parameter (Service Fabric only).
    emu::Emulator imds(plain());
    MiPlatform ip;
    ip.environment().set("AZURE_POD_IDENTITY_AUTHORITY_HOST", imds.base_url());
    Cred on_vm(quick(), ip);
    REQUIRE(on_vm.try_get_token(vault()).ok());
    REQUIRE(on_vm.try_get_token(challenged).ok());
    REQUIRE(imds.requests().size() == 2);
    CHECK_FALSE(imds.requests()[1].query_param("token_sha256_to_refresh"));
  }

  TEST_CASE("Cloud Shell: a form POST for the signed-in user's token") {
    emu::Emulator e(plain());
    MiPlatform p;
    p.environment().set("MSI_ENDPOINT", e.base_url() + "/oauth2/token");
    Cred cred(quick(), p);
    CHECK(cred.source() == ManagedIdentitySource::cloud_shell);
    CHECK(appid_of(e, cred.try_get_token(vault())) == e.system_identity()->client_id);
    CHECK(e.requests().at(0).form_param("resource") == "https://vault.azure.net");
  }

  TEST_CASE("Azure ML: secret header, clientid, and the 2017 API's date expiry") {
    emu::Emulator e(plain());
    e.set_identity_header("ml-secret-value");
    MiPlatform p;
    p.environment().set("MSI_ENDPOINT", e.base_url() + "/MSI/auth");
    p.environment().set("MSI_SECRET", "ml-secret-value");
    p.environment().set("DEFAULT_IDENTITY_CLIENT_ID", e.system_identity()->client_id);
    Cred cred(quick(), p);
    CHECK(cred.source() == ManagedIdentitySource::azure_ml);
    auto r = cred.try_get_token(vault());
    CHECK(appid_of(e, r) == e.system_identity()->client_id);
    CHECK(r.token().expires_on > system_clock::now() + minutes(55));
    CHECK(e.requests().at(0).query_param("clientid") == e.system_identity()->client_id);

    // A user-assigned identity by client id: the emulator refuses any other parameter name
    // (client_id, msi_res_id, ...), so only the right one gets this identity's token.
    const emu::ManagedIdentity user{
        "0b7f5e4e-1111-4222-8333-444455556666", "9a8b7c6d-1111-4222-8333-444455556666",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
        "userAssignedIdentities/ml"};
    e.assign_identity(user);
    auto o = quick();
    o.client_id = user.client_id;
    CHECK(appid_of(e, Cred(o, p).try_get_token(vault())) == user.client_id);

    p.environment().set("MSI_SECRET", "wrong-ml-secret");
    Cred wrong(quick(), p);
    auto w = wrong.try_get_token(vault());
    CHECK(w.failure() == Failure::failed);
    CHECK(w.error_info().http_status == 401);
    for (const char* s : {"ml-secret-value", "wrong-ml-secret"}) {
      CHECK_FALSE(has(message(w), s));
      CHECK_FALSE(p.logged(s));
    }
  }

  TEST_CASE("concurrent first callers share one probe and one token request") {
    emu::Emulator e(plain());
    MiPlatform p;
    auto o = quick(&e);
    o.within_default_chain = true;
    Cred cred(o, p);
    // The probe is answered slowly and the callers start together, so they overlap: without a
    // shared probe and single flight there would be more requests, not fewer by luck.
    auto slow_probe = emu::Fault::respond_with(400, R"({"error":"bad_request"})");
    slow_probe.delay = std::chrono::milliseconds(300);
    e.push_fault(token_path, slow_probe);
    std::atomic<int> ok{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        if (cred.try_get_token(vault()).ok()) ++ok;
      });
    go = true;
    for (auto& t : threads) t.join();
    CHECK(ok == 8);
    CHECK(e.request_count(token_path) == 2);
  }

  TEST_CASE("issued tokens never reach the logs") {
    emu::Emulator e(plain());
    MiPlatform p;
    Cred cred(quick(&e), p);
    auto r = cred.try_get_token(vault());
    REQUIRE(r.ok());
    CHECK_FALSE(p.logged(r.token().token));
    CHECK(p.logged(
        "ManagedIdentityCredential will use the Azure Instance Metadata Service (IMDS) source"));
  }
}
