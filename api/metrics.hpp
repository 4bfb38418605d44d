#pragma once

/// `render_metrics`: a node's figures in the Prometheus text format, built
/// with prometheus-cpp (registry and text serializer), for `GET /metrics`
/// on the HTTP API. Each scrape asks the node's actors for their counters
/// (store writer, dispatcher, activity pool, quota accountant; each owns
/// its own figures, so nothing is shared between threads) and the gateway,
/// with the scraper's key, for the tenants' admission and quota figures.
///
/// Series (counters end in `_total`):
/// - `flowgate_node_info{node,incarnation}` 1;
/// - runs: `flowgate_runs_claimed_total`, `_started_total`,
///   `_finished_total`, `flowgate_runs_ended_total{reason}`,
///   `flowgate_leases_lost_total`, `_renewed_total`, `_taken_over_total`,
///   `flowgate_nondeterminism_total`, `flowgate_runs_active`,
///   `flowgate_claim_polls_total`, `flowgate_node_draining`,
///   `flowgate_node_fenced`;
/// - attempts: `flowgate_activity_attempts_total`,
///   `flowgate_activity_attempts_timed_out_total`, `flowgate_activity_workers`,
///   `flowgate_activity_workers_busy`, `flowgate_activity_queued`;
/// - store writer: `flowgate_writer_batches_total`,
///   `flowgate_writer_operations_total`, `_failed_operations_total`,
///   `_isolated_batches_total`, `_fenced_writes_total`, `_busy_retries_total`,
///   `flowgate_writer_commit_seconds_total`, `flowgate_writer_busy_seconds_total`;
/// - quota: `flowgate_quota_reservations_total`, `_granted_total`,
///   `_refused_total`;
/// - per tenant (label `tenant`): `flowgate_tenant_runs{state=running|queued|waiting}`,
///   `flowgate_tenant_concurrency_limit`, `flowgate_tenant_refused_total{reason}`,
///   `flowgate_tenant_quota_used`, `flowgate_tenant_quota_limit` (absent when
///   unlimited), `flowgate_tenant_quota_remaining`,
///   `flowgate_tenant_quota_period_end_seconds`.
///
/// Tenant labels have a cardinality guard (`max_tenants`): every tenant
/// (-1), none (0), or the N with the most runs (running + queued + waiting;
/// ties by id) with the rest summed under `tenant="(other)"`, which no
/// tenant id can be (run and refusal series; quota series only for the N).

#include "messages/interfaces.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace flowgate {

class gateway_client;

struct metrics_sources {
  std::string node_id;
  int64_t incarnation = 0;
  store_writer_actor writer;
  /// Null on a node that does not execute runs (then no run series).
  dispatcher_actor dispatcher;
  activity_pool_actor pool;
  quota_accountant_actor accountant;
  /// -1: every tenant, 0: none, N: the N busiest plus "(other)".
  int64_t max_tenants = 100;
};

/// The exposition text. Errors: the gateway's for the tenant series
/// (`unauthenticated`, `forbidden`), a timeout of an actor.
[[nodiscard]] caf::expected<std::string> render_metrics(caf::actor_system& sys,
                                                        const metrics_sources& sources,
                                                        gateway_client& client,
                                                        std::chrono::milliseconds timeout);

} // namespace flowgate
