// The run model's ownership and scheduling rules at the store: membership
// (one live process per node id, leases fenced by incarnation) and the claim
// order (takeovers first, round-robin over tenants, a node's share). Time is
// an input: every operation carries its `now_ms`.

#include "messages/errors.hpp"
#include "persistence/pg.hpp"
#include "persistence/sqlite.hpp"
#include "persistence/sqlite_store.hpp"
#include "tests/persistence/store_sessions.hpp"
#include "tests/persistence/temp_db.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/deep_to_string.hpp>

#include <limits>

#include <map>
#include <sstream>

using namespace flowgate;

namespace {

constexpr int64_t ttl = 1000;

struct run_model_fixture : testing::store_sessions {
  /// A PENDING run of `tenant` created at `now`.
  int64_t queue_run(const std::string& tenant, int64_t now) {
    auto op = testing::pending_run_op(tenant, now);
    auto created = write(op);
    BOOST_REQUIRE(created);
    BOOST_REQUIRE(created->created);
    return created->run.id.value;
  }

  int64_t join(const std::string& node, int64_t now, int64_t ttl_ms = ttl) {
    auto inc = write(register_node{node_id{node}, "host-a", 100, "", ttl_ms, now, 0});
    BOOST_REQUIRE_MESSAGE(inc, (inc ? "" : describe(inc.error())));
    return *inc;
  }

  runs_claimed claim(const std::string& node, int64_t incarnation, int64_t now, int32_t max,
                     const std::string& after = "", int64_t grace = 10'000) {
    claim_runs op;
    op.spread_grace_ms = grace;
    op.owner = node_id{node};
    op.incarnation = incarnation;
    op.now_ms = now;
    op.lease_ttl_ms = ttl;
    op.max_runs = max;
    op.after_tenant = tenant_id{after};
    auto out = write(op);
    BOOST_REQUIRE_MESSAGE(out, (out ? "" : describe(out.error())));
    return std::move(*out);
  }
};

std::vector<std::string> tenants_of(const runs_claimed& c) {
  std::vector<std::string> out;
  for (const auto& r : c.runs) {
    out.push_back(r.tenant.value);
  }
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(run_model, run_model_fixture)

// -- membership --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_live_node_id_is_refused_and_a_stopped_or_dead_one_taken_over) {
  BOOST_TEST(join("n1", 1000) == 1);
  auto twice = write(register_node{node_id{"n1"}, "host-b", 200, "", ttl, 1500, 0});
  BOOST_REQUIRE(!twice);
  BOOST_TEST(code_of(twice.error()) == errc::node_id_in_use);
  BOOST_TEST(describe(twice.error()).find("pid 100 on host-a") != std::string::npos,
             describe(twice.error()));
  // The refusal wrote nothing.
  BOOST_TEST(count("SELECT pid FROM nodes WHERE node_id = 'n1'") == 100);
  // Stopped: taken at once, with the next incarnation.
  BOOST_TEST(*write(stop_node{node_id{"n1"}, 1, 1600}) == 1);
  BOOST_TEST(join("n1", 1700) == 2);
  // Dead: a heartbeat older than its TTL.
  BOOST_TEST(join("n1", 1700 + ttl) == 3);
}

BOOST_AUTO_TEST_CASE(a_gone_pid_on_the_same_host_is_replaced) {
  BOOST_TEST(join("n1", 1000) == 1);
  // Another host cannot claim that pid 100 is gone.
  auto elsewhere = write(register_node{node_id{"n1"}, "host-b", 7, "", ttl, 1100, 100});
  BOOST_REQUIRE(!elsewhere);
  auto here = write(register_node{node_id{"n1"}, "host-a", 7, "", ttl, 1100, 100});
  BOOST_REQUIRE(here);
  BOOST_TEST(*here == 2);
}

BOOST_AUTO_TEST_CASE(a_stale_incarnation_cannot_renew_release_or_append) {
  add_tenant("t");
  auto old_inc = join("n1", 1000);
  auto id = queue_run("t", 1000);
  auto won = claim("n1", old_inc, 1000, 10);
  BOOST_REQUIRE_EQUAL(won.runs.size(), 1u);
  auto epoch = won.runs[0].epoch;
  BOOST_TEST(won.runs[0].lease_incarnation == old_inc);
  // The process stalls past its TTL; a new process takes the id and the run.
  auto new_inc = join("n1", 1000 + ttl + 1);
  BOOST_TEST(new_inc == old_inc + 1);
  auto taken = claim("n1", new_inc, 1000 + ttl + 1, 10);
  BOOST_REQUIRE_EQUAL(taken.runs.size(), 1u);
  auto new_epoch = taken.runs[0].epoch;
  // The stale process wakes up: its heartbeat is refused, so it renews nothing.
  auto renewed =
    write(renew_leases{node_id{"n1"}, old_inc, {run_lease{run_id{id}, new_epoch}}, 2100, ttl});
  BOOST_REQUIRE(!renewed);
  BOOST_TEST(code_of(renewed.error()) == errc::lease_lost);
  // Its release (even naming the current epoch) and its drain touch nothing.
  BOOST_TEST(
    *write(release_leases{node_id{"n1"}, old_inc, {run_lease{run_id{id}, new_epoch}}, 2100}) == 0);
  BOOST_TEST(*write(release_leases{node_id{"n1"}, old_inc, {}, 2100}) == 0);
  BOOST_TEST(count("SELECT lease_incarnation FROM runs WHERE run_id = " + std::to_string(id)) ==
             new_inc);
  // Its append under either epoch is refused with lease_lost, whether it
  // ends the run or keeps it RUNNING (on SQLite a statement of its own).
  for (auto e : {epoch, new_epoch}) {
    for (auto status : {run_status::completed, run_status::running}) {
      append_history op;
      op.run = run_id{id};
      op.tenant = tenant_id{"t"};
      op.owner = node_id{"n1"};
      op.incarnation = old_inc;
      op.epoch = e;
      op.expected_seq = 2;
      op.now_ms = 2100;
      op.change.status = status;
      auto refused = write(op);
      BOOST_REQUIRE(!refused);
      BOOST_TEST(code_of(refused.error()) == errc::lease_lost);
      BOOST_TEST(describe(refused.error()).find("incarnation " + std::to_string(new_inc)) !=
                 std::string::npos);
    }
  }
  // The current incarnation renews (and heartbeats) and drains.
  auto ok =
    write(renew_leases{node_id{"n1"}, new_inc, {run_lease{run_id{id}, new_epoch}}, 2100, ttl});
  BOOST_REQUIRE(ok);
  BOOST_TEST(ok->size() == 1u);
  BOOST_TEST(count("SELECT lease_expires_at_ms FROM runs WHERE run_id = " + std::to_string(id)) ==
             2100 + ttl);
  BOOST_TEST(count("SELECT heartbeat_at_ms FROM nodes WHERE node_id = 'n1'") == 2100);
  BOOST_TEST(*write(release_leases{node_id{"n1"}, new_inc, {}, 2200}) == 1);
  BOOST_TEST(count("SELECT count(*) FROM nodes WHERE stopped_at_ms = 2200") == 1);
}

// Found by the chaos tier on PostgreSQL: a holder that stalled past its
// lease, with nobody taking the run over yet, appended its late result; the
// tenant's permit had meanwhile gone to another run (4 attempts open at a
// limit of 2). An expired lease fences like a moved one.
BOOST_AUTO_TEST_CASE(an_expired_lease_cannot_append_even_if_nobody_took_it) {
  add_tenant("t");
  auto inc = join("n1", 1000, 60'000);
  auto id = queue_run("t", 1000);
  auto won = claim("n1", inc, 1000, 10);
  BOOST_REQUIRE_EQUAL(won.runs.size(), 1u);
  append_history op;
  op.run = run_id{id};
  op.tenant = tenant_id{"t"};
  op.owner = node_id{"n1"};
  op.incarnation = inc;
  op.epoch = won.runs[0].epoch;
  op.expected_seq = 2;
  op.now_ms = 1000 + ttl; // the lease ran out at 1000 + ttl
  // A step's end that keeps the run RUNNING, and the run's end: both fenced.
  auto step = op;
  step.events = {history_record{2, "step_completed", "a", 1, "{}", 0}};
  step.change.status = run_status::running;
  op.change.status = run_status::completed;
  for (const auto* late : {&step, &op}) {
    auto refused = write(*late);
    BOOST_REQUIRE(!refused);
    BOOST_TEST(code_of(refused.error()) == errc::lease_lost);
    BOOST_TEST(
      describe(refused.error()).find("that lease expired at " + std::to_string(1000 + ttl)) !=
      std::string::npos);
  }
  BOOST_TEST(count("SELECT next_seq FROM runs WHERE run_id = " + std::to_string(id)) == 2);
  // Renewed in time, the same appends are recorded.
  BOOST_REQUIRE(write(
    renew_leases{node_id{"n1"}, inc, {run_lease{run_id{id}, op.epoch}}, 1000 + ttl - 1, ttl}));
  step.now_ms = 1000 + ttl + 10;
  BOOST_REQUIRE(write(step));
  BOOST_TEST(count("SELECT next_seq FROM runs WHERE run_id = " + std::to_string(id)) == 3);
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE status = 'RUNNING' AND lease_owner = 'n1' "
                   "AND lease_expires_at_ms = " +
                   std::to_string(1000 + ttl - 1 + ttl)) == 1);
  op.expected_seq = 3;
  op.now_ms = 1000 + ttl + 20;
  BOOST_REQUIRE(write(op));
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE status = 'COMPLETED'") == 1);
}

