// Internal: a small sans-I/O HTTP/1.1 request parser and response writer for the emulator.
// The parser is handed the whole unconsumed input each time and re-parses from the start; requests
// are tiny and capped, and being stateless makes pipelined requests and partial reads trivial.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "emulator.hpp"

namespace azid_emulator::detail {

struct ParserLimits {
  std::size_t max_header_bytes = 16 * 1024;  // request line plus header fields
  std::size_t max_headers = 100;
  std::size_t max_body_bytes = 1024 * 1024;
};

struct ParsedRequest {
  std::string method;
  std::string target;
  int minor_version = 1;  // HTTP/1.<minor>
  Headers headers;
  std::string body;
  bool keep_alive = true;
};

struct ParseOutcome {
  enum class Status { incomplete, complete, error };
  Status status = Status::incomplete;
  std::size_t consumed = 0;       // bytes of input that made up the request (complete only)
  int error_status = 400;         // HTTP status to answer with (error only)
  std::string error_reason;       // human-readable, for the 4xx body
  bool headers_complete = false;  // header section parsed (so 100-continue can be sent)
  bool expects_continue = false;
};

ParseOutcome parse_request(std::string_view input, ParsedRequest& out, const ParserLimits& limits);

bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
std::string_view header_value(const Headers& headers, std::string_view name);
std::string_view reason_phrase(int status);

/// Percent-decoding; `plus_is_space` for form bodies and query strings. Malformed escapes are
/// kept literally rather than rejected, because the emulator should report the value it saw.
std::string percent_decode(std::string_view text, bool plus_is_space);
/// Parses "a=1&b=2" (form body or query string) into decoded pairs, in order.
std::vector<std::pair<std::string, std::string>> parse_form(std::string_view text);

/// Status line, headers, Date, Content-Length (when given; faults pass a length that does not
/// match what they will send) and Connection: close (when `close`), then the blank line.
std::string serialize_head(int status, const Headers& headers,
                           std::optional<std::size_t> content_length, bool close);

/// "Sun, 06 Nov 1994 08:49:37 GMT"
std::string http_date();

}  // namespace azid_emulator::detail
