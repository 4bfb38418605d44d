#pragma once

/// Typed actor interfaces of flowgate. Each actor's header documents its
/// protocol; this file only names the handles so that actors can hold each
/// other's handles without including each other.
///
/// Every message here is serializable (it has `inspect` and no pointer):
/// any of these actors could be reached over the network. The one
/// node-local handle, the config registry whose answers point into this
/// process's memory, is in actors/node_local.hpp.

#include "messages/atoms.hpp"
#include "messages/check_messages.hpp"
#include "messages/execution_messages.hpp"
#include "messages/gateway_messages.hpp"
#include "messages/ids.hpp"
#include "messages/run_messages.hpp"
#include "messages/schedule_messages.hpp"
#include "messages/store_messages.hpp"

#include <caf/actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <vector>

namespace flowgate {

/// The single write connection of a process; group commit (actors/store_writer.hpp).
using store_writer_actor = caf::typed_actor<
  caf::replies_to<store_tenant>::with<tenant_record>, caf::replies_to<seed_tenants>::with<int64_t>,
  caf::replies_to<store_config>::with<config_stored>,
  caf::replies_to<activate_config>::with<config_activated>,
  caf::replies_to<reserve_step>::with<step_reservation>,
  caf::replies_to<reserve_steps>::with<std::vector<step_reservation>>,
  caf::replies_to<resume_quota_waits>::with<int64_t>,
  caf::replies_to<resume_run>::with<resume_outcome>, caf::replies_to<create_run>::with<run_created>,
  caf::replies_to<claim_runs>::with<runs_claimed>, caf::replies_to<register_node>::with<int64_t>,
  caf::replies_to<publish_node>::with<int64_t>, caf::replies_to<stop_node>::with<int64_t>,
  caf::replies_to<renew_leases>::with<std::vector<run_id>>,
  caf::replies_to<release_leases>::with<int64_t>,
  caf::replies_to<append_history>::with<history_appended>,
  caf::replies_to<signal_run>::with<signal_accepted>,
  caf::replies_to<cancel_run>::with<cancel_outcome>,
  caf::replies_to<store_subscription>::with<subscription_record>,
  caf::replies_to<store_schedule>::with<schedule_record>,
  caf::replies_to<delete_schedule>::with<int64_t>,
  caf::replies_to<pause_schedule>::with<schedule_record>,
  caf::replies_to<fire_schedule>::with<schedule_fired>,
  caf::replies_to<store_api_key>::with<api_key_record>,
  caf::replies_to<revoke_api_key>::with<api_key_record>,
  caf::replies_to<stats_atom>::with<writer_stats>, caf::reacts_to<flush_atom>>;

/// A read connection (actors/store_reader.hpp).
using store_reader_actor =
  caf::typed_actor<caf::replies_to<find_tenant>::with<tenant_record>,
                   caf::replies_to<list_tenants>::with<std::vector<tenant_record>>,
                   caf::replies_to<find_config>::with<config_document>,
                   caf::replies_to<find_runnable_version>::with<config_version>,
                   caf::replies_to<list_configs>::with<std::vector<config_summary>>,
                   caf::replies_to<read_schema_info>::with<schema_info>,
                   caf::replies_to<find_run>::with<run_record>,
                   caf::replies_to<find_runs>::with<std::vector<run_record>>,
                   caf::replies_to<list_runs>::with<std::vector<run_record>>,
                   caf::replies_to<load_history>::with<std::vector<history_record>>,
                   caf::replies_to<load_attempts>::with<std::vector<attempt_record>>,
                   caf::replies_to<read_tenant_stats>::with<std::vector<tenant_stats>>,
                   caf::replies_to<list_subscriptions>::with<std::vector<subscription_record>>,
                   caf::replies_to<list_schedules>::with<std::vector<schedule_record>>,
                   caf::replies_to<due_schedules>::with<std::vector<schedule_record>>,
                   caf::replies_to<find_usage>::with<int64_t>,
                   caf::replies_to<list_quota_tenants>::with<std::vector<tenant_id>>,
                   caf::replies_to<reconcile_usage>::with<usage_reconciliation>,
                   caf::replies_to<list_nodes>::with<std::vector<node_record>>,
                   caf::replies_to<check_database>::with<check_report>,
                   caf::replies_to<find_api_key>::with<api_key_record>,
                   caf::replies_to<list_api_keys>::with<std::vector<api_key_record>>>;

/// Worker slots running activities, fair per tenant (actors/activity_pool.hpp).
using activity_pool_actor =
  caf::typed_actor<caf::replies_to<activity_request>::with<activity_result>,
                   caf::reacts_to<cancel_atom, run_id>,
                   caf::replies_to<stats_atom>::with<pool_stats>>;

/// One run's driver while this node holds its lease (actors/orchestrator.hpp).
using orchestrator_actor =
  caf::typed_actor<caf::reacts_to<wake_atom>, caf::reacts_to<lost_atom, lease_epoch>,
                   caf::reacts_to<drain_atom>, caf::reacts_to<inbox_atom>>;

/// Claims runs, spawns orchestrators, renews leases (actors/dispatcher.hpp).
using dispatcher_actor = caf::typed_actor<
  caf::replies_to<start_atom, run_record>::with<run_created>, caf::reacts_to<poll_atom>,
  caf::reacts_to<tick_atom>, caf::reacts_to<renew_atom>,
  caf::reacts_to<done_atom, run_id, done_reason>, caf::reacts_to<leaving_atom, run_id, bool>,
  caf::reacts_to<nondet_atom, run_id>, caf::replies_to<drain_atom>::with<int64_t>,
  caf::reacts_to<deadline_atom>, caf::replies_to<watch_atom, caf::actor>::with<ok_atom>,
  caf::replies_to<inbox_atom, run_id, tenant_id>::with<bool>,
  caf::reacts_to<news_atom, cluster_news>, caf::replies_to<stats_atom>::with<dispatcher_stats>>;

/// The public protocol of a node (actors/gateway.hpp, messages/gateway_messages.hpp).
using gateway_actor = caf::typed_actor<
  caf::replies_to<put_tenant_request>::with<tenant_record>,
  caf::replies_to<get_tenant_request>::with<tenant_record>,
  caf::replies_to<list_tenants_request>::with<std::vector<tenant_record>>,
  caf::replies_to<tenant_stats_request>::with<std::vector<tenant_stats>>,
  caf::replies_to<put_config_request>::with<config_stored>,
  caf::replies_to<get_config_request>::with<config_view>,
  caf::replies_to<activate_config_request>::with<config_activated>,
  caf::replies_to<list_configs_request>::with<std::vector<config_summary>>,
  caf::replies_to<db_info_request>::with<schema_info>,
  caf::replies_to<start_run_request>::with<run_created>,
  caf::replies_to<signal_run_request>::with<signal_accepted>,
  caf::replies_to<cancel_run_request>::with<cancel_outcome>,
  caf::replies_to<poke_run_request>::with<bool>, caf::replies_to<cluster_news_request>::with<bool>,
  caf::replies_to<peer_hello_request>::with<bool>,
  caf::replies_to<get_run_request>::with<run_record>,
  caf::replies_to<list_runs_request>::with<std::vector<run_record>>,
  caf::replies_to<run_history_request>::with<std::vector<history_record>>,
  caf::replies_to<run_attempts_request>::with<std::vector<attempt_record>>,
  caf::replies_to<wait_run_request>::with<run_record>,
  caf::replies_to<replay_run_request>::with<replay_report>,
  caf::replies_to<put_subscription_request>::with<subscription_record>,
  caf::replies_to<list_subscriptions_request>::with<std::vector<subscription_record>>,
  caf::replies_to<put_schedule_request>::with<schedule_view>,
  caf::replies_to<get_schedule_request>::with<schedule_view>,
  caf::replies_to<list_schedules_request>::with<std::vector<schedule_view>>,
  caf::replies_to<delete_schedule_request>::with<int64_t>,
  caf::replies_to<pause_schedule_request>::with<schedule_view>,
  caf::replies_to<quota_summary_request>::with<quota_summary>,
  caf::replies_to<resume_run_request>::with<resume_outcome>,
  caf::replies_to<reconcile_quota_request>::with<usage_reconciliation>,
  caf::replies_to<scan_quota_request>::with<int64_t>,
  caf::replies_to<list_nodes_request>::with<std::vector<node_record>>,
  caf::replies_to<check_request>::with<check_report>,
  caf::replies_to<create_key_request>::with<key_created>,
  caf::replies_to<list_keys_request>::with<std::vector<api_key_record>>,
  caf::replies_to<revoke_key_request>::with<api_key_record>>;

/// Links to the other nodes' doors: pokes and news (actors/peer_links.hpp).
using peer_links_actor =
  caf::typed_actor<caf::reacts_to<poke_atom, node_id, run_id, tenant_id>,
                   caf::reacts_to<news_atom, cluster_news>, caf::reacts_to<tick_atom>,
                   caf::reacts_to<link_atom, node_id, std::string, gateway_actor, std::string>,
                   caf::reacts_to<put_atom, gateway_actor>,
                   caf::replies_to<stats_atom>::with<std::vector<peer_link>>>;

/// Step-quota terms and reservations per tenant (actors/quota_accountant.hpp).
using quota_accountant_actor =
  caf::typed_actor<caf::replies_to<get_atom, tenant_id>::with<quota_terms>,
                   caf::replies_to<reserve_step>::with<step_reservation>,
                   caf::reacts_to<put_atom, tenant_id>,
                   caf::replies_to<stats_atom>::with<accountant_stats>>;

/// One tenant's concurrency permits on this node (actors/tenant_limiter.hpp).
using tenant_limiter_actor = caf::typed_actor<
  caf::reacts_to<hold_atom, run_id, caf::actor>, caf::reacts_to<release_atom, run_id>,
  caf::replies_to<park_atom, run_id, int64_t, int64_t>::with<admission_wait>,
  caf::reacts_to<deadline_atom, int64_t>, caf::reacts_to<idle_atom, int64_t>,
  caf::reacts_to<admitted_atom, run_id>, caf::replies_to<stats_atom>::with<limiter_stats>>;

/// Spawns limiters on first use and routes to them (actors/tenant_limiter.hpp).
using tenant_directory_actor = caf::typed_actor<
  caf::reacts_to<hold_atom, tenant_id, run_id, caf::actor>,
  caf::reacts_to<release_atom, tenant_id, run_id>,
  caf::replies_to<park_atom, tenant_id, run_id, int64_t, int64_t>::with<admission_wait>,
  caf::reacts_to<idle_atom, tenant_id, int64_t>, caf::reacts_to<admitted_atom, tenant_id, run_id>,
  caf::replies_to<stats_atom>::with<std::vector<limiter_stats>>>;

/// Resumes quota-paused runs (actors/resume_scanner.hpp).
using resume_scanner_actor =
  caf::typed_actor<caf::reacts_to<poll_atom>, caf::replies_to<wake_atom>::with<int64_t>>;

/// Fires due schedules (actors/schedule_firer.hpp).
using schedule_firer_actor =
  caf::typed_actor<caf::reacts_to<poll_atom>, caf::replies_to<wake_atom>::with<int64_t>>;

} // namespace flowgate
