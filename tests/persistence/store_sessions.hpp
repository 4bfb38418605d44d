#pragma once

// A fresh store (write and read sessions, no actors) for the persistence
// suites: one operation per committed transaction. SQLite in a temporary
// file, or a fresh database on the test PostgreSQL server when
// FLOWGATE_TEST_BACKEND=postgres (tests/tools/pg_server.hpp): the same
// cases run on both.

#include "persistence/open_store.hpp"
#include "tests/persistence/test_store.hpp"

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

  std::string text(const std::string& sql) { return store_text(location, sql); }

  /// Changes the store behind the sessions' back (planting a defect).
  void exec(const std::string& sql) { store_sql(location, sql); }
};

} // namespace flowgate::testing
