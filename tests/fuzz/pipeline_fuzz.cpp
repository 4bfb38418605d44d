// Fuzzes the pipeline parser and validator (parse_pipeline_text), as
// `config put` and the config registry call it.
//
// Properties: an error is one of the three documented codes and says
// something; an accepted pipeline's canonical text is accepted again and
// is a fixed point (same text, same checksum).

#include "config/pipeline_parser.hpp"
#include "messages/errors.hpp"
#include "tests/fuzz/fuzz_target.hpp"

using namespace flowgate;
using namespace flowgate::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = parse_pipeline_text(as_text(data, size), "v1");
  if (!parsed) {
    auto code = code_of(parsed.error());
    fuzz_require(code == errc::payload_too_large || code == errc::malformed_json ||
                   code == errc::invalid_config,
                 "a pipeline error is payload_too_large, malformed_json or invalid_config");
    fuzz_require(!describe(parsed.error()).empty(), "a pipeline error says what is wrong");
    return 0;
  }
  auto again = parse_pipeline_text(parsed->canonical_text, "v1");
  fuzz_require(static_cast<bool>(again), "an accepted pipeline's canonical text is accepted");
  fuzz_require(again->canonical_text == parsed->canonical_text, "canonical text is a fixed point");
  fuzz_require(again->checksum == parsed->checksum, "the checksum of canonical text is stable");
  return 0;
}
