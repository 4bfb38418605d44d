#include "config/schedule.hpp"

#include "config/json_text.hpp"
#include "messages/errors.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <deque>
#include <iterator>

namespace flowgate {

std::string_view to_string(overlap_policy x) {
  switch (x) {
  case overlap_policy::skip:
    return "skip";
  case overlap_policy::allow:
    return "allow";
  case overlap_policy::buffer_one:
    return "buffer_one";
  }
  return "skip";
}

std::string_view to_string(catch_up_policy x) {
  switch (x) {
  case catch_up_policy::none:
    return "none";
  case catch_up_policy::last:
    return "last";
  case catch_up_policy::all:
    return "all";
  }
  return "last";
}

caf::error unknown_schedule(std::string_view tenant, std::string_view id) {
  return make_error(errc::not_found, "schedule '" + std::string{id} + "' of tenant '" +
                                       std::string{tenant} + "' does not exist");
}

caf::error check_schedule_id(std::string_view id) {
  if (id.empty()) {
    return make_error(errc::invalid_argument, "a schedule id must not be empty");
  }
  if (id.size() > max_schedule_id_length) {
    return make_error(errc::invalid_argument, "schedule id is " + std::to_string(id.size()) +
                                                " characters long; the limit is " +
                                                std::to_string(max_schedule_id_length));
  }
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return make_error(errc::invalid_argument,
                        "schedule id '" + std::string{id} +
                          "' may contain only letters, digits, '.', '_' and '-'");
    }
  }
  return {};
}

namespace {

caf::error invalid(const std::string& what) {
  return make_error(errc::invalid_config, "schedule: " + what);
}

/// The string field `key` if present; errors if it is not a non-empty string.
caf::expected<std::string> string_field(const boost::json::object& o, const char* key,
                                        bool required) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) {
    if (required) {
      return invalid(std::string{"field '"} + key + "' is required");
    }
    return std::string{};
  }
  if (!v->is_string() || v->get_string().empty()) {
    return invalid(std::string{"field '"} + key + "' must be a non-empty string, got " +
                   std::string{json_kind_name(*v)});
  }
  return std::string{v->get_string()};
}

template <class Enum, size_t N>
caf::error enum_field(const boost::json::object& o, const char* key, const Enum (&values)[N],
                      Enum& out) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) {
    return {};
  }
  std::string allowed;
  for (auto x : values) {
    allowed += (allowed.empty() ? "" : ", ") + std::string{to_string(x)};
    if (v->is_string() && v->get_string() == to_string(x)) {
      out = x;
      return {};
    }
  }
  return invalid(std::string{"field '"} + key + "' must be one of " + allowed);
}

} // namespace

caf::expected<schedule_spec> parse_schedule_text(std::string_view text) {
  auto doc = parse_json_document(text, "schedule");
  if (!doc) {
    return doc.error();
  }
  if (!doc->is_object()) {
    return invalid("must be a JSON object, got " + std::string{json_kind_name(*doc)});
  }
  const auto& o = doc->get_object();
  static const char* known[] = {"queue", "version", "cron",     "timezone",
                                "input", "overlap", "catch_up", "paused"};
  for (const auto& kv : o) {
    if (std::find_if(std::begin(known), std::end(known),
                     [&](const char* k) { return kv.key() == k; }) == std::end(known)) {
      return invalid("unknown field '" + std::string{kv.key()} + "'");
    }
  }
  schedule_spec s;
  auto queue = string_field(o, "queue", true);
  if (!queue) {
    return queue.error();
  }
  s.queue = std::move(*queue);
  auto version = string_field(o, "version", false);
  if (!version) {
    return version.error();
  }
  s.version = std::move(*version);
  auto cron_text = string_field(o, "cron", true);
  if (!cron_text) {
    return cron_text.error();
  }
  auto cron = parse_cron(*cron_text);
  if (!cron) {
    return invalid(describe(cron.error()));
  }
  s.cron = std::move(*cron);
  auto zone_name = string_field(o, "timezone", false);
  if (!zone_name) {
    return zone_name.error();
  }
  if (!zone_name->empty()) {
    auto zone = cron_zone::named(*zone_name);
    if (!zone) {
      return invalid(describe(zone.error()));
    }
    s.zone = std::move(*zone);
  }
  if (const auto* v = o.if_contains("input")) {
    s.input = canonical_json(*v);
  }
  static const overlap_policy overlaps[] = {overlap_policy::skip, overlap_policy::allow,
                                            overlap_policy::buffer_one};
  if (auto err = enum_field(o, "overlap", overlaps, s.overlap)) {
    return err;
  }
  static const catch_up_policy catch_ups[] = {catch_up_policy::none, catch_up_policy::last,
                                              catch_up_policy::all};
  if (auto err = enum_field(o, "catch_up", catch_ups, s.catch_up)) {
    return err;
  }
  if (const auto* v = o.if_contains("paused")) {
    if (!v->is_bool()) {
      return invalid("field 'paused' must be a boolean, got " + std::string{json_kind_name(*v)});
    }
    s.paused = v->get_bool();
  }
  s.canonical = canonical_json(*doc);
  return s;
}

