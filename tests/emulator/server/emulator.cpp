// The HTTP(S) server behind Emulator, and the Emulator/Impl plumbing.
//
// Concurrency model: one io_context run by Options::threads threads. Every connection lives on
// its own strand and has at most one operation chain in flight, so a connection's state needs no
// locks; the shared state in Impl is guarded by Impl::mutex. Faults wait on steady_timers, never by
// sleeping, so a slow or silent connection costs nothing but a socket. Stopping is io_context::stop
// plus join: pending operations are abandoned and their handlers (which own the connections) are
// destroyed with the io_context, which is what lets the destructor return promptly.
#include <algorithm>
#include <array>
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include "emulator_http.hpp"
#include "emulator_impl.hpp"
#include "emulator_json.hpp"

namespace azid_emulator {
namespace detail {
namespace {

using tcp = asio::ip::tcp;
using error_code = std::error_code;
using TlsStream = asio::ssl::stream<tcp::socket>;

// Body used by faults that need one when the test did not supply any: shaped like a token
// response so a client that (wrongly) accepts a partial body parses something plausible.
constexpr std::string_view default_fault_body =
    R"({"token_type":"Bearer","expires_in":3600,"ext_expires_in":3600,)"
    R"("access_token":"emulator-fault-body"})";

constexpr std::size_t huge_body_length = 1073741824;  // what huge_body claims to send

const std::array<char, 64 * 1024>& zeros() {
  static const std::array<char, 64 * 1024> block{};
  return block;
}

template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
  static constexpr bool tls = std::is_same_v<Stream, TlsStream>;

 public:
  Connection(Emulator::Impl& impl, Stream stream)
      : impl_(impl), stream_(std::move(stream)), timer_(socket().get_executor()) {
    ++impl_.open_connections;
  }
  ~Connection() { --impl_.open_connections; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start() {
    if constexpr (tls) {
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code ec) {
                                if (ec) return self->abort();
                                self->read_more();
                              });
    } else {
      read_more();
    }
  }

 private:
  tcp::socket& socket() {
    if constexpr (tls)
      return stream_.next_layer();
    else
      return stream_;
  }

  void read_more() {
    stream_.async_read_some(asio::buffer(chunk_),
                            [self = this->shared_from_this()](error_code ec, std::size_t n) {
                              if (ec) return self->abort();
                              self->in_.append(self->chunk_.data(), n);
                              self->process();
                            });
  }

  // Tries to parse one request from the buffered input; reads more if it is not all here yet.
  void process() {
    ParsedRequest request;
    const ParseOutcome outcome = parse_request(in_, request, limits_);
    switch (outcome.status) {
      case ParseOutcome::Status::incomplete:
        if (outcome.expects_continue && !continue_sent_) {
          continue_sent_ = true;
          out_ = "HTTP/1.1 100 Continue\r\n\r\n";
          return write_out([](Connection& c) { c.read_more(); });
        }
        // Chunk framing can outgrow the parser's body cap slightly; this bounds the buffer.
        if (in_.size() > limits_.max_header_bytes + limits_.max_body_bytes + 64 * 1024) {
          return reject(413, "request too large");
        }
        return read_more();
      case ParseOutcome::Status::error:
        return reject(outcome.error_status, outcome.error_reason);
      case ParseOutcome::Status::complete:
        in_.erase(0, outcome.consumed);
        continue_sent_ = false;
        return handle(std::move(request));
    }
  }

  void reject(int status, const std::string& reason) {
    const std::string body =
        JsonObject().str("error", "bad_request").str("error_description", reason).done();
    send(status, {{"Content-Type", "application/json; charset=utf-8"}}, body, true);
  }

  void handle(ParsedRequest parsed) {
    RecordedRequest request;
    request.method = std::move(parsed.method);
    request.target = std::move(parsed.target);
    request.headers = std::move(parsed.headers);
    request.body = std::move(parsed.body);
    request.tls = tls;
    keep_alive_ = parsed.keep_alive;
    impl_.record(request);

    if (std::optional<Fault> fault = impl_.take_fault(request.path())) {
      fault_ = std::move(*fault);
      if (fault_.delay.count() > 0) {
        timer_.expires_after(fault_.delay);
        timer_.async_wait([self = this->shared_from_this()](error_code ec) {
          if (!ec) self->run_fault();
        });
      } else {
        run_fault();
      }
      return;
    }
    Reply reply = impl_.dispatch(request);
    send(reply.status, reply.headers, reply.body, reply.close || !keep_alive_);
  }

