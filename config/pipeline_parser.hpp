#pragma once

/// Validation of pipeline documents (FORMATS.md). Every error names the
/// pipeline, its version, the node and the field:
/// `pipeline 'orders' v3: node 'validate': retry.max_attempts must be >= 1`.

#include "config/json_text.hpp"
#include "config/pipeline.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace flowgate {

/// Limits on a pipeline document.
struct pipeline_limits {
  size_t max_document_bytes = default_max_document_bytes;
  size_t max_depth = 64;
  size_t max_nodes = 10'000;
};

/// Validates a parsed document. `version` only labels errors.
/// Errors: `invalid_config`.
[[nodiscard]] caf::expected<pipeline> parse_pipeline(const boost::json::value& doc,
                                                     std::string_view version,
                                                     const pipeline_limits& limits = {});

/// A validated pipeline together with its canonical text and checksum.
struct parsed_pipeline {
  pipeline definition;
  std::string canonical_text;
  std::string checksum;
};

/// Parses text and validates it. Errors: `payload_too_large`,
/// `malformed_json`, `invalid_config`.
[[nodiscard]] caf::expected<parsed_pipeline>
parse_pipeline_text(std::string_view text, std::string_view version,
                    const pipeline_limits& limits = {});

/// True if `id` matches `[a-z0-9_]{1,64}`.
bool is_valid_node_id(std::string_view id);

/// True if `label` is a valid config version: `[A-Za-z0-9._-]{1,64}`.
bool is_valid_version_label(std::string_view label);

/// True if `name` is a valid queue name: `[A-Za-z0-9._-]{1,128}`.
bool is_valid_queue_name(std::string_view name);

/// True if `ptr` is a syntactically valid RFC 6901 JSON pointer.
bool is_valid_json_pointer(std::string_view ptr);

} // namespace flowgate
