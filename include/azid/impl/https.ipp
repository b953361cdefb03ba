// azid/impl/https.ipp: HttpsTransport on POSIX sockets, poll(2) and OpenSSL, plus the TLS, trust
// and proxy-routing pieces the asynchronous transport (async_https.ipp) shares. No Asio here.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "azid/core/error_code.hpp"
#include "azid/detail/base64.hpp"
#include "azid/detail/redact.hpp"
#include "azid/detail/http1.hpp"
#include "azid/detail/url.hpp"
#include "azid/transport/https.hpp"

AZID_BEGIN
namespace detail {
AZID_DECL std::atomic<NameLookup>& name_lookup() noexcept {
  static std::atomic<NameLookup> fn{&::getaddrinfo};
  return fn;
}

namespace https_impl {
inline bool exists(const char* path) {
  struct stat st {};
  return ::stat(path, &st) == 0;
}
/// True when `dir` holds at least `wanted` names of the form OpenSSL's hashed lookup opens: eight
/// hex digits, a dot and a number (`5ad8a5d6.0`; CRLs have `.r0`, which do not count).
inline bool has_hashed_names(const char* dir, std::size_t wanted) {
  DIR* d = ::opendir(dir);
  if (d == nullptr) return false;
  std::size_t found = 0;
  while (found < wanted) {
    const dirent* e = ::readdir(d);
    if (e == nullptr) break;
    const std::string_view name(e->d_name);
    if (name.size() < 10 || name[8] != '.') continue;
    const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (std::all_of(name.begin(), name.begin() + 8, hex) &&
        std::all_of(name.begin() + 9, name.end(), digit))
      ++found;
  }
  ::closedir(d);
  return found >= wanted;
}

/// How many PEM objects (`-----BEGIN `) the file at `path` holds, counted by a scan of its bytes
/// with nothing parsed; 0 when it cannot be read. Objects other than certificates count too, so
/// the count errs on the side of reading the file.
inline std::size_t pem_objects_in(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  constexpr std::string_view marker = "-----BEGIN ";
  std::size_t count = 0;
  std::array<char, 16 * 1024> chunk;
  std::string window;  // the unscanned tail of the last read, then the new bytes
  for (;;) {
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    window.append(chunk.data(), static_cast<std::size_t>(n));
    for (std::size_t at = window.find(marker); at != std::string::npos;
         at = window.find(marker, at + marker.size()))
      ++count;
    // A marker cut in two by the read ends in the last marker.size() - 1 bytes: keep only those.
    window.erase(0, window.size() - std::min(window.size(), marker.size() - 1));
  }
  ::close(fd);
  return count;
}
}  // namespace https_impl

AZID_DECL SystemTrustPaths system_trust_paths(const char* file_env, const char* dir_env,
                                              const char* default_file, const char* default_dir) {
  const auto given = [](const char* s) { return s != nullptr && *s != '\0'; };
  SystemTrustPaths out;
  struct stat def {};
  const bool have_default_dir =
      given(default_dir) && ::stat(default_dir, &def) == 0 && S_ISDIR(def.st_mode);
  // Is the default directory one of those consulted? (SSL_CERT_DIR may list it, under any name.)
  bool consults_default = false;
  if (given(dir_env)) {
    out.dir = dir_env;
    for (std::string_view rest = out.dir; have_default_dir && !rest.empty();) {
      const std::size_t colon = rest.find(':');
      const std::string entry(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
      struct stat st {};
      if (::stat(entry.c_str(), &st) == 0 && st.st_dev == def.st_dev && st.st_ino == def.st_ino)
        consults_default = true;
    }
  } else if (have_default_dir) {
    out.dir = default_dir;
    consults_default = true;
  }
  if (given(file_env))
    out.file = file_env;
  else if (given(default_file) && https_impl::exists(default_file) &&
           !(consults_default &&
             https_impl::has_hashed_names(
                 default_dir, std::max<std::size_t>(1, https_impl::pem_objects_in(default_file)))))
    out.file = default_file;
  return out;
}

namespace https_impl {

using steady = std::chrono::steady_clock;

/// The longest wait a timeout may ask for. Callers say "no limit" with milliseconds::max(), which
/// would overflow the clock's nanoseconds if added as it is.
inline constexpr std::chrono::milliseconds longest_wait{std::chrono::hours{24 * 365}};
/// `now + d`, `d` clamped to [0, longest_wait].
inline steady::time_point after(std::chrono::milliseconds d, steady::time_point now) noexcept {
  return now + std::clamp(d, std::chrono::milliseconds::zero(), longest_wait);
}
inline steady::time_point after(std::chrono::milliseconds d) noexcept {
  return after(d, steady::now());
}

// ---------------------------------------------------------------------------------------------
// Trust

/// Points `store` at the system trust anchors (system_trust_paths: OpenSSL's default verify
/// paths, the bundle left unread where a hashed directory holds as many anchors as it does).
inline void add_system_trust(X509_STORE* store) {
  const SystemTrustPaths paths = system_trust_paths(
      std::getenv(X509_get_default_cert_file_env()), std::getenv(X509_get_default_cert_dir_env()),
      X509_get_default_cert_file(), X509_get_default_cert_dir());
  if (!paths.file.empty()) X509_STORE_load_file(store, paths.file.c_str());
  if (!paths.dir.empty()) {
    if (X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir())) {
      // add_dir takes a ':'-separated list, which is also what SSL_CERT_DIR holds.
      X509_LOOKUP_add_dir(lookup, paths.dir.c_str(), X509_FILETYPE_PEM);
    }
  }
  // Whatever failed to load above must not leak into the error queue of the next handshake.
  ERR_clear_error();
}

/// OpenSSL 3.0 decodes a certificate's extensions into a cache inside the X509 the first time
/// a chain check touches it; two handshakes doing that at once on a shared anchor race (seen
/// under TSan). Filling the cache here, before the store is shared, leaves only reads later.
/// Anchors that a hashed directory loads on demand are OpenSSL's to guard.
inline void warm_certificate_caches(X509_STORE* store) {
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    if (X509* cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i)))
      (void)X509_check_purpose(cert, -1, 0);
  }
}

