#include "config/node_settings.hpp"

#include "config/tenant_config.hpp"
#include "messages/errors.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace flowgate {

const char* to_string(sync_mode m) {
  switch (m) {
  case sync_mode::off:
    return "off";
  case sync_mode::normal:
    return "normal";
  case sync_mode::full:
    return "full";
  }
  return "full";
}

caf::expected<sync_mode> parse_sync_mode(const std::string& text) {
  std::string t;
  for (char c : text) {
    t.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (t == "off") {
    return sync_mode::off;
  }
  if (t == "normal") {
    return sync_mode::normal;
  }
  if (t == "full") {
    return sync_mode::full;
  }
  return make_error(errc::invalid_argument,
                    "synchronous mode '" + text + "' must be off, normal or full");
}

caf::expected<bool> parse_nondeterminism_policy(const std::string& text) {
  if (text == "fail") {
    return false;
  }
  if (text == "hold") {
    return true;
  }
  return make_error(errc::invalid_argument,
                    "non-determinism policy '" + text + "' must be fail or hold");
}

namespace {

caf::expected<int64_t> parse_int(const char* var, const std::string& text, int64_t min,
                                 int64_t max) {
  int64_t x = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  if (ec != std::errc{} || end != text.data() + text.size() || x < min || x > max) {
    return make_error(errc::invalid_argument, std::string{var} + "='" + text +
                                                "' must be an integer from " + std::to_string(min) +
                                                " to " + std::to_string(max));
  }
  return x;
}

} // namespace

caf::expected<node_settings> settings_from_environment(env_lookup lookup) {
  if (!lookup) {
    lookup = [](const char* name) { return std::getenv(name); };
  }
  node_settings s;
  auto get = [&](const char* name) -> std::string {
    const char* v = lookup(name);
    return v == nullptr ? std::string{} : std::string{v};
  };
  if (auto v = get("FLOWGATE_DB"); !v.empty()) {
    s.db_path = v;
  }
  if (auto v = get("FLOWGATE_OPEN_CHECK"); !v.empty()) {
    if (v != "quick" && v != "off") {
      return make_error(errc::invalid_argument,
                        "FLOWGATE_OPEN_CHECK: '" + v + "' must be quick or off");
    }
    s.open_check = v == "quick";
  }
  if (auto v = get("FLOWGATE_SYNCHRONOUS"); !v.empty()) {
    auto m = parse_sync_mode(v);
    if (!m) {
      return make_error(errc::invalid_argument, "FLOWGATE_SYNCHRONOUS: " + describe(m.error()));
    }
    s.synchronous = *m;
  }
  struct int_var {
    const char* name;
    int64_t* target;
    int64_t min;
    int64_t max;
  };
  for (auto [name, target, min, max] :
       {int_var{"FLOWGATE_BUSY_TIMEOUT_MS", &s.busy_timeout_ms, 0, 600'000},
        int_var{"FLOWGATE_TENANT_MAX_CONCURRENT_RUNS", &s.tenant_max_concurrent_runs, 0, 1'000'000},
        int_var{"FLOWGATE_MAX_DOCUMENT_BYTES", &s.max_document_bytes, 1024, int64_t{64} << 20},
        int_var{"FLOWGATE_MAX_BATCH", &s.max_write_batch, 1, 1'000'000},
        int_var{"FLOWGATE_MAX_KEY_REQUESTS", &s.max_key_requests, 1, 100'000},
        int_var{"FLOWGATE_LEASE_TTL_MS", &s.lease_ttl_ms, 200, 3'600'000},
        int_var{"FLOWGATE_POLL_MS", &s.poll_interval_ms, 1, 60'000},
        int_var{"FLOWGATE_CLAIM_BATCH", &s.claim_batch, 1, 10'000},
        int_var{"FLOWGATE_MAX_ACTIVE_RUNS", &s.max_active_runs, 1, 1'000'000},
        int_var{"FLOWGATE_WORKERS", &s.workers, 1, 4096},
        int_var{"FLOWGATE_ACTIVITY_TIMEOUT_MS", &s.activity_timeout_ms, 1, 86'400'000},
        int_var{"FLOWGATE_HOLD_MS", &s.hold_timer_ms, 0, 3'600'000},
        int_var{"FLOWGATE_DRAIN_MS", &s.drain_timeout_ms, 0, 3'600'000},
        int_var{"FLOWGATE_QUOTA_SCAN_MS", &s.quota_scan_interval_ms, 0, 86'400'000},
        int_var{"FLOWGATE_QUOTA_SCAN_BATCH", &s.quota_scan_batch, 1, 100'000},
        int_var{"FLOWGATE_QUOTA_TERMS_TTL_MS", &s.quota_terms_ttl_ms, 0, 86'400'000},
        int_var{"FLOWGATE_SCHEDULE_POLL_MS", &s.schedule_poll_ms, 0, 60'000},
        int_var{"FLOWGATE_MAX_CHILD_DEPTH", &s.max_child_depth, 1, 64}}) {
    if (auto v = get(name); !v.empty()) {
      auto x = parse_int(name, v, min, max);
      if (!x) {
        return x.error();
      }
      *target = *x;
    }
  }
  s.node_id = get("FLOWGATE_NODE_ID");
  s.listen = get("FLOWGATE_LISTEN");
  s.http = get("FLOWGATE_HTTP");
  if (auto v = get("FLOWGATE_METRICS_TENANTS"); !v.empty()) {
    if (v == "all") {
      s.metrics_tenants = -1;
    } else if (v == "none") {
      s.metrics_tenants = 0;
    } else {
      auto n = parse_int("FLOWGATE_METRICS_TENANTS", v, 0, 100'000);
      if (!n) {
        return make_error(errc::invalid_argument,
                          "FLOWGATE_METRICS_TENANTS must be 'all', 'none' or a count: " +
                            describe(n.error()));
      }
      s.metrics_tenants = *n;
    }
  }
  s.peer_key = get("FLOWGATE_PEER_KEY");
  if (auto v = get("FLOWGATE_ON_NONDETERMINISM"); !v.empty()) {
    auto policy = parse_nondeterminism_policy(v);
    if (!policy) {
      return make_error(errc::invalid_argument,
                        "FLOWGATE_ON_NONDETERMINISM: " + describe(policy.error()));
    }
    s.hold_on_nondeterminism = *policy;
  }
  auto default_raw = get("FLOWGATE_DEFAULT_TENANT_ID");
  auto default_id = normalize_tenant_id(default_raw, builtin_default_tenant_id);
  if (!default_id) {
    return make_error(errc::invalid_argument,
                      "FLOWGATE_DEFAULT_TENANT_ID: " + describe(default_id.error()));
  }
  s.default_tenant_id = *default_id;
  if (auto v = get("FLOWGATE_DEFAULT_CONFIG_VERSION"); !v.empty()) {
    s.default_config_version = v;
  }
  auto ids = get("FLOWGATE_TENANT_IDS");
  size_t pos = 0;
  while (pos <= ids.size() && !ids.empty()) {
    auto comma = ids.find(',', pos);
    auto part = ids.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (part.find_first_not_of(" \t") != std::string::npos) {
      auto id = normalize_tenant_id(part, s.default_tenant_id);
      if (!id) {
        return make_error(errc::invalid_argument, "FLOWGATE_TENANT_IDS: " + describe(id.error()));
      }
      s.bootstrap_tenant_ids.push_back(*id);
    }
    if (comma == std::string::npos) {
      break;
    }
    pos = comma + 1;
  }
  return s;
}

} // namespace flowgate
