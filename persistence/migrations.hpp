#pragma once

/// Numbered schema migrations, applied on open and recorded in the
/// `schema_migrations` table (version, name, applied_at_ms). A database
/// whose recorded version is newer than this binary knows is refused with
/// `errc::schema_too_new`: an old binary must never write a newer schema.
///
/// Tables (ARCHITECTURE.md §4); every tenant-scoped table has `tenant_id`:
/// - tenants(tenant_id PK, name, tier, config_json, created/updated)
/// - pipeline_configs(tenant_id, queue, version PK; checksum, pipeline_name,
///   document, created) — immutable rows
/// - active_configs(tenant_id, queue PK; version) — the queue's active version
/// - runs(run_id PK; tenant_id, queue, pinned config_tenant_id (whose config:
///   the default tenant's on fallback), config_version + checksum,
///   status, wait_reason, node_path, input/output/error, next_seq,
///   wake_at_ms, lease_owner / lease_expires_at_ms / lease_epoch, times)
/// - run_events(run_id, seq PK; tenant_id, event_type, node_path, attempt,
///   payload) — the append-only history, gap-free seq per run
/// - run_steps(run_id, step_path, attempt PK; tenant_id, status, period,
///   node_id, lease_epoch, times, error) — the step-attempt ledger
/// - run_waits(wait_id PK; run_id, tenant_id, kind quota|event|timer|
///   nondeterminism, node_path, event_name, wake_at_ms, resolved_at_ms)
/// - usage_periods(tenant_id, period_start_ms, period_end_ms PK; used_count,
///   step_limit) — the atomic counters
/// - subscriptions(tenant_id, subscription_id PK; status, period, metadata)
/// - nodes(node_id PK; address, pid, started/heartbeat/stopped times)
/// - run_signals(signal_id PK; run_id, tenant_id, kind signal|cancel,
///   event_name, payload, consumed_seq) — a run's inbox (migration 2)
/// - tenant_rejections(tenant_id, reason PK; rejected) — refused starts (migration 3)
/// - schedules(tenant_id, schedule_id PK; document, paused, revision, next
///   and buffered fire times, last fire and run, counters) (migration 6)
/// - runs.parent_run_id / parent_node_path / parent_attempt / child_depth:
///   a child run's parent attempt (migration 7)

#include "persistence/sqlite.hpp"

#include <caf/expected.hpp>

#include <span>
#include <string>
#include <vector>

namespace flowgate {

/// One numbered migration: SQLite DDL (PostgreSQL applies the same list,
/// translated by `postgres_ddl` in persistence/pg_migrations.hpp).
struct migration {
  int32_t version;
  const char* name;
  const char* sql;
  /// PostgreSQL's own statements where the translation of `sql` does not
  /// apply (SQLite-only DDL); "" when there is nothing to do there. Null:
  /// `postgres_ddl(sql)`.
  const char* postgres_sql = nullptr;
};

/// Every migration, oldest first.
std::span<const migration> schema_migrations();

/// Whether a reader may open a database at `version` (`location` names it
/// in errors): `schema_too_new` above this binary's, `store_failure` below
/// it (a writer migrates; readers never do).
[[nodiscard]] caf::error check_reader_schema(int32_t version, const std::string& location);

/// The newest schema version this binary knows.
int32_t latest_schema_version();

/// Version recorded in the database (0 for an empty database).
[[nodiscard]] caf::expected<int32_t> schema_version(sqlite::connection& db);

/// Applies every missing migration, each in its own transaction. Returns the
/// names of the migrations applied now (empty if the schema was current).
/// Errors: `schema_too_new`, `store_busy`, `store_failure`.
[[nodiscard]] caf::expected<std::vector<std::string>> migrate(sqlite::connection& db,
                                                              int64_t now_ms);

} // namespace flowgate
