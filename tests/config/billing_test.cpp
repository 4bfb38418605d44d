#include "config/billing.hpp"
#include "messages/errors.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

using namespace flowgate;

namespace {

int64_t at(const char* text) {
  auto ms = parse_rfc3339(text);
  BOOST_REQUIRE_MESSAGE(ms, text);
  return *ms;
}

subscription sub(std::string id, std::string status, const char* start, const char* end,
                 std::string price = "{}", std::string product = "{}") {
  return subscription{std::move(id),
                      std::move(status),
                      start == nullptr ? 0 : at(start),
                      end == nullptr ? 0 : at(end),
                      std::move(price),
                      std::move(product)};
}

} // namespace

BOOST_AUTO_TEST_SUITE(billing)

BOOST_AUTO_TEST_CASE(rfc3339_times_parse_and_format) {
  BOOST_TEST(at("1970-01-01T00:00:00Z") == 0);
  BOOST_TEST(at("2026-11-01T00:00:00Z") == 1'793'491'200'000);
  BOOST_TEST(at("2026-11-01T01:00:00+01:00") == at("2026-11-01T00:00:00Z"));
  BOOST_TEST(at("2026-11-01T00:00:00.250Z") == at("2026-11-01T00:00:00Z") + 250);
  BOOST_TEST(format_rfc3339(at("2024-02-29T23:59:59Z")) == "2024-02-29T23:59:59Z");
  for (const char* bad : {"2026-11-01", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                          "2026-11-01T00:00:00", "yesterday", "2026-11-01T24:00:00Z",
                          // Signs where digits belong (found by fuzz_subscription).
                          "2028-02-29T23:-9:60.999Z", "-001-01-01T00:00:00Z",
                          "2026-11-01T-1:00:00Z", "2026-11-01T00:00:00+-1:00"}) {
    BOOST_TEST(!parse_rfc3339(bad), bad);
  }
}

BOOST_AUTO_TEST_CASE(calendar_months_are_utc_and_half_open) {
  auto [s, e] = calendar_month(at("2026-11-22T15:00:00Z"));
  BOOST_TEST(s == at("2026-11-01T00:00:00Z"));
  BOOST_TEST(e == at("2026-12-01T00:00:00Z"));
  // The last millisecond of a month and the first of the next.
  auto last = calendar_month(at("2026-12-01T00:00:00Z") - 1);
  BOOST_TEST(last.first == at("2026-11-01T00:00:00Z"));
  auto first = calendar_month(at("2026-12-01T00:00:00Z"));
  BOOST_TEST(first.first == at("2026-12-01T00:00:00Z"));
  // December rolls over the year; February of a leap year.
  BOOST_TEST(calendar_month(at("2026-12-31T23:59:59Z")).second == at("2027-01-01T00:00:00Z"));
  BOOST_TEST(calendar_month(at("2028-02-10T00:00:00Z")).second == at("2028-03-01T00:00:00Z"));
}

