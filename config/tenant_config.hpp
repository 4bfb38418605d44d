#pragma once

/// Tenant ids and tenant configs (FORMATS.md "Tenant").

#include <boost/json/object.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate {

/// The default tenant id when neither the request nor
/// `FLOWGATE_DEFAULT_TENANT_ID` names one.
inline constexpr const char* builtin_default_tenant_id = "00000000-0000-4000-8000-000000000000";

/// Normalizes a tenant id: surrounding white space is trimmed, letters are
/// lower-cased (so `Acme` and `acme` are one tenant, one bill), and blank
/// means `default_id`. Errors (`invalid_argument`) name the id and the rule:
/// `[a-z0-9._:-]{1,128}` after normalization.
[[nodiscard]] caf::expected<std::string> normalize_tenant_id(std::string_view raw,
                                                             std::string_view default_id);

/// True for an id that names no tenant: empty, or spaces and tabs only. A
/// listing then means every tenant; a request, the default tenant.
bool blank_tenant_id(std::string_view raw);

/// Plan tier; selects defaults such as the step quota.
enum class tenant_tier : uint8_t { solo, pro, premium };

const char* to_string(tenant_tier t);

/// What happens to a run that finds its tenant at its concurrency limit.
enum class admission_mode : uint8_t { queue, reject };

const char* to_string(admission_mode m);

/// A validated tenant config. Every field is optional in the document.
struct tenant_config {
  std::string name;
  tenant_tier tier = tenant_tier::solo;
  /// -1 = the node default (FLOWGATE_TENANT_MAX_CONCURRENT_RUNS); 0 = unlimited.
  int64_t max_concurrent_runs = -1;
  admission_mode admission = admission_mode::queue;
  int64_t admission_deadline_ms = 30'000;
  /// Active-run soft and hard limits; 0 = none.
  int64_t soft_limit = 0;
  int64_t hard_limit = 0;
  int64_t weight = 1;
  /// Handed to activities as they are.
  boost::json::object settings;
  /// Credentials for the services activities call (name -> string value):
  /// handed to activities, never shown (`redact_secrets`).
  boost::json::object secrets;
  std::vector<std::string> restrictions;
};

/// Validates a tenant document. Errors: `invalid_config` naming the tenant
/// and the field.
[[nodiscard]] caf::expected<tenant_config> parse_tenant_config(const boost::json::value& doc,
                                                               std::string_view tenant);

/// Parses text (size-limited) and validates it; also returns canonical text.
struct parsed_tenant_config {
  tenant_config config;
  std::string canonical_text;
};

[[nodiscard]] caf::expected<parsed_tenant_config> parse_tenant_config_text(std::string_view text,
                                                                           std::string_view tenant);

/// A stored tenant config as it may be shown (CLI, gateway, logs): its
/// `secrets` object replaced by the sorted list of its key names. Text that
/// does not parse is shown as `{}` (stored configs are canonical).
std::string redact_secrets(std::string_view config_json);

} // namespace flowgate
