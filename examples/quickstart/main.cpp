// quickstart: get a token with ClientSecretCredential and call a protected resource with it.
//
// It runs offline: azid's local Microsoft Entra ID emulator stands in for
// login.microsoftonline.com and for a Key Vault-like resource. Against real Azure, delete the
// block marked "emulator only" and build the credential from your own tenant id, client id and
// secret with default options: the public cloud and the system trust store are the defaults.
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <string>

#include <azid/credentials/client_secret.hpp>
#include <azid/platform/default_platform.hpp>

#include "emulator.hpp"  // emulator only

int main() {
  try {
    // --- emulator only: a local Entra ID with an app registration, and a secret to read back.
    azid_emulator::Emulator entra;
    const std::string tenant_id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    const std::string client_id = "11111111-2222-4333-8444-555555555555";
    const std::string client_secret = "quickstart-secret";  // real code: read it from a vault/env
    entra.register_app({tenant_id, client_id, client_secret, false, {}});
    entra.set_secret("db-password", "hunter2 (a value the resource returns to a valid token)");
    azid::DefaultPlatformOptions popts;
    popts.transport.extra_ca_file = entra.ca_file();  // the emulator's TLS certificate is private
    popts.transport.use_system_trust = false;
    popts.proxy_from_environment = false;  // 127.0.0.1 must not go through a corporate proxy
    azid::DefaultPlatform platform(popts);
    azid::ClientSecretCredentialOptions options;
    options.authority_host = entra.authority_host();
    // --- end of emulator only.

    // 1. One credential per identity, created once and shared: it owns the token cache.
    //    Constructing it sends nothing; bad arguments (a malformed tenant id) throw here.
    const azid::ClientSecretCredential<> credential(tenant_id, client_id, client_secret, options,
                                                    platform);

    // 2. Ask for a token for the resource's ".default" scope right before each call. The first
    //    call goes to Entra ID; later ones return the cached token until it nears expiry.
    azid::TokenRequestContext ctx;
    ctx.scopes = {"https://vault.azure.net/.default"};
    const azid::AccessToken token = credential.get_token(ctx);
    const auto now = std::chrono::system_clock::now();
    std::printf(
        "got a %s token (%zu bytes, never print it), valid for %lld more minutes\n",
        token.token_type.c_str(), token.token.size(),
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::minutes>(token.expires_on - now).count()));

    // 3. Send it as "Authorization: Bearer <token>". Here the platform's transport does the HTTP
    //    call; in an application this is your Azure SDK client or HTTP library.
    azid::HttpRequest req;
    req.url = entra.base_url() + "/secrets/db-password";
    req.headers.set("Authorization", "Bearer " + credential.get_token(ctx).token);
    std::error_code ec;
    const azid::HttpResponse res = platform.transport().send(req, ec);
    if (ec) {
      std::fprintf(stderr, "calling the resource failed: %s\n", ec.message().c_str());
      return 1;
    }
    std::printf("GET /secrets/db-password -> %d %s\n", res.status, res.body.c_str());
    const std::size_t sent = entra.request_count("/" + tenant_id + "/oauth2");
    std::printf(
        "token requests sent to Entra ID for two get_token calls: %zu (the second was cached)\n",
        sent);

    // 4. Failures are exceptions named as in Azure Identity, with Entra's error passed through and
    //    advice on what to do. Use try_get_token() to get a TokenResult instead of an exception.
    const azid::ClientSecretCredential<> wrong(tenant_id, client_id, "not-the-secret", options,
                                               platform);
    const azid::TokenResult result = wrong.try_get_token(ctx);
    if (result.ok()) {
      std::fprintf(stderr, "a wrong secret was accepted?\n");
      return 1;
    }
    std::printf("\nwith a wrong secret, try_get_token reports (no exception thrown):\n%s\n",
                result.error_info().message.c_str());
    return res.status == 200 && sent == 1 ? 0 : 1;
  } catch (const azid::ClientAuthenticationError& e) {
    std::fprintf(stderr, "authentication failed: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quickstart failed: %s\n", e.what());
  }
  return 1;
}
