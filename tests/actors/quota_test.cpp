// Step quotas end to end: reservations through the accountant, attempts
// reserved with the appends that start them, pausing on exhaustion, the
// resume scanner, manual resume and reconciliation.

#include "actors/activity.hpp"
#include "actors/wall_clock.hpp"
#include "config/billing.hpp"
#include "tests/actors/node_fixture.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/scoped_actor.hpp>

#include <thread>
#include <vector>

using namespace flowgate;
using namespace std::chrono_literals;

namespace {

/// A subscription for the current calendar month with a step limit in its
/// price metadata ("unlimited" or a number).
std::string subscription_with_limit(const std::string& limit, const std::string& id = "sub_1") {
  auto [start, end] = calendar_month(wall_clock_ms());
  return R"({"id":")" + id + R"(","status":"active","current_period_start":")" +
         format_rfc3339(start) + R"(","current_period_end":")" + format_rfc3339(end) +
         R"(","price_metadata":{"workflow_step_limit":")" + limit + R"("}})";
}

struct quota_fixture : flowgate::testing::node_fixture {
  std::shared_ptr<activity_registry> activities = std::make_shared<activity_registry>();

  quota_fixture() { restart_node(300'000); }

  void restart_node(int64_t scan_ms) {
    auto s = settings();
    s.node_id = "quota";
    s.poll_interval_ms = 10;
    s.quota_scan_interval_ms = scan_ms;
    restart(s, node_options{true, activities});
  }

  void tenant(const std::string& id, const std::string& limit, const std::string& pipeline) {
    auto t = n->put_tenant(id, "{}");
    BOOST_REQUIRE_MESSAGE(t, (t ? "" : describe(t.error())));
    if (!limit.empty()) {
      set_limit(id, limit);
    }
    auto c = n->put_config(id, "q", "1", pipeline);
    BOOST_REQUIRE_MESSAGE(c, (c ? "" : describe(c.error())));
  }

  void set_limit(const std::string& id, const std::string& limit) {
    auto sub = n->put_subscription(id, subscription_with_limit(limit));
    BOOST_REQUIRE_MESSAGE(sub, (sub ? "" : describe(sub.error())));
  }

  int64_t start(const std::string& id, const std::string& input = "{}") {
    auto r = n->start_run(id, "q", input);
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
    return r->run.id.value;
  }

  run_record settle(const std::string& id, int64_t run) {
    auto r = n->wait_for_run(id, run, 10s);
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
    return *r;
  }

  int64_t used(const std::string& id) {
    return count("SELECT coalesce(sum(used_count), 0) FROM usage_periods WHERE tenant_id = '" + id +
                 "'");
  }

  bool eventually(const std::string& sql, int64_t expected, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (count(sql) == expected) {
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

const std::string two_steps = R"({"name":"p","root":{"sequence":[
  {"id":"a","activity":"echo","input":1},{"id":"b","activity":"echo","input":2}]}})";
const std::string one_step = R"({"name":"p","root":{"sequence":[
  {"id":"a","activity":"echo","input":1}]}})";

