#include "config/json_text.hpp"
#include "config/pipeline_parser.hpp"
#include "messages/errors.hpp"
#include "tests/printing.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <type_traits>

using namespace flowgate;

namespace {

const char* const formats_example = R"({
  "name": "order-fulfillment",
  "features": ["quota", "metrics"],
  "root": {
    "sequence": [
      { "id": "validate", "activity": "validate_order",
        "input": { "order": { "$ref": "/input/order" }, "strict": true },
        "retry": { "max_attempts": 3, "initial_interval_ms": 200, "backoff_coefficient": 2.0,
                   "max_interval_ms": 10000, "non_retryable": ["ValidationError"] },
        "timeout_ms": 30000 },
      { "id": "items", "for_each": { "$ref": "/steps/validate/output/items" },
        "do": { "id": "reserve", "activity": "reserve_item",
                "input": { "sku": { "$ref": "/item/sku" }, "n": { "$ref": "/index" } } } },
      { "id": "approval", "wait": { "event": "approved", "timeout_ms": 86400000, "on_timeout": "continue" } },
      { "id": "cool_down", "wait": { "timer_ms": 60000 } },
      { "id": "ship", "activity": "ship",
        "input": { "order": { "$ref": "/input/order" }, "approval": { "$ref": "/steps/approval/output" } } }
    ]
  }
})";

/// A pipeline whose root sequence holds `steps` (JSON of the nodes).
std::string with_steps(const std::string& steps) {
  return R"({"name": "p", "root": {"sequence": [)" + steps + "]}}";
}

std::string error_of(const std::string& doc) {
  auto p = parse_pipeline_text(doc, "7");
  if (p) {
    return "<valid>";
  }
  return describe(p.error());
}

} // namespace

BOOST_AUTO_TEST_SUITE(pipeline_parser)

BOOST_AUTO_TEST_CASE(features_default_to_quota_and_a_list_names_exactly_what_is_on) {
  auto absent = parse_pipeline_text(R"({"name":"p","root":{"id":"a","activity":"x"}})", "1");
  BOOST_REQUIRE_MESSAGE(absent, (absent ? "" : describe(absent.error())));
  BOOST_TEST(absent->definition.features == std::vector<std::string>{"quota"});
  auto none =
    parse_pipeline_text(R"({"name":"p","features":[],"root":{"id":"a","activity":"x"}})", "1");
  BOOST_REQUIRE(none);
  BOOST_TEST(none->definition.features.empty());
  auto metrics = parse_pipeline_text(
    R"({"name":"p","features":["metrics"],"root":{"id":"a","activity":"x"}})", "1");
  BOOST_REQUIRE(metrics);
  BOOST_TEST(metrics->definition.has_feature("metrics"));
  BOOST_TEST(!metrics->definition.has_feature("quota"));
}

