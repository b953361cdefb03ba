// azid: get a Microsoft Entra ID access token from the command line, as JSON.
//
//   azid token --scope SCOPE [--scope SCOPE]... [--credential KIND] [options]
//   azid doctor [--scope SCOPE] [--json] [--exclude KIND]... [options]
//
// Exit codes (a stable contract for scripts): 0 token printed; 1 authentication failed
// (ClientAuthenticationError); 2 no credential could run here (CredentialUnavailableError);
// 64 usage error; 70 internal error; 74 the result could not be written.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "azid/any_credential.hpp"
#include "azid/core/errors.hpp"
#include "azid/credentials/azure_cli.hpp"
#include "azid/credentials/azure_developer_cli.hpp"
#include "azid/credentials/azure_powershell.hpp"
#include "azid/credentials/azure_pipelines.hpp"
#include "azid/credentials/certificate.hpp"
#include "azid/credentials/client_secret.hpp"
#include "azid/credentials/environment.hpp"
#include "azid/credentials/workload_identity.hpp"
#include "azid/credentials/managed_identity.hpp"
#include "azid/detail/names.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/platform/default_platform.hpp"
#include "azid/platform/process_runner.hpp"
#include "cli.hpp"
#include "default_chain.hpp"
#include "doctor.hpp"

namespace {

using namespace azid_cli;

// The most of an error message printed to stderr (the library's chain messages list every
// member's reason, so they can be long; an environment value must not make them unbounded).
constexpr std::size_t message_limit = 4096;

constexpr std::string_view usage_text =
    R"(usage: azid token --scope SCOPE [--scope SCOPE]... [--credential KIND] [--tenant TENANT]
         [--client-id ID] [--tenant-id ID] [--client-secret SECRET] [--certificate PATH]
         [--certificate-password PW] [--send-certificate-chain] [--token-file PATH]
         [--managed-identity-client-id ID | --managed-identity-object-id ID | --managed-identity-resource-id ID]
         [--service-connection-id ID] [--system-access-token TOKEN]
         [--additionally-allowed-tenant T]... [--exclude KIND]... [--authority-host URL]
         [--subscription NAME] [--process-timeout SECONDS] [--log-level debug|info|warning|error]
       azid doctor [--scope SCOPE] [--json] [--exclude KIND]... [--tenant TENANT]
         [--managed-identity-client-id ID] [--authority-host URL] [--additionally-allowed-tenant T]...
         [--process-timeout SECONDS] [--log-level debug|info|warning|error]
       azid version

KIND: default | environment | workload-identity | managed-identity | azure-cli |
      azure-developer-cli | azure-powershell | client-secret | certificate | azure-pipelines

--credential default (the default) is DefaultAzureCredential: environment, workload-identity,
managed-identity, azure-cli, azure-powershell, azure-developer-cli, in that order; --exclude KIND
leaves members out (so does AZURE_TOKEN_CREDENTIALS=dev|prod|<credential name>).
`azid doctor` runs each of them on its own and says what works here, what does not and why
(`azid doctor --help`).

Prints {"token_type":"Bearer","access_token":"...","expires_on":<unix seconds>,"credential":"<name>"}.
Options not given come from the standard variables (AZURE_TENANT_ID, AZURE_CLIENT_ID,
AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST, ...). Prefer AZURE_CLIENT_SECRET to --client-secret,
AZURE_CLIENT_CERTIFICATE_PASSWORD to --certificate-password and SYSTEM_ACCESSTOKEN to
--system-access-token: command lines are visible to other users of the machine.
Exit codes: 0 success, 1 authentication failed, 2 credential unavailable, 64 usage error,
70 internal error, 74 the result could not be written.
(doctor: 0 a token could be had, 1 the chain stops at a failure, 2 none could be had.)
)";

const std::vector<std::string_view> kinds = {
    "default",     "environment",         "workload-identity", "managed-identity",
    "azure-cli",   "azure-developer-cli", "azure-powershell",  "client-secret",
    "certificate", "azure-pipelines"};

