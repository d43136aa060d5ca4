// Certificate rotation and MX host changes (core/rotation.hpp) against a real temporary store,
// a fake of the file and reload effects, and moat-dnsd's acknowledgements simulated with
// Store::record_publication (the fixture is in tests/core/rotation_fixture.hpp). Time is only
// ever the UnixTime passed in: nothing sleeps.
#include "core/derived_records.hpp"
#include "core/rotation.hpp"
#include "tests/core/rotation_fixture.hpp"
#include "tests/core/test_certs.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <gtest/gtest.h>
#include <map>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <utility>
#include <vector>

namespace moat {
namespace {

using namespace testing_rotation;
using RotationTest = RotationFixture;

// Suites named after what they exercise, sharing one fixture.
using RotationDeploy = RotationTest;
using RotationTick = RotationTest;
using RotationMxHost = RotationTest;
using RotationPendingSteps = RotationTest;

// ---- Rule 1: a new key is staged; its TLSA is served for two TTLs before it goes live ---------

TEST_F(RotationDeploy, NewKeyIsStagedAndGoesLiveExactlyTwoTlsaTtlsAfterItsTlsaIsServed) {
  const Cert old_cert = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", old_cert, kT0);
  const Cert next = new_cert({"mx1.example.test"});

  auto results = deploy(next, {}, t + 100);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].host, name("mx1.example.test."));
  EXPECT_FALSE(results[0].live_now);
  ASSERT_TRUE(results[0].wait_serial);
  EXPECT_EQ(*results[0].wait_serial, serial());
  EXPECT_TRUE(effects_.calls.empty()) << "a new key must not be installed at deploy";
  auto staged = cert_in_state("mx1.example.test.", "staged");
  ASSERT_TRUE(staged);
  EXPECT_EQ(staged->fullchain_pem, next.chain);
  EXPECT_EQ(staged->wait_serial, results[0].wait_serial);

  const UnixTime since = t + 500;
  EXPECT_EQ(serve(since), *results[0].wait_serial);

  auto early = tick_at(since + kTlsaWait - 1);
  EXPECT_TRUE(early.empty()) << early.front();
  EXPECT_TRUE(effects_.calls.empty());
  EXPECT_TRUE(cert_in_state("mx1.example.test.", "staged"));
  EXPECT_EQ(cert_in_state("mx1.example.test.", "live")->fullchain_pem, old_cert.chain);

  auto done = tick_at(since + kTlsaWait);
  EXPECT_TRUE(any_mentions(done, "is live on mx1.example.test."));
  ASSERT_EQ(effects_.calls.size(), 2u);
  EXPECT_EQ(effects_.calls[0].what, "install");
  EXPECT_EQ(effects_.calls[0].chain, next.chain);
  EXPECT_EQ(effects_.calls[1].what, "reload");
  EXPECT_EQ(effects_.calls[1].chain, next.chain) << "reload must run after the files are swapped";
  EXPECT_FALSE(cert_in_state("mx1.example.test.", "staged"));
  auto live = cert_in_state("mx1.example.test.", "live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->fullchain_pem, next.chain);
  EXPECT_EQ(live->live_since, since + kTlsaWait);
  auto retired = cert_in_state("mx1.example.test.", "retired");
  ASSERT_TRUE(retired);
  EXPECT_EQ(retired->fullchain_pem, old_cert.chain);

  // Nothing more to do afterwards.
  effects_.calls.clear();
  EXPECT_TRUE(tick_at(since + kTlsaWait + kDay).empty());
  EXPECT_TRUE(effects_.calls.empty());
}

// "No serial" must be stored as NULL: written as 4294967295 it would read back as a serial that
// RFC 1982 puts before every serial moat issues today, so published_since() would call it served.
TEST_F(RotationDeploy, LiveCertificateWaitsForNoSerial) {
  const Cert c = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", c, kT0);
  auto live = cert_in_state("mx1.example.test.", "live");
  ASSERT_TRUE(live);
  EXPECT_FALSE(live->wait_serial) << "reads back as " << live->wait_serial.value_or(0);
  // The same for a renewal that keeps its key, which never had a serial to wait for.
  deploy(cert_for_key(c.key, {"mx1.example.test"}), {}, t + 1);
  live = cert_in_state("mx1.example.test.", "live");
  ASSERT_TRUE(live);
  EXPECT_FALSE(live->wait_serial) << "reads back as " << live->wait_serial.value_or(0);
}

TEST_F(RotationDeploy, StagedCertificateNeverGoesLiveWhenItsSerialIsNeverServed) {
  const Cert old_cert = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", old_cert, kT0);
  serve(t + 10); // an older serial, served before the deploy
  const Cert next = new_cert({"mx1.example.test"});
  auto results = deploy(next, {"mx1.example.test."}, t + 100);
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].wait_serial);

  for (UnixTime at : {t + kTlsaWait, t + 10 * kTlsaWait, t + 30 * kDay})
    EXPECT_TRUE(tick_at(at).empty());
  EXPECT_TRUE(effects_.calls.empty());
  EXPECT_TRUE(cert_in_state("mx1.example.test.", "staged"));
  EXPECT_EQ(cert_in_state("mx1.example.test.", "live")->fullchain_pem, old_cert.chain);
}

