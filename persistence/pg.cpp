#include "persistence/pg.hpp"

#include "messages/errors.hpp"
#include "persistence/sql_text.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <stdexcept>

namespace flowgate::pg {

namespace {

// Type OIDs (pg_type.h): what each bound C++ value is sent as.
constexpr Oid int8_oid = 20;
constexpr Oid text_oid = 25;
constexpr Oid float8_oid = 701;

caf::error classify(std::string_view sqlstate, std::string text) {
  auto is = [&](std::string_view code) { return sqlstate == code; };
  auto in_class = [&](std::string_view cls) { return sqlstate.substr(0, 2) == cls; };
  if (is("40001") || is("40P01") || is("55P03")) {
    return make_error(errc::store_busy,
                      text + " (a concurrent transaction conflicted; nothing was written: retry)");
  }
  if (in_class("23")) {
    return make_error(errc::invalid_argument, text);
  }
  if (is("53100")) {
    return make_error(errc::store_full,
                      text + " (the server's disk is full; the write was not made: free space "
                             "and retry)");
  }
  // 25P03 / 57P05: the server ended an idle session (its transaction too).
  if (is("58030") || in_class("08") || is("57P01") || is("57P02") || is("57P03") || is("25P03") ||
      is("57P05")) {
    return make_error(errc::store_io,
                      text + " (the server failed or went away; the write was not made)");
  }
  if (is("XX001") || is("XX002")) {
    return make_error(errc::store_corrupt,
                      text + " (the server reports damaged data; restore it from a backup)");
  }
  return make_error(errc::store_failure, text);
}

/// `text` without the line break (and blanks) libpq ends its messages with.
std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

/// A COMMIT the server answered with ROLLBACK: the transaction had failed
/// (a statement's error was not seen by the client) and nothing of it was
/// written. PostgreSQL reports this with the command tag, not an error.
caf::error rolled_back(const pg_result* res, const std::string& path) {
  std::string_view tag = PQcmdStatus(const_cast<pg_result*>(res));
  if (tag == "COMMIT") {
    return {};
  }
  return make_error(errc::store_failure,
                    "database '" + path + "': the server rolled the transaction back at COMMIT (" +
                      std::string{tag} + "): a statement of it had failed; nothing was written");
}

/// Rows a command changed, from its result.
int64_t changed_rows(const pg_result* res) {
  int64_t changed = 0;
  const char* tuples = PQcmdTuples(const_cast<pg_result*>(res));
  if (tuples != nullptr && *tuples != '\0') {
    std::from_chars(tuples, tuples + std::char_traits<char>::length(tuples), changed);
  }
  return changed;
}

} // namespace

bool is_url(std::string_view location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

std::string redacted(std::string_view url) {
  // scheme://user:password@host... -> scheme://user@host...
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) {
    return std::string{url};
  }
  auto at = url.find('@', scheme + 3);
  auto slash = url.find('/', scheme + 3);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) {
    return std::string{url};
  }
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) {
    return std::string{url};
  }
  return std::string{url.substr(0, colon)} + std::string{url.substr(at)};
}

caf::error translate(pg_conn* conn, const pg_result* result, std::string_view sql,
                     const std::string& location) {
  std::string server = conn != nullptr ? PQerrorMessage(conn) : "";
  std::string sqlstate;
  if (result != nullptr) {
    if (const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)) {
      server = primary;
    }
    if (const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE)) {
      sqlstate = state;
    }
  }
  std::string where =
    "database '" + location + "': in " + statement_label(sql) + ": " + trimmed(std::move(server));
  if (sqlstate.empty() && (conn == nullptr || PQstatus(conn) != CONNECTION_OK)) {
    sqlstate = "08006"; // connection failure
  }
  return classify(sqlstate, std::move(where));
}

// -- statement ------------------------------------------------------------------

statement::statement(connection& conn, std::string sql, std::string name)
    : conn_(&conn), sql_(dollar_parameters(sql)), name_(std::move(name)) {}

statement::~statement() {
  reset();
}

namespace {

template <class T> void put(std::vector<T>& v, int index, T x) {
  auto i = static_cast<size_t>(index - 1);
  if (v.size() <= i) {
    v.resize(i + 1);
  }
  v[i] = std::move(x);
}

} // namespace

