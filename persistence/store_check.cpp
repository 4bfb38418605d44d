#include "persistence/store_check.hpp"

#include "config/billing.hpp"
#include "config/json_text.hpp"
#include "messages/errors.hpp"
#include "persistence/run_store.hpp"

#include <boost/json.hpp>

#include <map>
#include <optional>
#include <queue>
#include <set>
#include <tuple>
#include <unordered_map>

namespace flowgate {

namespace {

constexpr int64_t page_size = 500;

/// Collects findings up to the cap and counts the rest.
struct findings {
  check_report& report;
  int32_t max;

  void add(check_finding f) {
    if (static_cast<int32_t>(report.findings.size()) < max) {
      report.findings.push_back(std::move(f));
    } else {
      report.findings_left_out += 1;
    }
  }

  void run(check_kind kind, const run_record& r, std::string message, int64_t seq = 0,
           std::string step = {}, int32_t attempt = 0) {
    add(check_finding{kind, r.tenant.value, r.id.value, seq, std::move(step), attempt, 0, 0,
                      std::move(message)});
  }
};

std::string run_label(const run_record& r) {
  return "run " + std::to_string(r.id.value);
}

std::string attempt_label(const std::string& path, int32_t attempt) {
  return "'" + path + "' attempt " + std::to_string(attempt);
}

const char* terminal_event_of(run_status s) {
  switch (s) {
  case run_status::completed:
    return "run_completed";
  case run_status::failed:
    return "run_failed";
  case run_status::canceled:
    return "run_canceled";
  default:
    return "";
  }
}

bool is_terminal_event(const std::string& type) {
  return type == "run_completed" || type == "run_failed" || type == "run_canceled";
}

/// The wait kind a WAITING run must have open for its reason; none if it
/// needs none.
wait_reason wait_needed(const run_record& r) {
  if (r.status != run_status::waiting) {
    return wait_reason::none;
  }
  switch (r.wait_reason) {
  case wait_reason::event:
  case wait_reason::timer:
  case wait_reason::nondeterminism:
  case wait_reason::quota:
    return r.wait_reason;
  case wait_reason::retry:
    return wait_reason::timer;
  case wait_reason::resumed:
    return wait_reason::quota;
  default:
    return wait_reason::none;
  }
}

using attempt_key = std::pair<std::string, int32_t>;

void check_run(findings& out, const run_record& r, const std::vector<history_record>& events,
               const std::vector<check_attempt>& attempts, const std::vector<check_wait>& waits) {
  // History numbering.
  for (size_t i = 0; i < events.size(); ++i) {
    auto want = static_cast<int64_t>(i) + 1;
    if (events[i].seq != want) {
      out.run(check_kind::history_gap, r,
              run_label(r) + ": history event " + std::to_string(i + 1) + " has seq " +
                std::to_string(events[i].seq) + " (expected " + std::to_string(want) + ")",
              events[i].seq);
      break;
    }
  }
  auto count = static_cast<int64_t>(events.size());
  if (r.next_seq != count + 1) {
    out.run(check_kind::history_gap, r,
            run_label(r) + ": next_seq is " + std::to_string(r.next_seq) + " but the history has " +
              std::to_string(count) + " events");
  }
  // Terminal events.
  int terminals = 0;
  int64_t terminal_seq = 0;
  std::string terminal_type;
  for (const auto& e : events) {
    if (is_terminal_event(e.type)) {
      terminals += 1;
      terminal_seq = e.seq;
      terminal_type = e.type;
    }
  }
  if (is_terminal(r.status)) {
    std::string want = terminal_event_of(r.status);
    if (terminals != 1) {
      out.run(check_kind::terminal_event, r,
              run_label(r) + " is " + to_string(r.status) + " with " + std::to_string(terminals) +
                " terminal events (expected one " + want + ")",
              terminal_seq);
    } else if (terminal_type != want) {
      out.run(check_kind::terminal_event, r,
              run_label(r) + " is " + to_string(r.status) + " but its terminal event is " +
                terminal_type,
              terminal_seq);
    } else if (terminal_seq != count) {
      out.run(check_kind::terminal_event, r,
              run_label(r) + ": terminal event " + terminal_type + " is event " +
                std::to_string(terminal_seq) + " of " + std::to_string(count) + ", not the last",
              terminal_seq);
    }
  } else if (terminals > 0) {
    out.run(check_kind::terminal_event, r,
            run_label(r) + " is " + to_string(r.status) + " but has a terminal event " +
              terminal_type,
            terminal_seq);
  }
  // Ledger rows against the events that schedule them.
  std::map<attempt_key, int64_t> scheduled; // -> seq
  for (const auto& e : events) {
    if (e.type == "step_scheduled" || e.type == "wait_started") {
      scheduled.emplace(attempt_key{e.node_path, e.attempt}, e.seq);
    } else if (e.type == "timer_started") {
      boost::system::error_code ec;
      auto payload = parse_json(e.payload, ec);
      if (ec || !payload.is_object()) {
        out.run(check_kind::unreadable, r,
                run_label(r) + ": timer_started event " + std::to_string(e.seq) +
                  " has a malformed payload",
                e.seq, e.node_path);
        continue;
      }
      const auto* reason = payload.as_object().if_contains("reason");
      if (reason != nullptr && reason->is_string() && reason->as_string() == "timer") {
        scheduled.emplace(attempt_key{e.node_path, 1}, e.seq);
      }
    }
  }
  std::set<attempt_key> rows;
  std::map<std::string, int32_t> first_completed;
  for (const auto& a : attempts) {
    attempt_key key{a.step_path, a.attempt};
    rows.insert(key);
    if (scheduled.count(key) == 0) {
      out.run(check_kind::ledger_without_event, r,
              run_label(r) + ": ledger row " + attempt_label(a.step_path, a.attempt) + " (" +
                to_string(a.status) + ") has no event that schedules it",
              0, a.step_path, a.attempt);
    }
    if (a.status == step_status::completed) {
      auto [it, fresh] = first_completed.emplace(a.step_path, a.attempt);
      if (!fresh && a.attempt < it->second) {
        it->second = a.attempt;
      }
    }
  }
  for (const auto& [key, seq] : scheduled) {
    if (rows.count(key) == 0) {
      out.run(check_kind::event_without_ledger, r,
              run_label(r) + ": event " + std::to_string(seq) + " schedules " +
                attempt_label(key.first, key.second) + ", which has no ledger row",
              seq, key.first, key.second);
    }
  }
  for (const auto& a : attempts) {
    auto it = first_completed.find(a.step_path);
    if (it != first_completed.end() && a.attempt > it->second) {
      out.run(check_kind::attempt_after_completion, r,
              run_label(r) + ": " + attempt_label(a.step_path, a.attempt) +
                " exists although attempt " + std::to_string(it->second) + " completed",
              0, a.step_path, a.attempt);
    }
  }
  // Open waits against the run's state.
  if (is_terminal(r.status)) {
    for (const auto& w : waits) {
      out.run(check_kind::wait_mismatch, r,
              run_label(r) + " is " + to_string(r.status) + " but has an open " +
                to_string(w.kind) + " wait at '" + w.node_path + "'",
              0, w.node_path);
    }
  } else if (auto need = wait_needed(r); need != wait_reason::none) {
    bool found = false;
    for (const auto& w : waits) {
      found = found || w.kind == need;
    }
    if (!found) {
      out.run(check_kind::wait_mismatch, r,
              run_label(r) + " is WAITING (" + to_string(r.wait_reason) + ") with no open " +
                to_string(need) + " wait",
              0, r.node_path);
    }
  }
}

/// Per-run slices of a page's rows (each vector is ordered by run).
template <class T, class RunOf>
std::vector<T> take_run(const std::vector<T>& all, size_t& pos, int64_t run, RunOf run_of) {
  std::vector<T> out;
  while (pos < all.size() && run_of(all[pos]) < run) {
    ++pos;
  }
  while (pos < all.size() && run_of(all[pos]) == run) {
    out.push_back(all[pos]);
    ++pos;
  }
  return out;
}

using node_map = std::map<std::string, node_record>;

/// A RUNNING run's live lease must be held by its owner's live
/// registration.
void check_lease(findings& out, const run_record& r, const node_map& nodes, int64_t now_ms) {
  if (r.status != run_status::running || r.lease_owner.empty() || r.lease_expires_at_ms <= now_ms) {
    return;
  }
  auto it = nodes.find(r.lease_owner);
  std::string why;
  if (it == nodes.end()) {
    why = "which is not registered";
  } else if (it->second.incarnation != r.lease_incarnation) {
    why = "in incarnation " + std::to_string(r.lease_incarnation) +
          ", but the registration is incarnation " + std::to_string(it->second.incarnation);
  } else if (!it->second.live) {
    why = it->second.stopped_at_ms != 0 ? "which is stopped" : "whose heartbeat expired";
  } else {
    return;
  }
  out.run(check_kind::lease_of_dead_node, r,
          run_label(r) + " has a live lease (epoch " + std::to_string(r.epoch) + ", " +
            std::to_string(r.lease_expires_at_ms - now_ms) + " ms left) held by node '" +
            r.lease_owner + "' " + why);
}

caf::error check_runs(check_source& source, const check_database& q, const node_map& nodes,
                      check_report& report, findings& out) {
  int64_t after = 0;
  for (;;) {
    auto page = source.runs_page(q.tenant.value, after, page_size);
    if (!page) {
      return page.error();
    }
    if (page->empty()) {
      return {};
    }
    auto first = page->front().id.value;
    auto last = page->back().id.value;
    auto events = source.events_of(q.tenant.value, first, last);
    if (!events) {
      return events.error();
    }
    auto attempts = source.attempts_of(q.tenant.value, first, last);
    if (!attempts) {
      return attempts.error();
    }
    auto waits = source.open_waits_of(q.tenant.value, first, last);
    if (!waits) {
      return waits.error();
    }
    size_t ep = 0;
    size_t ap = 0;
    size_t wp = 0;
    for (const auto& r : *page) {
      auto run_events =
        take_run(*events, ep, r.id.value, [](const auto& x) -> int64_t { return x.first; });
      std::vector<history_record> history;
      history.reserve(run_events.size());
      for (auto& [run, e] : run_events) {
        history.push_back(std::move(e));
      }
      auto run_attempts =
        take_run(*attempts, ap, r.id.value, [](const check_attempt& x) { return x.run; });
      auto run_waits = take_run(*waits, wp, r.id.value, [](const check_wait& x) { return x.run; });
      check_run(out, r, history, run_attempts, run_waits);
      check_lease(out, r, nodes, q.now_ms);
      report.runs += 1;
      report.events += static_cast<int64_t>(history.size());
      report.attempts += static_cast<int64_t>(run_attempts.size());
    }
    after = last;
  }
}

caf::error check_periods(check_source& source, const check_database& q, check_report& report,
                         findings& out) {
  auto periods = source.periods(q.tenant.value);
  if (!periods) {
    return periods.error();
  }
  for (const auto& p : *periods) {
    report.periods += 1;
    auto span = format_rfc3339(p.period_start_ms) + " .. " + format_rfc3339(p.period_end_ms);
    if (!p.has_counter) {
      out.add(check_finding{check_kind::usage_mismatch, p.tenant, 0, 0, "", 0, p.period_start_ms,
                            p.period_end_ms,
                            "tenant '" + p.tenant + "' period " + span + ": " +
                              std::to_string(p.ledger) + " ledger rows but no usage counter"});
    } else if (p.counter != p.ledger) {
      out.add(check_finding{
        check_kind::usage_mismatch, p.tenant, 0, 0, "", 0, p.period_start_ms, p.period_end_ms,
        "tenant '" + p.tenant + "' period " + span + ": usage counter " +
          std::to_string(p.counter) + " but " + std::to_string(p.ledger) + " ledger rows"});
    }
  }
  return {};
}

/// The most runs of one tenant with an attempt open at once.
struct limit_sweep {
  std::string tenant;
  int64_t limit = 0;
  // Ends (a min-heap) leave before a start at the same time; a run counts
  // while any of its attempts is open.
  std::priority_queue<std::pair<int64_t, int64_t>, std::vector<std::pair<int64_t, int64_t>>,
                      std::greater<>>
    ends;
  std::unordered_map<int64_t, int32_t> open_per_run;
  int64_t open_runs = 0;
  int64_t worst = 0;
  int64_t worst_at = 0;
  int64_t worst_for_ms = 0;

