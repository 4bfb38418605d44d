#include "tools/run_commands.hpp"

#include "actors/activity.hpp"
#include "actors/node.hpp"
#include "config/billing.hpp"
#include "tools/cli_common.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>

#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdio>
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
  --db PATH, --synchronous MODE, --json   as for every command

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

const char* const run_help = R"(Usage:
  flowgate run start --tenant T --queue Q [--input JSON | --input-file F]
                     [--config-version V] [--idempotency-key K] [--wait [--timeout-ms N]]
  flowgate run status RUN [--tenant T | --all-tenants]
  flowgate run list [--tenant T | --all-tenants] [--status S] [--after RUN] [--limit N]
  flowgate run history RUN [--tenant T | --all-tenants]
  flowgate run signal RUN --event E [--payload JSON] [--tenant T | --all-tenants]
  flowgate run cancel RUN [--reason TEXT] [--tenant T | --all-tenants]
  flowgate run wait RUN [--tenant T | --all-tenants] [--timeout-ms N]
  flowgate run resume RUN --tenant T

'run start' pins the run to --config-version, else to the version resolved
now (the queue's active version, else the node default version, else the
default tenant's); the pinned version and its checksum are stored on the run.
The run is PENDING until a 'flowgate serve' node claims it. 'run start --wait'
polls until the run finishes or waits (WAITING); 'run wait' until it
finishes (both: --timeout-ms, default 60000; exit 1 on timeout).
Scope: the commands on existing runs see one tenant's runs: --tenant T, or
the default tenant without it (a blank id is the default tenant too); a run
of another tenant is reported exactly like a missing one. Operators reach
every tenant's runs with --all-tenants, never by leaving the flag out.
Statuses: PENDING RUNNING WAITING COMPLETED FAILED CANCELED.
A signal is delivered to the first wait for that event, also if it arrives
before the run reaches the wait. Cancel ends a run at once when no node is
driving it, else at its next step boundary.
'run resume' resumes a run paused on quota (WAITING, reason quota) if the
tenant owns it and has quota left; the resumed step still reserves its
quota. Without quota it prints used, limit and period and exits 1
(quota_exhausted); with --json that answer is on stdout.
)";

const char* const replay_help = R"(Usage: flowgate replay RUN | --all [--tenant T | --all-tenants]

Re-runs stored histories through this binary's engine against each run's
pinned pipeline and reports non-determinism: a history event that the
engine would not produce at that sequence number. Run it before deploying a
new flowgate on a database with live runs. Exit status 1 if any run is
non-deterministic.
)";

const char* const subscription_help = R"(Usage:
  flowgate subscription set --tenant T [FILE|-]   store a subscription (FORMATS.md)
  flowgate subscription get --tenant T            list the tenant's subscriptions

A subscription document:
  {"id": "sub_123", "status": "active",
   "current_period_start": "2026-11-01T00:00:00Z", "current_period_end": "2026-12-01T00:00:00Z",
   "price_metadata": {"workflow_step_limit": "750"},
   "product_metadata": {"workflow_step_limit": "unlimited"}}
Setting an existing id replaces it. Times are RFC 3339; periods are [start, end).
The period in force comes from the subscription with the highest status
(trialing > active > past_due > unpaid) whose period is valid and contains
now, else the UTC calendar month. See 'flowgate quota summary'.
)";

const char* const quota_help = R"(Usage:
  flowgate quota summary --tenant T
  flowgate quota reconcile --tenant T [--period START]
  flowgate quota scan

Shows the billing period in force (and where it comes from: a subscription
or the calendar month), the step limit (from price metadata, else product
metadata, else the tier default: solo 150, pro 750, premium 10000), the
steps used in the period, what remains, and warnings about ignored
subscriptions or metadata.

Every step attempt (each retry, each for_each item, each entry into a wait)
is reserved before it starts, in the same transaction as its ledger row.
When the quota is used up the run pauses (WAITING, reason quota) at that
step. 'flowgate serve' resumes paused runs every $FLOWGATE_QUOTA_SCAN_MS
(300000) ms, per tenant no more than its quota left; 'quota scan' runs one
such scan now, and 'flowgate run resume' resumes one run.

