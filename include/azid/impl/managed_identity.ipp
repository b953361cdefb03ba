// azid/impl/managed_identity.ipp: managed identity request building, response interpretation,
// messages (errors-and-logging.md §1, managed-identity.md §3-§9) and the Arc key file checks.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>
#include <system_error>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/evp.h>

#include "azid/core/error_code.hpp"
#include "azid/detail/base64.hpp"
#include "azid/detail/managed_identity.hpp"
#include "azid/detail/names.hpp"
#include "azid/detail/redact.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/detail/url.hpp"

AZID_BEGIN
namespace detail::msi {

namespace impl {

inline std::string prefix_unavailable() {
  return std::string(credential_name) + " authentication unavailable. ";
}
inline std::string prefix_failed() {
  return std::string(credential_name) + " authentication failed. ";
}

inline TokenResult with_status(Failure kind, std::string message, int status) {
  return TokenResult::error(kind, ErrorInfo{.credential = std::string(credential_name),
                                            .message = std::move(message),
                                            .http_status = status});
}

inline std::string source_label(ManagedIdentitySource s) { return std::string(to_string(s)); }

// An endpoint as messages show it: enough to say where. No query or fragment (a query could carry
// a user's ids that need not be repeated in every message), no userinfo, and printable and
// bounded (quoted_url): the endpoint comes from the environment (IDENTITY_ENDPOINT,
// MSI_ENDPOINT), and a control character in it must not forge a log line or drive a terminal.
inline std::string without_query(std::string_view url) { return quoted_url(url); }

// Whether `body` holds `secret` (as sent, or without surrounding whitespace), plainly or
// JSON-escaped. Secrets under 8 bytes are left to redact_all, which blanks them where they stand
// alone: a body would too often hold so short a text by chance.
inline bool repeats(std::string_view body, std::string_view secret) {
  secret = trim_space(secret);
  if (secret.size() < 8) return false;
  return body.find(secret) != std::string_view::npos ||
         (body.find('\\') != std::string_view::npos &&
          json_unescape_loosely(body).find(secret) != std::string::npos);
}

}  // namespace impl

AZID_DECL std::string body_detail(std::string_view body) {
  if (auto d = json_string_member(body, "error_description")) return excerpt(*d);
  if (auto m = json_string_member(body, "message")) return excerpt(*m);
  return excerpt(body);
}

AZID_DECL std::string resource_from_scope(std::string_view scope) {
  constexpr std::string_view suffix = "/.default";
  if (scope.size() >= suffix.size() && scope.substr(scope.size() - suffix.size()) == suffix)
    scope.remove_suffix(suffix.size());
  return std::string(scope);
}

AZID_DECL std::string resolve_identity(const ManagedIdentityCredentialOptions& o,
                                       ManagedIdentityId& out) {
  const int given =
      int(!o.client_id.empty()) + int(!o.object_id.empty()) + int(!o.resource_id.empty());
  if (given > 1) {
    out = ManagedIdentityId::system_assigned();
    // MSAL's wording (managed-identity.md §1).
    return std::string(credential_name) +
           ": You shall specify one of the three parameters: client_id, resource_id, object_id.";
  }
  if (!o.client_id.empty())
    out = ManagedIdentityId::from_client_id(o.client_id);
  else if (!o.object_id.empty())
    out = ManagedIdentityId::from_object_id(o.object_id);
  else if (!o.resource_id.empty())
    out = ManagedIdentityId::from_resource_id(o.resource_id);
  else
    out = ManagedIdentityId::system_assigned();
  return {};
}

AZID_DECL bool append_query(std::string& url, std::string_view key, std::string_view value) {
  if (url.find('#') != std::string::npos) {
    // After a '#' the parameter would be part of the fragment, which is never sent: the request
    // would go out without it (without the resource, say). No URL at all is safer.
    url.clear();
    return false;
  }
  url.push_back(url.find('?') == std::string::npos ? '?' : '&');
  url.append(key);
  url.push_back('=');
  url.append(url_encode(value));
  return true;
}

AZID_DECL bool blank_resource(std::string_view scope) noexcept {
  // resource_from_scope without its copy: this runs on the cache hit path, which allocates nothing.
  constexpr std::string_view suffix = "/.default";
  if (scope.size() >= suffix.size() && scope.substr(scope.size() - suffix.size()) == suffix)
    scope.remove_suffix(suffix.size());
  return std::all_of(scope.begin(), scope.end(), [](char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
  });
}

AZID_DECL std::string blank_scope_message() {
  return std::string(credential_name) +
         ": An invalid scope was provided: the scope is empty or blank, so it names no resource. "
         "Request the resource's scope, e.g. https://management.azure.com/.default.";
}

AZID_DECL std::string invalid_endpoint(ManagedIdentitySource source, std::string_view variable,
                                       std::string_view endpoint) {
  std::string why;
  Url parsed;
  if (endpoint.empty()) {
    why = "it is empty";
  } else if (const auto sep = endpoint.find("://");
             sep != std::string_view::npos &&
             endpoint.substr(sep + 3, endpoint.find_first_of("/?#", sep + 3) - (sep + 3))
                     .find('@') != std::string_view::npos) {
    why = "it holds user information (user@host), which a managed identity endpoint never has";
  } else if (endpoint.find('#') != std::string_view::npos) {
    why = "it has a fragment ('#'), which would swallow the request's parameters";
  } else if (parse_url(endpoint, parsed)) {
    why =
        "expected an absolute http:// or https:// URL with a host, and no spaces or control "
        "characters";
  }
  if (why.empty()) return {};
  return "'" + quoted_url(endpoint) + "' is not a valid " + impl::source_label(source) +
         " endpoint (" + std::string(variable) + "): " + why + ".";
}

AZID_DECL TokenResult config_failure(std::string_view why) {
  if (why.empty()) return {};
  return TokenResult::failed(credential_name, impl::prefix_failed() + std::string(why));
}

AZID_DECL std::string imds_url(std::string_view authority, std::string_view resource,
                               const ManagedIdentityId& id) {
  std::string url(authority);
  url.append(names::imds_token_path);
  append_query(url, "api-version", names::imds_api_version);
  append_query(url, "resource", resource);
  switch (id.kind()) {
    case ManagedIdentityId::Kind::client_id:
      append_query(url, "client_id", id.value());
      break;
    case ManagedIdentityId::Kind::object_id:
      append_query(url, "object_id", id.value());
      break;
    case ManagedIdentityId::Kind::resource_id:
      append_query(url, "msi_res_id", id.value());
      break;
    case ManagedIdentityId::Kind::system_assigned:
      break;
  }
  return url;
}

AZID_DECL std::optional<std::string> normalize_imds_authority(std::string_view authority,
                                                              std::string& why) {
  while (!authority.empty() && (authority.back() == '/' || authority.back() == ' '))
    authority.remove_suffix(1);
  Url parsed;
  if (authority.empty() || authority.find('#') != std::string_view::npos ||
      parse_url(authority, parsed) || parsed.target != "/") {
    why = "'" + quoted_url(authority) +
          "' is not a valid IMDS authority (expected http://host[:port]).";
    return std::nullopt;
  }
  return std::string(authority);
}

AZID_DECL std::optional<std::string> normalize_thumbprint(std::string_view thumbprint) {
  std::string out;
  for (char c : thumbprint) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':') continue;
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
    out.push_back(c);
  }
  if (out.size() != 40) return std::nullopt;
  return out;
}

