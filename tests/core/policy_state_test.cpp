// The MTA-STS policy and TLSRPT state of a domain (core/policy_state.hpp) against a real
// temporary store: the policy text follows the MX hosts, the `_mta-sts` TXT id follows only what
// moat-httpsd reports serving (rule 2), a new MX waits for a served policy listing it (rule 3),
// and removal waits out the previous max_age (RFC 8461 §8.3). moat-dnsd's acknowledgements are
// simulated with Store::record_publication (tests/core/rotation_fixture.hpp); time is only ever
// the UnixTime passed in.
#include "core/mta_sts.hpp"
#include "core/policy_state.hpp"
#include "core/rotation.hpp"
#include "tests/core/rotation_fixture.hpp"

#include <cstddef>
#include <cstdint>
#include <gtest/gtest.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace moat {
namespace {

using namespace testing_rotation;

// A TXT RDATA of exactly one character-string.
std::vector<std::uint8_t> one_string(std::string_view text) {
  if (text.size() > 255)
    throw std::runtime_error("one_string: longer than 255 octets");
  const std::string wire = static_cast<char>(text.size()) + std::string(text);
  return {wire.begin(), wire.end()};
}

// The character-strings of a TXT RDATA; fails the test when the lengths do not add up.
std::vector<std::string> strings_of(const std::vector<std::uint8_t>& rdata) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < rdata.size()) {
    const std::size_t n = rdata[i++];
    if (i + n > rdata.size()) {
      ADD_FAILURE() << "character-string of " << n << " octets runs past the RDATA";
      return out;
    }
    out.emplace_back(rdata.begin() + static_cast<std::ptrdiff_t>(i),
                     rdata.begin() + static_cast<std::ptrdiff_t>(i + n));
    i += n;
  }
  return out;
}

Rr mta_sts_txt(std::string_view id) {
  return Rr{name("_mta-sts.example.test."), rrtype::TXT, kStsTxtTtl,
            one_string("v=STSv1; id=" + std::string(id))};
}

Rr tlsrpt_txt(std::string_view rua) {
  return Rr{name("_smtp._tls.example.test."), rrtype::TXT, kStsTxtTtl,
            one_string("v=TLSRPTv1; rua=" + std::string(rua))};
}

StsPolicyRecord wanted(std::string mode = "testing", std::uint32_t max_age = kDefaultStsMaxAge,
                       std::vector<std::string> patterns = {}) {
  StsPolicyRecord r;
  r.mode = std::move(mode);
  r.max_age = max_age;
  r.mx_patterns = std::move(patterns);
  return r;
}

std::string text_of(StsMode mode, std::uint32_t max_age, std::vector<std::string> mx) {
  StsPolicy p;
  p.mode = mode;
  p.max_age = max_age;
  p.mx = std::move(mx);
  return policy_text(p);
}

const PolicyWait* find_wait(const std::vector<PolicyWait>& waits, std::string_view what) {
  for (const auto& w : waits)
    if (w.what.find(what) != std::string::npos)
      return &w;
  return nullptr;
}

const PendingStep* find_step(const std::vector<PendingStep>& steps, std::string_view host,
                             std::string_view what) {
  for (const auto& s : steps)
    if (s.host == host && s.what.find(what) != std::string::npos)
      return &s;
  return nullptr;
}

class PolicyStateTest : public RotationFixture {
protected:
  Result<StsPolicyRecord> try_set(const StsPolicyRecord& w, UnixTime at) {
    return set_policy(store(), domain(), w, at, "test");
  }

  StsPolicyRecord set(const StsPolicyRecord& w, UnixTime at) {
    auto r = try_set(w, at);
    if (!r)
      throw std::runtime_error("set_policy: " + r.error().message);
    return *r;
  }

  // Expects set_policy to fail with a message mentioning `what` and to change nothing.
  void expect_refused(const StsPolicyRecord& w, UnixTime at, std::string_view what) {
    const std::string before = state_dump();
    auto r = try_set(w, at);
    ASSERT_FALSE(r) << "set_policy accepted mode " << w.mode << " max_age " << w.max_age;
    EXPECT_TRUE(mentions(r.error().message, what));
    EXPECT_EQ(state_dump(), before);
  }

  std::optional<StsPolicy> current() {
    auto p = current_policy(store(), domain());
    if (!p)
      throw std::runtime_error("current_policy: " + p.error().message);
    return *p;
  }

  // The text moat-httpsd would serve now.
  std::string text() {
    auto p = current();
    if (!p)
      throw std::runtime_error("no current policy");
    return policy_text(*p);
  }

  // What moat-httpsd reports once it serves `policy`.
  bool report(std::string_view policy, UnixTime at) {
    auto r = report_policy_served(store(), domain(), policy, at, "moat-httpsd");
    if (!r)
      throw std::runtime_error("report_policy_served: " + r.error().message);
    return *r;
  }

  std::optional<StsServed> served_row() {
    auto s = store().sts_served(domain_id_);
    if (!s)
      throw std::runtime_error("sts_served: " + s.error().message);
    return *s;
  }

  std::optional<StsPolicyRecord> policy_row() {
    auto p = store().sts_policy(domain_id_);
    if (!p)
      throw std::runtime_error("sts_policy: " + p.error().message);
    return *p;
  }

