// `flowgate check`: verifies the stored invariants (persistence/store_check.hpp)
// and lists each finding with what it concerns.

#include "tools/check_commands.hpp"

#include "actors/node.hpp"
#include "tools/cli_common.hpp"

#include <boost/json.hpp>

#include <iostream>

namespace flowgate::cli {

namespace json = boost::json;

const char* const check_help =
  R"(Usage: flowgate check [--tenant T | --all-tenants] [--max-findings N] [--json]

Verifies the invariants flowgate promises, on the whole database (an
operator command, like 'db info'; --all-tenants says so explicitly) or on
one tenant's data with --tenant:
  history_gap               history seq numbers are 1..n and next_seq is n+1
  terminal_event            a finished run has exactly one terminal event, the
                            last, matching its status; an unfinished run none
  ledger_without_event,     every ledger row (step attempt) has the event that
  event_without_ledger      schedules it, and every such event its row
  attempt_after_completion  no attempt of a step after one that completed
  usage_mismatch            each usage counter == its (tenant, period) ledger rows
  lease_of_dead_node        a live lease is held by a live registration
  over_limit                a tenant's runs with an attempt open at once, from
                            the ledger's attempt intervals, never above its
                            concurrency limit (as configured now)
  wait_mismatch             open waits match the run's status and wait reason
  unreadable                a row this version cannot read
Each finding names its run, seq, step, tenant or period. At most
--max-findings (default 1000) are listed; the rest are counted.
It reads one consistent snapshot and writes nothing; it may run beside
serving nodes. Exit status: 0 clean, 1 with findings (or on failure).
)";

int check_command(gateway_client& n, const args& a, bool as_json) {
  if (a.words.size() > 1) {
    throw usage_error{"check takes no arguments (did you mean --tenant " + a.words[1] + "?)"};
  }
  auto tenant = a.option("tenant");
  if (tenant && a.has_flag("all-tenants")) {
    throw usage_error{"give --tenant T or --all-tenants (the default), not both"};
  }
  auto scope = tenant ? tenant_scope{*tenant} : tenant_scope::all_tenants();
  auto max = static_cast<int32_t>(int_option(a, "max-findings", 1000, 0, 1'000'000));
  auto report = n.check(scope, max);
  if (!report) {
    return fail(report.error());
  }
  auto total = static_cast<int64_t>(report->findings.size()) + report->findings_left_out;
  if (as_json) {
    json::array findings;
    for (const auto& f : report->findings) {
      json::object o{{"kind", to_string(f.kind)}, {"message", f.message}};
      if (!f.tenant.empty()) {
        o["tenant"] = f.tenant;
      }
      if (f.run != 0) {
        o["run"] = f.run;
      }
      if (f.seq != 0) {
        o["seq"] = f.seq;
      }
      if (!f.step.empty()) {
        o["step"] = f.step;
        o["attempt"] = f.attempt;
      }
      if (f.period_end_ms != 0) {
        o["period_start"] = format_time(f.period_start_ms);
        o["period_end"] = format_time(f.period_end_ms);
      }
      findings.push_back(std::move(o));
    }
    print_json(json::object{{"tenant", report->tenant},
                            {"clean", total == 0},
                            {"runs", report->runs},
                            {"events", report->events},
                            {"attempts", report->attempts},
                            {"periods", report->periods},
                            {"tenants", report->tenants},
                            {"findings", findings},
                            {"findings_left_out", report->findings_left_out}});
  } else {
    for (const auto& f : report->findings) {
      std::cout << to_string(f.kind) << ": " << f.message << "\n";
    }
    if (report->findings_left_out > 0) {
      std::cout << "... and " << report->findings_left_out << " more findings\n";
    }
    std::cout << "checked " << report->runs << " runs, " << report->events << " events, "
              << report->attempts << " step attempts, " << report->periods << " usage periods, "
              << report->tenants << " tenants"
              << (report->tenant.empty() ? "" : " (tenant '" + report->tenant + "')") << ": "
              << (total == 0 ? std::string{"clean"} : std::to_string(total) + " findings") << "\n";
  }
  return total == 0 ? exit_ok : exit_failure;
}

} // namespace flowgate::cli
