// The fault tier: the store writer over a real SQLite file whose writes and
// syncs fail on the Nth call (tests/persistence/fault_vfs.hpp). A failed
// batch leaves no trace and every requester gets an error (nobody is told
// "done"); a full disk or an I/O error is retriable and the writer keeps
// serving; a damaged file stops it for good. Time is the test
// coordinator's; nothing sleeps.

#include "actors/store_writer.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"
#include "persistence/sqlite.hpp"
#include "persistence/sqlite_store.hpp"
#include "tests/persistence/fault_vfs.hpp"
#include "tests/persistence/temp_db.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/all.hpp>

#include <memory>

using namespace flowgate;

namespace {

struct fault_fixture {
  testing::temp_db db;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  store_writer_actor writer;
  int fatal_calls = 0;

  static caf::actor_system_config& configure(caf::actor_system_config& c) {
    register_types(c);
    c.set("scheduler.policy", caf::atom("testing"));
    c.set("logger.file-verbosity", caf::atom("quiet"));
    return c;
  }

  fault_fixture() {
    testing::install_fault_vfs();
    testing::faults().write_countdown = 0;
    testing::faults().sync_countdown = 0;
    sys = std::make_unique<caf::actor_system>(configure(cfg));
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    auto w = open_sqlite_writer(sqlite_store_options{db.path, sync_mode::full, 1000}, 1);
    BOOST_REQUIRE(w);
    writer = spawn_store_writer(*sys, std::shared_ptr<write_session>{std::move(*w)}, 100,
                                [this](const caf::error&) { ++fatal_calls; });
    settle();
  }

  ~fault_fixture() {
    testing::faults().write_countdown = 0;
    testing::faults().sync_countdown = 0;
    caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
    settle();
  }

  void settle() {
    while (sched->run() > 0) {
    }
  }

  static store_tenant tenant(const std::string& id) {
    return store_tenant{tenant_record{tenant_id{id}, "", "solo", "{}", 0, 0}, 5};
  }

  /// Sends every op in one batch and collects each answer's error (none =
  /// success).
  template <class R, class Op> std::vector<caf::error> batch(const std::vector<Op>& ops) {
    caf::scoped_actor self{*sys};
    for (const auto& op : ops) {
      self->send(writer, op);
    }
    settle();
    std::vector<caf::error> out;
    for (size_t i = 0; i < ops.size(); ++i) {
      self->receive([&](R&) { out.emplace_back(); },
                    [&](caf::error& e) { out.push_back(std::move(e)); },
                    caf::after(std::chrono::seconds{0}) >> [&] { BOOST_FAIL("no answer"); });
    }
    return out;
  }

  int64_t count(const std::string& sql) {
    return *testing::observer_connection(db.path).query_int(sql);
  }

  std::string integrity() {
    return *testing::observer_connection(db.path).query_text("PRAGMA integrity_check");
  }

  void arm_write(int nth, int rc) {
    testing::faults().rc = rc;
    testing::faults().write_countdown = nth;
  }

