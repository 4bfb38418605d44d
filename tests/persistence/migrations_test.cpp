#include "messages/errors.hpp"
#include "persistence/migrations.hpp"
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

BOOST_AUTO_TEST_CASE(schema_12_keeps_only_unfinished_runs_in_the_due_index) {
  testing::temp_db db;
  auto c = open(db.path);
  BOOST_REQUIRE(migrate(c, 1));
  // Back to schema 11 (the due index over every run), with runs in it.
  BOOST_REQUIRE(!c.exec("DROP INDEX runs_tenant_due; CREATE INDEX runs_tenant_due ON runs "
                        "(tenant_id, status, wake_at_ms); DELETE FROM schema_migrations "
                        "WHERE version = 12"));
  BOOST_REQUIRE(!c.exec("INSERT INTO tenants VALUES ('a', '', 'solo', '{}', 1, 1)"));
  for (const char* status : {"PENDING", "RUNNING", "WAITING", "COMPLETED", "FAILED", "CANCELED"}) {
    BOOST_REQUIRE(!c.exec(std::string{"INSERT INTO runs (tenant_id, queue, config_tenant_id, "
                                      "config_version, config_checksum, status, "
                                      "created_at_ms, updated_at_ms) VALUES ('a', 'q', 'a', "
                                      "'1', 'c', '"} +
                          status + "', 1, 1)"));
  }
  auto applied = migrate(c, 2);
  BOOST_REQUIRE(applied);
  BOOST_TEST(applied->size() == 1u);
  BOOST_TEST(*c.query_int("SELECT count(*) FROM schema_migrations") == latest_schema_version());
  // The rebuilt index holds the three unfinished runs, not the finished.
  BOOST_TEST(*c.query_int("SELECT count(*) FROM runs INDEXED BY runs_tenant_due WHERE "
                          "tenant_id = 'a' AND status IN ('PENDING', 'RUNNING', 'WAITING')") == 3);
  BOOST_TEST(*c.query_int("SELECT count(*) FROM runs") == 6);
  BOOST_TEST(c.query_text("SELECT sql FROM sqlite_master WHERE name = 'runs_tenant_due'")
               ->find("WHERE status IN ('PENDING', 'RUNNING', 'WAITING')") != std::string::npos);
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
