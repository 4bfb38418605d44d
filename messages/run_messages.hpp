#pragma once

/// Records and operations of runs, their history and their leases,
/// exchanged with the store actors. Times are milliseconds since the Unix
/// epoch taken by the sender from its clock (the store never reads one).
///
/// Fencing: every write made for a run under a lease names the owner and
/// the epoch it holds (`append_history`); the store refuses it with
/// `lease_lost` if the run's lease moved on.

#include "messages/errors.hpp"
#include "messages/ids.hpp"
#include "messages/quota_messages.hpp"
#include "messages/run_enums.hpp"

#include <caf/meta/type_name.hpp>
#include <caf/optional.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace flowgate {

// -- records -----------------------------------------------------------------

/// A run as stored.
struct run_record {
  run_id id;
  tenant_id tenant;
  queue_name queue;
  /// Tenant whose config the run executes (the default tenant on fallback).
  tenant_id config_tenant;
  config_version version;
  std::string checksum;
  run_status status = run_status::pending;
  /// `none` unless WAITING.
  flowgate::wait_reason wait_reason = flowgate::wait_reason::none;
  std::string node_path;
  /// JSON texts.
  std::string input;
  std::string output;
  std::string error_type;
  std::string error_message;
  std::string idempotency_key;
  int64_t next_seq = 1;
  /// When the run is next due for a claim (a wait's wake time, a lease's expiry).
  int64_t wake_at_ms = 0;
  std::string lease_owner;
  int64_t lease_expires_at_ms = 0;
  lease_epoch epoch = 0;
  /// The lease holder's incarnation (see `register_node`); 0 without a lease.
  int64_t lease_incarnation = 0;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, run_record& x) {
  return f(caf::meta::type_name("flowgate::run_record"), x.id, x.tenant, x.queue, x.config_tenant,
           x.version, x.checksum, x.status, x.wait_reason, x.node_path, x.input, x.output,
           x.error_type, x.error_message, x.idempotency_key, x.next_seq, x.wake_at_ms,
           x.lease_owner, x.lease_expires_at_ms, x.epoch, x.lease_incarnation, x.created_at_ms,
           x.updated_at_ms, x.started_at_ms, x.finished_at_ms);
}

/// One history event as stored (engine/history.hpp documents the payloads).
struct history_record {
  int64_t seq = 0;
  std::string type;
  std::string node_path;
  int32_t attempt = 0;
  /// JSON text.
  std::string payload = "null";
  int64_t created_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, history_record& x) {
  return f(caf::meta::type_name("flowgate::history_record"), x.seq, x.type, x.node_path, x.attempt,
           x.payload, x.created_at_ms);
}

/// A change to the step-attempt ledger (`run_steps`).
struct step_change {
  std::string step_path;
  int32_t attempt = 1;
  /// `started` inserts the attempt (it must not exist); `completed`,
  /// `failed`, `cut_off`, `canceled` finish a started one.
  step_status status = step_status::started;
  std::string error_type;
  std::string error_message;
  /// For `started`: the index, in the operation's events, of the event that
  /// schedules the attempt (the planner says which). A store that refuses
  /// the attempt (no quota) cuts the append just before that event.
  int32_t scheduled_by = -1;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, step_change& x) {
  return f(caf::meta::type_name("flowgate::step_change"), x.step_path, x.attempt, x.status,
           x.error_type, x.error_message, x.scheduled_by);
}

/// A change to the run row made together with an append.
struct run_change {
  /// The status after the commit: RUNNING keeps the run (its wait reason
  /// is none then), or hands it back with `release_lease`.
  run_status status = run_status::running;
  /// For WAITING: why.
  flowgate::wait_reason wait_reason = flowgate::wait_reason::none;
  std::string node_path;
  /// For WAITING: when the run is due again (a far-future value = only on a signal).
  int64_t wake_at_ms = 0;
  std::string output;
  std::string error_type;
  std::string error_message;
  /// Give the lease up (pause, completion, failure, drain).
  bool release_lease = false;
  /// Opens a `run_waits` row of this kind (`event`, `timer`,
  /// `nondeterminism`, `quota`); none opens no row.
  flowgate::wait_reason open_wait = flowgate::wait_reason::none;
  std::string wait_event;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, run_change& x) {
  return f(caf::meta::type_name("flowgate::run_change"), x.status, x.wait_reason, x.node_path,
           x.wake_at_ms, x.output, x.error_type, x.error_message, x.release_lease, x.open_wait,
           x.wait_event);
}

