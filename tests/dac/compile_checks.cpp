// Compile-time checks of DefaultAzureCredential<Exclude<...>>, Chain and the Platform concept, one
// per AZID_DAC_CASE value. Each `fail_*` case must not compile, with the static_assert or the
// constraint named in tests/dac/CMakeLists.txt; `ok` is the control that shows the harness
// compiles valid code.
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
#elif AZID_DAC_CASE == \
    5  // fail_chain_too_long: 33 members, one more than ChainOptions::enabled has bits
struct M {
  static constexpr std::string_view name = "M";
  azid::TokenResult try_get_token(const azid::TokenRequestContext&) const { return {}; }
  azid::AccessToken get_token(const azid::TokenRequestContext&) const { return {}; }
};
using C33 = azid::Chain<M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
                        M, M, M, M, M, M, M, M>;
[[maybe_unused]] std::size_t chain_size = sizeof(C33);
using D = azid::DefaultAzureCredential<>;
#elif AZID_DAC_CASE == 6  // fail_logger_by_value: a platform whose logger() returns a copy
struct ByValueLogger : azid::DefaultPlatform {
  azid::Logger logger() const { return azid::DefaultPlatform::logger(); }
};
[[maybe_unused]] void f() { azid::EnvironmentCredential<ByValueLogger> c; }
using D = azid::DefaultAzureCredential<>;
#endif
}  // namespace

[[maybe_unused]] std::size_t azid_dac_compiled_count() { return D::compiled_count; }
