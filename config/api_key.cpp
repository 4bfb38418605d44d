#include "config/api_key.hpp"

#include "config/checksum.hpp"
#include "messages/errors.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>

namespace flowgate {

namespace {

constexpr std::string_view prefix = "fgk_";
constexpr size_t id_bytes = 8;
constexpr size_t secret_bytes = 32;

caf::expected<std::string> random_hex(size_t bytes) {
  std::array<unsigned char, 64> buf{};
  if (bytes > buf.size() || RAND_bytes(buf.data(), static_cast<int>(bytes)) != 1) {
    return make_error(errc::store_failure, "cannot make an API key: the random source failed");
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (size_t i = 0; i < bytes; ++i) {
    out += digits[buf[i] >> 4];
    out += digits[buf[i] & 15];
  }
  return out;
}

bool lower_hex(std::string_view s, size_t length) {
  if (s.size() != length) {
    return false;
  }
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

} // namespace

caf::expected<api_key_parts> new_api_key() {
  auto id = random_hex(id_bytes);
  if (!id) {
    return id.error();
  }
  auto secret = random_hex(secret_bytes);
  if (!secret) {
    return secret.error();
  }
  return api_key_parts{std::move(*id), std::move(*secret)};
}

std::string format_api_key(const api_key_parts& key) {
  return std::string{prefix} + key.id + "_" + key.secret;
}

caf::expected<api_key_parts> parse_api_key(std::string_view text) {
  auto bad = [] {
    return make_error(errc::invalid_argument,
                      "not an API key: a key reads fgk_<16 hex digits>_<64 hex digits> (as "
                      "'flowgate key create' printed it)");
  };
  if (text.substr(0, prefix.size()) != prefix) {
    return bad();
  }
  text.remove_prefix(prefix.size());
  auto cut = text.find('_');
  if (cut == std::string_view::npos) {
    return bad();
  }
  auto id = text.substr(0, cut);
  auto secret = text.substr(cut + 1);
  if (!lower_hex(id, id_bytes * 2) || !lower_hex(secret, secret_bytes * 2)) {
    return bad();
  }
  return api_key_parts{std::string{id}, std::string{secret}};
}

std::string api_key_hash(std::string_view secret) {
  return sha256_hex(secret);
}

bool same_api_key_hash(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace flowgate
