// azid/core/concepts.hpp: the seams (Transport, Clock, Environment, FileReader, ProcessRunner,
// Platform) and Credential.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/log.hpp"
#include "azid/core/result.hpp"
#include "azid/platform/process_runner.hpp"
#include "azid/transport/http_message.hpp"

AZID_BEGIN

/// Transport requirements (t: T&, req: const HttpRequest&, ec: std::error_code&)
/// | expression        | type         | semantics |
/// |-------------------|--------------|-----------|
/// | `t.send(req, ec)` | HttpResponse | performs one exchange; never throws for I/O failures: sets `ec` (azid::errc) and returns an empty response; any HTTP status is a success at this level; honours req.connect_timeout, req.timeout, req.max_body_bytes; safe to call from several threads at once |
template <class T>
concept Transport = requires(T& t, const HttpRequest& req, std::error_code& ec) {
  { t.send(req, ec) } -> std::same_as<HttpResponse>;
};

/// Clock requirements (c: const C&, d: std::chrono::milliseconds)
/// | expression       | type                                  | semantics |
/// |------------------|---------------------------------------|-----------|
/// | `c.now()`        | std::chrono::system_clock::time_point | wall time, for expiry |
/// | `c.steady_now()` | std::chrono::steady_clock::time_point | monotonic time, for timeouts and throttles |
/// | `c.sleep_for(d)` | void                                  | waits (tests advance a manual clock instead) |
template <class C>
concept Clock = requires(const C& c, std::chrono::milliseconds d) {
  { c.now() } -> std::same_as<std::chrono::system_clock::time_point>;
  { c.steady_now() } -> std::same_as<std::chrono::steady_clock::time_point>;
  c.sleep_for(d);
};

/// Environment requirements (e: const E&, name: std::string_view)
/// | expression    | type                       | semantics |
/// |---------------|----------------------------|-----------|
/// | `e.get(name)` | std::optional<std::string> | the variable's value; unset and set-but-empty both read as nullopt |
template <class E>
concept Environment = requires(const E& e, std::string_view name) {
  { e.get(name) } -> std::same_as<std::optional<std::string>>;
};

/// FileReader requirements (f: const F&, path: const std::string&, n: std::size_t, ec: std::error_code&)
/// | expression          | type        | semantics |
/// |---------------------|-------------|-----------|
/// | `f.read(path, n, ec)` | std::string | whole file; errc::file_too_large beyond n bytes, errc::file_not_found, errc::file_access_denied, errc::file_not_regular (a directory), errc::file_read_failed |
template <class F>
concept FileReader = requires(const F& f, const std::string& path, std::size_t n,
                              std::error_code& ec) {
  { f.read(path, n, ec) } -> std::same_as<std::string>;
};

/// ProcessRunner requirements (r: const R&, spec: const ProcessSpec&, ec: std::error_code&)
/// | expression        | type          | semantics |
/// |-------------------|---------------|-----------|
/// | `r.run(spec, ec)` | ProcessResult | runs spec.argv (never through a shell) to completion with stdin from /dev/null, stdout and stderr captured separately up to spec.max_output_bytes each; kills the child and its process group at spec.timeout and reaps it; a non-zero exit is not an error; sets `ec` (errc::process_not_found, process_spawn_failed, process_timeout, process_output_too_large) instead of throwing; safe to call from several threads at once |
/// Not (yet) part of Platform: credentials that spawn tools require it on their own template.
template <class R>
concept ProcessRunner = requires(const R& r, const ProcessSpec& spec, std::error_code& ec) {
  { r.run(spec, ec) } -> std::same_as<ProcessResult>;
};

/// Platform requirements: one bundle of the seams, so a credential has one template parameter.
/// A platform is a cheap handle (copying it shares the same transport, clock and logger).
template <class P>
concept Platform = std::copy_constructible<P> && requires(const P& p) {
  requires Transport<std::remove_cvref_t<decltype(p.transport())>>;
  requires Clock<std::remove_cvref_t<decltype(p.clock())>>;
  requires Environment<std::remove_cvref_t<decltype(p.environment())>>;
  requires FileReader<std::remove_cvref_t<decltype(p.files())>>;
  { p.logger() } -> std::convertible_to<const Logger&>;
  // A reference, not a copy: chains keep the logger's address for the platform's lifetime.
  requires std::is_lvalue_reference_v<decltype(p.logger())>;
};

/// Credential requirements (c: const C&, ctx: const TokenRequestContext&)
/// | expression           | type        | semantics |
/// |----------------------|-------------|-----------|
/// | `C::name`            | string_view | class name used in messages, e.g. "ClientSecretCredential" |
/// | `c.try_get_token(ctx)` | TokenResult | never throws for authentication failures; thread-safe |
/// | `c.get_token(ctx)`   | AccessToken | throws ClientAuthenticationError and its subclasses |
template <class C>
concept Credential = requires(const C& c, const TokenRequestContext& ctx) {
  { C::name } -> std::convertible_to<std::string_view>;
  { c.try_get_token(ctx) } -> std::same_as<TokenResult>;
  { c.get_token(ctx) } -> std::same_as<AccessToken>;
};

AZID_END
