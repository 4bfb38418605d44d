// A whole executing node (store writer and reader, config registry, quota
// accountant, activity pool, limiters, dispatcher, orchestrators) on CAF's
// test coordinator: nothing runs unless the test runs it, and time moves
// only when the test advances it (wall_clock.hpp). A 60-second timer wait
// and a lease expiry take no real time, and nothing sleeps.

#include "actors/activity.hpp"
#include "actors/activity_pool.hpp"
#include "actors/config_registry.hpp"
#include "actors/dispatcher.hpp"
#include "actors/quota_accountant.hpp"
#include "actors/store_reader.hpp"
#include "actors/store_writer.hpp"
#include "actors/tenant_limiter.hpp"
#include "actors/wall_clock.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"
#include "persistence/sqlite_store.hpp"
#include "tests/persistence/temp_db.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/all.hpp>

using namespace flowgate;
using namespace std::chrono_literals;

namespace {

struct coordinator_fixture {
  testing::temp_db db;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::scoped_actor self;
  store_writer_actor writer;
  store_reader_actor reader;
  config_registry_actor configs;
  quota_accountant_actor accountant;
  activity_pool_actor pool;
  tenant_directory_actor limiters;
  dispatcher_actor dispatcher;

  static caf::actor_system_config& configure(caf::actor_system_config& c) {
    register_types(c);
    c.set("scheduler.policy", caf::atom("testing"));
    c.set("logger.file-verbosity", caf::atom("quiet"));
    return c;
  }

