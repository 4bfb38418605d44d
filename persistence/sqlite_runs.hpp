#pragma once

/// The read side of runs on SQLite: runs, histories, tenant admission
/// stats, subscriptions, usage and reconciliation, membership. Used by the
/// SQLite read session (persistence/sqlite_store.cpp). Writes go through the
/// run store (persistence/run_store.hpp) over the SQLite primitives
/// (persistence/sqlite_run_backend.hpp).

#include "messages/run_messages.hpp"
#include "messages/store_messages.hpp"
#include "persistence/sqlite.hpp"

#include <caf/expected.hpp>

#include <vector>

namespace flowgate::sqlite_runs {

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
