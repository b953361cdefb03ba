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
#include <cstdint>
#include <string>

#include "azid/core/error_code.hpp"
#include "azid/detail/token_json.hpp"

AZID_BEGIN
namespace detail {
namespace json_impl {

// simdjson reads up to SIMDJSON_PADDING bytes past the end; copy into a padded per-thread buffer
// (token bodies are a few KiB; the copy is noise next to the network round trip).
inline simdjson::padded_string_view padded(std::string_view body) {
  thread_local std::string buffer;
  buffer.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  buffer.assign(body.data(), body.size());
  return simdjson::padded_string_view(buffer.data(), buffer.size(), buffer.capacity());
}

inline simdjson::ondemand::parser& parser() {
  thread_local simdjson::ondemand::parser p;
  return p;
}

inline bool all_digits(std::string_view s) noexcept {
  if (s.empty() || s.size() > 18) return false;
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
inline std::optional<long long> seconds_value(simdjson::ondemand::value v, long long limit, bool allow_text_date,
                                              bool& bad) {
  simdjson::ondemand::json_type t;
  if (v.type().get(t)) {
    bad = true;
    return std::nullopt;
  }
  if (t == simdjson::ondemand::json_type::number) {
    int64_t i = 0;
    if (!v.get_int64().get(i)) {
      if (i < 0 || i > limit) {
        bad = true;
        return std::nullopt;
      }
      return static_cast<long long>(i);
    }
    double d = 0;
    if (v.get_double().get(d) || !std::isfinite(d) || d < 0 || d > static_cast<double>(limit)) {
      bad = true;
      return std::nullopt;
    }
    return static_cast<long long>(d);
  }
  if (t == simdjson::ondemand::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) {
      bad = true;
      return std::nullopt;
    }
    if (all_digits(s)) {
      long long x = digits_value(s);
      if (x > limit) {
        bad = true;
        return std::nullopt;
      }
      return x;
    }
    if (allow_text_date) {
      if (auto e = parse_expiry_text(s)) return e;
    }
    bad = true;
    return std::nullopt;
  }
  if (t == simdjson::ondemand::json_type::null) return std::nullopt;
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

inline std::optional<long long> to_epoch(long long y, long long mo, long long d, long long h, long long mi, long long s,
                                         long long offset_seconds) {
  if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  static constexpr int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (d > mdays[mo - 1]) return std::nullopt;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo == 2 && d == 29 && !leap) return std::nullopt;
  long long e = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 + s -
                offset_seconds;
  if (e < 0 || e > max_epoch_seconds) return std::nullopt;
  return e;
}

// `MM/DD/YYYY HH:MM:SS +00:00` or `M/D/YYYY h:MM:SS AM +00:00` (App Service 2017-09-01 API).
inline std::optional<long long> parse_app_service_date(std::string_view text) {
  Cursor c{text};
  long long mo, d, y, h, mi, s;
  if (!c.number(1, 2, mo) || !c.lit('/') || !c.number(1, 2, d) || !c.lit('/') || !c.number(4, 4, y) || !c.lit(' ') ||
      !c.number(1, 2, h) || !c.lit(':') || !c.number(2, 2, mi) || !c.lit(':') || !c.number(2, 2, s))
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
  if (!c.number(4, 4, y) || !c.lit('-') || !c.number(2, 2, mo) || !c.lit('-') || !c.number(2, 2, d)) return std::nullopt;
  if (!(c.lit('T') || c.lit('t') || c.lit(' '))) return std::nullopt;
  if (!c.number(2, 2, h) || !c.lit(':') || !c.number(2, 2, mi) || !c.lit(':') || !c.number(2, 2, s)) return std::nullopt;
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
    if (!c.number(2, 2, oh) || !c.lit(':') || !c.number(2, 2, om) || oh > 23 || om > 59) return std::nullopt;
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
  if (mo == 0 || !c.lit(' ') || !c.number(4, 4, y) || !c.lit(' ') || !c.number(2, 2, h) || !c.lit(':') ||
      !c.number(2, 2, mi) || !c.lit(':') || !c.number(2, 2, s))
    return std::nullopt;
  if (!(c.lit(" GMT") || c.lit(" UTC") || c.lit(" +0000")) || !c.done()) return std::nullopt;
  return to_epoch(y, mo, d, h, mi, s, 0);
}

// True when nothing but whitespace follows the value just read (this simdjson has no at_end()).
inline bool fully_consumed(simdjson::ondemand::document& doc) noexcept {
  const char* loc = nullptr;
  return doc.current_location().get(loc) != simdjson::SUCCESS;
}

// The JSON text of any value (this simdjson has raw_json() on objects and arrays only).
inline simdjson::error_code raw_value(simdjson::ondemand::value v, std::string_view& out) noexcept {
  using simdjson::ondemand::json_type;
  json_type t;
  if (auto e = v.type().get(t)) return e;
  if (t == json_type::object) {
    simdjson::ondemand::object o;
    if (auto e = v.get_object().get(o)) return e;
    return o.raw_json().get(out);
  }
  if (t == json_type::array) {
    simdjson::ondemand::array a;
    if (auto e = v.get_array().get(a)) return e;
    return a.raw_json().get(out);
  }
  out = v.raw_json_token();
  while (!out.empty() && (out.back() == ' ' || out.back() == '\n' || out.back() == '\r' || out.back() == '\t'))
    out.remove_suffix(1);
  return simdjson::SUCCESS;
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
  using namespace simdjson;
  out = ParsedToken{};
  ondemand::document doc;
  if (json_impl::parser().iterate(json_impl::padded(body)).get(doc)) return make_error_code(errc::malformed_json);
  ondemand::object obj;
  if (doc.get_object().get(obj)) return make_error_code(errc::malformed_json);
  bool have_token = false, bad_expiry = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return make_error_code(errc::malformed_json);
    ondemand::value v;
    if (field.value().get(v)) return make_error_code(errc::malformed_json);
    if (key == "access_token" || key == "accessToken" || key == "token") {
      std::string_view s;
      if (v.get_string().get(s)) return make_error_code(errc::malformed_json);
      out.access_token.assign(s);
      have_token = !s.empty();
    } else if (key == "token_type" || key == "tokenType") {
      std::string_view s;
      if (!v.get_string().get(s)) out.token_type.assign(s);
    } else if (key == "expires_on" || key == "expiresOn") {
      out.expires_on = json_impl::seconds_value(v, max_epoch_seconds, true, bad_expiry);
    } else if (key == "expires_in" || key == "expiresIn") {
      out.expires_in = json_impl::seconds_value(v, max_duration_seconds, false, bad_expiry);
    } else if (key == "refresh_in") {
      out.refresh_in = json_impl::seconds_value(v, max_duration_seconds, false, bad_expiry);
    } else if (key == "refresh_on") {
      out.refresh_on = json_impl::seconds_value(v, max_epoch_seconds, true, bad_expiry);
    } else {
      // Consume the value so a syntax error anywhere in the object is noticed.
      std::string_view raw;
      if (json_impl::raw_value(v, raw)) return make_error_code(errc::malformed_json);
    }
  }
  if (!json_impl::fully_consumed(doc)) return make_error_code(errc::malformed_json);
  if (!have_token) return make_error_code(errc::missing_field);
  if (bad_expiry) return make_error_code(errc::invalid_expiry);
  return {};
}

AZID_DECL bool parse_sts_error(std::string_view body, StsError& out) {
  using namespace simdjson;
  out = StsError{};
  ondemand::document doc;
  if (json_impl::parser().iterate(json_impl::padded(body)).get(doc)) return false;
  ondemand::object obj;
  if (doc.get_object().get(obj)) return false;
  bool any = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    ondemand::value v;
    if (field.value().get(v)) return false;
    std::string_view s;
    auto take = [&](std::string& dst) {
      if (!v.get_string().get(s)) {
        dst.assign(s);
        any = true;
      }
    };
    if (key == "error") take(out.error);
    else if (key == "error_description") take(out.error_description);
    else if (key == "correlation_id") take(out.correlation_id);
    else if (key == "trace_id") take(out.trace_id);
    else if (key == "timestamp") take(out.timestamp);
    else if (key == "suberror") take(out.suberror);
    else if (key == "error_codes") {
      ondemand::array arr;
      if (!v.get_array().get(arr)) {
        for (auto el : arr) {
          int64_t code = 0;
          if (!el.get_int64().get(code) && out.error_codes.size() < 16) out.error_codes.push_back(code);
        }
      }
    } else {
      std::string_view raw;
      if (json_impl::raw_value(v, raw)) return false;
    }
  }
  if (!json_impl::fully_consumed(doc)) return false;
  return any && !out.error.empty();
}

