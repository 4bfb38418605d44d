#pragma once

/// Parsing user JSON with limits, and the canonical text flowgate stores.

#include <boost/json/value.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace flowgate {

/// Default limit on a user document (FORMATS.md: 1 MiB).
inline constexpr size_t default_max_document_bytes = size_t{1} << 20;

/// JSON nesting allowed by the parser (node-tree depth is checked separately).
inline constexpr size_t max_json_depth = 256;

/// Parses `text` as one JSON value. `what` names the document in errors,
/// e.g. "pipeline 'orders' v3". Errors: `payload_too_large` past
/// `max_bytes`; `malformed_json` for an empty (or blank) text, for text
/// that is not UTF-8 (with the offset of the first bad byte), or with the
/// byte offset and the parser's reason.
[[nodiscard]] caf::expected<boost::json::value>
parse_json_document(std::string_view text, std::string_view what,
                    size_t max_bytes = default_max_document_bytes);

/// Parses JSON text flowgate stored or produced (no size limit; the
/// parser's error in `ec`). Numbers are exact: every JSON read goes through
/// here or parse_json_document, never boost::json::parse, whose numbers can
/// be one ULP off in Boost 1.81.
boost::json::value parse_json(std::string_view text, boost::system::error_code& ec);

/// The offset of the first byte that is not part of well-formed UTF-8
/// (overlong forms and surrogates included), or npos.
size_t first_invalid_utf8(std::string_view text);

/// Serialization with object keys sorted at every level: two documents
/// that differ only in whitespace or key order have the same canonical text.
std::string canonical_json(const boost::json::value& v);

/// A short description of a JSON value's type ("string", "array", ...).
std::string_view json_kind_name(const boost::json::value& v);

} // namespace flowgate
