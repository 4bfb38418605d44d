// Schedules fired by three nodes on one store, on CAF's test coordinator:
// each "node" has its own store writer, reader, config registry and
// schedule firer over the same SQLite file, and virtual time moves only when
// the test advances it (wall_clock.hpp), so an hour of fire times takes no
// real time. Every fire time must start exactly one run across the three,
// whatever order their rounds run in; after a downtime the catch-up policy
// decides how many runs the missed fire times get.

#include "actors/config_registry.hpp"
#include "actors/schedule_firer.hpp"
#include "actors/store_reader.hpp"
#include "actors/store_writer.hpp"
#include "actors/wall_clock.hpp"
#include "config/schedule.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"
#include "persistence/sqlite_store.hpp"
#include "tests/persistence/temp_db.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/all.hpp>

#include <set>

using namespace flowgate;
using namespace std::chrono_literals;

namespace {

struct firing_fixture {
  testing::temp_db db;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::scoped_actor self;

  /// One node's actors that firing needs.
  struct node_actors {
    store_writer_actor writer;
    store_reader_actor reader;
    config_registry_actor configs;
    schedule_firer_actor firer;
  };
  std::vector<node_actors> nodes;

  static caf::actor_system_config& configure(caf::actor_system_config& c) {
    register_types(c);
    c.set("scheduler.policy", caf::atom("testing"));
    c.set("logger.file-verbosity", caf::atom("quiet"));
    return c;
  }

  firing_fixture()
      : sys(configure(cfg)),
        sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())), self(sys) {
    for (int i = 0; i < 3; ++i) {
      nodes.push_back(start_node());
    }
    put_tenant_and_pipeline();
  }

  ~firing_fixture() {
    for (auto& n : nodes) {
      stop(n);
    }
    settle();
  }

  node_actors start_node() {
    sqlite_store_options opts{db.path, sync_mode::normal, 1000};
    auto w = open_sqlite_writer(opts, wall_clock_ms(sys));
    BOOST_REQUIRE(w);
    auto r = open_sqlite_reader(opts);
    BOOST_REQUIRE(r);
    node_actors n;
    n.writer = spawn_store_writer(sys, std::shared_ptr<write_session>{std::move(*w)}, 100);
    n.reader = spawn_store_reader(sys, std::shared_ptr<read_session>{std::move(*r)});
    config_registry_settings rs;
    rs.default_tenant_id = "default";
    n.configs = spawn_config_registry(sys, n.writer, n.reader, rs);
    n.firer =
      spawn_schedule_firer(sys, firer_setup{n.writer, n.reader, n.configs, {}, 0, 1000, 100});
    settle();
    return n;
  }

  void stop(node_actors& n) {
    for (const auto& a :
         {caf::actor_cast<caf::actor>(n.firer), caf::actor_cast<caf::actor>(n.configs),
          caf::actor_cast<caf::actor>(n.reader), caf::actor_cast<caf::actor>(n.writer)}) {
      if (a) {
        caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
      }
    }
    n = node_actors{};
    settle();
  }

  void settle() {
    while (sched.run() > 0) {
    }
  }

  /// Advances virtual time in `step`s, running what each step makes ready.
  void pass(std::chrono::milliseconds total, std::chrono::milliseconds step = 1000ms) {
    for (auto t = std::chrono::milliseconds{0}; t < total; t += step) {
      sched.advance_time(step);
      settle();
    }
  }

  template <class R, class Dest, class... Ts> caf::expected<R> ask(const Dest& dest, Ts&&... xs) {
    self->send(dest, std::forward<Ts>(xs)...);
    settle();
    caf::expected<R> out = make_error(errc::invalid_argument, "no answer");
    self->receive([&](R& x) { out = std::move(x); }, [&](caf::error& e) { out = std::move(e); },
                  caf::after(std::chrono::seconds{0}) >> [] {});
    return out;
  }

  void put_tenant_and_pipeline() {
    auto t = ask<tenant_record>(
      nodes[0].writer, store_tenant{tenant_record{tenant_id{"acme"}, "", "pro", "{}", 0, 0}, 0});
    BOOST_REQUIRE(t);
    auto c = ask<config_stored>(
      nodes[0].configs, put_atom::value, tenant_id{"acme"}, queue_name{"q"}, config_version{"1"},
      std::string{R"({"name":"p","root":{"sequence":[{"id":"a","activity":"noop"}]}})"});
    BOOST_REQUIRE_MESSAGE(c, (c ? std::string{} : describe(c.error())));
  }

  schedule_record put_schedule(const std::string& id, const std::string& document) {
    schedule_record rec;
    rec.tenant = tenant_id{"acme"};
    rec.id = id;
    rec.document = document;
    auto stored = ask<schedule_record>(nodes[0].writer, store_schedule{rec, 0});
    BOOST_REQUIRE_MESSAGE(stored, (stored ? std::string{} : describe(stored.error())));
    return *stored;
  }

  int64_t count(const std::string& sql) {
    return *testing::observer_connection(db.path).query_int(sql);
  }

  /// The fire times (ms) of the runs started for schedule `id`, each once.
  std::vector<int64_t> fired(const std::string& id) {
    std::vector<int64_t> out;
    auto prefix = schedule_run_key(id, 0);
    prefix.pop_back(); // "schedule:<id>:"
    auto n = count("SELECT count(*) FROM runs WHERE idempotency_key LIKE '" + prefix + "%'");
    for (int64_t i = 0; i < n; ++i) {
      auto key = testing::observer_connection(db.path).query_text(
        "SELECT idempotency_key FROM runs WHERE idempotency_key LIKE '" + prefix +
        "%' ORDER BY idempotency_key LIMIT 1 OFFSET " + std::to_string(i));
      out.push_back(std::stoll(key->substr(prefix.size())));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  schedule_record row(const std::string& id) {
    auto live = std::find_if(nodes.begin(), nodes.end(), [](const auto& n) { return n.reader; });
    BOOST_REQUIRE(live != nodes.end());
    auto rows =
      ask<std::vector<schedule_record>>(live->reader, list_schedules{tenant_id{"acme"}, id});
    BOOST_REQUIRE(rows && rows->size() == 1u);
    return rows->front();
  }
};

constexpr int64_t minute = 60'000;

} // namespace