  coordinator_fixture()
      : sys(configure(cfg)),
        sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())), self(sys) {
    sqlite_store_options opts{db.path, sync_mode::normal, 1000};
    auto w = open_sqlite_writer(opts, wall_clock_ms(sys));
    BOOST_REQUIRE(w);
    auto r = open_sqlite_reader(opts);
    BOOST_REQUIRE(r);
    writer = spawn_store_writer(sys, std::shared_ptr<write_session>{std::move(*w)}, 100);
    reader = spawn_store_reader(sys, std::shared_ptr<read_session>{std::move(*r)});
    config_registry_settings rs;
    rs.default_tenant_id = "default";
    configs = spawn_config_registry(sys, writer, reader, rs);
    accountant = spawn_quota_accountant(sys, accountant_setup{writer, reader, 10'000});
    pool = spawn_activity_pool(sys, std::make_shared<const activity_registry>(), 1, 60'000);
    limiters = spawn_tenant_directory(sys);
    settle();
  }

  ~coordinator_fixture() {
    for (const auto& a :
         {caf::actor_cast<caf::actor>(dispatcher), caf::actor_cast<caf::actor>(limiters),
          caf::actor_cast<caf::actor>(pool), caf::actor_cast<caf::actor>(accountant),
          caf::actor_cast<caf::actor>(configs), caf::actor_cast<caf::actor>(reader),
          caf::actor_cast<caf::actor>(writer)}) {
      if (a) {
        caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
      }
    }
    settle();
  }

  /// Runs every job that is ready, until none is.
  void settle() {
    while (sched.run() > 0) {
    }
  }

  /// Advances virtual time in `step`s, running what each step makes ready.
  void pass(std::chrono::milliseconds total, std::chrono::milliseconds step = 100ms) {
    for (auto t = std::chrono::milliseconds{0}; t < total; t += step) {
      sched.advance_time(step);
      settle();
    }
  }

  /// Sends an operation, runs the system, and takes the answer.
  template <class R, class Dest, class... Ts> R ask(const Dest& dest, Ts&&... xs) {
    self->send(dest, std::forward<Ts>(xs)...);
    settle();
    R out;
    bool got = false;
    self->receive(
      [&](R& x) {
        out = std::move(x);
        got = true;
      },
      [&](caf::error& e) { BOOST_FAIL(describe(e)); },
      caf::after(std::chrono::seconds{0}) >> [] {});
    BOOST_REQUIRE(got);
    return out;
  }

  int64_t count(const std::string& sql) {
    return *testing::observer_connection(db.path).query_int(sql);
  }

  std::string text(const std::string& sql) {
    return *testing::observer_connection(db.path).query_text(sql);
  }

  void put(const std::string& tenant, const std::string& config, const std::string& pipeline) {
    ask<tenant_record>(writer,
                       store_tenant{tenant_record{tenant_id{tenant}, "", "pro", config, 0, 0}, 0});
    ask<config_stored>(configs, put_atom::value, tenant_id{tenant}, queue_name{"q"},
                       config_version{"1"}, pipeline);
  }

  create_run pending_run(const std::string& tenant) {
    create_run op;
    op.run.tenant = tenant_id{tenant};
    op.run.queue = queue_name{"q"};
    op.run.config_tenant = tenant_id{tenant};
    op.run.version = config_version{"1"};
    op.run.checksum =
      text("SELECT checksum FROM pipeline_configs WHERE tenant_id = '" + tenant + "'");
    op.run.input = "{}";
    return op;
  }

  /// acme's active subscription of `limit` step attempts, from a day
  /// before `now` to 30 days after.
  static store_subscription acme_subscription(int64_t now, const std::string& limit) {
    return store_subscription{subscription_record{tenant_id{"acme"}, "sub", "active",
                                                  now - 86'400'000, now + 30 * int64_t{86'400'000},
                                                  R"({"workflow_step_limit":")" + limit + R"("})",
                                                  "{}", 0},
                              0};
  }

  void serve() {
    dispatcher_setup ds;
    ds.settings.node_id = "det";
    ds.settings.lease_ttl_ms = 30'000;
    ds.settings.poll_interval_ms = 200;
    ds.settings.hold_timer_ms = 2'000;
    ds.incarnation = ask<int64_t>(writer, register_node{node_id{"det"}, "h", 1, "", 30'000, 0, 0});
    ds.writer = writer;
    ds.reader = reader;
    ds.configs = configs;
    ds.pool = pool;
    ds.accountant = accountant;
    ds.limiters = limiters;
    dispatcher = spawn_dispatcher(sys, std::move(ds));
    settle();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(deterministic, coordinator_fixture)

BOOST_AUTO_TEST_CASE(a_timer_wait_of_a_minute_passes_in_virtual_time) {
  put("acme", "{}", R"({"name":"p","root":{"sequence":[{"id":"a","activity":"noop"},
    {"id":"t","wait":{"timer_ms":60000}},{"id":"b","activity":"noop"}]}})");
  auto created = ask<run_created>(writer, pending_run("acme"));
  auto id = std::to_string(created.run.id.value);
  auto started = wall_clock_ms(sys);
  serve();
  // Claimed at once, a ran, the run waits on its timer with no lease held.
  BOOST_TEST(text("SELECT status || '/' || wait_reason FROM runs WHERE run_id = " + id) ==
             "WAITING/timer");
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE status = 'completed'") == 2);
  // 59 s later it still waits; at 60 s the next poll takes it and it ends.
  pass(59s, 1s);
  BOOST_TEST(text("SELECT status FROM runs WHERE run_id = " + id) == "WAITING");
  pass(2s);
  BOOST_TEST(text("SELECT status FROM runs WHERE run_id = " + id) == "COMPLETED");
  BOOST_TEST(count("SELECT count(*) FROM run_events WHERE event_type = 'timer_fired'") == 1);
  auto finished = count("SELECT finished_at_ms FROM runs WHERE run_id = " + id);
  BOOST_TEST(finished - started >= 60'000);
  BOOST_TEST(finished - started < 61'000);
}

BOOST_AUTO_TEST_CASE(a_start_names_its_config_and_the_dispatcher_loads_the_snapshot) {
  put("acme", "{}", R"({"name":"p","root":{"sequence":[{"id":"a","activity":"noop"}]}})");
  serve();
  // The message carries the run only; the snapshot comes from this node's
  // registry by (config tenant, queue, version) and must have the checksum.
  auto run = pending_run("acme").run;
  auto created = ask<run_created>(dispatcher, start_atom::value, run);
  BOOST_TEST(created.created);
  settle();
  auto id = std::to_string(created.run.id.value);
  BOOST_TEST(text("SELECT status FROM runs WHERE run_id = " + id) == "COMPLETED");
  auto stale = run;
  stale.checksum = "sha256:0000";
  self->send(dispatcher, start_atom::value, stale);
  settle();
  caf::error refused;
  self->receive([](run_created&) { BOOST_FAIL("a run with a foreign checksum was created"); },
                [&](caf::error& e) { refused = std::move(e); },
                caf::after(std::chrono::seconds{0}) >> [] { BOOST_FAIL("no answer"); });
  BOOST_TEST(code_of(refused) == errc::version_conflict);
  BOOST_TEST(describe(refused).find("the run names sha256:0000") != std::string::npos);
  BOOST_TEST(count("SELECT count(*) FROM runs") == 1);
  auto missing = run;
  missing.version = config_version{"9"};
  self->send(dispatcher, start_atom::value, missing);
  settle();
  self->receive([](run_created&) { BOOST_FAIL("a run of a missing version was created"); },
                [&](caf::error& e) { refused = std::move(e); },
                caf::after(std::chrono::seconds{0}) >> [] { BOOST_FAIL("no answer"); });
  BOOST_TEST(code_of(refused) == errc::unknown_version);
  BOOST_TEST(count("SELECT count(*) FROM runs") == 1);
}

BOOST_AUTO_TEST_CASE(a_dead_nodes_run_is_taken_over_before_the_tenants_queue) {
  // Each run holds the tenant's one permit for a second (a timer shorter
  // than the hold time keeps the lease), so their start times tell the order.
  put("acme", R"({"max_concurrent_runs": 1})",
      R"({"name":"p","root":{"sequence":[{"id":"a","activity":"noop"},
        {"id":"t","wait":{"timer_ms":1000}}]}})");
  // A node that died holding the tenant's only permit (lease for 10 s),
  // then three runs queued behind it.
  auto held = pending_run("acme");
  held.owner = node_id{"ghost"};
  held.lease_ttl_ms = 10'000;
  auto ghost = ask<run_created>(writer, held).run.id.value;
  std::vector<int64_t> queued;
  for (int i = 0; i < 3; ++i) {
    queued.push_back(ask<run_created>(writer, pending_run("acme")).run.id.value);
  }
  serve();
  pass(9s);
  // The ghost's lease still counts: nothing ran.
  BOOST_TEST(count("SELECT count(*) FROM run_steps") == 0);
  pass(6s);
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE status = 'COMPLETED'") == 4);
  // The taken-over run started first, then the queue in order, a second apart.
  std::vector<int64_t> order;
  auto c = testing::observer_connection(db.path);
  auto st = c.prepare("SELECT run_id FROM run_steps WHERE step_path = 'a' ORDER BY started_at_ms");
  BOOST_REQUIRE(st);
  while (*st->step()) {
    order.push_back(st->column_int64(0));
  }
  std::vector<int64_t> expected{ghost};
  expected.insert(expected.end(), queued.begin(), queued.end());
  BOOST_TEST(order == expected, boost::test_tools::per_element());
  BOOST_TEST(count("SELECT lease_epoch FROM runs WHERE run_id = " + std::to_string(ghost)) == 2);
  BOOST_TEST(count("SELECT count(DISTINCT started_at_ms) FROM run_steps WHERE step_path = 'a'") ==
             4);
  // What /metrics reports: one run taken over, four completed here.
  auto stats = ask<dispatcher_stats>(dispatcher, stats_atom::value);
  BOOST_TEST(stats.taken_over == 1);
  BOOST_TEST(stats.claimed == 4);
  BOOST_REQUIRE(stats.ended.size() > static_cast<size_t>(done_reason::completed));
  BOOST_TEST(stats.ended[static_cast<size_t>(done_reason::completed)] == 4);
}

BOOST_AUTO_TEST_CASE(a_lease_held_through_short_timers_is_renewed_and_counted) {
  // Twelve timers of 1.5 s, each held in memory (hold_timer_ms 2 s): the
  // run keeps its lease for 18 s, across the renewal at half the 30 s TTL.
  std::string steps = R"({"id":"a","activity":"noop"})";
  for (int i = 0; i < 12; ++i) {
    steps += R"(,{"id":"t)" + std::to_string(i) + R"(","wait":{"timer_ms":1500}})";
  }
  put("acme", "{}", R"({"name":"p","root":{"sequence":[)" + steps + "]}}");
  auto id = std::to_string(ask<run_created>(writer, pending_run("acme")).run.id.value);
  serve();
  pass(20s, 500ms);
  BOOST_TEST(text("SELECT status FROM runs WHERE run_id = " + id) == "COMPLETED");
  // One claim: the lease never lapsed.
  BOOST_TEST(count("SELECT lease_epoch FROM runs WHERE run_id = " + id) == 1);
  auto stats = ask<dispatcher_stats>(dispatcher, stats_atom::value);
  BOOST_TEST(stats.renewed >= 1);
  BOOST_TEST(stats.taken_over == 0);
  BOOST_TEST(stats.lost == 0);
  BOOST_REQUIRE(stats.ended.size() > static_cast<size_t>(done_reason::completed));
  BOOST_TEST(stats.ended[static_cast<size_t>(done_reason::completed)] == 1);
}

BOOST_AUTO_TEST_CASE(a_pause_on_stale_cached_terms_is_resumed_with_fresh_ones) {
  put("acme", "{}", R"({"name":"p","root":{"sequence":[{"id":"a","activity":"noop"},
    {"id":"b","activity":"noop"},{"id":"c","activity":"noop"}]}})");
  auto now = wall_clock_ms(sys);
  ask<subscription_record>(writer, acme_subscription(now, "1"));
  serve();
  auto created = ask<run_created>(writer, pending_run("acme"));
  auto id = std::to_string(created.run.id.value);
  pass(1s);
  // Step a used the one attempt; the run waits on quota at b.
  BOOST_TEST(text("SELECT status || '/' || wait_reason || '/' || node_path FROM runs WHERE "
                  "run_id = " +
                  id) == "WAITING/quota/b");
  // Another process raises the subscription (this node's accountant keeps
  // its cached terms) and its scan resumes the run under the new terms.
  ask<subscription_record>(writer, acme_subscription(now, "10"));
  quota_terms raised;
  raised.tenant = tenant_id{"acme"};
  raised.period_start_ms = now - 86'400'000;
  raised.period_end_ms = now + 30 * int64_t{86'400'000};
  raised.limit = 10;
  BOOST_TEST(ask<int64_t>(writer, resume_quota_waits{raised, 100, 0}) == 1);
  // This node claims it and is cut by its stale terms once; it then reads
  // fresh terms and resumes the run at once, well before the cache's 10 s.
  pass(2s);
  BOOST_TEST(text("SELECT status FROM runs WHERE run_id = " + id) == "COMPLETED");
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE run_id = " + id) == 3);
}