/// Sends `n` reservations at once to an accountant; counts the grants.
int reserve_concurrently(caf::actor_system& sys, const quota_accountant_actor& accountant,
                         const std::string& tenant, int n, int64_t first_run) {
  caf::scoped_actor self{sys};
  for (int i = 0; i < n; ++i) {
    self->send(accountant,
               reserve_step{tenant_id{tenant}, run_id{first_run + i}, "a", 1, 0, 0, -1, 0});
  }
  int granted = 0;
  for (int i = 0; i < n; ++i) {
    self->receive([&](step_reservation& r) { granted += r.granted ? 1 : 0; },
                  [&](caf::error& err) { BOOST_FAIL(describe(err)); },
                  caf::after(10s) >> [&] { BOOST_FAIL("no answer from the accountant"); });
  }
  return granted;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(quota, quota_fixture)

BOOST_AUTO_TEST_CASE(twelve_concurrent_reservations_against_a_limit_of_three_grant_three) {
  tenant("acme", "3", one_step);
  BOOST_TEST(reserve_concurrently(*sys, n->accountant(), "acme", 12, 1000) == 3);
  BOOST_TEST(used("acme") == 3);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE tenant_id = 'acme'") == 3);
  // The same (run, step, attempt) again is granted without counting twice.
  caf::scoped_actor self{*sys};
  self
    ->request(n->accountant(), 5s,
              reserve_step{tenant_id{"acme"}, run_id{int64_t{1000}}, "a", 1, 0, 0, -1, 0})
    .receive(
      [&](step_reservation& r) {
        BOOST_TEST(r.duplicate ==
                   (count("SELECT count(*) FROM run_steps WHERE run_id = 1000") == 1));
      },
      [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_TEST(used("acme") == 3);
}

BOOST_AUTO_TEST_CASE(two_nodes_on_one_database_grant_exactly_the_limit_together) {
  tenant("acme", "3", one_step);
  // A second node in its own actor system with its own write connection:
  // to SQLite exactly what a second process is.
  caf::actor_system_config cfg2;
  register_types(cfg2);
  caf::actor_system sys2{cfg2};
  auto s = settings();
  s.node_id = "other";
  auto other = node::start(sys2, s, node_options{false, nullptr});
  BOOST_REQUIRE(other);
  int granted_here = 0;
  int granted_there = 0;
  std::thread t{
    [&] { granted_there = reserve_concurrently(sys2, (*other)->accountant(), "acme", 6, 2000); }};
  granted_here = reserve_concurrently(*sys, n->accountant(), "acme", 6, 3000);
  t.join();
  BOOST_TEST(granted_here + granted_there == 3);
  BOOST_TEST(used("acme") == 3);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE tenant_id = 'acme'") == 3);
  other->reset();
}

BOOST_AUTO_TEST_CASE(retries_items_and_wait_entries_count_once_each) {
  tenant("acme", "unlimited", R"({"name":"p","root":{"sequence":[
    {"id":"flaky","activity":"fail","input":{"times":2},
     "retry":{"max_attempts":3,"initial_interval_ms":1}},
    {"id":"items","for_each":{"$ref":"/input/items"},"do":{"id":"one","activity":"echo",
     "input":{"$ref":"/item"}}},
    {"id":"approval","wait":{"event":"go"}},
    {"id":"pause","wait":{"timer_ms":1}},
    {"id":"last","activity":"echo","input":1}]}})");
  auto run = start("acme", R"({"items":[1,2,3]})");
  auto waiting = settle("acme", run);
  BOOST_REQUIRE(waiting.status == run_status::waiting);
  BOOST_TEST(waiting.wait_reason == flowgate::wait_reason::event);
  // 3 attempts of flaky, 3 items, 1 wait entry.
  BOOST_TEST(used("acme") == 7);
  auto sig = n->signal_run("acme", run, "go", "{}");
  BOOST_REQUIRE(sig);
  auto done = n->wait_for_run("acme", run, 10s, false);
  BOOST_REQUIRE(done);
  BOOST_TEST(done->status == run_status::completed);
  // The signal resumed the wait without counting its entry again; + the
  // timer wait's entry + last.
  BOOST_TEST(used("acme") == 9);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE tenant_id = 'acme'") == 9);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE step_path = 'pause'") == 1);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE step_path = 'flaky'") == 3);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE step_path LIKE 'items/%'") == 3);
  // Replaying the history counts nothing.
  auto replayed = n->replay("acme", run);
  BOOST_REQUIRE(replayed);
  BOOST_TEST(replayed->deterministic);
  BOOST_TEST(used("acme") == 9);
  auto rec = n->reconcile_quota("acme");
  BOOST_REQUIRE(rec);
  BOOST_TEST(rec->counter == 9);
  BOOST_TEST(rec->ledger == 9);
  BOOST_TEST(rec->drift == 0);
}

