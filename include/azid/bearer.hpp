// azid/bearer.hpp: BearerTokenAuthorizer<C>, bearer-token authorization for any HTTP client over
// any Credential, with claims-challenge (CAE) handling; send_with_bearer for a Transport (light).
#pragma once

#include <chrono>
#include <concepts>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/errors.hpp"
#include "azid/core/result.hpp"
#include "azid/detail/challenge.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN

/// What a BearerTokenAuthorizer asks its credential for.
struct BearerOptions {
  /// The resource's scopes, e.g. `https://vault.azure.net/.default`; at least one.
  std::vector<std::string> scopes{};
  /// Tenant to request tokens in; empty: the credential's own.
  std::string tenant_id{};
  /// Declare Continuous Access Evaluation support (client capability CP1). Resources then send
  /// revocation challenges, which on_challenge answers. Claims challenges for Conditional Access
  /// authentication contexts are answered either way.
  bool enable_cae = false;
  /// Refuse to put a token on a request whose URL is not https:// (anyone on the path could
  /// replay it). Turn off only for a plain-HTTP server on loopback in a test.
  bool enforce_https = true;
  /// A cached token is put on a request only while it stays valid this long (the request's
  /// TokenRequestContext::min_validity): when refreshes have kept failing and the token is about
  /// to expire, authorize() reports the failure instead of sending a token the resource will
  /// refuse. 30 s rather than the spec's 300 s: the credential starts refreshing 300 s before
  /// expiry, and a 300 s minimum would block every caller during every refresh, where 30 s
  /// blocks none unless the refreshes have failed for four and a half minutes.
  std::chrono::seconds min_validity{30};
};

/// Adds `Authorization: Bearer <token>` to requests of the caller's own HTTP client and answers
/// claims challenges. Tokens come from the credential's own cache (refreshed ahead of expiry by
/// the credential; this class keeps no second cache), so calling authorize() before every request
/// is cheap.
///
/// Protocol (caching-and-tenants.md §4): authorize(), send; on a 401 whose WWW-Authenticate holds
/// `Bearer ... error="insufficient_claims", claims="<base64 JSON>"`, on_challenge() gets a new
/// token with those claims (bypassing and then replacing the cached one), puts it on the request
/// and returns true: send once more. Call on_challenge() for the first response only; a second
/// 401 goes back to the caller (send_with_bearer does exactly this). Any other response, a 401
/// without a claims challenge, or a malformed header returns false.
///
/// Holds a reference: the credential must outlive the authorizer. Thread-safe when the
/// credential is (all azid credentials are). `C` models Credential.
template <Credential C>
class BearerTokenAuthorizer {
 public:
  /// @throws std::invalid_argument when `options.scopes` is empty.
  BearerTokenAuthorizer(const C& credential, BearerOptions options)
      : credential_(&credential), options_(std::move(options)) {
    if (options_.scopes.empty())
      throw std::invalid_argument("BearerTokenAuthorizer: at least one scope is required");
    ctx_.scopes = options_.scopes;
    ctx_.tenant_id = options_.tenant_id;
    ctx_.enable_cae = options_.enable_cae;
    ctx_.min_validity = options_.min_validity;
  }
  BearerTokenAuthorizer(const C& credential, std::vector<std::string> scopes)
      : BearerTokenAuthorizer(credential, options_with(std::move(scopes))) {}

  /// Sets the Authorization header of `request`.
  /// @throws std::invalid_argument for a non-https URL (with enforce_https);
  ///         ClientAuthenticationError (or a subclass) when the credential fails.
  void authorize(HttpRequest& request) const {
    authorize(request.url,
              [&](std::string_view n, std::string_view v) { request.headers.set(n, v); });
  }

  /// Calls `set("Authorization", "Bearer <token>")` for a request to `url`: the hook for any
  /// HTTP client (libcurl, Beast, cpr...). `set` is invoked once, synchronously.
  /// @throws as the overload above.
  template <class SetHeader>
  requires std::invocable<SetHeader&, std::string_view, std::string_view>
  void authorize(std::string_view url, SetHeader&& set) const {
    check_url(url);
    apply(credential_->try_get_token(ctx_), set);
  }

