// azid/platform/process_runner.hpp: ProcessSpec, ProcessResult and PosixProcessRunner, the real
// ProcessRunner (models ProcessRunner; declarations only, spawning lives in impl/spawn_posix.ipp).
#pragma once

#include <signal.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "azid/config.hpp"
#include "azid/core/error_code.hpp"

AZID_BEGIN

/// What to run. There is no shell anywhere: `argv` goes to the program as it is, so no value in
/// it can be re-read as shell syntax.
struct ProcessSpec {
  /// The program and its arguments. A program name without '/' is looked up on PATH (the PATH
  /// in `env` when it sets one, else the caller's), and only in absolute PATH directories.
  std::vector<std::string> argv;
  /// Variables set (or replaced) in the child's environment; the rest is inherited.
  std::vector<std::pair<std::string, std::string>> env;
  /// Working directory of the child; empty keeps the caller's.
  std::string cwd;
  /// The child (and every process in its process group) is killed with SIGKILL at this deadline.
  std::chrono::milliseconds timeout{10'000};
  /// Limit for each of stdout and stderr; a child that writes more is killed.
  std::size_t max_output_bytes = 1024 * 1024;
};

/// How a process ended and what it wrote. stdin is always /dev/null.
struct ProcessResult {
  /// Exit status when the process exited by itself; -1 when it was killed by a signal.
  int exit_code = -1;
  /// The signal that ended it (e.g. SIGKILL after a timeout), 0 when it exited.
  int term_signal = 0;
  /// The deadline passed and the process group was killed.
  bool timed_out = false;
  /// The exit status could not be read because something else reaped the process (the
  /// application ignores SIGCHLD or waits for every child itself); exit_code is then 0 and the
  /// output is all there is to judge by.
  bool status_unknown = false;
  /// Everything read from stdout and stderr (up to ProcessSpec::max_output_bytes each).
  std::string out;
  std::string err;
  /// The file that was executed, after the PATH search.
  std::string program;
};

namespace detail {
/// The file `program` names: itself when it holds a '/', else the first executable regular file
/// called `program` in an absolute directory of `path` (a relative or empty PATH entry would
/// depend on the working directory, so it is skipped). nullopt when there is none.
AZID_DECL std::optional<std::string> find_program(std::string_view program, std::string_view path);
}  // namespace detail

/// Spawns programs with posix_spawn (models ProcessRunner).
///
/// The child gets its own process group, stdin from /dev/null, stdout and stderr on two pipes
/// that are read together with poll() (so a child that fills one pipe while we wait on the
/// other cannot deadlock), signal dispositions reset to default, and no other descriptors of
/// ours. At the deadline the whole group is killed with SIGKILL, so grandchildren go too. The
/// child is always reaped before run() returns.
///
/// While it runs, the child's process group is listed in a process-wide registry, so that
/// kill_running_tools() can stop it when the application is interrupted.
///
/// Thread safety: run() may be called from several threads at once; the object holds no state.
class PosixProcessRunner {
 public:
  /// Runs `spec` to completion. A non-zero exit is not an error here (ec stays clear); ec is set
  /// to errc::process_not_found (nothing was started), errc::process_spawn_failed,
  /// errc::process_timeout (result.timed_out, output read so far is kept) or
  /// errc::process_output_too_large. Never throws for these; std::bad_alloc can escape.
  AZID_DECL ProcessResult run(const ProcessSpec& spec, std::error_code& ec) const;
};

/// Sends `sig` to the process group of every child that a PosixProcessRunner::run() in this
/// process is running at the moment (az, azd, pwsh and whatever they started), and returns how
/// many groups it signalled. Each tool runs in a process group of its own, so a Ctrl-C at the
/// terminal does not reach it, and once the application dies of a signal nothing enforces the
/// tool's timeout any more: the tool runs on. An application with its own SIGINT / SIGTERM /
/// SIGHUP handling calls this from its handler before it exits (the `azid` tool does, then
/// re-raises the signal).
///
/// With a signal other than 0 it also marks the process as stopping: from then on run() starts
/// no tool (it fails with std::errc::operation_canceled), so a tool started on another thread
/// while the call scans is not left behind. Signal 0 only counts the groups that exist.
/// A fork() child does not inherit the list (its parent's children are not its own).
///
/// Async-signal-safe: it allocates nothing, takes no lock (the registry is a fixed array of
/// lock-free atomics) and keeps errno; it may also be called from any thread. A group is only
/// signalled while its leader is unreaped, so the id cannot have been reused (unless the
/// application sets SIGCHLD to SIG_IGN: the kernel then reaps children itself, and an id could in
/// principle be reused within the ~100 ms before run() notices, as for its own timeout kill).
/// Limits: up to 64 children are tracked at once (more run untracked, bounded by their timeout
/// only); a group that a concurrent call is signalling at that moment is skipped; a run() that is
/// starting its child right then is waited for, up to about 2 s (run() blocks signals on its own
/// thread meanwhile, so a handler never waits for the thread it interrupted). After a signal
/// other than SIGKILL the runs go on until their children end.
AZID_DECL int kill_running_tools(int sig = SIGKILL) noexcept;

namespace detail {
/// How many registry slots kill_running_tools() would look at now (listed or starting children);
/// 0 once every run() has ended. For tests and diagnostics.
AZID_DECL int tracked_tool_slots() noexcept;
/// Lets run() start tools again after a kill_running_tools() with a signal (tests only: an
/// application calls that function because it is stopping).
AZID_DECL void allow_tools_again() noexcept;
}  // namespace detail

AZID_END

#if defined(AZID_HEADER_ONLY)
#include "azid/impl/spawn_posix.ipp"
#endif
