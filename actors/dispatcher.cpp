#include "actors/dispatcher.hpp"

#include "actors/log.hpp"
#include "actors/orchestrator.hpp"
#include "actors/quota_accountant.hpp"
#include "actors/quota_pause.hpp"
#include "actors/run_codec.hpp"
#include "actors/wall_clock.hpp"
#include "config/json_text.hpp"
#include "config/pipeline.hpp"
#include "engine/engine.hpp"
#include "engine/planner.hpp"
#include "messages/errors.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace flowgate {

namespace {

struct held_run {
  lease_epoch epoch = 0;
  tenant_id tenant;
  orchestrator_actor actor;
  /// Its pipeline's series if the pipeline has the "metrics" feature
  /// (points into `dispatcher_state::pipelines`, whose nodes stay put).
  pipeline_series* series = nullptr;
  /// Its orchestrator sent the append that leaves this node, and the
  /// claim of its tenant's freed permit was queued behind it (`leaving`).
  bool leaving = false;
};

struct dispatcher_state {
  // Declared so the state is no aggregate: CAF would try to build it from `self`.
  dispatcher_state() { stats.ended.assign(done_reason_count, 0); }

  dispatcher_setup setup;
  /// Runs this node drives. Shared: the exit functor that stops the
  /// orchestrators runs after CAF destroyed the state.
  std::shared_ptr<std::unordered_map<int64_t, held_run>> held_runs =
    std::make_shared<std::unordered_map<int64_t, held_run>>();
  std::unordered_map<int64_t, held_run>& held = *held_runs;
  std::map<caf::actor_addr, int64_t> by_actor;
  std::vector<caf::actor> watchers;
  /// Tenants whose permits freed since the last targeted claim.
  std::set<std::string> freed;
  /// Of those, the ones only another node's news named: a claim that
  /// finds them owned elsewhere does not tell the others again.
  std::set<std::string> freed_by_news;
  bool claiming = false;
  /// A general poll arrived while a claim was in flight: run it next.
  bool poll_pending = false;
  /// The poll timer (`tick_atom`) is armed: polls asked for from outside
  /// (`poll_atom`) never start a second timer.
  bool tick_armed = false;
  /// Round-robin cursor over tenants (the store's `last_tenant`).
  tenant_id claim_cursor;
  /// This incarnation lost its registration: it drives nothing any more.
  bool fenced = false;
  bool draining = false;
  bool drain_answered = false;
  caf::typed_response_promise<int64_t> drain_promise;
  dispatcher_stats stats;
  /// Series of the pipeline versions with the "metrics" feature run here:
  /// one per (tenant, queue, version) this node drove since it started.
  std::map<std::tuple<std::string, std::string, std::string>, pipeline_series> pipelines;
  /// Parked starters whose round ended, waiting for the store's word on
  /// their runs: read together, one `find_runs` at a time.
  struct parked_check {
    run_created created;
    caf::typed_response_promise<run_created> rp;
    int64_t deadline = 0;
    int64_t step = 0;
    bool admitted = false;
  };
  std::vector<parked_check> checks;
  bool checking = false;
  /// Quota terms the accountant gave for a tenant's last run created here,
  /// and when: a claim hands the current ones to the store, which records
  /// a queued run's kept first step under them (`claim_runs::quotas`).
  struct cached_terms {
    quota_terms terms;
    int64_t at_ms = 0;
  };
  std::unordered_map<std::string, cached_terms> terms;
  static inline const char* name = "flowgate.dispatcher";
};

using dispatcher_pointer = dispatcher_actor::stateful_pointer<dispatcher_state>;

std::chrono::milliseconds ms(int64_t x) {
  return std::chrono::milliseconds{x};
}

void spawn_for(dispatcher_pointer self, const run_record& run, config_snapshot_ptr snapshot,
               bool fresh, std::optional<engine::command> first = std::nullopt,
               quota_terms terms = {}, std::optional<std::string> tenant_config = std::nullopt,
               bool first_recorded = false) {
  auto& st = self->state;
  const auto& s = st.setup.settings;
  orchestrator_setup os;
  os.run = run;
  const bool os_metrics = snapshot && snapshot->definition.has_feature("metrics");
  os.snapshot = std::move(snapshot);
  os.fresh = fresh;
  os.first_command = std::move(first);
  os.first_recorded = first_recorded;
  os.tenant_config = std::move(tenant_config);
  os.writer = st.setup.writer;
  os.reader = st.setup.reader;
  os.configs = st.setup.configs;
  os.pool = st.setup.pool;
  os.accountant = st.setup.accountant;
  os.terms = std::move(terms);
  os.dispatcher = self;
  os.node = node_id{s.node_id};
  os.incarnation = st.setup.incarnation;
  os.hold_timer_ms = s.hold_timer_ms;
  os.activity_timeout_ms = s.activity_timeout_ms;
  os.hold_on_nondeterminism = s.hold_on_nondeterminism;
  os.default_limit = s.tenant_max_concurrent_runs;
  os.max_child_depth = static_cast<int32_t>(s.max_child_depth);
  auto actor = spawn_orchestrator(self->home_system(), std::move(os));
  // Monitored, not linked: a link puts an attachable on the dispatcher per
  // run, and CAF 0.17 removes attachables by a linear scan.
  self->monitor(actor);
  // The run holds one of its tenant's permits here; the limiter monitors
  // the holder too.
  self->send(st.setup.limiters, hold_atom::value, run.tenant, run.id,
             caf::actor_cast<caf::actor>(actor));
  st.by_actor[actor.address()] = run.id.value;
  pipeline_series* series = nullptr;
  if (os_metrics) {
    auto& x = st.pipelines[{run.tenant.value, run.queue.value, run.version.value}];
    if (x.ended.empty()) {
      x.tenant = run.tenant.value;
      x.queue = run.queue.value;
      x.version = run.version.value;
      x.ended.assign(done_reason_count, 0);
    }
    x.started += 1;
    series = &x;
  }
  st.held[run.id.value] = held_run{run.epoch, run.tenant, actor, series};
  st.stats.started += 1;
  st.stats.active = static_cast<int64_t>(st.held.size());
  if (st.draining) {
    self->send(actor, drain_atom::value);
  }
}

/// A new run's first step commit, if it starts one attempt
/// (engine::first_step_plan): recorded in the commit that creates the run
/// when this node drives it, else kept on the run for its claim.
std::optional<engine::step_plan> first_step(const config_snapshot& snap,
                                            const std::string& input_text, int64_t now_ms) {
  boost::system::error_code ec;
  auto input = parse_json(input_text, ec);
  if (ec) {
    return std::nullopt;
  }
  return engine::first_step_plan(snap.definition, input, now_ms);
}

void forget(dispatcher_pointer self, int64_t run) {
  auto& st = self->state;
  auto it = st.held.find(run);
  if (it == st.held.end()) {
    return;
  }
  st.by_actor.erase(it->second.actor.address());
  self->send(st.setup.limiters, release_atom::value, it->second.tenant, run_id{run});
  st.held.erase(it);
  st.stats.active = static_cast<int64_t>(st.held.size());
}

/// News for the other nodes, if this node has links to them.
void tell_peers(dispatcher_pointer self, cluster_news news) {
  if (self->state.setup.peers) {
    self->send(self->state.setup.peers, news_atom::value, std::move(news));
  }
}

void complete_drain(dispatcher_pointer self) {
  auto& st = self->state;
  if (st.drain_answered || !st.drain_promise.pending()) {
    return;
  }
  st.drain_answered = true;
  for (auto& [run, h] : st.held) {
    caf::anon_send_exit(h.actor, caf::exit_reason::user_shutdown);
  }
  release_leases op{node_id{st.setup.settings.node_id}, st.setup.incarnation, {}, 0};
  self->request(st.setup.writer, local_reply, std::move(op))
    .then(
      [=](int64_t n) mutable {
        if (n > 0) {
          tell_peers(self, cluster_news{{}, {}, true}); // the runs it let go
        }
        self->state.drain_promise.deliver(n);
      },
      [=](caf::error& err) mutable { self->state.drain_promise.deliver(std::move(err)); });
}

void schedule_poll(dispatcher_pointer self, bool at_once) {
  if (self->state.draining || self->state.fenced) {
    return;
  }
  if (at_once) {
    self->send(self, poll_atom::value);
  } else if (!self->state.tick_armed) {
    self->state.tick_armed = true;
    self->delayed_send(self, ms(self->state.setup.settings.poll_interval_ms), tick_atom::value);
  }
}

/// A claim failed: the claim that waited for it becomes a timed poll.
void claim_failed(dispatcher_pointer self, const caf::error& err) {
  auto& st = self->state;
  st.claiming = false;
  st.poll_pending = false;
  log_line("warn", "claiming runs failed", {{"error", self->home_system().render(err)}});
  schedule_poll(self, false);
}

void admit_freed(dispatcher_pointer self);

/// A claim of up to `batch` runs (of `tenants` only, if not empty) from
/// the round-robin cursor.
/// A claim's round trip to the store writer (queueing and commit included).
void observe_claim(dispatcher_pointer self, std::chrono::steady_clock::time_point began) {
  self->state.stats.claim_seconds.observe(
    std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - began)
      .count());
}

