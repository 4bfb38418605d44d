// The activity pool: fair per-tenant scheduling, timeouts, typed errors.

#include "actors/activity.hpp"
#include "actors/activity_pool.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

using namespace flowgate;
using namespace std::chrono_literals;

namespace {

struct pool_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<std::mutex> mtx = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::string>> started = std::make_shared<std::vector<std::string>>();
  activity_pool_actor pool;

  pool_fixture() {
    register_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    auto reg = std::make_shared<activity_registry>();
    reg->add("record", [m = mtx, s = started](const boost::json::value&,
                                              const activity_context& ctx) {
      {
        std::lock_guard<std::mutex> guard{*m};
        s->push_back(ctx.tenant.value);
      }
      std::this_thread::sleep_for(1ms);
      return activity_outcome::success();
    });
    pool = spawn_activity_pool(*sys, reg, 2, 10'000);
  }

  ~pool_fixture() {
    caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
    sys.reset();
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

  /// Sends `heavy` attempts of tenant a, then `light` of tenant b, waits for
  /// all; returns the start order.
  std::vector<std::string> run_backlog(int heavy, int light, const std::string& a_config) {
    caf::scoped_actor self{*sys};
    for (int i = 0; i < heavy; ++i) {
      self->send(pool, request("a", "record", a_config));
    }
    for (int i = 0; i < light; ++i) {
      self->send(pool, request("b", "record"));
    }
    int answered = 0;
    self->receive_for(answered, heavy + light)([](activity_result&) {});
    std::lock_guard<std::mutex> guard{*mtx};
    return *started;
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
  // Round-robin: b's 10 attempts alternate with a's (one a per turn, plus
  // the 2 workers' attempts in flight), not after a's backlog.
  BOOST_TEST(a_between_bs(order) <= 9u * 1u + 2u);
  // And b did not wait for a's backlog: a's 300 attempts take at least
  // 150 ms on 2 workers; sending all 310 requests takes far less.
  auto first_b = std::find(order.begin(), order.end(), "b") - order.begin();
  BOOST_TEST(first_b < 150);
}

BOOST_AUTO_TEST_CASE(weights_give_a_tenant_more_turns) {
  auto order = run_backlog(300, 10, R"({"weight": 3})");
  BOOST_REQUIRE(order.size() == 310u);
  // a starts up to 3 per turn, b one.
  BOOST_TEST(a_between_bs(order) <= 9u * 3u + 2u);
  BOOST_TEST(a_between_bs(order) >= 9u * 3u - 2u);
}

BOOST_AUTO_TEST_CASE(errors_are_typed) {
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

BOOST_AUTO_TEST_SUITE_END()
