#pragma once

// A pipeline from its JSON text, for the engine suites (fails the test if
// the text does not parse).

#include "config/pipeline_parser.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

namespace flowgate::testing {

inline pipeline parse(const std::string& text) {
  auto p = parse_pipeline_text(text, "1");
  if (!p) {
    BOOST_FAIL("pipeline does not parse: " + text);
  }
  return p->definition;
}

} // namespace flowgate::testing
