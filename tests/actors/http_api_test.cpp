// The HTTP/JSON API's requests and answers (api/http_api.hpp) against a
// real executing node and its door, without sockets (tests/tools/
// http_test.cpp serves them over HTTP and HTTPS with curl).

#include "actors/activity.hpp"
#include "actors/wall_clock.hpp"
#include "api/http_api.hpp"
#include "config/billing.hpp"
#include "tests/actors/node_fixture.hpp"
#include "tests/printing.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <future>
#include <string>

using namespace flowgate;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const std::string waits_for_go =
  R"({"name":"w","root":{"sequence":[{"id":"w","wait":{"event":"go"}},
                                     {"id":"e","activity":"echo","input":1}]}})";

struct reply {
  int status = 0;
  json::value body;
  http_response raw;

  const json::object& obj() const { return body.as_object(); }
  std::string code() const { return std::string{body.at("error").at("code").as_string()}; }
  std::string message() const { return std::string{body.at("error").at("message").as_string()}; }
  std::string header(const std::string& name) const {
    for (const auto& [k, v] : raw.headers) {
      if (k == name) {
        return v;
      }
    }
    return {};
  }
};

struct http_api_fixture : testing::node_fixture {
  std::string operator_key;
  std::string acme_key;
  http_api_setup setup;
  std::atomic<bool> stopping{false};

  http_api_fixture() {
    auto s = settings();
    s.node_id = "http";
    s.poll_interval_ms = 10;
    restart(s, node_options{true, nullptr});
    for (const auto* t : {"acme", "other"}) {
      BOOST_REQUIRE(n->put_tenant(t, R"({"tier":"pro"})"));
      BOOST_REQUIRE(n->put_config(t, "q", "1", testing::simple_pipeline("echo")));
      BOOST_REQUIRE(n->put_config(t, "w", "1", waits_for_go));
    }
    auto op = n->create_key("", true, "ops");
    BOOST_REQUIRE_MESSAGE(op, (op ? "" : describe(op.error())));
    operator_key = op->key;
    auto ak = n->create_key("acme", false, "acme app");
    BOOST_REQUIRE(ak);
    acme_key = ak->key;
    setup.door = n->door();
    setup.request_timeout_ms = 10'000;
    setup.max_wait_ms = 60'000;
    setup.metrics = metrics_sources{"http",    n->incarnation(), n->writer(), n->dispatcher(),
                                    n->pool(), n->accountant(),  -1};
  }

  /// The value of one exposition line `name{labels} value`, or -1.
  static double sample(const std::string& text, const std::string& series) {
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) {
      return -1;
    }
    return std::stod(text.substr(at + series.size() + 2));
  }

  reply call(const std::string& method, const std::string& target, const std::string& key,
             const std::string& body = {}, const std::string& idempotency_key = {}) {
    http_request req;
    req.method = method;
    req.target = target;
    req.authorization = key.empty() ? std::string{} : "Bearer " + key;
    req.body = body;
    req.idempotency_key = idempotency_key;
    reply out;
    out.raw = handle_request(*sys, setup, req, stopping);
    out.status = out.raw.status;
    if (!out.raw.body.empty()) {
      boost::system::error_code ec;
      out.body = json::parse(out.raw.body, ec);
      BOOST_REQUIRE_MESSAGE(!ec, "not JSON: " << out.raw.body);
    }
    return out;
  }

  reply op(const std::string& method, const std::string& target, const std::string& body = {}) {
    return call(method, target, operator_key, body);
  }

  int64_t start(const std::string& key, const std::string& body) {
    auto r = call("POST", "/v1/runs", key, body);
    BOOST_REQUIRE_MESSAGE(r.status == 201, r.raw.body);
    return r.obj().at("run").as_int64();
  }
};

std::string subscription_with_limit(const std::string& limit) {
  auto [start, end] = calendar_month(wall_clock_ms());
  return R"({"id":"sub_1","status":"active","current_period_start":")" + format_rfc3339(start) +
         R"(","current_period_end":")" + format_rfc3339(end) +
         R"(","price_metadata":{"workflow_step_limit":")" + limit + R"("}})";
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(http_api, http_api_fixture)

