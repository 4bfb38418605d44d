#pragma once

/// The run store's primitives on a SQLite connection (persistence/
/// run_backend.hpp). Every statement is prepared once and cached on the
/// connection. `lock_tenant` is a no-op: the write transaction (BEGIN
/// IMMEDIATE) holds the database-wide write lock, which serializes every
/// writer of the file, in this process and in others.

#include "persistence/run_backend.hpp"
#include "persistence/sqlite.hpp"

namespace flowgate {

/// Makes the run store's primitives for `db` (not owned; outlives it).
std::unique_ptr<run_backend> make_sqlite_run_backend(sqlite::connection& db);

} // namespace flowgate
