// azid/impl/asio_https.ipp: AsioHttpsTransport on Asio and OpenSSL (the only place either is included).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/write.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "azid/core/error_code.hpp"
#include "azid/detail/http1.hpp"
#include "azid/detail/url.hpp"
#include "azid/transport/asio_https.hpp"

AZID_BEGIN
namespace detail {
namespace asio_https_impl {

using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Trust

/// Points `store` at the system trust anchors without reading the whole bundle up front.
/// A hashed directory (X509_LOOKUP_hash_dir) loads a CA only when a chain needs it, so a process
/// that makes one token request does not parse ~150 certificates. SSL_CERT_FILE and
/// SSL_CERT_DIR are honoured as OpenSSL's own default paths honour them.
inline void add_system_trust(X509_STORE* store) {
  const char* file_env = std::getenv(X509_get_default_cert_file_env());
  const char* dir_env = std::getenv(X509_get_default_cert_dir_env());
  const bool have_file_env = file_env != nullptr && *file_env != '\0';
  const bool have_dir_env = dir_env != nullptr && *dir_env != '\0';

  if (have_file_env) X509_STORE_load_file(store, file_env);

  const char* dir = have_dir_env ? dir_env : X509_get_default_cert_dir();
  std::error_code fs_ec;
  const bool dir_exists = dir != nullptr && std::filesystem::is_directory(dir, fs_ec);
  if (have_dir_env || dir_exists) {
    if (X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir())) {
      // add_dir takes a ':'-separated list, which is also what SSL_CERT_DIR holds.
      X509_LOOKUP_add_dir(lookup, dir, X509_FILETYPE_PEM);
    }
  }
  // Some distributions ship only a bundle file; read it only when there is no directory to
  // consult on demand and the user did not choose their own trust.
  if (!have_file_env && !have_dir_env && !dir_exists) {
    const char* file = X509_get_default_cert_file();
    if (file != nullptr && std::filesystem::exists(file, fs_ec)) X509_STORE_load_file(store, file);
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

inline asio::ssl::context make_client_context() {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

/// The process-wide client context trusting the system store: built on first use, once, and
/// shared by every transport that does not need extra anchors. SSL_CTX is safe to share
/// between threads for creating connections.
inline asio::ssl::context& system_context() {
  static asio::ssl::context ctx = [] {
    asio::ssl::context c = make_client_context();
    add_system_trust(SSL_CTX_get_cert_store(c.native_handle()));
    warm_certificate_caches(SSL_CTX_get_cert_store(c.native_handle()));
    return c;
  }();
  return ctx;
}

inline bool is_ip_literal(const std::string& host) {
  std::error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
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
  static constexpr char hex[] = "0123456789abcdef";
  std::string got;
  for (unsigned int i = 0; i < len; ++i) {
    got.push_back(hex[digest[i] >> 4]);
    got.push_back(hex[digest[i] & 0x0f]);
  }
  return got == want;
}

// ---------------------------------------------------------------------------------------------
// Connections

/// One TCP (or TLS over TCP) connection with its own io_context, so a thread can drive it
/// synchronously with deadlines without sharing a reactor with other exchanges.
struct Connection {
  asio::io_context io{1};
  tcp::socket socket{io};  // moved into `tls` once the connection is upgraded
  std::optional<asio::ssl::stream<tcp::socket>> tls;
  std::string key;
  steady::time_point idle_since{};
  std::array<char, 16 * 1024> buffer{};

  tcp::socket& lowest() noexcept { return tls ? tls->next_layer() : socket; }
};

/// Runs the connection's io_context until `done` or the deadline. On expiry it calls `cancel`
/// (closing the socket by default) so the pending operation completes as aborted, drains the
/// handlers, and returns false. The connection is unusable afterwards.
template <class Cancel>
bool run_until(Connection& c, const bool& done, steady::time_point deadline, Cancel&& cancel) {
  while (!done) {
    const auto now = steady::now();
    if (now >= deadline) break;
    c.io.restart();
    c.io.run_for(deadline - now);
  }
  if (done) return true;
  cancel();
  std::error_code ignored;
  c.lowest().close(ignored);
  c.io.restart();
  c.io.run();
  return false;
}
inline bool run_until(Connection& c, const bool& done, steady::time_point deadline) {
  return run_until(c, done, deadline, [] {});
}

inline bool is_closed_error(const std::error_code& e) {
  return e == asio::error::eof || e == asio::ssl::error::stream_truncated ||
         e == asio::error::connection_reset || e == asio::error::broken_pipe ||
         e == asio::error::connection_aborted || e == asio::error::shut_down;
}

/// Maps a socket error met after connecting to azid::errc.
inline std::error_code map_io_error(const std::error_code& e) {
  if (is_closed_error(e)) return make_error_code(errc::connection_closed);
  return make_error_code(errc::io_error);
}

template <class Stream>
std::error_code write_all(Connection& c, Stream& stream, std::string_view data,
                          steady::time_point deadline, errc on_timeout) {
  bool done = false;
  std::error_code result;
  asio::async_write(stream, asio::buffer(data.data(), data.size()),
                    [&](const std::error_code& e, std::size_t) {
                      result = e;
                      done = true;
                    });
  if (!run_until(c, done, deadline)) return make_error_code(on_timeout);
  return result ? map_io_error(result) : std::error_code{};
}

struct ReadOutcome {
  std::error_code ec;
  bool received_any = false;  // any byte arrived on this connection for this response
  bool closed = false;        // the peer closed (the response ended with the connection)
  bool leftover = false;      // bytes followed the response: the connection is out of step
};

/// Reads one response into `parser`, stopping at the end of the response.
template <class Stream>
ReadOutcome read_response(Connection& c, Stream& stream, ResponseParser& parser,
                          steady::time_point deadline, errc on_timeout) {
  ReadOutcome out;
  while (!parser.done()) {
    bool done = false;
    std::error_code result;
    std::size_t n = 0;
    stream.async_read_some(asio::buffer(c.buffer), [&](const std::error_code& e, std::size_t got) {
      result = e;
      n = got;
      done = true;
    });
    if (!run_until(c, done, deadline)) {
      out.ec = make_error_code(on_timeout);
      return out;
    }
    if (n > 0) {
      out.received_any = true;
      std::error_code pe;
      const std::size_t used = parser.put(std::string_view(c.buffer.data(), n), pe);
      if (pe) {
        out.ec = pe;
        return out;
      }
      if (parser.done() && used < n) out.leftover = true;
    }
    if (result) {
      if (result == asio::error::eof || result == asio::ssl::error::stream_truncated) {
        // A close after a complete response is how HTTP/1.0-style bodies end, and a TLS peer
        // that skips close_notify is common; only a close mid-response is an error.
        out.closed = true;
        std::error_code pe;
        parser.put_eof(pe);
        if (pe) out.ec = pe;
        return out;
      }
      out.ec = map_io_error(result);
      return out;
    }
  }
  return out;
}

/// Where a request goes: straight to the origin, or through a proxy.
struct Route {
  const Url* proxy = nullptr;  // connect here instead of the origin
  bool tunnel = false;         // https through the proxy: CONNECT, then TLS inside
  bool absolute_form = false;  // http through the proxy: absolute-form request target
};

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

inline Url parse_proxy_option(const std::string& text, const char* what) {
  // HTTPS_PROXY values are often written without a scheme ("proxy:3128").
  std::string full = text.find("://") == std::string::npos ? "http://" + text : text;
  Url url;
  if (parse_url(full, url))
    throw std::invalid_argument(std::string("AsioHttpsTransport: ") + what + " is not a valid URL");
  if (url.scheme != "http")
    throw std::invalid_argument(std::string("AsioHttpsTransport: ") + what +
                                " must be an http:// proxy; TLS to the proxy is not supported");
  return url;
}

/// Everything a transport shares between its exchanges (AsioHttpsTransport::Impl derives from it
/// so that the helpers below can reach it without naming the private nested type).
struct TransportState {
  TransportOptions options;
  std::optional<asio::ssl::context> own_context;  // set when trust differs from the system's
  std::optional<Url> https_proxy;
  std::optional<Url> http_proxy;
  std::atomic<std::size_t> opened{0};

  std::mutex mutex;  // guards idle
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle;

  asio::ssl::context& tls_context() { return own_context ? *own_context : system_context(); }
};

}  // namespace asio_https_impl
}  // namespace detail

struct AsioHttpsTransport::Impl : detail::asio_https_impl::TransportState {};

namespace detail {
namespace asio_https_impl {

using ConnectionPtr = std::unique_ptr<Connection>;

inline ConnectionPtr take_idle(TransportState& impl, const std::string& key) {
  std::vector<ConnectionPtr> expired;  // destroyed after the lock is released
  ConnectionPtr found;
  {
    std::lock_guard lock(impl.mutex);
    auto it = impl.idle.find(key);
    if (it == impl.idle.end()) return nullptr;
    auto& list = it->second;
    const auto now = steady::now();
    while (!list.empty()) {
      ConnectionPtr c = std::move(list.back());  // most recently used: likeliest to be alive
      list.pop_back();
      if (now - c->idle_since > impl.options.idle_timeout) {
        expired.push_back(std::move(c));
        continue;
      }
      found = std::move(c);
      break;
    }
    if (list.empty()) impl.idle.erase(it);
  }
  return found;
}

inline void put_idle(TransportState& impl, ConnectionPtr c) {
  if (impl.options.max_idle_per_host == 0) return;
  ConnectionPtr evicted;
  c->idle_since = steady::now();
  std::lock_guard lock(impl.mutex);
  auto& list = impl.idle[c->key];
  list.push_back(std::move(c));
  if (list.size() > impl.options.max_idle_per_host) {
    evicted = std::move(list.front());
    list.erase(list.begin());
  }
  // `evicted` is declared before the lock, so it is destroyed after the lock is released.
}

/// TCP connect to the route's first hop within `deadline`, then the CONNECT tunnel if any.
inline std::error_code connect(TransportState& impl, Connection& c, const Url& url,
                               const Route& route, steady::time_point deadline) {
  const Url& hop = route.proxy ? *route.proxy : url;
  std::error_code addr_ec;
  const asio::ip::address addr = asio::ip::make_address(hop.host, addr_ec);

  bool done = false;
  std::error_code result;
  if (!addr_ec) {
    c.socket.async_connect(tcp::endpoint(addr, hop.port), [&](const std::error_code& e) {
      result = e;
      done = true;
    });
    if (!run_until(c, done, deadline)) return make_error_code(errc::connect_timeout);
  } else {
    // Resolution runs getaddrinfo on Asio's private thread; a resolver stuck past the
    // deadline is cancelled here, though getaddrinfo itself cannot be interrupted.
    tcp::resolver resolver(c.io);
    tcp::resolver::results_type results;
    resolver.async_resolve(hop.host, std::to_string(hop.port),
                           [&](const std::error_code& e, tcp::resolver::results_type r) {
                             result = e;
                             results = std::move(r);
                             done = true;
                           });
    if (!run_until(c, done, deadline, [&] { resolver.cancel(); }))
      return make_error_code(errc::connect_timeout);
    if (result) return make_error_code(errc::resolve_failed);
    done = false;
    asio::async_connect(c.socket, results, [&](const std::error_code& e, const tcp::endpoint&) {
      result = e;
      done = true;
    });
    if (!run_until(c, done, deadline)) return make_error_code(errc::connect_timeout);
  }
  if (result) return make_error_code(errc::connect_failed);
  impl.opened.fetch_add(1, std::memory_order_relaxed);
  std::error_code ignored;
  c.socket.set_option(tcp::no_delay(true), ignored);

  if (route.tunnel) {
    const std::string target = host_port(url);
    const std::string connect_request =
        "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
    if (auto e = write_all(c, c.socket, connect_request, deadline, errc::connect_timeout))
      return e == errc::connect_timeout ? e : make_error_code(errc::proxy_failed);
    ResponseParser parser(impl.options.max_header_bytes, 0, true);
    const ReadOutcome r = read_response(c, c.socket, parser, deadline, errc::connect_timeout);
    if (r.ec == errc::connect_timeout) return r.ec;
    // The proxy must not speak for the origin before our ClientHello: leftover bytes are refused.
    if (r.ec || r.closed || r.leftover) return make_error_code(errc::proxy_failed);
    const int status = parser.response().status;
    if (status < 200 || status > 299) return make_error_code(errc::proxy_failed);
  }
  return {};
}

/// Peer and host-name verification (or none, for a pinned endpoint) and SNI on a fresh TLS
/// connection; shared by both transports (azid/async uses it too).
inline void prepare_tls(SSL* ssl, const Url& url, const std::string& pin) {
  const bool ip_literal = is_ip_literal(url.host);
  if (!pin.empty()) {
    // A pinned endpoint (Service Fabric) presents a self-signed certificate for a name we
    // cannot predict: the thumbprint replaces both chain and name checks.
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  } else if (ip_literal) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str());
  } else {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl, url.host.c_str());
  }
  // SNI carries names only (RFC 6066 §3 forbids IP literals).
  if (!ip_literal) SSL_set_tlsext_host_name(ssl, url.host.c_str());
}

/// The verdict on a finished handshake (`result` is its outcome): azid::errc, or none.
inline std::error_code handshake_verdict(SSL* ssl, const std::string& pin, const std::error_code& result) {
  if (result) {
    const long verify = SSL_get_verify_result(ssl);
    if (pin.empty() && verify != X509_V_OK) {
      if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
        return make_error_code(errc::certificate_host_mismatch);
      if (verify == X509_V_ERR_CERT_HAS_EXPIRED || verify == X509_V_ERR_CERT_NOT_YET_VALID)
        return make_error_code(errc::certificate_expired);
      return make_error_code(errc::certificate_untrusted);
    }
    if (is_closed_error(result)) return make_error_code(errc::connection_closed);
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

/// TLS handshake with peer and host-name verification (or pin checking) within `deadline`.
inline std::error_code handshake(TransportState& impl, Connection& c, const Url& url,
                                 const std::string& pin, steady::time_point deadline) {
  c.tls.emplace(std::move(c.socket), impl.tls_context());
  SSL* ssl = c.tls->native_handle();
  prepare_tls(ssl, url, pin);
  bool done = false;
  std::error_code result;
  c.tls->async_handshake(asio::ssl::stream_base::client, [&](const std::error_code& e) {
    result = e;
    done = true;
  });
  if (!run_until(c, done, deadline)) return make_error_code(errc::timeout);
  return handshake_verdict(ssl, pin, result);
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
  const std::string wire = serialize_request(req, url, route.absolute_form);
  ResponseParser parser(impl.options.max_header_bytes, req.max_body_bytes, iequals(req.method, "HEAD"));
  ReadOutcome r;
  auto run = [&](auto& stream) {
    if ((ec = write_all(c, stream, wire, deadline, errc::timeout))) return;
    r = read_response(c, stream, parser, deadline, errc::timeout);
    ec = r.ec;
  };
  if (c.tls)
    run(*c.tls);
  else
    run(c.socket);
  ex.received_any = r.received_any;
  if (ec) return ex;
  ex.reusable = parser.keep_alive() && !r.closed && !r.leftover && !request_says_close(req);
  ex.response = std::move(parser.response());
  return ex;
}

}  // namespace asio_https_impl
}  // namespace detail

namespace detail {
namespace asio_https_impl {

/// Fills `state` from `options`: proxies parsed, and a TLS context of its own when the trust
/// anchors differ from the system's. Shared by both transports (azid/async uses it too).
inline void configure(TransportState& state, TransportOptions options) {
  state.options = std::move(options);
  const TransportOptions& o = state.options;
  if (!o.https_proxy.empty()) state.https_proxy = parse_proxy_option(o.https_proxy, "https_proxy");
  if (!o.http_proxy.empty()) state.http_proxy = parse_proxy_option(o.http_proxy, "http_proxy");
  if (!o.extra_ca_file.empty() || !o.use_system_trust) {
    // Different anchors need a context of their own; it is built once, here, and shared by
    // every connection of this transport.
    state.own_context.emplace(make_client_context());
    X509_STORE* store = SSL_CTX_get_cert_store(state.own_context->native_handle());
    if (o.use_system_trust) add_system_trust(store);
    if (!o.extra_ca_file.empty() && X509_STORE_load_file(store, o.extra_ca_file.c_str()) != 1) {
      ERR_clear_error();
      throw std::invalid_argument("AsioHttpsTransport: cannot load extra_ca_file " + o.extra_ca_file);
    }
    warm_certificate_caches(store);
  }
}

/// The route of a request to `url` under the transport's proxy settings.
inline Route route_for(const TransportState& state, const HttpRequest& request, const Url& url) {
  Route route;
  const bool https = url.scheme == "https";
  if (!request.bypass_proxy && !bypasses_proxy(state.options.no_proxy, url.host)) {
    if (https && state.https_proxy) {
      route.proxy = &*state.https_proxy;
      route.tunnel = true;
    } else if (!https && state.http_proxy) {
      route.proxy = &*state.http_proxy;
      route.absolute_form = true;
    }
  }
  return route;
}

/// The pool slot of a connection. Pinned and unpinned connections never share one: a connection
/// accepted by a pin was never chain-verified.
inline std::string pool_key(const Url& url, const Route& route, const std::string& pin) {
  std::string key = url.scheme + "://" + host_port(url);
  if (route.proxy) key += " via " + host_port(*route.proxy);
  if (!pin.empty()) key += " pin " + pin;
  return key;
}

}  // namespace asio_https_impl
}  // namespace detail

AZID_DECL AsioHttpsTransport::AsioHttpsTransport(TransportOptions options)
    : impl_(std::make_unique<Impl>()) {
  detail::asio_https_impl::configure(*impl_, std::move(options));
}

AZID_DECL AsioHttpsTransport::~AsioHttpsTransport() = default;

AZID_DECL HttpResponse AsioHttpsTransport::send(const HttpRequest& request, std::error_code& ec) {
  using namespace detail::asio_https_impl;
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
  const std::string key = pool_key(url, route, pin);

  try {
    for (int attempt = 0;; ++attempt) {
      ConnectionPtr c = attempt == 0 ? take_idle(impl, key) : nullptr;
      const bool reused = c != nullptr;
      steady::time_point deadline;
      if (reused) {
        deadline = steady::now() + request.timeout;
      } else {
        c = std::make_unique<Connection>();
        c->key = key;
        if ((ec = connect(impl, *c, url, route, steady::now() + request.connect_timeout))) return {};
        deadline = steady::now() + request.timeout;
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
      if (ex.reusable) put_idle(impl, std::move(c));
      return std::move(ex.response);
    }
  } catch (const std::system_error&) {
    ec = make_error_code(errc::io_error);
    return {};
  }
}

AZID_DECL std::size_t AsioHttpsTransport::connections_opened() const noexcept {
  return impl_->opened.load(std::memory_order_relaxed);
}

AZID_DECL void AsioHttpsTransport::close_idle() noexcept {
  decltype(impl_->idle) dropped;
  {
    std::lock_guard lock(impl_->mutex);
    dropped.swap(impl_->idle);
  }
}

AZID_END