  // A complete response; afterwards either the next request or an orderly close.
  void send(int status, const Headers& headers, std::string_view body, bool close) {
    out_ = serialize_head(status, headers, body.size(), close);
    out_.append(body);
    write_out([close](Connection& c) {
      if (close)
        c.close_gracefully();
      else
        c.process();
    });
  }

  Headers fault_headers() const {
    Headers h = fault_.headers;
    const bool has_type = std::any_of(
        h.begin(), h.end(), [](const auto& kv) { return iequals(kv.first, "Content-Type"); });
    if (!has_type) h.emplace_back("Content-Type", "application/json; charset=utf-8");
    return h;
  }

  std::string fault_body() const {
    return fault_.body.empty() ? std::string(default_fault_body) : fault_.body;
  }

  void run_fault() {
    using Kind = Fault::Kind;
    switch (fault_.kind) {
      case Kind::respond:
        return send(fault_.status, fault_headers(), fault_.body, !keep_alive_);
      case Kind::drop_before_response:
        return abort();
      case Kind::drop_mid_headers: {
        const std::string head =
            serialize_head(fault_.status, fault_headers(), fault_body().size(), false);
        // Past the status line but well short of the blank line that ends the headers.
        const std::size_t status_line = head.find("\r\n") + 2;
        out_ = head.substr(0, status_line + (head.size() - status_line) / 2);
        return write_out([](Connection& c) { c.abort(); });
      }
      case Kind::drop_mid_body: {
        const std::string body = fault_body();
        out_ = serialize_head(fault_.status, fault_headers(), body.size(), false) +
               body.substr(0, body.size() / 2);
        return write_out([](Connection& c) { c.abort(); });
      }
      case Kind::silent:
        return drain_until_peer_closes();
      case Kind::slow_body: {
        slow_body_ = fault_body();
        slow_sent_ = 0;
        out_ = serialize_head(fault_.status, fault_headers(), slow_body_.size(), !keep_alive_);
        return write_out([](Connection& c) { c.next_slow_byte(); });
      }
      case Kind::huge_body:
        out_ = serialize_head(fault_.status, fault_headers(), huge_body_length, true);
        huge_remaining_ = huge_body_length;
        return write_out([](Connection& c) { c.next_zeros(); });
      case Kind::truncated_body: {
        const std::string body = fault_body();
        out_ = serialize_head(fault_.status, fault_headers(),
                              body.size() + std::max<std::size_t>(body.size(), 16), false) +
               body;
        return write_out([](Connection& c) { c.abort(); });
      }
      case Kind::raw:
        out_ = fault_.body;
        return write_out([](Connection& c) { c.abort(); });
      case Kind::huge_chunked_body: {
        // serialize_head drops a caller's Transfer-Encoding; the framing header goes in here.
        out_ = serialize_head(fault_.status, fault_headers(), std::nullopt, true);
        out_.insert(out_.size() - 2, "Transfer-Encoding: chunked\r\n");
        huge_remaining_ = huge_body_length;
        return write_out([](Connection& c) { c.next_chunk(); });
      }
    }
  }

  // One 64 KiB chunk of zeros at a time, so 1 GiB is never buffered; the client ends it by closing.
  void next_chunk() {
    static constexpr std::string_view last = "0\r\n\r\n";
    if (huge_remaining_ == 0) {
      out_.assign(last);
      return write_out([](Connection& c) { c.close_gracefully(); });
    }
    const std::size_t n = std::min(huge_remaining_, zeros().size());
    chunk_prefix_ = to_hex(n) + "\r\n";
    const std::array<asio::const_buffer, 3> parts = {
        asio::buffer(chunk_prefix_), asio::buffer(zeros().data(), n), asio::buffer("\r\n", 2)};
    asio::async_write(stream_, parts,
                      [self = this->shared_from_this(), n](error_code ec, std::size_t) {
                        if (ec) return self->abort();
                        self->huge_remaining_ -= n;
                        self->next_chunk();
                      });
  }

  static std::string to_hex(std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    do {
      out.insert(out.begin(), digits[n % 16]);
      n /= 16;
    } while (n != 0);
    return out;
  }

