#include "config/checksum.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace flowgate {

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  // OpenSSL's one-shot digest (libcrypto, which TLS brings too).
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL could not compute a SHA-256 digest");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0x0f]);
  }
  return out;
}

std::string content_checksum(std::string_view canonical_text) {
  return "sha256:" + sha256_hex(canonical_text);
}

} // namespace flowgate
