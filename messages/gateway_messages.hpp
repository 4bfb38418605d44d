#pragma once

/// The public protocol: every request a client may make of a node (runs,
/// tenants, configs, subscriptions, quota, membership), as serializable
/// messages to the node's `gateway` (messages/interfaces.hpp,
/// `gateway_actor`). Each carries the caller's `tenant_scope`:
/// - run requests see the scope's runs; another tenant's run is answered
///   exactly like a missing one (`not_found`, "run N does not exist");
/// - tenant, config, subscription and quota requests act on the scope's
///   tenant (a blank id is the default tenant); they need one tenant, not
///   operator scope;
/// - operator requests (tenant list, schema info, quota scan, membership)
///   need operator scope (`tenant_scope::all_tenants()`).
/// Scope violations are `invalid_argument` naming the request.

#include "config/billing.hpp"
#include "messages/check_messages.hpp"
#include "messages/ids.hpp"
#include "messages/quota_messages.hpp"
#include "messages/run_messages.hpp"
#include "messages/schedule_messages.hpp"
#include "messages/store_messages.hpp"

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace flowgate {

// -- answers that only the gateway gives ------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, billing_period& x) {
  return f(caf::meta::type_name("flowgate::billing_period"), x.start_ms, x.end_ms, x.period_source,
           x.limit, x.limit_source, x.warnings);
}

/// Outcome of replaying one stored run against its pipeline and this engine.
struct replay_report {
  int64_t run = 0;
  std::string tenant;
  run_status status = run_status::pending;
  int64_t events = 0;
  /// False on non-determinism (or an unreadable history).
  bool deterministic = true;
  /// Where the stored history stands (`completed`, `awaiting_event`, ...).
  std::string engine_state;
  /// Empty, or the non-determinism / load error.
  std::string message;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, replay_report& x) {
  return f(caf::meta::type_name("flowgate::replay_report"), x.run, x.tenant, x.status, x.events,
           x.deterministic, x.engine_state, x.message);
}

/// A key just created: its record and, this once, the key itself.
struct key_created {
  api_key_record record;
  std::string key;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, key_created& x) {
  return f(caf::meta::type_name("flowgate::key_created"), x.record, x.key);
}

/// A tenant's step quota in force now (`flowgate quota summary`).
struct quota_summary {
  std::string tenant;
  std::string tier;
  billing_period period;
  /// Step attempts counted in the period.
  int64_t used = 0;
  /// -1 = unlimited.
  int64_t remaining = -1;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, quota_summary& x) {
  return f(caf::meta::type_name("flowgate::quota_summary"), x.tenant, x.tier, x.period, x.used,
           x.remaining);
}

/// A pipeline version as a client sees it (the snapshot itself stays in
/// the node that loaded it).
struct config_view {
  std::string tenant;
  std::string queue;
  std::string version;
  std::string checksum;
  std::string pipeline_name;
  int64_t node_count = 0;
  /// Canonical JSON text.
  std::string document;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, config_view& x) {
  return f(caf::meta::type_name("flowgate::config_view"), x.tenant, x.queue, x.version, x.checksum,
           x.pipeline_name, x.node_count, x.document);
}

// -- requests ------------------------------------------------------------------------

