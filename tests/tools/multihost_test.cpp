// Several hosts, really: network namespaces as hosts, each with its own
// address on a bridge this test creates; PostgreSQL runs in one, a `flowgate
// serve` node in each of two others, and they reach the server only over
// the bridge. One host is removed (every process in its namespace killed);
// the runs it held must continue on the other within 2 x the lease TTL, and
// `flowgate check` must be clean. Another host is partitioned away (its
// link taken down) and healed: fencing holds, its runs continue on the other
// host, and it serves again once healed. The nodes listen (TLS) on their
// hosts' addresses, so they own the limited tenants between them: a
// removed or partitioned host's tenants move to the other host, and a
// healed host's come back. Everything made here is removed.
// Where namespaces cannot be made (not root, no `ip`), a case says so and
// skips. The takeover times are printed (figures, not assertions: tests
// never assert on wall time).

#include "tests/tools/pg_server.hpp"
#include "tests/tools/serve_cluster.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace flowgate::testing;

namespace {

int sh(const std::string& cmd) {
  int status = std::system(("timeout 30 sh -c '" + cmd + "' >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Hosts on a bridge: `ip netns` namespaces named PREFIX-NAME with address
/// SUBNET.(i+1)/24; this process's namespace is SUBNET.254 on the bridge.
class hosts {
public:
  explicit hosts(const std::vector<std::string>& names) {
    auto id = std::to_string(getpid() % 100000);
    prefix_ = "fg" + id;
    bridge_ = "fgbr" + id;
    subnet_ = "10.213." + std::to_string(getpid() % 250);
    if (geteuid() != 0) {
      why_ = "not root: network namespaces need CAP_SYS_ADMIN";
      return;
    }
    if (sh("command -v ip") != 0) {
      why_ = "no 'ip' command (iproute2)";
      return;
    }
    if (sh("ip link add " + bridge_ + " type bridge && ip addr add " + subnet_ + ".254/24 dev " +
           bridge_ + " && ip link set " + bridge_ + " up") != 0) {
      why_ = "cannot create a bridge";
      return;
    }
    made_bridge_ = true;
    for (size_t i = 0; i < names.size(); ++i) {
      auto ns = prefix_ + "-" + names[i];
      auto veth = "fgv" + id + "x" + std::to_string(i);
      auto peer = "fgp" + id + "x" + std::to_string(i);
      auto addr = subnet_ + "." + std::to_string(i + 1);
      if (sh("ip netns add " + ns) != 0) {
        why_ = "cannot create network namespace " + ns;
        return;
      }
      namespaces_.push_back(ns);
      if (sh("ip link add " + veth + " type veth peer name " + peer + " && ip link set " + peer +
             " netns " + ns + " && ip link set " + veth + " master " + bridge_ +
             " up && ip netns " + "exec " + ns + " ip addr add " + addr + "/24 dev " + peer +
             " && ip netns exec " + ns + " ip link set " + peer + " up && ip netns exec " + ns +
             " ip link set lo up") != 0) {
        why_ = "cannot link namespace " + ns + " to the bridge";
        return;
      }
      addresses_.push_back(addr);
      veths_.push_back(veth);
    }
    ok_ = true;
  }

  hosts(const hosts&) = delete;
  hosts& operator=(const hosts&) = delete;

  ~hosts() {
    for (const auto& ns : namespaces_) {
      kill_all(ns);
      (void)sh("ip netns del " + ns); // its veth end goes with it, and the peer
    }
    if (made_bridge_) {
      (void)sh("ip link del " + bridge_);
    }
  }

  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }
  std::string netns(size_t i) const { return namespaces_[i]; }
  std::string address(size_t i) const { return addresses_[i]; }
  std::string network() const { return subnet_ + ".0/24"; }

  /// Partitions host `i` away: its link to the bridge goes down (its
  /// processes live on, their packets go nowhere).
  bool cut(size_t i) const { return sh("ip link set " + veths_[i] + " down") == 0; }

  /// Heals the partition of host `i`.
  bool heal(size_t i) const { return sh("ip link set " + veths_[i] + " up") == 0; }

  /// Removes a host: SIGKILL to every process in its namespace.
  static void kill_all(const std::string& ns) {
    (void)sh("for p in $(ip netns pids " + ns + "); do kill -9 $p; done");
  }

private:
  std::string prefix_;
  std::string bridge_;
  std::string subnet_;
  std::vector<std::string> namespaces_;
  std::vector<std::string> addresses_;
  std::vector<std::string> veths_;
  bool made_bridge_ = false;
  bool ok_ = false;
  std::string why_;
};

} // namespace

/// PostgreSQL in host "db", nodes a and b in hosts "a" and "b" (lease TTL
/// 2 s, listening on their hosts' addresses), 20 runs of two 300 ms steps
/// of an unlimited tenant (a serves alone until it holds some of them,
/// then b joins), and eight limited tenants without runs, which the nodes
/// come to own between them.
struct multihost_fixture : cluster_fixture {
  static constexpr int64_t ttl_ms = 2000;
  // Declared in this order: the nodes stop before the server, the server
  // before its host.
  std::unique_ptr<hosts> net;
  std::unique_ptr<pg_test_server> pg;
  std::unique_ptr<child> a;
  std::unique_ptr<child> b;
  /// The runs a held (comma-separated) and how many.
  std::string held;
  int64_t held_count = 0;
  /// Limited tenants (no runs): owned by the nodes between them.
  std::vector<std::string> limited = {"lim0", "lim1", "lim2", "lim3",
                                      "lim4", "lim5", "lim6", "lim7"};
  /// Waits (up to 30 s) until every limited tenant is owned and both nodes
  /// own some (rendezvous over these names splits them); prints how long
  /// that took after `since`.
  bool split(std::chrono::steady_clock::time_point since, const char* what) {
    auto ok = eventually("SELECT count(*) FROM tenant_owners WHERE expires_at_ms > 0 AND "
                         "tenant_id LIKE 'lim%'",
                         static_cast<int64_t>(limited.size()), 30s) &&
              eventually("SELECT count(DISTINCT owner) FROM tenant_owners WHERE expires_at_ms > 0 "
                         "AND tenant_id LIKE 'lim%'",
                         2, 30s);
    std::cerr << "multihost: " << what << " after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - since)
                   .count()
              << " ms (lease ttl " << ttl_ms << " ms): a owns " << owned_by("a") << ", b owns "
              << owned_by("b") << "\n";
    return ok;
  }

  multihost_fixture() {
    std::ofstream(db.dir / "limited.json") << R"({"tier":"pro","max_concurrent_runs":2})";
  }

  /// The limited tenants `node` owns now (live leases), comma-separated.
  std::string owned_by(const std::string& node) {
    return flowgate::testing::store_text(
      location, "SELECT coalesce(string_agg(tenant_id, ',' ORDER BY tenant_id), '') FROM "
                "tenant_owners WHERE owner = '" +
                  node +
                  "' AND tenant_id LIKE 'lim%' AND expires_at_ms > "
                  "(extract(epoch from clock_timestamp()) * 1000)::bigint");
  }

  /// Waits (up to 30 s) until `node` owns exactly `want`; prints how long
  /// that took after `since` (a figure, not a check).
  bool owns(const std::string& node, const std::string& want,
            std::chrono::steady_clock::time_point since, const char* what) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    auto now = owned_by(node);
    while (now != want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
      now = owned_by(node);
    }
    std::cerr << "multihost: " << what << " after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - since)
                   .count()
              << " ms (lease ttl " << ttl_ms << " ms): " << node << " owns " << now << "\n";
    return now == want;
  }

  /// False (and says why) where namespaces cannot be made: skip the case.
  bool start_two_nodes() {
    net = std::make_unique<hosts>(std::vector<std::string>{"db", "a", "b"});
    if (!net->ok()) {
      std::cerr << "multihost: SKIPPED: " << net->why() << "\n";
      BOOST_TEST_MESSAGE("SKIPPED: " << net->why());
      return false;
    }
    pg = std::make_unique<pg_test_server>(
      pg_server_options{net->netns(0), net->address(0), net->network()});
    // The database is reached over the bridge, by the nodes and by this test.
    location = pg->fresh_database();
    prepare(300, R"({"tier":"pro","max_concurrent_runs":0})");
    for (const auto& t : limited) {
      BOOST_REQUIRE(flowgate("tenant put " + t + " '" + (db.dir / "limited.json").string() + "'") ==
                    0);
    }
    start_runs(20);
    make_certificates(db.dir.string());
    auto tls = [&](size_t host) {
      auto d = db.dir.string();
      return std::vector<std::string>{
        "--listen",  net->address(host) + ":0", "--tls-cert", d + "/node.pem",
        "--tls-key", d + "/node.key",           "--tls-ca",   d + "/ca.pem"};
    };
    // a first, until it holds runs; then b (started together, on a busy
    // machine one node could take every run before the other served).
    a = serve("a", ttl_ms, "", net->netns(1), tls(1));
    BOOST_REQUIRE_MESSAGE(eventually("SELECT count(*) > 0 FROM runs WHERE lease_owner = 'a' AND "
                                     "status = 'RUNNING'",
                                     1, 30s),
                          "node a never held a run:\n"
                            << log_of("a"));
    b = serve("b", ttl_ms, "", net->netns(2), tls(2));
    BOOST_REQUIRE(eventually("SELECT count(*) FROM nodes WHERE stopped_at_ms IS NULL", 2, 30s));
    for (auto id : ids("SELECT run_id FROM runs WHERE lease_owner = 'a' AND status = 'RUNNING'")) {
      held += (held.empty() ? "" : ",") + std::to_string(id);
      held_count += 1;
    }
    return true;
  }

  /// Waits (up to 30 s) until b holds or has finished every run a held;
  /// prints how long that took after `since` (a figure, not a check).
  bool taken_over_by_b(std::chrono::steady_clock::time_point since, const char* what) {
    auto continued =
      eventually("SELECT count(*) FROM runs WHERE run_id IN (" + held +
                   ") AND (lease_owner = 'b' OR status IN ('COMPLETED', 'FAILED', 'CANCELED'))",
                 held_count, 30s);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - since)
                  .count();
    std::cerr << "multihost: " << what << ": its " << held_count << " runs taken over after "
              << took << " ms (lease ttl " << ttl_ms << " ms)\n";
    return continued;
  }
};

