// The gateway (gateway.hpp): the public protocol's requests, each run by a
// request runner of its own that may block on the node's actors.

#include "actors/gateway.hpp"

#include "actors/blocking_ask.hpp"
#include "actors/log.hpp"
#include "actors/run_codec.hpp"
#include "actors/wall_clock.hpp"
#include "config/api_key.hpp"
#include "config/json_text.hpp"
#include "config/pipeline.hpp"
#include "config/schedule.hpp"
#include "config/tenant_config.hpp"
#include "engine/engine.hpp"
#include "engine/planner.hpp"
#include "messages/actor_threads.hpp"
#include "messages/errors.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <memory>
#include <thread>

namespace flowgate {

namespace {

/// The requests' logic, blocking on the node's actors.
class gateway_core {
public:
  gateway_core(caf::actor_system& sys, gateway_setup setup)
      : sys_(sys), settings_(std::move(setup.settings)), writer_(std::move(setup.writer)),
        reader_(std::move(setup.reader)), configs_(std::move(setup.configs)),
        accountant_(std::move(setup.accountant)), scanner_(std::move(setup.scanner)),
        dispatcher_(std::move(setup.dispatcher)), peers_(std::move(setup.peers)),
        request_timeout(setup.request_timeout) {}

  caf::expected<tenant_id> normalize_tenant(std::string_view raw) const;
  caf::expected<tenant_record> put_tenant(std::string_view raw_id, std::string_view config_json);
  caf::expected<tenant_record> get_tenant(std::string_view raw_id);
  caf::expected<std::vector<tenant_record>> list_tenants();
  caf::expected<config_stored> put_config(std::string_view raw_tenant, const std::string& queue,
                                          const std::string& version, std::string text);
  caf::expected<config_view> get_config(std::string_view raw_tenant, const std::string& queue,
                                        const std::string& version);
  caf::expected<config_activated> activate_config(std::string_view raw_tenant,
                                                  const std::string& queue,
                                                  const std::string& version);
  caf::expected<std::vector<config_summary>> list_configs(std::string_view raw_tenant,
                                                          const std::string& queue);
  caf::expected<schema_info> db_info();
  caf::expected<run_created> start_run(std::string_view raw_tenant, const std::string& queue,
                                       const std::string& input_json, const std::string& version,
                                       const std::string& idempotency_key);
  caf::expected<signal_accepted> signal_run(const tenant_scope& scope, int64_t run,
                                            const std::string& event,
                                            const std::string& payload_json);
  caf::expected<cancel_outcome> cancel_run(const tenant_scope& scope, int64_t run,
                                           const std::string& reason);
  caf::expected<bool> poke_run(const tenant_scope& scope, int64_t run);
  caf::expected<bool> take_news(cluster_news news);
  caf::expected<bool> take_hello(peer_hello_request& hello);
  caf::expected<run_record> get_run(const tenant_scope& scope, int64_t run);
  caf::expected<std::vector<run_record>> list_runs(const tenant_scope& scope,
                                                   caf::optional<run_status> status,
                                                   int64_t after_run, int32_t limit);
  caf::expected<std::vector<history_record>> run_history(const tenant_scope& scope, int64_t run);
  caf::expected<std::vector<attempt_record>> run_attempts(const tenant_scope& scope, int64_t run);
  caf::expected<run_record> wait_for_run(const tenant_scope& scope, int64_t run,
                                         std::chrono::milliseconds timeout, bool stop_at_waiting);
  caf::expected<subscription_record> put_subscription(std::string_view raw_tenant,
                                                      std::string_view text);
  caf::expected<std::vector<subscription_record>> list_subscriptions(std::string_view raw_tenant);
  caf::expected<quota_summary> summarize_quota(std::string_view raw_tenant);
  caf::expected<schedule_view> put_schedule(std::string_view raw_tenant, const std::string& id,
                                            std::string_view text);
  caf::expected<std::vector<schedule_view>> list_schedules(std::string_view raw_tenant,
                                                           const std::string& id);
  caf::expected<int64_t> delete_schedule(std::string_view raw_tenant, const std::string& id);
  caf::expected<schedule_view> pause_schedule(std::string_view raw_tenant, const std::string& id,
                                              bool paused);
  caf::expected<resume_outcome> resume_run(std::string_view raw_tenant, int64_t run);
  caf::expected<int64_t> scan_quota_waits();
  caf::expected<usage_reconciliation> reconcile_quota(std::string_view raw_tenant,
                                                      int64_t period_start_ms);
  caf::expected<quota_terms> quota_terms_of(const tenant_id& tenant, bool fresh);
  caf::expected<std::vector<flowgate::tenant_stats>> tenant_stats(std::string_view raw_tenant);
  caf::expected<replay_report> replay(const tenant_scope& scope, int64_t run);
  caf::expected<std::vector<node_record>> list_nodes();
  caf::expected<check_report> check(const tenant_scope& scope, int32_t max_findings);
  caf::expected<key_created> create_key(std::string_view raw_tenant, bool operator_key,
                                        const std::string& name);
  caf::expected<std::vector<api_key_record>> list_keys(std::string_view raw_tenant);
  caf::expected<api_key_record> revoke_key(const std::string& key_id);

private:
  caf::expected<std::pair<tenant_record, quota_terms>> tenant_terms(std::string_view raw_tenant);
  caf::expected<tenant_id> run_tenant(const tenant_scope& scope) const;
  /// A listing's tenant: an empty id (every tenant) for a blank one.
  caf::expected<tenant_id> listing_tenant(std::string_view raw) const;
  /// A signal or cancellation of `run` was stored while `owner` held its
  /// lease: that node's orchestrator is told to read the inbox now.
  void deliver_news(const std::string& owner, run_id run, const tenant_id& tenant);