statement& statement::bind(int index, int64_t value) {
  put(values_, index, std::optional<std::string>{std::to_string(value)});
  put(types_, index, int8_oid);
  return *this;
}

statement& statement::bind(int index, double value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  put(values_, index, std::optional<std::string>{std::string{buf, end}});
  put(types_, index, float8_oid);
  return *this;
}

statement& statement::bind(int index, std::string_view value) {
  put(values_, index, std::optional<std::string>{std::string{value}});
  put(types_, index, text_oid);
  return *this;
}

statement& statement::bind_null(int index) {
  put(values_, index, std::optional<std::string>{});
  if (types_.size() < static_cast<size_t>(index)) {
    put(types_, index, Oid{0});
  }
  return *this;
}

std::vector<const char*> statement::parameters() const {
  std::vector<const char*> params(values_.size());
  for (size_t i = 0; i < values_.size(); ++i) {
    params[i] = values_[i] ? values_[i]->c_str() : nullptr;
  }
  return params;
}

caf::error statement::send() {
  if (auto err = conn_->make_room()) {
    return err;
  }
  auto* db = conn_->handle();
  auto n = static_cast<int>(values_.size());
  auto params = parameters();
  const auto* types = reinterpret_cast<const Oid*>(types_.data());
  if (!name_.empty() && !prepared_) {
    if (PQsendPrepare(db, name_.c_str(), sql_.c_str(), n, types) != 1) {
      return translate(db, nullptr, sql_, conn_->path());
    }
    prepared_ = true;
    conn_->queued(sql_, this, true);
  }
  auto sent = name_.empty()
                ? PQsendQueryParams(db, sql_.c_str(), n, types, params.data(), nullptr, nullptr, 0)
                : PQsendQueryPrepared(db, name_.c_str(), n, params.data(), nullptr, nullptr, 0);
  if (sent != 1) {
    return translate(db, nullptr, sql_, conn_->path());
  }
  conn_->queued(sql_, nullptr, false);
  return {};
}

caf::error statement::execute() {
  auto* db = conn_->handle();
  if (conn_->in_pipeline()) {
    if (auto err = send()) {
      return err;
    }
    if (auto err = conn_->drain(&result_)) {
      return err;
    }
  } else {
    auto n = static_cast<int>(values_.size());
    auto params = parameters();
    if (name_.empty()) {
      // One-shot: parsed, planned and run in one round trip, nothing kept.
      result_ = PQexecParams(db, sql_.c_str(), n, reinterpret_cast<const Oid*>(types_.data()),
                             params.data(), nullptr, nullptr, 0);
    } else {
      if (!prepared_) {
        // Parameter types are those of the first binding; every call site
        // binds the same C++ types each time.
        auto* res = PQprepare(db, name_.c_str(), sql_.c_str(), n,
                              reinterpret_cast<const Oid*>(types_.data()));
        auto ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        conn_->count_statement(0);
        auto err = ok ? caf::error{} : translate(db, res, sql_, conn_->path());
        PQclear(res);
        if (err) {
          return err;
        }
        prepared_ = true;
      }
      result_ = PQexecPrepared(db, name_.c_str(), n, params.data(), nullptr, nullptr, 0);
    }
    auto status = PQresultStatus(result_);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      auto err = translate(db, result_, sql_, conn_->path());
      PQclear(result_);
      result_ = nullptr;
      return err;
    }
    conn_->count_statement(changed_rows(result_));
  }
  rows_ = PQntuples(result_);
  row_ = -1;
  return {};
}

caf::expected<bool> statement::step() {
  if (result_ == nullptr) {
    if (auto err = execute()) {
      return err;
    }
  }
  ++row_;
  return row_ < rows_;
}

caf::error statement::run() {
  caf::error err;
  if (result_ == nullptr) {
    // In pipeline mode the result is read later, in order (connection::drain).
    err = conn_->in_pipeline() ? send() : execute();
  }
  reset();
  return err;
}

void statement::reset() {
  if (result_ != nullptr) {
    PQclear(result_);
    result_ = nullptr;
  }
  values_.clear();
  row_ = -1;
  rows_ = 0;
}

