#include "config/checksum.hpp"
#include "config/json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <string>

BOOST_AUTO_TEST_SUITE(checksum)

BOOST_AUTO_TEST_CASE(sha256_matches_published_vectors) {
  BOOST_TEST(flowgate::sha256_hex("") ==
             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(flowgate::sha256_hex("abc") ==
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  BOOST_TEST(flowgate::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  BOOST_TEST(flowgate::sha256_hex(std::string(1000000, 'a')) ==
             "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

BOOST_AUTO_TEST_CASE(canonical_text_ignores_whitespace_and_key_order) {
  auto a = boost::json::parse(R"({"b": [1, {"y": 2, "x": 1}], "a": "s"})");
  auto b = boost::json::parse(R"({ "a":"s","b":[1,{"x":1,"y":2}] })");
  BOOST_TEST(flowgate::canonical_json(a) == flowgate::canonical_json(b));
  BOOST_TEST(flowgate::canonical_json(a) == R"({"a":"s","b":[1,{"x":1,"y":2}]})");
  auto c = boost::json::parse(R"({"a": "s", "b": [{"x": 1, "y": 2}, 1]})");
  BOOST_TEST(flowgate::canonical_json(a) != flowgate::canonical_json(c));
}

BOOST_AUTO_TEST_SUITE_END()
