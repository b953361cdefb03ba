// Tests of the Entra ID emulator itself, through a small blocking HTTP/1.1 client written here so
// they do not depend on azid's transport. The client connects to 127.0.0.1 only and trusts only the
// emulator's CA.
#include <doctest/doctest.h>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "emulator.hpp"
#include "emulator_http.hpp"  // the emulator's own parser, tested directly below

namespace {

using namespace std::chrono_literals;
using azid_emulator::App;
using azid_emulator::Emulator;
using azid_emulator::Fault;
using tcp = asio::ip::tcp;

struct Response {
  int status = 0;
  azid_emulator::Headers headers;
  std::string body;
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k.size() == name.size() &&
          std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          }))
        return v;
    return {};
  }
};

// Blocking in spirit, but every operation is async + run_for so a misbehaving server fails the
// test with a timeout instead of hanging it.
class TestClient {
 public:
  explicit TestClient(const Emulator& emulator, std::chrono::milliseconds timeout = 5s)
      : port_(emulator.port()), timeout_(timeout) {
    if (emulator.base_url().rfind("https://", 0) == 0) {
      ctx_.set_verify_mode(asio::ssl::verify_peer);
      ctx_.load_verify_file(emulator.ca_file());
      tls_.emplace(io_, ctx_);
      tls_->set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
    } else {
      plain_.emplace(io_);
    }
  }

  std::error_code connect() {
    std::error_code result;
    bool done = false;
    socket().async_connect(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), port_),
                           [&](std::error_code ec) {
                             result = ec;
                             done = true;
                           });
    wait(done);
    if (result || !tls_) return result;
    done = false;
    tls_->async_handshake(asio::ssl::stream_base::client, [&](std::error_code ec) {
      result = ec;
      done = true;
    });
    wait(done);
    return result;
  }

  std::error_code write(std::string_view data) {
    std::error_code result;
    bool done = false;
    auto handler = [&](std::error_code ec, std::size_t) {
      result = ec;
      done = true;
    };
    if (tls_)
      asio::async_write(*tls_, asio::buffer(data), handler);
    else
      asio::async_write(*plain_, asio::buffer(data), handler);
    wait(done);
    return result;
  }

  // Appends what arrives to the internal buffer.
  std::error_code read_some() {
    std::error_code result;
    bool done = false;
    std::array<char, 16384> chunk;
    auto handler = [&](std::error_code ec, std::size_t n) {
      buffer_.append(chunk.data(), n);
      result = ec;
      done = true;
    };
    if (tls_)
      tls_->async_read_some(asio::buffer(chunk), handler);
    else
      plain_->async_read_some(asio::buffer(chunk), handler);
    wait(done);
    return result;
  }

  // Reads one Content-Length-framed response; nullopt if the connection ends first.
  std::optional<Response> read_response() {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (read_some()) return std::nullopt;
    Response r;
    const std::string head = buffer_.substr(0, end + 2);
    buffer_.erase(0, end + 4);
    r.status = std::stoi(head.substr(9, 3));
    std::size_t pos = head.find("\r\n") + 2;
    while (pos < head.size()) {
      const std::size_t eol = head.find("\r\n", pos);
      const std::string line = head.substr(pos, eol - pos);
      const std::size_t colon = line.find(':');
      r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
      pos = eol + 2;
    }
    const std::size_t length = std::stoul(r.header("Content-Length"));
    while (buffer_.size() < length)
      if (read_some()) return std::nullopt;  // the partial body stays in buffer() for inspection
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  std::optional<Response> request(std::string_view method, std::string_view target,
                                  std::string_view body = {},
                                  const azid_emulator::Headers& headers = {}) {
    if (!connected_) {
      if (connect()) return std::nullopt;
      connected_ = true;
    }
    std::string req = std::string(method) + " " + std::string(target) +
                      " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) + "\r\n";
    bool typed = false;  // a Content-Type of the caller's replaces the form default
    for (const auto& [k, v] : headers) {
      req += k + ": " + v + "\r\n";
      typed = typed || azid_emulator::detail::iequals(k, "Content-Type");
    }
    if (!body.empty() && !typed) req += "Content-Type: application/x-www-form-urlencoded\r\n";
    if (!body.empty() || method == "POST")
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n";
    req += body;
    if (write(req)) return std::nullopt;
    return read_response();
  }

  std::string& buffer() { return buffer_; }

 private:
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }

  void wait(bool& done) {
    io_.restart();
    io_.run_for(timeout_);
    if (!done) {
      // Cancel and drain so the handler (which refers to locals of the caller) runs before we
      // leave.
      std::error_code ignored;
      socket().close(ignored);
      io_.restart();
      io_.run();
      throw std::runtime_error("test client timed out");
    }
  }

  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  asio::io_context io_;
  asio::ssl::context ctx_{asio::ssl::context::tls_client};
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
  std::optional<tcp::socket> plain_;
  std::string buffer_;
  bool connected_ = false;
};

