#pragma once

/// The run store: run semantics decided once, in backend-neutral C++, over
/// a backend's primitives (persistence/run_backend.hpp). Every write
/// operation of messages/run_messages.hpp that touches runs, leases,
/// membership, the ledger or usage is applied here; a backend (SQLite
/// today, PostgreSQL next) only implements the primitives.
///
/// Each function runs inside the caller's open transaction (the store
/// writer's batch, one savepoint per operation); nothing here commits.
///
/// Invariants it keeps (docs/run-model.md):
/// - Lease: `lease_epoch` grows by one per claim, in the statement that
///   checks the lease is free; every write under a lease matches (owner,
///   incarnation, epoch), so a stale owner can never write.
/// - History: events of a run are numbered 1, 2, ... without gaps;
///   `next_seq` moves with every append.
/// - Admission: a tenant's live RUNNING runs never exceed its concurrency
///   limit, and its unfinished runs never exceed its hard limit (or soft
///   limit + 5%), counted under the tenant's lock.
/// - Usage: an attempt is counted once per (run, step, attempt), only while
///   used < limit, in the commit that schedules it.
/// - Claim order: takeovers, then woken runs, then new runs; round-robin
///   over tenants by weight; a node's share of a limited tenant's permits.

#include "messages/run_messages.hpp"
#include "messages/schedule_messages.hpp"
#include "messages/store_messages.hpp"
#include "persistence/run_backend.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace flowgate::run_store {

[[nodiscard]] caf::expected<run_created> apply(run_backend& b, const create_run& op);
[[nodiscard]] caf::expected<runs_claimed> apply(run_backend& b, const claim_runs& op);
[[nodiscard]] caf::expected<std::vector<run_id>> apply(run_backend& b, const renew_leases& op);
[[nodiscard]] caf::expected<int64_t> apply(run_backend& b, const release_leases& op);
[[nodiscard]] caf::expected<int64_t> apply(run_backend& b, const register_node& op);
[[nodiscard]] caf::expected<int64_t> apply(run_backend& b, const stop_node& op);
[[nodiscard]] caf::expected<history_appended> apply(run_backend& b, const append_history& op);
[[nodiscard]] caf::expected<signal_accepted> apply(run_backend& b, const signal_run& op);
[[nodiscard]] caf::expected<cancel_outcome> apply(run_backend& b, const cancel_run& op);
[[nodiscard]] caf::expected<subscription_record> apply(run_backend& b,
                                                       const store_subscription& op);
/// Reserves one step attempt (see `reserve_step`); the ledger row names
/// `node` and `epoch`. Used by every operation that starts an attempt.
/// With `count_granted` false a granted reservation may report `used` as 0
/// (the count is not read back): for callers that only need the decision.
/// A refusal always reports the count.
[[nodiscard]] caf::expected<step_reservation> reserve(run_backend& b, const reserve_step& op,
                                                      const std::string& node, int64_t epoch,
                                                      bool count_granted = true);
[[nodiscard]] caf::expected<std::vector<step_reservation>> apply(run_backend& b,
                                                                 const reserve_steps& op);
[[nodiscard]] caf::expected<int64_t> apply(run_backend& b, const resume_quota_waits& op);
[[nodiscard]] caf::expected<resume_outcome> apply(run_backend& b, const resume_run& op);

// Schedules (persistence/schedule_store.cpp, messages/schedule_messages.hpp).
[[nodiscard]] caf::expected<schedule_record> apply(run_backend& b, const store_schedule& op);
[[nodiscard]] caf::expected<int64_t> apply(run_backend& b, const delete_schedule& op);
[[nodiscard]] caf::expected<schedule_record> apply(run_backend& b, const pause_schedule& op);
[[nodiscard]] caf::expected<schedule_fired> apply(run_backend& b, const fire_schedule& op);

/// A tenant's admission terms, resolved from its stored config by the
/// config parser (never by the backend), cached while the text is unchanged.
struct tenant_terms {
  /// Concurrent RUNNING runs allowed; 0 = unlimited.
  int64_t max_running = 0;
  bool reject = false;
  /// Active-run limits; 0 = none.
  int64_t soft = 0;
  int64_t hard = 0;
  /// How long a starter may wait for a queued run's admission.
  int64_t deadline_ms = 30'000;
  /// Turns per claim round.
  int64_t weight = 1;
};

/// The terms of a stored config text (`default_limit` when the config has
/// no `max_concurrent_runs`). Errors: `invalid_config`.
[[nodiscard]] caf::expected<tenant_terms>
terms_of(const std::string& tenant, const std::string& config_text, int64_t default_limit);

} // namespace flowgate::run_store
