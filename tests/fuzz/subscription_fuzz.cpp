// Fuzzes subscription documents (parse_subscription_text, as `subscription
// set` and the gateway call it), RFC 3339 times (parse_rfc3339) and the
// billing period resolved from an accepted subscription.
//
// Properties: errors carry the documented codes; an accepted period ends
// after it starts; an accepted time follows RFC 3339's fixed-width digits
// and survives format_rfc3339 (to the second); a resolved period is
// non-empty and its limit is unlimited (-1) or positive.

#include "config/billing.hpp"
#include "messages/errors.hpp"
#include "tests/fuzz/fuzz_target.hpp"

using namespace flowgate;
using namespace flowgate::fuzz;

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

void check_time(std::string_view text) {
  auto ms = parse_rfc3339(text);
  if (!ms) {
    fuzz_require(code_of(ms.error()) == errc::invalid_argument, "a bad time is invalid_argument");
    return;
  }
  // full-date "T" partial-time: YYYY-MM-DDTHH:MM:SS, every field digits.
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    fuzz_require(i < text.size() && is_digit(text[i]), "an accepted time has RFC 3339 digits");
  }
  auto second = *ms - ((*ms % 1000) + 1000) % 1000;
  auto back = parse_rfc3339(format_rfc3339(*ms));
  fuzz_require(back && *back == second, "format_rfc3339 round-trips an accepted time");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = as_text(data, size);
  check_time(text);
  auto sub = parse_subscription_text(text);
  if (!sub) {
    auto code = code_of(sub.error());
    fuzz_require(code == errc::payload_too_large || code == errc::malformed_json ||
                   code == errc::invalid_config,
                 "a subscription error is payload_too_large, malformed_json or invalid_config");
    return 0;
  }
  fuzz_require(!sub->id.empty() && !sub->status.empty(), "a subscription has an id and a status");
  if (sub->period_start_ms != 0 && sub->period_end_ms != 0) {
    fuzz_require(sub->period_end_ms > sub->period_start_ms, "a period ends after it starts");
  }
  auto now = sub->period_start_ms != 0 ? sub->period_start_ms : int64_t{1'790'000'000'000};
  for (const char* tier : {"solo", "premium"}) {
    auto period = resolve_billing_period({*sub}, tier, now);
    fuzz_require(period.start_ms < period.end_ms, "a billing period is not empty");
    fuzz_require(period.start_ms <= now && now < period.end_ms, "the period holds now");
    fuzz_require(period.limit == -1 || period.limit > 0, "a limit is unlimited or positive");
  }
  return 0;
}
