// Fuzz target: the sans-I/O HTTP/1.1 response parser (status line, headers, Content-Length,
// chunked bodies, trailers, interim responses, limits) and the request serializer.
//
// Input: one flags byte, then the bytes a server would send. The response is parsed twice,
// once in a single put() and once in pieces of 1..16 bytes (sizes drawn from the input), and
// both runs must agree: the parser must not depend on how the network splits its input.
// A complete response's headers also go through retry_after (Retry-After and friends).
// With the flags' top bit set the input is instead a request to serialize (see below).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <system_error>

#include "azid/detail/http1.hpp"
#include "azid/detail/http_driver.hpp"
#include "fuzz_common.hpp"

namespace {

using azid::detail::ResponseParser;

struct Outcome {
  std::error_code ec;
  bool done = false;
  std::size_t consumed = 0;
};

std::size_t limit_of(unsigned bits, std::size_t small, std::size_t medium, std::size_t large) {
  switch (bits & 3u) {
    case 0:
      return small;
    case 1:
      return medium;
    default:
      return large;
  }
}

void check_state(ResponseParser& p, const Outcome& o, std::size_t input_size, std::size_t max_body,
                 bool head) {
  FUZZ_CHECK(o.consumed <= input_size);
  FUZZ_CHECK(p.response().body.size() <= max_body);
  FUZZ_CHECK(p.response().body.size() <= input_size);
  if (o.done) {
    FUZZ_CHECK(!o.ec);
    const auto& r = p.response();
    FUZZ_CHECK(r.status >= 200 && r.status <= 599);
    FUZZ_CHECK(r.body.capacity() - r.body.size() >= ResponseParser::body_padding);
    if (head || r.status == 204 || r.status == 304) FUZZ_CHECK(r.body.empty());
    for (const auto& [name, value] : r.headers.fields()) {
      FUZZ_CHECK(!name.empty());
      FUZZ_CHECK(name.find_first_of(" \t\r\n:") == std::string::npos);
      FUZZ_CHECK(value.find_first_of("\r\n") == std::string::npos);
    }
    FUZZ_CHECK(r.reason.find_first_of("\r\n") == std::string::npos);
  }
}

Outcome run_whole(ResponseParser& p, std::string_view in) {
  Outcome o;
  o.consumed = p.put(in, o.ec);
  if (!o.ec && !p.done()) p.put_eof(o.ec);
  o.done = p.done();
  return o;
}

Outcome run_pieces(ResponseParser& p, std::string_view in, std::string_view sizes) {
  Outcome o;
  std::size_t pos = 0, k = 0;
  while (pos < in.size()) {
    const std::size_t want =
        sizes.empty() ? 1 : (static_cast<unsigned char>(sizes[k++ % sizes.size()]) & 15u) + 1;
    const std::string_view piece = in.substr(pos, want);
    const std::size_t n = p.put(piece, o.ec);
    FUZZ_CHECK(n <= piece.size());
    o.consumed += n;
    pos += n;
    if (o.ec || p.done()) break;
    // Everything is consumed unless the response completes or fails.
    FUZZ_CHECK(n == piece.size());
  }
  if (!o.ec && !p.done()) p.put_eof(o.ec);
  o.done = p.done();
  return o;
}

// Serializer: the input is "method\nurl-target\nname:value\n...\n\nbody". Whatever the bytes, the
// header block must have exactly one line per field we asked for: nothing may start a new line.
void fuzz_serializer(std::string_view in) {
  azid::HttpRequest req;
  auto [method, rest] = fuzz::split_once(in, '\n');
  req.method.assign(method);
  const auto blank = rest.find("\n\n");
  std::string_view fields = blank == std::string_view::npos ? rest : rest.substr(0, blank);
  req.body.assign(blank == std::string_view::npos ? std::string_view{} : rest.substr(blank + 2));
  while (!fields.empty()) {
    auto [line, more] = fuzz::split_once(fields, '\n');
    auto [name, value] = fuzz::split_once(line, ':');
    req.headers.add(name, value);
    fields = more;
    if (more.empty()) break;
  }
  azid::detail::Url url{"https", "login.example", 443, "/t/oauth2/v2.0/token?x=1"};
  const std::string out = azid::detail::serialize_request(req, url, false);
  std::size_t expected = 1;  // request line
  if (!req.headers.contains("Host")) ++expected;
  for (const auto& [name, value] : req.headers.fields())
    if (!azid::iequals(name, "Content-Length") && !azid::iequals(name, "Transfer-Encoding"))
      ++expected;
  const bool wants_length = !req.body.empty() || azid::iequals(req.method, "POST") ||
                            azid::iequals(req.method, "PUT") || azid::iequals(req.method, "PATCH");
  if (wants_length) ++expected;
  if (!req.headers.contains("Connection")) ++expected;
  FUZZ_CHECK(out.size() >= req.body.size());
  const std::string_view head = std::string_view(out).substr(0, out.size() - req.body.size());
  FUZZ_CHECK(head.size() >= 2 && head.substr(head.size() - 2) == "\r\n");
  std::size_t lines = 0;
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n') ++lines;
    if (head[i] == '\r') FUZZ_CHECK(i + 1 < head.size() && head[i + 1] == '\n');
    FUZZ_CHECK(head[i] != '\0');
  }
  FUZZ_CHECK(lines == expected + 1);  // + the blank line
  FUZZ_CHECK(std::string_view(out).substr(out.size() - req.body.size()) == req.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const unsigned flags = data[0];
  std::string_view in = fuzz::as_view(data + 1, size - 1);
  if (flags & 0x80u) {
    fuzz_serializer(in);
    return 0;
  }
  const bool head = flags & 1u;
  const std::size_t max_header = limit_of(flags >> 1, 64, 512, 8192);
  const std::size_t max_body = limit_of(flags >> 3, 16, 1024, 1 << 20);
  // The piece sizes come from the input's tail, so a different split is a different input.
  const std::string_view sizes = in.substr(in.size() - std::min<std::size_t>(in.size(), 8));

  ResponseParser a(max_header, max_body, head);
  const Outcome oa = run_whole(a, in);
  check_state(a, oa, in.size(), max_body, head);

  ResponseParser b(max_header, max_body, head);
  const Outcome ob = run_pieces(b, in, sizes);
  check_state(b, ob, in.size(), max_body, head);

  FUZZ_CHECK(oa.ec == ob.ec);
  FUZZ_CHECK(oa.done == ob.done);
  if (oa.done) {
    FUZZ_CHECK(oa.consumed == ob.consumed);
    const auto& ra = a.response();
    const auto& rb = b.response();
    FUZZ_CHECK(ra.status == rb.status);
    FUZZ_CHECK(ra.reason == rb.reason);
    FUZZ_CHECK(ra.body == rb.body);
    FUZZ_CHECK(ra.headers.fields() == rb.headers.fields());
    FUZZ_CHECK(a.keep_alive() == b.keep_alive());
    // What the retry loop reads from the headers: a delay, or -1 for none.
    const auto now = std::chrono::system_clock::time_point{std::chrono::seconds{1767225600}};
    FUZZ_CHECK(azid::detail::retry_after(ra.headers, now) >= std::chrono::milliseconds(-1));
  }
  // Once failed, the parser stays failed.
  if (oa.ec) {
    std::error_code again;
    FUZZ_CHECK(a.put("HTTP/1.1 200 OK\r\n\r\n", again) == 0);
    FUZZ_CHECK(again == oa.ec);
  }
  return 0;
}