AZID_DECL std::string excerpt(std::string_view body, std::size_t max_bytes) {
  return scrub_body(body, max_bytes);
}

AZID_DECL TokenResult redact_secret(TokenResult r, std::string_view secret) {
  if (r.ok() || secret.empty()) return r;
  ErrorInfo info = r.error_info();
  redact_all(info.message, secret);  // the secret as sent, and trimmed
  if (info.message == r.error_info().message) return r;
  return TokenResult::error(r.failure(), std::move(info));
}

AZID_DECL TokenResult secret_free_result(ManagedIdentitySource source, std::string_view endpoint,
                                         const HttpResponse& res, const std::error_code& ec,
                                         std::chrono::system_clock::time_point request_time,
                                         bool within_chain, std::string_view secret) {
  TokenResult r = source_result(source, endpoint, res, ec, request_time, within_chain);
  if (r.ok() || ec || !impl::repeats(res.body, secret)) return redact_secret(std::move(r), secret);
  // The endpoint (or something in front of it) echoed the secret, perhaps escaped (`\/`,
  // `\u002B`) where no text search of the message finds it, and a quote of the body could be
  // cut inside it: the body is not quoted at all.
  HttpResponse shown = res;
  shown.body = "(not shown: the response repeats the secret this source sends)";
  return redact_secret(source_result(source, endpoint, shown, ec, request_time, within_chain),
                       secret);
}

