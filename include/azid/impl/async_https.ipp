// azid/impl/async_https.ipp: AsyncHttpsTransport, the asynchronous HTTPS exchange as a coroutine on
// a strand of the caller's executor. Shares TLS setup, proxy routing and the HTTP/1.1 codec with
// https.ipp.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/co_spawn.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/query.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "azid/async/https_transport.hpp"
#include "azid/core/error_code.hpp"
#include "azid/detail/http1.hpp"
#include "azid/detail/url.hpp"
#include "azid/impl/https.ipp"

AZID_BEGIN
namespace detail {
namespace async_https_impl {

using https_impl::steady;
using tcp = asio::ip::tcp;
inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

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

/// One pooled connection. Its socket belongs to the execution context of the exchange that opened
/// it (and is only ever reused on that context); whichever exchange holds it drives it from that
/// exchange's strand.
struct AsyncConnection {
  explicit AsyncConnection(const asio::any_io_executor& ex) : socket(ex) {}
  tcp::socket socket;  // moved into `tls` once the connection is upgraded
  std::optional<asio::ssl::stream<tcp::socket>> tls;
  std::string key;
  steady::time_point idle_since{};
  pid_t pid = ::getpid();  // the process that opened it (IdlePool::take)
  std::array<char, 16 * 1024> buffer{};

  tcp::socket& lowest() noexcept { return tls ? tls->next_layer() : socket; }
};
using AsyncConnectionPtr = std::unique_ptr<AsyncConnection>;

// Unlike the blocking transport's OpenSSL, which reads records straight off the socket, Asio's
// TLS stream reads whatever the socket holds into its own buffer (the BIO pair OpenSSL reads
// from): bytes that came in the same segment as the response sit there, invisible to a poll of
// the socket and to SSL_pending (which counts only a record already decrypted).
inline bool idle_and_quiet(AsyncConnection& c) noexcept {
  if (c.tls) {
    SSL* ssl = c.tls->native_handle();
    if (SSL_has_pending(ssl) != 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) != 0) return false;
  }
  return https_impl::socket_quiet(c.lowest().native_handle());
}

/// Cuts the current phase off at its deadline: on expiry it closes the socket, so the pending operation completes at once as aborted. It lives on the exchange's strand
/// and is shared with its timer handler, so an expiry that races the end of a phase finds it alive
/// (and ignores it: every arming has its own id).
struct Watchdog {
  explicit Watchdog(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  std::uint64_t armed = 0;
  bool fired = false;
  AsyncConnection* conn = nullptr;
};

inline void arm(const std::shared_ptr<Watchdog>& w, steady::time_point deadline) {
  const std::uint64_t id = ++w->armed;
  w->fired = false;
  w->timer.expires_at(deadline);
  w->timer.async_wait([w, id](const std::error_code& e) {
    if (e || w->armed != id) return;
    w->fired = true;
    if (w->conn != nullptr) {
      std::error_code ignored;
      w->conn->lowest().close(ignored);
    }
  });
}
inline void disarm(Watchdog& w) {
  ++w.armed;
  w.timer.cancel();
}

template <class Stream>
asio::awaitable<std::error_code> write_all(Stream& stream, std::string_view data,
                                           const Watchdog& wd, errc on_timeout) {
  auto [e, n] =
      co_await asio::async_write(stream, asio::buffer(data.data(), data.size()), use_tuple);
  (void)n;
  if (wd.fired) co_return make_error_code(on_timeout);
  co_return e ? map_io_error(e) : std::error_code{};
}

/// Reads one response into `parser`, stopping at its end (https.ipp's read_response, awaited).
template <class Stream>
asio::awaitable<https_impl::ReadOutcome> read_response(AsyncConnection& c, Stream& stream,
                                                       ResponseParser& parser, const Watchdog& wd,
                                                       errc on_timeout) {
  https_impl::ReadOutcome out;
  while (!parser.done()) {
    auto [result, n] = co_await stream.async_read_some(asio::buffer(c.buffer), use_tuple);
    if (wd.fired) {
      out.ec = make_error_code(on_timeout);
      co_return out;
    }
    if (n > 0) {
      out.received_any = true;
      std::error_code pe;
      const std::size_t used = parser.put(std::string_view(c.buffer.data(), n), pe);
      if (pe) {
        out.ec = pe;
        co_return out;
      }
      if (parser.done() && used < n) out.leftover = true;
    }
    if (result) {
      if (result == asio::error::eof || result == asio::ssl::error::stream_truncated) {
        out.closed = true;  // a close after a complete response ends an HTTP/1.0-style body
        // ... but over TLS only with close_notify (Asio's eof there); a bare TCP close
        // (stream_truncated) could be an injected FIN cutting the body short.
        if (result == asio::ssl::error::stream_truncated && parser.reading_to_close()) {
          out.ec = make_error_code(errc::connection_closed);
          co_return out;
        }
        std::error_code pe;
        parser.put_eof(pe);
        if (pe) out.ec = pe;
        co_return out;
      }
      out.ec = map_io_error(result);
      co_return out;
    }
  }
  co_return out;
}

/// The kept-alive connections of one transport on one execution context, whose sockets belong to
/// that context. The context's shutdown (ParkedConnections below) closes them while the context
/// still exists, and marks the pool gone: nothing is parked in it after that, so no socket of a
/// destroyed context is ever left to the transport (nor to close_idle) to close.
class ContextPool {
 public:
  explicit ContextPool(const asio::execution_context& ctx) : context_(&ctx) {}

