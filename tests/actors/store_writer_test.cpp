#include "actors/store_writer.hpp"
#include "messages/actor_threads.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"
#include "persistence/sqlite.hpp"
#include "persistence/sqlite_store.hpp"
#include "tests/persistence/temp_db.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/all.hpp>

#include <atomic>

using namespace flowgate;
using namespace std::chrono_literals;

namespace {

struct writer_fixture {
  testing::temp_db db;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  store_writer_actor writer;

  writer_fixture() {
    register_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    auto w = open_sqlite_writer(sqlite_store_options{db.path, sync_mode::full, 5000}, 1);
    BOOST_REQUIRE(w);
    writer = spawn_store_writer(*sys, std::shared_ptr<write_session>{std::move(*w)});
    waiter = std::make_unique<caf::scoped_actor>(*sys);
  }

  /// Spawns a client actor monitored by this test; `wait_for_clients` waits
  /// until every client has received all its replies and terminated.
  template <class F> void spawn_client(F fun) {
    // CAF 0.17's init_fun_factory dereferences a null shared_ptr<tuple<>>
    // for function actors spawned without arguments (UBSan reports it), so
    // the client always gets one.
    (*waiter)->spawn<caf::monitored>([fun](caf::event_based_actor* self, int) { fun(self); }, 0);
    ++live_clients;
  }

  void wait_for_clients() {
    for (; live_clients > 0; --live_clients) {
      (*waiter)->receive([](const caf::down_msg&) {},
                         caf::after(std::chrono::seconds(60)) >> [] { BOOST_FAIL("client hung"); });
    }
  }

  std::unique_ptr<caf::scoped_actor> waiter;
  int live_clients = 0;

  ~writer_fixture() {
    waiter.reset();
    caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
    writer = nullptr;
    join_actor_threads(*sys);
    sys.reset();
  }

