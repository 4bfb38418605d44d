// `flowgate serve`: runs an executing node until SIGINT/SIGTERM (or until
// it is fenced), then drains it.

#include "tools/serve_commands.hpp"

#include "actors/activity.hpp"
#include "actors/log.hpp"
#include "actors/node.hpp"
#include "api/http_server.hpp"
#include "persistence/open_store.hpp"
#include "tools/cli_common.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>

#include <atomic>
#include <csignal>
#include <iostream>
#include <unistd.h>

namespace flowgate::cli {

namespace json = boost::json;

const char* const serve_help = R"(Usage: flowgate serve [options]

Runs a node: claims due runs from the database, drives them, executes their
activities, and holds their leases. Several serve processes (on one host or
sharing the database file) split the work; a run is driven by one lease
holder at a time, and the runs of a process that dies are taken over once
their leases expire. SIGINT/SIGTERM stop claiming, let attempts in flight
finish (up to --drain-ms), record them and release every lease.

Activities available: the built-ins noop, echo, sleep, fail (embed flowgate
as a library to register your own).

Options (defaults from the environment, then the built-in value):
  --node-id ID             lease owner name ($FLOWGATE_NODE_ID, host-pid)
  --lease-ttl-ms N         lease lifetime; renewed every N/2 ($FLOWGATE_LEASE_TTL_MS, 30000)
  --poll-ms N              how often to look for claimable runs ($FLOWGATE_POLL_MS, 200)
  --workers N              activity worker threads ($FLOWGATE_WORKERS, 8); up to N
                           extra ones while one tenant's slow activities hold
                           every worker and another tenant waits
  --max-active N           most runs driven at once ($FLOWGATE_MAX_ACTIVE_RUNS, 20000)
  --hold-ms N              timers up to N ms are held in memory, longer ones
                           release the run ($FLOWGATE_HOLD_MS, 2000)
  --drain-ms N             how long stopping waits for attempts ($FLOWGATE_DRAIN_MS, 10000)
  --on-nondeterminism P    fail | hold a run whose history no longer matches
                           its pipeline ($FLOWGATE_ON_NONDETERMINISM, fail)
  --quota-scan-ms N        how often runs paused on step quota are resumed, per
                           tenant up to its quota left; 0 = never on a timer
                           ($FLOWGATE_QUOTA_SCAN_MS, 300000)
  --schedule-poll-ms N     how often due schedules are fired; every serving
                           node fires, each fire time once across all of them;
                           0 = this node fires none ($FLOWGATE_SCHEDULE_POLL_MS, 1000)
  --listen HOST:PORT       publish this node for remote clients (flowgate
                           --connect, flowgate::client) over TLS; port 0 picks
                           a free one, recorded in 'cluster status'
                           ($FLOWGATE_LISTEN; default: not published). Needs:
  --tls-cert FILE          this node's certificate, signed by the cluster's CA
                           ($FLOWGATE_TLS_CERT)
  --tls-key FILE           its private key ($FLOWGATE_TLS_KEY)
  --tls-ca FILE            the cluster's CA certificate: clients must present a
                           certificate it signed ($FLOWGATE_TLS_CA)
                           Every remote request also needs an API key
                           ('flowgate key create'); see README "Cluster".
  --http HOST:PORT         serve the HTTP/JSON API and /healthz ($FLOWGATE_HTTP;
                           default: none); every request needs an API key
                           (Authorization: Bearer KEY). With --tls-cert and
                           --tls-key it is HTTPS; without them only a loopback
                           address (127.0.0.1, ::1) is accepted. See README
                           "HTTP API" and docs/openapi.yaml.
  --peer-key-file FILE     an operator key this node presents at the other
                           nodes' doors: the nodes link to each other ('cluster
                           status' through a node shows the links), a signal
                           or cancel for a run another node holds reaches it
                           at once, and so do runs a draining or full node
                           leaves and admissions of starts parked elsewhere
                           ($FLOWGATE_PEER_KEY; needs --listen; without it
                           these wait for the other nodes' polls and steps)
  --db PATH|URL, --synchronous MODE, --json   as for every command

Tenant limits (cluster-wide mode): a tenant's max_concurrent_runs (else
$FLOWGATE_TENANT_MAX_CONCURRENT_RUNS, 10; 0 = unlimited) is checked in the
database transaction that claims a run, counting the tenant's live leased
RUNNING runs of every process on the database, so it holds across processes.
Runs over the limit wait PENDING ('queue') or are refused at start with
tenant_at_limit ('reject'). In 'queue' mode the starter waits in the
tenant's limiter (FIFO) up to the tenant's admission_deadline_ms (30000)
for the run to be admitted; past it the answer is the run still PENDING,
and it stays queued until a permit frees; quota.soft_limit (+5% burst) and
quota.hard_limit refuse new runs with quota_exceeded. Limits are read from
the stored tenant config at each claim: 'flowgate tenant put' applies them
without a restart.

Step quota: every step attempt is reserved against the tenant's billing
period in the transaction that schedules it (exact across processes); a run
without quota pauses (WAITING, reason quota). See 'flowgate quota --help'.
)";

