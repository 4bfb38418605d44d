#include "actors/activity_pool.hpp"

#include "actors/wall_clock.hpp"

#include "actors/activity.hpp"
#include "config/json_text.hpp"
#include "messages/actor_threads.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <vector>

namespace flowgate {

namespace {

namespace json = boost::json;

using worker_actor = caf::typed_actor<caf::replies_to<activity_request>::with<activity_result>>;

activity_result error_result(std::string type, std::string message, bool retryable) {
  activity_result r;
  r.ok = false;
  r.error_type = std::move(type);
  r.error_message = std::move(message);
  r.retryable = retryable;
  return r;
}

using stop_flag = std::shared_ptr<std::atomic<bool>>;

/// Runs one attempt on the calling (worker) thread; `stop` (may be null)
/// asks it to stop early.
activity_result execute(const activity_registry& activities, const activity_request& req,
                        const stop_flag& stop) {
  const auto* fn = activities.find(req.activity);
  if (fn == nullptr) {
    return error_result("unknown_activity",
                        "activity '" + req.activity + "' is not registered on this node", false);
  }
  boost::system::error_code ec;
  auto input = parse_json(req.input, ec);
  if (ec) {
    return error_result(
      "InvalidInput", "input of activity '" + req.activity + "' is not valid JSON: " + ec.message(),
      false);
  }
  activity_context ctx;
  ctx.tenant = req.tenant;
  ctx.run = req.run;
  ctx.step_path = req.step_path;
  ctx.attempt = req.attempt;
  ctx.stop = stop;
  if (req.tenant_config.size() > 2) {
    auto config = parse_json(req.tenant_config, ec);
    if (!ec && config.is_object()) {
      if (const auto* s = config.get_object().if_contains("settings"); s && s->is_object()) {
        ctx.settings = s->get_object();
      }
      if (const auto* s = config.get_object().if_contains("secrets"); s && s->is_object()) {
        ctx.secrets = s->get_object();
      }
      if (const auto* r = config.get_object().if_contains("restrictions"); r && r->is_array()) {
        for (const auto& x : r->get_array()) {
          if (x.is_string()) {
            ctx.restrictions.emplace_back(x.get_string());
          }
        }
      }
    }
  }
  try {
    auto outcome = (*fn)(input, ctx);
    activity_result r;
    r.ok = outcome.ok();
    if (outcome.ok()) {
      r.output = json::serialize(outcome.output());
    } else {
      r.error_type = outcome.error().type.empty() ? "error" : outcome.error().type;
      r.error_message = outcome.error().message;
      r.retryable = outcome.error().retryable;
    }
    return r;
  } catch (const std::exception& e) {
    return error_result("exception", "activity '" + req.activity + "' threw: " + e.what(), true);
  } catch (...) {
    return error_result("exception", "activity '" + req.activity + "' threw", true);
  }
}

worker_actor::behavior_type activity_worker(worker_actor::pointer self,
                                            std::shared_ptr<const activity_registry> activities,
                                            stop_flag stop) {
  mark_detached_thread(self->home_system());
  return {
    [activities, stop](const activity_request& req) { return execute(*activities, req, stop); },
  };
}

/// A worker, the flag that asks its current attempt to stop (cleared when
/// the worker is given back idle: it reads the flag only inside an
/// attempt) and the run of that attempt (0 while idle).
struct pooled_worker {
  worker_actor actor;
  stop_flag stop;
  int64_t run = 0;
};

/// The tenant config's `weight` (1 to 1000; default 1).
int64_t weight_of(const std::string& tenant_config) {
  if (tenant_config.find("\"weight\"") == std::string::npos) {
    return 1;
  }
  boost::system::error_code ec;
  auto config = parse_json(tenant_config, ec);
  if (ec || !config.is_object()) {
    return 1;
  }
  const auto* w = config.get_object().if_contains("weight");
  if (w == nullptr || !w->is_int64()) {
    return 1;
  }
  return std::clamp<int64_t>(w->get_int64(), 1, 1000);
}

struct job {
  activity_request request;
  caf::typed_response_promise<activity_result> promise;
};

struct activity_pool_state {
  // Declared so the state is no aggregate: CAF would try to build it from `self`.
  activity_pool_state() = default;

