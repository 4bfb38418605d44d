#include "api/http_server.hpp"

#include "actors/log.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <caf/actor_system.hpp>

#include <optional>

namespace flowgate {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct http_server::core {
  core(caf::actor_system& system, http_server_settings s) : sys(system), settings(std::move(s)) {}

  caf::actor_system& sys;
  http_server_settings settings;
  // Counters and flags first: they outlive the I/O context (members are
  // destroyed in reverse order), whose pending handlers hold sessions.
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> in_flight{0};
  std::atomic<bool> draining{false};
  std::atomic<bool> stopping{false};
  asio::io_context ioc{1};
  std::optional<asio::ssl::context> ssl;
  std::optional<tcp::acceptor> acceptor;
};

namespace {

using core = http_server::core;

http::response<http::string_body> to_beast(const http_response& r, unsigned version,
                                           bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "flowgate");
  if (!r.body.empty()) {
    res.set(http::field::content_type, r.content_type);
  }
  res.set(http::field::cache_control, "no-store");
  for (const auto& [name, value] : r.headers) {
    res.set(name, value);
  }
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

/// One connection: reads requests one at a time, has each answered off
/// the I/O thread, writes the answer back, and closes on error, timeout,
/// `Connection: close` or a stopping server.
template <class Stream> class session : public std::enable_shared_from_this<session<Stream>> {
public:
  session(core& c, Stream stream) : core_(c), stream_(std::move(stream)) { ++core_.connections; }
  ~session() { --core_.connections; }

  void start() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      read();
    } else {
      beast::get_lowest_layer(stream_).expires_after(core_.settings.read_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (!ec) {
                                  self->read();
                                }
                              });
    }
  }

private:
  void read() {
    if (core_.stopping) {
      close();
      return;
    }
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    parser_->body_limit(static_cast<uint64_t>(core_.settings.max_body_bytes));
    // The idle timeout until a request starts, then the read timeout for
    // all of it (a trickling client is cut off).
    beast::get_lowest_layer(stream_).expires_after(first_ ? core_.settings.read_timeout
                                                          : core_.settings.idle_timeout);
    first_ = false;
    http::async_read_header(
      stream_, buffer_, *parser_,
      [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) {
      on_read(ec);
      return;
    }
    beast::get_lowest_layer(stream_).expires_after(core_.settings.read_timeout);
    http::async_read(
      stream_, buffer_, *parser_,
      [self = this->shared_from_this()](beast::error_code e, size_t) { self->on_read(e); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      reply(error_response(413, errc::payload_too_large,
                           "the request body exceeds " +
                             std::to_string(core_.settings.max_body_bytes) + " bytes"),
            11, false);
      return;
    }
    if (ec == http::error::header_limit) {
      reply(error_response(431, errc::invalid_argument, "the request header exceeds 16384 bytes"),
            11, false);
      return;
    }
    if (ec) {
      // End of stream, a timeout, a reset, or bytes that are not HTTP: the
      // connection ends (a malformed request gets a 400 first).
      if (ec.category() == beast::error_code{http::error::bad_target}.category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message) {
        reply(
          error_response(400, errc::invalid_argument, "malformed HTTP request: " + ec.message()),
          11, false);
        return;
      }
      close();
      return;
    }
    auto req = parser_->release();
    auto version = req.version();
    bool keep = req.keep_alive();
    if (core_.draining || core_.stopping) {
      reply(error_response(503, errc::shutting_down, "the node is stopping"), version, false);
      return;
    }
    if (++core_.in_flight > core_.settings.max_in_flight) {
      --core_.in_flight;
      reply(error_response(503, errc::too_many_requests,
                           "the node answers " + std::to_string(core_.settings.max_in_flight) +
                             " requests at once; retry"),
            version, keep);
      return;
    }
    http_request r;
    r.method = std::string{req.method_string()};
    r.target = std::string{req.target()};
    r.authorization = std::string{req[http::field::authorization]};
    r.idempotency_key = std::string{req["Idempotency-Key"]};
    r.body = std::move(req.body());
    // No timeout while it is answered (a wait is bounded by the API).
    beast::get_lowest_layer(stream_).expires_never();
    std::thread{[self = this->shared_from_this(), r = std::move(r), version, keep]() mutable {
      auto& c = self->core_;
      auto answer = handle_request(c.sys, c.settings.api, r, c.stopping);
      auto exec = self->stream_.get_executor();
      // The session travels into the handler: this thread holds nothing
      // of it once in_flight drops (the server's destructor waits for it).
      asio::post(exec, [self = std::move(self), answer = std::move(answer), version, keep] {
        self->reply(answer, version, keep);
      });
      --c.in_flight;
    }}.detach();
  }

  void reply(const http_response& r, unsigned version, bool keep) {
    keep = keep && !core_.draining && !core_.stopping;
    res_ = to_beast(r, version, keep);
    beast::get_lowest_layer(stream_).expires_after(core_.settings.read_timeout);
    http::async_write(stream_, res_,
                      [self = this->shared_from_this(), keep](beast::error_code ec, size_t) {
                        if (ec || !keep) {
                          self->close();
                        } else {
                          self->read();
                        }
                      });
  }

  void close() {
    beast::error_code ignored;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    } else {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds{2});
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
    }
  }

  core& core_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  bool first_ = true;
};

