#pragma once

/// Messages of run execution: activity attempts between orchestrators and
/// the activity pool, and what the dispatcher reports.

#include "messages/histogram.hpp"
#include "messages/ids.hpp"
#include "messages/run_enums.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

namespace flowgate {

/// One activity attempt to execute.
struct activity_request {
  tenant_id tenant;
  run_id run;
  std::string step_path;
  int32_t attempt = 1;
  std::string activity;
  /// JSON text of the resolved input.
  std::string input = "null";
  /// Canonical JSON of the tenant config (its `settings` and `restrictions`
  /// are handed to the activity).
  std::string tenant_config = "{}";
  /// Start-to-close timeout.
  int64_t timeout_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, activity_request& x) {
  return f(caf::meta::type_name("flowgate::activity_request"), x.tenant, x.run, x.step_path,
           x.attempt, x.activity, x.input, x.tenant_config, x.timeout_ms);
}

/// What an attempt produced.
struct activity_result {
  bool ok = false;
  /// JSON text of the output (when ok).
  std::string output = "null";
  std::string error_type;
  std::string error_message;
  bool retryable = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, activity_result& x) {
  return f(caf::meta::type_name("flowgate::activity_result"), x.ok, x.output, x.error_type,
           x.error_message, x.retryable);
}

/// Counters of an activity pool.
struct pool_stats {
  /// Workers now: the configured size, plus extra ones lent to tenants
  /// below their share while others hold more (retired when they finish).
  int32_t workers = 0;
  int32_t busy = 0;
  int64_t queued = 0;
  int64_t executed = 0;
  int64_t timed_out = 0;
  /// Attempts started on an extra worker.
  int64_t lent = 0;
  /// Per activity (inline ones too).
  std::vector<activity_series> activities;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, pool_stats& x) {
  return f(caf::meta::type_name("flowgate::pool_stats"), x.workers, x.busy, x.queued, x.executed,
           x.timed_out, x.lent, x.activities);
}

/// One pipeline version's runs on this node (pipelines with the "metrics"
/// feature): orchestrations started, and how they ended here, counted by
/// `done_reason` (index = the enum's value).
struct pipeline_series {
  std::string tenant;
  std::string queue;
  std::string version;
  int64_t started = 0;
  std::vector<int64_t> ended;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pipeline_series& x) {
  return f(caf::meta::type_name("flowgate::pipeline_series"), x.tenant, x.queue, x.version,
           x.started, x.ended);
}

/// A run left a node's hands: finished, paused or handed back.
struct run_finished {
  run_id run;
  tenant_id tenant;
  done_reason reason = done_reason::completed;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, run_finished& x) {
  return f(caf::meta::type_name("flowgate::run_finished"), x.run, x.tenant, x.reason);
}

/// Counters of a dispatcher.
struct dispatcher_stats {
  int64_t active = 0;
  int64_t claimed = 0;
  int64_t started = 0;
  int64_t finished = 0;
  int64_t lost = 0;
  bool draining = false;
  /// This incarnation lost its registration and drives nothing.
  bool fenced = false;
  /// General claims sent (polls that found room).
  int64_t polls = 0;
  /// Leases extended by renewals (one per run per renewal).
  int64_t renewed = 0;
  /// Runs claimed while RUNNING: taken over from a holder whose lease
  /// expired (it died or stalled), or handed back by a draining node.
  int64_t taken_over = 0;
  /// Runs whose first attempt their claim recorded (the decision their
  /// creator kept): dispatched without an append of their own.
  int64_t first_steps_claimed = 0;
  /// Replays that found the history at odds with the run's definition.
  int64_t nondeterminism = 0;
  /// How runs left this node, indexed by `done_reason` (completed, failed,
  /// canceled, waiting, handed_back, lost, abandoned).
  std::vector<int64_t> ended;
  /// Per pipeline version with the "metrics" feature, by (tenant, queue,
  /// version); filled when the stats are asked for.
  std::vector<pipeline_series> pipelines;
  /// Seconds from sending a claim to the store writer to its answer.
  histogram claim_seconds = latency_histogram();
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dispatcher_stats& x) {
  return f(caf::meta::type_name("flowgate::dispatcher_stats"), x.active, x.claimed, x.started,
           x.finished, x.lost, x.draining, x.fenced, x.polls, x.renewed, x.taken_over,
           x.first_steps_claimed, x.nondeterminism, x.ended, x.pipelines, x.claim_seconds);
}

/// Answer to a parked admission (`park_atom`): the run was admitted on
/// this node, or the deadline passed first (the run stays queued).
struct admission_wait {
  bool admitted = false;
  bool timed_out = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, admission_wait& x) {
  return f(caf::meta::type_name("flowgate::admission_wait"), x.admitted, x.timed_out);
}

/// One tenant's limiter on this node.
struct limiter_stats {
  tenant_id tenant;
  /// Runs of the tenant this node drives (permits held here).
  int64_t held = 0;
  /// Starters waiting for their queued run to be admitted.
  int64_t parked = 0;
  int64_t admitted_after_wait = 0;
  int64_t timed_out = 0;
  /// Holders that died without giving their permit back.
  int64_t holders_died = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, limiter_stats& x) {
  return f(caf::meta::type_name("flowgate::limiter_stats"), x.tenant, x.held, x.parked,
           x.admitted_after_wait, x.timed_out, x.holders_died);
}

/// This node's link to another node's door (actors/peer_links.hpp).
struct peer_link {
  node_id node;
  std::string address;
  /// "connected" or "unreachable".
  std::string state;
  /// Wall clock (ms) since the link is in that state.
  int64_t since_ms = 0;
  /// Why it is unreachable.
  std::string error;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, peer_link& x) {
  return f(caf::meta::type_name("flowgate::peer_link"), x.node, x.address, x.state, x.since_ms,
           x.error);
}

} // namespace flowgate
