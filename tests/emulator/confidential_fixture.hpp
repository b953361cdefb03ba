// Shared fixture of the confidential-client emulator tests: the real HttpsTransport over TLS
// to the emulator, real files and the real clock, but a map for the environment (tests never
// touch the process environment), and a DEBUG log captured in memory.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "azid/core/log.hpp"
#include "azid/platform/clock.hpp"
#include "azid/platform/file_reader.hpp"
#include "azid/testing/platform.hpp"
#include "azid/transport/https.hpp"
#include "emulator.hpp"

namespace azid_test {

/// testing::BasicPlatform with the TLS transport, PosixFileReader and SystemClock.
class EmuPlatform : public azid::testing::BasicPlatform<azid::HttpsTransport> {
 public:
  explicit EmuPlatform(azid::TransportOptions o) : BasicPlatform(std::move(o)) {}
  [[nodiscard]] const azid::PosixFileReader& files() const noexcept { return files_; }
  [[nodiscard]] const azid::SystemClock& clock() const noexcept { return clock_; }

 private:
  azid::PosixFileReader files_;
  azid::SystemClock clock_;
};

inline const std::string emu_tenant = "7a1e0f3c-1111-4222-8333-944455556666";
inline const std::string emu_client = "c0ffee00-aaaa-4bbb-8ccc-ddddeeeeffff";

struct ConfidentialFixture {
  azid_emulator::Emulator emu;
  EmuPlatform platform;
  std::mutex log_mu;
  std::vector<std::string> log_lines;

  ConfidentialFixture() : platform(transport_options(emu)) {
    // The app exists (its secret is irrelevant to assertion tests and never sent by them).
    emu.register_app({emu_tenant, emu_client, "unused-secret", false, {}});
    platform.logger().set_level(azid::LogLevel::debug);
    platform.logger().set_sink([this](azid::LogLevel, std::string_view m) {
      std::lock_guard lk(log_mu);
      log_lines.emplace_back(m);
    });
  }
  static azid::TransportOptions transport_options(const azid_emulator::Emulator& e) {
    azid::TransportOptions t;
    t.extra_ca_file = e.ca_file();
    t.use_system_trust = false;
    return t;
  }
  /// Options pointing at the emulator, with no retries and short timeouts.
  template <class O>
  O options(O o = {}) const {
    o.authority_host = emu.authority_host();
    o.retry.max_retries = 0;
    o.timeout = std::chrono::milliseconds(1500);
    o.connect_timeout = std::chrono::milliseconds(1000);
    return o;
  }
  std::vector<std::string> logs() {
    std::lock_guard lk(log_mu);
    return log_lines;
  }
  /// Every client_assertion the emulator received.
  std::vector<std::string> assertions_sent() const {
    std::vector<std::string> out;
    for (const auto& r : emu.requests())
      if (auto a = r.form_param("client_assertion")) out.push_back(*a);
    return out;
  }
};

inline azid::TokenRequestContext vault_scope() {
  azid::TokenRequestContext c;
  c.scopes = {"https://vault.azure.net/.default"};
  return c;
}

}  // namespace azid_test
