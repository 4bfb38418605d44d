#pragma once

/// `config_registry`: owns the node's cache of immutable pipeline snapshots.
///
/// Protocol (`config_registry_actor`):
/// - `(put, tenant, queue, version, text)` -> `config_stored`: validates the
///   document (errors `invalid_argument`, `malformed_json`,
///   `payload_too_large`, `invalid_config`), then stores it through the
///   store_writer, which enforces immutability inside its transaction
///   (`version_conflict`; the same content again is a no-op) and tenant
///   existence (`unknown_tenant`). Replies after commit.
/// - `(get, tenant, queue, version)` -> `config_snapshot_ptr`: a non-empty
///   version is pinned; an empty one resolves to the queue's active version,
///   else the node default version (if stored). If the tenant has no config
///   at all for the queue, the default tenant's config is used (the
///   snapshot's `tenant` names whose config it is). Unknown versions are an
///   error (`unknown_version`, `unknown_queue`), never a substitute.
///   Snapshots are cached (versions are immutable); misses load through the
///   store_reader.
/// - `(activate, tenant, queue, version)` -> `config_activated`.
/// - `(list, tenant, queue)` -> configs of a tenant (all queues if empty).
/// Every store request has a finite timeout; a store timeout is answered as
/// an error. Runs on the scheduler: it never blocks.

#include "actors/node_local.hpp"
#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <cstddef>
#include <string>

namespace flowgate {

/// Settings of the registry.
struct config_registry_settings {
  /// The tenant whose configs serve tenants without their own.
  std::string default_tenant_id;
  /// Version used when a queue has no active version.
  std::string default_config_version = "1";
  size_t max_document_bytes = size_t{1} << 20;
  /// Snapshots kept in memory; the oldest loaded is dropped first.
  size_t cache_capacity = 1024;
  std::chrono::milliseconds store_timeout{10'000};
};

/// Spawns a config_registry using the given store actors.
config_registry_actor spawn_config_registry(caf::actor_system& sys, store_writer_actor writer,
                                            store_reader_actor reader,
                                            config_registry_settings settings);

} // namespace flowgate
