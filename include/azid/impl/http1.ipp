// azid/impl/http1.ipp: definitions for azid/detail/http1.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "azid/detail/http1.hpp"

AZID_BEGIN
namespace detail {
namespace http1_impl {

// A chunk-size line is a few hex digits plus extensions nobody sends us; anything longer than
// this is a peer trying to make us buffer without bound.
inline constexpr std::size_t max_chunk_line = 4096;

constexpr bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}
// Field values may hold visible ASCII, SP, HTAB and obs-text, never other control bytes.
constexpr bool is_bad_value_byte(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && u != '\t') || u == 0x7f;
}
constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Calls f(token) for each trimmed, non-empty element of a comma-separated list.
template <class F>
void for_each_list_item(std::string_view list, F&& f) {
  while (true) {
    const std::size_t comma = list.find(',');
    const std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

// Appends s with CR, LF and NUL turned into spaces: the only bytes that could end a header
// line early or smuggle a second one into the request.
inline void append_sanitized(std::string& out, std::string_view s) {
  for (char c : s) out.push_back((c == '\r' || c == '\n' || c == '\0') ? ' ' : c);
}

inline void append_host_port(std::string& out, const Url& url) {
  if (is_ipv6_host(url)) {
    out.push_back('[');
    out.append(url.host);
    out.push_back(']');
  } else {
    out.append(url.host);
  }
  const bool default_port =
      (url.scheme == "https" && url.port == 443) || (url.scheme == "http" && url.port == 80);
  if (!default_port) {
    out.push_back(':');
    out.append(std::to_string(url.port));
  }
}

}  // namespace http1_impl

AZID_DECL std::string serialize_request(const HttpRequest& request, const Url& url,
                                        bool absolute_form_for_proxy) {
  using namespace http1_impl;
  std::string out;
  out.reserve(256 + request.url.size() + request.body.size());
  append_sanitized(out, request.method.empty() ? std::string_view{"GET"} : request.method);
  out.push_back(' ');
  if (absolute_form_for_proxy) {
    out.append(url.scheme);
    out.append("://");
    append_host_port(out, url);
  }
  out.append(url.target);
  out.append(" HTTP/1.1\r\n");

  if (!request.headers.contains("Host")) {
    out.append("Host: ");
    append_host_port(out, url);
    out.append("\r\n");
  }
  for (const auto& [name, value] : request.headers.fields()) {
    if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding")) continue;
    append_sanitized(out, name);
    out.append(": ");
    append_sanitized(out, value);
    out.append("\r\n");
  }
  const bool wants_length = !request.body.empty() || iequals(request.method, "POST") ||
                            iequals(request.method, "PUT") || iequals(request.method, "PATCH");
  if (wants_length) {
    out.append("Content-Length: ");
    out.append(std::to_string(request.body.size()));
    out.append("\r\n");
  }
  if (!request.headers.contains("Connection")) out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
  out.append(request.body);
  return out;
}

AZID_DECL ResponseParser::ResponseParser(std::size_t max_header_bytes, std::size_t max_body_bytes,
                                         bool head_or_connect_request) noexcept
    : max_header_bytes_(max_header_bytes),
      max_body_bytes_(max_body_bytes),
      no_body_request_(head_or_connect_request) {}

AZID_DECL std::error_code ResponseParser::fail(errc e) noexcept {
  state_ = State::failed;
  error_ = make_error_code(e);
  return error_;
}

AZID_DECL void ResponseParser::finish() {
  state_ = State::done;
  std::string& body = response_.body;
  if (body.capacity() < body.size() + body_padding) body.reserve(body.size() + body_padding);
}

AZID_DECL std::size_t ResponseParser::put(std::string_view bytes, std::error_code& ec) {
  using namespace http1_impl;
  ec.clear();
  if (state_ == State::failed) {
    ec = error_;
    return 0;
  }
  if (!bytes.empty()) started_ = true;

  std::size_t pos = 0;
  while (pos < bytes.size() && state_ != State::done) {
    switch (state_) {
      case State::status_line:
      case State::header_line:
      case State::trailer_line:
      case State::chunk_size:
      case State::chunk_data_end: {
        const std::size_t nl = bytes.find('\n', pos);
        const std::size_t take = (nl == std::string_view::npos ? bytes.size() : nl + 1) - pos;
        if (state_ == State::chunk_size || state_ == State::chunk_data_end) {
          if (line_.size() + take > max_chunk_line) {
            ec = fail(errc::malformed_response);
            return pos;
          }
        } else {
          // Counted before buffering, so an endless header line is refused at the limit
          // rather than after it has filled memory.
          header_bytes_ += take;
          if (header_bytes_ > max_header_bytes_) {
            ec = fail(errc::headers_too_large);
            return pos;
          }
        }
        line_.append(bytes.substr(pos, take));
        pos += take;
        if (nl == std::string_view::npos) break;

        std::string_view line = line_;
        line.remove_suffix(1);  // '\n'
        // CRLF is the norm; a bare LF is tolerated as RFC 9112 §2.2 allows recipients to.
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        ec = on_line(line);
        line_.clear();
        if (ec) return pos;
        break;
      }
      case State::body_length:
      case State::chunk_data: {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size() - pos));
        response_.body.append(bytes.substr(pos, n));
        pos += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          if (state_ == State::body_length)
            finish();
          else
            state_ = State::chunk_data_end;
        }
        break;
      }
      case State::body_eof: {
        const std::size_t n = bytes.size() - pos;
        if (n > max_body_bytes_ - response_.body.size()) {
          ec = fail(errc::body_too_large);
          return pos;
        }
        response_.body.append(bytes.substr(pos));
        pos = bytes.size();
        break;
      }
      case State::done:
      case State::failed:
        return pos;
    }
  }
  return pos;
}

