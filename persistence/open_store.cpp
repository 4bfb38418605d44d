#include "persistence/open_store.hpp"

#include "persistence/pg.hpp"
#include "persistence/pg_store.hpp"
#include "persistence/sqlite_store.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>

namespace flowgate {

bool is_postgres_location(const std::string& db) {
  return pg::is_url(db);
}

std::string store_library_versions() {
  auto pq = PQlibVersion(); // e.g. 150018
  return std::string{"SQLite "} + sqlite3_libversion() + ", libpq " + std::to_string(pq / 10000) +
         "." + std::to_string(pq % 100);
}

std::string store_display_name(const std::string& db) {
  return pg::is_url(db) ? pg::redacted(db) : db;
}

caf::expected<std::unique_ptr<write_session>>
open_store_writer(const node_settings& s, int64_t now_ms, std::vector<std::string>* applied) {
  if (pg::is_url(s.db_path)) {
    return open_pg_writer(s.db_path, now_ms, applied, s.busy_timeout_ms);
  }
  return open_sqlite_writer(store_options_from(s), now_ms, applied);
}

caf::expected<std::unique_ptr<read_session>> open_store_reader(const node_settings& s) {
  if (pg::is_url(s.db_path)) {
    return open_pg_reader(s.db_path, s.busy_timeout_ms);
  }
  return open_sqlite_reader(store_options_from(s));
}

} // namespace flowgate
