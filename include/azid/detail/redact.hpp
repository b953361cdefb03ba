// azid/detail/redact.hpp: blanking a secret wherever it appears in a text meant for a message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "azid/config.hpp"

AZID_BEGIN
namespace detail {

/// Replaces each occurrence of `secret` in `text` by REDACTED. A secret shorter than 8 bytes is
/// replaced only where it stands alone (not inside a run of letters and digits): blanking every
/// "S" would garble "ClientSecretCredential" and, by where the holes fall, show the secret.
/// Nothing happens for an empty secret.
inline void redact_all(std::string& text, std::string_view secret) {
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

/// Overwrites a string that held a secret (a password, key material) and empties it, so the
/// bytes do not linger in freed memory. The writes go through a volatile pointer, which the
/// optimizer may not drop as dead stores.
inline void wipe_secret(std::string& s) noexcept {
  volatile char* p = s.data();
  for (std::size_t i = 0; i < s.size(); ++i) p[i] = 0;
  s.clear();
}

}  // namespace detail
AZID_END