/// A lease a node believes it holds.
struct run_lease {
  run_id run;
  lease_epoch epoch = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, run_lease& x) {
  return f(caf::meta::type_name("flowgate::run_lease"), x.run, x.epoch);
}

/// Outcome of `create_run`.
struct run_created {
  run_record run;
  /// False if the idempotency key named an existing run (returned as is).
  bool created = false;
  /// Not `none` if admission refused the run (nothing was created; the
  /// refusal was counted).
  rejection_reason rejection = rejection_reason::none;
  /// The refusal with the counts.
  std::string rejection_message;
  /// > 0 if the run was created PENDING because its tenant is at its
  /// concurrency limit (queue mode): the tenant's `admission_deadline_ms`,
  /// how long a starter may wait for it to be admitted.
  int64_t queued_deadline_ms = 0;
  /// Not empty if the run was created PENDING (with `queued_deadline_ms`)
  /// because another live, claiming node owns its tenant: that node admits
  /// it (the creator tells it at once).
  std::string tenant_owner;
  /// The tenant's stored config as this creation's admission read it, if
  /// the creator claimed the run: the orchestrator it starts hands it to
  /// the run's activities without reading the tenant again. The creator
  /// clears it before it answers the starter.
  std::string tenant_config;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, run_created& x) {
  return f(caf::meta::type_name("flowgate::run_created"), x.run, x.created, x.rejection,
           x.rejection_message, x.queued_deadline_ms, x.tenant_owner, x.tenant_config);
}

/// The error for a refused start (`tenant_at_limit` or `quota_exceeded`
/// with the counts); none if the run was admitted.
inline caf::error rejection_error(const run_created& c) {
  if (c.rejection == rejection_reason::none) {
    return {};
  }
  return make_error(c.rejection == rejection_reason::tenant_at_limit ? errc::tenant_at_limit
                                                                     : errc::quota_exceeded,
                    c.rejection_message);
}

/// Admission limits and usage of one tenant (`flowgate tenant stats`).
struct tenant_stats {
  tenant_id tenant;
  /// Live leased RUNNING runs, over every process: the permits in use.
  int64_t running = 0;
  /// PENDING runs: waiting for a permit or a node.
  int64_t queued = 0;
  int64_t waiting = 0;
  /// Effective concurrency limit (0 = unlimited).
  int64_t limit = 0;
  std::string admission;
  int64_t soft_limit = 0;
  int64_t hard_limit = 0;
  /// New runs refused, by reason.
  int64_t rejected_at_limit = 0;
  int64_t rejected_soft = 0;
  int64_t rejected_hard = 0;
  /// Of the WAITING runs, those paused because the quota is used up.
  int64_t paused_on_quota = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, tenant_stats& x) {
  return f(caf::meta::type_name("flowgate::tenant_stats"), x.tenant, x.running, x.queued, x.waiting,
           x.limit, x.admission, x.soft_limit, x.hard_limit, x.rejected_at_limit, x.rejected_soft,
           x.rejected_hard, x.paused_on_quota);
}

/// Outcome of `append_history`.
struct history_appended {
  int64_t next_seq = 0;
  /// Signals and cancellations taken from the run's inbox and appended
  /// after the requested events (their sequence numbers follow).
  std::vector<history_record> inbox;
  /// True when a step attempt in the append found the quota used up: the
  /// append was cut before that attempt's scheduling event, and the run is
  /// now WAITING on quota (lease released). `exhausted` says where and why.
  bool quota_paused = false;
  quota_exhausted exhausted;
  /// The append asked to wait for a child run that had already ended: the
  /// run stays RUNNING under its lease, and the child's end is in `inbox`.
  bool kept = false;
  /// True when the quota cut the append (as for `quota_paused`) while the
  /// driver had attempts in flight: the run stays RUNNING under its lease
  /// so that their outcomes are recorded, and pauses at a later append
  /// that finds the quota used up with nothing in flight.
  bool quota_held = false;
  /// How many of the requested events were stored (all unless cut).
  int64_t appended = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, history_appended& x) {
  return f(caf::meta::type_name("flowgate::history_appended"), x.next_seq, x.inbox, x.quota_paused,
           x.exhausted, x.kept, x.quota_held, x.appended);
}

