// Fuzzes user JSON as run inputs and signal payloads arrive
// (parse_json_document with the node's size limit), and the canonical
// text flowgate stores and checksums.
//
// Properties: an error is payload_too_large or malformed_json; an accepted
// document is UTF-8; its serialization parses back to an equal value; its
// canonical text is a fixed point.

#include "config/json_text.hpp"
#include "messages/errors.hpp"
#include "tests/fuzz/fuzz_target.hpp"

#include <boost/json/serialize.hpp>

using namespace flowgate;
using namespace flowgate::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = as_text(data, size);
  auto doc = parse_json_document(text, "run input", 64 * 1024);
  if (!doc) {
    auto code = code_of(doc.error());
    fuzz_require(code == errc::payload_too_large || code == errc::malformed_json,
                 "a document error is payload_too_large or malformed_json");
    return 0;
  }
  fuzz_require(first_invalid_utf8(text) == std::string_view::npos, "an accepted document is UTF-8");
  auto stored = boost::json::serialize(*doc);
  auto reread = parse_json_document(stored, "stored input", stored.size() + 1);
  fuzz_require(static_cast<bool>(reread), "a stored document parses again");
  fuzz_require(*reread == *doc, "a stored document reads back equal");
  auto canonical = canonical_json(*doc);
  auto recanonical = parse_json_document(canonical, "canonical", canonical.size() + 1);
  fuzz_require(recanonical && canonical_json(*recanonical) == canonical,
               "canonical text is a fixed point");
  fuzz_require(!json_kind_name(*doc).empty(), "every value has a kind name");
  return 0;
}