BOOST_FIXTURE_TEST_SUITE(schedule_firing, firing_fixture)

BOOST_AUTO_TEST_CASE(three_nodes_start_one_run_per_fire_time) {
  auto start = wall_clock_ms(sys);
  put_schedule("every5", R"({"queue":"q","cron":"*/5 * * * *","overlap":"allow","input":{"k":1}})");
  put_schedule("skipping", R"({"queue":"q","cron":"*/5 * * * *"})");
  // Half an hour of virtual time; each node polls every second.
  pass(30min);
  std::vector<int64_t> want;
  for (int64_t t = start + 5 * minute; t <= start + 30 * minute; t += 5 * minute) {
    want.push_back(t);
  }
  BOOST_TEST(fired("every5") == want);
  auto every5 = row("every5");
  BOOST_TEST(every5.runs_started == 6);
  BOOST_TEST(every5.fires_skipped == 0);
  BOOST_TEST(every5.next_fire_ms == start + 35 * minute);
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE input = '{\"k\":1}' AND status = 'PENDING'") ==
             6);
  // overlap skip: nothing executes the runs here, so the first one stays
  // unfinished and every later fire time is skipped.
  BOOST_TEST(fired("skipping") == std::vector<int64_t>{start + 5 * minute});
  auto skipping = row("skipping");
  BOOST_TEST(skipping.fires_skipped == 5);
  BOOST_TEST(skipping.last_outcome.find("skipped: run") != std::string::npos,
             skipping.last_outcome);
}

BOOST_AUTO_TEST_CASE(catch_up_after_every_node_was_down) {
  auto start = wall_clock_ms(sys);
  for (const char* policy : {"none", "last", "all"}) {
    put_schedule(
      std::string{"catch-"} + policy,
      std::string{R"({"queue":"q","cron":"*/10 * * * *","overlap":"allow","catch_up":")"} + policy +
        R"("})");
  }
  pass(15min); // 10:00 fires everywhere
  for (const char* policy : {"none", "last", "all"}) {
    BOOST_TEST(fired(std::string{"catch-"} + policy).size() == 1u);
  }
  for (auto& n : nodes) {
    stop(n);
  }
  // Down for an hour and 30 s: 20, 30, ..., 70 minutes are missed (6).
  pass(60min + 30s, 30s);
  nodes[1] = start_node();
  pass(2s);
  auto last_missed = start + 70 * minute;
  BOOST_TEST(fired("catch-none") == std::vector<int64_t>{start + 10 * minute});
  BOOST_TEST(row("catch-none").fires_skipped == 6);
  BOOST_TEST(fired("catch-last") == (std::vector<int64_t>{start + 10 * minute, last_missed}));
  BOOST_TEST(row("catch-last").fires_skipped == 5);
  BOOST_TEST(fired("catch-all").size() == 7u);
  BOOST_TEST(fired("catch-all").back() == last_missed);
  for (const char* policy : {"none", "last", "all"}) {
    BOOST_TEST(row(std::string{"catch-"} + policy).next_fire_ms == start + 80 * minute);
  }
}