/// How long a node's claim marks it as polling with room (claim_runs).
/// Other nodes poll as often: a run due for two of their polls was theirs
/// to take and may be taken here beyond this node's share.
int64_t spread_grace_ms(const node_settings& s) {
  return std::max<int64_t>(100, 2 * s.poll_interval_ms);
}

claim_runs claim_op(dispatcher_pointer self, int32_t batch, std::vector<tenant_id> tenants) {
  auto& st = self->state;
  const auto& s = st.setup.settings;
  claim_runs op;
  op.owner = node_id{s.node_id};
  op.incarnation = st.setup.incarnation;
  op.lease_ttl_ms = s.lease_ttl_ms;
  op.max_runs = batch;
  op.default_limit = s.tenant_max_concurrent_runs;
  op.tenants = std::move(tenants);
  op.after_tenant = st.claim_cursor;
  op.spread_grace_ms = spread_grace_ms(s);
  op.room = s.max_active_runs - static_cast<int64_t>(st.held.size());
  // Current terms (as fresh as an orchestrator's, actors/orchestrator.cpp)
  // of the claim's tenants, or of all tenants for a general claim: their
  // queued runs' kept first steps are recorded by the claim.
  auto now = wall_clock_ms(self->home_system());
  auto fresh = [&](const dispatcher_state::cached_terms& c) {
    return c.terms.period_start_ms <= now && now < c.terms.period_end_ms &&
           now - c.at_ms < terms_max_age_ms;
  };
  if (op.tenants.empty()) {
    for (auto it = st.terms.begin(); it != st.terms.end();) {
      if (fresh(it->second)) {
        op.quotas.push_back(it->second.terms);
        ++it;
      } else {
        it = st.terms.erase(it);
      }
    }
  } else {
    for (const auto& t : op.tenants) {
      auto it = st.terms.find(t.value);
      if (it != st.terms.end() && fresh(it->second)) {
        op.quotas.push_back(it->second.terms);
      }
    }
  }
  return op;
}

