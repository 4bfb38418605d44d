#pragma once

/// The store interface: what the store actors need from a database backend.
/// SQLite (persistence/sqlite_store.hpp) and PostgreSQL
/// (persistence/pg_store.hpp) implement it with the same sessions
/// (persistence/sql_sessions.hpp).
///
/// Ordering and durability invariant: a `write_session` is used by exactly
/// one actor (the process's `store_writer`). Operations applied between
/// `begin` and `commit` become durable together at `commit`; nobody is told
/// an operation succeeded before that. Each operation runs inside its own
/// savepoint, so a failed operation leaves no trace and fails alone.
/// Conditional operations (version immutability, quota `used < limit`)
/// decide inside the transaction, so they stay exact across processes.

#include "messages/check_messages.hpp"
#include "messages/run_messages.hpp"
#include "messages/schedule_messages.hpp"
#include "messages/store_messages.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <memory>
#include <optional>
#include <vector>

namespace flowgate {

/// The write side of a store. Not thread-safe: one owner.
class write_session {
public:
  virtual ~write_session() = default;

  // -- transaction control ------------------------------------------------------

  /// Opens a write transaction (takes the write lock). Errors: `store_busy`.
  [[nodiscard]] virtual caf::error begin() = 0;
  /// The store's own clock, read by `begin`, if it has one (PostgreSQL:
  /// every node's times then come from one clock, so clock skew between
  /// hosts cannot shorten or lengthen a lease); nullopt: the caller's.
  virtual std::optional<int64_t> clock_ms() const { return std::nullopt; }
  /// Round trips to a database server so far (0: an embedded store).
  virtual int64_t round_trips() const { return 0; }
  /// Statements sent to a database server so far (0: an embedded store).
  virtual int64_t statements() const { return 0; }
  /// Waits for what was sent without waiting (PostgreSQL's pipeline);
  /// the first error of it. Nothing for an embedded store.
  [[nodiscard]] virtual caf::error flush() { return {}; }
  [[nodiscard]] virtual caf::error commit() = 0;
  virtual void rollback() = 0;

  /// Marks the start of one operation inside the transaction.
  [[nodiscard]] virtual caf::error savepoint() = 0;
  /// Keeps the operation's writes.
  [[nodiscard]] virtual caf::error release_savepoint() = 0;
  /// Undoes the operation's writes (the transaction stays open).
  virtual void rollback_to_savepoint() = 0;

  // -- operations (see messages/store_messages.hpp) -------------------------------------
  [[nodiscard]] virtual caf::expected<tenant_record> apply(const store_tenant& op) = 0;
  [[nodiscard]] virtual caf::expected<int64_t> apply(const seed_tenants& op) = 0;
  [[nodiscard]] virtual caf::expected<config_stored> apply(const store_config& op) = 0;
  [[nodiscard]] virtual caf::expected<config_activated> apply(const activate_config& op) = 0;
  [[nodiscard]] virtual caf::expected<step_reservation> apply(const reserve_step& op) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<step_reservation>>
  apply(const reserve_steps& op) = 0;
  [[nodiscard]] virtual caf::expected<int64_t> apply(const resume_quota_waits& op) = 0;
  [[nodiscard]] virtual caf::expected<resume_outcome> apply(const resume_run& op) = 0;

  // -- runs, history and leases (messages/run_messages.hpp) -----------------------------
  [[nodiscard]] virtual caf::expected<run_created> apply(const create_run& op) = 0;
  [[nodiscard]] virtual caf::expected<runs_claimed> apply(const claim_runs& op) = 0;
  [[nodiscard]] virtual caf::expected<int64_t> apply(const register_node& op) = 0;
  [[nodiscard]] virtual caf::expected<int64_t> apply(const publish_node& op) = 0;
  [[nodiscard]] virtual caf::expected<int64_t> apply(const stop_node& op) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<run_id>> apply(const renew_leases& op) = 0;
  [[nodiscard]] virtual caf::expected<int64_t> apply(const release_leases& op) = 0;
  [[nodiscard]] virtual caf::expected<history_appended> apply(const append_history& op) = 0;
  [[nodiscard]] virtual caf::expected<signal_accepted> apply(const signal_run& op) = 0;
  [[nodiscard]] virtual caf::expected<cancel_outcome> apply(const cancel_run& op) = 0;
  [[nodiscard]] virtual caf::expected<subscription_record> apply(const store_subscription& op) = 0;

  // -- schedules (messages/schedule_messages.hpp) ----------------------------------------
  [[nodiscard]] virtual caf::expected<schedule_record> apply(const store_schedule& op) = 0;
  [[nodiscard]] virtual caf::expected<int64_t> apply(const delete_schedule& op) = 0;
  [[nodiscard]] virtual caf::expected<schedule_record> apply(const pause_schedule& op) = 0;
  [[nodiscard]] virtual caf::expected<schedule_fired> apply(const fire_schedule& op) = 0;

  // -- API keys -------------------------------------------------------------------------
  [[nodiscard]] virtual caf::expected<api_key_record> apply(const store_api_key& op) = 0;
  [[nodiscard]] virtual caf::expected<api_key_record> apply(const revoke_api_key& op) = 0;
};

/// The read side of a store: its own connection, never blocked by the writer.
class read_session {
public:
  virtual ~read_session() = default;

  [[nodiscard]] virtual caf::expected<tenant_record> apply(const find_tenant& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<tenant_record>> apply(const list_tenants& q) = 0;
  [[nodiscard]] virtual caf::expected<config_document> apply(const find_config& q) = 0;
  [[nodiscard]] virtual caf::expected<config_version> apply(const find_runnable_version& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<config_summary>> apply(const list_configs& q) = 0;
  [[nodiscard]] virtual caf::expected<schema_info> apply(const read_schema_info& q) = 0;
  [[nodiscard]] virtual caf::expected<run_record> apply(const find_run& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<run_record>> apply(const find_runs& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<run_record>> apply(const list_runs& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<history_record>> apply(const load_history& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<attempt_record>>
  apply(const load_attempts& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<tenant_stats>>
  apply(const read_tenant_stats& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<subscription_record>>
  apply(const list_subscriptions& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<schedule_record>>
  apply(const list_schedules& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<schedule_record>>
  apply(const due_schedules& q) = 0;
  [[nodiscard]] virtual caf::expected<int64_t> apply(const find_usage& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<tenant_id>>
  apply(const list_quota_tenants& q) = 0;
  [[nodiscard]] virtual caf::expected<usage_reconciliation> apply(const reconcile_usage& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<node_record>> apply(const list_nodes& q) = 0;
  [[nodiscard]] virtual caf::expected<check_report> apply(const check_database& q) = 0;
  [[nodiscard]] virtual caf::expected<api_key_record> apply(const find_api_key& q) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<api_key_record>>
  apply(const list_api_keys& q) = 0;
};

} // namespace flowgate
