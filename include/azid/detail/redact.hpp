// azid/detail/redact.hpp: blanking a secret wherever it appears in a text meant for a message.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include "azid/config.hpp"

AZID_BEGIN
namespace detail {

/// `s` without the spaces, tabs, CRs and LFs around it (what a file or a shell leaves around a
/// secret or a setting).
[[nodiscard]] constexpr std::string_view trim_space(std::string_view s) noexcept {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

/// `text` as it may be quoted in a message or a log line: control characters (C0, DEL, and C1
/// written in UTF-8, such as CSI), the Unicode line and paragraph separators, the bidirectional
/// formatting characters (which reorder what a terminal shows, "Trojan Source") and bytes that are
/// not UTF-8 as '?', so a value cannot forge a line, drive a terminal or disguise itself; at most
/// `max_bytes` long, cut before a UTF-8 sequence rather than inside it.
[[nodiscard]] inline std::string printable(std::string_view text, std::size_t max_bytes = 128) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = byte(i);
    // Length of a well-formed sequence (RFC 3629: no overlong forms, no surrogates), or 0.
    std::size_t n = 0;
    bool format_char = false;  // well-formed, but one that must not reach a terminal as it is
    if (c < 0x80) {
      n = 1;
    } else if (c >= 0xC2 && c <= 0xF4) {
      n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      const unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
      if (i + n > text.size() || byte(i + 1) < lo || byte(i + 1) > hi) n = 0;
      for (std::size_t k = 2; n != 0 && k < n; ++k)
        if ((byte(i + k) & 0xC0) != 0x80) n = 0;
      if (n == 2 && c == 0xC2 && byte(i + 1) < 0xA0) n = 0;  // U+0080..U+009F: C1 controls
      if (n == 2 && c == 0xD8 && byte(i + 1) == 0x9C) format_char = true;  // U+061C (bidi mark)
      if (n == 3 && c == 0xE2) {
        const unsigned char b1 = byte(i + 1), b2 = byte(i + 2);
        // U+200E/U+200F (marks), U+2028/U+2029 (separators), U+202A..U+202E (embeddings and
        // overrides), U+2066..U+2069 (isolates).
        if ((b1 == 0x80 && (b2 == 0x8E || b2 == 0x8F || (b2 >= 0xA8 && b2 <= 0xAE))) ||
            (b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9))
          format_char = true;
      }
    }
    const bool shown = (n > 1 && !format_char) || (n == 1 && c >= 0x20 && c != 0x7f);
    const std::size_t width = shown ? n : 1;
    if (out.size() + width > max_bytes) break;
    if (shown)
      out.append(text.substr(i, n));
    else
      out.push_back('?');
    i += n == 0 ? 1 : n;
  }
  return out;
}

/// A URL-like value (an authority or endpoint setting that was refused) as it may be quoted: the
/// user information up to its last '@' (the password may hold '/', '?' or '#', or the scheme's
/// slashes may be missing) as REDACTED@, then no query or fragment (signatures), printable().
[[nodiscard]] inline std::string quoted_url(std::string_view url) {
  std::size_t start = 0;
  if (const std::size_t sep = url.find("://"); sep != std::string_view::npos && sep > 0) {
    bool scheme = true;  // RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    for (char c : url.substr(0, sep))
      scheme = scheme && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
    if (scheme) start = sep + 3;
  }
  std::string shown(url.substr(0, start));
  std::string_view rest = url.substr(start);
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    shown += "REDACTED@";
    rest.remove_prefix(at + 1);
  }
  shown.append(rest.substr(0, rest.find_first_of("?#")));
  return printable(shown);
}

/// Replaces each occurrence of `secret` in `text` by REDACTED. A secret shorter than 8 bytes is
/// replaced only where it stands alone (not inside a run of letters and digits): blanking every
/// "S" would garble "ClientSecretCredential" and, by where the holes fall, show the secret.
/// Nothing happens for an empty secret.
inline void redact_exact(std::string& text, std::string_view secret) {
  if (secret.empty()) return;
  auto word = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  const bool short_secret = secret.size() < 8;
  constexpr std::string_view mark = "REDACTED";
  for (std::size_t pos = text.find(secret); pos != std::string::npos;) {
    const std::size_t end = pos + secret.size();
    const bool alone = (pos == 0 || !word(text[pos - 1]) || !word(secret.front())) &&
                       (end == text.size() || !word(text[end]) || !word(secret.back()));
    if (short_secret && !alone) {
      pos = text.find(secret, pos + 1);
      continue;
    }
    text.replace(pos, secret.size(), mark);
    pos = text.find(secret, pos + mark.size());
  }
}

/// redact_exact for `secret` and for `secret` without the whitespace around it: a key file or a
/// variable ending in a newline goes on the wire trimmed (or with the newline turned into a
/// space the server drops), and that is the form an endpoint echoes back.
inline void redact_all(std::string& text, std::string_view secret) {
  redact_exact(text, secret);
  redact_exact(text, trim_space(secret));
}

/// Overwrites `n` bytes at `p` that held a secret. The writes go through a volatile pointer,
/// which the optimizer may not drop as dead stores.
inline void wipe_bytes(void* p, std::size_t n) noexcept {
  volatile char* v = static_cast<volatile char*>(p);
  for (std::size_t i = 0; i < n; ++i) v[i] = 0;
}

/// Overwrites a string that held a secret (a password, key material) and empties it, so the
/// bytes do not linger in freed memory.
inline void wipe_secret(std::string& s) noexcept {
  wipe_bytes(s.data(), s.size());
  s.clear();
}

/// Wipes a string that holds a secret when the scope ends, however it ends.
class WipeOnExit {
 public:
  explicit WipeOnExit(std::string& s) noexcept : s_(s) {}
  ~WipeOnExit() { wipe_secret(s_); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  std::string& s_;
};

}  // namespace detail
AZID_END
