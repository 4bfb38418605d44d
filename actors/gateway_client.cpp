#include "actors/gateway_client.hpp"

#include "actors/blocking_ask.hpp"
#include "config/tenant_config.hpp"

#include <caf/actor_system.hpp>

namespace flowgate {

namespace {

/// Operator scope for a listing: a blank id means every tenant.
tenant_scope listing_scope(std::string_view raw) {
  return blank_tenant_id(raw) ? tenant_scope::all_tenants() : tenant_scope{raw};
}

} // namespace

gateway_client::gateway_client(caf::actor_system& sys, gateway_actor gateway, std::string key)
    : sys_(sys), gateway_(std::move(gateway)), key_(std::move(key)) {}

template <class R, class Req>
caf::expected<R> gateway_client::ask(std::chrono::milliseconds timeout, Req req) {
  req.scope.key = key_;
  return blocking_ask<R>(sys_, timeout, gateway_, std::move(req));
}

caf::expected<tenant_record> gateway_client::put_tenant(std::string_view raw_id,
                                                        std::string_view config_json) {
  return ask<tenant_record>(request_timeout,
                            put_tenant_request{tenant_scope{raw_id}, std::string{config_json}});
}

caf::expected<tenant_record> gateway_client::get_tenant(std::string_view raw_id) {
  return ask<tenant_record>(request_timeout, get_tenant_request{raw_id});
}

caf::expected<std::vector<tenant_record>> gateway_client::list_tenants() {
  return ask<std::vector<tenant_record>>(request_timeout,
                                         list_tenants_request{tenant_scope::all_tenants()});
}

caf::expected<config_stored> gateway_client::put_config(std::string_view raw_tenant,
                                                        const std::string& queue,
                                                        const std::string& version,
                                                        std::string text) {
  return ask<config_stored>(request_timeout,
                            put_config_request{raw_tenant, queue, version, std::move(text)});
}

caf::expected<config_view> gateway_client::view_config(std::string_view raw_tenant,
                                                       const std::string& queue,
                                                       const std::string& version) {
  return ask<config_view>(request_timeout, get_config_request{raw_tenant, queue, version});
}

caf::expected<config_activated> gateway_client::activate_config(std::string_view raw_tenant,
                                                                const std::string& queue,
                                                                const std::string& version) {
  return ask<config_activated>(request_timeout,
                               activate_config_request{raw_tenant, queue, version});
}

caf::expected<std::vector<config_summary>> gateway_client::list_configs(std::string_view raw_tenant,
                                                                        const std::string& queue) {
  return ask<std::vector<config_summary>>(request_timeout, list_configs_request{raw_tenant, queue});
}

caf::expected<schema_info> gateway_client::db_info() {
  return ask<schema_info>(request_timeout, db_info_request{tenant_scope::all_tenants()});
}

caf::expected<run_created> gateway_client::start_run(std::string_view raw_tenant,
                                                     const std::string& queue,
                                                     const std::string& input_json,
                                                     const std::string& version,
                                                     const std::string& idempotency_key) {
  // A run queued at its tenant's limit is answered by its admission
  // deadline (at most an hour, enforced by the node).
  return ask<run_created>(
    request_timeout + std::chrono::hours{1},
    start_run_request{raw_tenant, queue, input_json, version, idempotency_key});
}

caf::expected<signal_accepted> gateway_client::signal_run(const tenant_scope& scope, int64_t run,
                                                          const std::string& event,
                                                          const std::string& payload_json) {
  return ask<signal_accepted>(request_timeout, signal_run_request{scope, run, event, payload_json});
}

caf::expected<cancel_outcome> gateway_client::cancel_run(const tenant_scope& scope, int64_t run,
                                                         const std::string& reason) {
  return ask<cancel_outcome>(request_timeout, cancel_run_request{scope, run, reason});
}

caf::expected<run_record> gateway_client::get_run(const tenant_scope& scope, int64_t run) {
  return ask<run_record>(request_timeout, get_run_request{scope, run});
}

caf::expected<std::vector<run_record>> gateway_client::list_runs(const tenant_scope& scope,
                                                                 caf::optional<run_status> status,
                                                                 int64_t after_run, int32_t limit) {
  return ask<std::vector<run_record>>(request_timeout,
                                      list_runs_request{scope, status, after_run, limit});
}

caf::expected<std::vector<history_record>> gateway_client::run_history(const tenant_scope& scope,
                                                                       int64_t run) {
  return ask<std::vector<history_record>>(request_timeout, run_history_request{scope, run});
}

caf::expected<std::vector<attempt_record>> gateway_client::run_attempts(const tenant_scope& scope,
                                                                        int64_t run) {
  return ask<std::vector<attempt_record>>(request_timeout, run_attempts_request{scope, run});
}

caf::expected<run_record> gateway_client::wait_for_run(const tenant_scope& scope, int64_t run,
                                                       std::chrono::milliseconds timeout,
                                                       bool stop_at_waiting) {
  return ask<run_record>(request_timeout + timeout,
                         wait_run_request{scope, run, timeout.count(), stop_at_waiting});
}

caf::expected<subscription_record> gateway_client::put_subscription(std::string_view raw_tenant,
                                                                    std::string_view text) {
  return ask<subscription_record>(request_timeout,
                                  put_subscription_request{raw_tenant, std::string{text}});
}

caf::expected<std::vector<subscription_record>>
gateway_client::list_subscriptions(std::string_view raw_tenant) {
  return ask<std::vector<subscription_record>>(request_timeout,
                                               list_subscriptions_request{raw_tenant});
}

caf::expected<quota_summary> gateway_client::summarize_quota(std::string_view raw_tenant) {
  return ask<quota_summary>(request_timeout, quota_summary_request{raw_tenant});
}

caf::expected<resume_outcome> gateway_client::resume_run(std::string_view raw_tenant, int64_t run) {
  return ask<resume_outcome>(request_timeout, resume_run_request{raw_tenant, run});
}

caf::expected<int64_t> gateway_client::scan_quota_waits() {
  return ask<int64_t>(request_timeout, scan_quota_request{tenant_scope::all_tenants()});
}

caf::expected<schedule_view> gateway_client::put_schedule(std::string_view raw_tenant,
                                                          const std::string& id,
                                                          std::string_view text) {
  return ask<schedule_view>(request_timeout,
                            put_schedule_request{raw_tenant, id, std::string{text}});
}

caf::expected<schedule_view> gateway_client::get_schedule(std::string_view raw_tenant,
                                                          const std::string& id) {
  return ask<schedule_view>(request_timeout, get_schedule_request{raw_tenant, id});
}

caf::expected<std::vector<schedule_view>>
gateway_client::list_schedules(std::string_view raw_tenant) {
  return ask<std::vector<schedule_view>>(request_timeout, list_schedules_request{raw_tenant});
}

caf::expected<int64_t> gateway_client::delete_schedule(std::string_view raw_tenant,
                                                       const std::string& id) {
  return ask<int64_t>(request_timeout, delete_schedule_request{raw_tenant, id});
}

caf::expected<schedule_view> gateway_client::pause_schedule(std::string_view raw_tenant,
                                                            const std::string& id, bool paused) {
  return ask<schedule_view>(request_timeout, pause_schedule_request{raw_tenant, id, paused});
}

caf::expected<usage_reconciliation> gateway_client::reconcile_quota(std::string_view raw_tenant,
                                                                    int64_t period_start_ms) {
  return ask<usage_reconciliation>(request_timeout,
                                   reconcile_quota_request{raw_tenant, period_start_ms});
}

caf::expected<std::vector<tenant_stats>> gateway_client::tenant_stats(std::string_view raw_tenant) {
  return ask<std::vector<flowgate::tenant_stats>>(request_timeout,
                                                  tenant_stats_request{listing_scope(raw_tenant)});
}

caf::expected<replay_report> gateway_client::replay(const tenant_scope& scope, int64_t run) {
  return ask<replay_report>(request_timeout, replay_run_request{scope, run});
}

caf::expected<std::vector<node_record>> gateway_client::list_nodes() {
  return ask<std::vector<node_record>>(request_timeout,
                                       list_nodes_request{tenant_scope::all_tenants()});
}

caf::expected<check_report> gateway_client::check(const tenant_scope& scope, int32_t max_findings) {
  return ask<check_report>(std::chrono::hours{1} + request_timeout,
                           check_request{scope, max_findings});
}

caf::expected<key_created> gateway_client::create_key(std::string_view raw_tenant,
                                                      bool operator_key, const std::string& name) {
  return ask<key_created>(
    request_timeout,
    create_key_request{tenant_scope::all_tenants(), std::string{raw_tenant}, operator_key, name});
}

caf::expected<std::vector<api_key_record>> gateway_client::list_keys(std::string_view raw_tenant) {
  return ask<std::vector<api_key_record>>(
    request_timeout, list_keys_request{tenant_scope::all_tenants(), std::string{raw_tenant}});
}

caf::expected<api_key_record> gateway_client::revoke_key(const std::string& key_id) {
  return ask<api_key_record>(request_timeout,
                             revoke_key_request{tenant_scope::all_tenants(), key_id});
}

} // namespace flowgate
