#pragma once

// A fresh SQLite store (write and read sessions, no actors) for the
// persistence suites: one operation per committed transaction.

#include "persistence/sqlite_store.hpp"
#include "tests/persistence/temp_db.hpp"

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
  sqlite_store_options opts{db.path, sync_mode::normal, 1000};
  std::unique_ptr<write_session> writer;
  std::unique_ptr<read_session> reader;

  store_sessions() {
    auto w = open_sqlite_writer(opts, 1);
    BOOST_REQUIRE(w);
    writer = std::move(*w);
    auto r = open_sqlite_reader(opts);
    BOOST_REQUIRE(r);
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

  int64_t count(const std::string& sql) { return *observer_connection(db.path).query_int(sql); }
};

} // namespace flowgate::testing