  caf::actor_system& sys_;
  node_settings settings_;
  store_writer_actor writer_;
  store_reader_actor reader_;
  config_registry_actor configs_;
  quota_accountant_actor accountant_;
  resume_scanner_actor scanner_;
  dispatcher_actor dispatcher_;
  /// Null without a peer key (news then waits for the holder's next append).
  peer_links_actor peers_;
  std::chrono::milliseconds request_timeout;
};

caf::expected<tenant_id> gateway_core::normalize_tenant(std::string_view raw) const {
  auto id = normalize_tenant_id(raw, settings_.default_tenant_id);
  if (!id) {
    return id.error();
  }
  return tenant_id{std::move(*id)};
}

caf::expected<tenant_id> gateway_core::listing_tenant(std::string_view raw) const {
  if (blank_tenant_id(raw)) {
    return tenant_id{};
  }
  return normalize_tenant(raw);
}

caf::expected<tenant_record> gateway_core::put_tenant(std::string_view raw_id,
                                                      std::string_view config_json) {
  auto id = normalize_tenant(raw_id);
  if (!id) {
    return id.error();
  }
  auto parsed = parse_tenant_config_text(config_json, id->value);
  if (!parsed) {
    return parsed.error();
  }
  tenant_record rec{
    *id, parsed->config.name, to_string(parsed->config.tier), parsed->canonical_text, 0, 0};
  auto stored = blocking_ask<tenant_record>(sys_, request_timeout, writer_,
                                            store_tenant{std::move(rec), wall_clock_ms(sys_)});
  if (stored) {
    caf::anon_send(accountant_, put_atom::value, *id); // the tier may have changed
  }
  return stored;
}

caf::expected<tenant_record> gateway_core::get_tenant(std::string_view raw_id) {
  auto id = normalize_tenant(raw_id);
  if (!id) {
    return id.error();
  }
  return blocking_ask<tenant_record>(sys_, request_timeout, reader_, find_tenant{*id});
}

caf::expected<std::vector<tenant_record>> gateway_core::list_tenants() {
  return blocking_ask<std::vector<tenant_record>>(sys_, request_timeout, reader_,
                                                  flowgate::list_tenants{100'000});
}

caf::expected<config_stored> gateway_core::put_config(std::string_view raw_tenant,
                                                      const std::string& queue,
                                                      const std::string& version,
                                                      std::string text) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  return blocking_ask<config_stored>(sys_, request_timeout, configs_, put_atom::value, *id,
                                     queue_name{queue}, config_version{version}, std::move(text));
}

caf::expected<config_view> gateway_core::get_config(std::string_view raw_tenant,
                                                    const std::string& queue,
                                                    const std::string& version) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  auto snap = blocking_ask<config_snapshot_ptr>(sys_, request_timeout, configs_, get_atom::value,
                                                *id, queue_name{queue}, config_version{version});
  if (!snap) {
    return snap.error();
  }
  const auto& s = **snap;
  return config_view{s.tenant,   s.queue,           s.version,
                     s.checksum, s.definition.name, static_cast<int64_t>(s.definition.node_count),
                     s.document};
}

caf::expected<config_activated> gateway_core::activate_config(std::string_view raw_tenant,
                                                              const std::string& queue,
                                                              const std::string& version) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  return blocking_ask<config_activated>(sys_, request_timeout, configs_, activate_atom::value, *id,
                                        queue_name{queue}, config_version{version});
}

caf::expected<std::vector<config_summary>> gateway_core::list_configs(std::string_view raw_tenant,
                                                                      const std::string& queue) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  return blocking_ask<std::vector<config_summary>>(sys_, request_timeout, configs_,
                                                   list_atom::value, *id, queue_name{queue});
}

caf::expected<schema_info> gateway_core::db_info() {
  return blocking_ask<schema_info>(sys_, request_timeout, reader_, read_schema_info{});
}

// -- runs --------------------------------------------------------------------------

caf::expected<tenant_id> gateway_core::run_tenant(const tenant_scope& scope) const {
  if (scope.all) {
    return tenant_id{};
  }
  return normalize_tenant(scope.tenant);
}

namespace {

bool is_valid_label(const std::string& s, size_t max) {
  if (s.empty() || s.size() > max) {
    return false;
  }
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-' || c == ':';
    if (!ok) {
      return false;
    }
  }
  return true;
}

} // namespace

