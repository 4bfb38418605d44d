#pragma once

// A node on a fresh database inside its own actor system.

#include "actors/node.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"
#include "tests/persistence/test_store.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <memory>

namespace flowgate::testing {

struct node_fixture {
  temp_db db;
  /// The SQLite file or the PostgreSQL URL (tests/persistence/test_store.hpp).
  std::string location = fresh_store_location(db);
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<node> n;

  node_fixture() {
    register_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    restart(settings());
  }

  ~node_fixture() {
    n.reset();
    join_actor_threads(*sys);
    sys.reset();
  }

  node_settings settings() const {
    node_settings s;
    s.db_path = location;
    s.synchronous = sync_mode::normal;
    s.default_tenant_id = "default";
    return s;
  }

  void restart(node_settings s, node_options options = {}) {
    n.reset();
    auto started = node::start(*sys, std::move(s), std::move(options));
    BOOST_REQUIRE_MESSAGE(started, (started ? "" : describe(started.error())));
    n = std::move(*started);
  }

  /// Counts rows through an independent connection.
  int64_t count(const std::string& sql) { return store_sql(location, sql); }

  /// A text value through an independent connection.
  std::string text(const std::string& sql) { return store_text(location, sql); }

  /// Changes the store behind the node's back.
  void exec(const std::string& sql) { store_sql(location, sql); }

  /// The run replays deterministically and `check` finds nothing wrong in
  /// the whole store.
  void expect_replayable_and_clean(const std::string& tenant, int64_t run) {
    auto report = n->replay(tenant, run);
    BOOST_REQUIRE(report);
    BOOST_TEST(report->deterministic, report->message);
    auto checked = n->check(tenant_scope::all_tenants());
    BOOST_REQUIRE(checked);
    for (const auto& f : checked->findings) {
      BOOST_TEST_MESSAGE(f.message);
    }
    BOOST_TEST(checked->findings.empty());
  }

  /// A fingerprint of all stored data, to prove bad input changed nothing.
  std::string store_fingerprint() {
    std::string out;
    for (const auto& q :
         {"SELECT " + concat_sql("tenant_id || tier || config_json || updated_at_ms") +
            " FROM (SELECT * FROM tenants ORDER BY tenant_id) t",
          "SELECT " + concat_sql("tenant_id || queue || version || checksum") +
            " FROM (SELECT * FROM pipeline_configs ORDER BY tenant_id, queue, version) c",
          "SELECT " + concat_sql("tenant_id || queue || version") +
            " FROM (SELECT * FROM active_configs ORDER BY tenant_id, queue) a"}) {
      out += text(q) + "|";
    }
    return out;
  }
};

inline std::string simple_pipeline(const std::string& activity) {
  return R"({"name": "p", "root": {"sequence": [{"id": "a", "activity": ")" + activity + R"("}]}})";
}

inline std::string simple_pipeline_for(const std::string& activity) {
  return simple_pipeline(activity);
}

} // namespace flowgate::testing