BOOST_AUTO_TEST_CASE(parses_the_formats_example) {
  auto p = parse_pipeline_text(formats_example, "1");
  BOOST_REQUIRE_MESSAGE(p, (p ? "" : describe(p.error())));
  const auto& def = p->definition;
  BOOST_TEST(def.name == "order-fulfillment");
  BOOST_TEST(def.has_feature("quota"));
  BOOST_TEST(def.has_feature("metrics"));
  BOOST_TEST(def.node_count == 7u);
  BOOST_REQUIRE(def.root.kind == node_kind::sequence);
  BOOST_REQUIRE(def.root.children.size() == 5u);
  const auto& validate = def.root.children[0];
  BOOST_TEST(validate.kind == node_kind::activity);
  BOOST_TEST(validate.activity == "validate_order");
  BOOST_TEST(validate.retry.max_attempts == 3);
  BOOST_TEST(validate.retry.initial_interval_ms == 200);
  BOOST_TEST(validate.retry.max_interval_ms == 10000);
  BOOST_TEST(!validate.retry.is_retryable("ValidationError"));
  BOOST_TEST(validate.retry.is_retryable("Timeout"));
  BOOST_TEST(validate.timeout_ms == 30000);
  const auto& items = def.root.children[1];
  BOOST_TEST(items.kind == node_kind::for_each);
  BOOST_TEST(items.items_pointer == "/steps/validate/output/items");
  BOOST_TEST(items.body().id == "reserve");
  const auto& approval = def.root.children[2];
  BOOST_TEST(approval.event == "approved");
  BOOST_TEST(approval.wait_timeout_ms == 86400000);
  BOOST_TEST(approval.on_timeout == wait_timeout_action::continue_run);
  BOOST_TEST(def.root.children[3].timer_ms == 60000);
  BOOST_TEST(p->checksum.rfind("sha256:", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(applies_retry_defaults_and_backoff) {
  auto p = parse_pipeline_text(with_steps(R"({"id": "a", "activity": "noop"})"), "1");
  BOOST_REQUIRE(p);
  const auto& r = p->definition.root.children[0].retry;
  BOOST_TEST(r.max_attempts == 1);
  BOOST_TEST(r.initial_interval_ms == 1000);
  BOOST_TEST(r.backoff_coefficient == 2.0);
  BOOST_TEST(r.max_interval_ms == 100000);
  retry_policy policy;
  policy.initial_interval_ms = 200;
  policy.backoff_coefficient = 2.0;
  policy.max_interval_ms = 1000;
  BOOST_TEST(policy.delay_before(2) == 200);
  BOOST_TEST(policy.delay_before(3) == 400);
  BOOST_TEST(policy.delay_before(4) == 800);
  BOOST_TEST(policy.delay_before(5) == 1000);
  BOOST_TEST(policy.delay_before(60) == 1000);
}

BOOST_AUTO_TEST_CASE(snapshots_are_deeply_immutable) {
  auto p = parse_pipeline_text(formats_example, "1");
  BOOST_REQUIRE(p);
  auto snap = make_snapshot("t", "q", "1", p->checksum, p->canonical_text, p->definition);
  static_assert(std::is_same_v<decltype(snap), std::shared_ptr<const config_snapshot>>);
  static_assert(std::is_const_v<std::remove_reference_t<decltype((snap->definition.root))>>);
  static_assert(
    std::is_const_v<std::remove_reference_t<decltype((snap->definition.root.children[0].input))>>);
  BOOST_TEST(snap->checksum == p->checksum);
  BOOST_TEST(snap->definition.root.children[0].id == "validate");
}

BOOST_AUTO_TEST_CASE(same_content_same_checksum) {
  auto a = parse_pipeline_text(with_steps(R"({"id": "a", "activity": "noop"})"), "1");
  auto b = parse_pipeline_text(with_steps(R"({ "activity":"noop",  "id":"a" })"), "1");
  auto c = parse_pipeline_text(with_steps(R"({"id": "b", "activity": "noop"})"), "1");
  BOOST_REQUIRE(a && b && c);
  BOOST_TEST(a->checksum == b->checksum);
  BOOST_TEST(a->checksum != c->checksum);
}

BOOST_AUTO_TEST_CASE(rejects_each_error_class_with_a_precise_message) {
  struct expectation {
    std::string doc;
    std::string says;
  };
  const std::vector<expectation> cases = {
    {"[1]", "pipeline '?' v7: the document must be a JSON object, got array"},
    {R"({"root": {"sequence": [{"id": "a", "activity": "x"}]}})",
     "pipeline '?' v7: field 'name' is missing"},
    {R"({"name": "p"})", "pipeline 'p' v7: field 'root' is missing"},
    {R"({"name": "p", "root": {"sequence": [{"id": "a", "activity": "x"}]}, "extra": 1})",
     "pipeline 'p' v7: unknown field 'extra'"},
    {R"({"name": "p", "features": ["quotas"], "root": {"sequence": [{"id": "a", "activity": "x"}]}})",
     "unknown feature 'quotas'"},
    {with_steps(R"({"id": "a", "task": "x"})"),
     "pipeline 'p' v7: root.sequence[0]: unknown node kind"},
    {with_steps(R"({"id": "a", "activity": "x", "wait": {"timer_ms": 1}})"),
     "both 'activity' and 'wait'"},
    {with_steps(R"({"activity": "x"})"), "root.sequence[0]: field 'id' is missing"},
    {with_steps(R"({"id": "Bad-Id", "activity": "x"})"), "id must match [a-z0-9_]{1,64}"},
    {with_steps(R"({"id": "a", "activity": "x"}, {"id": "a", "activity": "y"})"),
     "node 'a': id 'a' is used by more than one node"},
    {with_steps(R"({"id": "a", "activity": "x", "retries": 3})"),
     "node 'a': unknown field 'retries'"},
    {with_steps(R"({"id": "a", "activity": "x", "retry": {"max_attempts": 0}})"),
     "pipeline 'p' v7: node 'a': retry.max_attempts must be >= 1"},
    {with_steps(R"({"id": "a", "activity": "x", "retry": {"max_attempts": 2.5}})"),
     "node 'a': retry.max_attempts must be an integer, got number"},
    {with_steps(R"({"id": "a", "activity": "x", "retry": {"backoff_coefficient": 0.5}})"),
     "node 'a': retry.backoff_coefficient must be between 1.0 and 100.0"},
    {with_steps(
       R"({"id": "a", "activity": "x", "retry": {"initial_interval_ms": 500, "max_interval_ms": 100}})"),
     "node 'a': retry.max_interval_ms must be >= retry.initial_interval_ms"},
    {with_steps(R"({"id": "a", "activity": "x", "timeout_ms": "30s"})"),
     "node 'a': timeout_ms must be an integer, got string"},
    {with_steps(R"({"id": "a", "activity": "x", "timeout_ms": 0})"),
     "node 'a': timeout_ms must be >= 1"},
    {with_steps(R"({"id": "a", "activity": 5})"), "node 'a': activity must be a string"},
    {with_steps(R"({"id": "l", "for_each": [1, 2], "do": {"id": "b", "activity": "x"}})"),
     "node 'l': for_each must be a reference object"},
    {with_steps(R"({"id": "l", "for_each": {"$ref": "/input/xs"}})"),
     "node 'l': field 'do' is missing"},
    {with_steps(R"({"id": "w", "wait": {"event": "e", "timer_ms": 5}})"),
     "node 'w': wait needs exactly one of 'event' or 'timer_ms'"},
    {with_steps(R"({"id": "w", "wait": {"event": "e", "on_timeout": "continue"}})"),
     "node 'w': wait.on_timeout needs wait.timeout_ms"},
    {with_steps(R"({"id": "w", "wait": {"event": "e", "timeout_ms": 5, "on_timeout": "retry"}})"),
     "wait.on_timeout must be \"continue\" or \"fail\""},
    {with_steps(R"({"id": "a", "activity": "x", "input": {"$ref": "/steps/zzz/output"}})"),
     "node 'a': input: '/steps/zzz/output' references unknown node 'zzz'"},
    {with_steps(R"({"id": "a", "activity": "x", "input": {"v": {"$ref": "/steps/b/output"}}},
                   {"id": "b", "activity": "y"})"),
     "node 'a': input.v: '/steps/b/output' references node 'b', which cannot have completed"},
    {with_steps(R"({"id": "a", "activity": "x", "input": {"$ref": "/steps/a/output"}})"),
     "references node 'a', which cannot have completed"},
    {with_steps(R"({"id": "a", "activity": "x", "input": [{"$ref": "/item/sku"}]})"),
     "node 'a': input[0]: '/item/sku' is only valid inside a for_each body"},
    {with_steps(R"({"id": "a", "activity": "x", "input": {"$ref": "/input/~2"}})"),
     "'/input/~2' is not a valid JSON pointer"},
    {with_steps(R"({"id": "a", "activity": "x", "input": {"$ref": "/env/x"}})"),
     "must start with /input, /steps, /item or /index"},
    {with_steps(
       R"({"id": "a", "activity": "x"}, {"id": "b", "activity": "x", "input": {"$ref": "/steps/a"}})"),
     "must continue with /output after the node id"},
    {with_steps(R"({"id": "a", "activity": "x", "input": {"$ref": "/input", "extra": 1}})"),
     "a reference must be exactly"},
    {with_steps(
       R"({"id": "l", "for_each": {"$ref": "/input/xs"}, "do": {"id": "b", "activity": "x"}},
                   {"id": "c", "activity": "x", "input": {"$ref": "/steps/b/output"}})"),
     "references node 'b', which cannot have completed"},
    {R"({"name": "p", "root": {"sequence": []}})", "root: sequence must not be empty"},
    // switch
    {with_steps(R"({"id": "r", "switch": "kind", "cases": {"a": {"id": "x", "activity": "x"}}})"),
     "node 'r': switch must be a reference object"},
    {with_steps(R"({"id": "r", "switch": {"$ref": "/input/k"}})"),
     "node 'r': field 'cases' is missing"},
    {with_steps(R"({"id": "r", "switch": {"$ref": "/input/k"}, "cases": {}})"),
     "node 'r': cases must not be empty"},
    {with_steps(R"({"id": "r", "switch": {"$ref": "/input/k"}, "cases": [1]})"),
     "node 'r': cases must be an object of value: node, got array"},
    {with_steps(R"({"id": "r", "switch": {"$ref": "/input/k"}, "cases": {"a": 5}})"),
     "root.sequence[0].cases.a: a node must be an object, got integer"},
    {with_steps(
       R"({"id": "r", "switch": {"$ref": "/input/k"}, "cases": {"a": {"id": "x", "activity": "x"}},
                    "otherwise": {"id": "y", "activity": "y"}})"),
     "node 'r': unknown field 'otherwise' (allowed: id, switch, cases, default)"},
    {with_steps(R"({"id": "r", "switch": {"$ref": "/steps/later/output"},
                    "cases": {"a": {"id": "x", "activity": "x"}}}, {"id": "later", "activity": "x"})"),
     "node 'r': switch: '/steps/later/output' references node 'later', which cannot have "
     "completed"},
    {with_steps(R"({"id": "r", "switch": {"$ref": "/input/k"},
                    "cases": {"a": {"id": "x", "activity": "x"}, "b": {"id": "x", "activity": "y"}}})"),
     "id 'x' is used by more than one node"},
    // A branch's steps are visible inside it only; after the switch, its output is.
    {with_steps(R"({"id": "r", "switch": {"$ref": "/input/k"},
                    "cases": {"a": {"id": "x", "activity": "x"}}},
                   {"id": "y", "activity": "y", "input": {"$ref": "/steps/x/output"}})"),
     "node 'y': input: '/steps/x/output' references node 'x', which cannot have completed"},
    {with_steps(R"({"id": "r", "switch": {"$ref": "/input/k"},
                    "cases": {"a": {"id": "x", "activity": "x"},
                              "b": {"id": "z", "activity": "z", "input": {"$ref": "/steps/x/output"}}}})"),
     "node 'z': input: '/steps/x/output' references node 'x', which cannot have completed"},
    // child
    {with_steps(R"({"id": "c", "child": "billing"})"),
     "node 'c': child must be an object {\"queue\": Q, \"version\": V}, got string"},
    {with_steps(R"({"id": "c", "child": {"version": "1"}})"),
     "node 'c': child: field 'queue' is missing"},
    {with_steps(R"({"id": "c", "child": {"queue": "b", "priority": 1}})"),
     "node 'c': child: unknown field 'priority' (allowed: queue, version)"},
    {with_steps(R"({"id": "c", "child": {"queue": "b c"}})"), "child.queue 'b c' must match"},
    {with_steps(R"({"id": "c", "child": {"queue": "b", "version": 3}})"),
     "child.version must be a string"},
    {with_steps(R"({"id": "c", "child": {"queue": "b"}, "timeout_ms": 5})"),
     "node 'c': unknown field 'timeout_ms' (allowed: id, child, input, retry)"},
    {with_steps(R"({"id": "c", "child": {"queue": "b"}, "activity": "x"})"),
     "a node has exactly one kind, this one has both 'activity' and 'child'"},
    {with_steps(R"({"id": "c", "child": {"queue": "b"}, "input": {"$ref": "/steps/later/output"}},
                   {"id": "later", "activity": "x"})"),
     "node 'c': input: '/steps/later/output' references node 'later', which cannot have completed"},
    // parallel and for_each concurrency
    {with_steps(R"({"id": "p", "parallel": {"id": "x", "activity": "x"}})"),
     "node 'p': parallel must be an array of nodes (the branches), got object"},
    {with_steps(R"({"id": "p", "parallel": []})"),
     "node 'p': parallel must have at least one branch"},
    {with_steps(R"({"id": "p", "parallel": [{"id": "x", "activity": "x"}], "concurrency": 2})"),
     "node 'p': unknown field 'concurrency' (allowed: id, parallel)"},
    {with_steps(R"({"id": "p", "parallel": [{"id": "x", "activity": "x"},
                                            {"id": "y", "activity": "y", "input": {"$ref": "/steps/x/output"}}]})"),
     "node 'y': input: '/steps/x/output' references node 'x', which cannot have completed"},
    {with_steps(R"({"id": "p", "parallel": [{"id": "x", "activity": "x"}]},
                   {"id": "y", "activity": "y", "input": {"$ref": "/steps/x/output"}})"),
     "node 'y': input: '/steps/x/output' references node 'x', which cannot have completed"},
    {with_steps(R"({"id": "p", "parallel": [{"id": "x", "wait": {"event": "ok"}},
                                            {"sequence": [{"id": "a", "activity": "a"},
                                                          {"id": "y", "wait": {"event": "ok"}}]}]})"),
     "node 'p': branches 0 and 1 both wait for event 'ok'"},
    {with_steps(R"({"id": "l", "for_each": {"$ref": "/input/xs"}, "concurrency": 0,
                    "do": {"id": "b", "activity": "x"}})"),
     "node 'l': concurrency must be >= 1"},
    {with_steps(R"({"id": "l", "for_each": {"$ref": "/input/xs"}, "concurrency": 1001,
                    "do": {"id": "b", "activity": "x"}})"),
     "node 'l': concurrency must be <= 1000"},
    {with_steps(R"({"id": "l", "for_each": {"$ref": "/input/xs"}, "concurrency": "8",
                    "do": {"id": "b", "activity": "x"}})"),
     "node 'l': concurrency must be an integer, got string"},
    {with_steps(R"({"id": "l", "for_each": {"$ref": "/input/xs"}, "concurrency": 4,
                    "do": {"id": "w", "wait": {"event": "go"}}})"),
     "node 'l': node 'w' waits for event 'go' inside a for_each with concurrency > 1"},
  };
  for (const auto& c : cases) {
    auto text = error_of(c.doc);
    BOOST_TEST_CHECK(text.find(c.says) != std::string::npos,
                     "error '" << text << "' should contain '" << c.says << "'");
  }
}

