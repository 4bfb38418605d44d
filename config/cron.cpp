#include "config/cron.hpp"

#include "messages/errors.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <exception>
#include <vector>

namespace flowgate {

namespace {

using namespace std::chrono;

struct field_spec {
  const char* name;
  int min;
  int max;
  /// Names for values min, min+1, ... (nullptr: numbers only).
  const char* const* names;
};

constexpr const char* month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* weekday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

constexpr std::array<field_spec, 5> fields = {{
  {"minute", 0, 59, nullptr},
  {"hour", 0, 23, nullptr},
  {"day-of-month", 1, 31, nullptr},
  {"month", 1, 12, month_names},
  {"day-of-week", 0, 7, weekday_names},
}};

/// Names and macros are case-insensitive.
std::string lowered(std::string_view text) {
  std::string out;
  for (char c : text) {
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

/// Thrown inside the parser only: the first problem ends parsing.
struct bad_cron {
  std::string message;
};

class cron_parser {
public:
  explicit cron_parser(std::string_view text) : text_(text) {}

  cron_expression run() {
    cron_expression out;
    out.text = std::string{text_};
    auto expanded = expand_macro(text_);
    std::vector<std::string_view> parts;
    size_t i = 0;
    while (i < expanded.size()) {
      while (i < expanded.size() && (expanded[i] == ' ' || expanded[i] == '\t')) {
        ++i;
      }
      auto start = i;
      while (i < expanded.size() && expanded[i] != ' ' && expanded[i] != '\t') {
        ++i;
      }
      if (i > start) {
        parts.push_back(expanded.substr(start, i - start));
      }
    }
    if (parts.size() != 5) {
      fail("", "needs 5 fields (minute hour day-of-month month day-of-week), has " +
                 std::to_string(parts.size()));
    }
    std::array<std::bitset<64>, 5> sets;
    for (size_t f = 0; f < 5; ++f) {
      sets[f] = parse_field(fields[f], parts[f]);
    }
    for (int m = 0; m < 60; ++m) {
      out.minutes[m] = sets[0][m];
    }
    for (int h = 0; h < 24; ++h) {
      out.hours[h] = sets[1][h];
    }
    for (int d = 1; d <= 31; ++d) {
      out.days_of_month[d] = sets[2][d];
    }
    for (int m = 1; m <= 12; ++m) {
      out.months[m] = sets[3][m];
    }
    for (int d = 0; d < 7; ++d) {
      out.days_of_week[d] = sets[4][d] || (d == 0 && sets[4][7]);
    }
    out.day_of_month_restricted = parts[2].front() != '*';
    out.day_of_week_restricted = parts[4].front() != '*';
    return out;
  }

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw bad_cron{"cron '" + std::string{text_} + "': " + (field.empty() ? "" : field + ": ") +
                   what};
  }

private:
  std::string_view expand_macro(std::string_view t) const {
    if (t.empty() || t.front() != '@') {
      return t;
    }
    auto lower = lowered(t);
    if (lower == "@yearly" || lower == "@annually") {
      return "0 0 1 1 *";
    }
    if (lower == "@monthly") {
      return "0 0 1 * *";
    }
    if (lower == "@weekly") {
      return "0 0 * * 0";
    }
    if (lower == "@daily" || lower == "@midnight") {
      return "0 0 * * *";
    }
    if (lower == "@hourly") {
      return "0 * * * *";
    }
    fail("", "unknown macro '" + std::string{t} +
               "' (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)");
  }

  int parse_value(const field_spec& f, std::string_view v) const {
    if (v.empty()) {
      fail(f.name, "a value is missing");
    }
    if (f.names != nullptr && std::isalpha(static_cast<unsigned char>(v.front()))) {
      auto lower = lowered(v);
      auto count = f.max - f.min + 1 - (f.max == 7 ? 1 : 0);
      for (int i = 0; i < count; ++i) {
        if (lower == f.names[i]) {
          return f.min + i;
        }
      }
      fail(f.name, "unknown name '" + std::string{v} + "'");
    }
    int x = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc{} || end != v.data() + v.size()) {
      fail(f.name, "'" + std::string{v} + "' is not a number");
    }
    if (x < f.min || x > f.max) {
      fail(f.name,
           std::string{v} + " is outside " + std::to_string(f.min) + "-" + std::to_string(f.max));
    }
    return x;
  }

  std::bitset<64> parse_field(const field_spec& f, std::string_view text) const {
    std::bitset<64> out;
    size_t start = 0;
    while (start <= text.size()) {
      auto comma = text.find(',', start);
      auto item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                     : comma - start);
      if (item.empty()) {
        fail(f.name, "an empty list item in '" + std::string{text} + "'");
      }
      int from = f.min;
      int to = f.max;
      int step = 1;
      auto slash = item.find('/');
      auto range = item.substr(0, slash);
      if (slash != std::string_view::npos) {
        auto s = item.substr(slash + 1);
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
        if (ec != std::errc{} || end != s.data() + s.size() || step < 1 ||
            step > f.max - f.min + 1) {
          fail(f.name, "step '" + std::string{s} + "' must be a number from 1 to " +
                         std::to_string(f.max - f.min + 1));
        }
      }
      if (range != "*") {
        auto dash = range.find('-');
        if (dash == std::string_view::npos) {
          from = parse_value(f, range);
          // `N/S` runs from N to the end; a lone `N` is just N.
          to = slash == std::string_view::npos ? from : f.max;
        } else {
          from = parse_value(f, range.substr(0, dash));
          to = parse_value(f, range.substr(dash + 1));
          if (to < from) {
            fail(f.name, "range '" + std::string{range} + "' runs backwards");
          }
        }
      }
      for (int v = from; v <= to; v += step) {
        out[static_cast<size_t>(v)] = true;
      }
      if (comma == std::string_view::npos) {
        break;
      }
      start = comma + 1;
    }
    return out;
  }

