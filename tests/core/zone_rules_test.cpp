#include "core/zone_rules.hpp"

#include <algorithm>
#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace moat {
namespace {

// Passes when `message` contains `what`; the failure shows both.
testing::AssertionResult mentions(const std::string& message, std::string_view what) {
  if (message.find(what) != std::string::npos)
    return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "message '" << message << "' does not mention '" << what << "'";
}

const std::string kSha256Hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

Name name(std::string_view text) {
  auto n = Name::parse(text);
  EXPECT_TRUE(n) << text << ": " << n.error().message;
  return n ? *n : Name();
}

const Name& apex() {
  static const Name a = name("example.test.");
  return a;
}

// A record parsed from presentation format; owner relative to the apex.
Rr rr(std::string_view owner, std::uint32_t ttl, std::uint16_t type, std::string_view text) {
  auto o = Name::parse(owner, &apex());
  EXPECT_TRUE(o) << owner << ": " << o.error().message;
  auto rd = parse_rdata(type, text, apex());
  EXPECT_TRUE(rd) << type_to_string(type) << " " << text << ": " << rd.error().message;
  return Rr{o ? *o : Name(), type, ttl, rd ? *rd : std::vector<std::uint8_t>{}};
}

// What a mail domain served by moat typically holds.
std::vector<Rr> normal_zone() {
  return {
      rr("@", 3600, rrtype::NS, "ns1"),
      rr("@", 3600, rrtype::NS, "ns2.other.test."),
      rr("@", 3600, rrtype::MX, "10 mail"),
      rr("@", 3600, rrtype::TXT, "\"v=spf1 mx -all\""),
      rr("@", 3600, rrtype::CAA, "0 issue \"letsencrypt.org\""),
      rr("ns1", 3600, rrtype::A, "192.0.2.53"),
      rr("mail", 300, rrtype::A, "192.0.2.25"),
      rr("mail", 300, rrtype::AAAA, "2001:db8::25"),
      rr("_25._tcp.mail", 300, rrtype::TLSA, "3 1 1 " + kSha256Hex),
      rr("_mta-sts", 300, rrtype::TXT, "\"v=STSv1; id=20240101T000000\""),
      rr("_smtp._tls", 300, rrtype::TXT, "\"v=TLSRPTv1; rua=https://mta-sts.example.test/r\""),
      rr("mta-sts", 300, rrtype::CNAME, "mail"),
      rr("www", 300, rrtype::CNAME, "example.org."),
      rr("*.wild", 300, rrtype::A, "192.0.2.80"),
      rr("sub", 3600, rrtype::NS, "ns.sub"),
      rr("ns.sub", 3600, rrtype::A, "192.0.2.54"),
  };
}

// ---- check_record -------------------------------------------------------------------------

TEST(CheckRecord, AcceptsDataRecordsAtAndBelowTheApex) {
  for (const Rr& r : normal_zone())
    EXPECT_TRUE(check_record(apex(), r)) << rr_to_string(r);
}

TEST(CheckRecord, RefusesOwnerOutsideTheApex) {
  Rr outside = rr("www.other.test.", 300, rrtype::A, "192.0.2.1");
  auto r = check_record(apex(), outside);
  ASSERT_FALSE(r);
  EXPECT_TRUE(mentions(r.error().message, "www.other.test."));
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);

  // Shares the apex's text as a suffix, but is not below it.
  EXPECT_FALSE(check_record(apex(), rr("www.bexample.test.", 300, rrtype::A, "192.0.2.1")));
  EXPECT_FALSE(check_record(apex(), rr("test.", 300, rrtype::A, "192.0.2.1")));
}

TEST(CheckRecord, RefusesMetaTypes) {
  for (std::uint16_t type : {rrtype::ANY, rrtype::OPT, rrtype::AXFR, rrtype::IXFR}) {
    Rr r{name("www.example.test."), type, 300, {}};
    EXPECT_FALSE(check_record(apex(), r)) << type_to_string(type);
  }
}

