// Response Rate Limiting: buckets per (client network, class, name), the slip ratio, refill
// with an injected clock, and exact totals with several threads on one limiter.
#include "dnsd/rate_limit.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <string>
#include <thread>
#include <vector>

namespace moat::dnsd {
namespace {

constexpr SipHashKey kKey = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr std::uint64_t kName = 0x6d6f61742e746573;  // stands for a qname's hash
constexpr std::uint64_t kOther = 0x6f746865722e6f72; // another name's
constexpr std::int64_t kT0 = 5'000'000;              // any monotonic milliseconds

std::vector<std::uint8_t> ip(const std::string& text) {
  std::vector<std::uint8_t> out(16);
  if (inet_pton(AF_INET, text.c_str(), out.data()) == 1)
    out.resize(4);
  else
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), out.data()), 1) << text;
  return out;
}

struct Tally {
  int sent = 0, slipped = 0, dropped = 0;
};

// `n` answers of one kind to one client at one instant.
Tally ask(RateLimiter& rl, const std::string& client, int n, std::int64_t now = kT0,
          std::uint64_t name = kName, ResponseClass cls = ResponseClass::kPositive) {
  Tally t;
  const auto address = ip(client);
  for (int i = 0; i < n; ++i) {
    switch (rl.check(address, cls, name, now)) {
    case RateDecision::kSend:
      ++t.sent;
      break;
    case RateDecision::kSlip:
      ++t.slipped;
      break;
    case RateDecision::kDrop:
      ++t.dropped;
      break;
    }
  }
  return t;
}

RateDecision once(RateLimiter& rl, const std::string& client, std::int64_t now = kT0,
                  std::uint64_t name = kName, ResponseClass cls = ResponseClass::kPositive) {
  return rl.check(ip(client), cls, name, now);
}

RateLimitOptions with(std::uint32_t rate, std::uint32_t slip = 2) {
  RateLimitOptions o;
  o.responses_per_second = rate;
  o.slip = slip;
  return o;
}

TEST(RateLimiter, SendsABurstOfOneSecondsWorthThenLimits) {
  RateLimiter rl(with(20), kKey);
  EXPECT_EQ(ask(rl, "192.0.2.1", 20).sent, 20);
  EXPECT_NE(once(rl, "192.0.2.1"), RateDecision::kSend);
}

TEST(RateLimiter, SlipsEveryOtherLimitedAnswerByDefault) {
  RateLimiter rl(RateLimitOptions{}, kKey); // 20 per second, slip 2
  ASSERT_EQ(ask(rl, "192.0.2.1", 20).sent, 20);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(once(rl, "192.0.2.1"), RateDecision::kDrop) << i;
    EXPECT_EQ(once(rl, "192.0.2.1"), RateDecision::kSlip) << i;
  }
  const Tally t = ask(rl, "192.0.2.1", 1000);
  EXPECT_EQ(t.sent, 0);
  EXPECT_EQ(t.slipped, 500);
  EXPECT_EQ(t.dropped, 500);
}

TEST(RateLimiter, SlipsEveryNthLimitedAnswer) {
  RateLimiter rl(with(10, 3), kKey);
  ASSERT_EQ(ask(rl, "192.0.2.1", 10).sent, 10);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(once(rl, "192.0.2.1"), RateDecision::kDrop);
    EXPECT_EQ(once(rl, "192.0.2.1"), RateDecision::kDrop);
    EXPECT_EQ(once(rl, "192.0.2.1"), RateDecision::kSlip);
  }
}

TEST(RateLimiter, SlipZeroNeverSlips) {
  RateLimiter rl(with(10, 0), kKey);
  const Tally t = ask(rl, "192.0.2.1", 100);
  EXPECT_EQ(t.sent, 10);
  EXPECT_EQ(t.slipped, 0);
  EXPECT_EQ(t.dropped, 90);
}

TEST(RateLimiter, SlipOneAlwaysSlips) {
  RateLimiter rl(with(10, 1), kKey);
  const Tally t = ask(rl, "192.0.2.1", 100);
  EXPECT_EQ(t.sent, 10);
  EXPECT_EQ(t.slipped, 90);
  EXPECT_EQ(t.dropped, 0);
}

TEST(RateLimiter, TheSlipCountRunsOnAcrossRefills) {
  // A flood just over the rate alternates sent and limited answers; were the count reset by
  // every answer sent, slip 2 would never slip.
  RateLimiter rl(with(20, 2), kKey);
  ASSERT_EQ(ask(rl, "192.0.2.1", 20).sent, 20);
  Tally t;
  for (int i = 1; i <= 100; ++i) {
    const Tally step = ask(rl, "192.0.2.1", 2, kT0 + 50 * i);
    t.sent += step.sent;
    t.slipped += step.slipped;
    t.dropped += step.dropped;
  }
  EXPECT_EQ(t.sent, 100);
  EXPECT_EQ(t.slipped, 50);
  EXPECT_EQ(t.dropped, 50);
}