/// Outcome of `signal_run`.
struct signal_accepted {
  run_id run;
  int64_t signal_id = 0;
  /// The run's status when the signal was stored.
  run_status status = run_status::pending;
  /// The node holding the run's live lease then (empty: none): it reads the
  /// signal at its next append, or at once when told (`poke_run_request`).
  std::string lease_owner;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, signal_accepted& x) {
  return f(caf::meta::type_name("flowgate::signal_accepted"), x.run, x.signal_id, x.status,
           x.lease_owner);
}

/// Outcome of `cancel_run`.
struct cancel_outcome {
  run_record run;
  /// True if the run is CANCELED now; false if its lease holder will
  /// cancel it at its next step boundary.
  bool canceled_now = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cancel_outcome& x) {
  return f(caf::meta::type_name("flowgate::cancel_outcome"), x.run, x.canceled_now);
}

// -- write operations (store_writer) -------------------------------------------

/// Create a run (status PENDING, history `run_started` at seq 1), claimed at
/// once by `owner` unless it is empty. A run may carry its first decision
/// (`first_events` from seq 2, with their ledger rows; at most one attempt
/// started, engine::first_step_plan): a claimed run records it in the
/// commit that creates it (one commit instead of two); a run created
/// PENDING keeps it on its row, and the claim that gives it its first
/// lease records it (`claim_runs::quotas`). With an idempotency key that
/// exists for the tenant, the existing run is returned instead (and
/// nothing is written).
///
/// Admission, decided inside the transaction from the tenant's stored
/// config: `quota_exceeded` if the tenant's active (unfinished) runs are at
/// its `quota.hard_limit` or at its `quota.soft_limit` plus a 5% burst;
/// at its concurrency limit (`max_concurrent_runs`, else `default_limit`;
/// 0 = unlimited; counted over live leased RUNNING runs of every process),
/// `tenant_at_limit` in `reject` mode, else the run is created PENDING
/// (unclaimed, its `first_events` kept for its claim) and waits for a permit. Likewise
/// when another live node owns the tenant, has claimed within
/// `spread_grace_ms` and had room after it (docs/run-model.md "Tenant
/// ownership"): that node admits it (`run_created::tenant_owner`).
struct create_run {
  run_record run;
  node_id owner;
  /// The owner's incarnation: the lease is fenced by it too.
  int64_t incarnation = 0;
  /// The lease lasts this long from the store's clock at commit.
  int64_t lease_ttl_ms = 0;
  int64_t now_ms = 0;
  std::vector<history_record> first_events;
  std::vector<step_change> first_steps;
  int64_t default_limit = 0;
  /// Terms under which `first_steps` are reserved. If the quota is used up
  /// the run is created WAITING on quota at the first step, without it.
  quota_terms quota;
  /// A child run: the parent run, node and attempt it is (0: not a child).
  /// One child per attempt: an existing one is returned (`created` false).
  /// Its depth is its parent's + 1; deeper than `max_child_depth` is
  /// refused (`invalid_argument`).
  int64_t parent_run = 0;
  std::string parent_node_path;
  int32_t parent_attempt = 0;
  int32_t max_child_depth = 8;
  int64_t spread_grace_ms = 500;
  /// The creator's free run slots before this run (-1: unknown).
  int64_t room = -1;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, create_run& x) {
  return f(caf::meta::type_name("flowgate::create_run"), x.run, x.owner, x.incarnation,
           x.lease_ttl_ms, x.now_ms, x.first_events, x.first_steps, x.default_limit, x.quota,
           x.parent_run, x.parent_node_path, x.parent_attempt, x.max_child_depth, x.spread_grace_ms,
           x.room);
}

