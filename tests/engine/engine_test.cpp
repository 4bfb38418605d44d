#include "engine/engine.hpp"

#include "tests/engine/parse_pipeline.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
#include <random>
#include <set>

namespace json = boost::json;
using namespace flowgate;
using namespace flowgate::engine;

namespace {

using testing::parse;

/// What a scripted activity answers: an output, or a failure.
struct answer {
  bool ok = true;
  json::value output;
  std::string type;
  bool retryable = true;
  bool cut_off = false;
  /// A child start refused before the child run existed (no child_started).
  bool refused = false;
};

answer ok(json::value v = nullptr) {
  return answer{true, std::move(v), "", true, false, false};
}
answer failure(std::string type, bool retryable = true) {
  return answer{false, nullptr, std::move(type), retryable, false, false};
}

/// A deterministic test driver: records each command, runs scripted
/// activities, fires timers, and answers waits through `on_wait`.
struct simulation {
  simulation(pipeline p, json::value in) : definition(std::move(p)), input(std::move(in)) {}

  pipeline definition;
  json::value input;
  std::function<answer(const command&)> activity = [](const command&) { return ok(); };
  /// What a child run ends with (`child` nodes).
  std::function<answer(const command&)> child = [](const command&) { return ok(); };
  /// Called when the run awaits an event; appends signals or a timeout to
  /// `h` (returning false leaves the run waiting).
  std::function<bool(simulation&, const decision&)> on_wait = [](simulation&, const decision&) {
    return false;
  };
  std::vector<event> h;
  int64_t now = 1'000;
  std::vector<command> commands;

  void append(event e) {
    e.seq = static_cast<int64_t>(h.size()) + 1;
    h.push_back(std::move(e));
  }

  void signal(const std::string& name, json::value payload) {
    event e;
    e.type = event_type::signal_received;
    e.payload = json::object{{"event", name}, {"payload", std::move(payload)}};
    append(std::move(e));
  }

  decision run(size_t max_rounds = 1000) {
    if (h.empty()) {
      event start;
      start.type = event_type::run_started;
      start.payload = input;
      append(std::move(start));
    }
    for (size_t round = 0; round < max_rounds; ++round) {
      auto d = decide(definition, input, h);
      switch (d.state) {
      case run_state::ready: {
        commands.push_back(*d.next);
        append(record(*d.next, 0, now));
        if (d.next->kind == command_kind::schedule_activity ||
            d.next->kind == command_kind::start_child) {
          bool child_node = d.next->kind == command_kind::start_child;
          auto a = child_node ? child(*d.next) : activity(*d.next);
          if (child_node && !a.refused && !a.cut_off) {
            event started;
            started.type = event_type::child_started;
            started.node_path = d.next->node_path;
            started.attempt = d.next->attempt;
            started.payload = json::object{{"run", 100 + static_cast<int64_t>(h.size())}};
            append(std::move(started));
          }
          event e;
          e.node_path = d.next->node_path;
          e.attempt = d.next->attempt;
          if (a.ok) {
            e.type = event_type::step_completed;
            e.payload = a.output;
          } else {
            e.type = a.cut_off ? event_type::step_cut_off : event_type::step_failed;
            e.payload =
              json::object{{"type", a.type}, {"message", "scripted"}, {"retryable", a.retryable}};
          }
          append(std::move(e));
        }
        break;
      }
      case run_state::awaiting_timer: {
        BOOST_TEST(d.wake_at_ms >= now);
        now = d.wake_at_ms;
        event e;
        e.type = event_type::timer_fired;
        e.node_path = d.node_path;
        e.attempt = d.attempt;
        append(std::move(e));
        break;
      }
      case run_state::awaiting_event:
        if (!on_wait(*this, d)) {
          return d;
        }
        break;
      default:
        return d;
      }
    }
    BOOST_FAIL("run did not settle");
    return {};
  }

  /// Replaying every prefix that ends before a decision reproduces it.
  void check_replay() const {
    for (size_t k = 1; k < h.size(); ++k) {
      if (!is_decision(h[k].type)) {
        continue;
      }
      std::vector<event> prefix{h.begin(), h.begin() + static_cast<ptrdiff_t>(k)};
      auto d = decide(definition, input, prefix);
      BOOST_TEST_REQUIRE((d.state == run_state::ready),
                         "prefix " << k << ": " << to_string(d.state));
      auto again = record(*d.next, h[k].seq, 0);
      BOOST_TEST(to_string(again.type) == to_string(h[k].type));
      BOOST_TEST(again.node_path == h[k].node_path);
      BOOST_TEST(again.attempt == h[k].attempt);
      if (again.type == event_type::step_scheduled || again.type == event_type::run_completed) {
        BOOST_TEST(json::serialize(again.payload) == json::serialize(h[k].payload));
      }
    }
    auto whole = decide(definition, input, h);
    BOOST_TEST(whole.consumed == h.size());
  }
};

std::vector<std::string> paths_of(const std::vector<command>& cmds, command_kind kind) {
  std::vector<std::string> out;
  for (const auto& c : cmds) {
    if (c.kind == kind) {
      out.push_back(c.node_path + "#" + std::to_string(c.attempt));
    }
  }
  return out;
}

const char* two_steps = R"({"name":"p","root":{"sequence":[
  {"id":"a","activity":"echo","input":{"x":{"$ref":"/input/x"}}},
  {"id":"b","activity":"echo","input":{"prev":{"$ref":"/steps/a/output"}}}]}})";

} // namespace