  std::vector<Rr> policy_rrs() {
    auto rrs = policy_records(store(), domain());
    if (!rrs)
      throw std::runtime_error("policy_records: " + rrs.error().message);
    return *rrs;
  }

  std::optional<Rr> mta_sts_record() {
    std::optional<Rr> found;
    for (const Rr& rr : policy_rrs())
      if (rr.owner == name("_mta-sts.example.test.")) {
        EXPECT_FALSE(found) << "two _mta-sts records";
        found = rr;
      }
    return found;
  }

  bool allows(std::string_view host, UnixTime at) {
    auto r = policy_allows_mx(store(), domain(), name(host), at);
    if (!r)
      throw std::runtime_error("policy_allows_mx: " + r.error().message);
    return *r;
  }

  std::vector<PolicyWait> waits(UnixTime at) {
    auto r = policy_waits(store(), domain(), at);
    if (!r)
      throw std::runtime_error("policy_waits: " + r.error().message);
    return *r;
  }

  Result<void> request_delete(UnixTime at) {
    return request_policy_delete(store(), domain(), at, "test");
  }

  std::string last_audit_action() {
    auto log = store().audit_log();
    if (!log || log->empty())
      throw std::runtime_error("no audit log");
    return log->back().action + ": " + log->back().detail;
  }

  // mx1 in the MX RRset with a live certificate; a testing policy for two days served by
  // moat-httpsd and its id published. Returns the time by which all of that has happened.
  UnixTime served_testing_policy(std::uint32_t max_age = 2 * kDay) {
    const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
    set(wanted("testing", max_age), t + 1);
    report(text(), t + 2);
    serve(t + 3);
    return t + 3;
  }
};

// Suites named after what they exercise, sharing one fixture.
using PolicyStateSet = PolicyStateTest;
using PolicyStateFollowsMx = PolicyStateTest;
using PolicyStateServed = PolicyStateTest;
using PolicyStateAllowsMx = PolicyStateTest;
using PolicyStateRemoval = PolicyStateTest;
using PolicyStateTlsrpt = PolicyStateTest;

// ---- set_policy ---------------------------------------------------------------------------------

TEST_F(PolicyStateSet, DefaultsToTestingForOneWeekWithOneSortedMxLinePerHostInEveryState) {
  UnixTime t = make_active("mx3.example.test.", new_cert({"mx3.example.test"}), kT0);
  t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), t);
  ASSERT_TRUE(
      remove_mx_host(store(), name("example.test."), name("mx3.example.test."), t + 1, "test"));
  add("MX2.Example.TEST.", t + 2);
  ASSERT_EQ(host_row("mx1.example.test.")->state, "active");
  ASSERT_EQ(host_row("mx2.example.test.")->state, "adding");
  ASSERT_EQ(host_row("mx3.example.test.")->state, "removing");
  const auto records_before = derived();

  const StsPolicyRecord rec = set(StsPolicyRecord{}, t + 3);
  EXPECT_EQ(rec.domain_id, domain_id_);
  EXPECT_EQ(rec.mode, "testing");
  EXPECT_EQ(rec.max_age, 604800u);
  EXPECT_TRUE(rec.mx_patterns.empty());
  EXPECT_FALSE(rec.delete_requested);
  EXPECT_EQ(rec.updated, t + 3);
  auto stored = policy_row();
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->mode, "testing");
  EXPECT_EQ(stored->max_age, 604800u);
  EXPECT_TRUE(stored->mx_patterns.empty());

  auto p = current();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->mode, StsMode::kTesting);
  EXPECT_EQ(p->max_age, kDefaultStsMaxAge);
  EXPECT_EQ(p->mx,
            (std::vector<std::string>{"mx1.example.test", "mx2.example.test", "mx3.example.test"}));
  EXPECT_EQ(text(), "version: STSv1\r\nmode: testing\r\nmx: mx1.example.test\r\n"
                    "mx: mx2.example.test\r\nmx: mx3.example.test\r\nmax_age: 604800\r\n");
  EXPECT_EQ(derived(), records_before) << "nothing is published before moat-httpsd serves it";
  EXPECT_TRUE(mentions(last_audit_action(), "policy set: example.test.: " + policy_id(text())));
}

TEST_F(PolicyStateSet, ExplicitPatternsAreLowerCasedLoseTheirTrailingDotAndIgnoreMxChanges) {
  add("mx1.example.test.", kT0);
  const StsPolicyRecord rec =
      set(wanted("testing", kDay, {"*.Example.TEST.", "MX1.example.test."}), kT0 + 1);
  const std::vector<std::string> expected{"*.example.test", "mx1.example.test"};
  EXPECT_EQ(rec.mx_patterns, expected);
  EXPECT_EQ(policy_row()->mx_patterns, expected);
  EXPECT_EQ(current()->mx, expected);
  EXPECT_EQ(text(), text_of(StsMode::kTesting, kDay, expected));

  add("mx2.example.test.", kT0 + 2);
  EXPECT_EQ(current()->mx, expected) << "given patterns do not follow the MX hosts";
}

