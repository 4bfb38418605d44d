// The door a node publishes for remote clients (actors/gateway_door.hpp),
// driven in-process through gateway_client: the same door and gateway a
// TLS client reaches (tests/tools/remote_test.cpp covers the wire).

#include "actors/gateway_client.hpp"
#include "actors/gateway_door.hpp"
#include "tests/actors/node_fixture.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

#include <caf/scoped_actor.hpp>

#include <chrono>
#include <string>

using namespace flowgate;

namespace {

struct door_fixture : testing::node_fixture {
  gateway_actor door;
  int64_t acme_run = 0;
  int64_t other_run = 0;
  std::string operator_key;
  std::string acme_key;

  door_fixture() {
    for (const auto* t : {"acme", "other"}) {
      BOOST_REQUIRE(n->put_tenant(t, R"({"tier":"pro"})"));
      BOOST_REQUIRE(n->put_config(t, "q", "1", testing::simple_pipeline("echo")));
    }
    acme_run = n->start_run("acme", "q", "{}")->run.id.value;
    other_run = n->start_run("other", "q", "{}")->run.id.value;
    // Keys are made through the node itself (in-process: trusted).
    auto op = n->create_key("", true, "ops");
    BOOST_REQUIRE_MESSAGE(op, (op ? "" : describe(op.error())));
    operator_key = op->key;
    auto ak = n->create_key("acme", false, "acme app");
    BOOST_REQUIRE(ak);
    acme_key = ak->key;
    door = spawn_gateway_door(
      *sys, door_setup{n->gateway(), n->reader(), "default", std::chrono::seconds{10}});
  }

  ~door_fixture() { caf::anon_send_exit(door, caf::exit_reason::user_shutdown); }