void poll(dispatcher_pointer self);

/// A claim took a queued run but paused it on quota at its kept first
/// step (WAITING on quota; not held here).
void paused_at_claim(dispatcher_pointer self, const quota_exhausted& x) {
  self->state.terms.erase(x.tenant.value); // asked for again at the next creation
  recheck_quota_pause(self, self->state.setup.accountant, self->state.setup.writer, x,
                      {{"tenant", x.tenant.value}, {"run", std::to_string(x.run.value)}},
                      "step quota exhausted: run paused at its first claim", [=](bool resumed) {
                        if (resumed) {
                          schedule_poll(self, true);
                        }
                      });
}

/// Ends a claim: counts the runs it won, starts their orchestrators, tells
/// the other nodes what they must act on, and runs the claim that waited
/// for this one. `by_news`: the claim's tenants only another node's news
/// named (their owners were told already).
void take_claimed(dispatcher_pointer self, runs_claimed& claimed,
                  const std::set<std::string>& by_news = {}) {
  auto& st = self->state;
  st.claiming = false;
  if (!claimed.last_tenant.value.empty()) {
    st.claim_cursor = claimed.last_tenant;
  }
  st.stats.claimed += static_cast<int64_t>(claimed.runs.size());
  st.stats.taken_over += claimed.taken_over;
  st.stats.first_steps_claimed += static_cast<int64_t>(claimed.first_recorded.size());
  cluster_news admitted;
  // The tenants' configs as the claim read them: not read again per run.
  std::unordered_map<std::string, std::string> configs;
  for (auto& t : claimed.tenant_configs) {
    configs.emplace(std::move(t.tenant.value), std::move(t.config));
  }
  std::set<int64_t> recorded;
  for (const auto& id : claimed.first_recorded) {
    recorded.insert(id.value);
  }
  for (const auto& r : claimed.runs) {
    // A run whose history is only its `run_started` (next_seq 2: created
    // unclaimed, queued, or handed back before its first append), or that
    // and the first step the claim recorded, is not read back: its
    // orchestrator starts from its input, as on creation.
    auto config = configs.find(r.tenant.value);
    bool first_recorded = recorded.count(r.id.value) != 0;
    spawn_for(self, r, nullptr, r.next_seq == 2 || first_recorded, std::nullopt, {},
              config == configs.end() ? std::nullopt : std::optional<std::string>{config->second},
              first_recorded);
    if (r.epoch == 1) {
      // Its first claim: it was created unclaimed, maybe queued at its
      // tenant's limit (or for its owner) with a starter parked on another
      // node (which also reads the store between rounds of its wait).
      admitted.admitted.push_back(admitted_run{r.id, r.tenant});
    }
  }
  for (const auto& x : claimed.quota_paused) {
    paused_at_claim(self, x);
  }
  if (!admitted.admitted.empty()) {
    tell_peers(self, std::move(admitted));
  }
  if (!claimed.left_to_others.empty()) {
    // Permits freed here whose queued runs are another node's share.
    cluster_news freed;
    for (const auto& t : claimed.left_to_others) {
      freed.freed_tenants.push_back(t.value);
    }
    tell_peers(self, std::move(freed));
  }
  cluster_news to_owners;
  for (const auto& t : claimed.owned_elsewhere) {
    // A permit of a tenant another node owns freed here: its owner admits.
    if (by_news.count(t.value) == 0) {
      to_owners.freed_tenants.push_back(t.value);
    }
  }
  if (!to_owners.freed_tenants.empty()) {
    tell_peers(self, std::move(to_owners));
  }
  if (st.poll_pending) {
    st.poll_pending = false;
    poll(self);
  }
}

