#include "core/mta_sts.hpp"

#include <cstdint>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <string>
#include <string_view>
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

Name name(std::string_view text) {
  auto n = Name::parse(text);
  EXPECT_TRUE(n) << text << ": " << n.error().message;
  return n ? *n : Name();
}

StsPolicy policy(StsMode mode, std::uint32_t max_age, std::vector<std::string> mx) {
  StsPolicy p;
  p.mode = mode;
  p.max_age = max_age;
  p.mx = std::move(mx);
  return p;
}

// Hex of the first 16 octets of SHA-256, computed here through EVP rather than trusted.
std::string sha256_prefix_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr), 1);
  std::string hex;
  for (unsigned i = 0; i < 16 && i < len; ++i) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 0xf];
  }
  return hex;
}

std::string parse_refusal(std::string_view text) {
  auto p = parse_policy_text(text);
  EXPECT_FALSE(p) << "parse_policy_text accepted:\n" << text;
  return p ? std::string() : p.error().message;
}

TEST(StsMode, ParsesTheThreeModes) {
  EXPECT_EQ(sts_mode_from_string("enforce"), StsMode::kEnforce);
  EXPECT_EQ(sts_mode_from_string("testing"), StsMode::kTesting);
  EXPECT_EQ(sts_mode_from_string("none"), StsMode::kNone);
}

TEST(StsMode, RefusesOtherSpellings) {
  for (std::string_view text : {"", "Enforce", "ENFORCE", "enforcing", " none", "test"}) {
    auto mode = sts_mode_from_string(text);
    ASSERT_FALSE(mode) << "accepted '" << text << "'";
    EXPECT_TRUE(mentions(mode.error().message, "unknown MTA-STS mode"));
  }
}

TEST(StsMode, RoundTripsThroughToString) {
  for (auto mode : {StsMode::kEnforce, StsMode::kTesting, StsMode::kNone})
    EXPECT_EQ(sts_mode_from_string(to_string(mode)), mode);
}

TEST(MtaStsPolicyText, WritesExactBytesWithCrlf) {
  const auto text =
      policy_text(policy(StsMode::kEnforce, 86400, {"mail.example.test", "*.backup.example.test"}));
  EXPECT_EQ(text, "version: STSv1\r\n"
                  "mode: enforce\r\n"
                  "mx: mail.example.test\r\n"
                  "mx: *.backup.example.test\r\n"
                  "max_age: 86400\r\n");
}

TEST(MtaStsPolicyText, WritesNoMxLinesForModeNone) {
  EXPECT_EQ(policy_text(policy(StsMode::kNone, 0, {})),
            "version: STSv1\r\nmode: none\r\nmax_age: 0\r\n");
}

TEST(MtaStsPolicyId, IsFirstHalfOfSha256InLowerCaseHex) {
  // Known answers: SHA-256("") and SHA-256("abc") from FIPS 180-2.
  EXPECT_EQ(policy_id(""), "e3b0c44298fc1c149afbf4c8996fb924");
  EXPECT_EQ(policy_id("abc"), "ba7816bf8f01cfea414140de5dae2223");

  const auto text = policy_text(policy(StsMode::kTesting, 604800, {"mail.example.test"}));
  const auto id = policy_id(text);
  EXPECT_EQ(id, sha256_prefix_hex(text));
  ASSERT_EQ(id.size(), 32u);
  for (char c : id)
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << "id " << id;
}

TEST(MtaStsPolicyId, ChangesWhenTheTextChanges) {
  const auto a = policy_text(policy(StsMode::kTesting, 604800, {"mail.example.test"}));
  const auto b = policy_text(policy(StsMode::kEnforce, 604800, {"mail.example.test"}));
  const auto c = policy_text(policy(StsMode::kTesting, 604801, {"mail.example.test"}));
  EXPECT_NE(policy_id(a), policy_id(b));
  EXPECT_NE(policy_id(a), policy_id(c));
  EXPECT_NE(policy_id(b), policy_id(c));
  EXPECT_EQ(policy_id(a), policy_id(std::string(a)));
}