TEST_F(PolicyStateSet, PatternsThatMissAnMxHostAreRefusedAndChangeNothing) {
  add("mx1.example.test.", kT0);
  add("mail.example.test.", kT0);
  set(wanted(), kT0 + 1); // the policy that must survive the refusals
  expect_refused(wanted("testing", kDefaultStsMaxAge, {"mx1.example.test"}), kT0 + 2,
                 "do not cover MX host mail.example.test.");
  expect_refused(wanted("testing", kDefaultStsMaxAge, {"*.mx1.example.test", "mail.example.test"}),
                 kT0 + 2, "mx1.example.test.");
  EXPECT_EQ(policy_row()->updated, kT0 + 1);
}

// Rule 3: senders may still hold the old MX RRset until the MX-less one has been out for its TTL,
// so the policy must keep listing the host until tick forgets it.
TEST_F(PolicyStateSet, PatternsMustStillCoverAHostWhoseMxIsBeingWithdrawn) {
  UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  t = make_active("mx2.example.test.", new_cert({"mx2.example.test"}), t);
  ASSERT_TRUE(
      remove_mx_host(store(), name("example.test."), name("mx2.example.test."), t + 1, "test"));
  const StsPolicyRecord only_mx1 = wanted("testing", kDefaultStsMaxAge, {"mx1.example.test"});
  expect_refused(only_mx1, t + 2, "mx2.example.test.");

  serve(t + 3);
  tick_at(t + 3 + kMxTtl);
  ASSERT_FALSE(host_row("mx2.example.test."));
  EXPECT_TRUE(try_set(only_mx1, t + 4 + kMxTtl));
}

TEST_F(PolicyStateSet, EnforceIsRefusedWhileAnMxHostHasNoLiveCertificate) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  add("mx2.example.test.", t + 1);
  expect_refused(wanted("enforce"), t + 2, "mx2.example.test. has no live certificate");
  // A staged certificate is not live yet.
  deploy(new_cert({"mx2.example.test"}), {"mx2.example.test."}, t + 3);
  expect_refused(wanted("enforce"), t + 4, "no live certificate");
}

TEST_F(PolicyStateSet, EnforceIsRefusedWhenTheLiveCertificateDoesNotCoverTheHost) {
  make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  // deploy_certificate would refuse such a certificate; an older database may still hold one.
  auto live = cert_in_state("mx1.example.test.", "live");
  ASSERT_TRUE(live);
  live->names = "mail.elsewhere.test *.test";
  ASSERT_TRUE(store().update_certificate(*live));
  expect_refused(wanted("enforce"), kT0 + kDay, "does not cover");
}

TEST_F(PolicyStateSet, TestingOrEnforceWithoutAnyMxIsRefused) {
  expect_refused(wanted("testing"), kT0, "needs at least one mx");
  expect_refused(wanted("testing"), kT0, "moat mx add");
  expect_refused(wanted("enforce"), kT0, "needs at least one mx");
  // Mode none lists nothing and is fine.
  set(wanted("none"), kT0 + 1);
  EXPECT_TRUE(current()->mx.empty());
}

TEST_F(PolicyStateSet, MaxAgeAboveOneYearIsRefused) {
  add("mx1.example.test.", kT0);
  expect_refused(wanted("testing", kMaxStsMaxAge + 1), kT0 + 1, "max_age 31557601");
  EXPECT_TRUE(try_set(wanted("testing", kMaxStsMaxAge), kT0 + 2));
  EXPECT_EQ(current()->max_age, 31557600u);
}

TEST_F(PolicyStateSet, MaxAgeZeroIsRefusedExceptWithModeNone) {
  add("mx1.example.test.", kT0);
  expect_refused(wanted("testing", 0), kT0 + 1, "max_age 0");
  expect_refused(wanted("enforce", 0), kT0 + 1, "max_age 0");
  EXPECT_TRUE(try_set(wanted("none", 0), kT0 + 2));
}

TEST_F(PolicyStateSet, UnknownModeAndMalformedPatternsAreRefused) {
  add("mx1.example.test.", kT0);
  expect_refused(wanted("strict"), kT0 + 1, "unknown MTA-STS mode");
  expect_refused(wanted("testing", kDefaultStsMaxAge, {"mx_1.example.test"}), kT0 + 1,
                 "bad mx pattern");
  expect_refused(wanted("testing", kDefaultStsMaxAge, {"mx1.*.test"}), kT0 + 1, "wildcard");
  expect_refused(wanted("testing", kDefaultStsMaxAge, {"."}), kT0 + 1, "bad mx pattern");
}

TEST_F(PolicyStateSet, EnforceIsAcceptedOnceEveryHostHasALiveCoveringCertificate) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  add("mx2.example.test.", t + 1);
  serve(t + 1);
  expect_refused(wanted("enforce"), t + 2, "mx2.example.test.");

  // A wildcard covers the host as well as its own name would.
  deploy(new_cert({"*.example.test"}), {"mx2.example.test."}, t + 3);
  serve(t + 3);
  tick_at(t + 3 + kTlsaWait);
  ASSERT_TRUE(cert_in_state("mx2.example.test.", "live"));
  auto rec = try_set(wanted("enforce"), t + 4 + kTlsaWait);
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->mode, "enforce");
  EXPECT_EQ(current()->mode, StsMode::kEnforce);
}