  void next_slow_byte() {
    if (slow_sent_ >= slow_body_.size()) {
      if (keep_alive_) return process();
      return close_gracefully();
    }
    timer_.expires_after(fault_.byte_interval);
    timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec) return;
      self->out_.assign(1, self->slow_body_[self->slow_sent_++]);
      self->write_out([](Connection& c) { c.next_slow_byte(); });
    });
  }

  // Streams zeros without buffering them; the client ends this by closing (the write fails).
  void next_zeros() {
    if (huge_remaining_ == 0) return close_gracefully();
    const std::size_t n = std::min(huge_remaining_, zeros().size());
    asio::async_write(stream_, asio::buffer(zeros().data(), n),
                      [self = this->shared_from_this()](error_code ec, std::size_t written) {
                        if (ec) return self->abort();
                        self->huge_remaining_ -= written;
                        self->next_zeros();
                      });
  }

  // Reads and discards until the peer goes away; used by `silent` and the lingering close.
  void drain_until_peer_closes() {
    stream_.async_read_some(asio::buffer(chunk_),
                            [self = this->shared_from_this()](error_code ec, std::size_t) {
                              if (ec) return self->abort();
                              self->drain_until_peer_closes();
                            });
  }

  template <class Then>
  void write_out(Then then) {
    asio::async_write(stream_, asio::buffer(out_),
                      [self = this->shared_from_this(), then](error_code ec, std::size_t) {
                        if (ec) return self->abort();
                        then(*self);
                      });
  }

  // Orderly close after a "Connection: close" response. TLS sends close_notify; plain TCP half-
  // closes and drains, so the client reads the whole response instead of a reset. Either way the
  // peer gets one second before the socket is closed regardless.
  void close_gracefully() {
    timer_.expires_after(std::chrono::seconds(1));
    timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (!ec) self->abort();
    });
    if constexpr (tls) {
      stream_.async_shutdown([self = this->shared_from_this()](error_code) {
        self->timer_.cancel();
        self->abort();
      });
    } else {
      error_code ignored;
      socket().shutdown(tcp::socket::shutdown_send, ignored);
      drain_until_peer_closes();
    }
  }

  // Abrupt close: what the drop faults want, and the end of every path.
  void abort() {
    error_code ignored;
    timer_.cancel();
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

  Emulator::Impl& impl_;
  Stream stream_;
  asio::steady_timer timer_;
  ParserLimits limits_;
  std::array<char, 16 * 1024> chunk_{};
  std::string in_;
  std::string out_;
  bool keep_alive_ = true;
  bool continue_sent_ = false;
  Fault fault_;
  std::string slow_body_;
  std::size_t slow_sent_ = 0;
  std::size_t huge_remaining_ = 0;
  std::string chunk_prefix_;
};

}  // namespace

class Server {
 public:
  Server(Emulator::Impl& impl, X509* cert, EVP_PKEY* key, std::uint16_t port)
      : impl_(impl), acceptor_(io_), retry_timer_(io_) {
    if (cert != nullptr) {
      ssl_.emplace(asio::ssl::context::tls_server);
      SSL_CTX* ctx = ssl_->native_handle();
      if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
          SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
          SSL_CTX_check_private_key(ctx) != 1)
        throw_openssl("TLS server context");
      ssl_->set_options(asio::ssl::context::default_workarounds |
                        asio::ssl::context::single_dh_use);
    }
    const tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
  }

  ~Server() { stop(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  void start(int threads) {
    accept();
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        // run() rethrows a handler's exception; serving goes on, since one bad request must not
        // take the emulator (and every test after it) down.
        for (;;) {
          try {
            io_.run();
            return;
          } catch (...) {
          }
        }
      });
    }
  }

  void stop() {
    io_.stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        // Typically EMFILE: back off briefly rather than spinning.
        retry_timer_.expires_after(std::chrono::milliseconds(50));
        retry_timer_.async_wait([this](error_code wait_ec) {
          if (!wait_ec) accept();
        });
        return;
      }
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (ssl_) {
        std::make_shared<Connection<TlsStream>>(impl_, TlsStream(std::move(socket), *ssl_))
            ->start();
      } else {
        std::make_shared<Connection<tcp::socket>>(impl_, std::move(socket))->start();
      }
      accept();
    });
  }

  Emulator::Impl& impl_;
  // Declared before io_ so it outlives the TLS streams destroyed along with io_'s pending handlers.
  std::optional<asio::ssl::context> ssl_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  std::vector<std::thread> threads_;
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Impl

