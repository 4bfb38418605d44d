#include "config/tenant_config.hpp"
#include "messages/errors.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

using namespace flowgate;

BOOST_AUTO_TEST_SUITE(tenant_config)

BOOST_AUTO_TEST_CASE(normalizes_tenant_ids) {
  BOOST_TEST(*normalize_tenant_id("  AcMe-1 ", "dflt") == "acme-1");
  BOOST_TEST(*normalize_tenant_id("", "dflt") == "dflt");
  BOOST_TEST(*normalize_tenant_id(" \t ", "Dflt") == "dflt");
  BOOST_TEST(*normalize_tenant_id("", builtin_default_tenant_id) == builtin_default_tenant_id);
  auto bad = normalize_tenant_id("a b", "dflt");
  BOOST_REQUIRE(!bad);
  BOOST_TEST(code_of(bad.error()) == errc::invalid_argument);
  BOOST_TEST(describe(bad.error()).find("'a b'") != std::string::npos);
  BOOST_TEST(!normalize_tenant_id(std::string(129, 'a'), "d"));
  BOOST_TEST(!normalize_tenant_id("", ""));
}

BOOST_AUTO_TEST_CASE(parses_full_document) {
  auto c = parse_tenant_config_text(
    R"({ "name": "Acme", "tier": "pro", "max_concurrent_runs": 10, "admission": "reject",
         "admission_deadline_ms": 5000, "quota": { "soft_limit": 100, "hard_limit": 120 },
         "weight": 3, "settings": { "model": "llama3.2" }, "restrictions": ["no-export"] })",
    "acme");
  BOOST_REQUIRE(c);
  BOOST_TEST(c->config.name == "Acme");
  BOOST_TEST(c->config.tier == tenant_tier::pro);
  BOOST_TEST(c->config.max_concurrent_runs == 10);
  BOOST_TEST(c->config.admission == admission_mode::reject);
  BOOST_TEST(c->config.soft_limit == 100);
  BOOST_TEST(c->config.hard_limit == 120);
  BOOST_TEST(c->config.weight == 3);
  BOOST_TEST(c->config.settings.at("model").as_string() == "llama3.2");
  BOOST_TEST(c->config.restrictions.size() == 1u);
}

BOOST_AUTO_TEST_CASE(defaults_for_empty_document) {
  auto c = parse_tenant_config_text("{}", "t");
  BOOST_REQUIRE(c);
  BOOST_TEST(c->config.tier == tenant_tier::solo);
  BOOST_TEST(c->config.max_concurrent_runs == -1);
  BOOST_TEST(c->config.admission == admission_mode::queue);
  BOOST_TEST(c->config.weight == 1);
}

BOOST_AUTO_TEST_CASE(rejects_malformed_configs_with_reason) {
  struct expectation {
    const char* doc;
    const char* says;
  };
  for (auto [doc, says] : {
         expectation{R"({"tier": "gold"})", "tier must be"},
         expectation{R"({"max_concurrent_runs": -1})", "max_concurrent_runs must be between"},
         expectation{R"({"max_concurrent_runs": "10"})", "max_concurrent_runs must be an integer"},
         expectation{R"({"admission": "wait"})", "admission must be"},
         expectation{R"({"quota": {"soft_limit": 10, "hard_limit": 5}})", "hard_limit must be >="},
         expectation{R"({"quota": {"soft": 10}})", "unknown field 'soft'"},
         expectation{R"({"weight": 0})", "weight must be between"},
         expectation{R"({"settings": []})", "settings must be an object"},
         expectation{R"({"restrictions": [1]})", "restrictions must be"},
         expectation{R"({"secrets": ["sk-1"]})", "secrets must be an object of name: string"},
         expectation{R"({"secrets": {"api key": "sk-1"}})", "secrets: name 'api key' must match"},
         expectation{R"({"secrets": {"api_key": 12345}})", "secrets.api_key must be a string"},
         expectation{R"({"colour": "red"})", "unknown field 'colour'"},
         expectation{R"([])", "must be a JSON object"},
       }) {
    auto c = parse_tenant_config_text(doc, "acme");
    BOOST_REQUIRE_MESSAGE(!c, doc);
    BOOST_TEST(code_of(c.error()) == errc::invalid_config);
    auto text = describe(c.error());
    BOOST_TEST_MESSAGE(text);
    BOOST_TEST(text.find("tenant 'acme'") == 0u);
    BOOST_TEST_CHECK(text.find(says) != std::string::npos, text << " should say " << says);
  }
  auto broken = parse_tenant_config_text("{\"name\": ", "acme");
  BOOST_REQUIRE(!broken);
  BOOST_TEST(code_of(broken.error()) == errc::malformed_json);
}

BOOST_AUTO_TEST_CASE(a_blank_tenant_id_names_no_tenant) {
  BOOST_TEST(blank_tenant_id(""));
  BOOST_TEST(blank_tenant_id(" \t "));
  BOOST_TEST(!blank_tenant_id("acme"));
  BOOST_TEST(!blank_tenant_id(" acme "));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(secrets_are_parsed_and_shown_only_by_name) {
  auto c = parse_tenant_config_text(
    R"({"settings": {"model": "m"}, "secrets": {"smtp": "pw-2", "api_key": "sk-1"}})", "acme");
  BOOST_REQUIRE(c);
  BOOST_TEST(c->config.secrets.at("api_key").as_string() == "sk-1");
  auto shown = redact_secrets(c->canonical_text);
  BOOST_TEST(shown == R"({"secrets":["api_key","smtp"],"settings":{"model":"m"}})");
  BOOST_TEST(shown.find("sk-1") == std::string::npos);
  BOOST_TEST(redact_secrets(R"({"tier":"pro"})") == R"({"tier":"pro"})");
  // A bad secret's value never appears in the error.
  auto bad = parse_tenant_config_text(R"({"secrets": {"api_key": ["sk-live-9"]}})", "acme");
  BOOST_REQUIRE(!bad);
  BOOST_TEST(describe(bad.error()).find("sk-live-9") == std::string::npos);
}
