#include "config/node_settings.hpp"
#include "config/tenant_config.hpp"
#include "messages/errors.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <string>

using namespace flowgate;

namespace {

env_lookup env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto i = vars.find(name);
    return i == vars.end() ? nullptr : i->second.c_str();
  };
}

} // namespace

BOOST_AUTO_TEST_SUITE(node_settings)

BOOST_AUTO_TEST_CASE(defaults_without_environment) {
  auto s = settings_from_environment(env({}));
  BOOST_REQUIRE(s);
  BOOST_TEST(s->db_path == "flowgate.db");
  BOOST_TEST(s->synchronous == sync_mode::full);
  BOOST_TEST(s->default_tenant_id == builtin_default_tenant_id);
  BOOST_TEST(s->tenant_max_concurrent_runs == 10);
  BOOST_TEST(s->bootstrap_tenant_ids.empty());
}

BOOST_AUTO_TEST_CASE(reads_and_normalizes_tenant_variables) {
  auto s = settings_from_environment(env({{"FLOWGATE_DEFAULT_TENANT_ID", " Main "},
                                          {"FLOWGATE_TENANT_IDS", "Acme, beta ,,gamma"},
                                          {"FLOWGATE_SYNCHRONOUS", "NORMAL"}}));
  BOOST_REQUIRE(s);
  BOOST_TEST(s->default_tenant_id == "main");
  BOOST_TEST((s->bootstrap_tenant_ids == std::vector<std::string>{"acme", "beta", "gamma"}));
  BOOST_TEST(s->synchronous == sync_mode::normal);
}

BOOST_AUTO_TEST_CASE(rejects_malformed_variables_naming_them) {
  auto bad_int = settings_from_environment(env({{"FLOWGATE_TENANT_MAX_CONCURRENT_RUNS", "ten"}}));
  BOOST_REQUIRE(!bad_int);
  BOOST_TEST(describe(bad_int.error()).find("FLOWGATE_TENANT_MAX_CONCURRENT_RUNS") !=
             std::string::npos);
  auto bad_sync = settings_from_environment(env({{"FLOWGATE_SYNCHRONOUS", "sometimes"}}));
  BOOST_REQUIRE(!bad_sync);
  BOOST_TEST(describe(bad_sync.error()).find("FLOWGATE_SYNCHRONOUS") != std::string::npos);
  auto bad_check = settings_from_environment(env({{"FLOWGATE_OPEN_CHECK", "full"}}));
  BOOST_REQUIRE(!bad_check);
  BOOST_TEST(describe(bad_check.error()) == "FLOWGATE_OPEN_CHECK: 'full' must be quick or off");
  auto off = settings_from_environment(env({{"FLOWGATE_OPEN_CHECK", "off"}}));
  BOOST_REQUIRE(off);
  BOOST_TEST(!off->open_check);
  BOOST_TEST(settings_from_environment(env({}))->open_check);
  auto bad_id = settings_from_environment(env({{"FLOWGATE_TENANT_IDS", "ok,not ok"}}));
  BOOST_REQUIRE(!bad_id);
  BOOST_TEST(describe(bad_id.error()).find("not ok") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
