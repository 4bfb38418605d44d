#pragma once

/// `http_server`: the HTTP/JSON API (api/http_api.hpp) on a socket, for
/// `flowgate serve --http HOST:PORT` and embedders.
///
/// - One I/O thread (Boost.Asio/Beast) accepts and reads; each complete
///   request is answered on a thread of its own (the gateway call blocks),
///   and the response is written back on the I/O thread. No request holds
///   the I/O thread.
/// - Limits: a request's header 16 KiB, its body `max_body_bytes` (413
///   beyond); a client has `read_timeout` to send a whole request and to
///   read the response, and `idle_timeout` between requests on a kept-alive
///   connection (then it is closed): a slow client holds a socket, never a
///   thread. At most `max_connections` connections (more are closed at
///   once) and `max_in_flight` requests being answered (more get 503 with
///   Retry-After).
/// - TLS: with a certificate and key it serves HTTPS only. Without them it
///   binds to a loopback address only: a plain-text API on a reachable
///   address is refused at start (keys would cross the network in clear).
/// - `drain()`: every request from then on is answered 503
///   `shutting_down` (a load balancer moves away), and waits in progress
///   end with 503. The destructor stops accepting, ends waits, lets the
///   requests being answered finish (each is bounded by the API's request
///   timeout), closes every connection and joins the I/O thread.

#include "api/http_api.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace flowgate {

struct http_server_settings {
  /// HOST:PORT to bind (port 0 picks a free one).
  std::string address = "127.0.0.1:0";
  /// PEM files for HTTPS; both or neither.
  std::string tls_certificate;
  std::string tls_key;
  int64_t max_body_bytes = (int64_t{1} << 20) + 64 * 1024;
  int64_t max_connections = 512;
  int64_t max_in_flight = 128;
  std::chrono::milliseconds read_timeout{15'000};
  std::chrono::milliseconds idle_timeout{60'000};
  http_api_setup api;
};

class http_server {
public:
  /// Binds and starts serving. Errors: `invalid_argument` (a malformed
  /// address, a non-loopback address without TLS, a certificate or key
  /// that cannot be loaded, an address that cannot be bound).
  [[nodiscard]] static caf::expected<std::unique_ptr<http_server>>
  start(caf::actor_system& sys, http_server_settings settings);

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;
  ~http_server();

  /// The bound address, `HOST:PORT` with the port chosen for port 0.
  const std::string& address() const { return address_; }
  bool tls() const { return tls_; }

  /// Answers every request from now on with 503 (the node is stopping).
  void drain();

  struct core;

private:
  http_server() = default;

  std::unique_ptr<core> core_;
  std::thread io_thread_;
  std::string address_;
  bool tls_ = false;
};

} // namespace flowgate
