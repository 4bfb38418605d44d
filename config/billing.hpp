#pragma once

/// Billing periods and step limits (FORMATS.md "Subscription", issue 5).
/// Pure functions: the caller passes the time, so they are tested at any
/// instant, month boundaries included.
///
/// The period: the tenant's subscription with the highest status priority
/// (`trialing` > `active` > `past_due` > `unpaid`; other statuses are not
/// billing) whose period [start, end) is valid and contains `now`; without
/// one, the current UTC calendar month. The limit: `workflow_step_limit`
/// from that subscription's price metadata, else its product metadata, else
/// the tier default (solo 150, pro 750, premium 10000). A value is a
/// positive integer or `unlimited`; zero, negative or malformed values are
/// ignored with a warning and the next source is used.

#include <boost/json/value.hpp>

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate {

/// A subscription as stored.
struct subscription {
  std::string id;
  std::string status;
  /// 0 = missing.
  int64_t period_start_ms = 0;
  int64_t period_end_ms = 0;
  /// JSON objects of string values (as billing systems send them).
  std::string price_metadata = "{}";
  std::string product_metadata = "{}";
};

/// The billing period and step limit in force for a tenant.
struct billing_period {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  /// `subscription <id>` or `calendar month`.
  std::string period_source;
  /// -1 = unlimited.
  int64_t limit = -1;
  /// `price metadata`, `product metadata` or `tier default`.
  std::string limit_source;
  /// Ignored metadata values and subscriptions, one sentence each.
  std::vector<std::string> warnings;
};

/// Resolves the period and limit at `now_ms` (see the file comment).
billing_period resolve_billing_period(const std::vector<subscription>& subscriptions,
                                      const std::string& tier, int64_t now_ms);

/// [start, end) of the UTC calendar month holding `now_ms`.
std::pair<int64_t, int64_t> calendar_month(int64_t now_ms);

/// The tier's default step limit (solo 150, pro 750, premium 10000).
int64_t tier_step_limit(const std::string& tier);

/// Parses an RFC 3339 time (`2026-11-01T00:00:00Z`, fractions and offsets
/// allowed) to ms since the epoch. Errors: `invalid_argument`.
[[nodiscard]] caf::expected<int64_t> parse_rfc3339(std::string_view text);

/// RFC 3339 UTC text of a time (`2026-11-01T00:00:00Z`).
std::string format_rfc3339(int64_t ms);

/// A subscription document (FORMATS.md) validated: `id`, `status`,
/// optional `current_period_start` / `current_period_end` (RFC 3339),
/// `price_metadata` / `product_metadata` (objects of strings). Unknown
/// fields are errors. Errors: `malformed_json`, `invalid_config`.
[[nodiscard]] caf::expected<subscription> parse_subscription_text(std::string_view text);

} // namespace flowgate
