// The answer cache must be invisible: a replayed answer is byte for byte what answer() would
// have written for the same request, and anything it cannot replay exactly is a miss.
#include "core/rr.hpp"
#include "dnsd/answer.hpp"
#include "dnsd/answer_cache.hpp"
#include "signed_zone.hpp"

#include <gtest/gtest.h>
#include <memory>

namespace moat::dnsd {
namespace {

using testing::rr;
using Bytes = std::vector<std::uint8_t>;

struct Ask {
  std::string name; // presentation form, case as sent
  std::uint16_t type = rrtype::A;
  bool edns = true;
  bool dnssec_ok = true;
  std::uint16_t udp_size = 1232;
  std::uint16_t id = 0x1234;
  bool rd = false, cd = false;
  bool cookie = false; // a client COOKIE option
};

Bytes query(const Ask& a) {
  Bytes q = {static_cast<std::uint8_t>(a.id >> 8),
             static_cast<std::uint8_t>(a.id),
             static_cast<std::uint8_t>(a.rd ? 0x01 : 0),
             static_cast<std::uint8_t>(a.cd ? 0x10 : 0),
             0,
             1,
             0,
             0,
             0,
             0,
             0,
             static_cast<std::uint8_t>(a.edns ? 1 : 0)};
  std::size_t start = 0;
  for (std::size_t dot; (dot = a.name.find('.', start)) != std::string::npos; start = dot + 1) {
    q.push_back(static_cast<std::uint8_t>(dot - start));
    q.insert(q.end(), a.name.begin() + static_cast<std::ptrdiff_t>(start),
             a.name.begin() + static_cast<std::ptrdiff_t>(dot));
  }
  q.push_back(0);
  q.insert(q.end(),
           {static_cast<std::uint8_t>(a.type >> 8), static_cast<std::uint8_t>(a.type), 0, 1});
  if (a.edns) {
    q.insert(q.end(), {0, 0, 41, static_cast<std::uint8_t>(a.udp_size >> 8),
                       static_cast<std::uint8_t>(a.udp_size), 0, 0,
                       static_cast<std::uint8_t>(a.dnssec_ok ? 0x80 : 0), 0, 0,
                       static_cast<std::uint8_t>(a.cookie ? 12 : 0)});
    if (a.cookie)
      q.insert(q.end(), {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8});
  }
  return q;
}

class AnswerCacheTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::vector<Rr> records = {
        rr("@", rrtype::SOA, "ns1 hostmaster 1 14400 3600 1209600 300"),
        rr("@", rrtype::NS, "ns1"),
        rr("@", rrtype::MX, "10 mail"),
        rr("ns1", rrtype::A, "192.0.2.53"),
        rr("mail", rrtype::A, "192.0.2.25"),
        rr("mail", rrtype::AAAA, "2001:db8::25"),
        rr("www", rrtype::CNAME, "mail"),
        rr("*.wild", rrtype::TXT, "\"wildcard\""),
        rr("sub", rrtype::NS, "ns.sub"),
        rr("ns.sub", rrtype::A, "192.0.2.99"),
    };
    for (int i = 0; i < 60; ++i)
      records.push_back(rr("big", rrtype::TXT, "\"filler text number " + std::to_string(i) + "\""));
    snapshot_.zones.push_back(testing::ZoneBuilder().build(records));
  }

  // What answer() writes for `request`, and what it says about it.
  Bytes full(const Bytes& request, AnswerInfo* info = nullptr) {
    Bytes out(kMaxResponse);
    std::size_t n = answer(request, snapshot_, false, out, 0, nullptr, info);
    EXPECT_NE(n, kNotAnswered);
    out.resize(n == kNotAnswered ? 0 : n);
    return out;
  }
  void remember(const Bytes& request) {
    AnswerInfo info;
    Bytes response = full(request, &info);
    cache_.remember(request, snapshot_.id, response, info);
  }
  // The replayed answer (empty on a miss).
  Bytes replay(const Bytes& request, AnswerInfo* info = nullptr, std::uint64_t id = 0) {
    Bytes out(kMaxResponse);
    AnswerInfo ignored;
    std::size_t n =
        cache_.replay(request, id != 0 ? id : snapshot_.id, out, info ? *info : ignored);
    out.resize(n);
    return out;
  }