  void add(const check_interval& x) {
    while (!ends.empty() && ends.top().first <= x.started_at_ms) {
      auto run = ends.top().second;
      ends.pop();
      if (--open_per_run[run] == 0) {
        open_per_run.erase(run);
        open_runs -= 1;
      }
    }
    if (x.ended_at_ms <= x.started_at_ms) {
      return;
    }
    ends.emplace(x.ended_at_ms, x.run);
    if (open_per_run[x.run]++ == 0) {
      open_runs += 1;
      if (open_runs > worst) {
        worst = open_runs;
        worst_at = x.started_at_ms;
        // Until the first of the open attempts ends, at least.
        worst_for_ms = ends.top().first - x.started_at_ms;
      }
    }
  }

  void report(findings& out) const {
    if (limit > 0 && worst > limit) {
      out.add(check_finding{check_kind::over_limit, tenant, 0, 0, "", 0, 0, 0,
                            "tenant '" + tenant + "' had " + std::to_string(worst) +
                              " runs with a step attempt open at " + format_rfc3339(worst_at) +
                              " (for at least " + std::to_string(worst_for_ms) +
                              " ms), above its concurrency limit " + std::to_string(limit)});
    }
  }
};

caf::error check_limits(check_source& source, const check_database& q, check_report& report,
                        findings& out) {
  auto tenants = source.tenants(q.tenant.value);
  if (!tenants) {
    return tenants.error();
  }
  std::unordered_map<std::string, int64_t> limits;
  for (const auto& [tenant, text] : *tenants) {
    report.tenants += 1;
    auto terms = run_store::terms_of(tenant, text, q.default_limit);
    if (!terms) {
      out.add(
        check_finding{check_kind::unreadable, tenant, 0, 0, "", 0, 0, 0, describe(terms.error())});
      continue;
    }
    limits[tenant] = terms->max_running;
  }
  std::optional<limit_sweep> sweep;
  auto err = source.intervals(q.tenant.value, q.now_ms, [&](const check_interval& x) {
    if (!sweep || sweep->tenant != x.tenant) {
      if (sweep) {
        sweep->report(out);
      }
      sweep.emplace();
      sweep->tenant = x.tenant;
      auto it = limits.find(x.tenant);
      sweep->limit = it == limits.end() ? 0 : it->second;
    }
    if (sweep->limit > 0) {
      sweep->add(x);
    }
  });
  if (err) {
    return err;
  }
  if (sweep) {
    sweep->report(out);
  }
  return {};
}

} // namespace

caf::expected<check_report> check_store(check_source& source, const check_database& q) {
  check_report report;
  report.tenant = q.tenant.value;
  report.checked_at_ms = q.now_ms;
  findings out{report, std::max(q.max_findings, 0)};
  auto nodes = source.nodes(q.now_ms);
  if (!nodes) {
    return nodes.error();
  }
  node_map by_id;
  for (auto& n : *nodes) {
    by_id.emplace(n.node.value, n);
  }
  if (auto err = check_runs(source, q, by_id, report, out)) {
    return err;
  }
  if (auto err = check_periods(source, q, report, out)) {
    return err;
  }
  if (auto err = check_limits(source, q, report, out)) {
    return err;
  }
  return report;
}

} // namespace flowgate