TEST_F(RotationDeploy, OldAndNewTlsaArePublishedTogetherUntilTheReloadSucceeds) {
  const Cert old_cert = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", old_cert, kT0);
  EXPECT_TRUE(contains(derived(), tlsa("mx1.example.test.", old_cert.key)));
  EXPECT_EQ(count_type(derived(), rrtype::TLSA), 1u);

  const Cert next = new_cert({"mx1.example.test"});
  const std::uint32_t before = serial();
  deploy(next, {}, t + 100);
  const std::uint32_t staged_serial = serial();
  EXPECT_NE(staged_serial, before) << "the new TLSA needs a new serial";
  auto both = derived();
  EXPECT_EQ(count_type(both, rrtype::TLSA), 2u);
  EXPECT_TRUE(contains(both, tlsa("mx1.example.test.", old_cert.key)));
  EXPECT_TRUE(contains(both, tlsa("mx1.example.test.", next.key)));
  EXPECT_TRUE(contains(both, mx("example.test.", 10, "mx1.example.test.")));

  // While the reload runs, the old TLSA must still be published.
  std::vector<Rr> during;
  effects_.during_reload = [&] { during = derived(); };
  const UnixTime since = t + 200;
  serve(since);
  tick_at(since + kTlsaWait);
  EXPECT_TRUE(contains(during, tlsa("mx1.example.test.", old_cert.key)));
  EXPECT_TRUE(contains(during, tlsa("mx1.example.test.", next.key)));

  auto after = derived();
  EXPECT_EQ(count_type(after, rrtype::TLSA), 1u);
  EXPECT_TRUE(contains(after, tlsa("mx1.example.test.", next.key)));
  EXPECT_FALSE(contains(after, tlsa("mx1.example.test.", old_cert.key)));
  EXPECT_NE(serial(), staged_serial) << "withdrawing the old TLSA needs a new serial";
}

TEST_F(RotationDeploy, FullChainPublishesTheLeafKey) {
  using testing_certs::make_issued;
  using testing_certs::make_self_signed;
  const auto ca = make_self_signed({.common_name = "Moat Rotation Test CA",
                                    .not_before = kT0 - 100 * kDay,
                                    .not_after = kT0 + 1000 * kDay,
                                    .is_ca = true});
  const auto leaf = make_issued({.common_name = "mx1.example.test",
                                 .dns_names = {"mx1.example.test"},
                                 .not_before = kT0 - kDay,
                                 .not_after = kT0 + 90 * kDay},
                                ca);
  add("mx1.example.test.", kT0);
  deploy(Cert{leaf.pem + ca.pem, leaf.key}, {}, kT0 + 1);
  auto rrs = derived();
  EXPECT_TRUE(contains(rrs, tlsa("mx1.example.test.", leaf.key)));
  EXPECT_EQ(count_type(rrs, rrtype::TLSA), 1u);
  auto staged = cert_in_state("mx1.example.test.", "staged");
  ASSERT_TRUE(staged);
  EXPECT_EQ(staged->issuer_spki_sha256, testing_certs::sha256(ca.key.spki));
}

// ---- TLSA 2 1 1 for the issuing CA, when the domain asks for it (RFC 7671 §5.2.3) ------------

TEST_F(RotationDeploy, IssuerTlsaIsPublishedBeside311OnlyWhenTheDomainAsksForIt) {
  using testing_certs::make_issued;
  using testing_certs::make_self_signed;
  const auto ca = make_self_signed({.common_name = "Moat Issuer CA",
                                    .not_before = kT0 - 100 * kDay,
                                    .not_after = kT0 + 1000 * kDay,
                                    .is_ca = true});
  const auto leaf = make_issued({.common_name = "mx1.example.test",
                                 .dns_names = {"mx1.example.test"},
                                 .not_before = kT0 - kDay,
                                 .not_after = kT0 + 90 * kDay},
                                ca);
  const UnixTime t = make_active("mx1.example.test.", Cert{leaf.pem + ca.pem, leaf.key}, kT0);
  std::vector<std::uint8_t> ta{2, 1, 1};
  const auto digest = testing_certs::sha256(ca.key.spki);
  ta.insert(ta.end(), digest.begin(), digest.end());
  const Rr issuer_tlsa{name("_25._tcp.mx1.example.test."), rrtype::TLSA, kTlsaTtl, ta};
  EXPECT_FALSE(contains(derived(), issuer_tlsa));

  const std::uint32_t before = serial();
  ASSERT_TRUE(set_tlsa_issuer(store(), name("example.test."), true, t + 1, "test"));
  EXPECT_TRUE(contains(derived(), issuer_tlsa));
  EXPECT_TRUE(contains(derived(), tlsa("mx1.example.test.", leaf.key)));
  EXPECT_NE(serial(), before) << "new TLSA records need a new serial";

  ASSERT_TRUE(set_tlsa_issuer(store(), name("example.test."), false, t + 2, "test"));
  EXPECT_FALSE(contains(derived(), issuer_tlsa));
  EXPECT_TRUE(contains(derived(), tlsa("mx1.example.test.", leaf.key)));
}

TEST_F(RotationDeploy, IssuerTlsaIsRefusedWhileALiveCertificateLacksItsIssuer) {
  make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0); // a leaf alone
  const std::string before = state_dump();
  auto r = set_tlsa_issuer(store(), name("example.test."), true, kT0 + kDay, "test");
  ASSERT_FALSE(r);
  EXPECT_TRUE(mentions(r.error().message, "issuing CA"));
  EXPECT_EQ(state_dump(), before);
}

