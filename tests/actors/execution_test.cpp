// Runs end to end on an executing node: engine + orchestrator + dispatcher
// + activity pool + store, checked through an independent connection.

#include "actors/activity.hpp"
#include "actors/wall_clock.hpp"
#include "tests/actors/node_fixture.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/scoped_actor.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

using namespace flowgate;
using namespace std::chrono_literals;

namespace {

struct exec_fixture : flowgate::testing::node_fixture {
  std::shared_ptr<activity_registry> activities = std::make_shared<activity_registry>();

  exec_fixture() {
    BOOST_REQUIRE(n->put_tenant("acme", "{}"));
    start_executing(exec_settings());
  }

  node_settings exec_settings() const {
    auto s = settings();
    s.node_id = "test-node";
    s.poll_interval_ms = 20;
    s.lease_ttl_ms = 2'000;
    s.hold_timer_ms = 200;
    s.workers = 4;
    return s;
  }

  void start_executing(node_settings s) { restart(std::move(s), node_options{true, activities}); }

  void put(const std::string& queue, const std::string& doc, const std::string& version = "1") {
    auto stored = n->put_config("acme", queue, version, doc);
    BOOST_REQUIRE_MESSAGE(stored, (stored ? "" : describe(stored.error())));
  }

  /// Starts a run and waits until it rests: finished, or WAITING unless
  /// `through_waits`.
  run_record run_to_rest(const std::string& queue, const std::string& input = "{}",
                         bool through_waits = false) {
    auto started = n->start_run("acme", queue, input);
    BOOST_REQUIRE_MESSAGE(started, (started ? "" : describe(started.error())));
    auto done = n->wait_for_run("acme", started->run.id.value, 30s, !through_waits);
    BOOST_REQUIRE_MESSAGE(done, (done ? "" : describe(done.error())));
    return *done;
  }

  /// Starts a run and waits until it finished (through any waits).
  run_record run_to_end(const std::string& queue, const std::string& input = "{}") {
    return run_to_rest(queue, input, true);
  }

  std::string ledger(int64_t run) {
    return text("SELECT coalesce(" +
                testing::concat_sql("step_path || '#' || attempt || ':' || status", " ") +
                ", '') FROM (SELECT * FROM run_steps WHERE run_id = " + std::to_string(run) +
                " ORDER BY started_at_ms, step_path, attempt) s");
  }

  /// Sequence numbers are 1..n without gaps.
  void check_gap_free(int64_t run) {
    auto n_events = count("SELECT count(*) FROM run_events WHERE run_id = " + std::to_string(run));
    auto max_seq =
      count("SELECT coalesce(max(seq), 0) FROM run_events WHERE run_id = " + std::to_string(run));
    auto next = count("SELECT next_seq FROM runs WHERE run_id = " + std::to_string(run));
    BOOST_TEST(n_events == max_seq);
    BOOST_TEST(next == max_seq + 1);
  }
};

const char* echo_chain = R"({"name":"chain","root":{"sequence":[
  {"id":"first","activity":"echo","input":{"order":{"$ref":"/input/order"}}},
  {"id":"second","activity":"echo","input":{"prev":{"$ref":"/steps/first/output"}}}]}})";

} // namespace

BOOST_FIXTURE_TEST_SUITE(execution, exec_fixture)

BOOST_AUTO_TEST_CASE(runs_a_pipeline_to_completion_recording_every_attempt) {
  put("orders", echo_chain);
  auto r = run_to_rest("orders", R"({"order": 42})");
  BOOST_TEST(r.status == run_status::completed);
  BOOST_TEST(r.output == R"({"prev":{"order":42}})");
  BOOST_TEST(r.version.value == "1");
  BOOST_TEST(r.lease_owner.empty());
  BOOST_TEST(ledger(r.id.value) == "first#1:completed second#1:completed");
  check_gap_free(r.id.value);
  auto h = n->run_history("acme", r.id.value);
  BOOST_REQUIRE(h);
  std::vector<std::string> types;
  for (const auto& e : *h) {
    types.push_back(e.type);
  }
  BOOST_TEST(
    (types == std::vector<std::string>{"run_started", "step_scheduled", "step_completed",
                                       "step_scheduled", "step_completed", "run_completed"}));
  auto report = n->replay("acme", r.id.value);
  BOOST_REQUIRE(report);
  BOOST_TEST(report->deterministic);
  BOOST_TEST(report->engine_state == "completed");
}

BOOST_AUTO_TEST_CASE(registered_activities_see_input_attempt_and_tenant_settings) {
  auto stored = n->put_tenant(
    "acme", R"({"settings": {"model": "llama3.2"}, "secrets": {"api_key": "sk-live-1"}})");
  BOOST_REQUIRE(stored);
  // Shown by name only, handed to activities whole.
  BOOST_TEST(stored->config_json.find("sk-live-1") == std::string::npos);
  BOOST_TEST(n->get_tenant("acme")->config_json.find("sk-live-1") == std::string::npos);
  activities->add("describe", [](const boost::json::value& input, const activity_context& ctx) {
    return activity_outcome::success(boost::json::object{
      {"input", input},
      {"attempt", ctx.attempt},
      {"tenant", ctx.tenant.value},
      {"model", ctx.settings.contains("model") ? ctx.settings.at("model") : nullptr},
      {"key_ok", ctx.secrets.contains("api_key") && ctx.secrets.at("api_key") == "sk-live-1"}});
  });
  put("q", R"({"name":"p","root":{"sequence":[{"id":"a","activity":"describe",
    "input":{"x":{"$ref":"/input/x"}}}]}})");
  auto r = run_to_rest("q", R"({"x": [1, 2]})");
  BOOST_TEST(r.status == run_status::completed);
  BOOST_TEST(
    r.output ==
    R"({"input":{"x":[1,2]},"attempt":1,"tenant":"acme","model":"llama3.2","key_ok":true})");
}