const std::vector<std::string_view> token_valued = {"scope",
                                                    "credential",
                                                    "tenant",
                                                    "client-id",
                                                    "tenant-id",
                                                    "client-secret",
                                                    "certificate",
                                                    "certificate-password",
                                                    "token-file",
                                                    "managed-identity-client-id",
                                                    "managed-identity-object-id",
                                                    "managed-identity-resource-id",
                                                    "service-connection-id",
                                                    "system-access-token",
                                                    "additionally-allowed-tenant",
                                                    "exclude",
                                                    "authority-host",
                                                    "subscription",
                                                    "log-level",
                                                    "process-timeout"};

// The options every --credential KIND takes.
constexpr std::string_view common_options[] = {"scope", "credential", "tenant", "log-level"};

// The options each --credential KIND uses, besides those every kind takes (--scope, --credential,
// --tenant, --log-level). Any other option given is refused: silently ignoring it would hand out
// a token for something other than what was asked (the system-assigned identity for
// `--credential managed-identity --client-id X`).
struct KindOptions {
  std::string_view kind;
  std::vector<std::string_view> options;
};
const std::vector<KindOptions>& kind_options() {
  static const std::vector<KindOptions> table = {
      {"default",
       {"exclude", "process-timeout", "managed-identity-client-id", "authority-host",
        "additionally-allowed-tenant"}},
      {"environment", {"authority-host", "additionally-allowed-tenant"}},
      {"workload-identity",
       {"tenant-id", "client-id", "token-file", "authority-host", "additionally-allowed-tenant"}},
      {"managed-identity",
       {"managed-identity-client-id", "managed-identity-object-id",
        "managed-identity-resource-id"}},
      {"azure-cli",
       {"tenant-id", "additionally-allowed-tenant", "subscription", "process-timeout"}},
      {"azure-developer-cli", {"tenant-id", "additionally-allowed-tenant", "process-timeout"}},
      {"azure-powershell", {"tenant-id", "additionally-allowed-tenant", "process-timeout"}},
      {"client-secret",
       {"tenant-id", "client-id", "client-secret", "authority-host",
        "additionally-allowed-tenant"}},
      {"certificate",
       {"tenant-id", "client-id", "certificate", "certificate-password", "send-certificate-chain",
        "authority-host", "additionally-allowed-tenant"}},
      {"azure-pipelines",
       {"tenant-id", "client-id", "service-connection-id", "system-access-token", "authority-host",
        "additionally-allowed-tenant"}},
  };
  return table;
}

// Refuses the first option given that `kind` does not use. The message names the option and the
// kinds that do use it, never its value (which may be a secret).
void refuse_unused_options(std::string_view kind, const Args& a) {
  const auto& table = kind_options();
  const KindOptions* mine = nullptr;
  for (const auto& k : table)
    if (k.kind == kind) mine = &k;
  if (mine == nullptr) return;
  std::vector<std::string_view> all = token_valued;
  all.emplace_back("send-certificate-chain");
  for (std::string_view name : all) {
    if (!a.has(name)) continue;
    bool used = false;
    for (std::string_view o : common_options) used |= (o == name);
    for (std::string_view o : mine->options) used |= (o == name);
    if (used) continue;
    std::string msg =
        "--" + std::string(name) + " is not used by --credential " + std::string(kind);
    if (kind == "default") {
      msg +=
          ", which reads the AZURE_* variables as an application would: set those, or choose "
          "the credential with --credential KIND";
    } else if (kind == "managed-identity" && name == "client-id") {
      msg += ": for a user-assigned identity, give --managed-identity-client-id";
    } else {
      std::string users;
      for (const auto& k : table)
        for (std::string_view o : k.options)
          if (o == name) users += (users.empty() ? "" : ", ") + std::string(k.kind);
      msg += " (it applies to --credential " + users + ")";
    }
    throw UsageError(msg);
  }
}