  std::shared_ptr<const activity_registry> activities;
  int64_t default_timeout_ms = 300'000;
  int32_t size = 0;
  std::vector<worker_actor> idle;
  /// Every worker spawned, to stop them with the pool. Shared: the exit
  /// functor runs after CAF destroyed the state.
  std::shared_ptr<std::vector<pooled_worker>> all = std::make_shared<std::vector<pooled_worker>>();
  /// Per-tenant FIFO queues and the round-robin order of tenants with work.
  std::map<std::string, std::deque<job>> queues;
  std::deque<std::string> turn;
  /// Weighted round-robin: a tenant at the front of `turn` starts up to its
  /// weight (tenant config `weight`, default 1) attempts before the next.
  std::map<std::string, int64_t> weights;
  int64_t served_in_turn = 0;
  /// Attempts running per tenant (tenants with none are not in it).
  std::map<std::string, int32_t> busy_of;
  pool_stats stats;
  /// Durations and failures per activity name (at most 256 names; the
  /// rest under "(other)").
  std::map<std::string, activity_series> by_activity;
  static inline const char* name = "flowgate.activity_pool";
};

using pool_pointer = activity_pool_actor::stateful_pointer<activity_pool_state>;

/// Counts an attempt of `activity` that ran on a worker since `began`.
void timed(pool_pointer self, const std::string& activity,
           std::chrono::steady_clock::time_point began, bool failed) {
  auto& m = self->state.by_activity;
  auto name = m.count(activity) > 0 || m.size() < 256 ? activity : std::string{"(other)"};
  auto& x = m[name];
  if (x.seconds.counts.empty()) {
    x.activity = name;
    x.seconds = latency_histogram();
  }
  x.seconds.observe(
    std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - began)
      .count());
  x.failures += failed ? 1 : 0;
}

worker_actor spawn_worker(pool_pointer self) {
  auto& sys = self->home_system();
  auto stop = std::make_shared<std::atomic<bool>>(false);
  auto w = spawns_detached(sys)
             ? sys.spawn<caf::detached>(activity_worker, self->state.activities, stop)
             : sys.spawn(activity_worker, self->state.activities, stop);
  auto& st = self->state;
  st.all->push_back(pooled_worker{w, std::move(stop)});
  st.stats.workers = static_cast<int32_t>(st.all->size());
  return w;
}

pooled_worker* find_worker(pool_pointer self, const worker_actor& worker) {
  auto& all = *self->state.all;
  auto it =
    std::find_if(all.begin(), all.end(), [&](const pooled_worker& w) { return w.actor == worker; });
  return it == all.end() ? nullptr : &*it;
}

/// Stops `worker` (its current attempt is asked to stop; it exits once
/// the call returns) and drops it from the pool.
void retire(pool_pointer self, const worker_actor& worker) {
  auto& st = self->state;
  caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
  auto& all = *st.all;
  if (auto* w = find_worker(self, worker); w != nullptr) {
    w->stop->store(true, std::memory_order_relaxed);
    all.erase(all.begin() + (w - all.data()));
  }
  st.stats.workers = static_cast<int32_t>(all.size());
}

void done_for(pool_pointer self, const std::string& tenant) {
  auto& busy = self->state.busy_of;
  if (auto it = busy.find(tenant); it != busy.end() && --it->second == 0) {
    busy.erase(it);
  }
}

/// Takes `tenant`'s next job; a tenant whose queue empties leaves the turn.
/// `tenant`'s queue emptied: it leaves the round-robin turn.
void leave_turn(pool_pointer self, const std::string& tenant) {
  auto& st = self->state;
  if (!st.turn.empty() && st.turn.front() == tenant) {
    st.served_in_turn = 0;
  }
  if (auto t = std::find(st.turn.begin(), st.turn.end(), tenant); t != st.turn.end()) {
    st.turn.erase(t);
  }
}

job take(pool_pointer self, const std::string& tenant) {
  auto& st = self->state;
  auto& queue = st.queues[tenant];
  auto next = std::move(queue.front());
  queue.pop_front();
  if (queue.empty()) {
    st.queues.erase(tenant);
    leave_turn(self, tenant);
  }
  return next;
}

/// With every worker busy: the first tenant in turn order running fewer
/// attempts than its share of the pool (size x weight / the weights of
/// all tenants with work, at least 1) while another runs more than its
/// own. Slow attempts cannot be interrupted, so instead of waiting for
/// them that tenant gets an extra worker, at most `size` extra in all.
std::optional<std::string> below_share(pool_pointer self) {
  auto& st = self->state;
  if (st.all->size() >= 2 * static_cast<size_t>(st.size)) {
    return std::nullopt;
  }
  int64_t total = 0;
  for (auto& [t, n] : st.busy_of) {
    total += st.weights[t];
  }
  for (auto& t : st.turn) {
    total += st.busy_of.count(t) == 0 ? st.weights[t] : 0;
  }
  auto share = [&](const std::string& t) {
    return std::max<int64_t>(1, st.size * st.weights[t] / std::max<int64_t>(total, 1));
  };
  bool someone_over = false;
  for (auto& [t, n] : st.busy_of) {
    someone_over = someone_over || n > share(t);
  }
  if (!someone_over) {
    return std::nullopt;
  }
  for (auto& t : st.turn) {
    auto it = st.busy_of.find(t);
    if ((it == st.busy_of.end() ? 0 : it->second) < share(t)) {
      return t;
    }
  }
  return std::nullopt;
}

/// A worker is done with an attempt: back to idle, or retired if the pool
/// is above its size (it was lent).
void give_back(pool_pointer self, const worker_actor& worker) {
  auto& st = self->state;
  if (st.all->size() > static_cast<size_t>(st.size)) {
    retire(self, worker);
    return;
  }
  if (auto* w = find_worker(self, worker); w != nullptr) {
    w->stop->store(false, std::memory_order_relaxed);
    w->run = 0;
  }
  st.idle.push_back(worker);
}

void dispatch(pool_pointer self) {
  auto& st = self->state;
  while (!st.turn.empty()) {
    std::string tenant;
    worker_actor worker;
    if (!st.idle.empty()) {
      // Weighted round-robin over the tenants with work.
      tenant = st.turn.front();
      st.served_in_turn += 1;
      if (st.queues[tenant].size() > 1 && st.served_in_turn >= st.weights[tenant]) {
        st.turn.pop_front();
        st.turn.push_back(tenant);
        st.served_in_turn = 0;
      }
      worker = st.idle.back();
      st.idle.pop_back();
    } else if (auto lent = below_share(self)) {
      tenant = *lent;
      worker = spawn_worker(self);
      st.stats.lent += 1;
    } else {
      return;
    }
    auto next = take(self, tenant);
    st.busy_of[tenant] += 1;
    st.stats.queued -= 1;
    st.stats.busy += 1;
    if (auto* w = find_worker(self, worker); w != nullptr) {
      w->run = next.request.run.value;
    }
    auto timeout = next.request.timeout_ms > 0 ? next.request.timeout_ms : st.default_timeout_ms;
    auto activity = next.request.activity;
    auto rp = next.promise;
    auto began = std::chrono::steady_clock::now();
    self->request(worker, std::chrono::milliseconds{timeout}, std::move(next.request))
      .then(
        [=](activity_result& r) mutable {
          auto& s = self->state;
          s.stats.busy -= 1;
          s.stats.executed += 1;
          timed(self, activity, began, !r.ok);
          done_for(self, tenant);
          give_back(self, worker);
          rp.deliver(std::move(r));
          dispatch(self);
        },
        [=](caf::error& err) mutable {
          auto& s = self->state;
          s.stats.busy -= 1;
          s.stats.executed += 1;
          timed(self, activity, began, true);
          done_for(self, tenant);
          // The worker may still be inside the activity: retire it (it exits
          // once the call returns) and put a fresh one in its place, unless
          // it was lent.
          retire(self, worker);
          if (s.all->size() < static_cast<size_t>(s.size)) {
            s.idle.push_back(spawn_worker(self));
          }
          if (err == caf::sec::request_timeout) {
            s.stats.timed_out += 1;
            rp.deliver(error_result("timeout",
                                    "activity '" + activity +
                                      "' exceeded its start-to-close "
                                      "timeout of " +
                                      std::to_string(timeout) + " ms",
                                    true));
          } else {
            rp.deliver(error_result("worker_failed",
                                    "activity '" + activity +
                                      "' lost its worker: " + self->home_system().render(err),
                                    true));
          }
          dispatch(self);
        });
  }
}

activity_pool_actor::behavior_type activity_pool(pool_pointer self,
                                                 std::shared_ptr<const activity_registry> acts,
                                                 int32_t workers, int64_t default_timeout_ms) {
  auto& st = self->state;
  st.activities = std::move(acts);
  st.default_timeout_ms = default_timeout_ms;
  st.size = std::max(workers, 1);
  for (int32_t i = 0; i < st.size; ++i) {
    st.idle.push_back(spawn_worker(self));
  }
  self->attach_functor([all = st.all] {
    for (auto& w : *all) {
      w.stop->store(true, std::memory_order_relaxed);
      caf::anon_send_exit(w.actor, caf::exit_reason::user_shutdown);
    }
  });
  return {
    [=](activity_request& req) -> caf::result<activity_result> {
      auto& s = self->state;
      if (s.activities->is_inline(req.activity)) {
        s.stats.executed += 1;
        auto began = std::chrono::steady_clock::now();
        auto r = execute(*s.activities, req, nullptr);
        timed(self, req.activity, began, !r.ok);
        return r;
      }
      auto rp = self->make_response_promise<activity_result>();
      auto tenant = req.tenant.value;
      s.weights[tenant] = weight_of(req.tenant_config);
      auto& queue = s.queues[tenant];
      if (queue.empty()) {
        s.turn.push_back(tenant);
      }
      queue.push_back(job{std::move(req), rp});
      s.stats.queued += 1;
      dispatch(self);
      return rp;
    },
    [=](cancel_atom, run_id run) {
      auto& s = self->state;
      for (auto& w : *s.all) {
        if (w.run == run.value) {
          w.stop->store(true, std::memory_order_relaxed);
        }
      }
      for (auto it = s.queues.begin(); it != s.queues.end();) {
        auto& queue = it->second;
        for (auto j = queue.begin(); j != queue.end();) {
          if (j->request.run == run) {
            j->promise.deliver(
              error_result("canceled", "the attempt's run ended before it started", false));
            j = queue.erase(j);
            s.stats.queued -= 1;
          } else {
            ++j;
          }
        }
        if (queue.empty()) {
          leave_turn(self, it->first);
          it = s.queues.erase(it);
        } else {
          ++it;
        }
      }
    },
    [=](stats_atom) {
      auto out = self->state.stats;
      for (const auto& [name, x] : self->state.by_activity) {
        out.activities.push_back(x);
      }
      return out;
    },
  };
}

} // namespace

activity_pool_actor spawn_activity_pool(caf::actor_system& sys,
                                        std::shared_ptr<const activity_registry> activities,
                                        int32_t workers, int64_t default_timeout_ms) {
  return sys.spawn(activity_pool, std::move(activities), workers, default_timeout_ms);
}

} // namespace flowgate
