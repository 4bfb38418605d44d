#include "actors/orchestrator.hpp"

#include "actors/log.hpp"
#include "actors/quota_accountant.hpp"
#include "actors/quota_pause.hpp"
#include "actors/run_codec.hpp"
#include "actors/wall_clock.hpp"
#include "config/billing.hpp"
#include "config/json_text.hpp"
#include "config/pipeline.hpp"
#include "engine/engine.hpp"
#include "engine/planner.hpp"
#include "messages/errors.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <functional>
#include <limits>
#include <memory>
#include <set>

namespace flowgate {

namespace {

namespace json = boost::json;
using engine::command_kind;
using engine::event_type;
using engine::run_state;

constexpr int64_t never_ms = std::numeric_limits<int64_t>::max();
/// How often an append the store refused as busy is sent again.
constexpr int max_busy_retries = 5;

struct orchestrator_state {
  // Declared so the state is no aggregate: CAF would try to build it from `self`.
  orchestrator_state() = default;

  orchestrator_setup setup;
  /// It became `running` (`start_running`).
  bool started = false;
  json::value input;
  std::vector<engine::event> history;
  /// The stored history's next sequence number.
  int64_t next_seq = 1;
  std::string tenant_config = "{}";
  std::string node_path;
  /// Events and ledger changes to write with the next append.
  std::vector<history_record> staged_events;
  std::vector<step_change> staged_steps;
  /// Attempts started here whose outcome is not recorded yet (any other
  /// attempt without an outcome was cut off).
  std::set<std::pair<std::string, int32_t>> dispatched;
  /// True right after an append that took the inbox, before new local events.
  bool inbox_fresh = false;
  /// Told that the inbox has news (`inbox_atom`): the next decision
  /// appends (which takes the inbox) even if the plan has nothing to write.
  bool inbox_news = false;
  /// An append is in flight (or its quota terms are being asked for).
  bool writing = false;
  /// Outcomes that arrived while an append was in flight.
  std::vector<engine::event> arrived;
  /// What the engine's walks of this history can reuse (engine.hpp).
  engine::walk_cache cache;
  /// When the pending wake-up is due (0 = none).
  int64_t wake_at_ms = 0;
  bool resolve_waits = true;
  bool draining = false;
  bool done = false;
  quota_terms terms;
  int64_t terms_at_ms = 0;
  static inline const char* name = "flowgate.orchestrator";
};

using orchestrator_pointer = orchestrator_actor::stateful_pointer<orchestrator_state>;

log_fields run_fields(orchestrator_pointer self) {
  const auto& r = self->state.setup.run;
  return {{"tenant", r.tenant.value}, {"run", std::to_string(r.id.value)}};
}

/// Leaves the run to the dispatcher and exits.
void finish(orchestrator_pointer self, done_reason why) {
  auto& st = self->state;
  if (st.done) {
    return;
  }
  st.done = true;
  if (!st.dispatched.empty()) {
    // Their outcomes will not be recorded here: the pool asks them to stop.
    self->send(st.setup.pool, cancel_atom::value, st.setup.run.id);
  }
  self->send(st.setup.dispatcher, done_atom::value, st.setup.run.id, why);
  self->quit();
}

/// Stops after a failure that is not the run's own: the lease is left to
/// expire (or was lost), and the run is replayed from the store later.
void abandon(orchestrator_pointer self, const caf::error& err, const char* during) {
  auto& st = self->state;
  auto fields = run_fields(self);
  if (code_of(err) == errc::lease_lost) {
    // Fencing at work: the store refused this node's write because the
    // run's lease moved on. Operators see it happen.
    fields.emplace_back("owner", st.setup.node.value);
    fields.emplace_back("incarnation", std::to_string(st.setup.incarnation));
    fields.emplace_back("epoch", std::to_string(st.setup.run.epoch));
    fields.emplace_back("error", describe(err));
    log_line("warn", std::string{"stale write refused (lease lost) while "} + during, fields);
  } else {
    fields.emplace_back("error", self->home_system().render(err));
    log_line("warn", std::string{"orchestrator stops: "} + during, fields);
  }
  finish(self, code_of(err) == errc::lease_lost ? done_reason::lost : done_reason::abandoned);
  (void)st;
}

void advance(orchestrator_pointer self);

/// A wake-up at `at_ms` (a held timer), unless one is due by then already:
/// every commit of a fan-out may ask for the same one.
void wake_at(orchestrator_pointer self, int64_t at_ms) {
  auto& st = self->state;
  if (st.wake_at_ms != 0 && st.wake_at_ms <= at_ms) {
    return;
  }
  st.wake_at_ms = at_ms;
  auto delay = std::max<int64_t>(at_ms - wall_clock_ms(self->home_system()), 0);
  self->delayed_send(self, std::chrono::milliseconds{delay}, wake_atom::value);
}

// -- states ----------------------------------------------------------------------
// The orchestrator's phases are its behaviours; each says what a wake-up, a
// lost lease and a drain mean in that phase.

/// The dispatcher could not renew the lease and no append is in flight to
/// decide: the lease is gone, the run is another node's.
void stop_as_lost(orchestrator_pointer self, lease_epoch epoch) {
  if (epoch != self->state.setup.run.epoch || self->state.done) {
    return;
  }
  auto fields = run_fields(self);
  fields.emplace_back("epoch", std::to_string(epoch));
  log_line("warn", "lease lost", fields);
  finish(self, done_reason::lost);
}

/// Loading the snapshot, the tenant and the history: a drain is noted for
/// the first decision.
orchestrator_actor::behavior_type loading(orchestrator_pointer self) {
  return {
    [=](wake_atom) {},
    [=](lost_atom, lease_epoch epoch) { stop_as_lost(self, epoch); },
    [=](drain_atom) { self->state.draining = true; },
    [=](inbox_atom) { self->state.inbox_news = true; },
  };
}

/// Running: a due held timer or a drain decides again, unless an append is
/// in flight (its answer decides next). A lost lease stops the run at once,
/// except while an append is in flight: the store decides it then (it
/// refuses the append under a lost lease; a last append that released the
/// lease is what made the renewal miss). Attempts in flight do not block
/// anything: their outcomes arrive as they come.
orchestrator_actor::behavior_type running(orchestrator_pointer self) {
  return {
    [=](wake_atom) {
      self->state.wake_at_ms = 0;
      if (!self->state.writing) {
        advance(self);
      }
    },
    [=](lost_atom, lease_epoch epoch) {
      if (!self->state.writing) {
        stop_as_lost(self, epoch);
      }
    },
    [=](drain_atom) {
      self->state.draining = true;
      if (!self->state.writing) {
        advance(self);
      }
    },
    [=](inbox_atom) {
      // A signal or cancellation was stored for this run (by any node):
      // take it now, not when the attempt in flight reports.
      self->state.inbox_news = true;
      self->state.inbox_fresh = false;
      if (!self->state.writing) {
        advance(self);
      }
    },
  };
}

/// Records an attempt's outcome (a fact from outside the engine) in the
/// local history and the next append. While an append is in flight the
/// event waits for its answer (the inbox it brings is numbered first).
void record_outcome(orchestrator_pointer self, engine::event e) {
  auto& st = self->state;
  if (st.writing) {
    st.arrived.push_back(std::move(e));
    return;
  }
  e.seq = st.next_seq + static_cast<int64_t>(st.staged_events.size());
  st.staged_events.push_back(to_record(e));
  st.history.push_back(std::move(e));
  st.inbox_fresh = false;
}

/// An attempt ended (or, for a child, its run started): its event and
/// ledger change, if any, are recorded, and the run decides again unless an
/// append's answer will.
void conclude_attempt(orchestrator_pointer self, const std::string& path, int32_t attempt,
                      engine::event e, std::optional<step_change> ledger) {
  auto& st = self->state;
  if (st.done || st.dispatched.erase({path, attempt}) == 0) {
    return;
  }
  e.node_path = path;
  e.attempt = attempt;
  if (ledger) {
    st.staged_steps.push_back(std::move(*ledger));
  }
  record_outcome(self, std::move(e));
  if (!st.writing) {
    advance(self);
  }
}

/// A failed attempt: its `step_failed` event and ledger change.
void attempt_failed(orchestrator_pointer self, const std::string& path, int32_t attempt,
                    const std::string& type, const std::string& message, bool retryable) {
  engine::event e;
  e.type = event_type::step_failed;
  e.payload = json::object{{"type", type}, {"message", message}, {"retryable", retryable}};
  conclude_attempt(self, path, attempt, std::move(e),
                   step_change{path, attempt, step_status::failed, type, message});
}

void dispatch(orchestrator_pointer self, const engine::command& cmd);

/// A `child` node's attempt: resolves the child's pipeline version, creates
/// the child run (PENDING, for any node to claim; one per attempt) and
/// records `child_started`, or the attempt's failure: a refused start
/// (limits) is retryable, an unknown queue or version or too deep a
/// nesting is not. Next, the run waits for the child without its lease.
void start_child(orchestrator_pointer self, const engine::command& cmd) {
  auto& st = self->state;
  st.dispatched.emplace(cmd.node_path, cmd.attempt);
  auto path = cmd.node_path;
  auto attempt = cmd.attempt;
  auto failed = [self, path, attempt](const std::string& type, const std::string& message,
                                      bool retryable) {
    attempt_failed(self, path, attempt, type, message, retryable);
  };
  auto input = json::serialize(cmd.input);
  self
    ->request(st.setup.configs, local_reply, get_atom::value, st.setup.run.tenant,
              queue_name{cmd.queue}, config_version{cmd.version})
    .then(
      [=](config_snapshot_ptr& snap) {
        auto& s = self->state;
        create_run op;
        op.run.tenant = s.setup.run.tenant;
        op.run.queue = queue_name{snap->queue};
        op.run.config_tenant = tenant_id{snap->tenant};
        op.run.version = config_version{snap->version};
        op.run.checksum = snap->checksum;
        op.run.input = input;
        op.default_limit = s.setup.default_limit;
        op.parent_run = s.setup.run.id.value;
        op.parent_node_path = path;
        op.parent_attempt = attempt;
        op.max_child_depth = s.setup.max_child_depth;
        auto version = snap->version;
        self->request(s.setup.writer, local_reply, std::move(op))
          .then(
            [=](run_created& rc) {
              if (rc.rejection != rejection_reason::none) {
                failed(to_string(rc.rejection), rc.rejection_message, true);
                return;
              }
              engine::event e;
              e.type = event_type::child_started;
              e.payload = json::object{{"run", rc.run.id.value}, {"version", version}};
              auto fields = run_fields(self);
              fields.emplace_back("step", path);
              fields.emplace_back("child", std::to_string(rc.run.id.value));
              log_line("info", "child run started", fields);
              // The child run is the attempt: no ledger change until it ends.
              conclude_attempt(self, path, attempt, std::move(e), std::nullopt);
            },
            [=](caf::error& err) {
              if (code_of(err) == errc::invalid_argument || code_of(err) == errc::not_found) {
                failed("child_refused", describe(err), false);
                return;
              }
              abandon(self, err, "starting a child run");
            });
      },
      [=](caf::error& err) { failed(to_string(code_of(err)), describe(err), false); });
}

void dispatch(orchestrator_pointer self, const engine::command& cmd) {
  auto& st = self->state;
  if (cmd.kind == engine::command_kind::start_child) {
    start_child(self, cmd);
    return;
  }
  st.dispatched.emplace(cmd.node_path, cmd.attempt);
  activity_request req;
  req.tenant = st.setup.run.tenant;
  req.run = st.setup.run.id;
  req.step_path = cmd.node_path;
  req.attempt = cmd.attempt;
  req.activity = cmd.activity;
  req.input = json::serialize(cmd.input);
  req.tenant_config = st.tenant_config;
  req.timeout_ms = cmd.timeout_ms > 0 ? cmd.timeout_ms : st.setup.activity_timeout_ms;
  auto path = cmd.node_path;
  auto attempt = cmd.attempt;
  auto on_result = [self, path, attempt](const activity_result& r) {
    if (!r.ok) {
      attempt_failed(self, path, attempt, r.error_type, r.error_message, r.retryable);
      return;
    }
    engine::event e;
    boost::system::error_code ec;
    e.type = event_type::step_completed;
    e.payload = parse_json(r.output, ec);
    if (ec) {
      e.payload = nullptr;
    }
    conclude_attempt(self, path, attempt, std::move(e),
                     step_change{path, attempt, step_status::completed, "", ""});
  };
  self->request(st.setup.pool, local_reply, std::move(req))
    .then([on_result](activity_result& r) { on_result(r); },
          [self, on_result](caf::error& err) {
            activity_result r;
            r.ok = false;
            r.error_type = "timeout";
            r.error_message =
              "no answer from the activity pool: " + self->home_system().render(err);
            on_result(r);
          });
}

/// The store cut the append before a step the quota does not cover: the
/// run is WAITING on quota now and no longer this node's.
void paused_on_quota(orchestrator_pointer self, const quota_exhausted& x) {
  recheck_quota_pause(self, self->state.setup.accountant, self->state.setup.writer, x,
                      run_fields(self), "step quota exhausted: run paused",
                      [=](bool) { finish(self, done_reason::waiting); });
}

/// The store cut the append before a step the quota does not cover, but
/// attempts of the run are in flight: it keeps the lease until they report
/// (each later append tries the cut steps again; the one that finds
/// nothing in flight pauses the run).
void held_on_quota(orchestrator_pointer self, const quota_exhausted& x) {
  auto fields = run_fields(self);
  fields.emplace_back("step", x.node_path);
  fields.emplace_back("used", std::to_string(x.used));
  fields.emplace_back("limit", std::to_string(x.limit));
  fields.emplace_back("in_flight", std::to_string(self->state.dispatched.size()));
  log_line("info", "step quota exhausted: run pauses once its attempts in flight report", fields);
}

void log_reserved(orchestrator_pointer self) {
  const auto& t = self->state.terms;
  auto fields = run_fields(self);
  fields.emplace_back("period_start", format_rfc3339(t.period_start_ms));
  fields.emplace_back("period_end", format_rfc3339(t.period_end_ms));
  fields.emplace_back("step", self->state.node_path);
  log_line("debug", "step reservation granted", fields);
}

/// Plans the next step commit (engine/planner.hpp), writes it in one
/// append, then acts on it.
void advance(orchestrator_pointer self) {
  auto& st = self->state;
  if (st.done) {
    return;
  }
  auto now = wall_clock_ms(self->home_system());
  engine::plan_context ctx;
  ctx.next_seq = st.next_seq + static_cast<int64_t>(st.staged_events.size());
  ctx.now_ms = now;
  ctx.node_path = st.node_path;
  ctx.draining = st.draining;
  ctx.inbox_fresh = st.inbox_fresh;
  ctx.hold_timer_ms = st.setup.hold_timer_ms;
  ctx.hold_on_nondeterminism = st.setup.hold_on_nondeterminism;
  ctx.in_flight = st.dispatched;
  ctx.cache = &st.cache;
  auto p = engine::plan(st.setup.snapshot->definition, st.input, std::move(st.history), ctx);
  st.history = std::move(p.history);
  st.node_path = p.change.node_path;
  if (!p.events.empty()) {
    st.inbox_fresh = false;
  }
  // Ledger indexes are relative to this plan's events; results staged
  // before it come first in the append.
  auto offset = static_cast<int32_t>(st.staged_events.size());
  for (auto& rec : to_records(p.events)) {
    st.staged_events.push_back(std::move(rec));
  }
  for (auto& sc : to_step_changes(p.ledger)) {
    if (sc.scheduled_by >= 0) {
      sc.scheduled_by += offset;
    }
    st.staged_steps.push_back(std::move(sc));
  }
  if (p.conflict) {
    p.change.error_message =
      "run " + std::to_string(st.setup.run.id.value) + ": " + p.change.error_message;
    auto fields = run_fields(self);
    fields.emplace_back("seq", std::to_string(p.conflict->seq));
    log_line("error", "non-determinism: " + p.change.error_message, fields);
    self->send(st.setup.dispatcher, nondet_atom::value, st.setup.run.id);
  }
  auto to_dispatch = std::move(p.dispatches);
  auto hold_until = p.hold_until_ms;
  bool sync_inbox = p.read_inbox || st.inbox_news;
  auto change = to_run_change(p.change);
  bool terminal = is_terminal(change.status);
  bool leaving = terminal || change.release_lease;
  if (st.staged_events.empty() && st.staged_steps.empty() && !leaving && !sync_inbox) {
    if (hold_until != 0) {
      wake_at(self, hold_until);
    }
    return;
  }
  bool starts_attempt =
    std::any_of(st.staged_steps.begin(), st.staged_steps.end(),
                [](const step_change& sc) { return sc.status == step_status::started; });
  append_history op;
  op.run = st.setup.run.id;
  op.tenant = st.setup.run.tenant;
  op.owner = st.setup.node;
  op.incarnation = st.setup.incarnation;
  op.epoch = st.setup.run.epoch;
  op.expected_seq = st.next_seq;
  op.events = std::move(st.staged_events);
  op.steps = std::move(st.staged_steps);
  st.staged_events.clear();
  st.staged_steps.clear();
  op.change = change;
  op.resolve_waits = st.resolve_waits;
  op.now_ms = 0; // stamped by the writer at commit
  op.in_flight = static_cast<int32_t>(st.dispatched.size());
  auto expected_seq = op.expected_seq;
  auto why = done_reason_of(change.status);
  st.writing = true;
  st.inbox_news = false; // this append takes the inbox
  // An append the store refused as busy (a deadlock or serialization
  // failure between two nodes' batches on PostgreSQL) left nothing: its
  // savepoint or its whole transaction was rolled back. It is sent again,
  // a few times, before the run is given up.
  auto send = std::make_shared<std::function<void(append_history, int)>>();
  std::weak_ptr<std::function<void(append_history, int)>> resend = send;
  *send = [=](append_history a, int tries) {
    auto again = a;
    auto retry = resend.lock(); // alive: it is being called
    self->request(self->state.setup.writer, local_reply, std::move(a))
      .then(
        [=](history_appended& r) {
          auto& s = self->state;
          s.writing = false;
          if (leaving && (r.quota_paused || r.kept || r.quota_held)) {
            // Not the way `leaving` announced: the dispatcher claims for
            // this run's permit when it is done.
            self->send(s.setup.dispatcher, leaving_atom::value, s.setup.run.id, false);
          }
          s.next_seq = r.next_seq;
          s.resolve_waits = false;
          if (r.quota_paused) {
            paused_on_quota(self, r.exhausted);
            return;
          }
          if (starts_attempt && log_enabled("debug")) {
            log_reserved(self);
          }
          if (leaving && !r.kept && !r.quota_held) {
            finish(self, why);
            return;
          }
          // Attempts whose scheduling event was stored: all, or those
          // before a quota cut (the rest are decided again later).
          auto stored_until = expected_seq + r.appended;
          auto dispatches = to_dispatch;
          if (r.quota_held) {
            held_on_quota(self, r.exhausted);
            while (!s.history.empty() && s.history.back().seq >= stored_until) {
              s.history.pop_back();
            }
            s.cache.clear(); // the history was cut back
            std::set<std::pair<std::string, int32_t>> stored;
            for (const auto& e : s.history) {
              if (e.seq >= expected_seq && e.type == event_type::step_scheduled) {
                stored.emplace(e.node_path, e.attempt);
              }
            }
            dispatches.erase(std::remove_if(dispatches.begin(), dispatches.end(),
                                            [&](const engine::command& c) {
                                              return stored.count({c.node_path, c.attempt}) == 0;
                                            }),
                             dispatches.end());
          }
          bool canceled = false;
          for (const auto& rec : r.inbox) {
            auto e = from_record(rec);
            if (!e) {
              abandon(self, e.error(), "reading its inbox");
              return;
            }
            canceled = canceled || e->type == event_type::run_canceled;
            s.history.push_back(std::move(*e));
          }
          s.inbox_fresh = true;
          if (!canceled) {
            for (const auto& cmd : dispatches) {
              dispatch(self, cmd);
            }
          }
          // Outcomes that arrived during the append follow its inbox.
          auto arrived = std::move(s.arrived);
          s.arrived.clear();
          for (auto& e : arrived) {
            record_outcome(self, std::move(e));
          }
          if (r.quota_held && arrived.empty()) {
            // Nothing to decide until an attempt in flight reports.
          } else if (!dispatches.empty() && !canceled && arrived.empty() && r.inbox.empty() &&
                     hold_until == 0) {
            // The attempts run; their outcomes decide next.
          } else if (hold_until != 0 && r.inbox.empty() && arrived.empty()) {
            wake_at(self, hold_until);
          } else {
            advance(self);
          }
          if (s.inbox_news && !s.writing && !s.done) {
            advance(self); // news that came while this append was in flight
          }
        },
        [=](caf::error& err) {
          self->state.writing = false;
          if (code_of(err) == errc::store_busy && tries < max_busy_retries) {
            self->state.writing = true;
            (*retry)(std::move(again), tries + 1);
            return;
          }
          abandon(self, err, "appending to the history");
        });
    if (leaving) {
      // Behind the append in the writer's mailbox: the claim of the
      // tenant's freed permit this makes the dispatcher send (actors/dispatcher.hpp).
      self->send(self->state.setup.dispatcher, leaving_atom::value, self->state.setup.run.id, true);
    }
  };
  auto write = [send](append_history a) { (*send)(std::move(a), 0); };
  if (!starts_attempt) {
    write(std::move(op));
    return;
  }
  // The attempt is reserved under the tenant's current terms.
  if (st.terms.period_end_ms > now && now - st.terms_at_ms < terms_max_age_ms) {
    op.quota = st.terms;
    write(std::move(op));
    return;
  }
  self->request(st.setup.accountant, local_reply, get_atom::value, st.setup.run.tenant)
    .then(
      [=](quota_terms& t) mutable {
        self->state.terms = t;
        self->state.terms_at_ms = wall_clock_ms(self->home_system());
        op.quota = std::move(t);
        write(std::move(op));
      },
      [=](caf::error& err) { abandon(self, err, "asking for its quota terms"); });
}

/// Leaves `loading`. Also when called within the spawn function, which
/// then returns `running` (CAF installs the behaviour that function returns
/// over a `become` made before it returns).
void start_running(orchestrator_pointer self) {
  self->state.started = true;
  self->become(running(self));
}

/// The attempt a claim recorded as the run's first step (`first_recorded`),
/// planned again; nullopt if this plan is not that attempt.
std::optional<engine::command> recorded_first_command(orchestrator_pointer self) {
  auto& st = self->state;
  auto p = engine::first_step_plan(st.setup.snapshot->definition, st.input,
                                   wall_clock_ms(self->home_system()));
  if (!p || p->dispatches.front().node_path != st.setup.run.node_path ||
      st.setup.run.next_seq != 3) {
    return std::nullopt;
  }
  return std::move(p->dispatches.front());
}

void load_history_then_advance(orchestrator_pointer self) {
  auto& st = self->state;
  std::optional<engine::command> recorded;
  if (st.setup.fresh && st.setup.first_recorded && !st.setup.first_command) {
    recorded = recorded_first_command(self);
    if (!recorded) {
      log_line("warn", "the first step a claim recorded is not this pipeline's: history read",
               run_fields(self));
      st.setup.fresh = false;
    }
  }
  if (st.setup.fresh) {
    engine::event start{1, event_type::run_started, "", 0, st.input};
    st.history.push_back(std::move(start));
    st.next_seq = 2;
    start_running(self);
    if (const auto& first = st.setup.first_command ? st.setup.first_command : recorded) {
      st.history.push_back(engine::record(*first, 2, st.setup.run.created_at_ms));
      st.next_seq = 3;
      st.node_path = first->node_path;
      dispatch(self, *first);
      return;
    }
    advance(self);
    return;
  }
  self->request(st.setup.reader, local_reply, load_history{st.setup.run.id, 0})
    .then(
      [=](std::vector<history_record>& records) {
        auto& s = self->state;
        auto events = from_records(records);
        if (!events) {
          abandon(self, events.error(), "loading the history");
          return;
        }
        s.history = std::move(*events);
        s.next_seq = s.history.empty() ? 1 : s.history.back().seq + 1;
        if (s.next_seq != s.setup.run.next_seq) {
          // A write committed after the claim read the row: take the store's word.
          s.next_seq = std::max(s.next_seq, s.setup.run.next_seq);
        }
        start_running(self);
        advance(self);
      },
      [=](caf::error& err) { abandon(self, err, "loading the history"); });
}

void load_tenant_then_history(orchestrator_pointer self) {
  auto& st = self->state;
  if (st.setup.tenant_config) {
    st.tenant_config = std::move(*st.setup.tenant_config);
    st.setup.tenant_config.reset();
    load_history_then_advance(self);
    return;
  }
  self->request(st.setup.reader, local_reply, find_tenant{st.setup.run.tenant})
    .then(
      [=](tenant_record& t) {
        self->state.tenant_config = t.config_json;
        load_history_then_advance(self);
      },
      [=](caf::error& err) { abandon(self, err, "loading the tenant"); });
}

orchestrator_actor::behavior_type orchestrator(orchestrator_pointer self,
                                               orchestrator_setup setup) {
  auto& st = self->state;
  st.setup = std::move(setup);
  st.node_path = st.setup.run.node_path;
  if (st.setup.terms.period_end_ms != 0) {
    st.terms = st.setup.terms;
    st.terms_at_ms = wall_clock_ms(self->home_system());
  }
  boost::system::error_code ec;
  st.input = parse_json(st.setup.run.input, ec);
  if (ec) {
    st.input = nullptr;
  }
  if (st.setup.snapshot) {
    load_tenant_then_history(self);
    if (st.started) {
      // Everything was handed over: it started above (`start_running`).
      return running(self);
    }
  } else {
    const auto& r = st.setup.run;
    self
      ->request(st.setup.configs, local_reply, get_atom::value, r.config_tenant, r.queue, r.version)
      .then(
        [=](config_snapshot_ptr& snap) {
          if (snap->checksum != self->state.setup.run.checksum) {
            abandon(self,
                    make_error(errc::store_failure, "pinned config " + snap->version +
                                                      " has checksum " + snap->checksum +
                                                      ", the run was started with " +
                                                      self->state.setup.run.checksum),
                    "loading its config");
            return;
          }
          self->state.setup.snapshot = std::move(snap);
          load_tenant_then_history(self);
        },
        [=](caf::error& err) { abandon(self, err, "loading its config"); });
  }
  return loading(self);
}

} // namespace

orchestrator_actor spawn_orchestrator(caf::actor_system& sys, orchestrator_setup setup) {
  return sys.spawn(orchestrator, std::move(setup));
}

} // namespace flowgate
