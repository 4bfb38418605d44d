#include "engine/history.hpp"

#include <array>
#include <utility>

namespace flowgate::engine {

namespace {

constexpr std::array<std::pair<event_type, const char*>, 14> names{{
  {event_type::run_started, "run_started"},
  {event_type::step_scheduled, "step_scheduled"},
  {event_type::step_completed, "step_completed"},
  {event_type::step_failed, "step_failed"},
  {event_type::step_cut_off, "step_cut_off"},
  {event_type::timer_started, "timer_started"},
  {event_type::timer_fired, "timer_fired"},
  {event_type::wait_started, "wait_started"},
  {event_type::signal_received, "signal_received"},
  {event_type::wait_timed_out, "wait_timed_out"},
  {event_type::run_completed, "run_completed"},
  {event_type::run_failed, "run_failed"},
  {event_type::run_canceled, "run_canceled"},
  {event_type::child_started, "child_started"},
}};

} // namespace

const char* to_string(event_type t) {
  for (const auto& [type, name] : names) {
    if (type == t) {
      return name;
    }
  }
  return "unknown";
}

std::optional<event_type> parse_event_type(std::string_view name) {
  for (const auto& [type, text] : names) {
    if (name == text) {
      return type;
    }
  }
  return std::nullopt;
}

bool is_decision(event_type t) {
  switch (t) {
  case event_type::run_started:
  case event_type::step_scheduled:
  case event_type::timer_started:
  case event_type::wait_started:
  case event_type::run_completed:
  case event_type::run_failed:
    return true;
  default:
    return false;
  }
}

std::string describe(const event& e) {
  std::string out = to_string(e.type);
  if (!e.node_path.empty()) {
    out += " '" + e.node_path + "'";
    if (e.attempt > 0) {
      out += "#" + std::to_string(e.attempt);
    }
  }
  return out;
}

} // namespace flowgate::engine
