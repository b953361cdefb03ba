// `azid doctor` and `azid token --credential default [--exclude KIND...]`, end to end: the real
// `azid` binary runs as a child process under `env -i` (so nothing leaks in from the test's own
// environment), with the emulator standing in for Entra ID and every managed identity source,
// stand-in az / azd / pwsh scripts on a temporary PATH and HOME, and IMDS always pointed at the
// emulator or a closed loopback port (never 169.254.169.254).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "azid/detail/base64.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/platform/process_runner.hpp"
#include "emulator.hpp"
#include "fake_tools/fake_tools.hpp"

namespace emu = azid_emulator;
using azid_test::sh_quote;
using azid_test::ToolDir;
using namespace std::chrono;

#if !defined(AZID_CLI_PATH)

TEST_SUITE("cli_doctor") {
  TEST_CASE("the azid tool is not part of this build") {
    MESSAGE(
        "skipped: configure with -DAZID_BUILD_EXAMPLES=ON to build `azid` and test `azid doctor`");
  }
}

#else

namespace {

constexpr std::string_view token_path = "/metadata/identity/oauth2/token";
constexpr std::string_view mi_tenant = "4d1d2c1e-0000-4000-8000-00000000a11d";  // the emulator's
constexpr std::string_view tenant = "6f0b2a9c-1d2e-4f30-9a41-5b6c7d8e9f01";
constexpr std::string_view client = "3c2b1a09-8f7e-4d6c-9b5a-493827160504";
constexpr std::string_view secret = "doctor-test-client-secret-Zq7";

struct Result {
  int exit = -1;
  std::string out, err;
  int signal = 0;  ///< the signal that ended the tool, 0 when it exited
  [[nodiscard]] std::string all() const { return out + err; }
};

bool has(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// A port nothing listens on: an emulator's, after it has gone.
std::uint16_t closed_port() {
  emu::Options o;
  o.tls = false;
  emu::Emulator e(o);
  return e.port();
}

/// The child's whole environment: PATH and HOME are a fresh directory (where fake tools go),
/// IMDS is a closed loopback port unless a test says otherwise.
class Sandbox {
 public:
  Sandbox() {
    set("PATH", tools.path());
    set("HOME", tools.path());
    set("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:" + std::to_string(closed_port()));
  }
  void set(const std::string& k, const std::string& v) { env_[k] = v; }
  void unset(const std::string& k) { env_.erase(k); }

  Result run(std::initializer_list<std::string> args) const {
    return run_vec(std::vector<std::string>(args));
  }
  Result doctor_json(std::initializer_list<std::string> extra = {}) const {
    std::vector<std::string> v = {"doctor", "--json"};
    v.insert(v.end(), extra.begin(), extra.end());
    return run_vec(v);
  }
  /// The tool with its standard output on /dev/full (every write fails with ENOSPC).
  Result run_to_full_device(const std::vector<std::string>& args) const {
    return run_vec(args, true);
  }
  /// The tool writing into a pipe whose reader has gone; its exit code comes back on stderr as
  /// "rc=N" (the pipeline's own status is the reader's).
  Result run_to_closed_pipe(const std::vector<std::string>& args) const {
    Result r = run_vec(args, false, true);
    const auto at = r.err.rfind("rc=");
    r.exit = at == std::string::npos ? -1 : std::atoi(r.err.c_str() + at + 3);
    return r;
  }
  /// The tool run by `/bin/sh -c script` (which runs it as "$@"): redirections such as `>&-`.
  Result run_in_shell(const std::string& script, const std::vector<std::string>& args) const {
    return run_vec(args, false, false, script);
  }
  Result run_vec(const std::vector<std::string>& args, bool to_full_device = false,
                 bool to_closed_pipe = false, const std::string& shell = {}) const {
    std::error_code ec;
    azid::ProcessResult r =
        azid::PosixProcessRunner{}.run(spec(args, to_full_device, to_closed_pipe, shell), ec);
    REQUIRE_MESSAGE(!ec, ec.message());
    return {r.exit_code, std::move(r.out), std::move(r.err), r.term_signal};
  }
  /// What run_vec runs.
  azid::ProcessSpec spec(const std::vector<std::string>& args, bool to_full_device = false,
                         bool to_closed_pipe = false, const std::string& shell = {}) const {
    azid::ProcessSpec spec;
    if (!shell.empty()) spec.argv = {"/bin/sh", "-c", shell, "sh"};
    if (to_full_device) spec.argv = {"/bin/sh", "-c", "exec \"$@\" > /dev/full", "sh"};
    // The reader closes its end at once; the tool starts 0.3 s later, so it always writes to a
    // pipe nobody reads.
    if (to_closed_pipe)
      spec.argv = {"/bin/sh", "-c", "{ sleep 0.3; \"$@\"; echo \"rc=$?\" >&2; } | { exec 0<&-; }",
                   "sh"};
    for (const char* a : {"/usr/bin/env", "-i"}) spec.argv.emplace_back(a);
    for (const auto& [k, v] : env_) spec.argv.push_back(k + "=" + v);
    for (const char* k : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"})
      if (const char* v = std::getenv(k)) spec.argv.push_back(std::string(k) + "=" + v);
    spec.argv.emplace_back(AZID_CLI_PATH);
    for (const auto& a : args) spec.argv.push_back(a);
    spec.timeout = seconds(90);
    return spec;
  }

  ToolDir tools;

 private:
  std::map<std::string, std::string> env_;
};

// --- Reading the doctor's JSON (flat enough for string search per credential object) ---------

/// The JSON object of one credential in "credentials", as text.
std::string credential_entry(const std::string& json, std::string_view name) {
  const auto at = json.find("{\"name\":\"" + std::string(name) + "\"");
  if (at == std::string::npos) return {};
  return json.substr(at, json.find('}', at) - at + 1);
}
std::optional<std::string> field(const std::string& object, std::string_view key) {
  return azid::detail::json_string_member(object, key);
}
std::string status(const std::string& json, std::string_view name) {
  return field(credential_entry(json, name), "status").value_or("<absent>");
}
/// A top-level object member ("managed_identity", "imds", "token") as text.
std::string object_member(const std::string& json, std::string_view key) {
  const auto at = json.find("\"" + std::string(key) + "\":{");
  if (at == std::string::npos) return {};
  const auto open = json.find('{', at);
  int depth = 0;
  for (std::size_t i = open; i < json.size(); ++i) {
    if (json[i] == '{') ++depth;
    if (json[i] == '}' && --depth == 0) return json.substr(open, i - open + 1);
  }
  return {};
}
std::string tool_entry(const std::string& json, std::string_view name) {
  const auto at = json.find("{\"name\":\"" + std::string(name) + "\",\"credential\"");
  if (at == std::string::npos) return {};
  return json.substr(at, json.find('}', at) - at + 1);
}

/// No JWT and none of the given secrets anywhere in what the tool printed.
void check_no_secrets(const Result& r, std::initializer_list<std::string_view> secrets) {
  CHECK_FALSE(has(r.all(), "eyJ"));  // every JWT starts so: {"
  for (auto s : secrets) CHECK_FALSE(has(r.all(), s));
}

emu::Options plain(emu::MetadataHost host = emu::MetadataHost::imds) {
  emu::Options o;
  o.tls = false;
  o.metadata_host = host;
  return o;
}

// A service principal in the environment, against a TLS emulator.
void service_principal(Sandbox& s, const emu::Emulator& e, std::string_view the_secret = secret) {
  s.set("SSL_CERT_FILE", e.ca_file());
  s.set("AZURE_AUTHORITY_HOST", e.authority_host());
  s.set("AZURE_TENANT_ID", std::string(tenant));
  s.set("AZURE_CLIENT_ID", std::string(client));
  s.set("AZURE_CLIENT_SECRET", std::string(the_secret));
}

// `az` printing a token the emulator minted (so its claims are real), and recording its runs.
void az_signed_in(const Sandbox& s, const emu::Emulator& e) {
  const std::string jwt = e.issue_token(tenant, "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                                        "https://management.azure.com", seconds(3600));
  const long long exp =
      duration_cast<seconds>(system_clock::now().time_since_epoch()).count() + 3600;
  s.tools.script("az", s.tools.record() + "printf '%s' " +
                           sh_quote(R"({"accessToken": ")" + jwt + R"(", "expires_on": )" +
                                    std::to_string(exp) + R"(, "tenant": ")" + std::string(tenant) +
                                    R"(", "tokenType": "Bearer"})"));
}

}  // namespace

TEST_SUITE("cli_doctor") {
  TEST_CASE(
      "nothing configured: every credential unavailable, each with a fix and its section; exit 2") {
    Sandbox s;
    Result r = s.run({"doctor"});
    CHECK(r.exit == 2);
    for (std::string_view name :
         {"EnvironmentCredential", "WorkloadIdentityCredential", "ManagedIdentityCredential",
          "AzureCliCredential", "AzurePowerShellCredential", "AzureDeveloperCliCredential"})
      CHECK(has(r.out, name));
    CHECK(has(r.out, "section \"EnvironmentCredential\""));
    CHECK(has(r.out, "section \"AzureCliCredential\""));
    CHECK(has(r.out, "Managed identity source: Azure Instance Metadata Service (IMDS)"));
    CHECK(has(r.out, "no answer"));
    CHECK(has(r.out, "Token: none"));
    CHECK(has(r.out, "(exit 2)"));

    Result j = s.doctor_json();
    CHECK(j.exit == 2);
    for (std::string_view name :
         {"EnvironmentCredential", "WorkloadIdentityCredential", "ManagedIdentityCredential",
          "AzureCliCredential", "AzurePowerShellCredential", "AzureDeveloperCliCredential"}) {
      CAPTURE(name);
      CHECK(status(j.out, name) == "unavailable");
      CHECK(field(credential_entry(j.out, name), "section") == std::string(name));
    }
    CHECK(has(j.out, "\"token\":null"));
    CHECK(has(j.out, "\"exit_code\":2"));
    const std::string imds = object_member(j.out, "imds");
    CHECK(has(imds, "\"probed\":true"));
    CHECK(has(imds, "\"answers\":false"));
    CHECK(has(tool_entry(j.out, "az"), "\"found\":false"));
    CHECK(field(tool_entry(j.out, "az"), "login") == "not installed");
  }

  TEST_CASE("environment half set: EnvironmentCredential names what is missing") {
    Sandbox s;
    s.set("AZURE_TENANT_ID", std::string(tenant));
    s.set("AZURE_CLIENT_ID", std::string(client));
    Result j = s.doctor_json();
    CHECK(j.exit == 2);
    const std::string env = credential_entry(j.out, "EnvironmentCredential");
    CHECK(field(env, "status") == "unavailable");
    const std::string reason = field(env, "reason").value_or("");
    CHECK(has(reason, "not fully configured"));
    CHECK(has(reason, "AZURE_CLIENT_SECRET"));
    CHECK(has(field(env, "mitigation").value_or(""), "AZURE_CLIENT_SECRET"));
    // The workload identity half: client and tenant but no token file.
    const std::string wi =
        field(credential_entry(j.out, "WorkloadIdentityCredential"), "reason").value_or("");
    CHECK(has(wi, "AZURE_FEDERATED_TOKEN_FILE"));
  }

  TEST_CASE(
      "a service principal in the environment: ok, claims decoded, secret and token never "
      "printed") {
    emu::Emulator e;
    emu::App app =
        e.register_app({std::string(tenant), std::string(client), std::string(secret), false, ""});
    Sandbox s;
    service_principal(s, e);
    Result j = s.doctor_json();
    CHECK(j.exit == 0);
    CHECK(status(j.out, "EnvironmentCredential") == "ok");
    const std::string token = object_member(j.out, "token");
    CHECK(field(token, "credential") == "EnvironmentCredential");
    CHECK(field(token, "tenant_id") == std::string(tenant));
    CHECK(field(token, "app_id") == std::string(client));
    CHECK(field(token, "object_id") == app.object_id);
    CHECK(has(field(token, "audience").value_or(""), "management.azure.com"));
    CHECK(has(token, "\"expires_on\":1"));
    check_no_secrets(j, {secret});

    Result t = s.run({"doctor", "--scope", "https://vault.azure.net/.default"});
    CHECK(t.exit == 0);
    CHECK(has(t.out, "<- the chain's token"));
    CHECK(has(t.out, "tenant     " + std::string(tenant)));
    CHECK(has(t.out, "app id     " + std::string(client)));
    CHECK(has(t.out, "audience   https://vault.azure.net"));
    check_no_secrets(t, {secret});
  }

  TEST_CASE("a wrong secret: EnvironmentCredential failed, the chain stops there, exit 1") {
    emu::Emulator e;
    e.register_app({std::string(tenant), std::string(client), std::string(secret), false, ""});
    Sandbox s;
    const std::string wrong = "wrong-secret-value-9Kp";
    service_principal(s, e, wrong);
    Result j = s.doctor_json();
    CHECK(j.exit == 1);
    const std::string env = credential_entry(j.out, "EnvironmentCredential");
    CHECK(field(env, "status") == "failed");
    CHECK(has(field(env, "reason").value_or(""), "AADSTS7000215"));
    CHECK(has(field(env, "mitigation").value_or(""), "secret's value"));
    CHECK(field(env, "section") == "ClientSecretCredential");
    CHECK(has(j.out, "\"stopped_at\":\"EnvironmentCredential\""));
    CHECK(has(j.out, "\"token\":null"));
    check_no_secrets(j, {wrong, secret});
  }

  TEST_CASE("IMDS: detected, probed, and its token's identity shown") {
    emu::Emulator e(plain());
    Sandbox s;
    s.set("AZURE_POD_IDENTITY_AUTHORITY_HOST", e.base_url());
    SUBCASE("system-assigned") {
      Result j = s.doctor_json();
      CHECK(j.exit == 0);
      CHECK(status(j.out, "ManagedIdentityCredential") == "ok");
      const std::string mi = object_member(j.out, "managed_identity");
      CHECK(field(mi, "source") == "imds");
      const std::string imds = object_member(j.out, "imds");
      CHECK(has(imds, "\"answers\":true"));
      CHECK(field(imds, "endpoint") == e.base_url());
      const std::string token = object_member(j.out, "token");
      CHECK(field(token, "credential") == "ManagedIdentityCredential");
      CHECK(field(token, "tenant_id") == std::string(mi_tenant));
      CHECK(field(token, "app_id") == e.system_identity()->client_id);
      // The probe goes without the Metadata header; the credential's request with it.
      bool bare = false, with_header = false;
      for (const auto& req : e.requests()) {
        if (req.path() != token_path) continue;
        (req.has_header("Metadata") ? with_header : bare) = true;
      }
      CHECK(bare);
      CHECK(with_header);
      check_no_secrets(j, {});
    }
    SUBCASE("AZURE_CLIENT_ID names an identity this resource does not have") {
      s.set("AZURE_CLIENT_ID", "11111111-2222-4333-8444-555555555555");
      Result j = s.doctor_json();
      CHECK(j.exit == 2);
      const std::string mi = credential_entry(j.out, "ManagedIdentityCredential");
      CHECK(field(mi, "status") == "unavailable");
      CHECK(has(field(mi, "reason").value_or(""), "hasn't been assigned"));
      CHECK(has(field(mi, "mitigation").value_or(""), "AZURE_CLIENT_ID"));
      CHECK(field(mi, "section") == "ManagedIdentityCredential");
    }
  }

  TEST_CASE(
      "App Service: detected from its variables, IMDS not probed, the identity header never "
      "shown") {
    emu::Emulator e(plain());
    const std::string header = "app-service-identity-header-value";
    e.set_identity_header(header);
    Sandbox s;
    s.set("IDENTITY_ENDPOINT", e.base_url() + "/msi/token");
    s.set("IDENTITY_HEADER", header);
    Result j = s.doctor_json();
    CHECK(j.exit == 0);
    const std::string mi = object_member(j.out, "managed_identity");
    CHECK(field(mi, "source") == "app_service");
    CHECK(has(mi, "\"IDENTITY_ENDPOINT\""));
    CHECK(has(mi, "\"IDENTITY_HEADER\""));
    CHECK(has(object_member(j.out, "imds"), "\"probed\":false"));
    CHECK(status(j.out, "ManagedIdentityCredential") == "ok");
    CHECK(field(object_member(j.out, "token"), "app_id") == e.system_identity()->client_id);
    check_no_secrets(j, {header});
    Result t = s.run({"doctor"});
    CHECK(has(t.out,
              "Managed identity source: App Service (set: IDENTITY_ENDPOINT, IDENTITY_HEADER"));
    check_no_secrets(t, {header});
  }

  TEST_CASE("Azure ML and Cloud Shell: detected from MSI_ENDPOINT (with and without MSI_SECRET)") {
    emu::Emulator e(plain());
    const std::string msi_secret = "azure-ml-msi-secret-value";
    e.set_identity_header(msi_secret);
    Sandbox s;
    SUBCASE("Azure ML") {
      s.set("MSI_ENDPOINT", e.base_url() + "/MSI/auth");
      s.set("MSI_SECRET", msi_secret);
      Result j = s.doctor_json();
      CHECK(field(object_member(j.out, "managed_identity"), "source") == "azure_ml");
      CHECK(status(j.out, "ManagedIdentityCredential") == "ok");
      CHECK(j.exit == 0);
      check_no_secrets(j, {msi_secret});
    }
    SUBCASE("Cloud Shell") {
      s.set("MSI_ENDPOINT", e.base_url() + "/oauth2/token");
      Result j = s.doctor_json();
      CHECK(field(object_member(j.out, "managed_identity"), "source") == "cloud_shell");
      CHECK(status(j.out, "ManagedIdentityCredential") == "ok");
      CHECK(j.exit == 0);
    }
  }

  TEST_CASE("Service Fabric: the pinned certificate works; a wrong pin fails the chain") {
    emu::Options so;
    so.metadata_host = emu::MetadataHost::service_fabric;
    emu::Emulator e(so);
    const std::string header = "fabric-secret-header-value";
    e.set_identity_header(header);
    Sandbox s;
    s.set("IDENTITY_ENDPOINT", e.base_url() + std::string(token_path));
    s.set("IDENTITY_HEADER", header);
    SUBCASE("right pin") {
      s.set("IDENTITY_SERVER_THUMBPRINT", e.server_certificate_thumbprint());
      Result j = s.doctor_json();
      CHECK(field(object_member(j.out, "managed_identity"), "source") == "service_fabric");
      CHECK(status(j.out, "ManagedIdentityCredential") == "ok");
      CHECK(j.exit == 0);
      check_no_secrets(j, {header});
    }
    SUBCASE("wrong pin") {
      s.set("IDENTITY_SERVER_THUMBPRINT", std::string(40, 'a'));
      Result j = s.doctor_json();
      CHECK(field(object_member(j.out, "managed_identity"), "source") == "service_fabric");
      const std::string mi = credential_entry(j.out, "ManagedIdentityCredential");
      CHECK(field(mi, "status") == "failed");
      CHECK(has(field(mi, "mitigation").value_or(""), "IDENTITY_SERVER_THUMBPRINT"));
      CHECK(j.exit == 1);
      CHECK(has(j.out, "\"stopped_at\":\"ManagedIdentityCredential\""));
      check_no_secrets(j, {header});
    }
  }

  TEST_CASE("Azure Arc: detected; a challenge naming a key file outside the agent's folder fails") {
    emu::Emulator e(plain(emu::MetadataHost::arc));
    Sandbox s;
    s.set("IDENTITY_ENDPOINT", e.base_url() + std::string(token_path));
    s.set("IMDS_ENDPOINT", e.base_url());
    Result j = s.doctor_json();
    CHECK(field(object_member(j.out, "managed_identity"), "source") == "azure_arc");
    const std::string mi = credential_entry(j.out, "ManagedIdentityCredential");
    CHECK(field(mi, "status") == "failed");
    CHECK(has(field(mi, "mitigation").value_or(""), "azcmagent"));
    CHECK(j.exit == 1);
    check_no_secrets(j, {});
  }

  TEST_CASE(
      "developer tools: found or not, signed in or not, and the token of the one that works") {
    emu::Emulator e;
    Sandbox s;
    az_signed_in(s, e);
    s.tools.script("azd", "echo 'ERROR: not logged in, run `azd auth login` to login' >&2; exit 1");
    Result j = s.doctor_json();
    CHECK(j.exit == 0);
    CHECK(status(j.out, "AzureCliCredential") == "ok");
    CHECK(status(j.out, "AzureDeveloperCliCredential") == "unavailable");
    CHECK(status(j.out, "AzurePowerShellCredential") == "unavailable");
    const std::string az = tool_entry(j.out, "az");
    CHECK(has(az, "\"found\":true"));
    CHECK(field(az, "path") == s.tools.file("az"));
    CHECK(field(az, "login") == "signed in");
    CHECK(field(tool_entry(j.out, "azd"), "login") == "not signed in");
    CHECK(has(
        field(credential_entry(j.out, "AzureDeveloperCliCredential"), "mitigation").value_or(""),
        "azd auth login"));
    CHECK(field(tool_entry(j.out, "pwsh"), "login") == "not installed");
    const std::string token = object_member(j.out, "token");
    CHECK(field(token, "credential") == "AzureCliCredential");
    CHECK(field(token, "tenant_id") == std::string(tenant));
    CHECK(field(token, "app_id") == "04b07795-8ddb-461a-bbee-02f9e1bf7b46");
    CHECK(field(token, "audience") == "https://management.azure.com");
    check_no_secrets(j, {});
  }

  TEST_CASE("an invalid request is a usage error (64) for the doctor as for azid token") {
    Sandbox s;
    for (const std::vector<std::string>& bad :
         {std::vector<std::string>{"--scope", "bad scope with spaces"},
          std::vector<std::string>{"--tenant", "bad tenant"}}) {
      std::vector<std::string> args = {"doctor", "--json"};
      args.insert(args.end(), bad.begin(), bad.end());
      Result r = s.run_vec(args);
      CHECK(r.exit == 64);
      CHECK(has(r.out, "'s configuration, is invalid, so DefaultAzureCredential stops there"));
      std::vector<std::string> token = {"token", "--scope", "https://vault.azure.net/.default"};
      if (bad[0] == "--scope")
        token[2] = bad[1];
      else
        token.insert(token.end(), bad.begin(), bad.end());
      CHECK(s.run_vec(token).exit == 64);
    }
    // Everything excluded: a usage error for both.
    Sandbox dev;
    dev.set("AZURE_TOKEN_CREDENTIALS", "dev");
    const std::vector<std::string> all_tools = {"--exclude", "azure-cli",
                                                "--exclude", "azure-powershell",
                                                "--exclude", "azure-developer-cli"};
    std::vector<std::string> args = {"doctor", "--json"};
    args.insert(args.end(), all_tools.begin(), all_tools.end());
    const Result r = dev.run_vec(args);
    CHECK(r.exit == 64);
    CHECK(has(r.out, "Every member of the default chain is excluded"));
    std::vector<std::string> token = {"token", "--scope", "https://vault.azure.net/.default"};
    token.insert(token.end(), all_tools.begin(), all_tools.end());
    CHECK(dev.run_vec(token).exit == 64);
  }

  TEST_CASE("a stray argument after a secret's option is a usage error that does not echo it") {
    Sandbox s;
    Result r = s.run({"token", "--credential", "client-secret", "--client-secret", "Hyg1",
                      "Stray-Secret-Half-42", "--scope", "https://vault.azure.net/.default"});
    CHECK(r.exit == 64);
    CHECK_FALSE(has(r.err, "Stray-Secret-Half-42"));
    CHECK(has(r.err, "unexpected argument #"));
    r = s.run({"token", "--client-secret=", "Stray-Secret-Half-42"});
    CHECK(r.exit == 64);
    CHECK_FALSE(has(r.err, "Stray-Secret-Half-42"));
    r = s.run({"token", "--credential", "azure-pipelines", "--system-access-token", "Hyg1",
               "Stray-Secret-Half-42"});
    CHECK(r.exit == 64);
    CHECK_FALSE(has(r.err, "Stray-Secret-Half-42"));
    CHECK(has(r.err, "unexpected argument #"));
    // Elsewhere a stray word is shown, which helps with typos.
    r = s.run({"token", "--scope", "https://vault.azure.net/.default", "vault"});
    CHECK(r.exit == 64);
    CHECK(has(r.err, "unexpected argument 'vault'"));
  }

  TEST_CASE("a reader that went away: exit 74 with a message, not death by SIGPIPE") {
    Sandbox s;
    const Result r = s.run_to_closed_pipe({"doctor", "--json"});
    CHECK(r.exit == 74);
    CHECK(has(r.err, "could not write the result to standard output"));
  }

  TEST_CASE("managed identity in the doctor and --exclude keeps workload identity as the chain") {
    // Workload identity is configured but for its client id: the chain's WorkloadIdentityCredential
    // is unavailable, and managed identity, which would use the same federation, refuses to guess.
    // Run alone by the doctor or after --exclude, managed identity must see the same chain.
    Sandbox s;
    s.tools.script("az", "exit 1");
    const std::string token_file = s.tools.file("federated-token");
    s.tools.write("federated-token", "header.payload.signature");
    s.set("AZURE_FEDERATED_TOKEN_FILE", token_file);
    s.set("AZURE_TENANT_ID", std::string(tenant));
    s.set("AZURE_AUTHORITY_HOST", "https://127.0.0.1:" + std::to_string(closed_port()));
    const Result whole = s.run({"token", "--scope", "https://vault.azure.net/.default"});
    const Result excluded =
        s.run({"token", "--scope", "https://vault.azure.net/.default", "--exclude", "azure-cli"});
    CHECK(whole.exit == 64);
    CHECK(excluded.exit == whole.exit);
    CHECK(has(excluded.err, "AZURE_FEDERATED_TOKEN_FILE"));
    const Result doctor = s.doctor_json({"--scope", "https://vault.azure.net/.default"});
    CHECK(has(doctor.out, "\"exit_code\":64"));
    CHECK_FALSE(has(
        field(credential_entry(doctor.out, "ManagedIdentityCredential"), "message").value_or(""),
        "IMDS"));
  }

  TEST_CASE("a hung tool is stopped at --process-timeout, so the doctor finishes") {
    Sandbox s;
    s.tools.script("az", "/bin/sleep 60");
    const auto start = steady_clock::now();
    Result j = s.doctor_json({"--process-timeout", "1"});
    // Under the tools' own 10 s default, so the option must have reached them.
    CHECK(steady_clock::now() - start < seconds(9));
    CHECK(j.exit == 2);
    CHECK(field(tool_entry(j.out, "az"), "login") == "timed out");
    CHECK(has(field(credential_entry(j.out, "AzureCliCredential"), "mitigation").value_or(""),
              "--process-timeout"));
  }

  TEST_CASE("azid token --credential TOOL --process-timeout bounds that tool (exit 2)") {
    Sandbox s;
    for (const char* tool : {"az", "azd", "pwsh"}) s.tools.script(tool, "exec /bin/sleep 60");
    for (std::string_view kind : {"azure-cli", "azure-developer-cli", "azure-powershell"}) {
      CAPTURE(kind);
      const auto start = steady_clock::now();
      Result r = s.run({"token", "--credential", std::string(kind), "--process-timeout", "1",
                        "--scope", "https://management.azure.com/.default"});
      // Under the tools' own 10 s default, so the option must have reached the credential.
      CHECK(steady_clock::now() - start < seconds(8));
      CHECK(r.exit == 2);  // CredentialUnavailableError
      CHECK(has(r.err, "did not finish within 1 s"));
      CHECK(r.out.empty());
    }
    // A bad value is a usage error, as for --credential default.
    CHECK(s.run({"token", "--credential", "azure-cli", "--process-timeout", "0", "--scope",
                 "https://management.azure.com/.default"})
              .exit == 64);
  }

  TEST_CASE("SIGINT/SIGTERM/SIGHUP to azid: the tool it runs is killed, azid dies of the signal") {
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
      CAPTURE(sig);
      Sandbox s;
      // Records its own pid and its parent's (azid: env execs it), then hangs well past the test.
      s.tools.script("az",
                     "echo \"$$ $PPID\" > " + s.tools.file("az.pid") + "\nexec /bin/sleep 300");
      std::optional<azid::ProcessResult> result;
      std::error_code ec;
      std::thread runner([&] {
        result =
            azid::PosixProcessRunner{}.run(s.spec({"token", "--credential", "azure-cli", "--scope",
                                                   "https://management.azure.com/.default"}),
                                           ec);
      });
      pid_t az = 0, azid_pid = 0;
      for (auto until = steady_clock::now() + seconds(60); steady_clock::now() < until;
           std::this_thread::sleep_for(milliseconds(20))) {
        const std::string line = s.tools.read("az.pid");
        if (line.empty() || line.back() != '\n') continue;
        std::istringstream in(line);
        long a = 0, p = 0;
        if (in >> a >> p) {
          az = static_cast<pid_t>(a);
          azid_pid = static_cast<pid_t>(p);
          break;
        }
      }
      REQUIRE_MESSAGE(az > 1, "the fake az never started");
      REQUIRE(azid_pid > 1);
      // azid lists the group right after posix_spawn returns, long before the script gets here;
      // the margin is for a loaded machine.
      std::this_thread::sleep_for(milliseconds(200));
      CHECK(::kill(azid_pid, sig) == 0);
      runner.join();
      REQUIRE_FALSE(ec);
      REQUIRE(result.has_value());
      CHECK(result->term_signal == sig);  // the usual status: death by that signal
      CHECK(result->exit_code == -1);
      CHECK(result->out.empty());
      const bool gone = azid_test::becomes_dead(az, seconds(3));
      CHECK_MESSAGE(gone, "the fake az outlived azid");
      if (!gone) ::kill(az, SIGKILL);  // leave nothing behind
    }
  }

  TEST_CASE("pwsh without Az.Accounts: the module is missing, not PowerShell") {
    Sandbox s;
    s.tools.script("pwsh", "echo NO_AZ_ACCOUNT_MODULE");
    Result j = s.doctor_json();
    CHECK(j.exit == 2);
    const std::string entry = credential_entry(j.out, "AzurePowerShellCredential");
    CHECK(status(j.out, "AzurePowerShellCredential") == "unavailable");
    CHECK(has(field(entry, "reason").value_or(""), "Az.Account module"));
    const std::string fix = field(entry, "mitigation").value_or("");
    CHECK(has(fix, "Install-Module Az.Accounts"));
    CHECK(has(fix, "2.2.0"));
    CHECK_FALSE(has(fix, "Install PowerShell"));
    CHECK(has(tool_entry(j.out, "pwsh"), "\"found\":true"));
    CHECK(field(tool_entry(j.out, "pwsh"), "login") == "Az.Accounts missing");
    // Without pwsh on PATH it is PowerShell that is missing.
    Sandbox none;
    Result n = none.doctor_json();
    CHECK(field(tool_entry(n.out, "pwsh"), "login") == "not installed");
    CHECK(
        has(field(credential_entry(n.out, "AzurePowerShellCredential"), "mitigation").value_or(""),
            "Install PowerShell 7"));
  }

  TEST_CASE(
      "exclusions: --exclude and AZURE_TOKEN_CREDENTIALS mark members excluded and are not run") {
    emu::Emulator e;
    Sandbox s;
    az_signed_in(s, e);
    SUBCASE("--exclude") {
      Result j = s.doctor_json({"--exclude", "azure-cli", "--exclude", "environment"});
      CHECK(status(j.out, "AzureCliCredential") == "excluded");
      CHECK(status(j.out, "EnvironmentCredential") == "excluded");
      CHECK(has(field(credential_entry(j.out, "AzureCliCredential"), "reason").value_or(""),
                "--exclude azure-cli"));
      CHECK(field(tool_entry(j.out, "az"), "login") == "not checked (excluded)");
      CHECK_FALSE(s.tools.exists("runs"));  // az never ran
      CHECK(j.exit == 2);
    }
    SUBCASE("AZURE_TOKEN_CREDENTIALS=prod") {
      s.set("AZURE_TOKEN_CREDENTIALS", "prod");
      Result j = s.doctor_json();
      CHECK(status(j.out, "AzureCliCredential") == "excluded");
      CHECK(has(field(credential_entry(j.out, "AzureCliCredential"), "reason").value_or(""),
                "AZURE_TOKEN_CREDENTIALS=prod"));
      CHECK(status(j.out, "ManagedIdentityCredential") == "unavailable");
      CHECK(field(j.out, "azure_token_credentials") == "prod");
      CHECK(j.exit == 2);
    }
    SUBCASE("AZURE_TOKEN_CREDENTIALS=dev") {
      s.set("AZURE_TOKEN_CREDENTIALS", "dev");
      Result j = s.doctor_json();
      CHECK(status(j.out, "ManagedIdentityCredential") == "excluded");
      CHECK(status(j.out, "AzureCliCredential") == "ok");
      CHECK(j.exit == 0);
    }
    SUBCASE("an invalid AZURE_TOKEN_CREDENTIALS is reported, and no token can be had") {
      s.set("AZURE_TOKEN_CREDENTIALS", "bogus");
      Result j = s.doctor_json();
      CHECK(has(j.out, "\"azure_token_credentials_error\":"));
      CHECK(status(j.out, "AzureCliCredential") == "failed");
      CHECK(has(field(credential_entry(j.out, "AzureCliCredential"), "reason").value_or(""),
                "Not tried"));
      CHECK_FALSE(s.tools.exists("runs"));  // nothing was tried
      CHECK(j.exit == 64);                  // as for `azid token`
      CHECK(has(j.out, "\"exit_code\":64"));
      CHECK(s.run({"token", "--scope", "https://management.azure.com/.default"}).exit == 64);
      // The table quotes the value without the escape sequences it may carry to a terminal.
      s.set("AZURE_TOKEN_CREDENTIALS", "bogus\x1b[2J\rforged");
      const Result table = s.run({"doctor"});
      CHECK(has(table.out, "AZURE_TOKEN_CREDENTIALS=bogus?[2J?forged"));
      CHECK(table.out.find('\x1b') == std::string::npos);
      CHECK(table.out.find('\r') == std::string::npos);
    }
    SUBCASE("an unknown KIND is a usage error") {
      Result j = s.doctor_json({"--exclude", "client-secret"});
      CHECK(j.exit == 64);
      CHECK(has(j.err, "unknown --exclude 'client-secret'"));
    }
  }

  TEST_CASE("azid token --credential default [--exclude KIND...]") {
    emu::Emulator e;
    e.register_app({std::string(tenant), std::string(client), std::string(secret), false, ""});
    Sandbox s;
    az_signed_in(s, e);
    service_principal(s, e);
    const std::string scope = "https://management.azure.com/.default";

    Result first = s.run({"token", "--credential", "default", "--scope", scope});
    CHECK(first.exit == 0);
    CHECK(field(first.out, "credential") == "EnvironmentCredential");
    CHECK(field(first.out, "token_type") == "Bearer");
    CHECK(has(first.out, "\"access_token\":\"eyJ"));
    CHECK(has(first.out, "\"expires_on\":"));
    CHECK_FALSE(has(first.all(), secret));

    Result cli =
        s.run({"token", "--scope", scope, "--exclude", "environment"});  // default is the default
    CHECK(cli.exit == 0);
    CHECK(field(cli.out, "credential") == "AzureCliCredential");

    Result none =
        s.run({"token", "--scope", scope, "--exclude", "environment", "--exclude", "azure-cli"});
    CHECK(none.exit == 2);
    CHECK(has(none.err,
              "DefaultAzureCredential failed to retrieve a token from the included credentials."));
    CHECK_FALSE(has(none.err, "AzureCliCredential:"));  // excluded members are not attempted
    CHECK(none.out.empty());

    Result ignored = s.run({"token", "--scope", scope, "--client-id", "c", "--tenant-id", "t"});
    CHECK(ignored.exit == 64);
    CHECK(has(ignored.err, "--client-id is not used by --credential default"));
    Result help = s.run({"token", "--help"});
    CHECK(help.exit == 0);
    CHECK(has(help.out, "usage: azid token"));
    CHECK(s.run({"token", "--scope", scope, "--process-timeout", "0.0001"}).exit == 64);
    // An output that cannot be written is an error (74), never an exit 0 with nothing written.
    CHECK(s.run_to_full_device({"token", "--scope", scope}).exit == 74);
    Result full = s.run_to_full_device({"doctor", "--json"});
    CHECK(full.exit == 74);
    CHECK(has(full.err, "could not write the result"));

    CHECK(s.run({"token", "--scope", scope, "--exclude", "nonsense"}).exit == 64);
    CHECK(
        s.run({"token", "--scope", scope, "--credential", "azure-cli", "--exclude", "environment"})
            .exit == 64);

    Result wrong = [&] {
      Sandbox w;
      service_principal(w, e, "not-the-secret-4Fq");
      return w.run({"token", "--scope", scope});
    }();
    CHECK(wrong.exit == 1);
    CHECK(has(wrong.err, "AADSTS7000215"));
    CHECK_FALSE(has(wrong.all(), "not-the-secret-4Fq"));
  }
  TEST_CASE("a closed stdout: exit 74 before any network I/O; a closed stderr does no harm") {
    // A closed descriptor 1 would go to the next socket opened: the token's JSON would be written
    // onto the connection to the token endpoint.
    emu::Emulator e;
    e.register_app({std::string(tenant), std::string(client), std::string(secret), false, ""});
    Sandbox s;
    service_principal(s, e);
    const std::string scope = "https://vault.azure.net/.default";
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"token", "--credential", "client-secret", "--scope", scope},
          std::vector<std::string>{"token", "--scope", scope},
          std::vector<std::string>{"doctor", "--json"}, std::vector<std::string>{"version"},
          std::vector<std::string>{"--help"}, std::vector<std::string>{"token", "--help"}}) {
      CAPTURE(args.back());
      e.clear_requests();
      const Result r = s.run_in_shell("exec \"$@\" >&-", args);
      CHECK(r.exit == 74);
      CHECK(has(r.err, "could not write the result to standard output"));
      CHECK(e.requests().empty());  // nothing reached the emulator
      check_no_secrets(r, {secret});
    }
    // Standard error closed: the token still comes out, and the log lines go nowhere (on the
    // connection they would break the TLS stream).
    e.clear_requests();
    const Result quiet = s.run_in_shell(
        "exec \"$@\" 2>&-",
        {"token", "--credential", "client-secret", "--log-level", "debug", "--scope", scope});
    CHECK(quiet.exit == 0);
    CHECK(has(quiet.out, "\"access_token\":\"eyJ"));
    CHECK(quiet.err.empty());
    CHECK_FALSE(e.requests().empty());
  }

  TEST_CASE("an option the chosen --credential does not use is refused (64), never ignored") {
    emu::Emulator e(plain());
    Sandbox s;
    s.set("AZURE_POD_IDENTITY_AUTHORITY_HOST", e.base_url());
    // Whatever the refused option's credential would reach, it is a loopback port.
    s.set("AZURE_AUTHORITY_HOST", "https://127.0.0.1:" + std::to_string(closed_port()));
    s.set("AZURE_TENANT_ID", std::string(tenant));
    s.set("AZURE_CLIENT_ID", std::string(client));
    s.set("AZURE_CLIENT_SECRET", std::string(secret));
    const std::string scope = "https://vault.azure.net/.default";
    // Ignored, --client-id would get the system-assigned identity's token.
    Result r = s.run({"token", "--credential", "managed-identity", "--client-id",
                      std::string(client), "--scope", scope});
    CHECK(r.exit == 64);
    CHECK(has(r.err, "--client-id is not used by --credential managed-identity"));
    CHECK(has(r.err, "give --managed-identity-client-id"));
    CHECK(r.out.empty());
    CHECK(e.requests().empty());
    CHECK(s.run({"token", "--credential", "managed-identity", "--scope", scope}).exit == 0);

    const std::vector<std::vector<std::string>> refused = {
        {"environment", "--client-secret", std::string(secret)},
        {"client-secret", "--certificate", "/nonexistent.pem", "--token-file", "/nonexistent"},
        {"azure-cli", "--authority-host", "https://127.0.0.1:1"},
        {"azure-developer-cli", "--subscription", "s"},
        {"managed-identity", "--additionally-allowed-tenant", "*"},
        {"workload-identity", "--send-certificate-chain"},
        {"certificate", "--process-timeout", "5"},
        {"azure-powershell", "--exclude", "environment"}};
    for (const auto& c : refused) {
      CAPTURE(c[0]);
      CAPTURE(c[1]);
      std::vector<std::string> args = {"token", "--scope", scope, "--credential"};
      args.insert(args.end(), c.begin(), c.end());
      const Result u = s.run_vec(args);
      CHECK(u.exit == 64);
      CHECK(has(u.err, c[1] + " is not used by --credential " + c[0]));
      check_no_secrets(u, {secret});
    }
    CHECK(has(
        s.run({"token", "--scope", scope, "--credential", "azure-cli", "--exclude", "environment"})
            .err,
        "(it applies to --credential default)"));
  }

  TEST_CASE("the doctor's table and azid's messages show outside text printable and bounded") {
    Sandbox s;
    // A token whose claims carry escape sequences, a line break and a bidi override (az hands
    // back whatever it is given).
    const long long exp =
        duration_cast<seconds>(system_clock::now().time_since_epoch()).count() + 3600;
    const std::string payload =
        R"({"tid":"evil\u001b[2J\nforged","oid":"o\u202eid","aud":"https://x\u0007","exp":)" +
        std::to_string(exp) + "}";
    const std::string jwt = azid::detail::base64_encode(R"({"alg":"none"})", true) + "." +
                            azid::detail::base64_encode(payload, true) + ".c2ln";
    s.tools.script("az",
                   "printf '%s' " + sh_quote(R"({"accessToken": ")" + jwt + R"(", "expires_on": )" +
                                             std::to_string(exp) + R"(, "tokenType": "Bearer"})"));
    // azd in a directory whose name sets the terminal's title.
    const std::string odd_dir = s.tools.path() + "/bin\x1b]0;title\x07";
    std::filesystem::create_directory(odd_dir);
    {
      std::ofstream f(odd_dir + "/azd", std::ios::binary);
      f << "#!/bin/sh\nexit 1\n";
    }
    ::chmod((odd_dir + "/azd").c_str(), 0755);
    s.set("PATH", s.tools.path() + ":" + odd_dir);
    // "dev" and 120 KB of spaces: the chain trims it; the table must not carry the spaces.
    s.set("AZURE_TOKEN_CREDENTIALS", "dev" + std::string(120 * 1024, ' '));

    const Result t = s.run({"doctor"});
    CHECK(t.exit == 0);
    CHECK(t.out.size() < 16 * 1024);
    for (std::string_view bad : {"\x1b", "\x07", "\r", "\xe2\x80\xae"})
      CHECK_FALSE(has(t.out, bad));
    CHECK(has(t.out, "tenant     evil?[2J?forged\n"));
    CHECK(has(t.out, "object id  o?id\n"));
    CHECK(has(t.out, "why: excluded by AZURE_TOKEN_CREDENTIALS=dev\n"));
    CHECK(has(t.out, "/bin?]0;title?/azd"));

    // The JSON keeps the values whole (escaped), and the variable trimmed in the reason.
    const Result j = s.doctor_json();
    CHECK(j.exit == 0);
    CHECK(field(object_member(j.out, "token"), "tenant_id") == "evil\x1b[2J\nforged");
    CHECK(field(credential_entry(j.out, "EnvironmentCredential"), "reason") ==
          "excluded by AZURE_TOKEN_CREDENTIALS=dev");
    CHECK(field(tool_entry(j.out, "azd"), "path") == odd_dir + "/azd");
    CHECK(j.out.find('\x1b') == std::string::npos);

    // A usage error quoting the command line.
    const Result u = s.run({"token", "--scope", "https://vault.azure.net/.default", "--credential",
                            "x\x1b[2J\nforged"});
    CHECK(u.exit == 64);
    CHECK(has(u.err, "unknown --credential 'x?[2J?forged'"));
    CHECK_FALSE(has(u.err, "\x1b"));
  }

  TEST_CASE("-h and --help are help only where an option name is expected") {
    Sandbox s;
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"token", "--credential", "azure-cli", "--scope", "-h"},
          std::vector<std::string>{"token", "--client-secret", "--help", "--scope", "x"},
          std::vector<std::string>{"doctor", "--tenant", "--help", "--json"},
          std::vector<std::string>{"token", "--scope=x", "--tenant", "-h"}}) {
      CAPTURE(args[2]);
      const Result r = s.run_vec(args);
      CHECK(r.exit != 0);
      CHECK_FALSE(has(r.out, "usage:"));
    }
    Result help = s.run({"token", "--scope", "x", "--help"});
    CHECK(help.exit == 0);
    CHECK(has(help.out, "usage: azid token"));
    help = s.run({"doctor", "--json", "-h"});
    CHECK(help.exit == 0);
    CHECK(has(help.out, "usage: azid doctor"));
  }

  TEST_CASE("version and help: an unwritable output is 74, a stray argument 64") {
    Sandbox s;
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"version"}, std::vector<std::string>{"--help"},
          std::vector<std::string>{"-h"}, std::vector<std::string>{"help"},
          std::vector<std::string>{"token", "--help"},
          std::vector<std::string>{"doctor", "--help"}}) {
      CAPTURE(args.back());
      const Result r = s.run_to_full_device(args);
      CHECK(r.exit == 74);
      CHECK(has(r.err, "could not write the result"));
    }
    const Result v = s.run({"version"});
    CHECK(v.exit == 0);
    CHECK(has(v.out, "azid "));
    const Result extra = s.run({"version", "extra"});
    CHECK(extra.exit == 64);
    CHECK(extra.out.empty());
  }

  TEST_CASE("an internal error (no thread can be started) is 70, not an authentication failure") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    MESSAGE("skipped: a sanitizer's shadow memory does not fit under the address-space limit");