Emulator::Impl::Impl(Options opts) : options(std::move(opts)) {
  using namespace detail;
  if (options.threads < 1) throw std::invalid_argument("Options::threads must be at least 1");
  signing_key = generate_rsa(2048);
  signing_kid = key_id(signing_key.get());
  signing_public_pem = public_key_pem(signing_key.get());

  try {
    PkeyPtr server_key;
    X509Ptr server_cert;
    if (options.tls) {
      PkeyPtr ca_key = generate_ec_p256();
      const Validity valid{std::chrono::hours(-1), std::chrono::hours(24)};
      X509Ptr ca_cert = make_ca_certificate(ca_key.get(), "azid emulator CA", valid);
      server_key = generate_ec_p256();
      // Only the leaf expires, so a client's failure is about expiry and not an untrusted chain.
      const Validity server_validity =
          options.expired_server_cert ? Validity{std::chrono::hours(-48), std::chrono::hours(-24)}
                                      : valid;
      server_cert = make_server_certificate(server_key.get(), ca_cert.get(), ca_key.get(),
                                            options.server_names, server_validity);
      server_thumbprint = certificate_sha1_hex(server_cert.get());
      std::filesystem::path dir;
      if (options.cert_dir.empty()) {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "azid-emulator-XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr)
          throw std::system_error(errno, std::generic_category(), "mkdtemp");
        temp_dir = tmpl;
        dir = tmpl;
      } else {
        dir = options.cert_dir;
        std::filesystem::create_directories(dir);
      }
      // Only the CA certificate is written; private keys never leave memory.
      ca_file = (dir / "ca.pem").string();
      std::ofstream out(ca_file, std::ios::binary | std::ios::trunc);
      out << certificate_pem(ca_cert.get());
      if (!out.flush()) throw std::runtime_error("cannot write " + ca_file);
    }

    install_entra_routes(*this);
    install_resource_routes(*this);
    install_pipelines_routes(*this);
    install_managed_identity_routes(*this);

    server = std::make_unique<Server>(*this, server_cert.get(), server_key.get(), options.port);
    port = server->port();
    base_url = std::string(options.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port);
    server->start(options.threads);
  } catch (...) {
    server.reset();
    if (!temp_dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(temp_dir, ignored);
    }
    throw;
  }
}

Emulator::Impl::~Impl() {
  // The server goes first: its threads and pending handlers reference the rest of this object.
  server.reset();
  if (!temp_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir, ignored);
  }
}

void Emulator::Impl::record(const RecordedRequest& request) {
  {
    std::lock_guard lock(mutex);
    records.push_back(request);
  }
  requests_changed.notify_all();
}

std::optional<Fault> Emulator::Impl::take_fault(std::string_view path) {
  std::lock_guard lock(mutex);
  const auto it = std::find_if(faults.begin(), faults.end(), [&](const QueuedFault& f) {
    return path.substr(0, f.prefix.size()) == f.prefix;
  });
  if (it == faults.end()) return std::nullopt;
  Fault fault = std::move(it->fault);
  faults.erase(it);
  return fault;
}

Reply Emulator::Impl::dispatch(const RecordedRequest& request) {
  using namespace detail;
  Router::Found found;
  std::vector<std::string> allowed;
  bool matched;
  {
    std::lock_guard lock(mutex);
    matched = router.find(request.method, request.path(), found, allowed);
  }
  if (!matched) {
    if (!allowed.empty()) {
      std::string allow;
      for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
      Reply reply = json_reply(405, JsonObject().str("error", "method_not_allowed").done());
      reply.headers.emplace_back("Allow", allow);
      return reply;
    }
    return json_reply(404,
                      JsonObject().str("error", "not_found").str("path", request.path()).done());
  }
  try {
    return found.handler(request, found.match);
  } catch (const std::exception& e) {
    return json_reply(
        500, JsonObject().str("error", "emulator_error").str("error_description", e.what()).done());
  } catch (...) {
    return json_reply(500, JsonObject().str("error", "emulator_error").done());
  }
}

std::optional<App> Emulator::Impl::find_app(std::string_view tenant,
                                            std::string_view client_id) const {
  std::lock_guard lock(mutex);
  // Tenant ids, domain names and client ids are all case-insensitive in Entra.
  for (const auto& app : apps)
    if (detail::iequals(app.tenant, tenant) && detail::iequals(app.client_id, client_id))
      return app;
  return std::nullopt;
}

bool Emulator::Impl::has_tenant(std::string_view tenant) const {
  std::lock_guard lock(mutex);
  return std::any_of(apps.begin(), apps.end(),
                     [&](const App& app) { return detail::iequals(app.tenant, tenant); });
}

std::optional<std::string> Emulator::Impl::find_secret(std::string_view name) const {
  std::lock_guard lock(mutex);
  const auto it = secrets.find(name);
  if (it == secrets.end()) return std::nullopt;
  return it->second;
}

std::string Emulator::Impl::resource_tenant() const {
  if (!options.resource_tenant.empty()) return options.resource_tenant;
  std::lock_guard lock(mutex);
  return apps.empty() ? std::string("organizations") : apps.front().tenant;
}