BOOST_AUTO_TEST_CASE(
  heartbeats_in_one_transaction_commit_the_latest_and_a_rollback_undoes_its_own) {
  // The writer's batch: one transaction, a savepoint per operation. The row
  // is written once per transaction; what commits is the latest time of an
  // operation that was kept.
  add_tenant("t");
  auto inc = join("n1", 1000);
  auto claim_at = [&](int64_t now) {
    claim_runs op;
    op.owner = node_id{"n1"};
    op.incarnation = inc;
    op.now_ms = now;
    op.lease_ttl_ms = ttl;
    op.max_runs = 1;
    return op;
  };
  // One operation the writer keeps: its savepoint, the operation, the release.
  auto kept = [&](const auto& op) {
    BOOST_REQUIRE(!writer->savepoint());
    BOOST_REQUIRE(writer->apply(op));
    BOOST_REQUIRE(!writer->release_savepoint());
  };
  BOOST_REQUIRE(!writer->begin());
  for (int64_t now : {1100, 1200, 1300}) {
    kept(claim_at(now));
  }
  BOOST_REQUIRE(!writer->commit());
  BOOST_TEST(count("SELECT heartbeat_at_ms FROM nodes WHERE node_id = 'n1'") == 1300);
  // The first heartbeat of a transaction is rolled back with its operation:
  // the next one writes the row again, and the stop that follows in the
  // same transaction is not undone by a deferred heartbeat.
  BOOST_REQUIRE(!writer->begin());
  BOOST_REQUIRE(!writer->savepoint());
  BOOST_REQUIRE(writer->apply(claim_at(1400)));
  writer->rollback_to_savepoint();
  kept(claim_at(1500));
  kept(claim_at(1550));
  BOOST_REQUIRE(!writer->commit());
  BOOST_TEST(count("SELECT heartbeat_at_ms FROM nodes WHERE node_id = 'n1'") == 1550);
  BOOST_REQUIRE(!writer->begin());
  kept(claim_at(1600));
  kept(stop_node{node_id{"n1"}, inc, 1650});
  BOOST_REQUIRE(!writer->savepoint());
  auto after_stop = writer->apply(claim_at(1700));
  BOOST_REQUIRE(!after_stop);
  BOOST_TEST(code_of(after_stop.error()) == errc::lease_lost);
  writer->rollback_to_savepoint();
  BOOST_REQUIRE(!writer->commit());
  BOOST_TEST(count("SELECT heartbeat_at_ms FROM nodes WHERE node_id = 'n1'") == 1600);
  BOOST_TEST(count("SELECT stopped_at_ms FROM nodes WHERE node_id = 'n1'") == 1650);
}

BOOST_AUTO_TEST_CASE(a_claim_is_a_heartbeat_and_a_stale_incarnation_claims_nothing) {
  add_tenant("t");
  auto old_inc = join("n1", 1000);
  queue_run("t", 1000);
  // A claim writes the heartbeat: no lease outlives its holder's liveness.
  BOOST_REQUIRE_EQUAL(claim("n1", old_inc, 1400, 1).runs.size(), 1u);
  BOOST_TEST(count("SELECT heartbeat_at_ms FROM nodes WHERE node_id = 'n1'") == 1400);
  // The id is taken (the old process stalled past its TTL).
  auto new_inc = join("n1", 1400 + ttl);
  queue_run("t", 1400 + ttl);
  claim_runs stale;
  stale.owner = node_id{"n1"};
  stale.incarnation = old_inc;
  stale.now_ms = 1500 + ttl;
  stale.lease_ttl_ms = ttl;
  stale.max_runs = 10;
  auto refused = write(stale);
  BOOST_REQUIRE(!refused);
  BOOST_TEST(code_of(refused.error()) == errc::lease_lost);
  BOOST_TEST(
    count("SELECT count(*) FROM runs WHERE lease_incarnation = " + std::to_string(old_inc)) == 1);
  // A run the stale process starts is created PENDING, for a live node.
  auto op = testing::pending_run_op("t", 1500 + ttl);
  op.owner = node_id{"n1"};
  op.incarnation = old_inc;
  op.lease_ttl_ms = ttl;
  auto created = write(op);
  BOOST_REQUIRE(created);
  BOOST_TEST(created->run.status == run_status::pending);
  BOOST_TEST(created->run.lease_owner.empty());
  // Stopping a registration releases what it still holds.
  auto mine = claim("n1", new_inc, 1600 + ttl, 10);
  BOOST_TEST(mine.runs.size() == 3u);
  BOOST_TEST(*write(stop_node{node_id{"n1"}, new_inc, 1700 + ttl}) == 1);
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE lease_owner IS NOT NULL") == 0);
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE status = 'RUNNING' AND lease_expires_at_ms = "
                   "0") == 3);
}

BOOST_AUTO_TEST_CASE(the_lease_length_is_the_callers_its_start_the_stores_clock) {
  add_tenant("t");
  queue_run("t", 1000);
  auto won = claim("n1", 0, 5000, 1);
  BOOST_REQUIRE_EQUAL(won.runs.size(), 1u);
  BOOST_TEST(won.runs[0].lease_expires_at_ms == 5000 + ttl);
}

BOOST_AUTO_TEST_CASE(cluster_listing_shows_liveness_and_held_runs) {
  add_tenant("t");
  auto a = join("a", 1000);
  join("b", 1000);
  queue_run("t", 1000);
  queue_run("t", 1000);
  BOOST_TEST(claim("a", a, 1000, 10).runs.size() == 2u);
  auto nodes = reader->apply(list_nodes{1500});
  BOOST_REQUIRE(nodes);
  BOOST_REQUIRE_EQUAL(nodes->size(), 2u);
  BOOST_TEST((*nodes)[0].node.value == "a");
  BOOST_TEST((*nodes)[0].live);
  BOOST_TEST((*nodes)[0].held_runs == 2);
  BOOST_TEST((*nodes)[0].held_tenants == std::vector<std::string>{"t"});
  BOOST_TEST((*nodes)[1].held_tenants.empty());
  BOOST_TEST((*nodes)[1].held_runs == 0);
  auto later = reader->apply(list_nodes{1000 + ttl + 1});
  BOOST_REQUIRE(later);
  BOOST_TEST(!(*later)[0].live);
  BOOST_TEST((*later)[0].held_runs == 0); // its leases expired too
}