  /// Whether this is the live pool of `ctx` (a gone pool's context may have been destroyed, and
  /// another created at its address).
  bool serves(const asio::execution_context& ctx) {
    std::lock_guard lk(mu_);
    return !gone_ && context_ == &ctx;
  }
  bool gone() {
    std::lock_guard lk(mu_);
    return gone_;
  }
  AsyncConnectionPtr take(const std::string& key, std::chrono::milliseconds max_idle) {
    std::lock_guard lk(mu_);
    if (gone_) return nullptr;
    return idle_.take(key, max_idle);
  }
  void put(AsyncConnectionPtr c, std::size_t max_per_key) {
    std::lock_guard lk(mu_);
    if (!gone_) idle_.put(std::move(c), max_per_key);
  }
  /// Closes the parked connections. Under the lock: a shutdown of the context waits for it.
  void clear() noexcept {
    std::lock_guard lk(mu_);
    idle_.clear();
  }
  void shut() noexcept {
    std::lock_guard lk(mu_);
    gone_ = true;
    idle_.clear();
  }

 private:
  std::mutex mu_;
  const asio::execution_context* context_;
  bool gone_ = false;
  https_impl::IdlePool<AsyncConnectionPtr> idle_;
};

/// A service of an execution context that knows the pools parking connections of that context,
/// so that its shutdown (the first step of its destruction, while its services still exist) can
/// close them (as BlockingCalls in azid/async/get_token.hpp does for the blocking hand-offs).
class ParkedConnections final : public asio::execution_context::service {
 public:
  inline static asio::execution_context::id id;
  explicit ParkedConnections(asio::execution_context& ctx)
      : asio::execution_context::service(ctx) {}

  void add(const std::shared_ptr<ContextPool>& p) {
    std::lock_guard lk(mu_);
    std::erase_if(live_, [](const std::weak_ptr<ContextPool>& w) { return w.expired(); });
    live_.push_back(p);
  }

 private:
  void shutdown() override {
    std::vector<std::weak_ptr<ContextPool>> live;
    {
      std::lock_guard lk(mu_);
      live.swap(live_);
    }
    for (const auto& w : live)
      if (auto p = w.lock()) p->shut();
  }

  std::mutex mu_;
  std::vector<std::weak_ptr<ContextPool>> live_;
};

}  // namespace async_https_impl
}  // namespace detail

struct AsyncHttpsTransport::Impl : detail::https_impl::TransportState {
  Impl(asio::any_io_executor e, const TransportOptions& o) : ex(std::move(e)), sync(o) {
    detail::https_impl::configure(*this, o);
  }
  ~Impl() { close_idle(); }