caf::expected<run_created> gateway_core::start_run(std::string_view raw_tenant,
                                                   const std::string& queue,
                                                   const std::string& input_json,
                                                   const std::string& version,
                                                   const std::string& idempotency_key) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  if (!idempotency_key.empty() && !is_valid_label(idempotency_key, 256)) {
    return make_error(errc::invalid_argument, "idempotency key must match [A-Za-z0-9_.:-]{1,256}");
  }
  auto input = parse_json_document(input_json.empty() ? std::string_view{"null"} : input_json,
                                   "run input", static_cast<size_t>(settings_.max_document_bytes));
  if (!input) {
    return input.error();
  }
  auto tenant = blocking_ask<tenant_record>(sys_, request_timeout, reader_, find_tenant{*id});
  if (!tenant) {
    return tenant.error();
  }
  auto snap = blocking_ask<config_snapshot_ptr>(sys_, request_timeout, configs_, get_atom::value,
                                                *id, queue_name{queue}, config_version{version});
  if (!snap) {
    return snap.error();
  }
  run_record r;
  r.tenant = *id;
  r.queue = queue_name{queue};
  r.config_tenant = tenant_id{(*snap)->tenant};
  r.version = config_version{(*snap)->version};
  r.checksum = (*snap)->checksum;
  r.input = boost::json::serialize(*input);
  r.idempotency_key = idempotency_key;
  if (dispatcher_) {
    // A run queued at its tenant's limit is answered by its admission
    // deadline (at most an hour, enforced by the node).
    return blocking_ask<run_created>(sys_, request_timeout + std::chrono::hours{1}, dispatcher_,
                                     start_atom::value, std::move(r));
  }
  create_run op;
  op.run = std::move(r);
  op.default_limit = settings_.tenant_max_concurrent_runs;
  auto created = blocking_ask<run_created>(sys_, request_timeout, writer_, std::move(op));
  if (created) {
    if (auto refused = rejection_error(*created)) {
      return refused;
    }
  }
  return created;
}

caf::expected<subscription_record> gateway_core::put_subscription(std::string_view raw_tenant,
                                                                  std::string_view text) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  auto parsed = parse_subscription_text(text);
  if (!parsed) {
    return parsed.error();
  }
  subscription_record rec{*id,
                          parsed->id,
                          parsed->status,
                          parsed->period_start_ms,
                          parsed->period_end_ms,
                          parsed->price_metadata,
                          parsed->product_metadata,
                          0};
  auto stored = blocking_ask<subscription_record>(sys_, request_timeout, writer_,
                                                  store_subscription{std::move(rec), 0});
  if (stored) {
    caf::anon_send(accountant_, put_atom::value, *id);
  }
  return stored;
}

caf::expected<std::vector<subscription_record>>
gateway_core::list_subscriptions(std::string_view raw_tenant) {
  auto t = get_tenant(raw_tenant);
  if (!t) {
    return t.error();
  }
  return blocking_ask<std::vector<subscription_record>>(sys_, request_timeout, reader_,
                                                        flowgate::list_subscriptions{t->id});
}

namespace {

/// A stored schedule with its next fire times.
schedule_view view_of(schedule_record rec) {
  schedule_view out;
  if (rec.next_fire_ms > 0) {
    out.upcoming.push_back(rec.next_fire_ms);
    if (auto spec = parse_schedule_text(rec.document)) {
      auto more = upcoming_fires(*spec, rec.next_fire_ms, 4);
      out.upcoming.insert(out.upcoming.end(), more.begin(), more.end());
    }
  }
  out.schedule = std::move(rec);
  return out;
}

} // namespace

caf::expected<schedule_view> gateway_core::put_schedule(std::string_view raw_tenant,
                                                        const std::string& id,
                                                        std::string_view text) {
  auto t = get_tenant(raw_tenant);
  if (!t) {
    return t.error();
  }
  if (auto err = check_schedule_id(id)) {
    return err;
  }
  auto spec = parse_schedule_text(text);
  if (!spec) {
    return spec.error();
  }
  // The queue (and the version it names) must exist now; a version made
  // unrunnable later fails that fire, reported in the schedule's outcome.
  auto snap =
    blocking_ask<config_snapshot_ptr>(sys_, request_timeout, configs_, get_atom::value, t->id,
                                      queue_name{spec->queue}, config_version{spec->version});
  if (!snap) {
    return snap.error();
  }
  schedule_record rec;
  rec.tenant = t->id;
  rec.id = id;
  rec.document = std::move(spec->canonical);
  auto stored = blocking_ask<schedule_record>(sys_, request_timeout, writer_,
                                              store_schedule{std::move(rec), 0});
  if (!stored) {
    return stored.error();
  }
  return view_of(std::move(*stored));
}

caf::expected<std::vector<schedule_view>> gateway_core::list_schedules(std::string_view raw_tenant,
                                                                       const std::string& id) {
  auto t = get_tenant(raw_tenant);
  if (!t) {
    return t.error();
  }
  if (!id.empty()) {
    if (auto err = check_schedule_id(id)) {
      return err;
    }
  }
  auto rows = blocking_ask<std::vector<schedule_record>>(sys_, request_timeout, reader_,
                                                         flowgate::list_schedules{t->id, id});
  if (!rows) {
    return rows.error();
  }
  if (!id.empty() && rows->empty()) {
    return unknown_schedule(t->id.value, id);
  }
  std::vector<schedule_view> out;
  for (auto& r : *rows) {
    out.push_back(view_of(std::move(r)));
  }
  return out;
}