  std::string_view text_;
};

bool day_matches(const cron_expression& c, const date::year_month_day& ymd) {
  if (!c.months[static_cast<unsigned>(ymd.month())]) {
    return false;
  }
  bool dom = c.days_of_month[static_cast<unsigned>(ymd.day())];
  bool dow = c.days_of_week[date::weekday{date::sys_days{ymd}}.c_encoding()];
  if (c.day_of_month_restricted && c.day_of_week_restricted) {
    return dom || dow;
  }
  return dom && dow;
}

/// Days searched for a match: eight years covers every combination of a
/// day of month, a month and a weekday (the calendar repeats in 28 years,
/// but a date falls on each weekday within 7 years of leap days).
constexpr int max_search_days = 8 * 366 + 7;

} // namespace

caf::expected<cron_expression> parse_cron(std::string_view text) {
  cron_parser parser{text};
  try {
    auto out = parser.run();
    // A day of month no selected month has (30 February) never fires.
    if (!next_fire(out, cron_zone{}, 0)) {
      parser.fail("", "matches no date");
    }
    return out;
  } catch (bad_cron& x) {
    return make_error(errc::invalid_config, std::move(x.message));
  }
}

caf::expected<cron_zone> cron_zone::named(std::string_view name) {
  cron_zone z;
  if (name == "UTC" || name == "Etc/UTC") {
    z.name_ = std::string{name};
    return z;
  }
  try {
    z.zone_ = date::locate_zone(std::string{name});
  } catch (const std::exception&) {
    return make_error(errc::invalid_config,
                      "timezone '" + std::string{name} +
                        "' is not UTC or a zone of the system's time zone database (IANA names "
                        "such as Europe/Berlin)");
  }
  z.name_ = std::string{name};
  return z;
}

int64_t cron_zone::local_minute(int64_t utc_ms) const {
  auto t = sys_time<milliseconds>{milliseconds{utc_ms}};
  if (zone_ == nullptr) {
    return date::floor<minutes>(t).time_since_epoch().count();
  }
  auto local = zone_->to_local(t);
  return date::floor<minutes>(local).time_since_epoch().count();
}

int64_t cron_zone::utc_of(int64_t local_minute) const {
  auto m = minutes{local_minute};
  if (zone_ == nullptr) {
    return duration_cast<milliseconds>(m).count();
  }
  auto local = date::local_time<minutes>{m};
  auto info = zone_->get_info(local);
  switch (info.result) {
  case date::local_info::unique:
  case date::local_info::ambiguous: // the first occurrence: the earlier offset
    return duration_cast<milliseconds>(local.time_since_epoch() - info.first.offset).count();
  case date::local_info::nonexistent:
    // The wall time was skipped: the instant the gap ends.
    return duration_cast<milliseconds>(info.second.begin.time_since_epoch()).count();
  }
  return duration_cast<milliseconds>(local.time_since_epoch() - info.first.offset).count();
}

std::optional<int64_t> next_fire(const cron_expression& cron, const cron_zone& zone,
                                 int64_t after_ms) {
  // Walk wall-clock days from the one `after_ms` falls on (minus one: a
  // repeated hour can map a local time of the day before past `after_ms`).
  auto start_minute = zone.local_minute(after_ms);
  auto day0 =
    date::floor<date::days>(date::sys_time<minutes>{minutes{start_minute}}) - date::days{1};
  for (int d = 0; d < max_search_days; ++d) {
    auto day = day0 + date::days{d};
    date::year_month_day ymd{day};
    if (!day_matches(cron, ymd)) {
      continue;
    }
    auto day_minute = duration_cast<minutes>(day.time_since_epoch()).count();
    for (int h = 0; h < 24; ++h) {
      if (!cron.hours[h]) {
        continue;
      }
      for (int m = 0; m < 60; ++m) {
        if (!cron.minutes[m]) {
          continue;
        }
        auto utc = zone.utc_of(day_minute + h * 60 + m);
        if (utc > after_ms) {
          return utc;
        }
      }
    }
  }
  return std::nullopt;
}

} // namespace flowgate
