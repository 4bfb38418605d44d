#pragma once

/// Schedules (config/schedule.hpp) as the store keeps them, and the store
/// operations on them. Writer operations (`store_writer_actor`):
/// `store_schedule`, `delete_schedule`, `pause_schedule`, `fire_schedule`;
/// reader queries (`store_reader_actor`): `list_schedules`, `due_schedules`.
/// Exactly one run per fire time across every node: a fire locks the
/// schedule's row (PostgreSQL) or the database (SQLite), plans from the
/// row's own next fire time and moves it in the same transaction, and each
/// run's idempotency key is `schedule:<id>:<fire ms>`.

#include "messages/ids.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace flowgate {

/// A stored schedule and its firing state.
struct schedule_record {
  tenant_id tenant;
  std::string id;
  /// The document as put (canonical JSON text).
  std::string document;
  /// Paused by the document or by `schedule pause`; fires nothing.
  bool paused = false;
  /// Grows with every put; a fire planned against another revision is stale.
  int64_t revision = 0;
  /// The first unprocessed fire time (0: none, e.g. paused).
  int64_t next_fire_ms = 0;
  /// A fire time held by `overlap: buffer_one` until the previous run
  /// finished (0: none).
  int64_t buffered_fire_ms = 0;
  /// The newest fire time processed (run or not).
  int64_t last_fire_ms = 0;
  /// The newest run this schedule started (0: none).
  int64_t last_run = 0;
  int64_t runs_started = 0;
  /// Fire times that started no run (overlap, catch-up, admission).
  int64_t fires_skipped = 0;
  /// What the newest fire did, in a sentence.
  std::string last_outcome;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, schedule_record& x) {
  return f(caf::meta::type_name("flowgate::schedule_record"), x.tenant, x.id, x.document, x.paused,
           x.revision, x.next_fire_ms, x.buffered_fire_ms, x.last_fire_ms, x.last_run,
           x.runs_started, x.fires_skipped, x.last_outcome, x.created_at_ms, x.updated_at_ms);
}

/// Creates or replaces a schedule -> schedule_record. The document is
/// parsed again; its next fire time is computed from `now_ms` (none while
/// paused); counters and the previous run are kept across a replace, a
/// buffered fire is dropped. Errors: `unknown_tenant`, `invalid_config`.
struct store_schedule {
  schedule_record schedule;
  int64_t now_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_schedule& x) {
  return f(caf::meta::type_name("flowgate::store_schedule"), x.schedule, x.now_ms);
}

/// Removes a schedule -> int64_t rows removed (0 or 1). Its runs stay.
struct delete_schedule {
  tenant_id tenant;
  std::string id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_schedule& x) {
  return f(caf::meta::type_name("flowgate::delete_schedule"), x.tenant, x.id);
}

/// Pauses or resumes a schedule -> schedule_record. Resuming computes the
/// next fire time from `now_ms`: fire times that passed while paused are
/// not caught up. Errors: `not_found`.
struct pause_schedule {
  tenant_id tenant;
  std::string id;
  bool paused = true;
  int64_t now_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pause_schedule& x) {
  return f(caf::meta::type_name("flowgate::pause_schedule"), x.tenant, x.id, x.paused, x.now_ms);
}

/// Fires what is due of one schedule at `now_ms` -> schedule_fired. The
/// caller resolved the pipeline version (`version`, `checksum`) for
/// `revision`, or could not (`config_error`: every due fire time is then
/// skipped with that reason); the store plans from the row (config/schedule.hpp), applies
/// the overlap policy against the previous run's status, creates each run
/// PENDING with the fire's idempotency key through the run store's
/// admission (a refused start is a skipped fire, its reason recorded), and
/// moves the row on. Nothing happens (`stale`) if the row is gone, paused,
/// at another revision, or not due.
struct fire_schedule {
  tenant_id tenant;
  std::string id;
  int64_t revision = 0;
  std::string version;
  std::string checksum;
  /// Why no version could be resolved (empty: it was).
  std::string config_error;
  /// The node's default concurrency limit (admission terms).
  int64_t default_limit = 0;
  int64_t now_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, fire_schedule& x) {
  return f(caf::meta::type_name("flowgate::fire_schedule"), x.tenant, x.id, x.revision, x.version,
           x.checksum, x.config_error, x.default_limit, x.now_ms);
}

/// What one `fire_schedule` did.
struct schedule_fired {
  /// True if nothing was due (another node fired it, or the row changed).
  bool stale = false;
  /// Runs created (or found by their key) for the fire times, in order.
  std::vector<int64_t> runs;
  /// Fire times that started no run.
  int64_t skipped = 0;
  /// The row afterwards.
  schedule_record schedule;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, schedule_fired& x) {
  return f(caf::meta::type_name("flowgate::schedule_fired"), x.stale, x.runs, x.skipped,
           x.schedule);
}

/// A tenant's schedules by id, or the one named `id` ->
/// std::vector<schedule_record>.
struct list_schedules {
  tenant_id tenant;
  /// Empty: every schedule of the tenant.
  std::string id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_schedules& x) {
  return f(caf::meta::type_name("flowgate::list_schedules"), x.tenant, x.id);
}

/// Unpaused schedules of every tenant with a fire time due at `now_ms` or a
/// buffered fire, oldest due first -> std::vector<schedule_record>.
struct due_schedules {
  int64_t now_ms = 0;
  int32_t limit = 100;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, due_schedules& x) {
  return f(caf::meta::type_name("flowgate::due_schedules"), x.now_ms, x.limit);
}

} // namespace flowgate
