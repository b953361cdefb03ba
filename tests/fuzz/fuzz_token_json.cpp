// Fuzz target: token responses (every expiry format), expiry text, CAE claims merging, body
// scrubbing and JSON string quoting.
//
// Input: a response body, used as is by every function below.
#include <chrono>
#include <string>

#include <simdjson.h>

#include "azid/detail/token_json.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace azid::detail;
using std::chrono::seconds;
using std::chrono::system_clock;

// A fixed "now" (2026-01-01T00:00:00Z) so a run is reproducible.
const system_clock::time_point request_time{seconds{1767225600}};
constexpr long long now_s = 1767225600;

void check_token(std::string_view body) {
  ParsedToken parsed;
  if (parse_token_json(body, parsed)) return;
  FUZZ_CHECK(!parsed.access_token.empty());
  if (parsed.expires_on)
    FUZZ_CHECK(*parsed.expires_on >= 0 && *parsed.expires_on <= max_epoch_seconds);
  if (parsed.expires_in) FUZZ_CHECK(*parsed.expires_in <= max_duration_seconds);
  const std::string token = parsed.access_token;
  azid::AccessToken out;
  if (make_access_token(std::move(parsed), request_time, out)) return;
  FUZZ_CHECK(out.token == token);
  FUZZ_CHECK(!out.token_type.empty());
  FUZZ_CHECK(azid::header_safe_token(out.token) && azid::header_safe_token(out.token_type));
  FUZZ_CHECK(out.expires_on_unix() > now_s && out.expires_on_unix() <= max_epoch_seconds);
  if (out.refresh_on) {
    FUZZ_CHECK(*out.refresh_on > request_time);
    FUZZ_CHECK(*out.refresh_on < out.expires_on);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::as_view(data, size);
  check_token(in);

  if (auto t = parse_expiry_text(in)) FUZZ_CHECK(*t >= 0 && *t <= max_epoch_seconds);

  (void)json_string_member(in, "access_token");

  if (auto merged = merge_cae_capability(in)) {
    // The result is an object that carries the capability, and merging again still works.
    FUZZ_CHECK(merged->find("\"xms_cc\"") != std::string::npos);
    FUZZ_CHECK(merge_cae_capability(*merged).has_value());
  }

  constexpr std::size_t cap = 64;
  const std::string scrubbed = scrub_body(in, cap);
  FUZZ_CHECK(scrubbed.size() <= cap + 64);
  for (char c : scrubbed) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u >= 0x20 || c == '\n' || c == '\t');
    FUZZ_CHECK(u != 0x7f);
  }

  // json_quote always gives valid UTF-8 JSON (U+FFFD for bytes that are not UTF-8), and
  // round-trips through a JSON parser for any valid UTF-8.
  {
    const std::string any = "{\"k\":" + json_quote(in) + "}";
    FUZZ_CHECK(simdjson::validate_utf8(any.data(), any.size()));
    FUZZ_CHECK(json_string_member(any, "k").has_value());
  }
  if (simdjson::validate_utf8(in.data(), in.size())) {
    const std::string doc = "{\"k\":" + json_quote(in) + "}";
    const auto back = json_string_member(doc, "k");
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(*back == in);
  }
  return 0;
}
