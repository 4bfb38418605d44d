#include "messages/errors.hpp"
#include "persistence/migrations.hpp"
#include "persistence/sql_rows.hpp"
#include "persistence/sqlite.hpp"
#include "persistence/sqlite_store.hpp"
#include "tests/persistence/temp_db.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

using namespace flowgate;

namespace {

sqlite::connection open(const std::string& path) {
  auto c = sqlite::connection::open(sqlite::open_options{path, 1000, sync_mode::full, true});
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : describe(c.error())));
  return std::move(*c);
}

} // namespace

BOOST_AUTO_TEST_SUITE(migrations)

BOOST_AUTO_TEST_CASE(fresh_database_gets_every_table) {
  testing::temp_db db;
  auto c = open(db.path);
  auto applied = migrate(c, 1000);
  BOOST_REQUIRE(applied);
  BOOST_TEST(applied->size() == static_cast<size_t>(latest_schema_version()));
  BOOST_TEST(*schema_version(c) == latest_schema_version());
  for (const char* table : {"tenants", "pipeline_configs", "active_configs", "runs", "run_events",
                            "run_steps", "run_waits", "usage_periods", "subscriptions", "nodes"}) {
    auto n = c.query_int(std::string{"SELECT count(*) FROM sqlite_master WHERE type='table' AND "
                                     "name='"} +
                         table + "'");
    BOOST_TEST_CHECK(*n == 1, "table " << table);
  }
  // Tenant-scoped tables carry the tenant column.
  for (const char* table : {"pipeline_configs", "runs", "run_events", "run_steps", "run_waits",
                            "usage_periods", "subscriptions"}) {
    auto n = c.query_int(std::string{"SELECT count(*) FROM pragma_table_info('"} + table +
                         "') WHERE name = 'tenant_id'");
    BOOST_TEST_CHECK(*n == 1, "tenant_id in " << table);
  }
  BOOST_TEST(*c.query_text("PRAGMA journal_mode") == "wal");
  BOOST_TEST(*c.query_int("PRAGMA synchronous") == 2);
}

BOOST_AUTO_TEST_CASE(reopening_applies_nothing_and_keeps_data) {
  testing::temp_db db;
  {
    auto c = open(db.path);
    BOOST_REQUIRE(migrate(c, 1));
    BOOST_REQUIRE(!c.exec("INSERT INTO tenants VALUES ('a', '', 'solo', '{}', 1, 1)"));
  }
  auto c = open(db.path);
  auto applied = migrate(c, 2);
  BOOST_REQUIRE(applied);
  BOOST_TEST(applied->empty());
  BOOST_TEST(*c.query_int("SELECT count(*) FROM tenants") == 1);
  BOOST_TEST(*c.query_int("SELECT count(*) FROM schema_migrations") == latest_schema_version());
}

