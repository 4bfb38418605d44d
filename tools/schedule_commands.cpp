// `flowgate schedule ...`: put, get, list, delete, pause and resume a
// tenant's schedules (FORMATS.md "Schedule").

#include "tools/schedule_commands.hpp"

#include "actors/node.hpp"
#include "config/billing.hpp"
#include "config/json_text.hpp"
#include "tools/cli_common.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <iostream>

namespace flowgate::cli {

namespace json = boost::json;

const char* const schedule_help = R"(Usage:
  flowgate schedule put --tenant T --id ID [FILE|-]   create or replace a schedule
  flowgate schedule get --tenant T --id ID            one schedule, its next fire times
  flowgate schedule list --tenant T                   the tenant's schedules
  flowgate schedule delete --tenant T --id ID         remove it (its runs stay)
  flowgate schedule pause --tenant T --id ID          fire nothing until resumed
  flowgate schedule resume --tenant T --id ID         fire again from now on

A schedule document (FORMATS.md "Schedule"):
  {"queue": "reports", "version": "2", "cron": "0 6 * * 1-5",
   "timezone": "Europe/Berlin", "input": {"kind": "daily"},
   "overlap": "skip", "catch_up": "last", "paused": false}

  queue      required; the queue's pipeline runs at each fire time
  version    optional: pinned; else the queue's runnable version at each fire
  cron       required: minute hour day-of-month month day-of-week, with *,
             lists, ranges, steps, jan-dec, sun-sat, @hourly/@daily/@weekly/
             @monthly/@yearly
  timezone   UTC (default) or an IANA zone; a wall time skipped by a
             daylight-saving change fires once at the end of the gap, a
             repeated one once, at its first occurrence
  input      the run input (default {})
  overlap    skip (default): no run while the previous one is unfinished;
             allow; buffer_one: keep one fire time, run it when the previous
             run finished
  catch_up   after a downtime (fire times more than 60 s old):
             last (default): one run for the newest missed time;
             none: no run for missed times; all: each one, at most 100
  paused     start paused (default false)

Every serving node fires due schedules (every $FLOWGATE_SCHEDULE_POLL_MS, 1000);
each fire time starts at most one run across all nodes: its idempotency key is
schedule:<id>:<fire time in ms>. A fire refused by admission (hard or soft
limit, reject mode) or whose pipeline version cannot be resolved starts no
run; 'schedule get' shows why (last outcome) and counts it as skipped.
Putting a schedule again replaces it and computes its next fire from now.
)";

namespace {

std::string time_or_dash(int64_t ms) {
  return ms > 0 ? format_rfc3339(ms) : std::string{"-"};
}

json::object to_json(const schedule_view& v) {
  const auto& s = v.schedule;
  boost::system::error_code ec;
  json::array upcoming;
  for (auto t : v.upcoming) {
    upcoming.push_back(json::value(format_rfc3339(t)));
  }
  auto time_or_null = [](int64_t ms) {
    return ms > 0 ? json::value(format_rfc3339(ms)) : json::value(nullptr);
  };
  return json::object{{"tenant", s.tenant.value},
                      {"id", s.id},
                      {"document", parse_json(s.document, ec)},
                      {"paused", s.paused},
                      {"revision", s.revision},
                      {"next_fire", time_or_null(s.next_fire_ms)},
                      {"upcoming", std::move(upcoming)},
                      {"buffered_fire", time_or_null(s.buffered_fire_ms)},
                      {"last_fire", time_or_null(s.last_fire_ms)},
                      {"last_run", s.last_run},
                      {"runs_started", s.runs_started},
                      {"fires_skipped", s.fires_skipped},
                      {"last_outcome", s.last_outcome}};
}

void print_view(const schedule_view& v) {
  const auto& s = v.schedule;
  std::cout << "schedule " << s.id << " of tenant " << s.tenant.value
            << (s.paused ? " (paused)" : "") << "\n  document:      " << s.document
            << "\n  revision:      " << s.revision << "\n  next fires:   ";
  if (v.upcoming.empty()) {
    std::cout << " none";
  }
  for (auto t : v.upcoming) {
    std::cout << " " << format_rfc3339(t);
  }
  std::cout << "\n  last fire:     " << time_or_dash(s.last_fire_ms)
            << "\n  last run:      " << (s.last_run > 0 ? std::to_string(s.last_run) : "-")
            << "\n  runs started:  " << s.runs_started << "\n  fires skipped: " << s.fires_skipped;
  if (s.buffered_fire_ms > 0) {
    std::cout << "\n  buffered fire: " << format_rfc3339(s.buffered_fire_ms);
  }
  if (!s.last_outcome.empty()) {
    std::cout << "\n  last outcome:  " << s.last_outcome;
  }
  std::cout << "\n";
}

} // namespace

int schedule_command(gateway_client& n, const args& a, bool as_json) {
  const auto& cmd = a.words[1];
  auto tenant = require(a, "tenant");
  auto show = [&](const caf::expected<schedule_view>& v) {
    if (!v) {
      return fail(v.error());
    }
    if (as_json) {
      print_json(to_json(*v));
    } else {
      print_view(*v);
    }
    return exit_ok;
  };
  if (cmd == "list") {
    auto all = n.list_schedules(tenant);
    if (!all) {
      return fail(all.error());
    }
    if (as_json) {
      json::array arr;
      for (const auto& v : *all) {
        arr.push_back(to_json(v));
      }
      print_json(arr);
      return exit_ok;
    }
    std::printf("%-24s %-8s %-20s %-22s %-10s %s\n", "ID", "STATE", "CRON", "NEXT FIRE", "RUNS",
                "SKIPPED");
    for (const auto& v : *all) {
      const auto& s = v.schedule;
      boost::system::error_code ec;
      auto doc = parse_json(s.document, ec);
      std::string cron;
      if (!ec && doc.is_object() && doc.as_object().contains("cron")) {
        cron = json::value_to<std::string>(doc.as_object().at("cron"));
      }
      std::printf("%-24s %-8s %-20s %-22s %-10lld %lld\n", s.id.c_str(),
                  s.paused ? "paused" : "active", cron.c_str(),
                  time_or_dash(s.next_fire_ms).c_str(), static_cast<long long>(s.runs_started),
                  static_cast<long long>(s.fires_skipped));
    }
    return exit_ok;
  }
  auto id = require(a, "id");
  if (cmd == "put") {
    if (a.words.size() < 3 && !a.option("file")) {
      throw usage_error{"schedule put needs a FILE (or '-' for stdin)"};
    }
    return show(n.put_schedule(tenant, id, read_document(a, 2, "")));
  }
  if (cmd == "get") {
    return show(n.get_schedule(tenant, id));
  }
  if (cmd == "pause" || cmd == "resume") {
    return show(n.pause_schedule(tenant, id, cmd == "pause"));
  }
  auto removed = n.delete_schedule(tenant, id);
  if (!removed) {
    return fail(removed.error());
  }
  if (as_json) {
    print_json(json::object{{"tenant", tenant}, {"id", id}, {"deleted", true}});
  } else {
    std::cout << "schedule " << id << " deleted\n";
  }
  return exit_ok;
}

} // namespace flowgate::cli
