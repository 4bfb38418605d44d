// Tenant concurrency limits and soft/hard active-run limits, end to end on
// an executing node. A probe activity measures how many runs of a tenant
// execute at once (test code; the runtime itself holds no lock).

#include "actors/activity.hpp"
#include "actors/tenant_limiter.hpp"
#include "actors/wall_clock.hpp"
#include "tests/actors/node_fixture.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/scoped_actor.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

using namespace flowgate;
using namespace std::chrono_literals;

namespace {

/// Concurrency per tenant as the activities see it.
struct probe {
  std::mutex mtx;
  std::map<std::string, int> now;
  std::map<std::string, int> max;
  std::atomic<int> phase{0};
  std::map<std::pair<int, std::string>, int> max_in_phase;

  void enter(const std::string& tenant) {
    std::lock_guard<std::mutex> guard{mtx};
    auto n = ++now[tenant];
    max[tenant] = std::max(max[tenant], n);
    auto& m = max_in_phase[{phase.load(), tenant}];
    m = std::max(m, n);
  }
  void leave(const std::string& tenant) {
    std::lock_guard<std::mutex> guard{mtx};
    --now[tenant];
  }
  int highest() {
    std::lock_guard<std::mutex> guard{mtx};
    int out = 0;
    for (auto& [t, m] : max) {
      out = std::max(out, m);
    }
    return out;
  }
  int highest_in(int p) {
    std::lock_guard<std::mutex> guard{mtx};
    int out = 0;
    for (auto& [key, m] : max_in_phase) {
      if (key.first == p) {
        out = std::max(out, m);
      }
    }
    return out;
  }
};

struct admission_fixture : flowgate::testing::node_fixture {
  std::shared_ptr<activity_registry> activities = std::make_shared<activity_registry>();
  std::shared_ptr<probe> seen = std::make_shared<probe>();

  admission_fixture() {
    activities->add("probe",
                    [p = seen](const boost::json::value& input, const activity_context& ctx) {
                      p->enter(ctx.tenant.value);
                      (void)ctx.sleep_for(std::chrono::milliseconds{input.as_int64()});
                      p->leave(ctx.tenant.value);
                      return activity_outcome::success();
                    });
    // Holds a permit until its run is canceled, outside the probe: a
    // canceled attempt stops within ~20 ms after the cancel commits and
    // frees the permit, so it may overlap the next run's first instants.
    activities->add("hold", [](const boost::json::value&, const activity_context& ctx) {
      (void)ctx.sleep_for(std::chrono::minutes{10});
      return activity_outcome::success();
    });
    auto s = settings();
    s.node_id = "admission";
    s.poll_interval_ms = 10;
    // A worker for every permit of the storm (50 tenants x 2): an admitted
    // run's attempt starts at once instead of queueing behind the other
    // tenants' turns, so each tenant's two permits are surely used together
    // (with 16 workers the round-robin left "the limit was reached" to luck;
    // it failed once under the sanitizers).
    s.workers = 112;
    s.tenant_max_concurrent_runs = 10;
    restart(s, node_options{true, activities});
  }

