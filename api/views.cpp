#include "api/views.hpp"

#include "config/json_text.hpp"

#include <boost/json/value.hpp>

#include <algorithm>
#include <ctime>

namespace flowgate::views {

namespace json = boost::json;

namespace {

/// A stored JSON text as a value: null when empty, the text itself as a
/// string when it does not parse.
json::value embedded(const std::string& text) {
  if (text.empty()) {
    return nullptr;
  }
  boost::system::error_code ec;
  auto v = parse_json(text, ec);
  return ec ? json::value(text) : v;
}

json::value limit_value(int64_t limit) {
  return limit < 0 ? json::value("unlimited") : json::value(limit);
}

json::value optional_time(int64_t ms) {
  return ms > 0 ? json::value(format_rfc3339(ms)) : json::value(nullptr);
}

} // namespace

std::string format_time(int64_t ms) {
  if (ms <= 0) {
    return "-";
  }
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json::object run(const run_record& r) {
  return json::object{{"run", r.id.value},
                      {"tenant", r.tenant.value},
                      {"queue", r.queue.value},
                      {"config_tenant", r.config_tenant.value},
                      {"config_version", r.version.value},
                      {"config_checksum", r.checksum},
                      {"status", to_string(r.status)},
                      {"wait_reason", to_string(r.wait_reason)},
                      {"node_path", r.node_path},
                      {"input", embedded(r.input)},
                      {"output", embedded(r.output)},
                      {"error_type", r.error_type},
                      {"error_message", r.error_message},
                      {"idempotency_key", r.idempotency_key},
                      {"next_seq", r.next_seq},
                      {"lease_owner", r.lease_owner},
                      {"lease_epoch", r.epoch},
                      {"lease_expires_at", format_time(r.lease_expires_at_ms)},
                      {"created_at", format_time(r.created_at_ms)},
                      {"started_at", format_time(r.started_at_ms)},
                      {"finished_at", format_time(r.finished_at_ms)},
                      {"updated_at", format_time(r.updated_at_ms)}};
}

json::array runs(const std::vector<run_record>& xs) {
  json::array out;
  for (const auto& r : xs) {
    out.push_back(run(r));
  }
  return out;
}

json::array history(const std::vector<history_record>& xs) {
  json::array out;
  for (const auto& e : xs) {
    boost::system::error_code ec;
    auto payload = parse_json(e.payload, ec);
    out.push_back(json::object{{"seq", e.seq},
                               {"type", e.type},
                               {"node_path", e.node_path},
                               {"attempt", e.attempt},
                               {"payload", ec ? json::value(e.payload) : payload},
                               {"at", format_time(e.created_at_ms)}});
  }
  return out;
}

json::array attempts(const std::vector<attempt_record>& xs) {
  json::array out;
  for (const auto& a : xs) {
    out.push_back(json::object{{"step", a.step_path},
                               {"attempt", a.attempt},
                               {"status", a.status},
                               {"node_id", a.node},
                               {"lease_epoch", a.lease_epoch},
                               {"started_at", format_time(a.started_at_ms)},
                               {"finished_at", format_time(a.finished_at_ms)},
                               {"period_start", format_time(a.period_start_ms)},
                               {"period_end", format_time(a.period_end_ms)},
                               {"error_type", a.error_type},
                               {"error_message", a.error_message}});
  }
  return out;
}

json::object signal(int64_t run, const signal_accepted& s) {
  return json::object{{"run", run}, {"signal_id", s.signal_id}, {"status", to_string(s.status)}};
}

json::object cancel(const cancel_outcome& c) {
  auto o = run(c.run);
  o["canceled_now"] = c.canceled_now;
  return o;
}

json::object resume(int64_t run, const resume_outcome& r) {
  if (r.resumed) {
    return json::object{{"run", run}, {"resumed", true}};
  }
  const auto& x = r.exhausted;
  return json::object{{"run", run},
                      {"resumed", false},
                      {"error", "quota_exhausted"},
                      {"tenant", x.tenant.value},
                      {"node_path", x.node_path},
                      {"used", x.used},
                      {"limit", limit_value(x.limit)},
                      {"period_start", format_rfc3339(x.period_start_ms)},
                      {"period_end", format_rfc3339(x.period_end_ms)}};
}

json::object tenant(const tenant_record& t) {
  return json::object{{"id", t.id.value},
                      {"name", t.name},
                      {"tier", t.tier},
                      {"config", embedded(t.config_json)},
                      {"created_at", format_time(t.created_at_ms)},
                      {"updated_at", format_time(t.updated_at_ms)}};
}

json::array tenants(const std::vector<tenant_record>& xs) {
  json::array out;
  for (const auto& t : xs) {
    out.push_back(tenant(t));
  }
  return out;
}

json::array stats(const std::vector<tenant_stats>& xs) {
  json::array out;
  for (const auto& x : xs) {
    out.push_back(
      json::object{{"tenant", x.tenant.value},
                   {"running", x.running},
                   {"queued", x.queued},
                   {"waiting", x.waiting},
                   {"paused_on_quota", x.paused_on_quota},
                   {"limit", x.limit},
                   {"permits_free", x.limit > 0 ? std::max<int64_t>(x.limit - x.running, 0) : -1},
                   {"admission", x.admission},
                   {"soft_limit", x.soft_limit},
                   {"hard_limit", x.hard_limit},
                   {"rejected", json::object{{"tenant_at_limit", x.rejected_at_limit},
                                             {"soft_limit", x.rejected_soft},
                                             {"hard_limit", x.rejected_hard}}}});
  }
  return out;
}

json::object config_stored(const flowgate::config_stored& c) {
  return json::object{{"tenant", c.tenant.value},
                      {"queue", c.queue.value},
                      {"version", c.version.value},
                      {"checksum", c.checksum},
                      {"created", c.created}};
}

json::object config(const config_view& v) {
  return json::object{{"tenant", v.tenant},
                      {"queue", v.queue},
                      {"version", v.version},
                      {"checksum", v.checksum},
                      {"pipeline", v.pipeline_name},
                      {"nodes", v.node_count},
                      {"document", embedded(v.document)}};
}

json::object config_activated(const flowgate::config_activated& c) {
  return json::object{{"tenant", c.tenant.value},
                      {"queue", c.queue.value},
                      {"version", c.version.value},
                      {"previous", c.previous.value}};
}

json::array configs(const std::vector<config_summary>& xs) {
  json::array out;
  for (const auto& c : xs) {
    out.push_back(json::object{{"tenant", c.tenant.value},
                               {"queue", c.queue.value},
                               {"version", c.version.value},
                               {"checksum", c.checksum},
                               {"pipeline", c.pipeline_name},
                               {"active", c.active},
                               {"created_at", format_time(c.created_at_ms)}});
  }
  return out;
}

json::object subscription_stored(const subscription_record& s) {
  return json::object{{"tenant", s.tenant.value}, {"id", s.id}, {"status", s.status}};
}

json::array subscriptions(const std::vector<subscription_record>& xs) {
  json::array out;
  for (const auto& x : xs) {
    out.push_back(json::object{{"id", x.id},
                               {"status", x.status},
                               {"current_period_start", optional_time(x.period_start_ms)},
                               {"current_period_end", optional_time(x.period_end_ms)},
                               {"price_metadata", embedded(x.price_metadata)},
                               {"product_metadata", embedded(x.product_metadata)}});
  }
  return out;
}

json::object quota(const quota_summary& q) {
  const auto& p = q.period;
  json::array warnings;
  for (const auto& w : p.warnings) {
    warnings.push_back(json::value(w));
  }
  return json::object{{"tenant", q.tenant},
                      {"tier", q.tier},
                      {"period_start", format_rfc3339(p.start_ms)},
                      {"period_end", format_rfc3339(p.end_ms)},
                      {"period_source", p.period_source},
                      {"limit", limit_value(p.limit)},
                      {"limit_source", p.limit_source},
                      {"used", q.used},
                      {"remaining", limit_value(q.remaining)},
                      {"warnings", warnings}};
}

json::object reconciliation(const usage_reconciliation& r) {
  return json::object{{"tenant", r.tenant.value},
                      {"period_start", format_rfc3339(r.period_start_ms)},
                      {"period_end", format_rfc3339(r.period_end_ms)},
                      {"counter", r.counter},
                      {"ledger", r.ledger},
                      {"drift", r.drift}};
}

const char* node_state(const node_record& x) {
  if (x.stopped_at_ms != 0) {
    return "stopped";
  }
  return x.live ? "live" : "dead";
}

json::array nodes(const std::vector<node_record>& xs, int64_t now_ms) {
  json::array out;
  for (const auto& x : xs) {
    json::array tenants;
    for (const auto& t : x.held_tenants) {
      tenants.push_back(json::value(t));
    }
    json::array owned;
    for (const auto& t : x.owned_tenants) {
      owned.push_back(json::value(t));
    }
    out.push_back(json::object{{"node_id", x.node.value},
                               {"state", node_state(x)},
                               {"live", x.live},
                               {"incarnation", x.incarnation},
                               {"host", x.host},
                               {"pid", x.pid},
                               {"address", x.address},
                               {"lease_ttl_ms", x.ttl_ms},
                               {"held_runs", x.held_runs},
                               {"held_tenants", tenants},
                               {"owned_tenants", owned},
                               {"started_at", format_time(x.started_at_ms)},
                               {"heartbeat_at", format_time(x.heartbeat_at_ms)},
                               {"heartbeat_age_ms", now_ms - x.heartbeat_at_ms},
                               {"stopped_at", format_time(x.stopped_at_ms)},
                               {"link", x.link},
                               {"link_since", format_time(x.link_since_ms)},
                               {"link_error", x.link_error}});
  }
  return out;
}

} // namespace flowgate::views
