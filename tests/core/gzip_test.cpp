// Bounded gunzip: what zlib's own gzip writer makes comes back whole, and damaged, cut, padded
// or explosive input is refused without inflating past the bound.
#include "core/gzip.hpp"

#include "tests/support/gzip_data.hpp"

#include <gtest/gtest.h>
#include <string>

namespace moat {
namespace {

// gzip as the gzip tool writes it (zlib's deflate with the gzip wrapper).
std::string gzip(const std::string& data) { return ::testing_support::gzip_data(data); }

TEST(Gzip, RoundTripsTextAndEmptyData) {
  std::string text;
  for (int i = 0; i < 5000; ++i)
    text += "line " + std::to_string(i) + "\n";
  auto back = gunzip(gzip(text), 1 << 20);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, text);
  auto empty = gunzip(gzip(""), 10);
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(*empty, "");
}

TEST(Gzip, ReadsConcatenatedMembers) {
  auto back = gunzip(gzip("first ") + gzip("second"), 100);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, "first second");
}

TEST(Gzip, ABombStopsAtTheBound) {
  const std::string bomb = gzip(std::string(16 << 20, '\0')); // 16 MiB of zeros: ~16 kB
  ASSERT_LT(bomb.size(), 100u << 10);
  auto r = gunzip(bomb, 4 << 20);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "gzip data decompresses to more than 4194304 octets");
  // Exactly at the bound is fine.
  auto exact = gunzip(gzip(std::string(1000, 'x')), 1000);
  ASSERT_TRUE(exact) << exact.error().message;
  EXPECT_FALSE(gunzip(gzip(std::string(1001, 'x')), 1000));
}

TEST(Gzip, RefusesWhatIsNotWholeGzip) {
  const std::string good = gzip(std::string(3000, 'a') + "tail");
  EXPECT_EQ(gunzip("{\"json\": 1}", 100).error().message, "not gzip data");
  EXPECT_EQ(gunzip("", 100).error().message, "not gzip data");
  EXPECT_EQ(gunzip(good.substr(0, good.size() - 6), 1 << 20).error().message,
            "gzip data cut short");
  EXPECT_EQ(gunzip(good + "junk", 1 << 20).error().message,
            "data after the end of the gzip stream");
  std::string flipped = good;
  flipped[flipped.size() - 5] ^= 0x40; // the CRC-32 of the data
  EXPECT_TRUE(gunzip(flipped, 1 << 20).error().message.starts_with("damaged gzip data"));
  std::string header = good;
  header[2] = 7; // compression method other than deflate
  EXPECT_TRUE(gunzip(header, 1 << 20).error().message.starts_with("damaged gzip data"));
}

} // namespace
} // namespace moat
