// azid/testing/scripted_process.hpp: ScriptedProcessRunner, a ProcessRunner that answers from a
// script and records what it was asked to run (models ProcessRunner).
#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "azid/config.hpp"
#include "azid/core/error_code.hpp"
#include "azid/platform/process_runner.hpp"

AZID_BEGIN
namespace testing {

/// Hands out scripted results in order and records every ProcessSpec. For tests that need the
/// exact command line or an outcome a real child cannot easily produce; azid's own credential
/// tests prefer real child processes (scripts on a PATH the test controls).
/// With the script exhausted, run() reports errc::process_not_found.
class ScriptedProcessRunner {
 public:
  struct Step {
    ProcessResult result;
    std::error_code ec;
  };

  /// Queues a process that exits with `exit_code` after writing `out` and `err`.
  void push(int exit_code, std::string out, std::string err = {}) {
    ProcessResult r;
    r.exit_code = exit_code;
    r.out = std::move(out);
    r.err = std::move(err);
    push(Step{std::move(r), {}});
  }
  /// Queues a runner failure (errc::process_timeout, process_not_found, ...).
  void push_error(std::error_code ec) {
    ProcessResult r;
    r.timed_out = ec == errc::process_timeout;
    push(Step{std::move(r), ec});
  }
  void push(Step s) {
    std::lock_guard lk(mu_);
    script_.push_back(std::move(s));
  }

  ProcessResult run(const ProcessSpec& spec, std::error_code& ec) const {
    std::lock_guard lk(mu_);
    specs_.push_back(spec);
    if (script_.empty()) {
      ec = make_error_code(errc::process_not_found);
      return {};
    }
    Step s = std::move(script_.front());
    script_.pop_front();
    ec = s.ec;
    if (s.result.program.empty() && !spec.argv.empty()) s.result.program = spec.argv.front();
    return std::move(s.result);
  }

  /// Every spec run() was given, oldest first.
  [[nodiscard]] std::vector<ProcessSpec> specs() const {
    std::lock_guard lk(mu_);
    return specs_;
  }
  [[nodiscard]] std::size_t run_count() const {
    std::lock_guard lk(mu_);
    return specs_.size();
  }

 private:
  mutable std::mutex mu_;
  mutable std::deque<Step> script_;
  mutable std::vector<ProcessSpec> specs_;
};

}  // namespace testing
AZID_END