BOOST_AUTO_TEST_SUITE(engine)

BOOST_AUTO_TEST_CASE(sequence_runs_children_in_order_and_outputs_the_last) {
  simulation s{parse(two_steps), json::parse(R"({"x":7})")};
  s.activity = [](const command& c) { return ok(c.input); };
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "completed");
  BOOST_TEST(json::serialize(d.output) == R"({"prev":{"x":7}})");
  BOOST_TEST((paths_of(s.commands, command_kind::schedule_activity) ==
              std::vector<std::string>{"a#1", "b#1"}));
  for (size_t i = 0; i < s.h.size(); ++i) {
    BOOST_TEST(s.h[i].seq == static_cast<int64_t>(i + 1));
  }
  BOOST_TEST(to_string(s.h.back().type) == "run_completed");
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(retries_with_backoff_from_the_policy) {
  simulation s{parse(R"({"name":"p","root":{"sequence":[{"id":"a","activity":"flaky",
    "retry":{"max_attempts":4,"initial_interval_ms":100,"backoff_coefficient":3.0,
             "max_interval_ms":500}}]}})"),
               nullptr};
  s.activity = [](const command& c) { return c.attempt < 4 ? failure("Busy") : ok(42); };
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "completed");
  BOOST_TEST(d.output.as_int64() == 42);
  BOOST_TEST((paths_of(s.commands, command_kind::schedule_activity) ==
              std::vector<std::string>{"a#1", "a#2", "a#3", "a#4"}));
  std::vector<int64_t> delays;
  for (const auto& c : s.commands) {
    if (c.kind == command_kind::start_timer) {
      delays.push_back(c.delay_ms);
    }
  }
  BOOST_TEST((delays == std::vector<int64_t>{100, 300, 500}));
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(non_retryable_types_fail_the_run_at_once) {
  simulation s{parse(R"({"name":"p","root":{"sequence":[{"id":"a","activity":"x",
    "retry":{"max_attempts":5,"non_retryable":["Invalid"]}}]}})"),
               nullptr};
  s.activity = [](const command&) { return failure("Invalid"); };
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "failed");
  BOOST_TEST(d.error_type == "Invalid");
  BOOST_TEST(paths_of(s.commands, command_kind::schedule_activity).size() == 1u);
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(an_error_flagged_not_retryable_is_not_retried) {
  simulation s{parse(R"({"name":"p","root":{"sequence":[{"id":"a","activity":"x",
    "retry":{"max_attempts":5}}]}})"),
               nullptr};
  s.activity = [](const command&) { return failure("Fatal", false); };
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "failed");
  BOOST_TEST(paths_of(s.commands, command_kind::schedule_activity).size() == 1u);
}

BOOST_AUTO_TEST_CASE(exhausted_attempts_fail_the_run_with_the_last_error) {
  simulation s{parse(R"({"name":"p","root":{"sequence":[{"id":"a","activity":"x",
    "retry":{"max_attempts":2,"initial_interval_ms":10}}]}})"),
               nullptr};
  s.activity = [](const command&) { return failure("Busy"); };
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "failed");
  BOOST_TEST(d.error_type == "Busy");
  BOOST_TEST(d.error_message.find("attempt 2") != std::string::npos);
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(a_cut_off_attempt_is_retried_under_the_policy) {
  simulation s{parse(R"({"name":"p","root":{"sequence":[{"id":"a","activity":"x",
    "retry":{"max_attempts":2,"initial_interval_ms":10}}]}})"),
               nullptr};
  s.activity = [](const command& c) {
    if (c.attempt == 1) {
      answer a = failure("cut_off");
      a.cut_off = true;
      return a;
    }
    return ok("second");
  };
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "completed");
  BOOST_TEST(to_string(s.h[2].type) == "step_cut_off");
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(for_each_runs_each_item_as_its_own_attempt_in_order) {
  simulation s{parse(R"({"name":"p","root":{"sequence":[
    {"id":"list","activity":"x"},
    {"id":"items","for_each":{"$ref":"/steps/list/output/items"},
     "do":{"id":"reserve","activity":"y","input":{"sku":{"$ref":"/item/sku"},"n":{"$ref":"/index"}}}}]}})"),
               nullptr};
  s.activity = [](const command& c) {
    if (c.node_path == "list") {
      return ok(json::parse(R"({"items":[{"sku":"a"},{"sku":"b"},{"sku":"c"}]})"));
    }
    return ok(c.input);
  };
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "completed");
  BOOST_TEST((paths_of(s.commands, command_kind::schedule_activity) ==
              std::vector<std::string>{"list#1", "items/0/reserve#1", "items/1/reserve#1",
                                       "items/2/reserve#1"}));
  BOOST_TEST(json::serialize(d.output) ==
             R"([{"sku":"a","n":0},{"sku":"b","n":1},{"sku":"c","n":2}])");
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(for_each_over_an_empty_array_outputs_an_empty_array) {
  simulation s{parse(R"({"name":"p","root":{"sequence":[
    {"id":"items","for_each":{"$ref":"/input/xs"},"do":{"id":"y","activity":"y"}}]}})"),
               json::parse(R"({"xs":[]})")};
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "completed");
  BOOST_TEST(json::serialize(d.output) == "[]");
}