struct SslCtxFree {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

/// A TLS 1.2+ client context that verifies its peer (anchors are added by the caller).
inline SslCtxPtr make_client_context() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    ERR_clear_error();
    throw std::runtime_error("HttpsTransport: OpenSSL could not create a TLS context");
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  return ctx;
}

/// The process-wide client context trusting the system store: built on first use, once, and
/// shared by every transport that does not need extra anchors. SSL_CTX is safe to share
/// between threads for creating connections.
inline SSL_CTX* system_context() {
  static const SslCtxPtr ctx = [] {
    SslCtxPtr c = make_client_context();
    add_system_trust(SSL_CTX_get_cert_store(c.get()));
    warm_certificate_caches(SSL_CTX_get_cert_store(c.get()));
    return c;
  }();
  return ctx.get();
}

/// True for an IPv4 or IPv6 literal (an IPv6 host is stored without its brackets). Numeric only:
/// nothing is looked up.
// Strict forms only (dotted quad, or IPv6): the same forms the certificate's IP check takes.
// getaddrinfo(AI_NUMERICHOST) would also take inet_aton's `127.1`, `0x7f.1` or `010.0.0.1`, which
// that check cannot match; those are treated as names, so verification fails closed.
inline bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

/// Hex SHA-1 (40 digits) or SHA-256 (64 digits) of the certificate's DER, compared without
/// regard to case; colons and spaces in the pin are ignored, as thumbprints are often
/// copied with them.
inline bool matches_pin(X509* cert, std::string_view pin) {
  std::string want;
  for (char c : pin) {
    if (c == ':' || c == ' ') continue;
    want.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
  }
  const EVP_MD* md = want.size() == 40 ? EVP_sha1() : want.size() == 64 ? EVP_sha256() : nullptr;
  if (md == nullptr || cert == nullptr) return false;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, md, digest, &len) != 1) return false;
  return hex_lower(digest, len) == want;
}

/// Peer and host-name verification (or none, for a pinned endpoint) and SNI on a fresh TLS
/// connection; shared by both transports. False when the name or address to verify could not
/// be set: the connection must not go on (it would check the chain but not whom it is for).
[[nodiscard]] inline bool prepare_tls(SSL* ssl, const Url& url, const std::string& pin) {
  const bool ip_literal = is_ip_literal(url.host);
  if (!pin.empty()) {
    // A pinned endpoint (Service Fabric) presents a self-signed certificate for a name we
    // cannot predict: the thumbprint replaces both chain and name checks.
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  } else if (ip_literal) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str()) != 1) return false;
  } else {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, url.host.c_str()) != 1) return false;
  }
  // SNI carries names only (RFC 6066 §3 forbids IP literals).
  if (!ip_literal && SSL_set_tlsext_host_name(ssl, url.host.c_str()) != 1) return false;
  return true;
}

