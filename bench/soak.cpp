// azid_soak: many threads call get_token for minutes while the emulator issues short-lived tokens
// and faults are injected (5xx, 429, dropped and reset connections, silence). Not a timed test:
// bench/soak.sh builds it under AddressSanitizer (LeakSanitizer checks for leaks at exit) and runs
// it; the figures go to bench/README.md.
//
//   azid_soak [--seconds N] [--threads T] [--lifetime S] [--refresh-offset S]
//
// Half the threads use ClientSecretCredential over TLS, half ManagedIdentityCredential (IMDS) over
// plain HTTP, each against its own emulator on 127.0.0.1. Exit status 0 only when no expired
// token was handed out, the request count stays within its bound (refresh cycles plus faults),
// and every socket and emulator connection is closed again at the end.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "azid/credentials/client_secret.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/platform/default_platform.hpp"
#include "emulator.hpp"

namespace {

using namespace std::chrono;
namespace emu = azid_emulator;

const std::string tenant = "50a50a50-0000-4000-8000-000000000001";
const std::string client = "50a50a50-0000-4000-8000-000000000002";
const std::string secret = "soak-client-secret";
constexpr const char* imds_path = "/metadata/identity/oauth2/token";
const std::vector<std::string> scopes = {"https://vault.azure.net/.default",
                                         "https://storage.azure.com/.default",
                                         "https://management.azure.com/.default"};

struct Config {
  int seconds = 300;
  int threads = 8;
  int lifetime = 10;       // token lifetime the emulators issue
  int refresh_offset = 3;  // the cache refreshes this long before expiry
};

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (k == "--seconds")
      c.seconds = v;
    else if (k == "--threads")
      c.threads = v;
    else if (k == "--lifetime")
      c.lifetime = v;
    else if (k == "--refresh-offset")
      c.refresh_offset = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      std::exit(64);
    }
  }
  if (c.seconds < 1 || c.threads < 2 || c.lifetime <= c.refresh_offset + 2 ||
      c.refresh_offset < 1) {
    std::fprintf(stderr, "bad options\n");
    std::exit(64);
  }
  return c;
}

std::size_t open_sockets() {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code rec;
    if (std::filesystem::read_symlink(e.path(), rec).string().rfind("socket:", 0) == 0) ++n;
  }
  return n;
}

long rss_kib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// What a failure handed to a caller was about.
std::string kind_of(const std::string& m) {
  for (const char* k : {"timed out", "connection closed", "429", "answered 5", "Multiple attempts",
                        "gateway", "No response received", "Unexpected response"})
    if (m.find(k) != std::string::npos) return k;
  return "other: " + m.substr(0, 80);
}

struct Stats {
  std::atomic<std::uint64_t> calls{0}, ok{0}, failed{0}, expired_handed_out{0}, new_tokens{0};
  // Latest expiry handed out per (credential, scope): a later one is a token not seen before.
  std::atomic<long long> latest[2][3] = {};
  std::atomic<std::int64_t> max_call_us{0};
  std::mutex mu;
  std::map<std::string, std::uint64_t> errors;  // by kind
  void failure(const std::string& m) {
    ++failed;
    std::lock_guard lk(mu);
    ++errors[kind_of(m)];
  }
  void latency(std::int64_t us) {
    std::int64_t cur = max_call_us.load();
    while (us > cur && !max_call_us.compare_exchange_weak(cur, us)) {
    }
  }
};

