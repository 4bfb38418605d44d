#include "messages/registration.hpp"

#include "messages/actor_threads.hpp"
#include "messages/errors.hpp"
#include "messages/interfaces.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>

namespace flowgate {

void register_types(caf::actor_system_config& cfg) {
  add_actor_thread_hook(cfg);
  cfg.add_message_type<tenant_id>("flowgate::tenant_id");
  cfg.add_message_type<queue_name>("flowgate::queue_name");
  cfg.add_message_type<config_version>("flowgate::config_version");
  cfg.add_message_type<run_id>("flowgate::run_id");
  cfg.add_message_type<node_id>("flowgate::node_id");
  cfg.add_message_type<tenant_scope>("flowgate::tenant_scope");
  cfg.add_message_type<put_tenant_request>("flowgate::put_tenant_request");
  cfg.add_message_type<get_tenant_request>("flowgate::get_tenant_request");
  cfg.add_message_type<list_tenants_request>("flowgate::list_tenants_request");
  cfg.add_message_type<tenant_stats_request>("flowgate::tenant_stats_request");
  cfg.add_message_type<put_config_request>("flowgate::put_config_request");
  cfg.add_message_type<get_config_request>("flowgate::get_config_request");
  cfg.add_message_type<activate_config_request>("flowgate::activate_config_request");
  cfg.add_message_type<list_configs_request>("flowgate::list_configs_request");
  cfg.add_message_type<db_info_request>("flowgate::db_info_request");
  cfg.add_message_type<start_run_request>("flowgate::start_run_request");
  cfg.add_message_type<signal_run_request>("flowgate::signal_run_request");
  cfg.add_message_type<cancel_run_request>("flowgate::cancel_run_request");
  cfg.add_message_type<poke_run_request>("flowgate::poke_run_request");
  cfg.add_message_type<cluster_news>("flowgate::cluster_news");
  cfg.add_message_type<cluster_news_request>("flowgate::cluster_news_request");
  cfg.add_message_type<peer_hello_request>("flowgate::peer_hello_request");
  cfg.add_message_type<get_run_request>("flowgate::get_run_request");
  cfg.add_message_type<list_runs_request>("flowgate::list_runs_request");
  cfg.add_message_type<run_history_request>("flowgate::run_history_request");
  cfg.add_message_type<wait_run_request>("flowgate::wait_run_request");
  cfg.add_message_type<replay_run_request>("flowgate::replay_run_request");
  cfg.add_message_type<put_subscription_request>("flowgate::put_subscription_request");
  cfg.add_message_type<list_subscriptions_request>("flowgate::list_subscriptions_request");
  cfg.add_message_type<quota_summary_request>("flowgate::quota_summary_request");
  cfg.add_message_type<resume_run_request>("flowgate::resume_run_request");
  cfg.add_message_type<reconcile_quota_request>("flowgate::reconcile_quota_request");
  cfg.add_message_type<scan_quota_request>("flowgate::scan_quota_request");
  cfg.add_message_type<list_nodes_request>("flowgate::list_nodes_request");
  cfg.add_message_type<run_attempts_request>("flowgate::run_attempts_request");
  cfg.add_message_type<check_request>("flowgate::check_request");
  cfg.add_message_type<check_report>("flowgate::check_report");
  cfg.add_message_type<check_database>("flowgate::check_database");
  cfg.add_message_type<replay_report>("flowgate::replay_report");
  cfg.add_message_type<quota_summary>("flowgate::quota_summary");
  cfg.add_message_type<config_view>("flowgate::config_view");
  cfg.add_message_type<billing_period>("flowgate::billing_period");
  cfg.add_message_type<tenant_record>("flowgate::tenant_record");
  cfg.add_message_type<std::vector<tenant_record>>("std::vector<flowgate::tenant_record>");
  cfg.add_message_type<config_document>("flowgate::config_document");
  cfg.add_message_type<config_summary>("flowgate::config_summary");
  cfg.add_message_type<std::vector<config_summary>>("std::vector<flowgate::config_summary>");
  cfg.add_message_type<config_stored>("flowgate::config_stored");
  cfg.add_message_type<config_activated>("flowgate::config_activated");
  cfg.add_message_type<step_reservation>("flowgate::step_reservation");
  cfg.add_message_type<schema_info>("flowgate::schema_info");
  cfg.add_message_type<writer_stats>("flowgate::writer_stats");
  cfg.add_message_type<histogram>("flowgate::histogram");
  cfg.add_message_type<activity_series>("flowgate::activity_series");
  cfg.add_message_type<std::vector<activity_series>>("std::vector<flowgate::activity_series>");
  cfg.add_message_type<store_tenant>("flowgate::store_tenant");
  cfg.add_message_type<seed_tenants>("flowgate::seed_tenants");
  cfg.add_message_type<store_config>("flowgate::store_config");
  cfg.add_message_type<activate_config>("flowgate::activate_config");
  cfg.add_message_type<reserve_step>("flowgate::reserve_step");
  cfg.add_message_type<find_tenant>("flowgate::find_tenant");
  cfg.add_message_type<list_tenants>("flowgate::list_tenants");
  cfg.add_message_type<find_config>("flowgate::find_config");
  cfg.add_message_type<find_runnable_version>("flowgate::find_runnable_version");
  cfg.add_message_type<list_configs>("flowgate::list_configs");
  cfg.add_message_type<read_schema_info>("flowgate::read_schema_info");
  cfg.add_message_type<run_record>("flowgate::run_record");
  cfg.add_message_type<history_record>("flowgate::history_record");
  cfg.add_message_type<step_change>("flowgate::step_change");
  cfg.add_message_type<tenant_config_text>("flowgate::tenant_config_text");
  cfg.add_message_type<run_change>("flowgate::run_change");
  cfg.add_message_type<run_lease>("flowgate::run_lease");
  cfg.add_message_type<run_created>("flowgate::run_created");
  cfg.add_message_type<history_appended>("flowgate::history_appended");
  cfg.add_message_type<signal_accepted>("flowgate::signal_accepted");
  cfg.add_message_type<cancel_outcome>("flowgate::cancel_outcome");
  cfg.add_message_type<create_run>("flowgate::create_run");
  cfg.add_message_type<claim_runs>("flowgate::claim_runs");
  cfg.add_message_type<runs_claimed>("flowgate::runs_claimed");
  cfg.add_message_type<register_node>("flowgate::register_node");
  cfg.add_message_type<stop_node>("flowgate::stop_node");
  cfg.add_message_type<node_record>("flowgate::node_record");
  cfg.add_message_type<std::vector<node_record>>("std::vector<flowgate::node_record>");
  cfg.add_message_type<list_nodes>("flowgate::list_nodes");
  cfg.add_message_type<renew_leases>("flowgate::renew_leases");
  cfg.add_message_type<release_leases>("flowgate::release_leases");
  cfg.add_message_type<append_history>("flowgate::append_history");
  cfg.add_message_type<signal_run>("flowgate::signal_run");
  cfg.add_message_type<cancel_run>("flowgate::cancel_run");
  cfg.add_message_type<find_run>("flowgate::find_run");
  cfg.add_message_type<find_runs>("flowgate::find_runs");
  cfg.add_message_type<list_runs>("flowgate::list_runs");
  cfg.add_message_type<load_history>("flowgate::load_history");
  cfg.add_message_type<load_attempts>("flowgate::load_attempts");
  cfg.add_message_type<attempt_record>("flowgate::attempt_record");
  cfg.add_message_type<std::vector<attempt_record>>("std::vector<flowgate::attempt_record>");
  cfg.add_message_type<std::vector<run_record>>("std::vector<flowgate::run_record>");
  cfg.add_message_type<std::vector<history_record>>("std::vector<flowgate::history_record>");
  cfg.add_message_type<std::vector<step_change>>("std::vector<flowgate::step_change>");
  cfg.add_message_type<std::vector<run_lease>>("std::vector<flowgate::run_lease>");
  cfg.add_message_type<std::vector<run_id>>("std::vector<flowgate::run_id>");
  cfg.add_message_type<activity_request>("flowgate::activity_request");
  cfg.add_message_type<activity_result>("flowgate::activity_result");
  cfg.add_message_type<pool_stats>("flowgate::pool_stats");
  cfg.add_message_type<run_finished>("flowgate::run_finished");
  cfg.add_message_type<dispatcher_stats>("flowgate::dispatcher_stats");
  cfg.add_message_type<pipeline_series>("flowgate::pipeline_series");
  cfg.add_message_type<std::vector<pipeline_series>>("std::vector<flowgate::pipeline_series>");
  cfg.add_message_type<tenant_stats>("flowgate::tenant_stats");
  cfg.add_message_type<std::vector<tenant_stats>>("std::vector<flowgate::tenant_stats>");
  cfg.add_message_type<read_tenant_stats>("flowgate::read_tenant_stats");
  cfg.add_message_type<subscription_record>("flowgate::subscription_record");
  cfg.add_message_type<std::vector<subscription_record>>(
    "std::vector<flowgate::subscription_record>");
  cfg.add_message_type<store_subscription>("flowgate::store_subscription");
  cfg.add_message_type<publish_node>("flowgate::publish_node");
  cfg.add_message_type<api_key_record>("flowgate::api_key_record");
  cfg.add_message_type<std::vector<api_key_record>>("std::vector<flowgate::api_key_record>");
  cfg.add_message_type<store_api_key>("flowgate::store_api_key");
  cfg.add_message_type<revoke_api_key>("flowgate::revoke_api_key");
  cfg.add_message_type<find_api_key>("flowgate::find_api_key");
  cfg.add_message_type<list_api_keys>("flowgate::list_api_keys");
  cfg.add_message_type<create_key_request>("flowgate::create_key_request");
  cfg.add_message_type<list_keys_request>("flowgate::list_keys_request");
  cfg.add_message_type<revoke_key_request>("flowgate::revoke_key_request");
  cfg.add_message_type<key_created>("flowgate::key_created");
  cfg.add_message_type<schedule_record>("flowgate::schedule_record");
  cfg.add_message_type<std::vector<schedule_record>>("std::vector<flowgate::schedule_record>");
  cfg.add_message_type<store_schedule>("flowgate::store_schedule");
  cfg.add_message_type<delete_schedule>("flowgate::delete_schedule");
  cfg.add_message_type<pause_schedule>("flowgate::pause_schedule");
  cfg.add_message_type<fire_schedule>("flowgate::fire_schedule");
  cfg.add_message_type<schedule_fired>("flowgate::schedule_fired");
  cfg.add_message_type<list_schedules>("flowgate::list_schedules");
  cfg.add_message_type<due_schedules>("flowgate::due_schedules");
  cfg.add_message_type<schedule_view>("flowgate::schedule_view");
  cfg.add_message_type<std::vector<schedule_view>>("std::vector<flowgate::schedule_view>");
  cfg.add_message_type<put_schedule_request>("flowgate::put_schedule_request");
  cfg.add_message_type<get_schedule_request>("flowgate::get_schedule_request");
  cfg.add_message_type<list_schedules_request>("flowgate::list_schedules_request");
  cfg.add_message_type<delete_schedule_request>("flowgate::delete_schedule_request");
  cfg.add_message_type<pause_schedule_request>("flowgate::pause_schedule_request");
  cfg.add_message_type<list_subscriptions>("flowgate::list_subscriptions");
  cfg.add_message_type<find_usage>("flowgate::find_usage");
  cfg.add_message_type<quota_terms>("flowgate::quota_terms");
  cfg.add_message_type<admission_wait>("flowgate::admission_wait");
  cfg.add_message_type<limiter_stats>("flowgate::limiter_stats");
  cfg.add_message_type<std::vector<limiter_stats>>("std::vector<flowgate::limiter_stats>");
  cfg.add_message_type<peer_link>("flowgate::peer_link");
  cfg.add_message_type<std::vector<peer_link>>("std::vector<flowgate::peer_link>");
  cfg.add_message_type<quota_exhausted>("flowgate::quota_exhausted");
  cfg.add_message_type<resume_quota_waits>("flowgate::resume_quota_waits");
  cfg.add_message_type<resume_run>("flowgate::resume_run");
  cfg.add_message_type<resume_outcome>("flowgate::resume_outcome");
  cfg.add_message_type<list_quota_tenants>("flowgate::list_quota_tenants");
  cfg.add_message_type<reconcile_usage>("flowgate::reconcile_usage");
  cfg.add_message_type<usage_reconciliation>("flowgate::usage_reconciliation");
  cfg.add_message_type<accountant_stats>("flowgate::accountant_stats");
  cfg.add_message_type<reserve_steps>("flowgate::reserve_steps");
  cfg.add_message_type<std::vector<step_reservation>>("std::vector<flowgate::step_reservation>");
  cfg.add_message_type<std::vector<reserve_step>>("std::vector<flowgate::reserve_step>");
  cfg.add_message_type<std::vector<tenant_id>>("std::vector<flowgate::tenant_id>");
  cfg.add_error_category(caf::atom("flowgate"),
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           auto name = to_string(static_cast<errc>(code));
                           if (ctx.match_elements<std::string>()) {
                             return name + ": " + ctx.get_as<std::string>(0);
                           }
                           return name;
                         });
}

} // namespace flowgate