BOOST_AUTO_TEST_CASE(polls_asked_for_from_outside_never_add_a_timer) {
  serve();
  auto polls = [&] { return ask<dispatcher_stats>(dispatcher, stats_atom::value).polls; };
  pass(1s);
  auto idle = polls();
  // Each of these polls at once (the resume scanner and manual resumes send
  // them); none may start a timer of its own.
  for (int i = 0; i < 5; ++i) {
    caf::anon_send(dispatcher, poll_atom::value);
    settle();
  }
  auto after_asks = polls();
  BOOST_TEST(after_asks - idle == 5);
  // One timer, every 200 ms: 5 polls a second, as before the asks.
  auto before = polls();
  pass(1s);
  BOOST_TEST(polls() - before == 5);
  BOOST_TEST(idle >= 5);
}

BOOST_AUTO_TEST_CASE(parked_rounds_that_end_in_one_tick_share_one_timer) {
  // Delayed messages pending in the clock (its timeouts, e.g. the
  // directory's request timeout per park, are the ones in actor_lookup).
  auto timers = [&] {
    return sched.clock().schedule().size() - sched.clock().actor_lookup().size();
  };
  auto replies = [&] {
    std::vector<admission_wait> out;
    for (bool more = true; more;) {
      more = false;
      self->receive(
        [&](admission_wait& w) {
          out.push_back(w);
          more = true;
        },
        caf::after(std::chrono::seconds{0}) >> [] {});
    }
    return out;
  };
  // Rounds ending within one 50 ms tick, a few hundred ms from now.
  auto now = wall_clock_ms(sys);
  auto tick = (now / 50 + 6) * 50; // the tick's start; its rounds end by tick + 50
  auto park = [&](int64_t run, int64_t until) {
    self->send(limiters, park_atom::value, tenant_id{"x"}, run_id{run}, until, until + 60'000);
    settle();
  };
  park(1, tick + 1);
  auto one = timers();
  for (int64_t run = 2; run <= 20; ++run) {
    park(run, tick + run);
  }
  // Before: one timer per parked round (19 more here).
  BOOST_TEST(timers() == one);
  // A last round (at the starter's deadline) ends exactly then.
  self->send(limiters, park_atom::value, tenant_id{"x"}, run_id{int64_t{21}}, tick + 7, tick + 7);
  settle();
  sched.advance_time(std::chrono::milliseconds{tick + 7 - now});
  settle();
  auto last = replies();
  BOOST_REQUIRE_EQUAL(last.size(), 1u);
  BOOST_TEST(last[0].timed_out);
  sched.advance_time(std::chrono::milliseconds{42});
  settle();
  BOOST_TEST(replies().empty()); // no other round ends before its tick does
  sched.advance_time(std::chrono::milliseconds{1});
  settle();
  auto ended = replies();
  BOOST_TEST(ended.size() == 20u);
  for (const auto& w : ended) {
    BOOST_TEST(!w.admitted);
  }
}

BOOST_AUTO_TEST_CASE(a_finished_run_hands_its_permit_to_the_next_queued_run_without_a_poll) {
  // Limit 1. The first run waits for "go", which was signaled while the
  // run sat queued (its inbox, read by its first append), then a noop;
  // three more queue behind it. No time passes: only the claims that
  // freed permits send (at `leaving`, behind the append that ends a run)
  // can start them, one after the other.
  put("acme", R"({"max_concurrent_runs": 1})",
      R"({"name":"p","root":{"sequence":[{"id":"w","wait":{"event":"go"}},
        {"id":"a","activity":"noop"}]}})");
  std::vector<int64_t> runs;
  for (int i = 0; i < 4; ++i) {
    runs.push_back(ask<run_created>(writer, pending_run("acme")).run.id.value);
    ask<signal_accepted>(writer, signal_run{tenant_id{"acme"}, run_id{runs.back()}, "go",
                                            R"({"n":)" + std::to_string(i) + "}", 0});
  }
  // Queued with only their `run_started`: their orchestrators start
  // without reading the history back.
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE next_seq = 2") == 4);
  serve();
  settle();
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE status = 'COMPLETED'") == 4);
  for (auto id : runs) {
    auto where = " FROM run_events WHERE run_id = " + std::to_string(id);
    // run_started, the wait, its signal, the attempt scheduled and
    // completed, run_completed: numbered without gaps.
    BOOST_TEST(count("SELECT count(*)" + where) == 6);
    BOOST_TEST(count("SELECT max(seq)" + where) == 6);
  }
  auto stats = ask<dispatcher_stats>(dispatcher, stats_atom::value);
  BOOST_TEST(stats.claimed == 4);
  BOOST_TEST(stats.polls == 1); // the first claim at start only
}

