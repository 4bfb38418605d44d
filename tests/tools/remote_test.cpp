// Remote clients over TLS (README "Cluster"): three `flowgate serve` nodes
// publish their doors on 127.0.0.1 (`--listen`, certificates from a CA made
// here with the openssl command), and `flowgate --connect` runs commands
// through them with API keys, without the database.

#include "actors/client.hpp"
#include "actors/node.hpp"
#include "messages/registration.hpp"
#include "tests/printing.hpp"
#include "tests/tools/serve_cluster.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>

using flowgate::testing::child;
using flowgate::testing::cluster_fixture;
using namespace std::chrono_literals;

namespace {

struct remote_fixture : cluster_fixture {
  std::string dir = db.dir.string();
  std::map<std::string, std::unique_ptr<child>> nodes;
  std::map<std::string, std::string> address;
  /// The nodes' lease TTL (their registrations expire after it).
  int64_t lease_ttl_ms = 5000;

  remote_fixture() {
    flowgate::testing::make_certificates(dir);
    prepare(10);
    std::ofstream(db.dir / "other.json") << R"({"tier":"pro"})";
    BOOST_REQUIRE(flowgate("tenant put other '" + dir + "/other.json'") == 0);
    BOOST_REQUIRE(
      flowgate("config put --tenant other --queue q --version 1 '" + dir + "/p.json'") == 0);
  }

  std::vector<std::string> tls(const std::string& who) const {
    return {"--tls-cert", dir + "/" + who + ".pem", "--tls-key", dir + "/" + who + ".key",
            "--tls-ca",   dir + "/ca.pem"};
  }

  void start(const std::string& id, const std::vector<std::string>& more = {}) {
    auto extra = tls("node");
    extra.insert(extra.begin(), {"--listen", "127.0.0.1:0"});
    extra.insert(extra.end(), more.begin(), more.end());
    nodes[id] = serve(id, lease_ttl_ms, "", "", extra);
    BOOST_REQUIRE(registered(id, 1));
    auto listed = "SELECT count(*) FROM nodes WHERE node_id = '" + id + "' AND address <> ''";
    BOOST_REQUIRE_MESSAGE(eventually(listed, 1, 5s), log_of(id));
    address[id] = flowgate::testing::store_text(
      location, "SELECT address FROM nodes WHERE node_id = '" + id + "'");
  }

  /// Runs `flowgate ARGS` without the database; returns (exit code, output).
  std::pair<int, std::string> run(const std::string& args) {
    auto out = db.dir / "remote.out";
    std::string cmd =
      "env -u FLOWGATE_DB timeout 60 " FLOWGATE_BINARY " " + args + " >'" + out.string() + "' 2>&1";
    int status = std::system(cmd.c_str());
    std::ifstream in{out};
    std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
  }

  /// Through node `id` with `key` and the client certificate.
  std::pair<int, std::string> via(const std::string& id, const std::string& key,
                                  const std::string& args) {
    std::string flags;
    for (const auto& f : tls("client")) {
      flags += "'" + f + "' ";
    }
    return run("--connect " + address[id] + " --key '" + key + "' " + flags + args);
  }

  /// A new key, made on the database host; returns the key.
  std::string make_key(const std::string& who) {
    auto out = db.dir / "key.json";
    std::string cmd = "timeout 60 " FLOWGATE_BINARY " --db '" + location + "' --json key create " +
                      who + " >'" + out.string() + "'";
    BOOST_REQUIRE(std::system(cmd.c_str()) == 0);
    std::ifstream in{out};
    std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    return std::string{boost::json::parse(text).as_object().at("key").as_string()};
  }

  /// Every row that remote requests could change.
  std::string fingerprint() {
    return flowgate::testing::store_text(
      location,
      "SELECT (SELECT count(*) FROM runs) || '/' || (SELECT count(*) FROM run_events) || '/' || "
      "(SELECT count(*) FROM tenants) || '/' || (SELECT coalesce(max(updated_at_ms), 0) FROM "
      "tenants) || '/' || (SELECT count(*) FROM pipeline_configs) || '/' || (SELECT count(*) "
      "FROM api_keys WHERE revoked_at_ms = 0)");
  }

