#pragma once

/// `peer_links`: this node's connections to the other nodes' doors, for
/// news that must reach the node holding a run's lease at once.
///
/// Protocol (messages/interfaces.hpp, `peer_links_actor`):
/// - `poke_atom, node, run, tenant` (the gateway, after it stored a signal
///   or a cancellation for a run whose live lease `node` holds): sends
///   `poke_run_request` (with the node's peer key, for `tenant`) to that
///   node's door, whose dispatcher tells the run's orchestrator to read
///   its inbox now. Fire and forget: a poke carries no data, and a lost one
///   costs only latency (the holder reads its inbox at its next append).
///
/// Connections: the first poke to a node reads its address from the
/// `nodes` table (`serve --listen` publishes it), connects over TLS with
/// this node's certificate (the peer's CA check is the same as for
/// clients) and keeps the door's handle; the door is monitored and a lost
/// connection is dropped and made again on the next poke. A node without an
/// address, or one that cannot be reached, is not tried again for
/// `retry_ms`: its pokes are dropped meanwhile (the poll is the safety net).
///
/// Connecting blocks (CAF 0.17's `remote_actor`): the actor runs on a
/// thread of its own, so only later pokes wait, never the gateway. If it
/// dies, pokes are lost and runs progress at their next append.

#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <string>

namespace flowgate {

struct peer_links_setup {
  store_reader_actor reader;
  /// This node's id (never poked: the gateway tells its own dispatcher).
  std::string node_id;
  /// The API key this node presents at its peers' doors.
  std::string key;
  std::chrono::milliseconds timeout{5'000};
  std::chrono::milliseconds retry_ms{10'000};
};

peer_links_actor spawn_peer_links(caf::actor_system& sys, peer_links_setup setup);

} // namespace flowgate