  void tenant(const std::string& id, const std::string& config) {
    auto t = n->put_tenant(id, config);
    BOOST_REQUIRE_MESSAGE(t, (t ? "" : describe(t.error())));
    auto c = n->put_config(id, "q", "1", R"({"name":"p","root":{"sequence":[
      {"id":"work","activity":"probe","input":{"$ref":"/input/ms"}}]}})");
    BOOST_REQUIRE_MESSAGE(c, (c ? "" : describe(c.error())));
    auto h = n->put_config(id, "hold", "1", R"({"name":"h","root":{"sequence":[
      {"id":"hold","activity":"hold"}]}})");
    BOOST_REQUIRE_MESSAGE(h, (h ? "" : describe(h.error())));
  }

  /// A run that holds one of the tenant's permits until it is canceled.
  int64_t start_holder(const std::string& tenant_id) {
    auto r = n->start_run(tenant_id, "hold", "{}");
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
    return r->run.id.value;
  }

  int64_t start(const std::string& tenant_id, int ms) {
    auto r = n->start_run(tenant_id, "q", R"({"ms": )" + std::to_string(ms) + "}");
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
    return r->run.id.value;
  }

  bool all_completed(int64_t expected, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (count("SELECT count(*) FROM runs WHERE status = 'COMPLETED'") == expected) {
        return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(admission, admission_fixture)

BOOST_AUTO_TEST_CASE(concurrency_limits_hold_exactly_under_a_storm) {
  for (int t = 0; t < 50; ++t) {
    // Starters do not wait for admission here (1 ms deadline): the storm
    // keeps every tenant's queue full.
    tenant("t" + std::to_string(t), R"({"max_concurrent_runs": 2, "admission_deadline_ms": 1})");
  }
  // Eight submitters at once: the tenants' queues fill up. Each commit
  // costs more on PostgreSQL (round trips): longer activities there, so
  // that two runs of a tenant do overlap.
  std::vector<std::thread> submitters;
  std::atomic<int> failures{0};
  int scale = testing::postgres_backend() ? 6 : 1;
  for (int k = 0; k < 8; ++k) {
    submitters.emplace_back([this, k, scale, &failures] {
      for (int i = k; i < 2000; i += 8) {
        auto r = n->start_run("t" + std::to_string(i % 50), "q",
                              R"({"ms": )" + std::to_string(scale * (5 + (i * 7) % 31)) + "}");
        failures += r ? 0 : 1;
      }
    });
  }
  for (auto& t : submitters) {
    t.join();
  }
  BOOST_REQUIRE(failures == 0);
  BOOST_REQUIRE(all_completed(2000, 120s));
  BOOST_TEST(seen->highest() <= 2);
  BOOST_TEST(seen->highest() == 2); // the limit was reached, not just respected
  // The ledger agrees: no tenant ever had more than 2 attempts open at once
  // (three intervals that overlap pairwise share an instant).
  BOOST_TEST(count("SELECT count(*) FROM run_steps a JOIN run_steps b ON a.tenant_id = "
                   "b.tenant_id AND a.run_id < b.run_id AND a.started_at_ms < b.finished_at_ms "
                   "AND b.started_at_ms < a.finished_at_ms JOIN run_steps c ON c.tenant_id = "
                   "a.tenant_id AND b.run_id < c.run_id AND c.started_at_ms < a.finished_at_ms "
                   "AND a.started_at_ms < c.finished_at_ms AND c.started_at_ms < b.finished_at_ms "
                   "AND b.started_at_ms < c.finished_at_ms") == 0);
}

BOOST_AUTO_TEST_CASE(queue_mode_keeps_runs_pending_until_a_permit_frees) {
  tenant("solo", R"({"max_concurrent_runs": 1, "admission_deadline_ms": 1})");
  // a runs until it is canceled: b and c are surely still queued when
  // checked, however slow the machine (a timed step ended early in CI).
  auto a = start_holder("solo");
  auto b = start("solo", 10);
  auto c = start("solo", 10);
  BOOST_TEST(n->get_run("solo", a)->status == run_status::running);
  BOOST_TEST(n->get_run("solo", b)->status == run_status::pending);
  BOOST_TEST(n->get_run("solo", c)->status == run_status::pending);
  BOOST_REQUIRE(n->cancel_run("solo", a, "done"));
  BOOST_REQUIRE(all_completed(2, 30s));
  BOOST_TEST(n->get_run("solo", a)->status == run_status::canceled);
  BOOST_TEST(seen->highest() == 1);
}

BOOST_AUTO_TEST_CASE(reject_mode_refuses_a_run_over_the_limit_and_stores_nothing) {
  tenant("strict", R"({"max_concurrent_runs": 1, "admission": "reject"})");
  // Runs until canceled below (a short step could end before the checks
  // on a loaded machine: seen in CI).
  auto first = start_holder("strict");
  auto refused = n->start_run("strict", "q", R"({"ms": 1})");
  BOOST_REQUIRE(!refused);
  BOOST_TEST(code_of(refused.error()) == errc::tenant_at_limit);
  BOOST_TEST(describe(refused.error()) ==
             "tenant 'strict' is running 1 of its 1 concurrent runs and its admission mode is "
             "'reject'");
  BOOST_TEST(count("SELECT count(*) FROM runs") == 1);
  auto stats = n->tenant_stats("strict");
  BOOST_REQUIRE(stats);
  BOOST_REQUIRE(stats->size() == 1u);
  BOOST_TEST(stats->front().running == 1);
  BOOST_TEST(stats->front().limit == 1);
  BOOST_TEST(stats->front().admission == "reject");
  BOOST_TEST(stats->front().rejected_at_limit == 1);
  BOOST_REQUIRE(n->cancel_run("strict", first, "done"));
  auto ended = n->wait_for_run("strict", first, 30s);
  BOOST_REQUIRE(ended);
  BOOST_TEST(ended->status == run_status::canceled);
  start("strict", 1); // a permit is free again
  BOOST_REQUIRE(all_completed(1, 30s));
}

BOOST_AUTO_TEST_CASE(soft_and_hard_limits_reject_new_runs_with_the_counts) {
  // Runs that wait for an event stay active.
  auto waiting = R"({"name":"p","root":{"sequence":[{"id":"w","wait":{"event":"go"}}]}})";
  BOOST_REQUIRE(n->put_tenant("soft", R"({"quota": {"soft_limit": 20}})"));
  BOOST_REQUIRE(n->put_config("soft", "w", "1", waiting));
  for (int i = 0; i < 21; ++i) {
    BOOST_REQUIRE(n->start_run("soft", "w", "{}")); // 20 + 5% burst
  }
  auto over = n->start_run("soft", "w", "{}");
  BOOST_REQUIRE(!over);
  BOOST_TEST(code_of(over.error()) == errc::quota_exceeded);
  BOOST_TEST(describe(over.error()) ==
             "tenant 'soft' has 21 active runs, at its soft limit of 20 plus the 5% burst (21)");
  BOOST_REQUIRE(n->put_tenant("hard", R"({"quota": {"hard_limit": 3}})"));
  BOOST_REQUIRE(n->put_config("hard", "w", "1", waiting));
  for (int i = 0; i < 3; ++i) {
    BOOST_REQUIRE(n->start_run("hard", "w", "{}"));
  }
  auto at_hard = n->start_run("hard", "w", "{}");
  BOOST_REQUIRE(!at_hard);
  BOOST_TEST(describe(at_hard.error()) ==
             "tenant 'hard' has 3 active runs, at its hard limit of 3");
  auto stats = n->tenant_stats("");
  BOOST_REQUIRE(stats);
  for (const auto& x : *stats) {
    if (x.tenant.value == "soft") {
      BOOST_TEST(x.rejected_soft == 1);
      BOOST_TEST(x.waiting == 21);
      BOOST_TEST(x.soft_limit == 20);
    } else if (x.tenant.value == "hard") {
      BOOST_TEST(x.rejected_hard == 1);
      BOOST_TEST(x.hard_limit == 3);
    }
  }
  // Finishing a run makes room.
  auto runs = n->list_runs("hard", caf::none, 0, 10);
  BOOST_REQUIRE(runs);
  BOOST_REQUIRE(n->cancel_run("hard", runs->front().id.value, ""));
  BOOST_TEST(n->start_run("hard", "w", "{}").engaged());
}

BOOST_AUTO_TEST_CASE(the_quota_feature_decides_which_pipelines_the_active_run_limits_bind) {
  // A pipeline whose `features` omit "quota" is not refused by the soft or
  // hard limit (its runs still count); one without `features` is, as is
  // one that lists "quota".
  BOOST_REQUIRE(n->put_tenant("mixed", R"({"quota": {"hard_limit": 2}})"));
  BOOST_REQUIRE(
    n->put_config("mixed", "plain", "1",
                  R"({"name":"p","root":{"sequence":[{"id":"w","wait":{"event":"go"}}]}})"));
  BOOST_REQUIRE(n->put_config(
    "mixed", "listed", "1",
    R"({"name":"l","features":["quota","metrics"],"root":{"sequence":[{"id":"w","wait":{"event":"go"}}]}})"));
  BOOST_REQUIRE(n->put_config(
    "mixed", "free", "1",
    R"({"name":"f","features":["metrics"],"root":{"sequence":[{"id":"w","wait":{"event":"go"}}]}})"));
  BOOST_REQUIRE(n->start_run("mixed", "plain", "{}"));
  BOOST_REQUIRE(n->start_run("mixed", "free", "{}"));
  for (const char* q : {"plain", "listed"}) {
    auto refused = n->start_run("mixed", q, "{}");
    BOOST_REQUIRE(!refused);
    BOOST_TEST(describe(refused.error()) ==
               "tenant 'mixed' has 2 active runs, at its hard limit of 2");
  }
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(n->start_run("mixed", "free", "{}").engaged());
  }
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE tenant_id = 'mixed'") == 5);
  BOOST_TEST(!n->start_run("mixed", "plain", "{}"));
}

BOOST_AUTO_TEST_CASE(a_changed_limit_applies_without_a_restart) {
  tenant("grow", R"({"max_concurrent_runs": 1, "admission_deadline_ms": 1})");
  for (int i = 0; i < 24; ++i) {
    start("grow", 40);
  }
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (count("SELECT count(*) FROM runs WHERE status = 'COMPLETED'") < 3 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  seen->phase = 1;
  BOOST_REQUIRE(n->put_tenant("grow", R"({"max_concurrent_runs": 3, "admission_deadline_ms": 1})"));
  BOOST_REQUIRE(all_completed(24, 60s));
  BOOST_TEST(seen->highest_in(0) == 1);
  BOOST_TEST(seen->highest_in(1) <= 3);
  BOOST_TEST(seen->highest_in(1) >= 2);
}

BOOST_AUTO_TEST_CASE(a_dead_holders_permit_is_freed_when_its_lease_expires) {
  tenant("single", R"({"max_concurrent_runs": 1, "admission_deadline_ms": 1})");
  // A run held by a node that died: it counts until its lease expires
  // (3 s: the checks below come before it on a loaded machine).
  auto snap = n->get_config("single", "q", "1");
  BOOST_REQUIRE(snap);
  run_record r;
  r.tenant = tenant_id{"single"};
  r.queue = queue_name{"q"};
  r.config_tenant = tenant_id{"single"};
  r.version = config_version{"1"};
  r.checksum = (*snap)->checksum;
  r.input = R"({"ms": 1})";
  auto now = wall_clock_ms();
  caf::scoped_actor self{*sys};
  self
    ->request(n->writer(), 5s,
              create_run{r, node_id{"dead"}, 0, 3000, now, {}, {}, 0, {}, 0, {}, 0, 8})
    .receive([](run_created&) {}, [](caf::error& e) { BOOST_FAIL(describe(e)); });
  auto waiting = start("single", 1);
  BOOST_TEST(n->get_run("single", waiting)->status == run_status::pending);
  auto stats = n->tenant_stats("single");
  BOOST_REQUIRE(stats);
  BOOST_TEST(stats->front().queued >= 1); // until the dead holder's lease expires
  BOOST_REQUIRE(all_completed(2, 30s));
  BOOST_TEST(seen->highest() == 1);
}

BOOST_AUTO_TEST_CASE(a_starter_waits_for_admission_up_to_the_deadline) {
  tenant("waits", R"({"max_concurrent_runs": 1, "admission_deadline_ms": 20000})");
  // The first run holds the only permit until it is canceled, once the
  // second starter is seen parked (no step duration to race with).
  auto first = start_holder("waits");
  BOOST_TEST(n->get_run("waits", first)->status == run_status::running);
  std::thread canceler{[&] {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto now = n->limiter_stats();
      if (now && !now->empty() && now->front().parked == 1) {
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    (void)n->cancel_run("waits", first, "make room");
  }};
  // The second start is parked in the tenant's limiter until the first
  // run gives its permit back, then answered with the run admitted.
  auto second = n->start_run("waits", "q", R"({"ms": 10})");
  canceler.join();
  BOOST_REQUIRE_MESSAGE(second, (second ? "" : describe(second.error())));
  BOOST_TEST(second->run.status != run_status::pending);
  BOOST_TEST(n->get_run("waits", first)->status == run_status::canceled);
  BOOST_REQUIRE(all_completed(1, 30s));
  BOOST_TEST(seen->highest() == 1);
  auto stats = n->limiter_stats();
  BOOST_REQUIRE(stats);
  BOOST_REQUIRE(stats->size() == 1u);
  BOOST_TEST(stats->front().tenant.value == "waits");
  BOOST_TEST(stats->front().admitted_after_wait == 1);
  BOOST_TEST(stats->front().timed_out == 0);
}

BOOST_AUTO_TEST_CASE(a_missed_deadline_leaves_the_run_pending_and_queued) {
  tenant("late", R"({"max_concurrent_runs": 1, "admission_deadline_ms": 100})");
  auto first = start_holder("late");
  // Parked for 100 ms while the first run holds the only permit: answered
  // at the deadline with the run still PENDING.
  auto second = n->start_run("late", "q", R"({"ms": 10})");
  BOOST_REQUIRE_MESSAGE(second, (second ? "" : describe(second.error())));
  BOOST_TEST(second->run.status == run_status::pending);
  BOOST_TEST(n->get_run("late", first)->status == run_status::running);
  auto stats = n->limiter_stats();
  BOOST_REQUIRE(stats);
  BOOST_TEST(stats->front().timed_out == 1);
  BOOST_TEST(stats->front().parked == 0);
  // Never lost: it runs once the permit frees.
  BOOST_REQUIRE(n->cancel_run("late", first, "make room"));
  BOOST_REQUIRE(all_completed(1, 30s));
  BOOST_TEST(seen->highest() == 1);
  BOOST_TEST(n->limiter_stats()->front().admitted_after_wait == 0);
}

BOOST_AUTO_TEST_CASE(limiters_track_the_permits_held_on_this_node) {
  tenant("held", R"({"max_concurrent_runs": 2, "admission_deadline_ms": 1})");
  // Two runs hold both permits until canceled; the third waits.
  auto a = start_holder("held");
  auto b = start_holder("held");
  start("held", 10);
  auto stats = n->limiter_stats();
  BOOST_REQUIRE(stats);
  BOOST_REQUIRE(stats->size() == 1u);
  BOOST_TEST(stats->front().held == 2);
  BOOST_REQUIRE(n->cancel_run("held", a, "done"));
  BOOST_REQUIRE(n->cancel_run("held", b, "done"));
  BOOST_REQUIRE(all_completed(1, 30s));
  // All permits given back once the runs finished (the release follows
  // the commit that finished the run).
  auto deadline = std::chrono::steady_clock::now() + 10s;
  int64_t held = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    auto now = n->limiter_stats();
    BOOST_REQUIRE(now);
    held = now->empty() ? 0 : now->front().held;
    if (held == 0) {
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  BOOST_TEST(held == 0);
}

BOOST_AUTO_TEST_CASE(a_limiter_frees_the_permit_of_a_holder_that_dies) {
  // The directory and its limiter on their own, with a stand-in holder.
  auto directory = spawn_tenant_directory(*sys, 60'000);
  // (A function actor with an argument: CAF 0.17 trips UBSan without one.)
  auto holder =
    sys->spawn([](caf::event_based_actor*, int) -> caf::behavior { return {[](int) {}}; }, 0);
  caf::scoped_actor self{*sys};
  self->send(directory, hold_atom::value, tenant_id{"x"}, run_id{int64_t{7}}, holder);
  self->send(directory, hold_atom::value, tenant_id{"x"}, run_id{int64_t{8}},
             caf::actor_cast<caf::actor>(self));
  auto stats = [&] {
    limiter_stats out;
    self->request(directory, 5s, stats_atom::value)
      .receive([&](std::vector<limiter_stats>& xs) { out = xs.at(0); },
               [](caf::error& e) { BOOST_FAIL(describe(e)); });
    return out;
  };
  BOOST_TEST(stats().held == 2);
  caf::anon_send_exit(holder, caf::exit_reason::kill);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (stats().held != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  auto after = stats();
  BOOST_TEST(after.held == 1);
  BOOST_TEST(after.holders_died == 1);
  // A release gives the other permit back; a parked starter of a run that
  // is already held is admitted at once.
  self->send(directory, release_atom::value, tenant_id{"x"}, run_id{int64_t{8}});
  self->send(directory, hold_atom::value, tenant_id{"x"}, run_id{int64_t{9}},
             caf::actor_cast<caf::actor>(self));
  self
    ->request(directory, 5s, park_atom::value, tenant_id{"x"}, run_id{int64_t{9}},
              wall_clock_ms() + 5'000, wall_clock_ms() + 5'000)
    .receive([](admission_wait& w) { BOOST_TEST(w.admitted); },
             [](caf::error& e) { BOOST_FAIL(describe(e)); });
  BOOST_TEST(stats().held == 1);
  caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_starter_is_answered_when_another_node_admits_its_run) {
  // Another node claimed the queued runs (its dispatcher's news reaches
  // this node's directory): a starter parked for one is answered admitted
  // at once, before its deadline; one that parks after the news came too.
  auto directory = spawn_tenant_directory(*sys, 60'000);
  caf::scoped_actor self{*sys};
  auto deadline = wall_clock_ms() + 60'000;
  // (A plain send: the answer comes back as a message to receive below.)
  self->send(directory, park_atom::value, tenant_id{"x"}, run_id{int64_t{11}}, deadline, deadline);
  self->send(directory, admitted_atom::value, tenant_id{"x"}, run_id{int64_t{11}});
  self->receive([](admission_wait& w) { BOOST_TEST((w.admitted && !w.timed_out)); },
                caf::after(std::chrono::seconds{30}) >> [] { BOOST_FAIL("not answered"); });
  self->send(directory, admitted_atom::value, tenant_id{"x"}, run_id{int64_t{12}});
  self
    ->request(directory, 30s, park_atom::value, tenant_id{"x"}, run_id{int64_t{12}}, deadline,
              deadline)
    .receive([](admission_wait& w) { BOOST_TEST((w.admitted && !w.timed_out)); },
             [](caf::error& e) { BOOST_FAIL(describe(e)); });
  // An unrelated run still waits (here: for its short deadline).
  self
    ->request(directory, 30s, park_atom::value, tenant_id{"x"}, run_id{int64_t{13}},
              wall_clock_ms() + 50, wall_clock_ms() + 50)
    .receive([](admission_wait& w) { BOOST_TEST((!w.admitted && w.timed_out)); },
             [](caf::error& e) { BOOST_FAIL(describe(e)); });
  caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(an_idle_limiter_stops_without_losing_what_was_routed_to_it) {
  // Limiters stop after 1 ms without work, again and again, while holds
  // and releases keep coming at varying gaps: none is lost in a stop.
  auto directory = spawn_tenant_directory(*sys, 1);
  caf::scoped_actor self{*sys};
  auto holder = caf::actor_cast<caf::actor>(self);
  auto held = [&] {
    int64_t out = 0;
    self->request(directory, 5s, stats_atom::value)
      .receive(
        [&](std::vector<limiter_stats>& xs) {
          for (auto& x : xs) {
            out += x.tenant.value == "x" ? x.held : 0;
          }
        },
        [](caf::error& e) { BOOST_FAIL(describe(e)); });
    return out;
  };
  int lost = 0;
  for (int64_t i = 0; i < 300; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds{(i * 397) % 2500});
    self->send(directory, hold_atom::value, tenant_id{"x"}, run_id{i}, holder);
    lost += held() == 1 ? 0 : 1;
    self->send(directory, release_atom::value, tenant_id{"x"}, run_id{i});
  }
  BOOST_TEST(lost == 0);
  // Once idle, it does stop.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  size_t limiters = 1;
  while (limiters != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    self->request(directory, 5s, stats_atom::value)
      .receive([&](std::vector<limiter_stats>& xs) { limiters = xs.size(); },
               [](caf::error& e) { BOOST_FAIL(describe(e)); });
  }
  BOOST_TEST(limiters == 0u);
  caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
