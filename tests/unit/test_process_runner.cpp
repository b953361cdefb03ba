// PosixProcessRunner with real child processes: argv without a shell, both pipes, limits,
// timeouts that take the whole process group, PATH search, environment and working directory.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../emulator/fake_tools/fake_tools.hpp"
#include "azid/core/concepts.hpp"
#include "azid/platform/file_reader.hpp"
#include "azid/platform/process_runner.hpp"
#include "azid/testing/scripted_process.hpp"

using namespace azid;
using namespace std::chrono;
using azid_test::ToolDir;

static_assert(ProcessRunner<PosixProcessRunner>);
static_assert(ProcessRunner<testing::ScriptedProcessRunner>);

extern char** environ;

namespace {

ProcessResult run(const ProcessSpec& spec, std::error_code& ec) {
  return PosixProcessRunner{}.run(spec, ec);
}

ProcessSpec sh(std::string script, milliseconds timeout = milliseconds{10'000}) {
  ProcessSpec s;
  s.argv = {"/bin/sh", "-c", std::move(script)};
  s.timeout = timeout;
  return s;
}

}  // namespace

TEST_SUITE("process_runner") {
  TEST_CASE("stdout, stderr and the exit status are captured separately") {
    std::error_code ec;
    auto r = run(sh("printf hello; printf oops >&2; exit 3"), ec);
    CHECK_FALSE(ec);
    CHECK(r.out == "hello");
    CHECK(r.err == "oops");
    CHECK(r.exit_code == 3);
    CHECK(r.term_signal == 0);
    CHECK_FALSE(r.timed_out);
    CHECK(r.program == "/bin/sh");
  }

  TEST_CASE("arguments reach the program byte for byte, never through a shell") {
    ToolDir dir;
    dir.script("echo-args", "printf '%s\\n' \"$@\"");
    ProcessSpec s;
    s.argv = {"echo-args", "$(touch " + dir.file("pwned") + ")", "a b;c", "'q'\"d\"", "*", ""};
    s.env = {{"PATH", dir.path()}};
    std::error_code ec;
    auto r = run(s, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.out == "$(touch " + dir.file("pwned") + ")\na b;c\n'q'\"d\"\n*\n\n");
    CHECK_FALSE(dir.exists("pwned"));
  }

  TEST_CASE("a child filling both pipes at once does not deadlock, and nothing is lost") {
    std::error_code ec;
    ProcessSpec s =
        sh("/usr/bin/head -c 3000000 /dev/zero >&2 & /usr/bin/head -c 2500000 /dev/zero; wait");
    s.max_output_bytes = 4'000'000;
    auto r = run(s, ec);
    CHECK_FALSE(ec);
    CHECK(r.exit_code == 0);
    CHECK(r.out.size() == 2'500'000);
    CHECK(r.err.size() == 3'000'000);
  }

  TEST_CASE("output beyond the limit kills the child and keeps exactly the limit") {
    std::error_code ec;
    ProcessSpec s;
    s.argv = {"/usr/bin/yes"};
    s.max_output_bytes = 64 * 1024;
    const auto t0 = steady_clock::now();
    auto r = run(s, ec);
    CHECK(ec == errc::process_output_too_large);
    CHECK(r.out.size() == 64 * 1024);
    CHECK(r.term_signal == SIGKILL);
    CHECK(steady_clock::now() - t0 < seconds{5});
  }

  TEST_CASE("a hanging child is killed at the deadline together with its grandchildren") {
    ToolDir dir;
    std::error_code ec;
    const auto t0 = steady_clock::now();
    auto r = run(sh("/bin/sleep 30 & echo $! > " + dir.file("grandchild") + "; /bin/sleep 30",
                    milliseconds{300}),
                 ec);
    const auto took = steady_clock::now() - t0;
    CHECK(ec == errc::process_timeout);
    CHECK(r.timed_out);
    CHECK(r.term_signal == SIGKILL);
    CHECK(r.exit_code == -1);
    CHECK(took >= milliseconds{300});
    CHECK(took < seconds{3});
    const auto lines = dir.lines("grandchild");
    REQUIRE(lines.size() == 1);
    CHECK(azid_test::becomes_dead(static_cast<pid_t>(std::stol(lines[0])), seconds{2}));
  }

  TEST_CASE("an enormous timeout means no limit, not an overflow") {
    std::error_code ec;
    auto r = run(sh("exit 0", milliseconds::max()), ec);
    CHECK_FALSE(ec);
    CHECK(r.exit_code == 0);
  }

  TEST_CASE("a child that closes its pipes but keeps running still times out") {
    std::error_code ec;
    const auto t0 = steady_clock::now();
    auto r = run(sh("exec >/dev/null 2>&1; /bin/sleep 30", milliseconds{300}), ec);
    CHECK(ec == errc::process_timeout);
    CHECK(r.timed_out);
    CHECK(steady_clock::now() - t0 < seconds{3});
  }

  TEST_CASE("a background process left holding the pipes does not hold up the result") {
    ToolDir dir;
    std::error_code ec;
    const auto t0 = steady_clock::now();
    auto r =
        run(sh("/bin/sleep 20 & echo $! > " + dir.file("bg") + "; echo done", seconds{10}), ec);
    CHECK_FALSE(ec);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "done\n");
    CHECK(steady_clock::now() - t0 < seconds{3});
    const auto lines = dir.lines("bg");
    if (lines.size() == 1) ::kill(static_cast<pid_t>(std::stol(lines[0])), SIGKILL);
  }