BOOST_AUTO_TEST_CASE(retries_failed_attempts_and_records_each_in_the_ledger) {
  put("flaky", R"({"name":"p","root":{"sequence":[{"id":"a","activity":"fail",
    "input":{"times":2,"type":"Busy"},"retry":{"max_attempts":3,"initial_interval_ms":10}}]}})");
  auto r = run_to_rest("flaky");
  BOOST_TEST(r.status == run_status::completed);
  BOOST_TEST(r.output == R"({"attempt":3})");
  BOOST_TEST(ledger(r.id.value) == "a#1:failed a#2:failed a#3:completed");
  check_gap_free(r.id.value);
}

BOOST_AUTO_TEST_CASE(exhausted_retries_fail_the_run_with_the_error) {
  put("hopeless", R"({"name":"p","root":{"sequence":[{"id":"a","activity":"fail",
    "input":{"times":9,"type":"Busy"},"retry":{"max_attempts":2,"initial_interval_ms":10}}]}})");
  auto r = run_to_rest("hopeless");
  BOOST_TEST(r.status == run_status::failed);
  BOOST_TEST(r.error_type == "Busy");
  BOOST_TEST(ledger(r.id.value) == "a#1:failed a#2:failed");
}

BOOST_AUTO_TEST_CASE(an_unknown_activity_fails_the_run_clearly) {
  put("typo", flowgate::testing::simple_pipeline("no_such_activity"));
  auto r = run_to_rest("typo");
  BOOST_TEST(r.status == run_status::failed);
  BOOST_TEST(r.error_type == "unknown_activity");
  BOOST_TEST(r.error_message.find("no_such_activity") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(start_to_close_timeouts_are_enforced) {
  put("slow", R"({"name":"p","root":{"sequence":[{"id":"a","activity":"sleep",
    "input":{"ms":3000},"timeout_ms":100}]}})");
  auto r = run_to_rest("slow");
  BOOST_TEST(r.status == run_status::failed);
  BOOST_TEST(r.error_type == "timeout");
}

BOOST_AUTO_TEST_CASE(for_each_items_are_attempts_of_their_own) {
  put("loop", R"({"name":"p","root":{"sequence":[{"id":"items","for_each":{"$ref":"/input/xs"},
    "do":{"id":"double","activity":"echo","input":{"v":{"$ref":"/item"}}}}]}})");
  auto r = run_to_rest("loop", R"({"xs": [1, 2, 3]})");
  BOOST_TEST(r.status == run_status::completed);
  BOOST_TEST(r.output == R"([{"v":1},{"v":2},{"v":3}])");
  BOOST_TEST(ledger(r.id.value) ==
             "items/0/double#1:completed items/1/double#1:completed items/2/double#1:completed");
}

BOOST_AUTO_TEST_CASE(a_wait_releases_the_run_and_a_signal_resumes_it) {
  put("approve", R"({"name":"p","root":{"sequence":[
    {"id":"approval","wait":{"event":"approved"}},
    {"id":"ship","activity":"echo","input":{"by":{"$ref":"/steps/approval/output/by"}}}]}})");
  auto r = run_to_rest("approve");
  BOOST_TEST(r.status == run_status::waiting);
  BOOST_TEST(r.wait_reason == flowgate::wait_reason::event);
  BOOST_TEST(r.lease_owner.empty());
  BOOST_TEST(count("SELECT count(*) FROM run_waits WHERE kind = 'event' AND "
                   "resolved_at_ms IS NULL") == 1);
  auto sent = n->signal_run("acme", r.id.value, "approved", R"({"by": "ann"})");
  BOOST_REQUIRE_MESSAGE(sent, (sent ? "" : describe(sent.error())));
  std::optional<run_record> done;
  for (int i = 0; i < 500 && (!done || !is_terminal(done->status)); ++i) {
    std::this_thread::sleep_for(20ms);
    auto got = n->get_run("acme", r.id.value);
    BOOST_REQUIRE(got);
    done = *got;
  }
  BOOST_TEST(done->status == run_status::completed);
  BOOST_TEST(done->output == R"({"by":"ann"})");
  BOOST_TEST(count("SELECT count(*) FROM run_waits WHERE resolved_at_ms IS NULL") == 0);
  BOOST_TEST(ledger(r.id.value) == "approval#1:completed ship#1:completed");
  check_gap_free(r.id.value);
}

BOOST_AUTO_TEST_CASE(a_signal_to_a_waiting_run_is_taken_up_at_once_not_at_the_next_poll) {
  auto s = exec_settings();
  s.poll_interval_ms = 60'000; // a poll would come long after the test gave up
  start_executing(s);
  put("approve", R"({"name":"p","root":{"sequence":[
    {"id":"approval","wait":{"event":"approved"}},
    {"id":"ship","activity":"echo","input":{"by":{"$ref":"/steps/approval/output/by"}}}]}})");
  auto r = run_to_rest("approve");
  BOOST_REQUIRE(r.status == run_status::waiting);
  BOOST_REQUIRE(n->signal_run("acme", r.id.value, "approved", R"({"by": "ann"})"));
  auto done = n->wait_for_run("acme", r.id.value, 20s, false);
  BOOST_REQUIRE_MESSAGE(done, (done ? "" : describe(done.error())));
  BOOST_TEST(done->status == run_status::completed);
  BOOST_TEST(ledger(r.id.value) == "approval#1:completed ship#1:completed");
}

