// The run store against its primitives: the SQLite backend wrapped in a
// decorator that records each primitive call (and forwards it, so the real
// statements run). A backend with row locks (PostgreSQL) is exact only if
// the run store takes a tenant's lock before it counts the tenant's runs,
// and if every write under a lease is one fenced statement: these cases pin
// that contract down.

#include "messages/errors.hpp"
#include "persistence/run_store.hpp"
#include "persistence/sql_run_backend.hpp"
#include "persistence/sql_runs.hpp"
#include "persistence/sqlite.hpp"
#include "persistence/sqlite_store.hpp"
#include "tests/persistence/store_sessions.hpp"
#include "tests/persistence/temp_db.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>

using namespace flowgate;

namespace {

/// Forwards every primitive to the real backend and records its name and
/// (where it has one) its tenant: `count_live_running:t`.
class recording_backend final : public run_backend {
public:
  explicit recording_backend(std::unique_ptr<run_backend> inner) : in_(std::move(inner)) {}

  std::vector<std::string> calls;

  caf::expected<std::optional<std::string>> tenant_config(const std::string& t) override {
    note("tenant_config", t);
    return in_->tenant_config(t);
  }
  caf::expected<std::optional<std::string>>
  pipeline_document(const std::string& t, const std::string& q, const std::string& v) override {
    note("pipeline_document", t);
    return in_->pipeline_document(t, q, v);
  }
  caf::expected<std::vector<std::pair<std::string, std::string>>> tenant_configs() override {
    note("tenant_configs");
    return in_->tenant_configs();
  }
  caf::error lock_tenant(const std::string& t) override {
    note("lock_tenant", t);
    return in_->lock_tenant(t);
  }
  caf::expected<bool> try_lock_tenant(const std::string& t) override {
    note("try_lock_tenant", t);
    return in_->try_lock_tenant(t);
  }
  caf::expected<int64_t> count_live_running(const std::string& t, int64_t now) override {
    note("count_live_running", t);
    return in_->count_live_running(t, now);
  }
  caf::expected<int64_t> count_active(const std::string& t) override {
    note("count_active", t);
    return in_->count_active(t);
  }
  caf::expected<int64_t> count_held(const std::string& t, const std::string& o, int64_t i,
                                    int64_t now) override {
    note("count_held", t);
    return in_->count_held(t, o, i, now);
  }
  caf::error count_refusal(const std::string& t, rejection_reason r, int64_t now) override {
    note("count_refusal", t);
    return in_->count_refusal(t, r, now);
  }
  caf::expected<std::optional<run_record>> find_run(int64_t run) override {
    note("find_run");
    return in_->find_run(run);
  }
  caf::expected<std::optional<run_record>> find_run_by_key(const std::string& t,
                                                           const std::string& k) override {
    note("find_run_by_key", t);
    return in_->find_run_by_key(t, k);
  }
  caf::expected<int64_t> insert_run(const new_run_row& r) override {
    note("insert_run", r.run.tenant.value);
    return in_->insert_run(r);
  }
  caf::expected<std::vector<int64_t>> due_runs(const std::string& t, run_status s, int64_t now,
                                               int64_t limit) override {
    note("due_runs", t);
    return in_->due_runs(t, s, now, limit);
  }
  caf::expected<std::optional<claimed_run>> claim_run(int64_t run, const lease_grant& g) override {
    note("claim_run");
    return in_->claim_run(run, g);
  }
  caf::expected<std::optional<fenced_row>> fenced_update(const fenced_run_update& u) override {
    note("fenced_update");
    return in_->fenced_update(u);
  }
  caf::error pause_new_run(int64_t run, const std::string& p, int64_t w) override {
    note("pause_new_run");
    return in_->pause_new_run(run, p, w);
  }
  caf::error wake_run(int64_t run, int64_t now) override {
    note("wake_run");
    return in_->wake_run(run, now);
  }
  caf::error set_inbox_taken(int64_t run, int64_t seq) override {
    note("set_inbox_taken");
    return in_->set_inbox_taken(run, seq);
  }
  caf::error set_next_seq(int64_t run, int64_t seq) override {
    note("set_next_seq");
    return in_->set_next_seq(run, seq);
  }
  caf::error mark_inbox_pending(int64_t run, int64_t now, bool due) override {
    note("mark_inbox_pending");
    return in_->mark_inbox_pending(run, now, due);
  }
  caf::error cancel_run_row(int64_t run, const std::string& r, int64_t now) override {
    note("cancel_run_row");
    return in_->cancel_run_row(run, r, now);
  }
  caf::expected<bool> resume_run_row(int64_t run, int64_t now) override {
    note("resume_run_row");
    return in_->resume_run_row(run, now);
  }
  caf::expected<bool> renew_lease(int64_t run, const std::string& o, int64_t i, int64_t e,
                                  int64_t x, int64_t now) override {
    note("renew_lease");
    return in_->renew_lease(run, o, i, e, x, now);
  }
  caf::expected<bool> release_lease(int64_t run, const std::string& o, int64_t i, int64_t e,
                                    int64_t now) override {
    note("release_lease");
    return in_->release_lease(run, o, i, e, now);
  }
  caf::expected<int64_t> release_all_leases(const std::string& o, int64_t i, int64_t now) override {
    note("release_all_leases");
    return in_->release_all_leases(o, i, now);
  }
  caf::error insert_event(int64_t run, const std::string& t, const history_record& e,
                          int64_t now) override {
    note("insert_event", t);
    return in_->insert_event(run, t, e, now);
  }
  caf::error insert_events(int64_t run, const std::string& t, const std::vector<history_record>& es,
                           int64_t now) override {
    note("insert_events", t);
    return in_->insert_events(run, t, es, now);
  }
  caf::expected<bool> insert_attempt(const reserve_step& r, const std::string& n,
                                     int64_t e) override {
    note("insert_attempt", r.tenant.value);
    return in_->insert_attempt(r, n, e);
  }
  caf::error delete_attempt(int64_t run, const std::string& s, int32_t a) override {
    note("delete_attempt");
    return in_->delete_attempt(run, s, a);
  }
  caf::expected<bool> finish_attempt(int64_t run, const step_change& s, int64_t now) override {
    note("finish_attempt");
    return in_->finish_attempt(run, s, now);
  }
  caf::error cancel_started_attempts(int64_t run, int64_t now) override {
    note("cancel_started_attempts");
    return in_->cancel_started_attempts(run, now);
  }
  caf::expected<usage_count> usage_counter(const std::string& t, int64_t s, int64_t e) override {
    note("usage_counter", t);
    return in_->usage_counter(t, s, e);
  }
  caf::expected<std::optional<int64_t>> take_usage_unit(const std::string& t, int64_t s, int64_t e,
                                                        int64_t l, int64_t now,
                                                        bool read_count) override {
    note("take_usage_unit", t);
    return in_->take_usage_unit(t, s, e, l, now, read_count);
  }
  caf::error create_usage_counter(const std::string& t, int64_t s, int64_t e, int64_t l,
                                  int64_t now) override {
    note("create_usage_counter", t);
    return in_->create_usage_counter(t, s, e, l, now);
  }
  caf::error open_wait(int64_t run, const std::string& t, wait_reason k, const std::string& p,
                       const std::string& ev, int64_t w, int64_t now) override {
    note("open_wait", t);
    return in_->open_wait(run, t, k, p, ev, w, now);
  }
  caf::error resolve_waits(int64_t run, const std::string& r, int64_t now) override {
    note("resolve_waits");
    return in_->resolve_waits(run, r, now);
  }
  caf::expected<std::vector<int64_t>> quota_waits(const std::string& t, int64_t l) override {
    note("quota_waits", t);
    return in_->quota_waits(t, l);
  }
  caf::expected<int64_t> count_resuming(const std::string& t) override {
    note("count_resuming", t);
    return in_->count_resuming(t);
  }
  caf::expected<bool> mark_resuming(int64_t run) override {
    note("mark_resuming");
    return in_->mark_resuming(run);
  }
  caf::expected<std::vector<inbox_entry>> inbox(int64_t run) override {
    note("inbox");
    return in_->inbox(run);
  }
  caf::error consume_inbox_entry(int64_t e, int64_t seq) override {
    note("consume_inbox_entry");
    return in_->consume_inbox_entry(e, seq);
  }
  caf::error drop_inbox(int64_t run) override {
    note("drop_inbox");
    return in_->drop_inbox(run);
  }
  caf::expected<int64_t> insert_inbox_entry(int64_t run, const std::string& t, const std::string& k,
                                            const std::string& e, const std::string& p,
                                            int64_t now) override {
    note("insert_inbox_entry", t);
    return in_->insert_inbox_entry(run, t, k, e, p, now);
  }
  caf::expected<std::optional<node_registration>> registration(const std::string& n) override {
    note("registration");
    return in_->registration(n);
  }
  caf::error put_registration(const register_node& op, int64_t i) override {
    note("put_registration");
    return in_->put_registration(op, i);
  }
  caf::expected<bool> heartbeat(const std::string& n, int64_t i, int64_t now) override {
    note("heartbeat");
    return in_->heartbeat(n, i, now);
  }
  caf::expected<bool> mark_stopped(const std::string& n, int64_t i, int64_t now) override {
    note("mark_stopped");
    return in_->mark_stopped(n, i, now);
  }
  caf::error mark_claimed(const std::string& n, int64_t i, int64_t now, int64_t room) override {
    note("mark_claimed");
    return in_->mark_claimed(n, i, now, room);
  }
  caf::expected<std::vector<live_node>> live_nodes(int64_t now) override {
    note("live_nodes");
    return in_->live_nodes(now);
  }
  caf::expected<std::optional<tenant_owner_row>> tenant_owner(const std::string& t) override {
    note("tenant_owner", t);
    return in_->tenant_owner(t);
  }
  caf::expected<std::vector<tenant_owner_row>> tenant_owners() override {
    note("tenant_owners");
    return in_->tenant_owners();
  }
  caf::expected<bool> take_tenant(const std::string& t, const std::string& o, int64_t i,
                                  int64_t now, int64_t expires) override {
    note("take_tenant", t);
    return in_->take_tenant(t, o, i, now, expires);
  }
  caf::expected<int64_t> renew_tenants(const std::string& o, int64_t i, int64_t now,
                                       int64_t expires) override {
    note("renew_tenants");
    return in_->renew_tenants(o, i, now, expires);
  }
  caf::expected<int64_t> release_tenants(const std::string& o, int64_t i,
                                         const std::string& t) override {
    note("release_tenants", t);
    return in_->release_tenants(o, i, t);
  }
  caf::error put_subscription(const subscription_record& s, int64_t now) override {
    note("put_subscription", s.tenant.value);
    return in_->put_subscription(s, now);
  }
  caf::expected<std::optional<schedule_record>>
  find_schedule(const std::string& t, const std::string& id, bool lock) override {
    note(lock ? "lock_schedule" : "find_schedule", t);
    return in_->find_schedule(t, id, lock);
  }
  caf::error lock_run(int64_t run) override {
    note("lock_run");
    return in_->lock_run(run);
  }
  caf::expected<std::optional<run_lineage>> lineage(int64_t run) override {
    note("lineage");
    return in_->lineage(run);
  }
  caf::expected<std::optional<run_lineage>> find_child(int64_t parent,
                                                       const std::string& path) override {
    note("find_child");
    return in_->find_child(parent, path);
  }
  caf::expected<std::vector<run_lineage>> ended_children(int64_t parent) override {
    note("ended_children");
    return in_->ended_children(parent);
  }
  caf::error mark_has_children(int64_t parent) override {
    note("mark_has_children");
    return in_->mark_has_children(parent);
  }
  caf::expected<std::vector<int64_t>> unfinished_children(int64_t parent) override {
    note("unfinished_children");
    return in_->unfinished_children(parent);
  }
  caf::expected<std::optional<std::pair<int64_t, std::string>>>
  take_child_wakeup(int64_t parent, const std::string& path, int32_t attempt,
                    int64_t now) override {
    note("take_child_wakeup");
    return in_->take_child_wakeup(parent, path, attempt, now);
  }
  caf::error put_schedule(const schedule_record& s) override {
    note("put_schedule", s.tenant.value);
    return in_->put_schedule(s);
  }
  caf::expected<int64_t> delete_schedule(const std::string& t, const std::string& id) override {
    note("delete_schedule", t);
    return in_->delete_schedule(t, id);
  }

private:
  void note(const char* what, const std::string& tenant = {}) {
    calls.push_back(tenant.empty() ? std::string{what} : std::string{what} + ":" + tenant);
  }

