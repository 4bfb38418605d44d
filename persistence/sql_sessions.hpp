#pragma once

/// The store's sessions (persistence/store.hpp) over a SQLite or a
/// PostgreSQL connection: one implementation, the same SQL. What differs is
/// in a few overloads each backend provides:
/// - `begin_write(db, clock)`: SQLite's BEGIN IMMEDIATE (the file's write
///   lock, taken now so that conflicts show up as `store_busy` here);
///   PostgreSQL's BEGIN (READ COMMITTED, row locks per tenant) and the
///   server's clock, which then stamps every time in the batch.
/// - `begin_operation(db, clock)`, `end_operation(db)`: the operation's
///   savepoint and its release (PostgreSQL: pipeline mode sends a write
///   without waiting; the release waits for the operation's results).
/// - `describe_durability(db, info)`: journal mode and synchronous setting.
/// - `schema_version(db)`, `make_run_backend(db)`.
/// Internal to persistence/ (sqlite_store.cpp and pg_store.cpp).

#include "messages/errors.hpp"
#include "persistence/migrations.hpp"
#include "persistence/pg_migrations.hpp"
#include "persistence/run_store.hpp"
#include "persistence/sql_check.hpp"
#include "persistence/sql_run_backend.hpp"
#include "persistence/sql_runs.hpp"
#include "persistence/store.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

namespace flowgate {

/// Opens the write transaction; `clock_ms` receives the store's clock if
/// it has one (PostgreSQL), else nullopt.
[[nodiscard]] caf::error begin_write(sqlite::connection& db, std::optional<int64_t>& clock_ms);
[[nodiscard]] caf::error begin_write(pg::connection& db, std::optional<int64_t>& clock_ms);

/// Marks the start of one operation (SAVEPOINT op).
[[nodiscard]] caf::error begin_operation(sqlite::connection& db, std::optional<int64_t>& clock_ms);
[[nodiscard]] caf::error begin_operation(pg::connection& db, std::optional<int64_t>& clock_ms);

/// Marks the end of one operation (RELEASE op). PostgreSQL: waits for what
/// the operation sent without waiting (pipeline mode), so that a failure is
/// the operation's own.
[[nodiscard]] caf::error end_operation(sqlite::connection& db);
[[nodiscard]] caf::error end_operation(pg::connection& db);

/// Waits for the statements sent without waiting (PostgreSQL).
inline caf::error flush_of(sqlite::connection&) {
  return {};
}
caf::error flush_of(pg::connection& db);

/// Statements sent to the server so far (0 for SQLite).
inline int64_t statements_of(const sqlite::connection&) {
  return 0;
}
int64_t statements_of(const pg::connection& db);

/// Round trips to the server so far (0 for SQLite).
inline int64_t round_trips_of(const sqlite::connection&) {
  return 0;
}
int64_t round_trips_of(const pg::connection& db);

/// Fills `journal_mode` and `synchronous` of `db info`.
[[nodiscard]] caf::error describe_durability(sqlite::connection& db, schema_info& info);
[[nodiscard]] caf::error describe_durability(pg::connection& db, schema_info& info);

} // namespace flowgate

