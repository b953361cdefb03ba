// The five-line quickstart, compiled header-only (no azid::compiled): proves the header-only mode
// builds and links. Reads AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET.
#include <azid/credentials/client_secret.hpp>
#include <azid/platform/environment.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  azid::ProcessEnvironment env;
  try {
    azid::ClientSecretCredential<> cred(env.get("AZURE_TENANT_ID").value_or(""),
                                        env.get("AZURE_CLIENT_ID").value_or(""),
                                        env.get("AZURE_CLIENT_SECRET").value_or(""));
    azid::AccessToken t =
        cred.get_token({.scopes = {argc > 1 ? argv[1] : "https://vault.azure.net/.default"}});
    std::printf("token of %zu bytes, expires_on %lld\n", t.token.size(), t.expires_on_unix());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
