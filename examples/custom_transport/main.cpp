// custom_transport: send azid's HTTP through your own client, with your own headers and metrics.
//
// A credential does all its I/O through its Platform's transport. Any type with
//     azid::HttpResponse send(const azid::HttpRequest&, std::error_code&)
// models the azid::Transport concept; bundle it with a clock, environment, file reader and logger
// into a Platform and give that to the credential as its template argument. Typical reasons:
// an application-wide HTTP client (proxy rules, connection limits), a User-Agent your operators
// can search for, metrics and tracing around every call to Entra ID.
//
// Here the "existing client" is azid's HttpsTransport and the wrapper adds a header, counts
// calls, failures and latency, and prints one audit line per exchange. To wrap a different
// client (libcurl, cpp-httplib, your company's), translate HttpRequest/HttpResponse and keep the
// Transport rules: never throw for I/O failures (set `ec` to an azid::errc such as
// connect_failed or timeout, so the credential can retry and explain), honour req.timeout,
// req.connect_timeout and req.max_body_bytes, and be callable from many threads at once.
//
// Runs offline against azid's local Entra ID emulator.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <azid/core/concepts.hpp>
#include <azid/credentials/client_secret.hpp>
#include <azid/platform/clock.hpp>
#include <azid/platform/environment.hpp>
#include <azid/platform/file_reader.hpp>
#include <azid/transport/https.hpp>

#include "emulator.hpp"

namespace app {

/// Counters a metrics exporter would read. Atomics: send() runs on many threads at once.
struct HttpMetrics {
  std::atomic<long> exchanges{0};
  std::atomic<long> failures{0};  // I/O errors and HTTP statuses >= 500
  std::atomic<long> total_us{0};
};

/// The wrapper: models azid::Transport by delegating to the client the application already has.
class InstrumentedTransport {
 public:
  InstrumentedTransport(azid::TransportOptions options, std::string user_agent_prefix)
      : inner_(std::move(options)), user_agent_prefix_(std::move(user_agent_prefix)) {}

  azid::HttpResponse send(const azid::HttpRequest& request, std::error_code& ec) {
    // Requests are const: copy to add headers. (Token requests are rare, so the copy is cheap.)
    // Azure SDK convention: the application's id goes first in the User-Agent.
    azid::HttpRequest req = request;
    req.headers.set("User-Agent",
                    user_agent_prefix_ + " " + std::string(request.headers.get("User-Agent")));

    const auto start = std::chrono::steady_clock::now();
    azid::HttpResponse res = inner_.send(req, ec);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const long us =
        static_cast<long>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());

    metrics_.exchanges.fetch_add(1, std::memory_order_relaxed);
    metrics_.total_us.fetch_add(us, std::memory_order_relaxed);
    if (ec || res.status >= 500) metrics_.failures.fetch_add(1, std::memory_order_relaxed);
    // Audit line: method, URL without its query (queries can carry signatures), outcome.
    // Never log request bodies or the Authorization header: they hold secrets and tokens.
    const std::string_view url = std::string_view(req.url).substr(0, req.url.find('?'));
    std::printf("  [transport] %s %.*s -> %s (%ld us)\n", req.method.c_str(),
                static_cast<int>(url.size()), url.data(),
                ec ? ec.message().c_str() : std::to_string(res.status).c_str(), us);
    return res;
  }

  const HttpMetrics& metrics() const noexcept { return metrics_; }

 private:
  azid::HttpsTransport inner_;  // the "existing client"; thread-safe, pools connections
  std::string user_agent_prefix_;
  HttpMetrics metrics_;
};
static_assert(azid::Transport<InstrumentedTransport>);

/// The platform: a cheap, copyable handle (credentials keep a copy) sharing one transport.
class AppPlatform {
 public:
  AppPlatform(azid::TransportOptions transport, std::string user_agent_prefix)
      : state_(std::make_shared<State>(std::move(transport), std::move(user_agent_prefix))) {
    // azid's own diagnostics (already redacted) go to the same place as the application's.
    state_->logger =
        azid::Logger(azid::LogLevel::info, [](azid::LogLevel level, std::string_view msg) {
          std::printf("  [azid %s] %.*s\n", azid::to_string(level).data(),
                      static_cast<int>(msg.size()), msg.data());
        });
  }

  InstrumentedTransport& transport() const noexcept { return state_->transport; }
  const azid::SystemClock& clock() const noexcept { return state_->clock; }
  const azid::ProcessEnvironment& environment() const noexcept { return state_->environment; }
  const azid::PosixFileReader& files() const noexcept { return state_->files; }
  azid::Logger& logger() const noexcept { return state_->logger; }

 private:
  struct State {
    State(azid::TransportOptions t, std::string ua) : transport(std::move(t), std::move(ua)) {}
    InstrumentedTransport transport;
    azid::SystemClock clock;
    azid::ProcessEnvironment environment;
    azid::PosixFileReader files;
    azid::Logger logger;
  };
  std::shared_ptr<State> state_;
};
static_assert(azid::Platform<AppPlatform>);

}  // namespace app

int main() {
  try {
    // The stand-in for Entra ID (see examples/quickstart for what changes against real Azure).
    azid_emulator::Emulator entra;
    const std::string tenant_id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    const std::string client_id = "11111111-2222-4333-8444-555555555555";
    entra.register_app({tenant_id, client_id, "transport-secret", false, {}});
    // Make Entra ID busy once, to show a retry in the audit log and the metrics.
    entra.push_fault("/" + tenant_id + "/oauth2",
                     azid_emulator::Fault::respond_with(503, "", {{"Retry-After", "0"}}));
    azid::TransportOptions topts;
    topts.extra_ca_file = entra.ca_file();
    topts.use_system_trust = false;

    app::AppPlatform platform(topts, "contoso-billing/2.3");
    azid::ClientSecretCredentialOptions options;
    options.authority_host = entra.authority_host();
    // The platform is the credential's template argument: the calls into the transport are
    // direct (inlinable) calls, not virtual ones.
    const azid::ClientSecretCredential<app::AppPlatform> credential(
        tenant_id, client_id, "transport-secret", options, platform);

    azid::TokenRequestContext ctx;
    ctx.scopes = {"https://vault.azure.net/.default"};
    std::printf("get_token (first call: Entra ID answers 503 once, then a token):\n");
    const azid::AccessToken token = credential.get_token(ctx);
    std::printf("get_token again (cached: no HTTP at all):\n");
    (void)credential.get_token(ctx);

    const app::HttpMetrics& m = platform.transport().metrics();
    std::printf("\ntoken of %zu bytes; metrics: %ld exchanges, %ld failed, %ld us in total\n",
                token.token.size(), m.exchanges.load(), m.failures.load(), m.total_us.load());
    const auto requests = entra.requests();
    const std::string user_agent = requests.empty() ? "" : requests.back().header("User-Agent");
    std::printf("User-Agent Entra ID saw: %s\n", user_agent.c_str());
    const bool ok =
        m.exchanges == 2 && m.failures == 1 && user_agent.starts_with("contoso-billing/2.3 azid/");
    if (!ok) std::fprintf(stderr, "expected 2 exchanges (one 503, one 200) through the wrapper\n");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "custom_transport example failed: %s\n", e.what());
    return 1;
  }
}