// ---- the policy follows the MX hosts ------------------------------------------------------------

TEST_F(PolicyStateFollowsMx, WithoutAPolicyThereIsNothingToServeOrPublish) {
  add("mx1.example.test.", kT0);
  EXPECT_FALSE(current());
  EXPECT_TRUE(policy_rrs().empty());
  EXPECT_TRUE(waits(kT0).empty());
}

TEST_F(PolicyStateFollowsMx, MxAddAddsALineAndChangesTheId) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  set(wanted(), t + 1);
  const std::string before = text();
  EXPECT_EQ(before, text_of(StsMode::kTesting, kDefaultStsMaxAge, {"mx1.example.test"}));

  add("mx2.example.test.", t + 2);
  EXPECT_EQ(text(), text_of(StsMode::kTesting, kDefaultStsMaxAge,
                            {"mx1.example.test", "mx2.example.test"}));
  EXPECT_NE(policy_id(text()), policy_id(before));
}

TEST_F(PolicyStateFollowsMx, HostLeavesThePolicyOnlyWhenTickHasFinishedItsRemoval) {
  UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  t = make_active("mx2.example.test.", new_cert({"mx2.example.test"}), t);
  set(wanted(), t + 1);
  const std::string both =
      text_of(StsMode::kTesting, kDefaultStsMaxAge, {"mx1.example.test", "mx2.example.test"});
  EXPECT_EQ(text(), both);

  ASSERT_TRUE(
      remove_mx_host(store(), name("example.test."), name("mx2.example.test."), t + 2, "test"));
  EXPECT_EQ(text(), both) << "a host whose MX is being withdrawn stays listed";
  serve(t + 3);
  tick_at(t + 3 + kMxTtl - 1);
  EXPECT_EQ(text(), both);

  tick_at(t + 3 + kMxTtl);
  ASSERT_FALSE(host_row("mx2.example.test."));
  EXPECT_EQ(text(), text_of(StsMode::kTesting, kDefaultStsMaxAge, {"mx1.example.test"}));
}

// ---- Rule 2: the _mta-sts id follows what moat-httpsd serves -----------------------------------

TEST_F(PolicyStateServed, MtaStsRecordIsAbsentUntilThePolicyIsServed) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  const auto records_before = derived();
  set(wanted(), t + 1);
  EXPECT_FALSE(mta_sts_record());
  EXPECT_EQ(count_type(derived(), rrtype::TXT), 0u);
  EXPECT_EQ(derived(), records_before);
  const std::uint32_t serial_before = serial();

  const std::string served = text();
  EXPECT_TRUE(report(served, t + 2));
  auto rr = mta_sts_record();
  ASSERT_TRUE(rr);
  EXPECT_EQ(*rr, mta_sts_txt(policy_id(served)));
  EXPECT_EQ(rr->rdata.size(), 1u + 12u + 32u) << "one character-string: v=STSv1; id= + 32";
  EXPECT_TRUE(contains(derived(), *rr));
  EXPECT_NE(serial(), serial_before) << "the new record needs a new serial";

  auto row = served_row();
  ASSERT_TRUE(row);
  EXPECT_EQ(row->policy_text, served);
  EXPECT_EQ(row->policy_id, policy_id(served));
  EXPECT_EQ(row->since, t + 2);
  EXPECT_EQ(row->wait_serial, serial());
  EXPECT_EQ(row->none_until, t + 2) << "nothing served before: no cached policy to outlive";
}

TEST_F(PolicyStateServed, TheIdIsThatOfTheTextServedNotOfTheSettings) {
  add("mx1.example.test.", kT0);
  set(wanted(), kT0 + 1);
  // moat-httpsd may still serve an older text; the record names what it serves.
  const std::string older = text_of(StsMode::kTesting, kDay, {"*.example.test"});
  ASSERT_NE(older, text());
  EXPECT_TRUE(report(older, kT0 + 2));
  EXPECT_EQ(*mta_sts_record(), mta_sts_txt(policy_id(older)));
}

TEST_F(PolicyStateServed, ChangedPolicyKeepsTheOldIdUntilTheNewTextIsServed) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  set(wanted(), t + 1);
  const std::string old_text = text();
  ASSERT_TRUE(report(old_text, t + 2));
  const auto served_records = derived();

  set(wanted("enforce"), t + 3);
  ASSERT_NE(text(), old_text);
  EXPECT_EQ(*mta_sts_record(), mta_sts_txt(policy_id(old_text)));
  EXPECT_EQ(derived(), served_records) << "a policy change alone publishes nothing";

  add("mx2.example.test.", t + 4); // changes the text again (and the zone, for its records)
  EXPECT_EQ(*mta_sts_record(), mta_sts_txt(policy_id(old_text)));

  const std::uint32_t before_report = serial();
  const std::string new_text = text();
  EXPECT_TRUE(report(new_text, t + 5));
  EXPECT_EQ(*mta_sts_record(), mta_sts_txt(policy_id(new_text)));
  EXPECT_NE(serial(), before_report) << "the changed id needs a new serial";
  EXPECT_EQ(served_row()->wait_serial, serial());
}

