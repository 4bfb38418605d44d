// JSON text: exact numbers, stored text that reads back equal.

#include "config/json_text.hpp"
#include "messages/errors.hpp"

#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <charconv>
#include <cstring>
#include <random>
#include <string>

using namespace flowgate;

namespace {

double exact(std::string_view text) {
  double d = 0;
  std::from_chars(text.data(), text.data() + text.size(), d);
  return d;
}

} // namespace

BOOST_AUTO_TEST_SUITE(json_text)

// Found by fuzz_json_document: Boost 1.81 reads -2.5e-300 one ULP off, so a
// number changed on its way through the store.
BOOST_AUTO_TEST_CASE(numbers_are_read_exactly) {
  for (const char* text : {"-2.5e-300", "0.1", "5e-324", "1.7976931348623157e308",
                           "2.2250738585072014e-308", "-1.5e-08", "123456.789"}) {
    boost::system::error_code ec;
    auto v = parse_json(text, ec);
    BOOST_REQUIRE_MESSAGE(!ec, text);
    BOOST_TEST(v.as_double() == exact(text), text);
    auto doc = parse_json_document(text, "test");
    BOOST_REQUIRE(doc);
    BOOST_TEST(doc->as_double() == exact(text), text);
  }
}

// Found by fuzz_json_document: Boost reads 1e30308 as infinity, which
// serializes to text that is not JSON.
BOOST_AUTO_TEST_CASE(numbers_beyond_double_are_refused) {
  for (const char* text : {"1e30308", "[0,-1e400]", "{\"a\":1.8e308}"}) {
    auto doc = parse_json_document(text, "run input");
    BOOST_REQUIRE_MESSAGE(!doc, text);
    BOOST_TEST(describe(doc.error()).find("run input: malformed JSON at byte") != std::string::npos,
               describe(doc.error()));
  }
  auto tiny = parse_json_document("1e-400", "run input");
  BOOST_REQUIRE(tiny);
  BOOST_TEST(tiny->as_double() == 0.0);
}

BOOST_AUTO_TEST_CASE(stored_numbers_read_back_equal) {
  std::mt19937_64 gen{7};
  for (int i = 0; i < 20'000; ++i) {
    uint64_t bits = gen();
    double d = 0;
    std::memcpy(&d, &bits, sizeof d);
    if (!std::isfinite(d)) {
      continue;
    }
    auto stored = boost::json::serialize(boost::json::value(d));
    boost::system::error_code ec;
    auto v = parse_json(stored, ec);
    BOOST_REQUIRE(!ec);
    if (!(v.is_double() && v.get_double() == d) &&
        !(v.is_int64() && static_cast<double>(v.get_int64()) == d)) {
      BOOST_FAIL("stored " << stored << " reads back as " << boost::json::serialize(v));
    }
  }
}

BOOST_AUTO_TEST_CASE(parse_json_refuses_what_follows_the_value) {
  boost::system::error_code ec;
  auto v = parse_json(R"({"a":[1,2.5,"x",null,true]} )", ec);
  BOOST_TEST(!ec);
  BOOST_TEST(boost::json::serialize(v) == R"({"a":[1,2.5E0,"x",null,true]})");
  parse_json("{} x", ec);
  BOOST_TEST(static_cast<bool>(ec));
  parse_json("[1,", ec);
  BOOST_TEST(static_cast<bool>(ec));
  parse_json("", ec);
  BOOST_TEST(static_cast<bool>(ec));
}

BOOST_AUTO_TEST_SUITE_END()
