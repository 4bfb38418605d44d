#include "config/tenant_config.hpp"
#include "tests/actors/node_fixture.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>

#include <chrono>
#include <future>

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
  BOOST_TEST(info->journal_mode == (testing::postgres_backend() ? "postgresql" : "wal"));
  BOOST_TEST(info->tenants == 1);
}

BOOST_AUTO_TEST_CASE(a_node_actor_that_terminates_stops_the_node) {
  // Its actors ask each other without timeouts (local_reply): one that
  // terminates while the node runs must not leave the others waiting.
  auto fatal = std::make_shared<std::promise<caf::error>>();
  node_options opts;
  opts.execute = true;
  opts.on_fatal = [fatal](const caf::error& err) { fatal->set_value(err); };
  auto s = settings();
  s.node_id = "guarded";
  restart(s, std::move(opts));
  caf::scoped_actor self{*sys};
  self->monitor(n->dispatcher());
  self->monitor(n->writer());
  caf::anon_send_exit(n->accountant(), caf::exit_reason::kill);
  auto called = fatal->get_future();
  BOOST_REQUIRE(called.wait_for(std::chrono::seconds{30}) == std::future_status::ready);
  auto err = called.get();
  BOOST_TEST(code_of(err) == errc::shutting_down);
  BOOST_TEST(describe(err).find("its quota accountant terminated") != std::string::npos,
             describe(err));
  int down = 0;
  for (int i = 0; i < 2; ++i) {
    self->receive([&](caf::down_msg&) { down += 1; },
                  caf::after(std::chrono::seconds{30}) >> [] {});
  }
  BOOST_TEST(down == 2); // the dispatcher and the writer were stopped with it
  // The guard stays quiet when the node itself stops.
  n.reset();
}

BOOST_AUTO_TEST_CASE(a_node_that_stops_calls_no_on_fatal) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  node_options opts;
  opts.execute = true;
  opts.on_fatal = [calls](const caf::error&) { *calls += 1; };
  auto s = settings();
  s.node_id = "stopping";
  restart(s, std::move(opts));
  caf::scoped_actor self{*sys};
  self->monitor(n->writer());
  n.reset();
  self->receive([](caf::down_msg&) {}, caf::after(std::chrono::seconds{30}) >> [] {});
  BOOST_TEST(calls->load() == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(gateway, flowgate::testing::node_fixture)

namespace {

/// Sends one request to the node's gateway and waits for the answer.
template <class R, class Request>
caf::expected<R> ask_gateway(caf::actor_system& sys, const gateway_actor& gw, Request req) {
  caf::scoped_actor self{sys};
  caf::expected<R> out{caf::error{}};
  self->request(gw, std::chrono::seconds{10}, std::move(req))
    .receive([&](R& x) { out = std::move(x); }, [&](caf::error& e) { out = std::move(e); });
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(requests_carry_their_scope_and_the_gateway_enforces_it) {
  auto gw = n->gateway();
  // Operator requests need operator scope.
  auto listed = ask_gateway<std::vector<tenant_record>>(*sys, gw, list_tenants_request{"acme"});
  BOOST_REQUIRE(!listed);
  BOOST_TEST(code_of(listed.error()) == errc::invalid_argument);
  BOOST_TEST(describe(listed.error()) == "tenant list needs operator scope (every tenant)");
  BOOST_TEST(ask_gateway<std::vector<tenant_record>>(
               *sys, gw, list_tenants_request{tenant_scope::all_tenants()})
               .engaged());
  BOOST_TEST(!ask_gateway<std::vector<node_record>>(*sys, gw, list_nodes_request{"acme"}));
  BOOST_TEST(!ask_gateway<int64_t>(*sys, gw, scan_quota_request{"acme"}));
  BOOST_TEST(!ask_gateway<schema_info>(*sys, gw, db_info_request{"acme"}));
  // Tenant requests need one tenant.
  auto put = ask_gateway<tenant_record>(
    *sys, gw, put_tenant_request{tenant_scope::all_tenants(), R"({"tier": "pro"})"});
  BOOST_REQUIRE(!put);
  BOOST_TEST(describe(put.error()) ==
             "tenant put acts on one tenant; give a tenant, not every tenant");
  BOOST_REQUIRE(ask_gateway<tenant_record>(*sys, gw, put_tenant_request{"acme", "{}"}));
  BOOST_REQUIRE(ask_gateway<tenant_record>(*sys, gw, put_tenant_request{"other", "{}"}));
  // A run of acme: another tenant's scope gets exactly the missing-run answer.
  BOOST_REQUIRE(ask_gateway<config_stored>(
    *sys, gw,
    put_config_request{"acme", "q", "1",
                       R"({"name":"p","root":{"sequence":[{"id":"a","activity":"noop"}]}})"}));
  auto started = ask_gateway<run_created>(*sys, gw, start_run_request{"acme", "q", "{}", "", ""});
  BOOST_REQUIRE(started);
  auto id = started->run.id.value;
  auto foreign = ask_gateway<run_record>(*sys, gw, get_run_request{"other", id});
  auto missing = ask_gateway<run_record>(*sys, gw, get_run_request{"other", id + 1000});
  BOOST_REQUIRE(!foreign);
  BOOST_REQUIRE(!missing);
  BOOST_TEST(code_of(foreign.error()) == code_of(missing.error()));
  BOOST_TEST(describe(foreign.error()) == "run " + std::to_string(id) + " does not exist");
  BOOST_TEST(describe(missing.error()) == "run " + std::to_string(id + 1000) + " does not exist");
  auto mine = ask_gateway<run_record>(*sys, gw, get_run_request{"acme", id});
  BOOST_REQUIRE(mine);
  BOOST_TEST(mine->tenant.value == "acme");
  BOOST_TEST(
    ask_gateway<run_record>(*sys, gw, get_run_request{tenant_scope::all_tenants(), id}).engaged());
  // A config as a client sees it (the snapshot stays in the node).
  auto view = ask_gateway<config_view>(*sys, gw, get_config_request{"acme", "q", ""});
  BOOST_REQUIRE(view);
  BOOST_TEST(view->pipeline_name == "p");
  BOOST_TEST(view->node_count == 2);
}

BOOST_AUTO_TEST_CASE(a_status_no_enum_names_is_refused_by_the_gateway) {
  auto gw = n->gateway();
  BOOST_REQUIRE(ask_gateway<tenant_record>(*sys, gw, put_tenant_request{"acme", "{}"}));
  auto any =
    ask_gateway<std::vector<run_record>>(*sys, gw, list_runs_request{"acme", caf::none, 0, 10});
  BOOST_TEST(any.engaged());
  // A remote client can put any byte on the wire.
  auto bad = ask_gateway<std::vector<run_record>>(
    *sys, gw, list_runs_request{"acme", static_cast<run_status>(200), 0, 10});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(code_of(bad.error()) == errc::invalid_argument);
  BOOST_TEST(describe(bad.error()).find("status 200 is not a run status") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