TEST_F(PolicyStateServed, ReportingTheSameTextAgainChangesNothing) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  set(wanted(), t + 1);
  ASSERT_TRUE(report(text(), t + 2));
  const std::string before = state_dump();
  const std::uint32_t serial_before = serial();

  EXPECT_FALSE(report(text(), t + 100));
  EXPECT_EQ(serial(), serial_before);
  EXPECT_EQ(served_row()->since, t + 2) << "since is the first time the text was served";
  EXPECT_EQ(state_dump(), before);
}

TEST_F(PolicyStateServed, ReportOfAnInvalidPolicyIsRefusedAndChangesNothing) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  set(wanted(), t + 1);
  ASSERT_TRUE(report(text(), t + 2));
  const std::string before = state_dump();
  for (std::string_view bad : {std::string_view(""), std::string_view("mode: testing\r\n"),
                               std::string_view("version: STSv1\r\nmode: strict\r\n"
                                                "mx: mx1.example.test\r\nmax_age: 86400\r\n")}) {
    auto r = report_policy_served(store(), domain(), bad, t + 3, "moat-httpsd");
    ASSERT_FALSE(r) << "accepted '" << bad << "'";
    EXPECT_TRUE(mentions(r.error().message, "invalid policy"));
  }
  EXPECT_EQ(state_dump(), before);
}

// ---- Rule 3, the policy side: a new MX waits for a served policy listing it --------------------

TEST_F(PolicyStateAllowsMx, AnyHostIsAllowedWithoutAPolicy) {
  EXPECT_TRUE(allows("mx9.example.test.", kT0));
}

TEST_F(PolicyStateAllowsMx, NoHostIsAllowedWhileNoPolicyIsServed) {
  add("mx1.example.test.", kT0);
  set(wanted(), kT0 + 1);
  serve(kT0 + 2);
  EXPECT_FALSE(allows("mx1.example.test.", kT0 + 30 * kDay));
}

TEST_F(PolicyStateAllowsMx, AHostTheServedPolicyDoesNotListIsRefused) {
  const UnixTime t = served_testing_policy();
  EXPECT_TRUE(allows("mx1.example.test.", t + kStsTxtTtl));
  EXPECT_FALSE(allows("mx2.example.test.", t + kStsTxtTtl));
  // The current policy lists it once it is added, but only the served one counts.
  add("mx2.example.test.", t + 10);
  ASSERT_EQ(current()->mx.size(), 2u);
  serve(t + 11);
  EXPECT_FALSE(allows("mx2.example.test.", t + 11 + kDay));
}

TEST_F(PolicyStateAllowsMx, ServedIdMustBePublishedForTheTxtTtl) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  set(wanted(), t + 1);
  ASSERT_TRUE(report(text(), t + 2));
  EXPECT_FALSE(allows("mx1.example.test.", t + 30 * kDay)) << "its serial was never served";

  const UnixTime since = t + 30 * kDay + 7;
  serve(since);
  EXPECT_FALSE(allows("mx1.example.test.", since + kStsTxtTtl - 1));
  EXPECT_TRUE(allows("mx1.example.test.", since + kStsTxtTtl));
}

TEST_F(PolicyStateAllowsMx, ServedWildcardAllowsTheHostsItMatches) {
  add("mx1.example.test.", kT0);
  set(wanted("testing", kDefaultStsMaxAge, {"*.example.test"}), kT0 + 1);
  ASSERT_TRUE(report(text(), kT0 + 2));
  serve(kT0 + 3);
  EXPECT_TRUE(allows("new.example.test.", kT0 + 3 + kStsTxtTtl));
  EXPECT_FALSE(allows("a.b.example.test.", kT0 + 3 + kStsTxtTtl));
}

TEST_F(PolicyStateAllowsMx, TickPublishesANewMxOnlyOnceAPolicyListingItIsServedAndPublished) {
  const UnixTime t = served_testing_policy(); // lists mx1 only
  add("mx2.example.test.", t + 10);
  serve(t + 10);
  deploy(new_cert({"mx2.example.test"}), {}, t + 11);
  serve(t + 11);
  const UnixTime ready = t + 11 + kTlsaWait;
  EXPECT_TRUE(any_mentions(tick_at(ready), "is live on mx2.example.test."));
  EXPECT_EQ(host_row("mx2.example.test.")->state, "adding");
  EXPECT_FALSE(contains(derived(), mx("example.test.", 10, "mx2.example.test.")));
  const auto steps = pending(ready);
  const PendingStep* step = find_step(steps, "mx2.example.test.", "MX record published");
  ASSERT_NE(step, nullptr);
  EXPECT_TRUE(mentions(step->waits_for, "MTA-STS policy listing it"));

  // Its TLSA and certificate have long been ready; the policy has not.
  EXPECT_TRUE(tick_at(ready + 20 * kDay).empty());
  EXPECT_EQ(host_row("mx2.example.test.")->state, "adding");

  const UnixTime served_at = ready + 20 * kDay + 10;
  ASSERT_TRUE(report(text(), served_at));
  EXPECT_TRUE(tick_at(served_at + kDay).empty()) << "its id is not published yet";
  const UnixTime published = served_at + kDay + 5;
  serve(published);
  EXPECT_TRUE(tick_at(published + kStsTxtTtl - 1).empty());
  EXPECT_EQ(host_row("mx2.example.test.")->state, "adding");

  EXPECT_TRUE(any_mentions(tick_at(published + kStsTxtTtl), "MX mx2.example.test. is published"));
  EXPECT_EQ(host_row("mx2.example.test.")->state, "active");
  EXPECT_TRUE(contains(derived(), mx("example.test.", 10, "mx2.example.test.")));
}