azid::AnyCredential make_credential(std::string_view kind, const Args& a,
                                    const azid::DefaultPlatform& platform) {
  azid::EntraCredentialOptions entra;
  if (auto h = a.one("authority-host")) entra.authority_host = *h;
  entra.additionally_allowed_tenants = a.many("additionally-allowed-tenant");
  if (kind == "client-secret") {
    const std::string tenant = from_option_or_env(a, "tenant-id", azid::names::azure_tenant_id);
    const std::string client = from_option_or_env(a, "client-id", azid::names::azure_client_id);
    const std::string secret =
        from_option_or_env(a, "client-secret", azid::names::azure_client_secret);
    if (tenant.empty()) throw UsageError("client-secret needs --tenant-id or AZURE_TENANT_ID");
    if (client.empty()) throw UsageError("client-secret needs --client-id or AZURE_CLIENT_ID");
    if (secret.empty())
      throw UsageError("client-secret needs AZURE_CLIENT_SECRET (or --client-secret)");
    return azid::AnyCredential::make<azid::ClientSecretCredential<>>(tenant, client, secret, entra,
                                                                     platform);
  }
  if (kind == "azure-cli" || kind == "azure-developer-cli" || kind == "azure-powershell") {
    // The developer tools pick their own tenant unless told: --tenant (the request's tenant,
    // already in ctx) or --tenant-id (the credential's); AZURE_TENANT_ID is not read here.
    azid::DeveloperToolOptions tool;
    if (auto t = a.one("tenant-id")) tool.tenant_id = *t;
    tool.additionally_allowed_tenants = entra.additionally_allowed_tenants;
    if (auto t = process_timeout_option(a)) tool.process_timeout = *t;
    if (kind == "azure-cli") {
      azid::AzureCliCredentialOptions cli;
      cli.tenant_id = tool.tenant_id;
      cli.additionally_allowed_tenants = tool.additionally_allowed_tenants;
      cli.process_timeout = tool.process_timeout;
      if (auto s = a.one("subscription")) cli.subscription = *s;
      return azid::AnyCredential::make<azid::AzureCliCredential<>>(cli, platform);
    }
    if (kind == "azure-developer-cli")
      return azid::AnyCredential::make<azid::AzureDeveloperCliCredential<>>(tool, platform);
    return azid::AnyCredential::make<azid::AzurePowerShellCredential<>>(tool, platform);
  }
  if (kind == "managed-identity") {
    azid::ManagedIdentityCredentialOptions mi;
    const auto cid = a.one("managed-identity-client-id");
    const auto oid = a.one("managed-identity-object-id");
    const auto rid = a.one("managed-identity-resource-id");
    if (int(cid.has_value()) + int(oid.has_value()) + int(rid.has_value()) > 1)
      throw UsageError(
          "--managed-identity-client-id, --managed-identity-object-id and "
          "--managed-identity-resource-id "
          "are mutually exclusive");
    mi.client_id = cid.value_or("");
    mi.object_id = oid.value_or("");
    mi.resource_id = rid.value_or("");
    return azid::AnyCredential::make<azid::ManagedIdentityCredential<>>(std::move(mi), platform);
  }
  if (kind == "certificate") {
    azid::CertificateCredentialOptions cert;
    static_cast<azid::EntraCredentialOptions&>(cert) = entra;
    const std::string tenant = from_option_or_env(a, "tenant-id", azid::names::azure_tenant_id);
    const std::string client = from_option_or_env(a, "client-id", azid::names::azure_client_id);
    const std::string path =
        from_option_or_env(a, "certificate", azid::names::azure_client_certificate_path);
    cert.password = from_option_or_env(a, "certificate-password",
                                       azid::names::azure_client_certificate_password);
    cert.send_certificate_chain =
        a.flag("send-certificate-chain") || azid::detail::env_flag(azid::ProcessEnvironment{}.get(
                                                azid::names::azure_client_send_certificate_chain));
    if (tenant.empty()) throw UsageError("certificate needs --tenant-id or AZURE_TENANT_ID");
    if (client.empty()) throw UsageError("certificate needs --client-id or AZURE_CLIENT_ID");
    if (path.empty())
      throw UsageError("certificate needs --certificate or AZURE_CLIENT_CERTIFICATE_PATH");
    return azid::AnyCredential::make<azid::CertificateCredential<>>(tenant, client, path,
                                                                    std::move(cert), platform);
  }
  if (kind == "environment")
    return azid::AnyCredential::make<azid::EnvironmentCredential<>>(entra, platform);
  if (kind == "workload-identity") {
    // Options given here win; the rest comes from the variables the webhook injects.
    azid::WorkloadIdentityCredentialOptions wi;
    static_cast<azid::EntraCredentialOptions&>(wi) = entra;
    wi.tenant_id = a.one("tenant-id").value_or("");
    wi.client_id = a.one("client-id").value_or("");
    wi.token_file_path = a.one("token-file").value_or("");
    return azid::AnyCredential::make<azid::WorkloadIdentityCredential<>>(std::move(wi), platform);
  }
  if (kind == "azure-pipelines") {
    const std::string tenant = from_option_or_env(a, "tenant-id", azid::names::azure_tenant_id);
    const std::string client = from_option_or_env(a, "client-id", azid::names::azure_client_id);
    const std::string connection = a.one("service-connection-id").value_or("");
    // $(System.AccessToken) is mapped into SYSTEM_ACCESSTOKEN by the pipeline; prefer it to the
    // option, which other users of the agent could read from the process list.
    const std::string token =
        from_option_or_env(a, "system-access-token", azid::names::system_accesstoken);
    if (tenant.empty()) throw UsageError("azure-pipelines needs --tenant-id or AZURE_TENANT_ID");
    if (client.empty()) throw UsageError("azure-pipelines needs --client-id or AZURE_CLIENT_ID");
    if (connection.empty()) throw UsageError("azure-pipelines needs --service-connection-id");
    if (token.empty())
      throw UsageError("azure-pipelines needs SYSTEM_ACCESSTOKEN (or --system-access-token)");
    return azid::AnyCredential::make<azid::AzurePipelinesCredential<>>(tenant, client, connection,
                                                                       token, entra, platform);
  }
  throw UsageError(
      "--credential " + std::string(kind) +
      " is not available in this build of azid yet; available: client-secret, azure-cli, "
      "azure-developer-cli, azure-powershell, managed-identity, certificate, environment, "
      "workload-identity, azure-pipelines");
}

