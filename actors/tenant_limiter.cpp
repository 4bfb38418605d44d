#include "actors/tenant_limiter.hpp"

#include "actors/wall_clock.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace flowgate {

namespace {

struct limiter_state {
  // Declared so the state is no aggregate: CAF would try to build it from `self`.
  limiter_state() = default;

  int64_t idle_ms = 30'000;
  limiter_stats stats;
  std::unordered_map<int64_t, caf::actor_addr> holders;
  std::map<caf::actor_addr, int64_t> by_holder;
  /// Parked starters by run. (Admission order is the store's: a tenant's
  /// queued runs are claimed oldest first.)
  struct parked_starter {
    caf::typed_response_promise<admission_wait> rp;
    /// Its round ends at the starter's deadline: a timeout is counted.
    bool last_round = false;
    /// When its round ends (a tick of `round_grain_ms`).
    int64_t tick_ms = 0;
  };
  std::unordered_map<int64_t, parked_starter> parked;
  /// Round ends, by tick: (tick, run). One `deadline_atom` timer is armed
  /// for the earliest tick instead of one per parked round: every timer is
  /// a push to CAF's clock thread and a wake-up there (12% of a core with
  /// 1,800 starters parked).
  std::set<std::pair<int64_t, int64_t>> rounds;
  /// Ticks of the timers in flight.
  std::set<int64_t> armed;
  /// Queued runs another node admitted lately (cluster news), newest last:
  /// a starter that parks for one after its news came is answered at once.
  std::deque<int64_t> admitted_elsewhere;
  static constexpr size_t max_admitted_elsewhere = 256;
  /// Bumped by every message: an idle check from before is stale.
  int64_t generation = 0;
  /// Messages the directory routed here (hold, release, park): the
  /// directory stops an idle limiter only when it routed no more than that.
  int64_t routed = 0;
  /// Weak: the directory holds the limiter, not the other way round.
  caf::actor_addr directory;
  static inline const char* name = "flowgate.tenant_limiter";
};

using limiter_pointer = tenant_limiter_actor::stateful_pointer<limiter_state>;

void update_counts(limiter_pointer self) {
  auto& st = self->state;
  st.stats.held = static_cast<int64_t>(st.holders.size());
  st.stats.parked = static_cast<int64_t>(st.parked.size());
}

/// After any change: stop later if there is nothing left to look after.
void touch(limiter_pointer self) {
  auto& st = self->state;
  update_counts(self);
  st.generation += 1;
  if (st.holders.empty() && st.parked.empty()) {
    self->delayed_send(self, std::chrono::milliseconds{st.idle_ms}, idle_atom::value,
                       st.generation);
  }
}

/// Round ends (but the last, at the starter's deadline) are rounded up to
/// ticks of this length: one timer serves every round that ends within the
/// same tick.
constexpr int64_t round_grain_ms = 50;

/// Arms the timer for the earliest round end unless one that ends no later
/// is armed already.
void arm_rounds(limiter_pointer self, int64_t now_ms) {
  auto& st = self->state;
  if (st.rounds.empty()) {
    return;
  }
  auto tick = st.rounds.begin()->first;
  if (!st.armed.empty() && *st.armed.begin() <= tick) {
    return;
  }
  st.armed.insert(tick);
  self->delayed_send(self, std::chrono::milliseconds{std::max<int64_t>(0, tick - now_ms)},
                     deadline_atom::value, tick);
}

/// Answers the starter parked for `run`, if any (exactly once).
void answer_parked(limiter_pointer self, int64_t run, bool admitted) {
  auto& st = self->state;
  auto p = st.parked.find(run);
  if (p == st.parked.end()) {
    return;
  }
  p->second.rp.deliver(admission_wait{admitted, !admitted});
  bool last_round = p->second.last_round;
  st.rounds.erase({p->second.tick_ms, run});
  st.parked.erase(p);
  if (admitted) {
    st.stats.admitted_after_wait += 1;
  } else if (last_round) {
    st.stats.timed_out += 1;
  }
}

void drop_holder(limiter_pointer self, int64_t run) {
  auto& st = self->state;
  auto it = st.holders.find(run);
  if (it == st.holders.end()) {
    return;
  }
  self->demonitor(it->second);
  st.by_holder.erase(it->second);
  st.holders.erase(it);
}

tenant_limiter_actor::behavior_type limiter(limiter_pointer self, tenant_id tenant, int64_t idle_ms,
                                            tenant_directory_actor directory) {
  self->state.stats.tenant = std::move(tenant);
  self->state.idle_ms = idle_ms;
  self->state.directory = directory.address();
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto it = st.by_holder.find(dm.source);
    if (it == st.by_holder.end()) {
      return;
    }
    st.holders.erase(it->second);
    st.by_holder.erase(it);
    st.stats.holders_died += 1;
    touch(self);
  });
  touch(self);
  return {
    [=](hold_atom, run_id run, caf::actor& holder) {
      auto& st = self->state;
      st.routed += 1;
      drop_holder(self, run.value);
      self->monitor(holder);
      st.holders[run.value] = holder.address();
      st.by_holder[holder.address()] = run.value;
      // A starter waiting for exactly this run: it is admitted.
      answer_parked(self, run.value, true);
      touch(self);
    },
    [=](release_atom, run_id run) {
      self->state.routed += 1;
      drop_holder(self, run.value);
      touch(self);
    },
    [=](admitted_atom, run_id run) {
      // Claimed by another node (its dispatcher's news).
      auto& st = self->state;
      st.routed += 1;
      if (st.parked.count(run.value) != 0) {
        answer_parked(self, run.value, true);
      } else {
        st.admitted_elsewhere.push_back(run.value);
        if (st.admitted_elsewhere.size() > limiter_state::max_admitted_elsewhere) {
          st.admitted_elsewhere.pop_front();
        }
      }
      touch(self);
    },
    [=](park_atom, run_id run, int64_t until_ms,
        int64_t deadline_ms) -> caf::result<admission_wait> {
      auto& st = self->state;
      st.routed += 1;
      if (st.holders.count(run.value) != 0 ||
          std::find(st.admitted_elsewhere.begin(), st.admitted_elsewhere.end(), run.value) !=
            st.admitted_elsewhere.end()) {
        return admission_wait{true, false}; // admitted before the starter asked
      }
      auto rp = self->make_response_promise<admission_wait>();
      auto now = wall_clock_ms(self->home_system());
      if (until_ms <= now || st.parked.count(run.value) != 0) {
        if (until_ms >= deadline_ms) {
          st.stats.timed_out += 1;
        }
        rp.deliver(admission_wait{false, true});
        return rp;
      }
      // The last round ends at the starter's deadline, exactly.
      auto tick = until_ms >= deadline_ms
                    ? until_ms
                    : (until_ms + round_grain_ms - 1) / round_grain_ms * round_grain_ms;
      st.parked.emplace(run.value,
                        limiter_state::parked_starter{rp, until_ms >= deadline_ms, tick});
      st.rounds.emplace(tick, run.value);
      arm_rounds(self, now);
      touch(self);
      return rp;
    },
    [=](deadline_atom, int64_t tick) {
      // The rounds that end by this tick and are still parked (not
      // admitted in time): their runs stay queued.
      auto& st = self->state;
      st.armed.erase(tick);
      std::vector<int64_t> ended;
      for (auto it = st.rounds.begin(); it != st.rounds.end() && it->first <= tick; ++it) {
        ended.push_back(it->second);
      }
      for (auto run : ended) {
        answer_parked(self, run, false);
      }
      arm_rounds(self, wall_clock_ms(self->home_system()));
      touch(self);
    },
    [=](idle_atom, int64_t generation) {
      auto& st = self->state;
      // Not quit on its own: a hold or park the directory routed here in
      // the meantime would be lost. The directory stops this limiter if it
      // routed nothing since (the counts match), else the new message
      // arrives, touches, and the check repeats.
      if (generation == st.generation && st.holders.empty() && st.parked.empty()) {
        auto d = caf::actor_cast<tenant_directory_actor>(st.directory);
        if (!d) {
          self->quit(); // the node is stopping: nothing routes here any more
          return;
        }
        self->send(d, idle_atom::value, st.stats.tenant, st.routed);
      }
    },
    [=](stats_atom) {
      update_counts(self);
      return self->state.stats;
    },
  };
}