TEST(MtaStsMxPattern, AcceptsHostNamesAndLeftMostWildcard) {
  for (std::string_view p : {"mail.example.test", "*.example.test", "example.test",
                             "mx-1.example.test", "1mx.example.test", "*.mx.example.test"}) {
    auto ok = check_mx_pattern(p);
    EXPECT_TRUE(ok) << p << ": " << ok.error().message;
  }
}

TEST(MtaStsMxPattern, RefusesMalformedPatterns) {
  for (std::string_view p :
       {"", "mail.example.test.", "a.*.example.test", "*example.test", "*.test", "*",
        "*.*.example.test", "m*.example.test", "-a.example.test", "a-.example.test",
        "Mail.example.test", "MAIL.EXAMPLE.TEST", "a..b", ".example.test", "test",
        "mail_1.example.test", "mail example.test", "mail.example.test:25"}) {
    EXPECT_FALSE(check_mx_pattern(p)) << "accepted '" << p << "'";
  }
}

TEST(MtaStsMxPattern, LimitsLabelsTo63Octets) {
  const std::string label63(63, 'a');
  EXPECT_TRUE(check_mx_pattern(label63 + ".example.test"));
  auto too_long = check_mx_pattern(label63 + "a.example.test");
  ASSERT_FALSE(too_long);
  EXPECT_TRUE(mentions(too_long.error().message, "63"));
}

TEST(MtaStsMxPattern, LimitsNamesTo253Characters) {
  const std::string label(63, 'a');
  const std::string three = label + "." + label + "." + label + ".";
  ASSERT_EQ((three + std::string(61, 'b')).size(), 253u);
  EXPECT_TRUE(check_mx_pattern(three + std::string(61, 'b')));
  auto too_long = check_mx_pattern(three + std::string(62, 'b'));
  ASSERT_FALSE(too_long);
  EXPECT_TRUE(mentions(too_long.error().message, "253"));
}

TEST(MtaStsCheckPolicy, AcceptsMaxAgeUpToOneYear) {
  EXPECT_TRUE(check_policy(policy(StsMode::kEnforce, kMaxStsMaxAge, {"mail.example.test"})));
  EXPECT_TRUE(check_policy(policy(StsMode::kEnforce, 1, {"mail.example.test"})));
}

TEST(MtaStsCheckPolicy, RefusesMaxAgeOverOneYear) {
  auto ok = check_policy(policy(StsMode::kEnforce, kMaxStsMaxAge + 1, {"mail.example.test"}));
  ASSERT_FALSE(ok);
  EXPECT_TRUE(mentions(ok.error().message, "31557601"));
  EXPECT_FALSE(check_policy(policy(StsMode::kNone, 4000000000u, {})));
}

TEST(MtaStsCheckPolicy, AllowsMaxAgeZeroOnlyWithModeNone) {
  EXPECT_TRUE(check_policy(policy(StsMode::kNone, 0, {})));
  EXPECT_FALSE(check_policy(policy(StsMode::kTesting, 0, {"mail.example.test"})));
  EXPECT_FALSE(check_policy(policy(StsMode::kEnforce, 0, {"mail.example.test"})));
}

TEST(MtaStsCheckPolicy, RequiresAnMxForTestingAndEnforce) {
  EXPECT_FALSE(check_policy(policy(StsMode::kTesting, 86400, {})));
  EXPECT_FALSE(check_policy(policy(StsMode::kEnforce, 86400, {})));
  EXPECT_TRUE(check_policy(policy(StsMode::kNone, 86400, {})));
  EXPECT_TRUE(check_policy(policy(StsMode::kTesting, 86400, {"mail.example.test"})));
}

