// DNS Cookies (RFC 7873) with the interoperable Server Cookie of RFC 9018, checked against the
// worked examples of RFC 9018 Appendix A (each hash also reproduced with OpenSSL's SIPHASH).
#include "dnsd/cookies.hpp"

#include <gtest/gtest.h>
#include <string>
#include <string_view>
#include <vector>

namespace moat::dnsd {
namespace {

std::vector<std::uint8_t> unhex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

std::string hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

// Fixed-size bytes from hex written in this file (`h` has exactly 2*N digits).
template <std::size_t N> std::array<std::uint8_t, N> bytes(std::string_view h) {
  const auto v = unhex(h);
  std::array<std::uint8_t, N> out{};
  std::copy_n(v.begin(), std::min(N, v.size()), out.begin());
  return out;
}

// The option as a client sends it, parsed.
CookieOption option(std::string_view h) {
  auto parsed = parse_cookie(unhex(h));
  EXPECT_TRUE(parsed.has_value()) << h;
  return parsed.value_or(CookieOption{});
}

// The option data of an answer: the Client Cookie, then the Server Cookie.
std::string answer(const CookieOption& request, const ServerCookie& server) {
  return hex(request.client) + hex(server);
}

// RFC 9018 Appendix A.
const CookieSecret kSecret = bytes<16>("e5e973e5a6b2a43f48e7dc849e37bfcf");
const CookieSecret kOldSecretA4 = bytes<16>("dd3bdf9344b678b185a6f5cb60fca715");
const CookieSecret kNewSecretA4 = bytes<16>("445536bcd2513298075a5d379663c962");
const std::vector<std::uint8_t> kClient1 = {198, 51, 100, 100};
const std::vector<std::uint8_t> kClient2 = {203, 0, 113, 203};
const std::vector<std::uint8_t> kClient6 = unhex("20010db80220000159ded0f4876982b8");
constexpr std::uint32_t kA1Time = 1559731985; // Wed Jun  5 10:53:05 UTC 2019
constexpr std::uint32_t kA2Time = 1559734385; // 40 minutes later
constexpr std::uint32_t kA3Issued = 1559727985;
constexpr std::uint32_t kA3Time = 1559734700;
constexpr std::uint32_t kA4Time = 1559741961;
constexpr std::string_view kA1Answer = "2464c4abcf10c957010000005cf79f111f8130c3eee29480";

TEST(ParseCookie, AcceptsAClientCookieAlone) {
  auto c = parse_cookie(unhex("2464c4abcf10c957"));
  ASSERT_TRUE(c);
  EXPECT_EQ(hex(c->client), "2464c4abcf10c957");
  EXPECT_TRUE(c->server().empty());
}

TEST(ParseCookie, AcceptsServerCookiesOf8To32Bytes) {
  for (std::size_t server = 8; server <= 32; ++server) {
    std::vector<std::uint8_t> data(8 + server);
    for (std::size_t i = 0; i < data.size(); ++i)
      data[i] = static_cast<std::uint8_t>(i);
    auto c = parse_cookie(data);
    ASSERT_TRUE(c) << server;
    EXPECT_EQ(hex(c->client), "0001020304050607");
    ASSERT_EQ(c->server().size(), server);
    EXPECT_EQ(c->server().front(), 8);
    EXPECT_EQ(c->server().back(), 8 + server - 1);
  }
}

TEST(ParseCookie, RejectsMalformedLengthsForFormerr) {
  for (std::size_t size : {0, 1, 7, 9, 12, 15, 41, 64}) {
    std::vector<std::uint8_t> data(size, 0xab);
    EXPECT_FALSE(parse_cookie(data)) << size << " bytes";
  }
}

TEST(CookieJar, Rfc9018A1LearningANewServerCookie) {
  const CookieJar jar(kSecret);
  const CookieOption request = option("2464c4abcf10c957");
  const auto verdict = jar.check(request, kClient1, kA1Time);
  EXPECT_EQ(verdict.check, CookieJar::Check::kNone);
  EXPECT_TRUE(verdict.renew);
  EXPECT_EQ(answer(request, jar.make(request.client, kClient1, kA1Time)), kA1Answer);
}

TEST(CookieJar, Rfc9018A2TheSameClientLearningARenewedServerCookie) {
  const CookieJar jar(kSecret);
  const CookieOption request = option(kA1Answer);
  // 40 minutes old: still valid, but older than half an hour, so renewed.
  const auto verdict = jar.check(request, kClient1, kA2Time);
  EXPECT_EQ(verdict.check, CookieJar::Check::kValid);
  EXPECT_TRUE(verdict.renew);
  EXPECT_EQ(answer(request, jar.make(request.client, kClient1, kA2Time)),
            "2464c4abcf10c957010000005cf7a871d4a564a1442aca77");
}

TEST(CookieJar, Rfc9018A3AnotherClientWithReservedBytesSet) {
  const CookieJar jar(kSecret);
  // Reserved bytes 0xabcdef: the hash covers them as received, and still verifies.
  const CookieOption request = option("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5");
  EXPECT_EQ(jar.check(request, kClient2, kA3Issued).check, CookieJar::Check::kValid);
  EXPECT_EQ(jar.check(request, kClient2, kA3Issued + 3600).check, CookieJar::Check::kValid);
  // The example answers 1h52m after the cookie was issued, past the hour RFC 9018 §4.3 says a
  // server should accept: moat counts it expired. Either way the answer carries a new cookie,
  // with the Reserved bytes zero.
  const auto verdict = jar.check(request, kClient2, kA3Time);
  EXPECT_EQ(verdict.check, CookieJar::Check::kInvalid);
  EXPECT_TRUE(verdict.renew);
  EXPECT_EQ(answer(request, jar.make(request.client, kClient2, kA3Time)),
            "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e");
}

TEST(CookieJar, Rfc9018A4Ipv6WithARolledOverSecret) {
  const CookieOption request = option("22681ab97d52c298010000005cf7c57926556bd0934c72f8");
  const CookieJar old_jar(kOldSecretA4);
  EXPECT_EQ(old_jar.check(request, kClient6, kA4Time).check, CookieJar::Check::kValid);

  const CookieJar rolled(kNewSecretA4, kOldSecretA4);
  const auto verdict = rolled.check(request, kClient6, kA4Time);
  EXPECT_EQ(verdict.check, CookieJar::Check::kValid);
  EXPECT_TRUE(verdict.renew) << "a cookie of the previous secret is replaced";
  EXPECT_EQ(answer(request, rolled.make(request.client, kClient6, kA4Time)),
            "22681ab97d52c298010000005cf7c609a6bb79d16625507a");

  const CookieJar new_only(kNewSecretA4);
  EXPECT_EQ(new_only.check(request, kClient6, kA4Time).check, CookieJar::Check::kInvalid);
}

TEST(CookieJar, ReturnsItsOwnCookieValidAndNotRenewed) {
  const CookieJar jar(kSecret);
  const auto client = bytes<8>("0102030405060708");
  const ServerCookie made = jar.make(client, kClient1, kA1Time);
  EXPECT_EQ(hex(made).substr(0, 16), "010000005cf79f11");
  const CookieOption back = option(hex(client) + hex(made));
  const auto verdict = jar.check(back, kClient1, kA1Time + 10);
  EXPECT_EQ(verdict.check, CookieJar::Check::kValid);
  EXPECT_FALSE(verdict.renew);
}

TEST(CookieJar, AcceptsUpToAnHourOldAndRenewsAfterHalfAnHour) {
  const CookieJar jar(kSecret);
  const CookieOption c = option(kA1Answer);
  struct Case {
    std::int64_t age;
    CookieJar::Check check;
    bool renew;
  };
  for (const Case& t : std::initializer_list<Case>{
           {0, CookieJar::Check::kValid, false},
           {1800, CookieJar::Check::kValid, false},
           {1801, CookieJar::Check::kValid, true},
           {3600, CookieJar::Check::kValid, true},
           {3601, CookieJar::Check::kInvalid, true},
           {86400, CookieJar::Check::kInvalid, true},
           {-300, CookieJar::Check::kValid, false}, // five minutes ahead: clock skew
           {-301, CookieJar::Check::kInvalid, true},
           {-86400, CookieJar::Check::kInvalid, true},
       }) {
    const auto v = jar.check(c, kClient1, static_cast<std::uint32_t>(kA1Time + t.age));
    EXPECT_EQ(v.check, t.check) << "age " << t.age;
    EXPECT_EQ(v.renew, t.renew) << "age " << t.age;
  }
}

TEST(CookieJar, ComparesTimestampsAcrossThe32BitWrap) {
  const CookieJar jar(kSecret);
  const auto client = bytes<8>("2464c4abcf10c957");
  constexpr std::uint32_t kIssued = 0xffffff00;
  const CookieOption c = option(hex(client) + hex(jar.make(client, kClient1, kIssued)));
  EXPECT_EQ(jar.check(c, kClient1, kIssued + 512).check, CookieJar::Check::kValid);
  EXPECT_EQ(jar.check(c, kClient1, kIssued + 3601).check, CookieJar::Check::kInvalid);
}

TEST(CookieJar, RejectsACookieForAnotherClientOrAddress) {
  const CookieJar jar(kSecret);
  CookieOption c = option(kA1Answer);
  EXPECT_EQ(jar.check(c, kClient2, kA1Time).check, CookieJar::Check::kInvalid);
  EXPECT_EQ(jar.check(c, std::vector<std::uint8_t>{198, 51, 100, 101}, kA1Time).check,
            CookieJar::Check::kInvalid);
  c.client[7] ^= 1; // a client that changed its Client Cookie must learn a new Server Cookie
  EXPECT_EQ(jar.check(c, kClient1, kA1Time).check, CookieJar::Check::kInvalid);
}

TEST(CookieJar, RejectsEveryAlteredByte) {
  const CookieJar jar(kSecret);
  const auto good = unhex(kA1Answer);
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto bad = good;
    bad[i] ^= 0x40;
    auto c = parse_cookie(bad);
    ASSERT_TRUE(c);
    EXPECT_EQ(jar.check(*c, kClient1, kA1Time).check, CookieJar::Check::kInvalid) << "byte " << i;
  }
}

TEST(CookieJar, RejectsAnotherSecret) {
  const CookieJar jar(kOldSecretA4);
  EXPECT_EQ(jar.check(option(kA1Answer), kClient1, kA1Time).check, CookieJar::Check::kInvalid);
}

TEST(CookieJar, RejectsServerCookiesOfOtherSizes) {
  const CookieJar jar(kSecret);
  // The A.1 cookie with a byte more or less: well-formed (RFC 7873), but not ours.
  const std::string good(kA1Answer);
  EXPECT_EQ(jar.check(option(good + "00"), kClient1, kA1Time).check, CookieJar::Check::kInvalid);
  EXPECT_EQ(jar.check(option(good.substr(0, good.size() - 2)), kClient1, kA1Time).check,
            CookieJar::Check::kInvalid);
  EXPECT_EQ(jar.check(option(good.substr(0, 32)), kClient1, kA1Time).check,
            CookieJar::Check::kInvalid);
}

TEST(CookieJar, RejectsOtherVersions) {
  // Version 2 is no format moat knows (RFC 9018 §4.1), whatever the rest holds.
  const CookieJar jar(kSecret);
  std::string text(kA1Answer);
  text.replace(16, 2, "02");
  EXPECT_EQ(jar.check(option(text), kClient1, kA1Time).check, CookieJar::Check::kInvalid);
}

TEST(CookieJar, MakesCookiesThatDifferByClientAddressAndTime) {
  const CookieJar jar(kSecret);
  const auto client = bytes<8>("2464c4abcf10c957");
  const ServerCookie a = jar.make(client, kClient1, kA1Time);
  EXPECT_NE(a, jar.make(client, kClient2, kA1Time));
  EXPECT_NE(a, jar.make(client, kClient1, kA1Time + 1));
  EXPECT_NE(a, jar.make(bytes<8>("2464c4abcf10c958"), kClient1, kA1Time));
  EXPECT_EQ(a, jar.make(client, kClient1, kA1Time));
}

} // namespace
} // namespace moat::dnsd
