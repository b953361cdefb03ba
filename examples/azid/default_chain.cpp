// examples/azid/default_chain.cpp: the default chain's members for the azid tool.
//
// `--exclude KIND...` is a run-time choice, but DefaultAzureCredential's exclusions are template
// arguments, and instantiating all 64 subsets is out of the question. So the tool compiles
// seven: DefaultAzureCredential<> for `azid token --credential default` without --exclude (the
// library's own chain, exactly as an application gets it), and the six one-member chains
// DefaultAzureCredential<Exclude<every other>>. With --exclude the tool walks the kept one-member
// chains in order with the chain's rules (unavailable moves on, anything else stops; the
// aggregated message is the library's). `azid doctor` runs the same six one by one. Going through
// DefaultAzureCredential rather than building each credential here keeps the doctor honest: each
// member gets exactly the options, environment fallbacks, AZURE_TOKEN_CREDENTIALS handling and
// in-chain behaviour (IMDS probe, developer-tool failures as unavailable) that the real chain
// gives it.
#include "default_chain.hpp"

#include <future>
#include <memory>
#include <utility>

#include "azid/chain.hpp"
#include "azid/default_azure_credential.hpp"
#include "azid/detail/names.hpp"
#include "azid/detail/redact.hpp"

namespace azid_cli {

std::uint32_t parse_excludes(const std::vector<std::string>& kinds) {
  std::uint32_t mask = 0;
  for (const auto& k : kinds) {
    bool found = false;
    for (std::size_t i = 0; i < default_members.size(); ++i)
      if (default_members[i].kind == k) {
        mask |= 1u << i;
        found = true;
      }
    if (!found) {
      std::string valid;
      for (const auto& m : default_members)
        valid += (valid.empty() ? "" : ", ") + std::string(m.kind);
      throw UsageError("unknown --exclude '" + k + "'; the default chain's members are " + valid);
    }
  }
  return mask;
}

EnvSelection token_credentials_from_env() {
  EnvSelection sel{
      azid::ProcessEnvironment{}.get(azid::names::azure_token_credentials).value_or(""),
      all_members,
      {}};
  const azid::TokenCredentialsSelection parsed = azid::parse_azure_token_credentials(sel.value);
  sel.enabled = parsed.ok ? parsed.mask : 0;
  if (!parsed.ok) sel.error = parsed.error;
  return sel;
}

std::optional<std::chrono::milliseconds> process_timeout_option(const Args& a) {
  const auto t = a.one("process-timeout");
  if (!t) return std::nullopt;
  char* end = nullptr;
  const double seconds = std::strtod(t->c_str(), &end);
  if (end == t->c_str() || *end != '\0' || !(seconds >= 0.001) || seconds > 3600)
    throw UsageError("--process-timeout takes seconds, at least 0.001 and at most 3600");
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

ChainSettings chain_settings(const Args& a) {
  ChainSettings s;
  s.managed_identity_client_id = a.one("managed-identity-client-id").value_or("");
  s.authority_host = a.one("authority-host").value_or("");
  s.additionally_allowed_tenants = a.many("additionally-allowed-tenant");
  if (auto t = process_timeout_option(a)) s.process_timeout = *t;
  return s;
}

namespace {

using namespace azid::cred;
template <class... X>
using Dac = azid::DefaultAzureCredential<azid::Exclude<X...>>;
// Member i of the default order alone.
using Only0 = Dac<WorkloadIdentity, ManagedIdentity, AzureCli, AzurePowerShell, AzureDeveloperCli>;
using Only1 = Dac<Environment, ManagedIdentity, AzureCli, AzurePowerShell, AzureDeveloperCli>;
using Only3 =
    Dac<Environment, WorkloadIdentity, ManagedIdentity, AzurePowerShell, AzureDeveloperCli>;
using Only4 = Dac<Environment, WorkloadIdentity, ManagedIdentity, AzureCli, AzureDeveloperCli>;
using Only5 = Dac<Environment, WorkloadIdentity, ManagedIdentity, AzureCli, AzurePowerShell>;
static_assert(Only0::compiled_names[0] == default_members[0].name &&
              Only1::compiled_names[0] == default_members[1].name &&
              Only3::compiled_names[0] == default_members[3].name &&
              Only4::compiled_names[0] == default_members[4].name &&
              Only5::compiled_names[0] == default_members[5].name);

azid::DefaultAzureCredentialOptions dac_options(const ChainSettings& s) {
  azid::DefaultAzureCredentialOptions o;
  o.managed_identity_client_id = s.managed_identity_client_id;
  o.authority_host = s.authority_host;
  o.additionally_allowed_tenants = s.additionally_allowed_tenants;
  o.process_timeout = s.process_timeout;
  return o;
}

template <class D>
azid::TokenResult run_alone(const ChainSettings& s, const azid::DefaultPlatform& platform,
                            const azid::TokenRequestContext& ctx) {
  azid::TokenResult r;
  try {
    const auto dac = std::make_unique<D>(dac_options(s), platform);  // not movable: built in place
    r = dac->try_get_token(ctx);
  } catch (const std::invalid_argument& e) {
    return azid::TokenResult::invalid_argument(D::compiled_names[0], e.what());
  }
  if (r.ok() || r.error_info().attempts.empty()) return r;
  // A one-member chain wraps its member's failure in the chain's message; take the member's own.
  azid::ErrorInfo info = r.error_info();
  info.credential = std::string(D::compiled_names[0]);
  info.message = info.attempts.back().message;
  info.attempts.clear();
  return azid::TokenResult::error(r.failure(), std::move(info));
}

// Managed identity as DefaultAzureCredential builds it (its make()), but with the chain's run-time
// members in view: a one-member DefaultAzureCredential would compile workload identity out and so
// turn managed identity's workload-identity source off, where the whole chain keeps it.
azid::TokenResult run_managed_identity(const ChainSettings& s, const azid::DefaultPlatform& p,
                                       const azid::TokenRequestContext& ctx, std::uint32_t enabled,
                                       bool alone) {
  azid::ManagedIdentityCredentialOptions m;
  m.client_id = !s.managed_identity_client_id.empty()
                    ? s.managed_identity_client_id
                    : p.environment().get(azid::names::azure_client_id).value_or("");
  m.within_default_chain = !alone;
  m.allow_workload_identity = (enabled & (1u << 1)) != 0;
  try {
    const azid::ManagedIdentityCredential<azid::DefaultPlatform> mi(std::move(m), p);
    return mi.try_get_token(ctx);
  } catch (const std::invalid_argument& e) {
    return azid::TokenResult::invalid_argument(default_members[2].name, e.what());
  }
}

// `enabled`: the members the chain runs (AZURE_TOKEN_CREDENTIALS and --exclude applied);
// `mi_alone`: AZURE_TOKEN_CREDENTIALS names managed identity alone.
azid::TokenResult run_one(std::size_t i, const ChainSettings& s, const azid::DefaultPlatform& p,
                          const azid::TokenRequestContext& ctx, std::uint32_t enabled,
                          bool mi_alone) {
  static_assert(default_members[1].name == "WorkloadIdentityCredential" &&
                default_members[2].name == "ManagedIdentityCredential");
  switch (i) {
    case 0:
      return run_alone<Only0>(s, p, ctx);
    case 1:
      return run_alone<Only1>(s, p, ctx);
    case 2:
      return run_managed_identity(s, p, ctx, enabled, mi_alone);
    case 3:
      return run_alone<Only3>(s, p, ctx);
    case 4:
      return run_alone<Only4>(s, p, ctx);
    default:
      return run_alone<Only5>(s, p, ctx);
  }
}

}  // namespace

std::vector<MemberRun> run_members(const ChainSettings& s, const azid::DefaultPlatform& platform,
                                   const azid::TokenRequestContext& ctx,
                                   std::uint32_t excluded_by_option, const EnvSelection& env) {
  std::vector<MemberRun> runs;
  std::vector<std::future<azid::TokenResult>> pending(default_members.size());
  const std::uint32_t enabled = env.enabled & ~excluded_by_option;
  const bool mi_alone = env.error.empty() && env.enabled == (1u << 2);
  for (std::size_t i = 0; i < default_members.size(); ++i) {
    MemberRun r;
    r.info = default_members[i];
    if (excluded_by_option & (1u << i)) {
      r.excluded = true;
      r.excluded_by = "--exclude " + std::string(r.info.kind);
    } else if (env.error.empty() && !(env.enabled & (1u << i))) {
      r.excluded = true;
      // Trimmed, as the chain reads it: the spaces a shell leaves around it say nothing.
      r.excluded_by = std::string(azid::names::azure_token_credentials) + "=" +
                      std::string(azid::detail::trim_space(env.value));
    } else if (!env.error.empty()) {
      // DefaultAzureCredential would refuse to try anything; so does the doctor (the error is
      // reported once, at the top).
      r.result =
          azid::TokenResult::invalid_argument(r.info.name,
                                              "Not tried: AZURE_TOKEN_CREDENTIALS is invalid, so "
                                              "DefaultAzureCredential tries no credential.");
    } else {
      pending[i] = std::async(std::launch::async, [i, &s, &platform, &ctx, enabled, mi_alone] {
        return run_one(i, s, platform, ctx, enabled, mi_alone);
      });
    }
    runs.push_back(std::move(r));
  }
  for (std::size_t i = 0; i < runs.size(); ++i)
    if (pending[i].valid()) runs[i].result = pending[i].get();
  return runs;
}

azid::TokenResult default_chain_token(const ChainSettings& s, const azid::DefaultPlatform& platform,
                                      const azid::TokenRequestContext& ctx,
                                      std::uint32_t excluded_by_option, std::string& credential) {
  if (excluded_by_option == 0) {
    const auto dac = std::make_unique<azid::DefaultAzureCredential<>>(dac_options(s), platform);
    azid::TokenResult r = dac->try_get_token(ctx);
    credential = dac->selected();
    return r;
  }
  const EnvSelection env = token_credentials_from_env();
  if (!env.error.empty())
    return azid::TokenResult::invalid_argument("DefaultAzureCredential", env.error);
  const std::uint32_t enabled = env.enabled & ~excluded_by_option;
  if (enabled == 0)
    throw UsageError(
        "every member of the default chain is excluded (--exclude" +
        std::string(env.value.empty()
                        ? ")"
                        : " and AZURE_TOKEN_CREDENTIALS=" +
                              azid::detail::printable(azid::detail::trim_space(env.value)) + ")"));
  std::vector<azid::CredentialAttempt> attempts;
  for (std::size_t i = 0; i < default_members.size(); ++i) {
    if (!(enabled & (1u << i))) continue;
    azid::TokenResult r = run_one(i, s, platform, ctx, enabled, env.enabled == (1u << 2));
    if (r.ok()) {
      credential = default_members[i].name;
      return r;
    }
    if (r.failure() == azid::Failure::invalid_argument) return r;
    attempts.push_back({std::string(default_members[i].name), r.error_info().message,
                        r.failure() == azid::Failure::unavailable});
    if (r.failure() != azid::Failure::unavailable) {
      azid::ErrorInfo info = r.error_info();
      info.credential = "DefaultAzureCredential";
      info.message = azid::detail::chain_failure_message("DefaultAzureCredential", attempts);
      info.attempts = std::move(attempts);
      return azid::TokenResult::error(r.failure(), std::move(info));
    }
  }
  azid::ErrorInfo info;
  info.credential = "DefaultAzureCredential";
  info.message = azid::detail::chain_failure_message("DefaultAzureCredential", attempts);
  info.attempts = std::move(attempts);
  return azid::TokenResult::error(azid::Failure::unavailable, std::move(info));
}

}  // namespace azid_cli