/// The verdict on a finished handshake: azid::errc, or none. `failed`: the handshake did not
/// complete; `closed`: it failed because the peer closed or reset the connection.
inline std::error_code handshake_verdict(SSL* ssl, const std::string& pin, bool failed,
                                         bool closed) {
  if (failed) {
    const long verify = SSL_get_verify_result(ssl);
    if (pin.empty() && verify != X509_V_OK) {
      if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
        return make_error_code(errc::certificate_host_mismatch);
      if (verify == X509_V_ERR_CERT_HAS_EXPIRED || verify == X509_V_ERR_CERT_NOT_YET_VALID)
        return make_error_code(errc::certificate_expired);
      return make_error_code(errc::certificate_untrusted);
    }
    if (closed) return make_error_code(errc::connection_closed);
    return make_error_code(errc::tls_handshake_failed);
  }
  if (!pin.empty()) {
    X509* cert = SSL_get1_peer_certificate(ssl);
    const bool ok = matches_pin(cert, pin);
    X509_free(cert);
    if (!ok) return make_error_code(errc::certificate_pin_mismatch);
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Routing and state shared by both transports

struct ReadOutcome {
  std::error_code ec;
  bool received_any = false;  // any byte arrived on this connection for this response
  bool closed = false;        // the peer closed (the response ended with the connection)
  bool leftover = false;      // bytes followed the response: the connection is out of step
};

/// Where a request goes: straight to the origin, or through a proxy.
struct Route {
  const Url* proxy = nullptr;  // connect here instead of the origin
  bool tunnel = false;         // https through the proxy: CONNECT, then TLS inside
  bool absolute_form = false;  // http through the proxy: absolute-form request target
  const std::string* proxy_authorization = nullptr;  // Proxy-Authorization value, when any
  bool unusable = false;  // the proxy this request must take cannot be used
};

/// The CONNECT request opening a tunnel to `target` (host:port), with the proxy's credentials.
inline std::string connect_request_for(const std::string& target, const Route& route) {
  std::string r = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
  if (route.proxy_authorization != nullptr)
    r += "Proxy-Authorization: " + *route.proxy_authorization + "\r\n";
  return r + "\r\n";
}

/// The verdict on the proxy's answer to CONNECT, `r` (`status` its status): none when the tunnel
/// is open. An answer cut off by a reset, a close or the deadline keeps the error it would have
/// without a proxy (connection_closed, io_error, connect_timeout); an answer saying to come back
/// later (408, 500, 502, 503, 504) is errc::proxy_temporary_failure. Those are retried. Anything
/// else is errc::proxy_failed: a refusal (407 and other 4xx), an answer that is not HTTP, or one
/// followed by bytes (the proxy must not speak for the origin before our ClientHello).
inline std::error_code tunnel_verdict(const ReadOutcome& r, int status) {
  if (r.ec == errc::connection_closed || r.ec == errc::io_error || r.ec == errc::connect_timeout)
    return r.ec;
  if (r.ec) return make_error_code(errc::proxy_failed);
  if (status == 408 || status == 500 || status == 502 || status == 503 || status == 504)
    return make_error_code(errc::proxy_temporary_failure);
  if (status < 200 || status > 299 || r.closed || r.leftover)
    return make_error_code(errc::proxy_failed);
  return {};
}

/// `head_and_body` (a serialized request) with the proxy's credentials after its request line.
inline void add_proxy_authorization(std::string& head_and_body, const Route& route) {
  if (route.proxy_authorization == nullptr || !route.absolute_form) return;
  const std::size_t eol = head_and_body.find("\r\n");
  if (eol == std::string::npos) return;
  head_and_body.insert(eol + 2, "Proxy-Authorization: " + *route.proxy_authorization + "\r\n");
}

inline std::string host_port(const Url& u) {
  std::string s;
  if (is_ipv6_host(u)) {
    s.push_back('[');
    s.append(u.host);
    s.push_back(']');
  } else {
    s.append(u.host);
  }
  s.push_back(':');
  s.append(std::to_string(u.port));
  return s;
}

inline bool request_says_close(const HttpRequest& req) {
  const std::string_view v = req.headers.get("Connection");
  for (std::size_t i = 0; i + 5 <= v.size(); ++i)
    if (iequals(v.substr(i, 5), "close")) return true;
  return false;
}

/// A configured proxy: where to connect, the Proxy-Authorization value its URL's credentials
/// give (`http://user:pass@host:port`, percent-decoded, sent as Basic), or unusable (not a URL,
/// or not http://: TLS to the proxy and SOCKS are not supported). An unusable proxy fails the
/// requests routed through it (errc::proxy_unusable) rather than the construction, so a process
/// that never uses it (IMDS, a developer tool) still works under a setting it cannot use.
struct ProxySetting {
  Url url;
  std::string authorization;
  bool usable = false;
};

inline ProxySetting parse_proxy_option(const std::string& raw) {
  ProxySetting p;
  // A value from a shell or a file often ends in a newline or has a stray space: not part of it.
  const std::string_view text = trim_space(raw);
  // HTTPS_PROXY values are often written without a scheme ("proxy:3128").
  std::string full = text.find("://") == std::string_view::npos ? "http://" + std::string(text)
                                                                : std::string(text);
  const std::size_t start = full.find("://") + 3;
  const std::size_t end = full.find_first_of("/?#", start);
  const std::size_t at = full.rfind('@', end == std::string::npos ? full.size() : end);
  if (at != std::string::npos && at >= start) {
    const std::string_view userinfo = std::string_view(full).substr(start, at - start);
    const std::size_t colon = userinfo.find(':');
    const std::string user = percent_decode(userinfo.substr(0, colon));
    const std::string pass = colon == std::string_view::npos
                                 ? std::string()
                                 : percent_decode(userinfo.substr(colon + 1));
    p.authorization = "Basic " + base64_encode(user + ":" + pass, false);
    full.erase(start, at + 1 - start);
  }
  p.usable = !parse_url(full, p.url) && p.url.scheme == "http";
  return p;
}

/// What a transport keeps for all its exchanges: options, proxies, the TLS context when its trust
/// differs from the system's, and the count of connections opened. Both transports derive from it.
struct TransportState {
  TransportOptions options;
  SslCtxPtr own_context;  // set when trust differs from the system's
  std::optional<ProxySetting> https_proxy;
  std::optional<ProxySetting> http_proxy;
  std::atomic<std::size_t> opened{0};

  SSL_CTX* tls_context() const { return own_context ? own_context.get() : system_context(); }
};

/// Fills `state` from `options`: proxies parsed, and a TLS context of its own when the trust
/// anchors differ from the system's.
inline void configure(TransportState& state, TransportOptions options) {
  state.options = std::move(options);
  const TransportOptions& o = state.options;
  if (!o.https_proxy.empty()) state.https_proxy = parse_proxy_option(o.https_proxy);
  if (!o.http_proxy.empty()) state.http_proxy = parse_proxy_option(o.http_proxy);
  if (!o.extra_ca_file.empty() || !o.use_system_trust) {
    // Different anchors need a context of their own; it is built once, here, and shared by
    // every connection of this transport.
    state.own_context = make_client_context();
    X509_STORE* store = SSL_CTX_get_cert_store(state.own_context.get());
    if (o.use_system_trust) add_system_trust(store);
    if (!o.extra_ca_file.empty() && X509_STORE_load_file(store, o.extra_ca_file.c_str()) != 1) {
      ERR_clear_error();
      throw std::invalid_argument("HttpsTransport: cannot load extra_ca_file " + o.extra_ca_file);
    }
    warm_certificate_caches(store);
  }
}

/// The route of a request to `url` under the transport's proxy settings.
inline Route route_for(const TransportState& state, const HttpRequest& request, const Url& url) {
  Route route;
  const bool https = url.scheme == "https";
  if (!request.bypass_proxy && !bypasses_proxy(state.options.no_proxy, url.host)) {
    const std::optional<ProxySetting>& p = https ? state.https_proxy : state.http_proxy;
    if (p) {
      route.proxy = &p->url;
      route.tunnel = https;
      route.absolute_form = !https;
      if (!p->authorization.empty()) route.proxy_authorization = &p->authorization;
      route.unusable = !p->usable;
    }
  }
  return route;
}

/// Whether nothing is waiting to be read on the idle socket `fd` (no data, no EOF, no error).
inline bool socket_quiet(int fd) noexcept {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  int rc;
  do rc = ::poll(&p, 1, 0);
  while (rc < 0 && errno == EINTR);
  return rc == 0;
}

/// Idle kept-alive connections by pool slot, most recently used last; both transports keep one.
/// `Ptr` owns a connection with a `key`, an `idle_since` and the `pid` of the process that opened
/// it, for which `idle_and_quiet(conn)` is found by argument-dependent lookup. Connections are
/// closed (destroyed) outside the lock.
template <class Ptr>
class IdlePool {
 public:
  /// The most recently parked live connection for `key`, or null; ones older than `max_idle`,
  /// with anything waiting to be read, or opened by another process, are closed.
  Ptr take(const std::string& key, std::chrono::milliseconds max_idle) {
    std::vector<Ptr> expired;  // declared before the lock: closed after it is released
    Ptr found;
    const pid_t self = ::getpid();
    std::lock_guard lock(mutex_);
    auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    const auto now = steady::now();
    while (!list.empty()) {
      Ptr c = std::move(list.back());  // most recently used: likeliest to be alive
      list.pop_back();
      // A fork() child inherits the pool, but the sockets in it are shared with its parent: both
      // would read from one connection, each taking some of the other's responses. The child
      // lets go of its copy without reading or writing a byte (no TLS close_notify either), which
      // leaves the parent's connection as it was.
      if (c->pid != self) {
        expired.push_back(std::move(c));
        continue;
      }
      // Too old, or not quiet: a parked connection must have nothing to read. Bytes or an EOF
      // waiting on it (a late part of the last response, a 408 sent before closing, a close)
      // would be taken for the next response.
      if (now - c->idle_since > std::min(max_idle, longest_wait) || !idle_and_quiet(*c)) {
        expired.push_back(std::move(c));
        continue;
      }
      found = std::move(c);
      break;
    }
    if (list.empty()) idle_.erase(it);
    return found;
  }

  /// Parks `c`; the oldest of its slot is closed when the slot holds more than `max_per_key`.
  void put(Ptr c, std::size_t max_per_key) {
    if (max_per_key == 0) return;
    Ptr evicted;  // declared before the lock: closed after it is released
    c->idle_since = steady::now();
    std::lock_guard lock(mutex_);
    auto& list = idle_[c->key];
    list.push_back(std::move(c));
    if (list.size() > max_per_key) {
      evicted = std::move(list.front());
      list.erase(list.begin());
    }
  }

  void clear() noexcept {
    std::unordered_map<std::string, std::vector<Ptr>> dropped;
    {
      std::lock_guard lock(mutex_);
      dropped.swap(idle_);
    }
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<Ptr>> idle_;
};

/// The pool slot of a connection. Pinned and unpinned connections never share one: a connection
/// accepted by a pin was never chain-verified.
inline std::string pool_key(const Url& url, const Route& route, const std::string& pin) {
  std::string key = url.scheme + "://" + host_port(url);
  if (route.proxy) key += " via " + host_port(*route.proxy);
  if (!pin.empty()) key += " pin " + pin;
  return key;
}

// ---------------------------------------------------------------------------------------------
// The blocking transport: one non-blocking socket per connection, driven by the calling thread
// with poll(2) against the exchange's deadline.

/// What the socket BIO below reads and writes, and the errno of its last failure.
struct SocketBioState {
  int fd = -1;
  int last_errno = 0;
  bool eof = false;
};

inline int socket_bio_write(BIO* b, const char* data, int len) {
  auto* s = static_cast<SocketBioState*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  ssize_t n;
  do {
    // MSG_NOSIGNAL: a peer that has gone must give EPIPE, not kill the process with SIGPIPE
    // (OpenSSL's own socket BIO writes with write(2), which raises it).
    n = ::send(s->fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return static_cast<int>(n);
  s->last_errno = errno;
  if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(b);
  return -1;
}

inline int socket_bio_read(BIO* b, char* data, int len) {
  auto* s = static_cast<SocketBioState*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  ssize_t n;
  do {
    n = ::recv(s->fd, data, static_cast<std::size_t>(len), 0);
  } while (n < 0 && errno == EINTR);
  if (n > 0) return static_cast<int>(n);
  if (n == 0) {
    s->eof = true;
    return 0;
  }
  s->last_errno = errno;
  if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(b);
  return -1;
}

inline long socket_bio_ctrl(BIO* b, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // writes are not buffered
    case BIO_CTRL_EOF:
      return static_cast<SocketBioState*>(BIO_get_data(b))->eof ? 1 : 0;
    default:
      return 0;
  }
}

inline int socket_bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

/// The BIO method, made once per process (OpenSSL keeps no state in it beyond the callbacks).
inline const BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "azid socket");
    if (m != nullptr) {
      BIO_meth_set_write(m, socket_bio_write);
      BIO_meth_set_read(m, socket_bio_read);
      BIO_meth_set_ctrl(m, socket_bio_ctrl);
      BIO_meth_set_create(m, socket_bio_create);
    }
    return m;
  }();
  return method;
}

/// One TCP (or TLS over TCP) connection.
struct Connection {
  int fd = -1;
  SSL* ssl = nullptr;  // owns its BIO, which points at `bio`
  SocketBioState bio;
  std::string key;
  steady::time_point idle_since{};
  pid_t pid = ::getpid();  // the process that opened it (IdlePool::take)
  std::array<char, 16 * 1024> buffer{};

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // No SSL_shutdown (no close_notify is written). In a fork() child, whose descriptor is a copy
  // of its parent's, the close then reaches nothing but the child's copy.
  ~Connection() {
    if (ssl != nullptr) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }
};
using ConnectionPtr = std::unique_ptr<Connection>;

inline bool idle_and_quiet(const Connection& c) noexcept {
  return (c.ssl == nullptr || SSL_pending(c.ssl) == 0) && socket_quiet(c.fd);
}

/// Waits until `fd` is ready for `events` (or has an error to report), or the deadline passes
/// (false).
inline bool wait_for(int fd, short events, steady::time_point deadline) {
  for (;;) {
    const auto now = steady::now();
    if (now >= deadline) return false;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return true;  // the operation that follows reports it
  }
}

inline bool is_closed_errno(int e) {
  return e == ECONNRESET || e == EPIPE || e == ECONNABORTED || e == ESHUTDOWN;
}

/// Maps a socket error met after connecting to azid::errc.
inline std::error_code errno_failure(int e) {
  return make_error_code(is_closed_errno(e) ? errc::connection_closed : errc::io_error);
}

enum class TlsFailure : std::uint8_t { closed, failed };

/// Classifies a failed SSL_* call (`err` from SSL_get_error, not a WANT_*): the peer closed or
/// reset the connection, or something else failed. Clears the thread's OpenSSL error queue.
inline TlsFailure classify_tls_failure(const Connection& c, int err) {
  bool closed = false;
  if (err == SSL_ERROR_ZERO_RETURN) {
    closed = true;  // close_notify
  } else if (err == SSL_ERROR_SYSCALL) {
    closed = c.bio.last_errno == 0 || is_closed_errno(c.bio.last_errno);
  } else if (err == SSL_ERROR_SSL) {
    // A peer that closes without close_notify (common) is reported as an unexpected EOF.
    closed = ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
  }
  ERR_clear_error();
  return closed ? TlsFailure::closed : TlsFailure::failed;
}

/// Waits as an SSL_* call that returned `err` asks; false when `err` is not a WANT_* or the
/// deadline passed (`timed_out`).
inline bool wait_for_tls(const Connection& c, int err, steady::time_point deadline,
                         bool& timed_out) {
  if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return false;
  timed_out = !wait_for(c.fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
  return !timed_out;
}

inline std::error_code write_all(Connection& c, std::string_view data, steady::time_point deadline,
                                 errc on_timeout) {
  std::size_t off = 0;
  while (off < data.size()) {
    if (c.ssl != nullptr) {
      ERR_clear_error();
      c.bio.last_errno = 0;
      std::size_t n = 0;
      // Without partial writes, a retried SSL_write must repeat the same arguments: it does.
      const int rc = SSL_write_ex(c.ssl, data.data() + off, data.size() - off, &n);
      if (rc == 1) {
        off += n;
        continue;
      }
      const int err = SSL_get_error(c.ssl, rc);
      bool timed_out = false;
      if (wait_for_tls(c, err, deadline, timed_out)) continue;
      if (timed_out) return make_error_code(on_timeout);
      return make_error_code(classify_tls_failure(c, err) == TlsFailure::closed
                                 ? errc::connection_closed
                                 : errc::io_error);
    }
    const ssize_t n = ::send(c.fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n >= 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_for(c.fd, POLLOUT, deadline)) return make_error_code(on_timeout);
      continue;
    }
    return errno_failure(errno);
  }
  return {};
}

/// One read: bytes (n > 0), the end of the stream (eof), a failure (ec) or the deadline.
struct ReadSome {
  std::size_t n = 0;
  bool eof = false;
  /// With eof over TLS: the peer said close_notify (a bare TCP close may be a truncation).
  bool close_notify = false;
  bool timed_out = false;
  std::error_code ec;
};

inline ReadSome read_some(Connection& c, steady::time_point deadline) {
  ReadSome r;
  for (;;) {
    if (c.ssl != nullptr) {
      ERR_clear_error();
      c.bio.last_errno = 0;
      const int rc = SSL_read_ex(c.ssl, c.buffer.data(), c.buffer.size(), &r.n);
      if (rc == 1) return r;
      r.n = 0;
      const int err = SSL_get_error(c.ssl, rc);
      if (wait_for_tls(c, err, deadline, r.timed_out)) continue;
      if (r.timed_out) return r;
      // A close after a complete response is how HTTP/1.0-style bodies end, and a TLS peer that
      // skips close_notify is common: both are an end of stream for the parser to judge.
      if (classify_tls_failure(c, err) == TlsFailure::closed && c.bio.last_errno == 0) {
        r.eof = true;
        r.close_notify = err == SSL_ERROR_ZERO_RETURN;
      } else
        r.ec = c.bio.last_errno != 0 ? errno_failure(c.bio.last_errno)
                                     : make_error_code(errc::io_error);
      return r;
    }
    const ssize_t n = ::recv(c.fd, c.buffer.data(), c.buffer.size(), 0);
    if (n > 0) {
      r.n = static_cast<std::size_t>(n);
      return r;
    }
    if (n == 0) {
      r.eof = true;
      return r;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_for(c.fd, POLLIN, deadline)) {
        r.timed_out = true;
        return r;
      }
      continue;
    }
    r.ec = errno_failure(errno);
    return r;
  }
}