  /// The pool of `ctx`, made (and made known to the context) on first use.
  std::shared_ptr<detail::async_https_impl::ContextPool> pool_for(asio::execution_context& ctx) {
    using detail::async_https_impl::ContextPool;
    std::lock_guard lk(pools_mu);
    std::erase_if(pools, [](const std::shared_ptr<ContextPool>& p) { return p->gone(); });
    for (const auto& p : pools)
      if (p->serves(ctx)) return p;
    auto p = std::make_shared<ContextPool>(ctx);
    asio::use_service<detail::async_https_impl::ParkedConnections>(ctx).add(p);
    pools.push_back(p);
    return p;
  }
  void close_idle() noexcept {
    std::lock_guard lk(pools_mu);
    for (const auto& p : pools) p->clear();  // a gone pool is empty already
  }

  asio::any_io_executor ex;
  HttpsTransport sync;  // the blocking side (Transport), with its own pool
  std::mutex pools_mu;
  std::vector<std::shared_ptr<detail::async_https_impl::ContextPool>> pools;  // one per context
};

namespace detail {
namespace async_https_impl {

/// TCP connect to the route's first hop (resolving a name first), then the CONNECT tunnel if any,
/// all before `deadline`.
inline asio::awaitable<std::error_code> connect(AsyncHttpsTransport::Impl& impl, AsyncConnection& c,
                                                const Url& url, const https_impl::Route& route,
                                                steady::time_point deadline,
                                                std::shared_ptr<Watchdog> wd) {
  const Url& hop = route.proxy ? *route.proxy : url;
  std::error_code addr_ec;
  const asio::ip::address addr = asio::ip::make_address(hop.host, addr_ec);
  wd->conn = &c;
  std::vector<tcp::endpoint> endpoints;
  if (!addr_ec) {
    endpoints.emplace_back(addr, hop.port);
  } else {
    // Not Asio's resolver: it runs getaddrinfo on one private thread per io_context, so a slow
    // lookup could be neither abandoned at the deadline nor kept from holding up every lookup
    // queued behind it. A thread of its own per lookup, as in the blocking transport; this
    // coroutine checks on it with a short timer (it never posts back, so it needs nothing of the
    // io_context, which may be gone by the time a hung lookup returns).
    const auto job = https_impl::start_lookup(hop.host, hop.port);
    asio::steady_timer tick(c.socket.get_executor());
    std::chrono::milliseconds wait{1};
    while (!job->done.load(std::memory_order_acquire)) {
      const auto now = steady::now();
      if (now >= deadline) co_return make_error_code(errc::connect_timeout);
      tick.expires_at(std::min(deadline, now + wait));
      auto [te] = co_await tick.async_wait(use_tuple);
      if (te == asio::error::operation_aborted) co_return te;  // the caller cancelled
      wait = std::min(wait * 2, std::chrono::milliseconds(20));
    }
    if (auto e = https_impl::lookup_failure(*job)) co_return e;
    // Each address with the port the lookup gave it, as the blocking transport takes them.
    for (const addrinfo* a = job->res; a != nullptr; a = a->ai_next) {
      if (a->ai_family == AF_INET) {
        sockaddr_in sin{};
        std::memcpy(&sin, a->ai_addr, sizeof sin);
        endpoints.emplace_back(asio::ip::address_v4(ntohl(sin.sin_addr.s_addr)),
                               ntohs(sin.sin_port));
      } else if (a->ai_family == AF_INET6) {
        sockaddr_in6 sin6{};
        std::memcpy(&sin6, a->ai_addr, sizeof sin6);
        asio::ip::address_v6::bytes_type bytes;
        std::memcpy(bytes.data(), &sin6.sin6_addr, bytes.size());
        endpoints.emplace_back(asio::ip::address_v6(bytes, sin6.sin6_scope_id),
                               ntohs(sin6.sin6_port));
      }
    }
    if (endpoints.empty()) co_return make_error_code(errc::resolve_failed);
  }
  // As in the blocking transport, each address gets an equal share of the time that remains (at
  // least min_address_share), the last one all of it: the watchdog, armed anew for each attempt,
  // closes the socket at the end of its share. Any address that timed out makes the failure
  // connect_timeout. A cancellation ends the attempts where they are.
  const asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
  bool timed_out = false;
  bool connected = false;
  for (std::size_t i = 0; i < endpoints.size() && !connected; ++i) {
    const auto until = https_impl::address_deadline(deadline, endpoints.size() - i);
    // The last attempt's socket, refused or closed by the watchdog, is no use for the next one:
    // async_connect opens a fresh one.
    std::error_code ignored;
    c.socket.close(ignored);
    arm(wd, until);
    auto [e] = co_await c.socket.async_connect(endpoints[i], use_tuple);
    disarm(*wd);
    if (wd->fired) timed_out = true;
    connected = !e && !wd->fired;
    if (!connected && cancellation.cancelled() != asio::cancellation_type::none) break;
  }
  if (!connected)
    co_return make_error_code(timed_out ? errc::connect_timeout : errc::connect_failed);
  impl.opened.fetch_add(1, std::memory_order_relaxed);
  std::error_code ignored;
  c.socket.set_option(tcp::no_delay(true), ignored);

  if (route.tunnel) {
    const std::string target = https_impl::host_port(url);
    const std::string connect_request = https_impl::connect_request_for(target, route);
    arm(wd, deadline);
    std::error_code e = co_await write_all(c.socket, connect_request, *wd, errc::connect_timeout);
    https_impl::ReadOutcome r;
    ResponseParser parser(impl.options.max_header_bytes, 0, true);
    if (!e) r = co_await read_response(c, c.socket, parser, *wd, errc::connect_timeout);
    disarm(*wd);
    if (e) co_return e;  // a reset or close on the way: as without a proxy
    if (auto v = https_impl::tunnel_verdict(r, parser.response().status)) co_return v;
  }
  co_return std::error_code{};
}

struct Exchanged {
  std::error_code ec;
  HttpResponse response;
  bool reusable = false;
  bool received_any = false;
};

/// Handshake (on a fresh https connection), request and response, all before `deadline`.
inline asio::awaitable<Exchanged> exchange(AsyncHttpsTransport::Impl& impl, AsyncConnection& c,
                                           const HttpRequest& req, const Url& url,
                                           const https_impl::Route& route, const std::string& pin,
                                           bool handshake, steady::time_point deadline,
                                           std::shared_ptr<Watchdog> wd) {
  Exchanged ex;
  wd->conn = &c;
  arm(wd, deadline);
  if (handshake) {
    SSL* fresh = SSL_new(impl.tls_context());
    if (fresh == nullptr) {
      ERR_clear_error();
      ex.ec = make_error_code(errc::tls_handshake_failed);
      disarm(*wd);
      co_return ex;
    }
    c.tls.emplace(std::move(c.socket), fresh);  // the stream owns `fresh` from here
    SSL* ssl = c.tls->native_handle();
    if (!https_impl::prepare_tls(ssl, url, pin)) {
      ERR_clear_error();
      ex.ec = make_error_code(errc::certificate_host_mismatch);
      disarm(*wd);
      co_return ex;
    }
    auto [e] = co_await c.tls->async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (wd->fired) {
      ex.ec = make_error_code(errc::timeout);
      co_return ex;
    }
    if ((ex.ec =
             https_impl::handshake_verdict(ssl, pin, static_cast<bool>(e), is_closed_error(e)))) {
      disarm(*wd);
      co_return ex;
    }
  }
  std::string wire = serialize_request(req, url, route.absolute_form);
  https_impl::add_proxy_authorization(wire, route);
  ResponseParser parser(impl.options.max_header_bytes, req.max_body_bytes,
                        iequals(req.method, "HEAD"));
  https_impl::ReadOutcome r;
  if (c.tls) {
    ex.ec = co_await write_all(*c.tls, wire, *wd, errc::timeout);
    if (!ex.ec) r = co_await read_response(c, *c.tls, parser, *wd, errc::timeout);
  } else {
    ex.ec = co_await write_all(c.socket, wire, *wd, errc::timeout);
    if (!ex.ec) r = co_await read_response(c, c.socket, parser, *wd, errc::timeout);
  }
  disarm(*wd);
  if (!ex.ec) ex.ec = r.ec;
  ex.received_any = r.received_any;
  if (ex.ec) co_return ex;
  ex.reusable =
      parser.keep_alive() && !r.closed && !r.leftover && !https_impl::request_says_close(req);
  ex.response = std::move(parser.response());
  co_return ex;
}

}  // namespace async_https_impl
}  // namespace detail