AZID_DECL TokenResult token_from_response(const HttpResponse& res,
                                          std::chrono::system_clock::time_point request_time) {
  ParsedToken parsed;
  AccessToken token;
  std::error_code ec = parse_token_json(res.body, parsed);
  if (!ec) ec = make_access_token(std::move(parsed), request_time, token);
  if (ec) {
    // The spec's text (managed-identity.md §3); the body is scrubbed of any token it holds.
    return impl::with_status(Failure::failed,
                             impl::prefix_unavailable() + "Unexpected response \"" +
                                 excerpt(res.body) + "\" (" + ec.message() +
                                 "). Check that the endpoint is a managed identity endpoint.",
                             res.status);
  }
  return TokenResult(std::make_shared<const AccessToken>(std::move(token)));
}

AZID_DECL bool unreadable_response(const std::error_code& ec) noexcept {
  return ec == errc::malformed_response || ec == errc::headers_too_large ||
         ec == errc::body_too_large;
}

AZID_DECL TokenResult no_response(ManagedIdentitySource source, std::string_view endpoint,
                                  const std::error_code& ec, bool within_chain) {
  if (unreadable_response(ec)) {
    // Something answered, but not with an HTTP response a managed identity endpoint gives: no
    // retry will change that, and "no response" would send the user looking at the network.
    // In a chain it is no managed identity endpoint as far as the chain can tell: the next
    // credential runs, as when nothing answers.
    std::string msg = (within_chain ? impl::prefix_unavailable() : impl::prefix_failed()) + "The " +
                      impl::source_label(source) + " endpoint " +
                      std::string(impl::without_query(endpoint)) +
                      " answered with a response that could not be read (" + ec.message() +
                      "). Check that the endpoint is a managed identity endpoint and that no "
                      "proxy or firewall rewrites its answers.";
    return within_chain ? TokenResult::unavailable(credential_name, std::move(msg))
                        : TokenResult::failed(credential_name, std::move(msg));
  }
  if (ec == errc::certificate_pin_mismatch) {
    return TokenResult::failed(
        credential_name,
        impl::prefix_failed() + "The " + impl::source_label(source) + " endpoint " +
            std::string(impl::without_query(endpoint)) +
            " presented a certificate whose thumbprint is not IDENTITY_SERVER_THUMBPRINT, "
            "so the connection was refused. Check that IDENTITY_SERVER_THUMBPRINT is the "
            "cluster's current certificate thumbprint.");
  }
  // The guide's row (errors-and-logging.md §1): no response, or the request timed out.
  std::string msg = impl::prefix_unavailable() +
                    "No response received from the managed identity endpoint (" +
                    impl::source_label(source) + " at " +
                    std::string(impl::without_query(endpoint)) + ": " + ec.message() +
                    "). Check that managed identity is enabled for this resource and that the "
                    "endpoint is reachable from this host.";
  return within_chain ? TokenResult::unavailable(credential_name, std::move(msg))
                      : TokenResult::failed(credential_name, std::move(msg));
}

AZID_DECL TokenResult endpoint_failed(ManagedIdentitySource source, const HttpResponse& res) {
  return impl::with_status(
      Failure::failed,
      impl::prefix_failed() + "The " + impl::source_label(source) +
          " managed identity endpoint answered " + std::to_string(res.status) + ": " +
          body_detail(res.body) +
          ". Check the identity requested and the resource's managed identity settings.",
      res.status);
}

