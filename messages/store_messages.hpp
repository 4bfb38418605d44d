#pragma once

/// Records and operations exchanged with the store actors (`store_writer`,
/// `store_reader`). Operations are plain structs so that any backend
/// (SQLite today, PostgreSQL later) can implement them, and so that they can
/// be serialized if a store ever lives in another process.
///
/// Times are milliseconds since the Unix epoch (UTC). The store never reads
/// the clock: an operation carries its `now_ms`, or leaves it at 0 and the
/// `store_writer` stamps it with its clock read under the write lock, so
/// that recorded times follow commit order (also across processes).

#include "messages/histogram.hpp"
#include "messages/ids.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace flowgate {

// -- records -----------------------------------------------------------------

/// A tenant as stored: its normalized id and its canonical config JSON.
struct tenant_record {
  tenant_id id;
  /// Display name (from the config's `name`, may be empty).
  std::string name;
  /// `solo`, `pro` or `premium`.
  std::string tier;
  /// Canonical JSON of the tenant config (FORMATS.md "Tenant").
  std::string config_json;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, tenant_record& x) {
  return f(caf::meta::type_name("flowgate::tenant_record"), x.id, x.name, x.tier, x.config_json,
           x.created_at_ms, x.updated_at_ms);
}

/// A stored pipeline document with its identity.
struct config_document {
  tenant_id tenant;
  queue_name queue;
  config_version version;
  /// `sha256:<hex>` of the canonical document.
  std::string checksum;
  /// The pipeline's `name` field.
  std::string pipeline_name;
  /// Canonical JSON text of the pipeline.
  std::string document;
  int64_t created_at_ms = 0;
  /// True if this version is the queue's active version.
  bool active = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, config_document& x) {
  return f(caf::meta::type_name("flowgate::config_document"), x.tenant, x.queue, x.version,
           x.checksum, x.pipeline_name, x.document, x.created_at_ms, x.active);
}

/// A config listing row (no document body).
struct config_summary {
  tenant_id tenant;
  queue_name queue;
  config_version version;
  std::string checksum;
  std::string pipeline_name;
  int64_t created_at_ms = 0;
  bool active = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, config_summary& x) {
  return f(caf::meta::type_name("flowgate::config_summary"), x.tenant, x.queue, x.version,
           x.checksum, x.pipeline_name, x.created_at_ms, x.active);
}

/// Outcome of storing a config version.
struct config_stored {
  tenant_id tenant;
  queue_name queue;
  config_version version;
  std::string checksum;
  /// False if the identical document was already stored (a no-op).
  bool created = false;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, config_stored& x) {
  return f(caf::meta::type_name("flowgate::config_stored"), x.tenant, x.queue, x.version,
           x.checksum, x.created);
}

/// Outcome of activating a config version.
struct config_activated {
  tenant_id tenant;
  queue_name queue;
  config_version version;
  /// The version that was active before (empty if none).
  config_version previous;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, config_activated& x) {
  return f(caf::meta::type_name("flowgate::config_activated"), x.tenant, x.queue, x.version,
           x.previous);
}

/// Outcome of a step-attempt reservation against a usage period.
struct step_reservation {
  /// True if the attempt may start (also when it was reserved before).
  bool granted = false;
  /// True if (run, step, attempt) had been reserved already: not counted again.
  bool duplicate = false;
  /// Units used in the period after this decision.
  int64_t used = 0;
  /// The period's limit; -1 means unlimited.
  int64_t limit = -1;
  int64_t period_start_ms = 0;
  int64_t period_end_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_reservation& x) {
  return f(caf::meta::type_name("flowgate::step_reservation"), x.granted, x.duplicate, x.used,
           x.limit, x.period_start_ms, x.period_end_ms);
}

/// Facts about an open database.
struct schema_info {
  std::string path;
  int32_t version = 0;
  int32_t latest_version = 0;
  std::string journal_mode;
  std::string synchronous;
  int64_t tenants = 0;
  int64_t configs = 0;
  int64_t runs = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, schema_info& x) {
  return f(caf::meta::type_name("flowgate::schema_info"), x.path, x.version, x.latest_version,
           x.journal_mode, x.synchronous, x.tenants, x.configs, x.runs);
}

/// Counters of a `store_writer`, for benchmarks and operators.
struct writer_stats {
  uint64_t batches = 0;
  uint64_t operations = 0;
  uint64_t failed_operations = 0;
  uint64_t largest_batch = 0;
  uint64_t busy_retries = 0;
  /// Time spent applying operations and committing, and in COMMIT alone (µs).
  uint64_t busy_us = 0;
  uint64_t commit_us = 0;
  /// The file was found damaged: the writer no longer writes.
  bool broken = false;
  /// Round trips to the database server (PostgreSQL; 0 for SQLite).
  uint64_t round_trips = 0;
  /// Statements sent to the database server (PostgreSQL; 0 for SQLite).
  uint64_t statements = 0;
  /// Batches applied a second time, operation by operation in savepoints,
  /// because an operation failed in the first pass.
  uint64_t isolated_batches = 0;
  /// Operations refused by fencing (`lease_lost`): a write under a lease
  /// that expired or moved, or by a node incarnation that was replaced.
  uint64_t fenced_writes = 0;
  /// Operations per committed batch.
  histogram batch_size{{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}, 1};
  /// Time in COMMIT per batch (the fsync on SQLite's synchronous=full).
  histogram commit_seconds = latency_histogram();
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, writer_stats& x) {
  return f(caf::meta::type_name("flowgate::writer_stats"), x.batches, x.operations,
           x.failed_operations, x.largest_batch, x.busy_retries, x.busy_us, x.commit_us, x.broken,
           x.round_trips, x.statements, x.isolated_batches, x.fenced_writes, x.batch_size,
           x.commit_seconds);
}