BOOST_AUTO_TEST_CASE(accepts_parallel_branches_and_concurrent_loops) {
  auto doc = with_steps(R"({"id": "a", "activity": "x"},
    {"id": "p", "parallel": [
       {"id": "b", "activity": "y", "input": {"$ref": "/steps/a/output"}},
       {"sequence": [{"id": "c", "activity": "z"},
                     {"id": "d", "activity": "z", "input": {"$ref": "/steps/c/output"}},
                     {"id": "w", "wait": {"event": "approved", "timeout_ms": 1000}}]},
       {"id": "l", "for_each": {"$ref": "/input/xs"}, "concurrency": 8,
        "do": {"id": "e", "activity": "z", "input": {"$ref": "/item"}}}]},
    {"id": "f", "activity": "x", "input": {"$ref": "/steps/p/output/1"}},
    {"id": "g", "wait": {"event": "approved"}})");
  auto p = parse_pipeline_text(doc, "1");
  BOOST_TEST_REQUIRE(p.engaged(), (p ? "" : describe(p.error())));
  const auto& par = p->definition.root.children[1];
  BOOST_TEST(to_string(par.kind) == "parallel");
  BOOST_TEST(par.children.size() == 3u);
  BOOST_TEST(par.children[2].concurrency == 8);
}

