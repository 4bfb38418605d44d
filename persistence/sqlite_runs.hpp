#pragma once

/// Run, history and lease operations on a SQLite connection. Used by the
/// SQLite store sessions (persistence/sqlite_store.cpp); each write
/// function runs inside the session's open transaction and savepoint.
///
/// Lease invariant: `runs.lease_epoch` only grows, by one per claim, in the
/// statement that checks the previous lease is free; every write for a run
/// under a lease re-checks (owner, epoch) inside the same transaction, so a
/// stale owner can never append to a history another node now drives.
/// History invariant: events of a run are numbered 1, 2, ... without gaps;
/// `runs.next_seq` is the next number and moves with every append.

#include "messages/run_messages.hpp"
#include "messages/store_messages.hpp"
#include "persistence/sqlite.hpp"

#include <caf/expected.hpp>

#include <vector>

namespace flowgate::sqlite_runs {

// -- writes --------------------------------------------------------------------
[[nodiscard]] caf::expected<run_created> apply(sqlite::connection& db, const create_run& op);
[[nodiscard]] caf::expected<runs_claimed> apply(sqlite::connection& db, const claim_runs& op);
[[nodiscard]] caf::expected<int64_t> apply(sqlite::connection& db, const register_node& op);
[[nodiscard]] caf::expected<int64_t> apply(sqlite::connection& db, const stop_node& op);
[[nodiscard]] caf::expected<std::vector<run_id>> apply(sqlite::connection& db,
                                                       const renew_leases& op);
[[nodiscard]] caf::expected<int64_t> apply(sqlite::connection& db, const release_leases& op);
[[nodiscard]] caf::expected<history_appended> apply(sqlite::connection& db,
                                                    const append_history& op);
[[nodiscard]] caf::expected<signal_accepted> apply(sqlite::connection& db, const signal_run& op);
[[nodiscard]] caf::expected<cancel_outcome> apply(sqlite::connection& db, const cancel_run& op);
[[nodiscard]] caf::expected<subscription_record> apply(sqlite::connection& db,
                                                       const store_subscription& op);

/// Reserves one step attempt (see `reserve_step`); the ledger row names
/// `node` and `epoch`. Used by every operation that starts an attempt.
[[nodiscard]] caf::expected<step_reservation>
reserve(sqlite::connection& db, const reserve_step& op, const std::string& node, int64_t epoch);
[[nodiscard]] caf::expected<std::vector<step_reservation>> apply(sqlite::connection& db,
                                                                 const reserve_steps& op);
[[nodiscard]] caf::expected<int64_t> apply(sqlite::connection& db, const resume_quota_waits& op);
[[nodiscard]] caf::expected<resume_outcome> apply(sqlite::connection& db, const resume_run& op);

// -- reads -----------------------------------------------------------------------
[[nodiscard]] caf::expected<run_record> apply(sqlite::connection& db, const find_run& q);
[[nodiscard]] caf::expected<std::vector<run_record>> apply(sqlite::connection& db,
                                                           const list_runs& q);
[[nodiscard]] caf::expected<std::vector<history_record>> apply(sqlite::connection& db,
                                                               const load_history& q);
[[nodiscard]] caf::expected<std::vector<tenant_stats>> apply(sqlite::connection& db,
                                                             const read_tenant_stats& q);
[[nodiscard]] caf::expected<std::vector<subscription_record>> apply(sqlite::connection& db,
                                                                    const list_subscriptions& q);
[[nodiscard]] caf::expected<int64_t> apply(sqlite::connection& db, const find_usage& q);
[[nodiscard]] caf::expected<std::vector<tenant_id>> apply(sqlite::connection& db,
                                                          const list_quota_tenants& q);
[[nodiscard]] caf::expected<usage_reconciliation> apply(sqlite::connection& db,
                                                        const reconcile_usage& q);
[[nodiscard]] caf::expected<std::vector<node_record>> apply(sqlite::connection& db,
                                                            const list_nodes& q);

} // namespace flowgate::sqlite_runs
