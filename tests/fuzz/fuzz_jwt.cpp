// Fuzz target: JWT payload decoding (what the demo and the doctor do to show a token's claims)
// and base64/base64url in both directions.
//
// Input: a JWT (or any text).
#include <string>

#include "azid/detail/base64.hpp"
#include "azid/detail/token_json.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace azid::detail;
  const std::string_view in = fuzz::as_view(data, size);

  if (auto payload = jwt_payload(in)) {
    FUZZ_CHECK(payload->size() <= in.size());
    for (const char* claim : {"aud", "iss", "tid", "oid", "appid", "upn", "idtyp", "xms_mirid"})
      (void)json_string_member(*payload, claim);
  }

  // Anything decoded re-encodes to the same bytes in both alphabets.
  if (auto raw = base64_decode(in)) {
    FUZZ_CHECK(raw->size() <= in.size());
    FUZZ_CHECK(base64_decode(base64_encode(*raw, true)) == raw);
    FUZZ_CHECK(base64_decode(base64_encode(*raw, false)) == raw);
  }
  // Anything encoded decodes back.
  for (bool url : {false, true}) {
    const std::string enc = base64_encode(in, url);
    FUZZ_CHECK(enc.size() == (url ? (in.size() * 4 + 2) / 3 : (in.size() + 2) / 3 * 4));
    const auto back = base64_decode(enc);
    FUZZ_CHECK(back.has_value() && *back == in);
  }
  return 0;
}
