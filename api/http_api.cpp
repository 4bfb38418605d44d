#include "api/http_api.hpp"

#include "actors/gateway_client.hpp"
#include "actors/wall_clock.hpp"
#include "api/console_assets.hpp"
#include "api/views.hpp"
#include "config/billing.hpp"
#include "config/json_text.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <map>
#include <set>
#include <thread>

namespace flowgate {

namespace json = boost::json;

namespace {

http_response json_response(int status, const json::value& v) {
  return http_response{status, json::serialize(v), "application/json", {}};
}

/// `%XX` escapes decoded; in a query, '+' is a space. A bad escape clears
/// `ok`.
std::string percent_decode(std::string_view text, bool plus_is_space, bool& ok) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      int v = 0;
      if (i + 3 > text.size()) {
        ok = false;
        return {};
      }
      auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, v, 16);
      if (ec != std::errc{} || end != text.data() + i + 3) {
        ok = false;
        return {};
      }
      out.push_back(static_cast<char>(v));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

/// A request's path segments and query parameters, decoded.
struct target {
  std::vector<std::string> path;
  std::map<std::string, std::string> query;
};

std::optional<target> parse_target(const std::string& raw) {
  target t;
  auto q = raw.find('?');
  std::string_view path{raw.data(), q == std::string::npos ? raw.size() : q};
  if (path.empty() || path.front() != '/') {
    return std::nullopt;
  }
  bool ok = true;
  size_t pos = 1;
  while (pos <= path.size()) {
    auto next = path.find('/', pos);
    if (next == std::string_view::npos) {
      next = path.size();
    }
    auto seg = path.substr(pos, next - pos);
    if (!seg.empty()) {
      t.path.push_back(percent_decode(seg, false, ok));
    }
    pos = next + 1;
  }
  if (q != std::string::npos) {
    std::string_view query{raw.data() + q + 1, raw.size() - q - 1};
    size_t start = 0;
    while (start < query.size()) {
      auto amp = query.find('&', start);
      if (amp == std::string_view::npos) {
        amp = query.size();
      }
      auto pair = query.substr(start, amp - start);
      if (!pair.empty()) {
        auto eq = pair.find('=');
        auto key = percent_decode(pair.substr(0, eq), true, ok);
        auto value = eq == std::string_view::npos ? std::string{}
                                                  : percent_decode(pair.substr(eq + 1), true, ok);
        t.query[key] = value;
      }
      start = amp + 1;
    }
  }
  if (!ok) {
    return std::nullopt;
  }
  return t;
}

/// Query parameters, each read once; the ones never read are refused.
class query_args {
public:
  explicit query_args(std::map<std::string, std::string> xs) : xs_(std::move(xs)) {}

  std::string text(const std::string& name, std::string fallback = {}) {
    read_.insert(name);
    auto it = xs_.find(name);
    return it == xs_.end() ? fallback : it->second;
  }

  caf::expected<int64_t> integer(const std::string& name, int64_t fallback, int64_t lo,
                                 int64_t hi) {
    read_.insert(name);
    auto it = xs_.find(name);
    if (it == xs_.end() || it->second.empty()) {
      return fallback;
    }
    int64_t x = 0;
    const auto& s = it->second;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (ec != std::errc{} || end != s.data() + s.size() || x < lo || x > hi) {
      return make_error(errc::invalid_argument,
                        "query parameter '" + name + "' must be an integer from " +
                          std::to_string(lo) + " to " + std::to_string(hi) + ", got '" + s + "'");
    }
    return x;
  }

  /// An error naming the first parameter no endpoint reads.
  caf::error unknown() const {
    for (const auto& [k, v] : xs_) {
      if (read_.count(k) == 0) {
        return make_error(errc::invalid_argument, "unknown query parameter '" + k + "'");
      }
    }
    return {};
  }

private:
  std::map<std::string, std::string> xs_;
  std::set<std::string> read_;
};

/// A JSON object body whose fields are checked against the ones allowed.
caf::expected<json::object> body_object(const std::string& body,
                                        std::initializer_list<const char*> allowed) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return json::object{};
  }
  auto v = parse_json_document(body, "request body");
  if (!v) {
    return v.error();
  }
  if (!v->is_object()) {
    return make_error(errc::invalid_argument, "the request body must be a JSON object");
  }
  for (const auto& [k, x] : v->as_object()) {
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; })) {
      std::string names;
      for (const auto* a : allowed) {
        names += names.empty() ? a : std::string{", "} + a;
      }
      return make_error(errc::invalid_argument, "unknown field '" + std::string{k} +
                                                  "' in the request body (fields: " + names + ")");
    }
  }
  return std::move(v->as_object());
}

