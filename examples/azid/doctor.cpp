// examples/azid/doctor.cpp: `azid doctor`: the troubleshooting guide, run against this machine.
//
// Every member of the default chain runs on its own, configured as inside DefaultAzureCredential
// (so the developer tools are bounded by their process timeout and managed identity probes IMDS
// briefly), all at once. Each gets a status (ok / unavailable / failed / excluded), its own
// message as the reason (credential messages never hold secrets), and what to do about it with
// the README section to read. Then: the managed identity source detected, whether IMDS answers,
// the developer tools on PATH and whether they are signed in, and for the token the chain would
// use, the identity it is for (decoded claims; the token itself is never printed).
#include "doctor.hpp"

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "azid/core/errors.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/detail/base64.hpp"
#include "azid/detail/managed_identity.hpp"
#include "azid/detail/names.hpp"
#include "azid/detail/redact.hpp"
#include "azid/detail/sts_advice.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/platform/process_runner.hpp"
#include "cli.hpp"
#include "default_chain.hpp"

namespace azid_cli {
namespace {

constexpr std::string_view default_scope = "https://management.azure.com/.default";

constexpr std::string_view doctor_usage =
    R"(usage: azid doctor [--scope SCOPE] [--json] [--exclude KIND]... [--tenant TENANT]
         [--managed-identity-client-id ID] [--authority-host URL] [--additionally-allowed-tenant T]...
         [--process-timeout SECONDS] [--log-level debug|info|warning|error]

Runs each credential of the default chain (environment, workload-identity, managed-identity,
azure-cli, azure-powershell, azure-developer-cli) on its own and reports its status (ok,
unavailable, failed, excluded), why, and what to do; the managed identity source; whether IMDS
answers; whether az, azd and pwsh are installed and signed in; and the identity (tenant, app,
object id, audience, expiry) of the token the chain would use. No token or secret is printed.
Exit codes: 0 a token could be had, 1 the chain stops at a credential that failed, 2 no
credential could get a token, 64 usage error (or an invalid request or AZURE_TOKEN_CREDENTIALS),
70 internal error, 74 output not written.
)";

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

std::string_view status_of(const MemberRun& r) {
  if (r.excluded) return "excluded";
  if (r.result.ok()) return "ok";
  return r.result.failure() == azid::Failure::unavailable ? "unavailable" : "failed";
}

// --- What to do (the guide's mitigations, in our words) -------------------------------------

struct Advice {
  std::string text;
  std::string section;  // a README "Troubleshooting" section
};

Advice sts_or(const azid::TokenResult& r, std::string section, std::string fallback) {
  const auto& info = r.error_info();
  if (info.sts)
    for (long long code : info.sts->error_codes)
      if (const auto* a = azid::detail::find_sts_advice(code))
        return {std::string(a->mitigation), section};
  return {std::move(fallback), std::move(section)};
}

Advice multi_tenant() {
  return {
      "The request named a tenant the credential is not configured for: add it with "
      "--additionally-allowed-tenant (or AZURE_ADDITIONALLY_ALLOWED_TENANTS; '*' allows any), or "
      "drop --tenant.",
      "Multi-tenant"};
}

Advice advice_for(const MemberRun& r) {
  if (r.excluded || r.result.ok()) return {};
  const std::string& m = r.result.error_info().message;
  const bool unavailable = r.result.failure() == azid::Failure::unavailable;
  const std::string_view name = r.info.name;
  if (contains(m, "not configured to acquire tokens for tenant")) return multi_tenant();
  if (contains(m, "AZURE_TOKEN_CREDENTIALS"))
    return {
        "Set AZURE_TOKEN_CREDENTIALS to 'dev', 'prod' or one credential's class name (e.g. "
        "AzureCliCredential), "
        "or unset it to try every credential.",
        "DefaultAzureCredential"};
  if (name == "EnvironmentCredential") {
    if (unavailable)
      return {
          "Nothing to do unless you meant to sign in as a service principal: then set "
          "AZURE_TENANT_ID, "
          "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) before the "
          "program "
          "starts; the reason names what is missing.",
          "EnvironmentCredential"};
    const bool cert = contains(m, "certificate") || contains(m, "PKCS#12") || contains(m, "PEM");
    return sts_or(r.result, cert ? "CertificateCredential" : "ClientSecretCredential",
                  "Check the service principal's tenant, client id and secret or certificate; for "
                  "network errors "
                  "check connectivity to the authority host (HTTPS_PROXY, NO_PROXY; SSL_CERT_FILE "
                  "for a private CA).");
  }
  if (name == "WorkloadIdentityCredential") {
    if (unavailable)
      return {
          "Nothing to do outside Kubernetes. In an AKS pod, label the pod's service account for "
          "workload "
          "identity so the webhook sets AZURE_CLIENT_ID, AZURE_TENANT_ID and "
          "AZURE_FEDERATED_TOKEN_FILE.",
          "WorkloadIdentityCredential"};
    return sts_or(
        r.result, "WorkloadIdentityCredential",
        "Check that the token file is readable and that the app's federated credential names this "
        "cluster's issuer and the pod's service account.");
  }
  if (name == "ManagedIdentityCredential") {
    const std::string section = "ManagedIdentityCredential";
    if (contains(m, "hasn't been assigned") || contains(m, "No identity has been assigned"))
      return {
          "The identity asked for is not on this resource. For a user-assigned identity check the "
          "client id "
          "(--managed-identity-client-id, else AZURE_CLIENT_ID, is used as one); otherwise enable "
          "the "
          "resource's system-assigned identity.",
          section};
    if (contains(m, "gateway error"))
      return {
          "A proxy or gateway sits between this machine and IMDS: exempt 169.254.169.254 from it "
          "or turn it off.",
          section};
    if (contains(m, "Multiple attempts failed"))
      return {
          "Read the failures listed in the reason; check managed identity is enabled on the "
          "resource and "
          "that IMDS answers (see the IMDS line).",
          section};
    if (contains(m, "weren't present"))
      return {
          "Nothing to do off Azure. On App Service or Functions, enable managed identity and "
          "restart the app "
          "so IDENTITY_ENDPOINT and IDENTITY_HEADER are set.",
          section};
    if (contains(m, "key file") || contains(m, "HIMDS") || contains(m, "WWW-Authenticate"))
      return {
          "Azure Arc's agent answered unexpectedly: check it with 'azcmagent show' and run as a "
          "member of the "
          "himds group.",
          section};
    if (contains(m, "thumbprint"))
      return {
          "Check that IDENTITY_SERVER_THUMBPRINT is the Service Fabric cluster's current "
          "certificate.",
          section};
    if (contains(m, "not supported"))
      return {"This source always uses the resource's own identity: drop the user-assigned id.",
              section};
    if (contains(m, "no managed identity endpoint") ||
        contains(m, "No managed identity endpoint") || contains(m, "No response received"))
      return {
          "Nothing to do off Azure. On an Azure VM or scale set, enable managed identity and check "
          "that IMDS "
          "answers (see the IMDS line); with AKS pod identity, check the pod is labelled and NMI "
          "is ready.",
          section};
    return {"Run with --log-level info to see the source chosen and each request.", section};
  }
  struct Tool {
    std::string_view credential, install, login, check;
  };
  static constexpr Tool tools[] = {
      {"AzureCliCredential", "Install the Azure CLI and put its directory on PATH.",
       "Run 'az login' (check the account with 'az account show').",
       "az account get-access-token --output json --resource <resource>"},
      {"AzurePowerShellCredential",
       "Install PowerShell 7 and put pwsh on PATH; then 'Install-Module Az.Accounts'.",
       "Run 'Connect-AzAccount' in pwsh (check the account with 'Get-AzContext').",
       "Get-AzAccessToken -ResourceUrl <resource>"},
      {"AzureDeveloperCliCredential",
       "Install the Azure Developer CLI (https://aka.ms/azure-dev) and put it on PATH.",
       "Run 'azd auth login' (check with 'azd config list').",
       "azd auth token --output json --scope <scope>"},
  };
  for (const auto& t : tools) {
    if (name != t.credential) continue;
    const std::string section(t.credential);
    // Before the "isn't installed" test below: this message says so of the module, not of pwsh.
    if (contains(m, "Az.Account module"))
      return {
          "PowerShell runs, but the Az.Accounts module is missing or older than 2.2.0: run "
          "'Install-Module Az.Accounts' (or 'Update-Module Az.Accounts') in pwsh. Nothing to do "
          "if you do not use it.",
          section};
    if (contains(m, "not installed") || contains(m, "could not be found") ||
        contains(m, "isn't installed"))
      return {std::string(t.install) + " Nothing to do if you do not use it.", section};
    if (contains(m, "az login") || contains(m, "azd auth login") ||
        contains(m, "Connect-AzAccount"))
      return {std::string(t.login), section};
    if (contains(m, "did not finish within"))
      return {"The tool hung and was stopped. Run '" + std::string(t.check) +
                  "' in a terminal to see why (its output is a live token: don't share it); raise "
                  "--process-timeout "
                  "if it is only slow.",
              section};
    if (contains(m, "Execution policy"))
      return {
          "Allow Az.Accounts to load: Set-ExecutionPolicy (for example RemoteSigned for the "
          "current user).",
          section};
    return {
        "Run '" + std::string(t.check) +
            "' in a terminal and act on its message (its output is a live token: don't share it).",
        section};
  }
  return {};
}

// --- Managed identity, IMDS and the developer tools -----------------------------------------

constexpr std::string_view source_key(azid::ManagedIdentitySource s) {
  switch (s) {
    case azid::ManagedIdentitySource::none:
      return "none";
    case azid::ManagedIdentitySource::imds:
      return "imds";
    case azid::ManagedIdentitySource::app_service:
      return "app_service";
    case azid::ManagedIdentitySource::azure_arc:
      return "azure_arc";
    case azid::ManagedIdentitySource::service_fabric:
      return "service_fabric";
    case azid::ManagedIdentitySource::cloud_shell:
      return "cloud_shell";
    case azid::ManagedIdentitySource::azure_ml:
      return "azure_ml";
    case azid::ManagedIdentitySource::workload_identity:
      return "workload_identity";
  }
  return "none";
}

struct MiInfo {
  azid::ManagedIdentitySource source = azid::ManagedIdentitySource::none;
  std::vector<std::string> variables;  // names of the source variables that are set (never values)
};

MiInfo detect_managed_identity(const azid::DefaultPlatform& platform) {
  MiInfo info;
  // The credential's own detection (no I/O at construction).
  info.source =
      azid::ManagedIdentityCredential<>(azid::ManagedIdentityCredentialOptions{}, platform)
          .source();
  namespace n = azid::names;
  for (std::string_view v :
       {n::identity_endpoint, n::identity_header, n::identity_server_thumbprint, n::imds_endpoint,
        n::msi_endpoint, n::msi_secret, n::azure_pod_identity_authority_host,
        n::azure_federated_token_file})
    if (platform.environment().get(v)) info.variables.emplace_back(v);
  return info;
}

struct ImdsProbe {
  bool probed = false;
  std::string endpoint;  // authority only
  bool answers = false;
  int status = 0;
  std::string detail;
};

// One request without the Metadata header, which IMDS answers at once with an error: any HTTP
// answer means IMDS is there. Short connect timeout, no retries, never through a proxy.
ImdsProbe probe_imds(const azid::DefaultPlatform& platform, const MiInfo& mi,
                     std::string_view scope) {
  ImdsProbe p;
  if (mi.source != azid::ManagedIdentitySource::imds) {
    p.detail =
        "not probed: the managed identity source is " + std::string(azid::to_string(mi.source));
    return p;
  }
  std::string authority(azid::names::imds_authority);
  if (auto pod = platform.environment().get(azid::names::azure_pod_identity_authority_host))
    authority = *pod;
  std::string why;
  auto normalized = azid::detail::msi::normalize_imds_authority(authority, why);
  p.probed = true;
  if (!normalized) {
    p.endpoint = azid::detail::quoted_url(authority);  // no password, signature or escape
    p.detail = why;
    return p;
  }
  p.endpoint = *normalized;
  azid::HttpRequest req;
  req.url = azid::detail::msi::imds_url(*normalized, azid::detail::msi::resource_from_scope(scope),
                                        azid::ManagedIdentityId::system_assigned());
  req.connect_timeout = std::chrono::milliseconds(1000);
  req.timeout = std::chrono::milliseconds(3000);
  req.bypass_proxy = true;
  req.max_body_bytes = 64 * 1024;
  std::error_code ec;
  const auto start = std::chrono::steady_clock::now();
  const azid::HttpResponse res = platform.transport().send(req, ec);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (ec) {
    p.detail = "no answer (" + ec.message() + ") after " + std::to_string(ms.count()) + " ms";
  } else if (azid::detail::msi::docker_unreachable(res)) {
    p.status = res.status;
    p.detail =
        "HTTP 403 'unreachable network': a local network (e.g. Docker's) answers for IMDS, not "
        "Azure";
  } else {
    p.answers = true;
    p.status = res.status;
    p.detail = "answers (HTTP " + std::to_string(res.status) + " in " + std::to_string(ms.count()) +
               " ms)";
  }
  return p;
}

struct ToolInfo {
  std::string_view command, credential;
  std::optional<std::string> path;
  std::string login;
};

std::string login_state(const MemberRun& r, bool found) {
  if (r.excluded) return "not checked (excluded)";
  if (r.result.ok()) return "signed in";
  const std::string& m = r.result.error_info().message;
  // First: the module's message also says "isn't installed", of the module rather than of pwsh.
  if (found && contains(m, "Az.Account module")) return "Az.Accounts missing";
  if (!found || contains(m, "not installed") || contains(m, "could not be found") ||
      contains(m, "isn't installed"))
    return "not installed";
  if (contains(m, "az login") || contains(m, "azd auth login") || contains(m, "Connect-AzAccount"))
    return "not signed in";
  if (contains(m, "did not finish within")) return "timed out";
  return "error (see its reason above)";
}

std::vector<ToolInfo> inspect_tools(const azid::DefaultPlatform& platform,
                                    const std::vector<MemberRun>& runs) {
  std::vector<ToolInfo> out = {{"az", "AzureCliCredential", {}, {}},
                               {"pwsh", "AzurePowerShellCredential", {}, {}},
                               {"azd", "AzureDeveloperCliCredential", {}, {}}};
  const std::string path = platform.environment().get("PATH").value_or("");
  for (auto& t : out) {
    t.path = azid::detail::find_program(t.command, path);
    for (const auto& r : runs)
      if (r.info.name == t.credential) t.login = login_state(r, t.path.has_value());
  }
  return out;
}

// --- The token's identity -----------------------------------------------------------------

struct Claims {
  std::string tenant_id, app_id, object_id, audience;
  std::optional<long long> expires_on;
};

std::optional<Claims> decode_claims(std::string_view token) {
  const auto payload = azid::detail::jwt_payload(token);
  if (!payload) return std::nullopt;
  simdjson::ondemand::parser parser;
  const simdjson::padded_string json(*payload);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object obj;
  if (parser.iterate(json).get(doc) || doc.get_object().get(obj)) return std::nullopt;
  Claims c;
  std::string appid, azp;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return std::nullopt;
    simdjson::ondemand::value value = field.value();
    auto str = [&](std::string& out) {
      std::string_view s;
      if (!value.get_string().get(s)) out.assign(s);
    };
    if (key == "tid")
      str(c.tenant_id);
    else if (key == "appid")
      str(appid);
    else if (key == "azp")
      str(azp);
    else if (key == "oid")
      str(c.object_id);
    else if (key == "aud") {
      simdjson::ondemand::json_type type;
      if (value.type().get(type)) return std::nullopt;
      if (type == simdjson::ondemand::json_type::string) {
        str(c.audience);
      } else if (type == simdjson::ondemand::json_type::array) {
        simdjson::ondemand::array arr;
        if (value.get_array().get(arr)) return std::nullopt;
        for (auto item : arr) {
          std::string_view s;
          if (!item.get_string().get(s))
            c.audience += (c.audience.empty() ? "" : " ") + std::string(s);
        }
      }
    } else if (key == "exp") {
      std::int64_t i;
      double d;
      // Only a plausible instant (up to year 9999): anything else is shown as absent, not
      // converted or subtracted out of range.
      constexpr std::int64_t latest = 253402300799;
      if (!value.get_int64().get(i)) {
        if (i >= 0 && i <= latest) c.expires_on = i;
      } else if (!value.get_double().get(d)) {
        if (d >= 0 && d <= static_cast<double>(latest)) c.expires_on = static_cast<long long>(d);
      }
    }
  }
  c.app_id = !appid.empty() ? appid : azp;
  return c;
}