int64_t statement::column_int64(int col) const {
  const char* text = PQgetvalue(result_, row_, col);
  if (text == nullptr || *text == '\0') {
    return 0;
  }
  if (text[0] == 't' && text[1] == '\0') {
    return 1;
  }
  if (text[0] == 'f' && text[1] == '\0') {
    return 0;
  }
  int64_t out = 0;
  std::from_chars(text, text + std::char_traits<char>::length(text), out);
  return out;
}

double statement::column_double(int col) const {
  const char* text = PQgetvalue(result_, row_, col);
  double out = 0;
  if (text != nullptr) {
    std::from_chars(text, text + std::char_traits<char>::length(text), out);
  }
  return out;
}

std::string statement::column_text(int col) const {
  const char* text = PQgetvalue(result_, row_, col);
  return text != nullptr ? std::string{text, static_cast<size_t>(PQgetlength(result_, row_, col))}
                         : std::string{};
}

bool statement::column_is_null(int col) const {
  return PQgetisnull(result_, row_, col) != 0;
}

// -- array_literal ----------------------------------------------------------------

void array_literal::add(int64_t value) {
  separate();
  body_ += std::to_string(value);
}

void array_literal::add(std::string_view value) {
  separate();
  body_ += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') {
      body_ += '\\';
    }
    body_ += c;
  }
  body_ += '"';
}

// -- connection -----------------------------------------------------------------

caf::expected<std::unique_ptr<connection>> connection::open(const std::string& url,
                                                            int64_t lock_timeout_ms) {
  // Defaults first: the URL's own settings (expanded from `dbname`) come
  // after them and win.
  static const char* const keywords[] = {
    "connect_timeout",     "tcp_user_timeout", "keepalives", "keepalives_idle",
    "keepalives_interval", "keepalives_count", "dbname",     nullptr};
  const char* values[] = {"10", "30000", "1", "10", "5", "3", url.c_str(), nullptr};
  auto* conn = PQconnectdbParams(keywords, values, 1);
  if (conn == nullptr) {
    return make_error(errc::store_failure, "database '" + redacted(url) + "': out of memory");
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    auto why = trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return make_error(errc::store_io, "database '" + redacted(url) + "': cannot connect: " + why);
  }
  std::unique_ptr<connection> out{new connection(conn, url, lock_timeout_ms)};
  if (auto err = out->apply_settings()) {
    return err;
  }
  return out;
}

