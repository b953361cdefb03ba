// Process start to first token of `azid token` against the emulator, and its peak RSS, beside the
// cost of starting and reaping a process that does nothing (/bin/true) in the same run. The
// system trust store stays in effect: the emulator's CA is added through a hashed directory in
// front of /etc/ssl/certs (SSL_CERT_DIR), and SSL_CERT_FILE is unset.
#include <benchmark/benchmark.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "emulator.hpp"

extern char** environ;

namespace {

const std::string tenant = "3c4d5e6f-0000-4000-8000-0000000000aa";
const std::string client = "3c4d5e6f-0000-4000-8000-0000000000bb";
const std::string secret = "startup-bench-secret";

struct Setup {
  azid_emulator::Emulator emu;
  std::string cert_dir;
  std::vector<std::string> env_storage;
  std::vector<char*> envp;
  Setup() {
    emu.register_app({tenant, client, secret, false, {}});
    cert_dir = (std::filesystem::temp_directory_path() /
                ("azid-bench-certs-" + std::to_string(::getpid())))
                   .string();
    std::filesystem::create_directories(cert_dir);
    FILE* f = std::fopen(emu.ca_file().c_str(), "r");
    X509* ca = f ? PEM_read_X509(f, nullptr, nullptr, nullptr) : nullptr;
    if (f) std::fclose(f);
    if (!ca) throw std::runtime_error("cannot read emulator CA");
    char name[32];
    std::snprintf(name, sizeof name, "%08lx.0", X509_subject_name_hash(ca));
    X509_free(ca);
    std::filesystem::copy_file(emu.ca_file(), cert_dir + "/" + name,
                               std::filesystem::copy_options::overwrite_existing);
    env_storage = {"PATH=/usr/bin:/bin", "SSL_CERT_DIR=" + cert_dir + ":/etc/ssl/certs",
                   "AZURE_TENANT_ID=" + tenant, "AZURE_CLIENT_ID=" + client,
                   "AZURE_CLIENT_SECRET=" + secret};
    for (auto& s : env_storage) envp.push_back(s.data());
    envp.push_back(nullptr);
  }
  ~Setup() {
    std::error_code ec;
    std::filesystem::remove_all(cert_dir, ec);
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

// Runs argv to completion under GNU time and returns the child's peak RSS in KiB (-1 on failure).
// Peak RSS is read by an intermediary because a child spawned straight from this (large) process
// inherits its RSS high-water mark across exec; /usr/bin/time is small, so the floor it adds is
// shown by the /bin/true row.
long run(std::vector<std::string> args, char** envp) {
  static const std::string rss_file =
      (std::filesystem::temp_directory_path() / ("azid-bench-rss-" + std::to_string(::getpid())))
          .string();
  args.insert(args.begin(), {"/usr/bin/time", "-f", "%M", "-o", rss_file});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  rusage ru{};
  if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return -1;
  long kib = -1;
  if (FILE* f = std::fopen(rss_file.c_str(), "r")) {
    if (std::fscanf(f, "%ld", &kib) != 1) kib = -1;
    std::fclose(f);
  }
  return kib;
}

void BM_Startup_Floor_BinTrue(benchmark::State& state) {
  (void)setup();  // emulator and trust directory are made outside the timed loop
  long rss = 0;
  for (auto _ : state) rss = run({"/bin/true"}, setup().envp.data());
  state.counters["peak_rss_KiB"] = static_cast<double>(rss);
}

void BM_Startup_AzidToken(benchmark::State& state) {
  Setup& s = setup();
  (void)run({"/bin/true"}, s.envp.data());
  long rss = 0;
  for (auto _ : state) {
    rss = run({AZID_CLI_PATH, "token", "--credential", "client-secret", "--authority-host",
               s.emu.authority_host(), "--scope", "https://vault.azure.net/.default"},
              s.envp.data());
    if (rss < 0) state.SkipWithError("azid token failed");
  }
  state.counters["peak_rss_KiB"] = static_cast<double>(rss);
}

}  // namespace

BENCHMARK(BM_Startup_Floor_BinTrue)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Startup_AzidToken)->Unit(benchmark::kMillisecond)->UseRealTime();