BOOST_AUTO_TEST_CASE(for_each_over_a_non_array_fails_the_run) {
  simulation s{parse(R"({"name":"p","root":{"sequence":[
    {"id":"items","for_each":{"$ref":"/input/xs"},"do":{"id":"y","activity":"y"}}]}})"),
               json::parse(R"({"xs":{"a":1}})")};
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "failed");
  BOOST_TEST(d.error_type == "bad_reference");
  BOOST_TEST(d.error_message.find("not an array") != std::string::npos);
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(a_missing_reference_fails_the_run_naming_node_and_pointer) {
  simulation s{parse(R"({"name":"p","root":{"sequence":[
    {"id":"a","activity":"x","input":{"v":{"$ref":"/input/missing"}}}]}})"),
               json::parse("{}")};
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "failed");
  BOOST_TEST(d.error_message == "node 'a': input reference '/input/missing' has no value");
  s.check_replay();
}

const char* routed = R"({"name":"p","root":{"sequence":[
  {"id":"validate","activity":"validate"},
  {"id":"route","switch":{"$ref":"/steps/validate/output/kind"},
   "cases":{"b2b":{"id":"invoice","activity":"invoice","input":{"v":{"$ref":"/steps/validate/output"}}},
            "b2c":{"sequence":[{"id":"charge","activity":"charge"},
                               {"id":"receipt","activity":"receipt","input":{"c":{"$ref":"/steps/charge/output"}}}]},
            "7":{"id":"seven","activity":"seven"},
            "true":{"id":"yes","activity":"yes"}},
   "default":{"id":"manual","activity":"manual"}},
  {"id":"ship","activity":"ship","input":{"route":{"$ref":"/steps/route/output"}}}]}})";

/// Runs `routed` with validate answering {"kind": kind}.
simulation run_routed(json::value kind) {
  simulation s{parse(routed), nullptr};
  s.activity = [kind](const command& c) {
    if (c.node_path == "validate") {
      return ok(json::object{{"kind", kind}});
    }
    return ok(json::value(c.node_path));
  };
  return s;
}

BOOST_AUTO_TEST_CASE(a_switch_runs_the_branch_its_value_selects) {
  auto s = run_routed("b2c");
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "completed");
  // The branch's steps run under the switch's path; the next node sees the
  // branch's output as the switch's.
  BOOST_TEST(
    (paths_of(s.commands, command_kind::schedule_activity) ==
     std::vector<std::string>{"validate#1", "route/charge#1", "route/receipt#1", "ship#1"}));
  const auto& ship = s.commands[s.commands.size() - 2];
  BOOST_TEST(ship.node_path == "ship");
  BOOST_TEST(json::serialize(ship.input) == R"({"route":"route/receipt"})");
  BOOST_TEST(json::serialize(d.output) == R"("ship")");
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(a_switch_compares_numbers_and_booleans_by_their_json_text) {
  auto seven = run_routed(7);
  BOOST_TEST(to_string(seven.run().state) == "completed");
  BOOST_TEST(paths_of(seven.commands, command_kind::schedule_activity)[1] == "route/seven#1");
  auto yes = run_routed(true);
  BOOST_TEST(to_string(yes.run().state) == "completed");
  BOOST_TEST(paths_of(yes.commands, command_kind::schedule_activity)[1] == "route/yes#1");
  // The string "7" selects the same case as the number 7.
  auto text = run_routed("7");
  BOOST_TEST(to_string(text.run().state) == "completed");
  BOOST_TEST(paths_of(text.commands, command_kind::schedule_activity)[1] == "route/seven#1");
}

BOOST_AUTO_TEST_CASE(a_switch_without_a_match_takes_the_default_or_fails_naming_the_value) {
  auto other = run_routed("retail");
  BOOST_TEST(to_string(other.run().state) == "completed");
  BOOST_TEST(paths_of(other.commands, command_kind::schedule_activity)[1] == "route/manual#1");
  other.check_replay();
  simulation s{parse(R"({"name":"p","root":{"sequence":[
    {"id":"route","switch":{"$ref":"/input/kind"},"cases":{"a":{"id":"x","activity":"x"}}}]}})"),
               json::parse(R"({"kind":"zzz"})")};
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "failed");
  BOOST_TEST(d.error_type == "no_matching_case");
  BOOST_TEST(d.error_message ==
             "node 'route': no case matches the value 'zzz' at '/input/kind' and there is no "
             "default");
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(a_switch_on_a_missing_or_structured_value_fails_the_run) {
  const char* doc = R"({"name":"p","root":{"sequence":[
    {"id":"route","switch":{"$ref":"/input/kind"},"cases":{"a":{"id":"x","activity":"x"}},
     "default":{"id":"y","activity":"y"}}]}})";
  simulation missing{parse(doc), json::parse("{}")};
  auto d = missing.run();
  BOOST_TEST(to_string(d.state) == "failed");
  BOOST_TEST(d.error_type == "bad_reference");
  BOOST_TEST(d.error_message == "node 'route': switch reference '/input/kind' has no value");
  simulation structured{parse(doc), json::parse(R"({"kind":{"a":1}})")};
  d = structured.run();
  BOOST_TEST(to_string(d.state) == "failed");
  BOOST_TEST(d.error_type == "bad_reference");
  BOOST_TEST(d.error_message.find("is an object") != std::string::npos, d.error_message);
}