AZID_DECL void ResponseParser::put_eof(std::error_code& ec) {
  ec.clear();
  switch (state_) {
    case State::done:
      return;
    case State::failed:
      ec = error_;
      return;
    case State::body_eof:
      finish();
      return;
    default:
      ec = fail(errc::connection_closed);
      return;
  }
}

AZID_DECL std::error_code ResponseParser::on_line(std::string_view line) {
  switch (state_) {
    case State::status_line:
      return on_status_line(line);
    case State::header_line:
      return line.empty() ? on_headers_complete() : on_header_line(line);
    case State::chunk_size:
      return on_chunk_size_line(line);
    case State::chunk_data_end:
      // The CRLF after chunk data carries nothing else; extra bytes mean the size lied.
      if (!line.empty()) return fail(errc::malformed_response);
      state_ = State::chunk_size;
      return {};
    case State::trailer_line:
      if (line.empty()) {
        finish();
        return {};
      }
      // Trailer fields are checked for shape and dropped: nothing we read lives there.
      if (http1_impl::is_ows(line.front()) || line.find(':') == std::string_view::npos ||
          line.front() == ':')
        return fail(errc::malformed_response);
      return {};
    default:
      return fail(errc::malformed_response);
  }
}

AZID_DECL std::error_code ResponseParser::on_status_line(std::string_view line) {
  // HTTP-version SP 3DIGIT [SP reason-phrase]
  constexpr std::string_view prefix = "HTTP/1.";
  if (line.size() < 12 || line.substr(0, prefix.size()) != prefix)
    return fail(errc::malformed_response);
  const char minor = line[7];
  if (minor < '0' || minor > '9' || line[8] != ' ') return fail(errc::malformed_response);
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return fail(errc::malformed_response);
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100 || status > 599) return fail(errc::malformed_response);
  std::string_view reason;
  if (line.size() > 12) {
    if (line[12] != ' ') return fail(errc::malformed_response);
    reason = line.substr(13);
    if (std::any_of(reason.begin(), reason.end(), http1_impl::is_bad_value_byte))
      return fail(errc::malformed_response);
  }
  minor_version_ = minor - '0';
  response_.status = status;
  response_.reason.assign(reason);
  state_ = State::header_line;
  return {};
}

AZID_DECL std::error_code ResponseParser::on_header_line(std::string_view line) {
  using namespace http1_impl;
  // obs-fold (a continuation line) is deprecated and a known smuggling vector: refuse it
  // (RFC 9112 §5.2 lets a user agent reject the message).
  if (is_ows(line.front())) return fail(errc::malformed_response);
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return fail(errc::malformed_response);
  const std::string_view name = line.substr(0, colon);
  // Whitespace between the name and the colon is forbidden (RFC 9112 §5.1); is_tchar rejects it.
  if (!std::all_of(name.begin(), name.end(), is_tchar)) return fail(errc::malformed_response);
  const std::string_view value = trim_ows(line.substr(colon + 1));
  if (std::any_of(value.begin(), value.end(), is_bad_value_byte))
    return fail(errc::malformed_response);
  response_.headers.add(name, value);
  return {};
}

