#pragma once

/// The invariant check of a store (`flowgate check`), decided here in
/// backend-neutral C++ over a few read primitives (`check_source`), so it
/// serves every backend. The rules:
///
/// Per run (runs are read in pages by id, with their events, ledger rows
/// and open waits):
/// - history_gap: the events are numbered 1, 2, ... n and the run's
///   next_seq is n + 1.
/// - terminal_event: a COMPLETED / FAILED / CANCELED run has exactly one
///   terminal event (run_completed / run_failed / run_canceled), it is the
///   last, and it matches the status; an unfinished run has none.
/// - ledger_without_event / event_without_ledger: every ledger row has the
///   event that scheduled it and every such event its row: step_scheduled
///   (path, attempt) -> row (path, attempt); wait_started (path, attempt) ->
///   row (path, attempt); timer_started with reason `timer` (path, attempt
///   0) -> row (path, 1). A retry's backoff timer has no row.
/// - attempt_after_completion: no attempt of a step is numbered above an
///   attempt of it that completed.
/// - wait_mismatch: a finished run has no open wait; a WAITING run waiting
///   on an event, a timer or a retry, on quota or after non-determinism has
///   an open wait of that kind (`timer` for a retry; `quota` for a resumed
///   quota wait).
/// - unreadable: an event type this version does not know, or a
///   timer_started payload that is not JSON.
///
/// Per tenant and period:
/// - usage_mismatch: each usage counter equals the number of ledger rows
///   of its (tenant, period), and ledger rows have a counter.
/// - over_limit: sweeping the tenant's attempt intervals [started,
///   finished) in start order, the number of distinct runs with an attempt
///   open at once never exceeds the tenant's concurrency limit now (its
///   config's `max_concurrent_runs`, else the default). An attempt holds
///   its run's permit while it is open: it starts and ends in commits made
///   under the run's lease. Rows that are `cut_off` are left out (their end
///   is when a later owner recorded it, not when the attempt stopped), and
///   so are `started` rows whose lease is gone (their end is unknown); a
///   `started` row under the run's live lease is open until now. The
///   attempt of a `child` node is left out too: its parent waits for the
///   child run without a lease or permit, and the child's attempts count. A limit
///   lowered after the fact reports the intervals above the new limit.
///
/// Per node:
/// - lease_of_dead_node: a RUNNING run's live lease is held by the live
///   registration of its owner (same incarnation, not stopped, heartbeat
///   within its TTL).

#include "messages/check_messages.hpp"
#include "messages/run_messages.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace flowgate {

/// One ledger row as the check reads it.
struct check_attempt {
  int64_t run = 0;
  std::string step_path;
  int32_t attempt = 0;
  step_status status = step_status::started;
  int64_t period_start_ms = 0;
  int64_t period_end_ms = 0;
  int64_t lease_epoch = 0;
  int64_t started_at_ms = 0;
  /// 0 while started.
  int64_t finished_at_ms = 0;
};

/// One open wait.
struct check_wait {
  int64_t run = 0;
  wait_reason kind = wait_reason::none;
  std::string node_path;
};

/// A (tenant, period) with its counter and its ledger rows.
struct check_period {
  std::string tenant;
  int64_t period_start_ms = 0;
  int64_t period_end_ms = 0;
  bool has_counter = false;
  int64_t counter = 0;
  int64_t ledger = 0;
};

/// One attempt interval for the limit sweep.
struct check_interval {
  std::string tenant;
  int64_t run = 0;
  int64_t started_at_ms = 0;
  /// The end to use (now for an attempt open under a live lease).
  int64_t ended_at_ms = 0;
};

/// The read primitives the check needs. An empty `tenant` is every tenant.
/// Runs come in pages by id: the events, ledger rows and waits of a page
/// are read for the id range [first, last] (ordered by run, then seq /
/// step path and attempt / wait).
class check_source {
public:
  virtual ~check_source() = default;

  [[nodiscard]] virtual caf::expected<std::vector<run_record>>
  runs_page(const std::string& tenant, int64_t after_run, int64_t limit) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<std::pair<int64_t, history_record>>>
  events_of(const std::string& tenant, int64_t first_run, int64_t last_run) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<check_attempt>>
  attempts_of(const std::string& tenant, int64_t first_run, int64_t last_run) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<check_wait>>
  open_waits_of(const std::string& tenant, int64_t first_run, int64_t last_run) = 0;
  /// Every (tenant, period) that has a counter or ledger rows.
  [[nodiscard]] virtual caf::expected<std::vector<check_period>>
  periods(const std::string& tenant) = 0;
  /// Tenant ids with their config JSON text.
  [[nodiscard]] virtual caf::expected<std::vector<std::pair<std::string, std::string>>>
  tenants(const std::string& tenant) = 0;
  /// Calls `each` for the attempt intervals ordered by tenant, then start
  /// (see the rules above for which rows and which end).
  [[nodiscard]] virtual caf::error
  intervals(const std::string& tenant, int64_t now_ms,
            const std::function<void(const check_interval&)>& each) = 0;
  [[nodiscard]] virtual caf::expected<std::vector<node_record>> nodes(int64_t now_ms) = 0;
};

/// Runs every rule over `source`.
caf::expected<check_report> check_store(check_source& source, const check_database& q);

} // namespace flowgate