TEST(RateLimiter, AnotherIpv4NetworkIsUnaffected) {
  RateLimiter rl(with(20), kKey);
  ASSERT_EQ(ask(rl, "192.0.2.1", 100).sent, 20);
  EXPECT_EQ(ask(rl, "198.51.100.1", 20).sent, 20);
  EXPECT_EQ(ask(rl, "192.0.3.1", 20).sent, 20) << "the next /24";
}

TEST(RateLimiter, TheSameSlash24SharesTheLimit) {
  RateLimiter rl(with(20), kKey);
  EXPECT_EQ(ask(rl, "192.0.2.1", 12).sent, 12);
  EXPECT_EQ(ask(rl, "192.0.2.254", 12).sent, 8);
  EXPECT_NE(once(rl, "192.0.2.77"), RateDecision::kSend);
}

TEST(RateLimiter, Ipv6ClientsShareASlash56) {
  RateLimiter rl(with(20), kKey);
  EXPECT_EQ(ask(rl, "2001:db8:0:1200::1", 10).sent, 10);
  // The same first 56 bits (2001:0db8:0000:12), whatever follows.
  EXPECT_EQ(ask(rl, "2001:db8:0:12ff:ffff:ffff:ffff:ffff", 10).sent, 10);
  EXPECT_NE(once(rl, "2001:db8:0:1234::53"), RateDecision::kSend);
  // Other /56 networks: the 56th bit differs, or an earlier one.
  EXPECT_EQ(ask(rl, "2001:db8:0:1300::1", 20).sent, 20);
  EXPECT_EQ(ask(rl, "2001:db8:1:1200::1", 20).sent, 20);
}

TEST(RateLimiter, PrefixLengthsAreConfigurable) {
  RateLimitOptions o = with(5);
  o.ipv4_prefix = 32;
  o.ipv6_prefix = 64;
  RateLimiter rl(o, kKey);
  EXPECT_EQ(ask(rl, "192.0.2.1", 10).sent, 5);
  EXPECT_EQ(ask(rl, "192.0.2.2", 10).sent, 5);
  EXPECT_EQ(ask(rl, "2001:db8:0:1200::1", 10).sent, 5);
  EXPECT_EQ(ask(rl, "2001:db8:0:1200:ffff::1", 10).sent, 0) << "the same /64";
  EXPECT_EQ(ask(rl, "2001:db8:0:1201::1", 10).sent, 5) << "another /64";
}

TEST(RateLimiter, OddPrefixLengthsMaskWithinAByte) {
  RateLimitOptions o = with(5);
  o.ipv4_prefix = 20; // 192.0.16.0/20 holds 192.0.16.0 to 192.0.31.255
  RateLimiter rl(o, kKey);
  EXPECT_EQ(ask(rl, "192.0.16.1", 3).sent, 3);
  EXPECT_EQ(ask(rl, "192.0.31.200", 3).sent, 2);
  EXPECT_EQ(ask(rl, "192.0.32.1", 5).sent, 5);
}

TEST(RateLimiter, RefillsOneTokenPerIntervalAsTimePasses) {
  RateLimiter rl(with(20), kKey); // a token every 50 ms
  ASSERT_EQ(ask(rl, "192.0.2.1", 20).sent, 20);
  EXPECT_NE(once(rl, "192.0.2.1", kT0 + 49), RateDecision::kSend);
  EXPECT_EQ(once(rl, "192.0.2.1", kT0 + 50), RateDecision::kSend);
  EXPECT_NE(once(rl, "192.0.2.1", kT0 + 50), RateDecision::kSend);
  EXPECT_EQ(ask(rl, "192.0.2.1", 10, kT0 + 200).sent, 3);
}