BOOST_AUTO_TEST_CASE(a_created_run_is_answered_as_the_store_holds_it) {
  // The creation answers the run without reading it back: what it answers
  // must be what a read finds, field for field, whichever way it was made.
  add_tenant("t");
  auto inc = join("n1", 1000, 60'000);
  auto same_as_stored = [&](const run_created& made) {
    BOOST_TEST_CONTEXT("run " << made.run.id.value) {
      auto stored = reader->apply(find_run{made.run.tenant, made.run.id});
      BOOST_REQUIRE_MESSAGE(stored, (stored ? "" : describe(stored.error())));
      BOOST_TEST(caf::deep_to_string(made.run) == caf::deep_to_string(*stored));
    }
  };
  auto make = [&](create_run op) {
    auto made = write(op);
    BOOST_REQUIRE_MESSAGE(made, (made ? "" : describe(made.error())));
    BOOST_REQUIRE(made->created);
    same_as_stored(*made);
    return *made;
  };
  // Unclaimed, with an idempotency key and input as the caller wrote it.
  auto pending = testing::pending_run_op("t", 1100);
  pending.run.idempotency_key = "k-1";
  pending.run.input = R"({ "b": [1, 2.50],  "a": "x" })";
  BOOST_TEST(make(pending).run.status == run_status::pending);
  // Claimed with its first step, reserved in the same commit.
  auto claimed = testing::pending_run_op("t", 1200);
  claimed.owner = node_id{"n1"};
  claimed.incarnation = inc;
  claimed.lease_ttl_ms = 60'000;
  claimed.default_limit = 2;
  claimed.quota.tenant = tenant_id{"t"};
  claimed.quota.period_end_ms = 1'000'000;
  claimed.first_events = {
    history_record{2, "step_scheduled", "a", 1, R"({"activity":"noop","input":{}})", 0}};
  claimed.first_steps = {step_change{"a", 1, step_status::started, "", "", 0}};
  auto first = make(claimed);
  BOOST_TEST(first.run.status == run_status::running);
  BOOST_TEST(first.run.next_seq == 3);
  BOOST_TEST(first.run.node_path == "a");
  // A child of it, claimed without decisions.
  auto child = claimed;
  child.now_ms = 1300;
  child.first_events.clear();
  child.first_steps.clear();
  child.parent_run = first.run.id.value;
  child.parent_node_path = "a";
  child.parent_attempt = 1;
  BOOST_TEST(make(child).run.status == run_status::running);
  // At the tenant's limit (2 running): queued PENDING, its decisions kept
  // for its first claim, not recorded.
  auto queued = claimed;
  queued.now_ms = 1400;
  auto at_limit = make(queued);
  BOOST_TEST(at_limit.run.status == run_status::pending);
  BOOST_TEST(at_limit.run.next_seq == 2);
  BOOST_TEST(at_limit.queued_deadline_ms > 0);
  BOOST_TEST(count("SELECT count(*) FROM run_events WHERE run_id = " +
                   std::to_string(at_limit.run.id.value)) == 1);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE run_id = " +
                   std::to_string(at_limit.run.id.value)) == 0);
}

// -- claim order -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(takeovers_come_before_woken_runs_and_woken_before_new) {
  add_tenant("t", R"({"max_concurrent_runs": 1})");
  // Queued first: new runs, then a run that a dead node held.
  auto n1 = queue_run("t", 100);
  auto n2 = queue_run("t", 110);
  create_run held;
  held.run.tenant = tenant_id{"t"};
  held.run.queue = queue_name{"q"};
  held.run.config_tenant = tenant_id{"t"};
  held.run.version = config_version{"1"};
  held.run.checksum = "c";
  held.owner = node_id{"dead"};
  held.lease_ttl_ms = 300;
  held.now_ms = 500;
  auto h = write(held);
  BOOST_REQUIRE(h);
  auto dead_run = h->run.id.value;
  BOOST_TEST(h->run.status == run_status::running);
  // The lease is live: the tenant is at its limit, nothing to claim.
  BOOST_TEST(claim("n", 0, 700, 10).runs.empty());
  // After expiry the takeover goes first, although the new runs are older.
  auto first = claim("n", 0, 900, 1);
  BOOST_REQUIRE_EQUAL(first.runs.size(), 1u);
  BOOST_TEST(first.runs[0].id.value == dead_run);
  BOOST_TEST(first.runs[0].epoch == 2);
  // Handed back (released) is a takeover too; a woken WAITING run comes next.
  BOOST_TEST(*write(release_leases{node_id{"n"}, 0, {run_lease{run_id{dead_run}, 2}}, 950}) == 1);
  exec("UPDATE runs SET status = 'WAITING', wait_reason = 'timer', wake_at_ms = 940 "
       "WHERE run_id = " +
       std::to_string(n2));
  auto second = claim("n", 0, 1000, 1);
  BOOST_REQUIRE_EQUAL(second.runs.size(), 1u);
  BOOST_TEST(second.runs[0].id.value == dead_run);
  BOOST_TEST(*write(release_leases{node_id{"n"}, 0, {run_lease{run_id{dead_run}, 3}}, 1000}) == 1);
  exec("UPDATE runs SET status = 'COMPLETED', lease_owner = NULL WHERE run_id = " +
       std::to_string(dead_run));
  auto third = claim("n", 0, 1100, 1);
  BOOST_REQUIRE_EQUAL(third.runs.size(), 1u);
  BOOST_TEST(third.runs[0].id.value == n2); // woken, before the older new run n1
  exec("UPDATE runs SET status = 'COMPLETED', lease_owner = NULL WHERE run_id = " +
       std::to_string(n2));
  auto fourth = claim("n", 0, 1200, 1);
  BOOST_REQUIRE_EQUAL(fourth.runs.size(), 1u);
  BOOST_TEST(fourth.runs[0].id.value == n1);
}

BOOST_AUTO_TEST_CASE(a_new_tenant_is_claimed_in_the_first_claim_whatever_the_backlog) {
  add_tenant("h");
  add_tenant("l");
  for (int i = 0; i < 500; ++i) {
    queue_run("h", 100 + i);
  }
  for (int i = 0; i < 3; ++i) {
    queue_run("l", 1000 + i);
  }
  auto c = claim("n", 0, 2000, 8);
  BOOST_REQUIRE_EQUAL(c.runs.size(), 8u);
  // Round-robin: h, l, h, l, h, l, then h alone.
  BOOST_TEST((tenants_of(c) == std::vector<std::string>{"h", "l", "h", "l", "h", "l", "h", "h"}));
  BOOST_TEST(c.last_tenant.value == "h");
}

BOOST_AUTO_TEST_CASE(weights_give_turns_and_the_cursor_rotates_the_start) {
  add_tenant("a", R"({"weight": 3})");
  add_tenant("b");
  add_tenant("c");
  for (const char* t : {"a", "b", "c"}) {
    for (int i = 0; i < 20; ++i) {
      queue_run(t, 100 + i);
    }
  }
  auto first = claim("n", 0, 1000, 5);
  BOOST_TEST((tenants_of(first) == std::vector<std::string>{"a", "a", "a", "b", "c"}));
  BOOST_TEST(first.last_tenant.value == "c");
  // The next claim starts after c: a again; after b it starts at c.
  auto next = claim("n", 0, 1000, 2, "b");
  BOOST_TEST((tenants_of(next) == std::vector<std::string>{"c", "a"}));
}

BOOST_AUTO_TEST_CASE(limits_hold_per_tenant_and_nodes_take_their_share) {
  add_tenant("t", R"({"max_concurrent_runs": 4})");
  for (int i = 0; i < 10; ++i) {
    queue_run("t", 100 + i);
  }
  auto a = join("a", 1000);
  auto b = join("b", 1000);
  // Two live nodes: each takes at most 2 of the 4 permits.
  BOOST_TEST(claim("a", a, 1000, 10).runs.size() == 2u);
  BOOST_TEST(claim("a", a, 1001, 10).runs.empty());
  BOOST_TEST(claim("b", b, 1002, 10).runs.size() == 2u);
  // The limit holds over both.
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE status = 'RUNNING'") == 4);
  // b stops: a alone may use every permit as they free.
  BOOST_TEST(*write(stop_node{node_id{"b"}, b, 1003}) == 1);
  exec("UPDATE runs SET status = 'COMPLETED', lease_owner = NULL, lease_expires_at_ms = 0 "
       "WHERE lease_owner = 'b'");
  BOOST_TEST(claim("a", a, 1004, 10).runs.size() == 2u);
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE status = 'RUNNING'") == 4);
}

