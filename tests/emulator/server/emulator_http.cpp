#include "emulator_http.hpp"

#include <charconv>
#include <ctime>

namespace azid_emulator::detail {
namespace {

using Status = ParseOutcome::Status;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// RFC 9110 tchar.
bool is_tchar(char c) {
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

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

// Field values may hold visible ASCII, space, tab and obs-text; any other control byte is a
// smuggling/injection hazard and is rejected.
bool is_field_value(std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits off the next line. Accepts CRLF, and a bare LF as RFC 9112 §2.2 permits recipients to.
bool next_line(std::string_view& rest, std::string_view& line) {
  const auto lf = rest.find('\n');
  if (lf == std::string_view::npos) return false;
  line = rest.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  rest.remove_prefix(lf + 1);
  return true;
}

ParseOutcome fail(int status, std::string reason) {
  ParseOutcome o;
  o.status = Status::error;
  o.error_status = status;
  o.error_reason = std::move(reason);
  return o;
}

bool header_has_token(const Headers& headers, std::string_view name, std::string_view token) {
  for (const auto& [k, v] : headers) {
    if (!iequals(k, name)) continue;
    std::string_view list = v;
    while (!list.empty()) {
      const auto comma = list.find(',');
      if (iequals(trim_ows(list.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return false;
}

// De-chunks `input` (positioned after the header section). Returns incomplete/error/complete and
// sets `used` to the bytes consumed including the trailer section.
Status decode_chunked(std::string_view input, std::string& body, std::size_t& used,
                      const ParserLimits& limits, ParseOutcome& error) {
  std::string_view rest = input;
  body.clear();
  for (;;) {
    std::string_view line;
    if (!next_line(rest, line)) {
      if (rest.size() > 1024) {
        error = fail(400, "chunk size line too long");
        return Status::error;
      }
      return Status::incomplete;
    }
    const auto semi = line.find(';');  // chunk extensions are ignored
    const std::string_view hex = trim_ows(line.substr(0, semi));
    std::size_t size = 0;
    const auto [ptr, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
    if (hex.empty() || ec != std::errc() || ptr != hex.data() + hex.size()) {
      error = fail(400, "invalid chunk size");
      return Status::error;
    }
    if (size > limits.max_body_bytes || body.size() + size > limits.max_body_bytes) {
      error = fail(413, "request body too large");
      return Status::error;
    }
    if (size == 0) break;
    if (rest.size() < size + 2) return Status::incomplete;
    body.append(rest.substr(0, size));
    rest.remove_prefix(size);
    if (rest.substr(0, 2) != "\r\n") {
      error = fail(400, "chunk not terminated by CRLF");
      return Status::error;
    }
    rest.remove_prefix(2);
  }
  // Trailer fields, discarded, up to the terminating empty line.
  for (;;) {
    std::string_view line;
    if (!next_line(rest, line)) {
      if (rest.size() > limits.max_header_bytes) {
        error = fail(431, "trailers too large");
        return Status::error;
      }
      return Status::incomplete;
    }
    if (line.empty()) break;
  }
  used = input.size() - rest.size();
  return Status::complete;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view header_value(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

ParseOutcome parse_request(std::string_view input, ParsedRequest& out, const ParserLimits& limits) {
  // Robustness (RFC 9112 §2.2): ignore empty lines before the request line.
  std::size_t skipped = 0;
  while (skipped < input.size() && (input[skipped] == '\r' || input[skipped] == '\n')) ++skipped;
  std::string_view rest = input.substr(skipped);

  // Locate the end of the header section before parsing anything, so a slowly arriving request
  // is only parsed once it is whole.
  std::size_t header_end = std::string_view::npos;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] != '\n') continue;
    if (i + 1 < rest.size() && rest[i + 1] == '\n') {
      header_end = i + 2;
      break;
    }
    if (i + 2 < rest.size() && rest[i + 1] == '\r' && rest[i + 2] == '\n') {
      header_end = i + 3;
      break;
    }
  }
  if (header_end == std::string_view::npos) {
    if (rest.size() > limits.max_header_bytes) return fail(431, "request header section too large");
    return {};
  }
  if (header_end > limits.max_header_bytes) return fail(431, "request header section too large");

  std::string_view head = rest.substr(0, header_end);
  std::string_view body_input = rest.substr(header_end);
  out = ParsedRequest{};

  std::string_view line;
  next_line(head, line);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "malformed request line");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return fail(400, "invalid method");
  if (target.empty() || target.front() != '/')
    return fail(400, "request target must be origin-form");
  for (const char ch : target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return fail(400, "invalid character in request target");
  }
  if (version == "HTTP/1.1")
    out.minor_version = 1;
  else if (version == "HTTP/1.0")
    out.minor_version = 0;
  else if (version.substr(0, 5) == "HTTP/")
    return fail(505, "HTTP version not supported");
  else
    return fail(400, "malformed HTTP version");
  out.method.assign(method);
  out.target.assign(target);

  while (next_line(head, line)) {
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return fail(400, "obsolete line folding");
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return fail(400, "header field without ':'");
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (!is_token(name)) return fail(400, "invalid header field name");
    if (!is_field_value(value)) return fail(400, "invalid header field value");
    if (out.headers.size() >= limits.max_headers) return fail(431, "too many header fields");
    out.headers.emplace_back(std::string(name), std::string(value));
  }

  ParseOutcome outcome;
  outcome.headers_complete = true;
  outcome.expects_continue =
      out.minor_version == 1 && iequals(header_value(out.headers, "Expect"), "100-continue");

  if (out.minor_version == 1) {
    out.keep_alive = !header_has_token(out.headers, "Connection", "close");
  } else {
    out.keep_alive = header_has_token(out.headers, "Connection", "keep-alive");
  }
  if (out.minor_version == 1) {
    // RFC 9112 §3.2: a server must reject an HTTP/1.1 request without Host (an empty value is
    // allowed). Being strict here catches client bugs the real service would also reject.
    bool has_host = false;
    for (const auto& h : out.headers) has_host = has_host || iequals(h.first, "Host");
    if (!has_host) return fail(400, "missing Host header");
  }

  bool has_te = false;
  std::optional<std::size_t> content_length;
  for (const auto& [k, v] : out.headers) {
    if (iequals(k, "Transfer-Encoding")) {
      has_te = true;
      if (!iequals(trim_ows(v), "chunked")) return fail(501, "unsupported transfer coding");
    } else if (iequals(k, "Content-Length")) {
      std::size_t n = 0;
      const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (v.empty() || ec != std::errc() || ptr != v.data() + v.size())
        return fail(400, "invalid Content-Length");
      if (content_length && *content_length != n) return fail(400, "conflicting Content-Length");
      content_length = n;
    }
  }
  // Both framings at once is the classic request-smuggling shape; refuse instead of choosing.
  if (has_te && content_length) return fail(400, "both Transfer-Encoding and Content-Length");
  if (has_te && out.minor_version == 0) return fail(400, "chunked encoding in HTTP/1.0");

  std::size_t body_used = 0;
  if (has_te) {
    ParseOutcome error;
    const Status s = decode_chunked(body_input, out.body, body_used, limits, error);
    if (s == Status::error) return error;
    if (s == Status::incomplete) return outcome;
  } else if (content_length) {
    if (*content_length > limits.max_body_bytes) return fail(413, "request body too large");
    if (body_input.size() < *content_length) return outcome;
    out.body.assign(body_input.substr(0, *content_length));
    body_used = *content_length;
  }
  outcome.status = Status::complete;
  outcome.consumed = skipped + header_end + body_used;
  return outcome;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    const auto amp = text.find('&');
    const std::string_view part = text.substr(0, amp);
    if (!part.empty()) {
      const auto eq = part.find('=');
      out.emplace_back(
          percent_decode(part.substr(0, eq), true),
          eq == std::string_view::npos ? std::string() : percent_decode(part.substr(eq + 1), true));
    }
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp + 1);
  }
  return out;
}

std::string http_date() {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string serialize_head(int status, const Headers& headers,
                           std::optional<std::size_t> content_length, bool close) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out += reason_phrase(status);
  out += "\r\n";
  bool has_date = false;
  for (const auto& [k, v] : headers) {
    // The server owns framing and connection management; caller-supplied copies would make the
    // response ambiguous.
    if (iequals(k, "Content-Length") || iequals(k, "Connection") || iequals(k, "Transfer-Encoding"))
      continue;
    has_date = has_date || iequals(k, "Date");
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  if (!has_date) out += "Date: " + http_date() + "\r\n";
  if (content_length) out += "Content-Length: " + std::to_string(*content_length) + "\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

}  // namespace azid_emulator::detail
