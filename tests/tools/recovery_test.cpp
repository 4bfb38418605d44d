// Crash tier: real `flowgate serve` processes on one database. A process
// killed with SIGKILL mid-run, two processes sharing the work, and a
// graceful stop. Every process is started here, bounded in time, and
// stopped by its pid.

#include "tests/persistence/temp_db.hpp"

#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;
using flowgate::testing::observer_connection;

namespace {

/// A child process, killed (SIGKILL) if still alive when destroyed.
class child {
public:
  child(const std::vector<std::string>& argv, const std::string& log) {
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    BOOST_REQUIRE_MESSAGE(rc == 0, "cannot spawn " << argv[0]);
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;
  ~child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  /// Sends `sig`, waits up to `limit` for the exit; returns the exit code
  /// (-1 if it had to be killed or died by a signal).
  int stop(int sig, std::chrono::milliseconds limit) {
    kill(pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(10ms);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return -1;
  }

private:
  pid_t pid_ = -1;
};

struct cluster_fixture {
  flowgate::testing::temp_db db;

  int flowgate(const std::string& args) {
    std::string cmd = "timeout 60 " FLOWGATE_BINARY " --db '" + db.path + "' --synchronous normal " +
                      args + " >>'" + (db.dir / "cli.log").string() + "' 2>&1";
    int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::unique_ptr<child> serve(const std::string& node, int64_t lease_ttl_ms) {
    return std::make_unique<child>(
      std::vector<std::string>{FLOWGATE_BINARY, "--db", db.path, "--synchronous", "normal",
                               "serve", "--node-id", node, "--lease-ttl-ms",
                               std::to_string(lease_ttl_ms), "--poll-ms", "20", "--workers", "4",
                               "--drain-ms", "3000"},
      (db.dir / (node + ".log")).string());
  }

  int64_t query(const std::string& sql) {
    return *observer_connection(db.path).query_int(sql);
  }

  /// Puts a tenant and a 3-step pipeline of sleeps that retries cut-off attempts.
  /// A `pro` tenant by default: 750 step attempts a month, more than any
  /// case here starts (`solo`'s 150 would pause runs on quota).
  void prepare(int64_t sleep_ms, const std::string& tenant_config = R"({"tier":"pro"})") {
    std::ofstream(db.dir / "t.json") << tenant_config;
    BOOST_REQUIRE(flowgate("tenant put acme '" + (db.dir / "t.json").string() + "'") == 0);
    std::ofstream(db.dir / "p.json")
      << R"({"name":"steps","root":{"sequence":[)"
      << R"({"id":"one","activity":"sleep","input":{"ms":)" << sleep_ms
      << R"(},"retry":{"max_attempts":5,"initial_interval_ms":10}},)"
      << R"({"id":"two","activity":"sleep","input":{"ms":)" << sleep_ms
      << R"(},"retry":{"max_attempts":5,"initial_interval_ms":10}},)"
      << R"({"id":"three","activity":"echo","input":{"$ref":"/input"},)"
      << R"("retry":{"max_attempts":5,"initial_interval_ms":10}}]}})";
    BOOST_REQUIRE(flowgate("config put --tenant acme --queue q --version 1 '" +
                           (db.dir / "p.json").string() + "'") == 0);
  }

  void start_runs(int n) {
    std::string cmd = "for i in $(seq 1 " + std::to_string(n) + "); do timeout 60 " FLOWGATE_BINARY
                      " --db '" + db.path +
                      "' --synchronous normal run start --tenant acme --queue q --input "
                      "\"{\\\"i\\\": $i}\" >/dev/null || exit 1; done";
    BOOST_REQUIRE(std::system(cmd.c_str()) == 0);
    BOOST_REQUIRE(query("SELECT count(*) FROM runs") == n);
  }

  /// Waits (bounded) until `sql` returns `want`.
  bool eventually(const std::string& sql, int64_t want, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (query(sql) == want) {
        return true;
      }
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  /// The invariants every history and ledger must keep.
  void check_invariants() {
    // Gap-free histories: 1..n and next_seq = n + 1.
    BOOST_TEST(query("SELECT count(*) FROM runs r WHERE next_seq - 1 != (SELECT count(*) FROM "
                     "run_events e WHERE e.run_id = r.run_id) OR next_seq - 1 != (SELECT "
                     "coalesce(max(seq), 0) FROM run_events e WHERE e.run_id = r.run_id)") == 0);
    // A completed step has exactly one completed attempt, and it is its last.
    BOOST_TEST(query("SELECT count(*) FROM (SELECT run_id, step_path FROM run_steps WHERE "
                     "status = 'completed' GROUP BY run_id, step_path HAVING count(*) > 1)") == 0);
    BOOST_TEST(query("SELECT count(*) FROM run_steps s WHERE status = 'completed' AND attempt != "
                     "(SELECT max(attempt) FROM run_steps t WHERE t.run_id = s.run_id AND "
                     "t.step_path = s.step_path)") == 0);
    // Attempts are numbered 1..k without gaps; nothing is left 'started'.
    BOOST_TEST(query("SELECT count(*) FROM (SELECT run_id, step_path FROM run_steps GROUP BY "
                     "run_id, step_path HAVING max(attempt) != count(*))") == 0);
    BOOST_TEST(query("SELECT count(*) FROM run_steps WHERE status = 'started'") == 0);
    // The history and the ledger agree on completions.
    BOOST_TEST(query("SELECT count(*) FROM run_events WHERE event_type = 'step_completed'") ==
               query("SELECT count(*) FROM run_steps WHERE status = 'completed'"));
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(recovery, cluster_fixture)

BOOST_AUTO_TEST_CASE(a_second_process_finishes_every_run_of_a_killed_one) {
  prepare(40);
  start_runs(40);
  {
    auto first = serve("first", 1500);
    // Kill it in the middle: some steps done, not all runs finished.
    BOOST_REQUIRE(eventually("SELECT count(*) >= 15 FROM run_steps WHERE status = 'completed'",
                             1, 30s));
    BOOST_TEST(first->stop(SIGKILL, 5s) == -1);
  }
  auto unfinished = query("SELECT count(*) FROM runs WHERE status != 'COMPLETED'");
  BOOST_TEST_MESSAGE("runs unfinished at the kill: " << unfinished);
  BOOST_TEST(unfinished > 0);
  auto second = serve("second", 1500);
  BOOST_TEST(eventually("SELECT count(*) FROM runs WHERE status = 'COMPLETED'", 40, 60s));
  BOOST_TEST(second->stop(SIGTERM, 10s) == 0);
  check_invariants();
  // Runs the first process held were taken over under a new epoch.
  BOOST_TEST(query("SELECT count(*) FROM run_steps WHERE node_id = 'second' AND lease_epoch >= 2") >
             0);
  // Cut-off attempts are recorded as such, never as completed.
  BOOST_TEST(query("SELECT count(*) FROM run_steps WHERE status = 'cut_off' AND node_id != "
                   "'first'") == 0);
  BOOST_TEST(query("SELECT count(*) FROM run_events WHERE event_type = 'step_cut_off'") ==
             query("SELECT count(*) FROM run_steps WHERE status = 'cut_off'"));
}

BOOST_AUTO_TEST_CASE(two_processes_share_runs_with_one_lease_holder_each) {
  prepare(50);
  start_runs(60);
  // Small batches and at most 8 runs per process: neither can take everything.
  setenv("FLOWGATE_CLAIM_BATCH", "3", 1);
  setenv("FLOWGATE_MAX_ACTIVE_RUNS", "8", 1);
  auto a = serve("a", 5000);
  auto b = serve("b", 5000);
  unsetenv("FLOWGATE_CLAIM_BATCH");
  unsetenv("FLOWGATE_MAX_ACTIVE_RUNS");
  BOOST_TEST(eventually("SELECT count(*) FROM runs WHERE status = 'COMPLETED'", 60, 60s));
  BOOST_TEST(a->stop(SIGTERM, 10s) == 0);
  BOOST_TEST(b->stop(SIGTERM, 10s) == 0);
  check_invariants();
  // No crash: every step ran exactly once, as attempt 1.
  BOOST_TEST(query("SELECT count(*) FROM run_steps") == 180);
  BOOST_TEST(query("SELECT count(*) FROM run_steps WHERE attempt = 1 AND status = 'completed'") ==
             180);
  // Each run was driven by one holder under one epoch.
  BOOST_TEST(query("SELECT count(*) FROM (SELECT run_id FROM run_steps GROUP BY run_id HAVING "
                   "count(DISTINCT node_id) > 1 OR count(DISTINCT lease_epoch) > 1)") == 0);
  // Both processes took part.
  BOOST_TEST(query("SELECT count(DISTINCT node_id) FROM run_steps") == 2);
}

BOOST_AUTO_TEST_CASE(sigterm_records_attempts_in_flight_and_releases_leases) {
  prepare(300);
  start_runs(6);
  auto node = serve("stopping", 30000);
  BOOST_REQUIRE(eventually("SELECT count(*) >= 1 FROM run_steps", 1, 30s));
  BOOST_TEST(node->stop(SIGTERM, 10s) == 0);
  BOOST_TEST(query("SELECT count(*) FROM runs WHERE lease_owner IS NOT NULL") == 0);
  BOOST_TEST(query("SELECT count(*) FROM run_steps WHERE status = 'started'") == 0);
  // Handed back, not lost: another process finishes them without waiting for a TTL.
  auto next = serve("next", 30000);
  BOOST_TEST(eventually("SELECT count(*) FROM runs WHERE status = 'COMPLETED'", 6, 60s));
  BOOST_TEST(next->stop(SIGTERM, 10s) == 0);
  check_invariants();
  BOOST_TEST(query("SELECT count(*) FROM run_steps WHERE status = 'cut_off'") == 0);
}

BOOST_AUTO_TEST_CASE(two_processes_never_exceed_a_tenant_limit_together) {
  prepare(30, R"({"max_concurrent_runs": 2})");
  start_runs(30);
  auto a = serve("a", 5000);
  auto b = serve("b", 5000);
  BOOST_TEST(eventually("SELECT count(*) FROM runs WHERE status = 'COMPLETED'", 30, 60s));
  BOOST_TEST(a->stop(SIGTERM, 10s) == 0);
  BOOST_TEST(b->stop(SIGTERM, 10s) == 0);
  check_invariants();
  // No three runs of the tenant were ever running at once (run spans, ms).
  BOOST_TEST(query("SELECT count(*) FROM runs a JOIN runs b ON a.run_id < b.run_id JOIN runs c "
                   "ON b.run_id < c.run_id WHERE max(a.started_at_ms, b.started_at_ms, "
                   "c.started_at_ms) < min(a.finished_at_ms, b.finished_at_ms, "
                   "c.finished_at_ms)") == 0);
}

BOOST_AUTO_TEST_CASE(two_processes_reserve_exactly_the_step_quota_together) {
  prepare(30);
  // 20 runs of 3 steps against a limit of 25 step attempts this month.
  auto month = [] {
    auto now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char start[64];
    char end[64];
    std::snprintf(start, sizeof start, "%04d-%02d-01T00:00:00Z", tm.tm_year + 1900, tm.tm_mon + 1);
    int y = tm.tm_mon == 11 ? tm.tm_year + 1901 : tm.tm_year + 1900;
    int m = tm.tm_mon == 11 ? 1 : tm.tm_mon + 2;
    std::snprintf(end, sizeof end, "%04d-%02d-01T00:00:00Z", y, m);
    return std::make_pair(std::string{start}, std::string{end});
  }();
  auto subscription = [&](const std::string& limit) {
    std::ofstream(db.dir / "s.json")
      << R"({"id":"sub_1","status":"active","current_period_start":")" << month.first
      << R"(","current_period_end":")" << month.second
      << R"(","price_metadata":{"workflow_step_limit":")" << limit << R"("}})";
    return flowgate("subscription set --tenant acme '" + (db.dir / "s.json").string() + "'");
  };
  BOOST_REQUIRE(subscription("25") == 0);
  start_runs(20);
  // Short terms cache so that the subscription change below reaches both
  // processes quickly; no periodic scan (the CLI scans); small claims so
  // that both processes take runs.
  setenv("FLOWGATE_QUOTA_TERMS_TTL_MS", "100", 1);
  setenv("FLOWGATE_QUOTA_SCAN_MS", "0", 1);
  setenv("FLOWGATE_CLAIM_BATCH", "2", 1);
  setenv("FLOWGATE_MAX_ACTIVE_RUNS", "4", 1);
  auto a = serve("a", 5000);
  auto b = serve("b", 5000);
  for (const char* v : {"FLOWGATE_QUOTA_TERMS_TTL_MS", "FLOWGATE_QUOTA_SCAN_MS",
                        "FLOWGATE_CLAIM_BATCH", "FLOWGATE_MAX_ACTIVE_RUNS"}) {
    unsetenv(v);
  }
  BOOST_REQUIRE(eventually("SELECT count(*) FROM runs WHERE status = 'COMPLETED' OR wait_reason "
                           "= 'quota'", 20, 60s));
  BOOST_TEST(query("SELECT used_count FROM usage_periods") == 25);
  BOOST_TEST(query("SELECT count(*) FROM run_steps") == 25);
  BOOST_TEST(query("SELECT count(*) FROM run_steps WHERE status != 'completed'") == 0);
  // Both processes reserved some of them.
  BOOST_TEST(query("SELECT count(DISTINCT node_id) FROM run_steps") == 2);
  auto paused = query("SELECT min(run_id) FROM runs WHERE wait_reason = 'quota'");
  BOOST_REQUIRE(paused > 0);
  // A manual resume without quota: exit 1 and the structured answer.
  auto answer = (db.dir / "resume.json").string();
  std::string cmd = "timeout 60 " FLOWGATE_BINARY " --db '" + db.path + "' run resume " +
                    std::to_string(paused) + " --tenant acme --json >'" + answer + "' 2>/dev/null";
  int status = std::system(cmd.c_str());
  BOOST_TEST(WEXITSTATUS(status) == 1);
  std::ifstream in{answer};
  std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  BOOST_TEST(text.find(R"("error":"quota_exhausted")") != std::string::npos, text);
  BOOST_TEST(text.find(R"("used":25)") != std::string::npos, text);
  BOOST_TEST(text.find(R"("limit":25)") != std::string::npos, text);
  BOOST_TEST(text.find(month.first) != std::string::npos, text);
  BOOST_TEST(flowgate("quota reconcile --tenant acme") == 0);
  // Unlimited now: one scan resumes every paused run and both finish them.
  BOOST_REQUIRE(subscription("unlimited") == 0);
  std::this_thread::sleep_for(300ms);
  BOOST_TEST(flowgate("quota scan") == 0);
  BOOST_TEST(eventually("SELECT count(*) FROM runs WHERE status = 'COMPLETED'", 20, 60s));
  BOOST_TEST(a->stop(SIGTERM, 10s) == 0);
  BOOST_TEST(b->stop(SIGTERM, 10s) == 0);
  check_invariants();
  BOOST_TEST(query("SELECT used_count FROM usage_periods") == 60);
  BOOST_TEST(query("SELECT count(*) FROM run_steps") == 60);
  BOOST_TEST(flowgate("quota reconcile --tenant acme") == 0);
  // A tampered counter shows as drift (exit 1).
  BOOST_REQUIRE(!observer_connection(db.path).exec("UPDATE usage_periods SET used_count = 61"));
  BOOST_TEST(flowgate("quota reconcile --tenant acme") == 1);
}

BOOST_AUTO_TEST_SUITE_END()