BOOST_AUTO_TEST_CASE(a_replay_that_would_choose_another_case_is_nondeterministic) {
  auto s = run_routed("b2b");
  BOOST_TEST(to_string(s.run().state) == "completed");
  // Same history, the cases swapped: the stored branch no longer follows.
  auto swapped = parse(R"({"name":"p","root":{"sequence":[
    {"id":"validate","activity":"validate"},
    {"id":"route","switch":{"$ref":"/steps/validate/output/kind"},
     "cases":{"b2c":{"id":"invoice","activity":"invoice"},"b2b":{"id":"charge","activity":"charge"}}},
    {"id":"ship","activity":"ship"}]}})");
  auto d = decide(swapped, s.input, s.h);
  BOOST_TEST(to_string(d.state) == "nondeterministic");
  BOOST_TEST(d.conflict.expected == "step_scheduled 'route/charge'#1");
  BOOST_TEST(d.conflict.found == "step_scheduled 'route/invoice'#1");
}

BOOST_AUTO_TEST_CASE(a_switch_inside_for_each_chooses_per_item) {
  simulation s{parse(R"({"name":"p","root":{"sequence":[
    {"id":"items","for_each":{"$ref":"/input/xs"},
     "do":{"id":"pick","switch":{"$ref":"/item/kind"},
           "cases":{"a":{"id":"on_a","activity":"a","input":{"i":{"$ref":"/index"}}}},
           "default":{"id":"other","activity":"o"}}}]}})"),
               json::parse(R"({"xs":[{"kind":"a"},{"kind":"b"},{"kind":"a"}]})")};
  s.activity = [](const command& c) { return ok(json::value(c.node_path)); };
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "completed");
  BOOST_TEST((paths_of(s.commands, command_kind::schedule_activity) ==
              std::vector<std::string>{"items/0/pick/on_a#1", "items/1/pick/other#1",
                                       "items/2/pick/on_a#1"}));
  BOOST_TEST(json::serialize(d.output) ==
             R"(["items/0/pick/on_a","items/1/pick/other","items/2/pick/on_a"])");
  s.check_replay();
}

const char* approval = R"({"name":"p","root":{"sequence":[
  {"id":"a","activity":"x"},
  {"id":"approval","wait":{"event":"approved","timeout_ms":5000,"on_timeout":"%s"}},
  {"id":"ship","activity":"ship","input":{"by":{"$ref":"/steps/approval/output/by"}}}]}})";

std::string approval_with(const char* on_timeout) {
  std::string s = approval;
  s.replace(s.find("%s"), 2, on_timeout);
  return s;
}

// -- child runs ------------------------------------------------------------------

const char* with_child = R"({"name":"p","root":{"sequence":[
  {"id":"a","activity":"echo","input":{"$ref":"/input"}},
  {"id":"billing","child":{"queue":"billing","version":"3"},
   "input":{"order":{"$ref":"/steps/a/output"}},
   "retry":{"max_attempts":3,"initial_interval_ms":10}},
  {"id":"b","activity":"echo","input":{"paid":{"$ref":"/steps/billing/output"}}}]}})";

BOOST_AUTO_TEST_CASE(a_child_node_starts_a_run_and_takes_its_output) {
  simulation s{parse(with_child), json::parse(R"({"id":7})")};
  s.activity = [](const command& c) { return ok(c.input); };
  s.child = [](const command& c) {
    BOOST_TEST(c.queue == "billing");
    BOOST_TEST(c.version == "3");
    BOOST_TEST(json::serialize(c.input) == R"({"order":{"id":7}})");
    return ok(json::parse(R"({"invoice":12})"));
  };
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "completed");
  BOOST_TEST(json::serialize(d.output) == R"({"paid":{"invoice":12}})");
  BOOST_TEST(paths_of(s.commands, command_kind::start_child) ==
             std::vector<std::string>{"billing#1"});
  // step_scheduled carries the child's queue, version and input.
  BOOST_TEST(json::serialize(s.h[3].payload) ==
             R"({"child":{"queue":"billing","version":"3"},"input":{"order":{"id":7}}})");
  BOOST_TEST(to_string(s.h[4].type) == "child_started");
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(the_run_awaits_a_started_child_and_an_unstarted_one_is_an_attempt_in_flight) {
  auto p = parse(with_child);
  simulation s{p, json::parse(R"({"id":7})")};
  s.run();
  // History up to the child's scheduling: the attempt has no outcome yet.
  std::vector<event> scheduled{s.h.begin(), s.h.begin() + 4};
  auto d = decide(p, s.input, scheduled);
  BOOST_TEST(to_string(d.state) == "awaiting_activity");
  BOOST_TEST(d.node_path == "billing");
  // Up to child_started: the run awaits the child.
  std::vector<event> started{s.h.begin(), s.h.begin() + 5};
  d = decide(p, s.input, started);
  BOOST_TEST(to_string(d.state) == "awaiting_child");
  BOOST_TEST(d.node_path == "billing");
  BOOST_TEST(d.attempt == 1);
  // A child cannot be cut off once it exists: that is a non-determinism.
  auto cut = started;
  event e;
  e.seq = 6;
  e.type = event_type::step_cut_off;
  e.node_path = "billing";
  e.attempt = 1;
  cut.push_back(e);
  BOOST_TEST(to_string(decide(p, s.input, cut).state) == "nondeterministic");
}