/// Claim up to `max_runs` due runs (ready, no live lease, wake time due):
/// each claim increments the run's epoch in the same statement that checks
/// the lease is free, so exactly one node wins each run. A run is skipped
/// while its tenant has as many live leased RUNNING runs (all processes) as
/// its concurrency limit (`max_concurrent_runs` from the stored tenant
/// config, else `default_limit`; 0 = unlimited): limits hold cluster-wide
/// and a changed limit applies at the next claim.
///
/// Order (docs/run-model.md): runs taken over from a dead owner or handed
/// back (RUNNING without a live lease) first, then woken or resumed runs
/// (WAITING, due), then new runs (PENDING); within each class round-robin
/// over tenants, each tenant taking up to its config `weight` per round,
/// starting after `after_tenant` (the previous claim's `last_tenant`).
/// With several live nodes a node takes a limited tenant's runs within its
/// share of the permits (limit / live nodes, the remainder rotating over
/// the nodes by tenant and by second) while another node with a share has
/// claimed within `spread_grace_ms` (it is polling and has room); when none
/// has, it takes what the limit allows. Nodes share the work and no permit
/// stays unused. Each claim records its time on the claimer's registration.
/// A limited tenant owned by another live node that has claimed within
/// `spread_grace_ms` and had room after it is left to that node (docs/run-model.md "Tenant
/// ownership"); the owner takes what the limit allows, without shares.
///
/// A PENDING run claimed for the first time (history only `run_started`)
/// whose creator kept its first decision on the row gets it recorded by the
/// claim, as an append at epoch 1 would (`append_history`: the attempt
/// reserved under the tenant's terms in `quotas`), if `quotas` has terms
/// for its tenant whose period holds the store's clock and its inbox is
/// empty: `runs_claimed::first_recorded`. Without quota for the step, the
/// run is paused on quota instead (`runs_claimed::quota_paused`, not in
/// `runs`). Otherwise the run is claimed with its history as it is.
///
/// `max_runs` 0 claims nothing and records that the claimer takes nothing
/// more (a draining node, before it hands its runs back): no last claim,
/// no room, so the other nodes admit its tenants' runs at once, up to their
/// whole limits.
struct claim_runs {
  node_id owner;
  int64_t incarnation = 0;
  int64_t now_ms = 0;
  /// Each claimed lease lasts this long from the store's clock at commit.
  int64_t lease_ttl_ms = 0;
  int32_t max_runs = 100;
  int64_t default_limit = 0;
  /// Only runs of these tenants (a permit of theirs just freed); empty = any.
  std::vector<tenant_id> tenants;
  /// Round-robin cursor: the tenant served last by the previous claim.
  tenant_id after_tenant;
  int64_t spread_grace_ms = 500;
  /// The claimer's free run slots before this claim (-1: unknown, as if it
  /// had room); what is left after it is recorded with the claim.
  int64_t room = -1;
  /// Quota terms (the claimer's, current) of tenants whose new runs may get
  /// their kept first step recorded by this claim; one per tenant.
  std::vector<quota_terms> quotas;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, claim_runs& x) {
  return f(caf::meta::type_name("flowgate::claim_runs"), x.owner, x.incarnation, x.now_ms,
           x.lease_ttl_ms, x.max_runs, x.default_limit, x.tenants, x.after_tenant,
           x.spread_grace_ms, x.room, x.quotas);
}

/// A tenant's stored config text, as a transaction read it.
struct tenant_config_text {
  tenant_id tenant;
  std::string config;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_config_text& x) {
  return f(caf::meta::type_name("flowgate::tenant_config_text"), x.tenant, x.config);
}

