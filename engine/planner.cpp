#include "engine/planner.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <limits>

namespace flowgate::engine {

namespace {

namespace json = boost::json;

constexpr int64_t never_ms = std::numeric_limits<int64_t>::max();

/// Appends an event to the plan and to the working history.
void stage(step_plan& p, event e, const plan_context& ctx) {
  e.seq = ctx.next_seq + static_cast<int64_t>(p.events.size());
  p.events.push_back(e);
  p.history.push_back(std::move(e));
}

/// The index the next staged event will have.
int32_t next_index(const step_plan& p) {
  return static_cast<int32_t>(p.events.size());
}

event fact(event_type type, const std::string& path, int32_t attempt, json::value payload) {
  event e;
  e.type = type;
  e.node_path = path;
  e.attempt = attempt;
  e.payload = std::move(payload);
  return e;
}

using attempt_set = std::set<std::pair<std::string, int32_t>>;

/// Nothing is ready: records what the history lacks for the waiting
/// branches (cut-off attempts, due timers, timed-out waits) and returns
/// false to decide again, or settles the run's transition and returns true.
bool settle_awaits(step_plan& p, const std::vector<await_point>& awaits, const plan_context& ctx,
                   const attempt_set& in_flight, bool& inbox_fresh) {
  auto now = ctx.now_ms;
  auto& change = p.change;
  bool progress = false;
  bool running = false;
  bool has_event = false;
  bool has_child = false;
  const await_point* earliest = nullptr;
  const await_point* first_event = nullptr;
  int64_t wake = never_ms;
  for (const auto& a : awaits) {
    switch (a.state) {
    case run_state::awaiting_activity: {
      if (in_flight.count({a.node_path, a.attempt}) != 0) {
        running = true;
        break;
      }
      auto message = "attempt " + std::to_string(a.attempt) + " of '" + a.node_path +
                     "' was cut off: the node driving the run stopped before recording "
                     "its outcome";
      stage(p,
            fact(event_type::step_cut_off, a.node_path, a.attempt,
                 json::object{{"type", "cut_off"}, {"message", message}, {"retryable", true}}),
            ctx);
      p.ledger.push_back({a.node_path, a.attempt, step_status::cut_off, "cut_off", message, -1});
      progress = true;
      break;
    }
    case run_state::awaiting_timer:
      if (a.wake_at_ms <= now) {
        stage(p, fact(event_type::timer_fired, a.node_path, a.attempt, json::object{}), ctx);
        progress = true;
      } else if (a.wake_at_ms < wake) {
        wake = a.wake_at_ms;
        earliest = &a;
      }
      break;
    case run_state::awaiting_event:
      has_event = true;
      first_event = first_event != nullptr ? first_event : &a;
      if (a.wake_at_ms != 0 && a.wake_at_ms <= now && inbox_fresh) {
        // The inbox was just read: no signal came in time.
        stage(p, fact(event_type::wait_timed_out, a.node_path, 0, json::object{}), ctx);
        progress = true;
      } else if (a.wake_at_ms != 0 && a.wake_at_ms < wake) {
        wake = a.wake_at_ms;
        earliest = &a;
      }
      break;
    case run_state::awaiting_child:
      has_child = true;
      break;
    default:
      break;
    }
  }
  if (progress) {
    inbox_fresh = false;
    return false;
  }
  if (has_event && !inbox_fresh) {
    // A signal may be waiting in the inbox: read it before deciding to
    // time out or to release the run.
    p.read_inbox = true;
    return true;
  }
  if (running) {
    // Attempts in flight keep the lease: timers and wait timeouts of other
    // branches are held meanwhile, signals read with each commit.
    p.hold_until_ms = wake != never_ms ? wake : 0;
    return true;
  }
  if (has_event) {
    // (A child of another branch that ends appends its end and wakes the
    // run as for a child wait.)
    change.outcome = run_status::waiting;
    change.wait_reason = wait_reason::event;
    change.node_path = first_event->node_path;
    change.wake_at_ms = wake;
    change.release_lease = true;
    change.open_wait = wait_reason::event;
    change.wait_event = first_event->event;
    return true;
  }
  if (has_child) {
    // Released without a lease (and so without a permit): a child's end is
    // appended to this history by the transaction that ends it, which
    // makes the run due. The store checks at this commit whether a child
    // already ended. Other branches' timers wake it too.
    change.outcome = run_status::waiting;
    change.wait_reason = wait_reason::child;
    change.wake_at_ms = wake;
    change.release_lease = true;
    return true;
  }
  if (earliest == nullptr) {
    return true;
  }
  if (!ctx.draining && wake - now <= ctx.hold_timer_ms) {
    p.hold_until_ms = wake;
    return true;
  }
  change.outcome = run_status::waiting;
  change.wait_reason = earliest->attempt > 0 ? wait_reason::retry : wait_reason::timer;
  change.node_path = earliest->node_path;
  change.wake_at_ms = wake;
  change.release_lease = true;
  change.open_wait = wait_reason::timer;
  return true;
}

} // namespace

bool run_transition::is_leaving() const {
  return release_lease || outcome == run_status::completed || outcome == run_status::failed ||
         outcome == run_status::canceled;
}

bool step_plan::is_empty() const {
  return events.empty() && ledger.empty() && !change.is_leaving() && !read_inbox;
}

step_plan plan(const pipeline& definition, const json::value& input, std::vector<event> history,
               const plan_context& ctx) {
  step_plan p;
  p.history = std::move(history);
  auto& change = p.change;
  change.node_path = ctx.node_path;
  auto now = ctx.now_ms;
  bool inbox_fresh = ctx.inbox_fresh;
  // Attempts in flight: the driver's, and those this plan dispatches.
  auto in_flight = ctx.in_flight;
  for (bool settled = false, first = true; !settled; first = false) {
    auto d = decide(definition, input, p.history, ctx.cache);
    if (first) {
      p.initial_state = d.state;
    }
    p.state = d.state;
    if (!d.node_path.empty()) {
      change.node_path = d.node_path;
    }
    switch (d.state) {
    case run_state::ready: {
      bool starts = std::any_of(d.commands.begin(), d.commands.end(), [](const command& c) {
        return c.kind == command_kind::schedule_activity || c.kind == command_kind::start_timer ||
               c.kind == command_kind::start_child;
      });
      if (ctx.draining && starts) {
        // Nothing new starts while draining: the run is handed back (due
        // at once for any node) once no attempt of it is in flight here.
        settled = true;
        if (in_flight.empty()) {
          change.release_lease = true;
          change.wake_at_ms = now;
        }
        break;
      }
      if (!d.commands.front().node_path.empty()) {
        change.node_path = d.commands.front().node_path;
      }
      for (const auto& cmd : d.commands) {
        auto index = next_index(p);
        stage(p, record(cmd, 0, now), ctx);
        inbox_fresh = false;
        switch (cmd.kind) {
        case command_kind::schedule_activity:
        case command_kind::start_child:
          // A child run is the attempt: the driver starts it after the commit.
          p.ledger.push_back({cmd.node_path, cmd.attempt, step_status::started, "", "", index});
          p.dispatches.push_back(cmd);
          in_flight.emplace(cmd.node_path, cmd.attempt);
          break;
        case command_kind::start_wait:
          // Entering a wait is a step attempt of its own.
          p.ledger.push_back({cmd.node_path, cmd.attempt, step_status::started, "", "", index});
          p.ledger.push_back({cmd.node_path, cmd.attempt, step_status::completed, "", "", -1});
          break;
        case command_kind::start_timer:
          if (cmd.reason == "timer") {
            // Entering a timer wait is a step attempt too (its event has
            // attempt 0, its ledger row attempt 1); a retry's backoff is not.
            p.ledger.push_back({cmd.node_path, 1, step_status::started, "", "", index});
            p.ledger.push_back({cmd.node_path, 1, step_status::completed, "", "", -1});
          }
          break;
        case command_kind::complete_run:
          change.outcome = run_status::completed;
          change.output = json::serialize(cmd.output);
          settled = true;
          break;
        case command_kind::fail_run:
          change.outcome = run_status::failed;
          change.error_type = cmd.error_type;
          change.error_message = cmd.error_message;
          settled = true;
          break;
        }
      }
      break;
    }
    case run_state::awaiting_activity:
    case run_state::awaiting_timer:
    case run_state::awaiting_event:
    case run_state::awaiting_child:
      settled = settle_awaits(p, d.awaits, ctx, in_flight, inbox_fresh);
      break;
    case run_state::completed:
    case run_state::failed:
      change.outcome = d.state == run_state::completed ? run_status::completed : run_status::failed;
      change.output = d.state == run_state::completed ? json::serialize(d.output) : "";
      change.error_type = d.error_type;
      change.error_message = d.error_message;
      settled = true;
      break;
    case run_state::canceled:
      change.outcome = run_status::canceled;
      change.error_type = "canceled";
      change.error_message = d.error_message.empty() ? "canceled" : d.error_message;
      settled = true;
      break;
    case run_state::nondeterministic:
      p.conflict = d.conflict;
      if (ctx.hold_on_nondeterminism) {
        change.outcome = run_status::waiting;
        change.wait_reason = wait_reason::nondeterminism;
        change.wake_at_ms = never_ms;
        change.release_lease = true;
        change.open_wait = wait_reason::nondeterminism;
      } else {
        change.outcome = run_status::failed;
      }
      change.error_type = "nondeterminism";
      change.error_message = describe(d.conflict);
      settled = true;
      break;
    }
  }
  return p;
}

std::optional<step_plan> first_step_plan(const pipeline& definition, const json::value& input,
                                         int64_t now_ms) {
  plan_context ctx;
  ctx.next_seq = 2;
  ctx.now_ms = now_ms;
  auto p = plan(definition, input, {event{1, event_type::run_started, "", 0, input}}, ctx);
  if (p.dispatches.size() == 1 && p.events.size() == 1 && !p.change.is_leaving() && !p.read_inbox &&
      p.hold_until_ms == 0 && !p.conflict) {
    return p;
  }
  return std::nullopt;
}

} // namespace flowgate::engine