BOOST_AUTO_TEST_CASE(health_needs_no_key_and_every_api_request_needs_a_valid_one) {
  auto h = call("GET", "/healthz", "");
  BOOST_TEST(h.status == 200);
  BOOST_TEST(h.obj().at("status").as_string() == "serving");
  for (const auto& key : {std::string{}, std::string{"fgk_nope.nope"}, std::string{"garbage"}}) {
    auto r = call("GET", "/v1/runs", key);
    BOOST_TEST(r.status == 401);
    BOOST_TEST(r.code() == "unauthenticated");
    BOOST_TEST(r.header("WWW-Authenticate") == "Bearer");
  }
  // Nothing was started by a request without a key.
  auto before = count("SELECT count(*) FROM runs");
  auto refused = call("POST", "/v1/runs", "", R"({"tenant":"acme","queue":"q"})");
  BOOST_TEST(refused.status == 401);
  BOOST_TEST(count("SELECT count(*) FROM runs") == before);
  stopping = true;
  BOOST_TEST(call("GET", "/healthz", "").status == 503);
}

BOOST_AUTO_TEST_CASE(a_run_started_over_http_is_driven_and_read_back) {
  auto started = op("POST", "/v1/runs", R"({"tenant":"acme","queue":"q","input":{"x":1}})");
  BOOST_REQUIRE_MESSAGE(started.status == 201, started.raw.body);
  BOOST_TEST(started.obj().at("created").as_bool());
  BOOST_TEST(started.obj().at("tenant").as_string() == "acme");
  BOOST_TEST(json::serialize(started.obj().at("input")) == R"({"x":1})");
  auto id = std::to_string(started.obj().at("run").as_int64());
  auto done = op("GET", "/v1/runs/" + id + "/wait?timeout_ms=20000");
  BOOST_REQUIRE_MESSAGE(done.status == 200, done.raw.body);
  BOOST_TEST(done.obj().at("status").as_string() == "COMPLETED");
  BOOST_TEST(!done.obj().at("timed_out").as_bool());
  auto got = op("GET", "/v1/runs/" + id);
  BOOST_TEST(got.status == 200);
  BOOST_TEST(got.obj().at("status").as_string() == "COMPLETED");
  auto history = op("GET", "/v1/runs/" + id + "/history");
  BOOST_TEST(history.status == 200);
  BOOST_TEST(history.body.as_array().size() >= 3u);
  BOOST_TEST(history.body.as_array().front().at("seq").as_int64() == 1);
  // The ledger's attempts: each counted once, completed, on this node.
  auto attempts = op("GET", "/v1/runs/" + id + "/attempts");
  BOOST_REQUIRE_MESSAGE(attempts.status == 200, attempts.raw.body);
  BOOST_REQUIRE(!attempts.body.as_array().empty());
  BOOST_TEST(static_cast<int64_t>(attempts.body.as_array().size()) ==
             count("SELECT count(*) FROM run_steps WHERE run_id = " + id));
  for (const auto& a : attempts.body.as_array()) {
    BOOST_TEST(a.at("status").as_string() == "completed");
    BOOST_TEST(a.at("attempt").as_int64() == 1);
    BOOST_TEST(!a.at("node_id").as_string().empty());
    BOOST_TEST(a.at("finished_at").as_string() != "-");
  }
  BOOST_TEST(op("GET", "/v1/runs/" + id + "/attempts?x=1").status == 400);
  auto listed = op("GET", "/v1/runs?tenant=acme&status=completed&limit=10");
  BOOST_REQUIRE(listed.status == 200);
  BOOST_REQUIRE(listed.body.as_array().size() == 1u);
  BOOST_TEST(listed.body.as_array()[0].at("run").as_int64() == std::stoll(id));
  BOOST_TEST(op("GET", "/v1/runs?status=running").body.as_array().empty());
  // Idempotency: the header (or the body's field) returns the first run.
  auto first = call("POST", "/v1/runs", operator_key, R"({"tenant":"acme","queue":"q"})", "k-1");
  auto again = call("POST", "/v1/runs", operator_key, R"({"tenant":"acme","queue":"q"})", "k-1");
  BOOST_TEST(first.status == 201);
  BOOST_TEST(again.status == 200);
  BOOST_TEST(!again.obj().at("created").as_bool());
  BOOST_TEST(again.obj().at("run").as_int64() == first.obj().at("run").as_int64());
  auto by_body = op("POST", "/v1/runs", R"({"tenant":"acme","queue":"q","idempotency_key":"k-1"})");
  BOOST_TEST(by_body.obj().at("run").as_int64() == first.obj().at("run").as_int64());
  auto differ = call("POST", "/v1/runs", operator_key,
                     R"({"tenant":"acme","queue":"q","idempotency_key":"k-2"})", "k-1");
  BOOST_TEST(differ.status == 400);
}