// -- write operations (store_writer) -------------------------------------------

/// Insert or replace a tenant. Replies the stored record.
struct store_tenant {
  tenant_record tenant;
  int64_t now_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, store_tenant& x) {
  return f(caf::meta::type_name("flowgate::store_tenant"), x.tenant, x.now_ms);
}

/// Insert tenants that do not exist yet (bootstrap); existing ones stay as
/// they are. Replies the number inserted.
struct seed_tenants {
  std::vector<tenant_record> tenants;
  int64_t now_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, seed_tenants& x) {
  return f(caf::meta::type_name("flowgate::seed_tenants"), x.tenants, x.now_ms);
}

/// Store a pipeline version. Fails with `version_conflict` if the version
/// exists with another checksum, `unknown_tenant` if the tenant does not exist.
struct store_config {
  config_document config;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, store_config& x) {
  return f(caf::meta::type_name("flowgate::store_config"), x.config);
}

/// Make a stored version the queue's active version.
struct activate_config {
  tenant_id tenant;
  queue_name queue;
  config_version version;
  int64_t now_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, activate_config& x) {
  return f(caf::meta::type_name("flowgate::activate_config"), x.tenant, x.queue, x.version,
           x.now_ms);
}

/// Reserve one step attempt against the tenant's usage period. The decision
/// `used < limit` is taken inside the write transaction; the ledger row in
/// `run_steps` is written in the same transaction. Idempotent per
/// (run, step_path, attempt).
struct reserve_step {
  tenant_id tenant;
  run_id run;
  std::string step_path;
  int32_t attempt = 1;
  int64_t period_start_ms = 0;
  int64_t period_end_ms = 0;
  /// -1 = unlimited.
  int64_t limit = -1;
  int64_t now_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, reserve_step& x) {
  return f(caf::meta::type_name("flowgate::reserve_step"), x.tenant, x.run, x.step_path, x.attempt,
           x.period_start_ms, x.period_end_ms, x.limit, x.now_ms);
}

/// Several reservations in one operation (the `quota_accountant` batches
/// them); each is decided as `reserve_step` is, in order, in one
/// transaction. Replies one outcome per reservation.
struct reserve_steps {
  std::vector<reserve_step> steps;
  /// Time for steps that leave theirs at 0.
  int64_t now_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, reserve_steps& x) {
  return f(caf::meta::type_name("flowgate::reserve_steps"), x.steps, x.now_ms);
}

// -- read operations (store_reader) ------------------------------------------

/// Look up one tenant; `not_found` if absent.
struct find_tenant {
  tenant_id tenant;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, find_tenant& x) {
  return f(caf::meta::type_name("flowgate::find_tenant"), x.tenant);
}

/// An API key as stored (config/api_key.hpp): never its secret, only the
/// secret's SHA-256.
struct api_key_record {
  std::string key_id;
  /// Empty for an operator key (every tenant).
  std::string tenant;
  std::string name;
  std::string secret_sha256;
  int64_t created_at_ms = 0;
  /// 0 while valid.
  int64_t revoked_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, api_key_record& x) {
  return f(caf::meta::type_name("flowgate::api_key_record"), x.key_id, x.tenant, x.name,
           x.secret_sha256, x.created_at_ms, x.revoked_at_ms);
}

/// Stores a new key. Errors: `unknown_tenant`, `already_exists` (id).
struct store_api_key {
  api_key_record key;
  int64_t now_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, store_api_key& x) {
  return f(caf::meta::type_name("flowgate::store_api_key"), x.key, x.now_ms);
}

/// Revokes a key (at once, for every node). Errors: `not_found`.
struct revoke_api_key {
  std::string key_id;
  int64_t now_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, revoke_api_key& x) {
  return f(caf::meta::type_name("flowgate::revoke_api_key"), x.key_id, x.now_ms);
}

/// One key by id. Errors: `not_found`.
struct find_api_key {
  std::string key_id;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, find_api_key& x) {
  return f(caf::meta::type_name("flowgate::find_api_key"), x.key_id);
}

/// Keys ordered by creation: one tenant's, or (`all`) every key.
struct list_api_keys {
  bool all = false;
  std::string tenant;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, list_api_keys& x) {
  return f(caf::meta::type_name("flowgate::list_api_keys"), x.all, x.tenant);
}

/// All tenants, ordered by id.
struct list_tenants {
  int32_t limit = 1000;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, list_tenants& x) {
  return f(caf::meta::type_name("flowgate::list_tenants"), x.limit);
}

/// One stored config version; `unknown_version` if absent.
struct find_config {
  tenant_id tenant;
  queue_name queue;
  config_version version;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, find_config& x) {
  return f(caf::meta::type_name("flowgate::find_config"), x.tenant, x.queue, x.version);
}

/// Which version a (tenant, queue) would run: its active version, else the
/// given default version if it is stored. Replies an empty version if
/// neither exists.
struct find_runnable_version {
  tenant_id tenant;
  queue_name queue;
  config_version default_version;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, find_runnable_version& x) {
  return f(caf::meta::type_name("flowgate::find_runnable_version"), x.tenant, x.queue,
           x.default_version);
}

/// Stored versions of a tenant (one queue, or all when `queue` is empty).
struct list_configs {
  tenant_id tenant;
  queue_name queue;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, list_configs& x) {
  return f(caf::meta::type_name("flowgate::list_configs"), x.tenant, x.queue);
}

/// Facts about the database (`flowgate db info`).
struct read_schema_info {
  int32_t unused = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_schema_info& x) {
  return f(caf::meta::type_name("flowgate::read_schema_info"), x.unused);
}

} // namespace flowgate
