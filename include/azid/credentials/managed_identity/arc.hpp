// azid/credentials/managed_identity/arc.hpp: mi::AzureArc, Azure Arc-enabled servers (challenge
// and key file), a ManagedIdentityCredential source policy.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "azid/config.hpp"
#include "azid/core/error_code.hpp"
#include "azid/core/result.hpp"
#include "azid/credentials/managed_identity/options.hpp"
#include "azid/detail/managed_identity.hpp"
#include "azid/detail/names.hpp"

AZID_BEGIN
namespace mi {

/// Azure Arc (managed-identity.md §6). Detected by IDENTITY_ENDPOINT + IMDS_ENDPOINT, or by the
/// Arc agent (`himds`) being installed, then `http://localhost:40342/...`. Two requests:
///   1. `GET {endpoint}?api-version=2020-06-01&resource=R` with `Metadata: true`, answered 401
///      with `WWW-Authenticate: Basic realm=<key file path>`;
///   2. the same with `Authorization: Basic <key file contents>`.
/// The key file must sit directly in the agent's key folder, end in `.key`, be a regular file
/// (not a symbolic link) and hold at most 4096 bytes; it is checked on the file system before it
/// is read (through the platform's FileReader) and its contents are never logged.
/// User-assigned identities are not supported.
class AzureArc {
 public:
  static constexpr ManagedIdentitySource kind = ManagedIdentitySource::azure_arc;
  static constexpr int detection_rank = 3;
  static constexpr std::string_view requirement =
      "Azure Arc: IDENTITY_ENDPOINT and IMDS_ENDPOINT, or the Arc agent (himds) installed";

  template <class P>
  [[nodiscard]] static std::optional<AzureArc> detect(const P& platform,
                                                      const ManagedIdentityCredentialOptions& o) {
    const auto& env = platform.environment();
    std::string key_dir = o.arc_key_directory;
    if (key_dir.empty()) key_dir = detail::msi::arc_default_key_directory(env.get("ProgramData"));
    auto endpoint = env.get(names::identity_endpoint);
    if (endpoint && env.get(names::imds_endpoint)) {
      AzureArc s(std::move(*endpoint), std::move(key_dir));
      s.config_error_ = detail::msi::invalid_endpoint(kind, names::identity_endpoint, s.endpoint_);
      return s;
    }
    // Newer agents may not export the variables; the agent binary is the other sign of Arc.
    const std::string himds = o.arc_himds_path == "default"
                                  ? detail::msi::arc_default_himds_path(env.get("ProgramFiles"))
                                  : o.arc_himds_path;
    if (himds.empty()) return std::nullopt;
    std::error_code ec;
    (void)platform.files().read(himds, 0, ec);  // exists: reads nothing, or stops at "too large"
    if (ec == errc::file_not_found) return std::nullopt;
    return AzureArc(std::string(names::arc_default_endpoint), std::move(key_dir));
  }

  [[nodiscard]] static std::string unsupported_identity(const ManagedIdentityId& id) {
    if (!id.user_assigned()) return {};
    // [CPP]'s wording (managed-identity.md §6).
    return std::string(detail::msi::credential_name) +
           ": User assigned identity is not supported by the Azure Arc Managed Identity Endpoint. "
           "To authenticate "
           "with the system assigned identity, omit the client, object, or resource ID when "
           "constructing the "
           "ManagedIdentityCredential.";
  }

  [[nodiscard]] std::string describe() const {
    return "Azure Arc at " + endpoint_ + " (key folder " + key_dir_ + ")";
  }

  /// The first (challenge) request of a fetch; `fetch` and azid/async share the steps.
  [[nodiscard]] HttpRequest request(const detail::msi::Call& c) const {
    HttpRequest req;
    req.url = endpoint_;
    req.bypass_proxy = detail::msi::on_this_host(endpoint_);
    detail::msi::append_query(req.url, "api-version", names::arc_api_version);
    detail::msi::append_query(req.url, "resource", c.resource);
    req.headers.set(names::header_metadata, "true");
    return req;
  }

  /// The second step: checks the challenge's key file, reads it into `key` and adds it to `req`.
  template <class P>
  [[nodiscard]] TokenResult answer_challenge(const P& platform, HttpRequest& req,
                                             const HttpResponse& challenge,
                                             const std::error_code& challenge_ec,
                                             const detail::msi::Call& c, std::string& key) const {
    if (challenge_ec) return detail::msi::no_response(kind, req.url, challenge_ec, c.within_chain);
    std::string path;
    if (auto r = detail::msi::arc_key_file(challenge, key_dir_, path); r.failure() != Failure::none)
      return r;
    std::error_code ec;
    // A reader that can refuse a symbolic link at open time (PosixFileReader) closes the window
    // between arc_key_file's checks and this read; test doubles only have read().
    if constexpr (requires {
                    platform.files().read_regular(path, detail::msi::arc_key_max_bytes, ec);
                  })
      key = platform.files().read_regular(path, detail::msi::arc_key_max_bytes, ec);
    else
      key = platform.files().read(path, detail::msi::arc_key_max_bytes, ec);
    if (ec) {
      return TokenResult::failed(detail::msi::credential_name,
                                 std::string(detail::msi::credential_name) +
                                     " authentication failed. The Azure Arc key file " + path +
                                     " could not be read: " + ec.message() + ".");
    }
    req.headers.set("Authorization", "Basic " + key);
    return {};
  }

  /// What the keyed exchange comes to; the key is redacted from it, then wiped from `key` and `req`.
  [[nodiscard]] TokenResult result(HttpRequest& req, const HttpResponse& res,
                                   const std::error_code& ec,
                                   std::chrono::system_clock::time_point request_time,
                                   const detail::msi::Call& c, std::string& key) const {
    req.headers.erase("Authorization");
    // An endpoint that echoes the key in its error must not put it in the message.
    TokenResult r =
        detail::msi::secret_free_result(kind, req.url, res, ec, request_time, c.within_chain, key);
    key.assign(key.size(), '\0');  // best effort: do not leave the key lying around
    return r;
  }

  /// A configuration error (a malformed endpoint) that fails every fetch before any I/O, or an
  /// empty result.
  [[nodiscard]] TokenResult precheck() const { return detail::msi::config_failure(config_error_); }

  template <class P>
  [[nodiscard]] TokenResult fetch(const P& platform, const detail::msi::Call& c,
                                  detail::msi::State&) const {
    if (auto r = precheck(); r.failure() != Failure::none) return r;
    HttpRequest req = request(c);
    std::error_code ec;
    HttpResponse challenge = detail::msi::send_source(platform, req, c, ec);
    std::string key;
    if (auto r = answer_challenge(platform, req, challenge, ec, c, key);
        r.failure() != Failure::none)
      return r;
    const auto request_time = platform.clock().now();
    HttpResponse res = detail::msi::send_source(platform, req, c, ec);
    return result(req, res, ec, request_time, c, key);
  }

  [[nodiscard]] const std::string& key_directory() const noexcept { return key_dir_; }

 private:
  AzureArc(std::string endpoint, std::string key_dir)
      : endpoint_(std::move(endpoint)), key_dir_(std::move(key_dir)) {}
  std::string endpoint_;
  std::string key_dir_;
  std::string config_error_;
};

}  // namespace mi
AZID_END