/// What a claim won, and where the next one starts its round-robin.
struct runs_claimed {
  std::vector<run_record> runs;
  /// The tenant served last (empty if none); the next claim starts after it.
  tenant_id last_tenant;
  /// A targeted claim's tenants (`claim_runs::tenants`) that still have a
  /// due run this node left to the other nodes' shares: the claimer tells
  /// them (cluster news), or the freed permit would wait for their polls.
  std::vector<tenant_id> left_to_others;
  /// Of `runs`, those claimed while RUNNING (their holder's lease expired,
  /// or a draining node handed them back).
  int64_t taken_over = 0;
  /// A targeted claim's tenants that have a due run and are owned by
  /// another live, claiming node: the claimer tells it (cluster news).
  std::vector<tenant_id> owned_elsewhere;
  /// The stored config of each tenant of `runs`, as the claim read it: the
  /// orchestrators the claimer starts hand it to the runs' activities
  /// without reading the tenants again.
  std::vector<tenant_config_text> tenant_configs;
  /// Of `runs`, those whose first step this claim recorded (their kept
  /// first decision; `next_seq` is past it): the claimer dispatches that
  /// attempt without another append.
  std::vector<run_id> first_recorded;
  /// Runs this claim took but paused on quota at their kept first step
  /// (WAITING on quota, no lease; not in `runs`): where and under which terms.
  std::vector<quota_exhausted> quota_paused;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, runs_claimed& x) {
  return f(caf::meta::type_name("flowgate::runs_claimed"), x.runs, x.last_tenant, x.left_to_others,
           x.taken_over, x.owned_elsewhere, x.tenant_configs, x.first_recorded, x.quota_paused);
}

/// Extend the leases `owner` holds (epoch and incarnation unchanged, not
/// yet expired) to the store's clock + `lease_ttl_ms`, and write the node's
/// heartbeat in the same transaction. Replies the runs renewed; the others
/// are lost. Fails with `lease_lost` if the node's registration is no longer
/// `incarnation` (a newer process took the id, or this one was stopped):
/// such a process must stop driving runs.
///
/// The same transaction settles the node's tenant ownerships
/// (docs/run-model.md "Tenant ownership"): among the live nodes that
/// publish an address, each limited tenant (`max_concurrent_runs`, else
/// `default_limit`, > 0) belongs to the one with the highest rendezvous
/// weight. This node renews the ownerships it holds, takes those that are
/// its own and free (epoch + 1 at a change of owner), and gives up those
/// that belong to another live node now (it takes them at its renewal).
struct renew_leases {
  node_id owner;
  int64_t incarnation = 0;
  std::vector<run_lease> leases;
  int64_t now_ms = 0;
  int64_t lease_ttl_ms = 0;
  int64_t default_limit = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, renew_leases& x) {
  return f(caf::meta::type_name("flowgate::renew_leases"), x.owner, x.incarnation, x.leases,
           x.now_ms, x.lease_ttl_ms, x.default_limit);
}

/// Give leases up: the runs are due at once for any node, taken over
/// before any queued run. With `leases` empty, every lease of (`owner`,
/// `incarnation`) is released and the node's registration is marked
/// stopped (a drain). Another incarnation's leases are never touched.
/// Replies the number released.
struct release_leases {
  node_id owner;
  int64_t incarnation = 0;
  std::vector<run_lease> leases;
  int64_t now_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_leases& x) {
  return f(caf::meta::type_name("flowgate::release_leases"), x.owner, x.incarnation, x.leases,
           x.now_ms);
}

/// Register a serving node (membership). Refused with `node_id_in_use` if
/// a registration of `node` is live (heartbeat within its TTL, not
/// stopped); otherwise the row is (re)written with the next incarnation,
/// which every lease this process takes carries.
struct register_node {
  node_id node;
  std::string host;
  int64_t pid = 0;
  std::string address;
  /// Heartbeats come every TTL/2; a registration is live for one TTL.
  int64_t ttl_ms = 0;
  int64_t now_ms = 0;
  /// A live-looking registration by this pid on `host` is taken over: the
  /// caller saw on this host that the process is gone (killed before its
  /// registration expired).
  int64_t replaces_pid = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, register_node& x) {
  return f(caf::meta::type_name("flowgate::register_node"), x.node, x.host, x.pid, x.address,
           x.ttl_ms, x.now_ms, x.replaces_pid);
}

/// Records where a registered node's door listens (`serve --listen`) ->
/// 1, or 0 if this incarnation is no longer the live registration.
struct publish_node {
  node_id node;
  int64_t incarnation = 0;
  std::string address;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, publish_node& x) {
  return f(caf::meta::type_name("flowgate::publish_node"), x.node, x.incarnation, x.address);
}

/// Mark a registration stopped (its id may be taken at once) and release
/// the leases it still holds (a stopped node holds no live lease; others
/// take its runs over at once). Replies 1 if the registration was this
/// incarnation's and live, else 0.
struct stop_node {
  node_id node;
  int64_t incarnation = 0;
  int64_t now_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, stop_node& x) {
  return f(caf::meta::type_name("flowgate::stop_node"), x.node, x.incarnation, x.now_ms);
}

