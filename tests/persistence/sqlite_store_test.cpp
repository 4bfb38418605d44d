#include "messages/errors.hpp"
#include "persistence/sqlite.hpp"
#include "persistence/sqlite_store.hpp"
#include "tests/persistence/store_sessions.hpp"
#include "tests/persistence/temp_db.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

using namespace flowgate;

namespace {

struct store_fixture : testing::store_sessions {
  config_document doc(const std::string& tenant, const std::string& queue,
                      const std::string& version, const std::string& checksum) {
    return config_document{tenant_id{tenant},
                           queue_name{queue},
                           config_version{version},
                           checksum,
                           "p",
                           "{}",
                           10,
                           false};
  }
};

reserve_step reservation(int64_t run, const std::string& step, int32_t attempt, int64_t limit) {
  return reserve_step{tenant_id{"t"}, run_id{run}, step, attempt, 100, 200, limit, 150};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(sqlite_store, store_fixture)

BOOST_AUTO_TEST_CASE(tenant_put_replaces_and_keeps_creation_time) {
  auto first = write(store_tenant{tenant_record{tenant_id{"a"}, "A", "solo", "{}", 0, 0}, 100});
  BOOST_REQUIRE(first);
  auto second = write(store_tenant{tenant_record{tenant_id{"a"}, "A2", "pro", "{}", 0, 0}, 200});
  BOOST_REQUIRE(second);
  BOOST_TEST(second->created_at_ms == 100);
  BOOST_TEST(second->updated_at_ms == 200);
  auto found = reader->apply(find_tenant{tenant_id{"a"}});
  BOOST_REQUIRE(found);
  BOOST_TEST(found->tier == "pro");
  auto missing = reader->apply(find_tenant{tenant_id{"zz"}});
  BOOST_REQUIRE(!missing);
  BOOST_TEST(code_of(missing.error()) == errc::unknown_tenant);
}

BOOST_AUTO_TEST_CASE(seeding_keeps_existing_tenants) {
  add_tenant("a");
  auto n = write(seed_tenants{{tenant_record{tenant_id{"a"}, "X", "premium", "{}", 0, 0},
                               tenant_record{tenant_id{"b"}, "", "solo", "{}", 0, 0}},
                              9});
  BOOST_REQUIRE(n);
  BOOST_TEST(*n == 1);
  BOOST_TEST(reader->apply(find_tenant{tenant_id{"a"}})->tier == "solo");
}

BOOST_AUTO_TEST_CASE(config_versions_are_immutable) {
  add_tenant("a");
  auto first = write(store_config{doc("a", "q", "1", "sha256:one")});
  BOOST_REQUIRE(first);
  BOOST_TEST(first->created);
  auto again = write(store_config{doc("a", "q", "1", "sha256:one")});
  BOOST_REQUIRE(again);
  BOOST_TEST(!again->created);
  auto changed = write(store_config{doc("a", "q", "1", "sha256:two")});
  BOOST_REQUIRE(!changed);
  BOOST_TEST(code_of(changed.error()) == errc::version_conflict);
  BOOST_TEST(describe(changed.error()).find("immutable") != std::string::npos);
  BOOST_TEST(
    reader->apply(find_config{tenant_id{"a"}, queue_name{"q"}, config_version{"1"}})->checksum ==
    "sha256:one");
  BOOST_TEST(count("SELECT count(*) FROM active_configs") == 0); // put never activates
}

BOOST_AUTO_TEST_CASE(config_for_unknown_tenant_is_refused_and_nothing_stored) {
  auto r = write(store_config{doc("ghost", "q", "1", "sha256:x")});
  BOOST_REQUIRE(!r);
  BOOST_TEST(code_of(r.error()) == errc::unknown_tenant);
  BOOST_TEST(count("SELECT count(*) FROM pipeline_configs") == 0);
  BOOST_TEST(count("SELECT count(*) FROM active_configs") == 0);
}

BOOST_AUTO_TEST_CASE(activation_and_runnable_version) {
  add_tenant("a");
  BOOST_REQUIRE(write(store_config{doc("a", "q", "1", "sha256:1")}));
  BOOST_REQUIRE(write(store_config{doc("a", "q", "2", "sha256:2")}));
  // No active version: the default version if stored, else nothing.
  auto v = reader->apply(find_runnable_version{tenant_id{"a"}, queue_name{"q"}, config_version{}});
  BOOST_TEST(v->value.empty());
  v = reader->apply(find_runnable_version{tenant_id{"a"}, queue_name{"q"}, config_version{"1"}});
  BOOST_TEST(v->value == "1");
  v = reader->apply(find_runnable_version{tenant_id{"a"}, queue_name{"q"}, config_version{"7"}});
  BOOST_TEST(v->value.empty());
  BOOST_REQUIRE(write(activate_config{tenant_id{"a"}, queue_name{"q"}, config_version{"1"}, 6}));
  auto act = write(activate_config{tenant_id{"a"}, queue_name{"q"}, config_version{"2"}, 7});
  BOOST_REQUIRE(act);
  BOOST_TEST(act->previous.value == "1");
  v = reader->apply(find_runnable_version{tenant_id{"a"}, queue_name{"q"}, config_version{}});
  BOOST_TEST(v->value == "2");
  auto bad = write(activate_config{tenant_id{"a"}, queue_name{"q"}, config_version{"9"}, 7});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(code_of(bad.error()) == errc::unknown_version);
  v =
    reader->apply(find_runnable_version{tenant_id{"a"}, queue_name{"other"}, config_version{"1"}});
  BOOST_TEST(v->value.empty());
  auto list = reader->apply(list_configs{tenant_id{"a"}, queue_name{}});
  BOOST_REQUIRE(list);
  BOOST_TEST(list->size() == 2u);
  BOOST_TEST(!list->at(0).active);
  BOOST_TEST(list->at(1).active);
}

BOOST_AUTO_TEST_CASE(reservations_stop_exactly_at_the_limit) {
  BOOST_REQUIRE(!writer->begin());
  int granted = 0;
  for (int i = 0; i < 12; ++i) {
    auto r = writer->apply(reservation(i, "s", 1, 3));
    BOOST_REQUIRE(r);
    granted += r->granted ? 1 : 0;
    BOOST_TEST(r->used == std::min(i + 1, 3));
  }
  BOOST_REQUIRE(!writer->commit());
  BOOST_TEST(granted == 3);
  BOOST_TEST(count("SELECT used_count FROM usage_periods") == 3);
  BOOST_TEST(count("SELECT count(*) FROM run_steps") == 3);
}

BOOST_AUTO_TEST_CASE(reservations_are_idempotent_per_attempt) {
  auto a = write(reservation(1, "items[0].reserve", 1, 10));
  auto b = write(reservation(1, "items[0].reserve", 1, 10));
  auto c = write(reservation(1, "items[0].reserve", 2, 10));
  BOOST_REQUIRE(a && b && c);
  BOOST_TEST(a->granted);
  BOOST_TEST(!a->duplicate);
  BOOST_TEST(b->granted);
  BOOST_TEST(b->duplicate);
  BOOST_TEST(b->used == 1);
  BOOST_TEST(c->used == 2);
  BOOST_TEST(count("SELECT used_count FROM usage_periods") == 2);
}

BOOST_AUTO_TEST_CASE(unlimited_periods_still_count) {
  for (int i = 0; i < 5; ++i) {
    auto r = write(reservation(i, "s", 1, -1));
    BOOST_REQUIRE(r);
    BOOST_TEST(r->granted);
  }
  BOOST_TEST(count("SELECT used_count FROM usage_periods") == 5);
}

BOOST_AUTO_TEST_CASE(savepoint_rollback_undoes_only_one_operation) {
  add_tenant("a");
  BOOST_REQUIRE(!writer->begin());
  BOOST_REQUIRE(!writer->savepoint());
  BOOST_REQUIRE(writer->apply(store_config{doc("a", "q", "1", "sha256:1")}));
  BOOST_REQUIRE(!writer->release_savepoint());
  BOOST_REQUIRE(!writer->savepoint());
  BOOST_REQUIRE(writer->apply(store_config{doc("a", "q", "2", "sha256:2")}));
  writer->rollback_to_savepoint();
  BOOST_REQUIRE(!writer->commit());
  BOOST_TEST(count("SELECT count(*) FROM pipeline_configs") == 1);
  BOOST_TEST(count("SELECT version FROM pipeline_configs") == 1);
}

BOOST_AUTO_TEST_CASE(schema_info_reports_counts) {
  add_tenant("a");
  auto info = reader->apply(read_schema_info{});
  BOOST_REQUIRE(info);
  BOOST_TEST(info->tenants == 1);
  BOOST_TEST(info->journal_mode == (testing::postgres_backend() ? "postgresql" : "wal"));
  BOOST_TEST(info->version == info->latest_version);
}

BOOST_AUTO_TEST_SUITE_END()