BOOST_AUTO_TEST_CASE(a_wait_times_out_and_continues) {
  put("maybe", R"({"name":"p","root":{"sequence":[
    {"id":"w","wait":{"event":"go","timeout_ms":300,"on_timeout":"continue"}}]}})");
  auto r = run_to_rest("maybe");
  if (r.status == run_status::waiting) {
    std::optional<run_record> done;
    for (int i = 0; i < 500 && (!done || !is_terminal(done->status)); ++i) {
      std::this_thread::sleep_for(20ms);
      done = *n->get_run("acme", r.id.value);
    }
    r = *done;
  }
  BOOST_TEST(r.status == run_status::completed);
  BOOST_TEST(r.output == R"({"timed_out":true})");
}

BOOST_AUTO_TEST_CASE(long_timers_release_the_run_and_come_back) {
  put("nap", R"({"name":"p","root":{"sequence":[{"id":"cool","wait":{"timer_ms":400}},
    {"id":"a","activity":"noop"}]}})");
  auto started = n->start_run("acme", "nap", "{}");
  BOOST_REQUIRE(started);
  auto paused = n->wait_for_run("acme", started->run.id.value, 5s);
  BOOST_REQUIRE(paused);
  BOOST_TEST(paused->status == run_status::waiting);
  BOOST_TEST(paused->wait_reason == flowgate::wait_reason::timer);
  std::optional<run_record> done;
  for (int i = 0; i < 500 && (!done || done->status != run_status::completed); ++i) {
    std::this_thread::sleep_for(20ms);
    done = *n->get_run("acme", started->run.id.value);
  }
  BOOST_TEST(done->status == run_status::completed);
}

BOOST_AUTO_TEST_CASE(bad_run_input_is_refused_and_nothing_is_stored) {
  put("orders", echo_chain);
  auto check = [&](caf::expected<run_created> r, errc code, const std::string& needle) {
    BOOST_REQUIRE(!r);
    BOOST_TEST(code_of(r.error()) == code);
    BOOST_TEST(describe(r.error()).find(needle) != std::string::npos, describe(r.error()));
  };
  check(n->start_run("nobody", "orders", "{}"), errc::unknown_tenant, "nobody");
  check(n->start_run("acme", "nope", "{}"), errc::unknown_queue, "nope");
  check(n->start_run("acme", "orders", "{}", "v9"), errc::unknown_version, "v9");
  check(n->start_run("acme", "orders", "{\"a\": "), errc::malformed_json, "run input");
  check(n->start_run("acme", "orders", std::string(2 << 20, ' ') + "1"), errc::payload_too_large,
        "run input");
  check(n->start_run("acme", "orders", "{}", "", "bad key!"), errc::invalid_argument,
        "idempotency");
  BOOST_TEST(count("SELECT count(*) FROM runs") == 0);
  BOOST_TEST(count("SELECT count(*) FROM run_events") == 0);
}

BOOST_AUTO_TEST_CASE(signals_to_unknown_or_finished_runs_are_refused) {
  put("orders", echo_chain);
  auto r = run_to_rest("orders", R"({"order": 1})");
  auto unknown = n->signal_run("acme", 999, "go", "{}");
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(code_of(unknown.error()) == errc::not_found);
  auto finished = n->signal_run("acme", r.id.value, "go", "{}");
  BOOST_REQUIRE(!finished);
  BOOST_TEST(code_of(finished.error()) == errc::run_finished);
  BOOST_TEST(describe(finished.error()).find("COMPLETED") != std::string::npos);
  BOOST_REQUIRE(n->put_tenant("other", "{}"));
  auto foreign = n->signal_run("other", r.id.value, "go", "{}");
  BOOST_REQUIRE(!foreign);
  BOOST_TEST(code_of(foreign.error()) == errc::not_found);
  auto malformed = n->signal_run("acme", r.id.value, "go", "{");
  BOOST_REQUIRE(!malformed);
  BOOST_TEST(code_of(malformed.error()) == errc::malformed_json);
  auto bad_name = n->signal_run("acme", r.id.value, "", "{}");
  BOOST_REQUIRE(!bad_name);
  BOOST_TEST(code_of(bad_name.error()) == errc::invalid_argument);
  BOOST_TEST(count("SELECT count(*) FROM run_signals") == 0);
}

BOOST_AUTO_TEST_CASE(cancel_ends_a_waiting_run_at_once) {
  put("approve", R"({"name":"p","root":{"sequence":[{"id":"w","wait":{"event":"x"}}]}})");
  auto r = run_to_rest("approve");
  BOOST_REQUIRE(r.status == run_status::waiting);
  auto c = n->cancel_run("acme", r.id.value, "no longer needed");
  BOOST_REQUIRE(c);
  BOOST_TEST(c->canceled_now);
  BOOST_TEST(c->run.status == run_status::canceled);
  auto again = n->cancel_run("acme", r.id.value, "");
  BOOST_REQUIRE(!again);
  BOOST_TEST(code_of(again.error()) == errc::run_finished);
  check_gap_free(r.id.value);
}

BOOST_AUTO_TEST_CASE(cancel_of_a_running_run_is_taken_by_its_holder_at_once) {
  // a sleeps long enough that the cancel 100 ms in surely finds it running,
  // and that the holder, told at once, cancels the run before a ends.
  put("slow", R"({"name":"p","root":{"sequence":[
    {"id":"a","activity":"sleep","input":{"ms":60000}},{"id":"b","activity":"noop"}]}})");
  auto started = n->start_run("acme", "slow", "{}");
  BOOST_REQUIRE(started);
  std::this_thread::sleep_for(100ms);
  auto c = n->cancel_run("acme", started->run.id.value, "stop");
  BOOST_REQUIRE(c);
  BOOST_TEST(!c->canceled_now); // stored for the holder
  auto done = n->wait_for_run("acme", started->run.id.value, 10s);
  BOOST_REQUIRE(done);
  BOOST_TEST(done->status == run_status::canceled);
  // The attempt in flight ends with the run (its outcome, when the activity
  // returns, is not recorded); b never started. Found at the next step
  // instead, the ledger would be "a#1:completed b#1:canceled".
  BOOST_TEST(ledger(started->run.id.value) == "a#1:canceled");
  check_gap_free(started->run.id.value);
  // And the pool asked the sleep to stop: its worker is free long before
  // the minute is up.
  caf::scoped_actor self{*sys};
  int32_t busy = -1;
  for (int i = 0; i < 1000 && busy != 0; ++i) {
    self->request(n->pool(), 5s, stats_atom::value)
      .receive([&](pool_stats& s) { busy = s.busy; }, [](caf::error&) {});
    if (busy != 0) {
      std::this_thread::sleep_for(10ms);
    }
  }
  BOOST_TEST(busy == 0);
}