AZID_DECL TokenResult source_result(ManagedIdentitySource source, std::string_view endpoint,
                                    const HttpResponse& res, const std::error_code& ec,
                                    std::chrono::system_clock::time_point request_time,
                                    bool within_chain) {
  if (ec) return no_response(source, endpoint, ec, within_chain);
  if (res.status == 200) return token_from_response(res, request_time);
  return endpoint_failed(source, res);
}

AZID_DECL bool connect_error(const std::error_code& ec) noexcept {
  if (ec.category() != error_category()) return false;
  switch (static_cast<errc>(ec.value())) {
    case errc::invalid_url:
    case errc::resolve_failed:
    case errc::connect_failed:
    case errc::connect_timeout:
    case errc::proxy_failed:
    case errc::tls_handshake_failed:
    case errc::certificate_untrusted:
    case errc::certificate_expired:
    case errc::certificate_host_mismatch:
    case errc::certificate_pin_mismatch:
      return true;
    default:
      return false;
  }
}

AZID_DECL bool docker_unreachable(const HttpResponse& res) {
  // Case-sensitive, as @azure/identity does (managed-identity.md §4.2).
  return res.status == 403 && res.body.find("unreachable") != std::string::npos;
}

AZID_DECL std::chrono::milliseconds imds_backoff(const ImdsOptions& o, int n, double factor) {
  double ms = static_cast<double>(o.base_delay.count());
  for (int i = 1; i < n && ms < static_cast<double>(o.max_delay.count()); ++i) ms *= 2;
  ms = std::min(ms, static_cast<double>(o.max_delay.count())) * factor;
  return std::chrono::milliseconds(static_cast<long long>(std::llround(std::max(ms, 0.0))));
}

AZID_DECL TokenResult imds_not_assigned(const HttpResponse& res, const ManagedIdentityId& id) {
  // The guide's phrase, then the upstream detail and what to do (managed-identity.md §4.3).
  std::string msg =
      impl::prefix_unavailable() + "The requested identity hasn't been assigned to this resource.";
  if (id.user_assigned()) {
    msg += " Error: " + body_detail(res.body) +
           ". Check that the user-assigned identity's id is correct and that the identity is "
           "assigned to this "
           "virtual machine.";
  } else {
    msg += " No identity has been assigned to this resource. Error: " + body_detail(res.body) +
           ". Enable the system-assigned identity of this virtual machine, or name a user-assigned "
           "one.";
  }
  return impl::with_status(Failure::unavailable, std::move(msg), res.status);
}

AZID_DECL bool imds_resource_refused(const HttpResponse& res) {
  if (res.status != 400) return false;
  if (json_string_member(res.body, "error") == std::optional<std::string>("invalid_resource"))
    return true;
  if (res.body.find("AADSTS500011") != std::string::npos) return true;
  // "Required audience parameter not specified": no resource at all.
  std::string detail = body_detail(res.body);
  for (char& ch : detail)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return detail.find("audience parameter") != std::string::npos;
}

AZID_DECL TokenResult imds_bad_resource(const HttpResponse& res, std::string_view resource) {
  return impl::with_status(
      Failure::failed,
      impl::prefix_failed() + "IMDS refused the resource '" + printable(resource, 200) +
          "' (400): " + body_detail(res.body) +
          ". Check the scope requested: it must be the application ID URI of a resource that "
          "exists in the identity's tenant (e.g. https://management.azure.com/.default); the "
          "identity itself was not refused, so other resources can still be requested.",
      res.status);
}

AZID_DECL TokenResult imds_unreachable_network(const HttpResponse& res) {
  return impl::with_status(
      Failure::unavailable,
      impl::prefix_unavailable() + "The IMDS address answered 403 \"" + body_detail(res.body) +
          "\": this host (e.g. Docker Desktop) has no route to IMDS, so it is not an Azure VM.",
      res.status);
}

