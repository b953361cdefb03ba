// azid/testing/platform.hpp: fakes of the seams for users' and our own tests (ManualClock,
// MapEnvironment, MapFiles, ScriptedTransport) and testing::Platform bundling them.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "azid/config.hpp"
#include "azid/core/error_code.hpp"
#include "azid/core/log.hpp"
#include "azid/platform/process_runner.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN
namespace testing {

/// A clock that moves only when told to; `sleep_for` advances it and records the wait (models Clock).
class ManualClock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point start =
                           std::chrono::system_clock::time_point{
                               std::chrono::seconds{1'700'000'000}})
      : wall_(start) {}
  [[nodiscard]] std::chrono::system_clock::time_point now() const {
    std::lock_guard lk(mu_);
    return wall_;
  }
  [[nodiscard]] std::chrono::steady_clock::time_point steady_now() const {
    std::lock_guard lk(mu_);
    return steady_;
  }
  void sleep_for(std::chrono::milliseconds d) const {
    std::lock_guard lk(mu_);
    sleeps_.push_back(d);
    wall_ += d;
    steady_ += d;
  }
  void advance(std::chrono::milliseconds d) {
    std::lock_guard lk(mu_);
    wall_ += d;
    steady_ += d;
  }
  /// Steps the wall clock to `t` (an NTP correction, either way); the steady clock stays.
  void set_wall(std::chrono::system_clock::time_point t) {
    std::lock_guard lk(mu_);
    wall_ = t;
  }
  [[nodiscard]] std::vector<std::chrono::milliseconds> sleeps() const {
    std::lock_guard lk(mu_);
    return sleeps_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::chrono::system_clock::time_point wall_;
  mutable std::chrono::steady_clock::time_point steady_{};
  mutable std::vector<std::chrono::milliseconds> sleeps_;
};

/// An environment backed by a map (models Environment). Empty values read as unset, as for real.
class MapEnvironment {
 public:
  MapEnvironment() = default;
  MapEnvironment(std::initializer_list<std::pair<const std::string, std::string>> vars)
      : vars_(vars) {}
  [[nodiscard]] std::optional<std::string> get(std::string_view name) const {
    auto it = vars_.find(std::string(name));
    if (it == vars_.end() || it->second.empty()) return std::nullopt;
    return it->second;
  }
  void set(std::string name, std::string value) { vars_[std::move(name)] = std::move(value); }
  void unset(const std::string& name) { vars_.erase(name); }

 private:
  std::map<std::string, std::string> vars_;
};

/// Files in memory (models FileReader).
class MapFiles {
 public:
  [[nodiscard]] std::string read(const std::string& path, std::size_t max_bytes,
                                 std::error_code& ec) const {
    std::lock_guard lk(mu_);
    ec.clear();
    auto it = files_.find(path);
    if (it == files_.end()) {
      ec = make_error_code(errc::file_not_found);
      return {};
    }
    if (it->second.size() > max_bytes) {
      ec = make_error_code(errc::file_too_large);
      return {};
    }
    return it->second;
  }
  void set(std::string path, std::string content) {
    std::lock_guard lk(mu_);
    files_[std::move(path)] = std::move(content);
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> files_;
};

/// Answers requests from a script and records them (models Transport). For policy tests that
/// need exact control; protocol behaviour is tested against the emulator over real TLS.
class ScriptedTransport {
 public:
  using Step = std::variant<HttpResponse, std::error_code>;

  void push(HttpResponse r) {
    std::lock_guard lk(mu_);
    script_.emplace_back(std::move(r));
  }
  void push(int status, std::string body,
            std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    for (auto& [k, v] : headers) r.headers.add(k, v);
    push(std::move(r));
  }
  void push_error(std::error_code ec) {
    std::lock_guard lk(mu_);
    script_.emplace_back(ec);
  }
  HttpResponse send(const HttpRequest& req, std::error_code& ec) {
    std::lock_guard lk(mu_);
    requests_.push_back(req);
    ec.clear();
    if (script_.empty()) {
      ec = make_error_code(errc::connect_failed);
      return {};
    }
    Step s = std::move(script_.front());
    script_.pop_front();
    if (auto* e = std::get_if<std::error_code>(&s)) {
      ec = *e;
      return {};
    }
    auto r = std::get<HttpResponse>(std::move(s));
    r.body.reserve(r.body.size() + 64);
    return r;
  }
  [[nodiscard]] std::vector<HttpRequest> requests() const {
    std::lock_guard lk(mu_);
    return requests_;
  }
  [[nodiscard]] std::size_t request_count() const {
    std::lock_guard lk(mu_);
    return requests_.size();
  }

 private:
  mutable std::mutex mu_;
  std::deque<Step> script_;
  std::vector<HttpRequest> requests_;
};

/// Bundles fakes into a Platform. Transport defaults to ScriptedTransport; any Transport type
/// (e.g. HttpsTransport pointed at the emulator) can be plugged in. Copies share state.
template <class T = ScriptedTransport>
class BasicPlatform {
 public:
  struct State {
    template <class... A>
    explicit State(A&&... a) : transport(std::forward<A>(a)...) {}
    T transport;
    ManualClock clock;
    MapEnvironment environment;
    MapFiles files;
    // Real processes: tests of the developer-tool credentials run small scripts, and PATH (read
    // through `environment`) decides which ones.
    PosixProcessRunner process_runner;
    Logger logger;
  };
  template <class... A>
  explicit BasicPlatform(A&&... transport_args)
      : state_(std::make_shared<State>(std::forward<A>(transport_args)...)) {}

  [[nodiscard]] T& transport() const noexcept { return state_->transport; }
  [[nodiscard]] ManualClock& clock() const noexcept { return state_->clock; }
  [[nodiscard]] MapEnvironment& environment() const noexcept { return state_->environment; }
  [[nodiscard]] MapFiles& files() const noexcept { return state_->files; }
  [[nodiscard]] const PosixProcessRunner& process_runner() const noexcept {
    return state_->process_runner;
  }
  [[nodiscard]] Logger& logger() const noexcept { return state_->logger; }

 private:
  std::shared_ptr<State> state_;
};

using Platform = BasicPlatform<ScriptedTransport>;

}  // namespace testing
AZID_END
