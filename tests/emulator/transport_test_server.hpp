// tests/emulator/transport_test_server.hpp: a misbehaving-on-purpose HTTP(S) server and CONNECT
// proxy on 127.0.0.1, plus a throwaway PKI, for exercising HttpsTransport with real sockets.
//
// Test-only. Blocking Asio with one thread per connection keeps each misbehaviour (silence,
// trickling, resets) a few straight lines of code; stop() unblocks everything with shutdown().
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/write.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace azid_test {

struct X509Free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

/// Which server certificate to present.
enum class LeafKind {
  good,         ///< issued by the test CA for IP:127.0.0.1 and DNS:localhost
  wrong_host,   ///< issued by the test CA for DNS:wrong.example only
  expired,      ///< issued by the test CA, validity ended yesterday
  self_signed,  ///< not issued by the CA (signs itself), names 127.0.0.1 and localhost
};

struct Leaf {
  X509Ptr cert;
  PkeyPtr key;
};

/// A CA generated in-process (EC P-256), written to a temporary PEM file for `extra_ca_file`,
/// and able to issue the leaf certificates above. Nothing touches the real trust store.
class TestPki {
 public:
  TestPki() {
    ca_key_ = new_key();
    ca_cert_ = make_cert(ca_key_.get(), nullptr, nullptr, "azid test CA", true, "", -3600, 86400);
    char path[] = "/tmp/azid-test-ca-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    ca_file_ = path;
    FILE* f = std::fopen(path, "w");
    if (f == nullptr || PEM_write_X509(f, ca_cert_.get()) != 1)
      throw std::runtime_error("cannot write CA");
    std::fclose(f);
  }
  ~TestPki() { std::remove(ca_file_.c_str()); }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  [[nodiscard]] const std::string& ca_file() const noexcept { return ca_file_; }

  [[nodiscard]] Leaf make_leaf(LeafKind kind) const {
    Leaf leaf;
    leaf.key = new_key();
    const std::string good_san = "IP:127.0.0.1,DNS:localhost";
    switch (kind) {
      case LeafKind::good:
        leaf.cert = make_cert(leaf.key.get(), ca_cert_.get(), ca_key_.get(), "localhost", false,
                              good_san, -3600, 86400);
        break;
      case LeafKind::wrong_host:
        leaf.cert = make_cert(leaf.key.get(), ca_cert_.get(), ca_key_.get(), "wrong.example", false,
                              "DNS:wrong.example", -3600, 86400);
        break;
      case LeafKind::expired:
        leaf.cert = make_cert(leaf.key.get(), ca_cert_.get(), ca_key_.get(), "localhost", false,
                              good_san, -2 * 86400, -86400);
        break;
      case LeafKind::self_signed:
        leaf.cert =
            make_cert(leaf.key.get(), nullptr, nullptr, "localhost", false, good_san, -3600, 86400);
        break;
    }
    return leaf;
  }

  /// Hex digest of the certificate's DER (the thumbprint Windows shows), upper case.
  [[nodiscard]] static std::string thumbprint(X509* cert, const EVP_MD* md) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(cert, md, digest, &len);
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out.push_back(hex[digest[i] >> 4]);
      out.push_back(hex[digest[i] & 0x0f]);
    }
    return out;
  }

 private:
  static PkeyPtr new_key() {
    PkeyPtr k(EVP_EC_gen("P-256"));
    if (!k) throw std::runtime_error("EC key generation failed");
    return k;
  }

  static void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) throw std::runtime_error("bad extension " + value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  // issuer == nullptr: self-signed with `key`.
  X509Ptr make_cert(EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, const char* cn, bool is_ca,
                    const std::string& san, long not_before, long not_after) const {
    X509Ptr cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial_++);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), not_before);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), not_after);
    X509_set_pubkey(cert.get(), key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                               -1, -1, 0);
    X509* signer = issuer != nullptr ? issuer : cert.get();
    X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
    add_ext(cert.get(), signer, NID_subject_key_identifier, "hash");
    if (is_ca) {
      add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
      add_ext(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
      add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
      add_ext(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
      add_ext(cert.get(), signer, NID_ext_key_usage, "serverAuth");
      if (issuer != nullptr) add_ext(cert.get(), signer, NID_authority_key_identifier, "keyid");
      add_ext(cert.get(), signer, NID_subject_alt_name, san);
    }
    if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0)
      throw std::runtime_error("X509_sign failed");
    return cert;
  }

  PkeyPtr ca_key_;
  X509Ptr ca_cert_;
  std::string ca_file_;
  mutable long serial_ = 1;
};

