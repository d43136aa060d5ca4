#include "core/rr.hpp"
#include "dnsd/wire.hpp"

#include <gtest/gtest.h>
#include <vector>

namespace moat::dnsd {
namespace {

// A query for `name` (wire) type `qtype`, optionally with an OPT record.
std::vector<std::uint8_t> make_query(const std::string& name, std::uint16_t qtype, bool edns = false,
                                     std::uint8_t version = 0, bool dnssec_ok = false,
                                     std::uint16_t udp = 1232) {
  std::vector<std::uint8_t> p{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(edns ? 1 : 0)};
  auto n = Name::parse(name);
  EXPECT_TRUE(n.has_value());
  p.insert(p.end(), n->wire().begin(), n->wire().end());
  p.push_back(static_cast<std::uint8_t>(qtype >> 8));
  p.push_back(static_cast<std::uint8_t>(qtype));
  p.push_back(0);
  p.push_back(1);
  if (edns) {
    std::vector<std::uint8_t> opt{0, 0, 41, static_cast<std::uint8_t>(udp >> 8),
                                  static_cast<std::uint8_t>(udp), 0, version,
                                  static_cast<std::uint8_t>(dnssec_ok ? 0x80 : 0), 0, 0, 0};
    p.insert(p.end(), opt.begin(), opt.end());
  }
  return p;
}

TEST(ParseQuery, AcceptsPlainQuery) {
  auto p = parse_query(make_query("example.test.", rrtype::MX));
  ASSERT_EQ(p.verdict, Verdict::kAnswer);
  EXPECT_EQ(p.query.id, 0x1234);
  EXPECT_TRUE(p.query.rd);
  EXPECT_EQ(p.query.qtype, rrtype::MX);
  EXPECT_EQ(p.query.qname.to_string(), "example.test.");
  EXPECT_FALSE(p.query.has_edns);
}

TEST(ParseQuery, ReadsEdnsBufferAndDoBit) {
  auto p = parse_query(make_query("example.test.", rrtype::A, true, 0, true, 4096));
  ASSERT_EQ(p.verdict, Verdict::kAnswer);
  EXPECT_TRUE(p.query.has_edns);
  EXPECT_TRUE(p.query.dnssec_ok);
  EXPECT_EQ(p.query.udp_size, 4096);
}

TEST(ParseQuery, UnknownEdnsVersionGetsBadvers) {
  auto p = parse_query(make_query("example.test.", rrtype::A, true, 1));
  EXPECT_EQ(p.verdict, Verdict::kError);
  EXPECT_EQ(p.error_rcode, rcode::kBadVers);
}

TEST(ParseQuery, DropsRuntsAndResponses) {
  for (std::size_t len = 0; len < kHeaderSize; ++len) {
    std::vector<std::uint8_t> garbage(len, 0xab);
    EXPECT_EQ(parse_query(garbage).verdict, Verdict::kDrop) << len;
  }
  auto q = make_query("example.test.", rrtype::A);
  q[2] |= 0x80;
  EXPECT_EQ(parse_query(q).verdict, Verdict::kDrop);
}

TEST(ParseQuery, GarbageOfEveryLengthIsFormerrOrDropped) {
  for (std::size_t len = 1; len <= 64; ++len) {
    std::vector<std::uint8_t> garbage(len);
    for (std::size_t i = 0; i < len; ++i)
      garbage[i] = static_cast<std::uint8_t>(i * 37 + 11);
    if (len > 2)
      garbage[2] &= 0x7f; // not a response
    auto p = parse_query(garbage);
    EXPECT_NE(p.verdict, Verdict::kAnswer) << len;
  }
}

TEST(ParseQuery, SelfPointingQnameIsFormerr) {
  std::vector<std::uint8_t> q{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
  auto p = parse_query(q);
  EXPECT_EQ(p.verdict, Verdict::kError);
  EXPECT_EQ(p.error_rcode, rcode::kFormErr);
}

TEST(ParseQuery, TwoQuestionsAreFormerr) {
  auto q = make_query("example.test.", rrtype::A);
  q[5] = 2;
  auto extra = make_query("example.test.", rrtype::A);
  q.insert(q.end(), extra.begin() + 12, extra.end());
  EXPECT_EQ(parse_query(q).error_rcode, rcode::kFormErr);
}

TEST(ParseQuery, UnknownOpcodeIsNotimp) {
  auto q = make_query("example.test.", rrtype::A);
  q[2] = static_cast<std::uint8_t>(15 << 3);
  auto p = parse_query(q);
  EXPECT_EQ(p.verdict, Verdict::kError);
  EXPECT_EQ(p.error_rcode, rcode::kNotImp);
  EXPECT_TRUE(p.query.has_question);
}

TEST(ParseQuery, TwoOptRecordsAreFormerr) {
  auto q = make_query("example.test.", rrtype::A, true);
  q[11] = 2;
  std::vector<std::uint8_t> opt{0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0};
  q.insert(q.end(), opt.begin(), opt.end());
  EXPECT_EQ(parse_query(q).error_rcode, rcode::kFormErr);
}

TEST(ParseQuery, MalformedOptionLengthIsFormerr) {
  auto q = make_query("example.test.", rrtype::A, true);
  q[q.size() - 1] = 4; // rdlength 4
  std::vector<std::uint8_t> opt{0xfd, 0xe9, 0, 9, 0xab, 0xcd}; // option claims 9 bytes
  q.resize(q.size() - 2);
  q.push_back(0);
  q.push_back(static_cast<std::uint8_t>(opt.size()));
  q.insert(q.end(), opt.begin(), opt.end());
  EXPECT_EQ(parse_query(q).error_rcode, rcode::kFormErr);
}

TEST(ResponseWriter, CompressesOwnerAgainstQuestion) {
  auto p = parse_query(make_query("mail.example.test.", rrtype::A));
  std::vector<std::uint8_t> buf(512);
  ResponseWriter w(buf, 512);
  w.start(p.query, rcode::kNoError, true);
  std::size_t after_question = w.size();
  ASSERT_TRUE(w.add(ResponseWriter::Section::kAnswer, *Name::parse("mail.example.test."),
                    rrtype::A, 300, std::vector<std::uint8_t>{192, 0, 2, 1}));
  // Pointer (2) + type, class, ttl, rdlength (10) + 4 bytes of address.
  EXPECT_EQ(w.size() - after_question, 16u);
  EXPECT_EQ(w.count(ResponseWriter::Section::kAnswer), 1);
}

TEST(ResponseWriter, RefusesRecordsPastTheLimitAndWritesNothing) {
  auto p = parse_query(make_query("example.test.", rrtype::TXT));
  std::vector<std::uint8_t> buf(65535);
  ResponseWriter w(buf, 100);
  w.start(p.query, rcode::kNoError, true);
  std::vector<std::uint8_t> big(200, 'x');
  std::size_t before = w.size();
  EXPECT_FALSE(w.add(ResponseWriter::Section::kAnswer, p.query.qname, rrtype::TXT, 1, big));
  EXPECT_EQ(w.size(), before);
  EXPECT_EQ(w.count(ResponseWriter::Section::kAnswer), 0);
}

} // namespace
} // namespace moat::dnsd