struct directory_state {
  directory_state() = default;

  int64_t idle_ms = 30'000;
  /// Shared: the exit functor that stops the limiters runs after CAF
  /// destroyed the state.
  std::shared_ptr<std::unordered_map<std::string, tenant_limiter_actor>> limiters_ptr =
    std::make_shared<std::unordered_map<std::string, tenant_limiter_actor>>();
  std::unordered_map<std::string, tenant_limiter_actor>& limiters = *limiters_ptr;
  std::map<caf::actor_addr, std::string> by_limiter;
  /// Messages routed to each tenant's current limiter.
  std::unordered_map<std::string, int64_t> routed;
  static inline const char* name = "flowgate.tenant_directory";
};

using directory_pointer = tenant_directory_actor::stateful_pointer<directory_state>;

tenant_limiter_actor limiter_for(directory_pointer self, const tenant_id& tenant) {
  auto& st = self->state;
  auto it = st.limiters.find(tenant.value);
  if (it != st.limiters.end()) {
    return it->second;
  }
  auto l = self->home_system().spawn(limiter, tenant, st.idle_ms,
                                     caf::actor_cast<tenant_directory_actor>(self));
  self->monitor(l);
  st.limiters.emplace(tenant.value, l);
  st.by_limiter[l.address()] = tenant.value;
  st.routed[tenant.value] = 0;
  return l;
}

