#include "persistence/pg_store.hpp"

#include "messages/errors.hpp"
#include "persistence/pg.hpp"
#include "persistence/pg_migrations.hpp"
#include "persistence/sql_sessions.hpp"

namespace flowgate {

namespace {

constexpr const char* server_clock =
  "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint";

} // namespace

caf::error begin_write(pg::connection& db, std::optional<int64_t>& clock_ms) {
  clock_ms.reset();
  // One round trip: the simple query protocol runs both, returns the last.
  auto now = db.exec_int(std::string{"BEGIN; "} + server_clock);
  if (!now && code_of(now.error()) == errc::store_io) {
    // The connection was lost while idle (a server restart): BEGIN found
    // out, and the next try connects again (pg::connection::revive).
    now = db.exec_int(std::string{"BEGIN; "} + server_clock);
  }
  if (!now) {
    (void)db.exec("ROLLBACK");
    return now.error();
  }
  clock_ms = *now;
  // Statements without results go out without waiting (pg.hpp); COMMIT or
  // ROLLBACK leaves pipeline mode.
  return db.begin_pipeline();
}

caf::error begin_operation(pg::connection& db, std::optional<int64_t>&) {
  return db.cached("SAVEPOINT op").run();
}

caf::error end_operation(pg::connection& db) {
  if (auto err = db.cached("RELEASE op").run()) {
    return err;
  }
  return db.flush_writes();
}

caf::error flush_of(pg::connection& db) {
  return db.flush();
}

int64_t statements_of(const pg::connection& db) {
  return db.statements();
}

int64_t round_trips_of(const pg::connection& db) {
  return db.round_trips();
}

caf::error describe_durability(pg::connection& db, schema_info& info) {
  auto sync = db.query_text("SHOW synchronous_commit");
  if (!sync) {
    return sync.error();
  }
  info.journal_mode = "postgresql";
  info.synchronous = *sync;
  return {};
}

caf::expected<std::unique_ptr<write_session>> open_pg_writer(const std::string& url, int64_t now_ms,
                                                             std::vector<std::string>* applied,
                                                             int64_t lock_timeout_ms) {
  auto db = pg::connection::open(url, lock_timeout_ms);
  if (!db) {
    return db.error();
  }
  auto done = migrate(**db, now_ms);
  if (!done) {
    return done.error();
  }
  if (applied != nullptr) {
    *applied = std::move(*done);
  }
  return std::unique_ptr<write_session>{
    new sql_sessions::sql_write_session<pg::connection>(std::move(*db))};
}

caf::expected<std::unique_ptr<read_session>> open_pg_reader(const std::string& url,
                                                            int64_t lock_timeout_ms) {
  auto db = pg::connection::open(url, lock_timeout_ms);
  if (!db) {
    return db.error();
  }
  auto version = schema_version(**db);
  if (!version) {
    return version.error();
  }
  if (auto err = check_reader_schema(*version, (*db)->path())) {
    return err;
  }
  return std::unique_ptr<read_session>{
    new sql_sessions::sql_read_session<pg::connection>(std::move(*db))};
}

} // namespace flowgate