AZID_DECL AsyncHttpsTransport::AsyncHttpsTransport(executor_type executor, TransportOptions options)
    : impl_(std::make_unique<Impl>(std::move(executor), options)) {}

AZID_DECL AsyncHttpsTransport::~AsyncHttpsTransport() = default;

AZID_DECL AsyncHttpsTransport::executor_type AsyncHttpsTransport::get_executor() const noexcept {
  return impl_->ex;
}

namespace detail {
namespace async_https_impl {

/// Whether handlers submitted to `ex` run one at a time: Asio's strands, as async_send and
/// async_get_token make them (and as applications commonly make them). By the target's type:
/// Asio 1.22's target<T>() casts whatever it holds. Without RTTI, none counts as one.
inline bool is_strand(const asio::any_io_executor& ex) noexcept {
#if !defined(ASIO_NO_TYPEID)
  return ex.target_type() == typeid(asio::strand<asio::any_io_executor>) ||
         ex.target_type() == typeid(asio::strand<asio::io_context::executor_type>);
#else
  (void)ex;
  return false;
#endif
}

/// The exchange itself, on the calling coroutine's executor, which must be a strand: the
/// watchdog's timer handler closes the socket the coroutine is driving.
inline asio::awaitable<Outcome<HttpResponse>> run_exchange(AsyncHttpsTransport::Impl& impl,
                                                           HttpRequest request) {
  namespace base = https_impl;
  co_await asio::this_coro::throw_if_cancelled(false);  // a cancelled exchange ends with its code
  Outcome<HttpResponse> out;
  Url url;
  if ((out.ec = parse_url(request.url, url))) co_return out;
  const bool https = url.scheme == "https";
  const std::string pin = https ? request.pinned_thumbprint : std::string{};
  const base::Route route = base::route_for(impl, request, url);
  if (route.unusable) {
    out.ec = make_error_code(errc::proxy_unusable);
    co_return out;
  }
  const std::string key = base::pool_key(url, route, pin);
  bool failed_unexpectedly = false;
  std::shared_ptr<Watchdog> wd;
  try {
    const asio::any_io_executor strand = co_await asio::this_coro::executor;
    wd = std::make_shared<Watchdog>(strand);
    // Connections are pooled per execution context: a socket is only driven by the context it
    // belongs to (that context's shutdown closes the ones parked here).
    const std::shared_ptr<ContextPool> pool =
        impl.pool_for(asio::query(strand, asio::execution::context));
    // A replay after a dropped kept-alive connection stays within the first attempt's timeout.
    std::optional<steady::time_point> budget;
    for (int attempt = 0;; ++attempt) {
      AsyncConnectionPtr c = attempt == 0 ? pool->take(key, impl.options.idle_timeout) : nullptr;
      const bool reused = c != nullptr;
      if (reused) budget = base::after(request.timeout);
      if (!reused) {
        c = std::make_unique<AsyncConnection>(strand);
        c->key = key;
        auto connect_by = base::after(request.connect_timeout);
        if (budget) connect_by = std::min(connect_by, *budget);
        if ((out.ec = co_await connect(impl, *c, url, route, connect_by, wd))) co_return out;
      }
      const auto deadline = budget ? *budget : base::after(request.timeout);
      Exchanged ex = co_await detail::async_https_impl::exchange(impl, *c, request, url, route, pin,
                                                                 https && !reused, deadline, wd);
      if (ex.ec) {
        // A kept-alive connection the server already dropped shows up as a close before any
        // response byte; that one case is safe to replay once on a fresh connection.
        if (reused && !ex.received_any && ex.ec == errc::connection_closed) continue;
        out.ec = ex.ec;
        co_return out;
      }
      if (ex.reusable) pool->put(std::move(c), impl.options.max_idle_per_host);
      out.value = std::move(ex.response);
      co_return out;
    }
  } catch (const std::exception&) {
    failed_unexpectedly = true;  // e.g. SSL_new failing; no co_await may run inside a handler
    // The connection the watchdog may still be armed on is gone: its expiry must not touch it.
    if (wd) {
      disarm(*wd);
      wd->conn = nullptr;
    }
  }
  if (failed_unexpectedly) out.ec = make_error_code(errc::io_error);
  co_return out;
}

/// run_exchange on a strand of its own, made from `ex` (the caller's executor, which is not one);
/// the caller resumes on its own executor once it is done. The caller's cancellation reaches the
/// exchange through that strand, never from another thread while it runs.
inline asio::awaitable<Outcome<HttpResponse>> run_on_strand(AsyncHttpsTransport::Impl& impl,
                                                            HttpRequest request,
                                                            const asio::any_io_executor& ex) {
  const asio::any_io_executor strand = asio::make_strand(ex);
  const auto signal = std::make_shared<asio::cancellation_signal>();
  const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  if (asio::cancellation_slot slot = state.slot(); slot.is_connected())
    slot.assign([strand, signal](asio::cancellation_type type) {
      try {
        asio::post(strand, [signal, type] { signal->emit(type); });
      } catch (...) {
        // Out of memory: the request's own timeouts still end the exchange.
      }
    });
  // Named, not temporaries of the co_await expression (see blocking_call_async).
  asio::awaitable<Outcome<HttpResponse>> spawned = run_exchange(impl, std::move(request));
  auto token = asio::bind_cancellation_slot(signal->slot(), use_tuple);
  auto [ep, out] = co_await asio::co_spawn(strand, std::move(spawned), token);
  if (ep) {  // cancelled before it started (co_spawn's own report), or out of memory
    out.ec = cancelled_before_start(ep) ? std::error_code(asio::error::operation_aborted)
                                        : make_error_code(errc::io_error);
  }
  co_return std::move(out);
}

}  // namespace async_https_impl
}  // namespace detail