BOOST_AUTO_TEST_CASE(a_failed_or_refused_child_is_a_failed_attempt_retried_with_a_new_child) {
  simulation s{parse(with_child), json::parse(R"({"id":7})")};
  s.child = [](const command& c) {
    if (c.attempt == 1) {
      return failure("payment_declined");
    }
    if (c.attempt == 2) {
      answer a = failure("tenant_at_limit");
      a.refused = true;
      return a;
    }
    return ok(json::value("third"));
  };
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "completed");
  BOOST_TEST(paths_of(s.commands, command_kind::start_child) ==
             (std::vector<std::string>{"billing#1", "billing#2", "billing#3"}));
  // Attempt 2 never had a child run.
  int started = 0;
  for (const auto& e : s.h) {
    started += e.type == event_type::child_started ? 1 : 0;
  }
  BOOST_TEST(started == 2);
  s.check_replay();
  // Out of attempts: the child's failure fails the run.
  simulation f{parse(with_child), json::parse(R"({"id":7})")};
  f.child = [](const command&) { return failure("payment_declined"); };
  d = f.run();
  BOOST_TEST(to_string(d.state) == "failed");
  BOOST_TEST(d.error_type == "payment_declined");
  f.check_replay();
}

BOOST_AUTO_TEST_CASE(a_wait_completes_with_the_signal_payload) {
  simulation s{parse(approval_with("fail")), nullptr};
  s.activity = [](const command& c) { return ok(c.input); };
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "awaiting_event");
  BOOST_TEST(d.event == "approved");
  BOOST_TEST(d.wake_at_ms == s.now + 5000);
  s.signal("other", nullptr);
  BOOST_TEST(to_string(s.run().state) == "awaiting_event");
  s.signal("approved", json::parse(R"({"by":"ann"})"));
  d = s.run();
  BOOST_TEST(to_string(d.state) == "completed");
  BOOST_TEST(json::serialize(d.output) == R"({"by":"ann"})");
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(a_signal_sent_before_the_wait_is_buffered) {
  simulation s{parse(approval_with("fail")), nullptr};
  s.activity = [](const command& c) { return ok(c.input); };
  event start;
  start.type = event_type::run_started;
  s.append(start);
  s.signal("approved", json::parse(R"({"by":"early"})"));
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "completed");
  BOOST_TEST(json::serialize(d.output) == R"({"by":"early"})");
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(a_wait_timeout_fails_or_continues_per_the_node) {
  auto time_out = [](simulation& sim, const decision& d) {
    event e;
    e.type = event_type::wait_timed_out;
    e.node_path = d.node_path;
    sim.append(std::move(e));
    return true;
  };
  simulation failing{parse(approval_with("fail")), nullptr};
  failing.on_wait = time_out;
  auto d = failing.run();
  BOOST_TEST(to_string(d.state) == "failed");
  BOOST_TEST(d.error_type == "wait_timeout");
  failing.check_replay();

  simulation going_on{parse(approval_with("continue")), nullptr};
  going_on.on_wait = time_out;
  going_on.activity = [](const command& c) { return ok(c.input); };
  // /steps/approval/output/by does not exist on a timeout: the reference fails.
  d = going_on.run();
  BOOST_TEST(to_string(d.state) == "failed");
  BOOST_TEST(d.error_type == "bad_reference");

  simulation plain{parse(R"({"name":"p","root":{"sequence":[
    {"id":"w","wait":{"event":"go","timeout_ms":10,"on_timeout":"continue"}}]}})"),
                   nullptr};
  plain.on_wait = time_out;
  d = plain.run();
  BOOST_TEST(to_string(d.state) == "completed");
  BOOST_TEST(json::serialize(d.output) == R"({"timed_out":true})");
  plain.check_replay();
}

BOOST_AUTO_TEST_CASE(a_timer_wait_fires_at_its_time) {
  simulation s{parse(R"({"name":"p","root":{"sequence":[
    {"id":"cool","wait":{"timer_ms":60000}},{"id":"a","activity":"x"}]}})"),
               nullptr};
  auto start = s.now;
  auto d = s.run();
  BOOST_TEST(to_string(d.state) == "completed");
  BOOST_TEST(s.now == start + 60000);
  s.check_replay();
}

BOOST_AUTO_TEST_CASE(cancel_ends_the_run_wherever_it_appears) {
  simulation s{parse(approval_with("fail")), nullptr};
  BOOST_TEST(to_string(s.run().state) == "awaiting_event");
  event cancel;
  cancel.type = event_type::run_canceled;
  cancel.payload = json::object{{"reason", "operator"}};
  s.append(cancel);
  auto d = decide(s.definition, s.input, s.h);
  BOOST_TEST(to_string(d.state) == "canceled");
  BOOST_TEST(d.error_message == "operator");
}

BOOST_AUTO_TEST_CASE(a_changed_pipeline_is_detected_as_nondeterministic) {
  simulation s{parse(two_steps), json::parse(R"({"x":1})")};
  BOOST_TEST(to_string(s.run().state) == "completed");
  auto changed = parse(R"({"name":"p","root":{"sequence":[
    {"id":"a","activity":"echo"},{"id":"c","activity":"echo"}]}})");
  auto d = decide(changed, s.input, s.h);
  BOOST_TEST(to_string(d.state) == "nondeterministic");
  BOOST_TEST(d.conflict.seq == 4);
  BOOST_TEST(d.conflict.expected == "step_scheduled 'c'#1");
  BOOST_TEST(d.conflict.found == "step_scheduled 'b'#1");
  BOOST_TEST(describe(d.conflict) ==
             "history event 4 is step_scheduled 'b'#1, but the pipeline expects "
             "step_scheduled 'c'#1");
}

