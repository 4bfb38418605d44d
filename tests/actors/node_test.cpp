#include "config/tenant_config.hpp"
#include "tests/actors/node_fixture.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

using namespace flowgate;

BOOST_FIXTURE_TEST_SUITE(node, flowgate::testing::node_fixture)

BOOST_AUTO_TEST_CASE(default_tenant_always_exists) {
  auto t = n->get_tenant("");
  BOOST_REQUIRE(t);
  BOOST_TEST(t->id.value == "default");
  BOOST_TEST(count("SELECT count(*) FROM tenants") == 1);
}

BOOST_AUTO_TEST_CASE(bootstraps_tenants_from_settings_only_into_an_empty_registry) {
  auto s = settings();
  s.bootstrap_tenant_ids = {"acme", "beta"};
  restart(s);
  auto ts = n->list_tenants();
  BOOST_REQUIRE(ts);
  BOOST_TEST(ts->size() == 3u);
  // The store now has tenants: a new list in the environment is not applied.
  s.bootstrap_tenant_ids = {"gamma"};
  restart(s);
  BOOST_TEST(!n->get_tenant("gamma").engaged());
  BOOST_TEST(n->get_tenant("acme").engaged());
}

BOOST_AUTO_TEST_CASE(tenant_ids_are_normalized_everywhere) {
  auto t = n->put_tenant("  AcMe ", R"({"name": "Acme", "tier": "premium"})");
  BOOST_REQUIRE(t);
  BOOST_TEST(t->id.value == "acme");
  BOOST_TEST(t->tier == "premium");
  auto again = n->get_tenant("ACME");
  BOOST_REQUIRE(again);
  BOOST_TEST(again->name == "Acme");
  BOOST_TEST(count("SELECT count(*) FROM tenants WHERE tenant_id = 'acme'") == 1);
}

BOOST_AUTO_TEST_CASE(tenant_config_is_stored_canonically) {
  auto t = n->put_tenant("acme", R"({ "weight": 2, "name": "A" })");
  BOOST_REQUIRE(t);
  BOOST_TEST(t->config_json == R"({"name":"A","weight":2})");
}

BOOST_AUTO_TEST_CASE(reports_schema_info) {
  auto info = n->db_info();
  BOOST_REQUIRE(info);
  BOOST_TEST(info->journal_mode == "wal");
  BOOST_TEST(info->tenants == 1);
}

BOOST_AUTO_TEST_SUITE_END()
