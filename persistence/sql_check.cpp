#include "persistence/sql_check.hpp"

#include "persistence/pg.hpp"
#include "persistence/sql_rows.hpp"
#include "persistence/sql_runs.hpp"
#include "persistence/sqlite.hpp"
#include "persistence/store_check.hpp"

#include <type_traits>

namespace flowgate::sql_check {

namespace {

using sql_rows::all_rows;

/// The check's read primitives over one connection.
template <class Db> class source final : public check_source {
public:
  explicit source(Db& db) : db_(db) {}

  caf::expected<std::vector<run_record>> runs_page(const std::string& tenant, int64_t after_run,
                                                   int64_t limit) override {
    return sql_runs::apply(
      db_, list_runs{tenant_id{tenant}, caf::none, after_run, static_cast<int32_t>(limit)});
  }

  caf::expected<std::vector<std::pair<int64_t, history_record>>>
  events_of(const std::string& tenant, int64_t first_run, int64_t last_run) override {
    // Payloads only where a rule reads them (timer_started).
    auto& st = db_.cached(
      "SELECT run_id, seq, event_type, node_path, attempt, CASE WHEN event_type = "
      "'timer_started' THEN payload ELSE '' END, created_at_ms FROM run_events "
      "WHERE run_id BETWEEN ?1 AND ?2 AND (?3 = '' OR tenant_id = ?3) ORDER BY run_id, seq");
    st.bind_all(first_run, last_run, tenant);
    return all_rows<std::pair<int64_t, history_record>>(st, [](const auto& s) {
      return std::pair<int64_t, history_record>{
        s.column_int64(0), history_record{s.column_int64(1), s.column_text(2), s.column_text(3),
                                          static_cast<int32_t>(s.column_int64(4)), s.column_text(5),
                                          s.column_int64(6)}};
    });
  }

  caf::expected<std::vector<check_attempt>>
  attempts_of(const std::string& tenant, int64_t first_run, int64_t last_run) override {
    auto& st = db_.cached(
      "SELECT run_id, step_path, attempt, status, period_start_ms, period_end_ms, lease_epoch, "
      "started_at_ms, coalesce(finished_at_ms, 0) FROM run_steps WHERE run_id BETWEEN ?1 AND ?2 "
      "AND (?3 = '' OR tenant_id = ?3) ORDER BY run_id, step_path, attempt");
    st.bind_all(first_run, last_run, tenant);
    return all_rows<check_attempt>(st, [](const auto& s) {
      check_attempt a;
      a.run = s.column_int64(0);
      a.step_path = s.column_text(1);
      a.attempt = static_cast<int32_t>(s.column_int64(2));
      // The schema's CHECK admits only known statuses.
      a.status = from_string<step_status>(s.column_text(3)).value_or(step_status::started);
      a.period_start_ms = s.column_int64(4);
      a.period_end_ms = s.column_int64(5);
      a.lease_epoch = s.column_int64(6);
      a.started_at_ms = s.column_int64(7);
      a.finished_at_ms = s.column_int64(8);
      return a;
    });
  }

  caf::expected<std::vector<check_wait>> open_waits_of(const std::string& tenant, int64_t first_run,
                                                       int64_t last_run) override {
    auto& st = db_.cached("SELECT run_id, kind, node_path FROM run_waits WHERE run_id BETWEEN ?1 "
                          "AND ?2 AND (?3 = '' OR tenant_id = ?3) AND resolved_at_ms IS NULL "
                          "ORDER BY run_id, wait_id");
    st.bind_all(first_run, last_run, tenant);
    return all_rows<check_wait>(st, [](const auto& s) {
      return check_wait{s.column_int64(0),
                        from_string<wait_reason>(s.column_text(1)).value_or(wait_reason::none),
                        s.column_text(2)};
    });
  }

  caf::expected<std::vector<check_period>> periods(const std::string& tenant) override {
    auto& st = db_.cached(
      "WITH l AS (SELECT tenant_id, period_start_ms, period_end_ms, count(*) AS n FROM run_steps "
      "WHERE ?1 = '' OR tenant_id = ?1 GROUP BY tenant_id, period_start_ms, period_end_ms), "
      "u AS (SELECT tenant_id, period_start_ms, period_end_ms, used_count FROM usage_periods "
      "WHERE ?1 = '' OR tenant_id = ?1) "
      "SELECT u.tenant_id, u.period_start_ms, u.period_end_ms, 1, u.used_count, coalesce(l.n, 0) "
      "FROM u LEFT JOIN l ON l.tenant_id = u.tenant_id AND l.period_start_ms = u.period_start_ms "
      "AND l.period_end_ms = u.period_end_ms "
      "UNION ALL SELECT l.tenant_id, l.period_start_ms, l.period_end_ms, 0, 0, l.n FROM l "
      "WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.tenant_id = l.tenant_id AND "
      "u.period_start_ms = l.period_start_ms AND u.period_end_ms = l.period_end_ms) "
      "ORDER BY 1, 2, 3");
    st.bind_all(tenant);
    return all_rows<check_period>(st, [](const auto& s) {
      return check_period{s.column_text(0),       s.column_int64(1), s.column_int64(2),
                          s.column_int64(3) != 0, s.column_int64(4), s.column_int64(5)};
    });
  }

  caf::expected<std::vector<std::pair<std::string, std::string>>>
  tenants(const std::string& tenant) override {
    auto& st = db_.cached("SELECT tenant_id, config_json FROM tenants WHERE ?1 = '' OR "
                          "tenant_id = ?1 ORDER BY tenant_id");
    st.bind_all(tenant);
    return all_rows<std::pair<std::string, std::string>>(st, [](const auto& s) {
      return std::pair<std::string, std::string>{s.column_text(0), s.column_text(1)};
    });
  }

  caf::error intervals(const std::string& tenant, int64_t now_ms,
                       const std::function<void(const check_interval&)>& each) override {
    auto& st = db_.cached(
      "SELECT s.tenant_id, s.run_id, s.started_at_ms, "
      "CASE WHEN s.status = 'started' THEN ?2 ELSE s.finished_at_ms END "
      "FROM run_steps s JOIN runs r ON r.run_id = s.run_id "
      "WHERE (?1 = '' OR s.tenant_id = ?1) AND s.status <> 'cut_off' "
      "AND (s.status <> 'started' OR (r.status = 'RUNNING' AND r.lease_epoch = s.lease_epoch "
      "AND r.lease_expires_at_ms > ?2)) "
      "AND (s.status = 'started' OR s.finished_at_ms IS NOT NULL) "
      // A child run's attempt holds no permit while the child runs (the
      // parent waits without its lease); the child's own attempts count.
      "AND NOT EXISTS (SELECT 1 FROM runs c WHERE c.parent_run_id = s.run_id AND "
      "c.parent_node_path = s.step_path AND c.parent_attempt = s.attempt) "
      "ORDER BY s.tenant_id, s.started_at_ms");
    st.bind_all(tenant, now_ms);
    return sql_rows::for_each_row(st, [&](const auto& row) {
      each(check_interval{row.column_text(0), row.column_int64(1), row.column_int64(2),
                          row.column_int64(3)});
    });
  }

  caf::expected<std::vector<node_record>> nodes(int64_t now_ms) override {
    return sql_runs::apply(db_, list_nodes{now_ms});
  }

private:
  Db& db_;
};

template <class Db> caf::expected<check_report> check_in_snapshot(Db& db, const check_database& q) {
  // One read transaction: every rule sees the same snapshot (PostgreSQL's
  // READ COMMITTED would give each statement its own).
  constexpr bool is_pg = std::is_same_v<Db, pg::connection>;
  if (auto err = db.exec(is_pg ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN")) {
    return err;
  }
  source<Db> s{db};
  auto out = check_store(s, q);
  (void)db.exec("COMMIT");
  return out;
}

} // namespace

caf::expected<check_report> apply(sqlite::connection& db, const check_database& q) {
  return check_in_snapshot(db, q);
}

caf::expected<check_report> apply(pg::connection& db, const check_database& q) {
  return check_in_snapshot(db, q);
}

} // namespace flowgate::sql_check
