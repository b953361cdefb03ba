// A minimal DefaultAzureCredential user, built twice (header-only): with every member, and with
// AZID_DAC_NO_DEV_TOOLS, which excludes the developer tools at compile time. The ctest
// dac_excluded_code_absent checks with nm that the second binary holds none of their code.
#include <azid/default_azure_credential.hpp>

#include <cstdio>

#ifdef AZID_DAC_NO_DEV_TOOLS
using Credential =
    azid::DefaultAzureCredential<azid::Exclude<azid::cred::AzureCli, azid::cred::AzurePowerShell,
                                               azid::cred::AzureDeveloperCli>>;
#else
using Credential = azid::DefaultAzureCredential<>;
#endif

int main(int argc, char** argv) {
  Credential cred;
  std::printf("%zu credentials compiled in\n", Credential::compiled_count);
  if (argc < 2) return 0;  // only asks for a token when given a scope
  azid::TokenRequestContext ctx;
  ctx.scopes = {argv[1]};
  const azid::TokenResult r = cred.try_get_token(ctx);
  std::printf("%s\n", r.ok() ? "token acquired" : r.error_info().message.c_str());
  return r.ok() ? 0 : 1;
}
