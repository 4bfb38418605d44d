#pragma once

/// `flowgate::client`: the public API of a remote node, for programs that
/// have no database access (an application host). It connects from the
/// embedder's own `caf::actor_system` to the door a node publishes (`serve
/// --listen`, actors/gateway_door.hpp) over TLS, and sends every request
/// with its API key (config/api_key.hpp). Its calls are gateway_client's:
/// the same answers and errors as `flowgate::node`'s, plus
/// `unauthenticated` and `forbidden` from the door.
///
/// The actor system must have flowgate's message types (`register_types`)
/// and TLS networking (`enable_tls_network` below, before the system
/// starts): a certificate, its key and the cluster's CA. The node refuses
/// a client whose certificate its CA did not sign, and the client refuses
/// a node likewise. Without all three `connect` refuses to start, rather
/// than fall back to CAF's unauthenticated encryption.
///
/// A lost connection fails the calls made meanwhile with their timeout;
/// connect again to continue.

#include "actors/gateway_client.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace flowgate {

class client : public gateway_client {
public:
  /// Connects to `host:port`. Errors: `invalid_argument` (TLS not set up
  /// in `sys`, a malformed key), `node_unreachable` (nothing listens there,
  /// or the TLS handshake failed: a certificate the other side's CA did not
  /// sign). The key itself is checked by the first request.
  [[nodiscard]] static caf::expected<std::unique_ptr<client>>
  connect(caf::actor_system& sys, const std::string& host, uint16_t port, std::string key);

private:
  client(caf::actor_system& sys, gateway_actor door, std::string key)
      : gateway_client(sys, std::move(door), std::move(key)) {}
};

/// PEM files for TLS between nodes and clients.
struct tls_files {
  std::string certificate;
  std::string key;
  /// The cluster's CA: peers must present a certificate it signed.
  std::string ca;
};

/// TLS and the OpenSSL error queue: CAF 0.17 leaves OpenSSL errors of a
/// failed connection queued on its middleman thread, and OpenSSL then
/// reports the next healthy connection's "nothing to read yet" on that
/// thread as a failure, so CAF closed links between nodes after a client
/// came and went. flowgate's SSL_read, SSL_write, SSL_connect and
/// SSL_accept (actors/tls_error_queue.cpp, exported from the executable)
/// clear the queue first and call libssl's. True once they are linked.
bool tls_error_queue_cleared();

/// Loads CAF's middleman and OpenSSL manager into `cfg` with `files`.
/// Errors: `invalid_argument` naming a missing setting or an unreadable file.
[[nodiscard]] caf::error enable_tls_network(caf::actor_system_config& cfg, const tls_files& files);

/// Whether `sys` was started with `enable_tls_network`'s parts: the
/// middleman, the OpenSSL manager, a certificate, its key and a CA. Nothing
/// listens or connects without them (CAF would fall back to anonymous TLS).
bool tls_network_enabled(const caf::actor_system& sys);

/// Splits `HOST:PORT` (`[V6]:PORT` too). Errors: `invalid_argument`.
[[nodiscard]] caf::expected<std::pair<std::string, uint16_t>>
parse_address(const std::string& text);

} // namespace flowgate
