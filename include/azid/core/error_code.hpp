// azid/core/error_code.hpp: azid::errc, the std::error_code category of transport, HTTP and parse failures.
#pragma once

#include <string>
#include <system_error>
#include <type_traits>

#include "azid/config.hpp"

AZID_BEGIN

/// Failures below the credential layer. Transports, the HTTP codec and parsers report
/// these through std::error_code; credentials turn them into ClientAuthenticationError.
enum class errc {
  ok = 0,
  invalid_url = 1,            ///< URL is malformed or has an unsupported scheme
  resolve_failed,             ///< host name could not be resolved
  connect_failed,             ///< TCP connection refused or unreachable
  connect_timeout,            ///< TCP connect (or proxy tunnel) did not finish in time
  timeout,                    ///< the exchange did not finish within the request timeout
  tls_handshake_failed,       ///< TLS handshake failed (protocol, cipher, alert)
  certificate_untrusted,      ///< the server certificate did not verify against the trust store
  certificate_host_mismatch,  ///< the certificate does not name the host we connected to
  certificate_pin_mismatch,   ///< the certificate does not match the pinned thumbprint
  connection_closed,          ///< the peer closed or reset the connection before a full response
  malformed_response,         ///< the bytes received are not a valid HTTP/1.1 response
  headers_too_large,          ///< response headers exceed the limit
  body_too_large,             ///< response body exceeds HttpRequest::max_body_bytes
  proxy_failed,               ///< the proxy refused the CONNECT tunnel (407, another 4xx, not HTTP)
  io_error,                   ///< another socket error
  malformed_json,             ///< a response body is not the JSON expected
  missing_field,              ///< a required JSON field is absent
  invalid_expiry,             ///< an expiry value is missing, unparseable or absurd
  file_not_found,             ///< a file could not be opened
  file_too_large,             ///< a file exceeds the size allowed for it
  file_read_failed,           ///< a file could not be read
  process_not_found,          ///< the program is not on PATH (or not executable)
  process_spawn_failed,       ///< the program could not be started
  process_timeout,            ///< the process did not finish in time and was killed
  process_output_too_large,   ///< the process wrote more than the limit and was killed
  certificate_expired,  ///< the server certificate has expired or is not valid yet (check the clock)
  proxy_unusable,       ///< the proxy setting is not an http:// URL azid can use
  file_access_denied,   ///< a file exists but this process may not read it
  file_not_regular,     ///< a path names a directory, or a link or special file where refused
  invalid_token,  ///< an access token or token type holds bytes a header cannot carry (space, CR/LF)
  resolve_temporary_failure,  ///< the name lookup failed this time (EAI_AGAIN); worth retrying
  proxy_temporary_failure,    ///< the proxy answered CONNECT with 408 or 5xx; worth retrying
};

namespace detail {
class errc_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "azid"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok:
        return "success";
      case errc::invalid_url:
        return "invalid URL";
      case errc::resolve_failed:
        return "host name could not be resolved";
      case errc::connect_failed:
        return "connection refused or unreachable";
      case errc::connect_timeout:
        return "connection attempt timed out";
      case errc::timeout:
        return "request timed out";
      case errc::tls_handshake_failed:
        return "TLS handshake failed";
      case errc::certificate_untrusted:
        return "server certificate is not trusted";
      case errc::certificate_host_mismatch:
        return "server certificate does not match the host name";
      case errc::certificate_pin_mismatch:
        return "server certificate does not match the pinned thumbprint";
      case errc::connection_closed:
        return "connection closed before the response was complete";
      case errc::malformed_response:
        return "malformed HTTP response";
      case errc::headers_too_large:
        return "HTTP response headers too large";
      case errc::body_too_large:
        return "HTTP response body too large";
      case errc::proxy_failed:
        return "proxy refused the tunnel";
      case errc::io_error:
        return "I/O error";
      case errc::malformed_json:
        return "malformed JSON";
      case errc::missing_field:
        return "required field missing";
      case errc::invalid_expiry:
        return "invalid token expiry";
      case errc::file_not_found:
        return "file not found";
      case errc::file_too_large:
        return "file too large";
      case errc::file_read_failed:
        return "read error, or no data arrived in time";
      case errc::process_not_found:
        return "program not found on PATH";
      case errc::process_spawn_failed:
        return "program could not be started";
      case errc::process_timeout:
        return "process timed out and was killed";
      case errc::process_output_too_large:
        return "process output too large";
      case errc::certificate_expired:
        return "server certificate has expired or is not valid yet";
      case errc::proxy_unusable:
        return "the proxy setting (HTTPS_PROXY / HTTP_PROXY) is not an http:// proxy URL";
      case errc::file_access_denied:
        return "permission denied";
      case errc::file_not_regular:
        return "not a regular file (a directory, symbolic link or special file)";
      case errc::invalid_token:
        return "the token holds a space, a control character or a non-ASCII byte, which no "
               "bearer token has";
      case errc::resolve_temporary_failure:
        return "host name could not be resolved for now (temporary DNS failure)";
      case errc::proxy_temporary_failure:
        return "the proxy could not open the tunnel for now (it answered 408 or 5xx)";
    }
    return "unknown azid error";
  }
};
}  // namespace detail

[[nodiscard]] inline const std::error_category& error_category() noexcept {
  static const detail::errc_category_impl cat;
  return cat;
}
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

AZID_END

template <>
struct std::is_error_code_enum<azid::errc> : std::true_type {};