TEST(RateLimiter, AnIdleBucketHoldsAtMostOneBurst) {
  RateLimiter rl(with(20), kKey);
  ASSERT_EQ(ask(rl, "192.0.2.1", 20).sent, 20);
  EXPECT_EQ(ask(rl, "192.0.2.1", 100, kT0 + 60'000).sent, 20);
}

TEST(RateLimiter, LetsTheRateThroughASteadyFlood) {
  RateLimiter rl(with(20), kKey);
  int sent = 0;
  for (std::int64_t ms = 0; ms < 10'000; ms += 5) // 200 queries a second for 10 seconds
    sent += once(rl, "192.0.2.1", kT0 + ms) == RateDecision::kSend;
  EXPECT_GE(sent, 20 + 10 * 20 - 1);
  EXPECT_LE(sent, 20 + 10 * 20);
}

TEST(RateLimiter, DifferentNamesHaveIndependentBuckets) {
  RateLimiter rl(with(20), kKey);
  ASSERT_EQ(ask(rl, "192.0.2.1", 100, kT0, kName).sent, 20);
  EXPECT_EQ(ask(rl, "192.0.2.1", 100, kT0, kOther).sent, 20);
}

TEST(RateLimiter, DifferentClassesHaveIndependentBuckets) {
  RateLimiter rl(with(20), kKey);
  ASSERT_EQ(ask(rl, "192.0.2.1", 100, kT0, kName, ResponseClass::kPositive).sent, 20);
  for (auto cls : {ResponseClass::kWildcard, ResponseClass::kNoData, ResponseClass::kReferral,
                   ResponseClass::kNxDomain, ResponseClass::kError})
    EXPECT_EQ(ask(rl, "192.0.2.1", 100, kT0, kName, cls).sent, 20) << static_cast<int>(cls);
}

TEST(RateLimiter, ErrorsAreLimitedPerNetworkWhateverTheName) {
  RateLimiter rl(with(20), kKey);
  EXPECT_EQ(ask(rl, "192.0.2.1", 10, kT0, kName, ResponseClass::kError).sent, 10);
  EXPECT_EQ(ask(rl, "192.0.2.1", 100, kT0, kOther, ResponseClass::kError).sent, 10);
  EXPECT_EQ(ask(rl, "192.0.2.1", 100, kT0, 0, ResponseClass::kError).sent, 0);
}

TEST(RateLimiter, DisabledAlwaysSends) {
  RateLimitOptions o = with(1);
  o.enabled = false;
  RateLimiter rl(o, kKey);
  EXPECT_EQ(ask(rl, "192.0.2.1", 1000).sent, 1000);
  EXPECT_EQ(rl.totals().dropped + rl.totals().slipped, 0u);
}

TEST(RateLimiter, ZeroRateMeansNoLimit) {
  RateLimiter rl(with(0), kKey);
  EXPECT_FALSE(rl.options().enabled);
  EXPECT_EQ(ask(rl, "192.0.2.1", 1000).sent, 1000);
}

TEST(RateLimiter, Ipv4MappedAddressesCountAsIpv4) {
  RateLimiter rl(with(20), kKey);
  ASSERT_EQ(ask(rl, "::ffff:192.0.2.1", 100).sent, 20);
  EXPECT_NE(once(rl, "192.0.2.99"), RateDecision::kSend);
}

TEST(RateLimiter, AddressesOfOtherSizesAreNotLimited) {
  RateLimiter rl(with(1), kKey);
  const std::vector<std::uint8_t> odd{192, 0, 2, 1, 7};
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(rl.check(odd, ResponseClass::kPositive, kName, kT0), RateDecision::kSend);
  EXPECT_EQ(rl.check({}, ResponseClass::kPositive, kName, kT0), RateDecision::kSend);
}

TEST(RateLimiter, AClockSlightlyBehindGrantsNothing) {
  // Threads read the clock at slightly different moments.
  RateLimiter rl(with(20), kKey);
  ASSERT_EQ(ask(rl, "192.0.2.1", 20).sent, 20);
  EXPECT_NE(once(rl, "192.0.2.1", kT0 - 5), RateDecision::kSend);
  EXPECT_NE(once(rl, "192.0.2.1", kT0 + 10), RateDecision::kSend);
}

TEST(RateLimiter, RefillsAcrossTheInternalClockWrap) {
  // Time is kept modulo 2^44 sixteenths of a millisecond, that is 2^40 ms.
  constexpr std::int64_t kWrap = std::int64_t{1} << 40;
  for (std::int64_t start : {kWrap - 20, 2 * kWrap - 1, std::int64_t{1'760'000'000'000}}) {
    RateLimiter rl(with(20), kKey);
    ASSERT_EQ(ask(rl, "192.0.2.1", 30, start).sent, 20) << start;
    EXPECT_EQ(ask(rl, "192.0.2.1", 5, start + 50).sent, 1) << start;
    EXPECT_EQ(ask(rl, "192.0.2.1", 30, start + 5'000).sent, 20) << start;
  }
}

TEST(RateLimiter, ANewcomerTakesOverAnOccupiedBucket) {
  // With a single bucket every key collides: each newcomer starts afresh rather than share the
  // previous key's debt (the limiter errs toward answering).
  RateLimitOptions o = with(5);
  o.table_size = 1;
  RateLimiter rl(o, kKey);
  EXPECT_EQ(rl.options().table_size, 1u);
  ASSERT_EQ(ask(rl, "192.0.2.1", 10).sent, 5);
  EXPECT_EQ(ask(rl, "198.51.100.1", 10).sent, 5);
  EXPECT_EQ(ask(rl, "192.0.2.1", 10).sent, 5);
}

TEST(RateLimiter, RoundsTheTableSizeUpToAPowerOfTwo) {
  RateLimitOptions o;
  o.table_size = 50'000;
  EXPECT_EQ(RateLimiter(o, kKey).options().table_size, 65536u);
  o.table_size = 0;
  EXPECT_EQ(RateLimiter(o, kKey).options().table_size, 1u);
}

TEST(RateLimiter, WorksWithARandomHashKey) {
  RateLimiter rl(with(20));
  EXPECT_EQ(ask(rl, "192.0.2.1", 100).sent, 20);
  EXPECT_EQ(ask(rl, "198.51.100.1", 100).sent, 20);
}

TEST(RateLimiter, CountsDroppedAndSlippedAnswers) {
  RateLimiter rl(with(10, 4), kKey);
  const Tally t = ask(rl, "192.0.2.1", 110);
  EXPECT_EQ(t.slipped, 25);
  EXPECT_EQ(t.dropped, 75);
  EXPECT_EQ(rl.totals().slipped, 25u);
  EXPECT_EQ(rl.totals().dropped, 75u);
}

TEST(RateLimiter, ReportsAtMostOncePerSecondAndOnlyNews) {
  RateLimiter rl(with(10, 2), kKey);
  EXPECT_FALSE(rl.report(kT0)) << "nothing limited yet";
  (void)ask(rl, "192.0.2.1", 30); // 20 limited: 10 dropped, 10 slipped
  auto first = rl.report(kT0);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->dropped, 10u);
  EXPECT_EQ(first->slipped, 10u);

  (void)ask(rl, "192.0.2.1", 4); // 2 dropped, 2 slipped
  EXPECT_FALSE(rl.report(kT0 + 999)) << "within the second";
  auto second = rl.report(kT0 + 1000);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->dropped, 2u);
  EXPECT_EQ(second->slipped, 2u);
  EXPECT_FALSE(rl.report(kT0 + 5000)) << "nothing new";
}

TEST(RateLimiter, ManyThreadsOnOneBucketKeepExactTotals) {
  // No refill (one instant), so whatever the interleaving: exactly one burst is sent and the
  // limited answers alternate drop and slip.
  RateLimiter rl(with(20, 2), kKey);
  constexpr int kThreads = 4, kEach = 20'000;
  std::vector<Tally> tallies(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] { tallies[i] = ask(rl, "192.0.2.1", kEach); });
  for (auto& t : threads)
    t.join();
  Tally sum;
  for (const Tally& t : tallies) {
    sum.sent += t.sent;
    sum.slipped += t.slipped;
    sum.dropped += t.dropped;
  }
  EXPECT_EQ(sum.sent, 20);
  EXPECT_EQ(sum.slipped, (kThreads * kEach - 20) / 2);
  EXPECT_EQ(sum.dropped, (kThreads * kEach - 20) / 2);
  EXPECT_EQ(rl.totals().slipped, static_cast<std::uint64_t>(sum.slipped));
  EXPECT_EQ(rl.totals().dropped, static_cast<std::uint64_t>(sum.dropped));
}

TEST(RateLimiter, ManyThreadsWithTheirOwnNetworksAndAMovingClock) {
  // Each thread floods its own /24 at 1000 queries a second for two seconds: a burst of 20,
  // then 20 a second.
  RateLimiter rl(with(20, 2), kKey);
  constexpr int kThreads = 4;
  std::vector<int> sent(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      const std::string client = "10.0." + std::to_string(i) + ".1";
      for (std::int64_t ms = 0; ms < 2000; ++ms)
        sent[i] += ask(rl, client, 1, kT0 + ms).sent;
    });
  for (auto& t : threads)
    t.join();
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_GE(sent[i], 20 + 2 * 20 - 1) << i;
    EXPECT_LE(sent[i], 20 + 2 * 20) << i;
  }
  const auto totals = rl.totals();
  EXPECT_EQ(totals.dropped + totals.slipped,
            static_cast<std::uint64_t>(kThreads * 2000 - (sent[0] + sent[1] + sent[2] + sent[3])));
}

} // namespace
} // namespace moat::dnsd
