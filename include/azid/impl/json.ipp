// azid/impl/json.ipp: token and STS error JSON with simdjson's on-demand API (one reused parser
// per thread), and the expiry text formats. Included only by token_json.hpp (header-only) or src.hpp.
#pragma once

// Besides the kernel On-Demand parsing runs (the "builtin" one the compiler flags allow), simdjson.h
// carries inline copies of every other x86-64 kernel. Only libsimdjson's runtime dispatch (the DOM
// parser, compiled inside the library) uses them; azid never does. Leaving out the kernels these
// flags cannot select keeps about 0.5 s of parsing out of every header-only TU (bench/README.md).
// A kernel the flags could select is kept, so On-Demand is the same as without this; nothing
// changes when simdjson.h came first or the kernel macro is already set, and
// AZID_KEEP_SIMDJSON_KERNELS turns it off.
#if !defined(SIMDJSON_H) && !defined(AZID_KEEP_SIMDJSON_KERNELS) && defined(__x86_64__)
#if !defined(SIMDJSON_IMPLEMENTATION_ICELAKE) && !defined(__AVX512F__)
#define SIMDJSON_IMPLEMENTATION_ICELAKE 0
#endif
#if !defined(SIMDJSON_IMPLEMENTATION_HASWELL) && !defined(__AVX2__)
#define SIMDJSON_IMPLEMENTATION_HASWELL 0
#endif
#if !defined(SIMDJSON_IMPLEMENTATION_WESTMERE) && !defined(__SSE4_2__)
#define SIMDJSON_IMPLEMENTATION_WESTMERE 0
#endif
#endif
#include <simdjson.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "azid/core/error_code.hpp"
#include "azid/detail/token_json.hpp"

