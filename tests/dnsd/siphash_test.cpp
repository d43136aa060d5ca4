// SipHash-2-4 against the reference vectors of the SipHash paper (Aumasson and Bernstein 2012,
// appendix A; vectors_sip64 of the reference code): key 00 01 .. 0f, message 00 01 .. n-1.
#include "dnsd/siphash.hpp"

#include <cstdio>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace moat::dnsd {
namespace {

SipHashKey reference_key() {
  SipHashKey key{};
  for (std::size_t i = 0; i < key.size(); ++i)
    key[i] = static_cast<std::uint8_t>(i);
  return key;
}

// The output as the reference code writes it: little-endian bytes, in hex.
std::string le_hex(std::uint64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i) {
    char byte[3];
    std::snprintf(byte, sizeof byte, "%02x", static_cast<unsigned>((v >> (8 * i)) & 0xff));
    out += byte;
  }
  return out;
}

TEST(SipHash, MatchesTheReferenceVectorsForMessagesOf0To63Bytes) {
  static const char* const kExpected[64] = {
      "310e0edd47db6f72", "fd67dc93c539f874", "5a4fa9d909806c0d", "2d7efbd796666785",
      "b7877127e09427cf", "8da699cd64557618", "cee3fe586e46c9cb", "37d1018bf50002ab",
      "6224939a79f5f593", "b0e4a90bdf82009e", "f3b9dd94c5bb5d7a", "a7ad6b22462fb3f4",
      "fbe50e86bc8f1e75", "903d84c02756ea14", "eef27a8e90ca23f7", "e545be4961ca29a1",
      "db9bc2577fcc2a3f", "9447be2cf5e99a69", "9cd38d96f0b3c14b", "bd6179a71dc96dbb",
      "98eea21af25cd6be", "c7673b2eb0cbf2d0", "883ea3e395675393", "c8ce5ccd8c030ca8",
      "94af49f6c650adb8", "eab8858ade92e1bc", "f315bb5bb835d817", "adcf6b0763612e2f",
      "a5c91da7acaa4dde", "716595876650a2a6", "28ef495c53a387ad", "42c341d8fa92d832",
      "ce7cf2722f512771", "e37859f94623f3a7", "381205bb1ab0e012", "ae97a10fd434e015",
      "b4a31508beff4d31", "81396229f0907902", "4d0cf49ee5d4dcca", "5c73336a76d8bf9a",
      "d0a704536ba93e0e", "925958fcd6420cad", "a915c29bc8067318", "952b79f3bc0aa6d4",
      "f21df2e41d4535f9", "87577519048f53a9", "10a56cf5dfcd9adb", "eb75095ccd986cd0",
      "51a9cb9ecba312e6", "96afadfc2ce666c7", "72fe52975a4364ee", "5a1645b276d592a1",
      "b274cb8ebf87870a", "6f9bb4203de7b381", "eaecb2a30b22a87f", "9924a43cc1315724",
      "bd838d3aafbf8db7", "0b1a2a3265d51aea", "135079a3231ce660", "932b2846e4d70666",
      "e1915f5cb1eca46c", "f325965ca16d629f", "575ff28e60381be5", "724506eb4c328a95",
  };
  std::vector<std::uint8_t> message;
  for (std::size_t n = 0; n < 64; ++n) {
    EXPECT_EQ(le_hex(siphash24(reference_key(), message)), kExpected[n]) << n << " bytes";
    message.push_back(static_cast<std::uint8_t>(n));
  }
}

TEST(SipHash, FirstVectorAsANumber) {
  // The paper prints the empty message's hash as the number 726fdb47dd0e0e31.
  EXPECT_EQ(siphash24(reference_key(), {}), 0x726fdb47dd0e0e31ULL);
}

TEST(SipHash, DependsOnEveryKeyByte) {
  const std::vector<std::uint8_t> message{'m', 'o', 'a', 't'};
  const std::uint64_t base = siphash24(reference_key(), message);
  for (std::size_t i = 0; i < 16; ++i) {
    SipHashKey key = reference_key();
    key[i] ^= 0x01;
    EXPECT_NE(siphash24(key, message), base) << "key byte " << i;
  }
}

} // namespace
} // namespace moat::dnsd