BOOST_AUTO_TEST_CASE(a_queued_runs_first_attempt_is_recorded_by_the_claim_that_admits_it) {
  // Limit 1. Each run's attempt is followed by a 500 ms timer held in
  // memory, so the first run keeps the permit while the second is started
  // and queued; its first attempt (kept on its row) is recorded by the
  // claim that the first run's end sends, under the quota terms the
  // dispatcher got for the second start (less than 1 s old then).
  put("acme", R"({"max_concurrent_runs": 1})",
      R"({"name":"p","root":{"sequence":[{"id":"a","activity":"noop"},
        {"id":"t","wait":{"timer_ms":500}}]}})");
  serve();
  auto first = ask<run_created>(dispatcher, start_atom::value, pending_run("acme").run);
  BOOST_TEST(first.run.status == run_status::running);
  self->send(dispatcher, start_atom::value, pending_run("acme").run); // parks its starter
  settle();
  auto second = std::to_string(first.run.id.value + 1);
  BOOST_TEST(text("SELECT status FROM runs WHERE run_id = " + second) == "PENDING");
  BOOST_TEST(!text("SELECT first_plan FROM runs WHERE run_id = " + second).empty());
  pass(2s);
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE status = 'COMPLETED'") == 2);
  auto stats = ask<dispatcher_stats>(dispatcher, stats_atom::value);
  BOOST_TEST(stats.first_steps_claimed == 1);
  // Its history is as its own append would have written it, its attempt
  // counted once, and the kept decision is gone.
  auto where = " FROM run_events WHERE run_id = " + second;
  BOOST_TEST(count("SELECT count(*)" + where) == 6);
  BOOST_TEST(text("SELECT event_type" + where + " AND seq = 2") == "step_scheduled");
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE run_id = " + second +
                   " AND step_path = 'a' AND status = 'completed'") == 1);
  // Two runs of two steps (the timer wait is billed as a step too).
  BOOST_TEST(count("SELECT used_count FROM usage_periods WHERE tenant_id = 'acme'") == 4);
  BOOST_TEST(count("SELECT count(*) FROM run_steps") == 4);
  BOOST_TEST(text("SELECT first_plan FROM runs WHERE run_id = " + second).empty());
  // The parked starter was answered when the claim admitted the run.
  bool answered = false;
  self->receive([&](run_created& r) { answered = r.run.id.value == first.run.id.value + 1; },
                [&](caf::error& e) { BOOST_FAIL(describe(e)); },
                caf::after(std::chrono::seconds{0}) >> [] {});
  BOOST_TEST(answered);
}

