// Cold acquisition against the emulator over TLS on 127.0.0.1, beside the raw lower bound measured
// in the same run (a minimal Asio+OpenSSL client posting the same request), and the thundering herd.
#include <benchmark/benchmark.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "azid/async/get_token.hpp"
#include "azid/async/platform.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/detail/entra.hpp"
#include "azid/platform/default_platform.hpp"
#include "emulator.hpp"

namespace {

const std::string tenant = "3c4d5e6f-0000-4000-8000-000000000001";
const std::string client = "3c4d5e6f-0000-4000-8000-000000000002";
const std::string secret = "bench-secret";

azid_emulator::Emulator& emulator() {
  static azid_emulator::Emulator* e = [] {
    azid_emulator::Options o;
    o.threads = 1;
    auto* emu = new azid_emulator::Emulator(o);
    emu->register_app({tenant, client, secret, false, {}});
    return emu;
  }();
  return *e;
}

azid::DefaultPlatform platform() {
  azid::DefaultPlatformOptions o;
  o.transport.extra_ca_file = emulator().ca_file();
  o.transport.use_system_trust = false;
  o.proxy_from_environment = false;
  return azid::DefaultPlatform(o);
}

azid::ClientSecretCredentialOptions cred_options() {
  azid::ClientSecretCredentialOptions o;
  o.authority_host = emulator().authority_host();
  return o;
}

azid::TokenRequestContext vault() {
  azid::TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}

// The request azid sends, serialised once, for the raw client.
std::string raw_request() {
  const std::string endpoint = azid::detail::token_endpoint(emulator().authority_host(), tenant);
  std::string fields;
  azid::detail::append_form(fields, "client_secret", secret);
  azid::HttpRequest r =
      azid::detail::make_client_credentials_request(endpoint, client, vault(), fields);
  std::string out = "POST /" + tenant + "/oauth2/v2.0/token HTTP/1.1\r\nHost: 127.0.0.1:" +
                    std::to_string(emulator().port()) + "\r\n";
  for (const auto& [k, v] : r.headers.fields()) out += k + ": " + v + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
  return out;
}

// The lower bound: one TLS handshake (if `fresh`) and one POST with the plainest Asio+OpenSSL code.
class RawClient {
 public:
  RawClient() : ctx_(asio::ssl::context::tls_client) {
    ctx_.load_verify_file(emulator().ca_file());
    ctx_.set_verify_mode(asio::ssl::verify_peer);
  }
  void post(bool fresh) {
    if (fresh || !stream_) {
      stream_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket>>(io_, ctx_);
      asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), emulator().port());
      stream_->next_layer().connect(ep);
      stream_->next_layer().set_option(asio::ip::tcp::no_delay(true));
      stream_->handshake(asio::ssl::stream_base::client);
    }
    asio::write(*stream_, asio::buffer(request_));
    buf_.clear();
    const std::size_t head = asio::read_until(*stream_, asio::dynamic_buffer(buf_), "\r\n\r\n");
    const auto cl = buf_.find("Content-Length: ");
    const std::size_t len = cl == std::string::npos ? 0 : std::stoul(buf_.substr(cl + 16));
    if (buf_.size() < head + len)
      asio::read(*stream_, asio::dynamic_buffer(buf_),
                 asio::transfer_exactly(head + len - buf_.size()));
    if (buf_.compare(0, 12, "HTTP/1.1 200") != 0) throw std::runtime_error("raw POST failed");
    if (fresh) {
      std::error_code ec;
      stream_->next_layer().close(ec);
      stream_.reset();
    }
  }

 private:
  asio::io_context io_;
  asio::ssl::context ctx_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket>> stream_;
  std::string request_ = raw_request();
  std::string buf_;
};

void BM_Cold_NewConnection_Raw(benchmark::State& state) {
  RawClient raw;
  for (auto _ : state) raw.post(true);
}

// A fresh credential (empty cache) on a transport whose idle connections were closed: DNS-free
// TCP connect, TLS handshake, the token POST, JSON parse and cache insert.
void BM_Cold_NewConnection_Azid(benchmark::State& state) {
  auto p = platform();
  const auto ctx = vault();
  for (auto _ : state) {
    p.transport().close_idle();
    azid::ClientSecretCredential<> cred(tenant, client, secret, cred_options(), p);
    if (!cred.try_get_token(ctx).ok()) state.SkipWithError("token request failed");
  }
}