void apply_serve_flags(const args& a, node_settings& s) {
  if (auto id = a.option("node-id")) {
    if (id->empty() || id->size() > 128) {
      throw usage_error{"--node-id must have 1 to 128 characters"};
    }
    s.node_id = *id;
  }
  s.lease_ttl_ms = int_option(a, "lease-ttl-ms", s.lease_ttl_ms, 200, 3'600'000);
  s.poll_interval_ms = int_option(a, "poll-ms", s.poll_interval_ms, 1, 60'000);
  s.workers = int_option(a, "workers", s.workers, 1, 4096);
  s.max_active_runs = int_option(a, "max-active", s.max_active_runs, 1, 1'000'000);
  s.hold_timer_ms = int_option(a, "hold-ms", s.hold_timer_ms, 0, 3'600'000);
  s.drain_timeout_ms = int_option(a, "drain-ms", s.drain_timeout_ms, 0, 3'600'000);
  s.quota_scan_interval_ms =
    int_option(a, "quota-scan-ms", s.quota_scan_interval_ms, 0, 86'400'000);
  s.schedule_poll_ms = int_option(a, "schedule-poll-ms", s.schedule_poll_ms, 0, 60'000);
  if (auto l = a.option("listen")) {
    s.listen = *l;
  }
  if (auto h = a.option("http")) {
    if (h->empty()) {
      throw usage_error{"--http needs HOST:PORT"};
    }
    s.http = *h;
  }
  if (auto f = a.option("peer-key-file")) {
    try {
      s.peer_key = read_file(*f);
    } catch (const std::exception& e) {
      throw usage_error{std::string{"--peer-key-file: "} + e.what()};
    }
    s.peer_key.erase(s.peer_key.find_last_not_of(" \t\r\n") + 1);
  }
  if (auto p = a.option("on-nondeterminism")) {
    auto policy = parse_nondeterminism_policy(*p);
    if (!policy) {
      throw usage_error{describe(policy.error())};
    }
    s.hold_on_nondeterminism = *policy;
  }
}

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

int serve_command(caf::actor_system& sys, const node_settings& settings, const tls_files& tls,
                  bool as_json) {
  // A fenced node (a newer process took its id) stops serving: the handler
  // records why and wakes the sigwait below.
  static std::atomic<bool> fenced{false};
  node_options opts;
  opts.execute = true;
  opts.on_fenced = [](const caf::error&) {
    fenced = true;
    kill(getpid(), SIGTERM);
  };
  // A damaged store: the writer stops writing; serve stops without a drain
  // (which would write) and exits 1.
  static std::atomic<bool> broken{false};
  opts.on_fatal = [](const caf::error&) {
    broken = true;
    kill(getpid(), SIGTERM);
  };
  // Lines written while the node starts (a busy store, a refused
  // registration) name it too; the incarnation follows registration.
  set_log_context({{"node", settings.node_id.empty() ? default_node_id() : settings.node_id}});
  auto n = node::start(sys, settings, std::move(opts));
  if (!n) {
    return fail(n.error());
  }
  const auto& s = (*n)->settings();
  // Every later log line of this process names its node.
  set_log_context({{"node", s.node_id}, {"incarnation", std::to_string((*n)->incarnation())}});
  std::unique_ptr<http_server> api;
  if (!s.http.empty()) {
    http_server_settings hs;
    hs.address = s.http;
    hs.tls_certificate = tls.certificate;
    hs.tls_key = tls.key;
    hs.max_body_bytes = s.max_document_bytes + 64 * 1024;
    hs.api.door = (*n)->door();
    hs.api.request_timeout_ms = (*n)->request_timeout.count();
    hs.api.metrics =
      metrics_sources{s.node_id,    (*n)->incarnation(), (*n)->writer(),   (*n)->dispatcher(),
                      (*n)->pool(), (*n)->accountant(),  s.metrics_tenants};
    auto started = http_server::start(sys, std::move(hs));
    if (!started) {
      return fail(started.error());
    }
    api = std::move(*started);
  }
  auto http_address =
    api ? std::string{api->tls() ? "https://" : "http://"} + api->address() : std::string{};
  if (as_json) {
    print_json(json::object{{"event", "serving"},
                            {"node_id", s.node_id},
                            {"incarnation", (*n)->incarnation()},
                            {"db", store_display_name(s.db_path)},
                            {"pid", static_cast<int64_t>(getpid())},
                            {"lease_ttl_ms", s.lease_ttl_ms},
                            {"workers", s.workers},
                            {"listening", (*n)->listening_at()},
                            {"http", http_address}});
  } else {
    std::cout << "flowgate serve: node " << s.node_id << " (incarnation " << (*n)->incarnation()
              << ") on " << store_display_name(s.db_path) << " (pid " << getpid() << ", lease ttl "
              << s.lease_ttl_ms << " ms, " << s.workers << " workers"
              << ((*n)->listening_at().empty()
                    ? std::string{}
                    : "; listening on " + (*n)->listening_at() + " (TLS)")
              << (http_address.empty() ? std::string{} : "; HTTP API at " + http_address)
              << "); stop with SIGINT or SIGTERM" << std::endl;
  }
  auto set = stop_signals();
  int sig = 0;
  sigwait(&set, &sig);
  if (broken) {
    return fail("node '" + s.node_id + "' stopped: the database '" + store_display_name(s.db_path) +
                "' is damaged; nothing more was written to it (restore it from a backup; see the "
                "log)");
  }
  if (fenced) {
    return fail("node '" + s.node_id + "' incarnation " + std::to_string((*n)->incarnation()) +
                " was fenced: a newer process registered the same node id, so this one "
                "stopped driving runs (see the log)");
  }
  if (!as_json) {
    std::cout << "flowgate serve: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", draining"
              << std::endl;
  }
  if (api) {
    api->drain(); // 503 from now on: clients go to another node
  }
  auto released = (*n)->drain();
  api.reset();
  if (!released) {
    return fail(released.error());
  }
  if (as_json) {
    print_json(json::object{{"event", "stopped"}, {"released_leases", *released}});
  } else {
    std::cout << "flowgate serve: stopped, " << *released << " leases released" << std::endl;
  }
  return exit_ok;
}

} // namespace flowgate::cli