BOOST_AUTO_TEST_CASE(a_run_paused_at_its_claim_on_stale_terms_is_resumed_with_fresh_ones) {
  // Limit 1, two billed steps per run (an attempt and a held timer), and a
  // subscription of 2 step attempts: the first run uses both. The second is
  // queued with its first step kept; another process then raises the
  // subscription, but this node's accountant and dispatcher keep the old
  // terms, under which the claim that admits the second run pauses it on
  // quota. The dispatcher then reads fresh terms and resumes it at once.
  put("acme", R"({"max_concurrent_runs": 1})",
      R"({"name":"p","root":{"sequence":[{"id":"a","activity":"noop"},
        {"id":"t","wait":{"timer_ms":500}}]}})");
  auto now = wall_clock_ms(sys);
  ask<subscription_record>(writer, acme_subscription(now, "2"));
  serve();
  auto first = ask<run_created>(dispatcher, start_atom::value, pending_run("acme").run);
  self->send(dispatcher, start_atom::value, pending_run("acme").run); // parks its starter
  settle();
  auto second = std::to_string(first.run.id.value + 1);
  BOOST_TEST(text("SELECT status FROM runs WHERE run_id = " + second) == "PENDING");
  ask<subscription_record>(writer, acme_subscription(now, "10"));
  pass(3s);
  BOOST_TEST(text("SELECT status FROM runs WHERE run_id = " + second) == "COMPLETED");
  // Paused by the claim (one quota wait, resolved), then driven by its
  // orchestrator: both steps counted once.
  BOOST_TEST(count("SELECT count(*) FROM run_waits WHERE kind = 'quota' AND run_id = " + second +
                   " AND resolved_at_ms IS NOT NULL") == 1);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE run_id = " + second) == 2);
  BOOST_TEST(count("SELECT used_count FROM usage_periods WHERE tenant_id = 'acme'") == 4);
  auto stats = ask<dispatcher_stats>(dispatcher, stats_atom::value);
  BOOST_TEST(stats.first_steps_claimed == 0);
}

BOOST_AUTO_TEST_SUITE_END()
