// TLS reports (RFC 8460 §4) as senders write them: the RFC's own example read whole, and every
// way a report can be wrong refused with one message naming the field.
#include "core/tlsrpt_report.hpp"

#include <gtest/gtest.h>
#include <string>

namespace moat {
namespace {

// The example of RFC 8460 Appendix B, with the domain changed (shape and field names as there).
const std::string kExample = R"({
  "organization-name": "Company-X",
  "date-range": {
    "start-datetime": "2016-04-01T00:00:00Z",
    "end-datetime": "2016-04-01T23:59:59Z"
  },
  "contact-info": "sts-reporting@company-x.example",
  "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
  "policies": [{
    "policy": {
      "policy-type": "sts",
      "policy-string": ["version: STSv1", "mode: testing", "mx: *.mail.company-y.example",
                        "max_age: 86400"],
      "policy-domain": "company-y.example",
      "mx-host": ["*.mail.company-y.example"]
    },
    "summary": {
      "total-successful-session-count": 5326,
      "total-failure-session-count": 303
    },
    "failure-details": [{
      "result-type": "certificate-expired",
      "sending-mta-ip": "2001:db8:abcd:0012::1",
      "receiving-mx-hostname": "mx1.mail.company-y.example",
      "failed-session-count": 100
    }, {
      "result-type": "starttls-not-supported",
      "sending-mta-ip": "2001:db8:abcd:0013::1",
      "receiving-mx-hostname": "mx2.mail.company-y.example",
      "receiving-ip": "203.0.113.56",
      "failed-session-count": 200,
      "additional-information": "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported"
    }, {
      "result-type": "validation-failure",
      "sending-mta-ip": "198.51.100.62",
      "receiving-ip": "203.0.113.58",
      "receiving-mx-hostname": "mx-backup.mail.company-y.example",
      "failed-session-count": 3,
      "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"
    }]
  }]
})";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

TEST(TlsrptReport, TheRfcExampleIsReadWhole) {
  auto r = parse_tlsrpt_report(kExample);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->organization_name, "Company-X");
  EXPECT_EQ(r->report_id, "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
  EXPECT_EQ(r->start, 1459468800);
  EXPECT_EQ(r->end, 1459468800 + 86399);
  ASSERT_EQ(r->policies.size(), 1u);
  const TlsrptPolicy& p = r->policies[0];
  EXPECT_EQ(p.policy_type, "sts");
  EXPECT_EQ(p.policy_domain, "company-y.example");
  EXPECT_EQ(p.policy_strings.size(), 4u);
  EXPECT_EQ(p.mx_hosts, std::vector<std::string>{"*.mail.company-y.example"});
  EXPECT_EQ(p.successful_sessions, 5326u);
  EXPECT_EQ(p.failed_sessions, 303u);
  ASSERT_EQ(p.failures.size(), 3u);
  EXPECT_EQ(p.failures[0].result_type, "certificate-expired");
  EXPECT_EQ(p.failures[0].receiving_ip, "") << "optional in practice";
  EXPECT_EQ(p.failures[1].receiving_ip, "203.0.113.56");
  EXPECT_EQ(p.failures[1].failed_session_count, 200u);
  EXPECT_EQ(p.failures[2].failure_reason_code, "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED");
}