/// One node's registration as `flowgate cluster status` shows it.
struct node_record {
  node_id node;
  int64_t incarnation = 0;
  std::string host;
  int64_t pid = 0;
  std::string address;
  int64_t ttl_ms = 0;
  int64_t started_at_ms = 0;
  int64_t heartbeat_at_ms = 0;
  /// 0 while not stopped.
  int64_t stopped_at_ms = 0;
  /// Not stopped and heartbeat within its TTL (by the reader's clock).
  bool live = false;
  /// Runs whose live lease this incarnation holds.
  int64_t held_runs = 0;
  /// As seen by the node that answered (not stored): "self", "connected",
  /// "unreachable", or empty when it keeps no links (no peer key).
  std::string link;
  /// Since when (wall ms) the link is in that state; why it is unreachable.
  int64_t link_since_ms = 0;
  std::string link_error;
  /// The tenants of the runs it holds, by id.
  std::vector<std::string> held_tenants;
  /// The tenants whose live ownership lease it holds (it admits their
  /// runs), by id.
  std::vector<std::string> owned_tenants;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, node_record& x) {
  return f(caf::meta::type_name("flowgate::node_record"), x.node, x.incarnation, x.host, x.pid,
           x.address, x.ttl_ms, x.started_at_ms, x.heartbeat_at_ms, x.stopped_at_ms, x.live,
           x.held_runs, x.link, x.link_since_ms, x.link_error, x.held_tenants, x.owned_tenants);
}

/// Every registered node (read side).
struct list_nodes {
  /// 0 = the reader's clock.
  int64_t now_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, list_nodes& x) {
  return f(caf::meta::type_name("flowgate::list_nodes"), x.now_ms);
}

/// Append events at `expected_seq` (gap-free), apply ledger and run
/// changes, then (unless the lease is given up) move the run's inbox into
/// the history. Fenced: fails with `lease_lost` unless `owner` holds the
/// run's lease at `epoch`.
struct append_history {
  run_id run;
  tenant_id tenant;
  node_id owner;
  int64_t incarnation = 0;
  lease_epoch epoch = 0;
  int64_t expected_seq = 0;
  std::vector<history_record> events;
  std::vector<step_change> steps;
  run_change change;
  /// Resolve the run's open waits (it continues after one).
  bool resolve_waits = false;
  int64_t now_ms = 0;
  /// Terms under which each `started` step is reserved (one unit each, in
  /// order). The first one refused cuts the append before the event that
  /// scheduled it and pauses the run on quota instead of `change`.
  quota_terms quota;
  /// Attempts the driver has in flight besides those this append starts:
  /// with any, a quota cut keeps the run RUNNING (`quota_held`) instead
  /// of pausing it, so that their outcomes are recorded first.
  int32_t in_flight = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_history& x) {
  return f(caf::meta::type_name("flowgate::append_history"), x.run, x.tenant, x.owner,
           x.incarnation, x.epoch, x.expected_seq, x.events, x.steps, x.change, x.resolve_waits,
           x.now_ms, x.quota, x.in_flight);
}

/// Deliver a named event to a run's inbox; a run waiting for an event is
/// made due. Errors: `not_found` (no such run for the tenant),
/// `run_finished`.
struct signal_run {
  tenant_id tenant;
  run_id run;
  std::string event;
  /// JSON text.
  std::string payload = "null";
  int64_t now_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, signal_run& x) {
  return f(caf::meta::type_name("flowgate::signal_run"), x.tenant, x.run, x.event, x.payload,
           x.now_ms);
}

/// Cancel a run: at once if no live lease holds it, else through its inbox.
/// Errors: `not_found`, `run_finished`.
struct cancel_run {
  tenant_id tenant;
  run_id run;
  std::string reason;
  int64_t now_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, cancel_run& x) {
  return f(caf::meta::type_name("flowgate::cancel_run"), x.tenant, x.run, x.reason, x.now_ms);
}

// -- read operations (store_reader) ------------------------------------------

