#include "config/tenant_config.hpp"

#include "config/json_text.hpp"
#include "messages/errors.hpp"

#include <boost/json.hpp>

#include <algorithm>

#include <cctype>

namespace json = boost::json;

namespace flowgate {

caf::expected<std::string> normalize_tenant_id(std::string_view raw, std::string_view default_id) {
  auto begin = raw.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) {
    if (default_id.empty()) {
      return make_error(errc::invalid_argument, "tenant id is blank and no default is set");
    }
    return normalize_tenant_id(default_id, {});
  }
  auto end = raw.find_last_not_of(" \t\r\n");
  std::string id{raw.substr(begin, end - begin + 1)};
  for (auto& c : id) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  bool ok = id.size() <= 128;
  for (char c : id) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                c == '-' || c == ':');
  }
  if (!ok) {
    return make_error(errc::invalid_argument,
                      "tenant id '" + std::string{raw} + "' must match [a-z0-9._:-]{1,128}");
  }
  return id;
}

bool blank_tenant_id(std::string_view raw) {
  return raw.find_first_not_of(" \t") == std::string_view::npos;
}

const char* to_string(tenant_tier t) {
  switch (t) {
  case tenant_tier::solo:
    return "solo";
  case tenant_tier::pro:
    return "pro";
  case tenant_tier::premium:
    return "premium";
  }
  return "solo";
}

const char* to_string(admission_mode m) {
  return m == admission_mode::reject ? "reject" : "queue";
}