BOOST_AUTO_TEST_CASE(exhaustion_on_the_second_step_pauses_the_run_there) {
  tenant("acme", "1", two_steps);
  auto run = start("acme");
  auto r = settle("acme", run);
  BOOST_TEST(r.status == run_status::waiting);
  BOOST_TEST(r.wait_reason == flowgate::wait_reason::quota);
  BOOST_TEST(r.node_path == "b");
  BOOST_TEST(r.lease_owner.empty());
  BOOST_TEST(count("SELECT count(*) FROM run_waits WHERE kind = 'quota' AND node_path = 'b' "
                   "AND resolved_at_ms IS NULL AND run_id = " +
                   std::to_string(run)) == 1);
  // No step row and no scheduling event for the blocked step; a's outcome is kept.
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE step_path = 'b'") == 0);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE step_path = 'a' AND status = "
                   "'completed'") == 1);
  BOOST_TEST(count("SELECT count(*) FROM run_events WHERE node_path = 'b'") == 0);
  BOOST_TEST(count("SELECT count(*) FROM run_events WHERE event_type = 'step_completed' "
                   "AND node_path = 'a'") == 1);
  BOOST_TEST(used("acme") == 1);
  // A run started now has no quota for its first step: created paused.
  auto second = start("acme");
  auto r2 = settle("acme", second);
  BOOST_TEST(r2.status == run_status::waiting);
  BOOST_TEST(r2.wait_reason == flowgate::wait_reason::quota);
  BOOST_TEST(r2.node_path == "a");
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE run_id = " + std::to_string(second)) == 0);
  BOOST_TEST(used("acme") == 1);
  // More quota: the scanner resumes both; each reserves its step then.
  set_limit("acme", "4");
  auto resumed = n->scan_quota_waits();
  BOOST_REQUIRE(resumed);
  BOOST_TEST(*resumed == 2);
  BOOST_TEST(n->wait_for_run("acme", run, 10s, false)->status == run_status::completed);
  BOOST_TEST(n->wait_for_run("acme", second, 10s, false)->status == run_status::completed);
  BOOST_TEST(used("acme") == 4);
  // The history of the first run is gap-free and has b once.
  BOOST_TEST(count("SELECT count(*) FROM run_events WHERE event_type = 'step_scheduled' AND "
                   "node_path = 'b' AND run_id = " +
                   std::to_string(run)) == 1);
  BOOST_TEST(
    count("SELECT max(seq) - count(*) FROM run_events WHERE run_id = " + std::to_string(run)) == 0);
}

BOOST_AUTO_TEST_CASE(exhaustion_mid_fan_out_pauses_after_the_attempts_in_flight_and_resumes) {
  // Four items start together; the quota covers three: the fourth is cut,
  // the three in flight finish and are recorded, then the run pauses.
  tenant("acme", "3", R"({"name":"p","root":{"sequence":[
    {"id":"items","for_each":{"$ref":"/input/items"},"concurrency":4,
     "do":{"id":"reserve","activity":"sleep","input":{"ms":50}}}]}})");
  auto run = start("acme", R"({"items": [0, 1, 2, 3, 4, 5]})");
  auto r = settle("acme", run);
  BOOST_TEST(r.status == run_status::waiting);
  BOOST_TEST(r.wait_reason == flowgate::wait_reason::quota);
  BOOST_TEST(r.node_path == "items/3/reserve");
  BOOST_TEST(r.lease_owner.empty());
  auto runs = std::to_string(run);
  BOOST_TEST(
    count("SELECT count(*) FROM run_steps WHERE status = 'completed' AND run_id = " + runs) == 3);
  BOOST_TEST(
    count("SELECT count(*) FROM run_steps WHERE status <> 'completed' AND run_id = " + runs) == 0);
  BOOST_TEST(count("SELECT count(*) FROM run_events WHERE node_path = 'items/3/reserve'") == 0);
  BOOST_TEST(used("acme") == 3);
  // More quota: resumed where it stopped, nothing counted or run twice.
  set_limit("acme", "10");
  auto resumed = n->scan_quota_waits();
  BOOST_REQUIRE(resumed);
  BOOST_TEST(*resumed == 1);
  auto done = n->wait_for_run("acme", run, 10s, false);
  BOOST_REQUIRE(done);
  BOOST_TEST(done->status == run_status::completed);
  BOOST_TEST(used("acme") == 6);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE status = 'completed' AND attempt = 1 AND "
                   "run_id = " +
                   runs) == 6);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE run_id = " + runs) == 6);
  BOOST_TEST(
    count("SELECT max(seq) - count(*) FROM run_events WHERE run_id = " + std::to_string(run)) == 0);
  expect_replayable_and_clean("acme", run);
}