caf::error connection::apply_settings() {
  // Times are stored as integers; UTC keeps what the server prints stable.
  // A lock wait is bounded: a node that stalls (stopped, paused) inside a
  // transaction must not stall every other node behind its row locks. The
  // server also ends a session idle inside a transaction for four lock
  // timeouts (at least 10 s): flowgate never waits inside one (activities
  // run outside), so only a stalled process's session is ended, its
  // transaction rolled back and its row locks freed; when the process
  // resumes, its statements fail and its next transaction connects again.
  auto lock = std::max<int64_t>(0, lock_timeout_ms_);
  auto idle = lock > 0 ? std::max<int64_t>(10'000, 4 * lock) : 0;
  return exec("SET TIME ZONE 'UTC'; SET client_min_messages = warning; SET lock_timeout = " +
              std::to_string(lock) +
              "; SET idle_in_transaction_session_timeout = " + std::to_string(idle));
}

caf::error connection::revive() {
  if (PQstatus(conn_) == CONNECTION_OK || txn_open_) {
    return {};
  }
  PQreset(conn_);
  if (PQpipelineStatus(conn_) != PQ_PIPELINE_OFF) {
    (void)PQexitPipelineMode(conn_);
  }
  pipeline_ = false;
  pending_.clear();
  for (auto& [sql, st] : cache_) {
    st->prepared_ = false; // the new server session has none of them
  }
  if (PQstatus(conn_) != CONNECTION_OK) {
    return make_error(errc::store_io, "database '" + path_ +
                                        "': the connection was lost and cannot be made again: " +
                                        trimmed(PQerrorMessage(conn_)));
  }
  ++reconnects_;
  return apply_settings();
}

void connection::track_transaction(std::string_view sql, bool ok) {
  if (sql.rfind("BEGIN", 0) == 0) {
    txn_open_ = ok;
  } else if (sql == "COMMIT" || sql == "ROLLBACK") {
    txn_open_ = false; // ended either way: committed, rolled back, or lost
  }
}

connection::~connection() {
  cache_.clear();
  if (conn_ != nullptr) {
    PQfinish(conn_);
  }
}

// -- pipeline mode -------------------------------------------------------------------

namespace {

/// More queued statements than this are read before the next is sent: the
/// client writes while the server's results wait unread, and both sides'
/// socket buffers must not fill (libpq's blocking mode would deadlock).
constexpr size_t max_queued = 512;

} // namespace

caf::error connection::begin_pipeline() {
  if (pipeline_) {
    return {};
  }
  if (PQenterPipelineMode(conn_) != 1) {
    return translate(conn_, nullptr, "pipeline mode", path_);
  }
  pipeline_ = true;
  return {};
}

void connection::queued(std::string_view sql, statement* prepares, bool trivial) {
  pending_.push_back(pending{std::string{sql}, prepares, trivial});
  if (prepares == nullptr) {
    ++statements_;
  }
}

caf::expected<int64_t> connection::changes() {
  if (pipeline_ && !pending_.empty()) {
    // The count is the last queued statement's: its result (and any error
    // of the statements before it) is read first. An error must reach the
    // caller: the transaction is aborted, and a COMMIT would roll it back.
    if (auto err = drain(nullptr)) {
      return err;
    }
  }
  return changes_;
}

caf::error connection::flush_writes() {
  auto effects =
    std::any_of(pending_.begin(), pending_.end(), [](const pending& p) { return !p.trivial; });
  return effects ? drain(nullptr) : caf::error{};
}

caf::error connection::make_room() {
  return pending_.size() >= max_queued ? drain(nullptr) : caf::error{};
}

caf::error connection::drain(pg_result** last) {
  if (pending_.empty()) {
    return {};
  }
  ++round_trips_;
  // A sync, not just a flush: the server then reports ready (inside the
  // transaction), so that a session that stays idle there from now on is
  // ended by idle_in_transaction_session_timeout; and after a failure it
  // resumes at the sync (the transaction is aborted then: ROLLBACK TO its
  // savepoint restores it).
  if (PQpipelineSync(conn_) != 1) {
    auto err = translate(conn_, nullptr, pending_.front().sql, path_);
    pending_.clear();
    return err;
  }
  auto err = read_queued(last);
  await_sync();
  return err;
}

caf::error connection::read_queued(pg_result** last) {
  auto queue = std::move(pending_);
  pending_.clear();
  caf::error first;
  bool failed = false;
  for (size_t i = 0; i < queue.size(); ++i) {
    auto& p = queue[i];
    pg_result* res = PQgetResult(conn_);
    if (res == nullptr) {
      return first ? first : translate(conn_, nullptr, p.sql, path_);
    }
    auto status = PQresultStatus(res);
    auto ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (ok && !first && p.sql == "COMMIT") {
      first = rolled_back(res, path_);
    }
    if (!ok) {
      if (status != PGRES_PIPELINE_ABORTED && !first) {
        first = translate(conn_, res, p.sql, path_);
      }
      failed = true;
      if (p.prepares != nullptr) {
        p.prepares->prepared_ = false; // prepared on its next use instead
      }
    } else if (p.prepares == nullptr) {
      changes_ = changed_rows(res);
    }
    if (ok && last != nullptr && i + 1 == queue.size()) {
      *last = res;
    } else {
      PQclear(res);
    }
    // Each statement's results end with a null.
    while (auto* extra = PQgetResult(conn_)) {
      PQclear(extra);
    }
  }
  if (failed && !first) {
    first =
      make_error(errc::store_failure,
                 "database '" + path_ + "': a statement was skipped after an earlier one failed");
  }
  return first;
}

void connection::await_sync() {
  for (;;) {
    pg_result* res = PQgetResult(conn_);
    if (res == nullptr) {
      if (PQstatus(conn_) != CONNECTION_OK) {
        return;
      }
      continue;
    }
    auto status = PQresultStatus(res);
    PQclear(res);
    if (status == PGRES_PIPELINE_SYNC) {
      return;
    }
  }
}

caf::error connection::finish_pipeline(std::string_view sql) {
  std::string text{sql};
  caf::error err;
  if (PQsendQueryParams(conn_, text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) != 1) {
    err = translate(conn_, nullptr, text, path_);
  } else {
    queued(text, nullptr, false);
  }
  // One round trip: the sync ends the extended-query sequence and flushes.
  ++round_trips_;
  if (PQpipelineSync(conn_) != 1) {
    if (!err) {
      err = translate(conn_, nullptr, text, path_);
    }
    pending_.clear();
  } else {
    auto read = read_queued(nullptr);
    if (!err) {
      err = std::move(read);
    }
    await_sync();
  }
  if (PQexitPipelineMode(conn_) != 1 && !err) {
    err = translate(conn_, nullptr, "leaving pipeline mode", path_);
  }
  pipeline_ = false;
  if (err) {
    // `sql` (COMMIT or ROLLBACK) may have been skipped after a failure: the
    // transaction ends here either way, and COMMIT reports the failure.
    PQclear(PQexec(conn_, "ROLLBACK"));
  }
  return err;
}

caf::error connection::exec(std::string_view sql) {
  if (auto err = revive()) {
    track_transaction(sql, false);
    return err;
  }
  auto err = exec_statements(sql);
  track_transaction(sql, !err);
  return err;
}

caf::error connection::exec_statements(std::string_view sql) {
  if (pipeline_) {
    if (sql.find(';') == std::string_view::npos) {
      return finish_pipeline(sql); // COMMIT, ROLLBACK: one round trip
    }
    if (auto err = finish_pipeline("SELECT 1")) {
      return err;
    }
  }
  std::string text{sql};
  auto* res = PQexec(conn_, text.c_str());
  auto status = PQresultStatus(res);
  caf::error err;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    err = translate(conn_, res, text, path_);
  } else if (text == "COMMIT") {
    err = rolled_back(res, path_);
  }
  if (!err) {
    ++statements_;
    ++round_trips_;
  }
  PQclear(res);
  return err;
}

