// Fuzz target: what azid reads from the developer tools: `az account get-access-token` JSON,
// `azd auth token` JSON, the PowerShell script's `azsdk%token%expiry` line, the CLI's local
// time format, and a tool's stderr as it is made fit for an error message.
//
// Input: a tool's stdout (or stderr), fed to every reader.
#include <chrono>
#include <string>

#include "azid/detail/dev_tool.hpp"
#include "azid/detail/token_json.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace azid;
using std::chrono::seconds;
using std::chrono::system_clock;

const system_clock::time_point now{seconds{1767225600}};

void check_token(const std::error_code& ec, const AccessToken& t) {
  if (ec) return;
  FUZZ_CHECK(!t.token.empty());
  FUZZ_CHECK(header_safe_token(t.token));  // nothing that could start a header of its own
  FUZZ_CHECK(t.expires_on > now);
  FUZZ_CHECK(t.expires_on_unix() <= detail::max_epoch_seconds);
  if (t.refresh_on) FUZZ_CHECK(*t.refresh_on < t.expires_on);
}

std::size_t count(std::string_view s, std::string_view what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string_view::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// The tools' hand-written JSON reader against simdjson, where the two must agree: a single,
// unescaped member of that name.
void check_against_simdjson(std::string_view in, std::string_view key, const std::string& token) {
  const std::string quoted = "\"" + std::string(key) + "\"";
  if (count(in, quoted) != 1 || in.find('\\') != std::string_view::npos) return;
  if (auto v = detail::json_string_member(in, key)) FUZZ_CHECK(*v == token);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::as_view(data, size);

  AccessToken az;
  const auto az_ec = detail::parse_az_token(in, now, az);
  check_token(az_ec, az);
  if (!az_ec) check_against_simdjson(in, "accessToken", az.token);

  AccessToken azd;
  const auto azd_ec = detail::parse_azd_token(in, now, azd);
  check_token(azd_ec, azd);
  if (!azd_ec) check_against_simdjson(in, "token", azd.token);

  AccessToken ps;
  const auto ps_ec = detail::parse_pwsh_token(in, now, ps);
  check_token(ps_ec, ps);
  if (!ps_ec) FUZZ_CHECK(in.find("azsdk%" + ps.token + "%") != std::string_view::npos);

  if (auto t = detail::parse_local_time(in)) FUZZ_CHECK(*t >= -86400 * 2);

  constexpr std::size_t cap = 128;
  const std::string err = detail::tool_stderr_text(in, cap);
  FUZZ_CHECK(err.size() <= cap + 64);
  for (char c : err) {
    FUZZ_CHECK(c != '\x1b' && c != '\r' && c != '\0');
  }
  if (!err.empty()) {
    FUZZ_CHECK(err.front() != ' ' && err.back() != ' ');
  }
  // A JWT-shaped word never survives (a word cut short by the truncation marker is not one).
  std::string_view scan = err;
  constexpr std::string_view marker = "...(truncated)";
  const bool truncated =
      scan.size() >= marker.size() && scan.substr(scan.size() - marker.size()) == marker;
  if (truncated) scan.remove_suffix(marker.size());
  const auto jwt_char = [](char c) { return detail::is_alnum(c) || c == '-' || c == '_'; };
  for (auto at = scan.find("eyJ"); at != std::string_view::npos; at = scan.find("eyJ", at + 1)) {
    if (at > 0 && jwt_char(scan[at - 1])) continue;
    std::size_t j = at, dots = 0;
    while (j < scan.size() && (jwt_char(scan[j]) || scan[j] == '.')) dots += scan[j++] == '.';
    FUZZ_CHECK(dots < 2 || (truncated && j == scan.size()));
  }
  return 0;
}