TEST(TlsrptReport, NoPolicyFoundAndTlsaAndUnknownMembersAreAccepted) {
  auto r = parse_tlsrpt_report(
      replaced(replaced(kExample, R"("policy-type": "sts")", R"("policy-type": "no-policy-found")"),
               R"("report-id")", R"("x-vendor-extension": {"a": [1, 2]}, "report-id")"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->policies[0].policy_type, "no-policy-found");
  auto tlsa = parse_tlsrpt_report(
      replaced(kExample, R"("policy-type": "sts")", R"("policy-type": "tlsa")"));
  ASSERT_TRUE(tlsa) << tlsa.error().message;
}

TEST(TlsrptReport, EveryWrongReportIsRefusedWithTheFieldNamed) {
  struct Case {
    std::string text;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"", "not JSON"},
      {"{\"organization-name\": ", "not JSON"},
      {"[1, 2]", "not a JSON object"},
      {replaced(kExample, R"("organization-name": "Company-X",)", ""),
       "\"organization-name\" is missing"},
      {replaced(kExample, R"("Company-X")", "42"), "\"organization-name\" is not a string"},
      {replaced(kExample, R"("2016-04-01T00:00:00Z")", R"("yesterday")"), "start-datetime"},
      {replaced(kExample, R"("2016-04-01T00:00:00Z")", R"("2016-04-02T00:00:00Z")"),
       "end is before the start"},
      {replaced(kExample, R"("policy-type": "sts")", R"("policy-type": "dane")"),
       "not sts, tlsa or no-policy-found"},
      {replaced(kExample, R"("policy-domain": "company-y.example",)", ""),
       "\"policy-domain\" is missing"},
      {replaced(kExample, "5326", "-1"), "total-successful-session-count"},
      {replaced(kExample, "5326", "1.5"), "total-successful-session-count"},
      {replaced(kExample, R"("total-failure-session-count": 303)",
                R"("total-failure-session-count": "303")"),
       "total-failure-session-count"},
      {replaced(kExample, R"("failed-session-count": 100)", R"("failed-sessions": 100)"),
       "failure-details[0]: \"failed-session-count\" is missing"},
      {replaced(kExample, R"("result-type": "certificate-expired",)", ""),
       "failure-details[0]: \"result-type\" is missing"},
      {replaced(kExample, R"("mx-host": ["*.mail.company-y.example"])", R"("mx-host": "*.mail")"),
       "\"mx-host\" is not an array"},
      {replaced(kExample, R"("policies": [{)", R"("policies": {"x": [{)") + "}",
       "\"policies\" is missing or not an array"},
      {replaced(kExample, "Company-X", std::string(kMaxTlsrptString + 1, 'x')), "longer than"},
      {std::string(10000, '[') + std::string(10000, ']'), "nests deeper"},
  };
  for (const Case& c : cases) {
    auto r = parse_tlsrpt_report(c.text);
    ASSERT_FALSE(r) << "accepted: " << c.text.substr(0, 200);
    EXPECT_NE(r.error().message.find(c.says), std::string::npos)
        << "said: " << r.error().message << "\nexpected it to say: " << c.says;
  }
}

TEST(TlsrptReport, TooManyFailureDetailsAreRefusedNotCut) {
  std::string details;
  for (std::size_t i = 0; i < kMaxTlsrptFailures; ++i) // and the example's three
    details += std::string(i ? "," : "") +
               R"({"result-type": "dnssec-invalid", "failed-session-count": 1})";
  auto r = parse_tlsrpt_report(
      replaced(kExample, R"("failure-details": [{)", "\"failure-details\": [" + details + ", {"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("failure details"), std::string::npos) << r.error().message;
}

TEST(Rfc3339, OffsetsFractionsAndWrongDates) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z").value(), 0);
  EXPECT_EQ(parse_rfc3339("2016-04-01T02:00:00+02:00").value(), 1459468800);
  EXPECT_EQ(parse_rfc3339("2016-03-31T19:30:00.123-04:30").value(), 1459468800);
  EXPECT_EQ(parse_rfc3339("2016-12-31T23:59:60Z").value(),
            parse_rfc3339("2016-12-31T23:59:59Z").value());
  for (const char* bad :
       {"2016-04-01", "2016-04-01T00:00:00", "2016-02-30T00:00:00Z", "2016-13-01T00:00:00Z",
        "2016-04-01T24:00:00Z", "2016-04-01T00:00:00.Z", "2016-04-01T00:00:00Zjunk",
        "2016-04-01T00:00:00+2:00", "x016-04-01T00:00:00Z"})
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
}

} // namespace
} // namespace moat