// ---------------------------------------------------------------------------------------------
// Public types

std::string RecordedRequest::header(std::string_view name) const {
  return std::string(detail::header_value(headers, name));
}

bool RecordedRequest::has_header(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return detail::iequals(h.first, name); });
}

std::string RecordedRequest::path() const { return target.substr(0, target.find('?')); }

std::optional<std::string> RecordedRequest::query_param(std::string_view name) const {
  const auto q = target.find('?');
  if (q == std::string::npos) return std::nullopt;
  for (auto& [k, v] : detail::parse_form(std::string_view(target).substr(q + 1)))
    if (k == name) return std::move(v);
  return std::nullopt;
}

std::optional<std::string> RecordedRequest::form_param(std::string_view name) const {
  for (auto& [k, v] : detail::parse_form(body))
    if (k == name) return std::move(v);
  return std::nullopt;
}

std::string RouteMatch::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

// ---------------------------------------------------------------------------------------------
// Emulator

Emulator::Emulator(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Emulator::~Emulator() = default;

std::uint16_t Emulator::port() const { return impl_->port; }
std::string Emulator::base_url() const { return impl_->base_url; }
std::string Emulator::authority_host() const { return impl_->base_url; }
const std::string& Emulator::ca_file() const { return impl_->ca_file; }
std::string Emulator::issuer_public_key_pem() const { return impl_->signing_public_pem; }
std::string Emulator::signing_key_id() const { return impl_->signing_kid; }
const Options& Emulator::options() const { return impl_->options; }

App Emulator::register_app(App app) {
  if (app.object_id.empty()) app.object_id = detail::make_uuid();
  std::lock_guard lock(impl_->mutex);
  auto& apps = impl_->apps;
  const auto it = std::find_if(apps.begin(), apps.end(), [&](const App& a) {
    return detail::iequals(a.tenant, app.tenant) && detail::iequals(a.client_id, app.client_id);
  });
  if (it != apps.end())
    *it = app;
  else
    apps.push_back(app);
  return app;
}

void Emulator::remove_app(std::string_view tenant, std::string_view client_id) {
  std::lock_guard lock(impl_->mutex);
  std::erase_if(impl_->apps, [&](const App& a) {
    return detail::iequals(a.tenant, tenant) && detail::iequals(a.client_id, client_id);
  });
}

void Emulator::push_fault(std::string path_prefix, Fault fault) {
  std::lock_guard lock(impl_->mutex);
  impl_->faults.push_back({std::move(path_prefix), std::move(fault)});
}

void Emulator::clear_faults() {
  std::lock_guard lock(impl_->mutex);
  impl_->faults.clear();
}

std::size_t Emulator::pending_faults() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->faults.size();
}

namespace {
std::size_t count_matching(const std::vector<RecordedRequest>& records, std::string_view prefix) {
  return static_cast<std::size_t>(
      std::count_if(records.begin(), records.end(), [&](const RecordedRequest& r) {
        return std::string_view(r.target).substr(0, r.target.find('?')).substr(0, prefix.size()) ==
               prefix;
      }));
}
}  // namespace

std::size_t Emulator::request_count(std::string_view path_prefix) const {
  std::lock_guard lock(impl_->mutex);
  return count_matching(impl_->records, path_prefix);
}

std::vector<RecordedRequest> Emulator::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->records;
}

void Emulator::clear_requests() {
  std::lock_guard lock(impl_->mutex);
  impl_->records.clear();
}

bool Emulator::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout,
                                 std::string_view path_prefix) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->requests_changed.wait_for(
      lock, timeout, [&] { return count_matching(impl_->records, path_prefix) >= n; });
}

std::size_t Emulator::open_connections() const { return impl_->open_connections.load(); }

void Emulator::set_secret(std::string name, std::string value) {
  std::lock_guard lock(impl_->mutex);
  impl_->secrets.insert_or_assign(std::move(name), std::move(value));
}

void Emulator::add_route(std::string method, std::string pattern, Handler handler) {
  std::lock_guard lock(impl_->mutex);
  impl_->router.add(std::move(method), pattern, std::move(handler));
}

std::string Emulator::issue_token(std::string_view tenant, std::string_view client_id,
                                  std::string_view resource, std::chrono::seconds lifetime,
                                  std::chrono::seconds not_before_offset) const {
  return impl_->issue_token(tenant, client_id, resource, lifetime, not_before_offset);
}

bool verify_token(const Emulator& emulator, std::string_view jwt, std::string& payload_json) {
  return emulator.impl_->verify_signature(jwt, payload_json);
}

}  // namespace azid_emulator
