// libpq pipeline mode in the write transaction (persistence/pg.hpp): a
// statement without results is sent without waiting, and its failure is
// still the failure of the operation that sent it, never of a later one.
// PostgreSQL only (registered as a `postgres` suite).

#include "messages/errors.hpp"
#include "persistence/pg.hpp"
#include "tests/printing.hpp"
#include "tests/tools/pg_server.hpp"

#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace flowgate;

namespace {

struct pipeline_fixture {
  std::string url = testing::pg_test_server::instance().fresh_database();
  std::unique_ptr<pg::connection> db;

  pipeline_fixture() {
    auto c = pg::connection::open(url);
    BOOST_REQUIRE_MESSAGE(c, (c ? "" : describe(c.error())));
    db = std::move(*c);
    BOOST_REQUIRE(!db->exec("CREATE TABLE t (k BIGINT PRIMARY KEY)"));
  }

  void begin() {
    BOOST_REQUIRE(!db->exec("BEGIN"));
    BOOST_REQUIRE(!db->begin_pipeline());
  }

  caf::error insert(int64_t k) {
    auto& st = db->cached("INSERT INTO t (k) VALUES (?1)");
    st.bind_all(k);
    return st.run();
  }

  caf::error savepoint() { return db->cached("SAVEPOINT op").run(); }

  caf::error release() {
    if (auto err = db->cached("RELEASE op").run()) {
      return err;
    }
    return db->flush_writes();
  }

  void rollback_to_savepoint() {
    BOOST_REQUIRE(!db->cached("ROLLBACK TO op").run());
    BOOST_REQUIRE(!db->cached("RELEASE op").run());
  }

  /// The first column of `sql`'s first row, read on the fixture's
  /// connection outside the pipeline (required to succeed).
  int64_t value_of(const std::string& sql) {
    auto v = db->query_int(sql);
    BOOST_REQUIRE_MESSAGE(v, sql << ": " << (v ? "" : describe(v.error())));
    return *v;
  }