TEST_F(RotationDeploy, LeafWithoutItsIssuerIsRefusedWhenTheDomainPublishesIssuerTlsa) {
  add("mx1.example.test.", kT0);
  ASSERT_TRUE(set_tlsa_issuer(store(), name("example.test."), true, kT0, "test"));
  const std::string before = state_dump();
  auto r = deploy_certificate(store(), new_cert({"mx1.example.test"}).chain,
                              new_cert({"mx1.example.test"}).key.pem, {}, kT0 + 1, "test",
                              effects_);
  ASSERT_FALSE(r);
  EXPECT_EQ(state_dump(), before);
}

TEST_F(RotationDeploy, RenewalOfTheStagedKeyKeepsItsWait) {
  const Cert old_cert = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", old_cert, kT0);
  const Cert next = new_cert({"mx1.example.test"});
  deploy(next, {}, t + 100);
  const auto staged = cert_in_state("mx1.example.test.", "staged");
  ASSERT_TRUE(staged && staged->wait_serial);
  const std::uint32_t serial_before = serial();
  serve(t + 200);

  // certbot --reuse-key renews the newest key of the lineage: the staged one.
  const Cert renewed = cert_for_key(next.key, {"mx1.example.test"}, kT0, kT0 + 120 * kDay);
  deploy(renewed, {}, t + 300);
  const auto again = cert_in_state("mx1.example.test.", "staged");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, staged->id);
  EXPECT_EQ(again->wait_serial, staged->wait_serial) << "its TLSA is already published";
  EXPECT_EQ(again->fullchain_pem, renewed.chain);
  EXPECT_EQ(serial(), serial_before) << "nothing published changes";
  tick_at(t + 200 + kTlsaWait);
  const auto live = cert_in_state("mx1.example.test.", "live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->fullchain_pem, renewed.chain) << "the renewed chain is what goes live";
}

TEST_F(RotationDeploy, FirstCertificateOfANewHostIsStagedAndPublishesNoMx) {
  add("mx1.example.test.", kT0);
  const Cert c = new_cert({"mx1.example.test"});
  auto results = deploy(c, {}, kT0 + 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].live_now);
  EXPECT_TRUE(results[0].wait_serial);
  EXPECT_TRUE(effects_.calls.empty());
  auto rrs = derived();
  EXPECT_TRUE(contains(rrs, tlsa("mx1.example.test.", c.key)));
  EXPECT_EQ(count_type(rrs, rrtype::MX), 0u);
}

TEST_F(RotationDeploy, ReuseKeyRenewalGoesLiveAtOnce) {
  const Cert old_cert = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", old_cert, kT0);
  const Cert renewed = cert_for_key(old_cert.key, {"mx1.example.test"}, t - kDay, t + 90 * kDay);
  ASSERT_NE(renewed.chain, old_cert.chain);
  const auto rrs_before = derived();
  const std::uint32_t serial_before = serial();

  auto results = deploy(renewed, {}, t + 100);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].live_now);
  EXPECT_FALSE(results[0].wait_serial);
  ASSERT_EQ(effects_.calls.size(), 2u);
  EXPECT_EQ(effects_.calls[0].what, "install");
  EXPECT_EQ(effects_.calls[0].chain, renewed.chain);
  EXPECT_EQ(effects_.calls[1].what, "reload");
  EXPECT_EQ(effects_.calls[1].chain, renewed.chain);

  EXPECT_EQ(derived(), rrs_before) << "the published TLSA already matches the key";
  EXPECT_EQ(serial(), serial_before);
  auto certs = certs_of("mx1.example.test.");
  ASSERT_EQ(certs.size(), 1u);
  EXPECT_EQ(certs[0].state, "live");
  EXPECT_EQ(certs[0].fullchain_pem, renewed.chain);

  // tick has nothing left to do.
  effects_.calls.clear();
  EXPECT_TRUE(tick_at(t + 200).empty());
  EXPECT_TRUE(effects_.calls.empty());
}

TEST_F(RotationDeploy, ReuseKeyRenewalWithdrawsAStagedKeyInANewSerial) {
  const Cert old_cert = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", old_cert, kT0);
  const Cert other = new_cert({"mx1.example.test"});
  deploy(other, {}, t + 100);
  ASSERT_TRUE(contains(derived(), tlsa("mx1.example.test.", other.key)));
  const std::uint32_t staged_serial = serial();

  // The live key is renewed in place; the staged key loses the race and is dropped.
  const Cert renewed = cert_for_key(old_cert.key, {"mx1.example.test"});
  auto results = deploy(renewed, {}, t + 200);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].live_now);
  EXPECT_FALSE(cert_in_state("mx1.example.test.", "staged"));
  auto rrs = derived();
  EXPECT_FALSE(contains(rrs, tlsa("mx1.example.test.", other.key)));
  EXPECT_TRUE(contains(rrs, tlsa("mx1.example.test.", old_cert.key)));
  // The zone's content changed, so its serial must change too, or moat-dnsd keeps serving
  // (and secondaries keep) the old content under the same serial.
  EXPECT_NE(serial(), staged_serial);
}

