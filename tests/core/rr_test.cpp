#include "core/rr.hpp"
#include "tests/support/temp_dir.hpp"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace moat {
namespace {

// Types rr.hpp has no constant for.
constexpr std::uint16_t kHinfo = 13, kNaptr = 35, kSshfp = 44, kSvcb = 64, kHttps = 65,
                        kUnassigned = 65280;

const std::string kSha256Hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// Passes when `message` contains `what`; the failure shows both.
testing::AssertionResult mentions(const std::string& message, std::string_view what) {
  if (message.find(what) != std::string::npos)
    return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "message '" << message << "' does not mention '" << what << "'";
}

Name name(std::string_view text) {
  auto n = Name::parse(text);
  EXPECT_TRUE(n) << text << ": " << n.error().message;
  return n ? *n : Name();
}

const Name& origin() {
  static const Name o = name("example.test.");
  return o;
}

std::vector<std::uint8_t> bytes(std::initializer_list<int> v) { return {v.begin(), v.end()}; }

std::vector<std::uint8_t> hex(std::string_view h) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

std::vector<std::uint8_t> rdata(std::uint16_t type, std::string_view text) {
  auto r = parse_rdata(type, text, origin());
  EXPECT_TRUE(r) << type_to_string(type) << " " << text << ": " << r.error().message;
  return r ? *r : std::vector<std::uint8_t>{};
}

using testing_support::TempDir;

// ---- type names ---------------------------------------------------------------------------

TEST(TypeFromString, KnowsMnemonicsInAnyCase) {
  EXPECT_EQ(type_from_string("MX"), rrtype::MX);
  EXPECT_EQ(type_from_string("mx"), rrtype::MX);
  EXPECT_EQ(type_from_string("Tlsa"), rrtype::TLSA);
  EXPECT_EQ(type_from_string("CAA"), rrtype::CAA);
  EXPECT_EQ(type_from_string("AAAA"), rrtype::AAAA);
}

TEST(TypeFromString, KnowsGenericTypeNumbers) {
  EXPECT_EQ(type_from_string("TYPE65280"), 65280);
  EXPECT_EQ(type_from_string("type15"), rrtype::MX);
}

TEST(TypeFromString, RefusesUnknownNames) {
  auto t = type_from_string("FOO");
  ASSERT_FALSE(t);
  EXPECT_TRUE(mentions(t.error().message, "FOO"));
  EXPECT_FALSE(type_from_string(""));
  EXPECT_FALSE(type_from_string("TYPE"));
  EXPECT_FALSE(type_from_string("TYPE0"));
}

TEST(TypeFromString, RefusesTypeNumbersOutOfRangeOrWithTrailingJunk) {
  auto big = type_from_string("TYPE65536");
  EXPECT_FALSE(big) << "TYPE65536 gave type " << *big;
  auto bigger = type_from_string("TYPE70000");
  EXPECT_FALSE(bigger) << "TYPE70000 gave type " << *bigger;
  auto junk = type_from_string("TYPE1x");
  EXPECT_FALSE(junk) << "TYPE1x gave type " << *junk;
}

TEST(TypeToString, GivesMnemonicOrGenericName) {
  EXPECT_EQ(type_to_string(rrtype::MX), "MX");
  EXPECT_EQ(type_to_string(rrtype::TLSA), "TLSA");
  EXPECT_EQ(type_to_string(rrtype::CAA), "CAA");
  EXPECT_EQ(type_to_string(65280), "TYPE65280");
}

TEST(TypeToString, RoundTripsThroughTypeFromString) {
  for (std::uint16_t t : {rrtype::A, rrtype::NS, rrtype::SOA, rrtype::MX, rrtype::TXT, rrtype::SRV,
                          rrtype::TLSA, rrtype::CAA, std::uint16_t{65280}, std::uint16_t{54}}) {
    EXPECT_EQ(type_from_string(type_to_string(t)), t) << type_to_string(t);
  }
}

TEST(TypeClasses, SeparateMetaAndDnssecTypesFromData) {
  for (std::uint16_t t : {rrtype::OPT, rrtype::ANY, rrtype::AXFR, rrtype::IXFR, std::uint16_t{0}})
    EXPECT_TRUE(is_meta_type(t)) << t;
  for (std::uint16_t t : {rrtype::DNSKEY, rrtype::RRSIG, rrtype::NSEC, rrtype::NSEC3,
                          rrtype::NSEC3PARAM, rrtype::CDS, rrtype::CDNSKEY})
    EXPECT_TRUE(is_dnssec_type(t)) << t;
  for (std::uint16_t t :
       {rrtype::A, rrtype::MX, rrtype::TLSA, rrtype::CAA, rrtype::DS, std::uint16_t{65280}}) {
    EXPECT_FALSE(is_meta_type(t)) << t;
    EXPECT_FALSE(is_dnssec_type(t)) << t;
  }
}

// ---- RDATA presentation <-> wire ----------------------------------------------------------

struct RdataCase {
  const char* label; // test name suffix
  std::uint16_t type;
  std::string text;
};

void PrintTo(const RdataCase& c, std::ostream* os) {
  *os << type_to_string(c.type) << " " << c.text;
}

class RdataRoundTrip : public testing::TestWithParam<RdataCase> {};

TEST_P(RdataRoundTrip, ParsesPrintsAndParsesBackToIdenticalWire) {
  const auto& c = GetParam();
  auto wire = parse_rdata(c.type, c.text, origin());
  ASSERT_TRUE(wire) << c.text << ": " << wire.error().message;
  EXPECT_FALSE(wire->empty());
  EXPECT_TRUE(check_rdata(c.type, *wire));
  std::string printed = rdata_to_string(c.type, *wire);
  auto again = parse_rdata(c.type, printed, origin());
  ASSERT_TRUE(again) << "printed as '" << printed << "': " << again.error().message;
  EXPECT_EQ(*again, *wire) << "printed as '" << printed << "'";
}

// Every type the server serves. ldns 1.8.3 knows SVCB and HTTPS (RFC 9460), so they are
// covered too.
INSTANTIATE_TEST_SUITE_P(
    ServedTypes, RdataRoundTrip,
    testing::Values(
        RdataCase{"A", rrtype::A, "192.0.2.1"}, RdataCase{"AAAA", rrtype::AAAA, "2001:db8::1"},
        RdataCase{"NS", rrtype::NS, "ns1.example.test."},
        RdataCase{"CNAME", rrtype::CNAME, "target.example.test."},
        RdataCase{"MX", rrtype::MX, "10 mail.example.test."},
        RdataCase{"NullMx", rrtype::MX, "0 ."}, // RFC 7505
        RdataCase{"TXT", rrtype::TXT, "\"v=spf1 -all\""},
        RdataCase{"TxtSeveralStrings", rrtype::TXT, "\"hello world\" \"second \\\"q\\\"\" third"},
        RdataCase{"TxtWithSemicolon", rrtype::TXT, "\"v=DMARC1; p=reject\""},
        RdataCase{"TxtWithEscapes", rrtype::TXT, "\"a\\065b\\\\c\\255\""},
        RdataCase{"TxtEmptyString", rrtype::TXT, "\"\""},
        RdataCase{"SRV", rrtype::SRV, "10 20 25 mail.example.test."},
        RdataCase{"PTR", rrtype::PTR, "host.example.test."},
        RdataCase{"CAA", rrtype::CAA, "0 issue \"letsencrypt.org\""},
        RdataCase{"CaaIodef", rrtype::CAA, "128 iodef \"mailto:security@example.test\""},
        RdataCase{"TLSA", rrtype::TLSA, "3 1 1 " + kSha256Hex},
        RdataCase{"SSHFP", kSshfp, "4 2 " + kSha256Hex},
        RdataCase{"DS", rrtype::DS, "12345 13 2 " + kSha256Hex},
        RdataCase{"NAPTR", kNaptr, "100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.test."},
        RdataCase{"NaptrRegexp", kNaptr,
                  "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.test!\" ."},
        RdataCase{"HINFO", kHinfo, "\"PC\" \"Linux\""},
        RdataCase{"DNAME", rrtype::DNAME, "other.test."},
        RdataCase{"SOA", rrtype::SOA,
                  "ns1.example.test. hostmaster.example.test. 2024010101 14400 3600 1209600 300"},
        RdataCase{"SVCB", kSvcb, "1 svc.example.test. alpn=h2,h3 port=8443"},
        RdataCase{"HTTPS", kHttps, "1 . alpn=h2"},
        RdataCase{"HttpsAliasMode", kHttps, "0 www.example.test."},
        RdataCase{"GenericUnassigned", kUnassigned, "\\# 4 0a000001"}),
    [](const testing::TestParamInfo<RdataCase>& info) { return std::string(info.param.label); });

TEST(ParseRdata, EncodesAddressRecords) {
  EXPECT_EQ(rdata(rrtype::A, "192.0.2.1"), bytes({192, 0, 2, 1}));
  EXPECT_EQ(rdata(rrtype::AAAA, "2001:db8::1"),
            bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
}

TEST(ParseRdata, EncodesMx) {
  EXPECT_EQ(rdata(rrtype::MX, "10 mail.example.test."),
            bytes({0,   10,  4,   'm', 'a', 'i', 'l', 7,   'e', 'x', 'a',
                   'm', 'p', 'l', 'e', 4,   't', 'e', 's', 't', 0}));
}

TEST(ParseRdata, EncodesTxtStringsQuotesAndEscapes) {
  auto w = rdata(rrtype::TXT, "\"hello world\" \"say \\\"hi\\\"\" bare \"\\065\\\\\"");
  std::vector<std::uint8_t> expected;
  for (std::string s : {"hello world", "say \"hi\"", "bare", "A\\"}) {
    expected.push_back(static_cast<std::uint8_t>(s.size()));
    expected.insert(expected.end(), s.begin(), s.end());
  }
  EXPECT_EQ(w, expected);
  EXPECT_EQ(rdata_to_string(rrtype::TXT, w),
            "\"hello world\" \"say \\\"hi\\\"\" \"bare\" \"A\\\\\"");
}

TEST(ParseRdata, KeepsSemicolonInsideQuotedTxt) {
  auto w = rdata(rrtype::TXT, "\"v=DMARC1; p=reject; rua=mailto:d@example.test\"");
  std::string s = "v=DMARC1; p=reject; rua=mailto:d@example.test";
  std::vector<std::uint8_t> expected{static_cast<std::uint8_t>(s.size())};
  expected.insert(expected.end(), s.begin(), s.end());
  EXPECT_EQ(w, expected);
}

TEST(ParseRdata, EncodesTlsa311) {
  auto w = rdata(rrtype::TLSA, "3 1 1 " + kSha256Hex);
  auto expected = bytes({3, 1, 1});
  auto digest = hex(kSha256Hex);
  expected.insert(expected.end(), digest.begin(), digest.end());
  EXPECT_EQ(w, expected);
  EXPECT_EQ(rdata_to_string(rrtype::TLSA, w), "3 1 1 " + kSha256Hex);
}

TEST(ParseRdata, AcceptsCaaIssueWithParameters) {
  // RFC 8659 §4.2: parameters follow the issuer after ';' inside the quoted value.
  auto w =
      parse_rdata(rrtype::CAA, "0 issue \"letsencrypt.org; validationmethods=dns-01\"", origin());
  ASSERT_TRUE(w) << w.error().message;
  std::string value = "letsencrypt.org; validationmethods=dns-01";
  auto expected = bytes({0, 5, 'i', 's', 's', 'u', 'e'});
  expected.insert(expected.end(), value.begin(), value.end());
  EXPECT_EQ(*w, expected);
}

TEST(ParseRdata, ReadsRfc3597GenericFormForUnassignedType) {
  auto w = rdata(kUnassigned, "\\# 4 0a000001");
  EXPECT_EQ(w, bytes({0x0a, 0, 0, 1}));
  EXPECT_EQ(rdata_to_string(kUnassigned, w), "\\# 4 0a000001");
  EXPECT_FALSE(parse_rdata(kUnassigned, "\\# 4 0a0000", origin()));
  EXPECT_FALSE(parse_rdata(kUnassigned, "\\# 3 0a000001", origin()));
}

TEST(ParseRdata, ReadsRfc3597GenericFormForKnownType) {
  EXPECT_EQ(rdata(rrtype::A, "\\# 4 0a000001"), bytes({10, 0, 0, 1}));
}

TEST(ParseRdata, CompletesRelativeNamesWithOriginInLowerCase) {
  EXPECT_EQ(rdata(rrtype::MX, "10 Mail"), rdata(rrtype::MX, "10 mail.example.test."));
  EXPECT_EQ(rdata_to_string(rrtype::MX, rdata(rrtype::MX, "10 Mail")), "10 mail.example.test.");
  EXPECT_EQ(rdata(rrtype::NS, "NS1.Example.TEST."), rdata(rrtype::NS, "ns1.example.test."));
  EXPECT_EQ(rdata(rrtype::CNAME, "WWW"), rdata(rrtype::CNAME, "www.example.test."));
  EXPECT_EQ(rdata(rrtype::SRV, "0 5 25 Mail"), rdata(rrtype::SRV, "0 5 25 mail.example.test."));
  EXPECT_EQ(rdata(rrtype::SOA, "NS1 Hostmaster 1 2 3 4 5"),
            rdata(rrtype::SOA, "ns1.example.test. hostmaster.example.test. 1 2 3 4 5"));
}

TEST(ParseRdata, RefusesBadRdata) {
  struct Bad {
    std::uint16_t type;
    std::string text;
  };
  for (const auto& [type, text] : std::vector<Bad>{
           {rrtype::A, "300.1.1.1"},
           {rrtype::A, "1.2.3"},
           {rrtype::A, "192.0.2.1 5"},
           {rrtype::A, ""},
           {rrtype::AAAA, "garbage"},
           {rrtype::AAAA, "192.0.2.1"},
           {rrtype::MX, "mail.example.test."},
           {rrtype::MX, "10"},
           {rrtype::TLSA, "3 1 1 zz"},
           {rrtype::TLSA, "3 1 1"},
           {rrtype::SOA, "ns1 hostmaster 1 2 3 4"},
           {rrtype::A, "192.0.2.1\n192.0.2.2"},
       }) {
    auto r = parse_rdata(type, text, origin());
    EXPECT_FALSE(r) << type_to_string(type) << " '" << text << "' was accepted";
    if (!r) {
      EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
      EXPECT_TRUE(mentions(r.error().message, type_to_string(type)));
    }
  }
}

TEST(ParseRdata, RefusesTlsaWithOddNumberOfHexDigits) {
  // 63 hex digits: half an octet cannot be encoded.
  std::string odd = "3 1 1 " + kSha256Hex.substr(0, 63);
  auto r = parse_rdata(rrtype::TLSA, odd, origin());
  EXPECT_FALSE(r) << "accepted as " << rdata_to_string(rrtype::TLSA, *r);
}

TEST(RrToString, WritesOneMasterFileLine) {
  Rr rr{name("www.example.test."), rrtype::A, 300, bytes({192, 0, 2, 1})};
  EXPECT_EQ(rr_to_string(rr), "www.example.test.\t300\tIN\tA\t192.0.2.1");
  Rr mx{name("example.test."), rrtype::MX, 3600, rdata(rrtype::MX, "10 mail")};
  EXPECT_EQ(rr_to_string(mx), "example.test.\t3600\tIN\tMX\t10 mail.example.test.");
  Rr unknown{name("x.example.test."), kUnassigned, 60, bytes({1, 2})};
  EXPECT_EQ(rr_to_string(unknown), "x.example.test.\t60\tIN\tTYPE65280\t\\# 2 0102");
}

// ---- wire checks --------------------------------------------------------------------------

TEST(CheckRdata, AcceptsWellFormedWire) {
  EXPECT_TRUE(check_rdata(rrtype::A, bytes({192, 0, 2, 1})));
  EXPECT_TRUE(check_rdata(rrtype::MX, bytes({0, 10, 4, 'm', 'a', 'i', 'l', 0})));
  EXPECT_TRUE(check_rdata(rrtype::TXT, bytes({2, 'h', 'i', 0})));
  EXPECT_TRUE(check_rdata(rrtype::TLSA, rdata(rrtype::TLSA, "3 1 1 " + kSha256Hex)));
  EXPECT_TRUE(check_rdata(kUnassigned, bytes({1, 2, 3})));
}

TEST(CheckRdata, RefusesTruncatedOrOverlongWire) {
  EXPECT_FALSE(check_rdata(rrtype::A, bytes({192, 0, 2})));
  EXPECT_FALSE(check_rdata(rrtype::A, bytes({192, 0, 2, 1, 5})));
  EXPECT_FALSE(check_rdata(rrtype::MX, bytes({0})));
  EXPECT_FALSE(check_rdata(rrtype::MX, bytes({0, 10, 4, 'm', 'a', 'i', 'l'})));
  EXPECT_FALSE(check_rdata(rrtype::MX, bytes({0, 10, 4, 'm', 'a', 'i', 'l', 0, 1})));
  EXPECT_FALSE(check_rdata(rrtype::TXT, bytes({5, 'a', 'b'})));
  // Compression pointers are not allowed in stored RDATA.
  EXPECT_FALSE(check_rdata(rrtype::MX, bytes({0, 10, 0xC0, 0x0C})));
}

TEST(CheckRdata, RefusesEmptyAddress) { EXPECT_FALSE(check_rdata(rrtype::A, {})); }

TEST(CheckRdata, RefusesMxWithoutExchange) {
  EXPECT_FALSE(check_rdata(rrtype::MX, bytes({0, 10})));
}

TEST(CheckRdata, RefusesTlsaWithoutMatchingType) {
  EXPECT_FALSE(check_rdata(rrtype::TLSA, bytes({3, 1})));
}

TEST(CheckRdata, RefusesRdataOver65535Octets) {
  std::vector<std::uint8_t> big(65536, 0);
  EXPECT_FALSE(check_rdata(kUnassigned, big));
}

TEST(RdataTargetNames, ReturnsMxNsAndSrvTargets) {
  Name apex = name("example.test.");
  Rr mx{apex, rrtype::MX, 300, rdata(rrtype::MX, "10 mail")};
  EXPECT_EQ(rdata_target_names(mx), std::vector<Name>{name("mail.example.test.")});
  Rr ns{apex, rrtype::NS, 300, rdata(rrtype::NS, "ns1.other.test.")};
  EXPECT_EQ(rdata_target_names(ns), std::vector<Name>{name("ns1.other.test.")});
  Rr srv{name("_imaps._tcp.example.test."), rrtype::SRV, 300,
         rdata(rrtype::SRV, "0 1 993 imap.example.test.")};
  EXPECT_EQ(rdata_target_names(srv), std::vector<Name>{name("imap.example.test.")});
}

TEST(RdataTargetNames, ReturnsNothingForTypesWithoutTargets) {
  Rr a{name("www.example.test."), rrtype::A, 300, bytes({192, 0, 2, 1})};
  EXPECT_TRUE(rdata_target_names(a).empty());
  Rr txt{name("www.example.test."), rrtype::TXT, 300, rdata(rrtype::TXT, "\"mail.example.test.\"")};
  EXPECT_TRUE(rdata_target_names(txt).empty());
}

// ---- master files -------------------------------------------------------------------------

TEST(ParseZoneFile, ReadsOriginTtlRelativeNamesAndMultiLineSoa) {
  TempDir dir;
  auto path = dir.write("example.test.zone", R"($ORIGIN example.test.
$TTL 600
@   IN  SOA ns1 Hostmaster (
            2024010101 ; serial
            14400      ; refresh
            3600 1209600
            300 )
@       NS  ns1
ns1     A   192.0.2.1
www 300 IN  A   192.0.2.2
Mail.Example.Test. MX 10 Mail
_25._tcp.mail TLSA 3 1 1 )" + kSha256Hex + R"(
txt     TXT ( "part one"
              "part two" )
)");
  auto z = parse_zone_file(path, origin());
  ASSERT_TRUE(z) << z.error().message;
  ASSERT_EQ(z->records.size(), 7u);
  const auto& r = z->records;

  EXPECT_EQ(r[0].owner, origin());
  EXPECT_EQ(r[0].type, rrtype::SOA);
  EXPECT_EQ(r[0].ttl, 600u);
  EXPECT_EQ(r[0].rdata, rdata(rrtype::SOA, "ns1.example.test. hostmaster.example.test. "
                                           "2024010101 14400 3600 1209600 300"));

  EXPECT_EQ(r[1], (Rr{origin(), rrtype::NS, 600, rdata(rrtype::NS, "ns1.example.test.")}));
  EXPECT_EQ(r[2], (Rr{name("ns1.example.test."), rrtype::A, 600, bytes({192, 0, 2, 1})}));
  EXPECT_EQ(r[3], (Rr{name("www.example.test."), rrtype::A, 300, bytes({192, 0, 2, 2})}));
  // Owners and names inside RDATA come out lower-cased.
  EXPECT_EQ(r[4].owner.wire(), name("mail.example.test.").wire());
  EXPECT_EQ(r[4].rdata, rdata(rrtype::MX, "10 mail.example.test."));
  EXPECT_EQ(r[5].owner, name("_25._tcp.mail.example.test."));
  EXPECT_EQ(r[5].rdata, rdata(rrtype::TLSA, "3 1 1 " + kSha256Hex));
  EXPECT_EQ(r[6].rdata, rdata(rrtype::TXT, "\"part one\" \"part two\""));
}

TEST(ParseZoneFile, ReportsFileAndLineOfSyntaxError) {
  TempDir dir;
  auto path = dir.write("bad.zone", "$ORIGIN example.test.\n"          // 1
                                    "$TTL 600\n"                       // 2
                                    "@ SOA ns1 hostmaster 1 2 3 4 5\n" // 3
                                    "ns1 A 192.0.2.1\n"                // 4
                                    "www A 300.0.0.1\n"                // 5
                                    "x A 192.0.2.3\n");                // 6
  auto z = parse_zone_file(path, origin());
  ASSERT_FALSE(z);
  const auto& msg = z.error().message;
  EXPECT_TRUE(mentions(msg, path + ":5:"));
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(ParseZoneFile, RefusesRecordOutsideOrigin) {
  TempDir dir;
  auto path = dir.write("outside.zone", "$TTL 600\n"
                                        "@ SOA ns1 hostmaster 1 2 3 4 5\n"
                                        "www.other.test. A 192.0.2.1\n");
  auto z = parse_zone_file(path, origin());
  ASSERT_FALSE(z);
  EXPECT_TRUE(mentions(z.error().message, "www.other.test."));
}

TEST(ParseZoneFile, RefusesOriginDirectiveLeavingTheZone) {
  TempDir dir;
  auto path = dir.write("leave.zone", "$TTL 600\n"
                                      "@ SOA ns1 hostmaster 1 2 3 4 5\n"
                                      "$ORIGIN bexample.test.\n"
                                      "www A 192.0.2.1\n");
  EXPECT_FALSE(parse_zone_file(path, origin()));
}

TEST(ParseZoneFile, RefusesInclude) {
  TempDir dir;
  auto other = dir.write("other.zone", "www A 192.0.2.1\n");
  auto path = dir.write("include.zone", "$TTL 600\n"
                                        "@ SOA ns1 hostmaster 1 2 3 4 5\n"
                                        "$INCLUDE " +
                                            other + "\n");
  EXPECT_FALSE(parse_zone_file(path, origin()));
}

TEST(ParseZoneFile, RefusesClassOtherThanIn) {
  TempDir dir;
  auto path = dir.write("ch.zone", "$TTL 600\n"
                                   "@ SOA ns1 hostmaster 1 2 3 4 5\n"
                                   "www CH A 192.0.2.1\n");
  EXPECT_FALSE(parse_zone_file(path, origin()));
}

TEST(ParseZoneFile, ReportsMissingFile) {
  TempDir dir;
  std::string path = dir.write("x", "") + ".missing";
  auto z = parse_zone_file(path, origin());
  ASSERT_FALSE(z);
  EXPECT_TRUE(mentions(z.error().message, path));
}

TEST(ParseZoneFile, RefusesUnclosedParenthesisAtTheLineThatOpenedIt) {
  TempDir dir;
  auto path = dir.write("paren.zone", "$TTL 600\n"                        // 1
                                      "@ SOA ns1 hostmaster ( 1 2 3 4 5\n" // 2
                                      "www A 192.0.2.1\n");                // 3
  auto z = parse_zone_file(path, origin());
  ASSERT_FALSE(z);
  EXPECT_TRUE(mentions(z.error().message, path + ":2:")) << z.error().message;
}

TEST(ParseZoneFile, RefusesCloseParenthesisWithoutOpen) {
  TempDir dir;
  auto path = dir.write("close.zone", "$TTL 600\n"
                                      "@ SOA ns1 hostmaster 1 2 3 4 5 )\n");
  EXPECT_FALSE(parse_zone_file(path, origin()));
}

TEST(ParseZoneFile, RefusesIntegerFieldThatWouldWrap) {
  TempDir dir;
  auto path = dir.write("wrap.zone", "$TTL 600\n"
                                     "@ SOA ns1 hostmaster 1 2 3 4 5\n"
                                     "@ MX 70000 mail\n");
  auto z = parse_zone_file(path, origin());
  ASSERT_FALSE(z);
  EXPECT_TRUE(mentions(z.error().message, path + ":3:")) << z.error().message;
}

TEST(ParseZoneFile, GivesOwnerlessEntryThePreviousOwnerAndReadsTtlUnits) {
  TempDir dir;
  auto path = dir.write("owners.zone", "$TTL 1h30m\n"
                                       "@ SOA ns1 hostmaster 1 2 3 4 5\n"
                                       "mail A 192.0.2.1\n"
                                       "     AAAA 2001:db8::1 ; same owner\n"
                                       "txt TXT \"a;b (c\"\n");
  auto z = parse_zone_file(path, origin());
  ASSERT_TRUE(z) << z.error().message;
  ASSERT_EQ(z->records.size(), 4u);
  EXPECT_EQ(z->records[0].ttl, 5400u);
  EXPECT_EQ(z->records[2].owner, name("mail.example.test."));
  EXPECT_EQ(z->records[2].type, rrtype::AAAA);
  EXPECT_EQ(z->records[3].rdata, rdata(rrtype::TXT, "\"a;b (c\""));
}

TEST(ParseRdata, RefusesIntegerFieldsLargerThanTheirWidth) {
  EXPECT_FALSE(parse_rdata(rrtype::MX, "70000 mail.example.test.", origin()));
  EXPECT_FALSE(parse_rdata(rrtype::TLSA, "300 1 1 " + kSha256Hex, origin()));
  EXPECT_FALSE(parse_rdata(rrtype::TLSA, "3 1 256 " + kSha256Hex, origin()));
  EXPECT_FALSE(parse_rdata(rrtype::CAA, "256 issue \"ca.example\"", origin()));
  EXPECT_FALSE(parse_rdata(rrtype::SRV, "1 2 65536 sip.example.test.", origin()));
  EXPECT_FALSE(parse_rdata(rrtype::MX, "99999999999999999999999 mail.example.test.", origin()));
  EXPECT_TRUE(parse_rdata(rrtype::MX, "65535 mail.example.test.", origin()));
  EXPECT_TRUE(parse_rdata(rrtype::CAA, "128 issue \"ca.example\"", origin()));
  EXPECT_TRUE(parse_rdata(rrtype::SRV, "0 0 65535 sip.example.test.", origin()));
}

TEST(ParseRr, ReadsAWholeRecordWithDefaultTtl) {
  auto rr = parse_rr("www IN A 192.0.2.7", origin(), 900);
  ASSERT_TRUE(rr) << rr.error().message;
  EXPECT_EQ(*rr, (Rr{name("www.example.test."), rrtype::A, 900, bytes({192, 0, 2, 7})}));
  EXPECT_FALSE(parse_rr("www 60 IN MX 65536 mail", origin(), 900));
}

} // namespace
} // namespace moat
