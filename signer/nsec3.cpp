#include "signer/nsec3.hpp"

#include <algorithm>
#include <openssl/sha.h>

namespace moat::signer {

std::vector<std::uint8_t> nsec3_hash(const Name& name, std::span<const std::uint8_t> salt,
                                     std::uint16_t iterations) {
  // IH(salt, x, 0) = H(x || salt); IH(salt, x, k) = H(IH(salt, x, k-1) || salt).
  std::vector<std::uint8_t> buf = name.lowercased().wire();
  std::uint8_t digest[SHA_DIGEST_LENGTH];
  for (int i = 0; i <= iterations; ++i) {
    buf.insert(buf.end(), salt.begin(), salt.end());
    SHA1(buf.data(), buf.size(), digest);
    buf.assign(digest, digest + SHA_DIGEST_LENGTH);
  }
  return buf;
}

std::string base32hex_encode(std::span<const std::uint8_t> data) {
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuv";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t b : data) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kAlphabet[(acc >> bits) & 31]);
    }
  }
  if (bits > 0)
    out.push_back(kAlphabet[(acc << (5 - bits)) & 31]);
  return out;
}

std::vector<std::uint8_t> type_bitmap(std::vector<std::uint16_t> types) {
  std::ranges::sort(types);
  types.erase(std::unique(types.begin(), types.end()), types.end());
  std::vector<std::uint8_t> out;
  std::size_t i = 0;
  while (i < types.size()) {
    const std::uint8_t window = static_cast<std::uint8_t>(types[i] >> 8);
    std::uint8_t bits[32] = {};
    std::size_t used = 0;
    for (; i < types.size() && (types[i] >> 8) == window; ++i) {
      const std::uint8_t low = static_cast<std::uint8_t>(types[i]);
      bits[low / 8] |= static_cast<std::uint8_t>(0x80 >> (low % 8));
      used = low / 8 + 1; // trailing zero octets are left out (RFC 4034 §4.1.2)
    }
    out.push_back(window);
    out.push_back(static_cast<std::uint8_t>(used));
    out.insert(out.end(), bits, bits + used);
  }
  return out;
}

} // namespace moat::signer
