// azid/impl/spawn_posix.ipp: PosixProcessRunner (posix_spawn, poll on both pipes, process-group
// kill on timeout) and kill_running_tools() (the registry of live children's process groups).
// Included only by platform/process_runner.hpp (header-only) or src.hpp.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "azid/core/error_code.hpp"
#include "azid/platform/process_runner.hpp"

extern char** environ;  // POSIX: the caller's environment, which the child inherits

AZID_BEGIN
namespace detail {
namespace spawn_impl {

// A descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  Fd() = default;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// O_CLOEXEC from birth, so a child spawned concurrently by another thread never inherits our
// ends; the read end is non-blocking so one poll() wake-up can drain it.
inline bool make_pipe(Fd& read_end, Fd& write_end) noexcept {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return false;
  read_end.fd = p[0];
  write_end.fd = p[1];
  const int flags = ::fcntl(read_end.fd, F_GETFL);
  return flags >= 0 && ::fcntl(read_end.fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

inline bool has_nul(std::string_view s) noexcept { return s.find('\0') != std::string_view::npos; }

inline std::string_view var_name(std::string_view entry) noexcept {
  return entry.substr(0, entry.find('='));
}

// The caller's environment with spec.env applied (later entries win).
inline std::vector<std::string> child_environment(const ProcessSpec& spec) {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto name = var_name(entry);
    const bool replaced = std::any_of(spec.env.begin(), spec.env.end(),
                                      [&](const auto& kv) { return kv.first == name; });
    if (!replaced) out.emplace_back(entry);
  }
  // Not a structured binding: clang before 16 cannot capture one in the lambda.
  for (const auto& kv : spec.env) {
    const std::string& name = kv.first;
    out.erase(std::remove_if(out.begin(), out.end(),
                             [&](const std::string& s) { return var_name(s) == name; }),
              out.end());
    out.push_back(name + "=" + kv.second);
  }
  return out;
}

inline std::string search_path(const ProcessSpec& spec) {
  for (auto it = spec.env.rbegin(); it != spec.env.rend(); ++it)
    if (it->first == "PATH") return it->second;
  if (const char* p = std::getenv("PATH")) return p;
  return "/usr/bin:/bin";
}

// Child state without reaping it: WNOWAIT keeps an exited child as a zombie, so its pid (and its
// process group id) cannot be reused before we decide whether to signal the group.
inline bool has_exited(pid_t pid) noexcept {
  siginfo_t si{};
  for (;;) {
    if (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0)
      return si.si_pid == pid;
    if (errno != EINTR) return true;  // ECHILD: someone else reaped it (SIGCHLD ignored)
  }
}

struct Reader {
  Fd fd;
  std::string* sink = nullptr;
  bool open = true;
};

// Reads what is available; false when the limit was exceeded.
inline bool drain(Reader& r, std::size_t limit) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(r.fd.fd, buf, sizeof buf);
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      if (r.sink->size() + got > limit) {
        r.sink->append(buf, limit - r.sink->size());
        return false;
      }
      r.sink->append(buf, got);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    r.open = false;  // EOF, or an error we cannot recover from on this pipe
    r.fd.reset();
    return true;
  }
}

// After the child itself has exited, keep reading this long for output that is still in
// flight; past it, something the child left behind holds the pipes and we stop waiting.
inline constexpr std::chrono::milliseconds straggler_grace{250};
// Upper bound of one poll() so a child that exits while a descendant holds the pipes is noticed.
inline constexpr std::chrono::milliseconds poll_slice{100};

// The registry of live children's process groups that kill_running_tools() signals. A slot holds
//   0        free;
//   -1       reserved by a run() that is starting its child (signals blocked on its thread);
//   p > 1    the process group p, whose leader (the child) is not reaped yet;
//   -p       the same while a kill_running_tools() call signals it.
// run() takes a slot 0 -> -1 before spawning, publishes -1 -> p after, and gives it back p -> 0
// before it reaps the child; kill_running_tools() claims p -> -p, signals, and puts p back. So a
// group is signalled only while its id is still taken by the unreaped leader.
inline constexpr std::size_t tracked_groups = 64;
inline constexpr pid_t slot_free = 0;
inline constexpr pid_t slot_starting = -1;
static_assert(std::atomic<pid_t>::is_always_lock_free,
              "kill_running_tools() must be async-signal-safe");
inline std::atomic<pid_t> live_groups[tracked_groups]{};
// Set (for good) by kill_running_tools() with a real signal, before it scans: a run() that
// reserved its slot after the scan went past it sees the flag (both sequentially consistent) and
// starts no child, so no tool is started behind the scan's back while the application stops.
inline std::atomic<bool> tools_stopping{false};
// The process whose children the table lists. A child made by fork() inherits a copy of the table
// naming its parent's children, which are not its own to signal (nor unreaped by it, so their ids
// may be reused): the table counts only in the process that filled it.
inline std::atomic<pid_t> registry_owner{0};

// Resets the copy of the table a fork() child inherits (only the forking thread exists then).
inline void forget_parents_children() noexcept {
  for (auto& s : live_groups) s.store(slot_free);
  tools_stopping.store(false);
  registry_owner.store(::getpid());
}

// One run()'s slot in the registry, or none when every slot is taken.
class GroupSlot {
 public:
  GroupSlot() = default;
  GroupSlot(const GroupSlot&) = delete;
  GroupSlot& operator=(const GroupSlot&) = delete;
  ~GroupSlot() { release(); }

