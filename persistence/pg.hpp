#pragma once

/// A small RAII layer over libpq with the same shape as the SQLite one
/// (persistence/sqlite.hpp): a connection, a prepared statement bound by
/// 1-based index and stepped row by row, and the one place where
/// PostgreSQL's SQLSTATE codes become flowgate errors (`translate`). The
/// store's SQL is written once for both: a statement's `?N` parameters are
/// rewritten to `$N`, and each parameter is sent with the type of the C++
/// value bound to it (bigint, double precision, text), so PostgreSQL never
/// has to guess. Only persistence/ .cpp files include <libpq-fe.h>.
///
/// Error rule: serialization failures (40001), deadlocks (40P01) and lock
/// timeouts (55P03) become `errc::store_busy` (retriable: the transaction
/// had no effect); integrity violations (23xxx) `errc::invalid_argument`;
/// disk full (53100) `errc::store_full`; I/O errors (58030) and a lost
/// connection `errc::store_io`; data corruption (XX001, XX002)
/// `errc::store_corrupt`; everything else `errc::store_failure`. Messages
/// carry the statement's first words and the server's own text.

#include "persistence/statement_binding.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

struct pg_conn;
struct pg_result;

namespace flowgate::pg {

/// True if `location` names a PostgreSQL database (`postgresql://` or
/// `postgres://` URL) rather than a SQLite file.
bool is_url(std::string_view location);

/// The URL without its password, for messages and `db info`.
std::string redacted(std::string_view url);

class connection;

/// A prepared statement. Bind parameters by 1-based index, step, read columns.
class statement : public statement_binding<statement> {
public:
  /// `name`: the server-side prepared statement; empty for a one-shot
  /// statement (PQexecParams: nothing is kept on the server).
  statement(connection& conn, std::string sql, std::string name);
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

  /// Executes on the first call, then advances; true if a row is available.
  [[nodiscard]] caf::expected<bool> step();
  /// Executes, then resets. For statements without rows.
  [[nodiscard]] caf::error run();
  /// Drops the result and the bindings for reuse.
  void reset();

  // -- columns (0-based) ------------------------------------------------------

  /// Integers; a boolean column reads as 1 or 0.
  int64_t column_int64(int col) const;
  double column_double(int col) const;
  std::string column_text(int col) const;
  bool column_is_null(int col) const;

private:
  [[nodiscard]] caf::error execute();

  connection* conn_;
  std::string sql_;
  std::string name_;
  bool prepared_ = false;
  std::vector<std::optional<std::string>> values_;
  std::vector<unsigned int> types_;
  pg_result* result_ = nullptr;
  int row_ = -1;
  int rows_ = 0;
};

/// An open connection (UTC, READ COMMITTED).
class connection {
public:
  /// Connects. A statement that waits longer than `lock_timeout_ms` for a
  /// row lock fails with `store_busy` (0: waits for ever). Errors:
  /// `store_io` naming the server when it cannot be reached,
  /// `store_failure` otherwise.
  [[nodiscard]] static caf::expected<std::unique_ptr<connection>> open(const std::string& url,
                                                                       int64_t lock_timeout_ms = 0);

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

  /// Runs one or more SQL statements without parameters or results.
  [[nodiscard]] caf::error exec(std::string_view sql);

  /// Runs one or more SQL statements (simple query protocol, one round
  /// trip); returns the first column of the last statement's first row.
  [[nodiscard]] caf::expected<int64_t> exec_int(std::string_view sql);

  /// A cached prepared statement for `sql` (which must outlive the
  /// connection, e.g. a string literal), reset and ready to bind.
  statement& cached(const char* sql);

  /// A one-shot statement (e.g. for SQL built at run time).
  [[nodiscard]] caf::expected<std::unique_ptr<statement>> prepare(std::string_view sql);

  /// Runs a query returning one integer (first column of the first row).
  [[nodiscard]] caf::expected<int64_t> query_int(std::string_view sql);
  /// Runs a query returning one text value.
  [[nodiscard]] caf::expected<std::string> query_text(std::string_view sql);

  /// Rows changed by the last statement executed.
  int64_t changes() const { return changes_; }

  /// The URL without its password.
  const std::string& path() const { return path_; }

  pg_conn* handle() const { return conn_; }

  /// Round trips since the connection opened (a statement's first
  /// execution is two: prepare, then execute).
  int64_t statements() const { return statements_; }

  // Internal to statement.
  void count_statement(int64_t changed) {
    ++statements_;
    changes_ = changed;
  }
  std::string next_statement_name() { return "s" + std::to_string(++names_); }

private:
  connection(pg_conn* conn, std::string path) : conn_(conn), path_(std::move(path)) {}

  pg_conn* conn_;
  std::string path_;
  std::unordered_map<const char*, std::unique_ptr<statement>> cache_;
  int64_t changes_ = 0;
  int64_t statements_ = 0;
  int64_t names_ = 0;
};

/// Turns a failed result (or, if null, the connection's state) into a
/// flowgate error; `sql` names what was attempted, `location` the database.
caf::error translate(pg_conn* conn, const pg_result* result, std::string_view sql,
                     const std::string& location);

} // namespace flowgate::pg