fire_plan plan_fires(const schedule_spec& spec, int64_t next_fire_ms, int64_t now_ms,
                     int64_t grace_ms) {
  fire_plan out;
  out.next_fire_ms = next_fire_ms;
  if (next_fire_ms <= 0 || next_fire_ms > now_ms) {
    return out;
  }
  size_t keep = spec.catch_up == catch_up_policy::all ? max_catch_up : 1;
  // The due times from `next_fire_ms` to `now_ms`, newest `keep` kept. A
  // long downtime is searched from its end in growing windows, so a
  // minutely schedule down for a year costs a window, not 525,600 steps.
  static constexpr int64_t hour = 3'600'000;
  static constexpr int64_t windows[] = {hour, 24 * hour, 40 * 24 * hour, 400 * 24 * hour,
                                        9 * 400 * 24 * hour};
  std::deque<int64_t> newest;
  int64_t found = 0;
  for (auto window : windows) {
    newest.clear();
    found = 0;
    bool whole = now_ms - window < next_fire_ms;
    auto t = whole ? std::optional<int64_t>{next_fire_ms}
                   : next_fire(spec.cron, spec.zone, now_ms - window);
    while (t && *t <= now_ms) {
      ++found;
      newest.push_back(*t);
      if (newest.size() > keep) {
        newest.pop_front();
      }
      t = next_fire(spec.cron, spec.zone, *t);
    }
    if (whole || newest.size() >= keep) {
      break;
    }
  }
  if (newest.empty()) {
    // `next_fire_ms` is older than every window and nothing fired since:
    // it was missed; go on from now.
    out.dropped = 1;
    out.next_fire_ms = next_fire(spec.cron, spec.zone, now_ms).value_or(0);
    return out;
  }
  auto last = newest.back();
  if (spec.catch_up == catch_up_policy::none && now_ms - last > grace_ms) {
    newest.clear();
  } else if (spec.catch_up == catch_up_policy::last) {
    newest = {last};
  }
  out.fires.assign(newest.begin(), newest.end());
  out.dropped = found - static_cast<int64_t>(out.fires.size());
  out.next_fire_ms = next_fire(spec.cron, spec.zone, last).value_or(0);
  return out;
}

std::vector<int64_t> upcoming_fires(const schedule_spec& spec, int64_t after_ms, size_t n) {
  std::vector<int64_t> out;
  auto t = next_fire(spec.cron, spec.zone, after_ms);
  while (t && out.size() < n) {
    out.push_back(*t);
    t = next_fire(spec.cron, spec.zone, *t);
  }
  return out;
}

std::string schedule_run_key(std::string_view schedule_id, int64_t fire_ms) {
  return "schedule:" + std::string{schedule_id} + ":" + std::to_string(fire_ms);
}

} // namespace flowgate