AZID_DECL TokenResult imds_probe_failed(std::string_view url, const std::error_code& ec) {
  if (connect_error(ec)) {
    // Nothing accepted the connection: this is not an Azure host (or pod identity is absent).
    return TokenResult::unavailable(
        credential_name, std::string(credential_name) +
                             " authentication unavailable, no managed identity endpoint found. "
                             "No managed identity endpoint found at " +
                             std::string(impl::without_query(url)) + " (" + ec.message() +
                             "); this host does not look like an Azure VM.");
  }
  return TokenResult::unavailable(
      credential_name, std::string(credential_name) +
                           " authentication unavailable, no response from the IMDS endpoint. "
                           "No response received from the managed identity endpoint " +
                           std::string(impl::without_query(url)) + " (" + ec.message() + ").");
}

AZID_DECL TokenResult imds_exhausted(const std::vector<Attempt>& attempts,
                                     std::chrono::milliseconds elapsed, bool within_chain,
                                     bool pod_identity) {
  std::string inner;
  int i = 0;
  bool all_silent = !attempts.empty();
  for (const auto& a : attempts) {
    ++i;
    inner += (i == 1 ? "" : "; ") + std::string("attempt ") + std::to_string(i) + ": ";
    inner += a.status == 0 ? "no response (" + a.detail + ")"
                           : std::to_string(a.status) + " " + a.detail;
    all_silent = all_silent && a.status == 0;
  }
  const int last = attempts.empty() ? 0 : attempts.back().status;
  const std::string summary =
      " Multiple attempts failed to obtain a token from the managed identity endpoint. (" +
      std::to_string(attempts.size()) + " attempts in " + std::to_string(elapsed.count() / 1000) +
      " s: " + inner + ")";
  if (all_silent) {
    std::string msg =
        impl::prefix_unavailable() + "No response received from the managed identity endpoint." +
        summary +
        " Check that IMDS is reachable from this host (see the README's Troubleshooting).";
    return within_chain ? TokenResult::unavailable(credential_name, std::move(msg))
                        : TokenResult::failed(credential_name, std::move(msg));
  }
  if (last == 502 || last == 504) {
    return impl::with_status(Failure::failed,
                             impl::prefix_unavailable() +
                                 "The request failed due to a gateway error." + summary +
                                 " Calls via proxy or gateway aren't supported by IMDS: disable "
                                 "proxies or gateways for requests to "
                                 "http://169.254.169.254/ (add it to NO_PROXY).",
                             last);
  }
  if (last == 404 && pod_identity) {
    // AKS pod identity (NMI) answers 404 until the pod's identity is ready (the guide's row). A
    // 404 from IMDS itself is only a transient one that outlasted the retries: the generic failure
    // below, which stops a chain.
    return impl::with_status(
        Failure::unavailable,
        impl::prefix_unavailable() + "No managed identity endpoint found." + summary +
            " With AKS pod identity this happens when the pod authenticates before its identity is "
            "assigned: "
            "check the pod's labels, and configure NMI to send Retry-After so clients wait for it.",
        last);
  }
  return impl::with_status(
      Failure::failed,
      impl::prefix_unavailable() + summary.substr(1) +
          " Check that managed identity is configured on this VM and that IMDS is reachable "
          "(see the README's Troubleshooting); the attempts above are the inner failures.",
      last);
}

AZID_DECL bool on_this_host(std::string_view url) noexcept {
  Url u;
  if (parse_url(url, u)) return false;
  std::string_view h = u.host;
  if (!h.empty() && h.back() == '.') h.remove_suffix(1);
  if (h == "localhost" || h == "::1") return true;
  in_addr a{};
  if (::inet_pton(AF_INET, u.host.c_str(), &a) == 1)
    return u.host.rfind("127.", 0) == 0 || u.host.rfind("169.254.", 0) == 0;
  in6_addr a6{};
  // fe80::/10, link-local: the first ten bits 1111111010.
  return ::inet_pton(AF_INET6, u.host.c_str(), &a6) == 1 && a6.s6_addr[0] == 0xfe &&
         (a6.s6_addr[1] & 0xc0) == 0x80;
}

