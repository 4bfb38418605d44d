#include "persistence/sqlite.hpp"

#include "messages/errors.hpp"
#include "persistence/sql_text.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace flowgate::sqlite {

int64_t memory_used() {
  return sqlite3_memory_used();
}

namespace {

/// SQLite's memory statistics (SQLITE_CONFIG_MEMSTATUS, on by default) take
/// a process-wide mutex around every allocation SQLite makes; flowgate
/// reads them only in the benchmarks. Off unless `keep_memory_statistics`
/// ran first. Applies only if this process has not used SQLite yet (an
/// embedder's own use of it first keeps SQLite's default).
std::atomic<bool> memory_statistics{false};

void configure_once() {
  static std::once_flag once;
  std::call_once(
    once, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, memory_statistics.load() ? 1 : 0); });
}

} // namespace

void keep_memory_statistics() {
  memory_statistics = true;
  configure_once();
}

caf::error translate(int rc, sqlite3* db, std::string_view what) {
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string file;
  if (const char* name = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
      name != nullptr && *name != '\0') {
    file = std::string{"database '"} + name + "': ";
  }
  std::string text = file + std::string{what} + ": " + detail;
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return make_error(errc::store_busy, text + " (the database is busy; retry)");
  case SQLITE_CONSTRAINT:
    return make_error(errc::invalid_argument, text);
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return make_error(errc::store_corrupt,
                      text + " (the file is damaged; nothing more is written to it: restore it "
                             "from a backup)");
  case SQLITE_FULL:
    return make_error(errc::store_full,
                      text + " (the disk or the database is full; the write was not made: free "
                             "space and retry)");
  case SQLITE_IOERR:
    return make_error(errc::store_io, text + " (an I/O error; the write was not made)");
  default:
    return make_error(errc::store_failure, text);
  }
}

// -- statement ------------------------------------------------------------------

statement::statement(statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}

statement& statement::operator=(statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

statement::~statement() {
  sqlite3_finalize(stmt_);
}

statement& statement::bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

statement& statement::bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}

statement& statement::bind(int index, std::string_view value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  return *this;
}

statement& statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

caf::expected<bool> statement::step() {
  auto rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  auto err = translate(rc, db_, "in " + statement_label(sqlite3_sql(stmt_)));
  sqlite3_reset(stmt_);
  return err;
}

caf::error statement::run() {
  for (;;) {
    auto more = step();
    if (!more) {
      return std::move(more.error());
    }
    if (!*more) {
      break;
    }
  }
  reset();
  return {};
}

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t statement::column_int64(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

double statement::column_double(int col) const {
  return sqlite3_column_double(stmt_, col);
}

std::string statement::column_text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  auto n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string{}
                      : std::string{reinterpret_cast<const char*>(p), static_cast<size_t>(n)};
}

bool statement::column_is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

// -- connection -----------------------------------------------------------------

caf::expected<connection> connection::open(const open_options& opts) {
  connection c;
  c.path_ = opts.path;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (opts.create) {
    flags |= SQLITE_OPEN_CREATE;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(opts.path, ec)) {
    return make_error(errc::invalid_argument,
                      "database '" + opts.path + "' is a directory, not a database file");
  }
  if (opts.create && opts.path != ":memory:" && opts.path.rfind("file:", 0) != 0) {
    // A new database file is the operator's alone (it holds tenants'
    // secrets); SQLite creates the WAL and shared-memory files with the
    // database file's mode. An existing file keeps the mode it has.
    int fd = ::open(opts.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::close(fd);
    }
  }
  configure_once();
  auto rc = sqlite3_open_v2(opts.path.c_str(), &c.db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    return translate(rc, nullptr, "opening database '" + opts.path + "'");
  }
  sqlite3_extended_result_codes(c.db_, 1);
  sqlite3_busy_timeout(c.db_, static_cast<int>(opts.busy_timeout_ms));
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=";
  pragmas += to_string(opts.synchronous);
  pragmas += ";";
  if (auto err = c.exec(pragmas)) {
    return err;
  }
  return c;
}

connection::connection(connection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)),
      cache_(std::move(other.cache_)) {}

connection& connection::operator=(connection&& other) noexcept {
  if (this != &other) {
    cache_.clear();
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    cache_ = std::move(other.cache_);
  }
  return *this;
}

connection::~connection() {
  cache_.clear(); // finalize statements before closing
  sqlite3_close_v2(db_);
}

std::string connection::last_error_message() const {
  return db_ != nullptr ? sqlite3_errmsg(db_) : "no connection";
}

caf::error connection::exec(std::string_view sql) {
  std::string text{sql};
  char* msg = nullptr;
  auto rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    sqlite3_free(msg);
    return translate(rc, db_, "in " + statement_label(text));
  }
  return {};
}

caf::expected<statement> connection::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  auto rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                               SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return translate(rc, db_, "preparing " + statement_label(sql));
  }
  return statement{db_, stmt};
}

statement& connection::cached(const char* sql) {
  auto i = cache_.find(sql);
  if (i == cache_.end()) {
    auto stmt = prepare(sql);
    if (!stmt) {
      throw std::logic_error(describe(stmt.error()));
    }
    i = cache_.emplace(sql, std::make_unique<statement>(std::move(*stmt))).first;
  }
  i->second->reset();
  return *i->second;
}

int64_t statement::full_scan_steps() const {
  return stmt_ == nullptr ? 0 : sqlite3_stmt_status(stmt_, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
}

int64_t connection::full_scan_steps() const {
  int64_t n = 0;
  for (const auto& [sql, st] : cache_) {
    n += st->full_scan_steps();
  }
  return n;
}

std::vector<std::string> connection::cached_sql() const {
  std::vector<std::string> out;
  for (const auto& [sql, st] : cache_) {
    out.emplace_back(sql);
  }
  return out;
}

caf::expected<int64_t> connection::query_int(std::string_view sql) {
  auto stmt = prepare(sql);
  if (!stmt) {
    return stmt.error();
  }
  auto row = stmt->step();
  if (!row) {
    return row.error();
  }
  return *row ? stmt->column_int64(0) : 0;
}

caf::expected<std::string> connection::query_text(std::string_view sql) {
  auto stmt = prepare(sql);
  if (!stmt) {
    return stmt.error();
  }
  auto row = stmt->step();
  if (!row) {
    return row.error();
  }
  return *row ? stmt->column_text(0) : std::string{};
}

caf::expected<int64_t> connection::changes() const {
  return sqlite3_changes64(db_);
}

int64_t connection::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_);
}

// -- transaction ----------------------------------------------------------------

transaction::~transaction() {
  if (open_) {
    rollback();
  }
}

caf::error transaction::begin() {
  if (auto err = conn_->exec("BEGIN IMMEDIATE")) {
    return err;
  }
  open_ = true;
  return {};
}

caf::error transaction::commit() {
  if (auto err = conn_->exec("COMMIT")) {
    rollback();
    return err;
  }
  open_ = false;
  return {};
}

void transaction::rollback() {
  if (open_) {
    // ROLLBACK fails only if no transaction is open (SQLite already rolled
    // back on a fatal error): either way, nothing is left open.
    (void)conn_->exec("ROLLBACK");
    open_ = false;
  }
}

} // namespace flowgate::sqlite