void accept(core& c) {
  c.acceptor->async_accept(asio::make_strand(c.ioc), [&c](beast::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || c.stopping) {
      return;
    }
    if (!ec) {
      if (c.connections >= c.settings.max_connections) {
        beast::error_code ignored;
        s.close(ignored); // over the limit: closed at once
      } else if (c.ssl) {
        std::make_shared<session<beast::ssl_stream<beast::tcp_stream>>>(
          c, beast::ssl_stream<beast::tcp_stream>{beast::tcp_stream{std::move(s)}, *c.ssl})
          ->start();
      } else {
        std::make_shared<session<beast::tcp_stream>>(c, beast::tcp_stream{std::move(s)})->start();
      }
    }
    accept(c);
  });
}

} // namespace

caf::expected<std::unique_ptr<http_server>> http_server::start(caf::actor_system& sys,
                                                               http_server_settings settings) {
  auto fail = [&](const std::string& why) {
    return make_error(errc::invalid_argument, "HTTP API on " + settings.address + ": " + why);
  };
  auto colon = settings.address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return fail("the address must be HOST:PORT");
  }
  auto host = settings.address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto port_text = settings.address.substr(colon + 1);
  unsigned long port = 0;
  try {
    size_t used = 0;
    port = std::stoul(port_text, &used);
    if (used != port_text.size() || port > 65535) {
      return fail("the port must be 0 to 65535");
    }
  } catch (const std::exception&) {
    return fail("the port must be 0 to 65535");
  }
  bool tls = !settings.tls_certificate.empty() || !settings.tls_key.empty();
  if (tls && (settings.tls_certificate.empty() || settings.tls_key.empty())) {
    return fail("HTTPS needs both a certificate and its key");
  }
  std::unique_ptr<http_server> out{new http_server};
  out->core_ = std::make_unique<core>(sys, std::move(settings));
  auto& c = *out->core_;
  beast::error_code ec;
  tcp::resolver resolver{c.ioc};
  auto found = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || found.empty()) {
    return fail("cannot resolve '" + host + "': " + ec.message());
  }
  auto endpoint = found.begin()->endpoint();
  if (!tls && !endpoint.address().is_loopback()) {
    return fail("a plain-text API binds to a loopback address only (API keys would cross the "
                "network in clear); give a certificate and key for HTTPS (--tls-cert, "
                "--tls-key)");
  }
  if (tls) {
    c.ssl.emplace(asio::ssl::context::tls_server);
    c.ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
    c.ssl->use_certificate_chain_file(c.settings.tls_certificate, ec);
    if (ec) {
      return fail("cannot load the certificate " + c.settings.tls_certificate + ": " +
                  ec.message());
    }
    c.ssl->use_private_key_file(c.settings.tls_key, asio::ssl::context::pem, ec);
    if (ec) {
      return fail("cannot load the key " + c.settings.tls_key + ": " + ec.message());
    }
  }
  c.acceptor.emplace(c.ioc);
  if (c.acceptor->open(endpoint.protocol(), ec) ||
      c.acceptor->set_option(asio::socket_base::reuse_address(true), ec) ||
      c.acceptor->bind(endpoint, ec) ||
      c.acceptor->listen(asio::socket_base::max_listen_connections, ec)) {
    return fail("cannot listen: " + ec.message());
  }
  auto bound = c.acceptor->local_endpoint();
  auto shown = bound.address().to_string();
  if (bound.address().is_v6()) {
    shown = "[" + shown + "]";
  }
  out->address_ = shown + ":" + std::to_string(bound.port());
  out->tls_ = tls;
  accept(c);
  out->io_thread_ = std::thread{[&c] { c.ioc.run(); }};
  log_line("info", tls ? "HTTP API listening (HTTPS)" : "HTTP API listening (loopback, plain HTTP)",
           {{"address", out->address_}});
  return out;
}

void http_server::drain() {
  core_->draining = true;
}

http_server::~http_server() {
  if (!core_) {
    return;
  }
  auto& c = *core_;
  c.draining = true;
  c.stopping = true;
  asio::post(c.ioc, [&c] {
    beast::error_code ignored;
    c.acceptor->close(ignored);
  });
  // Requests being answered finish first (each is bounded by the API's
  // request timeout; waits end at `stopping`), so that no thread uses the
  // actor system or this server after it is gone.
  // (A resume makes two gateway requests.)
  auto deadline = std::chrono::steady_clock::now() +
                  2 * std::chrono::milliseconds{c.settings.api.request_timeout_ms} +
                  std::chrono::seconds{5};
  while (c.in_flight > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  if (c.in_flight > 0) {
    // Never reached with the API's bounds; if it were, a thread would
    // still use the server: it is left allocated rather than freed under it.
    log_line("error", "HTTP API stopped with requests still being answered",
             {{"in_flight", std::to_string(c.in_flight.load())}});
    c.ioc.stop();
    io_thread_.join();
    (void)core_.release();
    return;
  }
  // Let the last answers go out, then stop.
  std::this_thread::sleep_for(std::chrono::milliseconds{20});
  c.ioc.stop();
  if (io_thread_.joinable()) {
    io_thread_.join();
  }
}

} // namespace flowgate
