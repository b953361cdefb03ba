// Under separate compilation every public header is light: no Asio, OpenSSL or simdjson leaks in.
// This TU is part of azid_tests, which is built with AZID_SEPARATE_COMPILATION.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "azid.hpp"
#include "azid/any_credential.hpp"
#include "azid/bearer.hpp"
#include "azid/cache/token_cache.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/credentials/managed_identity/app_service.hpp"
#include "azid/credentials/managed_identity/arc.hpp"
#include "azid/credentials/managed_identity/azure_ml.hpp"
#include "azid/credentials/managed_identity/cloud_shell.hpp"
#include "azid/credentials/managed_identity/imds.hpp"
#include "azid/credentials/managed_identity/options.hpp"
#include "azid/credentials/managed_identity/service_fabric.hpp"
#include "azid/credentials/managed_identity/workload_identity.hpp"
#include "azid/credentials/azure_pipelines.hpp"
#include "azid/credentials/certificate.hpp"
#include "azid/credentials/client_assertion.hpp"
#include "azid/credentials/environment.hpp"
#include "azid/credentials/workload_identity.hpp"
#include "azid/detail/base64.hpp"
#include "azid/detail/challenge.hpp"
#include "azid/detail/client_auth.hpp"
#include "azid/detail/confidential_client.hpp"
#include "azid/detail/crypto.hpp"
#include "azid/detail/entra.hpp"
#include "azid/detail/http1.hpp"
#include "azid/detail/http_driver.hpp"
#include "azid/detail/managed_identity.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/detail/url.hpp"
#include "azid/testing/platform.hpp"
#include "azid/transport/asio_https.hpp"
#include "azid/transport/https.hpp"

#if !defined(AZID_SEPARATE_COMPILATION)
#error "this check is meaningful only with AZID_SEPARATE_COMPILATION"
#endif
#if defined(ASIO_VERSION)
#error "Asio leaked into a public header"
#endif
#if defined(OPENSSL_VERSION_NUMBER)
#error "OpenSSL leaked into a public header"
#endif
#if defined(SIMDJSON_VERSION)
#error "simdjson leaked into a public header"
#endif

TEST_SUITE("headers") {
  TEST_CASE("public headers compile without Asio, OpenSSL or simdjson") {
    static_assert(azid::Credential<azid::ClientSecretCredential<azid::testing::Platform>>);
    static_assert(azid::Credential<azid::CertificateCredential<azid::testing::Platform>>);
    static_assert(azid::Credential<azid::ClientAssertionCredential<azid::testing::Platform>>);
    static_assert(azid::Credential<azid::EnvironmentCredential<azid::testing::Platform>>);
    static_assert(azid::Credential<azid::WorkloadIdentityCredential<azid::testing::Platform>>);
    static_assert(azid::Credential<azid::AzurePipelinesCredential<azid::testing::Platform>>);
    static_assert(azid::Credential<azid::ManagedIdentityCredential<azid::testing::Platform>>);
    static_assert(
        azid::Credential<azid::ManagedIdentityCredential<azid::testing::Platform, azid::mi::Imds>>);
    static_assert(azid::Platform<azid::DefaultPlatform>);
    static_assert(azid::Platform<azid::testing::Platform>);
    static_assert(
        std::is_same_v<azid::AsioHttpsTransport, azid::HttpsTransport>);  // the former name
    static_assert(azid::Transport<azid::HttpsTransport>);
    CHECK(azid::detail::base64_encode("hi", true) == "aGk");
  }

  TEST_CASE("base64: RFC 4648 test vectors, standard (padded) and URL-safe (unpadded)") {
    using azid::detail::base64_decode;
    using azid::detail::base64_encode;
    const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                           {"f", "Zg=="},
                                                           {"fo", "Zm8="},
                                                           {"foo", "Zm9v"},
                                                           {"foob", "Zm9vYg=="},
                                                           {"fooba", "Zm9vYmE="},
                                                           {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, encoded] : vectors) {
      CAPTURE(plain);
      CHECK(base64_encode(plain, false) == encoded);
      std::string url = encoded;
      while (!url.empty() && url.back() == '=') url.pop_back();
      CHECK(base64_encode(plain, true) == url);
      CHECK(base64_decode(encoded) == std::string(plain));
    }
    // The two alphabets differ in exactly two characters.
    CHECK(base64_encode("\xfb\xff\xbf", false) == "+/+/");
    CHECK(base64_encode("\xfb\xff\xbf", true) == "-_-_");
  }

  TEST_CASE("Azure Arc's key folder on Linux is the agent's") {
    CHECK(azid::detail::msi::arc_default_key_directory(std::nullopt) ==
          "/var/opt/azcmagent/tokens");
  }
}