void poll(dispatcher_pointer self) {
  auto& st = self->state;
  const auto& s = st.setup.settings;
  if (st.draining || st.fenced) {
    return;
  }
  if (st.claiming) {
    st.poll_pending = true; // runs when the claim in flight returns
    return;
  }
  auto room = s.max_active_runs - static_cast<int64_t>(st.held.size());
  if (room <= 0) {
    schedule_poll(self, false);
    return;
  }
  auto batch = static_cast<int32_t>(std::min(room, s.claim_batch));
  st.claiming = true;
  st.stats.polls += 1;
  auto began = std::chrono::steady_clock::now();
  self->request(st.setup.writer, local_reply, claim_op(self, batch, {}))
    .then(
      [=](runs_claimed& claimed) {
        observe_claim(self, began);
        auto n = static_cast<int32_t>(claimed.runs.size());
        take_claimed(self, claimed);
        schedule_poll(self, n == batch);
        admit_freed(self);
      },
      [=](caf::error& err) { claim_failed(self, err); });
}

/// Claims queued runs of tenants whose permits just freed, at once rather
/// than at the next poll. One claim in flight at a time; tenants freed
/// meanwhile go into the next one.
void admit_freed(dispatcher_pointer self) {
  auto& st = self->state;
  const auto& s = st.setup.settings;
  auto room = s.max_active_runs - static_cast<int64_t>(st.held.size());
  if (st.draining || st.fenced || st.claiming || st.freed.empty() || room <= 0) {
    return;
  }
  std::vector<tenant_id> tenants;
  for (const auto& t : st.freed) {
    tenants.emplace_back(t);
  }
  st.freed.clear();
  auto by_news = std::move(st.freed_by_news);
  st.freed_by_news.clear();
  st.claiming = true;
  auto began = std::chrono::steady_clock::now();
  self
    ->request(st.setup.writer, local_reply,
              claim_op(self, static_cast<int32_t>(std::min(room, s.claim_batch)), tenants))
    .then(
      [=](runs_claimed& claimed) {
        observe_claim(self, began);
        take_claimed(self, claimed, by_news);
        admit_freed(self);
      },
      [=](caf::error& err) {
        // Not lost: the next claim (the poll claim_failed schedules) takes them.
        for (const auto& t : tenants) {
          self->state.freed.insert(t.value);
        }
        self->state.freed_by_news.insert(by_news.begin(), by_news.end());
        claim_failed(self, err);
      });
}