BOOST_AUTO_TEST_CASE(the_scanner_resumes_only_up_to_the_quota_left_and_each_wait_once) {
  tenant("acme", "2", one_step);
  std::vector<int64_t> runs;
  for (int i = 0; i < 7; ++i) {
    runs.push_back(start("acme"));
  }
  BOOST_REQUIRE(eventually("SELECT count(*) FROM runs WHERE status = 'COMPLETED'", 2, 10s));
  BOOST_REQUIRE(eventually("SELECT count(*) FROM runs WHERE wait_reason = 'quota'", 5, 10s));
  // Nothing left: a scan resumes nothing.
  BOOST_TEST(*n->scan_quota_waits() == 0);
  set_limit("acme", "5");
  // 3 left: two scans back to back resume 3 together, never more (runs
  // resumed but not yet started count against what is left).
  auto first = n->scan_quota_waits();
  auto second = n->scan_quota_waits();
  BOOST_REQUIRE(first && second);
  BOOST_TEST(*first + *second == 3);
  BOOST_REQUIRE(eventually("SELECT count(*) FROM runs WHERE status = 'COMPLETED'", 5, 10s));
  BOOST_TEST(used("acme") == 5);
  BOOST_TEST(*n->scan_quota_waits() == 0);
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE wait_reason = 'quota'") == 2);
  // Each resumed wait was resolved once (by the append that reserved the
  // step), and no run paused twice.
  BOOST_TEST(count("SELECT count(*) FROM run_waits WHERE kind = 'quota' AND resolved_at_ms IS "
                   "NOT NULL") == 3);
  BOOST_TEST(count("SELECT count(*) FROM run_waits WHERE kind = 'quota' AND resolved_at_ms IS "
                   "NULL") == 2);
  BOOST_TEST(count("SELECT count(*) FROM (SELECT run_id FROM run_waits WHERE kind = 'quota' "
                   "GROUP BY run_id HAVING count(*) > 1) AS w") == 0);
}

BOOST_AUTO_TEST_CASE(the_periodic_scanner_resumes_when_quota_returns) {
  restart_node(50);
  tenant("acme", "1", one_step);
  auto a = start("acme");
  auto b = start("acme");
  BOOST_TEST(settle("acme", a).status == run_status::completed);
  BOOST_TEST(settle("acme", b).wait_reason == flowgate::wait_reason::quota);
  set_limit("acme", "unlimited");
  auto done = n->wait_for_run("acme", b, 10s, false);
  BOOST_REQUIRE(done);
  BOOST_TEST(done->status == run_status::completed);
  BOOST_TEST(used("acme") == 2);
}

