#pragma once

/// `gateway`: one per node; the public protocol (messages/gateway_messages.hpp).
///
/// Protocol (messages/interfaces.hpp, `gateway_actor`): every public request
/// (runs, tenants, configs, subscriptions, quota, membership) with the
/// caller's `tenant_scope`, answered with the same types and errors that
/// `flowgate::node`'s blocking API returns (that API, and through it the
/// CLI, sends these requests here). The scope rules are in
/// gateway_messages.hpp; another tenant's run is `not_found` like a missing
/// one.
///
/// Each request is delegated to a request runner of its own, which may
/// block on the store, the config registry, the accountant and the
/// dispatcher (its own thread; on the test coordinator, scheduled like any
/// actor): a slow request (a `wait_run_request` for up to its timeout)
/// never holds up another. The runner answers the caller directly and
/// exits; if it dies, the caller's request times out. Every request the
/// runner makes waits at most `request_timeout`.

#include "actors/node_local.hpp"
#include "config/node_settings.hpp"
#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <chrono>

namespace flowgate {

/// Everything a gateway needs.
struct gateway_setup {
  node_settings settings;
  store_writer_actor writer;
  store_reader_actor reader;
  config_registry_actor configs;
  quota_accountant_actor accountant;
  resume_scanner_actor scanner;
  /// Null on a node that does not execute runs.
  dispatcher_actor dispatcher;
  /// Null without a peer key: signals and cancellations for runs other
  /// nodes hold then reach them at their next append.
  peer_links_actor peers;
  std::chrono::milliseconds request_timeout{15'000};
};

gateway_actor spawn_gateway(caf::actor_system& sys, gateway_setup setup);

} // namespace flowgate
