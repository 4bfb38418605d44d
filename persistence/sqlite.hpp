#pragma once

/// A small RAII layer over SQLite: a connection, a prepared statement, a
/// transaction guard, and the one place where SQLite result codes become
/// flowgate errors (`translate`). Only persistence/ .cpp files include
/// <sqlite3.h>; this header forward-declares what it needs.
///
/// Error rule: SQLITE_BUSY / SQLITE_LOCKED become `errc::store_busy`
/// (retriable); SQLITE_CONSTRAINT becomes `errc::invalid_argument`; every
/// other failure `errc::store_failure`. Messages carry SQLite's own text.

#include "config/node_settings.hpp"

#include "persistence/statement_binding.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace flowgate::sqlite {

/// Turns a SQLite result code into a flowgate error; `what` says what was attempted.
caf::error translate(int rc, sqlite3* db, std::string_view what);

/// Heap bytes SQLite holds now in this process (page caches, statements);
/// 0 unless `keep_memory_statistics()` ran before SQLite was first used.
int64_t memory_used();

/// Keeps SQLite's memory statistics on (flowgate turns them off when it
/// opens its first connection: they cost a process-wide mutex around each
/// of SQLite's allocations). Call before anything in the process uses
/// SQLite; the benchmarks that report SQLite's memory do.
void keep_memory_statistics();

/// How to open a database.
struct open_options {
  std::string path;
  int64_t busy_timeout_ms = 5000;
  sync_mode synchronous = sync_mode::full;
  /// Create the file if it does not exist.
  bool create = true;
};

/// A prepared statement. Bind parameters by 1-based index, step, read columns.
class statement : public statement_binding<statement> {
public:
  statement() = default;
  statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  statement(statement&& other) noexcept;
  statement& operator=(statement&& other) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  // -- binding ----------------------------------------------------------------

  using statement_binding::bind;
  statement& bind(int index, int64_t value);
  statement& bind(int index, double value);
  statement& bind(int index, std::string_view value);
  statement& bind_null(int index);

  // -- execution --------------------------------------------------------------

  /// Advances; true if a row is available, false when done.
  [[nodiscard]] caf::expected<bool> step();

  /// Steps to completion, then resets. For statements without rows.
  [[nodiscard]] caf::error run();

  /// Resets the statement and clears its bindings for reuse.
  void reset();

  // -- columns (0-based) ------------------------------------------------------
  int64_t column_int64(int col) const;
  double column_double(int col) const;
  std::string column_text(int col) const;
  bool column_is_null(int col) const;

  /// Rows this statement stepped over in full table scans since it was
  /// prepared (SQLITE_STMTSTATUS_FULLSCAN_STEP).
  int64_t full_scan_steps() const;

private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

/// An open database connection with flowgate's pragmas applied
/// (WAL, busy timeout, synchronous, foreign keys).
class connection {
public:
  /// Opens the database. Errors: `store_failure` naming the path.
  [[nodiscard]] static caf::expected<connection> open(const open_options& opts);

  connection() = default;
  connection(connection&& other) noexcept;
  connection& operator=(connection&& other) noexcept;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

  /// Runs one or more SQL statements without results.
  [[nodiscard]] caf::error exec(std::string_view sql);
  /// SQLite's message for the last failed call on this connection.
  std::string last_error_message() const;

  /// Prepares a statement. Errors name the SQL.
  [[nodiscard]] caf::expected<statement> prepare(std::string_view sql);

  /// A cached prepared statement for `sql` (which must outlive the
  /// connection, e.g. a string literal), reset and ready to bind.
  /// Preparation failure of a literal is a programming error: it throws.
  statement& cached(const char* sql);

  /// Runs a query returning one integer (first column of the first row).
  [[nodiscard]] caf::expected<int64_t> query_int(std::string_view sql);

  /// Runs a query returning one text value.
  [[nodiscard]] caf::expected<std::string> query_text(std::string_view sql);

  /// Rows changed by the last statement (an expected, like PostgreSQL's,
  /// whose pipelined statements report their errors here).
  [[nodiscard]] caf::expected<int64_t> changes() const;
  int64_t last_insert_rowid() const;
  /// Rows the cached statements stepped over in full table scans so far:
  /// a statement that should find its rows through an index and does not
  /// shows here (tests).
  int64_t full_scan_steps() const;
  /// The text of every statement prepared by `cached` (tests read their
  /// programs with EXPLAIN).
  std::vector<std::string> cached_sql() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

private:
  sqlite3* db_ = nullptr;
  std::string path_;
  std::unordered_map<const char*, std::unique_ptr<statement>> cache_;
};

/// Runs BEGIN IMMEDIATE on construction (see `begin`) and ROLLBACK on
/// destruction unless `commit` succeeded.
class transaction {
public:
  explicit transaction(connection& c) : conn_(&c) {}
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  ~transaction();

  /// BEGIN IMMEDIATE: takes the write lock now, so conflicts show up here
  /// (as `store_busy`) rather than mid-transaction.
  [[nodiscard]] caf::error begin();
  [[nodiscard]] caf::error commit();
  void rollback();

private:
  connection* conn_;
  bool open_ = false;
};

} // namespace flowgate::sqlite