BOOST_AUTO_TEST_CASE(shares_rotate_and_an_idle_nodes_share_goes_to_the_others) {
  add_tenant("t", R"({"max_concurrent_runs": 1})");
  add_tenant("quiet");
  auto a = join("a", 10'000);
  auto b = join("b", 10'000);
  queue_run("t", 10'000);
  auto requeue = [&] {
    exec("UPDATE runs SET status = 'PENDING', lease_owner = NULL, lease_expires_at_ms = 0, "
         "wake_at_ms = 0 WHERE tenant_id = 't'");
  };
  // Both nodes alive and claiming (a claim of another tenant marks that).
  auto beat = [&](int64_t now) {
    BOOST_REQUIRE(write(renew_leases{node_id{"a"}, a, {}, now, ttl}));
    BOOST_REQUIRE(write(renew_leases{node_id{"b"}, b, {}, now, ttl}));
    for (auto [node, inc] : {std::pair{"a", a}, std::pair{"b", b}}) {
      claim_runs touch;
      touch.owner = node_id{node};
      touch.incarnation = inc;
      touch.now_ms = now;
      touch.lease_ttl_ms = ttl;
      touch.tenants = {tenant_id{"quiet"}};
      BOOST_REQUIRE(write(touch));
    }
  };
  // Limit 1 over two claiming nodes: the permit is one node's share at a
  // time, and the share rotates by the second.
  std::map<std::string, int> turns;
  for (int64_t second = 0; second < 8; ++second) {
    auto now = 10'000 + second * 1000;
    beat(now);
    auto got_a = claim("a", a, now, 1, "", 500);
    auto got_b = claim("b", b, now, 1, "", 500);
    BOOST_REQUIRE_EQUAL(got_a.runs.size() + got_b.runs.size(), 1u);
    turns[got_a.runs.empty() ? "b" : "a"] += 1;
    requeue();
  }
  BOOST_TEST(turns["a"] > 0);
  BOOST_TEST(turns["b"] > 0);
  // The node whose share it is not takes the run only once the holder has
  // not claimed for the grace (idle, or full).
  beat(20'000);
  auto holder_is_a = !claim("a", a, 20'000, 1, "", 500).runs.empty();
  requeue();
  auto other = holder_is_a ? "b" : "a";
  auto other_inc = holder_is_a ? b : a;
  BOOST_TEST(claim(other, other_inc, 20'200, 1, "", 500).runs.empty());
  BOOST_TEST(claim(other, other_inc, 20'700, 1, "", 500).runs.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_targeted_claim_names_tenants_whose_due_runs_it_left_to_another_share) {
  add_tenant("t", R"({"max_concurrent_runs": 1})");
  add_tenant("quiet");
  auto a = join("a", 10'000);
  auto b = join("b", 10'000);
  queue_run("t", 10'000);
  auto targeted = [&](const std::string& node, int64_t inc, int64_t now) {
    claim_runs op;
    op.owner = node_id{node};
    op.incarnation = inc;
    op.now_ms = now;
    op.lease_ttl_ms = ttl;
    op.max_runs = 10;
    op.spread_grace_ms = 500;
    op.tenants = {tenant_id{"t"}, tenant_id{"quiet"}};
    auto out = write(op);
    BOOST_REQUIRE_MESSAGE(out, (out ? "" : describe(out.error())));
    return std::move(*out);
  };
  // Both nodes claiming. In some second the permit is b's share: a's
  // targeted claim (a permit of t freed on a) takes nothing and names t, so
  // that a tells b. In the seconds it is a's, a takes the run.
  bool left = false;
  for (int64_t second = 0; second < 8 && !left; ++second) {
    auto now = 10'000 + second * 1000;
    BOOST_REQUIRE(write(renew_leases{node_id{"a"}, a, {}, now, ttl}));
    BOOST_REQUIRE(write(renew_leases{node_id{"b"}, b, {}, now, ttl}));
    auto touch_b = targeted("b", b, now); // b claims (and may take the run)
    if (!touch_b.runs.empty()) {
      exec("UPDATE runs SET status = 'PENDING', lease_owner = NULL, lease_expires_at_ms = 0, "
           "wake_at_ms = 0 WHERE tenant_id = 't'");
    }
    auto got = targeted("a", a, now);
    if (got.runs.empty()) {
      BOOST_TEST(got.left_to_others.size() == 1u);
      BOOST_TEST(got.left_to_others.front().value == "t");
      left = true;
    } else {
      BOOST_TEST(got.left_to_others.empty());
      exec("UPDATE runs SET status = 'PENDING', lease_owner = NULL, lease_expires_at_ms = 0, "
           "wake_at_ms = 0 WHERE tenant_id = 't'");
    }
  }
  BOOST_TEST(left);
  // No due run: nothing to tell, whoever's share it is.
  exec("UPDATE runs SET status = 'COMPLETED', lease_owner = NULL WHERE tenant_id = 't'");
  for (int64_t second = 8; second < 10; ++second) {
    auto now = 10'000 + second * 1000;
    BOOST_TEST(targeted("a", a, now).left_to_others.empty());
  }
}

BOOST_AUTO_TEST_CASE(a_claim_skips_a_tenant_another_transaction_holds_instead_of_waiting) {
  // PostgreSQL locks tenant rows (SQLite's write lock is database-wide):
  // a claim that waited for a tenant held by another node's transaction
  // could deadlock with it (claims visit tenants in round-robin order, and
  // a batch holds the tenants its creates locked). It skips the tenant.
  if (!testing::postgres_backend()) {
    return;
  }
  add_tenant("held", R"({"max_concurrent_runs": 5})");
  add_tenant("free", R"({"max_concurrent_runs": 5})");
  queue_run("held", 100);
  queue_run("free", 100);
  auto other = pg::connection::open(location);
  BOOST_REQUIRE_MESSAGE(other, (other ? "" : describe(other.error())));
  BOOST_REQUIRE(!(*other)->exec("BEGIN"));
  BOOST_REQUIRE((*other)->query_int("SELECT 1 FROM tenants WHERE tenant_id = 'held' FOR UPDATE") ==
                1);
  auto got = claim("n", 0, 1000, 10);
  BOOST_REQUIRE(got.runs.size() == 1u);
  BOOST_TEST(got.runs.front().tenant.value == "free");
  // A targeted claim names the tenant it skipped: the other nodes are told.
  claim_runs op;
  op.owner = node_id{"n"};
  op.now_ms = 1000;
  op.lease_ttl_ms = ttl;
  op.max_runs = 10;
  op.tenants = {tenant_id{"held"}};
  auto targeted = write(op);
  BOOST_REQUIRE_MESSAGE(targeted, (targeted ? "" : describe(targeted.error())));
  BOOST_TEST(targeted->runs.empty());
  BOOST_REQUIRE(targeted->left_to_others.size() == 1u);
  BOOST_TEST(targeted->left_to_others.front().value == "held");
  BOOST_REQUIRE(!(*other)->exec("ROLLBACK"));
  auto later = claim("n", 0, 1000, 10);
  BOOST_REQUIRE(later.runs.size() == 1u);
  BOOST_TEST(later.runs.front().tenant.value == "held");
}

BOOST_AUTO_TEST_CASE(
  a_renewal_in_flight_elsewhere_keeps_its_permit_and_a_revoked_lease_stays_dead) {
  // PostgreSQL transactions overlap: a renewal another node's transaction
  // has made but not committed is invisible to a claim's count. Counting
  // that expired lease as a free permit let the renewal commit beside the
  // run admitted on it: over the limit (seen once in the recovery suite).
  // SQLite runs one writer at a time with its time read under the lock.
  if (!testing::postgres_backend()) {
    return;
  }
  add_tenant("t", R"({"max_concurrent_runs": 1})");
  // b is not registered: no share of the limit hides what its count decides.
  auto a = join("a", 1000, 60'000);
  auto x = queue_run("t", 1000);
  auto got = claim("a", a, 1000, 1);
  BOOST_REQUIRE(got.runs.size() == 1u);
  BOOST_REQUIRE(got.runs.front().id.value == x);
  auto epoch = got.runs.front().epoch;
  queue_run("t", 1000);
  // a's renewal, begun before its lease ran out at 2000, not yet committed.
  auto other = pg::connection::open(location);
  BOOST_REQUIRE_MESSAGE(other, (other ? "" : describe(other.error())));
  BOOST_REQUIRE(!(*other)->exec("BEGIN"));
  BOOST_REQUIRE(!(*other)->exec("UPDATE runs SET lease_expires_at_ms = 3900, wake_at_ms = 3900 "
                                "WHERE run_id = " +
                                std::to_string(x)));
  // b's claim after the expiry neither waits for that row nor spends its
  // permit: it takes nothing.
  BOOST_TEST(claim("b", 0, 2500, 10).runs.empty());
  BOOST_REQUIRE(!(*other)->exec("COMMIT"));
  BOOST_TEST(claim("b", 0, 2600, 10).runs.empty());
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE status = 'RUNNING'") == 1);
  // Expired again at 3900. A start admitted on its permit revokes the
  // lease, so a renewal stamped before the expiry no longer revives it.
  auto op = testing::pending_run_op("t", 4000);
  op.owner = node_id{"b"};
  op.lease_ttl_ms = ttl;
  auto created = write(op);
  BOOST_REQUIRE_MESSAGE(created, (created ? "" : describe(created.error())));
  BOOST_REQUIRE(created->run.status == run_status::running);
  BOOST_TEST(count("SELECT lease_expires_at_ms FROM runs WHERE run_id = " + std::to_string(x)) ==
             0);
  auto renewed = write(renew_leases{node_id{"a"}, a, {run_lease{run_id{x}, epoch}}, 3800, ttl});
  BOOST_REQUIRE_MESSAGE(renewed, (renewed ? "" : describe(renewed.error())));
  BOOST_TEST(renewed->empty());
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE status = 'RUNNING' AND lease_expires_at_ms > "
                   "4000") == 1);
}

BOOST_AUTO_TEST_CASE(targeted_claims_take_only_the_named_tenants) {
  add_tenant("a");
  add_tenant("b");
  queue_run("a", 100);
  queue_run("b", 100);
  claim_runs op;
  op.owner = node_id{"n"};
  op.now_ms = 1000;
  op.lease_ttl_ms = ttl;
  op.max_runs = 10;
  op.tenants = {tenant_id{"b"}};
  auto out = write(op);
  BOOST_REQUIRE(out);
  BOOST_TEST(tenants_of(*out) == std::vector<std::string>{"b"});
}

// -- a queued run's first step -----------------------------------------------------

namespace {

/// A run of tenant "t" created unclaimed (PENDING) with its first step.
create_run with_first_step(int64_t now) {
  auto op = testing::pending_run_op("t", now);
  op.first_events = {history_record{2, "step_scheduled", "a", 1,
                                    R"({"activity":"noop","input":{},"timeout_ms":0})", 0}};
  op.first_steps = {step_change{"a", 1, step_status::started, "", "", 0}};
  return op;
}

/// n1's claim at 1200 (60 s leases) of up to `max` runs, with `quotas`.
claim_runs claim_by_n1(int64_t incarnation, int32_t max, std::vector<quota_terms> quotas) {
  claim_runs op;
  op.owner = node_id{"n1"};
  op.incarnation = incarnation;
  op.now_ms = 1200;
  op.lease_ttl_ms = 60'000;
  op.max_runs = max;
  op.quotas = std::move(quotas);
  return op;
}

/// n1's append to run `id` of tenant "t" at epoch 1, from `expected_seq`.
append_history append_by_n1(int64_t id, int64_t incarnation, int64_t expected_seq) {
  append_history op;
  op.run = run_id{id};
  op.tenant = tenant_id{"t"};
  op.owner = node_id{"n1"};
  op.incarnation = incarnation;
  op.epoch = 1;
  op.expected_seq = expected_seq;
  return op;
}

quota_terms terms_of_t(int64_t limit) {
  quota_terms q;
  q.tenant = tenant_id{"t"};
  q.period_start_ms = 0;
  q.period_end_ms = 1'000'000;
  q.limit = limit;
  return q;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_queued_runs_kept_first_step_is_recorded_by_its_first_claim) {
  add_tenant("t");
  auto inc = join("n1", 1000, 60'000);
  auto made = write(with_first_step(1100));
  BOOST_REQUIRE(made && made->created);
  auto id = made->run.id.value;
  auto where = " WHERE run_id = " + std::to_string(id);
  BOOST_TEST(made->run.next_seq == 2);
  BOOST_TEST(count("SELECT count(*) FROM run_events" + where) == 1);
  BOOST_TEST(!text("SELECT first_plan FROM runs" + where).empty());
  auto out = write(claim_by_n1(inc, 10, {terms_of_t(5)}));
  BOOST_REQUIRE_MESSAGE(out, (out ? "" : describe(out.error())));
  BOOST_REQUIRE_EQUAL(out->runs.size(), 1u);
  BOOST_TEST(out->first_recorded == std::vector<run_id>{run_id{id}});
  BOOST_TEST(out->quota_paused.empty());
  const auto& r = out->runs.front();
  BOOST_TEST(r.next_seq == 3);
  BOOST_TEST(r.node_path == "a");
  BOOST_TEST(r.epoch == 1);
  // Answered as the store holds it.
  auto stored = reader->apply(find_run{tenant_id{"t"}, run_id{id}});
  BOOST_REQUIRE(stored);
  BOOST_TEST(caf::deep_to_string(r) == caf::deep_to_string(*stored));
  // The history and the ledger hold the attempt, at the claim's time, under
  // the claim's lease; the usage counts it once; the kept plan is gone.
  BOOST_TEST(count("SELECT count(*) FROM run_events" + where +
                   " AND seq = 2 AND event_type = 'step_scheduled' AND node_path = 'a' "
                   "AND attempt = 1 AND created_at_ms = 1200") == 1);
  BOOST_TEST(count("SELECT count(*) FROM run_steps" + where +
                   " AND step_path = 'a' AND attempt = 1 AND status = 'started' "
                   "AND lease_epoch = 1 AND node_id = 'n1'") == 1);
  BOOST_TEST(count("SELECT used_count FROM usage_periods WHERE tenant_id = 't'") == 1);
  BOOST_TEST(text("SELECT first_plan FROM runs" + where).empty());
  // Its driver goes on from seq 3 under the claim's lease.
  auto done = append_by_n1(id, inc, 3);
  done.events = {history_record{3, "step_completed", "a", 1, "{}", 0},
                 history_record{4, "run_completed", "", 0, "{}", 0}};
  done.steps = {step_change{"a", 1, step_status::completed, "", "", -1}};
  done.change.status = run_status::completed;
  done.now_ms = 1300;
  auto appended = write(done);
  BOOST_REQUIRE_MESSAGE(appended, (appended ? "" : describe(appended.error())));
  BOOST_TEST(appended->next_seq == 5);
}

BOOST_AUTO_TEST_CASE(a_kept_first_step_waits_for_terms_and_an_empty_inbox) {
  add_tenant("t");
  auto inc = join("n1", 1000, 60'000);
  auto a = write(with_first_step(1100))->run.id.value;
  auto b = write(with_first_step(1100))->run.id.value;
  auto c = write(with_first_step(1100))->run.id.value;
  BOOST_REQUIRE(write(signal_run{tenant_id{"t"}, run_id{c}, "go", "{}", 1150}));
  auto op = claim_by_n1(inc, 1, {});
  // No terms for the tenant: claimed with its history as it is.
  auto first = write(op);
  BOOST_REQUIRE(first);
  BOOST_REQUIRE_EQUAL(first->runs.size(), 1u);
  BOOST_TEST(first->runs.front().id.value == a);
  BOOST_TEST(first->runs.front().next_seq == 2);
  BOOST_TEST(first->first_recorded.empty());
  BOOST_TEST(count("SELECT count(*) FROM run_steps") == 0);
  // Terms whose period does not hold the store's clock: the same.
  auto ended = terms_of_t(5);
  ended.period_end_ms = 1200;
  op.quotas = {ended};
  auto second = write(op);
  BOOST_REQUIRE(second);
  BOOST_REQUIRE_EQUAL(second->runs.size(), 1u);
  BOOST_TEST(second->runs.front().id.value == b);
  BOOST_TEST(second->first_recorded.empty());
  // A signal waits in its inbox: its driver's first append takes it.
  op.quotas = {terms_of_t(5)};
  auto third = write(op);
  BOOST_REQUIRE(third);
  BOOST_REQUIRE_EQUAL(third->runs.size(), 1u);
  BOOST_TEST(third->runs.front().id.value == c);
  BOOST_TEST(third->runs.front().next_seq == 2);
  BOOST_TEST(third->first_recorded.empty());
  BOOST_TEST(count("SELECT count(*) FROM run_steps") == 0);
  // The first append of a run claimed without recording its kept step
  // empties it.
  auto own = append_by_n1(a, inc, 2);
  own.events = {history_record{2, "step_scheduled", "a", 1, "{}", 0}};
  own.steps = {step_change{"a", 1, step_status::started, "", "", 0}};
  own.change.node_path = "a";
  own.quota = terms_of_t(5);
  own.now_ms = 1300;
  BOOST_REQUIRE(write(own));
  BOOST_TEST(text("SELECT first_plan FROM runs WHERE run_id = " + std::to_string(a)).empty());
}

BOOST_AUTO_TEST_CASE(a_kept_first_step_without_quota_pauses_the_run_at_its_claim) {
  add_tenant("t", R"({"max_concurrent_runs": 1})");
  auto inc = join("n1", 1000, 60'000);
  auto a = write(with_first_step(1100))->run.id.value;
  auto b = write(with_first_step(1100))->run.id.value;
  auto out = write(claim_by_n1(inc, 10, {terms_of_t(0)}));
  BOOST_REQUIRE_MESSAGE(out, (out ? "" : describe(out.error())));
  // Both are taken and paused: a paused run holds no permit, so the
  // tenant's limit of 1 let the claim go on to the second.
  BOOST_TEST(out->runs.empty());
  BOOST_TEST(out->first_recorded.empty());
  BOOST_REQUIRE_EQUAL(out->quota_paused.size(), 2u);
  BOOST_TEST(out->quota_paused[0].run.value == a);
  BOOST_TEST(out->quota_paused[1].run.value == b);
  BOOST_TEST(out->quota_paused[0].node_path == "a");
  BOOST_TEST(out->quota_paused[0].limit == 0);
  for (auto id : {a, b}) {
    auto where = " WHERE run_id = " + std::to_string(id);
    BOOST_TEST_CONTEXT("run " << id) {
      BOOST_TEST(text("SELECT status || '/' || wait_reason FROM runs" + where) == "WAITING/quota");
      BOOST_TEST(text("SELECT coalesce(lease_owner, '') FROM runs" + where).empty());
      BOOST_TEST(count("SELECT next_seq FROM runs" + where) == 2);
      BOOST_TEST(count("SELECT count(*) FROM run_events" + where) == 1);
      BOOST_TEST(count("SELECT count(*) FROM run_waits" + where + " AND kind = 'quota'") == 1);
      // Decided again by its driver once resumed.
      BOOST_TEST(text("SELECT first_plan FROM runs" + where).empty());
    }
  }
  BOOST_TEST(count("SELECT count(*) FROM run_steps") == 0);
  BOOST_TEST(count("SELECT coalesce(sum(used_count), 0) FROM usage_periods") == 0);
}

BOOST_AUTO_TEST_CASE(a_first_decision_that_is_not_one_attempt_is_refused_and_nothing_stored) {
  add_tenant("t");
  auto two = with_first_step(1100);
  two.first_steps.push_back(step_change{"b", 1, step_status::started, "", "", 0});
  auto finished = with_first_step(1100);
  finished.first_steps.front().status = step_status::completed;
  auto gap = with_first_step(1100);
  gap.first_events.front().seq = 3;
  for (const auto& op : {two, finished, gap}) {
    auto out = write(op);
    BOOST_REQUIRE(!out);
    BOOST_TEST(code_of(out.error()) == errc::invalid_argument);
  }
  BOOST_TEST(count("SELECT count(*) FROM runs") == 0);
  BOOST_TEST(count("SELECT count(*) FROM tenant_rejections") == 0);
}

// -- tenant ownership --------------------------------------------------------------

namespace {

/// Registers `node` publishing an address (it listens): it may own tenants.
int64_t listen_as(run_model_fixture& f, const std::string& node, int64_t now) {
  auto inc = f.write(register_node{node_id{node}, "host-a", 100, "127.0.0.1:1", ttl, now, 0});
  BOOST_REQUIRE_MESSAGE(inc, (inc ? "" : describe(inc.error())));
  return *inc;
}

void renew(run_model_fixture& f, const std::string& node, int64_t inc, int64_t now) {
  auto out = f.write(renew_leases{node_id{node}, inc, {}, now, ttl, 0});
  BOOST_REQUIRE_MESSAGE(out, (out ? "" : describe(out.error())));
}

/// tenant -> "owner/epoch" of the live ownership leases at `now`.
std::map<std::string, std::string> owners_at(run_model_fixture& f, int64_t now) {
  std::map<std::string, std::string> out;
  auto rows = f.text("SELECT coalesce(" +
                     testing::concat_sql("tenant_id || '=' || owner || '/' || epoch", ",",
                                         testing::postgres_backend()) +
                     ", '') FROM (SELECT * FROM tenant_owners WHERE expires_at_ms > " +
                     std::to_string(now) + " ORDER BY tenant_id) o");
  std::stringstream in{rows};
  for (std::string item; std::getline(in, item, ',');) {
    auto eq = item.find('=');
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(limited_tenants_are_spread_over_listening_nodes_and_only_the_owner_admits) {
  for (int i = 0; i < 8; ++i) {
    add_tenant("t" + std::to_string(i), R"({"max_concurrent_runs": 3})");
  }
  add_tenant("free", R"({"max_concurrent_runs": 0})");
  auto a = listen_as(*this, "a", 1000);
  auto b = listen_as(*this, "b", 1000);
  auto c = join("c", 1000); // publishes no address: owns nothing
  renew(*this, "a", a, 1000);
  renew(*this, "b", b, 1000);
  renew(*this, "c", c, 1000);
  auto owners = owners_at(*this, 1000);
  BOOST_TEST(owners.size() == 8u); // every limited tenant, not "free"
  std::string ta;
  std::string tb;
  for (const auto& [tenant, owner] : owners) {
    BOOST_TEST((owner == "a/1" || owner == "b/1"), tenant << " " << owner);
    (owner == "a/1" ? ta : tb) = tenant;
  }
  BOOST_REQUIRE_MESSAGE(!ta.empty() && !tb.empty(), "one node owns every tenant");
  // Renewing again changes no owner (the choice is stable).
  renew(*this, "a", a, 1100);
  renew(*this, "b", b, 1100);
  BOOST_TEST((owners_at(*this, 1100) == owners));
  // Both owners claim (nothing yet): they poll and have room.
  BOOST_TEST(claim("a", a, 1150, 10).runs.empty());
  BOOST_TEST(claim("b", b, 1150, 10).runs.empty());
  queue_run(ta, 1160);
  queue_run(tb, 1160);
  queue_run("free", 1160);
  // a admits its tenant's run and the unlimited tenant's, not b's tenant's.
  auto got_a = claim("a", a, 1200, 10);
  auto tenants_a = tenants_of(got_a);
  std::sort(tenants_a.begin(), tenants_a.end());
  BOOST_TEST((tenants_a == std::vector<std::string>{"free", ta}));
  // c, which owns nothing, admits nothing of theirs either.
  BOOST_TEST(claim("c", c, 1210, 10).runs.empty());
  BOOST_TEST(tenants_of(claim("b", b, 1220, 10)) == std::vector<std::string>{tb});
  // A run created on a for b's tenant waits for b (a names it), a's own is
  // created claimed.
  auto op = testing::pending_run_op(tb, 1300);
  op.owner = node_id{"a"};
  op.incarnation = a;
  op.lease_ttl_ms = ttl;
  op.spread_grace_ms = 10'000;
  auto queued = write(op);
  BOOST_REQUIRE(queued);
  BOOST_TEST(queued->run.status == run_status::pending);
  BOOST_TEST(queued->tenant_owner == "b");
  BOOST_TEST(queued->queued_deadline_ms > 0);
  op.run.tenant = op.run.config_tenant = tenant_id{ta};
  auto mine = write(op);
  BOOST_REQUIRE(mine);
  BOOST_TEST(mine->run.status == run_status::running);
  BOOST_TEST(mine->tenant_owner.empty());
  // A permit of b's tenant frees on a: a's targeted claim leaves the queued
  // run to b and names the tenant, so that a tells b.
  claim_runs targeted;
  targeted.owner = node_id{"a"};
  targeted.incarnation = a;
  targeted.now_ms = 1400;
  targeted.lease_ttl_ms = ttl;
  targeted.spread_grace_ms = 10'000;
  targeted.tenants = {tenant_id{tb}};
  auto left = write(targeted);
  BOOST_REQUIRE(left);
  BOOST_TEST(left->runs.empty());
  BOOST_TEST(left->owned_elsewhere == std::vector<tenant_id>{tenant_id{tb}});
  // b is full after a claim that took its last slot: a admits b's tenant
  // (no permit stays unused).
  claim_runs full;
  full.owner = node_id{"b"};
  full.incarnation = b;
  full.now_ms = 1500;
  full.lease_ttl_ms = ttl;
  full.max_runs = 1;
  full.room = 1;
  full.tenants = {tenant_id{tb}};
  BOOST_TEST(write(full)->runs.size() == 1u);
  queue_run(tb, 1510);
  targeted.now_ms = 1600;
  auto taken = write(targeted);
  BOOST_REQUIRE(taken);
  BOOST_TEST(taken->runs.size() == 1u);
  BOOST_TEST(taken->owned_elsewhere.empty());
  // The limit still holds over every node: tb has 3 RUNNING, none more.
  queue_run(tb, 1610);
  BOOST_TEST(claim("c", c, 1620, 10).runs.empty());
  BOOST_TEST(
    count("SELECT count(*) FROM runs WHERE status = 'RUNNING' AND tenant_id = '" + tb + "'") == 3);
  // The listing shows what each node owns.
  auto nodes = reader->apply(list_nodes{1700});
  BOOST_REQUIRE(nodes);
  BOOST_REQUIRE_EQUAL(nodes->size(), 3u);
  std::vector<std::string> of_a;
  for (const auto& [tenant, owner] : owners) {
    if (owner == "a/1") {
      of_a.push_back(tenant);
    }
  }
  BOOST_TEST((*nodes)[0].owned_tenants == of_a);
  BOOST_TEST((*nodes)[2].owned_tenants.empty());
}

BOOST_AUTO_TEST_CASE(a_node_that_claims_nothing_more_leaves_its_tenants_and_share_to_the_others) {
  // Found by test_remote on PostgreSQL: a draining node handed its run
  // back and told the other node, whose claim found the tenant owned by
  // the draining node (live, claimed lately, with room) and took nothing;
  // its next poll was a minute away.
  add_tenant("t", R"({"max_concurrent_runs": 2})");
  // Later than the claims' grace (10 s): a claim at 0 is none.
  const int64_t t0 = 100'000;
  auto a = listen_as(*this, "a", t0);
  auto b = listen_as(*this, "b", t0);
  renew(*this, "a", a, t0);
  renew(*this, "b", b, t0);
  auto owners = owners_at(*this, t0);
  BOOST_REQUIRE_EQUAL(owners.count("t"), 1u);
  bool a_owns = owners["t"] == "a/1";
  auto owner = a_owns ? "a" : "b";
  auto owner_inc = a_owns ? a : b;
  auto other = a_owns ? "b" : "a";
  auto other_inc = a_owns ? b : a;
  BOOST_TEST(claim(owner, owner_inc, t0 + 100, 10).runs.empty());
  BOOST_TEST(claim(other, other_inc, t0 + 100, 10).runs.empty());
  queue_run("t", t0 + 150);
  queue_run("t", t0 + 150);
  // The owner is claiming and has room: the other node leaves t to it.
  BOOST_TEST(claim(other, other_inc, t0 + 200, 10).runs.empty());
  // The owner drains: it claims nothing more. The other node takes t's
  // runs now, the whole limit (no share is kept for the owner).
  BOOST_TEST(claim(owner, owner_inc, t0 + 300, 0).runs.empty());
  BOOST_TEST(claim(other, other_inc, t0 + 400, 10).runs.size() == 2u);
}

BOOST_AUTO_TEST_CASE(ownership_moves_from_a_dead_owner_and_comes_back_when_it_returns) {
  for (int i = 0; i < 8; ++i) {
    add_tenant("t" + std::to_string(i), R"({"max_concurrent_runs": 1})");
  }
  auto a = listen_as(*this, "a", 1000);
  auto b = listen_as(*this, "b", 1000);
  renew(*this, "a", a, 1000);
  renew(*this, "b", b, 1000);
  auto before = owners_at(*this, 1000);
  BOOST_REQUIRE(before.size() == 8u);
  // a stops renewing (dead, or cut off from the store): once its
  // ownerships expire, b's next renewal takes them, epoch 2.
  renew(*this, "b", b, 1500);
  BOOST_TEST(owners_at(*this, 1500).size() == 8u); // a's still live until 2000
  renew(*this, "b", b, 2001);
  auto moved = owners_at(*this, 2001);
  BOOST_REQUIRE(moved.size() == 8u);
  for (const auto& [tenant, owner] : before) {
    BOOST_TEST(moved[tenant] == (owner == "a/1" ? std::string{"b/2"} : owner), tenant);
  }
  // a comes back (same registration): b holds its tenants, so a takes none
  // yet; b gives them up at its next renewal, a takes them at its next.
  renew(*this, "a", a, 2100);
  BOOST_TEST((owners_at(*this, 2100) == moved));
  renew(*this, "b", b, 2200);
  renew(*this, "a", a, 2300);
  auto back = owners_at(*this, 2300);
  for (const auto& [tenant, owner] : before) {
    BOOST_TEST(back[tenant] == (owner == "a/1" ? std::string{"a/3"} : owner), tenant);
  }
  // A drained node gives up what it owns at once.
  BOOST_TEST(*write(release_leases{node_id{"a"}, a, {}, 2400}) == 0);
  for (const auto& [tenant, owner] : owners_at(*this, 2400)) {
    BOOST_TEST(owner.rfind("b/", 0) == 0, tenant << " " << owner);
  }
  // A stopped node too.
  BOOST_TEST(*write(stop_node{node_id{"b"}, b, 2500}) == 1);
  BOOST_TEST(owners_at(*this, 2500).empty());
}

// -- schedules ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_schedule_fires_each_time_once_from_its_own_row) {
  add_tenant("acme");
  const int64_t t0 = 1'764'547'200'000; // 2025-12-01T00:00:00Z
  schedule_record rec;
  rec.tenant = tenant_id{"acme"};
  rec.id = "tick";
  rec.document = R"({"cron":"* * * * *","input":{"n":1},"overlap":"allow","queue":"q"})";
  auto put = write(store_schedule{rec, t0 + 10});
  BOOST_REQUIRE_MESSAGE(put, (put ? "" : describe(put.error())));
  BOOST_TEST(put->revision == 1);
  BOOST_TEST(put->next_fire_ms == t0 + 60'000);
  // Not due yet: nothing listed, a fire is stale.
  BOOST_TEST(reader->apply(due_schedules{t0 + 59'999, 10})->empty());
  auto early = write(fire_schedule{tenant_id{"acme"}, "tick", 1, "1", "c", "", 0, t0 + 59'999});
  BOOST_REQUIRE(early);
  BOOST_TEST(early->stale);
  auto due = reader->apply(due_schedules{t0 + 60'000, 10});
  BOOST_REQUIRE(due && due->size() == 1u);
  auto fired = write(fire_schedule{tenant_id{"acme"}, "tick", 1, "1", "c", "", 0, t0 + 60'500});
  BOOST_REQUIRE_MESSAGE(fired, (fired ? "" : describe(fired.error())));
  BOOST_TEST(!fired->stale);
  BOOST_REQUIRE(fired->runs.size() == 1u);
  BOOST_TEST(fired->schedule.next_fire_ms == t0 + 120'000);
  BOOST_TEST(fired->schedule.last_run == fired->runs[0]);
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE idempotency_key = 'schedule:tick:" +
                   std::to_string(t0 + 60'000) +
                   "' AND input = '{\"n\":1}' AND status = " + "'PENDING'") == 1);
  // The same fire again (another node that listed it too): stale, nothing new.
  auto again = write(fire_schedule{tenant_id{"acme"}, "tick", 1, "1", "c", "", 0, t0 + 60'600});
  BOOST_REQUIRE(again);
  BOOST_TEST(again->stale);
  // A fire planned against another revision is stale too.
  auto other = write(fire_schedule{tenant_id{"acme"}, "tick", 7, "1", "c", "", 0, t0 + 120'000});
  BOOST_REQUIRE(other);
  BOOST_TEST(other->stale);
  BOOST_TEST(count("SELECT count(*) FROM runs") == 1);
  // Replaced with overlap skip: the previous run is unfinished, so skipped.
  rec.document = R"({"cron":"* * * * *","queue":"q"})";
  put = write(store_schedule{rec, t0 + 100'000});
  BOOST_REQUIRE(put);
  BOOST_TEST(put->revision == 2);
  BOOST_TEST(put->last_run == fired->runs[0]);
  auto skipped = write(fire_schedule{tenant_id{"acme"}, "tick", 2, "1", "c", "", 0, t0 + 120'000});
  BOOST_REQUIRE(skipped);
  BOOST_TEST(skipped->runs.empty());
  BOOST_TEST(skipped->skipped == 1);
  BOOST_TEST(skipped->schedule.fires_skipped == 1);
  // Paused: not due, fires nothing; resumed from now.
  auto paused = write(pause_schedule{tenant_id{"acme"}, "tick", true, t0 + 130'000});
  BOOST_REQUIRE(paused);
  BOOST_TEST(paused->paused);
  BOOST_TEST(reader->apply(due_schedules{t0 + 999'999, 10})->empty());
  auto resumed = write(pause_schedule{tenant_id{"acme"}, "tick", false, t0 + 500'000});
  BOOST_REQUIRE(resumed);
  BOOST_TEST(resumed->next_fire_ms == t0 + 540'000);
  auto listed = reader->apply(list_schedules{tenant_id{"acme"}, ""});
  BOOST_REQUIRE(listed && listed->size() == 1u);
  BOOST_TEST(listed->front().document == rec.document);
  BOOST_TEST(*write(delete_schedule{tenant_id{"acme"}, "tick"}) == 1);
  BOOST_TEST(*write(delete_schedule{tenant_id{"acme"}, "tick"}) == 0);
  auto missing = write(pause_schedule{tenant_id{"acme"}, "tick", true, t0});
  BOOST_REQUIRE(!missing);
  BOOST_TEST(code_of(missing.error()) == errc::not_found);
  // The runs stay.
  BOOST_TEST(count("SELECT count(*) FROM runs") == 1);
}

// -- child runs ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_child_end_reaches_its_waiting_parent_or_is_found_when_it_asks_to_wait) {
  add_tenant("t");
  auto inc = join("n1", 1000, 60'000);
  // The parent runs under n1's lease; step 'c' attempt 1 is a child run.
  auto parent = queue_run("t", 1000);
  auto won = claim("n1", inc, 1000, 10);
  BOOST_REQUIRE_EQUAL(won.runs.size(), 1u);
  auto epoch = won.runs[0].epoch;
  auto make_child = [&](int32_t attempt, int64_t now) {
    auto op = testing::pending_run_op("t", now);
    op.parent_run = parent;
    op.parent_node_path = "c";
    op.parent_attempt = attempt;
    auto made = write(op);
    BOOST_REQUIRE_MESSAGE(made, (made ? "" : describe(made.error())));
    return *made;
  };
  auto append = [&](int64_t expected_seq, int64_t now, std::vector<history_record> events,
                    std::vector<step_change> steps, run_change change) {
    append_history op;
    op.run = run_id{parent};
    op.tenant = tenant_id{"t"};
    op.owner = node_id{"n1"};
    op.incarnation = inc;
    op.epoch = epoch;
    op.expected_seq = expected_seq;
    op.now_ms = now;
    op.events = std::move(events);
    op.steps = std::move(steps);
    op.change = std::move(change);
    op.quota.tenant = tenant_id{"t"};
    op.quota.period_start_ms = 0;
    op.quota.period_end_ms = 1'000'000;
    auto out = write(op);
    BOOST_REQUIRE_MESSAGE(out, (out ? "" : describe(out.error())));
    return *out;
  };
  // The attempt is scheduled (its ledger row started) and its child recorded.
  auto schedule = [&](int32_t attempt, int64_t seq, int64_t now) {
    run_change running;
    running.node_path = "c";
    append(seq, now,
           {history_record{seq, "step_scheduled", "c", attempt, R"({"child":{"queue":"q"}})", now},
            history_record{seq + 1, "child_started", "c", attempt, "{}", now}},
           {step_change{"c", attempt, step_status::started, "", "", 0}}, running);
  };
  auto wait_for_child = [&](int64_t expected_seq, int64_t now) {
    run_change wait;
    wait.status = run_status::waiting;
    wait.wait_reason = wait_reason::child;
    wait.node_path = "c";
    wait.wake_at_ms = std::numeric_limits<int64_t>::max();
    wait.release_lease = true;
    return append(expected_seq, now, {}, {}, wait);
  };
  schedule(1, 2, 1050);
  auto child = make_child(1, 1100);
  BOOST_TEST(child.created);
  // Asking again for the same attempt finds it.
  auto again = make_child(1, 1150);
  BOOST_TEST(!again.created);
  BOOST_TEST(again.run.id.value == child.run.id.value);
  BOOST_TEST(count("SELECT child_depth FROM runs WHERE run_id = " +
                   std::to_string(child.run.id.value)) == 1);
  // The child ends (canceled) before the parent asks to wait: the parent's
  // wait commit finds it, keeps the run RUNNING under its lease and appends
  // the child's end as the attempt's failure.
  BOOST_REQUIRE(write(cancel_run{tenant_id{"t"}, child.run.id, "gone", 1200}));
  auto kept = wait_for_child(4, 1300);
  BOOST_TEST(kept.kept);
  BOOST_REQUIRE_EQUAL(kept.inbox.size(), 1u);
  BOOST_TEST(kept.inbox[0].type == "step_failed");
  BOOST_TEST(kept.inbox[0].seq == 4);
  BOOST_TEST(kept.inbox[0].payload.find("\"canceled\"") != std::string::npos,
             kept.inbox[0].payload);
  BOOST_TEST(kept.next_seq == 5);
  BOOST_TEST(text("SELECT status FROM runs WHERE run_id = " + std::to_string(parent)) == "RUNNING");
  BOOST_TEST(text("SELECT lease_owner FROM runs WHERE run_id = " + std::to_string(parent)) == "n1");
  BOOST_TEST(text("SELECT status FROM run_steps WHERE run_id = " + std::to_string(parent) +
                  " AND step_path = 'c' AND attempt = 1") == "failed");
  // Attempt 2: the parent waits first; the child's end is appended to the
  // parent by the transaction that ends it, and the parent is due.
  schedule(2, 5, 1350);
  auto second = make_child(2, 1400);
  auto waiting = wait_for_child(7, 1500);
  BOOST_TEST(!waiting.kept);
  BOOST_TEST(text("SELECT status || ':' || wait_reason FROM runs WHERE run_id = " +
                  std::to_string(parent)) == "WAITING:child");
  BOOST_REQUIRE(write(cancel_run{tenant_id{"t"}, second.run.id, "stopped", 1600}));
  BOOST_TEST(count("SELECT next_seq FROM runs WHERE run_id = " + std::to_string(parent)) == 8);
  BOOST_TEST(count("SELECT wake_at_ms FROM runs WHERE run_id = " + std::to_string(parent)) == 1600);
  BOOST_TEST(text("SELECT event_type || ':' || node_path || ':' || attempt FROM run_events WHERE "
                  "run_id = " +
                  std::to_string(parent) + " AND seq = 7") == "step_failed:c:2");
  BOOST_TEST(text("SELECT status FROM run_steps WHERE run_id = " + std::to_string(parent) +
                  " AND step_path = 'c' AND attempt = 2") == "failed");
  // Canceling the parent cancels its unfinished children.
  auto third = make_child(3, 1700);
  BOOST_REQUIRE(write(cancel_run{tenant_id{"t"}, run_id{parent}, "bye", 1800}));
  BOOST_TEST(text("SELECT status FROM runs WHERE run_id = " + std::to_string(third.run.id.value)) ==
             "CANCELED");
  // Nesting deeper than the limit is refused.
  auto deep = testing::pending_run_op("t", 1900);
  deep.parent_run = third.run.id.value;
  deep.parent_node_path = "x";
  deep.parent_attempt = 1;
  deep.max_child_depth = 1;
  auto refused = write(deep);
  BOOST_REQUIRE(!refused);
  BOOST_TEST(describe(refused.error()).find("2 levels deep; the limit is 1") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