BOOST_AUTO_TEST_CASE(accepts_references_that_have_completed) {
  auto doc = with_steps(R"({"id": "a", "activity": "x"},
    {"sequence": [{"id": "b", "activity": "y", "input": {"$ref": "/steps/a/output/k"}}]},
    {"id": "l", "for_each": {"$ref": "/steps/b/output"},
     "do": {"sequence": [{"id": "c", "activity": "z", "input": {"i": {"$ref": "/item"}, "n": {"$ref": "/index"}}},
                         {"id": "d", "activity": "z", "input": {"$ref": "/steps/c/output"}}]}},
    {"id": "e", "activity": "x", "input": {"$ref": "/steps/l/output/0"}})");
  auto p = parse_pipeline_text(doc, "1");
  BOOST_TEST(p.engaged(), (p ? "" : describe(p.error())));
}

BOOST_AUTO_TEST_CASE(parses_a_switch_with_its_cases_in_document_order_and_a_default) {
  auto doc = with_steps(R"({"id": "v", "activity": "v"},
    {"id": "route", "switch": {"$ref": "/steps/v/output/kind"},
     "cases": {"b2b": {"id": "invoice", "activity": "invoice", "input": {"$ref": "/steps/v/output"}},
               "b2c": {"sequence": [{"id": "charge", "activity": "charge"},
                                    {"id": "receipt", "activity": "r", "input": {"$ref": "/steps/charge/output"}}]}},
     "default": {"id": "manual", "wait": {"event": "routed"}}},
    {"id": "ship", "activity": "ship", "input": {"$ref": "/steps/route/output"}})");
  auto p = parse_pipeline_text(doc, "1");
  BOOST_REQUIRE_MESSAGE(p, (p ? "" : describe(p.error())));
  const auto& route = p->definition.root.children[1];
  BOOST_TEST(route.kind == node_kind::switch_);
  BOOST_TEST(std::string{to_string(route.kind)} == "switch");
  BOOST_TEST(route.switch_pointer == "/steps/v/output/kind");
  BOOST_TEST((route.case_keys == std::vector<std::string>{"b2b", "b2c"}));
  BOOST_TEST(route.has_default);
  BOOST_REQUIRE_EQUAL(route.children.size(), 3u);
  BOOST_TEST(route.children[0].id == "invoice");
  BOOST_TEST(route.children[1].kind == node_kind::sequence);
  BOOST_TEST(route.children[2].id == "manual");
  BOOST_TEST(p->definition.node_count == 9u);
}

