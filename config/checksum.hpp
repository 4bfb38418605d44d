#pragma once

/// Content checksums of configs: SHA-256 (FIPS 180-4, computed by OpenSSL's
/// libcrypto), hex encoded.

#include <string>
#include <string_view>

namespace flowgate {

/// Lower-case hex SHA-256 digest of `data`.
std::string sha256_hex(std::string_view data);

/// The checksum flowgate stores with a config: `sha256:<hex>`.
std::string content_checksum(std::string_view canonical_text);

} // namespace flowgate
