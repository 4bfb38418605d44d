// API keys (config/api_key.hpp): made, written, read back and hashed.

#include "config/api_key.hpp"
#include "messages/errors.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

#include <set>
#include <string>

using namespace flowgate;

BOOST_AUTO_TEST_SUITE(api_key)

BOOST_AUTO_TEST_CASE(a_new_key_reads_back_as_itself_and_keys_differ) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto k = new_api_key();
    BOOST_REQUIRE(k);
    BOOST_TEST(k->id.size() == 16u);
    BOOST_TEST(k->secret.size() == 64u);
    auto text = format_api_key(*k);
    BOOST_TEST(text.rfind("fgk_", 0) == 0u);
    auto back = parse_api_key(text);
    BOOST_REQUIRE(back);
    BOOST_TEST(back->id == k->id);
    BOOST_TEST(back->secret == k->secret);
    BOOST_TEST(seen.insert(text).second);
  }
}

BOOST_AUTO_TEST_CASE(anything_not_shaped_like_a_key_is_refused_without_repeating_it) {
  auto good = format_api_key(api_key_parts{std::string(16, 'a'), std::string(64, 'b')});
  BOOST_REQUIRE(parse_api_key(good));
  for (std::string bad :
       {std::string{}, std::string{"fgk_"}, std::string{"secret-value"}, good.substr(1), good + "0",
        good.substr(0, good.size() - 1), "fgk_" + std::string(16, 'a') + std::string(65, 'b'),
        "fgk_" + std::string(16, 'A') + "_" + std::string(64, 'b'),
        "fgk_" + std::string(16, 'a') + "_" + std::string(63, 'b') + "g",
        "xyz_" + std::string(16, 'a') + "_" + std::string(64, 'b')}) {
    auto parsed = parse_api_key(bad);
    BOOST_REQUIRE_MESSAGE(!parsed, bad);
    BOOST_TEST(code_of(parsed.error()) == errc::invalid_argument);
    if (bad.size() > 8) {
      BOOST_TEST(describe(parsed.error()).find(bad) == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(only_the_secrets_hash_is_kept_and_compared) {
  auto h = api_key_hash("secret");
  // SHA-256 of "secret".
  BOOST_TEST(h == "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b");
  BOOST_TEST(same_api_key_hash(h, api_key_hash("secret")));
  BOOST_TEST(!same_api_key_hash(h, api_key_hash("secreT")));
  BOOST_TEST(!same_api_key_hash(h, h.substr(1)));
  BOOST_TEST(!same_api_key_hash(h, ""));
}

BOOST_AUTO_TEST_SUITE_END()
