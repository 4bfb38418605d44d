#pragma once

/// `gateway_door`: what a node publishes for remote clients (`serve
/// --listen`, `flowgate::client`). It speaks the gateway's protocol
/// (messages/interfaces.hpp, `gateway_actor`) and lets a request through
/// only with a valid API key in `scope.key` (config/api_key.hpp):
///
/// - the key is looked up in the store for every request (one read on the
///   node's reader), so a revoked key stops working at once on every node;
///   a missing, malformed, unknown or revoked key, or a wrong secret, is
///   `unauthenticated` with one message for all of them;
/// - an operator key keeps the scope the client asked for;
/// - a tenant key's scope is that tenant, whatever the client asked for: a
///   blank tenant or every tenant means the key's own; another tenant's
///   name is `forbidden`, and so are operator requests (tenant list, db
///   info, quota scan, cluster status, keys). Another tenant's run is then
///   `not_found` like a missing one (the gateway's rule);
/// - the request goes on to the gateway (its runner works on it) and the
///   door answers the client with the result; the gateway itself is never
///   exposed, only this door;
/// - a key may have `max_key_requests` requests in flight at this door
///   (counted from the key check to the answer); one more is refused with
///   `too_many_requests` before it reaches the gateway, so one key's long
///   `run wait`s cannot take every thread of the node.
///
/// The key never travels further than the door: the scope it forwards has
/// no key. The door holds no state but its handles; if it dies, the
/// clients' requests time out (the node's publication goes with it).

#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <string>

namespace flowgate {

struct door_setup {
  gateway_actor gateway;
  store_reader_actor reader;
  /// Normalizes tenant ids the way the gateway does.
  std::string default_tenant_id;
  std::chrono::milliseconds request_timeout{15'000};
  int64_t max_key_requests = 32;
};

gateway_actor spawn_gateway_door(caf::actor_system& sys, door_setup setup);

} // namespace flowgate