  Snapshot snapshot_;
  AnswerCache cache_{64};
};

TEST_F(AnswerCacheTest, ReplayIsWhatTheFullPathWrites) {
  const std::vector<Ask> asks = {
      {"example.test.", rrtype::MX},              // with glue
      {"example.test.", rrtype::MX, true, false}, // no DO
      {"example.test.", rrtype::MX, false},       // no EDNS
      {"example.test.", rrtype::DNSKEY},
      {"example.test.", rrtype::SOA},
      {"mail.example.test.", rrtype::TXT},   // NODATA
      {"nope.example.test.", rrtype::A},     // NXDOMAIN
      {"www.example.test.", rrtype::A},      // CNAME
      {"x.wild.example.test.", rrtype::TXT}, // wildcard
      {"host.sub.example.test.", rrtype::A}, // referral
      {"example.test.", rrtype::ANY},
      {"mail.example.test.", 65280}, // an unknown type
  };
  for (const Ask& a : asks) {
    SCOPED_TRACE(a.name + " " + std::to_string(a.type) + (a.edns ? " edns" : "") +
                 (a.dnssec_ok ? " do" : ""));
    remember(query(a));
    // Same question in another case, another ID, RD and CD set.
    Ask other = a;
    for (char& c : other.name)
      c = static_cast<char>(std::islower(static_cast<unsigned char>(c)) ? std::toupper(c) : c);
    other.id = 0xbeef;
    other.rd = other.cd = true;
    const Bytes request = query(other);
    AnswerInfo expected, got;
    const Bytes want = full(request, &expected);
    const Bytes have = replay(request, &got);
    ASSERT_FALSE(have.empty()) << "a miss";
    EXPECT_EQ(have, want);
    EXPECT_EQ(got.cls, expected.cls);
    EXPECT_EQ(got.name_hash, expected.name_hash);
    EXPECT_EQ(got.question_end, expected.question_end);
  }
  EXPECT_EQ(cache_.stats().hits, asks.size());
}

TEST_F(AnswerCacheTest, AnswersOfAnotherSnapshotAreStale) {
  const Bytes q = query({"example.test.", rrtype::MX});
  remember(q);
  EXPECT_FALSE(replay(q).empty());
  EXPECT_TRUE(replay(q, nullptr, snapshot_.id + 1).empty());
}

TEST_F(AnswerCacheTest, KeyHoldsTypeEdnsAndDo) {
  remember(query({"example.test.", rrtype::MX}));
  EXPECT_TRUE(replay(query({"example.test.", rrtype::NS})).empty());
  EXPECT_TRUE(replay(query({"example.test.", rrtype::MX, true, false})).empty());
  EXPECT_TRUE(replay(query({"example.test.", rrtype::MX, false})).empty());
  EXPECT_TRUE(replay(query({"mail.example.test.", rrtype::MX})).empty());
}

TEST_F(AnswerCacheTest, OnlyPlainQueriesTakePart) {
  // An answer to a COOKIE had 28 octets less room: not remembered.
  const Bytes with_cookie =
      query({"example.test.", rrtype::MX, true, true, 1232, 1, false, false, true});
  remember(with_cookie);
  EXPECT_TRUE(replay(with_cookie).empty());
  EXPECT_TRUE(replay(query({"example.test.", rrtype::MX})).empty());

  const Bytes plain = query({"example.test.", rrtype::MX});
  remember(plain);
  Bytes other_option = plain; // an NSID option instead of none
  other_option.back() = 4;
  other_option.insert(other_option.end(), {0, 3, 0, 0});
  ASSERT_FALSE(full(other_option).empty());
  EXPECT_TRUE(replay(other_option).empty());
  Bytes bad = plain;
  bad[2] |= 0x80; // a response
  EXPECT_TRUE(replay(bad).empty());
  bad = plain;
  bad[2] |= 4 << 3; // NOTIFY
  EXPECT_TRUE(replay(bad).empty());
  bad = plain;
  bad.push_back(0); // trailing garbage: FORMERR on the full path
  EXPECT_TRUE(replay(bad).empty());
  bad = plain;
  bad[bad.size() - 5] = 1; // EDNS version 1: BADVERS
  EXPECT_TRUE(replay(bad).empty());
  bad = plain;
  bad[7] = 1; // an answer record claimed
  EXPECT_TRUE(replay(bad).empty());
  EXPECT_TRUE(replay(Bytes(plain.begin(), plain.begin() + 15)).empty());
  EXPECT_FALSE(replay(plain).empty());
}

