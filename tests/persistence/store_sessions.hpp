#pragma once

// A fresh store (write and read sessions, no actors) for the persistence
// suites: one operation per committed transaction. SQLite in a temporary
// file, or a fresh database on the test PostgreSQL server when
// FLOWGATE_TEST_BACKEND=postgres (tests/tools/pg_server.hpp): the same
// cases run on both.

#include "persistence/open_store.hpp"
#include "persistence/pg.hpp"
#include "tests/persistence/temp_db.hpp"
#include "tests/tools/pg_server.hpp"

#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>

namespace flowgate::testing {

/// A run of `tenant` to create unclaimed (PENDING) at `now_ms`.
inline create_run pending_run_op(const std::string& tenant, int64_t now_ms) {
  create_run op;
  op.run.tenant = tenant_id{tenant};
  op.run.queue = queue_name{"q"};
  op.run.config_tenant = tenant_id{tenant};
  op.run.version = config_version{"1"};
  op.run.checksum = "c";
  op.run.input = "{}";
  op.now_ms = now_ms;
  return op;
}

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

/// Runs SQL on the store through a connection of its own (committed
/// data only); returns the first column of the first row, if any.
inline int64_t store_sql(const std::string& location, const std::string& sql) {
  if (pg::is_url(location)) {
    auto c = pg::connection::open(location);
    BOOST_REQUIRE_MESSAGE(c, (c ? "" : describe(c.error())));
    auto v = (*c)->query_int(sql);
    BOOST_REQUIRE_MESSAGE(v, (v ? "" : describe(v.error())));
    return *v;
  }
  auto c = observer_connection(location);
  auto v = c.query_int(sql);
  BOOST_REQUIRE_MESSAGE(v, (v ? "" : describe(v.error())));
  return *v;
}

struct store_sessions {
  temp_db db;
  /// The SQLite file or the PostgreSQL URL.
  std::string location = fresh_store_location(db);
  std::unique_ptr<write_session> writer;
  std::unique_ptr<read_session> reader;

  store_sessions() {
    auto w = open_store_writer(store_settings(location), 1);
    BOOST_REQUIRE_MESSAGE(w, (w ? "" : describe(w.error())));
    writer = std::move(*w);
    auto r = open_store_reader(store_settings(location));
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
    reader = std::move(*r);
  }

  /// Applies one operation in its own committed transaction.
  template <class Op> auto write(const Op& op) {
    BOOST_REQUIRE(!writer->begin());
    auto out = writer->apply(op);
    BOOST_REQUIRE(!writer->commit());
    return out;
  }

  void add_tenant(const std::string& id, const std::string& config = "{}") {
    BOOST_REQUIRE(write(store_tenant{tenant_record{tenant_id{id}, "", "solo", config, 0, 0}, 5}));
  }

  int64_t count(const std::string& sql) { return store_sql(location, sql); }

  /// Changes the store behind the sessions' back (planting a defect).
  void exec(const std::string& sql) { store_sql(location, sql); }
};

} // namespace flowgate::testing