  void arm_sync(int nth, int rc) {
    testing::faults().rc = rc;
    testing::faults().sync_countdown = nth;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_faults, fault_fixture)

BOOST_AUTO_TEST_CASE(a_full_disk_fails_the_whole_batch_and_the_next_batch_commits) {
  auto before = testing::faults().injected.load();
  arm_write(1, SQLITE_FULL);
  auto errs =
    batch<tenant_record>(std::vector<store_tenant>{tenant("a"), tenant("b"), tenant("c")});
  BOOST_TEST(testing::faults().injected.load() == before + 1);
  for (const auto& e : errs) {
    BOOST_TEST(code_of(e) == errc::store_full, describe(e));
    BOOST_TEST(is_retriable(e));
  }
  BOOST_TEST(describe(errs[0]).find("the disk or the database is full") != std::string::npos,
             describe(errs[0]));
  BOOST_TEST(count("SELECT count(*) FROM tenants") == 0);
  // The same writer serves the retry.
  auto again = batch<tenant_record>(std::vector<store_tenant>{tenant("a"), tenant("b")});
  BOOST_TEST(!again[0]);
  BOOST_TEST(!again[1]);
  BOOST_TEST(count("SELECT count(*) FROM tenants") == 2);
  BOOST_TEST(integrity() == "ok");
  BOOST_TEST(fatal_calls == 0);
}

BOOST_AUTO_TEST_CASE(a_failed_write_at_any_point_of_a_batch_leaves_no_trace) {
  BOOST_REQUIRE(!batch<tenant_record>(std::vector<store_tenant>{tenant("t")})[0]);
  int strikes = 0;
  for (int nth = 1; nth <= 4; ++nth) {
    for (int rc : {SQLITE_FULL, SQLITE_IOERR_WRITE}) {
      auto runs = count("SELECT count(*) FROM runs");
      arm_write(nth, rc);
      std::vector<create_run> ops;
      for (int i = 0; i < 5; ++i) {
        create_run op;
        op.run.tenant = tenant_id{"t"};
        op.run.queue = queue_name{"q"};
        op.run.config_tenant = tenant_id{"t"};
        op.run.version = config_version{"1"};
        op.run.checksum = "c";
        op.run.input = "{}";
        ops.push_back(op);
      }
      auto errs = batch<run_created>(ops);
      bool struck = testing::faults().write_countdown.load() == 0;
      testing::faults().write_countdown = 0;
      auto stored = count("SELECT count(*) FROM runs");
      strikes += struck ? 1 : 0;
      if (struck) {
        // All or nothing: every requester failed and nothing was stored.
        for (const auto& e : errs) {
          BOOST_TEST((code_of(e) == errc::store_full || code_of(e) == errc::store_io), describe(e));
        }
        BOOST_TEST(stored == runs);
      } else {
        for (const auto& e : errs) {
          BOOST_TEST(!e);
        }
        BOOST_TEST(stored == runs + 5);
      }
      BOOST_TEST(integrity() == "ok");
    }
  }
  // The batch writes a few pages: most of the failures struck.
  BOOST_TEST(strikes >= 4);
  // Each history still starts at 1 and every counter matches (the check).
  auto r = open_sqlite_reader(sqlite_store_options{db.path, sync_mode::full, 1000});
  BOOST_REQUIRE(r);
  auto report = (*r)->apply(check_database{tenant_id{}, 100'000, 0, 100});
  BOOST_REQUIRE(report);
  BOOST_TEST(report->findings.empty());
  BOOST_TEST(report->runs == count("SELECT count(*) FROM runs"));
}

BOOST_AUTO_TEST_CASE(a_failed_sync_fails_the_batch_with_an_io_error) {
  auto before = testing::faults().injected.load();
  arm_sync(1, SQLITE_IOERR_FSYNC);
  auto errs = batch<tenant_record>(std::vector<store_tenant>{tenant("a"), tenant("b")});
  BOOST_TEST(testing::faults().injected.load() == before + 1);
  for (const auto& e : errs) {
    BOOST_TEST(code_of(e) == errc::store_io, describe(e));
  }
  BOOST_TEST(count("SELECT count(*) FROM tenants") == 0);
  BOOST_TEST(!batch<tenant_record>(std::vector<store_tenant>{tenant("a")})[0]);
  BOOST_TEST(count("SELECT count(*) FROM tenants") == 1);
  BOOST_TEST(integrity() == "ok");
}

BOOST_AUTO_TEST_CASE(a_damaged_file_stops_the_writer_for_good) {
  arm_write(1, SQLITE_CORRUPT);
  auto errs = batch<tenant_record>(std::vector<store_tenant>{tenant("a"), tenant("b")});
  for (const auto& e : errs) {
    BOOST_TEST(code_of(e) == errc::store_corrupt, describe(e));
    BOOST_TEST(!is_retriable(e));
  }
  BOOST_TEST(fatal_calls == 1);
  // From now on nothing is written, whatever is asked.
  auto later = batch<tenant_record>(std::vector<store_tenant>{tenant("c")});
  BOOST_TEST(code_of(later[0]) == errc::store_corrupt);
  BOOST_TEST(fatal_calls == 1);
  BOOST_TEST(count("SELECT count(*) FROM tenants") == 0);
}

BOOST_AUTO_TEST_SUITE_END()