caf::expected<int64_t> connection::exec_int(std::string_view sql) {
  if (auto err = revive()) {
    return err;
  }
  auto out = exec_int_statements(sql);
  track_transaction(sql, static_cast<bool>(out));
  return out;
}

caf::expected<int64_t> connection::exec_int_statements(std::string_view sql) {
  if (pipeline_) {
    if (auto err = finish_pipeline("SELECT 1")) {
      return err;
    }
  }
  std::string text{sql};
  auto* res = PQexec(conn_, text.c_str());
  auto status = PQresultStatus(res);
  if (status != PGRES_TUPLES_OK) {
    auto err = translate(conn_, res, text, path_);
    PQclear(res);
    return err;
  }
  ++statements_;
  ++round_trips_;
  int64_t out = 0;
  if (PQntuples(res) > 0) {
    const char* v = PQgetvalue(res, 0, 0);
    std::from_chars(v, v + std::char_traits<char>::length(v), out);
  }
  PQclear(res);
  return out;
}

statement& connection::cached(const char* sql) {
  // A failure to reconnect shows as the statement's own error.
  (void)revive();
  auto i = cache_.find(sql);
  if (i == cache_.end()) {
    i = cache_.emplace(sql, std::make_unique<statement>(*this, sql, next_statement_name())).first;
  }
  i->second->reset();
  return *i->second;
}

caf::expected<std::unique_ptr<statement>> connection::prepare(std::string_view sql) {
  if (auto err = revive()) {
    return err;
  }
  return std::make_unique<statement>(*this, std::string{sql}, std::string{});
}

caf::expected<int64_t> connection::query_int(std::string_view sql) {
  if (auto err = revive()) {
    return err;
  }
  statement st{*this, std::string{sql}, std::string{}};
  auto row = st.step();
  if (!row) {
    return row.error();
  }
  return *row ? st.column_int64(0) : 0;
}

caf::expected<std::string> connection::query_text(std::string_view sql) {
  if (auto err = revive()) {
    return err;
  }
  statement st{*this, std::string{sql}, std::string{}};
  auto row = st.step();
  if (!row) {
    return row.error();
  }
  return *row ? st.column_text(0) : std::string{};
}

} // namespace flowgate::pg
