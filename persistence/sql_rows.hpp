#pragma once

/// Row helpers shared by the run backend and the read side of both stores
/// (SQLite and PostgreSQL): the run columns and their reader, and statement
/// stepping. `St` is `sqlite::statement` or `pg::statement` (same API).
/// Internal to persistence/.

#include "messages/run_messages.hpp"
#include "messages/schedule_messages.hpp"

#include <caf/expected.hpp>

#include <optional>
#include <vector>

namespace flowgate::sql_rows {

// The condition of the partial index runs_tenant_due, which every
// statement that looks a tenant's runs up by status repeats word for word:
// SQLite uses a partial index only for a query that contains it. SQLite's
// (schema 13) is an OR chain: a list of three constants or more costs it an
// ephemeral B-tree built at every execution of the statement. Its unary
// `+` keeps the planner from turning the chain back into such a list to
// look the three statuses up one by one (which it does for a count of all
// three); the index's range of a tenant holds them all anyway.
// PostgreSQL's (schema 12) is the list, which it compares as one array.
#define FLOWGATE_UNFINISHED_LITE                                                                   \
  "(+status = 'PENDING' OR +status = 'RUNNING' OR +status = 'WAITING')"
#define FLOWGATE_UNFINISHED_PG "status IN ('PENDING', 'RUNNING', 'WAITING')"
// A statement `STMT(unfinished)` with the condition of its backend.
#define FLOWGATE_WITH_UNFINISHED(lite, STMT)                                                       \
  ((lite) ? STMT(FLOWGATE_UNFINISHED_LITE) : STMT(FLOWGATE_UNFINISHED_PG))

#define FLOWGATE_RUN_COLUMNS                                                                       \
  "run_id, tenant_id, queue, config_tenant_id, config_version, config_checksum, status, "          \
  "coalesce(wait_reason, ''), node_path, input, coalesce(output, ''), coalesce(error_type, ''), "  \
  "coalesce(error_message, ''), coalesce(idempotency_key, ''), next_seq, wake_at_ms, "             \
  "coalesce(lease_owner, ''), lease_expires_at_ms, lease_epoch, created_at_ms, updated_at_ms, "    \
  "coalesce(started_at_ms, 0), coalesce(finished_at_ms, 0), lease_incarnation"

/// How many columns FLOWGATE_RUN_COLUMNS names (`read_run` reads them
/// from 0): a statement's own columns after them start here.
inline constexpr int run_columns = 24;

template <class St> run_record read_run(const St& st) {
  run_record r;
  r.id = run_id{st.column_int64(0)};
  r.tenant = tenant_id{st.column_text(1)};
  r.queue = queue_name{st.column_text(2)};
  r.config_tenant = tenant_id{st.column_text(3)};
  r.version = config_version{st.column_text(4)};
  r.checksum = st.column_text(5);
  // The schema's CHECK admits only known statuses; an unknown wait reason
  // (none is stored by this version) reads as none.
  r.status = from_string<run_status>(st.column_text(6)).value_or(run_status::failed);
  r.wait_reason = from_string<wait_reason>(st.column_text(7)).value_or(wait_reason::none);
  r.node_path = st.column_text(8);
  r.input = st.column_text(9);
  r.output = st.column_text(10);
  r.error_type = st.column_text(11);
  r.error_message = st.column_text(12);
  r.idempotency_key = st.column_text(13);
  r.next_seq = st.column_int64(14);
  r.wake_at_ms = st.column_int64(15);
  r.lease_owner = st.column_text(16);
  r.lease_expires_at_ms = st.column_int64(17);
  r.epoch = st.column_int64(18);
  r.created_at_ms = st.column_int64(19);
  r.updated_at_ms = st.column_int64(20);
  r.started_at_ms = st.column_int64(21);
  r.finished_at_ms = st.column_int64(22);
  r.lease_incarnation = st.column_int64(23);
  return r;
}

#define FLOWGATE_SCHEDULE_COLUMNS                                                                  \
  "tenant_id, schedule_id, document, paused, revision, next_fire_ms, buffered_fire_ms, "           \
  "last_fire_ms, last_run_id, runs_started, fires_skipped, last_outcome, created_at_ms, "          \
  "updated_at_ms"

template <class St> schedule_record read_schedule(const St& st) {
  return schedule_record{tenant_id{st.column_text(0)}, st.column_text(1),   st.column_text(2),
                         st.column_int64(3) != 0,      st.column_int64(4),  st.column_int64(5),
                         st.column_int64(6),           st.column_int64(7),  st.column_int64(8),
                         st.column_int64(9),           st.column_int64(10), st.column_text(11),
                         st.column_int64(12),          st.column_int64(13)};
}

/// Calls `each` on every row of a bound statement, then resets it.
template <class St, class Each> caf::error for_each_row(St& st, Each each) {
  for (;;) {
    auto row = st.step();
    if (!row) {
      st.reset();
      return row.error();
    }
    if (!*row) {
      break;
    }
    each(st);
  }
  st.reset();
  return {};
}

/// Collects every row of a stepped statement, then resets it.
template <class T, class St, class Read> caf::expected<std::vector<T>> all_rows(St& st, Read read) {
  std::vector<T> out;
  if (auto err = for_each_row(st, [&](const St& row) { out.push_back(read(row)); })) {
    return err;
  }
  return out;
}

/// The first row of a bound statement read by `read`, or nullopt if there
/// is none; then resets it.
template <class T, class St, class Read>
caf::expected<std::optional<T>> optional_row(St& st, Read read) {
  auto row = st.step();
  std::optional<T> out;
  if (row && *row) {
    out = read(st);
  }
  st.reset();
  if (!row) {
    return row.error();
  }
  return out;
}

/// The first column of a bound statement's first row as an integer (0 if
/// there is no row), then resets it.
template <class St> caf::expected<int64_t> first_int(St& st) {
  auto row = st.step();
  auto value = row && *row ? st.column_int64(0) : 0;
  st.reset();
  if (!row) {
    return row.error();
  }
  return value;
}

} // namespace flowgate::sql_rows