BOOST_AUTO_TEST_CASE(a_tenant_key_sees_and_touches_its_own_tenant_only) {
  auto mine = start(acme_key, R"({"queue":"q"})"); // no tenant: the key's
  auto theirs = start(operator_key, R"({"tenant":"other","queue":"w"})");
  BOOST_TEST(op("GET", "/v1/runs/" + std::to_string(mine)).obj().at("tenant").as_string() ==
             "acme");
  // Another tenant's run is answered exactly like a run that does not exist.
  auto hidden = call("GET", "/v1/runs/" + std::to_string(theirs), acme_key);
  auto missing = call("GET", "/v1/runs/999999", acme_key);
  BOOST_TEST(hidden.status == 404);
  BOOST_TEST(missing.status == 404);
  BOOST_TEST(hidden.code() == missing.code());
  BOOST_TEST(hidden.message() == "run " + std::to_string(theirs) + " does not exist");
  BOOST_TEST(missing.message() == "run 999999 does not exist");
  for (const auto* sub : {"/history", "/attempts", "/wait?timeout_ms=10"}) {
    BOOST_TEST(call("GET", "/v1/runs/" + std::to_string(theirs) + sub, acme_key).status == 404);
  }
  auto signal =
    call("POST", "/v1/runs/" + std::to_string(theirs) + "/signal", acme_key, R"({"event":"go"})");
  BOOST_TEST(signal.status == 404);
  auto cancel = call("POST", "/v1/runs/" + std::to_string(theirs) + "/cancel", acme_key);
  BOOST_TEST(cancel.status == 404);
  BOOST_TEST(op("GET", "/v1/runs/" + std::to_string(theirs)).obj().at("status").as_string() !=
             "CANCELED");
  // Listing shows its own runs, whatever tenant it names.
  auto listed = call("GET", "/v1/runs", acme_key);
  BOOST_REQUIRE(listed.status == 200);
  for (const auto& r : listed.body.as_array()) {
    BOOST_TEST(r.at("tenant").as_string() == "acme");
  }
  BOOST_TEST(call("GET", "/v1/runs?tenant=other", acme_key).status == 403);
  // Another tenant by name, and operator requests, are forbidden.
  BOOST_TEST(call("GET", "/v1/tenants/other", acme_key).status == 403);
  BOOST_TEST(call("GET", "/v1/tenants", acme_key).status == 403);
  BOOST_TEST(call("POST", "/v1/quota/scan", acme_key).status == 403);
  BOOST_TEST(call("GET", "/v1/nodes", acme_key).status == 403);
  auto before = count("SELECT count(*) FROM runs WHERE tenant_id = 'other'");
  auto foreign = call("POST", "/v1/runs", acme_key, R"({"tenant":"other","queue":"q"})");
  BOOST_TEST(foreign.status == 403);
  BOOST_TEST(foreign.code() == "forbidden");
  BOOST_TEST(count("SELECT count(*) FROM runs WHERE tenant_id = 'other'") == before);
  BOOST_TEST(call("GET", "/v1/tenants/acme", acme_key).status == 200);
}