/// Reads one response into `parser`, stopping at the end of the response.
inline ReadOutcome read_response(Connection& c, ResponseParser& parser, steady::time_point deadline,
                                 errc on_timeout) {
  ReadOutcome out;
  while (!parser.done()) {
    const ReadSome r = read_some(c, deadline);
    if (r.timed_out) {
      out.ec = make_error_code(on_timeout);
      return out;
    }
    if (r.n > 0) {
      out.received_any = true;
      std::error_code pe;
      const std::size_t used = parser.put(std::string_view(c.buffer.data(), r.n), pe);
      if (pe) {
        out.ec = pe;
        return out;
      }
      if (parser.done() && used < r.n) out.leftover = true;
      continue;
    }
    if (r.eof) {
      out.closed = true;
      // A body that only the close delimits is complete over TLS only with close_notify: without
      // it, whoever can inject a TCP FIN could cut the body short unseen.
      if (c.ssl != nullptr && !r.close_notify && parser.reading_to_close()) {
        out.ec = make_error_code(errc::connection_closed);
        return out;
      }
      std::error_code pe;
      parser.put_eof(pe);
      if (pe) out.ec = pe;
      return out;
    }
    out.ec = r.ec;
    return out;
  }
  return out;
}

struct AddrInfoFree {
  void operator()(addrinfo* a) const noexcept {
    if (a != nullptr) ::freeaddrinfo(a);
  }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoFree>;

/// A getaddrinfo running on a thread of its own (it cannot be interrupted): whoever waits for it
/// may give up at its deadline, and the thread then finishes and frees the result alone.
struct Lookup {
  std::mutex m;
  std::condition_variable cv;
  std::atomic<bool> done{false};
  int rc = 0;
  int sys_errno = 0;  // errno, when rc is EAI_SYSTEM
  addrinfo* res = nullptr;
  ~Lookup() {
    if (res != nullptr) ::freeaddrinfo(res);
  }
};
inline std::shared_ptr<Lookup> start_lookup(const std::string& host, std::uint16_t port_number) {
  auto job = std::make_shared<Lookup>();
  std::thread([job, host, port = std::to_string(port_number)] {
    addrinfo h{};
    h.ai_socktype = SOCK_STREAM;
    h.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
    addrinfo* r = nullptr;
    const int rc =
        name_lookup().load(std::memory_order_relaxed)(host.c_str(), port.c_str(), &h, &r);
    const int sys_errno = rc == EAI_SYSTEM ? errno : 0;
    std::lock_guard lock(job->m);
    job->rc = rc;
    job->sys_errno = sys_errno;
    job->res = r;
    job->done.store(true, std::memory_order_release);
    job->cv.notify_all();
  }).detach();
  return job;
}

/// The failure a finished lookup reports: errc::resolve_temporary_failure when the resolver could
/// not answer this time (EAI_AGAIN: the DNS server did not answer in time, or said SERVFAIL; or
/// EAI_SYSTEM with EAGAIN), which is worth retrying; errc::resolve_failed for anything else (no
/// such name, or EAI_FAIL's hard failure); none when it found addresses.
inline std::error_code lookup_failure(const Lookup& job) {
  if (job.rc == EAI_AGAIN || (job.rc == EAI_SYSTEM && job.sys_errno == EAGAIN))
    return make_error_code(errc::resolve_temporary_failure);
  if (job.rc != 0 || job.res == nullptr) return make_error_code(errc::resolve_failed);
  return {};
}

/// The addresses of `hop`. A literal is converted in place; a name is looked up on a thread of
/// its own (start_lookup) while this one keeps the deadline.
inline std::error_code resolve(const Url& hop, steady::time_point deadline, AddrInfoPtr& out) {
  const std::string port = std::to_string(hop.port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (::getaddrinfo(hop.host.c_str(), port.c_str(), &hints, &res) == 0) {
    out.reset(res);
    return {};
  }
  if (res != nullptr) ::freeaddrinfo(res);
  auto job = start_lookup(hop.host, hop.port);
  std::unique_lock lock(job->m);
  if (!job->cv.wait_until(lock, deadline, [&] { return job->done.load(); }))
    return make_error_code(errc::connect_timeout);
  if (auto e = lookup_failure(*job)) return e;
  out.reset(std::exchange(job->res, nullptr));
  return {};
}

/// A socket connected to `ai` before the deadline, or -1 (`timed_out` says which failure).
inline int open_connected(const addrinfo* ai, steady::time_point deadline, bool& timed_out) {
  const int fd =
      ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) return -1;
  int rc;
  do {
    rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0 && errno == EINPROGRESS) {
    if (!wait_for(fd, POLLOUT, deadline)) {
      timed_out = true;
      ::close(fd);
      return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    rc = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0 ? 0 : -1;
  }
  if (rc < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// The least of the connect time an address gets while others are left to try: a slow but working
/// path has that long, and an address that drops packets without refusing leaves the rest of the
/// time to the next one.
inline constexpr std::chrono::milliseconds min_address_share{500};

/// When the attempt on the next address ends, with `left` addresses not tried yet (it included):
/// an equal share of the time that remains, at least min_address_share; the last one gets it all.
inline steady::time_point address_deadline(steady::time_point deadline, std::size_t left) {
  if (left <= 1) return deadline;
  const auto now = steady::now();
  return std::min(
      deadline, now + std::max<steady::duration>((deadline - now) / static_cast<steady::rep>(left),
                                                 min_address_share));
}

/// Everything the blocking transport keeps besides the shared state: its idle connections.
struct BlockingState : TransportState {
  IdlePool<ConnectionPtr> pool;
};

/// TCP connect to the route's first hop within `deadline`, then the CONNECT tunnel if any.
inline std::error_code connect(TransportState& impl, Connection& c, const Url& url,
                               const Route& route, steady::time_point deadline) {
  const Url& hop = route.proxy ? *route.proxy : url;
  AddrInfoPtr addrs;
  if (auto e = resolve(hop, deadline, addrs)) return e;
  std::size_t left = 0;  // addresses not tried yet
  for (const addrinfo* ai = addrs.get(); ai != nullptr; ai = ai->ai_next) ++left;
  // Each address gets its share of the time (address_deadline). Any address that timed out makes
  // the failure connect_timeout.
  bool timed_out = false;
  for (const addrinfo* ai = addrs.get(); ai != nullptr && c.fd < 0; ai = ai->ai_next, --left)
    c.fd = open_connected(ai, address_deadline(deadline, left), timed_out);
  if (c.fd < 0) return make_error_code(timed_out ? errc::connect_timeout : errc::connect_failed);
  impl.opened.fetch_add(1, std::memory_order_relaxed);
  const int one = 1;
  (void)::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  if (route.tunnel) {
    const std::string target = host_port(url);
    const std::string connect_request = connect_request_for(target, route);
    // A reset or close on the way is what it would be without a proxy (connection_closed).
    if (auto e = write_all(c, connect_request, deadline, errc::connect_timeout)) return e;
    ResponseParser parser(impl.options.max_header_bytes, 0, true);
    const ReadOutcome r = read_response(c, parser, deadline, errc::connect_timeout);
    if (auto e = tunnel_verdict(r, parser.response().status)) return e;
  }
  return {};
}

/// TLS handshake with peer and host-name verification (or pin checking) within `deadline`.
inline std::error_code handshake(TransportState& impl, Connection& c, const Url& url,
                                 const std::string& pin, steady::time_point deadline) {
  c.ssl = SSL_new(impl.tls_context());
  BIO* bio = c.ssl != nullptr ? BIO_new(socket_bio_method()) : nullptr;
  if (bio == nullptr) {
    ERR_clear_error();
    return make_error_code(errc::tls_handshake_failed);
  }
  c.bio.fd = c.fd;
  BIO_set_data(bio, &c.bio);
  SSL_set_bio(c.ssl, bio, bio);                   // the SSL owns the BIO from here
  SSL_set_mode(c.ssl, SSL_MODE_RELEASE_BUFFERS);  // an idle pooled connection keeps no buffers
  if (!prepare_tls(c.ssl, url, pin)) {
    ERR_clear_error();
    return make_error_code(errc::certificate_host_mismatch);
  }
  for (;;) {
    ERR_clear_error();
    c.bio.last_errno = 0;
    const int rc = SSL_connect(c.ssl);
    if (rc == 1) return handshake_verdict(c.ssl, pin, false, false);
    const int err = SSL_get_error(c.ssl, rc);
    bool timed_out = false;
    if (wait_for_tls(c, err, deadline, timed_out)) continue;
    if (timed_out) return make_error_code(errc::timeout);
    const bool closed = classify_tls_failure(c, err) == TlsFailure::closed;
    return handshake_verdict(c.ssl, pin, true, closed);
  }
}

struct Exchange {
  HttpResponse response;
  bool reusable = false;
  bool received_any = false;
};

inline Exchange exchange(TransportState& impl, Connection& c, const HttpRequest& req,
                         const Url& url, const Route& route, steady::time_point deadline,
                         std::error_code& ec) {
  Exchange ex;
  std::string wire = serialize_request(req, url, route.absolute_form);
  add_proxy_authorization(wire, route);
  ResponseParser parser(impl.options.max_header_bytes, req.max_body_bytes,
                        iequals(req.method, "HEAD"));
  ReadOutcome r;
  if (!(ec = write_all(c, wire, deadline, errc::timeout))) {
    r = read_response(c, parser, deadline, errc::timeout);
    ec = r.ec;
  }
  ex.received_any = r.received_any;
  if (ec) return ex;
  ex.reusable = parser.keep_alive() && !r.closed && !r.leftover && !request_says_close(req);
  ex.response = std::move(parser.response());
  return ex;
}

}  // namespace https_impl
}  // namespace detail

struct HttpsTransport::Impl : detail::https_impl::BlockingState {};

AZID_DECL HttpsTransport::HttpsTransport(TransportOptions options)
    : impl_(std::make_unique<Impl>()) {
  detail::https_impl::configure(*impl_, std::move(options));
}

AZID_DECL HttpsTransport::~HttpsTransport() = default;

AZID_DECL HttpResponse HttpsTransport::send(const HttpRequest& request, std::error_code& ec) {
  using namespace detail::https_impl;
  ec.clear();
  Impl& impl = *impl_;
  detail::Url url;
  if (auto e = detail::parse_url(request.url, url)) {
    ec = e;
    return {};
  }
  const bool https = url.scheme == "https";
  const std::string pin = https ? request.pinned_thumbprint : std::string{};

  const Route route = route_for(impl, request, url);
  if (route.unusable) {
    ec = make_error_code(errc::proxy_unusable);
    return {};
  }
  const std::string key = pool_key(url, route, pin);

  try {
    // A replay after a dropped kept-alive connection stays within the first attempt's timeout:
    // a server that holds the request nearly that long and then closes must not double it.
    std::optional<steady::time_point> budget;
    for (int attempt = 0;; ++attempt) {
      ConnectionPtr c = attempt == 0 ? impl.pool.take(key, impl.options.idle_timeout) : nullptr;
      const bool reused = c != nullptr;
      steady::time_point deadline;
      if (reused) {
        deadline = after(request.timeout);
        budget = deadline;
      } else {
        c = std::make_unique<Connection>();
        c->key = key;
        auto connect_by = after(request.connect_timeout);
        if (budget) connect_by = std::min(connect_by, *budget);
        if ((ec = connect(impl, *c, url, route, connect_by))) return {};
        deadline = budget ? *budget : after(request.timeout);
        if (https && (ec = handshake(impl, *c, url, pin, deadline))) return {};
      }
      Exchange ex = exchange(impl, *c, request, url, route, deadline, ec);
      if (ec) {
        // A kept-alive connection the server already dropped shows up as a close before any
        // response byte; that one case is safe to replay once on a fresh connection.
        if (reused && !ex.received_any && ec == errc::connection_closed) {
          ec.clear();
          continue;
        }
        return {};
      }
      if (ex.reusable) impl.pool.put(std::move(c), impl.options.max_idle_per_host);
      return std::move(ex.response);
    }
  } catch (const std::exception&) {
    // No thread for a name lookup, or no memory for a response: an I/O failure to the caller,
    // never an exception (the Transport contract).
    ec = make_error_code(errc::io_error);
    return {};
  }
}

AZID_DECL std::size_t HttpsTransport::connections_opened() const noexcept {
  return impl_->opened.load(std::memory_order_relaxed);
}

AZID_DECL void HttpsTransport::close_idle() noexcept { impl_->pool.clear(); }

AZID_END
