// `flowgate run ...` and `flowgate replay`: runs as a tenant (or, with
// --all-tenants, an operator) sees them.

#include "tools/run_commands.hpp"

#include "actors/node.hpp"
#include "api/views.hpp"
#include "config/billing.hpp"
#include "config/json_text.hpp"
#include "tools/cli_common.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cstdio>
#include <iostream>

namespace flowgate::cli {

namespace json = boost::json;

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
Statuses: PENDING RUNNING WAITING COMPLETED FAILED CANCELED (--status takes
any case).
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

namespace {

/// `--status S` (any case); absent or blank: any status.
caf::optional<run_status> status_filter(const args& a) {
  auto text = a.option("status").value_or("");
  if (text.empty()) {
    return caf::none;
  }
  auto status = run_status_from_any_case(text);
  if (!status) {
    throw usage_error{"--status '" + text +
                      "' must be PENDING, RUNNING, WAITING, COMPLETED, FAILED or CANCELED"};
  }
  return *status;
}

void print_run(const run_record& r) {
  std::cout << "run:      " << r.id.value << "\ntenant:   " << r.tenant.value
            << "\nqueue:    " << r.queue.value << "\nconfig:   " << r.config_tenant.value << "/"
            << r.queue.value << " version " << r.version.value << " (" << r.checksum.substr(0, 19)
            << ")\nstatus:   " << r.status
            << (r.wait_reason == wait_reason::none
                  ? std::string{}
                  : std::string{" (waiting: "} + to_string(r.wait_reason) + ")")
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
    print_json(views::run(*r));
  } else {
    print_run(*r);
  }
  return exit_ok;
}

} // namespace

tenant_scope scope_of(const args& a) {
  if (a.has_flag("all-tenants")) {
    if (a.option("tenant")) {
      throw usage_error{"give --tenant or --all-tenants, not both"};
    }
    return tenant_scope::all_tenants();
  }
  return tenant_scope{a.option("tenant").value_or("")};
}

int run_command(gateway_client& n, const args& a, bool as_json) {
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
    // Given but empty (--input '', an empty file) is refused, not taken as
    // null: the API's empty text means "no input".
    if (input.find_first_not_of(" \t\r\n") == std::string::npos) {
      return fail(
        parse_json_document(input, a.option("input-file")
                                     ? "run input (--input-file " + *a.option("input-file") + ")"
                                     : std::string{"run input (--input)"})
          .error());
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
      auto o = views::run(created->run);
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
    auto runs = n.list_runs(tenant, status_filter(a), after, limit);
    if (!runs) {
      return fail(runs.error());
    }
    if (as_json) {
      print_json(views::runs(*runs));
    } else {
      std::printf("%-8s %-24s %-16s %-8s %-10s %-20s %s\n", "RUN", "TENANT", "QUEUE", "VERSION",
                  "STATUS", "NODE", "CREATED");
      for (const auto& r : *runs) {
        std::printf("%-8lld %-24s %-16s %-8s %-10s %-20s %s\n", static_cast<long long>(r.id.value),
                    r.tenant.value.c_str(), r.queue.value.c_str(), r.version.value.c_str(),
                    to_string(r.status), r.node_path.empty() ? "-" : r.node_path.c_str(),
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
      print_json(views::history(*events));
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
    auto payload = a.option("payload").value_or("null");
    if (payload.find_first_not_of(" \t\r\n") == std::string::npos) {
      return fail(parse_json_document(payload, "signal payload (--payload)").error());
    }
    auto sent = n.signal_run(tenant, id, require(a, "event"), payload);
    if (!sent) {
      return fail(sent.error());
    }
    if (as_json) {
      print_json(views::signal(id, *sent));
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
      print_json(views::cancel(*c));
    } else if (c->canceled_now) {
      std::cout << "run " << id << " canceled\n";
    } else {
      std::cout << "run " << id << " is being driven by " << c->run.lease_owner
                << "; the cancellation is in its inbox: that node cancels the run when it "
                   "reads it (at once when told by the node that took it, else at its next "
                   "step)\n";
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
        print_json(views::resume(id, *r));
      } else {
        std::cout << "run " << id << " resumed: a node continues it at its next poll\n";
      }
      return exit_ok;
    }
    const auto& x = r->exhausted;
    auto limit = x.limit < 0 ? std::string{"unlimited"} : std::to_string(x.limit);
    if (as_json) {
      print_json(views::resume(id, *r));
      return exit_failure;
    }
    return fail("tenant '" + x.tenant.value + "' has used " + std::to_string(x.used) + " of " +
                limit + " step attempts in its period " + format_rfc3339(x.period_start_ms) +
                " .. " + format_rfc3339(x.period_end_ms) + "; run " + std::to_string(id) +
                " stays paused at '" + x.node_path + "' [quota_exhausted]");
  }
  throw std::logic_error("run command '" + cmd + "' is in the table but not handled");
}

int replay_command(gateway_client& n, const args& a, bool as_json) {
  auto scope = scope_of(a);
  std::vector<int64_t> ids;
  if (a.has_flag("all")) {
    if (a.words.size() > 1) {
      throw usage_error{"give RUN or --all, not both"};
    }
    int64_t after = 0;
    for (;;) {
      auto page = n.list_runs(scope, caf::none, after, 1000);
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
                                     {"status", to_string(r->status)},
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