/// What the server does once it has read a request.
enum class Behavior {
  canned,             ///< 200 with `body` and Content-Length
  chunked,            ///< 200 with `body` in 3-byte chunks
  close_mid_headers,  ///< half a header block, then close
  close_mid_body,     ///< headers announcing more than it sends, part of the body, then a reset
  silent,             ///< accept and say nothing (not even a TLS handshake) until the client leaves
  trickle,            ///< a long response, one byte per `trickle_interval`
  huge_length,        ///< announces a 1 GiB Content-Length and sends a little
  proxy,              ///< CONNECT tunnels to 127.0.0.1 and echoes absolute-form request targets
  to_close,           ///< 200 with `body`, no length: the close ends it (with close_notify on TLS)
  to_close_bare,      ///< the same, closed without close_notify (a bare TCP FIN)
};

struct ServerOptions {
  Behavior behavior = Behavior::canned;
  bool tls = false;
  LeafKind leaf = LeafKind::good;
  std::string body = R"({"access_token":"x","expires_in":3600})";
  /// Send `Connection: close` and close after each response.
  bool close_after_response = false;
  /// Advertise keep-alive but close silently after this many responses on a connection (0: never).
  int quiet_close_after = 0;
  /// Written 20 ms after each response on a kept-alive connection, which then stays open (what
  /// a server that sends a 408 before closing an idle connection does).
  std::string after_response;
  /// Written right behind each canned response, in a TLS record of its own but in the same TCP
  /// segment (TCP_CORK), so a client reading the response also reads these bytes off the socket.
  std::string trailing_record;
  /// Each connection's first response waits this long; a second request on a connection is held
  /// `hold_then_close` and then the connection is closed without an answer (both 0: off).
  std::chrono::milliseconds first_response_delay{0};
  std::chrono::milliseconds hold_then_close{0};
  std::chrono::milliseconds trickle_interval{50};
  /// huge_length only: the Content-Length announced.
  std::string announced_length = "1073741824";
  /// Proxy only: answer CONNECT with 403.
  bool refuse_connect = false;
  /// Proxy only: the first CONNECTs are answered with these, one each, in order (a status line and
  /// headers, or "reset": a TCP reset and no answer); the ones after them are tunnelled.
  std::vector<std::string> connect_answers;
  /// Proxy only: demand this Proxy-Authorization value (407 otherwise); empty: none demanded.
  std::string proxy_authorization;
};