BOOST_AUTO_TEST_CASE(parses_a_child_node_with_its_queue_version_input_and_retry) {
  auto doc = with_steps(R"({"id": "v", "activity": "v"},
    {"id": "billing", "child": {"queue": "billing", "version": "3"},
     "input": {"order": {"$ref": "/steps/v/output"}}, "retry": {"max_attempts": 2}},
    {"id": "notify", "child": {"queue": "notify"}, "input": {"$ref": "/steps/billing/output"}})");
  auto p = parse_pipeline_text(doc, "1");
  BOOST_REQUIRE_MESSAGE(p, (p ? "" : describe(p.error())));
  const auto& billing = p->definition.root.children[1];
  BOOST_TEST(billing.kind == node_kind::child);
  BOOST_TEST(std::string{to_string(billing.kind)} == "child");
  BOOST_TEST(billing.child_queue == "billing");
  BOOST_TEST(billing.child_version == "3");
  BOOST_TEST(billing.retry.max_attempts == 2);
  BOOST_TEST(boost::json::serialize(billing.input) == R"({"order":{"$ref":"/steps/v/output"}})");
  BOOST_TEST(p->definition.root.children[2].child_version.empty());
}

BOOST_AUTO_TEST_CASE(a_version_is_printed_as_given) {
  auto named = parse_pipeline_text(R"({"name": "p"})", "r1");
  BOOST_REQUIRE(!named);
  BOOST_TEST(describe(named.error()) == "pipeline 'p' version 'r1': field 'root' is missing");
  auto numeric = parse_pipeline_text(R"({"name": "p"})", "12");
  BOOST_REQUIRE(!numeric);
  BOOST_TEST(describe(numeric.error()) == "pipeline 'p' v12: field 'root' is missing");
}

