#pragma once

/// Cron expressions of schedules (FORMATS.md "Schedule") and their fire
/// times in a time zone. Pure: the time to start from is an argument.
///
/// Syntax: five fields, `minute hour day-of-month month day-of-week`,
/// separated by blanks. Each field is `*` or a comma-separated list of
/// `N`, `A-B`, `*/S`, `A-B/S` or `N/S` (from N to the field's end, every
/// S). Ranges: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or
/// `jan`-`dec`, day-of-week 0-7 or `sun`-`sat` (0 and 7 are Sunday); names
/// are case-insensitive. `@yearly` (`@annually`), `@monthly`, `@weekly`,
/// `@daily` (`@midnight`) and `@hourly` stand for their usual five fields.
///
/// Rules (those of Vixie cron, which users know):
/// - When both day-of-month and day-of-week are restricted (neither
///   starts with `*`), a day matches if either matches; otherwise both
///   must (a `*` matches every day).
/// - Fire times are wall-clock times in the schedule's zone. A wall time
///   that does not exist (the hour skipped when clocks go forward) fires at
///   the first instant after the gap, once, however many of its minutes
///   matched; a wall time that occurs twice (the hour repeated when clocks
///   go back) fires once, at its first occurrence.
/// - An expression that matches no date (`0 0 30 2 *`) is refused.

#include <caf/expected.hpp>

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace date {
class time_zone;
} // namespace date

namespace flowgate {

/// A parsed, validated cron expression.
struct cron_expression {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  /// Bit d for day-of-month d (1-31).
  std::bitset<32> days_of_month;
  /// Bit m for month m (1-12).
  std::bitset<13> months;
  /// Bit d for weekday d (0 = Sunday .. 6).
  std::bitset<7> days_of_week;
  /// The field was restricted (did not start with `*`).
  bool day_of_month_restricted = false;
  bool day_of_week_restricted = false;
  /// The expression as written.
  std::string text;
};

/// Parses `text`. Errors: `invalid_config` naming the field and the
/// offending part, e.g. `cron '0 25 * * *': hour: 25 is outside 0-23`.
[[nodiscard]] caf::expected<cron_expression> parse_cron(std::string_view text);

/// A time zone for fire times: UTC or an IANA zone.
class cron_zone {
public:
  /// UTC.
  cron_zone() = default;

  /// `UTC` or an IANA name (`Europe/Berlin`), from the system's time zone
  /// database. Errors: `invalid_config` naming an unknown zone.
  [[nodiscard]] static caf::expected<cron_zone> named(std::string_view name);

  /// The zone's name (`UTC` for the default).
  const std::string& name() const { return name_; }

  /// Wall-clock minute (minutes since 1970-01-01 00:00 local) of `utc_ms`.
  int64_t local_minute(int64_t utc_ms) const;

  /// The UTC time (ms) at which wall-clock minute `local` begins: for a
  /// skipped wall time, the end of the gap; for a repeated one, its first
  /// occurrence.
  int64_t utc_of(int64_t local_minute) const;

private:
  std::string name_ = "UTC";
  const date::time_zone* zone_ = nullptr;
};

/// The first fire time strictly after `after_ms` (UTC milliseconds), or
/// nullopt if there is none within eight years (only for expressions that
/// match a date rarely, e.g. February 29 on a Monday... which exists).
std::optional<int64_t> next_fire(const cron_expression& cron, const cron_zone& zone,
                                 int64_t after_ms);

} // namespace flowgate