  /// Looks at the response to a request authorize() prepared. When it is a 401 carrying a claims
  /// challenge, gets a token with those claims, sets it on `request` and returns true (send the
  /// request once more). Otherwise returns false and leaves `request` alone. Every
  /// WWW-Authenticate field of the response is considered.
  /// @throws ClientAuthenticationError (or a subclass) when the credential cannot satisfy the
  ///         claims, e.g. AzureCliCredential's "run az login --claims-challenge" hint.
  [[nodiscard]] bool on_challenge(HttpRequest& request, const HttpResponse& response) const {
    if (response.status != 401) return false;
    for (const auto& [name, value] : response.headers.fields()) {
      if (!iequals(name, "WWW-Authenticate")) continue;
      if (on_challenge(request.url, response.status, value,
                       [&](std::string_view n, std::string_view v) { request.headers.set(n, v); }))
        return true;
    }
    return false;
  }

  /// The same for any HTTP client: `status` and one WWW-Authenticate value of the response;
  /// on true, `set` has been called with the new Authorization header.
  template <class SetHeader>
  requires std::invocable<SetHeader&, std::string_view, std::string_view>
  [[nodiscard]] bool on_challenge(std::string_view url, int status,
                                  std::string_view www_authenticate, SetHeader&& set) const {
    if (status != 401) return false;
    std::optional<std::string> claims = detail::claims_from_challenge(www_authenticate);
    if (!claims) return false;
    check_url(url);
    TokenRequestContext ctx = ctx_;
    ctx.claims = std::move(*claims);
    apply(credential_->try_get_token(ctx), set);
    return true;
  }

  [[nodiscard]] const BearerOptions& options() const noexcept { return options_; }
  [[nodiscard]] const C& credential() const noexcept { return *credential_; }

 private:
  static BearerOptions options_with(std::vector<std::string> scopes) {
    BearerOptions o;
    o.scopes = std::move(scopes);
    return o;
  }

  void check_url(std::string_view url) const {
    if (!options_.enforce_https) return;
    if (url.size() >= 8 && iequals(url.substr(0, 8), "https://")) return;
    // The URL is not quoted: its query may hold a signature.
    throw std::invalid_argument(
        "BearerTokenAuthorizer: refusing to send a bearer token to a URL that is not https://; "
        "anyone on the path could reuse it (BearerOptions::enforce_https)");
  }

  template <class SetHeader>
  static void apply(const TokenResult& r, SetHeader& set) {
    const AccessToken& t = r.value();  // throws the credential's error
    // azid's credentials refuse such tokens already; a custom credential may not.
    if (!header_safe_token(t.token))
      throw ClientAuthenticationError(ErrorInfo{
          .credential = "BearerTokenAuthorizer",
          .message =
              "BearerTokenAuthorizer: the credential returned a token with a space, a control "
              "character or a non-ASCII byte (or an empty one); it is not put on the request, "
              "where a CR or LF would start a header of its own. Check the credential that made "
              "it."});
    std::string header;
    header.reserve(7 + t.token.size());
    header.append("Bearer ").append(t.token);
    set(std::string_view("Authorization"), std::string_view(header));
  }

  const C* credential_;
  BearerOptions options_;
  TokenRequestContext ctx_;
};

template <class C>
BearerTokenAuthorizer(const C&, BearerOptions) -> BearerTokenAuthorizer<C>;
template <class C>
BearerTokenAuthorizer(const C&, std::vector<std::string>) -> BearerTokenAuthorizer<C>;

/// Sends `request` through `transport` with a bearer token, answering one claims challenge:
/// authorize, send, and on a 401 claims challenge get a token with the claims and send once
/// more. Returns the last response (a second 401 included). I/O failures set `ec` (the response
/// is then empty), as Transport::send does.
/// @throws as BearerTokenAuthorizer::authorize and on_challenge.
template <Transport T, Credential C>
[[nodiscard]] HttpResponse send_with_bearer(T& transport, HttpRequest request,
                                            const BearerTokenAuthorizer<C>& authorizer,
                                            std::error_code& ec) {
  ec.clear();
  authorizer.authorize(request);
  HttpResponse response = transport.send(request, ec);
  if (!ec && authorizer.on_challenge(request, response)) response = transport.send(request, ec);
  return response;
}

/// The same with a one-off authorizer over `credential`.
template <Transport T, Credential C>
[[nodiscard]] HttpResponse send_with_bearer(T& transport, HttpRequest request, const C& credential,
                                            BearerOptions options, std::error_code& ec) {
  const BearerTokenAuthorizer<C> authorizer(credential, std::move(options));
  return send_with_bearer(transport, std::move(request), authorizer, ec);
}

AZID_END