#else
    // Each new thread's stack is as large as the stack limit, which here is more than the whole
    // address space allowed: the doctor's first std::async throws std::system_error.
    Sandbox s;
    const Result r = s.run_in_shell("ulimit -s 2097152 && ulimit -v 1048576 && exec \"$@\"",
                                    {"doctor", "--json"});
    CHECK(r.exit == 70);
    CHECK(has(r.err, "azid: internal error"));
#endif
  }

  TEST_CASE("an unknown option after or resembling a secret's option is not echoed") {
    Sandbox s;
    const std::string scope = "https://vault.azure.net/.default";
    Result r = s.run({"token", "--client-secret", "abc", "--2x", "--scope", scope});
    CHECK(r.exit == 64);
    CHECK_FALSE(has(r.err, "--2x"));
    CHECK(has(r.err, "unknown option in argument #3 after a secret's option"));
    r = s.run({"token", "--client-secret:hunter2", "--scope", scope});
    CHECK(r.exit == 64);
    CHECK_FALSE(has(r.all(), "hunter2"));
    CHECK(has(r.err, "unknown option in argument #1"));
    r = s.run({"token", "--scope", scope, "--system-access-tokenhunter2=x"});
    CHECK(r.exit == 64);
    CHECK_FALSE(has(r.all(), "hunter2"));
    r = s.run({"token", "--certificate-password=p", "w--x", "--scope", scope});
    CHECK(r.exit == 64);
    CHECK_FALSE(has(r.all(), "w--x"));
    // Elsewhere the unknown option is named, which helps with typos.
    r = s.run({"token", "--scoep", scope});
    CHECK(r.exit == 64);
    CHECK(has(r.err, "unknown option --scoep"));
  }
}

#endif