'quota reconcile' compares the period's usage counter with the ledger
(run_steps rows reserved in the period): the current period, or the one
starting at START (RFC 3339). Exit status 1 if they differ (drift).
)";

namespace {

json::object run_json(const run_record& r) {
  auto parsed = [](const std::string& text) -> json::value {
    if (text.empty()) {
      return nullptr;
    }
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    return ec ? json::value(text) : v;
  };
  json::object o{{"run", r.id.value},
                 {"tenant", r.tenant.value},
                 {"queue", r.queue.value},
                 {"config_tenant", r.config_tenant.value},
                 {"config_version", r.version.value},
                 {"config_checksum", r.checksum},
                 {"status", r.status},
                 {"wait_reason", r.wait_reason},
                 {"node_path", r.node_path},
                 {"input", parsed(r.input)},
                 {"output", parsed(r.output)},
                 {"error_type", r.error_type},
                 {"error_message", r.error_message},
                 {"idempotency_key", r.idempotency_key},
                 {"next_seq", r.next_seq},
                 {"lease_owner", r.lease_owner},
                 {"lease_epoch", r.epoch},
                 {"created_at", format_time(r.created_at_ms)},
                 {"started_at", format_time(r.started_at_ms)},
                 {"finished_at", format_time(r.finished_at_ms)}};
  return o;
}

void print_run(const run_record& r) {
  std::cout << "run:      " << r.id.value << "\ntenant:   " << r.tenant.value
            << "\nqueue:    " << r.queue.value << "\nconfig:   " << r.config_tenant.value << "/"
            << r.queue.value << " version " << r.version.value << " (" << r.checksum.substr(0, 19)
            << ")\nstatus:   " << r.status
            << (r.wait_reason.empty() ? "" : " (waiting: " + r.wait_reason + ")")
            << "\nnode:     " << (r.node_path.empty() ? "-" : r.node_path)
            << "\ninput:    " << r.input;
  if (!r.output.empty()) {
    std::cout << "\noutput:   " << r.output;
  }
  if (!r.error_type.empty()) {
    std::cout << "\nerror:    " << r.error_type << ": " << r.error_message;
  }
  std::cout << "\nlease:    " << (r.lease_owner.empty() ? "-" : r.lease_owner) << " (epoch "
            << r.epoch << ")\ncreated:  " << format_time(r.created_at_ms)
            << "\nfinished: " << format_time(r.finished_at_ms) << "\n";
}

/// A RUN word: a positive integer, else a usage error.
int64_t parse_run_id(const std::string& w) {
  int64_t x = 0;
  auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), x);
  if (ec != std::errc{} || end != w.data() + w.size() || x <= 0) {
    throw usage_error{"RUN must be a positive integer, got '" + w + "'"};
  }
  return x;
}

int64_t run_word(const args& a, const char* command) {
  if (a.words.size() < 3) {
    throw usage_error{std::string{"run "} + command + " needs a RUN id"};
  }
  return parse_run_id(a.words[2]);
}

int print_run_result(const caf::expected<run_record>& r, bool as_json) {
  if (!r) {
    return fail(r.error());
  }
  if (as_json) {
    print_json(run_json(*r));
  } else {
    print_run(*r);
  }
  return exit_ok;
}

} // namespace

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

