// azid/async/https_transport.hpp: the AsyncTransport concept and AsyncHttpsTransport, HTTPS on a
// caller's executor (models Transport and AsyncTransport). Includes Asio; OpenSSL stays in the .ipp.
#pragma once

#include <concepts>
#include <exception>
#include <memory>
#include <system_error>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/strand.hpp>

#include "azid/config.hpp"
#include "azid/core/error_code.hpp"
#include "azid/transport/https.hpp"
#include "azid/transport/http_message.hpp"

// Asio enables its coroutine support (asio::awaitable, co_spawn) only where it detects it; clang
// with libstdc++ and older Asio releases (Debian 12's 1.22) miss it. Say so plainly rather than
// with a page of errors about a missing asio::awaitable.
#if !defined(ASIO_HAS_CO_AWAIT)
#error \
    "azid/async needs Asio's C++20 coroutine support (ASIO_HAS_CO_AWAIT). With clang and libstdc++, define ASIO_HAS_CO_AWAIT=1 (or use -stdlib=libc++)."
#endif

AZID_BEGIN

namespace detail {
/// A completion handler of the async_send signature, for the concept check only.
struct SendProbe {
  void operator()(std::error_code, HttpResponse) const {}
};

/// Result of an internal coroutine that completes with `void(std::error_code, V)`.
template <class V>
struct Outcome {
  std::error_code ec;
  V value{};
};

/// Whether an exception that ended a coroutine is Asio's own report of a cancellation: a slot
/// that fires before the coroutine first runs makes co_spawn's entry throw operation_aborted.
inline bool cancelled_before_start(const std::exception_ptr& ep) noexcept {
  try {
    std::rethrow_exception(ep);
  } catch (const std::system_error& e) {
    return e.code() == asio::error::operation_aborted;
  } catch (...) {
    return false;
  }
}

/// Runs `make()` (returning asio::awaitable<Outcome<V>>) on a strand of `ex` and completes `token`
/// with `void(std::error_code, V)`. The handler runs on its associated executor (default: the
/// strand) and its cancellation slot reaches the coroutine. A cancellation before the coroutine
/// started is operation_aborted; any other exception escaping it (only bad_alloc can) becomes
/// errc::io_error.
template <class V, class Token, class Make>
auto launch_outcome(asio::any_io_executor ex, Token&& token, Make make) {
  return asio::async_initiate<Token, void(std::error_code, V)>(
      [](auto handler, asio::any_io_executor ex, Make make) {
        auto strand = asio::make_strand(ex);
        auto handler_ex = asio::get_associated_executor(handler, strand);
        auto slot = asio::get_associated_cancellation_slot(handler);
        asio::co_spawn(strand, make(),
                       asio::bind_cancellation_slot(
                           slot, asio::bind_executor(handler_ex, [h = std::move(handler)](
                                                                     std::exception_ptr ep,
                                                                     Outcome<V> o) mutable {
                             if (ep && !o.ec)
                               o.ec = cancelled_before_start(ep)
                                          ? std::error_code(asio::error::operation_aborted)
                                          : make_error_code(errc::io_error);
                             std::move(h)(o.ec, std::move(o.value));
                           })));
      },
      token, std::move(ex), std::move(make));
}
}  // namespace detail

/// AsyncTransport requirements (t: T&, req: HttpRequest, token: a completion token)
/// | expression               | type                | semantics |
/// |--------------------------|---------------------|-----------|
/// | `T::executor_type`       | an Asio executor    | where the exchanges run |
/// | `t.get_executor()`       | T::executor_type    | |
/// | `t.async_send(req, token)` | per the token     | one exchange, completing with `void(std::error_code, HttpResponse)`; the same contract as Transport's `send` (errors in azid::errc, any HTTP status is a success, req's timeouts and size limits honoured); never completes inside the call; several may run at once |
template <class T>
concept AsyncTransport = requires(T& t, HttpRequest req) {
  typename T::executor_type;
  { t.get_executor() } -> std::convertible_to<typename T::executor_type>;
  t.async_send(std::move(req), detail::SendProbe{});
};

/// HTTP/1.1 over TCP, TLS 1.2+ for https://, driven asynchronously on the caller's executor: no
/// thread of its own, no blocking call on the executor (host names are resolved by Asio's
/// resolver). The rules are HttpsTransport's (same TransportOptions, trust, host-name
/// verification and pinning, proxies and CONNECT tunnels, size limits): resolve + connect (and
/// the tunnel) within `connect_timeout`, handshake + write + read within `timeout`, each phase
/// cut off by a timer. Kept-alive connections are pooled per host and reused, on the execution
/// context that opened them only; that context's shutdown closes the ones it has parked, so the
/// transport may outlive it.
///
/// It also models the synchronous Transport (an HttpsTransport with the same options, its
/// own pool), so credentials built on it keep their blocking get_token as well.
///
/// Thread safety: async_send and send may be called from any thread; each exchange runs on a
/// strand (async_send's: a strand of its own of the transport's executor). The transport must
/// outlive its exchanges.
class AsyncHttpsTransport {
 public:
  using executor_type = asio::any_io_executor;

  /// @throws std::invalid_argument for a malformed proxy or an unreadable extra_ca_file.
  AZID_DECL explicit AsyncHttpsTransport(executor_type executor, TransportOptions options = {});
  AZID_DECL ~AsyncHttpsTransport();
  AsyncHttpsTransport(const AsyncHttpsTransport&) = delete;
  AsyncHttpsTransport& operator=(const AsyncHttpsTransport&) = delete;

  [[nodiscard]] AZID_DECL executor_type get_executor() const noexcept;

  /// One exchange; completes with `void(std::error_code, HttpResponse)`.
  template <class CompletionToken = asio::default_completion_token_t<executor_type>>
  auto async_send(HttpRequest request,
                  CompletionToken&& token = asio::default_completion_token_t<executor_type>()) {
    return detail::launch_outcome<HttpResponse>(
        get_executor(), std::forward<CompletionToken>(token),
        [this, r = std::move(request)]() mutable { return exchange(std::move(r)); });
  }

  /// The coroutine behind async_send, for composing inside other coroutines. The exchange runs on
  /// the awaiting coroutine's executor when that is an asio::strand (of any_io_executor or of
  /// io_context::executor_type), else on a strand of its own made from it, the caller resuming on
  /// its own executor; its sockets belong to that executor's execution context, whichever the
  /// transport's is. A cancellation ends it with an error code, not an exception; the caller's
  /// throw_if_cancelled setting is left as it was.
  AZID_DECL asio::awaitable<detail::Outcome<HttpResponse>> exchange(HttpRequest request);

  /// Blocking exchange (models Transport).
  AZID_DECL HttpResponse send(const HttpRequest& request, std::error_code& ec);

  /// Connections opened by async_send so far (TCP connects, proxy tunnels included).
  [[nodiscard]] AZID_DECL std::size_t connections_opened() const noexcept;
  /// Closes every idle pooled connection of the asynchronous side.
  AZID_DECL void close_idle() noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

static_assert(AsyncTransport<AsyncHttpsTransport>);

AZID_END

#if defined(AZID_HEADER_ONLY)
#include "azid/impl/async_https.ipp"
#endif