  TEST_CASE("a background process that keeps writing does not hold up the result either") {
    ToolDir dir;
    std::error_code ec;
    const auto t0 = steady_clock::now();
    // The child is done at once; what it leaves behind writes to the shared stderr every 20 ms,
    // so the pipes are never quiet for a whole poll slice.
    auto r = run(sh("( while :; do echo tick >&2; sleep 0.02; done ) & echo $! > " +
                        dir.file("bg") + "; echo done",
                    seconds{10}),
                 ec);
    const auto took = steady_clock::now() - t0;
    const auto lines = dir.lines("bg");
    if (lines.size() == 1) ::kill(static_cast<pid_t>(std::stol(lines[0])), SIGKILL);
    CHECK_FALSE(ec);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "done\n");
    CHECK(took < seconds{3});
  }

  TEST_CASE("with SIGCHLD ignored the status is lost: exit_code 0, status_unknown, output kept") {
    struct sigaction old {};
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    REQUIRE(::sigaction(SIGCHLD, &ign, &old) == 0);
    std::error_code ec;
    auto r = run(sh("echo out; echo err >&2; exit 3"), ec);
    ::sigaction(SIGCHLD, &old, nullptr);
    CHECK_FALSE(ec);
    CHECK(r.status_unknown);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "out\n");
    CHECK(r.err == "err\n");
    auto normal = run(sh("exit 3"), ec);
    CHECK_FALSE(normal.status_unknown);
    CHECK(normal.exit_code == 3);
  }

  TEST_CASE("a program missing from PATH is reported as not found, without starting anything") {
    ToolDir dir;
    dir.write("not-executable", "#!/bin/sh\necho hi\n");  // mode 0644
    ProcessSpec s;
    s.env = {{"PATH", dir.path() + ":relative/dir::"}};
    std::error_code ec;
    SUBCASE("absent") {
      s.argv = {"azid-no-such-tool"};
      auto r = run(s, ec);
      CHECK(ec == errc::process_not_found);
      CHECK(r.program.empty());
    }
    SUBCASE("present but not executable") {
      s.argv = {"not-executable"};
      (void)run(s, ec);
      CHECK(ec == errc::process_not_found);
    }
    SUBCASE("an explicit path that does not exist") {
      s.argv = {dir.file("nope")};
      (void)run(s, ec);
      CHECK(ec == errc::process_not_found);
    }
    SUBCASE("empty argv") {
      s.argv = {};
      (void)run(s, ec);
      CHECK(ec == errc::process_not_found);
    }
  }

  TEST_CASE("PATH search: the first absolute directory wins, relative entries are ignored") {
    ToolDir a, b;
    a.script("tool", "echo a");
    b.script("tool", "echo b");
    CHECK(detail::find_program("tool", "relative:" + b.path() + ":" + a.path()) == b.file("tool"));
    CHECK(detail::find_program("tool", a.path() + "/:" + b.path()) == a.path() + "/tool");
    CHECK_FALSE(detail::find_program("tool", "").has_value());
    CHECK(detail::find_program("/bin/sh", "") == "/bin/sh");
  }

  TEST_CASE("the environment is inherited, with the spec's variables set or replaced") {
    REQUIRE(environ != nullptr);
    REQUIRE(environ[0] != nullptr);
    const std::string inherited = environ[0];
    ProcessSpec s;
    s.argv = {"/usr/bin/env"};
    s.env = {{"AZID_TEST_VALUE", "a b=c"}, {"HOME", "/replaced"}};
    std::error_code ec;
    auto r = run(s, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.out.find("AZID_TEST_VALUE=a b=c\n") != std::string::npos);
    const std::string all = "\n" + r.out;
    CHECK(all.find("\nHOME=/replaced\n") != std::string::npos);
    CHECK(all.find("\nHOME=", all.find("\nHOME=") + 1) == std::string::npos);
    if (inherited.rfind("HOME=", 0) != 0) CHECK(r.out.find(inherited + "\n") != std::string::npos);
  }

  TEST_CASE("the working directory is the spec's; a missing one fails to spawn") {
    ToolDir dir;
    ProcessSpec s;
    s.argv = {"/bin/pwd"};
    s.cwd = dir.path();
    std::error_code ec;
    auto r = run(s, ec);
    REQUIRE_FALSE(ec);
    CHECK(std::filesystem::equivalent(std::filesystem::path(r.out.substr(0, r.out.size() - 1)),
                                      dir.path()));
    s.cwd = dir.file("missing");
    (void)run(s, ec);
    CHECK(ec == errc::process_spawn_failed);
  }

  TEST_CASE(
      "stdin is /dev/null, the child leads its own process group and gets none of our "
      "descriptors") {
    std::error_code ec;
    ProcessSpec cat;
    cat.argv = {"/bin/cat"};
    cat.timeout = seconds{5};
    auto r = run(cat, ec);
    CHECK_FALSE(ec);
    CHECK(r.out.empty());
    CHECK(r.exit_code == 0);

    ProcessSpec stat;
    stat.argv = {"/bin/cat", "/proc/self/stat"};
    r = run(stat, ec);
    REQUIRE_FALSE(ec);
    // pid (comm) state ppid pgrp ...
    const auto close_paren = r.out.rfind(')');
    REQUIRE(close_paren != std::string::npos);
    std::istringstream fields(r.out.substr(close_paren + 2));
    std::string state, ppid, pgrp;
    fields >> state >> ppid >> pgrp;
    CHECK(pgrp == r.out.substr(0, r.out.find(' ')));
    CHECK(pgrp != std::to_string(::getpgrp()));

    int leaked[3];
    for (int& fd : leaked) fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
    ProcessSpec fds;
    fds.argv = {"/bin/ls", "/proc/self/fd"};
    r = run(fds, ec);
    for (int fd : leaked) ::close(fd);
    REQUIRE_FALSE(ec);
    std::istringstream list(r.out);
    std::vector<std::string> open_fds;
    for (std::string fd; list >> fd;) open_fds.push_back(fd);
    // 0, 1, 2 and the directory ls itself is reading.
    CHECK(open_fds.size() <= 4);
    for (int fd : leaked)
      if (fd > 3)
        CHECK(std::find(open_fds.begin(), open_fds.end(), std::to_string(fd)) == open_fds.end());
  }

  TEST_CASE("arguments or variables holding NUL are refused") {
    std::error_code ec;
    ProcessSpec s;
    s.argv = {"/bin/echo", std::string("a\0b", 3)};
    (void)run(s, ec);
    CHECK(ec == errc::process_spawn_failed);
    s.argv = {"/bin/echo"};
    s.env = {{"BAD=NAME", "x"}};
    (void)run(s, ec);
    CHECK(ec == errc::process_spawn_failed);
  }

  TEST_CASE("several threads can run processes at once") {
    std::vector<std::thread> threads;
    std::atomic<int> good{0};
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 5; ++i) {
          std::error_code ec;
          auto r = run(sh("printf " + std::to_string(t * 10 + i)), ec);
          if (!ec && r.exit_code == 0 && r.out == std::to_string(t * 10 + i)) ++good;
        }
      });
    for (auto& th : threads) th.join();
    CHECK(good == 20);
  }

  TEST_CASE("kill_running_tools kills the groups of children run by several threads at once") {
    REQUIRE(detail::tracked_tool_slots() == 0);  // nothing is running
    ToolDir dir;
    constexpr int n = 2;
    ProcessResult results[n];
    std::error_code ecs[n];
    std::vector<std::thread> threads;
    const auto start = steady_clock::now();
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        // A grandchild in the background, its pid recorded, and the child waiting for it.
        const std::string pids = dir.file("pids" + std::to_string(i));
        results[i] =
            run(sh("/bin/sleep 300 & echo \"$$ $!\" > " + pids + "; wait", milliseconds{120'000}),
                ecs[i]);
      });
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
      const auto until = steady_clock::now() + seconds(30);
      std::string line;
      while (steady_clock::now() < until &&
             ((line = dir.read("pids" + std::to_string(i))).empty() || line.back() != '\n'))
        std::this_thread::sleep_for(milliseconds{10});
      std::istringstream in(line);
      long child = 0, grandchild = 0;
      in >> child >> grandchild;
      pids.push_back(static_cast<pid_t>(child));
      pids.push_back(static_cast<pid_t>(grandchild));
    }
    // Each run() listed its child when posix_spawn returned, before the script ran.
    CHECK(kill_running_tools(0) == n);  // signal 0: only checks that the groups exist
    CHECK(kill_running_tools() == n);   // SIGKILL
    for (auto& t : threads) t.join();
    // The process is stopping now: no further tool starts.
    {
      std::error_code ec;
      (void)run(sh("exit 0"), ec);
      CHECK(ec == std::errc::operation_canceled);
      detail::allow_tools_again();
      (void)run(sh("exit 0"), ec);
      CHECK_FALSE(ec);
    }
    CHECK(steady_clock::now() - start < seconds(60));
    for (int i = 0; i < n; ++i) {
      CAPTURE(i);
      CHECK(ecs[i] == std::error_code{});
      CHECK(results[i].term_signal == SIGKILL);
      CHECK_FALSE(results[i].timed_out);
    }
    for (pid_t p : pids) {
      CAPTURE(p);
      REQUIRE(p > 1);
      CHECK(azid_test::becomes_dead(p, seconds(5)));  // grandchildren too: the whole group
    }
    CHECK(detail::tracked_tool_slots() == 0);  // every run() took its child off before reaping
  }

  TEST_CASE("once kill_running_tools has signalled, no thread starts a tool") {
    // What keeps a tool that another thread starts during the scan from being left behind: the
    // scan marks the process as stopping before it looks at a slot, and run() checks the mark
    // after taking its slot, so either the scan sees the slot or run() sees the mark.
    REQUIRE(detail::tracked_tool_slots() == 0);
    std::thread killer([] { (void)kill_running_tools(SIGTERM); });
    killer.join();
    std::error_code ec;
    ProcessResult r;
    std::thread starter([&] { r = run(sh("exit 0"), ec); });
    starter.join();
    CHECK(ec == std::errc::operation_canceled);
    CHECK(detail::tracked_tool_slots() == 0);  // the refused run gave its slot back
    detail::allow_tools_again();
    (void)run(sh("exit 0"), ec);
    CHECK_FALSE(ec);
  }

  TEST_CASE("a fork() child does not signal its parent's tools") {
    REQUIRE(detail::tracked_tool_slots() == 0);
    ToolDir dir;
    std::error_code ec;
    ProcessResult r;
    std::thread t([&] { r = run(sh("sleep 1; exit 7"), ec); });
    const auto until = steady_clock::now() + seconds(10);
    while (detail::tracked_tool_slots() == 0 && steady_clock::now() < until)
      std::this_thread::sleep_for(milliseconds{5});
    REQUIRE(detail::tracked_tool_slots() == 1);
    const pid_t child = ::fork();
    if (child == 0) _exit(kill_running_tools(SIGKILL) == 0 ? 0 : 1);  // async-signal-safe only
    REQUIRE(child > 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    t.join();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);  // it found nothing of its own to signal
    CHECK_FALSE(ec);
    CHECK(r.exit_code == 7);  // the parent's tool ran to its end
    CHECK(detail::tracked_tool_slots() == 0);
  }

  TEST_CASE("the registry of running children stays right under concurrent runs and signals") {
    std::atomic<bool> done{false};
    std::atomic<int> masks_kept{0};
    std::atomic<int> good{0};
    // Signal 0 from a thread of its own, over and over, while four threads start and reap children.
    std::thread signaller([&] {
      while (!done) (void)kill_running_tools(0);
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        // run() blocks signals only while it starts the child, and restores this thread's mask
        // (one with SIGUSR1 blocked, so "restored" is told from "emptied").
        sigset_t mine, before, after;
        sigemptyset(&mine);
        sigaddset(&mine, SIGUSR1);
        ::pthread_sigmask(SIG_BLOCK, &mine, nullptr);
        ::pthread_sigmask(SIG_SETMASK, nullptr, &before);
        for (int i = 0; i < 10; ++i) {
          std::error_code ec;
          auto r = run(sh("printf " + std::to_string(t * 100 + i)), ec);
          if (!ec && r.exit_code == 0 && r.out == std::to_string(t * 100 + i)) ++good;
        }
        ::pthread_sigmask(SIG_SETMASK, nullptr, &after);
        bool same = true;
        for (int sig = 1; sig < NSIG; ++sig)
          if (sigismember(&before, sig) != sigismember(&after, sig)) same = false;
        if (same && sigismember(&after, SIGUSR1) == 1) ++masks_kept;
      });
    for (auto& th : threads) th.join();
    done = true;
    signaller.join();
    CHECK(good == 40);
    CHECK(masks_kept == 4);
    CHECK(detail::tracked_tool_slots() == 0);  // nothing left listed
  }

  TEST_CASE("ScriptedProcessRunner replays results and records specs") {
    testing::ScriptedProcessRunner fake;
    fake.push(0, "out", "err");
    fake.push_error(make_error_code(errc::process_timeout));
    ProcessSpec s;
    s.argv = {"az", "x"};
    std::error_code ec;
    auto r = fake.run(s, ec);
    CHECK_FALSE(ec);
    CHECK(r.out == "out");
    CHECK(r.program == "az");
    r = fake.run(s, ec);
    CHECK(ec == errc::process_timeout);
    CHECK(r.timed_out);
    (void)fake.run(s, ec);
    CHECK(ec == errc::process_not_found);
    CHECK(fake.run_count() == 3);
    CHECK(fake.specs()[0].argv == std::vector<std::string>{"az", "x"});
  }
}

