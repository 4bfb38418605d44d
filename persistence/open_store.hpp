#pragma once

/// Opens the store a node's settings name (`--db` / `FLOWGATE_DB`): a
/// `postgresql://` (or `postgres://`) URL selects PostgreSQL
/// (persistence/pg_store.hpp), anything else is a SQLite file
/// (persistence/sqlite_store.hpp).

#include "config/node_settings.hpp"
#include "persistence/store.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <string>
#include <vector>

namespace flowgate {

/// True if `db` names a PostgreSQL database.
bool is_postgres_location(const std::string& db);

/// The store client libraries this build runs on, e.g.
/// "SQLite 3.40.1, libpq 15.18" (for `flowgate --version`).
std::string store_library_versions();

/// `db` as messages show it: a URL without its password.
std::string store_display_name(const std::string& db);

/// Opens the write session and migrates the schema; `applied` (if not
/// null) receives the names of migrations applied now.
[[nodiscard]] caf::expected<std::unique_ptr<write_session>>
open_store_writer(const node_settings& s, int64_t now_ms,
                  std::vector<std::string>* applied = nullptr);

/// Opens a read session (the schema must be current).
[[nodiscard]] caf::expected<std::unique_ptr<read_session>>
open_store_reader(const node_settings& s);

} // namespace flowgate