TEST(CheckRecord, RefusesDnssecTypesThatMoatGenerates) {
  const std::vector<Rr> generated = {
      rr("@", 3600, rrtype::DNSKEY,
         "257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L"
         "53eKGQ=="),
      rr("www", 300, rrtype::RRSIG,
         "A 13 3 300 20250101000000 20240101000000 12345 example.test. "
         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw="
         "="),
      rr("www", 300, rrtype::NSEC, "zzz.example.test. A RRSIG NSEC"),
      rr("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", 300, rrtype::NSEC3,
         "1 0 0 - 2t7b4g4vsa5smi47k61mv5bv1a22bojr A RRSIG"),
      rr("@", 0, rrtype::NSEC3PARAM, "1 0 0 -"),
      rr("@", 3600, rrtype::CDS, "12345 13 2 " + kSha256Hex),
      rr("@", 3600, rrtype::CDNSKEY,
         "257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L"
         "53eKGQ=="),
  };
  for (const Rr& r : generated) {
    ASSERT_FALSE(r.rdata.empty()) << type_to_string(r.type);
    auto res = check_record(apex(), r);
    ASSERT_FALSE(res) << rr_to_string(r) << " was accepted";
    EXPECT_TRUE(mentions(res.error().message, type_to_string(r.type)));
  }
}

TEST(CheckRecord, RefusesSoaWhichMoatManages) {
  Rr soa = rr("@", 3600, rrtype::SOA, "ns1 hostmaster 1 14400 3600 1209600 300");
  auto r = check_record(apex(), soa);
  ASSERT_FALSE(r);
  EXPECT_TRUE(mentions(r.error().message, "SOA"));
}

TEST(CheckRecord, RefusesTtlAbove2To31Minus1) {
  // RFC 2181 §8: a TTL is at most 2^31 - 1.
  EXPECT_TRUE(check_record(apex(), rr("www", 0x7FFFFFFF, rrtype::A, "192.0.2.1")));
  EXPECT_FALSE(check_record(apex(), rr("www", 0x80000000, rrtype::A, "192.0.2.1")));
  EXPECT_FALSE(check_record(apex(), rr("www", 0xFFFFFFFF, rrtype::A, "192.0.2.1")));
}

TEST(CheckRecord, RefusesMalformedRdata) {
  Rr bad{name("www.example.test."), rrtype::A, 300, {192, 0, 2}};
  EXPECT_FALSE(check_record(apex(), bad));
  Rr bad_mx{name("example.test."), rrtype::MX, 300, {0, 10, 4, 'm', 'a', 'i', 'l'}};
  EXPECT_FALSE(check_record(apex(), bad_mx));
}

TEST(CheckRecord, AcceptsUnassignedTypeAsOpaqueData) {
  Rr r{name("x.example.test."), 65280, 300, {1, 2, 3, 4}};
  EXPECT_TRUE(check_record(apex(), r));
}

// ---- check_zone ---------------------------------------------------------------------------

TEST(CheckZone, AcceptsANormalMailDomain) {
  auto zone = normal_zone();
  auto r = check_zone(apex(), zone);
  EXPECT_TRUE(r) << r.error().message;
}

TEST(CheckZone, AcceptsRecordsInAnyOrder) {
  auto zone = normal_zone();
  std::reverse(zone.begin(), zone.end());
  auto r = check_zone(apex(), zone);
  EXPECT_TRUE(r) << r.error().message;
}

TEST(CheckZone, RefusesCnameBesideOtherData) {
  // RFC 1034 §3.6.2, RFC 2181 §10.1.
  auto zone = normal_zone();
  zone.push_back(rr("www", 300, rrtype::A, "192.0.2.80"));
  auto r = check_zone(apex(), zone);
  ASSERT_FALSE(r);
  EXPECT_TRUE(mentions(r.error().message, "www.example.test."));
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
}

TEST(CheckZone, RefusesCnameBesideOtherDataWhateverTheOrder) {
  auto zone = normal_zone();
  zone.insert(zone.begin(), rr("WWW", 300, rrtype::TXT, "\"hello\""));
  EXPECT_FALSE(check_zone(apex(), zone));
}