  /// `cluster status` through `id`: each node's link as that node sees it.
  std::map<std::string, std::string> links_seen_by(const std::string& id, const std::string& key) {
    std::map<std::string, std::string> out;
    auto status = via(id, key, "--json cluster status");
    if (status.first != 0) {
      out["error"] = status.second;
      return out;
    }
    auto parsed = boost::json::parse(status.second);
    for (const auto& n : parsed.as_object().at("nodes").as_array()) {
      const auto& o = n.as_object();
      out[std::string{o.at("node_id").as_string()}] = std::string{o.at("link").as_string()};
    }
    return out;
  }

  static std::string seen_text(const std::map<std::string, std::string>& seen) {
    std::string out;
    for (const auto& [node, link] : seen) {
      out += node + "=" + link + " ";
    }
    return out;
  }

  /// Waits (bounded) until `id` sees `want`; returns what it saw last.
  std::map<std::string, std::string> await_links(const std::string& id, const std::string& key,
                                                 const std::map<std::string, std::string>& want,
                                                 std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    auto seen = links_seen_by(id, key);
    while (seen != want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(200ms);
      seen = links_seen_by(id, key);
    }
    return seen;
  }

  /// Starts `ids` with a peer key (an operator key): they link to each other.
  std::string start_linked(const std::vector<std::string>& ids,
                           const std::vector<std::string>& more = {}) {
    auto op = make_key("--operator --name peers");
    setenv("FLOWGATE_PEER_KEY", op.c_str(), 1);
    for (const auto& id : ids) {
      start(id, more);
    }
    unsetenv("FLOWGATE_PEER_KEY");
    // News reaches the nodes linked when it is sent: wait until every node
    // has linked to every other (within a refresh, lease TTL / 2).
    for (const auto& id : ids) {
      std::map<std::string, std::string> want;
      for (const auto& other : ids) {
        want[other] = other == id ? "self" : "connected";
      }
      auto seen = await_links(id, op, want, 30s);
      std::string logs;
      for (const auto& other : ids) {
        logs += log_of(other);
      }
      BOOST_REQUIRE_MESSAGE(seen == want, "as seen by " << id << ": " << seen_text(seen) << "\n"
                                                        << logs);
    }
    // The limited tenants (acme, other: the node default limit) are owned
    // from the nodes' first renewals (lease TTL / 2): cases start runs
    // once who admits them is settled.
    BOOST_REQUIRE(eventually("SELECT count(*) FROM tenant_owners WHERE tenant_id IN ('acme', "
                             "'other') AND expires_at_ms > 0",
                             2, 30s));
    return op;
  }

  /// A pipeline of one sleep of `ms`, then a noop step.
  void put_slow(const std::string& tenant, int64_t ms) {
    std::ofstream(db.dir / "slow.json")
      << R"({"name":"slow","root":{"sequence":[{"id":"a","activity":"sleep","input":{"ms":)" << ms
      << R"(}},{"id":"b","activity":"noop"}]}})";
    BOOST_REQUIRE(flowgate("config put --tenant " + tenant + " --queue slow --version 1 '" + dir +
                           "/slow.json'") == 0);
  }

  /// The node that recorded each attempt of `run`: "a#1@n1 b#1@n2".
  std::string attempts_of(const std::string& run) {
    return flowgate::testing::store_text(
      location, "SELECT " +
                  flowgate::testing::concat_sql("step_path || '#' || attempt || '@' || node_id",
                                                " ", on_postgres()) +
                  " FROM (SELECT * FROM run_steps WHERE run_id = " + run +
                  " ORDER BY step_path, attempt) s");
  }

  /// The node that started attempt a#1 of `run` (waits up to 10 s; empty
  /// if none did). Which node admits a run depends on who owns its tenant
  /// (docs/run-model.md "Tenant ownership"), so cases ask rather than assume.
  std::string runner_of(const std::string& run) {
    auto where = "FROM run_steps WHERE run_id = " + run + " AND step_path = 'a' AND attempt = 1";
    if (!eventually("SELECT count(*) " + where, 1, 10s)) {
      return "";
    }
    return flowgate::testing::store_text(location, "SELECT node_id " + where);
  }

  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
  }