int serve_command(caf::actor_system& sys, const node_settings& settings, bool as_json) {
  // A fenced node (a newer process took its id) stops serving: the handler
  // records why and wakes the sigwait below.
  static std::atomic<bool> fenced{false};
  node_options opts;
  opts.execute = true;
  opts.on_fenced = [](const caf::error&) {
    fenced = true;
    kill(getpid(), SIGTERM);
  };
  auto n = node::start(sys, settings, std::move(opts));
  if (!n) {
    return fail(n.error());
  }
  const auto& s = (*n)->settings();
  if (as_json) {
    print_json(json::object{{"event", "serving"},
                            {"node_id", s.node_id},
                            {"incarnation", (*n)->incarnation()},
                            {"db", s.db_path},
                            {"pid", static_cast<int64_t>(getpid())},
                            {"lease_ttl_ms", s.lease_ttl_ms},
                            {"workers", s.workers}});
  } else {
    std::cout << "flowgate serve: node " << s.node_id << " (incarnation " << (*n)->incarnation()
              << ") on " << s.db_path << " (pid " << getpid() << ", lease ttl " << s.lease_ttl_ms
              << " ms, " << s.workers << " workers); stop with SIGINT or SIGTERM" << std::endl;
  }
  auto set = stop_signals();
  int sig = 0;
  sigwait(&set, &sig);
  if (fenced) {
    return fail("node '" + s.node_id + "' incarnation " + std::to_string((*n)->incarnation()) +
                " was fenced: a newer process registered the same node id, so this one "
                "stopped driving runs (see the log)");
  }
  if (!as_json) {
    std::cout << "flowgate serve: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", draining"
              << std::endl;
  }
  auto released = (*n)->drain();
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

tenant_scope scope_of(const args& a) {
  if (a.has_flag("all-tenants")) {
    if (a.option("tenant")) {
      throw usage_error{"give --tenant or --all-tenants, not both"};
    }
    return tenant_scope::all_tenants();
  }
  return tenant_scope{a.option("tenant").value_or("")};
}

int run_command(node& n, const args& a, bool as_json) {
  const auto& cmd = a.words.size() > 1 ? a.words[1] : std::string{};
  auto tenant = scope_of(a);
  if (cmd == "start") {
    auto t = require(a, "tenant");
    auto queue = require(a, "queue");
    if (a.option("input") && a.option("input-file")) {
      throw usage_error{"give --input or --input-file, not both"};
    }
    std::string input = a.option("input").value_or("null");
    if (auto f = a.option("input-file")) {
      input = read_file(*f);
    }
    auto created = n.start_run(t, queue, input, a.option("config-version").value_or(""),
                               a.option("idempotency-key").value_or(""));
    if (!created) {
      return fail(created.error());
    }
    if (a.has_flag("wait")) {
      auto timeout = int_option(a, "timeout-ms", 60'000, 1, 86'400'000);
      auto done = n.wait_for_run(t, created->run.id.value, std::chrono::milliseconds{timeout});
      return print_run_result(done, as_json);
    }
    if (as_json) {
      auto o = run_json(created->run);
      o["created"] = created->created;
      print_json(o);
    } else {
      std::cout << "run " << created->run.id.value
                << (created->created ? " started" : " exists (idempotency key)") << ": "
                << created->run.tenant.value << "/" << created->run.queue.value << " version "
                << created->run.version.value << ", " << created->run.status << "\n";
    }
    return exit_ok;
  }
  if (cmd == "status") {
    return print_run_result(n.get_run(tenant, run_word(a, "status")), as_json);
  }
  if (cmd == "wait") {
    auto id = run_word(a, "wait");
    auto timeout = int_option(a, "timeout-ms", 60'000, 1, 86'400'000);
    return print_run_result(n.wait_for_run(tenant, id, std::chrono::milliseconds{timeout}, false),
                            as_json);
  }
  if (cmd == "list") {
    auto limit = static_cast<int32_t>(int_option(a, "limit", 100, 1, 100'000));
    auto after = int_option(a, "after", 0, 0, INT64_MAX);
    auto runs = n.list_runs(tenant, a.option("status").value_or(""), after, limit);
    if (!runs) {
      return fail(runs.error());
    }
    if (as_json) {
      json::array arr;
      for (const auto& r : *runs) {
        arr.push_back(run_json(r));
      }
      print_json(arr);
    } else {
      std::printf("%-8s %-24s %-16s %-8s %-10s %-20s %s\n", "RUN", "TENANT", "QUEUE", "VERSION",
                  "STATUS", "NODE", "CREATED");
      for (const auto& r : *runs) {
        std::printf("%-8lld %-24s %-16s %-8s %-10s %-20s %s\n", static_cast<long long>(r.id.value),
                    r.tenant.value.c_str(), r.queue.value.c_str(), r.version.value.c_str(),
                    r.status.c_str(), r.node_path.empty() ? "-" : r.node_path.c_str(),
                    format_time(r.created_at_ms).c_str());
      }
    }
    return exit_ok;
  }
  if (cmd == "history") {
    auto events = n.run_history(tenant, run_word(a, "history"));
    if (!events) {
      return fail(events.error());
    }
    if (as_json) {
      json::array arr;
      for (const auto& e : *events) {
        boost::system::error_code ec;
        auto payload = json::parse(e.payload, ec);
        arr.push_back(json::object{{"seq", e.seq},
                                   {"type", e.type},
                                   {"node_path", e.node_path},
                                   {"attempt", e.attempt},
                                   {"payload", ec ? json::value(e.payload) : payload},
                                   {"at", format_time(e.created_at_ms)}});
      }
      print_json(arr);
    } else {
      std::printf("%-5s %-16s %-24s %-7s %s\n", "SEQ", "EVENT", "NODE", "ATTEMPT", "PAYLOAD");
      for (const auto& e : *events) {
        auto payload = e.payload.size() > 80 ? e.payload.substr(0, 77) + "..." : e.payload;
        std::printf("%-5lld %-16s %-24s %-7s %s\n", static_cast<long long>(e.seq), e.type.c_str(),
                    e.node_path.empty() ? "-" : e.node_path.c_str(),
                    e.attempt > 0 ? std::to_string(e.attempt).c_str() : "-", payload.c_str());
      }
    }
    return exit_ok;
  }
  if (cmd == "signal") {
    auto id = run_word(a, "signal");
    auto sent = n.signal_run(tenant, id, require(a, "event"), a.option("payload").value_or("null"));
    if (!sent) {
      return fail(sent.error());
    }
    if (as_json) {
      print_json(
        json::object{{"run", id}, {"signal_id", sent->signal_id}, {"status", sent->status}});
    } else {
      std::cout << "signal delivered to run " << id << " (run is " << sent->status << ")\n";
    }
    return exit_ok;
  }
  if (cmd == "cancel") {
    auto id = run_word(a, "cancel");
    auto c = n.cancel_run(tenant, id, a.option("reason").value_or(""));
    if (!c) {
      return fail(c.error());
    }
    if (as_json) {
      auto o = run_json(c->run);
      o["canceled_now"] = c->canceled_now;
      print_json(o);
    } else if (c->canceled_now) {
      std::cout << "run " << id << " canceled\n";
    } else {
      std::cout << "run " << id << " is being driven by " << c->run.lease_owner
                << "; it cancels at its next step boundary\n";
    }
    return exit_ok;
  }
  if (cmd == "resume") {
    auto id = run_word(a, "resume");
    auto r = n.resume_run(require(a, "tenant"), id);
    if (!r) {
      return fail(r.error());
    }
    if (r->resumed) {
      if (as_json) {
        print_json(json::object{{"run", id}, {"resumed", true}});
      } else {
        std::cout << "run " << id << " resumed: a node continues it at its next poll\n";
      }
      return exit_ok;
    }
    const auto& x = r->exhausted;
    auto limit = x.limit < 0 ? std::string{"unlimited"} : std::to_string(x.limit);
    if (as_json) {
      print_json(
        json::object{{"run", id},
                     {"resumed", false},
                     {"error", "quota_exhausted"},
                     {"tenant", x.tenant.value},
                     {"node_path", x.node_path},
                     {"used", x.used},
                     {"limit", x.limit < 0 ? json::value("unlimited") : json::value(x.limit)},
                     {"period_start", format_rfc3339(x.period_start_ms)},
                     {"period_end", format_rfc3339(x.period_end_ms)}});
      return exit_failure;
    }
    return fail("tenant '" + x.tenant.value + "' has used " + std::to_string(x.used) + " of " +
                limit + " step attempts in its period " + format_rfc3339(x.period_start_ms) +
                " .. " + format_rfc3339(x.period_end_ms) + "; run " + std::to_string(id) +
                " stays paused at '" + x.node_path + "' [quota_exhausted]");
  }
  throw std::logic_error("run command '" + cmd + "' is in the table but not handled");
}

int subscription_command(node& n, const args& a, bool as_json) {
  const auto& cmd = a.words.size() > 1 ? a.words[1] : std::string{};
  auto tenant = require(a, "tenant");
  if (cmd == "set") {
    if (a.words.size() < 3 && !a.option("file")) {
      throw usage_error{"subscription set needs a FILE (or '-' for stdin)"};
    }
    auto stored = n.put_subscription(tenant, read_document(a, 2, ""));
    if (!stored) {
      return fail(stored.error());
    }
    if (as_json) {
      print_json(json::object{
        {"tenant", stored->tenant.value}, {"id", stored->id}, {"status", stored->status}});
    } else {
      std::cout << "subscription " << stored->id << " of tenant " << stored->tenant.value
                << " stored (" << stored->status << ")\n";
    }
    return exit_ok;
  }
  auto subs = n.list_subscriptions(tenant);
  if (!subs) {
    return fail(subs.error());
  }
  if (as_json) {
    json::array arr;
    for (const auto& x : *subs) {
      boost::system::error_code ec;
      arr.push_back(json::object{
        {"id", x.id},
        {"status", x.status},
        {"current_period_start", x.period_start_ms > 0
                                   ? json::value(format_rfc3339(x.period_start_ms))
                                   : json::value(nullptr)},
        {"current_period_end",
         x.period_end_ms > 0 ? json::value(format_rfc3339(x.period_end_ms)) : json::value(nullptr)},
        {"price_metadata", json::parse(x.price_metadata, ec)},
        {"product_metadata", json::parse(x.product_metadata, ec)}});
    }
    print_json(arr);
  } else {
    std::printf("%-24s %-10s %-22s %-22s %s\n", "ID", "STATUS", "PERIOD START", "PERIOD END",
                "METADATA (price / product)");
    for (const auto& x : *subs) {
      std::printf("%-24s %-10s %-22s %-22s %s / %s\n", x.id.c_str(), x.status.c_str(),
                  x.period_start_ms > 0 ? format_rfc3339(x.period_start_ms).c_str() : "-",
                  x.period_end_ms > 0 ? format_rfc3339(x.period_end_ms).c_str() : "-",
                  x.price_metadata.c_str(), x.product_metadata.c_str());
    }
  }
  return exit_ok;
}

int quota_reconcile(node& n, const args& a, bool as_json) {
  int64_t start = 0;
  if (auto p = a.option("period")) {
    auto parsed = parse_rfc3339(*p);
    if (!parsed) {
      throw usage_error{"--period: " + describe(parsed.error())};
    }
    start = *parsed;
  }
  auto r = n.reconcile_quota(require(a, "tenant"), start);
  if (!r) {
    return fail(r.error());
  }
  if (as_json) {
    print_json(json::object{{"tenant", r->tenant.value},
                            {"period_start", format_rfc3339(r->period_start_ms)},
                            {"period_end", format_rfc3339(r->period_end_ms)},
                            {"counter", r->counter},
                            {"ledger", r->ledger},
                            {"drift", r->drift}});
  } else {
    std::cout << "tenant:  " << r->tenant.value
              << "\nperiod:  " << format_rfc3339(r->period_start_ms) << " .. "
              << format_rfc3339(r->period_end_ms) << "\ncounter: " << r->counter
              << (r->counter_exists ? "" : " (no counter row)") << "\nledger:  " << r->ledger
              << "\ndrift:   " << r->drift
              << (r->drift == 0 ? " (in agreement)" : " (counter and ledger differ)") << "\n";
  }
  return r->drift == 0 ? exit_ok : exit_failure;
}

int quota_command(node& n, const args& a, bool as_json) {
  const auto& cmd = a.words.size() > 1 ? a.words[1] : std::string{};
  if (cmd == "reconcile") {
    return quota_reconcile(n, a, as_json);
  }
  if (cmd == "scan") {
    auto resumed = n.scan_quota_waits();
    if (!resumed) {
      return fail(resumed.error());
    }
    if (as_json) {
      print_json(json::object{{"resumed", *resumed}});
    } else {
      std::cout << *resumed << " runs resumed from quota waits\n";
    }
    return exit_ok;
  }
  auto q = n.summarize_quota(require(a, "tenant"));
  if (!q) {
    return fail(q.error());
  }
  const auto& p = q->period;
  if (as_json) {
    json::array warnings;
    for (const auto& w : p.warnings) {
      warnings.push_back(json::value(w));
    }
    print_json(json::object{
      {"tenant", q->tenant},
      {"tier", q->tier},
      {"period_start", format_rfc3339(p.start_ms)},
      {"period_end", format_rfc3339(p.end_ms)},
      {"period_source", p.period_source},
      {"limit", p.limit < 0 ? json::value("unlimited") : json::value(p.limit)},
      {"limit_source", p.limit_source},
      {"used", q->used},
      {"remaining", q->remaining < 0 ? json::value("unlimited") : json::value(q->remaining)},
      {"warnings", warnings}});
  } else {
    std::cout << "tenant:    " << q->tenant << " (tier " << q->tier
              << ")\nperiod:    " << format_rfc3339(p.start_ms) << " .. "
              << format_rfc3339(p.end_ms) << " (" << p.period_source << ")\nlimit:     "
              << (p.limit < 0 ? std::string{"unlimited"} : std::to_string(p.limit)) << " ("
              << p.limit_source << ")\nused:      " << q->used << "\nremaining: "
              << (q->remaining < 0 ? std::string{"unlimited"} : std::to_string(q->remaining))
              << "\n";
    for (const auto& w : p.warnings) {
      std::cout << "warning:   " << w << "\n";
    }
  }
  return exit_ok;
}

int replay_command(node& n, const args& a, bool as_json) {
  auto scope = scope_of(a);
  std::vector<int64_t> ids;
  if (a.has_flag("all")) {
    if (a.words.size() > 1) {
      throw usage_error{"give RUN or --all, not both"};
    }
    int64_t after = 0;
    for (;;) {
      auto page = n.list_runs(scope, "", after, 1000);
      if (!page) {
        return fail(page.error());
      }
      if (page->empty()) {
        break;
      }
      for (const auto& r : *page) {
        ids.push_back(r.id.value);
      }
      after = page->back().id.value;
    }
  } else {
    if (a.words.size() < 2) {
      throw usage_error{"replay needs a RUN id or --all"};
    }
    ids.push_back(parse_run_id(a.words[1]));
  }
  int64_t bad = 0;
  json::array reports;
  for (auto id : ids) {
    auto r = n.replay(scope, id);
    if (!r) {
      return fail(r.error());
    }
    bad += r->deterministic ? 0 : 1;
    if (as_json) {
      reports.push_back(json::object{{"run", r->run},
                                     {"tenant", r->tenant},
                                     {"status", r->status},
                                     {"events", r->events},
                                     {"deterministic", r->deterministic},
                                     {"engine_state", r->engine_state},
                                     {"message", r->message}});
    } else {
      std::cout << "run " << r->run << " (" << r->tenant << ", " << r->status << ", " << r->events
                << " events): "
                << (r->deterministic ? "ok, " + r->engine_state
                                     : "NON-DETERMINISTIC: " + r->message)
                << "\n";
    }
  }
  if (as_json) {
    print_json(json::object{
      {"runs", static_cast<int64_t>(ids.size())}, {"nondeterministic", bad}, {"reports", reports}});
  } else {
    std::cout << ids.size() << " runs replayed, " << bad << " non-deterministic\n";
  }
  return bad == 0 ? exit_ok : exit_failure;
}

} // namespace flowgate::cli