BOOST_AUTO_TEST_CASE(a_changed_retry_policy_is_detected_as_nondeterministic) {
  simulation s{parse(R"({"name":"p","root":{"sequence":[{"id":"a","activity":"x",
    "retry":{"max_attempts":3,"initial_interval_ms":10}}]}})"),
               nullptr};
  s.activity = [](const command& c) { return c.attempt < 2 ? failure("Busy") : ok(); };
  BOOST_TEST(to_string(s.run().state) == "completed");
  auto no_retry = parse(R"({"name":"p","root":{"sequence":[{"id":"a","activity":"x"}]}})");
  auto d = decide(no_retry, nullptr, s.h);
  BOOST_TEST(to_string(d.state) == "nondeterministic");
  BOOST_TEST(d.conflict.expected == "run_failed");
  BOOST_TEST(d.conflict.found == "timer_started 'a'#2");
}

BOOST_AUTO_TEST_CASE(events_after_the_end_are_nondeterministic) {
  simulation s{parse(two_steps), json::parse(R"({"x":1})")};
  s.run();
  event extra;
  extra.type = event_type::timer_fired;
  extra.node_path = "a";
  s.append(extra);
  auto d = decide(s.definition, s.input, s.h);
  BOOST_TEST(to_string(d.state) == "nondeterministic");
  BOOST_TEST(d.conflict.seq == static_cast<int64_t>(s.h.size()));
}

BOOST_AUTO_TEST_CASE(an_outcome_for_another_step_is_nondeterministic) {
  simulation s{parse(two_steps), json::parse(R"({"x":1})")};
  event start;
  start.type = event_type::run_started;
  s.append(start);
  s.append(record(*decide(s.definition, s.input, s.h).next, 0, 0));
  event wrong;
  wrong.type = event_type::step_completed;
  wrong.node_path = "b";
  wrong.attempt = 1;
  s.append(wrong);
  auto d = decide(s.definition, s.input, s.h);
  BOOST_TEST(to_string(d.state) == "nondeterministic");
  BOOST_TEST(d.conflict.found == "step_completed 'b'#1");
}

// -- parallel branches and concurrent loops -------------------------------------

/// Drives a run whose attempts in flight complete in the order a seeded
/// generator picks; every command the engine returns is recorded at once.
struct fanout {
  fanout(pipeline p, json::value in, unsigned seed)
      : definition(std::move(p)), input(std::move(in)), rng(seed) {}

  pipeline definition;
  json::value input;
  std::mt19937 rng;
  std::function<answer(const command&)> activity = [](const command& c) { return ok(c.input); };
  std::vector<event> h;
  std::vector<command> in_flight;
  size_t most_in_flight = 0;
  /// Decisions made together (one commit each).
  std::vector<std::vector<command>> commits;

  void append(event e) {
    e.seq = static_cast<int64_t>(h.size()) + 1;
    h.push_back(std::move(e));
  }

  decision run() {
    if (h.empty()) {
      append(event{0, event_type::run_started, "", 0, input});
    }
    for (int round = 0; round < 10'000; ++round) {
      auto d = decide(definition, input, h);
      if (d.state == run_state::ready) {
        commits.push_back(d.commands);
        for (const auto& c : d.commands) {
          append(record(c, 0, 1'000));
          if (c.kind == command_kind::schedule_activity) {
            in_flight.push_back(c);
          }
        }
        most_in_flight = std::max(most_in_flight, in_flight.size());
        continue;
      }
      if (d.state == run_state::awaiting_timer && in_flight.empty()) {
        append(event{0, event_type::timer_fired, d.node_path, d.attempt, json::object{}});
        continue;
      }
      if (in_flight.empty()) {
        return d;
      }
      // One attempt in flight reports: any of them.
      auto k = rng() % in_flight.size();
      auto c = in_flight[k];
      in_flight.erase(in_flight.begin() + static_cast<ptrdiff_t>(k));
      auto a = activity(c);
      event e{0, a.ok ? event_type::step_completed : event_type::step_failed, c.node_path,
              c.attempt,
              a.ok ? a.output
                   : json::value(json::object{
                       {"type", a.type}, {"message", "scripted"}, {"retryable", a.retryable}})};
      append(std::move(e));
    }
    BOOST_FAIL("run did not settle");
    return {};
  }

  /// Every decision of the history is among what the engine decides from
  /// the history before it, and the whole history decides the same end.
  void check_replay(const decision& end) const {
    for (size_t k = 1; k < h.size(); ++k) {
      if (!is_decision(h[k].type)) {
        continue;
      }
      std::vector<event> prefix{h.begin(), h.begin() + static_cast<ptrdiff_t>(k)};
      auto d = decide(definition, input, prefix);
      BOOST_TEST_REQUIRE((d.state == run_state::ready),
                         "prefix " << k << ": " << to_string(d.state));
      bool found = false;
      for (const auto& c : d.commands) {
        auto again = record(c, h[k].seq, 1'000);
        found = found || (again.type == h[k].type && again.node_path == h[k].node_path &&
                          again.attempt == h[k].attempt &&
                          json::serialize(again.payload) == json::serialize(h[k].payload));
      }
      BOOST_TEST_REQUIRE(found, "prefix " << k << " does not decide " << describe(h[k]));
    }
    auto whole = decide(definition, input, h);
    BOOST_TEST(to_string(whole.state) == to_string(end.state));
    BOOST_TEST(json::serialize(whole.output) == json::serialize(end.output));
    BOOST_TEST(whole.consumed == h.size());
  }
};

const char* checks = R"({"name":"p","root":{"sequence":[
  {"id":"checks","parallel":[
    {"id":"credit","activity":"credit","input":{"$ref":"/input/customer"}},
    {"sequence":[{"id":"stock","activity":"stock","input":{"sku":{"$ref":"/input/sku"}}},
                 {"id":"hold","activity":"hold","input":{"held":{"$ref":"/steps/stock/output"}}}]},
    {"id":"pause","wait":{"timer_ms":50}}]},
  {"id":"ship","activity":"ship","input":{"$ref":"/steps/checks/output"}}]}})";