TEST_SUITE("file_reader") {
  TEST_CASE("PosixFileReader: files, limits, and never a hang on a FIFO or a stalled pipe") {
    ToolDir dir;
    const std::string file = dir.path() + "/f.txt";
    std::ofstream(file) << "hello";
    PosixFileReader r;
    r.stall_limit = milliseconds(300);
    std::error_code ec;
    CHECK(r.read(file, 100, ec) == "hello");
    CHECK_FALSE(ec);
    CHECK(r.read(file, 4, ec).empty());
    CHECK(ec == errc::file_too_large);
    (void)r.read(dir.path() + "/missing", 100, ec);
    CHECK(ec == errc::file_not_found);
    (void)r.read(dir.path(), 100, ec);
    CHECK(ec == errc::file_not_regular);
    // A FIFO nobody writes to: empty at once, not a blocked open().
    const std::string fifo = dir.path() + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const auto start = steady_clock::now();
    CHECK(r.read(fifo, 100, ec).empty());
    CHECK_FALSE(ec);
    // A writer that stays but never writes: given up after stall_limit.
    const int writer = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK);  // keeps a writer end open
    REQUIRE(writer >= 0);
    CHECK(r.read(fifo, 100, ec).empty());
    CHECK(ec == errc::file_read_failed);
    // A writer that delivers (a process substitution): read whole.
    REQUIRE(::write(writer, "abc", 3) == 3);
    std::thread closer([&] {
      std::this_thread::sleep_for(milliseconds(50));
      ::close(writer);
    });
    const int reader_keep = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // keeps the data
    CHECK(r.read(fifo, 100, ec) == "abc");
    CHECK_FALSE(ec);
    closer.join();
    ::close(reader_keep);
    CHECK(steady_clock::now() - start < seconds(5));
    // A writer that delivers in pieces larger than the read buffer, with pauses (`cat key cert`
    // into a process substitution): the buffer grows by copies (which wipe what they leave) and
    // every byte arrives in order.
    {
      const int w = ::open(fifo.c_str(), O_RDWR);
      REQUIRE(w >= 0);
      std::string expected;
      for (int piece = 0; piece < 3; ++piece)
        expected += std::string(9000, static_cast<char>('a' + piece));
      std::thread writer_thread([&] {
        for (int piece = 0; piece < 3; ++piece) {
          std::size_t done = 0;
          const char* data = expected.data() + piece * 9000;
          while (done < 9000) {
            const ssize_t n = ::write(w, data + done, 9000 - done);
            if (n > 0) done += static_cast<std::size_t>(n);
          }
          std::this_thread::sleep_for(milliseconds(30));
        }
        ::close(w);
      });
      const std::string got = r.read(fifo, 1024 * 1024, ec);
      writer_thread.join();
      CHECK_FALSE(ec);
      CHECK(got.size() == expected.size());
      CHECK(got == expected);
    }
  }
}