BOOST_AUTO_TEST_CASE(bad_requests_are_refused_naming_the_problem_and_store_nothing) {
  auto before = store_fingerprint();
  auto unknown_field = op("POST", "/v1/runs", R"({"tenant":"acme","queue":"q","inptu":{}})");
  BOOST_TEST(unknown_field.status == 400);
  BOOST_TEST(unknown_field.message().find("unknown field 'inptu'") != std::string::npos);
  auto malformed = op("POST", "/v1/runs", R"({"tenant":"acme",)");
  BOOST_TEST(malformed.status == 400);
  BOOST_TEST(malformed.code() == "malformed_json");
  BOOST_TEST(op("POST", "/v1/runs", R"([1,2])").status == 400);
  BOOST_TEST(op("POST", "/v1/runs", R"({"tenant":"acme"})").message() ==
             "field 'queue' is required");
  BOOST_TEST(op("POST", "/v1/runs", R"({"tenant":"acme","queue":7})").message() ==
             "field 'queue' must be a string");
  auto no_queue = op("POST", "/v1/runs", R"({"tenant":"acme","queue":"nope"})");
  BOOST_TEST(no_queue.status == 404);
  BOOST_TEST(no_queue.code() == "unknown_queue");
  BOOST_TEST(op("POST", "/v1/runs", R"({"tenant":"ghost","queue":"q"})").status == 404);
  auto query = op("GET", "/v1/runs?limt=5");
  BOOST_TEST(query.status == 400);
  BOOST_TEST(query.message() == "unknown query parameter 'limt'");
  BOOST_TEST(op("GET", "/v1/runs?limit=0").status == 400);
  BOOST_TEST(op("GET", "/v1/runs?status=DONE").status == 400);
  BOOST_TEST(op("GET", "/v1/runs/abc").status == 400);
  BOOST_TEST(op("GET", "/v1/runs/1/wait?until=later").status == 400);
  BOOST_TEST(op("GET", "/v1/runs/1/wait?timeout_ms=600000").status == 400);
  auto method = op("DELETE", "/v1/runs/1");
  BOOST_TEST(method.status == 405);
  BOOST_TEST(method.header("Allow") == "GET");
  BOOST_TEST(op("GET", "/v1/nothing").status == 404);
  BOOST_TEST(op("GET", "/v2/runs").status == 404);
  BOOST_TEST(op("GET", "/v1/runs/%zz").status == 400);
  BOOST_TEST(op("PUT", "/v1/tenants/acme", R"({"tier":"gold"})").status == 400);
  BOOST_TEST(op("PUT", "/v1/tenants/acme/queues/q/versions/2", R"({"name":)").status == 400);
  BOOST_TEST(store_fingerprint() == before);
}

BOOST_AUTO_TEST_CASE(signals_cancels_and_bounded_waits) {
  auto waiting = start(operator_key, R"({"tenant":"acme","queue":"w"})");
  auto path = "/v1/runs/" + std::to_string(waiting);
  auto parked = op("GET", path + "/wait?until=waiting&timeout_ms=20000");
  BOOST_TEST(parked.obj().at("status").as_string() == "WAITING");
  // A wait that reaches its bound answers the run as it stands.
  auto bounded = op("GET", path + "/wait?timeout_ms=100");
  BOOST_TEST(bounded.status == 200);
  BOOST_TEST(bounded.obj().at("timed_out").as_bool());
  BOOST_TEST(bounded.obj().at("status").as_string() == "WAITING");
  auto sent = op("POST", path + "/signal", R"({"event":"go","payload":{"ok":true}})");
  BOOST_REQUIRE_MESSAGE(sent.status == 200, sent.raw.body);
  BOOST_TEST(sent.obj().at("run").as_int64() == waiting);
  auto done = op("GET", path + "/wait?timeout_ms=20000");
  BOOST_TEST(done.obj().at("status").as_string() == "COMPLETED");
  BOOST_TEST(op("POST", path + "/signal", R"({"event":"go"})").code() == "run_finished");
  auto other = start(operator_key, R"({"tenant":"acme","queue":"w"})");
  auto canceled =
    op("POST", "/v1/runs/" + std::to_string(other) + "/cancel", R"({"reason":"not needed"})");
  BOOST_REQUIRE_MESSAGE(canceled.status == 200, canceled.raw.body);
  auto ended = op("GET", "/v1/runs/" + std::to_string(other) + "/wait?timeout_ms=20000");
  BOOST_TEST(ended.obj().at("status").as_string() == "CANCELED");
  // A stopping server ends a wait at once with 503.
  auto third = start(operator_key, R"({"tenant":"acme","queue":"w"})");
  auto pending = std::async(std::launch::async, [&] {
    return op("GET", "/v1/runs/" + std::to_string(third) + "/wait?timeout_ms=60000");
  });
  std::this_thread::sleep_for(200ms);
  stopping = true;
  auto cut = pending.get();
  BOOST_TEST(cut.status == 503);
  BOOST_TEST(cut.code() == "shutting_down");
}