BOOST_AUTO_TEST_CASE(subscription_status_priority_picks_the_period) {
  auto now = at("2026-11-15T00:00:00Z");
  std::vector<subscription> subs{
    sub("unpaid", "unpaid", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
    sub("active", "active", "2026-11-05T00:00:00Z", "2026-12-05T00:00:00Z"),
    sub("trial", "trialing", "2026-11-10T00:00:00Z", "2026-11-24T00:00:00Z"),
    sub("gone", "canceled", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")};
  auto p = resolve_billing_period(subs, "solo", now);
  BOOST_TEST(p.period_source == "subscription trial");
  BOOST_TEST(p.start_ms == at("2026-11-10T00:00:00Z"));
  subs.erase(subs.begin() + 2);
  BOOST_TEST(resolve_billing_period(subs, "solo", now).period_source == "subscription active");
  subs.erase(subs.begin() + 1);
  BOOST_TEST(resolve_billing_period(subs, "solo", now).period_source == "subscription unpaid");
}

BOOST_AUTO_TEST_CASE(invalid_periods_fall_back_to_the_calendar_month) {
  auto now = at("2026-11-15T00:00:00Z");
  std::vector<subscription> subs{
    sub("missing", "active", nullptr, nullptr),
    sub("backwards", "active", "2026-12-01T00:00:00Z", "2026-11-01T00:00:00Z"),
    sub("stale", "trialing", "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z")};
  auto p = resolve_billing_period(subs, "pro", now);
  BOOST_TEST(p.period_source == "calendar month");
  BOOST_TEST(p.start_ms == at("2026-11-01T00:00:00Z"));
  BOOST_TEST(p.end_ms == at("2026-12-01T00:00:00Z"));
  BOOST_TEST(p.limit == 750);
  BOOST_TEST(p.limit_source == "tier default");
  BOOST_TEST(p.warnings.size() == 3u);
  BOOST_TEST(resolve_billing_period({}, "solo", now).limit == 150);
  BOOST_TEST(resolve_billing_period({}, "premium", now).limit == 10000);
}

BOOST_AUTO_TEST_CASE(limit_precedence_price_then_product_then_tier) {
  auto now = at("2026-11-15T00:00:00Z");
  auto s = [&](std::string price, std::string product) {
    return std::vector<subscription>{
      sub("s", "active", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", price, product)};
  };
  auto p = resolve_billing_period(
    s(R"({"workflow_step_limit":"750"})", R"({"workflow_step_limit":"unlimited"})"), "solo", now);
  BOOST_TEST(p.limit == 750);
  BOOST_TEST(p.limit_source == "price metadata");
  p = resolve_billing_period(s("{}", R"({"workflow_step_limit":"unlimited"})"), "solo", now);
  BOOST_TEST(p.limit == -1);
  BOOST_TEST(p.limit_source == "product metadata");
  p = resolve_billing_period(s("{}", "{}"), "pro", now);
  BOOST_TEST(p.limit == 750);
  BOOST_TEST(p.limit_source == "tier default");
  BOOST_TEST(p.period_source == "subscription s");
}

BOOST_AUTO_TEST_CASE(invalid_metadata_is_ignored_with_a_warning) {
  auto now = at("2026-11-15T00:00:00Z");
  for (const char* bad : {R"({"workflow_step_limit":"0"})", R"({"workflow_step_limit":"-5"})",
                          R"({"workflow_step_limit":"lots"})", R"({"workflow_step_limit":0})"}) {
    std::vector<subscription> subs{sub("s", "active", "2026-11-01T00:00:00Z",
                                       "2026-12-01T00:00:00Z", bad,
                                       R"({"workflow_step_limit":"300"})")};
    auto p = resolve_billing_period(subs, "solo", now);
    BOOST_TEST(p.limit == 300, bad);
    BOOST_TEST(p.limit_source == "product metadata", bad);
    BOOST_REQUIRE_EQUAL(p.warnings.size(), 1u);
    BOOST_TEST(p.warnings.front().find("price metadata") != std::string::npos, bad);
  }
}

BOOST_AUTO_TEST_CASE(subscription_documents_are_validated) {
  auto s = parse_subscription_text(R"({"id": "sub_123", "status": "active",
    "current_period_start": "2026-11-01T00:00:00Z", "current_period_end": "2026-12-01T00:00:00Z",
    "price_metadata": {"workflow_step_limit": "750"},
    "product_metadata": {"workflow_step_limit": "unlimited"}})");
  BOOST_REQUIRE(s);
  BOOST_TEST(s->id == "sub_123");
  BOOST_TEST(s->period_end_ms == at("2026-12-01T00:00:00Z"));
  BOOST_TEST(s->price_metadata == R"({"workflow_step_limit":"750"})");
  struct bad {
    const char* text;
    const char* message;
  };
  for (auto [text, message] :
       {bad{R"({"id": "s", "status": "active", "colour": 1})", "unknown field 'colour'"},
        bad{R"({"status": "active"})", "field 'id' must be a non-empty string"},
        bad{R"({"id": "s", "status": "active", "current_period_start": "soon"})",
            "current_period_start"},
        bad{R"({"id": "s", "status": "active", "price_metadata": []})",
            "field 'price_metadata' must be an object"},
        bad{R"({"id": "s", "status": "active", "current_period_start": "2026-02-01T00:00:00Z",
                "current_period_end": "2026-01-01T00:00:00Z"})",
            "current_period_end (2026-01-01T00:00:00Z) must be after current_period_start "
            "(2026-02-01T00:00:00Z)"}}) {
    auto r = parse_subscription_text(text);
    BOOST_REQUIRE(!r);
    BOOST_TEST(describe(r.error()).find(message) != std::string::npos, describe(r.error()));
  }
  BOOST_TEST(code_of(parse_subscription_text("{").error()) == errc::malformed_json);
  // Empty, and not UTF-8: named as such.
  auto empty = parse_subscription_text("  \n");
  BOOST_REQUIRE(!empty);
  BOOST_TEST(describe(empty.error()).find("the document is empty") != std::string::npos,
             describe(empty.error()));
  auto latin1 = parse_subscription_text("{\"id\": \"caf\xe9\", \"status\": \"active\"}");
  BOOST_REQUIRE(!latin1);
  BOOST_TEST(describe(latin1.error()).find("invalid UTF-8 at byte 11") != std::string::npos,
             describe(latin1.error()));
}

BOOST_AUTO_TEST_SUITE_END()