std::string utc_time(long long unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return std::to_string(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// --- The report ---------------------------------------------------------------------------

struct Report {
  std::string scope;
  EnvSelection env;
  std::vector<MemberRun> runs;
  std::vector<Advice> advice;
  MiInfo mi;
  ImdsProbe imds;
  std::vector<ToolInfo> tools;
  int selected = -1;    // member whose token the chain would return
  int stopped_at = -1;  // member whose hard failure would stop the chain
  std::optional<Claims> claims;
  int exit_code = exit_unavailable;
  std::string summary;
};

void conclude(Report& rep) {
  if (!rep.env.error.empty()) {
    // `azid token` refuses this as a usage error (64); so does the doctor.
    rep.exit_code = exit_usage;
    rep.summary =
        "DefaultAzureCredential cannot be created here: AZURE_TOKEN_CREDENTIALS is invalid.";
    return;
  }
  for (std::size_t i = 0; i < rep.runs.size(); ++i) {
    const auto& r = rep.runs[i];
    if (r.excluded) continue;
    if (r.result.ok()) {
      rep.selected = static_cast<int>(i);
      rep.exit_code = exit_ok;
      rep.summary =
          "DefaultAzureCredential would get its token from " + std::string(r.info.name) + ".";
      rep.claims = decode_claims(r.result.token().token);
      return;
    }
    if (r.result.failure() == azid::Failure::invalid_argument) {
      // The request itself is wrong (scope, tenant, authority, timeout): as `azid token` does.
      rep.stopped_at = static_cast<int>(i);
      rep.exit_code = exit_usage;
      rep.summary = "The request, or " + std::string(r.info.name) +
                    "'s configuration, is invalid, so DefaultAzureCredential stops there: " +
                    r.result.error_info().message;
      return;
    }
    if (r.result.failure() != azid::Failure::unavailable) {
      rep.stopped_at = static_cast<int>(i);
      rep.exit_code = exit_auth_failed;
      rep.summary = "DefaultAzureCredential would stop at " + std::string(r.info.name) +
                    ", which failed (the members after it are not tried).";
      return;
    }
  }
  bool all_excluded = true;
  for (const auto& r : rep.runs) all_excluded = all_excluded && r.excluded;
  if (all_excluded) {  // `azid token` refuses this as a usage error; so does the doctor
    rep.exit_code = exit_usage;
    rep.summary = "Every member of the default chain is excluded (--exclude, " +
                  std::string(azid::names::azure_token_credentials) + "), so nothing is tried.";
    return;
  }
  rep.exit_code = exit_unavailable;
  rep.summary = "No credential of the default chain can get a token here.";
}

std::string q(std::string_view s) { return azid::detail::json_quote(s); }

std::string render_json(const Report& rep) {
  std::string o = "{\"scope\":" + q(rep.scope);
  o += ",\"azure_token_credentials\":" +
       (rep.env.value.empty() ? std::string("null") : q(rep.env.value));
  if (!rep.env.error.empty()) o += ",\"azure_token_credentials_error\":" + q(rep.env.error);
  o += ",\"credentials\":[";
  for (std::size_t i = 0; i < rep.runs.size(); ++i) {
    const auto& r = rep.runs[i];
    if (i) o += ",";
    o += "{\"name\":" + q(r.info.name) + ",\"kind\":" + q(r.info.kind) +
         ",\"status\":" + q(status_of(r));
    std::string reason = r.excluded
                             ? "excluded by " + r.excluded_by
                             : (r.result.ok() ? std::string() : r.result.error_info().message);
    o += ",\"reason\":" + (reason.empty() ? std::string("null") : q(reason));
    o += ",\"mitigation\":" +
         (rep.advice[i].text.empty() ? std::string("null") : q(rep.advice[i].text));
    o += ",\"section\":" +
         (rep.advice[i].section.empty() ? std::string("null") : q(rep.advice[i].section));
    o += "}";
  }
  o += "],\"managed_identity\":{\"source\":" + q(source_key(rep.mi.source)) +
       ",\"description\":" + q(azid::to_string(rep.mi.source)) + ",\"variables\":[";
  for (std::size_t i = 0; i < rep.mi.variables.size(); ++i)
    o += (i ? "," : "") + q(rep.mi.variables[i]);
  o += "]},\"imds\":{\"probed\":" + std::string(rep.imds.probed ? "true" : "false");
  o += ",\"endpoint\":" + (rep.imds.endpoint.empty() ? std::string("null") : q(rep.imds.endpoint));
  o += ",\"answers\":" + std::string(rep.imds.answers ? "true" : "false");
  o += ",\"status\":" + (rep.imds.status ? std::to_string(rep.imds.status) : std::string("null"));
  o += ",\"detail\":" + q(rep.imds.detail) + "},\"tools\":[";
  for (std::size_t i = 0; i < rep.tools.size(); ++i) {
    const auto& t = rep.tools[i];
    o += std::string(i ? "," : "") + "{\"name\":" + q(t.command) +
         ",\"credential\":" + q(t.credential) + ",\"found\":" + (t.path ? "true" : "false") +
         ",\"path\":" + (t.path ? q(*t.path) : std::string("null")) + ",\"login\":" + q(t.login) +
         "}";
  }
  o += "],\"token\":";
  if (rep.selected >= 0) {
    o += "{\"credential\":" + q(rep.runs[static_cast<std::size_t>(rep.selected)].info.name);
    if (rep.claims) {
      auto opt = [&](std::string_view k, const std::string& v) {
        o += ",\"" + std::string(k) + "\":" + (v.empty() ? std::string("null") : q(v));
      };
      opt("tenant_id", rep.claims->tenant_id);
      opt("app_id", rep.claims->app_id);
      opt("object_id", rep.claims->object_id);
      opt("audience", rep.claims->audience);
      o += ",\"expires_on\":" +
           (rep.claims->expires_on ? std::to_string(*rep.claims->expires_on) : "null");
    } else {
      o += ",\"decoded\":false";
    }
    o += "}";
  } else {
    o += "null";
  }
  o += ",\"stopped_at\":" + (rep.stopped_at >= 0
                                 ? q(rep.runs[static_cast<std::size_t>(rep.stopped_at)].info.name)
                                 : std::string("null"));
  o += ",\"exit_code\":" + std::to_string(rep.exit_code) + ",\"summary\":" + q(rep.summary) + "}\n";
  return o;
}

// The most of each kind of text the table shows. Everything in it may come from the environment
// (variables, PATH, a token's claims, messages quoting them), so all of it goes through
// printable(): no control character, escape sequence or bidi control reaches the terminal, and no
// value makes the table unbounded.
constexpr std::size_t reason_limit = 4096;  // a credential's message, advice, the summary
constexpr std::size_t value_limit = 256;    // one value: an endpoint, a claim
constexpr std::size_t path_limit = 512;     // a tool's path, the scope

std::string shown(std::string_view text, std::size_t limit) {
  std::string out = azid::detail::printable(text, limit);
  if (text.size() > limit) out += "...";
  return out;
}

// Text under a label, wrapped at about 100 columns and indented past the label; its own line
// breaks are kept, and each line is made printable.
void put_block(std::string& o, std::string_view label, std::string_view raw) {
  const std::string text = printable_text(raw, reason_limit);
  constexpr std::size_t width = 100;
  const std::string indent(6 + label.size(), ' ');
  std::string line = "      " + std::string(label);
  bool fresh = true;  // nothing written on this line after the indent yet
  auto flush = [&] {
    o += line;
    o += "\n";
    line = indent;
    fresh = true;
  };
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '\n') {
      flush();
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\n') ++j;
    const std::string_view word = std::string_view(text).substr(i, j - i);
    if (!fresh && line.size() + 1 + word.size() > width) flush();
    if (!fresh) line += ' ';
    line += word;
    fresh = false;
    i = (j < text.size() && text[j] == ' ') ? j + 1 : j;
  }
  flush();
}

std::string pad(std::string_view s, std::size_t width) {
  std::string out(s);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

std::string render_table(const Report& rep) {
  std::string o =
      "azid doctor: DefaultAzureCredential, scope " + shown(rep.scope, path_limit) + "\n";
  // The variable as the environment holds it, but never a control character for the terminal.
  if (!rep.env.value.empty())
    o += "AZURE_TOKEN_CREDENTIALS=" + shown(rep.env.value, value_limit) + "\n";
  if (!rep.env.error.empty()) o += "  " + shown(rep.env.error, reason_limit) + "\n";
  o += "\n  #  " + pad("credential", 30) + "status\n";
  for (std::size_t i = 0; i < rep.runs.size(); ++i) {
    const auto& r = rep.runs[i];
    o += "  " + std::to_string(i + 1) + "  " + pad(r.info.name, 30) + std::string(status_of(r));
    if (static_cast<int>(i) == rep.selected) o += "  <- the chain's token";
    if (static_cast<int>(i) == rep.stopped_at) o += "  <- the chain stops here";
    o += "\n";
    if (r.excluded)
      put_block(o, "why: ", "excluded by " + r.excluded_by);
    else if (!r.result.ok())
      put_block(o, "why: ", r.result.error_info().message);
    if (!rep.advice[i].text.empty()) {
      put_block(o, "fix: ", rep.advice[i].text);
      o += "      see: the azid troubleshooting guide (README), section \"" +
           shown(rep.advice[i].section, value_limit) + "\"\n";
    }
  }
  o += "\nManaged identity source: " + std::string(azid::to_string(rep.mi.source));
  if (!rep.mi.variables.empty()) {
    o += " (set: ";
    for (std::size_t i = 0; i < rep.mi.variables.size(); ++i)
      o += (i ? ", " : "") + rep.mi.variables[i];
    o += ")";
  }
  o += "\nIMDS: ";
  o += rep.imds.probed
           ? shown(rep.imds.endpoint, value_limit) + " " + shown(rep.imds.detail, reason_limit)
           : shown(rep.imds.detail, reason_limit);
  o += "\n\nDeveloper tools:\n";
  for (const auto& t : rep.tools) {
    o += "  " + pad(t.command, 6) + pad(t.path ? shown(*t.path, path_limit) : "not on PATH", 44) +
         " " + shown(t.login, value_limit) + "\n";
  }
  o += "\nToken: ";
  if (rep.selected < 0) {
    o += "none\n";
  } else {
    o += "from " + std::string(rep.runs[static_cast<std::size_t>(rep.selected)].info.name) +
         " (not shown)\n";
    if (!rep.claims) {
      o += "  (not a JWT: no claims to show)\n";
    } else {
      auto line = [&](std::string_view label, const std::string& v) {
        o += "  " + pad(label, 11) + (v.empty() ? "-" : shown(v, value_limit)) + "\n";
      };
      line("tenant", rep.claims->tenant_id);
      line("app id", rep.claims->app_id);
      line("object id", rep.claims->object_id);
      line("audience", rep.claims->audience);
      if (rep.claims->expires_on) {
        const long long left =
            *rep.claims->expires_on - std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count();
        line("expires",
             utc_time(*rep.claims->expires_on) + " (in " + std::to_string(left / 60) + " min)");
      } else {
        line("expires", "");
      }
    }
  }
  o += "\nResult: " + shown(rep.summary, reason_limit) + " (exit " + std::to_string(rep.exit_code) +
       ")\n";
  return o;
}

}  // namespace

int cmd_doctor(int argc, char** argv) {
  const std::vector<std::string_view> valued = {"scope",           "exclude",
                                                "tenant",          "managed-identity-client-id",
                                                "authority-host",  "additionally-allowed-tenant",
                                                "process-timeout", "log-level"};
  if (wants_help(argc, argv, 2, valued)) return finish_stdout(std::string(doctor_usage), exit_ok);
  const Args a = parse_args(argc, argv, 2, valued, {"json"});
  Report rep;
  rep.scope = a.one("scope").value_or(std::string(default_scope));
  azid::TokenRequestContext ctx;
  ctx.scopes = {rep.scope};
  if (auto t = a.one("tenant")) ctx.tenant_id = *t;
  const std::uint32_t excluded = parse_excludes(a.many("exclude"));
  const ChainSettings settings = chain_settings(a);
  const azid::DefaultPlatform platform = make_platform(a);

  rep.env = token_credentials_from_env();
  rep.mi = detect_managed_identity(platform);
  // The IMDS probe runs while the members do.
  auto imds =
      std::async(std::launch::async, [&] { return probe_imds(platform, rep.mi, rep.scope); });
  rep.runs = run_members(settings, platform, ctx, excluded, rep.env);
  rep.imds = imds.get();
  for (const auto& r : rep.runs) rep.advice.push_back(advice_for(r));
  rep.tools = inspect_tools(platform, rep.runs);
  conclude(rep);

  const std::string out = a.flag("json") ? render_json(rep) : render_table(rep);
  return finish_stdout(out, rep.exit_code);
}

}  // namespace azid_cli