AZID_BEGIN
namespace detail {
namespace json_impl {

// What the walker (below) hands a visitor for each value. `raw` is the value's JSON text (trailing
// whitespace dropped; an object or array whole). `text` is a string's unescaped characters, and
// `raw` for any other kind. A number is `integer` (int_value) when it fits 64 bits, else `real`;
// `bad` marks a string with a broken escape or a number that reads as neither.
enum class Kind : unsigned char { string, number, boolean, null, object, array };
struct Value {
  Kind kind = Kind::null;
  bool bad = false;
  bool integer = false;
  long long int_value = 0;
  double real = 0;
  std::string_view raw;
  std::string_view text;
};
enum class Step : unsigned char { next, stop, fail };
using Visit = Step (*)(void* state, std::string_view key, const Value& v);

// Plain base-10 digits that round-trip: no sign, no leading zero (but "0" itself), at most 18.
inline bool all_digits(std::string_view s) noexcept {
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s.front() == '0')) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

inline long long digits_value(std::string_view s) noexcept {
  long long v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// A number, or a string of decimal digits, as whole seconds within [0, limit].
// Sets `bad` when the value is present but unusable.
inline std::optional<long long> seconds_value(const Value& v, long long limit, bool allow_text_date,
                                              bool& bad) {
  if (v.kind == Kind::number && !v.bad) {
    if (v.integer) {
      if (v.int_value >= 0 && v.int_value <= limit) return v.int_value;
    } else if (std::isfinite(v.real) && v.real >= 0 && v.real <= static_cast<double>(limit)) {
      return static_cast<long long>(v.real);
    }
  } else if (v.kind == Kind::string && !v.bad) {
    if (all_digits(v.text)) {
      const long long x = digits_value(v.text);
      if (x <= limit) return x;
    } else if (allow_text_date && !v.text.empty() && v.text.front() != ' ' &&
               v.text.back() != ' ') {
      if (auto e = parse_expiry_text(v.text)) return e;
    }
  } else if (v.kind == Kind::null) {
    return std::nullopt;
  }
  bad = true;
  return std::nullopt;
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's algorithm).
constexpr long long days_from_civil(long long y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

// A tiny cursor over the text of a date.
struct Cursor {
  std::string_view s;
  std::size_t i = 0;
  bool number(int min_digits, int max_digits, long long& out) {
    int n = 0;
    out = 0;
    while (i < s.size() && n < max_digits && s[i] >= '0' && s[i] <= '9') {
      out = out * 10 + (s[i] - '0');
      ++i;
      ++n;
    }
    return n >= min_digits;
  }
  bool lit(char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  bool lit(std::string_view w) {
    if (s.substr(i, w.size()) == w) {
      i += w.size();
      return true;
    }
    return false;
  }
  bool done() const { return i == s.size(); }
};

inline std::optional<long long> to_epoch(long long y, long long mo, long long d, long long h,
                                         long long mi, long long s, long long offset_seconds) {
  if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
    return std::nullopt;
  static constexpr int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (d > mdays[mo - 1]) return std::nullopt;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo == 2 && d == 29 && !leap) return std::nullopt;
  long long e = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
                h * 3600 + mi * 60 + s - offset_seconds;
  if (e < 0 || e > max_epoch_seconds) return std::nullopt;
  return e;
}

// `MM/DD/YYYY HH:MM:SS +00:00` or `M/D/YYYY h:MM:SS AM +00:00` (App Service 2017-09-01 API).
inline std::optional<long long> parse_app_service_date(std::string_view text) {
  Cursor c{text};
  long long mo, d, y, h, mi, s;
  if (!c.number(1, 2, mo) || !c.lit('/') || !c.number(1, 2, d) || !c.lit('/') ||
      !c.number(4, 4, y) || !c.lit(' ') || !c.number(1, 2, h) || !c.lit(':') ||
      !c.number(2, 2, mi) || !c.lit(':') || !c.number(2, 2, s))
    return std::nullopt;
  if (c.lit(" AM") || c.lit(" am")) {
    if (h < 1 || h > 12) return std::nullopt;
    if (h == 12) h = 0;
  } else if (c.lit(" PM") || c.lit(" pm")) {
    if (h < 1 || h > 12) return std::nullopt;
    if (h != 12) h += 12;
  }
  if (!c.lit(" +00:00") || !c.done()) return std::nullopt;
  return to_epoch(y, mo, d, h, mi, s, 0);
}

// RFC 3339: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
inline std::optional<long long> parse_rfc3339(std::string_view text) {
  Cursor c{text};
  long long y, mo, d, h, mi, s;
  if (!c.number(4, 4, y) || !c.lit('-') || !c.number(2, 2, mo) || !c.lit('-') || !c.number(2, 2, d))
    return std::nullopt;
  if (!(c.lit('T') || c.lit('t') || c.lit(' '))) return std::nullopt;
  if (!c.number(2, 2, h) || !c.lit(':') || !c.number(2, 2, mi) || !c.lit(':') || !c.number(2, 2, s))
    return std::nullopt;
  if (c.lit('.')) {
    long long frac;
    if (!c.number(1, 9, frac)) return std::nullopt;
    while (c.i < c.s.size() && c.s[c.i] >= '0' && c.s[c.i] <= '9') ++c.i;
  }
  long long offset = 0;
  if (c.lit('Z') || c.lit('z')) {
  } else if (c.i < c.s.size() && (c.s[c.i] == '+' || c.s[c.i] == '-')) {
    const bool neg = c.s[c.i] == '-';
    ++c.i;
    long long oh, om;
    if (!c.number(2, 2, oh) || !c.lit(':') || !c.number(2, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset = (oh * 3600 + om * 60) * (neg ? -1 : 1);
  } else {
    return std::nullopt;
  }
  if (!c.done()) return std::nullopt;
  return to_epoch(y, mo, d, h, mi, s, offset);
}

// RFC 1123: `Sun, 06 Nov 1994 08:49:37 GMT`.
inline std::optional<long long> parse_rfc1123(std::string_view text) {
  static constexpr std::string_view days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  Cursor c{text};
  bool day_ok = false;
  for (auto dn : days)
    if (c.lit(dn)) {
      day_ok = true;
      break;
    }
  if (!day_ok || !c.lit(", ")) return std::nullopt;
  long long d, y, h, mi, s, mo = 0;
  if (!c.number(1, 2, d) || !c.lit(' ')) return std::nullopt;
  for (int k = 0; k < 12; ++k)
    if (c.lit(months[k])) {
      mo = k + 1;
      break;
    }
  if (mo == 0 || !c.lit(' ') || !c.number(4, 4, y) || !c.lit(' ') || !c.number(2, 2, h) ||
      !c.lit(':') || !c.number(2, 2, mi) || !c.lit(':') || !c.number(2, 2, s))
    return std::nullopt;
  if (!(c.lit(" GMT") || c.lit(" UTC") || c.lit(" +0000")) || !c.done()) return std::nullopt;
  return to_epoch(y, mo, d, h, mi, s, 0);
}

// The walker below is the only code that touches simdjson: every reader in this file is a visitor
// of plain values, so simdjson's On-Demand code is compiled once, not once per reader.

inline std::string_view trim_json_space(std::string_view s) noexcept {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Reads `v` into `out`. False when its type cannot even be told (not JSON there).
inline bool read_value(simdjson::ondemand::value v, Value& out) noexcept {
  using simdjson::ondemand::json_type;
  json_type t;
  if (v.type().get(t)) return false;
  switch (t) {
    case json_type::object: {
      out.kind = Kind::object;
      simdjson::ondemand::object o;
      if (v.get_object().get(o) || o.raw_json().get(out.raw)) return false;
      out.text = out.raw = trim_json_space(out.raw);
      return true;
    }
    case json_type::array: {
      out.kind = Kind::array;
      simdjson::ondemand::array a;
      if (v.get_array().get(a) || a.raw_json().get(out.raw)) return false;
      out.text = out.raw = trim_json_space(out.raw);
      return true;
    }
    case json_type::string:
      out.kind = Kind::string;
      out.raw = trim_json_space(v.raw_json_token());
      out.bad = v.get_string().get(out.text) != simdjson::SUCCESS;
      return true;
    case json_type::number: {
      out.kind = Kind::number;
      out.text = out.raw = trim_json_space(v.raw_json_token());
      int64_t i = 0;
      if (v.get_int64().get(i) == simdjson::SUCCESS) {
        out.integer = true;
        out.int_value = i;
      } else {
        out.bad = v.get_double().get(out.real) != simdjson::SUCCESS;
      }
      return true;
    }
    case json_type::boolean:
      out.kind = Kind::boolean;
      break;
    case json_type::null:
      out.kind = Kind::null;
      break;
  }
  out.text = out.raw = trim_json_space(v.raw_json_token());
  return true;
}

// One parser and padded copy of the input per nesting level and thread: a visitor may walk a
// nested value's text while the walk that handed it over is still going. (simdjson reads up to
// SIMDJSON_PADDING bytes past the end, hence the copy; bodies here are a few KiB.)
struct WalkSlot {
  simdjson::ondemand::parser parser;
  std::string buffer;
};
inline thread_local int walk_depth = 0;

// Reads `body` as one JSON object (one array when `array`) and hands each member (each element,
// with an empty key) to `visit`, in order. False when `body` is not one, when a value cannot be
// read, when anything but whitespace follows, or when `visit` answers Step::fail; Step::stop ends
// the walk early as a success, without reading the rest.
[[gnu::noinline]] inline bool walk(std::string_view body, bool array, void* state, Visit visit) {
  thread_local WalkSlot slots[2];
  std::unique_ptr<WalkSlot> own;  // deeper than two levels: a parser of its own
  WalkSlot* slot = walk_depth < 2 ? &slots[walk_depth] : (own = std::make_unique<WalkSlot>()).get();
  struct Level {
    Level() noexcept { ++walk_depth; }
    ~Level() { --walk_depth; }
  } level;
  slot->buffer.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  slot->buffer.assign(body.data(), body.size());
  const simdjson::padded_string_view input(slot->buffer.data(), slot->buffer.size(),
                                           slot->buffer.capacity());
  simdjson::ondemand::document doc;
  if (slot->parser.iterate(input).get(doc)) return false;
  if (array) {
    simdjson::ondemand::array arr;
    if (doc.get_array().get(arr)) return false;
    for (auto element : arr) {
      simdjson::ondemand::value v;
      Value x;
      if (element.get(v) || !read_value(v, x)) return false;
      const Step step = visit(state, {}, x);
      if (step == Step::fail) return false;
      if (step == Step::stop) return true;
    }
  } else {
    simdjson::ondemand::object obj;
    if (doc.get_object().get(obj)) return false;
    for (auto field : obj) {
      std::string_view key;
      if (field.unescaped_key().get(key)) return false;
      simdjson::ondemand::value v;
      Value x;
      if (field.value().get(v) || !read_value(v, x)) return false;
      const Step step = visit(state, key, x);
      if (step == Step::fail) return false;
      if (step == Step::stop) return true;
    }
  }
  // Nothing but whitespace may follow (this simdjson has no at_end()).
  const char* rest = nullptr;
  return doc.current_location().get(rest) != simdjson::SUCCESS;
}

// walk() with a lambda (or any callable taking (key, value) and returning Step) as the visitor.
template <class F>
bool walk_object(std::string_view body, F&& f) {
  return walk(body, false, &f, [](void* st, std::string_view k, const Value& v) {
    return (*static_cast<std::remove_reference_t<F>*>(st))(k, v);
  });
}
template <class F>
bool walk_array(std::string_view body, F&& f) {
  return walk(body, true, &f, [](void* st, std::string_view k, const Value& v) {
    return (*static_cast<std::remove_reference_t<F>*>(st))(k, v);
  });
}

}  // namespace json_impl

AZID_DECL std::optional<long long> parse_expiry_text(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (json_impl::all_digits(text)) {
    const long long v = json_impl::digits_value(text);
    if (v > max_epoch_seconds) return std::nullopt;
    return v;
  }
  if (auto v = json_impl::parse_app_service_date(text)) return v;
  if (auto v = json_impl::parse_rfc3339(text)) return v;
  if (auto v = json_impl::parse_rfc1123(text)) return v;
  return std::nullopt;
}

AZID_DECL std::error_code parse_token_json(std::string_view body, ParsedToken& out) {
  using json_impl::Step;
  out = ParsedToken{};
  bool have_token = false, bad_expiry = false, wrong_type = false;
  // refresh_in / refresh_on are advice: an unusable one is dropped (the half-life rule applies),
  // never a reason to refuse a token whose expiry is fine.
  bool bad_advice = false;
  const bool ok =
      json_impl::walk_object(body, [&](std::string_view key, const json_impl::Value& v) {
        if (key == "access_token" || key == "accessToken" || key == "token") {
          if (v.kind != json_impl::Kind::string || v.bad) {
            wrong_type = true;
            return Step::fail;
          }
          out.access_token.assign(v.text);
          have_token = !v.text.empty();
        } else if (key == "token_type" || key == "tokenType") {
          if (v.kind == json_impl::Kind::string && !v.bad) out.token_type.assign(v.text);
        } else if (key == "expires_on" || key == "expiresOn") {
          out.expires_on = json_impl::seconds_value(v, max_epoch_seconds, true, bad_expiry);
        } else if (key == "expires_in" || key == "expiresIn") {
          out.expires_in = json_impl::seconds_value(v, max_duration_seconds, false, bad_expiry);
        } else if (key == "refresh_in") {
          out.refresh_in = json_impl::seconds_value(v, max_duration_seconds, false, bad_advice);
        } else if (key == "refresh_on") {
          out.refresh_on = json_impl::seconds_value(v, max_epoch_seconds, true, bad_advice);
        }
        return Step::next;
      });
  if (!ok || wrong_type) return make_error_code(errc::malformed_json);
  if (!have_token) return make_error_code(errc::missing_field);
  if (bad_expiry) return make_error_code(errc::invalid_expiry);
  (void)bad_advice;
  return {};
}

AZID_DECL bool parse_sts_error(std::string_view body, StsError& out) {
  using json_impl::Step;
  out = StsError{};
  bool any = false;
  const bool ok =
      json_impl::walk_object(body, [&](std::string_view key, const json_impl::Value& v) {
        auto take = [&](std::string& dst) {
          if (v.kind == json_impl::Kind::string && !v.bad) {
            dst.assign(v.text);
            any = true;
          }
        };
        if (key == "error")
          take(out.error);
        else if (key == "error_description")
          take(out.error_description);
        else if (key == "correlation_id")
          take(out.correlation_id);
        else if (key == "trace_id")
          take(out.trace_id);
        else if (key == "timestamp")
          take(out.timestamp);
        else if (key == "suberror")
          take(out.suberror);
        else if (key == "claims")
          take(out.claims);
        else if (key == "error_codes" && v.kind == json_impl::Kind::array) {
          // Integers only, at most 16; a damaged element ends the list.
          (void)json_impl::walk_array(v.raw, [&](std::string_view, const json_impl::Value& el) {
            if (out.error_codes.size() >= 16) return Step::stop;
            if (el.kind == json_impl::Kind::number && el.integer)
              out.error_codes.push_back(el.int_value);
            return Step::next;
          });
        }
        return Step::next;
      });
  return ok && any && !out.error.empty();
}

AZID_DECL std::optional<std::string> json_string_member(std::string_view body,
                                                        std::string_view name) {
  using json_impl::Step;
  std::optional<std::string> found;
  (void)json_impl::walk_object(body, [&](std::string_view key, const json_impl::Value& v) {
    if (key != name) return Step::next;
    if (v.kind == json_impl::Kind::string && !v.bad) found.emplace(v.text);
    return Step::stop;
  });
  return found;
}

AZID_DECL std::error_code make_access_token(ParsedToken&& parsed,
                                            std::chrono::system_clock::time_point request_time,
                                            AccessToken& out) {
  using namespace std::chrono;
  const long long now_s = duration_cast<seconds>(request_time.time_since_epoch()).count();
  long long expires_on = 0;
  if (parsed.expires_on)
    expires_on = *parsed.expires_on;
  else if (parsed.expires_in)
    expires_on = now_s + *parsed.expires_in;
  else
    return make_error_code(errc::invalid_expiry);
  if (expires_on <= now_s || expires_on > max_epoch_seconds)
    return make_error_code(errc::invalid_expiry);
  // The token goes into an Authorization header, often through the caller's own HTTP client: a
  // CR or LF in it (from a hostile endpoint or a planted tool) would add headers of its
  // choosing. Bearer tokens are printable ASCII without spaces (RFC 6750 §2.1's b64token is a
  // subset), and so is a token type.
  if (!header_safe_token(parsed.access_token) ||
      (!parsed.token_type.empty() && !header_safe_token(parsed.token_type)))
    return make_error_code(errc::invalid_token);

  out.token = std::move(parsed.access_token);
  out.token_type = parsed.token_type.empty() ? std::string("Bearer") : std::move(parsed.token_type);
  out.expires_on = system_clock::time_point{seconds{expires_on}};
  out.refresh_on.reset();
  if (parsed.refresh_on && *parsed.refresh_on > now_s && *parsed.refresh_on < expires_on) {
    out.refresh_on = system_clock::time_point{seconds{*parsed.refresh_on}};
  } else if (parsed.refresh_in && *parsed.refresh_in > 0 &&
             now_s + *parsed.refresh_in < expires_on) {
    // (A refresh_in of 0 would make the token due for refresh the moment it arrives: ignored.)
    out.refresh_on = system_clock::time_point{seconds{now_s + *parsed.refresh_in}};
  } else if (expires_on - now_s >= 7200) {
    out.refresh_on = system_clock::time_point{seconds{now_s + (expires_on - now_s) / 2}};
  }
  return {};
}

namespace json_impl {
// Length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), or 0 when it is not one.
inline std::size_t utf8_sequence(std::string_view s) noexcept {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c == 0xE0)
    n = 3, lo = 0xA0;
  else if (c >= 0xE1 && c <= 0xEC)
    n = 3;
  else if (c == 0xED)
    n = 3, hi = 0x9F;
  else if (c >= 0xEE && c <= 0xEF)
    n = 3;
  else if (c == 0xF0)
    n = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3)
    n = 4;
  else if (c == 0xF4)
    n = 4, hi = 0x8F;
  else
    return 0;
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t i = 2; i < n; ++i)
    if (b(i) < 0x80 || b(i) > 0xBF) return 0;
  return n;
}
}  // namespace json_impl

AZID_DECL std::string json_quote(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80) {
      // Valid UTF-8 passes through; any other byte (a tool's Latin-1 stderr, say) becomes
      // U+FFFD, so the output is always JSON a strict parser accepts.
      if (const std::size_t n = json_impl::utf8_sequence(s.substr(i)); n != 0) {
        out.append(s.substr(i, n));
        i += n - 1;
      } else {
        out += "\\ufffd";
      }
      continue;
    }
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
  return out;
}

AZID_DECL std::optional<std::string> merge_cae_capability(std::string_view claims) {
  using json_impl::Step;
  static constexpr std::string_view capability = "\"xms_cc\":{\"values\":[\"CP1\"]}";
  std::string out = "{";
  bool first = true, saw_access_token = false;
  const bool ok =
      json_impl::walk_object(claims, [&](std::string_view key, const json_impl::Value& v) {
        if (!first) out.push_back(',');
        first = false;
        out += json_quote(key);
        out.push_back(':');
        if (key != "access_token") {
          out.append(v.raw);
          return Step::next;
        }
        saw_access_token = true;
        if (v.kind != json_impl::Kind::object) return Step::fail;
        out.push_back('{');
        bool inner_first = true;
        const bool inner_ok =
            json_impl::walk_object(v.raw, [&](std::string_view k2, const json_impl::Value& v2) {
              if (k2 == "xms_cc") return Step::next;
              if (!inner_first) out.push_back(',');
              inner_first = false;
              out += json_quote(k2);
              out.push_back(':');
              out.append(v2.raw);
              return Step::next;
            });
        if (!inner_ok) return Step::fail;
        if (!inner_first) out.push_back(',');
        out.append(capability);
        out.push_back('}');
        return Step::next;
      });
  if (!ok) return std::nullopt;
  if (!saw_access_token) {
    if (!first) out.push_back(',');
    out += "\"access_token\":{";
    out.append(capability);
    out.push_back('}');
  }
  out.push_back('}');
  return out;
}

namespace json_impl {

// Position of `needle` (lower-case ASCII) in `s` at or after `from`, ignoring ASCII case.
inline std::size_t find_ci(std::string_view s, std::string_view needle, std::size_t from) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (std::size_t i = from; i + needle.size() <= s.size(); ++i) {
    std::size_t k = 0;
    while (k < needle.size() && lower(s[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

inline bool jwt_char(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '_';
}

// Every JWT-shaped word (`eyJ...` with two dots or more) becomes ***: a signed client assertion,
// a federated or OIDC token, an access token in any format.
inline std::string mask_jwts(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 3, "eyJ") == 0 && (i == 0 || !jwt_char(s[i - 1]))) {
      std::size_t j = i, dots = 0;
      while (j < s.size() && (jwt_char(s[j]) || s[j] == '.')) dots += s[j++] == '.';
      if (dots >= 2) {
        out.append("***");
        i = j;
        continue;
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

// The values of the form fields that carry a client's secret or a token, written `name=value` (a
// form-encoded token response, or a proxy,
// gateway or WAF echoing the request body; the '&' before the name may itself be escaped, as
// `\u0026` or `%26`), and a credential after the word Bearer (any case, any spaces), become
// REDACTED. Only a token-like word after Bearer counts (16 characters or more), so prose such as
// "a bearer token" or "jwt-bearer grant" is left alone.
inline void redact_form_and_bearer(std::string& s) {
  static constexpr std::string_view names[] = {
      "client_secret=", "client_assertion=", "assertion=", "password=",
      "access_token=",  "refresh_token=",    "id_token="};
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  auto ends_value = [](char c) {
    return c == '&' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == '\'' ||
           c == '<' || c == ',' || c == ';' || c == '\\';
  };
  auto escaped_amp_before = [&](std::size_t at) {
    auto ends_with = [&](std::string_view tail) {
      return at >= tail.size() && std::string_view(s).substr(at - tail.size(), tail.size()) == tail;
    };
    return ends_with("\\u0026") || ends_with("%26");
  };
  auto replace_value = [&](std::size_t from, std::size_t min_len) {
    std::size_t to = from;
    while (to < s.size() && !ends_value(s[to])) ++to;
    if (to - from >= min_len && s.compare(from, to - from, "REDACTED") != 0)
      s.replace(from, to - from, "REDACTED");
  };
  for (std::string_view n : names) {
    for (std::size_t at = s.find(n); at != std::string::npos; at = s.find(n, at + 1)) {
      // Not the "assertion=" inside "client_assertion=", but after an escaped '&' too.
      if (at > 0 && word(s[at - 1]) && !escaped_amp_before(at)) continue;
      replace_value(at + n.size(), 1);
    }
  }
  for (std::size_t at = 0; (at = find_ci(s, "bearer", at)) != std::string::npos; at += 6) {
    if (at > 0 && (word(s[at - 1]) || s[at - 1] == '-' || s[at - 1] == ':')) continue;
    std::size_t from = at + 6;
    if (from >= s.size() || (s[from] != ' ' && s[from] != '\t')) continue;
    while (from < s.size() && (s[from] == ' ' || s[from] == '\t')) ++from;
    replace_value(from, 16);
  }
}

}  // namespace json_impl

AZID_DECL std::string redact_echoed_secrets(std::string_view text) {
  std::string out = json_impl::mask_jwts(text);
  json_impl::redact_form_and_bearer(out);
  return out;
}

AZID_DECL std::string json_unescape_loosely(std::string_view body) {
  std::string out;
  out.reserve(body.size());
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 >= body.size()) {
      out.push_back(body[i]);
      continue;
    }
    const char c = body[++i];
    switch (c) {
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 'u': {
        unsigned v = 0;
        std::size_t k = 1;
        for (; k <= 4 && i + k < body.size(); ++k) {
          const char h = body[i + k];
          const int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
          if (d < 0) break;
          v = v * 16 + static_cast<unsigned>(d);
        }
        if (k <= 4) {  // not four hex digits: keep the text as it is
          out.push_back('\\');
          out.push_back('u');
          break;
        }
        out.push_back(v < 0x80 ? static_cast<char>(v) : '?');
        i += 4;
        break;
      }
      default:  // \" \\ \/ and the rest: the character itself
        out.push_back(c);
    }
  }
  return out;
}

AZID_DECL std::string scrub_body(std::string_view body_in, std::size_t max_bytes) {
  static constexpr std::string_view secret_keys[] = {
      "access_token",  "refresh_token",    "id_token",  "accessToken",
      "token",         "refreshToken",     "idToken",   "oidcToken",
      "client_secret", "client_assertion", "assertion", "password"};
  const std::string unmasked = json_impl::mask_jwts(body_in);
  const std::string_view body = unmasked;
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::string out;
  out.reserve(body.size() < max_bytes ? body.size() : max_bytes);
  std::string decoded;
  std::size_t i = 0;
  while (i < body.size() && out.size() < max_bytes) {
    bool replaced = false;
    if (body[i] == '"') {
      // A member name, compared after unescaping: "access\u005ftoken" is access_token too. The
      // scan stops at the longest a secret name can be written (every character as \uXXXX), so
      // a body of quotes costs a bounded look at each, never a walk to its end.
      constexpr std::size_t longest_name = 6 * 16 + 2;
      std::size_t e = i + 1;
      while (e < body.size() && body[e] != '"' && e - i <= longest_name)
        e += (body[e] == '\\') ? 2 : 1;
      const bool closed = e < body.size() && body[e] == '"';
      const std::string_view raw_key = closed ? body.substr(i + 1, e - i - 1) : std::string_view{};
      std::string_view key = raw_key;
      if (raw_key.find('\\') != std::string_view::npos) {
        decoded = json_unescape_loosely(raw_key);
        key = decoded;
      }
      bool secret = false;
      for (auto k : secret_keys) secret = secret || (closed && key == k);
      std::size_t j = e + 1;
      while (secret && j < body.size() && space(body[j])) ++j;
      if (secret && j < body.size() && body[j] == ':') {
        ++j;
        while (j < body.size() && space(body[j])) ++j;
        if (j < body.size() && body[j] == '"') {
          std::size_t v = j + 1;
          while (v < body.size() && body[v] != '"') v += (body[v] == '\\') ? 2 : 1;
          out.push_back('"');
          out.append(key);
          out.append("\":\"***\"");
          i = v < body.size() ? v + 1 : body.size();
          replaced = true;
        }
      }
    }
    if (!replaced) {
      const unsigned char c = static_cast<unsigned char>(body[i]);
      out.push_back((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : body[i]);
      ++i;
    }
  }
  json_impl::redact_form_and_bearer(out);
  if (i < body.size()) out.append("...(truncated)");
  return out;
}

}  // namespace detail
AZID_END