AZID_DECL std::optional<std::string> json_string_member(std::string_view body, std::string_view name) {
  using namespace simdjson;
  ondemand::document doc;
  if (json_impl::parser().iterate(json_impl::padded(body)).get(doc)) return std::nullopt;
  ondemand::object obj;
  if (doc.get_object().get(obj)) return std::nullopt;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return std::nullopt;
    if (key != name) continue;
    std::string_view s;
    if (field.value().get_string().get(s)) return std::nullopt;
    return std::string(s);
  }
  return std::nullopt;
}

AZID_DECL std::error_code make_access_token(ParsedToken&& parsed, std::chrono::system_clock::time_point request_time,
                                            AccessToken& out) {
  using namespace std::chrono;
  const long long now_s = duration_cast<seconds>(request_time.time_since_epoch()).count();
  long long expires_on = 0;
  if (parsed.expires_on) expires_on = *parsed.expires_on;
  else if (parsed.expires_in) expires_on = now_s + *parsed.expires_in;
  else return make_error_code(errc::invalid_expiry);
  if (expires_on <= now_s || expires_on > max_epoch_seconds) return make_error_code(errc::invalid_expiry);

  out.token = std::move(parsed.access_token);
  out.token_type = parsed.token_type.empty() ? std::string("Bearer") : std::move(parsed.token_type);
  out.expires_on = system_clock::time_point{seconds{expires_on}};
  out.refresh_on.reset();
  if (parsed.refresh_on && *parsed.refresh_on > now_s && *parsed.refresh_on < expires_on) {
    out.refresh_on = system_clock::time_point{seconds{*parsed.refresh_on}};
  } else if (parsed.refresh_in && *parsed.refresh_in > 0 && now_s + *parsed.refresh_in < expires_on) {
    // (A refresh_in of 0 would make the token due for refresh the moment it arrives: ignored.)
    out.refresh_on = system_clock::time_point{seconds{now_s + *parsed.refresh_in}};
  } else if (expires_on - now_s >= 7200) {
    out.refresh_on = system_clock::time_point{seconds{now_s + (expires_on - now_s) / 2}};
  }
  return {};
}