// The faults one emulator gets: at most one waits at a time, so each refresh meets at most one
// (and its retry succeeds), and a fault is pushed on about half of the injector's ticks.
std::vector<emu::Fault> fault_menu() {
  using K = emu::Fault::Kind;
  std::vector<emu::Fault> m;
  m.push_back(emu::Fault::respond_with(500, R"({"error":"server_error"})"));
  m.push_back(emu::Fault::respond_with(503, R"({"error":"temporarily_unavailable"})",
                                       {{"Retry-After", "0"}}));
  m.push_back(emu::Fault::respond_with(429, R"({"error":"throttled"})", {{"Retry-After", "0"}}));
  m.push_back(emu::Fault::of(K::drop_before_response));
  m.push_back(emu::Fault::of(K::drop_mid_headers));
  m.push_back(emu::Fault::of(K::drop_mid_body));
  m.push_back(emu::Fault::of(K::truncated_body));
  m.push_back(emu::Fault::of(K::silent));  // costs one request timeout
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse(argc, argv);
  const std::size_t sockets_before = open_sockets();
  const long rss_before = rss_kib();
  std::uint64_t sts_requests = 0, imds_requests = 0, faults_pushed = 0, faults_left = 0;
  std::size_t connections_left = 0;
  Stats st;
  std::map<std::string, std::uint64_t> pushed_by_kind;
  long rss_peak_run = 0;
  const auto start = steady_clock::now();
  {
    emu::Options so;
    so.token_lifetime = seconds(cfg.lifetime);
    so.threads = 2;
    emu::Emulator sts(so);
    sts.register_app({tenant, client, secret, false, {}});
    emu::Options io = so;
    io.tls = false;
    emu::Emulator imds(io);

    azid::DefaultPlatformOptions po;
    po.transport.extra_ca_file = sts.ca_file();
    po.transport.use_system_trust = false;
    po.proxy_from_environment = false;
    azid::DefaultPlatform platform(po);

    azid::CachePolicy cache;
    cache.refresh_offset = seconds(cfg.refresh_offset);
    cache.retry_delay = seconds(1);

    azid::ClientSecretCredentialOptions co;
    co.authority_host = sts.authority_host();
    co.retry.max_retries = 3;
    co.retry.base_delay = milliseconds(20);
    co.timeout = milliseconds(1000);
    co.connect_timeout = milliseconds(1000);
    co.cache = cache;
    const azid::ClientSecretCredential<> cs(tenant, client, secret, co, platform);

    azid::ManagedIdentityCredentialOptions mo;
    mo.imds_authority = imds.base_url();
    mo.imds.max_retries = 3;
    mo.imds.base_delay = milliseconds(20);
    mo.imds.jitter = 0;
    mo.timeout = milliseconds(1000);
    mo.connect_timeout = milliseconds(1000);
    mo.arc_himds_path = "";
    mo.cache = cache;
    const azid::ManagedIdentityCredential<> mi(mo, platform);
    if (mi.source() != azid::ManagedIdentitySource::imds) {
      std::fprintf(
          stderr,
          "soak: the environment selects a managed identity source other than IMDS; unset it\n");
      return 2;
    }

    std::atomic<bool> stop{false};
    const auto deadline = start + seconds(cfg.seconds);

    // Fault injector: one tick every 250 ms per emulator.
    std::thread injector([&] {
      std::mt19937 rng(12345);
      const auto menu = fault_menu();
      const char* names[] = {"500",
                             "503",
                             "429",
                             "drop_before_response",
                             "drop_mid_headers",
                             "drop_mid_body",
                             "truncated_body",
                             "silent"};
      while (!stop) {
        std::this_thread::sleep_for(milliseconds(250));
        for (auto* e : {&sts, &imds}) {
          if (e->pending_faults() > 0 || rng() % 2 == 0) continue;
          const std::size_t i = rng() % menu.size();
          e->push_fault(e == &sts ? "/" + tenant : std::string(imds_path), menu[i]);
          ++faults_pushed;
          ++pushed_by_kind[names[i]];
        }
      }
    });

    std::vector<std::thread> workers;
    for (int t = 0; t < cfg.threads; ++t) {
      workers.emplace_back([&, t] {
        std::size_t i = static_cast<std::size_t>(t);
        while (steady_clock::now() < deadline) {
          azid::TokenRequestContext ctx;
          ctx.scopes = {scopes[i++ % scopes.size()]};
          const auto t0 = steady_clock::now();
          const azid::TokenResult r = (t % 2 == 0) ? cs.try_get_token(ctx) : mi.try_get_token(ctx);
          st.latency(duration_cast<microseconds>(steady_clock::now() - t0).count());
          ++st.calls;
          if (r.ok()) {
            ++st.ok;
            if (r.token().expires_on <= system_clock::now()) ++st.expired_handed_out;
            const long long e = r.token().expires_on_unix();
            auto& latest = st.latest[t % 2][(i - 1) % scopes.size()];
            long long seen = latest.load();
            while (e > seen)
              if (latest.compare_exchange_weak(seen, e)) {
                ++st.new_tokens;
                break;
              }
          } else {
            st.failure(r.error_info().message);
          }
          std::this_thread::sleep_for(microseconds(200));
        }
      });
    }
    // Progress once a minute.
    for (int s = 1; steady_clock::now() < deadline; ++s) {
      std::this_thread::sleep_until(std::min(deadline, start + seconds(60 * s)));
      std::printf(
          "soak: %3lds calls=%llu ok=%llu failed=%llu sts_requests=%zu imds_requests=%zu rss=%ld "
          "KiB\n",
          static_cast<long>(duration_cast<seconds>(steady_clock::now() - start).count()),
          static_cast<unsigned long long>(st.calls.load()),
          static_cast<unsigned long long>(st.ok.load()),
          static_cast<unsigned long long>(st.failed.load()), sts.request_count("/" + tenant),
          imds.request_count(imds_path), rss_kib());
      std::fflush(stdout);
      rss_peak_run = std::max(rss_peak_run, rss_kib());
    }
    for (auto& w : workers) w.join();
    stop = true;
    injector.join();
    sts_requests = sts.request_count("/" + tenant);
    imds_requests = imds.request_count(imds_path);
    faults_left = sts.pending_faults() + imds.pending_faults();
    platform.transport().close_idle();
    for (int i = 0; i < 100 && sts.open_connections() + imds.open_connections() > 0; ++i)
      std::this_thread::sleep_for(milliseconds(20));
    connections_left = sts.open_connections() + imds.open_connections();
  }
  const double secs = duration_cast<milliseconds>(steady_clock::now() - start).count() / 1000.0;
  const std::size_t sockets_after = open_sockets();

  // Each scope of each credential is fetched once, then refreshed every lifetime - offset seconds
  // (expiries are whole seconds, so count lifetime - offset - 1, plus the first fetch and one
  // more); every fault a request met may add one request (its retry).
  const std::uint64_t cycles =
      static_cast<std::uint64_t>(secs / (cfg.lifetime - cfg.refresh_offset - 1)) + 2;
  const std::uint64_t expiries = 2 * scopes.size() * cycles;
  const std::uint64_t faults_met = faults_pushed - faults_left;
  const std::uint64_t requests = sts_requests + imds_requests;
  const std::uint64_t bound = expiries + faults_met;

  std::printf("\nsoak: %.0f s, %d threads, token lifetime %d s, refresh %d s before expiry\n", secs,
              cfg.threads, cfg.lifetime, cfg.refresh_offset);
  std::printf("  get_token calls        %llu (%.0f/s), ok %llu, failed %llu, max call %.1f ms\n",
              static_cast<unsigned long long>(st.calls.load()), st.calls.load() / secs,
              static_cast<unsigned long long>(st.ok.load()),
              static_cast<unsigned long long>(st.failed.load()), st.max_call_us.load() / 1000.0);
  std::printf("  expired tokens handed  %llu\n",
              static_cast<unsigned long long>(st.expired_handed_out.load()));
  std::printf("  distinct tokens seen   %llu (one per refresh that succeeded)\n",
              static_cast<unsigned long long>(st.new_tokens.load()));
  std::printf("  requests seen          %llu (token endpoint %llu, IMDS %llu)\n",
              static_cast<unsigned long long>(requests),
              static_cast<unsigned long long>(sts_requests),
              static_cast<unsigned long long>(imds_requests));
  std::printf(
      "  expiry bound           %llu refresh cycles (2 credentials x %zu scopes x %llu) + %llu "
      "faults met = %llu\n",
      static_cast<unsigned long long>(expiries), scopes.size(),
      static_cast<unsigned long long>(cycles), static_cast<unsigned long long>(faults_met),
      static_cast<unsigned long long>(bound));
  std::printf("  faults injected        %llu:", static_cast<unsigned long long>(faults_pushed));
  for (const auto& [k, n] : pushed_by_kind)
    std::printf(" %s=%llu", k.c_str(), static_cast<unsigned long long>(n));
  std::printf("\n  errors to callers     ");
  if (st.errors.empty()) std::printf(" none");
  for (const auto& [k, n] : st.errors)
    std::printf(" [%s]=%llu", k.c_str(), static_cast<unsigned long long>(n));
  std::printf("\n  rss                    start %ld KiB, peak during run %ld KiB, end %ld KiB\n",
              rss_before, rss_peak_run, rss_kib());
  std::printf("  sockets                before %zu, after %zu; emulator connections left %zu\n",
              sockets_before, sockets_after, connections_left);

  const bool pass = st.expired_handed_out == 0 && requests <= bound &&
                    sockets_after == sockets_before && connections_left == 0 && st.ok > 0;
  std::printf("soak: %s\n", pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