BOOST_AUTO_TEST_CASE(paused_and_replaced_schedules_and_bad_versions) {
  auto start = wall_clock_ms(sys);
  put_schedule("p", R"({"queue":"q","cron":"* * * * *","overlap":"allow"})");
  auto paused =
    ask<schedule_record>(nodes[1].writer, pause_schedule{tenant_id{"acme"}, "p", true, 0});
  BOOST_REQUIRE(paused);
  BOOST_TEST(paused->next_fire_ms == 0);
  pass(5min);
  BOOST_TEST(fired("p").empty());
  // Resumed: fires from now on, the paused minutes are not caught up.
  BOOST_REQUIRE(
    ask<schedule_record>(nodes[2].writer, pause_schedule{tenant_id{"acme"}, "p", false, 0}));
  pass(2min);
  BOOST_TEST(fired("p") == (std::vector<int64_t>{start + 6 * minute, start + 7 * minute}));
  // A pinned version that does not exist: each fire is skipped, and why.
  put_schedule("p", R"({"queue":"q","version":"9","cron":"* * * * *","overlap":"allow"})");
  pass(1min);
  auto p = row("p");
  BOOST_TEST(p.revision == 2);
  BOOST_TEST(p.fires_skipped == 1);
  BOOST_TEST(p.last_outcome.find("skipped") != std::string::npos, p.last_outcome);
  BOOST_TEST(p.last_outcome.find("9") != std::string::npos, p.last_outcome);
  BOOST_TEST(fired("p").size() == 2u);
  // Deleted: fires no more; its runs stay.
  BOOST_TEST(*ask<int64_t>(nodes[0].writer, delete_schedule{tenant_id{"acme"}, "p"}) == 1);
  pass(2min);
  BOOST_TEST(fired("p").size() == 2u);
  // Bad documents never reach the table.
  schedule_record bad;
  bad.tenant = tenant_id{"acme"};
  bad.id = "bad";
  bad.document = R"({"queue":"q","cron":"61 * * * *"})";
  auto refused = ask<schedule_record>(nodes[0].writer, store_schedule{bad, 0});
  BOOST_REQUIRE(!refused);
  BOOST_TEST(describe(refused.error()).find("minute") != std::string::npos);
  bad.tenant = tenant_id{"nobody"};
  bad.document = R"({"queue":"q","cron":"* * * * *"})";
  refused = ask<schedule_record>(nodes[0].writer, store_schedule{bad, 0});
  BOOST_REQUIRE(!refused);
  BOOST_TEST(describe(refused.error()).find("nobody") != std::string::npos);
  BOOST_TEST(count("SELECT count(*) FROM schedules") == 0);
}

BOOST_AUTO_TEST_CASE(buffer_one_runs_one_fire_time_after_the_previous_run) {
  auto start = wall_clock_ms(sys);
  put_schedule("b", R"({"queue":"q","cron":"* * * * *","overlap":"buffer_one"})");
  pass(3min);
  // The first run stays PENDING (nothing executes here): 2 min is buffered,
  // 3 min dropped.
  BOOST_TEST(fired("b") == std::vector<int64_t>{start + minute});
  auto b = row("b");
  BOOST_TEST(b.buffered_fire_ms == start + 2 * minute);
  BOOST_TEST(b.fires_skipped == 1);
  // The previous run finishes (canceled): the buffered fire time runs.
  auto first = count("SELECT run_id FROM runs WHERE idempotency_key = '" +
                     schedule_run_key("b", start + minute) + "'");
  auto canceled =
    ask<cancel_outcome>(nodes[0].writer, cancel_run{tenant_id{"acme"}, run_id{first}, "test", 0});
  BOOST_REQUIRE_MESSAGE(canceled, (canceled ? std::string{} : describe(canceled.error())));
  pass(2s);
  BOOST_TEST(fired("b") == (std::vector<int64_t>{start + minute, start + 2 * minute}));
  BOOST_TEST(row("b").buffered_fire_ms == 0);
}

BOOST_AUTO_TEST_SUITE_END()
