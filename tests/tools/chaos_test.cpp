// Chaos tier: three `flowgate serve` processes on one database while runs
// with retries, a concurrent for_each, parallel branches, a wait with
// signals and a final step progress
// over tenants at their concurrency limits and one tenant that runs out of
// step quota. For a fixed stretch of time a seeded random sequence SIGKILLs
// nodes (restarted at once under the same id) and SIGSTOPs them for up to
// twice the lease TTL (then SIGCONT). Afterwards every run is COMPLETED or
// paused on quota, nothing ran twice, and `flowgate check` is clean.

#include "tests/tools/serve_cluster.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <random>

using namespace std::chrono_literals;
using flowgate::testing::child;
using flowgate::testing::cluster_fixture;

namespace {

constexpr int64_t lease_ttl = 1500;

struct chaos_fixture : cluster_fixture {
  std::map<std::string, std::unique_ptr<child>> nodes;
  std::map<std::string, bool> stalled;

  /// Starts node `id` and waits (bounded) until it has registered: a
  /// process signalled before its start-up blocked SIGTERM would just die.
  /// On PostgreSQL a stopped node keeps the row locks of its open
  /// transaction (README "Known limits"), and a restart can wait behind
  /// them past its retries and exit with `store_busy`, as a supervisor would
  /// see it: then the stopped nodes are resumed, as the schedule would have
  /// done, and the node is started again (at most 3 times, 30 s each).
  void start(const std::string& id) {
    stalled[id] = false;
    for (int attempt = 0; attempt < 3; ++attempt) {
      nodes[id] = serve(id, lease_ttl);
      auto deadline = std::chrono::steady_clock::now() + 30s;
      while (std::chrono::steady_clock::now() < deadline && nodes[id]->running()) {
        if (query("SELECT count(*) FROM nodes WHERE node_id = '" + id + "' AND pid = " +
                  std::to_string(nodes[id]->pid()) + " AND stopped_at_ms IS NULL") == 1) {
          return;
        }
        std::this_thread::sleep_for(50ms);
      }
      for (auto& [other, is_stalled] : stalled) {
        if (is_stalled) {
          BOOST_TEST_MESSAGE("restart of " << id << " waits: resuming stopped node " << other);
          nodes[other]->signal(SIGCONT);
          is_stalled = false;
        }
      }
      BOOST_TEST_MESSAGE("node " << id << " did not register (attempt " << attempt + 1
                                 << "); its log:\n"
                                 << log_of(id));
    }
    BOOST_FAIL("node " << id << " did not register in 3 attempts");
  }

  void put_tenant(const std::string& id, const std::string& config) {
    std::ofstream(db.dir / "t.json") << config;
    BOOST_REQUIRE(flowgate("tenant put " + id + " '" + (db.dir / "t.json").string() + "'") == 0);
    BOOST_REQUIRE(flowgate("config put --tenant " + id + " --queue q --version 1 '" +
                           (db.dir / "chaos.json").string() + "'") == 0);
  }

  void start_runs(const std::string& tenant, int n) {
    std::string cmd = "for i in $(seq 1 " + std::to_string(n) +
                      "); do timeout 60 " FLOWGATE_BINARY " --db '" + location +
                      "' --synchronous normal run start --tenant " + tenant +
                      " --queue q --input \"{\\\"i\\\": $i, \\\"items\\\": [1, 2, 3]}\" "
                      ">/dev/null || exit 1; done";
    BOOST_REQUIRE(std::system(cmd.c_str()) == 0);
  }