BOOST_AUTO_TEST_CASE(a_stale_epoch_is_fenced_off_and_its_orchestrator_stops) {
  put("slow", R"({"name":"p","root":{"sequence":[
    {"id":"a","activity":"sleep","input":{"ms":2000}},{"id":"b","activity":"noop"}]}})");
  auto started = n->start_run("acme", "slow", "{}");
  BOOST_REQUIRE(started);
  auto id = std::to_string(started->run.id.value);
  // Bounded waits, not sleeps: a loaded machine can take any time to get here.
  auto within = [](auto done) {
    for (int i = 0; i < 3000 && !done(); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    return done();
  };
  BOOST_REQUIRE(within([&] { return ledger(started->run.id.value) == "a#1:started"; }));
  // Another node takes the run over while attempt a#1 runs here (2 s).
  exec("UPDATE runs SET lease_owner = 'thief', lease_epoch = lease_epoch + 1, "
       "lease_expires_at_ms = 9000000000000, wake_at_ms = 9000000000000 "
       "WHERE run_id = " +
       id);
  auto events_before = count("SELECT count(*) FROM run_events WHERE run_id = " + id);
  BOOST_REQUIRE(ledger(started->run.id.value) == "a#1:started"); // the take-over came first
  // The orchestrator stops: its renewal or a#1's outcome is refused (lease_lost).
  caf::scoped_actor self{*sys};
  BOOST_TEST(within([&] {
    dispatcher_stats stats;
    stats.active = -1;
    self->request(n->dispatcher(), 5s, stats_atom::value)
      .receive([&](dispatcher_stats& s) { stats = s; }, [](caf::error&) {});
    return stats.active == 0;
  }));
  // Nothing written under the old epoch: b never scheduled.
  BOOST_TEST(count("SELECT count(*) FROM run_events WHERE run_id = " + id) == events_before);
  BOOST_TEST(ledger(started->run.id.value) == "a#1:started");
  BOOST_TEST(text("SELECT lease_owner FROM runs WHERE run_id = " + id) == "thief");

  // The same through the store directly: a write under the old epoch fails.
  append_history op;
  op.run = started->run.id;
  op.tenant = tenant_id{"acme"};
  op.owner = node_id{"test-node"};
  op.epoch = started->run.epoch;
  op.expected_seq = events_before + 1;
  op.now_ms = wall_clock_ms();
  caf::error refused;
  self->request(n->writer(), 5s, op)
    .receive([](history_appended&) {}, [&](caf::error& e) { refused = e; });
  BOOST_TEST(code_of(refused) == errc::lease_lost);
  BOOST_TEST(describe(refused).find("thief") != std::string::npos);
  // Counted for /metrics: the orchestrator's refused write and this one.
  uint64_t fenced = 0;
  self->request(n->writer(), 5s, stats_atom::value)
    .receive([&](writer_stats& s) { fenced = s.fenced_writes; }, [](caf::error&) {});
  BOOST_TEST(fenced >= 1);
}

BOOST_AUTO_TEST_CASE(a_cut_off_attempt_is_recorded_and_retried_after_the_lease_expires) {
  put("retry", R"({"name":"p","root":{"sequence":[{"id":"a","activity":"echo","input":7,
    "retry":{"max_attempts":2,"initial_interval_ms":10}}]}})");
  // A node that died after starting attempt a#1: its lease expires soon
  // (long enough for the append below to come first on a loaded machine).
  caf::scoped_actor self{*sys};
  auto snap = n->get_config("acme", "retry", "1");
  BOOST_REQUIRE(snap);
  run_record r;
  r.tenant = tenant_id{"acme"};
  r.queue = queue_name{"retry"};
  r.config_tenant = tenant_id{"acme"};
  r.version = config_version{"1"};
  r.checksum = (*snap)->checksum;
  r.input = "{}";
  auto now = wall_clock_ms();
  run_created created;
  self
    ->request(n->writer(), 5s,
              create_run{r, node_id{"dead"}, 0, 1500, now, {}, {}, 0, {}, 0, {}, 0, 8})
    .receive([&](run_created& c) { created = c; }, [](caf::error& e) { BOOST_FAIL(describe(e)); });
  append_history op;
  op.run = created.run.id;
  op.tenant = r.tenant;
  op.owner = node_id{"dead"};
  op.epoch = created.run.epoch;
  op.expected_seq = 2;
  op.events.push_back(history_record{2, "step_scheduled", "a", 1,
                                     R"({"activity":"echo","input":7,"timeout_ms":0})", now});
  op.steps.push_back(step_change{"a", 1, step_status::started, "", ""});
  op.now_ms = now;
  auto terms = n->quota_terms_of(tenant_id{"acme"}, false);
  BOOST_REQUIRE(terms);
  op.quota = *terms;
  self->request(n->writer(), 5s, op)
    .receive([](history_appended&) {}, [](caf::error& e) { BOOST_FAIL(describe(e)); });
  auto done = n->wait_for_run("acme", created.run.id.value, 10s);
  while (done && done->status == run_status::running) {
    done = n->wait_for_run("acme", created.run.id.value, 10s);
  }
  BOOST_REQUIRE(done);
  BOOST_TEST(done->status == run_status::completed);
  BOOST_TEST(done->epoch == 2);
  BOOST_TEST(ledger(created.run.id.value) == "a#1:cut_off a#2:completed");
  check_gap_free(created.run.id.value);
}