TEST_F(RotationDeploy, NewerDeployReplacesTheStagedCertificateAndRestartsTheWait) {
  const Cert old_cert = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", old_cert, kT0);
  const Cert first = new_cert({"mx1.example.test"});
  auto r1 = deploy(first, {}, t + 100);
  ASSERT_TRUE(r1[0].wait_serial);
  serve(t + 100);

  const Cert second = new_cert({"mx1.example.test"});
  auto r2 = deploy(second, {}, t + 1000);
  ASSERT_TRUE(r2[0].wait_serial);
  EXPECT_NE(*r2[0].wait_serial, *r1[0].wait_serial);
  auto certs = certs_of("mx1.example.test.");
  EXPECT_EQ(std::ranges::count(certs, std::string("staged"), &CertificateRecord::state), 1);
  EXPECT_EQ(cert_in_state("mx1.example.test.", "staged")->fullchain_pem, second.chain);
  auto rrs = derived();
  EXPECT_EQ(count_type(rrs, rrtype::TLSA), 2u);
  EXPECT_TRUE(contains(rrs, tlsa("mx1.example.test.", old_cert.key)));
  EXPECT_TRUE(contains(rrs, tlsa("mx1.example.test.", second.key)));
  EXPECT_FALSE(contains(rrs, tlsa("mx1.example.test.", first.key)));

  // The first one's wait would be over now, but the second's serial has not been served.
  EXPECT_TRUE(tick_at(t + 100 + kTlsaWait).empty());
  EXPECT_TRUE(effects_.calls.empty());

  const UnixTime since = t + 1200;
  serve(since);
  EXPECT_TRUE(tick_at(since + kTlsaWait - 1).empty());
  EXPECT_TRUE(effects_.calls.empty());
  tick_at(since + kTlsaWait);
  EXPECT_EQ(effects_.count("install"), 1);
  EXPECT_EQ(effects_.count("reload"), 1);
  EXPECT_EQ(cert_in_state("mx1.example.test.", "live")->fullchain_pem, second.chain);
}

TEST_F(RotationDeploy, WithoutHostsGoesToEveryCoveredHostThatIsNotBeingRemoved) {
  add("mx1.example.test.", kT0);
  add("mx2.example.test.", kT0);
  add("other.example.test.", kT0);
  const UnixTime t = make_active("mx3.example.test.", new_cert({"mx3.example.test"}), kT0 + 10);
  ASSERT_TRUE(remove_mx_host(store(), name("example.test."), name("mx3.example.test."), t, "test"));

  const Cert wildcard = new_cert({"mx1.example.test", "*.example.test"});
  auto results = deploy(wildcard, {}, t + 10);
  std::vector<std::string> hosts;
  for (const auto& r : results)
    hosts.push_back(r.host.to_string());
  std::ranges::sort(hosts);
  // The wildcard covers mta-sts.example.test too: moat-httpsd presents it there.
  EXPECT_EQ(hosts, (std::vector<std::string>{"mta-sts.example.test.", "mx1.example.test.",
                                             "mx2.example.test.", "other.example.test."}));
  EXPECT_FALSE(cert_in_state("mx3.example.test.", "staged"));
}

TEST_F(RotationDeploy, CertificateForTheMtaStsNameGoesToMoatHttpsdAtOnce) {
  const std::uint32_t before = serial();
  const Cert web = new_cert({"mta-sts.example.test"});
  auto results = deploy(web, {}, kT0 + 10);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].host, name("mta-sts.example.test."));
  EXPECT_TRUE(results[0].live_now);
  auto d = store().find_domain(name("example.test."));
  ASSERT_TRUE(d && *d);
  auto stored = store().web_certificate((*d)->id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->fullchain_pem, web.chain);
  EXPECT_EQ(serial(), before) << "a WebPKI certificate changes nothing in DNS";
  EXPECT_TRUE(effects_.calls.empty()) << "no MX host files are touched";
}

// ---- Crashes and failures between the steps: tick finishes the job (rule 5) -------------------

TEST_F(RotationTick, ReloadFailureKeepsTheCertificateStagedAndTheNextTickRetries) {
  const Cert old_cert = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", old_cert, kT0);
  const Cert next = new_cert({"mx1.example.test"});
  deploy(next, {}, t + 100);
  const UnixTime since = t + 200;
  serve(since);
  const std::uint32_t staged_serial = serial();

  effects_.fail_reload = true;
  auto failed = tick_at(since + kTlsaWait);
  EXPECT_TRUE(any_mentions(failed, "error: "));
  EXPECT_TRUE(any_mentions(failed, "injected reload failure"));
  EXPECT_EQ(effects_.count("install"), 1);
  EXPECT_EQ(effects_.count("reload"), 1);
  EXPECT_TRUE(cert_in_state("mx1.example.test.", "staged"));
  EXPECT_EQ(cert_in_state("mx1.example.test.", "live")->fullchain_pem, old_cert.chain);
  EXPECT_TRUE(contains(derived(), tlsa("mx1.example.test.", old_cert.key)));
  EXPECT_EQ(serial(), staged_serial);

  effects_.fail_reload = false;
  effects_.calls.clear();
  auto done = tick_at(since + kTlsaWait + 60);
  EXPECT_TRUE(any_mentions(done, "is live on mx1.example.test."));
  EXPECT_EQ(effects_.count("reload"), 1);
  EXPECT_EQ(cert_in_state("mx1.example.test.", "live")->fullchain_pem, next.chain);
  EXPECT_FALSE(contains(derived(), tlsa("mx1.example.test.", old_cert.key)));
}