  std::unique_ptr<run_backend> in_;
};

struct run_store_fixture {
  testing::temp_db db;
  sqlite::connection conn;
  recording_backend backend;

  run_store_fixture() : conn(open()), backend(make_run_backend(conn)) {
    BOOST_REQUIRE(!conn.exec("BEGIN"));
  }
  ~run_store_fixture() { (void)conn.exec("COMMIT"); }

  sqlite::connection open() {
    // Migrate through the store, then work on a connection of our own.
    auto w = open_sqlite_writer(sqlite_store_options{db.path, sync_mode::normal, 1000}, 1);
    BOOST_REQUIRE(w);
    w->reset();
    auto c =
      sqlite::connection::open(sqlite::open_options{db.path, 5000, sync_mode::normal, false});
    BOOST_REQUIRE(c);
    return std::move(*c);
  }

  void add_tenant(const std::string& id, const std::string& config) {
    BOOST_REQUIRE(!conn.exec("INSERT INTO tenants (tenant_id, config_json, created_at_ms, "
                             "updated_at_ms) VALUES ('" +
                             id + "', '" + config + "', 1, 1)"));
  }

  create_run new_run(const std::string& tenant) { return testing::pending_run_op(tenant, 1000); }

  /// Position of the first call equal to `what`, or -1.
  long at(const std::string& what) const {
    auto it = std::find(backend.calls.begin(), backend.calls.end(), what);
    return it == backend.calls.end() ? -1 : std::distance(backend.calls.begin(), it);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(run_store_contract, run_store_fixture)

BOOST_AUTO_TEST_CASE(admission_counts_a_tenants_runs_only_under_its_lock) {
  add_tenant("t", R"({"max_concurrent_runs": 1, "quota": {"hard_limit": 5}})");
  auto created = flowgate::run_store::apply(backend, new_run("t"));
  BOOST_REQUIRE(created);
  BOOST_TEST(created->created);
  BOOST_TEST(at("lock_tenant:t") >= 0);
  BOOST_TEST(at("lock_tenant:t") < at("count_active:t"));
  BOOST_TEST(at("lock_tenant:t") < at("count_live_running:t"));
  BOOST_TEST(at("count_live_running:t") < at("insert_run:t"));
}

BOOST_AUTO_TEST_CASE(a_claim_locks_each_limited_tenant_before_counting_it) {
  add_tenant("a", R"({"max_concurrent_runs": 2})");
  add_tenant("b", R"({"max_concurrent_runs": 2})");
  add_tenant("u", "{}");
  for (const char* t : {"a", "b", "u"}) {
    BOOST_REQUIRE(run_store::apply(backend, new_run(t)));
  }
  backend.calls.clear();
  claim_runs op;
  op.owner = node_id{"n"};
  op.now_ms = 2000;
  op.lease_ttl_ms = 1000;
  op.max_runs = 10;
  auto won = flowgate::run_store::apply(backend, op);
  BOOST_REQUIRE(won);
  BOOST_TEST(won->runs.size() == 3u);
  // (A claim never waits for a tenant's lock: try_lock_tenant.)
  for (const char* t : {"a", "b"}) {
    auto lock = at(std::string{"try_lock_tenant:"} + t);
    BOOST_TEST(lock >= 0);
    BOOST_TEST(lock < at(std::string{"count_live_running:"} + t));
    BOOST_TEST(lock < at(std::string{"due_runs:"} + t));
  }
  // An unlimited tenant is not counted, so it needs no lock.
  BOOST_TEST(at("try_lock_tenant:u") == -1);
  BOOST_TEST(at("count_live_running:u") == -1);
}

BOOST_AUTO_TEST_CASE(an_append_is_decided_by_one_fenced_statement) {
  add_tenant("t", "{}");
  auto op = new_run("t");
  op.owner = node_id{"n"};
  op.lease_ttl_ms = 10'000;
  auto created = flowgate::run_store::apply(backend, op);
  BOOST_REQUIRE(created);
  backend.calls.clear();
  append_history a;
  a.run = created->run.id;
  a.tenant = tenant_id{"t"};
  a.owner = node_id{"n"};
  a.epoch = created->run.epoch;
  a.expected_seq = 2;
  a.now_ms = 1500;
  a.events.push_back(history_record{2, "run_completed", "", 0, "null", 0});
  a.change.status = run_status::completed;
  auto done = flowgate::run_store::apply(backend, a);
  BOOST_REQUIRE(done);
  BOOST_TEST(std::count(backend.calls.begin(), backend.calls.end(), "fenced_update") == 1);
  BOOST_TEST(at("fenced_update") < at("insert_events:t"));
  BOOST_TEST(at("lock_tenant:t") == -1);
  // A stale epoch: the fenced statement matches nothing, nothing is written.
  backend.calls.clear();
  a.expected_seq = 3;
  a.epoch = created->run.epoch - 1;
  auto stale = flowgate::run_store::apply(backend, a);
  BOOST_REQUIRE(!stale);
  BOOST_TEST(code_of(stale.error()) == errc::lease_lost);
  BOOST_TEST(at("insert_events:t") == -1);
}

BOOST_AUTO_TEST_CASE(a_refused_reservation_takes_back_its_ledger_row) {
  add_tenant("t", "{}");
  reserve_step r{tenant_id{"t"}, run_id{int64_t{7}}, "s", 1, 100, 200, 0, 150};
  auto got = flowgate::run_store::reserve(backend, r, "", 0);
  BOOST_REQUIRE(got);
  BOOST_TEST(!got->granted);
  BOOST_TEST(at("insert_attempt:t") < at("take_usage_unit:t"));
  BOOST_TEST(at("delete_attempt") > at("take_usage_unit:t"));
  BOOST_TEST(*conn.query_int("SELECT count(*) FROM run_steps") == 0);
}

BOOST_AUTO_TEST_CASE(a_tenants_run_lookups_never_step_over_its_finished_runs) {
  // runs_tenant_due holds unfinished runs only (schema 12): a statement
  // that looks a tenant's runs up by status must repeat the index's
  // condition, or SQLite scans the whole table, finished runs and all.
  add_tenant("t", R"({"max_concurrent_runs": 2, "quota": {"hard_limit": 1000}})");
  constexpr int64_t finished = 600;
  BOOST_REQUIRE(
    !conn.exec("WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
               std::to_string(finished) +
               ") INSERT INTO runs (tenant_id, queue, config_tenant_id, config_version, "
               "config_checksum, status, created_at_ms, updated_at_ms, finished_at_ms) "
               "SELECT 't', 'q', 't', '1', 'c', 'COMPLETED', 1, 1, 1 FROM n"));
  auto before = conn.full_scan_steps();
  // Admission (active and live-running counts), a claim (live-running
  // count, due runs by class), the held count, the tenant's figures.
  auto created = flowgate::run_store::apply(backend, new_run("t"));
  BOOST_REQUIRE(created);
  BOOST_REQUIRE(created->created);
  claim_runs op;
  op.owner = node_id{"n"};
  op.now_ms = 2000;
  op.lease_ttl_ms = 1000;
  op.max_runs = 10;
  auto won = flowgate::run_store::apply(backend, op);
  BOOST_REQUIRE(won);
  BOOST_TEST(won->runs.size() == 1u);
  for (auto status : {run_status::pending, run_status::running, run_status::waiting}) {
    BOOST_TEST(static_cast<bool>(backend.due_runs("t", status, 5000, 10)));
  }
  auto held = backend.count_held("t", "n", 0, 2000);
  BOOST_REQUIRE(held);
  BOOST_TEST(*held == 1);
  auto stats = sql_runs::apply(conn, read_tenant_stats{tenant_id{"t"}, 2000, 0});
  BOOST_REQUIRE(stats);
  BOOST_REQUIRE_EQUAL(stats->size(), 1u);
  BOOST_TEST(stats->front().running == 1);
  BOOST_TEST(conn.full_scan_steps() - before < finished);
}

BOOST_AUTO_TEST_CASE(no_statement_of_a_runs_life_builds_an_ephemeral_table) {
  // SQLite builds an ephemeral B-tree, at every execution, for `x IN (a, b,
  // c)` over three constants or more: in a WHERE, a CHECK or a partial
  // index's condition (an INSERT or UPDATE evaluates those too). That was
  // a third of a run's store CPU (schema 13). A run's whole life through
  // the store: created and claimed with its first attempt, a second run
  // queued at the tenant's limit, a step's end with the next step's start,
  // the run's end, the queued run claimed with its kept first step, and
  // the counts and figures read beside them.
  add_tenant("t", R"({"max_concurrent_runs": 1, "quota": {"hard_limit": 1000}})");
  quota_terms q;
  q.tenant = tenant_id{"t"};
  q.period_start_ms = 0;
  q.period_end_ms = 1'000'000;
  q.limit = 1000;
  auto created_op = [&] {
    auto op = new_run("t");
    op.owner = node_id{"n"};
    op.lease_ttl_ms = 10'000;
    op.first_events = {history_record{2, "step_scheduled", "s1", 1, "{}", 0}};
    op.first_steps = {step_change{"s1", 1, step_status::started, "", "", 0}};
    op.quota = q;
    op.room = 10;
    return op;
  };
  auto first = flowgate::run_store::apply(backend, created_op());
  BOOST_REQUIRE(first);
  BOOST_REQUIRE(first->created);
  BOOST_TEST(first->run.status == run_status::running);
  auto queued = flowgate::run_store::apply(backend, created_op());
  BOOST_REQUIRE(queued);
  BOOST_TEST(queued->run.status == run_status::pending);
  append_history a;
  a.run = first->run.id;
  a.tenant = tenant_id{"t"};
  a.owner = node_id{"n"};
  a.epoch = first->run.epoch;
  a.expected_seq = first->run.next_seq;
  a.now_ms = 1500;
  a.events = {history_record{a.expected_seq, "step_completed", "s1", 1, "{}", 0},
              history_record{a.expected_seq + 1, "step_scheduled", "s2", 1, "{}", 0}};
  a.steps = {step_change{"s1", 1, step_status::completed, "", "", -1},
             step_change{"s2", 1, step_status::started, "", "", 1}};
  a.change.status = run_status::running;
  a.change.node_path = "s2";
  a.quota = q;
  auto kept = flowgate::run_store::apply(backend, a);
  BOOST_REQUIRE(kept);
  a.expected_seq = kept->next_seq;
  a.events = {history_record{a.expected_seq, "step_completed", "s2", 1, "{}", 0},
              history_record{a.expected_seq + 1, "run_completed", "", 0, "{}", 0}};
  a.steps = {step_change{"s2", 1, step_status::completed, "", "", -1}};
  a.change = run_change{};
  a.change.status = run_status::completed;
  a.change.release_lease = true;
  BOOST_REQUIRE(flowgate::run_store::apply(backend, a));
  claim_runs op;
  op.owner = node_id{"n"};
  op.now_ms = 2000;
  op.lease_ttl_ms = 1000;
  op.max_runs = 1;
  op.tenants = {tenant_id{"t"}};
  op.quotas = {q};
  auto won = flowgate::run_store::apply(backend, op);
  BOOST_REQUIRE(won);
  BOOST_REQUIRE_EQUAL(won->runs.size(), 1u);
  BOOST_TEST(won->first_recorded.size() == 1u);
  BOOST_TEST(*backend.count_held("t", "n", 0, 2000) == 1);
  BOOST_REQUIRE(sql_runs::apply(conn, read_tenant_stats{tenant_id{"t"}, 2000, 0}));
  auto statements = conn.cached_sql();
  BOOST_TEST(statements.size() > 15u);
  for (const auto& sql : statements) {
    auto program = conn.prepare("EXPLAIN " + sql);
    BOOST_REQUIRE(program);
    int64_t ephemeral = 0;
    for (auto row = program->step(); row && *row; row = program->step()) {
      ephemeral += program->column_text(1) == "OpenEphemeral" ? 1 : 0;
    }
    BOOST_TEST_CHECK(ephemeral == 0, sql);
  }
}

BOOST_AUTO_TEST_SUITE_END()