namespace {

struct bad_field {
  std::string message;
};

int64_t read_int(const json::value& v, const char* field, int64_t min, int64_t max) {
  if (!v.is_int64() && !v.is_uint64()) {
    throw bad_field{std::string{field} + " must be an integer, got " +
                    std::string{json_kind_name(v)}};
  }
  if (v.is_uint64() && v.get_uint64() > static_cast<uint64_t>(max)) {
    throw bad_field{std::string{field} + " must be <= " + std::to_string(max)};
  }
  auto x = v.is_int64() ? v.get_int64() : static_cast<int64_t>(v.get_uint64());
  if (x < min || x > max) {
    throw bad_field{std::string{field} + " must be between " + std::to_string(min) + " and " +
                    std::to_string(max)};
  }
  return x;
}

tenant_config parse_fields(const json::value& doc) {
  const auto* obj = doc.if_object();
  if (obj == nullptr) {
    throw bad_field{"the document must be a JSON object, got " + std::string{json_kind_name(doc)}};
  }
  tenant_config c;
  for (const auto& kv : *obj) {
    auto k = kv.key();
    const auto& v = kv.value();
    if (k == "name") {
      if (!v.is_string() || v.get_string().size() > 256) {
        throw bad_field{"name must be a string of at most 256 characters"};
      }
      c.name = std::string{v.get_string()};
    } else if (k == "tier") {
      if (v == "solo") {
        c.tier = tenant_tier::solo;
      } else if (v == "pro") {
        c.tier = tenant_tier::pro;
      } else if (v == "premium") {
        c.tier = tenant_tier::premium;
      } else {
        throw bad_field{"tier must be \"solo\", \"pro\" or \"premium\""};
      }
    } else if (k == "max_concurrent_runs") {
      c.max_concurrent_runs = read_int(v, "max_concurrent_runs", 0, 1'000'000);
    } else if (k == "admission") {
      if (v == "queue") {
        c.admission = admission_mode::queue;
      } else if (v == "reject") {
        c.admission = admission_mode::reject;
      } else {
        throw bad_field{"admission must be \"queue\" or \"reject\""};
      }
    } else if (k == "admission_deadline_ms") {
      c.admission_deadline_ms = read_int(v, "admission_deadline_ms", 1, 3'600'000);
    } else if (k == "quota") {
      const auto* q = v.if_object();
      if (q == nullptr) {
        throw bad_field{"quota must be an object with soft_limit and/or hard_limit"};
      }
      for (const auto& qkv : *q) {
        if (qkv.key() == "soft_limit") {
          c.soft_limit = read_int(qkv.value(), "quota.soft_limit", 1, 1'000'000'000);
        } else if (qkv.key() == "hard_limit") {
          c.hard_limit = read_int(qkv.value(), "quota.hard_limit", 1, 1'000'000'000);
        } else {
          throw bad_field{"quota: unknown field '" + std::string{qkv.key()} +
                          "' (allowed: soft_limit, hard_limit)"};
        }
      }
      if (c.soft_limit > 0 && c.hard_limit > 0 && c.hard_limit < c.soft_limit) {
        throw bad_field{"quota.hard_limit must be >= quota.soft_limit"};
      }
    } else if (k == "weight") {
      c.weight = read_int(v, "weight", 1, 1000);
    } else if (k == "settings") {
      if (!v.is_object()) {
        throw bad_field{"settings must be an object"};
      }
      c.settings = v.get_object();
    } else if (k == "secrets") {
      if (!v.is_object()) {
        throw bad_field{"secrets must be an object of name: string"};
      }
      for (const auto& secret : v.get_object()) {
        std::string_view name = secret.key();
        bool ok = !name.empty() && name.size() <= 128;
        for (char ch : name) {
          ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.');
        }
        if (!ok) {
          throw bad_field{"secrets: name '" + std::string{name} +
                          "' must match [A-Za-z0-9_.-]{1,128}"};
        }
        // The value is not repeated in the error: it is a secret.
        if (!secret.value().is_string()) {
          throw bad_field{"secrets." + std::string{name} + " must be a string"};
        }
      }
      c.secrets = v.get_object();
    } else if (k == "restrictions") {
      if (!v.is_array()) {
        throw bad_field{"restrictions must be an array of strings"};
      }
      for (const auto& r : v.get_array()) {
        if (!r.is_string() || r.get_string().empty()) {
          throw bad_field{"restrictions must be an array of non-empty strings"};
        }
        c.restrictions.emplace_back(r.get_string());
      }
    } else {
      throw bad_field{"unknown field '" + std::string{k} +
                      "' (allowed: name, tier, max_concurrent_runs, admission, "
                      "admission_deadline_ms, quota, weight, settings, secrets, "
                      "restrictions)"};
    }
  }
  return c;
}

} // namespace

caf::expected<tenant_config> parse_tenant_config(const json::value& doc, std::string_view tenant) {
  try {
    return parse_fields(doc);
  } catch (bad_field& x) {
    return make_error(errc::invalid_config,
                      "tenant '" + std::string{tenant} + "': " + std::move(x.message));
  }
}

caf::expected<parsed_tenant_config> parse_tenant_config_text(std::string_view text,
                                                             std::string_view tenant) {
  auto doc = parse_json_document(text, "tenant '" + std::string{tenant} + "'");
  if (!doc) {
    return doc.error();
  }
  auto cfg = parse_tenant_config(*doc, tenant);
  if (!cfg) {
    return cfg.error();
  }
  return parsed_tenant_config{std::move(*cfg), canonical_json(*doc)};
}

std::string redact_secrets(std::string_view config_json) {
  boost::system::error_code ec;
  auto doc = json::parse(config_json, ec);
  if (ec || !doc.is_object()) {
    return "{}";
  }
  auto& obj = doc.get_object();
  if (auto* secrets = obj.if_contains("secrets"); secrets != nullptr && secrets->is_object()) {
    std::vector<std::string> names;
    for (const auto& kv : secrets->get_object()) {
      names.emplace_back(kv.key());
    }
    std::sort(names.begin(), names.end());
    json::array shown;
    for (auto& n : names) {
      shown.emplace_back(n);
    }
    *secrets = std::move(shown);
  }
  return json::serialize(doc);
}

} // namespace flowgate
