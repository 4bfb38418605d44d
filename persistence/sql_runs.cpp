// The read side of runs, tenants' admission stats, usage and membership on
// SQLite and PostgreSQL (persistence/sql_runs.hpp). Writes are the run
// store's (persistence/run_store.cpp) over the backend primitives.

#include "persistence/sql_runs.hpp"

#include "config/billing.hpp"
#include "messages/errors.hpp"
#include "persistence/pg.hpp"
#include "persistence/run_store.hpp"
#include "persistence/sql_rows.hpp"
#include "persistence/sqlite.hpp"

namespace flowgate::sql_runs {

namespace {

using sql_rows::all_rows;
using sql_rows::first_int;
using sql_rows::read_run;

/// A usage period's counter as it stands.
struct usage_counter {
  /// Whether the period has a `usage_periods` row yet.
  bool exists = false;
  /// Its `used_count` (0 without a row).
  int64_t used = 0;
};

template <class Db>
caf::expected<usage_counter> counter_of(Db& db, const std::string& tenant, int64_t period_start_ms,
                                        int64_t period_end_ms) {
  auto& st = db.cached("SELECT used_count FROM usage_periods WHERE tenant_id = ?1 "
                       "AND period_start_ms = ?2 AND period_end_ms = ?3");
  st.bind_all(tenant, period_start_ms, period_end_ms);
  auto row = st.step();
  usage_counter out{row && *row, row && *row ? st.column_int64(0) : 0};
  st.reset();
  if (!row) {
    return row.error();
  }
  return out;
}

/// The run if it exists and belongs to `tenant` (any tenant if empty);
/// another tenant's run is reported exactly like a missing one.
template <class Db>
caf::expected<run_record> tenant_run(Db& db, const tenant_id& tenant, const run_id& run) {
  auto& st = db.cached("SELECT " FLOWGATE_RUN_COLUMNS " FROM runs WHERE run_id = ?1");
  st.bind_all(run.value);
  auto rows = all_rows<run_record>(st, [](const auto& row) { return read_run(row); });
  if (!rows) {
    return rows.error();
  }
  if (rows->empty() || (!tenant.value.empty() && rows->front().tenant != tenant)) {
    return make_error(errc::not_found, "run " + std::to_string(run.value) + " does not exist");
  }
  return std::move(rows->front());
}

} // namespace

// -- reads -----------------------------------------------------------------------

template <class Db> caf::expected<run_record> apply(Db& db, const find_run& q) {
  return tenant_run(db, q.tenant, q.run);
}

template <class Db> caf::expected<std::vector<run_record>> apply(Db& db, const find_runs& q) {
  std::vector<run_record> out;
  out.reserve(q.runs.size());
  for (auto id : q.runs) {
    auto r = tenant_run(db, q.tenant, id);
    if (r) {
      out.push_back(std::move(*r));
    } else if (code_of(r.error()) != errc::not_found) {
      return r.error();
    }
  }
  return out;
}

template <class Db> caf::expected<std::vector<run_record>> apply(Db& db, const list_runs& q) {
  auto& st = db.cached("SELECT " FLOWGATE_RUN_COLUMNS " FROM runs WHERE run_id > ?1 "
                       "AND (?2 = '' OR tenant_id = ?2) AND (?3 = '' OR status = ?3) "
                       "ORDER BY run_id LIMIT ?4");
  st.bind_all(q.after_run, q.tenant.value, q.status ? to_string(*q.status) : "", q.limit);
  return all_rows<run_record>(st, [](const auto& row) { return read_run(row); });
}

template <class Db>
caf::expected<std::vector<tenant_stats>> apply(Db& db, const read_tenant_stats& q) {
#define FLOWGATE_TENANT_STATS(unfinished)                                                          \
  "SELECT t.tenant_id, "                                                                           \
  "(SELECT count(*) FROM runs r WHERE r.tenant_id = t.tenant_id AND " unfinished                   \
  " AND r.status = 'RUNNING' AND r.lease_expires_at_ms > ?2), "                                    \
  "(SELECT count(*) FROM runs r WHERE r.tenant_id = t.tenant_id AND " unfinished                   \
  " AND r.status = 'PENDING'), "                                                                   \
  "(SELECT count(*) FROM runs r WHERE r.tenant_id = t.tenant_id AND " unfinished                   \
  " AND r.status = 'WAITING'), "                                                                   \
  "t.config_json, "                                                                                \
  "coalesce((SELECT rejected FROM tenant_rejections x WHERE x.tenant_id = t.tenant_id "            \
  "AND x.reason = 'tenant_at_limit'), 0), "                                                        \
  "coalesce((SELECT rejected FROM tenant_rejections x WHERE x.tenant_id = t.tenant_id "            \
  "AND x.reason = 'soft_limit'), 0), "                                                             \
  "coalesce((SELECT rejected FROM tenant_rejections x WHERE x.tenant_id = t.tenant_id "            \
  "AND x.reason = 'hard_limit'), 0), "                                                             \
  "(SELECT count(*) FROM runs r WHERE r.tenant_id = t.tenant_id AND " unfinished                   \
  " AND r.status = 'WAITING' AND r.wait_reason = 'quota') "                                        \
  "FROM tenants t WHERE ?1 = '' OR t.tenant_id = ?1 ORDER BY t.tenant_id"
  auto& st = db.cached(
    FLOWGATE_WITH_UNFINISHED((std::is_same_v<Db, sqlite::connection>), FLOWGATE_TENANT_STATS));
#undef FLOWGATE_TENANT_STATS
  st.bind_all(q.tenant.value, q.now_ms);
  caf::error bad_config;
  auto rows = all_rows<tenant_stats>(st, [&q, &bad_config](const auto& s) {
    tenant_stats x;
    x.tenant = tenant_id{s.column_text(0)};
    x.running = s.column_int64(1);
    x.queued = s.column_int64(2);
    x.waiting = s.column_int64(3);
    auto limits = run_store::terms_of(x.tenant.value, s.column_text(4), q.default_limit);
    if (limits) {
      x.limit = limits->max_running;
      x.admission = limits->reject ? "reject" : "queue";
      x.soft_limit = limits->soft;
      x.hard_limit = limits->hard;
    } else if (!bad_config) {
      bad_config = limits.error();
    }
    x.rejected_at_limit = s.column_int64(5);
    x.rejected_soft = s.column_int64(6);
    x.rejected_hard = s.column_int64(7);
    x.paused_on_quota = s.column_int64(8);
    return x;
  });
  if (bad_config) {
    return bad_config;
  }
  if (rows && rows->empty() && !q.tenant.value.empty()) {
    return make_error(errc::unknown_tenant, "tenant '" + q.tenant.value + "' does not exist");
  }
  return rows;
}

template <class Db>
caf::expected<std::vector<subscription_record>> apply(Db& db, const list_subscriptions& q) {
  auto& st = db.cached("SELECT subscription_id, status, coalesce(current_period_start_ms, 0), "
                       "coalesce(current_period_end_ms, 0), price_metadata, product_metadata, "
                       "updated_at_ms FROM subscriptions WHERE tenant_id = ?1 "
                       "ORDER BY subscription_id");
  st.bind_all(q.tenant.value);
  return all_rows<subscription_record>(st, [&q](const auto& s) {
    return subscription_record{q.tenant,          s.column_text(0),  s.column_text(1),
                               s.column_int64(2), s.column_int64(3), s.column_text(4),
                               s.column_text(5),  s.column_int64(6)};
  });
}

template <class Db>
caf::expected<std::vector<schedule_record>> apply(Db& db, const list_schedules& q) {
  auto& st = q.id.empty() ? db.cached("SELECT " FLOWGATE_SCHEDULE_COLUMNS " FROM schedules WHERE "
                                      "tenant_id = ?1 AND ?2 = '' ORDER BY schedule_id")
                          : db.cached("SELECT " FLOWGATE_SCHEDULE_COLUMNS " FROM schedules WHERE "
                                      "tenant_id = ?1 AND schedule_id = ?2");
  st.bind_all(q.tenant.value, q.id);
  return all_rows<schedule_record>(st, sql_rows::read_schedule<std::decay_t<decltype(st)>>);
}

template <class Db>
caf::expected<std::vector<schedule_record>> apply(Db& db, const due_schedules& q) {
  auto& st = db.cached("SELECT " FLOWGATE_SCHEDULE_COLUMNS " FROM schedules WHERE paused = 0 AND "
                       "((next_fire_ms > 0 AND next_fire_ms <= ?1) OR buffered_fire_ms > 0) "
                       "ORDER BY next_fire_ms, tenant_id, schedule_id LIMIT ?2");
  st.bind_all(q.now_ms, int64_t{q.limit});
  return all_rows<schedule_record>(st, sql_rows::read_schedule<std::decay_t<decltype(st)>>);
}

template <class Db> caf::expected<int64_t> apply(Db& db, const find_usage& q) {
  auto counter = counter_of(db, q.tenant.value, q.period_start_ms, q.period_end_ms);
  if (!counter) {
    return counter.error();
  }
  return counter->used;
}

template <class Db>
caf::expected<std::vector<history_record>> apply(Db& db, const load_history& q) {
  auto& st = db.cached("SELECT seq, event_type, node_path, attempt, payload, created_at_ms "
                       "FROM run_events WHERE run_id = ?1 AND seq > ?2 ORDER BY seq");
  st.bind_all(q.run.value, q.after_seq);
  return all_rows<history_record>(st, [](const auto& s) {
    return history_record{s.column_int64(0), s.column_text(1),
                          s.column_text(2),  static_cast<int32_t>(s.column_int64(3)),
                          s.column_text(4),  s.column_int64(5)};
  });
}

#undef FLOWGATE_RUN_COLUMNS

template <class Db>
caf::expected<std::vector<attempt_record>> apply(Db& db, const load_attempts& q) {
  auto& st = db.cached(
    "SELECT step_path, attempt, status, period_start_ms, period_end_ms, coalesce(node_id, ''), "
    "lease_epoch, started_at_ms, coalesce(finished_at_ms, 0), coalesce(error_type, ''), "
    "coalesce(error_message, '') FROM run_steps WHERE run_id = ?1 "
    "ORDER BY started_at_ms, step_path, attempt");
  st.bind_all(q.run.value);
  return all_rows<attempt_record>(st, [](const auto& s) {
    attempt_record x;
    x.step_path = s.column_text(0);
    x.attempt = static_cast<int32_t>(s.column_int64(1));
    x.status = s.column_text(2);
    x.period_start_ms = s.column_int64(3);
    x.period_end_ms = s.column_int64(4);
    x.node = s.column_text(5);
    x.lease_epoch = s.column_int64(6);
    x.started_at_ms = s.column_int64(7);
    x.finished_at_ms = s.column_int64(8);
    x.error_type = s.column_text(9);
    x.error_message = s.column_text(10);
    return x;
  });
}

template <class Db> caf::expected<std::vector<node_record>> apply(Db& db, const list_nodes& q) {
  auto& st = db.cached(
    "SELECT n.node_id, n.incarnation, n.host, n.pid, n.address, n.ttl_ms, n.started_at_ms, "
    "n.heartbeat_at_ms, coalesce(n.stopped_at_ms, 0), "
    "(SELECT count(*) FROM runs r WHERE r.lease_owner = n.node_id AND r.lease_incarnation = "
    "n.incarnation AND r.status = 'RUNNING' AND r.lease_expires_at_ms > ?1) "
    "FROM nodes n ORDER BY n.node_id");
  st.bind_all(q.now_ms);
  auto nodes = all_rows<node_record>(st, [&q](const auto& row) {
    node_record x;
    x.node = node_id{row.column_text(0)};
    x.incarnation = row.column_int64(1);
    x.host = row.column_text(2);
    x.pid = row.column_int64(3);
    x.address = row.column_text(4);
    x.ttl_ms = row.column_int64(5);
    x.started_at_ms = row.column_int64(6);
    x.heartbeat_at_ms = row.column_int64(7);
    x.stopped_at_ms = row.column_int64(8);
    x.held_runs = row.column_int64(9);
    x.live = x.stopped_at_ms == 0 && x.heartbeat_at_ms + x.ttl_ms > q.now_ms;
    return x;
  });
  if (!nodes) {
    return nodes;
  }
  for (auto& x : *nodes) {
    auto& owned = db.cached("SELECT tenant_id FROM tenant_owners WHERE owner = ?1 AND "
                            "incarnation = ?2 AND expires_at_ms > ?3 ORDER BY tenant_id");
    owned.bind_all(x.node.value, x.incarnation, q.now_ms);
    auto owns =
      all_rows<std::string>(owned, [](const auto& row) { return std::string{row.column_text(0)}; });
    if (!owns) {
      return owns.error();
    }
    x.owned_tenants = std::move(*owns);
    if (x.held_runs == 0) {
      continue;
    }
    auto& held = db.cached("SELECT DISTINCT tenant_id FROM runs WHERE lease_owner = ?1 AND "
                           "lease_incarnation = ?2 AND status = 'RUNNING' AND "
                           "lease_expires_at_ms > ?3 ORDER BY tenant_id");
    held.bind_all(x.node.value, x.incarnation, q.now_ms);
    auto tenants =
      all_rows<std::string>(held, [](const auto& row) { return std::string{row.column_text(0)}; });
    if (!tenants) {
      return tenants.error();
    }
    x.held_tenants = std::move(*tenants);
  }
  return nodes;
}

template <class Db>
caf::expected<std::vector<tenant_id>> apply(Db& db, const list_quota_tenants& q) {
  auto& st = db.cached("SELECT DISTINCT tenant_id FROM run_waits WHERE kind = 'quota' "
                       "AND resolved_at_ms IS NULL ORDER BY tenant_id LIMIT ?1");
  st.bind_all(int64_t{q.limit});
  return all_rows<tenant_id>(st, [](const auto& row) { return tenant_id{row.column_text(0)}; });
}

template <class Db> caf::expected<usage_reconciliation> apply(Db& db, const reconcile_usage& q) {
  usage_reconciliation out{q.tenant, q.period_start_ms, q.period_end_ms, 0, 0, 0, false};
  if (q.period_end_ms == 0) {
    // The period that starts there (counter or ledger rows name it).
    auto& end = db.cached("SELECT max(period_end_ms) FROM usage_periods WHERE tenant_id = ?1 "
                          "AND period_start_ms = ?2");
    end.bind_all(q.tenant.value, q.period_start_ms);
    auto found = first_int(end);
    if (!found) {
      return found.error();
    }
    if (*found == 0) {
      return make_error(errc::not_found, "tenant '" + q.tenant.value +
                                           "' has no usage period starting at " +
                                           format_rfc3339(q.period_start_ms));
    }
    out.period_end_ms = *found;
  }
  auto counter = counter_of(db, q.tenant.value, out.period_start_ms, out.period_end_ms);
  if (!counter) {
    return counter.error();
  }
  out.counter = counter->used;
  out.counter_exists = counter->exists;
  // Through the tenant's runs: the ledger's key starts with run_id.
  auto& ledger = db.cached("SELECT count(*) FROM runs r JOIN run_steps s ON s.run_id = r.run_id "
                           "WHERE r.tenant_id = ?1 AND s.tenant_id = ?1 "
                           "AND s.period_start_ms = ?2 AND s.period_end_ms = ?3");
  ledger.bind_all(q.tenant.value, out.period_start_ms, out.period_end_ms);
  auto n = first_int(ledger);
  if (!n) {
    return n.error();
  }
  out.ledger = *n;
  out.drift = out.counter - out.ledger;
  return out;
}

#define FLOWGATE_SQL_RUNS_FOR(Db)                                                                  \
  template caf::expected<run_record> apply(Db&, const find_run&);                                  \
  template caf::expected<std::vector<run_record>> apply(Db&, const find_runs&);                    \
  template caf::expected<std::vector<run_record>> apply(Db&, const list_runs&);                    \
  template caf::expected<std::vector<history_record>> apply(Db&, const load_history&);             \
  template caf::expected<std::vector<attempt_record>> apply(Db&, const load_attempts&);            \
  template caf::expected<std::vector<tenant_stats>> apply(Db&, const read_tenant_stats&);          \
  template caf::expected<std::vector<subscription_record>> apply(Db&, const list_subscriptions&);  \
  template caf::expected<std::vector<schedule_record>> apply(Db&, const list_schedules&);          \
  template caf::expected<std::vector<schedule_record>> apply(Db&, const due_schedules&);           \
  template caf::expected<int64_t> apply(Db&, const find_usage&);                                   \
  template caf::expected<std::vector<tenant_id>> apply(Db&, const list_quota_tenants&);            \
  template caf::expected<usage_reconciliation> apply(Db&, const reconcile_usage&);                 \
  template caf::expected<std::vector<node_record>> apply(Db&, const list_nodes&);

FLOWGATE_SQL_RUNS_FOR(sqlite::connection)
FLOWGATE_SQL_RUNS_FOR(pg::connection)

#undef FLOWGATE_SQL_RUNS_FOR

} // namespace flowgate::sql_runs
