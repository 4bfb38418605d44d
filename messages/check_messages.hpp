#pragma once

/// The invariant check of a database (`flowgate check`): the request, the
/// findings and the report. persistence/store_check.hpp states the rules.

#include "messages/ids.hpp"
#include "messages/run_enums.hpp"

#include <caf/meta/type_name.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace flowgate {

/// What a finding says is wrong. Values are part of the wire format:
/// append only.
enum class check_kind : uint8_t {
  /// History sequence numbers are not 1, 2, ... n, or the run's next_seq
  /// is not n + 1.
  history_gap = 0,
  /// A finished run without exactly one terminal event as its last event,
  /// one that does not match its status, or an unfinished run with one.
  terminal_event = 1,
  /// A ledger row (step attempt) that no history event schedules.
  ledger_without_event = 2,
  /// A history event that schedules a step attempt without a ledger row.
  event_without_ledger = 3,
  /// An attempt of a step after an attempt of it that completed.
  attempt_after_completion = 4,
  /// A usage counter that differs from its period's ledger rows.
  usage_mismatch = 5,
  /// A live lease whose holder is not a live registration of its node.
  lease_of_dead_node = 6,
  /// More of a tenant's runs had a step attempt open at once than its
  /// concurrency limit allows.
  over_limit = 7,
  /// An open wait that does not match the run's status and wait reason.
  wait_mismatch = 8,
  /// A stored row that cannot be read (an unknown event type, a malformed
  /// payload).
  unreadable = 9,
};

namespace detail {
constexpr std::array<const char*, 10> check_kind_names{"history_gap",
                                                       "terminal_event",
                                                       "ledger_without_event",
                                                       "event_without_ledger",
                                                       "attempt_after_completion",
                                                       "usage_mismatch",
                                                       "lease_of_dead_node",
                                                       "over_limit",
                                                       "wait_mismatch",
                                                       "unreadable"};
} // namespace detail

constexpr const char* to_string(check_kind x) {
  return detail::enum_text(x, detail::check_kind_names);
}

/// One broken invariant, with what it concerns (0 / empty = not concerned).
struct check_finding {
  check_kind kind = check_kind::history_gap;
  std::string tenant;
  int64_t run = 0;
  int64_t seq = 0;
  std::string step;
  int32_t attempt = 0;
  int64_t period_start_ms = 0;
  int64_t period_end_ms = 0;
  /// The finding in one sentence, with the numbers.
  std::string message;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, check_finding& x) {
  return f(caf::meta::type_name("flowgate::check_finding"), x.kind, x.tenant, x.run, x.seq, x.step,
           x.attempt, x.period_start_ms, x.period_end_ms, x.message);
}

/// What was checked and what was found.
struct check_report {
  /// Empty: every tenant.
  std::string tenant;
  int64_t runs = 0;
  int64_t events = 0;
  int64_t attempts = 0;
  int64_t periods = 0;
  int64_t tenants = 0;
  int64_t checked_at_ms = 0;
  std::vector<check_finding> findings;
  /// Findings beyond `max_findings` that were counted but not listed.
  int64_t findings_left_out = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, check_report& x) {
  return f(caf::meta::type_name("flowgate::check_report"), x.tenant, x.runs, x.events, x.attempts,
           x.periods, x.tenants, x.checked_at_ms, x.findings, x.findings_left_out);
}

/// Checks the invariants of one tenant's data (or every tenant's) through
/// the read side -> `check_report`.
struct check_database {
  /// Empty: every tenant.
  tenant_id tenant;
  /// 0 = the reader's clock.
  int64_t now_ms = 0;
  /// The concurrency limit of a tenant whose config sets none (0 = none).
  int64_t default_limit = 0;
  int32_t max_findings = 1000;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, check_database& x) {
  return f(caf::meta::type_name("flowgate::check_database"), x.tenant, x.now_ms, x.default_limit,
           x.max_findings);
}

} // namespace flowgate
