#include "config/billing.hpp"

#include "config/json_text.hpp"
#include "messages/errors.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

namespace flowgate {

namespace json = boost::json;

namespace {

// Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  auto era = (y >= 0 ? y : y - 399) / 400;
  auto yoe = y - era * 400;
  auto doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  auto doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int64_t& y, int64_t& m, int64_t& d) {
  z += 719468;
  auto era = (z >= 0 ? z : z - 146096) / 146097;
  auto doe = z - era * 146097;
  auto yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = yoe + era * 400;
  auto doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  auto mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp + (mp < 10 ? 3 : -9);
  y += m <= 2 ? 1 : 0;
}

constexpr int64_t ms_per_day = 86'400'000;

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

int priority(const std::string& status) {
  if (status == "trialing") {
    return 4;
  }
  if (status == "active") {
    return 3;
  }
  if (status == "past_due") {
    return 2;
  }
  if (status == "unpaid") {
    return 1;
  }
  return 0;
}

/// `workflow_step_limit` of a metadata object: the limit (-1 unlimited),
/// or nothing (absent, or ignored with a warning).
bool metadata_limit(const std::string& metadata, const std::string& where, int64_t& limit,
                    std::vector<std::string>& warnings) {
  boost::system::error_code ec;
  auto v = parse_json(metadata, ec);
  if (ec || !v.is_object()) {
    warnings.push_back(where + " is not a JSON object; ignored");
    return false;
  }
  const auto* x = v.get_object().if_contains("workflow_step_limit");
  if (x == nullptr) {
    return false;
  }
  if (x->is_string()) {
    std::string s{x->get_string()};
    if (s == "unlimited") {
      limit = -1;
      return true;
    }
    int64_t n = 0;
    auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (err == std::errc{} && end == s.data() + s.size() && n > 0) {
      limit = n;
      return true;
    }
    warnings.push_back(where + " workflow_step_limit '" + s +
                       "' is not a positive integer or 'unlimited'; ignored");
    return false;
  }
  if (x->is_int64() && x->get_int64() > 0) {
    limit = x->get_int64();
    return true;
  }
  warnings.push_back(where + " workflow_step_limit " + json::serialize(*x) +
                     " is not a positive integer or 'unlimited'; ignored");
  return false;
}

} // namespace

std::pair<int64_t, int64_t> calendar_month(int64_t now_ms) {
  int64_t y = 0;
  int64_t m = 0;
  int64_t d = 0;
  civil_from_days(floor_div(now_ms, ms_per_day), y, m, d);
  auto start = days_from_civil(y, m, 1) * ms_per_day;
  auto end = (m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1)) * ms_per_day;
  return {start, end};
}

int64_t tier_step_limit(const std::string& tier) {
  if (tier == "premium") {
    return 10'000;
  }
  if (tier == "pro") {
    return 750;
  }
  return 150;
}

billing_period resolve_billing_period(const std::vector<subscription>& subscriptions,
                                      const std::string& tier, int64_t now_ms) {
  billing_period out;
  const subscription* chosen = nullptr;
  for (const auto& s : subscriptions) {
    if (priority(s.status) == 0) {
      continue;
    }
    if (s.period_start_ms <= 0 || s.period_end_ms <= s.period_start_ms) {
      out.warnings.push_back("subscription '" + s.id + "' (" + s.status +
                             ") has a missing or invalid period; ignored");
      continue;
    }
    if (now_ms < s.period_start_ms || now_ms >= s.period_end_ms) {
      out.warnings.push_back("subscription '" + s.id + "' (" + s.status +
                             ") period does not contain now; ignored");
      continue;
    }
    if (chosen == nullptr || priority(s.status) > priority(chosen->status)) {
      chosen = &s;
    }
  }
  if (chosen != nullptr) {
    out.start_ms = chosen->period_start_ms;
    out.end_ms = chosen->period_end_ms;
    out.period_source = "subscription " + chosen->id;
    int64_t limit = 0;
    if (metadata_limit(chosen->price_metadata, "subscription '" + chosen->id + "' price metadata",
                       limit, out.warnings)) {
      out.limit = limit;
      out.limit_source = "price metadata";
      return out;
    }
    if (metadata_limit(chosen->product_metadata,
                       "subscription '" + chosen->id + "' product metadata", limit, out.warnings)) {
      out.limit = limit;
      out.limit_source = "product metadata";
      return out;
    }
  } else {
    auto [start, end] = calendar_month(now_ms);
    out.start_ms = start;
    out.end_ms = end;
    out.period_source = "calendar month";
  }
  out.limit = tier_step_limit(tier);
  out.limit_source = "tier default";
  return out;
}

