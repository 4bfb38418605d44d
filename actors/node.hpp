#pragma once

/// `flowgate::node`: the composition root. It opens the store, spawns the
/// node's actors inside the embedder's `caf::actor_system`, bootstraps the
/// tenant registry, and offers a blocking API for tools and simple
/// embedders. Actors that need more than request/response talk to the
/// typed handles directly (`writer()`, `reader()`, `configs()`).
///
/// Start-up: the write connection migrates the schema; the default tenant
/// always exists; when the store has no other tenant, the ids in
/// `FLOWGATE_TENANT_IDS` (node_settings::bootstrap_tenant_ids) are created
/// with an empty config. The destructor stops every actor it spawned.
///
/// An executing node (`node_options::execute`, e.g. `flowgate serve`) also
/// runs an activity pool and a dispatcher: it claims runs, drives them and
/// holds leases under `settings.node_id`. It registers in the store's
/// `nodes` table first (membership): a live registration of the same id
/// refuses the start (`node_id_in_use`), otherwise this process gets the
/// id's next incarnation, which fences every lease it takes. Its heartbeat
/// is written with every lease renewal; `drain()` or the destructor marks
/// it stopped and releases what it still holds (the destructor without a drain: attempts in
/// flight are cut off and other nodes take the runs over at once). A non-executing node
/// (admin tools) only reads and writes the store: the runs it starts are PENDING until an executing
/// node claims them.
///
/// The guard: the node's actors ask each other without timeouts
/// (`local_reply`, actors/node_local.hpp). If one of them (writer, reader,
/// config registry, quota accountant, activity pool, tenant limiters,
/// dispatcher, resume scanner, schedule firer, gateway) terminates while
/// the node runs, the node fails: the error is logged with the actor's
/// name and exit reason, every other actor of the node is killed (the
/// dispatcher takes its orchestrators with it; their leases expire and
/// another node, or this one restarted, takes the runs over) and
/// `on_fatal` is called with that error. The destructor stops them without
/// it.

#include "actors/gateway_client.hpp"
#include "actors/node_local.hpp"
#include "config/billing.hpp"
#include "config/node_settings.hpp"
#include "messages/actor_threads.hpp"
#include "messages/interfaces.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate {

class activity_registry;

/// The id of a node started without one (`node_settings::node_id` empty):
/// `HOSTNAME-PID`.
std::string default_node_id();

/// How a node starts.
struct node_options {
  /// Claim and drive runs (dispatcher + activity pool).
  bool execute = false;
  /// Activities this node can run (the built-ins if null).
  std::shared_ptr<const activity_registry> activities;
  /// Called once if a newer process took this node's id (the node stops
  /// driving runs; `flowgate serve` exits). Runs on an actor's thread.
  std::function<void(const caf::error&)> on_fenced = nullptr;
  /// Called once if the store is found damaged while the node runs (its
  /// writer stops writing) or one of the node's actors terminates while it
  /// runs (the guard above stopped the others); `flowgate serve` exits 1.
  /// Runs on the writer's thread or the terminated actor's.
  std::function<void(const caf::error&)> on_fatal = nullptr;
};

class node : public gateway_client {
public:
  /// Opens the store at `settings.db_path` and starts the node's actors.
  /// Errors: the store's (`schema_too_new`, `store_failure`, ...).
  [[nodiscard]] static caf::expected<std::unique_ptr<node>>
  start(caf::actor_system& sys, node_settings settings, node_options options = {});

  node(const node&) = delete;
  node& operator=(const node&) = delete;
  ~node();

  const node_settings& settings() const { return settings_; }
  /// This process's incarnation of its node id (0 unless executing).
  int64_t incarnation() const { return incarnation_; }
  /// Migrations applied when this node opened the store.
  const std::vector<std::string>& applied_migrations() const { return applied_migrations_; }

  store_writer_actor writer() const { return writer_; }
  store_reader_actor reader() const { return reader_; }
  config_registry_actor configs() const { return configs_; }
  /// Null unless the node executes runs.
  dispatcher_actor dispatcher() const { return dispatcher_; }
  quota_accountant_actor accountant() const { return accountant_; }
  // gateway(): the public protocol (messages/gateway_messages.hpp); every
  // call of the inherited blocking API (gateway_client.hpp) is one request
  // to it.
  activity_pool_actor pool() const { return pool_; }

  // -- blocking API beyond the gateway's (gateway_client.hpp): this process only -----

  /// Normalizes a raw tenant id (blank = the default tenant).
  [[nodiscard]] caf::expected<tenant_id> normalize_tenant(std::string_view raw) const;
  /// The snapshot itself, for embedders in this process (it never crosses
  /// the gateway: a snapshot stays inside the node that loaded it).
  [[nodiscard]] caf::expected<config_snapshot_ptr>
  get_config(std::string_view raw_tenant, const std::string& queue, const std::string& version);

  /// This node's tenant limiters: permits held here, starters parked for
  /// admission, admissions after a wait, deadlines passed, holders that died.
  [[nodiscard]] caf::expected<std::vector<flowgate::limiter_stats>> limiter_stats();

  /// One firing round now (what an executing node does every
  /// `schedule_poll_ms`); the runs started. Null firer on a node that does
  /// not execute: `invalid_argument`.
  [[nodiscard]] caf::expected<int64_t> fire_schedules();
  /// The tenant's quota terms from the accountant (`fresh`: resolved anew).
  [[nodiscard]] caf::expected<quota_terms> quota_terms_of(const tenant_id& tenant, bool fresh);
  /// Stops claiming, lets attempts in flight finish (up to the drain
  /// timeout), releases every lease. Returns the leases released.
  [[nodiscard]] caf::expected<int64_t> drain();

  /// The address this node's door is published at (`HOST:PORT`, the port
  /// the system chose for port 0); empty unless `settings.listen` was set.
  const std::string& listening_at() const { return listening_at_; }

  /// The keyed entrance to this node's gateway (actors/gateway_door.hpp):
  /// what `settings.listen` publishes and the HTTP API calls. Spawned on
  /// first use; call it from the thread that started the node.
  gateway_actor door();

private:
  node(caf::actor_system& sys, node_settings settings);

  [[nodiscard]] caf::error bootstrap_tenants();
  /// Registers this executing process in `nodes` (membership).
  [[nodiscard]] caf::error register_membership();
  /// Publishes the door at `settings_.listen` (TLS) and records the address.
  [[nodiscard]] caf::error publish_door();
  /// Attaches the guard (see above) to every actor spawned so far.
  void guard_actors();

  struct guard_state;

  node_settings settings_;
  int64_t incarnation_ = 0;
  std::vector<std::string> applied_migrations_;
  store_writer_actor writer_;
  store_reader_actor reader_;
  config_registry_actor configs_;
  activity_pool_actor pool_;
  dispatcher_actor dispatcher_;
  quota_accountant_actor accountant_;
  resume_scanner_actor scanner_;
  schedule_firer_actor firer_;
  peer_links_actor peers_;
  tenant_directory_actor limiters_;
  gateway_actor door_;
  std::string listening_at_;
  std::shared_ptr<guard_state> guard_;
};

} // namespace flowgate