BOOST_AUTO_TEST_CASE(a_quota_paused_run_resumes_only_once_quota_is_raised) {
  auto sub = op("POST", "/v1/tenants/acme/subscriptions", subscription_with_limit("1"));
  BOOST_REQUIRE_MESSAGE(sub.status == 200, sub.raw.body);
  BOOST_TEST(sub.obj().at("id").as_string() == "sub_1");
  auto first = start(operator_key, R"({"tenant":"acme","queue":"q"})");
  BOOST_TEST(op("GET", "/v1/runs/" + std::to_string(first) + "/wait?timeout_ms=20000")
               .obj()
               .at("status")
               .as_string() == "COMPLETED");
  auto second = start(operator_key, R"({"tenant":"acme","queue":"q"})");
  auto paused =
    op("GET", "/v1/runs/" + std::to_string(second) + "/wait?until=waiting&timeout_ms=20000");
  BOOST_TEST(paused.obj().at("status").as_string() == "WAITING");
  BOOST_TEST(paused.obj().at("wait_reason").as_string() == "quota");
  auto quota = op("GET", "/v1/tenants/acme/quota");
  BOOST_TEST(quota.obj().at("used").as_int64() == 1);
  BOOST_TEST(quota.obj().at("limit").as_int64() == 1);
  BOOST_TEST(quota.obj().at("remaining").as_int64() == 0);
  auto stats = op("GET", "/v1/tenants/acme/stats");
  BOOST_TEST(stats.body.as_array()[0].at("paused_on_quota").as_int64() == 1);
  http_request scrape{"GET", "/metrics", "Bearer " + operator_key, "", ""};
  BOOST_TEST(sample(handle_request(*sys, setup, scrape, stopping).body,
                    R"(flowgate_tenant_runs_paused_on_quota{tenant="acme"})") == 1);
  // Refused while the quota is used up: the structured answer.
  auto refused = op("POST", "/v1/runs/" + std::to_string(second) + "/resume");
  BOOST_TEST(refused.status == 409);
  BOOST_TEST(!refused.obj().at("resumed").as_bool());
  BOOST_TEST(refused.obj().at("error").as_string() == "quota_exhausted");
  BOOST_TEST(refused.obj().at("used").as_int64() == 1);
  BOOST_TEST(refused.obj().at("limit").as_int64() == 1);
  BOOST_TEST(refused.obj().contains("period_start"));
  BOOST_REQUIRE(op("POST", "/v1/tenants/acme/subscriptions", subscription_with_limit("5")).status ==
                200);
  auto resumed = op("POST", "/v1/runs/" + std::to_string(second) + "/resume");
  BOOST_TEST(resumed.status == 200);
  BOOST_TEST(resumed.obj().at("resumed").as_bool());
  BOOST_TEST(op("GET", "/v1/runs/" + std::to_string(second) + "/wait?timeout_ms=20000")
               .obj()
               .at("status")
               .as_string() == "COMPLETED");
  BOOST_TEST(
    op("GET", "/v1/tenants/acme/stats").body.as_array()[0].at("paused_on_quota").as_int64() == 0);
  auto rec = op("GET", "/v1/tenants/acme/quota/reconcile");
  BOOST_TEST(rec.status == 200);
  BOOST_TEST(rec.obj().at("drift").as_int64() == 0);
  BOOST_TEST(rec.obj().at("counter").as_int64() == 2);
  BOOST_TEST(op("GET", "/v1/tenants/acme/subscriptions").body.as_array().size() == 1u);
  BOOST_TEST(op("GET", "/v1/tenants/acme/quota/reconcile?period_start=yesterday").status == 400);
}