/// The tenant's limiter (spawned if needed) for one message, counted.
tenant_limiter_actor route(directory_pointer self, const tenant_id& tenant) {
  auto l = limiter_for(self, tenant);
  self->state.routed[tenant.value] += 1;
  return l;
}

void forget(directory_pointer self, const std::string& tenant) {
  auto& st = self->state;
  auto it = st.limiters.find(tenant);
  if (it == st.limiters.end()) {
    return;
  }
  st.by_limiter.erase(it->second.address());
  st.limiters.erase(it);
  st.routed.erase(tenant);
}

tenant_directory_actor::behavior_type directory(directory_pointer self, int64_t idle_ms) {
  self->state.idle_ms = idle_ms;
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto it = st.by_limiter.find(dm.source);
    if (it != st.by_limiter.end()) {
      forget(self, it->second);
    }
  });
  // Limiters stop with the directory (node shutdown).
  self->attach_functor([all = self->state.limiters_ptr] {
    for (auto& [t, l] : *all) {
      caf::anon_send_exit(l, caf::exit_reason::user_shutdown);
    }
  });
  return {
    [=](hold_atom, tenant_id& tenant, run_id run, caf::actor& holder) {
      self->send(route(self, tenant), hold_atom::value, run, std::move(holder));
    },
    [=](release_atom, tenant_id& tenant, run_id run) {
      if (self->state.limiters.count(tenant.value) != 0) {
        self->send(route(self, tenant), release_atom::value, run);
      }
    },
    [=](admitted_atom, tenant_id& tenant, run_id run) {
      // Spawned if need be: the starter's park may be on its way.
      self->send(route(self, tenant), admitted_atom::value, run);
    },
    [=](idle_atom, tenant_id& tenant, int64_t routed) {
      // The limiter was idle having handled `routed` messages. Equal to what
      // was sent to it: nothing is in flight, so stopping it loses nothing.
      auto& st = self->state;
      auto it = st.limiters.find(tenant.value);
      if (it == st.limiters.end() || st.routed[tenant.value] != routed) {
        return;
      }
      auto l = it->second;
      forget(self, tenant.value);
      self->demonitor(l.address());
      self->send_exit(l, caf::exit_reason::user_shutdown);
    },
    [=](park_atom, tenant_id& tenant, run_id run, int64_t until_ms,
        int64_t deadline_ms) -> caf::result<admission_wait> {
      auto l = route(self, tenant);
      auto rp = self->make_response_promise<admission_wait>();
      auto wait = std::max<int64_t>(until_ms - wall_clock_ms(self->home_system()), 0);
      self
        ->request(l, std::chrono::milliseconds{wait + 10'000}, park_atom::value, run, until_ms,
                  deadline_ms)
        .then([rp](admission_wait& w) mutable { rp.deliver(w); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](stats_atom) -> caf::result<std::vector<limiter_stats>> {
      auto& st = self->state;
      auto rp = self->make_response_promise<std::vector<limiter_stats>>();
      if (st.limiters.empty()) {
        rp.deliver(std::vector<limiter_stats>{});
        return rp;
      }
      auto out = std::make_shared<std::vector<limiter_stats>>();
      auto left = std::make_shared<size_t>(st.limiters.size());
      auto one_done = [=]() mutable {
        if (--*left == 0) {
          std::sort(out->begin(), out->end(),
                    [](const auto& a, const auto& b) { return a.tenant.value < b.tenant.value; });
          rp.deliver(std::move(*out));
        }
      };
      for (auto& [t, l] : st.limiters) {
        self->request(l, std::chrono::seconds{5}, stats_atom::value)
          .then(
            [=](limiter_stats& s) mutable {
              out->push_back(std::move(s));
              one_done();
            },
            [=](caf::error&) mutable { one_done(); });
      }
      return rp;
    },
  };
}

} // namespace

tenant_directory_actor spawn_tenant_directory(caf::actor_system& sys, int64_t idle_ms) {
  return sys.spawn(directory, idle_ms);
}

} // namespace flowgate
