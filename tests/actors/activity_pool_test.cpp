// The activity pool: fair per-tenant scheduling, timeouts, typed errors.

#include "actors/activity.hpp"
#include "actors/activity_pool.hpp"
#include "messages/actor_threads.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

using namespace flowgate;
using namespace std::chrono_literals;

namespace {

/// Holds the `record` activity until the test opens it, so that every request
/// is queued in the pool before the first one finishes.
struct gate {
  std::mutex mtx;
  std::condition_variable cv;
  bool open = false;
};

struct pool_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<std::mutex> mtx = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::string>> started = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<gate> held = std::make_shared<gate>();
  /// How many `until_stopped` attempts returned because they were asked to.
  std::shared_ptr<std::atomic<int>> stopped = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<activity_registry> reg = std::make_shared<activity_registry>();
  activity_pool_actor pool;

  pool_fixture() {
    register_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    reg->add("record", [m = mtx, s = started, g = held](const boost::json::value&,
                                                        const activity_context& ctx) {
      {
        std::unique_lock<std::mutex> lock{g->mtx};
        // Bounded: a test that never opens the gate fails, it does not hang.
        g->cv.wait_for(lock, 30s, [&] { return g->open; });
      }
      std::lock_guard<std::mutex> guard{*m};
      s->push_back(ctx.tenant.value);
      return activity_outcome::success();
    });
    reg->add("quick", [](const boost::json::value&, const activity_context&) {
      return activity_outcome::success();
    });
    // Runs until asked to stop (bounded: 30 s), and says which it was.
    reg->add("until_stopped",
             [n = stopped](const boost::json::value&, const activity_context& ctx) {
               if (ctx.sleep_for(30s)) {
                 return activity_outcome::success("not asked to stop");
               }
               *n += 1;
               return activity_outcome::failure("Stopped", "asked to stop", true);
             });
    pool = spawn_activity_pool(*sys, reg, 2, 10'000);
  }

  pool_stats stats() {
    caf::scoped_actor self{*sys};
    pool_stats out;
    self->request(pool, 30s, stats_atom::value)
      .receive([&](pool_stats& st) { out = st; }, [](caf::error& e) { BOOST_FAIL(describe(e)); });
    return out;
  }

  ~pool_fixture() {
    caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
    pool = nullptr;
    join_actor_threads(*sys);
    sys.reset();
  }

  void open_gate() {
    {
      std::lock_guard<std::mutex> guard{held->mtx};
      held->open = true;
    }
    held->cv.notify_all();
  }

  activity_request request(const std::string& tenant, const std::string& activity,
                           const std::string& config = "{}", const std::string& input = "null",
                           int64_t timeout_ms = 0) {
    activity_request r;
    r.tenant = tenant_id{tenant};
    r.activity = activity;
    r.tenant_config = config;
    r.input = input;
    r.timeout_ms = timeout_ms;
    return r;
  }

  /// Sends `heavy` attempts of tenant a, then `light` of tenant b, to a pool
  /// with one worker, with the first attempt held until all are queued; waits
  /// for all and returns the start order. One worker makes the start order
  /// the pool's dispatch order: with two, a worker thread preempted between
  /// taking an attempt and recording it reorders the record (seen in CI).
  std::vector<std::string> run_backlog(int heavy, int light, const std::string& a_config) {
    caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
    pool = spawn_activity_pool(*sys, reg, 1, 10'000);
    caf::scoped_actor self{*sys};
    for (int i = 0; i < heavy; ++i) {
      self->send(pool, request("a", "record", a_config));
    }
    for (int i = 0; i < light; ++i) {
      self->send(pool, request("b", "record"));
    }
    // The pool handles its mailbox in order: once it answers this, it holds
    // every request above.
    BOOST_TEST(stats().queued == heavy + light - 1);
    open_gate();
    int answered = 0;
    self->receive_for(answered, heavy + light)([](activity_result&) {});
    std::lock_guard<std::mutex> guard{*mtx};
    return *started;
  }

  activity_request of_run(int64_t run, const std::string& activity, int64_t timeout_ms = 0) {
    auto r = request("a", activity, "{}", "null", timeout_ms);
    r.run = run_id{run};
    return r;
  }

  activity_result ask(activity_request r) {
    caf::scoped_actor self{*sys};
    activity_result out;
    self->request(pool, 30s, std::move(r))
      .receive([&](activity_result& x) { out = x; },
               [](caf::error& e) { BOOST_FAIL(describe(e)); });
    return out;
  }
};

/// How many of a's attempts started between b's first and last start. The
/// bound is independent of how many of a's started before b's arrived.
size_t a_between_bs(const std::vector<std::string>& xs) {
  size_t first = xs.size();
  size_t last = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (xs[i] == "b") {
      first = std::min(first, i);
      last = i;
    }
  }
  size_t n = 0;
  for (size_t i = first; i < last; ++i) {
    n += xs[i] == "a" ? 1 : 0;
  }
  return n;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(activity_pool, pool_fixture)

BOOST_AUTO_TEST_CASE(a_light_tenant_is_not_stuck_behind_a_heavy_backlog) {
  auto order = run_backlog(300, 10, "{}");
  BOOST_REQUIRE(order.size() == 310u);
  // Round-robin: after the held attempt, a and b take turns, one each, so b
  // waits for 1 of a's 299 queued attempts, not for all of them.
  auto first_b = std::find(order.begin(), order.end(), "b") - order.begin();
  BOOST_TEST(first_b == 2);
  BOOST_TEST(a_between_bs(order) == 9u);
}

BOOST_AUTO_TEST_CASE(weights_give_a_tenant_more_turns) {
  auto order = run_backlog(300, 10, R"({"weight": 3})");
  BOOST_REQUIRE(order.size() == 310u);
  // a starts 3 per turn, b one.
  auto first_b = std::find(order.begin(), order.end(), "b") - order.begin();
  BOOST_TEST(first_b == 4);
  BOOST_TEST(a_between_bs(order) == 9u * 3u);
}

BOOST_AUTO_TEST_CASE(errors_are_typed) {
  open_gate();
  auto unknown = ask(request("a", "nope"));
  BOOST_TEST(!unknown.ok);
  BOOST_TEST(unknown.error_type == "unknown_activity");
  BOOST_TEST(!unknown.retryable);
  auto slow = ask(request("a", "sleep", "{}", "500", 50));
  BOOST_TEST(!slow.ok);
  BOOST_TEST(slow.error_type == "timeout");
  BOOST_TEST(slow.retryable);
  auto echoed = ask(request("a", "echo", "{}", R"({"x":1})"));
  BOOST_TEST(echoed.ok);
  BOOST_TEST(echoed.output == R"({"x":1})");
  // The pool still has its workers after a timeout.
  auto fine = ask(request("a", "record"));
  BOOST_TEST(fine.ok);
}

BOOST_AUTO_TEST_CASE(slow_attempts_of_one_tenant_do_not_hold_another_back) {
  // a's 4 attempts block (the gate is shut): 2 take both workers, 2 queue.
  caf::scoped_actor self{*sys};
  for (int i = 0; i < 4; ++i) {
    self->send(pool, request("a", "record"));
  }
  auto st = stats();
  BOOST_TEST(st.busy == 2);
  BOOST_TEST(st.queued == 2);
  // Alone, a gets no extra worker: it holds its whole share.
  BOOST_TEST(st.workers == 2);
  BOOST_TEST(st.lent == 0);
  // b arrives: a runs 2 against a share of 1, b none. b's attempt runs at
  // once on an extra worker, while a's are still stuck.
  auto quick = ask(request("b", "quick"));
  BOOST_TEST(quick.ok);
  st = stats();
  BOOST_TEST(st.lent == 1);
  BOOST_TEST(st.busy == 2);
  BOOST_TEST(st.queued == 2);
  // The extra worker was retired when b's attempt ended.
  BOOST_TEST(st.workers == 2);
  open_gate();
  int answered = 0;
  self->receive_for(answered, 4)([](activity_result& r) { BOOST_TEST(r.ok); });
  st = stats();
  BOOST_TEST(st.workers == 2);
  BOOST_TEST(st.busy == 0);
  BOOST_TEST(st.executed == 5);
}

BOOST_AUTO_TEST_CASE(a_cancel_stops_a_runs_running_attempts_and_drops_its_queued_ones) {
  caf::scoped_actor self{*sys};
  // Run 7's three attempts: two take both workers, one queues; run 8's queues.
  for (int i = 0; i < 3; ++i) {
    self->send(pool, of_run(7, "until_stopped"));
  }
  self->send(pool, of_run(8, "until_stopped"));
  auto st = stats();
  BOOST_TEST(st.busy == 2);
  BOOST_TEST(st.queued == 2);
  self->send(pool, cancel_atom::value, run_id{7});
  std::vector<std::string> outcomes;
  int answered = 0;
  self->receive_for(answered, 3)([&](activity_result& r) {
    BOOST_TEST(!r.ok);
    outcomes.push_back(r.error_type + (r.retryable ? "" : "(final)"));
  });
  std::sort(outcomes.begin(), outcomes.end());
  BOOST_TEST((outcomes == std::vector<std::string>{"Stopped", "Stopped", "canceled(final)"}));
  // Run 8 runs on a freed worker, not asked to stop: the flag was cleared.
  st = stats();
  BOOST_TEST(st.busy == 1);
  BOOST_TEST(st.queued == 0);
  BOOST_TEST(st.workers == 2);
  self->send(pool, cancel_atom::value, run_id{8});
  self->receive([](activity_result& r) { BOOST_TEST(r.error_type == "Stopped"); });
  BOOST_TEST(*stopped == 3);
}

BOOST_AUTO_TEST_CASE(an_attempt_past_its_timeout_is_asked_to_stop) {
  caf::scoped_actor self{*sys};
  auto timed_out = ask(of_run(9, "until_stopped", 50));
  BOOST_TEST(timed_out.error_type == "timeout");
  // The attempt returns because it was asked to (bounded wait; it would
  // otherwise sleep 30 s).
  for (int i = 0; i < 1000 && *stopped == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  BOOST_TEST(*stopped == 1);
  // Its worker was retired and replaced: the pool has its 2 workers, free.
  auto a = ask(of_run(10, "quick"));
  BOOST_TEST(a.ok);
  auto st = stats();
  BOOST_TEST(st.workers == 2);
  BOOST_TEST(st.busy == 0);
  BOOST_TEST(st.timed_out == 1);
}

BOOST_AUTO_TEST_SUITE_END()
