// Schedule documents and their fire plans (config/schedule.hpp): which fire
// times are due at an instant, by catch-up policy, across long downtimes
// and a daylight-saving change.

#include "config/billing.hpp"
#include "config/schedule.hpp"
#include "messages/errors.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace flowgate;

namespace {

int64_t at(const char* rfc3339) {
  auto ms = parse_rfc3339(rfc3339);
  BOOST_REQUIRE(ms);
  return *ms;
}

schedule_spec spec(const std::string& text) {
  auto s = parse_schedule_text(text);
  BOOST_REQUIRE_MESSAGE(s, (s ? std::string{} : describe(s.error())));
  return *s;
}

std::vector<std::string> times(const std::vector<int64_t>& ms) {
  std::vector<std::string> out;
  for (auto t : ms) {
    out.push_back(format_rfc3339(t));
  }
  return out;
}

constexpr int64_t minute = 60'000;

} // namespace

BOOST_AUTO_TEST_SUITE(schedule)

BOOST_AUTO_TEST_CASE(a_document_takes_its_defaults_and_every_field) {
  auto s = spec(R"({"queue":"reports","cron":"0 6 * * 1-5"})");
  BOOST_TEST(s.queue == "reports");
  BOOST_TEST(s.version.empty());
  BOOST_TEST(s.zone.name() == "UTC");
  BOOST_TEST(s.input == "{}");
  BOOST_TEST(to_string(s.overlap) == "skip");
  BOOST_TEST(to_string(s.catch_up) == "last");
  BOOST_TEST(!s.paused);
  s = spec(R"({"queue":"r","version":"2","cron":"@hourly","timezone":"Europe/Berlin",
               "input":{"z":1,"a":[true]},"overlap":"buffer_one","catch_up":"all","paused":true})");
  BOOST_TEST(s.version == "2");
  BOOST_TEST(s.zone.name() == "Europe/Berlin");
  BOOST_TEST(s.input == R"({"a":[true],"z":1})");
  BOOST_TEST(to_string(s.overlap) == "buffer_one");
  BOOST_TEST(to_string(s.catch_up) == "all");
  BOOST_TEST(s.paused);
}

BOOST_AUTO_TEST_CASE(bad_documents_are_refused_naming_the_problem) {
  struct bad {
    const char* text;
    errc code;
    const char* message;
  };
  const bad cases[] = {
    {"", errc::malformed_json, "empty"},
    {"[1]", errc::invalid_config, "schedule: must be a JSON object, got array"},
    {R"({"cron":"* * * * *"})", errc::invalid_config, "schedule: field 'queue' is required"},
    {R"({"queue":"q"})", errc::invalid_config, "schedule: field 'cron' is required"},
    {R"({"queue":"","cron":"* * * * *"})", errc::invalid_config,
     "field 'queue' must be a non-empty string"},
    {R"({"queue":"q","cron":"* * * * *","every":5})", errc::invalid_config,
     "schedule: unknown field 'every'"},
    {R"({"queue":"q","cron":"0 25 * * *"})", errc::invalid_config, "hour: 25 is outside 0-23"},
    {R"({"queue":"q","cron":"* * * * *","timezone":"Mars/Olympus"})", errc::invalid_config,
     "Mars/Olympus"},
    {R"({"queue":"q","cron":"* * * * *","overlap":"queue"})", errc::invalid_config,
     "field 'overlap' must be one of skip, allow, buffer_one"},
    {R"({"queue":"q","cron":"* * * * *","catch_up":true})", errc::invalid_config,
     "field 'catch_up' must be one of none, last, all"},
    {R"({"queue":"q","cron":"* * * * *","paused":"no"})", errc::invalid_config,
     "field 'paused' must be a boolean, got string"},
    {R"({"queue":"q","cron":"* * * * *","version":3})", errc::invalid_config,
     "field 'version' must be a non-empty string, got integer"},
  };
  for (const auto& c : cases) {
    auto s = parse_schedule_text(c.text);
    BOOST_TEST_CONTEXT(c.text) {
      BOOST_REQUIRE(!s);
      BOOST_TEST(s.error().code() == static_cast<uint8_t>(c.code));
      BOOST_TEST(describe(s.error()).find(c.message) != std::string::npos, describe(s.error()));
    }
  }
  BOOST_TEST(!check_schedule_id("nightly-report_2.v1"));
  BOOST_TEST(static_cast<bool>(check_schedule_id("")));
  BOOST_TEST(static_cast<bool>(check_schedule_id("a b")));
  BOOST_TEST(static_cast<bool>(check_schedule_id(std::string(129, 'a'))));
}

BOOST_AUTO_TEST_CASE(nothing_is_due_before_the_next_fire_time) {
  auto s = spec(R"({"queue":"q","cron":"*/5 * * * *"})");
  auto next = at("2026-12-01T10:05:00Z");
  auto p = plan_fires(s, next, next - 1);
  BOOST_TEST(p.fires.empty());
  BOOST_TEST(p.next_fire_ms == next);
  p = plan_fires(s, next, next);
  BOOST_TEST(times(p.fires) == std::vector<std::string>{"2026-12-01T10:05:00Z"});
  BOOST_TEST(p.next_fire_ms == at("2026-12-01T10:10:00Z"));
  BOOST_TEST(p.dropped == 0);
}