caf::expected<int64_t> gateway_core::delete_schedule(std::string_view raw_tenant,
                                                     const std::string& id) {
  auto t = get_tenant(raw_tenant);
  if (!t) {
    return t.error();
  }
  auto n =
    blocking_ask<int64_t>(sys_, request_timeout, writer_, flowgate::delete_schedule{t->id, id});
  if (n && *n == 0) {
    return unknown_schedule(t->id.value, id);
  }
  return n;
}

caf::expected<schedule_view> gateway_core::pause_schedule(std::string_view raw_tenant,
                                                          const std::string& id, bool paused) {
  auto t = get_tenant(raw_tenant);
  if (!t) {
    return t.error();
  }
  auto rec = blocking_ask<schedule_record>(sys_, request_timeout, writer_,
                                           flowgate::pause_schedule{t->id, id, paused, 0});
  if (!rec) {
    return rec.error();
  }
  return view_of(std::move(*rec));
}

caf::expected<quota_terms> gateway_core::quota_terms_of(const tenant_id& tenant, bool fresh) {
  if (fresh) {
    caf::anon_send(accountant_, put_atom::value, tenant);
  }
  return blocking_ask<quota_terms>(sys_, request_timeout, accountant_, get_atom::value, tenant);
}

caf::expected<std::pair<tenant_record, quota_terms>>
gateway_core::tenant_terms(std::string_view raw_tenant) {
  auto t = get_tenant(raw_tenant);
  if (!t) {
    return t.error();
  }
  auto terms = quota_terms_of(t->id, true);
  if (!terms) {
    return terms.error();
  }
  return std::make_pair(std::move(*t), std::move(*terms));
}

caf::expected<quota_summary> gateway_core::summarize_quota(std::string_view raw_tenant) {
  auto both = tenant_terms(raw_tenant);
  if (!both) {
    return both.error();
  }
  const auto& [t, terms] = *both;
  quota_summary out;
  out.tenant = t.id.value;
  out.tier = t.tier;
  out.period = billing_period{terms.period_start_ms, terms.period_end_ms, terms.period_source,
                              terms.limit,           terms.limit_source,  terms.warnings};
  auto used = blocking_ask<int64_t>(sys_, request_timeout, reader_,
                                    find_usage{t.id, out.period.start_ms, out.period.end_ms});
  if (!used) {
    return used.error();
  }
  out.used = *used;
  out.remaining = out.period.limit < 0 ? -1 : std::max<int64_t>(out.period.limit - out.used, 0);
  return out;
}

caf::expected<resume_outcome> gateway_core::resume_run(std::string_view raw_tenant, int64_t run) {
  if (raw_tenant.empty()) {
    return make_error(errc::invalid_argument, "resuming a run needs the tenant it belongs to");
  }
  auto both = tenant_terms(raw_tenant);
  if (!both) {
    return both.error();
  }
  auto out = blocking_ask<resume_outcome>(
    sys_, request_timeout, writer_, flowgate::resume_run{run_id{run}, std::move(both->second), 0});
  if (out && out->resumed && dispatcher_) {
    caf::anon_send(dispatcher_, poll_atom::value);
  }
  return out;
}

caf::expected<int64_t> gateway_core::scan_quota_waits() {
  return blocking_ask<int64_t>(sys_, request_timeout, scanner_, wake_atom::value);
}

caf::expected<usage_reconciliation> gateway_core::reconcile_quota(std::string_view raw_tenant,
                                                                  int64_t period_start_ms) {
  auto t = get_tenant(raw_tenant);
  if (!t) {
    return t.error();
  }
  reconcile_usage q{t->id, period_start_ms, 0};
  if (period_start_ms == 0) {
    auto terms = quota_terms_of(t->id, true);
    if (!terms) {
      return terms.error();
    }
    q.period_start_ms = terms->period_start_ms;
    q.period_end_ms = terms->period_end_ms;
  }
  return blocking_ask<usage_reconciliation>(sys_, request_timeout, reader_, q);
}

caf::expected<std::vector<tenant_stats>> gateway_core::tenant_stats(std::string_view raw_tenant) {
  auto id = listing_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  return blocking_ask<std::vector<flowgate::tenant_stats>>(
    sys_, request_timeout, reader_,
    read_tenant_stats{*id, wall_clock_ms(sys_), settings_.tenant_max_concurrent_runs});
}

caf::expected<signal_accepted> gateway_core::signal_run(const tenant_scope& scope, int64_t run,
                                                        const std::string& event,
                                                        const std::string& payload_json) {
  auto id = run_tenant(scope);
  if (!id) {
    return id.error();
  }
  if (!is_valid_label(event, 128)) {
    return make_error(errc::invalid_argument,
                      "event name '" + event + "' must match [A-Za-z0-9_.:-]{1,128}");
  }
  auto payload =
    parse_json_document(payload_json.empty() ? std::string_view{"null"} : payload_json,
                        "signal payload", static_cast<size_t>(settings_.max_document_bytes));
  if (!payload) {
    return payload.error();
  }
  auto out = blocking_ask<signal_accepted>(
    sys_, request_timeout, writer_,
    flowgate::signal_run{*id, run_id{run}, event, boost::json::serialize(*payload), 0});
  if (out && out->status == run_status::waiting && dispatcher_) {
    // The signal made the waiting run due: this node claims it now instead
    // of at its next poll (any node may; the first claim wins).
    caf::anon_send(dispatcher_, poll_atom::value);
  }
  if (out) {
    deliver_news(out->lease_owner, run_id{run}, *id);
  }
  return out;
}

