#include "api/metrics.hpp"

#include "actors/blocking_ask.hpp"
#include "actors/gateway_client.hpp"
#include "messages/atoms.hpp"

#include <caf/actor_system.hpp>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

namespace flowgate {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Registry;

void counter(Registry& r, const std::string& name, const std::string& help, double value,
             const prometheus::Labels& labels = {}) {
  BuildCounter().Name(name).Help(help).Register(r).Add(labels).Increment(value);
}

void gauge(Registry& r, const std::string& name, const std::string& help, double value,
           const prometheus::Labels& labels = {}) {
  BuildGauge().Name(name).Help(help).Register(r).Add(labels).Set(value);
}

/// Counts indexed by `done_reason`, one series per reason (label `reason`).
void add_by_reason(prometheus::Family<prometheus::Counter>& family,
                   const prometheus::Labels& labels, const std::vector<int64_t>& ended) {
  for (size_t i = 0; i < ended.size(); ++i) {
    auto with = labels;
    with["reason"] = to_string(static_cast<done_reason>(i));
    family.Add(with).Increment(static_cast<double>(ended[i]));
  }
}

/// An actor's histogram as one Prometheus histogram series.
void observe_all(prometheus::Family<prometheus::Histogram>& family, const histogram& h,
                 const prometheus::Labels& labels = {}) {
  auto scale = static_cast<double>(h.scale > 0 ? h.scale : 1);
  std::vector<double> bounds;
  for (auto b : h.bounds) {
    bounds.push_back(static_cast<double>(b) / scale);
  }
  std::vector<double> increments(h.counts.begin(), h.counts.end());
  family.Add(labels, bounds).ObserveMultiple(increments, static_cast<double>(h.sum) / scale);
}

/// The label of the tenants beyond the guard's N: not a tenant id, which
/// matches [a-z0-9._:-]{1,128}.
const std::string other_tenants = "(other)";

/// A tenant's run and refusal figures, summed for "(other)".
struct tenant_figures {
  int64_t running = 0;
  int64_t queued = 0;
  int64_t waiting = 0;
  int64_t paused_on_quota = 0;
  int64_t limit = 0;
  int64_t at_limit = 0;
  int64_t soft = 0;
  int64_t hard = 0;

  void add(const tenant_stats& x) {
    running += x.running;
    queued += x.queued;
    waiting += x.waiting;
    paused_on_quota += x.paused_on_quota;
    at_limit += x.rejected_at_limit;
    soft += x.rejected_soft;
    hard += x.rejected_hard;
  }
};

} // namespace