BOOST_AUTO_TEST_CASE(tenants_and_configs_answer_like_the_cli) {
  auto put = op("PUT", "/v1/tenants/beta", R"({"tier":"premium","max_concurrent_runs":3})");
  BOOST_REQUIRE_MESSAGE(put.status == 200, put.raw.body);
  BOOST_TEST(put.obj().at("id").as_string() == "beta");
  BOOST_TEST(put.obj().at("tier").as_string() == "premium");
  BOOST_TEST(
    op("GET", "/v1/tenants/beta").obj().at("config").at("max_concurrent_runs").as_int64() == 3);
  BOOST_TEST(op("GET", "/v1/tenants").body.as_array().size() >= 4u);
  auto pipeline = testing::simple_pipeline("echo");
  auto stored = op("PUT", "/v1/tenants/beta/queues/jobs/versions/1", pipeline);
  BOOST_REQUIRE_MESSAGE(stored.status == 201, stored.raw.body);
  BOOST_TEST(stored.obj().at("created").as_bool());
  auto same = op("PUT", "/v1/tenants/beta/queues/jobs/versions/1", pipeline);
  BOOST_TEST(same.status == 200);
  BOOST_TEST(!same.obj().at("created").as_bool());
  auto conflict =
    op("PUT", "/v1/tenants/beta/queues/jobs/versions/1", testing::simple_pipeline("noop"));
  BOOST_TEST(conflict.status == 409);
  BOOST_TEST(conflict.code() == "version_conflict");
  BOOST_TEST(
    op("PUT", "/v1/tenants/beta/queues/jobs/versions/2", testing::simple_pipeline("noop")).status ==
    201);
  auto activated = op("POST", "/v1/tenants/beta/queues/jobs/versions/2/activate");
  BOOST_REQUIRE_MESSAGE(activated.status == 200, activated.raw.body);
  BOOST_TEST(activated.obj().at("version").as_string() == "2");
  auto runnable = op("GET", "/v1/tenants/beta/queues/jobs/config");
  BOOST_TEST(runnable.obj().at("version").as_string() == "2");
  BOOST_TEST(runnable.obj().at("document").is_object());
  BOOST_TEST(op("GET", "/v1/tenants/beta/queues/jobs/versions/1").obj().at("version").as_string() ==
             "1");
  BOOST_TEST(op("GET", "/v1/tenants/beta/queues/jobs/versions/9").status == 404);
  auto listed = op("GET", "/v1/tenants/beta/configs?queue=jobs");
  BOOST_TEST(listed.body.as_array().size() == 2u);
  auto stats = op("GET", "/v1/tenants/beta/stats");
  BOOST_REQUIRE(stats.status == 200);
  BOOST_TEST(stats.body.as_array()[0].at("limit").as_int64() == 3);
  auto scan = op("POST", "/v1/quota/scan");
  BOOST_TEST(scan.status == 200);
  BOOST_TEST(scan.obj().contains("resumed"));
  // The node serving the API lists itself, live.
  auto nodes = op("GET", "/v1/nodes");
  BOOST_REQUIRE_MESSAGE(nodes.status == 200, nodes.raw.body);
  const auto& list = nodes.obj().at("nodes").as_array();
  BOOST_REQUIRE(!list.empty());
  BOOST_TEST(std::any_of(list.begin(), list.end(), [](const json::value& node) {
    return node.at("state").as_string() == "live" && node.at("held_tenants").is_array();
  }));
}

