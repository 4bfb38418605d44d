// `flowgate check` at the store: a database written by the run store is
// clean, and each planted defect is found and named (run, seq, step,
// tenant, period).

#include "messages/errors.hpp"
#include "persistence/sqlite.hpp"
#include "tests/persistence/store_sessions.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>

using namespace flowgate;

namespace {

constexpr int64_t period_end = 1'000'000'000;

struct check_fixture : testing::store_sessions {
  int64_t inc = 0;

  check_fixture() {
    inc = *write(register_node{node_id{"n1"}, "host-a", 100, "", 60'000, 1000, 0});
  }

  static quota_terms terms(const std::string& tenant) {
    quota_terms q;
    q.tenant = tenant_id{tenant};
    q.period_start_ms = 0;
    q.period_end_ms = period_end;
    q.limit = -1;
    return q;
  }

  /// A run of `tenant` claimed at `t0` by n1, whose step 'a' (attempt 1)
  /// completes at `t1` and the run with it.
  int64_t finished_run(const std::string& tenant, int64_t t0, int64_t t1) {
    auto op = testing::pending_run_op(tenant, t0);
    op.owner = node_id{"n1"};
    op.incarnation = inc;
    op.lease_ttl_ms = 60'000;
    op.quota = terms(tenant);
    op.first_events = {
      history_record{2, "step_scheduled", "a", 1, R"({"activity":"noop","input":{}})", 0}};
    op.first_steps = {step_change{"a", 1, step_status::started, "", "", 0}};
    auto created = write(op);
    BOOST_REQUIRE_MESSAGE(created, (created ? "" : describe(created.error())));
    BOOST_REQUIRE(created->run.lease_owner == "n1");
    append_history a;
    a.run = created->run.id;
    a.tenant = tenant_id{tenant};
    a.owner = node_id{"n1"};
    a.incarnation = inc;
    a.epoch = created->run.epoch;
    a.expected_seq = 3;
    a.now_ms = t1;
    a.events = {history_record{3, "step_completed", "a", 1, "{}", 0},
                history_record{4, "run_completed", "", 0, "{}", 0}};
    a.steps = {step_change{"a", 1, step_status::completed, "", "", -1}};
    a.change.status = run_status::completed;
    a.change.release_lease = true;
    a.quota = terms(tenant);
    auto appended = write(a);
    BOOST_REQUIRE_MESSAGE(appended, (appended ? "" : describe(appended.error())));
    // PostgreSQL stamps attempts with its own clock; these tests plant times.
    exec("UPDATE run_steps SET started_at_ms = " + std::to_string(t0) + ", finished_at_ms = " +
         std::to_string(t1) + " WHERE run_id = " + std::to_string(created->run.id.value));
    return created->run.id.value;
  }

  check_report check(const std::string& tenant = "") {
    auto r = reader->apply(check_database{tenant_id{tenant}, 100'000, 0, 1000});
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
    return std::move(*r);
  }

  static std::string listing(const check_report& r) {
    std::string out;
    for (const auto& f : r.findings) {
      out += std::string{to_string(f.kind)} + ": " + f.message + "\n";
    }
    return out;
  }

  /// The one finding of `kind`, required to exist.
  static check_finding finding(const check_report& r, check_kind kind) {
    auto it = std::find_if(r.findings.begin(), r.findings.end(),
                           [&](const check_finding& f) { return f.kind == kind; });
    BOOST_REQUIRE_MESSAGE(it != r.findings.end(), "no " << to_string(kind) << " finding in:\n"
                                                        << listing(r));
    return *it;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_check, check_fixture)

BOOST_AUTO_TEST_CASE(a_database_the_run_store_wrote_is_clean) {
  add_tenant("acme", R"({"max_concurrent_runs": 1})");
  add_tenant("beta");
  finished_run("acme", 2000, 2100);
  finished_run("acme", 2100, 2200);
  finished_run("beta", 2000, 2300);
  finished_run("beta", 2050, 2150);
  BOOST_REQUIRE(write(testing::pending_run_op("beta", 2400)));
  auto r = check();
  BOOST_TEST(r.findings.empty(), listing(r));
  BOOST_TEST(r.runs == 5);
  BOOST_TEST(r.events == 17);
  BOOST_TEST(r.attempts == 4);
  BOOST_TEST(r.periods == 2);
  BOOST_TEST(r.tenants == 2);
  auto one = check("acme");
  BOOST_TEST(one.findings.empty(), listing(one));
  BOOST_TEST(one.runs == 2);
}

BOOST_AUTO_TEST_CASE(a_gap_in_a_history_is_found) {
  add_tenant("acme");
  auto run = std::to_string(finished_run("acme", 2000, 2100));
  exec("DELETE FROM run_events WHERE run_id = " + run + " AND seq = 3");
  auto r = check();
  auto f = finding(r, check_kind::history_gap);
  BOOST_TEST(f.run == std::stoll(run));
  BOOST_TEST(f.seq == 4);
  BOOST_TEST(f.tenant == "acme");
  BOOST_TEST(f.message.find("has seq 4 (expected 3)") != std::string::npos, f.message);
}

BOOST_AUTO_TEST_CASE(a_duplicated_terminal_event_is_found) {
  add_tenant("acme");
  auto run = std::to_string(finished_run("acme", 2000, 2100));
  exec("INSERT INTO run_events (run_id, seq, tenant_id, event_type, payload, created_at_ms) "
       "VALUES (" +
       run + ", 5, 'acme', 'run_completed', '{}', 2200)");
  exec("UPDATE runs SET next_seq = 6 WHERE run_id = " + run);
  auto r = check();
  auto f = finding(r, check_kind::terminal_event);
  BOOST_TEST(f.run == std::stoll(run));
  BOOST_TEST(f.message.find("with 2 terminal events") != std::string::npos, f.message);
  BOOST_TEST(r.findings.size() == 1u, listing(r));
}

BOOST_AUTO_TEST_CASE(a_tampered_usage_counter_is_found) {
  add_tenant("acme");
  finished_run("acme", 2000, 2100);
  exec("UPDATE usage_periods SET used_count = used_count + 3 WHERE tenant_id = 'acme'");
  auto r = check();
  auto f = finding(r, check_kind::usage_mismatch);
  BOOST_TEST(f.tenant == "acme");
  BOOST_TEST(f.period_start_ms == 0);
  BOOST_TEST(f.period_end_ms == period_end);
  BOOST_TEST(f.message.find("usage counter 4 but 1 ledger rows") != std::string::npos, f.message);
  // Another tenant's check does not see it.
  add_tenant("beta");
  BOOST_TEST(check("beta").findings.empty());
}

BOOST_AUTO_TEST_CASE(a_ledger_row_without_its_event_is_found_and_the_reverse) {
  add_tenant("acme");
  auto a = std::to_string(finished_run("acme", 2000, 2100));
  auto b = std::to_string(finished_run("acme", 2200, 2300));
  exec("INSERT INTO run_steps (run_id, step_path, attempt, tenant_id, status, period_start_ms, "
       "period_end_ms, started_at_ms, finished_at_ms) VALUES (" +
       a + ", 'ghost', 1, 'acme', 'completed', 0, " + std::to_string(period_end) + ", 2050, 2060)");
  exec("UPDATE usage_periods SET used_count = used_count + 1 WHERE tenant_id = 'acme'");
  exec("DELETE FROM run_steps WHERE run_id = " + b);
  exec("UPDATE usage_periods SET used_count = used_count - 1 WHERE tenant_id = 'acme'");
  auto r = check();
  auto ghost = finding(r, check_kind::ledger_without_event);
  BOOST_TEST(ghost.run == std::stoll(a));
  BOOST_TEST(ghost.step == "ghost");
  BOOST_TEST(ghost.attempt == 1);
  auto lost = finding(r, check_kind::event_without_ledger);
  BOOST_TEST(lost.run == std::stoll(b));
  BOOST_TEST(lost.step == "a");
  BOOST_TEST(lost.seq == 2);
  BOOST_TEST(r.findings.size() == 2u, listing(r));
}

BOOST_AUTO_TEST_CASE(an_attempt_after_a_completed_one_is_found) {
  add_tenant("acme");
  auto run = std::to_string(finished_run("acme", 2000, 2100));
  exec("INSERT INTO run_steps (run_id, step_path, attempt, tenant_id, status, period_start_ms, "
       "period_end_ms, started_at_ms, finished_at_ms) VALUES (" +
       run + ", 'a', 2, 'acme', 'completed', 0, " + std::to_string(period_end) + ", 2090, 2095)");
  auto r = check();
  auto f = finding(r, check_kind::attempt_after_completion);
  BOOST_TEST(f.step == "a");
  BOOST_TEST(f.attempt == 2);
}

BOOST_AUTO_TEST_CASE(an_over_limit_interval_is_found) {
  add_tenant("acme", R"({"max_concurrent_runs": 2})");
  finished_run("acme", 2000, 2100);
  finished_run("acme", 2100, 2200);
  finished_run("acme", 2200, 2300);
  // Back to back runs share nothing; the limit is 2.
  BOOST_TEST(check().findings.empty(), listing(check()));
  auto last = std::to_string(finished_run("acme", 2300, 2400));
  // Planted: the last run's attempt overlaps two others.
  exec("UPDATE run_steps SET started_at_ms = 2150, finished_at_ms = 2250 WHERE run_id = " + last);
  exec("UPDATE run_steps SET finished_at_ms = 2260 WHERE started_at_ms = 2100");
  auto r = check();
  auto f = finding(r, check_kind::over_limit);
  BOOST_TEST(f.tenant == "acme");
  BOOST_TEST(f.message.find("had 3 runs with a step attempt open") != std::string::npos, f.message);
  BOOST_TEST(f.message.find("above its concurrency limit 2") != std::string::npos, f.message);
  // With a limit of 3 (as configured now) the same intervals are fine.
  add_tenant("acme", R"({"max_concurrent_runs": 3})");
  BOOST_TEST(check().findings.empty(), listing(check()));
}

BOOST_AUTO_TEST_CASE(a_live_lease_of_a_dead_or_foreign_node_is_found) {
  add_tenant("acme");
  BOOST_REQUIRE(write(testing::pending_run_op("acme", 2000)));
  exec("UPDATE runs SET status = 'RUNNING', lease_owner = 'ghost', lease_incarnation = 1, "
       "lease_epoch = 1, lease_expires_at_ms = 200000");
  auto r = check();
  auto f = finding(r, check_kind::lease_of_dead_node);
  BOOST_TEST(f.message.find("held by node 'ghost' which is not registered") != std::string::npos,
             f.message);
  // n1's own live lease is fine while its heartbeat is recent (the check
  // runs at 100 s, n1's TTL is 60 s); dead or stopped it is not.
  exec("UPDATE runs SET lease_owner = 'n1', lease_incarnation = " + std::to_string(inc));
  auto dead = finding(check(), check_kind::lease_of_dead_node);
  BOOST_TEST(dead.message.find("whose heartbeat expired") != std::string::npos, dead.message);
  exec("UPDATE nodes SET heartbeat_at_ms = 90000 WHERE node_id = 'n1'");
  BOOST_TEST(check().findings.empty(), listing(check()));
  exec("UPDATE nodes SET stopped_at_ms = 3000 WHERE node_id = 'n1'");
  auto stopped = finding(check(), check_kind::lease_of_dead_node);
  BOOST_TEST(stopped.message.find("which is stopped") != std::string::npos, stopped.message);
}

BOOST_AUTO_TEST_CASE(open_waits_must_match_the_runs_state) {
  add_tenant("acme");
  auto run = std::to_string(finished_run("acme", 2000, 2100));
  exec("INSERT INTO run_waits (run_id, tenant_id, kind, node_path, created_at_ms) VALUES (" + run +
       ", 'acme', 'event', 'w', 2050)");
  auto r = check();
  auto f = finding(r, check_kind::wait_mismatch);
  BOOST_TEST(f.message.find("is COMPLETED but has an open event wait") != std::string::npos,
             f.message);
  // A run WAITING on quota without its wait row.
  BOOST_REQUIRE(write(testing::pending_run_op("acme", 2000)));
  exec("DELETE FROM run_waits");
  exec("UPDATE runs SET status = 'WAITING', wait_reason = 'quota' WHERE status = 'PENDING'");
  auto waiting = finding(check(), check_kind::wait_mismatch);
  BOOST_TEST(waiting.message.find("is WAITING (quota) with no open quota wait") !=
               std::string::npos,
             waiting.message);
}

BOOST_AUTO_TEST_CASE(findings_beyond_the_cap_are_counted) {
  add_tenant("acme");
  for (int i = 0; i < 5; ++i) {
    finished_run("acme", 2000 + i * 100, 2050 + i * 100);
  }
  exec("UPDATE runs SET next_seq = 99");
  auto r = reader->apply(check_database{tenant_id{}, 100'000, 0, 2});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->findings.size() == 2u);
  BOOST_TEST(r->findings_left_out == 3);
}

BOOST_AUTO_TEST_SUITE_END()