/// A permit of `tenant` freed here (a run of it left, or is leaving):
/// its queued runs are claimed now, not at the next poll.
void permit_freed(dispatcher_pointer self, const tenant_id& tenant) {
  auto& st = self->state;
  st.freed.insert(tenant.value);
  st.freed_by_news.erase(tenant.value);
  admit_freed(self);
}

/// This incarnation is no longer registered: its leases are void in the
/// store (every write is fenced by the incarnation), so it stops driving
/// runs and claims nothing more.
void fence(dispatcher_pointer self, const caf::error& why) {
  auto& st = self->state;
  if (st.fenced) {
    return;
  }
  st.fenced = true;
  st.stats.fenced = true;
  log_line("error", "node fenced: its registration was taken over; stopping every run it drove",
           {{"node", st.setup.settings.node_id},
            {"incarnation", std::to_string(st.setup.incarnation)},
            {"error", describe(why)}});
  std::vector<int64_t> runs;
  for (auto& [run, h] : st.held) {
    caf::anon_send_exit(h.actor, caf::exit_reason::user_shutdown);
    runs.push_back(run);
  }
  for (auto run : runs) {
    forget(self, run);
  }
  if (st.setup.on_fenced) {
    st.setup.on_fenced(why);
  }
  if (st.draining) {
    complete_drain(self);
  }
}

void renew(dispatcher_pointer self) {
  auto& st = self->state;
  const auto& s = st.setup.settings;
  auto next = [self] {
    if (!self->state.drain_answered && !self->state.fenced) {
      self->delayed_send(self, ms(self->state.setup.settings.lease_ttl_ms / 2), renew_atom::value);
    }
  };
  if (st.fenced) {
    return;
  }
  // Also with no lease held: the renewal is the node's heartbeat.
  renew_leases op;
  op.owner = node_id{s.node_id};
  op.incarnation = st.setup.incarnation;
  op.now_ms = 0; // stamped by the writer at commit
  op.lease_ttl_ms = s.lease_ttl_ms;
  op.default_limit = s.tenant_max_concurrent_runs;
  for (const auto& [run, h] : st.held) {
    op.leases.push_back(run_lease{run_id{run}, h.epoch});
  }
  auto sent = op.leases;
  self->request(st.setup.writer, ms(s.lease_ttl_ms / 2), std::move(op))
    .then(
      [=](std::vector<run_id>& renewed) {
        auto& state = self->state;
        state.stats.renewed += static_cast<int64_t>(renewed.size());
        std::unordered_map<int64_t, bool> ok;
        for (const auto& r : renewed) {
          ok[r.value] = true;
        }
        for (const auto& l : sent) {
          auto it = state.held.find(l.run.value);
          if (ok.count(l.run.value) != 0 || it == state.held.end() || it->second.epoch != l.epoch) {
            continue;
          }
          // Not renewed: lost, or released a moment ago by the run's own
          // last append (its done message is on the way). The orchestrator
          // knows which; it answers with done "lost" if it was lost.
          self->send(it->second.actor, lost_atom::value, l.epoch);
        }
        next();
      },
      [=](caf::error& err) {
        if (code_of(err) == errc::lease_lost) {
          fence(self, err);
          return;
        }
        log_line("warn", "renewing leases failed", {{"error", self->home_system().render(err)}});
        next();
      });
}

/// The run was queued (at its tenant's limit, or for its tenant's owner):
/// the starter waits for its admission up to the tenant's admission
/// deadline, then gets the run as it stands (RUNNING if admitted here or
/// elsewhere, else still PENDING and queued). The limiter answers at once
/// when this node admits it or another node's news says it did; news
/// between nodes can be lost (a link that closes), so the wait is cut into
/// rounds (100 ms, doubling to 1 s), after each of which the run is read
/// from the store: a lost news costs at most a round, never the deadline.
/// The reads of all starters whose rounds ended meanwhile are one
/// `find_runs` (one at a time): with many parked starters, one read per
/// starter and round cost about a third of the node's CPU.
void park_round(dispatcher_pointer self, run_created created,
                caf::typed_response_promise<run_created> rp, int64_t deadline, int64_t step);

