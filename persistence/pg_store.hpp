#pragma once

/// PostgreSQL implementation of the store interface (persistence/store.hpp)
/// for nodes on several hosts sharing one database. The sessions are the
/// SQLite ones (persistence/sql_sessions.hpp) over libpq; what differs:
/// - Exactness under READ COMMITTED: admission, claims and quota decisions
///   lock the tenant's row first (tenants in id order); conditional UPDATEs
///   re-check their WHERE against concurrently committed rows; a
///   serialization failure or deadlock is `store_busy` and the whole
///   operation is undone (its savepoint) and may be retried.
/// - One clock: each write transaction reads the server's clock
///   (`clock_timestamp()`), and the writer stamps the batch with it, so
///   lease expiry and heartbeats do not depend on the hosts' clocks.
/// Opening a write session applies pending migrations; opening a read
/// session checks that the schema is current.

#include <caf/expected.hpp>

#include <memory>
#include <string>
#include <vector>

namespace flowgate {

class write_session;
class read_session;

/// Opens the write connection to `url` (`postgresql://user@host:port/db`)
/// and migrates the schema. `applied` (if not null) receives the names of
/// migrations applied now. A row lock waited for longer than
/// `lock_timeout_ms` fails the operation with `store_busy`
/// (FLOWGATE_BUSY_TIMEOUT_MS, as SQLite's busy timeout).
[[nodiscard]] caf::expected<std::unique_ptr<write_session>>
open_pg_writer(const std::string& url, int64_t now_ms, std::vector<std::string>* applied = nullptr,
               int64_t lock_timeout_ms = 5000);

/// Opens a read connection. Errors: `schema_too_new`, or `store_failure` if
/// the schema is older than this binary (open a writer first).
[[nodiscard]] caf::expected<std::unique_ptr<read_session>>
open_pg_reader(const std::string& url, int64_t lock_timeout_ms = 5000);

} // namespace flowgate