TEST_F(AnswerCacheTest, ACookieIsAnsweredAsTheFullPathAnswersIt) {
  const CookieJar jar(CookieSecret{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  const std::array<std::uint8_t, 4> ip = {192, 0, 2, 1};
  const AnswerContext context{ip, 1'800'000'000, &jar};
  auto answer_with = [&](const Bytes& request, AnswerInfo& info) {
    Bytes out(kMaxResponse);
    out.resize(answer(request, snapshot_, false, out, 0, &context, &info));
    return out;
  };
  auto replay_with = [&](const Bytes& request, AnswerInfo& info) {
    Bytes out(kMaxResponse);
    out.resize(cache_.replay(request, snapshot_.id, out, info, &context));
    return out;
  };
  for (const Ask& plain : std::vector<Ask>{{"example.test.", rrtype::MX},
                                           {"nope.example.test.", rrtype::A},
                                           {"example.test.", rrtype::DNSKEY, true, false}}) {
    SCOPED_TRACE(plain.name);
    remember(query(plain));
    // Only a Client Cookie: a new Server Cookie comes back.
    Ask first = plain;
    first.cookie = true;
    AnswerInfo want_info, have_info;
    const Bytes want = answer_with(query(first), want_info);
    const Bytes have = replay_with(query(first), have_info);
    ASSERT_FALSE(have.empty());
    EXPECT_EQ(have, want);
    EXPECT_FALSE(have_info.cookie_valid);
    // The Server Cookie sent back: valid, echoed, the client exempt from rate limiting.
    Bytes second = query(first);
    const std::size_t server_at = want.size() - kServerCookieSize;
    // The request ends with OPT RDLENGTH (2), option code (2), option length (2), client (8).
    second[second.size() - 13] = 4 + 8 + kServerCookieSize; // RDLENGTH
    second[second.size() - 9] = 8 + kServerCookieSize;      // option length
    second.insert(second.end(), want.begin() + static_cast<std::ptrdiff_t>(server_at), want.end());
    const Bytes want2 = answer_with(second, want_info);
    const Bytes have2 = replay_with(second, have_info);
    ASSERT_FALSE(have2.empty());
    EXPECT_EQ(have2, want2);
    EXPECT_TRUE(want_info.cookie_valid);
    EXPECT_TRUE(have_info.cookie_valid);
  }
}

TEST_F(AnswerCacheTest, TruncatedAndSizeLimitedAnswersAreNotRemembered) {
  const Bytes big = query({"big.example.test.", rrtype::TXT, false});
  const Bytes truncated = full(big);
  ASSERT_GE(truncated.size(), 3u);
  ASSERT_NE(truncated[2] & 0x02, 0) << "expected TC over 512 bytes";
  remember(big);
  EXPECT_TRUE(replay(big).empty());

  // Remembered from a 1232-byte buffer, replayed to a smaller one when it fits, not otherwise.
  const Bytes mx = query({"example.test.", rrtype::MX});
  const std::size_t size = full(mx).size();
  remember(mx);
  EXPECT_FALSE(replay(query({"example.test.", rrtype::MX, true, true, 1232})).empty());
  const auto small = static_cast<std::uint16_t>(std::max<std::size_t>(size - 1, 512));
  if (small < size) {
    EXPECT_TRUE(replay(query({"example.test.", rrtype::MX, true, true, small})).empty());
  }

  // An answer made for a small buffer may lack optional glue: not remembered.
  AnswerCache fresh(64);
  const Bytes from_small = query({"example.test.", rrtype::MX, true, true, 600});
  AnswerInfo info;
  Bytes response = full(from_small, &info);
  fresh.remember(from_small, snapshot_.id, response, info);
  Bytes out(kMaxResponse);
  EXPECT_EQ(fresh.replay(from_small, snapshot_.id, out, info), 0u);
}

TEST_F(AnswerCacheTest, RefusedAnswersAreNotRemembered) {
  const Bytes outside = query({"other.test.", rrtype::A});
  remember(outside);
  EXPECT_TRUE(replay(outside).empty());
}

} // namespace
} // namespace moat::dnsd