BOOST_AUTO_TEST_CASE(a_changed_history_is_caught_as_nondeterminism) {
  put("approve", R"({"name":"p","root":{"sequence":[{"id":"a","activity":"noop"},
    {"id":"w","wait":{"event":"x"}}]}})");
  auto r = run_to_rest("approve");
  BOOST_REQUIRE(r.status == run_status::waiting);
  auto id = std::to_string(r.id.value);
  exec("UPDATE run_events SET node_path = 'zzz' WHERE run_id = " + id + " AND seq = 2");
  auto report = n->replay("acme", r.id.value);
  BOOST_REQUIRE(report);
  BOOST_TEST(!report->deterministic);
  BOOST_TEST(report->message ==
             "history event 2 is step_scheduled 'zzz'#1, but the pipeline expects "
             "step_scheduled 'a'#1");
  BOOST_REQUIRE(n->signal_run("acme", r.id.value, "x", "{}"));
  std::optional<run_record> done;
  for (int i = 0; i < 500 && (!done || !is_terminal(done->status)); ++i) {
    std::this_thread::sleep_for(20ms);
    done = *n->get_run("acme", r.id.value);
  }
  BOOST_TEST(done->status == run_status::failed);
  BOOST_TEST(done->error_type == "nondeterminism");
  BOOST_TEST(done->error_message.find("history event 2") != std::string::npos);
  // Counted for /metrics (the replay above is the CLI's, not the node's).
  caf::scoped_actor self{*sys};
  int64_t detected = -1;
  self->request(n->dispatcher(), 5s, stats_atom::value)
    .receive([&](dispatcher_stats& s) { detected = s.nondeterminism; }, [](caf::error&) {});
  BOOST_TEST(detected == 1);
}

BOOST_AUTO_TEST_CASE(nondeterminism_can_hold_the_run_for_an_operator) {
  auto s = exec_settings();
  s.hold_on_nondeterminism = true;
  start_executing(s);
  put("approve", R"({"name":"p","root":{"sequence":[{"id":"a","activity":"noop"},
    {"id":"w","wait":{"event":"x"}}]}})");
  auto r = run_to_rest("approve");
  exec("UPDATE run_events SET node_path = 'zzz' WHERE run_id = " + std::to_string(r.id.value) +
       " AND seq = 2");
  BOOST_REQUIRE(n->signal_run("acme", r.id.value, "x", "{}"));
  std::optional<run_record> held;
  for (int i = 0; i < 500 && (!held || held->wait_reason != flowgate::wait_reason::nondeterminism);
       ++i) {
    std::this_thread::sleep_for(20ms);
    held = *n->get_run("acme", r.id.value);
  }
  BOOST_TEST(held->status == run_status::waiting);
  BOOST_TEST(held->wait_reason == flowgate::wait_reason::nondeterminism);
  // Held means held: not claimed again (the unread signal does not wake it).
  std::this_thread::sleep_for(300ms);
  BOOST_TEST(count("SELECT count(*) FROM run_waits WHERE kind = 'nondeterminism'") == 1);
  BOOST_TEST(n->get_run("acme", r.id.value)->epoch == held->epoch);
}

BOOST_AUTO_TEST_CASE(drain_finishes_attempts_in_flight_and_hands_runs_back) {
  put("slow", R"({"name":"p","root":{"sequence":[
    {"id":"a","activity":"sleep","input":{"ms":300}},{"id":"b","activity":"noop"}]}})");
  auto started = n->start_run("acme", "slow", "{}");
  BOOST_REQUIRE(started);
  std::this_thread::sleep_for(100ms);
  auto released = n->drain();
  BOOST_REQUIRE(released);
  auto r = n->get_run("acme", started->run.id.value);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == run_status::running);
  BOOST_TEST(r->lease_owner.empty());
  BOOST_TEST(ledger(r->id.value) == "a#1:completed");
  // Another node picks it up and finishes.
  auto s = exec_settings();
  s.node_id = "second";
  start_executing(s);
  auto done = n->wait_for_run("acme", r->id.value, 10s);
  BOOST_REQUIRE(done);
  BOOST_TEST(done->status == run_status::completed);
  BOOST_TEST(ledger(r->id.value) == "a#1:completed b#1:completed");
}

BOOST_AUTO_TEST_CASE(idempotency_keys_return_the_existing_run) {
  put("orders", echo_chain);
  auto a = n->start_run("acme", "orders", R"({"order": 1})", "", "order-1");
  auto b = n->start_run("acme", "orders", R"({"order": 1})", "", "order-1");
  BOOST_REQUIRE(a);
  BOOST_REQUIRE(b);
  BOOST_TEST(a->created);
  BOOST_TEST(!b->created);
  BOOST_TEST(a->run.id.value == b->run.id.value);
  BOOST_TEST(count("SELECT count(*) FROM runs") == 1);
}

// -- parallel branches and concurrent loops -------------------------------------

/// Activities that meet: each of the first `expected` attempts waits (up
/// to 10 s) until `expected` attempts are inside at once, and the most seen
/// inside is kept. (Later attempts never wait: one that entered before the
/// first ones had counted their meeting made `met` 4 in CI.)
struct meeting {
  std::mutex m;
  std::condition_variable cv;
  int entered = 0;
  int inside = 0;
  int most = 0;
  int met = 0;
  bool opened = false;

