// azurite: use an azid token with Azure Blob Storage (here Azurite, Microsoft's storage emulator).
//
// The credential gets a token for the scope "https://storage.azure.com/.default"; every storage
// call then carries it as "Authorization: Bearer <token>" with the storage headers x-ms-version
// and x-ms-date. This creates a container, uploads a block blob, downloads it and compares, then
// shows that a token for another resource (Key Vault) is refused: a token is only good for the
// audience it was issued for.
//
// Everything is local: azid's Entra ID emulator issues the token (a v1 token, issuer
// https://sts.windows.net/<tenant>/, audience https://storage.azure.com, as Entra issues for
// storage) and Azurite runs with `--oauth basic`, which checks the token's issuer, audience and
// lifetime (not its signature). examples/azurite/run.sh starts Azurite and runs this program with
//   AZURITE_BLOB_URL   e.g. https://127.0.0.1:10000/devstoreaccount1 (account in the path)
//   AZURITE_CA_FILE    the certificate Azurite serves (self-signed for 127.0.0.1)
// Against real storage use https://<account>.blob.core.windows.net, the system trust store, and
// an identity holding a data role such as "Storage Blob Data Contributor".
#include <cstdio>
#include <ctime>
#include <exception>
#include <string>
#include <string_view>
#include <system_error>

#include <azid/credentials/client_secret.hpp>
#include <azid/detail/base64.hpp>      // jwt_payload: only to print the claims for the reader
#include <azid/detail/token_json.hpp>  // json_string_member: idem
#include <azid/platform/default_platform.hpp>
#include <azid/platform/environment.hpp>
#include <azid/transport/https.hpp>

#include "emulator.hpp"

namespace {

// A storage API version Azurite 3.35 serves (run.sh also passes --skipApiVersionCheck).
constexpr std::string_view storage_api_version = "2023-11-03";

// x-ms-date wants the RFC 1123 form, in GMT: "Fri, 27 Nov 2026 23:01:02 GMT".
std::string rfc1123_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// The text of <tag>...</tag> in a storage error body, or "".
std::string xml_element(const std::string& body, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  const auto b = body.find(open);
  if (b == std::string::npos) return {};
  const auto e = body.find(close, b);
  return e == std::string::npos ? std::string() : body.substr(b + open.size(), e - b - open.size());
}

// A tiny Blob Storage client: one authenticated REST call.
struct BlobService {
  azid::HttpsTransport& http;
  std::string account_url;

  azid::HttpResponse call(std::string method, const std::string& path, const std::string& bearer,
                          std::string body = {}, bool block_blob = false) const {
    azid::HttpRequest req;
    req.method = std::move(method);
    req.url = account_url + path;
    req.headers.set("Authorization", "Bearer " + bearer);
    req.headers.set("x-ms-version", storage_api_version);
    req.headers.set("x-ms-date", rfc1123_now());
    if (block_blob) {
      req.headers.set("x-ms-blob-type", "BlockBlob");
      req.headers.set("Content-Type", "text/plain; charset=utf-8");
    }
    req.body = std::move(body);
    std::error_code ec;
    azid::HttpResponse res = http.send(req, ec);
    if (ec) throw std::system_error(ec, req.method + " " + path);
    return res;
  }
};

// Prints one storage call's outcome; storage errors name themselves in x-ms-error-code.
bool expect(const char* what, const azid::HttpResponse& res, int status) {
  std::printf("%-44s -> %d %s\n", what, res.status, res.reason.c_str());
  if (res.status == status) return true;
  std::fprintf(stderr, "  expected %d; x-ms-error-code: %.*s\n  %s\n", status,
               static_cast<int>(res.headers.get("x-ms-error-code").size()),
               res.headers.get("x-ms-error-code").data(), res.body.c_str());
  return false;
}

}  // namespace