// ---- Removal: mode none first, then wait out the previous max_age (RFC 8461 §8.3) -------------

TEST_F(PolicyStateRemoval, DeleteIsRefusedWithoutAPolicyOrOutsideModeNone) {
  auto none = request_delete(kT0);
  ASSERT_FALSE(none);
  EXPECT_TRUE(mentions(none.error().message, "has no MTA-STS policy"));

  add("mx1.example.test.", kT0);
  set(wanted(), kT0 + 1);
  const std::string before = state_dump();
  auto testing = request_delete(kT0 + 2);
  ASSERT_FALSE(testing);
  EXPECT_TRUE(mentions(testing.error().message, "mode none"));
  EXPECT_TRUE(mentions(testing.error().message, "RFC 8461 §8.3"));
  EXPECT_EQ(state_dump(), before);
  EXPECT_FALSE(policy_row()->delete_requested);
}

TEST_F(PolicyStateRemoval, TickRemovesThePolicyAndItsRecordExactlyAtNoneUntil) {
  const UnixTime t = served_testing_policy(2 * kDay);
  set(wanted("none", kDay), t + 10);
  ASSERT_TRUE(request_delete(t + 11));
  EXPECT_TRUE(policy_row()->delete_requested);

  // moat-httpsd still serves the testing policy: nothing goes, however long we wait.
  EXPECT_TRUE(tick_at(t + 30 * kDay).empty());
  ASSERT_TRUE(policy_row());
  ASSERT_TRUE(mta_sts_record());

  const UnixTime none_at = t + 30 * kDay + 100;
  const std::string none_text = text();
  EXPECT_EQ(none_text, text_of(StsMode::kNone, kDay, {"mx1.example.test"}));
  ASSERT_TRUE(report(none_text, none_at));
  const UnixTime none_until = none_at + 2 * kDay; // the testing policy's max_age
  EXPECT_EQ(served_row()->none_until, none_until);
  EXPECT_EQ(*mta_sts_record(), mta_sts_txt(policy_id(none_text)));
  serve(none_at + 5);

  EXPECT_TRUE(tick_at(none_until - 1).empty());
  ASSERT_TRUE(policy_row());
  ASSERT_TRUE(mta_sts_record());

  const std::uint32_t before = serial();
  auto done = tick_at(none_until);
  EXPECT_TRUE(
      any_mentions(done, "MTA-STS policy and _mta-sts record of example.test. are removed"));
  EXPECT_FALSE(policy_row());
  EXPECT_FALSE(served_row());
  EXPECT_FALSE(mta_sts_record());
  EXPECT_FALSE(current());
  EXPECT_NE(serial(), before) << "withdrawing the record needs a new serial";
  EXPECT_TRUE(mentions(last_audit_action(), "MTA-STS policy of example.test. removed"));
  EXPECT_TRUE(allows("mx9.example.test.", none_until)) << "no policy, no constraint";
  EXPECT_TRUE(tick_at(none_until + kDay).empty());
}

TEST_F(PolicyStateRemoval, TickPoliciesAloneFinishesTheRemovalAtNoneUntil) {
  const UnixTime t = served_testing_policy(3 * kDay);
  set(wanted("none", 600), t + 10);
  const UnixTime none_at = t + 20;
  ASSERT_TRUE(report(text(), none_at));
  serve(none_at + 1);
  ASSERT_TRUE(request_delete(none_at + 2));
  const UnixTime none_until = none_at + 3 * kDay;
  EXPECT_EQ(served_row()->none_until, none_until);

  auto early = tick_policies(store(), none_until - 1, "test");
  ASSERT_TRUE(early) << early.error().message;
  EXPECT_TRUE(early->empty());
  ASSERT_TRUE(policy_row());

  auto done = tick_policies(store(), none_until, "test");
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_EQ(done->size(), 1u);
  EXPECT_TRUE(mentions(done->front(), "example.test."));
  EXPECT_FALSE(policy_row());
  EXPECT_FALSE(mta_sts_record());
}

TEST_F(PolicyStateRemoval, APolicyThatWasNeverServedGoesAtOnce) {
  // No sender can hold it and no _mta-sts record names it: nothing to wait for.
  set(wanted("none", kDay), kT0);
  ASSERT_TRUE(request_delete(kT0 + 1));
  EXPECT_TRUE(any_mentions(tick_at(kT0 + 2), "are removed"));
  EXPECT_FALSE(policy_row());
  EXPECT_FALSE(mta_sts_record());
}