BOOST_AUTO_TEST_CASE(manual_resume_checks_tenant_state_and_quota) {
  tenant("acme", "1", two_steps);
  tenant("other", "unlimited", one_step);
  auto run = start("acme");
  BOOST_REQUIRE(settle("acme", run).wait_reason == flowgate::wait_reason::quota);
  // Another tenant's run: refused as if it did not exist.
  auto foreign = n->resume_run("other", run);
  BOOST_REQUIRE(!foreign);
  BOOST_TEST(code_of(foreign.error()) == errc::not_found);
  // A run not waiting on quota.
  auto done = start("other");
  BOOST_REQUIRE(settle("other", done).status == run_status::completed);
  auto not_paused = n->resume_run("other", done);
  BOOST_REQUIRE(!not_paused);
  BOOST_TEST(code_of(not_paused.error()) == errc::invalid_argument);
  // No quota left: the structured answer.
  auto [start_ms, end_ms] = calendar_month(wall_clock_ms());
  auto refused = n->resume_run("acme", run);
  BOOST_REQUIRE(refused);
  BOOST_TEST(!refused->resumed);
  BOOST_TEST(refused->exhausted.used == 1);
  BOOST_TEST(refused->exhausted.limit == 1);
  BOOST_TEST(refused->exhausted.period_start_ms == start_ms);
  BOOST_TEST(refused->exhausted.period_end_ms == end_ms);
  BOOST_TEST(refused->exhausted.node_path == "b");
  BOOST_TEST(count("SELECT count(*) FROM run_waits WHERE kind = 'quota' AND resolved_at_ms IS "
                   "NULL") == 1);
  // With quota: resumed, and it finishes.
  set_limit("acme", "2");
  auto ok = n->resume_run("acme", run);
  BOOST_REQUIRE(ok);
  BOOST_TEST(ok->resumed);
  BOOST_TEST(n->wait_for_run("acme", run, 10s, false)->status == run_status::completed);
  BOOST_TEST(used("acme") == 2);
}

BOOST_AUTO_TEST_CASE(reconcile_shows_no_drift_after_a_storm_and_the_drift_of_a_tampered_counter) {
  tenant("acme", "150", two_steps);
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto r = n->start_run("acme", "q", "{}");
        BOOST_CHECK(r);
      }
    });
  }
  for (auto& t : submitters) {
    t.join();
  }
  // 100 runs of 2 steps against 150: 150 attempts start, the rest pause.
  BOOST_REQUIRE(eventually("SELECT count(*) FROM runs WHERE status = 'COMPLETED' OR "
                           "wait_reason = 'quota'",
                           100, 20s));
  BOOST_TEST(used("acme") == 150);
  auto rec = n->reconcile_quota("acme");
  BOOST_REQUIRE(rec);
  BOOST_TEST(rec->counter == 150);
  BOOST_TEST(rec->ledger == 150);
  BOOST_TEST(rec->drift == 0);
  // Every counted attempt is a step that ran: completed runs ran both,
  // runs paused at b ran a.
  BOOST_TEST(count("SELECT 2 * count(*) FROM runs WHERE status = 'COMPLETED'") +
               count("SELECT count(*) FROM runs WHERE wait_reason = 'quota' AND node_path = 'b'") ==
             150);
  exec("UPDATE usage_periods SET used_count = used_count + 5");
  auto tampered = n->reconcile_quota("acme");
  BOOST_REQUIRE(tampered);
  BOOST_TEST(tampered->counter == 155);
  BOOST_TEST(tampered->drift == 5);
  // A period given by its start; an unknown one is an error.
  auto by_start = n->reconcile_quota("acme", rec->period_start_ms);
  BOOST_REQUIRE(by_start);
  BOOST_TEST(by_start->drift == 5);
  auto unknown = n->reconcile_quota("acme", 12345);
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(code_of(unknown.error()) == errc::not_found);
}

BOOST_AUTO_TEST_CASE(a_cancel_reaches_a_run_paused_on_quota) {
  tenant("acme", "1", two_steps);
  auto run = start("acme");
  BOOST_REQUIRE(settle("acme", run).wait_reason == flowgate::wait_reason::quota);
  auto c = n->cancel_run("acme", run, "no budget");
  BOOST_REQUIRE(c);
  BOOST_TEST(c->canceled_now);
  BOOST_TEST(count("SELECT count(*) FROM run_waits WHERE resolved_at_ms IS NULL") == 0);
  BOOST_TEST(*n->scan_quota_waits() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