  /// The live owner of `tenant` as the store says (empty: none).
  std::string owner_of(const std::string& tenant) {
    return flowgate::testing::store_text(
      location, "SELECT coalesce(max(owner), '') FROM tenant_owners WHERE tenant_id = '" + tenant +
                  "' AND expires_at_ms > " + std::to_string(now_ms()));
  }

  static std::string run_of(const std::string& json) {
    return std::to_string(boost::json::parse(json).as_object().at("run").as_int64());
  }

  ~remote_fixture() {
    for (auto& [id, node] : nodes) {
      BOOST_TEST(node->stop(SIGTERM, 15s) == 0, log_of(id));
    }
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(remote, remote_fixture)

BOOST_AUTO_TEST_CASE(three_nodes_serve_remote_clients_each_key_in_its_scope) {
  for (const auto* id : {"n1", "n2", "n3"}) {
    start(id);
  }
  auto op = make_key("--operator --name ops");
  auto acme = make_key("--tenant acme --name app");
  // Started through n1 with acme's key (no --tenant: the key's tenant),
  // completed by whichever node claims it, seen through n3.
  auto started = via("n1", acme, "--json run start --queue q --input '{\"x\": 1}'");
  BOOST_REQUIRE_MESSAGE(started.first == 0, started.second);
  auto run = std::to_string(boost::json::parse(started.second).as_object().at("run").as_int64());
  auto waited = via("n3", acme, "--json run wait " + run + " --timeout-ms 30000");
  BOOST_REQUIRE_MESSAGE(waited.first == 0, waited.second);
  BOOST_TEST(waited.second.find("COMPLETED") != std::string::npos, waited.second);
  // Another tenant's run, started through n2 with the operator key.
  auto theirs = via("n2", op, "--json run start --tenant other --queue q --input '{}'");
  BOOST_REQUIRE_MESSAGE(theirs.first == 0, theirs.second);
  auto other_run =
    std::to_string(boost::json::parse(theirs.second).as_object().at("run").as_int64());
  // acme's key cannot see it: the same answer as a run that does not exist.
  auto hidden = via("n2", acme, "run status " + other_run);
  auto missing = via("n2", acme, "run status 999999");
  BOOST_TEST(hidden.first == 1);
  BOOST_TEST(missing.first == 1);
  auto said = hidden.second;
  said.replace(said.find(other_run), other_run.size(), "999999");
  BOOST_TEST(said == missing.second);
  BOOST_TEST(via("n3", acme, "run status " + other_run + " --all-tenants").second == hidden.second);
  auto listed = via("n1", acme, "--json run list --all-tenants");
  BOOST_REQUIRE(listed.first == 0);
  BOOST_TEST(listed.second.find("\"other\"") == std::string::npos, listed.second);
  // Touching it or another tenant changes nothing.
  auto before = fingerprint();
  BOOST_TEST(via("n1", acme, "run cancel " + other_run).first == 1);
  BOOST_TEST(via("n1", acme, "run signal " + other_run + " --event go").first == 1);
  auto forbidden = via("n1", acme, "run start --tenant other --queue q");
  BOOST_TEST(forbidden.first == 1);
  BOOST_TEST(forbidden.second.find("[forbidden]") != std::string::npos, forbidden.second);
  BOOST_TEST(via("n2", acme, "tenant list").second.find("[forbidden]") != std::string::npos);
  BOOST_TEST(via("n2", acme, "key create --tenant acme").first == 1);
  BOOST_TEST(fingerprint() == before);
  // The operator sees every tenant and the cluster, with each node's address.
  auto status = via("n3", op, "--json cluster status");
  BOOST_REQUIRE(status.first == 0);
  for (const auto& [id, addr] : address) {
    BOOST_TEST(status.second.find(addr) != std::string::npos, status.second);
  }
  BOOST_TEST(via("n1", op, "run status " + other_run + " --all-tenants").first == 0);
  // A key revoked through one node is refused by another at once.
  auto acme_id = acme.substr(4, 16);
  BOOST_REQUIRE(via("n1", op, "key revoke " + acme_id).first == 0);
  auto refused = via("n3", acme, "run list");
  BOOST_TEST(refused.first == 1);
  BOOST_TEST(refused.second.find("[unauthenticated]") != std::string::npos, refused.second);
}

BOOST_AUTO_TEST_CASE(a_cancel_accepted_by_one_node_reaches_the_node_holding_the_run_at_once) {
  // The nodes reach each other's doors with a peer key (an operator key).
  auto op = make_key("--operator --name peers");
  setenv("FLOWGATE_PEER_KEY", op.c_str(), 1);
  start("n1");
  start("n2");
  unsetenv("FLOWGATE_PEER_KEY");
  std::ofstream(db.dir / "slow.json")
    << R"({"name":"slow","root":{"sequence":[{"id":"a","activity":"sleep","input":{"ms":20000}},)"
    << R"({"id":"b","activity":"noop"}]}})";
  BOOST_REQUIRE(
    flowgate("config put --tenant acme --queue slow --version 1 '" + dir + "/slow.json'") == 0);
  // Started through n2; n2 or acme's owner runs a#1.
  auto started = via("n2", op, "--json run start --tenant acme --queue slow");
  BOOST_REQUIRE_MESSAGE(started.first == 0, started.second);
  auto run = std::to_string(boost::json::parse(started.second).as_object().at("run").as_int64());
  auto runner = runner_of(run);
  BOOST_REQUIRE_MESSAGE(!runner.empty(), log_of("n1") + log_of("n2"));
  auto other = runner == "n1" ? "n2" : "n1";
  // Canceled through the other node: stored in the run's inbox, and that
  // node pokes the runner, whose orchestrator takes it now. Found at the
  // next step instead, a#1 would have completed (20 s later) and b#1 be the
  // canceled one.
  auto canceled = via(other, op, "--json run cancel " + run + " --tenant acme");
  BOOST_REQUIRE_MESSAGE(canceled.first == 0, canceled.second);
  BOOST_TEST(canceled.second.find("\"canceled_now\":false") != std::string::npos, canceled.second);
  auto waited = via(other, op, "--json run wait " + run + " --tenant acme --timeout-ms 30000");
  BOOST_TEST(waited.second.find("CANCELED") != std::string::npos, waited.second);
  BOOST_TEST(flowgate::testing::store_text(
               location, "SELECT " +
                           flowgate::testing::concat_sql("step_path || '#' || attempt || ':' || "
                                                         "status",
                                                         " ", on_postgres()) +
                           " FROM run_steps WHERE run_id = " + run) == "a#1:canceled",
             log_of("n1") + log_of("n2"));
}

BOOST_AUTO_TEST_CASE(linked_nodes_show_their_links_and_a_dead_peer_becomes_unreachable) {
  // Registrations live 20 s: a hung node is seen by its unanswered probes
  // (every 2 s, to be answered within 5 s) long before it expires.
  lease_ttl_ms = 20'000;
  auto op = start_linked({"n1", "n2", "n3"});
  std::map<std::string, std::string> all = {
    {"n1", "connected"}, {"n2", "self"}, {"n3", "connected"}};
  auto seen = await_links("n2", op, all, 30s);
  BOOST_TEST((seen == all), log_of("n2"));
  // n3 dies: its connections close, and the others see it unreachable at
  // once (until its registration expires and it is no peer any more).
  BOOST_TEST(nodes["n3"]->stop(SIGKILL, 15s) == -1);
  nodes.erase("n3");
  std::map<std::string, std::string> dead = {
    {"n1", "self"}, {"n2", "connected"}, {"n3", "unreachable"}};
  seen = await_links("n1", op, dead, 30s);
  BOOST_TEST((seen == dead), log_of("n1"));
  BOOST_TEST(log_of("n1").find("lost the link to a peer node") != std::string::npos);
  // n2 hangs with its connection open (SIGSTOP): n1's probes go
  // unanswered, so n1 shows it unreachable, and connected again once it
  // answers (SIGCONT).
  auto n2_seen_as = [&](const std::string& want) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    auto now = links_seen_by("n1", op);
    while (now["n2"] != want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(200ms);
      now = links_seen_by("n1", op);
    }
    return now["n2"];
  };
  auto hung_at = std::chrono::steady_clock::now();
  nodes["n2"]->signal(SIGSTOP);
  auto hung = n2_seen_as("unreachable");
  std::cerr << "remote: a hung peer shown unreachable after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - hung_at)
                 .count()
            << " ms (probes every 2 s, answered within 5 s)\n";
  nodes["n2"]->signal(SIGCONT);
  BOOST_TEST(hung == "unreachable", log_of("n1"));
  BOOST_TEST(n2_seen_as("connected") == "connected", log_of("n1"));
  // Without a peer key a node keeps no links: LINK is empty.
  start("n4");
  seen = links_seen_by("n4", op);
  BOOST_TEST(seen["n4"] == "");
  BOOST_TEST(seen["n1"] == "");
}

BOOST_AUTO_TEST_CASE(a_starter_parked_on_one_node_is_answered_when_another_node_admits_its_run) {
  // acme may run one run at a time; a start at the limit is queued, its
  // starter waits up to two minutes. Neither node polls in that time.
  std::ofstream(db.dir / "one.json")
    << R"({"tier":"pro","max_concurrent_runs":1,"admission":"queue",)"
    << R"("admission_deadline_ms":120000})";
  BOOST_REQUIRE(flowgate("tenant put acme '" + dir + "/one.json'") == 0);
  put_slow("acme", 4000);
  auto op = start_linked({"n1", "n2"}, {"--poll-ms", "60000"});
  auto first = via("n1", op, "--json run start --tenant acme --queue slow");
  BOOST_REQUIRE_MESSAGE(first.first == 0, first.second);
  // Queued through n2 (acme is at its limit on n1) and parked there. When
  // the first run ends, n1 claims the queued run with the freed permit and
  // tells n2, whose limiter answers the starter; or, in a second when the
  // permit is n2's share of acme's limit, n1 tells n2 of the freed permit
  // and n2 claims it (or acme's owner, told by the other, claims it).
  // Without that news the queued run would wait for a poll a minute away,
  // past this command's 60 s timeout.
  auto second = via("n2", op, "--json run start --tenant acme --queue slow");
  BOOST_REQUIRE_MESSAGE(second.first == 0, second.second + log_of("n1") + log_of("n2"));
  BOOST_TEST(second.second.find("\"status\":\"RUNNING\"") != std::string::npos, second.second);
  auto run = run_of(second.second);
  auto waited = via("n2", op, "--json run wait " + run + " --tenant acme --timeout-ms 30000");
  BOOST_TEST(waited.second.find("COMPLETED") != std::string::npos, waited.second);
  auto attempts = attempts_of(run);
  BOOST_TEST((attempts == "a#1@n1 b#1@n1" || attempts == "a#1@n2 b#1@n2"), attempts);
}

BOOST_AUTO_TEST_CASE(runs_a_draining_node_hands_back_are_claimed_by_another_at_once) {
  put_slow("acme", 1500);
  auto op = start_linked({"n1", "n2"}, {"--poll-ms", "60000"});
  auto started = via("n1", op, "--json run start --tenant acme --queue slow");
  BOOST_REQUIRE_MESSAGE(started.first == 0, started.second);
  auto run = run_of(started.second);
  auto runner = runner_of(run);
  BOOST_REQUIRE_MESSAGE(!runner.empty(), log_of("n1") + log_of("n2"));
  std::string other = runner == "n1" ? "n2" : "n1";
  // The runner drains: it records a#1, hands the run back (and gives up
  // the tenants it owns) and tells the other node, which claims it now
  // rather than at its next poll (a minute away).
  BOOST_TEST(nodes[runner]->stop(SIGTERM, 15s) == 0, log_of(runner));
  nodes.erase(runner);
  auto waited = via(other, op, "--json run wait " + run + " --tenant acme --timeout-ms 30000");
  BOOST_TEST(waited.second.find("COMPLETED") != std::string::npos,
             waited.second + log_of("n1") + log_of("n2"));
  BOOST_TEST(attempts_of(run) == "a#1@" + runner + " b#1@" + other, log_of("n1") + log_of("n2"));
}

BOOST_AUTO_TEST_CASE(a_run_created_on_a_full_node_is_claimed_by_another_at_once) {
  put_slow("acme", 4000);
  put_slow("other", 10);
  auto op = start_linked({"n1", "n2"}, {"--poll-ms", "60000", "--max-active", "1"});
  auto busy = via("n1", op, "--json run start --tenant acme --queue slow");
  BOOST_REQUIRE_MESSAGE(busy.first == 0, busy.second);
  auto full = runner_of(run_of(busy.second));
  BOOST_REQUIRE_MESSAGE(!full.empty(), log_of("n1") + log_of("n2"));
  std::string other = full == "n1" ? "n2" : "n1";
  // The runner drives one run at most: this one is created unclaimed, and
  // the other node is told to claim it (else: at a poll a minute away, or
  // when the busy run ends, and then only if that run's tenant's queue
  // were the one). If the full node owns "other", it has no room, so it
  // leaves that tenant's admissions to the other node.
  auto started = via(full, op, "--json run start --tenant other --queue slow");
  BOOST_REQUIRE_MESSAGE(started.first == 0, started.second);
  auto run = run_of(started.second);
  auto waited = via(full, op, "--json run wait " + run + " --tenant other --timeout-ms 30000");
  BOOST_TEST(waited.second.find("COMPLETED") != std::string::npos,
             waited.second + log_of("n1") + log_of("n2"));
  BOOST_TEST(attempts_of(run) == "a#1@" + other + " b#1@" + other);
}

BOOST_AUTO_TEST_CASE(
  a_limited_tenants_runs_are_admitted_by_its_owner_and_ownership_moves_on_drain) {
  // acme and other are limited (the node default, 10): each is owned by one
  // of the three nodes, spread by rendezvous hashing, taken at their first
  // renewals (lease TTL / 2).
  put_slow("acme", 10);
  // An owner that has not claimed for two polls leaves its tenants to the
  // others (spread grace): 1 s polls keep a loaded machine's late poll (the
  // 20 ms default's grace is 100 ms) from handing a run to the starter's node.
  // The owner still hears of each start at once (news).
  auto op = start_linked({"n1", "n2", "n3"}, {"--poll-ms", "1000"});
  BOOST_REQUIRE_MESSAGE(
    eventually("SELECT count(*) FROM tenant_owners WHERE tenant_id IN ('acme', 'other') AND "
               "expires_at_ms > 0",
               2, 30s),
    log_of("n1") + log_of("n2") + log_of("n3"));
  auto owner = owner_of("acme");
  BOOST_REQUIRE(!owner.empty());
  auto status = via("n1", op, "--json cluster status");
  BOOST_REQUIRE(status.first == 0);
  auto parsed = boost::json::parse(status.second);
  for (const auto& n : parsed.as_object().at("nodes").as_array()) {
    const auto& o = n.as_object();
    bool owns = false;
    for (const auto& t : o.at("owned_tenants").as_array()) {
      owns = owns || t.as_string() == "acme";
    }
    BOOST_TEST(owns == (o.at("node_id").as_string() == owner), status.second);
  }
  // Started through another node, acme's runs are admitted by its owner.
  std::string elsewhere = owner == "n1" ? "n2" : "n1";
  for (int i = 0; i < 3; ++i) {
    auto started = via(elsewhere, op, "--json run start --tenant acme --queue slow");
    BOOST_REQUIRE_MESSAGE(started.first == 0, started.second);
    auto run = run_of(started.second);
    auto waited =
      via(elsewhere, op, "--json run wait " + run + " --tenant acme --timeout-ms 30000");
    BOOST_TEST(waited.second.find("COMPLETED") != std::string::npos, waited.second);
    BOOST_TEST(attempts_of(run) == "a#1@" + owner + " b#1@" + owner);
  }
  // The owner drains: it gives acme up, and a remaining node takes it at its
  // next renewal.
  auto drained_at = std::chrono::steady_clock::now();
  BOOST_TEST(nodes[owner]->stop(SIGTERM, 15s) == 0, log_of(owner));
  nodes.erase(owner);
  BOOST_REQUIRE(eventually("SELECT count(*) FROM tenant_owners WHERE tenant_id = 'acme' AND "
                           "owner <> '" +
                             owner + "' AND expires_at_ms > 0",
                           1, 30s));
  std::cerr << "remote: acme re-homed "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - drained_at)
                 .count()
            << " ms after its owner began to drain (lease TTL 5000 ms)\n";
  auto next = owner_of("acme");
  BOOST_TEST((next != owner && !next.empty()));
  auto started =
    via(elsewhere == owner ? next : elsewhere, op, "--json run start --tenant acme --queue slow");
  BOOST_REQUIRE_MESSAGE(started.first == 0, started.second);
  auto run = run_of(started.second);
  BOOST_TEST(via(next, op, "--json run wait " + run + " --tenant acme --timeout-ms 30000")
               .second.find("COMPLETED") != std::string::npos);
  BOOST_TEST(attempts_of(run) == "a#1@" + next + " b#1@" + next);
}