TEST_F(PolicyStateRemoval, APolicyThatWasOnlyEverNoneGoesAsSoonAsItIsServed) {
  set(wanted("none", kDay), kT0);
  const UnixTime at = kT0 + 30 * kDay + 1;
  ASSERT_TRUE(report(text(), at));
  EXPECT_EQ(served_row()->none_until, at);
  ASSERT_TRUE(request_delete(at));
  EXPECT_TRUE(any_mentions(tick_at(at), "are removed"));
  EXPECT_FALSE(policy_row());
}

TEST_F(PolicyStateRemoval, RemovalWaitsForTheLongestMaxAgeEverServedNotOnlyTheLast) {
  // enforce for a year, then testing for a day, then none: senders that fetched the year-long
  // policy may hold it for a year after it was replaced (RFC 8461 §8.3).
  const UnixTime t = served_testing_policy(365 * kDay);
  set(wanted("testing", kDay), t + 10);
  ASSERT_TRUE(report(text(), t + 10));
  set(wanted("none", kDay), t + 20);
  ASSERT_TRUE(report(text(), t + 20));
  ASSERT_TRUE(request_delete(t + 21));
  EXPECT_EQ(served_row()->none_until, t + 10 + 365 * kDay);
  EXPECT_TRUE(tick_at(t + 20 + 2 * kDay).empty()) << "the day-long policy has expired, not the year";
  EXPECT_TRUE(policy_row());
  EXPECT_TRUE(any_mentions(tick_at(t + 10 + 365 * kDay), "are removed"));
}

TEST_F(PolicyStateRemoval, SettingThePolicyAgainCancelsTheRemoval) {
  const UnixTime t = served_testing_policy(kDay);
  set(wanted("none", kDay), t + 1);
  ASSERT_TRUE(report(text(), t + 2));
  ASSERT_TRUE(request_delete(t + 3));
  set(wanted("none", 2 * kDay), t + 4);
  EXPECT_FALSE(policy_row()->delete_requested);
  EXPECT_TRUE(tick_at(t + 30 * kDay).empty());
  EXPECT_TRUE(policy_row());
  EXPECT_TRUE(mta_sts_record());
}

// moat-httpsd reads its sites, tick removes the policy, then moat-httpsd reports what it read:
// the report must not bring back a served policy that a later policy's record would then name.
TEST_F(PolicyStateRemoval, LateReportAfterTheRemovalIsIgnored) {
  set(wanted("none", kDay), kT0);
  const std::string none_text = text();
  ASSERT_TRUE(report(none_text, kT0 + 1));
  ASSERT_TRUE(request_delete(kT0 + 2));
  ASSERT_TRUE(any_mentions(tick_at(kT0 + 3), "are removed"));
  const std::string removed = state_dump();

  auto late = report_policy_served(store(), domain(), none_text, kT0 + 4, "moat-httpsd");
  ASSERT_TRUE(late) << late.error().message;
  EXPECT_FALSE(*late);
  EXPECT_EQ(state_dump(), removed);

  add("mx1.example.test.", kT0 + 5);
  set(wanted(), kT0 + 6);
  EXPECT_FALSE(mta_sts_record()) << "the new policy has not been served yet";
}

TEST_F(PolicyStateRemoval, WaitsDescribeEveryStepUntilTheRemoval) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  set(wanted("testing", 2 * kDay), t + 1);
  const std::string id = policy_id(text());
  auto w = waits(t + 1);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].what, "MTA-STS policy id " + id + " served");
  EXPECT_TRUE(mentions(w[0].waits_for, "moat-httpsd"));
  EXPECT_FALSE(w[0].not_before);

  ASSERT_TRUE(report(text(), t + 2));
  w = waits(t + 2);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].what, "_mta-sts id " + id + " published");
  EXPECT_TRUE(mentions(w[0].waits_for, "moat-dnsd to serve serial " + std::to_string(serial())));

  serve(t + 3);
  EXPECT_TRUE(waits(t + 3).empty());
  EXPECT_TRUE(pending(t + 3).empty());

  set(wanted("none", kDay), t + 4);
  ASSERT_TRUE(request_delete(t + 5));
  w = waits(t + 5);
  EXPECT_TRUE(find_wait(w, "MTA-STS policy id " + policy_id(text()) + " served"));
  const UnixTime none_at = t + 6;
  ASSERT_TRUE(report(text(), none_at));
  serve(none_at + 1);
  w = waits(none_at + 1);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].what, "MTA-STS policy removed");
  EXPECT_TRUE(mentions(w[0].waits_for, "max_age"));
  EXPECT_EQ(w[0].not_before, none_at + 2 * kDay);

  const auto steps = pending(none_at + 1);
  const PendingStep* step = find_step(steps, "mta-sts.example.test.", "MTA-STS policy removed");
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(step->domain, "example.test.");
  EXPECT_EQ(step->not_before, none_at + 2 * kDay);
}

TEST_F(PolicyStateRemoval, WaitsNameAnInvalidPolicyWhenItsLastHostIsGone) {
  add("mx1.example.test.", kT0);
  set(wanted(), kT0 + 1);
  ASSERT_TRUE(
      remove_mx_host(store(), name("example.test."), name("mx1.example.test."), kT0 + 2, "test"));
  const auto w_all = waits(kT0 + 2);
  const PolicyWait* w = find_wait(w_all, "MTA-STS policy served");
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(mentions(w->waits_for, "needs at least one mx"));
}