  // Call with signals blocked on this thread (see kill_running_tools).
  void reserve() noexcept {
    // Once per process: clear the inherited table in fork() children (posix_spawn does not run
    // these handlers, and its children exec at once).
    static const bool at_fork = ::pthread_atfork(nullptr, nullptr, forget_parents_children) == 0;
    (void)at_fork;
    const pid_t self = ::getpid();
    if (pid_t owner = registry_owner.load(); owner != self) {
      // A fork() child whose handler could not be registered (or that forked before the first
      // run()): start from an empty table, as the handler would have.
      if (registry_owner.compare_exchange_strong(owner, self) && owner != 0)
        for (auto& s : live_groups) s.store(slot_free);
    }
    for (auto& s : live_groups) {
      pid_t expected = slot_free;
      if (s.compare_exchange_strong(expected, slot_starting)) {
        slot_ = &s;
        return;
      }
    }
  }
  // The child's pid (and process group id), or release() when it was not started.
  void publish(pid_t pid) noexcept {
    if (slot_ != nullptr) slot_->store(pid);
  }
  // Before the child is reaped: afterwards no kill_running_tools() can signal its group.
  void release() noexcept {
    if (slot_ == nullptr) return;
    for (;;) {
      pid_t v = slot_->load();
      if (v >= slot_starting && v <= 1) {  // only this run() moves a slot out of -1
        slot_->store(slot_free);
        break;
      }
      if (v > 1 && slot_->compare_exchange_weak(v, slot_free)) break;
      // -p: a kill_running_tools() on another thread is signalling the group; it is brief (and
      // not on this thread, or it would have finished before this line ran again).
      if (v < slot_starting) std::this_thread::yield();
    }
    slot_ = nullptr;
  }

 private:
  std::atomic<pid_t>* slot_ = nullptr;
};

// Blocks every signal on this thread for the object's life.
class SignalsBlocked {
 public:
  SignalsBlocked() noexcept {
    sigset_t all;
    sigfillset(&all);
    blocked_ = ::pthread_sigmask(SIG_SETMASK, &all, &saved_) == 0;
  }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;
  ~SignalsBlocked() {
    if (blocked_) ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }

 private:
  sigset_t saved_{};
  bool blocked_ = false;
};

}  // namespace spawn_impl

AZID_DECL std::optional<std::string> find_program(std::string_view program, std::string_view path) {
  if (program.empty() || spawn_impl::has_nul(program)) return std::nullopt;
  if (program.find('/') != std::string_view::npos) return std::string(program);
  while (!path.empty()) {
    const auto colon = path.find(':');
    const std::string_view dir = path.substr(0, colon);
    path = colon == std::string_view::npos ? std::string_view{} : path.substr(colon + 1);
    if (dir.empty() || dir.front() != '/') continue;
    std::string candidate(dir);
    if (candidate.back() != '/') candidate.push_back('/');
    candidate.append(program);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return std::nullopt;
}

}  // namespace detail

