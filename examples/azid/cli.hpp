// examples/azid/cli.hpp: what the azid tool's commands share: exit codes, usage errors, the
// argument parser and the platform the credentials run on.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "azid/core/log.hpp"
#include "azid/platform/default_platform.hpp"
#include "azid/platform/environment.hpp"

namespace azid_cli {

// A stable contract for scripts.
inline constexpr int exit_ok = 0;
inline constexpr int exit_auth_failed = 1;
inline constexpr int exit_unavailable = 2;
inline constexpr int exit_usage = 64;
inline constexpr int exit_io = 74;  // the result could not be written (a full disk, a closed pipe)

/// Writes `out` to stdout and flushes it; `code` when that worked, else exit_io with the reason
/// on stderr (a script must not take an empty file for a token).
inline int finish_stdout(const std::string& out, int code) {
  const bool written = std::fwrite(out.data(), 1, out.size(), stdout) == out.size();
  if (written && std::fflush(stdout) == 0) return code;
  const int err = errno;
  std::fprintf(stderr, "azid: could not write the result to standard output: %s\n",
               std::strerror(err));
  return exit_io;
}

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// `--name value` (or `--name=value`) options, repeatable, and `--flag` switches.
struct Args {
  std::map<std::string, std::vector<std::string>, std::less<>> values;
  std::vector<std::string> flags;

  [[nodiscard]] std::optional<std::string> one(std::string_view name) const {
    auto it = values.find(name);
    if (it == values.end() || it->second.empty()) return std::nullopt;
    if (it->second.size() > 1)
      throw UsageError("--" + std::string(name) + " may be given only once");
    return it->second.front();
  }
  [[nodiscard]] std::vector<std::string> many(std::string_view name) const {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
  [[nodiscard]] bool flag(std::string_view name) const {
    for (const auto& f : flags)
      if (f == name) return true;
    return false;
  }
  [[nodiscard]] bool has(std::string_view name) const {
    return values.find(name) != values.end() || flag(name);
  }
};

/// Parses argv[first..]; `valued` options take a value, `boolean` ones do not.
/// @throws UsageError for anything else.
inline Args parse_args(int argc, char** argv, int first,
                       const std::vector<std::string_view>& valued,
                       const std::vector<std::string_view>& boolean) {
  Args a;
  // An argument after a secret's option may be the rest of that secret (an unquoted value with
  // a space): it is named by position, never echoed.
  auto after_secret = [&](int i) {
    if (i <= first) return false;
    const std::string_view prev = argv[i - 1];
    constexpr std::string_view secret_options[] = {"--client-secret", "--certificate-password",
                                                   "--system-access-token"};
    for (std::string_view s : secret_options)
      if (prev.substr(0, s.size()) == s) return true;
    if (i - 2 < first) return false;
    for (std::string_view s : secret_options)
      if (std::string_view(argv[i - 2]) == s) return true;
    return false;
  };
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.size() < 3 || arg.substr(0, 2) != "--")
      throw UsageError(after_secret(i) ? "unexpected argument #" + std::to_string(i - first + 1) +
                                             " after a secret's option (not shown; quote a value "
                                             "that contains spaces)"
                                       : "unexpected argument '" + std::string(arg) + "'");
    arg.remove_prefix(2);
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      inline_value = std::string(arg.substr(eq + 1));
      arg = arg.substr(0, eq);
    }
    bool known_valued = false, known_flag = false;
    for (auto v : valued) known_valued |= (v == arg);
    for (auto v : boolean) known_flag |= (v == arg);
    if (known_flag) {
      if (inline_value) throw UsageError("--" + std::string(arg) + " takes no value");
      a.flags.emplace_back(arg);
    } else if (known_valued) {
      std::string value;
      if (inline_value)
        value = *inline_value;
      else if (i + 1 < argc)
        value = argv[++i];
      else
        throw UsageError("--" + std::string(arg) + " needs a value");
      a.values[std::string(arg)].push_back(std::move(value));
    } else {
      throw UsageError("unknown option --" + std::string(arg));
    }
  }
  return a;
}

inline azid::LogLevel parse_level(std::string_view s) {
  if (s == "debug") return azid::LogLevel::debug;
  if (s == "info") return azid::LogLevel::info;
  if (s == "warning") return azid::LogLevel::warning;
  if (s == "error") return azid::LogLevel::error;
  throw UsageError("--log-level must be debug, info, warning or error");
}

inline std::string from_option_or_env(const Args& a, std::string_view option,
                                      std::string_view var) {
  if (auto v = a.one(option)) return *v;
  return azid::ProcessEnvironment{}.get(var).value_or("");
}

/// The real platform, logging to stderr when --log-level is given.
inline azid::DefaultPlatform make_platform(const Args& a) {
  azid::DefaultPlatformOptions popts;
  if (auto lvl = a.one("log-level")) {
    popts.logger.set_level(parse_level(*lvl));
    popts.logger.set_sink([](azid::LogLevel l, std::string_view m) {
      std::fprintf(stderr, "azid [%s] %.*s\n", std::string(azid::to_string(l)).c_str(),
                   static_cast<int>(m.size()), m.data());
    });
  }
  return azid::DefaultPlatform(std::move(popts));
}

}  // namespace azid_cli