TEST(CheckZone, RefusesTwoCnamesAtOneName) {
  auto zone = normal_zone();
  zone.push_back(rr("www", 300, rrtype::CNAME, "example.net."));
  auto r = check_zone(apex(), zone);
  ASSERT_FALSE(r);
  EXPECT_TRUE(mentions(r.error().message, "www.example.test."));
}

TEST(CheckZone, RefusesCnameAtTheApex) {
  std::vector<Rr> zone = {rr("@", 300, rrtype::CNAME, "example.org.")};
  EXPECT_FALSE(check_zone(apex(), zone));
  auto full = normal_zone();
  full.push_back(rr("@", 300, rrtype::CNAME, "example.org."));
  EXPECT_FALSE(check_zone(apex(), full));
}

TEST(CheckZone, RefusesZoneWithoutNsAtTheApex) {
  std::vector<Rr> zone;
  for (Rr& r : normal_zone())
    if (!(r.type == rrtype::NS && r.owner == apex()))
      zone.push_back(r); // the delegation's NS at sub.example.test. stays
  auto r = check_zone(apex(), zone);
  ASSERT_FALSE(r);
  EXPECT_TRUE(mentions(r.error().message, "NS"));
  EXPECT_FALSE(check_zone(apex(), std::vector<Rr>{}));
}

TEST(CheckNames, AppliesEveryRuleButTheApexNsToTheNamesGiven) {
  // The records at one name, as a one-record change reads them.
  const std::vector<Rr> www = {rr("www", 300, rrtype::A, "192.0.2.80")};
  EXPECT_TRUE(check_names(apex(), www)) << "no apex NS needed for a change elsewhere";
  EXPECT_FALSE(check_zone(apex(), www));
  std::vector<Rr> both = www;
  both.push_back(rr("www", 300, rrtype::CNAME, "example.net."));
  EXPECT_FALSE(check_names(apex(), both));
  both = www;
  both.push_back(rr("www", 600, rrtype::A, "192.0.2.81"));
  EXPECT_FALSE(check_names(apex(), both)) << "two TTLs in one RRset";
  EXPECT_FALSE(check_names(apex(), std::vector<Rr>{rr("@", 300, rrtype::CNAME, "example.org.")}));
  EXPECT_FALSE(
      check_names(apex(), std::vector<Rr>{rr("x.example.org.", 300, rrtype::A, "192.0.2.1")}));
}

TEST(CheckZone, RefusesTwoTtlsInOneRrset) {
  // RFC 2181 §5.2.
  auto zone = normal_zone();
  zone.push_back(rr("mail", 600, rrtype::A, "192.0.2.26")); // the other mail A has TTL 300
  auto r = check_zone(apex(), zone);
  ASSERT_FALSE(r);
  EXPECT_TRUE(mentions(r.error().message, "mail.example.test."));
}

TEST(CheckZone, AllowsDifferentTtlsInDifferentRrsets) {
  auto zone = normal_zone();
  zone.push_back(rr("mail", 900, rrtype::TXT, "\"different type, different RRset\""));
  auto r = check_zone(apex(), zone);
  EXPECT_TRUE(r) << r.error().message;
}

TEST(CheckZone, RefusesARecordThatCheckRecordRefuses) {
  auto zone = normal_zone();
  zone.push_back(rr("www.other.test.", 300, rrtype::A, "192.0.2.1"));
  EXPECT_FALSE(check_zone(apex(), zone));

  auto with_soa = normal_zone();
  with_soa.push_back(rr("@", 3600, rrtype::SOA, "ns1 hostmaster 1 14400 3600 1209600 300"));
  EXPECT_FALSE(check_zone(apex(), with_soa));

  auto with_ttl = normal_zone();
  with_ttl.push_back(rr("big", 0x80000000, rrtype::A, "192.0.2.1"));
  EXPECT_FALSE(check_zone(apex(), with_ttl));
}

} // namespace
} // namespace moat