  std::unique_ptr<gateway_client> as(const std::string& key) {
    return std::make_unique<gateway_client>(*sys, door, key);
  }
};

template <class T> errc code(const caf::expected<T>& x) {
  return x ? errc::none : code_of(x.error());
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(door, door_fixture)

BOOST_AUTO_TEST_CASE(a_tenant_key_acts_for_its_tenant_only_whatever_the_scope_says) {
  auto acme = as(acme_key);
  // Its own run, by any scope it may give.
  for (const auto& scope : {tenant_scope{""}, tenant_scope{"acme"}, tenant_scope{" ACME "},
                            tenant_scope::all_tenants()}) {
    auto r = acme->get_run(scope, acme_run);
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
    BOOST_TEST(r->tenant.value == "acme");
  }
  // Another tenant's run reads exactly like a missing one.
  auto theirs = acme->get_run(tenant_scope::all_tenants(), other_run);
  auto missing = acme->get_run(tenant_scope::all_tenants(), 999);
  BOOST_REQUIRE(!theirs);
  BOOST_REQUIRE(!missing);
  BOOST_TEST(code_of(theirs.error()) == errc::not_found);
  auto said = describe(theirs.error());
  auto id = std::to_string(other_run);
  said.replace(said.find(id), id.size(), "999");
  BOOST_TEST(said == describe(missing.error()));
  BOOST_TEST(code(acme->signal_run(tenant_scope::all_tenants(), other_run, "go", "{}")) ==
             errc::not_found);
  BOOST_TEST(code(acme->cancel_run(tenant_scope::all_tenants(), other_run, "x")) ==
             errc::not_found);
  BOOST_TEST(code(acme->run_history(tenant_scope::all_tenants(), other_run)) == errc::not_found);
  // Listing "every tenant" lists its own.
  auto listed = acme->list_runs(tenant_scope::all_tenants(), caf::none, 0, 100);
  BOOST_REQUIRE(listed);
  BOOST_REQUIRE(listed->size() == 1u);
  BOOST_TEST(listed->front().id.value == acme_run);
  // A blank tenant is its own; naming another is forbidden and stores nothing.
  auto runs_before = count("SELECT count(*) FROM runs");
  auto started = acme->start_run("", "q", R"({"via":"door"})");
  BOOST_REQUIRE_MESSAGE(started, (started ? "" : describe(started.error())));
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE run_id = " +
                   std::to_string(started->run.id.value) + " AND tenant_id = 'acme'") == 1);
  auto fingerprint = store_fingerprint();
  BOOST_TEST(code(acme->start_run("other", "q", "{}")) == errc::forbidden);
  BOOST_TEST(code(acme->put_config("other", "q", "2", testing::simple_pipeline("noop"))) ==
             errc::forbidden);
  BOOST_TEST(code(acme->put_tenant("other", R"({"tier":"solo"})")) == errc::forbidden);
  BOOST_TEST(count("SELECT count(*) FROM runs") == runs_before + 1);
  BOOST_TEST(store_fingerprint() == fingerprint);
  // Operator requests are not a tenant key's.
  BOOST_TEST(code(acme->list_tenants()) == errc::forbidden);
  BOOST_TEST(code(acme->list_nodes()) == errc::forbidden);
  BOOST_TEST(code(acme->db_info()) == errc::forbidden);
  BOOST_TEST(code(acme->scan_quota_waits()) == errc::forbidden);
  BOOST_TEST(code(acme->create_key("acme", false, "")) == errc::forbidden);
  BOOST_TEST(code(acme->list_keys("")) == errc::forbidden);
  // Its own tenant's reads and writes work.
  BOOST_TEST(static_cast<bool>(acme->get_tenant("")));
  BOOST_TEST(static_cast<bool>(acme->summarize_quota("")));
  BOOST_TEST(static_cast<bool>(acme->list_configs("", "q")));
  // Its tenant record shows the secrets' names only, as everywhere.
  BOOST_REQUIRE(n->put_tenant("acme", R"({"tier":"pro","secrets":{"api_key":"sk-123"}})"));
  auto t = acme->get_tenant("");
  BOOST_REQUIRE(t);
  BOOST_TEST(t->config_json.find("sk-123") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_operator_key_acts_for_every_tenant) {
  auto op = as(operator_key);
  BOOST_TEST(static_cast<bool>(op->get_run(tenant_scope::all_tenants(), other_run)));
  BOOST_TEST(static_cast<bool>(op->get_run(tenant_scope{"other"}, other_run)));
  // As in-process: a named tenant scope still sees that tenant's runs only.
  BOOST_TEST(code(op->get_run(tenant_scope{"acme"}, other_run)) == errc::not_found);
  auto all = op->list_runs(tenant_scope::all_tenants(), caf::none, 0, 100);
  BOOST_REQUIRE(all);
  BOOST_TEST(all->size() == 2u);
  BOOST_TEST(static_cast<bool>(op->list_tenants()));
  BOOST_TEST(static_cast<bool>(op->list_nodes()));
  auto made = op->create_key("other", false, "");
  BOOST_REQUIRE(made);
  auto keys = op->list_keys("");
  BOOST_REQUIRE(keys);
  BOOST_TEST(keys->size() == 3u);
  for (const auto& k : *keys) {
    BOOST_TEST(k.secret_sha256.empty()); // never shown
  }
  // Only the hash is stored.
  BOOST_TEST(count("SELECT count(*) FROM api_keys WHERE secret_sha256 = '" +
                   made->key.substr(made->key.rfind('_') + 1) + "'") == 0);
  BOOST_TEST(static_cast<bool>(as(made->key)->get_run(tenant_scope::all_tenants(), other_run)));
}

BOOST_AUTO_TEST_CASE(a_missing_malformed_unknown_wrong_or_revoked_key_is_refused) {
  auto fingerprint = store_fingerprint();
  auto runs = count("SELECT count(*) FROM runs");
  auto parts = acme_key.substr(4);
  auto id = parts.substr(0, parts.find('_'));
  auto wrong_secret = "fgk_" + id + "_" + std::string(64, '0');
  auto unknown_id = "fgk_" + std::string(16, '0') + acme_key.substr(acme_key.rfind('_'));
  for (const auto& key : {std::string{}, std::string{"not-a-key"}, unknown_id, wrong_secret}) {
    auto c = as(key);
    auto r = c->start_run("acme", "q", "{}");
    BOOST_REQUIRE(!r);
    BOOST_TEST(code_of(r.error()) == errc::unauthenticated, describe(r.error()));
    // One message for every reason; never the key.
    BOOST_TEST(describe(r.error()).find("missing, malformed, unknown or revoked") !=
               std::string::npos);
    if (!key.empty()) {
      BOOST_TEST(describe(r.error()).find(key) == std::string::npos);
    }
    BOOST_TEST(code(c->put_tenant("acme", R"({"tier":"solo"})")) == errc::unauthenticated);
    BOOST_TEST(code(c->get_run(tenant_scope::all_tenants(), acme_run)) == errc::unauthenticated);
  }
  // Revoked: refused at once.
  auto acme = as(acme_key);
  BOOST_TEST(static_cast<bool>(acme->get_run(tenant_scope{""}, acme_run)));
  auto revoked = n->revoke_key(id);
  BOOST_REQUIRE(revoked);
  BOOST_TEST(revoked->revoked_at_ms > 0);
  BOOST_TEST(code(acme->get_run(tenant_scope{""}, acme_run)) == errc::unauthenticated);
  BOOST_TEST(code(n->revoke_key("0000000000000000")) == errc::not_found);
  BOOST_TEST(store_fingerprint() == fingerprint);
  BOOST_TEST(count("SELECT count(*) FROM runs") == runs);
}

BOOST_AUTO_TEST_CASE(a_key_has_a_bounded_number_of_requests_in_flight) {
  caf::anon_send_exit(door, caf::exit_reason::user_shutdown);
  door = spawn_gateway_door(
    *sys, door_setup{n->gateway(), n->reader(), "default", std::chrono::seconds{10}, 2});
  BOOST_REQUIRE(n->put_config("acme", "hold", "1", R"({"name":"hold","root":{"sequence":[
    {"id":"w","wait":{"event":"never"}}]}})"));
  auto held = n->start_run("acme", "hold", "{}");
  BOOST_REQUIRE(held);
  auto wait = [&](const std::string& key) {
    wait_run_request r;
    r.scope = tenant_scope{"acme"};
    r.scope.key = key;
    r.run = held->run.id.value;
    r.timeout_ms = 60'000;
    r.stop_at_waiting = false; // it never ends by itself: the cancel below ends it
    return r;
  };
  // Sent in order from one actor: the door checks keys in order (one
  // reader), so the third finds two in flight.
  caf::scoped_actor self{*sys};
  auto first = self->request(door, std::chrono::seconds{90}, wait(acme_key));
  auto second = self->request(door, std::chrono::seconds{90}, wait(acme_key));
  auto third = self->request(door, std::chrono::seconds{90}, wait(acme_key));
  auto other = self->request(door, std::chrono::seconds{90}, wait(operator_key));
  auto status_of_reply = [&](auto& handle) {
    std::string out;
    handle.receive([&](run_record& r) { out = to_string(r.status); },
                   [&](caf::error& err) { out = to_string(flowgate::code_of(err)); });
    return out;
  };
  BOOST_TEST(status_of_reply(third) == "too_many_requests");
  // The two admitted waits (and another key's, not counted) end with the run.
  BOOST_REQUIRE(n->cancel_run("acme", held->run.id.value, "done"));
  BOOST_TEST(status_of_reply(first) == "CANCELED");
  BOOST_TEST(status_of_reply(second) == "CANCELED");
  BOOST_TEST(status_of_reply(other) == "CANCELED");
  // Answered: the key may send again.
  BOOST_TEST(code(as(acme_key)->get_run(tenant_scope{"acme"}, held->run.id.value)) == errc::none);
}

BOOST_AUTO_TEST_SUITE_END()