/// One run (of `tenant`, unless it is empty). Error: `not_found`.
struct find_run {
  tenant_id tenant;
  run_id run;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, find_run& x) {
  return f(caf::meta::type_name("flowgate::find_run"), x.tenant, x.run);
}

/// Several runs of `tenant` (any tenant if empty) by id, in one read: those
/// that exist, in the order asked (a missing one is left out).
struct find_runs {
  tenant_id tenant;
  std::vector<run_id> runs;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, find_runs& x) {
  return f(caf::meta::type_name("flowgate::find_runs"), x.tenant, x.runs);
}

/// Runs ordered by id (filters are optional: empty = any).
struct list_runs {
  tenant_id tenant;
  caf::optional<run_status> status;
  /// Only runs with a larger id (paging).
  int64_t after_run = 0;
  int32_t limit = 100;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, list_runs& x) {
  return f(caf::meta::type_name("flowgate::list_runs"), x.tenant, x.status, x.after_run, x.limit);
}

/// A tenant's billing subscription as stored (FORMATS.md "Subscription").
struct subscription_record {
  tenant_id tenant;
  std::string id;
  std::string status;
  /// 0 = missing.
  int64_t period_start_ms = 0;
  int64_t period_end_ms = 0;
  /// Canonical JSON objects.
  std::string price_metadata = "{}";
  std::string product_metadata = "{}";
  int64_t updated_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription_record& x) {
  return f(caf::meta::type_name("flowgate::subscription_record"), x.tenant, x.id, x.status,
           x.period_start_ms, x.period_end_ms, x.price_metadata, x.product_metadata,
           x.updated_at_ms);
}

/// Insert or replace a subscription (by tenant and id). `unknown_tenant`
/// if the tenant does not exist.
struct store_subscription {
  subscription_record subscription;
  int64_t now_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_subscription& x) {
  return f(caf::meta::type_name("flowgate::store_subscription"), x.subscription, x.now_ms);
}

/// A tenant's subscriptions, by id.
struct list_subscriptions {
  tenant_id tenant;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_subscriptions& x) {
  return f(caf::meta::type_name("flowgate::list_subscriptions"), x.tenant);
}

/// Step attempts counted in one usage period (0 if none yet).
struct find_usage {
  tenant_id tenant;
  int64_t period_start_ms = 0;
  int64_t period_end_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, find_usage& x) {
  return f(caf::meta::type_name("flowgate::find_usage"), x.tenant, x.period_start_ms,
           x.period_end_ms);
}

/// Admission stats of one tenant (or all, when `tenant` is empty).
struct read_tenant_stats {
  tenant_id tenant;
  int64_t now_ms = 0;
  /// The node default for tenants that set no limit.
  int64_t default_limit = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_tenant_stats& x) {
  return f(caf::meta::type_name("flowgate::read_tenant_stats"), x.tenant, x.now_ms,
           x.default_limit);
}

/// One step attempt as the ledger records it (table run_steps): what was
/// counted against the tenant's quota, by whom, and how it ended.
struct attempt_record {
  std::string step_path;
  int32_t attempt = 0;
  /// started, completed, failed, cut_off or canceled.
  std::string status;
  /// The billing period it was counted in.
  int64_t period_start_ms = 0;
  int64_t period_end_ms = 0;
  /// The node that ran it and the lease epoch it ran under.
  std::string node;
  int64_t lease_epoch = 0;
  int64_t started_at_ms = 0;
  /// 0 while started.
  int64_t finished_at_ms = 0;
  std::string error_type;
  std::string error_message;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, attempt_record& x) {
  return f(caf::meta::type_name("flowgate::attempt_record"), x.step_path, x.attempt, x.status,
           x.period_start_ms, x.period_end_ms, x.node, x.lease_epoch, x.started_at_ms,
           x.finished_at_ms, x.error_type, x.error_message);
}

/// A run's step attempts in the order they started.
struct load_attempts {
  run_id run;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, load_attempts& x) {
  return f(caf::meta::type_name("flowgate::load_attempts"), x.run);
}

/// A run's history from `after_seq + 1` on.
struct load_history {
  run_id run;
  int64_t after_seq = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, load_history& x) {
  return f(caf::meta::type_name("flowgate::load_history"), x.run, x.after_seq);
}

} // namespace flowgate
