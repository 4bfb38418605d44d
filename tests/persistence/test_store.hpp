#pragma once

// The store a test runs on: a SQLite file in a temporary directory, or a
// fresh database on the test PostgreSQL server when
// FLOWGATE_TEST_BACKEND=postgres (tests/tools/pg_server.hpp). Helpers to
// look at it (and change it) from outside, on either backend.

#include "config/node_settings.hpp"
#include "messages/errors.hpp"
#include "persistence/pg.hpp"
#include "tests/persistence/temp_db.hpp"
#include "tests/tools/pg_server.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

namespace flowgate::testing {

/// Where a fresh test store lives: `db`'s file, or a new PostgreSQL database.
inline std::string fresh_store_location(const temp_db& db) {
  return postgres_backend() ? pg_test_server::instance().fresh_database() : db.path;
}

/// Settings that open the store at `location` (SQLite: synchronous=normal).
inline node_settings store_settings(const std::string& location) {
  node_settings s;
  s.db_path = location;
  s.synchronous = sync_mode::normal;
  s.busy_timeout_ms = 1000;
  return s;
}

/// A connection of the test's own to its PostgreSQL server. A connect that
/// times out (10 s) is tried twice more: CI once saw one time out on a
/// machine loaded with other suites; a test that cannot observe the store
/// at all still fails.
inline std::unique_ptr<pg::connection> test_pg_connection(const std::string& location) {
  auto c = pg::connection::open(location);
  for (int retry = 0; retry < 2 && !c; ++retry) {
    BOOST_TEST_MESSAGE("connecting to " << location << " again: " << describe(c.error()));
    c = pg::connection::open(location);
  }
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : describe(c.error())));
  return std::move(*c);
}

/// Runs SQL on the store through a connection of its own (committed
/// data only); returns the first column of the first row (0 if none).
inline int64_t store_sql(const std::string& location, const std::string& sql) {
  auto v = pg::is_url(location) ? [&] { return test_pg_connection(location)->query_int(sql); }()
                                : observer_connection(location).query_int(sql);
  BOOST_REQUIRE_MESSAGE(v, sql << ": " << (v ? "" : describe(v.error())));
  return *v;
}

/// As store_sql, for a text result ("" if none).
inline std::string store_text(const std::string& location, const std::string& sql) {
  auto v = pg::is_url(location) ? [&] { return test_pg_connection(location)->query_text(sql); }()
                                : observer_connection(location).query_text(sql);
  BOOST_REQUIRE_MESSAGE(v, sql << ": " << (v ? "" : describe(v.error())));
  return *v;
}

/// The first column of every row, as integers.
inline std::vector<int64_t> store_ints(const std::string& location, const std::string& sql) {
  std::vector<int64_t> out;
  auto collect = [&](auto& st) {
    for (;;) {
      auto row = st.step();
      BOOST_REQUIRE_MESSAGE(row, sql << ": " << (row ? "" : describe(row.error())));
      if (!*row) {
        break;
      }
      out.push_back(st.column_int64(0));
    }
  };
  if (pg::is_url(location)) {
    auto c = test_pg_connection(location);
    auto st = c->prepare(sql);
    BOOST_REQUIRE(st);
    collect(**st);
  } else {
    auto c = observer_connection(location);
    auto st = c.prepare(sql);
    BOOST_REQUIRE(st);
    collect(*st);
  }
  return out;
}

/// The string aggregate of the backend under test: SQLite's group_concat,
/// PostgreSQL's string_agg.
/// `expr` of every row joined by `sep`, on PostgreSQL (`pg`) or SQLite.
inline std::string concat_sql(const std::string& expr, const std::string& sep, bool pg) {
  return pg ? "string_agg((" + expr + ")::text, '" + sep + "')"
            : "group_concat(" + expr + ", '" + sep + "')";
}

/// The same for the backend the test runs on.
inline std::string concat_sql(const std::string& expr, const std::string& sep = ",") {
  return concat_sql(expr, sep, postgres_backend());
}

} // namespace flowgate::testing