TEST_F(RotationTick, InstallFailureLeavesAStateTheNextTickFinishes) {
  const Cert old_cert = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", old_cert, kT0);
  const Cert next = new_cert({"mx1.example.test"});
  deploy(next, {}, t + 100);
  const UnixTime since = t + 200;
  serve(since);

  effects_.fail_install = true;
  auto failed = tick_at(since + kTlsaWait);
  EXPECT_TRUE(any_mentions(failed, "error: "));
  EXPECT_EQ(effects_.count("install"), 1);
  EXPECT_EQ(effects_.count("reload"), 0) << "no reload after a failed install";
  EXPECT_TRUE(cert_in_state("mx1.example.test.", "staged"));
  EXPECT_TRUE(contains(derived(), tlsa("mx1.example.test.", old_cert.key)));

  effects_.fail_install = false;
  effects_.calls.clear();
  tick_at(since + kTlsaWait + 60);
  EXPECT_EQ(effects_.count("install"), 1);
  EXPECT_EQ(effects_.count("reload"), 1);
  EXPECT_EQ(cert_in_state("mx1.example.test.", "live")->fullchain_pem, next.chain);
  auto rrs = derived();
  EXPECT_FALSE(contains(rrs, tlsa("mx1.example.test.", old_cert.key)));
  EXPECT_TRUE(contains(rrs, tlsa("mx1.example.test.", next.key)));
}

TEST_F(RotationTick, ReuseKeyDeployInterruptedBeforeInstallIsFinishedByTick) {
  const Cert old_cert = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", old_cert, kT0);
  const Cert renewed = cert_for_key(old_cert.key, {"mx1.example.test"});

  effects_.fail_install = true;
  auto r =
      deploy_certificate(store(), renewed.chain, renewed.key.pem, {}, t + 100, "test", effects_);
  ASSERT_FALSE(r);
  EXPECT_TRUE(mentions(r.error().message, "moat tick"));
  EXPECT_EQ(cert_in_state("mx1.example.test.", "live")->fullchain_pem, renewed.chain);

  effects_.fail_install = false;
  effects_.calls.clear();
  auto done = tick_at(t + 200);
  EXPECT_TRUE(any_mentions(done, "reinstalled"));
  ASSERT_EQ(effects_.calls.size(), 2u);
  EXPECT_EQ(effects_.calls[0].what, "install");
  EXPECT_EQ(effects_.calls[0].chain, renewed.chain);
  EXPECT_EQ(effects_.calls[1].what, "reload");
}

// A reload that failed right after the files were written: the files are right, but the
// running server still presents the previous certificate until a reload succeeds. The same
// holds for a crash between install and reload; tick retries until live_since is recorded.
TEST_F(RotationTick, ReuseKeyDeployWhoseReloadFailedIsReloadedByTick) {
  const Cert old_cert = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", old_cert, kT0);
  const Cert renewed = cert_for_key(old_cert.key, {"mx1.example.test"});

  effects_.fail_reload = true;
  auto r =
      deploy_certificate(store(), renewed.chain, renewed.key.pem, {}, t + 100, "test", effects_);
  ASSERT_FALSE(r);
  EXPECT_TRUE(mentions(r.error().message, "moat tick retries"));

  effects_.fail_reload = false;
  effects_.calls.clear();
  (void)tick_at(t + 200);
  EXPECT_EQ(effects_.count("reload"), 1) << "the error message promised that tick retries";
  // And once it succeeded, nothing more.
  effects_.calls.clear();
  (void)tick_at(t + 300);
  EXPECT_TRUE(effects_.calls.empty());
}

TEST_F(RotationTick, LiveCertificateWhoseFilesAreMissingIsReinstalled) {
  const Cert c = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", c, kT0);
  effects_.files.clear(); // someone deleted the live directory
  const std::uint32_t before = serial();

  auto done = tick_at(t + 100);
  EXPECT_TRUE(any_mentions(done, "reinstalled the live certificate of mx1.example.test."));
  ASSERT_EQ(effects_.calls.size(), 2u);
  EXPECT_EQ(effects_.calls[0].what, "install");
  EXPECT_EQ(effects_.calls[0].chain, c.chain);
  EXPECT_EQ(effects_.calls[1].what, "reload");
  EXPECT_EQ(serial(), before) << "reinstalling changes nothing that is published";
}

TEST_F(RotationTick, DoesNothingWhenNothingIsDue) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  const std::string before = state_dump();
  EXPECT_TRUE(tick_at(t + 1).empty());
  EXPECT_TRUE(tick_at(t + 365 * kDay).empty());
  EXPECT_TRUE(effects_.calls.empty());
  EXPECT_EQ(state_dump(), before);
}

// ---- Rule 3: MX after TLSA on the way in, MX before TLSA on the way out -----------------------

TEST_F(RotationMxHost, AddedHostPublishesItsAddressesButNoMx) {
  const std::uint32_t before = serial();
  MxHost h = add("mx1.example.test.", kT0, {"192.0.2.25"});
  EXPECT_EQ(h.state, "adding");
  EXPECT_EQ(h.host, name("mx1.example.test."));
  EXPECT_EQ(h.live_dir, (dir_.path() / "live" / "mx1.example.test").string());
  ASSERT_TRUE(h.wait_serial);
  EXPECT_EQ(*h.wait_serial, serial());
  EXPECT_NE(serial(), before);
  auto rrs = derived();
  EXPECT_TRUE(contains(rrs, a_record("mx1.example.test.", {192, 0, 2, 25})));
  EXPECT_EQ(count_type(rrs, rrtype::MX), 0u);
  EXPECT_EQ(count_type(rrs, rrtype::TLSA), 0u);
}

