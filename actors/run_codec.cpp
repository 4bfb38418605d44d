#include "actors/run_codec.hpp"

#include "config/json_text.hpp"
#include "messages/errors.hpp"

#include <boost/json.hpp>

namespace flowgate {

caf::expected<engine::event> from_record(const history_record& r) {
  auto type = engine::parse_event_type(r.type);
  if (!type) {
    return make_error(errc::nondeterminism, "history event " + std::to_string(r.seq) +
                                              " has an unknown type '" + r.type + "'");
  }
  boost::system::error_code ec;
  auto payload = parse_json(r.payload, ec);
  if (ec) {
    return make_error(errc::store_failure,
                      "history event " + std::to_string(r.seq) + " has a malformed payload");
  }
  return engine::event{r.seq, *type, r.node_path, r.attempt, std::move(payload)};
}

caf::expected<std::vector<engine::event>> from_records(const std::vector<history_record>& records) {
  std::vector<engine::event> out;
  out.reserve(records.size());
  for (const auto& r : records) {
    auto e = from_record(r);
    if (!e) {
      return e.error();
    }
    out.push_back(std::move(*e));
  }
  return out;
}

history_record to_record(const engine::event& e) {
  return history_record{e.seq,     engine::to_string(e.type),         e.node_path,
                        e.attempt, boost::json::serialize(e.payload), 0};
}

step_change to_step_change(const engine::ledger_change& c) {
  return step_change{c.step_path,  c.attempt,       c.status,
                     c.error_type, c.error_message, c.scheduled_by};
}

run_change to_run_change(const engine::run_transition& t) {
  run_change out;
  out.status = t.outcome;
  out.wait_reason = t.wait_reason;
  out.node_path = t.node_path;
  out.wake_at_ms = t.wake_at_ms;
  out.output = t.output;
  out.error_type = t.error_type;
  out.error_message = t.error_message;
  out.release_lease = t.release_lease;
  out.open_wait = t.open_wait;
  out.wait_event = t.wait_event;
  return out;
}

std::vector<history_record> to_records(const std::vector<engine::event>& events) {
  std::vector<history_record> out;
  out.reserve(events.size());
  for (const auto& e : events) {
    out.push_back(to_record(e));
  }
  return out;
}

std::vector<step_change> to_step_changes(const std::vector<engine::ledger_change>& changes) {
  std::vector<step_change> out;
  out.reserve(changes.size());
  for (const auto& c : changes) {
    out.push_back(to_step_change(c));
  }
  return out;
}

} // namespace flowgate