caf::expected<std::string> render_metrics(caf::actor_system& sys, const metrics_sources& src,
                                          gateway_client& client,
                                          std::chrono::milliseconds timeout) {
  // The tenant series first: they need the scraper's key (a tenant key
  // sees its own tenant only; no key is refused like any API request).
  auto stats = client.tenant_stats("");
  if (!stats) {
    return stats.error();
  }
  auto registry = std::make_shared<Registry>();
  auto& r = *registry;
  gauge(r, "flowgate_node_info", "This node's id and incarnation (always 1).", 1,
        {{"node", src.node_id}, {"incarnation", std::to_string(src.incarnation)}});
  auto writer = blocking_ask<writer_stats>(sys, timeout, src.writer, stats_atom::value);
  if (!writer) {
    return writer.error();
  }
  counter(r, "flowgate_writer_batches_total", "Transactions the store writer committed or tried.",
          static_cast<double>(writer->batches));
  counter(r, "flowgate_writer_operations_total", "Store operations in those transactions.",
          static_cast<double>(writer->operations));
  counter(r, "flowgate_writer_failed_operations_total", "Store operations answered with an error.",
          static_cast<double>(writer->failed_operations));
  counter(r, "flowgate_writer_isolated_batches_total",
          "Batches applied again operation by operation after one failed.",
          static_cast<double>(writer->isolated_batches));
  counter(r, "flowgate_writer_fenced_writes_total",
          "Store writes refused by fencing: under a lease that expired or moved, or from a "
          "replaced node incarnation.",
          static_cast<double>(writer->fenced_writes));
  counter(r, "flowgate_writer_busy_retries_total", "Transactions retried on a busy store.",
          static_cast<double>(writer->busy_retries));
  counter(r, "flowgate_writer_busy_seconds_total",
          "Time the writer spent applying and committing batches.",
          static_cast<double>(writer->busy_us) / 1e6);
  counter(r, "flowgate_writer_commit_seconds_total", "Time the writer spent in COMMIT.",
          static_cast<double>(writer->commit_us) / 1e6);
  gauge(r, "flowgate_writer_largest_batch", "The largest batch committed at once.",
        static_cast<double>(writer->largest_batch));
  gauge(r, "flowgate_writer_broken", "1 when the store was found damaged (nothing is written).",
        writer->broken ? 1 : 0);
  observe_all(BuildHistogram()
                .Name("flowgate_writer_batch_size")
                .Help("Operations per store transaction (group commit).")
                .Register(r),
              writer->batch_size);
  observe_all(BuildHistogram()
                .Name("flowgate_writer_commit_seconds")
                .Help("Time in COMMIT per store transaction.")
                .Register(r),
              writer->commit_seconds);
  std::vector<pipeline_series> pipelines;
  if (src.dispatcher) {
    auto d = blocking_ask<dispatcher_stats>(sys, timeout, src.dispatcher, stats_atom::value);
    if (!d) {
      return d.error();
    }
    pipelines = std::move(d->pipelines);
    counter(r, "flowgate_runs_claimed_total", "Run leases this node claimed.",
            static_cast<double>(d->claimed));
    counter(r, "flowgate_runs_started_total", "Runs this node started driving.",
            static_cast<double>(d->started));
    counter(r, "flowgate_runs_finished_total", "Runs that left this node's hands.",
            static_cast<double>(d->finished));
    counter(r, "flowgate_leases_lost_total", "Run leases this node lost to another holder.",
            static_cast<double>(d->lost));
    counter(r, "flowgate_claim_polls_total", "Claims this node sent while it had room.",
            static_cast<double>(d->polls));
    counter(r, "flowgate_leases_renewed_total",
            "Run leases extended by this node's renewals (one per run per renewal).",
            static_cast<double>(d->renewed));
    counter(r, "flowgate_leases_taken_over_total",
            "Runs this node claimed while RUNNING: taken over from a holder whose lease expired, "
            "or handed back by a draining node.",
            static_cast<double>(d->taken_over));
    counter(r, "flowgate_first_steps_claimed_total",
            "Queued runs whose first attempt the claim that admitted them recorded (one commit "
            "instead of two).",
            static_cast<double>(d->first_steps_claimed));
    counter(r, "flowgate_nondeterminism_total",
            "Replays on this node that found a run's history at odds with its definition.",
            static_cast<double>(d->nondeterminism));
    add_by_reason(BuildCounter()
                    .Name("flowgate_runs_ended_total")
                    .Help("How runs left this node's hands, by reason: completed, failed, "
                          "canceled, waiting, handed_back, lost, abandoned.")
                    .Register(r),
                  {}, d->ended);
    gauge(r, "flowgate_runs_active", "Runs this node drives now.", static_cast<double>(d->active));
    gauge(r, "flowgate_node_draining", "1 while the node stops.", d->draining ? 1 : 0);
    gauge(r, "flowgate_node_fenced", "1 when a newer process took this node's id.",
          d->fenced ? 1 : 0);
    observe_all(BuildHistogram()
                  .Name("flowgate_claim_seconds")
                  .Help("A claim's round trip to the store writer (queueing and commit included).")
                  .Register(r),
                d->claim_seconds);
  }
  if (src.pool) {
    auto p = blocking_ask<pool_stats>(sys, timeout, src.pool, stats_atom::value);
    if (!p) {
      return p.error();
    }
    counter(r, "flowgate_activity_attempts_total", "Activity attempts executed on this node.",
            static_cast<double>(p->executed));
    counter(r, "flowgate_activity_attempts_timed_out_total",
            "Attempts past their start-to-close timeout.", static_cast<double>(p->timed_out));
    gauge(r, "flowgate_activity_workers", "Activity worker threads now.",
          static_cast<double>(p->workers));
    gauge(r, "flowgate_activity_workers_busy", "Workers running an attempt.",
          static_cast<double>(p->busy));
    gauge(r, "flowgate_activity_queued", "Attempts waiting for a worker.",
          static_cast<double>(p->queued));
    if (!p->activities.empty()) {
      auto& took = BuildHistogram()
                     .Name("flowgate_activity_duration_seconds")
                     .Help("Attempts of an activity on this node, by how long they took.")
                     .Register(r);
      auto& failed = BuildCounter()
                       .Name("flowgate_activity_failures_total")
                       .Help("Attempts of an activity that failed, timed out or lost a worker.")
                       .Register(r);
      for (const auto& a : p->activities) {
        observe_all(took, a.seconds, {{"activity", a.activity}});
        failed.Add({{"activity", a.activity}}).Increment(static_cast<double>(a.failures));
      }
    }
  }
  if (src.accountant) {
    auto q = blocking_ask<accountant_stats>(sys, timeout, src.accountant, stats_atom::value);
    if (!q) {
      return q.error();
    }
    counter(r, "flowgate_quota_reservations_total", "Step reservations the accountant decided.",
            static_cast<double>(q->reservations));
    counter(r, "flowgate_quota_granted_total", "Step reservations granted.",
            static_cast<double>(q->granted));
    counter(r, "flowgate_quota_refused_total", "Step reservations refused (quota used up).",
            static_cast<double>(q->refused));
  }
  // Tenants: every one, none, or the busiest N plus "(other)".
  auto xs = std::move(*stats);
  std::sort(xs.begin(), xs.end(), [](const tenant_stats& a, const tenant_stats& b) {
    auto load_a = a.running + a.queued + a.waiting;
    auto load_b = b.running + b.queued + b.waiting;
    return load_a != load_b ? load_a > load_b : a.tenant.value < b.tenant.value;
  });
  size_t named =
    src.max_tenants < 0 ? xs.size() : std::min(xs.size(), static_cast<size_t>(src.max_tenants));
  std::vector<std::pair<std::string, tenant_figures>> rows;
  tenant_figures other;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i < named) {
      tenant_figures f;
      f.add(xs[i]);
      f.limit = xs[i].limit;
      rows.emplace_back(xs[i].tenant.value, f);
    } else {
      other.add(xs[i]);
    }
  }
  if (named < xs.size() && src.max_tenants != 0) {
    rows.emplace_back(other_tenants, other);
  }
  if (!rows.empty()) {
    auto& runs = BuildGauge()
                   .Name("flowgate_tenant_runs")
                   .Help("A tenant's unfinished runs by state, over every node.")
                   .Register(r);
    auto& paused = BuildGauge()
                     .Name("flowgate_tenant_runs_paused_on_quota")
                     .Help("Of a tenant's waiting runs, those paused because its quota is used "
                           "up.")
                     .Register(r);
    auto& limit = BuildGauge()
                    .Name("flowgate_tenant_concurrency_limit")
                    .Help("A tenant's concurrent-run limit (0 = unlimited).")
                    .Register(r);
    auto& refused = BuildCounter()
                      .Name("flowgate_tenant_refused_total")
                      .Help("New runs refused, by reason.")
                      .Register(r);
    for (const auto& [tenant, f] : rows) {
      runs.Add({{"tenant", tenant}, {"state", "running"}}).Set(static_cast<double>(f.running));
      runs.Add({{"tenant", tenant}, {"state", "queued"}}).Set(static_cast<double>(f.queued));
      runs.Add({{"tenant", tenant}, {"state", "waiting"}}).Set(static_cast<double>(f.waiting));
      paused.Add({{"tenant", tenant}}).Set(static_cast<double>(f.paused_on_quota));
      if (tenant != other_tenants) {
        limit.Add({{"tenant", tenant}}).Set(static_cast<double>(f.limit));
      }
      refused.Add({{"tenant", tenant}, {"reason", "tenant_at_limit"}})
        .Increment(static_cast<double>(f.at_limit));
      refused.Add({{"tenant", tenant}, {"reason", "soft_limit"}})
        .Increment(static_cast<double>(f.soft));
      refused.Add({{"tenant", tenant}, {"reason", "hard_limit"}})
        .Increment(static_cast<double>(f.hard));
    }
    auto& used = BuildGauge()
                   .Name("flowgate_tenant_quota_used")
                   .Help("Step attempts counted in the tenant's current billing period.")
                   .Register(r);
    auto& quota_limit = BuildGauge()
                          .Name("flowgate_tenant_quota_limit")
                          .Help("The period's step limit (absent when unlimited).")
                          .Register(r);
    auto& remaining = BuildGauge()
                        .Name("flowgate_tenant_quota_remaining")
                        .Help("Step attempts left in the period (absent when unlimited).")
                        .Register(r);
    auto& period_end = BuildGauge()
                         .Name("flowgate_tenant_quota_period_end_seconds")
                         .Help("When the current period ends (Unix time).")
                         .Register(r);
    for (size_t i = 0; i < named; ++i) {
      const auto& tenant = xs[i].tenant.value;
      auto q = client.summarize_quota(tenant);
      if (!q) {
        return q.error();
      }
      used.Add({{"tenant", tenant}}).Set(static_cast<double>(q->used));
      if (q->period.limit >= 0) {
        quota_limit.Add({{"tenant", tenant}}).Set(static_cast<double>(q->period.limit));
        remaining.Add({{"tenant", tenant}}).Set(static_cast<double>(q->remaining));
      }
      period_end.Add({{"tenant", tenant}}).Set(static_cast<double>(q->period.end_ms) / 1000.0);
    }
  }
  // Pipelines with the "metrics" feature, of the labelled tenants (the key's
  // scope and the guard): runs this node drove and how they left it.
  std::set<std::string> labelled;
  for (size_t i = 0; i < named; ++i) {
    labelled.insert(xs[i].tenant.value);
  }
  bool any = false;
  for (const auto& p : pipelines) {
    any = any || labelled.count(p.tenant) > 0;
  }
  if (any) {
    auto& started = BuildCounter()
                      .Name("flowgate_pipeline_runs_started_total")
                      .Help("Runs of the pipeline version this node started driving (pipelines "
                            "with the \"metrics\" feature).")
                      .Register(r);
    auto& ended = BuildCounter()
                    .Name("flowgate_pipeline_runs_ended_total")
                    .Help("How runs of the pipeline version left this node: completed, failed, "
                          "canceled, waiting, handed_back, lost, abandoned.")
                    .Register(r);
    for (const auto& p : pipelines) {
      if (labelled.count(p.tenant) == 0) {
        continue;
      }
      std::map<std::string, std::string> labels{
        {"tenant", p.tenant}, {"queue", p.queue}, {"version", p.version}};
      started.Add(labels).Increment(static_cast<double>(p.started));
      add_by_reason(ended, labels, p.ended);
    }
  }
  return prometheus::TextSerializer{}.Serialize(registry->Collect());
}

} // namespace flowgate