// Enough JSON for the flat objects the emulator returns: a string or number member's text.
std::string json_member(std::string_view json, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":";
  const auto at = json.find(needle);
  if (at == std::string_view::npos) return "<missing>";
  std::size_t i = at + needle.size();
  if (json[i] == '"') {
    std::string out;
    for (++i; i < json.size() && json[i] != '"'; ++i) {
      if (json[i] == '\\') ++i;
      out += json[i];
    }
    return out;
  }
  const auto end = json.find_first_of(",}", i);
  return std::string(json.substr(i, end - i));
}

const App test_app{"contoso.onmicrosoft.com", "11111111-2222-3333-4444-555555555555",
                   "s3cr3t~value", false, ""};

std::string token_form(std::string_view client_id, std::string_view secret,
                       std::string_view scope = "https%3A%2F%2Fvault.azure.net%2F.default") {
  return "grant_type=client_credentials&client_id=" + std::string(client_id) +
         "&client_secret=" + std::string(secret) + "&scope=" + std::string(scope);
}

std::string token_path(std::string_view tenant = test_app.tenant) {
  return "/" + std::string(tenant) + "/oauth2/v2.0/token";
}

}  // namespace

TEST_SUITE("emulator") {
  TEST_CASE("a client-credentials token request succeeds and the token verifies") {
    azid_emulator::Options options;
    options.refresh_in = std::chrono::seconds{1800};
    Emulator emulator(options);
    const App app = emulator.register_app(test_app);
    emulator.set_secret("greeting", "hello");
    TestClient client(emulator);

    const auto r =
        client.request("POST", token_path(), token_form(app.client_id, app.client_secret),
                       {{"client-request-id", "c0ffee00-0000-4000-8000-000000000001"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("client-request-id") == "c0ffee00-0000-4000-8000-000000000001");
    CHECK(json_member(r->body, "token_type") == "Bearer");
    CHECK(json_member(r->body, "expires_in") == "3600");
    CHECK(json_member(r->body, "ext_expires_in") == "3600");
    CHECK(json_member(r->body, "refresh_in") == "1800");
    const std::string token = json_member(r->body, "access_token");

    std::string payload;
    REQUIRE(azid_emulator::verify_token(emulator, token, payload));
    CHECK(json_member(payload, "aud") == "https://vault.azure.net");
    CHECK(json_member(payload, "iss") == "https://sts.windows.net/" + app.tenant + "/");
    CHECK(json_member(payload, "ver") == "1.0");
    CHECK(json_member(payload, "tid") == app.tenant);
    CHECK(json_member(payload, "appid") == app.client_id);
    CHECK(json_member(payload, "azp") == app.client_id);
    CHECK(json_member(payload, "oid") == app.object_id);
    CHECK(json_member(payload, "sub") == app.object_id);
    CHECK(json_member(payload, "idtyp") == "app");
    const long long iat = std::stoll(json_member(payload, "iat"));
    CHECK(std::stoll(json_member(payload, "exp")) - iat == 3600);
    CHECK(std::stoll(json_member(payload, "nbf")) == iat - 300);

    SUBCASE("a tampered token does not verify") {
      std::string tampered = token;
      tampered[token.find('.') + 5] ^= 1;
      CHECK_FALSE(azid_emulator::verify_token(emulator, tampered, payload));
      CHECK_FALSE(azid_emulator::verify_token(emulator, "not.a.jwt", payload));
    }

    SUBCASE("non-v1 resources get a v2 token") {
      const auto v2 = client.request(
          "POST", token_path(),
          token_form(app.client_id, app.client_secret, "api%3A%2F%2Fmy-api%2F.default"));
      REQUIRE(v2);
      REQUIRE(v2->status == 200);
      REQUIRE(
          azid_emulator::verify_token(emulator, json_member(v2->body, "access_token"), payload));
      CHECK(json_member(payload, "aud") == "api://my-api");
      CHECK(json_member(payload, "iss") == emulator.base_url() + "/" + app.tenant + "/v2.0");
      CHECK(json_member(payload, "ver") == "2.0");
    }

    SUBCASE("the token opens the protected resource") {
      const azid_emulator::Headers auth{{"Authorization", "Bearer " + token}};
      const auto ok = client.request("GET", "/secrets/greeting", {}, auth);
      REQUIRE(ok);
      CHECK(ok->status == 200);
      CHECK(json_member(ok->body, "value") == "hello");
      CHECK(json_member(ok->body, "id") == emulator.base_url() + "/secrets/greeting");

      const auto missing = client.request("GET", "/secrets/nope", {}, auth);
      REQUIRE(missing);
      CHECK(missing->status == 404);

      const auto anonymous = client.request("GET", "/secrets/greeting");
      REQUIRE(anonymous);
      CHECK(anonymous->status == 401);
      CHECK(anonymous->header("WWW-Authenticate") ==
            "Bearer authorization=\"" + emulator.base_url() + "/" + app.tenant +
                "\", resource=\"https://vault.azure.net\"");

      const std::string expired =
          emulator.issue_token(app.tenant, app.client_id, "https://vault.azure.net", -60s);
      const auto stale =
          client.request("GET", "/secrets/greeting", {}, {{"Authorization", "Bearer " + expired}});
      REQUIRE(stale);
      CHECK(stale->status == 401);

      const std::string other =
          emulator.issue_token(app.tenant, app.client_id, "api://elsewhere", 3600s);
      const auto wrong_aud =
          client.request("GET", "/secrets/greeting", {}, {{"Authorization", "Bearer " + other}});
      REQUIRE(wrong_aud);
      CHECK(wrong_aud->status == 401);

      const std::string own =
          emulator.issue_token(app.tenant, app.client_id, emulator.base_url(), 3600s);
      const auto own_aud =
          client.request("GET", "/secrets/greeting", {}, {{"Authorization", "Bearer " + own}});
      REQUIRE(own_aud);
      CHECK(own_aud->status == 200);
    }
  }

  TEST_CASE("token endpoint errors have Entra's shape") {
    Emulator emulator;
    const App app = emulator.register_app(test_app);
    App expired = test_app;
    expired.client_id = "99999999-2222-3333-4444-555555555555";
    expired.secret_expired = true;
    emulator.register_app(expired);
    TestClient client(emulator);

    struct Case {
      std::string tenant;
      std::string body;
      int status;
      std::string error;
      int code;
      std::string description_start;
    };
    const Case cases[] = {
        {"bad_tenant", token_form(app.client_id, app.client_secret), 400, "invalid_request", 900023,
         "AADSTS900023: Specified tenant identifier 'bad_tenant' is neither a valid DNS name, nor "
         "a valid external domain."},
        {app.tenant, token_form("00000000-0000-0000-0000-000000000000", "x"), 400,
         "unauthorized_client", 700016,
         "AADSTS700016: Application with identifier '00000000-0000-0000-0000-000000000000' was not "
         "found in the "
         "directory '" +
             app.tenant + "'."},
        {"not-a-tenant", token_form(app.client_id, app.client_secret), 400, "invalid_request",
         900023,
         "AADSTS900023: Specified tenant identifier 'not-a-tenant' is neither a valid DNS name, "
         "nor "
         "a valid external domain."},
        {"other.example", token_form(app.client_id, app.client_secret), 400, "invalid_request",
         90002, "AADSTS90002: Tenant 'other.example' not found."},
        {app.tenant, token_form(app.client_id, "wrong"), 401, "invalid_client", 7000215,
         "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
         "request is the client "
         "secret value, not the client secret ID, for a secret added to app '" +
             app.client_id + "'."},
        {app.tenant, token_form(expired.client_id, expired.client_secret), 401, "invalid_client",
         7000222,
         "AADSTS7000222: The provided client secret keys for app '" + expired.client_id +
             "' are expired."},
        {app.tenant,
         "grant_type=client_credentials&client_id=" + app.client_id +
             "&client_secret=" + app.client_secret,
         400, "invalid_scope", 1002012, "AADSTS1002012: "},
        {app.tenant,
         token_form(app.client_id, app.client_secret,
                    "https%3A%2F%2Fvault.azure.net%2Fuser_impersonation"),
         400, "invalid_scope", 1002012,
         "AADSTS1002012: The provided value for scope https://vault.azure.net/user_impersonation"},
        {app.tenant, "grant_type=password&client_id=" + app.client_id, 400,
         "unsupported_grant_type", 70003,
         "AADSTS70003: The app requested an unsupported grant type 'password'."},
        {app.tenant, "client_id=" + app.client_id, 400, "invalid_request", 900144,
         "AADSTS900144: The request body must contain the following parameter: 'grant_type'."},
    };
    for (const auto& c : cases) {
      CAPTURE(c.code);
      const auto r = client.request("POST", token_path(c.tenant), c.body,
                                    {{"client-request-id", "corr-1234"}});
      REQUIRE(r);
      CHECK(r->status == c.status);
      CHECK(r->header("client-request-id") == "corr-1234");
      CHECK(json_member(r->body, "error") == c.error);
      CHECK(r->body.find("\"error_codes\":[" + std::to_string(c.code) + "]") != std::string::npos);
      const std::string description = json_member(r->body, "error_description");
      CHECK(description.rfind(c.description_start, 0) == 0);
      const std::string trace_id = json_member(r->body, "trace_id");
      CHECK(trace_id.size() == 36);
      CHECK(json_member(r->body, "correlation_id") == "corr-1234");
      CHECK(description.find(" Trace ID: " + trace_id + " Correlation ID: corr-1234 Timestamp: ") !=
            std::string::npos);
      CHECK(json_member(r->body, "timestamp").size() == 20);  // "YYYY-MM-DD hh:mm:ssZ"
      CHECK(json_member(r->body, "error_uri") ==
            emulator.base_url() + "/error?code=" + std::to_string(c.code));
    }
    CHECK(emulator.request_count("/" + app.tenant + "/") == 7);
    CHECK(emulator.request_count() == 10);
  }

  TEST_CASE("a fault is consumed once, by the first matching request") {
    Emulator emulator;
    const App app = emulator.register_app(test_app);
    emulator.push_fault("/secrets", Fault::respond_with(500));  // never matched below
    emulator.push_fault("/" + app.tenant,
                        Fault::respond_with(503, "{not json", {{"Retry-After", "1"}}));
    CHECK(emulator.pending_faults() == 2);

    TestClient client(emulator);
    const auto first =
        client.request("POST", token_path(), token_form(app.client_id, app.client_secret));
    REQUIRE(first);
    CHECK(first->status == 503);
    CHECK(first->header("Retry-After") == "1");
    CHECK(first->body == "{not json");
    const auto second =
        client.request("POST", token_path(), token_form(app.client_id, app.client_secret));
    REQUIRE(second);
    CHECK(second->status == 200);
    CHECK(emulator.pending_faults() == 1);
    CHECK(emulator.request_count(token_path()) == 2);
    CHECK(emulator.request_count("/secrets") == 0);
    const auto recorded = emulator.requests();
    REQUIRE(recorded.size() == 2);
    CHECK(recorded[0].method == "POST");
    CHECK(recorded[0].form_param("client_secret") == app.client_secret);
    CHECK(recorded[0].header("content-type") == "application/x-www-form-urlencoded");
  }

  TEST_CASE("connection-level faults") {
    Emulator emulator;
    const App app = emulator.register_app(test_app);
    const std::string body = token_form(app.client_id, app.client_secret);

    SUBCASE("drop_before_response") {
      emulator.push_fault("", Fault::of(Fault::Kind::drop_before_response));
      TestClient client(emulator);
      CHECK_FALSE(client.request("POST", token_path(), body));
      CHECK(client.buffer().empty());
    }
    SUBCASE("drop_mid_headers") {
      emulator.push_fault("", Fault::of(Fault::Kind::drop_mid_headers));
      TestClient client(emulator);
      CHECK_FALSE(client.request("POST", token_path(), body));
      CHECK(client.buffer().rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
      CHECK(client.buffer().find("\r\n\r\n") == std::string::npos);
    }
    SUBCASE("drop_mid_body and truncated_body") {
      const std::string payload = R"({"access_token":"abcdefgh","expires_in":3600})";
      for (const auto kind : {Fault::Kind::drop_mid_body, Fault::Kind::truncated_body}) {
        Fault f = Fault::of(kind);
        f.body = payload;
        emulator.push_fault("", f);
        TestClient client(emulator);
        CHECK_FALSE(client.request("POST", token_path(), body));
        // read_response consumed the head; what is left is the part of the body that was sent.
        CHECK(
            client.buffer() ==
            (kind == Fault::Kind::drop_mid_body ? payload.substr(0, payload.size() / 2) : payload));
      }
    }
    SUBCASE("huge_body streams until the client leaves") {
      emulator.push_fault("", Fault::of(Fault::Kind::huge_body));
      {
        TestClient client(emulator);
        REQUIRE_FALSE(client.connect());
        std::string req = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
        REQUIRE_FALSE(client.write(req));
        while (client.buffer().size() < 512 * 1024) REQUIRE_FALSE(client.read_some());
        CHECK(client.buffer().find("Content-Length: 1073741824\r\n") != std::string::npos);
      }
      TestClient next(emulator);
      const auto r = next.request("POST", token_path(), body);
      REQUIRE(r);
      CHECK(r->status == 200);
    }
    SUBCASE("slow_body trickles the body and keeps the connection") {
      Fault f = Fault::of(Fault::Kind::slow_body);
      f.body = "{}";
      f.byte_interval = 50ms;
      emulator.push_fault("", f);
      TestClient client(emulator);
      const auto start = std::chrono::steady_clock::now();
      const auto slow = client.request("GET", "/anything");
      REQUIRE(slow);
      CHECK(slow->body == "{}");
      CHECK(std::chrono::steady_clock::now() - start >= 90ms);
      const auto after = client.request("POST", token_path(), body);
      REQUIRE(after);
      CHECK(after->status == 200);
    }
    SUBCASE("a delayed fault does not hold up other connections") {
      Fault f;
      f.status = 500;
      f.delay = 1500ms;
      emulator.push_fault("/slow", f);
      TestClient slow(emulator);
      REQUIRE_FALSE(slow.connect());
      REQUIRE_FALSE(slow.write("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n"));
      REQUIRE(emulator.wait_for_requests(1, 2s, "/slow"));
      const auto start = std::chrono::steady_clock::now();
      TestClient fast(emulator);
      const auto r = fast.request("POST", token_path(), body);
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(std::chrono::steady_clock::now() - start < 1s);
      const auto delayed = slow.read_response();
      REQUIRE(delayed);
      CHECK(delayed->status == 500);
    }
  }

  TEST_CASE("concurrent clients are served independently") {
    Emulator emulator;
    const App app = emulator.register_app(test_app);
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        TestClient client(emulator);
        for (int i = 0; i < 5; ++i) {
          const auto r =
              client.request("POST", token_path(), token_form(app.client_id, app.client_secret));
          if (r && r->status == 200) ++ok;
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(ok == 20);
    CHECK(emulator.request_count() == 20);
  }

  TEST_CASE("the destructor returns promptly with silent and slow connections open") {
    std::optional<Emulator> emulator(std::in_place);
    emulator->push_fault("/silent", Fault::of(Fault::Kind::silent));
    Fault slow = Fault::of(Fault::Kind::slow_body);
    slow.byte_interval = 10s;
    emulator->push_fault("/slow", slow);
    TestClient a(*emulator), b(*emulator), idle(*emulator);
    REQUIRE_FALSE(a.connect());
    REQUIRE_FALSE(b.connect());
    REQUIRE_FALSE(idle.connect());
    REQUIRE_FALSE(a.write("GET /silent HTTP/1.1\r\nHost: h\r\n\r\n"));
    REQUIRE_FALSE(b.write("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n"));
    REQUIRE(emulator->wait_for_requests(2, 5s));
    CHECK(emulator->open_connections() == 3);

    const auto start = std::chrono::steady_clock::now();
    emulator.reset();
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    // The silent connection is closed, not left dangling.
    CHECK(a.read_some());
    CHECK(a.buffer().empty());
  }

  TEST_CASE("HTTP handling: keep-alive, Connection: close, bad requests, plain HTTP, routes") {
    SUBCASE("many requests per connection, then Connection: close") {
      Emulator emulator;
      TestClient client(emulator);
      for (int i = 0; i < 3; ++i) {
        const auto r = client.request("GET", "/nowhere");
        REQUIRE(r);
        CHECK(r->status == 404);
      }
      const auto last = client.request("GET", "/nowhere", {}, {{"Connection", "close"}});
      REQUIRE(last);
      CHECK(last->header("Connection") == "close");
      CHECK(client.read_some());  // orderly end of stream
      CHECK(emulator.request_count() == 4);
    }
    SUBCASE("a malformed request gets 400 and the connection closes") {
      Emulator emulator;
      TestClient client(emulator);
      REQUIRE_FALSE(client.connect());
      REQUIRE_FALSE(client.write("GET /x HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n"));
      const auto r = client.read_response();
      REQUIRE(r);
      CHECK(r->status == 400);
      CHECK(client.read_some());
      CHECK(emulator.request_count() == 0);
    }
    SUBCASE("plain HTTP, a custom route and 405") {
      azid_emulator::Options options;
      options.tls = false;
      Emulator emulator(options);
      CHECK(emulator.base_url() == "http://127.0.0.1:" + std::to_string(emulator.port()));
      CHECK(emulator.ca_file().empty());
      emulator.add_route(
          "GET", "/metadata/{kind}/{*rest}",
          [](const azid_emulator::RecordedRequest& req, const azid_emulator::RouteMatch& m) {
            return azid_emulator::Reply{200,
                                        {},
                                        m.param("kind") + "|" + m.param("rest") + "|" +
                                            req.query_param("resource").value_or("-")};
          });
      TestClient client(emulator);
      const auto r =
          client.request("GET", "/metadata/identity/oauth2/token?resource=https%3A%2F%2Fx");
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(r->body == "identity|oauth2/token|https://x");
      const auto wrong = client.request("PUT", "/metadata/identity/x");
      REQUIRE(wrong);
      CHECK(wrong->status == 405);
      CHECK(wrong->header("Allow") == "GET");
    }
    SUBCASE("an expired server certificate fails verification") {
      azid_emulator::Options options;
      options.expired_server_cert = true;
      Emulator emulator(options);
      TestClient client(emulator);
      CHECK(client.connect());
    }
  }

  TEST_CASE("the request parser frames requests strictly") {
    using azid_emulator::detail::parse_request;
    using azid_emulator::detail::ParsedRequest;
    using Status = azid_emulator::detail::ParseOutcome::Status;
    const azid_emulator::detail::ParserLimits limits;
    ParsedRequest req;

    SUBCASE("pipelined requests are consumed one at a time") {
      const std::string two =
          "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: "
          "h\r\n\r\n";
      auto o = parse_request(two, req, limits);
      REQUIRE(o.status == Status::complete);
      CHECK(req.body == "abc");
      o = parse_request(std::string_view(two).substr(o.consumed), req, limits);
      REQUIRE(o.status == Status::complete);
      CHECK(req.target == "/b");
    }
    SUBCASE("chunked bodies are de-chunked") {
      const std::string chunked =
          "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
          "chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n";
      for (std::size_t cut = 0; cut < chunked.size(); ++cut)
        CHECK(parse_request(chunked.substr(0, cut), req, limits).status == Status::incomplete);
      const auto o = parse_request(chunked, req, limits);
      REQUIRE(o.status == Status::complete);
      CHECK(o.consumed == chunked.size());
      CHECK(req.body == "abcde");
    }
    SUBCASE("keep-alive defaults and 100-continue") {
      REQUIRE(parse_request("GET / HTTP/1.0\r\n\r\n", req, limits).status == Status::complete);
      CHECK_FALSE(req.keep_alive);
      REQUIRE(parse_request("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n",
                            req, limits)
                  .status == Status::complete);
      CHECK_FALSE(req.keep_alive);
      const auto o = parse_request(
          "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", req,
          limits);
      CHECK(o.status == Status::incomplete);
      CHECK(o.expects_continue);
    }
    SUBCASE("malformed or oversized requests are errors") {
      const std::pair<std::string, int> bad[] = {
          {"GET /x HTTP/1.1\r\n\r\n", 400},              // no Host
          {"GET  /x HTTP/1.1\r\nHost: h\r\n\r\n", 400},  // double space
          {"GET x HTTP/1.1\r\nHost: h\r\n\r\n", 400},    // not origin-form
          {"GET /x HTTP/2.0\r\nHost: h\r\n\r\n", 505},
          {"GET /x HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400},
          {"GET /x HTTP/1.1\r\nHost : h\r\n\r\n", 400},  // space before colon
          {"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
          {"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
          {"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
           400},
          {"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
          {"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n", 413},
          {"GET /x HTTP/1.1\r\nHost: h\r\nX: " + std::string(20000, 'a') + "\r\n\r\n", 431},
          {"GET /" + std::string(20000, 'a'), 431},  // no end of headers in sight
      };
      for (const auto& [text, status] : bad) {
        CAPTURE(text.substr(0, 60));
        const auto o = parse_request(text, req, limits);
        CHECK(o.status == Status::error);
        CHECK(o.error_status == status);
      }
    }
  }

  TEST_CASE("GET on the token endpoint and the signing keys document") {
    Emulator emulator;
    TestClient client(emulator);
    const auto get = client.request("GET", token_path());
    REQUIRE(get);
    CHECK(get->status == 400);
    CHECK(json_member(get->body, "error_description").rfind("AADSTS900561: ", 0) == 0);
    const auto keys = client.request("GET", "/" + test_app.tenant + "/discovery/v2.0/keys");
    REQUIRE(keys);
    CHECK(keys->status == 200);
    CHECK(json_member(keys->body, "kid") == emulator.signing_key_id());
    CHECK(json_member(keys->body, "e") == "AQAB");
    CHECK(emulator.issuer_public_key_pem().rfind("-----BEGIN PUBLIC KEY-----", 0) == 0);
  }

  // The managed identity routes turn away every request a real endpoint would: the credentials'
  // tests against them then show that azid sends each header, api-version and parameter.
  TEST_CASE("managed identity routes reject what the real endpoints reject") {
    const std::string resource = "resource=https%3A%2F%2Fvault.azure.net";
    struct Case {
      const char* what;
      std::string target;
      azid_emulator::Headers headers;
      int status;
    };
    auto run = [](const Emulator& emulator, const std::vector<Case>& cases) {
      for (const auto& c : cases) {
        CAPTURE(c.what);
        TestClient client(emulator);
        const auto r = client.request("GET", c.target, {}, c.headers);
        REQUIRE(r);
        CHECK(r->status == c.status);
        if (c.status == 200) CHECK(json_member(r->body, "access_token").size() > 100);
      }
    };
    azid_emulator::Options plain;
    plain.tls = false;
    SUBCASE("IMDS") {
      Emulator emulator(plain);
      const azid_emulator::ManagedIdentity user{
          "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000001",
          "/subscriptions/s/resourceGroups/g/providers/"
          "Microsoft.ManagedIdentity/userAssignedIdentities/u"};
      emulator.assign_identity(user);
      const std::string path = "/metadata/identity/oauth2/token?api-version=2018-02-01&";
      const azid_emulator::Headers md{{"Metadata", "true"}};
      run(emulator,
          {
              {"system", path + resource, md, 200},
              {"client_id", path + resource + "&client_id=" + user.client_id, md, 200},
              {"object_id", path + resource + "&object_id=" + user.object_id, md, 200},
              {"msi_res_id", path + resource + "&msi_res_id=" + user.resource_id, md, 200},
              {"no Metadata header", path + resource, {}, 400},
              {"Metadata: false", path + resource, {{"Metadata", "false"}}, 400},
              {"old api-version",
               "/metadata/identity/oauth2/token?api-version=2017-09-01&" + resource, md, 400},
              {"no resource", path + "x=1", md, 400},
              {"two identities",
               path + resource + "&client_id=" + user.client_id + "&object_id=" + user.object_id,
               md, 400},
              {"unknown identity",
               path + resource + "&client_id=cccccccc-0000-4000-8000-000000000001", md, 400},
          });
      emulator.set_system_identity(std::nullopt);
      run(emulator, {{"no system identity", path + resource, md, 400}});
    }
    SUBCASE("App Service") {
      Emulator emulator(plain);
      emulator.set_identity_header("the-header");
      const std::string path = "/msi/token?api-version=2019-08-01&";
      const azid_emulator::Headers id{{"X-IDENTITY-HEADER", "the-header"}};
      const std::string client = emulator.system_identity()->client_id;
      run(emulator,
          {
              {"system", path + resource, id, 200},
              {"client_id", path + resource + "&client_id=" + client, id, 200},
              {"no X-IDENTITY-HEADER", path + resource, {{"Metadata", "true"}}, 401},
              {"wrong X-IDENTITY-HEADER", path + resource, {{"X-IDENTITY-HEADER", "other"}}, 401},
              {"IMDS api-version", "/msi/token?api-version=2018-02-01&" + resource, id, 400},
              {"no resource", path + "x=1", id, 400},
              {"IMDS's parameter name", path + resource + "&msi_res_id=/x&client_id=" + client, id,
               400},  // App Service's own name is mi_res_id: the emulator refuses another's
              {"two identities", path + resource + "&client_id=" + client + "&mi_res_id=/x", id,
               400},
          });
    }
    SUBCASE("Azure Arc: the challenge, then the key") {
      azid_emulator::Options arc = plain;
      arc.metadata_host = azid_emulator::MetadataHost::arc;
      Emulator emulator(arc);
      const std::string path = "/metadata/identity/oauth2/token?api-version=2020-06-01&";
      const azid_emulator::Headers md{{"Metadata", "true"}};
      TestClient client(emulator);
      const auto challenge = client.request("GET", path + resource, {}, md);
      REQUIRE(challenge);
      CHECK(challenge->status == 401);
      const std::string realm = challenge->header("WWW-Authenticate");
      REQUIRE(realm.rfind("Basic realm=" + emulator.arc_key_dir() + "/", 0) == 0);
      const std::string file = realm.substr(12);
      CHECK(file.size() > 4);
      CHECK(file.substr(file.size() - 4) == ".key");
      std::string key;
      {
        std::FILE* f = std::fopen(file.c_str(), "rb");
        REQUIRE(f != nullptr);
        char buf[256];
        key.assign(buf, std::fread(buf, 1, sizeof buf, f));
        std::fclose(f);
      }
      CHECK(key.size() >= 32);
      const azid_emulator::Headers with_key{{"Metadata", "true"},
                                            {"Authorization", "Basic " + key}};
      run(emulator,
          {
              {"the key", path + resource, with_key, 200},
              {"another key",
               path + resource,
               {{"Metadata", "true"}, {"Authorization", "Basic " + std::string(43, 'A')}},
               401},
              {"Bearer scheme",
               path + resource,
               {{"Metadata", "true"}, {"Authorization", "Bearer " + key}},
               401},
              {"no Metadata header", path + resource, {{"Authorization", "Basic " + key}}, 400},
              {"IMDS api-version",
               "/metadata/identity/oauth2/token?api-version=2018-02-01&" + resource, with_key, 400},
              {"user-assigned", path + resource + "&client_id=x", with_key, 400},
          });
    }
    SUBCASE("Service Fabric, over the instance's own certificate") {
      azid_emulator::Options fabric;
      fabric.metadata_host = azid_emulator::MetadataHost::service_fabric;
      Emulator emulator(fabric);
      emulator.set_identity_header("fabric-secret");
      const std::string path = "/metadata/identity/oauth2/token?api-version=2019-07-01-preview&";
      const azid_emulator::Headers secret{{"Secret", "fabric-secret"}};
      run(emulator,
          {
              {"system", path + resource, secret, 200},
              {"no Secret header", path + resource, {{"Metadata", "true"}}, 401},
              {"wrong Secret", path + resource, {{"Secret", "other"}}, 401},
              {"IMDS api-version",
               "/metadata/identity/oauth2/token?api-version=2018-02-01&" + resource, secret, 400},
              {"no resource", path + "x=1", secret, 400},
          });
      emulator.set_system_identity(std::nullopt);
      run(emulator, {{"no identity", path + resource, secret, 404}});
    }
    SUBCASE("Cloud Shell and Azure ML") {
      Emulator emulator(plain);
      emulator.set_identity_header("ml-secret");
      auto post = [&](std::string_view body, const azid_emulator::Headers& headers) {
        TestClient client(emulator);
        const auto r = client.request("POST", "/oauth2/token", body, headers);
        REQUIRE(r);
        return r->status;
      };
      CHECK(post(resource, {{"Metadata", "true"}}) == 200);  // a form, by default
      CHECK(post(resource, {}) == 400);
      CHECK(post(resource, {{"Metadata", "true"}, {"Content-Type", "application/json"}}) == 400);
      CHECK(post("x=1", {{"Metadata", "true"}}) == 400);
      const std::string path = "/MSI/auth?api-version=2017-09-01&";
      const azid_emulator::Headers secret{{"secret", "ml-secret"}};
      const std::string client = emulator.system_identity()->client_id;
      run(emulator,
          {
              {"system", path + resource, secret, 200},
              {"clientid", path + resource + "&clientid=" + client, secret, 200},
              {"unknown clientid", path + resource + "&clientid=nobody", secret, 400},
              {"another source's name", path + resource + "&client_id=" + client, secret, 400},
              {"no secret", path + resource, {}, 401},
              {"wrong secret", path + resource, {{"secret", "x"}}, 401},
              {"IMDS api-version", "/MSI/auth?api-version=2018-02-01&" + resource, secret, 400},
              {"no resource", path + "x=1", secret, 400},
          });
      TestClient client_ml(emulator);
      const auto r = client_ml.request("GET", path + resource, {}, secret);
      REQUIRE(r);
      // The 2017 API's expiry: "MM/DD/YYYY HH:MM:SS +00:00".
      const std::string expires = json_member(r->body, "expires_on");
      CHECK(expires.size() == 26);
      CHECK(expires.substr(19) == " +00:00");
    }
  }

}  // TEST_SUITE