BOOST_FIXTURE_TEST_SUITE(multihost, multihost_fixture)

BOOST_AUTO_TEST_CASE(a_removed_hosts_runs_continue_on_another_host_within_two_ttls) {
  if (!start_two_nodes()) {
    return;
  }
  auto all = owned_by("a") + "," + owned_by("b");
  auto removed_at = std::chrono::steady_clock::now();
  hosts::kill_all(net->netns(1));
  BOOST_REQUIRE(taken_over_by_b(removed_at, "a removed host"));
  // Its tenants too: b owns them all (sorted, as owned_by lists them).
  std::vector<std::string> sorted = limited;
  std::string every;
  for (const auto& t : sorted) {
    every += (every.empty() ? "" : ",") + t;
  }
  BOOST_TEST(owns("b", every, removed_at, "a removed host's tenants re-homed"), all);
  BOOST_TEST(eventually("SELECT count(*) FROM runs WHERE status = 'COMPLETED'", 20, 60s));
  BOOST_TEST(b->stop(SIGTERM, 10s) == 0);
  check_invariants();
  // The removed node's attempts that were cut off by its death were re-run by b.
  BOOST_TEST(query("SELECT count(*) FROM run_steps WHERE node_id = 'b'") > 0);
}

BOOST_AUTO_TEST_CASE(a_partitioned_host_is_fenced_its_runs_continue_and_it_serves_when_healed) {
  if (!start_two_nodes()) {
    return;
  }
  // a lives on but cannot reach the database: b takes its runs once their
  // leases expire, and its tenants once their ownership expires.
  std::string every;
  for (const auto& t : limited) {
    every += (every.empty() ? "" : ",") + t;
  }
  auto cut_at = std::chrono::steady_clock::now();
  BOOST_REQUIRE(net->cut(1));
  BOOST_REQUIRE_MESSAGE(taken_over_by_b(cut_at, "a partitioned host"), log_of("b"));
  BOOST_TEST(owns("b", every, cut_at, "a partitioned host's tenants re-homed"));
  BOOST_TEST(eventually("SELECT count(*) FROM runs WHERE status = 'COMPLETED'", 20, 60s),
             unfinished_runs());
  // Healed: a's statements that waited in the partition reach the server
  // now, and its writes under the leases it lost are refused.
  BOOST_REQUIRE(net->heal(1));
  auto healed_at = std::chrono::steady_clock::now();
  // Its tenants come back to it (a is live again and their owner by
  // rendezvous: b gives them up at a renewal, a takes them at its next).
  BOOST_TEST(split(healed_at, "a healed host's tenants back"), warnings_of("a"));
  // b stops; a, still the same process and registration, serves the next runs.
  BOOST_TEST(b->stop(SIGTERM, 10s) == 0);
  start_runs(5, 25);
  BOOST_TEST(eventually("SELECT count(*) FROM runs WHERE status = 'COMPLETED'", 25, 60s),
             unfinished_runs() << log_of("a"));
  std::cerr << "multihost: the healed host finished 5 new runs "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - healed_at)
                 .count()
            << " ms after the heal\n";
  BOOST_TEST(query("SELECT count(*) FROM run_steps WHERE node_id = 'a' AND run_id > 20") > 0);
  BOOST_TEST_MESSAGE("what a said:\n" << warnings_of("a"));
  BOOST_TEST(a->stop(SIGTERM, 10s) == 0);
  check_invariants();
  // The runs a held were finished by b: fenced, a completed none of their
  // steps after the cut (a step's completion counts once, checked above).
  BOOST_TEST(
    query("SELECT count(*) FROM run_steps WHERE run_id IN (" + held + ") AND node_id = 'b'") > 0);
}

BOOST_AUTO_TEST_SUITE_END()