  /// An independent connection: sees only committed data.
  sqlite::connection observer() { return testing::observer_connection(db.path); }
};

reserve_step reservation(int64_t run, int64_t limit) {
  return reserve_step{tenant_id{"t"}, run_id{run}, "step", 1, 0, 1000, limit, 5};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_writer, writer_fixture)

BOOST_AUTO_TEST_CASE(concurrent_writers_form_batches_and_every_reply_follows_its_commit) {
  constexpr int clients = 20;
  constexpr int per_client = 50;
  std::atomic<int> replies{0};
  std::atomic<int> uncommitted{0};
  std::atomic<int> failures{0};
  auto path = db.path;
  auto w = writer;
  for (int c = 0; c < clients; ++c) {
    spawn_client([c, path, w, &replies, &uncommitted, &failures](caf::event_based_actor* self) {
      auto conn = std::make_shared<sqlite::connection>(testing::observer_connection(path));
      for (int i = 0; i < per_client; ++i) {
        int64_t run = c * 1000 + i;
        self->request(w, 30s, reservation(run, -1))
          .then(
            [=, &replies, &uncommitted](const step_reservation& r) {
              auto& st = conn->cached("SELECT count(*) FROM run_steps WHERE run_id = ?1");
              st.bind_all(run);
              auto row = st.step();
              if (!r.granted || !row || !*row || st.column_int64(0) != 1) {
                ++uncommitted;
              }
              st.reset();
              ++replies;
            },
            [&failures, &replies](const caf::error&) {
              ++failures;
              ++replies;
            });
      }
    });
  }
  wait_for_clients();
  BOOST_TEST(replies.load() == clients * per_client);
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(uncommitted.load() == 0);
  caf::scoped_actor self{*sys};
  writer_stats stats;
  self->request(writer, 5s, stats_atom::value)
    .receive([&](writer_stats s) { stats = s; }, [&](caf::error&) {});
  BOOST_TEST(stats.operations == static_cast<uint64_t>(clients * per_client));
  BOOST_TEST(stats.largest_batch > 1u);
  BOOST_TEST(stats.batches < stats.operations);
  BOOST_TEST_MESSAGE("batches " << stats.batches << ", largest " << stats.largest_batch);
  auto obs = observer();
  BOOST_TEST(*obs.query_int("SELECT used_count FROM usage_periods") == clients * per_client);
}

BOOST_AUTO_TEST_CASE(concurrent_reservations_grant_exactly_the_limit) {
  std::atomic<int> granted{0};
  std::atomic<int> denied{0};
  std::atomic<int> failed{0};
  for (int i = 0; i < 12; ++i) {
    spawn_client([&, i, w = writer](caf::event_based_actor* self) {
      self->request(w, 10s, reservation(i, 3))
        .then([&](const step_reservation& r) { (r.granted ? granted : denied) += 1; },
              [&](const caf::error&) { ++failed; });
    });
  }
  wait_for_clients();
  BOOST_TEST(granted.load() == 3);
  BOOST_TEST(denied.load() == 9);
  BOOST_TEST(failed.load() == 0);
  auto obs = observer();
  BOOST_TEST(*obs.query_int("SELECT used_count FROM usage_periods") == 3);
  BOOST_TEST(*obs.query_int("SELECT count(*) FROM run_steps") == 3);
}

BOOST_AUTO_TEST_CASE(a_failing_operation_fails_alone_in_its_batch) {
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  spawn_client([&, w = writer](caf::event_based_actor* self) {
    // Same mailbox burst: these land in one batch.
    self->request(w, 10s, store_tenant{tenant_record{tenant_id{"a"}, "", "solo", "{}", 0, 0}, 1})
      .then([&](const tenant_record&) { ++ok; }, [&](const caf::error&) { ++refused; });
    self
      ->request(w, 10s,
                store_config{config_document{tenant_id{"ghost"}, queue_name{"q"},
                                             config_version{"1"}, "c", "p", "{}", 1, false}})
      .then([&](const config_stored&) { ++ok; },
            [&](const caf::error& e) {
              if (code_of(e) == errc::unknown_tenant) {
                ++refused;
              }
            });
    for (int i = 0; i < 10; ++i) {
      self->request(w, 10s, reservation(i, -1))
        .then([&](const step_reservation&) { ++ok; }, [&](const caf::error&) { ++refused; });
    }
  });
  wait_for_clients();
  BOOST_TEST(ok.load() == 11);
  BOOST_TEST(refused.load() == 1);
  auto obs = observer();
  BOOST_TEST(*obs.query_int("SELECT count(*) FROM tenants WHERE tenant_id = 'a'") == 1);
  BOOST_TEST(*obs.query_int("SELECT count(*) FROM pipeline_configs") == 0);
  BOOST_TEST(*obs.query_int("SELECT count(*) FROM run_steps") == 10);
  // The batch was tried whole first, then again operation by operation.
  caf::scoped_actor self{*sys};
  writer_stats stats;
  self->request(writer, 5s, stats_atom::value)
    .receive([&](writer_stats s) { stats = s; }, [&](caf::error&) {});
  BOOST_TEST(stats.isolated_batches >= 1u);
  BOOST_TEST(stats.failed_operations == 1u);
}

BOOST_AUTO_TEST_CASE(busy_database_fails_the_batch_with_a_retriable_error) {
  auto blocker = observer();
  auto w2 = open_sqlite_writer(sqlite_store_options{db.path, sync_mode::full, 50}, 1);
  BOOST_REQUIRE(w2);
  auto slow_writer = spawn_store_writer(*sys, std::shared_ptr<write_session>{std::move(*w2)});
  BOOST_REQUIRE(!blocker.exec("BEGIN IMMEDIATE"));
  caf::scoped_actor self{*sys};
  caf::error seen;
  self->request(slow_writer, 10s, reservation(1, -1))
    .receive([&](const step_reservation&) {}, [&](caf::error& e) { seen = std::move(e); });
  BOOST_REQUIRE(!blocker.exec("ROLLBACK"));
  BOOST_TEST(code_of(seen) == errc::store_busy);
  BOOST_TEST(is_retriable(seen));
  // Once the lock is gone, the same request succeeds.
  bool granted = false;
  self->request(slow_writer, 10s, reservation(1, -1))
    .receive([&](const step_reservation& r) { granted = r.granted; },
             [&](caf::error& e) { BOOST_FAIL(describe(e)); });
  BOOST_TEST(granted);
  caf::anon_send_exit(slow_writer, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
