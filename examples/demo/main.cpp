// azid-demo: starts the local Entra ID emulator, gets a token through azid's ClientSecretCredential
// over real TLS, prints the token's decoded claims (never the token itself) and calls the
// emulator's protected resource with it. Everything stays on 127.0.0.1.
#include <cstdio>
#include <exception>
#include <string>

#include "azid/credentials/client_secret.hpp"
#include "azid/detail/base64.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/platform/default_platform.hpp"
#include "emulator.hpp"

int main() {
  try {
    // 1. A local stand-in for Microsoft Entra ID, with a CA generated for this run.
    azid_emulator::Emulator emulator;
    const std::string tenant = "6f1c0c2e-5d7a-4b8e-9a3f-0c1d2e3f4a5b";
    const std::string client_id = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    const std::string client_secret = "demo-secret-" + azid::detail::new_uuid();
    emulator.register_app({tenant, client_id, client_secret, false, {}});
    emulator.set_secret("greeting", "Hello from a resource protected by an azid token");
    std::printf("Emulator listening on %s (CA: %s)\n", emulator.base_url().c_str(),
                emulator.ca_file().c_str());

    // 2. azid's default platform, trusting the emulator's CA, and a client-secret credential
    //    whose authority host is the emulator.
    azid::DefaultPlatformOptions popts;
    popts.transport.extra_ca_file = emulator.ca_file();
    popts.transport.use_system_trust = false;
    popts.proxy_from_environment = false;
    azid::DefaultPlatform platform(popts);
    azid::ClientSecretCredentialOptions copts;
    copts.authority_host = emulator.authority_host();
    azid::ClientSecretCredential<> credential(tenant, client_id, client_secret, copts, platform);

    // 3. A token for the resource.
    azid::TokenRequestContext ctx;
    ctx.scopes = {"https://vault.azure.net/.default"};
    const azid::AccessToken token = credential.get_token(ctx);
    const auto claims = azid::detail::jwt_payload(token.token);
    std::printf(
        "\nGot a %s token from ClientSecretCredential, expires_on=%lld (%zu bytes; not printed)\n",
        token.token_type.c_str(), token.expires_on_unix(), token.token.size());
    std::printf("Decoded claims: %s\n", claims ? claims->c_str() : "(not a JWT)");

    // 4. The cache: a second call costs no request.
    (void)credential.get_token(ctx);
    std::printf("Token requests seen by the emulator after two get_token calls: %zu\n",
                emulator.request_count("/" + tenant));

    // 5. Call the protected resource with the bearer token.
    azid::HttpRequest req;
    req.method = "GET";
    req.url = emulator.base_url() + "/secrets/greeting";
    req.headers.set("Authorization", "Bearer " + token.token);
    std::error_code ec;
    azid::HttpResponse res = platform.transport().send(req, ec);
    if (ec) {
      std::fprintf(stderr, "calling the resource failed: %s\n", ec.message().c_str());
      return 1;
    }
    const auto value = azid::detail::json_string_member(res.body, "value");
    std::printf("\nGET /secrets/greeting -> %d: %s\n", res.status,
                value ? value->c_str() : res.body.c_str());

    // 6. What a user sees when the secret is wrong.
    azid::ClientSecretCredential<> wrong(tenant, client_id, "not-the-secret", copts, platform);
    try {
      (void)wrong.get_token(ctx);
    } catch (const azid::ClientAuthenticationError& e) {
      std::printf("\nWith a wrong secret, get_token throws ClientAuthenticationError:\n%s\n",
                  e.what());
    }
    return res.status == 200 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo failed: %s\n", e.what());
    return 1;
  }
}
