#include "persistence/sql_run_backend.hpp"

#include "persistence/pg.hpp"
#include "persistence/sql_rows.hpp"
#include "persistence/sqlite.hpp"

#include <algorithm>
#include <memory>
#include <type_traits>
#include <vector>

namespace flowgate {

namespace {

using sql_rows::all_rows;
using sql_rows::first_int;
using sql_rows::optional_row;
using sql_rows::read_run;
using sql_rows::read_schedule;

#define FLOWGATE_LINEAGE_COLUMNS                                                                   \
  "run_id, parent_run_id, parent_node_path, parent_attempt, child_depth, status, "                 \
  "coalesce(output, ''), coalesce(error_type, ''), coalesce(error_message, '')"

// SQLite: the hot statements below run without RETURNING, which makes
// SQLite build (and drop) an ephemeral table per statement: ~1.2 us each,
// three per run (measured on this machine: UPDATE ... RETURNING 2.5 us
// against UPDATE then SELECT by key 1.3 us; INSERT ... RETURNING 1.7 us
// against INSERT and last_insert_rowid 0.5 us). The writer holds the
// database's write lock, so the follow-up read sees the row as the
// statement left it. PostgreSQL keeps RETURNING: one round trip, not two.
#define FLOWGATE_INSERT_RUN                                                                        \
  "INSERT INTO runs (tenant_id, queue, config_tenant_id, config_version, config_checksum, "        \
  "status, input, idempotency_key, next_seq, wake_at_ms, lease_owner, lease_expires_at_ms, "       \
  "lease_epoch, created_at_ms, updated_at_ms, started_at_ms, node_path, lease_incarnation, "       \
  "parent_run_id, parent_node_path, parent_attempt, child_depth, first_plan) "                     \
  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, nullif(?8, ''), ?9, ?10, nullif(?11, ''), ?12, ?13, "       \
  "?14, ?14, nullif(?15, 0), ?16, ?17, ?18, ?19, ?20, ?21, ?22)"

#define FLOWGATE_TAKE_UNIT                                                                         \
  "UPDATE usage_periods SET used_count = used_count + 1, step_limit = ?4, "                        \
  "updated_at_ms = ?5 WHERE tenant_id = ?1 AND period_start_ms = ?2 AND period_end_ms = ?3 "       \
  "AND (?4 < 0 OR used_count < ?4)"

#define FLOWGATE_FENCED_COLUMNS                                                                    \
  "tenant_id, inbox_pending, parent_run_id, parent_node_path, parent_attempt, has_children"
// The fence of an append: its row, owner, epoch, order, incarnation and
// a lease that has not expired, decided by the UPDATE itself.
#define FLOWGATE_FENCED_WHERE                                                                      \
  "WHERE run_id = ?1 AND coalesce(lease_owner, '') = ?2 AND lease_epoch = ?3 AND status = ?4 "     \
  "AND next_seq = ?5 AND lease_incarnation = ?17 AND lease_expires_at_ms > ?7"
#define FLOWGATE_FENCED_UPDATE                                                                     \
  "UPDATE runs SET next_seq = ?5 + ?6, updated_at_ms = ?7, node_path = ?8, first_plan = '', "      \
  "status = ?9, wait_reason = nullif(?10, ''), "                                                   \
  "output = coalesce(nullif(?11, ''), output), "                                                   \
  "error_type = coalesce(nullif(?12, ''), error_type), "                                           \
  "error_message = coalesce(nullif(?13, ''), error_message), "                                     \
  "wake_at_ms = CASE WHEN ?14 <> 0 THEN ?15 ELSE wake_at_ms END, "                                 \
  "lease_owner = CASE WHEN ?14 <> 0 THEN NULL ELSE lease_owner END, "                              \
  "lease_expires_at_ms = CASE WHEN ?14 <> 0 THEN 0 ELSE lease_expires_at_ms END, "                 \
  "lease_incarnation = CASE WHEN ?14 <> 0 THEN 0 ELSE lease_incarnation END, "                     \
  "finished_at_ms = CASE WHEN ?16 <> 0 THEN ?7 ELSE finished_at_ms END " FLOWGATE_FENCED_WHERE

// SQLite rewrites an index entry whenever an UPDATE's SET names one of its
// columns, whether or not the value changes: the statement above moves the
// run's entries in runs_tenant_due and runs_lease_holder (a delete and an
// insert each) even for an append that keeps the run RUNNING under its
// lease. This one, for exactly those appends (a step's end and the next
// step's start; a claim recording a kept first step), leaves the status,
// the wake time and the lease out of SET, so no index entry moves. Same
// WHERE, same parameters. PostgreSQL compares values (a HOT update when no
// indexed value changes): it keeps the one statement.
#define FLOWGATE_FENCED_KEEP                                                                       \
  "UPDATE runs SET next_seq = ?5 + ?6, updated_at_ms = ?7, node_path = ?8, first_plan = '', "      \
  "wait_reason = nullif(?10, ''), "                                                                \
  "output = coalesce(nullif(?11, ''), output), "                                                   \
  "error_type = coalesce(nullif(?12, ''), error_type), "                                           \
  "error_message = coalesce(nullif(?13, ''), error_message) " FLOWGATE_FENCED_WHERE                \
  " AND ?9 = ?4 AND ?14 = 0 AND ?16 = 0 AND ?15 = ?15"

template <class St> run_lineage read_lineage(const St& st) {
  run_lineage l;
  l.run = st.column_int64(0);
  l.parent = st.column_int64(1);
  l.parent_node_path = st.column_text(2);
  l.parent_attempt = static_cast<int32_t>(st.column_int64(3));
  l.depth = static_cast<int32_t>(st.column_int64(4));
  l.status = from_string<run_status>(st.column_text(5)).value_or(run_status::failed);
  l.output = st.column_text(6);
  l.error_type = st.column_text(7);
  l.error_message = st.column_text(8);
  return l;
}

#define FLOWGATE_OWNER_SELECT                                                                      \
  "SELECT o.tenant_id, o.owner, o.incarnation, o.epoch, o.expires_at_ms, "                         \
  "coalesce(n.claimed_at_ms, 0), coalesce(n.room, 0) FROM tenant_owners o LEFT JOIN nodes n "      \
  "ON n.node_id = o.owner "                                                                        \
  "AND n.incarnation = o.incarnation"

template <class St> tenant_owner_row owner_of_row(const St& st) {
  return tenant_owner_row{st.column_text(0),  st.column_text(1),  st.column_int64(2),
                          st.column_int64(3), st.column_int64(4), st.column_int64(5),
                          st.column_int64(6)};
}

/// The first row of a run query, if any.
template <class St> caf::expected<std::optional<run_record>> first_run(St& st) {
  auto rows = all_rows<run_record>(st, read_run<St>);
  if (!rows) {
    return rows.error();
  }
  if (rows->empty()) {
    return std::optional<run_record>{};
  }
  return std::optional<run_record>{std::move(rows->front())};
}

/// `Db`: sqlite::connection or pg::connection. The SQL is the same for
/// both (pg::statement rewrites `?N` to `$N` and sends typed parameters);
/// it avoids what only one of them has (scalar min/max, integer booleans).
template <class Db> class sql_run_backend final : public run_backend {
public:
  explicit sql_run_backend(Db& db) : db_(db) {}

  // -- tenants -------------------------------------------------------------------

  caf::expected<std::optional<std::string>> tenant_config(const std::string& tenant) override {
    auto& st = db_.cached("SELECT config_json FROM tenants WHERE tenant_id = ?1");
    st.bind_all(tenant);
    return optional_row<std::string>(st, [](const auto& row) { return row.column_text(0); });
  }

  caf::expected<std::optional<std::string>> pipeline_document(const std::string& tenant,
                                                              const std::string& queue,
                                                              const std::string& version) override {
    auto& st = db_.cached("SELECT document FROM pipeline_configs WHERE tenant_id = ?1 AND "
                          "queue = ?2 AND version = ?3");
    st.bind_all(tenant, queue, version);
    return optional_row<std::string>(st, [](const auto& row) { return row.column_text(0); });
  }

  caf::expected<std::vector<std::pair<std::string, std::string>>> tenant_configs() override {
    auto& st = db_.cached("SELECT tenant_id, config_json FROM tenants ORDER BY tenant_id");
    return all_rows<std::pair<std::string, std::string>>(
      st, [](const auto& row) { return std::make_pair(row.column_text(0), row.column_text(1)); });
  }

  caf::error lock_tenant(const std::string& tenant) override {
    if constexpr (std::is_same_v<Db, sqlite::connection>) {
      return {}; // the write transaction holds the database's write lock
    } else {
      // The tenant's row lock, held until the transaction ends.
      auto& st = db_.cached("SELECT 1 FROM tenants WHERE tenant_id = ?1 FOR UPDATE");
      st.bind_all(tenant);
      return st.run();
    }
  }

  caf::expected<bool> try_lock_tenant(const std::string& tenant) override {
    if constexpr (std::is_same_v<Db, sqlite::connection>) {
      (void)tenant;
      return true; // the write transaction holds the database's write lock
    } else {
      auto& st = db_.cached("SELECT 1 FROM tenants WHERE tenant_id = ?1 FOR UPDATE SKIP LOCKED");
      st.bind_all(tenant);
      auto row = optional_row<int64_t>(st, [](const auto& r) { return r.column_int64(0); });
      if (!row) {
        return row.error();
      }
      return row->has_value();
    }
  }

  caf::expected<int64_t> count_live_running(const std::string& tenant, int64_t now_ms) override {
    if constexpr (std::is_same_v<Db, sqlite::connection>) {
      // One writer at a time, its time read after it took the write lock:
      // no renewal can commit later with an earlier time.
      auto& st =
        db_.cached("SELECT count(*) FROM runs WHERE tenant_id = ?1 AND " FLOWGATE_UNFINISHED_LITE
                   " AND status = 'RUNNING' AND lease_expires_at_ms > ?2");
      st.bind_all(tenant, now_ms);
      return first_int(st);
    } else {
      // Transactions overlap here. A renewal another node's transaction
      // made with its (earlier) time but has not committed yet is invisible
      // to this count; counting its expired lease as a free permit and
      // admitting another run on it would let the renewal commit over the
      // limit. So every expired lease counted free is revoked in the same
      // statement (expiry 0, which no renewal or append matches), and one
      // whose row another transaction holds is counted as still live.
      auto& st = db_.cached(
        "WITH expired AS (SELECT run_id FROM runs WHERE tenant_id = ?1 AND " FLOWGATE_UNFINISHED_PG
        " AND status = 'RUNNING' AND lease_expires_at_ms > 0 AND lease_expires_at_ms <= ?2 "
        "FOR UPDATE SKIP LOCKED), "
        "revoked AS (UPDATE runs r SET lease_expires_at_ms = 0 FROM expired e "
        "WHERE r.run_id = e.run_id RETURNING r.run_id) "
        "SELECT (SELECT count(*) FROM runs WHERE tenant_id = ?1 AND " FLOWGATE_UNFINISHED_PG
        " AND status = 'RUNNING' AND lease_expires_at_ms > 0) - (SELECT count(*) FROM revoked)");
      st.bind_all(tenant, now_ms);
      return first_int(st);
    }
  }

  caf::expected<int64_t> count_active(const std::string& tenant) override {
    constexpr bool lite = std::is_same_v<Db, sqlite::connection>;
#define FLOWGATE_COUNT_ACTIVE(unfinished)                                                          \
  "SELECT count(*) FROM runs WHERE tenant_id = ?1 AND " unfinished
    auto& st = db_.cached(FLOWGATE_WITH_UNFINISHED(lite, FLOWGATE_COUNT_ACTIVE));
#undef FLOWGATE_COUNT_ACTIVE
    st.bind_all(tenant);
    return first_int(st);
  }

  caf::expected<int64_t> count_held(const std::string& tenant, const std::string& owner,
                                    int64_t incarnation, int64_t now_ms) override {
    constexpr bool lite = std::is_same_v<Db, sqlite::connection>;
#define FLOWGATE_COUNT_HELD(unfinished)                                                            \
  "SELECT count(*) FROM runs WHERE tenant_id = ?1 AND " unfinished                                 \
  " AND status = 'RUNNING' AND lease_expires_at_ms > ?2 AND lease_owner = ?3 AND "                 \
  "lease_incarnation = ?4"
    auto& st = db_.cached(FLOWGATE_WITH_UNFINISHED(lite, FLOWGATE_COUNT_HELD));
#undef FLOWGATE_COUNT_HELD
    st.bind_all(tenant, now_ms, owner, incarnation);
    return first_int(st);
  }

  caf::error count_refusal(const std::string& tenant, rejection_reason reason,
                           int64_t now_ms) override {
    auto& st = db_.cached(
      "INSERT INTO tenant_rejections (tenant_id, reason, rejected, updated_at_ms) "
      "VALUES (?1, ?2, 1, ?3) ON CONFLICT (tenant_id, reason) DO UPDATE SET "
      "rejected = tenant_rejections.rejected + 1, updated_at_ms = excluded.updated_at_ms");
    st.bind_all(tenant, reason, now_ms);
    return st.run();
  }

  // -- runs ----------------------------------------------------------------------

  caf::expected<std::optional<run_record>> find_run(int64_t run) override {
    auto& st = db_.cached("SELECT " FLOWGATE_RUN_COLUMNS " FROM runs WHERE run_id = ?1");
    st.bind_all(run);
    return first_run(st);
  }

  caf::expected<std::optional<run_record>> find_run_by_key(const std::string& tenant,
                                                           const std::string& key) override {
    auto& st = db_.cached("SELECT " FLOWGATE_RUN_COLUMNS
                          " FROM runs WHERE tenant_id = ?1 AND idempotency_key = ?2");
    st.bind_all(tenant, key);
    return first_run(st);
  }

  caf::expected<int64_t> insert_run(const new_run_row& n) override {
    const auto& r = n.run;
    constexpr bool lite = std::is_same_v<Db, sqlite::connection>;
    auto& st = db_.cached(lite ? FLOWGATE_INSERT_RUN : FLOWGATE_INSERT_RUN " RETURNING run_id");
    st.bind_all(r.tenant.value, r.queue.value, r.config_tenant.value, r.version.value, r.checksum,
                n.status, r.input, r.idempotency_key, n.next_seq, n.wake_at_ms, n.lease_owner,
                n.lease_expires_at_ms, n.lease_epoch, n.now_ms, n.started_at_ms, n.node_path,
                n.lease_incarnation, n.parent_run, n.parent_node_path, int64_t{n.parent_attempt},
                int64_t{n.child_depth}, n.first_plan);
    if constexpr (lite) {
      if (auto err = st.run()) {
        return err;
      }
      return db_.last_insert_rowid();
    }
    auto row = st.step();
    auto id = row && *row ? st.column_int64(0) : 0;
    st.reset();
    if (!row) {
      return row.error();
    }
    return id;
  }

  caf::expected<std::vector<int64_t>> due_runs(const std::string& tenant, run_status status,
                                               int64_t now_ms, int64_t limit) override {
    // Index runs_tenant_due (a class of unfinished runs: PENDING, RUNNING
    // or WAITING); a RUNNING run's wake time is its lease expiry.
    // PostgreSQL: a row another transaction is changing (a renewal in
    // flight) is skipped, not waited for: this claim holds tenant locks,
    // and that transaction may be waiting for one of them.
    auto& st =
      db_.cached(std::is_same_v<Db, sqlite::connection>
                   ? "SELECT run_id FROM runs WHERE tenant_id = ?1 AND " FLOWGATE_UNFINISHED_LITE
                     " AND status = ?2 AND wake_at_ms <= ?3 AND lease_expires_at_ms "
                     "<= ?3 ORDER BY wake_at_ms, run_id LIMIT ?4"
                   : "SELECT run_id FROM runs WHERE tenant_id = ?1 AND " FLOWGATE_UNFINISHED_PG
                     " AND status = ?2 AND wake_at_ms <= ?3 AND lease_expires_at_ms "
                     "<= ?3 ORDER BY wake_at_ms, run_id LIMIT ?4 FOR UPDATE SKIP LOCKED");
    st.bind_all(tenant, status, now_ms, limit);
    return all_rows<int64_t>(st, [](const auto& row) { return row.column_int64(0); });
  }

  caf::expected<std::optional<claimed_run>> claim_run(int64_t run, const lease_grant& g) override {
    constexpr bool lite = std::is_same_v<Db, sqlite::connection>;
#define FLOWGATE_CLAIM_RUN(unfinished)                                                             \
  "UPDATE runs SET status = 'RUNNING', wait_reason = NULL, lease_owner = ?2, "                     \
  "lease_incarnation = ?5, lease_expires_at_ms = ?4, wake_at_ms = ?4, "                            \
  "lease_epoch = lease_epoch + 1, updated_at_ms = ?3, "                                            \
  "started_at_ms = coalesce(started_at_ms, ?3) WHERE run_id = ?1 AND " unfinished                  \
  " AND wake_at_ms <= ?3 AND lease_expires_at_ms <= ?3"
#define FLOWGATE_CLAIMED_COLUMNS FLOWGATE_RUN_COLUMNS ", first_plan, inbox_pending"
    auto& st = db_.cached(
      lite ? FLOWGATE_CLAIM_RUN(FLOWGATE_UNFINISHED_LITE)
           : FLOWGATE_CLAIM_RUN(FLOWGATE_UNFINISHED_PG) " RETURNING " FLOWGATE_CLAIMED_COLUMNS);
    st.bind_all(run, g.owner, g.now_ms, g.expires_at_ms, g.incarnation);
    auto read = [](const auto& row) {
      return claimed_run{read_run(row), row.column_text(sql_rows::run_columns),
                         row.column_int64(sql_rows::run_columns + 1) != 0};
    };
    if constexpr (lite) {
      // The UPDATE decided (due, lease free); this reads the row it changed.
      return if_changed<claimed_run>(st, [&] {
        auto& q = db_.cached("SELECT " FLOWGATE_CLAIMED_COLUMNS " FROM runs WHERE run_id = ?1");
        q.bind_all(run);
        return optional_row<claimed_run>(q, read);
      });
    }
    return optional_row<claimed_run>(st, read);
#undef FLOWGATE_CLAIMED_COLUMNS
#undef FLOWGATE_CLAIM_RUN
  }

  // The fenced statements below find their row by run_id; the owner is
  // compared as coalesce(lease_owner, '') so that PostgreSQL's generic plan
  // for a prepared statement cannot pick runs_lease_holder (owner,
  // incarnation) instead of the primary key: with that index an append
  // scanned every run the node held (638 us per append at 5,000 held runs).
  caf::expected<std::optional<fenced_row>> fenced_update(const fenced_run_update& u) override {
    const auto& c = *u.change;
    constexpr bool lite = std::is_same_v<Db, sqlite::connection>;
    bool keep = c.status == run_status::running && !u.leaving && !u.terminal;
    auto& st = db_.cached(lite ? (keep ? FLOWGATE_FENCED_KEEP : FLOWGATE_FENCED_UPDATE)
                               : FLOWGATE_FENCED_UPDATE " RETURNING " FLOWGATE_FENCED_COLUMNS);
    st.bind_all(u.run, u.owner, u.epoch, run_status::running, u.expected_seq, u.events, u.now_ms,
                c.node_path, c.status, c.wait_reason, c.output, c.error_type, c.error_message,
                int64_t{u.leaving}, u.terminal ? int64_t{0} : c.wake_at_ms, int64_t{u.terminal},
                u.incarnation);
    auto read = [](const auto& row) {
      return fenced_row{row.column_text(0),
                        row.column_int64(1) != 0,
                        row.column_int64(2),
                        row.column_text(3),
                        static_cast<int32_t>(row.column_int64(4)),
                        row.column_int64(5) != 0};
    };
    if constexpr (lite) {
      // The UPDATE decided (owner, epoch, incarnation, order); this reads
      // the row it changed.
      return if_changed<fenced_row>(st, [&] {
        auto& q = db_.cached("SELECT " FLOWGATE_FENCED_COLUMNS " FROM runs WHERE run_id = ?1");
        q.bind_all(u.run);
        return optional_row<fenced_row>(q, read);
      });
    }
    return optional_row<fenced_row>(st, read);
  }

  caf::error pause_new_run(int64_t run, const std::string& node_path, int64_t wake_at_ms) override {
    auto& st =
      db_.cached("UPDATE runs SET status = 'WAITING', wait_reason = 'quota', node_path = ?2, "
                 "next_seq = 2, wake_at_ms = ?3, lease_owner = NULL, lease_expires_at_ms = 0, "
                 "lease_incarnation = 0 WHERE run_id = ?1");
    st.bind_all(run, node_path, wake_at_ms);
    return st.run();
  }

  caf::error wake_run(int64_t run, int64_t now_ms) override {
    auto& st = db_.cached("UPDATE runs SET wake_at_ms = CASE WHEN ?2 < wake_at_ms THEN ?2 ELSE "
                          "wake_at_ms END WHERE run_id = ?1");
    st.bind_all(run, now_ms);
    return st.run();
  }

  caf::error set_inbox_taken(int64_t run, int64_t next_seq) override {
    auto& st = db_.cached("UPDATE runs SET next_seq = ?2, inbox_pending = 0 WHERE run_id = ?1");
    st.bind_all(run, next_seq);
    return st.run();
  }

  caf::error set_next_seq(int64_t run, int64_t next_seq) override {
    auto& st = db_.cached("UPDATE runs SET next_seq = ?2 WHERE run_id = ?1");
    st.bind_all(run, next_seq);
    return st.run();
  }

  caf::error mark_inbox_pending(int64_t run, int64_t now_ms, bool due_now) override {
    auto& st = db_.cached("UPDATE runs SET inbox_pending = 1, wake_at_ms = CASE WHEN ?3 <> 0 "
                          "AND ?2 < wake_at_ms THEN ?2 ELSE wake_at_ms END WHERE run_id = ?1");
    st.bind_all(run, now_ms, int64_t{due_now});
    return st.run();
  }

  caf::error cancel_run_row(int64_t run, const std::string& reason, int64_t now_ms) override {
    auto& st = db_.cached(
      "UPDATE runs SET status = 'CANCELED', next_seq = next_seq + 1, wait_reason = NULL, "
      "error_type = 'canceled', error_message = ?2, lease_owner = NULL, lease_expires_at_ms = 0, "
      "lease_incarnation = 0, inbox_pending = 0, wake_at_ms = 0, updated_at_ms = ?3, "
      "finished_at_ms = ?3 WHERE run_id = ?1");
    st.bind_all(run, reason, now_ms);
    return st.run();
  }

  caf::expected<bool> resume_run_row(int64_t run, int64_t now_ms) override {
    auto& st = db_.cached("UPDATE runs SET wait_reason = 'resumed', wake_at_ms = ?2, "
                          "updated_at_ms = ?2 WHERE run_id = ?1 AND status = 'WAITING' "
                          "AND wait_reason = 'quota'");
    st.bind_all(run, now_ms);
    return changed_one(st);
  }

  // -- leases ----------------------------------------------------------------------

  caf::expected<bool> renew_lease(int64_t run, const std::string& owner, int64_t incarnation,
                                  int64_t epoch, int64_t expires_at_ms, int64_t now_ms) override {
    auto& st =
      db_.cached("UPDATE runs SET lease_expires_at_ms = ?4, wake_at_ms = ?4 "
                 "WHERE run_id = ?1 AND coalesce(lease_owner, '') = ?2 AND lease_epoch = ?3 "
                 "AND lease_incarnation = ?6 AND status = 'RUNNING' "
                 "AND lease_expires_at_ms > ?5");
    st.bind_all(run, owner, epoch, expires_at_ms, now_ms, incarnation);
    return changed_one(st);
  }

  caf::expected<bool> release_lease(int64_t run, const std::string& owner, int64_t incarnation,
                                    int64_t epoch, int64_t now_ms) override {
    auto& st =
      db_.cached("UPDATE runs SET lease_owner = NULL, lease_expires_at_ms = 0, "
                 "lease_incarnation = 0, wake_at_ms = ?4, updated_at_ms = ?4 "
                 "WHERE run_id = ?1 AND coalesce(lease_owner, '') = ?2 AND lease_epoch = ?3 "
                 "AND lease_incarnation = ?5 AND status = 'RUNNING'");
    st.bind_all(run, owner, epoch, now_ms, incarnation);
    return changed_one(st);
  }

  caf::expected<int64_t> release_all_leases(const std::string& owner, int64_t incarnation,
                                            int64_t now_ms) override {
    auto& st = db_.cached("UPDATE runs SET lease_owner = NULL, lease_expires_at_ms = 0, "
                          "lease_incarnation = 0, wake_at_ms = ?3, updated_at_ms = ?3 "
                          "WHERE lease_owner = ?1 AND lease_incarnation = ?2 "
                          "AND status = 'RUNNING'");
    st.bind_all(owner, incarnation, now_ms);
    return rows_changed(st);
  }

  // -- history ---------------------------------------------------------------------

  caf::error insert_event(int64_t run, const std::string& tenant, const history_record& e,
                          int64_t now_ms) override {
    auto& st =
      db_.cached("INSERT INTO run_events (run_id, seq, tenant_id, event_type, node_path, "
                 "attempt, payload, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    st.bind_all(run, e.seq, tenant, e.type, e.node_path, e.attempt, e.payload, now_ms);
    return st.run();
  }

  caf::error insert_events(int64_t run, const std::string& tenant,
                           const std::vector<history_record>& events, int64_t now_ms) override {
    if constexpr (std::is_same_v<Db, pg::connection>) {
      if (events.size() > 1) {
        // One statement for the lot: the columns travel as arrays.
        auto& st = db_.cached(
          "INSERT INTO run_events (run_id, seq, tenant_id, event_type, node_path, attempt, "
          "payload, created_at_ms) SELECT ?1, e.seq, ?2, e.event_type, e.node_path, e.attempt, "
          "e.payload, ?3 FROM unnest(?4::bigint[], ?5::text[], ?6::text[], ?7::bigint[], "
          "?8::text[]) AS e (seq, event_type, node_path, attempt, payload)");
        pg::array_literal seqs, types, paths, attempts, payloads;
        for (const auto& e : events) {
          seqs.add(e.seq);
          types.add(e.type);
          paths.add(e.node_path);
          attempts.add(e.attempt);
          payloads.add(e.payload);
        }
        st.bind_all(run, tenant, now_ms, seqs.text(), types.text(), paths.text(), attempts.text(),
                    payloads.text());
        return st.run();
      }
    }
    for (const auto& e : events) {
      if (auto err = insert_event(run, tenant, e, now_ms)) {
        return err;
      }
    }
    return {};
  }

  // -- ledger and usage ------------------------------------------------------------

  // An attempt's start and end are the times the check sweeps to prove that
  // a tenant never had more runs in attempts than its limit. PostgreSQL
  // stamps them with its own clock as the statement runs: a writer's clock
  // is the server's read at BEGIN plus the time since, ahead of it by up to
  // that round trip, and two nodes' leads differ; a run admitted on one
  // node just after a run finished on the other could then look as if the
  // two overlapped. The server's clock orders them as their commits do.
  // (SQLite: one writer at a time, its clock read under the write lock.)
  caf::expected<bool> insert_attempt(const reserve_step& r, const std::string& node,
                                     int64_t epoch) override {
    if constexpr (std::is_same_v<Db, sqlite::connection>) {
      auto& st = db_.cached(
        "INSERT INTO run_steps (run_id, step_path, attempt, tenant_id, status, period_start_ms, "
        "period_end_ms, node_id, lease_epoch, started_at_ms) VALUES (?1, ?2, ?3, ?4, 'started', "
        "?5, ?6, nullif(?7, ''), ?8, ?9) ON CONFLICT (run_id, step_path, attempt) DO NOTHING");
      st.bind_all(r.run.value, r.step_path, r.attempt, r.tenant.value, r.period_start_ms,
                  r.period_end_ms, node, epoch, r.now_ms);
      return changed_one(st);
    } else {
      auto& st = db_.cached(
        "INSERT INTO run_steps (run_id, step_path, attempt, tenant_id, status, period_start_ms, "
        "period_end_ms, node_id, lease_epoch, started_at_ms) VALUES (?1, ?2, ?3, ?4, 'started', "
        "?5, ?6, nullif(?7, ''), ?8, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) "
        "ON CONFLICT (run_id, step_path, attempt) DO NOTHING");
      st.bind_all(r.run.value, r.step_path, r.attempt, r.tenant.value, r.period_start_ms,
                  r.period_end_ms, node, epoch);
      return changed_one(st);
    }
  }

  caf::error delete_attempt(int64_t run, const std::string& step_path, int32_t attempt) override {
    auto& st =
      db_.cached("DELETE FROM run_steps WHERE run_id = ?1 AND step_path = ?2 AND attempt = ?3");
    st.bind_all(run, step_path, attempt);
    return st.run();
  }

  caf::expected<bool> finish_attempt(int64_t run, const step_change& s, int64_t now_ms) override {
    // ?5 on SQLite; on PostgreSQL the server's clock (see insert_attempt), never
    // before the attempt's start (see insert_attempt).
    auto& st = db_.cached(
      std::is_same_v<Db, sqlite::connection>
        ? "UPDATE run_steps SET status = ?4, finished_at_ms = ?5, error_type = nullif(?6, ''), "
          "error_message = nullif(?7, '') WHERE run_id = ?1 AND step_path = ?2 AND attempt = ?3 "
          "AND status = 'started'"
        : "UPDATE run_steps SET status = ?4, finished_at_ms = greatest(started_at_ms, "
          "(extract(epoch FROM clock_timestamp()) * 1000)::bigint + 0 * ?5), "
          "error_type = nullif(?6, ''), error_message = nullif(?7, '') WHERE run_id = ?1 AND "
          "step_path = ?2 AND attempt = ?3 AND status = 'started'");
    st.bind_all(run, s.step_path, s.attempt, s.status, now_ms, s.error_type, s.error_message);
    return changed_one(st);
  }

  caf::error cancel_started_attempts(int64_t run, int64_t now_ms) override {
    auto& st = db_.cached(std::is_same_v<Db, sqlite::connection>
                            ? "UPDATE run_steps SET status = 'canceled', finished_at_ms = ?2 "
                              "WHERE run_id = ?1 AND status = 'started'"
                            : "UPDATE run_steps SET status = 'canceled', finished_at_ms = "
                              "greatest(started_at_ms, (extract(epoch FROM clock_timestamp()) * "
                              "1000)::bigint + 0 * ?2) WHERE run_id = ?1 AND status = 'started'");
    st.bind_all(run, now_ms);
    return st.run();
  }

  caf::expected<usage_count> usage_counter(const std::string& tenant, int64_t period_start_ms,
                                           int64_t period_end_ms) override {
    auto& st = db_.cached("SELECT used_count FROM usage_periods WHERE tenant_id = ?1 "
                          "AND period_start_ms = ?2 AND period_end_ms = ?3");
    st.bind_all(tenant, period_start_ms, period_end_ms);
    auto row = st.step();
    usage_count out{row && *row, row && *row ? st.column_int64(0) : 0};
    st.reset();
    if (!row) {
      return row.error();
    }
    return out;
  }

  caf::expected<std::optional<int64_t>> take_usage_unit(const std::string& tenant,
                                                        int64_t period_start_ms,
                                                        int64_t period_end_ms, int64_t limit,
                                                        int64_t now_ms, bool read_count) override {
    constexpr bool lite = std::is_same_v<Db, sqlite::connection>;
    auto& st = db_.cached(lite ? FLOWGATE_TAKE_UNIT : FLOWGATE_TAKE_UNIT " RETURNING used_count");
    st.bind_all(tenant, period_start_ms, period_end_ms, limit, now_ms);
    auto read = [](const auto& row) { return row.column_int64(0); };
    if constexpr (lite) {
      if (!read_count) {
        return if_changed<int64_t>(st, [] { return std::optional<int64_t>{0}; });
      }
      // The UPDATE decided (under the limit); this reads the count it left.
      return if_changed<int64_t>(st, [&] {
        auto& q = db_.cached("SELECT used_count FROM usage_periods WHERE tenant_id = ?1 "
                             "AND period_start_ms = ?2 AND period_end_ms = ?3");
        q.bind_all(tenant, period_start_ms, period_end_ms);
        return optional_row<int64_t>(q, read);
      });
    }
    return optional_row<int64_t>(st, read);
  }

  caf::error create_usage_counter(const std::string& tenant, int64_t period_start_ms,
                                  int64_t period_end_ms, int64_t limit, int64_t now_ms) override {
    auto& st = db_.cached(
      "INSERT INTO usage_periods (tenant_id, period_start_ms, period_end_ms, used_count, "
      "step_limit, updated_at_ms) VALUES (?1, ?2, ?3, 0, ?4, ?5) "
      "ON CONFLICT (tenant_id, period_start_ms, period_end_ms) DO NOTHING");
    st.bind_all(tenant, period_start_ms, period_end_ms, limit, now_ms);
    return st.run();
  }

  // -- waits -----------------------------------------------------------------------

  caf::error open_wait(int64_t run, const std::string& tenant, wait_reason kind,
                       const std::string& node_path, const std::string& event_name,
                       int64_t wake_at_ms, int64_t now_ms) override {
    auto& st = db_.cached("INSERT INTO run_waits (run_id, tenant_id, kind, node_path, "
                          "event_name, wake_at_ms, created_at_ms) VALUES (?1, ?2, ?3, ?4, "
                          "nullif(?5, ''), ?6, ?7)");
    st.bind_all(run, tenant, kind, node_path, event_name, wake_at_ms, now_ms);
    return st.run();
  }

  caf::error resolve_waits(int64_t run, const std::string& resolution, int64_t now_ms) override {
    auto& st = db_.cached("UPDATE run_waits SET resolved_at_ms = ?2, resolution = ?3 "
                          "WHERE run_id = ?1 AND resolved_at_ms IS NULL");
    st.bind_all(run, now_ms, resolution);
    return st.run();
  }

  caf::expected<std::vector<int64_t>> quota_waits(const std::string& tenant,
                                                  int64_t limit) override {
    auto& st = db_.cached("SELECT run_id FROM run_waits WHERE kind = 'quota' AND tenant_id = ?1 "
                          "AND resolved_at_ms IS NULL AND resolution IS NULL "
                          "ORDER BY wait_id LIMIT ?2");
    st.bind_all(tenant, limit);
    return all_rows<int64_t>(st, [](const auto& row) { return row.column_int64(0); });
  }

  caf::expected<int64_t> count_resuming(const std::string& tenant) override {
    auto& st = db_.cached("SELECT count(*) FROM run_waits WHERE kind = 'quota' "
                          "AND tenant_id = ?1 AND resolved_at_ms IS NULL "
                          "AND resolution = 'resuming'");
    st.bind_all(tenant);
    return first_int(st);
  }

  caf::expected<bool> mark_resuming(int64_t run) override {
    auto& st = db_.cached("UPDATE run_waits SET resolution = 'resuming' WHERE run_id = ?1 "
                          "AND kind = 'quota' AND resolved_at_ms IS NULL AND resolution IS NULL");
    st.bind_all(run);
    auto changed = rows_changed(st);
    if (!changed) {
      return changed.error();
    }
    return *changed > 0;
  }

  // -- inbox -----------------------------------------------------------------------

  caf::expected<std::vector<inbox_entry>> inbox(int64_t run) override {
    auto& st = db_.cached("SELECT signal_id, kind, event_name, payload FROM run_signals "
                          "WHERE run_id = ?1 AND consumed_seq IS NULL ORDER BY signal_id");
    st.bind_all(run);
    return all_rows<inbox_entry>(st, [](const auto& row) {
      return inbox_entry{row.column_int64(0), row.column_text(1), row.column_text(2),
                         row.column_text(3)};
    });
  }

  caf::error consume_inbox_entry(int64_t entry, int64_t seq) override {
    auto& st = db_.cached("UPDATE run_signals SET consumed_seq = ?2 WHERE signal_id = ?1");
    st.bind_all(entry, seq);
    return st.run();
  }

  caf::error drop_inbox(int64_t run) override {
    auto& st = db_.cached("UPDATE run_signals SET consumed_seq = 0 WHERE run_id = ?1 AND "
                          "consumed_seq IS NULL");
    st.bind_all(run);
    return st.run();
  }

  caf::expected<int64_t> insert_inbox_entry(int64_t run, const std::string& tenant,
                                            const std::string& kind, const std::string& event,
                                            const std::string& payload, int64_t now_ms) override {
    auto& st = db_.cached("INSERT INTO run_signals (run_id, tenant_id, kind, event_name, "
                          "payload, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                          "RETURNING signal_id");
    st.bind_all(run, tenant, kind, event, payload, now_ms);
    auto row = st.step();
    auto id = row && *row ? st.column_int64(0) : 0;
    st.reset();
    if (!row) {
      return row.error();
    }
    return id;
  }

  // -- membership ------------------------------------------------------------------

  caf::expected<std::optional<node_registration>> registration(const std::string& node) override {
    auto& st = db_.cached("SELECT incarnation, pid, host, heartbeat_at_ms, ttl_ms, "
                          "stopped_at_ms IS NOT NULL FROM nodes WHERE node_id = ?1");
    st.bind_all(node);
    return optional_row<node_registration>(st, [](const auto& row) {
      return node_registration{row.column_int64(0), row.column_int64(1), row.column_text(2),
                               row.column_int64(3), row.column_int64(4), row.column_int64(5) != 0};
    });
  }

  caf::error put_registration(const register_node& op, int64_t incarnation) override {
    forget_beats(op.node.value);
    auto& st = db_.cached(
      "INSERT INTO nodes (node_id, address, pid, started_at_ms, heartbeat_at_ms, stopped_at_ms, "
      "incarnation, host, ttl_ms) VALUES (?1, ?2, ?3, ?4, ?4, NULL, ?5, ?6, ?7) "
      "ON CONFLICT (node_id) DO UPDATE SET address = excluded.address, pid = excluded.pid, "
      "started_at_ms = excluded.started_at_ms, heartbeat_at_ms = excluded.heartbeat_at_ms, "
      "stopped_at_ms = NULL, incarnation = excluded.incarnation, host = excluded.host, "
      "ttl_ms = excluded.ttl_ms");
    st.bind_all(op.node.value, op.address, op.pid, op.now_ms, incarnation, op.host, op.ttl_ms);
    return st.run();
  }

  caf::expected<bool> heartbeat(const std::string& node, int64_t incarnation,
                                int64_t now_ms) override {
    for (auto& b : beats_) {
      if (b.node == node && b.incarnation == incarnation) {
        b.latest_ms = std::max(b.latest_ms, now_ms); // the row is ours until commit
        return true;
      }
    }
    auto ok = write_heartbeat(node, incarnation, now_ms);
    if (ok && *ok) {
      beats_.push_back(beat{node, incarnation, now_ms, now_ms, operation_});
    }
    return ok;
  }

  void operation_began() override {
    ++operation_;
  }

  void operation_rolled_back() override {
    std::erase_if(beats_, [this](const beat& b) { return b.operation == operation_; });
  }

  caf::error before_commit() override {
    auto beats = std::move(beats_);
    beats_.clear();
    for (const auto& b : beats) {
      if (b.latest_ms == b.written_ms) {
        continue;
      }
      auto ok = write_heartbeat(b.node, b.incarnation, b.latest_ms);
      if (!ok) {
        return ok.error();
      }
      if (!*ok) { // cannot happen while the row lock is held; never silently
        return make_error(errc::store_failure, "node '" + b.node +
                                                 "': the heartbeat row changed inside the "
                                                 "transaction that holds its lock");
      }
    }
    return {};
  }

  void transaction_rolled_back() override {
    beats_.clear();
  }

  caf::expected<bool> mark_stopped(const std::string& node, int64_t incarnation,
                                   int64_t now_ms) override {
    forget_beats(node);
    auto& st = db_.cached("UPDATE nodes SET stopped_at_ms = ?3 WHERE node_id = ?1 AND "
                          "incarnation = ?2 AND stopped_at_ms IS NULL");
    st.bind_all(node, incarnation, now_ms);
    return changed_one(st);
  }

  caf::error mark_claimed(const std::string& node, int64_t incarnation, int64_t now_ms,
                          int64_t room) override {
    auto& st = db_.cached("UPDATE nodes SET claimed_at_ms = ?3, room = ?4 WHERE node_id = ?1 AND "
                          "incarnation = ?2");
    st.bind_all(node, incarnation, now_ms, room);
    return st.run();
  }

  caf::expected<std::vector<live_node>> live_nodes(int64_t now_ms) override {
    auto& st = db_.cached("SELECT node_id, incarnation, claimed_at_ms, address FROM nodes WHERE "
                          "incarnation > 0 AND stopped_at_ms IS NULL AND heartbeat_at_ms + ttl_ms "
                          "> ?1 ORDER BY node_id");
    st.bind_all(now_ms);
    return all_rows<live_node>(st, [](const auto& row) {
      return live_node{row.column_text(0), row.column_int64(1), row.column_int64(2),
                       row.column_text(3)};
    });
  }

  // -- tenant ownership ------------------------------------------------------------

  caf::expected<std::optional<tenant_owner_row>> tenant_owner(const std::string& tenant) override {
    auto& st = db_.cached(FLOWGATE_OWNER_SELECT " WHERE o.tenant_id = ?1");
    st.bind_all(tenant);
    return optional_row<tenant_owner_row>(st, [](const auto& row) { return owner_of_row(row); });
  }

  caf::expected<std::vector<tenant_owner_row>> tenant_owners() override {
    auto& st = db_.cached(FLOWGATE_OWNER_SELECT " ORDER BY o.tenant_id");
    return all_rows<tenant_owner_row>(st, [](const auto& row) { return owner_of_row(row); });
  }

  caf::expected<bool> take_tenant(const std::string& tenant, const std::string& owner,
                                  int64_t incarnation, int64_t now_ms,
                                  int64_t expires_at_ms) override {
    auto& st = db_.cached(
      "INSERT INTO tenant_owners (tenant_id, owner, incarnation, epoch, expires_at_ms, since_ms) "
      "VALUES (?1, ?2, ?3, 1, ?5, ?4) ON CONFLICT (tenant_id) DO UPDATE SET "
      "epoch = CASE WHEN tenant_owners.owner = excluded.owner AND tenant_owners.incarnation = "
      "excluded.incarnation THEN tenant_owners.epoch ELSE tenant_owners.epoch + 1 END, "
      "since_ms = CASE WHEN tenant_owners.owner = excluded.owner AND tenant_owners.incarnation = "
      "excluded.incarnation AND tenant_owners.expires_at_ms > ?4 THEN tenant_owners.since_ms "
      "ELSE excluded.since_ms END, owner = excluded.owner, incarnation = excluded.incarnation, "
      "expires_at_ms = excluded.expires_at_ms WHERE (tenant_owners.owner = excluded.owner AND "
      "tenant_owners.incarnation = excluded.incarnation) OR tenant_owners.expires_at_ms <= ?4");
    st.bind_all(tenant, owner, incarnation, now_ms, expires_at_ms);
    return changed_one(st);
  }

  caf::expected<int64_t> renew_tenants(const std::string& owner, int64_t incarnation,
                                       int64_t now_ms, int64_t expires_at_ms) override {
    auto& st = db_.cached("UPDATE tenant_owners SET expires_at_ms = ?4 WHERE owner = ?1 AND "
                          "incarnation = ?2 AND expires_at_ms > ?3");
    st.bind_all(owner, incarnation, now_ms, expires_at_ms);
    return rows_changed(st);
  }

  caf::expected<int64_t> release_tenants(const std::string& owner, int64_t incarnation,
                                         const std::string& tenant) override {
    if (tenant.empty()) {
      auto& st = db_.cached("UPDATE tenant_owners SET expires_at_ms = 0 WHERE owner = ?1 AND "
                            "incarnation = ?2 AND expires_at_ms > 0");
      st.bind_all(owner, incarnation);
      return rows_changed(st);
    }
    auto& st = db_.cached("UPDATE tenant_owners SET expires_at_ms = 0 WHERE owner = ?1 AND "
                          "incarnation = ?2 AND tenant_id = ?3 AND expires_at_ms > 0");
    st.bind_all(owner, incarnation, tenant);
    return rows_changed(st);
  }

  // -- billing ---------------------------------------------------------------------

  caf::error put_subscription(const subscription_record& x, int64_t now_ms) override {
    auto& st = db_.cached(
      "INSERT INTO subscriptions (tenant_id, subscription_id, status, current_period_start_ms, "
      "current_period_end_ms, price_metadata, product_metadata, updated_at_ms) VALUES (?1, ?2, "
      "?3, nullif(?4, 0), nullif(?5, 0), ?6, ?7, ?8) ON CONFLICT (tenant_id, subscription_id) DO "
      "UPDATE SET status = excluded.status, current_period_start_ms = "
      "excluded.current_period_start_ms, current_period_end_ms = excluded.current_period_end_ms, "
      "price_metadata = excluded.price_metadata, product_metadata = excluded.product_metadata, "
      "updated_at_ms = excluded.updated_at_ms");
    st.bind_all(x.tenant.value, x.id, x.status, x.period_start_ms, x.period_end_ms,
                x.price_metadata, x.product_metadata, now_ms);
    return st.run();
  }

  // -- child runs ------------------------------------------------------------------

  caf::error lock_run(int64_t run) override {
    if constexpr (std::is_same_v<Db, sqlite::connection>) {
      (void)run;
      return {}; // the write transaction holds the database's write lock
    } else {
      auto& st = db_.cached("SELECT 1 FROM runs WHERE run_id = ?1 FOR UPDATE");
      st.bind_all(run);
      return st.run();
    }
  }

  caf::expected<std::optional<run_lineage>> lineage(int64_t run) override {
    auto& st = db_.cached("SELECT " FLOWGATE_LINEAGE_COLUMNS " FROM runs WHERE run_id = ?1");
    st.bind_all(run);
    return optional_row<run_lineage>(st, read_lineage<std::decay_t<decltype(st)>>);
  }

  caf::expected<std::optional<run_lineage>> find_child(int64_t parent,
                                                       const std::string& node_path) override {
    auto& st = db_.cached("SELECT " FLOWGATE_LINEAGE_COLUMNS " FROM runs WHERE parent_run_id = ?1 "
                          "AND parent_node_path = ?2 ORDER BY parent_attempt DESC LIMIT 1");
    st.bind_all(parent, node_path);
    return optional_row<run_lineage>(st, read_lineage<std::decay_t<decltype(st)>>);
  }

  caf::expected<std::vector<run_lineage>> ended_children(int64_t parent) override {
    auto& st = db_.cached(
      "SELECT " FLOWGATE_LINEAGE_COLUMNS " FROM runs c WHERE c.parent_run_id = ?1 AND (c.status = "
      "'COMPLETED' OR c.status = 'FAILED' OR c.status = 'CANCELED') AND EXISTS (SELECT 1 FROM "
      "run_steps s WHERE s.run_id = "
      "?1 AND s.step_path = c.parent_node_path AND s.attempt = c.parent_attempt AND s.status = "
      "'started') ORDER BY c.run_id");
    st.bind_all(parent);
    return all_rows<run_lineage>(st, read_lineage<std::decay_t<decltype(st)>>);
  }

  caf::error mark_has_children(int64_t parent) override {
    auto& st =
      db_.cached("UPDATE runs SET has_children = 1 WHERE run_id = ?1 AND has_children = 0");
    st.bind_all(parent);
    return st.run();
  }

  caf::expected<std::vector<int64_t>> unfinished_children(int64_t parent) override {
    auto& st = db_.cached("SELECT run_id FROM runs WHERE parent_run_id = ?1 AND (status = "
                          "'PENDING' OR status = 'RUNNING' OR status = 'WAITING') ORDER BY run_id");
    st.bind_all(parent);
    return all_rows<int64_t>(st, [](const auto& row) { return row.column_int64(0); });
  }

  caf::expected<std::optional<std::pair<int64_t, std::string>>>
  take_child_wakeup(int64_t parent, const std::string& node_path, int32_t attempt,
                    int64_t now_ms) override {
    auto& st = db_.cached(
      "UPDATE runs SET next_seq = next_seq + 1, wake_at_ms = ?4, updated_at_ms = ?4 "
      "WHERE run_id = ?1 AND status = 'WAITING' AND (wait_reason = 'child' OR "
      "wait_reason = 'event' OR wait_reason = 'timer' OR wait_reason = 'retry') AND lease_owner IS "
      "NULL AND EXISTS (SELECT 1 FROM run_steps s WHERE s.run_id = ?1 "
      "AND s.step_path = ?2 AND s.attempt = ?3 AND s.status = 'started') AND NOT EXISTS (SELECT 1 "
      "FROM runs c WHERE c.parent_run_id = ?1 AND c.parent_node_path = ?2 AND c.parent_attempt > "
      "?3) RETURNING next_seq - 1, tenant_id");
    st.bind_all(parent, node_path, int64_t{attempt}, now_ms);
    return optional_row<std::pair<int64_t, std::string>>(
      st, [](const auto& row) { return std::make_pair(row.column_int64(0), row.column_text(1)); });
  }

  // -- schedules -------------------------------------------------------------------

  caf::expected<std::optional<schedule_record>>
  find_schedule(const std::string& tenant, const std::string& id, bool lock) override {
    auto& st = lock && !std::is_same_v<Db, sqlite::connection>
                 ? db_.cached("SELECT " FLOWGATE_SCHEDULE_COLUMNS " FROM schedules WHERE "
                              "tenant_id = ?1 AND schedule_id = ?2 FOR UPDATE")
                 : db_.cached("SELECT " FLOWGATE_SCHEDULE_COLUMNS " FROM schedules WHERE "
                              "tenant_id = ?1 AND schedule_id = ?2");
    st.bind_all(tenant, id);
    return optional_row<schedule_record>(st, read_schedule<std::decay_t<decltype(st)>>);
  }

  caf::error put_schedule(const schedule_record& x) override {
    auto& st = db_.cached(
      "INSERT INTO schedules (" FLOWGATE_SCHEDULE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
      "?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT (tenant_id, schedule_id) DO UPDATE SET "
      "document = excluded.document, paused = excluded.paused, revision = excluded.revision, "
      "next_fire_ms = excluded.next_fire_ms, buffered_fire_ms = excluded.buffered_fire_ms, "
      "last_fire_ms = excluded.last_fire_ms, last_run_id = excluded.last_run_id, runs_started = "
      "excluded.runs_started, fires_skipped = excluded.fires_skipped, last_outcome = "
      "excluded.last_outcome, updated_at_ms = excluded.updated_at_ms");
    st.bind_all(x.tenant.value, x.id, x.document, int64_t{x.paused ? 1 : 0}, x.revision,
                x.next_fire_ms, x.buffered_fire_ms, x.last_fire_ms, x.last_run, x.runs_started,
                x.fires_skipped, x.last_outcome, x.created_at_ms, x.updated_at_ms);
    return st.run();
  }

  caf::expected<int64_t> delete_schedule(const std::string& tenant,
                                         const std::string& id) override {
    auto& st = db_.cached("DELETE FROM schedules WHERE tenant_id = ?1 AND schedule_id = ?2");
    st.bind_all(tenant, id);
    return rows_changed(st);
  }

private:
  /// A heartbeat written in this transaction (see run_backend.hpp).
  struct beat {
    std::string node;
    int64_t incarnation = 0;
    int64_t written_ms = 0;
    int64_t latest_ms = 0;
    /// The operation that wrote it (its rollback undoes the write).
    int64_t operation = 0;
  };

  caf::expected<bool> write_heartbeat(const std::string& node, int64_t incarnation,
                                      int64_t now_ms) {
    auto& st = db_.cached("UPDATE nodes SET heartbeat_at_ms = ?3 WHERE node_id = ?1 AND "
                          "incarnation = ?2 AND stopped_at_ms IS NULL");
    st.bind_all(node, incarnation, now_ms);
    return changed_one(st);
  }

  /// The registration of `node` changes in this transaction: a memo of its
  /// heartbeat no longer stands for the row.
  void forget_beats(const std::string& node) {
    std::erase_if(beats_, [&](const beat& b) { return b.node == node; });
  }

  /// SQLite's stand-in for `RETURNING` on a statement that changes at
  /// most one row: runs it, and if it changed the row, `read()` reads what
  /// `RETURNING` would have given (under the same write lock); else none.
  template <class T, class St, class Read>
  caf::expected<std::optional<T>> if_changed(St& st, Read read) {
    auto changed = changed_one(st);
    if (!changed) {
      return changed.error();
    }
    if (!*changed) {
      return std::optional<T>{};
    }
    return read();
  }

  /// Runs a conditional statement: true if it changed exactly one row.
  template <class St> caf::expected<bool> changed_one(St& st) {
    auto changed = rows_changed(st);
    if (!changed) {
      return changed.error();
    }
    return *changed == 1;
  }

  /// Runs a statement: the rows it changed, or its error (on PostgreSQL
  /// also that of a statement queued before it).
  template <class St> caf::expected<int64_t> rows_changed(St& st) {
    if (auto err = st.run()) {
      return err;
    }
    return db_.changes();
  }

  Db& db_;
  std::vector<beat> beats_;
  int64_t operation_ = 0;
};

} // namespace

std::unique_ptr<run_backend> make_run_backend(sqlite::connection& db) {
  return std::make_unique<sql_run_backend<sqlite::connection>>(db);
}

std::unique_ptr<run_backend> make_run_backend(pg::connection& db) {
  return std::make_unique<sql_run_backend<pg::connection>>(db);
}

} // namespace flowgate