TEST(MtaStsCheckPolicy, RefusesBadMxPattern) {
  auto ok = check_policy(policy(StsMode::kEnforce, 86400, {"mail.example.test", "a.*.test"}));
  ASSERT_FALSE(ok);
  EXPECT_TRUE(mentions(ok.error().message, "a.*.test"));
}

TEST(MtaStsMxPatternMatches, MatchesExactHostIgnoringCaseAndTrailingDot) {
  EXPECT_TRUE(mx_pattern_matches("mail.example.test", name("mail.example.test.")));
  EXPECT_TRUE(mx_pattern_matches("mail.example.test", name("mail.example.test")));
  EXPECT_TRUE(mx_pattern_matches("mail.example.test", name("MAIL.Example.Test.")));
  EXPECT_FALSE(mx_pattern_matches("mail.example.test", name("mail2.example.test.")));
  EXPECT_FALSE(mx_pattern_matches("example.test", name("mail.example.test.")));
  EXPECT_FALSE(mx_pattern_matches("mail.example.test", name("example.test.")));
}

TEST(MtaStsMxPatternMatches, WildcardMatchesExactlyOneLeftMostLabel) {
  EXPECT_TRUE(mx_pattern_matches("*.example.test", name("mx1.example.test.")));
  EXPECT_TRUE(mx_pattern_matches("*.example.test", name("MX1.EXAMPLE.TEST.")));
  EXPECT_FALSE(mx_pattern_matches("*.example.test", name("example.test.")));
  EXPECT_FALSE(mx_pattern_matches("*.example.test", name("a.mx1.example.test.")));
  EXPECT_FALSE(mx_pattern_matches("*.example.test", name("mx1.other.test.")));
  EXPECT_FALSE(mx_pattern_matches("*.example.test", name("mx1.anexample.test.")));
  EXPECT_FALSE(mx_pattern_matches("*.example.test", name(".")));
}

TEST(MtaStsMxPatternMatches, WildcardDoesNotTreatEscapedDotAsLabelBoundary) {
  // "mx\.evil" is one label holding a dot: the host has three labels, the pattern needs four.
  EXPECT_FALSE(mx_pattern_matches("*.evil.example.test", name("mx\\.evil.example.test.")));
}

TEST(MtaStsParsePolicy, RoundTripsPolicyText) {
  const auto original =
      policy(StsMode::kEnforce, 1209600, {"mail.example.test", "*.backup.example.test"});
  auto parsed = parse_policy_text(policy_text(original));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->mode, original.mode);
  EXPECT_EQ(parsed->max_age, original.max_age);
  EXPECT_EQ(parsed->mx, original.mx);

  auto none = parse_policy_text(policy_text(policy(StsMode::kNone, 0, {})));
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none->mode, StsMode::kNone);
  EXPECT_EQ(none->max_age, 0u);
  EXPECT_TRUE(none->mx.empty());
}

TEST(MtaStsParsePolicy, AcceptsLfOnlyLineEndsAndSpacing) {
  auto parsed = parse_policy_text("version: STSv1\n"
                                  "mode:testing\n"
                                  "mx:   mail.example.test  \n"
                                  "max_age:\t86400");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->mode, StsMode::kTesting);
  EXPECT_EQ(parsed->max_age, 86400u);
  EXPECT_EQ(parsed->mx, std::vector<std::string>{"mail.example.test"});
}

TEST(MtaStsParsePolicy, IgnoresUnknownKeys) {
  auto parsed = parse_policy_text("version: STSv1\r\n"
                                  "mode: enforce\r\n"
                                  "x-comment: anything: at all\r\n"
                                  "mx: mail.example.test\r\n"
                                  "max_age: 86400\r\n"
                                  "future_key: 7\r\n");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->mode, StsMode::kEnforce);
  EXPECT_EQ(parsed->mx, std::vector<std::string>{"mail.example.test"});
}

