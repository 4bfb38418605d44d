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

#include "actors/node_local.hpp"
#include "config/billing.hpp"
#include "config/node_settings.hpp"
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
  /// writer stops writing; `flowgate serve` exits 1). Runs on the writer's
  /// thread.
  std::function<void(const caf::error&)> on_fatal = nullptr;
};

class node {
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
  /// The public protocol (messages/gateway_messages.hpp): every call of the
  /// blocking API below is one request to it.
  gateway_actor gateway() const { return gateway_; }
  activity_pool_actor pool() const { return pool_; }

  // -- blocking API (each call waits at most `request_timeout`) --------------------

  /// Normalizes a raw tenant id (blank = the default tenant).
  [[nodiscard]] caf::expected<tenant_id> normalize_tenant(std::string_view raw) const;

  /// Creates or replaces a tenant from its JSON config (FORMATS.md).
  [[nodiscard]] caf::expected<tenant_record> put_tenant(std::string_view raw_id,
                                                        std::string_view config_json);
  [[nodiscard]] caf::expected<tenant_record> get_tenant(std::string_view raw_id);
  [[nodiscard]] caf::expected<std::vector<tenant_record>> list_tenants();

  [[nodiscard]] caf::expected<config_stored> put_config(std::string_view raw_tenant,
                                                        const std::string& queue,
                                                        const std::string& version,
                                                        std::string text);
  /// Resolves and loads a snapshot (empty version = the runnable one).
  [[nodiscard]] caf::expected<config_view>
  view_config(std::string_view raw_tenant, const std::string& queue, const std::string& version);
  /// The snapshot itself, for embedders in this process (it never crosses
  /// the gateway: a snapshot stays inside the node that loaded it).
  [[nodiscard]] caf::expected<config_snapshot_ptr>
  get_config(std::string_view raw_tenant, const std::string& queue, const std::string& version);
  [[nodiscard]] caf::expected<config_activated> activate_config(std::string_view raw_tenant,
                                                                const std::string& queue,
                                                                const std::string& version);
  [[nodiscard]] caf::expected<std::vector<config_summary>> list_configs(std::string_view raw_tenant,
                                                                        const std::string& queue);

  [[nodiscard]] caf::expected<schema_info> db_info();

  // -- runs ------------------------------------------------------------------------
  // A blank tenant means the default tenant everywhere. Calls on existing
  // runs take a `tenant_scope`: a tenant (which must own the run, else the
  // run is reported exactly like a missing one) or, explicitly,
  // `tenant_scope::all_tenants()` for operators.

  /// Starts a run of (tenant, queue) pinned to `version` (empty: the
  /// resolved version). `input_json`: any JSON value. With an
  /// idempotency key that was used before, returns that run. On an
  /// executing node a run queued at its tenant's concurrency limit is
  /// answered when it is admitted or at the tenant's admission deadline
  /// (then still PENDING and queued); in reject mode the start fails.
  /// Errors: `unknown_tenant`, `unknown_queue`/`unknown_version`,
  /// `malformed_json`, `payload_too_large`, `invalid_argument`,
  /// `tenant_at_limit`, `quota_exceeded`.
  [[nodiscard]] caf::expected<run_created>
  start_run(std::string_view raw_tenant, const std::string& queue, const std::string& input_json,
            const std::string& version = {}, const std::string& idempotency_key = {});
  /// Delivers event `event` with a JSON payload. Errors: `not_found`,
  /// `run_finished`, `malformed_json`, `invalid_argument`.
  [[nodiscard]] caf::expected<signal_accepted> signal_run(const tenant_scope& scope, int64_t run,
                                                          const std::string& event,
                                                          const std::string& payload_json);
  /// Cancels a run (at once, or at its next step boundary if a node drives it).
  [[nodiscard]] caf::expected<cancel_outcome> cancel_run(const tenant_scope& scope, int64_t run,
                                                         const std::string& reason);
  [[nodiscard]] caf::expected<run_record> get_run(const tenant_scope& scope, int64_t run);
  /// Runs ordered by id after `after_run`, of one status or any (none).
  [[nodiscard]] caf::expected<std::vector<run_record>> list_runs(const tenant_scope& scope,
                                                                 caf::optional<run_status> status,
                                                                 int64_t after_run, int32_t limit);
  [[nodiscard]] caf::expected<std::vector<history_record>> run_history(const tenant_scope& scope,
                                                                       int64_t run);
  /// Polls the store until the run is finished (or WAITING, if
  /// `stop_at_waiting`), or `timeout` passed (then `deadline_exceeded`).
  [[nodiscard]] caf::expected<run_record> wait_for_run(const tenant_scope& scope, int64_t run,
                                                       std::chrono::milliseconds timeout,
                                                       bool stop_at_waiting = true);
  // -- billing ---------------------------------------------------------------------

