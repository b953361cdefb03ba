// tests/emulator/fake_tools/fake_tools.hpp: a temporary directory of stand-in `az`, `azd` and
// `pwsh` scripts for the developer-tool credential tests. Tests point the credential's PATH (via
// testing::Platform's MapEnvironment) at it; the test process's own environment is never changed.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "azid/testing/platform.hpp"

namespace azid_test {

class ToolDir {
 public:
  ToolDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "azid-tools-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
  }
  ~ToolDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ToolDir(const ToolDir&) = delete;
  ToolDir& operator=(const ToolDir&) = delete;

  [[nodiscard]] const std::string& path() const noexcept { return dir_; }
  [[nodiscard]] std::string file(std::string_view name) const {
    return dir_ + "/" + std::string(name);
  }

  /// Writes an executable `#!/bin/sh` script. The child's PATH is this directory only, so
  /// scripts call other programs by absolute path (/bin/sleep, /bin/cat).
  void script(std::string_view name, std::string_view body) const {
    write(name, "#!/bin/sh\n" + std::string(body) + "\n");
    ::chmod(file(name).c_str(), 0755);
  }
  void write(std::string_view name, std::string_view content) const {
    std::ofstream f(file(name), std::ios::binary | std::ios::trunc);
    f << content;
  }
  [[nodiscard]] bool exists(std::string_view name) const {
    return std::filesystem::exists(file(name));
  }
  [[nodiscard]] std::string read(std::string_view name) const {
    std::ifstream f(file(name), std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
  }
  [[nodiscard]] std::vector<std::string> lines(std::string_view name) const {
    std::vector<std::string> out;
    std::istringstream s(read(name));
    for (std::string line; std::getline(s, line);) out.push_back(line);
    return out;
  }

  /// Shell snippet: record the arguments (one per line), the working directory and a run count.
  [[nodiscard]] std::string record() const {
    return "printf '%s\\n' \"$@\" > " + file("args") + "\n/bin/pwd > " + file("cwd") +
           "\necho run >> " + file("runs") + "\n";
  }
  [[nodiscard]] std::size_t runs() const { return lines("runs").size(); }
  /// True when the recorded working directory is `dir` (/bin may be a link to /usr/bin).
  [[nodiscard]] bool ran_in(const std::string& dir) const {
    std::string cwd = read("cwd");
    while (!cwd.empty() && cwd.back() == '\n') cwd.pop_back();
    std::error_code ec;
    return !cwd.empty() && std::filesystem::equivalent(cwd, dir, ec);
  }

 private:
  std::string dir_;
};

/// A testing::Platform whose PATH and HOME are `dir`.
inline azid::testing::Platform platform_for(const ToolDir& dir) {
  azid::testing::Platform p;
  p.environment().set("PATH", dir.path());
  p.environment().set("HOME", dir.path());
  return p;
}

/// Single-quoted for /bin/sh.
inline std::string sh_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  out += "'";
  return out;
}

/// Whether process `pid` has exited: gone, or a zombie nobody has reaped yet (containers often
/// run without an init that reaps).
inline bool process_dead(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  if (!f) return true;
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

/// Whether process `pid` exits within `within` (polled every 10 ms).
inline bool becomes_dead(pid_t pid, std::chrono::milliseconds within) {
  const auto until = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < until) {
    if (process_dead(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return process_dead(pid);
}

}  // namespace azid_test