  activity_outcome enter(int expected, const boost::json::value& input) {
    std::unique_lock lock{m};
    bool early = entered++ < expected;
    ++inside;
    most = std::max(most, inside);
    opened = opened || inside >= expected;
    cv.notify_all();
    if (early && cv.wait_for(lock, 10s, [&] { return opened; })) {
      ++met;
    }
    --inside;
    return activity_outcome::success(input);
  }
};

BOOST_AUTO_TEST_CASE(parallel_branches_run_at_the_same_time_and_output_in_branch_order) {
  auto m = std::make_shared<meeting>();
  activities->add("meet3", [m](const boost::json::value& input, const activity_context&) {
    return m->enter(3, input);
  });
  put("checks", R"({"name":"checks","root":{"sequence":[
    {"id":"checks","parallel":[
      {"id":"credit","activity":"meet3","input":{"credit":{"$ref":"/input/customer"}}},
      {"sequence":[{"id":"stock","activity":"meet3","input":"s"},
                   {"id":"hold","activity":"echo","input":{"held":{"$ref":"/steps/stock/output"}}}]},
      {"id":"fraud","activity":"meet3","input":"f"}]},
    {"id":"ship","activity":"echo","input":{"$ref":"/steps/checks/output"}}]}})");
  auto r = run_to_end("checks", R"({"customer": "c7"})");
  BOOST_TEST(r.status == run_status::completed);
  BOOST_TEST(r.output == R"([{"credit":"c7"},{"held":"s"},"f"])");
  // The three first attempts were inside at once.
  BOOST_TEST(m->most == 3);
  BOOST_TEST(m->met == 3);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE run_id = " + std::to_string(r.id.value) +
                   " AND status = 'completed'") == 5);
  check_gap_free(r.id.value);
  expect_replayable_and_clean("acme", r.id.value);
}

BOOST_AUTO_TEST_CASE(a_concurrent_loop_runs_n_items_at_once_and_outputs_in_item_order) {
  auto m = std::make_shared<meeting>();
  activities->add("meet3", [m](const boost::json::value& input, const activity_context&) {
    return m->enter(3, input);
  });
  put("items", R"({"name":"items","root":{"sequence":[
    {"id":"items","for_each":{"$ref":"/input/items"},"concurrency":3,
     "do":{"id":"reserve","activity":"meet3","input":{"sku":{"$ref":"/item"}}}}]}})");
  auto r = run_to_end("items", R"({"items": [1, 2, 3, 4, 5, 6, 7, 8]})");
  BOOST_TEST(r.status == run_status::completed);
  BOOST_TEST(r.output == R"([{"sku":1},{"sku":2},{"sku":3},{"sku":4},{"sku":5},{"sku":6},)"
                         R"({"sku":7},{"sku":8}])");
  // At most three items in flight (the pool has four workers), and three met.
  BOOST_TEST(m->most == 3);
  BOOST_TEST(m->met == 3);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE run_id = " + std::to_string(r.id.value) +
                   " AND status = 'completed'") == 8);
  check_gap_free(r.id.value);
  auto report = n->replay("acme", r.id.value);
  BOOST_REQUIRE(report);
  BOOST_TEST(report->deterministic);
}

BOOST_AUTO_TEST_CASE(a_failed_branch_fails_the_run_and_ends_the_other_attempts) {
  put("checks", R"({"name":"checks","root":{"id":"checks","parallel":[
    {"id":"slow","activity":"sleep","input":{"ms":300}},
    {"id":"broken","activity":"fail","input":{"times":5,"type":"Broken"}}]}})");
  auto r = run_to_end("checks");
  BOOST_TEST(r.status == run_status::failed);
  BOOST_TEST(r.error_type == "Broken");
  // The slow branch's attempt in flight was ended with the run.
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE run_id = " + std::to_string(r.id.value) +
                   " AND status = 'started'") == 0);
  BOOST_TEST(ledger(r.id.value).find("checks/1/broken#1:failed") != std::string::npos);
  expect_replayable_and_clean("acme", r.id.value);
}

// -- child runs ------------------------------------------------------------------

const char* parent_pipeline = R"({"name":"order","root":{"sequence":[
  {"id":"take","activity":"echo","input":{"$ref":"/input"}},
  {"id":"billing","child":{"queue":"billing"},"input":{"order":{"$ref":"/steps/take/output"}},
   "retry":{"max_attempts":3,"initial_interval_ms":10}},
  {"id":"ship","activity":"echo","input":{"paid":{"$ref":"/steps/billing/output"}}}]}})";

BOOST_AUTO_TEST_CASE(a_child_run_runs_and_its_output_continues_the_parent) {
  put("billing", R"({"name":"billing","root":{"sequence":[
    {"id":"charge","activity":"echo","input":{"charged":{"$ref":"/input/order"}}}]}})");
  put("orders", parent_pipeline);
  auto r = run_to_end("orders", R"({"id": 9})");
  BOOST_TEST(r.status == run_status::completed);
  BOOST_TEST(r.output == R"({"paid":{"charged":{"id":9}}})");
  // The child is a run of its own, of the same tenant, finished.
  BOOST_TEST(
    count("SELECT count(*) FROM runs WHERE parent_run_id = " + std::to_string(r.id.value) +
          " AND parent_node_path = 'billing' AND parent_attempt = 1 AND status = "
          "'COMPLETED' AND tenant_id = 'acme' AND queue = 'billing' AND child_depth = 1") == 1);
  // One step attempt of the parent for the child, completed.
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE run_id = " + std::to_string(r.id.value) +
                   " AND status = 'completed'") == 3);
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE run_id = " + std::to_string(r.id.value) +
                   " AND step_path = 'billing' AND attempt = 1 AND status = 'completed'") == 1);
  check_gap_free(r.id.value);
  auto h = n->run_history("acme", r.id.value);
  BOOST_REQUIRE(h);
  std::vector<std::string> types;
  for (const auto& e : *h) {
    types.push_back(e.type);
  }
  BOOST_TEST(
    (types == std::vector<std::string>{"run_started", "step_scheduled", "step_completed",
                                       "step_scheduled", "child_started", "step_completed",
                                       "step_scheduled", "step_completed", "run_completed"}));
  expect_replayable_and_clean("acme", r.id.value);
}

