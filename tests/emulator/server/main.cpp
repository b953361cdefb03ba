// azid-emulator: runs the Entra ID emulator as a standalone process for manual testing and the
// demo. Prints one JSON line describing where it listens, then serves until SIGINT/SIGTERM.
#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "emulator.hpp"
#include "emulator_crypto.hpp"
#include "emulator_json.hpp"

namespace {

[[noreturn]] void usage(const char* argv0, const std::string& problem) {
  if (!problem.empty()) std::cerr << argv0 << ": " << problem << "\n";
  std::cerr << "usage: " << argv0
            << " [--port N] [--cert-dir DIR] [--app TENANT:CLIENT_ID:SECRET]... [--plain-http]\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace azid_emulator;
  Options options;
  std::vector<App> apps;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(argv[0], arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--port") {
      const std::string v = value();
      char* end = nullptr;
      const long port = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || port < 0 || port > 65535)
        usage(argv[0], "invalid port '" + v + "'");
      options.port = static_cast<std::uint16_t>(port);
    } else if (arg == "--cert-dir") {
      options.cert_dir = value();
    } else if (arg == "--app") {
      // The secret is everything after the second ':' so it may itself contain colons.
      const std::string v = value();
      const auto c1 = v.find(':');
      const auto c2 = c1 == std::string::npos ? c1 : v.find(':', c1 + 1);
      if (c2 == std::string::npos || c1 == 0 || c2 == c1 + 1)
        usage(argv[0], "--app wants TENANT:CLIENT_ID:SECRET");
      apps.push_back(
          App{v.substr(0, c1), v.substr(c1 + 1, c2 - c1 - 1), v.substr(c2 + 1), false, {}});
    } else if (arg == "--plain-http") {
      options.tls = false;
    } else if (arg == "--help" || arg == "-h") {
      usage(argv[0], "");
    } else {
      usage(argv[0], "unknown argument '" + arg + "'");
    }
  }
  if (apps.empty()) {
    apps.push_back(App{detail::make_uuid(),
                       detail::make_uuid(),
                       "demo-" + detail::base64url_encode(detail::random_bytes(24)),
                       false,
                       {}});
  }

  // Block the stop signals before the pool threads exist so they inherit the mask and sigwait
  // below is the only place the signals are delivered.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    Emulator emulator(options);
    for (const auto& app : apps) emulator.register_app(app);
    emulator.set_secret("demo", "hello from the azid emulator");
    const App& first = apps.front();
    std::cout << detail::JsonObject()
                     .str("url", emulator.base_url())
                     .str("ca_file", emulator.ca_file())
                     .str("tenant", first.tenant)
                     .str("client_id", first.client_id)
                     .str("client_secret", first.client_secret)
                     .done()
              << std::endl;
    int signal = 0;
    sigwait(&stop_signals, &signal);
    std::cerr << "azid-emulator: stopping (" << emulator.request_count() << " requests served)\n";
  } catch (const std::exception& e) {
    std::cerr << "azid-emulator: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