int main() {
  const azid::ProcessEnvironment env;
  const auto account_url = env.get("AZURITE_BLOB_URL");
  const auto azurite_ca = env.get("AZURITE_CA_FILE");
  if (!account_url || !azurite_ca) {
    std::fprintf(stderr,
                 "set AZURITE_BLOB_URL and AZURITE_CA_FILE (examples/azurite/run.sh does)\n");
    return 2;
  }
  try {
    // 1. Entra ID (the emulator) and a credential for an app registered there.
    azid_emulator::Emulator entra;
    const std::string tenant_id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    const std::string client_id = "11111111-2222-4333-8444-555555555555";
    entra.register_app({tenant_id, client_id, "azurite-secret", false, {}});
    azid::DefaultPlatformOptions popts;
    popts.transport.extra_ca_file = entra.ca_file();
    popts.transport.use_system_trust = false;
    popts.proxy_from_environment = false;
    azid::ClientSecretCredentialOptions options;
    options.authority_host = entra.authority_host();
    const azid::ClientSecretCredential<> credential(tenant_id, client_id, "azurite-secret", options,
                                                    azid::DefaultPlatform(popts));

    // 2. A token for Storage. The claims Azurite checks are printed; the token never is.
    azid::TokenRequestContext storage_scope;
    storage_scope.scopes = {"https://storage.azure.com/.default"};
    const azid::AccessToken token = credential.get_token(storage_scope);
    const std::string claims = azid::detail::jwt_payload(token.token).value_or("{}");
    std::printf("token for Storage: iss=%s aud=%s (%zu bytes)\n",
                azid::detail::json_string_member(claims, "iss").value_or("?").c_str(),
                azid::detail::json_string_member(claims, "aud").value_or("?").c_str(),
                token.token.size());

    // 3. Storage calls over our own transport, trusting Azurite's self-signed certificate.
    azid::TransportOptions topts;
    topts.extra_ca_file = *azurite_ca;
    topts.use_system_trust = false;
    azid::HttpsTransport http(topts);
    const BlobService blob{http, *account_url};
    const std::string container = "/azid-example";
    const std::string content = "Hello, Blob Storage, from an azid token!";

    bool ok = true;
    // Get the token before each call: it is a cache hit until the token nears expiry.
    ok &= expect("PUT  container (?restype=container)",
                 blob.call("PUT", container + "?restype=container",
                           credential.get_token(storage_scope).token),
                 201);
    ok &= expect("PUT  blob hello.txt (BlockBlob)",
                 blob.call("PUT", container + "/hello.txt",
                           credential.get_token(storage_scope).token, content, true),
                 201);
    const azid::HttpResponse got =
        blob.call("GET", container + "/hello.txt", credential.get_token(storage_scope).token);
    ok &= expect("GET  blob hello.txt", got, 200);
    const bool same = got.body == content;
    std::printf("downloaded: \"%s\" (%s)\n", got.body.c_str(),
                same ? "matches the upload" : "DIFFERS");
    ok &= same;

    // 4. A Key Vault token (aud https://vault.azure.net) is a valid token, for the wrong audience.
    azid::TokenRequestContext vault_scope;
    vault_scope.scopes = {"https://vault.azure.net/.default"};
    const azid::HttpResponse refused =
        blob.call("GET", container + "/hello.txt", credential.get_token(vault_scope).token);
    const std::string detail = xml_element(refused.body, "AuthenticationErrorDetail");
    std::printf("\nGET with a Key Vault token -> %d %.*s: %s\n", refused.status,
                static_cast<int>(refused.headers.get("x-ms-error-code").size()),
                refused.headers.get("x-ms-error-code").data(),
                detail.empty() ? refused.body.c_str() : detail.c_str());
    if (refused.status == 401 || refused.status == 403) {
      std::printf(
          "refused as it should be: ask for the scope of the service you call "
          "(https://storage.azure.com/.default for Blob Storage)\n");
    } else {
      std::fprintf(stderr, "a token for the wrong audience was not refused\n");
      ok = false;
    }
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "azurite example failed: %s\n", e.what());
    return 1;
  }
}
