// Fuzz target: what azid makes of a token endpoint's answer: Entra's error JSON, the messages
// built from it (token_result, with the troubleshooting advice), and managed identity's
// equivalents (token_from_response, body_detail).
//
// Input: one byte picking the HTTP status, then the body.
#include <chrono>
#include <string>

#include "azid/detail/entra.hpp"
#include "azid/detail/managed_identity.hpp"
#include "azid/detail/token_json.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace azid;
using std::chrono::seconds;
using std::chrono::system_clock;

const system_clock::time_point request_time{seconds{1767225600}};
constexpr int statuses[] = {200, 400, 401, 403, 404, 429, 500, 503, 201, 302};

// A secret value from the body (an access or refresh token) must not reach a message, unless the
// same text is also somewhere in the body that is not a secret field (then it is not ours to hide).
// `again` makes the message for the body with that value replaced, so text that is part of the
// message's own wording is not taken for a leak.
template <class MakeMessage>
void check_no_secret(std::string_view body, const std::string& message, MakeMessage&& again) {
  const std::string visible = detail::scrub_body(body, body.size() + 1);
  for (const char* key : {"access_token", "refresh_token", "id_token"}) {
    const auto v = detail::json_string_member(body, key);
    if (!v || v->size() < 8 || message.find(*v) == std::string::npos) continue;
    if (visible.find(*v) != std::string::npos) continue;
    bool quoted_elsewhere = false;  // e.g. an error_description that repeats it, escaped
    for (const char* other : {"error", "error_description", "message"})
      if (auto o = detail::json_string_member(body, other); o && o->find(*v) != std::string::npos)
        quoted_elsewhere = true;
    if (quoted_elsewhere) continue;
    std::string other(body);
    const auto at = other.find(*v);
    if (at == std::string::npos) continue;  // written with escapes; nothing to compare against
    for (auto p = at; p != std::string::npos; p = other.find(*v, p + v->size()))
      other.replace(p, v->size(), v->size(), '\x01');
    FUZZ_CHECK(again(other).find(*v) != std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  HttpResponse res;
  res.status = statuses[data[0] % std::size(statuses)];
  res.body.assign(fuzz::as_view(data + 1, size - 1));

  StsError sts;
  if (detail::parse_sts_error(res.body, sts)) {
    FUZZ_CHECK(sts.code() == (sts.error_codes.empty() ? 0 : sts.error_codes.front()));
  }

  const TokenResult r =
      detail::token_result("ClientSecretCredential", "https://login.example/t/oauth2/v2.0/token",
                           res, std::error_code{}, request_time);
  if (r.ok()) {
    FUZZ_CHECK(res.status == 200);
    FUZZ_CHECK(!r.token().token.empty());
  } else {
    FUZZ_CHECK(r.failure() != Failure::none);
    FUZZ_CHECK(r.error_info().http_status == res.status);
    check_no_secret(res.body, r.error_info().message, [&](const std::string& body) {
      HttpResponse other = res;
      other.body = body;
      const TokenResult o = detail::token_result("ClientSecretCredential",
                                                 "https://login.example/t/oauth2/v2.0/token", other,
                                                 std::error_code{}, request_time);
      return o.ok() ? std::string() : o.error_info().message;
    });
  }

  const TokenResult m = detail::msi::token_from_response(res, request_time);
  if (!m.ok()) {
    check_no_secret(res.body, m.error_info().message, [&](const std::string& body) {
      HttpResponse other = res;
      other.body = body;
      const TokenResult o = detail::msi::token_from_response(other, request_time);
      return o.ok() ? std::string() : o.error_info().message;
    });
  }
  const std::string detail_text = detail::msi::body_detail(res.body);
  check_no_secret(res.body, detail_text,
                  [](const std::string& body) { return detail::msi::body_detail(body); });
  FUZZ_CHECK(detail::msi::excerpt(res.body, 100).size() <= 200);
  return 0;
}
