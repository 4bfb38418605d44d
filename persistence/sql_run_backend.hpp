#pragma once

/// The run store's primitives (persistence/run_backend.hpp) on a SQLite or
/// a PostgreSQL connection: one implementation, the same SQL. Every
/// statement is prepared once and cached on the connection.
///
/// `lock_tenant`: on SQLite a no-op, as the write transaction (BEGIN
/// IMMEDIATE) holds the database-wide write lock, which serializes every
/// writer of the file, in this process and in others. On PostgreSQL it
/// locks the tenant's row (`SELECT ... FOR UPDATE`) until the transaction
/// ends; the run store takes tenant locks in id order, so two nodes cannot
/// deadlock on them, and READ COMMITTED re-checks a conditional UPDATE's
/// WHERE against the row a concurrent transaction committed.

#include "persistence/run_backend.hpp"

#include <memory>

namespace flowgate {

namespace sqlite {
class connection;
}
namespace pg {
class connection;
}

/// Makes the run store's primitives for `db` (not owned; outlives it).
std::unique_ptr<run_backend> make_run_backend(sqlite::connection& db);
std::unique_ptr<run_backend> make_run_backend(pg::connection& db);

} // namespace flowgate