BOOST_AUTO_TEST_CASE(a_tenant_at_limit_one_runs_parents_and_their_children) {
  BOOST_REQUIRE(n->put_tenant("acme", R"({"max_concurrent_runs": 1})"));
  put("billing", R"({"name":"billing","root":{"sequence":[
    {"id":"charge","activity":"echo","input":{"$ref":"/input"}}]}})");
  put("orders", parent_pipeline);
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto started = n->start_run("acme", "orders", "{\"i\": " + std::to_string(i) + "}");
    BOOST_REQUIRE_MESSAGE(started, (started ? "" : describe(started.error())));
    ids.push_back(started->run.id.value);
  }
  // The parents wait for their children without a permit: no deadlock.
  for (auto id : ids) {
    auto done = n->wait_for_run("acme", id, 30s, false);
    BOOST_REQUIRE_MESSAGE(done, (done ? "" : describe(done.error())));
    BOOST_TEST(done->status == run_status::completed);
  }
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE parent_run_id > 0 AND status = 'COMPLETED'") ==
             3);
  auto checked = n->check(tenant_scope::all_tenants());
  BOOST_REQUIRE(checked);
  for (const auto& f : checked->findings) {
    BOOST_TEST_MESSAGE(f.message);
  }
  BOOST_TEST(checked->findings.empty());
}

BOOST_AUTO_TEST_CASE(a_failed_child_is_the_parent_steps_failed_attempt_and_a_retry_starts_another) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  activities->add("declines_once", [calls](const boost::json::value&, const activity_context&) {
    if (calls->fetch_add(1) == 0) {
      return activity_outcome::failure("Declined", "card declined", false);
    }
    return activity_outcome::success(boost::json::value("charged"));
  });
  put("billing", R"({"name":"billing","root":{"sequence":[
    {"id":"charge","activity":"declines_once"}]}})");
  put("orders", parent_pipeline);
  auto r = run_to_end("orders", R"({"id": 1})");
  BOOST_TEST(r.status == run_status::completed);
  BOOST_TEST(r.output == R"({"paid":"charged"})");
  // (Attempts started in the same millisecond have no order in the ledger.)
  auto attempt = [&](const std::string& step, int attempt_no) {
    return text("SELECT status FROM run_steps WHERE run_id = " + std::to_string(r.id.value) +
                " AND step_path = '" + step + "' AND attempt = " + std::to_string(attempt_no));
  };
  BOOST_TEST(attempt("billing", 1) == "failed");
  BOOST_TEST(attempt("billing", 2) == "completed");
  BOOST_TEST(attempt("ship", 1) == "completed");
  BOOST_TEST(count("SELECT count(*) FROM run_steps WHERE run_id = " + std::to_string(r.id.value)) ==
             4);
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE parent_run_id = " + std::to_string(r.id.value) +
                   " AND status = 'FAILED' AND parent_attempt = 1") == 1);
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE parent_run_id = " + std::to_string(r.id.value) +
                   " AND status = 'COMPLETED' AND parent_attempt = 2") == 1);
  BOOST_TEST(text("SELECT error_type FROM run_steps WHERE run_id = " + std::to_string(r.id.value) +
                  " AND step_path = 'billing' AND attempt = 1") == "Declined");
  BOOST_TEST(n->replay("acme", r.id.value)->deterministic);
}

BOOST_AUTO_TEST_CASE(a_child_in_a_branch_ends_while_another_branch_holds_the_lease) {
  put("billing", R"({"name":"billing","root":{"sequence":[
    {"id":"charge","activity":"echo","input":{"charged":{"$ref":"/input/order"}}}]}})");
  put("orders", R"({"name":"order","root":{"sequence":[
    {"id":"both","parallel":[
      {"id":"pack","activity":"sleep","input":{"ms":400}},
      {"id":"billing","child":{"queue":"billing"},"input":{"order":{"$ref":"/input/id"}}}]},
    {"id":"ship","activity":"echo","input":{"$ref":"/steps/both/output"}}]}})");
  auto r = run_to_end("orders", R"({"id": 9})");
  BOOST_TEST(r.status == run_status::completed);
  BOOST_TEST(r.output == R"([null,{"charged":9}])");
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE parent_run_id = " + std::to_string(r.id.value) +
                   " AND parent_node_path = 'both/1/billing' AND status = 'COMPLETED'") == 1);
  check_gap_free(r.id.value);
  expect_replayable_and_clean("acme", r.id.value);
}

BOOST_AUTO_TEST_CASE(a_concurrent_loop_of_children_runs_at_tenant_limit_one) {
  BOOST_REQUIRE(n->put_tenant("acme", R"({"max_concurrent_runs": 1})"));
  put("billing", R"({"name":"billing","root":{"sequence":[
    {"id":"charge","activity":"echo","input":{"charged":{"$ref":"/input/order"}}}]}})");
  put("orders", R"({"name":"order","root":{"sequence":[
    {"id":"bills","for_each":{"$ref":"/input/orders"},"concurrency":3,
     "do":{"id":"bill","child":{"queue":"billing"},"input":{"order":{"$ref":"/item"}}}},
    {"id":"total","activity":"echo","input":{"$ref":"/steps/bills/output"}}]}})");
  auto r = run_to_end("orders", R"({"orders": [1, 2, 3, 4, 5]})");
  BOOST_TEST(r.status == run_status::completed);
  BOOST_TEST(r.output == R"([{"charged":1},{"charged":2},{"charged":3},{"charged":4},)"
                         R"({"charged":5}])");
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE parent_run_id = " + std::to_string(r.id.value) +
                   " AND status = 'COMPLETED'") == 5);
  check_gap_free(r.id.value);
  expect_replayable_and_clean("acme", r.id.value);
}

