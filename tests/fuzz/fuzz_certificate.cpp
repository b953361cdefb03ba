// Fuzz target: certificate loading: PEM (keys plain or encrypted, one or more certificates) and
// PKCS#12, as ClientCertificateCredential reads a user's file. OpenSSL does the parsing; what is
// fuzzed is azid's handling around it (format sniffing, key/certificate matching, the error
// sentences, ownership of OpenSSL objects under ASan's leak checker).
//
// Input: one byte picking the password ("", "test" or a wrong one), then the file. The password
// never appears in an error sentence.
// A loaded certificate must sign, and its assertion must decode.
#include <chrono>
#include <string>

#include "azid/detail/base64.hpp"
#include "azid/detail/crypto.hpp"
#include "azid/detail/token_json.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace azid::detail;
  if (size < 1) return 0;
  static constexpr std::string_view passwords[] = {"", "test", "Fz9-not-it"};
  const std::string_view password = passwords[data[0] % 3];
  const std::string_view file = fuzz::as_view(data + 1, size - 1);

  CertificateMaterial cert;
  std::string error;
  if (!load_certificate(file, password, cert, error)) {
    FUZZ_CHECK(!error.empty());
    FUZZ_CHECK(cert.empty());
    if (password.size() >= 4) FUZZ_CHECK(error.find(password) == std::string::npos);
    return 0;
  }
  FUZZ_CHECK(!cert.empty());
  FUZZ_CHECK(cert.thumbprint_sha1().size() == 20);
  FUZZ_CHECK(cert.thumbprint_sha256().size() == 32);
  FUZZ_CHECK(!cert.chain_der().empty());

  AssertionParams p;
  p.client_id = "00000000-0000-0000-0000-000000000001";
  p.audience = "https://login.example/t/oauth2/v2.0/token";
  p.now = std::chrono::system_clock::time_point{std::chrono::seconds{1767225600}};
  p.alg = (data[0] & 4) ? JwsAlgorithm::ps256 : JwsAlgorithm::rs256;
  p.send_certificate_chain = data[0] & 8;
  const std::string jwt = make_client_assertion(cert, p, error);
  FUZZ_CHECK(!jwt.empty());
  const auto payload = jwt_payload(jwt);
  FUZZ_CHECK(payload.has_value());
  FUZZ_CHECK(json_string_member(*payload, "aud") == std::string(p.audience));
  return 0;
}