BOOST_AUTO_TEST_CASE(status_codes_follow_http_conventions) {
  BOOST_TEST(status_of(errc::invalid_argument) == 400);
  BOOST_TEST(status_of(errc::malformed_json) == 400);
  BOOST_TEST(status_of(errc::invalid_config) == 400);
  BOOST_TEST(status_of(errc::unauthenticated) == 401);
  BOOST_TEST(status_of(errc::forbidden) == 403);
  BOOST_TEST(status_of(errc::not_found) == 404);
  BOOST_TEST(status_of(errc::unknown_tenant) == 404);
  BOOST_TEST(status_of(errc::version_conflict) == 409);
  BOOST_TEST(status_of(errc::run_finished) == 409);
  BOOST_TEST(status_of(errc::payload_too_large) == 413);
  BOOST_TEST(status_of(errc::tenant_at_limit) == 429);
  BOOST_TEST(status_of(errc::quota_exceeded) == 429);
  BOOST_TEST(status_of(errc::too_many_requests) == 429);
  BOOST_TEST(status_of(errc::shutting_down) == 503);
  BOOST_TEST(status_of(errc::store_busy) == 503);
  BOOST_TEST(status_of(errc::store_failure) == 500);
  // A tenant at its limit in reject mode: 429 with Retry-After.
  BOOST_REQUIRE(
    op("PUT", "/v1/tenants/strict", R"({"max_concurrent_runs":1,"admission":"reject"})").status ==
    200);
  BOOST_REQUIRE(op("PUT", "/v1/tenants/strict/queues/w/versions/1", waits_for_go).status == 201);
  BOOST_REQUIRE(
    op("PUT", "/v1/tenants/strict/queues/q/versions/1",
       R"({"name":"s","root":{"sequence":[{"id":"s","activity":"sleep","input":{"ms":600000}}]}})")
      .status == 201);
  auto holder = start(operator_key, R"({"tenant":"strict","queue":"q"})");
  auto at_limit = op("POST", "/v1/runs", R"({"tenant":"strict","queue":"q"})");
  BOOST_TEST(at_limit.status == 429);
  BOOST_TEST(at_limit.code() == "tenant_at_limit");
  BOOST_TEST(at_limit.header("Retry-After") == "1");
  BOOST_TEST(op("POST", "/v1/runs/" + std::to_string(holder) + "/cancel").status == 200);
}

