// Cron expressions and their fire times (config/cron.hpp). The table's
// expected times come from an independent brute-force oracle (walking UTC
// minutes, Python's zoneinfo) and were checked by hand around each
// daylight-saving change: Europe/Berlin 2026-03-29 02:00 -> 03:00 and
// 2026-10-25 03:00 -> 02:00, America/New_York 2026-03-08 and 2026-11-01,
// Australia/Lord_Howe's half-hour shift.

#include "config/billing.hpp"
#include "config/cron.hpp"
#include "messages/errors.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace flowgate;

namespace {

struct fire_case {
  const char* expr;
  const char* zone;
  const char* after;
  const char* next;
};

const std::vector<fire_case> fire_cases = {
  {"* * * * *", "UTC", "2026-03-01T10:00:00Z", "2026-03-01T10:01:00Z"},
  {"* * * * *", "UTC", "2026-03-01T10:00:30Z", "2026-03-01T10:01:00Z"},
  {"0 6 * * 1-5", "UTC", "2026-11-27T07:00:00Z", "2026-11-30T06:00:00Z"},
  {"0 6 * * 1-5", "UTC", "2026-11-30T05:59:59Z", "2026-11-30T06:00:00Z"},
  {"*/15 * * * *", "UTC", "2026-01-01T00:14:59Z", "2026-01-01T00:15:00Z"},
  {"5,35 9-17/4 * * *", "UTC", "2026-06-10T13:35:00Z", "2026-06-10T17:05:00Z"},
  {"0 0 1 * *", "UTC", "2026-12-15T00:00:00Z", "2027-01-01T00:00:00Z"},
  {"0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
  {"0 12 13 * 5", "UTC", "2026-02-13T12:00:00Z", "2026-02-20T12:00:00Z"},
  {"30 4 1,15 * mon", "UTC", "2026-06-02T00:00:00Z", "2026-06-08T04:30:00Z"},
  {"0 9 * jan-mar sun", "UTC", "2026-04-01T00:00:00Z", "2027-01-03T09:00:00Z"},
  {"0 0 * * 7", "UTC", "2026-12-01T00:00:00Z", "2026-12-06T00:00:00Z"},
  {"59 23 31 12 *", "UTC", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"},
  {"0 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
  {"30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
  {"*/15 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z"},
  {"*/15 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"},
  {"0 3 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
  {"30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
  {"30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
  {"*/30 1-3 * * *", "Europe/Berlin", "2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z"},
  {"*/30 1-3 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z"},
  {"*/30 1-3 * * *", "Europe/Berlin", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"},
  {"0 9 * * 1-5", "America/New_York", "2026-03-06T15:00:00Z", "2026-03-09T13:00:00Z"},
  {"0 9 * * 1-5", "America/New_York", "2026-03-09T12:00:00Z", "2026-03-09T13:00:00Z"},
  {"0 9 * * 1-5", "America/New_York", "2026-10-30T13:00:00Z", "2026-11-02T14:00:00Z"},
  {"0 2 * * *", "America/New_York", "2026-03-08T00:00:00Z", "2026-03-08T07:00:00Z"},
  {"30 1 * * *", "America/New_York", "2026-11-01T04:00:00Z", "2026-11-01T05:30:00Z"},
  {"30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
  {"0 0 * * *", "Asia/Kolkata", "2026-05-01T00:00:00Z", "2026-05-01T18:30:00Z"},
  {"0 0 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z", "2026-04-04T13:00:00Z"},
};

int64_t at(const char* rfc3339) {
  auto t = parse_rfc3339(rfc3339);
  BOOST_REQUIRE_MESSAGE(t, rfc3339);
  return *t;
}

std::string error_of(const std::string& expr) {
  auto c = parse_cron(expr);
  if (c) {
    return "<valid>";
  }
  BOOST_TEST(code_of(c.error()) == errc::invalid_config);
  return describe(c.error());
}

} // namespace

BOOST_AUTO_TEST_SUITE(cron)

BOOST_AUTO_TEST_CASE(fire_times_follow_the_table_across_daylight_saving_changes) {
  for (const auto& c : fire_cases) {
    auto expr = parse_cron(c.expr);
    BOOST_REQUIRE_MESSAGE(expr, c.expr << ": " << (expr ? "" : describe(expr.error())));
    auto zone = cron_zone::named(c.zone);
    BOOST_REQUIRE_MESSAGE(zone, c.zone);
    auto next = next_fire(*expr, *zone, at(c.after));
    BOOST_REQUIRE_MESSAGE(next, c.expr << " in " << c.zone << " after " << c.after);
    BOOST_TEST(format_rfc3339(*next) == std::string{c.next},
               c.expr << " in " << c.zone << " after " << c.after);
  }
}

BOOST_AUTO_TEST_CASE(a_skipped_wall_time_fires_once_and_a_repeated_one_once) {
  // Every 15 minutes of 02:00-02:59 on the day Berlin skips that hour:
  // one fire, at the end of the gap; on the day it repeats the hour 02:00-
  // 02:59 (first as CEST, then as CET): four fires, in the first pass.
  auto expr = parse_cron("*/15 2 * * *");
  BOOST_REQUIRE(expr);
  auto berlin = cron_zone::named("Europe/Berlin");
  BOOST_REQUIRE(berlin);
  auto fires_between = [&](const char* from, const char* to) {
    std::vector<std::string> out;
    auto t = at(from);
    while (auto next = next_fire(*expr, *berlin, t)) {
      if (*next >= at(to)) {
        break;
      }
      out.push_back(format_rfc3339(*next));
      t = *next;
    }
    return out;
  };
  BOOST_TEST((fires_between("2026-03-28T23:00:00Z", "2026-03-29T12:00:00Z") ==
              std::vector<std::string>{"2026-03-29T01:00:00Z"}));
  BOOST_TEST((fires_between("2026-10-24T23:00:00Z", "2026-10-25T12:00:00Z") ==
              std::vector<std::string>{"2026-10-25T00:00:00Z", "2026-10-25T00:15:00Z",
                                       "2026-10-25T00:30:00Z", "2026-10-25T00:45:00Z"}));
}

BOOST_AUTO_TEST_CASE(macros_names_and_sunday_as_seven) {
  auto utc = cron_zone{};
  auto after = at("2026-12-01T10:00:00Z"); // a Tuesday
  auto next = [&](const char* e) {
    auto c = parse_cron(e);
    BOOST_REQUIRE_MESSAGE(c, e << ": " << (c ? "" : describe(c.error())));
    return format_rfc3339(*next_fire(*c, utc, after));
  };
  BOOST_TEST(next("@hourly") == "2026-12-01T11:00:00Z");
  BOOST_TEST(next("@daily") == "2026-12-02T00:00:00Z");
  BOOST_TEST(next("@midnight") == "2026-12-02T00:00:00Z");
  BOOST_TEST(next("@weekly") == "2026-12-06T00:00:00Z");
  BOOST_TEST(next("@monthly") == "2027-01-01T00:00:00Z");
  BOOST_TEST(next("@yearly") == "2027-01-01T00:00:00Z");
  BOOST_TEST(next("@Annually") == "2027-01-01T00:00:00Z");
  BOOST_TEST(next("0 0 * * SUN") == next("0 0 * * 7"));
  BOOST_TEST(next("0 0 * * sun") == next("0 0 * * 0"));
  BOOST_TEST(next("0 0 1 FEB *") == "2027-02-01T00:00:00Z");
  BOOST_TEST(next("0 0 * * 5-7") == "2026-12-04T00:00:00Z");
  BOOST_TEST(next("10/20 * * * *") == "2026-12-01T10:10:00Z");
  BOOST_TEST(next("  0   12  *  *  *  ") == "2026-12-01T12:00:00Z");
  BOOST_TEST(parse_cron("0 12 * * *")->text == "0 12 * * *");
}

BOOST_AUTO_TEST_CASE(bad_expressions_are_refused_naming_the_field) {
  struct expectation {
    std::string expr;
    std::string says;
  };
  const std::vector<expectation> cases = {
    {"", "cron '': needs 5 fields (minute hour day-of-month month day-of-week), has 0"},
    {"* * * *", "has 4"},
    {"* * * * * *", "has 6"},
    {"60 * * * *", "cron '60 * * * *': minute: 60 is outside 0-59"},
    {"0 24 * * *", "hour: 24 is outside 0-23"},
    {"0 0 0 * *", "day-of-month: 0 is outside 1-31"},
    {"0 0 * 13 *", "month: 13 is outside 1-12"},
    {"0 0 * * 8", "day-of-week: 8 is outside 0-7"},
    {"0 0 * foo *", "month: unknown name 'foo'"},
    {"0 0 * * funday", "day-of-week: unknown name 'funday'"},
    {"x * * * *", "minute: 'x' is not a number"},
    {"*/0 * * * *", "minute: step '0' must be a number from 1 to 60"},
    {"*/x * * * *", "minute: step 'x' must be a number"},
    {"5-1 * * * *", "minute: range '5-1' runs backwards"},
    {"1,,2 * * * *", "minute: an empty list item in '1,,2'"},
    {"1, * * * *", "minute: an empty list item"},
    {"- * * * *", "minute: a value is missing"},
    {"0 0 30 2 *", "cron '0 0 30 2 *': matches no date"},
    {"0 0 31 4,6,9,11 *", "matches no date"},
    {"@every_minute", "unknown macro '@every_minute'"},
  };
  for (const auto& c : cases) {
    auto text = error_of(c.expr);
    BOOST_TEST_CHECK(text.find(c.says) != std::string::npos,
                     "error '" << text << "' should contain '" << c.says << "'");
  }
  // February 29 exists: refused only when no selected month has the day.
  BOOST_TEST(error_of("0 0 29 2 *") == "<valid>");
  BOOST_TEST(error_of("0 0 31 2 mon") == "<valid>"); // day-of-week keeps it alive
}

BOOST_AUTO_TEST_CASE(unknown_zones_are_refused_and_utc_is_always_there) {
  auto bad = cron_zone::named("Mars/Olympus_Mons");
  BOOST_REQUIRE(!bad);
  BOOST_TEST(code_of(bad.error()) == errc::invalid_config);
  BOOST_TEST(describe(bad.error()).find("timezone 'Mars/Olympus_Mons'") != std::string::npos);
  auto utc = cron_zone::named("UTC");
  BOOST_REQUIRE(utc);
  BOOST_TEST(utc->name() == "UTC");
  BOOST_TEST(cron_zone{}.name() == "UTC");
}

BOOST_AUTO_TEST_SUITE_END()
