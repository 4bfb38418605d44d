#include "persistence/sqlite_store.hpp"

#include "messages/errors.hpp"
#include "persistence/migrations.hpp"
#include "persistence/sql_sessions.hpp"
#include "persistence/sqlite.hpp"

namespace flowgate {

caf::error begin_write(sqlite::connection& db, std::optional<int64_t>& clock_ms) {
  clock_ms.reset();
  return db.exec("BEGIN IMMEDIATE");
}

caf::error begin_operation(sqlite::connection& db, std::optional<int64_t>&) {
  return db.cached("SAVEPOINT op").run();
}

caf::error end_operation(sqlite::connection& db) {
  return db.cached("RELEASE op").run();
}

caf::error describe_durability(sqlite::connection& db, schema_info& info) {
  auto mode = db.query_text("PRAGMA journal_mode");
  if (!mode) {
    return mode.error();
  }
  auto sync = db.query_int("PRAGMA synchronous");
  if (!sync) {
    return sync.error();
  }
  info.journal_mode = *mode;
  static const char* sync_names[] = {"off", "normal", "full", "extra"};
  info.synchronous = *sync >= 0 && *sync <= 3 ? sync_names[*sync] : std::to_string(*sync);
  return {};
}

namespace {

sqlite::open_options connection_options(const sqlite_store_options& opts) {
  return sqlite::open_options{opts.path, opts.busy_timeout_ms, opts.synchronous, true};
}

/// SQLite's quick_check (every page and index entry read once, without the
/// cross-checks of integrity_check): a damaged file is refused before
/// anything writes to it.
caf::error verify_integrity(sqlite::connection& db, const std::string& path) {
  auto st = db.prepare("PRAGMA quick_check(3)");
  if (!st) {
    return st.error();
  }
  std::vector<std::string> problems;
  auto damaged = [&](const std::string& what) {
    return make_error(errc::store_corrupt,
                      "database '" + path + "' is damaged (quick_check: " + what +
                        "); nothing was written to it: restore it from a backup");
  };
  for (;;) {
    auto row = st->step();
    if (!row) {
      // A page quick_check cannot even read.
      return code_of(row.error()) == errc::store_corrupt ? damaged(db.last_error_message())
                                                         : row.error();
    }
    if (!*row) {
      break;
    }
    auto text = st->column_text(0);
    if (text == "ok") {
      continue;
    }
    // One finding per line; the "*** in database main ***" headers say nothing.
    size_t start = 0;
    while (start <= text.size()) {
      auto end = text.find('\n', start);
      auto line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!line.empty() && line.rfind("***", 0) != 0) {
        problems.push_back(line);
      }
      if (end == std::string::npos) {
        break;
      }
      start = end + 1;
    }
  }
  if (problems.empty()) {
    return {};
  }
  std::string list;
  for (const auto& p : problems) {
    list += (list.empty() ? "" : "; ") + p;
  }
  return damaged(list);
}

} // namespace

sqlite_store_options store_options_from(const node_settings& s) {
  return sqlite_store_options{s.db_path, s.synchronous, s.busy_timeout_ms, s.open_check};
}

caf::expected<std::unique_ptr<write_session>>
open_sqlite_writer(const sqlite_store_options& opts, int64_t now_ms,
                   std::vector<std::string>* applied) {
  auto db = sqlite::connection::open(connection_options(opts));
  if (!db) {
    return db.error();
  }
  if (opts.open_check) {
    if (auto err = verify_integrity(*db, opts.path)) {
      return err;
    }
  }
  auto done = migrate(*db, now_ms);
  if (!done) {
    return done.error();
  }
  if (applied != nullptr) {
    *applied = std::move(*done);
  }
  return std::unique_ptr<write_session>{new sql_sessions::sql_write_session<sqlite::connection>(
    std::make_unique<sqlite::connection>(std::move(*db)))};
}

caf::expected<std::unique_ptr<read_session>> open_sqlite_reader(const sqlite_store_options& opts) {
  auto db = sqlite::connection::open(connection_options(opts));
  if (!db) {
    return db.error();
  }
  auto version = schema_version(*db);
  if (!version) {
    return version.error();
  }
  if (auto err = check_reader_schema(*version, opts.path)) {
    return err;
  }
  return std::unique_ptr<read_session>{new sql_sessions::sql_read_session<sqlite::connection>(
    std::make_unique<sqlite::connection>(std::move(*db)))};
}

} // namespace flowgate
