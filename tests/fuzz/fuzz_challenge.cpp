// Fuzz target: WWW-Authenticate parsing (RFC 9110 §11.6.1) and the CAE claims challenge a
// resource server sends back with a 401.
//
// Input: the header value. Whatever parses must survive a round trip: the challenges written
// back out (every parameter value quoted) parse to the same challenges.
#include <string>

#include "azid/detail/challenge.hpp"
#include "fuzz_common.hpp"

namespace {

std::string quoted(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string write(const std::vector<azid::detail::AuthChallenge>& cs) {
  std::string out;
  for (const auto& c : cs) {
    if (!out.empty()) out += ", ";
    out += c.scheme;
    if (!c.token68.empty()) {
      out += " " + c.token68;
    } else {
      bool first = true;
      for (const auto& [name, value] : c.params) {
        out += first ? " " : ", ";
        first = false;
        out += name + "=" + quoted(value);
      }
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace azid::detail;
  const std::string_view in = fuzz::as_view(data, size);
  const auto cs = parse_www_authenticate(in);
  if (cs) {
    for (const auto& c : *cs) {
      FUZZ_CHECK(!c.scheme.empty());
      FUZZ_CHECK(c.token68.empty() || c.params.empty());
      for (const auto& p : c.params) FUZZ_CHECK(!p.first.empty());
    }
    const std::string again = write(*cs);
    const auto back = parse_www_authenticate(again);
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(back->size() == cs->size());
    for (std::size_t i = 0; i < cs->size(); ++i) {
      FUZZ_CHECK((*back)[i].scheme == (*cs)[i].scheme);
      FUZZ_CHECK((*back)[i].token68 == (*cs)[i].token68);
      FUZZ_CHECK((*back)[i].params == (*cs)[i].params);
    }
  }
  if (auto claims = claims_from_challenge(in)) {
    FUZZ_CHECK(cs.has_value());
    FUZZ_CHECK(claims->size() >= 2 && claims->front() == '{' && claims->back() == '}');
  }
  return 0;
}
