// Fuzzes tenant documents (parse_tenant_config_text), as `tenant put`,
// the gateway and the run store call it.
//
// Properties: an error is one of the documented codes; an accepted
// document's canonical text is accepted again, is a fixed point, and gives
// the same limits.

#include "config/tenant_config.hpp"
#include "messages/errors.hpp"
#include "tests/fuzz/fuzz_target.hpp"

using namespace flowgate;
using namespace flowgate::fuzz;

static void check_tenant_id(std::string_view raw);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_tenant_id(as_text(data, size));
  auto parsed = parse_tenant_config_text(as_text(data, size), "acme");
  if (!parsed) {
    auto code = code_of(parsed.error());
    fuzz_require(code == errc::payload_too_large || code == errc::malformed_json ||
                   code == errc::invalid_config,
                 "a tenant error is payload_too_large, malformed_json or invalid_config");
    fuzz_require(!describe(parsed.error()).empty(), "a tenant error says what is wrong");
    return 0;
  }
  auto again = parse_tenant_config_text(parsed->canonical_text, "acme");
  fuzz_require(static_cast<bool>(again), "an accepted tenant's canonical text is accepted");
  fuzz_require(again->canonical_text == parsed->canonical_text, "canonical text is a fixed point");
  const auto& a = parsed->config;
  const auto& b = again->config;
  fuzz_require(
    a.name == b.name && a.tier == b.tier && a.max_concurrent_runs == b.max_concurrent_runs &&
      a.admission == b.admission && a.admission_deadline_ms == b.admission_deadline_ms &&
      a.soft_limit == b.soft_limit && a.hard_limit == b.hard_limit && a.weight == b.weight &&
      a.settings == b.settings && a.restrictions == b.restrictions,
    "the canonical text gives the same config");
  return 0;
}

namespace {

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
         c == '-';
}

} // namespace

// The same bytes as a tenant id, as every command and request normalizes
// it: an accepted id follows the documented rule and normalizes to itself.
static void check_tenant_id(std::string_view raw) {
  auto id = normalize_tenant_id(raw, "fallback");
  if (!id) {
    fuzz_require(code_of(id.error()) == errc::invalid_argument,
                 "a bad tenant id is invalid_argument");
    return;
  }
  fuzz_require(!id->empty() && id->size() <= 128, "a tenant id has 1 to 128 characters");
  for (char c : *id) {
    fuzz_require(is_id_char(c), "a tenant id matches [a-z0-9._:-]");
  }
  auto again = normalize_tenant_id(*id, "fallback");
  fuzz_require(again && *again == *id, "a normalized tenant id normalizes to itself");
}