/// An HTTP/1.1 server on 127.0.0.1:<ephemeral>.
class TestServer {
 public:
  TestServer(const TestPki& pki, ServerOptions options)
      : options_(std::move(options)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    if (options_.tls) {
      tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      const Leaf leaf = pki.make_leaf(options_.leaf);
      SSL_CTX_use_certificate(tls_->native_handle(), leaf.cert.get());
      SSL_CTX_use_PrivateKey(tls_->native_handle(), leaf.key.get());
      leaf_sha1_ = TestPki::thumbprint(leaf.cert.get(), EVP_sha1());
      leaf_sha256_ = TestPki::thumbprint(leaf.cert.get(), EVP_sha256());
    }
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~TestServer() { stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  /// `https://127.0.0.1:<port><path>` (or http), or with another host name, e.g. "localhost".
  [[nodiscard]] std::string url(std::string_view path = "/token",
                                std::string_view host = "127.0.0.1") const {
    return std::string(options_.tls ? "https://" : "http://") + std::string(host) + ":" +
           std::to_string(port_) + std::string(path);
  }
  [[nodiscard]] std::size_t connections() const noexcept { return connections_.load(); }
  /// Connections whose session is over and whose socket the server has closed (the client left,
  /// or the behaviour ended it).
  [[nodiscard]] std::size_t sessions_ended() const noexcept { return ended_.load(); }
  [[nodiscard]] std::size_t requests() const noexcept { return requests_.load(); }
  [[nodiscard]] std::size_t tunnels() const noexcept { return tunnels_.load(); }
  /// CONNECT requests the proxy received (answered or not).
  [[nodiscard]] std::size_t connects() const noexcept { return connects_.load(); }
  [[nodiscard]] const std::string& leaf_sha1() const noexcept { return leaf_sha1_; }
  [[nodiscard]] const std::string& leaf_sha256() const noexcept { return leaf_sha256_; }
  [[nodiscard]] std::string last_request_head() const {
    std::lock_guard lock(mutex_);
    return last_head_;
  }

  void stop() {
    if (stopping_.exchange(true)) return;
    {
      // Wake the blocking accept with a connection of our own.
      asio::ip::tcp::socket wake(io_);
      std::error_code ec;
      wake.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    }
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

 private:
  using tcp = asio::ip::tcp;

  // Registers a socket so stop() can unblock it; unregistered before the socket closes so a
  // reused descriptor number is never shut down by mistake.
  struct FdGuard {
    TestServer& s;
    int fd;
    FdGuard(TestServer& server, int d) : s(server), fd(d) {
      std::lock_guard lock(s.mutex_);
      s.open_fds_.insert(fd);
      if (s.stopping_) ::shutdown(fd, SHUT_RDWR);
    }
    ~FdGuard() {
      std::lock_guard lock(s.mutex_);
      s.open_fds_.erase(fd);
    }
  };

  void accept_loop() {
    while (true) {
      tcp::socket socket(io_);
      std::error_code ec;
      acceptor_.accept(socket, ec);
      if (stopping_ || ec) return;
      connections_.fetch_add(1);
      std::lock_guard lock(mutex_);
      threads_.emplace_back([this, s = std::move(socket)]() mutable {
        serve(std::move(s));
        ended_.fetch_add(1);
      });
    }
  }

  void serve(tcp::socket socket) {
    FdGuard guard(*this, socket.native_handle());
    std::error_code ec;
    if (options_.behavior == Behavior::silent) {
      // Read until the client gives up; never answer, not even a TLS ServerHello.
      char c[256];
      while (!ec) socket.read_some(asio::buffer(c), ec);
      return;
    }
    if (options_.tls) {
      asio::ssl::stream<tcp::socket&> stream(socket, *tls_);
      stream.handshake(asio::ssl::stream_base::server, ec);
      if (ec) return;  // the client refused our certificate: expected in several tests
      session(stream, socket);
    } else {
      session(socket, socket);
    }
    // Close with a reset rather than a FIN. The socket itself closes as the parameter is
    // destroyed, after `guard` has unregistered it.
    if (options_.behavior == Behavior::close_mid_body)
      socket.set_option(asio::socket_base::linger(true, 0), ec);
  }

  static std::size_t content_length(std::string_view head) {
    std::string lower(head);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::size_t at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    return static_cast<std::size_t>(std::strtoull(lower.c_str() + at + 17, nullptr, 10));
  }

  template <class Stream>
  static bool write(Stream& s, std::string_view data) {
    std::error_code ec;
    asio::write(s, asio::buffer(data.data(), data.size()), ec);
    return !ec;
  }

  template <class Stream>
  void session(Stream& s, tcp::socket& raw) {
    std::string buf;
    char tmp[4096];
    int served = 0;
    while (!stopping_) {
      std::error_code ec;
      std::size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        const std::size_t n = s.read_some(asio::buffer(tmp), ec);
        if (ec) return;
        buf.append(tmp, n);
      }
      const std::string head = buf.substr(0, end + 4);
      buf.erase(0, end + 4);
      const std::size_t length = content_length(head);
      while (buf.size() < length) {
        const std::size_t n = s.read_some(asio::buffer(tmp), ec);
        if (ec) return;
        buf.append(tmp, n);
      }
      buf.erase(0, length);
      requests_.fetch_add(1);
      {
        std::lock_guard lock(mutex_);
        last_head_ = head;
      }
      ++served;
      if (options_.hold_then_close.count() > 0 && served >= 2) {
        std::this_thread::sleep_for(options_.hold_then_close);
        return;
      }
      if (served == 1 && options_.first_response_delay.count() > 0)
        std::this_thread::sleep_for(options_.first_response_delay);

      const std::string& body = options_.body;
      const std::string connection = options_.close_after_response ? "Connection: close\r\n" : "";
      switch (options_.behavior) {
        case Behavior::canned: {
          const int cork = options_.trailing_record.empty() ? 0 : 1;
          if (cork) ::setsockopt(raw.native_handle(), IPPROTO_TCP, TCP_CORK, &cork, sizeof cork);
          if (!write(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n" + connection + "\r\n" + body))
            return;
          if (cork) {
            if (!write(s, options_.trailing_record)) return;
            const int off = 0;
            ::setsockopt(raw.native_handle(), IPPROTO_TCP, TCP_CORK, &off, sizeof off);
          }
          break;
        }
        case Behavior::chunked: {
          std::string out =
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + connection + "\r\n";
          for (std::size_t i = 0; i < body.size(); i += 3) {
            const std::string piece = body.substr(i, 3);
            out += std::to_string(piece.size()) + ";ext=1\r\n" + piece + "\r\n";
          }
          out += "0\r\nX-Trailer: t\r\n\r\n";
          if (!write(s, out)) return;
          break;
        }
        case Behavior::close_mid_headers:
          write(s, std::string_view("HTTP/1.1 200 OK\r\nContent-Type: applic"));
          return;
        case Behavior::close_mid_body:
          write(s, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size() + 1000) +
                       "\r\n\r\n" + body);
          return;
        case Behavior::trickle: {
          const std::string out =
              "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'x');
          for (char c : out) {
            if (stopping_ || !write(s, std::string_view(&c, 1))) return;
            std::this_thread::sleep_for(options_.trickle_interval);
          }
          return;
        }
        case Behavior::huge_length: {
          if (!write(s, "HTTP/1.1 200 OK\r\nContent-Length: " + options_.announced_length +
                            "\r\n\r\n" + std::string(4096, 'x')))
            return;
          // Keep the connection open; a client that reads on is the bug being tested.
          while (s.read_some(asio::buffer(tmp), ec) > 0 && !ec) {
          }
          return;
        }
        case Behavior::proxy:
          if constexpr (std::is_same_v<Stream, tcp::socket>) {
            proxy(raw, head, buf);
          }
          return;
        case Behavior::to_close:
        case Behavior::to_close_bare:
          if (!write(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + body)) return;
          if constexpr (!std::is_same_v<Stream, tcp::socket>) {
            if (options_.behavior == Behavior::to_close) {
              s.shutdown(ec);  // close_notify (then waits for the client's, or its close)
              return;
            }
          }
          raw.shutdown(tcp::socket::shutdown_both, ec);
          return;
        case Behavior::silent:
          return;
      }
      if (options_.close_after_response) return;
      if (options_.quiet_close_after > 0 && served >= options_.quiet_close_after) return;
      if (!options_.after_response.empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (!write(s, options_.after_response)) return;
      }
    }
  }

  // The proxy side: CONNECT to 127.0.0.1/localhost only (these tests must never reach out),
  // or an absolute-form request answered with its own request line as the body.
  void proxy(tcp::socket& client, const std::string& head, const std::string& early) {
    const std::string line = head.substr(0, head.find("\r\n"));
    if (!options_.proxy_authorization.empty() &&
        head.find("\r\nProxy-Authorization: " + options_.proxy_authorization + "\r\n") ==
            std::string::npos) {
      write(client, std::string_view("HTTP/1.1 407 Proxy Authentication Required\r\n"
                                     "Proxy-Authenticate: Basic realm=\"t\"\r\n"
                                     "Content-Length: 0\r\n\r\n"));
      return;
    }
    if (!line.starts_with("CONNECT ")) {
      const std::string out = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(line.size()) +
                              "\r\nConnection: close\r\n\r\n" + line;
      write(client, out);
      return;
    }
    if (const std::size_t n = connects_.fetch_add(1); n < options_.connect_answers.size()) {
      const std::string& answer = options_.connect_answers[n];
      std::error_code ec;
      if (answer == "reset")
        client.set_option(asio::socket_base::linger(true, 0), ec);  // the close becomes a reset
      else
        write(client, answer);
      return;
    }
    if (options_.refuse_connect) {
      write(client, std::string_view("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"));
      return;
    }
    const std::string authority = line.substr(8, line.find(' ', 8) - 8);
    const std::size_t colon = authority.rfind(':');
    const std::string host = authority.substr(0, colon);
    const auto port = static_cast<std::uint16_t>(std::stoi(authority.substr(colon + 1)));
    if (host != "127.0.0.1" && host != "localhost") {
      write(client, std::string_view("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"));
      return;
    }
    tcp::socket upstream(io_);
    std::error_code ec;
    upstream.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    if (ec) {
      write(client, std::string_view("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"));
      return;
    }
    FdGuard guard(*this, upstream.native_handle());
    tunnels_.fetch_add(1);
    if (!write(client, std::string_view("HTTP/1.1 200 Connection established\r\n\r\n"))) return;
    if (!early.empty() && !write(upstream, early)) return;
    std::thread back([&] { relay(upstream, client); });
    relay(client, upstream);
    back.join();
  }

  static void relay(tcp::socket& from, tcp::socket& to) {
    char buf[8192];
    std::error_code ec;
    while (true) {
      const std::size_t n = from.read_some(asio::buffer(buf), ec);
      if (ec) break;
      asio::write(to, asio::buffer(buf, n), ec);
      if (ec) break;
    }
    // Pass the close on so the other direction ends too.
    ::shutdown(to.native_handle(), SHUT_WR);
    ::shutdown(from.native_handle(), SHUT_RD);
  }

  ServerOptions options_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::string leaf_sha1_;
  std::string leaf_sha256_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> ended_{0};
  std::atomic<std::size_t> requests_{0};
  std::atomic<std::size_t> tunnels_{0};
  std::atomic<std::size_t> connects_{0};
  mutable std::mutex mutex_;  // guards open_fds_, threads_, last_head_
  std::set<int> open_fds_;
  std::vector<std::thread> threads_;
  std::string last_head_;
  std::thread accept_thread_;
};

}  // namespace azid_test