  /// Stores a subscription document (FORMATS.md) for a tenant.
  [[nodiscard]] caf::expected<subscription_record> put_subscription(std::string_view raw_tenant,
                                                                    std::string_view text);
  [[nodiscard]] caf::expected<std::vector<subscription_record>>
  list_subscriptions(std::string_view raw_tenant);
  /// The period, limit (with their sources) and usage in force now.
  [[nodiscard]] caf::expected<quota_summary> summarize_quota(std::string_view raw_tenant);
  /// An operator's resume of a run paused on quota. The tenant must own the
  /// run (else `not_found`) and the run must wait on quota (else
  /// `invalid_argument`). Without quota left the outcome is not resumed and
  /// carries used, limit and period.
  [[nodiscard]] caf::expected<resume_outcome> resume_run(std::string_view raw_tenant, int64_t run);
  /// This node's tenant limiters: permits held here, starters parked for
  /// admission, admissions after a wait, deadlines passed, holders that died.
  [[nodiscard]] caf::expected<std::vector<flowgate::limiter_stats>> limiter_stats();
  /// One resume scan now (what the periodic scanner does); the runs resumed.
  [[nodiscard]] caf::expected<int64_t> scan_quota_waits();

  // -- schedules (FORMATS.md "Schedule") -------------------------------------------

  /// Creates or replaces schedule `id` of the tenant from its document.
  /// Errors: `invalid_argument` (id), `invalid_config`, `malformed_json`,
  /// `unknown_tenant`, `unknown_queue`, `unknown_version`.
  [[nodiscard]] caf::expected<schedule_view>
  put_schedule(std::string_view raw_tenant, const std::string& id, std::string_view text);
  /// One schedule with its next fire times. Errors: `not_found`.
  [[nodiscard]] caf::expected<schedule_view> get_schedule(std::string_view raw_tenant,
                                                          const std::string& id);
  [[nodiscard]] caf::expected<std::vector<schedule_view>>
  list_schedules(std::string_view raw_tenant);
  /// Removes a schedule (its runs stay). Errors: `not_found`.
  [[nodiscard]] caf::expected<int64_t> delete_schedule(std::string_view raw_tenant,
                                                       const std::string& id);
  /// Pauses or resumes a schedule. Errors: `not_found`.
  [[nodiscard]] caf::expected<schedule_view> pause_schedule(std::string_view raw_tenant,
                                                            const std::string& id, bool paused);
  /// One firing round now (what an executing node does every
  /// `schedule_poll_ms`); the runs started. Null firer on a node that does
  /// not execute: `invalid_argument`.
  [[nodiscard]] caf::expected<int64_t> fire_schedules();
  /// Usage counter vs ledger of the period starting at `period_start_ms`
  /// (0 = the current period). Errors: `not_found` for an unknown period.
  [[nodiscard]] caf::expected<usage_reconciliation> reconcile_quota(std::string_view raw_tenant,
                                                                    int64_t period_start_ms = 0);
  /// The tenant's quota terms from the accountant (`fresh`: resolved anew).
  [[nodiscard]] caf::expected<quota_terms> quota_terms_of(const tenant_id& tenant, bool fresh);

  /// Admission limits, usage and refusals per tenant (blank = all tenants).
  [[nodiscard]] caf::expected<std::vector<flowgate::tenant_stats>>
  tenant_stats(std::string_view raw_tenant);
  /// Replays a stored history against its pinned pipeline and this engine.
  /// A run outside `scope` is `not_found`, like a missing one.
  [[nodiscard]] caf::expected<replay_report> replay(const tenant_scope& scope, int64_t run);
  /// Every registered serving node: live or not, incarnation, heartbeat,
  /// runs held (`flowgate cluster status`).
  [[nodiscard]] caf::expected<std::vector<node_record>> list_nodes();
  /// Verifies the stored invariants (persistence/store_check.hpp) of one
  /// tenant, or of every tenant with `tenant_scope::all_tenants()`; waits
  /// up to an hour (it reads the whole database).
  [[nodiscard]] caf::expected<check_report> check(const tenant_scope& scope,
                                                  int32_t max_findings = 1000);
  /// Stops claiming, lets attempts in flight finish (up to the drain
  /// timeout), releases every lease. Returns the leases released.
  [[nodiscard]] caf::expected<int64_t> drain();

  std::chrono::milliseconds request_timeout{15'000};

private:
  node(caf::actor_system& sys, node_settings settings);

  [[nodiscard]] caf::error bootstrap_tenants();
  /// Registers this executing process in `nodes` (membership).
  [[nodiscard]] caf::error register_membership();

  caf::actor_system& sys_;
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
  tenant_directory_actor limiters_;
  gateway_actor gateway_;
};

} // namespace flowgate
