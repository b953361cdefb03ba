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
#include "azid/detail/redact.hpp"
#include "azid/platform/default_platform.hpp"
#include "azid/platform/environment.hpp"

namespace azid_cli {

// A stable contract for scripts.
inline constexpr int exit_ok = 0;
inline constexpr int exit_auth_failed = 1;
inline constexpr int exit_unavailable = 2;
inline constexpr int exit_usage = 64;
// An internal error (EX_SOFTWARE): out of memory, no thread could be started; never a failed
// authentication.
inline constexpr int exit_software = 70;
inline constexpr int exit_io = 74;  // the result could not be written (a full disk, a closed pipe)

/// `text` as it may reach a terminal: each line and each tab-separated piece goes through
/// azid::detail::printable (no control character, escape sequence, bidi control or invalid
/// UTF-8), the line breaks and tabs themselves are kept, and the whole is cut after about `limit`
/// bytes (marked "...").
inline std::string printable_text(std::string_view text, std::size_t limit) {
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find_first_of("\n\t", start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view piece = text.substr(start, end - start);
    const std::size_t room = limit > out.size() ? limit - out.size() : 0;
    out += azid::detail::printable(piece, room);
    if (piece.size() > room) {
      out += "...";
      break;
    }
    if (end < text.size()) out.push_back(text[end]);
    start = end + 1;
  }
  return out;
}

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

/// The options whose value is a secret.
inline constexpr std::string_view secret_options[] = {"--client-secret", "--certificate-password",
                                                      "--system-access-token"};

/// True when `arg` begins with a secret's option name ("--client-secret:hunter2"): what follows
/// the name may be the secret.
inline bool starts_like_secret_option(std::string_view arg) {
  for (std::string_view s : secret_options)
    if (arg.substr(0, s.size()) == s) return true;
  return false;
}

/// True when "-h" or "--help" stands where an option name is expected in argv[first..] (not as
/// the value of one of the `valued` options): `--scope -h` asks for a scope named "-h".
inline bool wants_help(int argc, char** argv, int first,
                       const std::vector<std::string_view>& valued) {
  for (int i = first; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return false;
    if (arg == "--help" || arg == "-h") return true;
    if (arg.size() < 3 || arg.substr(0, 2) != "--" || arg.find('=') != std::string_view::npos)
      continue;
    for (auto v : valued)
      if (arg.substr(2) == v) {
        ++i;  // the next argument is this option's value, whatever it looks like
        break;
      }
  }
  return false;
}

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
    if (starts_like_secret_option(argv[i - 1])) return true;
    if (i - 2 < first) return false;
    for (std::string_view s : secret_options)
      if (std::string_view(argv[i - 2]) == s) return true;
    return false;
  };
  auto position = [&](int i) { return "argument #" + std::to_string(i - first + 1); };
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.size() < 3 || arg.substr(0, 2) != "--")
      throw UsageError(after_secret(i) ? "unexpected " + position(i) +
                                             " after a secret's option (not shown; quote a value "
                                             "that contains spaces)"
                                       : "unexpected argument '" + std::string(arg) + "'");
    // An unknown option right after a secret's option may be part of the secret, and one that
    // begins with a secret option's name may carry the secret after it: neither is echoed.
    const bool hide = after_secret(i) || starts_like_secret_option(arg);
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
    } else if (hide) {
      throw UsageError("unknown option in " + position(i) +
                       (after_secret(i)
                            ? " after a secret's option (not shown; quote a value that contains "
                              "spaces)"
                            : " (not shown: it begins with a secret option's name; give the "
                              "value as --option=VALUE or --option VALUE)"));
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
    // A log line may quote the environment (an endpoint, a path): made printable and bounded
    // like every other message.
    popts.logger.set_sink([](azid::LogLevel l, std::string_view m) {
      std::fprintf(stderr, "azid [%s] %s\n", std::string(azid::to_string(l)).c_str(),
                   printable_text(m, 4096).c_str());
    });
  }
  return azid::DefaultPlatform(std::move(popts));
}

}  // namespace azid_cli