TEST(MtaStsParsePolicy, RefusesMissingOrWrongVersionLine) {
  EXPECT_TRUE(
      mentions(parse_refusal("mode: enforce\r\nmx: mail.example.test\r\nmax_age: 86400\r\n"),
               "version: STSv1"));
  EXPECT_TRUE(mentions(parse_refusal("version: STSv2\r\nmode: enforce\r\nmx: mail.example.test\r\n"
                                     "max_age: 86400\r\n"),
                       "version: STSv1"));
  EXPECT_TRUE(mentions(parse_refusal("mode: enforce\r\nversion: STSv1\r\nmx: mail.example.test\r\n"
                                     "max_age: 86400\r\n"),
                       "version: STSv1"));
  EXPECT_FALSE(parse_policy_text(""));
  EXPECT_FALSE(parse_policy_text("\r\n\r\n"));
}

TEST(MtaStsParsePolicy, RefusesPolicyWithoutMode) {
  EXPECT_TRUE(mentions(
      parse_refusal("version: STSv1\r\nmx: mail.example.test\r\nmax_age: 86400\r\n"), "no mode"));
}

TEST(MtaStsParsePolicy, RefusesUnknownMode) {
  EXPECT_TRUE(mentions(parse_refusal("version: STSv1\r\nmode: strict\r\nmx: mail.example.test\r\n"
                                     "max_age: 86400\r\n"),
                       "strict"));
}

TEST(MtaStsParsePolicy, RefusesMissingOrBadMaxAge) {
  EXPECT_TRUE(mentions(
      parse_refusal("version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\n"), "no max_age"));
  for (std::string_view age :
       {"", "abc", "-1", "+5", "1.5", "12x", "31557601", "99999999999", "18446744073709551617"}) {
    const std::string text = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\n"
                             "max_age: " +
                             std::string(age) + "\r\n";
    EXPECT_TRUE(mentions(parse_refusal(text), "max_age")) << "max_age '" << age << "'";
  }
}

TEST(MtaStsParsePolicy, RefusesBadMx) {
  EXPECT_TRUE(mentions(parse_refusal("version: STSv1\r\nmode: enforce\r\nmx: a.*.example.test\r\n"
                                     "max_age: 86400\r\n"),
                       "a.*.example.test"));
  EXPECT_FALSE(parse_policy_text("version: STSv1\r\nmode: enforce\r\nmx: Mail.Example.Test.\r\n"
                                 "max_age: 86400\r\n"));
}

TEST(MtaStsParsePolicy, RefusesLineWithoutColon) {
  EXPECT_TRUE(
      mentions(parse_refusal("version: STSv1\r\nmode enforce\r\nmax_age: 86400\r\n"), "line 2"));
}

TEST(MtaStsParsePolicy, RefusesPolicyOver64KiB) {
  // Padded with an ignored extension key, so size is the only thing wrong with it.
  const std::string head = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\n"
                           "max_age: 86400\r\n";
  const std::string pad_line = "x-pad: " + std::string(90, 'p') + "\r\n";
  std::string text = head;
  while (text.size() + pad_line.size() <= 64 * 1024)
    text += pad_line;
  ASSERT_LE(text.size(), 64u * 1024);
  EXPECT_TRUE(parse_policy_text(text)) << "a policy just under the limit was refused";
  text += pad_line;
  ASSERT_GT(text.size(), 64u * 1024);
  EXPECT_TRUE(mentions(parse_refusal(text), "64 KiB"));
}

TEST(MtaStsParse, AppliesThePolicyRulesToWhatItReads) {
  // A policy that would pass the grammar but not RFC 8461: testing needs an mx, max_age 0
  // only with mode none.
  EXPECT_FALSE(parse_policy_text("version: STSv1\r\nmode: testing\r\nmax_age: 86400\r\n"));
  EXPECT_FALSE(parse_policy_text(
      "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 0\r\n"));
  EXPECT_TRUE(parse_policy_text("version: STSv1\r\nmode: none\r\nmax_age: 0\r\n"));
}

} // namespace
} // namespace moat