int cmd_token(const Args& a) {
  azid::TokenRequestContext ctx;
  ctx.scopes = a.many("scope");
  if (ctx.scopes.empty()) throw UsageError("at least one --scope is required");
  if (auto t = a.one("tenant")) ctx.tenant_id = *t;

  const std::string kind = a.one("credential").value_or("default");
  bool known = false;
  for (auto k : kinds) known |= (k == kind);
  if (!known) throw UsageError("unknown --credential '" + kind + "'");
  // DefaultAzureCredential takes its settings from the environment, as in an application, and
  // each other kind uses only its own options: an option it would ignore is refused rather than
  // silently dropped.
  refuse_unused_options(kind, a);
  const std::uint32_t excluded = parse_excludes(a.many("exclude"));

  const azid::DefaultPlatform platform = make_platform(a);
  std::string credential;
  azid::AccessToken token;
  if (kind == "default") {
    token = default_chain_token(chain_settings(a), platform, ctx, excluded, credential).value();
  } else {
    azid::AnyCredential cred = make_credential(kind, a, platform);
    token = cred.get_token(ctx);
    credential = cred.name();
  }
  std::string out = "{\"token_type\":" + azid::detail::json_quote(token.token_type) +
                    ",\"access_token\":" + azid::detail::json_quote(token.token) +
                    ",\"expires_on\":" + std::to_string(token.expires_on_unix()) +
                    ",\"credential\":" + azid::detail::json_quote(credential) + "}\n";
  return finish_stdout(out, exit_ok);
}

Args parse_token_args(int argc, char** argv) {
  return parse_args(argc, argv, 2, token_valued, {"send-certificate-chain"});
}

// Opens /dev/null on each of descriptors 0, 1 and 2 that is closed. Otherwise the next file or
// socket the tool opens takes that number, and what is meant for stdout (the token) or stderr
// (log lines) goes into it: onto the connection to the token endpoint, in clear text.
// `stdout_closed` tells whether 1 was closed. Returns false when /dev/null could not be opened.
bool reopen_closed_standard_fds(bool& stdout_closed) {
  stdout_closed = false;
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    if (fd == 1) stdout_closed = true;
    // The lowest free number, so `fd` itself (those below it are open by now); dup2 in case not.
    const int opened = ::open("/dev/null", O_RDWR);
    if (opened < 0) return false;
    if (opened != fd) {
      const bool moved = ::dup2(opened, fd) == fd;
      ::close(opened);
      if (!moved) return false;
    }
  }
  return true;
}

// SIGINT, SIGTERM, SIGHUP or SIGQUIT: az, azd or pwsh runs in a process group of its own (so a Ctrl-C at the
// terminal does not reach it) and would outlive azid. Kill every tool running now, then die of the
// signal as without this handler, so the caller sees the usual status. Async-signal-safe only.
void stop_tools_and_reraise(int sig) {
  azid::kill_running_tools(SIGKILL);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  // Pending until the handler returns (sa_mask blocks it meanwhile), then the default action.
  ::raise(sig);
}

