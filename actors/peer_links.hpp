#pragma once

/// `peer_links`: this node's connections to the other nodes' doors: the
/// membership view (`cluster status` shows whether this node reaches each
/// node) and the path for news that must reach another node at once.
///
/// Protocol (messages/interfaces.hpp, `peer_links_actor`):
/// - `poke_atom, node, run, tenant` (the gateway, after it stored a signal
///   or a cancellation for a run whose live lease `node` holds): sends
///   `poke_run_request` (with the node's peer key, for `tenant`) to that
///   node's door, whose dispatcher tells the run's orchestrator to read
///   its inbox now.
/// - `news_atom, cluster_news` (the dispatcher): sends
///   `cluster_news_request` to every live node's door (its dispatcher
///   claims freed tenants' queued runs or handed-back runs now, and
///   answers starters parked for runs this node admitted).
/// - `stats_atom` -> one `peer_link` per live node but this one.
/// - `link_atom, node, address, door, error`: the outcome of a connection
///   attempt (internal), or a hello the gateway took (error empty).
/// - `put_atom, door`: this node's door, once published.
/// - `tick_atom`: its refresh timer.
/// Pokes and news are fire and forget: they carry no data, and a lost one
/// costs only latency (polling and the run's next append are the safety
/// net). One to a node whose connection is being made waits for it (up to
/// 1,000 per node); one to a node that cannot be reached is dropped.
///
/// Membership: every `refresh_ms` the actor reads the `nodes` table. Of
/// two nodes, the one with the smaller id links: it connects over TLS with
/// this node's certificate to each live node with a greater id that
/// publishes an address (`serve --listen`), and sends it a
/// `peer_hello_request` with its own door (`put_atom, door`, from the node
/// once it listens); the other node reaches it through that handle, over
/// the same connection. (CAF 0.17 closes a second connection between two
/// nodes, and with it the first: both sides connecting made links flap.)
/// A connection that failed is tried again after `retry_ms`.
///
/// Liveness: a door is monitored, so a peer whose connection closes (the
/// process died, the host rebooted) is "unreachable" at once and linked
/// again at a later refresh. Every `probe_ms` each linked peer gets a
/// probe (an empty news): a peer that does not answer it within
/// `probe_timeout`, or a poke or news within `timeout` (it hangs with its
/// connection open), shows
/// "unreachable" until it answers one again. (Such periodic traffic used to
/// close healthy links: CAF 0.17's OpenSSL transport left a failed
/// connection's errors queued, and the next read on another connection
/// failed on them; actors/tls_error_queue.cpp clears the queue first.)
/// Connecting blocks in CAF 0.17 (`remote_actor`), so each attempt runs on a short-lived thread of
/// its own: a peer whose packets are dropped delays nothing else.
///
/// If the actor dies, pokes and news are lost and runs progress at their
/// next poll or append.

#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <string>

namespace flowgate {

struct peer_links_setup {
  store_reader_actor reader;
  /// This node's id (never linked to: the gateway tells its own dispatcher).
  std::string node_id;
  /// The API key this node presents at its peers' doors.
  std::string key;
  std::chrono::milliseconds timeout{5'000};
  std::chrono::milliseconds retry_ms{10'000};
  /// How often the `nodes` table is read for peers that came or went.
  std::chrono::milliseconds refresh_ms{2'000};
  /// How often each linked peer is probed, and how long it has to answer.
  std::chrono::milliseconds probe_ms{2'000};
  std::chrono::milliseconds probe_timeout{5'000};
};

peer_links_actor spawn_peer_links(caf::actor_system& sys, peer_links_setup setup);

} // namespace flowgate