AZID_DECL int kill_running_tools(int sig) noexcept {
  namespace si = detail::spawn_impl;
  const int saved_errno = errno;
  if (sig != 0) si::tools_stopping.store(true);  // before the scan: see tools_stopping
  // No table yet (no tool ever started here), or another process's (a fork() child's inherited
  // copy): nothing in it is ours to signal.
  if (si::registry_owner.load() != ::getpid()) return 0;
  int signalled = 0;
  for (auto& slot : si::live_groups) {
    pid_t v = slot.load();
    // A run() on another thread is between posix_spawn and publishing the pid: wait for it, so a
    // child started just before an interrupt is not left behind. poll() is async-signal-safe.
    for (int waited = 0; v == si::slot_starting && waited < 2000; ++waited) {
      ::poll(nullptr, 0, 1);
      v = slot.load();
    }
    if (v <= 1) continue;  // free, still starting, or being signalled by a concurrent call
    if (!slot.compare_exchange_strong(v, -v)) continue;  // given back (being reaped) meanwhile
    if (::kill(-v, sig) == 0) ++signalled;
    slot.store(v);
  }
  errno = saved_errno;
  return signalled;
}

namespace detail {
AZID_DECL int tracked_tool_slots() noexcept {
  if (spawn_impl::registry_owner.load() != ::getpid()) return 0;
  int n = 0;
  for (const auto& slot : spawn_impl::live_groups)
    if (slot.load() != spawn_impl::slot_free) ++n;
  return n;
}
AZID_DECL void allow_tools_again() noexcept { spawn_impl::tools_stopping.store(false); }
}  // namespace detail

AZID_DECL ProcessResult PosixProcessRunner::run(const ProcessSpec& spec,
                                                std::error_code& ec) const {
  namespace si = detail::spawn_impl;
  using std::chrono::steady_clock;
  ec.clear();
  ProcessResult result;
  if (spec.argv.empty()) {
    ec = make_error_code(errc::process_not_found);
    return result;
  }
  for (const auto& a : spec.argv)
    if (si::has_nul(a)) {
      ec = make_error_code(errc::process_spawn_failed);
      return result;
    }
  for (const auto& [k, v] : spec.env)
    if (k.empty() || k.find('=') != std::string::npos || si::has_nul(k) || si::has_nul(v)) {
      ec = make_error_code(errc::process_spawn_failed);
      return result;
    }

  // Our own PATH search: a missing tool is reported as such, not as exit status 127 from a shell.
  auto program = detail::find_program(spec.argv.front(), si::search_path(spec));
  if (!program) {
    ec = make_error_code(errc::process_not_found);
    return result;
  }
  result.program = *program;

  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::vector<std::string> env = si::child_environment(spec);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  si::Reader out_r, err_r;
  si::Fd out_w, err_w;
  if (!si::make_pipe(out_r.fd, out_w) || !si::make_pipe(err_r.fd, err_w)) {
    ec = make_error_code(errc::process_spawn_failed);
    return result;
  }
  out_r.sink = &result.out;
  err_r.sink = &result.err;

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  if (::posix_spawn_file_actions_init(&actions) != 0) {
    ec = make_error_code(errc::process_spawn_failed);
    return result;
  }
  if (::posix_spawnattr_init(&attr) != 0) {
    ::posix_spawn_file_actions_destroy(&actions);
    ec = make_error_code(errc::process_spawn_failed);
    return result;
  }
  bool setup_ok = ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) == 0 &&
                  ::posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1) == 0 &&
                  ::posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2) == 0;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Descriptors the application opened without O_CLOEXEC must not reach the tool either.
  setup_ok = setup_ok && ::posix_spawn_file_actions_addclosefrom_np(&actions, 3) == 0;
