// azid/detail/http1.hpp: sans-I/O HTTP/1.1 client codec (request serializer, incremental response parser).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "azid/config.hpp"
#include "azid/core/error_code.hpp"
#include "azid/detail/url.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN
namespace detail {

/// Writes the request line, header block and body of `request` for `url`.
///
/// Adds `Host` (unless the caller set one) and `Content-Length` whenever there is a body or the
/// method is POST, PUT or PATCH (servers such as IMDS's front ends answer 411 otherwise); a
/// caller's own Content-Length or Transfer-Encoding is replaced, because the body we write is
/// the only truth. Adds `Connection: keep-alive` unless the caller set `Connection`. Other
/// caller headers are written in order. CR, LF and NUL inside header names or values are
/// written as spaces so that a value can never start a header of its own.
///
/// `absolute_form_for_proxy` writes `http://host:port/path` as the request target, as a
/// forward proxy expects for plain-HTTP requests (RFC 9112 §3.2.2).
[[nodiscard]] AZID_DECL std::string serialize_request(const HttpRequest& request, const Url& url,
                                                      bool absolute_form_for_proxy);

/// Incremental HTTP/1.1 response parser. Feed it whatever bytes arrive with `put`, and call
/// `put_eof` when the peer closes. It performs no I/O and never reads past the end of the
/// response, so bytes left over after `done()` belong to whatever follows on the connection.
///
/// Limits: the status line plus header fields (and, for chunked bodies, the trailer) may not
/// exceed `max_header_bytes` (errc::headers_too_large); the body may not exceed
/// `max_body_bytes` (errc::body_too_large), which is enforced as soon as a Content-Length or a
/// chunk size announces more, before any of it is read. Anything that is not a well-framed
/// response (obs-fold, bad Content-Length, conflicting framing, bad chunk syntax) fails with
/// errc::malformed_response, and an early close with errc::connection_closed.
///
/// Interim 1xx responses are skipped. 204, 304 and any response to HEAD or CONNECT (the
/// `head_or_connect_request` flag) have no body. Once an error is reported the parser stays
/// failed. On completion `response().body` keeps at least 64 bytes of spare capacity, the
/// padding simdjson wants to read past the end.
///
/// Not thread-safe; one parser per response.
class ResponseParser {
 public:
  /// Spare capacity guaranteed after the body on completion (simdjson's SIMDJSON_PADDING).
  static constexpr std::size_t body_padding = 64;

  AZID_DECL ResponseParser(std::size_t max_header_bytes, std::size_t max_body_bytes,
                           bool head_or_connect_request) noexcept;

  /// Consumes a prefix of `bytes` and returns its length. Everything is consumed unless the
  /// response completes (the rest is not part of it) or an error is set in `ec`.
  AZID_DECL std::size_t put(std::string_view bytes, std::error_code& ec);

  /// Tells the parser the peer closed the connection. Completes a body delimited by the close;
  /// anywhere else before completion sets errc::connection_closed. No-op once done.
  AZID_DECL void put_eof(std::error_code& ec);

  /// True while reading a body that only the peer's close ends (no Content-Length, not chunked).
  /// Over TLS such a close must be a close_notify: a bare TCP close may be a truncation.
  [[nodiscard]] bool reading_to_close() const noexcept { return state_ == State::body_eof; }
  /// True once the final response has been read completely.
  [[nodiscard]] bool done() const noexcept { return state_ == State::done; }
  /// True once any byte has been fed, interim responses included.
  [[nodiscard]] bool started() const noexcept { return started_; }
  /// The response (the final one; interim 1xx responses are discarded). Complete once done().
  [[nodiscard]] HttpResponse& response() noexcept { return response_; }
  /// Whether the connection may carry another request after this response: HTTP/1.1 without
  /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`, and a body that is not
  /// delimited by the close. Meaningful once done().
  [[nodiscard]] bool keep_alive() const noexcept { return keep_alive_ && !body_to_eof_; }

 private:
  enum class State : std::uint8_t {
    status_line,
    header_line,
    body_length,
    body_eof,
    chunk_size,
    chunk_data,
    chunk_data_end,
    trailer_line,
    done,
    failed,
  };

  AZID_DECL std::error_code fail(errc e) noexcept;
  AZID_DECL std::error_code on_line(std::string_view line);
  AZID_DECL std::error_code on_status_line(std::string_view line);
  AZID_DECL std::error_code on_header_line(std::string_view line);
  AZID_DECL std::error_code on_headers_complete();
  AZID_DECL std::error_code on_chunk_size_line(std::string_view line);
  AZID_DECL void finish();

  std::size_t max_header_bytes_;
  std::size_t max_body_bytes_;
  bool no_body_request_;

  State state_ = State::status_line;
  bool started_ = false;
  bool keep_alive_ = true;
  bool body_to_eof_ = false;
  int minor_version_ = 1;
  std::size_t header_bytes_ = 0;  // bytes of the current header block (or trailer) so far
  std::uint64_t remaining_ = 0;   // body or chunk bytes still expected
  std::string line_;              // the line being assembled across put() calls
  std::error_code error_;         // sticky once failed
  HttpResponse response_;
};

}  // namespace detail
AZID_END

#if defined(AZID_HEADER_ONLY)
#include "azid/impl/http1.ipp"
#endif