BOOST_AUTO_TEST_CASE(no_certificate_a_rogue_ca_or_no_valid_key_is_refused_and_changes_nothing) {
  start("n1");
  auto acme = make_key("--tenant acme");
  auto before = fingerprint();
  auto start_run = "run start --tenant acme --queue q --input '{}'";
  // No client certificate: refused before anything is sent.
  auto bare = run("--connect " + address["n1"] + " --key '" + acme + "' --tls-ca '" + dir +
                  "/ca.pem' " + start_run);
  BOOST_TEST(bare.first == 1);
  BOOST_TEST(bare.second.find("--tls-cert") != std::string::npos, bare.second);
  // A certificate from another CA: the handshake fails.
  auto rogue = run("--connect " + address["n1"] + " --key '" + acme + "' --tls-cert '" + dir +
                   "/rogue.pem' --tls-key '" + dir + "/rogue.key' --tls-ca '" + dir +
                   "/rogue-ca.pem' " + start_run);
  BOOST_TEST(rogue.first == 1);
  BOOST_TEST(rogue.second.find("[node_unreachable]") != std::string::npos, rogue.second);
  // Trusting only the rogue CA, a good client certificate still fails: the
  // node's certificate is not one the client trusts.
  auto distrust = run("--connect " + address["n1"] + " --key '" + acme + "' --tls-cert '" + dir +
                      "/client.pem' --tls-key '" + dir + "/client.key' --tls-ca '" + dir +
                      "/rogue-ca.pem' " + start_run);
  BOOST_TEST(distrust.first == 1);
  // Certificates fine, key not: missing, malformed, unknown.
  auto no_key = via("n1", "", start_run);
  BOOST_TEST(no_key.first == 1);
  BOOST_TEST(no_key.second.find("needs an API key") != std::string::npos, no_key.second);
  for (const auto& bad :
       {std::string{"sk-not-a-key"}, "fgk_" + std::string(16, '0') + "_" + std::string(64, '0')}) {
    auto r = via("n1", bad, start_run);
    BOOST_TEST(r.first == 1);
    BOOST_TEST((r.second.find("[unauthenticated]") != std::string::npos ||
                r.second.find("[invalid_argument]") != std::string::npos),
               r.second);
  }
  BOOST_TEST(fingerprint() == before);
  // The node kept serving: the good client gets through.
  auto ok = via("n1", acme, start_run);
  BOOST_TEST(ok.first == 0, ok.second);
}