caf::expected<std::string> string_field(const json::object& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end() || it->value().is_null()) {
    return std::string{};
  }
  if (!it->value().is_string()) {
    return make_error(errc::invalid_argument, std::string{"field '"} + name + "' must be a string");
  }
  return std::string{it->value().as_string()};
}

/// A JSON field as text for the gateway ("null" when absent).
std::string value_text(const json::object& o, const char* name) {
  auto it = o.find(name);
  return it == o.end() ? std::string{"null"} : json::serialize(it->value());
}

caf::expected<int64_t> run_number(const std::string& word) {
  int64_t x = 0;
  auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), x);
  if (ec != std::errc{} || end != word.data() + word.size() || x <= 0) {
    return make_error(errc::invalid_argument, "a run id is a positive integer, got '" + word + "'");
  }
  return x;
}

/// The key of `Authorization: Bearer KEY` (empty when absent: the door
/// answers 401).
std::string bearer_key(const std::string& header) {
  constexpr std::string_view scheme = "bearer ";
  if (header.size() <= scheme.size()) {
    return {};
  }
  for (size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i]) {
      return {};
    }
  }
  auto key = header.substr(scheme.size());
  key.erase(0, key.find_first_not_of(' '));
  key.erase(key.find_last_not_of(' ') + 1);
  return key;
}

template <class T, class F> http_response answer(const caf::expected<T>& x, F&& view) {
  if (!x) {
    return error_response(x.error());
  }
  return json_response(200, view(*x));
}

/// `?status=` (any case; empty: any status).
caf::expected<caf::optional<run_status>> status_filter(const std::string& text) {
  if (text.empty()) {
    return caf::optional<run_status>{};
  }
  auto status = run_status_from_any_case(text);
  if (!status) {
    return make_error(errc::invalid_argument,
                      "query parameter 'status' must be PENDING, RUNNING, WAITING, COMPLETED, "
                      "FAILED or CANCELED, got '" +
                        text + "'");
  }
  return caf::optional<run_status>{*status};
}

/// 405 with the methods the path takes.
http_response method_not_allowed(const char* allow) {
  return http_response{405, "", "application/json", {{"Allow", allow}}};
}

http_response no_endpoint(const http_request& req) {
  return error_response(404, errc::not_found, "no such endpoint: " + req.method + " " + req.target);
}

/// Refuses a request to a one-method endpoint: another method (405), or a
/// query parameter the endpoint did not read (400). Nothing when it may go on.
std::optional<http_response> only(const char* method, const http_request& req,
                                  const query_args& q) {
  if (req.method != method) {
    return method_not_allowed(method);
  }
  if (auto err = q.unknown()) {
    return error_response(err);
  }
  return std::nullopt;
}