/// Defines a request with its scope and fields, and its `inspect`.
#define FLOWGATE_REQUEST(name, ...)                                                                \
  template <class Inspector> typename Inspector::result_type inspect(Inspector& f, name& x) {      \
    return f(caf::meta::type_name("flowgate::" #name), __VA_ARGS__);                               \
  }

/// Creates or replaces the scope's tenant from its JSON config -> tenant_record.
struct put_tenant_request {
  tenant_scope scope;
  std::string config_json;
};
FLOWGATE_REQUEST(put_tenant_request, x.scope, x.config_json)

/// The scope's tenant -> tenant_record.
struct get_tenant_request {
  tenant_scope scope;
};
FLOWGATE_REQUEST(get_tenant_request, x.scope)

/// Every tenant (operator) -> std::vector<tenant_record>.
struct list_tenants_request {
  tenant_scope scope;
};
FLOWGATE_REQUEST(list_tenants_request, x.scope)

/// Admission stats of the scope's tenant, or of every tenant for operator
/// scope -> std::vector<tenant_stats>.
struct tenant_stats_request {
  tenant_scope scope;
};
FLOWGATE_REQUEST(tenant_stats_request, x.scope)

/// Validates and stores a pipeline version -> config_stored.
struct put_config_request {
  tenant_scope scope;
  std::string queue;
  std::string version;
  std::string text;
};
FLOWGATE_REQUEST(put_config_request, x.scope, x.queue, x.version, x.text)

/// The version a run would use (or `version`) -> config_view.
struct get_config_request {
  tenant_scope scope;
  std::string queue;
  std::string version;
};
FLOWGATE_REQUEST(get_config_request, x.scope, x.queue, x.version)

/// Makes a stored version the queue's active one -> config_activated.
struct activate_config_request {
  tenant_scope scope;
  std::string queue;
  std::string version;
};
FLOWGATE_REQUEST(activate_config_request, x.scope, x.queue, x.version)

/// Stored versions (of `queue`, or all) -> std::vector<config_summary>.
struct list_configs_request {
  tenant_scope scope;
  std::string queue;
};
FLOWGATE_REQUEST(list_configs_request, x.scope, x.queue)

/// Schema version and row counts (operator) -> schema_info.
struct db_info_request {
  tenant_scope scope;
};
FLOWGATE_REQUEST(db_info_request, x.scope)

/// Starts a run of (scope's tenant, queue) -> run_created.
struct start_run_request {
  tenant_scope scope;
  std::string queue;
  std::string input_json;
  std::string version;
  std::string idempotency_key;
};
FLOWGATE_REQUEST(start_run_request, x.scope, x.queue, x.input_json, x.version, x.idempotency_key)

/// Delivers an event to a run -> signal_accepted.
struct signal_run_request {
  tenant_scope scope;
  int64_t run = 0;
  std::string event;
  std::string payload_json;
};
FLOWGATE_REQUEST(signal_run_request, x.scope, x.run, x.event, x.payload_json)

/// Cancels a run -> cancel_outcome.
struct cancel_run_request {
  tenant_scope scope;
  int64_t run = 0;
  std::string reason;
};
FLOWGATE_REQUEST(cancel_run_request, x.scope, x.run, x.reason)

/// The run's inbox has news (a signal or cancellation another node
/// stored): if this node holds the run's lease, its orchestrator reads the
/// inbox now instead of at its next append -> whether this node holds it.
/// Sent by peer nodes (with the key they were given); it carries no data
/// and changes nothing but when a store read happens.
struct poke_run_request {
  tenant_scope scope;
  int64_t run = 0;
};
FLOWGATE_REQUEST(poke_run_request, x.scope, x.run)

/// A queued run some node just admitted (its first claim).
struct admitted_run {
  run_id run;
  tenant_id tenant;
};
FLOWGATE_REQUEST(admitted_run, x.run, x.tenant)

/// What one node's dispatcher tells the others' (actors/peer_links.hpp).
/// It carries no run data: each item only makes a dispatcher look at the
/// store, or a parked starter read it, sooner than its next poll.
struct cluster_news {
  /// Tenants whose permit freed on the sender while it could not claim
  /// their queued runs itself (draining, no room, or the runs are within
  /// another node's share of the tenant's limit): claim them.
  std::vector<std::string> freed_tenants;
  /// Queued runs the sender admitted: a starter parked here for one of
  /// them is answered now (else it would wait for its deadline).
  std::vector<admitted_run> admitted;
  /// The sender handed runs back (drain) or left a new run unclaimed (no
  /// room): claim now.
  bool claim = false;
};
FLOWGATE_REQUEST(cluster_news, x.freed_tenants, x.admitted, x.claim)

/// Cluster news from a peer node (operator scope: the peer key) -> true.
struct cluster_news_request {
  tenant_scope scope;
  cluster_news news;
};
FLOWGATE_REQUEST(cluster_news_request, x.scope, x.news)

/// A peer node linked to this one (operator scope: the peer key) -> true.
/// Between two nodes only the one with the smaller id connects (CAF 0.17
/// closes a second connection between two nodes, and with it the first):
/// it then sends its own door over that connection, and the other node
/// reaches it through it (actors/peer_links.hpp).
struct peer_hello_request {
  tenant_scope scope;
  std::string node;
  /// The address the sender publishes (`serve --listen`).
  std::string address;
  /// The sender's door (a `gateway_actor`; untyped here because that
  /// interface is made of these requests).
  caf::actor door;
};
FLOWGATE_REQUEST(peer_hello_request, x.scope, x.node, x.address, x.door)

/// One run -> run_record.
struct get_run_request {
  tenant_scope scope;
  int64_t run = 0;
};
FLOWGATE_REQUEST(get_run_request, x.scope, x.run)

/// A page of runs -> std::vector<run_record>.
struct list_runs_request {
  tenant_scope scope;
  /// None = any status.
  caf::optional<run_status> status;
  int64_t after_run = 0;
  int32_t limit = 100;
};
FLOWGATE_REQUEST(list_runs_request, x.scope, x.status, x.after_run, x.limit)

/// A run's history -> std::vector<history_record>.
struct run_history_request {
  tenant_scope scope;
  int64_t run = 0;
};
FLOWGATE_REQUEST(run_history_request, x.scope, x.run)

/// A run's step attempts, as the ledger counted them -> std::vector<attempt_record>.
struct run_attempts_request {
  tenant_scope scope;
  int64_t run = 0;
};
FLOWGATE_REQUEST(run_attempts_request, x.scope, x.run)

/// Waits (bounded) until the run finishes (or waits, if `stop_at_waiting`)
/// -> run_record; `deadline_exceeded` after `timeout_ms`.
struct wait_run_request {
  tenant_scope scope;
  int64_t run = 0;
  int64_t timeout_ms = 60'000;
  bool stop_at_waiting = true;
};
FLOWGATE_REQUEST(wait_run_request, x.scope, x.run, x.timeout_ms, x.stop_at_waiting)

/// Replays a run's stored history -> replay_report.
struct replay_run_request {
  tenant_scope scope;
  int64_t run = 0;
};
FLOWGATE_REQUEST(replay_run_request, x.scope, x.run)

/// Stores a subscription document for the scope's tenant -> subscription_record.
struct put_subscription_request {
  tenant_scope scope;
  std::string text;
};
FLOWGATE_REQUEST(put_subscription_request, x.scope, x.text)

/// The scope's tenant's subscriptions -> std::vector<subscription_record>.
struct list_subscriptions_request {
  tenant_scope scope;
};
FLOWGATE_REQUEST(list_subscriptions_request, x.scope)

/// A schedule as a client sees it: the stored row and its next fire times.
struct schedule_view {
  schedule_record schedule;
  /// The next fire times (up to 5; none while paused).
  std::vector<int64_t> upcoming;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, schedule_view& x) {
  return f(caf::meta::type_name("flowgate::schedule_view"), x.schedule, x.upcoming);
}

/// Creates or replaces the scope's tenant's schedule `id` from its document
/// (FORMATS.md "Schedule") -> schedule_view. The queue (and the version, if
/// the document names one) must exist.
struct put_schedule_request {
  tenant_scope scope;
  std::string id;
  std::string text;
};
FLOWGATE_REQUEST(put_schedule_request, x.scope, x.id, x.text)

/// One schedule -> schedule_view; `not_found` if it does not exist.
struct get_schedule_request {
  tenant_scope scope;
  std::string id;
};
FLOWGATE_REQUEST(get_schedule_request, x.scope, x.id)

/// The scope's tenant's schedules by id -> std::vector<schedule_view>.
struct list_schedules_request {
  tenant_scope scope;
};
FLOWGATE_REQUEST(list_schedules_request, x.scope)

/// Removes a schedule (its runs stay) -> int64_t 1; `not_found` if missing.
struct delete_schedule_request {
  tenant_scope scope;
  std::string id;
};
FLOWGATE_REQUEST(delete_schedule_request, x.scope, x.id)

/// Pauses (`paused`) or resumes a schedule -> schedule_view; `not_found`.
struct pause_schedule_request {
  tenant_scope scope;
  std::string id;
  bool paused = true;
};
FLOWGATE_REQUEST(pause_schedule_request, x.scope, x.id, x.paused)

/// The step quota in force now -> quota_summary.
struct quota_summary_request {
  tenant_scope scope;
};
FLOWGATE_REQUEST(quota_summary_request, x.scope)

/// An operator's resume of a run paused on quota -> resume_outcome.
struct resume_run_request {
  tenant_scope scope;
  int64_t run = 0;
};
FLOWGATE_REQUEST(resume_run_request, x.scope, x.run)

/// Usage counter vs ledger of a period (0 = current) -> usage_reconciliation.
struct reconcile_quota_request {
  tenant_scope scope;
  int64_t period_start_ms = 0;
};
FLOWGATE_REQUEST(reconcile_quota_request, x.scope, x.period_start_ms)

/// One quota resume scan now (operator) -> int64_t (runs resumed).
struct scan_quota_request {
  tenant_scope scope;
};
FLOWGATE_REQUEST(scan_quota_request, x.scope)

/// Every registered serving node (operator) -> std::vector<node_record>.
struct list_nodes_request {
  tenant_scope scope;
};
FLOWGATE_REQUEST(list_nodes_request, x.scope)

/// Verifies the stored invariants of the scope's tenant, or of the whole
/// database with operator scope -> check_report (persistence/store_check.hpp).
struct check_request {
  tenant_scope scope;
  int32_t max_findings = 1000;
};
FLOWGATE_REQUEST(check_request, x.scope, x.max_findings)

// -- API keys (config/api_key.hpp; operator scope only) ------------------------------

/// A new key for `tenant`, or (`operator_key`) for every tenant ->
/// key_created, the only answer that ever holds the key itself.
struct create_key_request {
  tenant_scope scope;
  std::string tenant;
  bool operator_key = false;
  std::string name;
};
FLOWGATE_REQUEST(create_key_request, x.scope, x.tenant, x.operator_key, x.name)

/// Every key (`tenant` blank) or one tenant's -> std::vector<api_key_record>
/// (without the secrets' hashes).
struct list_keys_request {
  tenant_scope scope;
  std::string tenant;
};
FLOWGATE_REQUEST(list_keys_request, x.scope, x.tenant)

/// Revokes a key by id -> api_key_record. Requests with it fail from then on.
struct revoke_key_request {
  tenant_scope scope;
  std::string key_id;
};
FLOWGATE_REQUEST(revoke_key_request, x.scope, x.key_id)

#undef FLOWGATE_REQUEST

} // namespace flowgate
