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
/// disk full (53100) `errc::store_full`; I/O errors (58030), a lost
/// connection and a session the server ended (57P0x, 25P03 idle in a
/// transaction) `errc::store_io`; data corruption (XX001, XX002)
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
  friend class connection;
  [[nodiscard]] caf::error execute();
  /// Pipeline mode: queues the statement's prepare (first use) and execute.
  [[nodiscard]] caf::error send();
  /// The parameters as libpq takes them.
  std::vector<const char*> parameters() const;

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
  ///
  /// A server that does not answer is found out in bounded time, unless
  /// the URL sets these itself: the connection attempt gives up after
  /// `connect_timeout` (10 s); data the server does not acknowledge fails
  /// the connection after `tcp_user_timeout` (30 s); and while a reply is
  /// awaited, TCP keepalives (idle 10 s, then every 5 s, 3 unanswered)
  /// end a connection to a host that died or was cut off. Without them a
  /// write to a vanished host blocks the writer for the kernel's
  /// retransmission timeout (about 15 minutes), holding every reply.
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

  /// Rows changed by the last statement executed (in pipeline mode, reads
  /// the queued results first, and returns the first error among them).
  [[nodiscard]] caf::expected<int64_t> changes();

  // -- pipeline mode (the write transaction) --------------------------------------
  // Inside `begin_pipeline` .. `exec` (COMMIT, ROLLBACK), a statement that
  // returns no rows (`statement::run`) is sent without waiting for its
  // result; a statement whose rows or changes are read waits for every
  // result queued before it, in order. A queued statement's error is
  // returned by the next call that waits (the statements after it were
  // skipped by the server, which has then been told to resume), so the
  // operation that queued it fails, never a later one, as long as the
  // caller waits (`flush`) before its operation ends.

  /// Enters pipeline mode (inside an open transaction).
  [[nodiscard]] caf::error begin_pipeline();
  /// Waits for every queued result; the first queued statement's error.
  [[nodiscard]] caf::error flush() { return drain(nullptr); }
  /// `flush` if a queued statement may have changed data (anything but
  /// SAVEPOINT and RELEASE, which fail only with the connection).
  [[nodiscard]] caf::error flush_writes();
  bool in_pipeline() const { return pipeline_; }

  /// The URL without its password.
  const std::string& path() const { return path_; }

  pg_conn* handle() const { return conn_; }

  /// Statements executed since the connection opened (a statement's
  /// first execution is two: prepare, then execute).
  int64_t statements() const { return statements_; }

  /// Round trips (waits for the server) since the connection opened.
  int64_t round_trips() const { return round_trips_; }

  /// Times the connection was made again after it was lost.
  int64_t reconnects() const { return reconnects_; }

  // Internal to statement.
  void count_statement(int64_t changed, bool waited = true) {
    ++statements_;
    round_trips_ += waited ? 1 : 0;
    changes_ = changed;
  }
  /// Remembers a statement sent in pipeline mode; `prepares`: the
  /// statement whose prepare it is (unprepared again if it fails).
  void queued(std::string_view sql, statement* prepares, bool trivial);
  /// Waits for every queued result; `last` (if not null) receives the
  /// last one's result when it succeeded.
  [[nodiscard]] caf::error drain(pg_result** last);
  /// Drains first if the queue is long (see max_queued in pg.cpp).
  [[nodiscard]] caf::error make_room();
  std::string next_statement_name() { return "s" + std::to_string(++names_); }

private:
  connection(pg_conn* conn, std::string url, int64_t lock_timeout_ms)
      : conn_(conn), url_(std::move(url)), path_(redacted(url_)),
        lock_timeout_ms_(lock_timeout_ms) {}

  /// The session settings (time zone, lock timeout), after connecting.
  [[nodiscard]] caf::error apply_settings();
  /// Outside a transaction, a lost connection is made again (a server
  /// restart or a network failure must not leave a node failing every
  /// statement until it is restarted): the same URL and settings, and every
  /// cached statement is prepared again on its next use. Inside one, the
  /// statements fail with `store_io` until the caller's ROLLBACK.
  [[nodiscard]] caf::error revive();
  /// Notes BEGIN, COMMIT and ROLLBACK sent as `sql`.
  void track_transaction(std::string_view sql, bool ok);
  [[nodiscard]] caf::error exec_statements(std::string_view sql);
  [[nodiscard]] caf::expected<int64_t> exec_int_statements(std::string_view sql);

  pg_conn* conn_;
  /// With its password: reconnecting needs it.
  std::string url_;
  std::string path_;
  int64_t lock_timeout_ms_ = 0;
  bool txn_open_ = false;
  int64_t reconnects_ = 0;
  /// Leaves pipeline mode after `sql` (a single statement) has run.
  [[nodiscard]] caf::error finish_pipeline(std::string_view sql);
  /// Reads the queued results in order (`drain` without the sending).
  [[nodiscard]] caf::error read_queued(pg_result** last);
  /// Reads up to the result of a sync sent before.
  void await_sync();

  struct pending {
    std::string sql;
    statement* prepares = nullptr;
    bool trivial = false;
  };

  std::unordered_map<const char*, std::unique_ptr<statement>> cache_;
  int64_t changes_ = 0;
  int64_t statements_ = 0;
  int64_t round_trips_ = 0;
  int64_t names_ = 0;
  bool pipeline_ = false;
  std::vector<pending> pending_;
};

/// A one-dimensional array in PostgreSQL's text form ({1,2}, {"a","b"}),
/// bound as text and cast in the statement (`?1::bigint[]`): many rows'
/// columns in one parameter each (INSERT ... SELECT FROM unnest(...)).
class array_literal {
public:
  void add(int64_t value);
  /// Quoted; backslashes and double quotes escaped.
  void add(std::string_view value);
  /// The literal ("{}" when empty).
  std::string text() const { return "{" + body_ + "}"; }

private:
  void separate() {
    if (!body_.empty()) {
      body_ += ',';
    }
  }
  std::string body_;
};

/// Turns a failed result (or, if null, the connection's state) into a
/// flowgate error; `sql` names what was attempted, `location` the database.
caf::error translate(pg_conn* conn, const pg_result* result, std::string_view sql,
                     const std::string& location);

} // namespace flowgate::pg
