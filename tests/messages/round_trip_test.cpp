// Every serializable message type survives CAF's binary serialization.

#include "messages/errors.hpp"
#include "messages/interfaces.hpp"
#include "messages/registration.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deep_to_string.hpp>

using namespace flowgate;

namespace {

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;

  static caf::actor_system_config& prepared(caf::actor_system_config& c) {
    register_types(c);
    return c;
  }

  fixture() : sys(prepared(cfg)) {}

  template <class T> T round_trip(const T& x) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto copy = x;
    if (auto err = sink(copy)) {
      BOOST_FAIL("serialize: " << sys.render(err));
    }
    T out{};
    caf::binary_deserializer source{sys, buf};
    if (auto err = source(out)) {
      BOOST_FAIL("deserialize: " << sys.render(err));
    }
    return out;
  }

  template <class T> void check(const T& x) {
    auto y = round_trip(x);
    BOOST_TEST(caf::deep_to_string(x) == caf::deep_to_string(y));
    // The message type is registered under a name: the network can carry it.
    BOOST_TEST(sys.types().portable_name(caf::make_rtti_pair<T>()) != "");
  }
};

tenant_record sample_tenant() {
  return tenant_record{tenant_id{"acme"}, "Acme", "pro", R"({"tier":"pro"})", 1, 2};
}