// ---- TLSRPT (RFC 8460) and the TXT wire form ----------------------------------------------------

TEST_F(PolicyStateTlsrpt, CheckAcceptsMailtoAndHttpsLists) {
  const std::string at_limit = "mailto:" + std::string(200 - 7 - 12, 'a') + "@example.net";
  ASSERT_EQ(at_limit.size(), 200u);
  for (const std::string& rua :
       {std::string("mailto:tlsrpt@example.net"), std::string("https://reports.example.net/v1"),
        std::string("mailto:tlsrpt@example.net,https://reports.example.net/tlsrpt"), at_limit}) {
    auto r = check_tlsrpt_rua(rua);
    EXPECT_TRUE(r) << rua << ": " << r.error().message;
  }
}

TEST_F(PolicyStateTlsrpt, CheckRefusesOtherSchemesBlanksSemicolonsAndBadAddresses) {
  const struct {
    std::string rua;
    std::string why;
  } cases[] = {
      {"ftp://reports.example.net/tlsrpt", "mailto: or https:"},
      {"MAILTO:tlsrpt@example.net", "mailto: or https:"},
      {"mailto:tlsrpt@example.net,", "mailto: or https:"},
      {"mailto:tlsrpt@example.net, https://reports.example.net/", "blanks"},
      {" mailto:tlsrpt@example.net", "blanks"},
      {"mailto:tls rpt@example.net", "blanks"},
      {"mailto:tlsrpt@example.net;https://reports.example.net/", "';'"},
      {"mailto:tlsrpt@ex\xc3\xa4mple.net", "non-ASCII"},
      {"", "empty"},
      {"mailto:tlsrpt.example.net", "needs an address"},
      {"mailto:@example.net", "needs an address"},
      {"mailto:tlsrpt@", "needs an address"},
      {"https://", "needs a host"},
      {"https:///tlsrpt", "needs a host"},
      {"mailto:" + std::string(201 - 7 - 12, 'a') + "@example.net", "longer than 200"},
  };
  for (const auto& c : cases) {
    auto r = check_tlsrpt_rua(c.rua);
    ASSERT_FALSE(r) << "accepted '" << c.rua << "'";
    EXPECT_TRUE(mentions(r.error().message, c.why));
  }
}

TEST_F(PolicyStateTlsrpt, RecordIsPublishedWhileARuaIsSet) {
  EXPECT_TRUE(policy_rrs().empty());
  ASSERT_TRUE(store().put_tlsrpt_rua(domain_id_, "mailto:tlsrpt@example.net"));
  const Rr expected = tlsrpt_txt("mailto:tlsrpt@example.net");
  EXPECT_EQ(policy_rrs(), std::vector<Rr>{expected}) << "with no MTA-STS policy too";
  EXPECT_TRUE(contains(derived(), expected));

  // Beside a served _mta-sts record.
  add("mx1.example.test.", kT0);
  set(wanted(), kT0 + 1);
  ASSERT_TRUE(report(text(), kT0 + 2));
  auto rrs = policy_rrs();
  EXPECT_EQ(rrs.size(), 2u);
  EXPECT_TRUE(contains(rrs, expected));
  EXPECT_TRUE(contains(rrs, mta_sts_txt(policy_id(text()))));

  ASSERT_TRUE(store().delete_tlsrpt(domain_id_));
  EXPECT_FALSE(contains(policy_rrs(), expected));
}

TEST_F(PolicyStateTlsrpt, TxtLongerThan255OctetsIsSplitIntoCharacterStrings) {
  const std::string prefix = "v=TLSRPTv1; rua=";
  // check_tlsrpt_rua caps a rua at 200 characters; the store takes longer ones.
  auto rdata_for = [&](std::size_t text_size) {
    const std::string rua = "https://" + std::string(text_size - prefix.size() - 8, 'r');
    if (!store().put_tlsrpt_rua(domain_id_, rua))
      throw std::runtime_error("put_tlsrpt_rua");
    auto rrs = policy_rrs();
    if (rrs.size() != 1)
      throw std::runtime_error("expected one record");
    EXPECT_EQ(rrs[0].owner, name("_smtp._tls.example.test."));
    EXPECT_EQ(rrs[0].type, rrtype::TXT);
    return std::pair{prefix + rua, rrs[0].rdata};
  };

  auto [text255, rd255] = rdata_for(255);
  EXPECT_EQ(rd255, one_string(text255));

  auto [text256, rd256] = rdata_for(256);
  const std::string wire256 = '\xff' + text256.substr(0, 255) + '\x01' + text256.substr(255);
  EXPECT_EQ(rd256, std::vector<std::uint8_t>(wire256.begin(), wire256.end()));

  auto [text600, rd600] = rdata_for(600);
  auto strings = strings_of(rd600);
  ASSERT_EQ(strings.size(), 3u);
  EXPECT_EQ(strings[0].size(), 255u);
  EXPECT_EQ(strings[1].size(), 255u);
  EXPECT_EQ(strings[2].size(), 90u);
  EXPECT_EQ(strings[0] + strings[1] + strings[2], text600);
  EXPECT_EQ(rd600.size(), 603u);
}

} // namespace
} // namespace moat
