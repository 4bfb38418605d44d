#include "actors/activity_pool.hpp"

#include "actors/activity.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <deque>
#include <map>
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

/// Runs one attempt on the calling (worker) thread.
activity_result execute(const activity_registry& activities, const activity_request& req) {
  const auto* fn = activities.find(req.activity);
  if (fn == nullptr) {
    return error_result("unknown_activity",
                        "activity '" + req.activity + "' is not registered on this node", false);
  }
  boost::system::error_code ec;
  auto input = json::parse(req.input, ec);
  if (ec) {
    return error_result("InvalidInput", "input of activity '" + req.activity +
                                          "' is not valid JSON: " + ec.message(),
                        false);
  }
  activity_context ctx;
  ctx.tenant = req.tenant;
  ctx.run = req.run;
  ctx.step_path = req.step_path;
  ctx.attempt = req.attempt;
  if (req.tenant_config.size() > 2) {
    auto config = json::parse(req.tenant_config, ec);
    if (!ec && config.is_object()) {
      if (const auto* s = config.get_object().if_contains("settings"); s && s->is_object()) {
        ctx.settings = s->get_object();
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

worker_actor::behavior_type activity_worker(worker_actor::pointer,
                                            std::shared_ptr<const activity_registry> activities) {
  return {
    [activities](const activity_request& req) { return execute(*activities, req); },
  };
}

/// The tenant config's `weight` (1 to 1000; default 1).
int64_t weight_of(const std::string& tenant_config) {
  if (tenant_config.find("\"weight\"") == std::string::npos) {
    return 1;
  }
  boost::system::error_code ec;
  auto config = json::parse(tenant_config, ec);
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
  std::shared_ptr<std::vector<worker_actor>> all = std::make_shared<std::vector<worker_actor>>();
  /// Per-tenant FIFO queues and the round-robin order of tenants with work.
  std::map<std::string, std::deque<job>> queues;
  std::deque<std::string> turn;
  /// Weighted round-robin: a tenant at the front of `turn` starts up to its
  /// weight (tenant config `weight`, default 1) attempts before the next.
  std::map<std::string, int64_t> weights;
  int64_t served_in_turn = 0;
  pool_stats stats;
  static inline const char* name = "flowgate.activity_pool";
};

using pool_pointer = activity_pool_actor::stateful_pointer<activity_pool_state>;

worker_actor spawn_worker(pool_pointer self) {
  auto w = self->home_system().spawn<caf::detached>(activity_worker, self->state.activities);
  self->state.all->push_back(w);
  return w;
}

void dispatch(pool_pointer self) {
  auto& st = self->state;
  while (!st.idle.empty() && !st.turn.empty()) {
    auto tenant = st.turn.front();
    auto& queue = st.queues[tenant];
    auto next = std::move(queue.front());
    queue.pop_front();
    st.served_in_turn += 1;
    if (queue.empty()) {
      st.queues.erase(tenant);
      st.turn.pop_front();
      st.served_in_turn = 0;
    } else if (st.served_in_turn >= st.weights[tenant]) {
      st.turn.pop_front();
      st.turn.push_back(tenant);
      st.served_in_turn = 0;
    }
    st.stats.queued -= 1;
    auto worker = st.idle.back();
    st.idle.pop_back();
    st.stats.busy += 1;
    auto timeout = next.request.timeout_ms > 0 ? next.request.timeout_ms : st.default_timeout_ms;
    auto activity = next.request.activity;
    auto rp = next.promise;
    self->request(worker, std::chrono::milliseconds{timeout}, std::move(next.request))
      .then(
        [=](activity_result& r) mutable {
          auto& s = self->state;
          s.stats.busy -= 1;
          s.stats.executed += 1;
          s.idle.push_back(worker);
          rp.deliver(std::move(r));
          dispatch(self);
        },
        [=](caf::error& err) mutable {
          auto& s = self->state;
          s.stats.busy -= 1;
          s.stats.executed += 1;
          // The worker may still be inside the activity: retire it (it exits
          // once the call returns) and put a fresh one in its place.
          caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
          auto& all = *s.all;
          all.erase(std::remove(all.begin(), all.end(), worker), all.end());
          s.idle.push_back(spawn_worker(self));
          if (err == caf::sec::request_timeout) {
            s.stats.timed_out += 1;
            rp.deliver(error_result("timeout",
                                    "activity '" + activity + "' exceeded its start-to-close "
                                    "timeout of " + std::to_string(timeout) + " ms",
                                    true));
          } else {
            rp.deliver(error_result("worker_failed", "activity '" + activity +
                                                       "' lost its worker: " +
                                                       self->home_system().render(err),
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
  st.stats.workers = st.size;
  for (int32_t i = 0; i < st.size; ++i) {
    st.idle.push_back(spawn_worker(self));
  }
  self->attach_functor([all = st.all] {
    for (auto& w : *all) {
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
    }
  });
  return {
    [=](activity_request& req) -> caf::result<activity_result> {
      auto& s = self->state;
      if (s.activities->is_inline(req.activity)) {
        s.stats.executed += 1;
        return execute(*s.activities, req);
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
    [=](stats_atom) { return self->state.stats; },
  };
}

} // namespace

activity_pool_actor spawn_activity_pool(caf::actor_system& sys,
                                        std::shared_ptr<const activity_registry> activities,
                                        int32_t workers, int64_t default_timeout_ms) {
  return sys.spawn(activity_pool, std::move(activities), workers, default_timeout_ms);
}

} // namespace flowgate
