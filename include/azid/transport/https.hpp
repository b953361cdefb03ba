// azid/transport/https.hpp: HttpsTransport, the default blocking Transport (POSIX sockets + OpenSSL,
// pimpl). Neither Asio nor OpenSSL is included here, nor in the consumer of a blocking credential.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <system_error>

#include "azid/config.hpp"
#include "azid/transport/http_message.hpp"

struct addrinfo;

AZID_BEGIN

namespace detail {
/// getaddrinfo's signature: how both HTTPS transports look host names up.
using NameLookup = int (*)(const char*, const char*, const ::addrinfo*, ::addrinfo**);
/// The lookup both HTTPS transports call (getaddrinfo unless replaced): a seam for tests that
/// need a slow or scripted resolver, since a real one cannot be made slow on purpose.
[[nodiscard]] AZID_DECL std::atomic<NameLookup>& name_lookup() noexcept;

/// Where the system trust anchors come from: a PEM bundle read at once (`file`) and directories
/// of hashed names consulted on demand (`dir`, ':'-separated); empty: none.
struct SystemTrustPaths {
  std::string file;
  std::string dir;
};
/// OpenSSL's default verify paths, with one saving: the same trust as X509_STORE_set_default_paths
/// (the SSL_CERT_FILE value or the default bundle, and the SSL_CERT_DIR value or the default
/// directory), except that the default bundle is not read when the default directory is among
/// those consulted (SSL_CERT_DIR unset, or listing it) and holds at least as many hashed names
/// (`5ad8a5d6.0`) as the bundle has PEM blocks (counted by a byte scan, nothing parsed), as on
/// Debian, where it mirrors the bundle: a process making one request then does not parse ~150
/// certificates. A default directory with fewer (Fedora and RHEL keep only bundles in theirs; an
/// administrator may have added one private CA and rehashed) does not replace the bundle, nor
/// does an SSL_CERT_DIR that leaves it out.
/// Unset and empty variables are the same. The arguments are the two variables' values and
/// OpenSSL's compiled-in defaults (a seam: tests pass their own).
[[nodiscard]] AZID_DECL SystemTrustPaths system_trust_paths(const char* file_env,
                                                            const char* dir_env,
                                                            const char* default_file,
                                                            const char* default_dir);
}  // namespace detail

/// Settings of the default transport. OpenSSL stays behind the pimpl: this header is light.
struct TransportOptions {
  /// Extra trust anchors (PEM file), trusted in addition to the system store. Used to trust a
  /// private CA, e.g. the local emulator's. Empty: system store only.
  std::string extra_ca_file;
  /// Trust the system store (OpenSSL's default verify paths; SSL_CERT_FILE / SSL_CERT_DIR apply).
  bool use_system_trust = true;
  /// Proxy for https:// requests (HTTPS_PROXY), `http://host:port` or
  /// `http://user:password@host:port` (percent-encoded; sent as Basic Proxy-Authorization and
  /// never logged); empty: no proxy. A value that is not an http:// URL (TLS to the proxy, SOCKS)
  /// fails the requests that would take it with errc::proxy_unusable.
  std::string https_proxy;
  /// Proxy for plain http:// requests (HTTP_PROXY), the same forms; empty: no proxy.
  std::string http_proxy;
  /// Comma-separated entries that bypass the proxy (NO_PROXY): hosts (a name also covers its
  /// subdomains; `.example.com` and `*.example.com` too), IP addresses, CIDR ranges
  /// (`10.0.0.0/16`, `fd00::/8`), each with an optional `:port`; or `*` for everything.
  std::string no_proxy;
  /// Largest response header block accepted (status line and fields).
  std::size_t max_header_bytes = 64 * 1024;
  /// Idle kept-alive connections kept per host:port.
  std::size_t max_idle_per_host = 4;
  /// A pooled connection idle for longer than this is closed instead of reused.
  std::chrono::milliseconds idle_timeout{60'000};
};

/// HTTP/1.1 over TCP, TLS 1.2+ for https:// (peer and host-name verification, SNI), keep-alive
/// connection reuse per host, Content-Length and chunked bodies with size limits, connect and
/// exchange timeouts, and HTTP CONNECT tunnelling through a proxy.
///
/// Models Transport. Thread-safe: `send` may be called from many threads; each exchange uses
/// its own connection. Trust anchors of the system store are loaded once per process.
///
/// Blocking I/O is written directly on non-blocking sockets, poll(2) and OpenSSL's SSL_* calls:
/// a calling thread drives its own exchange, so an event loop would add nothing but compile time
/// and start-up work. (The asynchronous transport, azid/async, is the one built on Asio.)
class HttpsTransport {
 public:
  AZID_DECL explicit HttpsTransport(TransportOptions options = {});
  AZID_DECL ~HttpsTransport();
  HttpsTransport(const HttpsTransport&) = delete;
  HttpsTransport& operator=(const HttpsTransport&) = delete;

  /// One exchange. I/O failures set `ec` (azid::errc) and return an empty response.
  AZID_DECL HttpResponse send(const HttpRequest& request, std::error_code& ec);

  /// Connections opened so far (TCP connects, proxy tunnels included); for tests and benchmarks.
  [[nodiscard]] AZID_DECL std::size_t connections_opened() const noexcept;
  /// Closes every idle pooled connection.
  AZID_DECL void close_idle() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

AZID_END

#if defined(AZID_HEADER_ONLY)
#include "azid/impl/https.ipp"
#endif
