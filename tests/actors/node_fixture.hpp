#pragma once

// A node on a fresh database inside its own actor system.

#include "actors/node.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"
#include "persistence/sqlite.hpp"
#include "tests/persistence/temp_db.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <memory>

namespace flowgate::testing {

struct node_fixture {
  temp_db db;
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
    sys.reset();
  }

  node_settings settings() const {
    node_settings s;
    s.db_path = db.path;
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
  int64_t count(const std::string& sql) { return *observer_connection(db.path).query_int(sql); }

  /// A fingerprint of all stored data, to prove bad input changed nothing.
  std::string store_fingerprint() {
    auto c = observer_connection(db.path);
    std::string out;
    for (const char* q :
         {"SELECT group_concat(tenant_id || tier || config_json || updated_at_ms) FROM tenants",
          "SELECT group_concat(tenant_id || queue || version || checksum) FROM pipeline_configs",
          "SELECT group_concat(tenant_id || queue || version) FROM active_configs"}) {
      out += *c.query_text(q) + "|";
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