BOOST_AUTO_TEST_CASE(metrics_are_prometheus_text_scoped_by_the_key) {
  start(operator_key, R"({"tenant":"acme","queue":"w"})"); // waits for its event
  auto done = start(operator_key, R"({"tenant":"other","queue":"q"})");
  op("GET", "/v1/runs/" + std::to_string(done) + "/wait?timeout_ms=20000");
  BOOST_REQUIRE(op("GET", "/v1/runs?tenant=acme&status=waiting").body.as_array().size() == 1u);
  http_request req{"GET", "/metrics", "Bearer " + operator_key, "", ""};
  auto all = handle_request(*sys, setup, req, stopping);
  BOOST_REQUIRE_MESSAGE(all.status == 200, all.body);
  BOOST_TEST(all.content_type == "text/plain; version=0.0.4; charset=utf-8");
  const auto& text = all.body;
  BOOST_TEST(text.find("# TYPE flowgate_runs_started_total counter") != std::string::npos);
  BOOST_TEST(sample(text, "flowgate_runs_started_total") >= 2);
  BOOST_TEST(sample(text, "flowgate_writer_batches_total") > 0);
  BOOST_TEST(sample(text, "flowgate_activity_attempts_total") >= 1);
  // How runs left the node: one completed, one waiting on its event.
  BOOST_TEST(sample(text, R"(flowgate_runs_ended_total{reason="completed"})") >= 1);
  BOOST_TEST(sample(text, R"(flowgate_runs_ended_total{reason="waiting"})") >= 1);
  BOOST_TEST(sample(text, R"(flowgate_runs_ended_total{reason="lost"})") == 0);
  // Leases and fencing (their counts are tested in the actor suites).
  for (const char* name : {"flowgate_leases_renewed_total", "flowgate_leases_taken_over_total",
                           "flowgate_first_steps_claimed_total", "flowgate_nondeterminism_total",
                           "flowgate_writer_fenced_writes_total"}) {
    BOOST_TEST(text.find(std::string{"# TYPE "} + name + " counter") != std::string::npos, name);
    BOOST_TEST(sample(text, name) >= 0);
  }
  BOOST_TEST(sample(text, R"(flowgate_node_info{incarnation="1",node="http"})") == 1);
  BOOST_TEST(sample(text, R"(flowgate_tenant_runs{state="waiting",tenant="acme"})") == 1);
  BOOST_TEST(sample(text, R"(flowgate_tenant_runs{state="running",tenant="other"})") == 0);
  BOOST_TEST(sample(text, R"(flowgate_tenant_quota_used{tenant="other"})") == 1);
  BOOST_TEST(sample(text, R"(flowgate_tenant_quota_limit{tenant="other"})") == 750); // pro tier
  BOOST_TEST(sample(text, R"(flowgate_tenant_quota_remaining{tenant="other"})") == 749);
  // Histograms: batch sizes and commit times, claims, each activity's attempts.
  BOOST_TEST(text.find("# TYPE flowgate_writer_commit_seconds histogram") != std::string::npos);
  BOOST_TEST(sample(text, "flowgate_writer_batch_size_count") > 0);
  BOOST_TEST(sample(text, R"(flowgate_writer_commit_seconds_bucket{le="+Inf"})") ==
             sample(text, "flowgate_writer_commit_seconds_count"));
  BOOST_TEST(sample(text, "flowgate_claim_seconds_count") >= 0);
  BOOST_TEST(sample(text, R"(flowgate_activity_duration_seconds_count{activity="echo"})") >= 1);
  BOOST_TEST(sample(text, R"(flowgate_activity_failures_total{activity="echo"})") == 0);
  // A tenant key sees its own tenant's series only; no key gets 401.
  req.authorization = "Bearer " + acme_key;
  auto mine = handle_request(*sys, setup, req, stopping);
  BOOST_REQUIRE(mine.status == 200);
  BOOST_TEST(mine.body.find(R"(tenant="acme")") != std::string::npos);
  BOOST_TEST(mine.body.find(R"(tenant="other")") == std::string::npos);
  req.authorization.clear();
  BOOST_TEST(handle_request(*sys, setup, req, stopping).status == 401);
  // The cardinality guard: the busiest tenant by name, the rest as "(other)".
  setup.metrics->max_tenants = 1;
  req.authorization = "Bearer " + operator_key;
  auto guarded = handle_request(*sys, setup, req, stopping).body;
  BOOST_TEST(sample(guarded, R"(flowgate_tenant_runs{state="waiting",tenant="acme"})") == 1);
  BOOST_TEST(guarded.find(R"(tenant="default")") == std::string::npos);
  BOOST_TEST(guarded.find(R"(tenant="other")") == std::string::npos);
  BOOST_TEST(sample(guarded, R"x(flowgate_tenant_runs{state="waiting",tenant="(other)"})x") == 0);
  BOOST_TEST(sample(guarded, R"x(flowgate_tenant_runs{state="running",tenant="(other)"})x") == 0);
  BOOST_TEST(guarded.find(R"x(flowgate_tenant_quota_used{tenant="(other)"})x") ==
             std::string::npos);
  setup.metrics->max_tenants = 0;
  BOOST_TEST(handle_request(*sys, setup, req, stopping).body.find("tenant=") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_metrics_feature_adds_per_pipeline_series) {
  BOOST_REQUIRE(op("PUT", "/v1/tenants/acme/queues/m/versions/1",
                   R"({"name":"m","features":["metrics"],"root":{"id":"a","activity":"noop"}})")
                  .status == 201);
  auto with = start(operator_key, R"({"tenant":"acme","queue":"m"})");
  auto without = start(operator_key, R"({"tenant":"acme","queue":"q"})");
  for (auto id : {with, without}) {
    BOOST_REQUIRE(op("GET", "/v1/runs/" + std::to_string(id) + "/wait?timeout_ms=20000")
                    .obj()
                    .at("status")
                    .as_string() == "COMPLETED");
  }
  http_request req{"GET", "/metrics", "Bearer " + operator_key, "", ""};
  auto text = handle_request(*sys, setup, req, stopping).body;
  BOOST_TEST(
    sample(text, R"(flowgate_pipeline_runs_started_total{queue="m",tenant="acme",version="1"})") ==
    1);
  BOOST_TEST(sample(text, R"(flowgate_pipeline_runs_ended_total{queue="m",reason="completed",)"
                          R"(tenant="acme",version="1"})") == 1);
  BOOST_TEST(sample(text, R"(flowgate_pipeline_runs_ended_total{queue="m",reason="failed",)"
                          R"(tenant="acme",version="1"})") == 0);
  // A pipeline without the feature (no `features`: quota only) has none.
  BOOST_TEST(text.find(R"(queue="q")") == std::string::npos);
  // The guard at none: no tenant-labelled series, these included.
  setup.metrics->max_tenants = 0;
  BOOST_TEST(handle_request(*sys, setup, req, stopping).body.find("flowgate_pipeline_") ==
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
