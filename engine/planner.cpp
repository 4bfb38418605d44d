#include "engine/planner.hpp"

#include <boost/json.hpp>

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
  for (bool settled = false, first = true; !settled; first = false) {
    auto d = decide(definition, input, p.history);
    if (first) {
      p.initial_state = d.state;
    }
    p.state = d.state;
    if (!d.node_path.empty()) {
      change.node_path = d.node_path;
    }
    switch (d.state) {
    case run_state::ready: {
      const auto& cmd = *d.next;
      if (ctx.draining &&
          (cmd.kind == command_kind::schedule_activity || cmd.kind == command_kind::start_timer ||
           cmd.kind == command_kind::start_child)) {
        // Handed back: due at once for any node.
        change.release_lease = true;
        change.wake_at_ms = now;
        settled = true;
        break;
      }
      if (!cmd.node_path.empty()) {
        change.node_path = cmd.node_path;
      }
      auto index = next_index(p);
      stage(p, record(cmd, 0, now), ctx);
      inbox_fresh = false;
      switch (cmd.kind) {
      case command_kind::schedule_activity:
      case command_kind::start_child:
        // A child run is the attempt: the driver starts it after the commit.
        p.ledger.push_back({cmd.node_path, cmd.attempt, step_status::started, "", "", index});
        p.dispatch = cmd;
        settled = true;
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
      break;
    }
    case run_state::awaiting_activity: {
      if (ctx.in_flight.count({d.node_path, d.attempt}) != 0) {
        settled = true;
        break;
      }
      auto message = "attempt " + std::to_string(d.attempt) + " of '" + d.node_path +
                     "' was cut off: the node driving the run stopped before recording "
                     "its outcome";
      stage(p,
            fact(event_type::step_cut_off, d.node_path, d.attempt,
                 json::object{{"type", "cut_off"}, {"message", message}, {"retryable", true}}),
            ctx);
      inbox_fresh = false;
      p.ledger.push_back({d.node_path, d.attempt, step_status::cut_off, "cut_off", message, -1});
      break;
    }
    case run_state::awaiting_timer:
      if (d.wake_at_ms <= now) {
        stage(p, fact(event_type::timer_fired, d.node_path, d.attempt, json::object{}), ctx);
        inbox_fresh = false;
        break;
      }
      settled = true;
      if (!ctx.draining && d.wake_at_ms - now <= ctx.hold_timer_ms) {
        p.hold_until_ms = d.wake_at_ms;
        break;
      }
      change.outcome = run_status::waiting;
      change.wait_reason = d.attempt > 0 ? wait_reason::retry : wait_reason::timer;
      change.wake_at_ms = d.wake_at_ms;
      change.release_lease = true;
      change.open_wait = wait_reason::timer;
      break;
    case run_state::awaiting_event:
      settled = true;
      if (!inbox_fresh) {
        // A signal may be waiting in the inbox: read it before deciding to
        // time out or to release the run.
        p.read_inbox = true;
        break;
      }
      if (d.wake_at_ms != 0 && d.wake_at_ms <= now) {
        // The inbox was just read: no signal came in time.
        stage(p, fact(event_type::wait_timed_out, d.node_path, 0, json::object{}), ctx);
        inbox_fresh = false;
        settled = false;
        break;
      }
      change.outcome = run_status::waiting;
      change.wait_reason = wait_reason::event;
      change.wake_at_ms = d.wake_at_ms != 0 ? d.wake_at_ms : never_ms;
      change.release_lease = true;
      change.open_wait = wait_reason::event;
      change.wait_event = d.event;
      break;
    case run_state::awaiting_child:
      // Released without a lease (and so without a permit): the child's
      // end is appended to this history by the transaction that ends it,
      // which makes the run due. The store checks at this commit whether
      // the child already ended.
      settled = true;
      change.outcome = run_status::waiting;
      change.wait_reason = wait_reason::child;
      change.wake_at_ms = never_ms;
      change.release_lease = true;
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

} // namespace flowgate::engine
