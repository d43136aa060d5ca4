// Taking in SMTP TLS reports: attributed to the right domain, stored once, refused for the
// right reason with nothing stored, and added up per organisation and policy type.
#include "core/gzip.hpp"
#include "core/tlsrpt_intake.hpp"
#include "core/tlsrpt_summary.hpp"
#include "tests/support/temp_dir.hpp"

#include "tests/support/gzip_data.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace moat {
namespace {

constexpr UnixTime kNow = 1'795'000'000; // 2026-11-18

struct FailureSpec {
  std::string type, mx, ip;
  int count;
};

// A report of `org` about `policy_domain` for the day ending at `end`.
std::string report(const std::string& org, const std::string& id,
                   const std::string& policy_domain, int ok, int failed,
                   const std::vector<FailureSpec>& failures = {},
                   const std::string& type = "sts", const std::string& end = "2026-11-17") {
  nlohmann::json details = nlohmann::json::array();
  for (const auto& f : failures)
    details.push_back({{"result-type", f.type},
                       {"receiving-mx-hostname", f.mx},
                       {"receiving-ip", f.ip},
                       {"failed-session-count", f.count}});
  nlohmann::json j = {
      {"organization-name", org},
      {"date-range",
       {{"start-datetime", end + "T00:00:00Z"}, {"end-datetime", end + "T23:59:59Z"}}},
      {"contact-info", "tlsrpt@" + org},
      {"report-id", id},
      {"policies",
       {{{"policy", {{"policy-type", type}, {"policy-domain", policy_domain}}},
         {"summary",
          {{"total-successful-session-count", ok}, {"total-failure-session-count", failed}}},
         {"failure-details", details}}}}};
  return j.dump();
}

std::string gzip(const std::string& data) { return ::testing_support::gzip_data(data); }

class TlsrptIntakeTest : public testing::Test {
protected:
  void SetUp() override {
    auto s = Store::open(dir_.file("moat.db"), Store::Mode::kCreate);
    if (!s)
      throw std::runtime_error(s.error().message);
    store_.emplace(std::move(*s));
    example_ = add("example.test.");
    other_ = add("other.test.");
  }

  std::int64_t add(const std::string& apex) {
    Domain d;
    d.name = *Name::parse(apex);
    d.soa.mname = *d.name.prepend("ns1");
    d.soa.rname = *d.name.prepend("hostmaster");
    d.serial = 1;
    auto id = store_->insert_domain(d);
    if (!id)
      throw std::runtime_error(id.error().message);
    return *id;
  }

  std::expected<TlsrptIntake, TlsrptIntakeError> take(const std::string& body,
                                                      std::int64_t for_domain = 0,
                                                      std::int64_t max_per_day = 0,
                                                      UnixTime now = kNow,
                                                      std::int64_t max_octets = 0) {
    TlsrptSubmission s;
    s.body = body;
    s.for_domain = for_domain;
    s.source = "https 192.0.2.7";
    s.max_per_day = max_per_day;
    s.max_octets_per_day = max_octets;
    return take_tlsrpt_report(*store_, s, now);
  }

  std::size_t stored() { return store_->tlsrpt_reports(0, 0)->size(); }

  testing_support::TempDir dir_{"moat-tlsrpt-test"};
  std::optional<Store> store_;
  std::int64_t example_ = 0, other_ = 0;
};

TEST_F(TlsrptIntakeTest, StoresAReportOnceAndKeepsItAsReceived) {
  const std::string json = report("Reporter", "r1", "example.test", 10, 0);
  auto t = take(gzip(json));
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(t->stored);
  EXPECT_EQ(t->domain.id, example_);
  EXPECT_EQ(t->report.organization_name, "Reporter");
  auto again = take(json); // the same report, now as JSON: a retried POST
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->stored);
  auto rows = store_->tlsrpt_reports(example_, 0);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().json, json);
  EXPECT_EQ(rows->front().source, "https 192.0.2.7");
  EXPECT_EQ(rows->front().received, kNow);
  EXPECT_EQ(rows->front().report_id, "r1");
  // Another organisation may use the same report id.
  ASSERT_TRUE(take(report("Other Reporter", "r1", "example.test", 1, 0)));
  EXPECT_EQ(stored(), 2u);
}