AZID_DECL std::error_code ResponseParser::on_headers_complete() {
  using namespace http1_impl;
  const int status = response_.status;
  if (status < 200) {
    // We never ask to switch protocols, so a 101 is not something we can follow.
    if (status == 101) return fail(errc::malformed_response);
    response_ = HttpResponse{};
    header_bytes_ = 0;
    state_ = State::status_line;
    return {};
  }

  bool close = false;
  bool keep_alive_token = false;
  bool has_te = false;
  bool chunked_last = false;
  bool chunked_elsewhere = false;
  bool has_length = false;
  bool bad_length = false;
  std::uint64_t length = 0;
  for (const auto& [name, value] : response_.headers.fields()) {
    if (iequals(name, "Connection")) {
      for_each_list_item(value, [&](std::string_view token) {
        if (iequals(token, "close")) close = true;
        if (iequals(token, "keep-alive")) keep_alive_token = true;
      });
    } else if (iequals(name, "Transfer-Encoding")) {
      has_te = true;
      for_each_list_item(value, [&](std::string_view coding) {
        if (chunked_last) chunked_elsewhere = true;  // chunked followed by another coding
        chunked_last = iequals(coding, "chunked");
      });
    } else if (iequals(name, "Content-Length")) {
      // Repeated fields, or a list in one field, are fine only if every value agrees
      // (RFC 9110 §8.6); anything else could frame the body two ways.
      bool any = false;
      for_each_list_item(value, [&](std::string_view item) {
        any = true;
        if (item.size() > 19 ||
            !std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          bad_length = true;
          return;
        }
        std::uint64_t v = 0;
        for (char c : item) v = v * 10 + static_cast<std::uint64_t>(c - '0');
        if (has_length && v != length) bad_length = true;
        has_length = true;
        length = v;
      });
      if (!any) bad_length = true;
    }
  }
  keep_alive_ = minor_version_ >= 1 ? !close : (keep_alive_token && !close);

  if (no_body_request_ || status == 204 || status == 304) {
    finish();
    return {};
  }
  if (bad_length) return fail(errc::malformed_response);
  // Both framings at once is the classic request-smuggling shape; a client has no business
  // guessing which one the server meant (RFC 9112 §6.3).
  if (has_te && has_length) return fail(errc::malformed_response);
  if (has_te) {
    if (chunked_elsewhere) return fail(errc::malformed_response);
    if (chunked_last) {
      header_bytes_ = 0;
      state_ = State::chunk_size;
      return {};
    }
    // A coding other than chunked last: the body runs to the close (RFC 9112 §6.3 item 4).
    body_to_eof_ = true;
    state_ = State::body_eof;
    return {};
  }
  if (has_length) {
    if (length > max_body_bytes_) return fail(errc::body_too_large);
    remaining_ = length;
    // Reserve no more than a token response needs up front: the length is the peer's claim, and
    // max_body_bytes may be set far beyond what memory holds. A longer body grows as it arrives.
    constexpr std::uint64_t reserve_cap = 256 * 1024;
    response_.body.reserve(static_cast<std::size_t>(std::min(length, reserve_cap)) + body_padding);
    if (length == 0)
      finish();
    else
      state_ = State::body_length;
    return {};
  }
  body_to_eof_ = true;
  state_ = State::body_eof;
  return {};
}

AZID_DECL std::error_code ResponseParser::on_chunk_size_line(std::string_view line) {
  using namespace http1_impl;
  std::uint64_t size = 0;
  std::size_t i = 0;
  for (; i < line.size(); ++i) {
    const int h = hex_value(line[i]);
    if (h < 0) break;
    // Shifting in another digit would overflow 64 bits.
    if (size > (std::numeric_limits<std::uint64_t>::max() >> 4))
      return fail(errc::malformed_response);
    size = (size << 4) | static_cast<std::uint64_t>(h);
  }
  if (i == 0) return fail(errc::malformed_response);
  std::string_view rest = line.substr(i);
  while (!rest.empty() && is_ows(rest.front())) rest.remove_prefix(1);
  if (!rest.empty()) {
    // chunk-ext: ";name[=value]" repeated. We ignore extensions but refuse control bytes.
    if (rest.front() != ';') return fail(errc::malformed_response);
    if (std::any_of(rest.begin(), rest.end(), is_bad_value_byte))
      return fail(errc::malformed_response);
  }
  if (size == 0) {
    header_bytes_ = 0;
    state_ = State::trailer_line;
    return {};
  }
  if (size > max_body_bytes_ - response_.body.size()) return fail(errc::body_too_large);
  remaining_ = size;
  state_ = State::chunk_data;
  return {};
}

}  // namespace detail
AZID_END