TEST_F(RotationMxHost, MxAppearsOnlyOnceTheHostHasALiveCertificateAndItsRecordsWereServed) {
  add("mx1.example.test.", kT0, {"192.0.2.25"});
  serve(kT0);
  // Records served for a long time, but no certificate: no MX.
  EXPECT_TRUE(tick_at(kT0 + 30 * kDay).empty());
  EXPECT_EQ(count_type(derived(), rrtype::MX), 0u);

  const UnixTime t = kT0 + 30 * kDay + 10;
  const Cert c = new_cert({"mx1.example.test"}, t - kDay, t + 90 * kDay);
  deploy(c, {}, t);
  EXPECT_EQ(count_type(derived(), rrtype::MX), 0u);
  const UnixTime since = t + 5;
  serve(since);
  EXPECT_TRUE(tick_at(since + kTlsaWait - 1).empty());
  EXPECT_EQ(count_type(derived(), rrtype::MX), 0u);

  const std::uint32_t before = serial();
  auto done = tick_at(since + kTlsaWait);
  EXPECT_TRUE(any_mentions(done, "MX mx1.example.test. is published"));
  EXPECT_EQ(host_row("mx1.example.test.")->state, "active");
  auto rrs = derived();
  EXPECT_TRUE(contains(rrs, mx("example.test.", 10, "mx1.example.test.")));
  EXPECT_TRUE(contains(rrs, tlsa("mx1.example.test.", c.key)));
  EXPECT_NE(serial(), before);
}

TEST_F(RotationMxHost, MxWaitsForTheNegativeCachingTtlOfTheNewHostsRecords) {
  // Resolvers may have cached "no such name" for the host for up to min(SOA minimum, SOA TTL):
  // here three hours, longer than the certificate's two TLSA TTLs.
  const std::int64_t slow = add_domain("slow.test.", 3 * 3600, 3 * 3600);
  add("mx.slow.test.", kT0, {"192.0.2.7"}, "slow.test.");
  const UnixTime since = kT0 + 10;
  serve(since, "slow.test.");
  deploy(new_cert({"mx.slow.test"}), {}, kT0 + 10);
  serve(kT0 + 10, "slow.test.");

  tick_at(kT0 + 10 + kTlsaWait); // the certificate goes live
  EXPECT_EQ(host_row("mx.slow.test.", slow)->state, "adding");
  EXPECT_EQ(count_type(derived("slow.test."), rrtype::MX), 0u);
  tick_at(since + 3 * 3600 - 1);
  EXPECT_EQ(count_type(derived("slow.test."), rrtype::MX), 0u);
  tick_at(since + 3 * 3600);
  EXPECT_TRUE(contains(derived("slow.test."), mx("slow.test.", 10, "mx.slow.test.")));
}

TEST_F(RotationMxHost, RemovedHostLeavesTheMxFirstAndItsTlsaOnlyAfterTheMxTtl) {
  const Cert c = new_cert({"mx1.example.test"});
  const Cert keep = new_cert({"mx2.example.test"});
  UnixTime t = make_active("mx1.example.test.", c, kT0);
  t = make_active("mx2.example.test.", keep, t);
  const std::uint32_t before = serial();

  auto removed =
      remove_mx_host(store(), name("example.test."), name("mx1.example.test."), t + 10, "test");
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(removed->state, "removing");
  EXPECT_EQ(removed->wait_serial, serial());
  EXPECT_NE(serial(), before);
  auto rrs = derived();
  EXPECT_FALSE(contains(rrs, mx("example.test.", 10, "mx1.example.test.")));
  EXPECT_TRUE(contains(rrs, mx("example.test.", 10, "mx2.example.test.")));
  EXPECT_TRUE(contains(rrs, tlsa("mx1.example.test.", c.key)));

  // Not served yet: nothing moves, however long we wait.
  EXPECT_TRUE(tick_at(t + 30 * kDay).empty());
  EXPECT_TRUE(contains(derived(), tlsa("mx1.example.test.", c.key)));

  const UnixTime since = t + 30 * kDay + 5;
  serve(since);
  EXPECT_TRUE(tick_at(since + kMxTtl - 1).empty());
  EXPECT_TRUE(contains(derived(), tlsa("mx1.example.test.", c.key)));

  const std::uint32_t removing_serial = serial();
  auto done = tick_at(since + kMxTtl);
  EXPECT_TRUE(any_mentions(done, "mx1.example.test. is gone"));
  EXPECT_FALSE(host_row("mx1.example.test."));
  rrs = derived();
  EXPECT_FALSE(contains(rrs, tlsa("mx1.example.test.", c.key)));
  EXPECT_TRUE(contains(rrs, tlsa("mx2.example.test.", keep.key)));
  EXPECT_NE(serial(), removing_serial);
  EXPECT_TRUE(effects_.calls.empty());
}

TEST_F(RotationMxHost, RemovingAHostThatNeverEnteredTheMxRrsetIsImmediate) {
  add("mx1.example.test.", kT0, {"192.0.2.25"});
  const Cert c = new_cert({"mx1.example.test"});
  deploy(c, {}, kT0 + 1);
  const std::uint32_t before = serial();
  auto removed =
      remove_mx_host(store(), name("example.test."), name("mx1.example.test."), kT0 + 2, "test");
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(removed->state, "removed");
  EXPECT_FALSE(host_row("mx1.example.test."));
  EXPECT_TRUE(derived().empty());
  EXPECT_NE(serial(), before);
}

