// azid/impl/dev_tool.ipp: the developer tools' command lines, output parsing and error texts.
// Included only by detail/dev_tool.hpp (header-only) or src.hpp.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "azid/core/error_code.hpp"
#include "azid/detail/base64.hpp"
#include "azid/detail/dev_tool.hpp"
#include "azid/detail/token_json.hpp"

AZID_BEGIN
namespace detail {
namespace dev_tool_impl {

inline bool contains(std::string_view hay, std::string_view needle) noexcept {
  return hay.find(needle) != std::string_view::npos;
}

inline bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

inline bool all_digits(std::string_view s) noexcept {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

inline long long digits_value(std::string_view s) noexcept {
  long long v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// A strict reader of one JSON object whose members of interest are strings or numbers; nested
// values are checked and skipped. The tools' token output is a flat object of a few members.
class FlatJson {
 public:
  explicit FlatJson(std::string_view s) : s_(s) {}

  // Calls on_member(key, string value or nullptr, number text or empty) for each top-level
  // member; false when `s` is not exactly one well-formed JSON object.
  template <class F>
  bool each_member(F&& on_member) {
    ws();
    if (!lit('{')) return false;
    ws();
    if (!lit('}')) {
      for (;;) {
        std::string key, str;
        std::string_view num;
        bool is_string = false;
        ws();
        if (!string(&key)) return false;
        ws();
        if (!lit(':')) return false;
        ws();
        if (peek() == '"') {
          if (!string(&str)) return false;
          is_string = true;
        } else if (peek() == '-' || (peek() >= '0' && peek() <= '9')) {
          if (!number(num)) return false;
        } else if (!value(0)) {
          return false;
        }
        on_member(std::string_view(key), is_string ? &str : nullptr, num);
        ws();
        if (lit(',')) continue;
        if (lit('}')) break;
        return false;
      }
    }
    ws();
    return i_ == s_.size();
  }

 private:
  static constexpr int max_depth = 32;

  char peek() const noexcept { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool lit(char c) noexcept {
    if (peek() != c || i_ >= s_.size()) return false;
    ++i_;
    return true;
  }
  bool word(std::string_view w) noexcept {
    if (s_.compare(i_, w.size(), w) != 0) return false;
    i_ += w.size();
    return true;
  }
  void ws() noexcept {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool hex4(std::uint32_t& v) noexcept {
    if (s_.size() - i_ < 4) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else
        return false;
    }
    return true;
  }
  static void utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  // A string literal; its unescaped value goes to `out` when given.
  bool string(std::string* out) {
    if (!lit('"')) return false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        if (out) out->push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      char plain = 0;
      switch (e) {
        case '"':
          plain = '"';
          break;
        case '\\':
          plain = '\\';
          break;
        case '/':
          plain = '/';
          break;
        case 'b':
          plain = '\b';
          break;
        case 'f':
          plain = '\f';
          break;
        case 'n':
          plain = '\n';
          break;
        case 'r':
          plain = '\r';
          break;
        case 't':
          plain = '\t';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t lo = 0;
            if (!word("\\u") || !hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          if (out) utf8(*out, cp);
          continue;
        }
        default:
          return false;
      }
      if (out) out->push_back(plain);
    }
    return false;
  }
  bool digits() noexcept {
    const std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }
  bool number(std::string_view& raw) noexcept {
    const std::size_t start = i_;
    lit('-');
    if (lit('0')) {
    } else if (!digits()) {
      return false;
    }
    if (lit('.') && !digits()) return false;
    if (lit('e') || lit('E')) {
      if (!lit('+')) lit('-');
      if (!digits()) return false;
    }
    raw = s_.substr(start, i_ - start);
    return true;
  }
  bool value(int depth) {
    if (depth > max_depth) return false;
    ws();
    const char c = peek();
    if (c == '"') return string(nullptr);
    if (c == '-' || (c >= '0' && c <= '9')) {
      std::string_view raw;
      return number(raw);
    }
    if (c == 't') return word("true");
    if (c == 'f') return word("false");
    if (c == 'n') return word("null");
    if (c == '[') {
      ++i_;
      ws();
      if (lit(']')) return true;
      for (;;) {
        if (!value(depth + 1)) return false;
        ws();
        if (lit(',')) continue;
        return lit(']');
      }
    }
    if (c == '{') {
      ++i_;
      ws();
      if (lit('}')) return true;
      for (;;) {
        ws();
        if (!string(nullptr)) return false;
        ws();
        if (!lit(':') || !value(depth + 1)) return false;
        ws();
        if (lit(',')) continue;
        return lit('}');
      }
    }
    return false;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

inline std::error_code finish_token(std::string&& token, std::optional<long long> expires_on,
                                    std::chrono::system_clock::time_point now, AccessToken& out) {
  if (token.empty()) return make_error_code(errc::missing_field);
  if (!expires_on) return make_error_code(errc::invalid_expiry);
  ParsedToken parsed;
  parsed.access_token = std::move(token);
  parsed.token_type = "Bearer";
  parsed.expires_on = expires_on;
  return make_access_token(std::move(parsed), now, out);
}

inline std::string utf16le(std::string_view ascii) {
  std::string out;
  out.reserve(ascii.size() * 2);
  for (char c : ascii) {
    out.push_back(c);
    out.push_back('\0');
  }
  return out;
}

// Why an unparseable tool output was rejected, without quoting it (it may hold a token).
inline std::string_view output_problem(const std::error_code& ec) noexcept {
  if (ec == errc::missing_field) return "it holds no token";
  if (ec == errc::invalid_expiry) return "its expiry is missing, unreadable or already past";
  if (ec == errc::invalid_token)
    return "its token holds a space, a control character or a non-ASCII byte";
  return "it is not in the expected format";
}

inline TokenResult ran_but_failed(std::string_view credential, std::string message) {
  return TokenResult::failed(credential, std::move(message));
}

// "<tool stderr>" as a message suffix, or a fallback naming the exit status.
inline std::string stderr_or_status(const ProcessResult& r, std::string_view tool) {
  std::string text = tool_stderr_text(r.err);
  // The caller appends ". <what to do>"; avoid a doubled full stop.
  while (!text.empty() && text.back() == '.') text.pop_back();
  if (!text.empty()) return text;
  if (r.status_unknown)
    return std::string(tool) +
           " printed no token, and its exit status was lost (this program ignores SIGCHLD or "
           "reaps its children itself)";
  if (r.term_signal != 0)
    return std::string(tool) + " was ended by signal " + std::to_string(r.term_signal);
  return std::string(tool) + " exited with status " + std::to_string(r.exit_code) +
         " and no message";
}

}  // namespace dev_tool_impl

AZID_DECL std::string invalid_subscription_message(std::string_view credential,
                                                   std::string_view subscription) {
  // The guide's wording (double quotes), then where to find the id.
  return std::string(credential) + ": Subscription \"" + std::string(subscription) +
         "\" contains invalid characters. If this is the name of a subscription, use its ID "
         "instead. You can "
         "locate your subscription by following the instructions listed here: " +
         std::string(subscription_help_url);
}

AZID_DECL std::string tool_stderr_text(std::string_view err, std::size_t max_bytes) {
  // Colour escapes first (ESC [ ... final byte), so they are not turned into '?' below.
  std::string plain;
  plain.reserve(err.size());
  for (std::size_t i = 0; i < err.size(); ++i) {
    if (err[i] == '\x1b') {
      if (i + 1 < err.size() && err[i + 1] == '[') {
        i += 2;
        while (i < err.size() && !(err[i] >= 0x40 && err[i] <= 0x7e)) ++i;
      }
      continue;
    }
    if (err[i] == '\r') continue;
    plain.push_back(err[i]);
  }
  const std::string scrubbed = scrub_body(plain, max_bytes);
  return std::string(dev_tool_impl::trim(scrubbed));
}

AZID_DECL std::string format_timeout(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  if (ms > 1000 && ms % 100 == 0)
    return std::to_string(ms / 1000) + "." + std::to_string((ms % 1000) / 100) + " s";
  return std::to_string(ms) + " ms";
}

AZID_DECL std::optional<long long> parse_local_time(std::string_view text) {
  text = dev_tool_impl::trim(text);
  // YYYY-MM-DD HH:MM:SS[.f...]
  if (text.size() < 19 || text[4] != '-' || text[7] != '-' ||
      (text[10] != ' ' && text[10] != 'T') || text[13] != ':' || text[16] != ':')
    return std::nullopt;
  const auto field = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    const auto s = text.substr(at, n);
    for (char c : s)
      if (c < '0' || c > '9') return std::nullopt;
    return static_cast<int>(dev_tool_impl::digits_value(s));
  };
  const auto y = field(0, 4), mo = field(5, 2), d = field(8, 2), h = field(11, 2),
             mi = field(14, 2), s = field(17, 2);
  if (!y || !mo || !d || !h || !mi || !s) return std::nullopt;
  if (text.size() > 19) {
    if (text[19] != '.' || text.size() == 20) return std::nullopt;
    for (char c : text.substr(20))
      if (c < '0' || c > '9') return std::nullopt;
  }
  if (*y < 1970 || *mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *s > 60)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = *y - 1900;
  tm.tm_mon = *mo - 1;
  tm.tm_mday = *d;
  tm.tm_hour = *h;
  tm.tm_min = *mi;
  tm.tm_sec = *s;
  tm.tm_isdst = -1;  // let the zone rules decide; at a DST fold either reading is accepted
  const std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1) || tm.tm_mday != *d) return std::nullopt;
  return static_cast<long long>(t);
}

AZID_DECL std::error_code parse_az_token(std::string_view out,
                                         std::chrono::system_clock::time_point now,
                                         AccessToken& token) {
  namespace dt = dev_tool_impl;
  std::string access_token, expires_text;
  std::optional<long long> epoch;
  bool bad_epoch = false, have_text = false;
  dt::FlatJson json(out);
  const bool ok =
      json.each_member([&](std::string_view key, std::string* str, std::string_view num) {
        if (key == "accessToken") {
          if (str) access_token = std::move(*str);
        } else if (key == "expires_on") {
          // An integer (CLI 2.54+); a digit string is accepted too.
          const std::string_view v = str ? std::string_view(*str) : num;
          if (dt::all_digits(v) && dt::digits_value(v) <= max_epoch_seconds)
            epoch = dt::digits_value(v);
          else
            bad_epoch = true;
        } else if (key == "expiresOn" && str) {
          expires_text = std::move(*str);
          have_text = true;
        }
      });
  if (!ok) return make_error_code(errc::malformed_json);
  if (access_token.empty()) return make_error_code(errc::missing_field);
  // `expires_on` is UTC and unambiguous; `expiresOn` is a naive local time (older CLIs only).
  if (!epoch && have_text) epoch = parse_local_time(expires_text);
  if (!epoch && bad_epoch) return make_error_code(errc::invalid_expiry);
  return dt::finish_token(std::move(access_token), epoch, now, token);
}

AZID_DECL std::error_code parse_azd_token(std::string_view out,
                                          std::chrono::system_clock::time_point now,
                                          AccessToken& token) {
  namespace dt = dev_tool_impl;
  std::string access_token;
  std::optional<long long> expires;
  dt::FlatJson json(out);
  const bool ok = json.each_member([&](std::string_view key, std::string* str, std::string_view) {
    if (key == "token" && str)
      access_token = std::move(*str);
    else if (key == "expiresOn" && str)
      expires = parse_expiry_text(*str);
  });
  if (!ok) return make_error_code(errc::malformed_json);
  return dt::finish_token(std::move(access_token), expires, now, token);
}

AZID_DECL std::error_code parse_pwsh_token(std::string_view out,
                                           std::chrono::system_clock::time_point now,
                                           AccessToken& token) {
  namespace dt = dev_tool_impl;
  constexpr std::string_view marker = "azsdk%";
  std::size_t i = 0;
  while (i < out.size()) {
    while (i < out.size() && dt::is_space(out[i])) ++i;
    std::size_t j = i;
    while (j < out.size() && !dt::is_space(out[j])) ++j;
    const std::string_view word = out.substr(i, j - i);
    i = j;
    if (word.substr(0, marker.size()) != marker) continue;
    const std::string_view rest = word.substr(marker.size());
    const auto pct = rest.find('%');
    if (pct == std::string_view::npos) return make_error_code(errc::malformed_json);
    const std::string_view tok = rest.substr(0, pct), exp = rest.substr(pct + 1);
    if (!dt::all_digits(exp)) return make_error_code(errc::invalid_expiry);
    return dt::finish_token(std::string(tok), dt::digits_value(exp), now, token);
  }
  return make_error_code(errc::missing_field);
}

AZID_DECL std::vector<std::string> az_argv(std::string_view resource, std::string_view tenant,
                                           std::string_view subscription) {
  std::vector<std::string> argv = {"az",   "account",    "get-access-token",   "--output",
                                   "json", "--resource", std::string(resource)};
  if (!tenant.empty()) {
    argv.emplace_back("--tenant");
    argv.emplace_back(tenant);
  }
  if (!subscription.empty()) {
    argv.emplace_back("--subscription");
    argv.emplace_back(subscription);
  }
  return argv;
}

AZID_DECL std::vector<std::string> azd_argv(const std::vector<std::string>& scopes,
                                            std::string_view tenant, std::string_view claims) {
  // --no-prompt: azd must fail rather than wait for input nobody will type.
  std::vector<std::string> argv = {"azd", "auth", "token", "--output", "json", "--no-prompt"};
  for (const auto& s : scopes) {
    argv.emplace_back("--scope");
    argv.push_back(s);
  }
  if (!tenant.empty()) {
    argv.emplace_back("--tenant-id");
    argv.emplace_back(tenant);
  }
  if (!claims.empty()) {
    argv.emplace_back("--claims");
    argv.push_back(base64_encode(claims, false));
  }
  return argv;
}

AZID_DECL std::string pwsh_script(std::string_view resource, std::string_view tenant) {
  // `resource` and `tenant` passed R5 validation (letters, digits and . - _ : /), so they cannot
  // end the single-quoted PowerShell strings they are placed in.
  std::string s;
  s += "$ErrorActionPreference = 'Stop'\n";
  s += "$module = Import-Module Az.Accounts -MinimumVersion 2.2.0 -PassThru -ErrorAction "
       "SilentlyContinue\n";
  s += "if (-not $module) {\n  Write-Output 'NO_AZ_ACCOUNT_MODULE'\n  exit\n}\n";
  s += "$params = @{ ResourceUrl = '" + std::string(resource) + "'; WarningAction = 'Ignore' }\n";
  s += "$tenant = '" + std::string(tenant) + "'\n";
  s += "if ($tenant.Length -gt 0) { $params['TenantId'] = $tenant }\n";
  // Az.Accounts 2.17 to 4.x can return a SecureString on request (5.0 always does); asking for
  // it keeps those versions from printing a deprecation warning.
  s += "if ($module.Version -ge [version]'2.17.0' -and $module.Version -lt [version]'5.0.0') {"
       " $params['AsSecureString'] = $true }\n";
  s += "$result = Get-AzAccessToken @params\n";
  s += "$value = $result.Token\n";
  s += "if ($value -is [System.Security.SecureString]) {\n";
  s += "  if ($PSVersionTable.PSVersion.Major -lt 7) {\n";
  s += "    $bstr = [System.Runtime.InteropServices.Marshal]::SecureStringToBSTR($value)\n";
  s += "    try { $value = [System.Runtime.InteropServices.Marshal]::PtrToStringBSTR($bstr) }\n";
  s += "    finally { [System.Runtime.InteropServices.Marshal]::ZeroFreeBSTR($bstr) }\n";
  s += "  } else {\n";
  s += "    $value = ConvertFrom-SecureString $value -AsPlainText\n";
  s += "  }\n}\n";
  s += "Write-Output \"`nazsdk%$($value)%$($result.ExpiresOn.ToUnixTimeSeconds())`n\"\n";
  return s;
}

AZID_DECL std::vector<std::string> pwsh_argv(std::string_view resource, std::string_view tenant) {
  return {"pwsh", "-NoProfile", "-NonInteractive", "-EncodedCommand",
          base64_encode(dev_tool_impl::utf16le(pwsh_script(resource, tenant)), false)};
}

AZID_DECL TokenResult check_single_scope(std::string_view credential,
                                         const TokenRequestContext& ctx) {
  // The message is built only when there is one: this runs on every cache hit.
  std::string_view problem;
  if (ctx.scopes.empty())
    problem = no_scope_message;
  else if (ctx.scopes.size() != 1)
    problem = one_scope_message;
  else if (!valid_scope(ctx.scopes.front()))
    problem = invalid_scope_message;
  else
    return {};
  return TokenResult::invalid_argument(credential,
                                       std::string(credential) + ": " + std::string(problem));
}

AZID_DECL TokenResult az_claims_result(std::string_view credential, std::string_view claims,
                                       std::string_view scope, std::string_view tenant) {
  std::string msg = std::string(credential) +
                    ": This credential doesn't support claims challenges. To authenticate with the "
                    "required claims, "
                    "please run the following command: az login --claims-challenge " +
                    base64_encode(claims, false) + " --scope " + std::string(scope);
  if (!tenant.empty()) msg += " --tenant " + std::string(tenant);
  return TokenResult::unavailable(credential, std::move(msg));
}

AZID_DECL TokenResult az_result(std::string_view credential, const ProcessResult& r,
                                const std::error_code& ec, std::chrono::milliseconds timeout,
                                std::chrono::system_clock::time_point now) {
  namespace dt = dev_tool_impl;
  const std::string who = std::string(credential) + ": ";
  // The shell's "not found" texts count only for a run that failed: a tool that printed a token
  // and exited 0 may still have warned on stderr about something else that was not found.
  const bool failed = !ec && r.exit_code != 0;
  const bool not_found = ec == errc::process_not_found || (!ec && r.exit_code == 127) ||
                         (failed && (dt::contains(r.err, "'az' is not recognized") ||
                                     dt::contains(r.err, "az: not found") ||
                                     dt::contains(r.err, "az: command not found")));
  if (not_found)
    return TokenResult::unavailable(
        credential,
        who +
            "Azure CLI not installed (Azure CLI not found on path). Install it "
            "(https://learn.microsoft.com/cli/azure/install-azure-cli) and make sure its directory "
            "is on the PATH this program sees.");
  if (ec == errc::process_timeout)
    return TokenResult::unavailable(
        credential,
        who + "Failed to invoke the Azure CLI: it did not finish within " +
            format_timeout(timeout) +
            " and was stopped (Azure CLI process took too long to complete). Run 'az account "
            "get-access-token' in a terminal to see whether it waits for input, or raise "
            "process_timeout.");
  if (ec == errc::process_output_too_large)  // it ran, and printed something else than a token
    return dt::ran_but_failed(credential, who + "Azure CLI failed: " + ec.message() +
                                              " (it was stopped). Check that 'az account "
                                              "get-access-token --output json' works in a "
                                              "terminal.");
  if (ec)
    return TokenResult::unavailable(credential, who + "Failed to invoke the Azure CLI: " +
                                                    ec.message() + ". Check the installation.");
  if (r.exit_code != 0) {
    // "az login --scope" is the CLI asking for a step-up (MFA/claims) sign-in, not a missing one.
    if ((dt::contains(r.err, "az login") || dt::contains(r.err, "az account set")) &&
        !dt::contains(r.err, "az login --scope"))
      return TokenResult::unavailable(
          credential,
          who +
              "No account is logged in to the Azure CLI, or the login expired. Please run 'az "
              "login' "
              "to set up account, then check that 'az account get-access-token' works.");
    return dt::ran_but_failed(credential,
                              who + "Azure CLI failed: " + dt::stderr_or_status(r, "az") +
                                  ". Check that 'az account get-access-token --output json "
                                  "--resource <resource>' works in a terminal.");
  }
  AccessToken token;
  if (auto perr = parse_az_token(r.out, now, token))
    return dt::ran_but_failed(
        credential,
        who + "Unexpected output from Azure CLI: " + std::string(dt::output_problem(perr)) +
            " (output withheld: it may hold a token). Check that 'az account "
            "get-access-token --output json' prints a token; see "
            "https://aka.ms/azsdk/python/identity/azclicredential/troubleshoot.");
  return TokenResult(std::make_shared<const AccessToken>(std::move(token)));
}

AZID_DECL TokenResult azd_result(std::string_view credential,
                                 const std::vector<std::string>& scopes, const ProcessResult& r,
                                 const std::error_code& ec, std::chrono::milliseconds timeout,
                                 std::chrono::system_clock::time_point now) {
  namespace dt = dev_tool_impl;
  const std::string who = std::string(credential) + ": ";
  const bool not_found =
      ec == errc::process_not_found || (!ec && r.exit_code == 127) ||
      (!ec && r.exit_code != 0 && dt::contains(r.err, "'azd' is not recognized"));
  if (not_found)
    return TokenResult::unavailable(
        credential,
        who +
            "Azure Developer CLI could not be found. Please visit https://aka.ms/azure-dev for "
            "installation instructions and then, once installed, authenticate to your Azure "
            "account using 'azd auth login'. If it is installed, make sure its directory is on "
            "the PATH this program sees.");
  if (ec == errc::process_timeout)
    return TokenResult::unavailable(
        credential, who +
                        "Failed to invoke the Azure Developer CLI: it did not finish "
                        "within " +
                        format_timeout(timeout) +
                        " and was stopped. Run 'azd auth token' in a terminal to see "
                        "whether it waits for input, or raise process_timeout.");
  if (ec == errc::process_output_too_large)
    return dt::ran_but_failed(credential, who + "Azure Developer CLI failed: " + ec.message() +
                                              " (it was stopped). Check that 'azd auth token "
                                              "--output json' works in a terminal.");
  if (ec)
    return TokenResult::unavailable(credential, who + "Failed to invoke the Azure Developer CLI: " +
                                                    ec.message() + ". Check the installation.");
  if (r.exit_code != 0) {
    if (dt::contains(r.err, "must use multi-factor authentication") ||
        dt::contains(r.err, "reauthentication required")) {
      std::string cmd = "azd auth login";
      for (const auto& s : scopes) cmd += " --scope " + s;
      return TokenResult::unavailable(credential,
                                      who +
                                          "This credential doesn't support claims challenges. To "
                                          "authenticate with the required "
                                          "claims, please run the following command: " +
                                          cmd);
    }
    if (dt::contains(r.err, "not logged in, run `azd auth login` to login") ||
        dt::contains(r.err, "azd auth login"))
      return TokenResult::unavailable(
          credential,
          who +
              "No account is logged in to the Azure Developer CLI, or the login expired. Please "
              "run 'azd auth login' to set up account (from a command prompt) before using this "
              "credential, then check that 'azd auth token --output json --scope <scope>' "
              "prints a token.");
    return dt::ran_but_failed(
        credential, who + "Azure Developer CLI failed: " + dt::stderr_or_status(r, "azd") +
                        ". Check that 'azd auth token --output json' works in a terminal.");
  }
  AccessToken token;
  if (auto perr = parse_azd_token(r.out, now, token))
    return dt::ran_but_failed(
        credential, who + "Unexpected output from Azure Developer CLI: " +
                        std::string(dt::output_problem(perr)) +
                        " (output withheld: it may hold a token). Check that 'azd auth token "
                        "--output json' prints a token.");
  return TokenResult(std::make_shared<const AccessToken>(std::move(token)));
}

AZID_DECL TokenResult pwsh_result(std::string_view credential, const ProcessResult& r,
                                  const std::error_code& ec, std::chrono::milliseconds timeout,
                                  std::chrono::system_clock::time_point now) {
  namespace dt = dev_tool_impl;
  const std::string who = std::string(credential) + ": ";
  constexpr std::string_view troubleshoot =
      "To mitigate this issue, please refer to the troubleshooting guidelines here at "
      "https://aka.ms/azsdk/python/identity/powershellcredential/troubleshoot.";
  if (ec == errc::process_not_found || (!ec && r.exit_code == 127) ||
      (!ec && r.exit_code != 0 && dt::contains(r.err, "'pwsh' is not recognized")))
    return TokenResult::unavailable(
        credential,
        who +
            "PowerShell isn't installed. No 'pwsh' was found on PATH: install PowerShell 7 "
            "(https://learn.microsoft.com/powershell/scripting/install/installing-powershell) and "
            "make sure its directory is on the PATH this program sees.");
  if (ec == errc::process_timeout)
    return TokenResult::unavailable(
        credential, who + "Failed to invoke PowerShell: it did not finish within " +
                        format_timeout(timeout) + " and was stopped. " + std::string(troubleshoot));
  if (ec == errc::process_output_too_large)
    return dt::ran_but_failed(credential, who + "PowerShell failed: " + ec.message() +
                                              " (it was stopped). Check that 'Get-AzAccessToken' "
                                              "works in PowerShell.");
  if (ec)
    return TokenResult::unavailable(
        credential,
        who + "Failed to invoke PowerShell: " + ec.message() + ". " + std::string(troubleshoot));
  if ((r.exit_code == 0 || r.status_unknown) && dt::contains(r.out, "NO_AZ_ACCOUNT_MODULE"))
    return TokenResult::unavailable(
        credential,
        who +
            "Az.Account module >= 2.2.0 isn't installed. Install the latest Az.Accounts module "
            "(Install-Module Az.Accounts; "
            "https://learn.microsoft.com/powershell/azure/install-az-ps).");
  if (r.exit_code != 0) {
    if (dt::contains(r.err, "Run Connect-AzAccount to login"))
      return TokenResult::unavailable(credential,
                                      who +
                                          "No account is logged in to Azure PowerShell. Please run "
                                          "'Connect-AzAccount' to set up account. Then check that "
                                          "'Get-AzAccessToken' returns a token.");
    if (dt::contains(r.err, "AuthorizationManager check failed"))
      return TokenResult::unavailable(
          credential, who +
                          "Execution policy prevented invoking Azure PowerShell. Allow "
                          "the Az.Accounts module to load (Set-ExecutionPolicy).");
    return TokenResult::unavailable(
        credential, who + "Failed to invoke PowerShell: " + dt::stderr_or_status(r, "pwsh") +
                        ". Enable debug logging for additional information.");
  }
  AccessToken token;
  if (auto perr = parse_pwsh_token(r.out, now, token))
    return dt::ran_but_failed(credential, who + "Unexpected output from Get-AzAccessToken: " +
                                              std::string(dt::output_problem(perr)) +
                                              " (output withheld: it may hold a token). Check that "
                                              "'Get-AzAccessToken' works in PowerShell.");
  return TokenResult(std::make_shared<const AccessToken>(std::move(token)));
}

}  // namespace detail
AZID_END
