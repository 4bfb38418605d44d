#pragma once

/// Schedules (FORMATS.md "Schedule"): the document a tenant puts, and which
/// fire times are due at a given instant. Pure: the time is an argument, so
/// the rules are tested at any instant, daylight-saving changes and long
/// downtimes included.
///
/// Document fields: `queue` (required), `version` (optional: else the
/// queue's runnable version at each fire), `cron` (required, config/cron.hpp),
/// `timezone` (`UTC` by default, or an IANA zone), `input` (any JSON value,
/// `{}` by default), `overlap` (`skip` by default, `allow`, `buffer_one`),
/// `catch_up` (`last` by default, `none`, `all`), `paused` (false by default).
/// Unknown fields are errors.
///
/// Fire rules (`plan_fires`):
/// - A schedule keeps its first unprocessed fire time (`next_fire_ms`). At
///   `now` the due fire times are those from it up to `now`.
/// - The newest due time is on time if it is at most `grace_ms` old; older
///   due times were missed (no node was serving, or the schedule was
///   pending for another reason).
/// - `catch_up`: `none` fires only an on-time fire time; `last` fires the
///   newest due time (one run for everything missed); `all` fires every due
///   time, oldest first, at most `max_catch_up` (100) of them, the newest.
/// - After a plan the next fire time is the first one after the newest
///   due time, so nothing is planned twice.
/// - Overlap (applied by the store when it fires, since it depends on the
///   previous run's status): `skip` drops a fire time while the schedule's
///   previous run is unfinished; `allow` always starts; `buffer_one` keeps
///   one such fire time and starts it once the previous run finished.

#include "config/cron.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate {

enum class overlap_policy { skip, allow, buffer_one };
enum class catch_up_policy { none, last, all };

std::string_view to_string(overlap_policy x);
std::string_view to_string(catch_up_policy x);

/// A parsed, validated schedule document.
struct schedule_spec {
  std::string queue;
  /// Empty: the queue's runnable version when the schedule fires.
  std::string version;
  cron_expression cron;
  cron_zone zone;
  /// Canonical JSON text of the run input.
  std::string input = "{}";
  overlap_policy overlap = overlap_policy::skip;
  catch_up_policy catch_up = catch_up_policy::last;
  bool paused = false;
  /// The whole document as canonical JSON text (what is stored).
  std::string canonical;
};

/// Longest schedule id (letters, digits, `.`, `_`, `-`).
inline constexpr size_t max_schedule_id_length = 128;

/// Checks a schedule id. Errors: `invalid_argument` naming the problem.
[[nodiscard]] caf::error check_schedule_id(std::string_view id);

/// `not_found`: schedule `id` of `tenant` does not exist.
[[nodiscard]] caf::error unknown_schedule(std::string_view tenant, std::string_view id);

/// Parses a schedule document. Errors: `malformed_json`,
/// `payload_too_large`, `invalid_config` naming the field, e.g.
/// `schedule: field 'overlap' must be one of skip, allow, buffer_one`.
[[nodiscard]] caf::expected<schedule_spec> parse_schedule_text(std::string_view text);

/// At most this many runs for the fire times missed during a downtime
/// (`catch_up: all`).
inline constexpr size_t max_catch_up = 100;

/// A due fire time is on time while it is at most this old.
inline constexpr int64_t default_fire_grace_ms = 60'000;

/// What is due at `now_ms` (see the file comment).
struct fire_plan {
  /// Fire times to run, oldest first.
  std::vector<int64_t> fires;
  /// Due fire times not run by the catch-up policy (those found: a
  /// downtime longer than eight years is not counted whole).
  int64_t dropped = 0;
  /// The schedule's next unprocessed fire time after this plan (0: the
  /// expression fires no more).
  int64_t next_fire_ms = 0;
};

/// The plan at `now_ms` for a schedule whose first unprocessed fire time is
/// `next_fire_ms`. Nothing is due while `next_fire_ms > now_ms` (the plan
/// then keeps it).
fire_plan plan_fires(const schedule_spec& spec, int64_t next_fire_ms, int64_t now_ms,
                     int64_t grace_ms = default_fire_grace_ms);

/// The first `n` fire times after `after_ms` (fewer if it fires no more).
std::vector<int64_t> upcoming_fires(const schedule_spec& spec, int64_t after_ms, size_t n);

/// The idempotency key of the run for one fire time: `schedule:<id>:<ms>`.
std::string schedule_run_key(std::string_view schedule_id, int64_t fire_ms);

} // namespace flowgate
