#pragma once

/// Step-quota terms, outcomes and operations exchanged with the
/// `quota_accountant`, the `resume_scanner` and the store.
///
/// Every step attempt a run starts is reserved against the tenant's usage
/// period under the terms the accountant resolved (period and limit). The
/// reservation rides in the same store operation that records the attempt
/// (`append_history`, `create_run`), so the decision `used < limit`, the
/// counter and the `run_steps` ledger row commit together.

#include "messages/ids.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace flowgate {

/// The period and step limit in force for a tenant, as the accountant
/// resolved them (config/billing.hpp).
struct quota_terms {
  tenant_id tenant;
  int64_t period_start_ms = 0;
  /// 0 = no terms: an operation that starts a step attempt without terms is refused.
  int64_t period_end_ms = 0;
  /// -1 = unlimited (usage is still counted).
  int64_t limit = -1;
  std::string tier;
  /// `subscription <id>` or `calendar month`.
  std::string period_source;
  /// `price metadata`, `product metadata` or `tier default`.
  std::string limit_source;
  /// Ignored metadata and subscriptions, one sentence each.
  std::vector<std::string> warnings;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, quota_terms& x) {
  return f(caf::meta::type_name("flowgate::quota_terms"), x.tenant, x.period_start_ms,
           x.period_end_ms, x.limit, x.tier, x.period_source, x.limit_source, x.warnings);
}

/// Why a step attempt (or a resume) was not allowed: the period's quota is used up.
struct quota_exhausted {
  tenant_id tenant;
  run_id run;
  /// The step that could not start.
  std::string node_path;
  int64_t used = 0;
  int64_t limit = -1;
  int64_t period_start_ms = 0;
  int64_t period_end_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, quota_exhausted& x) {
  return f(caf::meta::type_name("flowgate::quota_exhausted"), x.tenant, x.run, x.node_path, x.used,
           x.limit, x.period_start_ms, x.period_end_ms);
}

/// Resume up to `max_runs` of a tenant's quota-paused runs, oldest wait
/// first, but no more than the tenant has quota left under `terms` (minus
/// runs resumed earlier that did not start their step yet). Each wait is
/// resolved exactly once; a resumed run becomes due at once and reserves
/// its step like any other. Replies the number resumed.
struct resume_quota_waits {
  quota_terms terms;
  int32_t max_runs = 100;
  int64_t now_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resume_quota_waits& x) {
  return f(caf::meta::type_name("flowgate::resume_quota_waits"), x.terms, x.max_runs, x.now_ms);
}

/// An operator's resume of one quota-paused run. Errors: `not_found` (no
/// such run for the tenant), `invalid_argument` (the run is not waiting on
/// quota). Without quota left the answer is `resumed = false` with the counts.
struct resume_run {
  run_id run;
  quota_terms terms;
  int64_t now_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, resume_run& x) {
  return f(caf::meta::type_name("flowgate::resume_run"), x.run, x.terms, x.now_ms);
}

/// Outcome of `resume_run`.
struct resume_outcome {
  bool resumed = false;
  /// Filled when `resumed` is false.
  quota_exhausted exhausted;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resume_outcome& x) {
  return f(caf::meta::type_name("flowgate::resume_outcome"), x.resumed, x.exhausted);
}

/// Tenants that have runs paused on quota (read), at most `limit`.
struct list_quota_tenants {
  int32_t limit = 1000;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_quota_tenants& x) {
  return f(caf::meta::type_name("flowgate::list_quota_tenants"), x.limit);
}

/// Counter vs ledger of one usage period (read).
struct reconcile_usage {
  tenant_id tenant;
  int64_t period_start_ms = 0;
  int64_t period_end_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reconcile_usage& x) {
  return f(caf::meta::type_name("flowgate::reconcile_usage"), x.tenant, x.period_start_ms,
           x.period_end_ms);
}

/// Outcome of `reconcile_usage`.
struct usage_reconciliation {
  tenant_id tenant;
  int64_t period_start_ms = 0;
  int64_t period_end_ms = 0;
  /// `usage_periods.used_count` (0 if the period has no row).
  int64_t counter = 0;
  /// `run_steps` rows of the tenant's runs reserved in the period
  /// (reservations made for no stored run, e.g. by a benchmark, are not seen).
  int64_t ledger = 0;
  /// counter - ledger.
  int64_t drift = 0;
  /// Whether `usage_periods` has a row for the period.
  bool counter_exists = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, usage_reconciliation& x) {
  return f(caf::meta::type_name("flowgate::usage_reconciliation"), x.tenant, x.period_start_ms,
           x.period_end_ms, x.counter, x.ledger, x.drift, x.counter_exists);
}

/// Counters of a `quota_accountant`.
struct accountant_stats {
  /// Terms answered from the cache / resolved from the store.
  int64_t terms_cached = 0;
  int64_t terms_resolved = 0;
  /// Standalone reservations and the store operations that carried them.
  int64_t reservations = 0;
  int64_t batches = 0;
  int64_t granted = 0;
  int64_t refused = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, accountant_stats& x) {
  return f(caf::meta::type_name("flowgate::accountant_stats"), x.terms_cached, x.terms_resolved,
           x.reservations, x.batches, x.granted, x.refused);
}

} // namespace flowgate