TEST_F(RotationMxHost, RejectsBadRequestsAndChangesNothing) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  const std::string before = state_dump();
  auto try_add = [&](std::string_view host, std::vector<std::string> addresses,
                     std::uint16_t port = 25, std::string_view apex = "example.test.") {
    MxHostRequest req;
    req.host = name(host);
    req.addresses = std::move(addresses);
    req.port = port;
    return add_mx_host(store(), name(apex), req, dir_.path().string(), t + 1, "test");
  };
  auto dup = try_add("MX1.example.test.", {});
  ASSERT_FALSE(dup);
  EXPECT_TRUE(mentions(dup.error().message, "already an MX host"));
  auto outside = try_add("mx.elsewhere.test.", {});
  ASSERT_FALSE(outside);
  EXPECT_TRUE(mentions(outside.error().message, "not inside any domain moat serves"));
  auto bad_address = try_add("mx2.example.test.", {"192.0.2.300"});
  ASSERT_FALSE(bad_address);
  EXPECT_TRUE(mentions(bad_address.error().message, "192.0.2.300"));
  EXPECT_FALSE(try_add("mx2.example.test.", {}, 0));
  auto no_domain = try_add("mx2.example.test.", {}, 25, "unknown.test.");
  ASSERT_FALSE(no_domain);
  EXPECT_TRUE(mentions(no_domain.error().message, "unknown.test."));

  auto not_mx =
      remove_mx_host(store(), name("example.test."), name("mx9.example.test."), t + 1, "test");
  ASSERT_FALSE(not_mx);
  EXPECT_TRUE(mentions(not_mx.error().message, "is not an MX host"));
  EXPECT_EQ(state_dump(), before);

  ASSERT_TRUE(
      remove_mx_host(store(), name("example.test."), name("mx1.example.test."), t + 2, "test"));
  const std::string removing = state_dump();
  auto twice =
      remove_mx_host(store(), name("example.test."), name("mx1.example.test."), t + 3, "test");
  ASSERT_FALSE(twice);
  EXPECT_TRUE(mentions(twice.error().message, "already being removed"));
  EXPECT_EQ(state_dump(), removing);
}

// ---- Rule 5: bad input gets a clear error and changes nothing ---------------------------------

class RotationBadInputTest : public RotationTest {
protected:
  void SetUp() override {
    RotationTest::SetUp();
    live_ = new_cert({"mx1.example.test"});
    t_ = make_active("mx1.example.test.", live_, kT0);
    add("mx2.example.test.", t_);
    before_ = state_dump();
    files_before_ = effects_.files;
  }

  // Deploys and expects a failure mentioning `what` that changed nothing at all.
  void expect_refused(const Cert& cert, std::vector<std::string_view> hosts,
                      std::string_view what) {
    expect_refused(cert.chain, cert.key.pem, hosts, what);
  }
  void expect_refused(const std::string& chain, const std::string& key,
                      std::vector<std::string_view> hosts, std::string_view what) {
    std::vector<Name> names;
    for (auto h : hosts)
      names.push_back(name(h));
    auto r = deploy_certificate(store(), chain, key, names, t_ + 100, "test", effects_);
    ASSERT_FALSE(r) << "deploy succeeded";
    EXPECT_TRUE(mentions(r.error().message, what));
    EXPECT_EQ(state_dump(), before_);
    EXPECT_TRUE(effects_.calls.empty());
    EXPECT_EQ(effects_.files, files_before_);
  }

  Cert live_;
  UnixTime t_ = 0;
  std::string before_;
  std::map<std::string, std::pair<std::string, std::string>> files_before_;
};

TEST_F(RotationBadInputTest, CertificateThatDoesNotCoverTheHostChangesNothing) {
  expect_refused(new_cert({"mx2.example.test"}), {"mx1.example.test."}, "does not cover");
  // A wildcard covers one label only.
  expect_refused(new_cert({"*.test"}), {"mx1.example.test."}, "does not cover");
}

TEST_F(RotationBadInputTest, CertificateCoveringNoManagedHostChangesNothing) {
  expect_refused(new_cert({"mail.elsewhere.test"}), {}, "covers no MX host");
}

TEST_F(RotationBadInputTest, OneUncoveredHostAmongSeveralChangesNothing) {
  // mx1 alone would be fine, and would even go live at once (same key).
  const Cert renewed = cert_for_key(live_.key, {"mx1.example.test"});
  expect_refused(renewed, {"mx1.example.test.", "mx2.example.test."}, "mx2.example.test");
}

TEST_F(RotationBadInputTest, ExpiredCertificateChangesNothing) {
  expect_refused(cert_for_key(live_.key, {"mx1.example.test"}, t_ - 90 * kDay, t_ - kDay),
                 {"mx1.example.test."}, "expired");
  expect_refused(new_cert({"mx1.example.test"}, t_ + kDay, t_ + 90 * kDay), {}, "not valid yet");
}

TEST_F(RotationBadInputTest, MismatchedKeyChangesNothing) {
  const Cert c = new_cert({"mx1.example.test"});
  expect_refused(c.chain, live_.key.pem, {"mx1.example.test."}, "does not match");
  expect_refused(c.chain, testing_certs::make_ed25519_key().pem, {}, "does not match");
}

TEST_F(RotationBadInputTest, UnknownHostChangesNothing) {
  expect_refused(new_cert({"mx9.example.test"}), {"mx9.example.test."},
                 "is not an MX host moat manages");
  // Even when the other host named is fine.
  expect_refused(new_cert({"mx1.example.test", "mx9.example.test"}),
                 {"mx1.example.test.", "mx9.example.test."}, "mx9.example.test");
}

