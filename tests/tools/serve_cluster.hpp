#pragma once

// Real `flowgate serve` processes on one temporary database, for the crash
// and chaos tiers: each process is started here, bounded in time, and
// stopped by its pid; the invariants (and `flowgate check`) are verified
// at the end of each case.

#include "tests/persistence/test_store.hpp"

#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;

namespace flowgate::testing {

/// A child process, killed (SIGKILL) if still alive when destroyed.
class child {
public:
  child(const std::vector<std::string>& argv, const std::string& log) {
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    auto parent = getpid();
    pid_ = fork();
    BOOST_REQUIRE_MESSAGE(pid_ >= 0, "cannot fork for " << argv[0]);
    if (pid_ == 0) {
      // Only async-signal-safe calls until exec. The child dies with the
      // test process (a test killed by ctest's timeout leaks no node).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) {
        _exit(1);
      }
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
        _exit(126);
      }
      execve(args[0], args.data(), environ);
      _exit(127);
    }
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;
  ~child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }

  /// Sends `sig` to this process while it has not been reaped. Never a raw
  /// `kill(pid(), ...)`: once reaped, pid() is -1, and kill(-1, sig) as
  /// root signals every process on the machine (a SIGSTOP would freeze
  /// the database server and every other test's nodes).
  void signal(int sig) {
    if (pid_ > 0) {
      kill(pid_, sig);
    }
  }

  /// False once the process has exited (it is reaped then).
  bool running() {
    if (pid_ <= 0) {
      return false;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  /// Sends `sig`, waits up to `limit` for the exit; returns the exit code
  /// (-1 if it had to be killed or died by a signal).
  int stop(int sig, std::chrono::milliseconds limit) {
    BOOST_REQUIRE_MESSAGE(pid_ > 0, "stop(" << sig << ") of a process already reaped");
    kill(pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        if (WIFSIGNALED(status) && WTERMSIG(status) != sig) {
          std::cerr << "child ended by signal " << WTERMSIG(status) << "\n";
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(10ms);
    }
    if (sig != SIGKILL) {
      // Say where it hangs before killing it.
      std::string cmd = "grep -h State /proc/" + std::to_string(pid_) +
                        "/status 1>&2; timeout 30 gdb -p " + std::to_string(pid_) +
                        " -batch -ex 'thread apply all bt 12' 1>&2 2>/dev/null";
      std::cerr << "child " << pid_ << " did not stop within " << limit.count() << " ms\n";
      (void)std::system(cmd.c_str());
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return -1;
  }

private:
  pid_t pid_ = -1;
};

/// `s` quoted for a single-quoted shell word.
inline std::string shell_escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out;
}

/// Makes, in `dir`, with the openssl command: a cluster CA (ca.pem), a
/// certificate it signed for the nodes (node.pem, node.key) and one for
/// clients (client.pem, client.key), and a rogue CA with a client
/// certificate of its own (rogue.pem, rogue.key).
inline void make_certificates(const std::string& dir) {
  std::string sh =
    "cd '" + dir +
    "' && set -e && "
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
    "-subj /CN=flowgate-test-ca && "
    "for n in node client; do openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr "
    "-subj /CN=$n && openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
    "-out $n.pem -days 2; done && "
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue-ca.key -out rogue-ca.pem -days 2 "
    "-subj /CN=rogue && openssl req -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.csr "
    "-subj /CN=rogue && openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key "
    "-CAcreateserial -out rogue.pem -days 2";
  BOOST_REQUIRE(
    std::system(
      ("timeout 60 sh -c '" + shell_escaped(sh) + "' >'" + dir + "/openssl.log' 2>&1").c_str()) ==
    0);
}

struct cluster_fixture {
  flowgate::testing::temp_db db;
  /// The SQLite file (in `db.dir`, with the logs) or the PostgreSQL URL.
  std::string location = flowgate::testing::fresh_store_location(db);

  int flowgate(const std::string& args) {
    std::string cmd = "timeout 60 " FLOWGATE_BINARY " --db '" + location +
                      "' --synchronous normal " + args + " >>'" + (db.dir / "cli.log").string() +
                      "' 2>&1";
    int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  /// Starts `flowgate serve` (in the named network namespace `netns`, a
  /// "host", if not empty).
  std::unique_ptr<child> serve(const std::string& node, int64_t lease_ttl_ms,
                               const std::string& log_name = "", const std::string& netns = "",
                               const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv;
    if (!netns.empty()) {
      argv = {"/usr/sbin/ip", "netns", "exec", netns};
    }
    for (std::string a :
         {std::string{FLOWGATE_BINARY}, std::string{"--db"}, location, std::string{"--synchronous"},
          std::string{"normal"}, std::string{"serve"}, std::string{"--node-id"}, node,
          std::string{"--lease-ttl-ms"}, std::to_string(lease_ttl_ms), std::string{"--poll-ms"},
          std::string{"20"}, std::string{"--workers"}, std::string{"4"}, std::string{"--drain-ms"},
          std::string{"3000"}}) {
      argv.push_back(std::move(a));
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto log = db.dir / ((log_name.empty() ? node : log_name) + ".log");
    return std::make_unique<child>(argv, log.string());
  }

  std::string log_of(const std::string& name) {
    std::ifstream in{db.dir / (name + ".log")};
    return std::string{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  }

  /// The store is a PostgreSQL server (`location` is its URL).
  bool on_postgres() const { return location.rfind("postgres", 0) == 0; }

  /// The lines of `name`'s log at level warn or error: what a failed
  /// check prints to say why a node gave up a run.
  std::string warnings_of(const std::string& name) {
    std::istringstream in{log_of(name)};
    std::string out;
    for (std::string line; std::getline(in, line);) {
      if (line.find("\"warn\"") != std::string::npos ||
          line.find("\"error\"") != std::string::npos) {
        out += line + "\n";
      }
    }
    return out;
  }

  /// Waits (bounded) until `node` has a live registration of `incarnation`.
  bool registered(const std::string& node, int64_t incarnation) {
    return eventually(
      "SELECT count(*) FROM nodes WHERE node_id = '" + node +
        "' AND stopped_at_ms IS NULL AND incarnation = " + std::to_string(incarnation),
      1, 30s);
  }

  int64_t query(const std::string& sql) { return flowgate::testing::store_sql(location, sql); }

  /// Changes the store behind the nodes' back.
  void exec(const std::string& sql) { flowgate::testing::store_sql(location, sql); }

  /// The first column of every row.
  std::vector<int64_t> ids(const std::string& sql) {
    return flowgate::testing::store_ints(location, sql);
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

  /// Starts `n` runs; `total` runs are stored after it (default `n`).
  void start_runs(int n, int total = -1) {
    std::string cmd = "for i in $(seq 1 " + std::to_string(n) +
                      "); do timeout 60 " FLOWGATE_BINARY " --db '" + location +
                      "' --synchronous normal run start --tenant acme --queue q --input "
                      "\"{\\\"i\\\": $i}\" >/dev/null || exit 1; done";
    BOOST_REQUIRE(std::system(cmd.c_str()) == 0);
    BOOST_REQUIRE(query("SELECT count(*) FROM runs") == (total < 0 ? n : total));
  }

  /// The runs that have not completed, one line each, for a failure message.
  std::string unfinished_runs() {
    return flowgate::testing::store_text(
      location, "SELECT coalesce(" +
                  flowgate::testing::concat_sql(
                    "run_id || ' ' || tenant_id || ' ' || status || ' ' || "
                    "coalesce(wait_reason, '-') || ' ' || coalesce(node_path, '-') || "
                    "' owner=' || coalesce(lease_owner, '-') || ' wake=' || wake_at_ms || "
                    "' next_seq=' || next_seq || ' error=' || coalesce(error_type, '-') || ' ' "
                    "|| coalesce(error_message, '-')",
                    "\n", on_postgres()) +
                  ", '') FROM (SELECT * FROM runs WHERE status <> 'COMPLETED' ORDER BY run_id) r");
  }

  /// On PostgreSQL, every session of the test database (state, open
  /// transaction, wait, statement) and every lock not granted: what a
  /// failure message needs when the nodes stop making progress.
  std::string database_sessions() {
    if (!flowgate::pg::is_url(location)) {
      return "";
    }
    return flowgate::testing::store_text(
      location,
      "SELECT coalesce(string_agg(pid || ' ' || coalesce(state, '-') || ' xact=' || "
      "coalesce((extract(epoch FROM xact_start) * 1000)::bigint::text, '-') || ' wait=' || "
      "coalesce(wait_event_type || '/' || wait_event, '-') || ' blocked_by=' || "
      "coalesce(pg_blocking_pids(pid)::text, '-') || ' ' || left(coalesce(query, ''), 160), "
      "E'\\n'), '') FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
      "pg_backend_pid()");
  }

  /// Every thread's stack of a live process (gdb, bounded in time): where
  /// a node that stopped making progress waits.
  static std::string stacks_of(pid_t pid) {
    auto out = std::filesystem::temp_directory_path() /
               ("fg-stacks-" + std::to_string(getpid()) + "-" + std::to_string(pid));
    std::string cmd = "timeout 60 gdb -batch -p " + std::to_string(pid) +
                      " -ex 'thread apply all bt 30' > '" + out.string() + "' 2>&1";
    (void)std::system(cmd.c_str());
    std::ifstream in{out};
    std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    std::filesystem::remove(out);
    return text;
  }

  /// Waits (bounded) until `sql` returns `want`.
  /// A timeout says how long its slowest poll took: a poll of seconds
  /// means the database or this process stalled, not the nodes.
  bool eventually(const std::string& sql, int64_t want, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    std::chrono::steady_clock::duration slowest{};
    int64_t last = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      auto polled = std::chrono::steady_clock::now();
      last = query(sql);
      slowest = std::max(slowest, std::chrono::steady_clock::now() - polled);
      if (last == want) {
        return true;
      }
      std::this_thread::sleep_for(50ms);
    }
    BOOST_TEST_MESSAGE("timed out after "
                       << limit.count() << " s waiting for " << want << " (last " << last
                       << ", slowest poll "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count()
                       << " ms): " << sql);
    return false;
  }

  /// Runs whose steps were driven by more than one holder (node or lease
  /// epoch): a subquery of run ids.
  static constexpr const char* moved_runs =
    "SELECT run_id FROM run_steps GROUP BY run_id HAVING count(DISTINCT node_id) > 1 OR "
    "count(DISTINCT lease_epoch) > 1";

  /// The ledger rows `where` selects, a line each in start order: run,
  /// step#attempt, status, node, epoch, started and finished times.
  std::string attempts_text(const std::string& where) {
    return flowgate::testing::store_text(
      location, "SELECT coalesce(" +
                  flowgate::testing::concat_sql(
                    "s.run_id || ' ' || s.step_path || '#' || s.attempt || ' ' || s.status || "
                    "' ' || s.node_id || ' epoch ' || s.lease_epoch || ' ' || s.started_at_ms || "
                    "' ' || coalesce(s.finished_at_ms, 0)",
                    "\n", on_postgres()) +
                  ", '') FROM (SELECT * FROM run_steps " + where + " ORDER BY started_at_ms) s");
  }

  /// The invariants every history and ledger must keep.
  void check_invariants() {
    // Gap-free histories: 1..n and next_seq = n + 1.
    BOOST_TEST(query("SELECT count(*) FROM runs r WHERE next_seq - 1 != (SELECT count(*) FROM "
                     "run_events e WHERE e.run_id = r.run_id) OR next_seq - 1 != (SELECT "
                     "coalesce(max(seq), 0) FROM run_events e WHERE e.run_id = r.run_id)") == 0);
    // A completed step has exactly one completed attempt, and it is its last.
    BOOST_TEST(query("SELECT count(*) FROM (SELECT run_id, step_path FROM run_steps WHERE "
                     "status = 'completed' GROUP BY run_id, step_path HAVING count(*) > 1) AS x") ==
               0);
    BOOST_TEST(query("SELECT count(*) FROM run_steps s WHERE status = 'completed' AND attempt != "
                     "(SELECT max(attempt) FROM run_steps t WHERE t.run_id = s.run_id AND "
                     "t.step_path = s.step_path)") == 0);
    // Attempts are numbered 1..k without gaps; nothing is left 'started'.
    BOOST_TEST(query("SELECT count(*) FROM (SELECT run_id, step_path FROM run_steps GROUP BY "
                     "run_id, step_path HAVING max(attempt) != count(*)) AS x") == 0);
    BOOST_TEST(query("SELECT count(*) FROM run_steps WHERE status = 'started'") == 0);
    // The history and the ledger agree on activity completions (a wait's or
    // a timer's entry is a completed ledger row of its own, without one).
    BOOST_TEST(query("SELECT count(*) FROM run_events WHERE event_type = 'step_completed'") ==
               query("SELECT count(*) FROM run_steps s WHERE status = 'completed' AND EXISTS "
                     "(SELECT 1 FROM run_events e WHERE e.run_id = s.run_id AND e.event_type = "
                     "'step_scheduled' AND e.node_path = s.step_path AND e.attempt = s.attempt)"));
    // And so does the checker every operator has (it also checks usage
    // counters, limits from the attempt intervals, leases and waits).
    auto report = db.dir / "check.out";
    int code = std::system(("timeout 60 " FLOWGATE_BINARY " --db '" + location + "' check > '" +
                            report.string() + "' 2>&1")
                             .c_str());
    std::ifstream in{report};
    std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    BOOST_TEST((WIFEXITED(code) && WEXITSTATUS(code) == 0), text);
    BOOST_TEST(text.find(": clean") != std::string::npos, text);
    // A run whose steps were driven by more than one holder: its ledger.
    if (query("SELECT count(*) FROM (" + std::string{moved_runs} + ") AS x") > 0) {
      BOOST_TEST_MESSAGE(
        "runs driven by more than one holder, their attempts:\n"
        << attempts_text("WHERE run_id IN (" + std::string{moved_runs} + ")") << "\ntheir events:\n"
        << flowgate::testing::store_text(
             location, "SELECT coalesce(" +
                         flowgate::testing::concat_sql(
                           "e.run_id || ' ' || e.seq || ' ' || e.event_type || ' ' || "
                           "e.node_path || '#' || e.attempt || ' ' || e.created_at_ms",
                           "\n", on_postgres()) +
                         ", '') FROM (SELECT * FROM run_events WHERE run_id IN (" + moved_runs +
                         ") ORDER BY run_id, seq) e"));
    }
    if (text.find("over_limit") != std::string::npos) {
      // The attempts behind it, in start order: who stamped what, and when.
      BOOST_TEST_MESSAGE("attempts:\n" << attempts_text(""));
    }
  }
};

} // namespace flowgate::testing
