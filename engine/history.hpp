#pragma once

/// A run's history as the engine sees it: events with gap-free sequence
/// numbers (1, 2, ...), each naming the node path it belongs to. The
/// history is the only input of recovery and replay.
///
/// Node paths: the node id, and inside a `for_each` body the loop id and
/// the item index before it: `items/2/reserve`. Paths are unique per run.
///
/// Payloads (JSON):
/// - run_started: the run input.
/// - step_scheduled: {"activity", "input", "timeout_ms"} (the resolved input);
///   for a child run {"child": {"queue", "version"}, "input"}.
/// - child_started: {"run", "version"}: the child run of that attempt exists.
/// - step_completed: the activity output.
/// - step_failed, step_cut_off: {"type", "message", "retryable"}.
/// - timer_started: {"fire_at_ms", "reason": "retry" | "timer"}.
/// - timer_fired, wait_timed_out: {}.
/// - wait_started: {"event", "timeout_at_ms"} (0 = no timeout).
/// - signal_received: {"event", "payload"}; node path empty.
/// - run_completed: the run output. run_failed: {"type", "message"}.
/// - run_canceled: {"reason"}.

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate::engine {

/// What happened. Decisions (the engine produces them) and external facts
/// (results, timers, signals) are told apart by `is_decision`.
enum class event_type : uint8_t {
  run_started,
  step_scheduled,
  step_completed,
  step_failed,
  step_cut_off,
  timer_started,
  timer_fired,
  wait_started,
  signal_received,
  wait_timed_out,
  run_completed,
  run_failed,
  run_canceled,
  child_started,
};

/// Name as stored (`step_scheduled`, ...).
const char* to_string(event_type t);

/// Parses a stored name.
std::optional<event_type> parse_event_type(std::string_view name);

/// True for events the engine itself decides (and replay must reproduce).
bool is_decision(event_type t);

/// One history event.
struct event {
  int64_t seq = 0;
  event_type type = event_type::run_started;
  std::string node_path;
  int32_t attempt = 0;
  boost::json::value payload;
};

/// `step_scheduled 'a'#2` style label used in errors and tools.
std::string describe(const event& e);

} // namespace flowgate::engine
