#pragma once

/// The read side of runs on SQLite and PostgreSQL: runs, histories, tenant
/// admission stats, subscriptions, usage and reconciliation, membership.
/// Used by both read sessions (persistence/sql_sessions.hpp). `Db` is
/// `sqlite::connection` or `pg::connection`; both are instantiated in
/// sql_runs.cpp. Writes go through the run store (persistence/run_store.hpp)
/// over the backend primitives (persistence/sql_run_backend.hpp).

#include "messages/run_messages.hpp"
#include "messages/schedule_messages.hpp"
#include "messages/store_messages.hpp"

#include <caf/expected.hpp>

#include <vector>

namespace flowgate::sql_runs {

template <class Db> [[nodiscard]] caf::expected<run_record> apply(Db& db, const find_run& q);
template <class Db>
[[nodiscard]] caf::expected<std::vector<run_record>> apply(Db& db, const find_runs& q);
template <class Db>
[[nodiscard]] caf::expected<std::vector<run_record>> apply(Db& db, const list_runs& q);
template <class Db>
[[nodiscard]] caf::expected<std::vector<history_record>> apply(Db& db, const load_history& q);
template <class Db>
[[nodiscard]] caf::expected<std::vector<attempt_record>> apply(Db& db, const load_attempts& q);
template <class Db>
[[nodiscard]] caf::expected<std::vector<tenant_stats>> apply(Db& db, const read_tenant_stats& q);
template <class Db>
[[nodiscard]] caf::expected<std::vector<subscription_record>> apply(Db& db,
                                                                    const list_subscriptions& q);
template <class Db>
[[nodiscard]] caf::expected<std::vector<schedule_record>> apply(Db& db, const list_schedules& q);
template <class Db>
[[nodiscard]] caf::expected<std::vector<schedule_record>> apply(Db& db, const due_schedules& q);
template <class Db> [[nodiscard]] caf::expected<int64_t> apply(Db& db, const find_usage& q);
template <class Db>
[[nodiscard]] caf::expected<std::vector<tenant_id>> apply(Db& db, const list_quota_tenants& q);
template <class Db>
[[nodiscard]] caf::expected<usage_reconciliation> apply(Db& db, const reconcile_usage& q);
template <class Db>
[[nodiscard]] caf::expected<std::vector<node_record>> apply(Db& db, const list_nodes& q);

} // namespace flowgate::sql_runs