BOOST_AUTO_TEST_CASE(utf8_is_checked_and_overlong_or_surrogate_forms_refused) {
  BOOST_TEST(first_invalid_utf8("plain ascii") == std::string_view::npos);
  BOOST_TEST(first_invalid_utf8("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80") ==
             std::string_view::npos);
  BOOST_TEST(first_invalid_utf8("ab\xc0\xaf") == 2u);       // overlong '/'
  BOOST_TEST(first_invalid_utf8("a\xed\xa0\x80") == 1u);    // a surrogate
  BOOST_TEST(first_invalid_utf8("abc\xe2\x82") == 3u);      // cut short
  BOOST_TEST(first_invalid_utf8("\xf4\x90\x80\x80") == 0u); // above U+10FFFF
  auto doc = parse_pipeline_text("{\"name\": \"\xff\"}", "1");
  BOOST_REQUIRE(!doc);
  BOOST_TEST(describe(doc.error()) ==
             "pipeline v1: invalid UTF-8 at byte 10 (JSON text must be UTF-8)");
}

BOOST_AUTO_TEST_CASE(reports_malformed_json_and_size_limits) {
  auto broken = parse_pipeline_text(R"({"name": "p", "root": })", "3");
  BOOST_REQUIRE(!broken);
  BOOST_TEST(code_of(broken.error()) == errc::malformed_json);
  BOOST_TEST(describe(broken.error()).find("pipeline v3: malformed JSON at byte") == 0u);
  auto trailing = parse_pipeline_text(R"({"name": "p"} x)", "3");
  BOOST_REQUIRE(!trailing);
  BOOST_TEST(describe(trailing.error()).find("unexpected text after the document") !=
             std::string::npos);
  pipeline_limits small;
  small.max_document_bytes = 64;
  auto big = parse_pipeline_text(std::string(65, ' ') + "{}", "3", small);
  BOOST_REQUIRE(!big);
  BOOST_TEST(code_of(big.error()) == errc::payload_too_large);
  BOOST_TEST(describe(big.error()).find("the limit is 64") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(enforces_depth_and_node_count_limits) {
  std::string deep = R"({"id": "leaf", "activity": "x"})";
  for (int i = 0; i < 70; ++i) {
    deep = R"({"sequence": [)" + deep + "]}";
  }
  auto d = parse_pipeline_text(R"({"name": "p", "root": )" + deep + "}", "1");
  BOOST_REQUIRE(!d);
  BOOST_TEST(describe(d.error()).find("nested deeper than 64 levels") != std::string::npos);
  std::string many;
  for (int i = 0; i < 10001; ++i) {
    many +=
      (i ? "," : "") + std::string{R"({"id": "n)"} + std::to_string(i) + R"(", "activity": "x"})";
  }
  pipeline_limits limits;
  limits.max_document_bytes = 4u << 20;
  auto m = parse_pipeline_text(with_steps(many), "1", limits);
  BOOST_REQUIRE(!m);
  BOOST_TEST(describe(m.error()).find("more than 10000 nodes") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(validates_names_and_pointers) {
  BOOST_TEST(is_valid_node_id("reserve_1"));
  BOOST_TEST(!is_valid_node_id(""));
  BOOST_TEST(!is_valid_node_id(std::string(65, 'a')));
  BOOST_TEST(is_valid_version_label("1.2.0-rc1"));
  BOOST_TEST(!is_valid_version_label("1 2"));
  BOOST_TEST(is_valid_queue_name("orders.eu"));
  BOOST_TEST(!is_valid_queue_name("orders/eu"));
  BOOST_TEST(is_valid_json_pointer("/a~0b/c~1d"));
  BOOST_TEST(!is_valid_json_pointer("a/b"));
  BOOST_TEST(!is_valid_json_pointer("/a~"));
}

BOOST_AUTO_TEST_SUITE_END()