TEST_F(RotationBadInputTest, TruncatedPemChangesNothing) {
  const Cert c = new_cert({"mx1.example.test"});
  expect_refused(c.chain.substr(0, c.chain.size() / 2), c.key.pem, {}, "");
  expect_refused(c.chain, c.key.pem.substr(0, c.key.pem.size() / 2), {}, "");
}

// ---- pending_steps ------------------------------------------------------------------------------

const PendingStep* find_step(const std::vector<PendingStep>& steps, std::string_view what) {
  for (const auto& s : steps)
    if (s.what.find(what) != std::string::npos)
      return &s;
  return nullptr;
}

TEST_F(RotationPendingSteps, NothingIsPendingOnceAHostIsActive) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  EXPECT_TRUE(pending(t).empty());
}

TEST_F(RotationPendingSteps, ANewHostWaitsForACertificate) {
  add("mx1.example.test.", kT0);
  auto steps = pending(kT0);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].domain, "example.test.");
  EXPECT_EQ(steps[0].host, "mx1.example.test.");
  EXPECT_TRUE(mentions(steps[0].what, "MX record published"));
  EXPECT_TRUE(mentions(steps[0].waits_for, "moat cert deploy"));
  EXPECT_FALSE(steps[0].not_before);
}

TEST_F(RotationPendingSteps, AStagedCertificateWaitsForItsSerialThenForTheCaches) {
  const Cert old_cert = new_cert({"mx1.example.test"});
  const UnixTime t = make_active("mx1.example.test.", old_cert, kT0);
  auto r = deploy(new_cert({"mx1.example.test"}), {}, t + 100);
  const auto staged = cert_in_state("mx1.example.test.", "staged");
  ASSERT_TRUE(staged);

  auto steps = pending(t + 100);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].what, "certificate " + std::to_string(staged->id) + " goes live");
  EXPECT_TRUE(mentions(steps[0].waits_for, "serial " + std::to_string(*r[0].wait_serial)));
  EXPECT_TRUE(mentions(steps[0].waits_for, "example.test."));
  EXPECT_FALSE(steps[0].not_before);

  const UnixTime since = t + 300;
  serve(since);
  steps = pending(since);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_TRUE(mentions(steps[0].waits_for, "caches"));
  EXPECT_EQ(steps[0].not_before, since + kTlsaWait);

  tick_at(since + kTlsaWait);
  EXPECT_TRUE(pending(since + kTlsaWait).empty());
}

TEST_F(RotationPendingSteps, AHostWithALiveCertificateWaitsForTheMx) {
  add_domain("slow.test.", 3 * 3600, 3 * 3600);
  add("mx.slow.test.", kT0, {}, "slow.test.");
  const UnixTime since = kT0 + 10;
  serve(since, "slow.test.");
  deploy(new_cert({"mx.slow.test"}), {}, since);
  serve(since, "slow.test.");
  tick_at(since + kTlsaWait);

  auto steps = pending(since + kTlsaWait);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].what, "MX record published");
  EXPECT_EQ(steps[0].domain, "slow.test.");
  EXPECT_EQ(steps[0].not_before, since + 3 * 3600);
}

TEST_F(RotationPendingSteps, ARemovedHostWaitsForTheMxlessSerialThenTheMxTtl) {
  const UnixTime t = make_active("mx1.example.test.", new_cert({"mx1.example.test"}), kT0);
  ASSERT_TRUE(
      remove_mx_host(store(), name("example.test."), name("mx1.example.test."), t + 1, "test"));
  auto steps = pending(t + 1);
  const PendingStep* s = find_step(steps, "TLSA withdrawn");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(mentions(s->waits_for, "serial " + std::to_string(serial())));
  EXPECT_FALSE(s->not_before);

  serve(t + 50);
  steps = pending(t + 50);
  s = find_step(steps, "TLSA withdrawn");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->not_before, t + 50 + static_cast<UnixTime>(kMxTtl));
}

// ---- the real effects ---------------------------------------------------------------------------

TEST_F(RotationTest, FileEffectsWriteTheKeyPrivatelyAndRecogniseWhatTheyWrote) {
  FileRotationEffects files;
  MxHost h;
  h.host = name("mx1.example.test.");
  h.live_dir = (dir_.path() / "live" / "deep" / "mx1.example.test").string();
  const Cert c = new_cert({"mx1.example.test"});
  CertificateRecord rec;
  rec.fullchain_pem = c.chain;
  rec.key_pem = c.key.pem;
  EXPECT_FALSE(files.installed(h, rec));
  ASSERT_TRUE(files.install(h, rec));
  EXPECT_TRUE(files.installed(h, rec));
  struct stat st {};
  ASSERT_EQ(::stat((h.live_dir + "/privkey.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  CertificateRecord other = rec;
  other.fullchain_pem = new_cert({"mx1.example.test"}).chain;
  EXPECT_FALSE(files.installed(h, other));
}

TEST_F(RotationTest, FileEffectsReloadRunsTheCommandAndReportsItsFailure) {
  FileRotationEffects files;
  MxHost h;
  h.host = name("mx1.example.test.");
  h.on_live = "";
  EXPECT_TRUE(files.reload(h));
  h.on_live = "true";
  EXPECT_TRUE(files.reload(h));
  h.on_live = "false";
  auto r = files.reload(h);
  ASSERT_FALSE(r);
  EXPECT_TRUE(mentions(r.error().message, "status 1"));
}

} // namespace
} // namespace moat
