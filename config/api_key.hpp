#pragma once

/// API keys: what a remote client (`flowgate --connect`, `flowgate::client`)
/// proves who it is with. A key reads `fgk_<id>_<secret>`:
/// - `id`: 16 lower-case hex digits, public, names the key in listings and
///   in `key revoke`, and finds its row;
/// - `secret`: 64 lower-case hex digits (32 bytes from OpenSSL's
///   RAND_bytes). Only its SHA-256 is stored; the key itself is shown once,
///   when it is created.
/// A key is an operator's (every tenant) or one tenant's. Secrets are
/// random and long, so a plain SHA-256 (no slow hash) cannot be searched;
/// hashes are compared in constant time.

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace flowgate {

struct api_key_parts {
  std::string id;
  std::string secret;
};

/// A new key (fresh id and secret). Errors: `store_failure` if the
/// system's random source fails.
[[nodiscard]] caf::expected<api_key_parts> new_api_key();

/// `fgk_<id>_<secret>`.
std::string format_api_key(const api_key_parts& key);

/// Splits a key; `invalid_argument` for anything not shaped like one (the
/// message never repeats the key).
[[nodiscard]] caf::expected<api_key_parts> parse_api_key(std::string_view text);

/// The stored form of a secret: lower-case hex SHA-256.
std::string api_key_hash(std::string_view secret);

/// Constant-time comparison of two stored hashes.
bool same_api_key_hash(std::string_view a, std::string_view b);

} // namespace flowgate