AZID_DECL asio::awaitable<detail::Outcome<HttpResponse>> AsyncHttpsTransport::exchange(
    HttpRequest request) {
  using namespace detail::async_https_impl;
  // A cancelled exchange ends with its error code, not an exception. The flag belongs to the
  // whole coroutine thread, the caller's frames too: it is put back on the way out.
  const bool throwing = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  detail::Outcome<HttpResponse> out;
  bool failed_unexpectedly = false;
  try {
    const asio::any_io_executor ex = co_await asio::this_coro::executor;
    if (is_strand(ex))
      out = co_await run_exchange(*impl_, std::move(request));
    else
      out = co_await run_on_strand(*impl_, std::move(request), ex);
  } catch (const std::exception&) {
    failed_unexpectedly = true;  // bad_alloc: run_exchange reports everything else
  }
  if (failed_unexpectedly) out.ec = make_error_code(errc::io_error);
  co_await asio::this_coro::throw_if_cancelled(throwing);
  co_return out;
}

AZID_DECL HttpResponse AsyncHttpsTransport::send(const HttpRequest& request, std::error_code& ec) {
  return impl_->sync.send(request, ec);
}

AZID_DECL std::size_t AsyncHttpsTransport::connections_opened() const noexcept {
  return impl_->opened.load(std::memory_order_relaxed);
}

AZID_DECL void AsyncHttpsTransport::close_idle() noexcept { impl_->close_idle(); }

AZID_END