void install_interrupt_handlers() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
    struct sigaction old {};
    // A signal ignored on entry (nohup, a background job of a non-interactive shell) stays so.
    if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = stop_tools_and_reraise;
    sigfillset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
  }
}

// The commands whose result goes to standard output.
bool prints_result(std::string_view cmd) {
  return cmd == "token" || cmd == "doctor" || cmd == "version" || cmd == "help" ||
         cmd == "--help" || cmd == "-h";
}

}  // namespace

int main(int argc, char** argv) {
  // First of all, before anything opens a file or a socket (OpenSSL reads its configuration).
  bool stdout_closed = false;
  if (!reopen_closed_standard_fds(stdout_closed)) {
    std::fprintf(stderr, "azid: a standard descriptor is closed and /dev/null cannot be opened\n");
    return exit_io;
  }
  // With standard output closed there is nowhere for a result to go: say so before any network
  // I/O, as when the output cannot be written.
  if (stdout_closed && argc >= 2 && prints_result(argv[1])) {
    std::fprintf(stderr, "azid: could not write the result to standard output: %s\n",
                 std::strerror(EBADF));
    return exit_io;
  }
  // A reader that went away (`azid token ... | head -c0`) must give exit 74 with a message, not a
  // silent death by SIGPIPE. Children (az, pwsh) get default dispositions back at spawn.
  std::signal(SIGPIPE, SIG_IGN);
  // Before any tool can be started (by any thread).
  install_interrupt_handlers();
  // azid reports TLS failures through its own error codes and never formats OpenSSL's error
  // strings, so this process does not load them (about 5 % of a one-token run's instructions).
  // Only the strings are skipped: openssl.cnf (system crypto policy) is still read.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, nullptr);
  OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_SSL_STRINGS, nullptr);
  if (argc < 2) {
    std::fputs(usage_text.data(), stderr);
    return exit_usage;
  }
  const std::string_view cmd = argv[1];
  try {
    if (cmd == "--help" || cmd == "-h" || cmd == "help")
      return finish_stdout(std::string(usage_text), exit_ok);
    if (cmd == "version") {
      if (argc > 2) throw UsageError("azid version takes no arguments");
      return finish_stdout("azid " AZID_VERSION_STRING "\n", exit_ok);
    }
    if (cmd == "token") {
      if (wants_help(argc, argv, 2, token_valued))
        return finish_stdout(std::string(usage_text), exit_ok);
      return cmd_token(parse_token_args(argc, argv));
    }
    if (cmd == "doctor") return cmd_doctor(argc, argv);
    throw UsageError("unknown command '" + std::string(cmd) + "'");
  } catch (const UsageError& e) {
    // Messages may quote the environment or the command line: nothing in them may drive the
    // terminal or forge a line, and none may be unbounded. Only the credentials' messages keep
    // their line breaks (a chain lists one member's reason a line); each line is still made
    // printable.
    std::fprintf(stderr, "azid: %s\n\n%s", azid::detail::printable(e.what(), message_limit).c_str(),
                 usage_text.data());
    return exit_usage;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "azid: %s\n", azid::detail::printable(e.what(), message_limit).c_str());
    return exit_usage;
  } catch (const azid::CredentialUnavailableError& e) {
    std::fprintf(stderr, "%s\n", printable_text(e.what(), message_limit).c_str());
    return exit_unavailable;
  } catch (const azid::ClientAuthenticationError& e) {
    std::fprintf(stderr, "%s\n", printable_text(e.what(), message_limit).c_str());
    return exit_auth_failed;
  } catch (const std::bad_alloc&) {
    // Formatting a message could need memory too: a fixed text.
    std::fputs("azid: internal error: out of memory\n", stderr);
    return exit_software;
  } catch (const std::exception& e) {
    // Not an authentication failure (1): something in the tool or the system went wrong.
    std::fprintf(stderr, "azid: internal error: %s\n",
                 azid::detail::printable(e.what(), message_limit).c_str());
    return exit_software;
  } catch (...) {
    std::fputs("azid: internal error\n", stderr);
    return exit_software;
  }
}
