#pragma once

/// The schema on PostgreSQL: the same numbered migrations as SQLite
/// (persistence/migrations.hpp), translated, applied on open and recorded
/// in `schema_migrations`. Concurrent openers serialize on an advisory
/// lock; a database whose version is newer than this binary is refused
/// with `errc::schema_too_new`.

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate {

namespace pg {
class connection;
}

/// SQLite DDL as PostgreSQL DDL: `INTEGER` columns are `BIGINT` (times in
/// ms, ids), an `INTEGER PRIMARY KEY` is a `BIGINT` identity, and
/// `WITHOUT ROWID` goes (PostgreSQL tables have no rowid).
std::string postgres_ddl(std::string_view sqlite_ddl);

/// Version recorded in the database (0 for an empty database).
[[nodiscard]] caf::expected<int32_t> schema_version(pg::connection& db);

/// Applies every missing migration, each in its own transaction. Returns
/// the names of the migrations applied now. Errors: `schema_too_new`,
/// `store_busy`, `store_io`, `store_failure`.
[[nodiscard]] caf::expected<std::vector<std::string>> migrate(pg::connection& db, int64_t now_ms);

} // namespace flowgate