  /// Signals (at most 5) runs waiting for "go".
  void signal_waiting() {
    for (auto id : ids("SELECT run_id FROM runs WHERE status = 'WAITING' AND wait_reason = "
                       "'event' ORDER BY run_id LIMIT 5")) {
      // A run may finish meanwhile (timeout): then the signal is refused.
      (void)flowgate("run signal " + std::to_string(id) +
                     " --all-tenants --event go --payload '{\"ok\": true}'");
    }
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(chaos, chaos_fixture)

BOOST_AUTO_TEST_CASE(random_kills_and_stalls_lose_nothing_and_count_nothing_twice) {
  std::ofstream(db.dir / "chaos.json")
    << R"({"name":"chaos","root":{"sequence":[)"
    << R"({"id":"one","activity":"sleep","input":{"ms":40},)"
    << R"("retry":{"max_attempts":30,"initial_interval_ms":10}},)"
    << R"({"id":"items","for_each":{"$ref":"/input/items"},"concurrency":2,)"
    << R"("do":{"id":"each","activity":"sleep","input":{"ms":10},)"
    << R"("retry":{"max_attempts":30,"initial_interval_ms":10}}},)"
    << R"({"id":"both","parallel":[{"id":"pa","activity":"sleep","input":{"ms":20},)"
    << R"("retry":{"max_attempts":30,"initial_interval_ms":10}},)"
    << R"({"id":"pb","activity":"echo","input":{"$ref":"/steps/items/output"},)"
    << R"("retry":{"max_attempts":30,"initial_interval_ms":10}}]},)"
    << R"({"id":"w","wait":{"event":"go","timeout_ms":1500,"on_timeout":"continue"}},)"
    << R"({"id":"last","activity":"echo","input":{"$ref":"/input"},)"
    << R"("retry":{"max_attempts":30,"initial_interval_ms":10}}]}})";
  // Two tenants at 2 concurrent runs; one with the solo tier's 150 step
  // attempts a month and more runs than that covers.
  put_tenant("la", R"({"tier":"pro","max_concurrent_runs":2})");
  put_tenant("lb", R"({"tier":"pro","max_concurrent_runs":2})");
  put_tenant("quota", R"({"tier":"solo","max_concurrent_runs":3})");
  start_runs("la", 15);
  start_runs("lb", 15);
  start_runs("quota", 30);
  BOOST_REQUIRE(query("SELECT count(*) FROM runs") == 60);
  for (const auto* id : {"a", "b", "c"}) {
    start(id);
  }
  std::mt19937 gen{20261201};
  BOOST_TEST_MESSAGE("chaos seed 20261201");
  int kills = 0;
  int stalls = 0;
  auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds{500 + gen() % 1500});
    signal_waiting();
    auto victim = std::string{"abc"[gen() % 3]};
    if (stalled[victim]) {
      nodes[victim]->signal(SIGCONT);
      stalled[victim] = false;
      continue;
    }
    if (gen() % 2 == 0) {
      BOOST_TEST(nodes[victim]->stop(SIGKILL, 5s) == -1);
      start(victim); // the same id: its dead registration is replaced at once
      ++kills;
    } else {
      nodes[victim]->signal(SIGSTOP);
      stalled[victim] = true;
      ++stalls;
    }
  }
  for (auto& [id, is_stalled] : stalled) {
    if (is_stalled) {
      nodes[id]->signal(SIGCONT);
      is_stalled = false;
    }
  }
  BOOST_TEST_MESSAGE("chaos: " << kills << " kills, " << stalls << " stalls");
  // Every run ends: completed, or paused on quota.
  auto settled = "SELECT count(*) FROM runs WHERE status = 'COMPLETED' OR (status = 'WAITING' "
                 "AND wait_reason = 'quota')";
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (query(settled) != 60 && std::chrono::steady_clock::now() < deadline) {
    signal_waiting();
    std::this_thread::sleep_for(200ms);
  }
  BOOST_TEST(query(settled) == 60);
  for (auto& [id, node] : nodes) {
    auto code = node->stop(SIGTERM, 15s);
    BOOST_TEST(code == 0, "node " << id << " exited " << code << "; its log:\n" << log_of(id));
  }
  BOOST_TEST(query("SELECT count(*) FROM runs WHERE tenant_id IN ('la', 'lb') AND status = "
                   "'COMPLETED'") == 30);
  // The quota tenant used at most its 150 attempts, and some of its runs
  // paused on the quota.
  BOOST_TEST(query("SELECT count(*) FROM run_steps WHERE tenant_id = 'quota'") <= 150);
  BOOST_TEST(query("SELECT count(*) FROM runs WHERE tenant_id = 'quota' AND status = 'WAITING' "
                   "AND wait_reason = 'quota'") > 0);
  // Gap-free histories, one completed attempt per step, nothing left
  // started, and `flowgate check` clean (counters, limits, leases, waits).
  check_invariants();
}

BOOST_AUTO_TEST_SUITE_END()
