// azid/transport/http_message.hpp: the HTTP request/response values a Transport exchanges (light).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "azid/config.hpp"

AZID_BEGIN

/// Case-insensitive ASCII comparison of header names.
[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

/// An ordered list of header fields; names compare case-insensitively.
class HttpHeaders {
 public:
  using Field = std::pair<std::string, std::string>;

  void set(std::string_view name, std::string_view value) {
    for (auto& f : fields_)
      if (iequals(f.first, name)) {
        f.second.assign(value);
        return;
      }
    fields_.emplace_back(std::string(name), std::string(value));
  }
  void add(std::string_view name, std::string_view value) {
    fields_.emplace_back(std::string(name), std::string(value));
  }
  /// The first value of `name`, or an empty view when absent.
  [[nodiscard]] std::string_view get(std::string_view name) const noexcept {
    for (const auto& f : fields_)
      if (iequals(f.first, name)) return f.second;
    return {};
  }
  [[nodiscard]] bool contains(std::string_view name) const noexcept {
    for (const auto& f : fields_)
      if (iequals(f.first, name)) return true;
    return false;
  }
  void erase(std::string_view name) {
    std::erase_if(fields_, [&](const Field& f) { return iequals(f.first, name); });
  }
  [[nodiscard]] const std::vector<Field>& fields() const noexcept { return fields_; }
  [[nodiscard]] bool empty() const noexcept { return fields_.empty(); }
  void clear() noexcept { fields_.clear(); }

 private:
  std::vector<Field> fields_;
};

/// A request as a credential builds it. `url` is absolute: `https://host[:port]/path?query`
/// (`http://` only for the managed-identity endpoints that use plain HTTP).
struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;

  /// Time allowed to open the TCP connection (and the proxy tunnel). A closed port fails
  /// at once; a black-holed address fails when this runs out.
  std::chrono::milliseconds connect_timeout{10'000};
  /// Time allowed for the whole exchange once connected: TLS handshake, sending the request
  /// and reading the complete response. A server that stalls is cut off here.
  std::chrono::milliseconds timeout{30'000};
  /// Largest response body accepted; a larger one fails with errc::body_too_large.
  std::size_t max_body_bytes = 1 << 20;
  /// Pin the server certificate by its SHA-1 (or SHA-256) thumbprint, hex, instead of
  /// verifying it against the trust store (Service Fabric's managed identity endpoint).
  std::string pinned_thumbprint;
  /// Go straight to the host even when a proxy is configured. IMDS must never be reached
  /// through a proxy (it refuses proxied calls; managed-identity.md §4).
  bool bypass_proxy = false;
};

/// A complete response. `body` has spare capacity so JSON parsers may read past its end.
struct HttpResponse {
  int status = 0;
  std::string reason;
  HttpHeaders headers;
  std::string body;
};

AZID_END