#endif
  if (!spec.cwd.empty()) {
#if (defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))) || \
    defined(__APPLE__)
    setup_ok = setup_ok && !si::has_nul(spec.cwd) &&
               ::posix_spawn_file_actions_addchdir_np(&actions, spec.cwd.c_str()) == 0;
#else
    setup_ok = false;  // no way to change directory between fork and exec here
#endif
  }
  // Own process group (so a timeout can kill grandchildren too), no blocked signals, and every
  // catchable signal back to its default: an application that ignores SIGPIPE or SIGINT must
  // not pass that on to the tool.
  sigset_t no_signals, all_signals;
  sigemptyset(&no_signals);
  sigfillset(&all_signals);
  sigdelset(&all_signals, SIGKILL);
  sigdelset(&all_signals, SIGSTOP);
  setup_ok = setup_ok &&
             ::posix_spawnattr_setflags(
                 &attr, static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                           POSIX_SPAWN_SETSIGDEF)) == 0 &&
             ::posix_spawnattr_setpgroup(&attr, 0) == 0 &&
             ::posix_spawnattr_setsigmask(&attr, &no_signals) == 0 &&
             ::posix_spawnattr_setsigdefault(&attr, &all_signals) == 0;

  // Listed for kill_running_tools() from the moment the child exists. Signals are blocked on this
  // thread meanwhile, so a handler that waits for the slot to be published never runs here.
  si::GroupSlot group;
  pid_t pid = -1;
  int spawn_error = EINVAL;
  {
    si::SignalsBlocked blocked;
    group.reserve();
    if (si::tools_stopping.load())
      spawn_error = ECANCELED;  // kill_running_tools() ran: the application is stopping
    else if (setup_ok)
      spawn_error =
          ::posix_spawn(&pid, program->c_str(), &actions, &attr, argv.data(), envp.data());
    if (spawn_error == 0)
      group.publish(pid);
    else
      group.release();
  }
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  out_w.reset();
  err_w.reset();
  if (spawn_error == ECANCELED) {
    ec = std::make_error_code(std::errc::operation_canceled);
    return result;
  }
  if (spawn_error != 0) {
    // glibc reports exec failures from the child (CLONE_VFORK), so ENOENT here means the file
    // vanished after the search, or a script's interpreter is missing.
    ec = make_error_code(spawn_error == ENOENT && ::access(program->c_str(), F_OK) != 0
                             ? errc::process_not_found
                             : errc::process_spawn_failed);
    return result;
  }

  // A year stands in for "no limit" and keeps the deadline arithmetic from overflowing.
  const auto deadline =
      steady_clock::now() + std::clamp(spec.timeout, std::chrono::milliseconds::zero(),
                                       std::chrono::milliseconds{std::chrono::hours{24 * 365}});
  bool too_large = false, exited_seen = false;
  steady_clock::time_point exited_at{};

  // Phase 1: read both pipes until they close, the deadline passes or the output is too large.
  while (out_r.open || err_r.open) {
    const auto now = steady_clock::now();
    if (now >= deadline) {
      result.timed_out = true;
      break;
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    pollfd fds[2] = {{out_r.open ? out_r.fd.fd : -1, POLLIN, 0},
                     {err_r.open ? err_r.fd.fd : -1, POLLIN, 0}};
    const int n = ::poll(fds, 2, static_cast<int>(std::min(left, si::poll_slice).count()));
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // cannot wait on the pipes any more; fall through to waiting for the child
    }
    for (int i = 0; i < 2 && !too_large && n > 0; ++i) {
      si::Reader& r = i == 0 ? out_r : err_r;
      if (r.open && (fds[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0)
        too_large = !si::drain(r, spec.max_output_bytes);
    }
    if (too_large) break;
    // Checked on every pass, not only when the pipes are quiet: something the child left behind
    // may keep writing to them, and its output must not hold a finished child's result back.
    if ((out_r.open || err_r.open) && si::has_exited(pid)) {
      if (!exited_seen) {
        exited_seen = true;
        exited_at = now;
      } else if (now - exited_at >= si::straggler_grace) {
        break;
      }
    }
  }

  // Phase 2: the pipes are closed but the child may still run (it can close them and carry on).
  if (!result.timed_out && !too_large) {
    auto pause = std::chrono::milliseconds{1};
    while (!si::has_exited(pid)) {
      const auto now = steady_clock::now();
      if (now >= deadline) {
        result.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(
          std::min({pause, std::chrono::ceil<std::chrono::milliseconds>(deadline - now)}));
      pause = std::min(pause * 2, std::chrono::milliseconds{50});
    }
  }

  // The child is not reaped yet, so `pid` still names its process group: safe to signal.
  if (result.timed_out || too_large) ::kill(-pid, SIGKILL);
  // Off the registry before the reap frees the id for reuse.
  group.release();

  int status = 0;
  pid_t reaped;
  do {
    reaped = ::waitpid(pid, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  if (reaped == pid) {
    if (WIFEXITED(status))
      result.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      result.term_signal = WTERMSIG(status);
  } else if (errno == ECHILD && !result.timed_out && !too_large) {
    // The application ignores SIGCHLD (or reaps children itself), so the status is gone. As
    // Python's subprocess does, take it for success and let the output decide: a tool that
    // failed prints no token.
    result.exit_code = 0;
    result.status_unknown = true;
  }
  if (result.timed_out)
    ec = make_error_code(errc::process_timeout);
  else if (too_large)
    ec = make_error_code(errc::process_output_too_large);
  return result;
}

AZID_END
