// `flowgate subscription ...` and `flowgate quota ...`: a tenant's billing
// periods, step quota, reconciliation and resume scans.

#include "tools/billing_commands.hpp"

#include "actors/node.hpp"
#include "api/views.hpp"
#include "config/billing.hpp"
#include "config/json_text.hpp"
#include "tools/cli_common.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <iostream>

namespace flowgate::cli {

namespace json = boost::json;

const char* const subscription_help = R"(Usage:
  flowgate subscription set --tenant T [FILE|-]   store a subscription (FORMATS.md)
  flowgate subscription get --tenant T            list the tenant's subscriptions

A subscription document:
  {"id": "sub_123", "status": "active",
   "current_period_start": "2026-11-01T00:00:00Z", "current_period_end": "2026-12-01T00:00:00Z",
   "price_metadata": {"workflow_step_limit": "750"},
   "product_metadata": {"workflow_step_limit": "unlimited"}}
Setting an existing id replaces it. Times are RFC 3339; periods are [start, end).
The period in force comes from the subscription with the highest status
(trialing > active > past_due > unpaid) whose period is valid and contains
now, else the UTC calendar month. See 'flowgate quota summary'.
)";

const char* const quota_help = R"(Usage:
  flowgate quota summary --tenant T
  flowgate quota reconcile --tenant T [--period START]
  flowgate quota scan

Shows the billing period in force (and where it comes from: a subscription
or the calendar month), the step limit (from price metadata, else product
metadata, else the tier default: solo 150, pro 750, premium 10000), the
steps used in the period, what remains, and warnings about ignored
subscriptions or metadata.

Every step attempt (each retry, each for_each item, each entry into a wait)
is reserved before it starts, in the same transaction as its ledger row.
When the quota is used up the run pauses (WAITING, reason quota) at that
step. 'flowgate serve' resumes paused runs every $FLOWGATE_QUOTA_SCAN_MS
(300000) ms, per tenant no more than its quota left; 'quota scan' runs one
such scan now, and 'flowgate run resume' resumes one run.

'quota reconcile' compares the period's usage counter with the ledger
(run_steps rows reserved in the period): the current period, or the one
starting at START (RFC 3339). Exit status 1 if they differ (drift).
)";

int subscription_command(gateway_client& n, const args& a, bool as_json) {
  const auto& cmd = a.words.size() > 1 ? a.words[1] : std::string{};
  auto tenant = require(a, "tenant");
  if (cmd == "set") {
    if (a.words.size() < 3 && !a.option("file")) {
      throw usage_error{"subscription set needs a FILE (or '-' for stdin)"};
    }
    auto stored = n.put_subscription(tenant, read_document(a, 2, ""));
    if (!stored) {
      return fail(stored.error());
    }
    if (as_json) {
      print_json(views::subscription_stored(*stored));
    } else {
      std::cout << "subscription " << stored->id << " of tenant " << stored->tenant.value
                << " stored (" << stored->status << ")\n";
    }
    return exit_ok;
  }
  auto subs = n.list_subscriptions(tenant);
  if (!subs) {
    return fail(subs.error());
  }
  if (as_json) {
    print_json(views::subscriptions(*subs));
  } else {
    std::printf("%-24s %-10s %-22s %-22s %s\n", "ID", "STATUS", "PERIOD START", "PERIOD END",
                "METADATA (price / product)");
    for (const auto& x : *subs) {
      std::printf("%-24s %-10s %-22s %-22s %s / %s\n", x.id.c_str(), x.status.c_str(),
                  x.period_start_ms > 0 ? format_rfc3339(x.period_start_ms).c_str() : "-",
                  x.period_end_ms > 0 ? format_rfc3339(x.period_end_ms).c_str() : "-",
                  x.price_metadata.c_str(), x.product_metadata.c_str());
    }
  }
  return exit_ok;
}

int quota_reconcile(gateway_client& n, const args& a, bool as_json) {
  int64_t start = 0;
  if (auto p = a.option("period")) {
    auto parsed = parse_rfc3339(*p);
    if (!parsed) {
      throw usage_error{"--period: " + describe(parsed.error())};
    }
    start = *parsed;
  }
  auto r = n.reconcile_quota(require(a, "tenant"), start);
  if (!r) {
    return fail(r.error());
  }
  if (as_json) {
    print_json(views::reconciliation(*r));
  } else {
    std::cout << "tenant:  " << r->tenant.value
              << "\nperiod:  " << format_rfc3339(r->period_start_ms) << " .. "
              << format_rfc3339(r->period_end_ms) << "\ncounter: " << r->counter
              << (r->counter_exists ? "" : " (no counter row)") << "\nledger:  " << r->ledger
              << "\ndrift:   " << r->drift
              << (r->drift == 0 ? " (in agreement)" : " (counter and ledger differ)") << "\n";
  }
  return r->drift == 0 ? exit_ok : exit_failure;
}

int quota_command(gateway_client& n, const args& a, bool as_json) {
  const auto& cmd = a.words.size() > 1 ? a.words[1] : std::string{};
  if (cmd == "reconcile") {
    return quota_reconcile(n, a, as_json);
  }
  if (cmd == "scan") {
    auto resumed = n.scan_quota_waits();
    if (!resumed) {
      return fail(resumed.error());
    }
    if (as_json) {
      print_json(json::object{{"resumed", *resumed}});
    } else {
      std::cout << *resumed << " runs resumed from quota waits\n";
    }
    return exit_ok;
  }
  auto q = n.summarize_quota(require(a, "tenant"));
  if (!q) {
    return fail(q.error());
  }
  const auto& p = q->period;
  if (as_json) {
    print_json(views::quota(*q));
  } else {
    std::cout << "tenant:    " << q->tenant << " (tier " << q->tier
              << ")\nperiod:    " << format_rfc3339(p.start_ms) << " .. "
              << format_rfc3339(p.end_ms) << " (" << p.period_source << ")\nlimit:     "
              << (p.limit < 0 ? std::string{"unlimited"} : std::to_string(p.limit)) << " ("
              << p.limit_source << ")\nused:      " << q->used << "\nremaining: "
              << (q->remaining < 0 ? std::string{"unlimited"} : std::to_string(q->remaining))
              << "\n";
    for (const auto& w : p.warnings) {
      std::cout << "warning:   " << w << "\n";
    }
  }
  return exit_ok;
}

} // namespace flowgate::cli