BOOST_AUTO_TEST_CASE(catch_up_policies_after_a_downtime) {
  // Every 5 minutes; the last processed fire was 10:00, the node came back
  // at 10:30:40: 10:05 ... 10:30 (6 fire times) are due, 10:30 on time.
  const std::string base = R"({"queue":"q","cron":"*/5 * * * *","catch_up":")";
  auto next = at("2026-12-01T10:05:00Z");
  auto now = at("2026-12-01T10:30:40Z");
  auto none = plan_fires(spec(base + R"(none"})"), next, now);
  BOOST_TEST(times(none.fires) == std::vector<std::string>{"2026-12-01T10:30:00Z"});
  BOOST_TEST(none.dropped == 5);
  auto last = plan_fires(spec(base + R"(last"})"), next, now);
  BOOST_TEST(times(last.fires) == std::vector<std::string>{"2026-12-01T10:30:00Z"});
  BOOST_TEST(last.dropped == 5);
  auto all = plan_fires(spec(base + R"(all"})"), next, now);
  BOOST_TEST(all.fires.size() == 6u);
  BOOST_TEST(format_rfc3339(all.fires.front()) == "2026-12-01T10:05:00Z");
  BOOST_TEST(all.dropped == 0);
  for (const auto& p : {none, last, all}) {
    BOOST_TEST(p.next_fire_ms == at("2026-12-01T10:35:00Z"));
  }
  // Back at 10:32:30, the newest due time (10:30) is over a minute old:
  // `none` runs nothing, `last` still runs it.
  now = at("2026-12-01T10:32:30Z");
  none = plan_fires(spec(base + R"(none"})"), next, now);
  BOOST_TEST(none.fires.empty());
  BOOST_TEST(none.dropped == 6);
  BOOST_TEST(none.next_fire_ms == at("2026-12-01T10:35:00Z"));
  BOOST_TEST(plan_fires(spec(base + R"(last"})"), next, now).fires.size() == 1u);
}

BOOST_AUTO_TEST_CASE(catch_up_all_is_bounded_and_a_long_downtime_is_cheap) {
  // Every minute, down for a year: `all` runs the newest 100, `last` one,
  // and the next fire time follows now.
  auto next = at("2025-12-01T00:00:00Z");
  auto now = at("2026-12-01T00:00:30Z");
  auto all = plan_fires(spec(R"({"queue":"q","cron":"* * * * *","catch_up":"all"})"), next, now);
  BOOST_REQUIRE(all.fires.size() == max_catch_up);
  BOOST_TEST(format_rfc3339(all.fires.back()) == "2026-12-01T00:00:00Z");
  BOOST_TEST(all.fires.front() == at("2026-12-01T00:00:00Z") - 99 * minute);
  BOOST_TEST(all.next_fire_ms == at("2026-12-01T00:01:00Z"));
  BOOST_TEST(all.dropped > 0);
  auto last = plan_fires(spec(R"({"queue":"q","cron":"* * * * *"})"), next, now);
  BOOST_TEST(times(last.fires) == std::vector<std::string>{"2026-12-01T00:00:00Z"});
  // A yearly schedule whose last fire was missed two years ago.
  auto yearly = spec(R"({"queue":"q","cron":"0 0 1 1 *","catch_up":"all"})");
  auto p = plan_fires(yearly, at("2025-01-01T00:00:00Z"), at("2026-12-01T00:00:00Z"));
  BOOST_TEST(times(p.fires) ==
             (std::vector<std::string>{"2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"}));
  BOOST_TEST(format_rfc3339(p.next_fire_ms) == "2027-01-01T00:00:00Z");
}

BOOST_AUTO_TEST_CASE(fire_times_follow_the_zone_across_a_daylight_saving_change) {
  // 02:30 Berlin does not exist on 2026-03-29: it fires once at 03:00 CEST
  // (01:00Z); the day after at 02:30 CEST (00:30Z).
  auto s = spec(R"({"queue":"q","cron":"30 2 * * *","timezone":"Europe/Berlin"})");
  BOOST_TEST(times(upcoming_fires(s, at("2026-03-28T12:00:00Z"), 2)) ==
             (std::vector<std::string>{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}));
  auto p = plan_fires(s, at("2026-03-29T01:00:00Z"), at("2026-03-29T01:00:05Z"));
  BOOST_TEST(times(p.fires) == std::vector<std::string>{"2026-03-29T01:00:00Z"});
  BOOST_TEST(format_rfc3339(p.next_fire_ms) == "2026-03-30T00:30:00Z");
  BOOST_TEST(schedule_run_key("nightly", 1764547200000) == "schedule:nightly:1764547200000");
}

BOOST_AUTO_TEST_SUITE_END()