void check_parked(dispatcher_pointer self) {
  auto& st = self->state;
  if (st.checking || st.checks.empty()) {
    return;
  }
  st.checking = true;
  auto batch = std::make_shared<std::vector<dispatcher_state::parked_check>>(std::move(st.checks));
  st.checks.clear();
  find_runs q;
  for (const auto& c : *batch) {
    q.runs.push_back(c.created.run.id);
  }
  auto settle = [self, batch](const std::vector<run_record>* found) {
    std::unordered_map<int64_t, const run_record*> by_id;
    if (found != nullptr) {
      for (const auto& r : *found) {
        by_id.emplace(r.id.value, &r);
      }
    }
    auto now = wall_clock_ms(self->home_system());
    for (auto& c : *batch) {
      auto it = by_id.find(c.created.run.id.value);
      if (it == by_id.end()) {
        // Not readable (an error, or gone): the starter gets what it has.
        c.rp.deliver(std::move(c.created));
        continue;
      }
      bool queued = it->second->status == run_status::pending;
      c.created.run = *it->second;
      if (c.admitted || !queued || now >= c.deadline) {
        c.rp.deliver(std::move(c.created));
        continue;
      }
      park_round(self, std::move(c.created), c.rp, c.deadline,
                 std::min<int64_t>(2 * c.step, 1'000));
    }
    self->state.checking = false;
    check_parked(self);
  };
  self->request(st.setup.reader, local_reply, std::move(q))
    .then([settle](std::vector<run_record>& found) { settle(&found); },
          [settle](caf::error&) { settle(nullptr); });
}

void park_round(dispatcher_pointer self, run_created created,
                caf::typed_response_promise<run_created> rp, int64_t deadline, int64_t step) {
  auto& st = self->state;
  auto now = wall_clock_ms(self->home_system());
  auto until = std::min(deadline, now + step);
  auto tenant = created.run.tenant;
  auto run = created.run.id;
  auto check = [=](bool admitted) mutable {
    self->state.checks.push_back({std::move(created), rp, deadline, step, admitted});
    check_parked(self);
  };
  self->request(st.setup.limiters, local_reply, park_atom::value, tenant, run, until, deadline)
    .then([=](admission_wait& w) mutable { check(w.admitted); },
          [=](caf::error&) mutable { check(false); });
}

void park(dispatcher_pointer self, run_created created,
          caf::typed_response_promise<run_created> rp) {
  auto deadline = wall_clock_ms(self->home_system()) + created.queued_deadline_ms;
  park_round(self, std::move(created), rp, deadline, 100);
}

/// Creates a run (claimed by this node if it has room) and starts its
/// orchestrator; answers `rp` after commit.
void create(dispatcher_pointer self, run_record run, config_snapshot_ptr snapshot,
            quota_terms terms, caf::typed_response_promise<run_created> rp) {
  auto& st = self->state;
  const auto& s = st.setup.settings;
  auto now = wall_clock_ms(self->home_system());
  bool claim =
    static_cast<int64_t>(st.held.size()) < s.max_active_runs && !st.draining && !st.fenced;
  create_run op;
  op.run = std::move(run);
  op.owner = claim ? node_id{s.node_id} : node_id{};
  op.incarnation = claim ? st.setup.incarnation : 0;
  op.lease_ttl_ms = s.lease_ttl_ms;
  op.default_limit = s.tenant_max_concurrent_runs;
  op.quota = terms;
  op.spread_grace_ms = spread_grace_ms(s);
  op.room = claim ? s.max_active_runs - static_cast<int64_t>(st.held.size()) : -1;
  // A run this node drives records its first attempt in the same commit
  // that creates it; a run created PENDING keeps it for its first claim.
  std::optional<engine::command> first;
  if (auto p = first_step(*snapshot, op.run.input, now)) {
    first = p->dispatches.front();
    op.first_events = to_records(p->events);
    op.first_steps = to_step_changes(p->ledger);
  }
  self->request(st.setup.writer, local_reply, std::move(op))
    .then(
      [=](run_created& created) mutable {
        if (auto refused = rejection_error(created)) {
          rp.deliver(std::move(refused));
          return;
        }
        if (created.created && created.run.wait_reason == wait_reason::quota) {
          auto fields = period_fields(terms);
          fields.emplace_back("run", std::to_string(created.run.id.value));
          fields.emplace_back("step", created.run.node_path);
          fields.emplace_back("limit", std::to_string(terms.limit));
          log_line("warn", "step quota exhausted: run created paused", fields);
        }
        // The tenant's config as the admission read it in the same commit.
        auto tenant_config = std::exchange(created.tenant_config, {});
        if (created.created && created.run.lease_owner == self->state.setup.settings.node_id) {
          spawn_for(self, created.run, snapshot, true, first, terms,
                    tenant_config.empty() ? std::nullopt
                                          : std::optional<std::string>{std::move(tenant_config)});
        } else if (created.created && !claim && created.run.status == run_status::pending &&
                   created.queued_deadline_ms == 0) {
          // No room here: a node with room claims it now.
          tell_peers(self, cluster_news{{}, {}, true});
        } else if (created.created && !created.tenant_owner.empty() &&
                   created.run.status == run_status::pending) {
          // Another node owns the tenant: it admits the run now.
          tell_peers(self, cluster_news{{created.run.tenant.value}, {}, false});
        }
        if (created.created && created.queued_deadline_ms > 0 &&
            created.run.status == run_status::pending) {
          park(self, std::move(created), rp);
          return;
        }
        rp.deliver(std::move(created));
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

dispatcher_actor::behavior_type dispatcher(dispatcher_pointer self, dispatcher_setup setup) {
  self->state.setup = std::move(setup);
  // Orchestrators stop with their dispatcher (node shutdown).
  self->attach_functor([held = self->state.held_runs] {
    for (auto& [run, h] : *held) {
      caf::anon_send_exit(h.actor, caf::exit_reason::user_shutdown);
    }
  });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto it = st.by_actor.find(dm.source);
    if (it == st.by_actor.end()) {
      return;
    }
    auto run = it->second;
    auto epoch = st.held[run].epoch;
    forget(self, run);
    // It died without handing the run back: release the lease so that the
    // run is replayed at once instead of after the TTL.
    self
      ->request(st.setup.writer, local_reply,
                release_leases{node_id{st.setup.settings.node_id},
                               st.setup.incarnation,
                               {run_lease{run_id{run}, epoch}},
                               0})
      .then([](int64_t) {}, [](caf::error&) {});
    if (st.draining && st.held.empty()) {
      complete_drain(self);
    }
  });
  self->send(self, poll_atom::value);
  self->delayed_send(self, ms(self->state.setup.settings.lease_ttl_ms / 2), renew_atom::value);
  return {
    [=](start_atom, run_record& run) -> caf::result<run_created> {
      auto& st = self->state;
      const auto& s = st.setup.settings;
      if (st.draining) {
        return make_error(errc::shutting_down,
                          "node '" + s.node_id + "' is stopping and takes no new runs");
      }
      auto rp = self->make_response_promise<run_created>();
      // The pinned snapshot from this node's registry (it never travels in
      // a message), then the tenant's terms: the run's first attempt is
      // reserved under them in the commit that creates it.
      auto tenant = run.tenant;
      self
        ->request(st.setup.configs, local_reply, get_atom::value, run.config_tenant, run.queue,
                  run.version)
        .then(
          [=](config_snapshot_ptr& snapshot) mutable {
            if (!run.checksum.empty() && snapshot->checksum != run.checksum) {
              rp.deliver(make_error(errc::version_conflict,
                                    "config " + run.config_tenant.value + "/" + run.queue.value +
                                      " version " + run.version.value + " has checksum " +
                                      snapshot->checksum + ", the run names " + run.checksum));
              return;
            }
            self->request(self->state.setup.accountant, local_reply, get_atom::value, tenant)
              .then(
                [=](quota_terms& terms) mutable {
                  self->state.terms[tenant.value] = {terms, wall_clock_ms(self->home_system())};
                  create(self, std::move(run), std::move(snapshot), std::move(terms), rp);
                },
                [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](poll_atom) { poll(self); },
    [=](tick_atom) {
      self->state.tick_armed = false;
      poll(self);
    },
    [=](renew_atom) { renew(self); },
    [=](nondet_atom, run_id) { self->state.stats.nondeterminism += 1; },
    [=](leaving_atom, run_id run, bool sent) {
      // The append that ends (or pauses, or releases) the run is in the
      // writer's mailbox ahead of any claim sent from here now, so that
      // claim runs after it, in its transaction or a later one, and sees
      // the tenant's permit free: the next queued run is admitted in the
      // same commit instead of one commit after `done`.
      auto& st = self->state;
      auto it = st.held.find(run.value);
      if (it == st.held.end()) {
        return;
      }
      if (!sent) {
        it->second.leaving = false; // the append kept the run RUNNING here
        return;
      }
      if (st.draining || st.fenced) {
        return; // `done` tells the other nodes
      }
      it->second.leaving = true;
      permit_freed(self, it->second.tenant);
    },
    [=](done_atom, run_id run, done_reason why) {
      auto& st = self->state;
      auto it = st.held.find(run.value);
      if (it == st.held.end()) {
        return;
      }
      auto tenant = it->second.tenant;
      // The claim queued at `leaving` ran after the append that freed the
      // permit; a run lost or abandoned left no such append.
      auto claimed_at_leaving =
        it->second.leaving && why != done_reason::lost && why != done_reason::abandoned;
      // Both by-reason counts are sized `done_reason_count`.
      if (static_cast<size_t>(why) < done_reason_count) {
        st.stats.ended[static_cast<size_t>(why)] += 1;
        if (auto* series = it->second.series; series != nullptr) {
          series->ended[static_cast<size_t>(why)] += 1;
        }
      }
      forget(self, run.value);
      (why == done_reason::lost ? st.stats.lost : st.stats.finished) += 1;
      // The tenant's permit is free: a queued run of it may start now.
      if (st.draining || st.fenced) {
        // Not here: another node claims the tenant's queued runs and the
        // run handed back.
        tell_peers(self, cluster_news{{tenant.value}, {}, why == done_reason::handed_back});
      } else if (!claimed_at_leaving) {
        permit_freed(self, tenant);
      }
      for (const auto& w : st.watchers) {
        caf::anon_send(w, run_finished{run, tenant, why});
      }
      if (st.draining && st.held.empty()) {
        complete_drain(self);
      }
    },
    [=](drain_atom) -> caf::result<int64_t> {
      auto& st = self->state;
      st.drain_promise = self->make_response_promise<int64_t>();
      if (!st.draining) {
        st.draining = true;
        st.stats.draining = true;
        // Before any run is handed back: the store shows this node taking
        // nothing more, so the claim another node makes when told of a run
        // handed back here (or at its poll) takes it, and this node's
        // tenants' queued runs, rather than leaving them to this node as
        // their owner or to its share of their limits. The orchestrators'
        // appends reach the writer after this.
        auto stop = claim_op(self, 0, {});
        stop.room = 0;
        stop.quotas.clear();
        self->request(st.setup.writer, local_reply, std::move(stop))
          .then([](runs_claimed&) {},
                [self](caf::error& err) {
                  log_line("warn", "recording that this node claims nothing more failed",
                           {{"error", self->home_system().render(err)}});
                });
        for (auto& [run, h] : st.held) {
          self->send(h.actor, drain_atom::value);
        }
        self->delayed_send(self, ms(st.setup.settings.drain_timeout_ms), deadline_atom::value);
      }
      if (st.held.empty()) {
        complete_drain(self);
      }
      return st.drain_promise;
    },
    [=](deadline_atom) { complete_drain(self); },
    [=](inbox_atom, run_id run, const tenant_id& tenant) {
      auto& st = self->state;
      auto it = st.held.find(run.value);
      if (it == st.held.end() || (!tenant.value.empty() && it->second.tenant != tenant)) {
        return false;
      }
      self->send(it->second.actor, inbox_atom::value);
      return true;
    },
    [=](news_atom, cluster_news& news) {
      auto& st = self->state;
      for (auto& a : news.admitted) {
        self->send(st.setup.limiters, admitted_atom::value, a.tenant, a.run);
      }
      for (auto& t : news.freed_tenants) {
        if (st.freed.insert(t).second) {
          st.freed_by_news.insert(std::move(t));
        }
      }
      admit_freed(self);
      if (news.claim) {
        schedule_poll(self, true);
      }
    },
    [=](watch_atom, caf::actor& watcher) {
      self->state.watchers.push_back(std::move(watcher));
      return ok_atom::value;
    },
    [=](stats_atom) {
      auto out = self->state.stats;
      for (const auto& [key, series] : self->state.pipelines) {
        out.pipelines.push_back(series);
      }
      return out;
    },
  };
}

} // namespace

dispatcher_actor spawn_dispatcher(caf::actor_system& sys, dispatcher_setup setup) {
  return sys.spawn(dispatcher, std::move(setup));
}

} // namespace flowgate