BOOST_AUTO_TEST_CASE(canceling_a_parent_cancels_its_children) {
  put("billing", R"({"name":"billing","root":{"sequence":[
    {"id":"approval","wait":{"event":"approved"}}]}})");
  put("orders", parent_pipeline);
  auto started = n->start_run("acme", "orders", R"({"id": 3})");
  BOOST_REQUIRE(started);
  auto parent = started->run.id.value;
  auto waiting = n->wait_for_run("acme", parent, 20s);
  BOOST_REQUIRE(waiting);
  BOOST_TEST(waiting->status == run_status::waiting);
  BOOST_TEST(to_string(waiting->wait_reason) == std::string{"child"});
  BOOST_TEST(waiting->lease_owner.empty());
  auto child = count("SELECT run_id FROM runs WHERE parent_run_id = " + std::to_string(parent));
  BOOST_REQUIRE(child > 0);
  auto child_waiting = n->wait_for_run("acme", child, 20s);
  BOOST_REQUIRE(child_waiting);
  BOOST_TEST(child_waiting->status == run_status::waiting);
  auto canceled = n->cancel_run("acme", parent, "customer left");
  BOOST_REQUIRE_MESSAGE(canceled, (canceled ? "" : describe(canceled.error())));
  auto p = n->wait_for_run("acme", parent, 20s, false);
  BOOST_REQUIRE(p);
  BOOST_TEST(p->status == run_status::canceled);
  auto c = n->wait_for_run("acme", child, 20s, false);
  BOOST_REQUIRE(c);
  BOOST_TEST(c->status == run_status::canceled);
  BOOST_TEST(c->error_message.find("parent run " + std::to_string(parent)) != std::string::npos,
             c->error_message);
  auto checked = n->check(tenant_scope::all_tenants());
  BOOST_REQUIRE(checked);
  BOOST_TEST(checked->findings.empty());
}

BOOST_AUTO_TEST_CASE(child_runs_nest_up_to_the_depth_limit) {
  auto s = exec_settings();
  s.max_child_depth = 1;
  start_executing(s);
  put("leaf", R"({"name":"leaf","root":{"sequence":[{"id":"x","activity":"noop"}]}})");
  put("mid", R"({"name":"mid","root":{"sequence":[{"id":"down","child":{"queue":"leaf"}}]}})");
  put("top", R"({"name":"top","root":{"sequence":[{"id":"down","child":{"queue":"mid"}}]}})");
  // mid (depth 1) is allowed; its own child (depth 2) is refused: mid fails,
  // and so does top's attempt.
  auto r = run_to_end("top");
  BOOST_TEST(r.status == run_status::failed);
  BOOST_TEST(r.error_type == "child_refused");
  auto mid = count("SELECT run_id FROM runs WHERE parent_run_id = " + std::to_string(r.id.value));
  BOOST_TEST(text("SELECT error_message FROM runs WHERE run_id = " + std::to_string(mid))
               .find("levels deep; the limit is 1") != std::string::npos);
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE queue = 'leaf'") == 0);
  // An unknown queue fails the attempt at once, naming it.
  put("lost", R"({"name":"lost","root":{"sequence":[{"id":"down","child":{"queue":"nowhere"}}]}})");
  auto lost = run_to_end("lost");
  BOOST_TEST(lost.status == run_status::failed);
  BOOST_TEST(lost.error_message.find("nowhere") != std::string::npos, lost.error_message);
}

BOOST_AUTO_TEST_CASE(a_schedule_fired_by_the_node_runs_to_completion) {
  put("reports", echo_chain);
  auto put_schedule =
    n->put_schedule("acme", "minutely",
                    R"({"queue":"reports","cron":"* * * * *","overlap":"allow","catch_up":"all",
        "input":{"order":7}})");
  BOOST_REQUIRE_MESSAGE(put_schedule, (put_schedule ? "" : describe(put_schedule.error())));
  BOOST_TEST(put_schedule->upcoming.size() == 5u);
  // As if the node had been down for three minutes: three fire times are
  // due, and catch_up all runs each.
  exec("UPDATE schedules SET next_fire_ms = next_fire_ms - 180000");
  auto fired = n->fire_schedules(); // the periodic round may have fired them first
  BOOST_REQUIRE_MESSAGE(fired, (fired ? "" : describe(fired.error())));
  std::vector<int64_t> runs;
  for (int i = 0; i < 200 && runs.size() < 3; ++i) {
    runs.clear();
    auto listed = n->list_runs("acme", caf::none, 0, 100);
    BOOST_REQUIRE(listed);
    for (const auto& r : *listed) {
      if (r.idempotency_key.rfind("schedule:minutely:", 0) == 0) {
        runs.push_back(r.id.value);
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  BOOST_REQUIRE(runs.size() == 3u);
  for (auto id : runs) {
    auto done = n->wait_for_run("acme", id, 20s);
    BOOST_REQUIRE(done);
    BOOST_TEST(done->status == run_status::completed);
    BOOST_TEST(done->output == R"({"prev":{"order":7}})");
  }
  // Nothing more is due; the schedule counts what it started.
  auto again = n->fire_schedules();
  BOOST_REQUIRE(again);
  BOOST_TEST(*again == 0);
  auto got = n->get_schedule("acme", "minutely");
  BOOST_REQUIRE(got);
  BOOST_TEST(got->schedule.runs_started == 3);
  BOOST_TEST(got->schedule.last_run == runs.back());
  BOOST_TEST(count("SELECT count(*) FROM runs") == 3);
}

BOOST_AUTO_TEST_SUITE_END()
