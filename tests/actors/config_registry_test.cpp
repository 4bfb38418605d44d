#include "config/pipeline.hpp"
#include "tests/actors/node_fixture.hpp"
#include "tests/printing.hpp"

#include <boost/test/unit_test.hpp>

using namespace flowgate;
using flowgate::testing::simple_pipeline;

BOOST_FIXTURE_TEST_SUITE(config_registry, flowgate::testing::node_fixture)

BOOST_AUTO_TEST_CASE(put_then_get_pinned_returns_the_same_cached_snapshot) {
  BOOST_REQUIRE(n->put_tenant("acme", "{}"));
  auto stored = n->put_config("acme", "orders", "3", simple_pipeline("noop"));
  BOOST_REQUIRE(stored);
  BOOST_TEST(stored->created);
  auto a = n->get_config("acme", "orders", "3");
  auto b = n->get_config("ACME ", "orders", "3");
  BOOST_REQUIRE(a && b);
  BOOST_TEST(a->get() == b->get()); // one immutable object, shared
  BOOST_TEST((*a)->tenant == "acme");
  BOOST_TEST((*a)->version == "3");
  BOOST_TEST((*a)->checksum == stored->checksum);
  BOOST_TEST((*a)->definition.root.children[0].activity == "noop");
}

BOOST_AUTO_TEST_CASE(stored_versions_are_immutable_through_the_registry) {
  BOOST_REQUIRE(n->put_tenant("acme", "{}"));
  BOOST_REQUIRE(n->put_config("acme", "orders", "1", simple_pipeline("noop")));
  auto same =
    n->put_config("acme", "orders", "1",
                  R"({ "root": {"sequence": [{"activity": "noop", "id": "a"}]}, "name": "p" })");
  BOOST_REQUIRE(same);
  BOOST_TEST(!same->created);
  auto before = store_fingerprint();
  auto changed = n->put_config("acme", "orders", "1", simple_pipeline("echo"));
  BOOST_REQUIRE(!changed);
  BOOST_TEST(code_of(changed.error()) == errc::version_conflict);
  BOOST_TEST(store_fingerprint() == before);
  auto snap = n->get_config("acme", "orders", "1");
  BOOST_REQUIRE(snap);
  BOOST_TEST((*snap)->definition.root.children[0].activity == "noop");
}

BOOST_AUTO_TEST_CASE(resolves_active_then_default_version) {
  BOOST_REQUIRE(n->put_tenant("acme", "{}"));
  BOOST_REQUIRE(n->put_config("acme", "orders", "1", simple_pipeline("one")));
  BOOST_REQUIRE(n->put_config("acme", "orders", "2", simple_pipeline("two")));
  // No active version: the node default version ("1").
  auto v = n->get_config("acme", "orders", "");
  BOOST_REQUIRE(v);
  BOOST_TEST((*v)->version == "1");
  BOOST_REQUIRE(n->activate_config("acme", "orders", "2"));
  v = n->get_config("acme", "orders", "");
  BOOST_REQUIRE(v);
  BOOST_TEST((*v)->version == "2");
  // Pinned stays pinned.
  v = n->get_config("acme", "orders", "1");
  BOOST_REQUIRE(v);
  BOOST_TEST((*v)->version == "1");
}

BOOST_AUTO_TEST_CASE(no_active_and_no_default_version_is_an_error) {
  BOOST_REQUIRE(n->put_tenant("acme", "{}"));
  BOOST_REQUIRE(n->put_config("acme", "orders", "7", simple_pipeline("x")));
  auto v = n->get_config("acme", "orders", "");
  BOOST_REQUIRE(!v);
  BOOST_TEST(code_of(v.error()) == errc::unknown_queue);
  BOOST_TEST(describe(v.error()).find("no active version") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(falls_back_to_the_default_tenant_only_without_own_config) {
  BOOST_REQUIRE(n->put_tenant("acme", "{}"));
  BOOST_REQUIRE(n->put_config("", "orders", "1", simple_pipeline("shared")));
  auto v = n->get_config("acme", "orders", "");
  BOOST_REQUIRE(v);
  BOOST_TEST((*v)->tenant == "default");
  BOOST_TEST((*v)->definition.root.children[0].activity == "shared");
  auto pinned = n->get_config("acme", "orders", "1");
  BOOST_REQUIRE(pinned);
  BOOST_TEST((*pinned)->tenant == "default");
  // Once acme has its own config for the queue, unknown versions are errors,
  // never the default tenant's version.
  BOOST_REQUIRE(n->put_config("acme", "orders", "5", simple_pipeline("own")));
  auto missing = n->get_config("acme", "orders", "1");
  BOOST_REQUIRE(!missing);
  BOOST_TEST(code_of(missing.error()) == errc::unknown_version);
  auto other_queue = n->get_config("acme", "billing", "");
  BOOST_REQUIRE(!other_queue);
  BOOST_TEST(code_of(other_queue.error()) == errc::unknown_queue);
  BOOST_TEST(describe(other_queue.error()).find("tenant 'acme'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_version_is_never_substituted) {
  BOOST_REQUIRE(n->put_tenant("acme", "{}"));
  BOOST_REQUIRE(n->put_config("acme", "orders", "1", simple_pipeline("x")));
  auto v = n->get_config("acme", "orders", "2");
  BOOST_REQUIRE(!v);
  BOOST_TEST(code_of(v.error()) == errc::unknown_version);
  auto act = n->activate_config("acme", "orders", "2");
  BOOST_REQUIRE(!act);
  BOOST_TEST(code_of(act.error()) == errc::unknown_version);
}

BOOST_AUTO_TEST_CASE(bad_input_is_refused_and_leaves_the_store_unchanged) {
  BOOST_REQUIRE(n->put_tenant("acme", "{}"));
  BOOST_REQUIRE(n->put_config("acme", "orders", "1", simple_pipeline("x")));
  auto before = store_fingerprint();
  struct bad {
    std::string tenant, queue, version, doc;
    errc code;
  };
  for (const auto& b : std::vector<bad>{
         {"acme", "orders", "2", "{not json", errc::malformed_json},
         {"acme", "orders", "2", R"({"name": "p", "root": {"sequence": []}})",
          errc::invalid_config},
         {"acme", "orders", "2", std::string(2u << 20, ' '), errc::payload_too_large},
         {"ghost", "orders", "1", simple_pipeline("x"), errc::unknown_tenant},
         {"acme", "bad/queue", "1", simple_pipeline("x"), errc::invalid_argument},
         {"acme", "orders", "bad version", simple_pipeline("x"), errc::invalid_argument},
         {"bad tenant", "orders", "1", simple_pipeline("x"), errc::invalid_argument},
       }) {
    auto r = n->put_config(b.tenant, b.queue, b.version, b.doc);
    BOOST_REQUIRE(!r);
    BOOST_TEST(code_of(r.error()) == b.code);
  }
  auto t = n->put_tenant("acme", R"({"tier": "platinum"})");
  BOOST_REQUIRE(!t);
  BOOST_TEST(code_of(t.error()) == errc::invalid_config);
  BOOST_TEST(store_fingerprint() == before);
}

BOOST_AUTO_TEST_SUITE_END()