void gateway_core::deliver_news(const std::string& owner, run_id run, const tenant_id& tenant) {
  if (owner.empty()) {
    return;
  }
  if (owner == settings_.node_id) {
    if (dispatcher_) {
      caf::anon_send(dispatcher_, inbox_atom::value, run, tenant);
    }
    return;
  }
  if (peers_) {
    caf::anon_send(peers_, poke_atom::value, node_id{owner}, run, tenant);
  }
}

caf::expected<bool> gateway_core::poke_run(const tenant_scope& scope, int64_t run) {
  auto id = run_tenant(scope);
  if (!id) {
    return id.error();
  }
  if (!dispatcher_) {
    return false; // holds no runs
  }
  return blocking_ask<bool>(sys_, request_timeout, dispatcher_, inbox_atom::value, run_id{run},
                            *id);
}

caf::expected<bool> gateway_core::take_news(cluster_news news) {
  if (!dispatcher_) {
    return false; // executes nothing
  }
  caf::anon_send(dispatcher_, news_atom::value, std::move(news));
  return true;
}

caf::expected<bool> gateway_core::take_hello(peer_hello_request& hello) {
  if (!peers_) {
    return make_error(errc::invalid_argument,
                      "node '" + settings_.node_id +
                        "' links to no peers: it was started without a peer key");
  }
  if (!hello.door || hello.node.empty() || hello.node == settings_.node_id) {
    return make_error(errc::invalid_argument, "a peer hello names its node and its door");
  }
  caf::anon_send(peers_, link_atom::value, node_id{hello.node}, hello.address,
                 caf::actor_cast<gateway_actor>(hello.door), std::string{});
  return true;
}

caf::expected<cancel_outcome> gateway_core::cancel_run(const tenant_scope& scope, int64_t run,
                                                       const std::string& reason) {
  auto id = run_tenant(scope);
  if (!id) {
    return id.error();
  }
  auto out = blocking_ask<cancel_outcome>(
    sys_, request_timeout, writer_,
    flowgate::cancel_run{*id, run_id{run}, reason.empty() ? "canceled by operator" : reason, 0});
  if (out && !out->canceled_now) {
    // Stored in the inbox of a run under a live lease: its holder cancels it.
    deliver_news(out->run.lease_owner, out->run.id, out->run.tenant);
  }
  return out;
}

caf::expected<run_record> gateway_core::get_run(const tenant_scope& scope, int64_t run) {
  auto id = run_tenant(scope);
  if (!id) {
    return id.error();
  }
  return blocking_ask<run_record>(sys_, request_timeout, reader_, find_run{*id, run_id{run}});
}

caf::expected<std::vector<run_record>> gateway_core::list_runs(const tenant_scope& scope,
                                                               caf::optional<run_status> status,
                                                               int64_t after_run, int32_t limit) {
  auto id = run_tenant(scope);
  if (!id) {
    return id.error();
  }
  if (status && !is_valid(*status)) {
    return make_error(errc::invalid_argument,
                      "status " + std::to_string(static_cast<int>(*status)) +
                        " is not a run status (PENDING, RUNNING, WAITING, COMPLETED, FAILED "
                        "or CANCELED)");
  }
  return blocking_ask<std::vector<run_record>>(sys_, request_timeout, reader_,
                                               flowgate::list_runs{*id, status, after_run, limit});
}

caf::expected<std::vector<history_record>> gateway_core::run_history(const tenant_scope& scope,
                                                                     int64_t run) {
  auto r = get_run(scope, run);
  if (!r) {
    return r.error();
  }
  return blocking_ask<std::vector<history_record>>(sys_, request_timeout, reader_,
                                                   load_history{run_id{run}, 0});
}

caf::expected<std::vector<attempt_record>> gateway_core::run_attempts(const tenant_scope& scope,
                                                                      int64_t run) {
  auto r = get_run(scope, run);
  if (!r) {
    return r.error();
  }
  return blocking_ask<std::vector<attempt_record>>(sys_, request_timeout, reader_,
                                                   load_attempts{run_id{run}});
}