TEST_F(TlsrptIntakeTest, AttributesNamesAtOrUnderADomain) {
  auto t = take(report("R", "mx", "MX1.Example.Test.", 1, 0, {}, "tlsa"));
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->domain.id, example_);
}

TEST_F(TlsrptIntakeTest, RefusesEachWayWithNothingStored) {
  ASSERT_TRUE(take(report("R", "keep", "example.test", 1, 0)));
  struct Case {
    std::string body;
    std::int64_t for_domain;
    TlsrptRefusal why;
    std::string message;
  };
  const std::vector<Case> cases = {
      {report("R", "a", "example.net", 1, 0), 0, TlsrptRefusal::kNotOurs,
       "the report is about example.net., not a domain served here"},
      {report("R", "b", "other.test", 1, 0), example_, TlsrptRefusal::kNotOurs,
       "the report is about other.test., not a domain served here"},
      {"{\"organization-name\": 1}", 0, TlsrptRefusal::kMalformed, ""},
      {gzip(std::string(kMaxTlsrptJson + 1, ' ')), 0, TlsrptRefusal::kTooLarge,
       "gzip data decompresses to more than 4194304 octets"},
      {std::string(kMaxTlsrptBody + 1, ' '), 0, TlsrptRefusal::kTooLarge,
       "the report is larger than 1048576 octets"},
      {gzip("{}").substr(0, 10), 0, TlsrptRefusal::kMalformed, "gzip data cut short"},
  };
  for (const auto& c : cases) {
    auto t = take(c.body, c.for_domain);
    ASSERT_FALSE(t) << c.message;
    EXPECT_EQ(t.error().why, c.why) << t.error().message;
    if (!c.message.empty())
      EXPECT_EQ(t.error().message, c.message);
  }
  EXPECT_EQ(stored(), 1u);
}

TEST_F(TlsrptIntakeTest, RefusesAReportAboutTwoDomains) {
  auto j = nlohmann::json::parse(report("R", "two", "example.test", 1, 0));
  auto second = j["policies"][0];
  second["policy"]["policy-domain"] = "other.test";
  j["policies"].push_back(second);
  auto t = take(j.dump());
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().why, TlsrptRefusal::kMalformed);
  EXPECT_EQ(t.error().message, "the report is about both example.test. and other.test.");
  EXPECT_EQ(stored(), 0u);
}

TEST_F(TlsrptIntakeTest, BoundsReportsPerDomainPerDay) {
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(take(report("R", "id" + std::to_string(i), "example.test", 1, 0), 0, 3));
  auto t = take(report("R", "id3", "example.test", 1, 0), 0, 3);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().why, TlsrptRefusal::kTooMany);
  EXPECT_EQ(t.error().message, "example.test. has received 3 reports in the last 24 hours");
  // Other domains have their own bound, and a day later there is room again.
  EXPECT_TRUE(take(report("R", "id3", "other.test", 1, 0), 0, 3));
  EXPECT_TRUE(take(report("R", "id3", "example.test", 1, 0), 0, 3, kNow + 86401));
}

TEST_F(TlsrptIntakeTest, BoundsReportOctetsPerDomainPerDay) {
  const std::string first = report("R", "o1", "example.test", 1, 0);
  const std::string second = report("R", "o2", "example.test", 1, 0);
  const auto bound = static_cast<std::int64_t>(first.size() + second.size());
  ASSERT_TRUE(take(first, 0, 0, kNow, bound));
  ASSERT_TRUE(take(second, 0, 0, kNow, bound)); // exactly at the bound
  auto t = take(report("R", "o3", "example.test", 1, 0), 0, 0, kNow, bound);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().why, TlsrptRefusal::kTooMany);
  EXPECT_EQ(t.error().message, "example.test. has received " + std::to_string(bound) +
                                   " octets of reports in the last 24 hours");
  EXPECT_EQ(stored(), 2u);
  EXPECT_TRUE(take(report("R", "o3", "example.test", 1, 0), 0, 0, kNow + 86401, bound));
}