caf::expected<int64_t> parse_rfc3339(std::string_view t) {
  auto bad = [&] {
    return make_error(errc::invalid_argument,
                      "'" + std::string{t} + "' is not an RFC 3339 time like 2026-11-01T00:00:00Z");
  };
  // Exactly `len` ASCII digits (from_chars alone would take "-9" as a minute).
  auto num = [&](size_t pos, size_t len, int64_t& out) {
    if (pos + len > t.size()) {
      return false;
    }
    for (size_t i = pos; i < pos + len; ++i) {
      if (t[i] < '0' || t[i] > '9') {
        return false;
      }
    }
    auto [end, ec] = std::from_chars(t.data() + pos, t.data() + pos + len, out);
    return ec == std::errc{} && end == t.data() + pos + len;
  };
  int64_t y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (t.size() < 20 || !num(0, 4, y) || t[4] != '-' || !num(5, 2, mo) || t[7] != '-' ||
      !num(8, 2, d) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') || !num(11, 2, h) ||
      t[13] != ':' || !num(14, 2, mi) || t[16] != ':' || !num(17, 2, s)) {
    return bad();
  }
  static constexpr std::array<int64_t, 12> days_in = {31, 29, 31, 30, 31, 30,
                                                      31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > days_in[static_cast<size_t>(mo - 1)] || h > 23 || mi > 59 ||
      s > 60) {
    return bad();
  }
  size_t pos = 19;
  int64_t frac_ms = 0;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    int64_t scale = 100;
    size_t digits = 0;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      frac_ms += (t[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++digits;
    }
    if (digits == 0) {
      return bad();
    }
  }
  int64_t offset_min = 0;
  if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
    ++pos;
  } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
    int64_t oh = 0, om = 0;
    if (!num(pos + 1, 2, oh) || pos + 3 >= t.size() || t[pos + 3] != ':' || !num(pos + 4, 2, om) ||
        oh > 23 || om > 59) {
      return bad();
    }
    offset_min = (oh * 60 + om) * (t[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != t.size()) {
    return bad();
  }
  auto days = days_from_civil(y, mo, d);
  int64_t y2 = 0, m2 = 0, d2 = 0;
  civil_from_days(days, y2, m2, d2);
  if (m2 != mo || d2 != d) {
    return bad(); // e.g. February 30
  }
  return ((days * 24 + h) * 60 + mi - offset_min) * 60'000 + std::min<int64_t>(s, 59) * 1000 +
         frac_ms;
}

std::string format_rfc3339(int64_t ms) {
  int64_t y = 0, m = 0, d = 0;
  auto days = floor_div(ms, ms_per_day);
  civil_from_days(days, y, m, d);
  auto rest = ms - days * ms_per_day;
  char buf[96];
  std::snprintf(
    buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", static_cast<long long>(y),
    static_cast<long long>(m), static_cast<long long>(d), static_cast<long long>(rest / 3'600'000),
    static_cast<long long>(rest / 60'000 % 60), static_cast<long long>(rest / 1000 % 60));
  return buf;
}

caf::expected<subscription> parse_subscription_text(std::string_view text) {
  auto doc = parse_json_document(text, "subscription");
  if (!doc) {
    return doc.error();
  }
  auto invalid = [](const std::string& what) {
    return make_error(errc::invalid_config, "subscription: " + what);
  };
  if (!doc->is_object()) {
    return invalid("must be a JSON object, got " + std::string{json_kind_name(*doc)});
  }
  const auto& o = doc->get_object();
  static const char* known[] = {"id",
                                "status",
                                "current_period_start",
                                "current_period_end",
                                "price_metadata",
                                "product_metadata"};
  for (const auto& kv : o) {
    if (std::find_if(std::begin(known), std::end(known),
                     [&](const char* k) { return kv.key() == k; }) == std::end(known)) {
      return invalid("unknown field '" + std::string{kv.key()} + "'");
    }
  }
  subscription s;
  for (const char* key : {"id", "status"}) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string() || v->get_string().empty() ||
        v->get_string().size() > 256) {
      return invalid(std::string{"field '"} + key + "' must be a non-empty string");
    }
    (std::string_view{key} == "id" ? s.id : s.status) = std::string{v->get_string()};
  }
  for (const char* key : {"current_period_start", "current_period_end"}) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) {
      continue;
    }
    if (!v->is_string()) {
      return invalid(std::string{"field '"} + key + "' must be an RFC 3339 time string");
    }
    auto ms = parse_rfc3339(v->get_string());
    if (!ms) {
      return invalid(std::string{"field '"} + key + "': " + describe(ms.error()));
    }
    (std::string_view{key} == "current_period_start" ? s.period_start_ms : s.period_end_ms) = *ms;
  }
  if (s.period_start_ms != 0 && s.period_end_ms != 0 && s.period_end_ms <= s.period_start_ms) {
    return invalid("current_period_end (" + format_rfc3339(s.period_end_ms) +
                   ") must be after current_period_start (" + format_rfc3339(s.period_start_ms) +
                   ")");
  }
  for (const char* key : {"price_metadata", "product_metadata"}) {
    const auto* v = o.if_contains(key);
    if (v == nullptr) {
      continue;
    }
    if (!v->is_object()) {
      return invalid(std::string{"field '"} + key + "' must be an object");
    }
    (std::string_view{key} == "price_metadata" ? s.price_metadata : s.product_metadata) =
      canonical_json(*v);
  }
  return s;
}

} // namespace flowgate
