// What moat-httpsd reads from the store and reports back, and its listen-address syntax.
#include "core/mta_sts.hpp"
#include "core/policy_state.hpp"
#include "core/store.hpp"
#include "httpsd/server.hpp"
#include "httpsd/sites.hpp"
#include "tests/support/temp_dir.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <stdexcept>
#include <unistd.h>

namespace moat::httpsd {
namespace {

constexpr UnixTime kT0 = 1'800'000'000;

Name name(std::string_view text) { return *Name::parse(text); }

class SitesTest : public testing::Test {
protected:
  void SetUp() override {
    auto s = Store::open(dir_.file("moat.db"), Store::Mode::kCreate);
    ASSERT_TRUE(s) << s.error().message;
    store_.emplace(std::move(*s));
    Domain d;
    d.name = name("example.test.");
    d.soa.mname = name("ns1.example.test.");
    d.soa.rname = name("hostmaster.example.test.");
    d.serial = 1;
    d.created = kT0;
    auto id = store_->insert_domain(d);
    ASSERT_TRUE(id) << id.error().message;
    d.id = *id;
    domain_ = d;
  }
  void TearDown() override { store_.reset(); }

  // A policy with one explicit pattern (no MX host needed) and, optionally, a certificate.
  void add_policy(bool with_certificate) {
    StsPolicyRecord p;
    p.domain_id = domain_.id;
    p.mx_patterns = {"mail.example.test"};
    ASSERT_TRUE(set_policy(*store_, domain_, p, kT0, "test"));
    if (with_certificate) {
      ASSERT_TRUE(store_->put_web_certificate(
          {domain_.id, "CHAIN PEM", "KEY PEM", kT0 + 90 * 86400, kT0}));
    }
  }

  std::uint32_t serial() { return (*store_->find_domain(domain_.name))->serial; }

  testing_support::TempDir dir_{"moat-sites"};
  std::optional<Store> store_;
  Domain domain_;
};

TEST_F(SitesTest, ServesADomainWithPolicyAndCertificateUnderItsMtaStsName) {
  add_policy(true);
  auto sites = read_sites(*store_);
  ASSERT_TRUE(sites) << sites.error().message;
  ASSERT_EQ(sites->sites.size(), 1u);
  const Site& s = sites->sites.at("mta-sts.example.test");
  EXPECT_EQ(s.host, "mta-sts.example.test");
  EXPECT_EQ(s.policy_text, "version: STSv1\r\nmode: testing\r\nmx: mail.example.test\r\n"
                           "max_age: 604800\r\n");
  EXPECT_EQ(s.fullchain_pem, "CHAIN PEM");
  EXPECT_TRUE(sites->skipped.empty());
}

TEST_F(SitesTest, SkipsADomainWithoutCertificateAndSaysWhy) {
  add_policy(false);
  auto sites = read_sites(*store_);
  ASSERT_TRUE(sites);
  EXPECT_TRUE(sites->sites.empty());
  ASSERT_EQ(sites->skipped.size(), 1u);
  EXPECT_NE(sites->skipped[0].find("no certificate"), std::string::npos) << sites->skipped[0];
}

TEST_F(SitesTest, ServesNothingForADomainWithoutPolicy) {
  auto sites = read_sites(*store_);
  ASSERT_TRUE(sites);
  EXPECT_TRUE(sites->sites.empty());
  EXPECT_TRUE(sites->skipped.empty());
}

TEST_F(SitesTest, AcknowledgingTheServedTextPublishesItsIdOnceAndOnlyOnce) {
  add_policy(true);
  auto sites = read_sites(*store_);
  ASSERT_TRUE(sites);
  const Site& s = sites->sites.at("mta-sts.example.test");
  const std::uint32_t before = serial();
  auto first = acknowledge_served(*store_, s, kT0 + 5);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(*first);
  EXPECT_NE(serial(), before) << "the _mta-sts record changes: a new serial";
  auto served = store_->sts_served(domain_.id);
  ASSERT_TRUE(served && *served);
  EXPECT_EQ((*served)->policy_id, policy_id(s.policy_text));
  EXPECT_EQ((*served)->since, kT0 + 5);

  const std::uint32_t after = serial();
  auto again = acknowledge_served(*store_, s, kT0 + 10);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(serial(), after) << "the same text again changes nothing";
  EXPECT_EQ((*store_->sts_served(domain_.id))->since, kT0 + 5);
}

TEST(ParseListenAddress, ReadsIpv4AndBracketedIpv6) {
  auto v4 = parse_listen_address("127.0.0.1:8443");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8443);
  auto v6 = parse_listen_address("[::1]:443");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_TRUE(v6->ipv6);
  EXPECT_EQ(v6->to_string(), "[::1]:443");
  EXPECT_EQ(v6->port, 443);
}

TEST(ParseListenAddress, RefusesWhatIsNotAnAddressAndPort) {
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                          "127.0.0.1:44x", "localhost:443", "::1:443", "[::1]443", "[::1]:"})
    EXPECT_FALSE(parse_listen_address(bad)) << bad;
}

} // namespace
} // namespace moat::httpsd