/// The run endpoints under /v1/runs.
http_response runs_endpoint(gateway_client& c, const http_request& req, const target& t,
                            const http_api_setup& setup, const std::atomic<bool>& stopping) {
  query_args q{t.query};
  const auto& m = req.method;
  auto scope_of = [&] {
    auto tenant = q.text("tenant");
    return tenant.empty() ? tenant_scope::all_tenants() : tenant_scope{tenant};
  };
  if (t.path.size() == 2) {
    if (m == "POST") {
      if (auto err = q.unknown()) {
        return error_response(err);
      }
      auto o =
        body_object(req.body, {"tenant", "queue", "input", "config_version", "idempotency_key"});
      if (!o) {
        return error_response(o.error());
      }
      auto tenant = string_field(*o, "tenant");
      auto queue = string_field(*o, "queue");
      auto version = string_field(*o, "config_version");
      auto key = string_field(*o, "idempotency_key");
      for (const auto* x : {&tenant, &queue, &version, &key}) {
        if (!*x) {
          return error_response(x->error());
        }
      }
      if (queue->empty()) {
        return error_response(400, errc::invalid_argument, "field 'queue' is required");
      }
      if (!key->empty() && !req.idempotency_key.empty() && *key != req.idempotency_key) {
        return error_response(400, errc::invalid_argument,
                              "the Idempotency-Key header and the body's idempotency_key differ");
      }
      auto created = c.start_run(*tenant, *queue, value_text(*o, "input"), *version,
                                 key->empty() ? req.idempotency_key : *key);
      if (!created) {
        return error_response(created.error());
      }
      auto out = views::run(created->run);
      out["created"] = created->created;
      return json_response(created->created ? 201 : 200, out);
    }
    if (m == "GET") {
      auto status = status_filter(q.text("status"));
      if (!status) {
        return error_response(status.error());
      }
      auto after = q.integer("after", 0, 0, INT64_MAX);
      auto limit = q.integer("limit", 100, 1, 1000);
      auto scope = scope_of();
      for (const auto* x : {&after, &limit}) {
        if (!*x) {
          return error_response(x->error());
        }
      }
      if (auto err = q.unknown()) {
        return error_response(err);
      }
      return answer(c.list_runs(scope, *status, *after, static_cast<int32_t>(*limit)),
                    [](const auto& xs) { return json::value(views::runs(xs)); });
    }
    return method_not_allowed("GET, POST");
  }
  auto id = run_number(t.path[2]);
  if (!id) {
    return error_response(id.error());
  }
  auto scope = scope_of();
  std::string sub = t.path.size() > 3 ? t.path[3] : std::string{};
  if (t.path.size() > 4) {
    return no_endpoint(req);
  }
  if (sub.empty()) {
    if (auto r = only("GET", req, q)) {
      return *r;
    }
    return answer(c.get_run(scope, *id), [](const auto& r) { return json::value(views::run(r)); });
  }
  if (sub == "history") {
    if (auto r = only("GET", req, q)) {
      return *r;
    }
    return answer(c.run_history(scope, *id),
                  [](const auto& xs) { return json::value(views::history(xs)); });
  }
  if (sub == "attempts") {
    if (auto r = only("GET", req, q)) {
      return *r;
    }
    return answer(c.run_attempts(scope, *id),
                  [](const auto& xs) { return json::value(views::attempts(xs)); });
  }
  if (sub == "wait") {
    auto timeout = q.integer("timeout_ms", 30'000, 0, setup.max_wait_ms);
    auto until = q.text("until", "finished");
    if (auto r = only("GET", req, q)) {
      return *r;
    }
    if (!timeout) {
      return error_response(timeout.error());
    }
    if (until != "finished" && until != "waiting") {
      return error_response(400, errc::invalid_argument,
                            "query parameter 'until' must be 'finished' or 'waiting', got '" +
                              until + "'");
    }
    // Polled here rather than in one gateway request, so that a stopping
    // server ends it at once and no gateway thread waits with it.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{*timeout};
    for (;;) {
      auto r = c.get_run(scope, *id);
      if (!r) {
        return error_response(r.error());
      }
      bool done =
        is_terminal(r->status) || (until == "waiting" && r->status == run_status::waiting);
      if (done || std::chrono::steady_clock::now() >= deadline) {
        auto out = views::run(*r);
        out["timed_out"] = !done;
        return json_response(200, out);
      }
      if (stopping) {
        return error_response(503, errc::shutting_down,
                              "the node is stopping; wait again elsewhere");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
  }
  if (sub == "signal") {
    if (auto r = only("POST", req, q)) {
      return *r;
    }
    auto o = body_object(req.body, {"event", "payload"});
    if (!o) {
      return error_response(o.error());
    }
    auto event = string_field(*o, "event");
    if (!event) {
      return error_response(event.error());
    }
    if (event->empty()) {
      return error_response(400, errc::invalid_argument, "field 'event' is required");
    }
    return answer(c.signal_run(scope, *id, *event, value_text(*o, "payload")),
                  [&](const auto& s) { return json::value(views::signal(*id, s)); });
  }
  if (sub == "cancel") {
    if (auto r = only("POST", req, q)) {
      return *r;
    }
    auto o = body_object(req.body, {"reason"});
    if (!o) {
      return error_response(o.error());
    }
    auto reason = string_field(*o, "reason");
    if (!reason) {
      return error_response(reason.error());
    }
    return answer(c.cancel_run(scope, *id, *reason),
                  [](const auto& x) { return json::value(views::cancel(x)); });
  }
  if (sub == "resume") {
    if (auto r = only("POST", req, q)) {
      return *r;
    }
    if (auto o = body_object(req.body, {}); !o) {
      return error_response(o.error());
    }
    // The resume names the run's tenant: the one the scope finds it in.
    auto run = c.get_run(scope, *id);
    if (!run) {
      return error_response(run.error());
    }
    auto r = c.resume_run(run->tenant.value, *id);
    if (!r) {
      return error_response(r.error());
    }
    // Refused while the quota is used up: the structured answer, 409.
    return json_response(r->resumed ? 200 : 409, views::resume(*id, *r));
  }
  return no_endpoint(req);
}

/// The tenant endpoints under /v1/tenants.
http_response tenants_endpoint(gateway_client& c, const http_request& req, const target& t) {
  query_args q{t.query};
  const auto& m = req.method;
  const auto& p = t.path;
  if (p.size() == 2) {
    if (auto r = only("GET", req, q)) {
      return *r;
    }
    return answer(c.list_tenants(), [](const auto& xs) { return json::value(views::tenants(xs)); });
  }
  const auto& tenant = p[2];
  if (p.size() == 3) {
    if (m == "PUT") {
      if (auto err = q.unknown()) {
        return error_response(err);
      }
      return answer(c.put_tenant(tenant, req.body),
                    [](const auto& x) { return json::value(views::tenant(x)); });
    }
    if (m != "GET") {
      return method_not_allowed("GET, PUT");
    }
    if (auto err = q.unknown()) {
      return error_response(err);
    }
    return answer(c.get_tenant(tenant),
                  [](const auto& x) { return json::value(views::tenant(x)); });
  }
  const auto& what = p[3];
  if (p.size() == 4 && what == "stats") {
    if (auto r = only("GET", req, q)) {
      return *r;
    }
    return answer(c.tenant_stats(tenant),
                  [](const auto& xs) { return json::value(views::stats(xs)); });
  }
  if (p.size() == 4 && what == "configs") {
    auto queue = q.text("queue");
    if (auto r = only("GET", req, q)) {
      return *r;
    }
    return answer(c.list_configs(tenant, queue),
                  [](const auto& xs) { return json::value(views::configs(xs)); });
  }
  if (p.size() == 4 && what == "quota") {
    if (auto r = only("GET", req, q)) {
      return *r;
    }
    return answer(c.summarize_quota(tenant),
                  [](const auto& x) { return json::value(views::quota(x)); });
  }
  if (p.size() == 5 && what == "quota" && p[4] == "reconcile") {
    auto period = q.text("period_start");
    if (auto r = only("GET", req, q)) {
      return *r;
    }
    int64_t start = 0;
    if (!period.empty()) {
      auto parsed = parse_rfc3339(period);
      if (!parsed) {
        return error_response(400, errc::invalid_argument,
                              "query parameter 'period_start': " + describe(parsed.error()));
      }
      start = *parsed;
    }
    auto r = c.reconcile_quota(tenant, start);
    if (!r) {
      return error_response(r.error());
    }
    return json_response(200, views::reconciliation(*r));
  }
  if (p.size() == 4 && what == "subscriptions") {
    if (m == "POST") {
      if (auto err = q.unknown()) {
        return error_response(err);
      }
      return answer(c.put_subscription(tenant, req.body),
                    [](const auto& x) { return json::value(views::subscription_stored(x)); });
    }
    if (m != "GET") {
      return method_not_allowed("GET, POST");
    }
    if (auto err = q.unknown()) {
      return error_response(err);
    }
    return answer(c.list_subscriptions(tenant),
                  [](const auto& xs) { return json::value(views::subscriptions(xs)); });
  }
  if (what == "queues" && p.size() == 6 && p[5] == "config") {
    if (auto r = only("GET", req, q)) {
      return *r;
    }
    return answer(c.view_config(tenant, p[4], ""),
                  [](const auto& x) { return json::value(views::config(x)); });
  }
  if (what == "queues" && p.size() >= 7 && p[5] == "versions") {
    const auto& queue = p[4];
    const auto& version = p[6];
    if (p.size() == 8 && p[7] == "activate") {
      if (auto r = only("POST", req, q)) {
        return *r;
      }
      return answer(c.activate_config(tenant, queue, version),
                    [](const auto& x) { return json::value(views::config_activated(x)); });
    }
    if (p.size() != 7) {
      return no_endpoint(req);
    }
    if (m == "PUT") {
      if (auto err = q.unknown()) {
        return error_response(err);
      }
      auto stored = c.put_config(tenant, queue, version, req.body);
      if (!stored) {
        return error_response(stored.error());
      }
      return json_response(stored->created ? 201 : 200, views::config_stored(*stored));
    }
    if (m != "GET") {
      return method_not_allowed("GET, PUT");
    }
    if (auto err = q.unknown()) {
      return error_response(err);
    }
    return answer(c.view_config(tenant, queue, version),
                  [](const auto& x) { return json::value(views::config(x)); });
  }
  return no_endpoint(req);
}

} // namespace

int status_of(errc code) {
  switch (code) {
  case errc::invalid_argument:
  case errc::malformed_json:
  case errc::invalid_config:
    return 400;
  case errc::unauthenticated:
    return 401;
  case errc::forbidden:
    return 403;
  case errc::unknown_tenant:
  case errc::unknown_queue:
  case errc::unknown_version:
  case errc::not_found:
    return 404;
  case errc::version_conflict:
  case errc::run_finished:
  case errc::quota_exhausted:
    return 409;
  case errc::payload_too_large:
    return 413;
  case errc::quota_exceeded:
  case errc::tenant_at_limit:
  case errc::too_many_requests:
    return 429;
  case errc::node_unreachable:
    return 502;
  case errc::store_busy:
  case errc::store_full:
  case errc::store_io:
  case errc::shutting_down:
    return 503;
  case errc::deadline_exceeded:
    return 504;
  default:
    return 500;
  }
}

http_response error_response(int status, errc code, const std::string& message) {
  auto r = json_response(
    status, json::object{{"error", json::object{{"code", to_string(code)}, {"message", message}}}});
  if (status == 401) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  if (status == 429 || status == 503) {
    r.headers.emplace_back("Retry-After", "1");
  }
  return r;
}

http_response error_response(const caf::error& err) {
  auto code = code_of(err);
  if (code == errc::none) {
    // A CAF error: the request timed out or the door is gone.
    return error_response(503, errc::deadline_exceeded, describe(err));
  }
  return error_response(status_of(code), code, describe(err));
}

http_response handle_request(caf::actor_system& sys, const http_api_setup& setup,
                             const http_request& req, const std::atomic<bool>& stopping) {
  auto t = parse_target(req.target);
  if (!t) {
    return error_response(400, errc::invalid_argument,
                          "malformed request target (a path with %XX escapes): " + req.target);
  }
  const auto& p = t->path;
  if (p.size() == 1 && p[0] == "healthz") {
    if (req.method != "GET") {
      return method_not_allowed("GET");
    }
    return stopping ? error_response(503, errc::shutting_down, "the node is stopping")
                    : json_response(200, json::object{{"status", "serving"}});
  }
  if (p.size() == 1 && p[0] == "metrics" && setup.metrics) {
    if (req.method != "GET") {
      return method_not_allowed("GET");
    }
    if (!t->query.empty()) {
      return error_response(400, errc::invalid_argument, "/metrics takes no query parameters");
    }
    gateway_client scraper{sys, setup.door, bearer_key(req.authorization)};
    scraper.request_timeout = std::chrono::milliseconds{setup.request_timeout_ms};
    auto text = render_metrics(sys, *setup.metrics, scraper, scraper.request_timeout);
    if (!text) {
      return error_response(text.error());
    }
    return http_response{200, std::move(*text), "text/plain; version=0.0.4; charset=utf-8", {}};
  }
  if (p.empty() || p[0] == "console") {
    std::string path;
    for (const auto& segment : p) {
      path += "/" + segment;
    }
    if (auto asset = console_asset_at(path.empty() ? "/" : path)) {
      if (req.method != "GET") {
        return method_not_allowed("GET");
      }
      // The page runs only its own script and style, talks only to this
      // node, and is never framed.
      return http_response{
        200,
        std::string{asset->body},
        std::string{asset->content_type},
        {{"Cache-Control", "no-cache"},
         {"X-Content-Type-Options", "nosniff"},
         {"Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "
                                     "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                                     "form-action 'self'; frame-ancestors 'none'"}}};
    }
  }
  if (p.size() < 2 || p[0] != "v1") {
    return no_endpoint(req);
  }
  gateway_client client{sys, setup.door, bearer_key(req.authorization)};
  client.request_timeout = std::chrono::milliseconds{setup.request_timeout_ms};
  if (p[1] == "runs") {
    return runs_endpoint(client, req, *t, setup, stopping);
  }
  if (p[1] == "tenants") {
    return tenants_endpoint(client, req, *t);
  }
  if (p.size() == 2 && p[1] == "nodes") {
    if (auto r = only("GET", req, query_args{t->query})) {
      return *r;
    }
    return answer(client.list_nodes(), [](const auto& xs) {
      return json::value(json::object{{"nodes", views::nodes(xs, wall_clock_ms())}});
    });
  }
  if (p.size() == 3 && p[1] == "quota" && p[2] == "scan") {
    if (req.method != "POST") {
      return method_not_allowed("POST");
    }
    return answer(client.scan_quota_waits(), [](int64_t n) {
      return json::value(json::object{{"resumed", n}});
    });
  }
  return no_endpoint(req);
}

} // namespace flowgate