BOOST_AUTO_TEST_CASE(an_embedder_serves_and_connects_with_the_library) {
  // Two actor systems in this process: one embeds an executing node that
  // listens, the other holds only a flowgate::client (no database).
  caf::actor_system_config server_cfg;
  flowgate::register_types(server_cfg);
  BOOST_REQUIRE(!flowgate::enable_tls_network(
    server_cfg, flowgate::tls_files{dir + "/node.pem", dir + "/node.key", dir + "/ca.pem"}));
  caf::actor_system server_sys{server_cfg};
  flowgate::actor_threads_joined server_joined{server_sys};
  flowgate::node_settings s;
  s.db_path = location;
  s.synchronous = flowgate::sync_mode::normal;
  s.node_id = "embedded";
  s.listen = "127.0.0.1:0";
  s.lease_ttl_ms = 5000;
  flowgate::node_options opts;
  opts.execute = true;
  auto n = flowgate::node::start(server_sys, s, opts);
  BOOST_REQUIRE_MESSAGE(n, (n ? "" : flowgate::describe(n.error())));
  auto where = flowgate::parse_address((*n)->listening_at());
  BOOST_REQUIRE(where);
  auto key = (*n)->create_key("acme", false, "embedder");
  BOOST_REQUIRE(key);

  caf::actor_system_config client_cfg;
  flowgate::register_types(client_cfg);
  // Without TLS set up, connect refuses to start.
  {
    caf::actor_system_config bare_cfg;
    flowgate::register_types(bare_cfg);
    caf::actor_system bare{bare_cfg};
    auto c = flowgate::client::connect(bare, where->first, where->second, key->key);
    BOOST_REQUIRE(!c);
    BOOST_TEST(flowgate::code_of(c.error()) == flowgate::errc::invalid_argument);
  }
  BOOST_REQUIRE(!flowgate::enable_tls_network(
    client_cfg, flowgate::tls_files{dir + "/client.pem", dir + "/client.key", dir + "/ca.pem"}));
  caf::actor_system client_sys{client_cfg};
  auto c = flowgate::client::connect(client_sys, where->first, where->second, key->key);
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : flowgate::describe(c.error())));
  auto started = (*c)->start_run("", "q", R"({"from":"embedder"})");
  BOOST_REQUIRE_MESSAGE(started, (started ? "" : flowgate::describe(started.error())));
  BOOST_TEST(started->run.tenant.value == "acme");
  auto done = (*c)->wait_for_run(flowgate::tenant_scope{""}, started->run.id.value, 30s);
  BOOST_REQUIRE_MESSAGE(done, (done ? "" : flowgate::describe(done.error())));
  BOOST_TEST(done->status == flowgate::run_status::completed);
  // A malformed key is refused before connecting.
  auto bad = flowgate::client::connect(client_sys, where->first, where->second, "nope");
  BOOST_REQUIRE(!bad);
  BOOST_TEST(flowgate::code_of(bad.error()) == flowgate::errc::invalid_argument);
  c->reset();
  BOOST_REQUIRE((*n)->drain());
}