TEST_F(TlsrptIntakeTest, SummaryAddsUpPerOrganisationAndPolicyType) {
  ASSERT_TRUE(take(report("Big Mail", "1", "example.test", 100, 7,
                          {{"validation-failure", "mx1.example.test", "192.0.2.1", 5},
                           {"starttls-not-supported", "mx2.example.test", "192.0.2.2", 2}})));
  ASSERT_TRUE(take(report("Big Mail", "2", "example.test", 50, 4,
                          {{"validation-failure", "mx1.example.test", "192.0.2.1", 4}}, "sts",
                          "2026-11-16")));
  ASSERT_TRUE(take(report("Big Mail", "3", "example.test", 9, 1,
                          {{"dane-required", "mx1.example.test", "192.0.2.1", 1}}, "tlsa")));
  ASSERT_TRUE(take(report("Small Mail", "1", "example.test", 3, 0)));
  ASSERT_TRUE(take(report("Big Mail", "old", "example.test", 1000, 1000, {}, "sts",
                          "2026-09-01")));
  ASSERT_TRUE(take(report("Big Mail", "4", "other.test", 1, 0)));

  const UnixTime since = kNow - 30 * 86400;
  auto rows = summarise_tlsrpt(*store_, example_, since);
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 3u);
  const auto& sts = (*rows)[0];
  EXPECT_EQ(sts.organization, "Big Mail");
  EXPECT_EQ(sts.policy_type, "sts");
  EXPECT_EQ(sts.reports, 2u);
  EXPECT_EQ(sts.successful, 150u);
  EXPECT_EQ(sts.failed, 11u);
  EXPECT_EQ(*parse_rfc3339("2026-11-16T00:00:00Z"), sts.first_start);
  EXPECT_EQ(*parse_rfc3339("2026-11-17T23:59:59Z"), sts.last_end);
  ASSERT_EQ(sts.failures.size(), 2u);
  EXPECT_EQ(sts.failures[0].result_type, "validation-failure");
  EXPECT_EQ(sts.failures[0].sessions, 9u);
  EXPECT_EQ(sts.failures[0].receiving_mx_hostname, "mx1.example.test");
  EXPECT_EQ(sts.failures[0].receiving_ip, "192.0.2.1");
  EXPECT_EQ(sts.failures[1].result_type, "starttls-not-supported");
  EXPECT_EQ(sts.failures[1].sessions, 2u);
  EXPECT_EQ((*rows)[1].policy_type, "tlsa");
  EXPECT_EQ((*rows)[1].failed, 1u);
  EXPECT_EQ((*rows)[2].organization, "Small Mail");
  EXPECT_EQ((*rows)[2].successful, 3u);

  auto all = summarise_tlsrpt(*store_, 0, 0);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].successful, 1150u); // the September report counts without --since
  EXPECT_EQ((*all)[3].domain, "other.test.");
}

TEST_F(TlsrptIntakeTest, SummaryCountsAReportWithOnePolicyPerMxOnce) {
  auto j = nlohmann::json::parse(report("Dane Mail", "1", "example.test", 10, 1, {}, "tlsa"));
  j["policies"].push_back(j["policies"][0]);
  ASSERT_TRUE(take(j.dump()));
  auto rows = summarise_tlsrpt(*store_, example_, 0);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().reports, 1u);
  EXPECT_EQ(rows->front().successful, 20u);
  EXPECT_EQ(rows->front().failed, 2u);
}

TEST_F(TlsrptIntakeTest, ReportsGoWithTheirDomain) {
  ASSERT_TRUE(take(report("R", "1", "other.test", 1, 0)));
  ASSERT_TRUE(store_->delete_domain(other_));
  EXPECT_EQ(stored(), 0u);
}

} // namespace
} // namespace moat