BOOST_AUTO_TEST_CASE(parallel_branches_start_together_and_output_in_branch_order) {
  std::set<std::string> orders;
  for (unsigned seed = 1; seed <= 30; ++seed) {
    fanout f{parse(checks), json::parse(R"({"customer":"c1","sku":"s9"})"), seed};
    auto d = f.run();
    BOOST_TEST_REQUIRE(to_string(d.state) == "completed");
    // The three branches' first decisions are made in one commit.
    BOOST_TEST_REQUIRE(f.commits[0].size() == 3u);
    BOOST_TEST(f.commits[0][0].node_path == "checks/0/credit");
    BOOST_TEST(f.commits[0][1].node_path == "checks/1/stock");
    BOOST_TEST(to_string(f.commits[0][2].kind) == "start_timer");
    BOOST_TEST(json::serialize(d.output) == R"(["c1",{"held":{"sku":"s9"}},null])");
    f.check_replay(d);
    std::string order;
    for (const auto& e : f.h) {
      if (e.type == event_type::step_completed) {
        order += e.node_path + " ";
      }
    }
    orders.insert(order);
  }
  // Completion orders differed between seeds, and every history replayed.
  BOOST_TEST(orders.size() > 1u);
}

const char* items_loop = R"({"name":"p","root":{"sequence":[
  {"id":"items","for_each":{"$ref":"/input/items"},"concurrency":3,
   "do":{"sequence":[{"id":"reserve","activity":"reserve","input":{"$ref":"/item"}},
                     {"id":"mark","activity":"mark","input":{"i":{"$ref":"/index"},
                                                             "r":{"$ref":"/steps/reserve/output"}}}]}},
  {"id":"done","activity":"done","input":{"$ref":"/steps/items/output"}}]}})";

BOOST_AUTO_TEST_CASE(a_concurrent_loop_keeps_at_most_n_items_in_flight_and_outputs_in_item_order) {
  json::array items;
  json::array expected;
  for (int i = 0; i < 10; ++i) {
    items.push_back(i * 10);
    expected.push_back(json::object{{"i", i}, {"r", i * 10}});
  }
  std::set<std::string> orders;
  for (unsigned seed = 1; seed <= 30; ++seed) {
    fanout f{parse(items_loop), json::object{{"items", items}}, seed};
    auto d = f.run();
    BOOST_TEST_REQUIRE(to_string(d.state) == "completed");
    BOOST_TEST(f.most_in_flight == 3u);
    BOOST_TEST(json::serialize(d.output) == json::serialize(expected));
    f.check_replay(d);
    // Items start in order.
    std::vector<std::string> starts;
    for (const auto& e : f.h) {
      if (e.type == event_type::step_scheduled &&
          e.node_path.find("/reserve") != std::string::npos) {
        starts.push_back(e.node_path);
      }
    }
    BOOST_TEST_REQUIRE(starts.size() == 10u);
    for (size_t i = 0; i < starts.size(); ++i) {
      BOOST_TEST(starts[i] == "items/" + std::to_string(i) + "/reserve");
    }
    std::string order;
    for (const auto& e : f.h) {
      if (e.type == event_type::step_completed && e.node_path.find("/mark") != std::string::npos) {
        order += e.node_path + " ";
      }
    }
    orders.insert(order);
  }
  BOOST_TEST(orders.size() > 1u);
}

BOOST_AUTO_TEST_CASE(an_item_started_before_a_slot_was_free_is_a_nondeterminism) {
  auto p = parse(R"({"name":"p","root":{"id":"items","for_each":{"$ref":"/input/items"},
    "concurrency":2,"do":{"id":"r","activity":"reserve"}}})");
  json::value input = json::parse(R"({"items":[1,2,3]})");
  std::vector<event> h{{1, event_type::run_started, "", 0, input}};
  auto d = decide(p, input, h);
  BOOST_TEST_REQUIRE(d.commands.size() == 2u);
  h.push_back(record(d.commands[0], 2, 0));
  h.push_back(record(d.commands[1], 3, 0));
  // Both in flight: item 2 waits for a slot.
  d = decide(p, input, h);
  BOOST_TEST(to_string(d.state) == "awaiting_activity");
  BOOST_TEST(d.awaits.size() == 2u);
  auto early = h;
  event third{4, event_type::step_scheduled, "items/2/r", 1,
              json::object{{"activity", "reserve"}, {"input", nullptr}, {"timeout_ms", 0}}};
  early.push_back(third);
  d = decide(p, input, early);
  BOOST_TEST(to_string(d.state) == "nondeterministic");
  BOOST_TEST(d.conflict.seq == 4);
  // Once item 1 completed, item 2 is the next decision.
  h.push_back(event{4, event_type::step_completed, "items/1/r", 1, 20});
  d = decide(p, input, h);
  BOOST_TEST_REQUIRE(d.commands.size() == 1u);
  BOOST_TEST(d.commands[0].node_path == "items/2/r");
}