BOOST_AUTO_TEST_CASE(a_malformed_peer_key_or_one_without_listen_is_refused_before_the_store) {
  auto try_serve = [&](const std::string& env, const std::string& args) {
    auto out = db.dir / "peer.out";
    std::string cmd = "env " + env + " timeout 30 " FLOWGATE_BINARY " --db '" + location +
                      "' serve --node-id x " + args + " >'" + out.string() + "' 2>&1";
    int status = std::system(cmd.c_str());
    std::ifstream in{out};
    std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 1), text);
    return text;
  };
  std::string tls_flags;
  for (const auto& f : tls("node")) {
    tls_flags += "'" + f + "' ";
  }
  auto malformed = try_serve("FLOWGATE_PEER_KEY=not-a-key", "--listen 127.0.0.1:0 " + tls_flags);
  BOOST_TEST(malformed.find("peer key") != std::string::npos, malformed);
  auto valid = make_key("--operator --name peers");
  auto unheard = try_serve("FLOWGATE_PEER_KEY=" + valid, "");
  BOOST_TEST(unheard.find("--listen") != std::string::npos, unheard);
  BOOST_TEST(flowgate::testing::store_sql(location, "SELECT count(*) FROM nodes") == 0);
}

BOOST_AUTO_TEST_CASE(listen_without_tls_is_refused) {
  auto out = db.dir / "notls.out";
  std::string cmd = "timeout 30 " FLOWGATE_BINARY " --db '" + location +
                    "' serve --node-id x --listen 127.0.0.1:0 >'" + out.string() + "' 2>&1";
  int status = std::system(cmd.c_str());
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 1));
  std::ifstream in{out};
  std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  BOOST_TEST(text.find("--tls-cert") != std::string::npos, text);
  BOOST_TEST(flowgate::testing::store_sql(location, "SELECT count(*) FROM nodes") == 0);
}

BOOST_AUTO_TEST_SUITE_END()
