// Compile-time checks of DefaultAzureCredential<Exclude<...>>, one per AZID_DAC_CASE value. Each
// `fail_*` case must not compile, with the static_assert named in tests/dac/CMakeLists.txt; `ok`
// is the control that shows the harness compiles valid code.
#include <azid/default_azure_credential.hpp>

namespace {
#if AZID_DAC_CASE == 0  // ok
using D =
    azid::DefaultAzureCredential<azid::Exclude<azid::cred::AzureCli, azid::cred::AzurePowerShell>>;
static_assert(D::compiled_count == 4);
#elif AZID_DAC_CASE == 1  // fail_not_a_tag: the credential class instead of its tag
using D = azid::DefaultAzureCredential<azid::Exclude<azid::AzureCliCredential<>>>;
#elif AZID_DAC_CASE == 2  // fail_exclude_all
using D = azid::DefaultAzureCredential<azid::Exclude<
    azid::cred::Environment, azid::cred::WorkloadIdentity, azid::cred::ManagedIdentity,
    azid::cred::AzureCli, azid::cred::AzurePowerShell, azid::cred::AzureDeveloperCli>>;
#elif AZID_DAC_CASE == 3  // fail_not_exclude: a tag where Exclude<...> belongs
using D = azid::DefaultAzureCredential<azid::cred::AzureCli>;
#elif AZID_DAC_CASE == 4  // fail_tenant_id: the options have no tenant_id
[[maybe_unused]] void f() {
  azid::DefaultAzureCredentialOptions o;
  o.tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47";
}
using D = azid::DefaultAzureCredential<>;
#endif
}  // namespace

[[maybe_unused]] std::size_t azid_dac_compiled_count() { return D::compiled_count; }