config_document sample_document() {
  return config_document{tenant_id{"acme"},
                         queue_name{"orders"},
                         config_version{"3"},
                         "sha256:ab",
                         "orders",
                         "{}",
                         42,
                         true};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(round_trip, fixture)

BOOST_AUTO_TEST_CASE(ids_round_trip) {
  check(tenant_id{"acme"});
  check(queue_name{"orders"});
  check(config_version{"1.2"});
  check(run_id{int64_t{9'000'000'000}});
  check(node_id{"node-a"});
  BOOST_TEST(round_trip(run_id{int64_t{77}}).value == 77);
}

BOOST_AUTO_TEST_CASE(records_round_trip) {
  check(sample_tenant());
  check(std::vector<tenant_record>{sample_tenant(), sample_tenant()});
  check(sample_document());
  check(
    config_summary{tenant_id{"a"}, queue_name{"q"}, config_version{"1"}, "sha256:x", "p", 5, true});
  check(std::vector<config_summary>{
    config_summary{tenant_id{"a"}, queue_name{"q"}, config_version{"1"}, "c", "p", 5, false}});
  check(config_stored{tenant_id{"a"}, queue_name{"q"}, config_version{"1"}, "c", true});
  check(
    config_activated{tenant_id{"a"}, queue_name{"q"}, config_version{"2"}, config_version{"1"}});
  check(step_reservation{true, false, 3, 10, 100, 200});
  check(schema_info{"x.db", 1, 1, "wal", "full", 1, 2, 3});
  check(writer_stats{1, 2, 3, 4, 5, 6, 7, false, 8, 9, 10, 11, histogram{{1, 2}, 1},
                     latency_histogram()});
  histogram h{{1, 10}, 1000};
  h.observe(0);
  h.observe(1);
  h.observe(11);
  BOOST_TEST((h.counts == std::vector<uint64_t>{2, 0, 1}));
  BOOST_TEST(h.sum == 12);
  check(h);
  auto doc = round_trip(sample_document());
  BOOST_TEST(doc.checksum == "sha256:ab");
  BOOST_TEST(doc.active);
}

BOOST_AUTO_TEST_CASE(operations_round_trip) {
  check(store_tenant{sample_tenant(), 7});
  check(seed_tenants{{sample_tenant()}, 7});
  check(store_config{sample_document()});
  check(activate_config{tenant_id{"a"}, queue_name{"q"}, config_version{"1"}, 9});
  check(reserve_step{tenant_id{"a"}, run_id{int64_t{1}}, "items[2].reserve", 3, 10, 20, 5, 11});
  check(find_tenant{tenant_id{"a"}});
  check(list_tenants{5});
  check(find_config{tenant_id{"a"}, queue_name{"q"}, config_version{"1"}});
  check(find_runnable_version{tenant_id{"a"}, queue_name{"q"}, config_version{"1"}});
  check(list_configs{tenant_id{"a"}, queue_name{"q"}});
  check(read_schema_info{});
  auto op = round_trip(reserve_step{tenant_id{"a"}, run_id{int64_t{1}}, "s", 3, 10, 20, -1, 11});
  BOOST_TEST(op.step_path == "s");
  BOOST_TEST(op.limit == -1);
}

BOOST_AUTO_TEST_CASE(run_messages_round_trip) {
  run_record r;
  r.id = run_id{int64_t{42}};
  r.tenant = tenant_id{"acme"};
  r.queue = queue_name{"orders"};
  r.config_tenant = tenant_id{"default"};
  r.version = config_version{"3"};
  r.checksum = "sha256:ab";
  r.status = run_status::waiting;
  r.wait_reason = flowgate::wait_reason::event;
  r.node_path = "items/2/reserve";
  r.input = R"({"a":1})";
  r.output = "null";
  r.error_type = "Busy";
  r.error_message = "busy";
  r.idempotency_key = "k-1";
  r.next_seq = 9;
  r.wake_at_ms = 100;
  r.lease_owner = "n1";
  r.lease_expires_at_ms = 200;
  r.lease_incarnation = 6;
  r.epoch = 4;
  r.created_at_ms = 1;
  r.updated_at_ms = 2;
  r.started_at_ms = 3;
  r.finished_at_ms = 4;
  check(r);
  BOOST_TEST(round_trip(r).node_path == "items/2/reserve");
  history_record h{5, "step_completed", "a", 2, R"({"x":1})", 77};
  check(h);
  check(step_change{"a", 2, step_status::failed, "Busy", "busy"});
  run_change c;
  c.status = run_status::waiting;
  c.wait_reason = flowgate::wait_reason::timer;
  c.wake_at_ms = 5;
  c.release_lease = true;
  c.open_wait = flowgate::wait_reason::timer;
  check(c);
  check(run_lease{run_id{int64_t{1}}, 3});
  check(run_created{r, false, rejection_reason::soft_limit, "tenant 'a' has 21 active runs", 30000,
                    "", ""});
  check(tenant_config_text{tenant_id{"a"}, R"({"settings":{"region":"eu"}})"});
  check(run_created{r, true, rejection_reason::none, "", 30000, "n2", R"({"weight":2})"});
  check(admission_wait{true, false});
  check(limiter_stats{tenant_id{"a"}, 2, 3, 4, 5, 6});
  check(peer_link{node_id{"n2"}, "127.0.0.1:4000", "connected", 5, ""});
  check(std::vector<peer_link>{peer_link{node_id{"n3"}, "", "unreachable", 6, "no address"}});
  check(tenant_stats{tenant_id{"a"}, 1, 2, 3, 4, "reject", 5, 6, 7, 8, 9, 10});
  check(read_tenant_stats{tenant_id{"a"}, 10, 2});
  subscription_record sub{tenant_id{"a"}, "sub_1", "active", 1, 2, R"({"x":"1"})", "{}", 3};
  check(sub);
  check(store_subscription{sub, 4});
  check(list_subscriptions{tenant_id{"a"}});
  schedule_record sched{tenant_id{"a"},
                        "nightly",
                        R"({"cron":"@daily","queue":"q"})",
                        true,
                        2,
                        3,
                        4,
                        5,
                        6,
                        7,
                        8,
                        "started run 6",
                        9,
                        10};
  check(sched);
  check(std::vector<schedule_record>{sched});
  check(store_schedule{sched, 11});
  check(delete_schedule{tenant_id{"a"}, "nightly"});
  check(pause_schedule{tenant_id{"a"}, "nightly", false, 12});
  check(fire_schedule{tenant_id{"a"}, "nightly", 2, "1", "sha256:ab", "no queue", 4, 13});
  check(schedule_fired{false, {6, 7}, 1, sched});
  check(list_schedules{tenant_id{"a"}, "nightly"});
  check(due_schedules{14, 50});
  check(find_usage{tenant_id{"a"}, 1, 2});
  quota_terms terms{tenant_id{"a"}, 1, 2, 3, "pro", "calendar month", "tier default", {"w"}};
  check(terms);
  quota_exhausted ex{tenant_id{"a"}, run_id{int64_t{1}}, "items/0/x", 3, 3, 1, 2};
  check(ex);
  check(history_appended{10, {h}, true, ex, true});
  check(resume_quota_waits{terms, 100, 5});
  check(resume_run{run_id{int64_t{1}}, terms, 5});
  check(resume_outcome{false, ex});
  check(list_quota_tenants{10});
  check(reconcile_usage{tenant_id{"a"}, 1, 2});
  check(usage_reconciliation{tenant_id{"a"}, 1, 2, 5, 4, 1, true});
  check(accountant_stats{1, 2, 3, 4, 5, 6});
  check(reserve_steps{{reserve_step{tenant_id{"a"}, run_id{int64_t{1}}, "x", 1, 1, 2, 3, 4}}, 5});
  check(signal_accepted{run_id{int64_t{1}}, 7, run_status::running, "node-b"});
  check(cancel_outcome{r, false});
  check(create_run{r,
                   node_id{"n1"},
                   3,
                   9,
                   8,
                   {history_record{2, "step_scheduled", "a", 1, "{}", 8}},
                   {step_change{"a", 1, step_status::started, "", ""}},
                   10,
                   terms,
                   7,
                   "billing",
                   2,
                   8,
                   400,
                   3});
  check(
    claim_runs{node_id{"n1"}, 2, 1, 2, 3, 10, {tenant_id{"a"}}, tenant_id{"b"}, 400, 6, {terms}});
  check(runs_claimed{{r},
                     tenant_id{"b"},
                     {tenant_id{"c"}, tenant_id{"d"}},
                     1,
                     {tenant_id{"e"}},
                     {tenant_config_text{tenant_id{"a"}, R"({"max_concurrent_runs":2})"}},
                     {run_id{int64_t{4}}},
                     {ex}});
  check(renew_leases{node_id{"n1"}, 2, {run_lease{run_id{int64_t{1}}, 3}}, 4, 5, 10});
  check(release_leases{node_id{"n1"}, 2, {}, 4});
  check(register_node{node_id{"n1"}, "host-a", 42, "127.0.0.1:4000", 2000, 7, 41});
  check(stop_node{node_id{"n1"}, 2, 8});
  check(node_record{
    node_id{"n1"}, 2, "host-a", 42, "", 2000, 5, 6, 0, true, 3, "", 0, "", {"acme", "beta"}, {}});
  check(node_record{node_id{"n2"},
                    2,
                    "h",
                    4,
                    "127.0.0.1:1",
                    2000,
                    5,
                    6,
                    0,
                    true,
                    3,
                    "unreachable",
                    7,
                    "connection refused",
                    {},
                    {"acme", "gamma"}});
  check(std::vector<node_record>{node_record{}});
  check(list_nodes{9});
  check(tenant_scope{"acme"});
  auto all = tenant_scope::all_tenants();
  check(put_tenant_request{"acme", "{}"});
  check(get_tenant_request{"acme"});
  check(list_tenants_request{all});
  check(tenant_stats_request{all});
  check(put_config_request{"acme", "q", "1", "{}"});
  check(get_config_request{"acme", "q", ""});
  check(activate_config_request{"acme", "q", "1"});
  check(list_configs_request{"acme", "q"});
  check(db_info_request{all});
  check(start_run_request{"acme", "q", R"({"x":1})", "1", "key-1"});
  check(signal_run_request{"acme", 4, "go", "null"});
  check(cancel_run_request{"acme", 4, "stop"});
  check(poke_run_request{"acme", 4});
  cluster_news news{{"acme", "b"}, {admitted_run{run_id{4}, tenant_id{"acme"}}}, true};
  check(news);
  check(cluster_news_request{all, news});
  check(peer_hello_request{all, "n1", "127.0.0.1:4000", caf::actor{}});
  check(get_run_request{"acme", 4});
  check(list_runs_request{all, run_status::running, 3, 50});
  check(list_runs_request{all, caf::none, 3, 50});
  check(run_history_request{"acme", 4});
  check(run_attempts_request{"acme", 4});
  check(wait_run_request{"acme", 4, 1000, false});
  check(replay_run_request{"acme", 4});
  check(put_subscription_request{"acme", "{}"});
  check(list_subscriptions_request{"acme"});
  schedule_view view{
    schedule_record{tenant_id{"acme"}, "s", "{}", false, 1, 2, 0, 0, 0, 0, 0, "", 3, 4}, {2, 5}};
  check(view);
  check(std::vector<schedule_view>{view});
  check(put_schedule_request{"acme", "s", "{}"});
  check(get_schedule_request{"acme", "s"});
  check(list_schedules_request{"acme"});
  check(delete_schedule_request{"acme", "s"});
  check(pause_schedule_request{"acme", "s", true});
  check(quota_summary_request{"acme"});
  check(resume_run_request{"acme", 4});
  check(reconcile_quota_request{"acme", 7});
  check(scan_quota_request{all});
  check(list_nodes_request{all});
  check(replay_report{4, "acme", run_status::completed, 9, false, "completed", "event 3 differs"});
  check(quota_summary{"acme", "pro",
                      billing_period{1, 2, "calendar month", 750, "tier default", {"w"}}, 3, 747});
  check(config_view{"acme", "q", "1", "sha256:ab", "p", 2, "{}"});
  check(tenant_scope::all_tenants());
  append_history a;
  a.run = run_id{int64_t{1}};
  a.tenant = tenant_id{"acme"};
  a.owner = node_id{"n1"};
  a.incarnation = 4;
  a.epoch = 2;
  a.expected_seq = 5;
  a.events = {h};
  a.steps = {step_change{"a", 1, step_status::started, "", ""}};
  a.change = c;
  a.resolve_waits = true;
  a.now_ms = 6;
  a.quota = terms;
  check(a);
  check(signal_run{tenant_id{"acme"}, run_id{int64_t{1}}, "approved", R"({"by":"ann"})", 3});
  check(cancel_run{tenant_id{"acme"}, run_id{int64_t{1}}, "stop", 3});
  check(find_run{tenant_id{"acme"}, run_id{int64_t{1}}});
  check(find_runs{tenant_id{"acme"}, {run_id{int64_t{1}}, run_id{int64_t{7}}}});
  check(list_runs{tenant_id{"acme"}, run_status::running, 10, 50});
  check(list_runs{tenant_id{"acme"}, caf::none, 10, 50});
  check(load_history{run_id{int64_t{1}}, 4});
  check(load_attempts{run_id{int64_t{7}}});
  check(std::vector<attempt_record>{
    attempt_record{"a/b", 2, "failed", 10, 20, "n1", 3, 11, 12, "activity_error", "boom"},
    attempt_record{}});
  check(activity_request{tenant_id{"acme"}, run_id{int64_t{1}}, "a", 2, "echo", "[1]", "{}", 100});
  check(activity_result{false, "null", "Busy", "busy", true});
  check(pool_stats{8, 2, 3, 4, 5, 6, {activity_series{"echo", latency_histogram(), 2}}});
  check(run_finished{run_id{int64_t{1}}, tenant_id{"acme"}, done_reason::handed_back});
  check(dispatcher_stats{1,
                         2,
                         3,
                         4,
                         5,
                         true,
                         true,
                         6,
                         7,
                         8,
                         10,
                         9,
                         {1, 0, 0, 0, 0, 2, 0},
                         {pipeline_series{"acme", "q", "1", 3, {1, 0, 0, 2, 0, 0, 0}}}});
}

BOOST_AUTO_TEST_CASE(keys_and_remote_access_round_trip) {
  api_key_record k{"0123456789abcdef", "acme", "ci", "ab12", 5, 0};
  check(k);
  check(std::vector<api_key_record>{k, api_key_record{"fedcba9876543210", "", "ops", "", 6, 7}});
  check(store_api_key{k, 8});
  check(revoke_api_key{"0123456789abcdef", 9});
  check(find_api_key{"0123456789abcdef"});
  check(list_api_keys{true, ""});
  check(key_created{k, "fgk_0123456789abcdef_00"});
  auto all = tenant_scope::all_tenants();
  check(create_key_request{all, "acme", false, "ci"});
  check(list_keys_request{all, "acme"});
  check(revoke_key_request{all, "0123456789abcdef"});
  check(publish_node{node_id{"n1"}, 3, "127.0.0.1:4242"});
  tenant_scope keyed{"acme"};
  keyed.key = "fgk_x";
  BOOST_TEST(round_trip(keyed).key == "fgk_x");
  BOOST_TEST(round_trip(get_run_request{keyed, 4}).scope.key == "fgk_x");
}

BOOST_AUTO_TEST_CASE(errors_round_trip_with_their_sentence) {
  auto err = make_error(errc::version_conflict, "tenant 'a' queue 'q' version '1' differs");
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  BOOST_REQUIRE(!sink(err));
  caf::error out;
  caf::binary_deserializer source{sys, buf};
  BOOST_REQUIRE(!source(out));
  BOOST_TEST(code_of(out) == errc::version_conflict);
  BOOST_TEST(describe(out) == "tenant 'a' queue 'q' version '1' differs");
  BOOST_TEST(sys.render(out).find("version_conflict") != std::string::npos);
  BOOST_TEST(is_retriable(make_error(errc::store_busy)));
  BOOST_TEST(!is_retriable(make_error(errc::invalid_config)));
}

// Every value of every run enum survives the wire and its stored text;
// a value no enum names is recognisable as such.
template <class E, size_t N> void check_enum(fixture& f, const std::array<const char*, N>& names) {
  for (size_t i = 0; i < N; ++i) {
    auto x = static_cast<E>(i);
    BOOST_TEST(is_valid(x));
    BOOST_TEST((f.round_trip(x) == x));
    BOOST_TEST(std::string{to_string(x)} == names[i]);
    auto parsed = from_string<E>(names[i]);
    BOOST_TEST((parsed && *parsed == x));
  }
  BOOST_TEST(!is_valid(static_cast<E>(N)));
  BOOST_TEST(std::string{to_string(static_cast<E>(N))} == "unknown");
  BOOST_TEST(!from_string<E>("no such value"));
}

BOOST_FIXTURE_TEST_CASE(run_enums_round_trip, fixture) {
  check_enum<run_status>(*this, std::array<const char*, 6>{"PENDING", "RUNNING", "WAITING",
                                                           "COMPLETED", "FAILED", "CANCELED"});
  check_enum<wait_reason>(*this, std::array<const char*, 8>{"", "event", "timer", "retry",
                                                            "nondeterminism", "quota", "resumed",
                                                            "child"});
  check_enum<step_status>(
    *this, std::array<const char*, 5>{"started", "completed", "failed", "cut_off", "canceled"});
  check_enum<rejection_reason>(
    *this, std::array<const char*, 4>{"", "tenant_at_limit", "soft_limit", "hard_limit"});
  check_enum<done_reason>(*this,
                          std::array<const char*, 7>{"completed", "failed", "canceled", "waiting",
                                                     "handed_back", "lost", "abandoned"});
  // Lower case is not the stored text of a run status.
  BOOST_TEST(!from_string<run_status>("completed"));
  // What users type is taken in any case, and nothing else.
  BOOST_TEST((run_status_from_any_case("completed") == run_status::completed));
  BOOST_TEST((run_status_from_any_case("Waiting") == run_status::waiting));
  BOOST_TEST(!run_status_from_any_case("done"));
  BOOST_TEST(!run_status_from_any_case(""));
  BOOST_TEST(!run_status_from_any_case("completedcompletedcompleted"));
  // Records print the text, not the number.
  run_record r;
  r.status = run_status::waiting;
  r.wait_reason = wait_reason::quota;
  auto printed = caf::deep_to_string(r);
  BOOST_TEST(printed.find("WAITING") != std::string::npos);
  BOOST_TEST(printed.find("quota") != std::string::npos);
  BOOST_TEST(done_reason_of(run_status::running) == done_reason::handed_back);
  BOOST_TEST(done_reason_of(run_status::failed) == done_reason::failed);
  BOOST_TEST(is_terminal(run_status::canceled));
  BOOST_TEST(!is_terminal(run_status::waiting));
}

BOOST_AUTO_TEST_SUITE_END()