namespace flowgate::sql_sessions {

/// Steps a statement expected to return at most one row; false if none.
#define FLOWGATE_STEP_OR_RETURN(var, stmt)                                                         \
  auto var = (stmt).step();                                                                        \
  if (!var) {                                                                                      \
    return var.error();                                                                            \
  }

/// The row the statement is on, as an API key (columns: key_id, tenant or
/// '', name, secret_sha256, created_at_ms, revoked_at_ms).
template <class St> api_key_record read_api_key(const St& st) {
  return api_key_record{st.column_text(0), st.column_text(1),  st.column_text(2),
                        st.column_text(3), st.column_int64(4), st.column_int64(5)};
}

/// The statement's one API key row, or `not_found` naming `key_id`.
template <class St> caf::expected<api_key_record> one_api_key(St& st, const std::string& key_id) {
  FLOWGATE_STEP_OR_RETURN(row, st);
  if (!*row) {
    st.reset();
    return make_error(errc::not_found, "API key '" + key_id + "' does not exist");
  }
  auto out = read_api_key(st);
  st.reset();
  return out;
}

/// The write session over `Db` (see the file comment).
template <class Db> class sql_write_session final : public write_session {
public:
  explicit sql_write_session(std::unique_ptr<Db> db) : conn_(std::move(db)) {}
  // `runs_` refers to `*conn_`: the session stays where it was built.
  sql_write_session(const sql_write_session&) = delete;
  sql_write_session& operator=(const sql_write_session&) = delete;

  caf::error begin() override {
    began_ = std::chrono::steady_clock::now();
    return begin_write(db_, clock_ms_);
  }

  /// The store's clock read by `begin`, advanced by the time since: an
  /// operation late in a long batch is not stamped with its start, and no
  /// round trip is spent reading the clock again. Never earlier than a time
  /// it gave before: the server reads its clock some time after `begin`
  /// started (a delay that varies from batch to batch), so a batch's times
  /// could otherwise start before the times of the batch committed before
  /// it, and a run admitted after another finished would look as if it
  /// overlapped it.
  std::optional<int64_t> clock_ms() const override {
    if (!clock_ms_) {
      return std::nullopt;
    }
    auto since = std::chrono::steady_clock::now() - began_;
    auto now = *clock_ms_ + std::chrono::duration_cast<std::chrono::milliseconds>(since).count();
    last_clock_ms_ = std::max(last_clock_ms_, now);
    return last_clock_ms_;
  }

  int64_t round_trips() const override { return round_trips_of(db_); }

  int64_t statements() const override { return statements_of(db_); }

  caf::error flush() override { return flush_of(db_); }

  caf::error commit() override {
    auto err = runs_->before_commit();
    if (!err) {
      err = db_.exec("COMMIT");
    }
    if (err) {
      rollback();
      return err;
    }
    return {};
  }

  void rollback() override {
    runs_->transaction_rolled_back();
    (void)db_.exec("ROLLBACK");
  }

  caf::error savepoint() override {
    runs_->operation_began();
    return begin_operation(db_, clock_ms_);
  }

  caf::error release_savepoint() override { return end_operation(db_); }

  void rollback_to_savepoint() override {
    runs_->operation_rolled_back();
    (void)db_.cached("ROLLBACK TO op").run();
    (void)db_.cached("RELEASE op").run();
  }

  caf::expected<tenant_record> apply(const store_tenant& op) override {
    auto& st = db_.cached(
      "INSERT INTO tenants (tenant_id, name, tier, config_json, created_at_ms, updated_at_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?5) "
      "ON CONFLICT (tenant_id) DO UPDATE SET name = excluded.name, tier = excluded.tier, "
      "config_json = excluded.config_json, updated_at_ms = excluded.updated_at_ms "
      "RETURNING created_at_ms, updated_at_ms");
    const auto& t = op.tenant;
    st.bind_all(t.id.value, t.name, t.tier, t.config_json, op.now_ms);
    FLOWGATE_STEP_OR_RETURN(row, st);
    tenant_record out = t;
    out.created_at_ms = st.column_int64(0);
    out.updated_at_ms = st.column_int64(1);
    st.reset();
    return out;
  }

  caf::expected<int64_t> apply(const seed_tenants& op) override {
    int64_t inserted = 0;
    for (const auto& t : op.tenants) {
      auto& st = db_.cached(
        "INSERT INTO tenants (tenant_id, name, tier, config_json, created_at_ms, "
        "updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (tenant_id) DO NOTHING");
      st.bind_all(t.id.value, t.name, t.tier, t.config_json, op.now_ms);
      if (auto err = st.run()) {
        return err;
      }
      auto changed = db_.changes();
      if (!changed) {
        return changed.error();
      }
      inserted += *changed;
    }
    return inserted;
  }

  caf::expected<config_stored> apply(const store_config& op) override {
    const auto& c = op.config;
    auto& tenant = db_.cached("SELECT 1 FROM tenants WHERE tenant_id = ?1");
    tenant.bind_all(c.tenant.value);
    FLOWGATE_STEP_OR_RETURN(has_tenant, tenant);
    tenant.reset();
    if (!*has_tenant) {
      return make_error(errc::unknown_tenant, "tenant '" + c.tenant.value +
                                                "' does not exist (create it with "
                                                "'flowgate tenant put')");
    }
    config_stored out{c.tenant, c.queue, c.version, c.checksum, false};
    auto& existing = db_.cached("SELECT checksum FROM pipeline_configs "
                                "WHERE tenant_id = ?1 AND queue = ?2 AND version = ?3");
    existing.bind_all(c.tenant.value, c.queue.value, c.version.value);
    FLOWGATE_STEP_OR_RETURN(found, existing);
    if (*found) {
      auto stored = existing.column_text(0);
      existing.reset();
      if (stored != c.checksum) {
        return make_error(errc::version_conflict,
                          "tenant '" + c.tenant.value + "' queue '" + c.queue.value +
                            "' version '" + c.version.value + "' is already stored as " + stored +
                            "; stored versions are immutable, put the change under a new "
                            "version");
      }
      return out;
    }
    existing.reset();
    auto& insert = db_.cached(
      "INSERT INTO pipeline_configs (tenant_id, queue, version, checksum, pipeline_name, "
      "document, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    insert.bind_all(c.tenant.value, c.queue.value, c.version.value, c.checksum, c.pipeline_name,
                    c.document, c.created_at_ms);
    if (auto err = insert.run()) {
      return err;
    }
    out.created = true;
    return out;
  }

  caf::expected<config_activated> apply(const activate_config& op) override {
    auto& exists = db_.cached("SELECT 1 FROM pipeline_configs "
                              "WHERE tenant_id = ?1 AND queue = ?2 AND version = ?3");
    exists.bind_all(op.tenant.value, op.queue.value, op.version.value);
    FLOWGATE_STEP_OR_RETURN(found, exists);
    exists.reset();
    if (!*found) {
      return make_error(errc::unknown_version, "tenant '" + op.tenant.value + "' queue '" +
                                                 op.queue.value + "' has no version '" +
                                                 op.version.value + "'");
    }
    config_activated out{op.tenant, op.queue, op.version, config_version{}};
    auto& prev =
      db_.cached("SELECT version FROM active_configs WHERE tenant_id = ?1 AND queue = ?2");
    prev.bind_all(op.tenant.value, op.queue.value);
    FLOWGATE_STEP_OR_RETURN(had, prev);
    if (*had) {
      out.previous = config_version{prev.column_text(0)};
    }
    prev.reset();
    auto& upsert =
      db_.cached("INSERT INTO active_configs (tenant_id, queue, version, activated_at_ms) "
                 "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (tenant_id, queue) DO UPDATE SET "
                 "version = excluded.version, activated_at_ms = excluded.activated_at_ms");
    upsert.bind_all(op.tenant.value, op.queue.value, op.version.value, op.now_ms);
    if (auto err = upsert.run()) {
      return err;
    }
    return out;
  }

  caf::expected<step_reservation> apply(const reserve_step& op) override {
    return run_store::reserve(*runs_, op, std::string{}, 0);
  }
  caf::expected<std::vector<step_reservation>> apply(const reserve_steps& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<int64_t> apply(const resume_quota_waits& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<resume_outcome> apply(const resume_run& op) override {
    return run_store::apply(*runs_, op);
  }

  caf::expected<run_created> apply(const create_run& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<runs_claimed> apply(const claim_runs& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<int64_t> apply(const register_node& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<int64_t> apply(const stop_node& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<int64_t> apply(const publish_node& op) override {
    auto& st = db_.cached("UPDATE nodes SET address = ?3 WHERE node_id = ?1 AND incarnation = ?2 "
                          "AND stopped_at_ms IS NULL");
    st.bind_all(op.node.value, op.incarnation, op.address);
    if (auto err = st.run()) {
      return err;
    }
    return db_.changes();
  }
  caf::expected<std::vector<run_id>> apply(const renew_leases& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<int64_t> apply(const release_leases& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<history_appended> apply(const append_history& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<signal_accepted> apply(const signal_run& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<cancel_outcome> apply(const cancel_run& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<subscription_record> apply(const store_subscription& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<schedule_record> apply(const store_schedule& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<int64_t> apply(const delete_schedule& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<schedule_record> apply(const pause_schedule& op) override {
    return run_store::apply(*runs_, op);
  }
  caf::expected<schedule_fired> apply(const fire_schedule& op) override {
    return run_store::apply(*runs_, op);
  }

  caf::expected<api_key_record> apply(const store_api_key& op) override {
    auto out = op.key;
    out.created_at_ms = op.now_ms;
    out.revoked_at_ms = 0;
    if (!out.tenant.empty()) {
      auto exists = runs_->tenant_config(out.tenant);
      if (!exists) {
        return exists.error();
      }
      if (!*exists) {
        return make_error(errc::unknown_tenant, "tenant '" + out.tenant + "' does not exist");
      }
    }
    auto& st = db_.cached("INSERT INTO api_keys (key_id, tenant_id, name, secret_sha256, "
                          "created_at_ms) VALUES (?1, nullif(?2, ''), ?3, ?4, ?5)");
    st.bind_all(out.key_id, out.tenant, out.name, out.secret_sha256, out.created_at_ms);
    if (auto err = st.run()) {
      return err;
    }
    return out;
  }

  caf::expected<api_key_record> apply(const revoke_api_key& op) override {
    auto& st = db_.cached("UPDATE api_keys SET revoked_at_ms = CASE WHEN revoked_at_ms = 0 THEN "
                          "?2 ELSE revoked_at_ms END WHERE key_id = ?1 RETURNING key_id, "
                          "coalesce(tenant_id, ''), name, secret_sha256, created_at_ms, "
                          "revoked_at_ms");
    st.bind_all(op.key_id, op.now_ms);
    return one_api_key(st, op.key_id);
  }

private:
  std::unique_ptr<Db> conn_;
  Db& db_ = *conn_;
  /// The store's clock read by `begin` (PostgreSQL), else nullopt.
  std::optional<int64_t> clock_ms_;
  std::chrono::steady_clock::time_point began_;
  /// The latest time `clock_ms` gave (it never goes back).
  mutable int64_t last_clock_ms_ = 0;
  /// The run store's primitives on `db_` (declared after it).
  std::unique_ptr<run_backend> runs_ = make_run_backend(db_);
};

/// The read session over `Db`: its own connection, never blocked by the writer.
template <class Db> class sql_read_session final : public read_session {
public:
  explicit sql_read_session(std::unique_ptr<Db> db) : conn_(std::move(db)) {}

  caf::expected<tenant_record> apply(const find_tenant& q) override {
    auto& st = db_.cached("SELECT tenant_id, name, tier, config_json, created_at_ms, "
                          "updated_at_ms FROM tenants WHERE tenant_id = ?1");
    st.bind_all(q.tenant.value);
    FLOWGATE_STEP_OR_RETURN(row, st);
    if (!*row) {
      return make_error(errc::unknown_tenant, "tenant '" + q.tenant.value + "' does not exist");
    }
    auto out = read_tenant(st);
    st.reset();
    return out;
  }

  caf::expected<std::vector<tenant_record>> apply(const list_tenants& q) override {
    auto& st = db_.cached("SELECT tenant_id, name, tier, config_json, created_at_ms, "
                          "updated_at_ms FROM tenants ORDER BY tenant_id LIMIT ?1");
    st.bind_all(int64_t{q.limit});
    std::vector<tenant_record> out;
    for (;;) {
      FLOWGATE_STEP_OR_RETURN(row, st);
      if (!*row) {
        break;
      }
      out.push_back(read_tenant(st));
    }
    st.reset();
    return out;
  }

  caf::expected<config_document> apply(const find_config& q) override {
    auto& st =
      db_.cached("SELECT c.checksum, c.pipeline_name, c.document, c.created_at_ms, "
                 "(a.version IS NOT NULL) FROM pipeline_configs c LEFT JOIN active_configs a "
                 "ON a.tenant_id = c.tenant_id AND a.queue = c.queue AND a.version = c.version "
                 "WHERE c.tenant_id = ?1 AND c.queue = ?2 AND c.version = ?3");
    st.bind_all(q.tenant.value, q.queue.value, q.version.value);
    FLOWGATE_STEP_OR_RETURN(row, st);
    if (!*row) {
      return make_error(errc::unknown_version, "tenant '" + q.tenant.value + "' queue '" +
                                                 q.queue.value + "' has no version '" +
                                                 q.version.value + "'");
    }
    config_document out{
      q.tenant,          q.queue,           q.version,          st.column_text(0),
      st.column_text(1), st.column_text(2), st.column_int64(3), st.column_int64(4) != 0};
    st.reset();
    return out;
  }

  caf::expected<config_version> apply(const find_runnable_version& q) override {
    auto& active =
      db_.cached("SELECT version FROM active_configs WHERE tenant_id = ?1 AND queue = ?2");
    active.bind_all(q.tenant.value, q.queue.value);
    FLOWGATE_STEP_OR_RETURN(row, active);
    if (*row) {
      config_version v{active.column_text(0)};
      active.reset();
      return v;
    }
    active.reset();
    if (q.default_version.value.empty()) {
      return config_version{};
    }
    auto& fallback = db_.cached("SELECT version FROM pipeline_configs "
                                "WHERE tenant_id = ?1 AND queue = ?2 AND version = ?3");
    fallback.bind_all(q.tenant.value, q.queue.value, q.default_version.value);
    FLOWGATE_STEP_OR_RETURN(has_default, fallback);
    fallback.reset();
    return *has_default ? q.default_version : config_version{};
  }

  caf::expected<std::vector<config_summary>> apply(const list_configs& q) override {
    auto& st =
      db_.cached("SELECT c.queue, c.version, c.checksum, c.pipeline_name, c.created_at_ms, "
                 "(a.version IS NOT NULL) FROM pipeline_configs c LEFT JOIN active_configs a "
                 "ON a.tenant_id = c.tenant_id AND a.queue = c.queue AND a.version = c.version "
                 "WHERE c.tenant_id = ?1 AND (?2 = '' OR c.queue = ?2) "
                 "ORDER BY c.queue, c.created_at_ms, c.version");
    st.bind_all(q.tenant.value, q.queue.value);
    std::vector<config_summary> out;
    for (;;) {
      FLOWGATE_STEP_OR_RETURN(row, st);
      if (!*row) {
        break;
      }
      out.push_back(config_summary{q.tenant, queue_name{st.column_text(0)},
                                   config_version{st.column_text(1)}, st.column_text(2),
                                   st.column_text(3), st.column_int64(4), st.column_int64(5) != 0});
    }
    st.reset();
    return out;
  }

  caf::expected<schema_info> apply(const read_schema_info&) override {
    schema_info out;
    out.path = db_.path();
    auto version = schema_version(db_);
    if (!version) {
      return version.error();
    }
    out.version = *version;
    out.latest_version = latest_schema_version();
    if (auto err = describe_durability(db_, out)) {
      return err;
    }
    auto tenants = db_.query_int("SELECT count(*) FROM tenants");
    auto configs = db_.query_int("SELECT count(*) FROM pipeline_configs");
    auto runs = db_.query_int("SELECT count(*) FROM runs");
    for (auto* e : {&tenants, &configs, &runs}) {
      if (!*e) {
        return e->error();
      }
    }
    out.tenants = *tenants;
    out.configs = *configs;
    out.runs = *runs;
    return out;
  }

  caf::expected<run_record> apply(const find_run& q) override { return sql_runs::apply(db_, q); }
  caf::expected<std::vector<run_record>> apply(const find_runs& q) override {
    return sql_runs::apply(db_, q);
  }
  caf::expected<std::vector<run_record>> apply(const list_runs& q) override {
    return sql_runs::apply(db_, q);
  }
  caf::expected<std::vector<history_record>> apply(const load_history& q) override {
    return sql_runs::apply(db_, q);
  }
  caf::expected<std::vector<attempt_record>> apply(const load_attempts& q) override {
    return sql_runs::apply(db_, q);
  }
  caf::expected<std::vector<tenant_stats>> apply(const read_tenant_stats& q) override {
    return sql_runs::apply(db_, q);
  }
  caf::expected<std::vector<subscription_record>> apply(const list_subscriptions& q) override {
    return sql_runs::apply(db_, q);
  }
  caf::expected<std::vector<schedule_record>> apply(const list_schedules& q) override {
    return sql_runs::apply(db_, q);
  }
  caf::expected<std::vector<schedule_record>> apply(const due_schedules& q) override {
    return sql_runs::apply(db_, q);
  }
  caf::expected<std::vector<tenant_id>> apply(const list_quota_tenants& q) override {
    return sql_runs::apply(db_, q);
  }
  caf::expected<usage_reconciliation> apply(const reconcile_usage& q) override {
    return sql_runs::apply(db_, q);
  }
  caf::expected<std::vector<node_record>> apply(const list_nodes& q) override {
    return sql_runs::apply(db_, q);
  }
  caf::expected<check_report> apply(const check_database& q) override {
    return sql_check::apply(db_, q);
  }

  caf::expected<api_key_record> apply(const find_api_key& q) override {
    auto& st = db_.cached("SELECT key_id, coalesce(tenant_id, ''), name, secret_sha256, "
                          "created_at_ms, revoked_at_ms FROM api_keys WHERE key_id = ?1");
    st.bind_all(q.key_id);
    return one_api_key(st, q.key_id);
  }

  caf::expected<std::vector<api_key_record>> apply(const list_api_keys& q) override {
    auto& st = db_.cached("SELECT key_id, coalesce(tenant_id, ''), name, secret_sha256, "
                          "created_at_ms, revoked_at_ms FROM api_keys WHERE ?1 = 1 OR "
                          "coalesce(tenant_id, '') = ?2 ORDER BY created_at_ms, key_id");
    st.bind_all(int64_t{q.all ? 1 : 0}, q.tenant);
    std::vector<api_key_record> out;
    for (;;) {
      FLOWGATE_STEP_OR_RETURN(row, st);
      if (!*row) {
        break;
      }
      out.push_back(read_api_key(st));
    }
    st.reset();
    return out;
  }
  caf::expected<int64_t> apply(const find_usage& q) override { return sql_runs::apply(db_, q); }

private:
  template <class St> static tenant_record read_tenant(const St& st) {
    return tenant_record{
      tenant_id{st.column_text(0)}, st.column_text(1), st.column_text(2), st.column_text(3),
      st.column_int64(4),           st.column_int64(5)};
  }

  std::unique_ptr<Db> conn_;
  Db& db_ = *conn_;
};

#undef FLOWGATE_STEP_OR_RETURN

} // namespace flowgate::sql_sessions