BOOST_AUTO_TEST_CASE(the_first_failed_branch_in_the_history_fails_the_node) {
  auto p = parse(R"({"name":"p","root":{"id":"both","parallel":[
    {"id":"a","activity":"a"},{"id":"b","activity":"b"}]}})");
  json::value input = json::object{};
  auto fail_event = [](int64_t seq, const char* path, const char* type) {
    return event{seq, event_type::step_failed, path, 1,
                 json::object{{"type", type}, {"message", "m"}, {"retryable", false}}};
  };
  std::vector<event> h{{1, event_type::run_started, "", 0, input}};
  auto d = decide(p, input, h);
  BOOST_TEST_REQUIRE(d.commands.size() == 2u);
  h.push_back(record(d.commands[0], 2, 0));
  h.push_back(record(d.commands[1], 3, 0));
  // b fails first, a's failure comes after: b's failure is the run's.
  auto b_first = h;
  b_first.push_back(fail_event(4, "both/1/b", "b_broke"));
  b_first.push_back(fail_event(5, "both/0/a", "a_broke"));
  d = decide(p, input, b_first);
  BOOST_TEST(to_string(d.state) == "ready");
  BOOST_TEST(d.next->error_type == "b_broke");
  auto a_first = h;
  a_first.push_back(fail_event(4, "both/0/a", "a_broke"));
  d = decide(p, input, a_first);
  BOOST_TEST(to_string(d.next->kind) == "fail_run");
  BOOST_TEST(d.next->error_type == "a_broke");
  // b's result after the failure is recorded and ignored.
  a_first.push_back(event{5, event_type::step_completed, "both/1/b", 1, 1});
  d = decide(p, input, a_first);
  BOOST_TEST(d.next->error_type == "a_broke");
  a_first.push_back(record(*d.next, 6, 0));
  d = decide(p, input, a_first);
  BOOST_TEST(to_string(d.state) == "failed");
  BOOST_TEST(d.consumed == a_first.size());
}

BOOST_AUTO_TEST_CASE(a_decision_of_a_branch_after_the_node_failed_is_a_nondeterminism) {
  auto p = parse(R"({"name":"p","root":{"id":"both","parallel":[
    {"id":"a","activity":"a"},
    {"sequence":[{"id":"b","activity":"b"},{"id":"c","activity":"c"}]}]}})");
  json::value input = json::object{};
  std::vector<event> h{{1, event_type::run_started, "", 0, input}};
  auto d = decide(p, input, h);
  h.push_back(record(d.commands[0], 2, 0));
  h.push_back(record(d.commands[1], 3, 0));
  h.push_back(event{4, event_type::step_failed, "both/0/a", 1,
                    json::object{{"type", "x"}, {"message", "m"}, {"retryable", false}}});
  h.push_back(event{5, event_type::step_completed, "both/1/b", 1, 1});
  h.push_back(event{6, event_type::step_scheduled, "both/1/c", 1,
                    json::object{{"activity", "c"}, {"input", nullptr}, {"timeout_ms", 0}}});
  d = decide(p, input, h);
  BOOST_TEST(to_string(d.state) == "nondeterministic");
  BOOST_TEST(d.conflict.seq == 6);
}

BOOST_AUTO_TEST_CASE(a_branch_waits_for_its_signal_while_another_runs) {
  auto p = parse(R"({"name":"p","root":{"id":"both","parallel":[
    {"id":"a","activity":"a"},{"id":"w","wait":{"event":"approved"}}]}})");
  json::value input = json::object{};
  std::vector<event> h{{1, event_type::run_started, "", 0, input}};
  auto d = decide(p, input, h);
  BOOST_TEST_REQUIRE(d.commands.size() == 2u);
  h.push_back(record(d.commands[0], 2, 0));
  h.push_back(record(d.commands[1], 3, 0));
  d = decide(p, input, h);
  BOOST_TEST_REQUIRE(d.awaits.size() == 2u);
  BOOST_TEST(to_string(d.awaits[1].state) == "awaiting_event");
  h.push_back(event{4, event_type::signal_received, "", 0,
                    json::object{{"event", "approved"}, {"payload", "yes"}}});
  h.push_back(event{5, event_type::step_completed, "both/0/a", 1, 1});
  d = decide(p, input, h);
  BOOST_TEST_REQUIRE(to_string(d.state) == "ready");
  BOOST_TEST(json::serialize(d.next->output) == R"([1,"yes"])");
}

BOOST_AUTO_TEST_CASE(a_history_must_start_with_run_started) {
  auto d = decide(parse(two_steps), nullptr, {});
  BOOST_TEST(to_string(d.state) == "nondeterministic");
}

BOOST_AUTO_TEST_SUITE_END()