AZID_DECL std::string json_quote(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
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
  using namespace simdjson;
  static constexpr std::string_view capability = "\"xms_cc\":{\"values\":[\"CP1\"]}";
  // The document is iterated while the output is built, so keep a private copy of the input.
  padded_string input(claims);
  ondemand::parser p;
  ondemand::document doc;
  if (p.iterate(input).get(doc)) return std::nullopt;
  ondemand::object obj;
  if (doc.get_object().get(obj)) return std::nullopt;
  std::string out = "{";
  bool first = true, saw_access_token = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return std::nullopt;
    const std::string k(key);
    ondemand::value v;
    if (field.value().get(v)) return std::nullopt;
    if (!first) out.push_back(',');
    first = false;
    out += json_quote(k);
    out.push_back(':');
    if (k == "access_token") {
      saw_access_token = true;
      ondemand::object inner;
      if (v.get_object().get(inner)) return std::nullopt;
      out.push_back('{');
      bool inner_first = true;
      for (auto f2 : inner) {
        std::string_view k2;
        if (f2.unescaped_key().get(k2)) return std::nullopt;
        const std::string key2(k2);
        std::string_view raw;
        ondemand::value v2;
        if (f2.value().get(v2) || json_impl::raw_value(v2, raw)) return std::nullopt;
        if (key2 == "xms_cc") continue;
        if (!inner_first) out.push_back(',');
        inner_first = false;
        out += json_quote(key2);
        out.push_back(':');
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
          raw.remove_suffix(1);
        out.append(raw);
      }
      if (!inner_first) out.push_back(',');
      out.append(capability);
      out.push_back('}');
    } else {
      std::string_view raw;
      if (json_impl::raw_value(v, raw)) return std::nullopt;
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
        raw.remove_suffix(1);
      out.append(raw);
    }
  }
  if (!json_impl::fully_consumed(doc)) return std::nullopt;
  if (!saw_access_token) {
    if (!first) out.push_back(',');
    out += "\"access_token\":{";
    out.append(capability);
    out.push_back('}');
  }
  out.push_back('}');
  return out;
}

AZID_DECL std::string scrub_body(std::string_view body, std::size_t max_bytes) {
  static constexpr std::string_view secret_keys[] = {"\"access_token\"", "\"refresh_token\"", "\"id_token\"",
                                                     "\"accessToken\"", "\"token\""};
  std::string out;
  out.reserve(body.size() < max_bytes ? body.size() : max_bytes);
  std::size_t i = 0;
  while (i < body.size() && out.size() < max_bytes) {
    bool replaced = false;
    if (body[i] == '"') {
      for (auto k : secret_keys) {
        if (body.substr(i, k.size()) != k) continue;
        std::size_t j = i + k.size();
        while (j < body.size() && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r')) ++j;
        if (j >= body.size() || body[j] != ':') break;
        ++j;
        while (j < body.size() && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r')) ++j;
        if (j < body.size() && body[j] == '"') {
          std::size_t e = j + 1;
          while (e < body.size() && body[e] != '"') e += (body[e] == '\\') ? 2 : 1;
          out.append(k);
          out.append(":\"***\"");
          i = e < body.size() ? e + 1 : body.size();
          replaced = true;
        }
        break;
      }
    }
    if (!replaced) {
      const unsigned char c = static_cast<unsigned char>(body[i]);
      out.push_back((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : body[i]);
      ++i;
    }
  }
  if (i < body.size()) out.append("...(truncated)");
  return out;
}

}  // namespace detail
AZID_END
