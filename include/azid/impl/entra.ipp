// azid/impl/entra.ipp: token endpoint request building and response interpretation.
#pragma once

#include <chrono>
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include <sys/random.h>
#include <sys/types.h>
#include <unistd.h>

#include "azid/core/error_code.hpp"
#include "azid/detail/entra.hpp"
#include "azid/detail/names.hpp"
#include "azid/detail/redact.hpp"
#include "azid/detail/sts_advice.hpp"
#include "azid/detail/token_json.hpp"
#include "azid/detail/url.hpp"
#include "azid/detail/validate.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN
namespace detail {

namespace entra_impl {
/// splitmix64: a fast generator with a 64-bit state. A request id needs uniqueness, not secrecy.
inline std::uint64_t next_random(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace entra_impl

AZID_DECL std::string new_uuid() {
  // 128 fresh bits from the kernel each time: a process forked after an earlier call must not
  // repeat its parent's ids (a repeated assertion jti may be refused as a replay). Should
  // getrandom fail, a per-thread splitmix64 state seeded from the clock, its own address and the
  // process id, advanced on every call.
  std::uint64_t bits[2];
  std::uint64_t hi = 0, lo = 0;
  if (::getrandom(bits, sizeof bits, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof bits)) {
    hi = bits[0];
    lo = bits[1];
  } else {
    thread_local std::uint64_t state = 0;
    thread_local pid_t owner = 0;
    if (const pid_t pid = ::getpid(); pid != owner) {  // first use, or a forked child
      owner = pid;
      state ^=
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
          reinterpret_cast<std::uintptr_t>(&state) ^ (static_cast<std::uint64_t>(pid) << 32);
    }
    hi = entra_impl::next_random(state);
    lo = entra_impl::next_random(state);
  }
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 60; i >= 0; i -= 4) {
    out.push_back(hex[(hi >> i) & 15]);
    if (i == 32 || i == 16) out.push_back('-');
  }
  out.push_back('-');
  for (int i = 60; i >= 0; i -= 4) {
    out.push_back(hex[(lo >> i) & 15]);
    if (i == 48) out.push_back('-');
  }
  return out;
}

AZID_DECL std::string token_endpoint(std::string_view authority, std::string_view tenant) {
  std::string url(authority);
  url.push_back('/');
  url.append(tenant);
  url.append(iequals(tenant, "adfs") ? "/oauth2/token" : "/oauth2/v2.0/token");
  return url;
}

AZID_DECL std::string request_claims(std::string_view claims, bool enable_cae) {
  if (!enable_cae) return std::string(claims);
  if (claims.empty()) return R"({"access_token":{"xms_cc":{"values":["CP1"]}}})";
  if (auto merged = merge_cae_capability(claims)) return *merged;
  return std::string(claims);  // not an object: pass it through and let the STS judge it
}

AZID_DECL void append_form(std::string& out, std::string_view key, std::string_view value) {
  if (!out.empty()) out.push_back('&');
  out += url_encode(key);
  out.push_back('=');
  out += url_encode(value);
}

AZID_DECL HttpRequest make_client_credentials_request(std::string_view endpoint,
                                                      std::string_view client_id,
                                                      const TokenRequestContext& ctx,
                                                      std::string_view auth_fields) {
  HttpRequest req;
  req.method = "POST";
  req.url.assign(endpoint);
  std::string scope;
  for (const auto& s : ctx.scopes) {
    if (!scope.empty()) scope.push_back(' ');
    scope += s;
  }
  // AD FS speaks v1: one scope is sent as its resource (as the Azure SDK for C++ does).
  constexpr std::string_view dot_default = "/.default";
  if (adfs_endpoint(endpoint) && ctx.scopes.size() == 1 && scope.ends_with(dot_default))
    scope.resize(scope.size() - dot_default.size());
  std::string& body = req.body;
  body.reserve(256 + auth_fields.size());
  append_form(body, "grant_type", names::grant_client_credentials);
  append_form(body, "client_id", client_id);
  append_form(body, "scope", scope);
  const std::string claims = request_claims(ctx.claims, ctx.enable_cae);
  if (!claims.empty()) append_form(body, "claims", claims);
  if (!auth_fields.empty()) {
    body.push_back('&');
    body.append(auth_fields);
  }
  req.headers.set("Content-Type", "application/x-www-form-urlencoded");
  req.headers.set("Accept", "application/json");
  req.headers.set("User-Agent", "azid/" AZID_VERSION_STRING " (cpp)");
  req.headers.set("x-client-sku", names::client_sku);
  req.headers.set("x-client-ver", AZID_VERSION_STRING);
  req.headers.set("x-client-os", "linux");
  req.headers.set("x-ms-lib-capability", "retry-after, h429");
  req.headers.set("client-request-id", new_uuid());
  req.headers.set("return-client-request-id", "true");
  return req;
}

namespace entra_impl {

inline std::string status_text(const HttpResponse& res) {
  std::string s = std::to_string(res.status);
  if (!res.reason.empty()) {
    s += ' ';
    s += res.reason;
  }
  return s;
}

/// An STS's error_description as the message quotes it: its line breaks (Entra puts the trace
/// and correlation ids on lines of their own) as single spaces, nothing a terminal would act on
/// (printable()), and at most 4 KiB, so a server cannot make every message and log line huge.
inline std::string description_text(std::string_view d) {
  constexpr std::size_t max_bytes = 4096;
  std::string flat;
  flat.reserve(std::min(d.size(), max_bytes));
  bool cut = false;
  for (char c : d) {
    const bool space = c == '\r' || c == '\n' || c == '\t';
    if (space && (flat.empty() || flat.back() == ' ')) continue;
    if (flat.size() == max_bytes) {
      cut = true;
      break;
    }
    flat.push_back(space ? ' ' : c);
  }
  if (cut) {  // no half of a UTF-8 sequence at the cut (printable() would show it as '?')
    std::size_t end = flat.size();
    std::size_t lead = end;
    while (lead > 0 && (static_cast<unsigned char>(flat[lead - 1]) & 0xC0) == 0x80) --lead;
    if (lead > 0 && static_cast<unsigned char>(flat[lead - 1]) >= 0xC0) {
      const unsigned char b = static_cast<unsigned char>(flat[lead - 1]);
      const std::size_t want = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
      if (end - (lead - 1) < want) end = lead - 1;
    }
    flat.resize(end);
  }
  while (!flat.empty() && flat.back() == ' ') flat.pop_back();
  std::string out = printable(flat, max_bytes);
  if (cut) out += "...";
  return out;
}

}  // namespace entra_impl

AZID_DECL TokenResult token_result(std::string_view credential, std::string_view endpoint,
                                   const HttpResponse& res, const std::error_code& ec,
                                   std::chrono::system_clock::time_point request_time,
                                   Failure sts_failure) {
  const std::string cred(credential);
  if (ec) {
    ErrorInfo info{
        .credential = cred,
        .message = cred +
                   " authentication failed: could not get a response from the token endpoint " +
                   std::string(endpoint) + ": " + ec.message() + "."};
    if (ec == make_error_code(errc::certificate_untrusted) ||
        ec == make_error_code(errc::certificate_host_mismatch))
      info.message +=
          " The server's TLS certificate was refused; if a proxy or private authority host is in "
          "use, make its CA "
          "trusted (SSL_CERT_FILE or SSL_CERT_DIR).";
    else if (ec == make_error_code(errc::certificate_expired))
      info.message +=
          " The server's TLS certificate was refused because of its validity dates: check this "
          "machine's clock, "
          "and if a proxy or private authority host is in use, renew its certificate.";
    return TokenResult::error(Failure::failed, std::move(info));
  }
  if (res.status == 200) {
    ParsedToken parsed;
    if (auto perr = parse_token_json(res.body, parsed)) {
      ErrorInfo info{
          .credential = cred,
          .message = cred +
                     " authentication failed: Unexpected response from Microsoft Entra ID (" +
                     perr.message() + "): " + scrub_body(res.body),
          .http_status = res.status};
      return TokenResult::error(Failure::failed, std::move(info));
    }
    auto token = std::make_shared<AccessToken>();
    if (auto terr = make_access_token(std::move(parsed), request_time, *token)) {
      ErrorInfo info{
          .credential = cred,
          .message = cred +
                     " authentication failed: Unexpected response from Microsoft Entra ID (" +
                     terr.message() + "): " + scrub_body(res.body),
          .http_status = res.status};
      return TokenResult::error(Failure::failed, std::move(info));
    }
    return TokenResult(std::shared_ptr<const AccessToken>(std::move(token)));
  }
  StsError sts;
  if (!parse_sts_error(res.body, sts)) {
    ErrorInfo info{.credential = cred,
                   .message = cred + " authentication failed: the token endpoint answered " +
                              entra_impl::status_text(res) +
                              (res.body.empty() ? std::string(" with an empty body.")
                                                : ": " + scrub_body(res.body)),
                   .http_status = res.status};
    return TokenResult::error(Failure::failed, std::move(info));
  }
  sts.error_description = redact_echoed_secrets(sts.error_description);
  // `<Cred> authentication failed: <error>: <code> - <description>` (errors-and-logging.md §3),
  // then the guide's description of the code and what to do.
  std::string msg = cred + " authentication failed: " + sts.error;
  if (sts.code() != 0) msg += ": " + std::to_string(sts.code());
  if (!sts.error_description.empty())
    msg += " - " + entra_impl::description_text(sts.error_description);
  for (long long code : sts.error_codes) {
    if (const StsAdvice* a = find_sts_advice(code)) {
      msg += "\n";
      msg += a->issue;
      msg += " To fix: ";
      msg += a->mitigation;
      msg += " See the azid troubleshooting guide, section \"" + cred + "\".";
      break;
    }
  }
  Failure kind = sts_failure;
  if (sts.error == "interaction_required" || sts.error == "login_required" ||
      sts.error == "consent_required")
    kind = Failure::auth_required;
  ErrorInfo info{.credential = cred, .message = std::move(msg), .http_status = res.status};
  if (kind == Failure::auth_required) info.claims = sts.claims;  // the scopes: the caller's
  info.sts = std::move(sts);
  return TokenResult::error(kind, std::move(info));
}

AZID_DECL TokenResult resolve_tenant(std::string_view credential, std::string_view configured,
                                     std::string_view requested,
                                     const std::vector<std::string>& allowed,
                                     bool multitenant_disabled, std::string_view& out,
                                     TenantDecision* decision) {
  if (requested.empty() || iequals(requested, configured)) {
    out = configured;
    return {};
  }
  if (!valid_tenant_id(requested))
    return TokenResult::invalid_argument(credential, std::string(invalid_tenant_message));
  // (The requested tenant is valid here, so it may be quoted: letters, digits, '-' and '.'.)
  if (iequals(configured, "adfs") || multitenant_disabled) {
    out = configured;
    if (decision != nullptr)
      *decision = multitenant_disabled ? TenantDecision::kept_multitenant_disabled
                                       : TenantDecision::kept_adfs;
    return {};
  }
  if (configured.empty()) {
    out = requested;
    return {};
  }
  for (const auto& a : allowed) {
    if (a == "*" || iequals(a, requested)) {
      out = requested;
      if (decision != nullptr)
        *decision = a == "*" ? TenantDecision::allowed_any : TenantDecision::allowed_by_name;
      return {};
    }
  }
  std::string msg = std::string(credential) +
                    ": The current credential is not configured to acquire tokens for tenant " +
                    std::string(requested) +
                    ". To enable acquiring tokens for this tenant add it to the "
                    "additionally_allowed_tenants when "
                    "creating the credential, or add \"*\" to additionally_allowed_tenants to "
                    "allow acquiring tokens "
                    "for any tenant. (Environment-configured credentials also read "
                    "AZURE_ADDITIONALLY_ALLOWED_TENANTS.)";
  return TokenResult::failed(credential, std::move(msg));
}

AZID_DECL std::string tenant_decision_line(std::string_view credential, TenantDecision decision,
                                           std::string_view configured,
                                           std::string_view requested) {
  // (Both tenants passed valid_tenant_id, so they may be quoted: letters, digits, '-' and '.'.)
  const std::string who(credential);
  switch (decision) {
    case TenantDecision::none:
      return {};
    case TenantDecision::kept_multitenant_disabled:
    case TenantDecision::kept_adfs:
      return who + ": a token was requested for tenant " + std::string(requested) + "; " +
             (configured.empty() ? std::string("the tool's own default tenant")
                                 : "the configured tenant " + std::string(configured)) +
             " is used instead, because " +
             (decision == TenantDecision::kept_adfs
                  ? "an ADFS authority serves one tenant"
                  : "AZURE_IDENTITY_DISABLE_MULTITENANTAUTH is set");
    case TenantDecision::allowed_by_name:
    case TenantDecision::allowed_any:
      return who + ": getting a token for tenant " + std::string(requested) +
             " (not the configured one), which additionally_allowed_tenants allows" +
             (decision == TenantDecision::allowed_any ? " (\"*\")" : "");
  }
  return {};
}

AZID_DECL std::vector<std::string> split_tenant_list(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    const auto semi = value.find(';');
    std::string_view item = value.substr(0, semi);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (semi == std::string_view::npos) break;
    value.remove_prefix(semi + 1);
  }
  return out;
}

}  // namespace detail
AZID_END