BOOST_AUTO_TEST_CASE(schemas_12_and_13_keep_the_due_index_small_and_the_checks_cheap) {
  testing::temp_db db;
  auto c = open(db.path);
  // A schema-11 store, made by the migrations as they ran then, with runs
  // of every status and a step and a wait of each kind.
  BOOST_REQUIRE(!c.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT "
                        "NOT NULL, applied_at_ms INTEGER NOT NULL)"));
  for (const auto& m : schema_migrations()) {
    if (m.version <= 11) {
      BOOST_REQUIRE_MESSAGE(!c.exec(m.sql), "migration " << m.version);
      BOOST_REQUIRE(!c.exec("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) +
                            ", 'old', 1)"));
    }
  }
  BOOST_REQUIRE(!c.exec("INSERT INTO tenants VALUES ('a', '', 'solo', '{}', 1, 1)"));
  const char* statuses[] = {"PENDING", "RUNNING", "WAITING", "COMPLETED", "FAILED", "CANCELED"};
  auto insert_run = [&](const std::string& status) {
    return c.exec("INSERT INTO runs (tenant_id, queue, config_tenant_id, config_version, "
                  "config_checksum, status, created_at_ms, updated_at_ms) VALUES ('a', 'q', 'a', "
                  "'1', 'c', '" +
                  status + "', 1, 1)");
  };
  auto insert_step = [&](const std::string& status, int attempt) {
    return c.exec("INSERT INTO run_steps (run_id, step_path, attempt, tenant_id, status, "
                  "started_at_ms) VALUES (1, 's', " +
                  std::to_string(attempt) + ", 'a', '" + status + "', 1)");
  };
  auto insert_wait = [&](const std::string& kind) {
    return c.exec("INSERT INTO run_waits (run_id, tenant_id, kind, node_path, created_at_ms) "
                  "VALUES (1, 'a', '" +
                  kind + "', 'n', 1)");
  };
  const char* step_statuses[] = {"started", "completed", "failed", "cut_off", "canceled"};
  const char* wait_kinds[] = {"quota", "event", "timer", "nondeterminism"};
  for (const char* status : statuses) {
    BOOST_REQUIRE(!insert_run(status));
  }
  for (int i = 0; i < 5; ++i) {
    BOOST_REQUIRE(!insert_step(step_statuses[i], i + 1));
  }
  for (const char* kind : wait_kinds) {
    BOOST_REQUIRE(!insert_wait(kind));
  }
  auto applied = migrate(c, 2);
  BOOST_REQUIRE(applied);
  BOOST_TEST(applied->size() == 2u);
  BOOST_TEST(*c.query_int("SELECT count(*) FROM schema_migrations") == latest_schema_version());
  BOOST_TEST(*c.query_text("PRAGMA integrity_check") == "ok");
  // The rebuilt index holds the three unfinished runs, not the finished.
  BOOST_TEST(*c.query_int("SELECT count(*) FROM runs INDEXED BY runs_tenant_due WHERE "
                          "tenant_id = 'a' AND " FLOWGATE_UNFINISHED_LITE) == 3);
  BOOST_TEST(*c.query_int("SELECT count(*) FROM runs") == 6);
  BOOST_TEST(c.query_text("SELECT sql FROM sqlite_master WHERE name = 'runs_tenant_due'")
               ->find("WHERE " FLOWGATE_UNFINISHED_LITE) != std::string::npos);
  // No CHECK of the hot tables compares with a list any more, and each
  // still takes exactly the values it took, in this connection and in a
  // new one.
  for (const char* table : {"runs", "run_steps", "run_waits"}) {
    auto text =
      c.query_text(std::string{"SELECT sql FROM sqlite_master WHERE name = '"} + table + "'");
    BOOST_TEST_CHECK(text->find(" IN (") == std::string::npos, table << ": " << *text);
    BOOST_TEST_CHECK(text->find(" IN\n") == std::string::npos, table << ": " << *text);
  }
  auto again = open(db.path);
  for (auto* conn : {&c, &again}) {
    for (const char* status : statuses) {
      BOOST_TEST(
        !conn->exec(std::string{"UPDATE runs SET status = '"} + status + "' WHERE run_id = 1"));
    }
    BOOST_TEST(static_cast<bool>(conn->exec("UPDATE runs SET status = 'DONE' WHERE run_id = 1")));
    BOOST_TEST(
      static_cast<bool>(conn->exec("UPDATE run_steps SET status = 'done' WHERE run_id = 1")));
    BOOST_TEST(
      static_cast<bool>(conn->exec("UPDATE run_waits SET kind = 'child' WHERE run_id = 1")));
  }
  BOOST_TEST(!insert_step("completed", 9));
  BOOST_TEST(!insert_wait("timer"));
  BOOST_TEST(static_cast<bool>(insert_run("done")));
  BOOST_TEST(static_cast<bool>(insert_step("running", 10)));
  BOOST_TEST(static_cast<bool>(insert_wait("signal")));
}

BOOST_AUTO_TEST_CASE(newer_schema_is_refused) {
  testing::temp_db db;
  {
    auto c = open(db.path);
    BOOST_REQUIRE(migrate(c, 1));
    BOOST_REQUIRE(!c.exec("INSERT INTO schema_migrations VALUES (999, 'from the future', 5)"));
  }
  auto c = open(db.path);
  auto applied = migrate(c, 2);
  BOOST_REQUIRE(!applied);
  BOOST_TEST(code_of(applied.error()) == errc::schema_too_new);
  BOOST_TEST(describe(applied.error()).find("schema version 999") != std::string::npos);
  auto writer = open_sqlite_writer(sqlite_store_options{db.path, sync_mode::full, 1000}, 3);
  BOOST_REQUIRE(!writer);
  BOOST_TEST(code_of(writer.error()) == errc::schema_too_new);
  auto reader = open_sqlite_reader(sqlite_store_options{db.path, sync_mode::full, 1000});
  BOOST_REQUIRE(!reader);
  BOOST_TEST(code_of(reader.error()) == errc::schema_too_new);
}

BOOST_AUTO_TEST_CASE(reader_refuses_unmigrated_database) {
  testing::temp_db db;
  auto reader = open_sqlite_reader(sqlite_store_options{db.path, sync_mode::full, 1000});
  BOOST_REQUIRE(!reader);
  BOOST_TEST(describe(reader.error()).find("flowgate db migrate") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(busy_database_is_a_retriable_error) {
  testing::temp_db db;
  auto a = open(db.path);
  BOOST_REQUIRE(migrate(a, 1));
  auto b = sqlite::connection::open(sqlite::open_options{db.path, 0, sync_mode::full, true});
  BOOST_REQUIRE(b);
  BOOST_REQUIRE(!a.exec("BEGIN IMMEDIATE"));
  auto err = b->exec("BEGIN IMMEDIATE");
  BOOST_REQUIRE(err);
  BOOST_TEST(code_of(err) == errc::store_busy);
  BOOST_TEST(is_retriable(err));
  BOOST_REQUIRE(!a.exec("ROLLBACK"));
}

BOOST_AUTO_TEST_SUITE_END()