void BM_Cold_KeptAlive_Raw(benchmark::State& state) {
  RawClient raw;
  raw.post(false);
  for (auto _ : state) raw.post(false);
}

void BM_Cold_KeptAlive_Azid(benchmark::State& state) {
  auto p = platform();
  const auto ctx = vault();
  {
    azid::ClientSecretCredential<> warm(tenant, client, secret, cred_options(), p);
    (void)warm.try_get_token(ctx);
  }
  for (auto _ : state) {
    azid::ClientSecretCredential<> cred(tenant, client, secret, cred_options(), p);
    if (!cred.try_get_token(ctx).ok()) state.SkipWithError("token request failed");
  }
  state.counters["connections"] = static_cast<double>(p.transport().connections_opened());
}

// 64 threads call get_token on one fresh credential at once; the emulator counts requests.
void BM_ThunderingHerd64(benchmark::State& state) {
  auto p = platform();
  const auto ctx = vault();
  double total_requests = 0, rounds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::size_t before = emulator().request_count("/" + tenant);
    azid::ClientSecretCredential<> cred(tenant, client, secret, cred_options(), p);
    std::atomic<bool> go{false};
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 64; ++i)
      threads.emplace_back([&] {
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        if (cred.try_get_token(ctx).ok()) ok.fetch_add(1);
      });
    state.ResumeTiming();
    go.store(true, std::memory_order_release);
    for (auto& t : threads) t.join();
    state.PauseTiming();
    if (ok.load() != 64) state.SkipWithError("some callers failed");
    total_requests += static_cast<double>(emulator().request_count("/" + tenant) - before);
    rounds += 1;
    state.ResumeTiming();
  }
  state.counters["requests_per_herd"] = total_requests / rounds;
}

}  // namespace

// An asynchronous cache hit: async_get_token with a callback, then running the io_context until
// it completes. Baseline in the same run, on an identical io_context (same credential, same
// kept-alive connection registered with its reactor): posting one handler that receives a copy of
// the token, which is what any asynchronous completion with an AccessToken costs at the least.
struct AsyncHitSetup {
  asio::io_context io;
  azid::AsyncPlatform platform{io.get_executor(), options()};
  azid::ClientSecretCredential<azid::AsyncPlatform> cred{tenant, client, secret, cred_options(),
                                                         platform};
  azid::TokenRequestContext ctx = vault();
  azid::AccessToken first;
  bool ok = false;

  AsyncHitSetup() {
    azid::async_get_token(cred, ctx, [&](std::error_code ec, azid::AccessToken t) {
      ok = !ec;
      first = std::move(t);
    });
    io.run();
  }
  static azid::DefaultPlatformOptions options() {
    azid::DefaultPlatformOptions po;
    po.transport.extra_ca_file = emulator().ca_file();
    po.transport.use_system_trust = false;
    po.proxy_from_environment = false;
    return po;
  }
};

void BM_AsyncHit_PostFloor(benchmark::State& state) {
  AsyncHitSetup s;
  if (!s.ok) {
    state.SkipWithError("no first token from the emulator");
    return;
  }
  for (auto _ : state) {
    asio::post(s.io, [t = s.first]() mutable { benchmark::DoNotOptimize(t.token.data()); });
    s.io.restart();
    s.io.run();
  }
}

void BM_AsyncHit_AsyncGetToken(benchmark::State& state) {
  AsyncHitSetup s;
  if (!s.ok) {
    state.SkipWithError("no first token from the emulator");
    return;
  }
  for (auto _ : state) {
    azid::async_get_token(s.cred, s.ctx, [](std::error_code, azid::AccessToken t) {
      benchmark::DoNotOptimize(t.token.data());
    });
    s.io.restart();
    s.io.run();
  }
}

BENCHMARK(BM_AsyncHit_PostFloor)->UseRealTime();
BENCHMARK(BM_AsyncHit_AsyncGetToken)->UseRealTime();
BENCHMARK(BM_Cold_NewConnection_Raw)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Cold_NewConnection_Azid)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Cold_KeptAlive_Raw)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Cold_KeptAlive_Azid)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_ThunderingHerd64)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(20);