caf::expected<run_record> gateway_core::wait_for_run(const tenant_scope& scope, int64_t run,
                                                     std::chrono::milliseconds timeout,
                                                     bool stop_at_waiting) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto r = get_run(scope, run);
    if (!r) {
      return r.error();
    }
    if (is_terminal(r->status) || (stop_at_waiting && r->status == run_status::waiting)) {
      return r;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(errc::deadline_exceeded, "run " + std::to_string(run) + " is still " +
                                                   to_string(r->status) + " after " +
                                                   std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

caf::expected<replay_report> gateway_core::replay(const tenant_scope& scope, int64_t run) {
  auto r = get_run(scope, run);
  if (!r) {
    return r.error();
  }
  replay_report out;
  out.run = run;
  out.tenant = r->tenant.value;
  out.status = r->status;
  auto records = blocking_ask<std::vector<history_record>>(sys_, request_timeout, reader_,
                                                           load_history{run_id{run}, 0});
  if (!records) {
    return records.error();
  }
  out.events = static_cast<int64_t>(records->size());
  auto snap = blocking_ask<config_snapshot_ptr>(sys_, request_timeout, configs_, get_atom::value,
                                                r->config_tenant, r->queue, r->version);
  if (!snap) {
    out.deterministic = false;
    out.message = "cannot load pinned config: " + describe(snap.error());
    return out;
  }
  auto history = from_records(*records);
  if (!history) {
    out.deterministic = false;
    out.message = describe(history.error());
    return out;
  }
  boost::system::error_code ec;
  auto input = parse_json(r->input, ec);
  // What the run's driver would plan next from this history (nothing is
  // in flight here: an attempt without an outcome would be cut off).
  engine::plan_context ctx;
  ctx.next_seq = r->next_seq;
  ctx.now_ms = wall_clock_ms(sys_);
  ctx.node_path = r->node_path;
  ctx.inbox_fresh = true;
  ctx.hold_timer_ms = settings_.hold_timer_ms;
  auto p = engine::plan((*snap)->definition, input, std::move(*history), ctx);
  out.engine_state = engine::to_string(p.initial_state);
  if (p.conflict) {
    out.deterministic = false;
    out.message = engine::describe(*p.conflict);
  }
  return out;
}

caf::expected<std::vector<node_record>> gateway_core::list_nodes() {
  auto nodes =
    blocking_ask<std::vector<node_record>>(sys_, request_timeout, reader_, flowgate::list_nodes{});
  if (!nodes || !peers_) {
    return nodes; // no links: nothing to say about reachability
  }
  auto links =
    blocking_ask<std::vector<peer_link>>(sys_, request_timeout, peers_, stats_atom::value);
  if (!links) {
    return links.error();
  }
  for (auto& n : *nodes) {
    if (n.node.value == settings_.node_id) {
      n.link = "self";
      continue;
    }
    for (const auto& l : *links) {
      if (l.node == n.node && l.address == n.address) {
        n.link = l.state;
        n.link_since_ms = l.since_ms;
        n.link_error = l.error;
      }
    }
  }
  return nodes;
}

/// A key record as it may be shown: without its secret's hash.
api_key_record shown_key(api_key_record k) {
  k.secret_sha256.clear();
  return k;
}

caf::expected<key_created> gateway_core::create_key(std::string_view raw_tenant, bool operator_key,
                                                    const std::string& name) {
  std::string tenant;
  if (!operator_key) {
    auto id = normalize_tenant(raw_tenant);
    if (!id) {
      return id.error();
    }
    tenant = id->value;
  }
  if (name.size() > 200) {
    return make_error(errc::invalid_argument, "a key's name is at most 200 bytes");
  }
  auto key = new_api_key();
  if (!key) {
    return key.error();
  }
  api_key_record rec{key->id, tenant, name, api_key_hash(key->secret), 0, 0};
  auto stored =
    blocking_ask<api_key_record>(sys_, request_timeout, writer_, store_api_key{std::move(rec), 0});
  if (!stored) {
    return stored.error();
  }
  return key_created{shown_key(std::move(*stored)), format_api_key(*key)};
}

caf::expected<std::vector<api_key_record>> gateway_core::list_keys(std::string_view raw_tenant) {
  auto id = listing_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  list_api_keys q{id->value.empty(), id->value};
  auto keys = blocking_ask<std::vector<api_key_record>>(sys_, request_timeout, reader_, q);
  if (keys) {
    for (auto& k : *keys) {
      k = shown_key(std::move(k));
    }
  }
  return keys;
}

caf::expected<api_key_record> gateway_core::revoke_key(const std::string& key_id) {
  auto out =
    blocking_ask<api_key_record>(sys_, request_timeout, writer_, revoke_api_key{key_id, 0});
  if (out) {
    *out = shown_key(std::move(*out));
  }
  return out;
}

caf::expected<check_report> gateway_core::check(const tenant_scope& scope, int32_t max_findings) {
  auto id = run_tenant(scope);
  if (!id) {
    return id.error();
  }
  if (max_findings < 0) {
    return make_error(errc::invalid_argument, "max findings must be 0 or more");
  }
  // A check reads the whole database: it may take long on a big one.
  return blocking_ask<check_report>(
    sys_, std::chrono::hours{1}, reader_,
    check_database{*id, 0, settings_.tenant_max_concurrent_runs, max_findings});
}

// -- the actors --------------------------------------------------------------------

/// A request that needs one tenant: operator scope is refused.
caf::expected<std::string> tenant_of(const tenant_scope& scope, const char* request) {
  if (scope.all) {
    return make_error(errc::invalid_argument,
                      std::string{request} +
                        " acts on one tenant; give a tenant, not every tenant");
  }
  return scope.tenant;
}

/// A request only operators may make.
caf::error operator_only(const tenant_scope& scope, const char* request) {
  if (!scope.all) {
    return make_error(errc::invalid_argument,
                      std::string{request} + " needs operator scope (every tenant)");
  }
  return {};
}

/// Runs `f` with the request's tenant, or answers the scope error.
template <class F>
auto with_tenant(const tenant_scope& scope, const char* request, F f) -> decltype(f("")) {
  auto t = tenant_of(scope, request);
  if (!t) {
    return t.error();
  }
  return f(*t);
}

template <class F>
auto as_operator(const tenant_scope& scope, const char* request, F f) -> decltype(f()) {
  if (auto err = operator_only(scope, request)) {
    return err;
  }
  return f();
}

/// A tenant record as it may be shown: without its secrets' values.
caf::expected<tenant_record> shown(caf::expected<tenant_record> t) {
  if (t) {
    t->config_json = redact_secrets(t->config_json);
  }
  return t;
}

/// Answers one request, then exits.
gateway_actor::behavior_type request_runner(gateway_actor::pointer self,
                                            std::shared_ptr<gateway_core> core) {
  mark_detached_thread(self->home_system());
  auto done = [self](auto x) {
    self->quit();
    return x;
  };
  using caf::result;
  return {
    // Tenant configs leave the node with their secrets' values removed.
    [=](put_tenant_request& r) -> result<tenant_record> {
      return done(shown(with_tenant(r.scope, "tenant put", [&](const std::string& t) {
        return core->put_tenant(t, r.config_json);
      })));
    },
    [=](get_tenant_request& r) -> result<tenant_record> {
      return done(shown(with_tenant(r.scope, "tenant get",
                                    [&](const std::string& t) { return core->get_tenant(t); })));
    },
    [=](list_tenants_request& r) -> result<std::vector<tenant_record>> {
      auto all = as_operator(r.scope, "tenant list", [&] { return core->list_tenants(); });
      if (all) {
        for (auto& t : *all) {
          t.config_json = redact_secrets(t.config_json);
        }
      }
      return done(std::move(all));
    },
    [=](tenant_stats_request& r) -> result<std::vector<tenant_stats>> {
      return done(core->tenant_stats(r.scope.all ? std::string{} : r.scope.tenant));
    },
    [=](put_config_request& r) -> result<config_stored> {
      return done(with_tenant(r.scope, "config put", [&](const std::string& t) {
        return core->put_config(t, r.queue, r.version, std::move(r.text));
      }));
    },
    [=](get_config_request& r) -> result<config_view> {
      return done(with_tenant(r.scope, "config get", [&](const std::string& t) {
        return core->get_config(t, r.queue, r.version);
      }));
    },
    [=](activate_config_request& r) -> result<config_activated> {
      return done(with_tenant(r.scope, "config activate", [&](const std::string& t) {
        return core->activate_config(t, r.queue, r.version);
      }));
    },
    [=](list_configs_request& r) -> result<std::vector<config_summary>> {
      return done(with_tenant(r.scope, "config list", [&](const std::string& t) {
        return core->list_configs(t, r.queue);
      }));
    },
    [=](db_info_request& r) -> result<schema_info> {
      return done(as_operator(r.scope, "db info", [&] { return core->db_info(); }));
    },
    [=](start_run_request& r) -> result<run_created> {
      return done(with_tenant(r.scope, "run start", [&](const std::string& t) {
        return core->start_run(t, r.queue, r.input_json, r.version, r.idempotency_key);
      }));
    },
    [=](signal_run_request& r) -> result<signal_accepted> {
      return done(core->signal_run(r.scope, r.run, r.event, r.payload_json));
    },
    [=](cancel_run_request& r) -> result<cancel_outcome> {
      return done(core->cancel_run(r.scope, r.run, r.reason));
    },
    [=](poke_run_request& r) -> result<bool> { return done(core->poke_run(r.scope, r.run)); },
    [=](peer_hello_request& r) -> result<bool> {
      return done(as_operator(r.scope, "peer hello", [&] { return core->take_hello(r); }));
    },
    [=](cluster_news_request& r) -> result<bool> {
      return done(
        as_operator(r.scope, "cluster news", [&] { return core->take_news(std::move(r.news)); }));
    },
    [=](get_run_request& r) -> result<run_record> { return done(core->get_run(r.scope, r.run)); },
    [=](list_runs_request& r) -> result<std::vector<run_record>> {
      return done(core->list_runs(r.scope, r.status, r.after_run, r.limit));
    },
    [=](run_history_request& r) -> result<std::vector<history_record>> {
      return done(core->run_history(r.scope, r.run));
    },
    [=](run_attempts_request& r) -> result<std::vector<attempt_record>> {
      return done(core->run_attempts(r.scope, r.run));
    },
    [=](wait_run_request& r) -> result<run_record> {
      return done(core->wait_for_run(r.scope, r.run, std::chrono::milliseconds{r.timeout_ms},
                                     r.stop_at_waiting));
    },
    [=](replay_run_request& r) -> result<replay_report> {
      return done(core->replay(r.scope, r.run));
    },
    [=](put_subscription_request& r) -> result<subscription_record> {
      return done(with_tenant(r.scope, "subscription set", [&](const std::string& t) {
        return core->put_subscription(t, r.text);
      }));
    },
    [=](list_subscriptions_request& r) -> result<std::vector<subscription_record>> {
      return done(with_tenant(r.scope, "subscription get",
                              [&](const std::string& t) { return core->list_subscriptions(t); }));
    },
    [=](put_schedule_request& r) -> result<schedule_view> {
      return done(with_tenant(r.scope, "schedule put", [&](const std::string& t) {
        return core->put_schedule(t, r.id, r.text);
      }));
    },
    [=](get_schedule_request& r) -> result<schedule_view> {
      return done(with_tenant(r.scope, "schedule get",
                              [&](const std::string& t) -> caf::expected<schedule_view> {
                                auto all = core->list_schedules(t, r.id);
                                if (!all) {
                                  return all.error();
                                }
                                return std::move(all->front());
                              }));
    },
    [=](list_schedules_request& r) -> result<std::vector<schedule_view>> {
      return done(with_tenant(r.scope, "schedule list",
                              [&](const std::string& t) { return core->list_schedules(t, ""); }));
    },
    [=](delete_schedule_request& r) -> result<int64_t> {
      return done(with_tenant(r.scope, "schedule delete", [&](const std::string& t) {
        return core->delete_schedule(t, r.id);
      }));
    },
    [=](pause_schedule_request& r) -> result<schedule_view> {
      return done(
        with_tenant(r.scope, r.paused ? "schedule pause" : "schedule resume",
                    [&](const std::string& t) { return core->pause_schedule(t, r.id, r.paused); }));
    },
    [=](quota_summary_request& r) -> result<quota_summary> {
      return done(with_tenant(r.scope, "quota summary",
                              [&](const std::string& t) { return core->summarize_quota(t); }));
    },
    [=](resume_run_request& r) -> result<resume_outcome> {
      return done(with_tenant(r.scope, "run resume",
                              [&](const std::string& t) { return core->resume_run(t, r.run); }));
    },
    [=](reconcile_quota_request& r) -> result<usage_reconciliation> {
      return done(with_tenant(r.scope, "quota reconcile", [&](const std::string& t) {
        return core->reconcile_quota(t, r.period_start_ms);
      }));
    },
    [=](scan_quota_request& r) -> result<int64_t> {
      return done(as_operator(r.scope, "quota scan", [&] { return core->scan_quota_waits(); }));
    },
    [=](list_nodes_request& r) -> result<std::vector<node_record>> {
      return done(as_operator(r.scope, "cluster status", [&] { return core->list_nodes(); }));
    },
    [=](check_request& r) -> result<check_report> {
      return done(core->check(r.scope, r.max_findings));
    },
    [=](create_key_request& r) -> result<key_created> {
      return done(as_operator(r.scope, "key create",
                              [&] { return core->create_key(r.tenant, r.operator_key, r.name); }));
    },
    [=](list_keys_request& r) -> result<std::vector<api_key_record>> {
      return done(as_operator(r.scope, "key list", [&] { return core->list_keys(r.tenant); }));
    },
    [=](revoke_key_request& r) -> result<api_key_record> {
      return done(as_operator(r.scope, "key revoke", [&] { return core->revoke_key(r.key_id); }));
    },
  };
}

gateway_actor spawn_runner(gateway_actor::pointer self, const std::shared_ptr<gateway_core>& core) {
  auto& sys = self->home_system();
  if (spawns_detached(sys)) {
    return sys.spawn<caf::detached>(request_runner, core);
  }
  return sys.spawn(request_runner, core);
}

gateway_actor::behavior_type gateway(gateway_actor::pointer self,
                                     std::shared_ptr<gateway_core> core) {
  // Every request goes to a runner of its own, which answers the caller.
  auto run = [self, core](auto& request) {
    return self->delegate(spawn_runner(self, core), std::move(request));
  };
  return {
    [=](put_tenant_request& r) { return run(r); },
    [=](get_tenant_request& r) { return run(r); },
    [=](list_tenants_request& r) { return run(r); },
    [=](tenant_stats_request& r) { return run(r); },
    [=](put_config_request& r) { return run(r); },
    [=](get_config_request& r) { return run(r); },
    [=](activate_config_request& r) { return run(r); },
    [=](list_configs_request& r) { return run(r); },
    [=](db_info_request& r) { return run(r); },
    [=](start_run_request& r) { return run(r); },
    [=](signal_run_request& r) { return run(r); },
    [=](cancel_run_request& r) { return run(r); },
    [=](poke_run_request& r) { return run(r); },
    [=](cluster_news_request& r) { return run(r); },
    [=](peer_hello_request& r) { return run(r); },
    [=](get_run_request& r) { return run(r); },
    [=](list_runs_request& r) { return run(r); },
    [=](run_history_request& r) { return run(r); },
    [=](run_attempts_request& r) { return run(r); },
    [=](wait_run_request& r) { return run(r); },
    [=](replay_run_request& r) { return run(r); },
    [=](put_subscription_request& r) { return run(r); },
    [=](list_subscriptions_request& r) { return run(r); },
    [=](put_schedule_request& r) { return run(r); },
    [=](get_schedule_request& r) { return run(r); },
    [=](list_schedules_request& r) { return run(r); },
    [=](delete_schedule_request& r) { return run(r); },
    [=](pause_schedule_request& r) { return run(r); },
    [=](quota_summary_request& r) { return run(r); },
    [=](resume_run_request& r) { return run(r); },
    [=](reconcile_quota_request& r) { return run(r); },
    [=](scan_quota_request& r) { return run(r); },
    [=](list_nodes_request& r) { return run(r); },
    [=](check_request& r) { return run(r); },
    [=](create_key_request& r) { return run(r); },
    [=](list_keys_request& r) { return run(r); },
    [=](revoke_key_request& r) { return run(r); },
  };
}

} // namespace

gateway_actor spawn_gateway(caf::actor_system& sys, gateway_setup setup) {
  auto core = std::make_shared<gateway_core>(sys, std::move(setup));
  return sys.spawn(gateway, std::move(core));
}

} // namespace flowgate
