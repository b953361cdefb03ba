// Out-of-tree consumer of the installed azid package (header-only mode): builds a credential, a
// chain and a bearer authorizer, and prints what they are. No network: nothing asks for a token.
#include <azid/bearer.hpp>
#include <azid/credentials/client_secret.hpp>
#include <azid/credentials/environment.hpp>

#include <cstdio>

int main() {
  // Placeholder ids: constructing a credential validates them but sends nothing.
  azid::ClientSecretCredential<> secret("00000000-0000-0000-0000-000000000000",
                                        "11111111-1111-1111-1111-111111111111",
                                        "not-a-real-secret");
  azid::BearerTokenAuthorizer auth(secret, {"https://vault.azure.net/.default"});
  azid::EnvironmentCredential<> env;
  std::printf("azid %s: %.*s, %.*s; bearer scopes: %s\n", AZID_VERSION_STRING,
              static_cast<int>(decltype(secret)::name.size()), decltype(secret)::name.data(),
              static_cast<int>(decltype(env)::name.size()), decltype(env)::name.data(),
              auth.options().scopes.front().c_str());
  return 0;
}