AZID_DECL std::string arc_default_key_directory(const std::optional<std::string>& program_data) {
#if defined(__linux__)
  (void)program_data;
  return "/var/opt/azcmagent/tokens";
#elif defined(_WIN32)
  return program_data ? *program_data + "\\AzureConnectedMachineAgent\\Tokens" : std::string();
#else
  (void)program_data;
  return {};
#endif
}

AZID_DECL std::string arc_default_himds_path(const std::optional<std::string>& program_files) {
#if defined(__linux__)
  (void)program_files;
  return "/opt/azcmagent/bin/himds";
#elif defined(_WIN32)
  return program_files ? *program_files + "\\AzureConnectedMachineAgent\\himds.exe" : std::string();
#else
  (void)program_files;
  return {};
#endif
}

AZID_DECL std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr) != 1) return {};
  return hex_lower(md, n);
}

AZID_DECL TokenResult arc_key_file(const HttpResponse& challenge, std::string_view key_directory,
                                   std::string& path) {
  namespace fs = std::filesystem;
  constexpr std::string_view about =
      "The file specified in the 'WWW-Authenticate' header in the response from Azure Arc Managed "
      "Identity Endpoint";
  auto fail = [&](std::string what) {
    return impl::with_status(Failure::failed, impl::prefix_failed() + std::move(what),
                             challenge.status);
  };
  if (challenge.status != 401) {
    return fail("Azure Arc's managed identity endpoint answered " +
                std::to_string(challenge.status) + " (" + body_detail(challenge.body) +
                ") instead of the expected 401 challenge.");
  }
  if (!challenge.headers.contains("WWW-Authenticate"))
    return fail(
        "Did not receive expected 'WWW-Authenticate' header in the response from Azure Arc Managed "
        "Identity "
        "Endpoint.");
  const std::string_view header = challenge.headers.get("WWW-Authenticate");
  const auto eq = header.find('=');
  if (eq == std::string_view::npos || header.find('=', eq + 1) != std::string_view::npos)
    return fail(
        "The 'WWW-Authenticate' header in the response from Azure Arc Managed Identity Endpoint "
        "did not match "
        "the expected format.");
  const std::string_view given = header.substr(eq + 1);
  if (key_directory.empty()) return fail("Unsupported OS. Arc supports only Linux and Windows.");
  // A NUL would end the name the operating system sees before the one judged here; no control
  // character belongs in a key file's path.
  for (const char ch : given) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
      return fail(
          "The key file path is invalid: Unexpected file path from HIMDS service: it contains a "
          "control "
          "character. " +
          std::string(about) + " has an unexpected file path.");
  }

  // Judge the path as written: it must name a file directly inside the agent's key folder
  // (`..` segments are resolved first, so they cannot climb out of it).
  fs::path dir = fs::path(std::string(key_directory)).lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();
  const fs::path named = fs::path(std::string(given)).lexically_normal();
  if (given.empty() || named.parent_path() != dir || !named.has_filename())
    return fail("The key file path is invalid: Unexpected file path from HIMDS service: " +
                std::string(given) + ". " + std::string(about) + " has an unexpected file path.");
  if (named.extension() != ".key" || named.stem().empty())
    return fail("The key file path is invalid: The file path must have a '.key' extension.");
  // Rebuilt from the stem, as MSAL does, so nothing but the file name comes from the server.
  const fs::path file = dir / (named.stem().string() + ".key");
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(file, ec);
  if (ec || !fs::exists(st))
    return fail("The key file path is invalid: " + file.string() + " does not exist.");
  if (fs::is_symlink(st))
    return fail("The key file path is invalid: " + file.string() +
                " is a symbolic link; the Arc agent writes regular files, so this one is refused.");
  if (!fs::is_regular_file(st))
    return fail("The key file path is invalid: " + file.string() + " is not a regular file.");
  const auto size = fs::file_size(file, ec);
  if (ec) return fail("The key file path is invalid: " + file.string() + " cannot be read.");
  if (size > arc_key_max_bytes)
    return fail(
        "The key file path is invalid: The file size must be less than or equal to 4096 bytes. " +
        std::string(about) + " is larger than 4096 bytes.");
  path = file.string();
  return {};
}

}  // namespace detail::msi
AZID_END