  caf::expected<int64_t> count() {
    auto& st = db->cached("SELECT count(*) FROM t");
    auto row = st.step();
    if (!row) {
      return row.error();
    }
    auto n = st.column_int64(0);
    st.reset();
    return n;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(pg_pipeline, pipeline_fixture)

BOOST_AUTO_TEST_CASE(writes_go_out_without_waiting_and_a_read_waits_for_them) {
  begin();
  auto trips = db->round_trips();
  BOOST_REQUIRE(!savepoint());
  for (int64_t k = 1; k <= 5; ++k) {
    BOOST_REQUIRE(!insert(k));
  }
  // Nothing was waited for yet: six statements, no round trip.
  BOOST_TEST(db->round_trips() == trips);
  auto n = count();
  BOOST_REQUIRE(n);
  BOOST_TEST(*n == 5);
  BOOST_TEST(db->round_trips() == trips + 1);
  BOOST_REQUIRE(!release());
  BOOST_REQUIRE(!db->exec("COMMIT"));
  BOOST_TEST(!db->in_pipeline());
  BOOST_TEST(value_of("SELECT count(*) FROM t") == 5);
}

BOOST_AUTO_TEST_CASE(a_queued_failure_is_its_own_operations_and_the_others_commit) {
  begin();
  BOOST_REQUIRE(!savepoint());
  BOOST_REQUIRE(!insert(1));
  BOOST_REQUIRE(!release());
  // The duplicate key fails on the server; the read after it reports it,
  // naming the statement that failed, not the read.
  BOOST_REQUIRE(!savepoint());
  BOOST_REQUIRE(!insert(1));
  auto n = count();
  BOOST_REQUIRE(!n);
  BOOST_TEST(code_of(n.error()) == errc::invalid_argument);
  BOOST_TEST(describe(n.error()).find("INSERT") != std::string::npos, describe(n.error()));
  rollback_to_savepoint();
  // A failure with no read after it is reported when the operation ends.
  BOOST_REQUIRE(!savepoint());
  BOOST_REQUIRE(!insert(2));
  BOOST_REQUIRE(!insert(2));
  auto ended = release();
  BOOST_REQUIRE(ended);
  BOOST_TEST(code_of(ended) == errc::invalid_argument);
  rollback_to_savepoint();
  BOOST_REQUIRE(!savepoint());
  BOOST_REQUIRE(!insert(3));
  BOOST_REQUIRE(!release());
  BOOST_REQUIRE(!db->exec("COMMIT"));
  BOOST_TEST(value_of("SELECT sum(k) FROM t") == 1 + 3); // 2 was rolled back with its operation
}

BOOST_AUTO_TEST_CASE(a_statement_that_fails_to_prepare_is_prepared_again_on_its_next_use) {
  begin();
  for (int attempt = 0; attempt < 2; ++attempt) {
    BOOST_REQUIRE(!savepoint());
    auto& st = db->cached("INSERT INTO missing_table (k) VALUES (?1)");
    st.bind_all(int64_t{1});
    BOOST_REQUIRE(!st.run());
    auto err = release();
    BOOST_REQUIRE(err);
    // Both times the server's own complaint, not "prepared statement does
    // not exist".
    BOOST_TEST(describe(err).find("missing_table") != std::string::npos, describe(err));
    rollback_to_savepoint();
  }
  BOOST_REQUIRE(!db->exec("ROLLBACK"));
}

BOOST_AUTO_TEST_CASE(a_long_queue_is_read_on_the_way_and_does_not_block) {
  begin();
  BOOST_REQUIRE(!savepoint());
  for (int64_t k = 1; k <= 5000; ++k) {
    BOOST_REQUIRE(!insert(k));
  }
  BOOST_REQUIRE(!release());
  BOOST_TEST(db->round_trips() >= 5000 / 512);
  BOOST_REQUIRE(!db->exec("COMMIT"));
  BOOST_TEST(value_of("SELECT count(*) FROM t") == 5000);
}

BOOST_AUTO_TEST_CASE(rollback_leaves_pipeline_mode_and_drops_what_was_queued) {
  begin();
  BOOST_REQUIRE(!insert(7));
  BOOST_REQUIRE(!db->exec("ROLLBACK"));
  BOOST_TEST(!db->in_pipeline());
  BOOST_TEST(value_of("SELECT count(*) FROM t") == 0);
}

BOOST_AUTO_TEST_CASE(a_failure_still_queued_at_commit_fails_the_commit_and_ends_the_transaction) {
  begin();
  BOOST_REQUIRE(!insert(1));
  BOOST_REQUIRE(!insert(1));
  auto err = db->exec("COMMIT");
  BOOST_REQUIRE(err);
  BOOST_TEST(code_of(err) == errc::invalid_argument);
  BOOST_TEST(!db->in_pipeline());
  // Nothing committed, and the connection is ready for the next one.
  BOOST_TEST(value_of("SELECT count(*) FROM t") == 0);
  begin();
  BOOST_REQUIRE(!insert(1));
  BOOST_REQUIRE(!db->exec("COMMIT"));
  BOOST_TEST(value_of("SELECT count(*) FROM t") == 1);
}

BOOST_AUTO_TEST_CASE(the_count_of_changed_rows_reports_a_queued_failure) {
  // `st.run(); changes()` is how a conditional update is decided: a failed
  // statement must fail it, never leave the previous statement's count.
  begin();
  BOOST_REQUIRE(!insert(1));
  auto first = db->changes();
  BOOST_REQUIRE(first);
  BOOST_TEST(*first == 1);
  BOOST_REQUIRE(!insert(1));
  auto second = db->changes();
  BOOST_REQUIRE(!second);
  BOOST_TEST(code_of(second.error()) == errc::invalid_argument);
  BOOST_TEST(describe(second.error()).find("INSERT") != std::string::npos,
             describe(second.error()));
  BOOST_REQUIRE(db->exec("COMMIT")); // the transaction is aborted
  BOOST_TEST(value_of("SELECT count(*) FROM t") == 0);
}

BOOST_AUTO_TEST_CASE(a_commit_the_server_answers_with_rollback_is_an_error) {
  // PostgreSQL ends an aborted transaction's COMMIT with the tag ROLLBACK
  // and no error: whoever missed the failure must still not hear "done".
  begin();
  BOOST_REQUIRE(!insert(1));
  BOOST_REQUIRE(!insert(1));
  BOOST_REQUIRE(!db->changes()); // the failure, read and dropped by a careless caller
  auto err = db->exec("COMMIT");
  BOOST_REQUIRE(err);
  BOOST_TEST(describe(err).find("rolled the transaction back") != std::string::npos, describe(err));
  BOOST_TEST(!db->in_pipeline());
  BOOST_TEST(value_of("SELECT count(*) FROM t") == 0);
  // The same outside pipeline mode.
  BOOST_REQUIRE(!db->exec("BEGIN"));
  BOOST_REQUIRE(!db->exec("INSERT INTO t (k) VALUES (5)"));
  BOOST_REQUIRE(db->exec("INSERT INTO t (k) VALUES (5)"));
  err = db->exec("COMMIT");
  BOOST_REQUIRE(err);
  BOOST_TEST(describe(err).find("ROLLBACK") != std::string::npos, describe(err));
  BOOST_TEST(value_of("SELECT count(*) FROM t") == 0);
  // A transaction that did not fail commits as before.
  BOOST_REQUIRE(!db->exec("BEGIN"));
  BOOST_REQUIRE(!db->exec("INSERT INTO t (k) VALUES (6)"));
  BOOST_REQUIRE(!db->exec("COMMIT"));
  BOOST_TEST(value_of("SELECT count(*) FROM t") == 1);
}

BOOST_AUTO_TEST_CASE(array_literals_carry_any_text_and_integers_unchanged) {
  // Many rows' columns travel as one array parameter each (INSERT ...
  // SELECT FROM unnest): every text must come back as it went.
  std::vector<std::string> texts = {
    "",      "plain",   "with \"quotes\"", "back\\slash\\",
    "{a,b}", "NULL",    "comma, space ",   "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93",
    "\n\t ", "'single'"};
  pg::array_literal t;
  pg::array_literal n;
  for (size_t i = 0; i < texts.size(); ++i) {
    t.add(texts[i]);
    n.add(static_cast<int64_t>(i) * -3'000'000'000LL);
  }
  auto st = db->prepare("SELECT x.t, x.n FROM unnest(?1::text[], ?2::bigint[]) WITH ORDINALITY "
                        "AS x (t, n, i) ORDER BY x.i");
  BOOST_REQUIRE(st);
  (*st)->bind_all(t.text(), n.text());
  size_t i = 0;
  for (;;) {
    auto row = (*st)->step();
    BOOST_REQUIRE_MESSAGE(row, (row ? "" : describe(row.error())));
    if (!*row) {
      break;
    }
    BOOST_REQUIRE(i < texts.size());
    BOOST_TEST((*st)->column_text(0) == texts[i]);
    BOOST_TEST((*st)->column_int64(1) == static_cast<int64_t>(i) * -3'000'000'000LL);
    ++i;
  }
  BOOST_TEST(i == texts.size());
  BOOST_TEST(pg::array_literal{}.text() == "{}");
}

namespace {

/// Ends `db`'s server session from another connection (as a server restart
/// or an administrator would).
void terminate_backend_of(pg::connection& db, const std::string& url) {
  auto pid = db.query_int("SELECT pg_backend_pid()");
  BOOST_REQUIRE(pid);
  auto other = pg::connection::open(url);
  BOOST_REQUIRE_MESSAGE(other, (other ? "" : describe(other.error())));
  auto ended =
    (*other)->query_int("SELECT pg_terminate_backend(" + std::to_string(*pid) + ")::int");
  BOOST_REQUIRE(ended);
  BOOST_REQUIRE_EQUAL(*ended, 1);
}

} // namespace

BOOST_AUTO_TEST_CASE(a_connection_lost_between_transactions_is_made_again) {
  begin();
  BOOST_REQUIRE(!insert(1)); // prepares the statement on the first session
  BOOST_REQUIRE(!db->exec("COMMIT"));
  terminate_backend_of(*db, url);
  // The next BEGIN finds the session gone (store_io); the one after it
  // connects again, and the cached statement is prepared again.
  auto lost = db->exec("BEGIN");
  BOOST_REQUIRE(lost);
  BOOST_TEST(code_of(lost) == errc::store_io);
  BOOST_TEST(db->reconnects() == 0);
  begin();
  BOOST_TEST(db->reconnects() == 1);
  BOOST_REQUIRE(!insert(2));
  BOOST_REQUIRE(!db->exec("COMMIT"));
  BOOST_TEST(value_of("SELECT count(*) FROM t") == 2);
  // The session settings came back too.
  auto zone = db->query_text("SHOW TimeZone");
  BOOST_REQUIRE(zone);
  BOOST_TEST(*zone == "UTC");
}

BOOST_AUTO_TEST_CASE(a_connection_lost_inside_a_transaction_fails_it_and_is_not_replaced_midway) {
  begin();
  BOOST_REQUIRE(!insert(1));
  BOOST_REQUIRE(!db->flush());
  terminate_backend_of(*db, url);
  // Nothing of the transaction may continue on a new session.
  auto n = count();
  BOOST_REQUIRE(!n);
  BOOST_TEST(code_of(n.error()) == errc::store_io);
  auto more = insert(2);
  BOOST_REQUIRE(more);
  BOOST_TEST(code_of(more) == errc::store_io);
  BOOST_TEST(db->reconnects() == 0);
  (void)db->exec("ROLLBACK");
  begin();
  BOOST_TEST(db->reconnects() == 1);
  BOOST_REQUIRE(!insert(3));
  BOOST_REQUIRE(!db->exec("COMMIT"));
  BOOST_TEST(value_of("SELECT sum(k) FROM t") == 3); // 1 and 2 went with the lost session
}

BOOST_AUTO_TEST_CASE(a_session_idle_inside_a_transaction_is_ended_after_four_lock_timeouts) {
  auto setting = [&](int64_t lock_timeout_ms) {
    auto c = pg::connection::open(url, lock_timeout_ms);
    BOOST_REQUIRE(c);
    auto v = (*c)->query_text("SHOW idle_in_transaction_session_timeout");
    BOOST_REQUIRE(v);
    return *v;
  };
  BOOST_TEST(setting(5000) == "20s");
  BOOST_TEST(setting(1000) == "10s"); // at least 10 s
  BOOST_TEST(setting(0) == "0");      // no lock timeout: no idle timeout either
}

BOOST_AUTO_TEST_CASE(a_writer_stalled_inside_a_pipelined_transaction_is_ended_by_the_server) {
  // The server's idle-in-transaction timer only runs once it has reported
  // ready inside the transaction: each wait ends with a sync for that.
  auto c = pg::connection::open(url, 1000); // idle timeout: 10 s
  BOOST_REQUIRE(c);
  auto& w = **c;
  BOOST_REQUIRE(!w.exec("BEGIN"));
  BOOST_REQUIRE(!w.begin_pipeline());
  auto& st = w.cached("INSERT INTO t (k) VALUES (?1)");
  st.bind_all(int64_t{1});
  BOOST_REQUIRE(!st.run());
  BOOST_REQUIRE(!w.flush());
  std::this_thread::sleep_for(std::chrono::seconds{11}); // "stalled"
  auto& next = w.cached("SELECT count(*) FROM t");
  auto row = next.step();
  BOOST_REQUIRE(!row);
  BOOST_TEST(code_of(row.error()) == errc::store_io, describe(row.error()));
  (void)w.exec("ROLLBACK");
  // Its insert went with it.
  BOOST_TEST(value_of("SELECT count(*) FROM t") == 0);
}

/// A TCP port on 127.0.0.1 that takes connections into its backlog and
/// never answers: a server that hangs, or a host cut off after the handshake.
class silent_server {
public:
  silent_server() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    BOOST_REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    BOOST_REQUIRE(listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    BOOST_REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  silent_server(const silent_server&) = delete;
  silent_server& operator=(const silent_server&) = delete;
  ~silent_server() { close(fd_); }

  std::string url(const std::string& query = "") const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/fg" + query;
  }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

BOOST_AUTO_TEST_CASE(a_server_that_never_answers_fails_the_connection_instead_of_hanging) {
  // Without a connect timeout libpq waits for the startup reply for ever.
  silent_server silent;
  auto c = pg::connection::open(silent.url());
  BOOST_REQUIRE(!c);
  BOOST_TEST(code_of(c.error()) == errc::store_io, describe(c.error()));
  BOOST_TEST(describe(c.error()).find("cannot connect") != std::string::npos, describe(c.error()));
  // The URL's own setting wins over the default.
  c = pg::connection::open(silent.url("?connect_timeout=2&application_name=fg-test"));
  BOOST_REQUIRE(!c);
  BOOST_TEST(code_of(c.error()) == errc::store_io, describe(c.error()));
  // And a URL's parameters still reach the server.
  auto named = pg::connection::open(url + "?application_name=fg-test");
  BOOST_REQUIRE_MESSAGE(named, (named ? "" : describe(named.error())));
  auto v = (*named)->query_text("SHOW application_name");
  BOOST_REQUIRE(v);
  BOOST_TEST(*v == "fg-test");
}

BOOST_AUTO_TEST_SUITE_END()
