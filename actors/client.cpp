#include "actors/client.hpp"

#include "config/api_key.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/remote_actor.hpp>

#include <charconv>
#include <fstream>

namespace flowgate {

caf::error enable_tls_network(caf::actor_system_config& cfg, const tls_files& files) {
  struct named {
    const char* flag;
    const std::string& path;
  };
  for (const auto& [flag, path] : {named{"--tls-cert", files.certificate},
                                   named{"--tls-key", files.key}, named{"--tls-ca", files.ca}}) {
    if (path.empty()) {
      return make_error(errc::invalid_argument,
                        std::string{"TLS needs a certificate, its key and the cluster's CA: "} +
                          flag + " is not set (see README \"Cluster\")");
    }
    if (!std::ifstream{path}) {
      return make_error(errc::invalid_argument, std::string{flag} + ": cannot read '" + path + "'");
    }
  }
  if (!tls_error_queue_cleared()) {
    // Without it CAF 0.17 closes healthy links after any failed one.
    return make_error(errc::invalid_argument,
                      "this executable does not export flowgate's SSL_read, SSL_write, "
                      "SSL_connect and SSL_accept (actors/tls_error_queue.cpp): link it with "
                      "flowgate::flowgate's interface link options");
  }
  cfg.load<caf::io::middleman>();
  cfg.load<caf::openssl::manager>();
  cfg.set("openssl.certificate", files.certificate);
  cfg.set("openssl.key", files.key);
  cfg.set("openssl.cafile", files.ca);
  return {};
}

bool tls_network_enabled(const caf::actor_system& sys) {
  const auto& cfg = sys.config();
  return sys.has_middleman() && sys.has_openssl_manager() && !cfg.openssl_certificate.empty() &&
         !cfg.openssl_key.empty() && !cfg.openssl_cafile.empty();
}

caf::expected<std::pair<std::string, uint16_t>> parse_address(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_argument, "address '" + text + "': " + why);
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return bad("expected HOST:PORT");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto port_text = std::string_view{text}.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

caf::expected<std::unique_ptr<client>>
client::connect(caf::actor_system& sys, const std::string& host, uint16_t port, std::string key) {
  if (!tls_network_enabled(sys)) {
    return make_error(errc::invalid_argument,
                      "flowgate::client needs TLS: load it with enable_tls_network (a "
                      "certificate, its key and the cluster's CA) before the actor system starts");
  }
  if (auto parsed = parse_api_key(key); !parsed) {
    return parsed.error();
  }
  auto door = caf::openssl::remote_actor<gateway_actor>(sys, host, port);
  if (!door) {
    return make_error(errc::node_unreachable, "cannot connect to flowgate node " + host + ":" +
                                                std::to_string(port) + ": " +
                                                sys.render(door.error()));
  }
  return std::unique_ptr<client>{new client(sys, std::move(*door), std::move(key))};
}

} // namespace flowgate
